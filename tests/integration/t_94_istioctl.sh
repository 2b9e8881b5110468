#!/usr/bin/env bash
# istioctl as typed (docs/istioctl.md): every istioctl command line of the tutorials ambit's
# users learned from and of Istio's ambient pages, run as build/istioctl (ambitctl under that
# name) against a local cluster with bookinfo in namespace bookinfo, each checked for what a
# script would parse: istioctl's words, columns and exit codes (64 usage, 65 unparsable, 79
# analyzer findings), what ambit refuses and says instead, and on `local up --kube` the
# cluster's own kubeconfig naming it. Run again on --kube.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl jq
CLUSTER_INGRESS=1 cluster_up "$REPO/examples/bookinfo"
ISTIOCTL=$REPO/build/istioctl
[ -L "$ISTIOCTL" ] || fail "build/istioctl is not built (make)"
ictl() { "$ISTIOCTL" "$@"; }
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
dash=()
cleanup() {
	local p
	for p in "${dash[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
	on_exit
}
trap cleanup EXIT
# run NAME CMD...: CMD's stdout, stderr and exit status into $tmp/NAME.{out,err,rc}.
run() {
	local name=$1 rc=0
	shift
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
	echo "$rc" >"$tmp/$name.rc"
}
out() { cat "$tmp/$1.out"; }
err() { cat "$tmp/$1.err"; }
rc() { cat "$tmp/$1.rc"; }

# --- Before the tutorial: the client alone, help, what istioctl itself dropped.
run v0 ictl version --remote=false
expect_eq "$(rc v0)" 0 "version --remote=false"
expect_eq "$(out v0)" "client version: $("$AMBITCTL" --version | awk '{print $2}')"
run help ictl --help
expect_contains "$(out help)" "ztunnel-config" "istioctl --help lists its verbs"
run help2 ictl help analyze
expect_contains "$(out help2)" "Usage:" "istioctl help analyze"
run authn ictl authn tls-check -n bookinfo
expect_eq "$(rc authn)" 64 "authn tls-check (removed from istioctl in 1.6)"
expect_eq "$(err authn | head -1)" 'Error: unknown command "authn" for "istioctl"'
run badflag ictl version --bogus
expect_eq "$(rc badflag)" 64 "an unknown flag"
expect_contains "$(err badflag)" "Error: unknown flag: --bogus"
for cmd in "kube-inject -f x.yaml" "tag remove default" "x revision list" \
	"create-remote-secret --context=c2 --name=cluster2" "remote-clusters" "analyze --revision canary"; do
	run refuse ictl $cmd
	expect_eq "$(rc refuse)" 1 "istioctl $cmd is refused"
	expect_contains "$(err refuse)" "not on ambit" "istioctl $cmd says why"
done

# --- istioctl experimental precheck; install --set profile=demo -y (the seeds' lines).
run pre ictl experimental precheck
expect_eq "$(rc pre)" 0 "x precheck: $(out pre) $(err pre)"
expect_contains "$(err pre)" "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!"
run pre2 ictl x precheck
expect_eq "$(rc pre2)" 0 "x precheck"
run inst ictl install --set profile=demo -y
expect_eq "$(rc inst)" 0 "install --set profile=demo -y: $(out inst) $(err inst)"
for l in "✔ Istio core installed" "✔ Istiod installed" "✔ Ztunnel installed" \
	"✔ Ingress gateways installed" "✔ Installation complete" "Egress gateways: ambit has none"; do
	expect_contains "$(out inst)" "$l" "install says"
