#!/usr/bin/env bash
# TLS passthrough and TCP at the ingress gateway, as Istio's "Ingress Gateway without TLS
# Termination" and "TCP Traffic Shifting" tasks do it: a TLS server in the mesh (openssl
# s_server, its own certificate for nginx.example.com from a CA made with openssl), a Gateway
# server on 443 (protocol HTTPS, tls PASSTHROUGH) and a VirtualService tls route with sniHosts.
# From the host through `ambitctl local port-forward` to the gateway Service's 443, curl with
# the CA and --resolve gets the server's page, and the certificate served is the server's own
# (the gateway terminates nothing); a name no route lists is closed. A TCP server (31400) and a
# VirtualService tcp route reach an echo server; an AuthorizationPolicy at the echo server
# denying the gateway's identity refuses the relayed connection (the gateway connects with its
# own identity over HBONE). The access log names the SNI and the route; istio_tcp_* count the
# connections as the gateway reports them. analyze no longer reports either server. The same
# through a Gateway API Gateway of class istio: a Passthrough TLS listener with a TLSRoute, a
# TCP listener with a TCPRoute, and their status.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl openssl python3
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
# The manifests directory: the pods read the server's certificate from it (their /tmp is
# their own, so it is not under /tmp).
WORK=$(mktemp -d "$REPO/build/it-passthrough-XXXXXX")
PF_PIDS=
# lib.sh's EXIT trap (cluster_up arms it again), with this test's port-forwards and files.
eval "lib_$(declare -f on_exit)"
on_exit() {
	local rc=${LIB_RC:-$?} p
	for p in $PF_PIDS; do kill -INT "$p" 2>/dev/null; done
	LIB_RC=$rc lib_on_exit
	rm -rf "$WORK"
}
trap on_exit EXIT
GWPOD=istio-system/istio-ingressgateway-0
cd "$WORK" || fail "no work directory"

# The task's certificates: a root, and nginx.example.com's (serial 0x2A) signed by it.
openssl req -x509 -sha256 -nodes -days 1 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' \
	-keyout example.com.key -out example.com.crt 2>/dev/null || fail "openssl: root"
openssl req -nodes -newkey rsa:2048 -subj "/CN=nginx.example.com/O=some organization" \
	-keyout nginx.key -out nginx.csr 2>/dev/null &&
	openssl x509 -req -sha256 -days 1 -CA example.com.crt -CAkey example.com.key -set_serial 42 \
		-in nginx.csr -out nginx.crt \
		-extfile <(printf 'subjectAltName=DNS:nginx.example.com\n') 2>/dev/null ||
	fail "openssl: nginx"
chmod 644 nginx.key
cp "$REPO/examples/bookinfo/namespace.yaml" .
cat >apps.yaml <<YAML
apiVersion: v1
kind: Service
metadata: {name: my-nginx, namespace: default, labels: {run: my-nginx}}
spec:
  selector: {run: my-nginx}
  ports: [{name: https, port: 443, targetPort: 8443, protocol: TCP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: my-nginx, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {run: my-nginx}}
  template:
    metadata: {labels: {run: my-nginx}}
    spec:
      containers:
      - name: nginx
        command: [openssl, s_server, -quiet, -accept, "8443", -cert, $WORK/nginx.crt,
                  -key, $WORK/nginx.key, -www]
        ports: [{containerPort: 8443}]
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: default, labels: {app: tcp-echo}}
spec:
  selector: {app: tcp-echo}
  ports: [{name: tcp, port: 9000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tcp-echo, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: tcp-echo}}
  template:
    metadata: {labels: {app: tcp-echo}}
    spec:
      containers:
      - name: tcp-echo
        command: [python3, -c, "import socketserver as s\nclass H(s.StreamRequestHandler):\n def handle(self):\n  for l in self.rfile: self.wfile.write(b'hello '+l)\ns.ThreadingTCPServer.allow_reuse_address=True\ns.ThreadingTCPServer(('0.0.0.0',9000),H).serve_forever()"]
        ports: [{containerPort: 9000}]
