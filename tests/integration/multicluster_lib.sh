# shellcheck shell=bash
# Istio's multicluster samples as the t_59 tests run them on two local clusters: sourced after
# lib.sh, defines functions only.

# hello_deployment VERSION REPLICAS: the sample's helloworld-VERSION (its image's server here).
hello_deployment() {
	cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: helloworld-$1
  namespace: sample
  labels:
    app: helloworld
    version: $1
spec:
  replicas: $2
  selector:
    matchLabels:
      app: helloworld
      version: $1
  template:
    metadata:
      labels:
        app: helloworld
        version: $1
    spec:
      nodeName: node2
      containers:
      - name: helloworld
        image: registry.istio.io/release/examples-helloworld-$1:1.0
        command: ["pods/helloworld.py", "$1"]
        ports:
        - containerPort: 5000
EOF
}

# mc_manifests DIR: in DIR, one root with an intermediate per cluster (c1, c2, Istio's plug-in CA)
# and each cluster's manifests (m1, m2): the sample namespace with curl, the cacerts Secret,
# helloworld v1 in cluster 1 and v2 in cluster 2.
mc_manifests() {
	local k
	mkdir "$1/c1" "$1/c2" || fail "mkdir in $1"
	plugged_ca "$1/c1" cluster1 || fail "openssl: the root and cluster 1's intermediate"
	plugged_intermediate "$1/c2" "$1/c1" cluster2 || fail "openssl: cluster 2's intermediate"
	for k in 1 2; do
		cp -r "$LIB_DIR/manifests-mc" "$1/m$k"
		cacerts_secret "$1/c$k" "$1/m$k/cacerts.yaml" || fail "create secret generic cacerts"
		hello_deployment "v$k" 1 >"$1/m$k/helloworld.yaml"
	done
}

# hello CLUSTER: `curl helloworld.sample:5000/hello` from CLUSTER's sample/curl-0.
hello() { "$AMBITCTL" local exec --name "$1" sample/curl-0 -- curl -sS --max-time 5 helloworld.sample:5000/hello; }

# versions CLUSTER N: the versions N calls from CLUSTER were answered by, sorted, unique
# ("error" for a call that failed).
versions() {
	local i out
	for i in $(seq 1 "$2"); do
		out=$(hello "$1" 2>&1) || out="error: $out"
		sed -n 's/^Hello version: \(v[0-9]*\), instance: .*/\1/p; s/^error: .*/error/p' <<<"$out"
	done | sort -u | tr '\n' ' '
}

# deny_curl: an AuthorizationPolicy denying helloworld to sample/curl's identity.
deny_curl() {
	cat <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-curl
  namespace: sample
spec:
  selector:
    matchLabels:
      app: helloworld
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/sample/sa/curl"]
YAML
}

# keepalive CLUSTER: one curl from CLUSTER's sample/curl-0, one connection, 16 requests to
# helloworld: how many each version answered ("v1=9 v2=7 ").
keepalive() {
	local urls
	urls=$(for _ in $(seq 1 16); do printf 'helloworld.sample:5000/hello '; done)
	# shellcheck disable=SC2086 # the 16 URLs, one word each
	"$AMBITCTL" local exec --name "$1" sample/curl-0 -- curl -sS --max-time 10 $urls 2>&1 |
		sed -n 's/^Hello version: \(v[0-9]*\), instance: .*/\1/p' | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' '
}

# mixed CLUSTER: one connection's requests from CLUSTER answered by both versions.
mixed() { case $(keepalive "$1") in "v1="*" v2="*) return 0 ;; esac; return 1; }

# on CLUSTER ARGS...: ambitctl on CLUSTER.
on() {
	local c=$1
	shift
	AMBIT_CLUSTER=$c "$AMBITCTL" "$@"
}

# What Istio's pages type: on --kube, istioctl (ambit's CLI under its name) and the machine's
# kubectl, each cluster a context of KUBECONFIG (a --kube cluster's context is its name; mc_link
# sets it); else ambitctl's own commands, and a changed object applied where kubectl patches.
mc_kube() { [ "${AMBIT_LOCAL_KUBE:-}" = 1 ]; }

# remote_secret FROM TO: FROM's remote secret applied to TO.
remote_secret() {
	if mc_kube; then
		"$REPO/build/istioctl" create-remote-secret --context="$1" --name="$1" |
			kubectl apply -f - --context="$2"
	else
		on "$1" create-remote-secret --name "$1" | on "$2" apply -f -
	fi
}

# remote_clusters CLUSTER: its `remote-clusters` table.
remote_clusters() {
	if mc_kube; then "$REPO/build/istioctl" remote-clusters --context="$1"; else on "$1" remote-clusters; fi
}

# synced C OTHER: C lists OTHER's remote secret as synced.
synced() { remote_clusters "$1" | grep -Eq "^$2 +istio-system/istio-remote-secret-$2 +synced "; }

# mc_link A B: each cluster's remote secret applied to the other, each listing the other synced.
mc_link() {
	export KUBECONFIG=/run/ambit/$1/kube/kubeconfig:/run/ambit/$2/kube/kubeconfig
	remote_secret "$2" "$1" >/dev/null || fail "apply $2's remote secret to $1"
	remote_secret "$1" "$2" >/dev/null || fail "apply $1's remote secret to $2"
	wait_for 20 synced "$1" "$2" || fail "$1's remote-clusters: $(remote_clusters "$1")"
	wait_for 20 synced "$2" "$1" || fail "$2's remote-clusters: $(remote_clusters "$2")"
}

# mc_global CLUSTER...: helloworld labelled istio.io/global=true in each (Istio's verify task).
mc_global() {
	local c
	for c in "$@"; do
		if mc_kube; then
			kubectl label svc helloworld -n sample istio.io/global=true --context="$c" >/dev/null ||
				fail "kubectl label svc helloworld in $c"
			continue
		fi
		on "$c" label svc helloworld -n sample istio.io/global=true >/dev/null 2>&1 || {
			# Without kubectl's label on a Service: the same Service with the label, applied.
			sed 's/^    service: helloworld$/    service: helloworld\n    istio.io\/global: "true"/' \
				"$LIB_DIR/manifests-mc/sample.yaml" | on "$c" apply -f - >/dev/null ||
				fail "label the Service global in $c"
		}
	done
}
