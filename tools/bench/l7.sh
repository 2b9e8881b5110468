#!/usr/bin/env bash
# The L7 engine alone (`make bench` runs it after the L4 workloads): the waypoint against HAProxy
# and nginx as HTTP/1.1 routers between the same client (wrk, keep-alive) and the same backends,
# with the same route table: `x-user: jason` -> v2, everything else split 80/20 between v1 and v3.
# Each router gets one core (the waypoint --workers 1, HAProxy nbthread 1, nginx one worker,
# pinned with taskset to CPU 1; wrk and the backends on CPU 0), so requests/s is per proxy core.
#
# Six routers: the waypoint as it ships (Envoy's access-log line per request); "waypoint-nolog",
# the same with the access log turned off by a Telemetry resource (accessLogging disabled, as a
# user does it; Istio's default profile logs nothing); HAProxy and nginx routing only; and
# "haproxy+log", "nginx+log":
# the same two also doing what the waypoint does per request besides routing, configured as their
# users do it: one access-log line per request with the fields of Envoy's default line (method,
# path, protocol, status, bytes, duration, upstream time and host, x-forwarded-for, user agent,
# request id, authority, addresses), a generated x-request-id sent upstream and logged, and
# x-forwarded-for / x-forwarded-proto added. Every access log goes to /dev/null: the waypoint's
# lines on its stdout (batched: one write per event-loop round), HAProxy's `log stdout format raw`
# with stdout on /dev/null, nginx's `access_log /dev/null` unbuffered. HAProxy and nginx write
# one line per write(): their defaults, which is what their users typically run.
#
# Before timing, every router is checked to route as the table says. Repetitions are interleaved
# (rep 1: every router, rep 2: ...); figures are medians, and a ratio of two routers is taken
# within each repetition, then the median of those.
#
# Per router, two runs a repetition. Held to half a core (a cpu cgroup of its own, 5 ms of every
# 10 ms, lib-l7.sh's bench_cap): its requests/s, its capacity, since there the router and not
# wrk and the backends on the other core is what runs out (free, a router lighter than the
# client leaves part of its core idle, and the client's limit is what wrk measures). Then free:
# requests/s and how busy the router was, p50 and p99 latency (wrk --latency), proxy CPU seconds
# per 1,000 requests (/proc utime+stime of the router's processes), and its peak RSS (VmHWM). Twice: in
# plaintext, and with the client's connections over TLS 1.3 terminated by the router (the same
# ECDSA P-256 certificate for all; the waypoint's --listen-tls; backends in plaintext), each
# router checked first to negotiate what the waypoint does (TLS 1.3, TLS_AES_256_GCM_SHA384,
# X25519 with OpenSSL's client defaults, wrk's), or the run stops.
# The targets judged: requests/s per proxy core (held to half a core) >= 1.15x HAProxy's, CPU per
# 1,000 requests <= 0.85x HAProxy's, p99 no worse than HAProxy's; like for like (waypoint-nolog
# against HAProxy, the waypoint against haproxy+log) and the waypoint as it ships against HAProxy
# routing only, in plaintext and over TLS.
#
# Knobs: REPS [5/1], SECS [5/1], CONNS [16]; QUICK=1 for the smoke values; OUT [bench/results/l7;
# QUICK: build/bench/l7] writes OUT.md and OUT.json (medians, medians_tls: waypoint,
# waypoint-nolog, haproxy and nginx; medians_log, medians_tls_log: haproxy and nginx with the
# access log; targets: one record per target, mode and pair) and the raw records OUT.raw.jsonl.
# Needs a cpu cgroup controller (v2 delegating cpu, or v1's), root.
#
# `l7.sh --configs DIR` only writes the configurations into DIR and exits: the backends'
# (be/nginx.conf), the waypoint's (world.yaml, l7.json; cert.pem, key.pem), HAProxy's
# (haproxy.cfg, haproxy-log.cfg; haproxy.pem), nginx's (ng/, ngl/), and the ports they name
# (ports: "backend PORT", then "ROUTER PLAIN_PORT TLS_PORT" a line). Instructions per request
# rather than time, from these: tools/bench/l7-insns.sh (the waypoint, and HAProxy for
# reference, under callgrind; not part of `make bench`).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH=l7
. "$HERE/lib-l7.sh"

# The waypoint's model (lib-l7.sh's web world): pods v1-v3, jason -> v2, the rest 80 % v1 and 20 % v3.
world() {
	web_world "$1" 3 "
    - {destination: {host: web, subset: v1}, weight: 80}
    - {destination: {host: web, subset: v3}, weight: 20}"
}
bench_args "$@"
bench_knobs
ROUTERS="waypoint waypoint-nolog haproxy nginx haproxy+log nginx+log"

