#!/usr/bin/env bash
# Enrolled pods reach Services and pods, cross-node and same-node, through the ztunnels; the
# fabric carries TLS and never the payload; the server sees the client pod's IP; metrics count it.
# A UDP Service answers pods in and out of the mesh from its VIPs (balanced in the kernel).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd tcpdump jq curl
cluster_up manifests

client_ip=$(pod_ip mesh/client-0)
# By the name of mesh/server (both families in a dual-stack cluster) the client's IPv6 there.
client_addr=$(pod_addr mesh/client-0)
server_ip=$(pod_ip mesh/server-0) server_h=$(url_host "$server_ip")
local_ip=$(pod_ip mesh/server-local-0) local_h=$(url_host "$local_ip")
[ -n "$client_ip" ] && [ -n "$server_ip" ] && [ -n "$local_ip" ] || fail "pod IPs unknown"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

marker="AMBIT-SECRET-$RANDOM$RANDOM"
pcap=$(mktemp /tmp/ambit-it-XXXXXX.pcap)
trap 'rm -f "$pcap"; on_exit' EXIT
fabric_capture_start "$pcap"

# Cross-node through the Service name, and straight to the pod IP.
for url in http://server/ http://server.mesh.svc.cluster.local/ "http://$server_h:8080/"; do
	out=$(pod_exec mesh/client-0 curl -sf --max-time 5 -H "X-Echo: $marker" "$url") ||
		fail "cross-node request to $url failed"
	expect_contains "$out" "pod=mesh/server-0" "$url answered by the wrong pod"
	from=$client_addr
	[ "$url" = "http://$server_h:8080/" ] && from=$client_ip
	expect_contains "$out" "from=$from " "$url: server did not see the client pod IP"
	expect_contains "$out" "echo=$marker" "$url: payload changed"
done
# Same node (one ztunnel, no TLS needed on the wire).
for url in http://server-local/ "http://$local_h:8080/"; do
	out=$(pod_exec mesh/client-0 curl -sf --max-time 5 -H "X-Echo: $marker" "$url") ||
		fail "same-node request to $url failed"
	expect_contains "$out" "pod=mesh/server-local-0" "$url answered by the wrong pod"
	expect_contains "$out" "from=$client_ip " "$url: server did not see the client pod IP"
