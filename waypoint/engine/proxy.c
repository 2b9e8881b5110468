// SPDX-License-Identifier: Apache-2.0
/*
 * The request engine's downstream side (proxy.h): a request head in, Envoy's HTTP connection
 * manager work on it (hop-by-hop fields, x-forwarded-for / -proto, x-request-id), then the
 * decisions in Istio's filter order: route (404 NR when none matches), CORS, fault (delay DI,
 * abort FI), redirect or direct response, rewrite and header operations, the weighted
 * destination and its cluster; proxy_up.c forwards. Every request ends in wp_req_finish: one
 * access-log line and the metrics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "ambit/fmt.h"
#include "ambit/log.h"
#include "ambit/re2.h"
#include "../authn.h"
#include "../fault.h"
#include "../headers.h"
#include "http/http_uri.h"
#include "proxy_priv.h"
#include "../rewrite.h"
#include "../route.h"

/* ---- views of generations ---- */

static struct wp_view *view_new(struct wp_gen *gen)
{
	struct wp_view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->ups = calloc(gen->n_clusters + 1, sizeof(*v->ups));
	if (!v->ups) {
		free(v);
		return NULL;
	}
	v->gen = wp_gen_get(gen);
	return v;
}

static void view_free(struct wp_view *v)
{
	for (size_t i = 0; i < v->gen->n_clusters; i++)
		wp_upstream_destroy(&v->ups[i]);
	wp_gen_put(v->gen);
	free(v->ups);
	free(v);
}

/* Retired views go once nothing uses them. */
static void views_collect(struct wp_engine *e)
{
	for (struct wp_view **pp = &e->retired; *pp;) {
		struct wp_view *v = *pp;

		if (v->users) {
			pp = &v->next;
			continue;
		}
		*pp = v->next;
		view_free(v);
	}
}

struct wp_upstream *wp_view_upstream(struct wp_engine *e, struct wp_view *v, struct wp_cluster *c)
{
	struct wp_upstream *u = &v->ups[wp_gen_cluster_index(v->gen, c)];

	if (!u->ready &&
	    wp_upstream_init(u, c, e->loop, e->o.cn, v->gen->cluster_id, v->gen->network))
		return NULL;
	return u;
}

/* ---- the record ---- */

/* Envoy's response flags, in the order Envoy prints them (ResponseFlagUtils). */
static const char *const flag_order[] = {"UH", "UT",   "UR", "UF",  "UC", "UO",	 "NR",	"DI", "FI",
					 "RL", "UAEX", "DC", "URX", "SI", "DPE", "UPE", "NC", "DF"};

void wp_req_flag(struct wp_req *r, const char *flag)
{
	if (!*flag)
		return;
	for (size_t i = 0; i < sizeof(flag_order) / sizeof(flag_order[0]); i++)
		if (!strcmp(flag, flag_order[i]))
			r->flag_bits |= 1u << i;
}

void wp_req_flags_text(const struct wp_req *r, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(flag_order) / sizeof(flag_order[0]) && n < len; i++)
		if (r->flag_bits & (1u << i))
			n +=
			    (size_t)snprintf(out + n, len - n, "%s%s", n ? "," : "", flag_order[i]);
}

/*
 * Istio's request metrics of @r: the series is found by what decides its labels (the
 * generation, the client's endpoint or identity, the destination, the outcome), and the labels
 * are worked out only the first time (wp_series_key).
 */
static void count(struct wp_req *r, struct wp_record *rec)
{
	struct wp_conn *conn = r->conn;
	const struct transport_peer *p = &conn->peer;
	struct wp_gen *g = r->view->gen;
	const struct l7_service *svc = r->svc >= 0 ? &g->l7->services[r->svc] : NULL;
	const struct l7_endpoint *ep = r->up && r->host >= 0 ? r->up->c->ep[r->host] : NULL;
	struct wp_series_key k;
	struct ipaddr ip;
	struct wp_metric_ops mo;
	struct wp_tag_op ops[16];
	char vals[16][WP_TAG_VALUE_MAX];

	/* A gateway's destination is the Service its route chose, not its own listener's. */
	if (g->l7->gateway)
		svc = r->up ? r->up->c->svc : NULL;
	struct wp_labels_buf lb;

	/* Telemetry's overrides: the labels are made each time (their values may vary). */
	if (wp_req_metric_ops(r, &mo, ops, vals, 16)) {
		rec->mo = &mo;
		wp_record_source(g, p, rec, &lb);
		wp_record_destination(g, svc, ep, rec, &lb);
		wp_stats_count(conn->e->o.stats, rec);
		rec->mo = NULL;
		return;
	}

	if (!conn->peer_hashed) {
		conn->peer_hash = wp_series_peer(p->identity, p->baggage);
		conn->peer_hashed = true;
	}
	memset(&k, 0, sizeof(k));
	k.gen = g->seq;
	k.src = wp_peer_client_ip(p, &ip) ? wp_gen_endpoint(g, &ip) : NULL;
	k.peer = conn->peer_hash;
	k.svc = svc;
	k.ep = ep;
	k.status = r->status;
	k.grpc = r->grpc_status;
	k.flags = r->flag_bits;
	k.mtls = p->mtls;
	if (wp_stats_count_key(conn->e->o.stats, &k, rec))
		return;
	wp_record_source(g, p, rec, &lb);
	wp_record_destination(g, svc, ep, rec, &lb);
	wp_stats_count_labels(conn->e->o.stats, &k, rec);
}

static void record(struct wp_req *r)
{
	struct wp_engine *e = r->conn->e;
	const struct transport_peer *p = &r->conn->peer;
	struct wp_record rec = {0};
	char flags[64];

	rec.start = r->start_wall;
	rec.method = r->head.method;
	rec.path = r->orig_path;
	if (r->head.method)
		rec.protocol = r->conn->h2s	    ? "HTTP/2"
			       : r->head.minor == 0 ? "HTTP/1.0"
						    : "HTTP/1.1";
	rec.authority = r->authority;
	rec.user_agent = r->user_agent;
	rec.request_id = r->request_id;
	rec.forwarded_for = r->xff;
	rec.status = r->status;
	wp_req_flags_text(r, flags, sizeof(flags));
	rec.flags = flags[0] ? flags : "-";
	rec.details = r->details;
	rec.bytes_received = r->bytes_in;
	rec.bytes_sent = r->bytes_out;
	rec.duration_ms = loop_now_ms(e->loop) - r->start_ms;
	rec.upstream_ms = r->upstream_ms;
	rec.upstream_host = "-";
	if (r->up && r->host >= 0) {
		rec.upstream_host = r->up->c->addr_text[r->host];
		rec.upstream_cluster = r->up->c->name;
	}
	rec.route_name = r->route ? r->route->name : NULL;
	/* A client from a trusted x-forwarded-for is "addr:0" ("[v6]:0"), as Envoy writes it. */
	rec.downstream_remote = r->client.sa.sa_family ? r->client : p->client;
	rec.downstream_local = p->local;
	/* The connection's two addresses as text, made once for all its requests. */
	if (!r->conn->addr_text[0][0]) {
		wp_addr_text(&p->local, r->conn->addr_text[0], sizeof(r->conn->addr_text[0]));
		wp_addr_text(&p->client, r->conn->addr_text[1], sizeof(r->conn->addr_text[1]));
	}
	if (p->local.sa.sa_family)
		rec.downstream_local_text = r->conn->addr_text[0];
	if (p->client.sa.sa_family && sockaddr_inet_equal(&rec.downstream_remote, &p->client))
		rec.downstream_remote_text = r->conn->addr_text[1];
	rec.grpc_status = r->grpc_status;
	rec.mtls = p->mtls;
	if (e->o.stats)
		count(r, &rec);
	if (e->log && wp_req_logged(r))
		wp_stats_log(e->log, &rec);
}

