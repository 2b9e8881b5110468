#!/usr/bin/env bash
# `ambitctl local up --kube` (issue 10 §5): the local cluster as a Kubernetes lookalike. An API
# server (tests/k8s/fake_apiserver.py, TLS, a token per service account) holds the cluster,
# ambit is installed into it by `ambitctl install`, and each node's kubelet runs the DaemonSet's
# and the CA Deployment's containers from it. Checked:
#  - the API server holds the install (DaemonSet, CA Deployment, root Secret), the manifests'
#    objects, and one Pod per pod with nodeName, podIP and hostIP; the pod's processes run in the
#    kubelet cgroup named by that Pod's UID (kubepods/besteffort/pod<uid>);
#  - each agent and ztunnel run exactly as the DaemonSet's containers say: argv is the
#    template's command and args with $(NODE_NAME) and $(NODE_IPS) expanded, the capability
#    bounding set is the template's add list, the service-account token is where in-cluster
#    config reads it; the agents hold no CA key; the CA runs as uid 65532 with no capability;
#  - the mesh works: cross-node over HBONE with both SPIFFE identities (certificates signed by
#    the CA server);
#  - the API server's RBAC: the node agent's token is refused the root key's Secret (403, with
#    the real server's message) and every Secret cluster-wide; kubectl auth can-i --as says so;
#    nothing else any piece asks is refused (lib.sh's pass checks that in every --kube test);
#  - `ambitctl apply -f` / `delete -f` of an AuthorizationPolicy go through the API server and
#    take effect, then are lifted;
#  - run.sh checks `local down` left nothing.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd python3 curl jq
export AMBIT_LOCAL_KUBE=1
cluster_up manifests

run=/run/ambit/$CLUSTER
api() { kube_api "$@"; }
# Every request needs a token the server knows: the admin's, or a service account's.
expect_eq "$(nsenter --net=/run/netns/ambit-"$CLUSTER"-fabric curl -s -o /dev/null \
	-w '%{http_code}' --cacert "$run/kube/ca.crt" -H "Authorization: Bearer nobody" \
	https://10.99.0.1:6443/api/v1/pods)" 401 "a request with an unknown token"

# --- the API server holds the install and the cluster ----------------------------------------
api /apis/apps/v1/namespaces/ambit-system/daemonsets/ambit-node >"$run/ds.json" ||
	fail "no DaemonSet ambit-system/ambit-node"
expect_eq "$(jq -r .kind "$run/ds.json")" DaemonSet "GET daemonset"
expect_eq "$(api /apis/apps/v1/namespaces/ambit-system/deployments/ambit-ca | jq -r .kind)" \
	Deployment "GET deployment ambit-ca"
expect_eq "$(api /api/v1/namespaces/ambit-system/secrets/ambit-ca-root | jq -r '.data | has("root-key.pem")')" \
	true "the mesh root's Secret"
expect_eq "$(api /api/v1/namespaces/mesh | jq -r '.metadata.labels["istio.io/dataplane-mode"]')" \
	ambient "namespace mesh in the API server"
