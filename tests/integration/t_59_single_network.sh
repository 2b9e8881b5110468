#!/usr/bin/env bash
# Istio's multicluster on a single network (multi-primary, one network: alpha in Istio): two local
# clusters brought up with the same --network, whose pods are numbered apart (the second takes
# the next free pod range) and routed to each other across the machine's LoadBalancer network,
# no east-west gateway in between. One root with an intermediate per cluster (cacerts), remote
# secrets each way; helloworld v1 in cluster 1 and v2 in cluster 2, the Service labelled
# istio.io/global=true in both. A client's ztunnel opens HBONE straight to the other cluster's
# pod (as to one of its own), whose ztunnel checks the client's claimed address against the
# workloads it knows of that network, and whose policy sees the client's identity; a waypoint
# reaches the other cluster's pods the same way; a remote secret deleted takes the other
# cluster's endpoints and workloads away.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multicluster_lib.sh"
need_root; need_bins; need_cmd openssl jq
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
B=${CLUSTER}b
b_down() { "$AMBITCTL" local down --name "$B" >/dev/null 2>&1 || true; }
trap_exit 'b_down; rm -rf "$tmp"'

mc_manifests "$tmp"

# A network of this test's own: the test's passes run side by side on the machine.
NET=net-$CLUSTER
cluster_up "$tmp/m1" 2 --network "$NET"
"$AMBITCTL" local up -f "$tmp/m2" --name "$B" --nodes 2 --no-ingress --network "$NET" >&2 ||
	fail "local up of the second cluster on the same network"
A=$CLUSTER
wait_for 30 hello "$A" || fail "helloworld in cluster 1 never answered"
wait_for 30 hello "$B" || fail "helloworld in cluster 2 never answered"

# The second cluster of the network numbers its pods apart: 10.98.17-18 (fd00:98:17-18::).
expect_eq "$(jq -r '.podBase // 0' "/run/ambit/$A/cluster.json")" 0 "cluster 1's pod base"
expect_eq "$(jq -r '.podBase // 0' "/run/ambit/$B/cluster.json")" 16 "cluster 2's pod base"
v2ip=$(jq -r '.pods[] | select(.name == "helloworld-v2-0") | (.ip // .ip6)' "/run/ambit/$B/runtime/pods.json")
case $v2ip in 10.98.18.*|fd00:98:18::*) ;; *) fail "cluster 2's v2 address: '$v2ip'" ;; esac

# --- Remote secrets each way.
on "$B" create-remote-secret --name "$B" >"$tmp/secret-b.yaml" || fail "create-remote-secret of cluster 2"
mc_link "$A" "$B"

# Not global yet: each cluster its own version.
expect_eq "$(versions "$A" 4)" "v1 " "cluster 1 before the Service is global"
mc_global "$A" "$B"
both() { [ "$(versions "$1" 8)" = "v1 v2 " ]; }
wait_for 30 both "$A" || fail "cluster 1's calls: $(versions "$A" 8)"
wait_for 30 both "$B" || fail "cluster 2's calls: $(versions "$B" 8)"
log "verify: both versions answer from each cluster of the one network"

# Straight to the other cluster's pod, no gateway: mutual TLS (HBONE at its 15008) to its
# address, checked against its identity; and the destination took cluster 1's client.
grep -h "direction=outbound .*dst.addr=$(url_host "$v2ip" | sed 's/[][]/\\&/g'):5000 .*dst.identity=spiffe://cluster.local/ns/sample/sa/default dst.workload=helloworld-v2[^ ]* security=mutual_tls" \
	/run/ambit/"$A"/logs/*ztunnel*.log >/dev/null ||
	fail "cluster 1's ztunnel did not open HBONE to v2's pod: $(grep -h 'helloworld-v2' /run/ambit/"$A"/logs/*ztunnel*.log | tail -2)"
grep -h 'spiffe://cluster.local/ns/sample/sa/curl' /run/ambit/"$B"/logs/*ztunnel*.log | grep -q 'direction=inbound' ||
	fail "cluster 2's ztunnel never took cluster 1's client"

# The destination's policy decides on the client's identity: cluster 2's DENY of curl refuses
# cluster 1's calls there (v1 still answers at home).
deny_curl >"$tmp/deny.yaml"
on "$B" apply -f "$tmp/deny.yaml" >/dev/null || fail "apply the DENY in cluster 2"
denied() { [ "$(versions "$A" 8)" = "error v1 " ]; }
wait_for 30 denied || fail "cluster 1's calls with cluster 2's DENY: $(versions "$A" 8)"
on "$B" delete -f "$tmp/deny.yaml" >/dev/null || fail "delete the DENY"
wait_for 30 both "$A" || fail "cluster 1's calls after the DENY went: $(versions "$A" 8)"
log "cluster 2's policy sees cluster 1's client identity"

# --- A waypoint in cluster 1 balances each request over both clusters' pods, cluster 2's
# reached directly (HBONE to the pod, checked against its identity, as one of its own), and a
# DestinationRule's subset by version takes cluster 2's v2 pod: every request routed to it.
on "$A" waypoint apply -n sample --enroll-namespace --wait >/dev/null || fail "waypoint apply in cluster 1"
wait_for 30 mixed "$A" || fail "one connection through cluster 1's waypoint: $(keepalive "$A")"
grep -qhF "\"$(url_host "$v2ip"):5000\"" /run/ambit/"$A"/logs/sample_waypoint-*.log ||
	fail "cluster 1's waypoint never sent to v2's pod: $(grep -h helloworld /run/ambit/"$A"/logs/sample_waypoint-*.log | tail -2)"
cat >"$tmp/v2.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
  namespace: sample
spec:
  host: helloworld.sample.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: helloworld
  namespace: sample
spec:
  hosts: [helloworld.sample.svc.cluster.local]
  http:
  - route:
    - destination: {host: helloworld.sample.svc.cluster.local, subset: v2}
YAML
on "$A" apply -f "$tmp/v2.yaml" >/dev/null || fail "apply the v2 route in cluster 1"
only_v2() { [ "$(keepalive "$A")" = "v2=16 " ]; }
wait_for 30 only_v2 || fail "cluster 1's waypoint with subset v2: $(keepalive "$A")"
on "$A" delete -f "$tmp/v2.yaml" >/dev/null || fail "delete the v2 route"
on "$A" label namespace sample istio.io/use-waypoint- >/dev/null || fail "unlabel sample in cluster 1"
on "$A" waypoint delete -n sample --all >/dev/null || fail "waypoint delete in cluster 1"
wait_for 30 both "$A" || fail "cluster 1's calls after its waypoint went: $(versions "$A" 8)"
log "a waypoint reaches the other cluster's pods of its network, subsets by version too"

# --- A remote secret deleted: that cluster's endpoints are gone within seconds.
on "$A" delete -f "$tmp/secret-b.yaml" >/dev/null || fail "delete cluster 2's remote secret"
only_v1() { [ "$(versions "$A" 6)" = "v1 " ]; }
wait_for 15 only_v1 || fail "cluster 1 still reaches cluster 2 without its remote secret: $(versions "$A" 6)"
log "ok: one network across two clusters, pods reached directly; a deleted remote secret takes them"
