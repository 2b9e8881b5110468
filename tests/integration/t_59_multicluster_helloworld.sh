#!/usr/bin/env bash
# Istio's multicluster verify and failover tasks (multi-primary, multi-network, ambient) on two
# local clusters whose only path to each other is their LoadBalancer addresses: one root with
# an intermediate per cluster (cacerts), network1 and network2, each with the east-west gateway
# of `gen-eastwest-gateway.sh --network N --ambient` applied unchanged, remote secrets made by
# `ambitctl create-remote-secret` and applied to the other cluster, and `remote-clusters`
# listing each synced; on --kube, Istio's commands as its pages type them (istioctl and kubectl
# with a context per cluster: create-remote-secret | kubectl apply, remote-clusters, kubectl
# label, annotate, scale). helloworld v1 runs in cluster 1 and v2 in cluster 2, the Service labelled
# istio.io/global=true in both; `curl helloworld.sample:5000/hello` from each cluster is answered
# by both versions: the other's through double HBONE (the client's ztunnel, the other network's
# gateway, the destination's ztunnel), whose inner tunnel carries the client's identity to the
# destination's policy. A Service not yet labelled global stays local; with PreferClose
# (networking.istio.io/traffic-distribution) cluster 1 stays in its network until, in the
# failover task, v1 is scaled to 0 and it gets v2 alone; a remote secret deleted takes the
# remote endpoints away.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multicluster_lib.sh"
need_root; need_bins; need_cmd openssl jq
SAMPLES=${ISTIO_SAMPLES:-/work/shared/istio/samples/samples}
GEN=$SAMPLES/multicluster/gen-eastwest-gateway.sh
[ -f "$GEN" ] || fail "no Istio multicluster samples at $SAMPLES"
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
B=${CLUSTER}b
b_down() { "$AMBITCTL" local down --name "$B" >/dev/null 2>&1 || true; }
trap_exit 'b_down; rm -rf "$tmp"'

mc_manifests "$tmp"
for k in 1 2; do
	bash "$GEN" --network "network$k" --ambient >"$tmp/m$k/eastwest.yaml" ||
		fail "gen-eastwest-gateway.sh"
done
# Cluster 2's network has a second east-west gateway: the two share its load.
sed 's/name: istio-eastwestgateway$/name: istio-eastwestgateway-2/' "$tmp/m2/eastwest.yaml" \
	>"$tmp/m2/eastwest-2.yaml"
# A global Service of cluster 2 alone (Istio needs it defined in the calling cluster too).
cat >"$tmp/m2/only-here.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: hello-east
  namespace: sample
  labels:
    istio.io/global: "true"
spec:
  ports:
  - port: 5000
    name: http
  selector:
    app: helloworld
EOF

# UDP: udp-echo, global in both clusters (a pod of each, named for its cluster), and udp-east,
# a global Service of cluster 2 alone.
global='{istio.io/global: "true"}'
for k in 1 2; do
	cp "$LIB_DIR/manifests/pods/udp-echo.py" "$tmp/m$k/pods/"
	udp_echo_yaml sample "udp-echo-c$k" 1 udp-echo "" "$global" >"$tmp/m$k/udp-echo.yaml"
done
udp_echo_yaml sample "" 0 udp-east "" "$global" >"$tmp/m2/udp-east.yaml"

cluster_up "$tmp/m1" 2 --network network1
"$AMBITCTL" local up -f "$tmp/m2" --name "$B" --nodes 2 --no-ingress --network network2 >&2 ||
	fail "local up of the second cluster"
A=$CLUSTER
wait_for 30 hello "$A" || fail "helloworld in cluster 1 never answered"
wait_for 30 hello "$B" || fail "helloworld in cluster 2 never answered"

# What Istio's pages type (multicluster_lib.sh: mc_kube, remote_secret, remote_clusters).
KUBE=${AMBIT_LOCAL_KUBE:-}
ISTIOCTL=$REPO/build/istioctl

