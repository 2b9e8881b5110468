#!/usr/bin/env bash
# t_30 with the race made wide on purpose: one node's agent is paused (SIGSTOP) for SKEW_MS
# while a namespace is labelled or unlabelled, so the two nodes disagree about who is enrolled
# for that long. Enrolling with node2 (the server's) late, the client's ztunnel opens HBONE to a
# pod node2 does not capture yet (reset); unenrolling with node1 (the client's) late, it opens
# HBONE to a pod node2 no longer captures. The ztunnel retries such opens (and routes again with
# the newest snapshot) for about a second, so every request must still succeed.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq
SKEW_MS=${SKEW_MS:-400}
cluster_up manifests
wait_for 30 pod_exec plain/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

agent_pid() { cat "/run/ambit/$CLUSTER/$1/agent.pid"; }
paused=
resume() { [ -n "$paused" ] && kill -CONT "$paused" 2>/dev/null; paused=; }
# skewed NODE CMD...: runs CMD while NODE's agent is paused, and resumes it SKEW_MS later.
skewed() {
	local node=$1
	shift
	paused=$(agent_pid "$node") || fail "no agent pid for $node"
	kill -STOP "$paused" || fail "cannot pause $node's agent"
	"$@" >/dev/null || { resume; fail "$* failed"; }
	sleep "$(awk -v ms="$SKEW_MS" 'BEGIN { print ms / 1000 }')"
	resume
}
# enrolled NS/POD: "true"/"false" as the pod's own node reports it.
enrolled() {
	actl workloads -o json | jq -r --arg ns "${1%/*}" --arg n "${1#*/}" \
		'[.[] | .workloads[]? | select(.namespace == $ns and .name == $n) | .enrolled] | any'
}
is_enrolled() { [ "$(enrolled "$1")" = "$2" ]; }

loop_out=$(mktemp /tmp/ambit-it-XXXXXX)
trap 'resume; kill $loop_pid 2>/dev/null; rm -f "$loop_out"; on_exit' EXIT
pod_exec plain/client-0 bash -c 'while :; do
	if curl -sf --max-time 3 http://server/ >/dev/null; then echo ok; else echo FAIL; fi
	sleep 0.05; done' >"$loop_out" 2>&1 &
loop_pid=$!
sleep 1

# Enrolling, the server's node late (--wait=false: label waits for every node, the paused
# one too, unless told not to).
skewed node2 actl label namespace plain istio.io/dataplane-mode=ambient --wait=false
wait_for 10 is_enrolled plain/server-0 true || fail "plain/server-0 not enrolled"
sleep 1
# Unenrolling, the client's node late.
skewed node1 actl label namespace plain istio.io/dataplane-mode- --wait=false
wait_for 10 is_enrolled plain/client-0 false || fail "plain/client-0 still enrolled"
sleep 1

kill $loop_pid 2>/dev/null; wait $loop_pid 2>/dev/null
oks=$(grep -c '^ok' "$loop_out" || true); fails=$(grep -c '^FAIL' "$loop_out" || true)
log "requests with a ${SKEW_MS} ms skew between the nodes: $oks ok, $fails failed"
# A sanity check that the loop ran through both transitions, not a rate (the machine is shared).
[ "$oks" -gt 8 ] || fail "background loop made too few requests ($oks)"
[ "$fails" -eq 0 ] || fail "$fails requests failed while the nodes disagreed"
pass
