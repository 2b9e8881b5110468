// SPDX-License-Identifier: Apache-2.0
/* L7 AuthorizationPolicy evaluation at the waypoint (authz.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "authz.h"

/* Whether bytes [@off, @off + @n) of @a (@an bytes) followed by @b are @x. */
static bool cat_eq(const char *a, size_t an, const char *b, size_t off, const char *x, size_t n)
{
	size_t k = off < an ? an - off : 0;

	if (k >= n)
		return !memcmp(a + off, x, n);
	return (!k || !memcmp(a + off, x, k)) && !memcmp(b + (off + k - an), x + k, n - k);
}

/* Istio's string match of @pattern on @a (@an bytes) followed by @b (@bn bytes). */
static bool str_match_cat(const char *pattern, const char *a, size_t an, const char *b, size_t bn)
{
	size_t pl = strlen(pattern), n = an + bn;

	if (pl == 1 && pattern[0] == '*')
		return n > 0;
	if (pl && pattern[pl - 1] == '*')
		return n >= pl - 1 && cat_eq(a, an, b, 0, pattern, pl - 1);
	if (pl && pattern[0] == '*')
		return n >= pl - 1 && cat_eq(a, an, b, n - (pl - 1), pattern + 1, pl - 1);
	return n == pl && cat_eq(a, an, b, 0, pattern, n);
}

bool wp_authz_str_match(const char *pattern, const char *v, size_t n)
{
	return v && str_match_cat(pattern, v, n, "", 0);
}

static bool str_match_nocase(const char *pattern, const char *v, size_t n)
{
	size_t pl = strlen(pattern);

	if (pl == 1 && pattern[0] == '*')
		return n > 0;
	if (pl && pattern[pl - 1] == '*')
		return n >= pl - 1 && !strncasecmp(v, pattern, pl - 1);
	if (pl && pattern[0] == '*')
		return n >= pl - 1 && !strncasecmp(v + n - (pl - 1), pattern + 1, pl - 1);
	return n == pl && !strncasecmp(v, pattern, n);
}

/*
 * Istio matches hosts on the authority without case, with or without its port: "foo.com"
 * covers "foo.com" and "FOO.com:8080".
 */