bench_need_tools
bench_scratch "one for the router, one for the client and backends"
read -r be ports < <(bench_ports $((1 + 2 * $(wc -w <<<"$ROUTERS"))))
declare -A lp=() tp=()
for r in $ROUTERS; do read -r "lp[$r]" "tp[$r]" ports <<<"$ports"; done
mkdir -p "$tmp/logs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=web \
	-addext subjectAltName=DNS:web -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null ||
	die "openssl could not make the certificate"
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/haproxy.pem"

# Backends: one nginx (CPU 0) answering "vN" on 127.0.0.2-4 (v1, v2, v3).
mkdir -p "$tmp/be"
web_backends "$tmp/be" "$be" 3

world "$be" >"$tmp/world.yaml"
"$REPO/build/ambitctl" waypoint config -f "$tmp/world.yaml" -n bench --name wp >"$tmp/l7.json" ||
	die "ambitctl waypoint config failed"
# waypoint-nolog: the same world with the access log turned off as a user does it, Istio's
# Telemetry API (accessLogging disabled; Istio's default profile writes none either).
{
	cat "$tmp/world.yaml"
	cat <<'YAML'
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: no-access-log, namespace: bench}
spec:
  accessLogging:
  - disabled: true
YAML
} >"$tmp/world-nolog.yaml"
"$REPO/build/ambitctl" waypoint config -f "$tmp/world-nolog.yaml" -n bench --name wp >"$tmp/l7-nolog.json" ||
	die "ambitctl waypoint config failed (no access log)"
jq -e '[.telemetry[]?.accessLog] == [false]' "$tmp/l7-nolog.json" >/dev/null ||
	die "the Telemetry resource did not turn the access log off: $(jq -c .telemetry "$tmp/l7-nolog.json")"

# HAProxy: the same table in its words; @1 "log" for haproxy+log.
haproxy_cfg() {
	local r=haproxy
	[ "$1" = log ] && r=haproxy+log
	cat <<HAP
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
  bind 127.0.0.1:${lp[$r]}
  bind 127.0.0.1:${tp[$r]} ssl crt $tmp/haproxy.pem ssl-min-ver TLSv1.2 alpn http/1.1
HAP
	# The access log as HAProxy is set up in a container (to stdout, raw), with the fields of
	# Envoy's default line; the request id from unique-id-format, sent upstream as x-request-id.
	[ "$1" = log ] && cat <<'HAP'
  log stdout format raw local0
  http-request capture req.hdr(x-forwarded-for) len 64
  http-request capture req.hdr(user-agent) len 128
  http-request capture req.hdr(host) len 64
  unique-id-format %[uuid()]
  http-request set-header x-request-id %[unique-id]
  http-request set-header x-forwarded-proto %[ssl_fc,iif(https,http)]
  option forwardfor
  log-format "[%tr] \"%HM %HU %HV\" %ST %tsc - - \"-\" %U %B %Ta %Tr \"%[capture.req.hdr(0)]\" \"%[capture.req.hdr(1)]\" \"%ID\" \"%[capture.req.hdr(2)]\" \"%si:%sp\" %b - %fi:%fp %ci:%cp - -"
HAP
	cat <<HAP
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
}
haproxy_cfg "" >"$tmp/haproxy.cfg"
haproxy_cfg log >"$tmp/haproxy-log.cfg"

