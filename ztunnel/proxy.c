// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <netinet/tcp.h>
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
#include <unistd.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "authz.h"
#include "hbone.h"
#include "metrics.h"
#include "proxy_priv.h"
#include "sock.h"
#include "splice.h"

#define CLUSTER_ID "Kubernetes" /* Istio's default cluster id, as dashboards expect */

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

unsigned int zt_lc_active(uint32_t ip)
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

void zt_lc_acquire(struct connrec *rec, uint32_t ip)
{
	unsigned int *n = lc_slot(ip, true);

	if (n && rec) {
		__atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
		connrec_on_close(rec, lc_release, ip);
	}
}

/* ---- decisions ---- */

int zt_route_outbound(const struct snapshot *s, const struct sockaddr_in *dst, enum zt_lb lb,
		      struct zt_rr *rr, unsigned int (*active)(uint32_t ip), struct zt_route *out)
{
	const struct snap_service *svc = snapshot_service_by_vip(s, dst->sin_addr.s_addr);
	const struct snap_service_port *port = NULL;
	size_t pick, slot;

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
	slot = (ntohl(svc->vip) * 2654435761u ^ port->port) % ZT_RR_SLOTS;
	pick = rr->next[slot]++ % svc->nendpoints;
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

bool zt_local_enrolled(const struct snapshot *s, const struct snap_workload *wl)
{
	return wl && wl->enrolled && wl->node && s->node && strcmp(wl->node, s->node) == 0;
}

int zt_check_connect(const struct snapshot *s, const char *authority, const char *forwarded,
		     const char *peer_id, struct sockaddr_in *dst,
		     const struct snap_workload **dst_wl, struct sockaddr_in *client)
{
	const struct snap_workload *src;

	memset(client, 0, sizeof(*client));
	client->sin_family = AF_INET;
	if (sock_parse_authority(authority, dst))
		return 400;
	*dst_wl = snapshot_workload_by_ip(s, dst->sin_addr.s_addr);
	if (!zt_local_enrolled(s, *dst_wl))
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
	src = snapshot_workload_by_ip(s, client->sin_addr.s_addr);
	if (!src || !peer_id || !src->identity || strcmp(src->identity, peer_id) != 0)
		return 401;
	return 0;
}

void zt_fill_labels(struct metrics_labels *l, const char *reporter, const struct snap_workload *src,
		    const char *src_principal, const struct snap_workload *dst,
		    const struct snap_service *svc, bool mtls)
{
	memset(l, 0, sizeof(*l));
	l->reporter = reporter;
	if (src) {
		l->source_workload = src->workload_name;
		l->source_workload_namespace = src->namespace;
		l->source_canonical_service = src->canonical_service;
		l->source_canonical_revision = src->canonical_revision;
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
		l->destination_canonical_service = dst->canonical_service;
		l->destination_canonical_revision = dst->canonical_revision;
		l->destination_app = dst->app;
		l->destination_version = dst->version;
	}
	l->destination_cluster = CLUSTER_ID;
	l->connection_security_policy = mtls ? "mutual_tls" : "none";
}

static bool svc_selects(const struct snap_service *svc, uint32_t ip)
{
	for (size_t i = 0; i < svc->nendpoints; i++)
		if (svc->endpoints[i] == ip)
			return true;
	return false;
}

const struct snap_service *zt_inbound_service(const struct snapshot *s,
					      const struct snap_workload *dst, uint16_t port,
					      const char *host)
{
	if (!dst)
		return NULL;
	/* The client's word counts only for a Service that really selects this pod. */
	for (size_t i = 0; host && i < s->n_services; i++)
		if (s->services[i].hostname && !strcmp(s->services[i].hostname, host) &&
		    svc_selects(&s->services[i], dst->ip))
			return &s->services[i];
	for (size_t i = 0; i < s->n_services; i++) {
		const struct snap_service *svc = &s->services[i];

		if (!svc_selects(svc, dst->ip))
			continue;
		for (size_t j = 0; j < svc->nports; j++)
			if ((svc->ports[j].target_port ? svc->ports[j].target_port
						       : svc->ports[j].port) == port)
				return svc;
	}
	return NULL;
}

bool zt_addr_of(int fd, bool peer, struct sockaddr_in *out)
{
	socklen_t sl = sizeof(*out);

	return (peer ? getpeername(fd, (struct sockaddr *)out, &sl)
		     : getsockname(fd, (struct sockaddr *)out, &sl)) == 0 &&
	       out->sin_family == AF_INET;
}

/* Linger 0 turns close() into a RST: a refused plaintext client sees a reset, as in Istio. */
void zt_close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/*
 * A denied connection is still a connection in the metrics (response_flags="DENY", as Istio
 * ztunnel reports it) and one access-log line naming the deciding policy.
 */
void zt_record_denial(struct metrics_labels *labels, const struct sockaddr_in *src,
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

/*
 * A plaintext connection tc handed over for a pod this snapshot does not enroll: the agent
 * updates tc's map before the ztunnel gets the snapshot saying so. It waits, unread, for that
 * snapshot (the outbound retry pauses, ~1 s bound) and is then decided as usual; a pod still
 * not enrolled by then is refused (fail closed: tc had it in the mesh).
 */
struct held_in {
	struct loop_handler h; /* retry timer */
	struct zt_worker *w;
	struct held_in *next, *prev;
	int fd, tfd;
	struct timespec start;
	unsigned int tries, early;
	uint64_t version;	/* of the snapshot last tried */
	struct guard_slot slot; /* the connection's share of 15006 while it waits */
};

static void held_in_free(void *p)
{
	free(p);
}

static void held_in_release(struct held_in *hi, bool close_fd)
{
	struct zt_worker *w = hi->w;

	if (hi->prev)
		hi->prev->next = hi->next;
	else
		w->held_in = hi->next;
	if (hi->next)
		hi->next->prev = hi->prev;
	if (hi->tfd >= 0) {
		loop_del(w->loop, hi->tfd);
		close(hi->tfd);
	}
	if (close_fd)
		close(hi->fd);
	/* Empty when a splice took it; else the connection ends here or with the caller. */
	guard_release(&hi->slot);
	hi->h.dead = true;
	loop_defer_free(w->loop, hi, held_in_free);
}

static void inbound_plain(struct zt_worker *w, int fd, const struct snapshot *s, struct held_in *hi,
			  struct guard_slot *slot);

static void held_in_retry(struct held_in *hi)
{
	struct zt_snap *zs = zt_state_get(hi->w->st);

	if (!zs) {
		held_in_release(hi, true);
		return;
	}
	inbound_plain(hi->w, hi->fd, zs->snap, hi, &hi->slot);
	zt_snap_put(zs);
}

static void on_held_in(struct loop_handler *h, uint32_t events)
{
	struct held_in *hi = (struct held_in *)((char *)h - offsetof(struct held_in, h));
	uint64_t n;

	if (read(hi->tfd, &n, sizeof(n)) >= 0)
		held_in_retry(hi);
}

/*
 * Holds @fd for a later try (with *@slot, moved in on the first); false (nothing held, @hi
 * released but @fd kept) to give up.
 */
static bool held_in_wait(struct zt_worker *w, int fd, struct held_in **hip, uint64_t version,
			 struct guard_slot **slot)
{
	struct held_in *hi = *hip;
	struct itimerspec its = {{0, 0}, {0, 0}};
	unsigned int pause;

	if (!hi) {
		hi = calloc(1, sizeof(*hi));
		if (!hi)
			return false;
		hi->h.fn = on_held_in;
		hi->w = w;
		hi->fd = fd;
		clock_gettime(CLOCK_MONOTONIC, &hi->start);
		hi->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (hi->tfd < 0 || loop_add(w->loop, hi->tfd, EPOLLIN, &hi->h)) {
			if (hi->tfd >= 0)
				close(hi->tfd);
			free(hi);
			return false;
		}
		hi->next = w->held_in;
		if (w->held_in)
			w->held_in->prev = hi;
		w->held_in = hi;
		*hip = hi;
		guard_slot_move(&hi->slot, *slot);
		*slot = &hi->slot;
	}
	hi->tries++;
	hi->version = version;
	pause = w->stopping ? 0 : zt_retry_pause(hi->tries - hi->early, zt_ms_since(&hi->start));
	its.it_value.tv_nsec = (long)pause * 1000000;
	if (!pause || timerfd_settime(hi->tfd, 0, &its, NULL)) {
		/* The slot goes back with @hi: the caller drops the connection. */
		held_in_release(hi, false);
		*hip = NULL;
		*slot = NULL;
		return false;
	}
	return true;
}

/* A new snapshot: plaintext inbound waiting for one try again at once (not a backoff step). */
static void held_in_snapshot(struct zt_worker *w, const struct zt_snap *zs)
{
	const struct itimerspec off = {{0, 0}, {0, 0}};
	struct held_in *hi, *next;

	for (hi = w->held_in; hi; hi = next) {
		next = hi->next;
		if (hi->version == zs->snap->version)
			continue;
		timerfd_settime(hi->tfd, 0, &off, NULL);
		hi->early++;
		held_in_retry(hi);
	}
}

/*
 * @fd (taken) was accepted on 15006; @hi is its held state when this is a retry, else NULL;
 * @slot its share of the listener (in @hi once held), moved to what keeps the connection.
 */
static void inbound_plain(struct zt_worker *w, int fd, const struct snapshot *s, struct held_in *hi,
			  struct guard_slot *slot)
{
	struct sockaddr_in local, peer;
	const struct snap_workload *dst;
	struct metrics_labels labels;
	struct authz_result ar;
	struct guard_slot local_slot = {};
	struct connrec *rec;
	int up;

	if (!zt_addr_of(fd, false, &local) || !zt_addr_of(fd, true, &peer))
		goto drop;
	dst = snapshot_workload_by_ip(s, local.sin_addr.s_addr);
	if (!zt_local_enrolled(s, dst)) {
		if (held_in_wait(w, fd, &hi, s->version, &slot))
			return;
		pr_info("inbound: %s:%u is not an enrolled pod of this node (snapshot %llu)",
			inet_ntoa(local.sin_addr), ntohs(local.sin_port),
			(unsigned long long)s->version);
		goto drop;
	}
	if (hi) {
		pr_debug("inbound: %s enrolled by snapshot %llu after %lums",
			 inet_ntoa(local.sin_addr), (unsigned long long)s->version,
			 zt_ms_since(&hi->start));
		guard_slot_move(&local_slot, &hi->slot);
		slot = &local_slot;
		held_in_release(hi, false);
		hi = NULL;
	}
	/* Plaintext says nothing of the Service it was for: guessed by port, as Istio does. */
	zt_fill_labels(&labels, "destination", snapshot_workload_by_ip(s, peer.sin_addr.s_addr),
		       NULL, dst, zt_inbound_service(s, dst, ntohs(local.sin_port), NULL), false);
	/* No identity was proven on plaintext: do not claim the workload's principal. */
	labels.source_principal = NULL;
	/* Plaintext has no principal: STRICT refuses it, PERMISSIVE decides it identity-less. */
	if (!authz_decide(s, dst, ntohs(local.sin_port), peer.sin_addr.s_addr, NULL, &ar)) {
		zt_record_denial(&labels, &peer, &local, "inbound", &ar);
		zt_close_reset(fd);
		guard_release(slot);
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
	splice_start(w->splices, fd, up, rec, slot);
	return;
drop:
	if (hi)
		held_in_release(hi, false); /* with its slot */
	else
		guard_release(slot);
	close(fd);
}

void zt_inbound_plain(struct zt_worker *w, int fd, const struct zt_snap *zs,
		      struct guard_slot *slot)
{
	inbound_plain(w, fd, zs->snap, NULL, slot);
}

int zt_hbone_accept(void *user, const struct hbone_request *req, struct hbone_upstream *out)
{
	struct zt_worker *w = user;
	struct zt_snap *zs = zt_state_get(w->st);
	const struct snap_workload *dst_wl = NULL;
	struct sockaddr_in dst, src;
	struct metrics_labels labels;
	struct authz_result ar;
	char host[256];
	bool claimed, has_host;
	uint32_t src_ip;
	int rv, up;

	if (!zs)
		return 503;
	rv = zt_check_connect(zs->snap, req->authority, req->forwarded, req->peer_identity, &dst,
			      &dst_wl, &src);
	if (rv) {
		pr_info("hbone: refused CONNECT %s from %s: %d", req->authority, req->peer_identity,
			rv);
		goto out;
	}
	/*
	 * The client's own address when it claimed one (verified above), else its node's. The
	 * port it sent names the client's socket in the logs; the pod sees a fresh one.
	 */
	claimed = src.sin_addr.s_addr != INADDR_ANY;
	src_ip = claimed ? src.sin_addr.s_addr : req->peer.sin_addr.s_addr;
	has_host = sock_parse_forwarded_host(req->forwarded, host, sizeof(host)) == 0;
	zt_fill_labels(
	    &labels, "destination", snapshot_workload_by_ip(zs->snap, src_ip), req->peer_identity,
	    dst_wl,
	    zt_inbound_service(zs->snap, dst_wl, ntohs(dst.sin_port), has_host ? host : NULL),
	    true);
	if (!authz_decide(zs->snap, dst_wl, ntohs(dst.sin_port), src_ip, req->peer_identity, &ar)) {
		zt_record_denial(&labels, claimed ? &src : &req->peer, &dst, "inbound", &ar);
		rv = 401;
		goto out;
	}
	up = sock_connect(&dst, claimed ? &src : NULL);
	if (up < 0) {
		rv = 503;
		goto out;
	}
	out->rec = connrec_open(&labels, claimed ? &src : &req->peer, &dst, "inbound");
	connrec_set_decision(out->rec, "allow", ar.name);
	authz_track(w->tracker, out->rec, dst.sin_addr.s_addr, ntohs(dst.sin_port), src_ip,
		    req->peer_identity);
	out->fd = up;
out:
	zt_snap_put(zs);
	return rv;
}

void zt_inbound_hbone(struct zt_worker *w, int fd, struct zt_snap *zs, struct guard_slot *slot)
{
	const struct snap_workload *dst;
	struct sockaddr_in local;
	struct tls_ctx *ctx;

	/* tc assigned this flow to us: the local address names the destination pod. */
	if (!zt_addr_of(fd, false, &local))
		goto drop;
	dst = snapshot_workload_by_ip(zs->snap, local.sin_addr.s_addr);
	if (!zt_local_enrolled(zs->snap, dst) || !(ctx = zt_snap_ctx(zs, dst->identity, true))) {
		pr_info("hbone: %s is not an enrolled pod with a certificate here",
			inet_ntoa(local.sin_addr));
		goto drop;
	}
	hbone_server_start(w->pool, fd, ctx, zt_hbone_accept, w, slot);
	return;
drop:
	close(fd);
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
	struct zt_worker *w =
	    (struct zt_worker *)((char *)h - offsetof(struct zt_worker, policy_h));
	struct zt_snap *zs;
	uint64_t n;
	unsigned int closed;

	if (read(w->policy_efd, &n, sizeof(n)) < 0)
		return;
	zs = zt_state_get(w->st);
	if (!zs)
		return;
	zt_outbound_snapshot(w, zs);
	held_in_snapshot(w, zs);
	closed = authz_reevaluate(w->tracker, zs->snap);
	if (closed)
		pr_info("snapshot %llu: closed %u open connection(s) the new policy denies",
			(unsigned long long)zs->snap->version, closed);
	zt_snap_put(zs);
}

/* Once a second: memory back to the system after a burst, repeated-log summaries. */
static void worker_tick(struct loop_tick *t)
{
	guard_memory_tick();
	log_flush();
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
	w->o.hbone = NULL; /* borrowed for the start only: the pool and the set keep copies */
	w->o.splice = NULL;
	w->policy_efd = -1;
	w->reserve_fd = -1;
	for (int i = 0; i < L__COUNT; i++)
		w->ls[i].tfd = -1;
	w->loop = loop_create();
	if (!w->loop || !(w->pool = hbone_pool_create(w->loop, opts->hbone)) ||
	    !(w->splices = splice_set_create(w->loop, opts->splice)) ||
	    !(w->tracker = authz_tracker_create()))
		goto fail;
	w->tick.fn = worker_tick;
	loop_tick_add(w->loop, &w->tick);
	w->policy_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->policy_efd < 0) {
		err = errno;
		goto fail;
	}
	w->policy_h.fn = on_policy;
	err = -loop_add(w->loop, w->policy_efd, EPOLLIN, &w->policy_h);
	if (err)
		goto fail;
	err = -zt_listeners_start(w, fds);
	if (err)
		goto fail;
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
	if (w->loop)
		zt_listeners_stop(w);
	hbone_pool_destroy(w->pool);
	splice_set_destroy(w->splices);
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
	splice_set_destroy(w->splices);
	zt_outbound_stop(w);
	while (w->held_in)
		held_in_release(w->held_in, true);
	authz_tracker_destroy(w->tracker);
	zt_listeners_stop(w);
	loop_destroy(w->loop);
	close(w->policy_efd);
	free(w);
}
