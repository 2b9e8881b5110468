#!/usr/bin/env bash
# tools/bench/permsg.sh: what one small message costs each proxy of a path, counted rather than
# timed, so the figures hold still on a shared machine. In the cluster of tools/bench/run.sh (two
# nodes, dual stack, its manifests) and with its reference tunnels (proxies.sh: stunnel4, nginx
# stream over TLS 1.3, and the TLS-free nginx relay), sockperf ping-pong runs from the client pod
# at MPS messages/s of MSG bytes (workloads.sh's wl_lat) for SECS seconds, once per pass, on each
# path: ambit (client pod -> ztunnel node1 -> HBONE -> ztunnel node2 -> server pod), stunnel,
# nginx, relay. Per side (node1 = the client's proxy, node2 = the server's), divided by the
# messages sockperf itself counted ("[Total Run] ReceivedMessages", one message = one ping and
# its pong, each crossing both proxies):
#  - pass "quiet" (nothing attached): wake-ups, the voluntary context switches of every thread
#    of the side's processes (/proc/PID/task/*/status, sampled every 0.1 s: stunnel's thread of
#    the connection is gone when sockperf ends), and their CPU ticks, user space apart;
#  - pass "strace" (`strace -f -xx` on every process of the side, attached before sockperf
#    starts, detached after it ends): system calls by kind, those that failed with EAGAIN (a read
#    or write that found nothing to do), epoll_wait returns, and the TLS records written (walked
#    from the written buffers' record headers by permsg-parse.py) with the plaintext they held:
#    for ambit, 73 bytes of plaintext per 64-byte message is one HTTP/2 DATA frame (9-byte
#    header) per record, and any more is other frames (WINDOW_UPDATE 13, PING 17);
#  - pass "bpf": the kernel's share that is ambit's own, the BPF programs every packet of the
#    path meets (tc on the pods' veths and the uplinks, sockops, cgroup hooks): with
#    kernel.bpf_stats_enabled on for the window (restored after), every program's runs and
#    nanoseconds (bpftool prog show), summed by program name over both nodes. Runs per message
#    are a count; the nanoseconds are time, for proportion only. The peers' paths meet the same
#    programs where their pods' veths have them (not enrolled: the programs pass them early);
#  - pass "sched": the scheduler's own sums for every thread of the side (/proc/.../schedstat,
#    exact): times switched in, time on a CPU (user and kernel: the message's whole cost to the
#    side, the softirq work its system calls do included) and time runnable but waiting for a
#    CPU (the waker's work after the wake-up, and the switch), per message; with KEEP=1 each
#    thread's own sums, named, in OUT.traces/PATH.SIDE.sched;
#  - pass "callgrind" (CALLGRIND=1): user-space instructions. The ztunnels are started under
#    valgrind --tool=callgrind through AMBIT_ZTUNNEL_BIN (a wrapper script in the scratch
#    directory, nothing of the product changes) and the tunnels through proxy_start (redefined
#    here to prefix valgrind); `callgrind_control -z` before sockperf and `-d` after, and the
#    dumps' totals summed per side. The cluster then takes longer to come up.
# The connection's setup (its TCP and, for stunnel and nginx, TLS handshakes; ambit reuses its
# pooled HBONE connection and opens one CONNECT stream) is inside the window, spread over the
# SECS x MPS messages: at the defaults a few system calls among 10,000 messages (< 0.01 each).
#
# PIN=1 gives each node a CPU of its own, as two hosts would have: every thread of node 1's
# processes (its cgroup: the ztunnel, the agent, the pods; its tunnels) and the client's
# sockperf on CPU 0, node 2's on CPU 1 (taskset), for every path alike. Unpinned, both nodes'
# proxies share the machine's CPUs and wake each other on them, which two hosts never do.
#
# Knobs: ZTUNNEL_BIN [build/ztunnel] as run.sh's, PATHS ["ambit stunnel nginx relay"], SECS [10],
# MPS [1000], MSG [64], PASSES ["quiet strace bpf sched"; "quiet strace bpf sched callgrind" with
# CALLGRIND=1], OUT [build/bench/permsg] writes OUT.json
# (every figure) and OUT.md (the tables), KEEP=1 keeps the traces and the callgrind dumps in
# OUT.traces/. Needs root, strace, valgrind (CALLGRIND=1) and what run.sh needs. Not part of
# `make bench` / `make test`: about a minute per path and pass, plus the cluster (several
# minutes under callgrind).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
AMBITCTL=${AMBITCTL:-$REPO/build/ambitctl}
PATHS=${PATHS:-ambit stunnel nginx relay}
SECS=${SECS:-10}
MPS=${MPS:-1000}
MSG=${MSG:-64}
CALLGRIND=${CALLGRIND:-}
[ "$CALLGRIND" = 0 ] && CALLGRIND=
PASSES=${PASSES:-quiet strace bpf sched${CALLGRIND:+ callgrind}}
OUT=${OUT:-$REPO/build/bench/permsg}
KEEP=${KEEP:-}
PIN=${PIN:-}
[ "$PIN" = 0 ] && PIN=
[ "$KEEP" = 0 ] && KEEP=
SOCKPERF6=$REPO/build/bench-sockperf6.so
CLUSTER=${BENCH_CLUSTER:-permsg$$}
RUN_DIR=/run/ambit/$CLUSTER
SVC_PORTS="http:8080 sockperf:11111"
LAT_SECS=$SECS LAT_MSG=$MSG

