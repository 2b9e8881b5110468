// SPDX-License-Identifier: Apache-2.0
/*
 * The outbound path (15001): a captured connection of a local pod is routed with the snapshot
 * and goes out as HBONE to another node, through the same-node short circuit, or as plain TCP
 * to a destination outside the mesh. An HBONE open that fails before its CONNECT is established
 * is retried (see retry_ms) while the client socket waits, unread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "authz.h"
#include "hbone/hbone.h"
#include "inpod.h"
#include "proxy_priv.h"
#include "net/sock.h"
#include "net/splice.h"

/*
 * The two nodes' agents apply a (un)enrollment at slightly different moments, so an HBONE open
 * can fail only because the destination node has not caught up (its tc still hands the SYN to
 * the pod, or its ztunnel has no certificate or workload for it yet), or has moved on. Such a
 * failure before the CONNECT is established is retried after these pauses, routing again with
 * the newest snapshot each time; no retry starts later than RETRY_BOUND_MS after the accept.
 */
static const unsigned int retry_ms[] = {25, 50, 100, 200, 400};
#define RETRY_BOUND_MS 1000

/*
 * An outbound connection whose HBONE upstream is opening: the client socket was accepted and is
 * not read until the CONNECT is established, so a failed try can be repeated elsewhere or as
 * plain TCP without the application noticing. Lives on the worker's thread only.
 */
struct held {
	struct loop_timer retry; /* armed while waiting out a pause */
	struct zt_worker *w;
	struct held *next, *prev;
	int fd; /* the client socket while waiting to retry; -1 while an HBONE stream holds it */
	union sockaddr_inet peer, dst; /* the client and its original destination */
	uint64_t start_ms;	       /* loop_now_ms at the accept */
	unsigned int tries;
	unsigned int early; /* tries a new snapshot started before their pause ended */
	/* The try in flight: its snapshot (a reference), the route and source decided with it. */
	struct mesh_snap *zs;
	struct zt_route r;
	const struct snap_workload *src;
	struct guard_slot slot; /* the client's share of 15001, until a stream or splice takes it */
	char traceparent[64];	/* the try's CONNECT's */
	bool fresh_via; /* to another network, the try opened a new inner tunnel (not a pooled one)
			 */
};

unsigned int zt_retry_pause(unsigned int step, unsigned long elapsed_ms)
{
	unsigned int pause = step >= 1 && step <= 5 ? retry_ms[step - 1] : 0;

	return pause && elapsed_ms + pause <= RETRY_BOUND_MS ? pause : 0;
}

/* "client -> ip:port" (or "[v6]:port") for the logs. */
static const char *flow_str(const union sockaddr_inet *from, const union sockaddr_inet *to,
			    char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], b[SOCKADDR_INET_STRLEN];

	snprintf(buf, len, "%s -> %s", sockaddr_inet_ntop(from, a, sizeof(a)),
		 sockaddr_inet_format(to, b, sizeof(b)));
	return buf;
}

/* The least-connections key of @r's endpoint (zt_lc_key); 0 for none. */
static uint32_t lc_key(const struct zt_route *r)
{
	struct ipaddr a;

	if (r->addr.sa.sa_family == AF_INET)
		return r->addr.v4.sin_addr.s_addr;
	if (sockaddr_inet_to_ipaddr(&r->addr, &a))
		return 0;
	return zt_lc_key(r->dst_wl, &a);
}

static void held_free(void *p)
{
	free(p);
}

/* Forgets @hd (its client socket is someone else's or closed by now). */
static void held_release(struct held *hd)
{
	struct zt_worker *w = hd->w;

	if (hd->prev)
		hd->prev->next = hd->next;
	else
		w->held = hd->next;
	if (hd->next)
		hd->next->prev = hd->prev;
	loop_timer_cancel(w->loop, &hd->retry);
	mesh_snap_put(hd->zs);
	/* Empty when a stream or a splice took the connection on. */
	guard_release(&hd->slot);
	/* A callback of the same batch may still point here. */
	loop_defer_free(w->loop, hd, held_free);
}

