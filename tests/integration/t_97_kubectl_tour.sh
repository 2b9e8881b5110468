#!/usr/bin/env bash
# Issue 39: the seed tutorials' kubectl commands, typed as they type them, against
# `ambitctl local up --kube`, with Debian's kubectl (kubernetes-client 1.20, fetched with
# `apt-get download` into this test's scratch directory and unpacked there: installing it would
# replace the machine's own) and again with /usr/bin/kubectl (1.32 here) where it is there.
# Each pass, from the host with the kubeconfig `local up --kube` printed (a loopback address):
#   version, get nodes, wait for the ingress gateway; create namespace bookinfo, label it
#   ambient, apply bookinfo and bookinfo-gateway.yaml (default validation), wait for the pods;
#   get pods/svc with kubectl's columns; exec into ratings and curl productpage (the tutorial's
#   <title> check); port-forward to the ingress gateway and load /productpage from the host;
#   apply destination-rule-all and virtual-service-all-v1, get and describe them (events);
#   describe pod -l, logs deployment/, get crd, get namespace -L; scale, rollout restart and
#   rollout status; `ambitctl apply` of the same objects kubectl made (no conflict); get all;
#   delete -f; delete namespace bookinfo, and its pods go. Then, with the newest kubectl, Istio's
#   tcp-echo task: a Gateway's TCP server on 31400 through `kubectl port-forward
#   svc/istio-ingressgateway 31401:31400` (the gateway Service's tcp port), and a class istio
#   Gateway annotated networking.istio.io/service-type=ClusterIP gets a ClusterIP Service.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl apt-get dpkg-deb
SAMPLES=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
NET=$SAMPLES/networking
[ -d "$NET" ] || fail "no Istio bookinfo samples in $SAMPLES (set ISTIO_BOOKINFO)"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
pf_pid=

k120=$(kubectl_debian "$WORK") || exit 1
kubectls=("$k120")
[ -x /usr/bin/kubectl ] && kubectls+=(/usr/bin/kubectl)

# The cluster's own manifests: none the tour uses. Pods' commands run from the directory `local
# up -f` names, so it has bookinfo's programs (src/) beside a namespace of its own.
mkdir -p "$WORK/cluster"
cp -r "$REPO/examples/bookinfo/src" "$WORK/cluster/"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tour\n' >"$WORK/cluster/tour.yaml"
export AMBIT_LOCAL_KUBE=1 CLUSTER_INGRESS=1
cluster_up "$WORK/cluster" 2 2> >(tee "$WORK/up.log" >&2)
trap 'kill $pf_pid 2>/dev/null; rm -rf "$WORK"; on_exit' EXIT
# tee runs beside the shell (a process substitution): its file may trail the command's end.
wait_for 10 grep -q "export KUBECONFIG=" "$WORK/up.log" ||
	fail "local up --kube did not print export KUBECONFIG="
KUBECONFIG=$(actl local kubeconfig --cluster "$CLUSTER") || fail "local kubeconfig"
export KUBECONFIG
server=$(awk '$1 == "server:" {print $2; exit}' "$KUBECONFIG")
case $server in https://127.0.0.1:*) ;; *) fail "the kubeconfig's server is $server, not loopback" ;; esac
log "kubeconfig $KUBECONFIG, server $server"

# ok DESC CMD...: CMD's output into $out; fails the test with it when CMD fails.
ok() {
	local what=$1
	shift
	out=$("$@" 2>&1) || fail "$what: $* -> $out"
}
first_line() { head -1 <<<"$1" | tr -s ' '; }
# count_running K SELECTOR N: whether N pods of bookinfo matching SELECTOR are Running and ready.
count_running() {
	test "$("$1" get pods -n bookinfo ${2:+-l "$2"} --no-headers 2>/dev/null |
		grep -c ' 1/1 *Running ')" = "$3"
}
# uid_changed K UID: whether ratings' pod is another than UID (and there is one).
uid_changed() {
	local now
	now=$("$1" get pod -n bookinfo -l app=ratings -o jsonpath='{.items[0].metadata.uid}')
	[ -n "$now" ] && [ "$now" != "$2" ]
}
no_bookinfo_pods() { test -z "$(actl get pods -n bookinfo 2>/dev/null)"; }

