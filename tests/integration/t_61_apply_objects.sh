#!/usr/bin/env bash
# `ambitctl apply|delete` work object by object (kubectl's output and -n), validate the whole
# resulting state before writing anything, and wait until every node has the change in force.
# A duplicate dropped into the store by hand never replaces or weakens the object in force (it
# once turned STRICT into PERMISSIVE, and took a namespace out of the mesh). Hostile YAML in the
# store does not stall the agents; snapshot versions survive an agent restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifests-policy/policy-lib.sh"
need_root; need_bins; need_cmd python3
cluster_up manifests-policy
POLICY_DIR=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$POLICY_DIR"; on_exit' EXIT
state=/run/ambit/$CLUSTER/state
gen() { cat "$state/generation"; }
status_json() { actl local status -o json 2>/dev/null; }

wait_for 40 allowed bookinfo/productpage-0 details:9080 || fail "mesh never came up"
expect_allowed legacy/client-0 details.bookinfo:9080 "no PeerAuthentication (PERMISSIVE)"

# --- per object, -n, kubectl's words ---
cat >"$POLICY_DIR/strict.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
spec:
  mtls:
    mode: STRICT
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: extra
YAML
out=$(actl apply -f "$POLICY_DIR/strict.yaml" -n bookinfo 2>&1) || fail "apply: $out"
expect_contains "$out" "peerauthentication.security.istio.io/default created"
expect_contains "$out" "serviceaccount/extra created"
expect_contains "$out" "in force on 2 nodes" "apply waits for the nodes"
[ -f "$state/bookinfo/peerauthentication.security.istio.io/default.yaml" ] ||
	fail "the object is not stored in its own file"
grep -q 'namespace: bookinfo' "$state/bookinfo/peerauthentication.security.istio.io/default.yaml" ||
	fail "-n is not written into the stored object"
# In force when apply returns: no waiting in the test itself.
denied legacy/client-0 details.bookinfo:9080 || fail "STRICT not in force when apply returned"

g=$(gen)
out=$(actl apply -f "$POLICY_DIR/strict.yaml" -n bookinfo 2>&1) || fail "re-apply: $out"
expect_contains "$out" "peerauthentication.security.istio.io/default unchanged"
expect_not_contains "$out" "in force" "nothing changed, nothing to wait for"
expect_eq "$(gen)" "$g" "an unchanged apply bumped the generation"

# -n against an object naming another namespace: refused, as kubectl does.
sed 's/^  name: default$/  name: default\n  namespace: other/' "$POLICY_DIR/strict.yaml" >"$POLICY_DIR/other-ns.yaml"
out=$(actl apply -f "$POLICY_DIR/other-ns.yaml" -n bookinfo 2>&1) && fail "-n mismatch accepted"
expect_contains "$out" "does not match the namespace given with -n (bookinfo)"

# --- validation of the resulting state; nothing written on error ---
g=$(gen)
cat >"$POLICY_DIR/dangling.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: to-nowhere
  namespace: bookinfo
spec:
  hosts: [details]
  http:
  - route:
    - destination: {host: nothere}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: innocent
  namespace: bookinfo
YAML
out=$(actl apply -f "$POLICY_DIR/dangling.yaml" 2>&1) && fail "apply accepted what analyze calls an error"
expect_contains "$out" "dangling.yaml:9:"
expect_contains "$out" "IST0101"
expect_contains "$out" "nothing was applied"
expect_eq "$(gen)" "$g" "a refused apply changed the generation"
[ -e "$state/bookinfo/serviceaccount/innocent.yaml" ] && fail "a refused apply wrote an object"

# Warnings: once, for the object applied; never again for objects an unrelated apply leaves.
cat >"$POLICY_DIR/nobody.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: nobody
  namespace: bookinfo
spec:
  selector:
    matchLabels: {app: nosuchapp}
  action: DENY
  rules:
  - from:
    - source: {namespaces: [other]}
YAML
out=$(actl apply -f "$POLICY_DIR/nobody.yaml" 2>&1) || fail "apply with a warning: $out"
expect_eq "$(printf '%s\n' "$out" | grep -c IST0127)" 1 "the warning, once"
printf 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: unrelated, namespace: other}\n' \
	>"$POLICY_DIR/unrelated.yaml"
out=$(actl apply -f "$POLICY_DIR/unrelated.yaml" 2>&1) || fail "unrelated apply: $out"
expect_not_contains "$out" "IST0127" "an unrelated apply repeats another object's warning"
actl delete -f "$POLICY_DIR/nobody.yaml" >&2 || fail "delete nobody"

# Delete, object by object; a missing object is an error, as with kubectl.
cat >"$POLICY_DIR/vs.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: details-route
  namespace: bookinfo
spec:
  hosts: [details]
  http:
  - route:
    - destination: {host: details}
YAML
actl apply -f "$POLICY_DIR/vs.yaml" >&2 || fail "apply a valid VirtualService"
out=$(actl delete -f "$POLICY_DIR/vs.yaml" 2>&1) || fail "delete: $out"
expect_contains "$out" "virtualservice.networking.istio.io/details-route deleted"
out=$(actl delete -f "$POLICY_DIR/vs.yaml" 2>&1) && fail "deleting a missing object succeeded"
expect_contains "$out" "details-route in namespace bookinfo not found"

# --- a hand-placed duplicate never weakens what is in force ---
printf 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: bookinfo\nspec:\n  mtls:\n    mode: PERMISSIVE\n' \
	>"$state/0-evil.yaml"