static bool host_match(const char *pattern, const char *host)
{
	size_t n, hl;
	const char *colon;

	if (!host)
		return false;
	hl = strlen(host);
	if (str_match_nocase(pattern, host, hl))
		return true;
	colon = strrchr(host, ':');
	if (!colon || strchr(colon, ']') || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return false;
	n = (size_t)(colon - host);
	return str_match_nocase(pattern, host, n);
}

/*
 * Istio's path templates: "{*}" one segment (no '/', not empty), "{**}" whatever remains
 * (it must be last). Other characters match themselves.
 */
static bool template_match(const char *t, const char *p, size_t n)
{
	while (*t) {
		if (!strncmp(t, "{**}", 4))
			return true;
		if (!strncmp(t, "{*}", 3)) {
			size_t seg = 0;

			while (seg < n && p[seg] != '/')
				seg++;
			if (!seg)
				return false;
			t += 3;
			p += seg;
			n -= seg;
			continue;
		}
		if (!n || *t != *p)
			return false;
		t++;
		p++;
		n--;
	}
	return n == 0;
}

static bool path_match(const char *pattern, const char *path, size_t n)
{
	if (!path)
		return false;
	if (strchr(pattern, '{'))
		return template_match(pattern, path, n);
	return wp_authz_str_match(pattern, path, n);
}

/* Whether @ip is in @block (an address or CIDR of either family; never across families). */
static bool ip_in(const char *block, const struct ipaddr *ip)
{
	struct ipaddr p;

	return !ipaddr_parse(block, &p) && ipaddr_contains(&p, ip);
}

/* The principal's namespace ("td/ns/NS/sa/SA"), into @out; false when it has none. */
static bool principal_part(const char *principal, const char *key, char *out, size_t len)
{
	const char *p = principal ? strstr(principal, key) : NULL;
	size_t n;

	if (!p)
		return false;
	p += strlen(key);
	n = strcspn(p, "/");
	if (!n || n >= len)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* What one field of a source, operation or condition is compared with. */
enum attr {
	A_PRINCIPAL,
	A_REQUEST_PRINCIPAL,
	A_NAMESPACE,
	A_SERVICE_ACCOUNT,
	A_TRUST_DOMAIN,
	A_SOURCE_IP,
	A_REMOTE_IP,
	A_DEST_IP,
	A_PORT,
	A_HOST,
	A_METHOD,
	A_PATH,
	A_SNI,
	A_HEADER,
	A_CLAIM,   /* hdr holds the claim's path: "[a][b]" */
	A_UNKNOWN, /* a key nothing offers: absent */
};

struct ctx {
	const struct wp_authz_request *rq;
	const struct l7_authz *pol;
	char ns[128], sa[128], td[256];
	bool has_ns, has_sa, has_td;
	size_t principal_len;
	size_t alias_td; /* wp_authz_peer_td: 0, or the peer's trust domain's length */
};

size_t wp_authz_peer_td(const struct wp_authz_request *rq)
{
	const char *slash = rq->principal ? strchr(rq->principal, '/') : NULL;
	size_t n = slash ? (size_t)(slash - rq->principal) : 0;

	for (size_t i = 0; n && i < rq->n_trust_domains; i++)
		if (strlen(rq->trust_domains[i]) == n &&
		    !memcmp(rq->trust_domains[i], rq->principal, n))
			return n;
	return 0;
}

/*
 * Whether principal @pattern matches the peer's: as it is, or, when the peer's trust domain is
 * one of the request's (the mesh's or an alias), as the same identity in any other of them or
 * in "cluster.local", Istio's pointer to the local trust domain. That is Istio's expansion of a
 * policy's principals over the mesh's trust domain and aliases (ReplaceTrustDomainAliases) read
 * from the other side, as the ztunnel's policy_evaluate reads it: a principal of another trust
 * domain, or one that names none (one starting with "*"), matches as it is either way.
 */
static bool principal_match(const struct ctx *c, const char *pattern)
{
	const struct wp_authz_request *rq = c->rq;
	const char *v = rq->principal;
	size_t n = c->principal_len;

	if (wp_authz_str_match(pattern, v, n))
		return true;
	for (size_t i = 0; c->alias_td && i <= rq->n_trust_domains; i++) {
		const char *td = i < rq->n_trust_domains ? rq->trust_domains[i] : "cluster.local";
		size_t tl = strlen(td);

		/* The peer's own is tried as it is; one with a '/' is no trust domain. */
		if ((tl == c->alias_td && !memcmp(td, v, tl)) || memchr(td, '/', tl))
			continue;
		if (str_match_cat(pattern, td, tl, v + c->alias_td, n - c->alias_td))
			return true;
	}
	return false;
}

/* Whether claim @name's strings are a space-delimited list (Istio's and the rule's). */
static bool space_delimited(const struct wp_authz_request *rq, const char *name)
{
	if (!strcmp(name, "scope") || !strcmp(name, "permission"))
		return true;
	for (size_t i = 0; rq->space_claims && i < rq->space_claims->n; i++)
		if (!strcmp(rq->space_claims->items[i], name))
			return true;
	return false;
}

/* Claim value @v matches @pattern: a string (or one word of a space-delimited one), any
 * string of an array, a number or boolean as its text. */
static bool claim_value_match(const char *pattern, const cJSON *v, bool spaces)
{
	const cJSON *it;
	char buf[64];

	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;

		if (!spaces)
			return wp_authz_str_match(pattern, s, strlen(s));
		while (*s) {
			size_t n;

			s += strspn(s, " ");
			n = strcspn(s, " ");
			if (n && wp_authz_str_match(pattern, s, n))
				return true;
			s += n;
		}
		return false;
	}
	if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(it, v) if (cJSON_IsString(it) &&
					      claim_value_match(pattern, it, spaces)) return true;
		return false;
	}
	if (cJSON_IsBool(v))
		return wp_authz_str_match(pattern, cJSON_IsTrue(v) ? "true" : "false",
					  cJSON_IsTrue(v) ? 4 : 5);
	if (cJSON_IsNumber(v)) {
		int n = snprintf(buf, sizeof(buf), "%.17g", v->valuedouble);

		return n > 0 && wp_authz_str_match(pattern, buf, (size_t)n);
	}
	return false;
}

