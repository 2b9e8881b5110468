#!/usr/bin/env bash
# The DNS proxy's two Istio issues (issue 41). A headless Service's SRV for a named port answers
# one record a pod, on the pod's port, named by the pod's hostname when its subdomain is the
# Service, else by its dashed address, with the targets' addresses beside (istio/istio#55979),
# and those names resolve; UPDATE and NOTIFY from an enrolled pod reach the node's resolver and
# its answer comes back, where the proxy answered NOTIMP (istio/istio#55962). The node's resolver
# is a small one run here in the fabric netns, which logs each message's opcode and name.
# In the IPv6-only pass (AMBIT_IT_IPV6) the pods have IPv6 alone: the same names answer AAAA,
# an endpoint without a hostname named by its dashed IPv6 address (':' as '-'), as a pod is.
# Both passes: a headless Service without a selector answers its EndpointSlice's addresses (of
# the cluster's family), each by its dashed name too, and a pod answers by its dashed address.
# In the dual-stack pass (AMBIT_IT_DUAL) that Service also has an IPv6 slice numbering its port
# otherwise: each SRV target is on its own slice's number.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd dig nsupdate python3
cluster_up manifests

DIR=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rc=$?; rm -rf "$DIR"; LIB_RC=$rc on_exit' EXIT

# The nodes' resolver (their resolv.conf names the fabric's address): it answers every message
# with its own header, QR set, and its first question (an UPDATE's zone): NOERROR for any opcode
# but QUERY, NXDOMAIN for a query. It only reads the header and the first name, uncompressed as
# a first name always is.
cat >"$DIR/resolver.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
log = open(sys.argv[2], "a", buffering=1)
while True:
    m, peer = s.recvfrom(4096)
    if len(m) < 12 or m[2] & 0x80:
        continue
    op, end, labels = (m[2] >> 3) & 15, 12, []
    if m[4] or m[5]:
        while end < len(m) and m[end]:
            labels.append(m[end + 1:end + 1 + m[end]].decode("ascii", "replace"))
            end += 1 + m[end]
        end += 5
    log.write("opcode=%d name=%s from=%s\n" % (op, ".".join(labels), peer[0]))
    head = bytes([m[2] & 0x79 | 0x80, 0x80 | (0 if op else 3)])
    s.sendto(m[:2] + head + m[4:6] + b"\0" * 6 + m[12:end], peer)
EOF
fabric_bg python3 "$DIR/resolver.py" "$FABRIC_IP" "$DIR/resolver.log"

ask() {
	local pod=$1
	shift
	pod_exec "$pod" dig +time=3 +tries=1 "$@"
}
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
	fail "the mesh (and its DNS) never came up"
# The records of the cluster's family, its dashed form of an address, the proxy's address a
# pod reaches (every port-53 packet of an enrolled pod is steered to it, whatever the address).
RR=A dns_server=169.254.1.1 ext_ip=192.0.2.5 addr_type=IPv4 fam=$(cluster_ip_family)
[ "$fam" = ipv6 ] && RR=AAAA dns_server=fd00:99::2 ext_ip=2001:db8::5 addr_type=IPv6
log "ip family: $fam, records: $RR"
dashed() { case $1 in *:*) echo "${1//:/-}" ;; *) echo "${1//./-}" ;; esac; }

actl apply -f - >&2 <<'EOF' || fail "apply the headless Service and its pods"
apiVersion: v1
kind: Service
metadata: {name: db, namespace: mesh}
spec:
  clusterIP: None
  selector: {app: db}
  ports:
  - {name: pg, port: 5432, targetPort: 15432}
  - {name: metrics, port: 9090}
---
apiVersion: v1
kind: Pod
metadata: {name: db-a, namespace: mesh, labels: {app: db}}
spec:
  nodeName: node1
  hostname: primary
  subdomain: db
  containers:
  - {name: c, image: debian, command: [sleep, infinity]}
---
apiVersion: v1
kind: Pod
metadata: {name: db-b, namespace: mesh, labels: {app: db}}
spec:
  nodeName: node2
  containers:
  - {name: c, image: debian, command: [sleep, infinity]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: mesh}
spec:
  clusterIP: None
  ports:
  - {name: pg, port: 5432}
EOF
actl apply -f - >&2 <<EOF || fail "apply the selectorless Service's EndpointSlice"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-1
  namespace: mesh
  labels: {kubernetes.io/service-name: ext}
addressType: $addr_type
endpoints:
- addresses: ['$ext_ip']
ports:
- {name: pg, port: 15432}
EOF
wait_for 30 pod_exec mesh/db-a true || fail "mesh/db-a never started"
wait_for 30 pod_exec mesh/db-b true || fail "mesh/db-b never started"
ip_a=$(pod_ip mesh/db-a)
ip_b=$(pod_ip mesh/db-b)
[ -n "$ip_a" ] && [ -n "$ip_b" ] || fail "no addresses for the db pods: $(actl local status)"
dash_b=$(dashed "$ip_b")
wait_for 20 bash -c '[ "$("$1" local exec --name "$2" mesh/client-0 -- dig +short "$3" db.mesh.svc.cluster.local | wc -l)" = 2 ]' _ \
	"$AMBITCTL" "$CLUSTER" "$RR" || fail "the headless Service never answered its two pods ($RR)"
if [ "$fam" = ipv6 ]; then
	expect_eq "$(ask mesh/client-0 +short A db.mesh.svc.cluster.local)" "" \
		"A of a headless Service of IPv6-only pods (NODATA)"
fi

