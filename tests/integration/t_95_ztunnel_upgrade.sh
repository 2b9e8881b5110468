#!/usr/bin/env bash
# A ztunnel upgraded under load fails no connection (DESIGN.md §7): `local upgrade ztunnel` does
# what a DaemonSet rolling update with maxSurge 1 does to a node's pod. The new ztunnel takes the
# old one's listening sockets (SCM_RIGHTS), the old one stops accepting and drains: HBONE peers
# get GOAWAY and move to the new one, and long transfers it holds run to their end. On a bridge
# CNI (in-pod capture) the pods' own listeners go over too.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd socat curl
cluster_up manifests
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$tmp"; on_exit' EXIT

zt_pid() { actl local status --name "$CLUSTER" -o json | jq -r ".nodes[] | select(.name == \"$1\") | .ztunnel.pid"; }

# Two slow uploads that span every upgrade: one across nodes (HBONE, held by both old ztunnels),
# one plaintext into the enrolled server (15006 on node2).
gen='for i in $(seq 1 100); do head -c 262144 /dev/zero; sleep 0.25; done'
want=$(bash -c "$gen" | sha256sum | cut -d' ' -f1)
pod_exec mesh/client-0 bash -c "{ echo UP; $gen; } | socat -t 30 -T 60 - TCP:server:9000" \
	>"$tmp/mesh" 2>&1 &
xfer_mesh=$!
server_ip=$(url_host "$(pod_ip mesh/server-0)")
pod_exec plain/client-0 bash -c "{ echo UP; $gen; } | socat -t 30 -T 60 - TCP:$server_ip:9000" \
	>"$tmp/plain" 2>&1 &
xfer_plain=$!

# Short requests all along: new connections through the mesh, a keep-alive connection reused
# across an upgrade (one curl, many requests), and plaintext into the enrolled pod.
(
	for i in $(seq 1 400); do
		pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 \
			"http://server/loop-$i" || echo "curl-exit-$?"
		[ -e "$tmp/stop" ] && break
	done
) >"$tmp/loop" 2>&1 &
loop=$!
(
	for i in $(seq 1 400); do
		pod_exec plain/client-0 curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 \
			"http://$server_ip:8080/plain-$i" || echo "curl-exit-$?"
		[ -e "$tmp/stop" ] && break
	done
) >"$tmp/plainloop" 2>&1 &
plainloop=$!
# One curl, one connection: 100 requests at 4 a second.
urls=$(for i in $(seq 1 100); do printf -- '-o /dev/null http://server/keep-%d ' "$i"; done)
pod_exec mesh/client-0 curl -s -w '%{http_code} %{num_connects}\n' --rate 4/s $urls \
	>"$tmp/keep" 2>&1 &
keep=$!
sleep 2

# A successor that takes the listeners and then stalls: meanwhile the old ztunnel answers its
# readiness probe 503 (a probe it answers must not make the new pod look ready) and serves on;
# when the successor gives up, the old one is ready again, the same process.
stall_pid=$(zt_pid node2)
/usr/bin/python3 - "$(node_run node2)/ztunnel.sock" "$tmp/stalled" <<'PYEOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b"take 1")
msg, fds, _, _ = socket.recv_fds(s, 256, 16)
open(sys.argv[2], "w").write("%s %d\n" % (msg.decode(), len(fds)))
time.sleep(4)
PYEOF
staller=$!
wait_for 10 test -s "$tmp/stalled" || fail "the stalled successor got no listeners"
# Both families' proxy, metrics and readiness listeners: the IPv6 ones on [::] beside the IPv4 ones.
expect_contains "$(cat "$tmp/stalled")" "give 1 outbound inbound hbone metrics ready admin outbound6 inbound6 hbone6 metrics6 ready6 11"
ready() { node_exec node2 curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:15021/healthz/ready; }
expect_eq "$(ready)" 503 "readiness while a successor takes over"
expect_eq "$(pod_exec mesh/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://server/during-stall)" 200 \
	"a request while the successor stalls"
