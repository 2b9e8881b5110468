#!/usr/bin/env bash
# `ambitctl dashboard` end to end, in Debian's headless Chromium (playwright-core): bookinfo
# behind a waypoint and the ingress gateway, a TCP service in a namespace of its own, traffic
# from a pod all along, Prometheus from `local up --with-prometheus`. The API's graph has the
# workloads (versions boxed by app, the waypoint and the gateway by role), the Services
# between callers and workloads, HTTP edges with their rates, p99 and the waypoint that
# carried them, the TCP edge from the ztunnels' bytes, each with its mTLS share; asked for
# waypoints (?waypoints=1, the page's Waypoints box), productpage's calls drawn through the
# waypoint's node, which is left out otherwise (it has no edge of its own). The page
# draws them: nodes and edges as the API gives them, a lock on mutual-TLS edges, HTTP edges
# green and TCP blue; with a fault abort injected on ratings the edge into ratings turns red.
# A workload's panel shows its identity, node, and `ambitctl check`'s explanation; the config
# view's objects carry analyze's findings. Bad API arguments get 400, unknown workloads 404.
# The dashboard is the mesh's trace collector too: a 3-level trace whose spans come as OTLP
# (JSON, and a protobuf request) and Zipkin, as the proxies on its way would send them, is one
# trace in the API and in the Traces view's list and waterfall (rows nested and in order, a
# span's tags); a workload's panel links to its traces; from a pod, the receivers at
# 10.99.0.1:4318 and :9411 in the fabric netns take spans too; bad bodies get 400 and 413.
# The mock's made-up mesh of 300 Services is drawn with its namespaces collapsed, one opened by a
# click, and drawn whole when asked (#/graph?collapse=0: the boxes layout, labels only once a zoom
# can show them); the mTLS padlock is the page's own glyph. The screenshots are kept in
# $AMBIT_IT_ARTIFACTS/t_75_dashboard (run.sh: build/it-artifacts).
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
# And a UDP echo beside it: its flows cross the mesh as CONNECT-UDP, an edge of their own.
actl apply -f - >&2 <<YAML || fail "the UDP service not applied"
apiVersion: v1
kind: Service
metadata: {name: udp-echo, namespace: tcp}
spec:
  selector: {app: udp-echo}
  ports: [{name: udp, port: 7007, protocol: UDP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: udp-echo, namespace: tcp}
spec:
  replicas: 1
  selector: {matchLabels: {app: udp-echo}}
  template:
    metadata: {labels: {app: udp-echo, version: v1}}
    spec:
      containers:
      - name: udp-echo
        command: ["/usr/bin/python3", "$REPO/tests/integration/manifests/pods/udp-echo.py", "serve", "7007"]
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
	/usr/bin/python3 '"$REPO"'/tests/integration/manifests/pods/udp-echo.py ask udp-echo.tcp 7007 2
	sleep 0.3
done' >/dev/null 2>&1 &
PIDS="$PIDS $!"

dport=$(free_port)
"${DASHBOARD_AMBITCTL:-$AMBITCTL}" dashboard --name "$CLUSTER" --port "$dport" >"$WORK/dash.out" 2>&1 &
PIDS="$PIDS $!"
api() { curl -sS --max-time 20 "http://127.0.0.1:$dport/api/$1"; }
wait_for 10 api health || fail "the dashboard never answered: $(cat "$WORK/dash.out")"
expect_contains "$(cat "$WORK/dash.out")" "http://127.0.0.1:$dport/ (Prometheus: http://127.0.0.1:$pport;"
wait_for 10 grep -q "^receiving OTLP" "$WORK/dash.out" || fail "no receivers in the cluster: $(cat "$WORK/dash.out")"
expect_contains "$(cat "$WORK/dash.out")" "receiving OTLP at http://10.99.0.1:4318/v1/traces and Zipkin at http://10.99.0.1:9411/api/v2/spans inside cluster $CLUSTER"

# --- Traces: one trace of a request through the ingress gateway, 3 levels: the gateway's server
# span and productpage's call to reviews (OTLP/JSON, as a gateway and a waypoint would send
# them), reviews' server span and productpage's failed call to details (Zipkin, its 64-bit trace
# id the low half of the 128-bit one). Times in µs from now.
post() { # PATH CONTENT-TYPE FILE: the HTTP status
	curl -s -o "$WORK/post.out" -w '%{http_code}' --max-time 10 -X POST -H "Content-Type: $2" \
		--data-binary @"$3" "http://127.0.0.1:$dport$1"
}
t0=$(($(date +%s%N) / 1000))
TID=0000000000000000a3ce929d0e0e4736
cat >"$WORK/otlp.json" <<JSON
{"resourceSpans": [
 {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "istio-ingressgateway.istio-system"}}]},
  "scopeSpans": [{"spans": [{"traceId": "$TID", "spanId": "00000000000000a1", "name": "productpage.default.svc.cluster.local:9080/productpage",
   "kind": "SPAN_KIND_SERVER", "startTimeUnixNano": "${t0}000", "endTimeUnixNano": "$((t0 + 40000))000",
   "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}, {"key": "http.status_code", "value": {"intValue": "200"}}]}]}]},
 {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "productpage.default"}}]},
  "scopeSpans": [{"spans": [{"traceId": "$TID", "spanId": "00000000000000b1", "parentSpanId": "00000000000000a1",
   "name": "reviews.default.svc.cluster.local:9080/*", "kind": 3, "startTimeUnixNano": $(((t0 + 5000) * 1000)),
   "endTimeUnixNano": $(((t0 + 30000) * 1000)), "attributes": [{"key": "upstream_cluster", "value": {"stringValue": "outbound|9080||reviews.default.svc.cluster.local"}}]}]}]}
]}
JSON
cat >"$WORK/zipkin.json" <<JSON
[{"traceId": "a3ce929d0e0e4736", "id": "00000000000000c1", "parentId": "00000000000000b1", "kind": "SERVER",
  "name": "reviews.default.svc.cluster.local:9080/reviews/0", "timestamp": $((t0 + 8000)), "duration": 20000,
  "localEndpoint": {"serviceName": "reviews.default"}, "tags": {"http.status_code": "200", "user_agent": "t_75"}},
 {"traceId": "a3ce929d0e0e4736", "id": "00000000000000b2", "parentId": "00000000000000a1", "kind": "CLIENT",
  "name": "details.default.svc.cluster.local:9080/*", "timestamp": $((t0 + 32000)), "duration": 6000,
  "localEndpoint": {"serviceName": "productpage.default"}, "remoteEndpoint": {"serviceName": "details.default", "port": 9080},
  "tags": {"http.status_code": "503", "response_flags": "UF"}}]
