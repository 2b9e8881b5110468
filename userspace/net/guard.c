// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <malloc.h>
#include <pthread.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ambit/log.h"
#include "guard.h"

/*
 * One count per source IP of a listener, or per peer identity: the key and how many of its
 * connections or streams are open. Kept in a tsearch(3) tree while the count is not zero, so
 * a source that comes and goes leaves nothing behind.
 */
struct guard_entry {
	struct ipaddr ip; /* either family: an IPv6 source is counted as itself */
	uint8_t listener;
	char *identity; /* NULL for a source entry */
	unsigned int n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct guard_config cfg;
static void *sources, *identities; /* tsearch roots */
static unsigned long open_conns[GUARD__LISTENERS], handshakes, streams;
/* Monotonic counters; written under the lock, read atomically by the renderer. */
static uint64_t refused[GUARD__LISTENERS][GUARD__REFUSALS];
static uint64_t timed_out[GUARD__LISTENERS][GUARD__TIMEOUTS];
static uint64_t accept_pauses[GUARD__LISTENERS];
static uint64_t streams_refused[GUARD__STREAM_REFUSALS];
static uint64_t rapid_resets, memory_trims;
/* Memory return: the peak of connections + streams since the last trim, and when that was. */
static unsigned long live_peak;
static time_t last_trim;

static const char *const listener_names[GUARD__LISTENERS] = {"outbound", "inbound", "hbone"};
static const char *const listener_ports[GUARD__LISTENERS] = {"15001", "15006", "15008"};
static const char *const refusal_names[GUARD__REFUSALS] = {"ok", "per_source", "total",
							   "handshakes", "fd_exhausted"};
static const char *const timeout_names[GUARD__TIMEOUTS] = {"handshake", "first_request", "connect",
							   "first_byte", "idle"};
static const char *const stream_refusal_names[GUARD__STREAM_REFUSALS] = {"per_connection",
									 "per_identity", "total"};

/* A trim walks every arena: worth it only once this much is gone, and not more often. */
#define TRIM_MIN_DROP 256
#define TRIM_INTERVAL_S 2
/* The default cap of unfinished TLS handshakes per source IP (see guard_config_defaults). */
#define HANDSHAKES_PER_SOURCE 1024
/* ... and in all (about 225 MB of handshake state at most). */
#define HANDSHAKES_MAX 4096

void guard_config_defaults(struct guard_config *c, unsigned long nofile)
{
	unsigned long conns = nofile / 8;

	/*
	 * A spliced plaintext connection costs two fds (client and upstream), an HBONE connection
	 * one plus one per stream: with an eighth of the limit per listener and a quarter for
	 * inbound streams, everything at its cap uses about 7/8 of it. One source may take half
	 * a listener, and unfinished handshakes half of 15008 (one source: see below), so that
	 * neither one source nor unauthenticated peers can crowd out the mesh's own connections.
	 */
	if (conns < 256)
		conns = 256;
	memset(c, 0, sizeof(*c));
	c->max_conns = (unsigned int)conns;
	c->max_conns_per_source = c->max_conns / 2;
	/*
	 * OpenSSL holds about 55 KB for a handshake that has started (measured: 2,000 peers that
	 * sent 600 bytes of a ClientHello record), whatever the fd limit: bounded in all, too.
	 */
	c->max_handshakes = c->max_conns / 2 < HANDSHAKES_MAX ? c->max_conns / 2 : HANDSHAKES_MAX;
	/*
	 * A node's pool opens a connection per (identity, destination) and handshakes them in
	 * milliseconds: a thousand in flight from one address is a flood, not a node (an
	 * unauthenticated source holding 20,000 of them took 766 MB).
	 */
	c->max_handshakes_per_source = c->max_handshakes / 2 < HANDSHAKES_PER_SOURCE
					   ? c->max_handshakes / 2
					   : HANDSHAKES_PER_SOURCE;
	c->max_streams = (unsigned int)(conns * 2);
	c->max_streams_per_identity = c->max_streams / 2;
}

void guard_configure(const struct guard_config *c)
{
	pthread_mutex_lock(&lock);
	cfg = *c;
	pthread_mutex_unlock(&lock);
}

static int source_cmp(const void *a, const void *b)
{
	const struct guard_entry *x = a, *y = b;

	if (x->listener != y->listener)
		return x->listener < y->listener ? -1 : 1;
	if (x->ip.family != y->ip.family)
		return x->ip.family < y->ip.family ? -1 : 1;
	return memcmp(x->ip.a, y->ip.a, sizeof(x->ip.a));
}

static int identity_cmp(const void *a, const void *b)
{
	return strcmp(((const struct guard_entry *)a)->identity,
		      ((const struct guard_entry *)b)->identity);
}

/* The entry for @key in @root, created with a count of 0 when absent; NULL out of memory. */
static struct guard_entry *entry_get(void **root, const struct guard_entry *key,
				     int (*cmp)(const void *, const void *))
{
	struct guard_entry *e, **found = tfind(key, root, cmp);

	if (found)
		return *found;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	*e = *key;
	if (key->identity && !(e->identity = strdup(key->identity))) {
		free(e);
		return NULL;
	}
	if (!tsearch(e, root, cmp)) {
		free(e->identity);
		free(e);
		return NULL;
	}
	return e;
}

/* One less on @e; the entry goes away at zero. Lock held. */
static void entry_put(void **root, struct guard_entry *e, int (*cmp)(const void *, const void *))
{
	if (--e->n)
		return;
	tdelete(e, root, cmp);
	free(e->identity);
	free(e);
}

static void bump(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static unsigned long live_locked(void)
{
	unsigned long n = streams;

	for (int i = 0; i < GUARD__LISTENERS; i++)
		n += open_conns[i];
	return n;
}

static void note_peak(void)
{
	unsigned long live = live_locked();

	if (live > live_peak)
		live_peak = live;
}

enum guard_refusal guard_admit(struct guard_slot *s, enum guard_listener l, const struct ipaddr *ip)
{
	struct guard_entry key = {.ip = *ip, .listener = (uint8_t)l}, *e = NULL;
	bool hbone = l == GUARD_HBONE;
	unsigned int per_source = hbone ? cfg.max_handshakes_per_source : cfg.max_conns_per_source;
	enum guard_refusal r = GUARD_OK;
	char ipbuf[IPADDR_STRLEN];

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&lock);
	if (cfg.max_conns && open_conns[l] >= cfg.max_conns)
		r = GUARD_TOTAL;
	else if (hbone && cfg.max_handshakes && handshakes >= cfg.max_handshakes)
		r = GUARD_HANDSHAKES;
	else if (per_source) {
		/* Out of memory for the entry: admitted uncounted rather than refused. */
		e = entry_get(&sources, &key, source_cmp);
		if (e && e->n >= per_source)
			r = GUARD_PER_SOURCE;
	}
	if (r == GUARD_OK) {
		s->listener = (uint8_t)l;
		s->held = true;
		open_conns[l]++;
		if (hbone) {
			s->handshake = true;
			handshakes++;
		}
		if (e) {
			e->n++;
			s->src = e;
		}
		note_peak();
	} else {
		/* The per-source check comes last: an entry found here is in use. */
		bump(&refused[l][r]);
	}
	pthread_mutex_unlock(&lock);
	if (r == GUARD_OK)
		return r;
	/* The text names the source and the cap, and repeats identically: log.c folds repeats. */
	ipaddr_format(ip, ipbuf, sizeof(ipbuf));
	switch (r) {
	case GUARD_PER_SOURCE:
		pr_warn("guard: refusing connections on %s (%s) from %s: it holds %u%s, the cap "
			"(--max-%s-per-source)",
			listener_ports[l], listener_names[l], ipbuf, per_source,
			hbone ? " unfinished TLS handshakes" : " connections",
			hbone ? "handshakes" : "conns");
		break;
	case GUARD_TOTAL:
		pr_warn("guard: refusing connections on %s (%s) from %s: the listener holds %u "
			"connections, the cap (--max-conns)",
			listener_ports[l], listener_names[l], ipbuf, cfg.max_conns);
		break;
	default:
		pr_warn("guard: refusing connections on %s (%s) from %s: %u unfinished TLS "
			"handshakes, the cap (--max-handshakes)",
			listener_ports[l], listener_names[l], ipbuf, cfg.max_handshakes);
		break;
	}
	return r;
}

void guard_handshake_done(struct guard_slot *s)
{
	if (!s || !s->handshake)
		return;
	pthread_mutex_lock(&lock);
	handshakes--;
	s->handshake = false;
	/* An authenticated peer is a node's pool: never capped per source (DESIGN.md). */
	if (s->src)
		entry_put(&sources, s->src, source_cmp);
	s->src = NULL;
	pthread_mutex_unlock(&lock);
}

void guard_release(struct guard_slot *s)
{
	if (!s || !s->held)
		return;
	pthread_mutex_lock(&lock);
	open_conns[s->listener]--;
	if (s->handshake)
		handshakes--;
	if (s->src)
		entry_put(&sources, s->src, source_cmp);
	pthread_mutex_unlock(&lock);
	memset(s, 0, sizeof(*s));
}

void guard_slot_move(struct guard_slot *to, struct guard_slot *from)
{
	*to = *from;
	memset(from, 0, sizeof(*from));
}

void guard_count_refusal(enum guard_listener l, enum guard_refusal r)
{
	bump(&refused[l][r]);
}

void guard_count_timeout(enum guard_listener l, enum guard_timeout t)
{
	bump(&timed_out[l][t]);
}

void guard_count_accept_pause(enum guard_listener l)
{
	bump(&accept_pauses[l]);
}

int guard_stream_admit(struct guard_stream *s, const char *identity)
{
	struct guard_entry key = {.identity = (char *)identity}, *e = NULL;
	enum guard_stream_refusal r = GUARD__STREAM_REFUSALS;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&lock);
	if (cfg.max_streams && streams >= cfg.max_streams) {
		r = GUARD_S_TOTAL;
	} else if (cfg.max_streams_per_identity) {
		e = entry_get(&identities, &key, identity_cmp);
		if (e && e->n >= cfg.max_streams_per_identity)
			r = GUARD_S_PER_IDENTITY;
	}
	if (r == GUARD__STREAM_REFUSALS) {
		streams++;
		s->held = true;
		if (e) {
			e->n++;
			s->id = e;
		}
		note_peak();
	} else {
		bump(&streams_refused[r]);
	}
	pthread_mutex_unlock(&lock);
	if (r == GUARD__STREAM_REFUSALS)
		return 0;
	if (r == GUARD_S_TOTAL)
		pr_warn("guard: refusing CONNECT streams from %s: %u inbound streams in all, the "
			"cap (--max-streams)",
			identity, cfg.max_streams);
	else
		pr_warn("guard: refusing CONNECT streams from %s: it holds %u streams, the cap "
			"(--max-streams-per-identity)",
			identity, cfg.max_streams_per_identity);
	return -1;
}

