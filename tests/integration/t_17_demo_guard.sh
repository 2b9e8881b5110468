#!/usr/bin/env bash
# `make demo` (examples/demo/run.sh) never removes a cluster it did not make: a cluster of its
# name that someone brought up, or that a running demo owns, makes it refuse, say how to remove
# it, and leave it working. Only what a killed demo left (its recorded pid is gone) is removed,
# and the demo then runs to the end and tears down.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl

sleeper=
trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; on_exit' EXIT
cluster_up "$REPO/examples/demo"
trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; on_exit' EXIT
wait_for 30 pod_exec demo/client-0 curl -sf --max-time 2 http://web/ || fail "web never answered"

run_demo() { DEMO_CLUSTER=$CLUSTER DEMO_SECONDS=1 AMBITCTL=$AMBITCTL bash "$REPO/examples/demo/run.sh" 2>&1; }
still_up() {
	actl local status >/dev/null 2>&1 || fail "$1: the cluster is gone"
	pod_exec demo/client-0 curl -sf --max-time 5 http://web/ >/dev/null || fail "$1: web no longer answers"
}

out=$(run_demo) && fail "the demo ran over a cluster it did not make: $out"
expect_contains "$out" "a cluster named \"$CLUSTER\" is already up"
expect_contains "$out" "local down --name $CLUSTER"
still_up "after refusing a cluster it did not make"

# A demo still running owns its cluster ($0 of this sleeper names the demo's script).
bash -c 'sleep 600; :' examples/demo/run.sh &
sleeper=$!
echo "$sleeper" >"/run/ambit/$CLUSTER/demo.pid"
out=$(run_demo) && fail "the demo ran over a running demo's cluster: $out"
expect_contains "$out" "a demo is already running as cluster \"$CLUSTER\" (pid $sleeper)"
still_up "after refusing a running demo's cluster"
kill "$sleeper"
wait "$sleeper" 2>/dev/null
dead=$sleeper
sleeper=

# The demo that owned it was killed (the pid is gone): its leftover is the demo's to remove.
echo "$dead" >"/run/ambit/$CLUSTER/demo.pid"
out=$(run_demo) || fail "the demo did not start over its own leftover (exit $?): $out"
expect_contains "$out" "removing cluster \"$CLUSTER\" left by a demo run that ended without tearing down (pid $dead)"
expect_contains "$out" "requests as they happen"
expect_contains "$out" "cluster $CLUSTER is down"
[ -e "/run/ambit/$CLUSTER" ] && fail "the demo left its cluster up"
CLUSTER_IS_UP=0
pass
