#!/usr/bin/env bash
# CUSTOM AuthorizationPolicy at the waypoint with an envoyExtAuthzGrpc provider, as Istio's
# ext-authz task runs its sample over gRPC: a real envoy.service.auth.v3.Authorization/Check
# server (pods/ext_authz_grpc.py, python3-grpcio) behind a Service in a mesh namespace no
# waypoint serves, and a CUSTOM policy on the waypoint's Service. A request the policy matches
# is checked: without `x-ext-authz: allow` the client gets the denied_response (403, its header
# and body); with it, the request goes through with the ok_response's header operations (x-echo
# overwritten, or removed). One the policy does not match is never checked. A provider that
# cannot be reached lets requests through with failOpen, and answers 403 UAEX without; one that
# answers after its timeout, statusOnError.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl python3 protoc
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null ||
	skip "python3-grpcio and python3-protobuf are needed"
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
# The server's messages, compiled here: a pod sees the host's files but not its /tmp, where a
# checkout may be (google.protobuf's own are python3-protobuf's).
PB=$(mktemp -d /var/tmp/ambit-it-pb-XXXXXX)
trap 'rm -rf "$WORK" "$PB"; on_exit' EXIT
(cd "$REPO/proto" && find . -name '*.proto' ! -path './google/protobuf/*' -printf '%P\0' |
	xargs -0 protoc -I . --python_out="$PB") || fail "protoc could not compile proto/"

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered before the waypoint"
out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"
wp_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran"
wp_ip=$(pod_ip mesh/waypoint-0)
via_wp() { pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ | grep -q "from=$wp_ip"; }
wait_for 30 via_wp || fail "no answer through the waypoint"

# provider NAME SERVICE PORT FAIL_OPEN [STATUS_ON_ERROR]: the mesh config with that one gRPC ext_authz provider.
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
      envoyExtAuthzGrpc:
        service: $2
        port: $3
        timeout: 5s
        failOpen: $4
        statusOnError: "${5:-403}"
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
actl apply -f - >&2 <<YAML || fail "the ext-authz server was not applied"
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
  ports: [{name: grpc, port: 9000}, {name: grpc-closed, port: 9001}]
---
apiVersion: v1
kind: Service
metadata: {name: ext-authz-down, namespace: authz}
spec:
  selector: {app: nothing-runs-this}
  ports: [{name: grpc, port: 9000}]
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
        command: ["pods/ext_authz_grpc.py", "9000", "$PB"]
YAML
wait_log 60 authz/ext-authz-0 'serving Authorization/Check' ||
	fail "the gRPC ext-authz server never ran: $(actl local logs authz/ext-authz-0 | tail -5)"
provider sample-ext-authz-grpc ext-authz.authz.svc.cluster.local 9000 false 503 >"$WORK/mesh.yaml"
custom ext-authz sample-ext-authz-grpc >"$WORK/custom.yaml"
out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"

