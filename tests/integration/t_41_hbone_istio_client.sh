#!/usr/bin/env bash
# HBONE as Istio's ztunnel speaks it, from a client written from that wire and not from ours
# (bin/hbone_client.py: Debian's python3-h2, TLS 1.3, ALPN h2, no SNI, CONNECT with only
# :authority plus baggage, forwarded and traceparent): a tunnel carrying bytes and a second
# stream on one connection, the 200 naming the destination workload in `baggage` as Istio's
# does, 401 for a DENY policy, 400 for an authority not served there, 503 without a try for
# the proxy's own ports (Istio's illegal_ports), and a certificate of an unknown CA refused.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd openssl jq iperf3 gtlsclient gtlsserver
# The UDP flow limits, small enough to meet here (docs/udp.md), passed on by `local up`.
export ZTUNNEL_UDP_MAX_FLOWS_PER_IDENTITY=8 ZTUNNEL_UDP_TIMEOUT=3 ZTUNNEL_UDP_TIMEOUT_STREAM=3
/usr/bin/python3 -c 'import h2' 2>/dev/null || skip "needs python3-h2 (tools/install-deps.sh)"
cluster_up manifests
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

client_ip=$(pod_ip mesh/client-0)
server_ip=$(pod_ip mesh/server-0)
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$tmp"; on_exit' EXIT
ca=$tmp/root
mkdir "$ca" && mesh_root "$ca" || fail "the mesh root"

foreign_ca "$tmp" || fail "foreign CA"
id=spiffe://cluster.local/ns/mesh/sa/client
mkleaf "$ca/root-cert.pem" "$ca/root-key.pem" "$id" "$tmp/good" || fail "mesh leaf"
mkleaf "$tmp/foreign-ca.pem" "$tmp/foreign-ca.key" "$id" "$tmp/foreign" || fail "foreign leaf"

# hb LEAF STREAM...: one connection from node1 to the server pod's 15008, as the client pod's
# ztunnel would open it (`forwarded` names the client pod), one CONNECT per STREAM, in order.
GET='GET / HTTP/1.0\r\n\r\n'
hb() {
	local leaf=$1
	shift
	node_exec node1 /usr/bin/python3 "$REPO/tests/integration/bin/hbone_client.py" \
		--connect "$server_ip:15008" --cert "$tmp/$leaf.pem" --key "$tmp/$leaf.key" \
		--ca "$ca/root-cert.pem" --expect-san spiffe://cluster.local/ns/mesh/sa/server \
		--forwarded "for=\"$client_ip:40000\";host=server.mesh.svc.cluster.local" "$@"
}
# field OUT N KEY: KEY of the Nth CONNECT's line (1-based) of hb's output.
field() { jq -rs --argjson n "$2" --arg k "$3" '[.[] | select(.stream)][$n - 1][$k]' <<<"$1"; }

# A tunnel and a second stream on the same connection, as Istio's client pools them.
out=$(hb good "$server_ip:8080=$GET" "$server_ip:8080=$GET") || fail "mesh client refused: $out"
expect_eq "$(jq -rs '.[0].tls + " " + .[0].alpn' <<<"$out")" "TLSv1.3 h2" "TLS version and ALPN"
for n in 1 2; do
	expect_eq "$(field "$out" $n status)" 200 "CONNECT $n"
	expect_contains "$(field "$out" $n reply)" "pod=mesh/server-0 from=$client_ip " \
		"the tunnel's bytes, CONNECT $n (the pod sees the forwarded client)"
done
expect_eq "$(field "$out" 1 stream) $(field "$out" 2 stream)" "1 3" "two streams, one connection"
# The 200 describes the destination workload as Istio's ztunnel does (src/baggage.rs, its
# ENABLE_RESPONSE_BAGGAGE on by default): the Deployment's pod, its canonical service/revision.
expect_eq "$(field "$out" 1 baggage)" \
	"k8s.cluster.name=Kubernetes,k8s.namespace.name=mesh,k8s.deployment.name=server,service.name=server,service.version=v1" \
	"the 200's baggage"

