// SPDX-License-Identifier: Apache-2.0
/*
 * kinds.def against every place that lists kinds: for each row, one object of that kind is
 * loaded (the loader's table), merged into the caller's config (config/kinds.c's merge), seen
 * by config_each_object (the store's view arrays), deduplicated in the agent's view
 * (confstore.c) and found, or not, in analyze's union (analyze/analyze.c) as the row's columns
 * say. A kind missing from any of them fails here, naming the kind and the place.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "agent/confstore.h"

/*
 * What a kind needs beyond its metadata to load (by "Kind.group", cfg_kind_key): "spec: {}"
 * unless said here.
 */
static const struct {
	const char *key, *rest;
} extra[] = {
    {"ServiceAccount.", ""},
    {"ConfigMap.", ""},
    {"Secret.", ""},
    {"Service.", "spec:\n  ports:\n  - port: 80\n"},
    {"Pod.", "spec:\n  containers:\n  - name: c\n    image: i\n"},
    {"Deployment.apps",
     "spec:\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: "
     "{app: a}\n    spec:\n      containers:\n      - name: c\n        image: i\n"},
    {"EndpointSlice.discovery.k8s.io", "addressType: IPv4\nendpoints: []\n"},
    {"VirtualService.networking.istio.io",
     "spec:\n  hosts: [a]\n  tcp:\n  - route:\n    - destination: {host: a}\n"},
    {"DestinationRule.networking.istio.io", "spec:\n  host: a\n"},
    {"Gateway.networking.istio.io",
     "spec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n"},
    {"TLSRoute.gateway.networking.k8s.io", "spec:\n  rules: [{}]\n"},
    {"TCPRoute.gateway.networking.k8s.io", "spec:\n  rules: [{}]\n"},
    {"ReferenceGrant.gateway.networking.k8s.io",
     "spec:\n  from:\n  - {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: m}\n"
     "  to:\n  - {group: '', kind: Service}\n"},
    {"EnvoyFilter.networking.istio.io",
     "spec:\n  configPatches:\n  - applyTo: HTTP_FILTER\n    patch:\n      operation: "
     "INSERT_BEFORE\n      value:\n        name: envoy.filters.http.local_ratelimit\n"
     "        typed_config:\n          '@type': type.googleapis.com/udpa.type.v1.TypedStruct\n"
     "          type_url: type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3."
     "LocalRateLimit\n          value:\n            stat_prefix: x\n            token_bucket: "
     "{max_tokens: 10, fill_interval: 60s}\n"},
    {"LocalRateLimit.networking.ambit.io",
     "spec:\n  targetRefs: [{kind: Service, group: '', name: a}]\n  tokenBucket: {maxTokens: "
     "10, fillInterval: 1m}\n"},
    {"AuthorizationPolicy.security.istio.io", "spec:\n  rules: [{}]\n"},
    {"ServiceEntry.networking.istio.io", "spec:\n  hosts: [a.example.com]\n"},
    {"Gateway.gateway.networking.k8s.io",
     "spec:\n  gatewayClassName: istio\n  listeners:\n  - name: http\n    port: 80\n    "
     "protocol: HTTP\n"},
};

/* The object of row @kd, named "k" (in namespace "n" when namespaced). */
static char *manifest(const struct cfg_kind *kd)
{
	const char *rest = "spec: {}\n";
	char key[128], *out;

	cfg_kind_key(kd, key, sizeof(key));
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		if (!strcmp(extra[i].key, key))
			rest = extra[i].rest;
	assert_int_not_equal(asprintf(&out, "apiVersion: %s\nkind: %s\nmetadata:\n  name: k\n%s%s",
				      kd->api_versions[0], kd->kind,
				      kd->namespaced ? "  namespace: n\n" : "", rest),
			     -1);
	return out;
}

struct seen {
	const char *kind;
	size_t same, other;
};

static int count_kind(void *arg, const char *kind, const struct config_meta *m)
{
	struct seen *s = arg;

	if (!strcmp(kind, s->kind) && !strcmp(m->name, "k"))
		s->same++;
	else
		s->other++;
	return 0;
}

static void print_diags(const char *key, const struct config_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char line[1024];

		config_diag_format(&d->items[i], line, sizeof(line));
		print_message("%s: %s\n", key, line);
	}
}

