#!/usr/bin/env bash
# The DNS proxy. Enrolled pods' port-53 traffic, UDP and TCP, goes to their node ztunnel's
# proxy (their nameserver is the cluster's DNS, as every pod's): Services by short name through the search
# list, by FQDN, headless Services by their pods, SRV for a named port, a ServiceEntry host by its
# allocated 240.240/16 address (and a connection to it reaches the entry's endpoint), NXDOMAIN
# under the cluster domain, a resolution: DNS entry's host resolved by the ztunnel for the
# connection; other names are forwarded to the node's resolver (a dnsmasq on the
# fabric here): A, CNAME, NXDOMAIN, and a 1,920-byte answer truncated over UDP and whole over TCP.
# No lookup fails while the node's ztunnel, then its agent, is killed and restarted: the agent
# keeps the proxy's sockets, and the new ztunnel answers what was queued there.
# A pod annotated ambient.istio.io/dns-capture: "false", and a pod outside the mesh, ask the
# cluster's DNS themselves (the proxy counts none of their queries). The counter redirect_dns
# counts what the kernel steered. In an IPv6 cluster (`local up --ip-family ipv6`) the same, of
# that family: the pods ask the cluster DNS's IPv6 for AAAA, a ServiceEntry host has its
# 2001:2::/48 address.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd dig dnsmasq curl python3 jq
cluster_up manifests

EXT=$FABRIC_IP
DIR=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rc=$?; rm -rf "$DIR"; LIB_RC=$rc on_exit' EXIT

# The upstream resolver of the nodes (their resolv.conf names the fabric's address).
{
	echo "192.0.2.80 www.ext.test"
	echo "$EXT web.ext.test"
	echo "$EXT ns.ext.test"
	for i in $(seq 1 120); do echo "10.77.0.$i big.ext.test"; done
	# And as many AAAA, which an IPv6 cluster's pods ask for (glibc asks no A without an IPv4
	# address to use it from).
	for i in $(seq 1 120); do echo "fd00:77::$i big.ext.test"; done
} >"$DIR/hosts"
chmod 755 "$DIR" && chmod 644 "$DIR/hosts" # dnsmasq reads it as nobody
fabric_bg dnsmasq --keep-in-foreground --listen-address="$EXT" --bind-interfaces --port=53 \
	--no-resolv --no-hosts --local=/ext.test/ --addn-hosts="$DIR/hosts" --cname=alias.ext.test,www.ext.test \
	--pid-file="$DIR/dnsmasq.pid" --log-facility="$DIR/dnsmasq.log" --log-queries
fabric_http 18082 ext-18082

# What the pods ask and are answered, by the cluster's family: in an IPv6 cluster their
# nameserver is the cluster DNS's IPv6 and a Service's address its IPv6 VIP (AAAA; A is NODATA),
# as a ServiceEntry host's is the IPv6 allocated for it (2001:2::/48).
# The nodes have IPv6 alone there too: they ask the fabric's resolver from it.
dns_ip=$CLUSTER_DNS_IP qtype=A ahosts=ahostsv4 se_net=240.240. node1_ip=10.99.0.11
if [ "$(cluster_ip_family)" = ipv6 ]; then
	dns_ip=$CLUSTER_DNS_IP6 qtype=AAAA ahosts=ahostsv6 se_net=2001:2:: node1_ip=fd00:99::11
fi
# lookup POD NAME: NAME's first address of that family, as glibc resolves it in POD (never an
# A answer glibc maps into ::ffff:a.b.c.d).
lookup() { pod_exec "$1" getent "$ahosts" "$2" | awk '$1 !~ /^::ffff:/ { print $1; exit }'; }
# se_addr HOST: the address `ambitctl services` lists for a ServiceEntry host, of that family.
se_addr() {
	actl services | awk -v h="$1" '$2 == h { print $3; exit }' | tr , '\n' | grep -F "$se_net" | head -n 1
}

# ask POD ARGS...: dig in the pod, short output.
ask() {
	local pod=$1
	shift
	pod_exec "$pod" dig +time=3 +tries=1 "$@"
}
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "the mesh (and its DNS) never came up"

# ---- the pods' view: resolv.conf (the cluster's DNS), hosts without Services ----
conf=$(pod_exec mesh/client-0 cat /etc/resolv.conf)
expect_contains "$conf" "search mesh.svc.cluster.local svc.cluster.local cluster.local"
expect_contains "$conf" "nameserver $dns_ip"
hosts=$(pod_exec mesh/client-0 cat /etc/hosts)
expect_not_contains "$hosts" "server.mesh" "an enrolled pod's hosts file still lists Services"