# The inner CONNECT of Istio's double HBONE, as an east-west gateway passes it on to the pod's
# 15008: the authority is the Service's hostname and port, the pod the one reached, the port its
# target (80 -> 8080); the client is of another network (x-forwarded-network), whose address
# (here one of this cluster's pod range, as another cluster may number its pods) names no one
# here and is not claimed. A port the Service lacks, or a host it is not, is 400.
out=$(node_exec node1 /usr/bin/python3 "$REPO/tests/integration/bin/hbone_client.py" \
	--connect "$server_ip:15008" --cert "$tmp/good.pem" --key "$tmp/good.key" \
	--ca "$ca/root-cert.pem" --expect-san spiffe://cluster.local/ns/mesh/sa/server \
	--forwarded "for=\"$client_ip:40000\";host=server.mesh.svc.cluster.local" --network network2 \
	"server.mesh.svc.cluster.local:80=$GET" "server.mesh.svc.cluster.local:81=$GET" \
	"server-local.mesh.svc.cluster.local:80=$GET") || fail "double HBONE's inner CONNECT: $out"
expect_eq "$(field "$out" 1 status)" 200 "CONNECT server.mesh.svc.cluster.local:80"
expect_contains "$(field "$out" 1 reply)" "pod=mesh/server-0 " "the inner tunnel's bytes"
expect_not_contains "$(field "$out" 1 reply)" "from=$client_ip " \
	"another network's client address claimed here"
expect_eq "$(field "$out" 2 status)" 400 "a port the Service lacks"
expect_eq "$(field "$out" 3 status)" 400 "a Service that does not select the pod"

# An authority that is not a pod served behind this 15008 (the client's own pod, on node1).
out=$(hb good "$client_ip:8080=$GET") || fail "authority mismatch: $out"
expect_eq "$(field "$out" 1 status)" 400 "CONNECT to a pod not served there"
expect_eq "$(field "$out" 1 baggage)" null "a refusal carries no baggage"

# The proxy's own ports are no tunnel's target: 503 and never tried (Istio's illegal_ports:
# 15001, 15006, 15008). Ports it does not ban (15053, 15020) go to the pod as any other.
out=$(hb good "$server_ip:15008" "$server_ip:15006" "$server_ip:15001" "$server_ip:15020") ||
	fail "proxy ports: $out"
for n in 1 2 3; do
	expect_eq "$(field "$out" $n status)" 503 "CONNECT to $(field "$out" $n authority)"
done
for p in 15008 15006 15001; do
	wait_log 5 node2-ztunnel "refused CONNECT $server_ip:$p from $id: 503" ||
		fail "CONNECT to :$p was not refused before any try"
done
# No connection was recorded for them: nothing was tried (the old code's access log said
# "Connection refused" for each).
actl local logs node2-ztunnel | grep -E "access .* dst.addr=$server_ip:150(01|06|08) " &&
	fail "a proxy port was tried upstream"
actl local logs node2-ztunnel | grep -q "refused CONNECT $server_ip:15020 " &&
	fail "15020 is not one of the ports Istio refuses"

# CONNECT-UDP (RFC 9298 over RFC 8441's extended CONNECT) into a UDP echo pod of node2, from the
# same independent client: the server's SETTINGS enable extended CONNECT, the 200 says
# `capsule-protocol`, each datagram comes back alone and whole, the pod sees the forwarded
# client's address (its answers reach the ztunnel's socket through tc, not the fabric), a
# second flow shares the connection, and the server ends its side after ours.
actl apply -f - >&2 <<YAML || fail "the UDP echo pod not applied"
apiVersion: apps/v1
kind: Deployment
metadata: {name: udp-echo, namespace: mesh}
spec:
  replicas: 1
  selector: {matchLabels: {app: udp-echo}}
  template:
    metadata: {labels: {app: udp-echo}}
    spec:
      serviceAccountName: server
      nodeName: node2
      containers:
      - name: echo
        command: ["pods/udp-echo.py", "serve", "7007"]
