#!/usr/bin/env bash
# Pods' sandboxes are made by their node's kubelet through the CNI plugins of the node's
# conflist (issue 41): host-local holds each pod's address; a plugin that fails leaves the pod
# ContainerCreating with the plugin's error, retried until it works; DEL releases the address
# when the pod goes. `local crash` kills a component each time it comes back, and `local reboot`
# brings a node back with its pods, pins and traffic (what stays closed meanwhile is t_53's).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl
# A back-off base that shows a crash loop in seconds (the kubelet's is 10 s) and leaves a
# failing sandbox's tries up to 1 s apart, room to look between two of them.
export AMBIT_KUBELET_BACKOFF_MS=1000
cluster_up manifests
RUN=/run/ambit/$CLUSTER
IPAM=$RUN/node2/run/cni-ipam/ambit-pods
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"; on_exit' EXIT

status_json() { actl local status -o json 2>/dev/null; }
pod_field() {
	status_json | jq -r --arg ns "${1%/*}" --arg n "${1#*/}" \
		".pods[] | select(.namespace == \$ns and .name == \$n) | .$2"
}
field() { status_json | jq -r --arg n "$1" ".nodes[] | select(.name == \$n) | .$2.$3"; }
pods_json_field() {
	jq -r --arg ns "${1%/*}" --arg n "${1#*/}" \
		".pods[] | select(.namespace == \$ns and .name == \$n) | .$2" "$RUN/runtime/pods.json"
}

# The conflist, and host-local's reservation of each pod's planned address.
for n in node1 node2; do
	expect_eq "$(jq -c '[.plugins[].type]' "$RUN/$n/cni.conflist")" '["ptp","loopback","ambit-cni"]' "$n's plugins"
	expect_eq "$(jq -r '.plugins[0].ipam.type' "$RUN/$n/cni.conflist")" host-local "$n's IPAM"
done
server_ip=$(pods_json_field mesh/server-0 ip)
[ -f "$IPAM/$server_ip" ] || fail "host-local holds no reservation of server-0's $server_ip"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 "http://$server_ip:8080/" ||
	fail "server-0 never answered"

# A plugin that fails: the new pod stays ContainerCreating with its error, nothing half made.
cp "$RUN/node2/cni.conflist" "$WORK/good"
jq '.plugins += [{"type": "ambit-missing-plugin"}]' "$WORK/good" >"$RUN/node2/cni.conflist"
cat >"$WORK/late.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: late, namespace: mesh, labels: {app: late}}
spec:
  nodeName: node2
  serviceAccountName: server
  containers: [{name: late, image: debian-nginx, command: ["pods/echo-server.sh"]}]
YAML
actl apply -f "$WORK/late.yaml" >&2 || fail "apply of pod mesh/late failed"
late_ip=$(pods_json_field mesh/late ip)
late_ns=$(pods_json_field mesh/late netns)
[ -n "$late_ip" ] && [ -n "$late_ns" ] || fail "pods.json lacks mesh/late"
wait_for 10 bash -c "[ \"\$('$AMBITCTL' local status -o json | jq -r '.pods[] | select(.name == \"late\") | .state')\" = ContainerCreating ]" ||
	fail "mesh/late is not ContainerCreating: $(pod_field mesh/late state)"