JSON
expect_eq "$(post /v1/traces application/json "$WORK/otlp.json")" 200 "OTLP/JSON accepted: $(cat "$WORK/post.out")"
expect_eq "$(cat "$WORK/post.out")" "{}" "OTLP/JSON's answer"
expect_eq "$(post /api/v2/spans application/json "$WORK/zipkin.json")" 202 "Zipkin accepted: $(cat "$WORK/post.out")"
expect_eq "$(post /v1/traces application/x-protobuf "$REPO/tests/fuzz/corpus/fuzz_trace_ingest/otlp_bookinfo.pb")" \
	200 "an OTLP protobuf request accepted: $(cat "$WORK/post.out")"
api traces/4bf92f3577b34da6a3ce929d0e0e4736 | jq -e '.spans | length == 2' >/dev/null ||
	fail "the protobuf request's trace: $(api traces/4bf92f3577b34da6a3ce929d0e0e4736)"
api "traces?service=reviews.default" | jq -e --arg t "$TID" '.[] | select(.traceID == $t) |
	.spans == 4 and .errors == 1 and .duration == 40000 and .start == '"$t0"' and
	.rootService == "istio-ingressgateway.istio-system" and (.services | length) == 3' >/dev/null ||
	fail "the trace's summary: $(api 'traces?service=reviews.default')"
