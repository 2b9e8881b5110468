/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the ztunnel workers: what proxy.c (workers, listeners, inbound) and outbound.c (the
 * outbound path and its retries) share. Everything here runs on the worker's own loop thread
 * unless said otherwise.
 */
#ifndef ZT_PROXY_PRIV_H
#define ZT_PROXY_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>

#include "net/guard.h"
#include "net/loop.h"
#include "metrics.h"
#include "proxy.h"
#include "record.h"
#include "udp.h"
#include <sys/queue.h>

/* The listeners; guard.h counts them by the same index. */
enum { L_OUTBOUND = GUARD_OUTBOUND, L_INBOUND = GUARD_INBOUND, L_HBONE = GUARD_HBONE, L__COUNT };

struct authz_result;
struct held;
struct held_in;
struct zt_worker;

struct listener {
	struct loop_handler h;
	struct loop_timer resume; /* while paused for want of fds */
	struct zt_worker *w;
	int kind;
	int fd; /* borrowed, shared by all workers */
	bool paused;
	unsigned int pause_ms; /* the next pause */
};

struct zt_worker {
	struct mesh_state *st;
	struct zt_proxy_opts o;
	struct loop *loop;
	struct hbone_pool *pool;
	struct splice_set *splices;
	struct loop_tick tick; /* memory return, log summaries */
	pthread_t thread;
	struct listener ls[L__COUNT];
	struct listener ls6[L__COUNT]; /* the same on [::] (fd -1: none, an IPv4-only host) */
	int reserve_fd; /* kept open to be closed when accept() runs out of fds (accept.c) */
	struct zt_rr rr;
	struct authz_tracker *tracker; /* open inbound connections, for policy revocation */
	int policy_efd;		       /* written when a snapshot is installed */
	struct loop_handler policy_h;
	struct held *held;	 /* outbound connections waiting for their upstream */
	struct held_in *held_in; /* plaintext inbound waiting for their pod's snapshot */
	struct wk_inpod **inpod; /* in-pod pods' listeners on this loop (inpod.c) */
	LIST_HEAD(zt_udp_flows, zt_udp_flow) udp_in; /* CONNECT-UDP flows to pods (udp.c) */
	struct zt_udp_out *udp_out; /* the pods' flows out, by pod and destination (udp.c) */
	struct zt_udp_io *udp_io;   /* the flows' batched reads and writes (udp.c), or NULL */
	struct zt_udp_limits udp_lim;
	size_t n_inpod, cap_inpod;
	bool stopping;	       /* failures are final: no retry is scheduled */
	atomic_bool drain_req; /* zt_worker_drain asked (any thread), with a wake-up */
	atomic_bool drained;   /* the worker's thread dropped its listeners */
};

/*
 * The worker's hbone_accept_fn (@user: the struct zt_worker): decides a CONNECT with the current
 * snapshot (zt_check_connect, then policy) and starts the upstream connection. Exposed for the
 * CONNECT fuzz target (tests/fuzz/fuzz_connect.c).
 */
struct hbone_request;
struct hbone_upstream;
int zt_hbone_accept(void *user, const struct hbone_request *req, struct hbone_upstream *out);
/*
 * outbound.c: the pause (ms) before retry number @step (1..) of a held connection held for
 * @elapsed_ms so far, or 0 when it must give up (the schedule or the ~1 s bound is spent).
 */
unsigned int zt_retry_pause(unsigned int step, unsigned long elapsed_ms);
/* Milliseconds from @start_ms to @l's current batch (loop_now_ms). */
static inline unsigned long zt_ms_since(const struct loop *l, uint64_t start_ms)
{
	return (unsigned long)(loop_now_ms(l) - start_ms);
}

/*
 * outbound.c: a connection accepted on 15001; @fd and @zs (current at the accept) taken, and
 * @slot moved out if the connection is kept (the caller releases what is left).
 */
void zt_outbound(struct zt_worker *w, int fd, struct mesh_snap *zs, struct guard_slot *slot);
/* inbound.c: a connection accepted on 15006 or 15008, as zt_outbound; @zs borrowed. */
void zt_inbound_plain(struct zt_worker *w, int fd, const struct mesh_snap *zs,
		      struct guard_slot *slot);
void zt_inbound_hbone(struct zt_worker *w, int fd, struct mesh_snap *zs, struct guard_slot *slot);

/*
 * accept.c: the worker's listeners on its loop (admission, fd exhaustion), IPv4 @fds and IPv6
 * @fds6 (-1: none). 0 or -errno; stop undoes a partial start.
 */
int zt_listeners_start(struct zt_worker *w, const int fds[L__COUNT], const int fds6[L__COUNT]);
void zt_listeners_stop(struct zt_worker *w);
/* accept.c: the listeners leave the worker's loop for good (a successor accepts on them). */
void zt_listeners_drop(struct zt_worker *w);
/* accept.c: one listener (@fd of @kind, borrowed) on @w's loop, and off it again. */
int zt_listener_add(struct zt_worker *w, struct listener *li, int kind, int fd);
void zt_listener_remove(struct zt_worker *w, struct listener *li);
/*
 * outbound.c: to another network (@r->remote): @t to that network's gateway, its outer CONNECT
 * "<hostname>:@port" written in @host (ZT_VIA_HOST_MAX), and inside it the inner tunnel to
 * whichever endpoint the gateway picks, checked against the Service's identities there (listed
 * in @sans); the gateway's health told to @w's round robin. TCP's and UDP's alike.
 */
#define ZT_VIA_HOST_MAX 300
struct hbone_target;
struct snapshot;
struct zt_route;
void zt_outbound_via(struct zt_worker *w, const struct snapshot *s, const struct zt_route *r,
		     uint16_t port, struct hbone_target *t, char *host, char *sans,
		     size_t sans_len);
/* outbound.c: @zs (borrowed) was just installed: held connections waiting to retry try now. */
void zt_outbound_snapshot(struct zt_worker *w, const struct mesh_snap *zs);
/* outbound.c: at shutdown, after the HBONE pool is gone: ends every held connection. */
void zt_outbound_stop(struct zt_worker *w);
/* inbound.c: plaintext inbound waiting for a snapshot try again with @zs (not a backoff step). */
void zt_inbound_snapshot(struct zt_worker *w, const struct mesh_snap *zs);
/* inbound.c: at shutdown: ends the plaintext inbound connections still waiting. */
void zt_inbound_stop(struct zt_worker *w);

#endif
