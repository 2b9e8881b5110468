#!/usr/bin/env bash
# The agent on a Kubernetes node (issue 10 §1, §2): started as the DaemonSet starts it, in-cluster
# (KUBERNETES_SERVICE_HOST/PORT, a service-account directory with token and CA) against the fake
# API server over TLS, with no state directory and no pods.json. The node is built here as a
# kubelet and a routed CNI leave it: a node namespace, pods in namespaces of their own behind a
# veth with a /32 route, kubelet cgroups (cgroupfs driver: kubepods/besteffort/pod<uid>/<ctr>).
# Checked:
#  - every kind is listed, then the pods are found from their UIDs (cgroup, veth, namespace);
#    a remote pod's node address comes from its status.hostIP; a hostNetwork pod is no workload;
#  - a container started after enrollment (a new cgroup below the pod's) is captured: the call
#    to the Service goes through the ztunnel over HBONE with both identities, and the metrics
#    name the Deployment (from the ReplicaSet owner);
#  - a pod whose Ready condition turns False takes no Service traffic until it is True again;
#  - a Service without selector reaches the endpoints of its EndpointSlice (and none before);
#  - an AuthorizationPolicy created through the API takes effect; an invalid version of it is
#    rejected naming the object and the field (in the status, and in a Warning Event "Rejected"
#    on the object) while the last good one keeps serving; deleting it through the API takes it
#    away;
#  - certificates come from the CA server (ambit-agent --ca-server, as the CA Deployment runs
#    it): the agent sends CSRs with its service-account token and never holds the root key; the
#    server refuses a bad token, a pod of another node and a CSR naming another identity;
#  - the gateways' certificates come from the CA too: a gateway pod of the node gets the
#    kubernetes.io/tls Secrets its Gateway names, never one of another type, of the CA's
#    namespace (the root key) or of another namespace without a ReferenceGrant, and no other
#    pod any; and those its namespace holds under the credentialNames of the DestinationRules
#    applying to it (TLS origination; a kubernetes.io/tls or Opaque cert/key/cacert Secret); the waypoint controller's token learns whether a Secret is servable, not its keys;
#  - the API server going away changes nothing that runs.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd /usr/bin/python3
need_cmd openssl
need_cmd curl
need_bins
AGENT=${AMBIT_AGENT_BIN:-$REPO/build/ambit-agent}
ZTUNNEL=${AMBIT_ZTUNNEL_BIN:-$REPO/build/ztunnel}

id="k93-$$"
NODE="ambit-$id-node"
PA="ambit-$id-a"
PB="ambit-$id-b"
PW="ambit-$id-w"
cg2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
CG="$cg2/ambit-$id"
PODS="$CG/kubepods"
PIN="/sys/fs/bpf/ambit/$id"
UA="0a1b2c3d-0000-4000-8000-00000000000a"
UB="0a1b2c3d-0000-4000-8000-00000000000b"
NODE_IP=10.99.93.1
tmp=$(mktemp -d)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -e "$CG/cgroup.kill" ] && echo 1 >"$CG/cgroup.kill" 2>/dev/null
	for _ in $(seq 100); do
		grep -q 'populated 1' "$CG/cgroup.events" 2>/dev/null || break
		sleep 0.1
	done
	[ -d "$CG" ] && find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null
	for ns in "$PA" "$PB" "$PW" "$NODE"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$PIN"
	rmdir /sys/fs/bpf/ambit 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

failed() { # why: the agent's log tail with it
	fail "$1; agent log: $(tail -25 "$tmp/logs/${agent_log:-agent}.log" 2>/dev/null)"
}

# Runs "$@" in cgroup $1 (created) and netns $2 (nsenter: `ip netns exec` would mount a sysfs of
# its own, without the cgroup and bpf file systems), in the background, its output in
# $tmp/logs/<cgroup's name>.log; its pid in $last.
start_in() {
	local cg=$1 ns=$2
	shift 2
	mkdir -p "$cg" "$tmp/logs"
	bash -c 'echo $$ >"$1/cgroup.procs" && exec nsenter --net="/run/netns/$2" "${@:3}"' _ \
		"$cg" "$ns" "$@" \
		>"$tmp/logs/${cg##*/}.log" 2>&1 &
	last=$!
	disown "$last" # killed with its cgroup at the end: no job notice
	pids+=("$last")
}

# The agent's status (JSON) over its socket.
status() {
	python3 - "$tmp/run/agent.sock" <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = b'{"op":"get","what":"status"}'
s.sendall(struct.pack(">I", len(req)) + req)
def read(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("agent closed the socket")
        b += c
    return b
n = struct.unpack(">I", read(4))[0]
print(json.dumps(json.loads(read(n))["result"]))
EOF
}

# Queries status with a Python expression over `s`.
st() { status | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }

# The API server, from the node's namespace: METHOD PATH [BODY]; the status code, the body in
# $tmp/api.out.
api() {
	ip netns exec "$NODE" curl -sS --cacert "$tmp/sa/ca.crt" -H "Authorization: Bearer t93" \
		-X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} -o "$tmp/api.out" \
		-w '%{http_code}' "https://127.0.0.1:$port$2"
}

