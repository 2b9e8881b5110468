#!/usr/bin/env bash
# The waypoint controller (ambit-agent --waypoint-controller, deploy/waypoint.yaml.tmpl) against
# the fake API server: a Gateway of class istio-waypoint gets its ServiceAccount, Deployment and
# Service (valid by the API's models, owned by the Gateway) and a status saying so; a Gateway of
# class istio its deployment <name>-istio (a LoadBalancer Service with a port per listener port,
# unprivileged ports by sysctl) and its status; a Gateway of class istio-east-west its
# deployment of its own name (deploy/eastwest.yaml.tmpl: a LoadBalancer Service of both families,
# 15021 and 15008, its network) and its status, at its Service's balancer address once it has
# one; another class
# gets nothing; the networking.istio.io/service-type annotation sets the Service's type (a
# ClusterIP gateway, a LoadBalancer waypoint, ExternalName refused); an object deleted by hand
# comes back; a same-named object ambit did not make is
# left alone and the Gateway says why; deleting the Gateway deletes its objects.
. "$(dirname "$0")/lib.sh"
need_root; need_bins
/usr/bin/python3 -c 'import kubernetes, yaml' 2>/dev/null || fail "python3-kubernetes is missing (make deps)"

AGENT=${AMBIT_AGENT_BIN:-$REPO/build/ambit-agent}
WAYPOINT=${AMBIT_WAYPOINT_BIN:-$REPO/build/waypoint}
tmp=$(mktemp -d /tmp/ambit-it-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
	on_exit
}
trap cleanup EXIT

# The controller runs as its Deployment does, with the ambit-waypoints service account's token,
# and the API server authorizes it by the manifests' RBAC (deploy/ambit.yaml's ClusterRole and
# binding): a write they do not grant is refused here too.
mkdir -p "$tmp/rbac"
/usr/bin/python3 - "$REPO/deploy/ambit.yaml" "$tmp/rbac" <<'PYEOF' || fail "no RBAC for ambit-waypoints in deploy/ambit.yaml"
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and
        d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding") and
        d["metadata"]["name"] == "ambit-waypoints"]
assert docs, "none"
json.dump({"apiVersion": "v1", "kind": "List", "items": docs},
          open(sys.argv[2] + "/rbac.json", "w"))
json.dump({"kind": "FakeTokenTable", "tokens": {"t96-wp": {
    "username": "system:serviceaccount:ambit-system:ambit-waypoints",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:ambit-system"]}}},
    open(sys.argv[2] + "/tokens.json", "w"))
PYEOF
fake_api_up "$tmp" t96 --token-table-auth --load "$tmp/rbac"
pids+=("$api_pid")
sed 's/{token: t96}/{token: t96-wp}/' "$tmp/kubeconfig" >"$tmp/controller.kubeconfig"
# api METHOD PATH [JSON]: the status code; the body in $tmp/out.
api() {
	curl -s -o "$tmp/out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer t96" \
		-H "Content-Type: application/json" "http://127.0.0.1:$port$2" ${3:+-d "$3"}
}
j() { /usr/bin/python3 -c "import json,sys; o=json.load(open('$tmp/out')); print($1)"; }
GW=/apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways
DEP=/apis/apps/v1/namespaces/shop/deployments
SVC=/api/v1/namespaces/shop/services
SA=/api/v1/namespaces/shop/serviceaccounts

expect_eq "$(api POST /api/v1/namespaces '{"metadata":{"name":"shop"}}')" 201
expect_eq "$(api POST "$GW" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"waypoint","namespace":"shop","labels":{"istio.io/waypoint-for":"service"}},
 "spec":{"gatewayClassName":"istio-waypoint",
  "listeners":[{"name":"mesh","port":15008,"protocol":"HBONE"}]}}')" 201
uid=$(j 'o["metadata"]["uid"]')
expect_eq "$(api POST "$GW" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"ingress","namespace":"shop"},
 "spec":{"gatewayClassName":"istio","listeners":[{"name":"http","port":80,"protocol":"HTTP"},
  {"name":"https","port":443,"protocol":"HTTPS","tls":{"certificateRefs":[{"name":"c"}]}},
  {"name":"http-b","port":80,"protocol":"HTTP","hostname":"b.example.com"}]}}')" 201
expect_eq "$(api POST "$GW" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"other","namespace":"shop"},
 "spec":{"gatewayClassName":"acme","listeners":[{"name":"http","port":80,"protocol":"HTTP"}]}}')" 201

