#!/usr/bin/env bash
# `ambitctl install` (issue 10 §4): the committed deploy/ambit.yaml is the default rendering; the
# manifests pass the Kubernetes API's own models offline (Debian's python3-kubernetes: unknown
# fields, wrong types, missing required fields); every container's flags are flags its binary
# accepts; --set is checked; and install / install again / uninstall against the fake API
# server with a kubeconfig: the objects, the mesh root made once (Secret, the certificate as a
# ConfigMap), and nothing left after uninstall; a DaemonSet of an older install, whose selector
# (app=ambit-node) the API server will not let change to app=ztunnel, replaced node by node, each
# old pod deleted only once its node's new pod is ready. `ambitctl install crds`: the CRDs pass the models,
# and every Istio object of the samples either passes its CRD's schema with nothing pruned or is
# one ambit refuses too (tests/k8s/check_crds.py); they are applied, twice, and `uninstall
# --purge` deletes them but not a CRD of the same name that is Istio's own. No real cluster: see
# docs/kubernetes.md.
. "$(dirname "$0")/lib.sh"
need_cmd /usr/bin/python3 curl jq
need_bins
AGENT=${AMBIT_AGENT_BIN:-$REPO/build/ambit-agent}
ZTUNNEL=${AMBIT_ZTUNNEL_BIN:-$REPO/build/ztunnel}
/usr/bin/python3 -c 'import kubernetes, yaml' 2>/dev/null || fail "python3-kubernetes is missing (make deps)"
tmp=$(mktemp -d)
api_pid=
cleanup() {
	[ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the rendering ----
actl install --dry-run >"$tmp/default.yaml" || fail "install --dry-run failed"
diff -u "$REPO/deploy/ambit.yaml" "$tmp/default.yaml" >"$tmp/diff" ||
	fail "deploy/ambit.yaml is not the default rendering (ambitctl install --dry-run > deploy/ambit.yaml): $(head -20 "$tmp/diff")"
actl install --dry-run --set namespace=mesh --set image=registry.example/ambit:1.2 \
	--set trustDomain=corp.example --set logLevel=debug >"$tmp/custom.yaml" || fail "--set failed"
expect_contains "$(cat "$tmp/custom.yaml")" 'namespace: "mesh"'
expect_contains "$(cat "$tmp/custom.yaml")" 'image: "registry.example/ambit:1.2"'
expect_contains "$(cat "$tmp/custom.yaml")" "https://ambit-ca.mesh.svc:15012"
expect_not_contains "$(cat "$tmp/custom.yaml")" "ambit-system"
# The ingress gateway, as Istio's demo profile installs it (its tcp 31400 and tls 15443 too, where
# `kubectl port-forward svc/istio-ingressgateway 31401:31400` goes), unless ingressGateway=false.
/usr/bin/python3 - "$tmp/default.yaml" >"$tmp/igw" <<'EOF' || fail "no ingress gateway in the manifests"
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["metadata"].get("namespace") == "istio-system" and d["kind"] in ("Deployment", "Service"):
        l = d["metadata"]["labels"]
        print(d["kind"], d["metadata"]["name"], l["app"], l["istio"],
              [(p["port"], p["targetPort"]) for p in d["spec"].get("ports", [])])
EOF
expect_eq "$(cat "$tmp/igw")" "Deployment istio-ingressgateway istio-ingressgateway ingressgateway []
Service istio-ingressgateway istio-ingressgateway ingressgateway [(15021, 15021), (80, 8080), (443, 8443), (31400, 31400), (15443, 15443)]" \
	"the ingress gateway's Deployment and Service"
actl install --dry-run --set ingressGateway=false >"$tmp/noigw.yaml" || fail "--set ingressGateway=false failed"
expect_not_contains "$(cat "$tmp/noigw.yaml")" "istio-ingressgateway"
expect_contains "$(cat "$tmp/noigw.yaml")" "name: ambit-node"
# istio-system, the root namespace, with or without the gateway (kubectl get ns lists it).
expect_contains "$(cat "$tmp/noigw.yaml")" "kind: Namespace
metadata:
  name: istio-system"
out=$(actl install --dry-run --set ingressGateway=maybe 2>&1) && fail "ingressGateway=maybe was taken"
expect_contains "$out" "is not true or false"
out=$(actl install --dry-run --set replicas=3 2>&1) && fail "an unknown key was taken"
expect_contains "$out" "KEY one of: namespace image"
out=$(actl install --dry-run --set 'namespace=Bad_NS' 2>&1) && fail "a bad namespace was taken"
expect_contains "$out" "is not a DNS label"

# ---- offline validation against the API's models ----
out=$(/usr/bin/python3 "$REPO/tests/k8s/validate_manifests.py" "$tmp/default.yaml" "$tmp/custom.yaml") ||
	fail "the manifests do not validate: $out"
# The validator itself catches what the API server would refuse.
sed -e 's/hostNetwork: true/hostNetwrok: true/' -e 's/containerPort: 15012/containerPort: "15012"/' \
	"$tmp/default.yaml" >"$tmp/bad.yaml"
out=$(/usr/bin/python3 "$REPO/tests/k8s/validate_manifests.py" "$tmp/bad.yaml") &&
	fail "the validator passed a broken manifest"
expect_contains "$out" "hostNetwrok: unknown field for V1PodSpec"
expect_contains "$out" 'containerPort: want an integer, got "15012"'

# ---- who may read the root key: the CA's service account alone (tests/k8s/check_rbac.py) ----
out=$(/usr/bin/python3 "$REPO/tests/k8s/check_rbac.py" "$tmp/default.yaml" ambit-system ambit-ca-root) ||
	fail "the default manifests' RBAC: $out"
out=$(/usr/bin/python3 "$REPO/tests/k8s/check_rbac.py" "$tmp/custom.yaml" mesh ambit-ca-root) ||
	fail "the --set namespace=mesh manifests' RBAC: $out"
# The check catches a grant covering the root key (the waypoint controller's, as it was).
/usr/bin/python3 - "$tmp/default.yaml" >"$tmp/wide.yaml" <<'EOF' || fail "the widened manifests"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "ambit-waypoints":
        d["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]})
print(yaml.safe_dump_all(docs))
EOF
out=$(/usr/bin/python3 "$REPO/tests/k8s/check_rbac.py" "$tmp/wide.yaml" ambit-system ambit-ca-root) &&
	fail "check_rbac.py passed a cluster-wide grant on Secrets"
expect_contains "$out" "ClusterRoleBinding ambit-waypoints gives ServiceAccount ambit-system/ambit-waypoints ['get', 'list', 'watch'] on secrets in every namespace: the root key ambit-system/ambit-ca-root among them"
# Istio's reader (its token goes to other clusters in remote secrets) is there, reads no Secret
# and writes nothing; the check catches a reader that would.
/usr/bin/python3 - "$tmp/default.yaml" >"$tmp/reader" <<'EOF' || fail "no Istio reader in the manifests"
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    m = (d or {}).get("metadata", {})
    if "istio-reader" in m.get("name", ""):
        print(d["kind"], m.get("namespace", "-"), m["name"])
EOF
expect_eq "$(cat "$tmp/reader")" "ServiceAccount istio-system istio-reader-service-account
ClusterRole - istio-reader-clusterrole-istio-system
ClusterRoleBinding - istio-reader-clusterrole-istio-system" "Istio's reader identity, as its base chart names it"
/usr/bin/python3 - "$tmp/default.yaml" >"$tmp/reader.yaml" <<'EOF' || fail "the widened reader"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "istio-reader-clusterrole-istio-system":
        d["rules"].append({"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["list", "delete"]})
print(yaml.safe_dump_all(docs))
EOF
out=$(/usr/bin/python3 "$REPO/tests/k8s/check_rbac.py" "$tmp/reader.yaml" ambit-system ambit-ca-root) &&
	fail "check_rbac.py passed a reader of Secrets"
expect_contains "$out" "ClusterRoleBinding istio-reader-clusterrole-istio-system gives ServiceAccount istio-system/istio-reader-service-account ['list'] on secrets in every namespace: it reads none"
expect_contains "$out" "ServiceAccount istio-system/istio-reader-service-account ['delete'] on ['secrets', 'pods'] in every namespace: it only reads"
log "RBAC: the root key is the CA's alone; the agents read istio-system's Secrets, the controller and Istio's reader none"

# ---- every container's flags are its binary's ----
/usr/bin/python3 - "$tmp/default.yaml" >"$tmp/cmds" <<'EOF' || fail "no containers found"
import sys, yaml
n = 0
for d in yaml.safe_load_all(open(sys.argv[1])):
    spec = (d or {}).get("spec", {}).get("template", {}).get("spec", {})
    for c in spec.get("containers", []):
        args = [a.replace("$(NODE_NAME)", "node1").replace("$(NODE_IP)", "10.0.0.1")
                for a in c["command"][1:] + c.get("args", [])]
        print(c["command"][0].rsplit("/", 1)[1] + "\t" + "\t".join(args))
        n += 1
sys.exit(0 if n else 1)
EOF
n=0
while IFS=$'\t' read -r -a cmd; do
	case ${cmd[0]} in
	ambit-agent) bin=$AGENT ;;
	ztunnel) bin=$ZTUNNEL ;;
	waypoint) bin=${AMBIT_WAYPOINT_BIN:-$REPO/build/waypoint} ;;
	*) fail "a container runs ${cmd[0]}, no binary of ambit" ;;
	esac
	# --version last: every flag before it is parsed (an unknown one fails) before it exits.
	out=$("$bin" "${cmd[@]:1}" --version 2>&1) || fail "${cmd[0]} refuses its manifest's flags: ${cmd[*]:1}: $out"
	expect_contains "$out" "${cmd[0]} "
	n=$((n + 1))
done <"$tmp/cmds"
expect_eq "$n" 6 "containers checked (agent, install-cni, ztunnel, CA, waypoint controller, ingress gateway)"
out=$("$AGENT" --kube --no-such-flag --version 2>&1) && fail "the flag check cannot fail"

# ---- CRDs from ambit's own field tables: valid objects, and no field ambit reads pruned ----
samples=${AMBIT_ISTIO_SAMPLES:-}
for d in "$REPO/../shared/istio/samples" /work/shared/istio/samples; do
	[ -z "$samples" ] && [ -d "$d" ] && samples=$d
done
[ -d "$samples" ] || fail "the Istio samples are not in ../shared or /work/shared (AMBIT_ISTIO_SAMPLES)"
actl install crds --dry-run >"$tmp/crds.yaml" || fail "install crds --dry-run failed"
diff -u "$REPO/deploy/crds.yaml" "$tmp/crds.yaml" >"$tmp/diff" ||
	fail "deploy/crds.yaml is not what ambitctl generates (ambitctl install crds --dry-run > deploy/crds.yaml): $(head -20 "$tmp/diff")"
expect_eq "$(grep -c '^kind: CustomResourceDefinition' "$tmp/crds.yaml")" 10 "CRDs (Istio's kinds ambit reads, and its own LocalRateLimit)"
expect_eq "$(actl install crds --dry-run -o json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" 10 "CRDs as JSON"
out=$(/usr/bin/python3 "$REPO/tests/k8s/validate_manifests.py" "$tmp/crds.yaml") ||
	fail "the CRDs do not validate: $out"
out=$(/usr/bin/python3 "$REPO/tests/k8s/check_crds.py" "$tmp/crds.yaml" "$AMBITCTL" "$samples") ||
	fail "the CRDs and ambit disagree: $out"
log "$out"

# ---- install, install again, uninstall (the fake API server, a kubeconfig) ----
# --no-crds: install crds is checked on a cluster that has none yet.
fake_api_up "$tmp" t94 --no-crds
get() { curl -s -H "Authorization: Bearer t94" "http://127.0.0.1:$port$1"; }
# The user's istio-system, there first: install leaves it as it is (its labels), and so does
# uninstall (it may hold their Gateways and Secrets).
curl -sf -X POST -H "Authorization: Bearer t94" -H 'Content-Type: application/json' --data \
	'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"istio-system","labels":{"team":"edge"}}}' \
	"http://127.0.0.1:$port/api/v1/namespaces" >/dev/null || fail "cannot make istio-system"
out=$(actl install --kubeconfig "$tmp/kubeconfig" -y) || fail "install failed: $out"
expect_contains "$out" "Namespace/istio-system unchanged (kept as it is)"
expect_contains "$out" "Deployment/istio-ingressgateway created"
expect_eq "$(get /api/v1/namespaces/istio-system |
	/usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin)["metadata"]; print(o["labels"], "ambit.io/create-only" in o.get("annotations", {}))')" \
	"{'team': 'edge', 'kubernetes.io/metadata.name': 'istio-system'} False" \
	"the user's istio-system after install (its labels, and the one the API server sets)"
