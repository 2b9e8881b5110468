#!/usr/bin/env bash
# The L7 engine alone (`make bench` runs it after the L4 workloads): the waypoint against HAProxy
# and nginx as HTTP/1.1 routers between the same client (wrk, keep-alive) and the same backends,
# with the same route table: `x-user: jason` -> v2, everything else split 80/20 between v1 and v3.
# Each router gets one core (the waypoint --workers 1, HAProxy nbthread 1, nginx one worker,
# pinned with taskset to CPU 1; wrk and the backends on CPU 0), so requests/s is per proxy core.
# Before timing, every router is checked to route as the table says. Repetitions are interleaved
# (rep 1: waypoint haproxy nginx, rep 2: ...); figures are medians.
#
# Per router: requests/s, p50 and p99 latency (wrk --latency), proxy CPU seconds per 1,000
# requests (/proc utime+stime of the router's processes), and its peak RSS (VmHWM). Twice: in
# plaintext, and with the client's connections over TLS 1.3 terminated by the router (the same
# ECDSA P-256 certificate for all three; the waypoint's --listen-tls; backends in plaintext).
#
# Knobs: REPS [3/1], SECS [5/1], CONNS [16]; QUICK=1 for the smoke values; OUT [bench/results/l7;
# QUICK: build/bench/l7] writes OUT.md and OUT.json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
REPS=${REPS:-$(q 3 1)} SECS=${SECS:-$(q 5 1)} CONNS=${CONNS:-16}
OUT=${OUT:-$(q "$REPO/bench/results/l7" "$REPO/build/bench/l7")}
ROUTERS="waypoint haproxy nginx"

say() { echo "[bench-l7] $*" >&2; }
die() { say "error: $*"; exit 1; }
for c in wrk nginx haproxy taskset python3 curl openssl; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
for b in "$REPO/build/waypoint" "$REPO/build/ambitctl"; do
	[ -x "$b" ] || die "$b not built (make)"
done
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (one for the router, one for the client and backends)"

tmp=$(mktemp -d /tmp/ambit-bench-l7.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
be=$(port)
declare -A lp=([waypoint]=$(port) [haproxy]=$(port) [nginx]=$(port))
declare -A tp=([waypoint]=$(port) [haproxy]=$(port) [nginx]=$(port))
mkdir -p "$tmp/logs" "$(dirname "$OUT")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=web \
	-addext subjectAltName=DNS:web -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null ||
	die "openssl could not make the certificate"
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/haproxy.pem"

# Backends: one nginx (CPU 0) answering "vN" on 127.0.0.2-4 (v1, v2, v3).
nginx_common() {
	cat <<NGINX
daemon off;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
NGINX
}
temp_paths() {
	printf '  client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;\n' "$1" "$1" "$1"
	printf '  uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;\n' "$1" "$1"
}
mkdir -p "$tmp/be" "$tmp/ng"
{
	echo "worker_processes 1;"
	nginx_common "$tmp/be"
	echo "http {"
	echo "  access_log off; keepalive_requests 1000000;"
	temp_paths "$tmp/be"
	for v in 1 2 3; do
		echo "  server { listen 127.0.0.$((v + 1)):$be; location / { return 200 \"v$v\\n\"; } }"
	done
	echo "}"
} >"$tmp/be/nginx.conf"
taskset -c 0 nginx -c "$tmp/be/nginx.conf" -p "$tmp/be" >/dev/null 2>&1 &
pids+=($!)

# The waypoint: its model from manifests, as a user writes them.
. "$REPO/tools/waypoint-world.sh"
{
	wp_world bench
	wp_service bench web "{app: web}" "[{name: http, port: 80, targetPort: $be}]"
	for v in 1 2 3; do
		wp_pod bench "web-v$v" "127.0.0.$((v + 1))" "{app: web, version: v$v}"
	done
} >"$tmp/world.yaml"
cat >>"$tmp/world.yaml" <<'YAML'
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: bench}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: bench}
spec:
  hosts: [web]
  http:
  - match: [{headers: {x-user: {exact: jason}}}]
    route: [{destination: {host: web, subset: v2}}]
  - route:
    - {destination: {host: web, subset: v1}, weight: 80}
    - {destination: {host: web, subset: v3}, weight: 20}
YAML
"$REPO/build/ambitctl" waypoint config -f "$tmp/world.yaml" -n bench --name wp >"$tmp/l7.json" ||
	die "ambitctl waypoint config failed"
