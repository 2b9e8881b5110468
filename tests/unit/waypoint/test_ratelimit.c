// SPDX-License-Identifier: Apache-2.0
/*
 * Local rate limiting (kinds/ratelimit.c, kinds/envoyfilter.c, l7/ratelimit.c,
 * waypoint/ratelimit.c): Istio's sample EnvoyFilter and ambit's LocalRateLimit loaded,
 * attached and compiled through the real model (JSON both ways), anything else in an
 * EnvoyFilter refused naming the field, and the buckets counted exactly, also from several
 * threads at once, with per-client tables that stay within their bound.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "ambit/config.h"
#include "ambit/l7.h"
#include "../../lib/l7_world.h"
#include "../../../waypoint/ratelimit.h"

static const char *const world = L7_WORLD_HEAD
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: productpage, namespace: shop}\n"
    "spec: {selector: {app: productpage}, ports: [{name: http, port: 9080, targetPort: 8000}]}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata: {name: productpage-0, namespace: shop, labels: {app: productpage}}\n"
    "spec: {containers: [{name: app, image: x}]}\n"
    "status: {podIP: 10.1.0.7}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: api, namespace: shop}\n"
    "spec: {selector: {app: api}, ports: [{name: http, port: 8080}]}\n";

static char *read_sample(void)
{
	/* Istio's samples/ratelimit/local-rate-limit-service.yaml, byte for byte. */
	FILE *f = fopen("tests/unit/fixtures/ratelimit/local-rate-limit-service.yaml", "r");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, 65535, f) > 0);
	fclose(f);
	return buf;
}

/* Loads @yaml; returns the number of errors, the first formatted into @err. */
static int load(struct config *cfg, const char *yaml, char *err, size_t len)
{
	struct config_diags diags = {0};
	int n = 0;

	config_init(cfg);
	err[0] = '\0';
	config_load_buffer(cfg, "test.yaml", yaml, strlen(yaml), &diags);
	for (size_t i = 0; i < diags.n; i++)
		if (diags.items[i].error && !n++)
			config_diag_format(&diags.items[i], err, len);
	config_diags_free(&diags);
	return n;
}

/* The model of waypoint shop/wp for the world plus @extra, through JSON and back. */
static struct l7_config *compile(const char *extra)
{
	char *yaml, err[512];
	struct l7_config *l7, *back;
	cJSON *j;

	assert_true(asprintf(&yaml, "%s---\n%s", world, extra) > 0);
	l7 = l7_world_compile(yaml, err, sizeof(err));
	if (!l7)
		fail_msg("%s", err);
	j = l7_to_json(l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		fail_msg("l7_from_json: %s", err);
	cJSON_Delete(j);
	l7_config_free(l7);
	free(yaml);
	return back;
}

static const struct l7_service *svc(const struct l7_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_services; i++)
		if (!strcmp(c->services[i].name, name))
			return &c->services[i];
	fail_msg("no service %s", name);
	return NULL;
}

/* Istio's sample, unchanged: the waypoint of productpage takes it, and nothing else does. */
static void test_sample_translated(void **state)
{
	char *sample = read_sample();
	struct l7_config *c = compile(sample);
	const struct l7_service *pp = svc(c, "productpage"), *api = svc(c, "api");
	const struct l7_ratelimit *rl;
	const struct l7_rl_rule *r;

	assert_int_equal(c->n_ratelimits, 1);
	assert_int_equal(pp->n_ratelimit, 1);
	assert_int_equal(api->n_ratelimit, 0);
	rl = &c->ratelimits[0];
	assert_string_equal(rl->name, "EnvoyFilter istio-system/filter-local-ratelimit-svc");
	assert_int_equal(rl->port, 8000); /* vhost inbound|http|8000: the target port */
	assert_true(rl->has_bucket);
	assert_int_equal(rl->bucket.max_tokens, 100);
	assert_int_equal(rl->bucket.tokens_per_fill, 100);
	assert_int_equal(rl->bucket.fill_interval_ms, 60000);
	assert_int_equal(rl->enabled_ppm, 1000000);
	assert_int_equal(rl->enforced_ppm, 1000000);
	assert_int_equal(rl->status, 429);
	assert_true(rl->rate_limit_headers);
	assert_int_equal(rl->response_headers.n, 1);
	assert_string_equal(rl->response_headers.items[0].key, "x-local-rate-limit");
	assert_string_equal(rl->response_headers.items[0].value, "true");
	/* header_match=productpage, made by the header_value_match on :path; remote_address
	 * makes a descriptor no entry names, so it limits nothing. */
	assert_int_equal(rl->n_rules, 1);
	r = &rl->rules[0];
	assert_int_equal(r->bucket.max_tokens, 10);
	assert_int_equal(r->key, CONFIG_RL_KEY_NONE);
	assert_int_equal(r->n_matches, 1);
	assert_int_equal(r->matches[0].path.type, L7_MATCH_PREFIX);
	assert_string_equal(r->matches[0].path.value, "/productpage");
	assert_true(r->matches[0].path.ignore_case);
	l7_config_free(c);
	free(sample);
}

