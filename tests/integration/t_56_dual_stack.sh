#!/usr/bin/env bash
# A dual-stack local cluster (`local up --ip-family dual`): nodes, pods and the fabric have an
# IPv6 address beside each IPv4 one, IPv4 first, as a Kubernetes cluster whose pod and node
# ranges are of both families; the mesh carries both.
#  - cluster.json says so; each node's eth0 holds its fd00:99:: address and routes the other
#    nodes' fd00:98:N::/64 (over the fabric, or with --cni bridge through the VXLAN tunnel);
#    each pod's Pod object has podIPs of both families, the second the one on its eth0
#    (host-local's second range, through the chain of real CNI plugins), a PreferDualStack
#    Service has clusterIPs of both (in the order its ipFamilies ask: [IPv6, IPv4] kept, its
#    clusterIP the IPv6 one, also as the machine's kubectl reads it on --kube), examples/demo's
#    web answers at its Service's IPv6 address, and `ambitctl workloads`, `maps` and the
#    dashboard list both;
#  - pods outside the mesh reach each other over IPv6 across nodes;
#  - the mesh carries IPv4 in the same cluster as it does in an IPv4 one (mTLS, HBONE);
#  - and IPv6: an enrolled pod's IPv6 connection to another enrolled pod crosses the fabric in
#    HBONE only (not one byte of its payload in plaintext), arriving from the client's IPv6
#    address; to the Service's IPv6 VIP too, and by name (AAAA from the DNS proxy and the
#    cluster's DNS; curl tries IPv6 first); to a pod outside the mesh it goes direct; a pod
#    outside the mesh reaches an enrolled one over IPv6 under PERMISSIVE (by its address, and
#    by the Service's IPv6 VIP through the kernel's balancing), is refused in the kernel under
#    STRICT (drop_strict_plaintext) and by a DENY policy's IPv6 ipBlocks (drop_deny_source),
#    while the mesh's own HBONE goes on; a pod sending from an IPv6 address not its own is
#    dropped (drop_spoofed_source); an IPv6 upload spans both ztunnels' upgrades, a stopped
#    ztunnel lets no IPv6 through; and the waypoint takes IPv6: its HTTPRoute applies and an
#    L7 DENY by IPv6 ipBlocks answers 403 (the same path over IPv4 is not in the block); the
#    ingress gateway answers on its IPv6 address (its log names the client's IPv6) and from the
#    host through port-forward on [::1], and reaches a Service of IPv6 alone labelled
#    istio.io/ingress-use-waypoint through the waypoint over IPv6.
# In the IPv6-only pass (AMBIT_LOCAL_IP_FAMILY=ipv6: `local up --ip-family ipv6`, pods, Services
# and nodes of IPv6 alone, as kubeadm's IPv6 single stack) the same checks run with no IPv4 in
# the pods nor on the nodes (none on any node interface but loopback's, no IPv4 route; the
# nodes' resolver and, with --kube, the API server at fd00:99::1): what is about IPv4 beside
# IPv6 is left out there.
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
fam=dual
[ "${AMBIT_LOCAL_IP_FAMILY:-}" = ipv6 ] && fam=ipv6
v6only() { [ "$fam" = ipv6 ]; }
CLUSTER_INGRESS=1 cluster_up manifests 2 --ip-family "$fam"
trap cleanup EXIT

run=/run/ambit/$CLUSTER
expect_eq "$(jq -r .ipFamily "$run/cluster.json")" "$fam" "cluster.json's ipFamily"
expect_eq "$(jq -r '.nodes[1].ip6' "$run/cluster.json")" "fd00:99::12" "node2's IPv6 address"
node_exec node1 ip -6 -o addr show dev eth0 | grep -q 'inet6 fd00:99::11/64' ||
	fail "node1's eth0 has no fd00:99::11: $(node_exec node1 ip -6 -o addr show dev eth0)"
# Routed: via node2's address; bridge: through the VXLAN tunnel, via node2's fd00:98:2::.
want='via fd00:99::12 dev eth0'
[ "$(jq -r .cni "$run/cluster.json")" = bridge ] && want='via fd00:98:2:: dev flannel.1'
node_exec node1 ip -6 route show fd00:98:2::/64 | grep -q "$want" ||
	fail "node1 does not route node2's pods over IPv6 ($want): $(node_exec node1 ip -6 route | tr '\n' ';')"
# What a node reports, and its agent's --node-ip (the DaemonSet's from status.hostIPs on
# --kube): both addresses in dual stack, IPv4 first; in an IPv6 cluster its IPv6 alone, by which
# the agent serves and (--uplink auto on --kube) finds its uplink.
want='10.99.0.11,fd00:99::11' serving='node node1, 10.99.0.11,'
v6only && want='fd00:99::11' serving='node node1, fd00:99::11,'
expect_eq "$(actl get pod client-0 -n mesh -o json | jq -r '[.status.hostIPs[].ip] | join(",")')" \
	"$want" "mesh/client-0's hostIPs"
grep -q "serving .*($serving" "$run/logs/node1-agent.log" ||
	fail "node1's agent does not serve as ($serving ...): $(grep serving "$run/logs/node1-agent.log")"
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
	grep -q 'tc attached on uplink eth0' "$run/logs/node1-agent.log" ||
		fail "node1's agent found no uplink by its node IP: $(grep -i uplink "$run/logs/node1-agent.log")"
