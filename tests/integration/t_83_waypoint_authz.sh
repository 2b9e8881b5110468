#!/usr/bin/env bash
# L7 AuthorizationPolicy at the waypoint on the local cluster, as Istio ambient users write it
# (API_SEMANTICS.md §3, §9: policies reach a waypoint by targetRefs). With the namespace bound to
# its waypoint: DENY GET unless `x-token: admin` on the Service (403 "RBAC: access denied", the
# policy named in the access log, counted with response_flags "-"); ALLOW paths with a DENY
# inside them, and the normalized path judged and forwarded (a /public/../admin cannot slip
# past); allow-nothing on the waypoint's Gateway; a CUSTOM policy failing closed until
# ext_authz is built; and, deleted, every request passing again. The mesh config's
# pathNormalization applies live. UDP through the waypoint, and TCP it passes through, decided
# by their Service's policies as connections (docs/udp.md).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered before the waypoint"
out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"
wp_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready ||
	fail "the waypoint never ran: $(actl waypoint list -n mesh); $(actl local logs mesh/waypoint-0 | tail -5)"
wp_ip=$(pod_ip mesh/waypoint-0)
via_wp() { pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ | grep -q "from=$wp_ip"; }
wait_for 30 via_wp || fail "no answer through the waypoint: $(actl local logs mesh/waypoint-0 | tail -5)"

# code METHOD PATH [curl args...]: the status the client gets.
code() {
	local m=$1 p=$2
	shift 2
	pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 3 --path-as-is \
		-X "$m" "$@" "http://server$p"
}
expect_code() {
	local want=$1
	shift
	expect_eq "$(code "$@")" "$want" "$*"
}

cat >"$WORK/deny-get.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-get
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["GET"]
    when:
    - key: request.headers[x-token]
      notValues: ["admin"]
