#!/usr/bin/env bash
# The waypoint's resilience features through a real waypoint on the local cluster, as the Istio
# tasks show them (API_SEMANTICS.md §1.3, §2, §9): retries counted at the backend, circuit
# breaking (UO in the access log and istio_requests_total), outlier ejection, mirroring (the
# shadow's Host), header operations, rewrite, redirect, a websocket through it; route changes and
# a waypoint restart (SIGTERM) under load without a failed request; a workload waypoint getting
# the traffic addressed to its pod alone (not what it answers: see step 7); and the destination ztunnel refusing a CONNECT that
# bypasses a pod's workload waypoint while a pod with only a service waypoint stays reachable
# directly. Backends and clients: tests/integration/manifests-resil/pods/resil-{backend,client}.py.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl python3 openssl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
[ -x "$REPO/build/hbone-probe" ] || fail "build/hbone-probe is not built"
cluster_up manifests-resil
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT
# The helpers live in the manifests directory, the one a pod (and an exec into it) sees.
CLIENT=(python3 pods/resil-client.py)
PODS=/run/ambit/$CLUSTER/pods

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered before the waypoint"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://one/ || fail "one never answered"
out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"
wp_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -n mesh)"
wp_ip=$(pod_ip mesh/waypoint-0)
via_wp() { pod_exec mesh/client-0 curl -sf --max-time 3 http://one/ | grep -q "from=$wp_ip"; }
wait_for 30 via_wp || fail "no answer through the waypoint: $(actl local logs mesh/waypoint-0 | tail -5)"

# reqs POD REGEX: how many requests matching REGEX reached POD (its REQ lines).
# Not anchored: the backend's stderr (a reset client's traceback) may share a line with a REQ.
reqs() { actl local logs "$1" | grep -Eo -- "REQ GET $2" | wc -l; }
# code URL [CURL ARGS]: the status the client gets.
code() {
	local url=$1
	shift
	pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url"
}

cat >"$WORK/l7.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: one, namespace: mesh}
spec:
  host: one
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: od, namespace: mesh}
spec:
  host: od
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: server, namespace: mesh}
spec:
  host: server
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: one, namespace: mesh}
spec:
  hosts: [one]
  http:
  - match: [{uri: {prefix: /moved}}]
    redirect: {uri: /new-home, authority: elsewhere.example}
  - match: [{uri: {prefix: /old}}]
    rewrite: {uri: /new}
    route: [{destination: {host: one}}]
  - match: [{uri: {prefix: /once}}]
    route: [{destination: {host: one}}]
    retries: {attempts: 1, retryOn: 5xx}
  - route: [{destination: {host: one}}]
    retries: {attempts: 3, retryOn: 5xx}
    headers:
      request:
        set: {x-set: by-waypoint}
        add: {x-add: added}
        remove: [x-drop]
      response:
        set: {x-resp: from-waypoint}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: server, namespace: mesh}
spec:
  hosts: [server]
  http:
  - route: [{destination: {host: server, subset: v1}, weight: 100}]
    mirror: {host: server, subset: v2}
    mirrorPercentage: {value: 100}
YAML
out=$(actl apply -f "$WORK/l7.yaml" 2>&1) || fail "apply: $out"
redirected() { [ "$(code http://one/moved/x)" = 301 ]; }
wait_for 30 redirected || fail "the VirtualService never applied"

log "1. retries: 503 twice then 200 with attempts 3; always 503 with attempts 1"
expect_eq "$(code 'http://one/flaky/r1?fail=2')" 200 "attempts 3 against two 503s"
expect_eq "$(reqs mesh/one-0 '/flaky/r1\?')" 3 "tries the backend saw (1 + 2 retries)"
expect_eq "$(code 'http://one/once?status=503')" 503 "attempts 1 against an always-503"
expect_eq "$(reqs mesh/one-0 '/once\?status=503')" 2 "tries the backend saw (1 + 1 retry)"

log "2. circuit breaking: 20 concurrent requests, 1 connection, 1 pending"
out=$(pod_exec mesh/client-0 "${CLIENT[@]}" burst 'http://one/slow?ms=500' 20) || fail "burst: $out"
log "burst: $out"
expect_contains "$out" "200=" "some requests pass the breaker"
expect_contains "$out" "503=" "some requests overflow"
wait_log 10 mesh/waypoint-0 '"GET /slow\?ms=500 HTTP/1.1" 503 UO upstream_reset_before_response_started\{overflow\}' ||
	fail "no UO line in the waypoint's access log"