# A call from a new container of pod a (its own cgroup below the pod's) to the Service (b's, or
# the URL given).
call() {
	local cgc="$PODS/besteffort/pod$UA/app-$RANDOM"
	mkdir -p "$cgc"
	bash -c 'echo $$ >"$1/cgroup.procs" && exec nsenter --net="/run/netns/$2" curl -s -m 3 -o /dev/null -w "%{http_code}" "$3"' \
		_ "$cgc" "$PA" "${1:-http://10.96.93.10/}"
	rmdir "$cgc" 2>/dev/null
	return 0
}
call_ok() { [ "$(call)" = 200 ]; }
call_refused() { [ "$(call)" != 200 ]; }
synced() { [ "$(st 's["kubernetesSynced"]' 2>/dev/null)" = True ]; }
enrolled2() {
	[ "$(st 'sum(1 for p in s["pods"] if p["enrolled"] and p["cgroup"] and p["iface"])' \
		2>/dev/null)" = 2 ]
}
named_error() { st 's["configErrors"]' | grep -q 'authorizationpolicies/shop/deny-a.*spec.action'; }

# ---- the node, as a routed CNI leaves it ----
ip netns add "$NODE"
ip -n "$NODE" link set lo up
# The node's own address, on an uplink (a veth pair: no dummy module needed).
ip -n "$NODE" link add up0 type veth peer name up1
ip -n "$NODE" addr add "$NODE_IP/24" dev up0
ip -n "$NODE" link set up1 up
ip -n "$NODE" link set up0 up
ip -n "$NODE" addr add 169.254.1.1/32 dev lo
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0
# A pod's network as a routed CNI makes it: NAME NETNS IP.
pod_net() {
	local name=$1 ns=$2 ip=$3
	ip netns add "$ns"
	ip -n "$NODE" link add "h93$name" type veth peer name eth0 netns "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$ip/32" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add 169.254.1.1 dev eth0 scope link
	ip -n "$ns" route add default via 169.254.1.1 dev eth0
	ip -n "$NODE" link set "h93$name" up
	ip netns exec "$NODE" sysctl -qw "net.ipv4.conf.h93$name.proxy_arp=1" \
		"net.ipv4.conf.h93$name.rp_filter=0"
	ip -n "$NODE" route add "$ip/32" dev "h93$name" scope link
}
pod_net a "$PA" 10.98.93.2
pod_net b "$PB" 10.98.93.3
mkdir -p "$CG/system" "$PODS"
# The pods' containers: a's sandbox (sleeping), b's web server on 8080.
start_in "$PODS/besteffort/pod$UA/pause" "$PA" sleep 600
start_in "$PODS/besteffort/pod$UB/web" "$PB" python3 -m http.server 8080 --bind 10.98.93.3

# ---- the API server (TLS), its objects, the service-account directory ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=kube-apiserver -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$tmp/api.key" -out "$tmp/api.crt" 2>/dev/null || fail "openssl"
mkdir -p "$tmp/sa" "$tmp/objs" "$tmp/run"
cp "$tmp/api.crt" "$tmp/sa/ca.crt"
echo -n t93 >"$tmp/sa/token"
echo -n ambit-system >"$tmp/sa/namespace"
pod_json() { # name uid ip node hostIP extra-spec
	cat <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","namespace":"shop","uid":"$2",
 "labels":{"app":"${1%%-*}","pod-template-hash":"5d8f"},
 "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"${1%%-*}-5d8f",
  "uid":"r-$2","controller":true}]},
 "spec":{"nodeName":"$4","serviceAccountName":"${1%%-*}"${6:-},
  "containers":[{"name":"c","image":"x","ports":[{"containerPort":8080}]}]},
 "status":{"phase":"Running","podIP":"$3","hostIP":"$5"}}
EOF
}
cat >"$tmp/objs/cluster.json" <<EOF
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ambit-system"}},
 {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop",
  "labels":{"istio.io/dataplane-mode":"ambient"}}},
 $(pod_json a-5d8f-x1 "$UA" 10.98.93.2 node1 "$NODE_IP"),
 $(pod_json b-5d8f-y2 "$UB" 10.98.93.3 node1 "$NODE_IP"),
 $(pod_json c-5d8f-z3 0a1b2c3d-0000-4000-8000-00000000000c 10.98.94.2 node2 10.99.94.1),
 $(pod_json hostnet-5d8f-h "0a1b2c3d-0000-4000-8000-0000000000ff" "$NODE_IP" node1 "$NODE_IP" ',"hostNetwork":true'),
 {"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ambit-node","namespace":"ambit-system"},
  "spec":{"selector":{"matchLabels":{"app":"ztunnel"}},"template":{"metadata":{"labels":{"app":"ztunnel"}},
   "spec":{"containers":[{"name":"agent","image":"x"}]}}}},
 {"apiVersion":"v1","kind":"Service","metadata":{"name":"b","namespace":"shop"},
  "spec":{"clusterIP":"10.96.93.10","selector":{"app":"b"},
   "ports":[{"name":"http","port":80,"targetPort":8080}]}}
]}
EOF
# TokenReview: the agents' token, bound to node1 (as a projected token of a DaemonSet pod is).
# t93w: the waypoint controller's.
cat >"$tmp/objs/tokens.json" <<EOF
{"kind":"FakeTokenTable","tokens":{"t93":{"username":"system:serviceaccount:ambit-system:ambit-node",
 "groups":["system:serviceaccounts","system:authenticated"],
 "extra":{"authentication.kubernetes.io/node-name":["node1"]}},
 "t93w":{"username":"system:serviceaccount:ambit-system:ambit-waypoints",
 "groups":["system:serviceaccounts","system:authenticated"]}}}