api traces/services | jq -e '.[] | select(.name == "reviews.default") |
	.operations == ["reviews.default.svc.cluster.local:9080/reviews/0"]' \
	>/dev/null || fail "the services' operations: $(api traces/services)"
expect_eq "$(api 'traces?tag=user_agent:t_75&minDuration=20' | jq -r '.[].traceID')" "$TID" "a tag and a duration"
expect_eq "$(api 'traces?service=reviews.default&minDuration=30' | jq length)" 0 "reviews' spans are under 30 ms"
echo '[{"traceId": "zz"}]' >"$WORK/bad.json"
expect_eq "$(post /api/v2/spans application/json "$WORK/bad.json")" 400 "a bad trace id"
expect_contains "$(cat "$WORK/post.out")" "[0].traceId: 16 or 32 hex digits" "what was wrong"
head -c $((9 << 20)) /dev/zero >"$WORK/big.bin"
expect_eq "$(post /v1/traces application/x-protobuf "$WORK/big.bin")" 413 "a body over 8 MiB"
expect_eq "$(post /v1/traces text/plain "$WORK/bad.json")" 415 "OTLP in neither encoding"
api traces/stats | jq -e '.accepted >= 6 and .requestsRejected >= 1 and .rejected >= 1' >/dev/null ||
	fail "the receiver's counters: $(api traces/stats)"

# From inside the cluster, as the proxies send: Zipkin and OTLP to the fabric's receivers.
ztid=0af7651916cd43dd8448eb211c80319c
pod_exec default/curl-0 curl -sf --max-time 10 -X POST -H 'Content-Type: application/json' \
	http://10.99.0.1:9411/api/v2/spans -d "[{\"traceId\": \"$ztid\", \"id\": \"b7ad6b7169203331\",
	\"name\": \"from-a-pod\", \"timestamp\": $t0, \"duration\": 100, \"localEndpoint\": {\"serviceName\": \"curl.default\"}}]" ||
	fail "a pod's Zipkin POST to 10.99.0.1:9411 failed"
expect_eq "$(pod_exec default/curl-0 curl -s --max-time 10 -X POST -H 'Content-Type: application/json' \
	http://10.99.0.1:4318/v1/traces -d '{"resourceSpans": []}')" "{}" "a pod's OTLP POST to 10.99.0.1:4318"
expect_eq "$(pod_exec default/curl-0 curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
	http://10.99.0.1:9411/api/traces)" 404 "only the receivers inside the cluster"
expect_eq "$(api "traces/$ztid" | jq -r '.spans[0].name')" from-a-pod "the pod's span in the API"
# A pod may not record spans under a name that is not its: curl-0 posing as a payments service
# (in host capture its plaintext to 10.99.0.1 leaves from its node's address: the names of that
# node's pods) is refused, OTLP's partial success says so, its own span in the same body kept;
# the host's are kept unverified.
cat >"$WORK/pose.json" <<JSON
{"resourceSpans": [
 {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payments.default"}}]},
  "scopeSpans": [{"spans": [{"traceId": "$ztid", "spanId": "b7ad6b7169203332", "name": "posing",
   "startTimeUnixNano": "${t0}000", "endTimeUnixNano": "$((t0 + 100))000"}]}]},
 {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "curl"}}]},
  "scopeSpans": [{"spans": [{"traceId": "$ztid", "spanId": "b7ad6b7169203333", "name": "itself",
   "startTimeUnixNano": "${t0}000", "endTimeUnixNano": "$((t0 + 100))000"}]}]}]}
