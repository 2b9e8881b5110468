#!/usr/bin/env bash
# The keep-alive race through the local cluster's ingress gateway and a waypoint (issue 41 §2,
# istio/istio#54063, #60767): a server pod (pods/keepalive-close.py) whose port 80 closes a
# keep-alive connection idle for 1 s and whose port 81 reads a connection's second request and
# closes it without a byte of answer (the race, made deterministic). Through the waypoint
# (client-0 to the Service) and through the gateway (a Gateway and a VirtualService to the same
# Service, reached over HBONE): every request on port 81 is answered 200, the second on each
# pooled connection sent again on a new one and counted in
# ambit_waypoint_upstream_rq_retry_stale_total (before: 503 UC, half of them); a request every
# 1.1 s on port 80, both paths at once: no 503. STALE_N requests each (10).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
CLUSTER_INGRESS=1 cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT
GWPOD=istio-system/istio-ingressgateway-0
N=${STALE_N:-10}

actl apply -f - >&2 <<'YAML' || fail "the keep-alive server not applied"
apiVersion: v1
kind: Service
metadata: {name: keepalive, namespace: mesh}
spec:
  selector: {app: keepalive}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: http-race, port: 81, targetPort: 8081}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keepalive, namespace: mesh}
spec:
  replicas: 1
  selector: {matchLabels: {app: keepalive}}
  template:
    metadata: {labels: {app: keepalive, version: v1}}
    spec:
      nodeName: node2
      containers:
      - name: server
        command: ["pods/keepalive-close.py", "8080", "1.0"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: keepalive, namespace: mesh}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: keepalive-gw, namespace: mesh}
spec:
  hosts: ["*"]
  gateways: [keepalive]
  http:
  - match: [{uri: {prefix: /race}}]
    route: [{destination: {host: keepalive.mesh.svc.cluster.local, port: {number: 81}}}]
  - route: [{destination: {host: keepalive.mesh.svc.cluster.local, port: {number: 80}}}]
YAML
mesh_waypoint_up

# CODES URL N INTERVAL: the statuses of N requests from client-0, one per line.
codes() {
	pod_exec mesh/client-0 bash -c 'for i in $(seq '"$2"'); do
		curl -s -o /dev/null -w "%{http_code}\n" --max-time 5 "'"$1"'"; sleep '"$3"'; done'
}
GW=http://istio-ingressgateway.istio-system
up() { [ "$(codes "$1" 1 0)" = 200 ]; }
wait_for 60 up http://keepalive.mesh/ || fail "no answer through the waypoint"
wait_for 60 up $GW/ || fail "no answer through the gateway: $(actl local logs $GWPOD | tail -3)"

# Port 81: the server closes every pooled connection under its second request.
wp_out=$(codes http://keepalive.mesh:81/ "$N" 0 | sort | uniq -c | tr -s ' \n' ' ')
gw_out=$(codes $GW/race "$N" 0 | sort | uniq -c | tr -s ' \n' ' ')
log "port 81 through the waypoint:$wp_out; through the gateway:$gw_out"
expect_eq "$wp_out" " $N 200 " "statuses through the waypoint, connections closed under a request"
expect_eq "$gw_out" " $N 200 " "statuses through the gateway, connections closed under a request"
wp_m=$(pod_exec mesh/waypoint-0 curl -sf --max-time 5 http://127.0.0.1:15020/metrics) ||
	fail "no metrics from the waypoint"
gw_m=$(pod_exec $GWPOD curl -sf --max-time 5 http://127.0.0.1:15020/stats/prometheus) ||
	fail "no metrics from the gateway"
wp_retries=$(metric_sum "$wp_m" ambit_waypoint_upstream_rq_retry_stale_total)
gw_retries=$(metric_sum "$gw_m" ambit_waypoint_upstream_rq_retry_stale_total)
log "requests sent again: waypoint $wp_retries, gateway $gw_retries"
[ "$wp_retries" -ge 1 ] || fail "the waypoint counted no request sent again: $(printf '%s\n' "$wp_m" | grep ambit_waypoint_upstream)"
[ "$gw_retries" -ge 1 ] || fail "the gateway counted no request sent again: $(printf '%s\n' "$gw_m" | grep ambit_waypoint_upstream)"
expect_contains "$wp_m" "# TYPE ambit_waypoint_upstream_cx_stale_total counter" "the waypoint's metrics"

# Port 80: a request every 1.1 s, the server closing idle connections after 1 s; both at once.
codes http://keepalive.mesh/ "$N" 1.1 >"$WORK/wp" &
gwpid=$!
codes $GW/ "$N" 1.1 >"$WORK/gw"
wait $gwpid
wp_out=$(sort "$WORK/wp" | uniq -c | tr -s ' \n' ' ')
gw_out=$(sort "$WORK/gw" | uniq -c | tr -s ' \n' ' ')
log "a request every 1.1 s through the waypoint:$wp_out; through the gateway:$gw_out"
expect_eq "$wp_out" " $N 200 " "statuses through the waypoint, a request every 1.1 s"
expect_eq "$gw_out" " $N 200 " "statuses through the gateway, a request every 1.1 s"
pass
