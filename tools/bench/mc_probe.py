#!/usr/bin/env python3
# The multicluster bench's two ends (tools/bench/multicluster.sh), one script:
#   server            in a server pod: an echo on 7000 (a connection's bytes sent back as they
#                     come) and, on 7001, one line read and one byte answered, then closed
#   conn HOST N       in the client pod: N new connections to HOST:7001 one after the other,
#                     each connect + a line + its answer + close; prints each one's time (us)
#   pingpong HOST N   one connection to HOST:7000, N round trips of 64 bytes; each one's time (us)
# The client's output is one JSON line: {"n": N, "us": [...]}.
import json
import socket
import socketserver
import sys
import threading
import time


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            b = self.request.recv(65536)
            if not b:
                return
            self.request.sendall(b)


class OneShot(socketserver.StreamRequestHandler):
    def handle(self):
        self.rfile.readline()
        self.wfile.write(b"k")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


def serve():
    a = Server(("0.0.0.0", 7000), Echo)
    b = Server(("0.0.0.0", 7001), OneShot)
    threading.Thread(target=a.serve_forever, daemon=True).start()
    b.serve_forever()


def conn(host, n):
    us = []
    for _ in range(n):
        t = time.perf_counter()
        s = socket.create_connection((host, 7001), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"x\n")
        if s.recv(1) != b"k":
            raise SystemExit("no answer")
        s.close()
        us.append((time.perf_counter() - t) * 1e6)
    return us


def pingpong(host, n):
    s = socket.create_connection((host, 7000), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"p" * 64
    us = []
    for i in range(n + 50):
        t = time.perf_counter()
        s.sendall(msg)
        got = 0
        while got < len(msg):
            b = s.recv(len(msg) - got)
            if not b:
                raise SystemExit("closed")
            got += len(b)
        if i >= 50:  # the first ones warm the path
            us.append((time.perf_counter() - t) * 1e6)
    s.close()
    return us


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve()
    else:
        fn = {"conn": conn, "pingpong": pingpong}[sys.argv[1]]
        out = fn(sys.argv[2], int(sys.argv[3]))
        print(json.dumps({"n": len(out), "us": [round(x, 1) for x in out]}))
