#!/usr/bin/env bash
# Local rate limiting on the local cluster, through a waypoint inside the mesh and through the
# ingress gateway from the host. Bookinfo with the default namespace bound to a waypoint:
# Istio's samples/ratelimit/local-rate-limit-service.yaml (an EnvoyFilter, workloadSelector
# app: productpage) applied with one change, its virtual host's port: the sample names
# inbound|http|8000 while bookinfo's productpage listens on 9080 (Istio's own task writes
# 9080). Its descriptor allows 10 /productpage requests a minute: 30 fired at once get exactly
# 10 200s and 20 429s (the buckets are the proxy's, shared by its threads, and the burst takes
# far less than the 60 s fill interval, so there is no tolerance to give), each 429 with Envoy's
# body "local_rate_limited", x-local-rate-limit: true and the x-ratelimit-* headers, logged
# with flag RL and counted in istio_requests_total (response_code 429, response_flags RL).
# Then ambit's own LocalRateLimit at the gateway (selector istio: ingressgateway) with a bucket
# of 5 per client address on /productpage: 15 requests from the host through `local
# port-forward` get exactly 5 through, and a pod, another client, still gets its own 5.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
SAMPLE=$REPO/tests/unit/fixtures/ratelimit/local-rate-limit-service.yaml
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
PF_PID=
trap '[ -n "$PF_PID" ] && kill -INT "$PF_PID" 2>/dev/null; rm -rf "$WORK"; on_exit' EXIT
GWPOD=istio-system/istio-ingressgateway-0

