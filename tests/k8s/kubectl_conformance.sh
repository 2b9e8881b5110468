#!/usr/bin/env bash
# The tutorials' (../shared/seeds) non-streaming kubectl commands against the fake API server
# (tests/k8s/fake_apiserver.py) alone, as a user types them at `ambitctl local up --kube`:
# create/label namespaces, apply bookinfo and its networking files with kubectl's DEFAULT
# validation (OpenAPI v2 protobuf for kubectl 1.20, v3 and server-side fieldValidation for
# 1.32), a misspelled field reported, get with kubectl's columns (pods, svc, deploy, ns, nodes,
# crd, vs, dr, gw, se, all, -o wide|yaml|json|jsonpath, -L), describe with events, scale,
# rollout restart, wait, api-resources, delete -f, delete namespace (its objects go with it),
# and a write into a missing namespace. No controller runs here: Deployments get no pods
# (tests/k8s/README.md); pods are applied by hand.
#
#   bash tests/k8s/kubectl_conformance.sh [KUBECTL...]
#
# Each KUBECTL (default: $KUBECTL, else /usr/bin/kubectl and /work/wt/kubectl120/x/usr/bin/
# kubectl where present) runs the whole list against a server of its own on 127.0.0.1 over TLS
# with a bearer token (a throwaway certificate; the kubeconfig names only 127.0.0.1).
# ISTIO_BOOKINFO: Istio's samples/bookinfo (default ../shared/istio/samples/samples/bookinfo).
# Exit 0 when every check passes, 1 on the first failure (the command and its output said).
# No root, no local cluster.
. "$(dirname "$0")/../integration/lib.sh"
need_cmd openssl curl /usr/bin/python3

K8S=$REPO/tests/k8s
BOOKINFO=${ISTIO_BOOKINFO:-}
for d in "$REPO/../shared/istio/samples/samples/bookinfo" /work/shared/istio/samples/samples/bookinfo; do
	[ -z "$BOOKINFO" ] && [ -f "$d/platform/kube/bookinfo.yaml" ] && BOOKINFO=$d
done
[ -n "$BOOKINFO" ] || skip "no Istio bookinfo samples (set ISTIO_BOOKINFO)"

