#!/usr/bin/env bash
# `local down` removes everything a cluster made even when `local up` was killed half-way and
# its agents/ztunnels/pods died abruptly, or when its kubelets were killed; a second `down` is
# harmless.
. "$(dirname "$0")/lib.sh"
need_root; need_bins

# leftovers_of C: what of cluster C is still on the host.
leftovers_of() {
	local cg
	cg=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
	ip netns list | awk -v p="ambit-$1-" 'index($1, p) == 1 {print "netns " $1}'
	[ -d "$cg/ambit-$1" ] && echo "cgroup $cg/ambit-$1"
	ls -d /sys/fs/bpf/ambit/"$1"-* 2>/dev/null
	ls -d /etc/netns/ambit-"$1"-* 2>/dev/null
	[ -d "/run/ambit/$1" ] && echo "rundir /run/ambit/$1"
	pgrep -af "ambitctl local kubelet --name $1 "
	awk -v p="/run/ambit/$1/" 'index($5, p) == 1 {print "mount " $5}' /proc/self/mountinfo
	return 0
}

trap '"$AMBITCTL" local down --name "$CLUSTER" >/dev/null 2>&1' EXIT
for delay in 0.5 1.5 3; do
	"$AMBITCTL" local up -f "$LIB_DIR/manifests" --name "$CLUSTER" >/dev/null 2>&1 &
	up=$!
	sleep "$delay"
	kill -9 "$up" 2>/dev/null
	wait "$up" 2>/dev/null
	# Whatever it had started dies abruptly too.
	pkill -9 -f "/run/ambit/$CLUSTER/" 2>/dev/null
	"$AMBITCTL" local down --name "$CLUSTER" >/dev/null || fail "down after a crash at ${delay}s failed"
	"$AMBITCTL" local down --name "$CLUSTER" >/dev/null || fail "second down failed"
	left=$(leftovers_of "$CLUSTER")
	[ -z "$left" ] || fail "left after crash at ${delay}s + down: $left"
	log "crash after ${delay}s: down left nothing"
done

# The kubelets killed: nothing restarts a killed ztunnel any more, status says why, and down
# still removes everything.
"$AMBITCTL" local up -f "$LIB_DIR/manifests" --name "$CLUSTER" >/dev/null 2>&1 || fail "local up"
for node in node1 node2; do
	kill -9 "$(cat "/run/ambit/$CLUSTER/$node/kubelet.pid")" || fail "no kubelet on $node"
done
kill -9 "$(cat "/run/ambit/$CLUSTER/node1/ztunnel.pid")"
out=$("$AMBITCTL" local status --name "$CLUSTER") || fail "local status without kubelets"
expect_contains "$out" "kubelet is down restarts nothing"
"$AMBITCTL" local down --name "$CLUSTER" >/dev/null || fail "down after the kubelets were killed"
left=$(leftovers_of "$CLUSTER")
[ -z "$left" ] || fail "left after the kubelets were killed + down: $left"
pass