void wp_req_finish(struct wp_req *r)
{
	struct wp_conn *conn = r->conn;
	struct wp_engine *e = conn->e;

	wp_up_cancel(r);
	wp_mirror_detach(r);
	wp_extauthz_cancel(r);
	if (r->authn) {
		wp_authn_clear(r->authn);
		free(r->authn);
		r->authn = NULL;
	}
	loop_timer_cancel(e->loop, &r->timer);
	loop_timer_cancel(e->loop, &r->wait);
	if (r->aprev)
		r->aprev->anext = r->anext;
	else
		e->reqs = r->anext;
	if (r->anext)
		r->anext->aprev = r->aprev;
	e->n_reqs--;
	record(r);
	wp_trace_finish(r);
	if (r->counted)
		h1_pool_request_done(r->up->pool);
	r->view->users--;
	views_collect(e);
	conn->req = NULL;
	h1_head_free(&r->head);
	buf_free(&r->body);
	/* The request's own strings are in its head's arena. */
	free(r->cors_origin);
	free(r->set_cookie);
	http_fields_free(&r->down_allow);
	free(r);
}

/* ---- local replies ---- */

void wp_req_answer(struct wp_req *r, int status, const char *body, size_t blen,
		   const char *const *extra, size_t n_extra)
{
	struct h1_head h = {.status = (uint16_t)status};
	struct wp_conn *s = r->conn;

	r->status = status;
	r->resp_started = true;
	if (blen)
		http_fields_add(&h.fields, "content-type", "text/plain");
	for (size_t i = 0; i < n_extra; i++)
		http_fields_add(&h.fields, extra[2 * i], extra[2 * i + 1]);
	if (r->cors_origin)
		http_fields_add(&h.fields, "access-control-allow-origin", r->cors_origin);
	if (wp_down_respond(s, &h, H1_FRAMING_LENGTH, blen) == 0 && !wp_down_head_request(s)) {
		wp_down_body(s, body, blen);
		r->bytes_out += blen;
	}
	http_fields_free(&h.fields);
	/* Recorded before the last byte leaves: whoever saw the answer can see its record. */
	wp_req_finish(r);
	wp_down_end(s);
}

void wp_req_reply(struct wp_req *r, enum wp_reply what, int status, const char *body, size_t blen)
{
	const struct wp_reply_info *ri = wp_reply(what);
	static const char *const overloaded[] = {"x-envoy-overloaded", "true"};

	wp_req_flag(r, ri->flag);
	if (!r->details)
		r->details = ri->details;
	if (!body) {
		body = ri->body;
		blen = strlen(body);
	}
	status = status ? status : ri->status;
	if (r->grpc) {
		/* Envoy answers a gRPC request trailers-only: 200 with the status mapped. */
		char gs[12], msg[160];
		const char *extra[] = {"content-type",	     "application/grpc",
				       "grpc-status",	     gs,
				       "grpc-message",	     msg,
				       "x-envoy-overloaded", "true"};

		r->grpc_status = wp_grpc_status_of_http(status);
		snprintf(gs, sizeof(gs), "%d", r->grpc_status);
		snprintf(msg, sizeof(msg), "%.*s", (int)(blen < 150 ? blen : 150), body);
		wp_req_answer(r, 200, "", 0, extra, ri->overloaded ? 4 : 3);
		return;
	}
	wp_req_answer(r, status, body, blen, overloaded, ri->overloaded ? 1 : 0);
}

/* ---- decisions ---- */

/* The route's CORS policy against the request's Origin (Envoy's CORS filter). */
static bool origin_allowed(const struct config_cors *c, const char *origin)
{
	for (size_t i = 0; i < c->n_allow_origins; i++) {
		const struct config_string_match *m = &c->allow_origins[i];
		size_t n = m->value ? strlen(m->value) : 0;
		struct re2 *re;
		char why[64];
		bool hit;

		switch (m->type) {
		case CONFIG_MATCH_EXACT:
			if (!strcmp(origin, m->value) || !strcmp(m->value, "*"))
				return true;
			break;
		case CONFIG_MATCH_PREFIX:
			if (!strncmp(origin, m->value, n))
				return true;
			break;
		case CONFIG_MATCH_REGEX:
			re = re2_compile(m->value, 0, why, sizeof(why));
			hit = re && re2_match(re, origin, strlen(origin));
			re2_free(re);
			if (hit)
				return true;
			break;
		default: break;
		}
	}
	return false;
}

static void join(char *out, size_t len, const struct config_strings *s)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? "," : "", s->items[i]);
}

/* A preflight the policy allows is answered here (200 with the policy's headers). */
static bool cors_preflight(struct wp_req *r, const struct config_cors *c)
{
	const char *origin = http_fields_get(&r->head.fields, "origin");
	char methods[512], headers[512], expose[512], age[24];
	const char *extra[12];
	size_t n = 0;

	if (!c->present || !origin)
		return false;
	if (!origin_allowed(c, origin))
		return false;
	r->cors_origin = strdup(origin);
	if (strcmp(r->head.method, "OPTIONS") ||
	    !http_fields_get(&r->head.fields, "access-control-request-method"))
		return false; /* an ordinary request: the response gets the origin echoed */
	join(methods, sizeof(methods), &c->allow_methods);
	join(headers, sizeof(headers), &c->allow_headers);
	join(expose, sizeof(expose), &c->expose_headers);
	if (methods[0]) {
		extra[n++] = "access-control-allow-methods";
		extra[n++] = methods;
	}
	if (headers[0]) {
		extra[n++] = "access-control-allow-headers";
		extra[n++] = headers;
	}
	if (expose[0]) {
		extra[n++] = "access-control-expose-headers";
		extra[n++] = expose;
	}
	if (c->max_age_ms) {
		snprintf(age, sizeof(age), "%llu", (unsigned long long)(c->max_age_ms / 1000));
		extra[n++] = "access-control-max-age";
		extra[n++] = age;
	}
	if (c->allow_credentials == 1) {
		extra[n++] = "access-control-allow-credentials";
		extra[n++] = "true";
	}
	r->details = "cors_response";
	wp_req_answer(r, 200, "", 0, extra, n / 2);
	return true;
}

