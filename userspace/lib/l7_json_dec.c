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
#include <openssl/evp.h>

#include "ambit/re2.h"
#include "l7_json_priv.h"

#define MAX_LIST 100000

struct dec {
	char *err;
	size_t errlen;
	bool failed;
};

static __attribute__((format(printf, 2, 3))) void fail(struct dec *d, const char *fmt, ...)
{
	va_list ap;

	if (d->failed)
		return;
	d->failed = true;
	if (!d->err || !d->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
}

/* @o must be an object whose members are all in @allowed. */
static bool keys(struct dec *d, const cJSON *o, const char *path, const char *const *allowed)
{
	const cJSON *it;

	if (!cJSON_IsObject(o)) {
		fail(d, "%s: expected an object", path);
		return false;
	}
	cJSON_ArrayForEach(it, o)
	{
		const char *const *a = allowed;

		for (; *a; a++)
			if (!strcmp(*a, it->string))
				break;
		if (!*a) {
			fail(d, "%s.%s: unknown member", path, it->string);
			return false;
		}
	}
	return true;
}

static char *dstr(struct dec *d, const cJSON *o, const char *key, const char *path, bool req)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	char *v;

	if (!it) {
		if (req)
			fail(d, "%s.%s: missing", path, key);
		return NULL;
	}
	if (!cJSON_IsString(it)) {
		fail(d, "%s.%s: expected a string", path, key);
		return NULL;
	}
	v = strdup(it->valuestring);
	if (!v)
		fail(d, "%s.%s: out of memory", path, key);
	return v;
}

static double dnum(struct dec *d, const cJSON *o, const char *key, const char *path, double min,
		   double max, bool req)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!it) {
		if (req)
			fail(d, "%s.%s: missing", path, key);
		return 0;
	}
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
	    it->valuedouble != floor(it->valuedouble)) {
		fail(d, "%s.%s: expected an integer", path, key);
		return 0;
	}
	if (it->valuedouble < min || it->valuedouble > max) {
		fail(d, "%s.%s: %.0f out of range", path, key, it->valuedouble);
		return 0;
	}
	return it->valuedouble;
}

static bool dbool(struct dec *d, const cJSON *o, const char *key, const char *path)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (it && !cJSON_IsBool(it))
		fail(d, "%s.%s: expected a boolean", path, key);
	return it && cJSON_IsTrue(it);
}

static int denum(struct dec *d, const cJSON *o, const char *key, const char *path,
		 const char *const *names, bool req)
{
	char *s = dstr(d, o, key, path, req);
	int v = 0;

	if (!s)
		return 0;
	for (v = 0; names[v] && strcmp(names[v], s); v++)
		;
	if (!names[v]) {
		fail(d, "%s.%s: unknown value \"%.32s\"", path, key, s);
		v = 0;
	}
	free(s);
	return v;
}

static const cJSON *darr(struct dec *d, const cJSON *o, const char *key, const char *path,
			 size_t *n)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	*n = 0;
	if (!it)
		return NULL;
	if (!cJSON_IsArray(it)) {
		fail(d, "%s.%s: expected an array", path, key);
		return NULL;
	}
	*n = (size_t)cJSON_GetArraySize(it);
	if (*n > MAX_LIST) {
		fail(d, "%s.%s: more than %d entries", path, key, MAX_LIST);
		*n = 0;
		return NULL;
	}
	return it;
}

static void *dalloc(struct dec *d, size_t n, size_t size, const char *path)
{
	void *p = calloc(n + 1, size);

	if (!p)
		fail(d, "%s: out of memory", path);
	return p;
}

static uint32_t dip(struct dec *d, const cJSON *o, const char *key, const char *path)
{
	char *s = dstr(d, o, key, path, true);
	struct in_addr a = {0};

	if (s && inet_pton(AF_INET, s, &a) != 1)
		fail(d, "%s.%s: expected an IPv4 address", path, key);
	free(s);
	return a.s_addr;
}

static void dstrings(struct dec *d, const cJSON *o, const char *key, const char *path,
		     struct config_strings *out)
{
	size_t n;
	const cJSON *a = darr(d, o, key, path, &n), *it;

	if (!a || d->failed || !(out->items = dalloc(d, n, sizeof(char *), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsString(it)) {
			fail(d, "%s.%s[%zu]: expected a string", path, key, out->n);
			return;
		}
		if (!(out->items[out->n++] = strdup(it->valuestring))) {
			fail(d, "%s: out of memory", path);
			return;
		}
	}
}

static void dlabels(struct dec *d, const cJSON *o, const char *key, const char *path,
		    struct config_labels *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key), *it;