wait_for 10 bash -c "$(printf '%q ' "$AMBITCTL") local status --name $CLUSTER | grep -q 'also defined in'" ||
	fail "the agents do not report the duplicate"
sleep 1
denied legacy/client-0 details.bookinfo:9080 || fail "a duplicate PERMISSIVE replaced STRICT"
out=$(actl apply -f "$POLICY_DIR/strict.yaml" -n bookinfo 2>&1) && fail "apply over a hand-placed duplicate"
expect_contains "$out" "also defined in $state/0-evil.yaml:1, which ambitctl did not write"
out=$(actl analyze 2>&1) && fail "analyze of the store misses the duplicate"
expect_contains "$out" "defined twice"
rm -f "$state/0-evil.yaml"

# A Namespace without the ambient label, sorting first: bookinfo stays in the mesh.
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bookinfo\n' >"$state/0-ns.yaml"
wait_for 10 bash -c "$(printf '%q ' "$AMBITCTL") local status --name $CLUSTER | grep -q 'Namespace bookinfo: metadata.name: also defined'" ||
	fail "the agents do not report the duplicate Namespace"
sleep 1
expect_allowed bookinfo/productpage-0 details:9080 "mesh traffic with a duplicate Namespace"
denied legacy/client-0 details.bookinfo:9080 || fail "a duplicate Namespace took bookinfo out of the mesh"
rm -f "$state/0-ns.yaml"

# --- hostile YAML in the store: judged in bounded time, the agent keeps answering ---
python3 -c "import sys; sys.stdout.write('a: ' + '[' * (1 << 20) + '\n')" >"$state/deep.yaml"
wait_log 20 node1-agent "deep.yaml:1:[0-9]+: error: nesting deeper than 64 levels" ||
	fail "the agent did not judge the deep file"
timeout 20 "$AMBITCTL" local status --name "$CLUSTER" >/dev/null || fail "an agent stopped answering"
rm -f "$state/deep.yaml"
python3 -c "import sys; sys.stdout.write('# x\n' * (3 << 20))" >"$POLICY_DIR/big.yaml"
out=$(actl analyze -f "$POLICY_DIR/big.yaml" 2>&1) && fail "analyze accepted a file over the cap"
expect_contains "$out" "big.yaml: error: file larger than 8388608 bytes"

# --- waiting names the node that lags; --wait=false does not wait ---
actl local stop ztunnel --node node2 >&2 || fail "stop node2's ztunnel"
sed -i 's/STRICT/PERMISSIVE/' "$POLICY_DIR/strict.yaml"
out=$(actl apply -f "$POLICY_DIR/strict.yaml" -n bookinfo --timeout 3s 2>&1) && fail "apply did not notice node2"
expect_contains "$out" "peerauthentication.security.istio.io/default configured"
expect_contains "$out" "node2: ztunnel not answering"
expect_not_contains "$out" "node1:" "node1 has it in force"
sed -i 's/PERMISSIVE/STRICT/' "$POLICY_DIR/strict.yaml"
out=$(actl apply -f "$POLICY_DIR/strict.yaml" -n bookinfo --wait=false 2>&1) || fail "--wait=false: $out"
expect_not_contains "$out" "in force"
actl local start ztunnel --node node2 >&2 || fail "start node2's ztunnel"

# --- -f - (a heredoc, as the tutorials write it) and -f URL ---
out=$(actl apply -n other -f - 2>&1 <<'YAML'
apiVersion: v1
kind: ServiceAccount
metadata:
  name: from-stdin
YAML
) || fail "apply -f -: $out"
expect_contains "$out" "serviceaccount/from-stdin created"
[ -f "$state/other/serviceaccount/from-stdin.yaml" ] || fail "stdin object not stored"
printf 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: from-url\n' >"$POLICY_DIR/url.yaml"
# Not node_exec: a backgrounded shell function is a subshell, and killing $! would leave the
# server running in the netns after teardown.
nsenter --net=/run/netns/ambit-"$CLUSTER"-node1 python3 -m http.server 18080 --bind 127.0.0.1 \
	--directory "$POLICY_DIR" >/dev/null 2>&1 &
http_pid=$!
trap 'kill $http_pid 2>/dev/null; rm -rf "$POLICY_DIR"; on_exit' EXIT
wait_for 10 node_exec node1 curl -sf http://127.0.0.1:18080/url.yaml || fail "test HTTP server"
out=$(node_exec node1 "$AMBITCTL" apply --name "$CLUSTER" -n other -f http://127.0.0.1:18080/url.yaml 2>&1) ||
	fail "apply -f URL: $out"
expect_contains "$out" "serviceaccount/from-url created"
out=$(node_exec node1 "$AMBITCTL" apply --name "$CLUSTER" -f http://127.0.0.1:18080/missing.yaml 2>&1) &&
	fail "apply of a missing URL succeeded"
expect_contains "$out" "HTTP status 404"
kill $http_pid 2>/dev/null

# --- snapshot versions continue across an agent restart ---
v1=$(node_exec node1 curl -s http://127.0.0.1:15000/snapshot_version)
[ "${v1:-0}" -gt 0 ] || fail "node1's ztunnel has no snapshot version"
actl local stop agent --node node1 >&2 && actl local start agent --node node1 >&2 ||
	fail "restart node1's agent"
actl apply -f "$POLICY_DIR/vs.yaml" >&2 || fail "apply after the agent restart"
v2=$(node_exec node1 curl -s http://127.0.0.1:15000/snapshot_version)
[ "$v2" -gt "$v1" ] || fail "snapshot version went from $v1 to $v2 across an agent restart"
pass
