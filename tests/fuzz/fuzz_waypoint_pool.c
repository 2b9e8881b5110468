// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile responses into the waypoint's HTTP/1 engine (waypoint/proxy*.c
 * over http1_client.c) through its pool of upstream connections (http1_pool.c). Up to 16
 * requests, each from a client connection of its own unless the input says otherwise, go to a
 * Service with one endpoint, so the pool carries them on the same connections; the input plays
 * the backend and answers each request as it arrives upstream: in pieces, with an EOF or a
 * reset, and with bytes written later, while the connection idles in the pool.
 *
 * Checked beyond "no crash, leak or UB": no client receives a byte the backend sent in answer
 * to another client's request (a response smuggled into the pool reaching the next client).
 * Request k's answer carries the byte 0xf0 + k (its tag) wherever the input has '@', and any
 * byte >= 0xf0 of the input becomes that tag, so tags land in bodies, header values, reason
 * phrases, after a response's end, in a second response behind the first... The proxy frames
 * heads and bodies again but passes values and body bytes through, and a single byte cannot be
 * cut by re-chunking: a client holding the tag of a request it did not send got part of another
 * client's answer. Upstream, requests are told apart by their target, /rqNN.
 *
 * Fair to the proxy: on an HTTP/1 connection a byte that arrives after the next request went
 * out is that request's to take (nothing tells it from the answer). The driver stands between
 * each upstream connection and the pool's on_data, and a byte first offered to the pool after
 * a later request was written there is re-tagged as that later request's: only bytes the pool
 * had before it sent another request on the connection can betray it. So, once everything
 * settled, the pool must have read all that every connection it keeps open received (one left
 * unread in the pool would answer the next request). And when every client and then every
 * upstream connection has ended, nothing may be left active in the engine.
 *
 * No clock: retries (whose backoff is a jittered timer) are off, and the other timers (idle,
 * first byte) are far longer than a run; the loop is stepped without waiting.
 *
 * Input: sections separated by "\n%%\n", one per request (16 at most). A section is a line of
 * flag letters, then the backend's answer to that request:
 *   method   GET unless H (HEAD), B (POST, Content-Length body), K (POST, chunked body),
 *            X (POST with "Expect: 100-continue"), O (OPTIONS), U (GET asking for a websocket)
 *   client   S: on the previous request's client connection (keep-alive; with N, pipelined);
 *            N: sent at once, not after the previous exchanges settled (concurrent requests);
 *            Q: the client half-closes after its request; A: it resets after the answer's
 *            first write
 *   backend  E / R: EOF / reset after the answer; e / r: the same after its late part
 * In the answer, '|' cuts writes (the engine runs between them; past the 64th cut '|' is a
 * byte), '@' is the tag, and what follows the first '~' is the late part: written once
 * everything settled, if the connection carried no other request meanwhile.
 * FUZZ_POOL_TRACE (set) prints what each client received and what each connection carried.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "../lib/l7_world.h"
#include "lib/buf.h"
#include "../../waypoint/engine/proxy.h"

#define SEP "\n%%\n"
#define MAX_REQ 16
#define MAX_UP 32
#define MAX_CUTS 64
#define TAG0 0xf0
#define SENT_MAX (4u << 20)
/* Rounds the engine may keep writing with nothing new from the driver: more is a livelock. */
#define SPIN_MAX 256
/* " /rqNN HTTP/1.1\r\n" as the engine writes a request line upstream. */
#define RQ_TAIL " HTTP/1.1\r\n"
#define RQ_TAIL_LEN (sizeof(RQ_TAIL) - 1)
#define RQ_LEN (5 + RQ_TAIL_LEN)

static const char yaml[] = L7_WORLD_HEAD
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
    "spec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: shop\n"
    "  labels: {app: web}\n"
    "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.21}\n---\n"
    /*
     * No retries: Istio's default policy retries after a jittered backoff timer, which would
     * make a run depend on the clock. The pool is what is under test, not the router.
     */
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    "metadata: {name: web, namespace: shop}\n"
    "spec:\n  hosts: [web]\n  http:\n"
    "  - retries: {attempts: 0}\n"
    "    route: [{destination: {host: web}}]\n";

