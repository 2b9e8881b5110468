#!/usr/bin/env bash
# A dual-stack local cluster (`local up --ip-family dual`): nodes, pods and the fabric have an
# IPv6 address beside each IPv4 one, IPv4 first, as a Kubernetes cluster whose pod and node
# ranges are of both families.
#  - cluster.json says so; each node's eth0 holds its fd00:99:: address and routes the other
#    nodes' fd00:98:N::/64 (over the fabric, or with --cni bridge through the VXLAN tunnel); each pod's Pod object has podIPs of both families, the second the
#    one on its eth0 (host-local's second range, through the chain of real CNI plugins), and
#    `ambitctl workloads` and the dashboard list both;
#  - pods outside the mesh reach each other over IPv6 across nodes;
#  - the mesh carries IPv4 in the same cluster as it does in an IPv4 one (mTLS, HBONE);
#  - IPv6 fails closed for pods of the mesh, as the data path carries IPv4 only: an enrolled
#    pod's IPv6 connect is refused in the kernel (EPERM), an IPv6 connection to an enrolled pod
#    from outside the mesh never reaches it, both refused and counted in the kernel, and not
#    one byte of either probe's payload crosses the fabric; `ambitctl check` says so of an
#    IPv6 source, and names no workload by an IPv6 destination ([ADDR]:PORT).
. "$(dirname "$0")/lib.sh"
need_root
need_bins
need_cmd jq socat tcpdump

TMP=$(mktemp -d /tmp/ambit-it-XXXXXX)
PIDS=()
cleanup() {
	fabric_capture_stop
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
	on_exit
}
cluster_up manifests 2 --ip-family dual
trap cleanup EXIT

run=/run/ambit/$CLUSTER
expect_eq "$(jq -r .ipFamily "$run/cluster.json")" dual "cluster.json's ipFamily"
expect_eq "$(jq -r '.nodes[1].ip6' "$run/cluster.json")" "fd00:99::12" "node2's IPv6 address"
node_exec node1 ip -6 -o addr show dev eth0 | grep -q 'inet6 fd00:99::11/64' ||
	fail "node1's eth0 has no fd00:99::11: $(node_exec node1 ip -6 -o addr show dev eth0)"
# Routed: via node2's address; bridge: through the VXLAN tunnel, via node2's fd00:98:2::.
want='via fd00:99::12 dev eth0'
[ "$(jq -r .cni "$run/cluster.json")" = bridge ] && want='via fd00:98:2:: dev flannel.1'
node_exec node1 ip -6 route show fd00:98:2::/64 | grep -q "$want" ||
	fail "node1 does not route node2's pods over IPv6 ($want): $(node_exec node1 ip -6 route | tr '\n' ';')"

# podIPs: IPv4 first, then the pod's IPv6 address, on its eth0.
pod_ips() { actl get pod "$2" -n "$1" -o json | jq -r '[.status.podIPs[].ip] | join(",")'; }
for p in mesh/server-0 mesh/client-0 plain/server-0 plain/client-0; do
	ips=$(pod_ips "${p%/*}" "${p#*/}")
	v4=${ips%,*} v6=${ips#*,}
	expect_eq "$v4" "$(pod_ip "$p")" "$p's first podIP"
	case $v6 in fd00:98:[12]::*) ;; *) fail "$p's second podIP is not IPv6 in its node's range: $ips" ;; esac
	pod_exec "$p" ip -6 -o addr show dev eth0 | grep -q "inet6 $v6/" ||
		fail "$p's eth0 does not hold $v6: $(pod_exec "$p" ip -6 -o addr show dev eth0)"
	declare "ip6_${p//[\/-]/_}=$v6"
done
log "podIPs: mesh/server-0 $ip6_mesh_server_0, plain/server-0 $ip6_plain_server_0 (node2); mesh/client-0 $ip6_mesh_client_0, plain/client-0 $ip6_plain_client_0 (node1)"

# The agents list both addresses (the snapshot's workloads carry the IPv6 one).
wl() { actl workloads | awk -v ns="${1%/*}" -v n="${1#*/}" '$1 == ns && $2 == n { print $4 }'; }
listed() { [ "$(wl mesh/server-0)" = "$(pod_ip mesh/server-0),$ip6_mesh_server_0" ]; }
wait_for 20 listed || fail "ambitctl workloads lists mesh/server-0 as '$(wl mesh/server-0)'"
expect_eq "$(actl workloads -o json | jq -r '[.[] | .workloads[]? | select(.uid == "plain/client-0") | .ip6][0]')" \
	"$ip6_plain_client_0" "plain/client-0's ip6 in the snapshot"

# And the dashboard, a workload's pods and a Service's endpoints with both.
dport=$(free_port)
actl dashboard --name "$CLUSTER" --port "$dport" >"$TMP/dash.out" 2>&1 &
PIDS+=($!)
api() { curl -sS --max-time 20 "http://127.0.0.1:$dport/api/$1"; }
wait_for 10 api health || fail "the dashboard never answered: $(cat "$TMP/dash.out")"
expect_eq "$(api 'workload?namespace=mesh&name=server' | jq -r '.pods[0] | "\(.ip) \(.ip6)"')" \
	"$(pod_ip mesh/server-0) $ip6_mesh_server_0" "the dashboard's mesh/server pods"
expect_eq "$(api 'service?namespace=mesh&name=server' | jq -r '.endpoints[0].ip6')" \
	"$ip6_mesh_server_0" "the dashboard's mesh/server endpoints"