reason=$(pod_field mesh/late reason)
expect_contains "$reason" "FailedCreatePodSandBox" "the reason of a failed sandbox"
expect_contains "$reason" 'plugin type="ambit-missing-plugin" not found' "the CNI error in the reason"
expect_contains "$(actl local status)" "ContainerCreating" "local status shows ContainerCreating"
# Nothing half made between two tries: looked at while the pod waits out its back-off (the
# kubelet makes each try in a child of its own, and keeps answering meanwhile), and counted
# only if the same back-off still runs after the look (a slow look may meet the next try,
# which makes the netns again).
backoff_of() { # the pod's restarts while it waits between two tries, else nothing
	status_json | jq -r '.pods[] | select(.name == "late") |
		select(.state == "ContainerCreating" and (.restartInMs // 0) > 0) | .restarts'
}
between=0
for _ in $(seq 200); do
	r1=$(backoff_of)
	if [ -n "$r1" ]; then
		ns_left=0 ipam_left=0
		[ -e "/run/netns/$late_ns" ] && ns_left=1
		[ -e "$IPAM/$late_ip" ] && ipam_left=1
		if [ "$(backoff_of)" = "$r1" ]; then
			[ $ns_left = 1 ] && fail "a failed sandbox left its netns"
			[ $ipam_left = 1 ] && fail "a failed ADD left host-local's reservation of $late_ip (no DEL)"
			between=1
			break
		fi
	fi
	sleep 0.05
done
[ $between = 1 ] || fail "mesh/late was never seen between two tries of its sandbox"
# Retried with the back-off: once the plugins work, the pod runs, with its planned address.
cp "$WORK/good" "$RUN/node2/cni.conflist"
wait_for 20 bash -c "[ \"\$('$AMBITCTL' local status -o json | jq -r '.pods[] | select(.name == \"late\") | .state')\" = Running ]" ||
	fail "mesh/late never ran after the plugins were fixed: $(pod_field mesh/late reason)"
[ -f "$IPAM/$late_ip" ] || fail "host-local holds no reservation of mesh/late's $late_ip"
wait_for 20 pod_exec mesh/client-0 curl -sf --max-time 2 "http://$late_ip:8080/" ||
	fail "mesh/late never answered"
expect_contains "$(grep -c "mesh/late amb" "$RUN/runtime/node2.sandboxes")" 1 "node2.sandboxes lists mesh/late"

# DEL when the pod goes: its address released, its netns gone.
actl delete -f "$WORK/late.yaml" >&2 || fail "delete of pod mesh/late failed"
[ -e "$IPAM/$late_ip" ] && fail "host-local still holds $late_ip after the pod went (no DEL)"
[ -e "/run/netns/$late_ns" ] && fail "mesh/late's netns outlived it"

# An ADD held by ambit-cni (an agent that takes the request and does not answer, for at most
# the conflist's timeoutSeconds) holds that pod only: the kubelet answers meanwhile, as a
# kubelet's pod workers run apart from it. Then the pod runs once the real agent is back.
actl local stop agent --node node2 >&2 || fail "local stop agent --node node2 failed"
sock=$(node_run node2)/agent.sock
# It writes down the command of each client it takes (SO_PEERCRED): the kubelet's status probe
# reaches it too, and a client in the node's netns is not in the host's `ss`.
python3 -c '
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
if os.path.exists(sys.argv[1]):
    os.unlink(sys.argv[1])
s.bind(sys.argv[1]); s.listen(16); held = []
while True:
    c = s.accept()[0]
    held.append(c)
    pid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    try:
        comm = open("/proc/%d/comm" % pid).read().strip()
    except OSError:
        comm = "?"
    with open(sys.argv[2], "a") as f:
        f.write(comm + "\n")' "$sock" "$WORK/mute.clients" &
mute=$!
# Listening, not merely there: the stopped agent's socket file stays until the mute one's bind.
mute_listens() { ss -Hxl 2>/dev/null | grep -qF "$sock"; }
wait_for 10 mute_listens || fail "the mute agent did not listen on $sock"
jq '(.plugins[] | select(.type == "ambit-cni") | .timeoutSeconds) = 6' "$WORK/good" >"$RUN/node2/cni.conflist"
sed 's/name: late/name: held/; s/app: late/app: held/; s/- {name: late/- {name: held/' "$WORK/late.yaml" >"$WORK/held.yaml"
actl apply -f "$WORK/held.yaml" >"$WORK/held.log" 2>&1 &
applying=$!
# The ADD is held once the mute agent holds a connection from ambit-cni.
wait_for 10 grep -qx ambit-cni "$WORK/mute.clients" ||
	fail "ambit-cni never reached the mute agent (its clients: $(tr '\n' ' ' <"$WORK/mute.clients" 2>/dev/null))"
st=$(timeout 3 "$AMBITCTL" local status -o json) || fail "local status did not answer while an ADD was held"
expect_eq "$(jq -r '.pods[] | select(.name == "held") | .state' <<<"$st")" ContainerCreating "mesh/held while its ADD is held"
expect_eq "$(jq -r '.nodes[] | select(.name == "node2") | .kubelet.running' <<<"$st")" true "node2's kubelet while an ADD is held"
kill $applying 2>/dev/null; wait $applying 2>/dev/null
kill $mute; wait $mute 2>/dev/null
cp "$WORK/good" "$RUN/node2/cni.conflist"
actl local start agent --node node2 >&2 || fail "local start agent --node node2 failed"
wait_for 30 bash -c "[ \"\$('$AMBITCTL' local status -o json | jq -r '.pods[] | select(.name == \"held\") | .state')\" = Running ]" ||
	fail "mesh/held never ran once the agent was back: $(pod_field mesh/held reason)"
actl delete -f "$WORK/held.yaml" >&2 || fail "delete of pod mesh/held failed"

# A crash loop: killed each time it is back, the kubelet counts the restarts and recovers.
r0=$(field node2 agent restarts)
actl local crash node2 agent --times 2 >&2 || fail "local crash node2 agent failed"
wait_for 20 bash -c "[ \"\$('$AMBITCTL' local status -o json | jq -r '.nodes[] | select(.name == \"node2\") | .agent.running')\" = true ]" ||
	fail "node2's agent did not come back from its crash loop"
[ "$(field node2 agent restarts)" -ge $((r0 + 2)) ] ||
	fail "node2's agent restarts: $(field node2 agent restarts), want >= $((r0 + 2))"

# A reboot: everything of node2 goes and comes back, the pods first; traffic flows again.
pin_before=$(find "/sys/fs/bpf/ambit/$CLUSTER-node2" -maxdepth 1 | wc -l)
zt_before=$(field node2 ztunnel pid)
actl local reboot node2 --agent-delay 1 >"$WORK/reboot.log" 2>&1 || {
	cat "$WORK/reboot.log" >&2
	fail "local reboot node2 failed"
}
cat "$WORK/reboot.log" >&2
# The order of istio#60882: the kubelet makes the sandboxes before the agent is back, and
# ambit-cni refuses them (code 11) until the agent captures the pods. Without its agent the
# plugin cannot judge a namespace, so the pod outside the mesh waits for the agent too.
grep -q "kubelet up, 0 of 2 pods Running" "$WORK/reboot.log" ||
	fail "node2's pods ran before its agent was back"
grep -q "rebooted, 2 of 2 pods Running" "$WORK/reboot.log" || fail "node2's mesh pod never ran after its agent came back"
[ "$(field node2 ztunnel pid)" != "$zt_before" ] || fail "node2's ztunnel survived the reboot"
[ "$(find "/sys/fs/bpf/ambit/$CLUSTER-node2" -maxdepth 1 | wc -l)" -ge "$pin_before" ] ||
	fail "node2's pins were not made again"
[ -f "$IPAM/$server_ip" ] || fail "server-0 did not get its address back after the reboot"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 "http://$server_ip:8080/" ||
	fail "no traffic to server-0 after node2's reboot"
pass
