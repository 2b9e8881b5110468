"""The streaming subresources of the fake API server: pods/log, pods/exec, pods/portforward.

kubectl speaks them as a real API server (and the kubelet behind it) answers them:
- pods/log: a plain-text body, chunked and kept open with follow=true; tailLines, limitBytes,
  container. The local cluster's kubelets keep one log per pod (<run>/logs/NS_NAME.log, what
  `ambitctl local logs` shows), appended across restarts: previous=true and timestamps=true
  answer 400, as nothing keeps what they ask for.
- pods/exec and pods/portforward: an HTTP/1.1 upgrade to SPDY/3.1 with the
  X-Stream-Protocol-Version kubectl offers (v4.channel.k8s.io down to channel.k8s.io for exec,
  portforward.k8s.io), then one SPDY stream per channel the client opens (streamtype header).
  exec runs `ambitctl local exec` (the pod's namespaces, cgroup and user) and reports the exit
  code as a Status on the error stream (v4), so kubectl exits with the command's code.
  portforward connects to 127.0.0.1:PORT in the pod's network namespace for each request id's
  data/error stream pair.
A WebSocket upgrade (kubectl 1.30+ tries v5.channel.k8s.io, and SPDY tunnelled over WebSocket for
port-forward, first) answers 400, which kubectl takes as an upgrade failure and falls back to
SPDY on, as it does with an API server older than 1.30.

SPDY framing is draft 3 (the zlib header dictionary below is the draft's, section 2.6.10.1);
flow control windows are not enforced (nor are they by Kubernetes' own spdystream). A malformed
frame ends its connection with GOAWAY (PROTOCOL_ERROR); every connection has its own threads.
"""
import ctypes
import fcntl
import json
import os
import pty
import select
import socket
import struct
import subprocess
import termios
import threading
import time
import zlib
from urllib.parse import parse_qs, urlsplit

# ---- SPDY/3 framing ----

_WORDS = ["options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
          "accept-encoding", "accept-language", "accept-ranges", "age", "allow",
          "authorization", "cache-control", "connection", "content-base", "content-encoding",
          "content-language", "content-length", "content-location", "content-md5",
          "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
          "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
          "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate",
          "proxy-authorization", "range", "referer", "retry-after", "server", "te", "trailer",
          "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
          "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
          "public", "set-cookie", "keep-alive", "origin"]
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502"
         "504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
         "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
         "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
         "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
         "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8"
         "charset=iso-8859-1,utf-,*,enq=0.")
# The draft writes it as bytes: each word after its 32-bit length, then the tail as it stands.
SPDY_DICT = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = \
    1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6
MAX_HEADER_BLOCK = 1 << 18  # decompressed; kubectl's are a few dozen bytes


class SpdyError(Exception):
    """A frame this side cannot accept: the session ends with GOAWAY(PROTOCOL_ERROR)."""


def control_frame(ftype, flags, payload):
    return struct.pack(">HHI", 0x8000 | 3, ftype, (flags << 24) | len(payload)) + payload


def data_frame(sid, flags, payload):
    return struct.pack(">II", sid & 0x7fffffff, (flags << 24) | len(payload)) + payload


