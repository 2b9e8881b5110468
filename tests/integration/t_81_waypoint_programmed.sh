#!/usr/bin/env bash
# A waypoint is Programmed once it serves, not once its pod runs (issue 38 §2.5): an instance
# that runs but has not taken its first configuration from its agent (held here before it
# starts, bin/waypoint-gated) leaves it Pending, and `waypoint list`, `waypoint status` and
# `get gateway` say the same thing, from one rule. Once it is Programmed a request sent at once
# is served through it (never its 404 NR for a Service it does not know yet): the namespace's
# label was in force everywhere before `waypoint apply --enroll-namespace` returned.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
gate=/run/ambit/$CLUSTER/pods/mesh_waypoint-0/go

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered before the waypoint"
out=$(AMBIT_WAYPOINT_BIN=$LIB_DIR/bin/waypoint-gated actl waypoint apply -n mesh \
	--enroll-namespace 2>&1) || fail "apply: $out"
expect_contains "$out" "namespace/mesh labelled"
# The Gateway's apply, then the label's, each waited for until in force.
expect_eq "$(grep -c 'in force on 2 nodes' <<<"$out")" 2 "in-force lines (the label waited for): $out"

# Its pod runs, without its configuration: Pending, said alike by all three.
pending() { actl waypoint status -n mesh | grep -q "mesh/waypoint: Programmed=False reason=Pending"; }
wait_for 30 pending || fail "not Pending while it waits for its config: $(actl waypoint status -n mesh)"
out=$(actl waypoint status -n mesh)
expect_contains "$out" "instance mesh/waypoint-0 runs, but has not taken its configuration yet"
out=$(actl waypoint list -n mesh)
echo "$out" | grep -Eq '^mesh +waypoint +service .* 0 +False$' || fail "list: $out"
out=$(actl get gateway -n mesh)
echo "$out" | grep -Eq '^waypoint +istio-waypoint +waypoint\.mesh\.svc\.cluster\.local +False +[0-9a-z]+$' ||
	fail "get gateway: $out"
c=$(actl get gateway waypoint -n mesh -o json | jq -c '.status.conditions[] | select(.type == "Programmed")')
expect_eq "$(jq -r .reason <<<"$c")" Pending "get gateway's Programmed reason"

# Let it start: Programmed, by all three, and a request right then goes through it.
touch "$gate"
wp_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "never Programmed: $(actl waypoint status -n mesh)"
wp_ip=$(pod_ip mesh/waypoint-0)
for i in 1 2 3; do
	out=$(pod_exec mesh/client-0 curl -s --max-time 3 -w ' code=%{http_code}' http://server/) ||
		fail "request $i: $out"
	expect_contains "$out" "from=$wp_ip" "request $i right after Programmed, through the waypoint"
	expect_contains "$out" " code=200" "request $i right after Programmed"
done
out=$(actl get gateway -n mesh)
echo "$out" | grep -Eq '^waypoint +istio-waypoint +waypoint\.mesh\.svc\.cluster\.local +True +[0-9a-z]+$' ||
	fail "get gateway disagrees with waypoint list: $out"
out=$(actl waypoint status -n mesh)
expect_contains "$out" "mesh/waypoint: Programmed=True reason=Programmed"
pass
