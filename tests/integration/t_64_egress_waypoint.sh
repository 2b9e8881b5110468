#!/usr/bin/env bash
# Egress through a waypoint, as Istio documents it (docs/ambient/usage/egress-gateway): the
# ServiceEntries of namespace egress are bound to its waypoint (`waypoint apply
# --enroll-namespace`), so a mesh pod's plain HTTP to an external host goes client ztunnel ->
# waypoint (HBONE), which applies the L7 config of the host and leaves over TLS where a
# DestinationRule originates it. The servers are outside the mesh on the fabric: a TLS server
# (Python's ssl) that answers with the SNI it was asked and the client certificate it saw, a
# plain HTTP one, and nginx speaking HTTP/2 over TLS; the fabric's dnsmasq resolves the external
# names for the ztunnel and the waypoint. Checked: SIMPLE origination with the CA from
# credentialName (the SAN checked against the host), MUTUAL with the client certificate from
# credentialName, HTTP/2 with ALPN h2 and the DestinationRule's sni, a server whose certificate
# lacks the name refused (503), a host resolved by DNS, STATIC ones, one of resolution NONE
# (the app's own destination address) and a DYNAMIC_DNS wildcard (each request's Host resolved
# by the waypoint; a name that does not resolve 503 DF, a Host outside it refused), a
# VirtualService fault
# and an AuthorizationPolicy DENY with targetRefs to a ServiceEntry, and the waypoint's metrics
# naming the external host.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl python3 openssl dnsmasq nginx
cluster_up manifests

EXT=$FABRIC_IP
DIR=$(mktemp -d /tmp/ambit-it-egress-XXXXXX)
cleanup_dir() { rm -rf "$DIR"; }
trap 'cleanup_dir; on_exit' EXIT

# ---- certificates: a CA, the servers' (SANs), a client's ----
cd "$DIR" || fail "no $DIR"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
	-subj "/CN=egress test CA" 2>/dev/null || fail "CA"
leaf() { # NAME SUBJECT_ALT_NAME
	openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null &&
		printf 'subjectAltName=%s\n' "$2" >"$1.ext" &&
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile "$1.ext" -out "$1.crt" 2>/dev/null || fail "certificate $1"
}
leaf secure "DNS:secure.example.com,DNS:mtls.example.com"
leaf client "URI:spiffe://egress.test/client"
cd - >/dev/null || true

# ---- the fabric: DNS, a TLS server (one-way on 18443, mutual on 18444), plain HTTP ----
printf '%s secure.example.com mtls.example.com wrong.example.com a.dyn.example.com\n' "$EXT" >"$DIR/hosts"
chmod 755 "$DIR" && chmod 644 "$DIR/hosts"
fabric_bg dnsmasq --keep-in-foreground --listen-address="$EXT" --bind-interfaces --port=53 \
	--no-resolv --no-hosts --local=/example.com/ --addn-hosts="$DIR/hosts" \
	--pid-file="$DIR/dnsmasq.pid" --log-facility="$DIR/dnsmasq.log" --log-queries
