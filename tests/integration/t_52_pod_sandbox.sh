#!/usr/bin/env bash
# A pod is isolated as a container is: what it writes to /var lands in its own /var, the host's
# files are read-only, ambit's run dir, CA key, agent socket and BPF pins are out of its sight,
# it runs with Kubernetes' default capabilities (or what its securityContext says) in a pid
# namespace of its own, and `local exec` runs in that same sandbox, as kubectl exec does.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq socat nginx curl
# What the host's nginx files are before: the pod's nginx must not change them.
host_nginx() { ls -l --time-style=+%s.%N /var/log/nginx/ /run/nginx.pid 2>&1; }
nginx_before=$(host_nginx)
# A variable of the shell that runs `local up` and `local exec`: no pod may see it.
export AMBIT_IT_SECRET=t52-secret-$$
cluster_up manifests-sandbox 1

RUN=/run/ambit/$CLUSTER
mark=ambit-t52-$$
# In the pod, as a shell line (the pod's own /bin/sh).
in_pod() {
	local pod=$1
	shift
	pod_exec "sbx/$pod" sh -c "$*"
}
wait_for 20 in_pod plain true || fail "pod sbx/plain never ran"

# The environment is the pod's alone, as a container's: not `local up`'s (the pod's own process)
# nor `local exec`'s caller's; PATH the runtimes' default, HOSTNAME the pod's name.
env1=$(in_pod plain "tr '\\0' '\\n' </proc/1/environ")
[ -n "$env1" ] || fail "the pod's process has no environment to read"
expect_not_contains "$env1" AMBIT_IT_SECRET "the pod's process inherited local up's environment"
expect_contains "$env1" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
expect_contains "$env1" "HOSTNAME=plain"
expect_eq "$(in_pod plain 'echo "${AMBIT_IT_SECRET:-unset}"')" unset "local exec forwarded the caller's environment"
expect_eq "$(in_pod plain 'echo "$PATH $HOSTNAME $POD_NAMESPACE"')" \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin plain sbx" "local exec's environment"

# /var: the pod writes to its own; the host's /var is untouched, the pod's rootfs dir has it.
in_pod plain "mkdir -p /var/log/$mark && echo hello >/var/log/$mark/x" || fail "the pod cannot write /var/log"
expect_eq "$(in_pod plain "cat /var/log/$mark/x")" hello "a later exec sees the pod's /var"
[ -e "/var/log/$mark" ] && { rm -rf "/var/log/$mark"; fail "the pod wrote the host's /var/log"; }
[ -f "$RUN/pods/sbx_plain.rootfs/var/log/$mark/x" ] || fail "the write is not in the pod's rootfs dir"
# Stock nginx: it serves, and its log and pid file are the pod's, not the host's.
wait_for 20 in_pod nginx "curl -sf --max-time 2 -o /dev/null http://127.0.0.1/" || fail "the pod's nginx never served"
in_pod nginx "test -s /run/nginx.pid && grep -q 'GET / ' /var/log/nginx/access.log" ||
	fail "nginx has no pid file or access log in the pod"
expect_eq "$(host_nginx)" "$nginx_before" "the host's /var/log/nginx and /run/nginx.pid"
grep -q 'GET / ' "$RUN/pods/sbx_nginx.rootfs/var/log/nginx/access.log" || fail "nginx's log is not in the pod's rootfs dir"
# Host files read-only; /tmp and /run private and writable.
out=$(in_pod plain "echo x >/etc/$mark" 2>&1) && { rm -f "/etc/$mark"; fail "the pod wrote /etc"; }
expect_contains "$out" "Read-only file system"
in_pod plain "echo x >/tmp/$mark && echo x >/run/$mark" || fail "private /tmp or /run not writable"
[ -e "/tmp/$mark" ] || [ -e "/run/$mark" ] && fail "the pod's /tmp or /run is the host's"
# CAP_MKNOD is in the default set, but no device node a pod makes can be opened (a block device
# of the host's disk would bypass every read-only mount): what it can write is nodev, /dev is
# read-only.
for d in /var/tmp /tmp /run /dev '$AMBIT_POD_DIR'; do
	in_pod plain "mknod \"$d/$mark\" c 1 3 2>/dev/null && echo x >\"$d/$mark\"" 2>/dev/null &&
		{ rm -f "/tmp/$mark" "/run/$mark" "/var/tmp/$mark"; fail "a device node made in $d can be opened"; }
done
# Its scratch dir is writable at the same path, and the host sees it.
in_pod plain 'echo scratch >"$AMBIT_POD_DIR/f"' || fail "AMBIT_POD_DIR not writable"
expect_eq "$(cat "$RUN/pods/sbx_plain/f")" scratch "AMBIT_POD_DIR is the host's pod dir"
# The manifests dir is its working directory, readable.
expect_eq "$(in_pod plain pwd)" "$(realpath "$LIB_DIR/manifests-sandbox")" "working directory"
in_pod plain "test -r pods.yaml" || fail "the manifests are not readable from the pod"

