#!/usr/bin/env bash
# Distributed tracing end to end, configured as Istio's tracing tasks do (examples/tracing:
# the mesh config's extensionProviders and a mesh-wide Telemetry) and collected by
# `ambitctl dashboard`, which receives spans inside the cluster. Bookinfo through its
# namespace's waypoint and the ingress gateway; one request followed productpage -> reviews ->
# ratings: every hop's SERVER and CLIENT span in one trace, each span's parent the previous
# hop's client span (the apps pass the context on as Istio asks them to), children inside their
# parents' time, Istio's span names and tags, custom tags of all three kinds; the waypoint's
# spans listed and found under the application's service, as Jaeger lists them. Then: the caller's
# W3C and B3 contexts continued and its sampling decision honoured, OTLP as well as Zipkin,
# the ztunnel's access log carrying the CONNECT's traceparent, Telemetry's access logging
# filter, and spans dropped and counted when the collector is away.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl; need_cmd jq; need_cmd protoc; need_cmd node
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "no headless Chromium at $CHROMIUM (Debian's chromium; make deps)"
[ -d "$REPO/dashboard/node_modules/playwright-core" ] ||
	fail "dashboard/node_modules has no playwright-core (make builds it)"
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null ||
	fail "python3-grpcio and python3-protobuf are needed (make deps)"
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
ISTIO_BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
[ -d "$ISTIO_BOOKINFO/networking" ] || fail "no Istio bookinfo samples in $ISTIO_BOOKINFO"
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
# The OTLP/gRPC collector's messages and script where a pod sees them (not /tmp).
PB=$(mktemp -d /var/tmp/ambit-it-otlp-XXXXXX)
PIDS=
cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$WORK" "$PB"
	on_exit
}
trap cleanup EXIT

apply() { local out; out=$(actl apply "$@" 2>&1) || fail "apply $*: $out"; }
actl apply -f "$REPO/examples/bookinfo-tasks/curl.yaml" >&2 || fail "client pod not applied"
wait_for 60 pod_exec default/curl-0 curl -sf --max-time 5 http://productpage:9080/health ||
	fail "bookinfo never became healthy"
