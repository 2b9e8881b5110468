"""The pieces a conformance case runs with: a backend that records exactly the bytes a router
sends it (per upstream connection, split into requests by a strict reader) and answers as the
case says, clients speaking raw HTTP/1.1 or HTTP/2 frames, and the routers under test (the
waypoint; HAProxy and nginx for tools/l7-diff.sh).

Nothing here measures time: waits have generous deadlines that only bound a broken router.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import sys
import time

import h1wire

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tools"))
from freeports import free_ports  # noqa: E402

# Longest any single wait goes on (a router that never answers fails the case, not the run).
DEADLINE = 15.0


def free_port():
    return free_ports(1)[0]


# ---------------------------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------------------------


class Answer:
    """What the backend does with a request: send @data, then @after:
    keep (read the next request), close (FIN), reset (RST), hold (answer nothing more, keep
    reading to see the router's close), tunnel (echo what follows, as after a 101)."""

    def __init__(self, data=b"", after="keep"):
        self.data = data
        self.after = after


def ok(req, body=None, extra=b""):
    """The default answer: 200 naming the request, Content-Length framed."""
    if body is None:
        body = f"{req.method} {req.target} #{req.n}".encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Req: %d\r\n" % (len(body), req.n)
    return Answer(head + extra + b"\r\n" + (b"" if req.method == "HEAD" else body))


class UpConn:
    """One upstream connection as the backend saw it."""

    def __init__(self, cid):
        self.id = cid
        self.raw = b""
        self.requests = []
        self.eof = threading.Event()  # the router closed (FIN or RST) or we did
        self.closed_by = None  # "router", "router-reset", "backend"
        self.error = None  # bytes the strict reader refused


class Backend:
    """HTTP/1.1 server on 127.0.0.1, a thread per connection. @behaviour(req) -> Answer."""

    def __init__(self, behaviour=ok):
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self.conns = []
        self.requests = []  # every request, in arrival order
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.socks = []
        self.cond = threading.Condition(self.lock)
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                c = UpConn(len(self.conns))
                self.conns.append(c)
                self.socks.append(s)
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(s, c), daemon=True).start()

    def _serve(self, s, c):
        buf = b""
        mode = "http"
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                self._closed(c, "router-reset")
                return
            except OSError:
                self._closed(c, "backend")
                return
            if not data:
                self._closed(c, "router")
                try:
                    s.close()
                except OSError:
                    pass
                return
            with self.lock:
                c.raw += data
            if mode == "tunnel":
                try:
                    s.sendall(b"echo:" + data)
                except OSError:
                    pass
                continue
            if mode == "hold":
                continue
            buf += data
            while mode == "http":
                try:
                    r = h1wire.parse_request(buf)
                except h1wire.Malformed as e:
                    with self.lock:
                        c.error = str(e)
                        self.cond.notify_all()
                    mode = "hold"
                    break
                if r is None:
                    self._maybe_continue(s, buf)
                    break
                req, used = r
                self.continued = None
                buf = buf[used:]
                with self.lock:
                    req.n = len(self.requests)
                    req.conn = c.id
                    c.requests.append(req)
                    self.requests.append(req)
                    self.cond.notify_all()
                a = self.behaviour(req)
                try:
                    if a.data:
                        s.sendall(a.data)
                except OSError:
                    pass
                if a.after == "close":
                    try:
                        s.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    mode = "hold"
                elif a.after == "reset":
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                    self._closed(c, "backend")
                    return
                elif a.after in ("hold", "tunnel"):
                    mode = a.after
                    if mode == "tunnel" and buf:
                        s.sendall(b"echo:" + buf)
                        buf = b""

    continued = None

    def _maybe_continue(self, s, buf):
        """A head asking Expect: 100-continue whose body has not come: 100, once (what a
        server does, RFC 9110 §10.1.1)."""
        end = buf.find(b"\r\n\r\n")
        if end < 0 or self.continued == buf[:end]:
            return
        head = buf[:end].lower()
        if b"\r\nexpect: 100-continue" in head:
            self.continued = buf[:end]
            try:
                s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                pass

    def _closed(self, c, by):
        with self.lock:
            if c.closed_by is None:
                c.closed_by = by
            c.eof.set()
            self.cond.notify_all()

    def wait_requests(self, n, deadline=DEADLINE):
        end = time.monotonic() + deadline
        with self.lock:
            while len(self.requests) < n:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def snapshot(self):
        with self.lock:
            return list(self.conns), list(self.requests)


