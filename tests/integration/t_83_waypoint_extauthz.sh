#!/usr/bin/env bash
# CUSTOM AuthorizationPolicy at the waypoint, as Istio's ext-authz task does it: the sample's
# ext-authz logic (pods/ext_authz.py) behind a Service in a mesh namespace no waypoint serves,
# named by the mesh config's extensionProviders (envoyExtAuthzHttp), and a CUSTOM policy on the
# waypoint's Service. A request the policy matches is checked: without `x-ext-authz: allow`
# the client gets the authorizer's 403, its body and its header; with it, the request goes
# through; one the policy does not match is never checked. A provider that cannot be reached
# lets requests through with failOpen, and answers 403 UAEX without.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl python3
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered before the waypoint"
out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"
wp_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran"
wp_ip=$(pod_ip mesh/waypoint-0)
via_wp() { pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ | grep -q "from=$wp_ip"; }
wait_for 30 via_wp || fail "no answer through the waypoint"

# provider NAME SERVICE FAIL_OPEN: the mesh config with that one ext_authz provider.
provider() {
	cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
    extensionProviders:
    - name: $1
      envoyExtAuthzHttp:
        service: $2
        port: 8000
        failOpen: $3
        includeRequestHeadersInCheck: ["x-ext-authz"]
        headersToUpstreamOnAllow: ["x-ext-authz-check-result"]
        headersToDownstreamOnDeny: ["x-ext-authz-check-result"]
        headersToDownstreamOnAllow: ["x-ext-authz-check-result"]
YAML
}
# custom NAME PROVIDER: the CUSTOM policy on the server's Service, for /headers*.
custom() {
	cat <<YAML
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: $1
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  action: CUSTOM
  provider:
    name: $2
  rules:
  - to:
    - operation:
        paths: ["/headers*"]
YAML
}
actl apply -f - >&2 <<'YAML' || fail "the ext-authz server was not applied"
apiVersion: v1
kind: Namespace
metadata:
  name: authz
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: v1
kind: Service
metadata: {name: ext-authz, namespace: authz}
spec:
  selector: {app: ext-authz}
  ports: [{name: http, port: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: ext-authz-down, namespace: authz}
spec:
  selector: {app: nothing-runs-this}
  ports: [{name: http, port: 8000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ext-authz, namespace: authz}
spec:
  replicas: 1
  selector: {matchLabels: {app: ext-authz}}
  template:
    metadata: {labels: {app: ext-authz}}
    spec:
      containers:
      - name: ext-authz
        command: ["pods/ext_authz.py", "8000"]
YAML
provider sample-ext-authz-http ext-authz.authz.svc.cluster.local false >"$WORK/mesh.yaml"
custom ext-authz sample-ext-authz-http >"$WORK/custom.yaml"
out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"

# code PATH [curl args...]: the status the client gets.
code() {
	local p=$1
	shift
	pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://server$p"
}
checked() { [ "$(code /headers)" = 403 ]; }
wait_for 60 checked || fail "the CUSTOM policy never asked: $(pod_exec mesh/client-0 curl -si --max-time 5 http://server/headers | head -5)"
out=$(pod_exec mesh/client-0 curl -si --max-time 5 http://server/headers)
expect_contains "$out" "denied by ext_authz for not found header"
expect_contains "$out" "x-ext-authz-check-result: denied"
expect_eq "$(code /headers -H 'x-ext-authz: allow')" 200 "a request the authorizer allows"
# Allowed: headersToUpstreamOnAllow reach the server, headersToDownstreamOnAllow the client.
out=$(pod_exec mesh/client-0 curl -s -D - -o /dev/null --max-time 5 -H 'x-ext-authz: allow' \
	http://server/headers)
expect_contains "$out" "x-ext-authz-check-result: allowed" "the allowed response's header"
expect_eq "$(code / )" 200 "a request no CUSTOM rule matches"
# The authorizer saw the method, the path, the Host and the field it asked for, and no other.
wait_log 10 authz/ext-authz-0 'check GET /headers .*host=server.*x-ext-authz=allow' ||
	fail "the check was not as expected: $(actl local logs authz/ext-authz-0 | tail -3)"
if actl local logs authz/ext-authz-0 | grep -q 'check GET / '; then
	fail "a request no CUSTOM rule matches was checked"
fi
wait_log 10 mesh/waypoint-0 '"GET /headers HTTP/1.1" 403 UAEX ext_authz_denied' ||
	fail "the access log does not say UAEX: $(actl local logs mesh/waypoint-0 | tail -2)"

# A provider that cannot be reached: failOpen lets requests through, else 403 UAEX.
provider down-open ext-authz-down.authz.svc.cluster.local true >"$WORK/mesh.yaml"
custom ext-authz down-open >"$WORK/custom.yaml"
out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"
open_ok() { [ "$(code /headers)" = 200 ]; }
wait_for 30 open_ok || fail "failOpen did not let the request through"
provider down-closed ext-authz-down.authz.svc.cluster.local false >"$WORK/mesh.yaml"
custom ext-authz down-closed >"$WORK/custom.yaml"
out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"
closed() { [ "$(code /headers)" = 403 ]; }
wait_for 30 closed || fail "an unreachable provider without failOpen did not deny"
expect_eq "$(code /)" 200 "a request no CUSTOM rule matches, with the provider away"
out=$(actl delete -f "$WORK/custom.yaml" 2>&1) || fail "delete: $out"
open_again() { [ "$(code /headers)" = 200 ]; }
wait_for 30 open_again || fail "requests were still checked once the policy was deleted"
pass