	if (!m)
		return;
	if (!cJSON_IsObject(m)) {
		fail(d, "%s.%s: expected an object", path, key);
		return;
	}
	cJSON_ArrayForEach(it, m)
	{
		if (!cJSON_IsString(it)) {
			fail(d, "%s.%s.%s: expected a string", path, key, it->string);
			return;
		}
		if (config_labels_add(out, it->string, it->valuestring)) {
			fail(d, "%s: out of memory", path);
			return;
		}
	}
}

static void dheader_ops(struct dec *d, const cJSON *o, const char *key, const char *path,
			struct config_header_ops *out)
{
	static const char *const k[] = {"set", "add", "remove", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
	char p[320];

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.%s", path, key);
	if (!keys(d, m, p, k))
		return;
	dlabels(d, m, "set", p, &out->set);
	dlabels(d, m, "add", p, &out->add);
	dstrings(d, m, "remove", p, &out->remove);
}

static void dheaders(struct dec *d, const cJSON *o, const char *path, struct config_headers *out)
{
	static const char *const k[] = {"request", "response", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "headers");
	char p[320];

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.headers", path);
	if (!keys(d, m, p, k))
		return;
	dheader_ops(d, m, "request", p, &out->request);
	dheader_ops(d, m, "response", p, &out->response);
}

static void dsmatch_obj(struct dec *d, const cJSON *m, const char *p, struct l7_string_match *out)
{
	static const char *const k[] = {"type", "value", "ignoreCase", NULL};
	char why[160];

	if (!keys(d, m, p, k))
		return;
	out->type = denum(d, m, "type", p, l7_match_names, true);
	out->value = dstr(d, m, "value", p, out->type != L7_MATCH_ANY);
	out->ignore_case = dbool(d, m, "ignoreCase", p);
	if (!d->failed && out->type == L7_MATCH_REGEX && re2_check(out->value, why, sizeof(why)))
		fail(d, "%s.value: %s", p, why);
}

static void dsmatch(struct dec *d, const cJSON *o, const char *key, const char *path,
		    struct l7_string_match *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
	char p[320];

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.%s", path, key);
	dsmatch_obj(d, m, p, out);
}

static void dhmatches(struct dec *d, const cJSON *o, const char *key, const char *path,
		      struct l7_header_match **out, size_t *nout)
{
	static const char *const k[] = {"name", "match", "invert", NULL};
	size_t n;
	const cJSON *a = darr(d, o, key, path, &n), *it;
	char p[320];

