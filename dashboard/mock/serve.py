#!/usr/bin/env python3
"""Stand-in for `ambitctl dashboard`: the web UI plus canned JSON, for front-end work without a cluster.

The *.json files beside this script are examples of every API answer (bookinfo in ambient mode with a
waypoint, the ingress gateway, a TCP edge with partial mTLS and a failing edge); the time series of
/api/workload and /api/service are made up here from the graph's rates.

    python3 dashboard/mock/serve.py [--port 8080] [--tcp-after N] [--prometheus-down]
                                    [--generate NODES[,EDGES[,NAMESPACES]]]

--tcp-after N hides the TCP edges from the first N-1 graph answers, to exercise a test that waits
for an edge to appear; --prometheus-down answers as if Prometheus could not be queried.
--generate answers /api/graph and /api/namespaces with a made-up mesh instead, the same on every
run, for layout work on a big graph: NODES Services and workloads in app boxes, EDGES edges
(default 10*NODES/3) and NAMESPACES namespaces (default NODES/50); its panels are not served.
--grafana-dashboards DIR serves the Grafana dashboard files of DIR to the Dashboards view, and
answers its Prometheus calls (/api/prom/*) with made-up series: a query grouping by labels gets
one series per edge of the mock's graph, with Istio's labels; any other one series.
"""
import argparse
import json
import math
import os
import random
import sys
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
DASH = os.path.dirname(HERE)
LIBS = {
    "/lib/cytoscape.min.js": "node_modules/cytoscape/dist/cytoscape.min.js",
    "/lib/chart.umd.js": "node_modules/chart.js/dist/chart.umd.js",
    "/lib/layout-base.js": "node_modules/layout-base/layout-base.js",
    "/lib/cose-base.js": "node_modules/cose-base/cose-base.js",
    "/lib/cytoscape-fcose.js": "node_modules/cytoscape-fcose/cytoscape-fcose.js",
    "/lib/marked.umd.js": "node_modules/marked/lib/marked.umd.js",
}


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


