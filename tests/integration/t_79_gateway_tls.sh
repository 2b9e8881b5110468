#!/usr/bin/env bash
# TLS at the ingress gateway, as Istio's "Secure Gateways" task does it: a CA and a server
# certificate made with openssl, a kubernetes.io/tls Secret in istio-system made with
# `ambitctl create secret tls` (kubectl's command), a Gateway server on
# 443 (HTTPS, tls SIMPLE, credentialName) and a VirtualService bound to it. From the host through
# `ambitctl local port-forward` to the gateway Service's 443, curl with the CA and --resolve gets
# the page over TLS and sees the certificate for its SNI; a name the server does not list is
# refused. A second server (MUTUAL, a generic Secret with tls.crt, tls.key and
# ca.crt, `create secret generic --from-file`) on the same port wants a client certificate: none is refused, one the CA signed gets
# the page. The Secret replaced with a new certificate is served without a restart; a Secret
# whose key is another certificate's is refused by apply, naming why, and the last good one
# keeps serving. An AuthorizationPolicy on connection.sni tells the servers apart. A Gateway naming a Secret that does not exist is reported by analyze.
# ISTIO_MUTUAL (a third host): the gateway presents its own SPIFFE certificate and wants one the
# mesh root signed; OPTIONAL_MUTUAL (a fourth): no client certificate is fine, one its CA did
# not sign is refused.
# TLS 1.2 suites: Envoy's server default (ECDHE with AES-GCM or ChaCha20; CBC and static RSA
# refused) unless the server's cipherSuites say otherwise (a fifth host: its list, a static-RSA
# suite included; a name Istio does not know is a warning of apply's, dropped).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl openssl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
PF_PID=
trap '[ -n "$PF_PID" ] && kill -INT "$PF_PID" 2>/dev/null; rm -rf "$WORK"; on_exit' EXIT
GWPOD=istio-system/istio-ingressgateway-0
port=$(free_port)
# As the user starts it; $! is the port-forward itself.
"$AMBITCTL" local port-forward --name "$CLUSTER" -n istio-system svc/istio-ingressgateway \
	"$port:443" >"$WORK/pf.out" 2>&1 &
PF_PID=$!

# The task's certificates: a root, a server certificate for each host, a client's.
cd "$WORK" || fail "no work directory"
openssl req -x509 -sha256 -nodes -days 1 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' \
	-keyout example.com.key -out example.com.crt 2>/dev/null || fail "openssl: root"
