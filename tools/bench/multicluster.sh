#!/usr/bin/env bash
# Across networks against within one (`make bench`): two local clusters of two networks
# (network1, network2), one root with an intermediate each, the east-west gateway of Istio's
# gen-eastwest-gateway.sh in each, remote secrets both ways. In cluster 1 a client pod (node1)
# and a server `near` (node2: HBONE between the two nodes, one network); in cluster 2 the same
# server as `far`, a global Service cluster 1 does not have (its calls go through cluster 2's
# gateway: double HBONE). tools/bench/mc_probe.py is both ends.
#
#   conn      N new connections one after the other (connect, a line, its answer, close), each
#             one's time: the added latency of a new connection across networks once the first
#             inner tunnel exists (the first few are left out). Target: <= 0.5 ms (Istio's page:
#             +2.2 ms, every new connection a second TLS handshake)
#   pingpong  one connection, N round trips of 64 bytes: the p99 added on an existing
#             connection. Target: <= Istio's +0.13 ms
#   tput      iperf3, one stream, SECS: throughput across networks against within. Target >= 0.9x
#   counts    once more PINGS round trips each way with `strace -c -f` on every process of the
#             path: system calls and wake-ups (epoll_wait returns) per round trip, each process:
#             what the far path's extra hop costs, counted rather than timed
#   agent     cluster 1's node1 agent given a remote cluster of SERVICES global Services and
#             ENDPOINTS pods (a local cluster's directory, made here: its manifests and pods.json
#             as `local up` keeps them): its resident memory before and after, once quiet (the
#             agent gives memory back after 10 s without a reconcile: the least seen in 30 s),
#             target <= 10 MB added
#             (Istio's istiod: ~180 MB per remote cluster); and its CPU while that cluster churns
#             (a pod's address changed every second for CHURN_S; Istio: ~1% of a core)
#
# Repetitions interleaved (near, far, near, far...), figures are medians of the repetitions'
# percentiles. Wall-clock figures on this shared VM move by tens of microseconds run to run.
# Knobs: REPS [5/1], CONNS [1000/100], PINGS [5000/300], SECS [5/1], SERVICES [300/30],
# ENDPOINTS [4000/400], CHURN_S [30/3], QUIET_S [30/3]; QUICK=1 for the smoke values. OUT [bench/results/
# multicluster; QUICK: build/bench/multicluster] writes OUT.md and OUT.json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# plugged_ca, plugged_intermediate: the tests' own.
. "$REPO/tests/integration/cacerts_lib.sh"
AMBITCTL=${AMBITCTL:-$REPO/build/ambitctl}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
REPS=${REPS:-$(q 5 1)}
CONNS=${CONNS:-$(q 1000 100)}
PINGS=${PINGS:-$(q 5000 300)}
SECS=${SECS:-$(q 5 1)}
SERVICES=${SERVICES:-$(q 300 30)}
ENDPOINTS=${ENDPOINTS:-$(q 4000 400)}
CHURN_S=${CHURN_S:-$(q 30 3)}
QUIET_S=${QUIET_S:-$(q 30 3)}
OUT=${OUT:-$REPO/$(q bench/results/multicluster build/bench/multicluster)}
A=${BENCH_CLUSTER:-bmc$$}
B=${A}b
SAMPLES=${ISTIO_SAMPLES:-/work/shared/istio/samples/samples}
GEN=$SAMPLES/multicluster/gen-eastwest-gateway.sh

