#!/usr/bin/env bash
# The control plane of a waypoint, apart from its data plane: a waypoint Gateway gets an
# instance pod (out of capture, the Gateway's service account), its node's agent serves that pod
# alone a snapshot with the waypoint's certificate and no other key, the workloads and the
# waypoint's compiled L7 config, re-sent when routes change; a process outside the pod is
# refused; the ztunnels bind the namespace's Services to it and never bypass it; deleting the
# Gateway takes the instance away. The pod runs a stand-in that records what it is sent
# (bin/waypoint-standin), so this holds whatever the waypoint binary does with it.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl python3
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT
run=/run/ambit/$CLUSTER
export AMBIT_WAYPOINT_BIN=$LIB_DIR/bin/waypoint-standin
snap=$run/pods/mesh_waypoint-0/snapshot.json
id=spiffe://cluster.local/ns/mesh/sa/waypoint

wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered before the waypoint"
out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"

pj=$(cat "$run/runtime/pods.json")
pod=$(jq -c '.pods[] | select(.namespace == "mesh" and .name == "waypoint-0")' <<<"$pj")
[ -n "$pod" ] || fail "no instance pod planned: $pj"
expect_eq "$(jq -r '.labels["gateway.networking.k8s.io/gateway-name"]' <<<"$pod")" waypoint
expect_eq "$(jq -r '.labels["istio.io/dataplane-mode"]' <<<"$pod")" none
expect_eq "$(jq -r .serviceAccount <<<"$pod")" waypoint
expect_eq "$(jq -r .agentDir <<<"$pod")" "$run/pods/mesh_waypoint-0/agent"

wait_for 30 test -s "$snap" || fail "the instance got no snapshot"
# The Gateway and the namespace label are two changes: wait for the one binding the Service.
wait_for 30 jq -e 'any(.l7.services[]; .hostname == "server.mesh.svc.cluster.local")' "$snap" ||
	fail "the Service bound to it is not in its L7 config: $(jq -c '[.l7.services[].hostname]' "$snap")"
s=$(cat "$snap")
expect_eq "$(jq -r '.certs | length' <<<"$s")" 1 "one certificate, the waypoint's"
expect_eq "$(jq -r '.certs[0].identity' <<<"$s")" "$id"
jq -e '.certs[0].keyPEM | startswith("-----BEGIN")' <<<"$s" >/dev/null ||
	fail "the waypoint's key is missing"
expect_eq "$(jq -r '.l7.waypoint.identity' <<<"$s")" "$id"
jq -e '[.workloads[] | select(.namespace == "mesh" and .name == "client-0")] | length == 1' <<<"$s" >/dev/null ||
	fail "the workloads are missing (telemetry needs them)"
v1=$(jq -r .version <<<"$s")

# A route change reaches it as a new snapshot, with a higher version.
cat >"$WORK/vs.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: server
  namespace: mesh
spec:
  hosts: [server]
  http:
  - route:
    - destination: {host: server}
      weight: 100
    timeout: 3s
YAML
out=$(actl apply -f "$WORK/vs.yaml" 2>&1) || fail "apply vs: $out"
wait_for 30 bash -c "jq -e '.version > $v1 and any(.l7.services[].routes[]?; .timeoutMs == 3000)' '$snap'" ||
	fail "the route change did not reach the waypoint: $(jq -c '.version, [.l7.services[].routes]' "$snap")"

# Nobody else gets it: the test itself is root on the host, outside the pod's cgroup.
sock=$run/pods/mesh_waypoint-0/agent/agent.sock
out=$(python3 - "$sock" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    req = b'{"op":"watch"}'; s.sendall(struct.pack(">I", len(req)) + req)
    print("refused" if not s.recv(4) else "served")
except OSError:  # closed under us: refused as well
    print("refused")
PY
) || fail "could not try the socket: $out"
expect_eq "$out" refused "a process outside the pod is refused"
wait_log 10 "$(jq -r .node <<<"$pod")-agent" "client refused: waypoint mesh/waypoint-0: pid [0-9]+ runs in cgroup" ||
	fail "the agent did not say why it refused"

# The node snapshot binds the Service to the waypoint; the ztunnel never bypasses it (this
# stand-in speaks no HBONE, so the request must fail, not reach the server directly).
out=$(actl waypoint list -n mesh) || fail "list: $out"
echo "$out" | grep -Eq '^mesh +waypoint +service .* 1 +True$' || fail "list row: $out"
pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ >/dev/null &&
	fail "traffic to a Service bound to a waypoint bypassed it"

# Deleting the Gateway removes the instance; the Service is reached directly again.
out=$(actl waypoint delete -n mesh waypoint 2>&1) || fail "delete: $out"
jq -e '[.pods[] | select(.name == "waypoint-0")] | length == 0' "$run/runtime/pods.json" \
	>/dev/null || fail "the instance pod stayed in the plan"
out=$(actl label namespace mesh istio.io/use-waypoint- 2>&1) || fail "unlabel: $out"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "the Service was not reachable again once the waypoint was gone"
pass
