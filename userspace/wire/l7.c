// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model as JSON (cJSON), encoder side; the strict decoder is json_dec.c. Names are
 * camelCase; absent strings and empty lists are left out; addresses are dotted quads; a direct
 * response body is base64 (it may hold any byte). docs/internals/l7-model.md lists the
 * members.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/snapshot.h"
#include "tls/crypto.h"
#include "l7_priv.h"

const char *const l7_match_names[] = {"any", "exact", "prefix", "pathPrefix", "regex", NULL};
const char *const l7_action_names[] = {"route", "redirect", "direct", "notFound", NULL};
const char *const l7_routes_kind_names[] = {"default", "virtualService", "gatewayAPI", NULL};
const char *const l7_resolution_names[] = {"STATIC", "DNS",	    "DNS_ROUND_ROBIN",
					   "NONE",   "DYNAMIC_DNS", NULL};
const char *const l7_lb_names[] = {"UNSPECIFIED", "LEAST_REQUEST", "ROUND_ROBIN",
				   "RANDOM",	  "PASSTHROUGH",   NULL};
const char *const l7_hash_names[] = {"", "header", "cookie", "sourceIp", "query", NULL};
const char *const l7_h2_names[] = {"DEFAULT", "DO_NOT_UPGRADE", "UPGRADE", NULL};
const char *const l7_derive_names[] = {"", "FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT", NULL};
const char *const l7_preflight_names[] = {"UNSPECIFIED", "FORWARD", "IGNORE", NULL};

struct enc {
	bool failed;
};

static cJSON *obj(struct enc *e, cJSON *parent, const char *key)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || (parent && (key ? !cJSON_AddItemToObject(parent, key, o)
				  : !cJSON_AddItemToArray(parent, o)))) {
		cJSON_Delete(o);
		e->failed = true;
		return NULL;
	}
	return o;
}

static cJSON *arr(struct enc *e, cJSON *parent, const char *key)
{
	cJSON *a = parent ? cJSON_AddArrayToObject(parent, key) : NULL;

	e->failed |= !a;
	return a;
}

static void str(struct enc *e, cJSON *o, const char *key, const char *v)
{
	if (o && v && !cJSON_AddStringToObject(o, key, v))
		e->failed = true;
}

static void num(struct enc *e, cJSON *o, const char *key, double v)
{
	if (o && !cJSON_AddNumberToObject(o, key, v))
		e->failed = true;
}

static void flag(struct enc *e, cJSON *o, const char *key, bool v)
{
	if (o && !cJSON_AddBoolToObject(o, key, v))
		e->failed = true;
}

static void ip(struct enc *e, cJSON *o, const char *key, uint32_t v)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = v};

	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	str(e, o, key, buf);
}

/* Only when @a is an address: an IPv4-only model's JSON is as it was. */
static void ip6(struct enc *e, cJSON *o, const char *key, const struct ipaddr *a)
{
	char buf[IPADDR_STRLEN];

	if (a->family)
		str(e, o, key, ipaddr_format(a, buf, sizeof(buf)));
}

static void strings(struct enc *e, cJSON *o, const char *key, const struct config_strings *s)
{
	cJSON *a;

	if (!s->n || !o)
		return;
	a = arr(e, o, key);
	for (size_t i = 0; a && i < s->n; i++) {
		cJSON *v = cJSON_CreateString(s->items[i]);

		if (!v || !cJSON_AddItemToArray(a, v)) {
			cJSON_Delete(v);
			e->failed = true;
		}
	}
}

static void labels(struct enc *e, cJSON *o, const char *key, const struct config_labels *l)
{
	cJSON *m = obj(e, o, key);

	for (size_t i = 0; m && i < l->n; i++)
		str(e, m, l->items[i].key, l->items[i].value);
}

static void header_ops(struct enc *e, cJSON *o, const char *key, const struct config_header_ops *h)
{
	cJSON *m;

	if (!h->set.n && !h->add.n && !h->remove.n)
		return;
	m = obj(e, o, key);
	if (h->set.n)
		labels(e, m, "set", &h->set);
	if (h->add.n)
		labels(e, m, "add", &h->add);
	strings(e, m, "remove", &h->remove);
}

