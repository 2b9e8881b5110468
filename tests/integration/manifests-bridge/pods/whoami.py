#!/usr/bin/env python3
"""Test server pod: answers every GET on :8080 with who it is and who called it."""
import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = "pod=%s/%s from=%s\n" % (
            os.environ["POD_NAMESPACE"], os.environ["POD_NAME"], self.client_address[0])
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
