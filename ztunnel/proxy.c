// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "authz.h"
#include "hbone.h"
#include "metrics.h"
#include "proxy.h"
#include "sock.h"
#include "splice.h"

#define CLUSTER_ID "Kubernetes" /* Istio's default cluster id, as dashboards expect */

enum { L_OUTBOUND, L_INBOUND, L_HBONE, L__COUNT };

/*
 * The two nodes' agents apply a (un)enrollment at slightly different moments, so an HBONE open
 * can fail only because the destination node has not caught up (its tc still hands the SYN to
 * the pod, or its ztunnel has no certificate or workload for it yet), or has moved on. Such a
 * failure before the CONNECT is established is retried after these pauses, routing again with
 * the newest snapshot each time; no retry starts later than RETRY_BOUND_MS after the accept.
 */
static const unsigned int retry_ms[] = {25, 50, 100, 200, 400};
#define RETRY_BOUND_MS 1000

struct zt_worker;

/*
 * An outbound connection whose HBONE upstream is opening: the client socket was accepted and is
 * not read until the CONNECT is established, so a failed try can be repeated elsewhere or as
 * plain TCP without the application noticing. Lives on the worker's thread only.
 */
struct held {
	struct loop_handler h; /* retry timer */
	struct zt_worker *w;
	struct held *next, *prev;
	int fd;  /* the client socket while waiting to retry; -1 while an HBONE stream holds it */
	int tfd; /* retry timerfd, -1 until the first retry */
	struct sockaddr_in peer, dst; /* the client and its original destination */
	struct timespec start;
	unsigned int tries;
	unsigned int early; /* tries a new snapshot started before their pause ended */
	/* The try in flight: its snapshot (a reference) and the route and source decided with it. */
	struct zt_snap *zs;
	struct zt_route r;
	const struct snap_workload *src;
};

struct listener {
	struct loop_handler h;
	struct zt_worker *w;
	int kind;
	int fd; /* borrowed, shared by all workers */
};

struct zt_worker {
	struct zt_state *st;
	struct zt_proxy_opts o;
	struct loop *loop;
	struct hbone_pool *pool;
	pthread_t thread;
	struct listener ls[L__COUNT];
	unsigned int rr;
	struct authz_tracker *tracker; /* open inbound connections, for policy revocation */
	int policy_efd;                /* written when a snapshot is installed */
	struct loop_handler policy_h;
	struct held *held;             /* outbound connections waiting for their upstream */
	bool stopping;                 /* failures are final: no retry is scheduled */
};

/* ---- least-connections bookkeeping, shared by workers (atomics, fixed table) ---- */

#define LC_SLOTS 4096
static struct {
	uint32_t ip;
	unsigned int n;
} lc_table[LC_SLOTS];

