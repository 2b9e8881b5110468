// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's tracing (struct l7_telemetry): Istio's Telemetry API resolved for a waypoint or
 * gateway (its destructor and JSON are the wire's: wire/l7_telemetry.c).
 *
 * Istio's hierarchy, narrowest last and winning field by field: the mesh (a Telemetry of the
 * root namespace without selector or targetRefs), the proxy's namespace (likewise), the proxy
 * itself (targetRefs to its Gateway; for an Istio gateway, a selector matching its pods), then
 * for the requests of one Service, a Telemetry of its namespace whose targetRefs name it. Of a
 * Telemetry's tracing entries, those whose match.mode takes the proxy's side apply (a waypoint
 * is its services' server side, SERVER; a gateway is its clients' proxy, CLIENT), in order.
 * Providers and sampling not said anywhere come from the mesh config: defaultProviders.tracing
 * and defaultConfig.tracing.sampling (Istio's default 1 %). Custom tags merge by name.
 * Only the first provider named is used (Istio supports one), and only zipkin and
 * opentelemetry providers are exported to: others leave tracing off (analyze says so).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "compile_priv.h"

#define ROOT_NAMESPACE "istio-system"
#define DEFAULT_SAMPLING 1.0
#define DEFAULT_MESH_ID "cluster.local"

/* ---- resolution ---- */

/* What the levels said so far (borrowed from the config). */
struct resolved {
	const char *provider; /* NULL: not said */
	bool has_sampling;
	double sampling;
	bool has_disable, disable;
	bool has_use_request_id, use_request_id;
	size_t n_tags;
	const struct config_custom_tag *tags[64];
	int access_log;		/* -1: not said */
	const char *log_filter; /* NULL: not said */
	uint32_t metrics_off;
	size_t n_ops;
	struct {
		uint32_t metrics;
		const char *tag, *value; /* value NULL: REMOVE */
	} ops[64];
};

static bool mode_applies(enum config_telemetry_mode m, bool gateway)
{
	return m == CONFIG_TELEMETRY_CLIENT_AND_SERVER ||
	       m == (gateway ? CONFIG_TELEMETRY_CLIENT : CONFIG_TELEMETRY_SERVER);
}

/* The bits of an override's match.metric (custom metrics are none of Istio's: 0). */
static uint32_t metric_bits(const struct config_metric_override *o)
{
	static const struct {
		const char *name;
		uint32_t bits;
	} names[] = {
	    {"ALL_METRICS", L7_METRIC_ALL},
	    {"REQUEST_COUNT", L7_METRIC_REQUEST_COUNT},
	    {"REQUEST_DURATION", L7_METRIC_REQUEST_DURATION},
	    {"REQUEST_SIZE", L7_METRIC_REQUEST_SIZE},
	    {"RESPONSE_SIZE", L7_METRIC_RESPONSE_SIZE},
	    {"TCP_OPENED_CONNECTIONS", L7_METRIC_TCP_OPENED},
	    {"TCP_CLOSED_CONNECTIONS", L7_METRIC_TCP_CLOSED},
	    {"TCP_SENT_BYTES", L7_METRIC_TCP_SENT},
	    {"TCP_RECEIVED_BYTES", L7_METRIC_TCP_RECEIVED},
	    {"GRPC_REQUEST_MESSAGES", L7_METRIC_GRPC_REQUEST},
	    {"GRPC_RESPONSE_MESSAGES", L7_METRIC_GRPC_RESPONSE},
	};

	if (!o->metric)
		return L7_METRIC_ALL; /* no match: every metric */
	if (o->custom_metric)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(o->metric, names[i].name))
			return names[i].bits;
	return 0;
}

/* Metrics overrides, in order: disabled per metric, tag operations per (metric set, tag). */
static void apply_metrics(struct resolved *r, const struct config_telemetry *t, bool gateway)
{
	for (size_t i = 0; i < t->n_metrics; i++)
		for (size_t j = 0; j < t->metrics[i].n_overrides; j++) {
			const struct config_metric_override *o = &t->metrics[i].overrides[j];
			uint32_t bits = metric_bits(o);

			if (!bits || !mode_applies(o->mode, gateway))
				continue;
			if (o->has_disabled)
				r->metrics_off =
				    o->disabled ? r->metrics_off | bits : r->metrics_off & ~bits;
			for (size_t k = 0; k < o->n_tag_overrides; k++) {
				const struct config_tag_override *to = &o->tag_overrides[k];
				size_t x = 0;

				while (x < r->n_ops && (r->ops[x].metrics != bits ||
							strcmp(r->ops[x].tag, to->tag)))
					x++;
				if (x == r->n_ops) {
					if (r->n_ops == sizeof(r->ops) / sizeof(r->ops[0]))
						continue;
					r->n_ops++;
				}
				r->ops[x].metrics = bits;
				r->ops[x].tag = to->tag;
				r->ops[x].value = to->op == CONFIG_TAG_REMOVE ? NULL : to->value;
			}
		}
}

