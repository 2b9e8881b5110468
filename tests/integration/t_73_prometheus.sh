#!/usr/bin/env bash
# `local up --with-prometheus`: Debian's prometheus scraping the cluster as Istio's addon does.
# It answers on the host's loopback at the printed URL; its targets are every ztunnel (pod
# istio-system/ztunnel-<node>, app=ztunnel), the ingress gateway and, once applied, the
# waypoint, found from their prometheus.io annotations and labelled from their pods, following
# pods as they come and go; each node's cAdvisor gives every container's CPU and memory (the
# proxies' named istio-proxy, as Istio's). Traffic through the waypoint shows up as Istio's
# series from the waypoint and both ztunnels; the mesh's recording and alerting rules
# (deploy/observability) load and evaluate, each recording rule producing series. A port
# already taken is refused before anything is made.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl promtool
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT

port=$(free_port)
CLUSTER_INGRESS=1 cluster_up manifests 2 --with-prometheus --prometheus-port "$port" \
	2> >(tee "$WORK/up.log" >&2)
# After cluster_up, whose trap it replaces: the scratch directory goes too.
trap 'rm -rf "$WORK"; on_exit' EXIT
wait_for 5 grep -q "^prometheus: http://127.0.0.1:$port\$" "$WORK/up.log" ||
	fail "local up did not print Prometheus's URL"
prom="http://127.0.0.1:$port"
promtool check rules "$REPO/deploy/observability/rules.yml" >/dev/null ||
	fail "promtool check rules refuses deploy/observability/rules.yml"

# query PROMQL: the result vector as JSON lines.
query() {
	curl -sf --max-time 5 "$prom/api/v1/query" --data-urlencode "query=$1" |
		jq -ce '.status == "success"' >/dev/null || return 1
	curl -sf --max-time 5 "$prom/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result[]'
}
# target_up POD: its target is scraped and healthy.
target_up() {
	curl -sf --max-time 5 "$prom/api/v1/targets" |
		jq -e --arg p "$1" '.data.activeTargets[] | select(.labels.pod == $p and .health == "up")' \
			>/dev/null
}
targets() { curl -sf --max-time 5 "$prom/api/v1/targets" | jq -c '.data.activeTargets[].labels'; }

for pod in ztunnel-node1 ztunnel-node2 istio-ingressgateway-0; do
	wait_for 30 target_up "$pod" || fail "$pod is not scraped: $(targets)"
done
t=$(targets)
# In the IPv6-only pass the nodes and pods have IPv6 alone: the addon's relabelling brackets it.
inst=10.99.0.11:15020
[ "${AMBIT_LOCAL_IP_FAMILY:-}" = ipv6 ] && inst='[fd00:99::11]:15020'
expect_contains "$t" '"app":"ztunnel","instance":"'"$inst"'","job":"kubernetes-pods","namespace":"istio-system","node":"node1","pod":"ztunnel-node1"'
expect_contains "$t" '"app":"istio-ingressgateway"'
expect_contains "$t" '"istio":"ingressgateway"'
# Only annotated pods: the workloads of the manifests carry no prometheus.io/scrape.
expect_not_contains "$t" '"pod":"server-0"'
log "targets: ztunnels and the ingress gateway, labelled from their pods"

# Each node's cAdvisor (the kubelet's /metrics/cadvisor): CPU and memory per container.
cadvisor_up() {
	[ "$(curl -sf --max-time 5 "$prom/api/v1/targets" | jq '[.data.activeTargets[] |
		select(.labels.job == "kubernetes-nodes-cadvisor" and .health == "up")] | length')" = 2 ]
}
wait_for 30 cadvisor_up || fail "the nodes' cAdvisor targets are not up: $(targets)"
has_series() { [ -n "$(query "$1")" ]; }
for q in 'container_memory_working_set_bytes{container="istio-proxy",namespace="istio-system",pod="ztunnel-node1",kubernetes_io_hostname="node1"} > 0' \
	'container_cpu_usage_seconds_total{container="istio-proxy",pod="istio-ingressgateway-0",cpu="total"} > 0' \
	'container_memory_working_set_bytes{container="server",namespace="mesh",pod="server-0"} > 0' \
	'container_memory_working_set_bytes{container="client",namespace="plain",pod="client-0"} > 0'; do
	wait_for 30 has_series "$q" || fail "no cAdvisor series: $q"