static unsigned int *lc_slot(uint32_t ip, bool insert)
{
	for (unsigned int i = 0, h = (ip * 2654435761u) % LC_SLOTS; i < 64; i++) {
		unsigned int k = (h + i) % LC_SLOTS;
		uint32_t cur = __atomic_load_n(&lc_table[k].ip, __ATOMIC_ACQUIRE);

		if (cur == ip)
			return &lc_table[k].n;
		if (cur == 0) {
			uint32_t zero = 0;

			if (!insert)
				return NULL;
			if (__atomic_compare_exchange_n(&lc_table[k].ip, &zero, ip, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
			    zero == ip)
				return &lc_table[k].n;
		}
	}
	return NULL; /* table full: the endpoint counts as idle */
}

static unsigned int lc_active(uint32_t ip)
{
	unsigned int *n = lc_slot(ip, false);

	return n ? __atomic_load_n(n, __ATOMIC_RELAXED) : 0;
}

static void lc_release(uint32_t ip)
{
	unsigned int *n = lc_slot(ip, false);

	if (n)
		__atomic_sub_fetch(n, 1, __ATOMIC_RELAXED);
}

static void lc_acquire(struct connrec *rec, uint32_t ip)
{
	unsigned int *n = lc_slot(ip, true);

	if (n && rec) {
		__atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
		connrec_on_close(rec, lc_release, ip);
	}
}

/* ---- decisions ---- */

int zt_route_outbound(const struct snapshot *s, const struct sockaddr_in *dst, enum zt_lb lb,
		      unsigned int *rr, unsigned int (*active)(uint32_t ip), struct zt_route *out)
{
	const struct snap_service *svc = snapshot_service_by_vip(s, dst->sin_addr.s_addr);
	const struct snap_service_port *port = NULL;
	size_t pick;

	memset(out, 0, sizeof(*out));
	if (!svc) {
		out->addr = *dst;
		out->dst_wl = snapshot_workload_by_ip(s, dst->sin_addr.s_addr);
		return 0;
	}
	for (size_t i = 0; i < svc->nports; i++)
		if (svc->ports[i].port == ntohs(dst->sin_port))
			port = &svc->ports[i];
	if (!port || !svc->nendpoints)
		return -EHOSTUNREACH;
	pick = (*rr)++ % svc->nendpoints;
	if (lb == ZT_LB_LEAST_CONN && active) {
		unsigned int best = active(svc->endpoints[pick]);

		/* Scan from the round-robin pick so ties still rotate. */
		for (size_t i = 1; i < svc->nendpoints; i++) {
			size_t j = (pick + i) % svc->nendpoints;
			unsigned int a = active(svc->endpoints[j]);

			if (a < best) {
				best = a;
				pick = j;
			}
		}
	}
	out->svc = svc;
	out->addr.sin_family = AF_INET;
	out->addr.sin_addr.s_addr = svc->endpoints[pick];
	out->addr.sin_port = htons(port->target_port ? port->target_port : port->port);
	out->dst_wl = snapshot_workload_by_ip(s, svc->endpoints[pick]);
	return 0;
}

static bool local_enrolled(const struct snapshot *s, const struct snap_workload *wl)
{
	return wl && wl->enrolled && wl->node && s->node && strcmp(wl->node, s->node) == 0;
}

int zt_check_connect(const struct snapshot *s, const char *authority, const char *forwarded,
		     const char *peer_id, struct sockaddr_in *dst,
		     const struct snap_workload **dst_wl, struct in_addr *client)
{
	const struct snap_workload *src;

	client->s_addr = INADDR_ANY;
	if (sock_parse_authority(authority, dst))
		return 400;
	*dst_wl = snapshot_workload_by_ip(s, dst->sin_addr.s_addr);
	if (!local_enrolled(s, *dst_wl))
		return 400;
	if (!forwarded)
		return 0;
	/*
	 * The claimed client IP decides the source address the pod sees (and later, policy). A
	 * peer may only claim IPs of workloads running as its own identity: anything else is
	 * refused with 401 rather than silently downgraded, so a misbehaving peer is visible.
	 */
	if (sock_parse_forwarded_for(forwarded, client))
		return 400;
	src = snapshot_workload_by_ip(s, client->s_addr);
	if (!src || !peer_id || !src->identity || strcmp(src->identity, peer_id) != 0)
		return 401;
	return 0;
}

static void fill_labels(struct metrics_labels *l, const char *reporter,
			const struct snap_workload *src, const char *src_principal,
			const struct snap_workload *dst, const struct snap_service *svc,
			bool mtls)
{
	memset(l, 0, sizeof(*l));
	l->reporter = reporter;
	if (src) {
		l->source_workload = src->workload_name;
		l->source_workload_namespace = src->namespace;
		l->source_app = src->app;
		l->source_version = src->version;
	}
	l->source_principal = src_principal ? src_principal : src ? src->identity : NULL;
	l->source_cluster = CLUSTER_ID;
	if (svc) {
		l->destination_service = svc->hostname;
		l->destination_service_namespace = svc->namespace;
		l->destination_service_name = svc->name;
	}
	if (dst) {
		l->destination_workload = dst->workload_name;
		l->destination_workload_namespace = dst->namespace;
		l->destination_principal = dst->identity;
		l->destination_app = dst->app;
		l->destination_version = dst->version;
	}
	l->destination_cluster = CLUSTER_ID;
	l->connection_security_policy = mtls ? "mutual_tls" : "none";
}

static bool addr_of(int fd, bool peer, struct sockaddr_in *out)
{
	socklen_t sl = sizeof(*out);

	return (peer ? getpeername(fd, (struct sockaddr *)out, &sl)
		     : getsockname(fd, (struct sockaddr *)out, &sl)) == 0 &&
	       out->sin_family == AF_INET;
}

/* Linger 0 turns close() into a RST: a refused plaintext client sees a reset, as in Istio. */
static void close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/*
 * A denied connection is still a connection in the metrics (response_flags="DENY", as Istio
 * ztunnel reports it) and one access-log line naming the deciding policy.
 */
static void record_denial(struct metrics_labels *labels, const struct sockaddr_in *src,
			  const struct sockaddr_in *dst, const char *direction,
			  const struct authz_result *ar)
{
	struct connrec *rec;
	char reason[600];

	labels->response_flags = "DENY";
	rec = connrec_open(labels, src, dst, direction);
	connrec_set_decision(rec, "deny", ar->name);
	snprintf(reason, sizeof(reason), "denied: %s", ar->explain);
	connrec_close(rec, reason);
}

/* ---- the three listeners ---- */

/* ---- outbound, with retries of the HBONE open ---- */

static unsigned long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned long)((now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000);
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
	if (hd->tfd >= 0) {
		loop_del(w->loop, hd->tfd);
		close(hd->tfd);
	}
	hd->h.dead = true;
	zt_snap_put(hd->zs);
	/* A timer event of the same batch may still point here. */
	loop_defer_free(w->loop, hd, held_free);
}