log() { echo "[permsg] $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root"
for c in jq sockperf stunnel4 nginx openssl ss strace python3; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
[[ " $PASSES " == *" callgrind "* ]] && { [ -n "$CALLGRIND" ] ||
	die "the callgrind pass needs CALLGRIND=1 (the proxies start under valgrind)"; }
[ -n "$CALLGRIND" ] && { command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
	die "CALLGRIND=1 needs valgrind"; }
for p in $PATHS; do
	case $p in ambit | stunnel | nginx | relay) ;; *) die "unknown path \"$p\" (ambit stunnel nginx relay)" ;; esac
done
for p in $PASSES; do
	case $p in quiet | strace | bpf | sched | callgrind) ;; *) die "unknown pass \"$p\" (quiet strace bpf sched callgrind)" ;; esac
done
# The bench pods' servers (manifests/pods/bench-server.sh) run these from build/.
for b in "$AMBITCTL" "$REPO/build/ztunnel" "$REPO/build/ambit-agent" "$REPO/build/bench-holdconns" \
	"$SOCKPERF6"; do
	[ -e "$b" ] || die "$b not built (make bench builds it)"
done
[ "$SECS" -gt 0 ] 2>/dev/null || die "SECS must be a positive number (got \"$SECS\")"

. "$HERE/proxies.sh"
. "$HERE/workloads.sh"

actl() { "$AMBITCTL" "$@"; }
pod_exec() {
	local pod=$1
	shift
	actl local exec --name "$CLUSTER" "$pod" -- "$@"
}

WORK=$(mktemp -d /var/tmp/ambit-permsg-XXXXXX)
mkdir -p "$WORK/bin" "$WORK/cg"
cp "${ZTUNNEL_BIN:-$REPO/build/ztunnel}" "$WORK/bin/ztunnel"
cp "$REPO/build/ambit-agent" "$WORK/bin/"
export AMBIT_ZTUNNEL_BIN=$WORK/bin/ztunnel AMBIT_AGENT_BIN=$WORK/bin/ambit-agent
# Under callgrind: only its counts in the measured window (instrumented from the start, as
# callgrind_control -z then zeroes what start-up and warm-up cost).
VG=(valgrind --tool=callgrind --callgrind-out-file="$WORK/cg/%q{VG_NAME}.%p" --trace-children=yes
	--dump-instr=no --compress-pos=no)
if [ -n "$CALLGRIND" ]; then
	cat >"$WORK/bin/ztunnel-vg" <<EOF
