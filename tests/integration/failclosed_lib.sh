# Traffic through a node's worst day, and the fail-closed checks after it (sourced by t_53 and
# t_55, after lib.sh and cluster_up manifests). fc_start sets STRICT in mesh, starts tcpdump on
# the fabric and in node1's netns (its pods' veths) and five request loops, each request with a
# marker: enrolled pods both ways between the nodes (mesh12, mesh21), outside the mesh to enrolled
# pods on both nodes (plain21, plain12), and outside the mesh on both ends (plainplain: plaintext
# on the fabric by design, which proves the capture sees the traffic). fc_stop ends them;
# fc_check_leaks fails the test on
#  (a) a marker of a mesh request in plaintext on the fabric;
#  (b) a request from outside the mesh answered by an enrolled pod (STRICT), or seen on its way
#      to one in node1's capture.
FC_WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
FC_NODE1_CAP_PID=
FC_LOOP_PIDS=()
fc_stop() {
	touch "$FC_WORK/stop"
	local p
	for p in "${FC_LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	FC_LOOP_PIDS=()
	if [ -n "$FC_NODE1_CAP_PID" ]; then
		kill -INT "$FC_NODE1_CAP_PID" 2>/dev/null
		wait "$FC_NODE1_CAP_PID" 2>/dev/null
		FC_NODE1_CAP_PID=
	fi
	fabric_capture_stop
}
# AMBIT_IT_SAVE_LOGS=DIR keeps the captures and loops of a failed run too (DIR/<cluster>-fc/).
fc_exit() {
	local rc=${LIB_RC:-$?}
	fc_stop
	[ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${AMBIT_IT_SAVE_LOGS:-}" ] &&
		cp -r "$FC_WORK" "$AMBIT_IT_SAVE_LOGS/$CLUSTER-fc"
	rm -rf "$FC_WORK"
	on_exit
}
trap fc_exit EXIT

FC_SERVER_IP=$(pod_ip mesh/server-0)      # enrolled, node2
FC_LOCAL_IP=$(pod_ip mesh/server-local-0) # enrolled, node1
FC_PLAIN_IP=$(pod_ip plain/server-0)      # outside the mesh, node2
FC_MARKER="FC$RANDOM$RANDOM"

# fc_loop NAME POD URL: a request every 0.1 s with marker <marker>-NAME-<n>, one line each:
# "<epoch> <curl rc> <body>".
fc_loop() {
	local name=$1 pod=$2 url=$3 i=0 t out rc
	while [ ! -e "$FC_WORK/stop" ]; do
		t=$(date +%s.%N)
		out=$("$AMBITCTL" local exec "$pod" -- curl -s --max-time 1 \
			-H "X-Echo: $FC_MARKER-$name-$i" "$url" 2>/dev/null)
		rc=$?
		echo "$t $rc ${out//$'\n'/ }" >>"$FC_WORK/$name"
		i=$((i + 1))
		sleep 0.1
	done
}

fc_start() {
	[ -n "$FC_SERVER_IP" ] && [ -n "$FC_LOCAL_IP" ] && [ -n "$FC_PLAIN_IP" ] || fail "pod IPs unknown"
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
	wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 "http://$FC_SERVER_IP:8080/" ||
		fail "server-0 never answered"
	wait_for 30 pod_exec mesh/server-0 curl -sf --max-time 2 "http://$FC_LOCAL_IP:8080/" ||
		fail "server-local-0 never answered"
	# STRICT in force before anything is measured: outside the mesh is refused.
	wait_for 30 bash -c "! '$AMBITCTL' local exec plain/server-0 -- curl -sf --max-time 1 http://$FC_LOCAL_IP:8080/" ||
		fail "STRICT never refused plain/server-0"
	fabric_capture_start "$FC_WORK/fabric.pcap"
	ip netns exec "ambit-$CLUSTER-node1" tcpdump -i any -nn -s 0 -U --immediate-mode \
		-w "$FC_WORK/node1.pcap" tcp 2>"$FC_WORK/node1.err" &
	FC_NODE1_CAP_PID=$!
	wait_for 5 grep -q 'listening on' "$FC_WORK/node1.err" || fail "node1's tcpdump did not start"
	fc_loop mesh12 mesh/client-0 "http://$FC_SERVER_IP:8080/" &
	FC_LOOP_PIDS+=($!)
	fc_loop mesh21 mesh/server-0 "http://$FC_LOCAL_IP:8080/" &
	FC_LOOP_PIDS+=($!)
	fc_loop plain21 plain/server-0 "http://$FC_LOCAL_IP:8080/" &
	FC_LOOP_PIDS+=($!)
	fc_loop plain12 plain/client-0 "http://$FC_SERVER_IP:8080/" &
	FC_LOOP_PIDS+=($!)
	fc_loop plainplain plain/client-0 "http://$FC_PLAIN_IP:8080/" &
	FC_LOOP_PIDS+=($!)
	sleep 1
}

# fc_served_since T: whether a mesh request from node1 was served after epoch T.
fc_served_since() {
	awk -v t="$1" '$1 > t && $2 == 0 && /pod=mesh/' "$FC_WORK/mesh12" | grep -q .
}
# fc_first LOOP T: seconds from epoch T to LOOP's first mesh request served after it.
fc_first() {
	awk -v t="$2" '$1 > t && $2 == 0 && /pod=mesh/ { printf "%.2f", $1 - t; exit }' \
		"$FC_WORK/$1"
}
# fc_counts T0 T1: each loop's requests and answers between epochs T0 and T1.
fc_counts() {
	local f
	for f in mesh12 mesh21 plain21 plain12 plainplain; do
		awk -v a="$1" -v b="$2" '$1 >= a && $1 < b { n++; if ($2 == 0) ok++ }
			END { printf "%s %d/%d  ", FILENAME, ok, n }' "$FC_WORK/$f"
	done | sed "s|$FC_WORK/||g"
}

fc_check_leaks() {
	local leaks=0 n f
	grep -aq "$FC_MARKER-plainplain-" "$FC_WORK/fabric.pcap" ||
		fail "the fabric capture holds no plainplain request (capture broken?)"
	n=$(tcpdump -nr "$FC_WORK/fabric.pcap" -A 2>/dev/null | grep -acE "$FC_MARKER-mesh(12|21)-")
	if [ "$n" -gt 0 ]; then
		log "LEAK (a): $n fabric packets carry a mesh request's marker in plaintext"
		leaks=$((leaks + n))
	fi
	for f in plain21 plain12; do
		n=$(awk '$2 == 0 && /pod=mesh\//' "$FC_WORK/$f" | wc -l)
		if [ "$n" -gt 0 ]; then
			log "LEAK (b): $n $f requests from outside the mesh answered by an enrolled pod"
			leaks=$((leaks + n))
		fi
	done
	n=$(tcpdump -nr "$FC_WORK/node1.pcap" -A "dst host $FC_LOCAL_IP and dst port 8080" 2>/dev/null |
		grep -ac "$FC_MARKER-plain21-")
	if [ "$n" -gt 0 ]; then
		log "LEAK (b): $n packets of plain21 requests reached server-local-0 in plaintext"
		leaks=$((leaks + n))
	fi
	[ "$leaks" -eq 0 ] || fail "$1 let traffic through uncaptured ($leaks leaks)"
}
