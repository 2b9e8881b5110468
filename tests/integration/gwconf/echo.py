#!/usr/bin/env python3
"""The conformance cases' backend, a stand-in for the Gateway API suite's echo-basic: every
request is answered 200 with a JSON body saying what arrived (path with its query, host,
method, protocol, headers as lists of values) and who answered (namespace, pod); the echoed
headers are those the gateway sent, so a case checks its filters on them. X-Echo-Set-Header
asks for response headers; each request is logged ("echoing METHOD PATH"), which is how a
mirror's copy is seen. Python 3's standard
library only, as the other sample backends of the local cluster."""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POD = os.environ.get("POD_NAME") or socket.gethostname()
NAMESPACE = os.environ.get("POD_NAMESPACE", "")


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.title(), []).append(value)
        body = json.dumps({
            "path": self.path,
            "host": self.headers.get("Host", ""),
            "method": self.command,
            "proto": self.request_version,
            "headers": headers,
            "namespace": NAMESPACE,
            "pod": POD,
        }).encode()
        print("echoing %s %s" % (self.command, self.path), flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # The response headers a case asks the backend for ("Name:value,Name:value"), as
        # echo-basic's X-Echo-Set-Header: what a ResponseHeaderModifier then changes.
        for item in (self.headers.get("X-Echo-Set-Header") or "").split(","):
            name, sep, value = item.partition(":")
            if sep and name.strip():
                self.send_header(name.strip(), value.strip())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = answer

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("", int(os.environ.get("PORT", "3000"))), Echo).serve_forever()
