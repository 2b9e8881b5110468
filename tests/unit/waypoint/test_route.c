// SPDX-License-Identifier: Apache-2.0
/*
 * Route selection (waypoint/route.c) on routes compiled from real VirtualServices and HTTPRoutes:
 * first match wins, exact/prefix/regex paths with their query-string rules, ignoreUriCase,
 * segment-aware Gateway API prefixes and precedence, headers (case, presence, inversion,
 * repeats), query parameters, ports, no match (NR), and the weighted destination split measured
 * over a deterministic sweep of random values.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ambit/l7.h"
#include "ambit/re2.h"
#include "../../../waypoint/route.h"

#define HEAD                                                                                       \
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"                               \
	"  labels: {istio.io/use-waypoint: wp}\n---\n"                                             \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"                                \
	"metadata: {name: wp, namespace: shop}\n"                                                  \
	"spec:\n  gatewayClassName: istio-waypoint\n"                                              \
	"  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"                         \
	"apiVersion: v1\nkind: Service\nmetadata: {name: r, namespace: shop}\n"                    \
	"spec: {selector: {app: r}, ports: [{name: http, port: 80}, {name: http-alt, port: "       \
	"8080}]}\n---\n"

struct world {
	struct config cfg;
	struct l7_inputs in;
	struct l7_bindings b;
	struct l7_config *l7;
	struct wp_route_table *t;
};

/* A field with its lengths, as the parsers make them. */
#define HF(n, v)                                                                                   \
	{                                                                                          \
		(char *)(n), (char *)(v), sizeof(n) - 1, sizeof(v) - 1, true                       \
	}

static void build(struct world *w, const char *yaml)
{
	struct config_diags d = {0};
	char buf[512];

	memset(w, 0, sizeof(*w));
	config_init(&w->cfg);
	if (config_load_buffer(&w->cfg, "r.yaml", yaml, strlen(yaml), &d)) {
		for (size_t i = 0; i < d.n; i++) {
			config_diag_format(&d.items[i], buf, sizeof(buf));
			print_error("%s\n", buf);
		}
		fail();
	}
	config_diags_free(&d);
	w->in.cfg = &w->cfg;
	assert_int_equal(l7_bindings_compute(&w->in, &w->b), 0);
	w->l7 = l7_compile(&w->in, &w->b, &w->b.waypoints[0]);
	assert_non_null(w->l7);
	w->t = wp_route_table_new(&w->l7->services[0], buf, sizeof(buf));
	assert_non_null(w->t);
}

static void done(struct world *w)
{
	wp_route_table_free(w->t);
	l7_config_free(w->l7);
	l7_bindings_free(&w->b);
	config_free(&w->cfg);
}

/* The name of the route @path (and headers) selects, or "NR". */
static const char *pick(struct world *w, const char *method, const char *path, uint16_t port,
			const struct http_field *h, size_t nh)
{
	struct wp_request rq = {.method = method,
				.scheme = "http",
				.authority = "r",
				.path = path,
				.port = port,
				.n_headers = nh,
				.headers = h};
	const struct l7_route *r = wp_route_select(w->t, &rq);

	return r ? (r->name ? r->name : "?") : "NR";
}

