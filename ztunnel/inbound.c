// SPDX-License-Identifier: Apache-2.0
/*
 * The inbound paths: plaintext on 15006 (a pod of this node addressed by a client outside the
 * mesh, or by one in PERMISSIVE mode), HBONE on 15008 (a CONNECT from a peer ztunnel, decided
 * by zt_hbone_accept), each checked against the snapshot's policy before its upstream opens.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/log.h"
#include "authz.h"
#include "hbone/hbone.h"
#include "inpod.h"
#include "proxy_priv.h"
#include "net/sock.h"
#include "net/splice.h"
#include "udp.h"

/*
 * A plaintext connection tc handed over for a pod this snapshot does not enroll: the agent
 * updates tc's map before the ztunnel gets the snapshot saying so. It waits, unread, for that
 * snapshot (the outbound retry pauses, ~1 s bound) and is then decided as usual; a pod still
 * not enrolled by then is refused (fail closed: tc had it in the mesh).
 */
struct held_in {
	struct loop_timer retry; /* armed while waiting out a pause */
	struct zt_worker *w;
	struct held_in *next, *prev;
	int fd;
	uint64_t start_ms; /* loop_now_ms at the accept */
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
	loop_timer_cancel(w->loop, &hi->retry);
	if (close_fd)
		close(hi->fd);
	/* Empty when a splice took it; else the connection ends here or with the caller. */
	guard_release(&hi->slot);
	loop_defer_free(w->loop, hi, held_in_free);
}

static void inbound_plain(struct zt_worker *w, int fd, const struct snapshot *s, struct held_in *hi,
			  struct guard_slot *slot);

static void held_in_retry(struct held_in *hi)
{
	struct mesh_snap *zs = mesh_state_get(hi->w->st);

	if (!zs) {
		held_in_release(hi, true);
		return;
	}
	inbound_plain(hi->w, hi->fd, zs->snap, hi, &hi->slot);
	mesh_snap_put(zs);
}

static void on_held_in(struct loop_timer *t)
{
	held_in_retry((struct held_in *)((char *)t - offsetof(struct held_in, retry)));
}

/*
 * Holds @fd for a later try (with *@slot, moved in on the first); false (nothing held, @hi
 * released but @fd kept) to give up.
 */
static bool held_in_wait(struct zt_worker *w, int fd, struct held_in **hip, uint64_t version,
			 struct guard_slot **slot)
{
	struct held_in *hi = *hip;
	unsigned int pause;

