#!/usr/bin/env bash
# The ingress gateway on the local cluster, as the tutorials use it: `local up` runs
# istio-ingressgateway in istio-system (as Istio's demo profile), Istio's own
# bookinfo-gateway.yaml is applied unchanged, and /productpage answers through the gateway's
# Service (port 80, the pod's 8080) while other paths get 404 (NR), logged and counted as
# Istio's gateway reports (reporter="source"). The gateway reaches productpage over HBONE with
# its own identity: an AuthorizationPolicy admitting only the gateway's service account lets
# the page through the gateway and refuses the client pod going direct. A second Gateway on
# its own hosts (exact and wildcard) and a VirtualService naming it as `ns/name` serve their
# hosts only (Host without port, any case; an exact host's virtual host ends in 404); deleted,
# their routes go. tls.httpsRedirect answers 301 to https. Policy at the gateway by selector:
# ipBlocks on the peer, remoteIpBlocks on X-Forwarded-For once the mesh config trusts a hop,
# and JWT (RequestAuthentication with an inline key set, requestPrincipals required on /api/*:
# no token, a good one, an expired one and one signed by another key).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl jq
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
ISTIO_BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
NET=$ISTIO_BOOKINFO/networking
[ -f "$NET/bookinfo-gateway.yaml" ] || fail "no Istio bookinfo samples in $ISTIO_BOOKINFO"
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT
GWPOD=istio-system/istio-ingressgateway-0

actl apply -f "$REPO/examples/bookinfo-tasks/curl.yaml" >&2 || fail "client pod not applied"
wait_for 30 pod_exec default/curl-0 true || fail "the client pod never ran"

# Through the gateway's Service from a pod: status, then the page.
via_gw() { # PATH [CURL ARGS...]
	local path=$1
	shift
	pod_exec default/curl-0 curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$@" \
		"http://istio-ingressgateway.istio-system${path}"
}
status_is() { [ "$(via_gw "$@" 2>/dev/null)" = "$WANT" ]; }

# Before any Gateway selects it, the gateway has no listener: nothing answers on 80.
out=$(via_gw /productpage 2>&1) && fail "the gateway answered before any Gateway: $out"

actl apply -f "$NET/bookinfo-gateway.yaml" >&2 || fail "bookinfo-gateway.yaml not applied"
WANT=200 wait_for 60 status_is /productpage ||
	fail "/productpage never answered through the gateway: $(via_gw /productpage 2>&1); $(actl local logs $GWPOD | tail -5)"
