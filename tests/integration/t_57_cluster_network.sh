#!/usr/bin/env bash
# A cluster and network named as Istio's multicluster names them (`local up --name C --network
# N`): istio-system carries the `topology.istio.io/network` label Istio reads, every node's
# agent says cluster C and network N, the ztunnels' metrics say C on both ends
# (source_cluster, destination_cluster, as Istio's do; the baggage naming it is the unit tests'),
# istioctl proxy-status's CLUSTER column says C; relabelling istio-system moves the nodes' network, as on Istio. A cluster made
# without --network is Istio's default, "Kubernetes" (the other tests).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl jq
cluster_up manifests 2 --network network1
ISTIOCTL=$REPO/build/istioctl

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

log "cluster and network: label, agents, metrics, proxy-status, relabel"
