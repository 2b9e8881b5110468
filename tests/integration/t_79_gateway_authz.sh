#!/usr/bin/env bash
# Istio's authorization tasks on bookinfo through the ingress gateway, from the host (curl to
# `ambitctl local port-forward svc/istio-ingressgateway`, Istio's bookinfo-gateway.yaml
# unchanged), with a waypoint for the namespace that the gateway uses
# (istio.io/ingress-use-waypoint):
# - HTTP authorization: allow-nothing on the waypoint, then per-service viewers (productpage,
#   details, reviews, ratings), the page's sections appearing as each policy is added;
# - explicit deny: DENY GET unless `x-token: admin`, at the gateway itself (selector) and at the
#   waypoint on productpage (targetRefs), the header carried there by the gateway;
# - ALLOW paths with a DENY among them at the gateway (the path normalized, its query aside);
# - external authorization at the gateway (CUSTOM, selector), the sample's ext-authz logic over
#   HTTP (envoyExtAuthzHttp) and over gRPC (envoyExtAuthzGrpc, a real
#   envoy.service.auth.v3.Authorization/Check server), allow and deny.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/extauthz_lib.sh"
need_root; need_bins; need_cmd curl jq python3 protoc
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null ||
	fail "python3-grpcio and python3-protobuf are needed"
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
ISTIO_BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
NET=$ISTIO_BOOKINFO/networking
[ -f "$NET/bookinfo-gateway.yaml" ] || fail "no Istio bookinfo samples in $ISTIO_BOOKINFO"
# The cluster's directory: bookinfo and the ext-authz servers run from it, and pods see it (not
# the rest of /tmp, where a checkout may be), so it is under build/.
WORK=$(mktemp -d "$REPO/build/it-gwauthz-XXXXXX")
cp -r "$REPO/examples/bookinfo/." "$WORK/" && mkdir -p "$WORK/pods" "$WORK/pb" &&
	cp "$LIB_DIR"/manifests/pods/ext_authz*.py "$WORK/pods/" || fail "no copy of bookinfo"
(cd "$REPO/proto" && find . -name '*.proto' ! -path './google/protobuf/*' -printf '%P\0' |
	xargs -0 protoc -I . --python_out="$WORK/pb") || fail "protoc could not compile proto/"
PF_PID=
# lib.sh's EXIT trap (cluster_up arms it again), with this test's port-forward and files.
eval "lib_$(declare -f on_exit)"
on_exit() {
	local rc=${LIB_RC:-$?}
	[ -n "$PF_PID" ] && kill -INT "$PF_PID" 2>/dev/null
	LIB_RC=$rc lib_on_exit
	rm -rf "$WORK"
}
trap on_exit EXIT
CLUSTER_INGRESS=1 cluster_up "$WORK"
GWPOD=istio-system/istio-ingressgateway-0
WPPOD=default/waypoint-0

port=$(free_port)
"$AMBITCTL" local port-forward --name "$CLUSTER" -n istio-system svc/istio-ingressgateway \
	"$port:80" >"$WORK/pf.out" 2>&1 &
PF_PID=$!
# page [CURL ARGS...]: /productpage from the host through the gateway; code PATH [ARGS...]: the
# status of PATH.
page() { curl -sS --max-time 20 "$@" "http://127.0.0.1:$port/productpage"; }
code() {
	local path=$1
	shift
	curl -sS --max-time 20 -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$port$path"
}
status_is() { [ "$(code "$@" 2>/dev/null)" = "$WANT" ]; }
# shows TEXT...: the page (asked with header $H if set) has every TEXT (the last page in $last
# for the failure message).
shows() {
	local t
	last=$(page ${H:+-H "$H"} 2>&1) || return 1
	for t in "$@"; do [[ "$last" == *"$t"* ]] || return 1; done
}
lacks() { [[ "$last" != *"$1"* ]] || fail "the page still shows \"$1\": $last"; }

actl apply -f "$NET/bookinfo-gateway.yaml" -f "$NET/destination-rule-all.yaml" \
	-f "$NET/virtual-service-reviews-v3.yaml" >&2 || fail "the samples were not applied"
