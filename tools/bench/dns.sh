#!/usr/bin/env bash
# The DNS proxy against Debian's dnsmasq (`make bench` runs it after the dashboard). A one-node
# local cluster with SERVICES Services (namespace bdns, enrolled) and one client pod; the client
# in the pod on CPU 0, the answering side alone on CPU 1: the answering process, and for the
# throughput runs the node's side of the pod's packets (RPS steers the pod veth's receive to
# CPU 1, so the kernel's work for the server is done there, where it can be measured):
#
#   mesh      the pod's queries for the Services' FQDNs to its nameserver (169.254.1.1:53),
#             steered by the capture to the node ztunnel's proxy (15053), which answers from
#             its snapshot and hands its answers to the kernel: a query met again is answered
#             by the tc program on the pod's veth (bpf/lib/dnsfast.h), as the mesh runs; the
#             whole ztunnel pinned to CPU 1
#   proxy     the same with the kernel's answers off (dns_gen set to 0 for the case): every
#             query answered by the ztunnel's proxy itself
#   dnsmasq   the same names from a hosts file (the same addresses), a dnsmasq on the node at
#             169.254.1.1:5353 (a port the capture leaves alone), pinned to CPU 1
#   forward   names the mesh does not know (EXTERNAL of them), through the proxy to the node's
#             resolver: a dnsmasq on the fabric (10.99.0.1:53) answering from a hosts file
#   direct    the same names asked of the same resolver's twin on 10.99.0.1:5300 (a second
#             dnsmasq: the capture steers port 53 only), so the path differs by the proxy alone
#             (the fabric routes each node's pod network back, as `local up` sets it)
#
# Throughput: build/bench-dnsload (tools/bench/dnsload.c: the same query files, 8 sockets, 64
# queries in flight on each, sendmmsg/recvmmsg batches) as fast as it goes for SECS, queries/s,
# and CPU 1's busy time over the run (its time less its idle states' residency, from cpuidle:
# whatever ran there): the queries answered per second of the server's core, the kernel's share
# of the work included (a process's own utime+stime would miss the softirqs, and all of the
# kernel's answers; /proc/stat's tick-sampled busy times miss interrupt work done from idle). dnsperf's own queries/s (-c 8 clients, -q 200 outstanding) beside: it sends and
# reads a query a system call, and its one core is what it measures once the kernel answers.
# forward and direct's core also runs the upstream dnsmasq.
# Latency, with RPS off (the kernel's default): dnsperf -v at RATE queries/s for SECS, each
# query's latency, p50 and p99 (exact, from all of them); and the same from bench-dnsload --rate,
# one thread sending and waiting for each answer as a resolver does (dnsperf's sender and
# receiver threads share the client's one core). Repetitions interleaved (rep 1: mesh proxy
# dnsmasq forward direct, rep 2: ...); figures are medians. The targets judged (the issue's):
# mesh >= 2x dnsmasq's queries/s (as measured, and per CPU second of the server's core) with a
# p99 below dnsmasq's (both clients); forwarded names at most 50 us above direct ones at p50,
# with dnsperf, the tool the issue names: the median over the repetitions of each one's forward
# p50 less its direct p50 (run side by side; the other client's beside). Wall-clock latencies
# on this shared VM move by tens of microseconds from one run to the next.
#
# Knobs: REPS [5/1], SECS [5/1], RATE [2000], SERVICES [200/20], EXTERNAL [200/20]; QUICK=1 for
# the smoke values. OUT [bench/results/dns; QUICK: build/bench/dns] writes OUT.md and OUT.json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
AMBITCTL=${AMBITCTL:-$REPO/build/ambitctl}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
REPS=${REPS:-$(q 5 1)}
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
DNSLOAD=${DNSLOAD:-$REPO/build/bench-dnsload}
[ -x "$DNSLOAD" ] || die "needs $DNSLOAD (make build/bench-dnsload)"
for c in jq dnsperf dnsmasq taskset bpftool; do
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
zpid=$(actl local status --name "$CLUSTER" -o json | jq -r '.nodes[0].ztunnel.pid')
taskset -a -p -c 1 "$zpid" >/dev/null || die "cannot pin the ztunnel"
# The pod's host veth: RPS on its receive queue puts the node's side of the pod's packets on CPU 1
# (steer, below).
veth=$(actl maps --name "$CLUSTER" --node node1 | awk '$1 ~ /^amb/ && / -> bdns\/client-0 / { print $1; exit }')
[ -n "$veth" ] || die "no host veth for bdns/client-0"
pin=$(actl maps --name "$CLUSTER" --node node1 | awk '$1 == "==" { gsub(/[()]/, "", $3); print $3; exit }')
[ -e "$pin/dns_gen" ] || die "no dns_gen map under ${pin:-?}"
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
	mesh | proxy) echo "169.254.1.1 53 $WORK/mesh.queries" ;;
	dnsmasq) echo "169.254.1.1 5353 $WORK/mesh.queries" ;;
	forward) echo "$FABRIC 53 $WORK/ext.queries" ;;
	direct) echo "$FABRIC 5300 $WORK/ext.queries" ;;
	esac
}
# idle: CPU 1's time in idle states so far, in microseconds (cpuidle's residency, exact: the
# kernel's tick-sampled busy times miss interrupt work done from idle, which is most of the
# kernel's answers); else /proc/stat's idle and iowait.
idle() {
	if [ -r /sys/devices/system/cpu/cpu1/cpuidle/state0/time ]; then
		cat /sys/devices/system/cpu/cpu1/cpuidle/state*/time | awk '{ s += $1 } END { printf "%.0f\n", s }'
	else
		awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu1" { printf "%.0f\n", ($5 + $6) * 1e6 / hz }' /proc/stat
	fi
}
now_us() { date +%s%6N; }
# gen [VALUE]: dns_gen[0] (the kernel's answers count under it; 0: none does), read or set.
gen() {
	if [ $# = 0 ]; then
		bpftool -j map lookup pinned "$pin/dns_gen" key 0 0 0 0 | jq -r '.value | join(" ")'
	else
		# shellcheck disable=SC2086 # four bytes, as bpftool takes them
		bpftool map update pinned "$pin/dns_gen" key 0 0 0 0 value $1
	fi
}
# rps MASK: the CPUs that receive the client pod's packets on the node's side.
rps() { ip netns exec "$node_ns" sh -c "echo $1 > /sys/class/net/$veth/queues/rx-0/rps_cpus"; }
# around CASE on|off: the kernel's answers off for the proxy case, back after it.
SAVED_GEN=
around() {
	[ "$1" = proxy ] || return 0
	if [ "$2" = on ]; then
		SAVED_GEN=$(gen)
		[ -n "$SAVED_GEN" ] || die "cannot read $pin/dns_gen"
		gen "0 0 0 0" || die "cannot turn the kernel's answers off"
	else
		gen "$SAVED_GEN" || die "cannot turn the kernel's answers back on"
	fi
}
# steer CASE: RPS to CPU 1 for the throughput of the cases whose server core is measured (not
# forward and direct, whose figure is the latency the proxy adds, and whose core also runs
# their upstream); nosteer: off, the kernel's default, for every latency run (a hop from core to
# core that no node has by default would be timed in every query).
steer() { case $1 in forward | direct) rps 0 ;; *) rps 2 ;; esac || die "cannot set $veth's RPS"; }
nosteer() { rps 0 || die "cannot set $veth's RPS"; }
# tput CASE: queries/s, lost queries and queries per CPU second of the server's core, with
# bench-dnsload (batched: one client core outruns the kernel's answers with it, not dnsperf)
tput() {
	local s p d out i0 i1 t0 t1
	read -r s p d <<<"$(target "$1")"
	i0=$(idle) t0=$(now_us)
	out=$(pod_exec taskset -c 0 "$DNSLOAD" "$s" "$p" "$d" "$SECS" 8 64 2>&1)
	i1=$(idle) t1=$(now_us)
	jq -e '.answered == .noerror' <<<"$out" >/dev/null 2>&1 ||
		log "$1: answers other than NOERROR, or no result: $out"
	# CPU 1 busy: the run's time less its idle time (pod_exec's own start is in it too).
	jq -r --argjson b "$(((t1 - t0) - (i1 - i0)))" --argjson s "$SECS" \
		'"\(.qps) \(.lost) \(if $b > 0 then (.qps * $s / ($b / 1e6) | floor) else 0 end)"' \
		<<<"$out" 2>/dev/null || echo "0 0 0"
}
# pqps CASE: dnsperf's queries/s as fast as it goes (-c 8 clients, -q 200 outstanding)
pqps() {
	local s p d
	read -r s p d <<<"$(target "$1")"
	pod_exec taskset -c 0 dnsperf -s "$s" -p "$p" -d "$d" -l "$SECS" -c 8 -q 200 -t 2 2>&1 |
		awk '/Queries per second:/ { printf "%.0f\n", $4 }'
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
# rlat CASE: p50 and p99 in microseconds at RATE queries/s with bench-dnsload --rate: one thread
# sends and waits for each answer, as a resolver does
rlat() {
	local s p d
	read -r s p d <<<"$(target "$1")"
	pod_exec taskset -c 0 "$DNSLOAD" "$s" "$p" "$d" "$SECS" --rate "$RATE" 2>/dev/null |
		jq -r '"\(.p50_us) \(.p99_us)"' 2>/dev/null || echo "0 0"
}

CASES="mesh proxy dnsmasq forward direct"
: >"$WORK/raw"
for rep in $(seq "$REPS"); do
	for c in $CASES; do
		around "$c" on
		steer "$c"
		read -r qps lost eff <<<"$(tput "$c")"
		pq=$(pqps "$c")
		nosteer
		read -r p50 p99 <<<"$(lat "$c")"
		read -r r50 r99 <<<"$(rlat "$c")"
		around "$c" off
		log "rep $rep $c: ${qps:-0} q/s (lost ${lost:-?}; ${eff} per CPU s; dnsperf ${pq:-0} q/s)," \
			"p50 ${p50} us, p99 ${p99} us (one-thread client: ${r50}, ${r99} us)"
		echo "$c ${qps:-0} ${p50:-0} ${p99:-0} ${lost:-0} ${eff:-0} ${pq:-0} ${r50:-0} ${r99:-0}" \
			>>"$WORK/raw"
	done
done

# Medians per case.
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }
declare -A QPS P50 P99 EFF PQ R50 R99
for c in $CASES; do
	R50[$c]=$(awk -v c="$c" '$1 == c { print $8 }' "$WORK/raw" | median)
	R99[$c]=$(awk -v c="$c" '$1 == c { print $9 }' "$WORK/raw" | median)
	QPS[$c]=$(awk -v c="$c" '$1 == c { print $2 }' "$WORK/raw" | median)
	PQ[$c]=$(awk -v c="$c" '$1 == c { print $7 }' "$WORK/raw" | median)
	EFF[$c]=$(awk -v c="$c" '$1 == c { print $6 }' "$WORK/raw" | median)
	P50[$c]=$(awk -v c="$c" '$1 == c { print $3 }' "$WORK/raw" | median)
	P99[$c]=$(awk -v c="$c" '$1 == c { print $4 }' "$WORK/raw" | median)
