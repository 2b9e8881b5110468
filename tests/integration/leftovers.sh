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
# An ambitctl that serves until stopped (the dashboard, as itself or as istioctl), left running
# by a test whose cluster is gone: the one a test started in the background and never killed.
for pid in $(pgrep -f '(ambitctl|istioctl) dashboard'); do
	args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
	name=$(sed -nE 's/.* --(name|cluster) ([^ ]+).*/\2/p' <<<"$args")
	# Else the cluster its environment names ($AMBIT_CLUSTER, as the tests set it).
	[ -n "$name" ] || name=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^AMBIT_CLUSTER=//p')
	[ -n "$name" ] && [ ! -d "/run/ambit/$name" ] &&
		echo "process $pid (${args:0:60}) outlived its cluster $name"
done
# Pods mount in their own namespaces: nothing may show in the host's mount table.
awk '$5 ~ /^\/run\/ambit\// {print "mount " $5}' /proc/self/mountinfo
# A process outside the runner's own netns, in a network namespace that teardown deleted (no
# name under /run/netns holds it any more), outlived its cluster: a test started it and never
# stopped it.
host_ns=$(stat -Lc %i /proc/self/ns/net 2>/dev/null)
named=" $(stat -Lc %i /run/netns/* 2>/dev/null | tr '\n' ' ') "
for p in /proc/[0-9]*; do
	ns=$(stat -Lc %i "$p/ns/net" 2>/dev/null) || continue
	[ "$ns" = "$host_ns" ] && continue
	case "$named" in *" $ns "*) continue ;; esac
	cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-60)
	[ -n "$cmd" ] || continue # kernel threads have none
	echo "process ${p#/proc/} ($cmd) in a deleted netns"
done
exit 0
