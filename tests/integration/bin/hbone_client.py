#!/usr/bin/python3
# An HBONE client written from the wire as Istio's ztunnel speaks it, independent of ambit's own
# code (Debian's python3-h2 and Python's ssl): TLS 1.3 only, ALPN h2, no SNI, a client
# certificate of a mesh identity; each tunnel is one CONNECT carrying only :method and
# :authority plus ztunnel's `baggage`, `forwarded` and `traceparent`, all on one connection.
#
#   hbone_client.py --connect IP:PORT --cert C --key K --ca ROOT [--expect-san URI]
#                   [--forwarded F] [--network N] [--timeout S]
#                   [--via-gateway [--inner-san URI] [--inner-ca ROOT]] AUTHORITY[=PAYLOAD]...
#
# --network N: the inner CONNECT of Istio's double HBONE, as a ztunnel of network N sends it
# through an east-west gateway (`x-forwarded-network: N`; the authority is then the Service's
# `<hostname>:<port>`). Without --via-gateway it is the only CONNECT, as the gateway passes it
# on; with it, the inner one below (the outer one never carries it).
#
# --via-gateway: the whole of Istio's double HBONE, as its ztunnel opens it through an east-west
# gateway. --connect, --ca and --expect-san are then the gateway's, and each AUTHORITY is first
# an outer CONNECT to it. Once that answers 200, a second TLS 1.3 (ALPN h2, no SNI, the same
# client certificate) runs inside that stream's bytes to the destination's ztunnel, its peer
# checked against --inner-ca (--ca unless given) and, when given, the URI SAN --inner-san; over
# it a second HTTP/2 connection sends the inner CONNECT to the same AUTHORITY, and PAYLOAD goes
# through that. Each stream has its own inner TLS and HTTP/2, closed when it ends (Istio's
# client pools no inner connection), and the outer stream ends with them.
#
# Prints one JSON line for the connection ({"tls", "alpn", "peer_san"}) and one per CONNECT,
# opened in order once the previous one ended ({"stream", "authority", "status", "baggage",
# "reply"}: the 200's `baggage`, and what came back through the tunnel after PAYLOAD went in).
# With --via-gateway the connection's line is the gateway's, and each stream's line is the outer
# stream's ("stream") with "status" and "baggage" of the outer answer when it was not 200, else
# of the inner one; it adds "outer_status", "inner_status", "inner_tls" and "inner_peer_san"
# (the inner peer's URI SAN), each null where not reached, "inner_error" when the inner TLS
# failed (its handshake, the peer not --inner-san, or the peer refusing our certificate, which
# TLS 1.3 tells after the handshake; the next stream is still opened on the same outer
# connection), and "outer_reset" when the gateway reset the outer stream after its 200.
#
# --udp: each AUTHORITY is a CONNECT-UDP flow (RFC 9298) as an extended CONNECT (RFC 8441:
# :protocol connect-udp, :scheme https, :path the well-known template naming AUTHORITY, and
# capsule-protocol), sent only once the server's SETTINGS enabled extended CONNECT (else the
# stream's line says "no_extended_connect"). PAYLOAD is datagrams separated by '|', each sent as
# a DATAGRAM capsule (RFC 9297, context ID 0); the line's "replies" are the payloads of the
# DATAGRAM capsules that came back (as many as were sent, or what came before --timeout),
# "capsule_protocol" the 200's header, and "ended" whether the server ended its side after ours.
# Exit 0, 2 when TLS or HTTP/2 could not be set up (refused handshake, wrong peer), 1 on usage.
import argparse
import json
import os
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

# What Istio's ztunnel sends about its client pod (src/baggage.rs), and a W3C traceparent.
BAGGAGE = ("k8s.cluster.name=Kubernetes,k8s.namespace.name=mesh,"
           "k8s.deployment.name=client,service.name=client,service.version=v1")


def tls_context(a, ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["h2"])
    # The server proves a SPIFFE identity in a URI SAN, not a host name; no SNI is sent.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(a.cert, a.key)
    return ctx


