#!/usr/bin/env bash
# ambit-cni chained after Debian's containernetworking-plugins (ptp, host-local, loopback), run
# by hand as a kubelet's runtime runs a conflist (issue 41 §1): each plugin's configuration on
# stdin with the list's name and cniVersion, prevResult threaded from one to the next, CNI_ARGS
# as the kubelet sets them, in node1's network namespace against node1's agent. The conflist is
# the node's, with ambit-cni put in it and on CNI_PATH by `ambit-agent --install-cni --once`.
#  - ADD for a pod of an enrolled namespace is held until the agent captures the pod (its cgroup
#    enrolled, tc on the veth the chain made; in-pod mode, --cni bridge: the ztunnel listening in
#    the netns ADD named, the pod having no process yet), then returns the chain's result;
#  - ADD for a pod outside the mesh returns without the agent knowing the pod;
#  - ADD for a pod of the mesh that the chain gave IPv6 addresses only (an IPv6-only cluster's)
#    is held as well, until the agent captures it by its IPv6 address; outside the mesh it runs;
#  - DEL releases, and succeeds again;
#  - with the agent stopped, ADD fails with the specification's error (code 11, try again
#    later) and DEL still succeeds; with a kubeconfig in its entry, a pod the API server shows
#    outside the mesh (its namespace, or its own opt-out label) is not held, one in the mesh
#    still is, and so is any while the API server does not answer;
#  - `ambit-agent --install-cni --uninstall` takes the entry and the binary out.
. "$(dirname "$0")/lib.sh"
need_root
need_bins
need_cmd jq nsenter ip openssl
CNI_DIR=${AMBIT_CNI_PLUGINS:-/usr/lib/cni}
for p in ptp host-local loopback; do
	[ -x "$CNI_DIR/$p" ] || skip "needs containernetworking-plugins ($CNI_DIR/$p)"
done
PLUGIN=$REPO/build/ambit-cni
AGENT=${AMBIT_AGENT_BIN:-$REPO/build/ambit-agent}
[ -x "$PLUGIN" ] || skip "$PLUGIN not built (make)"