#define EF_HEAD                                                                                    \
	"apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\n"                            \
	"metadata: {name: ef, namespace: shop}\nspec:\n  configPatches:\n"
#define EF_FILTER(extra)                                                                           \
	"  - applyTo: HTTP_FILTER\n    patch:\n      operation: INSERT_BEFORE\n      value:\n"     \
	"        name: envoy.filters.http.local_ratelimit\n        typed_config:\n"                \
	"          '@type': type.googleapis.com/envoy.extensions.filters.http.local_ratelimit"     \
	".v3.LocalRateLimit\n          stat_prefix: x\n" extra

static void refused(const char *yaml, const char *field, const char *why)
{
	struct config cfg;
	char err[512];

	if (!load(&cfg, yaml, err, sizeof(err)))
		fail_msg("loaded: %s", yaml);
	if (!strstr(err, field) || !strstr(err, why))
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err, field, why);
	config_free(&cfg);
}

/* Anything but the local_ratelimit shape is refused, naming the field; nothing is ignored. */
static void test_envoyfilter_refused(void **state)
{
	refused(EF_HEAD EF_FILTER("          bogus: 1\n"), "typed_config.bogus", "unknown field");
	refused(EF_HEAD "  - applyTo: CLUSTER\n    patch: {operation: MERGE, value: {}}\n",
		"configPatches[0].applyTo", "CLUSTER");
	refused(EF_HEAD "  - applyTo: HTTP_FILTER\n    patch: {operation: INSERT_BEFORE, value: "
			"{name: envoy.filters.http.lua, typed_config: {'@type': x}}}\n",
		"value.name", "envoy.filters.http.lua");
	refused(EF_HEAD
		"  - applyTo: HTTP_FILTER\n    match: {context: SIDECAR_OUTBOUND}\n" EF_FILTER(""),
		"match.context", "SIDECAR_OUTBOUND");
	refused(EF_HEAD EF_FILTER("          token_bucket: {max_tokens: 5, fill_interval: 10ms}\n"),
		"token_bucket.fill_interval", "at least 50 ms");
	refused(EF_HEAD "  - applyTo: HTTP_ROUTE\n    patch:\n      operation: MERGE\n"
			"      value: {route: {timeout: 1s}}\n",
		"value.route.timeout", "unknown field");
	refused(EF_HEAD EF_FILTER("          local_rate_limit_per_downstream_connection: true\n"),
		"local_rate_limit_per_downstream_connection", "per-connection");
	refused(EF_HEAD
		"  - applyTo: HTTP_ROUTE\n    patch:\n      operation: MERGE\n"
		"      value: {route: {rate_limits: [{actions: [{remote_address: {}}]}]}}\n",
		"configPatches", "no HTTP_FILTER patch");
	refused("apiVersion: networking.ambit.io/v1alpha1\nkind: LocalRateLimit\n"
		"metadata: {name: l, namespace: shop}\nspec: {rules: [{tokenBucket: {maxTokens: 1, "
		"fillInterval: 1s}, clientKey: {remoteAddress: {}, sourcePrincipal: {}}}]}\n",
		"rules[0].clientKey", "exactly one of");
}