pod=$(api /api/v1/namespaces/mesh/pods/server-0)
expect_eq "$(jq -r .spec.nodeName <<<"$pod")" node2 "server-0's nodeName"
expect_eq "$(jq -r .status.podIP <<<"$pod")" "$(pod_ip mesh/server-0)" "server-0's podIP"
expect_eq "$(jq -r .status.hostIP <<<"$pod")" 10.99.0.12 "server-0's hostIP"
uid=$(jq -r .metadata.uid <<<"$pod")
cg2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
podcg="$cg2/ambit-$CLUSTER/node2/kubepods/besteffort/pod$uid"
[ -d "$podcg" ] || fail "no kubelet cgroup $podcg for server-0 (uid $uid)"
grep -rqs . "$podcg"/*/cgroup.procs || fail "server-0's processes are not in $podcg"
log "server-0: uid $uid, cgroup kubepods/besteffort/pod$uid, node2"

# --- the DaemonSet's containers, as its template says ----------------------------------------
declare -A capnum=([NET_BIND_SERVICE]=10 [NET_ADMIN]=12 [SYS_PTRACE]=19 [SYS_ADMIN]=21 [SYS_RESOURCE]=24 [PERFMON]=38
	[BPF]=39)
for n in 1 2; do
	for ctr in agent ztunnel; do
		pid=$(cat "$run/node$n/$ctr.pid") || fail "no pid file for node$n's $ctr"
		want=$(jq -r --arg c "$ctr" '.spec.template.spec.containers[] | select(.name == $c) |
			(.command + .args) | join(" ")' "$run/ds.json" |
			sed -e "s/\$(NODE_NAME)/node$n/g" -e "s/\$(NODE_IPS)/10.99.0.1$n/g")
		got=$(tr '\0' ' ' <"/proc/$pid/cmdline" | sed 's/ $//')
		expect_eq "${got#* }" "${want#* }" "node$n $ctr's arguments"
		[[ $got == */$(basename "${want%% *}")\ * ]] || fail "node$n $ctr runs ${got%% *}"
		mask=0
		for c in $(jq -r --arg c "$ctr" '.spec.template.spec.containers[] |
			select(.name == $c) | .securityContext.capabilities.add[]' "$run/ds.json"); do
			[ -n "${capnum[$c]:-}" ] || fail "capability $c has no number in this test"
			mask=$((mask | (1 << ${capnum[$c]})))
		done
		# A container keeps what it adds of what the node's runtime itself holds.
		mask=$((mask & 0x$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
		expect_eq "$(awk '/^CapBnd:/ {print $2}' "/proc/$pid/status")" \
			"$(printf %016x "$mask")" "node$n $ctr's capabilities"
	done
	# In-cluster configuration: the variables, and the token where client libraries read it.
	tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "KUBERNETES_SERVICE_HOST=10.99.0.1" ||
		fail "node$n ztunnel has no KUBERNETES_SERVICE_HOST"
	apid=$(cat "$run/node$n/agent.pid")
	[ -s "/proc/$apid/root/run/secrets/kubernetes.io/serviceaccount/token" ] ||
		fail "node$n agent has no service-account token"
	nsenter -t "$apid" -m ls /etc/ambit/root/root-cert.pem >/dev/null ||
		fail "node$n agent has no root certificate mounted"
	if nsenter -t "$apid" -m sh -c 'ls /etc/ambit/ca /run/ambit/*/ca 2>/dev/null' | grep -q key; then
		fail "node$n agent can read a CA key"
	fi
done
# RBAC (issue 55 §1): the API server authorizes as Kubernetes' does, so the node agent's token
# has what the manifests grant and no more. The mesh's root key is not among it.
agent_tok=$(cat "/proc/$(cat "$run/node1/agent.pid")/root/run/secrets/kubernetes.io/serviceaccount/token")
as_agent() { # PATH: the status code; the body in $run/as-agent.json
	nsenter --net=/run/netns/ambit-"$CLUSTER"-fabric curl -s -o "$run/as-agent.json" \
		-w '%{http_code}' --cacert "$run/kube/ca.crt" -H "Authorization: Bearer $agent_tok" \
		"https://$(url_host "$FABRIC_IP"):6443$1"
}
# Each kubelet runs with its own identity (system:node:NODE), not the admin's token.
kl_tok=$(awk '$1 == "token:" {print $2}' "$run/node1/kubelet.kubeconfig")
expect_eq "$(jq -r --arg t "$kl_tok" '.tokens[$t].username' "$run/kube/tokens.json")" \
	system:node:node1 "node1's kubelet's user"
# What pass then finds in the API server's log of refusals (lib.sh): these, and nothing else.
KUBE_RBAC_ASKED='secrets "ambit-ca-root" is forbidden|secrets is forbidden: .* at the cluster scope'
expect_eq "$(as_agent /api/v1/pods?fieldSelector=spec.nodeName%3Dnode1)" 200 "the agent lists its node's pods"
expect_eq "$(as_agent /api/v1/namespaces/ambit-system/secrets/ambit-ca-root)" 403 \
	"the node agent's token reads the mesh's root key: $(cat "$run/as-agent.json")"
expect_eq "$(jq -r .message "$run/as-agent.json")" 'secrets "ambit-ca-root" is forbidden: User "system:serviceaccount:ambit-system:ambit-node" cannot get resource "secrets" in API group "" in the namespace "ambit-system"'
expect_eq "$(as_agent /api/v1/secrets)" 403 "the node agent's token lists every Secret"
if [ -x /usr/bin/kubectl ]; then # (1.32 here; Debian's 1.20 is fetched by t_97_kubectl_tour)
	canget() { KUBECONFIG=$run/kube/kubeconfig /usr/bin/kubectl auth can-i get secret/ambit-ca-root \
		-n ambit-system "$@" 2>&1; }
	expect_eq "$(canget --as=system:serviceaccount:ambit-system:ambit-node)" no "can-i --as the agent"
	expect_eq "$(canget)" yes "kubectl auth can-i as the admin"
fi
capid=$(cat "$run/node1/ambit-ca.pid") || fail "no CA pod on node1"
expect_eq "$(awk '/^Uid:/ {print $2}' "/proc/$capid/status")" 65532 "the CA's user"
expect_eq "$(awk '/^CapEff:/ {print $2}' "/proc/$capid/status")" 0000000000000000 \
	"the CA's capabilities"

# --- what ambitctl says of it ------------------------------------------------------------------
st=$(actl local status --name "$CLUSTER")
expect_contains "$st" "(pods: https://10.99.0.1:6443) up"
expect_contains "$st" "kubernetes: CA pod ambit-system/ambit-ca-node1: Running"
expect_eq "$(actl local status --name "$CLUSTER" -o json | jq -r .apiServerInCluster)" \
	https://10.99.0.1:6443 "local status -o json: apiServerInCluster"
actl local logs --name "$CLUSTER" apiserver >/dev/null || fail "local logs apiserver"
# Each agent's Lease (issue 10 §2): `ambitctl nodes` with the admin's kubeconfig, from the host
# (the API server answers on its loopback too). The agents post it off their loops once auto
# decided the mode (a local pod's veth seen): polled, not timed.
nodes() { "$AMBITCTL" nodes --kubeconfig "$run/kube/kubeconfig" "$@"; }
nodes_ready() { # MODE: both nodes' Leases Ready with that capture mode
	[ "$(nodes -o json | jq -r --arg m "$1" '[.[] | select(.captureMode == $m and
		.status == "Ready") | .node] | sort | join(",")')" = node1,node2 ]
}
wait_for 60 nodes_ready host || fail "ambitctl nodes does not say host and Ready on both nodes: $(nodes 2>&1)"
out=$(nodes)
expect_contains "$out" "NODE    CAPTURE   VERSION"
grep -Eq "^node1 +host +[^ ]+ +[0-9]+[smhdy].* +Ready$" <<<"$out" || fail "ambitctl nodes' row for node1: $out"
agent_ver=$("${AMBIT_AGENT_BIN:-$REPO/build/ambit-agent}" --version | awk '{print $2}')
expect_eq "$(nodes -o json | jq -r '[.[].version] | unique | join(",")')" "$agent_ver" \
	"the agents' version in their Leases"
lease=$(api /apis/coordination.k8s.io/v1/namespaces/ambit-system/leases/ambit-node-node2)
expect_eq "$(jq -r '.spec.holderIdentity, .spec.leaseDurationSeconds,
	.metadata.annotations["ambit.io/capture-mode"]' <<<"$lease" | paste -sd' ')" "node2 90 host" \
	"node2's Lease"
log "ambitctl nodes: $(tr '\n' ';' <<<"$out")"

# --- the mesh, with certificates from the CA server ------------------------------------------
client_ip=$(pod_ip mesh/client-0)
wait_for 60 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "server never answered through the mesh"
out=$(pod_exec mesh/client-0 curl -sf --max-time 5 http://server/) || fail "request failed"
expect_contains "$out" "pod=mesh/server-0"
expect_contains "$out" "from=$client_ip "
m2=$(node_metrics node2)
dst=$(metric_sum "$m2" istio_tcp_connections_opened_total 'reporter="destination"' \
	'destination_workload="server"' \
	'source_principal="spiffe://cluster.local/ns/mesh/sa/client"' \
	'connection_security_policy="mutual_tls"')
[ "${dst%.*}" -ge 1 ] || fail "node2 counted no mutual-TLS connection from the client's identity"
grep -q "ambit-ca.ambit-system.svc" "$run/logs/node1-agent.log" ||
	fail "node1's agent log never names the CA server"
actl local logs --name "$CLUSTER" node1-ambit-ca | grep -q "signed spiffe://cluster.local/ns/mesh/sa/client for pod mesh/client-0" ||
	fail "the CA server never signed the client's certificate"

# --- apply and delete go through the API server ----------------------------------------------
pol=$(mktemp -d)
cat >"$pol/deny.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-client
  namespace: mesh
spec:
  selector:
    matchLabels:
      app: server
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/mesh/sa/client"]
EOF
actl apply -f "$pol/deny.yaml" --name "$CLUSTER" >&2 || fail "apply failed"
expect_eq "$(api /apis/security.istio.io/v1/namespaces/mesh/authorizationpolicies/deny-client |
	jq -r .spec.action)" DENY "the policy in the API server"
denied() { ! pod_exec mesh/client-0 curl -sf --max-time 2 http://server/; }
wait_for 30 denied || fail "the DENY policy from the API server never took effect"
actl delete -f "$pol/deny.yaml" --name "$CLUSTER" >&2 || fail "delete failed"
expect_eq "$(api /apis/security.istio.io/v1/namespaces/mesh/authorizationpolicies/deny-client |
	jq -r .reason)" NotFound "the policy after delete"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "the policy's deletion never took effect"

# --- a new pod: scheduled, Pending, then Running with its IP once its kubelet started it -------
cat >"$pol/extra.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: extra
  namespace: mesh
spec:
  replicas: 1
  selector:
    matchLabels:
      app: extra
  template:
    metadata:
      labels:
        app: extra
    spec:
      nodeName: node2
      containers:
      - name: extra
        image: debian
        command: ["sleep", "600"]
EOF
actl apply -f "$pol/extra.yaml" --name "$CLUSTER" >&2 || fail "apply of a new Deployment failed"
pod=$(api /api/v1/namespaces/mesh/pods/extra-0)
expect_eq "$(jq -r .status.phase <<<"$pod")" Running "the new pod's phase"
expect_eq "$(jq -r .status.podIP <<<"$pod")" "$(pod_ip mesh/extra-0)" "the new pod's podIP"
expect_eq "$(jq -r '.metadata.ownerReferences[0].kind' <<<"$pod")" ReplicaSet "the new pod's owner"
wait_for 30 grep -q "pod mesh/extra-0 (.*): enrolled" "$run/logs/node2-agent.log" ||
	fail "node2's agent never enrolled the new pod"
grep -q "pod$(jq -r .metadata.uid <<<"$pod")" "$run/logs/node2-agent.log" ||
	fail "node2's agent did not find the new pod by its UID's cgroup"

# --- the API server going away changes nothing that runs --------------------------------------
kill "$(cat "$run/kube/apiserver.pid")" || fail "cannot stop the API server"
wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$(cat "$run/kube/apiserver.pid")" ||
	fail "the API server did not stop"
expect_contains "$(actl local status --name "$CLUSTER")" "(pods: https://10.99.0.1:6443) down"
sleep 2 # the agents' watches fail and back off
out=$(pod_exec mesh/client-0 curl -sf --max-time 5 http://server/) ||
	fail "the mesh stopped serving without the API server"
expect_contains "$out" "pod=mesh/server-0"
if err=$(actl apply -f "$pol/deny.yaml" --name "$CLUSTER" 2>&1 >/dev/null); then
	fail "apply succeeded without an API server"
fi
expect_contains "$err" "API server" "apply without an API server says why"
log "without the API server: the mesh serves, apply says: $(head -1 <<<"$err")"
# A restarted container gets the template and volumes its kubelet had: node2's ztunnel comes
# back (its agent still serves it the last configuration) and the mesh serves on.
old_zt=$(cat "$run/node2/ztunnel.pid")
actl local stop ztunnel --node node2 --name "$CLUSTER" >&2 || fail "local stop ztunnel"
actl local start ztunnel --node node2 --name "$CLUSTER" >&2 ||
	fail "the kubelet could not start the ztunnel again without the API server"
[ "$(cat "$run/node2/ztunnel.pid")" != "$old_zt" ] || fail "the ztunnel did not restart"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "the mesh did not serve again after the ztunnel's restart without the API server"
grep -q "running the template read before" "$run/logs/node2-kubelet.log" ||
	fail "node2's kubelet does not say it ran the template it had"
# So does the agent, with the root certificate its ConfigMap volume held: it cannot list, but
# what it pinned stays and the mesh serves on.
actl local stop agent --node node2 --name "$CLUSTER" >&2 || fail "local stop agent"
actl local start agent --node node2 --name "$CLUSTER" >&2 ||
	fail "the kubelet could not start the agent again without the API server"
nsenter -t "$(cat "$run/node2/agent.pid")" -m test -s /etc/ambit/root/root-cert.pem ||
	fail "the restarted agent lost its root certificate volume"
out=$(pod_exec mesh/client-0 curl -sf --max-time 5 http://server/) ||
	fail "the mesh stopped serving when the agent restarted without the API server"
expect_contains "$out" "pod=mesh/server-0"
rm -rf "$pol"
pass