class H2Request:
    """A request as H2Backend saw it, with the fields the cases read from Backend's."""

    def __init__(self, fields, body):
        self.fields = fields
        self.method = fields.get(":method", "")
        self.target = fields.get(":path", "")
        self.body = body
        self.n = self.conn = self.sid = None

    def get(self, name):
        return self.fields.get(name.lower())


class H2Backend(Backend):
    """An HTTP/2 server (prior knowledge) on 127.0.0.1, a thread per connection, answering
    each request 200 with "METHOD PATH #n" unless @behaviour's Answer says, by its after:
    goaway (GOAWAY naming the last stream answered, then FIN: the request refused unprocessed,
    as a server going idle does) or close (FIN without GOAWAY: the request may have been
    taken)."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def _serve(self, s, c):
        import hpack  # python3-hpack
        dec, enc = hpack.Decoder(), hpack.Encoder()
        buf, streams, answered = b"", {}, 0
        send = s.sendall
        try:
            send(frame(4, 0, 0))  # our SETTINGS
            while True:
                data = s.recv(65536)
                if not data:
                    self._closed(c, "router")
                    return
                with self.lock:
                    c.raw += data
                buf += data
                if buf.startswith(self.PREFACE):
                    buf = buf[len(self.PREFACE):]
                while len(buf) >= 9:
                    n = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + n:
                        break
                    ftype, flags = buf[3], buf[4]
                    sid = int.from_bytes(buf[5:9], "big") & 0x7fffffff
                    pl, buf = buf[9:9 + n], buf[9 + n:]
                    if ftype == 4 and not flags & 1:
                        send(frame(4, 1, 0))
                    elif ftype == 6 and not flags & 1:
                        send(frame(6, 1, 0, pl))
                    elif ftype == 1:  # HEADERS (END_HEADERS: the waypoint sends one frame)
                        pad = pl[0] if flags & 0x8 else 0
                        block = pl[(1 if flags & 0x8 else 0) + (5 if flags & 0x20 else 0):]
                        block = block[:len(block) - pad]
                        streams[sid] = [dict((k.lower(), v) for k, v in dec.decode(block)), b""]
                    elif ftype == 0 and sid in streams:
                        pad = pl[0] if flags & 0x8 else 0
                        streams[sid][1] += pl[(1 if flags & 0x8 else 0):len(pl) - pad]
                        if n:
                            send(frame(8, 0, 0, struct.pack(">I", n)) +
                                 frame(8, 0, sid, struct.pack(">I", n)))
                    if ftype in (0, 1) and flags & 1 and sid in streams:
                        req = H2Request(*streams.pop(sid))
                        with self.lock:
                            req.n, req.conn, req.sid = len(self.requests), c.id, sid
                            c.requests.append(req)
                            self.requests.append(req)
                            self.cond.notify_all()
                        a = self.behaviour(req)
                        if a.after in ("goaway", "close"):
                            if a.after == "goaway":
                                send(frame(7, 0, 0, struct.pack(">II", answered, 0)))
                            s.shutdown(socket.SHUT_WR)
                            self._closed(c, "backend")
                            return
                        body = f"{req.method} {req.target} #{req.n}".encode()
                        send(frame(1, 4, sid, enc.encode([(":status", "200"),
                                                          ("x-req", str(req.n))])) +
                             frame(0, 1, sid, body))
                        answered = sid
        except OSError:
            self._closed(c, "router-reset")


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 clients
# ---------------------------------------------------------------------------------------------


class Client:
    """A raw connection to the router: bytes out, responses (and the close) in."""

    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=DEADLINE)
        self.buf = b""
        self.eof = False
        self.reset = False
        self.responses = []
        self.tunnel = b""  # bytes after a 101 / 2xx to CONNECT

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            self.reset = True
            return False

    def _read(self, deadline):
        if self.eof:
            return False
        self.s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.s.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        except OSError:
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def recv(self, n, head=(), timeout=DEADLINE):
        """Reads until @n more final responses (1xx are kept too); @head: indexes (among the
        @n) answering HEAD requests. Returns the new responses (interim ones included)."""
        got, finals = [], 0
        end = time.monotonic() + timeout
        while finals < n:
            try:
                r = h1wire.parse_response(self.buf, head_request=finals in head, eof=self.eof)
            except h1wire.Malformed as e:
                got.append(("malformed", str(e)))
                break
            if r is None:
                if self.eof or time.monotonic() >= end or not self._read(end):
                    if not self.eof and time.monotonic() < end:
                        continue
                    if self.eof and self.buf:
                        got.append(("truncated", self.buf[:200]))
                    break
                continue
            m, used = r
            self.buf = self.buf[used:]
            got.append(m)
            if m.status >= 200 or m.status == 101:
                finals += 1
            if m.status == 101:
                self.tunnel = self.buf
                self.buf = b""
                break
        self.responses += got
        return got

    def read_tunnel(self, n, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while len(self.tunnel) + len(self.buf) < n and time.monotonic() < end:
            if not self._read(end) and self.eof:
                break
        self.tunnel += self.buf
        self.buf = b""
        return self.tunnel

    def wait_close(self, timeout=DEADLINE):
        """'closed' (FIN), 'reset', or 'open' when the router kept it past @timeout."""
        end = time.monotonic() + timeout
        while not self.eof and time.monotonic() < end:
            self._read(end)
        if self.reset:
            return "reset"
        return "closed" if self.eof else "open"

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# HTTP/2 frames (prior knowledge), for the cases that speak it
# ---------------------------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
H2_ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
             5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL",
             9: "COMPRESSION_ERROR", 11: "ENHANCE_YOUR_CALM"}


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", sid) + payload


def _hpack_int(v, prefix_bits, first):
    limit = (1 << prefix_bits) - 1
    if v < limit:
        return bytes([first | v])
    out = [first | limit]
    v -= limit
    while v >= 128:
        out.append((v & 127) | 128)
        v >>= 7
    out.append(v)
    return bytes(out)


def hpack_literal(fields):
    """A header block of literals without indexing, no Huffman (RFC 7541 §6.2.2): any name
    and value the test wants, including ones an encoder library would refuse to produce."""
    out = b""
    for name, value in fields:
        n = name.encode() if isinstance(name, str) else name
        v = value.encode() if isinstance(value, str) else value
        out += b"\x00" + _hpack_int(len(n), 7, 0) + n + _hpack_int(len(v), 7, 0) + v
    return out


def request_block(path="/", method="GET", authority="web", extra=()):
    return hpack_literal([(":method", method), (":scheme", "http"), (":authority", authority),
                          (":path", path)] + list(extra))


class H2Client:
    """HTTP/2 with prior knowledge: frames out, events per stream in (hpack decodes)."""

    def __init__(self, port):
        import hpack  # python3-hpack: the server's blocks use Huffman and the dynamic table
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.c = Client(port)
        self.events = []  # ("headers", sid, {..}, end) ("data", sid, n, end) ("rst", sid, code)
        # ("goaway", last, code)
        self.buf = b""
        self.send(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        return self.c.send(data)

    def headers(self, sid, block, end_stream=True):
        """HEADERS, and CONTINUATION frames for a block past the default frame size."""
        first, rest = block[:16384], block[16384:]
        flags = (END_STREAM if end_stream else 0) | (0 if rest else END_HEADERS)
        out = frame(HEADERS, flags, sid, first)
        while rest:
            piece, rest = rest[:16384], rest[16384:]
            out += frame(CONTINUATION, 0 if rest else END_HEADERS, sid, piece)
        self.send(out)

    def _parse(self):
        while len(self.buf) >= 9:
            n = struct.unpack(">I", b"\0" + self.buf[:3])[0]
            if len(self.buf) < 9 + n:
                return
            ftype, flags = self.buf[3], self.buf[4]
            sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
            p = self.buf[9:9 + n]
            self.buf = self.buf[9 + n:]
            if ftype == HEADERS:
                try:
                    hdrs = dict((k.decode() if isinstance(k, bytes) else k,
                                 v.decode() if isinstance(v, bytes) else v)
                                for k, v in self.dec.decode(p))
                except Exception as e:  # noqa: BLE001 - a block we cannot read is a finding
                    hdrs = {":error": str(e)}
                self.events.append(("headers", sid, hdrs, bool(flags & END_STREAM)))
            elif ftype == DATA:
                self.events.append(("data", sid, len(p), bool(flags & END_STREAM)))
                if p:
                    self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(p))))
            elif ftype == RST_STREAM:
                self.events.append(("rst", sid, H2_ERRORS.get(struct.unpack(">I", p)[0], "?")))
            elif ftype == GOAWAY:
                last, code = struct.unpack(">II", p[:8])
                self.events.append(("goaway", last & 0x7FFFFFFF, H2_ERRORS.get(code, "?")))
            elif ftype == SETTINGS and not flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                self.send(frame(PING, ACK, 0, p))

    def wait(self, pred, timeout=DEADLINE):
        """Reads until @pred(events) holds or the connection ends; returns whether it held."""
        end = time.monotonic() + timeout
        while not pred(self.events):
            if self.c.eof or time.monotonic() >= end:
                return False
            if self.c._read(end):
                self.buf += self.c.buf
                self.c.buf = b""
                self._parse()
        return True

    def outcome(self):
        """Per stream: its :status (or RST code); then the GOAWAY, if any."""
        out, seen = [], set()
        for e in self.events:
            if e[0] == "headers" and e[1] not in seen and ":status" in e[2]:
                seen.add(e[1])
                out.append(f"{e[1]}:{e[2][':status']}")
            elif e[0] == "rst" and e[1] not in seen:
                seen.add(e[1])
                out.append(f"{e[1]}:RST {e[2]}")
            elif e[0] == "goaway":
                out.append(f"GOAWAY {e[2]}")
        return ",".join(out)


# ---------------------------------------------------------------------------------------------
# Routers: each routes Host "web" (and anything else) to the backend
# ---------------------------------------------------------------------------------------------

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))


def _wait_listen(port, proc, log):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"router exited: {open(log).read()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"router did not listen on {port}: {open(log).read()[-2000:]}")


class Router:
    name = "?"

    def __init__(self, tmp):
        self.tmp = tmp
        self.proc = None
        self.port = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None


WORLD = """apiVersion: v1
kind: Namespace
metadata: {name: conf, labels: {istio.io/use-waypoint: wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: conf}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: conf}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: BACKEND}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: conf, labels: {app: web}}
spec: {containers: [{name: c}]}
status: {podIP: 127.0.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: idle, namespace: conf}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: BACKEND}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: idle, namespace: conf}
spec:
  host: idle
  trafficPolicy: {connectionPool: {http: {idleTimeout: 1s}}}
