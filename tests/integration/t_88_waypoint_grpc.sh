#!/usr/bin/env bash
# build/waypoint as a process, on loopback, without a cluster, with real gRPC peers (Debian's
# python3-grpcio: tests/integration/manifests/pods/grpc_peer.py): a unary call routed to a subset by a
# header match, the same by a GRPCRoute's method match, a mirror to a gRPC subset, a
# server-streaming call, a fault abort with grpcStatus seen by the client as
# its status code, plain HTTP/2 (curl --http2-prior-knowledge) to an http port whose backend
# speaks HTTP/1.1, and a port of undeclared protocol whose non-HTTP bytes are detected as TCP
# and spliced to the VirtualService's tcp route (a socat echo).
. "$(dirname "$0")/lib.sh"
need_cmd curl socat
PY=/usr/bin/python3
PEER=$REPO/tests/integration/manifests/pods/grpc_peer.py
WAYPOINT=$REPO/build/waypoint
for b in "$AMBITCTL" "$WAYPOINT"; do
	[ -x "$b" ] || skip "$b not built (make)"
done
"$PY" -c 'import grpc' 2>/dev/null || skip "python3-grpcio missing (tools/install-deps.sh)"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

FREE_PORTS_FILE=$tmp/ports
read -r gp hp ep lg lh lt ap lr < <(free_ports 8)

# gRPC backends v1 on 127.0.0.1, v2 on 127.0.0.2 (same port); HTTP/1.1 and an echo on .1.
"$PY" "$PEER" serve "127.0.0.1:$gp" v1 >"$tmp/g1.log" 2>&1 &
pids+=($!)
"$PY" "$PEER" serve "127.0.0.2:$gp" v2 >"$tmp/g2.log" 2>&1 &
pids+=($!)
mkdir -p "$tmp/www"
echo "plain http" >"$tmp/www/p.txt"
"$PY" -m http.server "$hp" --bind 127.0.0.1 --directory "$tmp/www" >"$tmp/http.log" 2>&1 &
pids+=($!)
socat "TCP-LISTEN:$ep,bind=127.0.0.3,reuseaddr,fork" EXEC:cat >"$tmp/echo.log" 2>&1 &
pids+=($!)