YAML
out=$(actl apply -f "$WORK/deny-get.yaml" 2>&1) || fail "apply deny-get: $out"
denied_get() { [ "$(code GET /)" = 403 ]; }
wait_for 30 denied_get || fail "DENY GET never applied: $(actl local logs mesh/waypoint-0 | tail -3)"
out=$(pod_exec mesh/client-0 curl -s --max-time 3 http://server/)
expect_eq "$out" "RBAC: access denied" "the body of a denied request"
expect_code 403 GET / -H 'x-token: guest'
expect_code 200 GET / -H 'x-token: admin'
expect_code 200 POST /
# The waypoint's own 403 keeps the client's connection: curl's second request rides it (issue 38
# §2.1; it used to find the connection closed: "Connection 0 seems to be dead").
out=$(pod_exec mesh/client-0 curl -sv --max-time 5 -o /dev/null -o /dev/null http://server/ \
	http://server/ 2>&1)
expect_contains "$out" "Re-using existing connection" "a request after a 403 on its connection"
case $out in *"seems to be dead"*) fail "the 403 closed the connection: $out" ;; esac
wait_log 10 mesh/waypoint-0 'rbac_access_denied_matched_policy\[ns\[mesh\]-policy\[deny-get\]-rule\[0\]\]' ||
	fail "the access log does not name the policy: $(actl local logs mesh/waypoint-0 | tail -2)"
wp_metrics() { pod_exec mesh/waypoint-0 curl -sf --max-time 3 http://127.0.0.1:15020/metrics; }
counted() {
	wp_metrics | grep '^istio_requests_total{reporter="waypoint"' | grep 'response_code="403"' |
		grep 'destination_service="server.mesh.svc.cluster.local"' | grep -q 'response_flags="-"'
}
wait_for 10 counted || fail "403s not counted: $(wp_metrics | grep 'response_code="403"' | head -2)"
# ambitctl check explains it: the waypoint decides, with the policy and rule.
out=$(actl check mesh/client-0 server:80 --method GET --path /) || fail "check: $out"
expect_contains "$out" "L7 at waypoint mesh/waypoint"
expect_contains "$out" "DENY (403) by ns[mesh]-policy[deny-get]-rule[0]"
expect_contains "$out" "from the waypoint (spiffe://cluster.local/ns/mesh/sa/waypoint)"
out=$(actl check mesh/client-0 server:80 --method GET --path / --header x-token=admin) ||
	fail "check: $out"
expect_contains "$out" "decision:          ALLOW"
out=$(actl delete -f "$WORK/deny-get.yaml" 2>&1) || fail "delete deny-get: $out"

# ALLOW /public* for the mesh's client, DENY /public/admin* inside it (Istio's path precedence
# test); paths are judged as normalized, which is also what the server receives.
cat >"$WORK/paths.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-public
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/mesh/sa/client"]
    to:
    - operation:
        paths: ["/public*"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-admin
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/public/admin*", "/admin*"]
YAML
out=$(actl apply -f "$WORK/paths.yaml" 2>&1) || fail "apply paths: $out"
private_denied() { [ "$(code GET /private)" = 403 ]; }
wait_for 30 private_denied || fail "the ALLOW policy never applied"
expect_code 200 GET /public/page
expect_code 200 GET '/public/page?admin=1'
expect_code 403 GET /public/admin
expect_code 403 GET '/public/../admin'
expect_code 403 GET '/public/%2e%2e/public/admin'
expect_code 403 GET '/public/%61dmin'
expect_code 200 GET '/private/../public/ok'
# What the server got is the normalized path.
wait_for 10 bash -c "'$AMBITCTL' local logs mesh/server-0 | grep -q 'GET /public/ok HTTP/1.1'" ||
	fail "the server did not receive the normalized path: $(actl local logs mesh/server-0 | tail -2)"
out=$(actl delete -f "$WORK/paths.yaml" 2>&1) || fail "delete paths: $out"

# allow-nothing on the waypoint itself (its Gateway): every Service it serves is closed.
cat >"$WORK/nothing.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-nothing
  namespace: mesh
spec:
  targetRefs:
  - kind: Gateway
    group: gateway.networking.k8s.io
    name: waypoint
YAML
out=$(actl apply -f "$WORK/nothing.yaml" 2>&1) || fail "apply allow-nothing: $out"
closed() { [ "$(code GET /)" = 403 ]; }
wait_for 30 closed || fail "allow-nothing never applied"
expect_code 403 POST /anything
out=$(actl delete -f "$WORK/nothing.yaml" 2>&1) || fail "delete allow-nothing: $out"
open_again() { [ "$(code GET /)" = 200 ]; }
wait_for 30 open_again || fail "requests did not pass again once the policy was deleted"

# CUSTOM: the external authorizer cannot be asked yet, so what it would judge is denied (UAEX).
cat >"$WORK/custom.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  action: CUSTOM
  provider:
    name: sample-ext-authz-http
  rules:
  - to:
    - operation:
        paths: ["/headers*"]
YAML
out=$(actl apply -f "$WORK/custom.yaml" 2>&1) || fail "apply custom: $out"
custom_closed() { [ "$(code GET /headers)" = 403 ]; }
wait_for 30 custom_closed || fail "the CUSTOM policy never failed closed"
expect_code 200 GET /
wait_log 10 mesh/waypoint-0 '"GET /headers HTTP/1.1" 403 UAEX' ||
	fail "the access log does not say UAEX: $(actl local logs mesh/waypoint-0 | tail -2)"
out=$(actl delete -f "$WORK/custom.yaml" 2>&1) || fail "delete custom: $out"

# The mesh config (ConfigMap istio in istio-system, key mesh): MERGE_SLASHES makes //admin the
# /admin a DENY names; under BASE (the default) it stays //admin.
cat >"$WORK/deny-slash.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-admin
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin*"]
YAML
out=$(actl apply -f "$WORK/deny-slash.yaml" 2>&1) || fail "apply deny-admin: $out"
admin_denied() { [ "$(code GET /admin)" = 403 ]; }
wait_for 30 admin_denied || fail "DENY /admin never applied"
expect_code 200 GET //admin
cat >"$WORK/mesh.yaml" <<'YAML'
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
    accessLogFile: /dev/stdout
    pathNormalization:
      normalization: MERGE_SLASHES
YAML
out=$(actl apply -f "$WORK/mesh.yaml" 2>&1) || fail "apply mesh config: $out"
merged() { [ "$(code GET //admin)" = 403 ]; }
wait_for 30 merged || fail "the mesh config's MERGE_SLASHES never applied"
# A mesh config that is not valid is refused, naming the field; the last good one stays.
sed -i 's/MERGE_SLASHES/SOMETIMES/' "$WORK/mesh.yaml"
if out=$(actl apply -f "$WORK/mesh.yaml" 2>&1); then
	fail "a bad mesh config was applied: $out"
fi
expect_contains "$out" "data.mesh.pathNormalization.normalization"
expect_code 403 GET //admin

# No policy silently unenforced: with the namespace no longer bound to its waypoint, nothing
# serves Service server at L7, so deny-admin (targetRefs server, a DENY on paths) is enforced by
# server's ztunnel, which cannot see paths: it fails closed, denying every connection. analyze
# and check say so; bound again, only /admin is denied.
out=$(actl label namespace mesh istio.io/use-waypoint- 2>&1) || fail "unlabel: $out"
closed() { [ "$(code GET /)" = 000 ]; }
wait_for 30 closed || fail "deny-admin did not fail closed without the waypoint: $(code GET /)"
out=$(actl analyze 2>&1)
expect_contains "$out" "no waypoint serves Service mesh/server, so the ztunnel enforces"
out=$(actl check mesh/client-0 server:80 --method GET --path /public 2>&1)
expect_contains "$out" "mesh/deny-admin"
out=$(actl label namespace mesh istio.io/use-waypoint=waypoint 2>&1) || fail "relabel: $out"
open_again() { [ "$(code GET /)" = 200 ]; }
wait_for 60 open_again || fail "bound again, GET / is still $(code GET /)"
expect_code 403 GET /admin
# UDP through the waypoint (docs/udp.md): an enrolled pod's flow to a UDP Service the waypoint
# serves is left unbalanced by the kernel, carried by its ztunnel as CONNECT-UDP to the waypoint,
# decided there by the Service's AuthorizationPolicies as a connection, and sent on to an
# endpoint as the waypoint's own flow (the echo sees the waypoint). A pod outside the mesh is
# balanced by the kernel straight to an endpoint, as kube-proxy would.
udp_echo_apply 1 || fail "the UDP echo Service not applied"
udp_vip=$(actl services | awk '$1 == "mesh" && $2 == "udp-echo" { print $3; exit }')
[ -n "$udp_vip" ] || fail "no VIP for mesh/udp-echo"
# As the echo writes addresses: an IPv6 one bracketed (an IPv6 cluster's pass).
bracket() { case $1 in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }
udp_ask() { pod_exec "$1" pods/udp-echo.py ask "$udp_vip" 7 "${2:-1}" 2>&1; }
from_wp="src=$(bracket "$udp_vip"):7 pod=mesh/udp-echo-0 from=$(bracket "$wp_ip"):"
udp_via_wp() { udp_ask mesh/client-0 | grep -qF "$from_wp"; }
wait_for 60 udp_via_wp || fail "UDP never answered through the waypoint: $(udp_ask mesh/client-0)"
out=$(udp_ask mesh/client-0 3)
[ "$(grep -cF "$from_wp" <<<"$out")" = 3 ] ||
	fail "3 datagrams through the waypoint, each answered from the VIP: $out"
plain_ip=$(pod_ip plain/client-0)
out=$(udp_ask plain/client-0)
expect_contains "$out" "pod=mesh/udp-echo-0 from=$(bracket "$plain_ip"):" \
	"a pod outside the mesh, balanced by the kernel"
udp_counted() {
	wp_metrics | grep '^istio_tcp_connections_opened_total{reporter="waypoint"' |
		grep 'destination_service="udp-echo.mesh.svc.cluster.local"' |
		grep 'source_principal="spiffe://cluster.local/ns/mesh/sa/client"' | grep -q 'request_protocol="udp"'
}
wait_for 10 udp_counted || fail "the waypoint did not count the UDP flow: $(wp_metrics | grep udp-echo)"
out=$(actl check mesh/client-0 udp-echo:7 --udp 2>&1) || fail "check --udp: $out"
expect_contains "$out" "L4 at waypoint mesh/waypoint" "check --udp: the waypoint decides"
expect_contains "$out" "CONNECT-UDP over HBONE from the waypoint, as its identity" "check --udp: carried"
# The Service's L4 policy at the waypoint: a DENY of the client on port 7. An ALLOW naming a
# method is no rule for a flow (Istio's network RBAC): with it alone, every flow is denied too.
cat >"$WORK/udp-deny.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-udp, namespace: mesh}
spec:
  targetRefs: [{kind: Service, group: "", name: udp-echo}]
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/mesh/sa/client"]}}]
    to: [{operation: {ports: ["7"]}}]
YAML
out=$(actl apply -f "$WORK/udp-deny.yaml" 2>&1) || fail "apply deny-udp: $out"
udp_denied() { udp_ask mesh/client-0 | grep -q timeout; }
wait_for 30 udp_denied || fail "deny-udp never applied: $(udp_ask mesh/client-0)"
wait_log 10 mesh/waypoint-0 'rbac_access_denied_matched_policy\[ns\[mesh\]-policy\[deny-udp\]-rule\[0\]\]' ||
	fail "the access log does not name deny-udp: $(actl local logs mesh/waypoint-0 | tail -2)"
out=$(actl check mesh/client-0 udp-echo:7 --udp 2>&1)
expect_contains "$out" "ns[mesh]-policy[deny-udp]-rule[0]" "check --udp names the DENY at the waypoint"
out=$(actl delete -f "$WORK/udp-deny.yaml" 2>&1) || fail "delete deny-udp: $out"
cat >"$WORK/udp-allow.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-get, namespace: mesh}
spec:
  targetRefs: [{kind: Service, group: "", name: udp-echo}]
  action: ALLOW
  rules:
  - to: [{operation: {methods: ["GET"], ports: ["7"]}}]
YAML
out=$(actl apply -f "$WORK/udp-allow.yaml" 2>&1) || fail "apply allow-get: $out"
none_allowed() { udp_ask mesh/client-0 | grep -q timeout && actl check mesh/client-0 udp-echo:7 --udp 2>&1 | grep -q 'DENY (403) by none'; }
wait_for 30 none_allowed || fail "an ALLOW naming a method let a UDP flow through: $(udp_ask mesh/client-0)"
out=$(actl delete -f "$WORK/udp-allow.yaml" 2>&1) || fail "delete allow-get: $out"
wait_for 30 udp_via_wp || fail "UDP not answered again without the policies: $(udp_ask mesh/client-0)"
log "UDP through the waypoint: carried, counted, decided by its Service's L4 policies"
# TCP the waypoint passes through (a port declared tcp) is decided the same way: the client's
# connection to server-tcp is reset while a DENY of it on the port holds, the log naming it.
actl apply -f - >&2 <<'YAML' || fail "apply server-tcp"
apiVersion: v1
kind: Service
metadata: {name: server-tcp, namespace: mesh}
spec:
  selector: {app: server}
  ports: [{name: tcp-echo, port: 9000, targetPort: 8080}]
YAML
tcp_code() { pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://server-tcp:9000/; }
tcp_ok() { [ "$(tcp_code)" = 200 ]; }
wait_for 30 tcp_ok || fail "server-tcp never answered through the waypoint: $(tcp_code)"
cat >"$WORK/tcp-deny.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-tcp, namespace: mesh}
spec:
  targetRefs: [{kind: Service, group: "", name: server-tcp}]
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/mesh/sa/client"]}}], to: [{operation: {methods: ["GET"]}}]}]
YAML
out=$(actl apply -f "$WORK/tcp-deny.yaml" 2>&1) || fail "apply deny-tcp: $out"
tcp_denied() { [ "$(tcp_code)" = 000 ]; }
wait_for 30 tcp_denied || fail "deny-tcp (methods dropped on a connection) never reset it: $(tcp_code)"
wait_log 10 mesh/waypoint-0 '"- - -" 0 - rbac_access_denied_matched_policy\[ns\[mesh\]-policy\[deny-tcp\]-rule\[0\]\]' ||
	fail "the access log does not name deny-tcp: $(actl local logs mesh/waypoint-0 | tail -2)"
out=$(actl delete -f "$WORK/tcp-deny.yaml" 2>&1) || fail "delete deny-tcp: $out"
wait_for 30 tcp_ok || fail "server-tcp not answered again: $(tcp_code)"
pass
