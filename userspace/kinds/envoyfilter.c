// SPDX-License-Identifier: Apache-2.0
/*
 * EnvoyFilter (networking.istio.io v1alpha3), the one shape Istio's local rate limit tutorials
 * and its samples/ratelimit/local-rate-limit-service.yaml write (API_SEMANTICS.md §10): an
 * HTTP_FILTER patch inserting envoy.filters.http.local_ratelimit, and optionally an HTTP_ROUTE
 * MERGE whose route.rate_limits actions make the request's descriptors and whose
 * typed_per_filter_config holds the LocalRateLimit (token_bucket, filter_enabled,
 * filter_enforced, response_headers_to_add, descriptors, enable_x_ratelimit_headers, status,
 * always_consume_default_token_bucket). Istio ignores EnvoyFilters at waypoints; ambit
 * translates this shape into a struct config_rate_limit as it loads and refuses anything
 * else, naming the field: another filter, applyTo or operation, an unknown key.
 *
 * The translation: each descriptor becomes a rule, matching the requests for which some
 * rate_limits entry makes exactly the descriptor's entries (header_value_match and :path,
 * :method, :authority, :scheme or header conditions; request_headers with a value: that value;
 * generic_key: always). An entry whose value is empty (Envoy's dynamic descriptors) makes a
 * bucket per value: remote_address per client address, request_headers per header value.
 * The waypoint sees the per-route config as the whole service's (a waypoint has no inbound
 * virtual host per port: `inbound|http|PORT` restricts it to that port).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#include "envoyfilter_priv.h"

static void header_free(struct ef_header *h)
{
	free(h->name);
	free(h->exact);
	free(h->prefix);
	free(h->suffix);
	free(h->contains);
	free(h->regex);
}

static void action_free(struct ef_action *a)
{
	free(a->key);
	free(a->value);
	for (size_t i = 0; i < a->n_headers; i++)
		header_free(&a->headers[i]);
	free(a->headers);
	free(a->header_name);
}

static void lrl_free(struct ef_lrl *l)
{
	config_labels_free(&l->headers);
	for (size_t i = 0; i < l->n_desc; i++) {
		for (size_t j = 0; j < l->desc[i].n_entries; j++) {
			free(l->desc[i].entries[j].key);
			free(l->desc[i].entries[j].value);
		}
		free(l->desc[i].entries);
	}
	free(l->desc);
}

static void patch_free(struct ef_patch *p)
{
	free(p->apply_to);
	free(p->operation);
	free(p->context);
	lrl_free(&p->lrl);
	for (size_t i = 0; i < p->n_rate_limits; i++) {
		for (size_t j = 0; j < p->rate_limits[i].n_actions; j++)
			action_free(&p->rate_limits[i].actions[j]);
		free(p->rate_limits[i].actions);
	}
	free(p->rate_limits);
}

int ef_want_str(struct cfg_ctx *ctx, yaml_node_t *v, const char *want)
{
	const char *s = (const char *)v->data.scalar.value;

	if (strcmp(s, want)) {
		cfg_error(ctx, v, "\"%.96s\": only %s is supported", s, want);
		return -EINVAL;
	}
	return 0;
}

int ef_nonempty(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (!**out) {
		cfg_error(ctx, v, "must not be empty");
		return -EINVAL;
	}
	return 0;
}

/* ---- configPatches[] ---- */

static int port_number(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((struct ef_patch *)o)->port = (uint16_t)n;
	return 0;
}

static int sub_filter_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)o;
	return ef_want_str(ctx, v, "envoy.filters.http.router");
}

static const struct cfg_field sub_filter_fields[] = {
    {"name", CFG_T_STR, sub_filter_name, 0},
    {NULL, 0, NULL, 0},
};

static int filter_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)o;
	return ef_want_str(ctx, v, HCM_NAME);
}

static int filter_sub(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, sub_filter_fields, o);
}

