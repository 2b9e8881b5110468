#!/usr/bin/env bash
# Istio's "Mirroring" task with the Gateway API (issue 38 §2.3): its HTTPRoute names the Service
# as `kind: Service` without `group: ""`, the group then being the Gateway API's, which has no
# kind Service. Istio ignores such a parent; ambit takes the core Service it can only mean and
# says so when it is applied. The route is the waypoint's: every request to one backend,
# mirrored to another. `ambitctl get httproute` shows its parent as written, Accepted, with its
# references and waypoint resolved; a route on a Service no waypoint serves says so.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT

mesh_waypoint_up
cat >"$WORK/route.yaml" <<'YAML'
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: server
  namespace: mesh
spec:
  parentRefs:
  - kind: Service
    name: server
    port: 80
  rules:
  - filters:
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: server
          port: 80
    backendRefs:
    - name: server-local
      port: 80
YAML
out=$(actl apply -f "$WORK/route.yaml" 2>&1) || fail "apply: $out"
expect_contains "$out" "spec.parentRefs[0]: kind Service without group \"\""
expect_contains "$out" "Istio ignores this parent"

# Routed to server-local; a copy of each request goes to server (its log has the path).
id=mirrored-$RANDOM
routed() { pod_exec mesh/client-0 curl -sf --max-time 3 "http://server/$id" | grep -q "pod=mesh/server-local-0"; }
wait_for 30 routed || fail "not routed to server-local: $(pod_exec mesh/client-0 curl -s --max-time 3 "http://server/$id")"
wait_log 10 mesh/server-0 "GET /$id " || fail "no mirrored request at server-0: $(actl local logs mesh/server-0 | tail -3)"
wait_log 10 mesh/waypoint-0 "\"GET /$id HTTP/1.1\" 200 .*server-local" ||
	fail "the waypoint did not log the routed request: $(actl local logs mesh/waypoint-0 | tail -3)"

# Its status: the parent as the API server holds it, and Gateway API's conditions.
st=$(actl get httproute server -n mesh -o json) || fail "get httproute: $st"
p=$(jq -c '.status.parents[0]' <<<"$st")
expect_eq "$(jq -r '.status.parents | length' <<<"$st")" 1 "parents"
expect_eq "$(jq -r '.parentRef.kind + " " + .parentRef.group + " " + .parentRef.name' <<<"$p")" \
	"Service gateway.networking.k8s.io server"
expect_eq "$(jq -r .controllerName <<<"$p")" istio.io/gateway-controller
for c in Accepted ResolvedRefs ResolvedWaypoints; do
	expect_eq "$(jq -r --arg c "$c" '.conditions[] | select(.type == $c) | .status' <<<"$p")" True "$c"
done

# A route on a Service no waypoint serves (namespace plain has none): it applies nowhere, and
# its status says why with Istio's reason and words.
cat >"$WORK/plain.yaml" <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: server
  namespace: plain
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: server
  rules:
  - backendRefs:
    - name: server
      port: 80
YAML
out=$(actl apply -f "$WORK/plain.yaml" 2>&1) || fail "apply plain: $out"
st=$(actl get httproute server -n plain -o json) || fail "get httproute: $st"
c=$(jq -c '.status.parents[0].conditions[] | select(.type == "ResolvedWaypoints")' <<<"$st")
expect_eq "$(jq -r .status <<<"$c")" False "ResolvedWaypoints of a route no waypoint serves"
expect_eq "$(jq -r .reason <<<"$c")" MissingUseWaypointLabel
expect_contains "$(jq -r .message <<<"$c")" "istio.io/use-waypoint label missing from parent and parent namespace"
pass