start_waypoint() {
	taskset -c 1 "$REPO/build/waypoint" --config "$tmp/l7.json" --workers 1 --log-level warn \
		--listen "127.0.0.1:${lp[waypoint]}=web.bench.svc.cluster.local:80" \
		--listen-tls "127.0.0.1:${tp[waypoint]}=web.bench.svc.cluster.local:80" \
		--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" \
		>/dev/null 2>"$tmp/logs/waypoint.log" &
	echo $!
}

# HAProxy: the same table in its words.
cat >"$tmp/haproxy.cfg" <<HAP
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:${lp[haproxy]}
  bind 127.0.0.1:${tp[haproxy]} ssl crt $tmp/haproxy.pem ssl-min-ver TLSv1.2 alpn http/1.1
  acl jason req.hdr(x-user) -m str jason
  use_backend v2 if jason
  default_backend split
backend v2
  server s2 127.0.0.3:$be
backend split
  balance random
  server s1 127.0.0.2:$be weight 80
  server s3 127.0.0.4:$be weight 20
HAP
start_haproxy() {
	taskset -c 1 haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/logs/haproxy.log" 2>&1 &
	echo $!
}

# nginx: map on the header, split_clients for the weights, keep-alive upstreams.
{
	echo "worker_processes 1;"
	nginx_common "$tmp/ng"
	echo "http {"
	echo "  access_log off; keepalive_requests 1000000;"
	temp_paths "$tmp/ng"
	for v in 1 2 3; do echo "  upstream v$v { server 127.0.0.$((v + 1)):$be; keepalive 64; }"; done
	cat <<NGINX
  split_clients "\${request_id}" \$split { 80% v1; * v3; }
  map \$http_x_user \$pool { jason v2; default \$split; }
  server {
    listen 127.0.0.1:${lp[nginx]};
    listen 127.0.0.1:${tp[nginx]} ssl;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://\$pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
} >"$tmp/ng/nginx.conf"
start_nginx() {
	taskset -c 1 nginx -c "$tmp/ng/nginx.conf" -p "$tmp/ng" >/dev/null 2>&1 &
	echo $!
}

# A router's processes: the one started and its children (nginx's worker).
tree() { echo "$1"; pgrep -P "$1"; }
cpu_ticks() {
	local p t=0
	for p in $(tree "$1"); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
rss_kb() {
	local p t=0
	for p in $(tree "$1"); do
		t=$((t + $(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
get() { curl -s --max-time 3 --cacert "$tmp/cert.pem" "$@"; }
# The router @1's URL in mode @2 (plain or tls).
url() { if [ "$2" = tls ]; then echo "https://web:${tp[$1]}/"; else echo "http://127.0.0.1:${lp[$1]}/"; fi; }
resolve() { [ "$2" = tls ] && echo "--resolve web:${tp[$1]}:127.0.0.1"; }
MODES="plain tls"

declare -A rpid=()
for r in $ROUTERS; do
	rpid[$r]=$("start_$r")
	pids+=("${rpid[$r]}")
done
for r in $ROUTERS; do
	for _ in $(seq 100); do get -o /dev/null -H "host: web" "http://127.0.0.1:${lp[$r]}/" && break; sleep 0.1; done
done

# Every router routes as the table says, in both modes, before anything is timed.
for r in $ROUTERS; do for m in $MODES; do
	u=$(url "$r" "$m")
	# shellcheck disable=SC2046
	got=$(get $(resolve "$r" "$m") -H "host: web" -H "x-user: jason" "$u")
	[ "$got" = v2 ] || die "$r ($m): x-user: jason did not reach v2 (got \"$got\"; $(tail -3 "$tmp/logs/$r.log" 2>/dev/null))"
	# shellcheck disable=SC2046
	split=$(for _ in $(seq 200); do get $(resolve "$r" "$m") -H 'host: web' "$u"; done | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
	v1=$(grep -o 'v1=[0-9]*' <<<"$split" | cut -d= -f2)
	v3=$(grep -o 'v3=[0-9]*' <<<"$split" | cut -d= -f2)
	# Binomial(200, 0.2) for v3: mean 40, sd 5.7.
	[ "$((${v1:-0} + ${v3:-0}))" -eq 200 ] && [ "${v3:-0}" -ge 15 ] && [ "${v3:-0}" -le 65 ] ||
		die "$r ($m): 200 requests split $split, not 80/20 v1/v3"
	say "$r ($m) routes: jason -> v2; 200 others: $split"
done; done

ms() { # wrk's latency ("1.23ms", "456.00us", "1.02s") in ms
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[^m]s$/) n *= 1000; printf "%.3f", n }'
}
raw=$OUT.raw.jsonl
: >"$raw"
# wrk takes no --resolve: the TLS URL names 127.0.0.1 (no SNI check by any of the routers).
for rep in $(seq "$REPS"); do for m in $MODES; do
	for r in $ROUTERS; do
		u="http://127.0.0.1:${lp[$r]}/"
		[ "$m" = tls ] && u="https://127.0.0.1:${tp[$r]}/"
		c0=$(cpu_ticks "${rpid[$r]}")
		w=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -H 'Host: web' "$u" 2>&1)
		c1=$(cpu_ticks "${rpid[$r]}")
		reqs=$(awk '/requests in/ {print $1}' <<<"$w")
		rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
		p50=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$w")")
		p99=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$w")")
		errs=$(awk '/Non-2xx|Socket errors/' <<<"$w")
		[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || die "$r ($m): wrk made no requests: $w"
		[ -z "$errs" ] || die "$r ($m): errors under load: $errs"
		cpu=$(awk -v t="$((c1 - c0))" -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.4f", t / hz / n * 1000 }')
		rss=$(awk -v k="$(rss_kb "${rpid[$r]}")" 'BEGIN { printf "%.1f", k / 1024 }')
		printf '{"mode":"%s","router":"%s","rep":%d,"rps":%s,"p50_ms":%s,"p99_ms":%s,"cpu_s_per_1k":%s,"rss_mb":%s}\n' \
			"$m" "$r" "$rep" "$rps" "$p50" "$p99" "$cpu" "$rss" >>"$raw"
		say "rep $rep $m $r: $rps req/s, p50 $p50 ms, p99 $p99 ms, $cpu CPU s/1k req, RSS $rss MB"
	done
done; done

python3 - "$raw" "$OUT" "$REPS" "$SECS" "$CONNS" <<'PY'
import json, statistics, sys
raw, out, reps, secs, conns = sys.argv[1:6]
rows = [json.loads(l) for l in open(raw)]
keys = ["rps", "p50_ms", "p99_ms", "cpu_s_per_1k", "rss_mb"]
names = {"rps": "requests/s (one proxy core)", "p50_ms": "p50 latency, ms",
         "p99_ms": "p99 latency, ms", "cpu_s_per_1k": "proxy CPU s per 1,000 requests",
         "rss_mb": "proxy peak RSS, MB"}
titles = {"plain": "plaintext", "tls": "TLS from the client (terminated by the router)"}
lines = [f"L7 routers, HTTP/1.1 keep-alive, {conns} connections, {secs} s x {reps} repetitions "
         "(medians); route table: x-user: jason -> v2, else 80/20 v1/v3"]
meds = {}
for mode in ("plain", "tls"):
    med = meds[mode] = {}
    for r in ("waypoint", "haproxy", "nginx"):
        xs = [x for x in rows if x["router"] == r and x.get("mode", "plain") == mode]
        med[r] = {k: statistics.median(x[k] for x in xs) for k in keys}
    lines += ["", f"**{titles[mode]}**", "",
              "| figure | waypoint | HAProxy | nginx | waypoint/HAProxy | waypoint/nginx |",
              "|---|---|---|---|---|---|"]
    for k in keys:
        w, h, n = med["waypoint"][k], med["haproxy"][k], med["nginx"][k]
        fmt = (lambda v: f"{v:.0f}") if k == "rps" else (lambda v: f"{v:.3g}")
        lines.append(f"| {names[k]} | {fmt(w)} | {fmt(h)} | {fmt(n)} | {w / h:.2f} | {w / n:.2f} |")
    w, h = med["waypoint"], med["haproxy"]
    lines += ["", f"Targets ({titles[mode]}): requests/s per proxy core >= HAProxy's: "
              + ("met" if w["rps"] >= h["rps"] else "not met") + f" ({w['rps'] / h['rps']:.2f}x); "
              "CPU per 1,000 requests <= HAProxy's: "
              + ("met" if w["cpu_s_per_1k"] <= h["cpu_s_per_1k"] else "not met")
              + f" ({w['cpu_s_per_1k'] / h['cpu_s_per_1k']:.2f}x)."]
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"medians": meds["plain"], "medians_tls": meds["tls"], "reps": int(reps),
           "secs": int(secs), "conns": int(conns)}, open(out + ".json", "w"), indent=1)
print("\n".join(lines))
PY
