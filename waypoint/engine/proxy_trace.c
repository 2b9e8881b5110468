// SPDX-License-Identifier: Apache-2.0
/*
 * Tracing in the request engine, as Envoy's HTTP connection manager and router do it for Istio
 * (struct l7_telemetry: the Telemetry API resolved for the proxy and the request's service).
 *
 * When a request is routed, its trace context is read (trace.h), a sampling decision made (the
 * caller's when it made one; else x-request-id's hash when useRequestIdForTraceSampling, else a
 * random draw at randomSamplingPercentage), and the upstream gets the proxy's context: the
 * same trace, the proxy's client span as parent. When the request ends, a sampled one leaves
 * a SERVER span (named as Istio's decorator names it: "host:port" of the destination Service,
 * a slash and an asterisk; the child of the caller's span) and, when it went upstream, a CLIENT
 * span ("router <cluster> egress", its child), with Istio's tags. A request answered by the proxy
 * itself leaves the server span alone.
 *
 * Spans wait in a bounded queue per provider and worker and leave in batches (every second,
 * or at TRACE_BATCH spans), one export in flight per queue, on the worker's loop through the
 * engine's own upstream pools: Zipkin v2 JSON (POST), OTLP protobuf over HTTP (POST) or over
 * gRPC (TraceService/Export on a pooled HTTP/2 connection). The request path never waits for
 * the collector: a full queue, an unknown collector or a failed export drops spans and counts
 * them (ambit_tracing_spans_total{outcome="dropped"}).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "ambit/fmt.h"
#include "ambit/log.h"
#include "../config.h"
#include "proxy_priv.h"

#define TRACE_QUEUE_MAX 2048
#define TRACE_BATCH 256
#define TRACE_FLUSH_MS 1000
#define TRACE_TIMEOUT_MS 5000
#define TRACE_MAX_EXPORTERS 4
#define TRACE_DEFAULT_TAG_LENGTH 256
#define ZIPKIN_PATH "/api/v2/spans"
#define OTLP_PATH "/v1/traces"
#define OTLP_GRPC_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

/* One provider's queue and export in flight. */
struct wp_trace_exp {
	struct wp_engine *e;
	char *provider;
	struct wp_span *q; /* TRACE_QUEUE_MAX, made on first use */
	size_t n;
	uint64_t last_ms;
	/* The export in flight. */
	bool busy, got_response;
	size_t n_sending;
	struct wp_view *view;
	struct wp_upstream *up;
	struct h1_pool_wait w;
	struct h1_client *c;
	struct h1_head head;
	int status;
	uint8_t *body;
	size_t body_len, body_sent;
	struct loop_timer timer;
	struct wp_h2up *h2;
	struct h2_stream *s;
	int grpc_status;
};

struct wp_tracer {
	size_t n;
	struct wp_trace_exp *x[TRACE_MAX_EXPORTERS];
	char ip[INET6_ADDRSTRLEN];
	char host[128];
	char node[600];	   /* node_id, made once per generation */
	uint64_t node_gen; /* the generation it was made for (0: none yet) */
};

/* ---- exports ---- */

static void exp_end(struct wp_trace_exp *x, bool ok)
{
	loop_timer_cancel(x->e->loop, &x->timer);
	h1_pool_cancel(&x->w);
	if (x->s)
		wp_h2up_call_end(x->h2, x->s);
	x->s = NULL;
	x->h2 = NULL;
	if (x->c)
		h1_pool_put(x->c, ok, !ok);
	x->c = NULL;
	if (x->up)
		h1_pool_request_done(x->up->pool);
	x->up = NULL;
	if (x->view)
		x->view->users--;
	x->view = NULL;
	h1_head_free(&x->head);
	free(x->body);
	x->body = NULL;
	if (ok) {
		wp_trace_count(WP_TRACE_EXPORTED, x->n_sending);
	} else {
		wp_trace_count(WP_TRACE_DROPPED, x->n_sending);
		wp_trace_count(WP_TRACE_EXPORT_FAILED, 1);
	}
	x->n_sending = 0;
	x->busy = false;
}