static const char *const own =
    "apiVersion: networking.ambit.io/v1alpha1\n"
    "kind: LocalRateLimit\n"
    "metadata: {name: api-limits, namespace: shop}\n"
    "spec:\n"
    "  targetRefs: [{kind: Service, group: '', name: api}]\n"
    "  tokenBucket: {maxTokens: 100000, tokensPerFill: 100000, fillInterval: 60s}\n"
    "  rateLimitHeaders: true\n"
    "  rules:\n"
    "  - match: [{uri: {prefix: /login}, method: {exact: POST}}]\n"
    "    clientKey: {remoteAddress: {}}\n"
    "    maxKeys: 2\n"
    "    tokenBucket: {maxTokens: 3, fillInterval: 1m}\n"
    "  - match: [{headers: {x-user: {regex: 'a.*'}}}]\n"
    "    clientKey: {header: {name: X-User}}\n"
    "    tokenBucket: {maxTokens: 2, fillInterval: 1m}\n";

static void test_own_kind(void **state)
{
	struct l7_config *c = compile(own);
	const struct l7_ratelimit *rl;

	assert_int_equal(c->n_ratelimits, 1);
	assert_int_equal(svc(c, "api")->n_ratelimit, 1);
	assert_int_equal(svc(c, "productpage")->n_ratelimit, 0);
	rl = &c->ratelimits[0];
	assert_string_equal(rl->name, "LocalRateLimit shop/api-limits");
	assert_int_equal(rl->enforced_ppm, 1000000);
	assert_string_equal(config_label_get(&rl->response_headers, "x-local-rate-limit"), "true");
	assert_int_equal(rl->n_rules, 2);
	assert_int_equal(rl->rules[0].key, CONFIG_RL_KEY_REMOTE_ADDRESS);
	assert_int_equal(rl->rules[0].max_keys, 2);
	assert_int_equal(rl->rules[1].key, CONFIG_RL_KEY_HEADER);
	assert_string_equal(rl->rules[1].key_header, "x-user");
	assert_int_equal(rl->rules[1].max_keys, CONFIG_RL_MAX_KEYS_DEFAULT);
	l7_config_free(c);
}

/* ---- the buckets ---- */

struct req_spec {
	const char *method, *path, *ip;
	uint16_t port;
	const char *user; /* x-user, or NULL */
	uint64_t now;
	uint32_t enforced_draw;
};

static const struct l7_ratelimit *ask(struct wp_rl_state *st, const struct l7_service *s,
				      const struct req_spec *x, struct wp_rl_decision *d)
{
	struct http_field f = {.name = "x-user", .value = (char *)x->user, .name_len = 6};
	struct wp_request rq = {.method = x->method,
				.scheme = "http",
				.authority = "h",
				.path = x->path,
				.port = x->port,
				.n_headers = x->user ? 1 : 0,
				.headers = &f};
	struct wp_rl_request q = {
	    .rq = &rq, .remote_ip = x->ip, .now_ms = x->now, .enforced_draw = x->enforced_draw};

	if (x->user)
		f.value_len = (uint32_t)strlen(x->user);
	wp_rl_decide(st, s, &q, d);
	return d->limit;
}

/* Fires @n requests; returns how many were refused (enforced). */
static int fire(struct wp_rl_state *st, const struct l7_service *s, const struct req_spec *x, int n)
{
	struct wp_rl_decision d;
	int refused = 0;

	for (int i = 0; i < n; i++)
		refused += ask(st, s, x, &d) && d.enforced;
	return refused;
}