tour() {
	local k=$1 v
	v=$("$k" version --client 2>/dev/null | grep -o 'v1\.[0-9]*' | head -1)
	log "--- kubectl $v ($k)"
	ok "version" "$k" version
	expect_contains "$out" "Server Version" "kubectl version"
	ok "get nodes" "$k" get nodes
	expect_eq "$(first_line "$out")" "NAME STATUS ROLES AGE VERSION" "get nodes header"
	expect_contains "$out" "node1" "get nodes"
	ok "wait ingress" "$k" wait --for=condition=ready pod -l app=istio-ingressgateway \
		-n istio-system --timeout=120s

	ok "get ns" "$k" get ns
	grep -Eq '^default +Active ' <<<"$out" || fail "get ns: no default: $out"
	grep -Eq '^istio-system +Active ' <<<"$out" || fail "get ns: no istio-system: $out"
	ok "create namespace" "$k" create namespace bookinfo
	expect_eq "$out" "namespace/bookinfo created" "create namespace"
	ok "label namespace" "$k" label namespace bookinfo istio.io/dataplane-mode=ambient
	expect_eq "$out" "namespace/bookinfo labeled" "label namespace"
	ok "apply bookinfo" "$k" apply -f "$REPO/examples/bookinfo/bookinfo.yaml" -n bookinfo
	expect_contains "$out" "deployment.apps/productpage-v1 created" "apply bookinfo"
	ok "apply gateway" "$k" apply -f "$NET/bookinfo-gateway.yaml" -n bookinfo
	expect_contains "$out" "gateway.networking.istio.io/bookinfo-gateway created" "apply gateway"
	# The pods appear as the Deployments' controller makes them and start; `wait` then agrees.
	wait_for 90 count_running "$k" "" 6 ||
		fail "bookinfo's Deployments did not get their six pods: $("$k" get pods -n bookinfo 2>&1)"
	ok "wait bookinfo" "$k" wait --for=condition=ready pod --all -n bookinfo --timeout=180s

	ok "get pods" "$k" get pods -n bookinfo
	expect_eq "$(first_line "$out")" "NAME READY STATUS RESTARTS AGE" "get pods header"
	expect_eq "$(grep -c ' 1/1 *Running ' <<<"$out")" 6 "bookinfo's six pods Running 1/1"
	ok "get svc" "$k" get svc -n bookinfo
	expect_eq "$(first_line "$out")" "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE" "get svc header"
	grep -Eq '^productpage +ClusterIP +[0-9.]+ +<none> +9080/TCP ' <<<"$out" ||
		fail "get svc: no productpage ClusterIP row: $out"

	# The tutorial's check, as typed.
	ratings=$("$k" get pod -n bookinfo -l app=ratings -o jsonpath='{.items[0].metadata.name}')
	[ -n "$ratings" ] || fail "no ratings pod by jsonpath"
	ok "exec" "$k" exec "$ratings" -n bookinfo -c ratings -- curl -sS productpage:9080/productpage
	expect_eq "$(grep -o '<title>.*</title>' <<<"$out")" "<title>Simple Bookstore App</title>" \
		"exec ratings -- curl productpage"
	out=$("$k" exec "$ratings" -n bookinfo -- sh -c 'exit 3' 2>&1)
	expect_eq "$?" 3 "exec's exit code"

	port=$(free_port)
	"$k" port-forward -n istio-system svc/istio-ingressgateway "$port:80" >"$WORK/pf.log" 2>&1 &
	pf_pid=$!
	wait_for 30 grep -q "Forwarding from 127.0.0.1:$port" "$WORK/pf.log" ||
		fail "port-forward did not start: $(cat "$WORK/pf.log")"
	wait_for 60 curl -sf -o /dev/null "http://127.0.0.1:$port/productpage" ||
		fail "no /productpage through the port-forward: $(cat "$WORK/pf.log")"
	out=$(curl -sS "http://127.0.0.1:$port/productpage")
	expect_contains "$out" "<title>Simple Bookstore App</title>" "productpage through the gateway"
	kill "$pf_pid"
	wait "$pf_pid" 2>/dev/null
	pf_pid=

	ok "apply dr" "$k" apply -f "$NET/destination-rule-all.yaml" -n bookinfo
	ok "apply vs" "$k" apply -f "$NET/virtual-service-all-v1.yaml" -n bookinfo
	ok "get vs" "$k" get virtualservices -n bookinfo
	expect_eq "$(first_line "$out")" "NAME GATEWAYS HOSTS AGE" "get virtualservices header"
	grep -Eq '^reviews +\["reviews"\] ' <<<"$out" || fail "get virtualservices: $out"
	ok "get dr" "$k" get destinationrules -n bookinfo
	expect_eq "$(first_line "$out")" "NAME HOST AGE" "get destinationrules header"
	grep -Eq '^reviews +reviews ' <<<"$out" || fail "get destinationrules: $out"
	ok "describe vs" "$k" describe virtualservice reviews -n bookinfo
	grep -Eq '^Kind: +VirtualService$' <<<"$out" || fail "describe virtualservice: $out"
	expect_contains "$out" "Events:" "describe virtualservice"
	ok "describe pod" "$k" describe pod -n bookinfo -l app=productpage
	grep -Eq '^Status: +Running$' <<<"$out" || fail "describe pod: $out"
	expect_contains "$out" "Events:" "describe pod"
	ok "logs" "$k" logs -n bookinfo deployment/productpage-v1
	ok "get crd" "$k" get crd
	expect_contains "$out" "virtualservices.networking.istio.io" "get crd"
	ok "get ns -L" "$k" get namespace -L istio.io/dataplane-mode
	grep -Eq '^bookinfo +Active +[0-9a-z]+ +ambient$' <<<"$out" || fail "get namespace -L: $out"

	ok "scale" "$k" scale deployment reviews-v3 -n bookinfo --replicas=2
	expect_eq "$out" "deployment.apps/reviews-v3 scaled" "scale"
	wait_for 120 count_running "$k" app=reviews,version=v3 2 || fail "reviews-v3 did not get 2 pods"
	old=$("$k" get pod -n bookinfo -l app=ratings -o jsonpath='{.items[0].metadata.uid}')
	ok "rollout restart" "$k" rollout restart deployment/ratings-v1 -n bookinfo
	expect_eq "$out" "deployment.apps/ratings-v1 restarted" "rollout restart"
	wait_for 120 uid_changed "$k" "$old" || fail "ratings was not replaced"
	ok "rollout status" "$k" rollout status deployment/ratings-v1 -n bookinfo --timeout=120s

	# ambitctl over kubectl's objects: the same objects again, no conflict.
	ok "ambitctl apply over kubectl's" actl apply -f "$REPO/examples/bookinfo/bookinfo.yaml" -n bookinfo
	ok "get all" "$k" get all -n bookinfo
	expect_contains "$out" "deployment.apps/productpage-v1" "get all"
	expect_contains "$out" "service/productpage" "get all"

	ok "delete -f" "$k" delete -f "$NET/virtual-service-all-v1.yaml" -n bookinfo
	expect_contains "$out" 'virtualservice.networking.istio.io "reviews" deleted' "delete -f"
	ok "delete namespace" "$k" delete namespace bookinfo
	wait_for 120 no_bookinfo_pods ||
		fail "bookinfo's pods stayed after delete namespace: $(actl get pods -n bookinfo)"
	out=$("$k" get namespace bookinfo 2>&1) && fail "namespace bookinfo still there: $out"
	expect_contains "$out" 'namespaces "bookinfo" not found' "get namespace after delete"
}

