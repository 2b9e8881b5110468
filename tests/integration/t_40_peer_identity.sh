#!/usr/bin/env bash
# The HBONE listener accepts only clients with a certificate from the mesh root whose SPIFFE
# identity is in the trust domain and owns the client address it claims.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd openssl jq
cluster_up manifests
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

client_ip=$(pod_ip mesh/client-0)
server_ip=$(pod_ip mesh/server-0)
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$tmp"; on_exit' EXIT
ca=$tmp/root
mkdir "$ca" && mesh_root "$ca" || fail "the mesh root"

foreign_ca "$tmp" || fail "foreign CA"
good=spiffe://cluster.local/ns/mesh/sa/client
mkleaf "$ca/root-cert.pem" "$ca/root-key.pem" "$good" "$tmp/good" || fail "mesh leaf"
mkleaf "$tmp/foreign-ca.pem" "$tmp/foreign-ca.key" "$good" "$tmp/foreign" || fail "foreign leaf"
mkleaf "$ca/root-cert.pem" "$ca/root-key.pem" spiffe://evil.example/ns/mesh/sa/client "$tmp/otherdomain" || fail "leaf"
mkleaf "$ca/root-cert.pem" "$ca/root-key.pem" spiffe://cluster.local/ns/mesh/sa/server "$tmp/wrongsa" || fail "leaf"

# probe NAME [FORWARDED]: one CONNECT to the server pod through node2's HBONE listener, from node1.
probe() {
	node_exec node1 "$REPO/build/hbone-probe" --connect "$server_ip:15008" \
		--authority "$server_ip:8080" --cert "$tmp/$1.pem" --key "$tmp/$1.key" \
		--ca "$ca/root-cert.pem" --forwarded "${2:-$client_ip}" \
		--expect-san spiffe://cluster.local/ns/mesh/sa/server \
		--send $'GET / HTTP/1.0\r\n\r\n' --timeout 5
}

# probe_nofwd NAME: the same CONNECT without a `forwarded` header.
probe_nofwd() {
	node_exec node1 "$REPO/build/hbone-probe" --connect "$server_ip:15008" \
		--authority "$server_ip:8080" --cert "$tmp/$1.pem" --key "$tmp/$1.key" \
		--ca "$ca/root-cert.pem" --expect-san spiffe://cluster.local/ns/mesh/sa/server \
		--send $'GET / HTTP/1.0\r\n\r\n' --timeout 5
}

out=$(probe good) || fail "a mesh client with the right identity was refused (exit $?)"
expect_contains "$out" "pod=mesh/server-0" "positive control"
expect_contains "$out" "from=$client_ip " "server should see the forwarded client IP"

out=$(probe foreign 2>&1); rc=$?
[ $rc -eq 2 ] || fail "certificate from another CA: want TLS refusal (2), got $rc: $out"
# Signed by the mesh root but in another trust domain: refused at the handshake, whether it
# claims a client address or not (without a claim it used to be accepted).
out=$(probe otherdomain 2>&1); rc=$?
[ $rc -eq 2 ] || fail "SAN outside the trust domain: want TLS refusal (2), got $rc: $out"
out=$(probe_nofwd otherdomain 2>&1); rc=$?
[ $rc -eq 2 ] || fail "SAN outside the trust domain, no forwarded: want TLS refusal (2), got $rc: $out"
out=$(probe wrongsa 2>&1); rc=$?
[ $rc -eq 3 ] || fail "identity not owning the claimed client IP: want 401, got $rc: $out"
expect_contains "$out" "status 401"

# The server saw exactly one request: the refused ones never reached it.
n=$(actl local logs mesh/server-0 | grep -c '"GET / HTTP/1.0"' || true)
expect_eq "$n" "1" "requests that reached the server"
pass