/* Telemetry @t's tracing entries onto @r. */
/*
 * An accessLogging entry turns logging on (it names providers, or takes the defaults) unless
 * it says disabled; ambit logs Envoy's line to its stdout (the envoy provider, and
 * envoyFileAccessLog to /dev/stdout), so a provider of another kind changes nothing here.
 */
static void apply_logging(struct resolved *r, const struct config_telemetry *t, bool gateway)
{
	for (size_t i = 0; i < t->n_access_logging; i++) {
		const struct config_telemetry_access_logging *e = &t->access_logging[i];

		if (!mode_applies(e->mode, gateway))
			continue;
		r->access_log = e->has_disabled ? !e->disabled : 1;
		if (e->filter)
			r->log_filter = e->filter;
	}
}

static void apply(struct resolved *r, const struct config_telemetry *t, bool gateway)
{
	apply_logging(r, t, gateway);
	apply_metrics(r, t, gateway);
	for (size_t i = 0; i < t->n_tracing; i++) {
		const struct config_telemetry_tracing *e = &t->tracing[i];

		if (!mode_applies(e->mode, gateway))
			continue;
		if (e->providers.n)
			r->provider = e->providers.items[0];
		if (e->has_sampling) {
			r->has_sampling = true;
			r->sampling = e->sampling;
		}
		if (e->has_disable_span_reporting) {
			r->has_disable = true;
			r->disable = e->disable_span_reporting;
		}
		if (e->has_use_request_id) {
			r->has_use_request_id = true;
			r->use_request_id = e->use_request_id_for_trace_sampling;
		}
		for (size_t k = 0; k < e->n_tags; k++) {
			size_t j = 0;

			while (j < r->n_tags && strcmp(r->tags[j]->tag, e->tags[k].tag))
				j++;
			if (j == r->n_tags && r->n_tags == sizeof(r->tags) / sizeof(r->tags[0]))
				continue;
			r->tags[j] = &e->tags[k];
			if (j == r->n_tags)
				r->n_tags++;
		}
	}
}

enum level { MESH, NAMESPACE, PROXY, SERVICE };

/* Whether Telemetry @t is of @level for proxy @wp (and, at SERVICE, Service @s). */
static bool at_level(const struct config_telemetry *t, enum level level,
		     const struct l7_waypoint *wp, const struct l7_service *s)
{
	const char *ns = t->meta.namespace;
	bool plain = !t->has_selector && !t->n_target_refs;

	switch (level) {
	case MESH: return plain && !strcmp(ns, ROOT_NAMESPACE);
	case NAMESPACE: return plain && !strcmp(ns, wp->namespace) && strcmp(ns, ROOT_NAMESPACE);
	case PROXY:
		if (strcmp(ns, wp->namespace))
			return false;
		if (t->has_selector)
			return wp->gateway && config_labels_match(&t->selector, &wp->labels);
		for (size_t i = 0; i < t->n_target_refs; i++) {
			const struct config_target_ref *r = &t->target_refs[i];
			char name[600];

			if (!r->name || !l7_ref_is(r, "gateway.networking.k8s.io", "Gateway") ||
			    (r->namespace && strcmp(r->namespace, ns)))
				continue;
			snprintf(name, sizeof(name), "%s/%s", ns, r->name);
			if ((!wp->gateway && !strcmp(r->name, wp->name)) ||
			    config_strings_has(&wp->k8s_gateways, name))
				return true;
		}
		return false;
	case SERVICE:
		if (!s || s->workload || s->aux || strcmp(ns, s->namespace))
			return false;
		for (size_t i = 0; i < t->n_target_refs; i++) {
			const struct config_target_ref *r = &t->target_refs[i];

			if (r->name &&
			    (l7_ref_is(r, "", "Service") || l7_ref_is(r, "core", "Service")) &&
			    (!r->namespace || !strcmp(r->namespace, ns)) &&
			    !strcmp(r->name, s->name))
				return true;
		}
		return false;
	}
	return false;
}

/* The oldest Telemetry of @level (Istio's tie-break), or NULL. */
static const struct config_telemetry *pick(const struct config *cfg, enum level level,
					   const struct l7_waypoint *wp, const struct l7_service *s)
{
	const struct config_telemetry *best = NULL;

	for (size_t i = 0; i < cfg->n_telemetries; i++) {
		const struct config_telemetry *t = &cfg->telemetries[i];

		if (at_level(t, level, wp, s) && (!best || l7_meta_cmp(&t->meta, &best->meta) < 0))
			best = t;
	}
	return best;
}

static int tag_cmp(const void *a, const void *b)
{
	return strcmp(((const struct config_custom_tag *)a)->tag,
		      ((const struct config_custom_tag *)b)->tag);
}