# --- Remote secrets, as istioctl create-remote-secret makes them, each applied to the other.
on "$B" create-remote-secret --name "$B" >"$tmp/secret-b.yaml" || fail "create-remote-secret of cluster 2"
grep -q 'istio/multiCluster: "true"' "$tmp/secret-b.yaml" ||
	fail "the remote secret's label: $(cat "$tmp/secret-b.yaml")"
mc_link "$A" "$B"
# Where the other side reads it: a local cluster's directory, or on --kube its API server at
# its fabric's address on the LoadBalancer network, with Istio's reader's token.
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
	grep -Eq 'server: https://(172\.30\.|\[fd00:30::)' "$tmp/secret-b.yaml" ||
		fail "cluster 2's remote secret names no API server: $(cat "$tmp/secret-b.yaml")"
	grep -q ' token: ' "$tmp/secret-b.yaml" || fail "cluster 2's remote secret has no token"
else
	grep -q "server: file:///run/ambit/$B\$" "$tmp/secret-b.yaml" ||
		fail "cluster 2's remote secret: $(cat "$tmp/secret-b.yaml")"
fi
row=$(remote_clusters "$A" | head -1)
grep -Eq '^NAME +SECRET +STATUS +ISTIOD' <<<"$row" || fail "remote-clusters' header: $row"


# --- Not global yet: each cluster answers with its own version alone (LOCAL scope).
expect_eq "$(versions "$A" 6)" "v1 " "cluster 1 before the Service is global"

# --- The verify task: the Service global in both clusters.
mc_global "$A" "$B"
both() { [ "$(versions "$1" 8)" = "v1 v2 " ]; }
wait_for 30 both "$A" || fail "cluster 1's calls: $(versions "$A" 8)"
wait_for 30 both "$B" || fail "cluster 2's calls: $(versions "$B" 8)"
log "verify: both versions answer from each cluster"

# A global Service cluster 1 does not have is still reached by name from there (its address
# made there); cluster 2 answers it as any Service of its own.
east() { "$AMBITCTL" local exec --name "$1" sample/curl-0 -- curl -sS --max-time 5 hello-east.sample:5000/hello; }
wait_for 30 east "$A" || fail "hello-east from cluster 1: $(east "$A" 2>&1)"
expect_contains "$(east "$A")" "Hello version: v2" "hello-east from cluster 1"
expect_contains "$(east "$B")" "Hello version: v2" "hello-east in cluster 2"
ip=$(pod_exec sample/curl-0 getent hosts hello-east.sample.svc.cluster.local | awk '{print $1; exit}')
case $ip in 240.241.*|2001:2::f1f1:*) ;; *) fail "hello-east's address in cluster 1: '$ip'" ;; esac
# `ambitctl check` explains the route: cluster 2's share, through network2's gateway, its
# endpoints' identity, decided there.
out=$(actl check sample/curl-0 hello-east.sample:5000 2>&1) || fail "check of hello-east: $out"
log "check sample/curl-0 hello-east.sample:5000: $out"
expect_contains "$out" "routed share in cluster $B (network network2): 1 endpoint(s)" "check's remote share"
expect_contains "$out" "outer CONNECT hello-east.sample.svc.cluster.local:5000" "check's gateway line"
expect_contains "$out" "endpoints: spiffe://cluster.local/ns/sample/sa/" "check's remote identities"
expect_contains "$out" "decision:  that cluster's ztunnel's, by spiffe://cluster.local/ns/sample/sa/curl" \
	"check's remote decision"
j=$(actl check sample/curl-0 udp-echo.sample:7 --udp -o json 2>&1) || fail "check --udp of udp-echo: $j"
jq -e --arg b "$B" '[.[] | select(.cluster == $b and .network == "network2" and .routed and
	.protocol == "UDP" and .endpoints == 1)] | length == 1' <<<"$j" >/dev/null ||
	fail "check --udp -o json: no routed share of cluster 2: $j"

