#!/usr/bin/env bash
# Shell helpers for integration tests on the local cluster. Source it from a t_*.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   need_root; need_bins
#   cluster_up manifests            # unique name, torn down by an EXIT trap (also on failure)
#   wait_for 20 pod_exec mesh/client-0 curl -sf http://server/
#   out=$(pod_exec mesh/client-0 curl -s http://server/) || fail "curl failed"
#   expect_contains "$out" "pod=mesh/server-0"
#   pass
#
# Exit codes: 0 pass, 1 fail, 77 skip (as run.sh and automake expect).

set -u

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LIB_DIR/../.." && pwd)
AMBITCTL=${AMBITCTL:-$REPO/build/ambitctl}
TEST_NAME=$(basename "${0%.sh}")
# Unique per test run: a-z0-9- only, short (it names netns, cgroups and pins).
CLUSTER=${CLUSTER:-it$$}
export AMBIT_CLUSTER=$CLUSTER
CLUSTER_IS_UP=0

log() { echo "[$TEST_NAME] $*" >&2; }

# keep_artifacts FILE...: what a test shows a person (its screenshots) copied to
# $AMBIT_IT_ARTIFACTS/<test>/ (run.sh: build/it-artifacts, left after the run), and where said.
keep_artifacts() {
	[ -n "${AMBIT_IT_ARTIFACTS:-}" ] || return 0
	local dir=$AMBIT_IT_ARTIFACTS/$TEST_NAME
	mkdir -p "$dir" && cp "$@" "$dir/" || fail "artefacts not copied to $dir"
	log "kept in $dir: $(cd "$dir" && ls | tr '\n' ' ')"
}

# How the test ended, as fail/skip/pass said it; on_exit cannot rely on $? because tests chain
# their own cleanup before it in the trap (trap 'rm -f "$tmp"; on_exit' EXIT).
LIB_RC=

fail() {
	log "FAIL: $*"
	LIB_RC=1
	exit 1
}

skip() {
	log "SKIP: $*"
	# run.sh reports the reason (and fails the skip where nothing may be missing).
	[ -n "${AMBIT_SKIP_REASON_FILE:-}" ] && printf '%s\n' "$*" >"$AMBIT_SKIP_REASON_FILE"
	LIB_RC=77
	exit 77
}

# A --kube cluster's API server logs each request its RBAC refused (tests/k8s/fake_rbac.py): a
# test passes only if no piece was refused anything, whatever the piece made of the 403, so every
# --kube test runs under the manifests' RBAC. KUBE_RBAC_ASKED: a regex (grep -E) of the refusals
# the test asked for itself.
rbac_refusals_check() {
	local log=/run/ambit/$CLUSTER/logs/apiserver.log denied
	[ "$CLUSTER_IS_UP" = 1 ] && [ -f "$log" ] || return 0
	denied=$(grep 'fake_apiserver: forbidden:' "$log" | grep -Ev "${KUBE_RBAC_ASKED:-^$}" |
		sort | uniq -c | head -5)
	[ -z "$denied" ] || fail "refused by the manifests' RBAC (apiserver.log): $denied"
}

pass() {
	rbac_refusals_check
	log "PASS"
	LIB_RC=0
	exit 0
}

need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "needs $c"
	done
}

# The binaries ambitctl will run (it honours AMBIT_AGENT_BIN / AMBIT_ZTUNNEL_BIN).
need_bins() {
	local b
	for b in "$AMBITCTL" "${AMBIT_AGENT_BIN:-$REPO/build/ambit-agent}" \
		"${AMBIT_ZTUNNEL_BIN:-$REPO/build/ztunnel}"; do
		[ -f "$b" ] && [ -x "$b" ] || skip "$b not built (make)"
	done
}

# ambitctl against this test's cluster.
actl() { "$AMBITCTL" "$@"; }