def encode_headers(pairs):
    out = [struct.pack(">I", len(pairs))]
    for k, v in pairs:
        k, v = k.encode(), v.encode()
        out.append(struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def decode_headers(block):
    """A header block's name/value pairs as a dict of lists (a value may hold NUL-separated
    values); raises SpdyError on a malformed block."""
    def take(pos):
        if pos + 4 > len(block):
            raise SpdyError("truncated header block")
        n = struct.unpack_from(">I", block, pos)[0]
        if pos + 4 + n > len(block):
            raise SpdyError("truncated header block")
        return block[pos + 4:pos + 4 + n], pos + 4 + n
    if len(block) < 4:
        raise SpdyError("truncated header block")
    count, pos, out = struct.unpack_from(">I", block)[0], 4, {}
    if count > len(block) // 8:
        raise SpdyError("header count beyond the block")
    for _ in range(count):
        k, pos = take(pos)
        v, pos = take(pos)
        if not k:
            raise SpdyError("empty header name")
        out.setdefault(k.decode("latin-1").lower(), []).extend(
            x.decode("latin-1") for x in v.split(b"\0"))
    if pos != len(block):
        raise SpdyError("trailing bytes in header block")
    return out


class Stream:
    """One SPDY stream the client opened: its headers, what it sent, and writing back."""

    def __init__(self, conn, sid, headers, fin):
        self.conn, self.id, self.headers = conn, sid, headers
        self.cond = threading.Condition()
        self.buf, self.remote_fin, self.reset, self.local_fin = [], fin, False, False

    def header(self, name):
        return (self.headers.get(name) or [""])[0]

    def _push(self, data, fin):
        with self.cond:
            if data:
                self.buf.append(data)
            self.remote_fin |= fin
            self.cond.notify_all()

    def _reset(self):
        with self.cond:
            self.reset = self.remote_fin = self.local_fin = True
            self.cond.notify_all()

    def read(self, timeout=None):
        """The next bytes the client sent; b"" once it finished or reset the stream."""
        with self.cond:
            self.cond.wait_for(lambda: self.buf or self.remote_fin, timeout)
            return self.buf.pop(0) if self.buf else b""

    def write(self, data):
        for i in range(0, len(data), 32768):
            if self.local_fin:
                return False
            self.conn.send(data_frame(self.id, 0, data[i:i + 32768]))
        return not self.local_fin

    def close(self):
        """Half-closes this side (a DATA frame with FIN)."""
        with self.cond:
            if self.local_fin:
                return
            self.local_fin = True
        self.conn.send(data_frame(self.id, FLAG_FIN, b""))


class SpdyConn:
    """A server's SPDY/3 session over a byte stream: `on_stream(stream)` runs (on the reader
    thread, so briefly) for each stream the client opens, then the SYN_REPLY goes out (a
    ValueError refuses the stream: RST_STREAM)."""

    def __init__(self, recv_exact, sendall, on_stream):
        self.recv_exact, self.sendall, self.on_stream = recv_exact, sendall, on_stream
        self.wlock = threading.Lock()
        self.inflate = zlib.decompressobj(zdict=SPDY_DICT)
        self.deflate = zlib.compressobj(zdict=SPDY_DICT)
        self.streams, self.last_id, self.closed = {}, 0, False
        self.error = None  # why the session ended, when it was not the client's close

    def send(self, frame):
        with self.wlock:
            if self.closed:
                return
            try:
                self.sendall(frame)
            except OSError:
                self.closed = True

    def header_block(self, pairs):
        with self.wlock:
            return self.deflate.compress(encode_headers(pairs)) + \
                self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def reply(self, sid, pairs=(), fin=False):
        block = self.header_block(list(pairs))
        self.send(control_frame(SYN_REPLY, FLAG_FIN if fin else 0,
                                struct.pack(">I", sid) + block))

    def rst(self, sid, code):
        self.send(control_frame(RST_STREAM, 0, struct.pack(">II", sid, code)))

    def goaway(self, code=0):
        self.send(control_frame(GOAWAY, 0, struct.pack(">II", self.last_id, code)))

    def _headers(self, raw):
        try:
            block = self.inflate.decompress(raw, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise SpdyError(f"header block: {e}")
        if self.inflate.unconsumed_tail:
            raise SpdyError("header block too large")
        return decode_headers(block)

    def run(self):
        """Reads frames until the client goes or breaks the protocol; then resets every stream
        still open so their workers end."""
        try:
            while True:
                head = self.recv_exact(8)
                if head is None:
                    break
                self._frame(head)
        except SpdyError as e:
            self.error = str(e)
            self.goaway(PROTOCOL_ERROR)
        except (OSError, EOFError, ValueError) as e:
            self.error = self.error or f"connection: {e}"
        finally:
            with self.wlock:
                self.closed = True
            for s in list(self.streams.values()):
                s._reset()

    def _frame(self, head):
        w0, w1 = struct.unpack(">II", head)
        flags, length = w1 >> 24, w1 & 0xffffff
        payload = self.recv_exact(length) if length else b""
        if payload is None:
            raise EOFError("truncated frame")
        if not w0 & 0x80000000:
            s = self.streams.get(w0)
            if s is None or s.remote_fin:
                return self.rst(w0, INVALID_STREAM if s is None else 9)  # STREAM_ALREADY_CLOSED
            return s._push(payload, bool(flags & FLAG_FIN))
        version, ftype = (w0 >> 16) & 0x7fff, w0 & 0xffff
        if version != 3:
            raise SpdyError(f"SPDY version {version}, not 3")
        if ftype == SYN_STREAM:
            if length < 10:
                raise SpdyError("short SYN_STREAM")
            sid = struct.unpack_from(">I", payload)[0] & 0x7fffffff
            headers = self._headers(payload[10:])
            if sid % 2 == 0 or sid <= self.last_id:
                raise SpdyError(f"SYN_STREAM stream id {sid} after {self.last_id}")
            self.last_id = sid
            s = Stream(self, sid, headers, bool(flags & FLAG_FIN))
            self.streams[sid] = s
            try:
                self.on_stream(s)
            except ValueError:
                self.rst(sid, REFUSED_STREAM)
                return s._reset()
            self.reply(sid)
        elif ftype in (SYN_REPLY, HEADERS):
            if length < 4:
                raise SpdyError("short frame")
            self._headers(payload[4:])  # keeps the shared zlib context in step
        elif ftype == RST_STREAM:
            if length != 8:
                raise SpdyError("RST_STREAM of the wrong length")
            s = self.streams.get(struct.unpack_from(">I", payload)[0] & 0x7fffffff)
            if s:
                s._reset()
        elif ftype == SETTINGS:
            if length < 4 or length != 4 + 8 * struct.unpack_from(">I", payload)[0]:
                raise SpdyError("SETTINGS of the wrong length")
        elif ftype == PING:
            if length != 4:
                raise SpdyError("PING of the wrong length")
            if struct.unpack(">I", payload)[0] % 2:  # the client's own: echoed
                self.send(control_frame(PING, 0, payload))
        elif ftype == GOAWAY:
            if length != 8:
                raise SpdyError("GOAWAY of the wrong length")
            raise EOFError("client sent GOAWAY")
        elif ftype == WINDOW_UPDATE:
            if length != 8:
                raise SpdyError("WINDOW_UPDATE of the wrong length")
        # Other control frame types are ignored, as the draft says.


# ---- the server side of kubectl's streaming requests ----

EXEC_PROTOCOLS = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
                  "channel.k8s.io"]
PF_PROTOCOLS = ["portforward.k8s.io"]
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def add_args(ap):
    ap.add_argument("--cluster", help="the local cluster this server is for (pods/log, "
                    "pods/exec, pods/portforward read its run dir)")
    ap.add_argument("--run-dir", help="the cluster's run dir (default /run/ambit/CLUSTER)")
    ap.add_argument("--ambitctl", default="ambitctl", help="the ambitctl pods/exec runs")


def configure(srv, args):
    srv.streams = {"cluster": args.cluster, "ambitctl": args.ambitctl,
                   "run": args.run_dir or (f"/run/ambit/{args.cluster}" if args.cluster
                                           else None)}


def serve(h, pod, sub, api_error):
    """Answers GET|POST .../namespaces/NS/pods/NAME/{log,exec,portforward} on handler `h`."""
    cfg, md = h.server.streams, pod["metadata"]
    if sub == "log" and h.command != "GET" or sub != "log" and h.command not in ("GET", "POST"):
        raise api_error(405, "MethodNotAllowed", "the server does not allow this method on the "
                        "requested resource")
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    container = h.query.get("container", "")
    if container and container not in names:
        raise api_error(400, "BadRequest", f'container {container} is not valid for pod '
                        f'{md["name"]}')
    if not container and len(names) > 1 and sub == "log":
        raise api_error(400, "BadRequest", f'a container name must be specified for pod '
                        f'{md["name"]}, choose one of: [{" ".join(names)}]')
    container = container or (names[0] if names else md["name"])
    if not cfg["run"]:
        raise api_error(400, "BadRequest", f"pods/{sub} needs the server's --cluster (no pods "
                        "run behind this API server)")
    base = f'{md["namespace"]}_{md["name"]}'
    if sub == "log":
        return serve_log(h, pod, container, os.path.join(cfg["run"], "logs", base + ".log"),
                         api_error)
    if sub == "exec":
        cmd = parse_qs(urlsplit(h.path).query).get("command", [])
        if not cmd:
            raise api_error(400, "BadRequest", "you must specify at least one command for the "
                            "container")
        if not any(h.query.get(k, "") in ("1", "true") for k in ("stdin", "stdout", "stderr")):
            raise api_error(400, "BadRequest", "you must specify at least 1 of stdin, stdout, "
                            "stderr")
    protocols = EXEC_PROTOCOLS if sub == "exec" else PF_PROTOCOLS
    proto = upgrade(h, protocols, api_error)
    conn = SpdyConn(lambda n: read_exact(h.rfile, n), h.wfile.write, lambda s: None)
    h.close_connection = True
    if sub == "exec":
        return Exec(h, conn, cfg, md, cmd, proto).run()
    return PortForward(h, conn, os.path.join(cfg["run"], "pods", base + ".pid"), md).run()


def read_exact(f, n):
    data = f.read(n)
    if not data:
        return None
    if len(data) < n:
        raise EOFError("connection closed mid-frame")
    return data


def upgrade(h, protocols, api_error):
    """The HTTP/1.1 upgrade to SPDY/3.1, with the first stream protocol the client offers that
    this side speaks; the 101 is sent."""
    up = h.headers.get("Upgrade", "").lower()
    if up == "websocket":
        raise api_error(400, "BadRequest", "WebSocket streaming is not served by this API "
                        "server: use SPDY/3.1")
    if "spdy/3.1" not in up:
        raise api_error(400, "BadRequest", "Upgrade request required")
    offered = [p.strip() for v in h.headers.get_all("X-Stream-Protocol-Version") or []
               for p in v.split(",") if p.strip()]
    chosen = next((p for p in offered if p in protocols), None)
    if chosen is None:
        raise api_error(403, "Forbidden", f"unable to upgrade: unable to negotiate protocol: "
                        f"client supports {offered}, server accepts {protocols}")
    h.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                   f"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {chosen}\r\n"
                   "\r\n").encode())
    return chosen


