#!/usr/bin/env bash
# CUSTOM AuthorizationPolicy at the waypoint, as Istio's ext-authz task does it: the sample's
# ext-authz logic (pods/ext_authz.py) behind a Service in a mesh namespace no waypoint serves,
# named by the mesh config's extensionProviders (envoyExtAuthzHttp), and a CUSTOM policy on the
# waypoint's Service. A request the policy matches is checked: without `x-ext-authz: allow`
# the client gets the authorizer's 403, its body and its header; with it, the request goes
# through; one the policy does not match is never checked. A provider that cannot be reached
# lets requests through with failOpen, and answers 403 UAEX without.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/extauthz_lib.sh"
need_root; need_bins; need_cmd jq curl python3
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT

mesh_waypoint_up

# provider NAME SERVICE FAIL_OPEN: the mesh config with that one ext_authz provider.
provider() {
	extauthz_mesh "$1" envoyExtAuthzHttp "$2" 8000 "failOpen: $3" \
		'includeRequestHeadersInCheck: ["x-ext-authz"]' \
		'headersToUpstreamOnAllow: ["x-ext-authz-check-result"]' \
		'headersToDownstreamOnDeny: ["x-ext-authz-check-result"]' \
		'headersToDownstreamOnAllow: ["x-ext-authz-check-result"]'
}
extauthz_server_up '[{name: http, port: 8000}]' '[{name: http, port: 8000}]' \
	'["pods/ext_authz.py", "8000"]'
extauthz_apply sample-ext-authz-http ext-authz.authz.svc.cluster.local false

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
# The authorizer saw the method, the path, the Host and the field it asked for, and no other.
extauthz_checked_only_matched 'check GET /headers .*host=server.*x-ext-authz=allow'

# A provider that cannot be reached: failOpen lets requests through, else 403 UAEX.
extauthz_apply down-open ext-authz-down.authz.svc.cluster.local true
open_ok() { [ "$(code /headers)" = 200 ]; }
wait_for 30 open_ok || fail "failOpen did not let the request through"
extauthz_apply down-closed ext-authz-down.authz.svc.cluster.local false
closed() { [ "$(code /headers)" = 403 ]; }
wait_for 30 closed || fail "an unreachable provider without failOpen did not deny"
extauthz_delete_custom
pass
