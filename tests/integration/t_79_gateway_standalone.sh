#!/usr/bin/env bash
# The ingress gateway on its own (how tools/bench/gateway.sh runs it): `ambitctl waypoint config`
# of the gateway pod gives its model, and `waypoint --config` without --listen listens where
# the model says, as under an agent: the HTTPS server's port with the Secret's certificate
# (the route behind it reaches the backend in plaintext), a RequestAuthentication and
# AuthorizationPolicy selecting the gateway in force (200 with the token, 403 without); a
# second server written into the file while it runs is listened on at the reload. A waypoint's
# model without --listen is refused. In a network namespace of its own (the gateway listens on
# every address).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gateway_standalone_lib.sh"
gw_standalone_setup "$@"

python3 -m http.server --bind 127.0.0.2 18080 --directory "$tmp" >/dev/null 2>&1 &
pids+=($!)
echo backend >"$tmp/index.txt"
wait_for 20 curl -sf http://127.0.0.2:18080/index.txt || fail "the backend is not up"

# An HS256 token (a JWKS of one octet key) of issuer "it", subject "alice".
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
secret=bench-secret-0123456789abcdef0123
k=$(printf %s "$secret" | b64url)
h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
p=$(printf '{"iss":"it","sub":"alice","exp":%d}' $(($(date +%s) + 3600)) | b64url)
s=$(printf %s "$h.$p" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
TOKEN=$h.$p.$s

# @1: the servers of Gateway gw (YAML list items).
world() {
	gw_world "$1"
	cat <<YAML
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules: [{issuer: it, jwks: '{"keys":[{"kty":"oct","alg":"HS256","k":"$k"}]}'}]
YAML
	gw_ingress_policy \
		"[{from: [{source: {requestPrincipals: [it/alice]}}], to: [{operation: {paths: [/index.txt]}}]}]"
}
HTTPS="  - {port: {number: 18443, name: https, protocol: HTTPS}, hosts: [gw.test], tls: {mode: SIMPLE, credentialName: cred}}"
HTTP="  - {port: {number: 18081, name: http, protocol: HTTP}, hosts: [gw.test]}"
gw_start "$HTTPS"

get() { # URL [curl args]: the status, then the body
	curl -s --max-time 3 --cacert "$tmp/cert.pem" --resolve gw.test:18443:127.0.0.1 \
		--resolve gw.test:18081:127.0.0.1 -w '%{http_code}' "$@"
}
wait_for 10 get https://gw.test:18443/index.txt || fail "the gateway does not answer on 18443"
expect_eq "$(get -H "Authorization: Bearer $TOKEN" https://gw.test:18443/index.txt)" "backend
200"
expect_eq "$(get -o /dev/null https://gw.test:18443/index.txt)" 403
expect_eq "$(get -o /dev/null -H "Authorization: Bearer $h.$p.x$s" https://gw.test:18443/index.txt)" 401
log "HTTPS server: 200 with the token, 403 without, 401 with a bad signature"

# A second server in the file: listened on at the reload (mtime, checked every second).
sleep 1
world "$HTTPS"$'\n'"$HTTP" >"$tmp/world.yaml"
actl waypoint config -f "$tmp/world.yaml" -n istio-system --name igw-0 >"$tmp/gw.json.new" &&
	mv "$tmp/gw.json.new" "$tmp/gw.json" || fail "waypoint config of the gateway, two servers"
wait_for 10 get -o /dev/null http://gw.test:18081/index.txt || fail "no listener on 18081 after the reload"
expect_eq "$(get -o /dev/null -H "Authorization: Bearer $TOKEN" http://gw.test:18081/index.txt)" 200
log "a server added to the file is listened on at the reload"

# A waypoint's model needs --listen.
. "$REPO/tools/waypoint-world.sh"
wp_world it >"$tmp/wp.yaml"
actl waypoint config -f "$tmp/wp.yaml" -n it --name wp >"$tmp/wp.json" || fail "waypoint config"
timeout 5 "$WAYPOINT" --config "$tmp/wp.json" --workers 1 >/dev/null 2>"$tmp/wp.log" &&
	fail "a waypoint's model without --listen was accepted"
expect_contains "$(cat "$tmp/wp.log")" "no listener"
pass
