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
. "$(dirname "$0")/extauthz_lib.sh"
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

mesh_waypoint_up

# provider NAME SERVICE PORT FAIL_OPEN [STATUS_ON_ERROR]: the mesh config with that one gRPC
# ext_authz provider.
provider() {
	extauthz_mesh "$1" envoyExtAuthzGrpc "$2" "$3" "timeout: 5s" "failOpen: $4" \
		"statusOnError: \"${5:-403}\""
}
extauthz_server_up '[{name: grpc, port: 9000}, {name: grpc-closed, port: 9001}]' \
	'[{name: grpc, port: 9000}]' "[\"pods/ext_authz_grpc.py\", \"9000\", \"$PB\"]"
wait_log 60 authz/ext-authz-0 'serving Authorization/Check' ||
	fail "the gRPC ext-authz server never ran: $(actl local logs authz/ext-authz-0 | tail -5)"
extauthz_apply sample-ext-authz-grpc ext-authz.authz.svc.cluster.local 9000 false 503

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
# The authorizer saw the method, path, Host, protocol, the client's principal and the fields.
extauthz_checked_only_matched 'check GET /headers host=server protocol=HTTP/1.1 source=[0-9.]+:[0-9]+ principal=spiffe://cluster.local/ns/mesh/sa/[^ ]+ .*x-ext-authz=allow'
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
extauthz_apply down-open ext-authz-down.authz.svc.cluster.local 9000 true
open_ok() { [ "$(code /headers)" = 200 ]; }
wait_for 30 open_ok || fail "failOpen did not let the request through"
extauthz_apply closed-port-open ext-authz.authz.svc.cluster.local 9001 true
wait_for 30 open_ok || fail "failOpen did not let the request through (nothing on the port)"
extauthz_apply closed-port ext-authz.authz.svc.cluster.local 9001 false
closed() { [ "$(code /headers)" = 403 ]; }
wait_for 30 closed || fail "a provider with nothing on its port, without failOpen, did not deny"
wait_log 10 mesh/waypoint-0 '"GET /headers HTTP/1.1" 403 UAEX ext_authz_error' ||
	fail "the access log does not say ext_authz_error: $(actl local logs mesh/waypoint-0 | tail -2)"
extauthz_apply down-closed ext-authz-down.authz.svc.cluster.local 9000 false
expect_eq "$(code /headers -H 'x-ext-authz: allow')" 403 "an unreachable provider without failOpen"
extauthz_delete_custom
pass