/*
 * The peer the CONNECT goes to: the destination pod, the waypoint taking the traffic, or (to
 * another network) the gateway there, for the logs.
 */
static const char *route_san(const struct zt_route *r)
{
	return r->wp ? r->wp->identity : r->remote ? r->gw->identity : r->dst_wl->identity;
}

/*
 * What the inner tunnel to another network's endpoint must present: any identity the Service's
 * endpoints run as there, space-separated (tls_conn_create), or its waypoint's there (the
 * gateway sends a ztunnel's stream to it). Those that do not fit are left out: the tunnel then
 * fails closed, never opens to an unchecked peer.
 */
static const char *remote_sans(const struct snap_remote_service *r, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (r->waypoint_identity)
		return r->waypoint_identity;
	for (size_t i = 0; i < r->n_identities; i++) {
		size_t l = strlen(r->identities[i]);

		if (n + l + 2 > len)
			break;
		if (n)
			buf[n++] = ' ';
		memcpy(buf + n, r->identities[i], l + 1);
		n += l;
	}
	return buf;
}

static void held_labels(const struct held *hd, struct metrics_labels *l)
{
	zt_fill_labels(l, "source", hd->zs ? hd->zs->snap->cluster_id : NULL, hd->src, NULL,
		       hd->r.wp ? hd->r.wp_wl : hd->r.dst_wl, hd->r.svc, true);
}

/*
 * Out of tries, time, or a final answer: one connection record for all the tries (not one per
 * try), its access-log line at info, and the client is reset, never let out in plaintext.
 */
static void held_fail(struct held *hd, const char *reason)
{
	struct metrics_labels labels;
	struct connrec *rec;
	char why[200], flow[128];

	held_labels(hd, &labels);
	/* Istio ztunnel's flag for a connection its upstream never accepted. */
	labels.response_flags = "CONNECT";
	snprintf(why, sizeof(why), "%s (%u %s, %lums)", reason, hd->tries,
		 hd->tries == 1 ? "try" : "tries", zt_ms_since(hd->w->loop, hd->start_ms));
	rec = connrec_open(&labels, &hd->peer, &hd->r.addr, "outbound");
	if (!rec)
		pr_info("outbound: %s failed: %s",
			flow_str(&hd->peer, &hd->r.addr, flow, sizeof(flow)), why);
	connrec_close(rec, why);
	if (hd->fd >= 0)
		sock_close_reset(hd->fd);
	hd->fd = -1;
	held_release(hd);
}

/* hbone_open_ops: the CONNECT is established; the stream takes the record and the socket. */
static struct connrec *held_established(void *arg, struct guard_slot *slot,
					const struct hbone_peer_baggage *peer)
{
	struct held *hd = arg;
	struct metrics_labels labels;
	struct connrec *rec;
	char a[INET6_ADDRSTRLEN];

	if (hd->tries > 1)
		pr_debug("outbound: %s -> %s established on try %u after %lums",
			 sockaddr_inet_ntop(&hd->peer, a, sizeof(a)), route_san(&hd->r), hd->tries,
			 zt_ms_since(hd->w->loop, hd->start_ms));
	held_labels(hd, &labels);
	zt_labels_from_peer(&labels, peer);
	rec = connrec_open(&labels, &hd->peer, &hd->r.addr, "outbound");
	connrec_set_traceparent(rec, hd->traceparent);
	if (hd->r.svc && lc_key(&hd->r))
		zt_lc_acquire(rec, lc_key(&hd->r));
	if (hd->r.remote)
		zt_share_ok(&hd->w->rr, zt_share_key(hd->r.remote));
	guard_slot_move(slot, &hd->slot);
	held_release(hd);
	return rec;
}