/* The first match block of @rt that takes the request (for a prefix rewrite). */
static const struct l7_match *match_of(const struct wp_route_table *t, const struct l7_route *rt,
				       const struct wp_request *rq)
{
	for (size_t i = 0; i < rt->n_matches; i++)
		if (wp_match_request(t, &rt->matches[i], rq))
			return &rt->matches[i];
	return NULL;
}

static void proceed(struct wp_req *r);

static void after_delay(struct wp_req *r)
{
	proceed(r);
}

static void on_wait(struct loop_timer *t)
{
	struct wp_req *r = (struct wp_req *)((char *)t - offsetof(struct wp_req, wait));

	r->wait_fn(r);
}

/* Route level, then the destination's: rewrite, header operations, the cluster. */
static void proceed(struct wp_req *r)
{
	struct wp_engine *e = r->conn->e;
	struct wp_gen *g = r->view->gen;
	const struct l7_route *rt = r->route;
	const struct l7_destination *d;
	struct wp_cluster *c;
	int s;

	d = wp_route_destination(rt, wp_random());
	if (d && d->invalid) {
		/* A Gateway API backendRef that cannot be used: the spec's 500 for its share. */
		r->details = "direct_response";
		wp_req_answer(r, 500, "", 0, NULL, 0);
		return;
	}
	if (!d || d->unknown) {
		wp_req_reply(r, WP_REPLY_NO_CLUSTER, 0, NULL, 0);
		return;
	}
	r->dest = d;
	if (wp_headers_apply(&r->head.fields, &d->headers.request, &r->authority)) {
		wp_req_reply(r, WP_REPLY_UPSTREAM_RESET, 500, "", 0);
		return;
	}
	/* Host as the authority became (a rewrite, a header operation): else it stands. */
	if (r->authority != r->authority_in &&
	    http_fields_set(&r->head.fields, "host", r->authority ? r->authority : "")) {
		wp_req_reply(r, WP_REPLY_UPSTREAM_RESET, 500, "", 0);
		return;
	}
	s = wp_gen_service(g, d->host, NULL);
	c = s < 0 ? NULL
		  : wp_gen_cluster(g, s, d->subset, d->port ? d->port : r->conn->peer.dest_port,
				   wp_peer_v6(&r->conn->peer));
	if (!c) {
		wp_req_reply(r, WP_REPLY_NO_CLUSTER, 0, NULL, 0);
		return;
	}
	r->up = wp_view_upstream(e, r->view, c);
	if (!r->up) {
		wp_req_reply(r, WP_REPLY_UPSTREAM_RESET, 500, "", 0);
		return;
	}
	if (h1_pool_request_begin(r->up->pool)) {
		wp_req_reply(r, WP_REPLY_OVERFLOW, 0, NULL, 0);
		return;
	}
	r->counted = true;
	wp_trace_begin(r);
	wp_mirror_start(r);
	wp_up_start(r);
}