out=$(actl waypoint apply -n default --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n default | grep -Eq '^default +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -n default)"
# reviews v3 (it calls ratings) for every request: the three-hop chain is always there.
apply -f "$ISTIO_BOOKINFO/networking/bookinfo-gateway.yaml"
apply -f "$ISTIO_BOOKINFO/networking/destination-rule-all.yaml"
apply -f "$ISTIO_BOOKINFO/networking/virtual-service-reviews-v3.yaml"

# The collector: the dashboard, receiving inside the cluster at the fabric address; started as
# istioctl's users type it (`istioctl dashboard jaeger`), its URL the Traces view's.
dport=$(free_port)
"$AMBITCTL" dashboard jaeger --name "$CLUSTER" --port "$dport" >"$WORK/dash.out" 2>&1 &
DASH=$!
PIDS="$PIDS $DASH"
api() { curl -sS --max-time 20 "http://127.0.0.1:$dport/api/$1"; }
wait_for 10 api health || fail "the dashboard never answered: $(cat "$WORK/dash.out")"
# It says so right after it listens: the health check above may answer first.
wait_for 10 grep -q "http://127.0.0.1:$dport/#/traces " "$WORK/dash.out" ||
	fail "dashboard jaeger's URL is not the Traces view's: $(cat "$WORK/dash.out")"
wait_for 10 grep -q "10.99.0.1:9411" "$WORK/dash.out" ||
	fail "the dashboard does not receive inside the cluster: $(cat "$WORK/dash.out")"

# Tracing as the example turns it on (OTLP), then Zipkin with custom tags of three kinds.
apply -f "$REPO/examples/tracing/tracing.yaml"
cat >"$WORK/telemetry.yaml" <<'YAML'
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
  - providers:
    - name: zipkin
    randomSamplingPercentage: 100
    customTags:
      team:
        literal:
          value: bookinfo
      user:
        header:
          name: x-user
          defaultValue: nobody
      home:
        environment:
          name: NO_SUCH_VARIABLE_HERE
          defaultValue: unset
YAML
apply -f "$WORK/telemetry.yaml"

# One page with a request id of ours; its trace, once the spans are in.
page() { pod_exec default/curl-0 curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$@" http://productpage:9080/productpage; }
trace_of() { # REQUEST_ID: the trace id of the trace holding that x-request-id
	api "traces?tagKey=guid:x-request-id&tagValue=$1&limit=5" | jq -r '.[0].traceID // empty'
}
spans_of() { api "traces/$1" >"$WORK/trace.json" && jq -e '.spans | length > 0' "$WORK/trace.json" >/dev/null; }
# SERVER spans of the waypoint for HOST (name "<host>:9080/*"), and the three hops all in.
chain_in() {
	local tid
	tid=$(trace_of "$1") && [ -n "$tid" ] && spans_of "$tid" &&
		jq -e '[.spans[] | select(.kind == "server") | .name] as $n |
			["productpage", "reviews", "ratings", "details"] |
			all(. as $s | $n | any(startswith($s + ".default.svc.cluster.local:9080/")))' \
			"$WORK/trace.json" >/dev/null
}
rid=it76-$RANDOM-$RANDOM
# Applying is asynchronous: pages until one carries the context.
page_ok() { [ "$(page)" = 200 ]; }
wait_for 60 page_ok || fail "bookinfo does not answer: $(page)"
for i in $(seq 1 30); do
	[ "$(page -H "x-request-id: $rid-$i" -H 'x-user: jason')" = 200 ] || fail "the page failed"
	if wait_for 5 chain_in "$rid-$i"; then rid=$rid-$i; break; fi
	[ "$i" = 30 ] && fail "no trace with the whole chain: $(api "traces?limit=5")"
done
log "trace $(jq -r '.traceID' "$WORK/trace.json"): $(jq -c '[.spans[] | .name]' "$WORK/trace.json")"

# --- the chain's links: each SERVER span's parent is the CLIENT span of the hop before.
span() { jq -c --arg k "$1" --arg n "$2" '[.spans[] | select(.kind == $k and (.name | test($n)))][0]' "$WORK/trace.json"; }
srv() { span server "^$1[.]default[.]svc[.]cluster[.]local:9080/[*]$"; }
# The router's span to the waypoint's inbound cluster (a subset's: http/v3).
cli() { span client "^router inbound-vip[|]9080[|]http(/v[0-9])?[|]$1[.]default[.]svc[.]cluster[.]local egress$"; }
for s in productpage reviews ratings details; do
	[ "$(srv $s)" != null ] || fail "no server span for $s: $(jq -c '[.spans[] | [.kind, .name]]' "$WORK/trace.json")"
	[ "$(cli $s)" != null ] || fail "no client span for $s: $(jq -c '[.spans[] | [.kind, .name]]' "$WORK/trace.json")"
	# The client span is the server span's child, within it.
	jq -e -n --argjson s "$(srv $s)" --argjson c "$(cli $s)" \
		'$c.parentSpanID == $s.spanID and $c.start >= $s.start and
		 $c.start + $c.duration <= $s.start + $s.duration' >/dev/null ||
		fail "$s: the client span is not the server span's child within it: $(srv $s) $(cli $s)"
done
# productpage's own call to reviews carries the context of the waypoint's client span to it.
link() { # CALLER CALLEE
	jq -e -n --argjson c "$(cli "$1")" --argjson s "$(srv "$2")" \
		'$s.parentSpanID == $c.spanID and $s.start >= $c.start and
		 $s.start + $s.duration <= $c.start + $c.duration' >/dev/null ||
		fail "$2's server span is not a child of $1's client span: $(cli "$1") $(srv "$2")"
}
link productpage reviews
link productpage details
link reviews ratings
# The root: curl sent no context, so productpage's server span starts the trace.
jq -e -n --argjson s "$(srv productpage)" '($s.parentSpanID // "") == ""' >/dev/null ||
	fail "productpage's server span has a parent: $(srv productpage)"

# --- Istio's tags.
tag() { jq -r --arg k "$2" '.tags[] | select(.key == $k) | .value' <<<"$1"; }
s=$(srv reviews)
expect_eq "$(tag "$s" istio.canonical_service)" waypoint
expect_eq "$(tag "$s" istio.namespace)" default
expect_eq "$(tag "$s" istio.mesh_id)" cluster.local
expect_eq "$(tag "$s" http.method)" GET
expect_eq "$(tag "$s" http.url)" "http://reviews:9080/reviews/0"
expect_eq "$(tag "$s" http.status_code)" 200
expect_eq "$(tag "$s" response_flags)" -
expect_eq "$(tag "$s" istio.source_workload)" productpage-v1
expect_eq "$(tag "$s" istio.destination_workload)" reviews-v3
expect_eq "$(tag "$s" upstream_cluster)" "inbound-vip|9080|http/v3|reviews.default.svc.cluster.local"
expect_eq "$(tag "$s" guid:x-request-id)" "$rid"
expect_contains "$(tag "$s" node_id)" "waypoint~"
[ -n "$(tag "$s" peer.address)" ] || fail "no peer.address: $s"
expect_eq "$(tag "$s" team)" bookinfo
expect_eq "$(tag "$s" home)" unset
# The header tag: the client's x-user reached productpage (the apps do not pass it on).
expect_eq "$(tag "$(srv productpage)" user)" jason
expect_eq "$(tag "$s" user)" nobody
# Listed as Jaeger lists it: under the application's service, the waypoint that recorded it kept.
expect_eq "$(jq -r '.service' <<<"$s")" reviews.default
expect_eq "$(jq -r '.proxy' <<<"$s")" waypoint.default

# --- Jaeger's services: the applications' (the waypoint's spans under the Service each served)
# and the waypoint's own name, marked; the trace found by either, its root productpage's.
tid=$(jq -r '.traceID' "$WORK/trace.json")
api traces/services >"$WORK/services.json"
jq -e '[.[] | select(.proxy == false) | .name] as $n |
	["productpage.default", "reviews.default", "ratings.default", "details.default"] |
	all(. as $s | $n | index($s))' "$WORK/services.json" >/dev/null ||
	fail "the applications' services are not listed: $(jq -c '[.[] | [.name, .proxy]]' "$WORK/services.json")"
jq -e '.[] | select(.name == "waypoint.default") | .proxy' "$WORK/services.json" >/dev/null ||
	fail "the waypoint is not listed as a proxy: $(jq -c '[.[] | [.name, .proxy]]' "$WORK/services.json")"
for svc in reviews.default ratings.default waypoint.default; do
	api "traces?service=$svc&limit=1000" | jq -e --arg t "$tid" \
		'.[] | select(.traceID == $t) | .rootService == "productpage.default" and
		 (.services | map(.name) | index("ratings.default"))' >/dev/null ||
		fail "the trace by service $svc: $(api "traces?service=$svc&limit=5" | jq -c '[.[] | {traceID, rootService}]')"
done
# The page: the service menu lists the applications, then the waypoint as one; the trace found by
# reviews.default, its waterfall's rows under the applications' services.
node "$REPO/tests/integration/bin/dashboard_probe.js" \
	"http://127.0.0.1:$dport/#/traces?service=reviews.default&limit=500" --trace "$tid" \
	--span "reviews.default.svc.cluster.local:9080/*" --screenshot "$WORK/traces.png" \
	--timeout 60 >"$WORK/page.json" || fail "the Traces view did not show the trace"
expect_eq "$(jq -c '.consoleErrors' "$WORK/page.json")" "[]" "errors in the Traces view's console"
jq -e '.traces.services | index("reviews.default") as $a | index("waypoint.default (waypoint)") as $b |
	$a != null and $b != null and $a < $b' \
	"$WORK/page.json" >/dev/null || fail "the service menu: $(jq -c '.traces.services' "$WORK/page.json")"
expect_eq "$(jq -c '[.traces.rows[] | select(.name | endswith(":9080/*")) | .service] | sort' "$WORK/page.json")" \
	'["details.default","productpage.default","ratings.default","reviews.default"]' "the waterfall's services"
expect_contains "$(jq -r '.traces.span' "$WORK/page.json" | tr '\n\t' '  ')" "Recorded by waypoint.default" \
	"the span's proxy in its details"

# --- the caller's context: W3C continued (its trace, its span the parent), B3 the same.
tp_trace=4bf92f3577b34da6a3ce929d0e0e47$(printf '%02x' $((RANDOM % 256)))
tp_span=00f067aa0ba902b7
page -H "traceparent: 00-$tp_trace-$tp_span-01" -H "x-request-id: $rid-w3c" >/dev/null
has_trace() { api "traces/$1" >"$WORK/t2.json" && jq -e '.spans | length > 0' "$WORK/t2.json" >/dev/null; }
# (The hops' spans come in batches of their own: waited for until the one looked for is in.)
child_of() { # TRACE SPAN: the trace has one server span whose parent is SPAN
	has_trace "$1" && jq -e --arg p "$2" \
		'[.spans[] | select(.parentSpanID == $p and .kind == "server")] | length == 1' \
		"$WORK/t2.json" >/dev/null
}
wait_for 30 child_of "$tp_trace" "$tp_span" ||
	fail "the caller's W3C trace was not continued: $(cat "$WORK/t2.json")"
b3_trace=$(printf '%016x' $((RANDOM * 65536 + RANDOM)))
page -H "x-b3-traceid: $b3_trace" -H "x-b3-spanid: 00000000000000a1" -H "x-b3-sampled: 1" >/dev/null
wait_for 30 child_of "0000000000000000$b3_trace" 00000000000000a1 ||
	fail "the caller's B3 trace was not continued: $(cat "$WORK/t2.json")"
# Not sampled by the caller: no spans, though the request went through. A sampled request
# after it shows the waypoint's batches went out meanwhile.
page -H "traceparent: 00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-00f067aa0ba902b7-00" >/dev/null
page -H "traceparent: 00-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-00f067aa0ba902b7-01" >/dev/null
wait_for 30 has_trace bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb || fail "the sampled trace never came"
sleep 2 # one more flush period of every worker
has_trace aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa && fail "spans of a trace the caller did not sample"

# --- the ztunnels keep the CONNECT's traceparent in their access logs.
zlogs=$(for n in node1 node2; do actl local logs "$n-ztunnel"; done)
# (The client's ztunnel sent it to the waypoint: its outbound line, when the page's connection
# closed; the waypoint's pooled connections to the pods stay open.)
grep -Eq 'access direction=outbound .* traceparent=00-[0-9a-f]{32}-[0-9a-f]{16}-0[01] ' <<<"$zlogs" ||
	fail "no traceparent in the ztunnels' access logs: $(grep 'access direction=' <<<"$zlogs" | tail -2)"

# --- the gateway's spans, and OTLP: the example's own provider.
cat >"$WORK/otel.yaml" <<'YAML'
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
  - providers:
    - name: otel
    randomSamplingPercentage: 100
YAML
apply -f "$WORK/otel.yaml"
otlp_seen() { # a trace of ours through the gateway: its spans and the waypoint's
	local t
	t=$(printf 'c0ffee%026x' $((RANDOM * 65536 + RANDOM)))
	pod_exec default/curl-0 curl -s -o /dev/null -H "traceparent: 00-$t-00f067aa0ba902b7-01" \
		http://istio-ingressgateway.istio-system/productpage
	wait_for 5 bash -c 'curl -sS "http://127.0.0.1:$1/api/traces/$2" >"$3" &&
		jq -e ".spans | length > 0" "$3" >/dev/null' _ "$dport" "$t" "$WORK/t3.json" || return 1
	# The gateway's spans are in the trace with the waypoint's.
	jq -e '([.spans[].service] | any(. == "istio-ingressgateway.istio-system")) and
		([.spans[].proxy] | any(. == "waypoint.default"))' "$WORK/t3.json" >/dev/null
}
# The spans each proxy made and what became of them, when something is missing.
span_counts() {
	local ip
	for p in default/waypoint-0 istio-system/istio-ingressgateway-0; do
		ip=$(pod_ip "$p")
		printf '%s: %s\n' "$p" "$(pod_exec default/curl-0 curl -s --max-time 5 \
			"http://$ip:15020/stats/prometheus" | grep '^ambit_tracing' | tr '\n' ' ')"
	done
	api traces/stats
}
wait_for 60 otlp_seen || fail "no OTLP trace through the gateway: $(jq -c '[.spans[] | [.service, .name]]' "$WORK/t3.json" 2>/dev/null) $(span_counts)"
accepted=$(api traces/stats | jq -r '.accepted')
[ "${accepted:-0}" -gt 0 ] || fail "the dashboard counted no spans: $(api traces/stats)"

# --- OTLP/gRPC: TraceService/Export to a collector pod (python3-grpcio), outside the mesh.
(cd "$REPO/proto" && find opentelemetry -name '*.proto' -print0 |
	xargs -0 protoc -I . --python_out="$PB") || fail "protoc could not compile proto/"
cp "$REPO/tests/integration/bin/otlp_grpc_collector.py" "$PB/"
chmod -R a+rX "$PB"
actl apply -f - >&2 <<YAML || fail "the OTLP/gRPC collector was not applied"
apiVersion: v1
kind: Namespace
metadata: {name: tracing}
---
apiVersion: v1
kind: Service
metadata: {name: otel-grpc, namespace: tracing}
spec:
  selector: {app: otel-grpc}
  ports: [{name: grpc-otlp, port: 4317}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: otel-grpc, namespace: tracing}
spec:
  replicas: 1
  selector: {matchLabels: {app: otel-grpc}}
  template:
    metadata: {labels: {app: otel-grpc}}
    spec:
      containers:
      - name: collector
        command: ["/usr/bin/python3", "$PB/otlp_grpc_collector.py", "4317", "$PB"]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    extensionProviders:
    - name: otel-grpc
      opentelemetry: {service: otel-grpc.tracing.svc.cluster.local, port: 4317}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - providers: [{name: otel-grpc}]
    randomSamplingPercentage: 100
YAML
wait_log 60 tracing/otel-grpc-0 'serving TraceService/Export' ||
	fail "the OTLP/gRPC collector never ran: $(actl local logs tracing/otel-grpc-0 | tail -5)"
grpc_seen() {
	local t
	t=$(printf 'beef%028x' $((RANDOM * 65536 + RANDOM)))
	page -H "traceparent: 00-$t-00f067aa0ba902b7-01" >/dev/null
	wait_log 5 tracing/otel-grpc-0 "span trace=$t .* service=waypoint.default name=reviews"
}
wait_for 60 grpc_seen || fail "no spans over OTLP/gRPC: $(actl local logs tracing/otel-grpc-0 | tail -3)"
# Back to the example's providers (the dashboard) for what follows.
apply -f "$REPO/examples/tracing/tracing.yaml"

# --- access logging by Telemetry: only failures, then none.
cat >"$WORK/logs.yaml" <<'YAML'
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: errors-only
  namespace: default
spec:
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: Gateway
    name: waypoint
  accessLogging:
  - providers:
    - name: envoy
    filter:
      expression: response.code >= 400
YAML
apply -f "$WORK/logs.yaml"
logged() { actl local logs default/waypoint-0 | grep -c "\"$1\"" || true; }
filtered() {
	local ok=$rid-ok-$RANDOM bad=$rid-bad-$RANDOM
	pod_exec default/curl-0 curl -s -o /dev/null -H "x-request-id: $ok" http://reviews:9080/reviews/0
	pod_exec default/curl-0 curl -s -o /dev/null -H "x-request-id: $bad" http://reviews:9080/nothing-here
	bad_logged() { [ "$(logged "$bad")" -ge 1 ]; }
	wait_for 5 bad_logged || return 1
	[ "$(logged "$ok")" = 0 ]
}
wait_for 60 filtered || fail "the access log filter did not hold: $(actl local logs default/waypoint-0 | tail -3)"

# --- the collector away: spans dropped and counted, requests unharmed.
kill "$DASH"
wait "$DASH" 2>/dev/null
wp_ip=$(pod_ip default/waypoint-0)
dropped() { pod_exec default/curl-0 curl -s --max-time 5 "http://$wp_ip:15020/stats/prometheus" |
	awk '/^ambit_tracing_spans_total\{outcome="dropped"\}/ {print $2}'; }
before=$(dropped)
for i in 1 2 3; do [ "$(page)" = 200 ] || fail "a page failed with the collector away"; done
more_dropped() { [ "$(dropped)" -gt "${before:-0}" ]; }
wait_for 30 more_dropped || fail "no spans counted dropped: $(dropped) (before: $before)"
pass
