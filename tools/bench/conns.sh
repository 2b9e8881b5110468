#!/usr/bin/env bash
# Many concurrent client connections through one proxy with one worker (issue 41, #55076: "a
# waypoint that holds ~2,000 concurrent connections where sidecars held ~15,000"): ambit's
# gateway (build/waypoint --workers 1 on the model `ambitctl waypoint config` gives, plain HTTP
# server) against HAProxy (nbthread 1, maxconn left to what its fd limit allows), each run under
# the same fd limit (prlimit, hard and soft), in front of one nginx answering 200.
#
# Per proxy and fd limit (NOFILES: "25000 4096"; the second is below the connections, to see
# what each answers beyond its limit): CONNS (20,000) connections each send one HTTP/1.1
# request (connflood --send) and stay open HOLD seconds; meanwhile good clients
# (bench-ratehttp, RATE/s over 8 connections for GOOD_SECS) measure p50/p99 and how many they
# got answered. Figures: the flood's requests served (the backend's access log), memory per
# connection (RSS with the connections held minus RSS before, over the connections the client
# established), the good clients' ok/sent and p99. Run as root in a network namespace of its own
# (unshare -n); QUICK=1 (make test's smoke run): 1,000 connections held 8 s. Writes OUT.md and OUT.json (bench/results/conns).
# The largest NOFILES must fit the hard fd limit, and CONNS too (the flood tool holds them all):
# where that is 20,000, CONNS=15000 NOFILES="20000 4096".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [ -z "${AMBIT_CONNS_NETNS:-}" ] && [ "$(id -u)" = 0 ]; then
	AMBIT_CONNS_NETNS=1 exec unshare -n bash "$0" "$@"
fi
ip link set lo up
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
CONNS=${CONNS:-$([ -n "$QUICK" ] && echo 1000 || echo 20000)}
NOFILES=${NOFILES:-$([ -n "$QUICK" ] && echo "4096 1024" || echo "25000 4096")}
HOLD=${HOLD:-$([ -n "$QUICK" ] && echo 8 || echo 25)}
RATE=${RATE:-200}
GOOD_SECS=${GOOD_SECS:-$([ -n "$QUICK" ] && echo 2 || echo 5)}
PROXIES=${PROXIES:-gateway haproxy}
OUT=${OUT:-$REPO/$([ -n "$QUICK" ] && echo build/bench/conns || echo bench/results/conns)}
FLOOD=$REPO/build/connflood
RATEHTTP=$REPO/build/bench-ratehttp
log() { echo "[conns] $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
for b in "$FLOOD" "$RATEHTTP" "$REPO/build/waypoint" "$REPO/build/ambitctl"; do
	[ -x "$b" ] || die "$b not built (make bench)"
done
for c in haproxy nginx curl prlimit ss python3; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
for n in $NOFILES; do
	prlimit --nofile="$n:$n" true 2>/dev/null ||
		die "cannot set an fd limit of $n (hard limit $(ulimit -Hn)): NOFILES=\"...\" CONNS=... lower"
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -f "$tmp/ng/nginx.pid" ] && kill "$(cat "$tmp/ng/nginx.pid")" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# The backend: nginx, one worker, 200 to everything, one access-log line a request.
mkdir -p "$tmp/ng"
cat >"$tmp/ng/nginx.conf" <<NG
worker_processes 1;
worker_rlimit_nofile 65536;
pid $tmp/ng/nginx.pid;
error_log $tmp/ng/error.log;
events { worker_connections 60000; }
http {
  access_log $tmp/ng/access.log;
  keepalive_requests 1000000;
  server { listen 127.0.0.2:18080; location / { return 200 "ok\n"; } }
}
NG
nginx -c "$tmp/ng/nginx.conf" -p "$tmp/ng" || die "nginx backend"

# The gateway's model: its pod, the backend Service and pod, a Gateway with an HTTP server (the
# standalone gateway tests' world).
. "$REPO/tests/integration/gateway_standalone_lib.sh"
gw_world '  - {port: {number: 18081, name: http, protocol: HTTP}, hosts: [gw.test]}' >"$tmp/world.yaml"
"$REPO/build/ambitctl" waypoint config -f "$tmp/world.yaml" -n istio-system --name igw-0 \
	>"$tmp/gw.json" || die "ambitctl waypoint config"
cat >"$tmp/haproxy.cfg" <<HAP
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-request 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:18082
  default_backend web