page=$(pod_exec default/curl-0 curl -sS --max-time 10 \
	http://istio-ingressgateway.istio-system/productpage)
expect_contains "$page" "Book Details" "the page through the gateway"
expect_contains "$page" "Book Reviews" "the page through the gateway"
expect_eq "$(via_gw /api/v1/products)" 200 "/api/v1/products through the gateway"
# From the host, as Istio's tasks reach it: INGRESS_HOST from the Service's
# status.loadBalancer.ingress[0].ip (an address on the machine's LoadBalancer network).
INGRESS_HOST=$(actl get service istio-ingressgateway -n istio-system -o json |
	jq -r '.status.loadBalancer.ingress[0].ip // empty')
[ -n "$INGRESS_HOST" ] || fail "istio-ingressgateway has no status.loadBalancer.ingress[0].ip"
page=$(curl -sS --max-time 10 "http://$(url_host "$INGRESS_HOST")/productpage") ||
	fail "curl http://$INGRESS_HOST/productpage from the host: $page"
expect_contains "$page" "Book Details" "the page from the host through the EXTERNAL-IP"
# bookinfo's productpage here serves no /static: its own 404 comes back through the route.
via_gw /static/x.css >/dev/null
wait_log 10 $GWPOD '"GET /static/x.css HTTP/1.1" 404 - via_upstream' ||
	fail "/static is not routed to productpage: $(actl local logs $GWPOD | tail -2)"
expect_eq "$(via_gw /nothing-here)" 404 "a path no route matches"
wait_log 10 $GWPOD '"GET /nothing-here HTTP/1.1" 404 NR' ||
	fail "the gateway's access log has no NR line: $(actl local logs $GWPOD | tail -2)"
wait_log 10 $GWPOD '"GET /productpage HTTP/1.1" 200 - .*outbound\|9080\|\|productpage\.default\.svc\.cluster\.local' ||
	fail "the gateway's access log has no routed line: $(actl local logs $GWPOD | tail -2)"

# Istio's metrics as its ingress gateway reports them: the gateway is the source.
gw_ip=$(actl local status 2>/dev/null | awk -v p=$GWPOD '$1 == p { print $3; exit }')
[ -n "$gw_ip" ] || fail "no address for $GWPOD: $(actl local status)"
metrics=$(pod_exec default/curl-0 curl -sS --max-time 5 "http://$gw_ip:15020/stats/prometheus")
expect_contains "$metrics" 'istio_requests_total{reporter="source",source_workload="istio-ingressgateway",source_canonical_service="istio-ingressgateway",source_canonical_revision="latest",source_workload_namespace="istio-system",source_principal="spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"' \
	"the gateway's request metric"
expect_contains "$metrics" 'destination_service="productpage.default.svc.cluster.local"' \
	"the gateway's request metric's destination"

# The gateway's own identity reaches productpage: only it may call.
cat >"$WORK/only-gw.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: productpage-from-gateway
  namespace: default
spec:
  selector:
    matchLabels:
      app: productpage
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]
EOF
actl apply -f "$WORK/only-gw.yaml" >&2 || fail "policy not applied"
direct() { pod_exec default/curl-0 curl -sS --max-time 5 -o /dev/null http://productpage:9080/productpage; }
wait_for 30 bash -c "! '$AMBITCTL' local exec --name '$CLUSTER' default/curl-0 -- curl -sS --max-time 5 -o /dev/null http://productpage:9080/productpage" ||
	fail "the client pod still reaches productpage directly"
expect_eq "$(via_gw /productpage)" 200 "the page through the gateway under the policy"
actl delete -f "$WORK/only-gw.yaml" >&2 || fail "policy not deleted"
wait_for 30 direct || fail "direct access never came back"

# A second Gateway (its own host) and a VirtualService in another namespace naming it ns/name.
cat >"$WORK/second.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: details-gateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["details.example.com", "*.wild.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: details-public
  namespace: default
spec:
  hosts: ["details.example.com", "*.wild.example.com"]
  gateways: ["istio-system/details-gateway"]
  http:
  - match:
    - uri: {prefix: /details}
    route:
    - destination: {host: details}
EOF
actl apply -f "$WORK/second.yaml" >&2 || fail "second gateway not applied"
WANT=200 wait_for 30 status_is /details/0 -H 'Host: details.example.com' ||
	fail "details.example.com never routed: $(via_gw /details/0 -H 'Host: details.example.com')"
expect_eq "$(via_gw /details/0 -H 'Host: DETAILS.example.com:80')" 200 "the host without case or port"
expect_eq "$(via_gw /details/0 -H 'Host: a.wild.example.com')" 200 "a wildcard host"
# bookinfo's VirtualService (hosts *) has no /details route: another host falls to it, 404.
expect_eq "$(via_gw /details/0 -H 'Host: other.example.com')" 404 "another host"
# Envoy tries no other virtual host once one took the host: productpage is not routed there.
expect_eq "$(via_gw /productpage -H 'Host: details.example.com')" 404 \
	"a path the exact host's virtual host does not route"
actl delete -f "$WORK/second.yaml" >&2 || fail "second gateway not deleted"
WANT=404 wait_for 30 status_is /details/0 -H 'Host: details.example.com' ||
	fail "the deleted VirtualService still routes"
expect_eq "$(via_gw /productpage)" 200 "bookinfo through the gateway after the delete"

# tls.httpsRedirect: a 301 to https for the server's host, the path and query kept.
cat >"$WORK/redirect.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: redirect-gateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http-redirect, protocol: HTTP}
    hosts: ["secure.example.com"]
    tls: {httpsRedirect: true}
EOF
actl apply -f "$WORK/redirect.yaml" >&2 || fail "redirect gateway not applied"
WANT=301 wait_for 30 status_is /productpage -H 'Host: secure.example.com' ||
	fail "httpsRedirect never applied: $(via_gw /productpage -H 'Host: secure.example.com')"
loc=$(pod_exec default/curl-0 curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' \
	-H 'Host: secure.example.com:80' "http://istio-ingressgateway.istio-system/a/b?x=1")
expect_eq "$loc" "https://secure.example.com/a/b?x=1" "the redirect's location"
expect_eq "$(via_gw /productpage)" 200 "other hosts unaffected by the redirect"

# AuthorizationPolicy at the gateway (selector on its pods, in its namespace): ipBlocks on the
# connection's peer (source.ip), then remoteIpBlocks on the client X-Forwarded-For gives once the mesh
# config trusts one proxy hop (gatewayTopology.numTrustedProxies).
# The peer the gateway sees for the client pod, from the access log's downstream remote
# address: the pod's own (its ztunnel passes plaintext to a pod on from the pod's address).
curl_ip=$(actl local logs $GWPOD | grep '"GET /productpage HTTP/1.1" 200' | tail -1 |
	awk '{ print $(NF - 2) }' | cut -d: -f1)
expect_eq "$curl_ip" "$(pod_ip default/curl-0)" "the client the gateway's log names"
cat >"$WORK/gw-deny.yaml" <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ingress-deny
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: DENY
  rules:
  - from:
    - source:
        ipBlocks: ["$curl_ip/32"]
    to:
    - operation:
        paths: ["/api/*"]
  - from:
    - source:
        remoteIpBlocks: ["203.0.113.0/24"]
EOF
actl apply -f "$WORK/gw-deny.yaml" >&2 || fail "gateway policy not applied"
WANT=403 wait_for 30 status_is /api/v1/products || fail "ipBlocks at the gateway never denied"
body=$(pod_exec default/curl-0 curl -sS --max-time 10 http://istio-ingressgateway.istio-system/api/v1/products)
expect_eq "$body" "RBAC: access denied" "the gateway's 403 body"
wait_log 10 $GWPOD 'rbac_access_denied_matched_policy\[ns\[istio-system\]-policy\[ingress-deny\]-rule\[0\]\]' ||
	fail "the gateway's log does not name the policy: $(actl local logs $GWPOD | tail -1)"
expect_eq "$(via_gw /productpage)" 200 "a path the rule does not name"
# ambitctl check explains it: the gateway decides (the policy and rule), before its route.
out=$(actl check "$curl_ip" istio-system/istio-ingressgateway:80 --path /api/v1/products) ||
	fail "check at the gateway: $out"
expect_contains "$out" "L7 at gateway istio-system/istio-ingressgateway"
expect_contains "$out" "DENY (403) by ns[istio-system]-policy[ingress-deny]-rule[0]"
expect_contains "$out" "port 8080 (Service port 80)"
out=$(actl check "$curl_ip" istio-system/istio-ingressgateway:80 --path /productpage) ||
	fail "check at the gateway: $out"
expect_contains "$out" "decision:          ALLOW"
expect_contains "$out" "-> productpage.default.svc.cluster.local:9080"
expect_contains "$out" "L4 at the destination, from the gateway (spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account)"
# Without a trusted hop the client's X-Forwarded-For is not believed: remote.ip is the peer's.
expect_eq "$(via_gw /productpage -H 'X-Forwarded-For: 203.0.113.7')" 200 "an untrusted XFF"
cat >"$WORK/mesh.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
    defaultConfig:
      gatewayTopology:
        numTrustedProxies: 1
EOF
actl apply -f "$WORK/mesh.yaml" >&2 || fail "mesh config not applied"
WANT=403 wait_for 30 status_is /productpage -H 'X-Forwarded-For: 203.0.113.7' ||
	fail "remoteIpBlocks never denied the forwarded client"
expect_eq "$(via_gw /productpage -H 'X-Forwarded-For: 198.51.100.9')" 200 "another forwarded client"
# A load balancer appends its own line after the client's (HAProxy's `option forwardfor`): the
# lines are one list, so the balancer's entry is the client and the DENY holds (issue 38 §1.1).
expect_eq "$(via_gw /productpage -H 'X-Forwarded-For: 1.2.3.4' -H 'X-Forwarded-For: 203.0.113.9')" \
	403 "the client in a second X-Forwarded-For line"
actl delete -f "$WORK/gw-deny.yaml" -f "$WORK/mesh.yaml" >&2 || fail "policy not deleted"
WANT=200 wait_for 30 status_is /api/v1/products || fail "the deleted policy still denies"

# JWT at the ingress gateway, as Istio's task does it: a RequestAuthentication by selector (the
# key set inline) and an ALLOW policy wanting a request principal on /api/*.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/key.pem" 2>/dev/null ||
	fail "no RSA key"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
modulus=$(openssl rsa -in "$WORK/key.pem" -noout -modulus | cut -d= -f2)
n=$(python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b"=").decode())' "$modulus")
jwt() { # PAYLOAD: a compact RS256 JWS
	local h p sig
	h=$(printf '{"alg":"RS256","kid":"k1","typ":"JWT"}' | b64url)
	p=$(printf '%s' "$1" | b64url)
	sig=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$WORK/key.pem" -binary | b64url)
	printf '%s.%s.%s' "$h" "$p" "$sig"
}
now=$(date +%s)
good=$(jwt "{\"iss\":\"https://issuer.ambit.test\",\"sub\":\"alice\",\"exp\":$((now + 3600))}")
expired=$(jwt "{\"iss\":\"https://issuer.ambit.test\",\"sub\":\"alice\",\"exp\":$((now - 3600))}")
cat >"$WORK/jwt.yaml" <<EOF
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: ingress-jwt
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  jwtRules:
  - issuer: https://issuer.ambit.test
    jwks: '{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","n":"$n","e":"AQAB"}]}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: ALLOW
  rules:
  - from:
    - source:
        requestPrincipals: ["https://issuer.ambit.test/alice"]
    to:
    - operation:
        paths: ["/api/*"]
  - to:
    - operation:
        notPaths: ["/api/*"]
EOF
actl apply -f "$WORK/jwt.yaml" >&2 || fail "JWT policy not applied"
WANT=403 wait_for 30 status_is /api/v1/products || fail "no token was never refused at the gateway"
expect_eq "$(via_gw /api/v1/products -H "Authorization: Bearer $good")" 200 "a good token"
expect_eq "$(via_gw /api/v1/products -H "Authorization: Bearer $expired")" 401 "an expired token"
body=$(pod_exec default/curl-0 curl -sS --max-time 10 -H "Authorization: Bearer $expired" \
	http://istio-ingressgateway.istio-system/api/v1/products)
expect_eq "$body" "Jwt is expired" "the expired token's answer"
# Signed by another key: 401 Jwt verification fails.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/key.pem" 2>/dev/null ||
	fail "no second RSA key"
forged=$(jwt "{\"iss\":\"https://issuer.ambit.test\",\"sub\":\"alice\",\"exp\":$((now + 3600))}")
body=$(pod_exec default/curl-0 curl -sS --max-time 10 -w ' %{http_code}' \
	-H "Authorization: Bearer $forged" http://istio-ingressgateway.istio-system/api/v1/products)
expect_eq "$body" "Jwt verification fails 401" "a token signed by another key"
expect_eq "$(via_gw /productpage)" 200 "a path the policy leaves open, without a token"
actl delete -f "$WORK/jwt.yaml" >&2 || fail "JWT policy not deleted"
pass
