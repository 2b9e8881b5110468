#!/usr/bin/env bash
# `make bench`: ambit against no mesh and against reference mTLS tunnels (stunnel4, nginx stream)
# on a two-node local cluster. Every workload runs on every path, repetitions interleaved
# (rep 1: A B C ..., rep 2: A B C ...) so machine drift lands on all paths alike; report.sh turns
# the raw records into medians (min, max) and pair-by-pair ratios.
#
# The cluster is dual stack: every path has an IPv6 twin (nomesh6, ambit6, stunnel6, nginx6) that
# carries the same workload over IPv6 (the Services' IPv6 cluster IPs, the tunnels listening and
# connecting on the nodes' and the server pod's IPv6), measured in the same run beside IPv4. The
# IPv4 paths go by IPv4 addresses only (VIPs, node addresses), never by name, so they measure
# what they measured in an IPv4 cluster.
#
# Knobs (environment; defaults in brackets, QUICK=1 values after the slash):
#   REPS [5/1]            repetitions of every case
#   IPERF_SECS [10/1]     iperf3 duration, 1 and 8 streams
#   LAT_SECS [5/1]        sockperf ping-pong duration at each rate; LAT_MSG [64] bytes
#   LAT_RATES ["1000 10000"]  sockperf --mps rates
#   HTTP_SECS [4/1]       wrk keep-alive duration, HTTP_CONNS [16] connections
#   CONN_SECS [4/1]       wrk "Connection: close" duration, CONN_CONNS [8] connections
#   SCALE_CONNS [1000/50] SCALE_SECS [60/2] long-lived connections and how long they are held
#   SCALE_PATHS ["ambit stunnel nginx"]  paths the scale case runs on (no-mesh has no proxy)
#   WORKLOADS ["tput1 tput8 lat1k lat10k http connrate scale"]  PATHS ["nomesh ambit stunnel
#   nginx relay nomesh-local ambit-local nomesh6 ambit6 stunnel6 nginx6"]  subsets for exploration
#   PIN [unset]           1: each node a CPU of its own for the whole run, as two hosts
#                         (proxies.sh pin_nodes); unpinned, both nodes share the machine's CPUs
#   ZTUNNEL_BIN [build/ztunnel]  the ztunnel the nodes run: another build's, to time a change
#                         against its parent on the same machine in the same hour
#   OUT [bench/results/latest; QUICK: build/bench/quick]  writes OUT.json, OUT.md, OUT.raw.jsonl
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
AMBITCTL=${AMBITCTL:-$REPO/build/ambitctl}
HOLDCONNS=$REPO/build/bench-holdconns
SOCKPERF6=$REPO/build/bench-sockperf6.so
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
REPS=${REPS:-$(q 5 1)}
IPERF_SECS=${IPERF_SECS:-$(q 10 1)}
LAT_SECS=${LAT_SECS:-$(q 5 1)}
LAT_MSG=${LAT_MSG:-64}
LAT_RATES=${LAT_RATES:-1000 10000}
HTTP_SECS=${HTTP_SECS:-$(q 4 1)}
HTTP_CONNS=${HTTP_CONNS:-16}
CONN_SECS=${CONN_SECS:-$(q 4 1)}
CONN_CONNS=${CONN_CONNS:-8}
SCALE_CONNS=${SCALE_CONNS:-$(q 1000 50)}
SCALE_SECS=${SCALE_SECS:-$(q 60 2)}
SCALE_PATHS=${SCALE_PATHS:-ambit stunnel nginx}
WORKLOADS=${WORKLOADS:-tput1 tput8 lat1k lat10k http connrate scale}
PATHS=${PATHS:-nomesh ambit stunnel nginx relay nomesh-local ambit-local nomesh6 ambit6 stunnel6 nginx6}
OUT=${OUT:-$REPO/$(q bench/results/latest build/bench/quick)}

CLUSTER=${BENCH_CLUSTER:-bench$$}
RUN_DIR=/run/ambit/$CLUSTER
# Service name:port; the tunnels get one listener per service (proxies.sh).
SVC_PORTS="http:8080 iperf:5201 sockperf:11111 hold:9100"