def uri_sans(s):
    return [v for k, v in s.getpeercert().get("subjectAltName", ()) if k == "URI"]


def tls_connect(a):
    host, port = a.connect.rsplit(":", 1)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [v6]:port
    ctx = tls_context(a, a.ca)
    raw = socket.create_connection((host, int(port)), timeout=a.timeout)
    s = ctx.wrap_socket(raw, server_hostname=None)
    sans = uri_sans(s)
    info = {"tls": s.version(), "alpn": s.selected_alpn_protocol(), "peer_san": sans}
    print(json.dumps(info), flush=True)
    if s.version() != "TLSv1.3" or s.selected_alpn_protocol() != "h2":
        raise ssl.SSLError("not TLS 1.3 with h2")
    if a.expect_san and a.expect_san not in sans:
        raise ssl.SSLError("peer is not " + a.expect_san)
    return s


def h2_client(sock):
    # h2 4.1 checks what it sends as an ordinary request (:scheme, :path); a CONNECT has
    # neither (RFC 9113 §8.5). The server's answers are still checked.
    cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                    validate_outbound_headers=False)
    conn = h2.connection.H2Connection(cfg)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return conn


def pump(sock, conn, until, timeout):
    """Reads frames until until(event) says the stream is over; returns the events seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        sock.sendall(conn.data_to_send())
        left = deadline - time.monotonic()
        if left <= 0:
            seen.append("timeout")
            return seen
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            seen.append("eof")
            return seen
        for ev in conn.receive_data(data):
            seen.append(ev)
            if isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if until(ev) or isinstance(ev, h2.events.ConnectionTerminated):
                sock.sendall(conn.data_to_send())
                return seen


def on(sid, ev, *kinds):
    return getattr(ev, "stream_id", None) == sid and isinstance(ev, kinds)


def connect(sock, conn, authority, network, a):
    """Sends a CONNECT and reads its answer: the stream, its line so far, and whether the
    tunnel is open (a 200 that did not end the stream)."""
    sid = conn.get_next_available_stream_id()
    tp = "00-%s-%s-00" % (os.urandom(16).hex(), os.urandom(8).hex())
    headers = [(":method", "CONNECT"), (":authority", authority), ("baggage", BAGGAGE),
               ("forwarded", a.forwarded), ("traceparent", tp)]
    if network:
        headers.append(("x-forwarded-network", network))
    conn.send_headers(sid, headers)
    out = {"stream": sid, "authority": authority, "status": None, "baggage": None, "reply": ""}
    ends = (h2.events.StreamEnded, h2.events.StreamReset)
    events = pump(sock, conn, lambda ev: on(sid, ev, h2.events.ResponseReceived, *ends),
                  a.timeout)
    for ev in events:
        if on(sid, ev, h2.events.ResponseReceived):
            h = dict(ev.headers)
            out["status"] = int(h[":status"])
            out["baggage"] = h.get("baggage")
        if on(sid, ev, h2.events.StreamReset):
            out["reset"] = ev.error_code
    return sid, out, out["status"] == 200 and not any(on(sid, ev, *ends) for ev in events)


def carry(sock, conn, sid, payload, out, a):
    """Sends PAYLOAD through an open tunnel and reads what comes back until the stream ends."""
    if payload:
        conn.send_data(sid, payload.encode())
    reply = b""
    ends = (h2.events.StreamEnded, h2.events.StreamReset)
    for ev in pump(sock, conn, lambda ev: on(sid, ev, *ends), a.timeout):
        if on(sid, ev, h2.events.DataReceived):
            reply += ev.data
        if on(sid, ev, h2.events.StreamReset):
            out["reset"] = ev.error_code
    out["reply"] = reply.decode(errors="replace")
    # The server's side ended (its pod closed): ours ends too, the stream is done.
    try:
        conn.end_stream(sid)
        sock.sendall(conn.data_to_send())
    except h2.exceptions.ProtocolError:
        pass


def tunnel(sock, conn, authority, payload, a):
    sid, out, is_open = connect(sock, conn, authority, a.network, a)
    if is_open:
        carry(sock, conn, sid, payload, out, a)
    print(json.dumps(out), flush=True)


class InnerError(Exception):
    """The inner TLS of double HBONE failed; the outer connection is still usable."""


class Inner:
    """The inner TLS of double HBONE, run in memory (ssl.MemoryBIO) inside an outer CONNECT's
    stream: what it writes goes out as that stream's DATA, what the stream's DATA brings is what
    it reads. It stands for the socket under the inner HTTP/2 connection (sendall, settimeout,
    recv, as pump uses them); the outer connection's frames of other streams are only
    acknowledged."""

    def __init__(self, sock, conn, sid, a):
        self.sock, self.conn, self.sid = sock, conn, sid
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = tls_context(a, a.inner_ca or a.ca).wrap_bio(
            self.incoming, self.outgoing, server_hostname=None)
        self.pending = b""     # TLS bytes the outer stream's flow control has not let out yet
        self.ended = False     # the outer stream (or connection) brings nothing more
        self.reset = None      # the outer stream's RST_STREAM code
        self.timeout = a.timeout
        self.deadline = time.monotonic() + a.timeout

    def flush(self):
        """Sends what the TLS wrote as DATA of the outer stream, as far as its window allows."""
        self.pending += self.outgoing.read()
        try:
            while self.pending:
                n = min(len(self.pending), self.conn.local_flow_control_window(self.sid),
                        self.conn.max_outbound_frame_size)
                if n <= 0:
                    break
                self.conn.send_data(self.sid, self.pending[:n])
                self.pending = self.pending[n:]
        except h2.exceptions.ProtocolError:
            self.pending = b""  # the outer stream is closed: nothing more goes out
        self.sock.sendall(self.conn.data_to_send())

    def eof(self):
        if not self.ended:
            self.ended = True
            self.incoming.write_eof()

    def fill(self):
        """Reads the outer connection once, until the deadline (socket.timeout after it)."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            self.eof()
            return
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_id == self.sid and not self.ended:
                    self.incoming.write(ev.data)
            if on(self.sid, ev, h2.events.StreamReset):
                self.reset = ev.error_code
            if (on(self.sid, ev, h2.events.StreamEnded, h2.events.StreamReset)
                    or isinstance(ev, h2.events.ConnectionTerminated)):
                self.eof()
        self.flush()  # acknowledgements, and what a WINDOW_UPDATE now lets out

    def handshake(self):
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                try:
                    self.fill()
                except socket.timeout:
                    raise InnerError("handshake timed out")
            except ssl.SSLError as e:
                self.flush()  # the alert
                raise InnerError(str(e))
        self.flush()

    def settimeout(self, t):
        self.deadline = time.monotonic() + t

    def sendall(self, data):
        try:
            while data:
                data = data[self.tls.write(data):]
        except ssl.SSLError as e:
            raise InnerError(str(e))
        self.flush()

    def recv(self, n):
        """The inner TLS's plaintext; b"" at its end (close_notify, or the outer stream's)."""
        while True:
            try:
                return self.tls.read(n)
            except ssl.SSLWantReadError:
                if self.ended:
                    return b""
                self.fill()  # socket.timeout when the deadline passed, as a socket's recv
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError as e:
                self.flush()
                raise InnerError(str(e))

    def close(self):
        """close_notify, and END_STREAM once the TLS bytes are out."""
        try:
            self.tls.unwrap()
        except ssl.SSLError:
            pass  # SSLWantReadError: the peer's close_notify is not awaited
        self.flush()
        self.settimeout(self.timeout)
        while self.pending and not self.ended:
            try:
                self.fill()
            except socket.timeout:
                break
        try:
            self.conn.end_stream(self.sid)
        except h2.exceptions.ProtocolError:
            pass
        self.sock.sendall(self.conn.data_to_send())

    def abort(self):
        try:
            self.conn.reset_stream(self.sid, h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.ProtocolError:
            pass
        self.sock.sendall(self.conn.data_to_send())


def varint(n):
    """A QUIC variable-length integer (RFC 9000 §16), its shortest form."""
    for size, prefix in ((1, 0), (2, 0x4000), (4, 0x80000000), (8, 0xC000000000000000)):
        if n < 1 << (8 * size - 2):
            return (prefix | n).to_bytes(size, "big")
    raise ValueError(n)


def read_varint(b, i):
    """The varint at b[i:]: (value, next index), or None when b is cut inside it."""
    if i >= len(b):
        return None
    size = 1 << (b[i] >> 6)
    if i + size > len(b):
        return None
    return int.from_bytes(bytes([b[i] & 0x3F]) + b[i + 1:i + size], "big"), i + size


def capsules(buf):
    """The complete DATAGRAM payloads (context ID 0) in buf, and what is left of it."""
    out = []
    while True:
        t = read_varint(buf, 0)
        n = t and read_varint(buf, t[1])
        if not n or n[1] + n[0] > len(buf):
            return out, buf
        value, buf = buf[n[1]:n[1] + n[0]], buf[n[1] + n[0]:]
        ctx = read_varint(value, 0)
        if t[0] == 0 and ctx and ctx[0] == 0:
            out.append(value[ctx[1]:])


def udp_path(authority):
    host, port = authority.rsplit(":", 1)
    host = host[1:-1] if host.startswith("[") else host
    return "/.well-known/masque/udp/%s/%s/" % (host.replace(":", "%3A"), port)


def udp_tunnel(sock, conn, authority, payload, a):
    """A CONNECT-UDP flow: its datagrams out as capsules, the capsules back as datagrams."""
    sid = conn.get_next_available_stream_id()
    out = {"stream": sid, "authority": authority, "status": None, "capsule_protocol": None,
           "replies": [], "ended": False}
    # RFC 8441 §3: only once the server said so in its SETTINGS.
    ext = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
    if not conn.remote_settings.get(ext):  # not yet: the first SETTINGS may still be coming
        pump(sock, conn, lambda ev: isinstance(ev, h2.events.RemoteSettingsChanged),
             a.timeout)
    if not conn.remote_settings.get(ext):
        out["no_extended_connect"] = True
        print(json.dumps(out), flush=True)
        return
    tp = "00-%s-%s-00" % (os.urandom(16).hex(), os.urandom(8).hex())
    conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "connect-udp"),
                            (":scheme", "https"), (":authority", authority),
                            (":path", udp_path(authority)), ("capsule-protocol", "?1"),
                            ("baggage", BAGGAGE), ("forwarded", a.forwarded),
                            ("traceparent", tp)])
    ends = (h2.events.StreamEnded, h2.events.StreamReset)
    events = pump(sock, conn, lambda ev: on(sid, ev, h2.events.ResponseReceived, *ends),
                  a.timeout)
    for ev in events:
        if on(sid, ev, h2.events.ResponseReceived):
            h = dict(ev.headers)
            out["status"] = int(h[":status"])
            out["capsule_protocol"] = h.get("capsule-protocol")
        if on(sid, ev, h2.events.StreamReset):
            out["reset"] = ev.error_code
    if out["status"] == 200 and not any(on(sid, ev, *ends) for ev in events):
        grams = payload.split("|") if payload else []
        for g in grams:
            conn.send_data(sid, b"\x00" + varint(len(g.encode()) + 1) + b"\x00" + g.encode())
        buf = b""

        def until(ev):
            nonlocal buf
            if on(sid, ev, h2.events.DataReceived):
                buf += ev.data
                got, buf = capsules(buf)
                out["replies"] += [r.decode(errors="replace") for r in got]
            return len(out["replies"]) >= len(grams) or on(sid, ev, *ends)
        for ev in pump(sock, conn, until, a.timeout):
            if on(sid, ev, h2.events.StreamReset):
                out["reset"] = ev.error_code
        try:
            conn.end_stream(sid)
        except h2.exceptions.StreamClosedError:
            # The server ended the flow first (its idle time): nothing to end.
            print(json.dumps(out), flush=True)
            return
        for ev in pump(sock, conn, lambda ev: on(sid, ev, *ends), a.timeout):
            if on(sid, ev, h2.events.StreamEnded):
                out["ended"] = True
            if on(sid, ev, h2.events.StreamReset):
                out["reset"] = ev.error_code
    print(json.dumps(out), flush=True)


