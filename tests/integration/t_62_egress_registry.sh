#!/usr/bin/env bash
# Egress and the mesh's outbound policy, live. Servers outside the mesh listen on the fabric
# (10.99.0.1, which every node routes to). Under ALLOW_ANY an unknown destination passes and is
# counted under PassthroughCluster; the `istio` ConfigMap's REGISTRY_ONLY refuses it with a
# reset at once and counts it under BlackHoleCluster (response_flags UH), while Services still
# work; ServiceEntries open the way again: NONE by a CIDR (the client's own destination), STATIC
# by the host's auto-allocated 240.240.0.0/16 address to its endpoint's targetPort (or the
# endpoint's own number for the port), each counted
# under its host; a port the entry does not list, or an entry exported only to its own
# namespace, stays refused; `ambitctl services` shows the entries and the policy; back to
# ALLOW_ANY without a restart.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl python3
cluster_up manifests

EXT=$FABRIC_IP
for port in 18080 18081 18082 18083; do fabric_http "$port" "ext-$port"; done

# get URL: the body from mesh/client-0 (curl's exit status on failure).
get() { pod_exec mesh/client-0 curl -sS --max-time 5 "$1"; }
# refused URL WHY: a reset (curl 7: refused at connect, 55: reset while it still sends the
# request, 56: reset after), never a timeout.
refused() {
	local out rc
	out=$(get "$1" 2>&1)
	rc=$?
	case $rc in 7 | 55 | 56) ;; *) fail "$2: $1: want a reset (curl 7/55/56), got exit $rc: $out" ;; esac
}
# opened LABEL=VALUE...: node1's (the client's ztunnel's) source-reported connections with them.
opened() {
	metric_sum "$(node_metrics node1)" istio_tcp_connections_opened_total 'reporter="source"' \
		'source_workload="client"' "$@"
}
# policy MODE: the mesh config's outboundTrafficPolicy, applied and in force.
policy() {
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n%s\n' \
		"data: {mesh: \"outboundTrafficPolicy: {mode: $1}\"}" | actl apply -f - >&2 ||
		fail "apply outboundTrafficPolicy $1"
}

wait_for 30 get http://server/ || fail "the mesh never came up"
wait_for 20 get "http://$EXT:18080/" || fail "the external server never answered"

# ---- ALLOW_ANY (Istio's default): passed through, counted as PassthroughCluster ----
out=$(get "http://$EXT:18080/") || fail "ALLOW_ANY: unknown destination refused"
expect_contains "$out" "ext-18080"
n=$(opened 'destination_service="PassthroughCluster"' \
	'destination_service_name="PassthroughCluster"')
[ "$n" -ge 1 ] || fail "no PassthroughCluster connection counted: $(node_metrics node1 | grep Passthrough)"
expect_contains "$(actl services)" "outbound traffic policy: ALLOW_ANY"

# ---- REGISTRY_ONLY: unknown destinations reset and counted as BlackHoleCluster ----
policy REGISTRY_ONLY
wait_for 20 bash -c '! "$1" local exec --name "$2" mesh/client-0 -- curl -sf --max-time 3 "$3"' _ \
	"$AMBITCTL" "$CLUSTER" "http://$EXT:18080/" || fail "REGISTRY_ONLY never took effect"
before=$(opened 'destination_service_name="BlackHoleCluster"')
refused "http://$EXT:18080/" "REGISTRY_ONLY, no ServiceEntry"
n=$(opened 'destination_service="BlackHoleCluster"' 'destination_service_name="BlackHoleCluster"' \
	'response_flags="UH"')
[ "$n" -gt "$before" ] || fail "the refusal was not counted under BlackHoleCluster/UH: $(node_metrics node1 | grep BlackHole)"
out=$(get http://server/) || fail "REGISTRY_ONLY refused a Service of the mesh"
expect_contains "$out" "pod=mesh/server-0"
expect_contains "$(actl services)" "outbound traffic policy: REGISTRY_ONLY"

# ---- ServiceEntries ----
actl apply -f - >&2 <<EOF || fail "apply ServiceEntries"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: fabric-net, namespace: mesh}
spec:
  hosts: [fabric.example.internal]
  addresses: [10.99.0.0/24]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 18080, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: mesh}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18082}]
  endpoints: [{address: $EXT}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: own-port, namespace: mesh}
spec:
  hosts: [own.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18082}]
  endpoints: [{address: $EXT, ports: {http: 18080}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: plain}
spec:
  hosts: [private.example.com]
  addresses: [$EXT]
  exportTo: ["."]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 18083, name: http, protocol: HTTP}]
EOF
svcs=$(actl services)
vip=$(printf '%s\n' "$svcs" | awk '$2 == "api.example.com" { print $3 }')
case $vip in 240.240.*) ;; *) fail "api.example.com has no allocated address: $svcs" ;; esac
expect_contains "$svcs" "10.99.0.0/24"

wait_for 20 get "http://$EXT:18080/" || fail "the NONE entry (CIDR) never let 18080 through"
out=$(get "http://$EXT:18080/") || fail "NONE entry"
expect_contains "$out" "ext-18080"
n=$(opened 'destination_service="fabric.example.internal"' \
	'destination_service_name="fabric.example.internal"' 'destination_service_namespace="mesh"')
[ "$n" -ge 1 ] || fail "the NONE entry's connection not counted under its host"
refused "http://$EXT:18081/" "a port no entry lists"
refused "http://$EXT:18083/" "an entry exported only to namespace plain"

out=$(get "http://$vip/") || fail "STATIC entry by its allocated address $vip"
expect_contains "$out" "ext-18082"
n=$(opened 'destination_service="api.example.com"' 'destination_service_namespace="mesh"')
[ "$n" -ge 1 ] || fail "the STATIC entry's connection not counted under its host"
# An endpoint's own number for the port (its `ports`) beats the port's targetPort.
own_vip=$(actl services | awk '$2 == "own.example.com" { print $3 }')
out=$(get "http://$own_vip/") || fail "STATIC entry with an endpoint's own port, at $own_vip"
expect_contains "$out" "ext-18080"
# The address stays the host's when the entries are computed again (another object changes).
actl label namespace plain touched=yes >&2 || fail "label namespace"
vip2=$(actl services | awk '$2 == "api.example.com" { print $3 }')
expect_eq "$vip2" "$vip" "api.example.com's address changed on a recomputation"

# ---- back to ALLOW_ANY, live ----
policy ALLOW_ANY
wait_for 20 get "http://$EXT:18081/" || fail "ALLOW_ANY did not come back"
pass
