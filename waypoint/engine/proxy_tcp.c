// SPDX-License-Identifier: Apache-2.0
/*
 * TCP passthrough (proxy_priv.h): a connection that is not HTTP — detected so, or to a port
 * declared tcp, mysql, redis... — is spliced, bytes both ways, to one endpoint: of the
 * destination picked by the Service's VirtualService tcp routes (API_SEMANTICS.md §1.4: the
 * first rule whose port and destinationSubnets match, a weighted destination per connection),
 * else of the Service itself. Half-closes pass through (each side's EOF becomes a shutdown of
 * the other), and each direction stops reading while the other side's queue is above
 * TRANSPORT_HIGH_WATER. The connection ends in one access-log line ("- - -", Envoy's TCP
 * proxy format), and counts in Istio's istio_tcp_* series of its label set (reporter
 * "waypoint"): opened once forwarded, its bytes as they pass, closed at its end. A connection
 * with no byte either way for its cluster's DestinationRule connectionPool.tcp.idleTimeout (an
 * hour by default, 0 for none: Envoy's TCP proxy idle_timeout) is closed, both sides with a FIN.
 * A waypoint's connection is first decided by its Service's AuthorizationPolicies as a
 * connection (wp_l4_authorize): denied, it is reset before any byte goes on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "ambit/log.h"
#include "proxy_priv.h"

struct wp_tcp {
	struct wp_engine *e;
	struct wp_view *view;
	struct transport *down, *up;
	struct transport_peer peer;
	struct wp_upstream *u;
	struct wp_tcp_series *series; /* in the worker's store, once forwarded */
	int svc, host;
	const char *source;  /* the tcp route's, or NULL */
	const char *details; /* why it ended, for the record (Envoy's termination details) */
	char denied[360];    /* the details of a denial */
	char *sni;	     /* a gateway's TLS passthrough: the ClientHello's server name */
	struct timespec start_wall;
	uint64_t start_ms, bytes_in, bytes_out;
	uint64_t active_ms, idle_ms; /* the last byte either way; the idle timeout (0: none) */
	bool down_eof, up_eof, opened, ended;
	struct wp_tcp *next, *prev;
};

/* A destination of @d (@n of them) by weight: one draw per connection. */
static const struct l7_destination *weighted(const struct l7_destination *d, size_t n)
{
	uint64_t total = 0, x;

	for (size_t i = 0; i < n; i++)
		total += d[i].weight;
	if (!n)
		return NULL;
	if (!total)
		return &d[0];
	x = wp_random() % total;
	for (size_t i = 0; i < n; i++) {
		if (x < d[i].weight)
			return &d[i];
		x -= d[i].weight;
	}
	return &d[n - 1];
}

void wp_l4_record(struct wp_engine *e, const struct wp_l4_rec *r)
{
	struct wp_record rec = {.start = r->start, .grpc_status = -1, .upstream_ms = -1};
	const struct l7_service *svc = r->svc;
	char host[SOCKADDR_INET_STRLEN] = "-";

	if (!e->log)
		return;
	rec.flags = r->flags ? r->flags : "-";
	rec.details = r->details;
	rec.bytes_received = r->bytes_in;
	rec.bytes_sent = r->bytes_out;
	rec.duration_ms = loop_now_ms(e->loop) - r->start_ms;
	if (r->u && r->host >= 0) {
		wp_addr_text(&r->u->c->addr[r->host], host, sizeof(host));
		rec.upstream_cluster = r->u->c->name;
	}
	rec.upstream_host = host;
	rec.route_name = r->route;
	rec.server_name = r->sni;
	rec.downstream_remote = r->peer->client;
	rec.downstream_local = r->peer->local;
	rec.source_principal = r->peer->identity;
	rec.source_cluster = rec.destination_cluster = r->gen->cluster_id;
	rec.mtls = r->peer->mtls;
	if (svc && !svc->workload) {
		rec.destination_service = svc->hostname;
		rec.destination_service_name = svc->name;
		rec.destination_service_namespace = svc->namespace;
	}
	/* No stats store: the request series are HTTP's; the line alone. */
	wp_stats_record(NULL, &rec, e->log);
}

