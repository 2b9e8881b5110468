#!/usr/bin/python3
"""Unit tests of tests/k8s/fake_streams.py: SPDY/3 framing and sessions (replies, data both
ways, PING, resets, hostile frames ending the session with GOAWAY and no hang), then pods/log,
pods/exec and pods/portforward through a fake API server of their own, with a stand-in for
`ambitctl local exec` and this process's own network namespace as the pod's. Run from
tests/integration/t_91_fake_apiserver.sh; the kubectl checks are t_9c_kubectl_streams.sh."""
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_streams as fs  # noqa: E402


class Client:
    """The client end of a SPDY/3 session, as kubectl's spdystream frames it."""

    def __init__(self, sock):
        self.sock, self.rbuf = sock, b""
        self.deflate = zlib.compressobj(zdict=fs.SPDY_DICT)
        self.inflate = zlib.decompressobj(zdict=fs.SPDY_DICT)
        self.next_id = 1

    def syn(self, headers, fin=False):
        sid, self.next_id = self.next_id, self.next_id + 2
        block = self.deflate.compress(fs.encode_headers(list(headers.items()))) + \
            self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(fs.control_frame(fs.SYN_STREAM, fs.FLAG_FIN if fin else 0,
                                           struct.pack(">IIH", sid, 0, 0) + block))
        return sid

    def data(self, sid, payload, fin=False):
        self.sock.sendall(fs.data_frame(sid, fs.FLAG_FIN if fin else 0, payload))

    def recv_exact(self, n):
        while len(self.rbuf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.rbuf += chunk
        out, self.rbuf = self.rbuf[:n], self.rbuf[n:]
        return out

    def frame(self):
        """(control type or None for DATA, stream id or first word, flags, payload), or None
        at EOF."""
        head = self.recv_exact(8)
        if head is None:
            return None
        w0, w1 = struct.unpack(">II", head)
        payload = self.recv_exact(w1 & 0xffffff) if w1 & 0xffffff else b""
        if w0 & 0x80000000:
            if w0 & 0xffff in (fs.SYN_REPLY, fs.HEADERS):
                self.inflate.decompress(payload[4:])
            first = struct.unpack_from(">I", payload)[0] if len(payload) >= 4 else None
            return w0 & 0xffff, first, w1 >> 24, payload
        return None, w0, w1 >> 24, payload

    def until(self, pred):
        while True:
            f = self.frame()
            if f is None or pred(f):
                return f

    def collect(self):
        """Every DATA payload per stream, the FINs seen and the control frames, until GOAWAY or
        EOF."""
        data, fins, ctl = {}, set(), []
        while True:
            f = self.frame()
            if f is None or f[0] == fs.GOAWAY:
                return data, fins, ctl
            if f[0] is None:
                data[f[1]] = data.get(f[1], b"") + f[3]
                if f[2] & fs.FLAG_FIN:
                    fins.add(f[1])
            else:
                ctl.append(f)


def session(on_stream=lambda s: None):
    a, b = socket.socketpair()
    a.settimeout(20)
    f = b.makefile("rb")
    conn = fs.SpdyConn(lambda n: fs.read_exact(f, n), b.sendall, on_stream)

    def run():
        conn.run()
        b.shutdown(socket.SHUT_RDWR)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return Client(a), conn, t, (a, b)


class Framing(unittest.TestCase):
    def test_dictionary(self):
        # The draft's dictionary is 1423 bytes: its words, then the status lines and dates.
        self.assertEqual(len(fs.SPDY_DICT), 1423)
        self.assertTrue(fs.SPDY_DICT.startswith(b"\0\0\0\x07options\0\0\0\x04head"))
        self.assertTrue(fs.SPDY_DICT.endswith(b"charset=iso-8859-1,utf-,*,enq=0."))

    def test_headers_roundtrip(self):
        pairs = [("streamtype", "data"), ("port", "80"), ("requestid", "0")]
        self.assertEqual(fs.decode_headers(fs.encode_headers(pairs)),
                         {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]})
        for bad in (b"", b"\0\0\0\x01", b"\0\0\0\x01\0\0\0\x05ab", b"\xff\xff\xff\xff" + b"\0" * 8,
                    fs.encode_headers(pairs) + b"x", b"\0\0\0\x01\0\0\0\0\0\0\0\0"):
            with self.assertRaises(fs.SpdyError):
                fs.decode_headers(bad)

    def test_streams_both_ways(self):
        got = []

        def on_stream(s):
            got.append(s)

            def echo():
                while True:
                    d = s.read()
                    if not d:
                        break
                    s.write(d.upper())
                s.close()
            threading.Thread(target=echo, daemon=True).start()
        cli, conn, t, socks = session(on_stream)
        sid = cli.syn({"streamtype": "stdout"})
        f = cli.frame()
        self.assertEqual((f[0], f[1]), (fs.SYN_REPLY, sid))
        self.assertEqual(got[0].header("streamtype"), "stdout")
        cli.data(sid, b"hello ")
        cli.data(sid, b"world", fin=True)
        out = b""
        while True:
            f = cli.frame()
            self.assertIsNone(f[0])
            out += f[3]
            if f[2] & fs.FLAG_FIN:
                break
        self.assertEqual(out, b"HELLO WORLD")
        # The client's PING comes back; DATA on a stream never opened is reset.
        cli.sock.sendall(fs.control_frame(fs.PING, 0, struct.pack(">I", 7)))
        self.assertEqual(cli.frame()[:2], (fs.PING, 7))
        cli.data(99, b"x")
        f = cli.frame()
        self.assertEqual((f[0], f[1], struct.unpack(">II", f[3])[1]),
                         (fs.RST_STREAM, 99, fs.INVALID_STREAM))
        # SETTINGS and WINDOW_UPDATE are taken; RST_STREAM ends a stream's reads.
        cli.sock.sendall(fs.control_frame(fs.SETTINGS, 0, struct.pack(">IIi", 1, 7, 65536)))
        sid2 = cli.syn({"streamtype": "stdin"})
        cli.sock.sendall(fs.control_frame(fs.WINDOW_UPDATE, 0, struct.pack(">II", sid2, 100)))
        self.assertEqual(cli.frame()[:2], (fs.SYN_REPLY, sid2))
        cli.sock.sendall(fs.control_frame(fs.RST_STREAM, 0, struct.pack(">II", sid2, fs.CANCEL)))
        self.assertEqual(got[1].read(5), b"")
        cli.sock.shutdown(socket.SHUT_WR)
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertIsNone(conn.error)
        for s in socks:
            s.close()

    def test_hostile_frames_end_the_session(self):
        ok_block = zlib.compressobj(zdict=fs.SPDY_DICT)
        block = ok_block.compress(fs.encode_headers([("a", "b")])) + \
            ok_block.flush(zlib.Z_SYNC_FLUSH)
        bomb = zlib.compressobj(zdict=fs.SPDY_DICT)
        big = bomb.compress(struct.pack(">I", 1) + struct.pack(">I", 1 << 20) + b"a" * (1 << 20)
                            + struct.pack(">I", 0)) + bomb.flush(zlib.Z_SYNC_FLUSH)
        cases = {
            "version 2": struct.pack(">HHI", 0x8000 | 2, fs.PING, 4) + b"\0\0\0\1",
            "short SYN_STREAM": fs.control_frame(fs.SYN_STREAM, 0, b"\0\0\0\1"),
            "garbage header block": fs.control_frame(fs.SYN_STREAM, 0, struct.pack(
                ">IIH", 1, 0, 0) + b"\x78\xbb\xde\xad\xbe\xef" * 4),
            "even stream id": fs.control_frame(fs.SYN_STREAM, 0, struct.pack(">IIH", 2, 0, 0)
                                               + block),
            "header bomb": fs.control_frame(fs.SYN_STREAM, 0, struct.pack(">IIH", 1, 0, 0)
                                            + big),
            "PING of 3 bytes": fs.control_frame(fs.PING, 0, b"\0\0\1"),
            "SETTINGS count beyond": fs.control_frame(fs.SETTINGS, 0, b"\0\0\1\0"),
            "RST_STREAM of 4": fs.control_frame(fs.RST_STREAM, 0, b"\0\0\0\1"),
        }
        for name, frame in cases.items():
            with self.subTest(name):
                cli, conn, t, socks = session()
                cli.sock.sendall(frame)
                f = cli.until(lambda f: f[0] == fs.GOAWAY)
                self.assertIsNotNone(f, "no GOAWAY")
                self.assertEqual(struct.unpack(">II", f[3])[1], fs.PROTOCOL_ERROR)
                t.join(10)
                self.assertFalse(t.is_alive(), "the session hangs")
                self.assertTrue(conn.error)
                for s in socks:
                    s.close()
        # A frame cut short by the client's close ends the session quietly.
        cli, conn, t, socks = session()
        cli.sock.sendall(fs.control_frame(fs.PING, 0, b"\0\0\0\1")[:10])
        cli.sock.shutdown(socket.SHUT_WR)
        t.join(10)
        self.assertFalse(t.is_alive())
        for s in socks:
            s.close()