done
log "cAdvisor: the proxies' (istio-proxy) and the pods' containers"

# The waypoint becomes a target when applied (the pods file follows the pods).
mesh_waypoint_up
wait_for 30 target_up waypoint-0 || fail "the waypoint is not scraped: $(targets)"
expect_contains "$(targets)" '"gateway_networking_k8s_io_gateway_name":"waypoint"'
for _ in $(seq 30); do pod_exec mesh/client-0 curl -sf -o /dev/null http://server/; done

wait_for 30 has_series 'istio_requests_total{reporter="waypoint",pod="waypoint-0",namespace="mesh",source_workload="client",destination_workload="server",response_code="200"}' ||
	fail "no request series from the waypoint: $(query 'istio_requests_total')"
wait_for 30 has_series 'istio_tcp_connections_opened_total{app="ztunnel",reporter="source",node="node1",source_workload="client"}' ||
	fail "no source-side TCP series from node1's ztunnel: $(query 'istio_tcp_connections_opened_total')"
wait_for 30 has_series 'istio_tcp_connections_opened_total{app="ztunnel",reporter="destination",node="node2",destination_workload="server"}' ||
	fail "no destination-side TCP series from node2's ztunnel"
wait_for 30 has_series 'ambit_connections_open{app="ztunnel"}' || fail "no ztunnel gauges"
# Scraped every 5 s: the count reaches the 30 requests sent (and those of mesh_waypoint_up).
counted() {
	n=$(query 'sum(istio_requests_total{reporter="waypoint",source_workload="client",response_code="200"})' |
		jq -r '.value[1]')
	[ "${n:-0}" -ge 30 ]
}
wait_for 30 counted || fail "the waypoint counted $n requests, want >= 30"
log "series: the waypoint's requests ($n), both ztunnels' connections"

# The rules: loaded, evaluated without error, and every recording rule has series.
rules_ok() {
	curl -sf --max-time 5 "$prom/api/v1/rules" | jq -e '
		[.data.groups[].rules[]] | length > 0 and all(.health == "ok")' >/dev/null
}
wait_for 30 rules_ok || fail "rules unhealthy: $(curl -s "$prom/api/v1/rules" |
	jq -c '[.data.groups[].rules[] | select(.health != "ok") | {name, lastError}]')"
ngroups=$(curl -sf "$prom/api/v1/rules" | jq '.data.groups | length')
[ "$ngroups" -eq 3 ] || fail "want 3 rule groups, got $ngroups"
for rec in $(curl -sf "$prom/api/v1/rules" | jq -r '.data.groups[].rules[] | select(.type == "recording") | .name'); do
	wait_for 30 has_series "$rec" || fail "recording rule $rec has no series"
done
nalerts=$(curl -sf "$prom/api/v1/rules" | jq '[.data.groups[].rules[] | select(.type == "alerting")] | length')
firing=$(curl -sf "$prom/api/v1/alerts" | jq -c '[.data.alerts[] | select(.state == "firing") | .labels.alertname]')
expect_eq "$firing" "[]"
log "rules: every recording rule has series, $nalerts alerts evaluated, none firing"

# The waypoint gone, its target goes.
out=$(actl waypoint delete -n mesh waypoint 2>&1) || fail "waypoint delete: $out"
gone() { ! targets | grep -q '"pod":"waypoint-0"'; }
wait_for 30 gone || fail "the deleted waypoint is still a target"

# A port in use is refused before the host is touched.
if out=$("$AMBITCTL" local up -f "$LIB_DIR/manifests" --name "${CLUSTER}b" --with-prometheus \
	--prometheus-port "$port" 2>&1); then
	"$AMBITCTL" local down --name "${CLUSTER}b" >/dev/null 2>&1
	fail "a second cluster took port $port"
fi
expect_contains "$out" "--prometheus-port $port: 127.0.0.1:$port: Address already in use"
[ ! -e "/run/ambit/${CLUSTER}b" ] || fail "the refused cluster left /run/ambit/${CLUSTER}b"
pass