log() { echo "[bench multicluster] $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (sudo make bench)"
for c in jq iperf3 openssl python3 strace; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
[ -f "$GEN" ] || die "no Istio multicluster samples at $SAMPLES"

WORK=$(mktemp -d /tmp/ambit-bench-mc-XXXXXX)
cleanup() {
	"$AMBITCTL" local down --name "$B" >/dev/null 2>&1
	"$AMBITCTL" local down --name "$A" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
on() {
	local c=$1
	shift
	AMBIT_CLUSTER=$c "$AMBITCTL" "$@"
}
pexec() {
	local c=$1 pod=$2
	shift 2
	"$AMBITCTL" local exec --name "$c" "$pod" -- "$@"
}

# --- One root, an intermediate per cluster (Istio's tools/certs, as t_57 and t_59 make them).
server() { # NAME NODE: a Deployment and its Service (global when $3)
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata:
  name: $1
  namespace: bmc
  labels:
    istio.io/global: "${3:-false}"
spec:
  selector:
    app: $1
  ports:
  - {name: echo, port: 7000}
  - {name: conn, port: 7001}
  - {name: iperf, port: 5201}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
  namespace: bmc
spec:
  replicas: 1
  selector:
    matchLabels: {app: $1}
  template:
    metadata:
      labels: {app: $1}
    spec:
      nodeName: $2
      containers:
      - name: s
        image: debian
        command: ["sh", "-c", "iperf3 -s -D && exec python3 $REPO/tools/bench/mc_probe.py server"]
EOF
}
for k in 1 2; do
	mkdir -p "$WORK/c$k" "$WORK/m$k"
done
plugged_ca "$WORK/c1" cluster1 || die "openssl: cluster 1's CA"
plugged_intermediate "$WORK/c2" "$WORK/c1" cluster2 || die "openssl: cluster 2's CA"
for k in 1 2; do
	d=$WORK/m$k
	AMBIT_CLUSTER=$A "$AMBITCTL" create secret generic cacerts -n istio-system \
		--from-file="$WORK/c$k/ca-cert.pem" --from-file="$WORK/c$k/ca-key.pem" \
		--from-file="$WORK/c$k/root-cert.pem" --from-file="$WORK/c$k/cert-chain.pem" \
		--dry-run -o yaml >"$d/cacerts.yaml" || die "cacerts"
	bash "$GEN" --network "network$k" --ambient >"$d/eastwest.yaml" || die "gen-eastwest-gateway.sh"
	printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bmc\n  labels:\n    istio.io/dataplane-mode: ambient\n' >"$d/ns.yaml"
done
{
	cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: client
  namespace: bmc
spec:
  replicas: 1
  selector:
    matchLabels: {app: client}
  template:
    metadata:
      labels: {app: client}
    spec:
      nodeName: node1
      containers:
      - {name: c, image: debian, command: ["sleep", "infinity"]}
EOF
	server near node2
} >"$WORK/m1/apps.yaml"
server far node2 true >"$WORK/m2/apps.yaml"

log "two clusters ($A network1, $B network2)"
"$AMBITCTL" local up -f "$WORK/m1" --name "$A" --nodes 2 --no-ingress --network network1 >/dev/null ||
	die "local up $A"
"$AMBITCTL" local up -f "$WORK/m2" --name "$B" --nodes 2 --no-ingress --network network2 >/dev/null ||
	die "local up $B"
on "$B" create-remote-secret --name "$B" | on "$A" apply -f - >/dev/null || die "remote secret of $B"
on "$A" create-remote-secret --name "$A" | on "$B" apply -f - >/dev/null || die "remote secret of $A"
ready() { pexec "$A" bmc/client-0 python3 "$REPO/tools/bench/mc_probe.py" conn "$1" 3 >/dev/null 2>&1; }
for i in $(seq 1 150); do ready near && ready far && break; sleep 0.2; done
ready far || die "far never answered from cluster 1"

# p50/p99 of a probe's JSON (the first 5% left out of conn: the first tunnels' handshakes).
pct() { # JSON SKIPFRAC
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])["us"]
d = sorted(d[int(len(d) * float(sys.argv[2])):])
p = lambda q: d[min(len(d) - 1, int(q * len(d)))]
print(json.dumps({"p50": p(0.50), "p90": p(0.90), "p99": p(0.99)}))' "$1" "$2"
}
RAW=$WORK/raw.jsonl
: >"$RAW"
# ticks PIDFILE...: the CPU (user + system clock ticks, every thread) the processes of PIDFILEs used.
ticks() {
	local t=0 f pid
	for f in "$@"; do
		pid=$(cat "$f" 2>/dev/null) || continue
		[ -r "/proc/$pid/stat" ] || continue
		t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
	done
	echo "$t"
}
# Who carries the bytes: the client's ztunnel (cluster 1, node1), the near server's (node2), the
# far one's (cluster 2, node2), cluster 2's east-west gateway.
ZC=/run/ambit/$A/node1/ztunnel.pid
ZN=/run/ambit/$A/node2/ztunnel.pid
ZF=/run/ambit/$B/node2/ztunnel.pid
GW=(/run/ambit/"$B"/pods/istio-system_istio-eastwestgateway*.pid)
for r in $(seq 1 "$REPS"); do
	for h in near far; do
		c=$(pexec "$A" bmc/client-0 python3 "$REPO/tools/bench/mc_probe.py" conn "$h" "$CONNS") ||
			die "conn $h"
		p=$(pexec "$A" bmc/client-0 python3 "$REPO/tools/bench/mc_probe.py" pingpong "$h" "$PINGS") ||
			die "pingpong $h"
		c0=($(ticks "$ZC") $(ticks "$ZN") $(ticks "$ZF") $(ticks "${GW[@]}"))
		t=$(pexec "$A" bmc/client-0 iperf3 -c "$h" -t "$SECS" -J 2>/dev/null |
			jq '.end.sum_received.bits_per_second // 0') || t=0
		c1=($(ticks "$ZC") $(ticks "$ZN") $(ticks "$ZF") $(ticks "${GW[@]}"))
		printf '{"rep":%d,"to":"%s","conn":%s,"pingpong":%s,"tput_bps":%s,"cpu_ticks":[%d,%d,%d,%d]}\n' \
			"$r" "$h" "$(pct "$c" 0.05)" "$(pct "$p" 0)" "${t:-0}" $((c1[0] - c0[0])) \
			$((c1[1] - c0[1])) $((c1[2] - c0[2])) $((c1[3] - c0[3])) >>"$RAW"
		log "rep $r $h: conn $(pct "$c" 0.05) pingpong $(pct "$p" 0) tput $t"
	done