cert() { # NAME CN
	openssl req -nodes -newkey rsa:2048 -subj "/CN=$2/O=$1 organization" -keyout "$1.key" \
		-out "$1.csr" 2>/dev/null &&
		openssl x509 -req -sha256 -days 1 -CA example.com.crt -CAkey example.com.key \
			-set_serial "$3" -in "$1.csr" -out "$1.crt" \
			-extfile <(printf 'subjectAltName=DNS:%s\n' "$2") 2>/dev/null ||
		fail "openssl: $1"
}
cert bookinfo bookinfo.example.com 1
cert bookinfo2 bookinfo.example.com 2
cert secure secure.example.com 3
cert client client.example.com 4
cat >gw.yaml <<'YAML'
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: secure-gateway
  namespace: default
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: bookinfo-credential}
    hosts: [bookinfo.example.com]
  - port: {number: 443, name: https-mutual, protocol: HTTPS}
    tls: {mode: MUTUAL, credentialName: secure-credential}
    hosts: [secure.example.com]
  - port: {number: 443, name: https-mesh, protocol: HTTPS}
    tls: {mode: ISTIO_MUTUAL}
    hosts: [mesh.example.com]
  - port: {number: 443, name: https-optional, protocol: HTTPS}
    tls: {mode: OPTIONAL_MUTUAL, credentialName: secure-credential}
    hosts: [optional.example.com]
  - port: {number: 443, name: https-legacy, protocol: HTTPS}
    tls:
      mode: SIMPLE
      credentialName: bookinfo-credential
      cipherSuites: [AES256-GCM-SHA384, ECDHE-RSA-AES256-GCM-SHA384, NOT-A-SUITE]
    hosts: [legacy.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bookinfo-secure
  namespace: default
spec:
  hosts: [bookinfo.example.com, secure.example.com, mesh.example.com, optional.example.com,
    legacy.example.com]
  gateways: [secure-gateway]
  http:
  - match: [{uri: {exact: /productpage}}]
    route: [{destination: {host: productpage, port: {number: 9080}}}]
YAML

# https HOST [CURL ARGS...]: the status of /productpage on HOST through the gateway's 443.
https() {
	local host=$1
	shift
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' --cacert "$WORK/example.com.crt" \
		--resolve "$host:$port:127.0.0.1" "$@" "https://$host:$port/productpage"
}
ok() { [ "$(https "$@" 2>/dev/null)" = 200 ]; }
# serial HOST: the serial of the certificate the gateway presents for SNI HOST.
serial() {
	openssl s_client -connect "127.0.0.1:$port" -servername "$1" </dev/null 2>/dev/null |
		openssl x509 -noout -serial
}

actl create -n istio-system secret tls bookinfo-credential --key=bookinfo.key \
	--cert=bookinfo.crt >&2 || fail "create secret tls"
actl create -n istio-system secret generic secure-credential --from-file=tls.key=secure.key \
	--from-file=tls.crt=secure.crt --from-file=ca.crt=example.com.crt >&2 ||
	fail "create secret generic"
out=$(actl apply -f gw.yaml 2>&1) || fail "Gateway not applied: $out"
echo "$out" >&2
expect_contains "$out" "ignoring invalid cipher suites: [NOT-A-SUITE]" "apply's warning"
wait_for 60 ok bookinfo.example.com ||
	fail "no page over TLS: $(https bookinfo.example.com 2>&1); $(cat "$WORK/pf.out"); $(actl local logs $GWPOD | tail -5)"
wait_log 10 $GWPOD 'listening on port 8443 .*TLS' || fail "the gateway's log has no TLS listener"
page=$(curl -sS --max-time 10 --cacert "$WORK/example.com.crt" \
	--resolve "bookinfo.example.com:$port:127.0.0.1" "https://bookinfo.example.com:$port/productpage")
expect_contains "$page" "Book Details" "the page over TLS"
expect_eq "$(serial bookinfo.example.com)" "serial=01" "the certificate for bookinfo.example.com"
# A name no server lists: no certificate for it, the handshake is refused.
out=$(https other.example.com -k 2>&1) && fail "a host no server lists got an answer: $out"
# Plaintext on the TLS port is not HTTP to it.
out=$(curl -sS --max-time 5 "http://127.0.0.1:$port/productpage" 2>&1) &&
	fail "plaintext on the TLS port answered: $out"
# A fragment in the target over TLS is refused as over plaintext (400, before any route), which
# curl cannot send: raw bytes through openssl (issue 38 §1.2).
line=$(printf 'GET /productpage#x HTTP/1.1\r\nHost: bookinfo.example.com\r\n\r\n' |
	timeout 15 openssl s_client -quiet -connect "127.0.0.1:$port" \
		-servername bookinfo.example.com -CAfile "$WORK/example.com.crt" 2>/dev/null |
	head -1 | tr -d '\r')
expect_contains "$line" "HTTP/1.1 400" "a fragment in the target over TLS"

# TLS 1.2 with one suite (the certificates are RSA): true when the handshake completes.
tls12() { # HOST SUITE
	openssl s_client -connect "127.0.0.1:$port" -servername "$1" -tls1_2 -cipher "$2" \
		</dev/null >/dev/null 2>&1
}
for suite in AES128-SHA AES128-GCM-SHA256 AES256-GCM-SHA384 ECDHE-RSA-AES128-SHA; do
	tls12 bookinfo.example.com "$suite" && fail "TLS 1.2 $suite (CBC or static RSA) accepted by default"
done
tls12 bookinfo.example.com ECDHE-RSA-AES128-GCM-SHA256 || fail "TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 refused"
tls12 bookinfo.example.com ECDHE-RSA-CHACHA20-POLY1305 || fail "TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305 refused"
# cipherSuites: the server's own list, by SNI; TLS 1.3 (curl's) untouched.
tls12 legacy.example.com AES256-GCM-SHA384 || fail "cipherSuites' AES256-GCM-SHA384 refused"
tls12 legacy.example.com ECDHE-RSA-AES256-GCM-SHA384 || fail "cipherSuites' ECDHE-RSA-AES256-GCM-SHA384 refused"
tls12 legacy.example.com ECDHE-RSA-AES128-GCM-SHA256 &&
	fail "a suite cipherSuites does not list was accepted"
expect_eq "$(https legacy.example.com -k)" 200 "TLS 1.3 on the cipherSuites server"

# MUTUAL: no client certificate, refused; the CA's, served.
out=$(https secure.example.com 2>&1) && fail "MUTUAL without a client certificate: $out"
expect_eq "$(https secure.example.com --cert "$WORK/client.crt" --key "$WORK/client.key")" \
	200 "MUTUAL with the client certificate"
expect_eq "$(serial secure.example.com)" "serial=03" "the certificate for secure.example.com"
# The MUTUAL server's host on a connection made for the SIMPLE one (no client certificate):
# each server routes only its own connections, as Envoy's filter chains do.
expect_eq "$(https bookinfo.example.com -H 'Host: secure.example.com')" 404 \
	"the MUTUAL server's host over the SIMPLE server's connection"

# ISTIO_MUTUAL: the gateway's own SPIFFE identity, for clients holding a mesh certificate.
mkdir -p "$WORK/root" && mesh_root "$WORK/root" || fail "no mesh root"
meshleaf() { # CA KEY URI OUT
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$4.key" \
		-out "$4.csr" -subj /O=ambit-test 2>/dev/null &&
		printf 'subjectAltName=critical,URI:%s\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n' \
			"$3" >"$4.ext" &&
		openssl x509 -req -in "$4.csr" -CA "$1" -CAkey "$2" -CAcreateserial -days 1 \
			-out "$4.pem" -extfile "$4.ext" 2>/dev/null
}
meshleaf "$WORK/root/root-cert.pem" "$WORK/root/root-key.pem" \
	spiffe://cluster.local/ns/default/sa/sleep "$WORK/sleep" || fail "mesh leaf"
mesh() { # [CURL ARGS...]: the status for mesh.example.com, the gateway's certificate checked by the mesh root
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' --cacert "$WORK/root/root-cert.pem" \
		--resolve "mesh.example.com:$port:127.0.0.1" -k "$@" \
		"https://mesh.example.com:$port/productpage"
}
expect_eq "$(mesh --cert "$WORK/sleep.pem" --key "$WORK/sleep.key")" 200 "ISTIO_MUTUAL with a mesh certificate"
out=$(mesh 2>&1) && fail "ISTIO_MUTUAL without a client certificate: $out"
out=$(mesh --cert "$WORK/client.crt" --key "$WORK/client.key" 2>&1) &&
	fail "ISTIO_MUTUAL with a certificate the mesh root did not sign: $out"
san=$(openssl s_client -connect "127.0.0.1:$port" -servername mesh.example.com \
	-cert "$WORK/sleep.pem" -key "$WORK/sleep.key" </dev/null 2>/dev/null |
	openssl x509 -noout -ext subjectAltName)
expect_contains "$san" "URI:spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account" \
	"the ISTIO_MUTUAL server's certificate"
openssl s_client -connect "127.0.0.1:$port" -servername mesh.example.com \
	-cert "$WORK/sleep.pem" -key "$WORK/sleep.key" -CAfile "$WORK/root/root-cert.pem" \
	</dev/null 2>/dev/null | grep -q 'Verify return code: 0 (ok)' ||
	fail "the ISTIO_MUTUAL server's certificate does not verify against the mesh root"
# OPTIONAL_MUTUAL: without a certificate, served; with its CA's, served; with another's, refused.
optional() { https optional.example.com -k "$@"; }
expect_eq "$(optional)" 200 "OPTIONAL_MUTUAL without a client certificate"
expect_eq "$(optional --cert "$WORK/client.crt" --key "$WORK/client.key")" 200 \
	"OPTIONAL_MUTUAL with its CA's client certificate"
out=$(optional --cert "$WORK/sleep.pem" --key "$WORK/sleep.key" 2>&1) &&
	fail "OPTIONAL_MUTUAL with a certificate its CA did not sign: $out"

# connection.sni at the gateway: a DENY on one server's name leaves the other's alone.
cat >sni-deny.yaml <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-secure-sni, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules: [{when: [{key: connection.sni, values: [secure.example.com]}]}]
YAML
actl apply -f sni-deny.yaml >&2 || fail "SNI policy not applied"
mutual() { https secure.example.com --cert "$WORK/client.crt" --key "$WORK/client.key"; }
denied() { [ "$(mutual 2>/dev/null)" = 403 ]; }
wait_for 30 denied || fail "connection.sni DENY not enforced: $(mutual 2>&1)"
expect_eq "$(https bookinfo.example.com)" 200 "the other server's SNI under the SNI DENY"
actl delete -f sni-deny.yaml >&2 || fail "SNI policy not deleted"

# The Secret replaced: the new certificate without a restart, the other server unchanged.
actl create secret tls bookinfo-credential -n istio-system --cert bookinfo2.crt \
	--key bookinfo2.key >&2 || fail "new Secret not applied"
new_serial() { [ "$(serial bookinfo.example.com)" = "serial=02" ]; }
wait_for 30 new_serial || fail "the replaced certificate is not served: $(serial bookinfo.example.com)"
ok bookinfo.example.com || fail "no page with the replaced certificate"

# A Secret whose key is another certificate's: refused, and the last good one serves.
out=$(actl create secret tls bookinfo-credential -n istio-system --cert bookinfo.crt \
	--key secure.key 2>&1) && fail "a mismatched key and certificate were applied: $out"
expect_contains "$out" "the private key does not belong to the certificate" "apply's reason"
expect_eq "$(serial bookinfo.example.com)" "serial=02" "the last good certificate"
ok bookinfo.example.com || fail "no page after the refused Secret"

# A server naming a Secret that is not there: analyze says so.
sed 's/secure-credential/no-such-credential/' gw.yaml >gw-missing.yaml
out=$(actl analyze -f gw-missing.yaml 2>&1)
expect_contains "$out" "no Secret istio-system/no-such-credential" "analyze on a missing Secret"
kill -INT "$PF_PID"
wait "$PF_PID" || fail "the port-forward exited $? after Ctrl-C: $(cat "$WORK/pf.out")"
PF_PID=
pass
