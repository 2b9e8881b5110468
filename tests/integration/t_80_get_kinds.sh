#!/usr/bin/env bash
# `ambitctl get` as kubectl's, for the kinds a user from the Istio tutorials lists: Istio's
# bookinfo (samples/bookinfo/platform/kube/bookinfo.yaml) and its networking/*.yaml in a local
# cluster with the ingress gateway, then each kind by kubectl's names (po, svc, deploy, ns, sa,
# vs, dr, gw; kind.group forms; comma lists; all) with the header lines kubectl prints for the
# same objects (its tabwriter: each column as wide as its widest cell and 3, at least 6) and the
# rows' fields: the pods' state from their kubelets (one that exited is Error, not Running), the
# plan's VIPs, the Deployments' counts, AGE in kubectl's format; -n, -A, -l, --show-labels,
# -o wide|yaml|json|name; kubectl's errors (an unknown kind, a missing name, an empty or missing
# namespace); `create namespace` and its AlreadyExists.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq
BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
[ -f "$BOOKINFO/platform/kube/bookinfo.yaml" ] || skip "no Istio bookinfo sample at $BOOKINFO"
dir=$(mktemp -d)
cp "$BOOKINFO/platform/kube/bookinfo.yaml" "$dir/"
CLUSTER_INGRESS=1 cluster_up "$dir" # the pods' working directory: removed at the end
actl apply -f "$BOOKINFO/networking/destination-rule-all.yaml" \
	-f "$BOOKINFO/networking/virtual-service-all-v1.yaml" \
	-f "$BOOKINFO/networking/bookinfo-gateway.yaml" >&2 || fail "bookinfo's networking not applied"

# line N of $1
line() { sed -n "${2}p" <<<"$1"; }
# the rows of table $1 whose first field is $2, fields squeezed to one space
row() { awk -v n="$2" '$1 == n' <<<"$1" | tr -s ' '; }
age_re='([0-9]+s|[0-9]+m[0-9]*s?)'
# table $1 without its last column (AGE, which moves between two calls)
noage() { sed -E 's/ +[^ ]+$//' <<<"$1"; }

all_running() { [ "$(actl get po | grep -c ' Running ')" = 6 ]; }
wait_for 60 all_running || fail "bookinfo's pods never all Running: $(actl get po)"

# Pods: kubectl's columns; the widest name (productpage-v1-0) sets NAME's width.
out=$(actl get pods) || fail "get pods: $out"
expect_eq "$(line "$out" 1)" "NAME               READY   STATUS    RESTARTS   AGE" "get pods header"
expect_eq "$(wc -l <<<"$out")" 7 "get pods rows: $out"
row "$out" reviews-v2-0 | grep -Eq "^reviews-v2-0 1/1 Running 0 $age_re\$" || fail "get pods row: $out"
expect_eq "$(noage "$(actl get po)")" "$(noage "$out")" "po is pods"
ip=$(pod_ip default/ratings-v1-0)
out=$(actl get po -o wide) || fail "get po -o wide: $out"
# (AGE's width follows its cells: 3 spaces after the widest, "119s" one more than "5s")
expect_eq "$(line "$out" 1 | sed -E 's/AGE +IP/AGE   IP/')" \
	"NAME               READY   STATUS    RESTARTS   AGE   IP          NODE    NOMINATED NODE   READINESS GATES" \
	"get po -o wide header"
row "$out" ratings-v1-0 | grep -Eq "^ratings-v1-0 1/1 Running 0 $age_re $ip node[12] <none> <none>\$" ||
	fail "get po -o wide row (IP $ip): $out"

# A pod whose process exited is not Running: kubectl's Error, 0/1.
broken=$(printf '%s\n' "apiVersion: v1" "kind: Pod" "metadata:" "  name: broken" \
	"  labels: {app: broken}" "spec:" "  restartPolicy: Never" "  containers:" "  - name: broken" \
	"    image: busybox" "    command: [sh, -c, 'exit 3']")
actl apply -f - <<<"$broken" >&2 || fail "broken pod not applied"
errored() { actl get po broken | grep -Eq "^broken +0/1 +Error +0 +$age_re\$"; }
wait_for 30 errored || fail "an exited pod is not Error: $(actl get po broken)"
expect_eq "$(actl get po broken -o json | jq -r '.status.phase,.status.containerStatuses[0].state.terminated.exitCode' | paste -sd' ')" \
	"Failed 3" "the exited pod's status"
actl delete -f - <<<"$broken" >&2 || fail "broken pod not deleted"

# Services: the plan's VIPs; the ingress gateway's as `kubectl get svc -n istio-system` shows it.
out=$(actl get svc) || fail "get svc: $out"
expect_eq "$(line "$out" 1)" "NAME          TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)    AGE" "get svc header"
vip=$(actl services | awk '$1 == "default" && $2 == "productpage" {print $3}')
row "$out" productpage | grep -Eq "^productpage ClusterIP 10\.96\.[0-9.]+ <none> 9080/TCP $age_re\$" ||
	fail "get svc row: $out"
