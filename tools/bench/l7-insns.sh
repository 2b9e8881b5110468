#!/usr/bin/env bash
# Instructions per request of the L7 router, counted rather than timed: the waypoint (and HAProxy,
# with and without its access log, for reference) under valgrind's callgrind, in the setup of
# tools/bench/l7.sh (its configurations, from `l7.sh --configs`: the same manifests through
# `ambitctl waypoint config`, one worker, the same nginx backends answering "vN"). Callgrind
# counts the instructions the router executes in user space, so the figure holds still on a
# shared machine (and on this VM, which has no hardware counters); kernel work (the syscalls)
# is not in it.
#
# Per router and mode (plaintext; TLS terminated by the router): a client (python3, below) opens
# CONNS keep-alive connections, sends WARM requests over them (connections, TLS handshakes, the
# router's upstream pool and caches warm), then `callgrind_control -z` zeroes the counts, exactly
# N more requests go over the same connections (each connection one request at a time, as wrk
# does; "GET / HTTP/1.1", Host: web), and `callgrind_control -d` dumps what they cost. Printed:
# total Ir / N as "instructions per request", and the top TOP functions by self Ir per request
# (counted here from the dump: callgrind_annotate takes the costs of calls still in progress at
# the zeroing, which the dump marks calls=0, for the caller's own).
#
# SETUP=gateway: the ingress of tools/bench/gateway.sh instead (`gateway.sh --configs`): the
# gateway, HAProxy and nginx+njs terminating TLS with the RequestAuthentication and the 10-rule
# AuthorizationPolicy on, each request its load's (GET /api/v1/orders with the token and
# x-tenant); mode tls only.
#
# SETUP=tracing: what tracing costs the waypoint, in tools/bench/tracing.sh's configurations
# (`tracing.sh --configs`, its nginx collector taking the exports): none, zipkin1, zipkin100,
# otlp100 (ROUTERS), mode plain; each traced configuration's count is also given over none's.
# Spans are encoded when their batch leaves (every 256 spans, or each second), so the counts
# take the encoding of all but the last partial batch (under 256 of the N requests' spans).
#
# Knobs: SETUP [l7; gateway], N [20000; gateway: 2000], WARM [500; gateway: 100], CONNS [4],
# TOP [25], MODES ["plain tls"; gateway: tls], ROUTERS ["waypoint haproxy haproxy+log"; any of
# l7.sh's: waypoint haproxy nginx haproxy+log nginx+log; gateway: "gateway haproxy nginx"], OUT
# [build/bench/l7-insns; gateway: build/bench/gateway-insns] writes OUT.md (the table and the
# profiles) and OUT.json, KEEP=1 also keeps each dump as OUT.ROUTER.MODE.callgrind (for
# callgrind_annotate or kcachegrind). Not part of `make bench` / `make test`: about a minute per
# router and mode at the default N (the gateway setup verifies an RSA signature per request:
# some minutes per router, nginx+njs the longest).
#
# COUNT=syscalls (tools/bench/l7-syscalls.sh sets it): the kernel side instead, with the same
# setups, client and windows. The router runs natively (no valgrind); after the warm-up, N
# requests are sent with nothing attached and the voluntary context switches of the router's
# threads (/proc/PID/task/*/status) are read around them; then `strace -c -f -p PID` is attached
# and N more requests are sent (strace's own stops would count as switches, hence two windows).
# Printed per request: system calls by kind (reads: read/recvfrom/recvmsg/readv; writes:
# write/sendto/sendmsg/writev; epoll_wait (its returns are the loop's wake-ups); epoll_ctl;
# accept; clock; the rest), reads that failed (EAGAIN: a read with nothing to read), all calls,
# and voluntary context switches. OUT [build/bench/l7-syscalls] gets the table and every call's
# count per request; KEEP=1 also keeps strace's summaries as OUT.ROUTER.MODE.strace.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SETUP=${SETUP:-l7} COUNT=${COUNT:-insns}
case $COUNT in insns | syscalls) ;;
*) echo "[l7-insns] error: COUNT is insns or syscalls (got \"$COUNT\")" >&2; exit 1 ;; esac
case $SETUP in
l7) SUBJECT=waypoint N=${N:-20000} WARM=${WARM:-500} MODES=${MODES:-plain tls}
	ROUTERS=${ROUTERS:-waypoint haproxy haproxy+log} OUT=${OUT:-$REPO/build/bench/l7-$COUNT} ;;
