// SPDX-License-Identifier: Apache-2.0
/* Access log lines and Istio request metrics (stats.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>
#include <limits.h>
#include <cjson/cJSON.h>

#include "trace.h"

#include "ambit/fmt.h"
#include "ambit/snapshot.h"
#include "lib/buf.h"
#include "net/loop.h"
#include "net/prom.h"
#include "net/sock.h"
#include "stats.h"

/* Istio's buckets (istio/proxy stats plugin): milliseconds, then bytes. */
static const double dur_bounds[] = {0.5,   1,	   5,	   10,	    25,	    50,	   100,
				    250,   500,	   1000,   2500,    5000,   10000, 30000,
				    60000, 300000, 600000, 1800000, 3600000};
static const double size_bounds[] = {1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
#define N_DUR (sizeof(dur_bounds) / sizeof(dur_bounds[0]))
#define N_SIZE (sizeof(size_bounds) / sizeof(size_bounds[0]))
#define BUCKETS 256

/* What every series starts with: its place in a store's table and its two names. */
struct shead {
	struct shead *next;
	char *key;    /* raw_key */
	char *labels; /* the exposition's label set */
};

/* The request metrics' bits (enum l7_metric's first four), a series' share of them. */
#define REQ_METRICS 0xfu
#define TCP_METRICS 0xf0u
#define MAX_EXTRA_TAGS 16

struct series {
	struct shead h;	  /* first: a series is found by its head */
	uint32_t metrics; /* of REQ_METRICS: those it is rendered in */
	uint64_t requests;
	uint64_t dur[N_DUR + 1], req[N_SIZE + 1], resp[N_SIZE + 1];
	double dur_sum, req_sum, resp_sum;
};

/* A TCP connection label set's istio_tcp_* counters. */
struct wp_tcp_series {
	struct shead h;	  /* first */
	uint32_t metrics; /* of TCP_METRICS: those it is rendered in */
	uint64_t opened, closed, sent, received;
};

/* Series by the request's decision (struct wp_series_key): direct-mapped, newest wins. */
#define KEY_CACHE 512

struct key_slot {
	struct wp_series_key k;
	struct series *x; /* NULL: empty */
};

struct wp_stats {
	pthread_mutex_t lock;		 /* the worker's; the admin thread takes it to render */
	struct shead *tab[BUCKETS];	 /* request series */
	struct shead *ttab[BUCKETS];	 /* TCP series */
	struct key_slot keys[KEY_CACHE]; /* the worker's own: read and written unlocked */
};

struct wp_stats *wp_stats_new(void)
{
	struct wp_stats *s = calloc(1, sizeof(*s));

	if (s)
		pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void tab_free(struct shead **tab)
{
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct shead *x = tab[i], *n; x; x = n) {
			n = x->next;
			free(x->key);
			free(x->labels);
			free(x);
		}
}

void wp_stats_free(struct wp_stats *s)
{
	if (!s)
		return;
	tab_free(s->tab);
	tab_free(s->ttab);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static size_t bucket(const double *bounds, size_t n, double v)
{
	size_t i = 0;

	while (i < n && v > bounds[i])
		i++;
	return i;
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Istio's request metric labels, in Istio's order; label_values gives their values. */
static const char *const label_names[] = {
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
};
#define N_LABELS (sizeof(label_names) / sizeof(label_names[0]))

/* A record's cluster as its labels say it: a caller that named none is in the default one. */
static const char *cluster_or_default(const char *c)
{
	return c && *c ? c : SNAP_CLUSTER_ID;
}

/* @r's label values (borrowed from @r, or from @code and @grpc), in label_names' order. */
static void label_values(const struct wp_record *r, const char *v[N_LABELS], char code[8],
			 char grpc[12])
{
	snprintf(code, 8, "%d", r->status);
	grpc[0] = '\0';
	if (r->grpc_status >= 0)
		snprintf(grpc, 12, "%d", r->grpc_status);
	const char *const vals[N_LABELS] = {
	    r->reporter ? r->reporter : "waypoint",
	    r->source_workload,
	    r->source_canonical_service,
	    r->source_canonical_revision,
	    r->source_namespace,
	    r->source_principal,
	    r->source_app,
	    r->source_version,
	    cluster_or_default(r->source_cluster),
	    r->destination_workload,
	    r->destination_namespace,
	    r->destination_principal,
	    r->destination_app,
	    r->destination_version,
	    r->destination_service,
	    r->destination_canonical_service,
	    r->destination_canonical_revision,
	    r->destination_service_name,
	    r->destination_service_namespace,
	    cluster_or_default(r->destination_cluster),
	    r->grpc_status >= 0 ? "grpc" : "http",
	    code,
	    grpc,
	    r->flags ? r->flags : "-",
	    /* A source reporter (a gateway) says nothing of its downstream: Istio's "unknown". */
	    r->reporter ? "unknown"
	    : r->mtls	? "mutual_tls"
			: "none",
	};

	memcpy(v, vals, sizeof(vals));
}

/*
 * The series key: the raw values joined by a byte no value holds. Cheaper than the exposition
 * text (escaping, "unknown" for the empty ones), which is made once per new series.
 */
static size_t raw_key(const char *const *v, size_t nv, char *out, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < nv; i++) {
		size_t l = v[i] ? strlen(v[i]) : 0;

		if (n + l + 2 > len)
			return 0;
		memcpy(out + n, v[i] ? v[i] : "", l);
		n += l;
		out[n++] = '\x1f';
	}
	out[n] = '\0';
	return n;
}

static void render_labels(const char *const *names, const char *const *v, size_t nv, char *out,
			  size_t len)
{
	struct prom_label l[N_LABELS + MAX_EXTRA_TAGS];
	size_t n = nv < N_LABELS + MAX_EXTRA_TAGS ? nv : N_LABELS + MAX_EXTRA_TAGS;

	for (size_t i = 0; i < n; i++)
		l[i] = (struct prom_label){names[i], v[i]};
	prom_labels(l, n, out, len);
}

/*
 * The series of @key in @tab (the store locked): found, or made (@size bytes, zeroed) with its
 * exposition text from @names and @v (@nv labels) and linked. NULL: out of memory.
 */
static struct shead *series_get(struct shead **tab, const char *key, const char *const *names,
				const char *const *v, size_t nv, size_t size)
{
	uint32_t h = hash(key) % BUCKETS;
	char labels[8192];
	struct shead *x;

	for (x = tab[h]; x && strcmp(x->key, key); x = x->next)
		;
	if (x || !(x = calloc(1, size)))
		return x;
	render_labels(names, v, nv, labels, sizeof(labels));
	x->key = strdup(key);
	x->labels = strdup(labels);
	if (!x->key || !x->labels) {
		free(x->key);
		free(x->labels);
		free(x);
		return NULL;
	}
	x->next = tab[h];
	tab[h] = x;
	return x;
}

/* One request into @x (the store locked). */
static void count_into(struct series *x, const struct wp_record *r)
{
	x->requests++;
	x->dur[bucket(dur_bounds, N_DUR, (double)r->duration_ms)]++;
	x->req[bucket(size_bounds, N_SIZE, (double)r->bytes_received)]++;
	x->resp[bucket(size_bounds, N_SIZE, (double)r->bytes_sent)]++;
	x->dur_sum += (double)r->duration_ms;
	x->req_sum += (double)r->bytes_received;
	x->resp_sum += (double)r->bytes_sent;
}

static struct series *count(struct wp_stats *s, const struct wp_record *r);

/*
 * The label set of metric @bit under @mo: Istio's (@names, @v, @nv) with the operations for it
 * applied in order, into @on, @ov; its key (names and values) into @key. The count, or 0.
 */
static size_t override(const struct wp_metric_ops *mo, uint32_t bit, const char *const *names,
		       const char *const *v, size_t nv, const char **on, const char **ov, char *key,
		       size_t klen)
{
	size_t n = nv, len = 0;

	memcpy(on, names, nv * sizeof(*on));
	memcpy(ov, v, nv * sizeof(*ov));
	for (size_t i = 0; i < mo->n; i++) {
		const struct wp_tag_op *o = &mo->ops[i];
		size_t j = 0;

		if (!(o->metrics & bit))
			continue;
		while (j < n && strcmp(on[j], o->tag))
			j++;
		if (!o->value) { /* REMOVE */
			if (j < n) {
				memmove(&on[j], &on[j + 1], (n - j - 1) * sizeof(*on));
				memmove(&ov[j], &ov[j + 1], (n - j - 1) * sizeof(*ov));
				n--;
			}
			continue;
		}
		if (j == n) {
			if (n == nv + MAX_EXTRA_TAGS)
				continue;
			on[n++] = o->tag;
		}
		ov[j] = o->value;
	}
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(key + len, klen - len, "%s\x1e%s\x1f", on[i], ov[i] ? ov[i] : "");

		if (w < 0 || (size_t)w >= klen - len)
			return 0;
		len += (size_t)w;
	}
	return n;
}

/*
 * The request under Telemetry's overrides: per request metric, its label set; the metrics
 * whose sets agree share one series (rendered in those metrics only).
 */
static void count_overridden(struct wp_stats *s, const struct wp_record *r, const char **v)
{
	const char *on[4][N_LABELS + MAX_EXTRA_TAGS], *ov[4][N_LABELS + MAX_EXTRA_TAGS];
	size_t n[4];
	uint32_t mask[4] = {0};
	char key[4][4096], full[4200];

	for (unsigned int m = 0; m < 4; m++) {
		uint32_t bit = 1u << m;

		n[m] = 0;
		if (r->mo->off & bit)
			continue;
		n[m] = override(r->mo, bit, label_names, v, N_LABELS, on[m], ov[m], key[m],
				sizeof(key[m]));
		if (!n[m])
			continue;
		mask[m] = bit;
		for (unsigned int p = 0; p < m; p++)
			if (mask[p] && !strcmp(key[p], key[m])) {
				mask[p] |= bit;
				mask[m] = 0;
				break;
			}
	}
	pthread_mutex_lock(&s->lock);
	for (unsigned int m = 0; m < 4; m++) {
		struct series *x;

		if (!mask[m])
			continue;
		snprintf(full, sizeof(full), "%s\x1d%u", key[m], mask[m]);
		x = (struct series *)series_get(s->tab, full, on[m], ov[m], n[m], sizeof(*x));
		if (!x)
			continue;
		x->metrics = mask[m];
		count_into(x, r);
	}
	pthread_mutex_unlock(&s->lock);
}

void wp_stats_count(struct wp_stats *s, const struct wp_record *r)
{
	char code[8], grpc[12];
	const char *v[N_LABELS];

	if (!s)
		return;
	if (!r->mo) {
		count(s, r);
		return;
	}
	label_values(r, v, code, grpc);
	count_overridden(s, r, v);
}

/* The series of @r's labels (found or made), counted; NULL when none could be. */
static struct series *count(struct wp_stats *s, const struct wp_record *r)
{
	char key[4096], code[8], grpc[12];
	const char *v[N_LABELS];
	struct series *x;

	label_values(r, v, code, grpc);
	if (!raw_key(v, N_LABELS, key, sizeof(key)))
		return NULL; /* values that long are no label set worth a series */
	pthread_mutex_lock(&s->lock);
	x = (struct series *)series_get(s->tab, key, label_names, v, N_LABELS, sizeof(*x));
	if (x) {
		x->metrics = REQ_METRICS;
		count_into(x, r);
	}
	pthread_mutex_unlock(&s->lock);
	return x;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h;
}

static struct key_slot *slot_of(struct wp_stats *s, const struct wp_series_key *k)
{
	uint64_t h = mix(mix(mix(mix(k->gen, (uintptr_t)k->src), k->peer), (uintptr_t)k->svc),
			 (uintptr_t)k->ep);

	h = mix(mix(h, (uint64_t)(uint32_t)k->status << 32 | (uint32_t)k->grpc),
		(uint64_t)k->flags << 32 | k->mtls);
	return &s->keys[(h ^ h >> 29) % KEY_CACHE];
}

uint64_t wp_series_peer(const char *identity, const char *baggage)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = identity ? identity : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const char *p = baggage ? baggage : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

bool wp_stats_count_key(struct wp_stats *s, const struct wp_series_key *k,
			const struct wp_record *r)
{
	struct key_slot *sl = slot_of(s, k);

	if (!sl->x || memcmp(&sl->k, k, sizeof(*k)))
		return false;
	pthread_mutex_lock(&s->lock);
	count_into(sl->x, r);
	pthread_mutex_unlock(&s->lock);
	return true;
}

void wp_stats_count_labels(struct wp_stats *s, const struct wp_series_key *k,
			   const struct wp_record *r)
{
	struct series *x = count(s, r);
	struct key_slot *sl = slot_of(s, k);

	if (!x)
		return;
	sl->k = *k;
	sl->x = x;
}

/*
 * Istio's TCP metric labels: the request set without response_code and grpc_response_status,
 * request_protocol "tcp" (a UDP flow's record says "udp").
 */
#define N_TCP_LABELS (N_LABELS - 2)

static void tcp_label_values(const struct wp_record *r, const char *v[N_TCP_LABELS],
			     const char *names[N_TCP_LABELS])
{
	const char *all[N_LABELS];
	char code[8], grpc[12];
	size_t k = 0;

	label_values(r, all, code, grpc);
	for (size_t i = 0; i < N_LABELS; i++) {
		if (!strcmp(label_names[i], "response_code") ||
		    !strcmp(label_names[i], "grpc_response_status"))
			continue;
		names[k] = label_names[i];
		v[k++] = !strcmp(label_names[i], "request_protocol")
			     ? (r->protocol ? r->protocol : "tcp")
			     : all[i];
	}
}

/*
 * A connection's TCP series. Under overrides, the metrics not disabled share one label set:
 * the tag operations for any TCP metric apply to all four.
 */
struct wp_tcp_series *wp_stats_tcp_open(struct wp_stats *s, const struct wp_record *r)
{
	char key[4200];
	const char *v[N_TCP_LABELS], *names[N_TCP_LABELS];
	const char *on[N_TCP_LABELS + MAX_EXTRA_TAGS], *ov[N_TCP_LABELS + MAX_EXTRA_TAGS];
	const char *const *pn = names, *const *pv = v;
	size_t n = N_TCP_LABELS;
	uint32_t metrics = TCP_METRICS;
	struct wp_tcp_series *x;

	if (!s)
		return NULL;
	tcp_label_values(r, v, names);
	if (r->mo) {
		metrics &= ~r->mo->off;
		if (!metrics)
			return NULL;
		n = override(r->mo, metrics, names, v, N_TCP_LABELS, on, ov, key, sizeof(key) - 8);
		if (!n)
			return NULL;
		snprintf(key + strlen(key), 8, "\x1d%u", metrics);
		pn = on;
		pv = ov;
	} else if (!raw_key(v, N_TCP_LABELS, key, sizeof(key))) {
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	x = (struct wp_tcp_series *)series_get(s->ttab, key, pn, pv, n, sizeof(*x));
	if (x) {
		x->metrics = metrics;
		x->opened++;
	}
	pthread_mutex_unlock(&s->lock);
	return x;
}

void wp_stats_tcp_bytes(struct wp_stats *s, struct wp_tcp_series *x, uint64_t sent,
			uint64_t received)
{
	if (!s || !x)
		return;
	pthread_mutex_lock(&s->lock);
	x->sent += sent;
	x->received += received;
	pthread_mutex_unlock(&s->lock);
}

void wp_stats_tcp_close(struct wp_stats *s, struct wp_tcp_series *x)
{
	if (!s || !x)
		return;
	pthread_mutex_lock(&s->lock);
	x->closed++;
	pthread_mutex_unlock(&s->lock);
}

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

/* "ip:port", "[v6]:port" (Envoy's address form), "-" for none. */
static void addr(const union sockaddr_inet *a, char *out, size_t len)
{
	if (!a->sa.sa_family) {
		snprintf(out, len, "-");
		return;
	}
	sockaddr_inet_format(a, out, len);
}

struct wp_log {
	struct loop *loop;
	struct loop_task task;
	int fd;
	bool json;
	struct buf pending;
	time_t stamp_sec; /* the second stamp_text is for */
	char stamp_text[24];
};

/* A cap on what waits for the batch's end: beyond it lines are dropped (the reader stalls). */
#define LOG_PENDING_MAX (4u << 20)

/* Writes the pending lines: whole lines, at most PIPE_BUF bytes a write (one longer line alone). */
static void log_flush(struct wp_log *lg)
{
	while (lg->pending.len) {
		const char *p = buf_head(&lg->pending);
		size_t n = lg->pending.len;
		ssize_t w;

		if (!p)
			break;
		if (n > PIPE_BUF) {
			const char *nl = memrchr(p, '\n', PIPE_BUF);

			n = nl ? (size_t)(nl - p) + 1
			       : (size_t)((const char *)memchr(p, '\n', n) - p) + 1;
		}
		w = write(lg->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		/* The log reader is gone or stalls: the requests still count in the metrics. */
		if (w <= 0)
			break;
		buf_consume(&lg->pending, (size_t)w);
	}
	buf_free(&lg->pending);
}

static void on_log_task(struct loop_task *t)
{
	log_flush((struct wp_log *)((char *)t - offsetof(struct wp_log, task)));
}

struct wp_log *wp_log_new(struct loop *l, int fd, bool json)
{
	struct wp_log *lg = calloc(1, sizeof(*lg));

	if (!lg)
		return NULL;
	lg->loop = l;
	lg->task.fn = on_log_task;
	lg->fd = fd;
	lg->json = json;
	return lg;
}

void wp_log_free(struct wp_log *lg)
{
	if (!lg)
		return;
	log_flush(lg);
	/*
	 * A line of this batch (a connection closed while its engine goes) queued the flush:
	 * the loop runs it (nothing left to write) before it frees @lg.
	 */
	if (lg->task.queued)
		loop_defer_free(lg->loop, lg, free);
	else
		free(lg);
}

/* @line (ending in a newline) joins the batch's lines. */
static void append(struct wp_log *lg, const char *line)
{
	size_t n = strlen(line);
	char *p = buf_reserve(&lg->pending, n, LOG_PENDING_MAX);

	if (!p)
		return;
	memcpy(p, line, n);
	lg->pending.len += n;
	loop_queue(lg->loop, &lg->task);
}

/* ---- the text line, built by hand: formatting it with printf was a tenth of the CPU ---- */

struct line {
	char *p;
	size_t n, cap;
};

/* Inlined (a line is some forty pieces: a call each cost as much as the copy). */
static inline void put_n(struct line *l, const char *s, size_t n)
{
	if (l->n + n < l->cap) {
		memcpy(l->p + l->n, s, n);
		l->n += n;
	} else {
		l->n = l->cap; /* too long: refused below */
	}
}

static inline void put(struct line *l, const char *s)
{
	put_n(l, s, strlen(s));
}

/* A literal: its length known when compiled. */
#define PUT(l, lit) put_n((l), (lit), sizeof(lit) - 1)

static inline void put_dash(struct line *l, const char *s)
{
	if (s && *s)
		put(l, s);
	else
		PUT(l, "-");
}

static inline void put_u64(struct line *l, unsigned long long v)
{
	/* Straight into the line when it has room for any number. */
	if (l->n + 21 < l->cap) {
		l->n += fmt_u64(l->p + l->n, v);
		return;
	}
	l->n = l->cap;
}

static void put_addr(struct line *l, const union sockaddr_inet *a)
{
	char b[SOCKADDR_INET_STRLEN];

	if (a->sa.sa_family == AF_INET) {
		put_n(l, b, fmt_ipv4_port(b, a->v4.sin_addr.s_addr, ntohs(a->v4.sin_port)));
		return;
	}
	if (!a->sa.sa_family) {
		PUT(l, "-");
		return;
	}
	put(l, sockaddr_inet_format(a, b, sizeof(b)));
}

/* "[2026-11-23T05:49:25.768Z]": the date part made once a second per worker. */
static void put_start(struct line *l, struct wp_log *lg, const struct timespec *ts)
{
	char ms[5] = {'.', 0, 0, 0, 0};
	long m = ts->tv_nsec / 1000000;

	if (lg->stamp_sec != ts->tv_sec || !lg->stamp_text[0]) {
		struct tm tm;

		gmtime_r(&ts->tv_sec, &tm);
		strftime(lg->stamp_text, sizeof(lg->stamp_text), "%Y-%m-%dT%H:%M:%S", &tm);
		lg->stamp_sec = ts->tv_sec;
	}
	ms[1] = (char)('0' + m / 100);
	ms[2] = (char)('0' + m / 10 % 10);
	ms[3] = (char)('0' + m % 10);
	put(l, "[");
	put(l, lg->stamp_text);
	put(l, ms);
	put(l, "Z] ");
}

/* Envoy's default format, into @l (l->n == l->cap when it did not fit). */
static void text_fill(struct line *l_, const struct wp_record *r, struct wp_log *lg)
{
	struct line l = *l_;

	put_start(&l, lg, &r->start);
	PUT(&l, "\"");
	put_dash(&l, r->method);
	PUT(&l, " ");
	put_dash(&l, r->path);
	PUT(&l, " ");
	put_dash(&l, r->protocol);
	PUT(&l, "\" ");
	if (r->status < 0) {
		PUT(&l, "-");
		put_u64(&l, (unsigned long long)-(long long)r->status);
	} else {
		put_u64(&l, (unsigned long long)r->status);
	}
	PUT(&l, " ");
	put_dash(&l, r->flags);
	PUT(&l, " ");
	put_dash(&l, r->details);
	PUT(&l, " - \"-\" ");
	put_u64(&l, r->bytes_received);
	PUT(&l, " ");
	put_u64(&l, r->bytes_sent);
	PUT(&l, " ");
	put_u64(&l, r->duration_ms);
	PUT(&l, " ");
	if (r->upstream_ms >= 0)
		put_u64(&l, (unsigned long long)r->upstream_ms);
	else
		PUT(&l, "-");
	PUT(&l, " \"");
	put_dash(&l, r->forwarded_for);
	PUT(&l, "\" \"");
	put_dash(&l, r->user_agent);
	PUT(&l, "\" \"");
	put_dash(&l, r->request_id);
	PUT(&l, "\" \"");
	put_dash(&l, r->authority);
	PUT(&l, "\" \"");
	put_dash(&l, r->upstream_host);
	PUT(&l, "\" ");
	put_dash(&l, r->upstream_cluster);
	PUT(&l, " - ");
	if (r->downstream_local_text)
		put(&l, r->downstream_local_text);
	else
		put_addr(&l, &r->downstream_local);
	PUT(&l, " ");
	if (r->downstream_remote_text)
		put(&l, r->downstream_remote_text);
	else
		put_addr(&l, &r->downstream_remote);
	PUT(&l, " ");
	put_dash(&l, r->server_name);
	PUT(&l, " ");
	put_dash(&l, r->route_name);
	PUT(&l, "\n");
	*l_ = l;
}

static void text_line(const struct wp_record *r, struct wp_log *lg)
{
	char stack[4096];
	struct line l = {stack, 0, sizeof(stack)};
	char *p;

	text_fill(&l, r, lg);
	/* Longer (a long path or user agent): once more in a buffer as big as a request head. */
	if (l.n >= l.cap) {
		l = (struct line){malloc(1u << 20), 0, 1u << 20};
		if (!l.p)
			return;
		text_fill(&l, r, lg);
	}
	p = l.n < l.cap ? buf_reserve(&lg->pending, l.n, LOG_PENDING_MAX) : NULL;
	if (p) {
		memcpy(p, l.p, l.n);
		lg->pending.len += l.n;
		loop_queue(lg->loop, &lg->task);
	}
	if (l.p != stack)
		free(l.p);
}

static void log_line(const struct wp_record *r, struct wp_log *lg)
{
	char start[40], ut[24], dl[32], dr[32], *line = NULL;
	struct tm tm;
	int n;

	if (!lg->json) {
		text_line(r, lg);
		return;
	}
	gmtime_r(&r->start.tv_sec, &tm);
	n = (int)strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(start + n, sizeof(start) - (size_t)n, ".%03ldZ", r->start.tv_nsec / 1000000);
	if (r->upstream_ms >= 0)
		snprintf(ut, sizeof(ut), "%lld", (long long)r->upstream_ms);
	else
		snprintf(ut, sizeof(ut), "-");
	addr(&r->downstream_local, dl, sizeof(dl));
	addr(&r->downstream_remote, dr, sizeof(dr));
	{
		cJSON *o = cJSON_CreateObject();

		if (!o)
			return;
		cJSON_AddStringToObject(o, "start_time", start);
		cJSON_AddStringToObject(o, "method", dash(r->method));
		cJSON_AddStringToObject(o, "path", dash(r->path));
		cJSON_AddStringToObject(o, "protocol", dash(r->protocol));
		cJSON_AddNumberToObject(o, "response_code", r->status);
		cJSON_AddStringToObject(o, "response_flags", dash(r->flags));
		cJSON_AddStringToObject(o, "response_code_details", dash(r->details));
		cJSON_AddNumberToObject(o, "bytes_received", (double)r->bytes_received);
		cJSON_AddNumberToObject(o, "bytes_sent", (double)r->bytes_sent);
		cJSON_AddNumberToObject(o, "duration", (double)r->duration_ms);
		cJSON_AddStringToObject(o, "upstream_service_time", ut);
		cJSON_AddStringToObject(o, "x_forwarded_for", dash(r->forwarded_for));
		cJSON_AddStringToObject(o, "user_agent", dash(r->user_agent));
		cJSON_AddStringToObject(o, "request_id", dash(r->request_id));
		cJSON_AddStringToObject(o, "authority", dash(r->authority));
		cJSON_AddStringToObject(o, "upstream_host", dash(r->upstream_host));
		cJSON_AddStringToObject(o, "upstream_cluster", dash(r->upstream_cluster));
		cJSON_AddStringToObject(o, "downstream_local_address", dl);
		cJSON_AddStringToObject(o, "downstream_remote_address", dr);
		cJSON_AddStringToObject(o, "requested_server_name", dash(r->server_name));
		cJSON_AddStringToObject(o, "route_name", dash(r->route_name));
		line = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (line) {
			char *nl = realloc(line, strlen(line) + 2);

			if (nl) {
				line = nl;
				strcat(line, "\n");
			}
		}
	}
	if (!line)
		return;
	append(lg, line);
	free(line);
}

void wp_stats_log(struct wp_log *lg, const struct wp_record *r)
{
	log_line(r, lg);
}

void wp_stats_record(struct wp_stats *s, const struct wp_record *r, struct wp_log *lg)
{
	if (s)
		count(s, r);
	if (lg)
		log_line(r, lg);
}

static int cmp_series(const void *a, const void *b)
{
	const struct series *x = *(struct series *const *)a, *y = *(struct series *const *)b;
	int c = strcmp(x->h.labels, y->h.labels);

	return c ? c : (x->metrics > y->metrics) - (x->metrics < y->metrics);
}

/* Every series of every store, merged by labels into a sorted array (caller frees). */
static struct series *merged(struct wp_stats *const *stores, size_t n, size_t *out_n)
{
	size_t cap = 64, k = 0, w = 0;
	struct series **all = malloc(cap * sizeof(*all)), *out;

	if (!all)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&stores[i]->lock);
		for (size_t b = 0; b < BUCKETS; b++)
			for (struct shead *y = stores[i]->tab[b]; y; y = y->next) {
				struct series *x = (struct series *)y, *c = malloc(sizeof(*c));

				if (k == cap) {
					struct series **p = realloc(all, 2 * cap * sizeof(*all));

					if (p) {
						all = p;
						cap *= 2;
					}
				}
				if (!c || k == cap) {
					free(c);
					continue;
				}
				*c = *x;
				c->h.labels = strdup(x->h.labels);
				if (!c->h.labels) {
					free(c);
					continue;
				}
				all[k++] = c;
			}
		pthread_mutex_unlock(&stores[i]->lock);
	}
	qsort(all, k, sizeof(*all), cmp_series);
	out = calloc(k + 1, sizeof(*out));
	for (size_t i = 0; i < k; i++) {
		struct series *x = all[i];

		if (out && w && !strcmp(out[w - 1].h.labels, x->h.labels) &&
		    out[w - 1].metrics == x->metrics) {
			struct series *y = &out[w - 1];

			y->requests += x->requests;
			for (size_t j = 0; j <= N_DUR; j++)
				y->dur[j] += x->dur[j];
			for (size_t j = 0; j <= N_SIZE; j++) {
				y->req[j] += x->req[j];
				y->resp[j] += x->resp[j];
			}
			y->dur_sum += x->dur_sum;
			y->req_sum += x->req_sum;
			y->resp_sum += x->resp_sum;
			free(x->h.labels);
		} else if (out) {
			out[w++] = *x;
		} else {
			free(x->h.labels);
		}
		free(x);
	}
	free(all);
	*out_n = w;
	return out;
}

static int cmp_tcp(const void *a, const void *b)
{
	const struct wp_tcp_series *x = a, *y = b;
	int c = strcmp(x->h.labels, y->h.labels);

	return c ? c : (x->metrics > y->metrics) - (x->metrics < y->metrics);
}

/* The istio_tcp_* series of all @n stores, merged by labels, into @b. */
static void render_tcp(struct prom_buf *b, struct wp_stats *const *stores, size_t n)
{
	static const char *const metric[4][2] = {
	    {"istio_tcp_connections_opened_total", "Total TCP connections opened."},
	    {"istio_tcp_connections_closed_total", "Total TCP connections closed."},
	    {"istio_tcp_sent_bytes_total", "Bytes sent to the client."},
	    {"istio_tcp_received_bytes_total", "Bytes received from the client."},
	};
	struct wp_tcp_series *all = NULL;
	size_t k = 0, cap = 0, w = 0;

	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&stores[i]->lock);
		for (size_t h = 0; h < BUCKETS; h++)
			for (const struct shead *y = stores[i]->ttab[h]; y; y = y->next) {
				const struct wp_tcp_series *x = (const struct wp_tcp_series *)y;

				if (k == cap) {
					size_t nc = cap ? 2 * cap : 16;
					struct wp_tcp_series *p = realloc(all, nc * sizeof(*p));

					if (!p)
						continue;
					all = p;
					cap = nc;
				}
				all[k++] = *x; /* labels borrowed: the series outlive the render */
			}
		pthread_mutex_unlock(&stores[i]->lock);
	}
	if (k) /* qsort of NULL, even of nothing, is undefined */
		qsort(all, k, sizeof(*all), cmp_tcp);
	for (size_t i = 0; i < k; i++) {
		if (w && !strcmp(all[w - 1].h.labels, all[i].h.labels) &&
		    all[w - 1].metrics == all[i].metrics) {
			all[w - 1].opened += all[i].opened;
			all[w - 1].closed += all[i].closed;
			all[w - 1].sent += all[i].sent;
			all[w - 1].received += all[i].received;
		} else {
			all[w++] = all[i];
		}
	}
	for (size_t m = 0; m < 4 && w; m++) {
		prom_printf(b, "# HELP %s %s\n# TYPE %s counter\n", metric[m][0], metric[m][1],
			    metric[m][0]);
		for (size_t i = 0; i < w; i++) {
			if (!(all[i].metrics & (0x10u << m)))
				continue;
			uint64_t v = m == 0   ? all[i].opened
				     : m == 1 ? all[i].closed
				     : m == 2 ? all[i].sent
					      : all[i].received;

			prom_printf(b, "%s{%s} %llu\n", metric[m][0], all[i].h.labels,
				    (unsigned long long)v);
		}
	}
	free(all);
}