WANT=200 wait_for 60 status_is /productpage ||
	fail "/productpage never answered through the gateway: $(cat "$WORK/pf.out"); $(actl local logs $GWPOD | tail -3)"

# The waypoint for the namespace's Services, which the gateway sends its requests to.
out=$(actl waypoint apply -n default --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n default | grep -Eq '^default +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -n default)"
actl label namespace default istio.io/ingress-use-waypoint=true >&2 || fail "label failed"
# (the gateway makes its own x-request-id, as Istio's: the probe is in the query).
via_wp() {
	local id="probe-$RANDOM"
	[ "$(code "/productpage?it=$id")" = 200 ] &&
		actl local logs $WPPOD | grep -q "\"GET /productpage?it=$id HTTP/1.1\" 200 "
}
wait_for 30 via_wp || fail "the gateway does not go through the waypoint: $(actl local logs $WPPOD | tail -3)"
wait_for 30 shows "Book Details" 'color="red"' ||
	fail "the whole page (v3's red stars) never showed through the gateway: $last"

# --- HTTP authorization: allow-nothing, then a viewer per Service.
# policy NAME [TARGET-SERVICE RULES-YAML]: an ALLOW policy in default on the waypoint (no
# target Service: the waypoint's Gateway, every Service it serves) or on one Service.
policy() {
	local ref="{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}"
	[ -n "${2:-}" ] && ref="{kind: Service, group: \"\", name: $2}"
	cat <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: $1
  namespace: default
spec:
  targetRefs: [$ref]
  action: ALLOW
${3:-}
EOF
}
viewer() { # NAME SERVICE [PRINCIPAL]: GET allowed (only from PRINCIPAL's service account)
	local from=
	[ -n "${3:-}" ] && from="
    from:
    - source:
        principals: [\"cluster.local/ns/default/sa/$3\"]"
	policy "$1" "$2" "  rules:
  - to:
    - operation:
        methods: [\"GET\"]$from"
}
policy allow-nothing >"$WORK/allow-nothing.yaml"
viewer productpage-viewer productpage >"$WORK/productpage-viewer.yaml"
viewer details-viewer details bookinfo-productpage >"$WORK/details-viewer.yaml"
viewer reviews-viewer reviews bookinfo-productpage >"$WORK/reviews-viewer.yaml"
viewer ratings-viewer ratings bookinfo-reviews >"$WORK/ratings-viewer.yaml"

actl apply -f "$WORK/allow-nothing.yaml" >&2 || fail "allow-nothing not applied"
WANT=403 wait_for 30 status_is /productpage || fail "allow-nothing never denied the page"
expect_eq "$(page)" "RBAC: access denied" "the page under allow-nothing"
wait_log 10 $WPPOD '"GET /productpage HTTP/1.1" 403 - rbac_access_denied_matched_policy\[none\]' ||
	fail "the waypoint's log has no denial: $(actl local logs $WPPOD | tail -2)"
actl apply -f "$WORK/productpage-viewer.yaml" >&2 || fail "productpage-viewer not applied"
wait_for 30 shows "Error fetching product details" "Error fetching product reviews" ||
	fail "productpage-viewer: not the page without details and reviews: $last"
expect_eq "$(code /login -d username=jason)" 403 "a POST productpage-viewer does not allow"
actl apply -f "$WORK/details-viewer.yaml" >&2 || fail "details-viewer not applied"
wait_for 30 shows "Book Details" "Error fetching product reviews" ||
	fail "details-viewer: the details never appeared: $last"
lacks "Error fetching product details"
actl apply -f "$WORK/reviews-viewer.yaml" >&2 || fail "reviews-viewer not applied"
wait_for 30 shows "Book Details" "Book Reviews" "Ratings service is currently unavailable" ||
	fail "reviews-viewer: the reviews (without ratings) never appeared: $last"
lacks "Error fetching product reviews"
actl apply -f "$WORK/ratings-viewer.yaml" >&2 || fail "ratings-viewer not applied"
wait_for 30 shows "Book Details" "Book Reviews" 'color="red"' ||
	fail "ratings-viewer: the stars never appeared: $last"
lacks "Ratings service is currently unavailable"
# ambitctl check: details allows productpage's identity only.
out=$(actl check default/productpage-v1-0 default/details:9080 --path /details/0)
expect_contains "$out" "decision:          ALLOW" "check: productpage to details"
out=$(actl check default/reviews-v3-0 default/details:9080 --path /details/0)
expect_contains "$out" "DENY (403)" "check: reviews to details"
actl delete -f "$WORK/allow-nothing.yaml" -f "$WORK/productpage-viewer.yaml" \
	-f "$WORK/details-viewer.yaml" -f "$WORK/reviews-viewer.yaml" \
	-f "$WORK/ratings-viewer.yaml" >&2 || fail "the viewers were not deleted"
WANT=302 wait_for 30 status_is /login -d username=jason || fail "the deleted policies still deny"

# --- Explicit deny: GET denied unless x-token: admin, first at the gateway (the 403 is its
# own), then at the waypoint on productpage (the gateway passes the header on).
deny_get() { # NAMESPACE SELECTOR-OR-TARGETREFS-YAML
	cat <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-method-get
  namespace: $1
spec:
$2
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["GET"]
    when:
    - key: request.headers[x-token]
      notValues: ["admin"]
EOF
}
deny_get istio-system '  selector: {matchLabels: {istio: ingressgateway}}' >"$WORK/deny-gw.yaml"
deny_get default '  targetRefs: [{kind: Service, group: "", name: productpage}]' >"$WORK/deny-wp.yaml"
for where in gw wp; do
	pod=$GWPOD
	[ $where = wp ] && pod=$WPPOD
	out=$(actl apply -f "$WORK/deny-$where.yaml" 2>&1) || fail "deny-method-get ($where): $out"
	# The selector finds the gateway's pod (ambitctl's, no Deployment object).
	expect_not_contains "$out" "IST0127" "apply deny-method-get ($where)"
	WANT=403 wait_for 30 status_is /productpage || fail "deny-method-get ($where) never denied"
	wait_log 10 $pod 'rbac_access_denied_matched_policy\[ns\[[a-z-]*\]-policy\[deny-method-get\]-rule\[0\]\]' ||
		fail "the denial ($where) is not logged by $pod: $(actl local logs $pod | tail -2)"
	expect_eq "$(code /productpage -H 'x-token: guest')" 403 "GET with x-token: guest ($where)"
	expect_eq "$(code /productpage -H 'x-token: admin')" 200 "GET with x-token: admin ($where)"
	H='x-token: admin' wait_for 30 shows "Book Details" || fail "the page for admin ($where): $last"
	expect_eq "$(code /login -d username=jason)" 302 "a POST ($where)"
	actl delete -f "$WORK/deny-$where.yaml" >&2 || fail "deny-method-get ($where) not deleted"
	WANT=200 wait_for 30 status_is /productpage || fail "the deleted deny ($where) still denies"
done

# --- ALLOW paths with a DENY inside them, at the gateway (Istio's path precedence): the DENY
# wins on the path as normalized and without its query; what no ALLOW names is denied.
cat >"$WORK/paths.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-paths
  namespace: istio-system
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
  - to:
    - operation:
        paths: ["/productpage", "/api/v1/products*"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-product-1
  namespace: istio-system
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/api/v1/products/1*"]
EOF
actl apply -f "$WORK/paths.yaml" >&2 || fail "the path policies were not applied"
WANT=403 wait_for 30 status_is /api/v1/products/1 || fail "the DENY path never denied"
expect_eq "$(code '/api/v1/products/1?x=/api/v1/products/0')" 403 "the DENY path with a query"
expect_eq "$(code /api/v1/products/0/../1 --path-as-is)" 403 "the DENY path after normalization"
expect_eq "$(code /api/v1/products/0)" 200 "a path the ALLOW names"
expect_eq "$(code /productpage)" 200 "/productpage, allowed"
expect_eq "$(code /static/x.css)" 403 "a path no ALLOW names"
wait_log 10 $GWPOD '"GET /api/v1/products/1 HTTP/1.1" 403 - rbac_access_denied_matched_policy\[ns\[istio-system\]-policy\[deny-product-1\]-rule\[0\]\]' ||
	fail "the gateway's log does not name the DENY: $(actl local logs $GWPOD | tail -2)"
actl delete -f "$WORK/paths.yaml" >&2 || fail "the path policies were not deleted"
WANT=200 wait_for 30 status_is /api/v1/products/1 || fail "the deleted DENY still denies"

# --- External authorization at the gateway: the sample's ext-authz over HTTP (8000), and over
# gRPC (a second Deployment, 9000), named by the mesh config; the CUSTOM policy checks
# /productpage only.
extauthz_server_up '[{name: http, port: 8000}]' '[{name: http, port: 8000}]' \
	'["pods/ext_authz.py", "8000"]'
actl apply -f - >&2 <<YAML || fail "the gRPC ext-authz server was not applied"
apiVersion: v1
kind: Service
metadata: {name: ext-authz-grpc, namespace: authz}
spec:
  selector: {app: ext-authz-grpc}
  ports: [{name: grpc, port: 9000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ext-authz-grpc, namespace: authz}
spec:
  replicas: 1
  selector: {matchLabels: {app: ext-authz-grpc}}
  template:
    metadata: {labels: {app: ext-authz-grpc}}
    spec:
      containers:
      - name: ext-authz
        command: ["pods/ext_authz_grpc.py", "9000", "$WORK/pb"]
YAML
wait_log 60 authz/ext-authz-grpc-0 'serving Authorization/Check' ||
	fail "the gRPC ext-authz server never ran: $(actl local logs authz/ext-authz-grpc-0 | tail -5)"
custom() { # PROVIDER
	cat <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: CUSTOM
  provider:
    name: $1
  rules:
  - to:
    - operation:
        paths: ["/productpage"]
EOF
}
extauthz_mesh sample-ext-authz-http envoyExtAuthzHttp ext-authz.authz.svc.cluster.local 8000 \
	'includeRequestHeadersInCheck: ["x-ext-authz"]' \
	'headersToDownstreamOnDeny: ["x-ext-authz-check-result"]' >"$WORK/mesh-http.yaml"
extauthz_mesh sample-ext-authz-grpc envoyExtAuthzGrpc ext-authz-grpc.authz.svc.cluster.local 9000 \
	'timeout: 5s' >"$WORK/mesh-grpc.yaml"
for kind in http grpc; do
	custom sample-ext-authz-$kind >"$WORK/custom.yaml"
	out=$(actl apply -f "$WORK/mesh-$kind.yaml" -f "$WORK/custom.yaml" 2>&1) ||
		fail "apply ($kind): $out"
	WANT=403 wait_for 60 status_is /productpage ||
		fail "the CUSTOM policy ($kind) never asked: $(page -i | head -5)"
	out=$(page -i)
	expect_contains "$out" "denied by ext_authz for not found header" "the denial ($kind)"
	expect_contains "$out" "x-ext-authz-check-result: denied" "the denial's header ($kind)"
	wait_log 10 $GWPOD '"GET /productpage HTTP/1.1" 403 UAEX ext_authz_denied' ||
		fail "the gateway's log does not say UAEX ($kind): $(actl local logs $GWPOD | tail -2)"
	H='x-ext-authz: allow' wait_for 30 shows "Book Details" ||
		fail "the authorizer ($kind) did not allow the page: $last"
	expect_eq "$(code /api/v1/products)" 200 "a path the CUSTOM rule does not name ($kind)"
done
wait_log 10 authz/ext-authz-0 'check GET /productpage .*x-ext-authz=allow' ||
	fail "the HTTP authorizer's checks: $(actl local logs authz/ext-authz-0 | tail -3)"
wait_log 10 authz/ext-authz-grpc-0 'check GET /productpage host=127\.0\.0\.1:[0-9]+ protocol=HTTP/1\.1 .*x-ext-authz=allow' ||
	fail "the gRPC authorizer's checks: $(actl local logs authz/ext-authz-grpc-0 | tail -3)"
for p in authz/ext-authz-0 authz/ext-authz-grpc-0; do
	if actl local logs $p | grep -q 'check GET /api'; then
		fail "a path the CUSTOM rule does not name was checked by $p"
	fi
done
actl delete -f "$WORK/custom.yaml" >&2 || fail "the CUSTOM policy was not deleted"
WANT=200 wait_for 30 status_is /productpage || fail "the deleted CUSTOM policy still checks"
pass