gateway) SUBJECT=gateway N=${N:-2000} WARM=${WARM:-100} MODES=${MODES:-tls}
	ROUTERS=${ROUTERS:-gateway haproxy nginx} OUT=${OUT:-$REPO/build/bench/gateway-$COUNT} ;;
tracing) SUBJECT=none N=${N:-20000} WARM=${WARM:-500} MODES=${MODES:-plain}
	ROUTERS=${ROUTERS:-none zipkin1 zipkin100 otlp100} OUT=${OUT:-$REPO/build/bench/tracing-$COUNT} ;;
*) echo "[l7-insns] error: SETUP is l7, gateway or tracing (got \"$SETUP\")" >&2; exit 1 ;;
esac
CONNS=${CONNS:-4} TOP=${TOP:-25} KEEP=${KEEP:-}
[ "$KEEP" = 0 ] && KEEP=
# The gateway listens on every address: as root, in a network namespace of our own.
if [ "$SETUP" = gateway ] && [ -z "${AMBIT_INSNS_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
	unshare -n true 2>/dev/null; then
	AMBIT_INSNS_NETNS=1 exec unshare -n bash "$0" "$@"
fi
[ -n "${AMBIT_INSNS_NETNS:-}" ] && ip link set lo up

say() { echo "[l7-insns] $*" >&2; }
die() { say "error: $*"; exit 1; }
for c in nginx python3 curl openssl; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
if [ "$COUNT" = insns ]; then
	for c in valgrind callgrind_control; do command -v "$c" >/dev/null || die "needs $c (valgrind)"; done
else
	command -v strace >/dev/null || die "needs strace"
fi
for r in $ROUTERS; do
	case $r in
	waypoint | gateway) [ -x "$REPO/build/waypoint" ] || die "$REPO/build/waypoint not built (make)" ;;
	haproxy | haproxy+log) command -v haproxy >/dev/null || die "needs haproxy (make deps)" ;;
	nginx | nginx+log) ;;
	none | zipkin1 | zipkin100 | otlp100)
		[ "$SETUP" = tracing ] || die "router \"$r\" is SETUP=tracing's"
		[ -x "$REPO/build/waypoint" ] || die "$REPO/build/waypoint not built (make)"
		;;
	*) die "unknown router \"$r\" (waypoint haproxy nginx haproxy+log nginx+log; gateway; tracing: none zipkin1 zipkin100 otlp100)" ;;
	esac
	case $SETUP:$r in
	l7:gateway | gateway:waypoint | gateway:*+log | tracing:[!nzo]*) die "router \"$r\" is not in SETUP=$SETUP" ;;
	esac
done
for m in $MODES; do
	case $SETUP:$m in l7:plain | tracing:plain | l7:tls | gateway:tls) ;;
	*) die "unknown mode \"$m\" (plain tls; gateway: tls; tracing: plain)" ;; esac
done
[ "$N" -gt 0 ] 2>/dev/null || die "N must be a positive number (got \"$N\")"