EOF
start_in "$CG/system/api" "$NODE" python3 "$REPO/tests/k8s/fake_apiserver.py" \
	--listen 127.0.0.1:0 --port-file "$tmp/port" --token t93 --tls-cert "$tmp/api.crt" \
	--tls-key "$tmp/api.key" --load "$tmp/objs"
api_pid=$last
wait_for 10 test -s "$tmp/port" || fail "the API server did not start: $(cat "$tmp/logs/api.log")"
port=$(cat "$tmp/port")

# ---- the CA server, as its Deployment runs it: the only holder of the root key ----
ca_cmd=(env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$port" "$AGENT" --ca-server
	--kube --kube-sa-dir "$tmp/sa" --ca-dir "$tmp/ca" --listen 127.0.0.1:15012 --dns-name localhost)
start_in "$CG/system/ca" "$NODE" "${ca_cmd[@]}"
ca_pid=$last
wait_for 10 test -s "$tmp/ca/root-cert.pem" || fail "no CA root: $(cat "$tmp/logs/ca.log")"
cp "$tmp/ca/root-cert.pem" "$tmp/root.pem"

# ---- the agent and the ztunnel, as the DaemonSet starts them (no CA key on the node) ----
agent_cmd=(env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$port" "$AGENT" --kube
	--kube-sa-dir "$tmp/sa" --node node1 --node-ip "$NODE_IP" --ca-url https://localhost:15012
	--ca-root "$tmp/root.pem" --pin-root "$PIN" --cgroup "$PODS" --pod-cgroup-root "$CG"
	--socket "$tmp/run/agent.sock" --owner-daemonset ambit-system/ambit-node)
ztunnel_cmd=("$ZTUNNEL" --node node1 --agent-socket "$tmp/run/agent.sock" --pin-root "$PIN"
	--handover "$tmp/run/ztunnel.sock" --drain-timeout 30)
start_in "$CG/system/agent" "$NODE" "${agent_cmd[@]}"
agent_pid=$last
wait_for 20 test -S "$tmp/run/agent.sock" || failed "no agent socket"
start_in "$CG/system/ztunnel" "$NODE" "${ztunnel_cmd[@]}"
ztunnel_pid=$last

wait_for 20 synced || failed "the kinds were not all listed: $(status)"
wait_for 20 enrolled2 || failed "pods a and b not enrolled with cgroup and veth: $(status)"
expect_eq "$(st '[p["cgroup"] for p in s["pods"] if p["uid"]=="shop/a-5d8f-x1"][0]')" \
	"$PODS/besteffort/pod$UA"
expect_eq "$(st '[p["iface"] for p in s["pods"] if p["uid"]=="shop/a-5d8f-x1"][0]')" "h93a"
expect_eq "$(st 's["source"]')" "kubernetes"
# a, b and the remote c; not the hostNetwork pod.
expect_eq "$(st 's["workloads"]')" "3"
expect_eq "$(st 's["configErrors"]')" "[]"
log "listed, pods found from their UIDs: $(st '[(p["uid"], p["iface"]) for p in s["pods"]]')"

# ---- a new container of a calls the Service: captured, HBONE, identities, workload names ----
wait_for 20 call_ok || failed "a -> b.shop failed: $(call)"
metrics=$(ip netns exec "$NODE" curl -s "http://$NODE_IP:15020/metrics" ||
	ip netns exec "$NODE" curl -s "http://127.0.0.1:15020/metrics")
echo "$metrics" | grep -E '^istio_tcp_connections_opened_total\{' | grep 'reporter="source"' >"$tmp/m" ||
	fail "no source-side connection in the ztunnel's metrics: $(echo "$metrics" | head -20)"
expect_contains "$(cat "$tmp/m")" 'source_workload="a"'
expect_contains "$(cat "$tmp/m")" 'destination_workload="b"'
expect_contains "$(cat "$tmp/m")" 'source_principal="spiffe://cluster.local/ns/shop/sa/a"'
expect_contains "$(cat "$tmp/m")" 'destination_principal="spiffe://cluster.local/ns/shop/sa/b"'
log "a -> b.shop through the ztunnel over HBONE"
grep -q 'signed spiffe://cluster.local/ns/shop/sa/a for pod shop/a-5d8f-x1' "$tmp/logs/ca.log" ||
	fail "the CA server did not sign a's certificate: $(cat "$tmp/logs/ca.log")"

