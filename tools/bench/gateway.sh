#!/usr/bin/env bash
# The ingress gateway (`make bench` runs it after the L7 engine): ambit's gateway against HAProxy
# and nginx as the TLS ingress to the same backend, each with the same policy on: a
# RequestAuthentication (RS256 JWTs of one issuer, 2048-bit RSA key, verified on every request)
# and a 10-rule ALLOW AuthorizationPolicy every rule of which wants that issuer's subject as
# requestPrincipal; the load's requests match the 10th rule only (path, method and a header).
#
# - The gateway: build/waypoint --config with the model `ambitctl waypoint config` compiles for
#   pod istio-system/istio-ingressgateway from Istio's objects as a user writes them (Gateway with
#   an HTTPS server, credentialName Secret, VirtualService, RequestAuthentication and
#   AuthorizationPolicy selecting `istio: ingressgateway`); --workers 1. It writes Envoy's
#   access-log line per request (to /dev/null); HAProxy and nginx log nothing.
# - HAProxy 2.6: http_auth_bearer, jwt_header_query / jwt_verify / jwt_payload_query (alg, the
#   signature, iss, exp with Envoy's 60 s of skew), then the 10 rules as ACLs (`http-request
#   allow if ...`), else 403; nbthread 1.
# - nginx 1.22: no JWT module of its own; njs (libnginx-mod-http-js) verifies the token with
#   WebCrypto and evaluates the same 10 rules, then hands the request to the proxy location
#   (internalRedirect); one worker.
# Same statuses from all three: no token 403 (no principal), a bad signature or an expired token
# 401, a token with a request no rule matches 403; checked before anything is timed.
#
# TLS terminated by the proxy (TLS 1.3, one ECDSA P-256 certificate for all three), HTTP/1.1
# keep-alive from wrk (CONNS connections), backend one nginx answering 200 in plaintext. Each
# proxy pinned to CPU 1, wrk and the backend to CPU 0, as tools/bench/l7.sh does; repetitions
# interleaved, medians. Run as root it makes a network namespace of its own (unshare -n: the
# gateway listens on every address of it) that goes with the script's last process.
#
# Per proxy: requests/s (one core), p50/p99 (wrk --latency), CPU s per 1,000 requests (/proc
# utime+stime of the proxy's processes), peak RSS (VmHWM); ratios to HAProxy. Also how busy the
# proxy's core was (CPU s per s: below 1, the proxy was not what limited the rate) and requests
# per proxy CPU second (1,000 / CPU per 1,000: requests/s per core as a saturated core would
# give it, steadier on a shared machine). Target: the gateway's requests/s per core >= 1.2x
# HAProxy's (judged on the measured requests/s; the other ratio printed beside it).
#
# Knobs: REPS [5/1], SECS [5/1], CONNS [16]; QUICK=1 for the smoke values; OUT
# [bench/results/gateway; QUICK: build/bench/gateway] writes OUT.md, OUT.json, OUT.raw.jsonl.
# `gateway.sh --configs DIR` writes the configurations into DIR and exits.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH=gateway
. "$HERE/lib-l7.sh"