char *wp_stats_render(struct wp_stats *const *stores, size_t n)
{
	struct prom_buf b = {0};
	size_t k = 0;
	struct series *all = merged(stores, n, &k);

	if (!all)
		return NULL;
	prom_printf(&b, "# HELP istio_requests_total Total requests.\n"
			"# TYPE istio_requests_total counter\n");
	for (size_t i = 0; i < k; i++)
		if (all[i].metrics & 1)
			prom_printf(&b, "istio_requests_total{%s} %llu\n", all[i].h.labels,
				    (unsigned long long)all[i].requests);
	prom_printf(&b, "# HELP istio_request_duration_milliseconds Request duration.\n"
			"# TYPE istio_request_duration_milliseconds histogram\n");
	for (size_t i = 0; i < k; i++)
		if (all[i].metrics & 2)
			prom_histogram(&b, "istio_request_duration_milliseconds", all[i].h.labels,
				       dur_bounds, N_DUR, all[i].dur, all[i].dur_sum);
	prom_printf(&b, "# HELP istio_request_bytes Request size.\n"
			"# TYPE istio_request_bytes histogram\n");
	for (size_t i = 0; i < k; i++)
		if (all[i].metrics & 4)
			prom_histogram(&b, "istio_request_bytes", all[i].h.labels, size_bounds,
				       N_SIZE, all[i].req, all[i].req_sum);
	prom_printf(&b, "# HELP istio_response_bytes Response size.\n"
			"# TYPE istio_response_bytes histogram\n");
	for (size_t i = 0; i < k; i++)
		if (all[i].metrics & 8)
			prom_histogram(&b, "istio_response_bytes", all[i].h.labels, size_bounds,
				       N_SIZE, all[i].resp, all[i].resp_sum);
	for (size_t i = 0; i < k; i++)
		free(all[i].h.labels);
	free(all);
	render_tcp(&b, stores, n);
	wp_trace_metrics(&b);
	return prom_take(&b);
}