# ---- what the CA server refuses ----
sign() { # TOKEN POD IDENTITY: the status code; the body in $tmp/sign.out
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj / \
		-keyout /dev/null -addext "subjectAltName=critical,URI:$3" 2>/dev/null |
		python3 -c 'import json,sys; print(json.dumps({"pod": sys.argv[1], "csr": sys.stdin.read()}))' "$2" \
			>"$tmp/sign.json"
	ip netns exec "$NODE" curl -s --http1.1 --cacert "$tmp/root.pem" -H "Authorization: Bearer $1" \
		--data @"$tmp/sign.json" -o "$tmp/sign.out" -w '%{http_code}' https://localhost:15012/v1/sign
}
expect_eq "$(sign t93 shop/a-5d8f-x1 spiffe://cluster.local/ns/shop/sa/a)" 200
expect_eq "$(sign nope shop/a-5d8f-x1 spiffe://cluster.local/ns/shop/sa/a)" 401
expect_eq "$(sign t93 shop/c-5d8f-z3 spiffe://cluster.local/ns/shop/sa/c)" 403
expect_contains "$(cat "$tmp/sign.out")" "runs on node2, not on the requesting node node1"
expect_eq "$(sign t93 shop/a-5d8f-x1 spiffe://cluster.local/ns/shop/sa/b)" 400
expect_contains "$(cat "$tmp/sign.out")" "asks for a name other than spiffe://cluster.local/ns/shop/sa/a"
log "CA server: signs only this node's pods' identities, and only as the CSR's own"

# ---- the gateways' certificates: the agent has no grant on Secrets outside istio-system; the
# CA serves a node's agent those its gateway pods' Gateways name, and never the root key ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=gw \
	-keyout "$tmp/gw.key" -out "$tmp/gw.crt" 2>/dev/null || fail "openssl"
tls_secret() { # NS NAME TYPE
	echo '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"'"$2"'","namespace":"'"$1"'"},
	 "type":"'"$3"'","data":{"tls.crt":"'"$(base64 -w0 "$tmp/gw.crt")"'",
	 "tls.key":"'"$(base64 -w0 "$tmp/gw.key")"'","root-key.pem":"'"$(base64 -w0 "$tmp/gw.key")"'"}}'
}
expect_eq "$(api POST /api/v1/namespaces/shop/secrets "$(tls_secret shop gw-cert kubernetes.io/tls)")" 201
expect_eq "$(api POST /api/v1/namespaces/shop/secrets "$(tls_secret shop unused kubernetes.io/tls)")" 201
expect_eq "$(api POST /api/v1/namespaces/shop/secrets "$(tls_secret shop opaque Opaque)")" 201
expect_eq "$(api POST /api/v1/namespaces/ambit-system/secrets "$(tls_secret ambit-system ambit-ca-root Opaque)")" 201
# A Gateway naming its certificate, a generic Secret, the root key and one of a namespace
# granting nothing; its pod on node1 (no process: the agent cannot enroll it, and says so).
expect_eq "$(api POST /apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways '{
 "apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"gw","namespace":"shop"},
 "spec":{"gatewayClassName":"istio","listeners":[{"name":"https","port":443,"protocol":"HTTPS",
  "tls":{"certificateRefs":[{"name":"gw-cert"},{"name":"opaque"},
   {"name":"ambit-ca-root","namespace":"ambit-system"},{"name":"x","namespace":"other"}]}}]}}')" 201
expect_eq "$(api POST /api/v1/namespaces/shop/pods '{"apiVersion":"v1","kind":"Pod",
 "metadata":{"name":"gw-istio-0","namespace":"shop","labels":{"gateway.networking.k8s.io/gateway-name":"gw"}},
 "spec":{"nodeName":"node1","containers":[{"name":"gw","image":"x"}]},
 "status":{"phase":"Running","podIP":"10.98.93.99","podIPs":[{"ip":"10.98.93.99"}],"hostIP":"'"$NODE_IP"'"}}')" 201
creds() { # TOKEN POD: the status code; the body in $tmp/creds.out
	ip netns exec "$NODE" curl -s --http1.1 --cacert "$tmp/root.pem" -H "Authorization: Bearer $1" \
		--data '{"pod":"'"$2"'"}' -o "$tmp/creds.out" -w '%{http_code}' https://localhost:15012/v1/credentials
}
cj() { python3 -c "import json; o=json.load(open('$tmp/creds.out')); print($1)"; }
expect_eq "$(creds t93 shop/gw-istio-0)" 200
expect_eq "$(cj '[(s["metadata"]["namespace"], s["metadata"]["name"], sorted(s["data"])) for s in o["secrets"]]')" \
	"[('shop', 'gw-cert', ['tls.crt', 'tls.key'])]" "the certificates served to node1's gateway pod"
expect_eq "$(cj '" | ".join(o["refused"])')" \
	"Secret shop/opaque: of type Opaque, not kubernetes.io/tls | Secret ambit-system/ambit-ca-root: the CA's own namespace | Secret other/x: another namespace's, and no ReferenceGrant there allows it"
# Not a gateway's pod; a pod of another node; not an agent's token.
expect_eq "$(creds t93 shop/a-5d8f-x1)" 403
expect_contains "$(cat "$tmp/creds.out")" "the pod is no gateway's"
expect_eq "$(creds t93 shop/c-5d8f-z3)" 403
expect_contains "$(cat "$tmp/creds.out")" "runs on node2, not on the requesting node node1"
expect_eq "$(creds t93w shop/gw-istio-0)" 403
expect_eq "$(creds nope shop/gw-istio-0)" 401
# TLS origination at a waypoint or gateway (a DestinationRule's credentialName, SIMPLE or
# MUTUAL): the Secret of that name in the pod's own namespace, wherever the rule is (istiod's
# SDS), a kubernetes.io/tls one or an Opaque one of cert, key and cacert; never the rule's
# namespace's, nor the CA's own for a pod there.
expect_eq "$(api POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"other"}}')" 201
expect_eq "$(api POST /api/v1/namespaces/shop/secrets "$(tls_secret shop egress-client kubernetes.io/tls)")" 201
expect_eq "$(api POST /api/v1/namespaces/other/secrets "$(tls_secret other egress-client kubernetes.io/tls)")" 201
expect_eq "$(api POST /api/v1/namespaces/shop/secrets '{"apiVersion":"v1","kind":"Secret",
 "metadata":{"name":"dr-generic","namespace":"shop"},"type":"Opaque",
 "data":{"cert":"'"$(base64 -w0 "$tmp/gw.crt")"'","key":"'"$(base64 -w0 "$tmp/gw.key")"'",
  "cacert":"'"$(base64 -w0 "$tmp/gw.crt")"'","token":"c2VjcmV0"}}')" 201
