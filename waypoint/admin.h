/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waypoint's admin listener (libmicrohttpd on its own thread, like the ztunnel's):
 * /stats/prometheus (also /metrics) with the workers' request metrics merged, and
 * /healthz/ready (200 while serving, 503 once draining) and /snapshot_version (the version
 * of the configuration in force, as the ztunnel's: `ambitctl apply --wait` waits on it).
 */
#ifndef AMBIT_WAYPOINT_ADMIN_H
#define AMBIT_WAYPOINT_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "net/sock.h"
#include "stats.h"

struct wp_admin;

/*
 * Serves on @at (borrowed) the metrics of @stores (@n, borrowed: they must outlive the server):
 * on any address (0.0.0.0 or [::]) in both families ([::] taking IPv4 too, as the kubelet and
 * Prometheus reach a pod of either family at its own address, and ambitctl at 127.0.0.1), on
 * a given address in that address's family alone. NULL + errno.
 */
struct wp_admin *wp_admin_start(const union sockaddr_inet *at, struct wp_stats *const *stores,
				size_t n);
/*
 * Also answers /healthz/ready (alone) on @port of every address of both families, as Envoy's
 * readiness listener on 15021 of Istio's gateways and waypoints, which their Service's
 * status-port targets; draining there too. 0 or -errno (-EALREADY: already listening).
 */
int wp_admin_ready_listen(struct wp_admin *a, uint16_t port);
/* The configuration of @version is in force from now on. */
void wp_admin_set_version(struct wp_admin *a, uint64_t version);
/* /healthz/ready answers 503 from now on. */
void wp_admin_draining(struct wp_admin *a);
void wp_admin_stop(struct wp_admin *a); /* accepts NULL */

#endif
