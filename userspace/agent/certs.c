// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "certs.h"

time_t cert_renew_time(time_t not_before, time_t not_after)
{
	if (not_after <= not_before)
		return not_before;
	return not_before + (not_after - not_before) / 2;
}

static void issued_clear(struct ca_issued *is)
{
	/* ca_issued documents both PEMs as malloc'd; the key must not linger in freed memory. */
	if (is->key_pem) {
		explicit_bzero(is->key_pem, strlen(is->key_pem));
		free(is->key_pem);
	}
	free(is->cert_pem);
	memset(is, 0, sizeof(*is));
}

static void entry_free(struct cert_entry *e)
{
	issued_clear(&e->issued);
	free(e->identity);
	e->identity = NULL;
}

static bool wanted(const char *id, char *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

const struct cert_entry *cert_store_find(const struct cert_store *cs, const char *identity)
{
	for (size_t i = 0; i < cs->n; i++)
		if (strcmp(cs->items[i].identity, identity) == 0)
			return &cs->items[i];
	return NULL;
}

static int issue_into(struct cert_entry *e, time_t now, cert_issue_fn issue, void *ctx)
{
	struct ca_issued fresh = {0};
	int err;

	err = issue(ctx, e->identity, CERT_LIFETIME_S, &fresh);
	if (err) {
		pr_err("certificate for %s: issuance failed: %s; retrying in %d s", e->identity,
		       strerror(-err), CERT_RETRY_S);
		/* Keep serving the old certificate (still valid) and retry later, not in a loop. */
		if (e->issued.cert_pem)
			e->renew_at = now + CERT_RETRY_S;
		return err;
	}
	issued_clear(&e->issued);
	e->issued = fresh;
	e->renew_at = cert_renew_time(fresh.not_before, fresh.not_after);
	pr_info("certificate issued for %s (valid until %ld, renewal at %ld)", e->identity,
		(long)fresh.not_after, (long)e->renew_at);
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct cert_entry *)a)->identity,
		      ((const struct cert_entry *)b)->identity);
}

int cert_store_sync(struct cert_store *cs, char *const *ids, size_t n, time_t now,
		    cert_issue_fn issue, void *ctx, bool *changed)
{
	bool failed = false;
	size_t k = 0;

	*changed = false;
	for (size_t i = 0; i < cs->n; i++) {
		if (wanted(cs->items[i].identity, ids, n)) {
			cs->items[k++] = cs->items[i];
			continue;
		}
		pr_info("certificate for %s dropped: identity no longer on this node",
			cs->items[i].identity);
		entry_free(&cs->items[i]);
		*changed = true;
	}
	cs->n = k;

	for (size_t i = 0; i < n; i++) {
		struct cert_entry *e, *items;

		if (cert_store_find(cs, ids[i]))
			continue;
		items = realloc(cs->items, (cs->n + 1) * sizeof(*items));
		if (!items)
			return -ENOMEM;
		cs->items = items;
		e = &cs->items[cs->n];
		memset(e, 0, sizeof(*e));
		e->identity = strdup(ids[i]);
		if (!e->identity)
			return -ENOMEM;
		/* Empty until issued: renew_at 0 makes the loop below issue it now. */
		cs->n++;
	}

	for (size_t i = 0; i < cs->n; i++) {
		struct cert_entry *e = &cs->items[i];

		if (e->issued.cert_pem && e->renew_at > now)
			continue;
		if (issue_into(e, now, issue, ctx))
			failed = true;
		else
			*changed = true;
	}
	/* Identities still without a certificate are not served until issuance succeeds. */
	k = 0;
	for (size_t i = 0; i < cs->n; i++) {
		if (cs->items[i].issued.cert_pem)
			cs->items[k++] = cs->items[i];
		else
			entry_free(&cs->items[i]);
	}
	cs->n = k;
	if (cs->n)
		qsort(cs->items, cs->n, sizeof(*cs->items), cmp_entry);
	cs->retry_at = failed ? now + CERT_RETRY_S : 0;
	return 0;
}

time_t cert_store_next_deadline(const struct cert_store *cs)
{
	time_t t = cs->retry_at;

	for (size_t i = 0; i < cs->n; i++)
		if (!t || cs->items[i].renew_at < t)
			t = cs->items[i].renew_at;
	return t;
}

void cert_store_free(struct cert_store *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++)
		entry_free(&cs->items[i]);
	free(cs->items);
	memset(cs, 0, sizeof(*cs));
}
