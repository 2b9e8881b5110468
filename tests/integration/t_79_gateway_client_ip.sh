#!/usr/bin/env bash
# A pod of an ambient namespace calling the ingress gateway (a pod outside the mesh) is seen by
# the gateway with the pod's own address, as in Istio ambient, whose ztunnel opens such plain
# connections inside the client pod's network namespace: from a pod on the gateway's node and
# from one on the other node, through the gateway's Service and to its pod's address. The
# gateway's access log and the x-forwarded-for and x-envoy-external-address it sends upstream
# name the pod, and an AuthorizationPolicy at the gateway naming one pod's address in ipBlocks
# (source.ip), then another's in remoteIpBlocks (remote.ip), denies that pod (403) while the
# other passes, as Istio's ingress policy by IP does. A destination outside the cluster still
# sees the node's address (the CNI's SNAT is not there to answer for a pod's).
# In the IPv6-only pass (AMBIT_LOCAL_IP_FAMILY=ipv6: pods and Services of IPv6 alone) the same
# checks run on the pods' IPv6 addresses (/128 blocks, the fabric's fd00:99::1).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl jq python3
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
CLUSTER_INGRESS=1 cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT
GWPOD=istio-system/istio-ingressgateway-0

# A meshed client on node2 beside mesh/client-0 on node1, a server answering with the addresses
# it was told, and the gateway's route to it.
cat >"$WORK/objects.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: client2
  namespace: mesh
spec:
  replicas: 1
  selector:
    matchLabels:
      app: client2
  template:
    metadata:
      labels:
        app: client2
    spec:
      serviceAccountName: client
      nodeName: node2
      containers:
      - name: client
        image: debian
        command: ["sleep", "infinity"]
---
apiVersion: v1
kind: Service
metadata:
  name: addr
  namespace: plain
spec:
  selector:
    app: addr
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: addr
  namespace: plain