backend web
  server s1 127.0.0.2:18080
HAP
declare -A port=([gateway]=18081 [haproxy]=18082)

start() { # PROXY NOFILE
	case $1 in
	gateway) prlimit --nofile="$2:$2" "$REPO/build/waypoint" --config "$tmp/gw.json" --workers 1 \
		>/dev/null 2>"$tmp/$1.err" & ;;
	haproxy) prlimit --nofile="$2:$2" haproxy -db -f "$tmp/haproxy.cfg" >/dev/null 2>"$tmp/$1.err" & ;;
	esac
	ppid_=$!
	pids+=("$ppid_")
	for _ in $(seq 50); do
		curl -sf -o /dev/null --max-time 1 -H 'Host: gw.test' "http://127.0.0.1:${port[$1]}/" && return 0
		sleep 0.2
	done
	die "$1 did not answer"
}
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
held() { ss -Htn state established "( sport = :$1 )" | wc -l; }
served() { wc -l <"$tmp/ng/access.log"; }
jget() { printf '%s' "$1" | sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p"; }

req=$'GET / HTTP/1.1\r\nHost: gw.test\r\n\r\n'
: >"$tmp/rows"
for nofile in $NOFILES; do
	for p in $PROXIES; do
		start "$p" "$nofile"
		pid=$ppid_
		sleep 1
		rss0=$(rss "$pid")
		s0=$(served)
		"$FLOOD" "127.0.0.1:${port[$p]}" "$CONNS" "$HOLD" --send "$req" >"$tmp/flood.json" 2>&1 &
		fpid=$!
		# Until the connections stop coming (or the hold is half over).
		last=-1
		for _ in $(seq $((HOLD / 2))); do
			sleep 1
			h=$(held "${port[$p]}")
			[ "$h" = "$last" ] && break
			last=$h
		done
		good=$("$RATEHTTP" 127.0.0.1 "${port[$p]}" gw.test / "$RATE" "$GOOD_SECS" 8 2>/dev/null)
		rss1=$(rss "$pid")
		fds1=$(ls "/proc/$pid/fd" | wc -l)
		s1=$(served)
		wait "$fpid"
		flood=$(cat "$tmp/flood.json")
		kill "$pid"
		wait "$pid" 2>/dev/null
		sleep 1
		est=$(jget "$flood" established)
		per=$(awk -v a="$rss0" -v b="$rss1" -v n="${est:-0}" 'BEGIN { printf "%.0f", (n > 0) ? (b - a) * 1024 / n : 0 }')
		row="$p $nofile $CONNS ${est:-0} $((s1 - s0)) $fds1 $rss0 $rss1 $per $(jget "$good" sent) $(jget "$good" ok) $(jget "$good" p50_us) $(jget "$good" p99_us)"
		log "$row | flood $flood | good $good"
		echo "$row" >>"$tmp/rows"
	done
done

mkdir -p "$(dirname "$OUT")"
{
	printf '# %s concurrent client connections through one proxy, one worker (%s)\n\n' "$CONNS" "$(date -u +%F)"
	printf 'tools/bench/conns.sh: each connection sends one request and is held %s s; good clients at %s/s over 8 connections for %s s meanwhile. Memory per connection: RSS rise over the connections established. Gateway and HAProxy under the same fd limit (prlimit), backend one nginx.\n\n' "$HOLD" "$RATE" "$GOOD_SECS"
	echo '| proxy | fd limit | connections | established | flood requests served | fds held | RSS before kB | RSS held kB | bytes/conn | good sent | good ok | good p50 us | good p99 us |'
	echo '|---|---|---|---|---|---|---|---|---|---|---|---|---|'
	while read -r a b c d e f g h i j k l m; do
		echo "| $a | $b | $c | $d | $e | $f | $g | $h | $i | $j | $k | $l | $m |"
	done <"$tmp/rows"
} >"$OUT.md"
python3 - "$tmp/rows" >"$OUT.json" <<'PY'
import json, sys
keys = ["proxy", "nofile", "conns", "established", "served", "fds", "rss0_kb", "rss_kb",
        "bytes_per_conn", "good_sent", "good_ok", "good_p50_us", "good_p99_us"]
rows = [dict(zip(keys, l.split())) for l in open(sys.argv[1])]
print(json.dumps({"bench": "conns", "rows": rows}, indent=1))
PY
cat "$OUT.md"