# The CA it asks whether a certificateRef is a servable certificate: with no grant on Secrets
# (deploy/ambit.yaml) its Deployment runs it with --ca-url and --ca-root, and so does this test.
caport=$(free_port)
"$AGENT" --ca-server --kubeconfig "$tmp/kubeconfig" --ca-dir "$tmp/ca" --listen "127.0.0.1:$caport" \
	--dns-name localhost >"$tmp/ca.log" 2>&1 &
pids+=($!)
wait_for 10 test -s "$tmp/ca/root-cert.pem" || fail "the CA server did not start: $(cat "$tmp/ca.log")"
"$AGENT" --waypoint-controller --kubeconfig "$tmp/controller.kubeconfig" --image reg.example/ambit:1.2 \
	--ca-url "https://localhost:$caport" --ca-root "$tmp/ca/root-cert.pem" --resync-seconds 2 \
	>"$tmp/controller.log" 2>&1 &
ctl_pid=$!
pids+=($ctl_pid)
failed() { fail "$1; controller log: $(tail -20 "$tmp/controller.log"); CA log: $(tail -5 "$tmp/ca.log")"; }

programmed() {
	[ "$(api GET "$GW/$1")" = 200 ] &&
		[ "$(j '[c["status"] for c in o.get("status",{}).get("conditions",[]) if c["type"]=="Programmed"]')" = "['$2']" ]
}
wait_for 20 programmed waypoint True || failed "the waypoint Gateway is not Programmed: $(cat "$tmp/out")"
expect_eq "$(j 'o["status"]["addresses"]')" "[{'type': 'Hostname', 'value': 'waypoint.shop.svc.cluster.local'}]"

# The three objects: owned by the Gateway, named after it, the waypoint's image and identity.
for path in "$SA/waypoint" "$DEP/waypoint" "$SVC/waypoint"; do
	expect_eq "$(api GET "$path")" 200 "GET $path"
	expect_eq "$(j '[(r["kind"], r["name"], r["uid"]) for r in o["metadata"]["ownerReferences"]]')" \
		"[('Gateway', 'waypoint', '$uid')]" "$path: owner"
	cp "$tmp/out" "$tmp/obj-${path##*/}-$(echo "$path" | cut -d/ -f6).json"
done
/usr/bin/python3 "$REPO/tests/k8s/validate_manifests.py" "$tmp"/obj-*.json >"$tmp/valid" 2>&1 ||
	fail "the waypoint's objects fail the API's models: $(cat "$tmp/valid")"
api GET "$DEP/waypoint" >/dev/null
expect_eq "$(j 'o["spec"]["template"]["spec"]["containers"][0]["image"]')" "reg.example/ambit:1.2"
expect_eq "$(j 'o["spec"]["template"]["spec"]["serviceAccountName"]')" "waypoint"
expect_eq "$(j 'o["spec"]["template"]["metadata"]["labels"]["istio.io/dataplane-mode"]')" "none"
expect_eq "$(j 'o["spec"]["template"]["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"]')" "waypoint"
expect_eq "$(j 'o["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["subPathExpr"]')" \
	'$(POD_NAMESPACE)_$(POD_NAME)'
api GET "$SVC/waypoint" >/dev/null
expect_eq "$(j '[(p["name"], p["port"]) for p in o["spec"]["ports"]]')" "[('mesh', 15008), ('status-port', 15020)]"
# The waypoint's flags are flags the waypoint takes.
args=$(api GET "$DEP/waypoint" >/dev/null && j '" ".join(o["spec"]["template"]["spec"]["containers"][0]["args"])')
out=$("$WAYPOINT" $args --version 2>&1) || fail "the waypoint refuses its Deployment's flags: $args: $out"