static void headers(struct enc *e, cJSON *o, const struct config_headers *h)
{
	cJSON *m;

	if (!h->request.set.n && !h->request.add.n && !h->request.remove.n && !h->response.set.n &&
	    !h->response.add.n && !h->response.remove.n)
		return;
	m = obj(e, o, "headers");
	header_ops(e, m, "request", &h->request);
	header_ops(e, m, "response", &h->response);
}

static void smatch(struct enc *e, cJSON *o, const char *key, const struct l7_string_match *m)
{
	cJSON *s;

	if (m->type == L7_MATCH_ANY)
		return;
	s = obj(e, o, key);
	str(e, s, "type", l7_match_names[m->type]);
	str(e, s, "value", m->value);
	if (m->ignore_case)
		flag(e, s, "ignoreCase", true);
}

static void hmatches(struct enc *e, cJSON *o, const char *key, const struct l7_header_match *h,
		     size_t n)
{
	cJSON *a = n ? arr(e, o, key) : NULL;

	for (size_t i = 0; a && i < n; i++) {
		cJSON *m = obj(e, a, NULL);

		str(e, m, "name", h[i].name);
		smatch(e, m, "match", &h[i].match);
		if (h[i].invert)
			flag(e, m, "invert", true);
	}
}

static void dest(struct enc *e, cJSON *d, const struct l7_destination *x)
{
	str(e, d, "host", x->host);
	str(e, d, "subset", x->subset);
	if (x->port)
		num(e, d, "port", x->port);
	num(e, d, "weight", x->weight);
	headers(e, d, &x->headers);
	if (x->unknown)
		flag(e, d, "unknown", true);
	if (x->invalid)
		flag(e, d, "invalid", true);
}

static void dests(struct enc *e, cJSON *o, const struct l7_destination *d, size_t n)
{
	cJSON *a = arr(e, o, "destinations");

	for (size_t i = 0; a && i < n; i++)
		dest(e, obj(e, a, NULL), &d[i]);
}

static void retry(struct enc *e, cJSON *o, const struct l7_retry *r)
{
	cJSON *m = obj(e, o, "retry"), *on = arr(e, m, "retryOn"), *codes;

	num(e, m, "attempts", r->attempts);
	for (unsigned int i = 0; on && i < L7_RETRY_NAMES; i++) {
		cJSON *v;

		if (!(r->retry_on & (1u << i)))
			continue;
		v = cJSON_CreateString(l7_retry_on_name(i));
		if (!v || !cJSON_AddItemToArray(on, v)) {
			cJSON_Delete(v);
			e->failed = true;
		}
	}
	codes = r->n_codes ? arr(e, m, "codes") : NULL;
	for (size_t i = 0; codes && i < r->n_codes; i++) {
		cJSON *v = cJSON_CreateNumber(r->codes[i]);

		if (!v || !cJSON_AddItemToArray(codes, v)) {
			cJSON_Delete(v);
			e->failed = true;
		}
	}
	num(e, m, "perTryTimeoutMs", (double)r->per_try_timeout_ms);
	num(e, m, "backoffBaseMs", (double)r->backoff_base_ms);
	num(e, m, "backoffMaxMs", (double)r->backoff_max_ms);
	flag(e, m, "ignorePreviousHosts", r->ignore_previous_hosts);
}

static void fault(struct enc *e, cJSON *o, const struct l7_fault *f)
{
	cJSON *m;

	if (!f->delay && !f->abort)
		return;
	m = obj(e, o, "fault");
	if (f->delay) {
		cJSON *d = obj(e, m, "delay");

		num(e, d, "ms", (double)f->delay_ms);
		num(e, d, "ppm", f->delay_ppm);
	}
	if (f->abort) {
		cJSON *a = obj(e, m, "abort");

		if (f->abort_grpc >= 0)
			num(e, a, "grpcStatus", f->abort_grpc);
		else
			num(e, a, "httpStatus", f->abort_http);
		num(e, a, "ppm", f->abort_ppm);
	}
}