# Shows what a failing test needs to be debugged, before the cluster (and its logs) go away.
dump_cluster_state() {
	local f
	log "--- cluster $CLUSTER state at failure"
	actl local status >&2 2>&1 || true
	# AMBIT_IT_SAVE_LOGS=DIR keeps every log whole (DIR/<cluster>/), for a failure seen rarely.
	[ -n "${AMBIT_IT_SAVE_LOGS:-}" ] && cp -r /run/ambit/"$CLUSTER"/logs "$AMBIT_IT_SAVE_LOGS/$CLUSTER" || true
	for f in /run/ambit/"$CLUSTER"/logs/*.log; do
		[ -f "$f" ] || continue
		echo "--- $(basename "$f") (last 20 lines)" >&2
		tail -n 20 "$f" >&2
	done
}

cluster_down() {
	[ "$CLUSTER_IS_UP" = 1 ] || return 0
	CLUSTER_IS_UP=0
	"$AMBITCTL" local down --name "$CLUSTER" >/dev/null 2>&1 || "$AMBITCTL" local down --name "$CLUSTER" >&2
}

# The EXIT trap. It never calls exit itself, so the test's own exit status stands.
on_exit() {
	local rc=${LIB_RC:-$?}
	fabric_capture_stop
	fabric_bg_stop
	# Only failures (not skips) get the state dump.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$CLUSTER_IS_UP" = 1 ]; then
		dump_cluster_state
	fi
	cluster_down
	rm -f "$FREE_PORTS_FILE"
}

# trap_exit CMDS: at exit CMDS (the test's own cleanup: a second cluster, its temporary files)
# run, then on_exit, which sees the test's exit status (a failure dumps the cluster's state);
# cluster_up keeps them (a test that sets its own trap otherwise has it replaced there).
EXIT_CLEANUP=
trap_exit() {
	EXIT_CLEANUP=$1
	trap 'LIB_RC=$?; eval "$EXIT_CLEANUP"; on_exit' EXIT
}

# cluster_up DIR [NODES [ARG...]]: brings the cluster up from manifests DIR (relative to this
# directory or absolute), with more `local up` arguments if given (--cni bridge), and arms the
# teardown trap first, so a half-made cluster is removed too. Without the ingress gateway
# (--no-ingress) unless CLUSTER_INGRESS=1: the tests of other things count their own pods.
cluster_up() {
	local dir=$1 nodes=${2:-2} ingress=--no-ingress
	shift $(($# < 2 ? $# : 2))
	case $dir in /*) ;; *) dir=$LIB_DIR/$dir ;; esac
	[ "${CLUSTER_INGRESS:-0}" = 1 ] && ingress=
	trap 'LIB_RC=$?; eval "$EXIT_CLEANUP"; on_exit' EXIT
	trap 'exit 130' INT TERM
	CLUSTER_IS_UP=1
	"$AMBITCTL" local up -f "$dir" --name "$CLUSTER" --nodes "$nodes" $ingress "$@" >&2 ||
		fail "local up -f $dir $* failed"
}

# pod_exec POD CMD...: runs CMD inside the pod (its netns and cgroup: captured like the pod).
# udp_echo_yaml NAMESPACE DEPLOYMENT REPLICAS SERVICE [SPEC_LINE] [LABELS]: the echo pods
# (pods/udp-echo.py, UDP on their named port 7007) as Deployment DEPLOYMENT of REPLICAS (none
# when ""), and Service SERVICE (none when ""), UDP port 7 to them, SPEC_LINE (as
# `ipFamilyPolicy: PreferDualStack`) in its spec, LABELS (as `{istio.io/global: "true"}`) its
# labels.
udp_echo_yaml() {
	[ -z "$2" ] || cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $2, namespace: $1}
spec:
  replicas: $3
  selector: {matchLabels: {app: udp-echo}}
  template:
    metadata: {labels: {app: udp-echo}}
    spec:
      containers:
      - name: echo
        command: ["pods/udp-echo.py", "serve", "7007"]
        ports: [{name: echo, containerPort: 7007, protocol: UDP}]
YAML
	[ -n "$4" ] || return 0
	cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: $4, namespace: $1, labels: ${6:-{\}}}
spec:
  ${5:-}
  selector: {app: udp-echo}
  ports: [{name: echo, port: 7, protocol: UDP, targetPort: echo}]
YAML
}

# udp_echo_apply REPLICAS [SPEC_LINE]: Service mesh/udp-echo and its Deployment of REPLICAS echo
# pods (udp_echo_yaml).
udp_echo_apply() {
	udp_echo_yaml mesh udp-echo "$1" udp-echo "${2:-}" | actl apply -f - >&2
}

pod_exec() {
	local pod=$1
	shift
	"$AMBITCTL" local exec --name "$CLUSTER" "$pod" -- "$@"
}

# node_exec NODE CMD...: runs CMD in a node's netns (nsenter keeps /sys/fs/bpf visible).
node_exec() {
	local node=$1
	shift
	nsenter --net=/run/netns/ambit-"$CLUSTER"-"$node" "$@"
}

# wait_for SECONDS CMD...: retries CMD (quietly) every 0.2 s until it succeeds or time runs out.
wait_for() {
	local secs=$1 end
	shift
	end=$(($(date +%s) + secs))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s)" -ge "$end" ] && break
		sleep 0.2
	done
	log "timed out after ${secs}s waiting for: $*"
	return 1
}

# wait_log SECONDS POD|nodeN-agent|nodeN-ztunnel REGEX: waits for a line in that log.
wait_log() {
	local secs=$1 what=$2 re=$3
	wait_for "$secs" bash -c '"$1" local logs --name "$2" "$3" | grep -Eq -- "$4"' _ \
		"$AMBITCTL" "$CLUSTER" "$what" "$re"
}

# node_run NODE: the node's /run/ambit as seen from the host (the DaemonSet's hostPath with --kube).
node_run() {
	if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
		echo "/run/ambit/$CLUSTER/$1/run-ambit"
	else
		echo "/run/ambit/$CLUSTER/$1"
	fi
}

# Path of a node's pinned map (for bpftool).
pin_path() {
	if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then # the DaemonSet's /sys/fs/bpf/ambit/node
		echo "/sys/fs/bpf/ambit/$CLUSTER-$1_fs/ambit/node/$2"
	else
		echo "/sys/fs/bpf/ambit/$CLUSTER-$1/$2"
	fi
}

expect_eq() {
	[ "$1" = "$2" ] || fail "${3:-values differ}: got '$1', want '$2'"
}

expect_contains() {
	case $1 in *"$2"*) ;; *) fail "${3:-missing text}: '$2' not in: $1" ;; esac
}

expect_not_contains() {
	case $1 in *"$2"*) fail "${3:-unexpected text}: '$2' in: $1" ;; *) ;; esac
}

# pod_ip NS/POD: the pod's IP (from the cluster's pod table): its IPv4, or in an IPv6 cluster
# (AMBIT_LOCAL_IP_FAMILY=ipv6) its IPv6, the one address it has (URLs want it in brackets).
pod_ip() {
	actl local status 2>/dev/null | awk -v p="$1" '$1 == p { print $3; exit }'
}

# url_host ADDR: ADDR as a URL's (or socat's) host: an IPv6 address in brackets (pod_ip gives
# one in an IPv6-only cluster).
url_host() {
	case $1 in *:*) echo "[$1]" ;; *) echo "$1" ;; esac
}

# cluster_cni: the running cluster's --cni (routed, or bridge: its pods captured in-pod).
cluster_cni() {
	jq -r '.cni // "routed"' "/run/ambit/$CLUSTER/cluster.json" 2>/dev/null || echo routed
}

# cluster_ip_family: the running cluster's --ip-family (ipv4, dual or ipv6).
cluster_ip_family() {
	jq -r '.ipFamily // "ipv4"' "/run/ambit/$CLUSTER/cluster.json" 2>/dev/null || echo ipv4
}

# pod_addr NS/POD: the address the pod's connections to a Service of both families come from:
# its IPv6 in a dual-stack cluster (clients try IPv6 first, RFC 8305) and in an IPv6 one (its
# only address, as pod_ip gives it), else its IPv4.
pod_addr() {
	local six
	case $(cluster_ip_family) in
	dual)
		six=$(actl get pod "${1#*/}" -n "${1%/*}" -o json | jq -r '.status.podIPs[1].ip // empty')
		[ -n "$six" ] && { echo "$six"; return; }
		;;
	ipv6)
		six=$(actl get pod "${1#*/}" -n "${1%/*}" -o json | jq -r '.status.podIPs[0].ip // empty')
		[ -n "$six" ] && { echo "$six"; return; }
		;;
	*) ;;
	esac
	pod_ip "$1"
}

# mesh_waypoint_up: namespace mesh's waypoint (`waypoint apply --enroll-namespace`), applied once
# mesh/client-0 reaches http://server/ without it; returns when the client's requests to the
# server go through it, with its IP in $wp_ip.
mesh_waypoint_up() {
	local out
	wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ ||
		fail "server never answered before the waypoint"
	out=$(actl waypoint apply -n mesh --enroll-namespace 2>&1) || fail "apply: $out"
	wait_for 60 mesh_waypoint_ready || fail "the waypoint never ran"
	wp_ip=$(pod_addr mesh/waypoint-0)
	wait_for 30 mesh_via_waypoint || fail "no answer through the waypoint"
}
mesh_waypoint_ready() { actl waypoint list -n mesh | grep -Eq '^mesh +waypoint +service .* 1 +True$'; }
mesh_via_waypoint() {
	pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ | grep -q "from=$wp_ip"
}

# free_port: a TCP port free now, below the kernel's ephemeral range (no outgoing connection
# takes it before the server binds it), and never one this test was given before: the kernel
# may hand one free port to two calls in a row (a fresh-clone run once forwarded two of t_79's
# ports from the same number). The ports given are kept in a file of the test's own.
FREE_PORTS_FILE=${TMPDIR:-/tmp}/ambit-it-ports.$$
free_port() { free_ports 1; }
# free_ports N: N such ports on one line.
free_ports() {
	/usr/bin/python3 "$REPO/tools/freeports.py" "$1" "$FREE_PORTS_FILE"
}

# node_metrics NODE: the Prometheus text of that node's ztunnel.
node_metrics() { actl metrics --node "$1"; }

# metric_sum TEXT NAME [label="value" ...]: sum of the samples of NAME whose labels contain every
# given label="value" (0 when none); printed as an integer when the sum is one.
metric_sum() {
	local text=$1 name=$2
	shift 2
	printf '%s\n' "$text" | awk -v name="$name" -v want="$(printf '%s\034' "$@")" '
		BEGIN { n = split(want, labels, "\034") }
		$1 == name || index($1, name "{") == 1 {
			for (i = 1; i < n; i++) if (labels[i] != "" && index($0, labels[i]) == 0) next
			sum += $NF
		}
		END { if (sum == int(sum)) printf "%d\n", sum; else printf "%s\n", sum }'
}

# fabric_capture_start PCAP: records every TCP packet crossing the fabric bridge (between the
# nodes) into PCAP until fabric_capture_stop (on_exit stops it too).
FABRIC_CAP_PID=
# fabric_capture_start PCAP [FILTER]: what crosses the fabric (FILTER: tcpdump's, tcp by default).
fabric_capture_start() {
	local pcap=$1 filter=${2:-tcp} errf ns=ambit-$CLUSTER-fabric dev=br0
	errf=$(mktemp /tmp/ambit-it-XXXXXX)
	# --cni bridge carries pods' packets across nodes inside VXLAN: they are seen decapsulated on
	# node2's tunnel end (in a two-node cluster, all that crosses the fabric passes there).
	if [ "$(cluster_cni)" = bridge ]; then
		ns=ambit-$CLUSTER-node2 dev=flannel.1
	fi
	ip netns exec "$ns" tcpdump -i "$dev" -nn -s 0 -U --immediate-mode -w "$pcap" $filter 2>"$errf" &
	FABRIC_CAP_PID=$!
	# tcpdump says "listening on" once the capture is armed.
	wait_for 5 grep -q 'listening on' "$errf" || { rm -f "$errf"; fail "tcpdump did not start"; }
	rm -f "$errf"
}

fabric_capture_stop() {
	[ -n "$FABRIC_CAP_PID" ] || return 0
	kill -INT "$FABRIC_CAP_PID" 2>/dev/null
	wait "$FABRIC_CAP_PID" 2>/dev/null
	FABRIC_CAP_PID=
}

# fabric_bg CMD...: runs CMD in the background in the fabric netns, outside the mesh at
# $FABRIC_IP, which every node routes to (an external server, a resolver); on_exit stops it.
# An IPv6 cluster's nodes have no IPv4: there it is the fabric's IPv6 (the nodes' resolver).
FABRIC_IP=10.99.0.1
[ "${AMBIT_LOCAL_IP_FAMILY:-}" = ipv6 ] && FABRIC_IP=fd00:99::1
CLUSTER_DNS_IP=10.99.0.2 # the cluster's DNS (dnsmasq in the fabric): every pod's nameserver
CLUSTER_DNS_IP6=fd00:99::2 # its IPv6: the nameserver of the pods of an IPv6 cluster
FABRIC_BG_PIDS=()
FABRIC_BG_DIR=
fabric_bg() {
	nsenter --net=/run/netns/ambit-"$CLUSTER"-fabric "$@" &
	FABRIC_BG_PIDS+=($!)
}
# fabric_http PORT TEXT: an HTTP server on $FABRIC_IP:PORT answering TEXT.
fabric_http() {
	[ -n "$FABRIC_BG_DIR" ] || FABRIC_BG_DIR=$(mktemp -d /tmp/ambit-it-XXXXXX)
	mkdir -p "$FABRIC_BG_DIR/$1"
	echo "$2" >"$FABRIC_BG_DIR/$1/index.html"
	fabric_bg python3 -m http.server --bind "$FABRIC_IP" --directory "$FABRIC_BG_DIR/$1" "$1" \
		>/dev/null 2>&1
}
fabric_bg_stop() {
	local p
	for p in "${FABRIC_BG_PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	FABRIC_BG_PIDS=()
	[ -z "$FABRIC_BG_DIR" ] || rm -rf "$FABRIC_BG_DIR"
	FABRIC_BG_DIR=
}

# fake_api_up DIR TOKEN [ARGS...]: the fake Kubernetes API server (tests/k8s/fake_apiserver.py)
# on a loopback port with ARGS, its log in DIR/api.log; sets $port and $api_pid and writes
# DIR/kubeconfig (the caller stops it with the rest of its processes).
fake_api_up() {
	local dir=$1 token=$2
	shift 2
	# FAKE_API_NETNS=PATH: in that network namespace (a node's, where CNI plugins run).
	${FAKE_API_NETNS:+nsenter --net="$FAKE_API_NETNS"} \
		/usr/bin/python3 "$REPO/tests/k8s/fake_apiserver.py" --listen 127.0.0.1:0 \
		--port-file "$dir/port" --token "$token" "$@" >"$dir/api.log" 2>&1 &
	api_pid=$!
	wait_for 10 test -s "$dir/port" || fail "the API server did not start: $(cat "$dir/api.log")"
	port=$(cat "$dir/port")
	cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://127.0.0.1:$port"}}]
users: [{name: admin, user: {token: $token}}]
contexts: [{name: fake, context: {cluster: fake, user: admin}}]
current-context: fake
EOF
}

# kube_api PATH [METHOD] [CURL ARGS...]: the answer of a `local up --kube` cluster's API server
# to PATH, asked as ambitctl asks it (the admin's token, from the fabric netns).
kube_api() {
	local path=$1 method=${2:-GET} run=/run/ambit/$CLUSTER token
	shift $(($# < 2 ? $# : 2))
	token=$(awk '$1 == "token:" {print $2}' "$run/kube/kubeconfig")
	nsenter --net=/run/netns/ambit-"$CLUSTER"-fabric curl -sS --max-time 5 \
		--cacert "$run/kube/ca.crt" -H "Authorization: Bearer $token" -X "$method" "$@" \
		"https://$(url_host "$FABRIC_IP"):6443$path"
}

# mkleaf CA_CERT CA_KEY SAN OUT: an ECDSA P-256 client certificate with one URI SAN, OUT.pem
# and OUT.key.
mkleaf() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$4.key" \
		-out "$4.csr" -subj /O=ambit-test 2>/dev/null || return 1
	printf 'subjectAltName=critical,URI:%s\nextendedKeyUsage=clientAuth,serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n' \
		"$3" >"$4.ext"
	openssl x509 -req -in "$4.csr" -CA "$1" -CAkey "$2" -CAcreateserial -days 1 \
		-out "$4.pem" -extfile "$4.ext" 2>/dev/null
}

# foreign_ca DIR: a CA the mesh does not know, DIR/foreign-ca.pem and DIR/foreign-ca.key.
foreign_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/foreign-ca.key" -out "$1/foreign-ca.pem" -days 1 -subj /CN=foreign \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
}

# plugged_ca, intermediate_ca, plugged_intermediate: Istio's plug-in CA (the bench makes the
# same).
. "$(dirname "${BASH_SOURCE[0]}")/cacerts_lib.sh"

# cacerts_secret DIR OUT: the Secret istio-system/cacerts of plugged_ca's files in DIR, as
# `kubectl create secret generic cacerts -n istio-system --from-file=...` makes it, into OUT.
cacerts_secret() {
	actl create secret generic cacerts -n istio-system --from-file="$1/ca-cert.pem" \
		--from-file="$1/ca-key.pem" --from-file="$1/root-cert.pem" \
		--from-file="$1/cert-chain.pem" --dry-run -o yaml >"$2"
}

# mesh_root DIR: the mesh root's root-cert.pem and root-key.pem into DIR: the local CA's files,
# or with --kube the Secret `ambitctl install` keeps them in (no node holds the key).
mesh_root() {
	if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
		local f
		for f in root-cert.pem root-key.pem; do
			kube_api /api/v1/namespaces/ambit-system/secrets/ambit-ca-root |
				jq -r --arg f "$f" '.data[$f]' | base64 -d >"$1/$f" || return 1
		done
	else
		cp "/run/ambit/$CLUSTER/ca/root-cert.pem" "/run/ambit/$CLUSTER/ca/root-key.pem" "$1/"
	fi
}

# kubectl_debian DIR: Debian's kubectl (kubernetes-client, 1.20) fetched with `apt-get download`
# into DIR and unpacked there, never installed (it would replace the machine's own); its path on
# stdout.
kubectl_debian() {
	local dir=$1
	chmod 755 "$dir" # apt-get download writes as _apt where it can
	(cd "$dir" && apt-get download -q kubernetes-client >"$dir/apt.log" 2>&1) ||
		fail "apt-get download kubernetes-client: $(tail -5 "$dir/apt.log")"
	dpkg-deb -x "$dir"/kubernetes-client_*.deb "$dir/x" || fail "dpkg-deb -x kubernetes-client"
	[ -x "$dir/x/usr/bin/kubectl" ] || fail "no usr/bin/kubectl in kubernetes-client"
	echo "$dir/x/usr/bin/kubectl"
}