YAML
udp_pod() { actl local status | awk '$1 ~ /^mesh\/udp-echo-/ { print $1; exit }'; }
udp_running() { [ -n "$(udp_pod)" ]; }
wait_for 30 udp_running || fail "the UDP echo pod never ran"
udp_ip=$(pod_ip "$(udp_pod)")
udp_up() { pod_exec mesh/client-0 pods/udp-echo.py ask "$udp_ip" 7007 1 | grep -q "got="; }
wait_for 30 udp_up || fail "the UDP echo pod never answered"
hbu() {
	node_exec node1 /usr/bin/python3 "$REPO/tests/integration/bin/hbone_client.py" --udp \
		--connect "$udp_ip:15008" --cert "$tmp/good.pem" --key "$tmp/good.key" \
		--ca "$ca/root-cert.pem" --expect-san spiffe://cluster.local/ns/mesh/sa/server \
		--forwarded "for=\"$client_ip:40000\"" "$@"
}
out=$(hbu "$udp_ip:7007=one|two|three" "$udp_ip:7007=again") || fail "CONNECT-UDP: $out"
expect_eq "$(field "$out" 1 status) $(field "$out" 2 status)" "200 200" "CONNECT-UDP answered"
expect_eq "$(field "$out" 1 capsule_protocol)" "?1" "the 200's capsule-protocol"
replies=$(jq -rs '[.[] | select(.stream)][0].replies | join("\n")' <<<"$out")
expect_eq "$(wc -l <<<"$replies")" 3 "three datagrams, three answers: $out"
for g in one two three; do
	expect_contains "$replies" "from=$client_ip:" "the pod sees the forwarded client"
	grep -q " got=$g\$" <<<"$replies" || fail "datagram '$g' not echoed whole and alone: $out"
done
expect_contains "$(field "$out" 2 replies)" "got=again" "a second flow on the connection"
expect_eq "$(field "$out" 1 ended) $(field "$out" 1 stream) $(field "$out" 2 stream)" \
	"true 1 3" "flows end cleanly, two streams on one connection"
# The path names the same target as :authority, or it is 400.
out=$(hbu --timeout 2 "$udp_ip:7008=x") || fail "CONNECT-UDP to a closed port: $out"
expect_eq "$(field "$out" 1 status)" 200 "a port without a listener is still a flow (UDP)"
expect_eq "$(field "$out" 1 replies)" "[]" "no answer from a closed port"

# A DENY AuthorizationPolicy for this identity: 401. The proxy's ports are refused first.
cat >"$tmp/deny.yaml" <<'YAML'
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
YAML
actl apply -f "$tmp/deny.yaml" >&2 || fail "apply the DENY policy"
denied() { [ "$(field "$(hb good "$server_ip:8080=$GET")" 1 status)" = 401 ]; }
wait_for 10 denied || fail "DENY policy: want 401"
out=$(hb good "$server_ip:8080=$GET" "$server_ip:15008") || fail "denied: $out"
expect_eq "$(field "$out" 1 status) $(field "$out" 2 status)" "401 503" "DENY, then a proxy port"
# The same L4 policy decides a UDP flow: a DENY of the client on the echo's port.
actl apply -f - >&2 <<'YAML' || fail "apply the UDP DENY policy"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-udp, namespace: mesh}
spec:
  selector: {matchLabels: {app: udp-echo}}
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/mesh/sa/client"]}}]
    to: [{operation: {ports: ["7007"]}}]
YAML
udp_denied() { [ "$(field "$(hbu "$udp_ip:7007=x")" 1 status)" = 401 ]; }
wait_for 10 udp_denied || fail "UDP DENY policy: want 401: $(hbu "$udp_ip:7007=x")"
# ambitctl check explains the flow as the data path decides it. It reads node1's snapshot,
# which may take the policy a moment after node2's ztunnel (each agent reads it on its own).
check_udp() { actl check mesh/client-0 "$udp_ip:7007" --udp 2>&1; }
check_denies() { check_udp | grep -q deny-udp; }
wait_for 10 check_denies || fail "check --udp never named deny-udp: $(check_udp)"
out=$(check_udp) || fail "check --udp: $out"
expect_contains "$out" "port 7007/udp" "check --udp: the flow's port"
expect_contains "$out" "carried:     CONNECT-UDP over HBONE, as the source's identity" \
	"check --udp: how the flow is carried"