tmp=$(mktemp -d /tmp/ambit-it-cni-XXXXXX)
sandboxes=""
api_pid=
cleanup() {
	local s
	[ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null
	for s in $sandboxes; do
		ip netns del "ambit-$CLUSTER-cni-$s" 2>/dev/null
	done
	rm -rf "$tmp"
	on_exit
}
cluster_up manifests
trap cleanup EXIT

node_ns=/run/netns/ambit-$CLUSTER-node1
sock=$(node_run node1)/agent.sock
mkdir -p "$tmp/net.d" "$tmp/bin" "$tmp/ipam"
# The node's own network, as its network plugin wrote it; its own plugins on CNI_PATH.
cat >"$tmp/net.d/10-itnet.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "itnet", "plugins": [
  {"type": "ptp", "ipMasq": false, "mtu": 1500,
   "ipam": {"type": "host-local", "dataDir": "$tmp/ipam",
            "ranges": [[{"subnet": "10.98.201.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON
for p in ptp host-local loopback; do
	ln -s "$CNI_DIR/$p" "$tmp/bin/$p"
done
out=$("$AGENT" --install-cni --cni-conf-dir "$tmp/net.d" --cni-bin-dir "$tmp/bin" \
	--plugin "$PLUGIN" --agent-socket "$sock" --once 2>&1) || fail "install-cni --once: $out"
conflist=$tmp/net.d/10-itnet.conflist
expect_eq "$(jq -c '[.plugins[].type]' "$conflist")" '["ptp","ambit-cni"]' "the conflist after install"
expect_eq "$(jq -r '.plugins[1].agentSocket' "$conflist")" "$sock" "ambit-cni's agentSocket"
[ -x "$tmp/bin/ambit-cni" ] || fail "ambit-cni not installed on CNI_PATH"
# A failing test must not wait long for ambit-cni's default 30 s.
jq '.plugins[1].timeoutSeconds = 20' "$conflist" >"$tmp/c" && mv "$tmp/c" "$conflist"

# run_plugin CMD NS POD CONF: one plugin as the runtime runs it (stdout its result).
run_plugin() {
	local cmd=$1 ns=$2 pod=$3 conf=$4 type
	type=$(jq -r .type <<<"$conf")
	CNI_COMMAND=$cmd CNI_CONTAINERID="sandbox-$pod" CNI_NETNS="/run/netns/ambit-$CLUSTER-cni-$pod" \
		CNI_IFNAME=${IFNAME:-eth0} CNI_PATH="$tmp/bin" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$pod;K8S_POD_INFRA_CONTAINER_ID=sandbox-$pod" \
		nsenter --net="$node_ns" "$tmp/bin/$type" <<<"$conf"
}

# add_pod NS POD: the sandbox, loopback, then the conflist's plugins in order, each given the
# last one's result as prevResult. The chain's result in $tmp/POD.result; the first failing
# plugin's output there instead, and a failure status.
add_pod() {
	local ns=$1 pod=$2 prev=null conf out n i
	ip netns add "ambit-$CLUSTER-cni-$pod" || return 1
	sandboxes="$sandboxes $pod"
	IFNAME=lo run_plugin ADD "$ns" "$pod" '{"cniVersion":"1.0.0","name":"lo","type":"loopback"}' \
		>/dev/null || return 1
	n=$(jq '.plugins | length' "$conflist")
	for ((i = 0; i < n; i++)); do
		conf=$(jq -c --argjson i "$i" --argjson prev "$prev" \
			'.plugins[$i] + {name, cniVersion} + (if $prev then {prevResult: $prev} else {} end)' \
			"$conflist")
		if ! out=$(run_plugin ADD "$ns" "$pod" "$conf"); then
			printf '%s\n' "$out" >"$tmp/$pod.result"
			return 1
		fi
		prev=$(jq -c . <<<"$out") || return 1
	done
	printf '%s\n' "$prev" >"$tmp/$pod.result"
}

# del_pod NS POD: the plugins in reverse order, each with the cached result (the runtime's).
del_pod() {
	local ns=$1 pod=$2 prev conf n i rc=0
	prev=$(jq -c 'if .ips then . else null end' "$tmp/$pod.result" 2>/dev/null) || prev=null
	n=$(jq '.plugins | length' "$conflist")
	for ((i = n - 1; i >= 0; i--)); do
		conf=$(jq -c --argjson i "$i" --argjson prev "${prev:-null}" \
			'.plugins[$i] + {name, cniVersion} + (if $prev then {prevResult: $prev} else {} end)' \
			"$conflist")
		run_plugin DEL "$ns" "$pod" "$conf" >"$tmp/$pod.del.$i" || rc=1
	done
	IFNAME=lo run_plugin DEL "$ns" "$pod" '{"cniVersion":"1.0.0","name":"lo","type":"loopback"}' \
		>/dev/null || rc=1
	return $rc
}

# The pod's address and its veth on the node, as the chain made them.
pod_addr() { ip -n "ambit-$CLUSTER-cni-$1" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1; }
host_veth() {
	local peer
	peer=$(ip -n "ambit-$CLUSTER-cni-$1" -o link show dev eth0 | sed -n 's/.*eth0@if\([0-9]*\).*/\1/p')
	nsenter --net="$node_ns" ip -o link | awk -F': ' -v i="$peer" '$1 == i {split($2, a, "@"); print a[1]}'
}
# The Pod object, as the API server holds it before its sandbox is up: pods.json here. KEY: "ip",
# or "ip6" for an IPv6-only pod.
publish_pod() {
	local ns=$1 pod=$2 ip=$3 veth=$4 key=${5:-ip} cg
	cg=$(jq -r '[.pods[] | select(.node == "node1") | .cgroup][0]' "/run/ambit/$CLUSTER/runtime/pods.json")
	cg=$(dirname "$cg")/${ns}_$pod
	mkdir -p "$cg" || return 1
	jq --arg ns "$ns" --arg pod "$pod" --arg ip "$ip" --arg veth "$veth" --arg cg "$cg" \
		--arg key "$key" \
		'.pods += [{namespace: $ns, name: $pod, node: "node1", ($key): $ip, cgroup: $cg,
		  hostIface: $veth, serviceAccount: "default", labels: {app: $pod}}]' \
		"/run/ambit/$CLUSTER/runtime/pods.json" >"$tmp/pods.json" &&
		mv "$tmp/pods.json" "/run/ambit/$CLUSTER/runtime/pods.json"
}
enrolled() {
	actl workloads -o json | jq -r --arg n "$1" \
		'[.[] | .workloads[]? | select(.namespace == "mesh" and .name == $n) | .enrolled] | any'
}

# ---- a pod of the mesh: ADD held until its capture is in force ----
add_pod mesh cni-a &
add_pid=$!
wait_log 30 node1-agent 'cni: pod mesh/cni-a \(10\.98\.201\.[0-9]+\) added by the runtime' ||
	fail "the agent never heard of mesh/cni-a's ADD"
# The agent knows no such pod yet: ADD cannot have returned.
kill -0 "$add_pid" 2>/dev/null || fail "ADD returned before the pod was captured: $(cat "$tmp/cni-a.result" 2>/dev/null)"
ip_a=$(pod_addr cni-a)
veth_a=$(host_veth cni-a)
[ -n "$ip_a" ] && [ -n "$veth_a" ] || fail "the chain made no address or veth for cni-a ($ip_a, $veth_a)"
publish_pod mesh cni-a "$ip_a" "$veth_a" || fail "cannot publish mesh/cni-a"
wait "$add_pid" || fail "ADD for mesh/cni-a failed: $(cat "$tmp/cni-a.result")"
res=$(cat "$tmp/cni-a.result")
expect_eq "$(jq -r '.ips[0].address' <<<"$res")" "$ip_a/24" "ADD's result (ptp's, passed on)"
expect_eq "$(jq -r '.interfaces[0].name' <<<"$res")" "$veth_a" "ADD's result interfaces"
expect_eq "$(jq -r '.cniVersion' <<<"$res")" "1.0.0" "ADD's result version"
# Captured when ADD returned: the agent's maps hold the pod's cgroup and its veth.
maps=$(actl maps --node node1)
expect_eq "$(enrolled cni-a)" "true" "mesh/cni-a enrolled"
grep -Eq "cgroup [0-9]+ +-> .* $ip_a( in-pod)?\$" <<<"$maps" || fail "mesh/cni-a's cgroup not enrolled: $maps"
# In-pod mode (bridge): the ztunnel listens in the pod's netns, found from the path ADD gave, as
# no process runs in the pod's cgroup.
if [ "${AMBIT_LOCAL_CNI:-}" = bridge ]; then
	grep -Eq "^ *$ip_a +-> in-pod 15006 listener" <<<"$maps" ||
		fail "mesh/cni-a not captured in its netns: $maps"
fi
grep -Eq "^ *$veth_a +\( *[0-9]+\) -> .*only source $ip_a\$" <<<"$maps" ||
	fail "mesh/cni-a's veth not in the maps: $maps"
wait_log 10 node1-agent "pod mesh/cni-a: tc attached on $veth_a" || fail "no tc on $veth_a"

# ---- a pod outside the mesh: never held ----
add_pod plain cni-b || fail "ADD for plain/cni-b failed: $(cat "$tmp/cni-b.result")"
expect_eq "$(jq -r '.ips[0].address' "$tmp/cni-b.result")" "$(pod_addr cni-b)/24" "plain/cni-b's result"

# ---- a pod of the mesh with IPv6 addresses only (an IPv6-only cluster's): held, then captured ----
conflist4=$conflist
conflist=$tmp/net6.conflist
jq '.plugins[0].ipam.ranges = [[{"subnet": "fd00:98:201::/64"}]] | .plugins[0].ipam.routes = [{"dst": "::/0"}] | .plugins[0].ipam.dataDir += "6"' \
	"$conflist4" >"$conflist"
add_pod mesh cni-six &
add_pid=$!
wait_log 30 node1-agent 'cni: pod mesh/cni-six \(fd00:98:201::[0-9a-f:]+\) added by the runtime' ||
	fail "the agent never heard of mesh/cni-six's ADD"
kill -0 "$add_pid" 2>/dev/null || fail "ADD returned before mesh/cni-six was captured: $(cat "$tmp/cni-six.result" 2>/dev/null)"
ip_six=$(ip -n "ambit-$CLUSTER-cni-cni-six" -6 -o addr show dev eth0 scope global | awk '{print $4}' | cut -d/ -f1)
veth_six=$(host_veth cni-six)
[ -n "$ip_six" ] && [ -n "$veth_six" ] || fail "the chain made no IPv6 address or veth for cni-six ($ip_six, $veth_six)"
publish_pod mesh cni-six "$ip_six" "$veth_six" ip6 || fail "cannot publish mesh/cni-six"
wait "$add_pid" || fail "ADD for mesh/cni-six failed: $(cat "$tmp/cni-six.result")"
expect_contains "$(jq -r '.ips[0].address' "$tmp/cni-six.result")" "fd00:98:201::"
expect_eq "$(enrolled cni-six)" "true" "mesh/cni-six enrolled"
wait_log 10 node1-agent "pod mesh/cni-six: tc attached on $veth_six" || fail "no tc on $veth_six"
del_pod mesh cni-six || fail "DEL mesh/cni-six failed: $(cat "$tmp"/cni-six.del.*)"
add_pod plain cni-six-b || fail "ADD for plain/cni-six-b (IPv6, outside the mesh) failed: $(cat "$tmp/cni-six-b.result")"
expect_contains "$(jq -r '.ips[0].address' "$tmp/cni-six-b.result")" "fd00:98:201::"
del_pod plain cni-six-b || fail "DEL plain/cni-six-b failed"
conflist=$conflist4

# ---- DEL releases, twice ----
del_pod mesh cni-a || fail "DEL mesh/cni-a failed: $(cat "$tmp"/cni-a.del.*)"
del_pod mesh cni-a || fail "DEL mesh/cni-a again failed: $(cat "$tmp"/cni-a.del.*)"
del_pod plain cni-b || fail "DEL plain/cni-b failed"
ip -n "ambit-$CLUSTER-cni-a" link show dev eth0 >/dev/null 2>&1 && fail "ptp's DEL left eth0 in cni-a"

# ---- no agent: ADD fails as the specification says, DEL still succeeds ----
actl local stop agent --node node1 >/dev/null || fail "stop agent node1"
add_pod mesh cni-c && fail "ADD succeeded with node1's agent stopped"
err=$(cat "$tmp/cni-c.result")
expect_eq "$(jq -r '.code' <<<"$err")" "11" "the error's code (try again later)"
expect_eq "$(jq -r '.cniVersion' <<<"$err")" "1.0.0" "the error's cniVersion"
expect_contains "$(jq -r '.msg' <<<"$err")" "agent unreachable"
expect_contains "$(jq -r '.details' <<<"$err")" "$sock"
del_pod mesh cni-c || fail "DEL with the agent stopped failed: $(cat "$tmp"/cni-c.del.*)"

# ---- no agent, a kubeconfig: the API server judges; outside the mesh is not held ----
# The fake API server in node1's netns (where the runtime runs the plugins), holding namespace
# plain (outside the mesh) and mesh (ambient) with a pod that opts out and one that does not.
mkdir -p "$tmp/api"
FAKE_API_NETNS=$node_ns fake_api_up "$tmp/api" t54 --no-crds
apipost() {
	nsenter --net="$node_ns" curl -sf -X POST -H "Authorization: Bearer t54" \
		-H 'Content-Type: application/json' --data "$2" "http://127.0.0.1:$port$1" >/dev/null
}
apipost /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"plain"}}' &&
	apipost /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"mesh","labels":{"istio.io/dataplane-mode":"ambient"}}}' &&
	apipost /api/v1/namespaces/mesh/pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"cni-d","namespace":"mesh"},"spec":{"containers":[{"name":"c","image":"x"}]}}' &&
	apipost /api/v1/namespaces/mesh/pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"cni-e","namespace":"mesh","labels":{"istio.io/dataplane-mode":"none"}},"spec":{"containers":[{"name":"c","image":"x"}]}}' ||
	fail "cannot fill the fake API server"