JSON
cp "$WORK/pose.json" /var/tmp/ambit-it-pose-$$.json
pose=$(pod_exec default/curl-0 curl -s --max-time 10 -X POST -H 'Content-Type: application/json' \
	http://10.99.0.1:4318/v1/traces --data-binary @/var/tmp/ambit-it-pose-$$.json)
rm -f /var/tmp/ambit-it-pose-$$.json
expect_eq "$(jq -r '.partialSuccess.rejectedSpans' <<<"$pose")" 1 "a pod posing as payments: $pose"
expect_eq "$(api "traces/$ztid" | jq -c '[.spans[].name] | sort')" '["from-a-pod","itself"]' \
	"the posing span left out"
api traces/stats | jq -e '.refused == 1 and .unverified >= 6' >/dev/null ||
	fail "the refused and unverified spans counted: $(api traces/stats)"
expect_eq "$(api "traces/$TID" | jq -r '.spans[0].verified')" false "the host's spans are unverified"
# DNS rebinding: a name that is not this dashboard's gets 403, an address or localhost is served.
expect_eq "$(curl -s -o "$WORK/host.out" -w '%{http_code}' --max-time 10 \
	-H 'Host: rebind.attacker.example' "http://127.0.0.1:$dport/api/workloads")" 403 "a foreign Host"
expect_contains "$(cat "$WORK/host.out")" "--allow-host" "what to do about it"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://localhost:$dport/api/health")" \
	200 "localhost"
# A page of another origin POSTs text/plain without a preflight: refused.
expect_eq "$(post /api/v2/spans text/plain "$WORK/zipkin.json")" 415 "Zipkin as text/plain"

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
		[ -n "$(edge wl:default/curl svc:tcp/tcp-echo tcp)" ] &&
		[ -n "$(edge wl:default/curl svc:tcp/udp-echo udp)" ]
}
wait_for 90 has_edges || fail "the graph never had the traffic's edges: $(jq -c '.prometheus, [.edges[] | [.source, .target, .protocol]]' "$WORK/graph.json")"
node_role() { jq -r --arg i "$1" '.nodes[] | select(.id == $i) | .role' "${2:-$WORK/graph.json}"; }
# The waypoint carries productpage's calls but no edge of its own: drawn only when asked.
[ -z "$(node_role wl:default/waypoint)" ] || fail "the waypoint's node drawn, waypoints not asked for; its edges: $(jq -c '[.edges[] | select(.source == "wl:default/waypoint" or .target == "wl:default/waypoint")]' "$WORK/graph.json")"
api "graph?duration=60&waypoints=1" >"$WORK/graph-wp.json" || fail "the graph with waypoints"
expect_eq "$(node_role wl:default/waypoint "$WORK/graph-wp.json")" waypoint "the waypoint's node"
wpedge() { jq -c --arg s "$1" --arg d "$2" \
	'.edges[] | select(.source == $s and .target == $d and .protocol == "http")' "$WORK/graph-wp.json"; }
for hop in "wl:default/productpage-v1 wl:default/waypoint" "wl:default/waypoint svc:default/reviews" \
	"svc:default/reviews wl:default/reviews-v2"; do
	# shellcheck disable=SC2086
	wpedge $hop | jq -e '.rps > 0 and .p99 > 0 and .waypoint == "default/waypoint"' >/dev/null ||
		fail "the hop $hop with waypoints drawn: $(wpedge $hop)"
done
expect_eq "$(jq -c '[.edges[] | select(.source == "wl:default/productpage-v1" and .target == "svc:default/reviews")]' \
	"$WORK/graph-wp.json")" "[]" "productpage to reviews drawn through the waypoint, not past it"
jq -e '.nodes[] | select(.id == "wl:default/waypoint") | .inRps > 0' "$WORK/graph-wp.json" >/dev/null ||
	fail "the waypoint's node counts the requests it carried"
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
# UDP's flows (request_protocol "udp" in the ztunnels' istio_tcp_* series) drawn as UDP.
e=$(edge wl:default/curl svc:tcp/udp-echo udp)
jq -e '.bytesPerSec > 0 and .mtls == 1 and .rps == null' <<<"$e" >/dev/null ||
	fail "the UDP edge: $e"
# No request counted twice: the client's and the gateway's requests into productpage's Service.
in=$(jq '[.edges[] | select(.target == "svc:default/productpage") | .rps] | add' "$WORK/graph.json")
out=$(jq '[.edges[] | select(.source == "svc:default/productpage") | .rps] | add' "$WORK/graph.json")
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 0.25 * max(a, b))" \
	"$in" "$out" || fail "into productpage's Service $in req/s, out of it $out req/s"

