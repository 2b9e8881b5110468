# Helpers of the tests of the ingress gateway run on its own, `waypoint --config` on the model
# `ambitctl waypoint config` gives for its pod (t_79_gateway_standalone*.sh; sourced after
# lib.sh): a network namespace of the test's own, a certificate for gw.test, the Istio objects
# every such test starts from, and the gateway's process.

# gw_standalone_setup ARG...: skips without root or the tools, fails without the binaries; runs
# the test again (with ARGs) in a network namespace of its own, where it brings lo up. Then: tmp
# (removed at exit, with the processes of pids and gw_pid killed; the gateway's log shown on
# failure), and a certificate for gw.test ($tmp/cert.pem, $tmp/key.pem).
gw_standalone_setup() {
	local b
	need_root
	need_cmd python3 curl openssl unshare ip
	WAYPOINT=$REPO/build/waypoint
	for b in "$AMBITCTL" "$WAYPOINT"; do
		[ -x "$b" ] || fail "$b not built (make)"
	done
	if [ -z "${T79_NETNS:-}" ]; then
		T79_NETNS=1 exec unshare -n bash "$0" "$@"
	fi
	ip link set lo up || fail "lo up"
	tmp=$(mktemp -d)
	pids=()
	gw_pid=
	trap gw_standalone_cleanup EXIT

	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=gw.test \
		-addext subjectAltName=DNS:gw.test -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null ||
		fail "openssl could not make a certificate"
}

gw_standalone_cleanup() {
	local p
	if [ "${LIB_RC:-}" != 0 ] && [ -f "$tmp/gateway.log" ]; then
		log "gateway log (tail):"
		tail -20 "$tmp/gateway.log" >&2
	fi
	[ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}

# gw_world SERVERS: the gateway's pod istio-system/igw-0 (127.0.0.1, istio: ingressgateway), the
# backend (Service it/web, port 80 -> 18080 of its pod web-0 at 127.0.0.2), the Secret cred of
# the certificate (when $tmp/cert.pem is there), Gateway gw with SERVERS (YAML list items) and
# the VirtualService of gw.test to web. Also tools/bench/conns.sh's gateway.
gw_world() {
	cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: igw-0, namespace: istio-system, labels: {istio: ingressgateway}}
spec: {containers: [{name: c}]}
status: {podIP: 127.0.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: it}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 18080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: it, labels: {app: web}}
spec: {containers: [{name: c}]}
status: {podIP: 127.0.0.2}
---
YAML
	[ -f "$tmp/cert.pem" ] && cat <<YAML
apiVersion: v1
kind: Secret
metadata: {name: cred, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: $(base64 -w0 <"$tmp/cert.pem"), tls.key: $(base64 -w0 <"$tmp/key.pem")}
---
YAML
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: it}
spec:
  selector: {istio: ingressgateway}
  servers:
$1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: it}
spec:
  hosts: [gw.test]
  gateways: [gw]
  http: [{route: [{destination: {host: web}}]}]
YAML
}

# gw_ingress_policy RULES: an AuthorizationPolicy selecting the gateway, with RULES (a YAML flow
# list), as a further document.
gw_ingress_policy() {
	cat <<YAML
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules: $1
YAML
}

# gw_start ARG [ACCESS_LOG]: the gateway on the model of `world ARG` (the test's own function;
# $tmp/world.yaml, $tmp/gw.json), one worker, its access log to ACCESS_LOG (/dev/null) and its
# errors to $tmp/gateway.log; its pid in gw_pid.
gw_start() {
	world "$1" >"$tmp/world.yaml"
	actl waypoint config -f "$tmp/world.yaml" -n istio-system --name igw-0 >"$tmp/gw.json" ||
		fail "waypoint config of the gateway"
	"$WAYPOINT" --config "$tmp/gw.json" --workers 1 >"${2:-/dev/null}" 2>"$tmp/gateway.log" &
	gw_pid=$!
}

gw_stop() {
	kill "$gw_pid" 2>/dev/null
	wait "$gw_pid" 2>/dev/null
	gw_pid=
}
