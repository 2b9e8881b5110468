#!/usr/bin/env bash
# `local up --cni bridge` makes the pod network of the CNI bridge plugin / flannel host-gw: each
# node's cni0 holds .1 of its pod CIDR, every pod's host veth is a port of it, a pod has a /24 and
# its default route via .1. Pods of one node talk at L2 across the bridge (the node forwards
# nothing), pods of two nodes through the node routes, Services through their ClusterIPs; status
# says which network a cluster has, and down leaves nothing; a pod's Router Advertisement changes
# nothing in its neighbours. Without the flag the network is the routed one, as before, and a
# cluster.json that names none reads as routed. The pods are outside the mesh: what is checked is
# the network itself.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl python3 nsenter

MANIFESTS=$LIB_DIR/manifests-bridge
node_ns() { echo "ambit-$CLUSTER-$1"; }
# pod_field NS/POD FIELD: that pod's FIELD in pods.json (netns, hostIface, ip, node).
pod_field() {
	jq -r --arg ns "${1%%/*}" --arg n "${1#*/}" --arg f "$2" \
		'.pods[] | select(.namespace == $ns and .name == $n) | .[$f]' \
		"/run/ambit/$CLUSTER/runtime/pods.json"
}
# inet4 NETNS DEV: DEV's IPv4 addresses as a.b.c.d/len.
inet4() {
	ip -n "$1" -j addr show dev "$2" |
		jq -r '.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"'
}
default_gw() { ip -n "$1" -j route show default | jq -r '.[0].gateway // empty'; }
mac_of() { ip -n "$1" -j link show dev "$2" | jq -r '.[0].address'; }
# IP datagrams NODE forwarded so far (/proc/net is the reading process's netns).
forwarded() {
	node_exec "$1" awk '/^Ip:/ { if (!c) { for (i = 1; i <= NF; i++) if ($i == "ForwDatagrams") c = i }
		else print $c }' /proc/net/snmp
}
body_of() { pod_exec flat/client-0 curl -sf --max-time 5 "$1"; }

# A bad value is refused before anything is made, from the flag and from the environment.
for how in flag env; do
	bad=${CLUSTER}x
	if [ $how = flag ]; then
		out=$(actl local up -f "$MANIFESTS" --name "$bad" --cni flannel 2>&1) && {
			actl local down --name "$bad" >/dev/null 2>&1
			fail "--cni flannel was taken"
		}
	else
		out=$(AMBIT_LOCAL_CNI=flannel actl local up -f "$MANIFESTS" --name "$bad" 2>&1) && {
			actl local down --name "$bad" >/dev/null 2>&1
			fail "AMBIT_LOCAL_CNI=flannel was taken"
		}
	fi
	expect_contains "$out" "'flannel' is neither routed nor bridge" "local up's complaint ($how)"
	[ -e "/run/ambit/$bad" ] && fail "a refused local up ($how) left /run/ambit/$bad"
done

before=$(bash "$LIB_DIR/leftovers.sh")
cluster_up manifests-bridge 2 --cni bridge
for p in client-0 server-a-0 server-b-0; do
	wait_for 20 pod_exec "flat/$p" true || fail "pod flat/$p never ran"
done
client_ip=$(pod_field flat/client-0 ip)
a_ip=$(pod_field flat/server-a-0 ip)
b_ip=$(pod_field flat/server-b-0 ip)
client_ns=$(pod_field flat/client-0 netns)
[ -n "$client_ip" ] && [ -n "$a_ip" ] && [ -n "$b_ip" ] && [ -n "$client_ns" ] || fail "pods.json lacks the pods"

# The topology: cni0 with the gateway address and a MAC of its own in each node, no bridge
# netfilter, every pod's veth a port of cni0 and nothing routed to it, a pod's /24 and gateway.
for n in 1 2; do
	ns=$(node_ns node$n)
	expect_eq "$(inet4 "$ns" cni0)" "10.98.$n.1/24" "node$n's cni0 address"
	ip -n "$ns" -j link show dev cni0 | jq -e '.[0].flags | index("UP")' >/dev/null ||
		fail "node$n's cni0 is not up"
	expect_eq "$(mac_of "$ns" cni0)" "0a:58:0a:62:0$n:01" "node$n's cni0 MAC (set, not a port's)"
	expect_eq "$(ip -n "$ns" -j -d link show dev cni0 | jq -r '.[0].linkinfo.info_kind')" bridge "node$n's cni0 kind"
	f=/proc/sys/net/bridge/bridge-nf-call-iptables
	if node_exec "node$n" test -e "$f"; then
		expect_eq "$(node_exec "node$n" cat "$f")" 0 "node$n's bridge-nf-call-iptables (br_netfilter is there)"
	fi
	expect_contains "$(ip -n "$ns" route show 169.254.1.1 table local)" "169.254.1.1 dev lo" "node$n keeps 169.254.1.1 on lo"
