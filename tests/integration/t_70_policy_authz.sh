#!/usr/bin/env bash
# L4 AuthorizationPolicy on bookinfo-shaped workloads, each case in the allowed and the denied
# direction: namespace-wide ALLOW by principal, workload-scoped ALLOW by namespace, DENY by port,
# workload DENY by principal, DENY by source ipBlocks (dropped by the kernel: drop_deny_source).
# Denials are counted per policy and the access log names the deciding policy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifests-policy/policy-lib.sh"
need_root; need_bins
cluster_up manifests-policy
POLICY_DIR=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$POLICY_DIR"; on_exit' EXIT

wait_for 40 allowed bookinfo/productpage-0 details:9080 || fail "mesh never came up"
expect_allowed other/client-0 details.bookinfo:9080 "no policy"

# Namespace-wide ALLOW by principal: only productpage may call into bookinfo.
policy ns-allow <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-productpage
  namespace: bookinfo
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/bookinfo/sa/bookinfo-productpage"]
YAML
expect_denied other/client-0 details.bookinfo:9080 "namespace ALLOW by principal (other ns)"
expect_denied bookinfo/reviews-0 details:9080 "namespace ALLOW by principal (same ns, other sa)"
expect_allowed bookinfo/productpage-0 details:9080 "namespace ALLOW by principal (HBONE)"
expect_allowed bookinfo/productpage-0 ratings:9080 "namespace ALLOW by principal (same node)"
wait_log 5 node2-ztunnel 'decision=deny policy="bookinfo/allow-productpage"' ||
	fail "access log does not name the ALLOW policy that did not match"
[ "$(decisions node2 bookinfo/allow-productpage allow)" -ge 1 ] || fail "allow not counted"
[ "$(decisions node2 bookinfo/allow-productpage deny)" -ge 1 ] || fail "deny not counted"
unpolicy ns-allow

# Workload-scoped ALLOW by namespace: ratings takes namespace "other" only.
policy ratings-ns <<'YAML'
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: ratings-from-other
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: ratings
  rules:
  - from:
    - source:
        namespaces: ["other"]
YAML
expect_allowed other/client-0 ratings.bookinfo:9080 "workload ALLOW by namespace"
expect_denied bookinfo/productpage-0 ratings:9080 "workload ALLOW by namespace (bookinfo)"
expect_allowed bookinfo/productpage-0 details:9080 "workload ALLOW does not select details"
unpolicy ratings-ns

# DENY by port on one workload.
policy details-port <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-9081
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: details
  action: DENY
  rules:
  - to:
    - operation:
        ports: ["9081"]
YAML
expect_denied bookinfo/productpage-0 details:9081 "DENY port 9081"
expect_allowed bookinfo/productpage-0 details:9080 "DENY port 9081 leaves 9080"
expect_allowed bookinfo/productpage-0 reviews:9081 "DENY port on details only"
wait_log 5 node2-ztunnel 'decision=deny policy="bookinfo/deny-9081"' ||
	fail "access log does not name the DENY policy"
[ "$(decisions node2 bookinfo/deny-9081 deny)" -ge 1 ] || fail "DENY not counted"
unpolicy details-port

# Workload DENY by principal.
policy reviews-deny <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: reviews-deny-productpage
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: reviews
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/bookinfo/sa/bookinfo-productpage"]
YAML
expect_denied bookinfo/productpage-0 reviews:9080 "DENY by principal"
expect_allowed other/client-0 reviews.bookinfo:9080 "DENY by principal spares others"
unpolicy reviews-deny

# DENY by source ipBlocks: plaintext from legacy/client-0 only; the kernel drops it.
# Its one address the Service takes: IPv4, or IPv6 in an IPv6 cluster (a /128, in deny_src6).
legacy_ip=$(pod_ip legacy/client-0)
[ -n "$legacy_ip" ] || fail "no IP for legacy/client-0"
legacy_block=$(host_prefix "$legacy_ip")
before=$(drops node2 drop_deny_source)
policy deny-ip <<YAML
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-legacy-ip
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: details
  action: DENY
  rules:
  - from:
    - source:
        ipBlocks: ["$legacy_block"]
YAML
expect_denied legacy/client-0 details.bookinfo:9080 "DENY ipBlocks"
expect_allowed legacy/client2-0 details.bookinfo:9080 "DENY ipBlocks spares other sources"
expect_allowed legacy/client-0 reviews.bookinfo:9080 "DENY ipBlocks on details only"
after=$(drops node2 drop_deny_source)
[ "$after" -gt "$before" ] || fail "drop_deny_source on node2 did not move ($before -> $after)"
actl maps --node node2 | grep -q "from $legacy_block to .*bookinfo/details-0" ||
	fail "ambitctl maps does not show the deny_src entry"
unpolicy deny-ip
expect_allowed legacy/client-0 details.bookinfo:9080 "DENY ipBlocks removed"
actl maps --node node2 | grep -q "from $legacy_block" && fail "deny_src entry left behind"
pass
