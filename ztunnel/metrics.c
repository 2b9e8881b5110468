// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ambit/log.h"
#include "metrics.h"
#include "net/prom.h"

struct series {
	char *labels; /* rendered `k="v",...`, the identity of the series */
	uint64_t opened, closed, sent, received; /* atomics */
	struct series *next;
};

/* The ztunnel's connection record: the runtime's head (connrec.h), then Istio's view of it. */
struct zt_rec {
	struct connrec base;
	struct series *series;
	struct zt_rec *next, *prev;
	union sockaddr_inet src, dst;
	char *src_id, *dst_id, *direction, *dst_workload, *policy;
	char *decision, *authz_policy; /* access log: authorization decision and deciding object */
	char traceparent[56];	       /* the CONNECT's, or "" */
	struct timespec start;
	uint64_t received, sent; /* atomics: client->server, server->client */
	void (*on_close)(uint32_t key);
	uint32_t on_close_key;
	void (*on_close_ptr)(void *arg);
	void *on_close_arg;
};

static struct zt_rec *rec_of(struct connrec *c)
{
	return (struct zt_rec *)((char *)c - offsetof(struct zt_rec, base));
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *all_series;
static struct zt_rec *open_recs;
static unsigned long n_open;

static void render_labels(const struct metrics_labels *l, char *buf, size_t len)
{
	const struct prom_label kv[] = {
	    {"reporter", l->reporter},
	    {"source_workload", l->source_workload},
	    {"source_canonical_service", l->source_canonical_service},
	    {"source_canonical_revision", l->source_canonical_revision},
	    {"source_workload_namespace", l->source_workload_namespace},
	    {"source_principal", l->source_principal},
	    {"source_app", l->source_app},
	    {"source_version", l->source_version},
	    {"source_cluster", l->source_cluster},
	    {"destination_service", l->destination_service},
	    {"destination_service_namespace", l->destination_service_namespace},
	    {"destination_service_name", l->destination_service_name},
	    {"destination_workload", l->destination_workload},
	    {"destination_canonical_service", l->destination_canonical_service},
	    {"destination_canonical_revision", l->destination_canonical_revision},
	    {"destination_workload_namespace", l->destination_workload_namespace},
	    {"destination_principal", l->destination_principal},
	    {"destination_app", l->destination_app},
	    {"destination_version", l->destination_version},
	    {"destination_cluster", l->destination_cluster},
	    {"request_protocol", l->request_protocol ? l->request_protocol : "tcp"},
	    {"response_flags", l->response_flags ? l->response_flags : "-"},
	    {"connection_security_policy", l->connection_security_policy},
	};

	prom_labels(kv, sizeof(kv) / sizeof(kv[0]), buf, len);
}

/* "a.b.c.d:port", or "[v6]:port" (a port follows, so the brackets). */
static const char *fmt_addr(const union sockaddr_inet *a, char *buf, size_t len)
{
	return sockaddr_inet_format(a, buf, len);
}

static char *dup_or(const char *s)
{
	return strdup(s && *s ? s : "unknown");
}

static const struct connrec_ops zt_rec_ops;

struct connrec *connrec_open(const struct metrics_labels *labels, const union sockaddr_inet *src,
			     const union sockaddr_inet *dst, const char *direction)
{
	struct zt_rec *r = calloc(1, sizeof(*r));
	char text[4096];
	struct series *s;

	if (!r)
		return NULL;
	r->base.ops = &zt_rec_ops;
	render_labels(labels, text, sizeof(text));
	r->src = *src;
	r->dst = *dst;
	r->src_id = dup_or(labels->source_principal);
	r->dst_id = dup_or(labels->destination_principal);
	r->direction = dup_or(direction);
	r->dst_workload = dup_or(labels->destination_workload);
	r->policy = dup_or(labels->connection_security_policy);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	if (!r->src_id || !r->dst_id || !r->direction || !r->dst_workload || !r->policy)
		goto fail;
	pthread_mutex_lock(&lock);
	for (s = all_series; s; s = s->next)
		if (strcmp(s->labels, text) == 0)
			break;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->labels = strdup(text);
		if (!s->labels) {
			free(s);
			s = NULL;
		} else {
			s->next = all_series;
			all_series = s;
		}
	}
	if (!s) {
		pthread_mutex_unlock(&lock);
		goto fail;
	}
	__atomic_add_fetch(&s->opened, 1, __ATOMIC_RELAXED);
	r->series = s;
	r->next = open_recs;
	if (open_recs)
		open_recs->prev = r;
	open_recs = r;
	n_open++;
	pthread_mutex_unlock(&lock);
	return &r->base;
fail:
	free(r->src_id);
	free(r->dst_id);
	free(r->direction);
	free(r->dst_workload);
	free(r->policy);
	free(r);
	return NULL;
}

void connrec_on_close(struct connrec *c, void (*fn)(uint32_t key), uint32_t key)
{
	struct zt_rec *r = c ? rec_of(c) : NULL;

	if (!r)
		return;
	r->on_close = fn;
	r->on_close_key = key;
}

void connrec_on_close_ptr(struct connrec *c, void (*fn)(void *arg), void *arg)
{
	struct zt_rec *r = c ? rec_of(c) : NULL;

	if (!r)
		return;
	r->on_close_ptr = fn;
	r->on_close_arg = arg;
}

void connrec_set_traceparent(struct connrec *c, const char *tp)
{
	struct zt_rec *r = c ? rec_of(c) : NULL;
	size_t n = tp ? strspn(tp, "0123456789abcdef-") : 0;

	if (r && n == 55 && !tp[n] && tp[2] == '-' && tp[35] == '-' && tp[52] == '-')
		memcpy(r->traceparent, tp, 56);
}