fi
# The ztunnel's metrics and readiness answer at the node's IPv6 too, where Prometheus of an
# IPv6-only cluster scrapes them.
for path in 15020/metrics 15021/healthz/ready; do
	node_exec node2 curl -sf -g --max-time 5 "http://[fd00:99::11]:$path" >/dev/null ||
		fail "node1's ztunnel does not answer http://[fd00:99::11]:$path"
done
# An IPv6 cluster's nodes have no IPv4 on any interface but loopback's 127.0.0.1, as kubeadm's
# IPv6 single stack: what they reach of the control plane (the cluster's DNS, their resolver,
# with --kube the API server and the CA) they reach over IPv6, and the agent serves all the same
# (above, and every check below). The kubelets' kubeconfig names the API server by its IPv6.
if v6only; then
	for n in node1 node2; do
		v4=$(node_exec "$n" ip -4 -o addr show | awk '$2 != "lo" || $4 !~ /^127\./')
		[ -z "$v4" ] || fail "$n holds an IPv4 address: $v4"
		node_exec "$n" ip -4 route show | grep -q . &&
			fail "$n has IPv4 routes: $(node_exec "$n" ip -4 route show | tr '\n' ';')"
	done
	expect_eq "$(awk '$1 == "nameserver" {print $2}' "$run/resolv.conf")" fd00:99::1 \
		"the nodes' resolver"
	if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
		expect_eq "$(awk '$1 == "server:" {print $2}' "$run/node1/ambit-cni.kubeconfig")" \
			"https://[fd00:99::1]:6443" "node1's kubeconfig's API server"
		expect_eq "$(actl local status -o json | jq -r .apiServerInCluster)" \
			"https://[fd00:99::1]:6443" "the API server the nodes reach"
		tr '\0' '\n' <"/proc/$(cat "$run/node1/agent.pid")/environ" |
			grep -qx "KUBERNETES_SERVICE_HOST=fd00:99::1" ||
			fail "node1's agent was not given the API server's IPv6"
	fi
fi

# podIPs: IPv4 first, then the pod's IPv6 address, on its eth0.
pod_ips() { actl get pod "$2" -n "$1" -o json | jq -r '[.status.podIPs[].ip] | join(",")'; }
for p in mesh/server-0 mesh/client-0 plain/server-0 plain/client-0; do
	ips=$(pod_ips "${p%/*}" "${p#*/}")
	v4=${ips%,*} v6=${ips#*,}
	if v6only; then
		expect_eq "$ips" "$v6" "$p's podIPs (IPv6 alone)"
		[ -z "$(pod_exec "$p" ip -4 -o addr show dev eth0)" ] || fail "$p's eth0 holds IPv4"
	else
		expect_eq "$v4" "$(pod_ip "$p")" "$p's first podIP"
	fi
	case $v6 in fd00:98:[12]::*) ;; *) fail "$p's second podIP is not IPv6 in its node's range: $ips" ;; esac
	pod_exec "$p" ip -6 -o addr show dev eth0 | grep -q "inet6 $v6/" ||
		fail "$p's eth0 does not hold $v6: $(pod_exec "$p" ip -6 -o addr show dev eth0)"
	declare "ip6_${p//[\/-]/_}=$v6"
done
log "podIPs: mesh/server-0 $ip6_mesh_server_0, plain/server-0 $ip6_plain_server_0 (node2); mesh/client-0 $ip6_mesh_client_0, plain/client-0 $ip6_plain_client_0 (node1)"

# examples/demo as `local up -f examples/demo` runs it (its pods' commands from there), and a
# Service asking for IPv6 first: applied now, checked below once their pods run.
sed -e "s|\./web\.sh|$REPO/examples/demo/web.sh|" -e "s|\./client\.sh|$REPO/examples/demo/client.sh|" \
	"$REPO/examples/demo/demo.yaml" >"$TMP/demo.yaml"
actl apply -f "$TMP/demo.yaml" >&2 || fail "apply examples/demo"
cat >"$TMP/server64.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: server64
  namespace: mesh
spec:
  ipFamilyPolicy: PreferDualStack
  ipFamilies: [IPv6, IPv4]
  selector:
    app: server
  ports:
  - name: http
    port: 80
    targetPort: 8080
YAML
actl apply -f "$TMP/server64.yaml" >&2 || fail "apply a Service of ipFamilies [IPv6, IPv4]"

# The agents list both addresses (the snapshot's workloads carry the IPv6 one).
wl() { actl workloads | awk -v ns="${1%/*}" -v n="${1#*/}" '$1 == ns && $2 == n { print $4 }'; }
want_wl="$(pod_ip mesh/server-0),$ip6_mesh_server_0"
v6only && want_wl=$ip6_mesh_server_0
listed() { [ "$(wl mesh/server-0)" = "$want_wl" ]; }
wait_for 20 listed || fail "ambitctl workloads lists mesh/server-0 as '$(wl mesh/server-0)'"
expect_eq "$(actl workloads -o json | jq -r '[.[] | .workloads[]? | select(.uid == "plain/client-0") | .ip6][0]')" \
	"$ip6_plain_client_0" "plain/client-0's ip6 in the snapshot"