bench_args "$@"
# A network namespace of our own when we may (only loopback in it; gone with our last process).
if [ -z "$CONFIGS" ] && [ -z "${AMBIT_GWBENCH_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
	unshare -n true 2>/dev/null; then
	AMBIT_GWBENCH_NETNS=1 exec unshare -n bash "$0" "$@"
fi
[ -n "${AMBIT_GWBENCH_NETNS:-}" ] && ip link set lo up

bench_knobs
PROXIES="gateway haproxy nginx"
NJS=/usr/lib/nginx/modules/ngx_http_js_module.so
ISS=https://issuer.bench.example
SUB=user-1
# The request of the load: it matches rule 10 only.
RPATH=/api/v1/orders
TENANT=acme

bench_need_tools
[ -n "$CONFIGS" ] || [ -f "$NJS" ] ||
	die "needs nginx's njs module $NJS (libnginx-mod-http-js; make deps)"
bench_scratch "one for the proxy, one for the client and backend"
# Free ports: the backend's, then each proxy's.
read -r be ports < <(bench_ports 4)
declare -A tp=()
for r in $PROXIES; do
	tp[$r]=${ports%% *}
	ports=${ports#* }
done
mkdir -p "$tmp/logs" "$tmp/be" "$tmp/ng"

# The TLS certificate of all three, and the JWT issuer's key (its public key in PEM for HAProxy's
# jwt_verify, in DER for njs, a JWKS for the RequestAuthentication).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=gw.example.com \
	-addext subjectAltName=DNS:gw.example.com -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null ||
	die "openssl could not make the certificate"
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/haproxy.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/jwt-key.pem" 2>/dev/null ||
	die "openssl could not make the JWT key"
openssl rsa -in "$tmp/jwt-key.pem" -pubout -out "$tmp/jwt-pub.pem" 2>/dev/null &&
	openssl rsa -in "$tmp/jwt-key.pem" -pubout -outform DER -out "$tmp/jwt-pub.der" 2>/dev/null ||
	die "openssl could not write the JWT public key"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
modulus=$(openssl rsa -in "$tmp/jwt-key.pem" -noout -modulus 2>/dev/null | cut -d= -f2)
n=$(python3 -c 'import base64, sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b"=").decode())' "$modulus")
JWKS="{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"bench\",\"alg\":\"RS256\",\"use\":\"sig\",\"n\":\"$n\",\"e\":\"AQAB\"}]}"
# A token of @1 (sub) expiring at @2 (epoch s), signed with the issuer's key.
token() {
	local h p s
	h=$(printf '{"alg":"RS256","typ":"JWT","kid":"bench"}' | b64url)
	p=$(printf '{"iss":"%s","sub":"%s","iat":%d,"exp":%d}' "$ISS" "$1" "$(($2 - 3600))" "$2" | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$tmp/jwt-key.pem" -binary | b64url)
	echo "$h.$p.$s"
}
now=$(date +%s)
TOKEN=$(token "$SUB" $((now + 86400)))
EXPIRED=$(token "$SUB" $((now - 600)))
# The same token with another's signature: the issuer's key signed a different payload.
other=$(token user-2 $((now + 86400)))
BADSIG=${TOKEN%.*}.${other##*.}
echo "$TOKEN" >"$tmp/token"

# Backend: one nginx (CPU 0) answering 200 on 127.0.0.2.
{
	nginx_http "$tmp/be"
	echo "  server { listen 127.0.0.2:$be; location / { return 200 \"ok\\n\"; } }"
	echo "}"
} >"$tmp/be/nginx.conf"

# The 10 rules, one a line: "PATHS METHODS HEADER VALUE" (paths as Istio writes them, "-": any).
# Every rule also wants the principal ISS/SUB. The load's request (GET RPATH, x-tenant: TENANT)
# matches only the last.
RULES="/admin/* GET - -
/internal/* - - -
/api/* DELETE - -
/healthz GET - -
- - x-debug 1
/static/* GET,HEAD - -
/api/v1/orders POST - -
/api/* - x-tenant globex
/api/v2/* GET - -
/api/v1/* GET x-tenant $TENANT"

# The gateway's world: the ingress gateway pod and Service as Istio's demo profile has them
# (443 -> the pod's port tp[gateway]), the backend's Service and pod, the Secret, the Gateway,
# the VirtualService and the policy.
yflow() { # "a,b" -> [a, b]
	echo "[$(sed 's/,/, /g' <<<"$1")]"
}
gateway_world() {
	local crt key
	crt=$(base64 -w0 <"$tmp/cert.pem")
	key=$(base64 -w0 <"$tmp/key.pem")
	cat <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: bench}
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: https, port: 443, targetPort: ${tp[gateway]}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-0
  namespace: istio-system
  labels: {istio: ingressgateway, app: istio-ingressgateway}
spec: {serviceAccountName: istio-ingressgateway-service-account, containers: [{name: c}]}
status: {podIP: 127.0.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: bench}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: $be}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: bench, labels: {app: web}}
spec: {containers: [{name: c, ports: [{containerPort: $be}]}]}
status: {podIP: 127.0.0.2}
---
apiVersion: v1
kind: Secret
metadata: {name: bench-credential, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: $crt, tls.key: $key}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bench-gateway, namespace: bench}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ['*']
    tls: {mode: SIMPLE, credentialName: bench-credential}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: bench}
spec:
  hosts: ['*']
  gateways: [bench-gateway]
  http:
  - route: [{destination: {host: web.bench.svc.cluster.local, port: {number: 80}}}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules:
  - issuer: $ISS
    jwks: '$JWKS'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
YAML
	while read -r paths methods hdr val; do
		echo "  - from: [{source: {requestPrincipals: ['$ISS/$SUB']}}]"
		if [ "$paths" != - ] || [ "$methods" != - ]; then
			printf '    to: [{operation: {'
			[ "$paths" != - ] && printf 'paths: %s' "$(yflow "$paths")"
			[ "$paths" != - ] && [ "$methods" != - ] && printf ', '
			[ "$methods" != - ] && printf 'methods: %s' "$(yflow "$methods")"
			printf '}}]\n'
		fi
		[ "$hdr" != - ] && echo "    when: [{key: 'request.headers[$hdr]', values: ['$val']}]"
	done <<<"$RULES"
}
gateway_world >"$tmp/world.yaml"
"$REPO/build/ambitctl" waypoint config -f "$tmp/world.yaml" -n istio-system \
	--name istio-ingressgateway-0 >"$tmp/gateway.json" ||
	die "ambitctl waypoint config failed"

# HAProxy: Istio path "/a/*" is a prefix, "/a" exact; the rules as ACLs, tried in order.
hap_path() {
	case $1 in
	-) ;;
	*'*') echo "{ path_beg ${1%\*} }" ;;
	*) echo "{ path $1 }" ;;
	esac
}
hap_method() { [ "$1" = - ] || echo "{ method $(tr , ' ' <<<"$1") }"; }
hap_hdr() { [ "$1" = - ] || echo "{ req.hdr($1) -m str $2 }"; }
haproxy_cfg() {
	cat <<HAP
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:${tp[haproxy]} ssl crt $tmp/haproxy.pem ssl-min-ver TLSv1.2 alpn http/1.1
  # RequestAuthentication: a token present must verify (alg, signature, issuer, exp with 60 s
  # of skew), else 401; it makes the principal iss/sub.
  http-request set-var(txn.bearer) http_auth_bearer
  acl has_jwt var(txn.bearer) -m found
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg') if has_jwt
  http-request deny deny_status 401 if has_jwt !{ var(txn.alg) -m str RS256 }
  http-request deny deny_status 401 if has_jwt !{ var(txn.bearer),jwt_verify("RS256","$tmp/jwt-pub.pem") -m int 1 }
  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('\$.iss') if has_jwt
  http-request set-var(txn.sub) var(txn.bearer),jwt_payload_query('\$.sub') if has_jwt
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int') if has_jwt
  http-request set-var(txn.now) date(-60) if has_jwt
  http-request deny deny_status 401 if has_jwt !{ var(txn.iss) -m str $ISS }
  http-request deny deny_status 401 if has_jwt { var(txn.exp),sub(txn.now) -m int lt 0 }
  acl principal var(txn.sub) -m str $SUB
  # AuthorizationPolicy: ALLOW if a rule matches, else 403.
HAP
	while read -r paths methods hdr val; do
		echo "  http-request allow if has_jwt principal $(hap_path "$paths") $(hap_method "$methods") $(hap_hdr "$hdr" "$val")"
	done <<<"$RULES"
	cat <<HAP
  http-request deny deny_status 403
  default_backend web
backend web
  server s1 127.0.0.2:$be
HAP
}
haproxy_cfg >"$tmp/haproxy.cfg"

# nginx + njs: the same checks in JavaScript (WebCrypto), then the proxy location.
js_cond() { # a rule's conditions as a JavaScript expression over r
	local c="true"
	case $1 in
	-) ;;
	*'*') c="$c && r.uri.startsWith('${1%\*}')" ;;
	*) c="$c && r.uri === '$1'" ;;
	esac
	[ "$2" = - ] || c="$c && ['$(sed "s/,/','/g" <<<"$2")'].includes(r.method)"
	[ "$3" = - ] || c="$c && r.headersIn['$3'] === '$4'"
	echo "$c"
}
nginx_js() {
	cat <<JS
/* The issuer's public key inline: nginx's workers may not read our files, and njs runs a
 * module's top level for every request. */
const SPKI = Buffer.from('$(base64 -w0 <"$tmp/jwt-pub.der")', 'base64');
const ISS = '$ISS';
const PRINCIPAL = '$ISS/$SUB';

function b64url(s) {
	return Buffer.from(s, 'base64url');
}

/* The token's principal (iss/sub), '' without a token, null when it does not verify. */
async function principal(r) {
	const auth = r.headersIn['Authorization'];
	if (!auth || !auth.startsWith('Bearer '))
		return '';
	const parts = auth.slice(7).split('.');
	if (parts.length !== 3)
		return null;
	let hdr, claims;
	try {
		hdr = JSON.parse(b64url(parts[0]).toString());
		claims = JSON.parse(b64url(parts[1]).toString());
	} catch (e) {
		return null;
	}
	if (hdr.alg !== 'RS256')
		return null;
	const alg = {name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256'};
	const key = await crypto.subtle.importKey('spki', SPKI, alg, false, ['verify']);
	const ok = await crypto.subtle.verify(alg, key, b64url(parts[2]),
					      parts[0] + '.' + parts[1]);
	if (!ok || claims.iss !== ISS || typeof claims.exp !== 'number' ||
	    claims.exp + 60 < Date.now() / 1000)
		return null;
	return claims.iss + '/' + claims.sub;
}

async function gate(r) {
	const p = await principal(r);
	if (p === null) {
		r.return(401, 'Jwt verification fails');
		return;
	}
	if (p !== PRINCIPAL || !(
JS
	local first=1
	while read -r paths methods hdr val; do
		[ -n "$first" ] || echo "	    ||"
		first=
		echo "	    ($(js_cond "$paths" "$methods" "$hdr" "$val"))"
	done <<<"$RULES"
	cat <<'JS'
	)) {
		r.return(403, 'RBAC: access denied');
		return;
	}
	r.internalRedirect('@web');
}

export default {gate};
JS
}
nginx_js >"$tmp/ng/gate.js"
{
	echo "load_module $NJS;"
	nginx_http "$tmp/ng"
	cat <<NGINX
  js_import gate from $tmp/ng/gate.js;
  upstream web { server 127.0.0.2:$be; keepalive 64; }
  server {
    listen 127.0.0.1:${tp[nginx]} ssl;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { js_content gate.gate; }
    location @web {
      proxy_pass http://web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
} >"$tmp/ng/nginx.conf"
if [ -n "$CONFIGS" ]; then
	{
		echo "backend $be"
		for r in $PROXIES; do echo "$r ${tp[$r]}"; done
	} >"$tmp/ports"
	exit 0
fi
mkdir -p "$(dirname "$OUT")"

# Starts proxy @1 pinned to CPU 1 and prints its pid: access logs to /dev/null, errors to logs/.
start() {
	local err="$tmp/logs/$1.log"
	case $1 in
	gateway)
		taskset -c 1 "$REPO/build/waypoint" --config "$tmp/gateway.json" --workers 1 \
			--log-level warn >/dev/null 2>"$err" &
		;;
	haproxy) taskset -c 1 haproxy -db -f "$tmp/haproxy.cfg" >/dev/null 2>"$err" & ;;
	nginx) taskset -c 1 nginx -c "$tmp/ng/nginx.conf" -p "$tmp/ng" >/dev/null 2>"$err" & ;;
	esac
	echo $!
}

# Proxy @1's last errors (nginx writes its own error log).
errlog() {
	local f="$tmp/logs/$1.log"
	[ "$1" = nginx ] && f="$tmp/ng/error.log"
	tail -3 "$f" 2>/dev/null
}
# The status proxy @1 answers to a request with curl arguments @2...
status() {
	local r=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$tmp/cert.pem" \
		--resolve "gw.example.com:${tp[$r]}:127.0.0.1" "$@" "https://gw.example.com:${tp[$r]}$RPATH"
}

bench_start "$PROXIES"
for r in $PROXIES; do
	for _ in $(seq 100); do [ "$(status "$r")" != 000 ] && break; sleep 0.1; done
done

# Every proxy does the work before anything is timed: the load's request passes, and each way
# of failing the policy gets its status.
bearer() { echo "Authorization: Bearer $1"; }
for r in $PROXIES; do
	checks=(
		"200|with the token|-H|$(bearer "$TOKEN")|-H|x-tenant: $TENANT"
		"403|without a token|-H|x-tenant: $TENANT"
		"401|with a bad signature|-H|$(bearer "$BADSIG")|-H|x-tenant: $TENANT"
		"401|with an expired token|-H|$(bearer "$EXPIRED")|-H|x-tenant: $TENANT"
		"403|with the token, a tenant no rule names|-H|$(bearer "$TOKEN")|-H|x-tenant: initech"
		"403|with the token, PUT|-X|PUT|-H|$(bearer "$TOKEN")|-H|x-tenant: $TENANT"
	)
	for c in "${checks[@]}"; do
		IFS='|' read -r -a a <<<"$c"
		got=$(status "$r" "${a[@]:2}")
		[ "$got" = "${a[0]}" ] ||
			die "$r: ${a[1]}: $got, not ${a[0]} ($(errlog "$r"))"
	done
	say "$r checks: 200 with the token; 403 without; 401 bad signature, expired; 403 tenant, PUT"
done

: >"$raw"
# wrk takes no --resolve: the URL names 127.0.0.1 (the Gateway's server has hosts '*').
for rep in $(seq "$REPS"); do
	for r in $PROXIES; do
		bench_wrk "$r" "$rep $r" "\"proxy\":\"$r\",\"rep\":$rep" "${rpid[$r]}" \
			-H 'Host: gw.example.com' -H "$(bearer "$TOKEN")" -H "x-tenant: $TENANT" \
			"https://127.0.0.1:${tp[$r]}$RPATH"
	done
done

python3 - "$raw" "$OUT" "$REPS" "$SECS" "$CONNS" <<'PY'
import json, statistics, sys
raw, out, reps, secs, conns = sys.argv[1:6]
rows = [json.loads(l) for l in open(raw)]
for x in rows:
    # What the proxy's core gave: its share of it, and requests per second of it (the figure
    # requests/s per core would be with the core all the proxy's; a shared machine lends less).
    x["busy"] = x["rps"] * x["cpu_s_per_1k"] / 1000
    x["rps_per_cpu_s"] = 1000 / x["cpu_s_per_1k"] if x["cpu_s_per_1k"] else 0
keys = ["rps", "busy", "rps_per_cpu_s", "p50_ms", "p99_ms", "cpu_s_per_1k", "user_s_per_1k",
        "sys_s_per_1k", "rss_mb"]
names = {"rps": "requests/s (one proxy core)", "busy": "proxy core busy (CPU s per s)",
         "rps_per_cpu_s": "requests per proxy CPU second", "p50_ms": "p50 latency, ms",
         "p99_ms": "p99 latency, ms", "cpu_s_per_1k": "proxy CPU s per 1,000 requests",
         "user_s_per_1k": "of which user space", "sys_s_per_1k": "of which kernel (system)",
         "rss_mb": "proxy peak RSS, MB"}
proxies = ["gateway", "haproxy", "nginx"]
shown = {"gateway": "ambit gateway", "haproxy": "HAProxy", "nginx": "nginx+njs"}
refs = ["haproxy", "nginx"]
med = {p: {k: statistics.median(x[k] for x in rows if x["proxy"] == p) for k in keys}
       for p in proxies}
lines = [f"Ingress over TLS (terminated by the proxy; TLS 1.3, ECDSA P-256 certificate), "
         f"HTTP/1.1 keep-alive, {conns} connections, {secs} s x {reps} repetitions (medians). "
         "Policy on for all three: a RequestAuthentication (RS256 JWT, 2048-bit RSA, verified on "
         "every request: signature, issuer, expiry) and a 10-rule ALLOW AuthorizationPolicy "
         "(paths, methods, headers; every rule wants the token's principal), the requests "
         "matching the 10th rule. HAProxy: jwt_verify and ACLs; nginx: njs (WebCrypto) for the "
         "token and the rules. The gateway writes Envoy's access-log line per request (to "
         "/dev/null); HAProxy and nginx log nothing.",
         "", "| figure | " + " | ".join(shown[p] for p in proxies) + " | "
         + " | ".join(f"gateway/{shown[r]}" for r in refs) + " |",
         "|---" * (1 + len(proxies) + len(refs)) + "|"]
for k in keys:
    fmt = (lambda v: f"{v:.0f}") if k.startswith("rps") else (lambda v: f"{v:.3g}")
    g = med["gateway"][k]
    lines.append(f"| {names[k]} | " + " | ".join(fmt(med[p][k]) for p in proxies) + " | "
                 + " | ".join(f"{g / med[r][k]:.2f}" if med[r][k] else "-" for r in refs) + " |")
# The issue's target (issue 38 §3: with the verified-token cache, 1.2x HAProxy's).
TARGET = 1.2
h = med["haproxy"]["rps"]
ratio = med["gateway"]["rps"] / h if h else float("inf")
met = ratio >= TARGET
cpu_ratio = med["gateway"]["rps_per_cpu_s"] / med["haproxy"]["rps_per_cpu_s"] \
    if med["haproxy"]["rps_per_cpu_s"] else float("inf")
lines += ["", f"**Target**: the gateway's requests/s per proxy core >= {TARGET}x HAProxy's: "
          + ("met" if met else "not met") + f" ({ratio:.3f}x; per proxy CPU second "
          f"{cpu_ratio:.3f}x)."]
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"medians": med,
           "target": {"figure": "rps", "against": "haproxy", "op": ">=", "bound": TARGET,
                      "ratio": round(ratio, 4) if ratio != float("inf") else None, "met": met,
                      "ratio_per_cpu_s": round(cpu_ratio, 4) if cpu_ratio != float("inf") else None},
           "reps": int(reps), "secs": int(secs), "conns": int(conns)},
          open(out + ".json", "w"), indent=1)
print("\n".join(lines))
PY
