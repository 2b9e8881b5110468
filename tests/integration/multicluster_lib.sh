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
	urls=$(for i in $(seq 1 16); do printf 'helloworld.sample:5000/hello '; done)
	# shellcheck disable=SC2086 # the 16 URLs, one word each
	"$AMBITCTL" local exec --name "$1" sample/curl-0 -- curl -sS --max-time 10 $urls 2>&1 |
		sed -n 's/^Hello version: \(v[0-9]*\), instance: .*/\1/p' | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' '
}

# mixed CLUSTER: one connection's requests from CLUSTER answered by both versions.
mixed() { case $(keepalive "$1") in "v1="*" v2="*) return 0 ;; esac; return 1; }
