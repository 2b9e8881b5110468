#!/usr/bin/env bash
# RequestAuthentication at the waypoint on the local cluster, as Istio's JWT tasks do it: an
# issuer's key set published at a jwksUri (an HTTP server on a node, fetched by the agents and
# handed to the waypoint), tokens signed here with openssl. No token passes unless a policy
# wants a request principal (403); a good token passes; an expired one gets 401 "Jwt is
# expired", one signed by another key 401 "Jwt verification fails"; a claim decides a path; and
# the key set stays in force while its server is away. Every token a request carries must
# verify: a forged one beside a good one gets 401.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl openssl python3
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
JWKS_PID=
trap '[ -n "$JWKS_PID" ] && kill "$JWKS_PID" 2>/dev/null; rm -rf "$WORK"; on_exit' EXIT

# The issuer: an RSA key, its JWKS served from node1's address, tokens signed with it.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/key.pem" 2>/dev/null ||
	fail "no RSA key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/other.pem" 2>/dev/null ||
	fail "no second RSA key"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
modulus=$(openssl rsa -in "$WORK/key.pem" -noout -modulus | cut -d= -f2)
n=$(python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b"=").decode())' "$modulus")
mkdir -p "$WORK/www"
printf '{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"%s","e":"AQAB"}]}' "$n" \
	>"$WORK/www/jwks.json"
# jwt KEY PAYLOAD: a compact RS256 JWS.
jwt() {
	local h p s
	h=$(printf '{"alg":"RS256","kid":"k1","typ":"JWT"}' | b64url)
	p=$(printf '%s' "$2" | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$1" -binary | b64url)
	printf '%s.%s.%s' "$h" "$p" "$s"
}
now=$(date +%s)
ISS=https://issuer.ambit.test
good=$(jwt "$WORK/key.pem" "{\"iss\":\"$ISS\",\"sub\":\"alice\",\"exp\":$((now + 3600)),\"groups\":[\"dev\"]}")
admin=$(jwt "$WORK/key.pem" "{\"iss\":\"$ISS\",\"sub\":\"bob\",\"exp\":$((now + 3600)),\"groups\":[\"admins\"]}")
expired=$(jwt "$WORK/key.pem" "{\"iss\":\"$ISS\",\"sub\":\"alice\",\"exp\":$((now - 3600))}")
forged=$(jwt "$WORK/other.pem" "{\"iss\":\"$ISS\",\"sub\":\"mallory\",\"exp\":$((now + 3600))}")

node1_ip=$(node_exec node1 ip -4 -o addr show | awk '{ print $4 }' | grep '^10\.99\.' | cut -d/ -f1 | head -1)
[ -n "$node1_ip" ] || fail "no address for node1"
# nsenter execs the server: $! is the server itself, which the trap stops.
nsenter --net=/run/netns/ambit-"$CLUSTER"-node1 python3 -m http.server 18089 --bind "$node1_ip" \
	--directory "$WORK/www" >"$WORK/jwks-server.log" 2>&1 &
JWKS_PID=$!
wait_for 10 node_exec node1 curl -sf "http://$node1_ip:18089/jwks.json" || fail "the JWKS server did not start"

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered before the waypoint"
out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"
wp_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran"
wp_ip=$(pod_ip mesh/waypoint-0)
via_wp() { pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ | grep -q "from=$wp_ip"; }
wait_for 30 via_wp || fail "no answer through the waypoint"

cat >"$WORK/jwt.yaml" <<YAML
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  jwtRules:
  - issuer: $ISS
    jwksUri: http://$node1_ip:18089/jwks.json
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  action: ALLOW
  rules:
  - to:
    - operation:
        notPaths: ["/secure*", "/admin*"]
  - from:
    - source:
        requestPrincipals: ["$ISS/*"]
    to:
    - operation:
        paths: ["/secure*"]
  - to:
    - operation:
        paths: ["/admin*"]
    when:
    - key: request.auth.claims[groups]
      values: ["admins"]
YAML
out=$(actl apply -f "$WORK/jwt.yaml" 2>&1) || fail "apply: $out"
# code PATH [TOKEN]: the status the client gets.
code() {
	local auth=()
	[ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
	pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 3 "${auth[@]}" \
		"http://server$1"
}
body() { pod_exec mesh/client-0 curl -s --max-time 3 -H "Authorization: Bearer $2" "http://server$1"; }
fetched() { [ "$(code /secure "$good")" = 200 ]; }
wait_for 30 fetched ||
	fail "a good token never passed: $(body /secure "$good"); agent: $(actl local logs node1-agent | grep -i jwks | tail -2)"
expect_eq "$(code /)" 200 "no token, a path no policy restricts"
expect_eq "$(code /secure)" 403 "no token where a request principal is required"
expect_eq "$(code /secure "$expired")" 401 "an expired token"
expect_eq "$(body /secure "$expired")" "Jwt is expired" "the 401's reason"
expect_eq "$(code / "$forged")" 401 "a token signed by another key"
expect_eq "$(body / "$forged")" "Jwt verification fails" "the 401's reason"
expect_eq "$(code /admin "$good")" 403 "a token without the admins group"
expect_eq "$(code /admin "$admin")" 200 "a token with the admins group"
# Every token must verify (issue 38 §1.5): a good one does not carry a forged one beside it.
none=$(printf '{"alg":"none"}' | b64url).$(printf '{"iss":"%s","sub":"admin"}' "$ISS" | b64url).
code2() { pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@"; }
expect_eq "$(code2 -H "Authorization: Bearer $good" "http://server/secure?access_token=$none")" \
	401 "a good header token with a forged access_token parameter"
expect_eq "$(code2 -H "Authorization: Bearer $good" -H "Authorization: Bearer $forged" \
	http://server/secure)" 401 "two Authorization fields, the second signed by another key"
expect_eq "$(code2 -H "Authorization: Bearer $admin" -H "Authorization: Bearer $good" \
	http://server/admin)" 200 "two good tokens: the first is the request's principal"
expect_eq "$(code2 -H "Authorization: Bearer $good" -H "Authorization: Bearer $admin" \
	http://server/admin)" 403 "two good tokens, the first without the admins group"
printf '%s\n' "$expired" >"$WORK/expired.jwt"
printf '%s\n' "$admin" >"$WORK/admin.jwt"
out=$(actl check mesh/client-0 server:80 --path /secure --jwt "$WORK/expired.jwt") || fail "check: $out"
expect_contains "$out" "DENY (401) by RequestAuthentication: Jwt is expired"
out=$(actl check mesh/client-0 server:80 --path /admin --jwt "$WORK/admin.jwt") || fail "check: $out"
expect_contains "$out" "request principal: $ISS/bob"
expect_contains "$out" "decision:          ALLOW by ns[mesh]-policy[require-jwt]-rule[2]"
wait_log 10 mesh/waypoint-0 '"GET /secure HTTP/1.1" 401 - jwt_authn_access_denied\{Jwt_is_expired\}' ||
	fail "the access log does not give the reason: $(actl local logs mesh/waypoint-0 | tail -2)"
# The issuer's server goes away: the key set fetched stays in force.
kill "$JWKS_PID"
wait "$JWKS_PID" 2>/dev/null
JWKS_PID=
sleep 3
expect_eq "$(code /secure "$good")" 200 "a good token once the JWKS server is gone"
out=$(actl delete -f "$WORK/jwt.yaml" 2>&1) || fail "delete: $out"
open_again() { [ "$(code /secure "$expired")" = 200 ]; }
wait_for 30 open_again || fail "tokens were still checked once the RequestAuthentication was deleted"
pass
