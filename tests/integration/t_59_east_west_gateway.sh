#!/usr/bin/env bash
# Istio's east-west gateway, as its multicluster pages make it: the cluster plugged with an
# intermediate of a shared root (cacerts), network network2, and the manifest
# `samples/multicluster/gen-eastwest-gateway.sh --network network2 --ambient` prints, applied
# unchanged. It deploys as Istio's controller does (Deployment, service account and Service all
# the Gateway's name; the Service LoadBalancer with 15021 and 15008 "mesh", an EXTERNAL-IP the
# host reaches), and the Gateway's status gives that address (what another cluster's istiod
# looks for). Then double HBONE through it, from the host as another network's ztunnel would
# send it, by a client written from Istio's wire (hbone_client.py --via-gateway): the outer
# tunnel to the gateway, checked against its identity, CONNECT <Service hostname>:<port>; the
# inner one, inside it, to the destination pod's ztunnel, checked against the Service's
# identity, carrying the bytes. The gateway takes only mesh identities, sees only the inner
# tunnel's ciphertext, answers 404 for a Service or port it has not; the destination's policy
# sees the client's own identity (a DENY of it is 401 on the inner CONNECT).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd openssl jq
/usr/bin/python3 -c 'import h2' 2>/dev/null || skip "needs python3-h2 (tools/install-deps.sh)"
SAMPLES=${ISTIO_SAMPLES:-/work/shared/istio/samples/samples}
GEN=$SAMPLES/multicluster/gen-eastwest-gateway.sh
[ -f "$GEN" ] || fail "no Istio multicluster samples at $SAMPLES"
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap_exit 'rm -rf "$tmp"'

# The shared root and this cluster's intermediate, as Istio's tools/certs make them.
cp -r "$LIB_DIR/manifests" "$tmp/m"
plugged_ca "$tmp" cluster2 || fail "openssl: the root and intermediate"
cacerts_secret "$tmp" "$tmp/m/cacerts.yaml" ||
	fail "create secret generic cacerts"
bash "$GEN" --network network2 --ambient >"$tmp/m/eastwest.yaml" || fail "gen-eastwest-gateway.sh"
grep -q 'gatewayClassName: "istio-east-west"' "$tmp/m/eastwest.yaml" ||
	fail "gen-eastwest-gateway.sh printed no istio-east-west Gateway: $(cat "$tmp/m/eastwest.yaml")"

cluster_up "$tmp/m" 2 --network network2
GW=istio-eastwestgateway
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

# --- What Istio's controller deploys for it.
svc=$(actl get svc "$GW" -n istio-system -o json) || fail "no Service $GW: $svc"
expect_eq "$(jq -r .spec.type <<<"$svc")" LoadBalancer "its Service's type"
expect_eq "$(jq -r '[.spec.ports[] | "\(.name)=\(.port)"] | join(",")' <<<"$svc")" \
	"status-port=15021,mesh=15008" "its Service's ports"
expect_eq "$(jq -r '.metadata.labels["gateway.istio.io/managed"]' <<<"$svc")" \
	istio.io-eastwest-controller "its Service's managed label"
expect_eq "$(jq -r '.metadata.labels["topology.istio.io/network"]' <<<"$svc")" network2 \
	"its Service's network label"
ip=$(jq -r '.status.loadBalancer.ingress[0].ip // empty' <<<"$svc")
[ -n "$ip" ] || fail "its Service has no EXTERNAL-IP: $svc"
# Programmed once it serves, as `kubectl wait --for=condition=programmed` waits for it: on --kube
# the status is written by the cluster's controller at its next status round, not at once.
programmed() {
	actl get gateway "$GW" -n istio-system -o json |
		jq -e '.status.conditions[] | select(.type == "Programmed" and .status == "True")' >/dev/null
}
wait_for 30 programmed || fail "the Gateway never Programmed: $(actl get gateway "$GW" -n istio-system -o json | jq -c .status)"
gw=$(actl get gateway "$GW" -n istio-system -o json) || fail "get gateway: $gw"
expect_eq "$(jq -r '.status.addresses[0].type + " " + .status.addresses[0].value' <<<"$gw")" \
	"IPAddress $ip" "the Gateway's status address"
