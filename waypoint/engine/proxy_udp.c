// SPDX-License-Identifier: Apache-2.0
/*
 * UDP through the waypoint (proxy_priv.h). A client's ztunnel carries a flow to a Service bound
 * to this waypoint as a CONNECT-UDP (hbone_udp.h) naming the address the pod sent to, its
 * Service's VIP:port. The flow is decided by the Service's AuthorizationPolicies as a connection
 * is (wp_l4_authorize: ports, principals, namespaces, ipBlocks; denied, the CONNECT is answered
 * 403), goes to an endpoint of the Service (its DestinationRule's load balancing over every
 * cluster's, as a request's, ejected hosts passed over; UDP has no routes in Istio's APIs), and
 * is carried there as this waypoint's CONNECT-UDP to that endpoint's ztunnel, as its TCP
 * connections are (to another network inside the double HBONE through its gateway): the
 * endpoint sees the waypoint, its ztunnel checks the waypoint's identity. Datagrams go between the
 * two flows as they are, boundaries kept; one either flow cannot take is dropped and counted by it
 * (hbone_udp_stats), never queued without bound. The flow ends when either side ends it, or
 * after WP_UDP_IDLE_MS without a datagram either way (a backstop: the ztunnels' own idle times,
 * shorter, end it first). It ends in one access-log line, Envoy's TCP proxy's, and counts in
 * Istio's istio_tcp_* series with request_protocol "udp" (docs/udp.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "hbone/hbone_udp.h"
#include "hbone/transport_hbone.h"
#include "proxy_priv.h"

/* A flow with no datagram either way for this long ends (the ztunnels' end theirs sooner). */
#define WP_UDP_IDLE_MS (300u * 1000)
#define WP_UDP_SWEEP_MS 1000

struct wp_udp {
	struct wp_engine *e;
	struct wp_view *view;
	struct hbone_udp *down, *up; /* the client's flow, and the one to the endpoint */
	struct transport_peer peer;
	struct wp_upstream *u;
	struct wp_tcp_series *series;
	int svc, host;
	const char *details; /* why it ended (Envoy's termination details), or NULL */
	char denied[360];
	struct timespec start_wall;
	uint64_t start_ms, active_ms, bytes_in, bytes_out;
	bool ended;
	struct wp_udp *next, *prev;
};

static void record(struct wp_udp *x, const char *flag)
{
	wp_l4_record(x->e, &(struct wp_l4_rec){
			       .gen = x->view->gen,
			       .peer = &x->peer,
			       .svc = x->svc >= 0 ? &x->view->gen->l7->services[x->svc] : NULL,
			       .u = x->u,
			       .host = x->host,
			       .start = x->start_wall,
			       .start_ms = x->start_ms,
			       .bytes_in = x->bytes_in,
			       .bytes_out = x->bytes_out,
			       .flags = flag,
			       .details = x->details});
}

static void udp_free(void *arg)
{
	struct wp_udp *x = arg;

	transport_peer_clear(&x->peer);
	free(x);
}

/* Both flows end (their streams reset), the record is written, @x goes after the batch. */
static void end(struct wp_udp *x, const char *flag)
{
	struct wp_engine *e = x->e;

	if (x->ended)
		return;
	x->ended = true;
	record(x, flag);
	wp_stats_tcp_close(e->o.stats, x->series);
	hbone_udp_free(x->down);
	hbone_udp_free(x->up);
	x->down = x->up = NULL;
	if (x->prev)
		x->prev->next = x->next;
	else
		e->udps = x->next;
	if (x->next)
		x->next->prev = x->prev;
	e->n_udps--;
	x->view->users--;
	loop_defer_free(e->loop, x, udp_free);
}

/* The client's datagram, to the endpoint (held until its CONNECT is answered, within bounds). */
static void down_datagram(void *arg, struct hbone_udp *f, const uint8_t *p, size_t len)
{
	struct wp_udp *x = arg;

	if (x->ended || hbone_udp_send(x->up, p, len))
		return;
	x->bytes_in += len;
	x->active_ms = loop_now_ms(x->e->loop);
	wp_stats_tcp_bytes(x->e->o.stats, x->series, 0, len);
}

/* The endpoint's answer, to the client. */
static void up_datagram(void *arg, struct hbone_udp *f, const uint8_t *p, size_t len)
{
	struct wp_udp *x = arg;

	if (x->ended || hbone_udp_send(x->down, p, len))
		return;
	x->bytes_out += len;
	x->active_ms = loop_now_ms(x->e->loop);
	wp_stats_tcp_bytes(x->e->o.stats, x->series, len, 0);
}