wait $staller
is_ready() { [ "$(ready)" = 200 ]; }
wait_for 20 is_ready || fail "the old ztunnel is not ready again after the successor gave up"
expect_eq "$(zt_pid node2)" "$stall_pid" "the ztunnel that served on"

declare -A before
for node in node1 node2; do before[$node]=$(zt_pid $node); done
restarts_before=$(actl local status --name "$CLUSTER" -o json | jq '[.nodes[].ztunnel.restarts] | add')
# Both nodes at once while the uploads run (each old ztunnel drains what it holds of them),
# then one after the other.
upgrade() {
	local out
	out=$(actl local upgrade ztunnel --name "$CLUSTER" --node "$1") || fail "upgrade of $1: $out"
	log "$out"
	expect_contains "$out" "drained and exited" "upgrade of $1"
}
upgrade node1 &
up1=$!
upgrade node2 &
up2=$!
wait $up1 || fail "the first upgrade of node1"
wait $up2 || fail "the first upgrade of node2"
for node in node2 node1; do
	upgrade $node
	sleep 1
done
for node in node1 node2; do
	now=$(zt_pid $node)
	[ "$now" != "${before[$node]}" ] || fail "$node: the ztunnel is still pid $now"
	kill -0 "${before[$node]}" 2>/dev/null && fail "$node: the first ztunnel (pid ${before[$node]}) still runs"
	actl local logs --name "$CLUSTER" $node-ztunnel | grep -q "took the listeners of the ztunnel serving at" ||
		fail "$node: no hand-over in the ztunnel log"
	# In-pod (--cni bridge): the pods' own listeners went over with the node's.
	if [ "$(jq -r '.cni // "routed"' "/run/ambit/$CLUSTER/cluster.json")" = bridge ]; then
		actl local logs --name "$CLUSTER" $node-ztunnel |
			grep -Eq "took the listeners of [1-9][0-9]* in-pod pod" ||
			fail "$node: the in-pod pods' listeners were not handed over"
	fi
done
restarts_after=$(actl local status --name "$CLUSTER" -o json | jq '[.nodes[].ztunnel.restarts] | add')
expect_eq "$restarts_after" "$restarts_before" "ztunnel restarts (an upgrade is no crash)"

touch "$tmp/stop"
wait $loop $plainloop $keep
wait $xfer_mesh || fail "the HBONE upload broke across the upgrades: $(cat "$tmp/mesh")"
wait $xfer_plain || fail "the plaintext upload broke across the upgrades: $(cat "$tmp/plain")"
for f in mesh plain; do expect_eq "$(cat "$tmp/$f")" "$want" "$f upload received whole"; done
# The keep-alive connection opened once and was reused throughout.
expect_eq "$(grep -c '^200 1$' "$tmp/keep")" 1 "keep-alive: one connection opened"
sed -i 's/ [0-9]*$//' "$tmp/keep"
for f in loop plainloop keep; do
	n=$(grep -c . "$tmp/$f")
	bad=$(grep -vc '^200$' "$tmp/$f")
	log "$f: $n requests, $bad failed"
	[ "$n" -ge 20 ] || fail "$f: only $n requests ran"
	[ "$bad" = 0 ] || fail "$f: $bad of $n requests failed across the upgrades: $(grep -v '^200$' "$tmp/$f" | sort | uniq -c)"
done

# The new ztunnels carry the traffic: the destination's counts a new connection.
m_before=$(metric_sum "$(node_metrics node2)" istio_tcp_connections_opened_total 'reporter="destination"' 'destination_workload="server"')
pod_exec mesh/client-0 curl -sf --max-time 5 http://server/after >/dev/null || fail "request after the upgrades"
m_after=$(metric_sum "$(node_metrics node2)" istio_tcp_connections_opened_total 'reporter="destination"' 'destination_workload="server"')
[ "$m_after" -gt "$m_before" ] || fail "the new node2 ztunnel did not count the request ($m_before -> $m_after)"
pass
