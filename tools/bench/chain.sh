#!/usr/bin/env bash
# End to end on a bookinfo-shaped chain (`make bench` runs it after the L7 routers): client-0 ->
# front (nginx reverse proxy, as productpage) -> back (nginx, as details), across two nodes, at
# a fixed RATE (bench-ratehttp: latency counted from when each request was due), three ways:
# no mesh (namespace not enrolled), ambit L4 (enrolled: ztunnels, HBONE mTLS on both hops), and
# ambit + waypoint (`ambitctl waypoint apply --enroll-namespace`: both hops through it).
# Reports p50/p99 of each, the p99 each mesh path adds over no mesh and their ratio (target:
# waypoint's added p99 <= 2x L4's), the waypoint's CPU in vCPU per 1,000 requests/s it serves
# (each chain request is two: target <= 0.05; Istio publishes 0.25 for its waypoint) and its
# peak RSS (target <= 30 MB). Not part of the QUICK smoke run (it needs a cluster of its own).
#
# Knobs: RATE [1000], SECS [10/2], REPS [3/1], CONNS [8]; QUICK=1 for the smoke values;
# OUT [bench/results/chain; QUICK: build/bench/chain] writes OUT.md and OUT.json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
RATE=${RATE:-1000} SECS=${SECS:-$(q 10 2)} REPS=${REPS:-$(q 3 1)} CONNS=${CONNS:-8}
OUT=${OUT:-$(q "$REPO/bench/results/chain" "$REPO/build/bench/chain")}
A() { "$REPO/build/ambitctl" "$@"; }
say() { echo "[bench-chain] $*" >&2; }
die() { say "error: $*"; exit 1; }
for b in ambitctl ztunnel ambit-agent waypoint bench-ratehttp; do
	[ -x "$REPO/build/$b" ] || die "build/$b not built (make bench builds it)"
done
[ "$(id -u)" -eq 0 ] || die "run as root"