expect_eq "$(api POST /apis/networking.istio.io/v1/namespaces/other/destinationrules '{
 "apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"out","namespace":"other"},
 "spec":{"host":"secure.example.com","trafficPolicy":{"tls":{"mode":"MUTUAL","credentialName":"egress-client"},
  "portLevelSettings":[{"port":{"number":8443},"tls":{"mode":"SIMPLE","credentialName":"dr-generic"}}]}}}')" 201
expect_eq "$(api POST /apis/networking.istio.io/v1/namespaces/shop/destinationrules '{
 "apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"root","namespace":"shop"},
 "spec":{"host":"b","subsets":[{"name":"v1","trafficPolicy":{"tls":{"mode":"SIMPLE","credentialName":"ambit-ca-root"}}}]}}')" 201
# (The CA keeps its cluster-wide LIST of DestinationRules 5 s: the new rules are seen within.)
dr_served() {
	[ "$(creds t93 shop/gw-istio-0)" = 200 ] &&
		[ "$(cj 'sorted((s["metadata"]["namespace"], s["metadata"]["name"], sorted(s["data"])) for s in o["secrets"])')" = \
		"[('shop', 'dr-generic', ['cacert', 'cert', 'key']), ('shop', 'egress-client', ['tls.crt', 'tls.key']), ('shop', 'gw-cert', ['tls.crt', 'tls.key'])]" ]
}
wait_for 15 dr_served ||
	failed "the certificates served to node1's gateway pod with the DestinationRules: $(cj '[s["metadata"]["name"] for s in o.get("secrets", [])]')"
expect_contains "$(cj '" | ".join(o["refused"])')" "Secret shop/ambit-ca-root: it does not exist"
expect_eq "$(api POST /api/v1/namespaces/ambit-system/pods '{"apiVersion":"v1","kind":"Pod",
 "metadata":{"name":"gw-ca","namespace":"ambit-system","labels":{"istio":"egressgateway"}},
 "spec":{"nodeName":"node1","containers":[{"name":"gw","image":"x"}]},
 "status":{"phase":"Running","podIP":"10.98.93.98","podIPs":[{"ip":"10.98.93.98"}],"hostIP":"'"$NODE_IP"'"}}')" 201
expect_eq "$(creds t93 ambit-system/gw-ca)" 200
expect_eq "$(cj 'o["secrets"]')" "[]" "the Secrets served a gateway pod of the CA's namespace"
expect_contains "$(cj '" | ".join(o["refused"])')" "Secret ambit-system/ambit-ca-root: the CA's own namespace"
expect_eq "$(api DELETE /api/v1/namespaces/ambit-system/pods/gw-ca)" 200
# The waypoint controller learns whether a certificateRef is servable, not what it holds.
cert_status() { # TOKEN: the status code; the body in $tmp/creds.out
	ip netns exec "$NODE" curl -s --http1.1 --cacert "$tmp/root.pem" -H "Authorization: Bearer $1" \
		--data '{"secrets":["shop/gw-cert","shop/missing","shop/opaque","ambit-system/ambit-ca-root"]}' \
		-o "$tmp/creds.out" -w '%{http_code}' https://localhost:15012/v1/certificate-status
}
expect_eq "$(cert_status t93w)" 200
expect_eq "$(cj 'sorted(o["status"].items())')" \
	"[('ambit-system/ambit-ca-root', \"is in the CA's own namespace\"), ('shop/gw-cert', ''), ('shop/missing', 'does not exist'), ('shop/opaque', 'is of type Opaque, not kubernetes.io/tls')]"
expect_not_contains "$(cat "$tmp/creds.out")" "BEGIN"
expect_eq "$(cert_status t93)" 403
expect_contains "$(cat "$tmp/creds.out")" "is not the waypoint controller's service account"
# The agent asked for its gateway pod's certificates as the pod came.
wait_log_file() { grep -q "$1" "$tmp/logs/agent.log"; }
wait_for 20 wait_log_file "credentials of shop/gw-istio-0: Secret other/x" ||
	failed "the agent did not ask the CA for its gateway pod's certificates"
expect_eq "$(api DELETE /api/v1/namespaces/shop/pods/gw-istio-0)" 200
log "CA server: a gateway pod's own certificates to its node's agent, never the root key; the controller learns validity only"

