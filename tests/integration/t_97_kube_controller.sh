#!/usr/bin/env bash
# `local up --kube` follows its API server (issue 39 §3): what kubectl writes there is what the
# local cluster runs, as a real cluster's controllers make it so, and mixing kubectl with
# ambitctl never wedges either. Checked, with /usr/bin/kubectl against <run>/kube/kubeconfig:
#  - `kubectl get deploy,ds -n ambit-system`: ambit's own workloads ready as they are (the
#    DaemonSet's pod not ready on a node whose ztunnel is stopped), rollout status, wait;
#  - `kubectl apply -f` of a Deployment and a Service in the ambient namespace: its pods come up,
#    serve through the mesh, and kubectl reads them as a real cluster's (get pods READY 1/1,
#    wait --for=condition=ready, rollout status, get deploy READY);
#  - `kubectl scale` (or a patch of spec.replicas): 3 pods; `kubectl rollout restart`: new Pods;
#    `kubectl apply` of a changed template: the pods run it; `kubectl delete deployment`: gone;
#  - `kubectl label namespace` on a namespace ambitctl applied: in the store, and kept by the
#    next `ambitctl apply` of something else;
#  - `ambitctl apply -f` of an object kubectl created first: no 409, applied;
#  - an object ambit's loader refuses is not taken (a Warning Event; the mesh serves on);
#  - `kubectl create namespace demo`, `ambitctl apply -n demo`: its pods; `kubectl delete
#    namespace demo`: its pods go;
#  - kubectl's writes back to back (create then label a namespace; delete a namespace while
#    the controller starts the pod of a Deployment just applied there): the label stays, the
#    deleted namespace and its pods go and do not come back.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd python3 curl jq
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
[ -x "$KUBECTL" ] || skip "no kubectl at $KUBECTL"
export AMBIT_LOCAL_KUBE=1
cluster_up manifests

run=/run/ambit/$CLUSTER
kcfg=$run/kube/kubeconfig
server=$(awk '$1 == "server:" {print $2; exit}' "$kcfg")
# Nothing leaves the machine: the API server is in the fabric netns (10.99.0.1) or on loopback.
case $server in
https://10.99.0.1:*) kc() { nsenter --net=/run/netns/ambit-"$CLUSTER"-fabric "$KUBECTL" --kubeconfig "$kcfg" "$@"; } ;;
https://127.*) kc() { "$KUBECTL" --kubeconfig "$kcfg" "$@"; } ;;
*) fail "the kubeconfig points at $server" ;;
esac
# pods_of NS PREFIX: the names of pods.json's pods of NS starting with PREFIX, sorted.
pods_of() {
	jq -r --arg ns "$1" --arg p "$2" '[.pods[] | select(.namespace == $ns and
		(.name | startswith($p))) | .name] | sort | join(" ")' "$run/runtime/pods.json"
}
pods_are() { [ "$(pods_of "$1" "$2")" = "$3" ]; }
echo_server=$LIB_DIR/manifests/pods/echo-server.sh
expect_contains "$(actl local status --name "$CLUSTER")" "kubernetes: controller following the API server"

# --- ambit's own workloads as kubectl reads them (issue 55 §4) ------------------------------------
# From what the kubelets run and the containers' readiness probes: the DaemonSet desired,
# current, ready, up to date and available on both nodes, the CA 1/1, the waypoint controller
# scaled to 0 (the local cluster deploys waypoints itself); a node whose ztunnel is stopped has
# its pod not ready, until it runs again.
ds_counts() {
	kc get ds ambit-node -n ambit-system -o jsonpath='{.status.desiredNumberScheduled} {.status.currentNumberScheduled} {.status.numberReady} {.status.updatedNumberScheduled} {.status.numberAvailable}'
}
ds_is() { [ "$(ds_counts)" = "$1" ]; }
wait_for 20 ds_is "2 2 2 2 2" || fail "the DaemonSet's status: $(ds_counts)"
out=$(kc get deploy,ds -n ambit-system 2>&1) || fail "kubectl get deploy,ds -n ambit-system: $out"
grep -Eq '^deployment.apps/ambit-ca +1/1 +1 +1 ' <<<"$out" || fail "ambit-ca is not 1/1: $out"
grep -Eq '^deployment.apps/ambit-waypoints +0/0 +0 +0 ' <<<"$out" || fail "ambit-waypoints is not 0/0: $out"
grep -Eq '^daemonset.apps/ambit-node +2 +2 +2 +2 +2 ' <<<"$out" || fail "ambit-node is not 2 2 2 2 2: $out"
out=$(kc rollout status ds/ambit-node -n ambit-system --timeout=20s 2>&1) || fail "rollout status ds: $out"
out=$(kc wait --for=condition=available deploy --all -n ambit-system --timeout=20s 2>&1) ||
	fail "wait for the Deployments: $out"
