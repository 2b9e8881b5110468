#!/usr/bin/env bash
# The Gateway API's own HTTPRoute conformance cases (kubernetes-sigs/gateway-api,
# conformance/tests/httproute-*), said again in gwconf/cases.py, against the gateway of a
# Gateway of class istio: one cluster with the suite's base (gwconf/base.yaml: its namespaces,
# Gateways and echo backends, echo.py standing in for echo-basic), each case applied, its
# requests sent from the host through `ambitctl local port-forward` to the Gateway's Service and
# checked (status, backend, path and headers the backend saw, Location, route status), then
# deleted. Prints "N of M cases pass, K of L requests"; any failure fails the test.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd python3
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up "$LIB_DIR/gwconf" 1
GW=gateway-conformance-infra/same-namespace-istio-0
wait_for 60 pod_exec $GW true || fail "the Gateway's deployment never ran: $(actl local status)"
wait_for 60 pod_exec gateway-conformance-web-backend/web-backend-0 true ||
	fail "the echo backends never ran: $(actl local status)"
out=$(python3 "$LIB_DIR/gwconf/cases.py" "$AMBITCTL" "$CLUSTER" 2>&1)
rc=$?
echo "$out" >&2
[ $rc = 0 ] || fail "conformance cases failed: $(echo "$out" | tail -1)"
echo "$out" | tail -1 | grep -q '^\([0-9]*\) of \1 cases pass' || fail "no summary line"
pass