m=$(pod_exec mesh/waypoint-0 curl -sf --max-time 3 http://127.0.0.1:15020/stats/prometheus) ||
	fail "the waypoint's metrics"
n503=$(metric_sum "$m" istio_requests_total 'response_flags="UO"' 'response_code="503"' \
	'destination_service="one.mesh.svc.cluster.local"')
[ "$n503" -ge 1 ] || fail "istio_requests_total{response_flags=\"UO\"} is $n503"
expect_contains "$out" "503=$n503" "the metric counts every overflow"

log "3. outlier detection: the endpoint answering 500 is ejected"
for i in $(seq 6); do code http://od/ >/dev/null; done
[ "$(reqs mesh/od-bad-0 /)" -ge 1 ] || fail "the failing endpoint was never tried"
bad=$(reqs mesh/od-bad-0 /)
for i in $(seq 10); do
	out=$(pod_exec mesh/client-0 curl -s --max-time 5 http://od/) || fail "od request $i"
	expect_contains "$out" "pod=mesh/od-good-0" "request $i after the ejection"
done
expect_eq "$(reqs mesh/od-bad-0 /)" "$bad" "requests to the ejected endpoint"

log "4. mirroring: v1 answers, v2 gets the copies (Host with -shadow)"
for i in 1 2 3 4 5; do
	out=$(pod_exec mesh/client-0 curl -s --max-time 5 "http://server/m$i") || fail "mirror $i"
	expect_contains "$out" "pod=mesh/server-v1-0" "the client's answer"
done
mirrored() { [ "$(actl local logs mesh/server-v2-0 | grep -Ec '^REQ GET /m[1-5] host=server-shadow ')" = 5 ]; }
wait_for 10 mirrored || fail "v2 saw: $(actl local logs mesh/server-v2-0 | grep '^REQ' | tail -5)"
expect_eq "$(reqs mesh/server-v1-0 '/m[1-5] ')" 5 "v1 requests"

log "5. header operations, rewrite, redirect"
out=$(pod_exec mesh/client-0 curl -si --max-time 5 -H 'x-drop: secret' -H 'x-set: client' \
	-H 'x-add: mine' http://one/hdr) || fail "headers request"
expect_contains "$out" "h:x-set=by-waypoint" "request set"
expect_not_contains "$out" "h:x-set=client" "request set overwrites"
expect_contains "$out" "h:x-add=mine" "request add keeps the client's"
expect_contains "$out" "h:x-add=added" "request add"
expect_not_contains "$out" "x-drop" "request remove"
expect_contains "$out" "x-resp: from-waypoint" "response set"
out=$(pod_exec mesh/client-0 curl -s --max-time 5 http://one/old/page) || fail "rewrite"
expect_contains "$out" "path=/new/page" "prefix rewrite"
out=$(pod_exec mesh/client-0 curl -si --max-time 5 http://one/moved/x) || fail "redirect"
expect_contains "$out" "HTTP/1.1 301" "redirect code"
expect_contains "$out" "location: http://elsewhere.example/new-home" "redirect Location"

log "   websocket through the waypoint"
out=$(pod_exec mesh/client-0 "${CLIENT[@]}" ws http://one/ws hello) || fail "websocket: $out"
expect_contains "$out" "HTTP/1.1 101" "upgrade answered"
expect_contains "$out" "echo from mesh/one-0: hello" "the echoed frame"

# load_start NAME URL [--keepalive]: a client loop of at least 300 requests in the background (its
# pid in LOAD_PID), on until load_check.
STOP=$PODS/mesh_client-0/stop-load
load_start() {
	local name=$1 url=$2
	shift 2
	rm -f "$STOP"
	pod_exec mesh/client-0 "${CLIENT[@]}" load "$url" 300 --until "$STOP" "$@" >"$WORK/$name.out" 2>&1 &
	LOAD_PID=$!
}
# load_check NAME PID: stops the loops, waits for PID, fails on any failed request.
load_check() {
	touch "$STOP"
	wait "$2"
	local out
	out=$(cat "$WORK/$1.out")
	log "$1: $(head -1 <<<"$out")"
	case $out in ok=*" failed=0 "*) ;; *) fail "$1: $out" ;; esac
	[ "$(cut -d' ' -f1 <<<"$out" | cut -d= -f2)" -ge 300 ] || fail "$1: fewer than 300 requests"
}

log "6. weights flipped under load"
weights() {
	cat >"$WORK/w.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: server, namespace: mesh}
spec:
  hosts: [server]
  http:
  - route:
    - {destination: {host: server, subset: v1}, weight: $1}
    - {destination: {host: server, subset: v2}, weight: $2}
YAML
	actl apply -f "$WORK/w.yaml" >/dev/null 2>&1 || fail "apply weights $1/$2"
}
load_start flip-keepalive http://server/ --keepalive
ka=$LOAD_PID
load_start flip-new-conns http://server/
nk=$LOAD_PID
for w in "0 100" "100 0" "50 50" "0 100" "100 0" "0 100"; do
	weights $w
	sleep 0.3
done
load_check flip-keepalive "$ka"
load_check flip-new-conns "$nk"
for f in flip-keepalive flip-new-conns; do
	expect_contains "$(head -1 "$WORK/$f.out")" "mesh/server-v1-0=" "$f: v1 answered"
	expect_contains "$(head -1 "$WORK/$f.out")" "mesh/server-v2-0=" "$f: v2 answered"
done

log "   the waypoint restarted (SIGTERM) under load"
pidf=$PODS/mesh_waypoint-0.pid
old=$(cat "$pidf")
load_start restart-keepalive http://server/ --keepalive
ka=$LOAD_PID
load_start restart-new-conns http://server/
nk=$LOAD_PID
sleep 1
kill -0 "$ka" "$nk" 2>/dev/null || fail "the load ended before the restart"
kill -TERM "$old" || fail "signal the waypoint"
restarted() { [ "$(cat "$pidf")" != "$old" ] && wp_ready; }
wait_for 30 restarted || fail "the waypoint did not come back: $(actl local status | grep waypoint)"
# The new instance's counters start at 0: both loops go on through it before they stop.
served_new() {
	local m
	m=$(pod_exec mesh/waypoint-0 curl -sf --max-time 3 http://127.0.0.1:15020/stats/prometheus) &&
		[ "$(metric_sum "$m" istio_requests_total 'response_code="200"' \
			'destination_service="server.mesh.svc.cluster.local"')" -ge 50 ]
}
wait_for 30 served_new || fail "the new instance carried no load"
load_check restart-keepalive "$ka"
load_check restart-new-conns "$nk"

log "7. a workload waypoint takes the traffic addressed to its pod"
out=$(actl waypoint apply -n mesh --name wlwp --for workload 2>&1) || fail "apply wlwp: $out"
wl_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +wlwp +workload .* 1 +True$'; }
wait_for 60 wl_ready || fail "wlwp never ran: $(actl waypoint list -n mesh)"
wlwp_ip=$(pod_ip mesh/wlwp-0)
cat >"$WORK/wl.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: wl, namespace: mesh}
spec:
  replicas: 1
  selector: {matchLabels: {app: wl, version: v1}}
  template:
    metadata:
      labels: {app: wl, version: v1, istio.io/use-waypoint: wlwp}
    spec:
      serviceAccountName: server
      nodeName: node2
      containers:
      - name: server
        image: python
        command: ["python3", "pods/resil-backend.py", "--version", "v1"]
        ports: [{containerPort: 8080}]
YAML
out=$(actl apply -f "$WORK/wl.yaml" 2>&1) || fail "label the wl pod: $out"
wl_ip=$(pod_ip mesh/wl-0)
# The ztunnels send what is addressed to the pod to wlwp, which sends it on to the pod (the
# pod sees wlwp as its client) and logs it against the pod's own cluster.
to_wlwp() {
	out=$(pod_exec mesh/client-0 curl -s --max-time 3 "http://$wl_ip:8080/wl") &&
		[[ $out == *"from=$wlwp_ip"* ]]
}
wait_for 30 to_wlwp || fail "traffic to the pod's address never came through wlwp: $out"
expect_contains "$out" "version=v1" "the pod answered"
line=$(actl local logs mesh/wlwp-0 | grep "\"GET /wl HTTP/1.1\" 200 " | tail -n 1)
expect_contains "$line" "\"$wl_ip:8080\"" "wlwp's log names the pod's address"
expect_contains "$line" "inbound-pod|8080|http|$wl_ip" "wlwp's log names the pod's cluster"
# Its metrics: the pod as destination workload, no destination Service.
all=$(pod_exec mesh/wlwp-0 curl -sf --max-time 3 http://127.0.0.1:15020/stats/prometheus)
m=$(grep '^istio_requests_total{' <<<"$all" | grep 'destination_workload="wl"')
[ -n "$m" ] || fail "wlwp's metrics have no request to wl: $(grep '^istio_requests_total' <<<"$all")"
expect_contains "$m" 'destination_service="unknown"' "a pod-addressed request names no Service"
expect_contains "$m" 'response_code="200"' "wlwp counted the pod's answer"
# A port the pod does not declare has no cluster at wlwp: Envoy's 503 NC (cluster_not_found).
code=$(pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$wl_ip:8081/x")
expect_eq "$code" "503" "a port wl-0 does not declare"
actl local logs mesh/wlwp-0 | grep -q '"GET /x HTTP/1.1" 503 NC cluster_not_found' ||
	fail "wlwp did not log the undeclared port's 503 NC"
out=$(pod_exec mesh/client-0 curl -s --max-time 5 http://one/not-wl) || fail "one via its Service"
expect_contains "$out" "from=$wp_ip" "the Service's traffic goes through the service waypoint"
# wl-0's own Service: its service waypoint, not wlwp again (§9).
out=$(pod_exec mesh/client-0 curl -s --max-time 5 http://wl/svc-wl) || fail "wl via its Service"
expect_contains "$out" "from=$wp_ip" "the bound pod's Service goes through the service waypoint"
actl local logs mesh/wlwp-0 | grep -Eq '/not-wl|/svc-wl' && fail "wlwp saw traffic addressed to a Service"

log "8. bypass: a CONNECT to a pod around its workload waypoint is refused (§9)"
# Addressed to a pod with only a service waypoint, traffic goes to it directly: a service
# waypoint takes what is addressed to the Service (§9, "the choice follows the original
# address"), so the pod lists no waypoint and its ztunnel has nothing to refuse.
v1_ip=$(pod_ip mesh/server-v1-0)
client_ip=$(pod_ip mesh/client-0)
out=$(pod_exec mesh/client-0 curl -s --max-time 5 "http://$v1_ip:8080/direct") || fail "direct to v1"
expect_contains "$out" "from=$client_ip" "direct to a pod with a service waypoint only"
# A ztunnel that ignored wl-0's waypoint (hbone-probe with the client's identity): the
# destination ztunnel answers 401, as Istio's (the target lists wlwp, the peer is not wlwp).
ca=$WORK/root
mkdir -p "$ca" && mesh_root "$ca" || fail "the mesh root"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/c.key" \
	-out "$WORK/c.csr" -subj /O=ambit-test 2>/dev/null || fail "csr"
printf 'subjectAltName=critical,URI:spiffe://cluster.local/ns/mesh/sa/client\nextendedKeyUsage=clientAuth,serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n' >"$WORK/c.ext"
openssl x509 -req -in "$WORK/c.csr" -CA "$ca/root-cert.pem" -CAkey "$ca/root-key.pem" \
	-CAcreateserial -days 1 -out "$WORK/c.pem" -extfile "$WORK/c.ext" 2>/dev/null || fail "leaf"
probe() { # POD_IP: one CONNECT as the client's ztunnel would send it, from node1
	node_exec node1 "$REPO/build/hbone-probe" --connect "$1:15008" --authority "$1:8080" \
		--cert "$WORK/c.pem" --key "$WORK/c.key" --ca "$ca/root-cert.pem" \
		--forwarded "$client_ip" --expect-san spiffe://cluster.local/ns/mesh/sa/server \
		--send $'GET /probe HTTP/1.0\r\n\r\n' --timeout 5
}
out=$(probe "$v1_ip" 2>&1) || fail "CONNECT to a pod with a service waypoint only: $out"
expect_contains "$out" "pod=mesh/server-v1-0" "positive control"
out=$(probe "$wl_ip" 2>&1); rc=$?
[ $rc -eq 3 ] || fail "CONNECT around wlwp: want 401 (exit 3), got $rc: $out"
expect_contains "$out" "status 401"
expect_eq "$(reqs mesh/wl-0 /probe)" 0 "requests that reached the bound pod around its waypoint"
pass
