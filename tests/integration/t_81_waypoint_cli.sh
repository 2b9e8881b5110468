#!/usr/bin/env bash
# `ambitctl waypoint generate|apply|list|status|delete` as istioctl's: the Gateway it writes,
# --for and --enroll-namespace, kubectl's per-object words underneath, what list and status say
# of a waypoint and of what is bound to it, and refusals naming why.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq
cluster_up manifests
state=/run/ambit/$CLUSTER/state

out=$(actl waypoint generate -n mesh --for workload) || fail "generate: $out"
expect_contains "$out" "gatewayClassName: istio-waypoint"
expect_contains "$out" "istio.io/waypoint-for: workload"
expect_contains "$out" "protocol: HBONE"
expect_contains "$(actl waypoint generate)" "namespace: default" "generate defaults to default"

out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"
expect_contains "$out" "gateway.gateway.networking.k8s.io/waypoint created"
expect_contains "$out" "waypoint mesh/waypoint applied"
expect_contains "$out" 'namespace mesh labeled with "istio.io/use-waypoint: waypoint"'
[ -f "$state/mesh/gateway.gateway.networking.k8s.io/waypoint.yaml" ] ||
	fail "the Gateway is not in the store"
out=$(actl waypoint apply -n mesh 2>&1) || fail "re-apply: $out"
expect_contains "$out" "gateway.gateway.networking.k8s.io/waypoint unchanged"

# Its instance (mesh/waypoint-0) starts: Programmed once it runs.
wp_running() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_running || fail "the waypoint's instance never ran: $(actl waypoint list -n mesh)"
out=$(actl waypoint list -n mesh) || fail "list: $out"
expect_contains "$out" "spiffe://cluster.local/ns/mesh/sa/waypoint"
j=$(actl waypoint list -A -o json) || fail "list -o json"
expect_eq "$(jq -r '.[] | select(.name == "waypoint") | .reason' <<<"$j")" Programmed
expect_eq "$(jq -r '.[] | select(.name == "waypoint") | .programmed' <<<"$j")" true

out=$(actl waypoint status -n mesh) || fail "status: $out"
expect_contains "$out" "mesh/waypoint: Programmed=True reason=Programmed"
expect_contains "$out" "mesh/server (namespace label)" "the namespace label binds its Services"
expect_contains "$out" "bound workloads: none" "waypoint-for service takes no workload traffic"

# A second waypoint for workloads whose instance cannot start (no such binary): list and
# status say it serves nothing.
out=$(AMBIT_WAYPOINT_BIN=/nonexistent/waypoint actl waypoint apply -n mesh --name wl --for all \
	--wait=false 2>&1) || fail "apply wl: $out"
out=$(actl waypoint status -n mesh --name wl) || fail "status wl: $out"
expect_contains "$out" "mesh/wl: Programmed=False reason=NoInstances"
expect_not_contains "$out" "mesh/waypoint:" "--name selects one waypoint"

# Refusals: no such namespace, bad names, unknown traffic type, an unknown waypoint.
out=$(actl waypoint apply -n nosuch 2>&1) && fail "apply into a missing namespace succeeded"
expect_contains "$out" 'namespaces "nosuch" not found'
out=$(actl waypoint apply -n mesh --name Bad_Name 2>&1) && fail "a bad name was accepted"
expect_contains "$out" "Bad_Name: not a valid name"
out=$(actl waypoint apply -n mesh --for everything 2>&1) && fail "--for everything accepted"
expect_contains "$out" "one of service, workload, all, none"
out=$(actl waypoint apply -n plain 2>&1) || fail "apply in plain: $out"
expect_contains "$out" "namespace plain is not in the ambient mesh"
out=$(actl waypoint delete -n mesh nope 2>&1) && fail "deleting an unknown waypoint succeeded"
expect_contains "$out" "gateway.gateway.networking.k8s.io/nope in namespace mesh not found"

out=$(actl waypoint delete -n mesh --all 2>&1) || fail "delete --all: $out"
expect_contains "$out" "gateway.gateway.networking.k8s.io/waypoint deleted"
expect_contains "$out" "gateway.gateway.networking.k8s.io/wl deleted"
[ ! -e "$state/mesh/gateway.gateway.networking.k8s.io/waypoint.yaml" ] || fail "still stored"
out=$(actl waypoint status -n mesh 2>&1) && fail "status of no waypoints succeeded"
expect_contains "$out" "no waypoints in namespace mesh"
# The namespace still names the deleted waypoint: status of the others says so.
out=$(actl waypoint status -n plain 2>&1) || fail "status plain: $out"
out=$(actl waypoint delete -n plain waypoint 2>&1) || fail "delete plain: $out"
pass
