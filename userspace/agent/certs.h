/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Workload certificates of the identities running on this node: issue on first need, renew at
 * half life (DESIGN.md §3), drop when the identity leaves the node. Issuing goes through a
 * callback so the scheduling is unit tested without a CA.
 */
#ifndef AMBIT_AGENT_CERTS_H
#define AMBIT_AGENT_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ambit/ca.h"

#define CERT_LIFETIME_S (24L * 3600)
/* After a failed issuance, try again this much later rather than spinning or giving up. */
#define CERT_RETRY_S 10

struct cert_entry {
	char *identity;
	struct ca_issued issued;
	time_t renew_at;
};

struct cert_store {
	size_t n;
	struct cert_entry *items; /* sorted by identity */
	time_t retry_at;	  /* 0, or when to retry identities that failed to issue */
};

/* Issues a certificate for @id valid @lifetime_s seconds into @out. 0 or -errno. */
typedef int (*cert_issue_fn)(void *ctx, const char *id, long lifetime_s, struct ca_issued *out);

/* When to renew a certificate valid [not_before, not_after): at half of its lifetime. */
time_t cert_renew_time(time_t not_before, time_t not_after);

/*
 * Makes @cs hold a valid certificate for exactly the identities @ids (sorted or not): drops the
 * others, issues missing ones, renews the ones whose renew time is <= @now. A failed issuance is
 * logged, keeps any older certificate and schedules a retry. Sets *changed when the set of
 * certificates changed. Returns 0, or -ENOMEM (the store stays consistent).
 */
int cert_store_sync(struct cert_store *cs, char *const *ids, size_t n, time_t now,
		    cert_issue_fn issue, void *ctx, bool *changed);
/* Earliest time something must happen (renewal or retry), or 0 when nothing is scheduled. */
time_t cert_store_next_deadline(const struct cert_store *cs);
const struct cert_entry *cert_store_find(const struct cert_store *cs, const char *identity);
void cert_store_free(struct cert_store *cs);

#endif