expect_eq "$(get /apis/apps/v1/namespaces/istio-system/deployments/istio-ingressgateway |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["template"]["spec"]["serviceAccountName"])')" \
	istio-ingressgateway-service-account "the ingress gateway's identity"
expect_contains "$out" "DaemonSet/ambit-node created"
expect_contains "$out" "Secret/ambit-ca-root created"
expect_contains "$out" "ambit installed in namespace ambit-system"
expect_eq "$(get /apis/apps/v1/namespaces/ambit-system/daemonsets/ambit-node |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["template"]["spec"]["hostNetwork"])')" True
secret_cert=$(get /api/v1/namespaces/ambit-system/secrets/ambit-ca-root |
	/usr/bin/python3 -c 'import json,sys,base64; d=json.load(sys.stdin)["data"]; assert "root-key.pem" in d; print(base64.b64decode(d["root-cert.pem"]).decode())')
cm_cert=$(get /api/v1/namespaces/ambit-system/configmaps/ambit-ca-root-cert |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["root-cert.pem"])')
expect_contains "$secret_cert" "BEGIN CERTIFICATE"
expect_eq "$cm_cert" "$secret_cert" "the agents' root is the CA's"
# Again: everything configured in place; the root is kept, never made anew.
out=$(actl install --kubeconfig "$tmp/kubeconfig" -y) || fail "the second install failed: $out"
expect_contains "$out" "DaemonSet/ambit-node configured"
expect_not_contains "$out" "Secret/ambit-ca-root created"
expect_eq "$(get /api/v1/namespaces/ambit-system/configmaps/ambit-ca-root-cert |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["root-cert.pem"])')" "$secret_cert"
# An install from before the DaemonSet took Istio's label (app=ztunnel, which Prometheus copies
# onto the ztunnels' metrics for Kiali): its selector was app=ambit-node, and a selector cannot
# change. install replaces it as a rolling update would: the DaemonSet deleted with its pods left
# running, made anew, and each node's old pod deleted only once the node's new pod is ready.
DS=/apis/apps/v1/namespaces/ambit-system/daemonsets
POD=/api/v1/namespaces/ambit-system/pods
kpost() { curl -sf -X POST -H "Authorization: Bearer t94" -H 'Content-Type: application/json' --data "$2" \
	"http://127.0.0.1:$port$1" >/dev/null; }