done

# --- System calls per round trip, each process on the path: strace -c on all four (the one
# not on a path counts nothing), attached before the probe's connection and detached after it.
COUNTS=$WORK/counts.jsonl
: >"$COUNTS"
PATHPIDS=("$ZC" "$ZN" "$ZF" "${GW[0]}")
for h in near far; do
	spids=()
	for i in 0 1 2 3; do
		strace -c -f -o "$WORK/strace.$h.$i" -p "$(cat "${PATHPIDS[$i]}")" 2>/dev/null &
		spids+=($!)
	done
	sleep 1
	pexec "$A" bmc/client-0 python3 "$REPO/tools/bench/mc_probe.py" pingpong "$h" "$PINGS" \
		>/dev/null || die "pingpong $h under strace"
	kill -INT "${spids[@]}" 2>/dev/null
	wait "${spids[@]}" 2>/dev/null
	for i in 0 1 2 3; do
		# strace -c's rows: % time, seconds, usecs/call, calls, [errors,] name.
		awk -v to="$h" -v i="$i" -v n="$PINGS" '
			$NF == "total" { total = $4 }
			$NF == "epoll_wait" { ew = $4 }
			END { printf "{\"to\":\"%s\",\"i\":%d,\"syscalls\":%.3f,\"wakeups\":%.3f}\n", to, i, total / n, ew / n }' \
			"$WORK/strace.$h.$i" >>"$COUNTS"
	done
done

# --- A node agent's memory and CPU per remote cluster: a local cluster's directory of SERVICES
# global Services and ENDPOINTS pods, made here, named by a remote secret.
F=/run/ambit-bench-mc-$$
mkdir -p "$F/state" "$F/runtime"
trap 'rm -rf "$F"; cleanup' EXIT
printf '{"name":"remote3","network":"network3"}\n' >"$F/cluster.json"
python3 - "$F" "$SERVICES" "$ENDPOINTS" <<'PY'
import json, sys
d, ns, ne = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
docs = ["apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n  labels:\n"
        "    topology.istio.io/network: network3\n",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: big\n  labels:\n"
        "    istio.io/dataplane-mode: ambient\n",
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n"
        "  name: istio-eastwestgateway\n  namespace: istio-system\nspec:\n"
        "  gatewayClassName: istio-east-west\n  listeners:\n  - name: mesh\n    port: 15008\n"
        "    protocol: HBONE\n"]
for i in range(ns):
    docs.append("apiVersion: v1\nkind: Service\nmetadata:\n  name: s%d\n  namespace: big\n"
                "  labels: {istio.io/global: \"true\"}\nspec:\n  selector: {app: s%d}\n"
                "  ports:\n  - {name: http, port: 80, targetPort: 8080}\n" % (i, i))