static void cors(struct enc *e, cJSON *o, const struct config_cors *c)
{
	cJSON *m, *a;

	if (!c->present)
		return;
	m = obj(e, o, "cors");
	a = c->n_allow_origins ? arr(e, m, "allowOrigins") : NULL;
	for (size_t i = 0; a && i < c->n_allow_origins; i++) {
		struct l7_string_match sm = {
		    .type = c->allow_origins[i].type == CONFIG_MATCH_EXACT    ? L7_MATCH_EXACT
			    : c->allow_origins[i].type == CONFIG_MATCH_PREFIX ? L7_MATCH_PREFIX
									      : L7_MATCH_REGEX,
		    .value = c->allow_origins[i].value};
		cJSON *x = obj(e, a, NULL);

		str(e, x, "type", l7_match_names[sm.type]);
		str(e, x, "value", sm.value);
	}
	strings(e, m, "allowMethods", &c->allow_methods);
	strings(e, m, "allowHeaders", &c->allow_headers);
	strings(e, m, "exposeHeaders", &c->expose_headers);
	if (c->max_age_ms)
		num(e, m, "maxAgeMs", (double)c->max_age_ms);
	if (c->allow_credentials >= 0)
		flag(e, m, "allowCredentials", c->allow_credentials);
	str(e, m, "unmatchedPreflights", l7_preflight_names[c->unmatched_preflights]);
}

static void matches(struct enc *e, cJSON *o, const struct l7_match *ms, size_t n)
{
	cJSON *a = arr(e, o, "matches");

	for (size_t i = 0; a && i < n; i++) {
		cJSON *m = obj(e, a, NULL);
		const struct l7_match *lm = &ms[i];

		smatch(e, m, "path", &lm->path);
		smatch(e, m, "scheme", &lm->scheme);
		smatch(e, m, "method", &lm->method);
		smatch(e, m, "authority", &lm->authority);
		hmatches(e, m, "headers", lm->headers, lm->n_headers);
		hmatches(e, m, "query", lm->query, lm->n_query);
		if (lm->port)
			num(e, m, "port", lm->port);
		if (lm->tls_server)
			str(e, m, "tlsServer", lm->tls_server);
	}
}

int l7j_matches_to_json(cJSON *o, const struct l7_match *m, size_t n)
{
	struct enc e = {0};

	matches(&e, o, m, n);
	return e.failed ? -ENOMEM : 0;
}

static void route(struct enc *e, cJSON *r, const struct l7_route *x)
{
	cJSON *a;

	str(e, r, "name", x->name);
	str(e, r, "source", x->source);
	matches(e, r, x->matches, x->n_matches);
	str(e, r, "action", l7_action_names[x->action]);
	dests(e, r, x->dests, x->n_dests);
	if (x->action == L7_ACTION_REDIRECT) {
		cJSON *m = obj(e, r, "redirect");

		str(e, m, "scheme", x->redirect.scheme);
		str(e, m, "host", x->redirect.host);
		if (x->redirect.port)
			num(e, m, "port", x->redirect.port);
		if (x->redirect.derive_port)
			str(e, m, "derivePort", l7_derive_names[x->redirect.derive_port]);
		str(e, m, "path", x->redirect.path);
		str(e, m, "prefix", x->redirect.prefix);
		flag(e, m, "keepQuery", x->redirect.keep_query);
		num(e, m, "code", x->redirect.code);
	}
	if (x->action == L7_ACTION_DIRECT) {
		cJSON *m = obj(e, r, "directResponse");

		num(e, m, "status", x->direct_status);
		if (x->direct_body) {
			char *b64 = crypto_base64_encode(x->direct_body, x->direct_body_len);

			if (!b64)
				e->failed = true;
			str(e, m, "bodyBase64", b64);
			free(b64);
		}
	}
	if (x->rewrite.path || x->rewrite.prefix || x->rewrite.regex || x->rewrite.authority) {
		cJSON *m = obj(e, r, "rewrite");

		str(e, m, "path", x->rewrite.path);
		str(e, m, "prefix", x->rewrite.prefix);
		str(e, m, "regex", x->rewrite.regex);
		str(e, m, "regexSub", x->rewrite.regex_sub);
		str(e, m, "authority", x->rewrite.authority);
	}
	headers(e, r, &x->headers);
	if (x->timeout_ms)
		num(e, r, "timeoutMs", (double)x->timeout_ms);
	retry(e, r, &x->retry);
	fault(e, r, &x->fault);
	a = x->n_mirrors ? arr(e, r, "mirrors") : NULL;
	for (size_t i = 0; a && i < x->n_mirrors; i++) {
		cJSON *m = obj(e, a, NULL);

		dest(e, obj(e, m, "destination"), &x->mirrors[i].dest);
		num(e, m, "ppm", x->mirrors[i].ppm);
	}
	cors(e, r, &x->cors);
}