/* The claim at path @path ("[a][b]...") of @claims, and its last name into @last. */
static const cJSON *claim_at(const cJSON *claims, const char *path, char *last, size_t len)
{
	const cJSON *v = claims;

	while (v && *path == '[') {
		const char *close = strchr(path, ']');
		size_t n = close ? (size_t)(close - path - 1) : 0;

		if (!close || !n || n >= len || !cJSON_IsObject(v))
			return NULL;
		memcpy(last, path + 1, n);
		last[n] = '\0';
		v = cJSON_GetObjectItemCaseSensitive(v, last);
		path = close + 1;
	}
	return *path ? NULL : v;
}

static bool value_match(const struct ctx *c, enum attr a, const char *pattern, const char *hdr)
{
	const struct wp_authz_request *rq = c->rq;
	char buf[300];
	const char *v;

	switch (a) {
	case A_PRINCIPAL: return principal_match(c, pattern);
	case A_REQUEST_PRINCIPAL:
		v = rq->request_principal;
		return wp_authz_str_match(pattern, v, v ? strlen(v) : 0);
	case A_NAMESPACE: return c->has_ns && wp_authz_str_match(pattern, c->ns, strlen(c->ns));
	case A_TRUST_DOMAIN: return c->has_td && wp_authz_str_match(pattern, c->td, strlen(c->td));
	case A_SERVICE_ACCOUNT:
		/* "ns/sa", or "sa" in the policy's namespace; no wildcards. */
		if (!c->has_sa || !c->has_ns)
			return false;
		if (strchr(pattern, '/')) {
			snprintf(buf, sizeof(buf), "%s/%s", c->ns, c->sa);
			return !strcmp(pattern, buf);
		}
		return !strcmp(pattern, c->sa) && !strcmp(c->ns, c->pol->namespace);
	case A_SOURCE_IP: return ip_in(pattern, &rq->source_ip);
	case A_REMOTE_IP: return ip_in(pattern, &rq->remote_ip);
	case A_DEST_IP: return ip_in(pattern, &rq->dest_ip);
	case A_PORT: snprintf(buf, sizeof(buf), "%u", rq->dest_port); return !strcmp(pattern, buf);
	case A_HOST: return host_match(pattern, rq->host);
	case A_METHOD: v = rq->method; return wp_authz_str_match(pattern, v, v ? strlen(v) : 0);
	case A_PATH: return path_match(pattern, rq->path, rq->path_len);
	case A_SNI: v = rq->sni; return wp_authz_str_match(pattern, v, v ? strlen(v) : 0);
	case A_HEADER: {
		const struct http_fields *f = rq->headers;

		/* Envoy's header matcher sees repeated fields as one, joined with ",". */
		if (!f)
			return false;
		for (size_t i = 0; i < f->n; i++) {
			const struct http_field *x = &f->items[i];

			if (strcasecmp(x->name, hdr))
				continue;
			for (size_t j = i + 1; j < f->n; j++)
				if (!strcasecmp(f->items[j].name, hdr)) {
					size_t o = 0;

					for (size_t k = i; k < f->n; k++) {
						if (strcasecmp(f->items[k].name, hdr))
							continue;
						o += (size_t)snprintf(buf + o, sizeof(buf) - o,
								      "%s%s", o ? "," : "",
								      f->items[k].value);
						if (o >= sizeof(buf))
							return false;
					}
					return wp_authz_str_match(pattern, buf, o);
				}
			return wp_authz_str_match(pattern, x->value, x->value_len);
		}
		return false;
	}
	case A_CLAIM: {
		char last[256];
		const cJSON *v = rq->claims ? claim_at(rq->claims, hdr, last, sizeof(last)) : NULL;

		return v && claim_value_match(pattern, v, space_delimited(rq, last));
	}
	case A_UNKNOWN: return false;
	}
	return false;
}