/* The sample's buckets: 10 a minute for /productpage (any case), 100 for the whole port. */
static void test_sample_counts(void **state)
{
	char *sample = read_sample();
	struct l7_config *c = compile(sample);
	const struct l7_service *pp = svc(c, "productpage");
	struct wp_rl_state *st = wp_rl_new(c, 1000, NULL, 0);
	struct req_spec page = {"GET", "/productpage", "10.0.0.1", 9080, NULL, 1000, 0};
	struct req_spec other = {"GET", "/static/x", "10.0.0.1", 9080, NULL, 1000, 0};
	struct req_spec elsewhere = {"GET", "/productpage", "10.0.0.1", 9999, NULL, 1000, 0};
	struct wp_rl_decision d;

	assert_non_null(st);
	/* 30 quick ones: exactly 10 pass (each took a token from the default bucket too). */
	assert_int_equal(fire(st, pp, &page, 30), 20);
	page.path = "/PRODUCTPAGE?x=1";
	assert_int_equal(fire(st, pp, &page, 5), 5);
	assert_ptr_equal(ask(st, pp, &page, &d), &c->ratelimits[0]);
	assert_int_equal(d.limit_tokens, 10);
	assert_int_equal(d.remaining, 0);
	assert_int_equal(d.reset_s, 60);
	/* The default bucket had 100, 10 went to /productpage: 90 left for the rest. */
	assert_int_equal(fire(st, pp, &other, 100), 10);
	/* Another port of the Service is not the inbound|http|8000 virtual host. */
	assert_int_equal(fire(st, pp, &elsewhere, 50), 0);
	/* A fill interval later, both buckets are full again. */
	page.now = other.now = 61000;
	assert_int_equal(fire(st, pp, &page, 15), 5);
	assert_int_equal(fire(st, pp, &other, 95), 5);
	wp_rl_free(st);
	l7_config_free(c);
	free(sample);
}

/*
 * A new generation of the same rate limits takes the old one's buckets (a snapshot about
 * something else does not fill them again), and keeps them when the old one ends first; a
 * rate limit whose bucket changed starts full.
 */
static void test_generations_share(void **state)
{
	char *sample = read_sample();
	struct l7_config *c1 = compile(sample), *c2 = compile(sample), *c3;
	struct wp_rl_state *st1 = wp_rl_new(c1, 1000, NULL, 0), *st2, *st3;
	struct req_spec page = {"GET", "/productpage", "10.0.0.1", 9080, NULL, 1000, 0};
	char *changed = strdup(sample), *at;

	assert_non_null(st1);
	assert_int_equal(fire(st1, svc(c1, "productpage"), &page, 4), 0);
	st2 = wp_rl_new(c2, 1000, NULL, 0);
	assert_non_null(st2);
	wp_rl_inherit(st2, st1);
	wp_rl_free(st1);
	l7_config_free(c1);
	/* 6 left of the 10, whichever generation asks. */
	assert_int_equal(fire(st2, svc(c2, "productpage"), &page, 10), 4);
	/* The descriptor's bucket of 10 made 12: a changed rate limit, full again. */
	at = strstr(changed, "max_tokens: 10\n");
	assert_non_null(at);
	memcpy(at, "max_tokens: 12", 14);
	c3 = compile(changed);
	st3 = wp_rl_new(c3, 1000, NULL, 0);
	wp_rl_inherit(st3, st2);
	assert_int_equal(fire(st3, svc(c3, "productpage"), &page, 15), 3);
	wp_rl_free(st2);
	wp_rl_free(st3);
	l7_config_free(c2);
	l7_config_free(c3);
	free(changed);
	free(sample);
}

/* filter_enforced 0%: over-limit requests are only counted; filter_enabled 0%: not checked. */
static void test_shadow_and_disabled(void **state)
{
	struct l7_config *c = compile(
	    EF_HEAD EF_FILTER("          token_bucket: {max_tokens: 2, fill_interval: 1s}\n"
			      "          filter_enabled: {default_value: {numerator: 100}}\n"));
	const struct l7_service *pp = svc(c, "productpage");
	struct wp_rl_state *st = wp_rl_new(c, 0, NULL, 0);
	struct req_spec x = {"GET", "/", "10.0.0.1", 9080, NULL, 5, 0};
	struct wp_rl_decision d;

	assert_int_equal(c->ratelimits[0].enforced_ppm, 0);
	assert_int_equal(fire(st, pp, &x, 10), 0);
	assert_non_null(ask(st, pp, &x, &d));
	assert_false(d.enforced);
	wp_rl_free(st);
	l7_config_free(c);
	/* Absent filter_enabled: Envoy checks nothing. */
	c = compile(
	    EF_HEAD EF_FILTER("          token_bucket: {max_tokens: 1, fill_interval: 1s}\n"));
	st = wp_rl_new(c, 0, NULL, 0);
	assert_int_equal(c->ratelimits[0].enabled_ppm, 0);
	assert_null(ask(st, svc(c, "productpage"), &x, &d));
	assert_null(ask(st, svc(c, "productpage"), &x, &d));
	wp_rl_free(st);
	l7_config_free(c);
}