kput() { curl -s -o "$tmp/put.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer t94" \
	-H 'Content-Type: application/json' --data "$2" "http://127.0.0.1:$port$1"; }
node_pod() { # NAME APP NODE READY
	printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"ambit-system","labels":{"app":"%s"}},"spec":{"nodeName":"%s","containers":[{"name":"agent","image":"x"}]},"status":{"conditions":[{"type":"Ready","status":"%s"}]}}' "$@"
}
get $DS/ambit-node >"$tmp/new-ds.json"
/usr/bin/python3 - "$tmp/new-ds.json" >"$tmp/old-ds.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
o["metadata"] = {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"]}
o["spec"]["selector"] = {"matchLabels": {"app": "ambit-node"}}
o["spec"]["template"]["metadata"]["labels"] = {"app": "ambit-node"}
print(json.dumps(o))
PY
expect_eq "$(jq -c .spec.selector "$tmp/new-ds.json")" '{"matchLabels":{"app":"ztunnel"}}' "the DaemonSet's selector"
curl -sf -X DELETE -H "Authorization: Bearer t94" "http://127.0.0.1:$port$DS/ambit-node" >/dev/null
kpost $DS "$(cat "$tmp/old-ds.json")" || fail "cannot make the old DaemonSet"
kpost $POD "$(node_pod ambit-node-old1 ambit-node node1 True)" && kpost $POD "$(node_pod ambit-node-old2 ambit-node node2 True)" ||
	fail "cannot make the old node pods"
# What `kubectl apply` would get: the API server refuses the new selector.
expect_eq "$(kput $DS/ambit-node "$(jq -c 'del(.metadata.resourceVersion)' "$tmp/new-ds.json")")" 422 "a PUT of the new selector"
expect_contains "$(cat "$tmp/put.json")" "field is immutable"
actl install --kubeconfig "$tmp/kubeconfig" -y >"$tmp/replace.out" 2>&1 &
inst=$!
new_ds() { get $DS/ambit-node | jq -e '.spec.selector.matchLabels.app == "ztunnel"' >/dev/null; }
wait_for 30 new_ds || fail "install did not make the new DaemonSet: $(cat "$tmp/replace.out")"
# The DaemonSet controller's part: a new pod beside each old one, not ready at first.
# (Its readiness comes through the Pod's /status, as the kubelet writes it.)
kpost $POD "$(node_pod ambit-node-new1 ztunnel node1 False)" && kpost $POD "$(node_pod ambit-node-new2 ztunnel node2 False)" ||
	fail "cannot make the new node pods"
sleep 2
for p in old1 old2; do
	expect_contains "$(get $POD/ambit-node-$p)" '"app": "ambit-node"' "old pod $p while no new pod is ready"
done
kput $POD/ambit-node-new1/status "$(node_pod ambit-node-new1 ztunnel node1 True)" >/dev/null
gone() { get "$POD/$1" | grep -q '"code": 404'; }
wait_for 20 gone ambit-node-old1 || fail "node1's old pod was not deleted once its new pod was ready: $(cat "$tmp/replace.out")"
sleep 1
expect_contains "$(get $POD/ambit-node-old2)" '"app": "ambit-node"' "node2's old pod while its new one is not ready"
kput $POD/ambit-node-new2/status "$(node_pod ambit-node-new2 ztunnel node2 True)" >/dev/null
wait $inst || fail "the replacing install failed: $(cat "$tmp/replace.out")"
gone ambit-node-old2 || fail "node2's old pod is still there"
out=$(cat "$tmp/replace.out")
expect_contains "$out" "DaemonSet/ambit-node: its selector changes (app%3Dambit-node -> app%3Dztunnel)"
expect_contains "$out" "node node1: pod ambit-node-old1 replaced by ambit-node-new1"
expect_contains "$out" "node node2: pod ambit-node-old2 replaced by ambit-node-new2"
new_ds || fail "the DaemonSet after the replacing install"
for p in new1 new2; do
	curl -sf -X DELETE -H "Authorization: Bearer t94" "http://127.0.0.1:$port$POD/ambit-node-$p" >/dev/null
done
# Installed again, nothing to replace.
out=$(actl install --kubeconfig "$tmp/kubeconfig" -y) || fail "the install after the replacement failed: $out"
expect_contains "$out" "DaemonSet/ambit-node configured"
out=$(actl install crds --kubeconfig "$tmp/kubeconfig") || fail "install crds failed: $out"
expect_contains "$out" "CustomResourceDefinition/virtualservices.networking.istio.io created"
expect_eq "$(get /apis/apiextensions.k8s.io/v1/customresourcedefinitions/authorizationpolicies.security.istio.io |
	/usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin)["spec"]; print(s["group"], s["names"]["plural"], [v["name"] for v in s["versions"] if v["storage"]])')" \
	"security.istio.io authorizationpolicies ['v1']" "the AuthorizationPolicy CRD in the API server"