for k in "${kubectls[@]}"; do
	tour "$k"
done

# Istio's tcp-echo task through the ingress gateway (issue 55 §4): a Gateway's TCP server on
# 31400 with a VirtualService to an echo server, reached as the task does, through the gateway
# Service's tcp port: `kubectl port-forward svc/istio-ingressgateway 31401:31400`.
k=${kubectls[-1]}
cat >"$WORK/tcp-echo.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: tour, labels: {app: tcp-echo}}
spec:
  selector: {app: tcp-echo}
  ports: [{name: tcp, port: 9000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tcp-echo, namespace: tour}
spec:
  replicas: 1
  selector: {matchLabels: {app: tcp-echo}}
  template:
    metadata: {labels: {app: tcp-echo}}
    spec:
      containers:
      - name: tcp-echo
        image: debian
        command: [python3, -c, "import socketserver as s\nclass H(s.StreamRequestHandler):\n def handle(self):\n  for l in self.rfile: self.wfile.write(b'hello '+l)\ns.ThreadingTCPServer.allow_reuse_address=True\ns.ThreadingTCPServer(('0.0.0.0',9000),H).serve_forever()"]
        ports: [{containerPort: 9000}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tcp-echo-gateway, namespace: tour}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo, namespace: tour}
spec:
  hosts: ['*']
  gateways: [tcp-echo-gateway]
  tcp:
  - match: [{port: 31400}]
    route: [{destination: {host: tcp-echo, port: {number: 9000}}}]
YAML
ok "apply tcp-echo" "$k" apply -f "$WORK/tcp-echo.yaml"
# Its pod exists once the controller took the Deployment: wait for it to be listed first.
tcp_echo_pod() { test -n "$("$k" get pods -n tour -l app=tcp-echo -o name 2>/dev/null)"; }
wait_for 120 tcp_echo_pod || fail "no tcp-echo pod: $("$k" get pods -n tour 2>&1)"
ok "wait tcp-echo" "$k" wait --for=condition=ready pod -l app=tcp-echo -n tour --timeout=120s
tport=$(free_port)
"$k" port-forward -n istio-system svc/istio-ingressgateway "$tport:31400" >"$WORK/pf-tcp.log" 2>&1 &
pf_pid=$!
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
wait_for 60 tcp_ok ||
	fail "no echo through kubectl port-forward svc/istio-ingressgateway $tport:31400: $(echo_via 2>&1); $(cat "$WORK/pf-tcp.log")"
kill "$pf_pid"
wait "$pf_pid" 2>/dev/null
pf_pid=

# Istio's getting-started step: a class istio Gateway's Service is LoadBalancer until the
# Gateway is annotated networking.istio.io/service-type=ClusterIP, then ClusterIP.
cat >"$WORK/gw-api.yaml" <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: tour-gateway, namespace: tour}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}]
YAML
ok "apply a Gateway API Gateway" "$k" apply -f "$WORK/gw-api.yaml"
svc_type() { "$k" get svc tour-gateway-istio -n tour -o jsonpath='{.spec.type}' 2>/dev/null; }
type_is() { [ "$(svc_type)" = "$1" ]; }
wait_for 60 type_is LoadBalancer || fail "the Gateway's Service is '$(svc_type)', not LoadBalancer"
ok "annotate the Gateway" "$k" annotate gateways.gateway.networking.k8s.io tour-gateway -n tour \
	networking.istio.io/service-type=ClusterIP
wait_for 60 type_is ClusterIP || fail "the annotated Gateway's Service is '$(svc_type)', not ClusterIP"
pass