# code PATH [curl args...]: the status the client gets.
code() {
	local p=$1
	shift
	pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 8 "$@" "http://server$p"
}
checked() { [ "$(code /headers)" = 403 ]; }
wait_for 60 checked || fail "the CUSTOM policy never asked: $(pod_exec mesh/client-0 curl -si --max-time 8 http://server/headers | head -5)"
# Denied: the denied_response's status, header and body.
out=$(pod_exec mesh/client-0 curl -si --max-time 8 http://server/headers)
expect_contains "$out" "HTTP/1.1 403"
expect_contains "$out" "denied by ext_authz for not found header \`x-ext-authz: allow\` in the request"
expect_contains "$out" "x-ext-authz-check-result: denied"
# Allowed: on to the server, x-echo overwritten by the ok_response (append: false)...
out=$(pod_exec mesh/client-0 curl -s --max-time 8 -H 'x-ext-authz: allow' -H 'x-echo: from-client' \
	http://server/headers)
expect_contains "$out" "from=$wp_ip echo=from-ext-authz"
# ... or removed (headers_to_remove).
out=$(pod_exec mesh/client-0 curl -s --max-time 8 -H 'x-ext-authz: allow' -H 'x-echo: from-client' \
	-H 'x-ext-authz-op: remove' http://server/headers)
expect_contains "$out" "from=$wp_ip echo="
if [[ "$out" == *from-client* ]]; then
	fail "headers_to_remove left x-echo: $out"
fi
expect_eq "$(code / )" 200 "a request no CUSTOM rule matches"
# The authorizer saw the method, path, Host, protocol, the client's principal and the fields.
wait_log 10 authz/ext-authz-0 'check GET /headers host=server protocol=HTTP/1.1 source=[0-9.]+:[0-9]+ principal=spiffe://cluster.local/ns/mesh/sa/[^ ]+ .*x-ext-authz=allow' ||
	fail "the check was not as expected: $(actl local logs authz/ext-authz-0 | tail -3)"
if actl local logs authz/ext-authz-0 | grep -q 'check GET / '; then
	fail "a request no CUSTOM rule matches was checked"
fi
wait_log 10 mesh/waypoint-0 '"GET /headers HTTP/1.1" 403 UAEX ext_authz_denied' ||
	fail "the access log does not say UAEX: $(actl local logs mesh/waypoint-0 | tail -2)"
# An answer later than the provider's timeout (5 s) is an error: statusOnError.
start=$(date +%s)
expect_eq "$(code /headers -H 'x-ext-authz: allow' -H 'x-ext-authz-op: slow')" 503 \
	"a check past the provider's timeout"
[ $(($(date +%s) - start)) -lt 8 ] || fail "the check did not end at the provider's timeout"
wait_log 10 mesh/waypoint-0 '"GET /headers HTTP/1.1" 503 UAEX ext_authz_error' ||
	fail "the access log does not say ext_authz_error: $(actl local logs mesh/waypoint-0 | tail -2)"

# A provider that cannot be reached: failOpen lets requests through, else 403 UAEX. Its
# Service without endpoints (it cannot be asked), and its pod with nothing on the port (the
# gRPC stream fails).
provider down-open ext-authz-down.authz.svc.cluster.local 9000 true >"$WORK/mesh.yaml"
custom ext-authz down-open >"$WORK/custom.yaml"
out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"
open_ok() { [ "$(code /headers)" = 200 ]; }
wait_for 30 open_ok || fail "failOpen did not let the request through"
provider closed-port-open ext-authz.authz.svc.cluster.local 9001 true >"$WORK/mesh.yaml"
custom ext-authz closed-port-open >"$WORK/custom.yaml"
out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"
wait_for 30 open_ok || fail "failOpen did not let the request through (nothing on the port)"
provider closed-port ext-authz.authz.svc.cluster.local 9001 false >"$WORK/mesh.yaml"
custom ext-authz closed-port >"$WORK/custom.yaml"
out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"
closed() { [ "$(code /headers)" = 403 ]; }
wait_for 30 closed || fail "a provider with nothing on its port, without failOpen, did not deny"
wait_log 10 mesh/waypoint-0 '"GET /headers HTTP/1.1" 403 UAEX ext_authz_error' ||
	fail "the access log does not say ext_authz_error: $(actl local logs mesh/waypoint-0 | tail -2)"
provider down-closed ext-authz-down.authz.svc.cluster.local 9000 false >"$WORK/mesh.yaml"
custom ext-authz down-closed >"$WORK/custom.yaml"
out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"
expect_eq "$(code /headers -H 'x-ext-authz: allow')" 403 "an unreachable provider without failOpen"
expect_eq "$(code /)" 200 "a request no CUSTOM rule matches, with the provider away"
out=$(actl delete -f "$WORK/custom.yaml" 2>&1) || fail "delete: $out"
open_again() { [ "$(code /headers)" = 200 ]; }
wait_for 30 open_again || fail "requests were still checked once the policy was deleted"
pass