jq --arg kc "$tmp/api/kubeconfig" '.plugins[1].kubeconfig = $kc' "$conflist" >"$tmp/c" && mv "$tmp/c" "$conflist"
add_pod plain cni-f || fail "ADD for plain/cni-f waited for the agent with the API server saying it is outside the mesh: $(cat "$tmp/cni-f.result")"
add_pod mesh cni-e || fail "ADD for mesh/cni-e (opted out) waited for the agent: $(cat "$tmp/cni-e.result")"
add_pod mesh cni-d && fail "ADD for mesh/cni-d (in the mesh) succeeded without the agent"
expect_eq "$(jq -r '.code' "$tmp/cni-d.result")" "11" "mesh/cni-d's error code"
expect_contains "$(jq -r '.details' "$tmp/cni-d.result")" "the API server shows the pod in the mesh"
# The API server away too: nothing can judge the pod, so it waits for the agent.
kill "$api_pid"
wait "$api_pid" 2>/dev/null
api_pid=
add_pod plain cni-g && fail "ADD for plain/cni-g succeeded with neither agent nor API server"
expect_contains "$(jq -r '.details' "$tmp/cni-g.result")" "GET /api/v1/namespaces/plain"
for p in cni-f cni-e cni-d cni-g; do
	ns=plain
	case $p in cni-d | cni-e) ns=mesh ;; esac
	del_pod "$ns" "$p" || fail "DEL $ns/$p failed"
