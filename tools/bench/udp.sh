#!/usr/bin/env bash
# UDP (`make bench`): ambit against no mesh and against the encrypted UDP tunnel this machine has,
# socat's DTLS pair (Debian's socat, OPENSSL-DTLS-CLIENT/-SERVER), on a two-node local cluster,
# every path cross-node: clients on node1, servers on node2.
#
#   nomesh      namespace budpplain, not enrolled: the client pod's datagrams to the Service VIP
#   ambit       namespace budp, enrolled: the same, carried by the two ztunnels as CONNECT-UDP
#               over HBONE (docs/udp.md)
#   socat-dtls  budpplain's client to a `socat UDP-LISTEN,fork OPENSSL-DTLS-CLIENT` on node1,
#               which carries each flow in a DTLS session of its own to a `socat
#               OPENSSL-DTLS-SERVER,fork UDP` on node2 that sends it on to the server pod. DTLS 1.2,
#               ECDHE-ECDSA-AES256-GCM-SHA384 (the DTLS counterpart of the ztunnel's
#               TLS_AES_256_GCM_SHA384), both ends verified, certificates from the mesh CA as
#               proxies.sh issues stunnel's. iperf3's control connection (TCP) to the same port
#               goes through a plain `socat TCP-LISTEN` on node1, outside the counted CPU.
#
# Rows, repetitions interleaved (rep 1: every row on every path, rep 2: ...):
#   tput      the highest rate iperf3 -u (datagrams of DGRAM bytes) is offered with under
#             LOSS_MAX % lost: doubling from TPUT_START Mbit/s (halving when that loses more)
#             to the first rate that loses more, then BISECT halvings of the gap; the Mbit/s
#             received at that rate, TPUT_SECS a try
#   lat1000, lat10000  sockperf ping-pong in UDP mode at each LAT_RATES msg/s, LAT_MSG bytes,
#             LAT_SECS: round-trip p50/p99
#   cpu       iperf3 -u at CPU_RATE Mbit/s for CPU_SECS, the same offered rate on every path:
#             CPU seconds of the proxies per GB received (ambit: both ztunnels, /proc/PID/stat
#             utime+stime; socat: both nodes' socat cgroups' cpu.stat, since socat forks a
#             process per flow and its exited ones are no longer in /proc), and the CPU of every
#             process of the cluster per GB (its cgroup: endpoints, proxies, agents; the machine
#             is shared, so not /proc/stat's)
# Targets (the issue's), judged on pair-by-pair medians: throughput >= 1.2x socat's, proxy CPU
# per GB <= 0.8x socat's, p99 at 1,000 msg/s <= 1.5x no mesh's.
#
# Knobs (environment; defaults in brackets, QUICK=1 values after the slash): REPS [5/1],
# TPUT_SECS [3/1], TPUT_START [100] Mbit/s, TPUT_MAX [8000], BISECT [4/1], LOSS_MAX [1] %,
# DGRAM [1400], LAT_SECS [5/1], LAT_MSG [64], LAT_RATES ["1000 10000"], CPU_RATE [200] Mbit/s,
# CPU_SECS [10/1], PATHS ["nomesh ambit socat-dtls"]; AMBIT_BUILD [build/]: the directory whose
# ambitctl, ztunnel and ambit-agent run (another tree's, to measure a commit while this tree
# changes). OUT [bench/results/udp; QUICK: build/bench/udp] writes OUT.json, OUT.md,
# OUT.raw.jsonl.
# shellcheck source-path=SCRIPTDIR
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
AMBIT_BUILD=${AMBIT_BUILD:-$REPO/build}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
REPS=${REPS:-$(q 5 1)}
TPUT_SECS=${TPUT_SECS:-$(q 3 1)}
TPUT_START=${TPUT_START:-100}
TPUT_MAX=${TPUT_MAX:-8000}
BISECT=${BISECT:-$(q 4 1)}
LOSS_MAX=${LOSS_MAX:-1}
DGRAM=${DGRAM:-1400}
LAT_SECS=${LAT_SECS:-$(q 5 1)}
LAT_MSG=${LAT_MSG:-64}
LAT_RATES=${LAT_RATES:-1000 10000}
CPU_RATE=${CPU_RATE:-200}
CPU_SECS=${CPU_SECS:-$(q 10 1)}
PATHS=${PATHS:-nomesh ambit socat-dtls}
OUT=${OUT:-$REPO/$(q bench/results/udp build/bench/udp)}
CLUSTER=${BENCH_CLUSTER:-budp$$}
RUN_DIR=/run/ambit/$CLUSTER
DTLS_CIPHER=ECDHE-ECDSA-AES256-GCM-SHA384
SOCATS="socat-node1 socat-node2 socatctl-node1"

