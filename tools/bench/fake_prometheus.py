#!/usr/bin/env python3
"""A stand-in for Prometheus's HTTP API that answers `ambitctl dashboard`'s graph queries.

    fake_prometheus.py --pods PODS_JSON [--listen 127.0.0.1:0] [--port-file F] [--log F]
                       [--summary F] [--seed N]

The series are made up from a cluster's runtime/pods.json (as `ambitctl local up` writes it, or
tools/bench/dashboard.sh): its workloads (pods by owner) with their app/version labels, a Service
per app in front of its versions, waypoints (gateway.istio.io/managed: istio.io-mesh-controller)
and ingress gateways (istio: ingressgateway) by their labels. Every workload calls two or three
Services, four in five in its own namespace; the gateway calls the first app of every namespace.
A call into a namespace with a waypoint is HTTP (gRPC for one Service in ten) that the waypoint
reports (reporter="waypoint", its pod in the namespace/pod labels), and TCP that the ztunnels
report for both legs (caller -> waypoint, waypoint -> workload); one into a namespace without is
TCP only (reporter="destination", mTLS but for one pair in twenty). The gateway reports its own
requests (reporter="source", security "unknown"), and the ztunnels its connections.

The dashboard's queries (userspace/dashboard/graph.c) are told apart by substrings of their
PromQL, and every answer is built and serialized once at start: what is timed is the dashboard.
Any other instant query gets an empty vector and any range query an empty matrix. --log appends
the path of each distinct query (with its query string) once, to replay the same queries elsewhere;
--summary writes the series count and answer size of each kind of query as JSON.
"""
import argparse
import json
import os
import random
import sys
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

WAYPOINT = ("gateway.istio.io/managed", "istio.io-mesh-controller")


def workloads_of(pods):
    """(ns, workload) -> {"app", "version", "role", "pods": [names]} in pods.json's order."""
    out = {}
    for p in pods:
        ns, labels = p.get("namespace"), p.get("labels") or {}
        wl = p.get("owner") or p.get("name")
        if not ns or not wl:
            continue
        w = out.setdefault((ns, wl), {"app": labels.get("app"), "version": labels.get("version"),
                                      "pods": []})
        w["pods"].append(p["name"])
        if labels.get(WAYPOINT[0]) == WAYPOINT[1]:
            w["role"] = "waypoint"
        elif labels.get("istio") in ("ingressgateway", "egressgateway"):
            w["role"] = "gateway"
        else:
            w.setdefault("role", "workload")
    return out


