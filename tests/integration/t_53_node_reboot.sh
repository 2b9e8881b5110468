#!/usr/bin/env bash
# A node reboots without a drain (istio/istio#60882): `local reboot node1 --agent-delay` kills
# all of node1 at once, empties its pins, tc filters, cgroups and pods' netns, and its kubelet
# makes the pods' sandboxes again before the agent starts. Through it, enrolled pods on both
# nodes and pods outside the mesh send requests to each other while tcpdump records the fabric
# and node1's pods' veths, and nothing may get through in plaintext (failclosed_lib.sh).
# It prints how long node1's pods were without network and when the first request was served.
# Without ambit-cni in the conflist the pods come back before the agent captures them, and the
# test catches that leak. Without its agent nothing on the node can judge the pod outside the
# mesh, which waits too; in the kube pass ambit-cni asks the API server and lets it run. In the kube pass, `ambitctl uninstall` is refused under the same
# traffic while namespace mesh is still in the mesh.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd tcpdump jq curl
cluster_up manifests
. "$LIB_DIR/failclosed_lib.sh"
fc_start

t0=$(date +%s.%N)
actl local reboot node1 --agent-delay 3 >"$FC_WORK/reboot.log" 2>&1 || {
	cat "$FC_WORK/reboot.log" >&2
	fail "local reboot node1 failed"
}
cat "$FC_WORK/reboot.log" >&2
# Traffic after the reboot until a mesh request from node1 is served again (or 20 s).
wait_for 20 fc_served_since "$t0" || log "no mesh request from node1 served within 20 s of the reboot"
# On Kubernetes (the kube pass), `ambitctl uninstall` under the same traffic: refused while
# namespace mesh is in the mesh (its pods would talk in plaintext once the agents are gone),
# nothing deleted, and the checks below cover the traffic through it.
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
	kc=/run/ambit/$CLUSTER/kube/kubeconfig
	grep -q "server: https://127.0.0.1:" "$kc" || fail "$kc does not point at this machine"
	t_un=$(date +%s.%N)
	out=$("$AMBITCTL" uninstall --kubeconfig "$kc" -y 2>&1) && fail "uninstall went on with namespace mesh in the mesh: $out"
	expect_contains "$out" "1 namespace is still in the mesh (istio.io/dataplane-mode=ambient): mesh"
	kube_api /apis/apps/v1/namespaces/ambit-system/daemonsets/ambit-node | grep -q '"name": *"ambit-node"' ||
		fail "the DaemonSet went with a refused uninstall"
	wait_for 10 fc_served_since "$(date +%s.%N)" || fail "no mesh request from node1 served after the refused uninstall"
	log "uninstall refused under traffic (namespace mesh named); answered/sent since: $(fc_counts "$t_un" 9999999999)"
fi
sleep 1
fc_stop

# The figures. node1's pods are without network from the kill until they run again: ambit-cni
# refuses their sandboxes until the agent captures them, so that is after the agent is back.
down=$(sed -n 's/.*: down .* in \([0-9.]*\) s$/\1/p' "$FC_WORK/reboot.log" | head -1)
held=$(sed -n 's/.*kubelet up, \([0-9]*\) of .*/\1/p' "$FC_WORK/reboot.log" | head -1)
agent=$(sed -n 's/.*agent ready .* at \([0-9.]*\) s$/\1/p' "$FC_WORK/reboot.log" | head -1)
sandbox=$(sed -n 's/.*rebooted, .* pods Running at \([0-9.]*\) s.*/\1/p' "$FC_WORK/reboot.log" | head -1)
# The mesh's pods wait for the agent. So does the pod outside the mesh, unless something else
# can judge it: with --kube, ambit-cni asks the API server (its kubeconfig) and lets it run.
for p in mesh/client-0 mesh/server-local-0; do
	grep -q "pod $p failed to start on node1" "$FC_WORK/reboot.log" || fail "$p ran before node1's agent was back"
done
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
	grep -q "pod plain/client-0 failed to start" "$FC_WORK/reboot.log" &&
		fail "plain/client-0 (outside the mesh) waited for node1's agent though the API server could judge it"
	expect_eq "$held" 1 "pods Running before node1's agent (plain/client-0)"
else
	expect_eq "$held" 0 "pods Running before node1's agent"
fi
log "figures: node1 down in ${down:-?} s; pods Running before its agent: ${held:-?}; agent ready at" \
	"${agent:-?} s; node1's pods without network ${sandbox:-?} s (kill until they run, captured);" \
	"first mesh request served after the reboot began: node1->node2 $(fc_first mesh12 "$t0") s," \
	"node2->node1 $(fc_first mesh21 "$t0") s"
log "answered/sent: $(fc_counts 0 9999999999)"
fc_check_leaks "node1's reboot"
pass