pod=$(actl get pod -n istio-system -l "gateway.networking.k8s.io/gateway-name=$GW" -o json |
	jq -r '.items[0] | "\(.metadata.name) \(.spec.serviceAccountName)"')
expect_eq "$pod" "$GW-0 $GW" "its pod and service account"

# A client certificate of the mesh's root, and one of a CA the mesh does not know.
foreign_ca "$tmp" || fail "foreign CA"
client=spiffe://cluster.local/ns/mesh/sa/client
mkleaf "$tmp/root-cert.pem" "$tmp/root-key.pem" "$client" "$tmp/good" || fail "mesh leaf"
mkleaf "$tmp/foreign-ca.pem" "$tmp/foreign-ca.key" "$client" "$tmp/foreign" || fail "foreign leaf"

# dh LEAF STREAM...: double HBONE from the host (another network's ztunnel: network1) through
# the gateway's EXTERNAL-IP, one outer CONNECT per STREAM on one connection.
GET='GET / HTTP/1.0\r\n\r\n'
dh() {
	local leaf=$1
	shift
	/usr/bin/python3 "$REPO/tests/integration/bin/hbone_client.py" --via-gateway \
		--connect "$(url_host "$ip"):15008" --cert "$tmp/$leaf.pem" --key "$tmp/$leaf.key" \
		--ca "$tmp/root-cert.pem" --expect-san "spiffe://cluster.local/ns/istio-system/sa/$GW" \
		--inner-san spiffe://cluster.local/ns/mesh/sa/server --network network1 \
		--forwarded "for=\"10.98.1.3:40000\";host=server.mesh.svc.cluster.local" "$@"
}
field() { jq -rs --argjson n "$2" --arg k "$3" '[.[] | select(.stream)][$n - 1][$k]' <<<"$1"; }

out=$(dh good "server.mesh.svc.cluster.local:80=$GET" "server.mesh.svc.cluster.local:80=$GET" \
	"nothere.mesh.svc.cluster.local:80=x" "server.mesh.svc.cluster.local:81=x") ||
	fail "double HBONE through the gateway: $out"
for n in 1 2; do
	expect_eq "$(field "$out" $n outer_status) $(field "$out" $n inner_status)" "200 200" \
		"outer and inner CONNECT $n"
	expect_eq "$(field "$out" $n inner_peer_san)" spiffe://cluster.local/ns/mesh/sa/server \
		"the inner tunnel's peer (the destination's ztunnel, as the Service's identity)"
	expect_contains "$(field "$out" $n reply)" "pod=mesh/server-0 " "the bytes, stream $n"
done
# The address another network's client gives names no one here (the same pod range).
expect_not_contains "$(field "$out" 1 reply)" "from=10.98.1.3 " "another network's address claimed"
expect_eq "$(field "$out" 3 outer_status)" 404 "a Service this cluster has not"
expect_eq "$(field "$out" 4 outer_status)" 404 "a port the Service has not"
# The gateway carried bytes, never a request: its log names no HTTP method.
actl local logs "istio-system/$GW-0" | grep -q '"GET / ' && fail "the gateway saw the inner request"

# Only mesh identities: a certificate of another CA is refused at the outer handshake.
rc=0
out=$(dh foreign "server.mesh.svc.cluster.local:80=$GET") || rc=$?
expect_eq "$rc" 2 "a client of a CA the mesh does not know: $out"

# The destination's policy sees the client's identity through both tunnels.
cat >"$tmp/deny.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-client
  namespace: mesh
spec:
  selector:
    matchLabels:
      app: server
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/mesh/sa/client"]
YAML
actl apply -f "$tmp/deny.yaml" >/dev/null || fail "apply the DENY policy"
inner_is() { [ "$(field "$(dh good "server.mesh.svc.cluster.local:80=$GET" 2>/dev/null)" 1 inner_status)" = "$1" ]; }
wait_for 20 inner_is 401 || fail "the DENY of the client's identity: $(dh good "server.mesh.svc.cluster.local:80=$GET")"
actl delete -f "$tmp/deny.yaml" >/dev/null || fail "delete the DENY policy"
wait_for 20 inner_is 200 || fail "allowed again: $(dh good "server.mesh.svc.cluster.local:80=$GET")"
log "ok: $GW at $ip; double HBONE to server, 404s, a foreign CA refused, the client's identity at the destination"
