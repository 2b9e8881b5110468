#!/usr/bin/env python3
# The load client of the resilience tests (t_87), run inside a client pod:
#   resil-client.py load URL COUNT [--keepalive] [--until FILE]   COUNT GETs one after another
#       (with --until: at least COUNT, then on until FILE exists, at most 100000); prints
#       "ok=N failed=M BACKEND=N..." (X-Backend of the 200s) then one line per failure. With --keepalive they share one connection,
#       opened again only when the server closes it (after a response that said so, or idle),
#       as any HTTP/1.1 client pool does: a request on a reused connection the server had
#       already closed is sent again on a new one once (urllib3's rule for idempotent methods);
#       without it each request has its own connection.
#   resil-client.py burst URL N                    N concurrent GETs, each on its own connection;
#       prints the count per status ("200=12 503=8").
#   resil-client.py ws URL TEXT                    a websocket handshake, TEXT sent as one
#       frame, the echoed frame printed.
import base64, http.client, os, socket, sys, threading
from urllib.parse import urlsplit


def connect(u):
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)


def get(conn, u):
    conn.request("GET", (u.path or "/") + ("?" + u.query if u.query else ""))
    r = conn.getresponse()
    r.read()
    return r.status, r.getheader("connection", ""), r.getheader("x-backend", "")


def load(url, count, keepalive, until):
    u = urlsplit(url)
    ok, failures, conn, backends = 0, [], None, {}
    for i in range(100000):
        if i >= count and (not until or os.path.exists(until)):
            break
        try:
            fresh = conn is None
            if fresh:
                conn = connect(u)
            try:
                status, hdr, be = get(conn, u)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if fresh:
                    raise
                conn.close()
                conn = connect(u)
                status, hdr, be = get(conn, u)
            if status == 200:
                ok += 1
                backends[be] = backends.get(be, 0) + 1
            else:
                failures.append("%d: status %d" % (i, status))
            if not keepalive or hdr.lower() == "close":
                conn.close()
                conn = None
        except Exception as e:
            failures.append("%d: %r" % (i, e))
            if conn:
                conn.close()
            conn = None
    print("ok=%d failed=%d %s" % (ok, len(failures),
                                  " ".join("%s=%d" % kv for kv in sorted(backends.items()))))
    for f in failures:
        print(f)


def burst(url, n):
    u = urlsplit(url)
    codes, lock, go = {}, threading.Lock(), threading.Barrier(n)

    def one():
        go.wait()
        try:
            c = connect(u)
            status = get(c, u)[0]
            c.close()
        except Exception as e:
            status = type(e).__name__
        with lock:
            codes[status] = codes.get(status, 0) + 1

    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(" ".join("%s=%d" % kv for kv in sorted(codes.items(), key=str)))


def ws(url, text):
    u = urlsplit(url)
    s = socket.create_connection((u.hostname, u.port or 80), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (u.path or "/", u.hostname, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            sys.exit("closed during the handshake: %r" % head)
        head += chunk
    print(head.split(b"\r\n")[0].decode())
    data, mask = text.encode(), os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(data)]) + mask +
              bytes(c ^ mask[i % 4] for i, c in enumerate(data)))
    b0, n = s.recv(2)
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    print(body.decode())


cmd = sys.argv[1]
if cmd == "load":
    until = sys.argv[sys.argv.index("--until") + 1] if "--until" in sys.argv else None
    load(sys.argv[2], int(sys.argv[3]), "--keepalive" in sys.argv, until)
elif cmd == "burst":
    burst(sys.argv[2], int(sys.argv[3]))
elif cmd == "ws":
    ws(sys.argv[2], sys.argv[3])
else:
    sys.exit("usage: resil-client.py load|burst|ws ...")