/* hbone_open_ops: the try failed before the CONNECT was established; @fd comes back to us. */
static void held_failed(void *arg, int fd, int status, const char *reason, bool retryable)
{
	struct held *hd = arg;
	struct zt_worker *w = hd->w;
	unsigned long elapsed = zt_ms_since(hd->w->loop, hd->start_ms);
	unsigned int pause = zt_retry_pause(hd->tries - hd->early, elapsed);
	char flow[128];

	hd->fd = fd;
	/*
	 * A new inner tunnel through another network's gateway that failed while the gateway
	 * answered (its own failure is told apart: gateway_health), for anything but a refusal by
	 * policy: what is behind the gateway, that cluster's endpoints of the Service, does not
	 * answer. Its share is passed over for a while; the retry and the next connections go to
	 * endpoints that answer. (A pooled tunnel that died says nothing of which it was.)
	 */
	if (hd->r.remote && hd->fresh_via && status != 401 &&
	    !zt_gateway_out(&w->rr, hd->r.gw, loop_now_ms(w->loop))) {
		pr_info("outbound: %s of cluster %s failed behind its gateway (%s); that cluster's "
			"share passed over for a while",
			hd->r.remote->hostname, hd->r.remote->cluster, reason ? reason : "?");
		zt_share_failed(&w->rr, zt_share_key(hd->r.remote), loop_now_ms(w->loop));
	}
	if (!retryable || w->stopping || !pause) {
		held_fail(hd, reason ? reason : "failed");
		return;
	}
	pr_debug("outbound: %s try %u failed (%s, status %d); retrying in %ums",
		 flow_str(&hd->peer, &hd->r.addr, flow, sizeof(flow)), hd->tries,
		 reason ? reason : "?", status, pause);
	if (loop_timer_arm(w->loop, &hd->retry, pause))
		held_fail(hd, "cannot schedule a retry");
}

static const struct hbone_open_ops held_ops = {
    .established = held_established,
    .failed = held_failed,
};

static void outbound_route(struct zt_worker *w, int fd, const union sockaddr_inet *peer,
			   const union sockaddr_inet *dst, struct mesh_snap *zs, struct held *hd,
			   struct guard_slot *slot);

/* Retry timer: route again with the newest snapshot, which may no longer say "mesh". */
static void held_retry(struct held *hd)
{
	struct mesh_snap *zs = mesh_state_get(hd->w->st);

	if (!zs) {
		held_fail(hd, "no snapshot");
		return;
	}
	/* hd keeps the previous try's snapshot until this try replaces it (its final record). */
	outbound_route(hd->w, hd->fd, &hd->peer, &hd->dst, zs, hd, NULL);
}

static void on_retry(struct loop_timer *t)
{
	held_retry((struct held *)((char *)t - offsetof(struct held, retry)));
}

/*
 * A new snapshot may be the one a held connection waits for (its source enrolled, the
 * destination gone from the mesh): those waiting out a pause try again at once. Such a try does
 * not use up a step of the backoff; the time bound still holds.
 */
void zt_outbound_snapshot(struct zt_worker *w, const struct mesh_snap *zs)
{
	struct held *hd, *next;

	for (hd = w->held; hd; hd = next) {
		next = hd->next;
		/* Not waiting out a pause (in flight), or tried with this snapshot already. */
		if (hd->fd < 0 || !loop_timer_armed(&hd->retry) || hd->zs == zs)
			continue;
		loop_timer_cancel(w->loop, &hd->retry);
		hd->early++;
		held_retry(hd);
	}
}

/*
 * Holds the client @fd (taken) for a try decided with @zs (taken: it replaces the previous
 * try's) and returns the held connection, created on the first try with @slot moved in. NULL
 * (and @fd and @zs released, @slot left to the caller) when out of memory.
 */