done
run inst2 ictl manifest apply --set profile=ambient --skip-confirmation
expect_eq "$(rc inst2)" 0 "manifest apply --set profile=ambient"
expect_not_contains "$(out inst2)" "Ingress gateways" "the ambient profile has no ingress gateway"
run inst3 ictl install --set profile=openshift -y
expect_eq "$(rc inst3)" 1 "an unknown profile"
expect_contains "$(err inst3)" "ambient, default, demo and minimal"
run prof ictl profile list
expect_eq "$(out prof | tr -s ' \n' ' ')" "Istio configuration profiles: ambient default demo minimal "
run dump ictl profile dump demo
expect_contains "$(out dump)" "profile: demo" "profile dump demo"
expect_contains "$(out dump)" "ambit has none" "profile dump says what ambit has no use for"
run gen ictl manifest generate --set profile=demo
expect_eq "$(rc gen)" 0 "manifest generate"
expect_contains "$(out gen)" "kind: DaemonSet" "manifest generate: ambit's manifests"
expect_contains "$(out gen)" "istio-ingressgateway" "the demo profile's ingress gateway"

# --- Bookinfo in namespace bookinfo, in the ambient mesh; istioctl analyze -n bookinfo.
actl create namespace bookinfo >&2 || fail "create namespace bookinfo"
actl label namespace bookinfo istio.io/dataplane-mode=ambient >&2 || fail "label bookinfo"
actl apply -n bookinfo -f "$REPO/examples/bookinfo/bookinfo.yaml" >&2 || fail "apply bookinfo"
run an ictl analyze -n bookinfo
expect_eq "$(rc an)" 0 "analyze -n bookinfo: $(out an) $(err an)"
expect_eq "$(out an)" "" "analyze prints its empty list of messages"
expect_eq "$(err an)" "✔ No validation issues found when analyzing namespace: bookinfo."
run an2 ictl analyze
expect_eq "$(err an2)" "✔ No validation issues found when analyzing namespace: default."
# A VirtualService whose Service is then deleted: applied clean, found by analyze after.
cat >"$tmp/gone.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: gone
  namespace: bookinfo
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
EOF
cat >"$tmp/bad-vs.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: nowhere
  namespace: bookinfo
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: nosuch
EOF
sed 's/host: nosuch/host: gone/' "$tmp/bad-vs.yaml" >"$tmp/vs-gone.yaml"
actl apply -f "$tmp/gone.yaml" >&2 && actl apply -f "$tmp/vs-gone.yaml" >&2 ||
	fail "apply a VirtualService to Service gone"
actl delete -f "$tmp/gone.yaml" >&2 2>/dev/null || fail "delete Service gone"
run an3 ictl analyze -n bookinfo
expect_eq "$(rc an3)" 79 "analyze with a finding: $(out an3) $(err an3)"
expect_contains "$(out an3)" 'Error [IST0101] (VirtualService bookinfo/nowhere) Referenced host not found: "gone"'
expect_contains "$(err an3)" "Error: Analyzers found issues when analyzing namespace: bookinfo."
run an4 ictl analyze -n bookinfo -o json
expect_eq "$(rc an4)" 79 "analyze -o json with a finding"
expect_eq "$(jq -r '[.[] | select(.code == "IST0101")][0].origin' "$tmp/an4.out")" "VirtualService bookinfo/nowhere"
run an5 ictl analyze -n default
expect_eq "$(rc an5)" 0 "another namespace's finding is not default's"
run an6 ictl analyze -n bookinfo --failure-threshold Info --output-threshold Error
expect_eq "$(rc an6)" 79 "analyze --failure-threshold"
actl delete -f "$tmp/vs-gone.yaml" >&2 || fail "delete the VirtualService"
sed 's/hosts: \[reviews\]/hosts: [reviews]\n  bogus: 1/' "$tmp/bad-vs.yaml" >"$tmp/schema.yaml"
run an7 ictl analyze "$tmp/schema.yaml"
expect_eq "$(rc an7)" 79 "a schema error in a file"
expect_contains "$(out an7)" "Error [IST0106] (VirtualService bookinfo/nowhere $tmp/schema.yaml:"
printf 'kind: [\n' >"$tmp/broken.yaml"
run an8 ictl analyze "$tmp/broken.yaml"
expect_eq "$(rc an8)" 65 "an unparsable file"
run an9 bash -c "'$ISTIOCTL' analyze - <'$tmp/bad-vs.yaml'"
expect_eq "$(rc an9)" 79 "analyze - (stdin)"
expect_contains "$(out an9)" "(VirtualService bookinfo/nowhere stdin:"