def double_tunnel(sock, conn, authority, payload, a):
    """Istio's double HBONE: the outer CONNECT to the gateway, inner TLS and HTTP/2 inside it."""
    sid, outer, is_open = connect(sock, conn, authority, None, a)
    out = {"stream": sid, "authority": authority, "status": None, "baggage": None, "reply": "",
           "outer_status": outer["status"], "inner_status": None, "inner_peer_san": None,
           "inner_tls": None}
    inner = Inner(sock, conn, sid, a) if is_open else None
    try:
        if inner:
            inner.handshake()
            sans = uri_sans(inner.tls)
            out["inner_tls"] = inner.tls.version()
            out["inner_peer_san"] = sans[0] if sans else None
            if inner.tls.version() != "TLSv1.3" or inner.tls.selected_alpn_protocol() != "h2":
                raise InnerError("not TLS 1.3 with h2")
            if a.inner_san and a.inner_san not in sans:
                raise InnerError("peer is not " + a.inner_san)
            iconn = h2_client(inner)
            isid, res, is_open = connect(inner, iconn, authority, a.network, a)
            out["inner_status"], out["baggage"] = res["status"], res["baggage"]
            if is_open:
                carry(inner, iconn, isid, payload, res, a)
            out["reply"] = res["reply"]
            if "reset" in res:
                out["reset"] = res["reset"]
            iconn.close_connection()
            inner.sendall(iconn.data_to_send())
            inner.close()
    except InnerError as e:
        out["inner_error"] = str(e)
        inner.abort()
    if outer["status"] != 200:
        out["status"], out["baggage"] = outer["status"], outer["baggage"]
        if "reset" in outer:
            out["reset"] = outer["reset"]
    else:
        out["status"] = out["inner_status"]
    if inner and inner.reset is not None:
        out["outer_reset"] = inner.reset
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--connect", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--expect-san")
    p.add_argument("--forwarded", default="for=\"127.0.0.1:1\"")
    p.add_argument("--network")
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--via-gateway", action="store_true")
    p.add_argument("--inner-san")
    p.add_argument("--inner-ca")
    p.add_argument("--udp", action="store_true")
    p.add_argument("streams", nargs="+", metavar="AUTHORITY[=PAYLOAD]")
    a = p.parse_args()
    if (a.inner_san or a.inner_ca) and not a.via_gateway:
        p.error("--inner-san and --inner-ca go with --via-gateway")
    if a.udp and a.via_gateway:
        p.error("--udp does not go with --via-gateway")
    try:
        sock = tls_connect(a)
        conn = h2_client(sock)
    except (OSError, ssl.SSLError) as e:
        print(json.dumps({"error": "tls: %s" % e}), flush=True)
        return 2
    try:
        for s in a.streams:
            authority, _, payload = s.partition("=")
            if a.udp:
                udp_tunnel(sock, conn, authority, payload, a)
                continue
            (double_tunnel if a.via_gateway else tunnel)(
                sock, conn, authority, payload.replace("\\r\\n", "\r\n"), a)
    except (OSError, ssl.SSLError) as e:
        # TLS 1.3 sends the server's verdict on our certificate after the handshake returned.
        print(json.dumps({"error": "connection: %s" % e}), flush=True)
        return 2
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