static struct held *held_try(struct zt_worker *w, struct held *hd, int fd,
			     const union sockaddr_inet *peer, const union sockaddr_inet *dst,
			     struct mesh_snap *zs, const struct zt_route *r,
			     const struct snap_workload *src, struct guard_slot *slot)
{
	if (!hd) {
		hd = calloc(1, sizeof(*hd));
		if (!hd) {
			mesh_snap_put(zs);
			sock_close_reset(fd);
			return NULL;
		}
		hd->retry.fn = on_retry;
		hd->w = w;
		hd->peer = *peer;
		hd->dst = *dst;
		hd->start_ms = loop_now_ms(w->loop);
		if (slot)
			guard_slot_move(&hd->slot, slot);
		hd->next = w->held;
		if (w->held)
			w->held->prev = hd;
		w->held = hd;
	}
	mesh_snap_put(hd->zs);
	hd->fd = fd;
	hd->zs = zs;
	hd->r = *r;
	hd->src = src;
	hd->tries++;
	return hd;
}

/*
 * A W3C traceparent with a random trace and span id, not sampled: as Istio's ztunnel, which
 * makes no spans, for correlating the two ends' logs. Empty when no randomness is at hand.
 */
static void traceparent(char *out, size_t len)
{
	unsigned char r[24];
	size_t n;

	out[0] = '\0';
	if (len < 56 || getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		return;
	n = (size_t)snprintf(out, len, "00-");
	for (size_t i = 0; i < sizeof(r); i++)
		n += (size_t)snprintf(out + n, len - n, "%s%02x", i == 16 ? "-" : "", r[i]);
	snprintf(out + n, len - n, "-00");
}

/*
 * A gateway of another network answered an outer CONNECT, or did not: one that did not is
 * passed over for a while (zt_gateway_failed), the other gateways of its network take its
 * share, and the connection's retry goes to one of them.
 */
static void gateway_health(void *arg, const union sockaddr_inet *gateway, int status,
			   uint64_t share)
{
	struct zt_worker *w = arg;
	char a[SOCKADDR_INET_STRLEN];

	sockaddr_inet_format(gateway, a, sizeof(a));
	if (!status) {
		pr_info("outbound: gateway %s did not answer; passed over for a while", a);
		zt_gateway_failed(&w->rr, gateway, loop_now_ms(w->loop));
		return;
	}
	zt_gateway_ok(&w->rr, gateway);
	/*
	 * It answered but could not take the stream (the Service's endpoint there does not
	 * answer, or the Service is gone there): that cluster's share is passed over for a while,
	 * the retry and the next connections go to endpoints that answer.
	 */
	if (status != 200) {
		pr_info("outbound: gateway %s answered %d: that cluster's share passed over for a "
			"while",
			a, status);
		zt_share_failed(&w->rr, share, loop_now_ms(w->loop));
	}
}

void zt_outbound_via(struct zt_worker *w, const struct snapshot *s, const struct zt_route *r,
		     uint16_t port, struct hbone_target *t, char *host, char *sans, size_t sans_len)
{
	t->addr = r->addr;
	snprintf(host, ZT_VIA_HOST_MAX, "%s:%u", r->svc->hostname, port);
	t->via_authority = host;
	t->via_san = r->gw->identity;
	t->via_slot = r->via_slot;
	t->expect_san = remote_sans(r->remote, sans, sans_len);
	t->network = s->network && *s->network ? s->network : NULL;
	t->via_health = gateway_health;
	t->via_health_arg = w;
	t->via_key = zt_share_key(r->remote);
}

/*
 * Starts an HBONE try for @fd (taken); @zs (taken) is the snapshot @r and @src come from and
 * replaces the previous try's in @hd.
 */
static void outbound_hbone(struct zt_worker *w, int fd, const union sockaddr_inet *peer,
			   const union sockaddr_inet *dst, struct mesh_snap *zs, struct held *hd,
			   const struct zt_route *r, const struct snap_workload *src,
			   struct guard_slot *slot)
{
	char auth[SOCKADDR_INET_STRLEN], client[SOCKADDR_INET_STRLEN + 2], ip[SOCKADDR_INET_STRLEN];
	char bag[512], tp[64], sans[2048], host[ZT_VIA_HOST_MAX];
	struct hbone_target t = {
	    .authority = auth,
	    .forwarded_for = client,
	    .forwarded_host = r->svc ? r->svc->hostname : NULL,
	    .baggage = bag,
	    .traceparent = tp,
	    .identity = src->identity,
	    .expect_san = route_san(r),
	    .ctx = mesh_snap_ctx(zs, src->identity, false),
	    .ops = &held_ops,
	};
	struct sock_ns ns;

	/*
	 * TLS to the destination pod's address on 15008, where its node's tc hands the SYN to
	 * that ztunnel: for an IPv6 destination its IPv4 one when it has one (the same pod, the
	 * same certificate; the CONNECT names the IPv6 address), so HBONE between dual-stack nodes
	 * runs over IPv4 as it always did.
	 */
	if (r->addr.sa.sa_family == AF_INET6 && r->dst_wl && r->dst_wl->ip)
		sockaddr_inet_v4(&t.addr, r->dst_wl->ip, w->o.hbone_port);
	else {
		t.addr = r->addr;
		sockaddr_inet_set_port(&t.addr, w->o.hbone_port);
	}
	/*
	 * In-pod: the connection leaves from the client pod's own netns, pooled per pod (an
	 * IPv6-only pod's found by its IPv6).
	 */
	if (src->ip ? zt_inpod_ns(src->ip, &ns)
		    : src->ip6.family == AF_INET6 &&
			  zt_inpod_ns6((const struct in6_addr *)src->ip6.a, &ns))
		t.ns = &ns;

	/* To a waypoint: TLS to its instance, the CONNECT names what the client addressed. */
	if (r->wp)
		t.addr = r->wp_addr;
	if (r->remote)
		zt_outbound_via(w, zs->snap, r, sockaddr_inet_port(dst), &t, host, sans,
				sizeof(sans));
	hd = held_try(w, hd, fd, peer, dst, zs, r, src, slot);
	if (!hd)
		return;
	t.ops_arg = hd;
	if (!t.ctx) {
		/* The snapshot with its certificate may be on its way: as any other failed try. */
		held_failed(hd, fd, 0, "no certificate for the source", true);
		return;
	}
	/*
	 * RFC 7239 §6: "ip:port" or "[v6]:port", quoted; the destination's ztunnel logs the
	 * client's socket. RFC 3986's authority: "[v6]:port" too.
	 */
	snprintf(client, sizeof(client), "\"%s\"", sockaddr_inet_format(peer, ip, sizeof(ip)));
	if (r->remote)
		t.authority = host;
	else
		sockaddr_inet_format(&r->addr, auth, sizeof(auth));
	/* A waypoint takes its source labels from it when the pod backs no Service it knows. */
	zt_baggage(src, zs->snap->cluster_id, bag, sizeof(bag));
	traceparent(tp, sizeof(tp));
	if (!tp[0])
		t.traceparent = NULL;
	memcpy(hd->traceparent, tp, sizeof(hd->traceparent));
	hd->fd = -1;
	hd->fresh_via = r->remote && !hbone_pool_reuses(w->pool, &t);
	if (hbone_pool_open(w->pool, &t, fd, NULL) == 0)
		return;
	/* Could not even start (no memory, no route to the peer): the socket is still ours. */
	held_failed(hd, fd, 0, "cannot open an HBONE stream", true);
}

/*
 * Routes the client connection @fd (taken) to its original destination @dst with @zs (taken):
 * HBONE to another node's enrolled pod, the same-node short circuit, or plain TCP for
 * destinations outside the mesh. @hd is NULL on the first try, else the held connection being
 * retried (ended here unless it tries HBONE again). @slot, on the first try only, is the
 * client's share of 15001: moved to what keeps the connection.
 */
static void outbound_route(struct zt_worker *w, int fd, const union sockaddr_inet *peer,
			   const union sockaddr_inet *dst, struct mesh_snap *zs, struct held *hd,
			   struct guard_slot *slot)
{
	struct guard_slot kept = {};
	const struct snapshot *s = zs->snap;
	const struct snap_workload *src;
	struct ipaddr src_ip, dst_ip;
	struct metrics_labels labels;
	struct authz_result ar;
	struct zt_route r;
	struct connrec *rec;
	char a[SOCKADDR_INET_STRLEN];
	bool mesh, local_dst, as_pod;
	int up;

	src = zt_workload_at(s, peer);
	/*
	 * Captured, but this snapshot does not (or no longer) enroll the source: the agent
	 * updates the capture map before the ztunnel gets the snapshot saying so, and may drop it
	 * in either order. Without an identity it can only go out as plain TCP.
	 */
	if (!zt_local_enrolled(s, src))
		src = NULL;
	w->rr.now_ms = loop_now_ms(w->loop);
	if (zt_route_outbound(s, src, dst, w->o.lb, &w->rr, zt_lc_active, &r)) {
		pr_info("outbound: %s has no ready endpoint%s",
			sockaddr_inet_format(dst, a, sizeof(a)),
			r.wp ? " (its waypoint has no instance)" : "");
		goto drop;
	}
	/*
	 * Through a waypoint the traffic is HBONE whatever the destination, even on this node;
	 * to another network always, through its gateway.
	 */
	mesh = r.wp || r.remote || (r.dst_wl && r.dst_wl->enrolled);
	local_dst = mesh && !r.wp && !r.remote && zt_local_enrolled(s, r.dst_wl);
	if (mesh && !src) {
		/*
		 * Never plaintext to a mesh destination: wait (bounded) for the snapshot that
		 * enrolls the source, then fail closed.
		 */
		hd = held_try(w, hd, fd, peer, dst, zs, &r, NULL, slot);
		if (hd)
			held_failed(hd, fd, 0, "source not enrolled in the snapshot", true);
		return;
	}
	if (mesh && !local_dst) {
		outbound_hbone(w, fd, peer, dst, zs, hd, &r, src, slot);
		return;
	}
	/* Not (or no longer) HBONE: from here on the connection is handled as a fresh one. */
	if (hd) {
		char flow[128];

		pr_debug("outbound: %s: no longer HBONE after %u tries, %s",
			 flow_str(peer, &r.addr, flow, sizeof(flow)), hd->tries,
			 local_dst ? "same node" : "plain TCP");
		guard_slot_move(&kept, &hd->slot);
		slot = &kept;
		held_release(hd);
		hd = NULL;
	}
	zt_fill_labels(&labels, "source", s->cluster_id, src, NULL, r.dst_wl, r.svc, mesh);
	if (!r.svc && !r.dst_wl) {
		/* Nothing in the registry names it: Istio's two clusters, as Kiali draws them. */
		labels.destination_service = labels.destination_service_name =
		    s->registry_only ? "BlackHoleCluster" : "PassthroughCluster";
		if (s->registry_only) {
			zt_record_blackhole(&labels, peer, &r.addr);
			mesh_snap_put(zs);
			sock_close_reset(fd);
			guard_release(slot);
			return;
		}
	}
	/* Same node: this ztunnel is also the destination's, so its inbound policy applies here. */
	src_ip = zt_ip_of(peer);
	dst_ip = zt_ip_of(&r.addr);
	if (local_dst && !authz_decide(s, r.dst_wl, &dst_ip, sockaddr_inet_port(&r.addr), &src_ip,
				       src->identity, &ar)) {
		zt_record_denial(&labels, peer, &r.addr, "outbound", &ar);
		mesh_snap_put(zs);
		sock_close_reset(fd);
		guard_release(slot);
		return;
	}
	rec = connrec_open(&labels, peer, &r.addr, "outbound");
	if (local_dst) {
		connrec_set_decision(rec, "allow", ar.name);
		authz_track(w->tracker, rec, &dst_ip, sockaddr_inet_port(&r.addr), &src_ip,
			    src->identity);
	}
	if (r.svc && lc_key(&r))
		zt_lc_acquire(rec, lc_key(&r));
	/*
	 * Same node: no TLS on the wire, the pod sees the client's IP (in-pod: from inside the
	 * destination's netns). Else plain: in-pod from the client pod's netns; in host mode from
	 * the client's IP to a pod of the cluster (an ingress gateway's ipBlocks name pods, as
	 * in Istio), from the node's to anything else. Decided before the route's workloads go
	 * with the snapshot.
	 */
	as_pod = !mesh && zt_passthrough_as_client(s, &r, peer);
	mesh_snap_put(zs);
	up = mesh ? zt_connect_to_pod(&r.addr, peer) : zt_connect_from_pod(peer, &r.addr, as_pod);
	if (up < 0) {
		connrec_close(rec, "upstream connect failed");
		close(fd);
		guard_release(slot);
		return;
	}
	splice_start(w->splices, fd, up, rec, slot);
	return;
drop:
	mesh_snap_put(zs);
	if (hd) {
		/* Recorded with the previous try's route: the one that was tried. */
		hd->fd = fd;
		held_fail(hd, "no route any more");
		return;
	}
	close(fd);
	guard_release(slot);
}

/*
 * The original destination of client @peer's connection: what the connect hook recorded under
 * the client socket's own address, in orig_dst or (an IPv6 client) orig_dst6. 0 or -errno.
 */
static int orig_dst_of(const struct zt_worker *w, const union sockaddr_inet *peer,
		       union sockaddr_inet *dst)
{
	uint16_t port = sockaddr_inet_port(peer);
	int err;

	memset(dst, 0, sizeof(*dst));
	if (peer->sa.sa_family == AF_INET6) {
		struct ambit_orig_dst6 od;

		if (w->o.orig_dst6_fd < 0)
			return -ENOENT;
		err = orig_dst6_take(w->o.orig_dst6_fd, &peer->v6.sin6_addr, port, &od);
		if (err)
			return err;
		dst->v6.sin6_family = AF_INET6;
		memcpy(&dst->v6.sin6_addr, od.ip6, sizeof(od.ip6));
		dst->v6.sin6_port = od.port;
		return 0;
	} else {
		struct ambit_orig_dst od;

		if (w->o.orig_dst_fd < 0)
			return -ENOENT;
		err = orig_dst_take(w->o.orig_dst_fd, peer->v4.sin_addr.s_addr, port, &od);
		if (err)
			return err;
		dst->v4.sin_family = AF_INET;
		dst->v4.sin_addr.s_addr = od.ip;
		dst->v4.sin_port = od.port;
		return 0;
	}
}

void zt_outbound(struct zt_worker *w, int fd, struct mesh_snap *zs, struct guard_slot *slot)
{
	const struct snap_workload *src;
	union sockaddr_inet peer, dst;
	char a[SOCKADDR_INET_STRLEN];

	if (!zt_addr_of(fd, true, &peer))
		goto drop;
	/* Only pods of this node (by the address of the family they connected from). */
	src = zt_workload_at(zs->snap, &peer);
	if (!src || !src->node || !zs->snap->node || strcmp(src->node, zs->snap->node) != 0) {
		pr_debug("outbound: %s is not a pod of this node",
			 sockaddr_inet_ntop(&peer, a, sizeof(a)));
		goto drop;
	}
	if (orig_dst_of(w, &peer, &dst)) {
		pr_info("outbound: no original destination for %s",
			sockaddr_inet_format(&peer, a, sizeof(a)));
		goto drop;
	}
	outbound_route(w, fd, &peer, &dst, zs, NULL, slot);
	return;
drop:
	mesh_snap_put(zs);
	close(fd);
}

void zt_outbound_stop(struct zt_worker *w)
{
	while (w->held)
		held_fail(w->held, "ztunnel stopping");
}