YAML
cat >gw.yaml <<'YAML'
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: PASSTHROUGH}
    hosts: [nginx.example.com]
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx, namespace: default}
spec:
  hosts: [nginx.example.com]
  gateways: [mygateway]
  tls:
  - match: [{port: 443, sniHosts: [nginx.example.com]}]
    route: [{destination: {host: my-nginx, port: {number: 443}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo, namespace: default}
spec:
  hosts: ['*']
  gateways: [mygateway]
  tcp:
  - match: [{port: 31400}]
    route: [{destination: {host: tcp-echo, port: {number: 9000}}}]
YAML
CLUSTER_INGRESS=1 cluster_up "$WORK"
out=$(actl analyze -f gw.yaml 2>&1)
expect_not_contains "$out" "not enforced yet" "analyze on PASSTHROUGH and TCP servers"
expect_not_contains "$out" "not served" "analyze on PASSTHROUGH and TCP servers"
port=$(free_port)
tport=$(free_port)
mport=$(free_port)
"$AMBITCTL" local port-forward --name "$CLUSTER" -n istio-system svc/istio-ingressgateway \
	"$port:443" >pf.out 2>&1 &
PF_PIDS=$!
# 31400 through the gateway Service's tcp port, as `kubectl port-forward svc/istio-ingressgateway
# 31401:31400` reaches it in Istio's tcp-echo task, and its status-port 15021 to the pod's
# 15021, where it answers readiness as Envoy does; 15020 through the pod (no Service port).
sport=$(free_port)
"$AMBITCTL" local port-forward --name "$CLUSTER" -n istio-system svc/istio-ingressgateway \
	"$tport:31400" "$sport:15021" >pf2.out 2>&1 &
PF_PIDS="$PF_PIDS $!"
"$AMBITCTL" local port-forward --name "$CLUSTER" -n istio-system pod/istio-ingressgateway-0 \
	"$mport:15020" >pf4.out 2>&1 &
PF_PIDS="$PF_PIDS $!"
actl apply -f gw.yaml >&2 || fail "Gateway not applied"

# page HOST: what https://HOST/ answers through the gateway's 443 (curl trusts only the CA).
page() {
	curl -sS --max-time 10 --cacert "$WORK/example.com.crt" --resolve "$1:$port:127.0.0.1" \
		"https://$1:$port/"
}
ok() { page nginx.example.com 2>/dev/null | grep -q 's_server'; }
wait_for 60 ok ||
	fail "no page through the passthrough: $(page nginx.example.com 2>&1); $(cat pf.out); $(actl local logs $GWPOD | tail -5)"
wait_log 10 $GWPOD 'listening on port 8443 .*TLS passthrough' ||
	fail "the gateway's log has no passthrough listener"
# The certificate is the server's own (serial 42), not one of the gateway's.
serial=$(openssl s_client -connect "127.0.0.1:$port" -servername nginx.example.com </dev/null \
	2>/dev/null | openssl x509 -noout -serial)
expect_eq "$serial" "serial=2A" "the certificate served for nginx.example.com"
# A name no route lists: no filter chain, the connection is closed.
out=$(curl -sS --max-time 10 -k --resolve "other.example.com:$port:127.0.0.1" \
	"https://other.example.com:$port/" 2>&1) && fail "an unknown SNI got an answer: $out"
# Logged as Envoy's TCP proxy logs, with the SNI and the route.
wait_log 10 $GWPOD '"- - -" 0 - .* nginx\.example\.com VirtualService default/nginx tls\[0\]' ||
	fail "no access-log line for the passthrough: $(actl local logs $GWPOD | tail -5)"
wait_log 10 $GWPOD '"- - -" 0 NR .* other\.example\.com' ||
	fail "no NR access-log line for the unknown SNI: $(actl local logs $GWPOD | tail -5)"

ready_via_svc() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$sport/healthz/ready")" = 200 ]; }
wait_for 30 ready_via_svc || fail "no readiness through the Service's status-port 15021: $(cat pf2.out)"

# TCP: the echo server through 31400.
echo_via() {
	python3 - "$tport" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"world\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
sys.stdout.write(data.decode())
PY
}
tcp_ok() { [ "$(echo_via 2>/dev/null)" = "hello world" ]; }
wait_for 60 tcp_ok || fail "no echo through the TCP server: $(echo_via 2>&1); $(cat pf2.out)"
metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$mport/stats/prometheus")
expect_contains "$metrics" 'istio_tcp_connections_opened_total{reporter="source",source_workload="istio-ingressgateway"' \
	"the gateway's TCP metrics"
