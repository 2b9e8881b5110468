#!/usr/bin/env bash
# Gateway API ingress, as Istio's bookinfo task does it with `gatewayClassName: istio`: Istio's
# own gateway-api/bookinfo-gateway.yaml applied unchanged makes the Gateway's deployment (pod
# bookinfo-gateway-istio-0, labelled with the Gateway's name, its own identity) and its Service
# bookinfo-gateway-istio (port 80, type LoadBalancer; ClusterIP once the Gateway is annotated
# networking.istio.io/service-type: ClusterIP), as Istio's deployment controller does.
# From the host through `ambitctl local port-forward svc/bookinfo-gateway-istio 8080:80`,
# /productpage answers and paths the HTTPRoute does not match get 404 (NR); the gateway reaches
# productpage over HBONE as spiffe://cluster.local/ns/default/sa/bookinfo-gateway-istio, which
# an L4 policy at productpage sees. `ambitctl get gateway -o yaml` shows the status users read
# (Accepted, Programmed, each listener's attachedRoutes and conditions), and the HTTPRoute's
# parent status. An HTTPS listener with a certificateRefs Secret serves its certificate by SNI;
# a route in a namespace allowedRoutes leaves out is not attached (its status says why); a
# certificate of another namespace is refused until its ReferenceGrant allows it.
# Deleting the Gateway removes its pod and Service.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl openssl jq
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
ISTIO_BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
GWAPI=$ISTIO_BOOKINFO/gateway-api
[ -f "$GWAPI/bookinfo-gateway.yaml" ] || fail "no Istio bookinfo samples in $ISTIO_BOOKINFO"
cluster_up "$REPO/examples/bookinfo"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
PF_PID=
PF2_PID=
trap '[ -n "$PF_PID" ] && kill -INT "$PF_PID" 2>/dev/null; [ -n "$PF2_PID" ] && kill -INT "$PF2_PID" 2>/dev/null; rm -rf "$WORK"; on_exit' EXIT
GWPOD=default/bookinfo-gateway-istio-0

actl apply -f "$GWAPI/bookinfo-gateway.yaml" >&2 || fail "gateway-api/bookinfo-gateway.yaml not applied"
wait_for 30 pod_exec $GWPOD true || fail "the Gateway's deployment never ran: $(actl local status)"
port=$(free_port)
"$AMBITCTL" local port-forward --name "$CLUSTER" svc/bookinfo-gateway-istio "$port:80" \
	>"$WORK/pf.out" 2>&1 &
PF_PID=$!
host_get() { # PATH: the status code from the host
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://localhost:$port$1"
}
status_is() { [ "$(host_get "$1" 2>/dev/null)" = "$WANT" ]; }
WANT=200 wait_for 60 status_is /productpage ||
	fail "/productpage never answered through the Gateway: $(host_get /productpage 2>&1); $(cat "$WORK/pf.out"); $(actl local logs $GWPOD | tail -5)"
page=$(curl -sS --max-time 10 "http://localhost:$port/productpage")
expect_contains "$page" "Book Details" "the page through the Gateway API gateway"
expect_eq "$(host_get /api/v1/products)" 200 "/api/v1/products (PathPrefix)"
# As Istio's getting-started reaches it: INGRESS_HOST from the Gateway's status.addresses, the
# address of its LoadBalancer Service (type IPAddress), which the host reaches.
INGRESS_HOST=$(actl get gateway bookinfo-gateway -o json | jq -r '.status.addresses[0].value // empty')
expect_eq "$(actl get gateway bookinfo-gateway -o json | jq -r '.status.addresses[0].type')" \
	IPAddress "the Gateway's address type"
expect_eq "$INGRESS_HOST" \
	"$(actl get svc bookinfo-gateway-istio -o json | jq -r '.status.loadBalancer.ingress[0].ip')" \
	"the Gateway's address is its Service's EXTERNAL-IP"
page=$(curl -sS --max-time 10 "http://$(url_host "$INGRESS_HOST")/productpage") ||
	fail "curl http://$INGRESS_HOST/productpage: $page"
expect_contains "$page" "Book Details" "the page at the Gateway's address"
expect_eq "$(host_get /productpage/x)" 404 "an Exact path with more after it"
wait_log 10 $GWPOD '"GET /productpage/x HTTP/1.1" 404 NR' ||
	fail "the gateway's access log has no NR line: $(actl local logs $GWPOD | tail -2)"
wait_log 10 $GWPOD '"GET /productpage HTTP/1.1" 200 - .*outbound\|9080\|\|productpage\.default\.svc\.cluster\.local' ||
	fail "the gateway's access log has no routed line: $(actl local logs $GWPOD | tail -2)"