expect_contains "$out" "deny-udp" "check --udp: the DENY that decides it"
out=$(hbu "$udp_ip:7009=x") || fail "another port: $out"
expect_eq "$(field "$out" 1 status)" 200 "the DENY names port 7007 only"
actl delete -f - >&2 <<'YAML' || fail "delete the UDP DENY policy"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-udp, namespace: mesh}
YAML

# Ports a pod leaves out of capture, by Istio's sidecar annotations (docs/capture.md): the excl
# pod (node1, enrolled) leaves out outbound 7007 and 8080 and inbound 7008 and 8080. Its UDP to
# the echo pod's 7007 and its TCP to server-0's 8080 cross the fabric as they are (plaintext,
# between the pods' own addresses: not as HBONE on 15008); its port 9000 stays captured.
actl apply -f - >&2 <<'YAML' || fail "the excl pod not applied"
apiVersion: apps/v1
kind: Deployment
metadata: {name: excl, namespace: mesh}
spec:
  replicas: 1
  selector: {matchLabels: {app: excl}}
  template:
    metadata:
      labels: {app: excl}
      annotations:
        traffic.sidecar.istio.io/excludeOutboundPorts: "7007, 8080"
        traffic.sidecar.istio.io/excludeInboundPorts: "7008,8080"
    spec:
      serviceAccountName: client
      nodeName: node1
      containers:
      - name: excl
        image: debian-nginx
        command: ["sh", "-c", "pods/udp-echo.py serve 7008 & exec pods/echo-server.sh"]
YAML
excl_pod() { actl local status | awk '$1 ~ /^mesh\/excl-/ { print $1; exit }'; }
excl_running() { [ -n "$(excl_pod)" ]; }
wait_for 30 excl_running || fail "the excl pod never ran"
excl=$(excl_pod)
excl_ip=$(pod_ip "$excl")
excl_http() { pod_exec plain/client-0 curl -sf --max-time 2 "http://$excl_ip:8080/"; }
wait_for 30 excl_http || fail "the excl pod never served"
pcap=$tmp/excl.pcap
fabric_capture_start "$pcap" "udp port 7007 or tcp port 8080 or tcp port 15008"
out=$(pod_exec "$excl" pods/udp-echo.py ask "$udp_ip" 7007 2 2>&1)
[ "$(grep -c "from=$excl_ip:" <<<"$out")" = 2 ] || fail "the excl pod's UDP to 7007: $out"
# A datagram past the path MTU alike: its pieces go as they came (tc follows into the
# ztunnel only the later pieces of a datagram whose first went there), both ways.
out=$(pod_exec "$excl" pods/udp-echo.py big "$udp_ip" 7007 3000 2>&1)
expect_contains "$out" "from=$excl_ip:" "the excl pod's 3000-byte datagram, as itself"
expect_contains "$out" "size=3000 intact=True" "the excl pod's 3000-byte datagram, whole"
out=$(pod_exec "$excl" curl -sf --max-time 5 "http://$server_ip:8080/") ||
	fail "the excl pod's TCP to 8080: $out"
expect_contains "$out" "from=$excl_ip " "the server sees the excl pod's own address"
fabric_capture_stop
plain=$(tcpdump -nn -r "$pcap" 2>/dev/null)
grep -q "$excl_ip\.[0-9]* > $udp_ip\.7007: " <<<"$plain" ||
	fail "the excl pod's UDP to 7007 did not cross as itself: $(head -5 <<<"$plain")"
grep -q "$excl_ip\.[0-9]* > $server_ip\.8080: Flags \[S\]" <<<"$plain" ||
	fail "the excl pod's TCP to 8080 did not cross as itself: $(head -5 <<<"$plain")"
grep -q "$server_ip\.8080 > $excl_ip\.[0-9]*: Flags \[S\.\]" <<<"$plain" ||
	fail "server-0's answer to the excl pod did not come back as itself"
# HBONE that carried something: a record past 39 bytes (a flow's CONNECT, HEADERS of at least a
# few bytes, then its data). An idle pooled connection's keep-alive PING and its ACK (one
# 39-byte record each way, every 10 s; a CI run saw one in this window), a WINDOW_UPDATE, a
# GOAWAY or a close_notify are no flow.
hbone=$(grep "\.15008" <<<"$plain" | awk '$NF + 0 > 39')
[ -z "$hbone" ] || fail "an excluded port went as HBONE: $(head -3 <<<"$hbone")"
out=$(actl maps --node node1)
expect_contains "$out" "outbound (connect) tcp 8080" "ambitctl maps: the cgroup's excluded TCP port"
expect_contains "$out" "inbound udp 7008" "ambitctl maps: the veth's excluded inbound port"
[ "$(awk '$1 == "pass_excluded" { print $2 }' <<<"$out")" -gt 0 ] ||
	fail "pass_excluded did not count on node1"

