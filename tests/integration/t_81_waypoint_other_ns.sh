#!/usr/bin/env bash
# Istio's task "use a waypoint in a different namespace" on the local cluster (issue 38 §2.2):
# a waypoint in common-infrastructure whose HBONE listener admits namespaces by
# kubernetes.io/metadata.name (the label the API server, and so ambit's loader, puts on every
# Namespace), a namespace naming it with istio.io/use-waypoint and
# istio.io/use-waypoint-namespace: its Service is reached through that waypoint. A namespace the
# listener does not admit binds nothing, and `waypoint status` and `analyze` say which label
# asked for which waypoint and why it was refused (Istio's AttachmentDenied).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
cluster_up manifests
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT

# A server in namespace $1 (enrolled, naming the task's waypoint), on node2.
consumer() {
	cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $1
  labels:
    istio.io/dataplane-mode: ambient
    istio.io/use-waypoint: egress-gateway
    istio.io/use-waypoint-namespace: common-infrastructure
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: $1
spec:
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  namespace: $1
spec:
  replicas: 1
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      nodeName: node2
      containers:
      - name: echo
        image: debian-nginx
        command: ["pods/echo-server.sh"]
YAML
}
# The task's waypoint, as it writes it.
cat >"$WORK/waypoint.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: common-infrastructure
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: egress-gateway
  namespace: common-infrastructure
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: cross-namespace-waypoint-consumer
YAML
consumer cross-namespace-waypoint-consumer >"$WORK/consumer.yaml"
consumer elsewhere >"$WORK/elsewhere.yaml"
out=$(actl apply -f "$WORK/waypoint.yaml" -f "$WORK/consumer.yaml" 2>&1) || fail "apply: $out"
# Every Namespace carries its name as the API server puts it, as the agents read it.
out=$(actl get ns --show-labels) || fail "get ns: $out"
echo "$out" | grep -Eq '^cross-namespace-waypoint-consumer +Active +.*kubernetes\.io/metadata\.name=cross-namespace-waypoint-consumer' ||
	fail "get ns --show-labels: $out"
echo "$out" | grep -Eq '^mesh +Active +.*kubernetes\.io/metadata\.name=mesh' || fail "get ns: $out"
expect_eq "$(actl get ns common-infrastructure -o json | jq -r '.metadata.labels["kubernetes.io/metadata.name"]')" \
	common-infrastructure "get ns -o json"

wp_ready() {
	actl waypoint list -n common-infrastructure |
		grep -Eq '^common-infrastructure +egress-gateway +service .* 1 +True$'
}
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -A)"
wp_ip=$(pod_ip common-infrastructure/egress-gateway-0)
out=$(actl waypoint status -n common-infrastructure) || fail "status: $out"
expect_contains "$out" "bound cross-namespace-waypoint-consumer/echo (namespace label) [services]" \
	"the consumer namespace's Service is bound"

# From the mesh namespace's client, through the waypoint of the other namespace.
via_wp() {
	pod_exec mesh/client-0 curl -sf --max-time 3 http://echo.cross-namespace-waypoint-consumer/ |
		grep -q "from=$wp_ip"
}
wait_for 30 via_wp || fail "not reached through the waypoint: $(pod_exec mesh/client-0 \
	curl -s --max-time 3 http://echo.cross-namespace-waypoint-consumer/); \
	$(actl local logs common-infrastructure/egress-gateway-0 | tail -3)"
wait_log 10 common-infrastructure/egress-gateway-0 '"GET / HTTP/1.1" 200 .*echo.cross-namespace-waypoint-consumer' ||
	fail "the waypoint did not log the request"

# A namespace the listener does not select: refused, and said so with Istio's reason.
out=$(actl apply -f "$WORK/elsewhere.yaml" 2>&1) || fail "apply elsewhere: $out"
expect_contains "$out" "AttachmentDenied: waypoint common-infrastructure/egress-gateway does not admit namespace elsewhere"
out=$(actl waypoint status -n common-infrastructure) || fail "status: $out"
expect_contains "$out" "service elsewhere/echo: its namespace's label istio.io/use-waypoint asks for waypoint common-infrastructure/egress-gateway, refused: AttachmentDenied: waypoint common-infrastructure/egress-gateway does not admit namespace elsewhere: its HBONE listener's allowedRoutes admit namespaces labelled kubernetes.io/metadata.name=cross-namespace-waypoint-consumer, and namespace elsewhere's labels are"
expect_contains "$out" "kubernetes.io/metadata.name=elsewhere"
expect_not_contains "$out" "bound elsewhere/echo"
out=$(actl waypoint status -n elsewhere 2>&1)
expect_contains "$out" "service elsewhere/echo: its namespace's label istio.io/use-waypoint asks for waypoint common-infrastructure/egress-gateway, refused: AttachmentDenied"
out=$(actl analyze 2>&1)
expect_contains "$out" "Namespace elsewhere: metadata.labels.istio.io/use-waypoint: AttachmentDenied: waypoint common-infrastructure/egress-gateway does not admit namespace elsewhere"
expect_not_contains "$out" "Namespace cross-namespace-waypoint-consumer:"
# Its Service is reached directly (the server sees the client, not the waypoint).
direct() {
	pod_exec mesh/client-0 curl -sf --max-time 3 http://echo.elsewhere/ | grep -q "from=$(pod_ip mesh/client-0)"
}
wait_for 30 direct || fail "elsewhere/echo is not reached directly: $(pod_exec mesh/client-0 curl -s --max-time 3 http://echo.elsewhere/)"
pass
