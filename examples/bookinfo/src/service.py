"""What the four bookinfo services share: the HTTP server, the access log, the upstream client and
the headers every hop must pass on.

Python 3 standard library only. Every service writes nothing but its log lines to stdout (pods may
run with a read-only tree and a private /tmp), so importers set sys.dont_write_bytecode first.
"""

import http.client
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

# The headers the Istio sample's services copy from the request they serve onto every request they
# make: the sidecar or waypoint proxies start and continue traces and log request ids, but only the
# application knows which outbound call belongs to which inbound one. end-user carries the
# logged-in user to reviews and ratings (the request-routing and fault-injection tasks match it).
PROPAGATED = (
    "x-request-id",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "sw8",
    "end-user",
    "user-agent",
    "cookie",
    "authorization",
    "jwt",
)

# A request body larger than this is refused (413): only the login form and a ratings POST have one.
MAX_BODY = 64 * 1024

# No proxy from the environment: the services call each other by Service name, as in a pod.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_log_lock = threading.Lock()


def log(text):
    """Writes TEXT as one line of the service's log (stdout), whole even when threads race."""
    line = "%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), text)
    with _log_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def env(name, default):
    """The environment variable NAME, or DEFAULT when it is unset or empty."""
    return os.environ.get(name) or default


def upstream(service):
    """Base URL of SERVICE ("details", "reviews", "ratings") as the sample builds it:
    http://<SERVICE_HOSTNAME>[.<SERVICES_DOMAIN>]:<SERVICE_SERVICE_PORT>."""
    key = service.upper()
    domain = env("SERVICES_DOMAIN", "")
    host = env(key + "_HOSTNAME", service) + ("." + domain if domain else "")
    return "http://%s:%s" % (host, env(key + "_SERVICE_PORT", "9080"))


def product_id(text):
    """TEXT as a product id (an int), or None unless it is 1 to 9 ASCII digits."""
    if 0 < len(text) < 10 and text.isascii() and text.isdigit():
        return int(text)
    return None


def forwarded(headers, skip=()):
    """The PROPAGATED headers present in HEADERS (a request's), minus those named in SKIP."""
    out = {}
    for name in PROPAGATED:
        value = headers.get(name)
        if value is not None and name not in skip:
            out[name] = value
    return out


def get_json(url, headers, timeout):
    """GETs URL once with HEADERS. Returns (status, parsed body): status 0 when no HTTP answer came
    (refused, reset, or no byte for TIMEOUT seconds on connect or on any read, as the sample's
    `requests` timeouts), body None when it is not JSON."""
    req = urllib.request.Request(url, headers=headers)
    try:
        with _opener.open(req, timeout=timeout) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, b""
        try:
            raw = e.read()
        except OSError:
            pass
        e.close()
    except (OSError, ValueError, http.client.HTTPException) as e:
        # URLError and socket timeouts are OSErrors; ValueError is a header http.client refuses.
        log("upstream %s: %s" % (url, e))
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


class Handler(http.server.BaseHTTPRequestHandler):
    """Base of each service's handler: HTTP/1.1 with Content-Length on every answer (proxies keep
    the connection), one access-log line per request on stdout."""

    protocol_version = "HTTP/1.1"
    server_version = "bookinfo"
    # An answer's headers and body leave in one write (the buffer is flushed once the request is
    # handled), as web servers send them: headers written alone, then the body, wait with Nagle's
    # algorithm for the peer's ACK of the headers, which a peer on a kept-alive connection (a
    # waypoint's pooled one) delays by up to 40 ms.
    wbufsize = -1
    # An idle keep-alive connection holds a thread: drop it after a minute.
    timeout = 60
    service = "bookinfo"

    def parse_request(self):
        self.started = time.monotonic()
        return super().parse_request()

    def path_only(self):
        return self.path.split("?", 1)[0]

    def body(self):
        """The request body (bytes), or None after answering 400/413 when it is unusable."""
        try:
            n = int(self.headers.get("content-length") or 0)
        except ValueError:
            n = -1
        # The unread body would be taken for the next request: close the connection instead.
        if n < 0:
            self.close_connection = True
            self.send_json(400, {"error": "bad Content-Length"})
            return None
        if n > MAX_BODY:
            self.close_connection = True
            self.send_json(413, {"error": "request body over %d bytes" % MAX_BODY})
            return None
        return self.rfile.read(n)

    def send(self, status, payload, ctype, extra=()):
        """Answers STATUS with PAYLOAD (str or bytes) of type CTYPE and the (name, value) pairs of
        EXTRA."""
        data = payload.encode() if isinstance(payload, str) else payload
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, obj):
        self.send(status, json.dumps(obj), "application/json")

    def not_found(self):
        self.send_json(404, {"error": "%s has no %s %s" % (self.service, self.command,
                                                          self.path_only())})

    def log_request(self, code="-", size="-"):
        h = self.headers
        ms = (time.monotonic() - getattr(self, "started", time.monotonic())) * 1000
        log("%s %s %s %s %dms end-user=%s x-request-id=%s" % (
            self.address_string(), self.command, self.path, code, ms,
            h.get("end-user", "-") if h else "-", h.get("x-request-id", "-") if h else "-"))

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))


def serve(handler, argv):
    """Runs HANDLER's service on port argv[1] (default 9080; 0 picks a free one) of BIND_ADDRESS
    (default all IPv4 addresses) until killed. The first line it prints names the bound port."""
    port = 9080
    if len(argv) > 1:
        try:
            port = int(argv[1])
        except ValueError:
            sys.exit("usage: %s [PORT]: '%s' is not a port number" % (argv[0], argv[1]))
    addr = env("BIND_ADDRESS", "0.0.0.0")
    try:
        srv = http.server.ThreadingHTTPServer((addr, port), handler)
    except (OSError, OverflowError) as e:
        sys.exit("%s: cannot listen on %s:%s: %s" % (handler.service, addr, port, e))
    srv.daemon_threads = True
    host, bound = srv.server_address[:2]
    print("%s listening on %s:%d" % (handler.service, host, bound), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


def pod_name():
    """This pod's name as the sample reports it (Kubernetes sets HOSTNAME; ambit sets POD_NAME)."""
    return env("POD_NAME", env("HOSTNAME", socket.gethostname()))
