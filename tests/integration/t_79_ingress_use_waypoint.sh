#!/usr/bin/env bash
# istio.io/ingress-use-waypoint: bookinfo with a waypoint bound to reviews and productpage, the
# ingress gateway with Istio's bookinfo-gateway.yaml unchanged. productpage labelled
# ingress-use-waypoint: the gateway sends its requests to the waypoint (HBONE to its instance,
# :authority productpage's VIP:9080, the waypoint's identity checked), so an
# AuthorizationPolicy at the waypoint (targetRefs the Service; L7: path and header) denies a
# request through the gateway with the waypoint's 403, logged by both proxies, each naming the
# other in its metrics. Without the label the same request goes straight to productpage's pod
# (200), the waypoint never seeing it.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
ISTIO_BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
NET=$ISTIO_BOOKINFO/networking
[ -f "$NET/bookinfo-gateway.yaml" ] || fail "no Istio bookinfo samples in $ISTIO_BOOKINFO"
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT
GWPOD=istio-system/istio-ingressgateway-0
WPPOD=default/waypoint-0

actl apply -f "$REPO/examples/bookinfo-tasks/curl.yaml" >&2 || fail "client pod not applied"
wait_for 30 pod_exec default/curl-0 true || fail "the client pod never ran"
actl apply -f "$NET/bookinfo-gateway.yaml" >&2 || fail "bookinfo-gateway.yaml not applied"

# Through the gateway's Service from the client pod: the status.
via_gw() { # PATH [CURL ARGS...]
	local path=$1
	shift
	pod_exec default/curl-0 curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$@" \
		"http://istio-ingressgateway.istio-system${path}"
}
status_is() { [ "$(via_gw "$@" 2>/dev/null)" = "$WANT" ]; }
WANT=200 wait_for 60 status_is /productpage ||
	fail "/productpage never answered through the gateway: $(actl local logs $GWPOD | tail -3)"