static void held_labels(const struct held *hd, struct metrics_labels *l)
{
	fill_labels(l, "source", hd->src, NULL, hd->r.dst_wl, hd->r.svc, true);
}

/*
 * Out of tries, time, or a final answer: one connection record for all the tries (not one per
 * try), its access-log line at info, and the client is reset, never let out in plaintext.
 */
static void held_fail(struct held *hd, const char *reason)
{
	struct metrics_labels labels;
	struct connrec *rec;
	char why[200];

	held_labels(hd, &labels);
	snprintf(why, sizeof(why), "%s (%u %s, %lums)", reason, hd->tries,
		 hd->tries == 1 ? "try" : "tries", ms_since(&hd->start));
	rec = connrec_open(&labels, &hd->peer, &hd->r.addr, "outbound");
	if (!rec)
		pr_info("outbound: %s -> %s:%u failed: %s", inet_ntoa(hd->peer.sin_addr),
			inet_ntoa(hd->r.addr.sin_addr), ntohs(hd->r.addr.sin_port), why);
	connrec_close(rec, why);
	if (hd->fd >= 0)
		close_reset(hd->fd);
	hd->fd = -1;
	held_release(hd);
}

/* hbone_open_ops: the CONNECT is established; the stream takes the record and the socket. */
static struct connrec *held_established(void *arg)
{
	struct held *hd = arg;
	struct metrics_labels labels;
	struct connrec *rec;

	if (hd->tries > 1)
		pr_debug("outbound: %s -> %s established on try %u after %lums",
			 inet_ntoa(hd->peer.sin_addr), hd->r.dst_wl->identity, hd->tries,
			 ms_since(&hd->start));
	held_labels(hd, &labels);
	rec = connrec_open(&labels, &hd->peer, &hd->r.addr, "outbound");
	if (hd->r.svc)
		lc_acquire(rec, hd->r.addr.sin_addr.s_addr);
	held_release(hd);
	return rec;
}