log() { echo "[bench] $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (sudo make bench)"
for c in jq iperf3 sockperf wrk stunnel4 nginx openssl ss; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || die "needs libnginx-mod-stream (make deps)"
for b in "$AMBITCTL" "$HOLDCONNS" "$REPO/build/ztunnel" "$REPO/build/ambit-agent"; do
	[ -f "$b" ] && [ -x "$b" ] || die "$b not built (make bench builds it)"
done
[ -f "$SOCKPERF6" ] || die "$SOCKPERF6 not built (make bench builds it)"

. "$HERE/proxies.sh"
. "$HERE/workloads.sh"

actl() { "$AMBITCTL" "$@"; }
pod_exec() {
	local pod=$1
	shift
	actl local exec --name "$CLUSTER" "$pod" -- "$@"
}

# Not under /tmp: a pod has a /tmp of its own, and the client pods run bench-holdconns from here.
WORK=$(mktemp -d /var/tmp/ambit-bench-XXXXXX)
# Private copies of the binaries: a rebuild in the tree during a long run must not change them.
mkdir -p "$WORK/bin"
ZTUNNEL_BIN=${ZTUNNEL_BIN:-$REPO/build/ztunnel}
[ -x "$ZTUNNEL_BIN" ] || die "no ztunnel at $ZTUNNEL_BIN"
cp "$REPO/build/ambit-agent" "$HOLDCONNS" "$SOCKPERF6" "$WORK/bin/"
cp "$ZTUNNEL_BIN" "$WORK/bin/ztunnel"
export AMBIT_ZTUNNEL_BIN=$WORK/bin/ztunnel AMBIT_AGENT_BIN=$WORK/bin/ambit-agent
HOLDCONNS=$WORK/bin/bench-holdconns
SOCKPERF6=$WORK/bin/bench-sockperf6.so
CLUSTER_UP=0
CG_ROOT="" # known once the cluster runs; proxy_stop_all skips its cgroups until then
cleanup() {
	local rc=$? f
	# A failed run shows what the tunnels said before their logs go away.
	if [ "$rc" -ne 0 ]; then
		for f in "$WORK"/*.log; do
			[ -s "$f" ] && { echo "--- $(basename "$f") (last 15 lines)"; tail -n 15 "$f"; } >&2
		done
	fi
	proxy_stop_all
	[ "$CLUSTER_UP" = 1 ] && { actl local down --name "$CLUSTER" >/dev/null 2>&1 ||
		actl local down --name "$CLUSTER" >&2; }
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1,000 connections through a proxy need ~2,000 descriptors in it: raise the limit once here,
# before anything starts, so the ztunnels, stunnel, nginx, servers and clients all inherit it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null

start_s=$(date +%s)
log "cluster $CLUSTER up (reps=$REPS${QUICK:+, QUICK})"
CLUSTER_UP=1
actl local up -f "$HERE/manifests" --name "$CLUSTER" --nodes 2 --ip-family dual \
	>"$WORK/up.log" 2>&1 ||
	{ cat "$WORK/up.log" >&2; die "local up failed"; }

status() { actl local status --name "$CLUSTER" -o json; }
ready() {
	status | jq -e '([.nodes[] | .ztunnel.ready and .agent.ready] | all) and
		([.pods[].running] | all)' >/dev/null
}
# A bound for a loaded machine (CI runs other jobs beside this one), not a measurement.
for _ in $(seq 600); do ready && break; sleep 0.2; done
if ! ready; then
	status >&2 || true
	tail -n 20 "$RUN_DIR"/logs/* >&2 2>/dev/null || true
	die "cluster not ready after 120 s"
fi

st=$(status)
NODE1_IP=$(jq -r '.nodes[] | select(.name == "node1") | .ip' <<<"$st")
NODE2_IP=$(jq -r '.nodes[] | select(.name == "node2") | .ip' <<<"$st")
ZT_PIDS=$(jq -r '[.nodes[].ztunnel.pid] | join(" ")' <<<"$st")
PLAIN_SERVER_IP=$(jq -r '.pods[] | select(.namespace == "bplain" and .name == "server-0") | .ip' <<<"$st")
# <cg2>/ambit-C/node1/pods/ns_pod → <cg2>/ambit-C
CG_ROOT=$(jq -r '.pods[0].cgroup' <<<"$st")
CG_ROOT=${CG_ROOT%/*/*/*}
VIPS=$(jq -c '.serviceIPs' "$RUN_DIR/runtime/pods.json")
vip() { jq -r --arg s "$1" '.[$s]' <<<"$VIPS"; }
# IPv6: the nodes' (cluster.json), the plain server pod's and the Services' (pods.json).
NODE1_IP6=$(jq -r '.nodes[] | select(.name == "node1") | .ip6 // empty' "$RUN_DIR/cluster.json")
NODE2_IP6=$(jq -r '.nodes[] | select(.name == "node2") | .ip6 // empty' "$RUN_DIR/cluster.json")
PLAIN_SERVER_IP6=$(jq -r '.pods[] | select(.namespace == "bplain" and .name == "server-0") |
	.ip6 // empty' "$RUN_DIR/runtime/pods.json")
VIPS6=$(jq -c '.serviceIPs6 // {}' "$RUN_DIR/runtime/pods.json")
vip6() { jq -r --arg s "$1" '.[$s] // empty' <<<"$VIPS6"; }
[ -n "$NODE1_IP6" ] && [ -n "$NODE2_IP6" ] && [ -n "$PLAIN_SERVER_IP6" ] &&
	[ -n "$(vip6 bplain/server)" ] && [ -n "$(vip6 bmesh/server)" ] ||
	die "the cluster is not dual stack (nodes $NODE1_IP6 $NODE2_IP6, pod $PLAIN_SERVER_IP6, VIPs $VIPS6)"

proxies_up || die "reference tunnels did not start"
if [ -n "${PIN:-}" ] && [ "$PIN" != 0 ]; then
	pin_nodes
	log "pinned: node1 on CPU 0, node2 on CPU 1"
fi

# Path → client pod, and host/port for a service port (an IPv6 host is a bare address).
path_pod() { case $1 in ambit*) echo bmesh/client-0 ;; *) echo bplain/client-0 ;; esac; }
path_dest() {
	local path=$1 port=$2
	case $path in
	nomesh) echo "$(vip bplain/server) $port" ;;
	ambit) echo "$(vip bmesh/server) $port" ;;
	nomesh-local) echo "$(vip bplain/server-local) $port" ;;
	ambit-local) echo "$(vip bmesh/server-local) $port" ;;
	stunnel | nginx | relay) echo "$NODE1_IP $(tunnel_port "$path" client "$port")" ;;
	nomesh6) echo "$(vip6 bplain/server) $port" ;;
	ambit6) echo "$(vip6 bmesh/server) $port" ;;
	stunnel6 | nginx6) echo "$NODE1_IP6 $(tunnel_port "${path%6}" client "$port")" ;;
	*) return 1 ;;
	esac
}
# The proxies a path goes through: both ztunnels, both stunnels, both nginx (master + workers).
# An IPv6 tunnel path is the same processes as its IPv4 one, on listeners of their own.
path_pids() {
	case $1 in
	ambit*) echo "$ZT_PIDS" ;;
	stunnel | nginx | relay) echo $(proxy_pids "$1-node1") $(proxy_pids "$1-node2") ;;
	stunnel6 | nginx6) echo $(proxy_pids "${1%6}-node1") $(proxy_pids "${1%6}-node2") ;;
	esac
}

# Every server must answer on every path before anything is measured.
for path in $PATHS; do
	read -r h p <<<"$(path_dest "$path" 8080)" || die "unknown path $path"
	answered=0
	for _ in $(seq 50); do
		pod_exec "$(path_pod "$path")" curl -sf -g -o /dev/null "http://$(host_port "$h" "$p")/" &&
			{ answered=1; break; }
		sleep 0.2
	done
	[ "$answered" = 1 ] || die "path $path: http://$(host_port "$h" "$p")/ does not answer"
done
log "paths ready: $PATHS ($(($(date +%s) - start_s)) s)"

RAW=$WORK/raw.jsonl
: >"$RAW"
CLK_TCK=$(getconf CLK_TCK)

# The machine's AES-256-GCM rate (16 KiB blocks, every core at once): the crypto cost any mTLS
# path pays twice per byte (encrypt, decrypt). report.sh derives the throughput ceiling from it.
aes=$(openssl speed -multi "$(nproc)" -seconds "$(q 3 1)" -bytes 16384 -evp aes-256-gcm 2>/dev/null |
	awk '$1 == "AES-256-GCM" { v = $2; sub(/k$/, "", v); print v * 1000 / 1e9 / '"$(nproc)"' }')
jq -n --argjson a "${aes:-null}" '{aes_gcm_gbytes_per_core_s: $a}' >"$WORK/machine.json"
log "AES-256-GCM: ${aes:-?} GB/s per core"

# run_case WORKLOAD PATH REP: one measurement, appended to RAW with the proxies' CPU and peak RSS.
run_case() {
	local wl=$1 path=$2 rep=$3 pod pids h p t0 t1 s0 s1 res rc hwm
	pod=$(path_pod "$path")
	pids=$(path_pids "$path")
	for p in $pids; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null; done # reset VmHWM
	t0=$(cpu_ticks $pids)
	s0=$(sys_busy_ticks)
	case $wl in
	tput1) read -r h p <<<"$(path_dest "$path" 5201)"; res=$(wl_tput "$pod" "$h" "$p" 1) ;;
	tput8) read -r h p <<<"$(path_dest "$path" 5201)"; res=$(wl_tput "$pod" "$h" "$p" 8) ;;
	lat1k) read -r h p <<<"$(path_dest "$path" 11111)"; res=$(wl_lat "$pod" "$h" "$p" 1000) ;;
	lat10k) read -r h p <<<"$(path_dest "$path" 11111)"; res=$(wl_lat "$pod" "$h" "$p" 10000) ;;
	http) read -r h p <<<"$(path_dest "$path" 8080)"; res=$(wl_http "$pod" "$h" "$p") ;;
	connrate) read -r h p <<<"$(path_dest "$path" 8080)"; res=$(wl_connrate "$pod" "$h" "$p") ;;
	scale) read -r h p <<<"$(path_dest "$path" 9100)"; res=$(wl_scale "$pod" "$h" "$p" "$pids") ;;
	esac
	rc=$?
	t1=$(cpu_ticks $pids)
	s1=$(sys_busy_ticks)
	hwm=$(proc_sum VmHWM $pids)
	if [ $rc -ne 0 ] || [ -z "$res" ]; then
		log "  $wl/$path rep $rep: FAILED"
		jq -cn --arg w "$wl" --arg p "$path" --argjson r "$rep" \
			'{workload: $w, path: $p, rep: $r, ok: false}' >>"$RAW"
		return 0
	fi
	jq -c --arg w "$wl" --arg p "$path" --argjson r "$rep" --arg np "$(wc -w <<<"$pids")" \
		--argjson cpu "$(awk -v a="$t0" -v b="$t1" -v h="$CLK_TCK" 'BEGIN { print (b - a) / h }')" \
		--argjson hwm "$hwm" \
		--argjson sys "$(awk -v a="$s0" -v b="$s1" -v h="$CLK_TCK" 'BEGIN { print (b - a) / h }')" '
		. as $m | ($m.work.requests // null) as $req | ($m.work.bytes // null) as $by |
		{workload: $w, path: $p, rep: $r, ok: true, m: ($m | del(.work))} |
		if $by != null and $by > 0 then .m.sys_cpu_s_per_gb = ($sys / $by * 1e9) else . end |
		if $np != "0" then
			.m.proxy_cpu_s = $cpu | .m.proxy_peak_rss_mb = ($hwm / 1024) |
			if $req != null and $req > 0 then .m.proxy_cpu_s_per_1k = ($cpu / $req * 1000)
			elif $by != null and $by > 0 then .m.proxy_cpu_s_per_gb = ($cpu / $by * 1e9)
			else . end
		else . end' <<<"$res" >>"$RAW"
	log "  $wl/$path rep $rep: $(tail -n 1 "$RAW" | jq -c .m)"
}

for rep in $(seq "$REPS"); do
	log "rep $rep/$REPS ($(($(date +%s) - start_s)) s)"
	for wl in $WORKLOADS; do
		for path in $PATHS; do
			[ "$wl" = scale ] && [[ " $SCALE_PATHS " != *" $path "* ]] && continue
			run_case "$wl" "$path" "$rep"
		done
	done
done

elapsed=$(($(date +%s) - start_s))
mkdir -p "$(dirname "$OUT")"
cp "$RAW" "$OUT.raw.jsonl"
bash "$HERE/report.sh" "$RAW" "$OUT" "$elapsed" "$WORK/machine.json" || die "report failed"
log "wrote $OUT.json and $OUT.md (${elapsed} s)"
# The smoke run's only promise: every case produced its figures.
failed=$(jq -s '[.[] | select((.ok | not) or (.workload == "scale" and .m.ok != 1))] | length' "$RAW")
[ "$failed" -eq 0 ] || die "$failed case(s) produced no figures"
exit 0
