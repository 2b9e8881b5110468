#!/usr/bin/python3
# Test server pod for the keep-alive race (issue 41 §2): two HTTP/1.1 keep-alive listeners.
#   PORT       closes a connection idle for exactly IDLE seconds (nginx's keepalive_timeout),
#   PORT + 1   reads a connection's second request and closes without a byte of answer (the race
#              made deterministic: the request met a connection its server had given up).
# Every answer is 200 "pod=NS/NAME conn=N req=M". It counts what it did in its log (stderr).
#   keepalive-close.py PORT IDLE
import os
import socket
import sys
import threading

PORT, IDLE = int(sys.argv[1]), float(sys.argv[2])
POD = "%s/%s" % (os.environ.get("POD_NAMESPACE", "?"), os.environ.get("POD_NAME", "?"))
lock = threading.Lock()
n_conns = [0]


def serve(s, close_second):
    with lock:
        n_conns[0] += 1
        cid = n_conns[0]
    buf, served = b"", 0
    if not close_second:
        s.settimeout(IDLE)
    while True:
        try:
            data = s.recv(65536)
        except socket.timeout:
            print(f"conn {cid}: closed idle after {served} requests", file=sys.stderr, flush=True)
            break
        except OSError:
            break
        if not data:
            break
        buf += data
        while b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            served += 1
            if close_second and served == 2:
                print(f"conn {cid}: closed under request 2", file=sys.stderr, flush=True)
                s.close()
                return
            body = f"{POD} conn={cid} req={served}\n".encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
    s.close()


def listen(port, close_second):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(64)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve, args=(s, close_second), daemon=True).start()


threading.Thread(target=listen, args=(PORT + 1, True), daemon=True).start()
listen(PORT, False)