# A Gateway of class istio: its deployment as Istio's controller makes it, <name>-istio, and a
# LoadBalancer Service with a port per listener port.
is_now() { [ "$(api GET "$1")" = "$2" ]; }
wait_for 20 is_now "$DEP/ingress-istio" 200 || failed "no Deployment ingress-istio"
expect_eq "$(j 'o["spec"]["template"]["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"]')" ingress
expect_eq "$(j 'o["spec"]["template"]["spec"]["serviceAccountName"]')" ingress-istio
expect_eq "$(j 'o["spec"]["template"]["spec"]["securityContext"]["sysctls"][0]["value"]')" 0
expect_eq "$(api GET "$SVC/ingress-istio")" 200 "the gateway's Service"
expect_eq "$(j 'o["spec"]["type"]')" LoadBalancer
expect_eq "$(j '",".join("%s:%d" % (p["name"], p["port"]) for p in o["spec"]["ports"])')" \
	"status-port:15021,http:80,https:443" "the gateway Service's ports"
expect_eq "$(api GET "$SA/ingress-istio")" 200 "the gateway's ServiceAccount"
is_programmed() { api GET "$GW/ingress" >/dev/null && [ "$(j 'o.get("status",{}).get("addresses",[{}])[0].get("value")')" = ingress-istio.shop.svc.cluster.local ]; }
wait_for 20 is_programmed || failed "the class istio Gateway's status: $(cat "$tmp/out")"
expect_eq "$(j '[c["status"] for c in o["status"]["conditions"] if c["type"] == "Programmed"][0]')" True

# A Gateway of class istio-east-west (gen-eastwest-gateway.sh --ambient's): as Istio's controller
# deploys it, ServiceAccount, Deployment and a LoadBalancer Service of its own name, labelled
# with its network; Programmed, at its Service's hostname until a balancer gives the Service an
# address (written here as a cloud's controller writes it), then at that address.
expect_eq "$(api POST "$GW" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"eastwest","namespace":"shop","labels":{"topology.istio.io/network":"network2"}},
 "spec":{"gatewayClassName":"istio-east-west","listeners":[{"name":"mesh","port":15008,
  "protocol":"HBONE","tls":{"mode":"Terminate",
  "options":{"gateway.istio.io/tls-terminate-mode":"ISTIO_MUTUAL"}}}]}}')" 201
wait_for 20 is_now "$DEP/eastwest" 200 || failed "no Deployment eastwest"
expect_eq "$(j 'o["spec"]["template"]["spec"]["serviceAccountName"]')" eastwest
expect_eq "$(j 'o["spec"]["template"]["metadata"]["labels"]["gateway.istio.io/managed"]')" \
	istio.io-eastwest-controller
for path in "$SA/eastwest" "$DEP/eastwest" "$SVC/eastwest"; do
	expect_eq "$(api GET "$path")" 200 "GET $path"
	expect_eq "$(j 'o["metadata"]["labels"]["topology.istio.io/network"]')" network2 "$path: network"
	cp "$tmp/out" "$tmp/ew-${path##*/}-$(echo "$path" | cut -d/ -f6).json"
done
/usr/bin/python3 "$REPO/tests/k8s/validate_manifests.py" "$tmp"/ew-*.json >"$tmp/valid" 2>&1 ||
	fail "the east-west gateway's objects fail the API's models: $(cat "$tmp/valid")"
api GET "$SVC/eastwest" >/dev/null
expect_eq "$(j 'o["spec"]["type"] + " " + o["spec"]["ipFamilyPolicy"]')" "LoadBalancer PreferDualStack"
expect_eq "$(j '",".join("%s:%d" % (p["name"], p["port"]) for p in o["spec"]["ports"])')" \
	"status-port:15021,mesh:15008" "the east-west Service's ports"
ew_addr() { api GET "$GW/eastwest" >/dev/null && j '" ".join(a["type"] + "=" + a["value"] for a in o.get("status",{}).get("addresses",[]))'; }
ew_at() { [ "$(ew_addr)" = "$1" ]; }
wait_for 20 ew_at Hostname=eastwest.shop.svc.cluster.local || failed "the east-west Gateway's status: $(ew_addr)"
expect_eq "$(j '[c["status"] for c in o["status"]["conditions"] if c["type"] == "Programmed"][0]')" True
api GET "$SVC/eastwest" >/dev/null
/usr/bin/python3 -c "import json; o=json.load(open('$tmp/out')); o['status']={'loadBalancer':{'ingress':[{'ip':'203.0.113.50','ipMode':'VIP'}]}}; json.dump(o, open('$tmp/svc-ew.json','w'))"
expect_eq "$(api PUT "$SVC/eastwest/status" "@$tmp/svc-ew.json")" 200 "the balancer's address"
wait_for 20 ew_at IPAddress=203.0.113.50 || failed "the east-west Gateway's address: $(ew_addr)"
api GET "$GW/ingress" >/dev/null # what the checks below read

