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

#include "stats.h"

struct wp_admin;

/*
 * Serves on @ip:@port (network order ip, host order port) the metrics of @stores (@n,
 * borrowed: they must outlive the server). NULL + errno.
 */
struct wp_admin *wp_admin_start(uint32_t ip, uint16_t port, struct wp_stats *const *stores,
				size_t n);
/*
 * The same for the pod whose POD_IP is @pod_ip (NULL: none): on any address (@ip 0) of a pod
 * of IPv6 alone (@pod_ip IPv6), on [::]:@port instead, where the kubelet probes its readiness.
 */
struct wp_admin *wp_admin_start_pod(uint32_t ip, uint16_t port, const char *pod_ip,
				    struct wp_stats *const *stores, size_t n);
/* The configuration of @version is in force from now on. */
void wp_admin_set_version(struct wp_admin *a, uint64_t version);
/* /healthz/ready answers 503 from now on. */
void wp_admin_draining(struct wp_admin *a);
void wp_admin_stop(struct wp_admin *a); /* accepts NULL */

#endif