# And the dashboard, a workload's pods and a Service's endpoints with both.
dport=$(free_port)
# The binary itself, not actl: a function in the background is a subshell, and killing it
# would leave the dashboard running.
"$AMBITCTL" dashboard --name "$CLUSTER" --port "$dport" >"$TMP/dash.out" 2>&1 &
PIDS+=($!)
api() { curl -sS --max-time 20 "http://127.0.0.1:$dport/api/$1"; }
wait_for 10 api health || fail "the dashboard never answered: $(cat "$TMP/dash.out")"
want_dash="$(pod_ip mesh/server-0) $ip6_mesh_server_0"
v6only && want_dash="null $ip6_mesh_server_0"
expect_eq "$(api 'workload?namespace=mesh&name=server' | jq -r '.pods[0] | "\(.ip) \(.ip6)"')" \
	"$want_dash" "the dashboard's mesh/server pods"
expect_eq "$(api 'service?namespace=mesh&name=server' | jq -r '.endpoints[0].ip6')" \
	"$ip6_mesh_server_0" "the dashboard's mesh/server endpoints"

# TCP listeners on IPv6 only in a pod: PORT echoes what it is sent, PORT+1 answers "v6 <pod>".
v6_listen() {
	local pod=$1 port=$2
	pod_exec "$pod" socat "TCP6-LISTEN:$port,ipv6only=1,reuseaddr,fork" PIPE >/dev/null 2>&1 &
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

# ---- the mesh carries IPv4 as in an IPv4 cluster (and, IPv6-only, by name over IPv6) ----
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 -o /dev/null http://server/ ||
	fail "mesh/client-0 cannot reach http://server/ in the $fam cluster"
out=$(pod_exec mesh/client-0 curl -sf --max-time 3 http://server/)
expect_contains "$out" "pod=mesh/server-0 from="
hbone_in() { metric_sum "$(node_metrics node2)" istio_tcp_connections_opened_total 'reporter="destination"'; }
[ "$(hbone_in)" -ge 1 ] || fail "node2's ztunnel took no connection from mesh/client-0"

# ---- the mesh carries IPv6 ----
# Every map the kernel keys by address has the pods' IPv6 too.
actl maps --node node2 >"$TMP/maps2.txt" || fail "ambitctl maps failed"
grep -q "$ip6_mesh_server_0 .*mesh/server-0 .*enrolled,local" "$TMP/maps2.txt" ||
	fail "node2's workloads6 lacks mesh/server-0: $(sed -n '/^workloads6/,/^pod_ifaces6/p' "$TMP/maps2.txt")"
grep -q "IPv6 source $ip6_mesh_server_0" "$TMP/maps2.txt" ||
	fail "node2's pod_ifaces6 lacks mesh/server-0's veth"
vip=$(actl get svc server -n mesh -o json | jq -r '.spec.clusterIPs[0]')
vip6=$(actl get svc server -n mesh -o json | jq -r '.spec.clusterIPs[-1]')
fams=IPv4,IPv6 vips=$vip,$vip6
v6only && fams=IPv6 vips=$vip6 vip=
expect_eq "$(actl get svc server -n mesh -o json | jq -r '.spec.ipFamilies | join(",")')" \
	"$fams" "mesh/server's ipFamilies (PreferDualStack)"
case $vip6 in fd00:96:*) ;; *) fail "mesh/server has no IPv6 cluster IP: $vip6 ($vip)" ;; esac
expect_eq "$(actl services | awk '$1 == "mesh" && $2 == "server" { print $3 }')" "$vips" \
	"mesh/server's VIPs in ambitctl services"
expect_eq "$(actl get svc server -n plain -o json | jq -r '.spec.clusterIPs | length')" 1 \
	"plain/server's cluster IPs (SingleStack)"
# ipFamilies [IPv6, IPv4] keeps that order, clusterIP the IPv6 one, as Kubernetes keeps it (an
# IPv6 cluster drops the IPv4); on --kube the machine's kubectl reads the same from the API.
svc64() { actl get svc server64 -n mesh -o json | jq -r '"\(.spec.clusterIP) \(.spec.clusterIPs | join(",")) \(.spec.ipFamilies | join(","))"'; }
read -r ip64 ips64 fams64 <<<"$(svc64)"
want64=IPv6,IPv4
v6only && want64=IPv6
expect_eq "$fams64" "$want64" "mesh/server64's ipFamilies"
case $ip64 in fd00:96:*) ;; *) fail "mesh/server64's clusterIP is not its IPv6 one: $(svc64)" ;; esac
expect_eq "${ips64%%,*}" "$ip64" "mesh/server64's first clusterIP"
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ] && command -v kubectl >/dev/null; then
	kfams() { KUBECONFIG=$(actl local kubeconfig) kubectl get svc server64 -n mesh -o jsonpath='{.spec.clusterIP} {.spec.ipFamilies[*]}'; }
	kok() { [ "$(kfams)" = "$ip64 ${want64/,/ }" ]; }
	wait_for 20 kok || fail "kubectl: mesh/server64 is '$(kfams)', not '$ip64 ${want64/,/ }'"