#!/bin/sh
VG_NAME=ztunnel exec ${VG[*]} "$WORK/bin/ztunnel" "\$@"
EOF
	chmod +x "$WORK/bin/ztunnel-vg"
	export AMBIT_ZTUNNEL_BIN=$WORK/bin/ztunnel-vg
	# proxies.sh's starter, with valgrind in front of the tunnel's command.
	eval "orig_$(declare -f proxy_start)"
	# nginx's workers run as root here: as nobody they cannot open the FIFOs valgrind made (as
	# root) for callgrind_control, which then waits for them for good.
	proxy_start() {
		local name=$1 node=$2
		shift 2
		[ "$1" = nginx ] && sed -i '1i user root;' "$3"
		orig_proxy_start "$name" "$node" env VG_NAME="$name" "${VG[@]}" "$@"
	}
fi
CLUSTER_UP=0
CG_ROOT=""
cleanup() {
	local rc=$? f
	if [ "$rc" -ne 0 ]; then
		for f in "$WORK"/*.log; do
			[ -s "$f" ] && { echo "--- $(basename "$f") (last 15 lines)"; tail -n 15 "$f"; } >&2
		done
	fi
	[ -n "${STRACE_PIDS:-}${WATCH_PIDS:-}" ] && kill ${STRACE_PIDS:-} ${WATCH_PIDS:-} 2>/dev/null
	proxy_stop_all
	[ -n "${BPF_STATS0:-}" ] && sysctl -q -w kernel.bpf_stats_enabled="$BPF_STATS0"
	[ "$CLUSTER_UP" = 1 ] && { actl local down --name "$CLUSTER" >/dev/null 2>&1 ||
		actl local down --name "$CLUSTER" >&2; }
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "cluster $CLUSTER up${CALLGRIND:+ (proxies under callgrind)}"
CLUSTER_UP=1
actl local up -f "$HERE/manifests" --name "$CLUSTER" --nodes 2 --ip-family dual \
	>"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "local up failed"; }
status() { actl local status --name "$CLUSTER" -o json; }
ready() {
	status | jq -e '([.nodes[] | .ztunnel.ready and .agent.ready] | all) and
		([.pods[].running] | all)' >/dev/null
}
# A bound for a loaded machine (and for ztunnels under valgrind), not a measurement.
for _ in $(seq 1500); do ready && break; sleep 0.2; done
ready || { status >&2; die "cluster not ready after 300 s"; }
st=$(status)
NODE1_IP=$(jq -r '.nodes[] | select(.name == "node1") | .ip' <<<"$st")
NODE2_IP=$(jq -r '.nodes[] | select(.name == "node2") | .ip' <<<"$st")
ZT1=$(jq -r '.nodes[] | select(.name == "node1") | .ztunnel.pid' <<<"$st")
ZT2=$(jq -r '.nodes[] | select(.name == "node2") | .ztunnel.pid' <<<"$st")
PLAIN_SERVER_IP=$(jq -r '.pods[] | select(.namespace == "bplain" and .name == "server-0") | .ip' <<<"$st")
CG_ROOT=$(jq -r '.pods[0].cgroup' <<<"$st")
CG_ROOT=${CG_ROOT%/*/*/*}
NODE1_IP6=$(jq -r '.nodes[] | select(.name == "node1") | .ip6 // empty' "$RUN_DIR/cluster.json")
NODE2_IP6=$(jq -r '.nodes[] | select(.name == "node2") | .ip6 // empty' "$RUN_DIR/cluster.json")
PLAIN_SERVER_IP6=$(jq -r '.pods[] | select(.namespace == "bplain" and .name == "server-0") |
	.ip6 // empty' "$RUN_DIR/runtime/pods.json")
MESH_VIP=$(jq -r '.serviceIPs["bmesh/server"]' "$RUN_DIR/runtime/pods.json")
proxies_up || die "reference tunnels did not start"

if [ -n "$PIN" ]; then
	pin_nodes
	log "pinned: node1 on CPU 0, node2 on CPU 1"
fi

path_pod() { case $1 in ambit) echo bmesh/client-0 ;; *) echo bplain/client-0 ;; esac; }
path_dest() {
	case $1 in
	ambit) echo "$MESH_VIP $2" ;;
	*) echo "$NODE1_IP $(tunnel_port "$1" client "$2")" ;;
	esac
}
# side_pids PATH NODE: the processes of PATH's proxy on NODE (a ztunnel, stunnel, nginx master
# and workers).
side_pids() {
	case $1 in
	ambit) [ "$2" = node1 ] && echo "$ZT1" || echo "$ZT2" ;;
	*) echo $(proxy_pids "$1-$2") ;;
	esac
}
for path in $PATHS; do
	read -r h p <<<"$(path_dest "$path" 8080)"
	ok=0
	for _ in $(seq 100); do
		pod_exec "$(path_pod "$path")" curl -sf -o /dev/null -m 5 "http://$h:$p/" && { ok=1; break; }
		sleep 0.3
	done
	[ "$ok" = 1 ] || die "path $path: http://$h:$p/ does not answer"
done
log "paths ready: $PATHS"

# vcsw_snap PID...: "tid voluntary involuntary" for every thread of the processes: its context
# switches, waiting (voluntary) and preempted (involuntary: a task it woke, or another, took its
# CPU before it went back to wait).
vcsw_snap() {
	local p
	for p in "$@"; do
		awk 'FNR == 1 { n = split(FILENAME, a, "/") }
			$1 == "voluntary_ctxt_switches:" { v = $2 }
			$1 == "nonvoluntary_ctxt_switches:" { print a[n - 1], v, $2 }' /proc/"$p"/task/*/status 2>/dev/null
	done
}
# vcsw_watch FILE PID...: snapshots every 0.1 s into FILE until killed. stunnel serves each
# connection on a thread of its own that is gone (and its counts with it) by the time sockperf
# ends: its last snapshot stands for it (its last 0.1 s of a 10 s run are not counted).
vcsw_watch() {
	local f=$1
	shift
	while :; do
		vcsw_snap "$@" >>"$f"
		sleep 0.1
	done
}
# vcsw_delta BEFORE DURING: the switches of the window: per thread, its highest count seen minus
# the count before (0 for a thread born in the window), summed; "voluntary involuntary".
vcsw_delta() {
	awk 'NR == FNR { b[$1] = $2; bi[$1] = $3; next }
		{ if ($2 > m[$1]) m[$1] = $2; if ($3 > mi[$1]) mi[$1] = $3 }
		END { for (t in m) { s += m[t] - b[t]; si += mi[t] - bi[t] } print s + 0, si + 0 }' "$1" "$2"
}