/* hbone_open_ops: the try failed before the CONNECT was established; @fd comes back to us. */
static void held_failed(void *arg, int fd, int status, const char *reason, bool retryable)
{
	struct held *hd = arg;
	struct zt_worker *w = hd->w;
	unsigned long elapsed = ms_since(&hd->start);
	unsigned int step = hd->tries - hd->early;
	unsigned int pause = step >= 1 && step <= 5 ? retry_ms[step - 1] : 0;
	struct itimerspec its = {.it_value = {.tv_nsec = (long)pause * 1000000}};

	hd->fd = fd;
	if (!retryable || w->stopping || !pause || elapsed + pause > RETRY_BOUND_MS) {
		held_fail(hd, reason ? reason : "failed");
		return;
	}
	pr_debug("outbound: %s -> %s:%u try %u failed (%s, status %d); retrying in %ums",
		 inet_ntoa(hd->peer.sin_addr), inet_ntoa(hd->r.addr.sin_addr),
		 ntohs(hd->r.addr.sin_port), hd->tries, reason ? reason : "?", status, pause);
	if (hd->tfd < 0) {
		hd->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (hd->tfd >= 0 && loop_add(w->loop, hd->tfd, EPOLLIN, &hd->h)) {
			close(hd->tfd);
			hd->tfd = -1;
		}
	}
	if (hd->tfd < 0 || timerfd_settime(hd->tfd, 0, &its, NULL)) {
		held_fail(hd, "cannot schedule a retry");
		return;
	}
}

static const struct hbone_open_ops held_ops = {
	.established = held_established,
	.failed = held_failed,
};

static void outbound_route(struct zt_worker *w, int fd, const struct sockaddr_in *peer,
			   const struct sockaddr_in *dst, struct zt_snap *zs, struct held *hd);

/* Retry timer: route again with the newest snapshot, which may no longer say "mesh". */
static void held_retry(struct held *hd)
{
	struct zt_snap *zs = zt_state_get(hd->w->st);

	if (!zs) {
		held_fail(hd, "no snapshot");
		return;
	}
	/* hd keeps the previous try's snapshot until this try replaces it (its final record). */
	outbound_route(hd->w, hd->fd, &hd->peer, &hd->dst, zs, hd);
}

static void on_retry(struct loop_handler *h, uint32_t events)
{
	struct held *hd = (struct held *)((char *)h - offsetof(struct held, h));
	uint64_t n;

	if (read(hd->tfd, &n, sizeof(n)) < 0)
		return;
	held_retry(hd);
}

/*
 * A new snapshot may be the one a held connection waits for (its source enrolled, the
 * destination gone from the mesh): those waiting out a pause try again at once. Such a try does
 * not use up a step of the backoff; the time bound still holds.
 */
static void held_snapshot(struct zt_worker *w, const struct zt_snap *zs)
{
	const struct itimerspec off = {{0, 0}, {0, 0}};
	struct held *hd, *next;

	for (hd = w->held; hd; hd = next) {
		next = hd->next;
		if (hd->fd < 0 || hd->tfd < 0 || hd->zs == zs) /* in flight, or tried with it */
			continue;
		timerfd_settime(hd->tfd, 0, &off, NULL);
		hd->early++;
		held_retry(hd);
	}
}

/*
 * Holds the client @fd (taken) for a try decided with @zs (taken: it replaces the previous
 * try's) and returns the held connection, created on the first try. NULL (and @fd and @zs
 * released) when out of memory.
 */
static struct held *held_try(struct zt_worker *w, struct held *hd, int fd,
			     const struct sockaddr_in *peer, const struct sockaddr_in *dst,
			     struct zt_snap *zs, const struct zt_route *r,
			     const struct snap_workload *src)
{
	if (!hd) {
		hd = calloc(1, sizeof(*hd));
		if (!hd) {
			zt_snap_put(zs);
			close_reset(fd);
			return NULL;
		}
		hd->h.fn = on_retry;
		hd->w = w;
		hd->tfd = -1;
		hd->peer = *peer;
		hd->dst = *dst;
		clock_gettime(CLOCK_MONOTONIC, &hd->start);
		hd->next = w->held;
		if (w->held)
			w->held->prev = hd;
		w->held = hd;
	}
	zt_snap_put(hd->zs);
	hd->fd = fd;
	hd->zs = zs;
	hd->r = *r;
	hd->src = src;
	hd->tries++;
	return hd;
}

/*
 * Starts an HBONE try for @fd (taken); @zs (taken) is the snapshot @r and @src come from and
 * replaces the previous try's in @hd.
 */
