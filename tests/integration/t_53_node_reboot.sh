#!/usr/bin/env bash
# A node reboots without a drain (istio/istio#60882): `local reboot node1 --agent-delay` kills
# all of node1 at once, empties its pins, tc filters, cgroups and pods' netns, and its kubelet
# makes the pods' sandboxes again before the agent starts. Through it, enrolled pods on both
# nodes and pods outside the mesh send requests to each other, each with a marker, while
# tcpdump records the fabric and node1's netns (its pods' veths). Fail-closed means:
#  (a) no marker of a mesh request in plaintext on the fabric;
#  (b) no request from outside the mesh answered by an enrolled pod (STRICT), nor seen on the
#      way to one in node1's capture.
# It prints how long node1's pods were without network and when the first request was served.
# Without ambit-cni in the conflist the pods come back before the agent captures them, and the
# test catches that leak.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd tcpdump jq curl
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
NODE1_CAP_PID=
LOOP_PIDS=()
stop_all() {
	touch "$WORK/stop"
	local p
	for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	LOOP_PIDS=()
	if [ -n "$NODE1_CAP_PID" ]; then
		kill -INT "$NODE1_CAP_PID" 2>/dev/null
		wait "$NODE1_CAP_PID" 2>/dev/null
		NODE1_CAP_PID=
	fi
}
trap 'stop_all; rm -rf "$WORK"; on_exit' EXIT

server_ip=$(pod_ip mesh/server-0)      # enrolled, node2
local_ip=$(pod_ip mesh/server-local-0) # enrolled, node1
plain_ip=$(pod_ip plain/server-0)      # outside the mesh, node2
[ -n "$server_ip" ] && [ -n "$local_ip" ] && [ -n "$plain_ip" ] || fail "pod IPs unknown"
actl apply -f - >&2 <<'YAML' || fail "PeerAuthentication not applied"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: mesh
spec:
  mtls:
    mode: STRICT
YAML
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 "http://$server_ip:8080/" ||
	fail "server-0 never answered"
wait_for 30 pod_exec mesh/server-0 curl -sf --max-time 2 "http://$local_ip:8080/" ||
	fail "server-local-0 never answered"
# STRICT in force before anything is measured: outside the mesh is refused.
wait_for 30 bash -c "! '$AMBITCTL' local exec plain/server-0 -- curl -sf --max-time 1 http://$local_ip:8080/" ||
	fail "STRICT never refused plain/server-0"

marker="RBT$RANDOM$RANDOM"
fabric_capture_start "$WORK/fabric.pcap"
ip netns exec "ambit-$CLUSTER-node1" tcpdump -i any -nn -s 0 -U --immediate-mode \
	-w "$WORK/node1.pcap" tcp 2>"$WORK/node1.err" &
NODE1_CAP_PID=$!
wait_for 5 grep -q 'listening on' "$WORK/node1.err" || fail "node1's tcpdump did not start"

# loop NAME POD URL: a request every 0.1 s with marker <marker>-NAME-<n>, one line each:
# "<epoch> <curl rc> <body>".
loop() {
	local name=$1 pod=$2 url=$3 i=0 t out rc
	while [ ! -e "$WORK/stop" ]; do
		t=$(date +%s.%N)
		out=$("$AMBITCTL" local exec "$pod" -- curl -s --max-time 1 \
			-H "X-Echo: $marker-$name-$i" "$url" 2>/dev/null)
		rc=$?
		echo "$t $rc ${out//$'\n'/ }" >>"$WORK/$name"
		i=$((i + 1))
		sleep 0.1
	done
}
# Mesh both ways between the nodes; outside the mesh to enrolled pods on both nodes.
loop mesh12 mesh/client-0 "http://$server_ip:8080/" &
LOOP_PIDS+=($!)
loop mesh21 mesh/server-0 "http://$local_ip:8080/" &
LOOP_PIDS+=($!)
loop plain21 plain/server-0 "http://$local_ip:8080/" &
LOOP_PIDS+=($!)
loop plain12 plain/client-0 "http://$server_ip:8080/" &
LOOP_PIDS+=($!)
# Outside the mesh on both ends: plaintext on the fabric by design, which proves the capture.
loop plainplain plain/client-0 "http://$plain_ip:8080/" &
LOOP_PIDS+=($!)
sleep 1

