/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The addresses the DNS proxy resolved for ServiceEntries of resolution DNS and DNS_ROUND_ROBIN
 * (snap_service.names): written by its thread (dns_server.c), read by the workers' routing
 * (route.c). A name keeps its last addresses until new ones come, even past their TTL: a
 * resolver that stops answering leaves the entry where it last led.
 */
#ifndef ZT_RESOLVED_H
#define ZT_RESOLVED_H

#include <stddef.h>
#include <stdint.h>

#define ZT_RESOLVED_MAX_ADDRS 16
#define ZT_RESOLVED_MAX_NAMES 1024

/* @name now has the @n addresses @ips (network order; 0: it has none). 0 or -ENOSPC/-ENOMEM. */
int zt_resolved_set(const char *name, const uint32_t *ips, size_t n);
/* @name's addresses, at most @max into @ips: how many (0: not resolved, or none). */
size_t zt_resolved_get(const char *name, uint32_t *ips, size_t max);
/* Forgets every name but those of @keep (@n of them). */
void zt_resolved_keep(char *const *keep, size_t n);

#endif