tmp=$(mktemp -d /tmp/ambit-l7-insns.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The configurations and ports of l7.sh or gateway.sh (ports from the kernel; gateway.sh's are
# TLS only), and the request each client sends.
cfg=$tmp/cfg
declare -A lp=() tp=()
if [ "$SETUP" = gateway ]; then
	bash "$HERE/gateway.sh" --configs "$cfg" || die "gateway.sh --configs failed"
	while read -r r a; do tp[$r]=$a; done <"$cfg/ports"
	printf 'GET /api/v1/orders HTTP/1.1\r\nHost: gw.example.com\r\nAuthorization: Bearer %s\r\nx-tenant: acme\r\n\r\n' \
		"$(cat "$cfg/token")" >"$tmp/request"
elif [ "$SETUP" = tracing ]; then
	bash "$HERE/tracing.sh" --configs "$cfg" || die "tracing.sh --configs failed"
	declare -A ap=()
	while read -r r a b _; do [ "$r" = backend ] || lp[$r]=$a ap[$r]=$b; done <"$cfg/ports"
	printf 'GET / HTTP/1.1\r\nHost: web\r\n\r\n' >"$tmp/request"
else
	bash "$HERE/l7.sh" --configs "$cfg" || die "l7.sh --configs failed"
	while read -r r a b; do lp[$r]=$a tp[$r]=${b:-}; done <"$cfg/ports"
	printf 'GET / HTTP/1.1\r\nHost: web\r\n\r\n' >"$tmp/request"
fi
mkdir -p "$(dirname "$OUT")" "$tmp/logs"
nginx -c "$cfg/be/nginx.conf" -p "$cfg/be" >/dev/null 2>"$tmp/logs/backend.log" &
pids+=($!)
if [ "$SETUP" = tracing ]; then
	nginx -c "$cfg/col/nginx.conf" -p "$cfg/col" >/dev/null 2>"$tmp/logs/collector.log" &
	pids+=($!)
fi

# The client: CONNS connections, each one request at a time until WARM, then N, are sent in all;
# runs callgrind_control -z before the N and -d after. Args: host port tls(0/1) warm n conns pid
# request-file [syscalls-out]: with syscalls-out (COUNT=syscalls), N requests with the router's
# voluntary context switches read around them, then N more under `strace -c -f -p pid`, whose
# summary goes to syscalls-out and the switches to syscalls-out.ctx ("switches requests").
cat >"$tmp/client.py" <<'PY'
import glob, os, signal, socket, ssl, subprocess, sys, threading, time
host, port, tls, warm, n, conns, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", \
    int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
REQ = open(sys.argv[8], "rb").read()
SYSOUT = sys.argv[9] if len(sys.argv) > 9 else None
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE

class Conn:
    def __init__(self):
        s = socket.create_connection((host, port), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(s, server_hostname="web") if tls else s
        self.buf = b""
    def request(self):
        self.s.sendall(REQ)
        while b"\r\n\r\n" not in self.buf:
            self.recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ")[1]
        fields = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        if status != "200":
            raise RuntimeError(f"status {status}")
        if "content-length" not in fields or fields.get("connection", "").lower() == "close":
            raise RuntimeError(f"not a keep-alive response with a length: {lines}")
        size = int(fields["content-length"])
        while len(self.buf) < size:
            self.recv()
        self.buf = self.buf[size:]
    def recv(self):
        b = self.s.recv(65536)
        if not b:
            raise RuntimeError("connection closed by the router")
        self.buf += b

def phase(cs, total):
    left, lock, errors = [total], threading.Lock(), []
    def run(c):
        try:
            while True:
                with lock:
                    if left[0] == 0 or errors:
                        return
                    left[0] -= 1
                c.request()
        except Exception as e:
            errors.append(repr(e))
    ts = [threading.Thread(target=run, args=(c,)) for c in cs]
    for t in ts: t.start()
    for t in ts: t.join()
    if errors:
        sys.exit(f"client: {errors[0]}")

def control(opt):
    r = subprocess.run(["callgrind_control", opt, pid], capture_output=True, text=True)
    if r.returncode != 0 or "OK" not in r.stdout:
        sys.exit(f"client: callgrind_control {opt} {pid} failed: {r.stdout}{r.stderr}")

def switches():
    total = 0
    for st in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            for l in open(st):
                if l.startswith("voluntary_ctxt_switches:"):
                    total += int(l.split()[1])
        except OSError:
            pass
    return total

cs = [Conn() for _ in range(conns)]
phase(cs, max(warm, conns))
if SYSOUT is None:
    control("-z")
    phase(cs, n)
    control("-d")
    sys.exit(0)
c0 = switches()
phase(cs, n)
open(SYSOUT + ".ctx", "w").write(f"{switches() - c0} {n}\n")
st = subprocess.Popen(["strace", "-c", "-f", "-p", pid, "-o", SYSOUT], stderr=subprocess.PIPE, text=True)
while True:  # "Process N attached [with K threads]": all of them, then the line
    l = st.stderr.readline()
    if not l:
        sys.exit(f"client: strace -p {pid} ended before attaching")
    if "attached" in l:
        break
phase(cs, n)
st.send_signal(signal.SIGINT)
st.wait()
PY

# Self Ir per function and the total from a callgrind dump: args dump n top json-out. The cost
# line after a calls= line is the call's inclusive cost, never the caller's own (even calls=0).
# The total is the sum of the self costs (the dump's totals:); its summary: line, kept in the
# JSON, is lower by about 0.05% after a zeroing.
cat >"$tmp/selfcost.py" <<'PY'
import json, re, sys
path, n, top, jout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = {"fn": {}, "ob": {}}
alias = {"fn": "fn", "cfn": "fn", "ob": "ob", "cob": "ob"}
def name(kind, v):
    m = re.match(r"\((\d+)\)(?: (.*))?$", v)
    if not m:
        return v
    if m.group(2) is not None:
        names[kind][m.group(1)] = m.group(2)
    return names[kind].get(m.group(1), v)
npos, summary, fn, ob, after_call = 1, None, "?", "?", False
selfc, total = {}, 0
for line in open(path, errors="replace"):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    c = line[0]
    if c.isdigit() or c in "+-*":
        parts = line.split()
        ir = int(parts[npos]) if len(parts) > npos else 0
        if after_call:
            after_call = False
            continue
        selfc[(ob, fn)] = selfc.get((ob, fn), 0) + ir
        total += ir
        continue
    key, _, val = line.partition("=")
    if key in ("fn", "ob", "cfn", "cob"):
        v = name(alias[key], val)
        if key == "fn": fn = v
        elif key == "ob": ob = v
    elif key == "calls":
        after_call = True
    elif line.startswith("positions:"):
        npos = len(line.split()[1:])
    elif line.startswith("summary:"):
        summary = int(line.split()[1])
rows = sorted(selfc.items(), key=lambda kv: -kv[1])[:top]
prof = [{"function": f, "object": o.rsplit("/", 1)[-1], "ir_per_request": round(v / n, 1),
         "share": round(v / total, 4)} for (o, f), v in rows]
json.dump({"ir": total, "summary": summary, "n": n, "ir_per_request": round(total / n, 1), "top": prof},
          open(jout, "w"))
print(f"{total} {total / n:.1f}")
PY

# strace -c's summary (args: file router mode; the switches in file.ctx) as one JSON line of
# counts per request: the kinds of the table, and every call with its failures.
cat >"$tmp/syscalls.py" <<'PY'
import json, sys
path, router, mode = sys.argv[1:4]
sw, n = (int(v) for v in open(path + ".ctx").read().split())
calls = {}
for line in open(path):
    t = line.split()
    if len(t) < 5 or not t[-1].replace("_", "").isalnum() or t[-1] == "total":
        continue
    try:
        nums = [float(v) for v in t[:-1]]
    except ValueError:
        continue
    # % time, seconds, usecs/call, calls[, errors] syscall
    calls[t[-1]] = {"calls": int(nums[3]) / n, "errors": (int(nums[4]) if len(nums) > 4 else 0) / n}
kinds = {"reads": ("read", "recvfrom", "recvmsg", "readv"), "writes": ("write", "sendto", "sendmsg", "writev"),
         "epoll_wait": ("epoll_wait", "epoll_pwait", "epoll_pwait2"), "epoll_ctl": ("epoll_ctl",),
         "accept": ("accept", "accept4"), "clock": ("clock_gettime", "gettimeofday", "time")}
d = {"router": router, "mode": mode, "n": n, "calls": calls, "ctx": sw / n}
for k, names in kinds.items():
    d[k] = sum(calls[c]["calls"] for c in names if c in calls)
d["reads_eagain"] = sum(calls[c]["errors"] for c in kinds["reads"] if c in calls)
d["all"] = sum(v["calls"] for v in calls.values())
d["other"] = d["all"] - sum(d[k] for k in kinds)
print(json.dumps(d))
PY

# Starts router @1 under callgrind (dumps $tmp/cg.@1.out.K); prints its pid.
start() {
	local vg=(valgrind --tool=callgrind "--callgrind-out-file=$tmp/cg.$1.out")
	[ "$COUNT" = syscalls ] && vg=()
	local err="$tmp/logs/$1.log"
	case $1 in
	gateway)
		"${vg[@]}" "$REPO/build/waypoint" --config "$cfg/gateway.json" --workers 1 \
			--log-level warn >/dev/null 2>"$err" &
		;;
	waypoint)
		"${vg[@]}" "$REPO/build/waypoint" --config "$cfg/l7.json" --workers 1 --log-level warn \
			--listen "127.0.0.1:${lp[waypoint]}=web.bench.svc.cluster.local:80" \
			--listen-tls "127.0.0.1:${tp[waypoint]}=web.bench.svc.cluster.local:80" \
			--tls-cert "$cfg/cert.pem" --tls-key "$cfg/key.pem" >/dev/null 2>"$err" &
		;;
	none | zipkin1 | zipkin100 | otlp100)
		"${vg[@]}" "$REPO/build/waypoint" --config "$cfg/$1.json" --workers 1 --log-level warn \
			--listen "127.0.0.1:${lp[$1]}=web.bench.svc.cluster.local:80" \
			--admin "127.0.0.1:${ap[$1]}" >/dev/null 2>"$err" &
		;;
	haproxy) "${vg[@]}" haproxy -db -f "$cfg/haproxy.cfg" >/dev/null 2>"$err" & ;;
	haproxy+log) "${vg[@]}" haproxy -db -f "$cfg/haproxy-log.cfg" >/dev/null 2>"$err" & ;;
	# nginx: one process (no master), so the worker's counts are the ones callgrind dumps.
	nginx) "${vg[@]}" nginx -g "master_process off;" -c "$cfg/ng/nginx.conf" -p "$cfg/ng" >/dev/null 2>"$err" & ;;
	nginx+log) "${vg[@]}" nginx -g "master_process off;" -c "$cfg/ngl/nginx.conf" -p "$cfg/ngl" >/dev/null 2>"$err" & ;;
	esac
	echo $!
}
get() { curl -s --max-time 10 "$@"; }

