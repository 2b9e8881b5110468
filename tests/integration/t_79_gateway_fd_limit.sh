#!/usr/bin/env bash
# Issue 41 (#55076: "today 20,000 idle connections block a good client for 60 s"), scaled down:
# the gateway on its own with one worker and a file descriptor limit of 256 (hard and soft, so
# it cannot raise it), 400 idle connections held against its HTTP port (connflood: they say
# nothing, as a client that went quiet or an attacker does). A good client is still served:
# when accept() meets EMFILE the gateway closes connections that have no request in flight,
# oldest first (nginx's reusable connections), and accepts again, rather than pausing until the
# idle ones time out (60 s of request headers timeout). The gateway logs the fd limit it got at
# start and says when it closed connections for want of descriptors. Its requests in flight
# are never the ones closed: a request held open by a slow backend is still answered. No timing
# is asserted beyond curl's own give-up.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gateway_standalone_lib.sh"
gw_standalone_setup "$@"
need_cmd prlimit
FLOOD=$REPO/build/connflood
[ -x "$FLOOD" ] || fail "$FLOOD not built (make)"

# The backend: /slow answers after 4 s (a request in flight while the flood comes), the rest at once.
cat >"$tmp/backend.py" <<'PY'
import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(4)
        self.send_response(200)
        self.send_header("content-length", "8")
        self.end_headers()
        self.wfile.write(b"backend\n")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.2", 18080), H).serve_forever()
PY
python3 "$tmp/backend.py" >/dev/null 2>&1 &
pids+=($!)
wait_for 20 curl -sf http://127.0.0.2:18080/index.txt || fail "the backend is not up"

world() { gw_world "$1"; }
HTTP="  - {port: {number: 18081, name: http, protocol: HTTP}, hosts: [gw.test]}"
world "$HTTP" >"$tmp/world.yaml"
actl waypoint config -f "$tmp/world.yaml" -n istio-system --name igw-0 >"$tmp/gw.json" ||
	fail "waypoint config of the gateway"
prlimit --nofile=256:256 "$WAYPOINT" --config "$tmp/gw.json" --workers 1 >/dev/null \
	2>"$tmp/gateway.log" &
gw_pid=$!

get() { # URL [curl args]: the status
	curl -s --max-time "${MAXT:-3}" --resolve gw.test:18081:127.0.0.1 -o /dev/null -w '%{http_code}' "$@"
}
wait_for 10 get http://gw.test:18081/index.txt || fail "the gateway does not answer on 18081"
expect_contains "$(cat "$tmp/gateway.log")" "file descriptor limit 256"

# The oldest connection of all carries a request in flight: it is not one of those closed.
MAXT=20 get http://gw.test:18081/slow >"$tmp/slow.code" &
slow_pid=$!
sleep 1
# 400 that began a request head and stopped (HTTP/1 connections without a request yet).
"$FLOOD" 127.0.0.1:18081 400 40 --send $'GET / HTTP/1.1\r\nHost: gw.test\r\n' >/dev/null 2>&1 &
pids+=($!)
# The gateway has met its limit once the kernel holds connections it could not take.
full() { grep -q "out of file descriptors" "$tmp/gateway.log"; }
wait_for 20 full || fail "the gateway never ran out of descriptors"
expect_eq "$(MAXT=10 get http://gw.test:18081/index.txt)" 200
log "400 half-sent requests against a limit of 256: a good client still served"
wait "$slow_pid"
expect_eq "$(cat "$tmp/slow.code")" 200
log "the request in flight on the oldest connection was answered"

# 400 more that say nothing at all (their protocol still undecided).
"$FLOOD" 127.0.0.1:18081 400 40 >/dev/null 2>&1 &
flood2=$!
pids+=("$flood2")
# All connected (taken by the gateway or waiting in its backlog): more than it can hold.
held() { [ "$(ss -Htnp state established '( dport = :18081 )' | grep -c "pid=$flood2,")" -ge 400 ]; }
wait_for 20 held || fail "the silent connections never came"
expect_eq "$(MAXT=10 get http://gw.test:18081/index.txt)" 200
log "and 400 silent ones more: a good client still served"
pass