got=$(row "$out" productpage | cut -d' ' -f3)
expect_eq "$(actl get svc productpage -o json | jq -r .spec.clusterIP)" "$got" "-o json's clusterIP"
expect_eq "$got" "$vip" "the VIP ambitctl services has"
out=$(actl get svc -n istio-system) || fail "get svc -n istio-system: $out"
expect_eq "$(line "$out" 1)" \
	"NAME                   TYPE           CLUSTER-IP   EXTERNAL-IP    PORT(S)                                        AGE" \
	"get svc -n istio-system header"
# The demo profile's type and ports: LoadBalancer (an address on the machine's LoadBalancer
# network), status-port, http2, https, tcp, tls.
row "$out" istio-ingressgateway | grep -Eq "^istio-ingressgateway LoadBalancer 10\.96\.[0-9.]+ 172\.30\.[0-9]+\.100 15021/TCP,80/TCP,443/TCP,31400/TCP,15443/TCP $age_re\$" ||
	fail "get svc istio-ingressgateway: $out"
out=$(actl get svc -o wide) || fail "get svc -o wide"
row "$out" reviews | grep -Eq " 9080/TCP $age_re app=reviews\$" || fail "get svc -o wide: $out"

# Deployments: READY counts the pods that run.
out=$(actl get deploy) || fail "get deploy: $out"
expect_eq "$(line "$out" 1)" "NAME             READY   UP-TO-DATE   AVAILABLE   AGE" "get deploy header"
row "$out" reviews-v3 | grep -Eq "^reviews-v3 1/1 1 1 $age_re\$" || fail "get deploy row: $out"
expect_eq "$(noage "$(actl get deployments.apps)")" "$(noage "$out")" "deployments.apps"
out=$(actl get deploy details-v1 -o wide) || fail "get deploy -o wide"
expect_eq "$(line "$out" 1 | sed -E 's/AGE +CONTAINERS/AGE   CONTAINERS/')" \
	"NAME         READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES                                                          SELECTOR" \
	"get deploy -o wide header"

# ServiceAccounts, namespaces.
out=$(actl get sa) || fail "get sa"
expect_eq "$(line "$out" 1)" "NAME                   SECRETS   AGE" "get sa header"
row "$out" bookinfo-ratings | grep -Eq "^bookinfo-ratings 0 $age_re\$" || fail "get sa: $out"
out=$(actl get ns) || fail "get ns: $out"
expect_eq "$(line "$out" 1)" "NAME           STATUS   AGE" "get ns header"
row "$out" default | grep -Eq "^default Active $age_re\$" || fail "get ns default: $out"
row "$out" istio-system | grep -Eq "^istio-system Active $age_re\$" || fail "get ns istio-system: $out"
out=$(actl get namespace -L istio-injection) || fail "get namespace -L: $out"
expect_eq "$(line "$out" 1)" "NAME           STATUS   AGE   ISTIO-INJECTION" "-L's header"

# Istio's kinds: their CRDs' printer columns.
out=$(actl get virtualservices) || fail "get virtualservices"
expect_eq "$(line "$out" 1)" "NAME          GATEWAYS               HOSTS             AGE" "get vs header"
row "$out" bookinfo | grep -Eq "^bookinfo \[\"bookinfo-gateway\"\] \[\"\*\"\] $age_re\$" || fail "get vs: $out"
row "$out" reviews | grep -Eq "^reviews <none> \[\"reviews\"\] $age_re\$" || fail "get vs: $out"
expect_eq "$(noage "$(actl get vs)")" "$(noage "$out")" "vs"
expect_eq "$(noage "$(actl get virtualservices.networking.istio.io)")" "$(noage "$out")" "virtualservices.networking.istio.io"
out=$(actl get destinationrules) || fail "get dr"
expect_eq "$(line "$out" 1)" "NAME          HOST          AGE" "get dr header"
row "$out" ratings | grep -Eq "^ratings ratings $age_re\$" || fail "get dr: $out"
out=$(actl get gw) || fail "get gw: $out"
expect_eq "$(line "$out" 1)" "NAME               AGE" "get gw (Istio's) header"
row "$out" bookinfo-gateway | grep -Eq "^bookinfo-gateway $age_re\$" || fail "get gw: $out"
expect_eq "$(noage "$(actl get gateways.networking.istio.io)")" "$(noage "$out")" "gateways.networking.istio.io"
out=$(actl get gtw 2>&1)
expect_eq "$out" "No resources found in default namespace." "gtw: the Gateway API's, none here"
out=$(actl get peerauthentication -A 2>&1)
expect_eq "$out" "No resources found" "get pa -A with none"

# -A, comma lists and all: kind/name prefixes, one table per kind, blank lines between.
out=$(actl get po,svc -A) || fail "get po,svc -A"
expect_eq "$(line "$out" 1)" "NAMESPACE      NAME                         READY   STATUS    RESTARTS   AGE" "po,svc -A header"
row "$out" istio-system | grep -q "^istio-system pod/istio-ingressgateway-0 1/1 Running " || fail "po,svc -A: $out"
grep -Eq "^istio-system +service/istio-ingressgateway +LoadBalancer " <<<"$out" || fail "po,svc -A: $out"
expect_eq "$(grep -c '^$' <<<"$out")" 1 "blank lines between the two tables"
out=$(actl get all) || fail "get all"
for p in "pod/details-v1-0" "service/details" "deployment.apps/details-v1"; do
	grep -q "^$p " <<<"$out" || fail "get all without $p: $out"
