/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ztunnel workers: each runs its own loop over the shared listening sockets (EPOLLEXCLUSIVE)
 * and keeps every connection it accepts, with its own HBONE pool (shared-nothing).
 */
#ifndef ZT_PROXY_H
#define ZT_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "hbone/hbone.h"
#include "route.h"
#include "net/splice.h"
#include "net/meshstate.h"
#include "udp.h"

struct zt_proxy_opts {
	int outbound_fd; /* listening sockets, borrowed; -1 to skip */
	int inbound_fd;
	int hbone_fd;
	int outbound6_fd; /* the same on [::]; -1: none (an IPv4-only host) */
	int inbound6_fd;
	int hbone6_fd;
	int orig_dst_fd;     /* pinned orig_dst map, borrowed; -1 without BPF */
	int orig_dst6_fd;    /* pinned orig_dst6 map, borrowed; -1 without it (IPv4 only) */
	uint16_t hbone_port; /* where peers listen for HBONE (15008; tests change it) */
	enum zt_lb lb;
	/* Deadlines and caps (borrowed, copied at start); NULL: the modules' defaults. */
	const struct hbone_limits *hbone;
	const struct splice_limits *splice;
	const struct zt_udp_limits *udp;
	/* 15001/udp (zt_udp_listen), borrowed, for this worker alone; 0 or -1: none (a zeroed
	 * struct carries none: the listener is never stdin) */
	int udp_fd;
	int udp6_fd; /* the same on [::] */
	/* This worker reads the pods' UDP: the node's listeners, and the in-pod pods'. */
	bool udp_worker;
};

struct zt_worker;

/* Borrows @st and @opts' fds for the worker's lifetime. NULL + errno. */
struct zt_worker *zt_worker_start(struct mesh_state *st, const struct zt_proxy_opts *opts);
/* Stops the thread, resets its connections and frees it. Accepts NULL. */
void zt_worker_stop(struct zt_worker *w);
/*
 * Drains @w (a successor took the listeners): its thread stops accepting and ends its HBONE
 * connections gracefully (hbone_pool_drain) while what it holds runs on. Returns once the
 * listeners left the worker's loop, so the caller may close them: 0, or -ETIMEDOUT when the
 * worker did not answer within a few seconds. Accepts NULL.
 */
int zt_worker_drain(struct zt_worker *w);

/*
 * Inbound connections (plaintext 15006, HBONE 15008, same-node short circuit) are decided by
 * authz.h with the snapshot's policy set; a new snapshot re-decides each worker's open ones.
 */

#endif