: >"$tmp/results.jsonl"
for r in $ROUTERS; do
	pid=$(start "$r")
	pids+=("$pid")
	if [ "$SETUP" = gateway ]; then
		# Up, and the load's request passes (gateway.sh checks the refusals).
		u="https://gw.example.com:${tp[$r]}/api/v1/orders"
		a=(--cacert "$cfg/cert.pem" --resolve "gw.example.com:${tp[$r]}:127.0.0.1")
		for _ in $(seq 120); do
			get "${a[@]}" -o /dev/null "$u" && break
			kill -0 "$pid" 2>/dev/null || die "$r exited under valgrind: $(tail -5 "$tmp/logs/$r.log")"
			sleep 0.5
		done
		got=$(get "${a[@]}" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$cfg/token")" \
			-H "x-tenant: acme" "$u")
		[ "$got" = 200 ] || die "$r: the load's request got $got, not 200 ($(tail -3 "$tmp/logs/$r.log"))"
	else
		for _ in $(seq 120); do
			get -o /dev/null -H "host: web" "http://127.0.0.1:${lp[$r]}/" && break
			kill -0 "$pid" 2>/dev/null || die "$r exited under valgrind: $(tail -5 "$tmp/logs/$r.log")"
			sleep 0.5
		done
		got=$(get -H "host: web" -H "x-user: jason" "http://127.0.0.1:${lp[$r]}/")
		[ "$got" = v2 ] || die "$r: x-user: jason did not reach v2 (got \"$got\"; $(tail -3 "$tmp/logs/$r.log"))"
	fi
	part=0
	for m in $MODES; do
		p=${lp[$r]:-} tls=0
		[ "$m" = tls ] && p=${tp[$r]} tls=1
		say "$r ($m): $WARM warm-up requests, then $N counted, over $CONNS connections"
		t0=$(date +%s)
		if [ "$COUNT" = syscalls ]; then
			sc=$tmp/$r.$m.strace
			python3 "$tmp/client.py" 127.0.0.1 "$p" "$tls" "$WARM" "$N" "$CONNS" "$pid" "$tmp/request" "$sc" ||
				die "$r ($m): the client failed ($(tail -3 "$tmp/logs/$r.log"))"
			python3 "$tmp/syscalls.py" "$sc" "$r" "$m" >>"$tmp/results.jsonl" ||
				die "$r ($m): could not read strace's summary $sc"
			say "$r ($m): $(tail -1 "$tmp/results.jsonl" | python3 -c 'import json, sys; d = json.load(sys.stdin); print("%.2f system calls, %.2f wake-ups, %.2f switches per request" % (d["all"], d["epoll_wait"], d["ctx"]))') ($(($(date +%s) - t0)) s)"
			[ -n "$KEEP" ] && cp "$sc" "$OUT.$r.$m.strace"
			continue
		fi
		python3 "$tmp/client.py" 127.0.0.1 "$p" "$tls" "$WARM" "$N" "$CONNS" "$pid" "$tmp/request" ||
			die "$r ($m): the client failed ($(tail -3 "$tmp/logs/$r.log"))"
		part=$((part + 1))
		dump=$tmp/cg.$r.out.$part
		[ -s "$dump" ] || die "$r ($m): no callgrind dump $dump"
		read -r ir per < <(python3 "$tmp/selfcost.py" "$dump" "$N" "$TOP" "$tmp/$r.$m.json") ||
			die "$r ($m): could not read $dump"
		say "$r ($m): $ir instructions for $N requests: $per per request ($(($(date +%s) - t0)) s)"
		python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d.update(router=sys.argv[2], mode=sys.argv[3]); print(json.dumps(d))' \
			"$tmp/$r.$m.json" "$r" "$m" >>"$tmp/results.jsonl"
		[ -n "$KEEP" ] && cp "$dump" "$OUT.$r.$m.callgrind"
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done

