#!/usr/bin/env bash
# The DNS proxy against Debian's dnsmasq (`make bench` runs it after the dashboard). A one-node
# local cluster with SERVICES Services (namespace bdns, enrolled) and one client pod; dnsperf
# (Debian's) in the pod on CPU 0, the answering process alone on CPU 1:
#
#   mesh      the pod's queries for the Services' FQDNs to its nameserver (169.254.1.1:53),
#             steered by the capture to the node ztunnel's proxy (15053), which answers from
#             its snapshot; the whole ztunnel pinned to CPU 1
#   dnsmasq   the same names from a hosts file (the same addresses), a dnsmasq on the node at
#             169.254.1.1:5353 (a port the capture leaves alone), pinned to CPU 1
#   forward   names the mesh does not know (EXTERNAL of them), through the proxy to the node's
#             resolver: a dnsmasq on the fabric (10.99.0.1:53) answering from a hosts file
#   direct    the same names asked of the same resolver's twin on 10.99.0.1:5300 (a second
#             dnsmasq: the capture steers port 53 only), so the path differs by the proxy alone
#             (the fabric routes each node's pod network back, as `local up` sets it)
#
# Throughput: dnsperf as fast as it goes (-c 8 clients, -q 200 outstanding) for SECS, queries/s,
# and the answering process's CPU time over the run (/proc utime+stime, all its threads): the
# queries it answers per second of its core. One client core may not be able to load the
# server's: that figure compares the two servers at the same work whatever the client manages.
# Latency: dnsperf -v at RATE queries/s for SECS, each query's latency, p50 and p99 (exact,
# from all of them). Repetitions interleaved (rep 1: mesh dnsmasq forward direct, rep 2: ...);
# figures are medians. The targets judged (the issue's): mesh >= 2x dnsmasq's queries/s with a
# p99 below dnsmasq's (queries/s judged both as measured and per CPU second of the server);
# forward's p50 at most 50 us above direct's.
#
# Knobs: REPS [3/1], SECS [5/1], RATE [2000], SERVICES [200/20], EXTERNAL [200/20]; QUICK=1 for
# the smoke values. OUT [bench/results/dns; QUICK: build/bench/dns] writes OUT.md and OUT.json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
AMBITCTL=${AMBITCTL:-$REPO/build/ambitctl}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
REPS=${REPS:-$(q 3 1)}
SECS=${SECS:-$(q 5 1)}
RATE=${RATE:-2000}
SERVICES=${SERVICES:-$(q 200 20)}
EXTERNAL=${EXTERNAL:-$(q 200 20)}
OUT=${OUT:-$REPO/$(q bench/results/dns build/bench/dns)}
CLUSTER=${BENCH_CLUSTER:-bdns$$}
FABRIC=10.99.0.1

log() { echo "[bench dns] $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (sudo make bench)"
for c in jq dnsperf dnsmasq taskset; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (the client on one, the server on the other)"

actl() { "$AMBITCTL" "$@"; }
WORK=$(mktemp -d /var/tmp/ambit-bench-dns-XXXXXX)
chmod 755 "$WORK" # the dnsmasqs read their hosts files as nobody
PIDS=()
CLUSTER_UP=0
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ "$CLUSTER_UP" = 1 ] && { actl local down --name "$CLUSTER" >/dev/null 2>&1 ||
		actl local down --name "$CLUSTER" >&2; }
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the cluster: SERVICES Services, one client ----
mkdir -p "$WORK/m"
{
	printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bdns\n'
	printf '  labels: {istio.io/dataplane-mode: ambient}\n'
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: client-0, namespace: bdns}\n'
	printf 'spec:\n  nodeName: node1\n  containers:\n'
	printf '  - {name: c, image: debian, command: [sleep, infinity]}\n'
	for i in $(seq 0 $((SERVICES - 1))); do
		printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: bdns}\n' "$i"
		printf 'spec:\n  selector: {app: svc-%d}\n  ports: [{name: http, port: 80}]\n' "$i"
	done
} >"$WORK/m/dns.yaml"
log "cluster $CLUSTER up: $SERVICES Services (reps=$REPS, ${SECS}s${QUICK:+, QUICK})"
CLUSTER_UP=1
actl local up -f "$WORK/m" --name "$CLUSTER" --nodes 1 --no-ingress >"$WORK/up.log" 2>&1 ||
	{ cat "$WORK/up.log" >&2; die "local up failed"; }
pod_exec() { actl local exec --name "$CLUSTER" bdns/client-0 -- "$@"; }
for _ in $(seq 150); do pod_exec getent hosts svc-0 >/dev/null 2>&1 && break; sleep 0.2; done
pod_exec getent hosts svc-0 >/dev/null || die "the proxy never answered svc-0"

# The names and their addresses, from what the mesh has.
actl services --name "$CLUSTER" | awk '$1 == "bdns" { print $3, $2 ".bdns.svc.cluster.local" }' \
	>"$WORK/mesh.hosts"
