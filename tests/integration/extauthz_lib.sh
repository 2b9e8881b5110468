# Helpers of the CUSTOM AuthorizationPolicy tests (t_83_waypoint_extauthz*.sh; sourced after
# lib.sh): the sample's ext-authz server in namespace authz, the mesh config naming it as an
# extensionProvider, and the CUSTOM policy on the server's Service.
#
# Needs: WORK (the test's scratch directory), and the test's own functions provider (NAME ARG...:
# the mesh config of provider NAME, from extauthz_mesh) and code (PATH [curl args...]: the status
# mesh/client-0 gets).

# extauthz_server_up PORTS DOWN_PORTS COMMAND: namespace authz (ambient, no waypoint) with Service
# ext-authz (PORTS, a YAML flow list) on one pod running COMMAND (a flow list), and Service
# ext-authz-down (DOWN_PORTS) that no pod backs.
extauthz_server_up() {
	actl apply -f - >&2 <<YAML || fail "the ext-authz server was not applied"
apiVersion: v1
kind: Namespace
metadata:
  name: authz
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: v1
kind: Service
metadata: {name: ext-authz, namespace: authz}
spec:
  selector: {app: ext-authz}
  ports: $1
---
apiVersion: v1
kind: Service
metadata: {name: ext-authz-down, namespace: authz}
spec:
  selector: {app: nothing-runs-this}
  ports: $2
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ext-authz, namespace: authz}
spec:
  replicas: 1
  selector: {matchLabels: {app: ext-authz}}
  template:
    metadata: {labels: {app: ext-authz}}
    spec:
      containers:
      - name: ext-authz
        command: $3
YAML
}

# extauthz_mesh NAME KIND SERVICE PORT [FIELD...]: the mesh config with that one ext_authz
# provider (KIND envoyExtAuthzHttp or envoyExtAuthzGrpc), its further FIELDs one a line
# ("failOpen: true").
extauthz_mesh() {
	local f
	cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
    extensionProviders:
    - name: $1
      $2:
        service: $3
        port: $4
YAML
	shift 4
	for f in "$@"; do
		printf '        %s\n' "$f"
	done
}

# extauthz_custom NAME PROVIDER: the CUSTOM policy on the server's Service, for /headers*.
extauthz_custom() {
	cat <<YAML
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: $1
  namespace: mesh
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: server
  action: CUSTOM
  provider:
    name: $2
  rules:
  - to:
    - operation:
        paths: ["/headers*"]
YAML
}

# extauthz_apply NAME ARG...: the mesh config of `provider NAME ARG...` ($WORK/mesh.yaml) and the
# CUSTOM policy ext-authz naming provider NAME ($WORK/custom.yaml), applied together.
extauthz_apply() {
	local out
	provider "$@" >"$WORK/mesh.yaml"
	extauthz_custom ext-authz "$1" >"$WORK/custom.yaml"
	out=$(actl apply -f "$WORK/mesh.yaml" -f "$WORK/custom.yaml" 2>&1) || fail "apply: $out"
}

# extauthz_checked_only_matched REGEX: a request no CUSTOM rule matches gets 200 and is never
# checked; the authorizer's log has a check matching REGEX; the waypoint's access log has the
# denied request as UAEX ext_authz_denied.
extauthz_checked_only_matched() {
	expect_eq "$(code / )" 200 "a request no CUSTOM rule matches"
	wait_log 10 authz/ext-authz-0 "$1" ||
		fail "the check was not as expected: $(actl local logs authz/ext-authz-0 | tail -3)"
	if actl local logs authz/ext-authz-0 | grep -q 'check GET / '; then
		fail "a request no CUSTOM rule matches was checked"
	fi
	wait_log 10 mesh/waypoint-0 '"GET /headers HTTP/1.1" 403 UAEX ext_authz_denied' ||
		fail "the access log does not say UAEX: $(actl local logs mesh/waypoint-0 | tail -2)"
}

# extauthz_delete_custom: with the provider away, a request no CUSTOM rule matches still gets
# 200; then the CUSTOM policy is deleted, and /headers is no longer checked.
extauthz_delete_custom() {
	local out
	expect_eq "$(code /)" 200 "a request no CUSTOM rule matches, with the provider away"
	out=$(actl delete -f "$WORK/custom.yaml" 2>&1) || fail "delete: $out"
	wait_for 30 extauthz_open_again || fail "requests were still checked once the policy was deleted"
}
extauthz_open_again() { [ "$(code /headers)" = 200 ]; }