/* @r made into @out: its provider's settings and its collector's service. */
static int build(const struct l7_inputs *in, const struct l7_waypoint *wp, struct l7_config *c,
		 const struct resolved *r, struct l7_telemetry *out)
{
	const struct config_mesh *mesh = config_mesh_of(in->cfg);
	const char *name = r->provider;
	const struct config_extension_provider *p;
	double sampling = r->has_sampling		       ? r->sampling
			  : mesh && mesh->has_default_sampling ? mesh->default_sampling
							       : DEFAULT_SAMPLING;
	char fqdn[600];

	memset(out, 0, sizeof(*out));
	out->service = -1;
	out->access_log = r->access_log;
	if (r->log_filter && !(out->log_filter = strdup(r->log_filter)))
		return -ENOMEM;
	out->metrics_off = r->metrics_off;
	if (r->n_ops && !(out->tag_ops = calloc(r->n_ops, sizeof(*out->tag_ops))))
		return -ENOMEM;
	for (; out->n_tag_ops < r->n_ops; out->n_tag_ops++) {
		struct l7_tag_op *o = &out->tag_ops[out->n_tag_ops];

		o->metrics = r->ops[out->n_tag_ops].metrics;
		o->tag = strdup(r->ops[out->n_tag_ops].tag);
		o->value = l7_strdup(r->ops[out->n_tag_ops].value);
		if (!o->tag || (r->ops[out->n_tag_ops].value && !o->value)) {
			out->n_tag_ops++;
			return -ENOMEM;
		}
	}
	if (!name && mesh && mesh->default_tracing.n)
		name = mesh->default_tracing.items[0];
	p = name ? config_mesh_provider(mesh, name) : NULL;
	if (!p || p->trace.kind == CONFIG_TRACE_NONE || !p->trace.service)
		return 0; /* no provider, or one ambit does not export to: tracing off */
	out->sampling_ppm = (uint32_t)lround(fmin(fmax(sampling, 0.0), 100.0) * 10000.0);
	out->disable_span_reporting = r->has_disable && r->disable;
	out->use_request_id = r->has_use_request_id && r->use_request_id;
	out->p = (struct config_trace_provider){.kind = p->trace.kind,
						.port = p->trace.port,
						.max_tag_length = p->trace.max_tag_length,
						.timeout_ms = p->trace.timeout_ms,
						.trace_id_128 = p->trace.trace_id_128};
	out->provider = strdup(name);
	out->p.path = l7_strdup(p->trace.path);
	if (!out->provider || (p->trace.path && !out->p.path) ||
	    l7_copy_labels(&out->p.headers, &p->trace.headers))
		return -ENOMEM;
	out->service = l7_aux_service(in, wp, c, p->trace.service, fqdn, sizeof(fqdn));
	if (out->service < -1)
		return -ENOMEM;
	if (!(out->p.service = strdup(fqdn)))
		return -ENOMEM;
	out->tags = calloc(r->n_tags + 1, sizeof(*out->tags));
	if (!out->tags)
		return -ENOMEM;
	for (; out->n_tags < r->n_tags; out->n_tags++) {
		const struct config_custom_tag *s = r->tags[out->n_tags];
		struct config_custom_tag *d = &out->tags[out->n_tags];

		d->kind = s->kind;
		d->tag = l7_strdup(s->tag);
		d->value = l7_strdup(s->value);
		d->default_value = l7_strdup(s->default_value);
		if ((s->tag && !d->tag) || (s->value && !d->value) ||
		    (s->default_value && !d->default_value)) {
			out->n_tags++;
			return -ENOMEM;
		}
	}
	qsort(out->tags, out->n_tags, sizeof(*out->tags), tag_cmp);
	return 0;
}

static int add_entry(struct l7_config *c, struct l7_telemetry **out)
{
	struct l7_telemetry *t = realloc(c->telemetry, (c->n_telemetry + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	c->telemetry = t;
	*out = &t[c->n_telemetry++];
	memset(*out, 0, sizeof(**out));
	(*out)->service = -1;
	return 0;
}

int l7_compile_telemetry(const struct l7_inputs *in, const struct l7_waypoint *wp,
			 struct l7_config *c)
{
	const struct config *cfg = in->cfg;
	struct resolved base = {.access_log = -1};
	struct l7_telemetry *t;
	size_t n_own = c->n_services;
	int err;

	c->mesh_id = strdup(in->trust_domain ? in->trust_domain : DEFAULT_MESH_ID);
	if (!c->mesh_id || add_entry(c, &t))
		return -ENOMEM;
	for (enum level l = MESH; l <= PROXY; l++) {
		const struct config_telemetry *tm = pick(cfg, l, wp, NULL);

		if (tm)
			apply(&base, tm, wp->gateway);
	}
	if ((err = build(in, wp, c, &base, t)))
		return err;
	/* Services compiled by build (collectors) come after @n_own: they are not traced. */
	for (size_t i = 0; i < n_own; i++) {
		const struct config_telemetry *tm = pick(cfg, SERVICE, wp, &c->services[i]);
		struct resolved r = base;

		if (!tm)
			continue;
		apply(&r, tm, wp->gateway);
		if (add_entry(c, &t) || (err = build(in, wp, c, &r, t)))
			return err ? err : -ENOMEM;
		c->services[i].telemetry = (uint32_t)(c->n_telemetry - 1);
	}
	return 0;
}
