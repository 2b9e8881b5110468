#!/usr/bin/python3
# An HBONE client written from the wire as Istio's ztunnel speaks it, independent of ambit's own
# code (Debian's python3-h2 and Python's ssl): TLS 1.3 only, ALPN h2, no SNI, a client
# certificate of a mesh identity; each tunnel is one CONNECT carrying only :method and
# :authority plus ztunnel's `baggage`, `forwarded` and `traceparent`, all on one connection.
#
#   hbone_client.py --connect IP:PORT --cert C --key K --ca ROOT [--expect-san URI]
#                   [--forwarded F] [--network N] [--timeout S] AUTHORITY[=PAYLOAD]...
#
# --network N: the inner CONNECT of Istio's double HBONE, as a ztunnel of network N sends it
# through an east-west gateway (`x-forwarded-network: N`; the authority is then the Service's
# `<hostname>:<port>`).
#
# Prints one JSON line for the connection ({"tls", "alpn", "peer_san"}) and one per CONNECT,
# opened in order once the previous one ended ({"stream", "authority", "status", "baggage",
# "reply"}: the 200's `baggage`, and what came back through the tunnel after PAYLOAD went in).
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
import h2.events
import h2.exceptions

# What Istio's ztunnel sends about its client pod (src/baggage.rs), and a W3C traceparent.
BAGGAGE = ("k8s.cluster.name=Kubernetes,k8s.namespace.name=mesh,"
           "k8s.deployment.name=client,service.name=client,service.version=v1")


def tls_connect(a):
    host, port = a.connect.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["h2"])
    # The server proves a SPIFFE identity in a URI SAN, not a host name; no SNI is sent.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    raw = socket.create_connection((host, int(port)), timeout=a.timeout)
    s = ctx.wrap_socket(raw, server_hostname=None)
    sans = [v for k, v in s.getpeercert().get("subjectAltName", ()) if k == "URI"]
    info = {"tls": s.version(), "alpn": s.selected_alpn_protocol(), "peer_san": sans}
    print(json.dumps(info), flush=True)
    if s.version() != "TLSv1.3" or s.selected_alpn_protocol() != "h2":
        raise ssl.SSLError("not TLS 1.3 with h2")
    if a.expect_san and a.expect_san not in sans:
        raise ssl.SSLError("peer is not " + a.expect_san)
    return s


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


def tunnel(sock, conn, authority, payload, a):
    sid = conn.get_next_available_stream_id()
    tp = "00-%s-%s-00" % (os.urandom(16).hex(), os.urandom(8).hex())
    headers = [(":method", "CONNECT"), (":authority", authority), ("baggage", BAGGAGE),
               ("forwarded", a.forwarded), ("traceparent", tp)]
    if a.network:
        headers.append(("x-forwarded-network", a.network))
    conn.send_headers(sid, headers)
    out = {"stream": sid, "authority": authority, "status": None, "baggage": None, "reply": ""}

    def mine(ev):
        return getattr(ev, "stream_id", None) == sid

    def answered(ev):
        return mine(ev) and isinstance(ev, (h2.events.ResponseReceived, h2.events.StreamEnded,
                                            h2.events.StreamReset))

    def over(ev):
        return mine(ev) and isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset))

    events = pump(sock, conn, answered, a.timeout)
    for ev in events:
        if mine(ev) and isinstance(ev, h2.events.ResponseReceived):
            h = dict(ev.headers)
            out["status"] = int(h[":status"])
            out["baggage"] = h.get("baggage")
        if mine(ev) and isinstance(ev, h2.events.StreamReset):
            out["reset"] = ev.error_code
    if out["status"] == 200 and not any(over(ev) for ev in events):
        if payload:
            conn.send_data(sid, payload.encode())
        reply = b""
        for ev in pump(sock, conn, over, a.timeout):
            if mine(ev) and isinstance(ev, h2.events.DataReceived):
                reply += ev.data
            if mine(ev) and isinstance(ev, h2.events.StreamReset):
                out["reset"] = ev.error_code
        out["reply"] = reply.decode(errors="replace")
        # The server's side ended (its pod closed): ours ends too, the stream is done.
        try:
            conn.end_stream(sid)
            sock.sendall(conn.data_to_send())
        except h2.exceptions.ProtocolError:
            pass
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
    p.add_argument("streams", nargs="+", metavar="AUTHORITY[=PAYLOAD]")
    a = p.parse_args()
    try:
        sock = tls_connect(a)
        # h2 4.1 checks what it sends as an ordinary request (:scheme, :path); a CONNECT has
        # neither (RFC 9113 §8.5). The server's answers are still checked.
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=False)
        conn = h2.connection.H2Connection(cfg)
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
    except (OSError, ssl.SSLError) as e:
        print(json.dumps({"error": "tls: %s" % e}), flush=True)
        return 2
    try:
        for s in a.streams:
            authority, _, payload = s.partition("=")
            tunnel(sock, conn, authority, payload.replace("\\r\\n", "\r\n"), a)
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