static void exp_failed(struct wp_trace_exp *x, const char *why)
{
	pr_debug("tracing %s: export of %zu spans failed: %s", x->provider, x->n_sending, why);
	exp_end(x, false);
}

static void h_response(void *arg, struct h1_head *head)
{
	struct wp_trace_exp *x = arg;

	x->status = head->status;
	x->got_response = true;
}

static void h_body(void *arg, const char *data, size_t len)
{
}

static void h_drain(void *arg)
{
}

static void h_end(void *arg)
{
	struct wp_trace_exp *x = arg;
	char why[32];

	if (x->status >= 200 && x->status < 300) {
		exp_end(x, true);
		return;
	}
	snprintf(why, sizeof(why), "HTTP status %d", x->status);
	exp_failed(x, why);
}

static void h_error(void *arg, int err)
{
	exp_failed(arg, strerror(-err));
}

static const struct h1_client_ops exp_ops = {
    .on_response = h_response,
    .on_body = h_body,
    .on_end = h_end,
    .on_drain = h_drain,
    .on_error = h_error,
};

static void exp_ready(struct h1_pool_wait *w, struct h1_client *c)
{
	struct wp_trace_exp *x =
	    (struct wp_trace_exp *)((char *)w - offsetof(struct wp_trace_exp, w));

	x->c = c;
	h1_client_bind(c, &exp_ops, x);
	if (h1_client_request(c, &x->head, H1_FRAMING_LENGTH, x->body_len) ||
	    h1_client_body(c, (const char *)x->body, x->body_len) || h1_client_end(c))
		exp_failed(x, "cannot send");
}

static void exp_fail(struct h1_pool_wait *w, int err)
{
	exp_failed((struct wp_trace_exp *)((char *)w - offsetof(struct wp_trace_exp, w)),
		   "cannot connect");
}

static void exp_timeout(struct loop_timer *t)
{
	exp_failed((struct wp_trace_exp *)((char *)t - offsetof(struct wp_trace_exp, timer)),
		   "timeout");
}

/* gRPC: TraceService/Export, one length-prefixed message. */
static void g_headers(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		      bool end_stream)
{
	struct wp_trace_exp *x = arg;
	const char *st = h2_header_get(h, n, ":status"), *gs = h2_header_get(h, n, "grpc-status");

	if (st && !x->got_response) {
		x->status = atoi(st);
		x->got_response = true;
	}
	if (gs)
		x->grpc_status = atoi(gs);
}

static void g_data(void *arg, struct h2_stream *s, const uint8_t *data, size_t len)
{
	h2_stream_consume(s, len);
}

static void g_end(void *arg, struct h2_stream *s)
{
	struct wp_trace_exp *x = arg;
	char why[48];

	if (x->status == 200 && x->grpc_status == 0) {
		exp_end(x, true);
		return;
	}
	snprintf(why, sizeof(why), "HTTP status %d, grpc-status %d", x->status, x->grpc_status);
	exp_failed(x, why);
}

static void g_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	struct wp_trace_exp *x = arg;

	if (x->busy)
		exp_failed(x, reason);
}

static ssize_t g_provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	struct wp_trace_exp *x = arg;
	size_t n = x->body_len - x->body_sent < len ? x->body_len - x->body_sent : len;

	memcpy(buf, x->body + x->body_sent, n);
	x->body_sent += n;
	*eof = x->body_sent == x->body_len;
	return (ssize_t)n;
}

static const struct h2_stream_ops grpc_ops = {
    .on_headers = g_headers,
    .on_data = g_data,
    .on_end = g_end,
    .on_close = g_close,
    .provide = g_provide,
};

/* The provider's settings in the engine's current generation, or NULL. */
static const struct l7_telemetry *provider_of(const struct wp_gen *g, const char *name)
{
	for (size_t i = 0; i < g->l7->n_telemetry; i++)
		if (g->l7->telemetry[i].provider && !strcmp(g->l7->telemetry[i].provider, name))
			return &g->l7->telemetry[i];
	return NULL;
}