out=$(actl install crds --kubeconfig "$tmp/kubeconfig") || fail "install crds again failed: $out"
expect_contains "$out" "CustomResourceDefinition/virtualservices.networking.istio.io configured"
# One of them as a cluster that came from Istio has it: Istio's own, not labelled ambit's.
CRD=/apis/apiextensions.k8s.io/v1/customresourcedefinitions
get "$CRD/peerauthentications.security.istio.io" |
	/usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); del o["metadata"]["labels"]; print(json.dumps(o))' >"$tmp/istio-crd.json"
curl -sf -X PUT -H "Authorization: Bearer t94" -H 'Content-Type: application/json' \
	--data @"$tmp/istio-crd.json" "http://127.0.0.1:$port$CRD/peerauthentications.security.istio.io" >/dev/null ||
	fail "cannot make the CRD look like Istio's"
out=$(actl uninstall --kubeconfig "$tmp/kubeconfig" --dry-run --purge) || fail "uninstall --dry-run --purge: $out"
expect_contains "$out" "CustomResourceDefinition/virtualservices.networking.istio.io would be deleted"
expect_contains "$out" "CustomResourceDefinition/peerauthentications.security.istio.io kept: not made by ambit"
expect_contains "$(get "$CRD/virtualservices.networking.istio.io")" '"group": "networking.istio.io"'
# A node pod still terminating (its agent removing the node's data path, which needs its RBAC):
# uninstall waits for it before deleting the rest.
# (one labelled as installs before app=ztunnel labelled them)
kpost $POD "$(node_pod ambit-node-x1 ztunnel node1 True)" && kpost $POD "$(node_pod ambit-node-x2 ambit-node node2 True)" ||
	fail "cannot make the node pods"