# ---- the workload directory: the agent watches its node's pods only; the other nodes' come
# from the CA service's ConfigMaps (a new pod elsewhere is known once the CA service runs) ----
workloads_are() { [ "$(st 's["workloads"]' 2>/dev/null)" = "$1" ]; }
expect_eq "$(api GET '/api/v1/namespaces/ambit-system/configmaps?labelSelector=ambit.io%2Fdirectory%3Dworkloads')" 200
python3 - "$tmp/api.out" <<'PYEOF' || fail "the directory does not hold pod c as the mesh reads it: $(head -c 600 "$tmp/api.out")"
import json, sys
items = json.load(open(sys.argv[1]))["items"]
assert len(items) == 64, len(items)
pods = [p for cm in items for p in json.loads(cm["data"]["pods"])]
c = [p for p in pods if p["metadata"]["name"] == "c-5d8f-z3"][0]
assert c["spec"]["nodeName"] == "node2" and c["status"]["podIP"] == "10.98.94.2", c
assert c["spec"]["serviceAccountName"] == "c" and c["metadata"]["labels"]["app"] == "c", c
assert "image" not in c["spec"]["containers"][0], c  # cut to what the mesh reads
assert len(pods) == 4, [p["metadata"]["name"] for p in pods]  # every node's (the hostNetwork one too)
PYEOF
kill "$ca_pid"
wait_for 10 bash -c "! kill -0 $ca_pid 2>/dev/null" || fail "the CA server did not exit on SIGTERM"
expect_eq "$(api POST /api/v1/namespaces/shop/pods \
	"$(pod_json d-5d8f-z4 0a1b2c3d-0000-4000-8000-00000000000d 10.98.94.3 node2 10.99.94.1)")" 201
sleep 2
expect_eq "$(st 's["workloads"]')" "3" "a pod of node2 known with the CA service away: the agent watches more than its node"
start_in "$CG/system/ca" "$NODE" "${ca_cmd[@]}"
ca_pid=$last
wait_for 20 workloads_are 4 || failed "pod d of node2 not known from the directory: $(st 's["workloads"]')"
expect_eq "$(api DELETE /api/v1/namespaces/shop/pods/d-5d8f-z4)" 200
wait_for 20 workloads_are 3 || failed "pod d deleted, still a workload: $(st 's["workloads"]')"
log "workload directory: this node's pods from the watch, node2's from the CA service's ConfigMaps"

# ---- readiness: a pod failing its readiness probe takes no Service traffic, as kube-proxy ----
ready() { # true|false: pod b's Ready condition, written through the API as the kubelet does
	local P=/api/v1/namespaces/shop/pods/b-5d8f-y2 o
	expect_eq "$(api GET "$P")" 200
	o=$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); o["status"]["conditions"]=[{"type":"Ready","status":sys.argv[2]}]; print(json.dumps(o))' "$tmp/api.out" "$1")
	expect_eq "$(api PUT "$P/status" "$o")" 200
}
ready False
wait_for 20 call_refused || failed "pod b, not Ready, still takes the Service's traffic"
expect_eq "$(st 's["workloads"]')" "3" "pod b not Ready is still a workload"
ready True
wait_for 20 call_ok || failed "pod b, Ready again, takes no traffic"
log "readiness: a pod not Ready is no Service endpoint, and is again once Ready"

# ---- a Service without selector takes its endpoints from its EndpointSlices ----
ext_ok() { [ "$(call http://10.96.93.20/)" = 200 ]; }
expect_eq "$(api POST /api/v1/namespaces/shop/services '{"apiVersion":"v1","kind":"Service",
 "metadata":{"name":"ext","namespace":"shop"},
 "spec":{"clusterIP":"10.96.93.20","ports":[{"name":"http","port":80}]}}')" 201
sleep 1
# No slice yet: the mesh knows no endpoint, and nothing else here routes the address.
expect_eq "$(call http://10.96.93.20/)" "000" "a Service without selector nor slice"
expect_eq "$(api POST /apis/discovery.k8s.io/v1/namespaces/shop/endpointslices '{
 "apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
 "metadata":{"name":"ext-1","namespace":"shop","labels":{"kubernetes.io/service-name":"ext",
  "endpointslice.kubernetes.io/managed-by":"someone.example"}},
 "addressType":"IPv4","ports":[{"name":"http","port":8080,"protocol":"TCP"}],
 "endpoints":[{"addresses":["10.98.93.3"],"conditions":{"ready":true}}]}')" 201
wait_for 20 ext_ok || failed "the EndpointSlice's endpoint is not reached through the Service"
log "a Service without selector: reached through its EndpointSlice's endpoint"

# ---- policy through the API ----
deny='{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy",
 "metadata":{"name":"deny-a","namespace":"shop"},
 "spec":{"selector":{"matchLabels":{"app":"b"}},"action":"DENY",
  "rules":[{"from":[{"source":{"principals":["cluster.local/ns/shop/sa/a"]}}]}]}}'