static void down_closed(void *arg, struct hbone_udp *f, const char *reason)
{
	struct wp_udp *x = arg;

	pr_debug("waypoint: UDP flow: the client's end: %s", reason);
	x->down = NULL; /* ended by its peer: freed with the rest */
	hbone_udp_free(f);
	end(x, NULL);
}

static void up_closed(void *arg, struct hbone_udp *f, const char *reason)
{
	struct wp_udp *x = arg;
	bool refused = !hbone_udp_established(f);

	pr_debug("waypoint: UDP flow: the endpoint's end: %s", reason);
	/* Its ztunnel never answered 200: as a TCP connect failure, for outlier detection. */
	if (refused)
		wp_cluster_record(x->u->c, (size_t)x->host, WP_OUTCOME_CONNECT_FAILURE, 0,
				  loop_now_ms(x->e->loop));
	x->up = NULL;
	hbone_udp_free(f);
	end(x, refused ? "UF" : "UC");
}

static const struct hbone_udp_ops down_ops = {.datagram = down_datagram, .closed = down_closed};
static const struct hbone_udp_ops up_ops = {.datagram = up_datagram, .closed = up_closed};

/* A flow that went no further than its decision: its record, and the CONNECT's answer. */
static int refuse(struct wp_udp *x, int status, const char *flag, const char *why)
{
	pr_debug("waypoint: UDP flow not forwarded: %s", why);
	end(x, flag);
	return status;
}

int wp_udp_serve(struct wp_engine *e, const struct hbone_request *req, struct hbone_upstream *up,
		 const struct transport_peer *peer)
{
	struct wp_udp *x = calloc(1, sizeof(*x));
	struct wp_gen *g = e->view->gen;
	union sockaddr_inet dst;
	struct wp_cluster *c;
	const char *id;

	if (!x || transport_peer_copy(&x->peer, peer)) {
		free(x);
		return 503;
	}
	x->e = e;
	x->host = -1;
	x->view = e->view;
	x->view->users++;
	x->start_ms = x->active_ms = loop_now_ms(e->loop);
	clock_gettime(CLOCK_REALTIME, &x->start_wall);
	x->next = e->udps;
	if (e->udps)
		e->udps->prev = x;
	e->udps = x;
	e->n_udps++;
	if (e->draining)
		return refuse(x, 503, NULL, "draining");
	x->svc = wp_gen_service(g, x->peer.dest_host, &x->peer.dest_ip);
	if (x->svc < 0)
		return refuse(x, 404, "NR", "no service");
	if (!wp_l4_authorize(g, x->svc, &x->peer, "a UDP flow", x->denied, sizeof(x->denied))) {
		x->details = x->denied;
		return refuse(x, 403, NULL, x->denied);
	}
	c = wp_gen_cluster(g, x->svc, NULL, x->peer.dest_port, wp_peer_v6(&x->peer));
	x->u = c ? wp_view_upstream(e, x->view, c) : NULL;
	x->host = x->u ? wp_upstream_pick(x->u, false, 0, NULL, 0) : -1;
	if (x->host < 0)
		return refuse(x, 503, c ? "UH" : "NR", c ? "no healthy endpoint" : "no cluster");
	id = c->ep[x->host]->identity;
	if (wp_cluster_dst(c, (size_t)x->host, &x->peer, NULL, &dst))
		return refuse(x, 503, "UH", "no destination for the endpoint");
	/* UDP is carried for the mesh's workloads: an endpoint outside it has no ztunnel. */
	x->up = id ? connector_hbone_udp_open(e->o.cn, &dst, id, &up_ops, x) : NULL;
	if (!x->up)
		return refuse(x, 503, "UF", id ? strerror(errno) : "an endpoint outside the mesh");
	x->down = hbone_udp_accept(req, up, &down_ops, x);
	if (!x->down)
		return refuse(x, 503, NULL, "out of memory");
	x->series = wp_l4_series_open(e, g, &x->peer, c, x->host, "udp");
	return 0;
}

void wp_udp_sweep(struct wp_engine *e)
{
	uint64_t now = loop_now_ms(e->loop);

	if (now - e->udp_swept_ms < WP_UDP_SWEEP_MS)
		return;
	e->udp_swept_ms = now;
	for (struct wp_udp *x = e->udps, *n; x; x = n) {
		n = x->next;
		if (now - x->active_ms >= WP_UDP_IDLE_MS)
			end(x, NULL);
	}
}

void wp_udp_close_all(struct wp_engine *e)
{
	while (e->udps)
		end(e->udps, NULL);
}