# nginx: map on the header, split_clients for the weights, keep-alive upstreams; @1 "log" for
# nginx+log: the access log unbuffered (no buffer=, nginx's default: one write per request).
nginx_cfg() {
	local r=nginx d=$tmp/ng
	[ "$1" = log ] && r=nginx+log d=$tmp/ngl
	echo "worker_processes 1;"
	nginx_common "$d"
	echo "http {"
	echo "  keepalive_requests 1000000;"
	if [ "$1" = log ]; then
		cat <<'NGINX'
  log_format envoy '[$time_iso8601] "$request_method $request_uri $server_protocol" $status - - - "-" '
                   '$request_length $bytes_sent $request_time $upstream_response_time '
                   '"$proxy_add_x_forwarded_for" "$http_user_agent" "$request_id" "$host" '
                   '"$upstream_addr" $proxy_host - $server_addr:$server_port $remote_addr:$remote_port - -';
  access_log /dev/null envoy;
NGINX
	else
		echo "  access_log off;"
	fi
	temp_paths "$d"
	for v in 1 2 3; do echo "  upstream v$v { server 127.0.0.$((v + 1)):$be; keepalive 64; }"; done
	cat <<NGINX
  split_clients "\${request_id}" \$split { 80% v1; * v3; }
  map \$http_x_user \$pool { jason v2; default \$split; }
  server {
    listen 127.0.0.1:${lp[$r]};
    listen 127.0.0.1:${tp[$r]} ssl;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://\$pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
NGINX
	[ "$1" = log ] && cat <<'NGINX'
      proxy_set_header X-Request-ID $request_id;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
NGINX
	printf '    }\n  }\n}\n'
}
mkdir -p "$tmp/ng" "$tmp/ngl"
nginx_cfg "" >"$tmp/ng/nginx.conf"
nginx_cfg log >"$tmp/ngl/nginx.conf"
if [ -n "$CONFIGS" ]; then
	{
		echo "backend $be"
		for r in $ROUTERS; do echo "$r ${lp[$r]} ${tp[$r]}"; done
	} >"$tmp/ports"
	exit 0
fi
mkdir -p "$(dirname "$OUT")"

# Starts router @1 pinned to CPU 1 and prints its pid: access logs to /dev/null, errors to logs/.
start() {
	local err="$tmp/logs/$1.log"
	case $1 in
	waypoint | waypoint-nolog)
		local cfg=$tmp/l7.json
		[ "$1" = waypoint-nolog ] && cfg=$tmp/l7-nolog.json
		taskset -c 1 "$REPO/build/waypoint" --config "$cfg" --workers 1 --log-level warn \
			--listen "127.0.0.1:${lp[$1]}=web.bench.svc.cluster.local:80" \
			--listen-tls "127.0.0.1:${tp[$1]}=web.bench.svc.cluster.local:80" \
			--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" >/dev/null 2>"$err" &
		;;
	haproxy) taskset -c 1 haproxy -db -f "$tmp/haproxy.cfg" >/dev/null 2>"$err" & ;;
	haproxy+log) taskset -c 1 haproxy -db -f "$tmp/haproxy-log.cfg" >/dev/null 2>"$err" & ;;
	nginx) taskset -c 1 nginx -c "$tmp/ng/nginx.conf" -p "$tmp/ng" >/dev/null 2>"$err" & ;;
	nginx+log) taskset -c 1 nginx -c "$tmp/ngl/nginx.conf" -p "$tmp/ngl" >/dev/null 2>"$err" & ;;
	esac
	echo $!
}

get() { curl -s --max-time 3 --cacert "$tmp/cert.pem" "$@"; }
# The router @1's URL in mode @2 (plain or tls).
url() { if [ "$2" = tls ]; then echo "https://web:${tp[$1]}/"; else echo "http://127.0.0.1:${lp[$1]}/"; fi; }
resolve() { [ "$2" = tls ] && echo "--resolve web:${tp[$1]}:127.0.0.1"; }
MODES="plain tls"

bench_start "$ROUTERS"
for r in $ROUTERS; do
	for _ in $(seq 100); do get -o /dev/null -H "host: web" "http://127.0.0.1:${lp[$r]}/" && break; sleep 0.1; done
done