if [ "$COUNT" = syscalls ]; then
	python3 - "$tmp/results.jsonl" "$OUT" "$N" "$WARM" "$CONNS" <<'PY'
import json, sys
src, out, n, warm, conns = sys.argv[1:6]
res = [json.loads(l) for l in open(src)]
shown = {"waypoint": "waypoint", "haproxy": "HAProxy", "nginx": "nginx", "haproxy+log": "HAProxy+log",
         "nginx+log": "nginx+log", "gateway": "gateway", "none": "no tracing", "zipkin1": "Zipkin 1 %",
         "zipkin100": "Zipkin 100 %", "otlp100": "OTLP/HTTP 100 %"}
title = {"plain": "plaintext", "tls": "TLS"}
cols = [("reads", "reads"), ("reads_eagain", "of them EAGAIN"), ("writes", "writes"),
        ("epoll_wait", "epoll_wait (wake-ups)"), ("epoll_ctl", "epoll_ctl"), ("accept", "accept"),
        ("clock", "clock"), ("other", "others"), ("all", "all"), ("ctx", "voluntary switches")]
lines = [f"System calls per request (strace -c -f on the router), {n} requests over {conns} keep-alive "
         f"connections after {warm} warm-up; voluntary context switches over another {n}, without strace", "",
         "| router | mode | " + " | ".join(c[1] for c in cols) + " |", "|---" * (2 + len(cols)) + "|"]