enum {
	F_HEAD = 1u << 0,
	F_POST = 1u << 1,
	F_CHUNKED = 1u << 2,
	F_EXPECT = 1u << 3,
	F_OPTIONS = 1u << 4,
	F_UPGRADE = 1u << 5,
	F_SAME = 1u << 6,
	F_NOW = 1u << 7,
	F_QUIT = 1u << 8,
	F_ABORT = 1u << 9,
	F_EOF = 1u << 10,
	F_RESET = 1u << 11,
	F_LATE_EOF = 1u << 12,
	F_LATE_RESET = 1u << 13,
};

static const char flag_letters[] = "HBKXOUSNQAEReR";

struct req {
	unsigned int flags;
	const uint8_t *part[2]; /* the answer, its late part */
	size_t len[2];
	bool has_late;
	int client;
	bool abort_due;
};

struct client {
	struct transport *t;
	uint32_t mask; /* the requests sent on it: the tags it may receive */
	bool eof;      /* it half-closed */
	bool upgrade;  /* it asked for a websocket */
	struct buf got;
};

struct run;

/* An upstream connection and the backend behind it. */
struct up {
	struct run *run;
	struct transport *t;
	const struct transport_cbs *cbs; /* the pool's */
	void *arg;
	struct buf sent;       /* all the backend wrote, tags as attributed */
	size_t taken, offered; /* of sent: taken by the pool, offered to it */
	struct buf scan;       /* what the engine wrote, its last bytes kept for the next scan */
	int last;	       /* the request written last on it, -1: none */
	uint32_t carried;      /* the requests written on it */
	int queue[MAX_REQ];    /* requests to answer, in order */
	size_t q_head, q_len;
	int ans;  /* the request being answered, -1: none */
	int part; /* 0: the answer, 1: its late part */
	size_t pos, cuts;
	bool late_wait; /* the answer is written, its late part waits for a settle */
};

struct run {
	struct loop *loop;
	struct req reqs[MAX_REQ];
	size_t n_reqs;
	struct client clients[MAX_REQ];
	size_t n_clients;
	struct up ups[MAX_UP];
	size_t n_ups;
	unsigned long activity; /* bytes moved by anyone: a round without any is quiet */
};

static struct l7_config *model;
static bool trace; /* FUZZ_POOL_TRACE set: what each client received, for writing seeds */