def client_gone(sock):
    """True once the client closed its end of a request that sends nothing more."""
    try:
        if not select.select([sock], [], [], 0)[0]:
            return False
        return not sock.recv(1)
    except (OSError, ValueError):
        return True


# -- pods/log --

def serve_log(h, pod, container, path, api_error):
    q = h.query
    if q.get("previous", "") in ("1", "true"):
        raise api_error(400, "BadRequest", f'previous terminated container "{container}" in pod '
                        f'"{pod["metadata"]["name"]}" not found (the local cluster keeps one '
                        "log per pod, across its restarts)")
    if q.get("timestamps", "") in ("1", "true"):
        raise api_error(400, "BadRequest", "timestamps are not kept in this cluster's pod logs")
    try:
        tail = int(q["tailLines"]) if q.get("tailLines") else None
        limit = int(q["limitBytes"]) if q.get("limitBytes") else None
    except ValueError:
        raise api_error(400, "BadRequest", "tailLines and limitBytes must be integers")
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise api_error(400, "BadRequest", f'container "{container}" in pod '
                        f'"{pod["metadata"]["name"]}" is waiting to start: ContainerCreating')
    with fh:
        data = fh.read()
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail > 0 else b""
        if limit is not None:
            data = data[:limit]
        follow = q.get("follow", "") in ("1", "true") and (limit is None or len(data) < limit)
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Cache-Control", "no-cache, private")
        if not follow:
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.close_connection = True
        sent = len(data)
        uid = pod["metadata"].get("uid")
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        try:
            while True:
                if data:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                if limit is not None and sent >= limit:
                    break
                # Ends with its pod (deleted, or replaced under the same name) or its client.
                if client_gone(h.connection) or not pod_is(h.server.store, key, uid):
                    break
                time.sleep(0.2)
                if os.fstat(fh.fileno()).st_size < fh.tell():
                    fh.seek(0)  # truncated: from the start, as tail -F does
                data = fh.read(1 << 16)
                if limit is not None:
                    data = data[:limit - sent]
                sent += len(data)
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass


def pod_is(store, key, uid):
    with store.lock:
        obj = store.objects.get(("", "pods", key[0], key[1]))
        return obj is not None and obj["metadata"].get("uid") == uid


# -- pods/exec --

def exit_status(code):
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


class Exec:
    def __init__(self, h, conn, cfg, md, cmd, proto):
        self.h, self.conn, self.cfg, self.md, self.cmd, self.proto = h, conn, cfg, md, cmd, proto
        q = h.query
        self.tty = q.get("tty", "") in ("1", "true")
        want = {"error"} | {k for k in ("stdin", "stdout", "stderr")
                            if q.get(k, "") in ("1", "true")}
        if self.tty:
            want.discard("stderr")
            if proto in ("v3.channel.k8s.io", "v4.channel.k8s.io"):
                want.add("resize")
        self.want, self.streams = want, {}
        self.cond = threading.Condition()
        conn.on_stream = self.on_stream

    def on_stream(self, s):
        kind = s.header("streamtype")
        with self.cond:
            if kind not in ("error", "stdin", "stdout", "stderr", "resize") or \
                    kind in self.streams:
                raise ValueError(kind)
            self.streams[kind] = s
            self.cond.notify_all()

    def read_frames(self):
        self.conn.run()
        with self.cond:
            self.cond.notify_all()

    def run(self):
        reader = threading.Thread(target=self.read_frames, daemon=True)
        reader.start()
        with self.cond:
            # As the kubelet: every stream the request asked for, within its timeout.
            got = self.cond.wait_for(lambda: self.want <= set(self.streams) or
                                     self.conn.closed, 30)
        if not got or self.conn.closed:
            self.conn.goaway(INTERNAL_ERROR)
            return
        err = self.streams["error"]
        try:
            code, why = self.execute(), None
        except OSError as e:
            code, why = None, f"error executing command {self.cmd}: {e}"
        if self.proto == "v4.channel.k8s.io":
            st = exit_status(code) if why is None else \
                {"metadata": {}, "status": "Failure", "message": why, "reason": "InternalError"}
            err.write(json.dumps(st).encode())
        elif why or code:
            err.write((why or f"command terminated with non-zero exit code: exit status "
                       f"{code}").encode())
        for s in self.streams.values():
            s.close()
        self.conn.goaway(0)
        reader.join(10)  # the client closes the connection once it read the error stream

    def execute(self):
        argv = [self.cfg["ambitctl"], "local", "exec", "--cluster", self.cfg["cluster"],
                f'{self.md["namespace"]}/{self.md["name"]}', "--", *self.cmd]
        stdin, out, errs = (self.streams.get(k) for k in ("stdin", "stdout", "stderr"))
        pumps = []
        if self.tty:
            master, slave = pty.openpty()
            # In a session of its own without a controlling terminal: `local exec` gives the
            # command in the pod this one, as its session's.
            proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                    start_new_session=True)
            os.close(slave)
            pumps.append(self.pump(lambda: pty_read(master), out))
            if "resize" in self.streams:
                threading.Thread(target=self.resizes, args=(master,), daemon=True).start()
            to_proc, close_in = (lambda d: os.write(master, d)), (lambda: None)
        else:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE if out else subprocess.DEVNULL,
                                    stderr=subprocess.PIPE if errs else subprocess.DEVNULL)
            master = None
            if out:
                pumps.append(self.pump(lambda: os.read(proc.stdout.fileno(), 65536), out))
            if errs:
                pumps.append(self.pump(lambda: os.read(proc.stderr.fileno(), 65536), errs))
            to_proc = (lambda d: proc.stdin.write(d) and proc.stdin.flush()) if stdin else None
            close_in = (lambda: proc.stdin.close()) if stdin else None
        if stdin:
            threading.Thread(target=self.feed, args=(stdin, to_proc, close_in, proc),
                             daemon=True).start()
        # A reset session (the client gone) ends the command, as the kubelet's does: SIGTERM,
        # which `local exec` passes on to the command in the pod, then SIGKILL.
        gone = None
        while proc.poll() is None:
            if self.conn.closed and gone is None:
                gone = time.monotonic()
                proc.terminate()
            elif gone is not None and time.monotonic() - gone > 5:
                proc.kill()
            time.sleep(0.1)
        for p in pumps:
            p.join()
        if master is not None:
            os.close(master)
        return proc.returncode

    def pump(self, read, stream):
        def run():
            while True:
                try:
                    data = read()
                except OSError:
                    data = b""
                if not data or not stream.write(data):
                    return
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    @staticmethod
    def feed(stream, write, close, proc):
        try:
            while True:
                data = stream.read()
                if not data:
                    break
                write(data)
            close()
        except (OSError, ValueError):
            pass

    def resizes(self, master):
        buf = b""
        dec = json.JSONDecoder()
        while True:
            data = self.streams["resize"].read()
            if not data:
                return
            buf += data
            text = buf.decode(errors="replace").lstrip()
            while text:
                try:
                    size, end = dec.raw_decode(text)
                except ValueError:
                    break
                text = text[end:].lstrip()
                try:
                    fcntl.ioctl(master, termios.TIOCSWINSZ,
                                struct.pack("HHHH", int(size.get("Height", 0)),
                                            int(size.get("Width", 0)), 0, 0))
                except (OSError, AttributeError, ValueError, TypeError):
                    pass
            buf = text.encode()