AP=/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies
expect_eq "$(api POST "$AP" "$deny")" 201
wait_for 20 call_refused || failed "the DENY policy is not in force"
expect_eq "$(api GET "$AP/deny-a")" 200
bad=$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); o["spec"]["action"]="MAYBE"; print(json.dumps(o))' "$tmp/api.out")
expect_eq "$(api PUT "$AP/deny-a" "$bad")" 200
wait_for 20 named_error || failed "the invalid version is not named: $(st 's["configErrors"]')"
log "rejected: $(st 's["configErrors"][0]')"
# ... and on the object itself, as `kubectl describe` shows it: one Warning Event naming the field.
event() {
	[ "$(api GET /api/v1/namespaces/shop/events)" = 200 ] && python3 - "$tmp/api.out" <<'PYEOF'
import json, sys
ev = [e for e in json.load(open(sys.argv[1]))["items"]
      if e["involvedObject"].get("name") == "deny-a" and e["reason"] == "Rejected"]
assert len(ev) == 1 and ev[0]["type"] == "Warning", ev
assert ev[0]["involvedObject"]["kind"] == "AuthorizationPolicy", ev
assert "spec.action" in ev[0]["message"] and "MAYBE" in ev[0]["message"], ev
print(ev[0]["message"])
PYEOF
}
wait_for 20 event >/dev/null || failed "no Rejected Event on the policy: $(cat "$tmp/api.out")"
log "Event: $(event)"
expect_eq "$(call)" "000" "the last good DENY policy must keep serving"
expect_eq "$(api DELETE "$AP/deny-a")" 200
wait_for 20 call_ok || failed "the deleted policy still refuses"
expect_eq "$(st 's["configErrors"]')" "[]"

# ---- a rolling update's surge pod beside the old one (maxSurge 1, the host's /run/ambit) ----
# Its agent waits for the old one's lock and touches nothing; its ztunnel takes the old one's
# listeners (served by the old agent meanwhile); the old pod goes; the new agent takes over.
start_in "$CG/system/agent2" "$NODE" "${agent_cmd[@]}"
agent2_pid=$last
wait_for 10 grep -q "another agent holds" "$tmp/logs/agent2.log" ||
	fail "the surge pod's agent did not wait for the old one: $(cat "$tmp/logs/agent2.log")"
start_in "$CG/system/ztunnel2" "$NODE" "${ztunnel_cmd[@]}"
wait_for 20 grep -q "took the listeners" "$tmp/logs/ztunnel2.log" ||
	fail "the new ztunnel did not take the listeners: $(cat "$tmp/logs/ztunnel2.log")"
wait_for 10 grep -q "a successor took the listeners" "$tmp/logs/ztunnel.log" ||
	fail "the old ztunnel did not hand over: $(tail -5 "$tmp/logs/ztunnel.log")"
expect_eq "$(call)" "200" "a call while both pods run"
kill -TERM "$ztunnel_pid" "$agent_pid"
for _ in $(seq 100); do kill -0 "$ztunnel_pid" 2>/dev/null || kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
wait_for 20 grep -q "the other agent is gone" "$tmp/logs/agent2.log" ||
	fail "the new agent did not start after the old one: $(tail -5 "$tmp/logs/agent2.log")"
agent_pid=$agent2_pid
agent_log=agent2
wait_for 20 synced || failed "the new agent did not sync: $(status)"
wait_for 20 call_ok || fail "no call through the new pod's agent and ztunnel"
log "upgraded: the new agent waited for the old one, the ztunnel was handed over"

# ---- a waypoint, as the waypoint controller's Deployment runs it (deploy/waypoint.yaml.tmpl) ----
# Its Gateway, Service and pod in the API; the pod on this node, out of capture, started as its
# container is (the agent's socket is its /run/ambit-waypoint/agent.sock there); b bound to it.
WAYPOINT=${AMBIT_WAYPOINT_BIN:-$REPO/build/waypoint}
UW="0a1b2c3d-0000-4000-8000-00000000000e"
pod_net w "$PW" 10.98.93.4
# Its sandbox first, as the kubelet makes it before the pod has an IP in the API.
start_in "$PODS/besteffort/pod$UW/pause" "$PW" sleep 600
expect_eq "$(api POST /apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways '{
 "apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"waypoint","namespace":"shop","labels":{"istio.io/waypoint-for":"service"}},
 "spec":{"gatewayClassName":"istio-waypoint","listeners":[{"name":"mesh","port":15008,"protocol":"HBONE"}]}}')" 201
expect_eq "$(api POST /api/v1/namespaces/shop/services '{"apiVersion":"v1","kind":"Service",
 "metadata":{"name":"waypoint","namespace":"shop","labels":{"gateway.networking.k8s.io/gateway-name":"waypoint"}},
 "spec":{"clusterIP":"10.96.93.30","selector":{"gateway.networking.k8s.io/gateway-name":"waypoint"},
  "ports":[{"name":"mesh","port":15008,"targetPort":15008}]}}')" 201
expect_eq "$(api POST /api/v1/namespaces/shop/pods '{"apiVersion":"v1","kind":"Pod",
 "metadata":{"name":"waypoint-5d8f-w1","namespace":"shop","uid":"'"$UW"'",
  "labels":{"gateway.networking.k8s.io/gateway-name":"waypoint","istio.io/dataplane-mode":"none"},
  "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"waypoint-5d8f","uid":"r-w","controller":true}]},
 "spec":{"nodeName":"node1","serviceAccountName":"waypoint","containers":[{"name":"waypoint","image":"x"}]},
 "status":{"phase":"Running","podIP":"10.98.93.4","hostIP":"'"$NODE_IP"'",
  "conditions":[{"type":"Ready","status":"True"}]}}')" 201
expect_eq "$(api GET /api/v1/namespaces/shop/services/b)" 200
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); o["metadata"].setdefault("labels",{})["istio.io/use-waypoint"]="waypoint"; print(json.dumps(o))' \
	"$tmp/api.out" >"$tmp/b.json"