void guard_stream_release(struct guard_stream *s)
{
	if (!s || !s->held)
		return;
	pthread_mutex_lock(&lock);
	streams--;
	if (s->id)
		entry_put(&identities, s->id, identity_cmp);
	pthread_mutex_unlock(&lock);
	memset(s, 0, sizeof(*s));
}

void guard_count_stream_refusal(enum guard_stream_refusal r)
{
	bump(&streams_refused[r]);
}

void guard_count_rapid_reset(void)
{
	bump(&rapid_resets);
}

bool guard_memory_tick(void)
{
	struct timespec ts;
	unsigned long live;
	bool trim;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&lock);
	live = live_locked();
	/*
	 * glibc keeps what a burst freed in its arenas (4 rounds of 5,000 connections: 23 to
	 * 601 MB resident); malloc_trim gives the free pages back. Only after a real drop, since
	 * it walks every arena.
	 */
	trim = live_peak >= live + TRIM_MIN_DROP && live <= live_peak / 2 &&
	       ts.tv_sec - last_trim >= TRIM_INTERVAL_S;
	if (trim) {
		live_peak = live;
		last_trim = ts.tv_sec;
	}
	pthread_mutex_unlock(&lock);
	if (!trim)
		return false;
	malloc_trim(0);
	bump(&memory_trims);
	return true;
}

