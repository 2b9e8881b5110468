#!/usr/bin/python3
# The backend of t_89 (standard library only): GET /NAME sends the file DIR/NAME with its
# Content-Length (sendfile); PUT or POST reads the body, by Content-Length or chunked, and answers
# "<bytes> <sha256>", so a test can check a body passed byte-exact without holding it anywhere.
#   bigbody_backend.py PORT DIR
import hashlib
import http.server
import os
import sys

PORT, DIR = int(sys.argv[1]), sys.argv[2]
STEP = 1 << 20


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with open(os.path.join(DIR, os.path.basename(self.path)), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            off = 0
            while off < size:
                off += os.sendfile(self.connection.fileno(), f.fileno(), off, size - off)

    def _take(self, left, h):
        while left:
            b = self.rfile.read(min(left, STEP))
            if not b:
                raise ConnectionError("body cut short")
            h.update(b)
            left -= len(b)

    def do_PUT(self):
        h, n = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if not size:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                self._take(size, h)
                n += size
                self.rfile.readline()
        else:
            n = int(self.headers.get("Content-Length", "0"))
            self._take(n, h)
        body = ("%d %s\n" % (n, h.hexdigest())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