done
for p in client-0 server-a-0 server-b-0; do
	ns=$(node_ns "$(pod_field "flat/$p" node)")
	ifc=$(pod_field "flat/$p" hostIface)
	pns=$(pod_field "flat/$p" netns)
	ip=$(pod_field "flat/$p" ip)
	n=$(pod_field "flat/$p" node)
	n=${n#node}
	expect_eq "$(ip -n "$ns" -j link show dev "$ifc" | jq -r '.[0].master // empty')" cni0 "flat/$p's veth $ifc master"
	expect_eq "$(ip -n "$ns" route show dev "$ifc")" "" "routes to flat/$p's veth"
	expect_eq "$(node_exec "node$n" cat "/proc/sys/net/ipv4/conf/$ifc/proxy_arp")" 0 "proxy_arp on $ifc"
	expect_eq "$(inet4 "$pns" eth0)" "$ip/24" "flat/$p's eth0 address"
	expect_eq "$(default_gw "$pns")" "10.98.$n.1" "flat/$p's default gateway"
	[ "${ip##*.}" != 1 ] && [ "${ip##*.}" != 255 ] || fail "flat/$p has $ip: the gateway's or broadcast"
done

wait_for 30 body_of "http://$a_ip:8080/" || fail "server-a never answered"
wait_for 30 body_of "http://$b_ip:8080/" || fail "server-b never answered"

# Same node: the client resolves server-a's own MAC (no proxy ARP, no gateway), and node1
# forwards none of it: the frames go pod to pod across cni0.
ip -n "$client_ns" neigh flush all
fwd0=$(forwarded node1)
for _ in 1 2 3 4 5 6 7 8 9 10; do
	out=$(body_of "http://$a_ip:8080/") || fail "same-node request failed"
	expect_contains "$out" "pod=flat/server-a-0 from=$client_ip" "same-node answer"
done
fwd=$(($(forwarded node1) - fwd0))
log "node1 forwarded $fwd datagrams during 10 same-node requests"
[ "$fwd" -lt 10 ] || fail "node1 forwarded $fwd datagrams: same-node traffic went through its IP stack"
a_mac=$(mac_of "$(pod_field flat/server-a-0 netns)" eth0)
neigh=$(ip -n "$client_ns" neigh show "$a_ip")
expect_contains "$neigh" "lladdr $a_mac" "the client's neighbour entry for server-a"
# Cross-node, through node1's gateway and the node routes: the server sees the client's IP.
out=$(body_of "http://$b_ip:8080/") || fail "cross-node request failed"
expect_contains "$out" "pod=flat/server-b-0 from=$client_ip" "cross-node answer"
# Services: ClusterIPs, by name, on either node.
for svc in server-a server-b server-b.flat.svc.cluster.local; do
	out=$(body_of "http://$svc/") || fail "request to Service $svc failed"
	expect_contains "$out" "pod=flat/${svc%%.*}-0 from=$client_ip" "Service $svc"
done
# A pod that apply adds to the running cluster (its cni read back from cluster.json) joins cni0.
actl apply -f - >&2 <<'EOF' || fail "apply of pod flat/late failed"
apiVersion: v1
kind: Pod
metadata: {name: late, namespace: flat, labels: {app: late}}
spec:
  nodeName: node2
  containers: [{name: late, image: python, command: ["python3", "pods/whoami.py"]}]
EOF
late_ip=$(pod_field flat/late ip)
[ -n "$late_ip" ] || fail "pods.json lacks flat/late"
expect_eq "$(ip -n "$(node_ns node2)" -j link show dev "$(pod_field flat/late hostIface)" |
	jq -r '.[0].master // empty')" cni0 "flat/late's veth master"
expect_eq "$(inet4 "$(pod_field flat/late netns)" eth0)" "$late_ip/24" "flat/late's eth0 address"
wait_for 30 body_of "http://$late_ip:8080/" || fail "flat/late never answered"
expect_contains "$(body_of "http://$late_ip:8080/")" "pod=flat/late from=$client_ip" "flat/late's answer"
# The node's own address, 169.254.1.1 (the ztunnel's), through the default route.
expect_eq "$(pod_exec flat/client-0 curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	http://169.254.1.1:15021/healthz/ready)" 200 "the ztunnel's readiness at 169.254.1.1 from a pod"

# A pod is no router: a Router Advertisement flooded on cni0 by client-0 (a raw ICMPv6 socket,
# with a prefix for SLAAC and a router lifetime) gives server-a beside it no address and no
# default route through the client (the CVE-2020-10749 class); node1 counts it as drop_pod_nd.
a_ns=$(pod_field flat/server-a-0 netns)
v6_state() { { ip -n "$a_ns" -6 -o addr show dev eth0 scope global; ip -n "$a_ns" -6 route show default; } | sort; }
ip -n "$a_ns" -6 -o addr show dev eth0 scope link | grep -q fe80:: ||
	fail "flat/server-a-0 has no IPv6 link-local address: an RA could not reach it"