for x in res:
    lines.append(f"| {shown.get(x['router'], x['router'])} | {title[x['mode']]} | " +
                 " | ".join(f"{x[c[0]]:.2f}" for c in cols) + " |")
lines += ["", "Every call, per request (calls, and failed calls where any):", ""]
for x in res:
    lines.append(f"- {shown.get(x['router'], x['router'])}, {title[x['mode']]}: " + ", ".join(
        f"{k} {v['calls']:.2f}" + (f" ({v['errors']:.2f} failed)" if v["errors"] else "")
        for k, v in sorted(x["calls"].items(), key=lambda kv: -kv[1]["calls"])))
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"n": int(n), "warm": int(warm), "conns": int(conns), "results": res}, open(out + ".json", "w"), indent=1)
print("\n".join(lines))
PY
	exit
fi

python3 - "$tmp/results.jsonl" "$OUT" "$N" "$WARM" "$CONNS" "$TOP" "$SUBJECT" <<'PY'
import json, sys
src, out, n, warm, conns, top, subject = sys.argv[1:8]
res = [json.loads(l) for l in open(src)]
by = {(x["router"], x["mode"]): x for x in res}
routers = list(dict.fromkeys(x["router"] for x in res))
modes = list(dict.fromkeys(x["mode"] for x in res))
shown = {"waypoint": "waypoint", "haproxy": "HAProxy", "nginx": "nginx",
         "haproxy+log": "HAProxy+log", "nginx+log": "nginx+log", "gateway": "gateway"}
