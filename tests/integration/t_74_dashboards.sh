#!/usr/bin/env bash
# Istio's own Grafana dashboards (mesh, service, workload, ztunnel, performance), unchanged,
# on ambit: bookinfo behind a waypoint and the ingress gateway, with the traffic a cluster has
# (mesh clients, a plaintext client from a namespace outside the mesh, the gateway to bookinfo
# and to a service outside the mesh), scraped by `local up --with-prometheus`. Every PromQL
# expression of every dashboard is evaluated with its template variables set as Grafana offers
# them (tests/integration/bin/dashboards_eval.py): each must parse, and return series unless
# deploy/observability/istio-dashboards-exempt.tsv says why it cannot on ambit.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl python3
# Istio's dashboards, verbatim (test data beside the repository, not shipped in it).
DASHBOARDS=${ISTIO_DASHBOARDS:-}
for d in "$REPO/../shared/istio/dashboards" /work/shared/istio/dashboards; do
	[ -z "$DASHBOARDS" ] && [ -d "$d" ] && DASHBOARDS=$d
done
ls "$DASHBOARDS"/*.json >/dev/null 2>&1 ||
	fail "Istio's dashboards are not in ../shared or /work/shared (ISTIO_DASHBOARDS)"

port=$(free_port)
prom="http://127.0.0.1:$port"
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo" 2 --with-prometheus --prometheus-port "$port"
traffic_pid=
trap '[ -n "$traffic_pid" ] && kill "$traffic_pid" 2>/dev/null; on_exit' EXIT
tasks=$REPO/examples/bookinfo-tasks
actl apply -f "$tasks/curl.yaml" -f "$tasks/bookinfo-gateway.yaml" >&2 || fail "apply bookinfo's client and gateway"
# Outside the mesh: a client, and a web server the gateway also routes to (legacy.example.com).
actl apply -f - >&2 <<'YAML' || fail "apply the legacy namespace"
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl, namespace: legacy}
spec:
  selector: {matchLabels: {app: curl}}
  template:
    metadata: {labels: {app: curl}}
    spec:
      containers: [{name: curl, image: curl, command: ["sleep", "infinity"]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: legacy}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: python
        command: ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/usr/share/doc"]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: legacy}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: legacy-web, namespace: legacy}
spec:
  hosts: [legacy.example.com]
  gateways: [default/bookinfo-gateway]
  http:
  - route: [{destination: {host: web.legacy.svc.cluster.local, port: {number: 80}}}]
YAML
wait_for 60 pod_exec default/curl-0 curl -sf --max-time 2 -o /dev/null http://productpage:9080/productpage ||
	fail "productpage never answered"
out=$(actl waypoint apply -n default --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n default | grep -Eq '^default +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran"
gw="http://istio-ingressgateway.istio-system"
wait_for 60 pod_exec legacy/curl-0 curl -sf --max-time 2 -o /dev/null -H 'Host: legacy.example.com' "$gw/" ||
	fail "the gateway never routed legacy.example.com"

# The traffic, until the test ends (the trap stops it; it stops itself when the cluster
# goes): every path the panels look at.
(
	while [ -e "/run/ambit/$CLUSTER" ]; do
		pod_exec default/curl-0 curl -s -o /dev/null --max-time 5 http://productpage:9080/productpage
		pod_exec default/curl-0 curl -s -o /dev/null --max-time 5 "$gw/productpage"
		pod_exec legacy/curl-0 curl -s -o /dev/null --max-time 5 "$gw/productpage"
		pod_exec legacy/curl-0 curl -s -o /dev/null --max-time 5 http://productpage.default:9080/productpage
		pod_exec legacy/curl-0 curl -s -o /dev/null --max-time 5 -H 'Host: legacy.example.com' "$gw/"
	done
) >/dev/null 2>&1 &
traffic_pid=$!

# Every series the dashboards' variables and rates need, twice scraped within the minute.
has() {
	curl -sf --max-time 5 "$prom/api/v1/query" --data-urlencode "query=$1" |
		jq -e '.data.result | length > 0' >/dev/null
}
for q in 'rate(istio_requests_total{reporter="waypoint",destination_workload="ratings-v1"}[1m]) > 0' \
	'rate(istio_requests_total{reporter="source",source_workload="istio-ingressgateway",destination_principal="unknown"}[1m]) > 0' \
	'rate(istio_tcp_sent_bytes_total{reporter="destination",connection_security_policy!="mutual_tls"}[1m]) > 0' \
	'rate(istio_tcp_sent_bytes_total{reporter="source",destination_workload="istio-ingressgateway"}[1m]) > 0' \
	'rate(istio_dns_requests_total{pod=~"ztunnel-.*"}[1m]) > 0'; do
	wait_for 60 has "$q" || fail "no series yet for: $q"
done
# The proxies' CPU from each node's cAdvisor, twice scraped within the minute (the
# performance dashboard's rates); if never, which scrape failed and why.
for q in 'rate(container_cpu_usage_seconds_total{pod=~"istio-ingressgateway-.*",container="istio-proxy"}[1m])' \
	'rate(container_cpu_usage_seconds_total{namespace!="istio-system",container="istio-proxy"}[1m])'; do
	wait_for 60 has "$q" || fail "no series yet for: $q; targets: $(curl -s --max-time 5 "$prom/api/v1/targets" |
		jq -c '[.data.activeTargets[] | {job: .labels.job, url: .scrapeUrl, health, lastError, lastScrapeDuration}]')"
done
out=$(python3 "$REPO/tests/integration/bin/dashboards_eval.py" "$prom" \
	"$REPO/deploy/observability/istio-dashboards-exempt.tsv" "$DASHBOARDS"/*.json) ||
	fail "dashboards: $(printf '%s\n' "$out" | grep -A1 '^FAIL' | head -40)"
printf '%s\n' "$out" | grep -E '^(==|exempt|dashboards:)' >&2
expect_contains "$out" "0 failed"
pass
