#!/usr/bin/env bash
# `make demo` (examples/demo/run.sh) never removes a cluster it did not make: a cluster of its
# name that someone brought up, or that a running demo owns, makes it refuse, say how to remove
# it, and leave it working. Only what a killed demo left (its recorded pid is gone) is removed,
# and the demo then runs to the end and tears down: the L7 tour (the default), whose steps must
# show what Istio's tutorials show, and the L4 demo (DEMO=l4).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl

sleeper=
trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; on_exit' EXIT
cluster_up "$REPO/examples/demo"
trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; on_exit' EXIT
wait_for 30 pod_exec demo/client-0 curl -sf --max-time 2 http://web/ || fail "web never answered"

# The gateway's host port: one no other test or user holds.
INGRESS_PORT=$(free_port)
PROM_PORT=$(free_port)
run_demo() { DEMO_CLUSTER=$CLUSTER DEMO_SECONDS=${SECS:-1} DEMO_INGRESS_PORT=$INGRESS_PORT DEMO_PROMETHEUS_PORT=$PROM_PORT AMBITCTL=$AMBITCTL bash "$REPO/examples/demo/run.sh" 2>&1; }
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
out=$(SECS=3 run_demo) || fail "the demo did not start over its own leftover (exit $?): $out"
expect_contains "$out" "removing cluster \"$CLUSTER\" left by a demo run that ended without tearing down (pid $dead)"
expect_contains "$out" "cluster $CLUSTER is down"
[ -e "/run/ambit/$CLUSTER" ] && fail "the demo left its cluster up"
CLUSTER_IS_UP=0
# The tour showed each step's effect (a section's lines, by its title).
step() { printf '%s\n' "$out" | sed -n "/== $1/,/== /p"; }
printf '%s\n' "$out" | grep -E '^ +[0-9]+ v[123] |after [0-9.]+ s|x 200|x 503|logged' >&2
expect_contains "$(step '1. bookinfo')" "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
expect_contains "$(step '2. the ingress gateway')" "Forwarding from 127.0.0.1:"
expect_contains "$(step '2. the ingress gateway')" "through the gateway"
expect_contains "$(step '2. the ingress gateway')" '"GET /productpage HTTP/1.1" 200'
expect_contains "$(step '3. a waypoint')" "1         True"
expect_eq "$(step '4. request routing: everything' | grep -E '^ +[0-9]+ ' | sed 's/^ *//')" "10 v1 (no stars)" "all to v1"
expect_eq "$(step '5. request routing by user' | grep -E '^ +[0-9]+ ' | sed 's/^ *//' | tr '\n' ';')" \
	"5 v2 (black stars);5 v1 (no stars);" "jason to v2, others v1"
shift5=$(step '6. traffic shifting' | grep -E '^ +[0-9]+ ' | sed 's/^ *//' | tr '\n' ';')
case $shift5 in *"v3 (red stars);10 v3 (red stars);") ;; *) fail "traffic shifting: $shift5" ;; esac
expect_not_contains "$shift5" "v2" "traffic shifting"
expect_contains "$(step '7. fault injection: a 7 s')" '"Sorry, product reviews are currently unavailable for this book." after'
expect_contains "$(step '8. fault injection: ratings aborts')" '3 v2, stars: "Ratings service is currently unavailable"'
expect_contains "$(step '8. fault injection: ratings aborts')" '500 FI fault_filter_abort'
expect_contains "$(step '9. request timeouts')" '504 UT'
expect_contains "$(step '10. circuit breaking')" 'x 503 (the breaker: overflow)'
expect_contains "$(step '10. circuit breaking')" 'x 200 OK'
expect_contains "$(step '1. bookinfo')" "prometheus: http://127.0.0.1:$PROM_PORT"
expect_contains "$(step '11. the metrics in Prometheus')" "curl -> details-v1  503 UO"
expect_contains "$(step '11. the metrics in Prometheus')" "productpage-v1 -> reviews-v2  504 UT"
expect_contains "$(step '11. the metrics in Prometheus')" "reviews-v2 -> unknown  500 FI"
expect_contains "$out" "requests as they happen (for 3s): the gateway's and the waypoint's access logs"
expect_contains "$(step 'requests as they happen')" '"GET /productpage HTTP/1.1" 200'

# The L4 demo runs to the end too.
out=$(DEMO=l4 run_demo) || fail "DEMO=l4 failed (exit $?): $out"
expect_contains "$out" "demo/client-0 -> demo/web-0 is mutual TLS 1.3"
expect_contains "$out" "requests as they happen"
expect_contains "$out" "cluster $CLUSTER is down"
[ -e "/run/ambit/$CLUSTER" ] && fail "DEMO=l4 left its cluster up"
out=$(DEMO=l5 run_demo) && fail "DEMO=l5 was taken: $out"
expect_contains "$out" "DEMO must be l7"
pass
