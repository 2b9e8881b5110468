#!/usr/bin/python3
# Test server pod: answers every request with the addresses its client is known by: the
# connection's peer and the fields a proxy in front of it set (x-forwarded-for,
# x-envoy-external-address), one "name=value" each on a line:
#   pod=NS/NAME from=IP xff=... external=...
#   client-addr.py PORT
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        body = ("pod=%s/%s from=%s xff=%s external=%s\n" % (
            os.environ.get("POD_NAMESPACE", "?"), os.environ.get("POD_NAME", "?"),
            self.client_address[0], self.headers.get("x-forwarded-for", ""),
            self.headers.get("x-envoy-external-address", ""))).encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Echo).serve_forever()