static void drop_queue(struct wp_trace_exp *x)
{
	wp_trace_count(WP_TRACE_DROPPED, x->n);
	x->n = 0;
}

/* The queue's spans encoded for provider @t into x->body. 0 or -ENOMEM. */
static int encode(struct wp_trace_exp *x, const struct l7_telemetry *t, const struct wp_gen *g)
{
	struct wp_tracer *tr = x->e->tracer;
	const struct wp_span **v = calloc(x->n_sending ? x->n_sending : 1, sizeof(*v));
	char service[320];
	struct wp_trace_resource res = {
	    .service = service, .ip = tr->ip[0] ? tr->ip : NULL, .trace_id_128 = t->p.trace_id_128};
	int err;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < x->n_sending; i++)
		v[i] = &x->q[i];
	snprintf(service, sizeof(service), "%s.%s", g->l7->waypoint_name,
		 g->l7->waypoint_namespace);
	if (t->p.kind == CONFIG_TRACE_ZIPKIN) {
		struct buf b = {0};

		err = wp_trace_zipkin(v, x->n_sending, &res, &b);
		if (!err && !(x->body = malloc(b.len ? b.len : 1)))
			err = -ENOMEM;
		if (!err) {
			memcpy(x->body, buf_head(&b), b.len);
			x->body_len = b.len;
		}
		buf_free(&b);
	} else {
		uint8_t *m;
		size_t len;

		err = wp_trace_otlp(v, x->n_sending, &res, &m, &len);
		if (!err && t->p.kind == CONFIG_TRACE_OTLP_GRPC) {
			/* gRPC's message prefix: not compressed, then the length (big-endian). */
			if (!(x->body = malloc(len + 5))) {
				err = -ENOMEM;
			} else {
				x->body[0] = 0;
				x->body[1] = (uint8_t)(len >> 24);
				x->body[2] = (uint8_t)(len >> 16);
				x->body[3] = (uint8_t)(len >> 8);
				x->body[4] = (uint8_t)len;
				memcpy(x->body + 5, m, len);
				x->body_len = len + 5;
			}
			free(m);
		} else if (!err) {
			x->body = m;
			x->body_len = len;
		}
	}
	free(v);
	return err;
}

static int http_head(struct wp_trace_exp *x, const struct l7_telemetry *t)
{
	char authority[600];
	const char *path = t->p.path			      ? t->p.path
			   : t->p.kind == CONFIG_TRACE_ZIPKIN ? ZIPKIN_PATH
							      : OTLP_PATH;
	int err;

	snprintf(authority, sizeof(authority), "%s:%u", t->p.service, t->p.port);
	x->head.method = h1_head_strdup(&x->head, "POST");
	x->head.target = h1_head_strdup(&x->head, path);
	x->head.minor = 1;
	if (!x->head.method || !x->head.target)
		return -ENOMEM;
	err = http_fields_set(&x->head.fields, "host", authority);
	err = err
		  ?: http_fields_set(&x->head.fields, "content-type",
				     t->p.kind == CONFIG_TRACE_ZIPKIN ? "application/json"
								      : "application/x-protobuf");
	for (size_t i = 0; !err && i < t->p.headers.n; i++)
		err = http_fields_set(&x->head.fields, t->p.headers.items[i].key,
				      t->p.headers.items[i].value);
	return err;
}

static int grpc_start(struct wp_trace_exp *x, const struct l7_telemetry *t, struct wp_gen *g,
		      struct wp_cluster *c, int host)
{
	char authority[600], timeout[24];
	struct h2_header h[7 + 16];
	size_t n = 0;

