#!/usr/bin/env python3
# Istio's helloworld sample server (samples/helloworld/src/app.py), as its image runs it: port
# 5000, GET /hello answers "Hello version: <version>, instance: <pod>", both address families
# when the pod has IPv6. The version is the first argument (the image's SERVICE_VERSION).
import http.server
import os
import socket
import socketserver
import sys

VERSION = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SERVICE_VERSION", "v1")
INSTANCE = os.environ.get("POD_NAME") or socket.gethostname()


class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path != "/hello":
            self.send_error(404)
            return
        body = ("Hello version: %s, instance: %s\n" % (VERSION, INSTANCE)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    address_family = socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


try:
    srv = Server(("::", 5000), Hello)
except OSError:
    Server.address_family = socket.AF_INET
    srv = Server(("0.0.0.0", 5000), Hello)
srv.serve_forever()