static void policy(struct enc *e, cJSON *p, const struct l7_policy *x)
{
	cJSON *m;

	str(e, p, "subset", x->subset);
	num(e, p, "port", x->port);
	m = obj(e, p, "loadBalancer");
	flag(e, m, "present", x->lb.present);
	str(e, m, "simple", l7_lb_names[x->lb.simple]);
	if (x->lb.hash_key) {
		str(e, m, "hashKey", l7_hash_names[x->lb.hash_key]);
		str(e, m, "hashName", x->lb.hash_name);
		str(e, m, "cookiePath", x->lb.cookie_path);
		if (x->lb.cookie_ttl_ms)
			num(e, m, "cookieTtlMs", (double)x->lb.cookie_ttl_ms);
		flag(e, m, "maglev", x->lb.maglev);
		num(e, m, "tableSize", (double)x->lb.table_size);
	}
	if (x->lb.locality_off)
		flag(e, m, "localityOff", true);
	if (x->lb.failover_priority.n)
		strings(e, m, "failoverPriority", &x->lb.failover_priority);
	m = obj(e, p, "connectionPool");
	flag(e, m, "present", x->pool.present);
	num(e, m, "maxConnections", x->pool.max_connections);
	num(e, m, "connectTimeoutMs", (double)x->pool.connect_timeout_ms);
	num(e, m, "tcpIdleTimeoutMs", (double)x->pool.tcp_idle_timeout_ms);
	num(e, m, "maxConnectionDurationMs", (double)x->pool.max_connection_duration_ms);
	num(e, m, "http1MaxPendingRequests", x->pool.http1_max_pending_requests);
	num(e, m, "http2MaxRequests", x->pool.http2_max_requests);
	num(e, m, "maxRequestsPerConnection", x->pool.max_requests_per_connection);
	num(e, m, "maxRetries", x->pool.max_retries);
	num(e, m, "httpIdleTimeoutMs", (double)x->pool.http_idle_timeout_ms);
	str(e, m, "h2UpgradePolicy", l7_h2_names[x->pool.h2_upgrade_policy]);
	flag(e, m, "useClientProtocol", x->pool.use_client_protocol);
	num(e, m, "maxConcurrentStreams", x->pool.max_concurrent_streams);
	if (x->outlier.present) {
		cJSON *codes;

		m = obj(e, p, "outlierDetection");
		num(e, m, "consecutive5xxErrors", x->outlier.consecutive_5xx);
		num(e, m, "consecutiveGatewayErrors", x->outlier.consecutive_gateway);
		num(e, m, "consecutiveLocalOriginFailures", x->outlier.consecutive_local_origin);
		flag(e, m, "splitExternalLocalOriginErrors", x->outlier.split_local_origin);
		num(e, m, "intervalMs", (double)x->outlier.interval_ms);
		num(e, m, "baseEjectionMs", (double)x->outlier.base_ejection_ms);
		num(e, m, "maxEjectionPercent", x->outlier.max_ejection_percent);
		num(e, m, "minHealthPercent", x->outlier.min_health_percent);
		codes = x->outlier.n_error_codes ? arr(e, m, "errorCodes") : NULL;
		for (size_t i = 0; codes && i < x->outlier.n_error_codes; i++) {
			cJSON *v = cJSON_CreateNumber(x->outlier.error_codes[i]);

			if (!v || !cJSON_AddItemToArray(codes, v)) {
				cJSON_Delete(v);
				e->failed = true;
			}
		}
	}
	if (x->tls.present) {
		m = obj(e, p, "tls");
		str(e, m, "mode", x->tls.mode);
		str(e, m, "sni", x->tls.sni);
		str(e, m, "caCertificates", x->tls.ca_certificates);
		str(e, m, "credentialName", x->tls.credential_name);
		strings(e, m, "subjectAltNames", &x->tls.subject_alt_names);
		if (x->tls.insecure_skip_verify)
			flag(e, m, "insecureSkipVerify", true);
		str(e, m, "certPem", x->tls_cert);
		str(e, m, "keyPem", x->tls_key);
		str(e, m, "caPem", x->tls_ca);
	}
}