spec:
  replicas: 1
  selector:
    matchLabels:
      app: addr
  template:
    metadata:
      labels:
        app: addr
    spec:
      containers:
      - name: addr
        image: debian
        command: ["pods/client-addr.py", "8080"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: addr-gateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: addr
  namespace: plain
spec:
  hosts: ["*"]
  gateways: ["istio-system/addr-gateway"]
  http:
  - route:
    - destination: {host: addr.plain.svc.cluster.local, port: {number: 80}}
EOF
actl apply -f "$WORK/objects.yaml" >&2 || fail "objects not applied"

node_of() { actl local status -o json | jq -r --arg p "$1" '.pods[] | select(.namespace + "/" + .name == $p) | .node'; }
gw_node=$(node_of $GWPOD)
gw_ip=$(pod_ip $GWPOD)
[ -n "$gw_node" ] && [ -n "$gw_ip" ] || fail "no node or address for $GWPOD: $(actl local status)"
# The client on the gateway's node, and the one on the other node.
if [ "$gw_node" = node1 ]; then
	same=mesh/client-0 other=mesh/client2-0
else
	same=mesh/client2-0 other=mesh/client-0
fi
wait_for 30 pod_exec mesh/client2-0 true || fail "mesh/client2-0 never ran"
same_ip=$(pod_ip $same)
other_ip=$(pod_ip $other)
log "gateway $gw_ip on $gw_node; $same $same_ip on the same node, $other $other_ip on the other"
# The family's forms: a whole address's prefix length, and an address in an access log.
bits=32
logged() { echo "$1"; }
if [ "$(cluster_ip_family)" = ipv6 ]; then
	bits=128
	logged() { echo "\\[$1\\]"; }
fi

# ask POD TARGET [CURL ARGS...]: "CODE BODY" of GET /who?id=$id through the gateway at TARGET
# (its Service, or its pod's address and port); the id finds the request in the access log.
id=0
ask() {
	local pod=$1 target=$2 out
	shift 2
	out=$(pod_exec "$pod" curl -gsS --max-time 10 -w '\n%{http_code}' "$@" \
		"http://$target/who?id=$id" 2>&1)
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}
code_is() { # WANT POD TARGET [CURL ARGS...]
	local want=$1
	shift
	[ "$(ask "$@" | cut -d' ' -f1)" = "$want" ]
}
SVC=istio-ingressgateway.istio-system
POD=$(url_host "$gw_ip"):8080
wait_for 60 code_is 200 $same $SVC || fail "the gateway never routed: $(ask $same $SVC)"

# The gateway sees each client pod's own address, however it is addressed: in its access log
# (the downstream peer) and in the fields it adds upstream.
for c in "$same $same_ip" "$other $other_ip"; do
	set -- $c
	for t in $SVC $POD; do
		id=$RANDOM$RANDOM
		out=$(ask "$1" "$t")
		expect_contains "$out" "200 pod=plain/addr-0" "$1 through $t"
		expect_contains "$out" "xff=$2 " "x-forwarded-for of $1 through $t"
		expect_contains "$out" "external=$2" "x-envoy-external-address of $1 through $t"
		wait_log 10 $GWPOD "\"GET /who\\?id=$id HTTP/1.1\" 200 .* $(logged "$2"):[0-9]+ [^ ]+ [^ ]+\$" ||
			fail "the gateway's log does not name $2 for $1 through $t: $(actl local logs $GWPOD | grep "id=$id")"
	done
done

# Policy at the gateway by the pod's address: ipBlocks (the connection's peer, source.ip).
policy() { # KEY IP: a DENY at the gateway on KEY (ipBlocks, remoteIpBlocks) = [IP/$bits]
	cat <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ingress-deny-ip
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: DENY
  rules:
  - from:
    - source:
        $1: ["$2/$bits"]
EOF
}
denied() { # DENIED-POD ALLOWED-POD
	local t
	for t in $SVC $POD; do
		expect_eq "$(ask "$1" "$t")" "403 RBAC: access denied" "$1 through $t"
		expect_contains "$(ask "$2" "$t")" "200 pod=plain/addr-0" "$2 through $t"
	done
}
policy ipBlocks "$same_ip" >"$WORK/deny.yaml"
actl apply -f "$WORK/deny.yaml" >&2 || fail "ipBlocks policy not applied"
wait_for 30 code_is 403 $same $SVC || fail "ipBlocks naming $same_ip never denied $same: $(ask $same $SVC)"
denied $same $other
wait_log 10 $GWPOD "\"GET /who\\?id=[0-9]+ HTTP/1.1\" 403 - rbac_access_denied_matched_policy\\[ns\\[istio-system\\]-policy\\[ingress-deny-ip\\]-rule\\[0\\]\\]" ||
	fail "the gateway's log does not name the policy: $(actl local logs $GWPOD | tail -2)"
# remoteIpBlocks (remote.ip: the peer, no proxy hop being trusted) on the other node's pod.
policy remoteIpBlocks "$other_ip" >"$WORK/deny.yaml"
actl apply -f "$WORK/deny.yaml" >&2 || fail "remoteIpBlocks policy not applied"
wait_for 30 code_is 403 $other $SVC ||
	fail "remoteIpBlocks naming $other_ip never denied $other: $(ask $other $SVC)"
denied $other $same
actl delete -f "$WORK/deny.yaml" >&2 || fail "policy not deleted"
wait_for 30 code_is 200 $other $SVC || fail "the deleted policy still denies"

# Outside the cluster nothing changed: a server in the fabric sees the client's node when the
# node's ztunnel connects from the node (host capture; in-pod, it connects from the pod's netns).
mode=$(actl local status -o json | jq -r --arg n "$gw_node" '.nodes[] | select(.name == $n) | .agent.captureMode')
fabric_bg python3 "$LIB_DIR/manifests/pods/client-addr.py" 8089 >/dev/null 2>&1
fabric=$FABRIC_IP node_key=.ip
[ $bits = 128 ] && fabric=fd00:99::1 node_key=.ip6
ext() { pod_exec "$1" curl -sS --max-time 5 "http://$(url_host $fabric):8089/"; }
wait_for 30 ext $same || fail "the fabric's server never answered"
if [ "$mode" = host ]; then
	node_ip=$(jq -r --arg n "$gw_node" ".nodes[] | select(.name == \$n) | $node_key" \
		"/run/ambit/$CLUSTER/cluster.json")
	expect_contains "$(ext $same)" "from=$node_ip " "a server outside the cluster"
fi
pass
