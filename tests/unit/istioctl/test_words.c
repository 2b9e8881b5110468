// SPDX-License-Identifier: Apache-2.0
/*
 * istioctl's grammar and words on ambit (userspace/istioctl/words.c): command lines read as
 * cobra reads them (flags anywhere, --f=v, -f v, -fv, -f=v, bundled booleans, =false, repeats,
 * "--", "-" as a word), cobra's errors with exit 64, and a finding written as `istioctl
 * analyze` writes one (code, origin, file:line, IST0106 for schema errors, AMB0000 for ambit's
 * own notes, capitalized messages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ambit/config.h"
#include "istioctl/istioctl.h"

/* Parses the words of @line (split at spaces) into @ic; the parser's result. */
static int parse_line(const char *line, struct ic *ic)
{
	static char buf[1024];
	char *argv[64], *save = NULL;
	int argc = 0;

	memset(ic, 0, sizeof(*ic));
	snprintf(buf, sizeof(buf), "%s", line);
	for (char *w = strtok_r(buf, " ", &save); w && argc < 63; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	return ic_parse(argc, argv, ic);
}

static void test_words_and_values(void **state)
{
	struct ic ic;

	(void)state;
	assert_int_equal(parse_line("istioctl analyze -n bookinfo", &ic), 0);
	assert_int_equal(ic.npos, 1);
	assert_string_equal(ic.pos[0], "analyze");
	assert_string_equal(ic.val[IC_F_NAMESPACE], "bookinfo");
	assert_string_equal(ic_namespace(&ic), "bookinfo");
	/* Flags before the verb (istioctl's root flags), and every spelling of a value. */
	assert_int_equal(
	    parse_line("istioctl -n=a proxy-config routes --namespace b deploy/x", &ic), 0);
	assert_int_equal(ic.npos, 3);
	assert_string_equal(ic.pos[2], "deploy/x");
	assert_string_equal(ic.val[IC_F_NAMESPACE], "b"); /* the last one */
	assert_int_equal(parse_line("istioctl zc workloads -ojson --node=node2", &ic), 0);
	assert_string_equal(ic.val[IC_F_OUTPUT], "json");
	assert_string_equal(ic.val[IC_F_NODE], "node2");
	assert_int_equal(parse_line("istioctl ps -i istio-system --context=c2", &ic), 0);
	assert_string_equal(ic.val[IC_F_ISTIO_NS], "istio-system");
	assert_string_equal(ic.val[IC_F_CONTEXT], "c2");
	/* No -n: istioctl's default namespace. */
	assert_int_equal(parse_line("istioctl analyze", &ic), 0);
	assert_string_equal(ic_namespace(&ic), "default");
}

static void test_booleans(void **state)
{
	struct ic ic;

	(void)state;
	assert_int_equal(parse_line("istioctl uninstall --purge -y", &ic), 0);
	assert_true(ic_flag_on(&ic, IC_F_PURGE));
	assert_true(ic_flag_on(&ic, IC_F_YES));
	assert_false(ic_flag_on(&ic, IC_F_DRY_RUN));
	assert_int_equal(parse_line("istioctl version --remote=false --short=true", &ic), 0);
	assert_true(ic.set[IC_F_REMOTE]);
	assert_false(ic_flag_on(&ic, IC_F_REMOTE));
	assert_true(ic_flag_on(&ic, IC_F_SHORT));
	/* Bundled: -yA is -y -A; the last of a bundle may take a value. */
	assert_int_equal(parse_line("istioctl waypoint list -An x", &ic), 0);
	assert_true(ic_flag_on(&ic, IC_F_ALL_NS));
	assert_string_equal(ic.val[IC_F_NAMESPACE], "x");
	assert_int_equal(parse_line("istioctl install -ys profile=demo", &ic), 0);
	assert_true(ic_flag_on(&ic, IC_F_YES));
	assert_int_equal(ic.n_sets, 1);
	assert_string_equal(ic.sets[0], "profile=demo");
}

static void test_repeats_and_words(void **state)
{
	struct ic ic;

	(void)state;
	assert_int_equal(
	    parse_line("istioctl install --set profile=demo -y --set=meshConfig.trustDomain=td "
		       "-s logLevel=debug",
		       &ic),
	    0);
	assert_int_equal(ic.n_sets, 3);
	assert_string_equal(ic.sets[0], "profile=demo");
	assert_string_equal(ic.sets[1], "meshConfig.trustDomain=td");
	assert_string_equal(ic.sets[2], "logLevel=debug");
	assert_int_equal(parse_line("istioctl analyze -f a.yaml b.yaml -f c.yaml -", &ic), 0);
	assert_int_equal(ic.n_files, 2);
	assert_string_equal(ic.files[1], "c.yaml");
	assert_int_equal(ic.npos, 3); /* analyze b.yaml - */
	assert_string_equal(ic.pos[2], "-");
	/* After "--", flags are words. */
	assert_int_equal(parse_line("istioctl x -- -n --purge", &ic), 0);
	assert_int_equal(ic.npos, 3);
	assert_string_equal(ic.pos[1], "-n");
	assert_false(ic.set[IC_F_NAMESPACE]);
}

static void test_errors_are_usage(void **state)
{
	struct ic ic;

	(void)state;
	assert_int_equal(parse_line("istioctl version --bogus", &ic), IC_EXIT_USAGE);
	assert_int_equal(parse_line("istioctl version --bogus=1", &ic), IC_EXIT_USAGE);
	assert_int_equal(parse_line("istioctl version -z", &ic), IC_EXIT_USAGE);
	assert_int_equal(parse_line("istioctl version -yz", &ic), IC_EXIT_USAGE);
	assert_int_equal(parse_line("istioctl analyze -n", &ic), IC_EXIT_USAGE);
	assert_int_equal(parse_line("istioctl uninstall --purge=maybe", &ic), IC_EXIT_USAGE);
	assert_int_equal(ic_error(IC_EXIT_ANALYZE, "x"), IC_EXIT_ANALYZE);
}

/* Every flag has a long name of its own, and a short one at most once. */
static void test_flag_table(void **state)
{
	bool seen[IC_N_FLAGS] = {false};

	(void)state;
	assert_int_equal(ic_n_flags, IC_N_FLAGS);
	for (size_t i = 0; i < ic_n_flags; i++) {
		assert_false(seen[ic_flags[i].f]);
		seen[ic_flags[i].f] = true;
		for (size_t k = i + 1; k < ic_n_flags; k++) {
			assert_string_not_equal(ic_flags[i].lng, ic_flags[k].lng);
			if (ic_flags[i].shrt)
				assert_int_not_equal(ic_flags[i].shrt, ic_flags[k].shrt);
		}
	}
}

static void test_finding_lines(void **state)
{
	struct config_diag d = {.file = "vs.yaml",
				.line = 12,
				.error = true,
				.object = "VirtualService bookinfo/reviews",
				.field = "spec.http[0].route[0].destination.host",
				.message = "IST0101 referenced host not found: \"nosuch\""};
	char line[512], code[8];

	(void)state;
	ic_finding_format(&d, false, line, sizeof(line));
	assert_string_equal(line, "Error [IST0101] (VirtualService bookinfo/reviews) Referenced "
				  "host not found: \"nosuch\"");
	ic_finding_format(&d, true, line, sizeof(line));
	assert_string_equal(line, "Error [IST0101] (VirtualService bookinfo/reviews vs.yaml:12) "
				  "Referenced host not found: \"nosuch\"");
	/* The analyzer's name after the code is the code's, not the message's. */
	d.error = false;
	d.message = "IST0132 VirtualServiceHostNotFoundInGateway: host \"a\" is not in gateway g";
	ic_finding_format(&d, false, line, sizeof(line));
	assert_string_equal(line, "Warning [IST0132] (VirtualService bookinfo/reviews) Host \"a\" "
				  "is not in gateway g");
	/* A schema error has no code of its own: istioctl's IST0106, with the field. */
	d.error = true;
	d.field = "spec.trafficPolicy.bogus";
	d.message = "unknown field \"bogus\"";
	ic_finding_format(&d, false, line, sizeof(line));
	assert_string_equal(line, "Error [IST0106] (VirtualService bookinfo/reviews) Schema "
				  "validation error: spec.trafficPolicy.bogus: unknown field "
				  "\"bogus\"");
	/* A note of ambit's own that no analyzer of Istio's has. */
	d.error = false;
	d.message = "not enforced yet: no waypoint serves its hosts";
	ic_finding_format(&d, false, line, sizeof(line));
	assert_string_equal(line, "Warning [AMB0000] (VirtualService bookinfo/reviews) Not "
				  "enforced yet: no waypoint serves its hosts");
	/* No object: the file and line. */
	d.object = NULL;
	d.error = true;
	d.field = NULL;
	d.message = "IST0101 referenced namespace not found: \"x\"";
	ic_finding_format(&d, false, line, sizeof(line));
	assert_string_equal(line,
			    "Error [IST0101] (vs.yaml:12) Referenced namespace not found: \"x\"");
	assert_string_equal(ic_split_code("IST01 short", "IST0106", code), "IST01 short");
	assert_string_equal(code, "IST0106");
	assert_string_equal(ic_split_code("IST0002", "X", code), "");
	assert_string_equal(code, "IST0002");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_words_and_values),  cmocka_unit_test(test_booleans),
	    cmocka_unit_test(test_repeats_and_words), cmocka_unit_test(test_errors_are_usage),
	    cmocka_unit_test(test_flag_table),	      cmocka_unit_test(test_finding_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