	if (!hi) {
		hi = calloc(1, sizeof(*hi));
		if (!hi)
			return false;
		hi->retry.fn = on_held_in;
		hi->w = w;
		hi->fd = fd;
		hi->start_ms = loop_now_ms(w->loop);
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
	pause = w->stopping
		    ? 0
		    : zt_retry_pause(hi->tries - hi->early, zt_ms_since(w->loop, hi->start_ms));
	if (!pause || loop_timer_arm(w->loop, &hi->retry, pause)) {
		/* The slot goes back with @hi: the caller drops the connection. */
		held_in_release(hi, false);
		*hip = NULL;
		*slot = NULL;
		return false;
	}
	return true;
}

void zt_inbound_snapshot(struct zt_worker *w, const struct mesh_snap *zs)
{
	struct held_in *hi, *next;

	for (hi = w->held_in; hi; hi = next) {
		next = hi->next;
		if (hi->version == zs->snap->version)
			continue;
		loop_timer_cancel(w->loop, &hi->retry);
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
	union sockaddr_inet local, peer;
	struct ipaddr local_ip, peer_ip;
	const struct snap_workload *dst;
	struct metrics_labels labels;
	struct authz_result ar;
	struct guard_slot local_slot = {};
	struct connrec *rec;
	char a[SOCKADDR_INET_STRLEN];
	int up;

	if (!zt_addr_of(fd, false, &local) || !zt_addr_of(fd, true, &peer))
		goto drop;
	/* tc (sk_assign) kept the original destination: the pod's address of either family. */
	local_ip = zt_ip_of(&local);
	peer_ip = zt_ip_of(&peer);
	dst = snapshot_workload_by_addr(s, &local_ip);
	if (!zt_local_enrolled(s, dst)) {
		if (held_in_wait(w, fd, &hi, s->version, &slot))
			return;
		pr_info("inbound: %s is not an enrolled pod of this node (snapshot %llu)",
			sockaddr_inet_format(&local, a, sizeof(a)), (unsigned long long)s->version);
		goto drop;
	}
	if (hi) {
		pr_debug("inbound: %s enrolled by snapshot %llu after %lums",
			 sockaddr_inet_ntop(&local, a, sizeof(a)), (unsigned long long)s->version,
			 zt_ms_since(w->loop, hi->start_ms));
		guard_slot_move(&local_slot, &hi->slot);
		slot = &local_slot;
		held_in_release(hi, false);
		hi = NULL;
	}
	/* Plaintext says nothing of the Service it was for: guessed by port, as Istio does. */
	zt_fill_labels(&labels, "destination", s->cluster_id,
		       snapshot_workload_by_addr(s, &peer_ip), NULL, dst,
		       zt_inbound_service(s, dst, sockaddr_inet_port(&local), NULL), false);
	/* No identity was proven on plaintext: do not claim the workload's principal. */
	labels.source_principal = NULL;
	/* Plaintext has no principal: STRICT refuses it, PERMISSIVE decides it identity-less. */
	if (!authz_decide(s, dst, &local_ip, sockaddr_inet_port(&local), &peer_ip, NULL, &ar)) {
		zt_record_denial(&labels, &peer, &local, "inbound", &ar);
		sock_close_reset(fd);
		guard_release(slot);
		return;
	}
	rec = connrec_open(&labels, &peer, &local, "inbound");
	connrec_set_decision(rec, "allow", ar.name);
	authz_track(w->tracker, rec, &local_ip, sockaddr_inet_port(&local), &peer_ip, NULL);
	up = zt_connect_to_pod(&local, &peer);
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

void zt_inbound_plain(struct zt_worker *w, int fd, const struct mesh_snap *zs,
		      struct guard_slot *slot)
{
	inbound_plain(w, fd, zs->snap, NULL, slot);
}

int zt_hbone_accept(void *user, const struct hbone_request *req, struct hbone_upstream *out)
{
	struct zt_worker *w = user;
	struct mesh_snap *zs = mesh_state_get(w->st);
	const struct snap_workload *dst_wl = NULL;
	union sockaddr_inet dst, src;
	const union sockaddr_inet *from;
	struct ipaddr dst_ip, src_ip;
	struct metrics_labels labels;
	struct authz_result ar;
	struct zt_connect conn;
	char host[256];
	bool claimed, has_host;
	int rv, up;

	if (!zs)
		return 503;
	conn = (struct zt_connect){
	    .authority = req->authority,
	    .forwarded = req->forwarded,
	    .peer_id = req->peer_identity,
	    .local = &req->local,
	    .network = h2_header_get(req->headers, req->nheaders, "x-forwarded-network")};
	rv = zt_check_connect(zs->snap, &conn, &dst, &dst_wl, &src);
	if (rv) {
		pr_info("hbone: refused CONNECT %s from %s: %d", req->authority, req->peer_identity,
			rv);
		goto out;
	}
	/*
	 * The client's own address when it claimed one (verified above), else its node's. The
	 * port it sent names the client's socket in the logs; the pod sees a fresh one.
	 */
	claimed = !sockaddr_inet_is_any(&src);
	from = claimed ? &src : &req->peer;
	src_ip = zt_ip_of(from);
	dst_ip = zt_ip_of(&dst);
	has_host = zt_connect_host(&conn, host, sizeof(host));
	zt_fill_labels(
	    &labels, "destination", zs->snap->cluster_id,
	    snapshot_workload_by_addr(zs->snap, &src_ip), req->peer_identity, dst_wl,
	    zt_inbound_service(zs->snap, dst_wl, sockaddr_inet_port(&dst), has_host ? host : NULL),
	    true);
	labels.request_protocol = req->udp ? "udp" : NULL;
	if (!authz_decide(zs->snap, dst_wl, &dst_ip, sockaddr_inet_port(&dst), &src_ip,
			  req->peer_identity, &ar)) {
		zt_record_denial(&labels, from, &dst, req->udp ? "inbound udp" : "inbound", &ar);
		rv = 401;
		goto out;
	}
	if (req->udp) {
		/* A flow: its socket to the pod, and the stream's in-process end. */
		rv = zt_udp_inbound(w, req, &dst, claimed ? &src : NULL, out);
		if (rv) {
			pr_info("hbone: CONNECT-UDP %s: %s", req->authority, strerror(-rv));
			rv = 503;
			goto out;
		}
	} else {
		up = zt_connect_to_pod(&dst, claimed ? &src : NULL);
		if (up < 0) {
			rv = 503;
			goto out;
		}
		out->fd = up;
	}
	out->rec = connrec_open(&labels, from, &dst, req->udp ? "inbound udp" : "inbound");
	connrec_set_decision(out->rec, "allow", ar.name);
	connrec_set_traceparent(out->rec,
				h2_header_get(req->headers, req->nheaders, "traceparent"));
	authz_track(w->tracker, out->rec, &dst_ip, sockaddr_inet_port(&dst), &src_ip,
		    req->peer_identity);
	/* As Istio's ztunnel answers: the client fills the labels it lacks from it. */
	zt_baggage(dst_wl, zs->snap->cluster_id, out->baggage, sizeof(out->baggage));
out:
	mesh_snap_put(zs);
	return rv;
}

void zt_inbound_hbone(struct zt_worker *w, int fd, struct mesh_snap *zs, struct guard_slot *slot)
{
	const struct snap_workload *dst;
	union sockaddr_inet local;
	struct tls_ctx *ctx;
	char a[SOCKADDR_INET_STRLEN];

	/* tc assigned this flow to us: the local address names the destination pod. */
	if (!zt_addr_of(fd, false, &local))
		goto drop;
	dst = zt_workload_at(zs->snap, &local);
	if (!zt_local_enrolled(zs->snap, dst) || !(ctx = mesh_snap_ctx(zs, dst->identity, true))) {
		pr_info("hbone: %s is not an enrolled pod with a certificate here",
			sockaddr_inet_ntop(&local, a, sizeof(a)));
		goto drop;
	}
	hbone_server_start(w->pool, fd, ctx, zt_hbone_accept, w, slot);
	return;
drop:
	close(fd);
}

void zt_inbound_stop(struct zt_worker *w)
{
	while (w->held_in)
		held_in_release(w->held_in, true);
}