# ---- SRV of a headless Service's named ports ----
out=$(ask mesh/client-0 SRV _pg._tcp.db.mesh.svc.cluster.local)
log "SRV _pg._tcp.db.mesh.svc.cluster.local:"$'\n'"$out"
expect_contains "$out" "status: NOERROR"
srv=$(ask mesh/client-0 +short SRV _pg._tcp.db.mesh.svc.cluster.local | sort)
expect_eq "$srv" "0 50 15432 $dash_b.db.mesh.svc.cluster.local."$'\n'"0 50 15432 primary.db.mesh.svc.cluster.local." \
	"one SRV a pod, on its port, by hostname or dashed address"
add=$(ask mesh/client-0 +noall +additional SRV _pg._tcp.db.mesh.svc.cluster.local | tr -s " \t" "  ")
expect_contains "$add" "primary.db.mesh.svc.cluster.local. 30 IN $RR $ip_a"
expect_contains "$add" "$dash_b.db.mesh.svc.cluster.local. 30 IN $RR $ip_b"
# A port without a targetPort: the port itself.
expect_contains "$(ask mesh/client-0 +short SRV _metrics._tcp.db.mesh.svc.cluster.local)" \
	"0 50 9090 primary.db.mesh.svc.cluster.local."
out=$(ask mesh/client-0 SRV _nope._tcp.db.mesh.svc.cluster.local)
expect_contains "$out" "status: NXDOMAIN" "a port the Service does not name"

# ---- the pods' names ----
expect_eq "$(ask mesh/client-0 +short "$RR" primary.db.mesh.svc.cluster.local)" "$ip_a" "hostname.subdomain"
expect_eq "$(ask mesh/client-0 +short "$RR" "$dash_b.db.mesh.svc.cluster.local")" "$ip_b" "dashed address"
# Through the pod's resolver and its search list, as an application asks: getent asks AAAA
# first, so a pod of both families is found by its IPv6 (pod_addr).
expect_eq "$(pod_exec mesh/client-0 getent hosts primary.db | awk '{print $1}')" \
	"$(pod_addr mesh/db-a)" "hostname.subdomain by the search list"
out=$(ask mesh/client-0 "$RR" "$(dashed "$ip_a").db.mesh.svc.cluster.local")
expect_contains "$out" "status: NXDOMAIN" "a pod with a hostname is not also its dashed address"
# A pod by its dashed address under <ns>.pod (Kubernetes' pod A and AAAA records).
expect_eq "$(ask mesh/client-0 +short "$RR" "$dash_b.mesh.pod.cluster.local")" "$ip_b" \
	"a pod by its dashed address ($RR)"

# ---- a headless Service without a selector: its EndpointSlice's address ----
expect_eq "$(ask mesh/client-0 +short "$RR" ext.mesh.svc.cluster.local)" "$ext_ip" \
	"the selectorless headless Service's $RR"
expect_eq "$(ask mesh/client-0 +short "$RR" "$(dashed "$ext_ip").ext.mesh.svc.cluster.local")" \
	"$ext_ip" "the selectorless Service's endpoint by its dashed name"
if [ "$fam" = dual ]; then
	actl apply -f - >&2 <<'EOF' || fail "apply the selectorless Service's IPv6 EndpointSlice"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-2
  namespace: mesh
  labels: {kubernetes.io/service-name: ext}
addressType: IPv6
endpoints:
- addresses: ['2001:db8::5']
ports:
- {name: pg, port: 15433}
EOF
	wait_for 20 bash -c '"$1" local exec --name "$2" mesh/client-0 -- dig +short SRV \
		_pg._tcp.ext.mesh.svc.cluster.local | grep -q " 15433 2001-db8--5\.ext\."' _ \
		"$AMBITCTL" "$CLUSTER" || fail "the IPv6 slice's endpoint never became an SRV target"
	srv=$(ask mesh/client-0 +short SRV _pg._tcp.ext.mesh.svc.cluster.local | sort)
	log "SRV _pg._tcp.ext.mesh.svc.cluster.local:"$'\n'"$srv"
	expect_contains "$srv" " 15432 192-0-2-5.ext.mesh.svc.cluster.local." \
		"the IPv4 slice's endpoint on its slice's number"
	expect_contains "$srv" " 15433 2001-db8--5.ext.mesh.svc.cluster.local." \
		"the IPv6 slice's endpoint on its own slice's number"
	expect_eq "$(ask mesh/client-0 +short AAAA 2001-db8--5.ext.mesh.svc.cluster.local)" \
		"2001:db8::5" "the IPv6 slice's endpoint by its dashed name"
fi

# ---- other opcodes go to the node's resolver ----
out=$(pod_exec mesh/client-0 nsupdate -t 5 2>&1 <<EOF
server $dns_server
zone ext.test
update add new.ext.test 60 A 192.0.2.9
send
EOF
) || fail "nsupdate through the proxy failed: $out"
log "nsupdate: ${out:-(no output: NOERROR)}"
grep -q "^opcode=5 name=ext.test " "$DIR/resolver.log" ||
	fail "the UPDATE never reached the node's resolver: $(cat "$DIR/resolver.log")"
out=$(ask mesh/client-0 +opcode=notify +norec SOA ext.test)
log "NOTIFY ext.test:"$'\n'"$out"
expect_contains "$out" "opcode: NOTIFY, status: NOERROR" "NOTIFY answered by the resolver"
grep -q "^opcode=4 name=ext.test " "$DIR/resolver.log" ||
	fail "the NOTIFY never reached the node's resolver: $(cat "$DIR/resolver.log")"
# Both left the node from the node (its ztunnel), not from the pod.
if grep -E "^opcode=[45] " "$DIR/resolver.log" | grep -q "from=10\.98\."; then
	fail "a pod's UPDATE or NOTIFY went around the proxy: $(cat "$DIR/resolver.log")"
fi
pass