# --- The page in headless Chromium. One browser reads several views (the probe's --then steps,
# each its own page): a browser's start is seconds on a busy machine.
probe() { node "$REPO/tests/integration/bin/dashboard_probe.js" "$@"; }
graph_url="http://127.0.0.1:$dport/#/graph?duration=60&refresh=5"
# The graph with its edges, a workload's panel; then the graph with the Waypoints box.
probe "$graph_url" --wait-edge "wl:default/productpage-v1,svc:default/reviews,http,health=healthy,mtls" \
	--wait-edge "wl:default/curl,svc:tcp/tcp-echo,tcp,mtls" \
	--wait-edge "wl:default/curl,svc:tcp/udp-echo,udp,mtls" --timeout 60 \
	--click wl:default/reviews-v2 --screenshot "$WORK/graph.png" --out "$WORK/page.json" \
	--then "$graph_url&waypoints=1" --wait-edge "wl:default/productpage-v1,wl:default/waypoint,http" \
	--wait-edge "wl:default/waypoint,svc:default/reviews,http,health=healthy" --timeout 60 \
	--out "$WORK/page-wp.json" || fail "the page did not draw the edges, or the hops through the waypoint"
expect_eq "$(jq -c '.consoleErrors' "$WORK/page.json")" "[]" "errors in the page's console"
pedge() { jq -c --arg s "$1" --arg d "$2" '.edges[] | select(.source == $s and .target == $d)' "$WORK/page.json"; }
expect_eq "$(pedge wl:default/productpage-v1 svc:default/reviews | jq -r .color)" "#3E8635" \
	"a healthy HTTP edge's colour"
expect_eq "$(pedge wl:default/curl svc:tcp/tcp-echo | jq -r .color)" "#0066CC" "a TCP edge's colour"
expect_eq "$(pedge wl:default/curl svc:tcp/udp-echo | jq -r .color)" "#8A4FC3" "a UDP edge's colour"
expect_contains "$(pedge wl:default/curl svc:tcp/udp-echo | jq -r .label)" "UDP" "a UDP edge's label"
expect_contains "$(pedge wl:default/productpage-v1 svc:default/reviews | jq -r .label)" "🔒" \
	"the lock on a mutual-TLS edge"
# Drawn by the page's own one-glyph font (0.76 em wide), not an emoji font's glyph or an empty box.
expect_eq "$(jq -r .lockEm "$WORK/page.json")" "0.76" "the padlock drawn by the page's own font"
for id in wl:istio-system/istio-ingressgateway svc:default/reviews \
	wl:default/reviews-v3 app:default/reviews ns:default ns:tcp; do
	jq -e --arg i "$id" '.nodes[] | select(.id == $i)' "$WORK/page.json" >/dev/null ||
		fail "the page has no node $id"
done
panel=$(jq -r '.panel' "$WORK/page.json")
expect_contains "$panel" "spiffe://cluster.local/ns/default/sa/bookinfo-reviews" "the panel's identity"
expect_contains "$panel" "node" "the panel's node"
expect_contains "$panel" "L7 at waypoint default/waypoint" "the panel's check explanation"
[ -s "$WORK/graph.png" ] || fail "no screenshot"
# The Waypoints box (the probe's second step): the requests drawn through the waypoint's node.
expect_eq "$(jq -c '.consoleErrors' "$WORK/page-wp.json")" "[]" "errors in the page's console (waypoints)"
jq -e '.nodes[] | select(.id == "wl:default/waypoint")' "$WORK/page-wp.json" >/dev/null ||
	fail "the page has no waypoint node with waypoints drawn"
# A mesh too large to read whole, the mock's made-up one (300 Services and their workloads, 1,000
# edges, 6 namespaces; no cluster needed): each namespace drawn as one node, the traffic between
# namespaces summed per direction and protocol; a click opens one in place, its members drawn
# and the others still collapsed.
/usr/bin/python3 "$REPO/dashboard/mock/serve.py" --port 0 --generate 300,1000 >"$WORK/mock.out" \
	2>"$WORK/mock.log" &
