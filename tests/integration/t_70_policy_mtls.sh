#!/usr/bin/env bash
# PeerAuthentication on bookinfo-shaped workloads: STRICT (namespace, mesh-wide from the root
# namespace, port-level exceptions) refuses plaintext from outside the mesh and PERMISSIVE
# admits it; mesh traffic (HBONE, same-node) keeps working; the node's own plaintext to its
# STRICT pod is refused, and to a PERMISSIVE one judged by its ALLOW, in either capture mode. The kernel drops such plaintext before any
# handshake (drop_strict_plaintext); without the kernel entry the ztunnel refuses it itself with a
# reset, a DENY metric and an access-log line naming the PeerAuthentication.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/manifests-policy/policy-lib.sh"
need_root; need_bins; need_cmd bpftool
cluster_up manifests-policy
POLICY_DIR=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$POLICY_DIR"; on_exit' EXIT

wait_for 40 allowed bookinfo/productpage-0 details:9080 || fail "mesh never came up"
expect_allowed legacy/client-0 details.bookinfo:9080 "no PeerAuthentication (PERMISSIVE)"

before=$(drops node2 drop_strict_plaintext)
policy ns-strict <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: bookinfo
spec:
  mtls:
    mode: STRICT
YAML
expect_denied legacy/client-0 details.bookinfo:9080 "namespace STRICT"
expect_allowed bookinfo/productpage-0 details:9080 "namespace STRICT, mesh client (HBONE)"
expect_allowed other/client-0 reviews.bookinfo:9080 "namespace STRICT, other enrolled namespace"
after=$(drops node2 drop_strict_plaintext)
[ "$after" -gt "$before" ] || fail "drop_strict_plaintext on node2 did not move ($before -> $after)"
actl maps --node node2 | grep -q "bookinfo/details-0 .*plaintext drop" ||
	fail "ambitctl maps does not show details' strict_ports entry"

# Port-level exception (workload selector): 9081 takes plaintext, 9080 stays STRICT.
policy details-port <<'YAML'
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: details-9081
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: details
  portLevelMtls:
    9081:
      mode: PERMISSIVE
YAML
expect_allowed legacy/client-0 details.bookinfo:9081 "port-level PERMISSIVE under STRICT"
expect_denied legacy/client-0 details.bookinfo:9080 "port-level exception is for 9081 only"

# The namespace back to PERMISSIVE: plaintext admitted (and decided identity-less).
sed -i 's/STRICT/PERMISSIVE/' "$POLICY_DIR/ns-strict.yaml"
actl apply -f "$POLICY_DIR/ns-strict.yaml" >&2 || fail "apply PERMISSIVE"
expect_allowed legacy/client-0 reviews.bookinfo:9080 "namespace PERMISSIVE"
expect_allowed legacy/client-0 details.bookinfo:9080 "namespace PERMISSIVE"

# Mesh-wide STRICT from the root namespace; same-node plaintext (legacy and ratings on node1).
unpolicy ns-strict
unpolicy details-port
before=$(drops node1 drop_strict_plaintext)
policy mesh-strict <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: mesh
  namespace: istio-system
spec:
  mtls:
    mode: STRICT
YAML
expect_denied legacy/client-0 ratings.bookinfo:9080 "mesh-wide STRICT, same node"
expect_allowed bookinfo/productpage-0 ratings:9080 "mesh-wide STRICT, same-node mesh client"
expect_allowed bookinfo/productpage-0 details:9080 "mesh-wide STRICT, HBONE"
after=$(drops node1 drop_strict_plaintext)
[ "$after" -gt "$before" ] || fail "drop_strict_plaintext on node1 did not move ($before -> $after)"
# The node's own network namespace (its processes, hostNetwork pods) is outside the mesh too:
# its plaintext to the STRICT pod of the node is refused in the kernel with a reset, in host
# capture (tc_veth_egress) as in in-pod (tc_pod). HBONE from it is not plaintext.
ratings_ip=$(pod_ip bookinfo/ratings-0)
[ -n "$ratings_ip" ] || fail "no IP for bookinfo/ratings-0"
before=$after
out=$(node_exec node1 curl -s --max-time 5 "http://$(url_host "$ratings_ip"):9080/"); rc=$?
[ "$rc" = 7 ] || fail "node1's own plaintext to STRICT ratings: want a reset (curl 7), got $rc: $out"
after=$(drops node1 drop_strict_plaintext)
[ "$after" -gt "$before" ] || fail "node1's own plaintext not counted as drop_strict_plaintext ($before -> $after)"

