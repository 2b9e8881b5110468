#!/usr/bin/env bash
# `local up --kube` serves its API server on the host's loopback (issue 39 §2): the admin's
# kubeconfig names https://127.0.0.1:PORT (6443, or another free port when that is taken), so
# the host's kubectl, verifying the server's certificate (IP SAN 127.0.0.1, no
# insecure-skip-tls-verify), never sends the token off the machine (before: https://10.99.0.1,
# no address of the host's, out the default route). Checked with /usr/bin/kubectl from the host:
# get ns; `ambitctl nodes` from the host with KUBECONFIG; `local up` prints the path and the
# export line, `local kubeconfig --cluster` prints the path; a second cluster gets a port of its
# own and its own credentials (cluster 1's token is refused there); `local down` closes the port.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd python3 curl jq openssl
[ -x /usr/bin/kubectl ] || skip "no /usr/bin/kubectl"
C2=${CLUSTER}b
down2() { "$AMBITCTL" local down --name "$C2" >/dev/null 2>&1 || true; }
cluster_up manifests 2 --kube
trap 'down2; on_exit' EXIT

kc=/run/ambit/$CLUSTER/kube/kubeconfig
expect_eq "$(actl local kubeconfig --cluster "$CLUSTER")" "$kc" "local kubeconfig --cluster"
expect_eq "$(actl local kubeconfig --name "$CLUSTER")" "$kc" "local kubeconfig --name"
server=$(kubectl --kubeconfig "$kc" config view -o jsonpath='{.clusters[0].cluster.server}')
[[ $server =~ ^https://127\.0\.0\.1:([0-9]+)$ ]] || fail "the kubeconfig's server is $server, not the host's loopback"
port=${BASH_REMATCH[1]}
grep -q insecure "$kc" && fail "the kubeconfig skips TLS verification"
expect_eq "$(actl local status --name "$CLUSTER" -o json | jq -r .apiServer)" "$server" \
	"local status -o json: apiServer"
# The server's certificate: every name a client uses, verified by the CA the kubeconfig holds.
sans=$(openssl s_client -connect "127.0.0.1:$port" -CAfile "/run/ambit/$CLUSTER/kube/ca.crt" \
	-verify_ip 127.0.0.1 -verify_return_error </dev/null 2>/dev/null |
	openssl x509 -noout -ext subjectAltName) || fail "the certificate on 127.0.0.1:$port does not verify"
for n in "IP Address:127.0.0.1" "IP Address:10.99.0.1" "DNS:kubernetes.default.svc"; do
	expect_contains "$sans" "$n" "the API server certificate's SANs"
done

out=$(/usr/bin/kubectl --kubeconfig "$kc" get ns 2>&1) || fail "kubectl get ns from the host: $out"
expect_contains "$out" mesh "kubectl get ns lists the manifests' namespace"
out=$(KUBECONFIG=$kc actl nodes 2>&1) || fail "ambitctl nodes from the host: $out"
expect_contains "$out" node1 "ambitctl nodes from the host"

# A second cluster: its own port, its own token; up prints where its kubeconfig is.
out=$("$AMBITCTL" local up -f "$LIB_DIR/manifests" --name "$C2" --nodes 2 --no-ingress --kube 2>&1) ||
	fail "local up $C2: $out"
kc2=/run/ambit/$C2/kube/kubeconfig
expect_contains "$out" "export KUBECONFIG=$kc2" "local up --kube prints the export line"
server2=$(kubectl --kubeconfig "$kc2" config view -o jsonpath='{.clusters[0].cluster.server}')
[[ $server2 =~ ^https://127\.0\.0\.1:([0-9]+)$ ]] || fail "$C2's server is $server2"
port2=${BASH_REMATCH[1]}
[ "$port2" != "$port" ] || fail "both clusters serve on port $port"
expect_contains "$out" "API server $server2" "local up --kube prints the server"
/usr/bin/kubectl --kubeconfig "$kc2" get ns >/dev/null 2>&1 || fail "kubectl get ns on $C2"
tok1=$(awk '$1 == "token:" {print $2}' "$kc")
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' --cacert "/run/ambit/$C2/kube/ca.crt" \
	-H "Authorization: Bearer $tok1" "https://127.0.0.1:$port2/api/v1/namespaces")" 401 \
	"$CLUSTER's token on $C2's server"
"$AMBITCTL" local down --name "$C2" >/dev/null 2>&1 || fail "local down $C2"
[ -e "$kc2" ] && fail "local down left $kc2"
curl -s -o /dev/null --max-time 5 "https://127.0.0.1:$port2/" && fail "port $port2 still answers after local down"
ss -Htln "sport = :$port2" | grep -q . && fail "port $port2 still listens after local down"
pass