open(d + "/state/objects.yaml", "w").write("---\n".join(docs))
pods = [{"namespace": "big", "name": "p%d" % j, "node": "n%d" % (j % 50),
         "ip": "10.%d.%d.%d" % (100 + j // 65000, (j // 250) % 256, j % 250 + 2),
         "serviceAccount": "sa%d" % (j % ns), "labels": {"app": "s%d" % (j % ns)}}
        for j in range(ne)]
ips = {"big/s%d" % i: "10.200.%d.%d" % (i // 250, i % 250 + 1) for i in range(ns)}
json.dump({"pods": pods, "serviceIPs": ips,
           "loadBalancerIPs": {"istio-system/istio-eastwestgateway": "172.30.250.100"}},
          open(d + "/runtime/pods.json", "w"))
PY
echo 1 >"$F/state/generation"
apid=
for p in $(pgrep -f "ambit-agent"); do
	args=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
	case $args in *"--state /run/ambit/$A/state "*"--node node1 "* | *"--node node1 "*"--state /run/ambit/$A/state "*)
		apid=$p
		break
		;;
	esac
done
[ -n "$apid" ] || die "cluster 1's node1 agent"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$apid/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$apid/stat"; }
sleep 2
# What it holds once quiet: the agent gives back what a burst of work used after 10 s without
# a reconcile (its TRIM_IDLE_MS; its resync every 15 s puts that off): the least seen in
# QUIET_S.
quiet_rss() {
	local least
	least=$(rss)
	for _ in $(seq 1 "$QUIET_S"); do
		sleep 1
		r=$(rss)
		[ "$r" -lt "$least" ] && least=$r
	done
	echo "$least"
}
rss0=$(quiet_rss)
sed "s|file:///run/ambit/$B|file://$F|; s/istio-remote-secret-$B/istio-remote-secret-remote3/; s/^  $B: |/  remote3: |/; s/: $B\$/: remote3/" \
	< <(on "$B" create-remote-secret --name "$B") >"$WORK/secret3.yaml"
on "$A" apply -f "$WORK/secret3.yaml" >/dev/null || die "remote secret of the big cluster"
for i in $(seq 1 100); do
	on "$A" remote-clusters -o json 2>/dev/null |
		jq -e '.[] | select(.name == "remote3" and .status == "synced")' >/dev/null && break
	sleep 0.2
done
rss1=$(quiet_rss)
hz=$(getconf CLK_TCK)
c0=$(cpu)
for i in $(seq 1 "$CHURN_S"); do
	python3 - "$F" "$i" <<'PY'
import json, sys
p = sys.argv[1] + "/runtime/pods.json"
d = json.load(open(p))
j = int(sys.argv[2]) % len(d["pods"])
d["pods"][j]["ip"] = "10.250.%d.%d" % (j // 250 % 256, j % 250 + 2)
json.dump(d, open(p + ".new", "w"))
import os
os.rename(p + ".new", p)
PY
	sleep 1
done
c1=$(cpu)
rss2=$(quiet_rss)

python3 - "$RAW" "$OUT" "$COUNTS" "$rss0" "$rss1" "$rss2" "$c0" "$c1" "$hz" "$CHURN_S" \
	"$SERVICES" "$ENDPOINTS" "$REPS" "$CONNS" "$PINGS" "$SECS" <<'PY'
import json, statistics, sys, datetime
raw, out, counts = sys.argv[1], sys.argv[2], sys.argv[3]
rss0, rss1, rss2, c0, c1, hz, churn, nsvc, nep, reps, conns, pings, secs = map(float, sys.argv[4:])
rows = [json.loads(l) for l in open(raw)]
crows = [json.loads(l) for l in open(counts)]
def med(to, k, p):
    return statistics.median(r[k][p] for r in rows if r["to"] == to)
def medt(to):
    return statistics.median(r["tput_bps"] for r in rows if r["to"] == to)
res = {
    "conn_p50_us": {"near": med("near", "conn", "p50"), "far": med("far", "conn", "p50")},
    "conn_p99_us": {"near": med("near", "conn", "p99"), "far": med("far", "conn", "p99")},
    "pingpong_p50_us": {"near": med("near", "pingpong", "p50"), "far": med("far", "pingpong", "p50")},
    "pingpong_p99_us": {"near": med("near", "pingpong", "p99"), "far": med("far", "pingpong", "p99")},
    "tput_gbps": {"near": medt("near") / 1e9, "far": medt("far") / 1e9},
    "agent_rss_kb": {"before": rss0, "synced": rss1, "after_churn": rss2},
    "agent_cpu_pct_churn": (c1 - c0) / hz / churn * 100,
}
added_conn = res["conn_p50_us"]["far"] - res["conn_p50_us"]["near"]
added_p99 = res["pingpong_p99_us"]["far"] - res["pingpong_p99_us"]["near"]
tput_ratio = res["tput_gbps"]["far"] / res["tput_gbps"]["near"] if res["tput_gbps"]["near"] else 0
added_mb = (max(rss1, rss2) - rss0) / 1024
# CPU seconds per GB carried, of each process on the path (ticks over the bytes of the run).
def cpu_gb(to, i):
    return statistics.median(r["cpu_ticks"][i] / hz / (r["tput_bps"] * secs / 8 / 1e9)
                             for r in rows if r["to"] == to and r["tput_bps"] > 0)
names = ["client's ztunnel", "near server's ztunnel", "far server's ztunnel",
         "cluster 2's east-west gateway"]
res["cpu_s_per_gb"] = {n: {"near": cpu_gb("near", i), "far": cpu_gb("far", i)}
                       for i, n in enumerate(names)}
def count(to, i, k):
    return next((r[k] for r in crows if r["to"] == to and r["i"] == i), 0)
res["per_round_trip"] = {n: {to: {"syscalls": count(to, i, "syscalls"),
                                  "wakeups": count(to, i, "wakeups")} for to in ("near", "far")}
                         for i, n in enumerate(names)}
res.update({"added_conn_p50_us": added_conn, "added_pingpong_p99_us": added_p99,
            "tput_ratio": tput_ratio, "agent_added_mb": added_mb})
ok = lambda b: "met" if b else "**not met**"
md = ["# Across networks against within one (%s)" % datetime.date.today(), "",
      "tools/bench/multicluster.sh: two local clusters of two networks; `near` is a server of the "
      "client's own cluster on another node (HBONE), `far` the same server in the other cluster, "
      "a global Service the client's cluster does not have (double HBONE through the other "
      "network's east-west gateway, inner tunnels pooled). %d repetitions interleaved, medians; "
      "%d new connections and %d round trips of 64 bytes each; iperf3 %ds." % (reps, conns, pings, secs), "",
      "| row | near | far | added / ratio | target | |", "|---|---|---|---|---|---|",
      "| new connection p50 (us) | %.0f | %.0f | +%.0f us | <= +500 us (Istio: +2,200) | %s |" % (
          res["conn_p50_us"]["near"], res["conn_p50_us"]["far"], added_conn, ok(added_conn <= 500)),
      "| new connection p99 (us) | %.0f | %.0f | +%.0f us | | |" % (
          res["conn_p99_us"]["near"], res["conn_p99_us"]["far"],
          res["conn_p99_us"]["far"] - res["conn_p99_us"]["near"]),
      "| existing connection p50 (us) | %.0f | %.0f | +%.0f us | | |" % (
          res["pingpong_p50_us"]["near"], res["pingpong_p50_us"]["far"],
          res["pingpong_p50_us"]["far"] - res["pingpong_p50_us"]["near"]),
      "| existing connection p99 (us) | %.0f | %.0f | +%.0f us | <= +130 us (Istio's) | %s |" % (
          res["pingpong_p99_us"]["near"], res["pingpong_p99_us"]["far"], added_p99, ok(added_p99 <= 130)),
      "| throughput (Gbit/s) | %.2f | %.2f | %.2fx | >= 0.9x | %s |" % (
          res["tput_gbps"]["near"], res["tput_gbps"]["far"], tput_ratio, ok(tput_ratio >= 0.9)),
      "", "Where the throughput runs' CPU went: seconds of CPU per GB carried, each process on "
      "the path (user and system, every thread; medians of the repetitions):", "",
      "| process | near | far |", "|---|---|---|"] + [
      "| %s | %.2f | %.2f |" % (n, v["near"], v["far"]) for n, v in res["cpu_s_per_gb"].items()] + [
      "", "What one round trip of 64 bytes (a ping and its answer) costs each process on the "
      "path, counted (`strace -c -f` over %d round trips on one connection; wake-ups are "
      "`epoll_wait` returns). Six system calls and two wake-ups are the floor of a proxy that "
      "waits for its sockets (a read and a write each way):" % pings, "",
      "| process | near: system calls | near: wake-ups | far: system calls | far: wake-ups |",
      "|---|---|---|---|---|"] + [
      "| %s | %.2f | %.2f | %.2f | %.2f |" % (n, v["near"]["syscalls"], v["near"]["wakeups"],
                                           v["far"]["syscalls"], v["far"]["wakeups"])
      for n, v in res["per_round_trip"].items()] + [
      "", "A node agent given a remote cluster of %d global Services and %d pods (its directory; "
      "a pod's address changed every second for %ds):" % (nsvc, nep, churn), "",
      "| row | figure | target | |", "|---|---|---|---|",
      "| resident memory added, once quiet | %.1f MB (%.0f -> %.0f kB synced, %.0f kB after the churn) | <= 10 MB (istiod: ~180 MB) | %s |" % (
          added_mb, rss0, rss1, rss2, ok(added_mb <= 10)),
      "| CPU while it churns | %.2f%% of a core | (istiod: ~1%%) | |" % res["agent_cpu_pct_churn"], ""]
open(out + ".md", "w").write("\n".join(md))
json.dump(res, open(out + ".json", "w"), indent=1)
print("\n".join(md))
PY
