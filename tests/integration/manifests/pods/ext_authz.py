#!/usr/bin/python3
# The logic of Istio's sample ext-authz server (samples/extauthz), over HTTP, for the waypoint's
# CUSTOM tests (t_83_waypoint_extauthz): a check is allowed when it carries
# "x-ext-authz: allow", answered 200 with "x-ext-authz-check-result: allowed"; otherwise 403
# with "x-ext-authz-check-result: denied" and the sample's body. Every check is logged with its
# method, path and the fields it was sent.
#   ext_authz.py PORT
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Check(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def check(self):
        fields = ";".join("%s=%s" % (k.lower(), v) for k, v in self.headers.items())
        print("check %s %s %s" % (self.command, self.path, fields), flush=True)
        allowed = self.headers.get("x-ext-authz") == "allow"
        body = b"" if allowed else (
            b"denied by ext_authz for not found header `x-ext-authz: allow` in the request")
        self.send_response(200 if allowed else 403)
        self.send_header("x-ext-authz-check-result", "allowed" if allowed else "denied")
        self.send_header("x-ext-authz-additional-header-override", "from-ext-authz")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = check

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Check).serve_forever()
