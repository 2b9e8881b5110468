#!/usr/bin/env bash
# `ambitctl dashboard` at scale (`make bench` runs it): two figures of the issue, benchmarks, not
# tests.
#
# 1. The server: /api/graph for PODS pods. A synthetic cluster `bench-dash-<pid>` holds only what
#    `ambitctl dashboard --name C` reads: cluster.json (two nodes that are never made), runtime/
#    pods.json (PODS pods over NS namespaces, Deployments of app/version-labelled pods, a waypoint
#    in every WP_EVERY-th namespace, the ingress gateway in istio-system) and an empty state/.
#    Prometheus is tools/bench/fake_prometheus.py, whose series are made from the same pods.json
#    and built once at its start. The dashboard runs in a mount namespace of its own in which
#    /run is a directory of this script's scratch: the cluster exists for it alone (other
#    ambitctl commands never see a second cluster up, the test suite's leftover check nothing),
#    and goes with it. After one request to warm up, REQS requests of each kind are timed with
#    curl (%{time_total}): every namespace (no ?namespaces=), every namespace by name as the page
#    asks, one namespace. Also: the answer's size, nodes and edges; the dashboard's CPU per
#    request and RSS after (/proc); the fake's share: the same queries, timed against it alone.
#    Target: under 2 s for the graph of every namespace (judged on p90).
# 2. The page: dashboard/mock/serve.py --generate NODES,EDGES (NODES Services and workloads in
#    namespace and app boxes, EDGES edges) opened RUNS times in headless Chromium by
#    tools/bench/dashboard_render.js, which times in the page (performance.now()) the graph's
#    fetch, cytoscape's add and layout, and the first frame drawn after it; then a refresh of the
#    same graph. Target: under 1 s from the answer's arrival to the graph on screen (the median).
#    A mesh that large the page draws with its namespaces collapsed: then a click opening one is
#    timed too, and in the first run the whole mesh, every namespace opened.
#    Then RUNS_PRESET runs more with the layout's positions given (cytoscape's preset layout): the
#    drawing's own cost, without the layout's. Then the whole mesh as the page draws it when asked
#    to (#/graph?collapse=0, nothing collapsed): RUNS_WHOLE runs with its layout and as many with
#    positions given. PROFILE=1 adds a CPU profile of the whole mesh's draw (3 runs,
#    dashboard_profile.js) into OUT.profile.json.
#
# Knobs: PODS [10000 / QUICK 1000], NS [100 / 20], WP_EVERY [4], REQS [10 / 3], NODES [300 / 100],
# EDGES [1000 / 300], RUNS [5 / 1], RUNS_PRESET [3 / 0], RUNS_WHOLE [5 / 1]; OUT [bench/results/dashboard; QUICK: build/bench/dashboard]
# writes OUT.md and OUT.json; AMBITCTL [build/ambitctl] the binary measured; CHROMIUM
# [/usr/bin/chromium]; SKIP_RENDER=1 or SKIP_SERVER=1 leaves a figure out; PERF=1 samples one more
# graph of every namespace with perf (call graphs) into OUT.perf.txt.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
q() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
PODS=${PODS:-$(q 10000 1000)} NS=${NS:-$(q 100 20)} WP_EVERY=${WP_EVERY:-4} REQS=${REQS:-$(q 10 3)}
NODES=${NODES:-$(q 300 100)} EDGES=${EDGES:-$(q 1000 300)} RUNS=${RUNS:-$(q 5 1)}
export RUNS_PRESET=${RUNS_PRESET:-$(q 3 0)}
RUNS_WHOLE=${RUNS_WHOLE:-$(q 5 1)}
SKIP_RENDER=${SKIP_RENDER:-} SKIP_SERVER=${SKIP_SERVER:-}
OUT=${OUT:-$(q "$REPO/bench/results/dashboard" "$REPO/build/bench/dashboard")}
PY=/usr/bin/python3
AMBITCTL=${AMBITCTL:-$REPO/build/ambitctl}