static const struct cfg_field filter_match_fields[] = {
    {"name", CFG_T_STR, filter_name, 0},
    {"subFilter", CFG_T_MAP, filter_sub, 0},
    {NULL, 0, NULL, 0},
};

static int chain_filter(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, filter_match_fields, o);
}

static const struct cfg_field chain_fields[] = {
    {"filter", CFG_T_MAP, chain_filter, 0},
    {NULL, 0, NULL, 0},
};

static int listener_chain(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, chain_fields, o);
}

static const struct cfg_field listener_fields[] = {
    {"portNumber", CFG_T_INT, port_number, 0},
    {"filterChain", CFG_T_MAP, listener_chain, 0},
    {NULL, 0, NULL, 0},
};

static int route_action(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const a[] = {"ANY", NULL};

	(void)o;
	return cfg_check_enum(ctx, v, a, NULL);
}

static const struct cfg_field vhost_route_fields[] = {
    {"action", CFG_T_STR, route_action, 0},
    {NULL, 0, NULL, 0},
};

static int vhost_route(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, vhost_route_fields, o);
}

/* Istio names a sidecar's inbound virtual host "inbound|http|PORT". */
static int vhost_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	const char *s = (const char *)v->data.scalar.value;
	char *end;
	long port;

	if (strncmp(s, "inbound|http|", 13) || !isdigit((unsigned char)s[13]) ||
	    (port = strtol(s + 13, &end, 10)) < 1 || port > 65535 || *end) {
		cfg_error(ctx, v,
			  "\"%.96s\": only inbound|http|PORT (the workload's port) is "
			  "understood",
			  s);
		return -EINVAL;
	}
	((struct ef_patch *)o)->port = (uint16_t)port;
	return 0;
}

static const struct cfg_field vhost_fields[] = {
    {"name", CFG_T_STR, vhost_name, 0},
    {"route", CFG_T_MAP, vhost_route, 0},
    {NULL, 0, NULL, 0},
};

static int rc_vhost(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, vhost_fields, o);
}

static const struct cfg_field route_config_fields[] = {
    {"portNumber", CFG_T_INT, port_number, 0},
    {"vhost", CFG_T_MAP, rc_vhost, 0},
    {NULL, 0, NULL, 0},
};

static int m_context(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	/* SIDECAR_OUTBOUND is the client's side: no proxy of ambient's sits there. */
	static const char *const c[] = {"ANY", "SIDECAR_INBOUND", "GATEWAY", NULL};

	return cfg_check_enum(ctx, v, c, &((struct ef_patch *)o)->context);
}

static int m_listener(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, listener_fields, o);
}

static int m_route_config(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, route_config_fields, o);
}

static const struct cfg_field match_fields[] = {
    {"context", CFG_T_STR, m_context, 0},
    {"listener", CFG_T_MAP, m_listener, 0},
    {"routeConfiguration", CFG_T_MAP, m_route_config, 0},
    {NULL, 0, NULL, 0},
};

static int p_apply_to(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const a[] = {"HTTP_FILTER", "HTTP_ROUTE", NULL};
	struct ef_patch *p = o;

	if (cfg_check_enum(ctx, v, a, &p->apply_to))
		return -EINVAL;
	p->is_filter = !strcmp(p->apply_to, "HTTP_FILTER");
	return 0;
}

static int p_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, match_fields, o);
}

static int pp_operation(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const ops[] = {"INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST",
					  "ADD",	   "MERGE",	   NULL};

	return cfg_check_enum(ctx, v, ops, &((struct ef_patch *)o)->operation);
}

static int pp_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_patch *p = o;

	/* applyTo comes first in every tutorial, but a mapping has no order: see finish. */
	p->node = v;
	return 0;
}