cat >"$DIR/tls_server.py" <<'PYEOF'
import http.server, ssl, sys
port, cert, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
mutual = sys.argv[5] == "mutual"
snis = {}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        peer = self.connection.getpeercert()
        who = "none"
        for kind, value in (peer or {}).get("subjectAltName", ()):
            who = value
        body = ("tls-ok port=%d sni=%s client=%s path=%s\n" % (
            port, snis.get(id(self.connection), "-"), who, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if mutual:
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
def on_sni(sock, name, c):
    snis[id(sock)] = name
ctx.sni_callback = on_sni
srv = http.server.ThreadingHTTPServer(("10.99.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PYEOF
fabric_bg python3 "$DIR/tls_server.py" 18443 "$DIR/secure.crt" "$DIR/secure.key" "$DIR/ca.crt" simple
fabric_bg python3 "$DIR/tls_server.py" 18444 "$DIR/secure.crt" "$DIR/secure.key" "$DIR/ca.crt" mutual
fabric_http 18080 ext-plain
# HTTP/2 over TLS (ALPN h2): nginx.
mkdir -p "$DIR/nginx"
cat >"$DIR/nginx.conf" <<EOF
error_log $DIR/nginx/error.log;
pid $DIR/nginx/nginx.pid;
events {}
http {
  access_log off;
  client_body_temp_path $DIR/nginx; proxy_temp_path $DIR/nginx; fastcgi_temp_path $DIR/nginx;
  uwsgi_temp_path $DIR/nginx; scgi_temp_path $DIR/nginx;
  server {
    listen $EXT:18445 ssl http2;
    ssl_certificate $DIR/secure.crt;
    ssl_certificate_key $DIR/secure.key;
    location / { return 200 "h2-ok \$server_protocol sni=\$ssl_server_name\n"; }
  }
}
EOF
fabric_bg nginx -c "$DIR/nginx.conf" -g 'daemon off;'
nginx_up() { ip netns exec "ambit-$CLUSTER-fabric" ss -ltn | grep -q "$EXT:18445"; }
wait_for 10 nginx_up || fail "nginx never listened: $(cat "$DIR/nginx/error.log" 2>&1)"

get() { pod_exec mesh/client-0 curl -sS --max-time 8 "$@"; }
code() { pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 8 "$@"; }
b64() { base64 -w0 <"$DIR/$1"; }

wait_for 30 get http://server/ || fail "the mesh never came up"

# ---- namespace egress: the entries, their waypoint, the TLS credentials ----
actl apply -f - >&2 <<EOF || fail "apply namespace egress"
apiVersion: v1
kind: Namespace
metadata: {name: egress}
---
apiVersion: v1
kind: Secret
metadata: {name: egress-ca, namespace: egress}
data: {ca.crt: $(b64 ca.crt)}
---
apiVersion: v1
kind: Secret
metadata: {name: egress-client, namespace: egress}
type: kubernetes.io/tls
data: {tls.crt: $(b64 client.crt), tls.key: $(b64 client.key), ca.crt: $(b64 ca.crt)}
EOF
out=$(actl waypoint apply -n egress --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n egress | grep -Eq '^egress +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the egress waypoint never ran: $(actl waypoint list -n egress)"
actl apply -f - >&2 <<EOF || fail "apply the ServiceEntries"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure, namespace: egress}
spec:
  hosts: [secure.example.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18443}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: secure, namespace: egress}
spec:
  host: secure.example.com
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: egress-ca}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mtls, namespace: egress}
spec:
  hosts: [mtls.example.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18444}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mtls, namespace: egress}
spec:
  host: mtls.example.com
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: egress-client}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: h2, namespace: egress}
spec:
  hosts: [h2.example.com]
  ports: [{number: 80, name: http2, protocol: HTTP2, targetPort: 18445}]
  resolution: STATIC
  endpoints: [{address: $EXT}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: h2, namespace: egress}
spec:
  host: h2.example.com
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: egress-ca, sni: secure.example.com}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: by-address, namespace: egress}
spec:
  hosts: [fabric.example.internal]
  addresses: [$EXT/32]
  ports: [{number: 18443, name: http, protocol: HTTP}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: by-address, namespace: egress}
spec:
  host: fabric.example.internal
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: egress-ca, sni: secure.example.com}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dynamic, namespace: egress}
spec:
  hosts: ["*.dyn.example.com"]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18080}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wrong, namespace: egress}
spec:
  hosts: [wrong.example.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18443}]
  resolution: STATIC
  endpoints: [{address: $EXT}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: wrong, namespace: egress}
spec:
  host: wrong.example.com
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: egress-ca}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: plain, namespace: egress}
spec:
  hosts: [plain.example.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18080}]
  resolution: STATIC
  endpoints: [{address: $EXT}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: plain, namespace: egress}
spec:
  hosts: [plain.example.com]
  http:
  - match: [{uri: {prefix: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: plain.example.com}}]
  - route: [{destination: {host: plain.example.com}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: plain-deny, namespace: egress}
spec:
  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: plain}]
  action: DENY
  rules: [{to: [{operation: {paths: [/secret]}}]}]
EOF