# Every router routes as the table says, in both modes, before anything is timed (the 200 split
# requests from one curl, on one keep-alive connection).
for r in $ROUTERS; do for m in $MODES; do
	u=$(url "$r" "$m")
	# shellcheck disable=SC2046
	got=$(get $(resolve "$r" "$m") -H "host: web" -H "x-user: jason" "$u")
	[ "$got" = v2 ] || die "$r ($m): x-user: jason did not reach v2 (got \"$got\"; $(tail -3 "$tmp/logs/$r.log" 2>/dev/null))"
	# shellcheck disable=SC2046
	split=$(get $(resolve "$r" "$m") -H 'host: web' $(for _ in $(seq 200); do echo "$u"; done) |
		sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
	v1=$(grep -o 'v1=[0-9]*' <<<"$split" | cut -d= -f2)
	v3=$(grep -o 'v3=[0-9]*' <<<"$split" | cut -d= -f2)
	# Binomial(200, 0.2) for v3: mean 40, sd 5.7.
	[ "$((${v1:-0} + ${v3:-0}))" -eq 200 ] && [ "${v3:-0}" -ge 15 ] && [ "${v3:-0}" -le 65 ] ||
		die "$r ($m): 200 requests split $split, not 80/20 v1/v3"
	say "$r ($m) routes: jason -> v2; 200 others: $split"
done; done

# Like for like over TLS: every router must negotiate what the waypoint does with the client's
# defaults (OpenSSL's, as wrk's): the same protocol, suite and key exchange, or the comparison
# would time different cryptography. Said in the results.
suite() {
	openssl s_client -connect "127.0.0.1:${tp[$1]}" -servername web </dev/null 2>/dev/null |
		awk '/^Server Temp Key:/ {k = $4; sub(",", "", k)} /^New, / {p = $2; c = $NF; sub(",", "", p)}
			END {print p, c, k}'
}
TLS_SUITE=$(suite waypoint)
[ -n "$TLS_SUITE" ] || die "no TLS handshake with the waypoint"
for r in $ROUTERS; do
	[ "$(suite "$r")" = "$TLS_SUITE" ] || die "$r negotiates $(suite "$r"), the waypoint $TLS_SUITE"
done
say "every router negotiates $TLS_SUITE"

: >"$raw"
bench_cap_setup
for r in $ROUTERS; do bench_cap_join "${rpid[$r]}"; done
# Each router twice a repetition: held to half a core (its capacity: requests/s), then free
# (latency, CPU per request, and how busy it was). wrk takes no --resolve: the TLS URL names
# 127.0.0.1 (no SNI check by any of the routers).
for rep in $(seq "$REPS"); do for m in $MODES; do
	for r in $ROUTERS; do
		u="http://127.0.0.1:${lp[$r]}/"
		[ "$m" = tls ] && u="https://127.0.0.1:${tp[$r]}/"
		read -r half busyhalf <<<"$(bench_capacity "$r ($m)" "${rpid[$r]}" -H 'Host: web' "$u")"
		[ -n "$busyhalf" ] || die "$r ($m): no capacity figure"
		say "rep $rep $m $r: $half req/s at half a core (busy $busyhalf)"
		bench_wrk "$r ($m)" "$rep $m $r" \
			"\"mode\":\"$m\",\"router\":\"$r\",\"rep\":$rep,\"rps_half\":$half,\"busy_half\":$busyhalf" \
			"${rpid[$r]}" -H 'Host: web' "$u"
	done
done; done

python3 - "$raw" "$OUT" "$REPS" "$SECS" "$CONNS" "$TLS_SUITE" <<'PY'
import json, statistics, sys
raw, out, reps, secs, conns, tls_suite = sys.argv[1:7]
rows = [json.loads(l) for l in open(raw)]
keys = ["rps_half", "busy_half", "rps", "busy", "p50_ms", "p99_ms", "cpu_s_per_1k", "user_s_per_1k",
        "sys_s_per_1k", "rss_mb"]
names = {"rps_half": "requests/s, the router held to half a core",
         "busy_half": "share of a core used, held (0.5: the router was the limit)",
         "rps": "requests/s, free (one core; the client's core may be the limit)",
         "busy": "share of its core used, free",
         "p50_ms": "p50 latency, ms (free)", "p99_ms": "p99 latency, ms (free)",
         "cpu_s_per_1k": "proxy CPU s per 1,000 requests (free)",
         "user_s_per_1k": "of which user space", "sys_s_per_1k": "of which kernel (system)",
         "rss_mb": "proxy peak RSS, MB"}
routers = ["waypoint", "waypoint-nolog", "haproxy", "nginx", "haproxy+log", "nginx+log"]
shown = {"waypoint": "waypoint", "waypoint-nolog": "waypoint, no log", "haproxy": "HAProxy",
         "nginx": "nginx", "haproxy+log": "HAProxy+log", "nginx+log": "nginx+log"}
# The comparisons: like for like first (each side with, or each without, the access log), then
# the waypoint as it ships (its access log on) against the routers doing less.
pairs = [("waypoint-nolog", "haproxy"), ("waypoint", "haproxy+log"), ("waypoint", "haproxy"),
         ("waypoint-nolog", "nginx"), ("waypoint", "nginx+log"), ("waypoint", "nginx")]
judged_pairs = pairs[:3]
titles = {"plain": "plaintext", "tls": "TLS from the client (terminated by the router)"}
short = {"plain": "plaintext", "tls": "TLS"}
# The issue's targets: figure, bound on waypoint / HAProxy, which side of it, in words.
targets = [("rps_half", 1.15, ">=", "requests/s per proxy core (held to half a core) >= 1.15x HAProxy's"),
           ("cpu_s_per_1k", 0.85, "<=", "CPU per 1,000 requests <= 0.85x HAProxy's"),
           ("p99_ms", 1.0, "<=", "p99 latency no worse than HAProxy's")]
lines = [f"L7 routers, HTTP/1.1 keep-alive, {conns} connections, {secs} s x {reps} repetitions "
         "(medians; ratios pair by pair within a repetition, then their median), each router pinned to CPU 1 (wrk and the backends on CPU 0) and timed twice a "
         "repetition: held to half a core by a cpu cgroup (5 ms of every 10 ms), where the router "
         "and not the client is the limit, for its requests/s; then free, for latency and CPU per "
         "request. Route table: x-user: jason -> v2, else 80/20 v1/v3. The waypoint writes "
         "Envoy's access-log line per request (to /dev/null), as it ships; \"waypoint, no log\" has "
         "it turned off by a Telemetry resource (accessLogging disabled). +log: HAProxy and nginx "
         "write the same line too, with a generated x-request-id and x-forwarded-for/-proto "
         f"upstream. Over TLS every router negotiated the same: {tls_suite} (protocol, suite, key "
         "exchange)"]
meds, judged = {}, []
# A ratio is taken pair by pair (the two routers' runs of one repetition, a minute apart at
# most), then the median of those: the machine's drift between repetitions cancels.
def ratio(mode, a, b, k):
    by = {(x["router"], x["rep"]): x[k] for x in rows if x.get("mode", "plain") == mode}
    rs = [by[(a, n)] / by[(b, n)] for (r, n) in by if r == a and (b, n) in by and by[(b, n)]]
    return statistics.median(rs) if rs else float("inf")
for mode in ("plain", "tls"):
    med = meds[mode] = {}
    for r in routers:
        xs = [x for x in rows if x["router"] == r and x.get("mode", "plain") == mode]
        med[r] = {k: statistics.median(x[k] for x in xs) for k in keys}
    lines += ["", f"**{titles[mode]}**", "",
              "| figure | " + " | ".join(shown[r] for r in routers) + " | "
              + " | ".join(f"{shown[a]} / {shown[b]}" for a, b in pairs) + " |",
              "|---" * (1 + len(routers) + len(pairs)) + "|"]
    for k in keys:
        fmt = (lambda v: f"{v:.0f}") if k.startswith("rps") else (lambda v: f"{v:.3g}")
        lines.append(f"| {names[k]} | " + " | ".join(fmt(med[r][k]) for r in routers) + " | "
                     + " | ".join(f"{ratio(mode, a, b, k):.2f}" for a, b in pairs) + " |")
    for k, bound, op, _ in targets:
        for a, b in judged_pairs:
            q = ratio(mode, a, b, k)
            met = q >= bound if op == ">=" else q <= bound
            judged.append({"mode": mode, "router": a, "against": b, "figure": k, "op": op,
                           "bound": bound, "ratio": q, "met": met})
cell = {(t["mode"], t["router"], t["against"], t["figure"]): t for t in judged}
cols = [(m, a, b) for m in ("plain", "tls") for a, b in judged_pairs]
lines += ["", "**Targets**: like for like (the waypoint without its access log against HAProxy "
          "routing only; with it, against HAProxy with the same line), and the waypoint as it "
          "ships against HAProxy routing only", "",
          "| target | " + " | ".join(f"{short[m]}: {shown[a]} vs {shown[b]}" for m, a, b in cols) + " |",
          "|---" * (1 + len(cols)) + "|"]
for k, _, _, words in targets:
    lines.append(f"| {words} | " + " | ".join(
        "{} ({:.3f}x)".format("met" if cell[(m, a, b, k)]["met"] else "not met",
                              cell[(m, a, b, k)]["ratio"]) for m, a, b in cols) + " |")
lines += ["", f"Targets met: {sum(t['met'] for t in judged)} of {len(judged)}."]
open(out + ".md", "w").write("\n".join(lines) + "\n")
for t in judged:
    t["ratio"] = round(t["ratio"], 4) if t["ratio"] != float("inf") else None
def pick(mode, rs):
    return {r.replace("+log", ""): meds[mode][r] for r in rs}
json.dump({"medians": pick("plain", ["waypoint", "waypoint-nolog", "haproxy", "nginx"]),
           "medians_tls": pick("tls", ["waypoint", "waypoint-nolog", "haproxy", "nginx"]),
           "medians_log": pick("plain", ["haproxy+log", "nginx+log"]),
           "medians_tls_log": pick("tls", ["haproxy+log", "nginx+log"]),
           "targets": judged, "reps": int(reps), "secs": int(secs), "conns": int(conns),
           "tls": tls_suite, "cap": {"quota_us": 5000, "period_us": 10000}},
          open(out + ".json", "w"), indent=1)
print("\n".join(lines))
PY
