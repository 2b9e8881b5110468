// SPDX-License-Identifier: Apache-2.0
/*
 * The CEL subset of Telemetry filters (userspace/lib/cel.c): the expressions of Istio's access
 * logging documentation, operators and methods, errors as no match, and the parser's refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ambit/cel.h"

struct req {
	int code;
	const char *method, *path, *user;
	bool mtls;
};

static bool attr(void *arg, const char *name, const char *key, struct cel_value *out)
{
	const struct req *r = arg;

	if (!strcmp(name, "response.code")) {
		*out = (struct cel_value){.type = CEL_INT, .i = r->code};
	} else if (!strcmp(name, "request.method")) {
		*out = (struct cel_value){.type = CEL_STRING, .s = r->method};
	} else if (!strcmp(name, "request.url_path")) {
		*out = (struct cel_value){.type = CEL_STRING, .s = r->path};
	} else if (!strcmp(name, "connection.mtls")) {
		*out = (struct cel_value){.type = CEL_BOOL, .b = r->mtls};
	} else if (!strcmp(name, "request.headers") && !strcmp(key, "x-user") && r->user) {
		*out = (struct cel_value){.type = CEL_STRING, .s = r->user};
	} else {
		return false;
	}
	return true;
}

static bool holds(const char *src, const struct req *r)
{
	char err[128];
	struct cel_expr *e = cel_parse(src, err, sizeof(err));
	bool v;

	if (!e)
		print_error("%s: %s\n", src, err);
	assert_non_null(e);
	v = cel_eval(e, attr, (void *)r);
	cel_free(e);
	return v;
}

static void test_istio_examples(void **state)
{
	struct req ok = {200, "GET", "/productpage", NULL, true};
	struct req bad = {503, "POST", "/health", "jason", false};

	assert_false(holds("response.code >= 400", &ok));
	assert_true(holds("response.code >= 400", &bad));
	assert_true(holds("response.code >= 400 || request.method == 'GET'", &ok));
	assert_true(holds("request.headers['X-User'] == \"jason\"", &bad));
	assert_true(holds("!request.url_path.startsWith('/health')", &ok));
	assert_false(holds("!request.url_path.startsWith('/health')", &bad));
	assert_true(holds("request.url_path.matches('^/prod.*page$')", &ok));
	assert_true(holds("request.url_path.contains('uct')", &ok));
	assert_true(holds("request.url_path.endsWith('page') && connection.mtls", &ok));
	assert_true(holds("request.method in ['PUT', 'POST']", &bad));
	assert_false(holds("request.method in ['PUT', 'POST']", &ok));
	assert_true(holds("(response.code == 503 ? 'a' : 'b') == 'a'", &bad));
	assert_true(holds("response.code != -1 && !(response.code < 100)", &ok));
}

static void test_errors_are_no_match(void **state)
{
	struct req r = {200, "GET", "/", NULL, true};

	/* No such header: the comparison errs, the expression is false... */
	assert_false(holds("request.headers['x-user'] == 'jason'", &r));
	assert_false(holds("request.headers['x-user'] != 'jason'", &r));
	/* ...unless the other side of || or && decides (CEL's commutative logic). */
	assert_true(holds("request.headers['x-user'] == 'jason' || response.code == 200", &r));
	assert_false(holds("request.headers['x-user'] == 'jason' && response.code == 200", &r));
	/* Type mismatches. */
	assert_false(holds("response.code == '200'", &r));
	assert_false(holds("request.method > 3", &r));
	/* An attribute the request does not give. */
	assert_false(holds("xds.cluster_name == 'x'", &r));
}

static void test_refusals(void **state)
{
	static const char *const bad[] = {
	    "",
	    "response.cod >= 400",
	    "response.code >=",
	    "request.headers == 'x'",
	    "request.url_path.size() > 3",
	    "'unterminated",
	    "response.code >= 400 extra",
	    "request.url_path.matches('(')",
	    "((((((((((((((((((((((((((((((((((((true))))))))))))))))))))))))))))))))))))",
	    "request.method in [request.path]",
	    "'\\q'",
	};
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cel_expr *e = cel_parse(bad[i], err, sizeof(err));

		if (e)
			print_error("accepted: %s\n", bad[i]);
		assert_null(e);
		assert_non_null(strstr(err, "offset"));
	}
}

static void test_uses(void **state)
{
	char err[64];
	struct cel_expr *e = cel_parse("response.code > 1 && request.method == 'x'", err, 64);

	assert_true(cel_uses(e, "response.code"));
	assert_false(cel_uses(e, "request.path"));
	cel_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_istio_examples),
	    cmocka_unit_test(test_errors_are_no_match),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_uses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