static void outbound_hbone(struct zt_worker *w, int fd, const struct sockaddr_in *peer,
			   const struct sockaddr_in *dst, struct zt_snap *zs, struct held *hd,
			   const struct zt_route *r, const struct snap_workload *src)
{
	char auth[32], client[INET_ADDRSTRLEN];
	struct hbone_target t = {
		.addr = {.sin_family = AF_INET, .sin_addr = r->addr.sin_addr,
			 .sin_port = htons(w->o.hbone_port)},
		.authority = auth,
		.forwarded_for = client,
		.identity = src->identity,
		.expect_san = r->dst_wl->identity,
		.ctx = zt_snap_ctx(zs, src->identity, false),
		.ops = &held_ops,
	};

	hd = held_try(w, hd, fd, peer, dst, zs, r, src);
	if (!hd)
		return;
	t.ops_arg = hd;
	if (!t.ctx) {
		/* The snapshot with its certificate may be on its way: as any other failed try. */
		held_failed(hd, fd, 0, "no certificate for the source", true);
		return;
	}
	inet_ntop(AF_INET, &peer->sin_addr, client, sizeof(client));
	snprintf(auth, sizeof(auth), "%s:%u", inet_ntoa(r->addr.sin_addr), ntohs(r->addr.sin_port));
	hd->fd = -1;
	if (hbone_pool_open(w->pool, &t, fd, NULL) == 0)
		return;
	/* Could not even start (no memory, no route to the peer): the socket is still ours. */
	held_failed(hd, fd, 0, "cannot open an HBONE stream", true);
}

/*
 * Routes the client connection @fd (taken) to its original destination @dst with @zs (taken):
 * HBONE to another node's enrolled pod, the same-node short circuit, or plain TCP for
 * destinations outside the mesh. @hd is NULL on the first try, else the held connection being
 * retried (ended here unless it tries HBONE again).
 */
static void outbound_route(struct zt_worker *w, int fd, const struct sockaddr_in *peer,
			   const struct sockaddr_in *dst, struct zt_snap *zs, struct held *hd)
{
	const struct snapshot *s = zs->snap;
	const struct snap_workload *src;
	struct sockaddr_in from;
	struct metrics_labels labels;
	struct authz_result ar;
	struct zt_route r;
	struct connrec *rec;
	bool mesh, local_dst;
	int up;

	src = snapshot_workload_by_ip(s, peer->sin_addr.s_addr);
	/*
	 * Captured, but this snapshot does not (or no longer) enroll the source: the agent
	 * updates the capture map before the ztunnel gets the snapshot saying so, and may drop it
	 * in either order. Without an identity it can only go out as plain TCP.
	 */
	if (!local_enrolled(s, src))
		src = NULL;
	if (zt_route_outbound(s, dst, w->o.lb, &w->rr, lc_active, &r)) {
		pr_info("outbound: %s:%u has no ready endpoint", inet_ntoa(dst->sin_addr),
			ntohs(dst->sin_port));
		goto drop;
	}
	mesh = r.dst_wl && r.dst_wl->enrolled;
	local_dst = mesh && local_enrolled(s, r.dst_wl);
	if (mesh && !src) {
		/*
		 * Never plaintext to a mesh destination: wait (bounded) for the snapshot that
		 * enrolls the source, then fail closed.
		 */
		hd = held_try(w, hd, fd, peer, dst, zs, &r, NULL);
		if (hd)
			held_failed(hd, fd, 0, "source not enrolled in the snapshot", true);
		return;
	}
	if (mesh && !local_dst) {
		outbound_hbone(w, fd, peer, dst, zs, hd, &r, src);
		return;
	}
	/* Not (or no longer) HBONE: from here on the connection is handled as a fresh one. */
	if (hd) {
		pr_debug("outbound: %s -> %s:%u: no longer HBONE after %u tries, %s",
			 inet_ntoa(peer->sin_addr), inet_ntoa(r.addr.sin_addr),
			 ntohs(r.addr.sin_port), hd->tries, local_dst ? "same node" : "plain TCP");
		held_release(hd);
		hd = NULL;
	}
	fill_labels(&labels, "source", src, NULL, r.dst_wl, r.svc, mesh);
	/* Same node: this ztunnel is also the destination's, so its inbound policy applies here. */
	if (local_dst && !authz_decide(s, r.dst_wl, ntohs(r.addr.sin_port), peer->sin_addr.s_addr,
				       src->identity, &ar)) {
		record_denial(&labels, peer, &r.addr, "outbound", &ar);
		zt_snap_put(zs);
		close_reset(fd);
		return;
	}
	rec = connrec_open(&labels, peer, &r.addr, "outbound");
	if (local_dst) {
		connrec_set_decision(rec, "allow", ar.name);
		authz_track(w->tracker, rec, r.addr.sin_addr.s_addr, ntohs(r.addr.sin_port),
			    peer->sin_addr.s_addr, src->identity);
	}
	if (r.svc)
		lc_acquire(rec, r.addr.sin_addr.s_addr);
	zt_snap_put(zs);
	/* Same node: no TLS on the wire, the pod sees the client's IP. Else plain from the node. */
	from = *peer;
	up = sock_connect(&r.addr, mesh ? &from : NULL);
	if (up < 0) {
		connrec_close(rec, "upstream connect failed");
		close(fd);
		return;
	}
	splice_start(w->loop, fd, up, rec);
	return;
drop:
	zt_snap_put(zs);
	if (hd) {
		/* Recorded with the previous try's route: the one that was tried. */
		hd->fd = fd;
		held_fail(hd, "no route any more");
		return;
	}
	close(fd);
}