# Its listeners' status and its routes', as Istio's controller writes them back: https's Secret
# c does not exist (ResolvedRefs False) until it does; an HTTPRoute's parent ingress is Accepted
# with its backend unresolved until Service web exists, and counted in attachedRoutes; a TLSRoute
# finds no listener taking it; a parent another controller wrote stays.
lst() { j "[(l['name'], l['attachedRoutes'], [c['status'] + ':' + c['reason'] for c in l['conditions'] if c['type'] == '$1'][0]) for l in o['status']['listeners']]"; }
expect_eq "$(lst ResolvedRefs)" \
	"[('http', 0, 'True:ResolvedRefs'), ('https', 0, 'False:InvalidCertificateRef'), ('http-b', 0, 'True:ResolvedRefs')]" \
	"the listeners' ResolvedRefs"
expect_eq "$(j '[l["supportedKinds"][0]["kind"] for l in o["status"]["listeners"]]')" \
	"['HTTPRoute', 'HTTPRoute', 'HTTPRoute']"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=gw \
	-keyout "$tmp/gw.key" -out "$tmp/gw.crt" 2>/dev/null || fail "openssl"
expect_eq "$(api POST /api/v1/namespaces/shop/secrets '{"apiVersion":"v1","kind":"Secret",
 "type":"kubernetes.io/tls","metadata":{"name":"c","namespace":"shop"},
 "data":{"tls.crt":"'"$(base64 -w0 "$tmp/gw.crt")"'","tls.key":"'"$(base64 -w0 "$tmp/gw.key")"'"}}')" 201
cert_ok() { api GET "$GW/ingress" >/dev/null && [ "$(lst ResolvedRefs)" = "[('http', 0, 'True:ResolvedRefs'), ('https', 0, 'True:ResolvedRefs'), ('http-b', 0, 'True:ResolvedRefs')]" ]; }
wait_for 20 cert_ok || failed "the https listener never resolved its Secret: $(cat "$tmp/out")"
HR=/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes
expect_eq "$(api POST "$HR" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute",
 "metadata":{"name":"web","namespace":"shop"},
 "spec":{"parentRefs":[{"name":"ingress","sectionName":"http"},{"name":"other"}],
  "rules":[{"backendRefs":[{"name":"web","port":80}]}]}}')" 201
parents() { j "[(p['parentRef']['name'], p['controllerName'], [c['status'] + ':' + c['reason'] for c in p['conditions']]) for p in o.get('status',{}).get('parents',[])]"; }
route_is() { api GET "$HR/web" >/dev/null && [ "$(parents)" = "$1" ]; }
wait_for 20 route_is "[('ingress', 'istio.io/gateway-controller', ['True:Accepted', 'False:BackendNotFound'])]" ||
	failed "the HTTPRoute's status: $(cat "$tmp/out")"
expect_eq "$(j 'o["status"]["parents"][0]["conditions"][0]["observedGeneration"]')" \
	"$(j 'o["metadata"].get("generation", 0)')" "observedGeneration"
expect_eq "$(api POST "$SVC" '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop"},
 "spec":{"selector":{"app":"web"},"ports":[{"port":80}]}}')" 201
wait_for 20 route_is "[('ingress', 'istio.io/gateway-controller', ['True:Accepted', 'True:ResolvedRefs'])]" ||
	failed "the HTTPRoute's backend never resolved: $(cat "$tmp/out")"