def pty_read(fd):
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO once the last slave closed
        return b""


# -- pods/portforward --

def connect_in_netns(pid, port):
    """A TCP connection to localhost:PORT in the network namespace of process `pid`: made on a
    thread of its own, which enters that namespace (setns is per thread)."""
    out = {}

    def run():
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        except OSError as e:
            out["err"] = e
            return
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            last = None
            for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                s = socket.socket(fam, socket.SOCK_STREAM)
                s.settimeout(10)
                try:
                    s.connect((addr, port))
                    s.settimeout(None)
                    out["sock"] = s
                    break
                except OSError as e:
                    s.close()
                    last = e
            else:
                out["err"] = last
        except OSError as e:
            out["err"] = e
        finally:
            _libc.setns(own, CLONE_NEWNET)
            os.close(fd)
            os.close(own)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join()
    if "sock" in out:
        return out["sock"]
    raise out.get("err") or OSError("connect failed")


class PortForward:
    def __init__(self, h, conn, pidfile, md):
        self.h, self.conn, self.pidfile, self.md = h, conn, pidfile, md
        self.pairs = {}  # requestid -> {"error": stream, "data": stream}
        self.socks = set()  # the pod connections open, shut when the session ends
        self.lock = threading.Lock()
        conn.on_stream = self.on_stream

    def on_stream(self, s):
        kind, port = s.header("streamtype"), s.header("port")
        # kubectl before 1.4 sent no requestid: the data stream follows its error stream.
        rid = s.header("requestid") or str(s.id if kind == "error" else s.id - 2)
        if kind not in ("error", "data") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(kind)
        with self.lock:
            pair = self.pairs.setdefault(rid, {})
            if kind in pair:
                raise ValueError(kind)
            pair[kind] = s
            if len(pair) < 2:
                return
            del self.pairs[rid]
        threading.Thread(target=self.forward, args=(pair, int(port)), daemon=True).start()

    def run(self):
        self.conn.run()
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def forward(self, pair, port):
        data, err = pair["data"], pair["error"]
        try:
            with open(self.pidfile) as fh:
                pid = int(fh.read().split()[0])
            sock = connect_in_netns(pid, port)
        except (OSError, ValueError, IndexError) as e:
            err.write(f'error forwarding port {port} to pod {self.md["namespace"]}/'
                      f'{self.md["name"]}, uid {self.md.get("uid", "")}: failed to connect to '
                      f"localhost:{port} inside the pod's network namespace: "
                      f"{getattr(e, 'strerror', None) or e}".encode())
            data.close()
            err.close()
            return
        with self.lock:
            self.socks.add(sock)

        def upstream():
            while True:
                chunk = data.read()
                if not chunk:
                    break
                try:
                    sock.sendall(chunk)
                except OSError:
                    break
            try:  # a reset stream ends both ways; a finished one only this way
                sock.shutdown(socket.SHUT_RDWR if data.reset else socket.SHUT_WR)
            except OSError:
                pass
        threading.Thread(target=upstream, daemon=True).start()
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk or not data.write(chunk):
                    break
        except OSError:
            pass
        with self.lock:
            self.socks.discard(sock)
        sock.close()
        data.close()
        err.close()