# --- What the ztunnels hold: ztunnel-config, in istioctl's columns.
six() { [ "$(ictl zc workloads --workload-namespace bookinfo -o json | jq length)" = 6 ]; }
wait_for 60 six || fail "the bookinfo pods never reached the ztunnels: $(ictl zc workloads)"
run zw ictl ztunnel-config workloads
expect_eq "$(out zw | head -1 | tr -s ' ')" "NAMESPACE POD NAME ADDRESS NODE WAYPOINT PROTOCOL"
out zw | grep -Eq '^bookinfo +productpage-v1-0 +[0-9.]+ +node[12] +None +HBONE$' ||
	fail "zc workloads: productpage: $(out zw)"
out zw | grep -Eq '^istio-system +istio-ingressgateway-0 .* TCP$' ||
	fail "zc workloads: the gateway is out of the mesh: $(out zw)"
run zs ictl zc services --node node1
expect_eq "$(out zs | head -1 | tr -s ' ')" "NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS"
out zs | grep -Eq '^bookinfo +reviews.bookinfo.svc.cluster.local +[0-9.]+ +None +3/3$' ||
	fail "zc services: reviews: $(out zs)"
cat >"$tmp/ap.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-bookinfo
  namespace: bookinfo
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        namespaces: [bookinfo, istio-system]
EOF
actl apply -f "$tmp/ap.yaml" >&2 || fail "apply the AuthorizationPolicy"
run zp ictl zc policies
expect_eq "$(out zp | head -1 | tr -s ' ')" "NAMESPACE POLICY NAME ACTION SCOPE"
out zp | grep -Eq '^bookinfo +allow-bookinfo +Allow +Namespace$' || fail "zc policies: $(out zp)"
run zcert ictl zc certificates
out zcert | grep -Eq '^spiffe://cluster.local/ns/bookinfo/sa/bookinfo-[a-z]+ +Leaf +Available +true ' ||
	fail "zc certificates: $(out zcert)"
run zj ictl zc all -o json
expect_eq "$(jq -r 'keys | join(",")' "$tmp/zj.out")" "certificates,connections,policies,services,workloads"
run zbad ictl zc bogus
expect_eq "$(rc zbad)" 64 "zc with an unknown kind"

# --- A waypoint as Istio's ambient pages make one; then proxy-status and proxy-config.
run wpa ictl waypoint apply -n bookinfo --enroll-namespace --wait
expect_eq "$(rc wpa)" 0 "waypoint apply: $(out wpa) $(err wpa)"
# istioctl's lines and nothing else (no apply lines of ambitctl's: a script reads these).
expect_eq "$(out wpa)" '✅ waypoint bookinfo/waypoint applied
✅ namespace bookinfo labeled with "istio.io/use-waypoint: waypoint"
✅ waypoint bookinfo/waypoint is ready!'
run wpl ictl waypoint list -n bookinfo
expect_eq "$(out wpl | tr -s ' ')" "NAME REVISION TRAFFIC TYPE PROGRAMMED
waypoint default service True"
run wps ictl waypoint status -n bookinfo
expect_eq "$(out wps | head -1 | tr -s ' ')" "NAME STATUS TYPE REASON MESSAGE"
run wpn ictl waypoint list -n default
expect_eq "$(out wpn)" "No waypoints found."
run ps ictl proxy-status
expect_eq "$(out ps | head -1 | tr -s ' ')" "NAME CLUSTER ISTIOD VERSION SUBSCRIBED TYPES STATUS"
for p in ztunnel-node1.istio-system ztunnel-node2.istio-system waypoint-0.bookinfo \
	istio-ingressgateway-0.istio-system; do
	synced() { ictl proxy-status | grep -Eq "^$p +Kubernetes +ambit-agent-node[12] .* SYNCED$"; }
	wait_for 30 synced || fail "proxy-status: $p: $(ictl proxy-status)"