expect_contains "$metrics" 'destination_service="tcp-echo.default.svc.cluster.local"' \
	"the TCP metrics' destination"
expect_contains "$metrics" 'destination_service="my-nginx.default.svc.cluster.local"' \
	"the passthrough's TCP metrics"

# L4 policy at the echo server sees the gateway's identity: denying it refuses the relay.
cat >deny-gw.yaml <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-gateway, namespace: default}
spec:
  selector: {matchLabels: {app: tcp-echo}}
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]
YAML
actl apply -f deny-gw.yaml >&2 || fail "policy not applied"
wait_for 30 bash -c "! [ \"\$(python3 -c 'import socket;s=socket.create_connection((\"127.0.0.1\",$tport),timeout=5);s.sendall(b\"world\\n\");s.shutdown(socket.SHUT_WR);print(s.recv(100).decode().strip())' 2>/dev/null)\" = 'hello world' ]" ||
	fail "the gateway's identity denied at the echo server still gets through"
ok || fail "the passthrough stopped under a policy on another workload"
actl delete -f deny-gw.yaml >&2 || fail "policy not deleted"
wait_for 30 tcp_ok || fail "the echo never came back after the policy went"

# The Gateway API's way: a Gateway of class istio with a Passthrough TLS listener and a TCP
# listener, a TLSRoute by SNI and a TCPRoute, through its own deployment's Service.
cat >gwapi.yaml <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: default}
spec:
  gatewayClassName: istio
  listeners:
  - name: tls
    port: 8443
    protocol: TLS
    hostname: "*.example.com"
    tls: {mode: Passthrough}
  - {name: tcp, port: 9100, protocol: TCP}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: nginx, namespace: default}
spec:
  parentRefs: [{name: edge, sectionName: tls}]
  hostnames: [nginx.example.com]
  rules: [{backendRefs: [{name: my-nginx, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: echo, namespace: default}
spec:
  parentRefs: [{name: edge, sectionName: tcp}]
  rules: [{backendRefs: [{name: tcp-echo, port: 9000}]}]
YAML
actl apply -f gwapi.yaml >&2 || fail "the Gateway API objects not applied"
wait_for 30 pod_exec default/edge-istio-0 true || fail "the Gateway's deployment never ran"
gport=$(free_port)
gtport=$(free_port)
"$AMBITCTL" local port-forward --name "$CLUSTER" svc/edge-istio "$gport:8443" "$gtport:9100" \
	>pf3.out 2>&1 &
PF_PIDS="$PF_PIDS $!"
gpage() {
	curl -sS --max-time 10 --cacert "$WORK/example.com.crt" --resolve "$1:$gport:127.0.0.1" \
		"https://$1:$gport/"
}
gok() { gpage nginx.example.com 2>/dev/null | grep -q 's_server'; }
wait_for 60 gok || fail "no page through the TLSRoute: $(gpage nginx.example.com 2>&1); $(cat pf3.out)"
serial=$(openssl s_client -connect "127.0.0.1:$gport" -servername nginx.example.com </dev/null \
	2>/dev/null | openssl x509 -noout -serial)
expect_eq "$serial" "serial=2A" "the certificate served through the TLSRoute"
out=$(curl -sS --max-time 10 -k --resolve "other.example.com:$gport:127.0.0.1" \
	"https://other.example.com:$gport/" 2>&1) && fail "an SNI no TLSRoute lists got an answer: $out"
tport=$gtport
wait_for 30 tcp_ok || fail "no echo through the TCPRoute: $(echo_via 2>&1); $(cat pf3.out)"
y=$(actl get tlsroute nginx -o yaml) || fail "get tlsroute: $y"
expect_contains "$y" "reason: Accepted" "the TLSRoute's parent status"
y=$(actl get gateway edge -o yaml) || fail "get gateway: $y"
expect_contains "$y" "kind: TLSRoute" "the TLS listener's supported kinds"
