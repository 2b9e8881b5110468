// SPDX-License-Identifier: Apache-2.0
/* Certificate renewal scheduling of the agent (certs.c is compiled in: see l4/test_desired.c).
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

#include "agent/certs.h"

/* A CA stand-in: counts issuances, can be told to fail, stamps validity from a fake clock. */
struct fake_ca {
	time_t now;
	int issued;
	int fail;
	char last[256];
};

static int fake_issue(void *ctx, const char *id, long lifetime_s, struct ca_issued *out)
{
	struct fake_ca *ca = ctx;

	if (ca->fail)
		return -EIO;
	ca->issued++;
	snprintf(ca->last, sizeof(ca->last), "%s", id);
	if (asprintf(&out->cert_pem, "CERT %s #%d", id, ca->issued) < 0 ||
	    asprintf(&out->key_pem, "KEY %s #%d", id, ca->issued) < 0)
		return -ENOMEM;
	out->not_before = ca->now;
	out->not_after = ca->now + lifetime_s;
	return 0;
}

static void test_renew_time(void **state)
{
	assert_int_equal(cert_renew_time(1000, 1000 + CERT_LIFETIME_S), 1000 + CERT_LIFETIME_S / 2);
	assert_int_equal(cert_renew_time(100, 300), 200);
	/* Nonsense validity: renew at once rather than never. */
	assert_int_equal(cert_renew_time(500, 400), 500);
}

static void test_issue_renew_drop(void **state)
{
	char *ids[] = {"spiffe://cluster.local/ns/b/sa/x", "spiffe://cluster.local/ns/a/sa/y"};
	struct fake_ca ca = {.now = 1000000};
	struct cert_store cs = {0};
	const struct cert_entry *e;
	bool changed;

	assert_int_equal(cert_store_sync(&cs, ids, 2, ca.now, fake_issue, &ca, &changed), 0);
	assert_true(changed);
	assert_int_equal(ca.issued, 2);
	assert_int_equal(cs.n, 2);
	assert_string_equal(cs.items[0].identity, ids[1]); /* sorted */
	assert_int_equal(cert_store_next_deadline(&cs), ca.now + CERT_LIFETIME_S / 2);

	/* Nothing due: nothing issued, nothing changed. */
	ca.now += CERT_LIFETIME_S / 2 - 1;
	assert_int_equal(cert_store_sync(&cs, ids, 2, ca.now, fake_issue, &ca, &changed), 0);
	assert_false(changed);
	assert_int_equal(ca.issued, 2);

	/* Half life reached: both renewed, the new certificates replace the old ones. */
	ca.now += 1;
	assert_int_equal(cert_store_sync(&cs, ids, 2, ca.now, fake_issue, &ca, &changed), 0);
	assert_true(changed);
	assert_int_equal(ca.issued, 4);
	e = cert_store_find(&cs, ids[0]);
	assert_non_null(e);
	assert_non_null(strstr(e->issued.cert_pem, "#"));
	assert_int_equal(e->issued.not_before, ca.now);
	assert_int_equal(e->renew_at, ca.now + CERT_LIFETIME_S / 2);

	/* Identity gone from the node: its certificate is dropped without issuing anything. */
	assert_int_equal(cert_store_sync(&cs, ids, 1, ca.now, fake_issue, &ca, &changed), 0);
	assert_true(changed);
	assert_int_equal(cs.n, 1);
	assert_null(cert_store_find(&cs, ids[1]));
	assert_int_equal(ca.issued, 4);

	assert_int_equal(cert_store_sync(&cs, NULL, 0, ca.now, fake_issue, &ca, &changed), 0);
	assert_int_equal(cs.n, 0);
	assert_int_equal(cert_store_next_deadline(&cs), 0);
	cert_store_free(&cs);
}

static void test_failure_keeps_old_and_retries(void **state)
{
	char *ids[] = {"spiffe://cluster.local/ns/a/sa/y"};
	struct fake_ca ca = {.now = 5000};
	struct cert_store cs = {0};
	const struct cert_entry *e;
	bool changed;
	char *old;

	/* First issuance fails: no certificate is served, a retry is scheduled soon. */
	ca.fail = 1;
	assert_int_equal(cert_store_sync(&cs, ids, 1, ca.now, fake_issue, &ca, &changed), 0);
	assert_false(changed);
	assert_int_equal(cs.n, 0);
	assert_int_equal(cert_store_next_deadline(&cs), ca.now + CERT_RETRY_S);

	ca.fail = 0;
	ca.now += CERT_RETRY_S;
	assert_int_equal(cert_store_sync(&cs, ids, 1, ca.now, fake_issue, &ca, &changed), 0);
	assert_true(changed);
	assert_int_equal(cs.n, 1);
	old = strdup(cs.items[0].issued.cert_pem);

	/* Renewal fails: the still-valid certificate stays, retried later, not in a busy loop. */
	ca.now += CERT_LIFETIME_S / 2;
	ca.fail = 1;
	assert_int_equal(cert_store_sync(&cs, ids, 1, ca.now, fake_issue, &ca, &changed), 0);
	assert_false(changed);
	e = cert_store_find(&cs, ids[0]);
	assert_non_null(e);
	assert_string_equal(e->issued.cert_pem, old);
	assert_int_equal(cert_store_next_deadline(&cs), ca.now + CERT_RETRY_S);
	assert_int_equal(e->renew_at, ca.now + CERT_RETRY_S);

	ca.fail = 0;
	ca.now += CERT_RETRY_S;
	assert_int_equal(cert_store_sync(&cs, ids, 1, ca.now, fake_issue, &ca, &changed), 0);
	assert_true(changed);
	assert_string_not_equal(cert_store_find(&cs, ids[0])->issued.cert_pem, old);
	assert_int_equal(cert_store_next_deadline(&cs), ca.now + CERT_LIFETIME_S / 2);
	free(old);
	cert_store_free(&cs);
	cert_store_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_renew_time),
	    cmocka_unit_test(test_issue_renew_drop),
	    cmocka_unit_test(test_failure_keeps_old_and_retries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