	snprintf(authority, sizeof(authority), "%s:%u", t->p.service, t->p.port);
	snprintf(timeout, sizeof(timeout), "%llum",
		 (unsigned long long)(t->p.timeout_ms ? t->p.timeout_ms : TRACE_TIMEOUT_MS));
	h[n++] = H2_HDR(":method", "POST");
	h[n++] = H2_HDR(":scheme", "http");
	h[n++] = H2_HDR(":authority", authority);
	h[n++] = H2_HDR(":path", OTLP_GRPC_PATH);
	h[n++] = H2_HDR("content-type", "application/grpc");
	h[n++] = H2_HDR("te", "trailers");
	h[n++] = H2_HDR("grpc-timeout", timeout);
	for (size_t i = 0; i < t->p.headers.n && i < 16; i++)
		h[n++] = H2_HDR(t->p.headers.items[i].key, t->p.headers.items[i].value);
	x->grpc_status = -1;
	x->h2 = wp_h2up_call(x->e, g, c, host, h, n, &grpc_ops, x, &x->s);
	return x->h2 ? 0 : -EHOSTUNREACH;
}

/* Sends what @x's queue holds, unless an export is in flight. */
static void exp_flush(struct wp_trace_exp *x)
{
	struct wp_engine *e = x->e;
	struct wp_gen *g = e->view->gen;
	const struct l7_telemetry *t = provider_of(g, x->provider);
	struct wp_cluster *c;
	struct wp_upstream *u;
	int h;

	x->last_ms = loop_now_ms(e->loop);
	if (x->busy || !x->n)
		return;
	c = t && t->service >= 0 ? wp_gen_cluster(g, t->service, NULL, t->p.port, false) : NULL;
	u = c ? wp_view_upstream(e, e->view, c) : NULL;
	h = u ? wp_upstream_pick(u, false, 0, NULL, 0) : -1;
	if (h < 0 || h1_pool_request_begin(u->pool)) {
		pr_debug("tracing %s: no collector to send %zu spans to", x->provider, x->n);
		drop_queue(x);
		return;
	}
	x->up = u;
	x->view = e->view;
	x->view->users++;
	x->busy = true;
	x->got_response = false;
	x->status = 0;
	x->body_sent = 0;
	x->n_sending = x->n;
	x->n = 0;
	if (encode(x, t, g)) {
		exp_failed(x, "out of memory");
		return;
	}
	x->timer.fn = exp_timeout;
	loop_timer_arm(e->loop, &x->timer,
		       (unsigned int)(t->p.timeout_ms ? t->p.timeout_ms : TRACE_TIMEOUT_MS));
	if (t->p.kind == CONFIG_TRACE_OTLP_GRPC) {
		if (grpc_start(x, t, g, c, h))
			exp_failed(x, "cannot open a stream");
		return;
	}
	x->w.on_ready = exp_ready;
	x->w.on_fail = exp_fail;
	if (wp_cluster_per_request(c) || http_head(x, t) ||
	    h1_pool_get(u->pool, &c->addr[h], c->ep[h]->identity, &x->w))
		exp_failed(x, "cannot connect");
}

static struct wp_trace_exp *exporter(struct wp_engine *e, const char *provider)
{
	struct wp_tracer *tr = e->tracer;
	struct wp_trace_exp *x;

	if (!tr) {
		if (!(tr = e->tracer = calloc(1, sizeof(*tr))))
			return NULL;
		if (gethostname(tr->host, sizeof(tr->host) - 1))
			snprintf(tr->host, sizeof(tr->host), "unknown");
	}
	for (size_t i = 0; i < tr->n; i++)
		if (!strcmp(tr->x[i]->provider, provider))
			return tr->x[i];
	if (tr->n == TRACE_MAX_EXPORTERS)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x || !(x->provider = strdup(provider)) ||
	    !(x->q = calloc(TRACE_QUEUE_MAX, sizeof(*x->q)))) {
		if (x)
			free(x->provider);
		free(x);
		return NULL;
	}
	x->e = e;
	x->last_ms = loop_now_ms(e->loop);
	tr->x[tr->n++] = x;
	return x;
}