PIDS="$PIDS $!"
for _ in $(seq 100); do [ -s "$WORK/mock.out" ] && break; sleep 0.1; done
murl=$(head -1 "$WORK/mock.out")
[ -n "$murl" ] || fail "the mock did not start: $(tail -3 "$WORK/mock.log")"
curl -sf "${murl%/}/api/graph?duration=300" >"$WORK/mock-graph.json" || fail "the mock's graph"
# The views of it checked below, read by one browser: drawn collapsed; a namespace opened; two
# opened by the address, one folded again; drawn whole; zoomed into.
mgraph="${murl%/}/#/graph?duration=300&refresh=0"
probe "$mgraph" --timeout 60 --out "$WORK/large.json" \
	--then "$mgraph" --open ns:team-0 --timeout 60 --screenshot "$WORK/graph-large.png" \
	--out "$WORK/large-open.json" \
	--then "$mgraph&expanded=team-0,team-3" --collapse ns:team-3 --timeout 60 --out "$WORK/large-fold.json" \
	--then "$mgraph&collapse=0" --timeout 60 --screenshot "$WORK/graph-whole.png" --out "$WORK/whole.json" \
	--then "$mgraph&collapse=0" --zoom 0.9 --timeout 60 --out "$WORK/whole-zoom.json" ||
	fail "the page did not draw the mock's large mesh: collapsed, a namespace opened, one folded again, whole, or zoomed"
expect_eq "$(jq -c '[.nodes[] | select(.collapsed)] | length' "$WORK/large.json")" "6" \
	"a large mesh's namespaces collapsed"
expect_eq "$(jq -c '[.nodes[] | select(.collapsed | not)] | length' "$WORK/large.json")" "0" \
	"a large mesh drawn as its namespaces alone"
# team-1 -> team-2: the sum of the API's HTTP rates from team-1's nodes to team-2's.
nssum() {
	jq '([.nodes[] | {key: .id, value: .namespace}] | from_entries) as $ns |
		[.edges[] | select(.protocol != "tcp" and $ns[.source] == "team-1" and $ns[.target] == "team-2")
		| .rps] | add * 100 | round' "$WORK/mock-graph.json"
}
expect_eq "$(jq '[.edges[] | select(.source == "ns:team-1" and .target == "ns:team-2" and
	.protocol != "tcp") | .rps] | add * 100 | round' "$WORK/large.json")" "$(nssum)" \
	"the requests between two collapsed namespaces summed"
expect_contains "$(jq -r '.nodes[] | select(.id == "ns:team-1") | .label' "$WORK/large.json")" "team-1 (" \
	"a collapsed namespace's label"
expect_eq "$(jq -c '.consoleErrors' "$WORK/large-open.json")" "[]" "errors in the page's console (large mesh)"
expect_eq "$(jq '[.nodes[] | select(.namespace == "team-0" and (.kind == "workload" or
	.kind == "service"))] | length' "$WORK/large-open.json")" \
	"$(jq '[.nodes[] | select(.namespace == "team-0" and (.kind == "workload" or
	.kind == "service"))] | length' "$WORK/mock-graph.json")" "an opened namespace's workloads and Services"
expect_eq "$(jq -c '[.nodes[] | select(.collapsed)] | length' "$WORK/large-open.json")" "5" \
	"the other namespaces still collapsed"
expect_contains "$(jq -r '.view.hash' "$WORK/large-open.json")" "expanded=team-0" \
	"the opened namespace kept in the page's address"
# The address opens them again; an open namespace's box folds back into one node from its panel
# (Kiali's Collapse), and the address forgets it.
expect_eq "$(jq -c '[.nodes[] | select(.collapsed) | .id] | sort' "$WORK/large-fold.json")" \
	'["ns:team-1","ns:team-2","ns:team-3","ns:team-4","ns:team-5"]' \
	"team-0 open from the address, team-3 collapsed again"
expect_eq "$(jq '[.nodes[] | select(.namespace == "team-3" and .kind == "workload")] | length' \
	"$WORK/large-fold.json")" "0" "a namespace collapsed again: its workloads not drawn"
