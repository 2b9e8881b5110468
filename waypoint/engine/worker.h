/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waypoint's workers: one thread and loop per core, each with its own request engine,
 * connector and metric store, all accepting from the same listening sockets (EPOLLEXCLUSIVE
 * wakes one), like the ztunnel's. The main thread hands them new generations and the drain
 * through an eventfd; nothing on the request path is shared but the generation (read-only)
 * and the clusters' atomic budgets.
 */
#ifndef AMBIT_WAYPOINT_WORKER_H
#define AMBIT_WAYPOINT_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"
#include "proxy.h"
#include "../stats.h"

/*
 * A plaintext listener bound to one Service (the TCP front end), or the HBONE listener of a
 * waypoint in the mesh (@hbone: each CONNECT names its own destination).
 */
struct wp_listener {
	int fd;		  /* listening socket, borrowed */
	const char *host; /* the Service hostname its connections are for */
	uint16_t port;	  /* the service port */
	bool hbone;
	/* One-way TLS for its clients (--listen-tls; a gateway's by SNI), borrowed, or NULL. */
	struct tls_ctx *tls;
};

/* Listeners a worker holds at most (command line and a gateway's ports together). */
#define WP_MAX_LISTENERS 64
/* Certificates a gateway's TLS listener serves at most (by SNI). */
#define WP_MAX_CERTS 64

/*
 * A listener on [::]:@port (IPV6_V6ONLY: the IPv6 twin of one on 0.0.0.0:@port, each family
 * its own socket; with @port 0, the port the kernel picks). fd, or -errno: -EAFNOSUPPORT or
 * -EADDRNOTAVAIL on a host without IPv6.
 */
int wp_listen_any6(uint16_t port);

/*
 * The addresses the waypoint claims as its own (`forwarded: for=`) from @pod_ip (POD_IP, NULL:
 * none): *@self4 @pod_ip when it is IPv4, else NULL (a pod of IPv6 alone has no IPv4 to claim:
 * its CONNECTs to IPv4 destinations claim nothing); its IPv6 address in @self6 (@pod_ip when
 * that is IPv6, else its interface's global one). 0 with @self6 set, or -ENOENT: none.
 */
int wp_self_addrs(const char *pod_ip, const char **self4, char *self6, size_t len);

struct wp_mesh;

struct wp_worker_opts {
	int log_fd;
	bool log_json, shadow_suffix;
	struct wp_hcm_opts hcm; /* copied into each worker's engine */
	/* In the mesh (borrowed): HBONE both ways, with its identity. NULL: plain TCP. */
	struct wp_mesh *mesh;
};

struct wp_worker;

/* Starts a worker on @n listeners (borrowed) serving @gen. NULL + errno. */
struct wp_worker *wp_worker_start(struct wp_gen *gen, const struct wp_listener *ls, size_t n,
				  const struct wp_worker_opts *o);
/* Hands @gen (a reference is taken) to the worker; thread-safe. */
void wp_worker_set_gen(struct wp_worker *w, struct wp_gen *gen);
/*
 * Adds plaintext listener @l (its fd and host borrowed, for the process's life) to a running
 * worker, which accepts on it from its next loop round: a gateway's new port. Thread-safe.
 * 0, or -ENOSPC past WP_MAX_LISTENERS (or for an HBONE listener).
 */
int wp_worker_add_listener(struct wp_worker *w, const struct wp_listener *l);
/*
 * Stops accepting and drains: idle connections close, busy ones after their exchange; the
 * listening sockets stop listening (a connect is refused: shared sockets, so for every worker)
 * and a CONNECT arriving on an HBONE connection is refused with 503, for its ztunnel to retry.
 */
void wp_worker_drain(struct wp_worker *w);
/* Downstream connections and mirrors still open (after a drain: what is left to finish). */
size_t wp_worker_active(struct wp_worker *w);
/*
 * The most requests in flight the worker counted (every 100 ms) since the previous call: a
 * burst answered between two looks of the main thread shows.
 */
size_t wp_worker_requests_peak(struct wp_worker *w);
struct wp_stats *wp_worker_stats(struct wp_worker *w);
/* Stops the thread, resets what is left, frees. Accepts NULL. */
void wp_worker_stop(struct wp_worker *w);

#endif