kubectls=("$@")
if [ ${#kubectls[@]} -eq 0 ]; then
	if [ -n "${KUBECTL:-}" ]; then
		kubectls=("$KUBECTL")
	else
		for k in /usr/bin/kubectl /work/wt/kubectl120/x/usr/bin/kubectl; do
			[ -x "$k" ] && kubectls+=("$k")
		done
	fi
fi
[ ${#kubectls[@]} -gt 0 ] || skip "no kubectl given or found"

tmp=$(mktemp -d)
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -rf "$tmp"
	return 0
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 2>/dev/null || fail "openssl could not make a cert"

# A fresh server (two nodes, nothing else but what it bootstraps) and a kubeconfig for it.
start_server() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -f "$tmp/port"
	/usr/bin/python3 "$K8S/fake_apiserver.py" --listen 127.0.0.1:0 --port-file "$tmp/port" \
		--token KC --load "$K8S/fixtures/00-nodes.json" --tls-cert "$tmp/cert.pem" \
		--tls-key "$tmp/key.pem" 2>"$tmp/server.err" &
	srv_pid=$!
	for _ in $(seq 100); do
		[ -s "$tmp/port" ] && break
		kill -0 "$srv_pid" 2>/dev/null || fail "fake_apiserver.py exited: $(cat "$tmp/server.err")"
		sleep 0.1
	done
	port=$(cat "$tmp/port") || fail "fake_apiserver.py did not start"
	url=https://127.0.0.1:$port
	cat >"$tmp/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "$url", certificate-authority: "$tmp/cert.pem"}}]
users: [{name: fake, user: {token: KC}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
EOF
}

# ok CMD...: runs kubectl with CMD; fails on a non-zero exit or an error in what it printed.
# The output is left in $out.
ok() {
	out=$("$K" --kubeconfig "$tmp/kubeconfig" --cache-dir "$tmp/cache" "$@" 2>&1) ||
		fail "$KV: kubectl $* exited $?: $out"
	case $out in *Error* | *error:* | *Traceback*) fail "$KV: kubectl $*: $out" ;; esac
	return 0
}
# bad CMD...: kubectl with CMD must fail; its output is in $out.
bad() {
	out=$("$K" --kubeconfig "$tmp/kubeconfig" --cache-dir "$tmp/cache" "$@" 2>&1) &&
		fail "$KV: kubectl $* succeeded: $out"
	case $out in *Traceback* | *'File "'*) fail "$KV: kubectl $*: a traceback: $out" ;; esac
	return 0
}
has() { expect_contains "$out" "$1" "$KV: ${2:-output}"; }
header() { head -1 <<<"$out" | tr -s ' '; }
kcurl() { curl -sS --cacert "$tmp/cert.pem" -H "Authorization: Bearer KC" "$@"; }

conform() {
	K=$1
	KV=$("$K" version --client 2>/dev/null | grep -Eo 'v1\.[0-9]+' | head -1)
	[ -n "$KV" ] || fail "$K: no version"
	log "$K ($KV)"
	start_server

	# Namespaces, as the seeds make and label them; default is there from the start, as on a
	# real cluster.
	ok get namespace default
	ok create namespace bookinfo
	expect_eq "$out" "namespace/bookinfo created"
	ok create ns istio-system
	ok label namespace bookinfo istio-injection=enabled
	expect_eq "$out" "namespace/bookinfo labeled"
	ok get namespace -L istio-injection
	expect_eq "$(header)" "NAME STATUS AGE ISTIO-INJECTION"
	grep -Eq '^bookinfo +Active +[0-9]+s +enabled$' <<<"$out" || fail "$KV: get ns -L: $out"
	ok get namespace bookinfo -o yaml
	has "istio-injection: enabled"
	has "kubernetes.io/metadata.name: bookinfo"
	ok label namespace default istio-injection=enabled
	ok label namespace default istio-injection-
	has "namespace/default " # "unlabeled" (1.32), "labeled" (1.20)
	ok get namespace default -o jsonpath='{.metadata.labels}'
	case $out in *istio-injection*) fail "$KV: the label stayed: $out" ;; esac

	# apply with the default validation.
	ok apply -f "$BOOKINFO/platform/kube/bookinfo.yaml" -n bookinfo
	has "deployment.apps/productpage-v1 created"
	has "service/details created"
	has "serviceaccount/bookinfo-reviews created"
	for f in "$BOOKINFO"/networking/*.yaml; do
		case $f in */certmanager-gateway.yaml) ok apply -f "$f" ;; *) ok apply -f "$f" -n bookinfo ;; esac
	done
	ok apply -f "$BOOKINFO/platform/kube/bookinfo.yaml" -n bookinfo
	has "deployment.apps/productpage-v1 unchanged"
	# A misspelled field is reported, by the server (1.32: fieldValidation=Strict) or by kubectl
	# from the OpenAPI document (1.20).
	cat >"$tmp/typo.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: typo, namespace: bookinfo}
spec:
  replica: 2
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec: {containers: [{name: c, image: busybox}]}
EOF
	bad apply -f "$tmp/typo.yaml"
	has 'unknown field' "misspelled field"
	has 'replica' "misspelled field"
	bad get deployment typo -n bookinfo

	# Pods: no controller here, so two are applied as the kubelet's would look.
	for app in productpage reviews; do
		cat >"$tmp/pod-$app.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $app-v1-x1, namespace: bookinfo, labels: {app: $app, version: v1}}
spec:
  nodeName: node1
  containers: [{name: $app, image: docker.io/istio/examples-bookinfo-$app-v1:1.20.2, ports: [{containerPort: 9080}]}]
EOF
		ok apply -f "$tmp/pod-$app.yaml"
	done
	kcurl -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"status": {"phase":
		"Running", "podIP": "10.244.1.7", "conditions": [{"type": "Ready", "status": "True"}],
		"containerStatuses": [{"name": "productpage", "ready": true, "restartCount": 0}]}}' \
		"$url/api/v1/namespaces/bookinfo/pods/productpage-v1-x1/status" >/dev/null ||
		fail "curl PATCH status"
	ok get pods -n bookinfo
	expect_eq "$(header)" "NAME READY STATUS RESTARTS AGE"
	grep -Eq '^productpage-v1-x1 +1/1 +Running +0 +[0-9]+s$' <<<"$out" || fail "$KV: get pods: $out"
	ok get pods -n bookinfo -o wide
	expect_eq "$(header)" "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
	grep -Eq '^productpage-v1-x1 .* 10\.244\.1\.7 +node1 +<none> +<none>$' <<<"$out" ||
		fail "$KV: get pods -o wide: $out"
	ok get pods -n istio-system
	ok wait --for=condition=ready pod -l app=productpage -n bookinfo --timeout=20s
	has "pod/productpage-v1-x1 condition met"

	ok get svc -n bookinfo
	expect_eq "$(header)" "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE"
	grep -Eq '^details +ClusterIP .* 9080/TCP ' <<<"$out" || fail "$KV: get svc: $out"
	ok get svc -n bookinfo -o wide
	grep -Eq '^details .* app=details$' <<<"$out" || fail "$KV: get svc -o wide: $out"
	ok get deploy -n bookinfo
	expect_eq "$(header)" "NAME READY UP-TO-DATE AVAILABLE AGE"
	expect_eq "$(grep -c -- '-v[123] ' <<<"$out")" 6 "$KV: deployments"
	ok get deploy -n bookinfo -o wide
	expect_eq "$(header)" "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR"
	ok get ns
	expect_eq "$(header)" "NAME STATUS AGE"
	has "kube-system"
	ok get nodes
	expect_eq "$(header)" "NAME STATUS ROLES AGE VERSION"
	grep -Eq '^node1 +Ready ' <<<"$out" || fail "$KV: get nodes: $out"
	ok get nodes -o wide
	has "INTERNAL-IP"
	ok get crd
	expect_eq "$(header)" "NAME CREATED AT"
	has "virtualservices.networking.istio.io"
	has "httproutes.gateway.networking.k8s.io"
	ok get crd gateways.gateway.networking.k8s.io
	ok get virtualservices -n bookinfo
	expect_eq "$(header)" "NAME GATEWAYS HOSTS AGE"
	grep -Eq '^bookinfo +\["bookinfo-gateway"\] +\["\*"\] ' <<<"$out" || fail "$KV: get vs: $out"
	ok get vs reviews -n bookinfo
	ok get destinationrules -n bookinfo
	expect_eq "$(header)" "NAME HOST AGE"
	grep -Eq '^reviews +reviews ' <<<"$out" || fail "$KV: get dr: $out"
	ok get gw -n bookinfo
	expect_eq "$(header)" "NAME AGE"
	ok get serviceentry -n bookinfo
	expect_eq "$(header)" "NAME HOSTS LOCATION RESOLUTION AGE"
	ok get peerauthentication -A
	ok get all -n bookinfo
	has "pod/productpage-v1-x1"
	has "service/details"
	has "deployment.apps/reviews-v1"
	ok get deploy details-v1 -n bookinfo -o json
	expect_eq "$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["kind"], d["spec"]["template"]["spec"]["containers"][0]["name"])' <<<"$out")" \
		"Deployment details" "$KV: -o json"
	ok get deploy details-v1 -n bookinfo -o yaml
	has "kind: Deployment"
	ok get deploy details-v1 -n bookinfo -o jsonpath='{.spec.replicas}'
	expect_eq "$out" 1 "$KV: jsonpath"

	# describe, with the events an object's controller would have written.
	for what in "pod productpage-v1-x1 Pod Scheduled" "virtualservice reviews VirtualService Synced"; do
		set -- $what
		uid=$("$K" --kubeconfig "$tmp/kubeconfig" get "$1" "$2" -n bookinfo -o jsonpath='{.metadata.uid}')
		cat >"$tmp/event.yaml" <<EOF