expect_eq "$(api PUT /api/v1/namespaces/shop/services/b "$(cat "$tmp/b.json")")" 200
wsock="$tmp/run/waypoints/shop_waypoint-5d8f-w1/agent.sock"
wait_for 20 test -S "$wsock" || failed "the agent does not serve the waypoint pod at $wsock"
start_in "$PODS/besteffort/pod$UW/waypoint" "$PW" "$WAYPOINT" --agent "$wsock"
wready() { ip netns exec "$NODE" curl -sf -m 2 -o /dev/null http://10.98.93.4:15020/healthz/ready; }
wait_for 20 wready || fail "the waypoint is not ready: $(tail -5 "$tmp/logs/waypoint.log")"
wait_for 20 call_ok || failed "no call through the waypoint ($(call)): $(tail -5 "$tmp/logs/waypoint.log")"
# Only the waypoint applies a VirtualService: its fault answers.
VS=/apis/networking.istio.io/v1/namespaces/shop/virtualservices
expect_eq "$(api POST "$VS" '{"apiVersion":"networking.istio.io/v1","kind":"VirtualService",
 "metadata":{"name":"b","namespace":"shop"},
 "spec":{"hosts":["b.shop.svc.cluster.local"],"http":[{"fault":{"abort":{"httpStatus":418,
  "percentage":{"value":100}}},"route":[{"destination":{"host":"b.shop.svc.cluster.local"}}]}]}}')" 201
teapot() { [ "$(call)" = 418 ]; }
wait_for 20 teapot || fail "the waypoint does not apply the VirtualService: $(call); $(tail -5 "$tmp/logs/waypoint.log")"
expect_eq "$(api DELETE "$VS/b")" 200
wait_for 20 call_ok || fail "the VirtualService's fault outlived it"
metrics=$(ip netns exec "$NODE" curl -s -m 2 http://10.98.93.4:15020/metrics)
expect_contains "$metrics" 'istio_requests_total{' "the waypoint counts requests"
log "waypoint: served by the node agent on its pod's socket, L7 config in force through it"

# ---- the API server goes away: nothing that runs changes ----
kill "$api_pid"
for _ in $(seq 50); do kill -0 "$api_pid" 2>/dev/null || break; sleep 0.1; done
sleep 1
expect_eq "$(call)" "200"
kill -0 "$agent_pid" || fail "the agent exited without its API server"
expect_eq "$(st 's["workloads"]')" "4" "workloads (a, b, the other node's c, the waypoint)"
log "API server gone: calls still go through, the agent keeps its copy"

# ---- the agent stopped while nobody can say whether its DaemonSet is gone: nothing goes ----
node_state() { # pins, tc on a's interface, the fwmark rule, programs on the pods' cgroup
	echo "pins=$(ls "$PIN" 2>/dev/null | wc -l)"
	echo "tc=$(ip netns exec "$NODE" tc filter show dev h93a ingress | grep -c bpf)"
	echo "rule=$(ip -n "$NODE" -4 rule show fwmark 0x539 | grep -c lookup)"
	echo "cgroup=$(bpftool cgroup show "$PODS" 2>/dev/null | grep -c connect4)"
}
kill -TERM "$agent_pid"
for _ in $(seq 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$agent_pid" 2>/dev/null && fail "the agent did not exit at SIGTERM"
grep -q "the node's state stays" "$tmp/logs/agent2.log" ||
	fail "the agent did not say it kept the node's state: $(tail -3 "$tmp/logs/agent2.log")"
state=$(node_state)
expect_not_contains "$state" "pins=0"
expect_not_contains "$state" "tc=0"
expect_not_contains "$state" "rule=0"
expect_not_contains "$state" "cgroup=0"
expect_eq "$(call)" "200" "capture goes on without its agent"

# ---- uninstall: the DaemonSet deleted, then its agent stopped: the node's state goes ----
start_in "$CG/system/api2" "$NODE" python3 "$REPO/tests/k8s/fake_apiserver.py" \
	--listen "127.0.0.1:$port" --token t93 --tls-cert "$tmp/api.crt" --tls-key "$tmp/api.key" \
	--load "$tmp/objs"
wait_for 10 api GET /version || fail "the API server did not come back: $(cat "$tmp/logs/api2.log")"
start_in "$CG/system/agent3" "$NODE" "${agent_cmd[@]}"
agent_pid=$last
agent_log=agent3
wait_for 20 synced || failed "the agent did not sync again"
expect_eq "$(api DELETE /apis/apps/v1/namespaces/ambit-system/daemonsets/ambit-node)" 200
kill -TERM "$agent_pid"
for _ in $(seq 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$agent_pid" 2>/dev/null && fail "the agent did not exit at SIGTERM"
grep -q "node state removed" "$tmp/logs/agent3.log" ||
	failed "the agent did not remove the node's state after its DaemonSet went"
expect_eq "$(node_state | tr '\n' ' ')" "pins=0 tc=0 rule=0 cgroup=0 " "the node's state after the uninstall"
expect_eq "$(call http://10.98.93.3:8080/)" "200" "a to b's address straight, without the mesh (no kube-proxy here for the VIP)"
log "uninstall: the DaemonSet gone, its agent removed tc filters, cgroup programs, pins and rules"
pass