static void test_virtual_service_matching(void **state)
{
	struct world w;
	const struct http_field jason[] = {HF("End-User", "jason")};
	const struct http_field two[] = {HF("x-v", "a"), HF("X-V", "b")};
	const struct http_field skip[] = {HF("x-skip", "")};

	build(&w,
	      HEAD "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		   "metadata: {name: r, namespace: shop}\n"
		   "spec:\n  hosts: [r]\n  http:\n"
		   "  - name: exact\n    match: [{uri: {exact: /e}}]\n"
		   "    route: [{destination: {host: r}}]\n"
		   "  - name: nocase\n    match: [{uri: {prefix: /CASE}, ignoreUriCase: true}]\n"
		   "    route: [{destination: {host: r}}]\n"
		   "  - name: regex\n    match: [{uri: {regex: '/re/[0-9]+'}}]\n"
		   "    route: [{destination: {host: r}}]\n"
		   "  - name: header\n    match: [{headers: {end-user: {exact: jason}}}]\n"
		   "    route: [{destination: {host: r}}]\n"
		   "  - name: joined\n    match: [{headers: {x-v: {exact: 'a,b'}}}]\n"
		   "    route: [{destination: {host: r}}]\n"
		   "  - name: query\n    match: [{queryParams: {v: {regex: '[0-9]'}}}]\n"
		   "    route: [{destination: {host: r}}]\n"
		   "  - name: port\n    match: [{port: 8080}]\n"
		   "    route: [{destination: {host: r}}]\n"
		   "  - name: without\n    match: [{uri: {prefix: /w}, withoutHeaders: {x-skip: "
		   "{}}}]\n"
		   "    route: [{destination: {host: r}}]\n"
		   "  - name: method\n    match: [{method: {exact: DELETE}}]\n"
		   "    route: [{destination: {host: r}}]\n");
	/* exact compares the path without its query string. */
	assert_string_equal(pick(&w, "GET", "/e?x=1", 80, NULL, 0), "exact");
	assert_string_equal(pick(&w, "GET", "/e/", 80, NULL, 0), "NR");
	assert_string_equal(pick(&w, "GET", "/case/x", 80, NULL, 0), "nocase");
	/* RE2 semantics: the whole path must match; the query string is not part of it. */
	assert_string_equal(pick(&w, "GET", "/re/12?q", 80, NULL, 0), "regex");
	assert_string_equal(pick(&w, "GET", "/re/12x", 80, NULL, 0), "NR");
	assert_string_equal(pick(&w, "GET", "/x/re/1", 80, NULL, 0), "NR");
	assert_string_equal(pick(&w, "GET", "/", 80, jason, 1), "header");
	assert_string_equal(pick(&w, "GET", "/", 80, two, 2), "joined");
	assert_string_equal(pick(&w, "GET", "/p?a=1&v=7", 80, NULL, 0), "query");
	assert_string_equal(pick(&w, "GET", "/p?v=x&v=7", 80, NULL, 0), "NR"); /* first only */
	assert_string_equal(pick(&w, "GET", "/", 8080, NULL, 0), "port");
	assert_string_equal(pick(&w, "GET", "/w", 80, NULL, 0), "without");
	assert_string_equal(pick(&w, "GET", "/w", 80, skip, 1), "NR");
	assert_string_equal(pick(&w, "DELETE", "/", 80, NULL, 0), "method");
	/* No rule matches: Envoy's NR (404), no fallback route. */
	assert_string_equal(pick(&w, "GET", "/nothing", 80, NULL, 0), "NR");
	done(&w);
}

static void test_vs_prefix_is_plain(void **state)
{
	struct world w;

	build(&w, HEAD "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		       "metadata: {name: r, namespace: shop}\n"
		       "spec:\n  hosts: [r]\n  http:\n"
		       "  - name: static\n    match: [{uri: {prefix: /static}}]\n"
		       "    route: [{destination: {host: r}}]\n"
		       "  - name: rest\n    route: [{destination: {host: r}}]\n");
	/* A VirtualService prefix is a string prefix: /staticfoo matches (§1.2). */
	assert_string_equal(pick(&w, "GET", "/staticfoo", 80, NULL, 0), "static");
	assert_string_equal(pick(&w, "GET", "/stat", 80, NULL, 0), "rest");
	done(&w);
}

static void test_gateway_api_matching(void **state)
{
	struct world w;
	const struct http_field h[] = {HF("X-Tier", "gold")};

	build(&w,
	      HEAD "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
		   "metadata: {name: h, namespace: shop}\n"
		   "spec:\n  parentRefs: [{group: '', kind: Service, name: r}]\n"
		   "  rules:\n"
		   "  - name: foo\n    matches: [{path: {value: /foo}}]\n"
		   "    backendRefs: [{name: r, port: 80}]\n"
		   "  - name: foobar\n    matches: [{path: {value: /foo/bar/}}]\n"
		   "    backendRefs: [{name: r, port: 80}]\n"
		   "  - name: gold\n    matches: [{path: {value: /foo}, headers: [{name: x-tier, "
		   "value: gold}]}]\n"
		   "    backendRefs: [{name: r, port: 80}]\n");
	/* Segment-aware: /foo takes /foo and /foo/x, not /foobar. */
	assert_string_equal(pick(&w, "GET", "/foo", 80, NULL, 0), "foo");
	assert_string_equal(pick(&w, "GET", "/foo/x", 80, NULL, 0), "foo");
	assert_string_equal(pick(&w, "GET", "/foobar", 80, NULL, 0), "NR");
	/* The longer prefix first; a trailing slash does not change the segments. */
	assert_string_equal(pick(&w, "GET", "/foo/bar", 80, NULL, 0), "foobar");
	assert_string_equal(pick(&w, "GET", "/foo/bar/baz", 80, NULL, 0), "foobar");
	/* Same prefix: more header matches first, whatever the rule order. */
	assert_string_equal(pick(&w, "GET", "/foo", 80, h, 1), "gold");
	done(&w);
}