done
run ver ictl version
expect_eq "$(sed -n 2p "$tmp/ver.out")" "control plane version: $("$AMBITCTL" --version | awk '{print $2}')"
expect_eq "$(sed -n 3p "$tmp/ver.out")" "data plane version: $("$AMBITCTL" --version | awk '{print $2}') (4 proxies)"
run verj ictl version -o json
expect_eq "$(jq -r '[.dataPlaneVersion[].Type] | sort | join(",")' "$tmp/verj.out")" "gateway,waypoint,ztunnel,ztunnel"

for f in destination-rule-all virtual-service-reviews-50-v3; do
	actl apply -n bookinfo -f "$REPO/examples/bookinfo-tasks/$f.yaml" >&2 2>/dev/null || fail "apply $f"
done
run pcr ictl proxy-config routes -n bookinfo deployment/productpage-v1
expect_eq "$(rc pcr)" 0 "proxy-config routes -n bookinfo deployment/productpage-v1: $(err pcr)"
expect_contains "$(err pcr)" "routed by waypoint bookinfo/waypoint"
expect_eq "$(out pcr | head -1 | tr -s ' ')" "NAME VHOST NAME DOMAINS MATCH VIRTUAL SERVICE"
vs_routed() { ictl pc routes -n bookinfo deploy/productpage-v1 2>/dev/null | grep -Eq '^9080 +reviews.bookinfo.svc.cluster.local:9080 +reviews +/\* +reviews.bookinfo$'; }
wait_for 30 vs_routed || fail "pc routes: reviews by its VirtualService: $(ictl pc routes -n bookinfo deploy/productpage-v1)"
run pcc ictl proxy-config clusters -n bookinfo deployment/reviews-v1
out pcc | grep -Eq '^reviews.bookinfo.svc.cluster.local +9080 +v3 +outbound +EDS +reviews.bookinfo$' ||
	fail "pc clusters: reviews v3: $(out pcc)"
# As typed in the tutorial: there is no deployment "reviews" (its pods are reviews-v1..v3).
run pcd bash -c "'$ISTIOCTL' proxy-config clusters -n bookinfo deployment/reviews | grep outlier"
expect_eq "$(out pcd)" "" "pc clusters deployment/reviews | grep outlier"
expect_contains "$(err pcd)" "deployment/reviews.bookinfo: no such pod or deployment"
run pcj ictl pc clusters -n bookinfo deploy/reviews-v2 -o json
expect_eq "$(jq -r '[.[] | select(.name == "outbound|9080|v1|reviews.bookinfo.svc.cluster.local")] | length' "$tmp/pcj.out")" 1
run pcs ictl pc secret -n istio-system deploy/istio-ingressgateway
out pcs | grep -Eq '^default +Cert Chain +ACTIVE +true ' || fail "pc secret: $(out pcs)"
run pcl ictl pc listeners istio-ingressgateway-0.istio-system
expect_eq "$(out pcl | head -1 | tr -s ' ')" "ADDRESSES PORT MATCH DESTINATION"
run pcz ictl pc routes ztunnel-node1
expect_eq "$(rc pcz)" 1 "proxy-config of a ztunnel"
expect_contains "$(err pcz)" "istioctl ztunnel-config"

