# Helpers of the benchmarks that time an L7 proxy of ours against HAProxy and nginx, each on one
# core (sourced by tools/bench/l7.sh and tools/bench/gateway.sh): their arguments and knobs, what
# they need, their scratch directory and processes, nginx configuration fragments, and one timed
# wrk run with the proxy's CPU and peak RSS.
#
# Needs: REPO, and BENCH set before sourcing (l7 or gateway: it names the script, its messages'
# prefix, its results and its scratch directory).

say() { echo "[bench-$BENCH] $*" >&2; }
die() { say "error: $*"; exit 1; }

# bench_args ARG...: CONFIGS, the DIR of `--configs DIR` (empty without).
bench_args() {
	CONFIGS=
	if [ "${1:-}" = --configs ]; then
		[ -n "${2:-}" ] || { echo "usage: $BENCH.sh [--configs DIR]" >&2; exit 2; }
		CONFIGS=$2
	fi
}

# bench_knobs: QUICK, and REPS, SECS, CONNS and OUT from the environment or their defaults (the
# smoke values with QUICK; 5 repetitions: on this shared VM a median of 3 moved by tens of
# percent between runs); raw, the file of the runs' records (OUT.raw.jsonl).
bench_knobs() {
	QUICK=${QUICK:-}
	[ "$QUICK" = 0 ] && QUICK=
	REPS=${REPS:-$(bench_q 5 1)} SECS=${SECS:-$(bench_q 5 1)} CONNS=${CONNS:-16}
	OUT=${OUT:-$(bench_q "$REPO/bench/results/$BENCH" "$REPO/build/bench/$BENCH")}
	raw=$OUT.raw.jsonl
}
bench_q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }

# bench_need_tools: dies without the tools of the configurations, or (unless CONFIGS) those of the
# timed run, or without ambitctl.
bench_need_tools() {
	local c
	for c in python3 openssl; do
		command -v "$c" >/dev/null || die "needs $c (make deps)"
	done
	[ -x "$REPO/build/ambitctl" ] || die "$REPO/build/ambitctl not built (make)"
	[ -n "$CONFIGS" ] && return 0
	for c in wrk nginx haproxy taskset curl; do
		command -v "$c" >/dev/null || die "needs $c (make deps)"
	done
}

# bench_ports N: N distinct TCP ports free now, on one line, below the ephemeral range (none
# taken as a source port by the runs' own connections before its server binds it).
bench_ports() { python3 "$REPO/tools/freeports.py" "$1"; }

# bench_scratch WHY: tmp, the configurations' directory: CONFIGS, or (dying without the waypoint
# built or 2 CPUs, WHY saying what for) a new one removed at exit. The processes in pids are
# killed at exit.
bench_scratch() {
	if [ -n "$CONFIGS" ]; then
		mkdir -p "$CONFIGS" || die "cannot make $CONFIGS"
		tmp=$(cd "$CONFIGS" && pwd)
	else
		[ -x "$REPO/build/waypoint" ] || die "$REPO/build/waypoint not built (make)"
		[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs ($1)"
		tmp=$(mktemp -d "/tmp/ambit-bench-$BENCH.XXXXXX")
	fi
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}
bench_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${CAPCG:-}" ] && for _ in $(seq 50); do rmdir "$CAPCG" 2>/dev/null && break; sleep 0.1; done
	[ -n "$CONFIGS" ] || rm -rf "$tmp"
}