fi
expect_contains "$(pod_exec mesh/client-0 curl -sS -g --max-time 5 "http://[$ip64]/")" \
	"pod=mesh/server-0 from=$ip6_mesh_client_0 " "mesh/server64 at its first clusterIP"
# Its IPv4 one, second, is served too (the agents read either family in either place).
if ! v6only; then
	expect_contains "$(pod_exec mesh/client-0 curl -sS --max-time 5 "http://${ips64#*,}/")" \
		"pod=mesh/server-0 from=$(pod_ip mesh/client-0) " "mesh/server64 at its second clusterIP"
fi
# examples/demo's web answers at its Service's IPv6 address (nginx listens on [::]:80 too),
# from its namespace's client, in the mesh (demo) and out of it (legacy).
for ns in demo legacy; do
	dvip6=$(actl get svc web -n $ns -o json | jq -r '.spec.clusterIPs[-1]')
	case $dvip6 in fd00:96:*) ;; *) fail "$ns/web (examples/demo) has no IPv6 cluster IP: $dvip6" ;; esac
	web6() { pod_exec "$ns/client-0" curl -sS -g --max-time 3 "http://[$dvip6]/"; }
	wait_for 60 web6 || fail "$ns/client-0 cannot reach examples/demo's web at [$dvip6]: $(web6 2>&1)"
	expect_contains "$(web6)" "hello from $ns/web-0" "examples/demo's $ns/web over IPv6"
done

fabric_capture_start "$TMP/fabric.pcap"
h=$(hbone_in)
# Pod to pod: the answer names the client by its IPv6 address.
v6_mesh() { pod_exec mesh/client-0 timeout 5 socat -T 3 - "TCP6:[$ip6_mesh_server_0]:9301" </dev/null; }
wait_for 20 v6_mesh || fail "mesh/client-0 cannot reach mesh/server-0 at [$ip6_mesh_server_0]:9301: $(v6_mesh 2>&1)"
expect_eq "$(v6_mesh)" "v6 mesh/server-0" "mesh/client-0 -> mesh/server-0 over IPv6"
out=$(pod_exec mesh/client-0 timeout 5 socat -T 3 - "TCP6:[$ip6_mesh_server_0]:9300" <<<"MARKER-V6-MESH" 2>&1)
expect_eq "$out" "MARKER-V6-MESH" "mesh/server-0's echo over IPv6"
[ "$(hbone_in)" -gt "$h" ] || fail "node2's ztunnel took no IPv6 connection over HBONE ($h)"
# The server sees the client's own IPv6 address (the ztunnel connects from it).
out=$(pod_exec mesh/client-0 curl -sS -g --max-time 5 "http://[$ip6_mesh_server_0]:8080/")
expect_contains "$out" "pod=mesh/server-0 from=$ip6_mesh_client_0 "
# The Service's IPv6 VIP, balanced by the ztunnel to the endpoint's IPv6.
out=$(pod_exec mesh/client-0 curl -sS -g --max-time 5 "http://[$vip6]/")
expect_contains "$out" "pod=mesh/server-0 from=$ip6_mesh_client_0 "
sleep 1
fabric_capture_stop
n=$(tcpdump -r "$TMP/fabric.pcap" -nn -A 2>/dev/null | grep -c 'MARKER-V6')
expect_eq "$n" 0 "packets with the IPv6 payload in plaintext on the fabric"
n=$(tcpdump -r "$TMP/fabric.pcap" -nn 2>/dev/null | grep -c '\.15008[ :]')
[ "$n" -gt 0 ] || fail "no HBONE (15008) on the fabric during the IPv6 requests"
# By name: the DNS proxy (an enrolled pod's queries) and the cluster's DNS (the others) answer
# AAAA with the Service's IPv6 VIP, A with its IPv4 one; curl then tries IPv6 first.
# (getent maps an A answer into ::ffff:a.b.c.d when there is no AAAA: those are not AAAA.)
aaaa() { pod_exec "$1" getent ahostsv6 "$2" | awk '$1 !~ /^::ffff:/ {print $1; exit}'; }
expect_eq "$(aaaa mesh/client-0 server)" "$vip6" "AAAA of server from mesh/client-0 (the DNS proxy)"
expect_eq "$(aaaa plain/client-0 server.mesh.svc.cluster.local)" "$vip6" "AAAA of server.mesh from plain/client-0"
expect_eq "$(pod_exec mesh/client-0 getent ahostsv4 server | awk '{print $1; exit}')" "$vip" \
	"A of server from mesh/client-0"
# A SingleStack Service is of the cluster's first family: IPv4 (no AAAA), or IPv6.
if v6only; then
	case $(aaaa mesh/client-0 server.plain.svc.cluster.local) in fd00:96:*) ;;
	*) fail "AAAA of plain/server in the IPv6-only cluster: none" ;; esac
else
	expect_eq "$(aaaa mesh/client-0 server.plain.svc.cluster.local)" "" "AAAA of a SingleStack Service (none)"