actl local stop ztunnel --node node2 >&2 || fail "stop node2's ztunnel"
wait_for 20 ds_is "2 2 1 2 1" || fail "the DaemonSet's status with node2's ztunnel stopped: $(ds_counts)"
actl local start ztunnel --node node2 >&2 || fail "start node2's ztunnel"
wait_for 30 ds_is "2 2 2 2 2" || fail "the DaemonSet's status with node2's ztunnel back: $(ds_counts)"

# --- a Deployment and a Service applied by kubectl ----------------------------------------------
cat >"$run/web.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: mesh
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      serviceAccountName: server
      containers:
      - name: web
        image: debian-nginx
        command: ["$echo_server"]
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: mesh
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
EOF
# OpenAPI validation is the API server's side (another part of issue 39), not this test's.
kc apply --validate=false -f "$run/web.yaml" >&2 || fail "kubectl apply -f web.yaml"
wait_for 60 pods_are mesh web- web-0 ||
	fail "kubectl's Deployment got no pod: $(pods_of mesh web-); $(tail -5 "$run/logs/kube-controller.log")"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://web/ ||
	fail "web never answered through the mesh"
out=$(pod_exec mesh/client-0 curl -sf --max-time 5 http://web/)
expect_contains "$out" "pod=mesh/web-0"
kc wait --for=condition=ready pod -l app=web -n mesh --timeout=60s >&2 ||
	fail "kubectl wait --for=condition=ready"
kc rollout status deployment/web -n mesh --timeout=60s >&2 || fail "kubectl rollout status"
# What kubectl's READY, STATUS and RESTARTS columns are made of (the columns themselves are the
# API server's Table, another part of issue 39).
expect_eq "$(kc get pod web-0 -n mesh -o jsonpath='{.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount} {.status.podIP}')" \
	"Running true 0 $(pod_ip mesh/web-0)" "web-0's status as kubectl reads it"
[ -n "$(kc get pod web-0 -n mesh -o jsonpath='{.status.containerStatuses[0].state.running.startedAt}')" ] ||
	fail "web-0 has no startedAt"
out=$(kc get deploy web -n mesh -o jsonpath='{.status.readyReplicas}/{.spec.replicas} {.status.updatedReplicas} {.status.availableReplicas}')
expect_eq "$out" "1/1 1 1" "web's Deployment status (READY UP-TO-DATE AVAILABLE)"
log "kubectl's Deployment: $out"

# --- scale, then delete ---------------------------------------------------------------------------
kc scale deployment web -n mesh --replicas=3 >&2 ||
	kc patch deployment web -n mesh -p '{"spec":{"replicas":3}}' >&2 || fail "kubectl scale"
wait_for 60 pods_are mesh web- "web-0 web-1 web-2" || fail "scaled to 3: $(pods_of mesh web-)"
kc rollout status deployment/web -n mesh --timeout=60s >&2 || fail "rollout status after scale"
expect_eq "$(kc get deploy web -n mesh -o jsonpath='{.status.readyReplicas}')" 3 \
	"readyReplicas after the scale"

# --- rollout restart: the pods are replaced (new Pods, new processes) ------------------------------
uid0=$(kc get pod web-0 -n mesh -o jsonpath='{.metadata.uid}')
[ -n "$uid0" ] || fail "web-0 has no uid"
kc rollout restart deployment/web -n mesh >&2 || fail "kubectl rollout restart"
replaced() { # web-0 is a new Pod, Running
	[ "$(kc get pod web-0 -n mesh -o jsonpath='{.metadata.uid} {.status.phase}')" != "$uid0 Running" ] &&
		[ "$(kc get pod web-0 -n mesh -o jsonpath='{.status.phase}')" = Running ]
}
wait_for 60 replaced || fail "web-0 was not replaced by the rollout restart"
kc rollout status deployment/web -n mesh --timeout=60s >&2 || fail "rollout status after restart"
wait_for 30 pods_are mesh web- "web-0 web-1 web-2" || fail "after the restart: $(pods_of mesh web-)"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://web/ ||
	fail "web does not answer after the restart"

# --- kubectl apply of a changed template: the pods run the new one (replaced) ----------------------
web_runs() { # web-0's process runs $1
	tr '\0' ' ' <"/proc/$(cat "$run/pods/mesh_web-0.pid" 2>/dev/null)/cmdline" 2>/dev/null | grep -q -- "$1"
}
sed 's|command: \["'"$echo_server"'"\]|command: ["sleep", "infinity"]|' "$run/web.yaml" >"$run/web-sleep.yaml"
grep -q '"sleep", "infinity"' "$run/web-sleep.yaml" || fail "no changed template: $(grep command "$run/web-sleep.yaml")"
kc apply --validate=false -f "$run/web-sleep.yaml" >&2 || fail "kubectl apply of the changed template"
wait_for 60 web_runs sleep || fail "web-0 still runs its old template after kubectl apply"
kc apply --validate=false -f "$run/web.yaml" >&2 || fail "kubectl apply of the template back"
not_sleeping() { [ -s "$run/pods/mesh_web-0.pid" ] && ! web_runs sleep; }
wait_for 60 not_sleeping || fail "web-0 does not run the template applied back"
# The file's replicas: 1 is applied too (kubectl's three-way merge sends every field the file
# has that the live object differs in), as on any cluster: the scale is undone.
wait_for 30 pods_are mesh web- web-0 || fail "after the template changes: $(pods_of mesh web-)"
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://web/ ||
	fail "web does not answer with its template back"

# --- a label kubectl sets on a namespace ambitctl applied, kept by ambitctl's next apply ---------
kc label namespace plain istio.io/dataplane-mode=ambient >&2 || fail "kubectl label namespace"
ns_label() { # the store's namespace plain has label $1=$2
	grep -rqs "$1.*$2" "$run/state/_cluster/namespace/plain.yaml"
}
wait_for 30 ns_label istio.io/dataplane-mode ambient || fail "the label never reached the store"
wait_for 30 grep -q "pod plain/client-0 (.*): enrolled" "$run/logs/node1-agent.log" ||
	fail "plain/client-0 was not enrolled by kubectl's label"
cat >"$run/cm.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: mesh
data:
  colour: green
EOF
actl apply -f "$run/cm.yaml" --cluster "$CLUSTER" >&2 || fail "ambitctl apply -f cm.yaml"
expect_eq "$(kc get namespace plain -o jsonpath='{.metadata.labels.istio\.io/dataplane-mode}')" \
	ambient "the namespace's label after ambitctl's next apply"
ns_label istio.io/dataplane-mode ambient || fail "ambitctl's apply took the label out of the store"

# --- ambitctl apply of an object kubectl created first ----------------------------------------------
# Created from a file: `kubectl create configmap|namespace` send protobuf, which the API server
# reads (or refuses with 415) in another part of issue 39.
sed -e 's/name: settings/name: first/' -e 's/green/red/' "$run/cm.yaml" >"$run/first-kc.yaml"
kc create --validate=false -f "$run/first-kc.yaml" >&2 || fail "kubectl create configmap"
sed -e 's/name: settings/name: first/' -e 's/green/yellow/' "$run/cm.yaml" >"$run/first.yaml"
out=$(actl apply -f "$run/first.yaml" --cluster "$CLUSTER" 2>&1) ||
	fail "ambitctl apply over kubectl's object: $out"
expect_not_contains "$out" "409"
expect_eq "$(kc get configmap first -n mesh -o jsonpath='{.data.colour}')" yellow \
	"the ConfigMap after ambitctl's apply"

# --- an object ambit's loader refuses: not taken, a Warning Event, the last good state serves -------
cat >"$run/bad.yaml" <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: bad
  namespace: mesh
spec:
  action: BOGUS
EOF
kc apply --validate=false -f "$run/bad.yaml" >&2 || fail "kubectl apply -f bad.yaml"
refused() {
	kube_api "/api/v1/namespaces/mesh/events" | jq -e '[.items[] |
		select(.involvedObject.name == "bad" and .type == "Warning")] | length > 0'
}
wait_for 30 refused || fail "no Warning Event on the refused AuthorizationPolicy"
wait_for 30 grep -q "not imported.*bad" "$run/logs/kube-controller.log" ||
	fail "the controller does not say it refused it"