static void uuid4(char out[37])
{
	uint8_t b[16];

	for (int i = 0; i < 2; i++) {
		uint64_t x = wp_random();

		memcpy(b + 8 * i, &x, 8);
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	/* 8-4-4-4-12 hex digits (by hand: printf's 16 conversions were per request). */
	for (int i = 0, o = 0; i < 16; i++) {
		static const char hex[] = "0123456789abcdef";

		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[36] = '\0';
}

/*
 * Envoy's xff_num_trusted_hops: the address @hops entries from the right of the client's own
 * x-forwarded-for (the last proxy we trust appended it), when there is one and it is an address
 * of either family (no port, no brackets: Envoy's parse). False: the connection's peer is the
 * client.
 */
static bool trusted_xff(const char *xff, unsigned int hops, struct ipaddr *out)
{
	const char *end = xff + strlen(xff), *p;
	char ip[INET6_ADDRSTRLEN];
	size_t n;

	for (unsigned int skip = 1;; skip++) {
		for (p = end; p > xff && p[-1] != ','; p--)
			;
		if (skip == hops)
			break;
		if (p == xff)
			return false; /* fewer entries than trusted hops */
		end = p - 1;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - p);
	if (!n || n >= sizeof(ip))
		return false;
	memcpy(ip, p, n);
	ip[n] = '\0';
	return !ipaddr_parse_addr(ip, out);
}

/* "@a,@b" in @f's arena (a field's lines joined), or NULL. */
static char *join_values(struct http_fields *f, const char *a, const char *b)
{
	size_t al = strlen(a), bl = strlen(b);
	char *out = arena_alloc(&f->mem, al + bl + 2);

	if (!out)
		return NULL;
	memcpy(out, a, al);
	out[al] = ',';
	memcpy(out + al + 1, b, bl + 1);
	return out;
}

/*
 * Envoy's connection manager on the request's fields (before routing), in the two ways Istio
 * configures it (ConnectionManagerUtility::mutateRequestHeaders). A request from the mesh (an
 * HBONE stream: the waypoint's, use_remote_address false) keeps its x-request-id and
 * x-forwarded-for and gets x-forwarded-proto only when it has none. A request from a client
 * that reached the proxy directly (a listener of its own: the edge, use_remote_address true)
 * is external: a new x-request-id, the peer appended to x-forwarded-for, the client address
 * from it past the trusted proxies (numTrustedProxies) as x-envoy-external-address and in the
 * access log, and x-forwarded-proto from the connection unless a trusted proxy set it.
 * Hop-by-hop fields were dropped before: a client cannot name these in Connection.
 */
static int prepare(struct wp_req *r)
{
	struct http_fields *f = &r->head.fields;
	const struct transport_peer *p = &r->conn->peer;
	int mesh_hops = r->view->gen->l7->num_trusted_proxies;
	unsigned int hops =
	    mesh_hops >= 0 ? (unsigned int)mesh_hops : r->conn->e->o.hcm.trusted_hops;
	bool edge = !p->mtls;
	const char *v, *xff_in;
	char ip[IPADDR_STRLEN], id[37], *xff;

	/* An absolute-form target (RFC 9112 §3.2.2) names the authority; the path is routed. */
	if (!strncasecmp(r->head.target, "http://", 7) ||
	    !strncasecmp(r->head.target, "https://", 8)) {
		const char *a = strstr(r->head.target, "://") + 3;
		size_t al = strcspn(a, "/?#");
		char *path, *host = strndup(a, al);
		int err;

		if (!host || asprintf(&path, "%s%s", a[al] == '/' ? "" : "/", a + al) < 0) {
			free(host);
			return -ENOMEM;
		}
		err = al ? http_fields_set(f, "host", host) : 0;
		free(host);
		if (err) {
			free(path);
			return err;
		}
		r->head.target = h1_head_strdup(&r->head, path);
		free(path);
		if (!r->head.target)
			return -ENOMEM;
	}
	/*
	 * One pass over the fields: what this reads, and (from the edge) what it replaces
	 * dropped, so what it adds needs no search. What it adds is clean (http_field.clean): a
	 * value the parser checked (the client's request id, x-forwarded-for) or made here.
	 */
	{
		const char *host = NULL, *ua = NULL, *rid = NULL, *xfp = NULL;
		size_t w = 0;

		xff_in = NULL;
		for (size_t i = 0; i < f->n; i++) {
			struct http_field *e = &f->items[i];
			bool drop = false;

#define IS(lit) (e->name_len == sizeof(lit) - 1 && !memcmp(e->name, lit, sizeof(lit) - 1))
			if (IS("host")) {
				host = host ? host : e->value;
			} else if (IS("user-agent")) {
				ua = ua ? ua : e->value;
			} else if (IS("x-request-id")) {
				rid = rid ? rid : e->value;
				drop = true; /* set again below, once */
			} else if (IS("x-forwarded-for")) {
				/*
				 * Every line, in order, as one list (RFC 9110 §5.3; Envoy joins
				 * them): a line a load balancer appended after the client's own
				 * is the one the trusted hops count from.
				 */
				if (xff_in && !(xff_in = join_values(f, xff_in, e->value)))
					return -ENOMEM;
				xff_in = xff_in ? xff_in : e->value;
				drop = true; /* set again below, once */
			} else if (IS("x-forwarded-proto")) {
				xfp = xfp ? xfp : e->value;
				drop = edge && (!hops || (xfp != e->value));
			} else if (IS("x-envoy-external-address")) {
				drop = edge;
			}
#undef IS
			if (!drop)
				f->items[w++] = *e;
		}
		f->n = w;
		/* "host:" is "host" (an empty port, RFC 3986 §3.2.3), for the rules and upstream.
		 */
		r->authority =
		    host ? http_fields_strndup(f, host, http_authority_trim(host, strlen(host)))
			 : h1_head_strdup(&r->head, "");
		r->authority_in = host ? r->authority : NULL;
		if (host && strcmp(host, r->authority) && r->authority &&
		    http_fields_set(f, "host", r->authority))
			return -ENOMEM;
		r->user_agent = ua ? h1_head_strdup(&r->head, ua) : NULL;
		if (!r->authority || (ua && !r->user_agent))
			return -ENOMEM;
		if (!rid || !*rid || edge) {
			uuid4(id);
			rid = id;
		}
		if (http_fields_add_clean(f, "x-request-id", 12, rid, strlen(rid)))
			return -ENOMEM;
		r->request_id = f->items[f->n - 1].value;
		if (edge && xfp && hops) {
			/* A trusted proxy said how the client reached it: kept (its first value).
			 */
		} else if (!xfp || edge) {
			const char *proto = edge && p->tls ? "https" : "http";

			/* Envoy: from the connection at the edge; in the mesh, only when absent. */
			if (http_fields_add_clean(f, "x-forwarded-proto", 17, proto, strlen(proto)))
				return -ENOMEM;
		}
	}
	r->orig_path = r->head.target; /* rewrites give the head a new target, not a new string */
	r->client = p->client;
	wp_peer_client_ip(p, &r->remote);
	v = xff_in;
	if (edge) {
		struct ipaddr a, peer_ip;
		char ext[IPADDR_STRLEN];
		size_t vl = v ? strlen(v) : 0, il, el;

		/* A trusted hop's client, of either family: "addr:0" ("[v6]:0") as Envoy's. */
		if (v && hops && trusted_xff(v, hops, &a) &&
		    !sockaddr_inet_from_ipaddr(&r->client, &a, 0))
			r->remote = a;
		/*
		 * x-forwarded-for: the peer's address appended ("," as Envoy's appendXff), bare:
		 * an IPv6 one without brackets or port, as Envoy writes it.
		 */
		if (!wp_peer_client_ip(p, &peer_ip))
			ipaddr_from_v4(&peer_ip, 0);
		il = strlen(ipaddr_format(&peer_ip, ip, sizeof(ip)));
		xff = arena_alloc(&f->mem, vl + il + 2);
		if (!xff)
			return -ENOMEM;
		if (vl) {
			memcpy(xff, v, vl);
			xff[vl++] = ',';
		}
		memcpy(xff + vl, ip, il + 1);
		r->xff = xff;
		el = strlen(ipaddr_format(&r->remote, ext, sizeof(ext)));
		if (http_fields_add_clean(f, "x-forwarded-for", 15, xff, vl + il) ||
		    http_fields_add_clean(f, "x-envoy-external-address", 24, ext, el))
			return -ENOMEM;
		return 0;
	}
	r->xff = (char *)v;
	if (v && http_fields_add_clean(f, "x-forwarded-for", 15, v, strlen(v)))
		return -ENOMEM;
	return 0;
}

_Static_assert((int)WP_PATH_NORM_NONE == (int)CONFIG_PATH_NORM_NONE &&
		   (int)WP_PATH_NORM_DECODE_AND_MERGE_SLASHES == (int)CONFIG_PATH_NORM_DECODE_MERGE,
	       "the mesh config's path normalization and the engine's agree");

/* Whether the path of @t could change under @mode: else it is left alone (no copy). */
static bool path_may_change(enum wp_path_norm mode, const char *t)
{
	size_t n = strcspn(t, "?");

	if (mode == WP_PATH_NORM_NONE || t[0] != '/')
		return false;
	if (memchr(t, '%', n) || memchr(t, '\\', n))
		return true;
	for (size_t i = 0; i + 1 < n; i++)
		if (t[i] == '/' &&
		    (t[i + 1] == '.' || (t[i + 1] == '/' && mode != WP_PATH_NORM_BASE)))
			return true;
	return false;
}

/*
 * meshConfig.pathNormalization on the request's path, which is then the path routed, judged
 * by the policies, forwarded and logged (Envoy's normalize_path and merge_slashes). A path
 * that cannot be normalized is refused with 400. True when @r was answered.
 */
static bool normalize_path(struct wp_req *r)
{
	int mesh = r->view->gen->l7->path_normalization;
	/* The mesh config's when it says (CONFIG_PATH_NORM_* and WP_PATH_NORM_* agree), else the
	 * flag's. */
	enum wp_path_norm mode = mesh >= 0 ? (enum wp_path_norm)mesh : r->conn->e->o.hcm.path_norm;
	char *out;

	if (!path_may_change(mode, r->head.target))
		return false;
	out = arena_alloc(&r->head.fields.mem, strlen(r->head.target) + 1);
	if (!out) {
		wp_req_reply(r, WP_REPLY_UPSTREAM_RESET, 500, "", 0);
		return true;
	}
	if (wp_path_normalize(mode, r->head.target, out)) {
		r->details = "path_normalization_failed";
		wp_req_answer(r, 400, "Bad Request", 11, NULL, 0);
		return true;
	}
	r->head.target = r->orig_path = out;
	return false;
}

/* Whether route @rt is written for CONNECT (a match on the method): the only ones tunnelling. */
static bool route_takes_connect(const struct l7_route *rt)
{
	for (size_t i = 0; i < rt->n_matches; i++) {
		const struct l7_string_match *m = &rt->matches[i].method;

		if (m->type == L7_MATCH_EXACT && m->value && !strcmp(m->value, "CONNECT"))
			return true;
	}
	return false;
}

/* Whether the list @v (an Upgrade value) names @token, case-insensitively. */
static bool names_token(const char *v, const char *token)
{
	size_t n = strlen(token), l;
	const char *e;

	/* A protocol may carry a version ("websocket/13" is not one, but "foo/1" is). */
	while ((e = http_list_next(&v, &l)))
		if ((l == n || (l > n && e[n] == '/')) && !strncasecmp(e, token, n))
			return true;
	return false;
}

/*
 * Envoy's upgrade_configs as Istio sets them: WebSocket only. An Upgrade to anything else,
 * or a CONNECT on a route not written for CONNECT, is refused with 403 (upgrade_failed) and
 * the connection closes (what follows the request is not HTTP). True when refused.
 */
static bool upgrade_refused(struct wp_req *r)
{
	const char *up;

	if (!r->head.upgrade)
		return false;
	if (!strcmp(r->head.method, "CONNECT")) {
		if (route_takes_connect(r->route))
			return false;
	} else {
		up = http_fields_get(&r->head.fields, "upgrade");
		if (up && names_token(up, "websocket"))
			return false;
	}
	wp_req_reply(r, WP_REPLY_UPGRADE_FAILED, 0, "", 0);
	return true;
}

/* A JWT that failed (authn.h): 401 with Envoy's reason, its details and WWW-Authenticate. */
static void unauthenticated(struct wp_req *r, const char *why)
{
	size_t n = strlen(why);
	char *details = arena_alloc(&r->head.fields.mem, n + 32), *realm;
	const char *extra[2] = {"www-authenticate", NULL};

	if (details) {
		int o = sprintf(details, "jwt_authn_access_denied{");

		for (size_t i = 0; i < n; i++)
			details[o + i] = why[i] == ' ' ? '_' : why[i];
		strcpy(details + o + n, "}");
		r->details = details;
	}
	if (asprintf(&realm, "Bearer realm=\"http://%s%.*s\", error=\"invalid_token\"",
		     r->authority ? r->authority : "", (int)strcspn(r->head.target, "?"),
		     r->head.target) < 0)
		realm = NULL;
	extra[1] = realm ? realm : "Bearer";
	wp_req_answer(r, 401, why, n, extra, 1);
	free(realm);
}

enum filter_outcome {
	FILTER_PASS = 0, /* on to the route */
	FILTER_ANSWERED, /* @r was answered (401, 403, ...) */
	FILTER_PENDING,	 /* the external authorizer was asked: its answer goes on */
};

static void route(struct wp_req *r);

/*
 * The service's AuthorizationPolicies (authz.h) as Envoy's ext_authz (CUSTOM) and RBAC
 * filters: CUSTOM asks the provider (unless @custom_allowed: it allowed), then DENY and ALLOW.
 */
static enum filter_outcome authorize(struct wp_req *r, bool custom_allowed)
{
	const struct wp_gen *g = r->view->gen;
	const struct l7_service *s = &g->l7->services[r->svc];
	const struct transport_peer *p = &r->conn->peer;
	struct wp_authz_request rq = {.custom_allowed = custom_allowed};
	struct wp_authz_decision d;
	char name[320], *details;
	const char *id = p->identity;

	if (!s->n_authz)
		return FILTER_PASS;
	if (r->authn) {
		rq.request_principal = r->authn->principal;
		rq.claims = r->authn->jwt.payload;
		rq.space_claims =
		    r->authn->rule ? &r->authn->rule->rule.space_delimited_claims : NULL;
	}
	if (id && !strncmp(id, "spiffe://", 9))
		rq.principal = id + 9;
	/*
	 * ipBlocks: the peer (the client its ztunnel or PROXY header named), of either family;
	 * an address not known (0.0.0.0, ::) stays family 0: no block holds it. remoteIpBlocks:
	 * the trusted x-forwarded-for client, else the same (Istio's remote.ip).
	 */
	wp_peer_client_ip(p, &rq.source_ip);
	rq.remote_ip = r->remote;
	rq.sni = p->sni;
	if (p->dest_ip.family)
		rq.dest_ip = p->dest_ip;
	else if (!sockaddr_inet_is_any(&p->local))
		sockaddr_inet_to_ipaddr(&p->local, &rq.dest_ip);
	rq.dest_port = p->dest_port ? p->dest_port : sockaddr_inet_port(&p->local);
	rq.host = r->authority;
	rq.method = r->head.method;
	rq.path = r->head.target;
	rq.path_len = strcspn(r->head.target, "?");
	rq.headers = &r->head.fields;
	rq.trust_domains = (const char *const *)g->trust_domains;
	rq.n_trust_domains = g->n_trust_domains;
	wp_authz_decide_indexed(g->l7, s, g->authz[r->svc], &rq, &d);
	if (d.shadow_denied) {
		wp_authz_policy_name(d.shadow, d.shadow_rule, name, sizeof(name));
		pr_info("dry-run: request %s to %s would be denied by %s",
			r->request_id ? r->request_id : "-", s->hostname, name);
	}
	if (d.verdict == WP_AUTHZ_ALLOW)
		return FILTER_PASS;
	if (d.policy && d.policy->action == CONFIG_AUTHZ_CUSTOM) {
		const struct l7_ext_authz *x = NULL;

		for (size_t i = 0; i < g->l7->n_ext_authz && !x; i++)
			if (d.policy->provider &&
			    !strcmp(g->l7->ext_authz[i].name, d.policy->provider))
				x = &g->l7->ext_authz[i];
		if (x && !wp_extauthz_start(r, x))
			return FILTER_PENDING;
		/* No such provider, or no endpoint: it cannot be asked. failOpen lets the request
		 * on; else what it would judge is denied (UAEX). */
		if (x && x->x.fail_open)
			return authorize(r, true);
		wp_req_reply(r, WP_REPLY_EXT_AUTHZ,
			     x && x->x.status_on_error ? x->x.status_on_error : 0, NULL, 0);
		return FILTER_ANSWERED;
	}
	wp_authz_policy_name(d.policy, d.rule, name, sizeof(name));
	details = arena_alloc(&r->head.fields.mem, strlen(name) + 40);
	if (details) {
		sprintf(details, "rbac_access_denied_matched_policy[%s]", name);
		r->details = details;
	}
	wp_req_reply(r, WP_REPLY_RBAC_DENIED, 0, NULL, 0);
	return FILTER_ANSWERED;
}

void wp_authz_custom_done(struct wp_req *r, bool allowed)
{
	if (allowed && authorize(r, true) == FILTER_PASS)
		route(r);
}

/*
 * The service's RequestAuthentications and AuthorizationPolicies (authn.h, authz.h), as Envoy's
 * jwt_authn, ext_authz (CUSTOM) and RBAC filters before the router.
 */
static enum filter_outcome filters(struct wp_req *r)
{
	const struct wp_gen *g = r->view->gen;
	const struct l7_service *s = &g->l7->services[r->svc];

	if (s->n_jwt) {
		struct wp_engine *e = r->conn->e;

		/* The worker's verified tokens; without (no memory), every token is checked. */
		if (!e->jwt_cache)
			e->jwt_cache = wp_jwt_cache_new(0);
		r->authn = calloc(1, sizeof(*r->authn));
		if (!r->authn || wp_authn_check(g, s, &r->head.fields, r->head.target, time(NULL),
						e->jwt_cache, r->authn)) {
			wp_req_reply(r, WP_REPLY_UPSTREAM_RESET, 500, "", 0);
			return FILTER_ANSWERED;
		}
		if (r->authn->error) {
			unauthenticated(r, r->authn->error);
			return FILTER_ANSWERED;
		}
	}
	return authorize(r, false);
}

static void decide(struct wp_req *r)
{
	const struct transport_peer *p = &r->conn->peer;

	r->svc = wp_gen_service(r->view->gen, p->dest_host, &p->dest_ip);
	if (r->svc < 0) {
		wp_req_reply(r, WP_REPLY_NO_ROUTE, 0, NULL, 0);
		return;
	}
	if (filters(r) == FILTER_PASS)
		route(r);
}

/*
 * After the policies: the local rate limits, the route and what it does (redirect, rewrite,
 * faults), then upstream.
 */
static void route(struct wp_req *r)
{
	struct wp_gen *g = r->view->gen;
	const struct transport_peer *p = &r->conn->peer;
	struct wp_fault_decision fd;
	struct wp_request rq = {0};
	const struct l7_match *m;
	const struct l7_route *rt;
	char *path, *loc;

	rq.method = r->head.method;
	rq.scheme = p->tls ? "https" : "http";
	rq.authority = r->authority;
	rq.path = r->head.target;
	rq.port = p->dest_port;
	rq.tls_server = p->tls_server;
	rq.n_headers = r->head.fields.n;
	rq.headers = r->head.fields.items;
	if (wp_ratelimited(r, &rq))
		return;
	rt = wp_route_select(g->routes[r->svc], &rq);
	if (!rt || rt->action == L7_ACTION_NOT_FOUND) {
		wp_req_reply(r, WP_REPLY_NO_ROUTE, 0, NULL, 0);
		return;
	}
	r->route = rt;
	if (upgrade_refused(r))
		return;
	m = match_of(g->routes[r->svc], rt, &rq);
	if (cors_preflight(r, &rt->cors))
		return;
	if (rt->action == L7_ACTION_REDIRECT) {
		const char *extra[2] = {"location", NULL};

		loc =
		    wp_redirect_location(rt, m, "http", r->authority, r->head.target, p->dest_port);
		if (!loc) {
			wp_req_reply(r, WP_REPLY_NO_ROUTE, 500, "", 0);
			return;
		}
		extra[1] = loc;
		r->details = "direct_response";
		wp_req_answer(r, rt->redirect.code ? rt->redirect.code : 301, "", 0, extra, 1);
		free(loc);
		return;
	}
	if (rt->action == L7_ACTION_DIRECT) {
		r->details = "direct_response";
		wp_req_answer(r, rt->direct_status, rt->direct_body ? rt->direct_body : "",
			      rt->direct_body_len, NULL, 0);
		return;
	}
	/* Rewrites and the route's header operations happen before the fault and router. */
	if (rt->rewrite.path || rt->rewrite.prefix || rt->rewrite.regex) {
		path = wp_rewrite_path(rt, m, r->head.target);
		if (!path) {
			wp_req_reply(r, WP_REPLY_NO_ROUTE, 500, "", 0);
			return;
		}
		r->head.target = h1_head_strdup(&r->head, path);
		free(path);
		if (!r->head.target) {
			wp_req_reply(r, WP_REPLY_NO_ROUTE, 500, "", 0);
			return;
		}
	}
	if (rt->rewrite.authority)
		r->authority = h1_head_strdup(&r->head, rt->rewrite.authority);
	if (!r->authority ||
	    wp_headers_apply(&r->head.fields, &rt->headers.request, &r->authority)) {
		wp_req_reply(r, WP_REPLY_UPSTREAM_RESET, 500, "", 0);
		return;
	}
	wp_fault_decide(&rt->fault, wp_random(), wp_random(), &fd);
	if (fd.abort) {
		wp_req_flag(r, "FI");
		r->details = "fault_filter_abort";
		if (fd.grpc_status >= 0) {
			char gs[12];
			const char *extra[] = {"content-type", "application/grpc",
					       "grpc-status",  gs,
					       "grpc-message", "fault filter abort"};

			snprintf(gs, sizeof(gs), "%d", fd.grpc_status);
			r->grpc_status = fd.grpc_status;
			wp_req_answer(r, 200, "", 0, extra, 3);
			return;
		}
		wp_req_answer(r, fd.http_status, "fault filter abort", 18, NULL, 0);
		return;
	}
	if (fd.delay_ms) {
		wp_req_flag(r, "DI");
		r->wait_fn = after_delay;
		if (loop_timer_arm(r->conn->e->loop, &r->wait, (unsigned int)fd.delay_ms) == 0)
			return;
	}
	proceed(r);
}

/* ---- downstream connections ---- */

/*
 * The mesh config's connectionSettings.httpHeadersWithUnderscoresAction (Envoy's
 * headers_with_underscores_action, which its codecs apply before any filter): a request field
 * whose name holds "_" is refused (400; on HTTP/1 the connection goes after it) or dropped, so
 * no backend that reads "x_user" as "x-user" (CGI, PHP, nginx's variables) gets one the rules
 * never judged. True when @r was answered.
 */
static bool underscores(struct wp_req *r)
{
	int action = r->view->gen->l7->underscores;
	struct http_fields *f = &r->head.fields;
	size_t w = 0;

	if (action != CONFIG_UNDERSCORES_REJECT && action != CONFIG_UNDERSCORES_DROP)
		return false;
	for (size_t i = 0; i < f->n; i++) {
		if (!memchr(f->items[i].name, '_', f->items[i].name_len)) {
			f->items[w++] = f->items[i];
			continue;
		}
		if (action == CONFIG_UNDERSCORES_REJECT) {
			wp_req_flag(r, "DPE");
			r->details = r->conn->h2s ? "http2.unexpected_underscore"
						  : "http1.unexpected_underscore";
			wp_down_close_after(r->conn);
			wp_req_answer(r, 400, "Bad Request", 11, NULL, 0);
			return true;
		}
	}
	f->n = w;
	return false;
}

/*
 * What no rule may see: a request whose target or authority a backend could read otherwise
 * than the rules do (http_uri.h; an HTTP/1 parser refused these already, an HTTP/2 stream's
 * head is checked here), an HTTP/2 :scheme other than http or https, an HTTP/1.1 request
 * without Host (RFC 9112 §3.2). 400, as Envoy and HAProxy answer; on HTTP/1 the connection
 * goes after it. True when @r was answered.
 */
static bool malformed(struct wp_req *r)
{
	const struct h1_head *h = &r->head;
	const char *host = http_fields_get(&h->fields, "host");
	const char *why = r->conn->malformed, *details = "invalid_scheme";

	if (!why) {
		details = "codec_error";
		why =
		    http_target_problem(h->method, strlen(h->method), h->target, strlen(h->target));
	}
	if (!why && host && *host)
		why = http_authority_problem(host, strlen(host));
	if (!why && !host && h->minor >= 1) {
		why = "missing host header";
		details = "missing_host_header";
	}
	if (!why)
		return false;
	wp_req_flag(r, "DPE");
	r->details = details;
	wp_down_close_after(r->conn);
	wp_req_answer(r, 400, why, strlen(why), NULL, 0);
	return true;
}

static void on_request(void *arg, struct h1_head *head)
{
	struct wp_conn *conn = arg;
	struct wp_engine *e = conn->e;
	struct wp_req *r = calloc(1, sizeof(*r));
	const char *v;

	if (!r) {
		wp_down_close(conn, true);
		return;
	}
	r->conn = conn;
	conn->req = r;
	r->head = *head;
	memset(head, 0, sizeof(*head));
	r->view = e->view;
	r->view->users++;
	r->svc = -1;
	r->host = -1;
	r->upstream_ms = -1;
	r->grpc_status = -1;
	r->timer.fn = on_wait;
	r->wait.fn = on_wait;
	r->start_ms = loop_now_ms(e->loop);
	clock_gettime(CLOCK_REALTIME, &r->start_wall);
	r->framing = r->head.framing;
	r->length = r->head.content_length;
	r->body_kept = true;
	r->active_ms = r->start_ms;
	r->anext = e->reqs;
	if (e->reqs)
		e->reqs->aprev = r;
	e->reqs = r;
	e->n_reqs++;
	v = http_fields_get(&r->head.fields, "content-type");
	r->grpc = v && !strncmp(v, "application/grpc", 16);
	/* Envoy does not do h2c upgrades: it drops them and serves the request as HTTP/1.1. */
	v = http_fields_get(&r->head.fields, "upgrade");
	if (r->head.upgrade && v && !strcasecmp(v, "h2c") && conn->s) {
		http_fields_remove(&r->head.fields, "upgrade");
		http_fields_remove(&r->head.fields, "http2-settings");
		h1_server_no_upgrade(conn->s);
		r->head.upgrade = false;
	}
	/*
	 * Hop-by-hop fields first (what Connection names included), then the proxy's own: a
	 * client cannot make the proxy's x-forwarded-for or x-request-id vanish by naming them.
	 */
	h1_strip_hop(&r->head.fields, true, r->head.upgrade);
	if (underscores(r) || malformed(r))
		return;
	if (prepare(r)) {
		wp_req_reply(r, WP_REPLY_UPSTREAM_RESET, 500, "", 0);
		return;
	}
	if (normalize_path(r))
		return;
	/*
	 * "Expect: 100-continue" goes upstream and its 100 comes back (Istio's proxy_100_continue:
	 * the server decides whether it wants the body, not the proxy).
	 */
	decide(r);
}

static void on_body(void *arg, const char *data, size_t len)
{
	struct wp_conn *conn = arg;
	struct wp_req *r = conn->req;

	if (!r)
		return;
	r->bytes_in += len;
	wp_req_touch(r);
	wp_mirror_body(r, data, len);
	wp_up_body(r, data, len);
}

static void on_body_end(void *arg)
{
	struct wp_conn *conn = arg;
	struct wp_req *r = conn->req;

	if (!r)
		return;
	r->req_end = true;
	wp_mirror_end(r);
	wp_up_body_end(r);
}

static void on_drain(void *arg)
{
	struct wp_conn *conn = arg;

	if (conn->req) {
		wp_req_touch(conn->req);
		wp_up_drain(conn->req);
	}
}

static void on_abort(void *arg, int err)
{
	struct wp_conn *conn = arg;
	struct wp_req *r = conn->req;

	if (!r)
		return;
	if (err == -EPROTO) {
		/* A malformed body: the HTTP/1 layer answers 400 when nothing was answered yet. */
		wp_req_flag(r, "DPE");
		r->details = "codec_error";
		if (!r->resp_started)
			r->status = 400;
	} else {
		wp_req_flag(r, "DC");
		if (!r->resp_started)
			r->status = 0;
	}
	wp_req_finish(r);
}

static void on_close(void *arg)
{
	struct wp_conn *conn = arg;
	struct wp_engine *e = conn->e;

	if (conn->req)
		on_abort(conn, -EPIPE);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		e->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	e->n_conns--;
	transport_peer_clear(&conn->peer);
	free(conn);
}

/* A head the HTTP/1 layer refused (400, 431): Envoy's DPE line and series. */
static void on_refused(void *arg, int status, const char *why)
{
	struct wp_conn *conn = arg;
	struct wp_req r = {.conn = conn,
			   .view = conn->e->view,
			   .svc = -1,
			   .host = -1,
			   .upstream_ms = -1,
			   .grpc_status = -1,
			   .status = status,
			   .details = "codec_error",
			   .start_ms = loop_now_ms(conn->e->loop)};

	clock_gettime(CLOCK_REALTIME, &r.start_wall);
	if (status == 408) {
		r.details = "request_header_timeout"; /* Envoy sets no flag for it */
	} else {
		wp_req_flag(&r, "DPE");
		pr_debug("waypoint: refused a request head: %s", why);
	}
	record(&r);
}

const struct h1_server_ops wp_h1_events = {
    .on_request = on_request,
    .on_body = on_body,
    .on_body_end = on_body_end,
    .on_drain = on_drain,
    .on_abort = on_abort,
    .on_close = on_close,
    .on_refused = on_refused,
};

int wp_serve_http1(struct wp_engine *e, struct transport *t)
{
	struct wp_conn *conn = calloc(1, sizeof(*conn));

	if (!conn || transport_peer_copy(&conn->peer, transport_peer(t))) {
		free(conn);
		transport_close(t, true);
		return -ENOMEM;
	}
	struct h1_server_limits lim = {.idle_ms = e->o.hcm.idle_ms,
				       .headers_ms = e->o.hcm.headers_ms,
				       .headers = e->o.hcm.headers};

	conn->e = e;
	conn->s = h1_server_new(e->loop, t, &wp_h1_events, conn, &lim);
	if (!conn->s) {
		transport_peer_clear(&conn->peer);
		free(conn);
		return -ENOMEM;
	}
	conn->next = e->conns;
	if (e->conns)
		e->conns->prev = conn;
	e->conns = conn;
	e->n_conns++;
	if (e->draining)
		h1_server_drain(conn->s);
	return 0;
}

/* ---- the engine ---- */

struct wp_engine *wp_engine_new(struct loop *l, struct wp_gen *gen, const struct wp_engine_opts *o)
{
	struct wp_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->loop = l;
	e->o = *o;
	if (!e->o.hcm.stream_idle_ms)
		e->o.hcm.stream_idle_ms = WP_STREAM_IDLE_MS;
	e->view = view_new(gen);
	if (o->log_fd >= 0)
		e->log = wp_log_new(l, o->log_fd, o->log_json);
	if (!e->view || (o->log_fd >= 0 && !e->log)) {
		if (e->view)
			view_free(e->view);
		wp_log_free(e->log);
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	return e;
}

void wp_engine_set_gen(struct wp_engine *e, struct wp_gen *gen)
{
	struct wp_view *v = view_new(gen);

	if (!v)
		return; /* keep serving the previous generation */
	e->view->next = e->retired;
	e->retired = e->view;
	e->view = v;
	views_collect(e);
}

const struct wp_gen *wp_engine_gen(const struct wp_engine *e)
{
	return e->view->gen;
}

int wp_engine_serve_udp(struct wp_engine *e, const struct hbone_request *req,
			struct hbone_upstream *up, const struct transport_peer *peer)
{
	return wp_udp_serve(e, req, up, peer);
}

void wp_engine_drain(struct wp_engine *e)
{
	e->draining = true;
	for (struct wp_conn *c = e->conns, *n; c; c = n) {
		n = c->next;
		h1_server_drain(c->s);
	}
	wp_h2_drain_all(e);
}

size_t wp_engine_reclaim(struct wp_engine *e, size_t n)
{
	size_t closed = wp_detect_reclaim(e, n);
	struct wp_conn *c = e->conns;

	while (c && c->next)
		c = c->next;
	/* Oldest first (the list is newest first); an exchange in progress is never cut. */
	for (; c && closed < n; c = c->prev) {
		/* Nor a response still being written out after its exchange. */
		if (c->req || c->reclaimed || !c->s || h1_server_queued(c->s))
			continue;
		c->reclaimed = true;
		h1_server_close(c->s, true);
		closed++;
	}
	return closed;
}

size_t wp_engine_active(const struct wp_engine *e)
{
	return e->n_conns + e->n_mirrors + e->n_h2downs + e->n_tcps + e->n_udps;
}

size_t wp_engine_requests(const struct wp_engine *e)
{
	return e->n_reqs;
}

/*
 * Envoy's stream idle timeout: a request with no activity either way for stream_idle_ms is
 * answered 408 (its body stopped coming) or 504 (it was whole: the upstream is silent), or cut
 * when its response had begun. Swept rather than timed: a request costs no timer.
 */
static void stream_idle(struct wp_req *r)
{
	struct wp_conn *conn = r->conn;

	wp_req_flag(r, "SI");
	if (!r->resp_started) {
		wp_up_cancel(r);
		wp_req_reply(r, WP_REPLY_STREAM_IDLE, r->req_end ? 504 : 0, NULL, 0);
		return;
	}
	r->details = "stream_idle_timeout";
	wp_req_finish(r);
	wp_down_cut(conn);
}

#define IDLE_SWEEP_MS 250

static void sweep_idle(struct wp_engine *e, uint64_t now)
{
	uint64_t limit = e->o.hcm.stream_idle_ms;

	if (!limit || now - e->idle_swept_ms < IDLE_SWEEP_MS)
		return;
	e->idle_swept_ms = now;
	for (struct wp_req *r = e->reqs, *n; r; r = n) {
		n = r->anext;
		if (now - r->active_ms >= limit)
			stream_idle(r);
	}
}

void wp_engine_sweep(struct wp_engine *e)
{
	uint64_t now = loop_now_ms(e->loop);

	sweep_idle(e, now);
	for (size_t i = 0; i < e->view->gen->n_clusters; i++)
		if (e->view->ups[i].ready)
			wp_cluster_sweep(e->view->ups[i].c, now);
	wp_h2_sweep(e);
	wp_h2up_sweep(e);
	wp_tcp_sweep(e);
	wp_udp_sweep(e);
	wp_trace_flush(e);
}

void wp_engine_destroy(struct wp_engine *e)
{
	if (!e)
		return;
	for (struct wp_conn *c = e->conns, *n; c; c = n) {
		n = c->next;
		h1_server_close(c->s, true);
	}
	wp_h2_close_all(e);
	wp_tcp_close_all(e);
	wp_udp_close_all(e);
	wp_h2up_close_all(e);
	/* The connections' on_close runs from loop tasks: run them before the views go. */
	for (int i = 0; i < 8 && (e->conns || e->h2downs || e->tcps || e->h2ups); i++)
		loop_run_once(e->loop, 0);
	wp_mirror_abort_all(e);
	wp_trace_destroy(e);
	views_collect(e);
	e->view->next = e->retired;
	for (struct wp_view *v = e->view, *n; v; v = n) {
		n = v->next;
		view_free(v);
	}
	wp_log_free(e->log);
	wp_jwt_cache_free(e->jwt_cache);
	free(e);
}