done
jq 'del(.plugins[1].kubeconfig)' "$conflist" >"$tmp/c" && mv "$tmp/c" "$conflist"
actl local start agent --node node1 >/dev/null || fail "start agent node1"

# ---- uninstall ----
out=$("$AGENT" --install-cni --cni-conf-dir "$tmp/net.d" --cni-bin-dir "$tmp/bin" --uninstall 2>&1) ||
	fail "install-cni --uninstall: $out"
expect_eq "$(jq -c '[.plugins[].type]' "$conflist")" '["ptp"]' "the conflist after uninstall"
[ -e "$tmp/bin/ambit-cni" ] && fail "ambit-cni left on CNI_PATH"

# ---- install-cni --kube: the plugin's kubeconfig from the pod's service account ----
mkdir -p "$tmp/sa" "$tmp/k.d" "$tmp/kbin"
printf 'tok-54' >"$tmp/sa/token"
printf 'ambit-system' >"$tmp/sa/namespace"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/sa/key" \
	-out "$tmp/sa/ca.crt" -subj /CN=kube-ca -days 1 2>/dev/null || fail "cannot make a CA"
cp "$tmp/net.d/10-itnet.conflist" "$tmp/k.d/"
out=$(KUBERNETES_SERVICE_HOST=10.96.0.1 KUBERNETES_SERVICE_PORT=443 "$AGENT" --install-cni \
	--cni-conf-dir "$tmp/k.d" --cni-bin-dir "$tmp/kbin" --plugin "$PLUGIN" --kube \
	--kube-sa-dir "$tmp/sa" --cni-conf-host-dir /etc/cni/net.d --once 2>&1) ||
	fail "install-cni --kube --once: $out"