[ -z "$(ls "$run"/state/mesh/authorizationpolic*/bad.yaml 2>/dev/null)" ] ||
	fail "the refused AuthorizationPolicy is in the store"
pod_exec mesh/client-0 curl -sf --max-time 5 http://web/ >/dev/null ||
	fail "web stopped answering after a refused object"
kc delete -f "$run/bad.yaml" >&2 || fail "kubectl delete -f bad.yaml"

# --- kubectl delete deployment ----------------------------------------------------------------------
kc delete deployment web -n mesh >&2 || fail "kubectl delete deployment"
wait_for 60 pods_are mesh web- "" || fail "web's pods after the delete: $(pods_of mesh web-)"

# --- a namespace kubectl makes, ambitctl applies into, kubectl deletes ------------------------------
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n' >"$run/demo-ns.yaml"
kc create --validate=false -f "$run/demo-ns.yaml" >&2 || fail "kubectl create namespace demo"
sed -e 's/namespace: mesh//' -e 's/serviceAccountName: server//' "$run/web.yaml" >"$run/demo.yaml"
actl apply -n demo -f "$run/demo.yaml" --cluster "$CLUSTER" >&2 || fail "ambitctl apply -n demo"
wait_for 60 pods_are demo web- web-0 || fail "demo's pod: $(pods_of demo web-)"
kc delete namespace demo >&2 || fail "kubectl delete namespace demo"
wait_for 60 pods_are demo "" "" || fail "demo's pods after its namespace went: $(pods_of demo '')"

