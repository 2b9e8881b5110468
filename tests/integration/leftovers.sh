#!/usr/bin/env bash
# Prints whatever a local cluster left behind on this host (nothing = clean).
cg=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
ip netns list 2>/dev/null | awk '$1 ~ /^ambit-/ {print "netns " $1}'
[ -n "$cg" ] && find "$cg" -mindepth 1 -maxdepth 1 -type d -name 'ambit-*' -printf 'cgroup %p\n'
[ -d /sys/fs/bpf/ambit ] && find /sys/fs/bpf/ambit -mindepth 1 -maxdepth 1 -printf 'pin %p\n'
[ -d /sys/fs/bpf/ambit ] && echo "pin /sys/fs/bpf/ambit"
ls -d /etc/netns/ambit-* 2>/dev/null | sed 's/^/etc /'
[ -d /run/ambit ] && find /run/ambit -mindepth 1 -maxdepth 1 -printf 'rundir %p\n'
pgrep -f '(build|libexec/ambit)/(ambit-agent|ztunnel)' | sed 's/^/process /'
pgrep -f 'ambitctl local kubelet' | sed 's/^/kubelet /'
# Pods mount in their own namespaces: nothing may show in the host's mount table.
awk '$5 ~ /^\/run\/ambit\// {print "mount " $5}' /proc/self/mountinfo
exit 0