# The waypoint (for services), bound to reviews and productpage by their own labels.
out=$(actl waypoint apply -n default 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n default | grep -Eq '^default +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -n default)"
services() { # PRODUCTPAGE-EXTRA-LABELS
	cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: default
  labels: {app: reviews, service: reviews, istio.io/use-waypoint: waypoint}
spec:
  ports: [{port: 9080, name: http}]
  selector: {app: reviews}
---
apiVersion: v1
kind: Service
metadata:
  name: productpage
  namespace: default
  labels: {app: productpage, service: productpage, istio.io/use-waypoint: waypoint$1}
spec:
  ports: [{port: 9080, name: http}]
  selector: {app: productpage}
EOF
}
services ', istio.io/ingress-use-waypoint: "true"' >"$WORK/svc-wp.yaml"
services '' >"$WORK/svc-direct.yaml"
actl apply -f "$WORK/svc-wp.yaml" >&2 || fail "labelled Services not applied"

cat >"$WORK/deny.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: productpage-block
  namespace: default
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: productpage
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/productpage"]
    when:
    - key: request.headers[x-block]
      values: ["yes"]
EOF
actl apply -f "$WORK/deny.yaml" >&2 || fail "policy not applied"

# 1. With ingress-use-waypoint: the waypoint answers for productpage.
id="it79w-$RANDOM"
WANT=403 wait_for 30 status_is /productpage -H 'x-block: yes' ||
	fail "the waypoint's policy never applied through the gateway: $(via_gw /productpage -H 'x-block: yes'); $(actl local logs $GWPOD | tail -3)"
expect_eq "$(via_gw /productpage -H 'x-block: yes' -A "$id")" 403 "a blocked request"
wait_log 10 $WPPOD "\"GET /productpage HTTP/1.1\" 403 .*\"$id\"" ||
	fail "the waypoint did not log the denial: $(actl local logs $WPPOD | tail -3)"
wait_log 10 $GWPOD "\"GET /productpage HTTP/1.1\" 403 .*\"$id\"" ||
	fail "the gateway did not log the denial: $(actl local logs $GWPOD | tail -3)"
ok="it79w-ok-$RANDOM"
expect_eq "$(via_gw /productpage -A "$ok")" 200 "an unblocked request through the waypoint"
wait_log 10 $WPPOD "\"GET /productpage HTTP/1.1\" 200 .*\"$ok\"" ||
	fail "the waypoint did not log the request it passed: $(actl local logs $WPPOD | tail -3)"

# The gateway's upstream is productpage's VIP (the authority it sent); the waypoint's line
# names the service it served.
gwline=$(actl local logs $GWPOD | grep -- "\"$ok\"" | tail -1)
vip=$(actl services 2>/dev/null | awk '$1 == "default" && $2 == "productpage" { print $3; exit }')
[ -n "$vip" ] || fail "no VIP for productpage: $(actl services)"
expect_contains "$gwline" "$vip:9080" "the gateway's upstream host (productpage's VIP)"
wpline=$(actl local logs $WPPOD | grep -- "\"$ok\"" | tail -1)
expect_contains "$wpline" "productpage.default.svc.cluster.local" "the waypoint's line"

# Each proxy's metrics name the other: the gateway's destination is the waypoint (its
# identity, productpage the service); the waypoint's source is the gateway.
ip_of() { actl local status 2>/dev/null | awk -v p="$1" '$1 == p { print $3; exit }'; }
gw_ip=$(ip_of $GWPOD)
wp_ip=$(ip_of $WPPOD)
[ -n "$gw_ip" ] && [ -n "$wp_ip" ] || fail "no addresses: $(actl local status)"
gm=$(pod_exec default/curl-0 curl -sS --max-time 5 "http://$gw_ip:15020/stats/prometheus")
expect_contains "$(grep '^istio_requests_total{' <<<"$gm" | grep 'response_code="403"')" \
	'destination_principal="spiffe://cluster.local/ns/default/sa/waypoint"' \
	"the gateway's metric for the denied request"
expect_contains "$(grep '^istio_requests_total{' <<<"$gm" | grep 'response_code="403"')" \
	'destination_service="productpage.default.svc.cluster.local"' "the gateway's destination service"
wm=$(pod_exec default/curl-0 curl -sS --max-time 5 "http://$wp_ip:15020/stats/prometheus")
expect_contains "$(grep '^istio_requests_total{' <<<"$wm" | grep 'response_code="403"')" \
	'source_principal="spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"' \
	"the waypoint's metric for the denied request"
expect_contains "$(grep '^istio_requests_total{' <<<"$wm" | grep 'response_code="403"')" \
	'source_workload_namespace="istio-system"' "the waypoint's source namespace"
# The gateway says who it is in its CONNECT's baggage, as a ztunnel does of its pods.
expect_contains "$(grep '^istio_requests_total{' <<<"$wm" | grep 'response_code="403"')" \
	'source_workload="istio-ingressgateway"' "the waypoint's source workload"
expect_contains "$(grep '^istio_requests_total{' <<<"$wm" | grep 'response_code="403"')" \
	'source_canonical_service="istio-ingressgateway"' "the waypoint's source canonical service"
log "through the waypoint: 403 for x-block, 200 without; gateway -> $vip:9080"

# 2. Without the label: the gateway goes to productpage's pod; the policy is not on the path.
actl apply -f "$WORK/svc-direct.yaml" >&2 || fail "unlabelled Service not applied"
WANT=200 wait_for 30 status_is /productpage -H 'x-block: yes' ||
	fail "without ingress-use-waypoint the request still went through the waypoint"
direct="it79d-$RANDOM"
expect_eq "$(via_gw /productpage -H 'x-block: yes' -A "$direct")" 200 "direct"
wait_log 10 $GWPOD "\"GET /productpage HTTP/1.1\" 200 .*\"$direct\"" ||
	fail "the gateway did not log the direct request"
gwline=$(actl local logs $GWPOD | grep -- "\"$direct\"" | tail -1)
case $gwline in *"$vip:9080"*) fail "the direct request went to the VIP: $gwline" ;; esac
# (productpage passes the user agent on to reviews, which the waypoint serves: not /productpage)
actl local logs $WPPOD | grep -q -- "\"GET /productpage HTTP/1.1\".*\"$direct\"" &&
	fail "the waypoint saw the direct request"

# 3. Labelled again, on the namespace this time (the Service has no label of its own).
actl label namespace default istio.io/ingress-use-waypoint=true >&2 || fail "namespace label"
WANT=403 wait_for 30 status_is /productpage -H 'x-block: yes' ||
	fail "the namespace's ingress-use-waypoint never applied"
actl label namespace default istio.io/ingress-use-waypoint- >&2 || fail "namespace label removal"
WANT=200 wait_for 30 status_is /productpage -H 'x-block: yes' ||
	fail "the namespace's label removed, the request still goes through the waypoint"
log "direct without the label (200), through the waypoint with the namespace's label (403)"