static void record(struct wp_tcp *x, const char *flag)
{
	const struct l7_service *svc = x->svc >= 0 ? &x->view->gen->l7->services[x->svc] : NULL;

	/* A gateway's destination is the Service its route chose, not its own listener's. */
	if (x->view->gen->l7->gateway)
		svc = x->u ? x->u->c->svc : NULL;
	wp_l4_record(x->e, &(struct wp_l4_rec){.gen = x->view->gen,
					       .peer = &x->peer,
					       .svc = svc,
					       .u = x->u,
					       .host = x->host,
					       .start = x->start_wall,
					       .start_ms = x->start_ms,
					       .bytes_in = x->bytes_in,
					       .bytes_out = x->bytes_out,
					       .flags = flag,
					       .details = x->details,
					       .route = x->source,
					       .sni = x->sni});
}

struct wp_tcp_series *wp_l4_series_open(struct wp_engine *e, const struct wp_gen *g,
					const struct transport_peer *p, const struct wp_cluster *c,
					int host, const char *protocol)
{
	struct wp_record rec = {.grpc_status = -1, .flags = "-", .protocol = protocol};
	struct wp_labels_buf lb;
	struct wp_metric_ops mo;
	struct wp_tag_op ops[16];
	char vals[16][WP_TAG_VALUE_MAX];

	if (!e->o.stats)
		return NULL;
	wp_record_source(g, p, &rec, &lb);
	wp_record_destination(g, c->svc, c->ep[host], &rec, &lb);
	if (wp_svc_metric_ops(g, c->svc, &mo, ops, vals, 16))
		rec.mo = &mo;
	return wp_stats_tcp_open(e->o.stats, &rec);
}

static void tcp_free(void *arg)
{
	struct wp_tcp *x = arg;

	transport_peer_clear(&x->peer);
	free(x->sni);
	free(x);
}

/* Both sides go (with an RST when @reset), the record is written, @x after the batch. */
static void end(struct wp_tcp *x, bool reset, const char *flag)
{
	struct wp_engine *e = x->e;

	if (x->ended)
		return;
	x->ended = true;
	record(x, flag);
	wp_stats_tcp_close(e->o.stats, x->series);
	transport_close(x->down, reset);
	transport_close(x->up, reset);
	if (x->prev)
		x->prev->next = x->next;
	else
		e->tcps = x->next;
	if (x->next)
		x->next->prev = x->prev;
	e->n_tcps--;
	x->view->users--;
	loop_defer_free(e->loop, x, tcp_free);
}

/* Bytes one way: all taken, the source paused while the other side's queue is high. */
static size_t splice(struct wp_tcp *x, struct transport *from, struct transport *to,
		     const char *data, size_t len)
{
	if (x->ended)
		return len;
	if (transport_write(to, data, len)) {
		end(x, true, NULL);
		return len;
	}
	if (transport_queued(to) >= TRANSPORT_HIGH_WATER)
		transport_pause(from);
	return len;
}

static size_t down_data(void *arg, const char *data, size_t len)
{
	struct wp_tcp *x = arg;

	x->bytes_in += len;
	x->active_ms = loop_now_ms(x->e->loop);
	wp_stats_tcp_bytes(x->e->o.stats, x->series, 0, len);
	return splice(x, x->down, x->up, data, len);
}

static size_t up_data(void *arg, const char *data, size_t len)
{
	struct wp_tcp *x = arg;

	x->bytes_out += len;
	x->active_ms = loop_now_ms(x->e->loop);
	wp_stats_tcp_bytes(x->e->o.stats, x->series, len, 0);
	return splice(x, x->up, x->down, data, len);
}

static void down_eof(void *arg)
{
	struct wp_tcp *x = arg;

	x->down_eof = true;
	transport_shutdown(x->up);
	if (x->up_eof)
		end(x, false, NULL);
}

static void up_eof(void *arg)
{
	struct wp_tcp *x = arg;

	x->up_eof = true;
	transport_shutdown(x->down);
	if (x->down_eof)
		end(x, false, NULL);
}

static void down_drain(void *arg)
{
	struct wp_tcp *x = arg;

	if (!x->ended)
		transport_resume(x->up);
}

static void up_drain(void *arg)
{
	struct wp_tcp *x = arg;

	if (!x->ended)
		transport_resume(x->down);
}

static void up_open(void *arg)
{
	struct wp_tcp *x = arg;

	x->opened = true;
}

static void down_error(void *arg, int err)
{
	end(arg, true, "DC");
}

static void up_error(void *arg, int err)
{
	struct wp_tcp *x = arg;

	if (!x->opened)
		wp_cluster_record(x->u->c, (size_t)x->host, WP_OUTCOME_CONNECT_FAILURE, 0,
				  loop_now_ms(x->e->loop));
	end(x, true, x->opened ? "UC" : "UF");
}