# The gateway's own identity reaches productpage.
cat >"$WORK/only-gw.yaml" <<'YAML'
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
        principals: ["cluster.local/ns/default/sa/bookinfo-gateway-istio"]
YAML
actl apply -f "$WORK/only-gw.yaml" >&2 || fail "policy not applied"
actl apply -f "$REPO/examples/bookinfo-tasks/curl.yaml" >&2 || fail "client pod not applied"
wait_for 30 bash -c "! '$AMBITCTL' local exec --name '$CLUSTER' default/curl-0 -- curl -sS --max-time 5 -o /dev/null http://productpage:9080/productpage" ||
	fail "the client pod still reaches productpage directly"
expect_eq "$(host_get /productpage)" 200 "the page through the gateway under the policy"
actl delete -f "$WORK/only-gw.yaml" >&2 || fail "policy not deleted"

# An HTTPS listener with a certificateRefs Secret, a route on its hostname, and a route from a
# namespace the listener's allowedRoutes (Same) leaves out.
cd "$WORK" || fail "no work directory"
openssl req -x509 -sha256 -nodes -days 1 -newkey rsa:2048 -subj '/CN=example.com' \
	-keyout ca.key -out ca.crt 2>/dev/null || fail "openssl: root"
openssl req -nodes -newkey rsa:2048 -subj "/CN=bookinfo.example.com" -keyout gw.key \
	-out gw.csr 2>/dev/null &&
	openssl x509 -req -sha256 -days 1 -CA ca.crt -CAkey ca.key -set_serial 77 -in gw.csr \
		-out gw.crt -extfile <(printf 'subjectAltName=DNS:bookinfo.example.com\n') 2>/dev/null ||
	fail "openssl: server certificate"
actl create secret tls gw-credential --cert gw.crt --key gw.key >&2 || fail "secret not created"
cat >"$WORK/https.yaml" <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bookinfo-gateway
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
  - name: https
    port: 443
    protocol: HTTPS
    hostname: bookinfo.example.com
    tls:
      certificateRefs:
      - name: gw-credential
---
apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: elsewhere
  namespace: other
spec:
  parentRefs:
  - name: bookinfo-gateway
    namespace: default
  rules:
  - matches:
    - path: {type: PathPrefix, value: /elsewhere}
    backendRefs:
    - name: productpage
      namespace: default
      port: 9080
YAML
actl apply -f "$WORK/https.yaml" >&2 || fail "the HTTPS listener not applied"
port2=$(free_port)
"$AMBITCTL" local port-forward --name "$CLUSTER" svc/bookinfo-gateway-istio "$port2:443" \
	>"$WORK/pf2.out" 2>&1 &
PF2_PID=$!
tls_get() {
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' --cacert "$WORK/ca.crt" \
		--resolve "bookinfo.example.com:$port2:127.0.0.1" "https://bookinfo.example.com:$port2$1"
}
tls_ok() { [ "$(tls_get /productpage 2>/dev/null)" = 200 ]; }
wait_for 60 tls_ok || fail "the HTTPS listener never served: $(tls_get /productpage 2>&1); $(cat "$WORK/pf2.out")"
serial=$(openssl s_client -connect "127.0.0.1:$port2" -servername bookinfo.example.com </dev/null 2>/dev/null |
	openssl x509 -noout -serial 2>/dev/null)
expect_eq "$serial" "serial=4D" "the listener's certificate"
# On --kube (AMBIT_LOCAL_KUBE=1) the agent reads no Secret of default: gw-credential came from the
# CA, which serves a gateway pod of the agent's node the certificates its Gateway names.
expect_eq "$(host_get /elsewhere)" 404 "a route of a namespace allowedRoutes leaves out"

# The status users read.
y=$(actl get gateway bookinfo-gateway -o yaml) || fail "get gateway failed: $y"
expect_contains "$y" "gatewayClassName: istio" "the Gateway as applied"
for c in Accepted Programmed; do
	echo "$y" | grep -A3 "type: $c" | grep -q 'status: "True"' ||
		fail "the Gateway's $c condition is not True: $y"
done
expect_contains "$y" "attachedRoutes: 1" "the http listener's attached route"
expect_contains "$y" "value: $INGRESS_HOST" "the Gateway's address"
# Its Service: LoadBalancer, until the Gateway is annotated networking.istio.io/service-type:
# ClusterIP, as Istio's ambient tutorial annotates it; still reached through it.
svc_type() { actl get svc bookinfo-gateway-istio -o json | jq -r .spec.type; }
expect_eq "$(svc_type)" LoadBalancer "the Gateway's Service type"
sed 's|^  name: bookinfo-gateway$|&\n  annotations: {networking.istio.io/service-type: ClusterIP}|' \
	"$GWAPI/bookinfo-gateway.yaml" >"$WORK/gw-clusterip.yaml"
