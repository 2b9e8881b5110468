#!/usr/bin/env bash
# What users see of refusals and metrics. A plaintext client refused in the kernel (STRICT,
# DENY ipBlocks) gets a TCP reset at once (curl exit 7/56, never the timeout 28), on the uplink
# (client on the other node) and on a pod veth (same node); the refusals show on /metrics as
# ambit_kernel_drops_total{reason} and per object in `ambitctl policies` (text and JSON). The
# exposition passes `promtool check metrics` with no complaint, and carries Istio's canonical
# service labels and the destination reporter's destination_service.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifests-policy/policy-lib.sh"
need_root; need_bins; need_cmd promtool; need_cmd jq
cluster_up manifests-policy
POLICY_DIR=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$POLICY_DIR"; on_exit' EXIT

DETAILS_SVC=details.bookinfo.svc.cluster.local

# refused POD HOST:PORT WHY: curl fails with a reset (7: refused at connect, 56: reset after),
# not by waiting out its 10 s (28), which is what a silent drop looks like.
refused() {
	local out rc
	out=$(fetch "$1" "$2" 10)
	rc=$?
	case $rc in 7 | 56) ;; *) fail "$3: $1 -> $2: want a reset (curl 7/56), got exit $rc: $out" ;; esac
}

# kdrops NODE REASON: ambit_kernel_drops_total of that node's /metrics for REASON.
kdrops() { metric_sum "$(node_metrics "$1")" ambit_kernel_drops_total "reason=\"$2\""; }

# kernel_refusals OBJECT: `ambitctl policies -o json`'s kernelRefusals of that object.
kernel_refusals() {
	actl policies -o json | jq -r --arg p "$1" \
		'[.authorizationPolicies[], .peerAuthentications[] | select(.policy == $p)
		  | .kernelRefusals] | first // 0'
}

wait_for 40 allowed bookinfo/productpage-0 details:9080 || fail "mesh never came up"
# Traffic both reporters see: HBONE to a Service from a mesh pod, plaintext from a legacy pod.
for i in 1 2 3; do
	allowed bookinfo/productpage-0 details:9080 || fail "productpage -> details failed"
	allowed legacy/client-0 details.bookinfo:9080 || fail "legacy -> details failed"
done

# ---- the exposition ----
# promtool's lint, less its one complaint about names that are Istio's own: the ztunnel
# dashboard reads workload_manager_{active,pending}_proxy_count, gauges despite "_count".
lint_metrics() {
	promtool check metrics 2>&1 |
		grep -Ev '^workload_manager_(active|pending)_proxy_count non-histogram and non-summary metrics should not have "_count" suffix$'
	return "${PIPESTATUS[0]}"
}
m=$(node_metrics node2) || fail "no metrics from node2"
lint=$(printf '%s\n' "$m" | lint_metrics)
expect_contains "$m" "workload_manager_active_proxy_count"
[ -z "$lint" ] || fail "promtool check metrics complains: $lint"
for fam in istio_tcp_connections_opened_total istio_tcp_connections_closed_total \
	istio_tcp_sent_bytes_total istio_tcp_received_bytes_total ambit_policy_decisions_total \
	ambit_kernel_drops_total; do
	expect_contains "$m" "# HELP $fam " "HELP of $fam"
	expect_contains "$m" "# TYPE $fam counter" "TYPE of $fam"
done
# Every drop reason is there by name (0 or more), verdicts are not.
for r in drop_spoofed_source drop_no_proxy drop_strict_plaintext drop_deny_source; do
	expect_contains "$m" "ambit_kernel_drops_total{reason=\"$r\"} " "kernel drop reason $r"
done
expect_not_contains "$m" 'ambit_kernel_drops_total{reason="assign_' "verdicts as drops"
# The destination reporter names the Service (from the client's forwarded host= over HBONE)
# and both canonical services (label app, else the workload) and revisions (version/latest).
n=$(metric_sum "$m" istio_tcp_connections_opened_total 'reporter="destination"' \
	'source_canonical_service="productpage"' 'source_canonical_revision="v1"' \
	"destination_service=\"$DETAILS_SVC\"" 'destination_service_name="details"' \
	'destination_service_namespace="bookinfo"' 'destination_canonical_service="details"' \
	'destination_canonical_revision="v1"' 'connection_security_policy="mutual_tls"')