# A TCP listener on IPv6 only in a pod: answers "v6 <pod>" and logs what it was sent.
v6_listen() {
	local pod=$1 port=$2 name=${1//\//_}
	pod_exec "$pod" socat -u "TCP6-LISTEN:$port,ipv6only=1,reuseaddr,fork" \
		"OPEN:$TMP/$name.got,creat,append" >/dev/null 2>&1 &
	PIDS+=($!)
	pod_exec "$pod" socat "TCP6-LISTEN:$((port + 1)),ipv6only=1,reuseaddr,fork" \
		"SYSTEM:echo v6 $pod" >/dev/null 2>&1 &
	PIDS+=($!)
	listening() { pod_exec "$pod" ss -Hltn "sport = :$((port + 1))" | grep -q .; }
	wait_for 10 listening || fail "$pod does not listen on IPv6 port $((port + 1))"
}
v6_listen plain/server-0 9300
v6_listen mesh/server-0 9300

# ---- outside the mesh: IPv6 across nodes ----
v6_answer() { pod_exec plain/client-0 timeout 5 socat -T 3 - "TCP6:[$ip6_plain_server_0]:9301" </dev/null | grep -q v6; }
wait_for 10 v6_answer || fail "plain/client-0 cannot reach plain/server-0 at [$ip6_plain_server_0]:9301"
out=$(pod_exec plain/client-0 timeout 5 socat -T 3 - "TCP6:[$ip6_plain_server_0]:9301" </dev/null 2>&1)
expect_eq "$out" "v6 plain/server-0" "plain/client-0 -> plain/server-0 over IPv6"

# ---- the mesh carries IPv4 as in an IPv4 cluster ----
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 -o /dev/null http://server/ ||
	fail "mesh/client-0 cannot reach http://server/ in the dual-stack cluster"
out=$(pod_exec mesh/client-0 curl -sf --max-time 3 http://server/)
expect_contains "$out" "pod=mesh/server-0 from="
drops() {
	metric_sum "$(node_metrics "$1")" ambit_kernel_drops_total 'reason="drop_ipv6_unsupported"'
}
# What node2 refuses of an IPv6 connection to its enrolled pod: routed, the SYN itself, routed to
# the pod's veth; bridged (the SYN switched by cni0, past any route), the pod's neighbour
# advertisement for its global address, a source the data path cannot vouch for.
refused2() {
	local m
	m=$(node_metrics node2)
	echo $(($(metric_sum "$m" ambit_kernel_drops_total 'reason="drop_ipv6_unsupported"') +
		$(metric_sum "$m" ambit_kernel_drops_total 'reason="drop_spoofed_source"')))
}
hbone_in() { metric_sum "$(node_metrics node2)" istio_tcp_connections_opened_total 'reporter="destination"'; }
[ "$(hbone_in)" -ge 1 ] || fail "node2's ztunnel took no connection from mesh/client-0"

# ---- IPv6 fails closed for the mesh's pods ----
fabric_capture_start "$TMP/fabric.pcap"
d1=$(drops node1) d2=$(refused2)
# An enrolled pod's IPv6 connect: refused in the kernel, nothing sent.
out=$(pod_exec mesh/client-0 timeout 5 socat -T 3 - "TCP6:[$ip6_plain_server_0]:9300" \
	<<<"MARKER-V6-OUT" 2>&1) && fail "mesh/client-0's IPv6 connect succeeded: $out"
expect_contains "$out" "Operation not permitted"
# An IPv6 connection to an enrolled pod from outside the mesh: never reaches it.
out=$(pod_exec plain/client-0 timeout 5 socat -T 3 - "TCP6:[$ip6_mesh_server_0]:9300" \
	<<<"MARKER-V6-IN" 2>&1) && fail "plain/client-0 reached mesh/server-0 over IPv6: $out"
sleep 1
fabric_capture_stop
[ -s "$TMP/mesh_server-0.got" ] && fail "mesh/server-0 was sent: $(cat "$TMP/mesh_server-0.got")"
[ -s "$TMP/plain_server-0.got" ] && fail "plain/server-0 was sent: $(cat "$TMP/plain_server-0.got")"
n=$(tcpdump -r "$TMP/fabric.pcap" -nn -A 2>/dev/null | grep -c 'MARKER-V6')
expect_eq "$n" 0 "packets with the probes' payload on the fabric"
[ "$(drops node1)" -gt "$d1" ] || fail "node1 counted no drop_ipv6_unsupported ($d1)"
[ "$(refused2)" -gt "$d2" ] || fail "node2 refused nothing ($d2 drops)"
# What `ambitctl check` says of an IPv6 source: the kernel's refusal, and the policy beside it.
out=$(actl check "$ip6_plain_client_0" mesh/server-0:8080) || fail "check from an IPv6 source: $out"
expect_contains "$out" "source:      outside the mesh ($ip6_plain_client_0)"
expect_contains "$out" "decision:    deny in the kernel (drop_ipv6_unsupported)"
out=$(actl check "$ip6_plain_client_0" plain/server-0:9300) || fail "check to a pod outside the mesh: $out"
expect_contains "$out" "decision:    allow"
out=$(actl check plain/client-0 "[$ip6_mesh_server_0]:8080" 2>&1) && fail "check to an IPv6 address answered: $out"
expect_contains "$out" "no workload or Service has the address $ip6_mesh_server_0"
log "IPv6 for the mesh's pods: refused (node1 drops $d1 -> $(drops node1), node2 $d2 -> $(refused2)), 0 payload packets on the fabric"
pass
