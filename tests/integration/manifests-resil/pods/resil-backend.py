#!/usr/bin/env python3
# A test backend for the waypoint's resilience tests (t_87): HTTP/1.1 with keep-alive on --port,
# each request logged on stdout as one line ("REQ METHOD PATH host=HOST from=PEER") so the test
# counts what reached this pod from its log. What it answers:
#   /flaky/KEY?fail=N   503 to the first N requests for KEY, 200 after (counted per KEY)
#   ANY?status=CODE     always CODE
#   /slow?ms=N          200 after N milliseconds
#   Upgrade: websocket  the RFC 6455 handshake, then echoes one text frame
#   anything else       200, the pod, its version, the peer and every request header
# --fail CODE answers CODE to every request (an unhealthy endpoint); --version V is echoed.
import argparse, base64, hashlib, os, struct, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=8080)
ap.add_argument("--fail", type=int, default=0)
ap.add_argument("--version", default="")
args = ap.parse_args()
POD = "%s/%s" % (os.environ.get("POD_NAMESPACE", "?"), os.environ.get("POD_NAME", "?"))
VERSION = args.version
counts = {}
lock = threading.Lock()
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def answer(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Backend", POD)
        self.end_headers()
        self.wfile.write(data)

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        b0, b1 = self.rfile.read(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", self.rfile.read(2))
        mask = self.rfile.read(4) if b1 & 0x80 else b"\0\0\0\0"
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(self.rfile.read(n)))
        reply = ("echo from %s: " % POD).encode() + payload
        self.wfile.write(bytes([0x81, len(reply)]) + reply)
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self):
        u = urlsplit(self.path)
        print("REQ %s %s host=%s from=%s" % (self.command, self.path, self.headers.get("Host"),
                                              self.client_address[0]), flush=True)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        if args.fail:
            return self.answer(args.fail, "%s failing\n" % POD)
        q = parse_qs(u.query)
        if u.path.startswith("/flaky/"):
            with lock:
                n = counts[u.path] = counts.get(u.path, 0) + 1
            if n <= int(q.get("fail", ["0"])[0]):
                return self.answer(503, "%s attempt %d failed\n" % (POD, n))
            return self.answer(200, "%s attempt %d ok\n" % (POD, n))
        if "status" in q:
            return self.answer(int(q["status"][0]), "%s status\n" % POD)
        if u.path == "/slow":
            time.sleep(int(q.get("ms", ["500"])[0]) / 1000)
        lines = ["pod=%s version=%s from=%s path=%s" % (POD, VERSION, self.client_address[0],
                                                       self.path)]
        lines += ["h:%s=%s" % (k.lower(), v) for k, v in self.headers.items()]
        return self.answer(200, "\n".join(lines) + "\n")

    do_POST = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


Server(("0.0.0.0", args.port), Handler).serve_forever()