unsigned long guard_open(enum guard_listener l)
{
	unsigned long n;

	pthread_mutex_lock(&lock);
	n = open_conns[l];
	pthread_mutex_unlock(&lock);
	return n;
}

static void appendf(char **out, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char **out, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!*out)
		return;
	va_start(ap, fmt);
	n = vsnprintf(*out + *len, *cap - *len, fmt, ap);
	va_end(ap);
	if (n >= 0 && *len + (size_t)n >= *cap) {
		size_t ncap = (*len + (size_t)n + 1) * 2;
		char *p = realloc(*out, ncap);

		if (!p) {
			free(*out);
			*out = NULL;
			return;
		}
		*out = p;
		*cap = ncap;
		va_start(ap, fmt);
		n = vsnprintf(*out + *len, *cap - *len, fmt, ap);
		va_end(ap);
	}
	if (n > 0)
		*len += (size_t)n;
}

static void family(char **out, size_t *len, size_t *cap, const char *name, const char *type,
		   const char *help)
{
	appendf(out, len, cap, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long long load(const uint64_t *c)
{
	return (unsigned long long)__atomic_load_n(c, __ATOMIC_RELAXED);
}

char *guard_metrics_render(void)
{
	size_t len = 0, cap = 4096;
	char *out = malloc(cap);
	unsigned long open[GUARD__LISTENERS], hs, st;

	pthread_mutex_lock(&lock);
	memcpy(open, open_conns, sizeof(open));
	hs = handshakes;
	st = streams;
	pthread_mutex_unlock(&lock);
	family(&out, &len, &cap, "ambit_connections_refused_total", "counter",
	       "Connections reset at accept: the cap they would exceed, or no fd left.");
	for (int l = 0; l < GUARD__LISTENERS; l++)
		for (int r = 1; r < GUARD__REFUSALS; r++)
			appendf(&out, &len, &cap,
				"ambit_connections_refused_total{listener=\"%s\",reason=\"%s\"} "
				"%llu\n",
				listener_names[l], refusal_names[r], load(&refused[l][r]));
	family(&out, &len, &cap, "ambit_connections_timed_out_total", "counter",
	       "Connections and streams closed by a deadline, by listener and phase.");
	for (int l = 0; l < GUARD__LISTENERS; l++)
		for (int t = 0; t < GUARD__TIMEOUTS; t++)
			appendf(&out, &len, &cap,
				"ambit_connections_timed_out_total{listener=\"%s\",phase=\"%s\"} "
				"%llu\n",
				listener_names[l], timeout_names[t], load(&timed_out[l][t]));
	family(&out, &len, &cap, "ambit_connections_open", "gauge",
	       "Accepted connections held, by listener.");
	for (int l = 0; l < GUARD__LISTENERS; l++)
		appendf(&out, &len, &cap, "ambit_connections_open{listener=\"%s\"} %lu\n",
			listener_names[l], open[l]);
	family(&out, &len, &cap, "ambit_hbone_handshakes_open", "gauge",
	       "HBONE connections accepted whose TLS handshake is not done.");
	appendf(&out, &len, &cap, "ambit_hbone_handshakes_open %lu\n", hs);
	family(&out, &len, &cap, "ambit_hbone_streams_open", "gauge",
	       "Inbound HBONE CONNECT streams held.");
	appendf(&out, &len, &cap, "ambit_hbone_streams_open %lu\n", st);
	family(&out, &len, &cap, "ambit_accept_pauses_total", "counter",
	       "Times a listener stopped accepting for a while because no fd was left.");
	for (int l = 0; l < GUARD__LISTENERS; l++)
		appendf(&out, &len, &cap, "ambit_accept_pauses_total{listener=\"%s\"} %llu\n",
			listener_names[l], load(&accept_pauses[l]));
	family(&out, &len, &cap, "ambit_hbone_streams_refused_total", "counter",
	       "Inbound CONNECT streams refused (REFUSED_STREAM), by the cap they would exceed.");
	for (int r = 0; r < GUARD__STREAM_REFUSALS; r++)
		appendf(&out, &len, &cap, "ambit_hbone_streams_refused_total{reason=\"%s\"} %llu\n",
			stream_refusal_names[r], load(&streams_refused[r]));
	family(&out, &len, &cap, "ambit_hbone_rapid_reset_total", "counter",
	       "HBONE connections closed (GOAWAY ENHANCE_YOUR_CALM) for resetting streams before "
	       "they were answered.");
	appendf(&out, &len, &cap, "ambit_hbone_rapid_reset_total %llu\n", load(&rapid_resets));
	family(&out, &len, &cap, "ambit_memory_trims_total", "counter",
	       "Times freed memory was returned to the system after a burst of connections.");
	appendf(&out, &len, &cap, "ambit_memory_trims_total %llu\n", load(&memory_trims));
	return out;
}