done
ratio=$(awk -v a="${QPS[mesh]}" -v b="${QPS[dnsmasq]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
pratio=$(awk -v a="${PQ[mesh]}" -v b="${PQ[dnsmasq]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
eratio=$(awk -v a="${EFF[mesh]}" -v b="${EFF[dnsmasq]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
# What forwarding adds: each repetition's forward p50 less its direct p50 (run side by side), the
# median of those.
paired() {
	awk -v f="$1" '$1 == "forward" { fw[++n] = $f } $1 == "direct" { dr[++m] = $f }
		END { for (i = 1; i <= n && i <= m; i++) print fw[i] - dr[i] }' "$WORK/raw" | median
}
added=$(paired 3)
radded=$(paired 8)
t_qps=$(awk -v r="$ratio" 'BEGIN { print (r >= 2 ? "met" : "NOT met") }')
t_eff=$(awk -v r="$eratio" 'BEGIN { print (r >= 2 ? "met" : "NOT met") }')
t_p99=$(awk -v a="${P99[mesh]}" -v b="${P99[dnsmasq]}" 'BEGIN { print (a < b ? "met" : "NOT met") }')
t_r99=$(awk -v a="${R99[mesh]}" -v b="${R99[dnsmasq]}" 'BEGIN { print (a < b ? "met" : "NOT met") }')
t_fwd=$(awk -v a="$added" 'BEGIN { print (a <= 50 ? "met" : "NOT met") }')
t_rfwd=$(awk -v a="$radded" 'BEGIN { print (a <= 50 ? "met" : "NOT met") }')

mkdir -p "$(dirname "$OUT")"
{
	echo "# DNS proxy vs dnsmasq ($(date -u +%F), $(git -C "$REPO" describe --always --dirty))"
	echo
	echo "One node; the client in an enrolled pod on CPU 0, the answering side alone on CPU 1 (the"
	echo "server and, by RPS, the node's side of the pod's packets but for forward and direct);"
	echo "queries/s by build/bench-dnsload (batched), per CPU s of CPU 1's busy time over that run;"
	echo "dnsperf's queries/s beside; latency at $RATE queries/s, every query's, RPS off, by dnsperf"
	echo "and by bench-dnsload --rate (one thread, as a resolver: the one-thread columns)."
	echo "$SERVICES Service names (mesh, proxy, dnsmasq), $EXTERNAL external names (forward,"
	echo "direct); $REPS interleaved repetitions of ${SECS} s, medians. mesh: the proxy with the"
	echo "kernel's answers, as it runs; proxy: without them. tools/bench/dns.sh says more."
	echo
	echo "| case | queries/s | per CPU s of the server's core | dnsperf queries/s | p50 (us) | p99 (us) | one-thread p50 (us) | one-thread p99 (us) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for c in $CASES; do
		printf '| %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$c" "${QPS[$c]}" "${EFF[$c]}" \
			"${PQ[$c]}" "${P50[$c]}" "${P99[$c]}" "${R50[$c]}" "${R99[$c]}"
	done
	echo
	echo "| target | figure | |"
	echo "|---|---|---|"
	echo "| mesh names: >= 2x dnsmasq's queries/s | ${ratio}x | $t_qps |"
	echo "| the same with dnsperf (its one core the limit) | ${pratio}x | |"
	echo "| the same, per CPU second of each server | ${eratio}x | $t_eff |"
	echo "| mesh names: p99 below dnsmasq's (one-thread client) | ${R99[mesh]} vs ${R99[dnsmasq]} us | $t_r99 |"
	echo "| the same with dnsperf | ${P99[mesh]} vs ${P99[dnsmasq]} us | $t_p99 |"
	echo "| forwarded: <= 50 us added at p50 (dnsperf) | ${added} us | $t_fwd |"
	echo "| the same with the one-thread client | ${radded} us | $t_rfwd |"
} >"$OUT.md"
jq -n --arg date "$(date -u +%F)" --argjson reps "$REPS" --argjson secs "$SECS" \
	--argjson rate "$RATE" --argjson services "$SERVICES" --argjson external "$EXTERNAL" \
	--arg ratio "$ratio" --arg pratio "$pratio" --arg eratio "$eratio" --arg added "$added" --arg t_qps "$t_qps" \
	--arg t_eff "$t_eff" --arg t_p99 "$t_p99" --arg t_r99 "$t_r99" --arg radded "$radded" \
	--arg t_rfwd "$t_rfwd" \
	--arg t_fwd "$t_fwd" --rawfile raw "$WORK/raw" '{date: $date, reps: $reps, secs: $secs,
	rate: $rate, services: $services, external: $external,
	runs: [$raw | split("\n")[] | select(length > 0) | split(" ") |
		{case: .[0], qps: (.[1] | tonumber), p50_us: (.[2] | tonumber),
		 p99_us: (.[3] | tonumber), lost: (.[4] | tonumber? // 0),
		 per_cpu_s: (.[5] | tonumber? // 0), dnsperf_qps: (.[6] | tonumber? // 0),
		 one_thread_p50_us: (.[7] | tonumber? // 0), one_thread_p99_us: (.[8] | tonumber? // 0)}],
	qps_ratio: ($ratio | tonumber), dnsperf_qps_ratio: ($pratio | tonumber), per_cpu_ratio: ($eratio | tonumber),
	forward_added_p50_us: ($added | tonumber), one_thread_forward_added_p50_us: ($radded | tonumber),
	targets: {qps_2x: $t_qps, per_cpu_2x: $t_eff, p99_below: $t_p99, one_thread_p99_below: $t_r99,
		forward_50us: $t_fwd, one_thread_forward_50us: $t_rfwd}}' >"$OUT.json"
cat "$OUT.md"
