#!/usr/bin/env bash
# The waypoint carrying traffic on the local cluster (API_SEMANTICS.md §9): `waypoint apply
# --enroll-namespace` starts its instance, which gets its config and certificate from its node's
# agent; a client's request to the Service reaches the server through it (the waypoint's access
# log has it, the server sees the waypoint's address, the destination's ztunnel the waypoint's
# identity); a VirtualService applied then (fault abort for one header, a response header)
# changes answers within seconds, L7 as Istio users write it; deleting the waypoint restores
# the direct path. HTTP/2 (prior knowledge) and a TCP protocol on an undeclared port pass
# through it too (detection); it originates TLS with the CA of a DestinationRule's
# credentialName, a Secret of its namespace. On --kube, kubectl reads the waypoint's, a route's
# and a policy's status on the API server's objects.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT
id=spiffe://cluster.local/ns/mesh/sa/waypoint

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered before the waypoint"
out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"
wp_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready ||
	fail "the waypoint never ran: $(actl waypoint list -n mesh); $(actl local logs mesh/waypoint-0 | tail -5)"
wp_ip=$(pod_addr mesh/waypoint-0) # the IPv6 one in a dual-stack cluster

# Through the waypoint (once the ztunnels have the binding): 200, the server sees the
# waypoint's address, the waypoint logs it.
via_wp() { pod_exec mesh/client-0 curl -sf --max-time 3 -H 'X-Echo: via-wp' http://server/ | grep -q "from=$wp_ip"; }
wait_for 30 via_wp || fail "no answer through the waypoint: $(actl local logs mesh/waypoint-0 | tail -5)"
out=$(pod_exec mesh/client-0 curl -sf --max-time 3 -H 'X-Echo: via-wp' http://server/) ||
	fail "request failed"
expect_contains "$out" "echo=via-wp"
expect_contains "$out" "from=$wp_ip" "the server is reached from the waypoint"
wait_log 10 mesh/waypoint-0 '"GET / HTTP/1.1" 200' || fail "the waypoint did not log the request"
# The client backs no Service the waypoint knows: its telemetry's source labels come from the
# baggage the client's ztunnel sent with the CONNECT (Istio's peer metadata).
wp_metrics() { pod_exec mesh/waypoint-0 curl -sf --max-time 3 http://127.0.0.1:15020/metrics; }
src_labels() {
	wp_metrics | grep 'istio_requests_total{reporter="waypoint"' | grep 'source_workload="client"' |
		grep 'source_workload_namespace="mesh"' | grep -q 'source_canonical_service="client"'
}
wait_for 10 src_labels || fail "no source labels from baggage: $(wp_metrics | grep istio_requests_total | head -3)"
# HTTP/2 with prior knowledge over HBONE through the waypoint, to the server's HTTP/1.1.
out=$(pod_exec mesh/client-0 curl -s --http2-prior-knowledge --max-time 3 -w ' http/%{http_version}' \
	-H 'X-Echo: h2' http://server/) || fail "HTTP/2 request failed"
expect_contains "$out" "echo=h2"
expect_contains "$out" "from=$wp_ip" "the HTTP/2 request went through the waypoint"
expect_contains "$out" " http/2"
wait_log 10 mesh/waypoint-0 '"GET / HTTP/2" 200' || fail "the waypoint did not log the HTTP/2 request"
# The xfer port's protocol is not declared: its bytes are detected as TCP and spliced.
n=$(pod_exec mesh/client-0 bash -c "echo 'DOWN 100000' | socat -t 10 - TCP:server:9000 | wc -c") ||
	fail "TCP through the waypoint failed"
expect_eq "$n" 100000 "bytes of the transfer through the waypoint"
wait_log 10 mesh/waypoint-0 '"- - -" 0' || fail "the waypoint did not log the TCP connection"
# Istio's TCP series with reporter="waypoint" (Kiali draws TCP edges from them): the connection
# opened and closed, 100,000 bytes sent to the client and the 12 of "DOWN 100000\n" received.
tcp_series() {
	wp_metrics | grep "^istio_tcp_$1{reporter=\"waypoint\",source_workload=\"client\"" |
		grep 'destination_service="server.mesh.svc.cluster.local"' | grep 'request_protocol="tcp"' |
		grep 'destination_workload="server"' | awk '{ s += $NF } END { print s + 0 }'
}
closed() { [ "$(tcp_series connections_closed_total)" -ge 1 ]; }
wait_for 10 closed || fail "no closed TCP connection in the waypoint's metrics: $(wp_metrics | grep istio_tcp_ | head -4)"
expect_eq "$(tcp_series connections_opened_total)" 1 "TCP connections opened"
expect_eq "$(tcp_series sent_bytes_total)" 100000 "TCP bytes sent to the client"
expect_eq "$(tcp_series received_bytes_total)" 12 "TCP bytes received from the client"
# The destination's ztunnel counts the connection as the waypoint's (pooled: no log line yet).
srv_node=$(jq -r '.pods[] | select(.namespace=="mesh" and .name=="server-0") | .node' \
	/run/ambit/$CLUSTER/runtime/pods.json)
from_wp() { node_metrics "$srv_node" | grep -q "istio_tcp_connections_opened_total{.*source_principal=\"$id\""; }
wait_for 10 from_wp || fail "the destination's ztunnel did not see the waypoint's identity"

# L7 config applied through the agent: an abort for one header, a header on every answer.
cat >"$WORK/vs.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: server
  namespace: mesh
spec:
  hosts: [server]
  http:
  - match:
    - headers:
        x-fail: {exact: "yes"}
    fault:
      abort: {httpStatus: 418, percentage: {value: 100}}
    route:
    - destination: {host: server}
  - route:
    - destination: {host: server}
    headers:
      response:
        set: {x-through: waypoint}
YAML
out=$(actl apply -f "$WORK/vs.yaml" 2>&1) || fail "apply vs: $out"
aborted() {
	[ "$(pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
		-H 'x-fail: yes' http://server/)" = 418 ]
}
wait_for 30 aborted || fail "the fault abort never applied"
out=$(pod_exec mesh/client-0 curl -s --max-time 3 -H 'x-fail: yes' http://server/)
expect_contains "$out" "fault filter abort"
out=$(pod_exec mesh/client-0 curl -si --max-time 3 http://server/) || fail "plain request failed"
expect_contains "$out" "x-through: waypoint"
expect_contains "$out" "200"

# gRPC through the waypoint pod: a real grpcio server behind a Service whose port says grpc, a
# real grpcio client; unary and server-streaming calls arrive over HBONE as HTTP/2.
# grpc_peer.py is in the manifests directory, which the pods (and an exec into one) see.
PEER=pods/grpc_peer.py
actl apply -f - >&2 <<YAML || fail "gRPC server not applied"
apiVersion: v1
kind: Service
metadata: {name: echo-grpc, namespace: mesh}
spec:
  selector: {app: echo-grpc}
  ports: [{name: grpc, port: 50051}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo-grpc, namespace: mesh}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo-grpc}}
  template:
    metadata: {labels: {app: echo-grpc, version: v1}}
    spec:
      containers:
      - name: echo
        command: ["pods/grpc_peer.py", "serve", "0.0.0.0:50051", "g1"]
YAML
grpc_hello() { pod_exec mesh/client-0 "$PEER" hello echo-grpc:50051 echo-grpc:50051 hi 2>&1; }
grpc_ok() { [ "$(grpc_hello)" = "g1:hi" ]; }
wait_for 60 grpc_ok || fail "no gRPC answer through the waypoint: $(grpc_hello | tail -2)"
out=$(pod_exec mesh/client-0 "$PEER" count echo-grpc:50051 echo-grpc:50051 3 2>&1) || fail "gRPC stream: $out"
expect_eq "$(printf '%s' "$out" | tr '\n' ' ')" "g1:0 g1:1 g1:2" "server-streaming reply through the waypoint"
wait_log 10 mesh/waypoint-0 '"POST /demo.Echo/Hello HTTP/2" 200' || fail "the waypoint did not log the gRPC call"
wait_log 10 mesh/waypoint-0 '"POST /demo.Echo/Count HTTP/2" 200' || fail "the waypoint did not log the gRPC stream"

# TLS origination at the waypoint (a DestinationRule's tls SIMPLE with credentialName): the CA
# comes from the Secret of that name in the waypoint's namespace (an Opaque one, key cacert);
# on --kube the CA serves it to the waypoint's node agent, which holds no grant on mesh's
# Secrets. The app speaks plain HTTP; the server, outside the mesh, only TLS (on [::] where the
# pod has IPv6, which takes IPv4 too: the test runs in the IPv6-only pass as well).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=tls-origin \
	-addext subjectAltName=DNS:tls-origin.mesh.svc.cluster.local \
	-keyout "$WORK/origin.key" -out "$WORK/origin.crt" 2>/dev/null || fail "openssl"
pem_json() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
actl apply -f - >&2 <<YAML || fail "apply of the TLS server, its Secret and DestinationRule"
apiVersion: v1
kind: Service
metadata: {name: tls-origin, namespace: mesh}
spec:
  selector: {app: tls-origin}
  ports: [{name: http, port: 80, targetPort: 8443}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tls-origin, namespace: mesh}
spec:
  replicas: 1
  selector: {matchLabels: {app: tls-origin}}
  template:
    metadata: {labels: {app: tls-origin, istio.io/dataplane-mode: none}}
    spec:
      nodeName: node2
      containers:
      - name: tls
        command: ["python3", "-c", "import http.server as h, os, socket, ssl, sys\nclass H(h.BaseHTTPRequestHandler):\n  def do_GET(self):\n    self.send_response(200); self.send_header('Content-Length', '6'); self.end_headers(); self.wfile.write(b'tls-ok')\nd = os.environ['AMBIT_POD_DIR']\nfor i, k in ((1, 'crt'), (2, 'key')):\n  open(os.path.join(d, k), 'w').write(sys.argv[i])\nclass S6(h.HTTPServer):\n  address_family = socket.AF_INET6\ntry:\n  s = S6(('::', 8443), H)\nexcept OSError:\n  s = h.HTTPServer(('0.0.0.0', 8443), H)\nc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(os.path.join(d, 'crt'), os.path.join(d, 'key'))\ns.socket = c.wrap_socket(s.socket, server_side=True)\ns.serve_forever()",
          $(pem_json "$WORK/origin.crt"), $(pem_json "$WORK/origin.key")]
        ports: [{containerPort: 8443}]
---
apiVersion: v1
kind: Secret
metadata: {name: origin-ca, namespace: mesh}
type: Opaque
data: {cacert: $(base64 -w0 "$WORK/origin.crt")}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tls-origin, namespace: mesh}
spec:
  host: tls-origin.mesh.svc.cluster.local
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: origin-ca}}
YAML
tls_ok() { [ "$(pod_exec mesh/client-0 curl -s --max-time 3 http://tls-origin/)" = tls-ok ]; }
wait_for 60 tls_ok ||
	fail "no answer from the TLS server through the waypoint's origination: $(pod_exec mesh/client-0 curl -s --max-time 3 -w ' %{http_code}' http://tls-origin/); $(actl local logs mesh/waypoint-0 | tail -3)"

# On --kube, the status a kubectl user reads on the API server's objects (issue 55 §4): the
# waypoint Programmed with its address (`kubectl wait`, `get gtw`), an HTTPRoute's parents, and
# an AuthorizationPolicy the ztunnel cannot enforce as written: its ZtunnelAccepted condition
# and a Warning Event saying why (the policy selects no pod: it changes no traffic here).
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ] && command -v kubectl >/dev/null; then
	KUBECONFIG=$(actl local kubeconfig --cluster "$CLUSTER") || fail "local kubeconfig"
	export KUBECONFIG
	out=$(kubectl wait --for=condition=programmed gateways.gateway.networking.k8s.io waypoint \
		-n mesh --timeout=60s 2>&1) || fail "kubectl wait --for=condition=programmed: $out"
	expect_contains "$out" "gateway.gateway.networking.k8s.io/waypoint condition met"
	out=$(kubectl get gtw -n mesh 2>&1) || fail "kubectl get gtw: $out"
	expect_eq "$(head -1 <<<"$out" | tr -s ' ')" "NAME CLASS ADDRESS PROGRAMMED AGE" "get gtw header"
	grep -Eq '^waypoint +istio-waypoint +waypoint\.mesh\.svc\.cluster\.local +True +[0-9a-z]+$' \
		<<<"$out" || fail "kubectl get gtw: $out"
	kubectl apply -f - >&2 <<'YAML' || fail "kubectl apply of the route and the policy"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: server-route, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: server, port: 80}]
  rules: [{backendRefs: [{name: server, port: 80}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-delete, namespace: mesh}
spec:
  selector: {matchLabels: {app: no-such-app}}
  action: DENY
  rules: [{to: [{operation: {methods: [DELETE]}}]}]
YAML
	route_cond() {
		kubectl get httproute server-route -n mesh -o \
			jsonpath='{.status.parents[0].conditions[?(@.type=="'"$1"'")].status}'
	}
	route_ok() { [ "$(route_cond Accepted)" = True ] && [ "$(route_cond ResolvedWaypoints)" = True ]; }
	wait_for 30 route_ok ||
		fail "the HTTPRoute's status.parents: $(kubectl get httproute server-route -n mesh -o yaml)"
	expect_eq "$(kubectl get httproute server-route -n mesh \
		-o jsonpath='{.status.parents[0].controllerName}')" istio.io/gateway-controller
	ap_reason() {
		kubectl get authorizationpolicy deny-delete -n mesh \
			-o jsonpath='{.status.conditions[?(@.type=="ZtunnelAccepted")].reason}'
	}
	ap_said() { [ "$(ap_reason)" = UnsupportedValue ]; }
	wait_for 30 ap_said || fail "no ZtunnelAccepted: $(kubectl get ap deny-delete -n mesh -o yaml)"
	out=$(kubectl get authorizationpolicy deny-delete -n mesh \
		-o jsonpath='{.status.conditions[?(@.type=="ZtunnelAccepted")].message}')
	expect_contains "$out" "ztunnel does not support HTTP attributes (found: methods)"
	expect_contains "$out" "DENY policy with HTTP attributes is enforced without the HTTP rules"
	warned() { kubectl describe authorizationpolicy deny-delete -n mesh | grep -q 'Warning  *UnsupportedValue'; }
	wait_for 10 warned || fail "no Warning Event: $(kubectl describe ap deny-delete -n mesh)"
	out=$(kubectl get events -n mesh --field-selector involvedObject.name=deny-delete 2>&1)
	expect_contains "$out" "fails closed" "the Warning Event says the DENY fails closed"
	kubectl delete httproute server-route -n mesh >&2 || fail "kubectl delete httproute"
	kubectl delete authorizationpolicy deny-delete -n mesh >&2 || fail "kubectl delete ap"
fi

# Without the waypoint the Service is reached directly again.
out=$(actl waypoint delete -n mesh waypoint 2>&1) || fail "delete: $out"
out=$(actl label namespace mesh istio.io/use-waypoint- 2>&1) || fail "unlabel: $out"
direct() { pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ | grep -q "from=$(pod_addr mesh/client-0)"; }
wait_for 30 direct || fail "the direct path did not come back"
pass