say() { echo "[bench-dashboard] $*" >&2; }
die() {
	say "error: $*"
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (a mount namespace for the synthetic cluster's run dir)"
[ -x "$AMBITCTL" ] || die "$AMBITCTL not built (make)"
for c in curl node unshare; do
	command -v "$c" >/dev/null || die "needs $c (make deps)"
done
[ -n "$SKIP_RENDER" ] || [ -d "$REPO/dashboard/node_modules/playwright-core" ] ||
	die "needs dashboard/node_modules (make deps)"
[ -n "$SKIP_RENDER" ] || [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || die "needs chromium (make deps)"
[ -n "$SKIP_RENDER" ] || "$PY" "$REPO/dashboard/mock/serve.py" --help 2>/dev/null | grep -q -- --generate ||
	die "dashboard/mock/serve.py has no --generate"

name="bench-dash-$$"
load0=$(cut -d' ' -f1 /proc/loadavg)
tmp=$(mktemp -d /tmp/ambit-bench-dashboard.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$(dirname "$OUT")"
free_port() { "$PY" "$REPO/tools/freeports.py" 1; }
# child CMD...: runs CMD in the background and waits for it, its status returned: a signal to
# this script then interrupts the wait and the EXIT trap stops CMD (bash would wait out a
# foreground command first). No stdin but /dev/null.
child() {
	local rc
	"$@" &
	pids+=($!)
	wait $!
	rc=$?
	forget $!
	return $rc
}
# forget PID: a process of ours that is gone (waited for).
forget() {
	local p keep=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}
# stop PID: stops one process of ours, waits for it and forgets it.
stop() {
	kill "$1" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget "$1"
}
# The user+system CPU clock ticks of process @1, its threads' (those gone too) included.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

echo '{}' >"$tmp/server.json"
if [ -z "$SKIP_SERVER" ]; then
	# ---- the synthetic cluster: /run inside the dashboard's mount namespace ----
	crun="$tmp/run/ambit/$name"
	mkdir -p "$crun/runtime" "$crun/state" || die "scratch"
	"$PY" - "$crun" "$name" "$PODS" "$NS" "$WP_EVERY" "$REPO" <<'EOF' || die "generating the cluster"
import json, sys, zlib
out, name, total, nns, wp_every, repo = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
# As cluster_save() writes it; cluster_load() reads the node count and recomputes the rest.
nodes = [{"name": f"node{i}", "ip": f"10.99.0.{10 + i}", "netns": f"ambit-{name}-node{i}",
          "podCIDR": f"10.98.{i}.0/24", "cgroup": f"/sys/fs/cgroup/ambit-{name}/node{i}/pods",
          "pinRoot": f"/sys/fs/bpf/ambit/{name}-node{i}", "agentSocket": f"/run/ambit/{name}/node{i}/agent.sock"}
         for i in (1, 2)]
json.dump({"name": name, "sourceDir": repo, "kube": False, "cni": "routed", "nodes": nodes},
          open(f"{out}/cluster.json", "w"), indent=1)
APPS = ["frontend", "cart", "checkout", "catalog", "payments", "shipping", "users", "auth", "search",
        "reviews", "ratings", "inventory", "orders", "notify", "recommend", "ads", "email", "currency",
        "billing", "profile", "media", "geo", "pricing", "audit"]
pods = []
def deploy(ns, owner, n, labels, sa):
    for r in range(n):
        k = len(pods)
        pname = f"{owner}-{zlib.crc32(owner.encode()) % 0xfffff:05x}-{r}"
        pods.append({"namespace": ns, "name": pname, "uid": f"{ns}/{pname}", "owner": owner,
                     "node": f"node{k % 2 + 1}", "ip": f"10.{64 + k // 65536}.{k // 256 % 256}.{k % 256}",
                     "serviceAccount": sa, "labels": dict(labels, **{"pod-template-hash": "5d8f7c"}),
                     "annotations": {}})
deploy("istio-system", "istio-ingressgateway", 2,
       {"app": "istio-ingressgateway", "istio": "ingressgateway"}, "istio-ingressgateway-service-account")
rest = total - len(pods)
for i in range(nns):
    ns, budget = f"bench-{i:03d}", rest // nns + (1 if i < rest % nns else 0)
    start = len(pods)
    if i % wp_every == 0 and budget >= 4:
        deploy(ns, "waypoint", 2, {"gateway.istio.io/managed": "istio.io-mesh-controller",
                                   "gateway.networking.k8s.io/gateway-name": "waypoint"}, "waypoint")
    j = 0
    while len(pods) - start < budget:
        app = APPS[j % len(APPS)] + ("" if j < len(APPS) else f"-{j // len(APPS)}")
        for v in range(1, 2 + (j % 3 == 0) + (j % 7 == 0)):
            left = budget - (len(pods) - start)
            if left <= 0:
                break
            n = min(left, 2 + zlib.crc32(f"{ns}/{app}/v{v}".encode()) % 4)
            deploy(ns, f"{app}-v{v}", n, {"app": app, "version": f"v{v}"}, app)
        j += 1
json.dump({"pods": pods, "serviceIPs": {}}, open(f"{out}/runtime/pods.json", "w"), indent=1)
EOF
	workloads=$("$PY" -c 'import json,sys; print(len({(p["namespace"], p["owner"]) for p in json.load(open(sys.argv[1]))["pods"]}))' \
		"$crun/runtime/pods.json")
	say "cluster $name: $PODS pods, $workloads workloads, $NS namespaces and istio-system"

	"$PY" "$HERE/fake_prometheus.py" --pods "$crun/runtime/pods.json" --port-file "$tmp/prom.port" \
		--log "$tmp/prom.queries" --summary "$tmp/prom.summary.json" >"$tmp/prom.log" 2>&1 &
	pids+=($!)
	prom_pid=$!
	for _ in $(seq 1200); do [ -s "$tmp/prom.port" ] && break; sleep 0.1; done
	[ -s "$tmp/prom.port" ] || die "the fake Prometheus did not start: $(tail -5 "$tmp/prom.log")"
	prom="http://127.0.0.1:$(cat "$tmp/prom.port")"

	dport=$(free_port)
	# Its own mount namespace, /run there the scratch's: the cluster is the dashboard's alone.
	unshare -m --propagation private sh -c 'mount --bind "$1" /run && shift && exec "$@"' sh \
		"$tmp/run" "$AMBITCTL" dashboard --name "$name" --port "$dport" --prometheus "$prom" \
		>"$tmp/dash.log" 2>&1 &
	pids+=($!)
	dash=$!
	base="http://127.0.0.1:$dport"
	for _ in $(seq 100); do curl -sf -o /dev/null "$base/api/health" && break; sleep 0.1; done
	curl -sf -o /dev/null "$base/api/health" || die "the dashboard did not start: $(tail -5 "$tmp/dash.log")"
	[ -e "/run/ambit/$name" ] && die "/run/ambit/$name is visible outside the dashboard's mount namespace"

	# time_graph LABEL QUERY [API]: one request to warm, then REQS timed, "seconds bytes status" a
	# line (API: another endpoint than graph).
	time_graph() {
		local url="$base/api/${3:-graph}?$2" i
		child curl -s -o "$tmp/graph-$1.json" "$url"
		: >"$tmp/t-$1"
		echo "$(ticks "$dash")" >"$tmp/cpu-$1"
		for i in $(seq "$REQS"); do
			child curl -s -o "$tmp/graph-$1.json" -w '%{time_total} %{size_download} %{http_code}\n' \
				"$url" >>"$tmp/t-$1"
		done
		echo "$(ticks "$dash")" >>"$tmp/cpu-$1"
		awk '$3 != 200 {bad = 1} END {exit bad}' "$tmp/t-$1" || die "/api/${3:-graph}?$2: $(head -c 300 "$tmp/graph-$1.json")"
	}
	time_graph all "duration=300"
	allns=$("$PY" -c 'import json,sys; print(",".join(sorted({p["namespace"] for p in json.load(open(sys.argv[1]))["pods"]})))' \
		"$crun/runtime/pods.json")
	time_graph page "duration=300&namespaces=$allns"
	time_graph one "duration=300&namespaces=bench-001"
	# The lists the page asks for: the workloads view, the namespace menu (at every refresh).
	time_graph workloads "" workloads
	time_graph namespaces "" namespaces
	if [ -n "${PERF:-}" ]; then
		# One more graph of every namespace, sampled: where the dashboard's time goes.
		perf record -q -F 499 -g -p "$dash" -o "$tmp/perf.data" 2>"$tmp/perf.log" &
		perfpid=$!
		pids+=("$perfpid")
		sleep 1
		child curl -s -o /dev/null "$base/api/graph?duration=300"
		kill -INT "$perfpid"
		wait "$perfpid"
		forget "$perfpid"
		perf report -i "$tmp/perf.data" --no-children --stdio --percent-limit 1 -g caller,0.5,callee,function,percent \
			>"$OUT.perf.txt" 2>/dev/null || say "perf report failed: $(tail -2 "$tmp/perf.log")"
	fi
	rss=$(status_kb "$dash" VmRSS)
	hwm=$(status_kb "$dash" VmHWM)
	say "graph of every namespace: $(sort -n "$tmp/t-all" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}') s (median); RSS $((rss / 1024)) MB"

	# The fake alone: the graph's queries in the order the dashboard sent them, REQS rounds.
	grep -c . "$tmp/prom.queries" >/dev/null || die "the dashboard sent the fake no query"
	: >"$tmp/t-fake"
	for _ in $(seq "$REQS"); do
		s=0
		while read -r path; do
			t=$(curl -s -o /dev/null -w '%{time_total}' "$prom$path")
			s=$(awk -v a="$s" -v b="$t" 'BEGIN {print a + b}')
		done <"$tmp/prom.queries"
		echo "$s" >>"$tmp/t-fake"
	done
	stop "$dash"
	stop "$prom_pid"

	"$PY" - "$tmp" "$REQS" "$(getconf CLK_TCK)" "$rss" "$hwm" "$PODS" "$workloads" "$NS" \
		"$WP_EVERY" "$crun/runtime/pods.json" >"$tmp/server.json" <<'EOF' || die "reading the answers"
import collections, json, os, statistics, sys
tmp, reqs, hz, rss, hwm, pods, wls, nns, wp_every, podsf = sys.argv[1:]
def times(label):
    return [tuple(float(x) for x in l.split()[:2]) for l in open(f"{tmp}/t-{label}")]
def pick(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
out = {"pods": int(pods), "workloads": int(wls), "namespaces": int(nns), "waypoint_every": int(wp_every),
       "pods_json_mb": round(os.path.getsize(podsf) / 1e6, 2), "requests": int(reqs),
       "rss_mb": round(int(rss) / 1024, 1), "peak_rss_mb": round(int(hwm) / 1024, 1),
       "prometheus": json.load(open(f"{tmp}/prom.summary.json")), "graphs": {}}
for label in ("all", "page", "one"):
    t = times(label)
    g = json.load(open(f"{tmp}/graph-{label}.json"))
    if not g.get("prometheus", {}).get("ok"):
        sys.exit(f"{label}: Prometheus not ok: {g.get('prometheus')}")
    kinds = collections.Counter(n.get("role") if n.get("kind") == "workload" else n.get("kind")
                                for n in g["nodes"])
    protos = collections.Counter(e["protocol"] for e in g["edges"])
    out["graphs"][label] = {
        "median_s": round(statistics.median(x[0] for x in t), 3), "p90_s": round(pick([x[0] for x in t], 90), 3),
        "max_s": round(max(x[0] for x in t), 3), "bytes": int(t[-1][1]), "nodes": len(g["nodes"]),
        "edges": len(g["edges"]), "node_kinds": dict(kinds), "edge_protocols": dict(protos),
        "edges_via_waypoint": sum(1 for e in g["edges"] if e.get("waypoint")),
        "cpu_s_per_request": round(-int.__sub__(*map(int, open(f"{tmp}/cpu-{label}").read().split())) / int(hz) / int(reqs), 3)}
out["lists"] = {}
pod_list = json.load(open(podsf))["pods"]
for label, want in (("workloads", len({(p["namespace"], p["owner"]) for p in pod_list})),
                    ("namespaces", len({p["namespace"] for p in pod_list}))):
    t = times(label)
    got = json.load(open(f"{tmp}/graph-{label}.json"))
    # Every workload (namespace) once: as many as pods.json has, no two the same.
    keys = [(w["namespace"], w["name"]) for w in got] if label == "workloads" else got
    if len(set(keys)) != len(keys) or len(set(keys)) < want:
        sys.exit(f"/api/{label}: {len(keys)} entries, {len(set(keys))} distinct, pods.json has {want}")
    out["lists"][label] = {"median_s": round(statistics.median(x[0] for x in t), 3),
                           "max_s": round(max(x[0] for x in t), 3), "bytes": int(t[-1][1]), "entries": len(keys)}
a = out["graphs"]["all"]
for need, what in ((a["edge_protocols"].get("http", 0), "HTTP edges"), (a["edge_protocols"].get("tcp", 0), "TCP edges"),
                   (a["node_kinds"].get("gateway", 0), "a gateway"), (a["edges_via_waypoint"], "edges via a waypoint")):
    if not need:
        sys.exit(f"the graph of every namespace has no {what}")
fake = [float(l) for l in open(f"{tmp}/t-fake")]
out["fake_prometheus_s"] = round(statistics.median(fake), 3)
out["fake_share"] = round(out["fake_prometheus_s"] / a["median_s"], 3) if a["median_s"] else None
out["queries"] = sum(1 for _ in open(f"{tmp}/prom.queries"))
json.dump(out, sys.stdout)
EOF
	say "server figure done"
fi

echo '{"runs": []}' >"$tmp/render.json"
echo '{"runs": []}' >"$tmp/whole.json"
if [ -z "$SKIP_RENDER" ]; then
	# ---- the page: a generated graph from the mock, in headless Chromium ----
	"$PY" "$REPO/dashboard/mock/serve.py" --port 0 --generate "$NODES,$EDGES" >"$tmp/mock.out" 2>"$tmp/mock.log" &
	pids+=($!)
	mock=$!
	for _ in $(seq 100); do [ -s "$tmp/mock.out" ] && break; sleep 0.1; done
	url=$(head -1 "$tmp/mock.out")
	[ -n "$url" ] || die "the mock did not start: $(tail -5 "$tmp/mock.log")"
	say "the page: $NODES nodes, $EDGES edges, $RUNS runs in headless Chromium"
	child node "$HERE/dashboard_render.js" "$url" "$RUNS" >"$tmp/render.json" 2>"$tmp/render.log" ||
		die "dashboard_render.js: $(tail -5 "$tmp/render.log")"
	if [ "$RUNS_WHOLE" -gt 0 ]; then
		say "the whole mesh: $RUNS_WHOLE runs, as many with positions given"
		RUNS_PRESET=$(q "$RUNS_WHOLE" 0) child node "$HERE/dashboard_render.js" "$url" "$RUNS_WHOLE" \
			--hash collapse=0 >"$tmp/whole.json" 2>"$tmp/whole.log" ||
			die "dashboard_render.js (whole): $(tail -5 "$tmp/whole.log")"
	fi
	if [ -n "${PROFILE:-}" ]; then
		child node "$HERE/dashboard_profile.js" "$url" collapse=0 --runs 3 >"$OUT.profile.json" \
			2>"$tmp/profile.log" || die "dashboard_profile.js: $(tail -5 "$tmp/profile.log")"
	fi
	stop "$mock"
fi

# ---- the results ----
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$REPO" status --porcelain -- dashboard/web dashboard/mock userspace/dashboard 2>/dev/null |
	awk '{print $2}' | paste -sd, -)
appjs=$(git -C "$REPO" hash-object dashboard/web/app.js 2>/dev/null | cut -c1-12)
"$PY" - "$OUT" "$tmp/server.json" "$tmp/render.json" "$commit" "$dirty" "$NODES" "$EDGES" "$RUNS" "${QUICK:+1}" "$load0" "$appjs" \
	"$tmp/whole.json" <<'EOF' || die "writing the results"
import datetime, json, os, platform, statistics, sys
out, serverf, renderf, commit, dirty, nodes, edges, runs, quick, load0, appjs, wholef = sys.argv[1:]
server, renderj = json.load(open(serverf)), json.load(open(renderf))
wholej = json.load(open(wholef))
render, preset = renderj["runs"], renderj.get("preset", [])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = open("/proc/loadavg").read().split()[0]
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
res = {"date": now, "commit": commit, "modified": dirty.split(",") if dirty else [], "app_js_blob": appjs,
       "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
                   "loadavg_1m": [float(load0), float(load)]},
       "quick": bool(quick), "server": server, "render": {}}
ok = lambda c: "met" if c else "**not met**"
lines = [f"# `ambitctl dashboard` at scale" + (" (QUICK: smoke sizes)" if quick else ""), "",
         f"`tools/bench/dashboard.sh` on {cpu}, {os.cpu_count()} cores, Linux {platform.release()} "
         f"(1-minute load average {load0} at the start, {load} at the end: other work on the machine "
         f"lengthens wall times, not CPU times); commit {commit}"
         + (f" with {', '.join(res['modified'])} modified in the working tree" if dirty else "") + f", {now}.", ""]
if server:
    g = server["graphs"]
    a = g["all"]
    met = a["p90_s"] < 2
    res["server"]["target"] = {"figure": "graphs.all.p90_s", "op": "<", "bound": 2, "met": met}
    p = server["prometheus"]
    lines += ["## The server: `/api/graph` from Prometheus", "",
              f"A synthetic cluster of {server['pods']} pods ({server['workloads']} Deployments, {server['namespaces']} "
              f"namespaces and istio-system; a waypoint in every {server['waypoint_every']}th namespace, the ingress "
              f"gateway; pods.json {server['pods_json_mb']} MB) and a fake Prometheus "
              f"(`tools/bench/fake_prometheus.py`) answering the dashboard's {server['queries']} instant queries with "
              f"series made from the same pods: {p['http']['series']} request series "
              f"({p['http']['bytes'] / 1e6:.1f} MB), {p['tcp']['series']} TCP byte series ({p['tcp']['bytes'] / 1e6:.1f} MB), "
              f"{p['conns']['series']} connection series, {p['p99']['series']} p99 series, "
              f"{p['waypoint_pairs']['series']} waypoint pairs. {server['requests']} requests of each kind after one "
              "to warm up, timed by curl.", "",
              "| request | median | p90 | max | answer | nodes | edges | target |", "|---|---|---|---|---|---|---|---|"]
    names = {"all": "every namespace (`?duration=300`)",
             "page": "every namespace by name, as the page asks (`&namespaces=...`)",
             "one": "one namespace (`&namespaces=bench-001`)"}
    for k in ("all", "page", "one"):
        x = g[k]
        lines.append(f"| {names[k]} | {x['median_s']} s | {x['p90_s']} s | {x['max_s']} s | "
                     f"{x['bytes'] / 1e6:.2f} MB | {x['nodes']} | {x['edges']} | "
                     + (f"< 2 s (p90): {ok(met)}" if k == "all" else "") + " |")
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(a["node_kinds"].items()))
    protos = ", ".join(f"{v} {k}" for k, v in sorted(a["edge_protocols"].items()))
    lines += ["", f"- The graph of every namespace: nodes {kinds}; edges {protos} ({a['edges_via_waypoint']} through a waypoint).",
              f"- The dashboard's CPU: {a['cpu_s_per_request']} s per graph of every namespace; its RSS after "
              f"all requests {server['rss_mb']} MB (peak {server['peak_rss_mb']} MB).",
              f"- The fake Prometheus alone answers the same {server['queries']} queries in {server['fake_prometheus_s']} s "
              f"(median of {server['requests']} rounds, curl): {server['fake_share'] * 100:.1f}% of the graph's median."]
    for k, what in (("workloads", "the workloads view's list"), ("namespaces", "the namespace menu's list")):
        x = server.get("lists", {}).get(k)
        if x:
            lines.append(f"- `/api/{k}` ({what}): {x['entries']} entries, {x['bytes'] / 1e6:.2f} MB, median "
                         f"{x['median_s']} s (max {x['max_s']} s).")
    lines.append("")
if render:
    def med(key, part="first", runs=None):
        xs = [r[part][key] for r in (render if runs is None else runs) if r[part].get(key) is not None]
        return statistics.median(xs) if xs else None
    f0 = render[0]["first"]
    layouts = {}
    for r in render:
        for l in r["first"]["layouts"]:
            layouts.setdefault(l["name"], []).append(l["ms"])
    work = med("pageWork")
    met = work is not None and work < 1000
    rr = {k: round(med(k), 1) for k in ("serverWait", "bodyAndParse", "toCytoscape", "add", "layout", "fit", "rest",
                                        "firstFrame", "pageWork", "fetchToDrawn", "loaded", "drawn")}
    rr["refresh"] = {k: round(med(k, "refresh"), 1) for k in ("pageWork", "clickToDrawn", "firstFrame")}
    opened = [r["open"] for r in render if r.get("open")]
    if opened:
        rr["open"] = {"clickToDrawn": round(statistics.median(o["clickToDrawn"] for o in opened), 1),
                      "layout": round(statistics.median(o["layout"] for o in opened), 1),
                      "id": opened[0]["id"], "elements": opened[0]["elements"], "runs": len(opened)}
    if render[0].get("whole"):
        rr["whole"] = render[0]["whole"]
    if preset:
        rr["preset"] = {k: round(med(k, runs=preset), 1) for k in ("serverWait", "bodyAndParse", "toCytoscape",
                                                                   "add", "layout", "fit", "rest", "firstFrame",
                                                                   "pageWork", "fetchToDrawn", "loaded", "drawn")}
        rr["preset"]["runs"] = len(preset)
    pr = rr.get("preset", {})
    pcol = lambda k: f" {pr[k]} |" if pr else ""
    cpu = {}
    for r in render:
        for k, v in (r["first"].get("cpu") or {}).items():
            cpu.setdefault(k, []).append(v)
    rr["cpu_s"] = {k: round(statistics.median(v), 2) for k, v in cpu.items() if statistics.median(v) >= 0.01}
    rr.update(nodes=int(nodes), edges=int(edges), runs=len(render), elements=f0["elements"],
              layouts={k: round(statistics.median(v), 1) for k, v in layouts.items()},
              graph_layout=[r["first"]["graphLayout"] for r in render],
              errors=sorted({e for r in render for e in r["errors"]}),
              target={"figure": "pageWork", "op": "<", "bound_ms": 1000, "met": met})
    res["render"] = rr
    el = f0["elements"] or {}
    rr["collapsed"] = f0.get("collapsed", 0)
    drawn = (f"{el.get('nodes', 0) - el.get('boxes', 0)} Services and workloads in {el.get('boxes')} namespace and "
             f"app boxes ({el.get('nodes')} cytoscape nodes), {el.get('edges')} edges")
    if rr["collapsed"]:
        drawn = (f"{nodes} Services and their workloads, {edges} edges, drawn as the page first shows a mesh that "
                 f"large: its {rr['collapsed']} namespaces collapsed into one node each, the traffic between them "
                 f"summed ({el.get('nodes')} cytoscape nodes, {el.get('edges')} edges)")
    lines += ["## The page: drawing the graph in headless Chromium", "",
              f"`dashboard/mock/serve.py --generate {nodes},{edges}`: {drawn}; the page as it is in the tree "
              f"(`dashboard/web`, app.js blob {appjs}), opened "
              f"{len(render)} times in a fresh context of headless Chromium (1400x900, software rendering) by "
              "`tools/bench/dashboard_render.js`, which times the page from inside. Medians, ms."
              + (f" The last column: {pr['runs']} runs more with the page's layout swapped for cytoscape's preset one "
                 "putting each node where the first run's layout did, so what drawing the graph costs without "
                 "computing a layout." if pr else ""), "",
              "| phase | ms |" + (" layout's positions given, ms |" if pr else ""),
              "|---|---|" + ("---|" if pr else ""),
              f"| the mock's answer (request out, headers in; not the page's) | {rr['serverWait']} |" + pcol("serverWait"),
              f"| body in, JSON parsed | {rr['bodyAndParse']} |" + pcol("bodyAndParse"),
              f"| API objects to cytoscape elements | {rr['toCytoscape']} |" + pcol("toCytoscape"),
              f"| `cy.add` | {rr['add']} |" + pcol("add"),
              f"| layout: " + ", ".join(f"{k} {v} ms" for k, v in rr["layouts"].items()) + f" | {rr['layout']} |"
              + pcol("layout"),
              f"| `cy.fit` | {rr['fit']} |" + pcol("fit"),
              f"| the rest of the render (the style computed, positions kept, DOM) | {rr['rest']} |" + pcol("rest"),
              f"| the first frame drawn after it | {rr['firstFrame']} |" + pcol("firstFrame"),
              f"| **the answer in to the graph on screen** | **{rr['pageWork']}** |"
              + (f" **{pr['pageWork']}** |" if pr else ""),
              f"| the request out to the graph on screen | {rr['fetchToDrawn']} |" + pcol("fetchToDrawn"),
              f"| navigation to `window.graphLoaded >= 1` | {rr['loaded']} |" + pcol("loaded"),
              f"| navigation to the graph on screen | {rr['drawn']} |" + pcol("drawn"),
              f"| refresh of the same graph (updated in place), the answer in to the frame drawn | {rr['refresh']['pageWork']} |"
              + (" |" if pr else ""),
              *([f"| a click opening one namespace (`{rr['open']['id']}`: then "
                 f"{rr['open']['elements']['nodes']} cytoscape nodes, {rr['open']['elements']['edges']} edges), "
                 f"the click to the frame drawn; its layout {rr['open']['layout']} ms | {rr['open']['clickToDrawn']} |"
                 + (" |" if pr else "")] if rr.get("open") else []),
              *([f"| the whole mesh, every namespace opened one click at a time (first run only: "
                 f"{rr['whole']['elements']['nodes']} cytoscape nodes, {rr['whole']['elements']['edges']} edges), "
                 f"the last click to the frame drawn; its layout {rr['whole']['layout']:.1f} ms | "
                 f"{rr['whole']['clickToDrawn']:.1f} |" + (" |" if pr else "")] if rr.get("whole") else []),
              "",
              "CPU of the browser from the navigation to the graph drawn (Chrome's `SystemInfo.getProcessInfo`, "
              "medians; the page's renderer has threads besides its main one): "
              + ", ".join(f"{k} {v} s" for k, v in sorted(rr["cpu_s"].items(), key=lambda kv: -kv[1])) + ".",
              "",
              f"**Target**: the graph drawn in under 1 s (the answer in to the graph on screen, median): "
              f"{ok(met)} ({rr['pageWork']:.0f} ms).",
              f"The page's own record of its layout (`window.graphLayout`), first run: `{json.dumps(f0['graphLayout'])}`."]
    if rr["errors"]:
        lines.append(f"Console errors: {'; '.join(rr['errors'])}")
    lines.append("")
wr, wp = wholej["runs"], wholej.get("preset", [])
if wr:
    keys = ("add", "layout", "fit", "rest", "firstFrame", "pageWork", "fetchToDrawn")
    wm = lambda rs, k, part="first": round(statistics.median(r[part][k] for r in rs), 1)
    w = {"runs": len(wr), "elements": wr[0]["first"]["elements"], "graphLayout": wr[0]["first"]["graphLayout"],
         "zoom": round(wr[0]["first"]["zoom"], 3), **{k: wm(wr, k) for k in keys},
         "refresh": wm(wr, "pageWork", "refresh"),
         "errors": sorted({e for r in wr + wp for e in r["errors"]})}
    if wp:
        w["preset"] = {"runs": len(wp), **{k: wm(wp, k) for k in keys}, "refresh": wm(wp, "pageWork", "refresh")}
    res["render"]["whole_mesh"] = w
    p = w.get("preset", {})
    col = lambda k: f" {p[k]} |" if p else ""
    el = w["elements"]
    lines += ["### The whole mesh drawn (`#/graph?collapse=0`)", "",
              f"The same graph with nothing collapsed ({el['nodes'] - el['boxes']} Services and workloads in "
              f"{el['boxes']} boxes, {el['edges']} edges; fitted at zoom {w['zoom']}), opened {w['runs']} times"
              + (f", then {p['runs']} times with the first run's positions given" if p else "") + ". Medians, ms.", "",
              "| phase | ms |" + (" positions given, ms |" if p else ""), "|---|---|" + ("---|" if p else ""),
              f"| `cy.add` | {w['add']} |" + col("add"),
              f"| layout ({w['graphLayout']['name'] if w['graphLayout'] else '?'}) | {w['layout']} |" + col("layout"),
              f"| `cy.fit` (a large mesh is fitted from positions, in the rest) | {w['fit']} |" + col("fit"),
              f"| the rest of the render | {w['rest']} |" + col("rest"),
              f"| the first frame drawn after it | {w['firstFrame']} |" + col("firstFrame"),
              f"| **the answer in to the graph on screen** | **{w['pageWork']}** |" + (f" **{p['pageWork']}** |" if p else ""),
              f"| the request out to the graph on screen | {w['fetchToDrawn']} |" + col("fetchToDrawn"),
              f"| refresh of the same graph, the answer in to the frame drawn | {w['refresh']} |" + col("refresh"), ""]
    if w["errors"]:
        lines += [f"Console errors: {'; '.join(w['errors'])}", ""]
if server:
    a = server["graphs"]["all"]
    lines.insert(4, f"**Targets**: the graph of {server['pods']} pods served in under 2 s: "
                 f"{ok(a['p90_s'] < 2)} (p90 {a['p90_s']} s)"
                 + (f"; a {nodes}-node, {edges}-edge graph drawn in under 1 s: {ok(res['render']['target']['met'])} "
                    f"({res['render']['pageWork']:.0f} ms)." if render else "."))
    lines.insert(5, "")
json.dump(res, open(out + ".json", "w"), indent=1)
open(out + ".md", "w").write("\n".join(lines))
print("\n".join(lines))
EOF
say "wrote $OUT.md and $OUT.json"