attached() { api GET "$GW/ingress" >/dev/null && [ "$(lst Accepted)" = "[('http', 1, 'True:Accepted'), ('https', 0, 'True:Accepted'), ('http-b', 0, 'True:Accepted')]" ]; }
wait_for 20 attached || failed "attachedRoutes: $(cat "$tmp/out")"
# Another controller's parent, written over ours: ours comes back beside it.
api GET "$HR/web" >/dev/null
/usr/bin/python3 -c "import json; o=json.load(open('$tmp/out')); o['status']={'parents':[{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway','name':'other'},'controllerName':'example.com/acme','conditions':[{'type':'Accepted','status':'True','reason':'Accepted','message':'','observedGeneration':1,'lastTransitionTime':'2026-01-01T00:00:00Z'}]}]}; print(json.dumps(o))" >"$tmp/hr.json"
expect_eq "$(api PUT "$HR/web/status" "$(cat "$tmp/hr.json")")" 200 "PUT another controller's status"
wait_for 20 route_is "[('other', 'example.com/acme', ['True:Accepted']), ('ingress', 'istio.io/gateway-controller', ['True:Accepted', 'True:ResolvedRefs'])]" ||
	failed "the other controller's parent was not kept beside ours: $(cat "$tmp/out")"
TR=/apis/gateway.networking.k8s.io/v1alpha2/namespaces/shop/tlsroutes
expect_eq "$(api POST "$TR" '{"apiVersion":"gateway.networking.k8s.io/v1alpha2","kind":"TLSRoute",
 "metadata":{"name":"tls","namespace":"shop"},
 "spec":{"parentRefs":[{"name":"ingress"}],"hostnames":["a.example.com"],
  "rules":[{"backendRefs":[{"name":"web","port":443}]}]}}')" 201
tls_is() { api GET "$TR/tls" >/dev/null && [ "$(parents)" = "$1" ]; }
wait_for 20 tls_is "[('ingress', 'istio.io/gateway-controller', ['False:NotAllowedByListeners', 'True:ResolvedRefs'])]" ||
	failed "the TLSRoute's status: $(cat "$tmp/out")"
# A mesh route (parent the Service web, the waypoint's case): Accepted, its waypoint missing
# (Istio's MissingUseWaypointLabel) until its namespace names one, then resolved.
expect_eq "$(api POST "$HR" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute",
 "metadata":{"name":"mesh","namespace":"shop"},
 "spec":{"parentRefs":[{"group":"","kind":"Service","name":"web"}],
  "rules":[{"backendRefs":[{"name":"web","port":80}]}]}}')" 201
mesh_is() { api GET "$HR/mesh" >/dev/null && [ "$(parents)" = "$1" ]; }
wait_for 20 mesh_is "[('web', 'istio.io/gateway-controller', ['True:Accepted', 'True:ResolvedRefs', 'False:MissingUseWaypointLabel'])]" ||
	failed "the mesh HTTPRoute's status: $(cat "$tmp/out")"
api GET /api/v1/namespaces/shop >/dev/null
/usr/bin/python3 -c "import json; o=json.load(open('$tmp/out')); o['metadata'].setdefault('labels',{})['istio.io/use-waypoint']='waypoint'; print(json.dumps(o))" >"$tmp/ns.json"
expect_eq "$(api PUT /api/v1/namespaces/shop "$(cat "$tmp/ns.json")")" 200 "label namespace shop"
wait_for 20 mesh_is "[('web', 'istio.io/gateway-controller', ['True:Accepted', 'True:ResolvedRefs', 'True:ResolvedWaypoints'])]" ||
	failed "the mesh HTTPRoute's waypoint never resolved: $(cat "$tmp/out")"
# Nothing written again that says the same: past a resync (2 s here), the same resourceVersions.
rvs() {
	local v=""
	for p in "$GW/ingress" "$HR/web" "$TR/tls"; do
		api GET "$p" >/dev/null
		v="$v $(j 'o["metadata"]["resourceVersion"]')"
	done
	echo "$v"
}
before=$(rvs)
sleep 3
expect_eq "$(rvs)" "$before" "resourceVersions past a resync (a status written again unchanged)"

# An AuthorizationPolicy: its ZtunnelAccepted condition, as istiod writes it for ambient, and a
# Warning Event when the ztunnel cannot enforce it as written (here a DENY naming methods only).
AP=/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies
expect_eq "$(api POST "$AP" '{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy",
 "metadata":{"name":"deny-delete","namespace":"shop"},
 "spec":{"action":"DENY","rules":[{"to":[{"operation":{"methods":["DELETE"]}}]}]}}')" 201