static void service(struct enc *e, cJSON *s, const struct l7_service *x)
{
	char buf[IPADDR_STRLEN];
	cJSON *a;

	str(e, s, "hostname", x->hostname);
	str(e, s, "name", x->name);
	str(e, s, "namespace", x->namespace);
	if (x->workload)
		flag(e, s, "workload", true);
	if (x->entry)
		flag(e, s, "serviceEntry", true);
	if (x->resolution)
		str(e, s, "resolution", l7_resolution_names[x->resolution]);
	a = x->n_cidrs ? arr(e, s, "addresses") : NULL;
	for (size_t i = 0; a && i < x->n_cidrs; i++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(ipaddr_format_prefix(
						 &x->cidrs[i], buf, sizeof(buf)))))
			e->failed = true;
	ip(e, s, "vip", x->vip);
	ip6(e, s, "vip6", &x->vip6);
	a = arr(e, s, "ports");
	for (size_t i = 0; a && i < x->n_ports; i++) {
		cJSON *p = obj(e, a, NULL);

		num(e, p, "port", x->ports[i].port);
		str(e, p, "name", x->ports[i].name);
		str(e, p, "protocol", l7_protocol_name(x->ports[i].protocol));
		if (x->ports[i].target_port)
			num(e, p, "targetPort", x->ports[i].target_port);
		str(e, p, "targetPortName", x->ports[i].target_port_name);
	}
	a = arr(e, s, "endpoints");
	for (size_t i = 0; a && i < x->n_endpoints; i++) {
		const struct l7_endpoint *ep = &x->endpoints[i];
		cJSON *p = obj(e, a, NULL), *ports;

		ip(e, p, "ip", ep->ip);
		ip6(e, p, "ip6", &ep->ip6);
		str(e, p, "pod", ep->pod);
		str(e, p, "workload", ep->workload);
		str(e, p, "node", ep->node);
		str(e, p, "identity", ep->identity);
		str(e, p, "dnsName", ep->dns_name);
		labels(e, p, "labels", &ep->labels);
		ports = arr(e, p, "ports");
		for (size_t j = 0; ports && j < x->n_ports; j++) {
			cJSON *v = cJSON_CreateNumber(ep->ports[j]);

			if (!v || !cJSON_AddItemToArray(ports, v)) {
				cJSON_Delete(v);
				e->failed = true;
			}
		}
	}
	a = arr(e, s, "subsets");
	for (size_t i = 0; a && i < x->n_subsets; i++) {
		cJSON *p = obj(e, a, NULL), *eps;

		str(e, p, "name", x->subsets[i].name);
		labels(e, p, "labels", &x->subsets[i].labels);
		eps = arr(e, p, "endpoints");
		for (size_t j = 0; eps && j < x->subsets[i].n_endpoints; j++) {
			cJSON *v = cJSON_CreateNumber(x->subsets[i].endpoints[j]);

			if (!v || !cJSON_AddItemToArray(eps, v)) {
				cJSON_Delete(v);
				e->failed = true;
			}
		}
	}
	a = arr(e, s, "policies");
	for (size_t i = 0; a && i < x->n_policies; i++)
		policy(e, obj(e, a, NULL), &x->policies[i]);
	str(e, s, "routesKind", l7_routes_kind_names[x->routes_kind]);
	a = arr(e, s, "routes");
	for (size_t i = 0; a && i < x->n_routes; i++)
		route(e, obj(e, a, NULL), &x->routes[i]);
	a = x->n_tcp ? arr(e, s, "tcp") : NULL;
	for (size_t i = 0; a && i < x->n_tcp; i++) {
		cJSON *t = obj(e, a, NULL);

		str(e, t, "source", x->tcp[i].source);
		if (x->tcp[i].port)
			num(e, t, "port", x->tcp[i].port);
		strings(e, t, "subnets", &x->tcp[i].subnets);
		strings(e, t, "sniHosts", &x->tcp[i].sni_hosts);
		dests(e, t, x->tcp[i].dests, x->tcp[i].n_dests);
	}
	str(e, s, "viaWaypoint", x->via_waypoint);
	str(e, s, "waypointHost", x->waypoint_host);
	if (x->telemetry)
		num(e, s, "telemetry", x->telemetry);
	if (s && (l7j_service_authz_to_json(x, s) || l7j_service_ratelimits_to_json(x, s)))
		e->failed = true;
}