void wp_trace_flush(struct wp_engine *e)
{
	struct wp_tracer *tr = e->tracer;
	uint64_t now = loop_now_ms(e->loop);

	for (size_t i = 0; tr && i < tr->n; i++)
		if (tr->x[i]->n && now - tr->x[i]->last_ms >= TRACE_FLUSH_MS)
			exp_flush(tr->x[i]);
}

void wp_trace_destroy(struct wp_engine *e)
{
	struct wp_tracer *tr = e->tracer;

	for (size_t i = 0; tr && i < tr->n; i++) {
		struct wp_trace_exp *x = tr->x[i];

		if (x->busy)
			exp_end(x, false);
		drop_queue(x);
		for (size_t k = 0; k < TRACE_QUEUE_MAX; k++)
			wp_span_free(&x->q[k]);
		free(x->q);
		free(x->provider);
		free(x);
	}
	free(tr);
	e->tracer = NULL;
}

/* ---- requests ---- */

static const struct l7_telemetry *tracing_of(const struct wp_req *r)
{
	const struct l7_telemetry *t = wp_req_telemetry(r, NULL);

	return t && t->provider ? t : NULL;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* FNV-1a of the request id: the same decision at every proxy that sees it. */
static uint32_t id_draw(const char *id)
{
	uint32_t h = 2166136261u;

	for (; id && *id; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h % 1000000u;
}

/* Reads @r's context and decides; true when @r is traced. */
static bool start(struct wp_req *r)
{
	struct wp_req_trace *tc = &r->trace;
	const struct l7_telemetry *t = tracing_of(r);

	if (tc->begun)
		return tc->on;
	tc->begun = true;
	if (!t)
		return false;
	tc->on = true;
	if (!wp_trace_extract(&r->head.fields, &tc->ctx))
		wp_trace_random_id(tc->ctx.trace_id, 16);
	if (tc->ctx.sampled >= 0)
		tc->sampled = tc->ctx.sampled;
	else
		tc->sampled =
		    (t->use_request_id ? id_draw(r->request_id)
				       : (uint32_t)(wp_random() % 1000000u)) < t->sampling_ppm;
	wp_trace_random_id(tc->server_id, 8);
	return true;
}

void wp_trace_begin(struct wp_req *r)
{
	struct wp_req_trace *tc = &r->trace;

	if (!start(r))
		return;
	wp_trace_random_id(tc->client_id, 8);
	tc->client = true;
	tc->client_start_us = now_us();
	if (wp_trace_inject(&r->head.fields, &tc->ctx, tc->client_id, tc->server_id, tc->sampled))
		pr_debug("tracing: out of memory writing the trace context");
}

/* The custom tags of @t on @s. */
static int custom_tags(struct wp_span *s, const struct l7_telemetry *t, const struct wp_req *r,
		       size_t max)
{
	int err = 0;

	for (size_t i = 0; !err && i < t->n_tags; i++) {
		const struct config_custom_tag *g = &t->tags[i];
		const char *v = g->kind == CONFIG_TAG_LITERAL ? g->value
				: g->kind == CONFIG_TAG_ENVIRONMENT
				    ? getenv(g->value)
				    : http_fields_get(&r->head.fields, g->value);

		err = wp_span_tag(s, g->tag, v ? v : g->default_value, max);
	}
	return err;
}

/* Tags both spans carry. */
static int common_tags(struct wp_span *s, const struct wp_req *r, const struct l7_telemetry *t,
		       const struct wp_labels_buf *lb, const struct wp_record *rec, size_t max)
{
	const struct l7_config *l7 = r->view->gen->l7;
	struct wp_tracer *tr = r->conn->e->tracer;
	const char *node = tr->node, *scheme = r->conn->peer.tls ? "https://" : "http://";
	const char *auth = r->authority ? r->authority : "",
		   *path = r->orig_path ? r->orig_path : "";
	char status[24], url[1024], flags[64], size[2][24];
	size_t sl = strlen(scheme), al = strlen(auth), pl = strlen(path);
	int err;

	if (tr->node_gen != r->view->gen->seq) {
		snprintf(tr->node, sizeof(tr->node), "%s~%s~%s.%s~%s.svc.cluster.local",
			 l7->gateway ? "router" : "waypoint", tr->ip[0] ? tr->ip : "unknown",
			 tr->host, l7->waypoint_namespace, l7->waypoint_namespace);
		tr->node_gen = r->view->gen->seq;
	}
	fmt_u64(status, (uint64_t)(r->status > 0 ? r->status : 0));
	if (sl + al + pl < sizeof(url)) {
		memcpy(url, scheme, sl);
		memcpy(url + sl, auth, al);
		memcpy(url + sl + al, path, pl + 1);
	} else {
		snprintf(url, sizeof(url), "%s%s%s", scheme, auth, path);
	}
	wp_req_flags_text(r, flags, sizeof(flags));
	fmt_u64(size[0], r->bytes_in);
	fmt_u64(size[1], r->bytes_out);
	err = wp_span_tag(s, "istio.canonical_service", l7->waypoint_name, max);
	err = err ?: wp_span_tag(s, "istio.canonical_revision", "latest", max);
	err = err
		  ?: wp_span_tag(s, "istio.mesh_id", l7->mesh_id ? l7->mesh_id : "cluster.local",
				 max);
	err = err ?: wp_span_tag(s, "istio.namespace", l7->waypoint_namespace, max);
	err = err ?: wp_span_tag(s, "istio.cluster_id", r->view->gen->cluster_id, max);
	err = err ?: wp_span_tag(s, "node_id", node, max);
	err = err ?: wp_span_tag(s, "component", "proxy", max);
	s->fixed = s->n_tags; /* the proxy's own so far: the same on its every span */
	err = err ?: wp_span_tag(s, "guid:x-request-id", r->request_id, max);
	err = err ?: wp_span_tag(s, "http.method", r->head.method, max);
	err = err ?: wp_span_tag(s, "http.url", url, max);
	err = err ?: wp_span_tag(s, "http.protocol", rec->protocol, max);
	err = err ?: wp_span_tag(s, "user_agent", r->user_agent ? r->user_agent : "-", max);
	err = err ?: wp_span_tag(s, "request_size", size[0], max);
	err = err ?: wp_span_tag(s, "response_size", size[1], max);
	err = err ?: wp_span_tag(s, "http.status_code", status, max);
	err = err ?: wp_span_tag(s, "response_flags", flags[0] ? flags : "-", max);
	err = err ?: wp_span_tag(s, "istio.source_workload", rec->source_workload, max);
	err = err ?: wp_span_tag(s, "istio.source_namespace", rec->source_namespace, max);
	err = err ?: wp_span_tag(s, "istio.destination_workload", rec->destination_workload, max);
	err = err ?: wp_span_tag(s, "istio.destination_namespace", rec->destination_namespace, max);
	err = err ?: wp_span_tag(s, "istio.destination_service", rec->destination_service, max);
	if (r->up) {
		err = err ?: wp_span_tag(s, "upstream_cluster", r->up->c->name, max);
		err = err ?: wp_span_tag(s, "upstream_cluster.name", r->up->c->name, max);
	}
	if (!err && (r->status >= 500 || !r->status))
		err = wp_span_tag(s, "error", "true", max);
	(void)lb;
	return err ?: custom_tags(s, t, r, max);
}

/* @a @b @c @d into @out (@len bytes), cut to fit: a span's name, made per request without printf.
 */
static void join(char *out, size_t len, const char *a, const char *b, const char *c, const char *d)
{
	const char *parts[4] = {a, b, c, d};
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		size_t l = strlen(parts[i]);

		if (l > len - 1 - n)
			l = len - 1 - n;
		memcpy(out + n, parts[i], l);
		n += l;
	}
	out[n] = '\0';
}

/* A span slot of @x's queue, or NULL (full: the span is dropped and counted). */
static struct wp_span *slot(struct wp_trace_exp *x)
{
	if (x->n == TRACE_QUEUE_MAX) {
		wp_trace_count(WP_TRACE_DROPPED, 1);
		return NULL;
	}
	return &x->q[x->n];
}

void wp_trace_finish(struct wp_req *r)
{
	struct wp_req_trace *tc = &r->trace;
	struct wp_engine *e = r->conn->e;
	const struct l7_telemetry *t;
	struct wp_trace_exp *x;
	struct wp_gen *g = r->view->gen;
	const struct l7_service *svc = r->svc >= 0 ? &g->l7->services[r->svc] : NULL;
	const struct l7_endpoint *ep = r->up && r->host >= 0 ? r->up->c->ep[r->host] : NULL;
	struct wp_record rec = {0};
	struct wp_labels_buf lb;
	struct wp_span *s;
	char name[600];
	uint64_t end = now_us(), start_us;
	size_t max;
	uint16_t n_common;

	if (!start(r) || !tc->sampled)
		return;
	t = tracing_of(r);
	if (!t || t->disable_span_reporting || !(x = exporter(e, t->provider)))
		return;
	if (!e->tracer->ip[0] && r->conn->peer.local.sa.sa_family)
		sockaddr_inet_ntop(&r->conn->peer.local, e->tracer->ip, sizeof(e->tracer->ip));
	if (g->l7->gateway)
		svc = r->up ? r->up->c->svc : NULL;
	max = t->p.max_tag_length ? t->p.max_tag_length : TRACE_DEFAULT_TAG_LENGTH;
	rec.protocol = r->conn->h2s ? "HTTP/2" : r->head.minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
	wp_record_source(g, &r->conn->peer, &rec, &lb);
	wp_record_destination(g, svc, ep, &rec, &lb);
	start_us =
	    (uint64_t)r->start_wall.tv_sec * 1000000u + (uint64_t)r->start_wall.tv_nsec / 1000u;
	/* Istio's decorator: the destination's host and port, any path. */
	if (svc && !svc->workload) {
		char port[24];

		fmt_u64(port, r->up ? r->up->c->port : r->conn->peer.dest_port);
		join(name, sizeof(name), svc->hostname, ":", port, "/*");
	} else {
		join(name, sizeof(name), r->authority ? r->authority : "-", "/*", "", "");
	}
	if (!(s = slot(x)) || wp_span_begin(s, name))
		return;
	memcpy(s->trace_id, tc->ctx.trace_id, 16);
	memcpy(s->span_id, tc->server_id, 8);
	memcpy(s->parent_id, tc->ctx.parent_id, 8);
	s->has_parent = tc->ctx.has_parent;
	s->start_us = start_us;
	s->duration_us = end > start_us ? end - start_us : 0;
	s->error = r->status >= 500 || !r->status;
	if (common_tags(s, r, t, &lb, &rec, max))
		return; /* not queued */
	n_common = s->n_tags;
	if (wp_span_tag(s, "peer.address", r->conn->addr_text[1][0] ? r->conn->addr_text[1] : NULL,
			max))
		return;
	x->n++;
	if (tc->client && r->up) {
		const struct wp_span *server = s;

		join(name, sizeof(name), "router ", r->up->c->name, " egress", "");
		/* The same tags but the peer's: copied, not made again. */
		if (!(s = slot(x)) || wp_span_begin_from(s, server, n_common, name))
			return;
		memcpy(s->trace_id, tc->ctx.trace_id, 16);
		memcpy(s->span_id, tc->client_id, 8);
		memcpy(s->parent_id, tc->server_id, 8);
		s->has_parent = true;
		s->client = true;
		s->start_us = tc->client_start_us;
		s->duration_us = end > tc->client_start_us ? end - tc->client_start_us : 0;
		s->error = r->status >= 500 || !r->status;
		if (wp_span_tag(s, "upstream_address",
				r->host >= 0 ? r->up->c->addr_text[r->host] : NULL, max) ||
		    wp_span_tag(s, "peer.address",
				r->host >= 0 ? r->up->c->addr_text[r->host] : NULL, max))
			return;
		x->n++;
	}
	if (x->n >= TRACE_BATCH)
		exp_flush(x);
}
