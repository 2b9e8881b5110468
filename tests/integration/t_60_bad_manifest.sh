#!/usr/bin/env bash
# A malformed manifest is rejected with file:line and reason; what runs keeps working.
. "$(dirname "$0")/lib.sh"
need_root; need_bins
cluster_up manifests
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$tmp"; on_exit' EXIT

cat >"$tmp/bad.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: server
  namespace: mesh
spec:
  ports:
  - port: 99999
YAML
out=$(actl apply -f "$tmp/bad.yaml" 2>&1) && fail "apply accepted an invalid Service"
expect_contains "$out" "bad.yaml:8:" "apply names file:line"
expect_contains "$out" "port" "apply names the field"

# Hand-written broken YAML straight into the watched directory, over a live Service's file.
state=/run/ambit/$CLUSTER/state
live=$(grep -l 'name: server-local' -r "$state" | head -1)
[ -n "$live" ] || fail "cannot find the manifest of server-local in $state"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: broken\n  labels: [unclosed\n' >"$state/zz-broken.yaml"
wait_log 10 node1-agent 'zz-broken.yaml:[0-9]+' || fail "agent did not report the broken file with its line"
actl local logs node1-agent | grep -E 'zz-broken.yaml:[0-9]+' | tail -1 >&2
cp "$live" "$tmp/live.bak"
printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: server-local\n  namespace: mesh\nspec:\n  ports:\n  - port: "eighty"\n' >"$live"
wait_log 10 node1-agent "$(basename "$live"):[0-9]+" || fail "agent did not report the broken service file"
sleep 1
out=$(pod_exec mesh/client-0 curl -sf --max-time 5 http://server-local/) || fail "last good config lost"
expect_contains "$out" "pod=mesh/server-local-0"
out=$(pod_exec mesh/client-0 curl -sf --max-time 5 http://server/) || fail "traffic broken by a bad manifest"
cp "$tmp/live.bak" "$live"
rm -f "$state/zz-broken.yaml"
pass