static const struct cfg_field patch_fields[] = {
    {"operation", CFG_T_STR, pp_operation, CFG_F_REQUIRED},
    {"value", CFG_T_MAP, pp_value, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int p_patch(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, patch_fields, o);
}

static const struct cfg_field config_patch_fields[] = {
    {"applyTo", CFG_T_STR, p_apply_to, CFG_F_REQUIRED},
    {"match", CFG_T_MAP, p_match, 0},
    {"patch", CFG_T_MAP, p_patch, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* The patch's value, walked once its applyTo is known. */
static int patch_value(struct cfg_ctx *ctx, yaml_node_t *item, struct ef_patch *p)
{
	size_t s1 = cfg_path_push(ctx, "patch"), s2;
	int err = 0;

	if (p->is_filter && !strcmp(p->operation, "MERGE")) {
		s2 = cfg_path_push(ctx, "operation");
		cfg_error(ctx, item,
			  "an HTTP_FILTER is inserted (INSERT_BEFORE, INSERT_AFTER, "
			  "INSERT_FIRST or ADD), not merged");
		err = -EINVAL;
	} else if (!p->is_filter && strcmp(p->operation, "MERGE")) {
		s2 = cfg_path_push(ctx, "operation");
		cfg_error(ctx, item, "an HTTP_ROUTE is merged (MERGE)");
		err = -EINVAL;
	} else {
		s2 = cfg_path_push(ctx, "value");
		err = cfg_walk_map(
		    ctx, p->node, p->is_filter ? ef_filter_value_fields : ef_route_value_fields, p);
	}
	cfg_path_pop(ctx, s2);
	cfg_path_pop(ctx, s1);
	return err;
}

/* ---- translation ---- */

/* Blocks of a rule being built: any of them (OR), each all of its conditions (AND). */
struct alts {
	size_t n;
	struct config_route_match *m;
};

static void alts_free(struct alts *a)
{
	for (size_t i = 0; i < a->n; i++)
		config_route_match_free(&a->m[i]);
	free(a->m);
	memset(a, 0, sizeof(*a));
}

/* @s with RE2's special characters escaped. */
static char *quote(const char *pre, const char *s, const char *post)
{
	size_t n = strlen(s);
	char *out = malloc(strlen(pre) + 2 * n + strlen(post) + 1), *o;

	if (!out)
		return NULL;
	o = out + sprintf(out, "%s", pre);
	for (; *s; s++) {
		if (strchr("\\.+*?()|[]{}^$", *s))
			*o++ = '\\';
		*o++ = *s;
	}
	strcpy(o, post);
	return out;
}

/* Envoy's StringMatcher as a VirtualService string match (suffix, contains and ignore_case
 * on anything but the path become a regex). */
static int to_string_match(const struct ef_header *h, bool path, struct config_string_match *m,
			   bool *ignore_uri_case)
{
	const char *ci = h->ignore_case ? "(?i)" : "";

	if (h->regex) {
		m->type = CONFIG_MATCH_REGEX;
		if (asprintf(&m->value, "%s%s", ci, h->regex) < 0)
			m->value = NULL;
	} else if ((h->exact || h->prefix) && (!h->ignore_case || path)) {
		m->type = h->exact ? CONFIG_MATCH_EXACT : CONFIG_MATCH_PREFIX;
		m->value = strdup(h->exact ? h->exact : h->prefix);
		*ignore_uri_case = h->ignore_case;
	} else {
		const char *v = h->exact    ? h->exact
				: h->prefix ? h->prefix
				: h->suffix ? h->suffix
					    : h->contains;
		char pre[8];

		snprintf(pre, sizeof(pre), "%s%s", ci, h->exact || h->prefix ? "" : ".*");
		m->type = CONFIG_MATCH_REGEX;
		m->value = quote(pre, v, h->exact || h->suffix ? "" : ".*");
	}
	return m->value ? 0 : -ENOMEM;
}

static int add_header(struct config_header_match **arr, size_t *n, const struct ef_header *h)
{
	struct config_header_match *a = realloc(*arr, (*n + 1) * sizeof(*a));
	bool unused = false;

	if (!a)
		return -ENOMEM;
	*arr = a;
	a = &a[(*n)++];
	memset(a, 0, sizeof(*a));
	a->name = strdup(h->name);
	if (!a->name)
		return -ENOMEM;
	return h->present && !h->exact && !h->prefix && !h->suffix && !h->contains && !h->regex
		   ? 0
		   : to_string_match(h, false, &a->match, &unused);
}

/*
 * Adds one header condition (inverted when @invert) to block @m; an error message in @why when
 * the block cannot say it.
 */
static int add_condition(struct config_route_match *m, const struct ef_header *h, bool invert,
			 const char **why)
{
	struct config_string_match *sm = NULL;
	bool unused = false;

	invert ^= h->invert;
	if (h->name[0] != ':' && strcmp(h->name, "host"))
		return invert ? add_header(&m->without_headers, &m->n_without_headers, h)
			      : add_header(&m->headers, &m->n_headers, h);
	if (!strcmp(h->name, ":path"))
		sm = &m->uri;
	else if (!strcmp(h->name, ":method"))
		sm = &m->method;
	else if (!strcmp(h->name, ":authority") || !strcmp(h->name, "host"))
		sm = &m->authority;
	else if (!strcmp(h->name, ":scheme"))
		sm = &m->scheme;
	if (!sm) {
		*why = "only the pseudo-headers :path, :method, :authority and :scheme are matched";
		return -EINVAL;
	}
	if (invert || h->present) {
		*why = "a pseudo-header is matched by value, not inverted or by presence";
		return -EINVAL;
	}
	if (sm->type) {
		*why = "two conditions on one pseudo-header in one descriptor";
		return -EINVAL;
	}
	return to_string_match(h, sm == &m->uri, sm, sm == &m->uri ? &m->ignore_uri_case : &unused);
}

static int copy_match(struct config_route_match *d, const struct config_route_match *s)
{
	int err = 0;

	memset(d, 0, sizeof(*d));
	d->ignore_uri_case = s->ignore_uri_case;
	if (s->uri.type && !(d->uri.value = strdup(s->uri.value)))
		return -ENOMEM;
	d->uri.type = s->uri.type;
#define COPY_SM(f)                                                                                 \
	do {                                                                                       \
		d->f.type = s->f.type;                                                             \
		if (s->f.value && !(d->f.value = strdup(s->f.value)))                              \
			return -ENOMEM;                                                            \
	} while (0)
	COPY_SM(method);
	COPY_SM(authority);
	COPY_SM(scheme);
#undef COPY_SM
	for (size_t i = 0; !err && i < s->n_headers + s->n_without_headers; i++) {
		const struct config_header_match *x =
		    i < s->n_headers ? &s->headers[i] : &s->without_headers[i - s->n_headers];
		struct config_header_match **arr =
		    i < s->n_headers ? &d->headers : &d->without_headers;
		size_t *n = i < s->n_headers ? &d->n_headers : &d->n_without_headers;
		struct config_header_match *a = realloc(*arr, (*n + 1) * sizeof(*a));

		if (!a)
			return -ENOMEM;
		*arr = a;
		a = &a[(*n)++];
		memset(a, 0, sizeof(*a));
		a->match.type = x->match.type;
		a->name = strdup(x->name);
		if (!a->name || (x->match.value && !(a->match.value = strdup(x->match.value))))
			err = -ENOMEM;
	}
	return err;
}

/*
 * Narrows @a by action @act's condition: header_value_match ANDs its headers into every block
 * (expect_match false: the blocks times each header inverted, as not-all is any-not); a
 * request_headers entry with a value needs that value. 0, -ENOMEM, or -EINVAL with @why.
 */
static int narrow(struct alts *a, const struct ef_action *act, const char *value, const char **why)
{
	struct alts out = {0};
	int err = 0;

	if (act->type == EF_REQUEST_HEADERS) {
		struct ef_header h = {.name = act->header_name, .exact = (char *)value};

		for (size_t i = 0; !err && i < a->n; i++)
			err = add_condition(&a->m[i], &h, false, why);
		return err;
	}
	if (act->type != EF_HEADER_VALUE_MATCH)
		return 0;
	if (act->expect_match) {
		for (size_t i = 0; !err && i < a->n; i++)
			for (size_t j = 0; !err && j < act->n_headers; j++)
				err = add_condition(&a->m[i], &act->headers[j], false, why);
		return err;
	}
	if (a->n * act->n_headers > MAX_ALTERNATIVES) {
		*why = "the conditions multiply beyond 64 alternatives";
		return -EINVAL;
	}
	out.m = calloc(a->n * act->n_headers + 1, sizeof(*out.m));
	if (!out.m)
		return -ENOMEM;
	for (size_t i = 0; !err && i < a->n; i++)
		for (size_t j = 0; !err && j < act->n_headers; j++) {
			err = copy_match(&out.m[out.n++], &a->m[i]);
			err = err ? err
				  : add_condition(&out.m[out.n - 1], &act->headers[j], true, why);
		}
	alts_free(a);
	*a = out;
	return err;
}

/*
 * Whether rate_limits entry @r makes descriptor @d: the same keys in order, and each fixed
 * value equal. On a match, @a gets the request conditions and @key the dynamic entry's kind.
 */
static int descriptor_of(const struct ef_rate_limit *r, const struct ef_desc *d, struct alts *a,
			 enum config_rl_key *key, char **key_header, const char **why)
{
	int err = 0;

	if (r->n_actions != d->n_entries)
		return 1;
	for (size_t i = 0; i < r->n_actions; i++) {
		const struct ef_action *act = &r->actions[i];
		const char *want = d->entries[i].value ? d->entries[i].value : "";

		if (strcmp(act->key, d->entries[i].key))
			return 1;
		if ((act->type == EF_HEADER_VALUE_MATCH || act->type == EF_GENERIC_KEY) &&
		    strcmp(act->value, want))
			return 1;
	}
	a->m = calloc(1, sizeof(*a->m));
	if (!a->m)
		return -ENOMEM;
	a->n = 1;
	for (size_t i = 0; !err && i < r->n_actions; i++) {
		const struct ef_action *act = &r->actions[i];
		const char *want = d->entries[i].value ? d->entries[i].value : "";
		bool dynamic =
		    (act->type == EF_REMOTE_ADDRESS || act->type == EF_REQUEST_HEADERS) && !*want;

		if (dynamic && *key) {
			*why =
			    "more than one entry with an empty value (one client key per bucket)";
			return -EINVAL;
		}
		if (dynamic) {
			*key = act->type == EF_REMOTE_ADDRESS ? CONFIG_RL_KEY_REMOTE_ADDRESS
							      : CONFIG_RL_KEY_HEADER;
			if (act->header_name && !(*key_header = strdup(act->header_name)))
				return -ENOMEM;
		} else if (act->type == EF_REMOTE_ADDRESS) {
			*why = "a remote_address entry with a value (one client) is not supported: "
			       "leave it empty for a bucket per client address";
			return -EINVAL;
		} else {
			err = narrow(a, act, want, why);
		}
	}
	return err;
}

static bool block_empty(const struct config_route_match *m)
{
	return !m->uri.type && !m->method.type && !m->authority.type && !m->scheme.type &&
	       !m->n_headers && !m->n_without_headers;
}

/*
 * Descriptor @i of @l as rule @r, from the rate_limits that make it; *@made is false when none
 * does (Envoy accepts that: the bucket is never used).
 */
static int translate_descriptor(struct cfg_ctx *ctx, const struct ef_patch *route,
				const struct ef_lrl *l, size_t i, struct config_rl_rule *r,
				bool *made)
{
	const struct ef_desc *d = &l->desc[i];
	yaml_node_t *node = cfg_seq_item(ctx, l->desc_node, i);
	size_t saved = cfg_path_push_index(ctx, i);
	bool all = false;
	int err = 0;

	*made = false;
	r->line = (int)node->start_mark.line + 1;
	r->bucket = d->bucket;
	for (size_t j = 0; !err && route && j < route->n_rate_limits; j++) {
		struct alts a = {0};
		enum config_rl_key key = CONFIG_RL_KEY_NONE;
		char *key_header = NULL;
		const char *why = NULL;
		int rc = descriptor_of(&route->rate_limits[j], d, &a, &key, &key_header, &why);
		struct config_route_match *m = NULL;

		if (!rc && *made &&
		    (key != r->key || !key_header != !r->key_header ||
		     (key_header && strcmp(key_header, r->key_header))))
			why = "rate_limits entries that make it differ in their empty-valued entry";
		if (rc < 0 || why) {
			cfg_error(ctx, node, "%s (route rate_limits[%zu])",
				  why ? why : "out of memory", j);
			err = -EINVAL;
		} else if (!rc) {
			m = realloc(r->match, (r->n_match + a.n) * sizeof(*m));
			err = m ? 0 : -ENOMEM;
		}
		if (m) {
			if (!*made) {
				r->key = key;
				r->key_header = key_header;
				key_header = NULL;
			}
			*made = true;
			for (size_t k = 0; k < a.n; k++)
				all |= block_empty(&a.m[k]);
			r->match = m;
			memcpy(&r->match[r->n_match], a.m, a.n * sizeof(*m));
			r->n_match += a.n;
			a.n = 0;
		}
		free(key_header);
		alts_free(&a);
	}
	if (!err && !*made)
		cfg_diag(ctx, node, false,
			 "no route rate_limits entry makes this descriptor: it never applies");
	if (all) {
		for (size_t k = 0; k < r->n_match; k++)
			config_route_match_free(&r->match[k]);
		r->n_match = 0;
	}
	if (r->key)
		r->max_keys = CONFIG_RL_MAX_KEYS_DEFAULT;
	cfg_path_pop(ctx, saved);
	return err;
}

static int translate(struct cfg_ctx *ctx, yaml_node_t *spec, RL *rl, const struct ef_patch *filter,
		     const struct ef_patch *route)
{
	const struct ef_lrl *l = route && route->lrl.present ? &route->lrl : &filter->lrl;
	const char *context = filter->context ? filter->context : "ANY";
	int err = 0;

	rl->has_bucket = l->has_bucket;
	rl->bucket = l->bucket;
	rl->enabled_percent = l->enabled;
	rl->enforced_percent = l->enforced;
	rl->status = l->status;
	rl->rate_limit_headers = l->xrl;
	rl->always_consume_default = l->always_consume;
	rl->proxies = !strcmp(context, "ANY")	    ? CONFIG_RL_PROXIES_ANY
		      : !strcmp(context, "GATEWAY") ? CONFIG_RL_PROXIES_GATEWAY
						    : CONFIG_RL_PROXIES_WAYPOINT;
	rl->port = route && route->port ? route->port : filter->port;
	for (size_t i = 0; i < l->headers.n; i++)
		if (config_labels_add(&rl->response_headers, l->headers.items[i].key,
				      l->headers.items[i].value))
			return -ENOMEM;
	rl->rules = calloc(l->n_desc + 1, sizeof(*rl->rules));
	if (!rl->rules)
		return -ENOMEM;
	for (size_t i = 0; !err && i < l->n_desc; i++) {
		size_t saved = cfg_path_push(ctx, "descriptors");
		struct config_rl_rule *r = &rl->rules[rl->n_rules];
		bool made;

		err = translate_descriptor(ctx, route, l, i, r, &made);
		if (err || !made)
			config_rl_rule_free(r);
		else
			rl->n_rules++;
		cfg_path_pop(ctx, saved);
	}
	if (!err && !rl->has_bucket && !rl->n_rules)
		cfg_diag(ctx, spec, false,
			 "the LocalRateLimit has no token_bucket and no descriptor that applies: "
			 "nothing is limited");
	return err;
}

/* ---- spec ---- */

struct ef_state {
	RL *rl;
	size_t n_patches;
	struct ef_patch *patches;
};

static int ef_patches(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_state *st = o;
	int err = cfg_parse_seq(ctx, v, config_patch_fields, sizeof(*st->patches),
				(void **)&st->patches, &st->n_patches, true, "configPatches");

	for (size_t i = 0; !err && i < st->n_patches; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		err = patch_value(ctx, cfg_seq_item(ctx, v, i), &st->patches[i]);
		cfg_path_pop(ctx, saved);
	}
	return err;
}

static int ws_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_state *st = o;

	st->rl->has_selector = true;
	return cfg_get_selector_labels(ctx, v, &st->rl->selector);
}

static const struct cfg_field workload_selector_fields[] = {
    {"labels", CFG_T_MAP, ws_labels, 0},
    {NULL, 0, NULL, 0},
};

static int ef_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_state *st = o;

	st->rl->has_selector = true;
	return cfg_walk_map(ctx, v, workload_selector_fields, o);
}

static int ef_target_refs(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_state *st = o;

	return cfg_get_target_refs(ctx, v, false, &st->rl->target_refs, &st->rl->n_target_refs);
}

static const struct cfg_field ef_spec_fields[] = {
    {"workloadSelector", CFG_T_MAP, ef_selector, 0},
    {"targetRefs", CFG_T_SEQ, ef_target_refs, 0},
    {"configPatches", CFG_T_SEQ, ef_patches, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* One HTTP_FILTER insert, at most one HTTP_ROUTE merge, agreeing on the proxies. */
static int ef_translate(struct cfg_ctx *ctx, yaml_node_t *spec, struct ef_state *st)
{
	yaml_node_t *seq = cfg_map_get(ctx, spec, "configPatches");
	const struct ef_patch *filter = NULL, *route = NULL;
	size_t saved = cfg_path_push(ctx, "configPatches"), s2;
	int err = 0;

	for (size_t i = 0; !err && i < st->n_patches; i++) {
		const struct ef_patch *p = &st->patches[i];
		const struct ef_patch **slot = p->is_filter ? &filter : &route;

		s2 = cfg_path_push_index(ctx, i);
		if (*slot) {
			cfg_error(ctx, cfg_seq_item(ctx, seq, i),
				  "a second %s patch: one of each is "
				  "supported",
				  p->apply_to);
			err = -EINVAL;
		}
		*slot = p;
		cfg_path_pop(ctx, s2);
	}
	if (!err && !filter) {
		cfg_error(ctx, seq,
			  "no HTTP_FILTER patch inserting " FILTER_NAME
			  ": a route's typed_per_filter_config alone does nothing");
		err = -EINVAL;
	}
	if (!err && route &&
	    strcmp(route->context ? route->context : "ANY",
		   filter->context ? filter->context : "ANY")) {
		cfg_error(ctx, seq, "the HTTP_FILTER and HTTP_ROUTE patches' match.context differ");
		err = -EINVAL;
	}
	cfg_path_pop(ctx, saved);
	return err ?: translate(ctx, spec, st->rl, filter, route);
}

static int ef_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct ef_state st = {.rl = ((struct cfg_obj *)obj)->obj};
	int err;

	st.rl->envoy_filter = true;
	err = cfg_walk_map(ctx, v, ef_spec_fields, &st);
	if (!err)
		err = ef_translate(ctx, v, &st);
	for (size_t i = 0; i < st.n_patches; i++)
		patch_free(&st.patches[i]);
	free(st.patches);
	return err;
}

const struct cfg_field cfg_envoyfilter_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, ef_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_envoyfilter_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	RL *rl = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	int before = ctx->nerrors;
	size_t saved = cfg_path_push(ctx, "spec");

	cfg_rl_check_attachment(ctx, spec, rl, "workloadSelector");
	cfg_path_pop(ctx, saved);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