# sched_snap PID...: "tid ns_on_cpu ns_waiting_to_run times_switched_in" for every thread of the
# processes (/proc/PID/task/TID/schedstat: the scheduler's own sums, exact, not sampled). A thread
# gone by the end (stunnel's connection thread) counts up to its last snapshot: none here, the
# pass takes two, so stunnel's row misses that thread (use the quiet pass's for stunnel).
sched_snap() {
	local p t
	for p in "$@"; do
		for t in /proc/"$p"/task/*; do
			read -r e d c <"$t/schedstat" 2>/dev/null && echo "${t##*/} $e $d $c"
		done
	done
}
# bpf_snap: "id name runs ns" for every loaded BPF program.
bpf_snap() {
	bpftool -j prog show | jq -r '.[] | "\(.id) \(.name // "-") \(.run_cnt // 0) \(.run_time_ns // 0)"'
}
# bpf_delta BEFORE AFTER: {name: {runs, ns}} of the window, programs that ran, summed by name.
bpf_delta() {
	awk 'NR == FNR { r[$1] = $3; t[$1] = $4; next }
		$3 - r[$1] > 0 { R[$2] += $3 - r[$1]; T[$2] += $4 - t[$1] }
		END { for (n in R) printf "%s %d %d\n", n, R[n], T[n] }' "$1" "$2" |
		jq -Rn '[inputs | split(" ") | {key: .[0], value: {runs: (.[1] | tonumber),
			ns: (.[2] | tonumber)}}] | from_entries'
}

# lat PATH: one sockperf run on PATH; prints wl_lat's JSON (work.requests: messages).
lat() {
	local h p
	read -r h p <<<"$(path_dest "$1" 11111)"
	wl_lat "$(path_pod "$1")" "$h" "$p" "$MPS"
}