[ "$(wc -l <"$WORK/mesh.hosts")" -eq "$SERVICES" ] || die "not every Service has a VIP"
awk '{ print $2, "A" }' "$WORK/mesh.hosts" >"$WORK/mesh.queries"
for i in $(seq 0 $((EXTERNAL - 1))); do echo "10.70.$((i / 250)).$((i % 250 + 1)) ext-$i.bench.test"; done \
	>"$WORK/ext.hosts"
awk '{ print $2, "A" }' "$WORK/ext.hosts" >"$WORK/ext.queries"
chmod 644 "$WORK"/*.hosts "$WORK"/*.queries

node_ns=ambit-$CLUSTER-node1
fabric_ns=ambit-$CLUSTER-fabric
# dnsmasq NETNS ADDR PORT HOSTS CPU: answers HOSTS' names (authoritative for their domain).
start_dnsmasq() {
	nsenter --net=/run/netns/"$1" taskset -c "$5" dnsmasq --keep-in-foreground \
		--listen-address="$2" --bind-interfaces --port="$3" --no-resolv --no-hosts \
		--addn-hosts="$4" --local=/cluster.local/ --local=/bench.test/ --cache-size=10000 \
		--pid-file= --log-facility=- >"$WORK/dnsmasq-$3.log" 2>&1 &
	PIDS+=($!)
}
start_dnsmasq "$node_ns" 169.254.1.1 5353 "$WORK/mesh.hosts" 1
start_dnsmasq "$fabric_ns" "$FABRIC" 53 "$WORK/ext.hosts" 1
start_dnsmasq "$fabric_ns" "$FABRIC" 5300 "$WORK/ext.hosts" 1
MASQ_PID=${PIDS[0]} DIRECT_PID=${PIDS[2]}
zpid=$(actl local status --name "$CLUSTER" -o json | jq -r '.nodes[0].ztunnel.pid')
taskset -a -p -c 1 "$zpid" >/dev/null || die "cannot pin the ztunnel"
sleep 0.5
for p in 5353 5300; do
	srv=169.254.1.1
	[ $p = 5300 ] && srv=$FABRIC
	pod_exec dig +short +time=2 -p "$p" "@$srv" "$(head -n 1 "$WORK/$([ $p = 5353 ] && echo mesh || echo ext).queries" | cut -d' ' -f1)" |
		grep -qE '^[0-9.]+$' || die "dnsmasq on $srv:$p does not answer the pod"
done
pod_exec dig +short +time=2 "$(head -n 1 "$WORK/ext.queries" | cut -d' ' -f1)" | grep -qE '^[0-9.]+$' ||
	die "the proxy does not forward to the fabric's resolver"

# case -> server, port, queries
target() {
	case $1 in
	mesh) echo "169.254.1.1 53 $WORK/mesh.queries" ;;
	dnsmasq) echo "169.254.1.1 5353 $WORK/mesh.queries" ;;
	forward) echo "$FABRIC 53 $WORK/ext.queries" ;;
	direct) echo "$FABRIC 5300 $WORK/ext.queries" ;;
	esac
}
# cpu PID: its utime+stime so far, in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# server CASE: the process that answers (the proxy for forward, the upstream's twin for direct).
server() { case $1 in dnsmasq) echo "$MASQ_PID" ;; direct) echo "$DIRECT_PID" ;; *) echo "$zpid" ;; esac; }
# tput CASE: queries/s, lost queries, queries per CPU second of the server
tput() {
	local s p d out c0 c1 qps
	read -r s p d <<<"$(target "$1")"
	c0=$(cpu "$(server "$1")")
	out=$(pod_exec taskset -c 0 dnsperf -s "$s" -p "$p" -d "$d" -l "$SECS" -c 8 -q 200 -t 2 2>&1)
	c1=$(cpu "$(server "$1")")
	qps=$(awk '/Queries per second:/ { print $4 }' <<<"$out")
	printf '%s %s %s\n' "${qps:-0}" "$(awk '/Queries lost:/ { print $3 }' <<<"$out")" \
		"$(awk -v q="${qps:-0}" -v s="$SECS" -v t="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" \
			'BEGIN { printf "%.0f", (t > 0 ? q * s / (t / hz) : 0) }')"
}
# lat CASE: p50 and p99 in microseconds at RATE queries/s (every query's latency, -v)
lat() {
	local s p d
	read -r s p d <<<"$(target "$1")"
	pod_exec taskset -c 0 dnsperf -s "$s" -p "$p" -d "$d" -l "$SECS" -Q "$RATE" -q 100 -t 2 -v 2>/dev/null |
		awk '$1 == ">" && $2 == "NOERROR" { print $NF * 1e6 }' | sort -n |
		awk '{ v[NR] = $1 } END {
			if (!NR) { print "0 0"; exit }
			i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
			i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			printf "%.1f %.1f\n", v[i50], v[i99] }'
}

CASES="mesh dnsmasq forward direct"
: >"$WORK/raw"
for rep in $(seq "$REPS"); do
	for c in $CASES; do
		read -r qps lost eff <<<"$(tput "$c")"
		read -r p50 p99 <<<"$(lat "$c")"
		log "rep $rep $c: ${qps:-0} q/s (lost ${lost:-?}; ${eff} per CPU s), p50 ${p50} us, p99 ${p99} us"
		echo "$c ${qps:-0} ${p50:-0} ${p99:-0} ${lost:-0} ${eff:-0}" >>"$WORK/raw"
	done
done

# Medians per case.
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }
declare -A QPS P50 P99 EFF
for c in $CASES; do
	QPS[$c]=$(awk -v c="$c" '$1 == c { print $2 }' "$WORK/raw" | median)
	EFF[$c]=$(awk -v c="$c" '$1 == c { print $6 }' "$WORK/raw" | median)
	P50[$c]=$(awk -v c="$c" '$1 == c { print $3 }' "$WORK/raw" | median)
	P99[$c]=$(awk -v c="$c" '$1 == c { print $4 }' "$WORK/raw" | median)
done
ratio=$(awk -v a="${QPS[mesh]}" -v b="${QPS[dnsmasq]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
eratio=$(awk -v a="${EFF[mesh]}" -v b="${EFF[dnsmasq]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
added=$(awk -v a="${P50[forward]}" -v b="${P50[direct]}" 'BEGIN { printf "%.1f", a - b }')
t_qps=$(awk -v r="$ratio" 'BEGIN { print (r >= 2 ? "met" : "NOT met") }')
t_eff=$(awk -v r="$eratio" 'BEGIN { print (r >= 2 ? "met" : "NOT met") }')
t_p99=$(awk -v a="${P99[mesh]}" -v b="${P99[dnsmasq]}" 'BEGIN { print (a < b ? "met" : "NOT met") }')
t_fwd=$(awk -v a="$added" 'BEGIN { print (a <= 50 ? "met" : "NOT met") }')

mkdir -p "$(dirname "$OUT")"
{
	echo "# DNS proxy vs dnsmasq ($(date -u +%F), $(git -C "$REPO" describe --always --dirty))"
	echo
	echo "One node; dnsperf in an enrolled pod on CPU 0, the answering process alone on CPU 1;"
	echo "$SERVICES Service names (mesh, dnsmasq), $EXTERNAL external names (forward, direct);"
	echo "$REPS interleaved repetitions of ${SECS} s, medians. Latency at $RATE queries/s, every"
	echo "query's. tools/bench/dns.sh says how each case is set up."
	echo
	echo "| case | queries/s | per CPU s of the server | p50 (us) | p99 (us) |"
	echo "|---|---:|---:|---:|---:|"
	for c in $CASES; do
		printf '| %s | %.0f | %s | %s | %s |\n' "$c" "${QPS[$c]}" "${EFF[$c]}" "${P50[$c]}" "${P99[$c]}"
	done
	echo
	echo "| target | figure | |"
	echo "|---|---|---|"
	echo "| mesh names: >= 2x dnsmasq's queries/s | ${ratio}x | $t_qps |"
	echo "| the same, per CPU second of each server | ${eratio}x | $t_eff |"
	echo "| mesh names: p99 below dnsmasq's | ${P99[mesh]} vs ${P99[dnsmasq]} us | $t_p99 |"
	echo "| forwarded: <= 50 us added at p50 | ${added} us | $t_fwd |"
} >"$OUT.md"
jq -n --arg date "$(date -u +%F)" --argjson reps "$REPS" --argjson secs "$SECS" \
	--argjson rate "$RATE" --argjson services "$SERVICES" --argjson external "$EXTERNAL" \
	--arg ratio "$ratio" --arg eratio "$eratio" --arg added "$added" --arg t_qps "$t_qps" \
	--arg t_eff "$t_eff" --arg t_p99 "$t_p99" \
	--arg t_fwd "$t_fwd" --rawfile raw "$WORK/raw" '{date: $date, reps: $reps, secs: $secs,
	rate: $rate, services: $services, external: $external,
	runs: [$raw | split("\n")[] | select(length > 0) | split(" ") |
		{case: .[0], qps: (.[1] | tonumber), p50_us: (.[2] | tonumber),
		 p99_us: (.[3] | tonumber), lost: (.[4] | tonumber? // 0),
		 per_cpu_s: (.[5] | tonumber? // 0)}],
	qps_ratio: ($ratio | tonumber), per_cpu_ratio: ($eratio | tonumber),
	forward_added_p50_us: ($added | tonumber),
	targets: {qps_2x: $t_qps, per_cpu_2x: $t_eff, p99_below: $t_p99, forward_50us: $t_fwd}}' >"$OUT.json"
cat "$OUT.md"