# ---- names of the mesh ----
vip=$(actl services | awk '$1 == "mesh" && $2 == "server" { print $3; exit }')
vip=${vip%%,*} # the family's own (a dual-stack cluster lists the IPv6 one after the IPv4 one)
[ -n "$vip" ] || fail "no VIP for mesh/server"
expect_eq "$(lookup mesh/client-0 server)" "$vip" "short name through the search list"
expect_eq "$(ask mesh/client-0 +short "$qtype" server.mesh.svc.cluster.local)" "$vip" "FQDN"
expect_eq "$(ask mesh/client-0 +short +search "$qtype" server.mesh)" "$vip" "name.namespace"
out=$(ask mesh/client-0 nothing.mesh.svc.cluster.local)
expect_contains "$out" "status: NXDOMAIN" "unknown name under the cluster domain"
expect_contains "$out" "flags: qr aa" "the proxy answers its names authoritatively"
# The answer comes from the server the pod asked (the kernel shows it so): dig checks it too.
expect_contains "$out" "SERVER: $dns_ip#53"
out=$(ask mesh/client-0 +short SRV _http._tcp.server.mesh.svc.cluster.local)
expect_eq "$out" "0 100 80 server.mesh.svc.cluster.local." "SRV of a named port"
# Over TCP (captured too).
expect_eq "$(ask mesh/client-0 +tcp +short "$qtype" server.mesh.svc.cluster.local)" "$vip" "TCP query"

actl apply -f - >&2 <<EOF || fail "apply the headless Service and the ServiceEntry"
apiVersion: v1
kind: Service
metadata: {name: server-headless, namespace: mesh}
spec:
  clusterIP: None
  selector: {app: server}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: mesh}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18082}]
  endpoints: [{address: $EXT}]
EOF
server_ip=$(pod_ip mesh/server-0)
wait_for 20 bash -c '[ "$("$1" local exec --name "$2" mesh/client-0 -- dig +short "$4" server-headless.mesh.svc.cluster.local)" = "$3" ]' _ \
	"$AMBITCTL" "$CLUSTER" "$server_ip" "$qtype" || fail "headless Service not answered with its pod $server_ip"
se_vip=$(se_addr api.example.com)
[ -n "$se_vip" ] || fail "api.example.com has no allocated address: $(actl services)"
expect_eq "$(ask mesh/client-0 +short "$qtype" api.example.com)" "$se_vip" "ServiceEntry host"
# AAAA: none on an IPv4 node; on a dual-stack one (an IPv6 cluster's nodes are) the IPv6
# allocated beside the IPv4 one.
aaaa=$(ask mesh/client-0 +short AAAA api.example.com)
if [ "$(cluster_ip_family)" != ipv4 ]; then
	case $aaaa in 2001:2::*) ;; *) fail "AAAA of api.example.com in a dual-stack cluster: '$aaaa'" ;; esac
else
	expect_eq "$aaaa" "" "AAAA of a host allocated an IPv4 address only"
fi
out=$(pod_exec mesh/client-0 curl -sS --max-time 5 http://api.example.com/) ||
	fail "a connection by the entry's name did not reach its endpoint"
expect_contains "$out" "ext-18082"
# resolution DNS: the ztunnel resolves the host through the node's resolver for the routing.
actl apply -f - >&2 <<EOF || fail "apply the DNS ServiceEntry"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: mesh}
spec:
  hosts: [web.ext.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 18082}]
EOF
web_vip=$(se_addr web.ext.test)
[ -n "$web_vip" ] || fail "web.ext.test has no allocated address: $(actl services)"
expect_eq "$(ask mesh/client-0 +short "$qtype" web.ext.test)" "$web_vip" \
	"a DNS entry's host answers its allocated address"
wait_for 15 pod_exec mesh/client-0 curl -sf --max-time 3 http://web.ext.test/ ||
	fail "a connection to a DNS entry never reached what its name resolves to"
expect_contains "$(pod_exec mesh/client-0 curl -sS --max-time 5 http://web.ext.test/)" "ext-18082"
grep -q "query\[A\] web.ext.test from $node1_ip" "$DIR/dnsmasq.log" ||
	fail "the ztunnel did not resolve web.ext.test upstream"

