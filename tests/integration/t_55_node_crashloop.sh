#!/usr/bin/env bash
# Crash loops on a node, the rest of its worst days after t_53's reboot: node1's agent killed
# again each time its kubelet restarts it (`local crash node1 agent --times 3`), then its ztunnel,
# then both at once, while the traffic of failclosed_lib.sh runs, and nothing may get through in
# plaintext. A dead agent takes nothing with it (its programs and maps stay pinned: the capture
# stays in force); a dead ztunnel leaves captured connections unanswered, never sent around it.
# The kubelet's back-off is scaled down (AMBIT_KUBELET_BACKOFF_MS) so three crashes take
# seconds; it grows across the phases, as a kubelet's does.
# Figures: each phase's requests answered out of those sent, and the first mesh request from
# node1 served after it.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd tcpdump jq curl
export AMBIT_KUBELET_BACKOFF_MS=300
cluster_up manifests
. "$LIB_DIR/failclosed_lib.sh"
fc_start

# phase NAME CMD...: runs the crash loop CMD, then waits for node1's mesh traffic to be served.
phase() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$@" >"$FC_WORK/$name.log" 2>&1 || {
		cat "$FC_WORK/$name.log" >&2
		fail "crash loop ($name) failed"
	}
	t1=$(date +%s.%N)
	wait_for 30 fc_served_since "$t1" || fail "no mesh request from node1 served within 30 s of the $name crash loop"
	log "$name: $(grep -c 'SIGKILL' "$FC_WORK/$name.log") kills in" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; answered/sent meanwhile:" \
		"$(fc_counts "$t0" "$t1"); first node1->node2 mesh request served $(fc_first mesh12 "$t1") s after"
}
both() {
	local a r
	actl local crash node1 agent --times 3 &
	a=$!
	actl local crash node1 ztunnel --times 3
	r=$?
	wait "$a" && [ "$r" = 0 ]
}
phase agent actl local crash node1 agent --times 3
phase ztunnel actl local crash node1 ztunnel --times 3
phase both both
sleep 1
fc_stop
log "answered/sent in all: $(fc_counts 0 9999999999)"
fc_check_leaks "the crash loops on node1"
pass