# UDP across the networks, as TCP goes: CONNECT-UDP inside the double HBONE. The kernel leaves an
# enrolled pod's datagrams to a global Service's VIP to the ztunnel, which balances the flows over
# both clusters (each `ask` one socket, one flow) and answers from the VIP.
udp_pods() {
	local i
	for i in $(seq 1 "$3"); do
		"$AMBITCTL" local exec --name "$1" sample/curl-0 -- pods/udp-echo.py ask "$2" 7 1 2>&1 |
			sed -n 's/^src=[^ ]* pod=sample\/\(udp-echo-c[0-9]\)-.*/\1/p; s/^timeout$/timeout/p'
	done | sort -u | tr '\n' ' '
}
udp_both() { [ "$(udp_pods "$A" udp-echo.sample 10)" = "udp-echo-c1 udp-echo-c2 " ]; }
wait_for 30 udp_both || fail "cluster 1's UDP flows to udp-echo: $(udp_pods "$A" udp-echo.sample 10)"
out=$("$AMBITCTL" local exec --name "$A" sample/curl-0 -- pods/udp-echo.py ask udp-east.sample 7 3 2>&1)
expect_eq "$(grep -c 'pod=sample/udp-echo-c2-.* got=' <<<"$out")" 3 "udp-east (cluster 2's alone) from cluster 1: $out"
src=$(sed -n 's/^src=\[\{0,1\}\([^] ]*\)\]\{0,1\}:7 .*/\1/p' <<<"$out" | sort -u)
pod_exec sample/curl-0 getent ahosts udp-east.sample.svc.cluster.local | awk '{print $1}' |
	grep -qxF "$src" || fail "udp-east's answers are not from its address ($src): $out"
# The destination's ztunnel saw the client's identity on the flows (Istio's series, reporter
# destination); the gateway carried them sealed.
udp_in() {
	local n
	for n in node1 node2; do on "$B" metrics --node "$n"; done |
		metric_sum "$(cat)" istio_tcp_received_bytes_total 'reporter="destination"' \
			'request_protocol="udp"' 'source_principal="spiffe://cluster.local/ns/sample/sa/curl"' \
			'destination_service="udp-east.sample.svc.cluster.local"'
}
udp_counted() { [ "$(udp_in)" -gt 0 ]; }
wait_for 10 udp_counted || fail "cluster 2's ztunnels counted no UDP of cluster 1's client to udp-east"
log "UDP: flows balanced over both clusters; a Service of cluster 2 alone answered from its address"

