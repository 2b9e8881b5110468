"""HTTP/1.1 messages as the conformance harness reads them on its own sockets: the backend's
requests (what a router forwarded) and the client's responses (what a router answered).

Deliberately small and strict where a router's output must be strict: a router forwards only
well-formed HTTP/1.1, so anything this module cannot read is itself a finding (Malformed).
"""

import re

CRLF = b"\r\n"


class Malformed(Exception):
    """Bytes a conforming HTTP/1.1 sender would not produce."""


class Message:
    """A request or a response: start line, header fields in order, body, raw bytes."""

    def __init__(self):
        self.method = self.target = self.version = None
        self.status = None
        self.reason = None
        self.fields = []  # [(name lower-cased, value)]
        self.body = b""
        self.raw = b""
        self.chunked = False
        self.trailers = []

    def get(self, name):
        name = name.lower()
        for n, v in self.fields:
            if n == name:
                return v
        return None

    def all(self, name):
        name = name.lower()
        return [v for n, v in self.fields if n == name]

    def has(self, name):
        return self.get(name) is not None

    def __repr__(self):
        if self.method:
            return f"<{self.method} {self.target} {self.version} {len(self.body)}B>"
        return f"<{self.status} {len(self.body)}B>"


_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _fields(lines):
    out = []
    for line in lines:
        if b":" not in line:
            raise Malformed(f"header line without a colon: {line[:60]!r}")
        name, value = line.split(b":", 1)
        if not _TOKEN.match(name):
            raise Malformed(f"header name is not a token: {name[:60]!r}")
        if b"\n" in value or b"\r" in value or b"\0" in value:
            raise Malformed(f"header value with CR/LF/NUL: {value[:60]!r}")
        out.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    return out


def _head(buf):
    """(start line, fields, length of the head) or None while the head is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if b"\n" in buf.replace(b"\r\n", b""):
            raise Malformed("bare LF in a head")
        return None
    lines = buf[:end].split(CRLF)
    for line in lines:
        if b"\n" in line or b"\r" in line:
            raise Malformed("bare CR or LF in a head")
    return lines[0], _fields(lines[1:]), end + 4


def _chunked(buf, off):
    """(body, trailers, end offset) of a chunked body at @off, or None while incomplete."""
    body = b""
    while True:
        eol = buf.find(CRLF, off)
        if eol < 0:
            return None
        size_line = buf[off:eol].split(b";", 1)[0].strip(b" \t")
        if not re.match(rb"^[0-9A-Fa-f]{1,16}$", size_line):
            raise Malformed(f"bad chunk size line {buf[off:eol][:40]!r}")
        size = int(size_line, 16)
        off = eol + 2
        if size == 0:
            trailers = []
            while True:
                eol = buf.find(CRLF, off)
                if eol < 0:
                    return None
                if eol == off:
                    return body, _fields(trailers), eol + 2
                trailers.append(buf[off:eol])
                off = eol + 2
        if len(buf) < off + size + 2:
            return None
        if buf[off + size:off + size + 2] != CRLF:
            raise Malformed("chunk data not followed by CRLF")
        body += buf[off:off + size]
        off += size + 2


def _content_length(msg):
    values = msg.all("content-length")
    if not values:
        return None
    if len(set(values)) != 1 or not re.match(r"^[0-9]+$", values[0]):
        raise Malformed(f"bad content-length {values!r}")
    return int(values[0])


def _framed_body(m, buf, n, what):
    """The end of @m's body at @n as Transfer-Encoding or Content-Length frame it: None while
    incomplete, -1 when neither is there. Raises Malformed."""
    te = m.get("transfer-encoding")
    cl = _content_length(m)
    if te is not None and cl is not None:
        raise Malformed(f"a {what} with both Transfer-Encoding and Content-Length")
    if te is not None:
        if te.lower() != "chunked":
            raise Malformed(f"transfer-encoding {te!r} in a {what}")
        r = _chunked(buf, n)
        if r is None:
            return None
        m.body, m.trailers, end = r
        m.chunked = True
        return end
    if cl is not None:
        if len(buf) < n + cl:
            return None
        m.body = buf[n:n + cl]
        return n + cl
    return -1


def parse_request(buf):
    """(request, bytes used) or None while incomplete. Raises Malformed."""
    h = _head(buf)
    if h is None:
        return None
    line, fields, n = h
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[2].startswith(b"HTTP/1."):
        raise Malformed(f"bad request line {line[:80]!r}")
    m = Message()
    m.method, m.target, m.version = (p.decode("latin-1") for p in parts)
    m.fields = fields
    end = _framed_body(m, buf, n, "request")
    if end is None:
        return None
    if end < 0:
        end = n
    m.raw = bytes(buf[:end])
    return m, end


def parse_response(buf, head_request=False, eof=False):
    """
    (response, bytes used) or None while incomplete. A body delimited by the connection's end
    is complete only at @eof. Raises Malformed.
    """
    h = _head(buf)
    if h is None:
        if eof and buf:
            raise Malformed(f"connection closed inside a response head: {bytes(buf[:80])!r}")
        return None
    line, fields, n = h
    mt = re.match(rb"^HTTP/1\.([01]) ([0-9]{3}) ?(.*)$", line)
    if not mt:
        raise Malformed(f"bad status line {line[:80]!r}")
    m = Message()
    m.version = "HTTP/1." + mt.group(1).decode()
    m.status = int(mt.group(2))
    m.reason = mt.group(3).decode("latin-1")
    m.fields = fields
    st = m.status
    te = m.get("transfer-encoding")
    cl = _content_length(m)
    if head_request or st < 200 or st in (204, 304):
        end = n
    elif te is not None or cl is not None:
        end = _framed_body(m, buf, n, "response")
        if end is None:
            return None
    else:
        if not eof:
            return None
        m.body, end = buf[n:], len(buf)
    m.raw = bytes(buf[:end])
    return m, end