# A proxy's capacity is timed with the proxy held to half a core, so that it, not the client
# and backends on the other core, is what runs out: unheld, a router lighter than the client
# leaves its core partly idle and its requests/s is the client's. bench_cap_setup makes CAPCG, a
# cgroup of the script's own (removed at exit) under the machine's cpu controller: cgroup v2's
# when the v2 root delegates it (cpu in cgroup.subtree_control; never changed here), else v1's.
# bench_cap_join PID moves the proxy's processes into it (unlimited until bench_cap on);
# bench_cap on|off holds them to CAP_US of every 10 ms period (half a core), or lets them go.
CAP_US=5000
CAP_PERIOD_US=10000
bench_cap_setup() {
	local v2 v1
	v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	if [ -n "$v2" ] && grep -qw cpu "$v2/cgroup.subtree_control" 2>/dev/null; then
		CAPV=2 CAPCG=$v2/ambit-bench-$BENCH.$$
	else
		v1=$(awk '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == "cpu") { print $2; exit } }' /proc/mounts)
		[ -n "$v1" ] || die "no cpu cgroup controller (cgroup v2 delegating cpu, or v1's cpu): cannot hold a proxy to half a core"
		CAPV=1 CAPCG=$v1/ambit-bench-$BENCH.$$
	fi
	mkdir "$CAPCG" || die "cannot make the cgroup $CAPCG"
	bench_cap off
}
bench_cap_join() {
	local p
	for p in $(tree "$1"); do echo "$p" >"$CAPCG/cgroup.procs" || die "cannot move $p into $CAPCG"; done
}
bench_cap() {
	local q=max
	[ "$1" = on ] && q=$CAP_US
	if [ "$CAPV" = 2 ]; then
		echo "$q $CAP_PERIOD_US" >"$CAPCG/cpu.max"
	else
		echo "$CAP_PERIOD_US" >"$CAPCG/cpu.cfs_period_us"
		[ "$q" = max ] && q=-1
		echo "$q" >"$CAPCG/cpu.cfs_quota_us"
	fi || die "cannot set the cpu limit of $CAPCG"
}
# bench_capacity WHO PID WRK_ARG...: requests/s of the proxy whose first process is PID, held
# to half a core (CAP_US/CAP_PERIOD_US), and the share of a core it used (about 0.5 when it was
# the limit): "RPS BUSY".
bench_capacity() {
	local who=$1 pid=$2 w u0 s0 u1 s1 rps
	shift 2
	bench_cap on
	read -r u0 s0 < <(cpu_ticks "$pid")
	w=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" "$@" 2>&1)
	read -r u1 s1 < <(cpu_ticks "$pid")
	bench_cap off
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
	[ -n "$rps" ] && ! grep -q 'Non-2xx\|Socket errors' <<<"$w" || die "$who, held to half a core: $w"
	echo "$rps $(busy_share $((u1 - u0 + s1 - s0)))"
}
# busy_share TICKS: the share of one core that TICKS of CPU are over a run of SECS seconds.
busy_share() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v s="$SECS" 'BEGIN { printf "%.3f", t / hz / s }'; }

# bench_start NAMES: the backends' nginx ($tmp/be/nginx.conf) on CPU 0, then each proxy of NAMES
# (`start NAME`, the script's own, starts it and prints its pid), its pid in rpid[NAME]; all of
# them killed at exit.
bench_start() {
	local r
	declare -gA rpid=()
	taskset -c 0 nginx -c "$tmp/be/nginx.conf" -p "$tmp/be" >/dev/null 2>&1 &
	pids+=($!)
	for r in $1; do
		rpid[$r]=$(start "$r")
		pids+=("${rpid[$r]}")
	done
}

# nginx_common DIR: the top of an nginx.conf whose pid file and error log are in DIR.
nginx_common() {
	cat <<NGINX
daemon off;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
NGINX
}
# temp_paths DIR: an http block's temporary directories, in DIR.
temp_paths() {
	printf '  client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;\n' "$1" "$1" "$1"
	printf '  uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;\n' "$1" "$1"
}
# nginx_http DIR: an nginx.conf of one worker (nginx_common DIR) up to its open http block, with
# no access log.
nginx_http() {
	echo "worker_processes 1;"
	nginx_common "$1"
	echo "http {"
	echo "  access_log off; keepalive_requests 1000000;"
	temp_paths "$1"
}