apiVersion: v1
kind: Event
metadata: {name: $2.ev, namespace: bookinfo}
involvedObject: {kind: $3, name: $2, namespace: bookinfo, uid: "$uid"}
reason: $4
type: Normal
message: seen by the conformance check
source: {component: fake}
EOF
		ok apply -f "$tmp/event.yaml"
	done
	ok describe pod -n bookinfo -l app=productpage
	has "Name:         productpage-v1-x1"
	grep -Eq 'Normal +Scheduled .* seen by the conformance check' <<<"$out" ||
		fail "$KV: describe pod shows no event: $out"
	ok describe virtualservice reviews -n bookinfo
	grep -Eq 'Normal +Synced .* seen by the conformance check' <<<"$out" ||
		fail "$KV: describe vs shows no event: $out"
	ok describe virtualservice -n bookinfo
	has "Name:         ratings"
	ok get events -n bookinfo
	expect_eq "$(header)" "LAST SEEN TYPE REASON OBJECT MESSAGE"

	# scale, rollout restart.
	ok scale deployment reviews-v1 -n bookinfo --replicas=3
	expect_eq "$out" "deployment.apps/reviews-v1 scaled"
	ok get deploy reviews-v1 -n bookinfo -o jsonpath='{.spec.replicas}'
	expect_eq "$out" 3 "$KV: replicas after scale"
	ok rollout restart deployment/reviews-v1 -n bookinfo
	expect_eq "$out" "deployment.apps/reviews-v1 restarted"
	ok get deploy reviews-v1 -n bookinfo -o jsonpath='{.spec.template.metadata.annotations}'
	has "kubectl.kubernetes.io/restartedAt"
	ok apply -f "$BOOKINFO/platform/kube/bookinfo.yaml" -n bookinfo
	has "deployment.apps/reviews-v1 configured"
	ok get deploy reviews-v1 -n bookinfo -o jsonpath='{.spec.replicas}'
	expect_eq "$out" 1 "$KV: replicas after re-apply"

	ok api-resources
	grep -Eq '^virtualservices +vs +networking.istio.io/v1 +true +VirtualService$' <<<"$out" ||
		fail "$KV: api-resources: $out"
	grep -Eq '^deployments +deploy +apps/v1 +true +Deployment$' <<<"$out" ||
		fail "$KV: api-resources: $out"

	# What the server does not serve, in its words.
	bad get --raw /apis/nosuch.io/v1/things
	has "the server could not find the requested resource"

	# delete -f, delete namespace (its objects go), a write into it after.
	ok delete -f "$BOOKINFO/networking/bookinfo-gateway.yaml" -n bookinfo
	has 'gateway.networking.istio.io "bookinfo-gateway" deleted'
	ok delete virtualservice -n bookinfo reviews
	ok delete -f "$BOOKINFO/platform/kube/bookinfo.yaml" -n bookinfo
	has 'deployment.apps "productpage-v1" deleted'
	ok get deploy -n bookinfo
	has "No resources found in bookinfo namespace."
	ok delete namespace bookinfo
	expect_eq "$out" 'namespace "bookinfo" deleted'
	bad get namespace bookinfo
	has 'namespaces "bookinfo" not found'
	ok get all,vs,dr -n bookinfo
	has "No resources found in bookinfo namespace."
	bad apply -f "$tmp/pod-reviews.yaml"
	has 'namespaces "bookinfo" not found'
	ok create namespace bookinfo
	ok delete namespace istio-system

	! grep -E 'Traceback|File "' "$tmp/server.err" || fail "$KV: a traceback on the server"
	log "$K ($KV): every check passed"
}

for K in "${kubectls[@]}"; do
	conform "$K"
done
pass