RAW=$WORK/raw.jsonl
: >"$RAW"
STRACE_PIDS="" WATCH_PIDS=""
for path in $PATHS; do
	for pass in $PASSES; do
		declare -A pids=([node1]="$(side_pids "$path" node1)" [node2]="$(side_pids "$path" node2)")
		declare -A t0=() u0=()
		STRACE_PIDS=""
		for side in node1 node2; do
			case $pass in
			quiet)
				vcsw_snap ${pids[$side]} >"$WORK/vcsw0.$side"
				: >"$WORK/vcsw.$side"
				vcsw_watch "$WORK/vcsw.$side" ${pids[$side]} &
				WATCH_PIDS+=" $!"
				t0[$side]=$(cpu_ticks ${pids[$side]})
				u0[$side]=$(user_ticks ${pids[$side]})
				;;
			strace)
				args=()
				for p in ${pids[$side]}; do args+=(-p "$p"); done
				strace -f -qq -xx -s 65536 -o "$WORK/$path.$side.trace" "${args[@]}" \
					2>"$WORK/$path.$side.strace.err" &
				STRACE_PIDS+=" $!"
				;;
			callgrind)
				for p in ${pids[$side]}; do timeout 60 callgrind_control -z "$p" >/dev/null 2>&1; done
				;;
			esac
		done
		if [ "$pass" = bpf ]; then
			BPF_STATS0=${BPF_STATS0:-$(sysctl -n kernel.bpf_stats_enabled)}
			sysctl -q -w kernel.bpf_stats_enabled=1
			bpf_snap >"$WORK/bpf0"
		fi
		[ "$pass" = strace ] && sleep 1 # attached to every thread before the first message
		if [ "$pass" = sched ]; then
			for side in node1 node2; do sched_snap ${pids[$side]} >"$WORK/sched0.$side"; done
		fi
		res=$(lat "$path") || { log "$path/$pass: sockperf failed"; res=""; }
		n=$(jq -r '.work.requests // 0' <<<"${res:-null}")
		if [ "$pass" = sched ]; then
			for side in node1 node2; do
				sched_snap ${pids[$side]} >"$WORK/sched1.$side"
				if [ -n "$KEEP" ]; then
					mkdir -p "$OUT.traces"
					awk 'NR == FNR { e[$1] = $2; d[$1] = $3; c[$1] = $4; next }
						{ printf "%s %.0f %.0f %d\n", $1, ($2 - e[$1]) / 1000, ($3 - d[$1]) / 1000, $4 - c[$1] }' \
						"$WORK/sched0.$side" "$WORK/sched1.$side" |
						while read -r t e d c; do
							echo "$t $(cat /proc/*/task/"$t"/comm 2>/dev/null | head -1) run_us=$e wait_us=$d switch_ins=$c"
						done >"$OUT.traces/$path.$side.sched"
				fi
				fig=$(awk -v n="$n" 'NR == FNR { e[$1] = $2; d[$1] = $3; c[$1] = $4; next }
					{ E += $2 - e[$1]; D += $3 - d[$1]; C += $4 - c[$1] }
					END { if (n > 0) printf "{\"switch_ins\":%.3f,\"sched_delay_us\":%.3f,\"run_us\":%.3f}\n",
						C / n, D / 1000 / n, E / 1000 / n; else print "{}" }' \
					"$WORK/sched0.$side" "$WORK/sched1.$side")
				jq -cn --arg path "$path" --arg side "$side" --argjson n "$n" --argjson f "$fig" \
					'{path: $path, pass: "sched", side: $side, messages: $n} + $f' >>"$RAW"
			done
		fi
		if [ -n "$WATCH_PIDS" ]; then
			for side in node1 node2; do vcsw_snap ${pids[$side]} >>"$WORK/vcsw.$side"; done
			kill $WATCH_PIDS 2>/dev/null
			wait $WATCH_PIDS 2>/dev/null
			WATCH_PIDS=""
		fi
		if [ "$pass" = bpf ]; then
			bpf_snap >"$WORK/bpf1"
			sysctl -q -w kernel.bpf_stats_enabled="$BPF_STATS0"
			jq -cn --arg path "$path" --argjson n "$n" --argjson b "$(bpf_delta "$WORK/bpf0" "$WORK/bpf1")" \
				'{path: $path, pass: "bpf", side: "both", messages: $n, bpf: $b}' >>"$RAW"
		fi
		for side in node1 node2; do
			[ "$pass" = bpf ] || [ "$pass" = sched ] && break
			case $pass in
			quiet)
				read -r vol invol <<<"$(vcsw_delta "$WORK/vcsw0.$side" "$WORK/vcsw.$side")"
				fig=$(jq -cn --argjson v "$vol" --argjson iv "$invol" \
					--argjson t "$(($(cpu_ticks ${pids[$side]}) - ${t0[$side]}))" \
					--argjson u "$(($(user_ticks ${pids[$side]}) - ${u0[$side]}))" \
					--argjson hz "$(getconf CLK_TCK)" '{vcsw: $v, ivcsw: $iv, cpu_s: ($t / $hz), user_s: ($u / $hz)}')
				;;
			strace) fig="" ;;
			callgrind)
				ir=0
				for p in ${pids[$side]}; do
					rm -f "$WORK"/cg/*."$p".* 2>/dev/null
					timeout 60 callgrind_control -d "$p" >/dev/null 2>&1
					for f in "$WORK"/cg/*."$p" "$WORK"/cg/*."$p".*; do
						[ -f "$f" ] || continue
						v=$(awk '$1 == "totals:" || $1 == "summary:" { v = $2 } END { print v }' "$f")
						ir=$((ir + ${v:-0}))
						if [ -n "$KEEP" ]; then
							mkdir -p "$OUT.traces"
							mv "$f" "$OUT.traces/$path.$side.$(basename "$f").callgrind"
						fi
						rm -f "$f"
					done
				done
				fig=$(jq -cn --argjson ir "$ir" '{ir: $ir}')
				;;
			esac
			[ -n "$fig" ] && jq -cn --arg path "$path" --arg pass "$pass" --arg side "$side" \
				--argjson n "$n" --argjson f "$fig" --argjson r "${res:-null}" \
				'{path: $path, pass: $pass, side: $side, messages: $n, lat: ($r | del(.work)?)} + $f' >>"$RAW"
		done
		if [ "$pass" = strace ]; then
			kill -INT $STRACE_PIDS 2>/dev/null
			wait $STRACE_PIDS 2>/dev/null
			STRACE_PIDS=""
			for side in node1 node2; do
				fig=$(python3 "$HERE/permsg-parse.py" "$WORK/$path.$side.trace") ||
					die "cannot read the $path $side trace"
				jq -cn --arg path "$path" --arg side "$side" --argjson n "$n" --argjson f "$fig" \
					'{path: $path, pass: "strace", side: $side, messages: $n} + $f' >>"$RAW"
			done
			if [ -n "$KEEP" ]; then
				mkdir -p "$OUT.traces"
				cp "$WORK/$path".*.trace "$OUT.traces/"
			fi
		fi
		log "$path/$pass: $n messages"
		unset pids t0
	done
done

mkdir -p "$(dirname "$OUT")"
# Per side and path: figures per message. Reads: read, recv*, readv; writes: write, send*, writev.
jq -s --arg commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	--arg date "$(date -u +%FT%TZ)" --argjson secs "$SECS" --argjson mps "$MPS" --argjson msg "$MSG" '
	def per($n): if $n > 0 then (. / $n * 1000 | round / 1000) else null end;
	def sum_of($names): [to_entries[] | select(.key | IN($names[])) | .value] | add // 0;
	{date: $date, commit: $commit, secs: $secs, mps: $mps, msg: $msg,
	 bpf: [.[] | select(.pass == "bpf") | . as $b | {path: .path, programs: (.bpf | map_values(
		{runs: (.runs | per($b.messages)), ns: (.ns | per($b.messages))}))}],
	 rows: [
	 map(select(.pass != "bpf")) | group_by(.path + "/" + .side)[] | . as $g |
	 ($g | map(select(.pass == "quiet"))[0]) as $q |
	 ($g | map(select(.pass == "strace"))[0]) as $s |
	 ($g | map(select(.pass == "callgrind"))[0]) as $c |
	 ($g | map(select(.pass == "sched"))[0]) as $h |
	 {path: $g[0].path, side: $g[0].side,
	  wakeups: (if $q then $q.vcsw | per($q.messages) else null end),
	  preempted: (if $q then $q.ivcsw | per($q.messages) else null end),
	  switch_ins: $h.switch_ins?, sched_delay_us: $h.sched_delay_us?, run_us: $h.run_us?,
	  cpu_us: (if $q then $q.cpu_s * 1e6 | per($q.messages) else null end),
	  user_us: (if $q and $q.user_s then $q.user_s * 1e6 | per($q.messages) else null end),
	  p50_us: (if $q then $q.lat.p50_us else null end),
	  insns: (if $c then $c.ir | per($c.messages) else null end),
	  syscalls: (if $s then ($s.calls | to_entries | map(.value) | add // 0) | per($s.messages) else null end),
	  reads: (if $s then $s.calls | sum_of(["read","recvfrom","recvmsg","readv"]) | per($s.messages) else null end),
	  writes: (if $s then $s.calls | sum_of(["write","sendto","sendmsg","writev"]) | per($s.messages) else null end),
	  eagain: (if $s then ($s.eagain | to_entries | map(.value) | add // 0) | per($s.messages) else null end),
	  epoll_wait: (if $s then $s.calls | sum_of(["epoll_wait","epoll_pwait"]) | per($s.messages) else null end),
	  epoll_ctl: (if $s then $s.calls | sum_of(["epoll_ctl"]) | per($s.messages) else null end),
	  tls_records: (if $s then $s.tls_records | per($s.messages) else null end),
	  tls_plaintext: (if $s then $s.tls_plaintext_bytes | per($s.messages) else null end),
	  by_kind: (if $s then $s.calls | map_values(per($s.messages)) else null end),
	  eagain_by_kind: (if $s then $s.eagain | map_values(per($s.messages)) else null end),
	  messages: {quiet: $q.messages?, strace: $s.messages?, callgrind: $c.messages?}}]}' \
	"$RAW" >"$OUT.json" || die "summary failed"
jq -r '
	def f: if . == null then "-" else tostring end;
	"# Per-message cost, \(.msg)-byte sockperf ping-pong at \(.mps) msg/s (tools/bench/permsg.sh)",
	"", "\(.date), commit \(.commit), \(.secs) s per pass. Per side: node1 is the client pod'"'"'s proxy, node2 the server'"'"'s; one message is a ping and its pong.", "",
	"| path | side | syscalls | reads | writes | EAGAIN | epoll_wait | epoll_ctl | wake-ups | preempted | switched in | sched delay µs | ran µs | TLS records | TLS plaintext B | instructions | CPU µs | of it user µs | p50 µs |",
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
	(.rows[] | "| \(.path) | \(.side) | \(.syscalls|f) | \(.reads|f) | \(.writes|f) | \(.eagain|f) | \(.epoll_wait|f) | \(.epoll_ctl|f) | \(.wakeups|f) | \(.preempted|f) | \(.switch_ins|f) | \(.sched_delay_us|f) | \(.run_us|f) | \(.tls_records|f) | \(.tls_plaintext|f) | \(.insns|f) | \(.cpu_us|f) | \(.user_us|f) | \(.p50_us|f) |"),
	"", "System calls by kind, per message (EAGAIN returns in brackets):", "",
	(.rows[] | "- \(.path) \(.side): " + ((.by_kind // {}) as $k | (.eagain_by_kind // {}) as $e |
		[$k | to_entries | sort_by(-.value)[] | select(.value >= 0.01) |
		 "\(.key) \(.value)" + (if $e[.key] then " (\($e[.key]))" else "" end)] | join(", "))),
	(if (.bpf | length) > 0 then ("", "BPF programs per message, both nodes (runs; ns, time for proportion only):", "",
	 (.bpf[] | "- \(.path): " + ([.programs | to_entries | sort_by(-.value.ns)[] |
		"\(.key) \(.value.runs) (\(.value.ns) ns)"] | join(", ")))) else empty end)
	' "$OUT.json" >"$OUT.md"
cat "$OUT.md"
log "wrote $OUT.json and $OUT.md"