def series(duration, value, wobble):
    now = int(time.time())
    step = max(duration // 30, 1)
    return [[t, round(max(value * (1 + wobble * math.sin(t / 40.0)), 0), 4)]
            for t in range(now - duration, now + 1, step)]


def charts(node, duration, tcp):
    def side(rate):
        if tcp:
            return {"rps": [], "errorRate": [], "tcp": series(duration, 5120.5, 0.2)}
        return {"rps": series(duration, rate, 0.15),
                "errorRate": series(duration, node.get("errorRate") or 0, 0.5), "tcp": []}
    return {"inbound": side(node.get("inRps") or 0), "outbound": side(node.get("outRps") or 0)}


def generate(spec):
    counts = [int(c) for c in spec.split(",")]
    total = counts[0]
    want = counts[1] if len(counts) > 1 else total * 10 // 3
    spaces = ["team-%d" % i for i in range(counts[2] if len(counts) > 2 else max(total // 50, 1))]
    rnd = random.Random(1)
    nodes = [{"id": "ns:" + ns, "kind": "namespace", "name": ns} for ns in spaces]
    edges, services, callers = [], [], []

    def edge(src, dst):
        tcp = rnd.random() < 0.1
        err = 0.0 if tcp or rnd.random() < 0.85 else round(rnd.uniform(0.005, 0.3), 3)
        rate = round(rnd.uniform(0.1, 20), 2)
        e = {"id": "g%d" % len(edges), "source": src, "target": dst, "protocol": "tcp",
             "rps": None, "errorRate": None, "codes": None, "p99": None, "bytesPerSec": None,
             "mtls": 1.0, "waypoint": None,
             "health": "healthy" if err == 0 else ("degraded" if err < 0.1 else "failure")}
        if tcp:
            e["bytesPerSec"] = round(rate * 1024, 1)
        else:
            e.update(protocol="http", rps=rate, errorRate=err, p99=round(rnd.uniform(1, 80), 1),
                     codes={"2xx": round(rate * (1 - err), 3), "3xx": 0, "4xx": 0,
                            "5xx": round(rate * err, 3)})
        edges.append(e)

    # Apps of a Service and one to three versions, dealt round the namespaces.
    while len(services) + len(callers) < total:
        ns, app = spaces[len(services) % len(spaces)], "app-%d" % len(services)
        svc = "svc:%s/%s" % (ns, app)
        nodes.append({"id": "app:%s/%s" % (ns, app), "kind": "app", "namespace": ns, "name": app,
                      "parent": "ns:" + ns})
        nodes.append({"id": svc, "kind": "service", "namespace": ns, "name": app,
                      "parent": "ns:" + ns, "health": "healthy"})
        services.append((ns, svc))
        for v in range(1, rnd.randint(1, 3) + 1):
            if len(services) + len(callers) >= total:
                break
            wl = "wl:%s/%s-v%d" % (ns, app, v)
            nodes.append({"id": wl, "kind": "workload", "role": "workload", "namespace": ns,
                          "name": "%s-v%d" % (app, v), "app": app, "version": "v%d" % v,
                          "parent": "app:%s/%s" % (ns, app), "health": "healthy"})
            callers.append((ns, wl, svc))
            edge(svc, wl)
    # Calls from workloads to other apps' Services, four in five within the namespace; the tries
    # are bounded as a small mesh may have fewer distinct pairs than EDGES asks for.
    seen = set()
    for _ in range(want * 20):
        if len(edges) >= want or not callers:
            break
        ns, src, own = rnd.choice(callers)
        near = [s for s in services if s[0] == ns]
        dst = rnd.choice(near if rnd.random() < 0.8 else services)[1]
        if dst != own and (src, dst) not in seen:
            seen.add((src, dst))
            edge(src, dst)
    return {"timestamp": 0, "duration": 0, "nodes": nodes, "edges": edges,
            "prometheus": {"url": "http://127.0.0.1:9090", "ok": True, "error": None}}


def grafana_list(directory):
    out = []
    for f in sorted(os.listdir(directory or ".")) if directory else []:
        if not f.endswith(".json") or f.startswith("."):
            continue
        try:
            with open(os.path.join(directory, f), encoding="utf-8") as fh:
                d = json.load(fh)
            d = d.get("dashboard", d) if isinstance(d, dict) else d
            if not isinstance(d, dict) or not isinstance(d.get("panels"), list):
                raise ValueError('not a Grafana dashboard: no "panels" array')
            out.append({"file": f, "uid": d.get("uid"), "title": d.get("title"),
                        "tags": [t for t in d.get("tags", []) if isinstance(t, str)]})
        except ValueError as e:
            out.append({"file": f, "error": str(e)})
    return out


def prom_series(expr):
    """Made-up series for a PromQL expression: Istio's labels per edge of the mock graph when it
    groups (by, label_join), one unlabelled series otherwise."""
    if " by" not in expr and "by(" not in expr and "label_join" not in expr:
        return [({}, 0.97 if "/" in expr else 12.5)]
    graph = load("graph.json")
    nodes = {n["id"]: n for n in graph["nodes"]}
    out = []
    for i, e in enumerate(graph["edges"]):
        src, dst = nodes.get(e["source"], {}), nodes.get(e["target"], {})
        ns, name = dst.get("namespace", "default"), dst.get("name", "unknown")
        out.append(({"destination_service": "%s.%s.svc.cluster.local" % (name, ns),
                     "destination_service_name": name, "destination_service_namespace": ns,
                     "destination_workload": name, "destination_workload_namespace": ns,
                     "destination_workload_var": "%s.%s" % (name, ns),
                     "source_workload": src.get("name", "unknown"),
                     "source_workload_namespace": src.get("namespace", "default"),
                     "destination_cluster": "Kubernetes", "source_cluster": "Kubernetes",
                     "reporter": "waypoint", "response_code": "200",
                     "connection_security_policy": "mutual_tls" if e.get("mtls") else "none",
                     "component": "ztunnel", "tag": "mock"},
                    0.97 if "/" in expr else 1 + i % 7))
    return out


class Handler(SimpleHTTPRequestHandler):
    graph_requests = 0

    def __init__(self, *a, **kw):
        super().__init__(*a, directory=os.path.join(DASH, "web"), **kw)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def send_json(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path in LIBS:
            with open(os.path.join(DASH, LIBS[url.path]), "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        if not url.path.startswith("/api/"):
            return super().do_GET()
        try:
            duration = int(q.get("duration", "300"))
        except ValueError:
            return self.send_json({"error": "duration must be an integer number of seconds"}, 400)
        if url.path.startswith("/api/grafana/dashboards") or url.path.startswith("/api/prom/"):
            return self.grafana(url, parse_qs(url.query))
        graph = generate(self.server.generate) if self.server.generate else load("graph.json")
        nodes = {n["id"]: n for n in graph["nodes"]}
        name = url.path[len("/api/"):]
        if name == "namespaces" and self.server.generate:
            return self.send_json([n["name"] for n in graph["nodes"] if n["kind"] == "namespace"])
        if name in ("health", "namespaces", "workloads", "config"):
            return self.send_json(load(name + ".json"))
        if name == "graph":
            return self.send_json(self.graph(graph, q.get("namespaces"), duration))
        key = "%s/%s" % (q.get("namespace", ""), q.get("name", ""))
        if name == "workload":
            for w in load("workloads.json"):
                if "%s/%s" % (w["namespace"], w["name"]) == key:
                    w.update(load("details.json")["workloads"].get(key, {}))
                    tcp = "tcp-echo" in key or "sleep" in key
                    w["charts"] = charts(nodes.get("wl:" + key, {}), duration, tcp)
                    return self.send_json(w)
            return self.send_json({"error": "no workload " + key}, 404)
        if name == "service":
            if "svc:" + key not in nodes:
                return self.send_json({"error": "no service " + key}, 404)
            s = load("details.json")["services"].get(key, {"namespace": q["namespace"], "name": q["name"]})
            s["charts"] = {"inbound": charts(nodes["svc:" + key], duration, "tcp" in key)["inbound"]}
            return self.send_json(s)
        return self.send_json({"error": "no such API: " + url.path}, 404)

    def grafana(self, url, q):
        directory = self.server.grafana_dir
        if url.path.rstrip("/") == "/api/grafana/dashboards":
            return self.send_json(grafana_list(directory))
        if url.path.startswith("/api/grafana/dashboards/"):
            key = url.path.rsplit("/", 1)[1]
            for d in grafana_list(directory):
                if "error" not in d and key in (d["file"], d["uid"]):
                    with open(os.path.join(directory, d["file"]), encoding="utf-8") as f:
                        return self.send_json(json.load(f))
            return self.send_json({"error": "no dashboard " + key}, 404)
        now = time.time()
        expr = (q.get("query") or q.get("match[]") or [""])[0]
        if url.path == "/api/prom/query":
            result = [{"metric": m, "value": [now, str(v)]} for m, v in prom_series(expr)]
            return self.send_json({"status": "success", "data": {"resultType": "vector", "result": result}})
        if url.path == "/api/prom/query_range":
            start, end, step = (float(q[k][0]) for k in ("start", "end", "step"))
            times = [start + k * step for k in range(int((end - start) / step) + 1)]
            result = [{"metric": m, "values": [[t, str(round(v * (1 + 0.2 * math.sin(t / 60.0 + i)), 4))]
                                               for t in times]}
                      for i, (m, v) in enumerate(prom_series(expr))]
            return self.send_json({"status": "success", "data": {"resultType": "matrix", "result": result}})
        if url.path == "/api/prom/series":
            return self.send_json({"status": "success", "data": [m for m, _ in prom_series(" by " + expr)]})
        if url.path.startswith("/api/prom/label/"):
            label = url.path.split("/")[4]
            values = sorted({m[label] for m, _ in prom_series(" by ") if label in m})
            return self.send_json({"status": "success", "data": values})
        return self.send_json({"status": "error", "errorType": "bad_data", "error": "not an API the panels use"}, 404)

    def graph(self, graph, namespaces, duration):
        Handler.graph_requests += 1
        wanted = set(namespaces.split(",")) if namespaces else None

        def keep(n):
            ns = n["name"] if n["kind"] == "namespace" else n.get("namespace")
            return wanted is None or ns is None or ns in wanted
        graph["nodes"] = [n for n in graph["nodes"] if keep(n)]
        ids = {n["id"] for n in graph["nodes"]}
        graph["edges"] = [e for e in graph["edges"] if e["source"] in ids and e["target"] in ids and
                          (e["protocol"] != "tcp" or Handler.graph_requests >= self.server.tcp_after)]
        ends = {e["source"] for e in graph["edges"]} | {e["target"] for e in graph["edges"]}
        graph["nodes"] = [n for n in graph["nodes"]
                          if n.get("namespace") or n["kind"] == "namespace" or n["id"] in ends]
        graph["timestamp"] = int(time.time())
        graph["duration"] = duration
        if self.server.prometheus_down:
            graph["prometheus"].update(ok=False, error="Get \"http://127.0.0.1:9090/api/v1/query\": "
                                       "dial tcp 127.0.0.1:9090: connect: connection refused")
        return graph


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    ap.add_argument("--tcp-after", type=int, default=0, metavar="N")
    ap.add_argument("--prometheus-down", action="store_true")
    ap.add_argument("--generate", metavar="NODES[,EDGES[,NAMESPACES]]")
    ap.add_argument("--grafana-dashboards", metavar="DIR")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = ap.parse_args()
    srv = ThreadingHTTPServer((args.bind, args.port), Handler)
    srv.tcp_after, srv.prometheus_down, srv.verbose = args.tcp_after, args.prometheus_down, args.verbose
    srv.generate = args.generate
    srv.grafana_dir = args.grafana_dashboards
    print("http://%s:%d/" % (args.bind, srv.server_address[1]), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