log() { echo "[bench udp] $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (sudo make bench)"
for c in jq iperf3 sockperf socat openssl ss; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
for path in $PATHS; do
	case $path in nomesh | ambit | socat-dtls) ;; *) die "unknown path $path" ;; esac
done
for b in ambitctl ztunnel ambit-agent; do
	[ -x "$AMBIT_BUILD/$b" ] || die "$AMBIT_BUILD/$b not built (make bench builds it)"
done

. "$HERE/proxies.sh"
. "$HERE/workloads.sh"

# Private copies of the binaries: a rebuild in the tree during the run must not change them.
WORK=$(mktemp -d /var/tmp/ambit-bench-udp-XXXXXX)
mkdir -p "$WORK/bin"
cp "$AMBIT_BUILD/ambitctl" "$AMBIT_BUILD/ztunnel" "$AMBIT_BUILD/ambit-agent" "$WORK/bin/"
# What they were built from (`git describe --dirty` when they were made), not the tree's HEAD now.
VERSION=$(cat "$AMBIT_BUILD/version.stamp" 2>/dev/null) || VERSION=unknown
export AMBIT_ZTUNNEL_BIN=$WORK/bin/ztunnel AMBIT_AGENT_BIN=$WORK/bin/ambit-agent
AMBITCTL=$WORK/bin/ambitctl
actl() { "$AMBITCTL" "$@"; }
pod_exec() {
	local pod=$1
	shift
	actl local exec --name "$CLUSTER" "$pod" -- "$@"
}
CLUSTER_UP=0
CG_ROOT=""
# shellcheck disable=SC2317 # the EXIT trap's
cleanup() {
	local rc=$? f
	if [ "$rc" -ne 0 ]; then
		for f in "$WORK"/*.log; do
			[ -s "$f" ] && { echo "--- $(basename "$f") (last 15 lines)"; tail -n 15 "$f"; } >&2
		done
	fi
	# shellcheck disable=SC2086 # the names, one word each
	proxy_stop_all $SOCATS
	[ "$CLUSTER_UP" = 1 ] && { actl local down --name "$CLUSTER" >/dev/null 2>&1 ||
		actl local down --name "$CLUSTER" >&2; }
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the cluster: in each namespace a client on node1 and a server on node2 (iperf3 on 5201, TCP
# for its control connection and UDP, sockperf's UDP server on 11111) behind a Service.
mkdir -p "$WORK/m"
{
	printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: budp\n'
	printf '  labels: {istio.io/dataplane-mode: ambient}\n'
	printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: budpplain}\n'
	for ns in budp budpplain; do
		cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: server, namespace: $ns}
spec:
  selector: {app: server}
  ports:
  - {name: iperf-udp, port: 5201, protocol: UDP}
  - {name: iperf, port: 5201, protocol: TCP}
  - {name: sockperf, port: 11111, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: server-0, namespace: $ns, labels: {app: server}}
spec:
  nodeName: node2
  containers:
  - name: s
    image: debian
    command: ["bash", "-c", "iperf3 -s -p 5201 & sockperf server -i 0.0.0.0 -p 11111 >/dev/null &
      wait -n; echo 'udp bench server: a server exited' >&2; exit 1"]
---
apiVersion: v1
kind: Pod
metadata: {name: client-0, namespace: $ns}
spec:
  nodeName: node1
  containers:
  - {name: c, image: debian, command: [sleep, infinity]}
YAML
	done
} >"$WORK/m/udp.yaml"

start_s=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
log "cluster $CLUSTER up (reps=$REPS${QUICK:+, QUICK})"
CLUSTER_UP=1
actl local up -f "$WORK/m" --name "$CLUSTER" --nodes 2 --no-ingress >"$WORK/up.log" 2>&1 ||
	{ cat "$WORK/up.log" >&2; die "local up failed"; }
status() { actl local status --name "$CLUSTER" -o json; }
ready() {
	status | jq -e '([.nodes[] | .ztunnel.ready and .agent.ready] | all) and
		([.pods[].running] | all)' >/dev/null
}
for _ in $(seq 600); do ready && break; sleep 0.2; done
ready || { status >&2; die "cluster not ready after 120 s"; }
st=$(status)
NODE1_IP=$(jq -r '.nodes[] | select(.name == "node1") | .ip' <<<"$st")
NODE2_IP=$(jq -r '.nodes[] | select(.name == "node2") | .ip' <<<"$st")
ZT_PIDS=$(jq -r '[.nodes[].ztunnel.pid] | join(" ")' <<<"$st")
PLAIN_SERVER_IP=$(jq -r '.pods[] | select(.namespace == "budpplain" and .name == "server-0") |
	.ip' <<<"$st")
PLAIN_SERVER_NETNS=$(jq -r '.pods[] | select(.namespace == "budpplain" and .name == "server-0") |
	.netns' <<<"$st")
MESH_SERVER_NETNS=$(jq -r '.pods[] | select(.namespace == "budp" and .name == "server-0") |
	.netns' <<<"$st")
CG_ROOT=$(jq -r '.pods[0].cgroup' <<<"$st")
CG_ROOT=${CG_ROOT%/*/*/*}
vip() { jq -r --arg s "$1" '.serviceIPs[$s]' "$RUN_DIR/runtime/pods.json"; }

# ---- socat's DTLS pair: per service port P a DTLS server on node2 (38000 + P % 1000) sending
# each flow on to the server pod's P, and on node1 (37000 + P % 1000) a UDP listener carrying
# each client flow to it. -T 30 ends a flow's processes after 30 s without a datagram. One
# cipher suite also keeps the ClientHello in one datagram: socat hands a DTLS server's flow to a
# forked child, and a second datagram of the handshake arriving before the child has connected
# its socket would fork another child and break the handshake.
socat_port() { echo $(($1 + $2 % 1000)); }
# cert_issue's second address is the IPv6 SAN run.sh's dual-stack nodes have; here the IPv4 again.
for n in 1 2; do
	ip=$NODE1_IP
	[ $n = 2 ] && ip=$NODE2_IP
	cert_issue "socat-node$n" "$ip" "$ip" || die "openssl: the DTLS certificate of node$n"
done
tls() {
	echo "cert=$WORK/pki/$1.crt,key=$WORK/pki/$1.key,cafile=$RUN_DIR/ca/root-cert.pem,verify=1,cipher=$DTLS_CIPHER"
}
for p in 5201 11111; do
	proxy_start socat-node2 node2 socat -d -d -T 30 \
		"OPENSSL-DTLS-SERVER:$(socat_port 38000 $p),bind=$NODE2_IP,reuseaddr,fork,$(tls socat-node2)" \
		"UDP:$PLAIN_SERVER_IP:$p"
	proxy_start socat-node1 node1 socat -d -d -T 30 \
		"UDP-LISTEN:$(socat_port 37000 $p),bind=$NODE1_IP,reuseaddr,fork" \
		"OPENSSL-DTLS-CLIENT:$NODE2_IP:$(socat_port 38000 $p),$(tls socat-node1)"
	wait_port node2 "$NODE2_IP" "$(socat_port 38000 $p)" udp || die "socat DTLS server :$p"
	wait_port node1 "$NODE1_IP" "$(socat_port 37000 $p)" udp || die "socat DTLS client :$p"
done
proxy_start socatctl-node1 node1 socat -d \
	"TCP-LISTEN:$(socat_port 37000 5201),bind=$NODE1_IP,reuseaddr,fork" "TCP:$PLAIN_SERVER_IP:5201"
wait_port node1 "$NODE1_IP" "$(socat_port 37000 5201)" || die "socat TCP forward for iperf3's control"

# Path → client pod, and host and port for a server port.
path_pod() { case $1 in ambit) echo budp/client-0 ;; *) echo budpplain/client-0 ;; esac; }
path_dest() {
	case $1 in
	nomesh) echo "$(vip budpplain/server) $2" ;;
	ambit) echo "$(vip budp/server) $2" ;;
	socat-dtls) echo "$NODE1_IP $(socat_port 37000 "$2")" ;;
	*) return 1 ;;
	esac
}
# proxy_cpu_s PATH: CPU seconds the path's proxies used so far.
CLK_TCK=$(getconf CLK_TCK)
proxy_cpu_s() {
	case $1 in
	ambit)
		# shellcheck disable=SC2086 # one pid a word
		awk -v t="$(cpu_ticks $ZT_PIDS)" -v h="$CLK_TCK" 'BEGIN { print t / h }'
		;;
	socat-dtls)
		cat "$(proxy_cgroup socat-node1)/cpu.stat" "$(proxy_cgroup socat-node2)/cpu.stat" |
			awk '$1 == "usage_usec" { s += $2 } END { print s / 1e6 }'
		;;
	*) echo 0 ;;
	esac
}
# zt_datagrams: datagrams node1's ztunnel carried from its pods, and dropped.
zt_datagrams() {
	actl metrics --name "$CLUSTER" --node node1 2>/dev/null | awk '
		$1 == "ambit_udp_datagrams_total{way=\"from_pod\",dropped=\"false\"}" { c = $2 }
		$1 == "ambit_udp_datagrams_total{way=\"from_pod\",dropped=\"true\"}" { d = $2 }
		END { printf "%d %d\n", c, d }'
}

# Every path answers a datagram before anything is measured; socat's says it speaks DTLS.
for path in $PATHS; do
	read -r h p <<<"$(path_dest "$path" 11111)"
	answered=0
	for _ in $(seq 50); do
		pod_exec "$(path_pod "$path")" sockperf ping-pong -i "$h" -p "$p" --mps 100 -t 1 -m 64 \
			2>&1 | grep -Eq 'ReceivedMessages=[1-9]' && { answered=1; break; }
		sleep 0.2
	done
	[ "$answered" = 1 ] || die "path $path: no datagram echoed by $h:$p"
done
DTLS=$(awk '/SSL proto version used:/ { v = $NF } /SSL connection using/ { c = $NF }
	END { if (v != "") print v, c }' "$WORK/socat-node1.log")
case " $PATHS " in *" socat-dtls "*)
	[ -n "$DTLS" ] || die "socat's flow was not carried in DTLS (see socat-node1.log)"
	log "socat: $DTLS"
	;;
esac
log "paths ready: $PATHS ($(($(date +%s) - start_s)) s)"

# udp_rate PATH MBPS SECS: one iperf3 -u run; prints "received_mbps lost_percent bytes lost
# server_drops": server_drops the datagrams the server pod's sockets dropped meanwhile (its
# netns's UDP RcvbufErrors: loss at the receiving iperf3, not on the way).
udp_rate() {
	local h p out d0 d1
	read -r h p <<<"$(path_dest "$1" 5201)"
	d0=$(rcvbuf_errors "$(path_server_netns "$1")")
	out=$(pod_exec "$(path_pod "$1")" timeout $(($3 + 40)) iperf3 -c "$h" -p "$p" -u -b "${2}M" \
		-l "$DGRAM" -t "$3" -J 2>/dev/null)
	d1=$(rcvbuf_errors "$(path_server_netns "$1")")
	jq -re --argjson d $((d1 - d0)) '.end.sum_received | select(.packets > 0) |
		"\(.bits_per_second / 1e6) \(.lost_percent) \(.bytes) \(.lost_packets) \($d)"' \
		<<<"$out" 2>/dev/null || {
		log "  iperf3 -u $1 at $2 Mbit/s: $(jq -r '.error // "no result"' <<<"$out" 2>/dev/null)"
		return 1
	}
}
rcvbuf_errors() {
	ip netns exec "$1" cat /proc/net/snmp | awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $6 }'
}
path_server_netns() {
	case $1 in ambit) echo "$MESH_SERVER_NETNS" ;; *) echo "$PLAIN_SERVER_NETNS" ;; esac
}
# row_tput PATH: the rate search (above); JSON with the received Mbit/s at the best rate, the
# share of the datagrams lost at the tries that lost more that the server's socket dropped, and
# every try.
row_tput() {
	local path=$1 rate=$TPUT_START good=0 bad=0 best="0 100 0 0 0" res tries=""
	try() {
		res=$(udp_rate "$path" "$1" "$TPUT_SECS") || res="0 100 0 0 0"
		tries="$tries$1 $res;"
		awk -v l="${res#* }" -v m="$LOSS_MAX" 'BEGIN { split(l, a, " "); exit !(a[1] < m) }'
	}
	while try "$rate"; do
		good=$rate best=$res
		[ "$rate" -ge "$TPUT_MAX" ] && break
		rate=$((rate * 2))
	done
	[ "$good" = "$rate" ] || bad=$rate
	while [ "$good" = 0 ] && [ "$rate" -gt 10 ]; do
		rate=$((rate / 2))
		if try "$rate"; then good=$rate best=$res; else bad=$rate; fi
	done
	for _ in $(seq "$BISECT"); do
		if [ "$good" = 0 ] || [ "$bad" -le $((good + 1)) ]; then break; fi
		rate=$(((good + bad) / 2))
		if try "$rate"; then good=$rate best=$res; else bad=$rate; fi
	done
	read -r mbps loss _ <<<"$best"
	jq -cn --argjson o "$good" --argjson m "$mbps" --argjson l "$loss" --arg t "$tries" \
		--argjson max "$LOSS_MAX" '
		[$t | split(";")[] | select(length > 0) | split(" ") | map(tonumber) |
		 {offered: .[0], mbps: .[1], lost_pct: .[2], lost: .[4], server_drops: .[5]}] as $tries |
		[$tries[] | select(.lost_pct >= $max and .lost > 0)] as $over |
		{mbps: $m, offered_mbps: $o, lost_pct: $l,
		 lost_at_server_socket: (if ($over | length) == 0 then null else
			([$over[].server_drops] | add) / ([$over[].lost] | add) end),
		 tries: $tries}'
}
# cluster_cpu_s: CPU seconds every process of the cluster used so far (its cgroup: both nodes'
# pods, the iperf3 and sockperf the runs start in them, ztunnels, agents, kubelets, socats).
cluster_cpu_s() { awk '$1 == "usage_usec" { print $2 / 1e6 }' "$CG_ROOT/cpu.stat"; }
# row_cpu PATH: CPU_RATE for CPU_SECS; the proxies' and the cluster's CPU per GB received.
row_cpu() {
	local path=$1 c0 c1 s0 s1 z0 z1 res mbps loss bytes
	[ "$path" = ambit ] && z0=$(zt_datagrams)
	c0=$(proxy_cpu_s "$path") s0=$(cluster_cpu_s)
	res=$(udp_rate "$path" "$CPU_RATE" "$CPU_SECS") || return 1
	c1=$(proxy_cpu_s "$path") s1=$(cluster_cpu_s)
	read -r mbps loss bytes _ <<<"$res"
	jq -cn --argjson o "$CPU_RATE" --argjson m "$mbps" --argjson l "$loss" --argjson b "$bytes" \
		--argjson c "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
		--argjson s "$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')" --arg p "$path" '
		{offered_mbps: $o, mbps: $m, lost_pct: $l, gb: ($b / 1e9),
		 cluster_cpu_s_per_gb: ($s / $b * 1e9)} |
		if $p == "nomesh" then . else .proxy_cpu_s = $c | .proxy_cpu_s_per_gb = ($c / $b * 1e9) end'
	if [ "$path" = ambit ]; then
		z1=$(zt_datagrams)
		# The datagrams went through node1's ztunnel, or this path measured something else.
		[ "${z1% *}" -gt "${z0% *}" ] || { log "  ambit: node1's ztunnel carried no datagram"; return 1; }
		log "  ambit: node1's ztunnel carried $((${z1% *} - ${z0% *})) datagrams, dropped $((${z1#* } - ${z0#* }))"
	fi
}

# run_row ROW PATH: the row's figures on PATH, one JSON object.
run_row() {
	local h p
	case $1 in
	tput) row_tput "$2" ;;
	lat*)
		read -r h p <<<"$(path_dest "$2" 11111)"
		wl_lat "$(path_pod "$2")" "$h" "$p" "${1#lat}" udp | jq -ce 'del(.work)'
		;;
	cpu) row_cpu "$2" ;;
	esac
}

RAW=$WORK/raw.jsonl
: >"$RAW"
ROWS="tput"
for r in $LAT_RATES; do ROWS="$ROWS lat$r"; done
ROWS="$ROWS cpu"
# The machine is shared: what ran outside the cluster's processes during the measurements (the
# machine's busy ticks less the cluster's cgroup CPU; two counts of their own rounding, so a
# quiet machine's difference can come out a hair below 0, which is 0).
busy0=$(sys_busy_ticks) clu0=$(cluster_cpu_s) wall0=$(date +%s.%N)
for rep in $(seq "$REPS"); do
	log "rep $rep/$REPS ($(($(date +%s) - start_s)) s)"
	for row in $ROWS; do
		for path in $PATHS; do
			if ! res=$(run_row "$row" "$path") || [ -z "$res" ]; then
				log "  $row/$path rep $rep: FAILED"
				jq -cn --arg w "$row" --arg p "$path" --argjson r "$rep" \
					'{row: $w, path: $p, rep: $r, ok: false}' >>"$RAW"
				continue
			fi
			jq -c --arg w "$row" --arg p "$path" --argjson r "$rep" \
				'{row: $w, path: $p, rep: $r, ok: true, m: .}' <<<"$res" >>"$RAW"
			log "  $row/$path rep $rep: $(jq -c 'del(.tries)' <<<"$res")"
		done
	done
done
elapsed=$(($(date +%s) - start_s))
other=$(awk -v b0="$busy0" -v b1="$(sys_busy_ticks)" -v c0="$clu0" -v c1="$(cluster_cpu_s)" \
	-v w0="$wall0" -v w1="$(date +%s.%N)" -v h="$CLK_TCK" \
	'BEGIN { x = ((b1 - b0) / h - (c1 - c0)) / (w1 - w0); printf "%.2f\n", (x > 0 ? x : 0) }')

# ---- OUT.json and OUT.md: medians (min, max) per row, figure and path; ratios pair by pair
# (same row, same repetition), as report.sh does for run.sh.
mkdir -p "$(dirname "$OUT")"
cp "$RAW" "$OUT.raw.jsonl"
meta=$(jq -n --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
	--arg kernel "$(uname -r)" --argjson cores "$(nproc --all)" --arg date "$(date -u +%FT%TZ)" \
	--arg commit "$VERSION" \
	--arg build "$AMBIT_BUILD" --argjson elapsed "$elapsed" --arg dtls "$DTLS" \
	--arg load "$load0 -> $(cut -d' ' -f1-3 /proc/loadavg)" --argjson reps "$REPS" \
	--argjson dgram "$DGRAM" --argjson loss "$LOSS_MAX" --argjson ts "$TPUT_SECS" \
	--argjson start "$TPUT_START" --argjson bisect "$BISECT" --argjson ls "$LAT_SECS" \
	--argjson lm "$LAT_MSG" --argjson cr "$CPU_RATE" --argjson cs "$CPU_SECS" \
	--arg quick "${QUICK:+1}" --argjson other "$other" '
	{date: $date, commit: $commit, build: $build, kernel: $kernel, cpu: $cpu, cores: $cores,
	 elapsed_s: $elapsed, loadavg: $load, other_cpus_busy: $other, quick: ($quick == "1"), reps: $reps,
	 dtls: $dtls, dgram_bytes: $dgram, loss_max_pct: $loss, tput_secs: $ts,
	 tput_start_mbps: $start, bisect: $bisect, lat_secs: $ls, lat_msg_bytes: $lm,
	 cpu_rate_mbps: $cr, cpu_secs: $cs}')
jq -s --argjson meta "$meta" '
	def median: sort | length as $n |
		if $n == 0 then null elif $n % 2 == 1 then .[($n - 1) / 2]
		else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
	def stats: {median: median, min: min, max: max, n: length};
	[.[] | select(.ok)] as $ok |
	[["ambit", "socat-dtls"], ["ambit", "nomesh"], ["socat-dtls", "nomesh"]] as $pairs |
	{meta: $meta, paths: ($ok | map(.path) | unique),
	 failed_cases: [.[] | select(.ok | not) | {row, path, rep}],
	 rows: ($ok | map(.row) | unique | map(. as $w | {key: $w, value:
		([$ok[] | select(.row == $w) | .m | to_entries[] | select(.value | type == "number") |
		  .key] | unique | map(. as $k | {key: $k, value: {
			paths: ([$ok[] | select(.row == $w and .m[$k] != null)] | group_by(.path) |
				map({key: .[0].path, value: (map(.m[$k]) | stats)}) | from_entries),
			ratios: ($pairs | map(. as $pr | {key: "\($pr[0])/\($pr[1])", value:
				([$ok[] | select(.row == $w and .path == $pr[0] and .m[$k] != null) as $a |
				  $ok[] | select(.row == $w and .path == $pr[1] and .rep == $a.rep and
					.m[$k] != null and .m[$k] != 0) | $a.m[$k] / .m[$k]] |
				 if length > 0 then stats else null end)}) |
				map(select(.value != null)) | from_entries)}}) | from_entries)}) |
		from_entries)} |
	.rows.tput.mbps.ratios["ambit/socat-dtls"].median as $t |
	.rows.cpu.proxy_cpu_s_per_gb.ratios["ambit/socat-dtls"].median as $c |
	.rows.lat1000.p99_us.ratios["ambit/nomesh"].median as $l |
	def verdict($v; ok): if $v == null then "not measured" elif ok then "met" else "not met" end;
	.targets = [
		{target: "throughput at < \($meta.loss_max_pct)% loss >= 1.2x socat DTLS",
		 ratio: $t, verdict: verdict($t; $t >= 1.2)},
		{target: "proxy CPU per GB <= 0.8x socat DTLS", ratio: $c, verdict: verdict($c; $c <= 0.8)},
		{target: "p99 at 1,000 msg/s <= 1.5x no mesh", ratio: $l, verdict: verdict($l; $l <= 1.5)},
		{target: "added p99 at 1,000 msg/s (ambit - no mesh) <= 1.5x no mesh",
		 ratio: (if $l == null then null else $l - 1 end),
		 verdict: verdict($l; $l - 1 <= 1.5)}]
	' "$RAW" >"$OUT.json" || die "summary failed"

jq -r '
	def num: if . == null then "–" elif (. | fabs) >= 100 then (. | round | tostring)
		elif (. | fabs) >= 10 then ((. * 10 | round) / 10 | tostring)
		elif (. | fabs) >= 1 then ((. * 100 | round) / 100 | tostring)
		else ((. * 1000 | round) / 1000 | tostring) end;
	def cell: if . == null then "–" else "\(.median | num) (\(.min | num)–\(.max | num))" end;
	.meta as $m |
	["nomesh", "ambit", "socat-dtls"] as $cols |
	["ambit/socat-dtls", "ambit/nomesh", "socat-dtls/nomesh"] as $rcols |
	"# UDP: ambit against no mesh and socat DTLS\n",
	"`tools/bench/udp.sh` on **this machine** (\($m.cpu), \($m.cores) cores, Linux \($m.kernel); " +
	"commit \($m.commit), \($m.date), \($m.elapsed_s) s). Two-node local cluster, both " +
	"nodes on the machine'"'"'s CPUs (not pinned), every path cross-node (client pod on node1, server pod on node2): `nomesh` " +
	"a namespace not enrolled, `ambit` enrolled (CONNECT-UDP over HBONE between the two " +
	"ztunnels), `socat-dtls` a socat pair on the nodes (UDP-LISTEN,fork → OPENSSL-DTLS-CLIENT " +
	"on node1, OPENSSL-DTLS-SERVER,fork → UDP on node2; DTLS, socat'"'"'s log saying " +
	"\($m.dtls), both ends verified, " +
	"certificates from the mesh CA). Repetitions: \($m.reps), interleaved; cells are median " +
	"(min–max), ratios computed pair by pair (same row, same repetition). The machine is " +
	"shared: outside the cluster'"'"'s processes (other work, the kernel'"'"'s threads and " +
	"interrupts) \($m.other_cpus_busy) CPUs were busy on average while this ran (load " +
	"average \($m.loadavg)).\n",
	"| row | figure | " + ($cols | join(" | ")) + " | " + ($rcols | join(" | ")) + " |",
	"|" + ([range(0; 2 + ($cols | length) + ($rcols | length))] | map("---") | join("|")) + "|",
	(.rows as $all | ["tput", "lat1000", "lat10000", "cpu"][] | select($all[.]) as $w |
		$all[$w] | to_entries | sort_by(.key | sub("^p999_us$"; "p99_z")) | .[] |
		select(.key | IN("dropped", "proxy_cpu_s", "gb", "p90_us") | not) |
		select($w != "cpu" or .key != "offered_mbps") |
		# Ratios of the figures that compare paths; a loss or the rate tried is not one.
		(.key | IN("lost_pct", "lost_at_server_socket", "offered_mbps")) as $plain |
		"| \($w) | \(.key) | " + ([.value.paths[$cols[]] | cell] | join(" | ")) + " | " +
		([.value.ratios[$rcols[]] | if $plain then "" else cell end] | join(" | ")) + " |"),
	"",
	"Rows: `tput` iperf3 -u with datagrams of \($m.dgram_bytes) bytes: the highest offered rate " +
	"found with under \($m.loss_max_pct)% lost (doubling from \($m.tput_start_mbps) Mbit/s to " +
	"the first rate that loses more, then \($m.bisect) halvings of the gap, \($m.tput_secs) s a " +
	"try), `mbps` the Mbit/s received at it, `offered_mbps` that rate, `lost_pct` its loss, " +
	"`lost_at_server_socket` the share of the datagrams lost at the tries that lost more which " +
	"the server pod'"'"'s own socket dropped (its UDP RcvbufErrors: the receiving iperf3 " +
	"behind, not the path). " +
	"`lat1000`/`lat10000` sockperf ping-pong in UDP mode at 1,000/10,000 msg/s, " +
	"\($m.lat_msg_bytes) bytes, \($m.lat_secs) s: round trip in µs. `cpu` iperf3 -u offered " +
	"\($m.cpu_rate_mbps) Mbit/s for \($m.cpu_secs) s on every path: `proxy_cpu_s_per_gb` user+" +
	"system CPU seconds of the proxies per GB received (ambit: both ztunnels, /proc/PID/stat; " +
	"socat: both nodes'"'"' socat processes, their cgroups'"'"' cpu.stat, since socat forks a " +
	"process per flow), `cluster_cpu_s_per_gb` the CPU of every process of the cluster per GB " +
	"(its cgroup'"'"'s cpu.stat: sender, receiver, proxies, agents; the kernel'"'"'s work as it " +
	"is charged to them). iperf3'"'"'s control connection on the socat path " +
	"goes through a plain socat TCP forward on node1, not counted.\n",
	"| target (issue 60) | this run | verdict |",
	"|---|---|---|",
	(.targets[] | "| \(.target) | \(.ratio | num)× | \(.verdict) |"),
	"",
	"The issue asks for the p99 at 1,000 msg/s within 1.5× no mesh'"'"'s; read as the p99 " +
	"*added* by the mesh (ambit − no mesh) within 1.5× no mesh'"'"'s p99 (as `report.sh` " +
	"judges the TCP row), the bound is 2.5× no mesh'"'"'s p99: both are listed.",
	(if (.failed_cases | length) > 0 then "\nFailed cases (no figures): " +
		(.failed_cases | map("\(.row)/\(.path)#\(.rep)") | join(", ")) else empty end)
	' "$OUT.json" >"$OUT.md" || die "report failed"
log "wrote $OUT.json and $OUT.md (${elapsed} s)"
cat "$OUT.md"
failed=$(jq -s '[.[] | select(.ok | not)] | length' "$RAW")
[ "$failed" -eq 0 ] || die "$failed case(s) produced no figures"
exit 0