/* Any value of @s matches (false for an empty list: callers skip those). */
static bool any_match(const struct ctx *c, enum attr a, const struct config_strings *s,
		      const char *hdr)
{
	for (size_t i = 0; i < s->n; i++)
		if (value_match(c, a, s->items[i], hdr))
			return true;
	return false;
}

/* An attribute only an HTTP request has (wp_authz_request.l4). */
static bool http_only(enum attr a)
{
	return a == A_REQUEST_PRINCIPAL || a == A_HOST || a == A_METHOD || a == A_PATH ||
	       a == A_HEADER || a == A_CLAIM;
}

/*
 * A field and its not-form: the field (if given) matches and the not-form (if given) does not.
 * On a connection an HTTP-only field is left out (rule_ok keeps such rules from ALLOW).
 */
static bool field_ok(const struct ctx *c, enum attr a, const struct config_strings *yes,
		     const struct config_strings *no, const char *hdr)
{
	if (c->rq->l4 && http_only(a))
		return true;
	if (yes->n && !any_match(c, a, yes, hdr))
		return false;
	if (no->n && any_match(c, a, no, hdr))
		return false;
	return true;
}

static bool source_ok(const struct ctx *c, const struct config_authz_source *s)
{
	return field_ok(c, A_PRINCIPAL, &s->principals, &s->not_principals, NULL) &&
	       field_ok(c, A_REQUEST_PRINCIPAL, &s->request_principals, &s->not_request_principals,
			NULL) &&
	       field_ok(c, A_NAMESPACE, &s->namespaces, &s->not_namespaces, NULL) &&
	       field_ok(c, A_SERVICE_ACCOUNT, &s->service_accounts, &s->not_service_accounts,
			NULL) &&
	       field_ok(c, A_SOURCE_IP, &s->ip_blocks, &s->not_ip_blocks, NULL) &&
	       field_ok(c, A_REMOTE_IP, &s->remote_ip_blocks, &s->not_remote_ip_blocks, NULL) &&
	       field_ok(c, A_TRUST_DOMAIN, &s->trust_domains, &s->not_trust_domains, NULL);
}

static bool operation_ok(const struct ctx *c, const struct config_authz_operation *o)
{
	return field_ok(c, A_HOST, &o->hosts, &o->not_hosts, NULL) &&
	       field_ok(c, A_PORT, &o->ports, &o->not_ports, NULL) &&
	       field_ok(c, A_METHOD, &o->methods, &o->not_methods, NULL) &&
	       field_ok(c, A_PATH, &o->paths, &o->not_paths, NULL);
}

