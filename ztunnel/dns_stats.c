// SPDX-License-Identifier: Apache-2.0
/* The DNS proxy's metrics (dns_stats.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>

#include "ambit/snapshot.h"
#include "dns_stats.h"
#include "net/prom.h"

/* Istio ztunnel's buckets, in order (its list has 0.005 before 0.001). */
static const double bounds[] = {0.001, 0.005, 0.01, 0.1, 1.0, 5.0};
#define NB (sizeof(bounds) / sizeof(bounds[0]))

struct dns_series {
	char type[16];
	bool tcp;
	char svc[128], rev[64];
	char labels[512];			/* rendered once */
	uint64_t requests, forwarded, failures; /* atomic */
	uint64_t counts[NB + 1];		/* atomic; [NB]: above the last bound */
	double sum;				/* under the lock */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct dns_series *all[DNS_STATS_MAX];
static size_t n_all;
/* By the hash of their labels (open addressing, twice as many slots as series). */
#define SLOTS (2 * DNS_STATS_MAX)
static struct dns_series *slots[SLOTS];
/* Where counts go when not even one series could be made. */
static struct dns_series spare = {.type = "other", .labels = "request_query_type=\"other\""};

static uint64_t key_hash(const char *type, bool tcp, const char *svc, const char *rev)
{
	uint64_t h = tcp ? 1469598103934665603ull : 1099511628211ull;
	const char *parts[] = {type, svc, rev};

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		h = (h ^ '|') * 1099511628211ull;
	}
	return h;
}

/* The lowercase name of type @qtype (ldns's), made once per type below 256 (locked). */
static void type_name(int qtype, char *out, size_t len)
{
	static char names[256][16];
	char *s;

	if (qtype >= 0 && qtype < 256 && names[qtype][0]) {
		snprintf(out, len, "%s", names[qtype]);
		return;
	}
	s = qtype >= 0 ? ldns_rr_type2str((ldns_rr_type)qtype) : NULL;
	snprintf(out, len, "%s", s ? s : "other");
	free(s);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (qtype >= 0 && qtype < 256)
		snprintf(names[qtype], sizeof(names[qtype]), "%s", out);
}

struct dns_series *dns_stats_series(int qtype, bool tcp, const struct snap_workload *client)
{
	const char *svc =
	    client && client->canonical_service ? client->canonical_service : "unknown";
	const char *rev =
	    client && client->canonical_revision ? client->canonical_revision : "unknown";
	char type[16];
	struct dns_series *s = NULL;

	uint64_t h;
	size_t slot;

	pthread_mutex_lock(&lock);
	type_name(qtype, type, sizeof(type));
	h = key_hash(type, tcp, svc, rev);
	for (slot = h % SLOTS; slots[slot] && !s; slot = (slot + 1) % SLOTS)
		if (slots[slot]->tcp == tcp && !strcmp(slots[slot]->type, type) &&
		    !strcmp(slots[slot]->svc, svc) && !strcmp(slots[slot]->rev, rev))
			s = slots[slot];
	if (!s && n_all < DNS_STATS_MAX && (s = calloc(1, sizeof(*s)))) {
		struct prom_label l[] = {{"request_query_type", type},
					 {"request_protocol", tcp ? "tcp" : "udp"},
					 {"source_canonical_service", svc},
					 {"source_canonical_revision", rev}};

		snprintf(s->type, sizeof(s->type), "%s", type);
		s->tcp = tcp;
		snprintf(s->svc, sizeof(s->svc), "%s", svc);
		snprintf(s->rev, sizeof(s->rev), "%s", rev);
		prom_labels(l, 4, s->labels, sizeof(s->labels));
		all[n_all++] = s;
		slots[slot] = s; /* the empty slot the probe stopped at */
	}
	/* Full (or out of memory): the last series takes the rest. */
	if (!s)
		s = n_all ? all[n_all - 1] : &spare;
	pthread_mutex_unlock(&lock);
	return s;
}

void dns_stats_request(struct dns_series *s)
{
	__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
}

void dns_stats_requests(struct dns_series *s, uint64_t n)
{
	__atomic_add_fetch(&s->requests, n, __ATOMIC_RELAXED);
}

void dns_stats_forwarded(struct dns_series *s)
{
	__atomic_add_fetch(&s->forwarded, 1, __ATOMIC_RELAXED);
}

void dns_stats_forward_done(struct dns_series *s, bool failed, double seconds)
{
	size_t b = 0;

	if (failed)
		__atomic_add_fetch(&s->failures, 1, __ATOMIC_RELAXED);
	while (b < NB && seconds > bounds[b])
		b++;
	pthread_mutex_lock(&lock);
	s->counts[b]++;
	s->sum += seconds;
	pthread_mutex_unlock(&lock);
}

char *dns_stats_render(void)
{
	static const char *const names[] = {"istio_dns_requests_total",
					    "istio_dns_upstream_requests_total",
					    "istio_dns_upstream_failures_total"};
	static const char *const helps[] = {
	    "Total number of DNS requests (unstable).",
	    "Total number of DNS requests forwarded to upstream (unstable).",
	    "Total number of DNS requests that failed to forward upstream (unstable)."};
	struct prom_buf b = {0};

	pthread_mutex_lock(&lock);
	for (int m = 0; m < 3; m++) {
		prom_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", names[m], helps[m], names[m]);
		for (size_t i = 0; i < n_all; i++) {
			const uint64_t *c = m == 0   ? &all[i]->requests
					    : m == 1 ? &all[i]->forwarded
						     : &all[i]->failures;

			prom_printf(&b, "%s{%s} %llu\n", names[m], all[i]->labels,
				    (unsigned long long)__atomic_load_n(c, __ATOMIC_RELAXED));
		}
	}
	prom_printf(&b, "# HELP istio_dns_upstream_request_duration_seconds Total time in seconds "
			"Istio takes to get DNS response from upstream (unstable).\n"
			"# TYPE istio_dns_upstream_request_duration_seconds histogram\n");
	for (size_t i = 0; i < n_all; i++)
		prom_histogram(&b, "istio_dns_upstream_request_duration_seconds", all[i]->labels,
			       bounds, NB, all[i]->counts, all[i]->sum);
	pthread_mutex_unlock(&lock);
	return prom_take(&b);
}