before_ra=$(v6_state)
nd0=$(metric_sum "$(node_metrics node1)" ambit_kernel_drops_total 'reason="drop_pod_nd"')
pod_exec flat/client-0 python3 -c '
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
pio = struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0)
pio += socket.inet_pton(socket.AF_INET6, "2001:db8:bad::")
for _ in range(3):
    s.sendto(ra + pio, ("ff02::1", 0, 0, socket.if_nametoindex("eth0")))
' || fail "flat/client-0 could not send a Router Advertisement"
nd_moved() {
	[ "$(metric_sum "$(node_metrics node1)" ambit_kernel_drops_total 'reason="drop_pod_nd"')" -ge $((nd0 + 3)) ]
}
wait_for 10 nd_moved || fail "node1 counted no drop_pod_nd for client-0's Router Advertisements; server-a has: $(v6_state | tr '\n' ';')"
expect_eq "$(v6_state)" "$before_ra" "flat/server-a-0's global IPv6 addresses and default route after the RA"

# What the cluster says it is.
expect_contains "$(actl local status | head -1)" "pod network bridge" "local status"
expect_eq "$(actl local status -o json | jq -r .cni)" bridge "local status -o json .cni"
expect_eq "$(jq -r .cni "/run/ambit/$CLUSTER/cluster.json")" bridge "cluster.json .cni"

# down takes everything, bridges with their node netns.
actl local down --name "$CLUSTER" >&2 || fail "local down failed"
CLUSTER_IS_UP=0
left=$(comm -13 <(printf '%s\n' "$before" | sort) <(bash "$LIB_DIR/leftovers.sh" | sort) |
	grep -E "$CLUSTER|whoami\.py" || true)
[ -z "$left" ] || fail "local down left: $left"

# Without the flag (nor AMBIT_LOCAL_CNI): routed, by the CNI ptp plugin. The pod's address in
# its node's /24 but nothing on-link: its routes go via the node's .1, which ptp puts on the
# host veth (a /32), and the node routes the pod's /32 to the veth; the same-node request goes
# through node1, so the client never learns server-a's MAC.
unset AMBIT_LOCAL_CNI
CLUSTER=${CLUSTER}r
export AMBIT_CLUSTER=$CLUSTER
cluster_up manifests-bridge 2
client_ip=$(pod_field flat/client-0 ip)
a_ip=$(pod_field flat/server-a-0 ip)
client_ns=$(pod_field flat/client-0 netns)
ifc=$(pod_field flat/client-0 hostIface)
ip -n "$(node_ns node1)" link show dev cni0 >/dev/null 2>&1 && fail "a routed node has cni0"
expect_eq "$(inet4 "$client_ns" eth0)" "$client_ip/24" "routed pod's eth0 address"
expect_eq "$(default_gw "$client_ns")" 10.98.1.1 "routed pod's default gateway"
expect_contains "$(ip -n "$client_ns" route show 10.98.1.0/24)" "via 10.98.1.1" "a routed pod's own /24 via the node"
expect_contains "$(ip -n "$(node_ns node1)" -4 addr show dev "$ifc")" "10.98.1.1/32" "the gateway on a routed veth"
expect_contains "$(ip -n "$(node_ns node1)" route show "$client_ip")" "dev $ifc" "the node's route to a routed pod"
wait_for 30 body_of "http://$a_ip:8080/" || fail "routed: server-a never answered"
ip -n "$client_ns" neigh flush all
out=$(body_of "http://$a_ip:8080/") || fail "routed: same-node request failed"
expect_contains "$out" "pod=flat/server-a-0 from=$client_ip" "routed same-node answer"
expect_eq "$(ip -n "$client_ns" neigh show "$a_ip")" "" "a routed client's neighbour entry for server-a"
expect_eq "$(actl local status -o json | jq -r .cni)" routed "routed: local status -o json .cni"
expect_eq "$(jq -r .cni "/run/ambit/$CLUSTER/cluster.json")" routed "routed: cluster.json .cni"
# A cluster.json from before --cni names none: routed. One naming something else is refused.
cj=/run/ambit/$CLUSTER/cluster.json
saved=$(cat "$cj")
jq 'del(.cni)' <<<"$saved" >"$cj"
expect_eq "$(actl local status -o json | jq -r .cni)" routed "a cluster.json without cni"
jq '.cni = "flannel"' <<<"$saved" >"$cj"
out=$(actl local status 2>&1) && fail "local status took cni flannel"
expect_contains "$out" "'flannel' is neither routed nor bridge" "local status with cni flannel"
printf '%s\n' "$saved" >"$cj"
pass