# --- kubectl's writes back to back, each landing while the controller works on the one before ----
# The mirror writes the store back into the API server after each import: a write kubectl made
# after that import (a label just after the create; a namespace deleted while its new pods
# start) is taken in first, never written over or made again.
ns_labelled() {
	local v
	v=$(kc get namespace "$1" -o jsonpath='{.metadata.labels.istio\.io/dataplane-mode}')
	[ "$v" = ambient ] &&
		grep -qs 'istio.io/dataplane-mode.*ambient' "$run/state/_cluster/namespace/$1.yaml"
}
ns_gone() {
	! kc get namespace "$1" >/dev/null 2>&1 && pods_are "$1" "" "" &&
		[ ! -e "$run/state/_cluster/namespace/$1.yaml" ]
}
for i in 1 2 3; do
	kc create namespace "race$i" >&2 && kc label namespace "race$i" istio.io/dataplane-mode=ambient >&2 ||
		fail "kubectl create and label namespace race$i"
done
for i in 1 2 3; do
	wait_for 30 ns_labelled "race$i" ||
		fail "namespace race$i lost the label kubectl gave it just after creating it:" \
			"$(kc get namespace "race$i" --show-labels 2>&1)"
done
# A Deployment kubectl applies: once imported, the cluster starts its pod (the kubelets, then
# the mirror again with the pod Running); the namespace deleted right then.
for i in 1 2 3; do
	kc apply --validate=false -n "race$i" -f "$run/demo.yaml" >&2 || fail "kubectl apply -n race$i"
	wait_for 30 grep -q "Deployment race$i/web imported" "$run/logs/kube-controller.log" ||
		fail "the controller did not import race$i's Deployment"
	kc delete namespace "race$i" >&2 || fail "kubectl delete namespace race$i"
done
for i in 1 2 3; do
	wait_for 60 ns_gone "race$i" ||
		fail "namespace race$i, deleted just after a change, is back or kept its pods:" \
			"$(kc get namespace "race$i" 2>&1); pods: $(pods_of "race$i" '')"
done
sleep 2
for i in 1 2 3; do
	ns_gone "race$i" || fail "namespace race$i came back after it was gone"
done

# The mirror's own objects, as it wrote them, are never taken for kubectl's.
ctl_log=$(cat "$run/logs/kube-controller.log")
for o in "Namespace mesh" "Deployment mesh/server" "Service mesh/server" "ServiceAccount mesh/client" \
	"Deployment plain/client" "ConfigMap mesh/settings"; do
	expect_not_contains "$ctl_log" "$o imported"
done
pass
