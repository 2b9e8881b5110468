"""The conformance corpus (l7conf.py runs it; tools/l7-diff.sh runs it against HAProxy and nginx
too). Every case names the status each client must get, how many requests the backend may see,
and what becomes of the client's and the upstream's connection. Names: dN_ for the defects of
issue 25 §1 (N its number), then the smuggling classics, then the response direction.
"""

import time

import harness
from harness import Answer, ok, frame, request_block, hpack_literal

CRLF = "\r\n"


def req(target="/", method="GET", headers=(), body=b"", host="web", version="HTTP/1.1",
        cl=None):
    """A request's raw bytes: Host first (unless None), then @headers, then Content-Length
    when @cl is True (or a body is given and @cl is not False)."""
    h = f"{method} {target} {version}\r\n"
    if host is not None:
        h += f"Host: {host}\r\n"
    for line in headers:
        h += line + "\r\n"
    if cl is True or (cl is None and body):
        h += f"Content-Length: {len(body)}\r\n"
    return h.encode("latin-1") + b"\r\n" + body


def raw(text):
    return text.encode("latin-1")


class Case:
    def __init__(self, name, title, send=(), responses=1, head=(), expect=None, backend=ok,
                 steps=None, check=None, opts=None, waypoint_only=False):
        self.name, self.title = name, title
        self.send = [send] if isinstance(send, bytes) else list(send)
        self.responses, self.head = responses, head
        self.expect = expect or {}
        self.backend = backend
        self.steps, self.check = steps, check
        self.opts = opts or {}
        self.waypoint_only = waypoint_only


CASES = []


def case(*a, **kw):
    CASES.append(Case(*a, **kw))


def refused(status="400"):
    """What a refused request gets: the status, nothing upstream, the connection closed."""
    return {"status": status, "backend": 0, "client": "closed"}


def served(status="200", n=1):
    return {"status": status, "backend": n, "client": "open", "upstream": "reused"}


def backend_saw(i, name, want=None, absent=False):
    """A check: the backend's @i-th request had field @name (== @want), or not at all."""
    def check(ctx):
        v = ctx.req(i).get(name)
        if absent:
            ctx.check(f"the backend saw no {name} (got {v!r})", v is None)
        else:
            ctx.check(f"the backend saw {name}: {want!r} (got {v!r})",
                      v == want if want is not None else v is not None)
    return check


def checks(*fns):
    def run(ctx):
        for f in fns:
            f(ctx)
    return run


def body_is(i, want):
    def check(ctx):
        got = ctx.req(i).body
        ctx.check(f"the backend's request {i} body is {want!r} (got {got[:80]!r})", got == want)
    return check


def response_field(i, name, want):
    def check(ctx):
        r = ctx.responses[i] if i < len(ctx.responses) else None
        got = r.get(name) if r is not None and not isinstance(r, tuple) else None
        ctx.check(f"response {i} has {name}: {want!r} (got {got!r})", got == want)
    return check


# ---- basics ----------------------------------------------------------------------------------

case("basic_get", "a GET is forwarded once, both connections stay for the next request",
     req(), expect=served(),
     check=checks(backend_saw(0, "host", "web"), backend_saw(0, "x-forwarded-proto", "http"),
                  backend_saw(0, "x-request-id")))
case("basic_post_length", "a Content-Length body arrives whole",
     req("/up", "POST", body=b"hello"), expect=served(), check=body_is(0, b"hello"))
case("basic_post_chunked", "a chunked body arrives whole",
     raw("POST /up HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
     expect=served(), check=body_is(0, b"hello world"))
case("pipelined_two", "two pipelined requests: two answers in order, two requests upstream",
     req("/a") + req("/b"), responses=2, expect=served("200,200", 2),
     check=lambda ctx: ctx.check(
         "answers in request order", [r.body for r in ctx.responses] ==
         [b"GET /a #0", b"GET /b #1"]))
case("pipelined_post_get", "a body then a pipelined request: the body ends where it says",
     req("/a", "POST", body=b"0123456789") + req("/b"), responses=2,
     expect=served("200,200", 2), check=checks(body_is(0, b"0123456789"), body_is(1, b"")))
case("http10_close", "an HTTP/1.0 request without keep-alive: answered, then closed",
     req(version="HTTP/1.0"), expect={"status": "200", "backend": 1, "client": "closed"})
case("http10_keepalive", "HTTP/1.0 with Connection: keep-alive stays open",
     req(version="HTTP/1.0", headers=["Connection: keep-alive"]), expect=served())
case("connection_close", "Connection: close: answered, then closed; the upstream stays pooled",
     req(headers=["Connection: close"]),
     expect={"status": "200", "backend": 1, "client": "closed", "upstream": "reused"})


# ---- 1. a backend answering another client's request -------------------------------------------

EVIL = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
        b"HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\n"
        b"Set-Cookie: session=attacker\r\nX-Swallow: ")


def two_clients(first_answer, first_req=None, head_first=False):
    """Client A's request gets @first_answer(req); then client B asks: B must get the backend's
    own answer to B, and A's upstream connection must not have carried it."""
    def backend(r):
        if r.target == "/a":
            return first_answer(r)
        return ok(r)

    def steps(ctx):
        a = ctx.client()
        a.send(first_req or req("/a", "HEAD" if head_first else "GET"))
        ga = a.recv(1, head=(0,) if head_first else ())
        b = ctx.client()
        b.send(req("/b"))
        gb = b.recv(1)
        ctx.responses = ga + gb
        ok_b = bool(gb) and not isinstance(gb[0], tuple) and gb[0].body.startswith(b"GET /b")
        ctx.check(f"client B got the backend's answer to B (got {gb!r})", ok_b)
        ctx.check("client B got no cookie of A's backend",
                  not gb or isinstance(gb[0], tuple) or gb[0].get("set-cookie") is None)
        conns, reqs = ctx.backend.snapshot()
        ctx.check("B's request went on a new upstream connection",
                  len(reqs) == 2 and reqs[1].conn != reqs[0].conn)
        ctx.check("A's upstream connection was closed by the router",
                  conns[0].eof.wait(harness.DEADLINE) and conns[0].closed_by != "backend")
        return {"status": harness_statuses(ga) + ";" + harness_statuses(gb)}
    return backend, steps


def harness_statuses(msgs):
    return ",".join(m[0] if isinstance(m, tuple) else str(m.status) for m in msgs) or "none"


b, s = two_clients(lambda r: Answer(EVIL))
case("d1_bytes_after_response", "bytes after a complete response close that upstream connection",
     backend=b, steps=s, expect={"status": "200;200", "backend": 2})
b, s = two_clients(lambda r: Answer(EVIL.replace(b"Content-Length: 2\r\n\r\nhi",
                                                 b"Transfer-Encoding: chunked\r\n\r\n"
                                                 b"2\r\nhi\r\n0\r\n\r\n")))
case("d1_bytes_after_chunked", "bytes after a chunked response's end: closed, never pooled",
     backend=b, steps=s, expect={"status": "200;200", "backend": 2})
b, s = two_clients(lambda r: Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
                   head_first=True)
case("d1_head_answered_with_body", "a body after a HEAD's response head is bytes too many",
     backend=b, steps=s, expect={"status": "200;200", "backend": 2})
