#!/usr/bin/env bash
# Istio's own Grafana dashboards (mesh, service, workload, ztunnel, performance), unchanged,
# on ambit: bookinfo behind a waypoint and the ingress gateway, with the traffic a cluster has
# (mesh clients, a plaintext client from a namespace outside the mesh, the gateway to bookinfo
# and to a service outside the mesh), scraped by `local up --with-prometheus`. Every PromQL
# expression of every dashboard is evaluated with its template variables set as Grafana offers
# them (tests/integration/bin/dashboards_eval.py): each must parse, and return series unless
# deploy/observability/istio-dashboards-exempt.tsv says why it cannot on ambit. Then the
# dashboard lists them from `ambitctl dashboard --grafana-dashboards DIR`, and from the cluster as
# Istio's tutorials provision them (Istio's Grafana addon applied, `istioctl dashboard grafana`,
# folder "istio"; a ConfigMap in the form Grafana's sidecar takes), and draws the latter in
# Debian's headless Chromium (tests/integration/bin/grafana_probe.js): every panel whose queries,
# as the page sent them, return series in Prometheus shows them; a panel type ambit does not draw
# says so; screenshots of each dashboard are kept in $AMBIT_IT_ARTIFACTS/t_74_dashboards
# (run.sh: build/it-artifacts).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl python3 node
ISTIOCTL=$REPO/build/istioctl
[ -L "$ISTIOCTL" ] || fail "build/istioctl is not built (make)"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "no headless Chromium at $CHROMIUM (Debian's chromium; make deps)"
[ -d "$REPO/dashboard/node_modules/playwright-core" ] ||
	fail "dashboard/node_modules has no playwright-core (make builds it)"
# Istio's dashboards, verbatim (test data beside the repository, not shipped in it).
DASHBOARDS=${ISTIO_DASHBOARDS:-}
for d in "$REPO/../shared/istio/dashboards" /work/shared/istio/dashboards; do
	[ -z "$DASHBOARDS" ] && [ -d "$d" ] && DASHBOARDS=$d
