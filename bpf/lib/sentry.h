/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ServiceEntries' UDP ports (bpf_abi.h, AMBIT_SERVICE_ENTRY_UDP_BACKENDS): a services or
 * services6 entry whose one backend is all zero. Not balanced in the kernel (capture.h leaves
 * the address as the pod wrote it, and does not send port 53 there to the DNS proxy); an
 * enrolled pod's datagrams there go to the ztunnel (steer.h). So do those to an address of an
 * entry's CIDR block on its UDP port (sentry_cidrs, sentry_cidrs6), which no address key holds,
 * and an enrolled pod's to the VIP of a Service a waypoint serves (its /32 or /128 there): the
 * cgroup hooks leave those unbalanced for such a pod (capture.h), so the ztunnel sees the VIP
 * and carries the flow to the waypoint.
 */
#ifndef AMBIT_BPF_SENTRY_H
#define AMBIT_BPF_SENTRY_H

#include "lib/maps.h"

/* Whether IPv4 backend @be is the marker of a ServiceEntry's UDP port. */
static __always_inline bool sentry_backend(const struct ambit_backend *be)
{
	return !be->ip && !be->port;
}

/* The same for an IPv6 backend. */
static __always_inline bool sentry_backend6(const struct ambit_addr6 *be)
{
	return !(be->ip6[0] | be->ip6[1] | be->ip6[2] | be->ip6[3]) && !be->port;
}

/* Whether @svc, a services entry, is a ServiceEntry's UDP port (@v6: of services6). */
static __always_inline bool sentry_service(const struct ambit_service *svc, bool v6)
{
	struct ambit_backend_key bk = {.service_id = svc->id};
	void *be;

	if (svc->backend_count != AMBIT_SERVICE_ENTRY_UDP_BACKENDS)
		return false;
	be = bpf_map_lookup_elem(v6 ? (void *)&backends6 : (void *)&backends, &bk);
	if (!be)
		return false;
	return v6 ? sentry_backend6(be) : sentry_backend(be);
}

/*
 * Whether an enrolled pod's UDP to @ip:@port (network order) goes to the ztunnel as addressed:
 * an address of a ServiceEntry's block, or the VIP of a Service a waypoint serves (its /32),
 * on one of its UDP ports.
 */
static __always_inline bool sentry_cidr(__u32 ip, __u16 port)
{
	struct ambit_sentry_cidr_key ck = {.prefixlen = 64, .port = port, .ip = ip};

	return bpf_map_lookup_elem(&sentry_cidrs, &ck) != NULL;
}

/* The same for [@ip6]:@port (sentry_cidrs6; a VIP's /128). */
static __always_inline bool sentry_cidr6(const void *ip6, __u16 port)
{
	struct ambit_sentry_cidr6_key ck = {.prefixlen = 160, .port = port};

	__builtin_memcpy(ck.ip6, ip6, sizeof(ck.ip6));
	return bpf_map_lookup_elem(&sentry_cidrs6, &ck) != NULL;
}

/*
 * Whether @ip:@port (network order) is a UDP port the ztunnel takes as addressed: a
 * ServiceEntry's, at its address or block, or a waypoint's Service's VIP (sentry_cidr).
 */
static __always_inline bool sentry_udp(__u32 ip, __u16 port)
{
	struct ambit_addr key = {.ip = ip, .port = port, .proto = IPPROTO_UDP};
	struct ambit_service *svc = bpf_map_lookup_elem(&services, &key);

	if (svc && sentry_service(svc, false))
		return true;
	return sentry_cidr(ip, port);
}

/* The same for [@ip6]:@port. */
static __always_inline bool sentry_udp6(const void *ip6, __u16 port)
{
	struct ambit_addr6 key = {.port = port, .proto = IPPROTO_UDP};
	struct ambit_service *svc;

	__builtin_memcpy(key.ip6, ip6, sizeof(key.ip6));
	svc = bpf_map_lookup_elem(&services6, &key);
	if (svc && sentry_service(svc, true))
		return true;
	return sentry_cidr6(ip6, port);
}

#endif /* AMBIT_BPF_SENTRY_H */