/* A new outbound connection: @zs (taken) is the snapshot current at its accept. */
static void outbound(struct zt_worker *w, int fd, struct zt_snap *zs)
{
	const struct snap_workload *src;
	struct sockaddr_in peer, dst = {.sin_family = AF_INET};
	struct ambit_orig_dst od;
	int err;

	if (!addr_of(fd, true, &peer))
		goto drop;
	/* Only pods of this node; whether enrolled yet is the route's business. */
	src = snapshot_workload_by_ip(zs->snap, peer.sin_addr.s_addr);
	if (!src || !src->node || !zs->snap->node || strcmp(src->node, zs->snap->node) != 0) {
		pr_debug("outbound: %s is not a pod of this node", inet_ntoa(peer.sin_addr));
		goto drop;
	}
	if (w->o.orig_dst_fd < 0 ||
	    (err = orig_dst_take(w->o.orig_dst_fd, peer.sin_addr.s_addr, ntohs(peer.sin_port),
				 &od))) {
		pr_info("outbound: no original destination for %s:%u", inet_ntoa(peer.sin_addr),
			ntohs(peer.sin_port));
		goto drop;
	}
	dst.sin_addr.s_addr = od.ip;
	dst.sin_port = od.port;
	outbound_route(w, fd, &peer, &dst, zs, NULL);
	return;
drop:
	zt_snap_put(zs);
	close(fd);
}

static void inbound_plain(struct zt_worker *w, int fd, const struct snapshot *s)
{
	struct sockaddr_in local, peer;
	const struct snap_workload *dst;
	struct metrics_labels labels;
	struct authz_result ar;
	struct connrec *rec;
	int up;

	if (!addr_of(fd, false, &local) || !addr_of(fd, true, &peer))
		goto drop;
	dst = snapshot_workload_by_ip(s, local.sin_addr.s_addr);
	if (!local_enrolled(s, dst)) {
		pr_debug("inbound: %s is not an enrolled pod of this node (snapshot %llu)",
			 inet_ntoa(local.sin_addr), (unsigned long long)s->version);
		goto drop;
	}
	fill_labels(&labels, "destination", snapshot_workload_by_ip(s, peer.sin_addr.s_addr),
		    NULL, dst, NULL, false);
	/* No identity was proven on plaintext: do not claim the workload's principal. */
	labels.source_principal = NULL;
	/* Plaintext has no principal: STRICT refuses it, PERMISSIVE decides it identity-less. */
	if (!authz_decide(s, dst, ntohs(local.sin_port), peer.sin_addr.s_addr, NULL, &ar)) {
		record_denial(&labels, &peer, &local, "inbound", &ar);
		close_reset(fd);
		return;
	}
	rec = connrec_open(&labels, &peer, &local, "inbound");
	connrec_set_decision(rec, "allow", ar.name);
	authz_track(w->tracker, rec, local.sin_addr.s_addr, ntohs(local.sin_port),
		    peer.sin_addr.s_addr, NULL);
	up = sock_connect(&local, &peer);
	if (up < 0) {
		connrec_close(rec, "upstream connect failed");
		goto drop;
	}
	splice_start(w->loop, fd, up, rec);
	return;
drop:
	close(fd);
}