# The remote answer came through the other network's gateway, encrypted on the way: the
# destination's ztunnel saw the client's own identity (its access log names it).
on "$B" local logs sample/helloworld-v2-0 >/dev/null 2>&1 || true
grep -h 'spiffe://cluster.local/ns/sample/sa/curl' /run/ambit/"$B"/logs/*ztunnel*.log >/dev/null ||
	fail "cluster 2's ztunnel never saw cluster 1's client identity"
# ... and cluster 1's names the destination's, which its inner tunnel's TLS proved.
grep -h 'direction=outbound .*dst.identity=spiffe://cluster.local/ns/sample/sa/default dst.workload=helloworld-v2' \
	/run/ambit/"$A"/logs/*ztunnel*.log >/dev/null ||
	fail "cluster 1's ztunnel did not name the remote destination's identity: $(grep -h 'helloworld-v2' /run/ambit/"$A"/logs/*ztunnel*.log | tail -2)"

# The destination's policy decides on that identity: a DENY of it in cluster 2 refuses cluster
# 1's calls there (v1 still answers at home), never lets them through.
deny_curl >"$tmp/deny.yaml"
on "$B" apply -f "$tmp/deny.yaml" >/dev/null || fail "apply the DENY in cluster 2"
denied() { [ "$(versions "$A" 8)" = "error v1 " ]; }
wait_for 30 denied || fail "cluster 1's calls with cluster 2's DENY: $(versions "$A" 8)"
on "$B" delete -f "$tmp/deny.yaml" >/dev/null || fail "delete the DENY"
wait_for 30 both "$A" || fail "cluster 1's calls after the DENY went: $(versions "$A" 8)"

# --- A waypoint in cluster 1 for sample balances each request, not each connection, over the
# endpoints of both clusters (cluster 2's through network2's gateways, double HBONE from the
# waypoint): one client connection's requests get both versions, where Istio's waypoint pins
# them to one remote backend (istio/istio#58039).
on "$A" waypoint apply -n sample --enroll-namespace --wait >/dev/null || fail "waypoint apply in cluster 1"
wait_for 30 mixed "$A" || fail "one connection through cluster 1's waypoint: $(keepalive "$A")"
grep -qh 'inbound-vip|5000|http|helloworld.sample.svc.cluster.local' /run/ambit/"$A"/logs/sample_waypoint-*.log ||
	fail "cluster 1's waypoint did not serve helloworld: $(tail -3 /run/ambit/"$A"/logs/sample_waypoint-*.log)"
grep -qhE '"(240\.244\.[0-9.]+|\[fdff:a3b1:7e00::[0-9a-f]+\]):5000"' /run/ambit/"$A"/logs/sample_waypoint-*.log ||
	fail "cluster 1's waypoint logged no remote host: $(grep -h helloworld /run/ambit/"$A"/logs/sample_waypoint-*.log | tail -2)"
log "a waypoint balances one connection's requests over both clusters: $(keepalive "$A")"
# `ambitctl check` says so: cluster 2's share is reached from the waypoint, by its identity.
j=$(actl check sample/curl-0 helloworld.sample:5000 -o json 2>&1) || fail "check through the waypoint: $j"
jq -e --arg b "$B" '[.. | objects | select(.cluster? == $b and .routed and
	.identity == "spiffe://cluster.local/ns/sample/sa/waypoint")] | length == 1' <<<"$j" >/dev/null ||
	fail "check: cluster 2's share not reached from cluster 1's waypoint: $j"
# UDP through it too: the waypoint balances the flows over both clusters (cluster 2's in the
# double HBONE from the waypoint) and counts them.
wait_for 30 udp_both || fail "cluster 1's UDP flows through its waypoint: $(udp_pods "$A" udp-echo.sample 10)"
wp_udp() {
	local pod
	pod=$(on "$A" get pods -n sample -o name | sed -n 's|^pod/\(waypoint-.*\)|\1|p' | head -1)
	"$AMBITCTL" local exec --name "$A" "sample/$pod" -- curl -sf --max-time 3 \
		http://127.0.0.1:15020/metrics | metric_sum "$(cat)" istio_tcp_connections_opened_total \
		'reporter="waypoint"' 'request_protocol="udp"' \
		'destination_service="udp-echo.sample.svc.cluster.local"'
}
wp_counted() { [ "$(wp_udp)" -gt 0 ]; }
wait_for 10 wp_counted || fail "cluster 1's waypoint counted no UDP flow to udp-echo"

# Istio's failover task through the waypoint: outlierDetection and failoverPriority by cluster.
# Cluster 1's requests stay home while its v1 answers; v1 stopped (its pod serving nothing: each
# request to it a 5xx), the waypoint ejects it and sends them to cluster 2.
cat >"$tmp/failover.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
  namespace: sample
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 1m
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failoverPriority:
        - topology.istio.io/cluster
YAML
# In cluster 1 as its users apply there: kubectl on --kube.
in_a() { if [ "$KUBE" = 1 ]; then kubectl --context="$A" "$@"; else on "$A" "$@"; fi; }
in_a apply -f "$tmp/failover.yaml" >/dev/null || fail "apply the failover DestinationRule in cluster 1"
home() { [ "$(keepalive "$A")" = "v1=16 " ]; }
wait_for 30 home || fail "cluster 1's waypoint with failoverPriority: $(keepalive "$A")"
hello_deployment v1 1 | sed 's|command: \["pods/helloworld.py", "v1"\]|command: ["sleep", "infinity"]|' |
	in_a apply -f - >/dev/null || fail "stop v1 serving in cluster 1"
# The pod's template changed: its node replaces it (the process the new command), as a
# Deployment's rollout does; on --kube the change reaches the node through the API server.
v1pid() { cat "/run/ambit/$A/pods/sample_helloworld-v1-0.pid" 2>/dev/null; }
restart_v1() { # COMMAND
	runs() { tr '\0' ' ' <"/proc/$(v1pid)/cmdline" 2>/dev/null | grep -q -- "$1"; }
	wait_for 30 runs "$1" || fail "v1 in cluster 1 was not replaced to run $1"
}
restart_v1 sleep
away() { case $(keepalive "$A") in "v2=1"[5-6]" ") return 0 ;; esac; return 1; }
wait_for 30 away || fail "cluster 1's waypoint with v1 failing: $(keepalive "$A")"
log "failoverPriority: cluster 1's requests stay home, and fail over to cluster 2 when v1 fails: $(keepalive "$A")"
in_a delete -f "$tmp/failover.yaml" >/dev/null || fail "delete the failover DestinationRule"
hello_deployment v1 1 | in_a apply -f - >/dev/null || fail "restore v1 in cluster 1"
restart_v1 pods/helloworld.py

# --- A global Service's waypoint is global with it (Istio needs the waypoint's own Service
# labelled global by hand, istio/istio#58064). Cluster 1's gateway sends a stream for helloworld
# to the waypoint it is bound to there, unless the stream comes from a waypoint, so L7 runs in
# cluster 1's waypoint for cluster 2's calls too: its DENY of `x-deny: yes` refuses those that go
# to cluster 1, while cluster 2's own v2, with no waypoint in cluster 2, answers.
cat >"$tmp/deny-header.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-header
  namespace: sample
spec:
  targetRefs:
  - {kind: Service, group: "", name: helloworld}
  action: DENY
  rules:
  - when:
    - key: request.headers[x-deny]
      values: ["yes"]
YAML
in_a apply -f "$tmp/deny-header.yaml" >/dev/null || fail "apply the header DENY in cluster 1"
# answers CLUSTER N [CURL ARGS...]: what N calls from CLUSTER got, sorted, unique: the version
# that answered, "denied" (the waypoint's 403), or "error".
answers() {
	local c=$1 n=$2 i out
	shift 2
	for i in $(seq 1 "$n"); do
		out=$("$AMBITCTL" local exec --name "$c" sample/curl-0 -- curl -sS --max-time 5 "$@" \
			helloworld.sample:5000/hello 2>&1) || out="error: $out"
		sed -n 's/^Hello version: \(v[0-9]*\), instance: .*/\1/p; s/^RBAC: access denied.*/denied/p
			s/^error: .*/error/p' <<<"$out"
	done | sort -u | tr '\n' ' '
}
half() { [ "$(answers "$B" 8 -H 'x-deny: yes')" = "denied v2 " ]; }
wait_for 30 half || fail "cluster 2's calls with cluster 1's waypoint DENY: $(answers "$B" 8 -H 'x-deny: yes')"
# (The waypoint picks the least busy of two hosts at random: a try's few calls may all get one.)
b_both() { [ "$(answers "$B" 8)" = "v1 v2 " ]; }
wait_for 30 b_both || fail "cluster 2's calls without the header: $(answers "$B" 8)"
# Cluster 2's namespace asks for the waypoint, which only cluster 1 has: every call of cluster 2
# goes through it (to cluster 1's gateway, then its waypoint, which balances over both).
in_b() { if [ "$KUBE" = 1 ]; then kubectl --context="$B" "$@"; else on "$B" "$@"; fi; }
in_b label namespace sample istio.io/use-waypoint=waypoint >/dev/null || fail "label sample in cluster 2"
all_denied() { [ "$(answers "$B" 8 -H 'x-deny: yes')" = "denied " ]; }
wait_for 30 all_denied || fail "cluster 2 through cluster 1's waypoint: $(answers "$B" 8 -H 'x-deny: yes')"
wait_for 30 b_both || fail "cluster 2's calls through cluster 1's waypoint: $(answers "$B" 8)"
log "a global Service's waypoint is global with it: cluster 2's calls go through cluster 1's waypoint"
in_b label namespace sample istio.io/use-waypoint- >/dev/null || fail "unlabel sample in cluster 2"
in_a delete -f "$tmp/deny-header.yaml" >/dev/null || fail "delete the header DENY"
on "$A" label namespace sample istio.io/use-waypoint- >/dev/null || fail "unlabel sample in cluster 1"
on "$A" waypoint delete -n sample --all >/dev/null || fail "waypoint delete in cluster 1"
wait_for 30 both "$A" || fail "cluster 1's calls after its waypoint went: $(versions "$A" 8)"