bool wp_record_source_baggage(struct wp_record *r, const char *baggage, const char *identity_ns,
			      struct wp_baggage_labels *buf)
{
	static const char *const kinds[] = {"deployment", "statefulset", "daemonset", "replicaset",
					    "job",	  "cronjob",	 "pod"};
	char key[32];
	size_t i;

	if (!baggage || !identity_ns ||
	    sock_parse_baggage(baggage, "k8s.namespace.name", buf->ns, sizeof(buf->ns)) ||
	    strcmp(buf->ns, identity_ns))
		return false;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(key, sizeof(key), "k8s.%s.name", kinds[i]);
		if (!sock_parse_baggage(baggage, key, buf->workload, sizeof(buf->workload)))
			break;
	}
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return false;
	if (sock_parse_baggage(baggage, "service.name", buf->service, sizeof(buf->service)))
		snprintf(buf->service, sizeof(buf->service), "%s", buf->workload);
	if (sock_parse_baggage(baggage, "service.version", buf->version, sizeof(buf->version)))
		snprintf(buf->version, sizeof(buf->version), "latest");
	r->source_namespace = buf->ns;
	r->source_workload = buf->workload;
	r->source_canonical_service = buf->service;
	r->source_canonical_revision = buf->version;
	/* Istio's waypoint has no pod labels for such a peer: app/version are its canonical ones.
	 */
	r->source_app = buf->service;
	r->source_version = buf->version;
	/* A client of another cluster of the mesh (its ztunnel's clusterName). */
	if (!sock_parse_baggage(baggage, "k8s.cluster.name", buf->cluster, sizeof(buf->cluster)))
		r->source_cluster = buf->cluster;
	return true;
}