b, s = two_clients(lambda r: Answer(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"))
case("d1_204_with_body", "a body after a 204 is bytes too many",
     backend=b, steps=s, expect={"status": "204;200", "backend": 2})
b, s = two_clients(lambda r: Answer(b"HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\n"
                                    b"Content-Length: 4\r\n\r\nevil"))
case("d1_304_with_more", "a response after a 304, unasked, is bytes too many",
     backend=b, steps=s, expect={"status": "304;200", "backend": 2})


def evil_later(r):
    """The answer, then the smuggled bytes a moment later (a read of their own, after the
    connection went back to the pool)."""
    if r.target != "/a":
        return ok(r)
    return Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", after="keep")


def later_steps(ctx):
    a = ctx.client()
    a.send(req("/a"))
    ga = a.recv(1)
    conns, _ = ctx.backend.snapshot()
    # The backend thread's socket for conn 0: write the extra bytes now, idle in the pool.
    with ctx.backend.lock:
        s0 = ctx.backend.socks[0]
    s0.sendall(EVIL[EVIL.index(b"HTTP/1.1 302"):])
    ctx.check("the pooled connection that sent unasked bytes is closed by the router",
              conns[0].eof.wait(harness.DEADLINE))
    b = ctx.client()
    b.send(req("/b"))
    gb = b.recv(1)
    ctx.responses = ga + gb
    ctx.check("client B got the backend's answer to B",
              bool(gb) and not isinstance(gb[0], tuple) and gb[0].body.startswith(b"GET /b"))
    return {"status": harness_statuses(ga) + ";" + harness_statuses(gb)}


case("d1_bytes_while_pooled", "unasked bytes on an idle pooled connection close it",
     backend=evil_later, steps=later_steps, expect={"status": "200;200", "backend": 2})


# ---- 2. timeouts -----------------------------------------------------------------------------

def hold(r):
    """Answers nothing (the probes of the harness excepted)."""
    if r.target == "/probe":
        return ok(r)
    return Answer(b"", after="hold")


case("d2_body_stalls", "a body that stops coming: 408 after the stream idle timeout",
     raw("POST /up HTTP/1.1\r\nHost: web\r\nContent-Length: 1000\r\n\r\n0123456789"),
     backend=hold, opts={"idle_timeout": "1s"},
     expect={"status": "408", "client": "closed", "upstream": "closed"})
case("d2_headers_stall", "a head that stops coming: 408 after the request headers timeout",
     raw("GET / HTTP/1.1\r\nHost: web\r\n"), opts={"headers_timeout": "1s"},
     expect=refused("408"))


def trickle_steps(ctx):
    """Header lines keep coming, each sooner than any idle timer: the head's own deadline."""
    c = ctx.client()
    c.send(raw("GET / HTTP/1.1\r\nHost: web\r\n"))
    end = time.monotonic() + harness.DEADLINE
    got = []
    i = 0
    while time.monotonic() < end and not got and not c.eof:
        c.send(raw(f"X-Line-{i}: {i}\r\n"))
        i += 1
        got = c.recv(1, timeout=0.3)
    ctx.responses = got
    return {"status": harness_statuses(got), "client": c.wait_close()}


case("d2_headers_trickle", "a head sent a line at a time still meets its deadline (408)",
     steps=trickle_steps, opts={"headers_timeout": "1s"}, expect=refused("408"))
case("d2_upstream_silent", "an upstream that never answers: 504 after the stream idle timeout",
     req(), backend=hold, opts={"idle_timeout": "1s"},
     expect={"status": "504", "client": "open", "upstream": "closed"})


def stall_mid_response(r):
    return Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", after="hold")


def stall_steps(ctx):
    c = ctx.client()
    c.send(req())
    got = c.recv(1)
    ctx.responses = got
    return {"status": harness_statuses(got), "client": c.wait_close()}


case("d2_response_stalls", "a response that stops coming: the client connection is cut",
     backend=stall_mid_response, steps=stall_steps, opts={"idle_timeout": "1s"},
     expect={"status": "truncated", "client": ("closed", "reset"), "upstream": "closed"})


def upstream_idle_steps(ctx):
    """A cluster whose DestinationRule says connectionPool.http.idleTimeout: 1s (harness.WORLD's
    "idle"): its pooled connection is closed by the router once idle that long."""
    c = ctx.client()
    c.send(req("/idle"))
    got = c.recv(1)
    conns, _ = ctx.backend.snapshot()
    ctx.check("the idle pooled connection was closed by the router",
              bool(conns) and conns[0].eof.wait(harness.DEADLINE) and
              conns[0].closed_by == "router")
    return {"status": harness_statuses(got)}


case("d2_upstream_connection_idle", "DestinationRule connectionPool.http.idleTimeout closes an "
     "idle pooled connection", steps=upstream_idle_steps,
     expect={"status": "200", "backend": 1}, waypoint_only=True)


def keepalive_idle_steps(ctx):
    c = ctx.client()
    c.send(req())
    got = c.recv(1)
    return {"status": harness_statuses(got), "client": c.wait_close()}


case("d2_connection_idle", "a keep-alive connection idle past the idle timeout is closed",
     steps=keepalive_idle_steps, opts={"conn_idle_timeout": "1s"},
     expect={"status": "200", "client": "closed"}, waypoint_only=True)


# ---- 3. Connection cannot remove the proxy's own headers ---------------------------------------

case("d3_connection_names_proxy_headers",
     "Connection: x-forwarded-for, x-request-id, x-forwarded-proto: all three still set",
     req(headers=["Connection: x-forwarded-for, x-request-id, x-forwarded-proto"]),
     expect=served(),
     check=checks(backend_saw(0, "x-forwarded-for", "127.0.0.1"),
                  backend_saw(0, "x-request-id"), backend_saw(0, "x-forwarded-proto", "http")))
case("d3_connection_names_field", "a field the Connection header names is not forwarded",
     req(headers=["Connection: x-hop", "X-Hop: 1", "X-End: 2"]), expect=served(),
     check=checks(backend_saw(0, "x-hop", absent=True), backend_saw(0, "x-end", "2")))


# ---- 4. headers trusted by accident ----------------------------------------------------------

case("d4_forwarded_proto_spoofed", "X-Forwarded-Proto: https on plaintext becomes http",
     req(headers=["X-Forwarded-Proto: https"]), expect=served(),
     check=backend_saw(0, "x-forwarded-proto", "http"), waypoint_only=True)
case("d4_request_id_from_edge", "an edge client's x-request-id is replaced by a new one",
     req(headers=["X-Request-Id: chosen-by-the-client"]), expect=served(),
     check=lambda ctx: ctx.check(
         f"a new x-request-id (got {ctx.req(0).get('x-request-id')!r})",
         ctx.req(0).get("x-request-id") not in (None, "chosen-by-the-client") and
         len(ctx.req(0).get("x-request-id")) == 36), waypoint_only=True)
case("d4_forwarded_for_appended", "x-forwarded-for gets the client's address appended",
     req(headers=["X-Forwarded-For: 192.0.2.7"]), expect=served(),
     check=backend_saw(0, "x-forwarded-for", "192.0.2.7,127.0.0.1"), waypoint_only=True)
case("d4_trusted_hops_0", "no trusted proxy: the client address is the connection's",
     req(headers=["X-Forwarded-For: 192.0.2.7"]), expect=served(),
     check=backend_saw(0, "x-envoy-external-address", "127.0.0.1"), waypoint_only=True)
case("d4_trusted_hops_1", "one trusted proxy: the client address is the last XFF entry",
     req(headers=["X-Forwarded-For: 198.51.100.1, 192.0.2.7"]), opts={"trusted_hops": 1},
     expect=served(),
     check=checks(backend_saw(0, "x-envoy-external-address", "192.0.2.7"),
                  backend_saw(0, "x-forwarded-for", "198.51.100.1, 192.0.2.7,127.0.0.1"),
                  lambda ctx: ctx.check(
                      "the access log names 192.0.2.7 as the client",
                      " 192.0.2.7:0 " in ctx.router.access_log())),
     waypoint_only=True)


# ---- 5. two Host headers ---------------------------------------------------------------------

case("d5_two_hosts", "two Host headers: 400 (RFC 9112 §3.2)",
     req(headers=["Host: other"]), expect=refused())
case("d5_no_host", "HTTP/1.1 without Host: 400", req(host=None), expect=refused())
case("d5_absolute_form", "an absolute-form target names the host the backend sees",
     req("http://web/abs", headers=[]), expect=served(),
     check=lambda ctx: ctx.check("the backend saw Host web and path /abs",
                                 ctx.req(0).get("host") == "web" and ctx.req(0).target == "/abs"))


# ---- 6. HEAD keeps its Content-Length --------------------------------------------------------

def head_1234(r):
    if r.method != "HEAD":
        return ok(r)
    return Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")


case("d6_head_content_length", "a HEAD response keeps the backend's Content-Length",
     req(method="HEAD"), head=(0,), backend=head_1234, expect=served(),
     check=response_field(0, "content-length", "1234"))


# ---- 7. upgrades -----------------------------------------------------------------------------

WS = ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]


def ws_backend(r):
    if (r.get("upgrade") or "").lower() == "websocket":
        return Answer(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                      after="tunnel")
    return ok(r)


def ws_steps(ctx):
    c = ctx.client()
    c.send(req("/ws", headers=WS))
    got = c.recv(1)
    echo = b""
    if got and not isinstance(got[0], tuple) and got[0].status == 101:
        c.send(b"ping")
        echo = c.read_tunnel(9)
    ctx.check(f"the tunnel carries bytes both ways (got {echo!r})", echo == b"echo:ping")
    return {"status": harness_statuses(got)}


case("d7_websocket", "a WebSocket upgrade is tunnelled", backend=ws_backend, steps=ws_steps,
     expect={"status": "101", "backend": 1})
def ws_fin_backend(r):
    """The 101 once the router's half-close reached us: answered, then our own FIN."""
    return Answer(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\n\r\nbye", after="close")


def ws_fin_steps(ctx):
    """The client half-closes right after asking for the upgrade, before the 101: the tunnel
    must still pass its FIN on, so that both connections end once the backend ends too."""
    import socket as _socket
    c = ctx.client()
    c.send(req("/ws", headers=WS))
    c.s.shutdown(_socket.SHUT_WR)
    got = c.recv(1)
    tail = c.read_tunnel(3)
    st = c.wait_close()
    conns, _ = ctx.backend.snapshot()
    ctx.check(f"the tunnel's bytes reached the client (got {tail!r})", tail == b"bye")
    ctx.check("the backend saw the client's FIN through the tunnel",
              bool(conns) and conns[0].eof.wait(harness.DEADLINE))
    return {"status": harness_statuses(got), "client": st}


case("d7_websocket_client_fin_first", "a client's FIN before the 101 still ends the tunnel",
     backend=ws_fin_backend, steps=ws_fin_steps,
     expect={"status": "101", "backend": 1, "client": "closed"})
case("d7_h2c_upgrade", "Upgrade: h2c is not tunnelled: forwarded as a plain request",
     req(headers=["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                  "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"]),
     backend=ws_backend, expect=served(),
     check=checks(backend_saw(0, "upgrade", absent=True),
                  backend_saw(0, "http2-settings", absent=True)))
case("d7_unknown_upgrade", "an upgrade nobody configured is refused (Envoy: 403, closed)",
     req(headers=["Connection: Upgrade", "Upgrade: foo/1"]), backend=ws_backend,
     expect=refused("403"), waypoint_only=True)


def connect_backend(r):
    if r.method == "CONNECT":
        return Answer(b"HTTP/1.1 200 Connection Established\r\n\r\n", after="tunnel")
    return ok(r)


def connect_steps(allowed):
    def steps(ctx):
        c = ctx.client()
        c.send(raw("CONNECT web:80 HTTP/1.1\r\nHost: web:80\r\n" +
                   ("X-Allow-Connect: yes\r\n" if allowed else "") + "\r\n"))
        got = c.recv(1, head=(0,))
        if allowed:
            c.send(b"ping")
            echo = c.read_tunnel(9)
            ctx.check(f"CONNECT tunnel carries bytes (got {echo!r})", echo == b"echo:ping")
        return {"status": harness_statuses(got)}
    return steps


case("d7_connect_allowed", "CONNECT where the route is written for it is tunnelled",
     backend=connect_backend, steps=connect_steps(True),
     expect={"status": "200", "backend": 1}, waypoint_only=True)
case("d7_connect_elsewhere", "CONNECT on a route not written for it is refused (403)",
     backend=connect_backend, steps=connect_steps(False),
     expect={"status": "403", "backend": 0}, waypoint_only=True)


# ---- 8. malformed chunked bodies ---------------------------------------------------------------

def chunked(body):
    return raw("POST /up HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n") + body


# A connection the partial request went out on is closed; one it never reached may be reused.
BAD_BODY = {"status": "400", "backend": 0, "client": "closed",
            "upstream": ("closed", "-", "unused")}
case("d8_chunk_size_overflow", "chunk size ffffffffffffffff: 400",
     chunked(b"ffffffffffffffff\r\nab\r\n"), expect=BAD_BODY)
case("d8_chunk_size_17_digits", "a chunk size past 64 bits: 400",
     chunked(b"10000000000000000\r\nab\r\n"), expect=BAD_BODY)
case("d8_chunk_not_hex", "a chunk size that is not hex: 400",
     chunked(b"zz\r\nab\r\n0\r\n\r\n"), expect=BAD_BODY)
case("d8_chunk_data_overrun", "chunk data longer than its size: 400",
     chunked(b"5\r\nhelloXX\r\n0\r\n\r\n"), expect=BAD_BODY)
case("d8_chunk_bare_lf", "chunk lines ending in a bare LF: 400",
     chunked(b"5\nhello\n0\n\n"), expect=BAD_BODY)
case("d8_chunk_size_space", "a chunk size after a space: 400",
     chunked(b" 5\r\nhello\r\n0\r\n\r\n"), expect=BAD_BODY)
case("d8_chunk_ext_bare_cr", "a chunk extension with a bare CR: 400",
     chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), expect=BAD_BODY)
def bad_chunk_after_forwarding(ctx):
    """The head and a first chunk went upstream before the bad chunk came: 400 to the client,
    and the upstream connection carrying half a request is closed, never pooled."""
    c = ctx.client()
    c.send(chunked(b"5\r\nhello\r\n"))
    end = time.monotonic() + harness.DEADLINE
    while time.monotonic() < end:
        conns, _ = ctx.backend.snapshot()
        if conns and b"hello" in conns[0].raw:
            break
        time.sleep(0.01)
    c.send(b"zz\r\n")
    got = c.recv(1)
    ctx.responses = got
    return {"status": harness_statuses(got), "client": c.wait_close()}


case("d8_bad_chunk_after_forwarding", "a bad chunk after the request went upstream: 400, the "
     "upstream connection closed", backend=hold, steps=bad_chunk_after_forwarding,
     expect={"status": "400", "backend": 0, "client": "closed", "upstream": "closed"})
case("d8_chunk_extension", "chunk extensions are read and dropped",
     chunked(b"5;name=value\r\nhello\r\n0\r\n\r\n"), expect=served(), check=body_is(0, b"hello"))
case("d8_chunk_extension_quoted", "a quoted chunk extension value is read",
     chunked(b'5;a="b c"\r\nhello\r\n0\r\n\r\n'), expect=served(), check=body_is(0, b"hello"))
case("d8_chunk_trailers", "request trailers are read (and not forwarded)",
     chunked(b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"), expect=served(),
     check=body_is(0, b"hello"))


# ---- 9. 1xx responses are forwarded -----------------------------------------------------------

def continue_then_200(r):
    return Answer(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(r).data)


def early_hints(r):
    return Answer(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
                  ok(r).data)


case("d9_100_from_upstream", "a 100 Continue from the backend reaches the client",
     req(), backend=continue_then_200, expect=served("100,200"))
case("d9_103_early_hints", "103 Early Hints reach the client with their fields",
     req(), backend=early_hints, expect=served("103,200"),
     check=response_field(0, "link", "</style.css>; rel=preload"))


def h2_interim_steps(ctx):
    c = ctx.h2()
    c.headers(1, request_block())
    c.wait(lambda ev: any(e[1] == 1 and e[0] in ("rst", "goaway") or
                          (e[0] in ("data", "headers") and e[1] == 1 and e[3]) for e in ev))
    got = [e[2].get(":status") for e in c.events if e[0] == "headers" and e[1] == 1
           and ":status" in e[2]]
    hints = [e[2].get("link") for e in c.events if e[0] == "headers" and e[1] == 1
             and e[2].get(":status") == "103"]
    ctx.check(f"the 103 carries its Link (got {hints!r})", hints == ["</style.css>; rel=preload"])
    return {"status": ",".join(got) or "none"}


case("d9_103_to_h2_client", "an HTTP/2 client gets the backend's 103 as interim HEADERS",
     backend=early_hints, steps=h2_interim_steps, expect={"status": "103,200", "backend": 1},
     waypoint_only=True)


def expect_continue_steps(ctx):
    c = ctx.client()
    c.send(raw("POST /up HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n"))
    first = c.recv(0, timeout=0)  # nothing final yet
    end = time.monotonic() + harness.DEADLINE
    while b"\r\n\r\n" not in c.buf and time.monotonic() < end and not c.eof:
        c._read(end)
    interim = c.buf.split(b"\r\n", 1)[0]
    c.send(b"hello")
    got = c.recv(1)
    ctx.responses = got
    ctx.check(f"a 100 Continue before the body (got {interim!r})",
              interim.startswith(b"HTTP/1.1 100"))
    return {"status": harness_statuses(first + got), "client": "open"}


case("d9_expect_continue", "Expect: 100-continue goes upstream and its 100 comes back (Istio)",
     steps=expect_continue_steps, expect={"status": "100,200", "backend": 1},
     check=body_is(0, b"hello"))


# ---- 10. header limits, the same for HTTP/1.1 and HTTP/2; HTTP/2 stream ids --------------------

case("d10_h1_59k_field", "a 59 KB header field passes (limit: 60 KiB of headers)",
     req(headers=["X-Big: " + "a" * (59 * 1000)]), expect=served())
case("d10_h1_61k_head", "61 KiB of headers: 431",
     req(headers=["X-Big: " + "a" * (61 * 1024)]), expect=refused("431"))
case("d10_h1_100_fields", "100 header fields pass",
     req(headers=[f"X-F{i}: {i}" for i in range(99)]), expect=served())
case("d10_h1_101_fields", "101 header fields: 431",
     req(headers=[f"X-F{i}: {i}" for i in range(100)]), expect=refused("431"))


def h2_steps(streams, want_fields=None):
    """HTTP/2 with prior knowledge: @streams is a list of (stream id, header block, end)."""
    def steps(ctx):
        c = ctx.h2()
        for sid, block, end in streams:
            c.headers(sid, block, end)
            c.wait(lambda ev, sid=sid: any(e[1] == sid and e[0] in ("rst",) or
                                           (e[0] == "data" and e[1] == sid and e[3]) or
                                           (e[0] == "headers" and e[1] == sid and e[3]) or
                                           e[0] == "goaway" for e in ev))
        c.wait(lambda ev: False, timeout=0.3)  # what else the router says (not a timing check)
        return {"status": c.outcome()}
    return steps


case("d10_h2_9k_value", "HTTP/2: a 9 KB header value passes",
     steps=h2_steps([(1, request_block(extra=[("x-big", "a" * 9000)]), True)]),
     expect={"status": "1:200", "backend": 1}, waypoint_only=True,
     check=lambda ctx: ctx.check("the backend saw the 9 KB value",
                                 len(ctx.req(0).get("x-big") or "") == 9000))
case("d10_h2_61k_block", "HTTP/2: 61 KiB of headers get 431, the connection lives",
     steps=h2_steps([(1, request_block(extra=[(f"x-b{i}", "a" * 8000) for i in range(8)]),
                      True), (3, request_block("/after"), True)]),
     expect={"status": "1:431,3:200", "backend": 1}, waypoint_only=True)
case("d10_h2_101_fields", "HTTP/2: 101 header fields get 431",
     steps=h2_steps([(1, request_block(extra=[(f"x-f{i}", "1") for i in range(101)]), True)]),
     expect={"status": "1:431", "backend": 0}, waypoint_only=True)
case("d10_h2_stream_id_backwards", "HTTP/2: a stream id lower than one used: PROTOCOL_ERROR",
     steps=h2_steps([(3, request_block(), True), (1, request_block("/back"), True)]),
     expect={"status": "3:200,GOAWAY PROTOCOL_ERROR", "backend": 1}, waypoint_only=True)
case("d10_h2_even_stream_id", "HTTP/2: a client stream with an even id: PROTOCOL_ERROR",
     steps=h2_steps([(2, request_block(), True)]),
     expect={"status": "GOAWAY PROTOCOL_ERROR", "backend": 0}, waypoint_only=True)
case("d10_h2_connection_header", "HTTP/2: a connection-specific field makes the stream malformed",
     steps=h2_steps([(1, request_block(extra=[("connection", "close")]), True),
                     (3, request_block("/after"), True)]),
     expect={"status": "1:RST PROTOCOL_ERROR,3:200", "backend": 1}, waypoint_only=True)


# ---- 11. request lines ------------------------------------------------------------------------

case("d11_http09", "an HTTP/0.9 request line gets 400 at once",
     raw("GET /\r\n"), expect=refused())
case("d11_http09_blank", "HTTP/0.9 with a blank line after it: 400",
     raw("GET /\r\n\r\n"), expect=refused())
case("d11_http12", "HTTP/1.2 is read as HTTP/1.1 (RFC 9112 §2.3) and forwarded",
     req(version="HTTP/1.2"), expect=served(),
     check=lambda ctx: ctx.check("forwarded as HTTP/1.1", ctx.req(0).version == "HTTP/1.1"))
case("d11_http20_line", "an HTTP/2.0 request line that is not the preface: refused",
     req(version="HTTP/2.0"), expect=refused(("400", "505")))
case("d11_http30", "HTTP/3.0 in an HTTP/1 request line: 505",
     req(version="HTTP/3.0"), expect=refused(("400", "505")))
case("d11_extension_method", "an extension method (RFC 9110 §9.1) is forwarded",
     req(method="FOO"), expect=served(),
     check=lambda ctx: ctx.check("the backend saw FOO", ctx.req(0).method == "FOO"))
case("d11_webdav_method", "PROPFIND is forwarded",
     req(method="PROPFIND", headers=["Depth: 0"]), expect=served(),
     check=lambda ctx: ctx.check("the backend saw PROPFIND", ctx.req(0).method == "PROPFIND"))
case("d11_extension_method_body", "an extension method with a body",
     req(method="PURGE-ALL", body=b"xyz"), expect=served(), check=body_is(0, b"xyz"))
case("d11_method_bad_char", "a method with a character no token has: 400",
     raw("GE(T / HTTP/1.1\r\nHost: web\r\n\r\n"), expect=refused())
case("d11_double_space", "two spaces in the request line: 400",
     raw("GET  / HTTP/1.1\r\nHost: web\r\n\r\n"), expect=refused())
case("d11_space_in_target", "a space inside the target: 400",
     raw("GET /a b HTTP/1.1\r\nHost: web\r\n\r\n"), expect=refused())


# ---- smuggling classics ----------------------------------------------------------------------

def te(value, body=b"5\r\nhello\r\n0\r\n\r\n", extra=(), version="HTTP/1.1"):
    h = f"POST /up {version}\r\nHost: web\r\n"
    for x in extra:
        h += x + "\r\n"
    return raw(h + value + "\r\n\r\n") + body


case("cl_te", "Content-Length and Transfer-Encoding together: 400",
     te("Transfer-Encoding: chunked", extra=["Content-Length: 4"]), expect=refused())
case("te_cl", "Transfer-Encoding then Content-Length: 400",
     te("Content-Length: 4", extra=["Transfer-Encoding: chunked"]), expect=refused())
case("te_chunked_identity", "chunked not the last coding: refused",
     te("Transfer-Encoding: chunked, identity"), expect=refused(("400", "501")))
case("te_identity", "Transfer-Encoding: identity: 501 (Envoy: only chunked is implemented)",
     te("Transfer-Encoding: identity"), expect=refused("501"))
case("te_gzip_chunked", "a coding the router cannot apply (gzip, chunked): 501",
     te("Transfer-Encoding: gzip, chunked"), expect=refused("501"))
case("te_xchunked", "Transfer-Encoding: xchunked: 501", te("Transfer-Encoding: xchunked"),
     expect=refused("501"))
case("te_space_before_colon", "'Transfer-Encoding : chunked': 400",
     te("Transfer-Encoding : chunked"), expect=refused())
case("te_tab", "Transfer-Encoding with a tab before its value is chunked",
     te("Transfer-Encoding:\tchunked"), expect=served(), check=body_is(0, b"hello"))
case("te_upper", "CHUNKED is chunked", te("Transfer-Encoding: CHUNKED"), expect=served(),
     check=body_is(0, b"hello"))
case("te_twice", "chunked applied twice: refused",
     te("Transfer-Encoding: chunked", extra=["Transfer-Encoding: chunked"]),
     expect=refused(("400", "501")))
case("te_vertical_tab", "a vertical tab before chunked: 400",
     te("Transfer-Encoding:\x0bchunked"), expect=refused())
case("te_http10", "Transfer-Encoding in an HTTP/1.0 request: 400",
     te("Transfer-Encoding: chunked", version="HTTP/1.0"), expect=refused())
case("cl_twice_same", "Content-Length twice: 400",
     req("/up", "POST", headers=["Content-Length: 5"], body=b"hello"), expect=refused())
case("cl_list", "Content-Length: 5, 5: 400",
     req("/up", "POST", headers=["Content-Length: 5, 5"], body=b"hello", cl=False),
     expect=refused())
case("cl_plus", "Content-Length: +5: 400",
     req("/up", "POST", headers=["Content-Length: +5"], body=b"hello", cl=False),
     expect=refused())
case("cl_negative", "Content-Length: -1: 400",
     req("/up", "POST", headers=["Content-Length: -1"], cl=False), expect=refused())
case("cl_overflow", "a Content-Length past 64 bits: 400",
     req("/up", "POST", headers=["Content-Length: 99999999999999999999"], cl=False),
     expect=refused())
case("cl_hex", "Content-Length: 0x5: 400",
     req("/up", "POST", headers=["Content-Length: 0x5"], body=b"hello", cl=False),
     expect=refused())
case("cl_leading_zeros", "Content-Length: 005 is 5",
     req("/up", "POST", headers=["Content-Length: 005"], body=b"hello", cl=False),
     expect=served(), check=body_is(0, b"hello"))
case("cl_get_body_is_body", "a GET's Content-Length body that looks like a request stays body",
     req("/a", "GET", body=req("/smuggled")), expect=served(),
     check=body_is(0, req("/smuggled")))
case("obs_fold", "an obs-fold line: 400",
     raw("GET / HTTP/1.1\r\nHost: web\r\nX-A: a\r\n b\r\n\r\n"), expect=refused())
case("obs_fold_te", "Transfer-Encoding continued by an obs-fold: 400",
     raw("POST /up HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n"
         "5\r\nhello\r\n0\r\n\r\n"), expect=refused())
case("bare_lf_head", "a head with bare LF line ends: 400",
     raw("GET / HTTP/1.1\nHost: web\n\n"), expect=refused())
case("bare_cr_value", "a bare CR in a field value: 400",
     raw("GET / HTTP/1.1\r\nHost: web\r\nX-A: a\rb\r\n\r\n"), expect=refused())
case("nul_value", "a NUL in a field value: 400",
     raw("GET / HTTP/1.1\r\nHost: web\r\nX-A: a\x00b\r\n\r\n"), expect=refused())
case("space_in_name", "a space inside a field name: 400",
     raw("GET / HTTP/1.1\r\nHost: web\r\nX A: b\r\n\r\n"), expect=refused())
case("no_colon", "a field line without a colon: 400",
     raw("GET / HTTP/1.1\r\nHost: web\r\nX-A\r\n\r\n"), expect=refused())
case("pipeline_after_refusal", "a request behind a refused one reaches nobody",
     req(headers=["Host: other"]) + req("/second"), expect=refused())
case("pipeline_chunked_then_get", "a chunked body then a pipelined GET: two requests",
     te("Transfer-Encoding: chunked") + req("/b"), responses=2, expect=served("200,200", 2),
     check=checks(body_is(0, b"hello"), body_is(1, b"")))


# ---- the response direction --------------------------------------------------------------------

def answer(data, after="keep"):
    return lambda r: Answer(data, after)


# Envoy answers what its upstream codec refuses as a reset before the response: 503 with UPE
# (HAProxy and nginx say 502).
BAD_RESPONSE = {"status": "503", "backend": 1, "client": "open", "upstream": "closed"}
case("resp_cl_te", "a response with Content-Length and Transfer-Encoding: 503",
     req(), backend=answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked"
                           b"\r\n\r\n2\r\nhi\r\n0\r\n\r\n"), expect=BAD_RESPONSE)
case("resp_cl_differ", "a response with two different Content-Lengths: 503",
     req(), backend=answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"
                           b"hi!"), expect=BAD_RESPONSE)
case("resp_obs_fold", "a response with an obs-fold: 503",
     req(), backend=answer(b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nhi"),
     expect=BAD_RESPONSE)
case("resp_bare_lf", "a response head with bare LF: 503",
     req(), backend=answer(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"), expect=BAD_RESPONSE)
case("resp_nul", "a NUL in a response field: 503",
     req(), backend=answer(b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nhi"),
     expect=BAD_RESPONSE)
case("resp_bad_status", "a two-digit status: 503",
     req(), backend=answer(b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nhi"),
     expect=BAD_RESPONSE)
case("resp_101_unasked", "a 101 to a request that asked no upgrade: 503",
     req(), backend=answer(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           b"Connection: Upgrade\r\n\r\n"), expect=BAD_RESPONSE)
case("resp_head_too_large", "a response head past 60 KiB: 503",
     req(), backend=answer(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (61 * 1024) +
                           b"\r\nContent-Length: 2\r\n\r\nhi"), expect=BAD_RESPONSE)


def bad_chunk_steps(ctx):
    c = ctx.client()
    c.send(req())
    got = c.recv(1)
    st = c.wait_close()
    ctx.responses = got
    return {"status": harness_statuses(got), "client": st}


case("resp_bad_chunk", "a response whose chunked body breaks: the client's connection is cut",
     backend=answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhelloXX\r\n0\r\n\r\n"), steps=bad_chunk_steps,
     expect={"status": "truncated", "client": ("closed", "reset"), "upstream": "closed"})
case("resp_close_delimited", "a response ending with the connection is re-framed for the client",
     req(), backend=answer(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", after="close"),
     expect={"status": "200", "backend": 1, "client": "open", "upstream": "closed"},
     check=lambda ctx: ctx.check("the client got the whole body",
                                 ctx.responses and not isinstance(ctx.responses[0], tuple) and
                                 ctx.responses[0].body == b"until the end"))
case("resp_connection_close", "the backend's Connection: close ends only the upstream connection",
     req(), backend=answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"
                           b"hi", after="close"),
     expect={"status": "200", "backend": 1, "client": "open", "upstream": "closed"})
case("resp_hop_fields", "hop-by-hop fields of a response are not forwarded",
     req(), backend=answer(b"HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\n"
                           b"Keep-Alive: timeout=5\r\nX-Kept: 2\r\nContent-Length: 2\r\n\r\nhi"),
     expect=served(),
     check=lambda ctx: ctx.check(
         "no x-secret or keep-alive, x-kept kept",
         ctx.responses[0].get("x-secret") is None and ctx.responses[0].get("keep-alive") is None
         and ctx.responses[0].get("x-kept") == "2"))


# ---- issue 38: what an attacker tried at the edge ------------------------------------------------
# The WORLD denies paths /admin and /admin/*, host b.example.com and clients of 203.0.113.0/24
# (harness.py). A refusal by policy is the waypoint's own 403, which keeps the connection (§2.1).

DENIED = {"status": "403", "backend": 0, "client": "open"}

# §1.1: repeated X-Forwarded-For lines are one list (RFC 9110 §5.3), as Envoy joins them: behind
# one trusted proxy that appended its own line, the client is that line's address.
case("xff_lines_joined_deny", "two X-Forwarded-For lines, the load balancer's last: its "
     "address is the client (a DENY of it holds)",
     req(headers=["X-Forwarded-For: 1.2.3.4", "X-Forwarded-For: 203.0.113.9"]),
     opts={"trusted_hops": 1}, expect=DENIED, waypoint_only=True)
case("xff_lines_joined", "two X-Forwarded-For lines reach the backend as one list, the client "
     "taken from its end",
     req(headers=["X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 192.0.2.7"]),
     opts={"trusted_hops": 1}, expect=served(),
     check=checks(backend_saw(0, "x-forwarded-for", "198.51.100.1,192.0.2.7,127.0.0.1"),
                  backend_saw(0, "x-envoy-external-address", "192.0.2.7"),
                  lambda ctx: ctx.check("one x-forwarded-for line upstream",
                                        len(ctx.req(0).all("x-forwarded-for")) == 1)),
     waypoint_only=True)
case("xff_ipv6_client", "an IPv6 client behind one trusted proxy: the client address is the "
     "IPv6 entry (x-envoy-external-address, the access log, policy)",
     req(headers=["X-Forwarded-For: 198.51.100.1, 2001:db8::7"]), opts={"trusted_hops": 1},
     expect=served(),
     check=checks(backend_saw(0, "x-envoy-external-address", "2001:db8::7"),
                  backend_saw(0, "x-forwarded-for", "198.51.100.1, 2001:db8::7,127.0.0.1"),
                  lambda ctx: ctx.check(
                      "the access log names [2001:db8::7]:0 as the client",
                      " [2001:db8::7]:0 " in ctx.router.access_log())),
     waypoint_only=True)
case("xff_ipv6_denied", "an IPv6 client in a remoteIpBlocks DENY (2001:db8:bad::/48) behind one "
     "trusted proxy: 403",
     req(headers=["X-Forwarded-For: 2001:db8:bad::9"]), opts={"trusted_hops": 1},
     expect=DENIED, waypoint_only=True)
case("xff_ipv6_untrusted", "the same entry with no trusted proxy: the connection's peer is the "
     "client, served",
     req(headers=["X-Forwarded-For: 2001:db8:bad::9"]), expect=served(),
     check=backend_saw(0, "x-envoy-external-address", "127.0.0.1"), waypoint_only=True)
case("xff_lines_joined_h2", "HTTP/2: two x-forwarded-for fields are one list (the second is "
     "not dropped)",
     steps=h2_steps([(1, request_block(extra=[("x-forwarded-for", "1.2.3.4"),
                                              ("x-forwarded-for", "203.0.113.9")]), True)]),
     opts={"trusted_hops": 1}, expect={"status": "1:403", "backend": 0}, waypoint_only=True)

# §1.2: a fragment is never part of a request's target (Envoy's CVE-2021-32779): 400.
case("fragment_in_target", "GET /admin#x: 400, never forwarded (a URL parser would serve /admin)",
     raw("GET /admin#x HTTP/1.1\r\nHost: web\r\n\r\n"), expect=refused())
case("fragment_after_slash", "GET /#/admin: 400",
     raw("GET /#/admin HTTP/1.1\r\nHost: web\r\n\r\n"), expect=refused())
case("fragment_h2", "HTTP/2 :path /admin#x: 400 on the stream, the connection lives",
     steps=h2_steps([(1, request_block("/admin#x"), True), (3, request_block("/after"), True)]),
     expect={"status": "1:400,3:200", "backend": 1}, waypoint_only=True)

# §1.3: targets that are not origin-form.
case("target_relative", "GET admin: 400", raw("GET admin HTTP/1.1\r\nHost: web\r\n\r\n"),
     expect=refused())
case("target_backslash", "GET \\admin: 400", raw("GET \\admin HTTP/1.1\r\nHost: web\r\n\r\n"),
     expect=refused())
case("target_asterisk_get", "GET *: 400 (asterisk-form is OPTIONS's alone)",
     raw("GET * HTTP/1.1\r\nHost: web\r\n\r\n"), expect=refused())
case("target_other_scheme", "an absolute-form target of another scheme: 400",
     raw("GET ftp://web/admin HTTP/1.1\r\nHost: web\r\n\r\n"), expect=refused())

# §1.4: hosts that would skip a host-scoped rule.
case("host_empty_port_deny", "Host: b.example.com: (an empty port) is b.example.com to the rules",
     req(host="b.example.com:"), expect=DENIED, waypoint_only=True)
case("host_empty_port_forwarded", "Host: web: reaches the backend as web",
     req(host="web:"), expect=served(), check=backend_saw(0, "host", "web"), waypoint_only=True)
case("host_userinfo", "Host: x@b.example.com: 400", req(host="x@b.example.com"),
     expect=refused())
case("absolute_userinfo", "GET http://x@b.example.com/: 400",
     raw("GET http://x@b.example.com/ HTTP/1.1\r\nHost: web\r\n\r\n"), expect=refused())
case("host_bad_character", "a Host with a character no host holds: 400",
     req(host="b.example.com/admin"), expect=refused())
case("host_bad_port", "a Host whose port is not a number: 400",
     req(host="b.example.com:80x"), expect=refused())
case("authority_userinfo_h2", "HTTP/2 :authority x@b.example.com: 400 on the stream",
     steps=h2_steps([(1, request_block(authority="x@b.example.com"), True),
                     (3, request_block("/after"), True)]),
     expect={"status": "1:400,3:200", "backend": 1}, waypoint_only=True)
case("authority_empty_port_h2", "HTTP/2 :authority b.example.com: is b.example.com to the rules",
     steps=h2_steps([(1, request_block(authority="b.example.com:"), True)]),
     expect={"status": "1:403", "backend": 0}, waypoint_only=True)

# §1.6: a :scheme the proxy cannot speak.
case("scheme_other_h2", "HTTP/2 :scheme ftp: 400 on the stream",
     steps=h2_steps([(1, hpack_literal([(":method", "GET"), (":scheme", "ftp"),
                                        (":authority", "web"), (":path", "/")]), True),
                     (3, request_block("/after"), True)]),
     expect={"status": "1:400,3:200", "backend": 1}, waypoint_only=True)

# §2.1: the waypoint's own answers keep the connection, as Envoy's do.
case("own_403_keeps_connection", "a DENY's 403 to a GET: the connection serves the next request",
     req("/admin"), expect=DENIED, waypoint_only=True,
     check=lambda ctx: ctx.check("no connection: close on the 403",
                                 ctx.responses and not isinstance(ctx.responses[0], tuple) and
                                 ctx.responses[0].get("connection") is None))
case("own_403_pipelined", "a 403 then a pipelined GET: both answered on the connection",
     req("/admin") + req("/b"), responses=2,
     expect={"status": "403,200", "backend": 1, "client": "open"}, waypoint_only=True)
case("own_403_before_body", "a 403 before an upload's body: connection: close, then closed",
     raw("POST /admin HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n\r\n"),
     expect={"status": "403", "backend": 0, "client": "closed"}, waypoint_only=True,
     check=lambda ctx: ctx.check("connection: close on the 403",
                                 ctx.responses and not isinstance(ctx.responses[0], tuple) and
                                 ctx.responses[0].get("connection") == "close"))

# §1.6: Istio's httpHeadersWithUnderscoresAction (ProxyConfig.connectionSettings), Envoy's
# headers_with_underscores_action: by default a field named x_user is forwarded (Envoy's ALLOW).
UNDERSCORE = req(headers=["X_User: admin", "X-Kept: 1"])
case("underscore_allowed", "by default a field whose name holds '_' is forwarded", UNDERSCORE,
     expect=served(), check=backend_saw(0, "x_user", "admin"), waypoint_only=True)
case("underscore_reject", "httpHeadersWithUnderscoresAction REJECT_REQUEST: 400, closed",
     UNDERSCORE, expect=refused(), waypoint_only=True,
     opts={"mesh": "{connectionSettings: {httpHeadersWithUnderscoresAction: "
                   "HEADERS_WITH_UNDERSCORES_REJECT_REQUEST}}"})
case("underscore_edge_profile", "the EDGE profile refuses them too", UNDERSCORE,
     expect=refused(), waypoint_only=True, opts={"mesh": "{connectionSettings: {profile: EDGE}}"})
case("underscore_drop", "DROP_HEADER: the field is gone before anything sees it, the rest kept",
     UNDERSCORE, expect=served(), waypoint_only=True,
     check=checks(backend_saw(0, "x_user", absent=True), backend_saw(0, "x-kept", "1")),
     opts={"mesh": "{connectionSettings: {httpHeadersWithUnderscoresAction: "
                   "HEADERS_WITH_UNDERSCORES_DROP_HEADER}}"})
case("underscore_reject_h2", "HTTP/2: REJECT_REQUEST answers 400 on the stream", waypoint_only=True,
     steps=h2_steps([(1, request_block(extra=[("x_user", "admin")]), True),
                     (3, request_block("/after"), True)]),
     expect={"status": "1:400,3:200", "backend": 1},
     opts={"mesh": "{connectionSettings: {httpHeadersWithUnderscoresAction: "
                   "HEADERS_WITH_UNDERSCORES_REJECT_REQUEST}}"})

# ---- RequestAuthentication (issue 38 §1.5, §1.6): the WORLD's rule for web (jwt_tokens.py) -----
# Every token a request carries must verify, wherever it is; HAProxy and nginx are not configured
# with JWT: waypoint only.

import jwt_tokens as jt  # noqa: E402

JWT_GOOD = jt.token()
UNAUTHENTICATED = {"status": "401", "backend": 0, "client": "open"}  # §2.1: kept


def bearer(tok):
    return f"Authorization: Bearer {tok}"


case("jwt_valid", "a valid token passes; its Authorization is not forwarded",
     req(headers=[bearer(JWT_GOOD)]), expect=served(),
     check=backend_saw(0, "authorization", absent=True), waypoint_only=True)
case("jwt_forged_param_beside_good", "a valid header token with a forged ?access_token=: 401",
     req(f"/?access_token={jt.FORGED}", headers=[bearer(JWT_GOOD)]),
     expect=UNAUTHENTICATED, waypoint_only=True)
case("jwt_second_authorization_forged", "two Authorization fields, the second forged: 401",
     req(headers=[bearer(JWT_GOOD), bearer(jt.FORGED)]), expect=UNAUTHENTICATED,
     waypoint_only=True)
case("jwt_second_authorization_resigned", "two Authorization fields, the second's signature "
     "another token's: 401",
     req(headers=[bearer(JWT_GOOD),
                  bearer(jt.token("admin").rsplit(".", 1)[0] + "." +
                         JWT_GOOD.rsplit(".", 1)[1])]),
     expect=UNAUTHENTICATED, waypoint_only=True)
case("jwt_exp_out_of_range", "exp 1e400 (not a 64-bit integer; never expiring if wrapped): 401",
     req(headers=[bearer(jt.sign('{"iss":"%s","sub":"alice","exp":1e400}' % jt.ISS))]),
     expect=UNAUTHENTICATED, waypoint_only=True)
case("jwt_crit", "a JOSE header with crit (an extension the waypoint does not know): 401",
     req(headers=[bearer(jt.sign({"iss": jt.ISS, "sub": "alice"},
                                 {"alg": "RS256", "kid": jt.KID, "crit": ["exp"],
                                  "exp": 1}))]),
     expect=UNAUTHENTICATED, waypoint_only=True)
case("jwt_again", "the same token twice on one connection (the second from the worker's cache)",
     req(headers=[bearer(JWT_GOOD)]) + req(headers=[bearer(JWT_GOOD)]), responses=2,
     expect=served("200,200", 2), waypoint_only=True)


# ---- issue 41 §2: the keep-alive race (istio/istio#54063, #60767; envoyproxy/envoy#1979) -----
# The backend closes a pooled connection just as the router writes the next request on it: made
# deterministic here by a backend that reads that request and then closes (FIN or RST) without a
# byte of answer, as a server whose idle timer fired a moment before does. A request that heard
# nothing back on a reused connection goes once more on a new one when that is safe (an
# idempotent method, or nothing written: RFC 9112 §9.3.1); anything else stays the router's 503.

def reused_closes(after, method="GET", body=b"", answer=b""):
    """Client A's GET /a is answered; client B's request rides A's pooled connection, which the
    backend closes (@after) having sent @answer of a response. Any later request is answered."""
    seen = {}

    def backend(r):
        n = seen[r.conn] = seen.get(r.conn, 0) + 1
        if n == 2 and r.target == "/b":
            return Answer(answer, after=after)
        return ok(r)

    def steps(ctx):
        seen.clear()
        gb, reqs, result = pooled_then_reused(ctx, "", "request", method, body)
        if len(reqs) > 2:
            ctx.check("client B got the backend's answer to B's second try",
                      bool(gb) and not isinstance(gb[0], tuple) and
                      gb[0].body.startswith(f"{method} /b".encode()))
        return result
    return backend, steps


def pooled_then_reused(ctx, prefix, what, method, body):
    """Client A's GET PREFIX/a, then client B's METHOD PREFIX/b, which must ride A's pooled
    connection first and, if tried again, a new one. Returns B's answers, the backend's
    requests and the case's result."""
    a = ctx.client()
    a.send(req(f"{prefix}/a"))
    ga = a.recv(1)
    b = ctx.client()
    b.send(req(f"{prefix}/b", method, body=body))
    gb = b.recv(1)
    ctx.responses = ga + gb
    conns, reqs = ctx.backend.snapshot()
    target = f"{prefix}/b"
    ctx.check(f"B's {what} rode A's pooled connection first",
              len(reqs) >= 2 and reqs[1].target == target and reqs[1].conn == reqs[0].conn)
    if len(reqs) > 2:
        ctx.check("B's second try went on a new connection",
                  reqs[2].target == target and reqs[2].conn != reqs[1].conn)
    return gb, reqs, {"status": harness_statuses(ga) + ";" + harness_statuses(gb)}


b, s = reused_closes("close")
case("stale_pooled_fin", "a pooled connection closed (FIN) under a GET: sent again on a new one",
     backend=b, steps=s, expect={"status": "200;200", "backend": 3}, waypoint_only=True)
b, s = reused_closes("reset")
case("stale_pooled_rst", "a pooled connection reset under a GET: sent again on a new one",
     backend=b, steps=s, expect={"status": "200;200", "backend": 3}, waypoint_only=True)
b, s = reused_closes("close", "PUT", b"hello")
case("stale_pooled_put", "the same under a PUT with a body (idempotent, body kept): sent again",
     backend=b, steps=s, expect={"status": "200;200", "backend": 3}, waypoint_only=True)
b, s = reused_closes("close", "POST", b"hello")
case("stale_pooled_post", "the same under a POST (may have been taken): 503, not sent again",
     backend=b, steps=s, expect={"status": "200;503", "backend": 2}, waypoint_only=True)
b, s = reused_closes("close", answer=b"HTTP/1.1 200 OK\r\n")
case("stale_pooled_heard", "a pooled connection closed after a byte of the answer: 503, not again",
     backend=b, steps=s, expect={"status": "200;503", "backend": 2}, waypoint_only=True)


# The same race on a pooled HTTP/2 upstream connection (a Service port named http2): the server
# goes idle with a GOAWAY naming the last stream it answered, just as the router opens the next
# one on it; that stream was refused unprocessed (RFC 9113 §6.8), so any method goes again on a
# new connection. A connection that closes without a GOAWAY may have taken the request: as
# HTTP/1's, only an idempotent one goes again.
def h2_reused_closes(after, method="GET", body=b""):
    def backend(r):  # B's stream on A's connection; a new connection's first is answered
        return Answer(after=after) if r.target == "/h2/b" and r.sid > 1 else Answer()
    backend.h2 = True

    def steps(ctx):
        return pooled_then_reused(ctx, "/h2", "HTTP/2 stream", method, body)[2]
    return backend, steps


b, s = h2_reused_closes("goaway")
case("stale_pooled_h2_goaway", "a pooled HTTP/2 connection's GOAWAY under a GET: sent again",
     backend=b, steps=s, expect={"status": "200;200", "backend": 3}, waypoint_only=True)
b, s = h2_reused_closes("goaway", "POST", b"hello")
case("stale_pooled_h2_goaway_post", "the same under a POST (refused unprocessed): sent again",
     backend=b, steps=s, expect={"status": "200;200", "backend": 3}, waypoint_only=True)
b, s = h2_reused_closes("close")
case("stale_pooled_h2_fin", "a pooled HTTP/2 connection closed (no GOAWAY) under a GET: sent again",
     backend=b, steps=s, expect={"status": "200;200", "backend": 3}, waypoint_only=True)
b, s = h2_reused_closes("close", "POST", b"hello")
case("stale_pooled_h2_fin_post", "the same under a POST (may have been taken): 503, not again",
     backend=b, steps=s, expect={"status": "200;503", "backend": 2}, waypoint_only=True)
