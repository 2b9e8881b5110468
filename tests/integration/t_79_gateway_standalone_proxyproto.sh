#!/usr/bin/env bash
# PROXY protocol at the ingress gateway, run standalone (`waypoint --config` on its model, as
# t_79_gateway_standalone.sh): with the mesh config's defaultConfig.gatewayTopology.proxyProtocol
# every listener (plaintext and HTTPS) reads a v1 or v2 header first, and its source address is
# the client: the AuthorizationPolicy's ipBlocks allow or deny by it, the backend sees it in
# X-Forwarded-For, the access log prints it; a v2 LOCAL header keeps the real peer; a
# connection without a header is closed. Without the setting a PROXY header is no HTTP (400).
# In a network namespace of its own.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gateway_standalone_lib.sh"
gw_standalone_setup "$@"

# The backend answers with the X-Forwarded-For it received.
cat >"$tmp/echo.py" <<'PY'
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = ("xff=%s\n" % self.headers.get("X-Forwarded-For", "")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.2", 18080), H).serve_forever()
PY
python3 "$tmp/echo.py" &
pids+=($!)
wait_for 20 curl -sf http://127.0.0.2:18080/ || fail "the backend is not up"

# A client writing its own PROXY header: v1 or v2, the source it claims (or "local": a v2
# LOCAL header, "none": no header), then GET / over TLS or not. Prints the status code and
# the body; "closed" when the gateway closes the connection without an answer.
cat >"$tmp/ppget.py" <<'PY'
import socket, ssl, struct, sys
ver, src, port, tls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "tls"
if src == "none":
    hdr = b""
elif ver == "v1":
    hdr = ("PROXY TCP4 %s 127.0.0.1 40000 %d\r\n" % (src, port)).encode()
else:
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    tlv = b"\xea\x00\x05\x01vpce" + b"\x01\x00\x08http/1.1"
    if src == "local":
        hdr = sig + b"\x20\x00" + struct.pack(">H", len(tlv)) + tlv
    else:
        body = socket.inet_aton(src) + socket.inet_aton("127.0.0.1") + struct.pack(">HH", 40000, port) + tlv
        hdr = sig + b"\x21\x11" + struct.pack(">H", len(body)) + body
s = socket.create_connection(("127.0.0.1", port), timeout=5)
try:
    # In two pieces, as a slow balancer may write it.
    s.sendall(hdr[:7])
    s.sendall(hdr[7:])
    if tls:
        ctx = ssl.create_default_context(cafile=sys.argv[5])
        s = ctx.wrap_socket(s, server_hostname="gw.test")
    s.sendall(b"GET / HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except (ConnectionError, ssl.SSLError, socket.timeout):
    data = b""
if not data:
    print("closed")
    sys.exit(0)
head, _, body = data.partition(b"\r\n\r\n")
print(head.split(b" ")[1].decode())
sys.stdout.write(body.decode(errors="replace"))
PY
pp() { python3 "$tmp/ppget.py" "$@" "$tmp/cert.pem"; }

# @1: the mesh config's text (empty: no ConfigMap).
world() {
	if [ -n "$1" ]; then
		cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
$1
---
YAML
	fi
	gw_world "  - {port: {number: 18081, name: http, protocol: HTTP}, hosts: [gw.test]}
  - {port: {number: 18443, name: https, protocol: HTTPS}, hosts: [gw.test], tls: {mode: SIMPLE, credentialName: cred}}"
	gw_ingress_policy "[{from: [{source: {ipBlocks: [203.0.113.0/24, 127.0.0.1/32]}}]}]"
}

gw_start "    defaultConfig:
      gatewayTopology: {proxyProtocol: {}}" "$tmp/access.log"
expect_contains "$(tr -d ' \t' <"$tmp/gw.json")" '"proxyProtocol":true'
wait_for 10 sh -c "python3 $tmp/ppget.py v1 203.0.113.7 18081 plain | grep -q '^200'" ||
	fail "the gateway does not answer on 18081"

# v1 and v2, plaintext and TLS: the claimed source is the client.
expect_eq "$(pp v1 203.0.113.7 18081 plain)" "200
xff=203.0.113.7"
expect_eq "$(pp v2 203.0.113.8 18081 plain)" "200
xff=203.0.113.8"
expect_eq "$(pp v1 203.0.113.9 18443 tls)" "200
xff=203.0.113.9"
expect_eq "$(pp v2 203.0.113.10 18443 tls)" "200
xff=203.0.113.10"
log "v1 and v2 headers, plaintext and TLS: 200, X-Forwarded-For is the header's source"
# ipBlocks by the header's source, not the real peer (127.0.0.1, which the policy allows).
expect_eq "$(pp v1 198.51.100.9 18081 plain | sed -n 1p)" 403
expect_eq "$(pp v2 198.51.100.9 18443 tls | sed -n 1p)" 403
log "ipBlocks: a source outside them is denied (403) though the real peer is allowed"
# v2 LOCAL: the real peer stands.
expect_eq "$(pp v2 local 18081 plain)" "200
xff=127.0.0.1"
# curl's own v1 header (its real addresses) before TLS.
expect_eq "$(curl -s --max-time 3 --haproxy-protocol --cacert "$tmp/cert.pem" \
	--resolve gw.test:18443:127.0.0.1 https://gw.test:18443/)" "xff=127.0.0.1"
log "v2 LOCAL keeps the real peer; curl --haproxy-protocol over TLS works"
# No header: closed, plaintext and TLS.
expect_eq "$(pp v1 none 18081 plain)" closed
expect_eq "$(pp v1 none 18443 tls)" closed
expect_eq "$(curl -s -o /dev/null --max-time 3 -w '%{http_code}' -H 'Host: gw.test' \
	http://127.0.0.1:18081/)" 000
log "a connection without a PROXY header is closed"
# The access log's downstream address is the header's.
expect_contains "$(cat "$tmp/access.log")" "203.0.113.7:40000"
expect_contains "$(cat "$tmp/access.log")" "198.51.100.9:40000"
log "the access log prints the header's source"
gw_stop

# Without proxyProtocol: the header is not consumed, and is no HTTP request.
gw_start "" "$tmp/access.log"
wait_for 10 curl -s -o /dev/null --max-time 3 -H 'Host: gw.test' http://127.0.0.1:18081/ ||
	fail "the gateway without proxyProtocol does not answer"
expect_eq "$(curl -s -o /dev/null --max-time 3 -w '%{http_code}' -H 'Host: gw.test' \
	http://127.0.0.1:18081/)" 200
expect_eq "$(pp v1 203.0.113.7 18081 plain | sed -n 1p)" 400
log "without proxyProtocol: a plain request is served, a PROXY header is a 400"
gw_stop
pass