# A shard of the workload directory, as the CA writes it while it runs: uninstall takes it too.
curl -sf -X POST -H "Authorization: Bearer t94" -H 'Content-Type: application/json' --data \
	'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ambit-workloads-03","namespace":"ambit-system","labels":{"ambit.io/directory":"workloads"}},"data":{"pods":"[]"}}' \
	"http://127.0.0.1:$port/api/v1/namespaces/ambit-system/configmaps" >/dev/null || fail "cannot make a directory shard"
# A namespace still in the mesh: uninstall refuses, naming it, and deletes nothing (its pods
# would talk in plaintext once the nodes' agents are gone); --force goes on, and says so.
kpost /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"istio.io/dataplane-mode":"ambient"}}}' ||
	fail "cannot make namespace shop"
out=$(actl uninstall --kubeconfig "$tmp/kubeconfig" -y 2>&1) && fail "uninstall went on with namespace shop in the mesh: $out"
expect_contains "$out" "1 namespace is still in the mesh (istio.io/dataplane-mode=ambient): shop"
expect_contains "$out" "kubectl label namespace NS istio.io/dataplane-mode-"
expect_contains "$(get /apis/apps/v1/namespaces/ambit-system/daemonsets/ambit-node)" '"name": "ambit-node"' \
	"the DaemonSet after a refused uninstall"
