#!/usr/bin/env bash
# `ambitctl dashboard` end to end, in Debian's headless Chromium (playwright-core): bookinfo
# behind a waypoint and the ingress gateway, a TCP service in a namespace of its own, traffic
# from a pod all along, Prometheus from `local up --with-prometheus`. The API's graph has the
# workloads (versions boxed by app, the waypoint and the gateway by role), the Services
# between callers and workloads, HTTP edges with their rates, p99 and the waypoint that
# carried them, the TCP edge from the ztunnels' bytes, each with its mTLS share. The page
# draws them: nodes and edges as the API gives them, a lock on mutual-TLS edges, HTTP edges
# green and TCP blue; with a fault abort injected on ratings the edge into ratings turns red.
# A workload's panel shows its identity, node, and `ambitctl check`'s explanation; the config
# view's objects carry analyze's findings. Bad API arguments get 400, unknown workloads 404.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl jq node socat
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "no headless Chromium at $CHROMIUM (Debian's chromium; make deps)"
[ -d "$REPO/dashboard/node_modules/playwright-core" ] ||
	fail "dashboard/node_modules has no playwright-core (make builds it)"
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
ISTIO_BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
NET=$ISTIO_BOOKINFO/networking
[ -f "$NET/bookinfo-gateway.yaml" ] || fail "no Istio bookinfo samples in $ISTIO_BOOKINFO"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
PIDS=
eval "lib_$(declare -f on_exit)"
on_exit() {
	local rc=${LIB_RC:-$?} p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	LIB_RC=$rc lib_on_exit
	rm -rf "$WORK"
}
trap on_exit EXIT
pport=$(free_port)
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo" 2 --with-prometheus --prometheus-port "$pport"
trap on_exit EXIT

actl apply -f "$NET/bookinfo-gateway.yaml" -f "$NET/destination-rule-all.yaml" \
	-f "$REPO/examples/bookinfo-tasks/curl.yaml" >&2 || fail "bookinfo's objects not applied"