# ---- SIMPLE: plain HTTP from the app, TLS from the waypoint, the CA from credentialName ----
secure_up() { get http://secure.example.com/hello | grep -q tls-ok; }
wait_for 60 secure_up || fail "secure.example.com never answered: $(get http://secure.example.com/hello 2>&1)
dnsmasq: $(grep -v "$EXT " "$DIR/dnsmasq.log" | tail -30)
waypoint: $(actl local logs egress/waypoint-0 | tail -20)"
out=$(get http://secure.example.com/hello) || fail "secure.example.com: $out"
expect_contains "$out" "tls-ok port=18443 sni=secure.example.com client=none path=/hello"
# Through the waypoint, not straight out: its metrics name the host.
wp_metrics() { actl local exec egress/waypoint-0 -- curl -s http://127.0.0.1:15020/stats/prometheus; }
m=$(wp_metrics)
[ "$(metric_sum "$m" istio_requests_total 'destination_service="secure.example.com"' \
	'response_code="200"')" -ge 1 ] ||
	fail "the waypoint counted no request to secure.example.com: $(grep secure <<<"$m" | head -5)"

# ---- MUTUAL: the client certificate from credentialName ----
out=$(get http://mtls.example.com/m) || fail "mtls.example.com: $out"
expect_contains "$out" "tls-ok port=18444 sni=mtls.example.com client=spiffe://egress.test/client"

# ---- an HTTP2 port (the app speaks h2c): TLS with ALPN h2 upstream, the DestinationRule's sni ----
out=$(get --http2-prior-knowledge http://h2.example.com/) || fail "h2.example.com: $out"
expect_contains "$out" "h2-ok HTTP/2.0 sni=secure.example.com"

# ---- resolution NONE: the address the app asked for, plain HTTP there, TLS from the waypoint ----
out=$(get "http://$EXT:18443/none") || fail "the NONE entry: $out"
expect_contains "$out" "tls-ok port=18443 sni=secure.example.com client=none path=/none"

# ---- DYNAMIC_DNS: any name under the wildcard, resolved by the waypoint per request ----
expect_eq "$(pod_exec mesh/client-0 getent hosts a.dyn.example.com | awk '{print $1}')" \
	"$(pod_exec mesh/client-0 getent hosts zz.dyn.example.com | awk '{print $1}')" \
	"the names under a DYNAMIC_DNS wildcard share its address"
out=$(get http://a.dyn.example.com/) || fail "a.dyn.example.com: $out"
expect_contains "$out" "ext-plain"
# The client's lookups were the proxy's (the wildcard's address): the resolver heard the name
# from the waypoint, through the cluster's DNS (its queries leave from the fabric's address).
grep -q "query\[A\] a.dyn.example.com from $FABRIC_IP" "$DIR/dnsmasq.log" ||
	fail "the waypoint did not resolve the request's host: $(cat "$DIR/dnsmasq.log")"
expect_eq "$(code http://zz.dyn.example.com/)" 503 "a name under the wildcard that does not resolve"
expect_contains "$(actl local logs egress/waypoint-0 | grep zz.dyn.example.com | tail -1)" " DF " \
	"a DNS failure is flagged DF"
expect_eq "$(code -H 'Host: evil.test' http://a.dyn.example.com/)" 503 "a Host outside the wildcard"

# ---- a server whose certificate does not name the host: refused ----
expect_eq "$(code http://wrong.example.com/)" 503 "a certificate without the host's name"

# ---- the L7 config of an entry: a fault, a DENY policy, the rest routed ----
wait_for 30 get http://plain.example.com/ || fail "plain.example.com never answered"
expect_contains "$(get http://plain.example.com/)" "ext-plain"
expect_eq "$(code http://plain.example.com/teapot)" 418 "VirtualService fault on the entry"
expect_eq "$(code http://plain.example.com/secret)" 403 "AuthorizationPolicy DENY on the entry"
grep -q "query\[A\] secure.example.com from $FABRIC_IP" "$DIR/dnsmasq.log" ||
	fail "the waypoint never resolved secure.example.com: $(cat "$DIR/dnsmasq.log")"
pass