expect_eq "$(api POST "$AP" '{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy",
 "metadata":{"name":"allow-ns","namespace":"shop"},
 "spec":{"rules":[{"from":[{"source":{"namespaces":["shop"]}}]}]}}')" 201
ap_cond() { # NAME: its ZtunnelAccepted as status:reason
	api GET "$AP/$1" >/dev/null &&
		j '",".join(c["status"] + ":" + c["reason"] for c in o.get("status",{}).get("conditions",[]) if c["type"] == "ZtunnelAccepted")'
}
ap_is() { [ "$(ap_cond "$1")" = "$2" ]; }
wait_for 20 ap_is deny-delete True:UnsupportedValue || failed "deny-delete's condition: $(cat "$tmp/out")"
expect_contains "$(j 'o["status"]["conditions"][0]["message"]')" \
	"ztunnel does not support HTTP attributes (found: methods)"
wait_for 20 ap_is allow-ns True:Accepted || failed "allow-ns's condition: $(cat "$tmp/out")"
warned() {
	api GET "/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name%3Ddeny-delete" >/dev/null &&
		[ "$(j '[(e["type"], e["reason"]) for e in o["items"]]')" = "[('Warning', 'UnsupportedValue')]" ]
}
wait_for 20 warned || failed "no Warning Event on deny-delete: $(cat "$tmp/out")"
expect_contains "$(j 'o["items"][0]["message"]')" "fails closed"
api GET /api/v1/namespaces/shop/events >/dev/null
expect_eq "$(j 'len([e for e in o["items"] if e["involvedObject"]["name"] == "allow-ns"])')" 0 \
	"Events on a policy the ztunnel enforces as written"

# Another class is neither: nothing made for it, its status left alone.
expect_eq "$(api GET "$DEP/other")" 404 "no Deployment for a Gateway of class acme"
# networking.istio.io/service-type: ClusterIP, as Istio's ambient tutorial annotates its
# gateway (kubectl annotate gateway ...): the Service becomes a ClusterIP one, its address kept.
# A waypoint's is ClusterIP; the annotation makes it LoadBalancer.
api GET "$SVC/ingress-istio" >/dev/null
ip_before=$(j 'o["spec"].get("clusterIP")')
api GET "$GW/ingress" >/dev/null
/usr/bin/python3 -c "import json; o=json.load(open('$tmp/out')); o['metadata'].setdefault('annotations',{})['networking.istio.io/service-type']='ClusterIP'; o.pop('status',None); print(json.dumps(o))" >"$tmp/gw.json"
expect_eq "$(api PUT "$GW/ingress" "$(cat "$tmp/gw.json")")" 200 "annotate the gateway"
svc_type() { [ "$(api GET "$1")" = 200 ] && [ "$(j 'o["spec"].get("type")')" = "$2" ]; }
wait_for 20 svc_type "$SVC/ingress-istio" ClusterIP ||
	failed "the annotated gateway's Service is not ClusterIP: $(cat "$tmp/out")"
expect_eq "$(j 'o["spec"].get("clusterIP")')" "$ip_before" "the gateway Service's clusterIP kept"
expect_eq "$(j '",".join("%s:%d" % (p["name"], p["port"]) for p in o["spec"]["ports"])')" \
	"status-port:15021,http:80,https:443" "the ClusterIP gateway Service's ports"
expect_eq "$(api GET "$SVC/waypoint")" 200
expect_eq "$(j 'o["spec"]["type"]')" ClusterIP "a waypoint's Service type"
api GET "$GW/waypoint" >/dev/null
/usr/bin/python3 -c "import json; o=json.load(open('$tmp/out')); o['metadata'].setdefault('annotations',{})['networking.istio.io/service-type']='LoadBalancer'; o.pop('status',None); print(json.dumps(o))" >"$tmp/gw.json"
expect_eq "$(api PUT "$GW/waypoint" "$(cat "$tmp/gw.json")")" 200 "annotate the waypoint"
wait_for 20 svc_type "$SVC/waypoint" LoadBalancer ||
	failed "the annotated waypoint's Service is not LoadBalancer: $(cat "$tmp/out")"