/* The attribute a when key names; @hdr gets a header's name. */
static enum attr when_attr(const char *k, char *hdr, size_t len)
{
	static const struct {
		const char *key;
		enum attr a;
	} keys[] = {
	    {"source.ip", A_SOURCE_IP},
	    {"remote.ip", A_REMOTE_IP},
	    {"source.namespace", A_NAMESPACE},
	    {"source.principal", A_PRINCIPAL},
	    {"source.serviceAccount", A_SERVICE_ACCOUNT},
	    {"source.trustDomain", A_TRUST_DOMAIN},
	    {"request.auth.principal", A_REQUEST_PRINCIPAL},
	    {"destination.ip", A_DEST_IP},
	    {"destination.port", A_PORT},
	    {"connection.sni", A_SNI},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(k, keys[i].key))
			return keys[i].a;
	if (!strcmp(k, "request.auth.audiences") || !strcmp(k, "request.auth.presenter")) {
		snprintf(hdr, len, "[%s]", k[13] == 'a' ? "aud" : "azp");
		return A_CLAIM;
	}
	if (!strncmp(k, "request.auth.claims[", 20)) {
		snprintf(hdr, len, "%s", k + 19);
		return A_CLAIM;
	}
	if (!strncmp(k, "request.headers[", 16)) {
		size_t n = strlen(k + 16);

		if (n < 2 || n > len || k[16 + n - 1] != ']')
			return A_UNKNOWN;
		memcpy(hdr, k + 16, n - 1);
		hdr[n - 1] = '\0';
		return A_HEADER;
	}
	return A_UNKNOWN;
}

static bool when_ok(const struct ctx *c, const struct config_authz_condition *w)
{
	char hdr[256];
	enum attr a;

	/*
	 * Envoy filter metadata no ambit proxy produces: never evaluable, so it fails closed (a
	 * DENY or CUSTOM rule is taken as matching, an ALLOW or AUDIT rule never matches).
	 */
	if (w->key && !strncmp(w->key, "experimental.envoy.filters.", 27))
		return c->pol->action == CONFIG_AUTHZ_DENY || c->pol->action == CONFIG_AUTHZ_CUSTOM;
	a = when_attr(w->key ? w->key : "", hdr, sizeof(hdr));
	return field_ok(c, a, &w->values, &w->not_values, hdr);
}

/* Whether @r names an attribute only an HTTP request has. */
static bool rule_http_only(const struct config_authz_rule *r)
{
	char hdr[256];

	for (size_t i = 0; i < r->n_from; i++)
		if (r->from[i].request_principals.n || r->from[i].not_request_principals.n)
			return true;
	for (size_t i = 0; i < r->n_to; i++) {
		const struct config_authz_operation *o = &r->to[i];

		if (o->hosts.n || o->not_hosts.n || o->methods.n || o->not_methods.n ||
		    o->paths.n || o->not_paths.n)
			return true;
	}
	for (size_t i = 0; i < r->n_when; i++)
		if (http_only(when_attr(r->when[i].key ? r->when[i].key : "", hdr, sizeof(hdr))))
			return true;
	return false;
}

static bool rule_ok(const struct ctx *c, const struct config_authz_rule *r)
{
	bool ok = !r->n_from;

	if (c->rq->l4 &&
	    (c->pol->action == CONFIG_AUTHZ_ALLOW || c->pol->action == CONFIG_AUTHZ_AUDIT) &&
	    rule_http_only(r))
		return false;

	for (size_t i = 0; !ok && i < r->n_from; i++)
		ok = source_ok(c, &r->from[i]);
	if (!ok)
		return false;
	ok = !r->n_to;
	for (size_t i = 0; !ok && i < r->n_to; i++)
		ok = operation_ok(c, &r->to[i]);
	if (!ok)
		return false;
	for (size_t i = 0; i < r->n_when; i++)
		if (!when_ok(c, &r->when[i]))
			return false;
	return true;
}

/* The first rule of @p that matches, or -1. */
static long policy_match(struct ctx *c, const struct l7_authz *p)
{
	c->pol = p;
	for (size_t i = 0; i < p->n_rules; i++)
		if (rule_ok(c, &p->rules[i]))
			return (long)i;
	return -1;
}

void wp_authz_decide(const struct l7_config *cfg, const struct l7_service *s,
		     const struct wp_authz_request *rq, struct wp_authz_decision *d)
{
	wp_authz_decide_indexed(cfg, s, NULL, rq, d);
}