---
# The same backend as HTTP/2 (the port's name says so): the /h2 cases, with H2Backend.
apiVersion: v1
kind: Service
metadata: {name: h2web, namespace: conf}
spec: {selector: {app: web}, ports: [{name: http2, port: 80, targetPort: BACKEND}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: conf}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /h2/}}]
    route: [{destination: {host: h2web}}]
  - match: [{method: {exact: CONNECT}, headers: {x-allow-connect: {exact: "yes"}}}]
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /idle}}]
    route: [{destination: {host: idle}}]
  - route: [{destination: {host: web}}]
---
# What the hardening cases (cases.py, "issue 38") try to walk around: a path, a host and a
# client's address the edge must refuse whatever their spelling. No other case comes near them.
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: conf}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  action: DENY
  rules:
  - to: [{operation: {paths: [/admin, /admin/*]}}]
  - to: [{operation: {hosts: [b.example.com]}}]
  - from: [{source: {remoteIpBlocks: [203.0.113.0/24, "2001:db8:bad::/48"]}}]
"""


# The mesh config (opts "mesh": its defaultConfig, a YAML flow mapping) for the cases that need
# one; the waypoint's flags cover the rest.
MESH = """---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    defaultConfig: DEFAULT_CONFIG
"""


class Waypoint(Router):
    name = "waypoint"

    def __init__(self, tmp, binary=None, ambitctl=None):
        super().__init__(tmp)
        self.binary = binary or os.path.join(REPO, "build/waypoint")
        self.ambitctl = ambitctl or os.path.join(REPO, "build/ambitctl")
        self.configs = {}

    def _config(self, be_port, mesh=None):
        """The waypoint's model of WORLD (and, when @mesh is given, the mesh config's
        defaultConfig @mesh, a YAML flow mapping)."""
        key = (be_port, mesh)
        if key not in self.configs:
            world = os.path.join(self.tmp, f"world-{be_port}-{len(self.configs)}.yaml")
            text = WORLD.replace("BACKEND", str(be_port))
            if mesh:
                text += MESH.replace("DEFAULT_CONFIG", mesh)
            with open(world, "w") as f:
                f.write(text)
            out = subprocess.run([self.ambitctl, "waypoint", "config", "-f", world, "-n", "conf",
                                  "--name", "wp"], capture_output=True, check=True)
            path = os.path.join(self.tmp, f"l7-{be_port}-{len(self.configs)}.json")
            with open(path, "wb") as f:
                f.write(out.stdout)
            self.configs[key] = path
        return self.configs[key]

    def start(self, be_port, opts):
        self.port = free_port()
        log = os.path.join(self.tmp, "waypoint.log")
        self.access = os.path.join(self.tmp, "access.log")
        flags = []
        for key, flag in (("headers_timeout", "--request-headers-timeout"),
                          ("idle_timeout", "--stream-idle-timeout"),
                          ("conn_idle_timeout", "--idle-timeout"),
                          ("trusted_hops", "--num-trusted-proxies")):
            if key in opts:
                flags += [flag, str(opts[key])]
        self.proc = subprocess.Popen(
            [self.binary, "--config", self._config(be_port, opts.get("mesh")), "--workers", "1",
             "--listen", f"127.0.0.1:{self.port}=web.conf.svc.cluster.local:80"] + flags,
            stdout=open(self.access, "w"), stderr=open(log, "w"))
        _wait_listen(self.port, self.proc, log)
        return self.port

    def access_log(self):
        try:
            return open(self.access).read()
        except OSError:
            return ""


class HAProxy(Router):
    """HAProxy and nginx (below) are configured as the waypoint behaves, so that
    tools/l7-diff.sh compares how each reads and frames HTTP rather than which features it was
    given: the same timeouts (the case's headers_timeout, idle_timeout and conn_idle_timeout;
    otherwise the waypoint's defaults, 60s, 5m and 1h, so that no peer gives up inside a wait of
    the harness where the waypoint would not), an upstream pool any client's request may ride
    (as Envoy's), and the request fields the waypoint adds (x-forwarded-for appended,
    x-forwarded-proto, a generated x-request-id). Header size limits stay at each one's
    defaults: they are part of what is compared."""

    name = "haproxy"

    def start(self, be_port, opts):
        self.port = free_port()
        headers, idle, conn_idle = (opts.get("headers_timeout", "60s"),
                                    opts.get("idle_timeout", "5m"),
                                    opts.get("conn_idle_timeout", "1h"))
        cfg = os.path.join(self.tmp, "haproxy.cfg")
        # timeout client / server: inactivity on either side of a stream, the two halves of the
        # stream idle timeout. http-reuse always: HAProxy's default (safe) gives each client's
        # first request a connection of its own, so the next client would never ride the pooled
        # connection that the bytes-after-a-response cases poison.
        with open(cfg, "w") as f:
            f.write(f"""global
  nbthread 1
defaults
  mode http
  option forwardfor
  timeout connect 5s
  timeout http-request {headers}
  timeout client {idle}
  timeout server {idle}
  timeout http-keep-alive {conn_idle}
  http-reuse always
frontend fe
  bind 127.0.0.1:{self.port}
  unique-id-format %[uuid()]
  http-request set-header x-request-id %[unique-id]
  http-request set-header x-forwarded-proto %[ssl_fc,iif(https,http)]
  default_backend be
backend be
  server s1 127.0.0.1:{be_port}
""")
        log = os.path.join(self.tmp, "haproxy.log")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=open(log, "w"),
                                     stderr=subprocess.STDOUT)
        _wait_listen(self.port, self.proc, log)
        return self.port


class Nginx(Router):
    name = "nginx"

    def start(self, be_port, opts):
        self.port = free_port()
        headers, idle, conn_idle = (opts.get("headers_timeout", "60s"),
                                    opts.get("idle_timeout", "5m"),
                                    opts.get("conn_idle_timeout", "1h"))
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d, exist_ok=True)
        cfg = os.path.join(d, "nginx.conf")
        # The stream idle timeout is four timers in nginx: the client's body (client_body),
        # writes to the client (send), and the upstream's either way (proxy_read, proxy_send).
        # proxy_request_buffering and proxy_buffering off: bytes are passed on as they come, as
        # the waypoint does, instead of a whole body spooled first (which would change what
        # reaches the backend when a body stalls or breaks). The Upgrade map is nginx's usual
        # WebSocket configuration.
        with open(cfg, "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  client_header_timeout {headers};
  client_body_timeout {idle};
  send_timeout {idle};
  keepalive_timeout {conn_idle};
  upstream be {{ server 127.0.0.1:{be_port}; keepalive 16; }}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_read_timeout {idle};
      proxy_send_timeout {idle};
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-ID $request_id;
      proxy_request_buffering off;
      proxy_buffering off;
    }}
  }}
}}
""")
        log = os.path.join(self.tmp, "nginx.log")
        self.proc = subprocess.Popen(["nginx", "-c", cfg, "-p", d], stdout=open(log, "w"),
                                     stderr=subprocess.STDOUT)
        _wait_listen(self.port, self.proc, log)
        return self.port


ROUTERS = {"waypoint": Waypoint, "haproxy": HAProxy, "nginx": Nginx}


def make_tmp():
    return tempfile.mkdtemp(prefix="ambit-l7conf.")


def rm_tmp(d):
    shutil.rmtree(d, ignore_errors=True)


# ---- RequestAuthentication (issue 38): web's JWT rule, its key and tokens in jwt_tokens.py. Cases
# without a token are not affected; the JWT cases (cases.py, last section) are waypoint-only.
import jwt_tokens  # noqa: E402

WORLD += jwt_tokens.REQUEST_AUTHN