grep -q 'service-type: ClusterIP' "$WORK/gw-clusterip.yaml" || fail "the annotated copy has no annotation"
actl apply -f "$WORK/gw-clusterip.yaml" >&2 || fail "the annotated Gateway not applied"
is_clusterip() { [ "$(svc_type)" = ClusterIP ]; }
wait_for 20 is_clusterip || fail "the annotated Gateway's Service is $(svc_type), not ClusterIP"
# A ClusterIP Service has no balancer address: the Gateway's address is its hostname again.
gw_addr() { actl get gateway bookinfo-gateway -o json | jq -r '.status.addresses[0].type + " " + .status.addresses[0].value'; }
wait_for 20 bash -c "[ \"\$(AMBIT_CLUSTER=$CLUSTER '$AMBITCTL' get gateway bookinfo-gateway -o json | jq -r '.status.addresses[0].value')\" = bookinfo-gateway-istio.default.svc.cluster.local ]" ||
	fail "the ClusterIP Gateway's address: $(gw_addr)"
expect_eq "$(gw_addr)" "Hostname bookinfo-gateway-istio.default.svc.cluster.local" "the ClusterIP Gateway's address"
WANT=200 wait_for 30 status_is /productpage || fail "/productpage through the ClusterIP Service"
r=$(actl get httproute elsewhere -n other -o yaml) || fail "get httproute failed: $r"
expect_contains "$r" "reason: NotAllowedByListeners" "the refused route's parent status"
r=$(actl get httproute bookinfo -o yaml) || fail "get httproute failed: $r"
expect_contains "$r" "reason: Accepted" "the bookinfo route's parent status"
expect_contains "$r" "controllerName: istio.io/gateway-controller" "the route status' controller"

# A certificate in another namespace: refused (RefNotPermitted, the listener not served) until
# that namespace's ReferenceGrant lets the Gateway's namespace refer to it.
openssl req -nodes -newkey rsa:2048 -subj "/CN=bookinfo.example.com" -keyout gw2.key \
	-out gw2.csr 2>/dev/null &&
	openssl x509 -req -sha256 -days 1 -CA ca.crt -CAkey ca.key -set_serial 78 -in gw2.csr \
		-out gw2.crt -extfile <(printf 'subjectAltName=DNS:bookinfo.example.com\n') 2>/dev/null ||
	fail "openssl: second server certificate"
actl create secret tls gw-credential2 -n other --cert gw2.crt --key gw2.key >&2 ||
	fail "secret in other not created"
sed -i 's/      - name: gw-credential$/      - {name: gw-credential2, namespace: other}/' "$WORK/https.yaml"
actl apply -f "$WORK/https.yaml" >&2 || fail "the cross-namespace certificateRef not applied"
refused() { actl get gateway bookinfo-gateway -o yaml | grep -q 'reason: RefNotPermitted'; }
wait_for 30 refused || fail "the cross-namespace certificateRef is not refused: $(actl get gateway bookinfo-gateway -o yaml)"
cat >"$WORK/grant.yaml" <<'YAML'
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: gateway-certs
  namespace: other
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: Gateway
    namespace: default
  to:
  - group: ""
    kind: Secret
YAML
actl apply -f "$WORK/grant.yaml" >&2 || fail "ReferenceGrant not applied"
serial_is() {
	[ "$(openssl s_client -connect "127.0.0.1:$port2" -servername bookinfo.example.com </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null)" = "$1" ]
}
wait_for 30 serial_is "serial=4E" || fail "the granted certificate is not served"
tls_ok || fail "no page with the granted certificate"
expect_not_contains "$(actl get gateway bookinfo-gateway -o yaml)" "RefNotPermitted"

# Deleted, the Gateway's deployment and Service go.
kill -INT "$PF_PID" "$PF2_PID" 2>/dev/null
wait "$PF_PID" "$PF2_PID" 2>/dev/null
PF_PID=
PF2_PID=
actl delete -f "$WORK/https.yaml" >&2 || fail "the Gateway not deleted"
gone() { ! actl local status 2>/dev/null | grep -q bookinfo-gateway-istio; }
wait_for 30 gone || fail "the Gateway's pod stayed: $(actl local status)"
[ -z "$(find "/run/ambit/$CLUSTER/state" -path '*Service*' -name 'bookinfo-gateway-istio.yaml' 2>/dev/null)" ] ||
	fail "the Gateway's Service stayed in the store"
pass