actl apply -f "$REPO/examples/bookinfo-tasks/curl.yaml" >&2 || fail "client pod not applied"
wait_for 30 pod_exec default/curl-0 true || fail "the client pod never ran"
out=$(actl waypoint apply -n default --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n default | grep -Eq '^default +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -n default)"
WPPOD=default/waypoint-0
page() { pod_exec default/curl-0 curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
through_wp() {
	[ "$(page http://productpage:9080/productpage)" = 200 ] &&
		actl local logs $WPPOD | grep -q '"GET /productpage HTTP/1.1" 200'
}
wait_for 60 through_wp || fail "productpage not served through the waypoint: $(actl local logs $WPPOD | tail -3)"

# The version of the configuration a proxy at @ip serves (its admin port).
version_of() { pod_exec default/curl-0 curl -s --max-time 3 "http://$1:15020/snapshot_version"; }
changed() { [ "$(version_of "$1")" != "$2" ]; }
wp_ip=$(pod_ip $WPPOD)
v=$(version_of "$wp_ip")
sed 's/inbound|http|8000/inbound|http|9080/' "$SAMPLE" >"$WORK/ratelimit.yaml"
out=$(actl apply -f "$WORK/ratelimit.yaml" 2>&1) || fail "the sample was refused: $out"
wait_for 30 changed "$wp_ip" "$v" || fail "the waypoint never took the rate limit"

# burst N URL [CURL ARGS]: N requests at once from the client pod, one status per line.
burst() {
	local n=$1 url=$2
	shift 2
	pod_exec default/curl-0 bash -c 'for i in $(seq "$1"); do
		curl -s -o /dev/null -w "%{http_code}\n" --max-time 10 "$2" & done; wait' _ "$n" "$url"
}
codes=$(burst 30 http://productpage:9080/productpage)
expect_eq "$(grep -c '^200$' <<<"$codes")" 10 "requests through the waypoint's bucket of 10"
expect_eq "$(grep -c '^429$' <<<"$codes")" 20 "requests refused with 429"
out=$(pod_exec default/curl-0 curl -s --max-time 10 http://productpage:9080/productpage)
pod_exec default/curl-0 curl -s -D - -o /dev/null --max-time 10 \
	http://productpage:9080/productpage >"$WORK/h"
expect_eq "$out" "local_rate_limited" "the body of a refused request"
expect_contains "$(cat "$WORK/h")" "HTTP/1.1 429" "the status"
expect_contains "$(cat "$WORK/h")" "x-local-rate-limit: true" "the sample's response header"
expect_contains "$(cat "$WORK/h")" "x-ratelimit-limit: 10" "DRAFT_VERSION_03's limit"
expect_contains "$(cat "$WORK/h")" "x-ratelimit-remaining: 0" "DRAFT_VERSION_03's remaining"
# Other paths only take from the whole port's bucket of 100 (10 of it went to /productpage).
expect_eq "$(page http://productpage:9080/api/v1/products)" 200 "a path no descriptor limits"
wait_log 10 $WPPOD '"GET /productpage HTTP/1.1" 429 RL local_rate_limited' ||
	fail "no RL line in the waypoint's access log: $(actl local logs $WPPOD | tail -2)"
wp_metrics=$(pod_exec default/curl-0 curl -s --max-time 5 "http://$wp_ip:15020/metrics")
expect_eq "$(metric_sum "$wp_metrics" istio_requests_total 'reporter="waypoint"' \
	'response_code="429"' 'response_flags="RL"' \
	'destination_service="productpage.default.svc.cluster.local"')" 22 \
	"429s counted by the waypoint (20 in the burst, 2 looked at)"
actl delete -f "$WORK/ratelimit.yaml" >&2 || fail "delete failed"
open_again() { [ "$(page http://productpage:9080/productpage)" = 200 ]; }
wait_for 30 open_again || fail "/productpage still limited once the EnvoyFilter was deleted"

# ---- the ingress gateway, from the host ----
actl apply -f "$REPO/examples/bookinfo-tasks/bookinfo-gateway.yaml" >&2 || fail "gateway not applied"
port=$(free_port)
# Started as the user starts it, so that $! is the port-forward itself (Ctrl-C ends it).
"$AMBITCTL" local port-forward --name "$CLUSTER" -n istio-system svc/istio-ingressgateway \
	"$port:80" >"$WORK/pf.out" 2>&1 &
PF_PID=$!
host_page() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port$1"; }
host_ok() { [ "$(host_page /productpage)" = 200 ]; }
wait_for 60 host_ok || fail "/productpage not served through the gateway: $(cat "$WORK/pf.out")"
gw_ip=$(pod_ip $GWPOD)
v=$(version_of "$gw_ip")
cat >"$WORK/gw-limit.yaml" <<'EOF'
apiVersion: networking.ambit.io/v1alpha1
kind: LocalRateLimit
metadata:
  name: per-client
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  rules:
  - match:
    - uri:
        prefix: /productpage
    clientKey:
      remoteAddress: {}
    maxKeys: 64
    tokenBucket:
      maxTokens: 5
      tokensPerFill: 5
      fillInterval: 60s
EOF
out=$(actl apply -f "$WORK/gw-limit.yaml" 2>&1) || fail "LocalRateLimit refused: $out"
wait_for 30 changed "$gw_ip" "$v" || fail "the gateway never took the LocalRateLimit"
codes=$(for i in $(seq 15); do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "http://127.0.0.1:$port/productpage" &
done; wait)
expect_eq "$(grep -c '^200$' <<<"$codes")" 5 "host requests through its bucket of 5"
expect_eq "$(grep -c '^429$' <<<"$codes")" 10 "host requests refused with 429"
expect_eq "$(curl -s --max-time 10 "http://127.0.0.1:$port/productpage")" local_rate_limited \
	"the body the host gets"
expect_eq "$(curl -s -D - -o /dev/null --max-time 10 "http://127.0.0.1:$port/productpage" |
	grep -ci '^x-local-rate-limit: true')" 1 "ambit's own kind says why"
# Another client address has a bucket of its own.
codes=$(burst 8 http://istio-ingressgateway.istio-system/productpage)
expect_eq "$(grep -c '^200$' <<<"$codes")" 5 "the pod's own bucket of 5"
expect_eq "$(host_page /static/x.css)" 404 "a path the rule does not match is not limited"
gw_metrics=$(pod_exec default/curl-0 curl -s --max-time 5 "http://$gw_ip:15020/stats/prometheus")
expect_eq "$(metric_sum "$gw_metrics" istio_requests_total 'reporter="source"' \
	'response_code="429"' 'response_flags="RL"')" 15 \
	"429s counted by the gateway (10 + 2 from the host, 3 from the pod)"
wait_log 10 $GWPOD '"GET /productpage HTTP/1.1" 429 RL local_rate_limited' ||
	fail "no RL line in the gateway's access log: $(actl local logs $GWPOD | tail -2)"
kill -INT "$PF_PID"
wait "$PF_PID" || fail "the port-forward exited $? after Ctrl-C: $(cat "$WORK/pf.out")"
PF_PID=
pass