# --- istioctl dashboard kiali|grafana|jaeger: the URL alone, as istioctl prints it.
for spec in kiali:20001:/kiali grafana:3000: jaeger:16686:; do
	IFS=: read -r tool port path <<<"$spec"
	flag=()
	# A port taken on this host (by something else) is the user's to change: -p, as istioctl.
	if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		port=$(free_port)
		flag=(-p "$port")
	fi
	# Not through ictl: $! must be istioctl itself (a function backgrounded is a subshell whose
	# kill leaves its child, the dashboard, running on).
	"$ISTIOCTL" dashboard "$tool" "${flag[@]}" >"$tmp/d-$tool.out" 2>"$tmp/d-$tool.err" &
	dash+=($!)
	said() { [ -s "$tmp/d-$tool.out" ]; }
	wait_for 20 said || fail "dashboard $tool said nothing: $(cat "$tmp/d-$tool.err")"
	expect_eq "$(head -1 "$tmp/d-$tool.out")" "http://localhost:$port$path" "dashboard $tool"
	code=$(curl -s -o /dev/null -w '%{http_code}' -L "http://localhost:$port$path")
	expect_eq "$code" 200 "the page behind dashboard $tool's URL"
	[ -z "$path" ] && expect_eq "$(curl -s -o /dev/null -w '%{redirect_url}' "http://localhost:$port/")" \
		"http://localhost:$port/$tool" "dashboard $tool: / opens the $tool view"
	kill "${dash[-1]}"
	wait "${dash[-1]}" 2>/dev/null
	unset 'dash[-1]'
done

# --- The cluster's own kubeconfig names it (`local up --kube`); uninstall on a local cluster.
if [ "$(jq -r '.kube' "/run/ambit/$CLUSTER/cluster.json")" = true ]; then
	kc=$(actl local kubeconfig) || fail "local kubeconfig"
	run kv env -u AMBIT_CLUSTER "$ISTIOCTL" version --kubeconfig "$kc" --context "$CLUSTER"
	expect_contains "$(out kv)" "data plane version:" "version --kubeconfig of the local cluster"
	run kv2 env -u AMBIT_CLUSTER "$ISTIOCTL" zc workloads --kubeconfig "$kc"
	expect_contains "$(out kv2)" "productpage-v1-0" "zc workloads --kubeconfig of the local cluster"
fi
run kbad ictl version --kubeconfig /dev/null --remote=false
expect_eq "$(rc kbad)" 0 "a client version needs no cluster"
run kbad2 env -u AMBIT_CLUSTER "$ISTIOCTL" zc workloads --kubeconfig /dev/null
expect_eq "$(rc kbad2)" 1 "a kubeconfig that is no local cluster's"
run un ictl uninstall --purge -y
expect_eq "$(rc un)" 1 "uninstall --purge -y on a local cluster"
expect_contains "$(err un)" "ambitctl local down"
run un2 ictl uninstall
expect_eq "$(rc un2)" 1 "uninstall without --purge"
expect_contains "$(err un2)" "--purge flags must be set"
# --enroll-namespace leaves another waypoint's enrollment, as istioctl, unless --overwrite.
nslabel() { actl get ns bookinfo -o json | jq -r '.metadata.labels["istio.io/use-waypoint"]'; }
run wpo ictl waypoint apply -n bookinfo --name wp2 --enroll-namespace
expect_contains "$(out wpo)" '⚠️ Warning: namespace (bookinfo) already has an enrolled Waypoint (waypoint). Consider adding the `--overwrite` flag'
expect_eq "$(nslabel)" waypoint "the namespace's waypoint without --overwrite"
run wpo2 ictl waypoint apply -n bookinfo --name wp2 --enroll-namespace --overwrite
expect_contains "$(out wpo2)" '✅ namespace bookinfo labeled with "istio.io/use-waypoint: wp2"'
relabelled() { [ "$(nslabel)" = wp2 ]; }
wait_for 30 relabelled || fail "--overwrite did not relabel the namespace: $(nslabel)"
run wpd2 ictl waypoint delete -n bookinfo wp2
expect_eq "$(out wpd2)" "waypoint bookinfo/wp2 deleted"
run wpd ictl waypoint delete -n bookinfo --all
expect_eq "$(out wpd)" "waypoint bookinfo/waypoint deleted"
log "istioctl: every tutorial line as typed, words, columns and exit codes checked; waypoint, proxy-status, proxy-config, ztunnel-config, analyze, dashboard"
pass