/* Per-client buckets: each address its own; a table of 2 forgets the least recently seen. */
static void test_client_keys(void **state)
{
	struct l7_config *c = compile(own);
	const struct l7_service *api = svc(c, "api");
	struct wp_rl_state *st = wp_rl_new(c, 0, NULL, 0);
	struct req_spec a = {"POST", "/login", "10.0.0.1", 8080, NULL, 1, 0};
	struct req_spec b = a, e = a, u1 = {"GET", "/x", "10.0.0.9", 8080, "alice", 1, 0};
	struct req_spec u2 = u1, none = u1;
	struct wp_rl_decision d;

	b.ip = "10.0.0.2";
	e.ip = "10.0.0.3";
	assert_int_equal(fire(st, api, &a, 5), 2);
	assert_int_equal(fire(st, api, &b, 5), 2);
	assert_non_null(ask(st, api, &a, &d));
	assert_int_equal(d.limit_tokens, 3);
	/* A third address evicts the least recently used (b): b starts over, a does not. */
	assert_int_equal(fire(st, api, &e, 1), 0);
	assert_int_equal(fire(st, api, &a, 1), 1);
	assert_int_equal(fire(st, api, &b, 3), 0);
	/* A flood of distinct addresses stays within the table and refuses none of them. */
	for (int i = 0; i < 10000; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.9.%d.%d", i / 250, i % 250);
		e.ip = ip;
		assert_null(ask(st, api, &e, &d));
	}
	/* By header: alice and bob each get 2; without the header, that rule does not apply. */
	u2.user = "alice2";
	none.user = NULL;
	assert_int_equal(fire(st, api, &u1, 4), 2);
	assert_int_equal(fire(st, api, &u2, 4), 2);
	assert_int_equal(fire(st, api, &none, 4), 0);
	wp_rl_free(st);
	l7_config_free(c);
}

/* ---- shared between workers: exactly the bucket, whatever the interleaving ---- */

struct worker_arg {
	struct wp_rl_state *st;
	const struct l7_service *s;
	int passed;
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	struct req_spec x = {"GET", "/", "10.0.0.1", 8080, NULL, 1, 0};
	struct wp_rl_decision d;

	for (int i = 0; i < 5000; i++)
		w->passed += !ask(w->st, w->s, &x, &d);
	return NULL;
}

static void test_threads_share(void **state)
{
	struct l7_config *c =
	    compile("apiVersion: networking.ambit.io/v1alpha1\n"
		    "kind: LocalRateLimit\nmetadata: {name: l, namespace: shop}\n"
		    "spec:\n  targetRefs: [{kind: Service, group: '', name: api}]\n"
		    "  tokenBucket: {maxTokens: 7000, fillInterval: 1h}\n");
	struct wp_rl_state *st = wp_rl_new(c, 0, NULL, 0);
	struct worker_arg w[4];
	pthread_t t[4];
	int total = 0;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker_arg){st, svc(c, "api"), 0};
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += w[i].passed;
	}
	assert_int_equal(total, 7000);
	wp_rl_free(st);
	l7_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sample_translated), cmocka_unit_test(test_envoyfilter_refused),
	    cmocka_unit_test(test_own_kind),	      cmocka_unit_test(test_sample_counts),
	    cmocka_unit_test(test_generations_share), cmocka_unit_test(test_shadow_and_disabled),
	    cmocka_unit_test(test_client_keys),	      cmocka_unit_test(test_threads_share),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