	if (!a || d->failed || !(*out = dalloc(d, n, sizeof(**out), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_header_match *h = &(*out)[*nout];

		snprintf(p, sizeof(p), "%.200s.%s[%zu]", path, key, (*nout)++);
		if (!keys(d, it, p, k))
			return;
		h->name = dstr(d, it, "name", p, true);
		dsmatch(d, it, "match", p, &h->match);
		h->invert = dbool(d, it, "invert", p);
		if (d->failed)
			return;
		if (!*h->name) {
			fail(d, "%s.name: empty", p);
			return;
		}
	}
}

static void ddest(struct dec *d, const cJSON *o, const char *path, struct l7_destination *x)
{
	static const char *const k[] = {"host",	   "subset",  "port", "weight",
					"headers", "unknown", NULL};

	if (!keys(d, o, path, k))
		return;
	x->host = dstr(d, o, "host", path, true);
	x->subset = dstr(d, o, "subset", path, false);
	x->port = (uint16_t)dnum(d, o, "port", path, 1, 65535, false);
	x->weight = (uint32_t)dnum(d, o, "weight", path, 0, 1000000, true);
	dheaders(d, o, path, &x->headers);
	x->unknown = dbool(d, o, "unknown", path);
	if (!d->failed && !*x->host)
		fail(d, "%s.host: empty", path);
}

static void ddests(struct dec *d, const cJSON *o, const char *path, struct l7_destination **out,
		   size_t *nout)
{
	size_t n;
	const cJSON *a = darr(d, o, "destinations", path, &n), *it;
	char p[320];

	if (d->failed || !(*out = dalloc(d, n, sizeof(**out), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.destinations[%zu]", path, *nout);
		ddest(d, it, p, &(*out)[(*nout)++]);
		if (d->failed)
			return;
	}
}

static void dretry(struct dec *d, const cJSON *o, const char *path, struct l7_retry *r)
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
		fail(d, "%s: missing", p);
		return;
	}
	if (!keys(d, m, p, k))
		return;
	r->attempts = (uint32_t)dnum(d, m, "attempts", p, 0, 1000, true);
	a = darr(d, m, "retryOn", p, &n);
	cJSON_ArrayForEach(it, a)
	{
		unsigned int i = 0;

		while (cJSON_IsString(it) && l7_retry_on_name(i) &&
		       strcmp(l7_retry_on_name(i), it->valuestring))
			i++;
		if (!cJSON_IsString(it) || !l7_retry_on_name(i)) {
			fail(d, "%s.retryOn: unknown condition", p);
			return;
		}
		r->retry_on |= 1u << i;
	}
	a = darr(d, m, "codes", p, &n);
	if (d->failed || !(r->codes = dalloc(d, n, sizeof(*r->codes), p)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < 100 || it->valuedouble > 599 ||
		    it->valuedouble != floor(it->valuedouble)) {
			fail(d, "%s.codes[%zu]: expected a status code", p, r->n_codes);
			return;
		}
		r->codes[r->n_codes++] = (uint16_t)it->valuedouble;
	}
	r->per_try_timeout_ms = (uint64_t)dnum(d, m, "perTryTimeoutMs", p, 0, 1e12, false);
	r->backoff_base_ms = (uint64_t)dnum(d, m, "backoffBaseMs", p, 0, 1e12, false);
	r->backoff_max_ms = (uint64_t)dnum(d, m, "backoffMaxMs", p, 0, 1e12, false);
	r->ignore_previous_hosts = dbool(d, m, "ignorePreviousHosts", p);
	if (!d->failed && r->backoff_max_ms < r->backoff_base_ms)
		fail(d, "%s.backoffMaxMs: below backoffBaseMs", p);
}

static void dfault(struct dec *d, const cJSON *o, const char *path, struct l7_fault *f)
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
	if (!keys(d, m, p, k))
		return;
	if ((x = cJSON_GetObjectItemCaseSensitive(m, "delay")) && keys(d, x, p, dk)) {
		f->delay = true;
		f->delay_ms = (uint64_t)dnum(d, x, "ms", p, 0, 1e12, true);
		f->delay_ppm = (uint32_t)dnum(d, x, "ppm", p, 0, 1000000, true);
	}
	if ((x = cJSON_GetObjectItemCaseSensitive(m, "abort")) && keys(d, x, p, ak)) {
		f->abort = true;
		f->abort_ppm = (uint32_t)dnum(d, x, "ppm", p, 0, 1000000, true);
		if (cJSON_GetObjectItemCaseSensitive(x, "grpcStatus"))
			f->abort_grpc = (int)dnum(d, x, "grpcStatus", p, 0, 16, true);
		else
			f->abort_http = (int)dnum(d, x, "httpStatus", p, 200, 599, true);
	}
}

static void dcors(struct dec *d, const cJSON *o, const char *path, struct config_cors *c)
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
	if (!keys(d, m, p, k))
		return;
	c->present = true;
	c->allow_credentials = cJSON_GetObjectItemCaseSensitive(m, "allowCredentials")
				   ? dbool(d, m, "allowCredentials", p)
				   : -1;
	c->max_age_ms = (uint64_t)dnum(d, m, "maxAgeMs", p, 0, 1e12, false);
	c->unmatched_preflights = denum(d, m, "unmatchedPreflights", p, l7_preflight_names, false);
	dstrings(d, m, "allowMethods", p, &c->allow_methods);
	dstrings(d, m, "allowHeaders", p, &c->allow_headers);
	dstrings(d, m, "exposeHeaders", p, &c->expose_headers);
	a = darr(d, m, "allowOrigins", p, &n);
	if (d->failed || !(c->allow_origins = dalloc(d, n, sizeof(*c->allow_origins), p)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_string_match sm = {0};

		dsmatch_obj(d, it, p, &sm);
		if (d->failed || sm.type == L7_MATCH_ANY || sm.type == L7_MATCH_PATH_PREFIX) {
			free(sm.value);
			fail(d, "%s.allowOrigins: expected exact, prefix or regex", p);
			return;
		}
		c->allow_origins[c->n_allow_origins].type =
		    sm.type == L7_MATCH_EXACT	 ? CONFIG_MATCH_EXACT
		    : sm.type == L7_MATCH_PREFIX ? CONFIG_MATCH_PREFIX
						 : CONFIG_MATCH_REGEX;
		c->allow_origins[c->n_allow_origins++].value = sm.value;
	}
}

static void dmatch(struct dec *d, const cJSON *o, const char *path, struct l7_match *m)
{
	static const char *const k[] = {"path",	   "scheme", "method", "authority",
					"headers", "query",  "port",   NULL};

	if (!keys(d, o, path, k))
		return;
	dsmatch(d, o, "path", path, &m->path);
	dsmatch(d, o, "scheme", path, &m->scheme);
	dsmatch(d, o, "method", path, &m->method);
	dsmatch(d, o, "authority", path, &m->authority);
	dhmatches(d, o, "headers", path, &m->headers, &m->n_headers);
	dhmatches(d, o, "query", path, &m->query, &m->n_query);
	m->port = (uint16_t)dnum(d, o, "port", path, 1, 65535, false);
}

static void dredirect(struct dec *d, const cJSON *o, const char *path, struct l7_redirect *r)
{
	static const char *const k[] = {"scheme", "host",      "port", "derivePort", "path",
					"prefix", "keepQuery", "code", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "redirect");
	char p[320];

	snprintf(p, sizeof(p), "%.200s.redirect", path);
	if (!m) {
		fail(d, "%s: missing", p);
		return;
	}
	if (!keys(d, m, p, k))
		return;
	r->scheme = dstr(d, m, "scheme", p, false);
	r->host = dstr(d, m, "host", p, false);
	r->port = (uint16_t)dnum(d, m, "port", p, 1, 65535, false);
	r->derive_port = denum(d, m, "derivePort", p, l7_derive_names, false);
	r->path = dstr(d, m, "path", p, false);
	r->prefix = dstr(d, m, "prefix", p, false);
	r->keep_query = dbool(d, m, "keepQuery", p);
	r->code = (int)dnum(d, m, "code", p, 300, 399, true);
}

static void ddirect(struct dec *d, const cJSON *o, const char *path, struct l7_route *r)
{
	static const char *const k[] = {"status", "bodyBase64", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "directResponse");
	char p[320], *b64;

	snprintf(p, sizeof(p), "%.200s.directResponse", path);
	if (!m) {
		fail(d, "%s: missing", p);
		return;
	}
	if (!keys(d, m, p, k))
		return;
	r->direct_status = (int)dnum(d, m, "status", p, 200, 599, true);
	b64 = dstr(d, m, "bodyBase64", p, false);
	if (b64) {
		size_t n = strlen(b64), pad = 0;
		int len;

		r->direct_body = malloc(n / 4 * 3 + 1);
		len = r->direct_body && n % 4 == 0
			  ? EVP_DecodeBlock((unsigned char *)r->direct_body,
					    (const unsigned char *)b64, (int)n)
			  : -1;
		while (pad < 2 && n > pad && b64[n - 1 - pad] == '=')
			pad++;
		if (len < 0)
			fail(d, "%s.bodyBase64: not base64", p);
		else
			r->direct_body[r->direct_body_len = (size_t)len - pad] = '\0';
		free(b64);
	}
}

static void drewrite(struct dec *d, const cJSON *o, const char *path, struct l7_rewrite *r)
{
	static const char *const k[] = {"path", "prefix", "regex", "regexSub", "authority", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "rewrite");
	char p[320], why[160];
	struct re2 *re;

	if (!m)
		return;
	snprintf(p, sizeof(p), "%.200s.rewrite", path);
	if (!keys(d, m, p, k))
		return;
	r->path = dstr(d, m, "path", p, false);
	r->prefix = dstr(d, m, "prefix", p, false);
	r->regex = dstr(d, m, "regex", p, false);
	r->regex_sub = dstr(d, m, "regexSub", p, r->regex != NULL);
	r->authority = dstr(d, m, "authority", p, false);
	if (d->failed || !r->regex)
		return;
	re = re2_compile(r->regex, RE2_SEARCH, why, sizeof(why));
	if (!re || re2_check_rewrite(re, r->regex_sub, why, sizeof(why)))
		fail(d, "%s.regex: %s", p, re ? why : "invalid");
	re2_free(re);
}

static void droute(struct dec *d, const cJSON *o, const char *path, struct l7_route *r)
{
	static const char *const k[] = {
	    "name",	"source",	  "matches", "action",	"destinations",
	    "redirect", "directResponse", "rewrite", "headers", "timeoutMs",
	    "retry",	"fault",	  "mirrors", "cors",	NULL};
	const cJSON *a, *it;
	char p[320];
	size_t n;

	if (!keys(d, o, path, k))
		return;
	r->name = dstr(d, o, "name", path, false);
	r->source = dstr(d, o, "source", path, false);
	r->action = denum(d, o, "action", path, l7_action_names, true);
	a = darr(d, o, "matches", path, &n);
	if (d->failed || !(r->matches = dalloc(d, n, sizeof(*r->matches), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.matches[%zu]", path, r->n_matches);
		dmatch(d, it, p, &r->matches[r->n_matches++]);
		if (d->failed)
			return;
	}
	ddests(d, o, path, &r->dests, &r->n_dests);
	if (r->action == L7_ACTION_REDIRECT)
		dredirect(d, o, path, &r->redirect);
	if (r->action == L7_ACTION_DIRECT)
		ddirect(d, o, path, r);
	drewrite(d, o, path, &r->rewrite);
	dheaders(d, o, path, &r->headers);
	r->timeout_ms = (uint64_t)dnum(d, o, "timeoutMs", path, 0, 1e12, false);
	dretry(d, o, path, &r->retry);
	dfault(d, o, path, &r->fault);
	dcors(d, o, path, &r->cors);
	a = darr(d, o, "mirrors", path, &n);
	if (d->failed || !(r->mirrors = dalloc(d, n, sizeof(*r->mirrors), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		static const char *const mk[] = {"destination", "ppm", NULL};
		struct l7_mirror *m = &r->mirrors[r->n_mirrors];

		snprintf(p, sizeof(p), "%.200s.mirrors[%zu]", path, r->n_mirrors++);
		if (!keys(d, it, p, mk))
			return;
		m->ppm = (uint32_t)dnum(d, it, "ppm", p, 0, 1000000, true);
		if (!cJSON_GetObjectItemCaseSensitive(it, "destination")) {
			fail(d, "%s.destination: missing", p);
			return;
		}
		ddest(d, cJSON_GetObjectItemCaseSensitive(it, "destination"), p, &m->dest);
		if (d->failed)
			return;
	}
}

static void dports(struct dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"port",	      "name",		"protocol",
					"targetPort", "targetPortName", NULL};
	size_t n;
	const cJSON *a = darr(d, o, "ports", path, &n), *it;
	char p[320];

	if (d->failed || !(s->ports = dalloc(d, n, sizeof(*s->ports), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_port *x = &s->ports[s->n_ports];
		char *proto;

		snprintf(p, sizeof(p), "%.200s.ports[%zu]", path, s->n_ports++);
		if (!keys(d, it, p, k))
			return;
		x->port = (uint16_t)dnum(d, it, "port", p, 1, 65535, true);
		x->name = dstr(d, it, "name", p, false);
		x->target_port = (uint16_t)dnum(d, it, "targetPort", p, 1, 65535, false);
		x->target_port_name = dstr(d, it, "targetPortName", p, false);
		proto = dstr(d, it, "protocol", p, true);
		while (proto && strcmp(l7_protocol_name(x->protocol), proto) &&
		       x->protocol <= L7_PROTO_UDP)
			x->protocol++;
		if (proto && x->protocol > L7_PROTO_UDP)
			fail(d, "%s.protocol: unknown \"%.16s\"", p, proto);
		free(proto);
		if (d->failed)
			return;
	}
}

static void dendpoints(struct dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"ip", "pod", "node", "identity", "labels", "ports", NULL};
	size_t n;
	const cJSON *a = darr(d, o, "endpoints", path, &n), *it;
	char p[320];

	if (d->failed || !(s->endpoints = dalloc(d, n, sizeof(*s->endpoints), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_endpoint *e = &s->endpoints[s->n_endpoints];
		const cJSON *ports, *pt;
		size_t np, j = 0;

		snprintf(p, sizeof(p), "%.200s.endpoints[%zu]", path, s->n_endpoints++);
		if (!keys(d, it, p, k))
			return;
		e->ip = dip(d, it, "ip", p);
		e->pod = dstr(d, it, "pod", p, true);
		e->node = dstr(d, it, "node", p, false);
		e->identity = dstr(d, it, "identity", p, true);
		dlabels(d, it, "labels", p, &e->labels);
		ports = darr(d, it, "ports", p, &np);
		if (d->failed)
			return;
		if (np != s->n_ports) {
			fail(d, "%s.ports: %zu entries for %zu service ports", p, np, s->n_ports);
			return;
		}
		if (!(e->ports = dalloc(d, np, sizeof(*e->ports), p)))
			return;
		cJSON_ArrayForEach(pt, ports)
		{
			if (!cJSON_IsNumber(pt) || pt->valuedouble < 0 || pt->valuedouble > 65535 ||
			    pt->valuedouble != floor(pt->valuedouble)) {
				fail(d, "%s.ports[%zu]: expected a port", p, j);
				return;
			}
			e->ports[j++] = (uint16_t)pt->valuedouble;
		}
	}
}

static void dsubsets(struct dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"name", "labels", "endpoints", NULL};
	size_t n;
	const cJSON *a = darr(d, o, "subsets", path, &n), *it;
	char p[320];

	if (d->failed || !(s->subsets = dalloc(d, n, sizeof(*s->subsets), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_subset *x = &s->subsets[s->n_subsets];
		const cJSON *eps, *ep;
		size_t ne;

		snprintf(p, sizeof(p), "%.200s.subsets[%zu]", path, s->n_subsets++);
		if (!keys(d, it, p, k))
			return;
		x->name = dstr(d, it, "name", p, true);
		dlabels(d, it, "labels", p, &x->labels);
		eps = darr(d, it, "endpoints", p, &ne);
		if (d->failed || !(x->endpoints = dalloc(d, ne, sizeof(*x->endpoints), p)))
			return;
		cJSON_ArrayForEach(ep, eps)
		{
			if (!cJSON_IsNumber(ep) || ep->valuedouble < 0 ||
			    ep->valuedouble >= (double)s->n_endpoints ||
			    ep->valuedouble != floor(ep->valuedouble)) {
				fail(d, "%s.endpoints[%zu]: not an endpoint index", p,
				     x->n_endpoints);
				return;
			}
			x->endpoints[x->n_endpoints++] = (uint32_t)ep->valuedouble;
		}
	}
}

static void dpolicy(struct dec *d, const cJSON *o, const char *path, struct l7_service *s,
		    struct l7_policy *x)
{
	static const char *const k[] = {
	    "subset", "port", "loadBalancer", "connectionPool", "outlierDetection", "tls", NULL};
	static const char *const lbk[] = {"present",  "simple",	    "hashKey",
					  "hashName", "cookiePath", "cookieTtlMs",
					  "maglev",   "tableSize",  NULL};
	static const char *const pk[] = {"present",
					 "maxConnections",
					 "connectTimeoutMs",
					 "tcpIdleTimeoutMs",
					 "maxConnectionDurationMs",
					 "http1MaxPendingRequests",
					 "http2MaxRequests",
					 "maxRequestsPerConnection",
					 "maxRetries",
					 "httpIdleTimeoutMs",
					 "h2UpgradePolicy",
					 "useClientProtocol",
					 "maxConcurrentStreams",
					 NULL};
	static const char *const ok[] = {"consecutive5xxErrors",
					 "consecutiveGatewayErrors",
					 "consecutiveLocalOriginFailures",
					 "splitExternalLocalOriginErrors",
					 "intervalMs",
					 "baseEjectionMs",
					 "maxEjectionPercent",
					 "minHealthPercent",
					 "errorCodes",
					 NULL};
	static const char *const tk[] = {"mode",
					 "sni",
					 "caCertificates",
					 "credentialName",
					 "subjectAltNames",
					 "insecureSkipVerify",
					 NULL};
	const cJSON *m;
	char p[320];
	bool port_ok = false, subset_ok = false;

	if (!keys(d, o, path, k))
		return;
	x->subset = dstr(d, o, "subset", path, false);
	x->port = (uint16_t)dnum(d, o, "port", path, 1, 65535, true);
	for (size_t i = 0; i < s->n_ports; i++)
		port_ok |= s->ports[i].port == x->port;
	for (size_t i = 0; x->subset && i < s->n_subsets; i++)
		subset_ok |= !strcmp(s->subsets[i].name, x->subset);
	if (!d->failed && (!port_ok || (x->subset && !subset_ok))) {
		fail(d, "%s: names a port or subset the service does not have", path);
		return;
	}
	snprintf(p, sizeof(p), "%.200s.loadBalancer", path);
	m = cJSON_GetObjectItemCaseSensitive(o, "loadBalancer");
	if (!m || !keys(d, m, p, lbk)) {
		fail(d, "%s: missing", p);
		return;
	}
	x->lb.present = dbool(d, m, "present", p);
	x->lb.simple = denum(d, m, "simple", p, l7_lb_names, true);
	x->lb.hash_key = denum(d, m, "hashKey", p, l7_hash_names, false);
	x->lb.hash_name =
	    dstr(d, m, "hashName", p, x->lb.hash_key && x->lb.hash_key != CONFIG_HASH_SOURCE_IP);
	x->lb.cookie_path = dstr(d, m, "cookiePath", p, false);
	x->lb.cookie_ttl_ms = (uint64_t)dnum(d, m, "cookieTtlMs", p, 0, 1e12, false);
	x->lb.maglev = dbool(d, m, "maglev", p);
	x->lb.table_size = (uint64_t)dnum(d, m, "tableSize", p, x->lb.hash_key ? 1 : 0, 8388608,
					  x->lb.hash_key != CONFIG_HASH_NONE);
	snprintf(p, sizeof(p), "%.200s.connectionPool", path);
	m = cJSON_GetObjectItemCaseSensitive(o, "connectionPool");
	if (!m || !keys(d, m, p, pk)) {
		fail(d, "%s: missing", p);
		return;
	}
	x->pool.present = dbool(d, m, "present", p);
	x->pool.max_connections = (uint32_t)dnum(d, m, "maxConnections", p, 0, UINT32_MAX, true);
	x->pool.connect_timeout_ms = (uint64_t)dnum(d, m, "connectTimeoutMs", p, 0, 1e12, true);
	x->pool.tcp_idle_timeout_ms = (uint64_t)dnum(d, m, "tcpIdleTimeoutMs", p, 0, 1e12, true);
	x->pool.max_connection_duration_ms =
	    (uint64_t)dnum(d, m, "maxConnectionDurationMs", p, 0, 1e12, true);
	x->pool.http1_max_pending_requests =
	    (uint32_t)dnum(d, m, "http1MaxPendingRequests", p, 0, UINT32_MAX, true);
	x->pool.http2_max_requests =
	    (uint32_t)dnum(d, m, "http2MaxRequests", p, 0, UINT32_MAX, true);
	x->pool.max_requests_per_connection =
	    (uint32_t)dnum(d, m, "maxRequestsPerConnection", p, 0, UINT32_MAX, true);
	x->pool.max_retries = (uint32_t)dnum(d, m, "maxRetries", p, 0, UINT32_MAX, true);
	x->pool.http_idle_timeout_ms = (uint64_t)dnum(d, m, "httpIdleTimeoutMs", p, 0, 1e12, true);
	x->pool.h2_upgrade_policy = denum(d, m, "h2UpgradePolicy", p, l7_h2_names, true);
	x->pool.use_client_protocol = dbool(d, m, "useClientProtocol", p);
	x->pool.max_concurrent_streams =
	    (uint32_t)dnum(d, m, "maxConcurrentStreams", p, 0, UINT32_MAX, false);
	m = cJSON_GetObjectItemCaseSensitive(o, "outlierDetection");
	snprintf(p, sizeof(p), "%.200s.outlierDetection", path);
	if (m && keys(d, m, p, ok)) {
		const cJSON *codes, *c;
		size_t n;

		x->outlier.present = true;
		x->outlier.consecutive_5xx =
		    (uint32_t)dnum(d, m, "consecutive5xxErrors", p, 0, UINT32_MAX, true);
		x->outlier.consecutive_gateway =
		    (uint32_t)dnum(d, m, "consecutiveGatewayErrors", p, 0, UINT32_MAX, true);
		x->outlier.consecutive_local_origin =
		    (uint32_t)dnum(d, m, "consecutiveLocalOriginFailures", p, 0, UINT32_MAX, false);
		x->outlier.split_local_origin = dbool(d, m, "splitExternalLocalOriginErrors", p);
		x->outlier.interval_ms = (uint64_t)dnum(d, m, "intervalMs", p, 1, 1e12, true);
		x->outlier.base_ejection_ms =
		    (uint64_t)dnum(d, m, "baseEjectionMs", p, 1, 1e12, true);
		x->outlier.max_ejection_percent =
		    (uint32_t)dnum(d, m, "maxEjectionPercent", p, 0, 100, true);
		x->outlier.min_health_percent =
		    (uint32_t)dnum(d, m, "minHealthPercent", p, 0, 100, true);
		codes = darr(d, m, "errorCodes", p, &n);
		if (d->failed ||
		    !(x->outlier.error_codes = dalloc(d, n, sizeof(*x->outlier.error_codes), p)))
			return;
		cJSON_ArrayForEach(c, codes)
		{
			if (!cJSON_IsNumber(c) || c->valuedouble < 100 || c->valuedouble > 599) {
				fail(d, "%s.errorCodes: expected status codes", p);
				return;
			}
			x->outlier.error_codes[x->outlier.n_error_codes++] =
			    (uint16_t)c->valuedouble;
		}
	}
	m = cJSON_GetObjectItemCaseSensitive(o, "tls");
	snprintf(p, sizeof(p), "%.200s.tls", path);
	if (m && keys(d, m, p, tk)) {
		x->tls.present = true;
		x->tls.mode = dstr(d, m, "mode", p, false);
		x->tls.sni = dstr(d, m, "sni", p, false);
		x->tls.ca_certificates = dstr(d, m, "caCertificates", p, false);
		x->tls.credential_name = dstr(d, m, "credentialName", p, false);
		dstrings(d, m, "subjectAltNames", p, &x->tls.subject_alt_names);
		x->tls.insecure_skip_verify = dbool(d, m, "insecureSkipVerify", p);
	}
}

static void dpolicies(struct dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	size_t n;
	const cJSON *a = darr(d, o, "policies", path, &n), *it;
	char p[320];

	if (d->failed || !(s->policies = dalloc(d, n, sizeof(*s->policies), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.policies[%zu]", path, s->n_policies);
		dpolicy(d, it, p, s, &s->policies[s->n_policies++]);
		if (d->failed)
			return;
	}
}

static void droutes(struct dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	size_t n;
	const cJSON *a = darr(d, o, "routes", path, &n), *it;
	char p[320];

	if (d->failed || !(s->routes = dalloc(d, n, sizeof(*s->routes), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.routes[%zu]", path, s->n_routes);
		droute(d, it, p, &s->routes[s->n_routes++]);
		if (d->failed)
			return;
	}
}

static void dtcp(struct dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"source", "port", "subnets", "destinations", NULL};
	size_t n;
	const cJSON *a = darr(d, o, "tcp", path, &n), *it;
	char p[320];

	if (d->failed || !(s->tcp = dalloc(d, n, sizeof(*s->tcp), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_tcp_route *t = &s->tcp[s->n_tcp];

		snprintf(p, sizeof(p), "%.200s.tcp[%zu]", path, s->n_tcp++);
		if (!keys(d, it, p, k))
			return;
		t->source = dstr(d, it, "source", p, false);
		t->port = (uint16_t)dnum(d, it, "port", p, 1, 65535, false);
		dstrings(d, it, "subnets", p, &t->subnets);
		ddests(d, it, p, &t->dests, &t->n_dests);
		if (d->failed)
			return;
	}
}

static void dservice(struct dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"hostname",   "name",	   "namespace", "vip",
					"ports",      "endpoints", "subsets",	"policies",
					"routesKind", "routes",	   "tcp",	NULL};

	if (!keys(d, o, path, k))
		return;
	s->hostname = dstr(d, o, "hostname", path, true);
	s->name = dstr(d, o, "name", path, true);
	s->namespace = dstr(d, o, "namespace", path, true);
	s->vip = dip(d, o, "vip", path);
	s->routes_kind = denum(d, o, "routesKind", path, l7_routes_kind_names, true);
	dports(d, o, path, s);
	dendpoints(d, o, path, s);
	dsubsets(d, o, path, s);
	dpolicies(d, o, path, s);
	droutes(d, o, path, s);
	dtcp(d, o, path, s);
}

struct l7_config *l7_from_json(const cJSON *j, char *err, size_t errlen)
{
	static const char *const k[] = {"waypoint", "services", NULL};
	static const char *const wk[] = {"namespace", "name", "identity", NULL};
	struct dec d = {.err = err, .errlen = errlen};
	struct l7_config *c = calloc(1, sizeof(*c));
	const cJSON *w, *a, *it;
	size_t n;

	if (err && errlen)
		err[0] = '\0';
	if (!c) {
		fail(&d, "out of memory");
		return NULL;
	}
	if (!keys(&d, j, "l7", k))
		goto fail;
	w = cJSON_GetObjectItemCaseSensitive(j, "waypoint");
	if (!w || !keys(&d, w, "l7.waypoint", wk)) {
		fail(&d, "l7.waypoint: missing");
		goto fail;
	}
	c->waypoint_namespace = dstr(&d, w, "namespace", "l7.waypoint", true);
	c->waypoint_name = dstr(&d, w, "name", "l7.waypoint", true);
	c->identity = dstr(&d, w, "identity", "l7.waypoint", true);
	a = darr(&d, j, "services", "l7", &n);
	if (d.failed || !(c->services = dalloc(&d, n, sizeof(*c->services), "l7.services")))
		goto fail;
	cJSON_ArrayForEach(it, a)
	{
		char p[64];

		snprintf(p, sizeof(p), "l7.services[%zu]", c->n_services);
		dservice(&d, it, p, &c->services[c->n_services++]);
		if (d.failed)
			goto fail;
	}
	return c;
fail:
	l7_config_free(c);
	errno = EINVAL;
	return NULL;
}