. "$REPO/tools/waypoint-world.sh"
{
	wp_world it
	grpc="[{name: grpc, port: 50051, targetPort: $gp}]"
	wp_service it greeter "{app: greeter}" "$grpc"
	wp_service it web "{app: web}" "[{name: http, port: 80, targetPort: $hp}]"
	wp_service it raw "{app: raw}" "[{port: 7000, targetPort: 1}]"
	wp_service it echo "{app: echo}" "[{port: 7000, targetPort: $ep}]"
	wp_service it greeter-gw "{app: greeter}" "$grpc"
	wp_service it greeter-v1 "{app: greeter, version: v1}" "$grpc"
	wp_service it greeter-v2 "{app: greeter, version: v2}" "$grpc"
	wp_pod it greeter-1 127.0.0.1 "{app: greeter, version: v1}"
	wp_pod it greeter-2 127.0.0.2 "{app: greeter, version: v2}"
	wp_pod it web-1 127.0.0.1 "{app: web}"
	wp_pod it echo-1 127.0.0.3 "{app: echo}"
} >"$tmp/world.yaml"
cat >>"$tmp/world.yaml" <<YAML
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: it}
spec:
  host: greeter
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: it}
spec:
  hosts: [greeter]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: greeter, subset: v2}}]
  - match: [{headers: {x-mirror: {exact: "yes"}}}]
    route: [{destination: {host: greeter, subset: v1}}]
    mirror: {host: greeter, subset: v2}
  - match: [{uri: {prefix: /demo.Echo/Count}, headers: {x-abort: {exact: "yes"}}}]
    fault: {abort: {grpcStatus: RESOURCE_EXHAUSTED, percentage: {value: 100}}}
    route: [{destination: {host: greeter, subset: v1}}]
  - match: [{headers: {x-abort: {exact: "yes"}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: greeter, subset: v1}}]
  - route: [{destination: {host: greeter, subset: v1}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter-gw, namespace: it}
spec:
  parentRefs: [{kind: Service, group: "", name: greeter-gw, port: 50051}]
  rules:
  - matches:
    - method: {service: demo.Echo, method: Hello}
      headers: [{name: x-canary, value: "yes"}]
    backendRefs: [{name: greeter-v2, port: 50051}]
  - backendRefs: [{name: greeter-v1, port: 50051}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: raw, namespace: it}
spec:
  hosts: [raw]
  tcp:
  - route: [{destination: {host: echo, port: {number: 7000}}}]
YAML
actl waypoint config -f "$tmp/world.yaml" -n it --name wp >"$tmp/l7.json" || fail "waypoint config"

"$WAYPOINT" --config "$tmp/l7.json" --admin "127.0.0.1:$ap" --workers 2 \
	--listen "127.0.0.1:$lg=greeter.it.svc.cluster.local:50051" \
	--listen "127.0.0.1:$lh=web.it.svc.cluster.local:80" \
	--listen "127.0.0.1:$lt=raw.it.svc.cluster.local:7000" \
	--listen "127.0.0.1:$lr=greeter-gw.it.svc.cluster.local:50051" \
	>"$tmp/access.log" 2>"$tmp/waypoint.log" &
wp_pid=$!
pids+=($wp_pid)
wait_for 10 curl -sf "http://127.0.0.1:$ap/healthz/ready" || fail "the waypoint is not ready"
wait_for 10 grep -q serving "$tmp/g1.log" || fail "gRPC backend v1 is not up"
wait_for 10 grep -q serving "$tmp/g2.log" || fail "gRPC backend v2 is not up"

call() { "$PY" "$PEER" "$@"; }
W=127.0.0.1:$lg

# Unary: the default route (v1), and v2 by the header match.
expect_eq "$(call hello "$W" greeter hi)" "v1:hi"
expect_eq "$(call hello "$W" greeter hi x-canary=yes)" "v2:hi"
# A mirror to the grpc port's v2 goes as HTTP/2 (a gRPC server takes nothing else): v1
# answers, v2 logs the copy.
expect_eq "$(call hello "$W" greeter copied-call x-mirror=yes)" "v1:copied-call"
wait_for 10 grep -q "call Hello copied-call" "$tmp/g2.log" ||
	fail "the mirror never reached v2: $(tail -3 "$tmp/g2.log")"
grep -q "call Hello copied-call" "$tmp/g1.log" || fail "v1 did not serve the mirrored call"
# GRPCRoute (Gateway API) on another Service of the same pods: its method and header match
# sends Hello with x-canary to greeter-v2; Count, even with the header, takes the default rule.
G=127.0.0.1:$lr
expect_eq "$(call hello "$G" greeter-gw hi)" "v1:hi" "GRPCRoute default rule"
expect_eq "$(call hello "$G" greeter-gw hi x-canary=yes)" "v2:hi" "GRPCRoute method + header match"
expect_eq "$(call count "$G" greeter-gw 2 x-canary=yes | tr '\n' ' ')" "v1:0 v1:1 " \
	"GRPCRoute: another method does not match"
# Server streaming: every message, in order, through one stream.
expect_eq "$(call count "$W" greeter 4 | tr '\n' ' ')" "v1:0 v1:1 v1:2 v1:3 "
# Fault abort with grpcStatus: the client sees the status code (no backend reached).
expect_eq "$(call hello "$W" greeter hi x-abort=yes)" "status UNAVAILABLE"
expect_eq "$(call count "$W" greeter 2 x-abort=yes)" "status RESOURCE_EXHAUSTED"
# The access log has the calls as HTTP/2 with their gRPC outcome.
expect_contains "$(cat "$tmp/access.log")" '"POST /demo.Echo/Hello HTTP/2" 200'
expect_contains "$(cat "$tmp/access.log")" 'fault_filter_abort'

# HTTP/2 with prior knowledge to an http port: answered by its HTTP/1.1 backend.
out=$(curl -s --http2-prior-knowledge -w ' %{http_version}' "http://127.0.0.1:$lh/p.txt" -H "host: web") ||
	fail "curl --http2-prior-knowledge"
expect_eq "$out" "plain http
 2"
# And HTTP/1.1 on the same listener, as before.
expect_eq "$(curl -s "http://127.0.0.1:$lh/p.txt" -H "host: web")" "plain http"

# An undeclared port: bytes that are not HTTP are spliced to the tcp route (the echo).
out=$(printf 'PING not http\n' | socat -t 5 - "TCP:127.0.0.1:$lt") || fail "TCP passthrough"
expect_eq "$out" "PING not http"
# HTTP/2 on that port is detected too: the HTTP engine answers it (raw's default HTTP route
# has no endpoint: 503), where the TCP splice would have reached the echo.
expect_eq "$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --http2-prior-knowledge \
	"http://127.0.0.1:$lt/x" -H "host: raw")" "503 2"

kill -TERM "$wp_pid"
wait "$wp_pid"
rc=$?
expect_eq "$rc" 0 "exit status after SIGTERM"
pass
