#!/usr/bin/env bash
# In-pod capture on a bridge CNI (local up --cni bridge): frames between pods of one node cross
# cni0 at L2 and never pass the node's IP stack, so the node-side tc program cannot see them. The
# agents find that the pods' veths are bridge ports and capture in-pod: the ztunnel listens in
# each enrolled pod's own netns (15001, 15006, 15008; netns fd from the agent over SCM_RIGHTS),
# tc_pod runs on the pod's eth0, the pod's outbound leaves from its own netns. Checked: the mode,
# listeners and tc per pod (and none in a pod outside the mesh), same-node and cross-node mesh
# traffic with the client's IP seen, plaintext from a same-node pod outside the mesh captured
# (PERMISSIVE) and refused by the kernel under STRICT (in host mode on this network it reaches
# the pod at L2: this test fails there), L4 policy same-node, unenrolling and enrolling again,
# and ztunnel and agent restarts.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq ss tc socat
cluster_up manifests 2 --cni bridge

client_ip=$(pod_ip mesh/client-0)
server_ip=$(pod_ip mesh/server-0)
local_ip=$(pod_ip mesh/server-local-0)
plain_ip=$(pod_ip plain/client-0)
[ -n "$client_ip" ] && [ -n "$server_ip" ] && [ -n "$local_ip" ] && [ -n "$plain_ip" ] ||
	fail "pod IPs unknown"
# In the IPv6-only pass the pods have IPv6 alone: URLs, ss and the access log bracket it.
server_h=$(url_host "$server_ip") local_h=$(url_host "$local_ip")
re_host() { case $1 in *:*) echo "\\[$1\\]" ;; *) echo "$1" ;; esac; }
podns() { echo "ambit-$CLUSTER-${1/\//-}"; }
in_pod() { # POD CMD...: CMD in the pod's netns only (not its cgroup: not captured)
	local p=$1
	shift
	ip netns exec "$(podns "$p")" "$@"
}
listens() { in_pod "$1" ss -Hltn "sport = :$2" | grep -q LISTEN; }
listens_udp() { in_pod "$1" ss -Hlun "sport = :15001" | grep -q .; }
captured() { # POD: its three listeners, 15001/udp, tc_pod on its eth0 and tc_pod_lo on its lo
	listens "$1" 15001 && listens "$1" 15006 && listens "$1" 15008 && listens_udp "$1" &&
		in_pod "$1" tc filter show dev eth0 ingress | grep -q tc_pod &&
		in_pod "$1" tc filter show dev lo ingress | grep -q tc_pod_lo
}
released() {
	! listens "$1" 15001 && ! listens "$1" 15006 && ! listens "$1" 15008 && ! listens_udp "$1"
}
counter() { # NODE REASON
	actl maps --node "$1" | awk -v r="$2" '$1 == r { print $2; found = 1 } END { if (!found) print 0 }'
}
get() { # POD URL: the answer (curl's error on failure)
	pod_exec "$1" curl -sS --max-time 5 "$2" 2>&1
}

# The mode: auto found the bridge on both nodes.
wait_for 30 bash -c '[ "$("$1" local status --name "$2" -o json |
	jq -r "[.nodes[].agent.captureMode] | join(\",\")")" = inpod,inpod ]' _ "$AMBITCTL" "$CLUSTER" ||
	fail "the agents did not take in-pod mode: $(actl local status | grep capture)"
actl local status | grep -q "node1 capture inpod" || fail "local status does not say node1 is in-pod"
# On Kubernetes ([kube]) each agent says its mode in its Lease (issue 10 §2): `ambitctl nodes`,
# with the admin's kubeconfig, from the host (the API server answers on its loopback); polled.
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
	nodes() { "$AMBITCTL" nodes --kubeconfig "/run/ambit/$CLUSTER/kube/kubeconfig" "$@"; }
	nodes_inpod() {
		[ "$(nodes -o json | jq -r '[.[] | select(.captureMode == "inpod" and
			.status == "Ready") | .node] | sort | join(",")')" = node1,node2 ]
	}
	wait_for 60 nodes_inpod || fail "ambitctl nodes does not say inpod and Ready on both nodes: $(nodes 2>&1)"
	nodes | grep -Eq "^node2 +inpod .* Ready$" || fail "ambitctl nodes' table: $(nodes 2>&1)"
	log "ambitctl nodes: both nodes inpod, Ready"
