#!/usr/bin/python3
# Test server pod: answers every request with the addresses its client is known by: the
# connection's peer and the fields a proxy in front of it set (x-forwarded-for,
# x-envoy-external-address), one "name=value" each on a line:
#   pod=NS/NAME from=IP xff=... external=...
#   client-addr.py PORT
# It listens on both families where the pod has IPv6 (an IPv6-only cluster's pods have no IPv4),
# and names an IPv4 client by its IPv4 address, not the IPv4-mapped IPv6 form.
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        body = ("pod=%s/%s from=%s xff=%s external=%s\n" % (
            os.environ.get("POD_NAMESPACE", "?"), os.environ.get("POD_NAME", "?"),
            peer(self.client_address[0]), self.headers.get("x-forwarded-for", ""),
            self.headers.get("x-envoy-external-address", ""))).encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


def peer(addr):
    return addr[7:] if addr.startswith("::ffff:") else addr


class DualServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


try:
    server = DualServer(("::", int(sys.argv[1])), Echo)
except OSError:  # no IPv6 in this netns
    server = ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Echo)
server.serve_forever()