actl uninstall --kubeconfig "$tmp/kubeconfig" -y --purge --force >"$tmp/uninstall.out" 2>&1 &
un=$!
wait_for 20 grep -q "waiting for 2 node pod" "$tmp/uninstall.out" || fail "uninstall did not wait for the node pod: $(cat "$tmp/uninstall.out")"
expect_contains "$(get /apis/rbac.authorization.k8s.io/v1/clusterroles/ambit-node)" '"name": "ambit-node"' \
	"the agents' RBAC while a node pod terminates"
curl -sf -X DELETE -H "Authorization: Bearer t94" "http://127.0.0.1:$port$POD/ambit-node-x1" >/dev/null
curl -sf -X DELETE -H "Authorization: Bearer t94" "http://127.0.0.1:$port$POD/ambit-node-x2" >/dev/null
wait $un || fail "uninstall failed: $(cat "$tmp/uninstall.out")"
out=$(cat "$tmp/uninstall.out")
expect_contains "$out" "--force: their pods talk in plaintext once their nodes' agents are gone"
expect_contains "$out" "CustomResourceDefinition/virtualservices.networking.istio.io deleted"
expect_contains "$(get "$CRD/virtualservices.networking.istio.io")" '"code": 404'
expect_contains "$(get "$CRD/peerauthentications.security.istio.io")" '"group": "security.istio.io"' \
	"Istio's own CRD after uninstall --purge"
expect_contains "$out" "DaemonSet/ambit-node deleted"
expect_contains "$out" "Secret/ambit-ca-root deleted"
expect_contains "$out" "ConfigMap/ambit-workloads-* deleted (1)"
for p in /apis/apps/v1/namespaces/ambit-system/daemonsets/ambit-node \
	/api/v1/namespaces/ambit-system/configmaps/ambit-workloads-03 \
	/apis/rbac.authorization.k8s.io/v1/clusterroles/ambit-node \
	/api/v1/namespaces/ambit-system/secrets/ambit-ca-root /api/v1/namespaces/ambit-system; do
	expect_contains "$(get "$p")" '"code": 404' "$p after uninstall"
done
expect_contains "$out" "Deployment/istio-ingressgateway deleted"
expect_contains "$out" "Namespace/istio-system kept"
expect_contains "$(get /apis/apps/v1/namespaces/istio-system/deployments/istio-ingressgateway)" '"code": 404' \
	"the ingress gateway after uninstall"
expect_contains "$(get /api/v1/namespaces/istio-system)" '"team": "edge"' "the user's istio-system after uninstall"
log "rendered, validated, flags checked; CRDs checked and applied; installed twice and uninstalled (--purge: ambit's CRDs, not Istio's)"
pass
