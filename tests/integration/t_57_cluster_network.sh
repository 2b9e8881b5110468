#!/usr/bin/env bash
# A cluster and network named as Istio's multicluster names them (`local up --name C --network
# N`): istio-system carries the `topology.istio.io/network` label Istio reads, every node's
# agent says cluster C and network N, the ztunnels' metrics say C on both ends
# (source_cluster, destination_cluster, as Istio's do; the baggage naming it is the unit tests'),
# istioctl proxy-status's CLUSTER column says C; relabelling istio-system moves the nodes' network, as on Istio. A cluster made
# without --network is Istio's default, "Kubernetes" (the other tests). And the cluster's CA is
# Istio's plugged-in one (cacerts), below.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl jq openssl
ISTIOCTL=$REPO/build/istioctl
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap_exit 'rm -rf "$tmp"'

# Istio's plug-in CA, as its multicluster pages make one per cluster (tools/certs' Makefile: a
# root, an intermediate of it per cluster, `kubectl create secret generic cacerts -n
# istio-system --from-file=...`): the cluster's CA signs with the intermediate, so clusters
# sharing the root trust each other. On --kube the Secret is in the API server before ambit is
# installed, as a user makes it before `istioctl install`, and install hands it to the CA.
cp -r "$LIB_DIR/manifests" "$tmp/m"
{
	plugged_ca "$tmp" cluster1 || fail "openssl: making the root and intermediate"
	cacerts_secret "$tmp" "$tmp/m/cacerts.yaml" ||
		fail "create secret generic cacerts"
	# One that cannot sign for its root is refused before anything is made.
	mkdir "$tmp/bad" && cp -r "$LIB_DIR/manifests/." "$tmp/bad/"
	actl create secret generic cacerts -n istio-system --from-file=ca-cert.pem="$tmp/root-cert.pem" \
		--from-file="$tmp/ca-key.pem" --from-file="$tmp/root-cert.pem" --dry-run -o yaml \
		>"$tmp/bad/cacerts.yaml" || fail "create secret generic cacerts (bad)"
	if out=$("$AMBITCTL" local up -f "$tmp/bad" --name "${CLUSTER}b" --nodes 1 --no-ingress 2>&1); then
		"$AMBITCTL" local down --name "${CLUSTER}b" >/dev/null 2>&1
		fail "a cacerts whose ca-key.pem is not ca-cert.pem's was taken"
	fi
	expect_contains "$out" "istio-system/cacerts" "the refusal names the Secret: $out"
	expect_contains "$out" "ca-key.pem is not the key of ca-cert.pem" "the refusal says why: $out"
	[ ! -d "/run/ambit/${CLUSTER}b" ] || fail "a refused local up left /run/ambit/${CLUSTER}b"
}
cluster_up "$tmp/m" 2 --network network1

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

# --- The label Istio's docs set by hand (`kubectl label namespace istio-system
# topology.istio.io/network=network1`), set by local up.
labels=$(actl get namespace istio-system -o json | jq -r '.metadata.labels["topology.istio.io/network"]')
expect_eq "$labels" network1 "istio-system's topology.istio.io/network"

# --- Every agent: cluster id and network.
agents() { actl local status -o json | jq -r '[.nodes[].agent | "\(.clusterId) \(.network)"] | unique | join(";")'; }
expect_eq "$(agents)" "$CLUSTER network1" "the agents' cluster and network"

# --- The ztunnels' series of a cross-node request: both reporters, both ends in this cluster.
for i in 1 2 3; do
	pod_exec mesh/client-0 curl -sf --max-time 5 http://server/ >/dev/null || fail "request $i failed"
done
for n in node1 node2; do
	m=$(node_metrics "$n" | grep '^istio_tcp_connections_opened_total{' | grep 'destination_workload="server"')
	[ -n "$m" ] || fail "$n: no istio_tcp_connections_opened_total series for server"
	expect_contains "$m" "source_cluster=\"$CLUSTER\"" "$n: source_cluster"
	expect_contains "$m" "destination_cluster=\"$CLUSTER\"" "$n: destination_cluster"
	if grep -q 'cluster="Kubernetes"' <<<"$m"; then fail "$n: a series still says Kubernetes: $m"; fi
done

# --- istioctl proxy-status: CLUSTER is this cluster's id, in text and JSON.
ps=$("$ISTIOCTL" proxy-status) || fail "istioctl proxy-status: $ps"
grep -Eq "^ztunnel-node1\.istio-system +$CLUSTER +ambit-agent-node1 " <<<"$ps" ||
	fail "proxy-status CLUSTER column: $ps"