fi
out=$(pod_exec mesh/client-0 curl -sS --max-time 5 http://server/)
expect_contains "$out" "pod=mesh/server-0 from=$ip6_mesh_client_0 "
# IPv6-only, the pods ask the cluster's DNS over IPv6 (fd00:99::2): a query the proxy answered
# is answered again by the kernel at the pod's veth (dns_answers6).
if v6only; then
	answered() { actl maps --node node1 | awk '$1 == "dns_answered" { print $2 }'; }
	before=$(answered)
	for _ in 1 2 3 4 5; do
		expect_eq "$(aaaa mesh/client-0 server.mesh.svc.cluster.local)" "$vip6" "an AAAA lookup over IPv6"
	done
	n=$(answered)
	[ "${n:-0}" -ge $((${before:-0} + 4)) ] ||
		fail "the kernel answered ${n:-no} queries over IPv6 (${before:-0} before): $(actl maps --node node1 | grep -A5 dns_answers6)"
fi
out=$(pod_exec plain/client-0 curl -sS --max-time 5 http://server.mesh/)
expect_contains "$out" "pod=mesh/server-0 from=$ip6_plain_client_0 "
# To a pod outside the mesh: direct, as for IPv4.
out=$(pod_exec mesh/client-0 timeout 5 socat -T 3 - "TCP6:[$ip6_plain_server_0]:9301" </dev/null 2>&1)
expect_eq "$out" "v6 plain/server-0" "mesh/client-0 -> plain/server-0 over IPv6 (outside the mesh)"

# From outside the mesh, PERMISSIVE: by the pod's address, and by the VIP (the kernel balances).
out=$(pod_exec plain/client-0 curl -sS -g --max-time 5 "http://[$ip6_mesh_server_0]:8080/")
expect_contains "$out" "pod=mesh/server-0 from=$ip6_plain_client_0 "
out=$(pod_exec plain/client-0 curl -sS -g --max-time 5 "http://[$vip6]/")
expect_contains "$out" "pod=mesh/server-0 from=$ip6_plain_client_0 "

# A SingleStack IPv6 Service in front of the same pods: an IPv6 cluster IP alone, listed alone,
# AAAA only (NODATA for A), and reached by name from a meshed client over IPv6 through HBONE.
cat >"$TMP/server6.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: server6
  namespace: mesh
spec:
  ipFamilies: [IPv6]
  ipFamilyPolicy: SingleStack
  selector:
    app: server
  ports:
  - name: http
    port: 80
    targetPort: 8080
YAML
actl apply -f "$TMP/server6.yaml" >&2 || fail "apply the SingleStack IPv6 Service"
svc6() { actl get svc server6 -n mesh -o json; }
only6=$(svc6 | jq -r '.spec.clusterIP')
case $only6 in fd00:96:*) ;; *) fail "mesh/server6 has no IPv6 cluster IP: $only6" ;; esac
expect_eq "$(svc6 | jq -r '[.spec.clusterIPs[], .spec.ipFamilies[]] | join(",")')" "$only6,IPv6" \
	"mesh/server6's clusterIPs and ipFamilies (SingleStack IPv6)"
listed6() { [ "$(actl services | awk '$1 == "mesh" && $2 == "server6" { print $3 }')" = "$only6" ]; }
wait_for 20 listed6 || fail "mesh/server6 not listed by its IPv6 VIP alone: $(actl services)"
expect_eq "$(aaaa mesh/client-0 server6)" "$only6" "AAAA of server6 from mesh/client-0 (the DNS proxy)"
expect_eq "$(pod_exec mesh/client-0 getent ahostsv4 server6 | awk '{print $1; exit}')" "" \
	"A of server6 from mesh/client-0 (NODATA)"