# A TCP client that sends queries and never reads the answers is closed once 256 KB of them wait,
# rather than buffered without end.
steer0=$(actl maps --node node1 | awk '$1 == "redirect_dns" { print $2 }')
out=$(pod_exec mesh/client-0 python3 -c '
import socket, struct, sys
name = b"".join(bytes([len(l)]) + l for l in b"server.mesh.svc.cluster.local".split(b".")) + b"\0"
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(20)
s.connect((sys.argv[1], 53))
try:
    for i in range(200000):
        s.sendall(struct.pack(">H", len(q)) + q)
    print("never closed")
except (BrokenPipeError, ConnectionResetError):
    print("closed after", i, "queries")
except socket.timeout:
    print("stalled after", i, "queries")
' "$dns_ip" 2>&1)
# On failure, where the connection went: the kernel's steering of port 53 to the proxy since.
case $out in
*"closed after"*) ;;
*) fail "a client that never reads its answers: $out (redirect_dns on node1 moved from $steer0 to $(actl maps --node node1 | awk '$1 == "redirect_dns" { print $2 }'); the proxy's TCP clients: $(node_metrics node1 | grep -i 'dns.*tcp' | head -5))" ;;
esac
expect_eq "$(ask mesh/client-0 +tcp +short "$qtype" server.mesh.svc.cluster.local)" "$vip" \
	"TCP answers after a client was closed for not reading"

# ---- forwarded to the node's resolver ----
expect_eq "$(ask mesh/client-0 +short www.ext.test)" "192.0.2.80" "forwarded A"
out=$(ask mesh/client-0 +short alias.ext.test)
expect_contains "$out" "www.ext.test." "forwarded CNAME"
expect_contains "$out" "192.0.2.80" "forwarded CNAME's address"
expect_contains "$(ask mesh/client-0 nothing.ext.test)" "status: NXDOMAIN" "forwarded NXDOMAIN"
expect_eq "$(pod_exec mesh/client-0 getent hosts www.ext.test | awk '{print $1}')" "192.0.2.80" \
	"an external name through the search list (each cluster suffix NXDOMAIN first)"
# 120 addresses (1,920 bytes): truncated over UDP, and dig asks again over TCP.
out=$(ask mesh/client-0 big.ext.test)
expect_contains "$out" "Truncated, retrying in TCP mode" "the UDP answer was not truncated"
n=$(printf '%s\n' "$out" | grep -c 'IN	A	10\.77\.0\.')
expect_eq "$n" "120" "the TCP answer lost records"
n=$(pod_exec mesh/client-0 getent "$ahosts" big.ext.test | awk '$1 !~ /^::ffff:/ { print $1 }' |
	sort -u | wc -l)
expect_eq "$n" "120" "glibc's TCP fallback through the proxy"
grep -q "query\[A\] www.ext.test from ${node1_ip%1}" "$DIR/dnsmasq.log" ||
	fail "the upstream never saw the node's query: $(cat "$DIR/dnsmasq.log")"
expect_not_contains "$(cat "$DIR/dnsmasq.log")" "server.mesh.svc.cluster.local" \
	"a name of the mesh leaked upstream"

# ---- the proxy's metrics, as Istio's ztunnel names them ----
m=$(node_metrics node1)
client_labels=('source_canonical_service="client"' 'source_canonical_revision="latest"')
n=$(metric_sum "$m" istio_dns_requests_total "request_query_type=\"${qtype,,}\"" \
	'request_protocol="udp"' "${client_labels[@]}")
[ "$n" -ge 5 ] || fail "istio_dns_requests_total (${qtype,,}, udp, client): $n: $(grep istio_dns_requests <<<"$m")"
n=$(metric_sum "$m" istio_dns_requests_total 'request_protocol="tcp"' "${client_labels[@]}")
[ "$n" -ge 2 ] || fail "istio_dns_requests_total over TCP: $n"
n=$(metric_sum "$m" istio_dns_upstream_requests_total 'request_query_type="a"' "${client_labels[@]}")
[ "$n" -ge 3 ] || fail "istio_dns_upstream_requests_total: $n: $(grep istio_dns_upstream <<<"$m")"
n=$(metric_sum "$m" istio_dns_upstream_request_duration_seconds_count "${client_labels[@]}")
[ "$n" -ge 3 ] || fail "istio_dns_upstream_request_duration_seconds: $n"
expect_contains "$m" "# TYPE istio_dns_upstream_request_duration_seconds histogram"

