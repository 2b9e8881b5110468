#!/usr/bin/env python3
"""The keep-alive race of issue 41 §2 (istio/istio#54063, #60767), measured: a backend that closes
every keep-alive connection idle for exactly --idle seconds (as nginx's keepalive_timeout does),
the waypoint in front of it (tests/l7conf's harness and WORLD, one worker), and a client that
sends one GET every --interval seconds on its own keep-alive connection. Prints how many answers
were 503 (the request written on a pooled connection the backend had just closed), how many got
no answer within the harness's deadline ("none": the client connection is then replaced), and
the waypoint's ambit_waypoint_upstream_* counters.

  keepalive-race.py [--waypoint BIN] [--n 100] [--interval 1.1] [--idle 1.0] [--jitter 0.02]

--jitter spreads each interval uniformly by that much either way, so the requests sweep across
the backend's close instead of landing a fixed distance from it. A figure, not a test: it
depends on the machine's timing (the deterministic cases are tests/l7conf's stale_pooled_*).
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/l7conf"))

import harness  # noqa: E402
import h1wire  # noqa: E402


def backend(idle):
    """A keep-alive server whose connections close after @idle seconds without a request."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    stats = {"conns": 0, "closed_idle": 0}

    def serve(s):
        buf = b""
        s.settimeout(idle)
        while True:
            try:
                data = s.recv(65536)
            except socket.timeout:
                stats["closed_idle"] += 1
                break
            except OSError:
                break
            if not data:
                break
            buf += data
            while True:
                r = h1wire.parse_request(buf)
                if r is None:
                    break
                req, used = r
                buf = buf[used:]
                body = b"ok"
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        s.close()

    def accept():
        while True:
            try:
                s, _ = lsock.accept()
            except OSError:
                return
            stats["conns"] += 1
            threading.Thread(target=serve, args=(s,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return lsock, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--waypoint", default=None)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--interval", type=float, default=1.1)
    ap.add_argument("--idle", type=float, default=1.0)
    ap.add_argument("--jitter", type=float, default=0.0)
    a = ap.parse_args()
    lsock, stats = backend(a.idle)
    tmp = harness.make_tmp()
    wp = harness.Waypoint(tmp, binary=a.waypoint)
    admin = harness.free_port()
    codes = {}
    try:
        port = harness.free_port()
        log = os.path.join(tmp, "waypoint.log")
        wp.proc = subprocess.Popen(
            [wp.binary, "--config", wp._config(lsock.getsockname()[1]), "--workers", "1",
             "--listen", f"127.0.0.1:{port}=web.conf.svc.cluster.local:80",
             "--admin", f"127.0.0.1:{admin}"],
            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        harness._wait_listen(port, wp.proc, log)
        c = harness.Client(port)
        for i in range(a.n):
            if not c.send(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n"):
                c = harness.Client(port)
                c.send(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
            got = c.recv(1)
            code = got[0][0] if got and isinstance(got[0], tuple) else \
                (str(got[0].status) if got else "none")
            codes[code] = codes.get(code, 0) + 1
            if c.eof or not got:
                # Closed, or no answer within harness.DEADLINE: the next request on a new one.
                c.close()
                c = harness.Client(port)
            time.sleep(max(0.0, a.interval + random.uniform(-a.jitter, a.jitter)))
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read()
        counters = [ln for ln in metrics.decode().splitlines()
                    if ln.startswith("ambit_waypoint_upstream_")]
    finally:
        wp.stop()
        lsock.close()
        harness.rm_tmp(tmp)
    print(f"requests {a.n} every {a.interval}s (jitter {a.jitter}s), backend idle close "
          f"{a.idle}s: " + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())) +
          f"; backend connections {stats['conns']}, closed idle {stats['closed_idle']}")
    for ln in counters:
        print("  " + ln)
    return 0 if set(codes) == {"200"} else 1


if __name__ == "__main__":
    sys.exit(main())