# Nothing of ambit's: no CA key, no node dirs, no agent socket, no pins, no other pod's dir.
in_pod plain "test -e $RUN/ca/root-key.pem" && fail "the CA key is visible in the pod"
in_pod plain "test -e $RUN/node1" && fail "the node's run dir is visible in the pod"
out=$(in_pod plain "ls $RUN/pods")
expect_eq "$out" "sbx_plain" "the pod sees only its own pod dir"
out=$(in_pod plain "socat -u /dev/null UNIX-CONNECT:$RUN/node1/agent.sock" 2>&1) &&
	fail "the pod reached the agent socket"
in_pod plain "ls /proc/[0-9]*/root/$RUN/node1 2>/dev/null | grep -q ." && fail "the agent's dir is reachable through /proc"
in_pod plain "ls -A /sys/fs/bpf | grep -q ." && fail "bpffs is visible in the pod"
in_pod plain "test -e /sys/fs/cgroup/cgroup.procs" && fail "the host's cgroup fs is visible in the pod"
# A pid namespace of its own: its command is pid 1 and no host process is in view.
expect_eq "$(in_pod plain 'tr "\0" " " </proc/1/cmdline')" "sleep infinity " "pid 1 of the pod"
n=$(in_pod plain 'ls -d /proc/[0-9]* | wc -l')
[ "$n" -lt 10 ] || fail "the pod sees $n processes"
expect_eq "$(in_pod plain hostname)" plain "hostname"

# Capabilities: containerd's default set, for pid 1 and for exec alike; exec shares pid 1's
# mount namespace.
dflt=00000000a80425fb
expect_eq "$(in_pod plain 'awk "/^CapEff/ {print \$2}" /proc/1/status')" "$dflt" "CapEff of the pod"
expect_eq "$(in_pod plain 'awk "/^CapEff/ {print \$2}" /proc/self/status')" "$dflt" "CapEff of exec"
expect_eq "$(in_pod plain 'awk "/^CapBnd/ {print \$2}" /proc/self/status')" "$dflt" "CapBnd of exec"
expect_eq "$(in_pod plain 'readlink /proc/self/ns/mnt')" "$(in_pod plain 'readlink /proc/1/ns/mnt')" \
	"exec enters the pod's mount namespace"
out=$(in_pod plain "ip addr add 127.0.0.2/8 dev lo" 2>&1) && fail "NET_ADMIN without asking for it"
# capabilities.add / drop.
want=$(printf '%016x' $(((0xa80425fb | 1 << 12) & ~(1 << 5))))
expect_eq "$(in_pod netadmin 'awk "/^CapEff/ {print \$2}" /proc/1/status')" "$want" "CapEff with NET_ADMIN, without KILL"
in_pod netadmin "ip addr add 127.0.0.2/8 dev lo" || fail "a pod given NET_ADMIN cannot use it"

# privileged: every capability the node has, still in a sandbox of its own.
expect_eq "$(in_pod priv 'awk "/^CapEff/ {print \$2}" /proc/1/status')" \
	"$(awk '/^CapBnd/ {print $2}' /proc/self/status)" "CapEff of a privileged pod"
in_pod priv "test -e $RUN/node1" && fail "a privileged pod sees the node's run dir"

# runAsUser / runAsGroup: pid 1 and exec run as 1000:1000, with no capabilities (not root) and
# no_new_privs (allowPrivilegeEscalation: false).
expect_eq "$(in_pod runas 'awk "/^Uid/ {print \$2}" /proc/1/status')" 1000 "uid of the pod"
expect_eq "$(in_pod runas 'id -u'):$(in_pod runas 'id -g')" 1000:1000 "uid:gid of exec"
expect_eq "$(in_pod runas 'awk "/^CapEff/ {print \$2}" /proc/self/status')" 0000000000000000 "CapEff as uid 1000"
expect_eq "$(in_pod runas 'awk "/^NoNewPrivs/ {print \$2}" /proc/self/status')" 1 "no_new_privs"

# readOnlyRootFilesystem: only the pod dir is writable.
in_pod readonly "echo x >/tmp/x" 2>/dev/null && fail "readOnlyRootFilesystem: /tmp writable"
in_pod readonly "echo x >/var/tmp/x" 2>/dev/null && fail "readOnlyRootFilesystem: /var writable"
in_pod readonly 'echo x >"$AMBIT_POD_DIR/x"' || fail "readOnlyRootFilesystem: pod dir not writable"

# runAsNonRoot with no user: refused, and said why.
wait_for 10 bash -c "$(printf '%q ' "$AMBITCTL") local status -o json | jq -e '.pods[] | select(.name == \"nonroot\") | .state == \"Failed\"'" ||
	fail "runAsNonRoot without runAsUser did not fail the pod: $(actl local status)"
expect_contains "$(actl local status)" "runAsNonRoot" "the reason is shown"
pass