# ---- a resolver a ServiceEntry names: asked itself, through the ztunnel ----
# Its UDP port 53 at the entry's address is not the proxy's: the query goes to the node's
# ztunnel, which carries it to the entry's endpoint (the fabric's dnsmasq, which knows ext.test
# alone and refuses the rest) and counts it under the entry's host; from a pod captured in-pod
# (the bridge CNI) alike, tc at its eth0 taking the datagrams (docs/udp.md).
actl apply -f - >&2 <<EOF || fail "apply the resolver's ServiceEntry"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: corp-dns, namespace: mesh}
spec:
  hosts: [dns.corp.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 53, name: dns, protocol: UDP}]
  endpoints: [{address: $EXT}]
EOF
corp=$(se_addr dns.corp.test)
[ -n "$corp" ] || fail "dns.corp.test has no allocated address: $(actl services)"
# corp_status NAME: the status of NAME's A (AAAA) answer from the entry's address.
corp_status() { ask mesh/client-0 "@$corp" "$qtype" "$1" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
corp_refuses() { [ "$(corp_status server.mesh.svc.cluster.local)" = REFUSED ]; }
corp_flows() {
	metric_sum "$(node_metrics node1)" istio_tcp_connections_opened_total 'reporter="source"' \
		'destination_service="dns.corp.test"' 'destination_service_namespace="mesh"' \
		'request_protocol="udp"' 'source_workload="client"'
}
before=$(corp_flows)
wait_for 20 corp_refuses || fail "a name of the mesh, asked of the entry's resolver: $(ask \
	mesh/client-0 "@$corp" "$qtype" server.mesh.svc.cluster.local)"
expect_eq "$(ask mesh/client-0 "@$corp" +short www.ext.test)" "192.0.2.80" \
	"a name the entry's resolver knows"
# Over TCP (a truncated answer's retry) too: the resolver's, through the ztunnel.
expect_contains "$(ask mesh/client-0 "@$corp" +tcp "$qtype" server.mesh.svc.cluster.local)" \
	"status: REFUSED" "a TCP query to the entry's resolver"
expect_contains "$(ask mesh/client-0 "@$corp" direct.ext.test)" "SERVER: $corp#53" \
	"the answer is the entry's address's"
grep -q "query\[A\] direct.ext.test from ${node1_ip%1}" "$DIR/dnsmasq.log" ||
	fail "the entry's resolver never saw the query from the node: $(tail -5 "$DIR/dnsmasq.log")"
n=$(corp_flows)
[ "${n:-0}" -gt "${before:-0}" ] ||
	fail "no UDP flow counted under dns.corp.test: $(node_metrics node1 | grep dns.corp.test)"
# ambitctl check says so, by the host's name and by its address.
for to in dns.corp.test "$(url_host "$corp")"; do
	out=$(actl check mesh/client-0 "$to:53" --udp) || fail "check to $to: $out"
	expect_contains "$out" "ServiceEntry dns.corp.test (mesh, MESH_EXTERNAL) port 53"
	expect_contains "$out" "by the source's ztunnel, plain UDP from the node's address"
done
expect_contains "$(actl check plain/client-0 dns.corp.test:53 --udp)" "not carried" \
	"check from a pod outside the mesh"
# resolution DNS: the entry's endpoint is what its host's name resolves to, for the ztunnel
# (the node's resolver, the same dnsmasq); the pod names the resolver by that name too.
actl apply -f - >&2 <<EOF || fail "apply the resolver's DNS ServiceEntry"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ns-by-name, namespace: mesh}
spec:
  hosts: [ns.ext.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 53, name: dns, protocol: UDP}]
EOF
by_name() { ask mesh/client-0 @ns.ext.test "$qtype" server.mesh.svc.cluster.local; }
by_name_refused() { by_name | grep -q "status: REFUSED"; }
wait_for 20 by_name_refused || fail "a query to a DNS entry's resolver, by its name: $(by_name)"
expect_eq "$(ask mesh/client-0 @ns.ext.test +short www.ext.test)" "192.0.2.80" \
	"a name the DNS entry's resolver knows"
# A block of addresses (resolution NONE, a CIDR in `addresses`): its UDP port 53 is the resolver
# the pod asks, as at an entry's address, through the ztunnel to where the pod sent it
# (sentry_cidrs in the kernel); before the entry, and after it, the DNS proxy answers there.
block=${EXT%.*}.0/30
[ "$(cluster_ip_family)" = ipv6 ] && block=${EXT%:*}:/126
fabric_status() {
	ask mesh/client-0 "@$EXT" "$qtype" server.mesh.svc.cluster.local |
		sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}