# --- Both gateways of network2 carry cluster 1's calls; one that stops answering (its
# address refused in cluster 2's fabric, the gateway's pod left as it is: no control plane
# knows) is passed over and the other takes all, no call failing for long.
gw_ip() { on "$B" get svc "$1" -n istio-system -o json | jq -r '.status.loadBalancer.ingress[0].ip'; }
g1=$(gw_ip istio-eastwestgateway)
g2=$(gw_ip istio-eastwestgateway-2)
[ -n "$g1" ] && [ -n "$g2" ] && [ "$g1" != "$g2" ] || fail "the two gateways' addresses: '$g1' '$g2'"
zlog=/run/ambit/$A/logs/node1-ztunnel.log
for i in $(seq 1 12); do hello "$A" >/dev/null 2>&1 || true; done
for g in "$g1" "$g2"; do
	grep -F "dst.addr=$(url_host "$g"):15008 " "$zlog" | grep -q "dst.workload=helloworld-v2" ||
		fail "no call of cluster 1 went through gateway $g"
done
fam=ip
[[ $g2 == *:* ]] && fam=ip6
nsenter --net=/run/netns/ambit-"$B"-fabric nft -f - <<NFT || fail "nft: refuse gateway 2"
table inet t59_gw {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		$fam daddr $g2 tcp dport 15008 reject with tcp reset
	}
}
NFT
refused() { grep -cF "gateway $(url_host "$g2"):15008 did not answer" "$zlog"; }
n_before=$(refused)
all_ok() { [ "$(versions "$A" 8)" = "v1 v2 " ]; }
wait_for 20 all_ok || fail "cluster 1's calls with gateway 2 refusing: $(versions "$A" 8)"
expect_eq "$(versions "$A" 12)" "v1 v2 " "cluster 1's calls once gateway 2 is passed over"
[ "$(refused)" -gt "$n_before" ] || fail "cluster 1's ztunnel never said gateway 2 did not answer"
nsenter --net=/run/netns/ambit-"$B"-fabric nft delete table inet t59_gw || fail "nft: delete"
log "gateways: both carry the load; one refusing is passed over, no call lost"