static void test_weighted_split(void **state)
{
	const uint32_t w[] = {80, 0, 20};
	size_t count[3] = {0};
	struct l7_destination d[2] = {{.host = "a", .weight = 3}, {.host = "b", .weight = 1}};
	struct l7_route r = {.n_dests = 2, .dests = d};
	size_t a = 0;

	for (uint64_t rnd = 0; rnd < 100000; rnd++)
		count[wp_weighted_pick(w, 3, rnd * 2654435761u)]++;
	/* Uniform draws give each its weight's share; weight 0 gets none. */
	assert_int_equal(count[1], 0);
	assert_true(count[0] > 79000 && count[0] < 81000);
	assert_true(count[2] > 19000 && count[2] < 21000);
	assert_int_equal(wp_weighted_pick((const uint32_t[]){0, 0}, 2, 5), -1);
	for (uint64_t rnd = 0; rnd < 4000; rnd++)
		a += !strcmp(wp_route_destination(&r, rnd)->host, "a");
	assert_int_equal(a, 3000); /* exactly 3/4 of a full cycle of draws */
}

static void test_re2_dialect(void **state)
{
	char why[160];
	struct re2 *re;
	char *s;

	/* Full match, anchored both ends, even with alternation. */
	re = re2_compile("a|ab", 0, why, sizeof(why));
	assert_non_null(re);
	assert_int_equal(re2_match(re, "ab", 2), 1);
	assert_int_equal(re2_match(re, "abc", 3), 0);
	re2_free(re);
	/* $ is the end of text only (RE2), not before a final newline (PCRE's default). */
	re = re2_compile("a$", 0, why, sizeof(why));
	assert_int_equal(re2_match(re, "a\n", 2), 0);
	re2_free(re);
	/* RE2's \v is a vertical tab. */
	re = re2_compile("\\v", 0, why, sizeof(why));
	assert_int_equal(re2_match(re, "\x0b", 1), 1);
	assert_int_equal(re2_match(re, "\n", 1), 0);
	re2_free(re);
	/* What RE2 refuses. */
	assert_int_equal(re2_check("(a)\\1", why, sizeof(why)), -EINVAL);
	assert_int_equal(re2_check("a(?!b)", why, sizeof(why)), -EINVAL);
	assert_int_equal(re2_check("a*+", why, sizeof(why)), -EINVAL);
	assert_int_equal(re2_check("a{1001}", why, sizeof(why)), -EINVAL);
	assert_int_equal(re2_check("\\h", why, sizeof(why)), -EINVAL);
	assert_int_equal(re2_check("(?x)a", why, sizeof(why)), -EINVAL);
	assert_int_equal(re2_check("(?P<n>a)(?i:b)[[:alpha:]]\\pL", why, sizeof(why)), 0);
	/* Global replacement with groups, as uriRegexRewrite. */
	re = re2_compile("/v1/([a-z]+)", RE2_SEARCH, why, sizeof(why));
	s = re2_replace_all(re, "/v1/abc/v1/de", "/v2/\\1");
	assert_string_equal(s, "/v2/abc/v2/de");
	free(s);
	assert_int_equal(re2_check_rewrite(re, "\\2", why, sizeof(why)), -EINVAL);
	re2_free(re);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_virtual_service_matching),
	    cmocka_unit_test(test_vs_prefix_is_plain),
	    cmocka_unit_test(test_gateway_api_matching),
	    cmocka_unit_test(test_weighted_split),
	    cmocka_unit_test(test_re2_dialect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
