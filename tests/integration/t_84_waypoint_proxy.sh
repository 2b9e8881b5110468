#!/usr/bin/env bash
# build/waypoint as a process, on loopback, without a cluster: its model from the manifests
# (`ambitctl waypoint config -f`), requests through it to a plain HTTP backend, the admin
# listener's metrics and readiness, a reload when the file changes (new requests take the new
# routes), a bad file refused with its reason while the last good one serves on, and SIGTERM
# draining to exit status 0.
. "$(dirname "$0")/lib.sh"
need_cmd python3 curl
WAYPOINT=$REPO/build/waypoint
for b in "$AMBITCTL" "$WAYPOINT"; do
	[ -x "$b" ] || skip "$b not built (make)"
done
tmp=$(mktemp -d)
wp_pid= be_pid=
cleanup() {
	[ -n "$wp_pid" ] && kill "$wp_pid" 2>/dev/null
	[ -n "$be_pid" ] && kill "$be_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

FREE_PORTS_FILE=$tmp/ports
read -r be lp ap < <(free_ports 3)

mkdir -p "$tmp/www"
echo "hello from the backend" >"$tmp/www/hello.txt"
python3 -m http.server "$be" --bind 127.0.0.1 --directory "$tmp/www" >"$tmp/backend.log" 2>&1 &
be_pid=$!

. "$REPO/tools/waypoint-world.sh"
world() { # BODY: the manifests, /direct answering BODY
	wp_world it
	wp_service it web "{app: web}" "[{name: http, port: 80, targetPort: $be}]"
	wp_pod it web-1 127.0.0.1 "{app: web, version: v1}"
	cat <<YAML
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: it}
spec:
  hosts: [web]
  http:
  - match: [{uri: {exact: /direct}}]
    directResponse: {status: 200, body: {string: "$1"}}
  - route: [{destination: {host: web}}]
YAML
}

world v1 >"$tmp/world.yaml"
out=$(actl waypoint config -f "$tmp/world.yaml" -n it --name nope 2>&1) &&
	fail "config for a waypoint that does not exist succeeded"
expect_contains "$out" "it/nope in $tmp/world.yaml: no waypoint"
actl waypoint config -f "$tmp/world.yaml" -n it --name wp >"$tmp/l7.json" || fail "waypoint config"

"$WAYPOINT" --config "$tmp/l7.json" --listen "127.0.0.1:$lp=web.it.svc.cluster.local:80" \
	--admin "127.0.0.1:$ap" --workers 2 >"$tmp/access.log" 2>"$tmp/waypoint.log" &
wp_pid=$!
wait_for 10 curl -sf "http://127.0.0.1:$ap/healthz/ready" || fail "the waypoint is not ready"
wait_for 10 curl -sf "http://127.0.0.1:$be/hello.txt" || fail "the backend is not up"

out=$(curl -s "http://127.0.0.1:$lp/hello.txt" -H "host: web") || fail "request"
expect_eq "$out" "hello from the backend"
expect_eq "$(curl -s "http://127.0.0.1:$lp/direct" -H "host: web")" v1
expect_contains "$(cat "$tmp/access.log")" '"GET /hello.txt HTTP/1.1" 200 - via_upstream'
m=$(curl -s "http://127.0.0.1:$ap/stats/prometheus") || fail "metrics"
expect_contains "$m" 'istio_requests_total{reporter="waypoint"'
expect_contains "$m" 'destination_service="web.it.svc.cluster.local"'
expect_contains "$m" 'destination_workload="web-1"'
expect_contains "$m" 'istio_request_duration_milliseconds_bucket{'

# A new file (renamed into place, as config management writes it): new requests take it.
world v2 >"$tmp/world.yaml"
actl waypoint config -f "$tmp/world.yaml" -n it --name wp >"$tmp/l7.new" || fail "config v2"
mv "$tmp/l7.new" "$tmp/l7.json"
wait_for 10 bash -c '[ "$(curl -s "http://127.0.0.1:'"$lp"'/direct" -H "host: web")" = v2 ]' ||
	fail "the new configuration was not taken"

# A bad file is refused with its reason; the last good configuration serves on.
echo '{"waypoint": {"bogus": 1}}' >"$tmp/l7.json"
wait_for 10 grep -q "configuration not reloaded" "$tmp/waypoint.log" || fail "no refusal logged"
expect_contains "$(cat "$tmp/waypoint.log")" "unknown member"
expect_eq "$(curl -s "http://127.0.0.1:$lp/direct" -H "host: web")" v2

kill -TERM "$wp_pid"
wait "$wp_pid"
rc=$?
wp_pid=
expect_eq "$rc" 0 "exit status after SIGTERM"
expect_contains "$(cat "$tmp/waypoint.log")" "draining"
pass