# --- Cluster 2's endpoint stops answering behind a gateway that still does (HBONE into its
# node refused there; no control plane knows): cluster 1 passes that cluster's share over after
# the first failure, its calls answered by v1, and uses it again once it answers.
node_nft() { nsenter --net=/run/netns/ambit-"$B"-node2 nft "$@"; }
node_nft -f - <<NFT || fail "nft: refuse HBONE into cluster 2's node2"
table inet t59_ep {
	chain in {
		type filter hook input priority -300; policy accept;
		tcp dport 15008 reject with tcp reset
	}
}
NFT
only_v1() { [ "$(versions "$A" 8)" = "v1 " ]; }
wait_for 20 only_v1 || fail "cluster 1 with cluster 2's endpoint not answering: $(versions "$A" 8)"
expect_eq "$(versions "$A" 12)" "v1 " "cluster 1's calls while cluster 2's share is passed over"
grep -Eq "(answered [0-9]+: |failed behind its gateway .*; )that cluster's share passed over" "$zlog" ||
	fail "cluster 1's ztunnel never said cluster 2's share failed"
node_nft delete table inet t59_ep || fail "nft: delete"
wait_for 40 both "$A" || fail "cluster 2's share never came back: $(versions "$A" 8)"
log "a remote share that stopped answering is passed over, and taken back once it answers"

# --- Traffic distribution PreferClose (Istio's annotation, as its failover task sets it):
# cluster 1's calls stay in its network while it has an endpoint...
if [ "$KUBE" = 1 ]; then
	kubectl annotate svc helloworld -n sample networking.istio.io/traffic-distribution=PreferClose \
		--context="$A" >/dev/null || fail "kubectl annotate PreferClose"
else
	sed 's/^  name: helloworld$/  name: helloworld\n  annotations:\n    networking.istio.io\/traffic-distribution: PreferClose/; s/^    service: helloworld$/    service: helloworld\n    istio.io\/global: "true"/' \
		"$LIB_DIR/manifests-mc/sample.yaml" | on "$A" apply -f - >/dev/null || fail "PreferClose"