static int hbone_accept(void *user, const struct hbone_request *req, int *fd,
			struct connrec **rec)
{
	struct zt_worker *w = user;
	struct zt_snap *zs = zt_state_get(w->st);
	const struct snap_workload *dst_wl = NULL;
	struct sockaddr_in dst, src = {.sin_family = AF_INET};
	struct metrics_labels labels;
	struct authz_result ar;
	struct in_addr client;
	uint32_t src_ip;
	int rv, up;

	if (!zs)
		return 503;
	rv = zt_check_connect(zs->snap, req->authority, req->forwarded, req->peer_identity, &dst,
			      &dst_wl, &client);
	if (rv) {
		pr_info("hbone: refused CONNECT %s from %s: %d", req->authority, req->peer_identity,
			rv);
		goto out;
	}
	/* The client's own address when it claimed one (verified above), else its node's. */
	src_ip = client.s_addr ? client.s_addr : req->peer.sin_addr.s_addr;
	src.sin_addr = client;
	fill_labels(&labels, "destination", snapshot_workload_by_ip(zs->snap, client.s_addr),
		    req->peer_identity, dst_wl, NULL, true);
	if (!authz_decide(zs->snap, dst_wl, ntohs(dst.sin_port), src_ip, req->peer_identity,
			  &ar)) {
		record_denial(&labels, client.s_addr ? &src : &req->peer, &dst, "inbound", &ar);
		rv = 401;
		goto out;
	}
	up = sock_connect(&dst, client.s_addr ? &src : NULL);
	if (up < 0) {
		rv = 503;
		goto out;
	}
	*rec = connrec_open(&labels, client.s_addr ? &src : &req->peer, &dst, "inbound");
	connrec_set_decision(*rec, "allow", ar.name);
	authz_track(w->tracker, *rec, dst.sin_addr.s_addr, ntohs(dst.sin_port), src_ip,
		    req->peer_identity);
	*fd = up;
out:
	zt_snap_put(zs);
	return rv;
}

static void inbound_hbone(struct zt_worker *w, int fd, struct zt_snap *zs)
{
	const struct snap_workload *dst;
	struct sockaddr_in local;
	struct tls_ctx *ctx;

	/* tc assigned this flow to us: the local address names the destination pod. */
	if (!addr_of(fd, false, &local))
		goto drop;
	dst = snapshot_workload_by_ip(zs->snap, local.sin_addr.s_addr);
	if (!local_enrolled(zs->snap, dst) || !(ctx = zt_snap_ctx(zs, dst->identity, true))) {
		pr_info("hbone: %s is not an enrolled pod with a certificate here",
			inet_ntoa(local.sin_addr));
		goto drop;
	}
	hbone_server_start(w->pool, fd, ctx, hbone_accept, w);
	return;
drop:
	close(fd);
}

static void on_listen(struct loop_handler *h, uint32_t events)
{
	struct listener *li = (struct listener *)((char *)h - offsetof(struct listener, h));
	struct zt_worker *w = li->w;

	/* Bounded batch: EPOLLEXCLUSIVE wakes one worker; leave the rest to the others. */
	for (int n = 0; n < 32; n++) {
		int fd = accept4(li->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct zt_snap *zs;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				pr_warn("accept: %s", strerror(errno));
			return;
		}
		zs = zt_state_get(w->st);
		if (!zs) {
			/* Not ready: without a snapshot nothing can be decided safely. */
			close(fd);
			continue;
		}
		if (li->kind == L_OUTBOUND) {
			outbound(w, fd, zs); /* keeps the reference while it holds the client */
			continue;
		}
		if (li->kind == L_INBOUND)
			inbound_plain(w, fd, zs->snap);
		else
			inbound_hbone(w, fd, zs);
		zt_snap_put(zs);
	}
}

