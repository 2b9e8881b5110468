/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The addresses the DNS proxy resolved for ServiceEntries of resolution DNS and DNS_ROUND_ROBIN
 * (snap_service.names): written by its thread (dns_server.c), read by the workers' routing
 * (route.c). A name's A and AAAA answers are kept apart, each family's set by its own query,
 * and read IPv4 first (Envoy's V4_PREFERRED order, the waypoint's too). A name keeps its last
 * addresses of a family until new ones come, even past their TTL: a resolver that stops
 * answering leaves the entry where it last led.
 */
#ifndef ZT_RESOLVED_H
#define ZT_RESOLVED_H

#include <stddef.h>
#include <stdint.h>

#include "ambit/ipaddr.h"

#define ZT_RESOLVED_MAX_ADDRS 16
#define ZT_RESOLVED_MAX_NAMES 1024

/*
 * @name's addresses of @family (AF_INET or AF_INET6) are now the @n of @ips (of that family;
 * 0: it has none), those of the other family kept. 0, -EINVAL, -ENOSPC or -ENOMEM.
 */
int zt_resolved_set(const char *name, int family, const struct ipaddr *ips, size_t n);
/* @name's addresses, IPv4 ones first, at most @max into @ips: how many (0: none, or unknown). */
size_t zt_resolved_get(const char *name, struct ipaddr *ips, size_t max);
/* Forgets every name but those of @keep (@n of them). */
void zt_resolved_keep(char *const *keep, size_t n);

#endif