actl apply -f - >&2 <<'YAML' || fail "the TCP service not applied"
apiVersion: v1
kind: Namespace
metadata:
  name: tcp
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: tcp}
spec:
  selector: {app: tcp-echo}
  ports: [{name: tcp, port: 9000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tcp-echo, namespace: tcp}
spec:
  replicas: 1
  selector: {matchLabels: {app: tcp-echo}}
  template:
    metadata: {labels: {app: tcp-echo, version: v1}}
    spec:
      containers:
      - name: tcp-echo
        command: ["socat", "TCP-LISTEN:9000,fork,reuseaddr", "EXEC:cat"]
YAML
out=$(actl waypoint apply -n default --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n default | grep -Eq '^default +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -n default)"
wait_for 30 pod_exec default/curl-0 curl -sf --max-time 5 -o /dev/null \
	http://istio-ingressgateway.istio-system/productpage || fail "the gateway never served the page"

# Traffic all along, from the client pod: the page inside and through the gateway, and a
# line echoed by the TCP service. It stops when the cluster goes.
pod_exec default/curl-0 bash -c 'while :; do
	curl -s -o /dev/null --max-time 5 http://productpage:9080/productpage
	curl -s -o /dev/null --max-time 5 http://istio-ingressgateway.istio-system/productpage
	exec 3<>/dev/tcp/tcp-echo.tcp/9000 && echo hello >&3 && read -r -t 2 _ <&3; exec 3>&-
	sleep 0.3
done' >/dev/null 2>&1 &
PIDS="$PIDS $!"

dport=$(free_port)
"${DASHBOARD_AMBITCTL:-$AMBITCTL}" dashboard --name "$CLUSTER" --port "$dport" >"$WORK/dash.out" 2>&1 &
PIDS="$PIDS $!"
api() { curl -sS --max-time 20 "http://127.0.0.1:$dport/api/$1"; }
wait_for 10 api health || fail "the dashboard never answered: $(cat "$WORK/dash.out")"
expect_contains "$(cat "$WORK/dash.out")" "http://127.0.0.1:$dport/ (Prometheus: http://127.0.0.1:$pport;"

# --- The API's graph, once Prometheus has scraped the traffic.
graph() { api "graph?duration=60" >"$WORK/graph.json" && jq -e '.prometheus.ok' "$WORK/graph.json" >/dev/null; }
edge() { # SRC DST PROTO: the edge's JSON
	jq -c --arg s "$1" --arg d "$2" --arg p "$3" \
		'.edges[] | select(.source == $s and .target == $d and .protocol == $p)' "$WORK/graph.json"
}
has_edges() {
	graph && [ -n "$(edge wl:default/productpage-v1 svc:default/reviews http)" ] &&
		edge wl:istio-system/istio-ingressgateway svc:default/productpage http |
		jq -se 'length == 1 and .[0].mtls > 0' >/dev/null &&
		[ -n "$(edge wl:default/curl svc:tcp/tcp-echo tcp)" ]
}
wait_for 90 has_edges || fail "the graph never had the traffic's edges: $(jq -c '.prometheus, [.edges[] | [.source, .target, .protocol]]' "$WORK/graph.json")"
node_role() { jq -r --arg i "$1" '.nodes[] | select(.id == $i) | .role' "$WORK/graph.json"; }
expect_eq "$(node_role wl:default/waypoint)" waypoint "the waypoint's node"
expect_eq "$(node_role wl:istio-system/istio-ingressgateway)" gateway "the gateway's node"
expect_eq "$(node_role wl:default/reviews-v2)" workload "a workload's node"
expect_eq "$(jq -r '.nodes[] | select(.id == "wl:default/reviews-v2") | .parent' "$WORK/graph.json")" \
	app:default/reviews "a version's app box"
e=$(edge wl:default/productpage-v1 svc:default/reviews http)
expect_eq "$(jq -r '.mtls' <<<"$e")" 1 "productpage to reviews over mutual TLS"
expect_eq "$(jq -r '.waypoint' <<<"$e")" default/waypoint "the waypoint that carried it"
jq -e '.rps > 0 and .p99 > 0 and .health == "healthy" and .codes["2xx"] > 0' <<<"$e" >/dev/null ||
	fail "productpage to reviews: $e"
e=$(edge wl:istio-system/istio-ingressgateway svc:default/productpage http)
expect_eq "$(jq -r '.mtls' <<<"$e")" 1 "the gateway's requests over HBONE (the ztunnels' view)"
e=$(edge wl:default/curl svc:tcp/tcp-echo tcp)
jq -e '.bytesPerSec > 0 and .mtls == 1 and .rps == null' <<<"$e" >/dev/null ||
	fail "the TCP edge: $e"
# No request counted twice: the client's and the gateway's requests into productpage's Service.
in=$(jq '[.edges[] | select(.target == "svc:default/productpage") | .rps] | add' "$WORK/graph.json")
out=$(jq '[.edges[] | select(.source == "svc:default/productpage") | .rps] | add' "$WORK/graph.json")
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 0.25 * max(a, b))" \
	"$in" "$out" || fail "into productpage's Service $in req/s, out of it $out req/s"

# --- The page in headless Chromium.
probe() { node "$REPO/tests/integration/bin/dashboard_probe.js" \
	"http://127.0.0.1:$dport/#/graph?duration=60&refresh=5" "$@"; }
probe --wait-edge "wl:default/productpage-v1,svc:default/reviews,http,health=healthy,mtls" \
	--wait-edge "wl:default/curl,svc:tcp/tcp-echo,tcp,mtls" --timeout 60 \
	--click wl:default/reviews-v2 --screenshot "$WORK/graph.png" >"$WORK/page.json" ||
	fail "the page did not draw the edges"
expect_eq "$(jq -c '.consoleErrors' "$WORK/page.json")" "[]" "errors in the page's console"
pedge() { jq -c --arg s "$1" --arg d "$2" '.edges[] | select(.source == $s and .target == $d)' "$WORK/page.json"; }
expect_eq "$(pedge wl:default/productpage-v1 svc:default/reviews | jq -r .color)" "#3E8635" \
	"a healthy HTTP edge's colour"
expect_eq "$(pedge wl:default/curl svc:tcp/tcp-echo | jq -r .color)" "#0066CC" "a TCP edge's colour"
expect_contains "$(pedge wl:default/productpage-v1 svc:default/reviews | jq -r .label)" "🔒" \
	"the lock on a mutual-TLS edge"
for id in wl:default/waypoint wl:istio-system/istio-ingressgateway svc:default/reviews \
	wl:default/reviews-v3 app:default/reviews ns:default ns:tcp; do
	jq -e --arg i "$id" '.nodes[] | select(.id == $i)' "$WORK/page.json" >/dev/null ||
		fail "the page has no node $id"
done
panel=$(jq -r '.panel' "$WORK/page.json")
expect_contains "$panel" "spiffe://cluster.local/ns/default/sa/bookinfo-reviews" "the panel's identity"
expect_contains "$panel" "node" "the panel's node"
expect_contains "$panel" "L7 at waypoint default/waypoint" "the panel's check explanation"
[ -s "$WORK/graph.png" ] || fail "no screenshot"

# --- A fault abort on ratings (Istio's task's, for every user): the edges into ratings fail,
# and the page draws them red.
actl apply -f - >&2 <<'YAML' || fail "the abort not applied"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
  namespace: default
spec:
  hosts: [ratings]
  http:
  - fault:
      abort:
        percentage: {value: 100.0}
        httpStatus: 500
    route:
    - destination: {host: ratings, subset: v1}
YAML
failing() {
	graph && edge wl:default/reviews-v2 svc:default/ratings http |
		jq -se 'length == 1 and .[0].health == "failure"' >/dev/null
}
wait_for 90 failing || fail "the edge into ratings never failed: $(edge wl:default/reviews-v2 svc:default/ratings http)"
probe --wait-edge "wl:default/reviews-v2,svc:default/ratings,http,health=failure" --timeout 60 \
	>"$WORK/page.json" || fail "the page never drew the failing edge"
expect_eq "$(pedge wl:default/reviews-v2 svc:default/ratings | jq -r .color)" "#C9190B" \
	"a failing edge's colour"

# --- Workloads, Services, configuration; bad requests.
api workloads | jq -e '.[] | select(.namespace == "tcp" and .name == "tcp-echo" and .enrolled)' \
	>/dev/null || fail "the workloads: $(api workloads)"
api "service?namespace=default&name=reviews" | jq -e '.waypoint == "default/waypoint" and
	(.endpoints | length) == 3 and (.routes | map(.kind) | index("DestinationRule"))' >/dev/null ||
	fail "reviews' Service: $(api 'service?namespace=default&name=reviews')"
api config | jq -e '.objects[] | select(.kind == "DestinationRule" and .name == "ratings" and
	.status == "warning" and (.findings[0].message | test("IST0173")))' >/dev/null ||
	fail "the config view has not analyze's finding: $(api config | jq -c '[.objects[] | select(.kind == "DestinationRule")]')"
api config | jq -e '.objects[] | select(.kind == "VirtualService" and .name == "ratings" and
	.status == "valid")' >/dev/null || fail "the abort's VirtualService is not shown valid"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$dport$1"; }
expect_eq "$(code '/api/workload?namespace=default&name=Bad%22Name')" 400 "a name PromQL could not quote"
expect_eq "$(code '/api/workload?namespace=default&name=nothing')" 404 "an unknown workload"
expect_eq "$(code '/api/graph?duration=-5')" 400 "a bad duration"
expect_eq "$(code /nothing)" 404 "an unknown path"
pass