# A type no such Service may have is refused, and the Gateway says why.
expect_eq "$(api POST "$GW" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"badtype","namespace":"shop","annotations":{"networking.istio.io/service-type":"ExternalName"}},
 "spec":{"gatewayClassName":"istio","listeners":[{"name":"http","port":80,"protocol":"HTTP"}]}}')" 201
wait_for 20 programmed badtype False || failed "a Gateway with service-type ExternalName is not Programmed False"
expect_contains "$(j '[c["message"] for c in o["status"]["conditions"] if c["type"]=="Programmed"][0]')" \
	"networking.istio.io/service-type is not ClusterIP, NodePort or LoadBalancer"
expect_eq "$(api GET "$SVC/badtype-istio")" 404 "no Service for it"
expect_eq "$(api DELETE "$GW/badtype")" 200
expect_eq "$(api GET "$DEP/other-istio")" 404 "no Deployment for a Gateway of class acme"
expect_eq "$(api GET "$GW/other")" 200
expect_eq "$(j 'o.get("status")')" "None"

# An object deleted by hand comes back (the controller's resync).
expect_eq "$(api DELETE "$DEP/waypoint")" 200
is() { [ "$(api GET "$1")" = "$2" ]; }
wait_for 20 is "$DEP/waypoint" 200 || failed "the deleted Deployment did not come back"

# A Gateway whose service account changes: the Deployment follows.
api GET "$GW/waypoint" >/dev/null
/usr/bin/python3 -c "import json; o=json.load(open('$tmp/out')); o['metadata'].setdefault('annotations',{})['gateway.istio.io/service-account']='wp-sa'; o.pop('status',None); print(json.dumps(o))" >"$tmp/gw.json"
expect_eq "$(api PUT "$GW/waypoint" "$(cat "$tmp/gw.json")")" 200
wp_sa() { [ "$(api GET "$DEP/waypoint")" = 200 ] && [ "$(j 'o["spec"]["template"]["spec"]["serviceAccountName"]')" = wp-sa ]; }
wait_for 20 wp_sa || failed "the Deployment did not take the new service account"
expect_eq "$(api GET "$SA/wp-sa")" 200 "the new ServiceAccount"
wait_for 20 is "$SA/waypoint" 404 || failed "the old ServiceAccount was not deleted"

# A same-named Deployment that is not ambit's: left as it is, and the Gateway says why.
expect_eq "$(api POST "$DEP" '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"mine","namespace":"shop"},
 "spec":{"selector":{"matchLabels":{"app":"mine"}},"template":{"metadata":{"labels":{"app":"mine"}},
 "spec":{"containers":[{"name":"c","image":"mine:1"}]}}}}')" 201
expect_eq "$(api POST "$GW" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"mine","namespace":"shop"},
 "spec":{"gatewayClassName":"istio-waypoint","listeners":[{"name":"mesh","port":15008,"protocol":"HBONE"}]}}')" 201
wait_for 20 programmed mine False || failed "a Gateway whose Deployment is not ambit's is not Programmed False"
expect_contains "$(j '[c["message"] for c in o["status"]["conditions"] if c["type"]=="Programmed"][0]')" \
	"Deployment shop/mine exists and is not ambit's"
api GET "$DEP/mine" >/dev/null
expect_eq "$(j 'o["spec"]["template"]["spec"]["containers"][0]["image"]')" "mine:1" "the foreign Deployment untouched"

# A service-account annotation that is no name is refused, never rendered into the manifests.
expect_eq "$(api POST "$GW" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"evil","namespace":"shop","annotations":{"gateway.istio.io/service-account":"x\n  labels: {app: evil}"}},
 "spec":{"gatewayClassName":"istio-waypoint","listeners":[{"name":"mesh","port":15008,"protocol":"HBONE"}]}}')" 201
wait_for 20 programmed evil False || failed "a Gateway with a bad service-account annotation is not Programmed False"
expect_contains "$(j '[c["message"] for c in o["status"]["conditions"] if c["type"]=="Programmed"][0]')" \
	"is not a ServiceAccount name"
expect_eq "$(api GET "$DEP/evil")" 404 "nothing made for it"
expect_eq "$(api DELETE "$GW/evil")" 200