done
ls "$DASHBOARDS"/*.json >/dev/null 2>&1 ||
	fail "Istio's dashboards are not in ../shared or /work/shared (ISTIO_DASHBOARDS)"

port=$(free_port)
prom="http://127.0.0.1:$port"
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo" 2 --with-prometheus --prometheus-port "$port"
traffic_pid=
dash_pid=
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap '[ -n "$traffic_pid" ] && kill "$traffic_pid" 2>/dev/null; [ -n "$dash_pid" ] && kill "$dash_pid" 2>/dev/null; rm -rf "$WORK"; on_exit' EXIT
tasks=$REPO/examples/bookinfo-tasks
actl apply -f "$tasks/curl.yaml" -f "$tasks/bookinfo-gateway.yaml" >&2 || fail "apply bookinfo's client and gateway"
# Outside the mesh: a client, and a web server the gateway also routes to (legacy.example.com).
actl apply -f - >&2 <<'YAML' || fail "apply the legacy namespace"
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl, namespace: legacy}
spec:
  selector: {matchLabels: {app: curl}}
  template:
    metadata: {labels: {app: curl}}
    spec:
      containers: [{name: curl, image: curl, command: ["sleep", "infinity"]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: legacy}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: python
        command: ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/usr/share/doc"]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: legacy}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: legacy-web, namespace: legacy}
spec:
  hosts: [legacy.example.com]
  gateways: [default/bookinfo-gateway]
  http:
  - route: [{destination: {host: web.legacy.svc.cluster.local, port: {number: 80}}}]
YAML
wait_for 60 pod_exec default/curl-0 curl -sf --max-time 2 -o /dev/null http://productpage:9080/productpage ||
	fail "productpage never answered"
out=$(actl waypoint apply -n default --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n default | grep -Eq '^default +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran"
gw="http://istio-ingressgateway.istio-system"
wait_for 60 pod_exec legacy/curl-0 curl -sf --max-time 2 -o /dev/null -H 'Host: legacy.example.com' "$gw/" ||
	fail "the gateway never routed legacy.example.com"

# The traffic, until the test ends (the trap stops it; it stops itself when the cluster
# goes): every path the panels look at.
(
	while [ -e "/run/ambit/$CLUSTER" ]; do
		pod_exec default/curl-0 curl -s -o /dev/null --max-time 5 http://productpage:9080/productpage
		pod_exec default/curl-0 curl -s -o /dev/null --max-time 5 "$gw/productpage"
		pod_exec legacy/curl-0 curl -s -o /dev/null --max-time 5 "$gw/productpage"
		pod_exec legacy/curl-0 curl -s -o /dev/null --max-time 5 http://productpage.default:9080/productpage
		pod_exec legacy/curl-0 curl -s -o /dev/null --max-time 5 -H 'Host: legacy.example.com' "$gw/"
	done
) >/dev/null 2>&1 &
traffic_pid=$!

# Every series the dashboards' variables and rates need, twice scraped within the minute.
has() {
	curl -sf --max-time 5 "$prom/api/v1/query" --data-urlencode "query=$1" |
		jq -e '.data.result | length > 0' >/dev/null
}
for q in 'rate(istio_requests_total{reporter="waypoint",destination_workload="ratings-v1"}[1m]) > 0' \
	'rate(istio_requests_total{reporter="source",source_workload="istio-ingressgateway",destination_principal="unknown"}[1m]) > 0' \
	'rate(istio_tcp_sent_bytes_total{reporter="destination",connection_security_policy!="mutual_tls"}[1m]) > 0' \
	'rate(istio_tcp_sent_bytes_total{reporter="source",destination_workload="istio-ingressgateway"}[1m]) > 0' \
	'rate(istio_dns_requests_total{pod=~"ztunnel-.*"}[1m]) > 0'; do
	wait_for 60 has "$q" || fail "no series yet for: $q"
done
# The proxies' CPU from each node's cAdvisor, twice scraped within the minute (the
# performance dashboard's rates); if never, which scrape failed and why.
for q in 'rate(container_cpu_usage_seconds_total{pod=~"istio-ingressgateway-.*",container="istio-proxy"}[1m])' \
	'rate(container_cpu_usage_seconds_total{namespace!="istio-system",container="istio-proxy"}[1m])'; do
	wait_for 60 has "$q" || fail "no series yet for: $q; targets: $(curl -s --max-time 5 "$prom/api/v1/targets" |
		jq -c '[.data.activeTargets[] | {job: .labels.job, url: .scrapeUrl, health, lastError, lastScrapeDuration}]')"
done
out=$(python3 "$REPO/tests/integration/bin/dashboards_eval.py" "$prom" \
	"$REPO/deploy/observability/istio-dashboards-exempt.tsv" "$DASHBOARDS"/*.json) ||
	fail "dashboards: $(printf '%s\n' "$out" | grep -A1 '^FAIL' | head -40)"
printf '%s\n' "$out" | grep -E '^(==|exempt|dashboards:)' >&2
expect_contains "$out" "0 failed"

# The same dashboards drawn by the dashboard, beside a file that is not a dashboard and one with
# panel types ambit does not draw: first the files of `ambitctl dashboard --grafana-dashboards`.
gdir=$WORK/grafana
mkdir -p "$gdir"
cp "$DASHBOARDS"/*.json "$gdir/"
echo '{"apiVersion": "v1", "kind": "ConfigMap"}' >"$gdir/not-a-dashboard.json"
cat >"$gdir/zz-ambit-probe.json" <<'JSON'
{"title": "ambit probe", "uid": "ambit-probe", "time": {"from": "now-15m", "to": "now"}, "panels": [
 {"type": "piechart", "title": "A pie", "gridPos": {"x": 0, "y": 0, "w": 8, "h": 6},
  "targets": [{"expr": "sum(istio_requests_total)"}]},
 {"type": "gauge", "title": "Success", "gridPos": {"x": 8, "y": 0, "w": 8, "h": 6},
  "fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1}},
  "targets": [{"expr": "sum(rate(istio_requests_total{response_code!~\"5..\"}[$__rate_interval])) / sum(rate(istio_requests_total[$__rate_interval]))"}]},
 {"type": "text", "title": "Notes", "gridPos": {"x": 16, "y": 0, "w": 8, "h": 6},
  "options": {"mode": "html", "content": "<b>kept</b><script>document.title = 'ran'</script><img src=x onerror=\"document.title = 'ran'\">"}},
 {"type": "text", "title": "Markdown", "gridPos": {"x": 0, "y": 6, "w": 8, "h": 6},
  "options": {"mode": "markdown", "content": "## Runbook\n\n| service | owner |\n|---|---|\n| reviews | ~~team-a~~ team-b |\n\nSee <b>raw</b> HTML<script>document.title = 'ran'</script><img src=x onerror=\"document.title = 'ran'\">."}}
]}
JSON
n_istio=$(ls "$DASHBOARDS"/*.json | wc -l)
dport=$(free_port)
api() { curl -sS --max-time 20 "http://127.0.0.1:$dport/api/$1"; }
stop_dash() {
	kill "$dash_pid" 2>/dev/null
	wait "$dash_pid" 2>/dev/null
	dash_pid=
}
# As istioctl's users type it (`istioctl dashboard grafana`): the URL said is the Dashboards view's.
"$AMBITCTL" dashboard grafana --name "$CLUSTER" --port "$dport" --grafana-dashboards "$gdir" \
	>"$WORK/dash.out" 2>&1 &
dash_pid=$!
wait_for 10 api health || fail "the dashboard never answered: $(cat "$WORK/dash.out")"
# It says so right after it listens: the health check above may answer first.
wait_for 10 grep -q "http://127.0.0.1:$dport/#/dashboards " "$WORK/dash.out" ||
	fail "dashboard grafana's URL is not the Dashboards view's: $(cat "$WORK/dash.out")"
list=$(api grafana/dashboards) || fail "GET /api/grafana/dashboards"
[ "$(jq length <<<"$list")" = $((n_istio + 2)) ] || fail "the directory's list: $list"
jq -e 'all(.[]; .folder == "General" and .ref == .file)' <<<"$list" >/dev/null ||
	fail "a directory's files are not in folder General by their names: $list"
jq -e '.[] | select(.file == "not-a-dashboard.json") | .error | test("no \"panels\"")' <<<"$list" >/dev/null ||
	fail "a file that is not a dashboard is not listed with its error: $list"
[ "$(api grafana/dashboards/ambit-probe | jq -r .title)" = "ambit probe" ] || fail "a file's dashboard by its uid"
stop_dash

# Then as Istio's tutorials have them: `kubectl apply -f samples/addons` (here Grafana's part of
# it in the form of samples/addons/grafana.yaml: its ServiceAccount, ConfigMap, Service and
# Deployment, and its two ConfigMaps of dashboards made from the files), then `istioctl dashboard
# grafana`, folder "istio". The probe's dashboards come as Grafana's sidecar takes them
# (kube-prometheus-stack): a ConfigMap labelled grafana_dashboard, its folder by annotation.
# Started before the addon is applied: it says how to get dashboards, then lists them as they come.
"$ISTIOCTL" dashboard grafana -p "$dport" >"$WORK/dash.out" 2>"$WORK/dash.err" &
dash_pid=$!
wait_for 10 api health || fail "istioctl dashboard grafana never answered: $(cat "$WORK/dash.err")"
said() { [ -s "$WORK/dash.out" ]; }
wait_for 10 said || fail "istioctl dashboard grafana said nothing: $(cat "$WORK/dash.err")"
expect_eq "$(head -1 "$WORK/dash.out")" "http://localhost:$dport" "istioctl dashboard grafana's URL"
wait_for 10 grep -q "samples/addons/grafana.yaml" "$WORK/dash.err" ||
	fail "no Grafana dashboards provisioned, and not said how to get them: $(cat "$WORK/dash.err")"
expect_eq "$(api grafana/dashboards)" "[]" "the list before Grafana's addon is applied"
# Grafana as Istio's addon deploys it, written here in its form (not a copy of the file): the
# dashboards providers in ConfigMap grafana, mounted by subPath into the provisioning directory,
# and one ConfigMap of dashboards mounted at each provider's path.
cat >"$WORK/grafana-addon.yaml" <<'YAML'
apiVersion: v1
kind: ServiceAccount
metadata: {name: grafana, namespace: istio-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: grafana, namespace: istio-system}
data:
  dashboardproviders.yaml: |
    apiVersion: 1
    providers:
    - {name: istio, folder: istio, type: file, orgId: 1,
       options: {path: /var/lib/grafana/dashboards/istio}}
    - {name: istio-services, folder: istio, type: file, orgId: 1,
       options: {path: /var/lib/grafana/dashboards/istio-services}}
---
apiVersion: v1
kind: Service
metadata: {name: grafana, namespace: istio-system}
spec:
  selector: {app: grafana}
  ports: [{name: service, port: 3000, targetPort: 3000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: grafana, namespace: istio-system}
spec:
  replicas: 1
  selector: {matchLabels: {app: grafana}}
  template:
    metadata: {labels: {app: grafana}}
    spec:
      serviceAccountName: grafana
      containers:
      - name: grafana
        image: docker.io/grafana/grafana:11.3.1
        ports: [{name: grafana, containerPort: 3000}]
        volumeMounts:
        - {name: config, mountPath: /etc/grafana/provisioning/dashboards/dashboardproviders.yaml,
           subPath: dashboardproviders.yaml}
        - {name: dashboards-istio, mountPath: /var/lib/grafana/dashboards/istio}
        - {name: dashboards-istio-services, mountPath: /var/lib/grafana/dashboards/istio-services}
      volumes:
      - {name: config, configMap: {name: grafana}}
      - {name: dashboards-istio, configMap: {name: istio-grafana-dashboards}}
      - {name: dashboards-istio-services, configMap: {name: istio-services-grafana-dashboards}}
YAML
# The ConfigMaps of dashboards as Istio's release makes them: each file a key (its name without
# .gen), the service, workload, mesh and extension dashboards in istio-services-grafana-dashboards.
python3 - "$DASHBOARDS" "$gdir" >>"$WORK/grafana-addon.yaml" <<'PY' || fail "the addon's ConfigMaps"
import glob, os, sys

def block(text):
    return "|\n" + "".join("    " + line + "\n" for line in text.splitlines())

def configmap(name, ns, files, meta=""):
    out = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n%sdata:\n" % (name, ns, meta)
    for key, path in sorted(files.items()):
        out += "  %s: %s" % (key, block(open(path, encoding="utf-8").read()))
    return out

services = {"istio-mesh-dashboard.json", "istio-service-dashboard.json",
            "istio-workload-dashboard.json", "istio-extension-dashboard.json"}
cms = {"istio-grafana-dashboards": {}, "istio-services-grafana-dashboards": {}}
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    key = os.path.basename(path).replace(".gen.json", ".json")
    cms["istio-services-grafana-dashboards" if key in services else "istio-grafana-dashboards"][key] = path
for name, files in cms.items():
    sys.stdout.write(configmap(name, "istio-system", files))
probe = {k: os.path.join(sys.argv[2], k) for k in ("zz-ambit-probe.json", "not-a-dashboard.json")}
sys.stdout.write(configmap("ambit-probe-dashboards", "default", probe,
                           "  labels: {grafana_dashboard: \"1\"}\n  annotations: {grafana_folder: ambit}\n"))
PY
actl apply -f "$WORK/grafana-addon.yaml" >&2 || fail "apply Istio's Grafana addon"
list=$(api grafana/dashboards) || fail "GET /api/grafana/dashboards"
expect_eq "$(jq -c '[.[] | select(.folder == "istio" and (.error | not)) | .file] | sort' <<<"$list")" \
	"$(ls "$DASHBOARDS"/*.json | xargs -n1 basename | sed 's/\.gen\.json$/.json/' | jq -Rsc 'split("\n")[:-1] | sort')" \
	"Istio's dashboards in folder istio"
[ "$(jq length <<<"$list")" = $((n_istio + 2)) ] || fail "the list: $list"
jq -e '.[] | select(.file == "not-a-dashboard.json") | .configmap == "default/ambit-probe-dashboards" and
	.key == "not-a-dashboard.json" and (.error | test("no \"panels\""))' <<<"$list" >/dev/null ||
	fail "a ConfigMap key that is not a dashboard is not listed with its error: $list"
jq -e '[.[] | select(.title == "Istio Mesh Dashboard" and .uid == "1a9a8ea49444aae205c7737573e894f9")] | length == 1' \
	<<<"$list" >/dev/null || fail "the mesh dashboard's title and uid: $list"
jq -e '.[] | select(.file == "zz-ambit-probe.json") | .folder == "ambit"' <<<"$list" >/dev/null ||
	fail "the sidecar's ConfigMap is not in its grafana_folder: $list"
[ "$(api grafana/dashboards/ambit-probe | jq -r .title)" = "ambit probe" ] || fail "a dashboard by its uid"
[ "$(api grafana/dashboards/istio-system/istio-services-grafana-dashboards/istio-service-dashboard.json |
	jq -r .title)" = "Istio Service Dashboard" ] || fail "a dashboard by its ConfigMap and key"
# The Prometheus calls, checked before they are forwarded; Prometheus's own errors passed on.
code() { curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$dport$1"; }
[ "$(code '/api/prom/query?query=up&bogus=1')" = 400 ] && grep -q 'no argument bogus' "$WORK/body" ||
	fail "an unknown argument: $(cat "$WORK/body")"
[ "$(code '/api/prom/query?query=sum(')" = 400 ] && jq -e '.status == "error" and (.error | test("parse error"))' "$WORK/body" >/dev/null ||
	fail "Prometheus's parse error: $(cat "$WORK/body")"
[ "$(code '/api/prom/admin/tsdb/snapshot')" = 404 ] || fail "Prometheus's admin API is reachable"
now=$(date +%s)
[ "$(code "/api/prom/query_range?query=up&start=$((now - 300))&end=$now&step=15")" = 200 ] &&
	jq -e '.data.result | length > 0' "$WORK/body" >/dev/null || fail "query_range: $(cat "$WORK/body")"

# Each dashboard as it opens (the variables' first values), then the service and workload ones
# at productpage, as the gateway's client side reports it, as a user would pick.
shots=$WORK/screenshots
node "$REPO/tests/integration/bin/grafana_probe.js" "http://127.0.0.1:$dport" --screenshots "$shots" \
	--open 'istio-service-dashboard.json?var-service=productpage.default.svc.cluster.local&var-qrep=source' \
	--open 'istio-workload-dashboard.json?var-namespace=default&var-workload=productpage-v1&var-qrep=source&var-qrep=destination' \
	--timeout 240 >"$WORK/grafana.json" || fail "the dashboards in Chromium: $(head -c 3000 "$WORK/grafana.json")"
keep_artifacts "$shots"/*.png
out=$(python3 - "$WORK/grafana.json" "$prom" "$(ls "$DASHBOARDS"/*.json | wc -l)" <<'PY'
import json, sys, urllib.parse, urllib.request
r = json.load(open(sys.argv[1]))
prom, n_istio = sys.argv[2], int(sys.argv[3])
bad = []

def series(q):
    args = {"query": q["expr"]}
    if q["instant"]:
        path, args["time"] = "/api/v1/query", q["to"]
    else:
        path = "/api/v1/query_range"
        args.update(start=q["from"], end=q["to"], step=15)
    with urllib.request.urlopen(prom + path + "?" + urllib.parse.urlencode(args), timeout=20) as a:
        return len(json.load(a)["data"]["result"])

if r["consoleErrors"]:
    bad.append("console errors: %s" % r["consoleErrors"][:5])
if len(r["dashboards"]) != n_istio + 3:
    bad.append("%d dashboards opened" % len(r["dashboards"]))
for d in r["dashboards"]:
    states = {}
    for p in d["panels"]:
        states[p["state"]] = states.get(p["state"], 0) + 1
        name = "%s: %s %r" % (d["file"], p["type"], p["title"])
        if p["state"] == "error":
            bad.append("%s: %s" % (name, p["detail"]))
        elif p["state"] == "nodata":
            has = [q["expr"] for q in p["queries"] if series(q)]
            if has:
                bad.append("%s shows No data, Prometheus has series for %s" % (name, has[0]))
        elif p["state"] not in ("data", "text", "unsupported"):
            bad.append("%s: %s" % (name, p["state"]))
    print("== %s (%s%s): %s" % (d["title"], d["file"], d["query"] and "?" + d["query"],
                                " ".join("%s=%d" % kv for kv in sorted(states.items()))))
    if d["query"]:
        for name, want in [kv.split("=", 1) for kv in d["query"].split("&")]:
            if want not in d["variables"].get(name[4:], []):
                bad.append("%s: variable %s is %s, not %s" % (d["file"], name[4:],
                                                               d["variables"].get(name[4:]), want))
    if d["file"] == "zz-ambit-probe.json":
        byt = {p["type"]: p for p in d["panels"] if p["title"] != "Markdown"}
        md = [p for p in d["panels"] if p["title"] == "Markdown"]
        html = (md[0]["html"] or "") if md else ""
        # Markdown as Grafana renders it (marked): a heading, a table, strikethrough; its raw HTML
        # kept to the safe part.
        for want in ("<h2>Runbook</h2>", "<table>", "<td>reviews</td>", "<del>team-a</del>",
                     "<b>raw</b>"):
            if want not in html:
                bad.append("the markdown panel has no %s: %r" % (want, html))
        if "<script" in html or "<img" in html or "onerror" in html:
            bad.append("the markdown panel kept what it must not: %r" % html)
        if byt.get("piechart", {}).get("state") != "unsupported":
            bad.append("the piechart panel does not say it is not drawn: %s" % byt.get("piechart"))
        if byt.get("gauge", {}).get("state") != "data" or not byt["gauge"]["detail"].endswith("%"):
            bad.append("the gauge: %s" % byt.get("gauge"))
        if byt.get("text", {}).get("detail") != "kept":
            bad.append("the text panel: %s" % byt.get("text"))
        if d["documentTitle"] == "ran":
            bad.append("the text panel's script or handler ran")
    elif not states.get("data"):
        bad.append("%s: no panel shows data" % d["file"])
for b in bad:
    print("FAIL " + b)
print("panels: %d failed" % len(bad))
PY
) || fail "checking the panels: $out"
printf '%s\n' "$out" >&2
expect_contains "$out" "panels: 0 failed"
pass