expect_eq "$(fabric_status)" NOERROR "port 53 of the fabric's address, before the block's entry"
cat >"$DIR/block.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: fabric-block, namespace: mesh}
spec:
  hosts: [fabric.corp.test]
  addresses: ["$block"]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 53, name: dns, protocol: UDP}]
EOF
actl apply -f "$DIR/block.yaml" >&2 || fail "apply the block's ServiceEntry"
block_flows() {
	metric_sum "$(node_metrics node1)" istio_tcp_connections_opened_total 'reporter="source"' \
		'destination_service="fabric.corp.test"' 'request_protocol="udp"' \
		'source_workload="client"'
}
fabric_refuses() { [ "$(fabric_status)" = REFUSED ]; }
before=$(block_flows)
wait_for 20 fabric_refuses || fail "a name of the mesh, asked of the block's resolver:" \
	"$(fabric_status); $(actl maps --node node1 | grep -A3 sentry_cidrs)"
expect_eq "$(ask mesh/client-0 "@$EXT" +short www.ext.test)" "192.0.2.80" \
	"a name the block's resolver knows"
n=$(block_flows)
[ "${n:-0}" -gt "${before:-0}" ] ||
	fail "no UDP flow counted under fabric.corp.test: $(node_metrics node1 | grep fabric.corp)"
expect_contains "$(actl maps --node node1)" \
	"port 53/udp -> the ztunnel, as addressed (a ServiceEntry's UDP port)" "ambitctl maps: the block's entry"
out=$(actl check mesh/client-0 "$(url_host "$EXT"):53" --udp) || fail "check to the block: $out"
expect_contains "$out" "ServiceEntry fabric.corp.test (mesh, MESH_EXTERNAL) port 53"
actl delete -f "$DIR/block.yaml" >&2 || fail "delete the block's ServiceEntry"
fabric_answers() { [ "$(fabric_status)" = NOERROR ]; }
wait_for 20 fabric_answers || fail "the proxy's again once the block's entry is gone: $(fabric_status)"

# ---- what the kernel steered ----
n=$(actl maps --node node1 | awk '$1 == "redirect_dns" { print $2 }')
[ "${n:-0}" -ge 10 ] || fail "the kernel's redirect_dns counter says ${n:-nothing}"

# ---- answers the kernel gives again (dns_answers, bpf/lib/dnsfast.h) ----
# A query the proxy answered for a pod is answered again at the pod's veth, by the tc program,
# from the proxy's answer under the query's own id; the proxy's metrics count those too.
answered() { actl maps --node node1 | awk '$1 == "dns_answered" { print $2 }'; }
before=$(answered)
for _ in 1 2 3 4 5; do
	expect_eq "$(lookup mesh/client-0 server.mesh.svc.cluster.local)" "$vip" "a lookup the kernel answers"
done
maps=$(actl maps --node node1)
n=$(answered)
[ "${n:-0}" -ge $((${before:-0} + 4)) ] ||
	fail "the kernel answered ${n:-no} queries (${before:-0} before): $maps"
expect_contains "$maps" "server.mesh.svc.cluster.local. $qtype" "dns_answers lacks the pod's query"
# The proxy reads the kernel's counts every second: after one, what it says is complete.
sleep 1.5
requests() { metric_sum "$(node_metrics node1)" istio_dns_requests_total "${client_labels[@]}"; }
n=$(requests)
before=$(answered)
for _ in 1 2 3; do pod_exec mesh/client-0 getent hosts server.mesh.svc.cluster.local >/dev/null; done
k=$(($(answered) - before))
[ "$k" -ge 3 ] || fail "the kernel no longer answers the lookups ($k)"
for _ in $(seq 25); do [ "$(requests)" -ge $((n + k)) ] && break; sleep 0.2; done
[ "$(requests)" -ge $((n + k)) ] ||
	fail "istio_dns_requests_total does not count the $k the kernel answered: $(requests) after $n"
# A new snapshot retires every answer: a name unknown before resolves once its Service exists.
for _ in 1 2; do
	expect_contains "$(ask mesh/client-0 +nocookie "$qtype" late.mesh.svc.cluster.local)" "status: NXDOMAIN" \
		"a name no Service has yet"