static const struct transport_cbs down_cbs = {
    .on_data = down_data,
    .on_eof = down_eof,
    .on_drain = down_drain,
    .on_error = down_error,
};

static const struct transport_cbs up_cbs = {
    .on_data = up_data,
    .on_eof = up_eof,
    .on_drain = up_drain,
    .on_open = up_open,
    .on_error = up_error,
};

/*
 * The cluster the connection goes to: its tcp route's destination, else the Service's. A
 * gateway has no Service of its own to fall back to: no route is Envoy's "no filter chain".
 */
static struct wp_cluster *route(struct wp_tcp *x)
{
	struct wp_gen *g = x->view->gen;
	const struct l7_service *s = &g->l7->services[x->svc];
	uint16_t port = x->peer.dest_port;
	const struct l7_tcp_route *t = wp_tcp_route_select(s, port, &x->peer.dest_ip, x->sni);
	bool v6 = wp_peer_v6(&x->peer);
	const struct l7_destination *d;
	int ds;

	if (!t)
		return g->l7->gateway ? NULL : wp_gen_cluster(g, x->svc, NULL, port, v6);
	x->source = t->source;
	d = weighted(t->dests, t->n_dests);
	if (!d || d->unknown)
		return NULL;
	ds = wp_gen_service(g, d->host, NULL);
	return ds < 0 ? NULL : wp_gen_cluster(g, ds, d->subset, d->port ? d->port : port, v6);
}

bool wp_l4_authorize(const struct wp_gen *g, int svc, const struct transport_peer *p,
		     const char *what, char *details, size_t len)
{
	const struct l7_service *s = &g->l7->services[svc];
	struct wp_authz_request rq = {.l4 = true,
				      .sni = p->sni,
				      .trust_domains = (const char *const *)g->trust_domains,
				      .n_trust_domains = g->n_trust_domains};
	struct wp_authz_decision d;
	char name[320];

	if (!s->n_authz)
		return true;
	if (p->identity && !strncmp(p->identity, "spiffe://", 9))
		rq.principal = p->identity + 9;
	/* As a request's: the client its ztunnel named; no x-forwarded-for on a connection. */
	wp_peer_client_ip(p, &rq.source_ip);
	rq.remote_ip = rq.source_ip;
	if (p->dest_ip.family)
		rq.dest_ip = p->dest_ip;
	else if (!sockaddr_inet_is_any(&p->local))
		sockaddr_inet_to_ipaddr(&p->local, &rq.dest_ip);
	rq.dest_port = p->dest_port ? p->dest_port : sockaddr_inet_port(&p->local);
	wp_authz_decide_indexed(g->l7, s, g->authz[svc], &rq, &d);
	if (d.shadow_denied) {
		wp_authz_policy_name(d.shadow, d.shadow_rule, name, sizeof(name));
		pr_info("dry-run: %s to %s would be denied by %s", what, s->hostname, name);
	}
	if (d.verdict == WP_AUTHZ_ALLOW)
		return true;
	/* CUSTOM asks over HTTP, which a connection is not: what it matches is denied. */
	wp_authz_policy_name(d.policy, d.rule, name, sizeof(name));
	snprintf(details, len, "rbac_access_denied_matched_policy[%s]", name);
	pr_debug("waypoint: %s to %s denied by %s", what, s->hostname, name);
	return false;
}

/* What a TCP connection is: a proxied one, or an east-west gateway's stream (of a waypoint). */
enum tcp_kind { TCP_PROXIED, TCP_EAST_WEST, TCP_EAST_WEST_FROM_WAYPOINT };

/*
 * @ew: an east-west gateway's stream, whose bytes go as they are to the endpoint's port 15008
 * (the destination's ztunnel) or its Service's waypoint's (wp_gen_east_west), over plain TCP:
 * no route of its own (Istio's east-west gateway forwards by the Service alone), the
 * endpoint's family the stream's.
 */