# UDP alike (docs/udp.md), in either capture mode: legacy's plaintext UDP to the STRICT ratings
# pod of its node is dropped in the kernel and counted (in-pod, by tc_pod at the pod's eth0),
# while productpage's UDP to it, which the mesh carries (in-pod, by way of the client's lo and
# the ztunnel's listener in the pod), is answered, as its own address.
udp_echo=$REPO/tests/integration/manifests/pods/udp-echo.py
pod_exec bookinfo/ratings-0 timeout 30 "$udp_echo" serve 7300 >/dev/null 2>&1 &
udp_srv=$!
pp_ip=$(pod_ip bookinfo/productpage-0)
udp_ask() { pod_exec "$1" "$udp_echo" ask "$ratings_ip" 7300 1 2>&1; }
mesh_udp() { # answered, to productpage's own address (an IPv6 one in brackets: no regex)
	local out
	out=$(udp_ask bookinfo/productpage-0)
	grep -qF "from=$(url_host "$pp_ip"):" <<<"$out" && grep -q " got=d0$" <<<"$out"
}
wait_for 15 mesh_udp || fail "productpage's UDP to STRICT ratings: $(udp_ask bookinfo/productpage-0)"
before=$after
expect_eq "$(udp_ask legacy/client-0)" timeout "legacy's plaintext UDP to STRICT ratings"
after=$(drops node1 drop_strict_plaintext)
[ "$after" -gt "$before" ] || fail "legacy's plaintext UDP not counted as drop_strict_plaintext ($before -> $after)"
pod_exec bookinfo/ratings-0 pkill -f "udp-echo.py serve 7300"
wait "$udp_srv" 2>/dev/null

# The SYN-cookie ACK (issue 55). A pod mints, in a netns of its own holding its address and its
# victim's, the cookie the victim's listener would answer its SYN with (the secret is the
# kernel's, not the netns'), then sends the ACK that ends that handshake, carrying a request,
# straight to the victim, whose listener is in cookie mode (tcp_syncookies=2, which a pod may
# set; a mesh request first, so that it has sent cookies of its own). No SYN went to the proxy:
# the capture answers the ACK with a reset (drop_no_flow; in-pod, the ztunnel's 15006 takes it
# if it sent cookies itself, and refuses it). Before, nginx answered the request past STRICT.
# Same node (ratings, node1) and across nodes (details, node2).
mint_ns=ambit-$CLUSTER-syncookie-mint
client_ip=$(pod_ip legacy/client-0)
trap 'ip netns del "$mint_ns" 2>/dev/null; rm -rf "$POLICY_DIR"; on_exit' EXIT
ip netns add "$mint_ns" || fail "cannot add netns $mint_ns"
ip -n "$mint_ns" link set lo up
ip netns exec "$mint_ns" sysctl -qw net.ipv4.tcp_syncookies=2 || fail "tcp_syncookies in $mint_ns"
mint_addr() {
	case $1 in
	*:*) ip -n "$mint_ns" -6 addr add "$1/128" dev lo nodad ;;
	*) ip -n "$mint_ns" addr add "$1/32" dev lo ;;
	esac || fail "cannot add $1 to $mint_ns"
}
mint_addr "$client_ip"
# cookie_ack VICTIM: what legacy/client-0 got back for a cookie ACK to bookinfo/VICTIM-0:9080.
cookie_ack() {
	local ip port=$((40000 + RANDOM % 20000)) isn cookie
	ip=$(pod_ip "bookinfo/$1-0")
	[ -n "$ip" ] || fail "no IP for bookinfo/$1-0"
	ip netns exec "ambit-$CLUSTER-bookinfo-$1-0" sysctl -qw net.ipv4.tcp_syncookies=2 ||
		fail "tcp_syncookies in $1's netns"
	expect_allowed bookinfo/productpage-0 "$1:9080" "mesh request to $1 in cookie mode"
	mint_addr "$ip"
	read -r isn cookie < <(ip netns exec "$mint_ns" python3 "$LIB_DIR/bin/syncookie_ack.py" \
		mint "$client_ip" "$port" "$ip" 9080) || fail "no cookie minted for $1"
	ip netns exec "ambit-$CLUSTER-legacy-client-0" python3 "$LIB_DIR/bin/syncookie_ack.py" \
		attack "$client_ip" "$port" "$ip" 9080 "$isn" "$cookie"
}
refused() { # NODE: drop_no_flow and assign_syncookie of NODE, summed
	echo $(($(drops "$1" drop_no_flow) + $(drops "$1" assign_syncookie)))
}
for victim in ratings:node1 details:node2; do
	before=$(refused "${victim#*:}")
	out=$(cookie_ack "${victim%:*}")
	log "SYN-cookie ACK from legacy/client-0 to ${victim%:*}: $out"
	expect_eq "$out" "reset" "SYN-cookie ACK from legacy/client-0 to ${victim%:*} (mesh-wide STRICT)"
	after=$(refused "${victim#*:}")
	[ "$after" -gt "$before" ] ||
		fail "drop_no_flow/assign_syncookie on ${victim#*:} did not move ($before -> $after)"
	ip netns exec "ambit-$CLUSTER-bookinfo-${victim%:*}-0" sysctl -qw net.ipv4.tcp_syncookies=1
done
ip netns del "$mint_ns"

# Without the kernel entry the ztunnel is the enforcement point: a reset, not a timeout.
# The pod's one address the Service takes: IPv4, or IPv6 in an IPv6 cluster (strict_ports6).
map=$(family_map strict_ports "$ratings_ip")
# The key: the address, port 0 (the pod's default verdict) and its padding.
node_exec node1 bpftool map delete pinned "$(pin_path node1 "$map")" \
	key $(addr_bytes "$ratings_ip") 0 0 0 0 || fail "cannot remove the $map entry of ratings"