done
# A legacy (non-enrolled) client is plaintext on the wire: proves the capture sees payloads.
out=$(pod_exec plain/client-0 curl -sf --max-time 5 -H "X-Echo: PLAIN-$marker" http://server/) ||
	fail "legacy request failed"
expect_contains "$out" "pod=plain/server-0"

fabric_capture_stop
grep -aq "PLAIN-$marker" "$pcap" || fail "capture did not record the legacy plaintext (capture broken?)"
if grep -a "$marker" "$pcap" | grep -avq "PLAIN-$marker"; then
	fail "mesh payload seen in plaintext on the fabric"
fi
hbone=$(tcpdump -nr "$pcap" "tcp port 15008" 2>/dev/null | wc -l)
[ "$hbone" -gt 0 ] || fail "no HBONE (15008) packets on the fabric"
# HBONE connections are pooled (the handshake may predate the capture): look for TLS 1.3
# application-data records (type 0x17, legacy version 0x0303) at the start of 15008 payloads.
# pcap's tcp[] reads IPv4 alone: over IPv6 (an IPv6-only cluster) the TCP header is at ip6[40].
v4rec='ip and tcp[((tcp[12]&0xf0)>>2)] = 0x17 and tcp[((tcp[12]&0xf0)>>2)+1:2] = 0x0303'
v6rec='ip6 and ip6[6] = 6 and ip6[40+((ip6[52]&0xf0)>>2)] = 0x17 and ip6[40+((ip6[52]&0xf0)>>2)+1:2] = 0x0303'
tls=$(tcpdump -nr "$pcap" "tcp port 15008 and (($v4rec) or ($v6rec))" 2>/dev/null | wc -l)
log "fabric: $hbone HBONE packets, $tls TLS application-data records, no mesh payload in clear"
[ "$tls" -gt 0 ] || fail "no TLS records on port 15008"

# Metrics: the client's ztunnel reports as source, the server's as destination.
m1=$(node_metrics node1)
m2=$(node_metrics node2)
src_open=$(metric_sum "$m1" istio_tcp_connections_opened_total 'reporter="source"' 'destination_workload="server"' 'source_principal="spiffe://cluster.local/ns/mesh/sa/client"')
dst_open=$(metric_sum "$m2" istio_tcp_connections_opened_total 'reporter="destination"' 'destination_workload="server"' 'source_principal="spiffe://cluster.local/ns/mesh/sa/client"' 'connection_security_policy="mutual_tls"')
dst_sent=$(metric_sum "$m2" istio_tcp_sent_bytes_total 'reporter="destination"' 'destination_workload="server"')
dst_recv=$(metric_sum "$m2" istio_tcp_received_bytes_total 'reporter="destination"' 'destination_workload="server"')
log "metrics: source opened=$src_open destination opened=$dst_open sent=$dst_sent received=$dst_recv"
[ "${src_open%.*}" -ge 3 ] || fail "node1 ztunnel counted $src_open outbound connections, want >= 3"
[ "${dst_open%.*}" -ge 3 ] || fail "node2 ztunnel counted $dst_open inbound mTLS connections, want >= 3"
[ "${dst_sent%.*}" -gt 0 ] && [ "${dst_recv%.*}" -gt 0 ] || fail "byte counters did not move"
expect_contains "$m1" "istio_tcp_connections_closed_total" "closed counter missing"

# Access logs name the client's socket on both sides: the HBONE CONNECT carries the port.
# (An IPv6 address is in brackets there: [v6]:port; the pattern escapes them.)
client_h=$(url_host "$client_ip")
client_re=${client_h//[/\\[}
client_re=${client_re//]/\\]}
wait_log 5 node2-ztunnel "access direction=inbound src.addr=$client_re:[1-9][0-9]* .*security=mutual_tls" ||
	fail "node2's inbound access log lost the client's source port"
out=$(actl local logs node2-ztunnel | grep -F "access direction=inbound src.addr=$client_h:" | tail -1)
port=${out#*src.addr="$client_h":}
port=${port%% *}
actl local logs node1-ztunnel | grep -qF "access direction=outbound src.addr=$client_h:$port " ||
	fail "inbound port $port is not the client's port in node1's outbound log"

# UDP Services as kube-proxy makes them, in the kernel (cgroup connect/sendmsg/recvmsg): a
# ClusterIP's UDP port, with a named targetPort, reaches one of its endpoints from pods in and
# out of the mesh, at each of its VIPs (both families in a dual-stack cluster); a socket's flow
# stays on one endpoint, and its answers (recvfrom, getpeername) come from the VIP. Balanced
# before any capture: from the mesh's pods the mesh then carries it to the endpoint (below).
udp_echo_apply 2 "ipFamilyPolicy: PreferDualStack" || fail "the UDP echo Service not applied"
udp_vips=$(actl services | awk '$1 == "mesh" && $2 == "udp-echo" { print $3; exit }' | tr , ' ')
[ -n "$udp_vips" ] || fail "no VIP for mesh/udp-echo"
udp_ask() { pod_exec "$1" pods/udp-echo.py ask "$2" 7 "${3:-1}" 2>&1; }
udp_up() { case $(udp_ask mesh/client-0 "${udp_vips%% *}") in *pod=mesh/udp-echo-*) ;; *) return 1 ;; esac; }
wait_for 60 udp_up || fail "the UDP Service never answered: $(udp_ask mesh/client-0 "${udp_vips%% *}")"
for vip in $udp_vips; do
	vip_h=$(url_host "$vip")
	for client in mesh/client-0 plain/client-0; do
		out=$(udp_ask "$client" "$vip" 3)
		[ "$(grep -cF "src=$vip_h:7 pod=mesh/udp-echo-" <<<"$out")" = 3 ] ||
			fail "$client to $vip_h:7/udp: want 3 answers from the VIP: $out"
		[ "$(grep -o 'pod=mesh/udp-echo-[01]' <<<"$out" | sort -u | wc -l)" = 1 ] ||
			fail "$client to $vip_h:7/udp: one socket's datagrams went to two pods: $out"
		out=$(pod_exec "$client" pods/udp-echo.py connected "$vip" 7 2>&1)
		expect_contains "$out" "peer=$vip_h:7" "$client: a connected UDP socket's peer"
		expect_contains "$out" "src=$vip_h:7 pod=mesh/udp-echo-" "$client: connected to $vip_h:7/udp"
	done
done
# By name, through the enrolled pod's DNS proxy.
expect_contains "$(udp_ask mesh/client-0 udp-echo)" "pod=mesh/udp-echo-" "udp-echo:7/udp by name"
log "UDP Service udp-echo:7 ($udp_vips) answered pods in and out of the mesh from its VIPs"

# The mesh carries an enrolled pod's UDP to an enrolled pod (docs/udp.md), captured on the node or
# in-pod (the [bridge] pass, where the fabric carries VXLAN and a plaintext datagram would be in
# it), over each family the cluster has: tc hands the client's datagrams to its ztunnel
# (assign_udp_outbound; in-pod, by way of the pod's lo), they cross the fabric inside HBONE as
# CONNECT-UDP, never as UDP, and the pod still sees the client's address and answers it from its
# own.
# pod_ips NS/POD: the pod's addresses, IPv4 first, each with a family of its own.
pod_ips() {
	actl get pod "${1#*/}" -n "${1%/*}" -o json | jq -r '.status.podIPs[].ip'
}
before=$(actl maps --node node1 | awk '$1 == "assign_udp_outbound" { print $2 }')
udp_pcap=$(mktemp /tmp/ambit-it-XXXXXX.pcap)
fabric_capture_start "$udp_pcap" udp
for pod in $(actl local status | awk '$1 ~ /^mesh\/udp-echo-/ { print $1 }'); do
	for ip in $(pod_ips "$pod"); do
		from=$(pod_ips mesh/client-0 | grep -m1 -F "$(case $ip in *:*) echo : ;; *) echo . ;; esac)")
		h=$(url_host "$ip")
		f=$(url_host "$from")
		out=$(pod_exec mesh/client-0 pods/udp-echo.py ask "$ip" 7007 3 2>&1)
		[ "$(grep -cF "src=$h:7007 pod=$pod from=$f:" <<<"$out")" = 3 ] ||
			fail "client-0 to $pod over the mesh: want 3 answers from $h:7007: $out"
		out=$(pod_exec mesh/client-0 pods/udp-echo.py connected "$ip" 7007 2>&1)
		expect_contains "$out" "src=$h:7007 pod=$pod from=$f:" \
			"client-0 connected to $pod at $h over the mesh"
	done
done
fabric_capture_stop
if grep -aq "pod=mesh/udp-echo-" "$udp_pcap"; then
	rm -f "$udp_pcap"
	fail "an enrolled pod's UDP crossed the fabric in plaintext"
fi
rm -f "$udp_pcap"
after=$(actl maps --node node1 | awk '$1 == "assign_udp_outbound" { print $2 }')
[ "${after:-0}" -gt "${before:-0}" ] ||
	fail "assign_udp_outbound on node1 did not move ($before -> $after)"
log "an enrolled pod's UDP to enrolled pods crossed the fabric in HBONE only"

# A flood makes the ztunnel's 15006 listener answer with SYN cookies (forced here with
# tcp_syncookies=2 in the netns it listens in: the node's, or the pod's in-pod). The ACK ending
# such a handshake matches no socket; the tc program hands it to the listener, which would
# otherwise never see it (the pod's own listener refuses the cookie with a reset).
cookie_ns=ambit-$CLUSTER-node1
[ "$(actl local status -o json | jq -r '.nodes[0].agent.captureMode')" = inpod ] &&
	cookie_ns=ambit-$CLUSTER-mesh-server-local-0
ip netns exec "$cookie_ns" sysctl -qw net.ipv4.tcp_syncookies=2 || fail "tcp_syncookies in $cookie_ns"
before=$(actl maps --node node1 | awk '$1 == "assign_syncookie" { print $2 }')
out=$(pod_exec plain/client-0 curl -sS --max-time 5 "http://$local_h:8080/" 2>&1)
expect_contains "$out" "pod=mesh/server-local-0" "plaintext inbound through a SYN-cookie handshake"
after=$(actl maps --node node1 | awk '$1 == "assign_syncookie" { print $2 }')
[ "${after:-0}" -gt "${before:-0}" ] || fail "assign_syncookie on node1 did not move ($before -> $after)"
ip netns exec "$cookie_ns" sysctl -qw net.ipv4.tcp_syncookies=1
log "a SYN-cookie handshake to 15006 completes at the ztunnel ($cookie_ns)"
pass