/* @b around byte @at, marked (at == b->len: no mark, the end). */
static void dump(const struct buf *b, size_t at)
{
	size_t from = at > 2048 ? at - 2048 : 0, to = b->len < at + 512 ? b->len : at + 512;

	for (size_t i = from; i < to; i++) {
		uint8_t c = (uint8_t)b->data[i];

		if (c >= TAG0)
			fprintf(stderr, "%s<tag %u>", i == at ? ">>>" : "", c - TAG0);
		else if (c == '\n')
			fputs("\\n\n", stderr);
		else if (c == '\r')
			fputs("\\r", stderr);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fputc('\n', stderr);
}

static void check_client(struct run *r, size_t i, const char *data, size_t n)
{
	struct client *c = &r->clients[i];
	size_t base = c->got.len;
	char *p = buf_reserve(&c->got, n, SENT_MAX);

	if (!p)
		abort();
	memcpy(p, data, n);
	c->got.len += n;
	for (size_t k = 0; k < n; k++) {
		unsigned int j = (uint8_t)data[k];

		if (j < TAG0 || (c->mask & (1u << (j - TAG0))))
			continue;
		j -= TAG0;
		fprintf(stderr,
			"fuzz_waypoint_pool: client %zu (mask 0x%x) received the tag of request "
			"%u's answer (client %d) at byte %zu of its stream: a response meant for "
			"another client. What it received:\n",
			i, c->mask, j, j < r->n_reqs ? r->reqs[j].client : -1, base + k);
		dump(&c->got, base + k);
		abort();
	}
}

/* The requests the engine wrote on @u since the last look; 0 when it wrote nothing. */
static size_t collect_up(struct up *u)
{
	size_t n, keep;
	const char *o = transport_mem_output(u->t, &n);
	char *p, *s, *at;

	if (!n)
		return 0;
	p = buf_reserve(&u->scan, n, SENT_MAX);
	if (!p)
		abort();
	memcpy(p, o, n);
	u->scan.len += n;
	transport_mem_take(u->t, n);
	u->run->activity += n;
	s = buf_head(&u->scan);
	for (at = s; (at = memmem(at, u->scan.len - (size_t)(at - s), RQ_TAIL, RQ_TAIL_LEN));
	     at++) {
		unsigned int id;

		if (at - s < 5 || memcmp(at - 5, "/rq", 3) || sscanf(at - 2, "%2x", &id) != 1 ||
		    id >= u->run->n_reqs)
			continue;
		u->last = (int)id;
		u->carried |= 1u << id;
		if (u->q_len < MAX_REQ)
			u->queue[(u->q_head + u->q_len++) % MAX_REQ] = (int)id;
		/* Its late part would now land in this request's answer: it is dropped. */
		u->late_wait = false;
	}
	keep = u->scan.len < RQ_LEN - 1 ? u->scan.len : RQ_LEN - 1;
	buf_consume(&u->scan, u->scan.len - keep);
	return n;
}

/* ---- the pool's transport callbacks, seen by the backend first ---- */

static size_t up_data(void *arg, const char *data, size_t len)
{
	struct up *u = arg;
	char *s = u->sent.data;
	size_t took;

	/* Which request went out last, before the pool reads these bytes. */
	collect_up(u);
	if (len > u->sent.len - u->taken)
		abort(); /* the transport holds bytes the backend never wrote */
	for (; u->offered < u->taken + len; u->offered++)
		if ((uint8_t)s[u->offered] >= TAG0 && u->last >= 0)
			s[u->offered] = (char)(TAG0 + u->last);
	took = u->cbs->on_data(u->arg, s + u->taken, len);
	u->taken += took;
	return took;
}

static void up_eof(void *arg)
{
	struct up *u = arg;

	if (u->cbs->on_eof)
		u->cbs->on_eof(u->arg);
}

static void up_drain(void *arg)
{
	struct up *u = arg;

	if (u->cbs->on_drain)
		u->cbs->on_drain(u->arg);
}

static void up_open(void *arg)
{
	struct up *u = arg;

	if (u->cbs->on_open)
		u->cbs->on_open(u->arg);
}

static void up_error(void *arg, int err)
{
	struct up *u = arg;

	u->cbs->on_error(u->arg, err);
}

static const struct transport_cbs up_cbs = {
    .on_data = up_data,
    .on_eof = up_eof,
    .on_drain = up_drain,
    .on_open = up_open,
    .on_error = up_error,
};

static int open_up(void *arg, struct transport *t, const union sockaddr_inet *dst)
{
	struct run *r = arg;
	struct up *u;

	if (r->n_ups == MAX_UP)
		return -EMFILE;
	u = &r->ups[r->n_ups++];
	memset(u, 0, sizeof(*u));
	u->run = r;
	u->t = t;
	u->cbs = t->cbs;
	u->arg = t->arg;
	u->last = u->ans = -1;
	transport_set_cbs(t, &up_cbs, u);
	return 0;
}

/* ---- the backend ---- */

/* Writes the next piece of @u's answer: true when there was one. */
static bool feed_up(struct run *r, struct up *u)
{
	const struct req *q;
	const uint8_t *part, *bar;
	size_t len, n;
	bool final;
	char *p;

	if (transport_mem_closed(u->t, NULL))
		return false;
	if (u->ans < 0 && u->q_len) {
		u->ans = u->queue[u->q_head];
		u->q_head = (u->q_head + 1) % MAX_REQ;
		u->q_len--;
		u->part = 0;
		u->pos = u->cuts = 0;
	}
	if (u->ans < 0 || u->late_wait)
		return false;
	q = &r->reqs[u->ans];
	part = q->part[u->part];
	len = q->len[u->part];
	bar = u->cuts < MAX_CUTS ? memchr(part + u->pos, '|', len - u->pos) : NULL;
	n = bar ? (size_t)(bar - part) - u->pos : len - u->pos;
	final = !bar;
	if (n) {
		p = buf_reserve(&u->sent, n, SENT_MAX);
		if (!p)
			abort();
		for (size_t i = 0; i < n; i++) {
			uint8_t c = part[u->pos + i];

			p[i] = (char)(c == '@' || c >= TAG0 ? TAG0 + u->ans : c);
		}
		if (!transport_mem_input(u->t, p, n))
			u->sent.len += n;
	}
	r->activity += n + 1;
	if (!u->part && !u->pos && !u->cuts && (q->flags & F_ABORT))
		r->reqs[u->ans].abort_due = true;
	u->pos += n + !final;
	u->cuts += !final;
	if (!final)
		return true;
	if (q->flags & (u->part ? F_LATE_EOF : F_EOF))
		transport_mem_input(u->t, NULL, 0);
	else if (q->flags & (u->part ? F_LATE_RESET : F_RESET))
		transport_mem_reset(u->t);
	if (!u->part && q->has_late)
		u->late_wait = true;
	else
		u->ans = -1;
	return true;
}

/* Starts the late parts due: true when one was. */
static bool start_late(struct run *r)
{
	bool any = false;

	for (size_t i = 0; i < r->n_ups; i++) {
		struct up *u = &r->ups[i];

		if (!u->late_wait)
			continue;
		u->late_wait = false;
		u->part = 1;
		u->pos = u->cuts = 0;
		any = true;
	}
	return any;
}

/* One round: the backend's next pieces, the loop, what everyone received. */
static bool round_once(struct run *r, bool *wrote)
{
	unsigned long before = r->activity;

	*wrote = false;
	for (size_t k = 0; k < r->n_reqs; k++)
		if (r->reqs[k].abort_due) {
			r->reqs[k].abort_due = false;
			transport_mem_reset(r->clients[r->reqs[k].client].t);
			*wrote = true;
		}
	for (size_t i = 0; i < r->n_ups; i++)
		*wrote |= feed_up(r, &r->ups[i]);
	loop_run_once(r->loop, 0);
	for (size_t i = 0; i < r->n_clients; i++) {
		size_t n;
		const char *o = transport_mem_output(r->clients[i].t, &n);

		if (!n)
			continue;
		check_client(r, i, o, n);
		transport_mem_take(r->clients[i].t, n);
		r->activity += n;
	}
	for (size_t i = 0; i < r->n_ups; i++)
		collect_up(&r->ups[i]);
	return *wrote || r->activity != before;
}

/*
 * Settled, the pool has read what every connection it keeps received: one left unread while
 * it idles would answer its next request with bytes sent before it (only offering them lets
 * the re-tagging above excuse it).
 */
static void check_read(const struct run *r)
{
	for (size_t i = 0; i < r->n_ups; i++) {
		const struct up *u = &r->ups[i];

		if (transport_mem_closed(u->t, NULL) || u->offered == u->sent.len)
			continue;
		fprintf(stderr,
			"fuzz_waypoint_pool: upstream connection %zu kept open with %zu bytes the "
			"pool never read\n",
			i, u->sent.len - u->offered);
		abort();
	}
}

/* Runs until nothing moves (two quiet rounds), writing the late parts once it is so. */
static void settle(struct run *r)
{
	unsigned int quiet = 0, spin = 0;
	bool wrote;

	while (quiet < 2) {
		if (round_once(r, &wrote))
			quiet = 0;
		else if (++quiet == 2 && start_late(r))
			quiet = 0;
		if (quiet == 2)
			check_read(r);
		spin = wrote ? 0 : spin + 1;
		if (spin > SPIN_MAX) {
			fprintf(stderr, "fuzz_waypoint_pool: the engine never settles\n");
			abort();
		}
	}
}

/* ---- the clients ---- */

static size_t request_bytes(char *out, size_t cap, size_t k, unsigned int f)
{
	const char *method = "GET", *fields = "", *body = "";

	if (f & F_HEAD) {
		method = "HEAD";
	} else if (f & F_POST) {
		method = "POST";
		fields = "content-length: 5\r\n";
		body = "hello";
	} else if (f & F_CHUNKED) {
		method = "POST";
		fields = "transfer-encoding: chunked\r\n";
		body = "5\r\nhello\r\n0\r\n\r\n";
	} else if (f & F_EXPECT) {
		method = "POST";
		fields = "expect: 100-continue\r\ncontent-length: 5\r\n";
		body = "hello";
	} else if (f & F_OPTIONS) {
		method = "OPTIONS";
	} else if (f & F_UPGRADE) {
		fields = "connection: upgrade\r\nupgrade: websocket\r\n";
	}
	return (size_t)snprintf(out, cap, "%s /rq%02zx HTTP/1.1\r\nhost: web\r\n%s\r\n%s", method,
				k, fields, body);
}

static void new_client(struct run *r, struct wp_engine *e)
{
	struct transport_peer peer = {.dest_port = 80, .dest_host = "web.shop.svc.cluster.local"};
	struct client *c = &r->clients[r->n_clients];

	sockaddr_inet_v4(&peer.client, htonl(0x0a000001 + (uint32_t)r->n_clients),
			 (uint16_t)(40000 + r->n_clients));
	memset(c, 0, sizeof(*c));
	c->t = transport_mem_new(r->loop, &peer);
	if (!c->t || wp_engine_serve(e, c->t))
		abort();
	r->n_clients++;
}

static void send_request(struct run *r, struct wp_engine *e, size_t k)
{
	struct req *q = &r->reqs[k];
	struct client *c = k ? &r->clients[r->reqs[k - 1].client] : NULL;
	char buf[256];
	size_t n = request_bytes(buf, sizeof(buf), k, q->flags);

	if (!(q->flags & F_SAME) || !c || c->eof || transport_mem_closed(c->t, NULL)) {
		new_client(r, e);
		c = &r->clients[r->n_clients - 1];
	}
	q->client = (int)(c - r->clients);
	c->mask |= 1u << k;
	c->upgrade |= (q->flags & F_UPGRADE) != 0;
	transport_mem_input(c->t, buf, n);
	if (q->flags & F_QUIT) {
		transport_mem_input(c->t, NULL, 0);
		c->eof = true;
	}
}

/* ---- the input ---- */

static void parse(struct run *r, const uint8_t *data, size_t size)
{
	while (r->n_reqs < MAX_REQ) {
		const uint8_t *end = memmem(data, size, SEP, sizeof(SEP) - 1);
		size_t len = end ? (size_t)(end - data) : size;
		const uint8_t *nl = memchr(data, '\n', len), *tilde;
		struct req *q = &r->reqs[r->n_reqs++];
		size_t flen = nl ? (size_t)(nl - data) : len;

		memset(q, 0, sizeof(*q));
		for (size_t i = 0; i < flen; i++) {
			const char *f = data[i] ? strchr(flag_letters, data[i]) : NULL;

			if (f)
				q->flags |= 1u << (f - flag_letters);
		}
		q->part[0] = nl ? nl + 1 : data + len;
		q->len[0] = nl ? len - flen - 1 : 0;
		tilde = memchr(q->part[0], '~', q->len[0]);
		if (tilde) {
			q->has_late = true;
			q->part[1] = tilde + 1;
			q->len[1] = (size_t)(q->part[0] + q->len[0] - q->part[1]);
			q->len[0] = (size_t)(tilde - q->part[0]);
		}
		if (!end)
			break;
		data = end + sizeof(SEP) - 1;
		size -= len + sizeof(SEP) - 1;
	}
}

static int init(void)
{
	char err[256];

	model = l7_world_compile(yaml, err, sizeof(err));
	if (!model) {
		fprintf(stderr, "fuzz_waypoint_pool: %s\n", err);
		abort();
	}
	trace = getenv("FUZZ_POOL_TRACE") != NULL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wp_engine_opts o = {.log_fd = -1, .shadow_suffix = true};
	struct l7_config *copy;
	struct wp_engine *e;
	struct wp_gen *g;
	struct run *r;
	char err[256];
	cJSON *j;

	if (!model && init())
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	parse(r, data, size);
	/* Each input gets a generation of its own: the cluster's circuit breakers live in it. */
	j = l7_to_json(model);
	copy = j ? l7_from_json(j, err, sizeof(err)) : NULL;
	cJSON_Delete(j);
	g = copy ? wp_gen_new(copy, 1, err, sizeof(err)) : NULL;
	r->loop = loop_create();
	if (!g || !r->loop)
		abort();
	o.cn = connector_mem_new(r->loop, open_up, r);
	e = o.cn ? wp_engine_new(r->loop, g, &o) : NULL;
	if (!e)
		abort();

	for (size_t k = 0; k < r->n_reqs; k++) {
		bool wrote;

		if (k && !(r->reqs[k].flags & F_NOW))
			settle(r);
		send_request(r, e, k);
		round_once(r, &wrote);
	}
	settle(r);
	/* Everyone leaves: the clients first, then the backend. */
	for (size_t i = 0; i < r->n_clients; i++)
		if (!r->clients[i].eof && !transport_mem_closed(r->clients[i].t, NULL))
			transport_mem_input(r->clients[i].t, NULL, 0);
	settle(r);
	/* Again for the connections opened meanwhile (a pipelined request sent at last). */
	for (size_t seen = 0; seen < r->n_ups;) {
		seen = r->n_ups;
		for (size_t i = 0; i < r->n_ups; i++)
			if (!transport_mem_closed(r->ups[i].t, NULL))
				transport_mem_input(r->ups[i].t, NULL, 0);
		settle(r);
	}
	for (size_t i = 0; trace && i < r->n_clients; i++) {
		fprintf(stderr, "-- client %zu (mask 0x%x):\n", i, r->clients[i].mask);
		dump(&r->clients[i].got, r->clients[i].got.len);
	}
	for (size_t i = 0; trace && i < r->n_ups; i++) {
		bool reset, closed = transport_mem_closed(r->ups[i].t, &reset);

		fprintf(stderr, "-- upstream %zu carried 0x%x, %s\n", i, r->ups[i].carried,
			closed ? (reset ? "reset by the pool" : "closed by the pool") : "open");
	}

	/* Every peer left: nothing may be left waiting (the loop drains). */
	if (wp_engine_active(e)) {
		fprintf(stderr,
			"fuzz_waypoint_pool: %zu connections or requests still active after every "
			"client and upstream connection ended\n",
			wp_engine_active(e));
		abort();
	}
	wp_engine_destroy(e);
	loop_run_once(r->loop, 0);
	for (size_t i = 0; i < r->n_clients; i++) {
		transport_mem_free(r->clients[i].t);
		buf_free(&r->clients[i].got);
	}
	for (size_t i = 0; i < r->n_ups; i++) {
		transport_mem_free(r->ups[i].t);
		buf_free(&r->ups[i].sent);
		buf_free(&r->ups[i].scan);
	}
	connector_destroy(o.cn);
	wp_gen_put(g);
	loop_destroy(r->loop);
	free(r);
	return 0;
}