/* One stored row through all five places. */
static void check_row(const struct cfg_kind *kd)
{
	struct config cfg, u;
	struct config_diags diags = {0};
	struct cfg_an a = {.sets = {&cfg, NULL}, .root = "istio-system"};
	struct confstore cs = {0};
	struct seen seen = {.kind = kd->kind};
	bool changed;
	char key[128], *text = manifest(kd);
	int err;

	cfg_kind_key(kd, key, sizeof(key));
	config_init(&cfg);
	/* The loader's table and the merge into the caller's config. */
	err = config_load_buffer(&cfg, "k.yaml", text, strlen(text), &diags);
	print_diags(key, &diags);
	assert_int_equal(err, 0);
	if (kd->count(&cfg) != 1)
		fail_msg("%s: loaded but not merged into the config", key);
	/* The store's view arrays. */
	config_each_object(&cfg, count_kind, &seen);
	if (seen.same != 1 || seen.other)
		fail_msg("%s: the store's view saw %zu of it and %zu others", key, seen.same,
			 seen.other);
	/* Analyze's union, as the row's column says. */
	assert_int_equal(cfg_an_union(&a, &u), 0);
	if (kd->count(&u) != (kd->in_union ? 1u : 0u))
		fail_msg("%s: %zu in analyze's union, its union column says %d", key, kd->count(&u),
			 kd->in_union);
	cfg_an_union_free(&u);
	/* The agent's view, from two entries of one object: one definition stays. */
	assert_int_equal(confstore_put(&cs, "k8s:a", text, strlen(text), &changed), 0);
	assert_int_equal(confstore_put(&cs, "k8s:b", text, strlen(text), &changed), 0);
	assert_int_equal(confstore_view(&cs, &u), 0);
	if (kd->count(&u) != (kd->agent ? 1u : 0u))
		fail_msg("%s: %zu in the agent's view, its agent column says %d", key,
			 kd->count(&u), kd->agent);
	confstore_view_free(&u);
	confstore_free(&cs);
	config_diags_free(&diags);
	config_free(&cfg);
	free(text);
}

static void test_every_row_in_every_place(void **state)
{
	size_t n, stored = 0;
	const struct cfg_kind *kinds = cfg_kinds(&n);

	for (size_t i = 0; i < n; i++) {
		if (!kinds[i].append)
			continue;
		check_row(&kinds[i]);
		stored++;
	}
	assert_true(stored > 0);
}

static const char *const ns_shop = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";

/*
 * A Sidecar (a KIND_REFUSED row) in any of Istio's versions: its file is refused with an error
 * naming the file, the object and that ambient mode does not use it, and contributes nothing.
 */
static void test_sidecar_refused(void **state)
{
	static const char *const versions[] = {"v1", "v1beta1", "v1alpha3"};

	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
		struct config_diags diags = {0};
		struct config cfg;
		char *text, line[1024];

		assert_int_not_equal(
		    asprintf(&text,
			     "%s---\napiVersion: networking.istio.io/%s\n"
			     "kind: Sidecar\nmetadata:\n  name: default\n  namespace: "
			     "shop\nspec:\n  egress:\n  - hosts: [./*]\n",
			     ns_shop, versions[v]),
		    -1);
		config_init(&cfg);
		assert_int_equal(config_load_buffer(&cfg, "sc.yaml", text, strlen(text), &diags),
				 -EINVAL);
		assert_int_equal(cfg.n_namespaces, 0); /* all or nothing: the file is refused */
		assert_int_equal(diags.n, 1);
		config_diag_format(&diags.items[0], line, sizeof(line));
		assert_non_null(strstr(line, "sc.yaml:7:7: error: Sidecar shop/default: kind: "
					     "Sidecar is not used in ambient mode"));
		assert_non_null(strstr(line, "AuthorizationPolicy"));
		assert_non_null(strstr(line, "ServiceEntry"));
		config_diags_free(&diags);
		config_free(&cfg);
		free(text);
	}
}

/* In the agent, the entry's last good version keeps serving; the refusal is its error. */
static void test_sidecar_keeps_last_good(void **state)
{
	const char *sc = "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: "
			 "default\n  namespace: shop\n";
	struct confstore cs = {0};
	const struct config_diags *d;
	struct config v;
	bool changed;
	char *text;

	assert_int_equal(confstore_put(&cs, "k8s:shop", ns_shop, strlen(ns_shop), &changed), 0);
	assert_int_not_equal(asprintf(&text, "%s---\n%s", ns_shop, sc), -1);
	assert_int_equal(confstore_put(&cs, "k8s:shop", text, strlen(text), &changed), 0);
	assert_false(changed);
	d = confstore_errors(&cs, "k8s:shop");
	assert_non_null(d);
	assert_int_equal(d->n, 1);
	assert_non_null(strstr(d->items[0].message, "not used in ambient mode"));
	assert_int_equal(confstore_view(&cs, &v), 0);
	assert_int_equal(v.n_namespaces, 1);
	confstore_view_free(&v);
	confstore_free(&cs);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_row_in_every_place),
	    cmocka_unit_test(test_sidecar_refused),
	    cmocka_unit_test(test_sidecar_keeps_last_good),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