class Model:
    """The samples of every query kind, from the cluster's workloads."""

    def __init__(self, pods, seed):
        self.rnd = random.Random(seed)
        self.wls = workloads_of(pods)
        self.services = {}  # (ns, app) -> [workload names], the versions behind Service "app"
        self.waypoint = {}  # ns -> (workload, [pod names])
        self.gateways = []
        for (ns, wl), w in self.wls.items():
            if w["role"] == "waypoint":
                self.waypoint.setdefault(ns, (wl, w["pods"]))
            elif w["role"] == "gateway":
                self.gateways.append((ns, wl))
            elif w["app"]:
                self.services.setdefault((ns, w["app"]), []).append(wl)
        self.by_ns = {}
        for ns, app in self.services:
            self.by_ns.setdefault(ns, []).append(app)
        self.kinds = {"waypoint_pairs": {}, "http": {}, "tcp": {}, "conns": {}, "p99": {}}
        self.build()

    def ends(self, sns, swl, dns, dwl, svc):
        s, d = self.wls[(sns, swl)], self.wls[(dns, dwl)]
        return {"source_workload": swl, "source_workload_namespace": sns,
                "source_canonical_service": s["app"] or swl,
                "source_canonical_revision": s["version"] or "latest",
                "destination_workload": dwl, "destination_workload_namespace": dns,
                "destination_canonical_service": d["app"] or dwl,
                "destination_canonical_revision": d["version"] or "latest",
                "destination_service_name": svc or "unknown",
                "destination_service_namespace": dns if svc else "unknown"}

    def add(self, kind, labels, value):
        key = tuple(sorted(labels.items()))
        self.kinds[kind][key] = self.kinds[kind].get(key, 0.0) + value

    def tcp(self, ends, sec, bps, conns):
        self.add("tcp", dict(ends, connection_security_policy=sec), bps)
        keep = ("source_workload", "source_workload_namespace", "destination_workload",
                "destination_workload_namespace")
        self.add("conns", dict({k: ends[k] for k in keep}, connection_security_policy=sec), conns)

    def http(self, reporter, ns, pod, ends, rps, grpc, sec):
        """One caller -> Service -> workload flow of @rps, split over response codes."""
        codes = [("200", "0", 0.97), ("404", "5", 0.02), ("503", "14", 0.01)]
        if self.rnd.random() < 0.7:
            codes = [("200", "0", 1.0)]
        for code, gstat, share in codes:
            labels = dict(ends, reporter=reporter, namespace=ns, pod=pod,
                          request_protocol="grpc" if grpc else "http", response_code=code,
                          connection_security_policy=sec)
            if grpc:  # Prometheus has no empty labels: HTTP's samples have none
                labels["grpc_response_status"] = gstat
            self.add("http", labels, round(rps * share, 4))
        if reporter == "waypoint":
            self.add("waypoint_pairs", ends, rps)
        key = tuple(sorted((k, ends[k]) for k in (
            "source_workload", "source_workload_namespace", "destination_workload",
            "destination_workload_namespace", "destination_service_name",
            "destination_service_namespace")))
        self.kinds["p99"][key] = round(self.rnd.uniform(2, 250), 1)

    def call(self, sns, swl, dns, app):
        """@sns/@swl calls Service @app of @dns: each version behind it gets a share."""
        rps = round(self.rnd.uniform(0.2, 30), 2)
        backends = self.services[(dns, app)]
        grpc = zlib.crc32(("%s/%s" % (dns, app)).encode()) % 10 == 0
        gateway = self.wls[(sns, swl)]["role"] == "gateway"
        wp = None if gateway else self.waypoint.get(dns)
        for dwl in backends:
            share = rps / len(backends)
            ends = self.ends(sns, swl, dns, dwl, app)
            bps = round(share * self.rnd.uniform(500, 4000), 1)
            conns = round(share * self.rnd.uniform(0.05, 0.5), 3)
            if gateway:
                pod = self.wls[(sns, swl)]["pods"][0]
                self.http("source", sns, pod, ends, share, False, "unknown")
                self.tcp(ends, "mutual_tls", bps, conns)
            elif wp:
                wwl, wpods = wp
                self.http("waypoint", dns, self.rnd.choice(wpods), ends, share, grpc, "mutual_tls")
                # The ztunnels see two connections: to the waypoint, and on from it.
                self.tcp(self.ends(sns, swl, dns, wwl, app), "mutual_tls", bps, conns)
                self.tcp(self.ends(dns, wwl, dns, dwl, app), "mutual_tls", bps, conns)
            else:
                self.tcp(ends, "none" if self.rnd.random() < 0.05 else "mutual_tls", bps, conns)

    def build(self):
        namespaces = sorted(self.by_ns)
        for (ns, wl), w in self.wls.items():
            if w["role"] != "workload":
                continue
            own = [a for a in self.by_ns.get(ns, []) if a != w["app"]]
            for _ in range(self.rnd.choice((2, 2, 3))):
                if own and self.rnd.random() < 0.8:
                    dns, app = ns, self.rnd.choice(own)
                else:
                    dns = self.rnd.choice(namespaces)
                    app = self.rnd.choice(self.by_ns[dns])
                    if (dns, app) == (ns, w["app"]):
                        continue
                self.call(ns, wl, dns, app)
        for gns, gwl in self.gateways:
            for ns in namespaces:
                self.call(gns, gwl, ns, self.by_ns[ns][0])

    def answer(self, kind, ts):
        result = [{"metric": dict(k), "value": [ts, repr(float(v))]}
                  for k, v in self.kinds[kind].items()]
        return json.dumps({"status": "success",
                           "data": {"resultType": "vector", "result": result}}).encode()


def kind_of(promql):
    if "histogram_quantile" in promql:
        return "p99"
    if "istio_tcp_connections_opened_total" in promql:
        return "conns"
    if "istio_tcp_sent_bytes_total" in promql:
        return "tcp"
    if 'istio_requests_total{reporter="waypoint"}' in promql:
        return "waypoint_pairs"
    if 'istio_requests_total{reporter=~"waypoint|source"}' in promql and "by (reporter" in promql:
        return "http"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        srv = self.server
        if url.path in ("/-/ready", "/-/healthy"):
            return self.reply(200, b"{}")
        if url.path not in ("/api/v1/query", "/api/v1/query_range"):
            return self.reply(404, b'{"status":"error","error":"not found"}')
        promql = parse_qs(url.query).get("query", [""])[0]
        if srv.log and (url.path, promql) not in srv.logged:
            srv.logged.add((url.path, promql))
            with open(srv.log, "a", encoding="utf-8") as f:
                f.write(self.path + "\n")
        kind = kind_of(promql) if url.path == "/api/v1/query" else None
        if kind:
            return self.reply(200, srv.answers[kind])
        rtype = "matrix" if url.path.endswith("_range") else "vector"
        return self.reply(200, json.dumps({"status": "success", "data": {
            "resultType": rtype, "result": []}}).encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", required=True, help="a cluster's runtime/pods.json")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--summary")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with open(args.pods, encoding="utf-8") as f:
        pods = json.load(f)["pods"]
    model = Model(pods, args.seed)
    ts = round(time.time(), 3)
    host, port = args.listen.rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.answers = {k: model.answer(k, ts) for k in model.kinds}
    srv.log, srv.logged = args.log, set()
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as f:
            json.dump({k: {"series": len(model.kinds[k]), "bytes": len(srv.answers[k])}
                       for k in model.kinds}, f)
    if args.port_file:
        with open(args.port_file + ".tmp", "w", encoding="utf-8") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(args.port_file + ".tmp", args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