out=$(fetch legacy/client-0 "$(url_host "$ratings_ip"):9080" 5); rc=$?
# A reset: during or right after the handshake depending on timing (7, 56, 52; 55 when it comes
# before curl has sent its request); never a timeout (28), which would mean a drop.
case $rc in 7 | 52 | 55 | 56) ;; *) fail "ztunnel STRICT refusal: want a reset (curl 7/52/55/56), got $rc: $out" ;; esac
wait_log 5 node1-ztunnel 'decision=deny policy="PeerAuthentication istio-system/mesh"' ||
	fail "no access-log line naming the PeerAuthentication"
m=$(node_metrics node1)
n=$(metric_sum "$m" istio_tcp_connections_opened_total 'response_flags="DENY"' \
	'destination_workload="ratings"')
[ "$n" -ge 1 ] || fail "denied connection not counted with response_flags=DENY"
n=$(decisions node1 "PeerAuthentication istio-system/mesh" deny)
[ "$n" -ge 1 ] || fail "ambit_policy_decisions_total has no STRICT denial"

unpolicy mesh-strict
expect_allowed legacy/client-0 ratings.bookinfo:9080 "STRICT removed"

# Under PERMISSIVE the node's own plaintext to its pod passes the ztunnel's inbound as any
# plaintext does, in host capture (tc_veth_egress turns it back to the ztunnel) as in in-pod: the
# pod's ALLOW policies judge it, identity-less from the node's address. Refused (a reset) where
# they do not admit that address, let through where ipBlocks name it, in the access log either
# way. Before, in host capture, it reached ratings past its ALLOW.
node1_ip=$(node_exec node1 ip -o route get "$ratings_ip" | sed -n 's/.* src \([^ ]*\).*/\1/p')
[ -n "$node1_ip" ] || fail "no source address of node1 toward ratings"
case $node1_ip in *:*) node1_src="\[$node1_ip\]" ;; *) node1_src=$node1_ip ;; esac
case $node1_ip in *:*) node1_block="$node1_ip/128" ;; *) node1_block="$node1_ip/32" ;; esac
policy ratings-allow <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ratings-allow
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: ratings
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/bookinfo/sa/bookinfo-productpage"]
YAML
expect_allowed bookinfo/productpage-0 ratings:9080 "ALLOW productpage"
expect_denied legacy/client-0 ratings.bookinfo:9080 "ALLOW productpage only"
out=$(node_exec node1 curl -s --max-time 5 "http://$(url_host "$ratings_ip"):9080/"); rc=$?
case $rc in 7 | 52 | 55 | 56) ;; *) fail "node1's own plaintext past ratings' ALLOW: want a reset (curl 7/52/55/56), got $rc: $out" ;; esac
wait_log 5 node1-ztunnel "src.addr=$node1_src:[0-9]+ .*dst.workload=ratings .*decision=deny" ||
	fail "no access-log line of node1's own connection refused by ratings' ALLOW"
policy ratings-allow <<YAML
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ratings-allow
  namespace: bookinfo
spec:
  selector:
    matchLabels:
      app: ratings
  action: ALLOW
  rules:
  - from:
    - source:
        ipBlocks: ["$node1_block"]
YAML
node_allowed() { node_exec node1 curl -s --max-time 3 "http://$(url_host "$ratings_ip"):9080/" | grep -q '^pod='; }
wait_for 10 node_allowed || fail "node1's own plaintext to ratings, its address in ipBlocks: not answered"
wait_log 5 node1-ztunnel "src.addr=$node1_src:[0-9]+ .*dst.workload=ratings .*decision=allow" ||
	fail "no access-log line of node1's own connection admitted by ipBlocks"
expect_denied legacy/client-0 ratings.bookinfo:9080 "ALLOW the node's address only"
unpolicy ratings-allow

# An agent upgrade over pins of an older layout (counters without the new reasons, another
# strict_ports shape): the loader recreates those maps and the fast drops work again.
actl local stop agent --node node1 >&2 || fail "stop agent node1"
rm -f "$(pin_path node1 counters)" "$(pin_path node1 strict_ports)"
bpftool map create "$(pin_path node1 counters)" type percpu_array key 4 value 8 entries 11 \
	name counters || fail "cannot pin an old-layout counters map"
bpftool map create "$(pin_path node1 strict_ports)" type hash key 8 value 8 entries 16 \
	name strict_ports || fail "cannot pin an old-layout strict_ports map"
actl local start agent --node node1 >&2 || fail "agent did not start over old-layout pins"
wait_log 10 node1-agent 'counters has an older layout' || fail "stale counters pin not recreated"
actl apply -f "$POLICY_DIR/mesh-strict.yaml" >&2 || fail "apply mesh-strict again"
expect_denied legacy/client-0 ratings.bookinfo:9080 "mesh-wide STRICT after the upgrade"
[ "$(drops node1 drop_strict_plaintext)" -ge 1 ] || fail "new counters map does not count drops"
pass
