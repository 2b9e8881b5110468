// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's local rate limits (struct l7_ratelimit): which LocalRateLimits and EnvoyFilters
 * a waypoint or gateway enforces and on which of its services (attached as the policies are,
 * l7_attach_applies; a selector picks workloads, so a waypoint takes it for their services),
 * and their copies. Their destructor and JSON are the wire's (wire/l7_ratelimit.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "compile_priv.h"

static uint32_t ppm(double percent)
{
	return (uint32_t)lround(percent * 10000.0);
}

static int copy_rule(struct l7_rl_rule *d, const struct config_rl_rule *s)
{
	d->key = s->key;
	d->max_keys = s->max_keys;
	d->bucket = s->bucket;
	d->key_header = l7_strdup(s->key_header);
	d->matches = calloc(s->n_match + 1, sizeof(*d->matches));
	if ((s->key_header && !d->key_header) || !d->matches)
		return -ENOMEM;
	for (; d->n_matches < s->n_match; d->n_matches++)
		if (l7_vs_match(&s->match[d->n_matches], &d->matches[d->n_matches])) {
			d->n_matches++;
			return -ENOMEM;
		}
	return 0;
}

static int copy_ratelimit(struct l7_ratelimit *d, const struct config_rate_limit *s)
{
	if (asprintf(&d->name, "%s %s/%s", s->envoy_filter ? "EnvoyFilter" : "LocalRateLimit",
		     s->meta.namespace, s->meta.name) < 0) {
		d->name = NULL;
		return -ENOMEM;
	}
	d->port = s->port;
	d->has_bucket = s->has_bucket;
	d->bucket = s->bucket;
	d->always_consume = s->always_consume_default;
	d->enabled_ppm = ppm(s->enabled_percent);
	d->enforced_ppm = ppm(s->enforced_percent);
	d->status = s->status;
	d->rate_limit_headers = s->rate_limit_headers;
	d->rules = calloc(s->n_rules + 1, sizeof(*d->rules));
	if (!d->rules || l7_copy_labels(&d->response_headers, &s->response_headers))
		return -ENOMEM;
	for (; d->n_rules < s->n_rules; d->n_rules++)
		if (copy_rule(&d->rules[d->n_rules], &s->rules[d->n_rules])) {
			d->n_rules++;
			return -ENOMEM;
		}
	return 0;
}

static int attach(const struct config_rate_limit *rl, const struct l7_waypoint *wp,
		  struct l7_config *c)
{
	const struct l7_attach at = {rl->meta.namespace, rl->n_target_refs, rl->target_refs,
				     rl->has_selector,	 &rl->selector,	    true};
	bool used = false;

	if ((rl->proxies == CONFIG_RL_PROXIES_WAYPOINT && wp->gateway) ||
	    (rl->proxies == CONFIG_RL_PROXIES_GATEWAY && !wp->gateway))
		return 0;
	for (size_t s = 0; s < c->n_services; s++) {
		if (!l7_attach_applies(&at, wp, c, &c->services[s]))
			continue;
		if (!used) {
			struct l7_ratelimit *n =
			    realloc(c->ratelimits, (c->n_ratelimits + 1) * sizeof(*n));

			if (!n)
				return -ENOMEM;
			c->ratelimits = n;
			memset(&n[c->n_ratelimits], 0, sizeof(*n));
			if (copy_ratelimit(&n[c->n_ratelimits++], rl))
				return -ENOMEM;
			used = true;
		}
		if (l7_add_index(&c->services[s].ratelimit, &c->services[s].n_ratelimit,
				 (uint32_t)(c->n_ratelimits - 1)))
			return -ENOMEM;
	}
	return 0;
}

int l7_compile_ratelimits(const struct l7_inputs *in, const struct l7_waypoint *wp,
			  struct l7_config *c)
{
	const struct config *cfg = in->cfg;
	int err = 0;

	for (size_t i = 0; !err && i < cfg->n_local_rate_limits; i++)
		err = attach(&cfg->local_rate_limits[i], wp, c);
	for (size_t i = 0; !err && i < cfg->n_envoy_filters; i++)
		err = attach(&cfg->envoy_filters[i], wp, c);
	return err;
}
