#!/usr/bin/env python3
"""t_9c's server pod: HTTP on 8080 answering who it is and the path, and a log line (stdout,
the pod's log) at start and for each request it serves."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POD = f"{os.environ.get('POD_NAMESPACE', '?')}/{os.environ.get('POD_NAME', '?')}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"pod={POD} path={self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print(f"served {self.path}", flush=True)

    def log_message(self, fmt, *args):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 8080), Handler)
print(f"ks-server {POD} up", flush=True)
srv.serve_forever()