expect_contains "$(jq -r '.view.hash' "$WORK/large-fold.json")" "expanded=team-0" "the address after a collapse"
expect_not_contains "$(jq -r '.view.hash' "$WORK/large-fold.json")" "team-3" "the address after a collapse"
# The same mesh drawn whole when asked (#/graph?collapse=0): every workload and Service, laid out by
# boxes (no layout chosen) with no two namespace or app boxes over each other, fitted in the view,
# no label made at a zoom too small to read one; zoomed in, every label there.
expect_eq "$(jq -c '.consoleErrors' "$WORK/whole.json")" "[]" "errors in the page's console (whole mesh)"
leaves='[.nodes[] | select(.kind == "workload" or .kind == "service")] | length'
expect_eq "$(jq "$leaves" "$WORK/whole.json")" "$(jq "$leaves" "$WORK/mock-graph.json")" \
	"the whole mesh's workloads and Services"
expect_eq "$(jq -c '[.nodes[] | select(.collapsed)] | length' "$WORK/whole.json")" "0" "nothing collapsed"
expect_eq "$(jq -r '.view.layout + " " + .view.menu' "$WORK/whole.json")" "boxes boxes" \
	"the whole mesh's layout, and the menu's"
overlaps() {
	jq --arg k "$1" '[.nodes[] | select(.kind == $k) | .box] as $b | [range(0; $b | length) as $i |
		range($i + 1; $b | length) as $j | select($b[$i].x1 < $b[$j].x2 and $b[$j].x1 < $b[$i].x2 and
		$b[$i].y1 < $b[$j].y2 and $b[$j].y1 < $b[$i].y2)] | length' "$WORK/whole.json"
}
expect_eq "$(overlaps namespace)" "0" "namespace boxes over each other (boxes)"
expect_eq "$(overlaps app)" "0" "app boxes over each other (boxes)"
expect_eq "$(jq '.view as $v | [.nodes[] | select(.box.x1 < 0 or .box.y1 < 0 or .box.x2 > $v.width or
	.box.y2 > $v.height)] | length' "$WORK/whole.json")" "0" "nodes outside the view fitted"
expect_eq "$(jq '[.nodes[], .edges[] | select(.label != "")] | length' "$WORK/whole.json")" "0" \
	"labels made at a zoom too small to read them (zoom $(jq .view.zoom "$WORK/whole.json"))"
expect_eq "$(jq '[.nodes[] | select((.kind == "workload" or .kind == "service") and .label != .name)] |
	length' "$WORK/whole-zoom.json")" "0" "labels of workloads and Services zoomed in"
expect_eq "$(jq '[.edges[] | select(.label == "")] | length' "$WORK/whole-zoom.json")" "0" \
	"edge labels zoomed in"

# --- The Traces view: the trace listed, its waterfall's rows nested and in order, a span's tags.
# And (the probe's second step) a workload's panel links to its traces, by the service name its
# spans carry.
probe "http://127.0.0.1:$dport/#/traces?refresh=5" \
	--trace "$TID" --span "details.default.svc.cluster.local:9080/*" --screenshot "$WORK/traces.png" \
	--timeout 60 --out "$WORK/traces.json" \
	--then "$graph_url" --click wl:default/reviews-v2 --follow-traces --timeout 60 --out "$WORK/follow.json" ||
	fail "the Traces view did not show the trace, or the reviews-v2 panel's Traces link did not open it"
expect_eq "$(jq -c '.consoleErrors' "$WORK/traces.json")" "[]" "errors in the Traces view's console"
jq -e --arg t "$TID" '.traces.list[] | select(.traceID == $t) | .text |
	test("istio-ingressgateway.istio-system: productpage.default.svc.cluster.local:9080/productpage 40.0ms 4 ● 1")' \
	"$WORK/traces.json" >/dev/null || fail "the trace's row in the list: $(jq -c .traces.list "$WORK/traces.json")"