done
expect_contains "$(actl maps --node node1)" "late.mesh.svc.cluster.local. $qtype" \
	"the kernel does not hold the NXDOMAIN answer"
actl apply -f - >&2 <<EOF || fail "apply the late Service"
apiVersion: v1
kind: Service
metadata: {name: late, namespace: mesh}
spec:
  selector: {app: server}
  ports: [{name: http, port: 80}]
EOF
wait_for 20 bash -c '[ -n "$("$1" local exec --name "$2" mesh/client-0 -- dig +nocookie +short "$3" late.mesh.svc.cluster.local)" ]' _ \
	"$AMBITCTL" "$CLUSTER" "$qtype" || fail "the kernel kept answering NXDOMAIN for a Service that exists now"

# ---- restarts: lookups in a loop while node1's ztunnel, then its agent, is killed ----
status_json() { actl local status -o json 2>/dev/null; }
pid_of() { status_json | jq -r --arg n node1 ".nodes[] | select(.name == \$n) | .$1.pid"; }
# The agent keeps the proxy's sockets: a restarted ztunnel answers what was sent meanwhile.
wait_log 10 node1-agent "keeping the DNS proxy's sockets" || fail "the agent keeps no DNS sockets"
for what in ztunnel agent; do
	pid=$(pid_of "$what")
	# The same name each time (the kernel answers it again, whatever the proxy is doing), and
	# one spelt differently each time (DNS names are alike in any case), which only the proxy
	# can answer: from the sockets the agent keeps while no ztunnel runs.
	pod_exec mesh/client-0 bash -c 'for i in $(seq 60); do
		getent hosts server.mesh.svc.cluster.local >/dev/null || echo "lookup $i failed"
		n=; for k in 0 1 2 3 4 5; do c=${0:k:1}; [ $(((i >> k) & 1)) = 1 ] && c=${c^^}; n=$n$c; done
		[ -n "$(dig +short +time=3 +tries=2 "$1" "$n.mesh.svc.cluster.local")" ] || echo "lookup $n failed"
		sleep 0.05; done; echo done' server "$qtype" >"$DIR/loop.$what" 2>&1 &
	loop=$!
	sleep 0.5
	kill -9 "$pid"
	wait "$loop"
	out=$(cat "$DIR/loop.$what")
	expect_contains "$out" "done" "the lookup loop across the $what's restart did not finish"
	expect_not_contains "$out" "failed" "a lookup failed across the $what's restart"
	wait_for 15 bash -c '[ "$("$1" local status -o json | jq -r ".nodes[] | select(.name == \"node1\") | .$2.running")" = true ]' _ \
		"$AMBITCTL" "$what" || fail "the $what did not come back"
	[ "$(pid_of "$what")" != "$pid" ] || fail "the $what was not killed"
done
wait_log 10 node1-ztunnel "serving the sockets the agent kept" ||
	fail "the restarted ztunnel did not take the sockets the agent kept"

# ---- outside the mesh, and opted out ----
# Both ask the cluster's DNS themselves: the answer, and not one more query steered by the kernel
# (its counter moves as it steers; the proxy counts the kernel's own answers later, by client).
steered() { actl maps --node node1 | awk '$1 == "redirect_dns" { print $2 }'; }
before=$(steered)
expect_eq "$(lookup plain/client-0 server.mesh)" "$vip" "a pod outside the mesh, through the cluster's DNS"
actl apply -f - >&2 <<'EOF' || fail "apply the opted-out pod"
apiVersion: v1
kind: Pod
metadata:
  name: optout
  namespace: mesh
  annotations: {ambient.istio.io/dns-capture: "false"}
spec:
  nodeName: node1
  containers:
  - {name: c, image: debian, command: [sleep, infinity]}
EOF
wait_for 30 pod_exec mesh/optout true || fail "the opted-out pod never started"
expect_eq "$(lookup mesh/optout server)" "$vip" "an opted-out pod, through the cluster's DNS"
out=$(ask mesh/optout nothing.mesh.svc.cluster.local)
expect_contains "$out" "status: NXDOMAIN" "the cluster's DNS: an unknown name under cluster.local"
expect_eq "$(steered)" "$before" "queries of pods the proxy does not serve were steered to it"
n=$(metric_sum "$(node_metrics node1)" istio_dns_requests_total 'source_canonical_service="optout"')
expect_eq "$n" 0 "the proxy counted queries of the opted-out pod"
pass
