#!/usr/bin/env bash
# LoadBalancer Services on local clusters, as MetalLB gives a kind cluster addresses on its docker
# network: each gets an EXTERNAL-IP on the machine's LoadBalancer network (172.30.0.0/16, the
# host at 172.30.0.1), which the host and every other local cluster reach, and which sends a
# connection to one of the Service's pods with the client's address kept. Two clusters with the
# same pod and Service ranges (network1, network2) reach each other through those addresses
# alone, each seen by the other as its fabric's address. Also: a port no Service has is refused
# at once; a Service made ClusterIP gives its address back, and made LoadBalancer again gets
# one; the network stays while one cluster is on it. On --kube the address is the Service's
# status.loadBalancer.ingress in the API server, as kubectl and Istio's tasks read it.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl jq nft
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
B=${CLUSTER}b
b_down() { "$AMBITCTL" local down --name "$B" >/dev/null 2>&1 || true; }
trap_exit 'b_down; rm -rf "$tmp"'

cp -r "$LIB_DIR/manifests" "$tmp/m"
cat >"$tmp/m/lb.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: server-lb
  namespace: mesh
spec:
  type: LoadBalancer
  ipFamilyPolicy: PreferDualStack
  selector:
    app: server
  ports:
  - name: http
    port: 80
    targetPort: 8080
EOF

cluster_up "$tmp/m" 2 --network network1
"$AMBITCTL" local up -f "$tmp/m" --name "$B" --nodes 2 --no-ingress --network network2 >&2 ||
	fail "local up of the second cluster"

lb_index() { jq -r '.lbIndex // empty' "/run/ambit/$1/cluster.json"; }
ka=$(lb_index "$CLUSTER")
kb=$(lb_index "$B")
[ -n "$ka" ] && [ -n "$kb" ] && [ "$ka" != "$kb" ] || fail "lbIndex: '$ka' and '$kb'"
# An IPv6 cluster's Services have IPv6 addresses alone (fd00:30::K:N, the host fd00:30::1); a
# dual-stack one's both, IPv4 first.
fam=$(cluster_ip_family)
lbaddr() { if [ "$fam" = ipv6 ]; then echo "fd00:30::$1:$2"; else echo "172.30.$1.$2"; fi; }
host_addr=$(if [ "$fam" = ipv6 ]; then echo fd00:30::1; else echo 172.30.0.1; fi)

# The address, as `kubectl get svc` shows it and Istio's tasks read it (jsonpath
# {.status.loadBalancer.ingress[0].ip}); on --kube from the API server with the machine's kubectl.
ext_ip() {
	local c=$1
	if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
		kubectl --kubeconfig "/run/ambit/$c/kube/kubeconfig" get svc server-lb -n mesh \
			-o jsonpath='{.status.loadBalancer.ingress[0].ip}'
	else
		AMBIT_CLUSTER=$c actl get svc server-lb -n mesh -o json |
			jq -r '.status.loadBalancer.ingress[0].ip // empty'
	fi
}
a_ip=$(ext_ip "$CLUSTER")
b_ip=$(ext_ip "$B")
expect_eq "$a_ip" "$(lbaddr "$ka" 100)" "cluster 1's EXTERNAL-IP"
expect_eq "$b_ip" "$(lbaddr "$kb" 100)" "cluster 2's EXTERNAL-IP"
ext_col=$(lbaddr "$ka" 100)
[ "$fam" = dual ] && ext_col="$ext_col,fd00:30::$ka:100"
row=$(actl get svc server-lb -n mesh)
grep -Eq "^server-lb +LoadBalancer +[0-9a-f.:]+ +$ext_col " <<<"$row" ||
	fail "get svc: no EXTERNAL-IP column of $ext_col: $row"
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
	row=$(kubectl --kubeconfig "/run/ambit/$CLUSTER/kube/kubeconfig" get svc server-lb -n mesh)
	grep -Eq "^server-lb +LoadBalancer +[0-9a-f.:]+ +$ext_col " <<<"$row" ||
		fail "kubectl get svc: no EXTERNAL-IP column of $ext_col: $row"
fi
a_url=http://$(url_host "$a_ip")
b_url=http://$(url_host "$b_ip")

