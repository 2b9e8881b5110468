#!/usr/bin/env bash
# tools/bench/profile.sh [WORKLOAD]: where the ztunnels spend their CPU during one bench case on
# the ambit cross-node path. Brings up the bench cluster, runs WORKLOAD (tput1, tput8, lat1k,
# lat10k, http, connrate; default tput1) once while `perf record` samples both ztunnels
# (cpu-clock: this VM has no hardware PMU), prints the top symbols and tears everything down.
#
# Knobs: PROFILE_SECS [10] workload duration; CALLGRAPH [dwarf] perf --call-graph mode
# (the ztunnel is built without frame pointers); PERF_OUT [build/bench/perf] report files;
# FAMILY [4] 6 profiles the ambit6 path (the Service's IPv6 VIP) instead, in the same dual-stack
# cluster as run.sh's (its files WORKLOAD-v6.*).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
AMBITCTL=${AMBITCTL:-$REPO/build/ambitctl}
WL=${1:-tput1}
PROFILE_SECS=${PROFILE_SECS:-10}
CALLGRAPH=${CALLGRAPH:-dwarf}
PERF_OUT=${PERF_OUT:-$REPO/build/bench/perf}
FAMILY=${FAMILY:-4}
SOCKPERF6=$REPO/build/bench-sockperf6.so
CLUSTER=prof$$
IPERF_SECS=$PROFILE_SECS LAT_SECS=$PROFILE_SECS HTTP_SECS=$PROFILE_SECS CONN_SECS=$PROFILE_SECS
LAT_MSG=64 HTTP_CONNS=16 CONN_CONNS=8

log() { echo "[profile] $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root"
command -v perf >/dev/null || die "needs perf (linux-perf)"
. "$HERE/workloads.sh"

actl() { "$AMBITCTL" "$@"; }
pod_exec() {
	local pod=$1
	shift
	actl local exec --name "$CLUSTER" "$pod" -- "$@"
}
WORK=$(mktemp -d /tmp/ambit-prof-XXXXXX)
cleanup() {
	actl local down --name "$CLUSTER" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null

actl local up -f "$HERE/manifests" --name "$CLUSTER" --nodes 2 --ip-family dual >"$WORK/up.log" 2>&1 ||
	die "local up failed: $(cat "$WORK/up.log")"
ready() {
	actl local status --name "$CLUSTER" -o json | jq -e '([.nodes[] | .ztunnel.ready] | all) and
		([.pods[].running] | all)' >/dev/null
}
for _ in $(seq 150); do ready && break; sleep 0.2; done
ready || die "cluster not ready"
st=$(actl local status --name "$CLUSTER" -o json)
zt=$(jq -r '[.nodes[].ztunnel.pid] | join(",")' <<<"$st")
vip=$(jq -r '.serviceIPs["bmesh/server"]' "/run/ambit/$CLUSTER/runtime/pods.json")
name=$WL
if [ "$FAMILY" = 6 ]; then
	vip=$(jq -r '.serviceIPs6["bmesh/server"] // empty' "/run/ambit/$CLUSTER/runtime/pods.json")
	[ -n "$vip" ] || die "bmesh/server has no IPv6 VIP"
	name=$WL-v6
fi
for _ in $(seq 50); do
	pod_exec bmesh/client-0 curl -sf -g -o /dev/null "http://$(host_port "$vip" 8080)/" && break
	sleep 0.2
done

mkdir -p "$PERF_OUT"
data=$PERF_OUT/$name.perf.data
perf record -q -e cpu-clock -F 999 --call-graph "$CALLGRAPH" -p "$zt" -o "$data" \
	-- sleep "$((PROFILE_SECS + 1))" 2>"$WORK/perf.err" &
perf_pid=$!
sleep 0.5
case $WL in
tput1) wl_tput bmesh/client-0 "$vip" 5201 1 ;;
tput8) wl_tput bmesh/client-0 "$vip" 5201 8 ;;
lat1k) wl_lat bmesh/client-0 "$vip" 11111 1000 ;;
lat10k) wl_lat bmesh/client-0 "$vip" 11111 10000 ;;
http) wl_http bmesh/client-0 "$vip" 8080 ;;
connrate) wl_connrate bmesh/client-0 "$vip" 8080 ;;
*) die "unknown workload $WL" ;;
esac
wait "$perf_pid" || die "perf record failed: $(cat "$WORK/perf.err")"
perf report -i "$data" --no-children --sort dso,symbol --stdio 2>/dev/null |
	grep -E '^ +[0-9]+\.[0-9]+%' | head -n 30 | tee "$PERF_OUT/$name.top.txt"
log "top symbols in $PERF_OUT/$name.top.txt; perf data in $data"