expect_eq "$("$ISTIOCTL" proxy-status -o json | jq -r '[.[].clusterId] | unique | join(",")')" "$CLUSTER" \
	"proxy-status -o json clusterId"

# --- istioctl ztunnel-config workloads -o json: each workload's clusterId and network, as
# Istio's ztunnel dumps them.
zc=$("$ISTIOCTL" ztunnel-config workloads -o json) || fail "ztunnel-config workloads: $zc"
expect_eq "$(jq -r '[.[] | "\(.clusterId) \(.network)"] | unique | join(";")' <<<"$zc")" \
	"$CLUSTER network1" "ztunnel-config workloads clusterId and network"

# --- The network is the label's: relabelled, every node's agent follows.
actl label namespace istio-system topology.istio.io/network=network2 --overwrite >/dev/null ||
	fail "relabelling istio-system (kubectl's --overwrite as typed)"
wait_for 20 bash -c "[ \"\$('$AMBITCTL' local status -o json | jq -r '[.nodes[].agent.network] | unique | join(\",\")')\" = network2 ]" ||
	fail "agents' network after relabelling: $(agents)"
# A label value the API server would refuse is refused here too, and the network stays.
if actl label namespace istio-system topology.istio.io/network=-bad- >/dev/null 2>&1; then
	fail "a label value that is no label value was accepted"
fi
expect_eq "$(agents)" "$CLUSTER network2" "the agents' network after a refused label"

# --- The plugged-in CA: the mesh's root is root-cert.pem, a workload's certificate is the
# intermediate's and travels with its chain, which verifies against the root alone.
{
	snap=$(actl certs --node node1 -o json | jq .node1) || fail "certs -o json"
	expect_eq "$(jq -r .rootPEM <<<"$snap")" "$(cat "$tmp/root-cert.pem")" "the mesh's root"
	jq -r '.certs[0].certPEM' <<<"$snap" >"$tmp/issued.pem"
	[ "$(grep -c 'BEGIN CERTIFICATE' "$tmp/issued.pem")" -ge 2 ] ||
		fail "a workload certificate without its chain: $(cat "$tmp/issued.pem")"
	openssl x509 -in "$tmp/issued.pem" -noout -issuer | grep -q "CN = Intermediate CA" ||
		fail "issuer: $(openssl x509 -in "$tmp/issued.pem" -noout -issuer)"
	openssl verify -CAfile "$tmp/root-cert.pem" -untrusted "$tmp/issued.pem" "$tmp/issued.pem" \
		>/dev/null || fail "the chain does not verify against root-cert.pem"
	[ ! -e "/run/ambit/$CLUSTER/ca/root-key.pem" ] || fail "a root of the cluster's own beside cacerts"
	# And the mesh runs on it: mutual TLS between the two nodes' ztunnels.
	pod_exec mesh/client-0 curl -sf --max-time 5 http://server/ >/dev/null ||
		fail "cross-node request with the plugged-in CA"
}

# --- Per-cluster trust domains: a policy naming another cluster's trust domain holds for this
# one's identities once the mesh config makes it an alias (Istio's trustDomainAliases), in the
# ztunnel as `ambitctl check` says it.
cat <<'EOF2' | actl apply -f - >/dev/null || fail "apply the AuthorizationPolicy"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: from-cluster2, namespace: mesh}
spec:
  selector: {matchLabels: {app: server}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster2.local/ns/mesh/sa/client"]}
EOF2
denied() { ! pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ >/dev/null; }
wait_for 20 denied || fail "cluster.local/ns/mesh/sa/client allowed by a cluster2.local principal without an alias"
mesh_aliases() {
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n%s\n' \
		"data: {mesh: \"trustDomainAliases: [$1]\"}" | actl apply -f - >/dev/null
}
mesh_aliases cluster2.local || fail "apply trustDomainAliases"
expect_eq "$(actl certs --node node2 -o json | jq -r '.node2.trustDomainAliases | join(",")')" \
	cluster2.local "the snapshot's trust domain aliases"
wait_for 20 pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ ||
	fail "the alias's principal does not hold for cluster.local's identity"
expect_contains "$(actl check mesh/client-0 mesh/server-0:8080)" "ALLOW" "ambitctl check agrees"
# A value that is no trust domain is refused, and the last good mesh config keeps serving.
if mesh_aliases "a/b" 2>/dev/null; then fail "trustDomainAliases [a/b] was accepted"; fi
pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ >/dev/null ||
	fail "a refused mesh config changed what serves"

log "cluster and network: label, agents, metrics, proxy-status, relabel; Istio's plugged-in CA; trust domain aliases"