[ "$n" -ge 3 ] || fail "destination reporter (HBONE) lacks service/canonical labels: $m"
# Plaintext names no Service: guessed from the pod's Services by target port, as Istio does.
n=$(metric_sum "$m" istio_tcp_connections_opened_total 'reporter="destination"' \
	'source_canonical_service="client"' 'source_canonical_revision="latest"' \
	"destination_service=\"$DETAILS_SVC\"" 'connection_security_policy="none"')
[ "$n" -ge 3 ] || fail "destination reporter (plaintext) lacks destination_service: $m"
m=$(node_metrics node1)
n=$(metric_sum "$m" istio_tcp_connections_opened_total 'reporter="source"' \
	'source_canonical_service="productpage"' "destination_service=\"$DETAILS_SVC\"" \
	'destination_canonical_service="details"')
[ "$n" -ge 3 ] || fail "source reporter lacks canonical labels: $m"
lint=$(printf '%s\n' "$m" | lint_metrics)
[ -z "$lint" ] || fail "promtool check metrics on node1: $lint"

# ---- STRICT: reset, counted by reason and by PeerAuthentication ----
s2=$(kdrops node2 drop_strict_plaintext)
s1=$(kdrops node1 drop_strict_plaintext)
policy ns-strict <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: bookinfo
spec:
  mtls:
    mode: STRICT
YAML
expect_denied legacy/client-0 details.bookinfo:9080 "namespace STRICT"
refused legacy/client-0 details.bookinfo:9080 "STRICT, client on the other node (uplink)"
refused legacy/client-0 ratings.bookinfo:9080 "STRICT, client on the same node (pod veth)"
expect_allowed bookinfo/productpage-0 details:9080 "STRICT, mesh client"
[ "$(kdrops node2 drop_strict_plaintext)" -gt "$s2" ] ||
	fail "ambit_kernel_drops_total{drop_strict_plaintext} on node2 did not rise"
[ "$(kdrops node1 drop_strict_plaintext)" -gt "$s1" ] ||
	fail "ambit_kernel_drops_total{drop_strict_plaintext} on node1 did not rise"
k=$(kernel_refusals "PeerAuthentication bookinfo/default")
[ "$k" -ge 2 ] || fail "ambitctl policies: PeerAuthentication bookinfo/default kernel refusals $k"
line=$(actl policies | awk '$1 == "bookinfo/default"')
[ "$(echo "$line" | awk '{ print $6 }')" -ge 2 ] ||
	fail "ambitctl policies' KERNEL column for bookinfo/default: $line"
unpolicy ns-strict
expect_allowed legacy/client-0 details.bookinfo:9080 "STRICT removed"

# ---- DENY ipBlocks: reset, counted by reason and by AuthorizationPolicy ----
legacy_ip=$(pod_ip legacy/client-0)
[ -n "$legacy_ip" ] || fail "no IP for legacy/client-0"
d2=$(kdrops node2 drop_deny_source)
policy deny-legacy <<YAML
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-legacy
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: details
  action: DENY
  rules:
  - from:
    - source:
        ipBlocks: ["$legacy_ip/32"]
YAML
expect_denied legacy/client-0 details.bookinfo:9080 "DENY ipBlocks"
refused legacy/client-0 details.bookinfo:9080 "DENY ipBlocks"
[ "$(kdrops node2 drop_deny_source)" -gt "$d2" ] ||
	fail "ambit_kernel_drops_total{drop_deny_source} on node2 did not rise"
k=$(kernel_refusals bookinfo/deny-legacy)
[ "$k" -ge 2 ] || fail "ambitctl policies: bookinfo/deny-legacy kernel refusals $k"
line=$(actl policies | awk '$1 == "bookinfo/deny-legacy"')
[ "$(echo "$line" | awk '{ print $6 }')" -ge 2 ] ||
	fail "ambitctl policies' KERNEL column for bookinfo/deny-legacy: $line"
expect_allowed bookinfo/productpage-0 details:9080 "DENY ipBlocks names the legacy pod only"
unpolicy deny-legacy
pass
