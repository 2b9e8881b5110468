# Workloads for tools/bench/run.sh (sourced). Each wl_* runs one case from the client pod against
# HOST PORT and prints one JSON object: the figures, plus "work" (requests or bytes it moved) that
# run.sh divides the proxies' CPU by. A tool that fails or prints nothing parseable makes the
# function return non-zero; run.sh records the case as failed rather than inventing a number.
#
# HOST is an IPv4 or a bare IPv6 address; each tool gets it in its own syntax (iperf3 takes either,
# a URL brackets IPv6, sockperf needs bench-sockperf6.so for it).
#
# Needs: actl, knobs IPERF_SECS LAT_SECS LAT_MSG HTTP_SECS HTTP_CONNS CONN_SECS CONN_CONNS
# SCALE_CONNS SCALE_SECS, HOLDCONNS (binary path), SOCKPERF6 (bench-sockperf6.so's path).

# host_port HOST PORT: HOST:PORT, an IPv6 HOST in brackets (URLs, curl -g).
host_port() { case $1 in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac; }

# iperf3 throughput, N parallel streams.
wl_tput() {
	local pod=$1 host=$2 port=$3 streams=$4 out
	out=$(pod_exec "$pod" iperf3 -c "$host" -p "$port" -t "$IPERF_SECS" -P "$streams" -J) ||
		return 1
	jq -ce '.end.sum_received | select(.bytes > 0) |
		{gbps: (.bits_per_second / 1e9), work: {bytes: .bytes}}' <<<"$out"
}

# sockperf ping-pong at a fixed rate over one persistent connection; round-trip percentiles.
# Debian's sockperf takes IPv4 only: to an IPv6 HOST it runs with bench-sockperf6.so preloaded,
# which points its socket at [HOST]:PORT and leaves every send, receive and timer to sockperf.
# PROTO udp (udp.sh): datagrams, sockperf's default mode, instead of a TCP connection.
wl_lat() {
	local pod=$1 host=$2 port=$3 mps=$4 proto=(--tcp) out pre=()
	[ "${5:-}" = udp ] && proto=()
	case $host in *:*)
		pre=(env LD_PRELOAD="$SOCKPERF6" BENCH_SOCKPERF6="$host")
		host=0.0.0.0
		;;
	esac
	out=$(pod_exec "$pod" "${pre[@]}" sockperf ping-pong "${proto[@]}" -i "$host" -p "$port" --mps "$mps" \
		-t "$LAT_SECS" -m "$LAT_MSG" --full-rtt 2>&1) || return 1
	awk '
		/\[Total Run\]/ { for (i = 1; i <= NF; i++) if ($i ~ /^ReceivedMessages=/) {
			split($i, a, "="); n = a[2] + 0 } }
		/dropped messages/ { split($0, d, "dropped messages = "); drop = d[2] + 0 }
		/percentile 50.000/ { p50 = $NF } /percentile 90.000/ { p90 = $NF }
		/percentile 99.000/ { p99 = $NF } /percentile 99.900/ { p999 = $NF }
		END {
			if (p50 == "" || p999 == "" || n == 0) exit 1
			printf "{\"p50_us\":%s,\"p90_us\":%s,\"p99_us\":%s,\"p999_us\":%s,", p50, p90, p99, p999
			printf "\"dropped\":%d,\"work\":{\"requests\":%d}}\n", drop, n
		}' <<<"$out"
}

# wrk output → JSON: requests/s, latency percentiles in microseconds, errors.
wrk_json() {
	awk '
		function us(v) {
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return v * 1000
			if (v ~ /s$/) return v * 1000000
			return v + 0
		}
		$1 == "50%" { p50 = us($2) } $1 == "90%" { p90 = us($2) } $1 == "99%" { p99 = us($2) }
		/requests in/ { n = $1 }
		/Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
		/Non-2xx or 3xx/ { err += $NF }
		/^Requests\/sec:/ { rps = $2 }
		END {
			if (rps == "" || n == 0) exit 1
			printf "{\"rps\":%s,\"p50_us\":%s,\"p90_us\":%s,\"p99_us\":%s,", rps, p50, p90, p99
			printf "\"errors\":%d,\"work\":{\"requests\":%d}}\n", err, n
		}'
}

# HTTP/1.1 keep-alive requests against nginx in the server pod.
wl_http() {
	local pod=$1 host=$2 port=$3 out
	out=$(pod_exec "$pod" wrk -t1 -c "$HTTP_CONNS" -d "${HTTP_SECS}s" --latency \
		"http://$(host_port "$host" "$port")/") || return 1
	wrk_json <<<"$out"
}

# New connections per second: every request carries "Connection: close", so nginx closes after
# each response and wrk connects again (connect, one small request, close).
wl_connrate() {
	local pod=$1 host=$2 port=$3 out
	out=$(pod_exec "$pod" wrk -t1 -c "$CONN_CONNS" -d "${CONN_SECS}s" --latency \
		-H 'Connection: close' "http://$(host_port "$host" "$port")/") || return 1
	wrk_json <<<"$out" | jq -ce '{conn_per_s: .rps, p99_us, errors, work}'
}

# SCALE_CONNS long-lived connections held SCALE_SECS, every byte echoed and checked; the proxies'
# resident memory is sampled each second while they are open (PIDS: the proxies' pids).
wl_scale() {
	local pod=$1 host=$2 port=$3 pids=$4 out rc max=0 rss bg
	out=$WORK/scale.out
	pod_exec "$pod" "$HOLDCONNS" hold "$host" "$port" "$SCALE_CONNS" "$SCALE_SECS" \
		>"$out" 2>"$WORK/scale.err" &
	bg=$!
	while kill -0 "$bg" 2>/dev/null; do
		if [ -n "$pids" ]; then
			rss=$(proc_sum VmRSS $pids)
			[ "$rss" -gt "$max" ] && max=$rss
		fi
		sleep 1
	done
	wait "$bg"
	rc=$?
	[ -s "$out" ] || return 1
	jq -ce --argjson max "$max" --argjson rc "$rc" '{ok: (if .ok and $rc == 0 then 1 else 0 end),
		established, mismatched_bytes, closed_early,
		open_rss_mb: (if $max > 0 then $max / 1024 else null end), work: {}}' "$out"
}

# proc_sum FIELD PID...: sum of a /proc/PID/status field (kB) over the pids.
proc_sum() {
	local f=$1 p s=0 v
	shift
	for p in "$@"; do
		v=$(awk -v f="$f:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null)
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

# cpu_ticks PID...: user+system clock ticks of the processes (all their threads); user_ticks
# PID...: the user-space share alone. stat_ticks "N..." PID...: the sum of /proc/PID/stat fields
# N... (counted after the command's name: 12 utime, 13 stime) over the processes, one read each.
cpu_ticks() { stat_ticks "12 13" "$@"; }
user_ticks() { stat_ticks 12 "$@"; }
stat_ticks() {
	local n=$1 p s=0 v
	shift
	for p in "$@"; do
		v=$(awk -v n="$n" '{ sub(/.*\) /, ""); k = split(n, f, " "); t = 0
			for (i = 1; i <= k; i++) t += $f[i]; print t }' "/proc/$p/stat" 2>/dev/null)
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

# sys_busy_ticks: clock ticks all CPUs spent busy (user, nice, system, irq, softirq) since boot;
# idle, iowait and steal (time the hypervisor ran something else) are not ours.
sys_busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