static int tcp_serve(struct wp_engine *e, struct transport *t, const char *pre, size_t len,
		     bool eof, const char *sni, enum tcp_kind ew)
{
	struct wp_tcp *x = calloc(1, sizeof(*x));
	struct h1_pool_limits lim;
	union sockaddr_inet dst;
	struct wp_cluster *c;
	const char *why = NULL;

	if (!x || transport_peer_copy(&x->peer, transport_peer(t)) ||
	    (sni && !(x->sni = strdup(sni)))) {
		if (x)
			transport_peer_clear(&x->peer);
		free(x);
		transport_close(t, true);
		return -ENOMEM;
	}
	x->e = e;
	x->down = t;
	x->host = -1;
	x->view = e->view;
	x->view->users++;
	x->start_ms = x->active_ms = loop_now_ms(e->loop);
	clock_gettime(CLOCK_REALTIME, &x->start_wall);
	x->next = e->tcps;
	if (e->tcps)
		e->tcps->prev = x;
	e->tcps = x;
	e->n_tcps++;
	transport_set_cbs(t, &down_cbs, x);
	x->svc = wp_gen_service(e->view->gen, x->peer.dest_host, &x->peer.dest_ip);
	/* A waypoint's Service decides the connection (a gateway's listeners are not Services). */
	if (x->svc >= 0 && !ew && !e->view->gen->l7->gateway &&
	    !wp_l4_authorize(e->view->gen, x->svc, &x->peer, "a TCP connection", x->denied,
			     sizeof(x->denied))) {
		x->details = x->denied;
		end(x, true, NULL);
		return 0;
	}
	if (x->svc < 0)
		c = NULL;
	else if (ew)
		c = wp_gen_east_west(e->view->gen, x->svc, x->peer.dest_port, wp_peer_v6(&x->peer),
				     ew == TCP_EAST_WEST_FROM_WAYPOINT);
	else
		c = route(x);
	x->u = c ? wp_view_upstream(e, x->view, c) : NULL;
	x->host = x->u ? wp_upstream_pick(x->u, false, 0, NULL, 0) : -1;
	if (x->host < 0) {
		why = x->svc < 0 ? "no service" : !c ? "no cluster" : "no healthy endpoint";
		goto fail;
	}
	wp_cluster_limits(c, &lim);
	x->idle_ms = wp_cluster_tcp_idle_ms(c);
	/* No Host on a TCP connection: DYNAMIC_DNS is HTTP's (Istio's too). */
	if (wp_cluster_dst(c, (size_t)x->host, &x->peer, NULL, &dst)) {
		why = "no destination for the entry (not in its addresses, or DYNAMIC_DNS)";
		goto fail;
	}
	if (ew)
		sockaddr_inet_set_port(&dst, L7_HBONE_PORT);
	x->up = ew ? (e->o.tcp_cn ? connector_open(e->o.tcp_cn, &dst, NULL, lim.connect_timeout_ms,
						   &up_cbs, x)
				  : NULL)
		   : connector_open(x->u->cn, &dst, c->ep[x->host]->identity,
				    lim.connect_timeout_ms, &up_cbs, x);
	if (!x->up) {
		why = "cannot connect";
		goto fail;
	}
	/* A tcp route's destination, or the Service. */
	x->series = wp_l4_series_open(e, e->view->gen, &x->peer, c, x->host, NULL);
	x->bytes_in = len;
	wp_stats_tcp_bytes(e->o.stats, x->series, 0, len);
	if (len && transport_write(x->up, pre, len)) {
		why = "cannot send";
		goto fail;
	}
	if (eof)
		down_eof(x);
	return 0;
fail:
	pr_debug("waypoint: TCP connection not forwarded: %s%s%s", why, x->sni ? ", SNI " : "",
		 x->sni ? x->sni : "");
	end(x, true, x->svc < 0 || !c ? "NR" : "UH");
	return 0;
}

int wp_tcp_serve(struct wp_engine *e, struct transport *t, const char *pre, size_t len, bool eof,
		 const char *sni)
{
	return tcp_serve(e, t, pre, len, eof, sni, TCP_PROXIED);
}

int wp_tcp_serve_east_west(struct wp_engine *e, struct transport *t, bool from_waypoint)
{
	return tcp_serve(e, t, NULL, 0, false, NULL,
			 from_waypoint ? TCP_EAST_WEST_FROM_WAYPOINT : TCP_EAST_WEST);
}

/* Swept once a second rather than timed: a connection costs no timer. */
#define TCP_SWEEP_MS 1000

void wp_tcp_sweep(struct wp_engine *e)
{
	uint64_t now = loop_now_ms(e->loop);

	if (now - e->tcp_swept_ms < TCP_SWEEP_MS)
		return;
	e->tcp_swept_ms = now;
	for (struct wp_tcp *x = e->tcps, *n; x; x = n) {
		n = x->next;
		if (x->idle_ms && now - x->active_ms >= x->idle_ms)
			end(x, false, NULL);
	}
}

void wp_tcp_close_all(struct wp_engine *e)
{
	for (struct wp_tcp *x = e->tcps, *n; x; x = n) {
		n = x->next;
		end(x, true, NULL);
	}
}