FAKE_AMBITCTL = """#!/bin/sh
# `ambitctl local exec [--cluster C] NS/POD -- CMD...` as the test's pod: runs CMD here.
while [ "$1" != "--" ]; do shift; done
shift
exec "$@"
"""


class Server(unittest.TestCase):
    """pods/log, exec and portforward through fake_apiserver.py."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        run = cls.tmp.name
        os.makedirs(f"{run}/logs")
        os.makedirs(f"{run}/pods")
        actl = f"{run}/ambitctl"
        with open(actl, "w") as fh:
            fh.write(FAKE_AMBITCTL)
        os.chmod(actl, 0o755)
        with open(f"{run}/pods/ks_web.pid", "w") as fh:
            fh.write(f"{os.getpid()}\n")  # the pod's netns: this process's
        with open(f"{run}/logs/ks_web.log", "w") as fh:
            fh.write("one\ntwo\nthree\n")
        with open(f"{run}/pod.json", "w") as fh:
            json.dump({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "web", "namespace": "ks"},
                       "spec": {"containers": [{"name": "web"}]}}, fh)
        cls.log = open(f"{run}/server.log", "w")
        cls.proc = subprocess.Popen(
            [sys.executable, f"{HERE}/fake_apiserver.py", "--listen", "127.0.0.1:0",
             "--port-file", f"{run}/port", "--load", f"{run}/pod.json", "--cluster", "t",
             "--run-dir", run, "--ambitctl", actl], stdin=subprocess.DEVNULL,
            stdout=cls.log, stderr=cls.log)
        for _ in range(200):
            if os.path.exists(f"{run}/port"):
                break
            time.sleep(0.05)
        with open(f"{run}/port") as fh:
            cls.port = int(fh.read())
        cls.rundir = run

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait()
        cls.log.close()
        with open(f"{cls.rundir}/server.log") as fh:
            text = fh.read()
        cls.tmp.cleanup()
        if "fake_streams.py" in text:  # (a client's reset between requests is not ours)
            raise AssertionError(f"the server's log holds a traceback:\n{text}")

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()

    def upgrade(self, path, protocols, method="POST"):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        hdr = "".join(f"X-Stream-Protocol-Version: {p}\r\n" for p in protocols)
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                  f"Upgrade: SPDY/3.1\r\n{hdr}Content-Length: 0\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                break
            head += chunk
        return s, head.decode()

    def test_log(self):
        self.assertEqual(self.get("/api/v1/namespaces/ks/pods/web/log"),
                         (200, b"one\ntwo\nthree\n"))
        self.assertEqual(self.get("/api/v1/namespaces/ks/pods/web/log?tailLines=2&container=web"),
                         (200, b"two\nthree\n"))
        self.assertEqual(self.get("/api/v1/namespaces/ks/pods/web/log?limitBytes=5"),
                         (200, b"one\nt"))
        code, body = self.get("/api/v1/namespaces/ks/pods/web/log?previous=true")
        self.assertEqual((code, json.loads(body)["reason"]), (400, "BadRequest"))
        self.assertIn("previous terminated container", json.loads(body)["message"])
        code, body = self.get("/api/v1/namespaces/ks/pods/web/log?container=nosuch")
        self.assertEqual(code, 400)
        code, body = self.get("/api/v1/namespaces/ks/pods/nosuch/log")
        self.assertEqual((code, json.loads(body)["message"]), (404, 'pods "nosuch" not found'))

    def test_log_follow(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        s.sendall(b"GET /api/v1/namespaces/ks/pods/web/log?follow=true&tailLines=1 HTTP/1.1\r\n"
                  b"Host: x\r\n\r\n")
        buf = b""
        while b"three\n" not in buf:
            buf += s.recv(4096)
        self.assertIn(b"Transfer-Encoding: chunked", buf)
        with open(f"{self.rundir}/logs/ks_web.log", "a") as fh:
            fh.write("four\n")
        while b"four\n" not in buf:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "the follow ended")
            buf += chunk
        self.assertNotIn(b"two", buf)
        s.close()

    def exec_session(self, query, stdin=None):
        s, head = self.upgrade(f"/api/v1/namespaces/ks/pods/web/exec?{query}",
                               ["v4.channel.k8s.io", "v3.channel.k8s.io"])
        self.assertIn("101 Switching Protocols", head)
        self.assertIn("X-Stream-Protocol-Version: v4.channel.k8s.io", head)
        cli = Client(s)
        ids = {"error": cli.syn({"streamtype": "error"})}
        if stdin is not None:
            ids["stdin"] = cli.syn({"streamtype": "stdin"})
        ids["stdout"] = cli.syn({"streamtype": "stdout"})
        ids["stderr"] = cli.syn({"streamtype": "stderr"})
        if stdin is not None:
            cli.data(ids["stdin"], stdin, fin=True)
        data, fins, ctl = cli.collect()
        s.close()
        self.assertEqual(sum(1 for c in ctl if c[0] == fs.SYN_REPLY), len(ids))
        self.assertTrue({ids["error"], ids["stdout"], ids["stderr"]} <= fins)
        return {k: data.get(v, b"") for k, v in ids.items()}

    def test_exec(self):
        out = self.exec_session("command=sh&command=-c&command=echo%20out;echo%20err%20>%262"
                                "&stdout=true&stderr=true")
        self.assertEqual((out["stdout"], out["stderr"]), (b"out\n", b"err\n"))
        self.assertEqual(json.loads(out["error"]), {"metadata": {}, "status": "Success"})
        out = self.exec_session("command=sh&command=-c&command=tr%20a-z%20A-Z;exit%203"
                                "&stdin=true&stdout=true&stderr=true", stdin=b"piped\n")
        self.assertEqual(out["stdout"], b"PIPED\n")
        st = json.loads(out["error"])
        self.assertEqual((st["status"], st["reason"], st["details"]["causes"][0]),
                         ("Failure", "NonZeroExitCode", {"reason": "ExitCode", "message": "3"}))

    def test_exec_refusals(self):
        s, head = self.upgrade("/api/v1/namespaces/ks/pods/web/exec?command=true&stdout=true",
                               ["v9.channel.k8s.io"])
        self.assertTrue(head.startswith("HTTP/1.1 403"), head)
        s.close()
        s, head = self.upgrade("/api/v1/namespaces/ks/pods/web/exec?stdout=true",
                               ["v4.channel.k8s.io"])
        self.assertTrue(head.startswith("HTTP/1.1 400"), head)
        s.close()
        # A WebSocket upgrade is an upgrade failure kubectl falls back to SPDY on.
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        c.request("GET", "/api/v1/namespaces/ks/pods/web/exec?command=true&stdout=true",
                  headers={"Connection": "Upgrade", "Upgrade": "websocket",
                           "Sec-WebSocket-Protocol": "v5.channel.k8s.io"})
        self.assertEqual(c.getresponse().status, 400)

    def test_portforward(self):
        lst = socket.create_server(("127.0.0.1", 0))
        port = lst.getsockname()[1]

        def serve():
            for _ in range(2):
                c, _ = lst.accept()
                threading.Thread(target=lambda c=c: (c.sendall(b"got " + c.recv(100)),
                                                     c.close()), daemon=True).start()
        threading.Thread(target=serve, daemon=True).start()
        s, head = self.upgrade("/api/v1/namespaces/ks/pods/web/portforward",
                               ["portforward.k8s.io"])
        self.assertIn("101 Switching Protocols", head)
        cli = Client(s)
        ids = []
        for rid in ("0", "1"):  # two connections at once
            e = cli.syn({"streamtype": "error", "port": str(port), "requestid": rid})
            d = cli.syn({"streamtype": "data", "port": str(port), "requestid": rid})
            ids.append((e, d))
        for i, (e, d) in enumerate(ids):
            cli.data(d, b"conn%d" % i)
        e3 = cli.syn({"streamtype": "error", "port": "1", "requestid": "2"})
        cli.syn({"streamtype": "data", "port": "1", "requestid": "2"})
        data, fins = {}, set()
        want = {ids[0][1], ids[1][1], ids[0][0], ids[1][0], e3}
        while not want <= fins:
            f = cli.frame()
            self.assertIsNotNone(f)
            if f[0] is None:
                data[f[1]] = data.get(f[1], b"") + f[3]
                if f[2] & fs.FLAG_FIN:
                    fins.add(f[1])
        self.assertEqual(data[ids[0][1]], b"got conn0")
        self.assertEqual(data[ids[1][1]], b"got conn1")
        self.assertEqual(data.get(ids[0][0], b""), b"")  # no error
        self.assertIn(b"error forwarding port 1", data[e3])
        s.close()
        lst.close()


if __name__ == "__main__":
    unittest.main()