# A proxy's processes: the one started and its children (nginx's worker).
tree() { echo "$1"; pgrep -P "$1"; }
# "user system" clock ticks of a proxy's processes (/proc/PID/stat utime and stime).
cpu_ticks() {
	local p u=0 s=0 a b
	for p in $(tree "$1"); do
		read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo "0 0")
		u=$((u + a)) s=$((s + b))
	done
	echo "$u $s"
}
rss_kb() {
	local p t=0
	for p in $(tree "$1"); do
		t=$((t + $(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
ms() { # wrk's latency ("1.23ms", "456.00us", "1.02s") in ms
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[^m]s$/) n *= 1000; printf "%.3f", n }'
}
# per1k TICKS REQUESTS: CPU seconds per 1,000 requests.
per1k() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.4f", t / hz / n * 1000 }'; }

# bench_wrk WHO SAID FIELDS PID WRK_ARG...: one timed run of wrk (on CPU 0, CONNS connections for
# SECS s) with WRK_ARGs (headers, the URL) against the proxy whose first process is PID. Appends
# its record to $raw (FIELDS, the leading JSON fields naming it, then the figures: requests/s,
# p50 and p99, the proxy's CPU s per 1,000 requests, its peak RSS, and the share of a core it
# was busy: below 1, the client was the limit) and says it as "rep SAID:
# ..."; dies naming WHO when wrk made no requests or saw errors (non-2xx answers, socket errors).
bench_wrk() {
	local who=$1 said=$2 fields=$3 pid=$4 w u0 s0 u1 s1 reqs rps p50 p99 errs cpu ucpu scpu rss busy
	shift 4
	read -r u0 s0 < <(cpu_ticks "$pid")
	w=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$@" 2>&1)
	read -r u1 s1 < <(cpu_ticks "$pid")
	reqs=$(awk '/requests in/ {print $1}' <<<"$w")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
	p50=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$w")")
	p99=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$w")")
	errs=$(awk '/Non-2xx|Socket errors/' <<<"$w")
	[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || die "$who: wrk made no requests: $w"
	[ -z "$errs" ] || die "$who: errors under load: $errs"
	cpu=$(per1k $((u1 - u0 + s1 - s0)) "$reqs")
	ucpu=$(per1k $((u1 - u0)) "$reqs")
	scpu=$(per1k $((s1 - s0)) "$reqs")
	rss=$(awk -v k="$(rss_kb "$pid")" 'BEGIN { printf "%.1f", k / 1024 }')
	busy=$(busy_share $((u1 - u0 + s1 - s0)))
	printf '{%s,"rps":%s,"p50_ms":%s,"p99_ms":%s,"cpu_s_per_1k":%s,"user_s_per_1k":%s,"sys_s_per_1k":%s,"rss_mb":%s,"busy":%s}\n' \
		"$fields" "$rps" "$p50" "$p99" "$cpu" "$ucpu" "$scpu" "$rss" "$busy" >>"$raw"
	say "rep $said: $rps req/s, p50 $p50 ms, p99 $p99 ms, $cpu CPU s/1k req, RSS $rss MB"
}

# The web world the L7 benches route (tools/waypoint-world.sh's manifests, as a user writes them):
# service web (port 80 -> port @1 of its pods), pods web-v1..v@2 at 127.0.0.2.., a DestinationRule
# with a subset per version, and a VirtualService sending `x-user: jason` to v2 and the rest to
# @3 (the route's YAML: a flow list of destinations, indented lines after "route:").
web_world() {
	local port=$1 n=$2 rest=$3 v
	. "$REPO/tools/waypoint-world.sh"
	wp_world bench
	wp_service bench web "{app: web}" "[{name: http, port: 80, targetPort: $port}]"
	for v in $(seq "$n"); do
		wp_pod bench "web-v$v" "127.0.0.$((v + 1))" "{app: web, version: v$v}"
	done
	printf -- '---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n'
	printf 'metadata: {name: web, namespace: bench}\nspec:\n  host: web\n  subsets:\n'
	for v in $(seq "$n"); do echo "  - {name: v$v, labels: {version: v$v}}"; done
	cat <<YAML
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: bench}
spec:
  hosts: [web]
  http:
  - match: [{headers: {x-user: {exact: jason}}}]
    route: [{destination: {host: web, subset: v2}}]
  - route:$rest
YAML
}

# The web world's backends: nginx.conf (into @1's nginx.conf) answering "vN" on 127.0.0.N+1:@2
# for N in 1..@3.
web_backends() {
	local v
	{
		nginx_http "$1"
		for v in $(seq "$3"); do
			echo "  server { listen 127.0.0.$((v + 1)):$2; location / { return 200 \"v$v\\n\"; } }"
		done
		echo "}"
	} >"$1/nginx.conf"
}