fi
only() { [ "$(versions "$1" 6)" = "$2 " ]; }
wait_for 30 only "$A" v1 || fail "cluster 1 with PreferClose: $(versions "$A" 6)"
expect_eq "$(versions "$B" 8)" "v1 v2 " "cluster 2 (its Service without PreferClose)"

# --- ... and the failover task: v1 scaled to 0 in cluster 1, which then gets v2 alone.
if [ "$KUBE" = 1 ]; then
	kubectl scale deployment helloworld-v1 -n sample --replicas=0 --context="$A" >/dev/null ||
		fail "kubectl scale helloworld-v1 to 0"
else
	hello_deployment v1 0 | on "$A" apply -f - >/dev/null || fail "scale helloworld-v1 to 0"
fi
wait_for 30 only "$A" v2 || fail "cluster 1 after v1 scaled to 0: $(versions "$A" 6)"
wait_for 30 only "$B" v2 || fail "cluster 2 after v1 scaled to 0: $(versions "$B" 6)"
log "PreferClose keeps cluster 1 home; failover: with v1 gone both get v2 alone"

# --- On --kube, cluster 2's API server gone (stopped: it answers nothing, as one partitioned
# away): cluster 1 says so and keeps serving with what it knew (cluster 2's data path needs none
# of it). Back: cluster 1 says synced again and follows what cluster 2 changes after.
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
	api=$(cat "/run/ambit/$B/kube/apiserver.pid")
	# Never left stopped: `local down` would wait on it.
	trap_exit "kill -CONT $api 2>/dev/null; $EXIT_CLEANUP"
	kill -STOP "$api" || fail "stop cluster 2's API server"
	failed() { remote_clusters "$A" 2>/dev/null | grep -Eq "^$B +istio-system/istio-remote-secret-$B +failed "; }
	wait_for 20 failed || fail "cluster 1's remote-clusters with cluster 2's API server down: $(remote_clusters "$A" 2>&1)"
	expect_eq "$(versions "$A" 6)" "v2 " "cluster 1's calls with cluster 2's API server down"
	kill -CONT "$api" || fail "resume cluster 2's API server"
	synced() { remote_clusters "$A" 2>/dev/null | grep -Eq "^$B +istio-system/istio-remote-secret-$B +synced "; }
	wait_for 30 synced || fail "cluster 1's remote-clusters with cluster 2's API server back: $(remote_clusters "$A" 2>&1)"
	kubectl scale deployment helloworld-v2 -n sample --replicas=0 --context="$B" >/dev/null ||
		fail "kubectl scale helloworld-v2 to 0 in cluster 2"
	none() { ! hello "$A" >/dev/null 2>&1; }
	wait_for 30 none || fail "cluster 1 still reaches v2 after cluster 2 scaled it to 0: $(versions "$A" 6)"
	kubectl scale deployment helloworld-v2 -n sample --replicas=1 --context="$B" >/dev/null ||
		fail "kubectl scale helloworld-v2 to 1 in cluster 2"
	wait_for 30 only "$A" v2 || fail "cluster 1 after cluster 2 scaled v2 back: $(versions "$A" 6)"
	log "cluster 2's API server down: cluster 1 says failed and keeps serving; back: synced, and follows cluster 2's scaling"
fi

# --- A remote secret deleted: its cluster's endpoints are gone within seconds.
if [ "$KUBE" = 1 ]; then
	kubectl delete secret "istio-remote-secret-$B" -n istio-system --context="$A" >/dev/null ||
		fail "kubectl delete cluster 2's remote secret"
else
	on "$A" delete -f "$tmp/secret-b.yaml" >/dev/null || fail "delete cluster 2's remote secret"
fi
gone() { ! hello "$A"; }
wait_for 15 gone || fail "cluster 1 still reaches cluster 2 without its remote secret"
remote_clusters "$A" | grep -q "istio-remote-secret-$B" &&
	fail "remote-clusters still lists cluster 2: $(remote_clusters "$A")"
log "ok: verify and failover across two networks; a deleted remote secret takes its endpoints"