# --- From the host: answered by the pod, which sees the host's address (kept, as a balancer with
# IP targets keeps it).
out=$(curl -sS --max-time 5 "$a_url/") || fail "curl $a_ip from the host: $out"
expect_contains "$out" "pod=mesh/server-0" "the host through cluster 1's address"
expect_contains "$out" "from=$host_addr " "the client's address kept"
out=$(curl -sS --max-time 5 "$b_url/") || fail "curl $b_ip from the host: $out"
expect_contains "$out" "pod=mesh/server-0" "the host through cluster 2's address"
if [ "$fam" = dual ]; then
	out=$(curl -sS --max-time 5 "http://[fd00:30::$ka:100]/") || fail "cluster 1's IPv6 address: $out"
	expect_contains "$out" "from=fd00:30::1 " "the host's IPv6 address kept"
fi

# --- Between the clusters (the same pod ranges): by the address alone, as the other's fabric; a
# meshed client (through its node's ztunnel) and a plain one alike.
for client in plain/client-0 mesh/client-0; do
	out=$(pod_exec "$client" curl -sS --max-time 5 "$b_url/") ||
		fail "$client: cluster 2's address: $out"
	expect_contains "$out" "pod=mesh/server-0" "$client to cluster 2"
	expect_contains "$out" "from=$(lbaddr "$ka" 1) " "$client to cluster 2, as cluster 1's fabric"
done
out=$(CLUSTER=$B pod_exec plain/client-0 curl -sS --max-time 5 "$a_url/") ||
	fail "cluster 2's client to cluster 1's address: $out"
expect_contains "$out" "from=$(lbaddr "$kb" 1) " "cluster 2 to cluster 1, as cluster 2's fabric"
# A pod to its own cluster's address (the answer comes back through the balancer).
out=$(pod_exec plain/client-0 curl -sS --max-time 5 "$a_url/") ||
	fail "cluster 1's client to its own cluster's address: $out"
expect_contains "$out" "pod=mesh/server-0" "hairpin"

# --- A port the Service does not have: refused at once (curl 7), not dropped (28).
rc=0
curl -sS --max-time 5 "$a_url:81/" >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 7 "curl's status for a port with no Service"

# --- ClusterIP: the address goes (from the Service and the fabric); LoadBalancer again: back.
sed -i 's/type: LoadBalancer/type: ClusterIP/' "$tmp/m/lb.yaml"
actl apply -f "$tmp/m/lb.yaml" >/dev/null || fail "apply ClusterIP"
wait_for 20 bash -c "[ -z \"\$(AMBIT_CLUSTER=$CLUSTER '$AMBITCTL' get svc server-lb -n mesh -o json | jq -r '.status.loadBalancer.ingress[0].ip // empty')\" ]" ||
	fail "the address stayed on a ClusterIP Service"
row=$(actl get svc server-lb -n mesh)
grep -Eq "^server-lb +ClusterIP +[0-9a-f.:]+ +<none> " <<<"$row" || fail "get svc after ClusterIP: $row"
if ip -n "ambit-$CLUSTER-fabric" -br addr show lb0 | grep -q " $a_ip/"; then
	fail "the fabric kept $a_ip"
fi
rc=0
curl -sS --max-time 5 "$a_url/" >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "the address still answered after the Service became ClusterIP"
sed -i 's/type: ClusterIP/type: LoadBalancer/' "$tmp/m/lb.yaml"
actl apply -f "$tmp/m/lb.yaml" >/dev/null || fail "apply LoadBalancer"
wait_for 20 bash -c "[ \"\$(AMBIT_CLUSTER=$CLUSTER '$AMBITCTL' get svc server-lb -n mesh -o json | jq -r '.status.loadBalancer.ingress[0].ip // empty')\" = $a_ip ]" ||
	fail "no address again after LoadBalancer"
wait_for 20 curl -sf --max-time 2 -o /dev/null "$a_url/" || fail "the address does not answer again"

# --- The network stays while a cluster is on it, and goes with the last.
b_down
[ ! -e "/run/ambit/.lbnet/$kb" ] || fail "cluster 2's place on the network stayed"
out=$(curl -sS --max-time 5 "$a_url/") || fail "cluster 1's address after cluster 2 went: $out"
cluster_down
others=$(ls /run/ambit/*/cluster.json 2>/dev/null | wc -l)
if [ "$others" = 0 ]; then
	wait_for 10 bash -c '! ip link show ambit-ext >/dev/null 2>&1 && [ ! -e /run/netns/ambit-external ]' ||
		fail "the LoadBalancer network stayed after the last cluster went"
fi
log "ok: EXTERNAL-IPs $a_ip and $b_ip; host, cross-cluster and hairpin reach them"