/* Snapshot installed (agent watcher thread): wake the worker, which owns its connections. */
static void worker_wake(void *arg)
{
	struct zt_worker *w = arg;
	uint64_t one = 1;

	if (write(w->policy_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("worker: policy wake-up failed: %s", strerror(errno));
}

/* On the worker's thread: re-decide its open inbound connections with the new policy. */
static void on_policy(struct loop_handler *h, uint32_t events)
{
	struct zt_worker *w = (struct zt_worker *)((char *)h - offsetof(struct zt_worker, policy_h));
	struct zt_snap *zs;
	uint64_t n;
	unsigned int closed;

	if (read(w->policy_efd, &n, sizeof(n)) < 0)
		return;
	zs = zt_state_get(w->st);
	if (!zs)
		return;
	held_snapshot(w, zs);
	closed = authz_reevaluate(w->tracker, zs->snap);
	if (closed)
		pr_info("snapshot %llu: closed %u open connection(s) the new policy denies",
			(unsigned long long)zs->snap->version, closed);
	zt_snap_put(zs);
}

static void *worker_main(void *arg)
{
	struct zt_worker *w = arg;
	int err = loop_run(w->loop);

	if (err)
		pr_err("worker loop failed: %s", strerror(-err));
	return NULL;
}

struct zt_worker *zt_worker_start(struct zt_state *st, const struct zt_proxy_opts *opts)
{
	struct zt_worker *w = calloc(1, sizeof(*w));
	const int fds[L__COUNT] = {opts->outbound_fd, opts->inbound_fd, opts->hbone_fd};
	int err = ENOMEM;

	if (!w)
		return NULL;
	w->st = st;
	w->o = *opts;
	w->policy_efd = -1;
	w->loop = loop_create();
	if (!w->loop || !(w->pool = hbone_pool_create(w->loop)) ||
	    !(w->tracker = authz_tracker_create()))
		goto fail;
	w->policy_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->policy_efd < 0) {
		err = errno;
		goto fail;
	}
	w->policy_h.fn = on_policy;
	err = -loop_add(w->loop, w->policy_efd, EPOLLIN, &w->policy_h);
	if (err)
		goto fail;
	for (int i = 0; i < L__COUNT; i++) {
		struct listener *li = &w->ls[i];

		li->h.fn = on_listen;
		li->w = w;
		li->kind = i;
		li->fd = fds[i];
		if (li->fd < 0)
			continue;
		err = -loop_add(w->loop, li->fd, EPOLLIN | EPOLLEXCLUSIVE, &li->h);
		if (err)
			goto fail;
	}
	err = -zt_state_subscribe(st, worker_wake, w);
	if (err)
		goto fail;
	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err) {
		zt_state_unsubscribe(st, worker_wake, w);
		goto fail;
	}
	return w;
fail:
	hbone_pool_destroy(w->pool);
	authz_tracker_destroy(w->tracker);
	loop_destroy(w->loop);
	if (w->policy_efd >= 0)
		close(w->policy_efd);
	free(w);
	errno = err;
	return NULL;
}

void zt_worker_stop(struct zt_worker *w)
{
	if (!w)
		return;
	zt_state_unsubscribe(w->st, worker_wake, w);
	loop_stop(w->loop);
	pthread_join(w->thread, NULL);
	/* Held connections fail for good now: those in HBONE through the pool, the rest here. */
	w->stopping = true;
	/* The pool's connections close through the tracker's hooks: destroy it after them. */
	hbone_pool_destroy(w->pool);
	while (w->held)
		held_fail(w->held, "ztunnel stopping");
	authz_tracker_destroy(w->tracker);
	loop_destroy(w->loop);
	close(w->policy_efd);
	free(w);
}