/*
 * A gateway's tunnels: each Service's VIPs with the waypoint instances they are reached
 * through; the IPv6 ones only when there are (an IPv4 cluster's JSON is as it was).
 */
static void tunnels(struct enc *e, cJSON *root, const struct l7_config *c)
{
	cJSON *a = c->n_tunnels ? arr(e, root, "tunnels") : NULL;

	for (size_t i = 0; a && i < c->n_tunnels; i++) {
		const struct l7_tunnel *t = &c->tunnels[i];
		cJSON *o = obj(e, a, NULL), *ips;
		char buf[IPADDR_STRLEN];

		ip(e, o, "vip", t->vip);
		ip6(e, o, "vip6", &t->vip6);
		str(e, o, "waypoint", t->waypoint);
		ips = t->n_ips6 ? arr(e, o, "ips6") : NULL;
		for (size_t k = 0; ips && k < t->n_ips6; k++) {
			cJSON *v = cJSON_CreateString(ipaddr_format(&t->ips6[k], buf, sizeof(buf)));

			if (!v || !cJSON_AddItemToArray(ips, v)) {
				cJSON_Delete(v);
				e->failed = true;
			}
		}
		ips = arr(e, o, "ips");
		for (size_t k = 0; ips && k < t->n_ips; k++) {
			char buf[INET_ADDRSTRLEN];
			struct in_addr in = {.s_addr = t->ips[k]};
			cJSON *v = cJSON_CreateString(inet_ntop(AF_INET, &in, buf, sizeof(buf)));

			if (!v || !cJSON_AddItemToArray(ips, v)) {
				cJSON_Delete(v);
				e->failed = true;
			}
		}
	}
}

/* A TLS listener's certificates (key material: the model goes to its gateway only). */
static void tls_certs(struct enc *e, cJSON *l, const struct l7_listener *li)
{
	cJSON *a = li->n_certs ? arr(e, l, "tls") : NULL;

	for (size_t k = 0; a && k < li->n_certs; k++) {
		const struct l7_tls_cert *t = &li->certs[k];
		cJSON *o = obj(e, a, NULL);

		str(e, o, "source", t->source);
		strings(e, o, "hosts", &t->hosts);
		/* ISTIO_MUTUAL's are the proxy's own, filled in where it runs. */
		if (t->mesh)
			flag(e, o, "mesh", true);
		if (t->cert)
			str(e, o, "cert", t->cert);
		if (t->key)
			str(e, o, "key", t->key);
		if (t->ca)
			str(e, o, "ca", t->ca);
		if (t->optional)
			flag(e, o, "optional", true);
		if (t->min_tls)
			num(e, o, "minTls", t->min_tls);
		if (t->max_tls)
			num(e, o, "maxTls", t->max_tls);
		strings(e, o, "cipherSuites", &t->ciphers);
	}
}

cJSON *l7_to_json(const struct l7_config *c)
{
	struct enc e = {0};
	cJSON *root = obj(&e, NULL, NULL), *w, *a;

	w = obj(&e, root, "waypoint");
	str(&e, w, "namespace", c->waypoint_namespace);
	str(&e, w, "name", c->waypoint_name);
	str(&e, w, "identity", c->identity);
	if (c->east_west)
		flag(&e, root, "eastWest", true);
	if (c->gateway) {
		flag(&e, root, "gateway", true);
		a = arr(&e, root, "listeners");
		for (size_t i = 0; a && i < c->n_listeners; i++) {
			cJSON *l = obj(&e, a, NULL);

			num(&e, l, "port", c->listeners[i].port);
			str(&e, l, "protocol", l7_protocol_name(c->listeners[i].protocol));
			str(&e, l, "service", c->listeners[i].service);
			if (c->listeners[i].proxy_protocol)
				flag(&e, l, "proxyProtocol", true);
			tls_certs(&e, l, &c->listeners[i]);
		}
	}
	a = arr(&e, root, "services");
	for (size_t i = 0; a && i < c->n_services; i++)
		service(&e, obj(&e, a, NULL), &c->services[i]);
	tunnels(&e, root, c);
	if (root && (l7j_authz_to_json(c, root) || l7j_ratelimits_to_json(c, root) ||
		     l7j_telemetry_to_json(c, root)))
		e.failed = true;
	if (e.failed) {
		cJSON_Delete(root);
		errno = ENOMEM;
		return NULL;
	}
	return root;
}