# PeerAuthentication STRICT and UDP: plaintext UDP from outside the mesh into the echo pod is
# dropped in the kernel (drop_strict_plaintext), while the mesh's UDP (client-0's, carried as
# CONNECT-UDP) still reaches it, and the answer to the STRICT pod's own UDP to a server outside
# the mesh still comes back. Before it (PERMISSIVE), the plaintext passed.
strict_drops() { actl maps --node node2 | awk '$1 == "drop_strict_plaintext" { print $2 }'; }
plain_ask() { pod_exec plain/client-0 pods/udp-echo.py ask "$udp_ip" 7007 1 2>&1; }
expect_contains "$(plain_ask)" "got=d0" "plaintext UDP under PERMISSIVE"
before=$(strict_drops)
actl apply -f - >&2 <<'YAML' || fail "apply STRICT"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: mesh}
spec: {mtls: {mode: STRICT}}
YAML
plain_dropped() { [ "$(plain_ask)" = timeout ]; }
wait_for 15 plain_dropped || fail "plaintext UDP to a STRICT pod: $(plain_ask)"
after=$(strict_drops)
[ "${after:-0}" -gt "${before:-0}" ] || fail "drop_strict_plaintext on node2 did not move ($before -> $after)"
expect_contains "$(pod_exec mesh/client-0 pods/udp-echo.py ask "$udp_ip" 7007 1 2>&1)" \
	"from=$client_ip:" "the mesh's UDP to a STRICT pod"
# Under STRICT, a port the excl pod leaves out of capture takes plaintext (UDP 7008, TCP
# 8080) while its captured port 9000 refuses it; its own UDP to the STRICT echo pod's 7007 is
# plaintext, as from outside the mesh, and dropped there.
expect_contains "$(pod_exec plain/client-0 pods/udp-echo.py ask "$excl_ip" 7008 1 2>&1)" \
	"pod=$excl from=" "plaintext UDP to an excluded port under STRICT"
excl_http >/dev/null || fail "plaintext TCP to an excluded port under STRICT"
pod_exec plain/client-0 timeout 3 bash -c "exec 3<>/dev/tcp/$excl_ip/9000" 2>/dev/null &&
	fail "plaintext TCP to the excl pod's captured port 9000 under STRICT was let through"
expect_eq "$(pod_exec "$excl" pods/udp-echo.py ask "$udp_ip" 7007 1 2>&1)" timeout \
	"the excl pod's plaintext UDP to a STRICT pod"
fabric_bg /usr/bin/python3 "$REPO/tests/integration/manifests/pods/udp-echo.py" serve 7100
outside() { pod_exec "$(udp_pod)" pods/udp-echo.py ask "$FABRIC_IP" 7100 1 2>&1 | grep -q "got=d0"; }
wait_for 10 outside || fail "a STRICT pod's UDP past the mesh got no answer: $(pod_exec "$(udp_pod)" pods/udp-echo.py ask "$FABRIC_IP" 7100 1 2>&1)"
# A ServiceEntry's UDP port (docs/udp.md): an enrolled pod's datagrams to the entry's host, by
# its name, go to its ztunnel, which sends them on to the entry's endpoint outside the mesh (its
# targetPort) from the node's own address; the answers come back from the entry's address and
# port, a 65,000-byte one whole.
actl apply -f - >&2 <<EOF || fail "apply the UDP ServiceEntry"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo-ext, namespace: mesh}
spec:
  hosts: [echo.ext.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 7200, name: echo, protocol: UDP, targetPort: 7100}]
  endpoints: [{address: $FABRIC_IP}]