void wp_authz_decide_indexed(const struct l7_config *cfg, const struct l7_service *s,
			     const struct wp_authz_index *x, const struct wp_authz_request *rq,
			     struct wp_authz_decision *d)
{
	struct ctx c = {.rq = rq};
	bool any_allow = false, shadow_allow = false;
	const struct l7_authz *allowed = NULL;
	size_t allowed_rule = 0, i;
	struct wp_authz_cands it;

	memset(d, 0, sizeof(*d));
	c.principal_len = rq->principal ? strlen(rq->principal) : 0;
	c.alias_td = wp_authz_peer_td(rq);
	c.has_ns = principal_part(rq->principal, "/ns/", c.ns, sizeof(c.ns));
	c.has_sa = principal_part(rq->principal, "/sa/", c.sa, sizeof(c.sa));
	if (rq->principal) {
		size_t n = strcspn(rq->principal, "/");

		c.has_td = n && n < sizeof(c.td);
		if (c.has_td) {
			memcpy(c.td, rq->principal, n);
			c.td[n] = '\0';
		}
	}
	/* CUSTOM, then DENY: the first that matches decides (a dry run only records it). */
	for (int pass = rq->custom_allowed ? 1 : 0; pass < 2; pass++)
		for (wp_authz_cands_init(&it, x, s, rq); wp_authz_cands_next(&it, &i);) {
			const struct l7_authz *p = &cfg->authz[s->authz[i]];
			long rule;

			if (p->action != (pass ? CONFIG_AUTHZ_DENY : CONFIG_AUTHZ_CUSTOM))
				continue;
			if ((rule = policy_match(&c, p)) < 0)
				continue;
			if (p->dry_run) {
				if (!d->shadow_denied) {
					d->shadow_denied = true;
					d->shadow = p;
					d->shadow_rule = (size_t)rule;
				}
				continue;
			}
			d->verdict = WP_AUTHZ_DENY;
			d->policy = p;
			d->rule = (size_t)rule;
			return;
		}
	/* An ALLOW policy that cannot match still makes the default a denial. */
	if (x) {
		any_allow = wp_authz_index_has_allow(x, false);
		shadow_allow = wp_authz_index_has_allow(x, true);
	}
	for (wp_authz_cands_init(&it, x, s, rq); wp_authz_cands_next(&it, &i);) {
		const struct l7_authz *p = &cfg->authz[s->authz[i]];
		long rule;

		if (p->action == CONFIG_AUTHZ_AUDIT) {
			if (!d->audit && policy_match(&c, p) >= 0)
				d->audit = p;
			continue;
		}
		if (p->action != CONFIG_AUTHZ_ALLOW)
			continue;
		if (p->dry_run) {
			shadow_allow = true;
			continue;
		}
		any_allow = true;
		if (!allowed && (rule = policy_match(&c, p)) >= 0) {
			allowed = p;
			allowed_rule = (size_t)rule;
		}
	}
	if (any_allow && !allowed) {
		d->verdict = WP_AUTHZ_DENY;
		return;
	}
	d->policy = allowed;
	d->rule = allowed_rule;
	/* Dry-run ALLOW policies of which none matches: a shadow denial by "none". */
	if (shadow_allow && !d->shadow_denied) {
		bool matched = false;

		for (wp_authz_cands_init(&it, x, s, rq);
		     !matched && wp_authz_cands_next(&it, &i);) {
			const struct l7_authz *p = &cfg->authz[s->authz[i]];

			matched = p->action == CONFIG_AUTHZ_ALLOW && p->dry_run &&
				  policy_match(&c, p) >= 0;
		}
		d->shadow_denied = !matched;
	}
}

void wp_authz_policy_name(const struct l7_authz *p, size_t rule, char *out, size_t len)
{
	const char *slash = p ? strchr(p->name, '/') : NULL;

	if (!p || !slash) {
		snprintf(out, len, "none");
		return;
	}
	snprintf(out, len, "ns[%s]-policy[%s]-rule[%zu]", p->namespace, slash + 1, rule);
}