# Deleting a Gateway deletes its objects, and only its own.
expect_eq "$(api DELETE "$GW/waypoint")" 200
gone() { [ "$(api GET "$DEP/waypoint")" = 404 ] && [ "$(api GET "$SVC/waypoint")" = 404 ] && [ "$(api GET "$SA/wp-sa")" = 404 ]; }
wait_for 20 gone || failed "the deleted Gateway's objects remain"
expect_eq "$(api DELETE "$GW/mine")" 200
sleep 1
expect_eq "$(api GET "$DEP/mine")" 200 "the foreign Deployment survives its Gateway"

# ambitctl on Kubernetes, as istioctl: apply (and enroll the namespace), wait until the
# controller says Programmed, status, delete.
out=$(actl waypoint apply --kubeconfig "$tmp/kubeconfig" -n shop --name wp2 --enroll-namespace \
	--timeout 20 2>&1) || failed "waypoint apply --kubeconfig: $out"
expect_contains "$out" "waypoint shop/wp2 applied"
expect_contains "$out" 'namespace shop labeled with "istio.io/use-waypoint: wp2"'
expect_contains "$out" "waypoint shop/wp2 is ready"
expect_eq "$(api GET /api/v1/namespaces/shop)" 200
expect_eq "$(j 'o["metadata"]["labels"]["istio.io/use-waypoint"]')" wp2
expect_eq "$(api GET "$DEP/wp2")" 200 "the controller deployed the waypoint ambitctl applied"
out=$(actl waypoint status --kubeconfig "$tmp/kubeconfig" -n shop --name wp2 2>&1) || fail "status: $out"
expect_contains "$out" "waypoint shop/wp2: Programmed True"
out=$(actl waypoint delete --kubeconfig "$tmp/kubeconfig" -n shop wp2 2>&1) || fail "delete: $out"
expect_contains "$out" "waypoint shop/wp2 deleted"
wait_for 20 is "$DEP/wp2" 404 || failed "the deleted waypoint's Deployment remains"
out=$(actl waypoint status --kubeconfig "$tmp/kubeconfig" -n shop --name wp2 2>&1) &&
	fail "status of a deleted waypoint succeeded: $out"
expect_contains "$out" "not found"
kill -0 "$ctl_pid" || fail "the controller exited: $(cat "$tmp/controller.log")"
log "controller: made, repaired, updated, refused a foreign object, deleted with the Gateway"

# ---- with no grant on Secrets (deploy/ambit.yaml), the CA says whether a
# certificateRef is a servable certificate, and the status follows (issue 55) ----
expect_eq "$(api POST "$GW" '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
 "metadata":{"name":"tls2","namespace":"shop"},
 "spec":{"gatewayClassName":"istio","listeners":[
  {"name":"c","port":443,"protocol":"HTTPS","hostname":"c.example.com","tls":{"certificateRefs":[{"name":"c"}]}},
  {"name":"d","port":443,"protocol":"HTTPS","hostname":"d.example.com","tls":{"certificateRefs":[{"name":"d"}]}}]}}')" 201
tls2_is() { api GET "$GW/tls2" >/dev/null && [ "$(lst ResolvedRefs)" = "$1" ]; }
wait_for 20 tls2_is "[('c', 0, 'True:ResolvedRefs'), ('d', 0, 'False:InvalidCertificateRef')]" ||
	failed "the listeners' ResolvedRefs from the CA: $(cat "$tmp/out")"
# d made afterwards: the CA says so within the controller's retry (5 s), and the status follows.
expect_eq "$(api POST /api/v1/namespaces/shop/secrets '{"apiVersion":"v1","kind":"Secret",
 "type":"kubernetes.io/tls","metadata":{"name":"d","namespace":"shop"},
 "data":{"tls.crt":"'"$(base64 -w0 "$tmp/gw.crt")"'","tls.key":"'"$(base64 -w0 "$tmp/gw.key")"'"}}')" 201
wait_for 20 tls2_is "[('c', 0, 'True:ResolvedRefs'), ('d', 0, 'True:ResolvedRefs')]" ||
	failed "the listener's Secret made later never resolved: $(cat "$tmp/out")"
grep -q "tls secrets" "$tmp/controller.log" && failed "the controller watched Secrets with a CA to ask"
log "controller with a CA: certificateRefs judged by the CA, no Secret read"
pass