fi
for p in mesh/client-0 mesh/server-local-0 mesh/server-0; do
	wait_for 20 captured "$p" || fail "$p: not captured in its netns: $(in_pod "$p" ss -ltn)"
done
listens plain/client-0 15001 && fail "plain/client-0 (outside the mesh) has a ztunnel listener"
in_pod plain/client-0 tc filter show dev eth0 ingress | grep -q tc_pod &&
	fail "plain/client-0 has tc_pod"
actl maps --node node1 | grep -q "$local_ip .*in-pod 15006 listener" ||
	fail "inpod_socks has no entry for server-local: $(actl maps --node node1 | grep -A3 inpod_socks)"
log "in-pod on both nodes: three listeners, 15001/udp, tc_pod and tc_pod_lo in each enrolled pod, none outside"

# Mesh traffic, same node (the two pods share cni0) and across nodes.
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server-local/ ||
	fail "same-node request never answered: $(get mesh/client-0 http://server-local/)"
out=$(get mesh/client-0 http://server-local/)
expect_contains "$out" "pod=mesh/server-local-0" "same node"
expect_contains "$out" "from=$client_ip " "same node: the server saw another source"
wait_log 10 node1-ztunnel "src.addr=$(re_host "$client_ip"):[0-9]+ dst.addr=$(re_host "$local_ip"):8080" ||
	fail "node1's ztunnel logged no same-node connection"
out=$(get mesh/client-0 http://server/)
expect_contains "$out" "pod=mesh/server-0" "cross node"
expect_contains "$out" "from=$client_ip " "cross node: the server saw another source"
# The HBONE connection is the client pod's own (pooled, so it is still there).
in_pod mesh/client-0 ss -Htn "dport = :15008" | grep -qF "$server_h:15008" ||
	fail "no HBONE connection from the client pod's netns: $(in_pod mesh/client-0 ss -tn)"
log "mesh: same node and cross node, the servers see $client_ip, HBONE leaves from the pod"

# Plaintext from a same-node pod outside the mesh: at L2 across cni0, yet captured.
before=$(counter node1 assign_inbound)
out=$(get plain/client-0 "http://$local_h:8080/")
expect_contains "$out" "from=$plain_ip " "PERMISSIVE: plaintext from a same-node pod"
[ "$(counter node1 assign_inbound)" -gt "$before" ] ||
	fail "tc_pod did not assign the plaintext flow to the pod's 15006 ($before)"
wait_log 10 node1-ztunnel "src.addr=$(re_host "$plain_ip"):[0-9]+ dst.addr=$(re_host "$local_ip"):8080" ||
	fail "node1's ztunnel logged no plaintext connection captured in-pod"
strict='apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: mesh}
spec: {mtls: {mode: STRICT}}'
actl apply -f - <<<"$strict" >/dev/null || fail "apply STRICT"
before=$(counter node1 drop_strict_plaintext)
pod_exec plain/client-0 curl -sf --max-time 5 "http://$local_h:8080/" >/dev/null &&
	fail "STRICT: plaintext from a same-node pod outside the mesh reached the pod"
[ "$(counter node1 drop_strict_plaintext)" -gt "$before" ] ||
	fail "STRICT: drop_strict_plaintext on node1 did not move"
expect_contains "$(get mesh/client-0 http://server-local/)" "pod=mesh/server-local-0" \
	"STRICT: same-node mesh traffic"
expect_contains "$(get mesh/client-0 http://server/)" "pod=mesh/server-0" "STRICT: cross node"
actl delete -f - <<<"$strict" >/dev/null || fail "delete STRICT"
log "plaintext from a same-node pod outside the mesh: captured, and refused in the kernel under STRICT"

# L4 policy on a same-node call.
deny='apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: mesh}
spec:
  selector: {matchLabels: {app: server-local}}
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/mesh/sa/client"]}}]}]'
actl apply -f - <<<"$deny" >/dev/null || fail "apply DENY"
pod_exec mesh/client-0 curl -sf --max-time 5 http://server-local/ >/dev/null &&
	fail "DENY: the same-node call went through"
actl delete -f - <<<"$deny" >/dev/null || fail "delete DENY"
wait_for 10 pod_exec mesh/client-0 curl -sf --max-time 2 http://server-local/ ||
	fail "the call did not come back after the DENY went"
log "AuthorizationPolicy DENY refuses the same-node call, and lets it go once deleted"

# Out of the mesh and back: the listeners and tc_pod go, then come again. A connection the
# ztunnel carries across the label's removal (client -> server on node2, delivered in server's
# netns from the client's address) goes on: server's netns keeps tc_pod and its route while it
# is open, so server's answer after the removal still reaches the ztunnel; then they go.
has_tc_pod() { in_pod "$1" tc filter show dev eth0 ingress | grep -q tc_pod; }
no_tc_pod() { ! has_tc_pod "$1"; }
# The pod has a /tmp of its own: it hears "go" on its stdin, a fifo.
go=$(mktemp -u /tmp/ambit-it-go-XXXXXX) held_out=$(mktemp /tmp/ambit-it-XXXXXX)
mkfifo "$go"
trap 'rm -f "$go" "$held_out"; on_exit' EXIT
pod_exec mesh/client-0 timeout 60 python3 -c '
import hashlib, socket, sys
s = socket.create_connection(("server", 9000), timeout=30)
s.sendall(b"UP\nbefore\n")
print("sent", flush=True)
sys.stdin.readline()
s.sendall(b"after\n")
s.shutdown(socket.SHUT_WR)
print(s.makefile().read().strip(), hashlib.sha256(b"before\nafter\n").hexdigest(), flush=True)
' <"$go" >"$held_out" 2>&1 &
held_pid=$!
exec 7>"$go"
wait_for 10 grep -q '^sent' "$held_out" || fail "the held connection did not start: $(cat "$held_out")"
actl label namespace mesh istio.io/dataplane-mode- >/dev/null || fail "unlabel"
wait_for 20 released mesh/server-local-0 || fail "server-local's listeners stayed after unenrolling"
wait_for 20 released mesh/server-0 || fail "server's listeners stayed after unenrolling"
wait_for 10 no_tc_pod mesh/server-local-0 ||
	fail "tc_pod stayed on server-local's eth0 after unenrolling"
has_tc_pod mesh/server-0 || fail "tc_pod left server's eth0 while the ztunnel's connection to it was open"
echo go >&7
exec 7>&-
wait "$held_pid"
read -r got want <<<"$(grep -v '^sent' "$held_out")"
[ -n "$want" ] && [ "$got" = "$want" ] ||
	fail "the connection held across the label's removal: $(cat "$held_out")"
wait_for 10 no_tc_pod mesh/server-0 ||
	fail "tc_pod stayed on server's eth0 once the ztunnel's connection to it ended"
wait_log 10 node2-agent "in-pod: pod .*: its netns set-up removed, the ztunnel's connections to it over" ||
	fail "node2's agent did not say server's set-up went"
# Gone now: a later trap of this test (the squatter's) replaces the one that removes them.
rm -f "$go" "$held_out"
trap on_exit EXIT
log "a connection held across the label's removal answered ($got); server's set-up went after it"
expect_contains "$(get plain/client-0 "http://$local_h:8080/")" "from=$plain_ip " "unenrolled"
actl label namespace mesh istio.io/dataplane-mode=ambient >/dev/null || fail "label"
wait_for 20 captured mesh/server-local-0 || fail "server-local not captured again"
wait_for 20 pod_exec mesh/client-0 curl -sf --max-time 2 http://server-local/ ||
	fail "same-node call after enrolling again"
log "unenrolled: listeners and tc_pod gone; enrolled again: back"

# Unenrolled and enrolled again at once, on both nodes: captured again, never "address in use"
# while the ztunnel's workers still hold the old listeners.
actl label namespace mesh istio.io/dataplane-mode- >/dev/null &&
	actl label namespace mesh istio.io/dataplane-mode=ambient >/dev/null || fail "relabel"
wait_for 20 captured mesh/server-local-0 || fail "server-local not captured after a relabel"
wait_for 20 captured mesh/server-0 || fail "server (node2) not captured after a relabel"
wait_for 20 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "cross-node call after a relabel: $(get mesh/client-0 http://server/)"

# A pod holding one of the ztunnel's ports when enrolled: the ztunnel refuses it and says why,
# the agent hands it again with back-off, and it is captured once the port is free.
actl label namespace mesh istio.io/dataplane-mode- >/dev/null || fail "unlabel"
wait_for 20 released mesh/server-local-0 || fail "server-local's listeners stayed after unenrolling"
# Not through in_pod: $! is then socat's own pid (ip netns exec execs it). A pod of IPv6 alone
# (the IPv6-only pass) is captured on [::]:15006 alone: the squatter holds that.
sq=TCP-LISTEN:15006
case $local_ip in *:*) sq=TCP6-LISTEN:15006,ipv6only=1 ;; esac
ip netns exec "$(podns mesh/server-local-0)" socat "$sq,reuseaddr,fork" /dev/null &
squatter=$!
trap 'kill $squatter 2>/dev/null; on_exit' EXIT
wait_for 10 listens mesh/server-local-0 15006 || fail "nothing listens on 15006 in server-local"
actl label namespace mesh istio.io/dataplane-mode=ambient >/dev/null || fail "label"
wait_log 20 node1-agent "could not capture pod $local_ip .*15006.*handed to it again in" ||
	fail "the agent did not say the ztunnel refused server-local: $(actl local logs node1-agent | grep in-pod | tail -3)"
wait_log 20 node1-agent "could not capture pod $local_ip .*attempt 3" ||
	fail "the agent did not hand server-local again"
kill "$squatter"
wait "$squatter" 2>/dev/null
wait_for 30 captured mesh/server-local-0 || fail "server-local not captured once 15006 was free"
wait_for 20 pod_exec mesh/client-0 curl -sf --max-time 2 http://server-local/ ||
	fail "same-node call once server-local was captured"
log "a relabel at once is captured again; a pod holding 15006 is refused, said, and captured once it is free"

# A ztunnel restart: the new one gets every pod's netns from the agent and listens again.
actl local stop ztunnel --node node1 >/dev/null || fail "stop ztunnel"
wait_for 10 released mesh/client-0 || fail "the stopped ztunnel's listeners stayed"
actl local start ztunnel --node node1 >/dev/null || fail "start ztunnel"
wait_for 20 captured mesh/client-0 || fail "the restarted ztunnel does not listen in the pod"
wait_for 20 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "no traffic after the ztunnel restart"
# An agent restart: the pods stay captured meanwhile, the new agent takes them over.
actl local stop agent --node node1 >/dev/null || fail "stop agent"
captured mesh/client-0 || fail "the pod was released when the agent stopped"
expect_contains "$(get mesh/client-0 http://server-local/)" "pod=mesh/server-local-0" \
	"with the agent stopped"
handed() { actl local logs node1-agent | grep -c "in-pod: a ztunnel connected; handed it 2 pod netns"; }
before=$(handed)
actl local start agent --node node1 >/dev/null || fail "start agent"
# The new agent's own line (the restarted ztunnel's above says the same): until its first sync
# it tells the ztunnel nothing, so the pods keep their listeners meanwhile.
wait_for 20 bash -c "[ \"\$(\"$AMBITCTL\" local logs --name \"$CLUSTER\" node1-agent | grep -c 'in-pod: a ztunnel connected; handed it 2 pod netns')\" -gt $before ]" ||
	fail "the new agent never handed the ztunnel its pods: $(actl local logs node1-agent | grep in-pod | tail -3)"
actl local logs node1-ztunnel | grep -q "pod(s) the agent no longer names released" &&
	fail "the agent's restart released the ztunnel's pods: $(actl local logs node1-ztunnel | grep in-pod | tail -3)"
expect_contains "$(get mesh/client-0 http://server/)" "pod=mesh/server-0" "after the agent restart"
log "ztunnel and agent restarts: the pods stay captured, traffic flows"
pass