C=chain$$
export AMBIT_CLUSTER=$C
up=0
cleanup() {
	[ "$up" = 1 ] && A local down --name "$C" >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$(dirname "$OUT")"
A local up -f "$HERE/chain" --name "$C" --nodes 2 >"$OUT.up.log" 2>&1 || die "local up failed: $(tail -5 "$OUT.up.log")"
up=1
X() { A local exec chain/client-0 -- "$@"; }
ok() { X curl -sf --max-time 2 -o /dev/null http://front:9080/details/0; }
wait_ok() {
	for _ in $(seq 150); do ok && return 0; sleep 0.2; done
	die "front never answered ($1)"
}
wait_ok "no mesh"
vip=$(awk '$1 == "chain/front" { print $2; exit }' "$OUT.up.log")
[ -n "$vip" ] || die "no VIP for chain/front in $OUT.up.log"

wp_pid() { pgrep -f "waypoint --agent .*/chain_waypoint-0/agent/agent.sock" | head -1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
raw=$OUT.raw.jsonl
: >"$raw"
run_mode() {
	local mode=$1 rep out p c0 c1 cpu rss
	X "$REPO/build/bench-ratehttp" "$vip" 9080 front /details/0 "$RATE" 2 "$CONNS" >/dev/null ||
		say "$mode: warm-up had failures"
	for rep in $(seq "$REPS"); do
		p= cpu=null rss=null
		[ "$mode" = waypoint ] && p=$(wp_pid)
		[ -n "$p" ] && c0=$(ticks "$p")
		out=$(X "$REPO/build/bench-ratehttp" "$vip" 9080 front /details/0 "$RATE" "$SECS" "$CONNS") ||
			die "$mode rep $rep: requests failed: $out"
		if [ -n "$p" ]; then
			c1=$(ticks "$p")
			cpu=$(awk -v t="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v s="$SECS" -v r="$RATE" \
				'BEGIN { printf "%.4f", t / hz / s / (r / 1000) }')
			rss=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$p/status")
		fi
		printf '{"mode":"%s","rep":%d,"run":%s,"wp_vcpu_per_krps":%s,"wp_rss_mb":%s}\n' \
			"$mode" "$rep" "$out" "$cpu" "$rss" >>"$raw"
		say "$mode rep $rep: $out${p:+ waypoint $cpu vCPU per 1k req/s, RSS $rss MB}"
	done
}

run_mode nomesh
A label namespace chain istio.io/dataplane-mode=ambient >/dev/null || die "enrolling chain failed"
enrolled() { [ "$(A workloads | awk '$1 == "chain" && $NF == "yes"' | wc -l)" -ge 3 ]; }
for _ in $(seq 150); do enrolled && break; sleep 0.2; done
enrolled || die "chain's pods were not enrolled: $(A workloads)"
wait_ok "L4"
run_mode l4
A waypoint apply -n chain --enroll-namespace >/dev/null || die "waypoint apply failed"
through() { ok && A local logs chain/waypoint-0 2>/dev/null | grep -q '"GET /details/0 HTTP/1.1" 200'; }
for _ in $(seq 300); do through && break; sleep 0.2; done
through || die "requests do not go through the waypoint: $(A waypoint list -n chain)"
[ -n "$(wp_pid)" ] || die "no waypoint process found"
run_mode waypoint

python3 - "$raw" "$OUT" "$RATE" "$SECS" "$REPS" <<'PY'
import json, statistics, sys
raw, out, rate, secs, reps = sys.argv[1:6]
HOPS = 2  # client -> front and front -> back each pass the waypoint
rows = [json.loads(l) for l in open(raw)]
med = {}
for m in ("nomesh", "l4", "waypoint"):
    xs = [r for r in rows if r["mode"] == m]
    med[m] = {k: statistics.median(r["run"][k] for r in xs) / 1000 for k in ("p50_us", "p99_us")}
wp = [r for r in rows if r["mode"] == "waypoint"]
cpu = statistics.median(r["wp_vcpu_per_krps"] for r in wp) / HOPS
rss = max(r["wp_rss_mb"] for r in wp)
add_l4 = med["l4"]["p99_us"] - med["nomesh"]["p99_us"]
add_wp = med["waypoint"]["p99_us"] - med["nomesh"]["p99_us"]
ratio = add_wp / add_l4 if add_l4 > 0 else float("inf")
lines = [f"Bookinfo-shaped chain (client -> front -> back, two nodes), {rate} requests/s for "
         f"{secs} s x {reps} (medians, ms)", "",
         "| path | p50, ms | p99, ms | added p99 over no mesh, ms |", "|---|---|---|---|"]
for m, name in (("nomesh", "no mesh"), ("l4", "ambit L4"), ("waypoint", "ambit + waypoint")):
    add = "–" if m == "nomesh" else f"{med[m]['p99_us'] - med['nomesh']['p99_us']:.3f}"
    lines.append(f"| {name} | {med[m]['p50_us']:.3f} | {med[m]['p99_us']:.3f} | {add} |")
lines += ["",
          f"- waypoint added p99 / L4 added p99: {ratio:.2f} (target <= 2: "
          + ("met" if ratio <= 2 else "not met") + ")",
          f"- waypoint CPU: {cpu:.4f} vCPU per 1,000 requests/s it serves ({HOPS} per chain "
          f"request, so {cpu * HOPS:.4f} per 1,000 chain requests/s; target <= 0.05: "
          + ("met" if cpu <= 0.05 else "not met") + "; Istio publishes 0.25)",
          f"- waypoint peak RSS: {rss:.1f} MB (target <= 30: " + ("met" if rss <= 30 else "not met") + ")"]
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"medians_ms": med, "added_p99_ratio": ratio, "wp_vcpu_per_krps": cpu,
           "wp_rss_mb": rss}, open(out + ".json", "w"), indent=1)
print("\n".join(lines))
PY