void connrec_set_decision(struct connrec *c, const char *decision, const char *policy)
{
	struct zt_rec *r = c ? rec_of(c) : NULL;
	char *d, *p;

	if (!r)
		return;
	d = strdup(decision ? decision : "-");
	p = strdup(policy && *policy ? policy : "-");
	/* Out of memory keeps the previous values: the log line loses detail, not the record. */
	if (!d || !p) {
		free(d);
		free(p);
		return;
	}
	free(r->decision);
	free(r->authz_policy);
	r->decision = d;
	r->authz_policy = p;
}

static void rec_bytes(struct connrec *c, bool request_dir, size_t n)
{
	struct zt_rec *r = rec_of(c);

	if (request_dir) {
		__atomic_add_fetch(&r->received, n, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->series->received, n, __ATOMIC_RELAXED);
	} else {
		__atomic_add_fetch(&r->sent, n, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->series->sent, n, __ATOMIC_RELAXED);
	}
}

static double age_of(const struct zt_rec *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - r->start.tv_sec) + (now.tv_nsec - r->start.tv_nsec) / 1e9;
}

static void rec_close(struct connrec *c, const char *reason)
{
	struct zt_rec *r = rec_of(c);
	char src[SOCKADDR_INET_STRLEN], dst[SOCKADDR_INET_STRLEN];

	pthread_mutex_lock(&lock);
	if (r->prev)
		r->prev->next = r->next;
	else
		open_recs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	n_open--;
	pthread_mutex_unlock(&lock);
	__atomic_add_fetch(&r->series->closed, 1, __ATOMIC_RELAXED);
	/* The access log: one structured line per connection, as Istio's ztunnel writes it. */
	pr_info("access direction=%s src.addr=%s dst.addr=%s src.identity=%s dst.identity=%s "
		"dst.workload=%s security=%s decision=%s policy=\"%s\" bytes_sent=%llu "
		"bytes_recv=%llu duration=%.0fms traceparent=%s reason=\"%s\"",
		r->direction, fmt_addr(&r->src, src, sizeof(src)),
		fmt_addr(&r->dst, dst, sizeof(dst)), r->src_id, r->dst_id, r->dst_workload,
		r->policy, r->decision ? r->decision : "-", r->authz_policy ? r->authz_policy : "-",
		(unsigned long long)r->sent, (unsigned long long)r->received, age_of(r) * 1000,
		r->traceparent[0] ? r->traceparent : "-", reason ? reason : "-");
	if (r->on_close)
		r->on_close(r->on_close_key);
	if (r->on_close_ptr)
		r->on_close_ptr(r->on_close_arg);
	free(r->decision);
	free(r->authz_policy);
	free(r->src_id);
	free(r->dst_id);
	free(r->direction);
	free(r->dst_workload);
	free(r->policy);
	free(r);
}

static const struct connrec_ops zt_rec_ops = {.bytes = rec_bytes, .close = rec_close};

char *metrics_render(void)
{
	static const char *const names[] = {
	    "istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total",
	    "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total"};
	/* Istio ztunnel's own help texts, so dashboards and `promtool check metrics` agree. */
	static const char *const helps[] = {
	    "The total number of TCP connections opened.",
	    "The total number of TCP connections closed.",
	    "The size of total bytes sent during response in case of a TCP connection.",
	    "The size of total bytes received during request in case of a TCP connection."};
	struct prom_buf b = {0};

	pthread_mutex_lock(&lock);
	for (int m = 0; m < 4; m++) {
		prom_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", names[m], helps[m], names[m]);
		for (struct series *s = all_series; s; s = s->next) {
			uint64_t *c = m == 0   ? &s->opened
				      : m == 1 ? &s->closed
				      : m == 2 ? &s->sent
					       : &s->received;

			prom_printf(&b, "%s{%s} %llu\n", names[m], s->labels,
				    (unsigned long long)__atomic_load_n(c, __ATOMIC_RELAXED));
		}
	}
	pthread_mutex_unlock(&lock);
	return prom_take(&b);
}

char *metrics_connections_json(void)
{
	cJSON *arr = cJSON_CreateArray();
	char *out = NULL, buf[SOCKADDR_INET_STRLEN];

	if (!arr)
		return NULL;
	pthread_mutex_lock(&lock);
	for (struct zt_rec *r = open_recs; r; r = r->next) {
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			goto out;
		}
		cJSON_AddStringToObject(o, "src", fmt_addr(&r->src, buf, sizeof(buf)));
		cJSON_AddStringToObject(o, "dst", fmt_addr(&r->dst, buf, sizeof(buf)));
		cJSON_AddStringToObject(o, "srcIdentity", r->src_id);
		cJSON_AddStringToObject(o, "dstIdentity", r->dst_id);
		cJSON_AddStringToObject(o, "direction", r->direction);
		cJSON_AddStringToObject(o, "security", r->policy);
		cJSON_AddNumberToObject(o, "bytesSent",
					(double)__atomic_load_n(&r->sent, __ATOMIC_RELAXED));
		cJSON_AddNumberToObject(o, "bytesReceived",
					(double)__atomic_load_n(&r->received, __ATOMIC_RELAXED));
		cJSON_AddNumberToObject(o, "ageSeconds", age_of(r));
	}
	out = cJSON_PrintUnformatted(arr);
out:
	pthread_mutex_unlock(&lock);
	cJSON_Delete(arr);
	return out;
}

unsigned long metrics_open_count(void)
{
	unsigned long n;

	pthread_mutex_lock(&lock);
	n = n_open;
	pthread_mutex_unlock(&lock);
	return n;
}
