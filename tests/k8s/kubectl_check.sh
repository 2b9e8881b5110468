#!/usr/bin/env bash
# The fake Kubernetes API server (tests/k8s/fake_apiserver.py) against a real kubectl, over TLS
# with a bearer token as in a cluster (client-go sends no token over plain http): list across
# namespaces, a field selector, an Istio CRD, apply, delete, and a watch that sees an ADDED then
# a MODIFIED made with curl. (t_91 runs tests/k8s/test_fake_apiserver.py.)
# Not in `make test`: kubectl is no Debian package on this machine kind (Debian 12 has only
# kubernetes-client 1.20); run by hand where one is installed: bash tests/k8s/kubectl_check.sh
# No local cluster, no root needed.
. "$(dirname "$0")/../integration/lib.sh"
need_cmd kubectl openssl curl /usr/bin/python3

K8S=$REPO/tests/k8s
tmp=$(mktemp -d)
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	rm -rf "$tmp"
	return 0
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 2>/dev/null || fail "openssl could not make a cert"
/usr/bin/python3 "$K8S/fake_apiserver.py" --listen 127.0.0.1:0 --port-file "$tmp/port" \
	--token T91 --load "$K8S/fixtures" --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" \
	2>"$tmp/server.err" &
srv_pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/port" ] && break
	kill -0 "$srv_pid" 2>/dev/null || fail "fake_apiserver.py exited: $(cat "$tmp/server.err")"
	sleep 0.1
done
port=$(cat "$tmp/port") || fail "fake_apiserver.py did not start"
url=https://127.0.0.1:$port
kc() { kubectl --server "$url" --token T91 --certificate-authority "$tmp/cert.pem" "$@"; }
kcurl() { curl -sS --cacert "$tmp/cert.pem" -H "Authorization: Bearer T91" "$@"; }

out=$(kc get pods -A --no-headers) || fail "kubectl get pods -A"
expect_eq "$(echo "$out" | wc -l)" 4
echo "$out" | grep -Eq "^bookinfo +reviews-v2-6f9b55c5db-m4t9w " || fail "no reviews-v2 in: $out"

out=$(kc get pods -n bookinfo --field-selector spec.nodeName=node1 -o json) ||
	fail "kubectl get --field-selector"
names=$(echo "$out" | /usr/bin/python3 -c 'import json,sys
d=json.load(sys.stdin); print(d["kind"], " ".join(sorted(i["spec"]["nodeName"]+":"+i["metadata"]["name"] for i in d["items"])))')
expect_eq "$names" "List node1:productpage-v1-54bb874995-x7k2p node1:reviews-v1-5fd6d4f8f8-8kqzj"

out=$(kc get virtualservices.networking.istio.io -A --no-headers) || fail "kubectl get vs"
echo "$out" | grep -Eq "^bookinfo +reviews " || fail "no VirtualService in: $out"

# The watch runs while a pod is created (ADDED) and labelled with curl (MODIFIED); kubectl
# prints one line per event after the initial list.
kc get pods -n bookinfo -w --output-watch-events --request-timeout 6s >"$tmp/watch.out" 2>&1 &
watch_pid=$!
wait_for 10 grep -q ratings-v1 "$tmp/watch.out" || fail "watch printed no list: $(cat "$tmp/watch.out")"

cat >"$tmp/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: details-v1-t91
  namespace: bookinfo
  labels: {app: details}
spec:
  nodeName: node2
  containers: [{name: details, image: docker.io/istio/examples-bookinfo-details-v1:1.20.2}]
YAML
out=$(kc apply -f "$tmp/pod.yaml") || fail "kubectl apply: $out"
expect_eq "$out" "pod/details-v1-t91 created"
out=$(kc get pod -n bookinfo details-v1-t91 -o jsonpath='{.spec.nodeName}') || fail "get new pod"
expect_eq "$out" node2

kcurl -X PATCH -H 'Content-Type: application/merge-patch+json' \
	-d '{"metadata":{"labels":{"t91":"touched"}}}' \
	"$url/api/v1/namespaces/bookinfo/pods/details-v1-t91" >/dev/null || fail "curl PATCH"
wait_for 10 grep -q "MODIFIED.*details-v1-t91" "$tmp/watch.out" || fail "watch missed MODIFIED: $(cat "$tmp/watch.out")"
grep -q 'ADDED.*details-v1-t91' "$tmp/watch.out" || fail "watch missed ADDED: $(cat "$tmp/watch.out")"
kill "$watch_pid" 2>/dev/null

out=$(kc delete pod -n bookinfo details-v1-t91) || fail "kubectl delete: $out"
expect_eq "$out" 'pod "details-v1-t91" deleted'
kc get pod -n bookinfo details-v1-t91 >/dev/null 2>&1 && fail "pod still there after delete"
out=$(kc get pod -n bookinfo details-v1-t91 2>&1)
expect_contains "$out" 'pods "details-v1-t91" not found'

pass