kc=$tmp/k.d/ambit-cni.kubeconfig
expect_eq "$(stat -c %a "$kc")" 600 "the plugin's kubeconfig's mode"
expect_eq "$(jq -r '.clusters[0].cluster.server' "$kc")" "https://10.96.0.1:443" "its server"
expect_eq "$(jq -r '.users[0].user.token' "$kc")" "tok-54" "its token"
expect_eq "$(jq -r '.clusters[0].cluster."certificate-authority-data"' "$kc" | base64 -d)" \
	"$(cat "$tmp/sa/ca.crt")" "its CA"
expect_eq "$(jq -r '.plugins[1].kubeconfig' "$tmp/k.d/10-itnet.conflist")" \
	/etc/cni/net.d/ambit-cni.kubeconfig "the entry's kubeconfig, where the node sees it"
# The kubelet rotates the token: the next install writes it again.
printf 'tok-54b' >"$tmp/sa/token"
out=$(KUBERNETES_SERVICE_HOST=10.96.0.1 KUBERNETES_SERVICE_PORT=443 "$AGENT" --install-cni \
	--cni-conf-dir "$tmp/k.d" --cni-bin-dir "$tmp/kbin" --plugin "$PLUGIN" --kube \
	--kube-sa-dir "$tmp/sa" --cni-conf-host-dir /etc/cni/net.d --once 2>&1) ||
	fail "install-cni --kube --once again: $out"
expect_eq "$(jq -r '.users[0].user.token' "$kc")" "tok-54b" "its token after a rotation"
out=$("$AGENT" --install-cni --cni-conf-dir "$tmp/k.d" --cni-bin-dir "$tmp/kbin" --uninstall 2>&1) ||
	fail "install-cni --uninstall (--kube's): $out"
[ -e "$kc" ] && fail "the plugin's kubeconfig left after uninstall"
log "held ADD returned once captured; outside the mesh at once; DEL x2; no agent: code 11, but outside the mesh by the API server passed through"
pass