setup = "l7.sh's route table and backends"
if subject == "gateway":
    shown["nginx"] = "nginx+njs"
    setup = ("gateway.sh's ingress: TLS terminated, RS256 JWT verified and a 10-rule "
             "AuthorizationPolicy on every request")
if subject == "none":
    shown.update(none="no tracing", zipkin1="Zipkin 1 %", zipkin100="Zipkin 100 %",
                 otlp100="OTLP/HTTP 100 %")
    setup = "tracing.sh's configurations, spans exported to its nginx collector"
title = {"plain": "plaintext", "tls": "TLS"}
lines = [f"Instructions per request (callgrind Ir, user space), {n} requests over {conns} keep-alive "
         f"connections after {warm} warm-up; {setup}", "",
         "| router | " + " | ".join(title[m] for m in modes) + " |", "|---" * (1 + len(modes)) + "|"]
for r in routers:
    lines.append(f"| {shown[r]} | " + " | ".join(
        f"{by[(r, m)]['ir_per_request']:,.0f}" if (r, m) in by else "-" for m in modes) + " |")
if subject == "none" and subject in routers:
    for r in [r for r in routers if r != subject]:
        lines.append(f"| {shown[r]}/{shown[subject]} | " + " | ".join(
            f"{by[(r, m)]['ir_per_request'] / by[(subject, m)]['ir_per_request']:.2f}"
            if (r, m) in by and (subject, m) in by else "-" for m in modes) + " |")
elif subject in routers:
    for ref in [r for r in routers if r != subject]:
        lines.append(f"| {subject}/{shown[ref]} | " + " | ".join(
            f"{by[(subject, m)]['ir_per_request'] / by[(ref, m)]['ir_per_request']:.2f}"
            if (subject, m) in by and (ref, m) in by else "-" for m in modes) + " |")
for x in res:
    lines += ["", f"**{shown[x['router']]}, {title[x['mode']]}**: top {top} functions by self "
              f"instructions ({x['ir_per_request']:,.0f} per request in all)", "",
              "| Ir per request | share | function | object |", "|---|---|---|---|"]
    for f in x["top"]:
        lines.append(f"| {f['ir_per_request']:,.0f} | {100 * f['share']:.1f}% | {f['function']} | {f['object']} |")
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"n": int(n), "warm": int(warm), "conns": int(conns), "results": res},
          open(out + ".json", "w"), indent=1)
print("\n".join(lines))
PY
