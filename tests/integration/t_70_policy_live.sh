#!/usr/bin/env bash
# Live policy: a policy change takes effect for new connections within a second and closes the
# open connections it now denies (HBONE and plaintext), leaving the others open; malformed or
# hostile policy YAML is refused by `ambitctl apply`, and when written straight into the
# watched directory it is rejected with file:line while the previous policy stays in force.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifests-policy/policy-lib.sh"
need_root; need_bins
cluster_up manifests-policy
POLICY_DIR=$(mktemp -d /tmp/ambit-it-XXXXXX)
HOLDERS=()
trap 'kill "${HOLDERS[@]}" 2>/dev/null; rm -rf "$POLICY_DIR"; on_exit' EXIT

wait_for 40 allowed bookinfo/productpage-0 details:9080 || fail "mesh never came up"
expect_allowed legacy/client2-0 details.bookinfo:9080 "plaintext before any policy"

# hold NAME POD HOST: a long-lived connection to HOST:9082 (echo) from POD; $POLICY_DIR/NAME
# gets "open <line>" once it works, then "closed <epoch>" when the connection ends.
hold() {
	pod_exec "$2" bash -c 'exec 3<>"/dev/tcp/$1/9082" || exit 9
		echo hello >&3; read -t 5 l <&3 || exit 8; echo "open $l"
		while read -t 1 l <&3 || [ $? -gt 128 ]; do :; done
		echo "closed $(date +%s.%N)"' _ "$3" >"$POLICY_DIR/$1" 2>&1 &
	HOLDERS+=($!)
	wait_for 10 grep -q '^open hello' "$POLICY_DIR/$1" || fail "$1: connection never opened"
}

hold pp-details bookinfo/productpage-0 details
hold pp-reviews bookinfo/productpage-0 reviews
hold other-details other/client-0 details.bookinfo
hold legacy-details legacy/client2-0 details.bookinfo

# DENY productpage on details: only that HBONE connection is revoked.
applied=$(date +%s.%N)
policy deny-pp <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-productpage
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: details
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/bookinfo/sa/bookinfo-productpage"]
YAML
wait_for 5 grep -q '^closed' "$POLICY_DIR/pp-details" || fail "denied open connection not closed"
closed=$(awk '/^closed/ { print $2 }' "$POLICY_DIR/pp-details")
log "open connection closed $(awk -v a="$applied" -v c="$closed" 'BEGIN { printf "%.3f", c - a }') s after ambitctl apply"
wait_log 5 node2-ztunnel 'decision=deny policy="bookinfo/deny-productpage".*policy revoked' ||
	fail "no access-log line for the revoked connection"
expect_denied bookinfo/productpage-0 details:9080 "new connections after the DENY"
for h in pp-reviews other-details legacy-details; do
	grep -q '^closed' "$POLICY_DIR/$h" && fail "$h was closed but the policy allows it"
done
expect_allowed other/client-0 details.bookinfo:9080 "DENY spares other principals"

# STRICT revokes the open plaintext connection (the kernel only sees new flows).
policy strict <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: bookinfo
spec:
  mtls:
    mode: STRICT
YAML
wait_for 5 grep -q '^closed' "$POLICY_DIR/legacy-details" || fail "plaintext connection kept under STRICT"
grep -q '^closed' "$POLICY_DIR/other-details" && fail "mTLS connection closed by STRICT"
unpolicy strict

# Malformed and hostile YAML: refused by apply, with a reason naming the field.
cat >"$POLICY_DIR/bad-deny.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-productpage
  namespace: bookinfo
spec:
  action: DENY
YAML
out=$(actl apply -f "$POLICY_DIR/bad-deny.yaml" 2>&1) && fail "apply accepted a DENY without rules"
expect_contains "$out" "bad-deny.yaml" "apply names the file"
cat >"$POLICY_DIR/bad-ip.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-productpage
  namespace: bookinfo
spec:
  action: DENY
  rules:
  - from:
    - source:
        ipBlocks: ["10.0.0.0/99"]
        bogusField: 1
YAML
out=$(actl apply -f "$POLICY_DIR/bad-ip.yaml" 2>&1) && fail "apply accepted a bad CIDR and an unknown field"
expect_contains "$out" "bad-ip.yaml:" "apply names file:line"

# Straight into the watched directory, over the live policy's file: the old policy stays.
state=/run/ambit/$CLUSTER/state
live=$(grep -l 'name: deny-productpage' -r "$state" | head -1)
[ -n "$live" ] || fail "cannot find the live policy in $state"
{ printf 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n'
  printf 'metadata:\n  name: deny-productpage\n  namespace: bookinfo\nspec:\n  action: ALLOW\n'
  printf '  rules:\n  - from: &a [*a, *a, *a, *a]\n    to: {operation: {ports: [[[[\n'; } >"$live"
wait_log 10 node2-agent "$(basename "$live"):[0-9]+" || fail "agent did not reject the broken policy file"
sleep 1
expect_denied bookinfo/productpage-0 details:9080 "previous DENY must stay in force"
expect_allowed other/client-0 details.bookinfo:9080 "previous policy, not allow-nothing"
grep -q '^closed' "$POLICY_DIR/other-details" && fail "a rejected file closed an allowed connection"

# Deleting the policy restores access for new connections.
rm -f "$live"
expect_allowed bookinfo/productpage-0 details:9080 "DENY removed"
pass
