/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ztunnel's HTTP surfaces (libmicrohttpd, each on its own internal thread): metrics
 * (/metrics), readiness (/healthz/ready: 200 once a snapshot is held) and the local admin
 * endpoint (/connections, /config_dump with the public snapshot).
 */
#ifndef ZT_ADMIN_H
#define ZT_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "net/meshstate.h"

struct zt_admin;

struct zt_admin_opts {
	uint32_t metrics_ip, ready_ip, admin_ip;       /* network order */
	uint16_t metrics_port, ready_port, admin_port; /* host order; 0 skips that server */
	const char *pin_root; /* the node's BPF pins, for kernel drop counters; NULL: none */
	const char *node;     /* the node's name, for the workload manager's gauges; NULL: none */
	/*
	 * Listening sockets of the three servers, taken (handed over by a predecessor, or made
	 * by main); -1: the server binds its ip:port itself.
	 */
	int metrics_fd, ready_fd, admin_fd;
	/*
	 * The metrics and readiness servers again on [::] (IPv6 alone: the IPv4 ones stay as they
	 * are), on these sockets when given; -1: none (a host without IPv6).
	 */
	int metrics6_fd, ready6_fd;
};

/* Borrows @st and @opts->pin_root (which must outlive the servers). NULL + errno. */
struct zt_admin *zt_admin_start(struct mesh_state *st, const struct zt_admin_opts *opts);
void zt_admin_stop(struct zt_admin *a); /* accepts NULL */
/*
 * The servers stop accepting and close their listening sockets (a successor serves on its
 * copies); requests in progress are still answered. Accepts NULL.
 */
void zt_admin_quiesce(struct zt_admin *a);
/*
 * While a successor takes the listeners, readiness answers 503: a probe the old process
 * answers must not make the new pod look ready before it serves. Accepts NULL.
 */
void zt_admin_handing_over(struct zt_admin *a, bool on);

#endif