done

# -l and --show-labels.
out=$(actl get po -l app=reviews,version!=v1) || fail "get po -l"
expect_eq "$(tail -n +2 <<<"$out" | awk '{print $1}' | paste -sd' ')" "reviews-v2-0 reviews-v3-0" "get po -l"
out=$(actl get po ratings-v1-0 --show-labels) || fail "--show-labels"
expect_eq "$(line "$out" 1)" "NAME           READY   STATUS    RESTARTS   AGE   LABELS" "--show-labels header"
grep -Eq " app=ratings,version=v1\$" <<<"$out" || fail "--show-labels: $out"

# -o name, yaml, json: kubectl's names, the object with its metadata, a List when many.
expect_eq "$(actl get vs reviews -o name)" "virtualservice.networking.istio.io/reviews" "-o name"
expect_eq "$(actl get deploy ratings-v1 -o name)" "deployment.apps/ratings-v1" "-o name (apps)"
j=$(actl get dr reviews -o json) || fail "get dr -o json"
expect_eq "$(jq -r '.kind,.metadata.name,.metadata.namespace,.spec.host' <<<"$j" | paste -sd' ')" \
	"DestinationRule reviews default reviews" "-o json"
jq -e '.metadata.creationTimestamp | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' <<<"$j" >/dev/null ||
	fail "no creationTimestamp: $j"
jq -e '.metadata.uid | test("^[0-9a-f-]{36}$")' <<<"$j" >/dev/null || fail "no uid: $j"
uid=$(jq -r .metadata.uid <<<"$j")
actl apply -f "$BOOKINFO/networking/destination-rule-all.yaml" >&2 || fail "dr re-applied"
expect_eq "$(actl get dr reviews -o json | jq -r .metadata.uid)" "$uid" "the uid across an apply"
j=$(actl get vs -o json) || fail "get vs -o json"
expect_eq "$(jq -r '.kind,.apiVersion,(.items|length)' <<<"$j" | paste -sd' ')" "List v1 5" "a List"
y=$(actl get po productpage-v1-0 -o yaml) || fail "get po -o yaml"
expect_eq "$(head -1 <<<"$y")" "apiVersion: v1" "-o yaml's first line (no ---, as kubectl)"
expect_contains "$y" "kind: Pod"
expect_contains "$y" "phase: Running"
expect_contains "$y" "nodeName: node"

# kubectl's errors.
out=$(actl get foo 2>&1) && fail "get foo succeeded"
expect_eq "$out" 'error: the server doesn'"'"'t have a resource type "foo"' "an unknown kind"
out=$(actl get vs nosuch 2>&1) && fail "get vs nosuch succeeded"
expect_eq "$out" 'Error from server (NotFound): virtualservices.networking.istio.io "nosuch" not found' "a missing name"
out=$(actl get deploy nosuch 2>&1) && fail "get deploy nosuch succeeded"
expect_eq "$out" 'Error from server (NotFound): deployments.apps "nosuch" not found' "a missing name"
out=$(actl get pods -n bookinfo 2>&1) || fail "get pods -n bookinfo failed: $out"
expect_eq "$out" "No resources found in bookinfo namespace." "a missing namespace"

# create namespace, as kubectl's; it is then listed, and a second create is refused.
out=$(actl create namespace bookinfo) || fail "create namespace: $out"
expect_contains "$out" "namespace/bookinfo created"
row "$(actl get ns)" bookinfo | grep -Eq "^bookinfo Active $age_re\$" || fail "bookinfo not listed: $(actl get ns)"
out=$(actl create ns bookinfo 2>&1) && fail "a second create succeeded: $out"
expect_eq "$out" 'Error from server (AlreadyExists): namespaces "bookinfo" already exists' "AlreadyExists"
out=$(actl create ns default 2>&1) && fail "create ns default succeeded: $out"
expect_eq "$out" 'Error from server (AlreadyExists): namespaces "default" already exists' "default exists"
# --kube: the same store, under the names the API server has (the Pods kmirror gave it), and the
# created namespace reached it as an applied one does.
if [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; then
	expect_eq "$(kube_api /api/v1/namespaces/bookinfo | jq -r .metadata.name)" bookinfo \
		"the API server's Namespace bookinfo"
	expect_eq "$(kube_api /api/v1/namespaces/default/pods | jq -r '.items[].metadata.name' | sort | paste -sd' ')" \
		"$(actl get po -o name | sed 's#^pod/##' | sort | paste -sd' ')" "the API server's pods"
	expect_eq "$(kube_api /apis/networking.istio.io/v1/namespaces/default/virtualservices | jq -r '.items[].metadata.name' | sort | paste -sd' ')" \
		"$(actl get vs -o name | sed 's#^.*/##' | paste -sd' ')" "the API server's VirtualServices"
fi
cluster_down
rm -rf "$dir"
pass