expect_eq "$(actl analyze 2>&1 | grep -c 'server6')" 0 "analyze's findings naming mesh/server6"
h=$(hbone_in)
fabric_capture_start "$TMP/fabric6.pcap"
by_name6() { pod_exec mesh/client-0 curl -sf --max-time 3 -H 'X-Echo: MARKER-V6-ONLY' http://server6/; }
wait_for 20 by_name6 || fail "mesh/client-0 cannot reach http://server6/: $(by_name6 2>&1)"
expect_contains "$(by_name6)" "pod=mesh/server-0 from=$ip6_mesh_client_0 "
sleep 1
fabric_capture_stop
[ "$(hbone_in)" -gt "$h" ] || fail "node2's ztunnel took no connection to server6 over HBONE ($h)"
n=$(tcpdump -r "$TMP/fabric6.pcap" -nn -A 2>/dev/null | grep -c 'MARKER-V6-ONLY')
expect_eq "$n" 0 "packets to server6 in plaintext on the fabric"
n=$(tcpdump -r "$TMP/fabric6.pcap" -nn 2>/dev/null | grep -c '\.15008[ :]')
[ "$n" -gt 0 ] || fail "no HBONE (15008) on the fabric during the requests to server6"
# (server6 stays for the waypoint's part below.)

drops() { metric_sum "$(node_metrics "$1")" ambit_kernel_drops_total "reason=\"$2\""; }
# STRICT: IPv6 plaintext refused in the kernel; the mesh's HBONE goes on.
d=$(drops node2 drop_strict_plaintext)
cat >"$TMP/strict.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: mesh
spec:
  mtls:
    mode: STRICT
YAML
actl apply -f "$TMP/strict.yaml" >&2 || fail "apply STRICT"
refused() { ! pod_exec plain/client-0 curl -sS -g --max-time 3 -o /dev/null "http://[$ip6_mesh_server_0]:8080/"; }
wait_for 20 refused || fail "STRICT: plain/client-0 still reaches mesh/server-0 over IPv6"
[ "$(drops node2 drop_strict_plaintext)" -gt "$d" ] || fail "STRICT: node2 counted no drop_strict_plaintext over IPv6 ($d)"
expect_contains "$(pod_exec mesh/client-0 curl -sS -g --max-time 5 "http://[$vip6]/")" "pod=mesh/server-0"
actl delete -f "$TMP/strict.yaml" >&2 || fail "delete STRICT"
wait_for 20 pod_exec plain/client-0 curl -sf -g --max-time 3 -o /dev/null "http://[$ip6_mesh_server_0]:8080/" ||
	fail "PERMISSIVE again: plain/client-0 cannot reach mesh/server-0 over IPv6"

# A DENY policy's IPv6 ipBlocks: plain/client-0's address refused in the kernel; the rest of
# node1's pod range (mesh/client-0, over HBONE) still served.
d=$(drops node2 drop_deny_source)
cat >"$TMP/deny.yaml" <<YAML
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-v6
  namespace: mesh
spec:
  selector:
    matchLabels: {app: server}
  action: DENY
  rules:
  - from:
    - source:
        ipBlocks: ["$ip6_plain_client_0/128"]
YAML
actl apply -f "$TMP/deny.yaml" >&2 || fail "apply the IPv6 ipBlocks DENY"
wait_for 20 refused || fail "ipBlocks DENY: plain/client-0 still reaches mesh/server-0 over IPv6"
[ "$(drops node2 drop_deny_source)" -gt "$d" ] || fail "ipBlocks DENY: node2 counted no drop_deny_source over IPv6 ($d)"
# What `ambitctl check` says of it, by IPv6 address and by pod name. It reads node1's snapshot,
# which may take the policy a moment after node2 (each agent reads it on its own).
check6() { actl check "$ip6_plain_client_0" "[$ip6_mesh_server_0]:8080" 2>&1; }
check6_denies() { check6 | grep -q "deny by mesh/deny-v6"; }
wait_for 10 check6_denies || fail "check by IPv6 never named mesh/deny-v6: $(check6)"
out=$(check6) || fail "check by IPv6: $out"
expect_contains "$out" "source:      plain/client-0 ($ip6_plain_client_0) plaintext, no identity"
expect_contains "$out" "destination: mesh/server-0 ($ip6_mesh_server_0) port 8080"
expect_contains "$out" "decision:    deny by mesh/deny-v6"
out=$(actl check mesh/client-0 "[$vip6]:80") || fail "check to the IPv6 VIP: $out"
expect_contains "$out" "Service mesh/server port 80 -> target port 8080"
expect_contains "$out" "source:      mesh/client-0 ($ip6_mesh_client_0)"
expect_contains "$out" "decision:    allow"
expect_contains "$(pod_exec mesh/client-0 curl -sS -g --max-time 5 "http://[$ip6_mesh_server_0]:8080/")" \
	"pod=mesh/server-0 from=$ip6_mesh_client_0 "
actl delete -f "$TMP/deny.yaml" >&2 || fail "delete the IPv6 ipBlocks DENY"

# Anti-spoofing: an address of node1's pod range that is not plain/client-0's own, added in
# its netns from the host (the pod has no CAP_NET_ADMIN), sent from there.
d=$(drops node1 drop_spoofed_source)
spoof=${ip6_plain_client_0%::*}::99
cg=$(jq -r '.pods[] | select(.namespace == "plain" and .name == "client-0") | .cgroup' \
	"/run/ambit/$CLUSTER/runtime/pods.json")
pid=$(cat "$cg/cgroup.procs" "$cg"/*/cgroup.procs 2>/dev/null | head -1)
[ -n "$pid" ] || fail "no process of plain/client-0 in $cg"
pns=/proc/$pid/ns/net
nsenter --net="$pns" ip -6 addr add "$spoof/128" dev eth0 nodad || fail "cannot add $spoof in plain/client-0"
out=$(nsenter --net="$pns" timeout 5 socat -T 2 - "TCP6:[$ip6_plain_server_0]:9301,bind=[$spoof]" </dev/null 2>&1) &&
	fail "plain/client-0 reached plain/server-0 from the spoofed $spoof: $out"
nsenter --net="$pns" ip -6 addr del "$spoof/128" dev eth0
[ "$(drops node1 drop_spoofed_source)" -gt "$d" ] || fail "node1 counted no drop_spoofed_source for $spoof ($d)"
# ---- the ingress gateway over IPv6: its [::] listener, from a pod and from the host ----
GWPOD=istio-system/istio-ingressgateway-0
gw_ip6=$(actl get pod istio-ingressgateway-0 -n istio-system -o json | jq -r '.status.podIPs[-1].ip')
case $gw_ip6 in fd00:98:*) ;; *) fail "the gateway pod has no IPv6 address: $gw_ip6" ;; esac
cat >"$TMP/gw.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: mesh}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: server-gw, namespace: mesh}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route:
    - destination: {host: server.mesh.svc.cluster.local, port: {number: 80}}
YAML
actl apply -f "$TMP/gw.yaml" >&2 || fail "apply the Gateway and its VirtualService"
via_gw6() { pod_exec plain/client-0 curl -sf -g --max-time 3 -H 'X-Echo: gw6' "http://[$gw_ip6]:8080/" | grep -q "pod=mesh/server-0 "; }
wait_for 30 via_gw6 || fail "plain/client-0 cannot reach mesh/server through the gateway at [$gw_ip6]:8080"
wait_log 10 $GWPOD "\"GET / HTTP/1.1\" 200 .* \[$ip6_plain_client_0\]:[0-9]+ " ||
	fail "the gateway's log does not name [$ip6_plain_client_0]: $(actl local logs $GWPOD | tail -2)"
# From the host, as kubectl's port-forward does it: on [::1] beside 127.0.0.1.
pport=$(free_port)
actl local port-forward -n istio-system svc/istio-ingressgateway "$pport:80" \
	>"$TMP/pf.out" 2>&1 &
PIDS+=($!)
pf_up() { grep -q "Forwarding from \[::1\]:$pport -> 80" "$TMP/pf.out"; }
wait_for 10 pf_up || fail "port-forward did not listen on [::1]: $(cat "$TMP/pf.out")"
out=$(curl -sS -g --max-time 5 "http://[::1]:$pport/") || fail "the host could not reach the gateway on [::1]: $out"
expect_contains "$out" "pod=mesh/server-0 "
actl delete -f "$TMP/gw.yaml" >&2 || fail "delete the Gateway"

# ---- IPv6 through the ztunnel's upgrade and restart ----
# An upload over IPv6 across nodes spans both ztunnels' upgrades (each old one drains it), and
# new IPv6 connections are served throughout: the proxy's [::] listeners are handed over.
gen='for i in $(seq 1 40); do head -c 65536 /dev/zero; sleep 0.1; done'
want=$(bash -c "$gen" | sha256sum | cut -d' ' -f1)
pod_exec mesh/client-0 bash -c "{ echo UP; $gen; } | socat -t 30 -T 60 - TCP6:[$ip6_mesh_server_0]:9000" \
	>"$TMP/up6" 2>&1 &
xfer=$!
for node in node1 node2; do
	out=$(actl local upgrade ztunnel --name "$CLUSTER" --node "$node") || fail "upgrade of $node: $out"
	expect_contains "$out" "drained and exited" "upgrade of $node"
	expect_contains "$(pod_exec mesh/client-0 curl -sS -g --max-time 5 "http://[$vip6]/")" \
		"pod=mesh/server-0 from=$ip6_mesh_client_0 " "an IPv6 request after $node's upgrade"
done
wait $xfer || fail "the IPv6 upload across the upgrades failed: $(cat "$TMP/up6")"
expect_eq "$(tr -d '\n' <"$TMP/up6")" "$want" "the IPv6 upload's digest across the upgrades"
# A restart (not a hand-over): IPv6 fails closed meanwhile, and is served again after.
actl local stop ztunnel --node node2 --name "$CLUSTER" || fail "stop ztunnel node2"
out=$(pod_exec mesh/client-0 curl -sS -g --max-time 3 "http://[$ip6_mesh_server_0]:8080/" 2>&1) &&
	fail "IPv6 to mesh/server-0 answered with its node's ztunnel stopped: $out"
out=$(pod_exec plain/client-0 curl -sS -g --max-time 3 "http://[$ip6_mesh_server_0]:8080/" 2>&1) &&
	fail "plaintext IPv6 reached mesh/server-0 with its node's ztunnel stopped: $out"
actl local start ztunnel --node node2 --name "$CLUSTER" || fail "start ztunnel node2"
wait_for 30 pod_exec mesh/client-0 curl -sf -g --max-time 3 -o /dev/null "http://[$ip6_mesh_server_0]:8080/" ||
	fail "IPv6 not served again after node2's ztunnel restarted"

# ---- the waypoint over IPv6: routes and L7 policy with IPv6 ipBlocks ----
out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -n mesh)"
wp_ip6=$(actl get pod waypoint-0 -n mesh -o json | jq -r '.status.podIPs[-1].ip')
via_wp6() { pod_exec mesh/client-0 curl -sf -g --max-time 3 "http://[$vip6]/" | grep -q "from=$wp_ip6 "; }
wait_for 30 via_wp6 || fail "no answer over IPv6 through the waypoint ($wp_ip6): $(actl local logs mesh/waypoint-0 | tail -5)"
cat >"$TMP/l7.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: server-v6
  namespace: mesh
spec:
  parentRefs:
  - {group: "", kind: Service, name: server, port: 80}
  rules:
  - filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add: [{name: x-routed, value: by-the-waypoint}]
    backendRefs:
    - {name: server, port: 80}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: l7-deny-v6
  namespace: mesh
spec:
  targetRefs:
  - {group: "", kind: Service, name: server}
  action: DENY
  rules:
  - from:
    - source:
        ipBlocks: ["${ip6_mesh_client_0%::*}::/64"]
    to:
    - operation:
        paths: ["/admin*"]
YAML
actl apply -f "$TMP/l7.yaml" >&2 || fail "apply the HTTPRoute and the L7 policy"
code() { pod_exec mesh/client-0 curl -s -g -o /dev/null -w '%{http_code}' --max-time 3 "$1"; }
denied() { [ "$(code "http://[$vip6]/admin")" = 403 ]; }
wait_for 30 denied || fail "the waypoint did not deny /admin from node1's IPv6 range: $(code "http://[$vip6]/admin")"
v6only || expect_eq "$(code "http://$vip/admin")" 200 "/admin over IPv4 (an IPv6 block holds no IPv4 client)"
out=$(pod_exec mesh/client-0 curl -sS -g -i --max-time 3 "http://[$vip6]/")
expect_contains "$out" "x-routed: by-the-waypoint" "the HTTPRoute over IPv6"
expect_contains "$out" "from=$wp_ip6 "
actl delete -f "$TMP/l7.yaml" >&2 || fail "delete the HTTPRoute and the L7 policy"
# The SingleStack IPv6 Service through the waypoint: the namespace's waypoint takes it by its
# IPv6 VIP alone.
out=$(pod_exec mesh/client-0 curl -sS --max-time 5 http://server6/)
expect_contains "$out" "pod=mesh/server-0 from=$wp_ip6 " "server6 (IPv6 alone) through the waypoint"
# The gateway to server6 labelled istio.io/ingress-use-waypoint: its tunnel to the waypoint is
# IPv6 (HBONE to the waypoint's IPv6 instance, :authority server6's IPv6 VIP), the waypoint
# sends it on.
sed 's/^  name: server6$/&\n  labels: {istio.io\/ingress-use-waypoint: "true"}/' "$TMP/server6.yaml" |
	actl apply -f - >&2 || fail "label server6 istio.io/ingress-use-waypoint"
sed 's/host: server\.mesh/host: server6.mesh/' "$TMP/gw.yaml" | actl apply -f - >&2 ||
	fail "apply the Gateway to server6"
gw_wp6() { pod_exec plain/client-0 curl -sS -g --max-time 3 "http://[$gw_ip6]:8080/"; }
via_gw_wp6() { gw_wp6 | grep -q "pod=mesh/server-0 from=$wp_ip6 "; }
wait_for 30 via_gw_wp6 ||
	fail "the gateway did not reach server6 through the waypoint over IPv6: $(gw_wp6 2>&1); $(actl local logs $GWPOD | tail -2)"
wait_log 10 $GWPOD "\"GET / HTTP/1.1\" 200 .* \"\[$only6\]:80\"" ||
	fail "the gateway's upstream is not server6's VIP [$only6]:80: $(actl local logs $GWPOD | tail -2)"
actl delete -f "$TMP/gw.yaml" >&2 || fail "delete the Gateway to server6"

# ServiceEntries at the waypoint by their IPv6 addresses: one STATIC at its own IPv6 address
# (a DENY on it applies over IPv6), one of resolution DNS whose endpoint's name has AAAA alone
# (server6), reached at the IPv6 address ambit allocates it.
cat >"$TMP/se6.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext6, namespace: mesh, labels: {istio.io/use-waypoint: waypoint}}
spec:
  hosts: [ext6.example.test]
  addresses: ["fd00:e6::10"]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
  resolution: STATIC
  endpoints: [{address: "$ip6_plain_server_0"}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns6, namespace: mesh, labels: {istio.io/use-waypoint: waypoint}}
spec:
  hosts: [dns6.example.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  endpoints: [{address: server6.mesh.svc.cluster.local}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext6-deny, namespace: mesh}
spec:
  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: ext6}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
YAML
actl apply -f "$TMP/se6.yaml" >&2 || fail "apply the IPv6 ServiceEntries"
se6_denied() { [ "$(code 'http://[fd00:e6::10]/admin')" = 403 ]; }
wait_for 30 se6_denied ||
	fail "the waypoint did not apply ext6's DENY over IPv6: $(code 'http://[fd00:e6::10]/admin')"
out=$(pod_exec mesh/client-0 curl -sS -g --max-time 5 "http://[fd00:e6::10]/")
expect_contains "$out" "pod=plain/server-0 from=$wp_ip6 " "ext6 at its IPv6 address through the waypoint"
a6=$(aaaa mesh/client-0 dns6.example.test)
case $a6 in 2001:2::f0f0:*) ;; *) fail "dns6.example.test's AAAA is not the allocated one: '$a6'" ;; esac
out=$(pod_exec mesh/client-0 curl -sS -g --max-time 5 "http://[$a6]/")
expect_contains "$out" "pod=mesh/server-0 from=$wp_ip6 " "dns6 at its allocated IPv6, resolved AAAA, through the waypoint"
actl delete -f "$TMP/se6.yaml" >&2 || fail "delete the IPv6 ServiceEntries"
actl delete -f "$TMP/server6.yaml" >&2 || fail "delete the SingleStack IPv6 Service"
out=$(actl waypoint delete -n mesh waypoint 2>&1) || fail "waypoint delete: $out"

log "IPv6 in the mesh: pod to pod and to [$vip6] over HBONE (0 payload packets in plaintext on the fabric), PERMISSIVE/STRICT, ipBlocks and anti-spoofing in the kernel"
pass
