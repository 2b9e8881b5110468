# shellcheck shell=bash
# Manifests for a waypoint run on its own (build/waypoint --config, from `ambitctl waypoint
# config -f`), sourced by the tests that do so (t_84, t_88, t_89) and tools/bench/l7.sh: each
# function prints YAML documents to append to a world file.
#
#   wp_world NS                    namespace NS bound to waypoint "wp", and that waypoint
#   wp_service NS NAME SELECTOR PORTS   a Service: SELECTOR and PORTS as YAML flow
#                                  ("{app: web}", "[{name: http, port: 80, targetPort: 8080}]")
#   wp_pod NS NAME IP LABELS       a running Pod at IP (loopback addresses in tests), LABELS
#                                  as YAML flow ("{app: web, version: v1}")

wp_world() {
	cat <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $1, labels: {istio.io/use-waypoint: wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: $1}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
YAML
}

wp_service() {
	cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: $2, namespace: $1}
spec: {selector: $3, ports: $4}
YAML
}

wp_pod() {
	cat <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: $4}
spec: {containers: [{name: c}]}
status: {podIP: $3}
YAML
}
