// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's strict JSON decoder. Its input arrives over a socket: every member is checked
 * (unknown members, wrong types, out-of-range numbers, unknown names, regexes that are not RE2,
 * indices out of bounds are errors naming the field), so the waypoint either runs exactly what
 * the agent compiled or keeps its previous model.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "tls/crypto.h"
#include "ambit/re2.h"
#include "ambit/snapshot.h"
#include "l7_priv.h"

static void dheader_ops(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
			struct config_header_ops *out)
{
	static const char *const k[] = {"set", "add", "remove", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
	char p[320];

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.%s", path, key);
	if (!wire_keys(d, m, p, k))
		return;
	wire_labels(d, m, "set", p, &out->set);
	wire_labels(d, m, "add", p, &out->add);
	wire_strings(d, m, "remove", p, &out->remove);
}

static void dheaders(struct wire_dec *d, const cJSON *o, const char *path,
		     struct config_headers *out)
{
	static const char *const k[] = {"request", "response", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "headers");
	char p[320];

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.headers", path);
	if (!wire_keys(d, m, p, k))
		return;
	dheader_ops(d, m, "request", p, &out->request);
	dheader_ops(d, m, "response", p, &out->response);
}

static void dsmatch_obj(struct wire_dec *d, const cJSON *m, const char *p,
			struct l7_string_match *out)
{
	static const char *const k[] = {"type", "value", "ignoreCase", NULL};
	char why[160];

	if (!wire_keys(d, m, p, k))
		return;
	out->type = wire_enum(d, m, "type", p, l7_match_names, true);
	out->value = wire_str(d, m, "value", p, out->type != L7_MATCH_ANY);
	out->ignore_case = wire_bool(d, m, "ignoreCase", p);
	if (!d->failed && out->type == L7_MATCH_REGEX && re2_check(out->value, why, sizeof(why)))
		wire_fail(d, "%s.value: %s", p, why);
}

static void dsmatch(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
		    struct l7_string_match *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
	char p[320];

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.%s", path, key);
	dsmatch_obj(d, m, p, out);
}

static void dhmatches(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
		      struct l7_header_match **out, size_t *nout)
{
	static const char *const k[] = {"name", "match", "invert", NULL};
	size_t n;
	const cJSON *a = wire_arr(d, o, key, path, &n), *it;
	char p[320];