EOF
se_echo() { pod_exec mesh/client-0 pods/udp-echo.py ask echo.ext.test 7200 1 2>&1; }
se_echoed() { se_echo | grep -q "got=d0"; }
wait_for 20 se_echoed || fail "UDP to a ServiceEntry's host got no answer: $(se_echo)"
se_vip=$(pod_exec mesh/client-0 getent ahostsv4 echo.ext.test | awk '{ print $1; exit }')
out=$(se_echo)
expect_contains "$out" "src=$se_vip:7200 " "the answer's source, the entry's address"
expect_contains "$out" "from=10.99.0.11:" "the endpoint sees the node's address"
expect_contains "$(pod_exec mesh/client-0 pods/udp-echo.py big echo.ext.test 7200 65000 2>&1)" \
	"size=65000 intact=True" "65,000 bytes to a ServiceEntry's UDP port"
fabric_bg_stop

# Flow limits: a pod spraying source ports meets its identity's cap (8 here) and reclaims its
# own least recently active flows, and every datagram is still answered; a flow idle past
# --udp-timeout-stream (3 s here) ends. Counted in ambit_udp_flows_total.
# udp_metric EVENT [NODE]: NODE's (node1's) count of flows ended by EVENT (0 when none).
udp_metric() {
	node_metrics "${2:-node1}" |
		awk -v e="$1" '$1 == "ambit_udp_flows_total{event=\"" e "\"}" { n = $2 } END { print n + 0 }'
}
before=$(udp_metric reclaimed)
out=$(pod_exec mesh/client-0 pods/udp-echo.py spray "$udp_ip" 7007 20 2>&1)
expect_eq "$out" "answered=20" "twenty flows of one pod past its identity's cap"
after=$(udp_metric reclaimed)
[ "$((${after:-0} - ${before:-0}))" -ge 12 ] ||
	fail "ambit_udp_flows_total{event=reclaimed} on node1: $before -> $after, want 12 more"
wait_log 5 node1-ztunnel "udp: spiffe://cluster.local/ns/mesh/sa/client is at its cap of flows" ||
	fail "the reclaim was not logged"
# (A bound, not a measurement: the flows end at the ztunnel's next sweep past 3 s idle, later
# on a loaded machine.) Both ends time a flow out alike: whichever does first counts it idle and
# resets the stream, which the other end then counts as closed ("stream reset" in its access
# log). So the two nodes' idle counts together.
idle_both() { echo $(($(udp_metric idle) + $(udp_metric idle node2))); }
idle_before=$(idle_both)
idle_moved() { [ "$(idle_both)" -gt "${idle_before:-0}" ]; }
wait_for 20 idle_moved ||
	fail "no flow ended idle after --udp-timeout on either node ($idle_before -> $(idle_both))"

# Istio's shape, the protocol labelled: the client's ztunnel counts its flows as reporter="source"
# and the echo's as reporter="destination", request_protocol="udp", in istio_tcp_* (docs/udp.md),
# and logs each flow's end (direction=outbound udp).
udp_series() {
	node_metrics "$1" | awk -v r="$2" -v m="$3" 'index($0, m "{reporter=\"" r "\"") == 1 &&
		index($0, "request_protocol=\"udp\"") && index($0, "destination_workload=\"udp-echo\"") { s += $NF }
		END { print s + 0 }'
}
[ "$(udp_series node1 source istio_tcp_sent_bytes_total)" -gt 0 ] ||
	fail "no reporter=source UDP bytes on node1: $(node_metrics node1 | grep -c 'request_protocol="udp"')"
[ "$(udp_series node2 destination istio_tcp_received_bytes_total)" -gt 0 ] ||
	fail "no reporter=destination UDP bytes on node2"
wait_log 10 node1-ztunnel "access direction=outbound udp src.addr=$client_ip:[0-9]* dst.addr=$udp_ip:7007 " ||
	fail "no access log line of a UDP flow's end at its source"