t0=$(date +%s.%N)
actl local reboot node1 --agent-delay 3 >"$WORK/reboot.log" 2>&1 || {
	cat "$WORK/reboot.log" >&2
	fail "local reboot node1 failed"
}
cat "$WORK/reboot.log" >&2
# Traffic after the reboot until a mesh request from node1 is served again (or 20 s).
wait_for 20 bash -c "awk -v t=$t0 '\$1 > t && \$2 == 0 && /pod=mesh/' '$WORK/mesh12' | grep -q ." ||
	log "no mesh request from node1 served within 20 s of the reboot"
sleep 1
stop_all
fabric_capture_stop

# The figures. node1's pods are without network from the kill until they run again: ambit-cni
# refuses their sandboxes until the agent captures them, so that is after the agent is back.
down=$(sed -n 's/.*: down .* in \([0-9.]*\) s$/\1/p' "$WORK/reboot.log" | head -1)
held=$(sed -n 's/.*kubelet up, \([0-9]*\) of .*/\1/p' "$WORK/reboot.log" | head -1)
agent=$(sed -n 's/.*agent ready .* at \([0-9.]*\) s$/\1/p' "$WORK/reboot.log" | head -1)
sandbox=$(sed -n 's/.*rebooted, .* pods Running at \([0-9.]*\) s.*/\1/p' "$WORK/reboot.log" | head -1)
first() { awk -v t="$t0" '$1 > t && $2 == 0 && /pod=mesh/ { printf "%.2f", $1 - t; exit }' "$1"; }
log "figures: node1 down in ${down:-?} s; pods Running before its agent: ${held:-?}; agent ready at" \
	"${agent:-?} s; node1's pods without network ${sandbox:-?} s (kill until they run, captured);" \
	"first mesh request served after the reboot began: node1->node2 $(first "$WORK/mesh12") s," \
	"node2->node1 $(first "$WORK/mesh21") s"
for f in mesh12 mesh21 plain21 plain12 plainplain; do
	log "$f: $(wc -l <"$WORK/$f") requests, $(awk '$2 == 0' "$WORK/$f" | wc -l) answered"
done

# The captures saw the traffic at all: the plaintext of outside-the-mesh requests to the fabric.
leaks=0
grep -aq "$marker-plainplain-" "$WORK/fabric.pcap" ||
	fail "the fabric capture holds no plainplain request (capture broken?)"
# (a) a mesh request in plaintext on the fabric.
n=$(tcpdump -nr "$WORK/fabric.pcap" -A 2>/dev/null | grep -acE "$marker-mesh(12|21)-")
if [ "$n" -gt 0 ]; then
	log "LEAK (a): $n fabric packets carry a mesh request's marker in plaintext"
	leaks=$((leaks + n))
fi
# (b) an enrolled pod answered a request from outside the mesh (STRICT) ...
for f in plain21 plain12; do
	n=$(awk '$2 == 0 && /pod=mesh\//' "$WORK/$f" | wc -l)
	if [ "$n" -gt 0 ]; then
		log "LEAK (b): $n $f requests from outside the mesh answered by an enrolled pod"
		leaks=$((leaks + n))
	fi
done
# ... or one reached an enrolled pod of node1 in plaintext (its veth, node1's capture).
n=$(tcpdump -nr "$WORK/node1.pcap" -A "dst host $local_ip and dst port 8080" 2>/dev/null |
	grep -ac "$marker-plain21-")
if [ "$n" -gt 0 ]; then
	log "LEAK (b): $n packets of plain21 requests reached server-local-0 in plaintext"
	leaks=$((leaks + n))
fi
[ "$leaks" -eq 0 ] || fail "node1's reboot let traffic through uncaptured ($leaks leaks)"
pass