	if (!a || d->failed || !(*out = wire_alloc(d, n, sizeof(**out), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_header_match *h = &(*out)[*nout];

		snprintf(p, sizeof(p), "%.200s.%s[%zu]", path, key, (*nout)++);
		if (!wire_keys(d, it, p, k))
			return;
		h->name = wire_str(d, it, "name", p, true);
		dsmatch(d, it, "match", p, &h->match);
		h->invert = wire_bool(d, it, "invert", p);
		if (d->failed)
			return;
		if (!*h->name) {
			wire_fail(d, "%s.name: empty", p);
			return;
		}
	}
}

static void ddest(struct wire_dec *d, const cJSON *o, const char *path, struct l7_destination *x)
{
	static const char *const k[] = {"host",	   "subset",  "port",	 "weight",
					"headers", "unknown", "invalid", NULL};

	if (!wire_keys(d, o, path, k))
		return;
	x->host = wire_str(d, o, "host", path, true);
	x->subset = wire_str(d, o, "subset", path, false);
	x->port = (uint16_t)wire_num(d, o, "port", path, 1, 65535, false);
	x->weight = (uint32_t)wire_num(d, o, "weight", path, 0, 1000000, true);
	dheaders(d, o, path, &x->headers);
	x->unknown = wire_bool(d, o, "unknown", path);
	x->invalid = wire_bool(d, o, "invalid", path);
	if (!d->failed && !*x->host)
		wire_fail(d, "%s.host: empty", path);
}

static void ddests(struct wire_dec *d, const cJSON *o, const char *path,
		   struct l7_destination **out, size_t *nout)
{
	size_t n;
	const cJSON *a = wire_arr(d, o, "destinations", path, &n), *it;
	char p[320];

	if (d->failed || !(*out = wire_alloc(d, n, sizeof(**out), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.destinations[%zu]", path, *nout);
		ddest(d, it, p, &(*out)[(*nout)++]);
		if (d->failed)
			return;
	}
}

static void dretry(struct wire_dec *d, const cJSON *o, const char *path, struct l7_retry *r)
{
	static const char *const k[] = {"attempts",
					"retryOn",
					"codes",
					"perTryTimeoutMs",
					"backoffBaseMs",
					"backoffMaxMs",
					"ignorePreviousHosts",
					NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "retry"), *a, *it;
	char p[320];
	size_t n;

	snprintf(p, sizeof(p), "%.200s.retry", path);
	if (!m) {
		wire_fail(d, "%s: missing", p);
		return;
	}
	if (!wire_keys(d, m, p, k))
		return;
	r->attempts = (uint32_t)wire_num(d, m, "attempts", p, 0, 1000, true);
	a = wire_arr(d, m, "retryOn", p, &n);
	cJSON_ArrayForEach(it, a)
	{
		unsigned int i = 0;

		while (cJSON_IsString(it) && l7_retry_on_name(i) &&
		       strcmp(l7_retry_on_name(i), it->valuestring))
			i++;
		if (!cJSON_IsString(it) || !l7_retry_on_name(i)) {
			wire_fail(d, "%s.retryOn: unknown condition", p);
			return;
		}
		r->retry_on |= 1u << i;
	}
	a = wire_arr(d, m, "codes", p, &n);
	if (d->failed || !(r->codes = wire_alloc(d, n, sizeof(*r->codes), p)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < 100 || it->valuedouble > 599 ||
		    it->valuedouble != floor(it->valuedouble)) {
			wire_fail(d, "%s.codes[%zu]: expected a status code", p, r->n_codes);
			return;
		}
		r->codes[r->n_codes++] = (uint16_t)it->valuedouble;
	}
	r->per_try_timeout_ms = (uint64_t)wire_num(d, m, "perTryTimeoutMs", p, 0, 1e12, false);
	r->backoff_base_ms = (uint64_t)wire_num(d, m, "backoffBaseMs", p, 0, 1e12, false);
	r->backoff_max_ms = (uint64_t)wire_num(d, m, "backoffMaxMs", p, 0, 1e12, false);
	r->ignore_previous_hosts = wire_bool(d, m, "ignorePreviousHosts", p);
	if (!d->failed && r->backoff_max_ms < r->backoff_base_ms)
		wire_fail(d, "%s.backoffMaxMs: below backoffBaseMs", p);
}

static void dfault(struct wire_dec *d, const cJSON *o, const char *path, struct l7_fault *f)
{
	static const char *const k[] = {"delay", "abort", NULL};
	static const char *const dk[] = {"ms", "ppm", NULL};
	static const char *const ak[] = {"httpStatus", "grpcStatus", "ppm", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "fault"), *x;
	char p[320];

	f->abort_grpc = -1;
	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.fault", path);
	if (!wire_keys(d, m, p, k))
		return;
	if ((x = cJSON_GetObjectItemCaseSensitive(m, "delay")) && wire_keys(d, x, p, dk)) {
		f->delay = true;
		f->delay_ms = (uint64_t)wire_num(d, x, "ms", p, 0, 1e12, true);
		f->delay_ppm = (uint32_t)wire_num(d, x, "ppm", p, 0, 1000000, true);
	}
	if ((x = cJSON_GetObjectItemCaseSensitive(m, "abort")) && wire_keys(d, x, p, ak)) {
		f->abort = true;
		f->abort_ppm = (uint32_t)wire_num(d, x, "ppm", p, 0, 1000000, true);
		if (cJSON_GetObjectItemCaseSensitive(x, "grpcStatus"))
			f->abort_grpc = (int)wire_num(d, x, "grpcStatus", p, 0, 16, true);
		else
			f->abort_http = (int)wire_num(d, x, "httpStatus", p, 200, 599, true);
	}
}

static void dcors(struct wire_dec *d, const cJSON *o, const char *path, struct config_cors *c)
{
	static const char *const k[] = {
	    "allowOrigins", "allowMethods",	"allowHeaders",	       "exposeHeaders",
	    "maxAgeMs",	    "allowCredentials", "unmatchedPreflights", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "cors"), *a, *it;
	char p[320];
	size_t n;

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.cors", path);
	if (!wire_keys(d, m, p, k))
		return;
	c->present = true;
	c->allow_credentials = cJSON_GetObjectItemCaseSensitive(m, "allowCredentials")
				   ? wire_bool(d, m, "allowCredentials", p)
				   : -1;
	c->max_age_ms = (uint64_t)wire_num(d, m, "maxAgeMs", p, 0, 1e12, false);
	c->unmatched_preflights =
	    wire_enum(d, m, "unmatchedPreflights", p, l7_preflight_names, false);
	wire_strings(d, m, "allowMethods", p, &c->allow_methods);
	wire_strings(d, m, "allowHeaders", p, &c->allow_headers);
	wire_strings(d, m, "exposeHeaders", p, &c->expose_headers);
	a = wire_arr(d, m, "allowOrigins", p, &n);
	if (d->failed || !(c->allow_origins = wire_alloc(d, n, sizeof(*c->allow_origins), p)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_string_match sm = {0};

		dsmatch_obj(d, it, p, &sm);
		if (d->failed || sm.type == L7_MATCH_ANY || sm.type == L7_MATCH_PATH_PREFIX) {
			free(sm.value);
			wire_fail(d, "%s.allowOrigins: expected exact, prefix or regex", p);
			return;
		}
		c->allow_origins[c->n_allow_origins].type =
		    sm.type == L7_MATCH_EXACT	 ? CONFIG_MATCH_EXACT
		    : sm.type == L7_MATCH_PREFIX ? CONFIG_MATCH_PREFIX
						 : CONFIG_MATCH_REGEX;
		c->allow_origins[c->n_allow_origins++].value = sm.value;
	}
}

static void dmatch(struct wire_dec *d, const cJSON *o, const char *path, struct l7_match *m)
{
	static const char *const k[] = {"path",	 "scheme", "method",	"authority", "headers",
					"query", "port",   "tlsServer", NULL};

	if (!wire_keys(d, o, path, k))
		return;
	dsmatch(d, o, "path", path, &m->path);
	dsmatch(d, o, "scheme", path, &m->scheme);
	dsmatch(d, o, "method", path, &m->method);
	dsmatch(d, o, "authority", path, &m->authority);
	dhmatches(d, o, "headers", path, &m->headers, &m->n_headers);
	dhmatches(d, o, "query", path, &m->query, &m->n_query);
	m->port = (uint16_t)wire_num(d, o, "port", path, 1, 65535, false);
	m->tls_server = wire_str(d, o, "tlsServer", path, false);
}

void l7j_dmatches(struct wire_dec *d, const cJSON *o, const char *path, struct l7_match **out,
		  size_t *nout)
{
	const cJSON *a, *it;
	char p[320];
	size_t n = 0;

	a = wire_arr(d, o, "matches", path, &n);
	if (d->failed || !(*out = wire_alloc(d, n, sizeof(**out), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.matches[%zu]", path, *nout);
		dmatch(d, it, p, &(*out)[(*nout)++]);
		if (d->failed)
			return;
	}
}

static void dredirect(struct wire_dec *d, const cJSON *o, const char *path, struct l7_redirect *r)
{
	static const char *const k[] = {"scheme", "host",      "port", "derivePort", "path",
					"prefix", "keepQuery", "code", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "redirect");
	char p[320];

	snprintf(p, sizeof(p), "%.200s.redirect", path);
	if (!m) {
		wire_fail(d, "%s: missing", p);
		return;
	}
	if (!wire_keys(d, m, p, k))
		return;
	r->scheme = wire_str(d, m, "scheme", p, false);
	r->host = wire_str(d, m, "host", p, false);
	r->port = (uint16_t)wire_num(d, m, "port", p, 1, 65535, false);
	r->derive_port = wire_enum(d, m, "derivePort", p, l7_derive_names, false);
	r->path = wire_str(d, m, "path", p, false);
	r->prefix = wire_str(d, m, "prefix", p, false);
	r->keep_query = wire_bool(d, m, "keepQuery", p);
	r->code = (int)wire_num(d, m, "code", p, 300, 399, true);
}

static void ddirect(struct wire_dec *d, const cJSON *o, const char *path, struct l7_route *r)
{
	static const char *const k[] = {"status", "bodyBase64", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "directResponse");
	char p[320], *b64;

	snprintf(p, sizeof(p), "%.200s.directResponse", path);
	if (!m) {
		wire_fail(d, "%s: missing", p);
		return;
	}
	if (!wire_keys(d, m, p, k))
		return;
	r->direct_status = (int)wire_num(d, m, "status", p, 200, 599, true);
	b64 = wire_str(d, m, "bodyBase64", p, false);
	if (b64) {
		int len = crypto_base64_decode(b64, &r->direct_body);

		if (len == -ENOMEM)
			wire_fail(d, "%s.bodyBase64: out of memory", p);
		else if (len < 0)
			wire_fail(d, "%s.bodyBase64: not base64", p);
		else
			r->direct_body_len = (size_t)len;
		free(b64);
	}
}

static void drewrite(struct wire_dec *d, const cJSON *o, const char *path, struct l7_rewrite *r)
{
	static const char *const k[] = {"path", "prefix", "regex", "regexSub", "authority", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "rewrite");
	char p[320], why[160];
	struct re2 *re;

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.rewrite", path);
	if (!wire_keys(d, m, p, k))
		return;
	r->path = wire_str(d, m, "path", p, false);
	r->prefix = wire_str(d, m, "prefix", p, false);
	r->regex = wire_str(d, m, "regex", p, false);
	r->regex_sub = wire_str(d, m, "regexSub", p, r->regex != NULL);
	r->authority = wire_str(d, m, "authority", p, false);
	if (d->failed || !r->regex)
		return;
	re = re2_compile(r->regex, RE2_SEARCH, why, sizeof(why));
	if (!re || re2_check_rewrite(re, r->regex_sub, why, sizeof(why)))
		wire_fail(d, "%s.regex: %s", p, re ? why : "invalid");
	re2_free(re);
}

static void droute(struct wire_dec *d, const cJSON *o, const char *path, struct l7_route *r)
{
	static const char *const k[] = {
	    "name",	"source",	  "matches", "action",	"destinations",
	    "redirect", "directResponse", "rewrite", "headers", "timeoutMs",
	    "retry",	"fault",	  "mirrors", "cors",	NULL};
	const cJSON *a, *it;
	char p[320];
	size_t n;

	if (!wire_keys(d, o, path, k))
		return;
	r->name = wire_str(d, o, "name", path, false);
	r->source = wire_str(d, o, "source", path, false);
	r->action = wire_enum(d, o, "action", path, l7_action_names, true);
	l7j_dmatches(d, o, path, &r->matches, &r->n_matches);
	if (d->failed)
		return;
	ddests(d, o, path, &r->dests, &r->n_dests);
	if (r->action == L7_ACTION_REDIRECT)
		dredirect(d, o, path, &r->redirect);
	if (r->action == L7_ACTION_DIRECT)
		ddirect(d, o, path, r);
	drewrite(d, o, path, &r->rewrite);
	dheaders(d, o, path, &r->headers);
	r->timeout_ms = (uint64_t)wire_num(d, o, "timeoutMs", path, 0, 1e12, false);
	dretry(d, o, path, &r->retry);
	dfault(d, o, path, &r->fault);
	dcors(d, o, path, &r->cors);
	a = wire_arr(d, o, "mirrors", path, &n);
	if (d->failed || !(r->mirrors = wire_alloc(d, n, sizeof(*r->mirrors), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		static const char *const mk[] = {"destination", "ppm", NULL};
		struct l7_mirror *m = &r->mirrors[r->n_mirrors];

		snprintf(p, sizeof(p), "%.200s.mirrors[%zu]", path, r->n_mirrors++);
		if (!wire_keys(d, it, p, mk))
			return;
		m->ppm = (uint32_t)wire_num(d, it, "ppm", p, 0, 1000000, true);
		if (!cJSON_GetObjectItemCaseSensitive(it, "destination")) {
			wire_fail(d, "%s.destination: missing", p);
			return;
		}
		ddest(d, cJSON_GetObjectItemCaseSensitive(it, "destination"), p, &m->dest);
		if (d->failed)
			return;
	}
}

static void droutes(struct wire_dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	size_t n;
	const cJSON *a = wire_arr(d, o, "routes", path, &n), *it;
	char p[320];

	if (d->failed || !(s->routes = wire_alloc(d, n, sizeof(*s->routes), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.routes[%zu]", path, s->n_routes);
		droute(d, it, p, &s->routes[s->n_routes++]);
		if (d->failed)
			return;
	}
}

static void dtcp(struct wire_dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"source",   "port",	    "subnets",
					"sniHosts", "destinations", NULL};
	size_t n;
	const cJSON *a = wire_arr(d, o, "tcp", path, &n), *it;
	char p[320];

	if (d->failed || !(s->tcp = wire_alloc(d, n, sizeof(*s->tcp), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_tcp_route *t = &s->tcp[s->n_tcp];

		snprintf(p, sizeof(p), "%.200s.tcp[%zu]", path, s->n_tcp++);
		if (!wire_keys(d, it, p, k))
			return;
		t->source = wire_str(d, it, "source", p, false);
		t->port = (uint16_t)wire_num(d, it, "port", p, 1, 65535, false);
		wire_strings(d, it, "subnets", p, &t->subnets);
		wire_strings(d, it, "sniHosts", p, &t->sni_hosts);
		ddests(d, it, p, &t->dests, &t->n_dests);
		if (d->failed)
			return;
	}
}

/* An entry's addresses ("a.b.c.d/n"), as the ztunnel's snapshot writes them. */
static void dcidrs(struct wire_dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "addresses"), *it;
	size_t n;

	if (!a)
		return;
	a = wire_arr(d, o, "addresses", path, &n);
	if (d->failed || !(s->cidrs = wire_alloc(d, n, sizeof(*s->cidrs), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsString(it) || ipaddr_parse(it->valuestring, &s->cidrs[s->n_cidrs])) {
			wire_fail(d, "%s.addresses[%zu]: expected an address or CIDR", path,
				  s->n_cidrs);
			return;
		}
		s->n_cidrs++;
	}
}

static void dservice(struct wire_dec *d, const cJSON *o, const char *path,
		     const struct l7_config *c, struct l7_service *s)
{
	static const char *const k[] = {
	    "hostname",	    "name",	  "namespace", "workload",   "vip",	     "ports",
	    "endpoints",    "subsets",	  "policies",  "routesKind", "routes",	     "tcp",
	    "authz",	    "jwt",	  "aux",       "rateLimits", "viaWaypoint",  "telemetry",
	    "serviceEntry", "resolution", "addresses", "vip6",	     "waypointHost", NULL};

	if (!wire_keys(d, o, path, k))
		return;
	s->hostname = wire_str(d, o, "hostname", path, true);
	s->name = wire_str(d, o, "name", path, true);
	s->namespace = wire_str(d, o, "namespace", path, true);
	s->workload = wire_bool(d, o, "workload", path);
	s->entry = wire_bool(d, o, "serviceEntry", path);
	s->resolution =
	    (enum l7_resolution)wire_enum(d, o, "resolution", path, l7_resolution_names, false);
	dcidrs(d, o, path, s);
	s->vip = wire_ip(d, o, "vip", path, true);
	s->vip6 = wire_ip6(d, o, "vip6", path);
	s->via_waypoint = wire_str(d, o, "viaWaypoint", path, false);
	s->waypoint_host = wire_str(d, o, "waypointHost", path, false);
	s->telemetry = (uint32_t)wire_num(d, o, "telemetry", path, 0, WIRE_MAX_LIST, false);
	s->routes_kind = wire_enum(d, o, "routesKind", path, l7_routes_kind_names, true);
	l7j_ports(d, o, path, s);
	l7j_endpoints(d, o, path, s);
	l7j_subsets(d, o, path, s);
	l7j_policies(d, o, path, s);
	droutes(d, o, path, s);
	dtcp(d, o, path, s);
	l7j_service_authz(d, o, path, c, s);
	if (!d->failed)
		l7j_service_ratelimits(d, o, path, c, s);
}

/* A TLS listener's certificates: each with hosts, a certificate and its key. */
static void dtls_certs(struct wire_dec *d, const cJSON *o, const char *path, struct l7_listener *l)
{
	static const char *const k[] = {"source",   "hosts",	    "cert",   "key",
					"ca",	    "minTls",	    "maxTls", "mesh",
					"optional", "cipherSuites", NULL};
	const cJSON *a, *it;
	size_t n;

	if (!cJSON_GetObjectItemCaseSensitive(o, "tls"))
		return;
	a = wire_arr(d, o, "tls", path, &n);
	if (d->failed || !n || !(l->certs = wire_alloc(d, n, sizeof(*l->certs), path))) {
		if (!d->failed)
			wire_fail(d, "%s.tls: want at least one certificate", path);
		return;
	}
	cJSON_ArrayForEach(it, a)
	{
		struct l7_tls_cert *t = &l->certs[l->n_certs];
		char p[96];

		snprintf(p, sizeof(p), "%s.tls[%zu]", path, l->n_certs++);
		if (!wire_keys(d, it, p, k))
			return;
		t->source = wire_str(d, it, "source", p, true);
		wire_strings(d, it, "hosts", p, &t->hosts);
		t->mesh = wire_bool(d, it, "mesh", p);
		t->cert = wire_str(d, it, "cert", p, !t->mesh);
		t->key = wire_str(d, it, "key", p, !t->mesh);
		t->ca = wire_str(d, it, "ca", p, false);
		t->optional = wire_bool(d, it, "optional", p);
		t->min_tls = (uint16_t)wire_num(d, it, "minTls", p, 0x0301, 0x0304, false);
		t->max_tls = (uint16_t)wire_num(d, it, "maxTls", p, 0x0301, 0x0304, false);
		wire_strings(d, it, "cipherSuites", p, &t->ciphers);
		if (d->failed)
			return;
		if (!t->hosts.n) {
			wire_fail(d, "%s.hosts: want at least one", p);
			return;
		}
		if (t->optional && !t->ca && !t->mesh) {
			wire_fail(d, "%s.optional: wants a ca", p);
			return;
		}
	}
}

/* A gateway's listeners: each names a service of the model. */
static void dlisteners(struct wire_dec *d, const cJSON *j, struct l7_config *c)
{
	static const char *const k[] = {"port", "protocol",	 "service",
					"tls",	"proxyProtocol", NULL};
	size_t n;
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "listeners"), *it;

	if (!a)
		return;
	if (!c->gateway) {
		wire_fail(d, "l7.listeners: only a gateway has listeners");
		return;
	}
	a = wire_arr(d, j, "listeners", "l7", &n);
	if (d->failed || !(c->listeners = wire_alloc(d, n, sizeof(*c->listeners), "l7.listeners")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_listener *l = &c->listeners[c->n_listeners];
		char p[64];

		snprintf(p, sizeof(p), "l7.listeners[%zu]", c->n_listeners++);
		if (!wire_keys(d, it, p, k))
			return;
		l->port = (uint16_t)wire_num(d, it, "port", p, 1, 65535, true);
		l->protocol = l7j_dprotocol(d, it, p);
		l->service = wire_str(d, it, "service", p, true);
		l->proxy_protocol = wire_bool(d, it, "proxyProtocol", p);
		dtls_certs(d, it, p, l);
		if (d->failed)
			return;
		if (!l7_config_service(c, l->service)) {
			wire_fail(d, "%s.service: \"%.200s\" is no service of the model", p,
				  l->service);
			return;
		}
		for (size_t i = 0; i + 1 < c->n_listeners; i++)
			if (c->listeners[i].port == l->port) {
				wire_fail(d, "%s.port: %u is listed twice", p, l->port);
				return;
			}
	}
}

struct l7_config *l7_from_json(const cJSON *j, char *err, size_t errlen)
{
	static const char *const k[] = {
	    "waypoint", "services",  "authz",	   "jwt",     "mesh",	   "extAuthz", "gateway",
	    "eastWest", "listeners", "rateLimits", "tunnels", "telemetry", "meshId",   NULL};
	static const char *const wk[] = {"namespace", "name", "identity", NULL};
	struct wire_dec d = {.err = err, .errlen = errlen};
	struct l7_config *c = calloc(1, sizeof(*c));
	const cJSON *w, *a, *it;
	size_t n;

	if (err && errlen)
		err[0] = '\0';
	if (!c) {
		wire_fail(&d, "out of memory");
		return NULL;
	}
	if (!wire_keys(&d, j, "l7", k))
		goto fail;
	w = cJSON_GetObjectItemCaseSensitive(j, "waypoint");
	if (!w || !wire_keys(&d, w, "l7.waypoint", wk)) {
		wire_fail(&d, "l7.waypoint: missing");
		goto fail;
	}
	c->waypoint_namespace = wire_str(&d, w, "namespace", "l7.waypoint", true);
	c->waypoint_name = wire_str(&d, w, "name", "l7.waypoint", true);
	c->identity = wire_str(&d, w, "identity", "l7.waypoint", true);
	l7j_authz(&d, j, c); /* first: the services name the policies by index */
	if (!d.failed)
		l7j_ratelimits(&d, j, c);
	if (d.failed)
		goto fail;
	a = wire_arr(&d, j, "services", "l7", &n);
	if (d.failed || !(c->services = wire_alloc(&d, n, sizeof(*c->services), "l7.services")))
		goto fail;
	cJSON_ArrayForEach(it, a)
	{
		char p[64];

		snprintf(p, sizeof(p), "l7.services[%zu]", c->n_services);
		dservice(&d, it, p, c, &c->services[c->n_services++]);
		if (d.failed)
			goto fail;
	}
	l7j_ext_authz(&d, j, c);
	if (!d.failed)
		l7j_telemetry(&d, j, c);
	c->gateway = wire_bool(&d, j, "gateway", "l7");
	c->east_west = wire_bool(&d, j, "eastWest", "l7");
	if (!d.failed)
		dlisteners(&d, j, c);
	if (!d.failed)
		l7j_tunnels(&d, j, c);
	if (d.failed)
		goto fail;
	return c;
fail:
	l7_config_free(c);
	errno = EINVAL;
	return NULL;
}