# Datagrams larger than the path MTU (1,500 on the pods' veths), each way through the mesh:
# the pod's datagram leaves its veth in fragments, of which tc captures the first (ports) and
# marks the rest for the node to reassemble for the flow's socket; the echo's answer, as large,
# comes back the same way into the ztunnel's socket of that flow. Up to UDP's largest over
# IPv4 with the echo's line around it.
# A new flow's first datagram in pieces too: the node reassembles it, and sk_lookup in the
# node's netns gives the whole to the ztunnel's listener (the kernel drops tc's hand-over of its
# first piece when it reassembles).
for case in "1473" "8000" "65000" "1473 first" "65000 first"; do
	set -- $case
	out=$(pod_exec mesh/client-0 pods/udp-echo.py big "$udp_ip" 7007 "$@" 2>&1)
	expect_eq "$out" "src=$udp_ip:7007 from=${out#*from=}" "a $1-byte datagram's answer ($case)"
	expect_contains "$out" "from=$client_ip:" "a $1-byte datagram came over the mesh ($case)"
	expect_contains "$out" "size=$1 intact=True" "a $1-byte datagram, whole both ways ($case)"
done

# Real UDP applications between enrolled pods, through the mesh: iperf3 -u both ways (its
# control connection over HBONE, its datagrams as CONNECT-UDP), and HTTP/3 over QUIC (ngtcp2's
# example client and server). Their servers run in the echo pod, for at most 30 s.
echo_pod=$(udp_pod)
pod_exec "$echo_pod" timeout 30 iperf3 -s -p 5201 >/dev/null 2>&1 &
iperf_srv=$!
for dir in "" -R; do
	for try in 1 2 3 4 5; do
		out=$(pod_exec mesh/client-0 timeout 15 iperf3 -c "$udp_ip" -p 5201 -u -b 20M \
			-l 1200 -t 2 $dir -J 2>&1) && break
		sleep 0.5
	done
	got=$(jq -r '.end.sum | "\(.packets) \(.lost_packets) \(.lost_percent)"' <<<"$out" 2>&1)
	read -r packets lost percent <<<"$got"
	[ "${packets:-0}" -gt 100 ] 2>/dev/null && [ "$((packets - lost))" -gt 0 ] ||
		fail "iperf3 -u $dir through the mesh: $got: $out"
	log "iperf3 -u $dir through the mesh: $packets datagrams, $lost lost ($percent%)"
done
pod_exec "$echo_pod" pkill -f "iperf3 -s -p 5201"
wait "$iperf_srv" 2>/dev/null
# A pod sees the host's files read-only and its own /tmp: the server's files go in its scratch
# directory ($AMBIT_POD_DIR, which the host sees), and so does what the client downloads.
srv_dir=$(pod_exec "$echo_pod" sh -c 'echo $AMBIT_POD_DIR')/h3
cli_dir=$(pod_exec mesh/client-0 sh -c 'echo $AMBIT_POD_DIR')/h3
mkdir -p "$srv_dir/www" "$cli_dir" || fail "the pods' scratch directories"
echo "HTTP/3 through the mesh" >"$srv_dir/www/index.html"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$srv_dir/k.pem" \
	-out "$srv_dir/c.pem" -days 1 -subj /CN=h3 2>/dev/null || fail "a QUIC certificate"
pod_exec "$echo_pod" timeout 30 /usr/sbin/gtlsserver -q -d "$srv_dir/www" "$udp_ip" 4433 \
	"$srv_dir/k.pem" "$srv_dir/c.pem" >/dev/null 2>&1 &
h3_srv=$!
h3_get() {
	pod_exec mesh/client-0 timeout 5 /usr/bin/gtlsclient -q --exit-on-all-streams-close \
		--download="$cli_dir" "$udp_ip" 4433 "https://$udp_ip:4433/index.html" &&
		grep -q "HTTP/3 through the mesh" "$cli_dir/index.html"
}
wait_for 15 h3_get || fail "HTTP/3 over QUIC through the mesh"
pod_exec "$echo_pod" pkill -f "gtlsserver -q -d $srv_dir/www"
wait "$h3_srv" 2>/dev/null
log "HTTP/3 over QUIC through the mesh: $(cat "$cli_dir/index.html")"

# A certificate from a CA the mesh does not know: the handshake is refused (TLS 1.3 tells
# the client after its side of the handshake finished), no CONNECT is answered.
out=$(hb foreign "$server_ip:8080=$GET" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "certificate of an unknown CA: want TLS refusal (2), got $rc: $out"
expect_not_contains "$out" '"status"' "an unknown CA's client got an answer"
pass