expect_eq "$(jq -c '[.traces.rows[] | [.depth, .service, .name, .error]]' "$WORK/traces.json")" \
	'[[0,"istio-ingressgateway.istio-system","productpage.default.svc.cluster.local:9080/productpage",false],[1,"productpage.default","reviews.default.svc.cluster.local:9080/*",false],[2,"reviews.default","reviews.default.svc.cluster.local:9080/reviews/0",false],[1,"productpage.default","details.default.svc.cluster.local:9080/*",true]]' \
	"the waterfall's rows: nesting, order, the span in error"
# (to 0.1 %: productpage's start came as a JSON number of ns, a double: a µs may be lost)
expect_eq "$(jq -c '[.traces.rows[] | [.left, .width] | map(. * 10 | round / 10)]' "$WORK/traces.json")" \
	'[[0,100],[12.5,62.5],[20,50],[80,15]]' "the bars on the trace's time axis"
expect_contains "$(jq -r '.traces.span' "$WORK/traces.json")" "response_flags	UF" "a span's tags"
expect_contains "$(jq -r '.traces.span' "$WORK/traces.json")" "Parent
00000000000000a1" "a span's parent"
[ -s "$WORK/traces.png" ] || fail "no screenshot of the Traces view"
# The panel's link to the workload's traces.
expect_contains "$(jq -r '.traces.hash' "$WORK/follow.json")" "#/traces?service=reviews.default" \
	"the Traces view the link opened"
jq -e --arg t "$TID" '.traces.list | map(.traceID) | index($t)' "$WORK/follow.json" >/dev/null ||
	fail "the linked view's list: $(jq -c .traces.list "$WORK/follow.json")"

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
# And the configuration view (the probe's second step, checked below).
probe "$graph_url" --wait-edge "wl:default/reviews-v2,svc:default/ratings,http,health=failure" --timeout 60 \
	--screenshot "$WORK/graph-fault.png" --out "$WORK/page.json" \
	--then "http://127.0.0.1:$dport/#/config" --screenshot "$WORK/config.png" --timeout 60 \
	--out "$WORK/config.json" || fail "the page never drew the failing edge, or the config view did not load"
expect_eq "$(pedge wl:default/reviews-v2 svc:default/ratings | jq -r .color)" "#C9190B" \
	"a failing edge's colour"
keep_artifacts "$WORK/graph.png" "$WORK/graph-large.png" "$WORK/graph-whole.png" "$WORK/traces.png" \
	"$WORK/graph-fault.png"

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
# Istio's Gateway and the Gateway API's (the waypoint's) share a kind: the API version tells them.
api config | jq -e '[.objects[] | select(.kind == "Gateway") | [.name, .apiVersion]] |
	index([["bookinfo-gateway", "networking.istio.io/v1"]]) and
	index([["waypoint", "gateway.networking.k8s.io/v1"]])' >/dev/null ||
	fail "the Gateways' API versions: $(api config | jq -c '[.objects[] | select(.kind == "Gateway") | [.name, .apiVersion]]')"
# The config view in the page (read with the failing edge, above).
expect_eq "$(jq -c '[.config[] | select(.[0] == "Gateway")] | sort' "$WORK/config.json")" \
	'[["Gateway","default","bookinfo-gateway","networking.istio.io/v1"],["Gateway","default","waypoint","gateway.networking.k8s.io/v1"]]' \
	"the config view's Gateway rows"
# The gateway's namespace has no Namespace object (local up makes none): out of the mesh, as
# Kiali says it, and no error.
api "workload?namespace=istio-system&name=istio-ingressgateway" | jq -e '.enrolled == false and
	(.enrollment | startswith("out of mesh: namespace istio-system has no Namespace object"))' \
	>/dev/null || fail "the workload of a namespace without its object: $(api \
	'workload?namespace=istio-system&name=istio-ingressgateway' | jq -c '{enrolled, enrollment}')"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$dport$1"; }
expect_eq "$(code '/api/workload?namespace=default&name=Bad%22Name')" 400 "a name PromQL could not quote"
expect_eq "$(code '/api/workload?namespace=default&name=nothing')" 404 "an unknown workload"
expect_eq "$(code '/api/graph?duration=-5')" 400 "a bad duration"
expect_eq "$(code /nothing)" 404 "an unknown path"
pass
