#!/usr/bin/env bash
# Errors in kubectl's words (issue 39 §4), on a local cluster:
#  - a cluster that is not up: the clusters that are, and --cluster to pick one;
#  - a namespace that does not exist, to every command taking -n (label namespace, waypoint
#    apply|status|list|delete, local exec|logs|port-forward): namespaces "NS" not found, never a
#    path under /run;
#  - `ambitctl apply` of an object into a namespace that does not exist is refused as the API
#    server refuses it (error when creating "FILE": namespaces "NS" not found), nothing written;
#    with the Namespace in the same apply it goes in;
#  - `ambitctl apply` of a Sidecar is refused, naming the object and that ambient mode does not
#    use it, nothing written (kinds.def's KIND_REFUSED row, kinds/sidecar.c);
#  - --cluster names the cluster on every command (get, waypoint, local ...), --name too but for
#    waypoint's own --name.
. "$(dirname "$0")/lib.sh"
need_root; need_bins
cluster_up manifests
ns=nosuch$$
nf="namespaces \"$ns\" not found"
state=/run/ambit/$CLUSTER/state

out=$(actl local status --cluster "nope$$" 2>&1) && fail "local status of a cluster that is not up"
expect_contains "$out" "cluster nope$$ is not up" "a cluster that is not up"
expect_contains "$out" "$CLUSTER" "the clusters that are up are listed"
expect_contains "$out" "--cluster C" "how to pick one"

# A namespace that is not there, as kubectl says it.
check_nf() { # WHAT OUTPUT
	expect_contains "$2" "$nf" "$1"
	expect_not_contains "$2" "/run/" "$1 names no path"
}
out=$(actl label namespace "$ns" a=b 2>&1) && fail "label of a missing namespace"
check_nf "label namespace" "$out"
for w in "apply" "status" "list" "delete --all"; do
	# shellcheck disable=SC2086
	out=$(actl waypoint $w -n "$ns" 2>&1) && fail "waypoint $w in a missing namespace"
	check_nf "waypoint $w" "$out"
done
out=$(actl local exec -n "$ns" server-0 -- true 2>&1) && fail "exec in a missing namespace"
check_nf "local exec -n" "$out"
out=$(actl local logs -n "$ns" server-0 2>&1) && fail "logs in a missing namespace"
check_nf "local logs -n" "$out"
out=$(actl local port-forward -n "$ns" svc/server 0:80 2>&1) && fail "port-forward in a missing namespace"
check_nf "local port-forward -n" "$out"
out=$(actl local exec -n mesh nosuch -- true 2>&1) && fail "exec into a missing pod"
expect_contains "$out" 'pods "nosuch" not found' "local exec of a missing pod"
actl local exec -n mesh server-0 -- true || fail "local exec -n mesh server-0"
actl local logs -n mesh server-0 >/dev/null || fail "local logs -n mesh server-0"

# apply into a namespace that does not exist: refused; with its Namespace: applied.
f=$(mktemp --suffix=.yaml)
trap 'rm -f "$f"; on_exit' EXIT
cat >"$f" <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa1, namespace: $ns}
YAML
out=$(actl apply -f "$f" 2>&1) && fail "apply into a missing namespace: $out"
expect_contains "$out" "Error from server (NotFound): error when creating \"$f\": $nf" \
	"apply into a missing namespace"
[ -e "$state/$ns" ] && fail "a refused apply wrote $state/$ns"
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n' "$ns" | cat - "$f" >"$f.2"
mv "$f.2" "$f"
out=$(actl apply -f "$f" 2>&1) || fail "apply of a Namespace with its object: $out"
actl label namespace "$ns" a=b >/dev/null || fail "label the namespace made"
out=$(actl apply -f - 2>&1 <<YAML) || fail "apply into an existing namespace: $out"
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa2, namespace: $ns}
YAML
cat >"$f" <<YAML
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: $ns}
spec: {egress: [{hosts: ["./*"]}]}
YAML
out=$(actl apply -f "$f" 2>&1) && fail "apply of a Sidecar: $out"
expect_contains "$out" "Sidecar $ns/default" "a refused Sidecar is named"
expect_contains "$out" "Sidecar is not used in ambient mode" "why a Sidecar is refused"
find "$state/$ns" -iname '*sidecar*' | grep -q . && fail "a refused Sidecar was written"

# --cluster on every command (no AMBIT_CLUSTER: several clusters may be up).
out=$(AMBIT_CLUSTER= actl get namespace --cluster "$CLUSTER" 2>&1) || fail "get --cluster: $out"
expect_contains "$out" mesh "get namespace --cluster"
out=$(AMBIT_CLUSTER= actl get namespace --name "$CLUSTER" 2>&1) || fail "get --name: $out"
out=$(AMBIT_CLUSTER= actl waypoint list -A --cluster "$CLUSTER" 2>&1) || fail "waypoint list --cluster: $out"
out=$(AMBIT_CLUSTER= actl waypoint status -n "$ns" --cluster "$CLUSTER" 2>&1)
expect_contains "$out" "no waypoints" "waypoint status --cluster reads that cluster"
out=$(AMBIT_CLUSTER= actl local status --cluster "$CLUSTER" 2>&1) || fail "local status --cluster: $out"
pass
