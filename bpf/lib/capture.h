/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Outbound capture at the socket layer (KERNEL_NOTES.md, mechanism 1): connect4 steers enrolled
 * pods to the ztunnel and load-balances Service VIPs for the others; sockops re-keys the original
 * destination by the pod socket's local address; getpeername4 hides the rewrite. connect6 and
 * getpeername6 do the same for IPv4 destinations a dual-stack socket names as v4-mapped IPv6
 * (::ffff:a.b.c.d: what gRPC, Java and Node clients do by default); without them such a connect
 * to a Service VIP found no route and an enrolled pod's bypassed the mesh. A native IPv6
 * destination goes the same ways to the node ztunnel's IPv6 (ztunnel_ip6), for a pod captured
 * in-pod to its own IPv6 (enrolled_ip6), and to services6, with its record in the socket's own
 * storage (sock_orig6) and orig_dst6; where the mesh cannot carry it (a node without IPv6, an
 * in-pod pod whose IPv6 is not in enrolled_ip6) it is refused (capture_v6_refused).
 * The IPv4 paths do no IPv6 look-up, and a v4-mapped one only compares its address.
 */
#ifndef AMBIT_BPF_CAPTURE_H
#define AMBIT_BPF_CAPTURE_H

#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/excl.h"
#include "lib/sentry.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMPV6 58 /* a #define of linux/in6.h, not in BTF */

/* cgroup/connect4 return values: 0 makes connect() fail with EPERM. */
#define CONNECT_REJECT 0
#define CONNECT_ALLOW 1

/* Set by the loader before load (network order). */
const volatile __u32 ztunnel_ip = 0;
/* The node's IPv6 (network order), where connect6 steers; all zero on a node without one. */
const volatile __u32 ztunnel_ip6[4] = {};

static __always_inline bool capture_is_loopback(__u32 ip)
{
	return (bpf_ntohl(ip) >> 24) == 127;
}

/* The destination of a connect: the IPv4 address itself, or the v4-mapped one of connect6. */
static __always_inline void capture_set_dst(struct bpf_sock_addr *ctx, bool v6, __u32 ip,
					    __u32 port)
{
	if (v6)
		ctx->user_ip6[3] = ip;
	else
		ctx->user_ip4 = ip;
	ctx->user_port = port;
}

/*
 * MPTCP: connect() on a socket(..., IPPROTO_MPTCP) runs the connect hook on its first subflow, a
 * TCP socket of its own (a cookie of its own), and getpeername() on the MPTCP socket the
 * application holds, whose peer is copied from the subflow: the ztunnel's. So the original
 * destination is kept on the MPTCP socket too, in its sock_orig6 storage (an IPv4 one
 * v4-mapped), for getpeername4/6 to find (capture_orig_mptcp, capture_getpeername_native6).
 * sockops and the ztunnel see the subflow alone, a TCP connection as any other.
 */
static __always_inline void capture_keep_mptcp(struct bpf_sock_addr *ctx, const __u32 *ip6,
					       __u32 port, __u16 flags, __u64 cgroup)
{
	struct ambit_orig_dst6 *o;
	struct mptcp_sock *msk;

	if (ctx->protocol != IPPROTO_TCP)
		return;
	msk = bpf_skc_to_mptcp_sock(ctx->sk);
	if (!msk)
		return;
	o = bpf_sk_storage_get(&sock_orig6, msk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return;
	o->ip6[0] = ip6[0];
	o->ip6[1] = ip6[1];
	o->ip6[2] = ip6[2];
	o->ip6[3] = ip6[3];
	o->port = (__u16)port;
	o->flags = flags;
	o->cgroup = cgroup;
}

static __always_inline void capture_keep_mptcp4(struct bpf_sock_addr *ctx,
						const struct ambit_orig_dst *orig)
{
	__u32 mapped[4] = {0, 0, bpf_htonl(0xffff), orig->ip};

	capture_keep_mptcp(ctx, mapped, orig->port, orig->flags, orig->cgroup);
}

static __always_inline int capture_redirect(struct bpf_sock_addr *ctx, bool v6, __u32 ip,
					    __u64 cgroup, const struct ambit_enrolled *en)
{
	struct ambit_orig_dst orig = {
	    .ip = ip,
	    .port = (__u16)ctx->user_port,
	    .flags = AMBIT_ORIG_REDIRECTED,
	    .cgroup = cgroup,
	};
	__u64 cookie = bpf_get_socket_cookie(ctx);

	/*
	 * Without the record the ztunnel could not tell where the pod meant to go: refuse the
	 * connect rather than deliver it to 15001 with no destination.
	 */
	if (bpf_map_update_elem(&sock_orig, &cookie, &orig, BPF_ANY) != 0)
		return CONNECT_REJECT;
	capture_keep_mptcp4(ctx, &orig);
	/* In-pod: the ztunnel's listener in the pod's own netns, at the pod's own address. */
	capture_set_dst(ctx, v6, (en->flags & AMBIT_ENROLLED_INPOD) ? en->pod_ip : ztunnel_ip,
			bpf_htons(AMBIT_PORT_OUTBOUND));
	counter_inc(AMBIT_REDIRECT_OUTBOUND);
	return CONNECT_ALLOW;
}

/*
 * A backend of @svc from @map, backends (struct ambit_backend) or backends6 (ambit_addr6), at a
 * random index, which goes to @key->index.
 */
static __always_inline void *capture_pick_at(void *map, const struct ambit_service *svc,
					     struct ambit_backend_key *key)
{
	void *be;

	key->service_id = svc->id;
	key->index = bpf_get_prandom_u32() % svc->backend_count;
	be = bpf_map_lookup_elem(map, key);
	if (be)
		return be;
	/*
	 * The agent shrinks a service by writing the new count before deleting stale indexes, so
	 * a count read just before a shrink may point past the end: index 0 is always valid then.
	 */
	key->index = 0;
	return bpf_map_lookup_elem(map, key);
}

static __always_inline void *capture_pick_backend(void *map, const struct ambit_service *svc)
{
	struct ambit_backend_key key = {};

	return capture_pick_at(map, svc, &key);
}

static __always_inline int capture_service_lb(struct bpf_sock_addr *ctx, bool v6, __u32 ip,
					      const struct ambit_service *svc, __u64 cgroup)
{
	struct ambit_orig_dst orig = {
	    .ip = ip,
	    .port = (__u16)ctx->user_port,
	    .flags = AMBIT_ORIG_SERVICE_LB,
	    .cgroup = cgroup,
	};
	struct ambit_backend *be = NULL;
	__u64 cookie;

	if (svc->backend_count > 0)
		be = capture_pick_backend(&backends, svc);
	if (!be) {
		counter_inc(AMBIT_DROP_NO_BACKEND);
		return CONNECT_REJECT;
	}
	cookie = bpf_get_socket_cookie(ctx);
	/* getpeername4 still works from the backend's address if this fails; not fatal. */
	bpf_map_update_elem(&sock_orig, &cookie, &orig, BPF_ANY);
	capture_keep_mptcp4(ctx, &orig);
	capture_set_dst(ctx, v6, be->ip, be->port);
	counter_inc(AMBIT_SERVICE_LB);
	return CONNECT_ALLOW;
}

/* Deeper than any kubelet layout: <root>/kubepods.slice/<qos>/<pod>/<container>, plus a prefix. */
#define CAPTURE_MAX_CGROUP_LEVEL 16

/*
 * The enrolled pod cgroup the calling task is in, at any depth: the kubelet puts a pod's
 * containers in cgroups below the pod's (pod<uid>/<container id>), and a container that restarts
 * gets a new one, so the pod's own cgroup is what is enrolled and its descendants are looked up
 * through their ancestors. 0 when none is enrolled; else its id, and its entry in @en.
 */
static __always_inline __u64 capture_enrolled_cgroup(struct ambit_enrolled **en)
{
	__u64 id = bpf_get_current_cgroup_id();

	*en = bpf_map_lookup_elem(&enrolled_cgrp, &id);
	if (*en)
		return id;
	for (int level = 1; level < CAPTURE_MAX_CGROUP_LEVEL; level++) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		/* Past the task's own level: no ancestor there. */
		if (!id)
			break;
		*en = bpf_map_lookup_elem(&enrolled_cgrp, &id);
		if (*en)
			return id;
	}
	return 0;
}

/*
 * DNS (DESIGN.md §2): port 53 from an enrolled pod (not opted out with Istio's annotation), to
 * anything but loopback, goes to the node ztunnel's proxy on 15053, except to a resolver a
 * ServiceEntry names (its UDP port 53, lib/sentry.h), which is asked. A pod captured in-pod (a
 * bridge CNI) too: the cgroup hook sees its sockets wherever its netns is, and the node's
 * address is one its pod network routes to (the node's IPv4 for its IPv4, ztunnel_ip6 for its
 * IPv6).
 */
static __always_inline bool capture_dns_of(const struct bpf_sock_addr *ctx,
					   const struct ambit_enrolled *en)
{
	return ctx->user_port == bpf_htons(53) && !(en->flags & AMBIT_ENROLLED_NO_DNS);
}

static __always_inline bool capture_dns_wanted(struct bpf_sock_addr *ctx, __u32 ip)
{
	struct ambit_enrolled *en = NULL;

	if (ctx->user_port != bpf_htons(53) || capture_is_loopback(ip) || ip == ztunnel_ip)
		return false;
	if (!capture_enrolled_cgroup(&en) || !en)
		return false;
	/*
	 * A resolver a ServiceEntry names (lib/sentry.h) is asked itself, through the ztunnel (tc
	 * takes the datagrams: on the node, or in-pod at the pod's eth0).
	 */
	return capture_dns_of(ctx, en) && !sentry_udp(ip, (__u16)ctx->user_port);
}

/*
 * UDP DNS that capture_dns_wanted took (a sendmsg with an address, or a connect): to the proxy,
 * the server kept with the socket.
 */
static __always_inline int capture_dns_udp(struct bpf_sock_addr *ctx, bool v6, __u32 ip)
{
	struct ambit_addr *o;

	o = bpf_sk_storage_get(&dns_orig, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	/* Without a place to keep the server the answer could not be shown from it: as is. */
	if (!o)
		return CONNECT_ALLOW;
	o->ip = ip;
	o->port = (__u16)ctx->user_port;
	capture_set_dst(ctx, v6, ztunnel_ip, bpf_htons(AMBIT_PORT_DNS));
	counter_inc(AMBIT_REDIRECT_DNS);
	return CONNECT_ALLOW;
}

/*
 * UDP to a Service's UDP port (a connect, or a sendmsg with an address), from any pod, as
 * kube-proxy balances it: the socket's pin for that VIP and port if its backend is still the
 * Service's, else a backend picked at random and pinned (struct ambit_udp_lb). A socket with no
 * storage (none could be made) is balanced per datagram. A Service port without a backend
 * refuses (EPERM), where kube-proxy answers with ICMP unreachable. An enrolled pod's flow to a
 * Service a waypoint serves is left as addressed: tc takes it to the ztunnel (lib/sentry.h).
 */
static __always_inline int capture_udp_lb(struct bpf_sock_addr *ctx, bool v6, __u32 ip)
{
	struct ambit_addr key = {.ip = ip, .port = (__u16)ctx->user_port, .proto = IPPROTO_UDP};
	struct ambit_enrolled *en = NULL;
	struct ambit_backend_key bk = {};
	struct ambit_backend *be;
	struct ambit_service *svc;
	struct ambit_udp_lb *lb;
	__u32 slot = AMBIT_UDP_LB_SLOTS;

	svc = bpf_map_lookup_elem(&services, &key);
	if (!svc)
		return CONNECT_ALLOW;
	/* A waypoint's Service, from an enrolled pod: as addressed, to the ztunnel (sentry.h). */
	if (sentry_cidr(ip, key.port) && capture_enrolled_cgroup(&en) && en)
		return CONNECT_ALLOW;
	if (!svc->backend_count) {
		counter_inc(AMBIT_DROP_NO_BACKEND);
		return CONNECT_REJECT;
	}
	bk.service_id = svc->id;
	lb = bpf_sk_storage_get(&udp_lb, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	for (__u32 i = 0; lb && i < AMBIT_UDP_LB_SLOTS; i++) {
		struct ambit_udp_flow *f = &lb->f[i];

		if (f->vip != ip || f->vport != key.port)
			continue;
		slot = i;
		if (f->service_id != svc->id || f->index >= svc->backend_count)
			break;
		bk.index = f->index;
		be = bpf_map_lookup_elem(&backends, &bk);
		if (be && be->ip == f->bip && be->port == f->bport) {
			capture_set_dst(ctx, v6, be->ip, be->port);
			return CONNECT_ALLOW;
		}
		break;
	}
	be = capture_pick_at(&backends, svc, &bk);
	if (!be) {
		counter_inc(AMBIT_DROP_NO_BACKEND);
		return CONNECT_REJECT;
	}
	/* A ServiceEntry's port: as addressed, for tc to take to the ztunnel (lib/sentry.h). */
	if (sentry_backend(be))
		return CONNECT_ALLOW;
	if (lb) {
		if (slot >= AMBIT_UDP_LB_SLOTS)
			slot = lb->next++ % AMBIT_UDP_LB_SLOTS;
		if (slot < AMBIT_UDP_LB_SLOTS) {
			struct ambit_udp_flow *f = &lb->f[slot];

			f->vip = ip;
			f->vport = key.port;
			f->bip = be->ip;
			f->bport = be->port;
			f->service_id = svc->id;
			f->index = bk.index;
		}
	}
	capture_set_dst(ctx, v6, be->ip, be->port);
	/* A flow, not a datagram: counted when its backend is picked. */
	counter_inc(AMBIT_SERVICE_LB);
	return CONNECT_ALLOW;
}

/* The VIP and port whose flow went to backend *@ip:*@port on this socket, in their place. */
static __always_inline bool capture_udp_lb_rev(struct bpf_sock_addr *ctx, __u32 *ip, __u32 *port)
{
	struct ambit_udp_lb *lb = bpf_sk_storage_get(&udp_lb, ctx->sk, 0, 0);

	for (__u32 i = 0; lb && i < AMBIT_UDP_LB_SLOTS; i++) {
		struct ambit_udp_flow *f = &lb->f[i];

		if (f->vip && f->bip == *ip && f->bport == (__u16)*port) {
			*ip = f->vip;
			*port = f->vport;
			return true;
		}
	}
	return false;
}

/* UDP from a connect or a sendmsg: DNS of an enrolled pod to the proxy, else Service VIPs. */
static __always_inline int capture_udp(struct bpf_sock_addr *ctx, bool v6, __u32 ip)
{
	if (capture_dns_wanted(ctx, ip))
		return capture_dns_udp(ctx, v6, ip);
	return capture_udp_lb(ctx, v6, ip);
}

/* TCP: as a redirected connect, with sock_orig for getpeername (no orig_dst: not 15001's). */
static __always_inline int capture_dns_tcp(struct bpf_sock_addr *ctx, bool v6, __u32 ip,
					   __u64 cgroup)
{
	struct ambit_orig_dst orig = {
	    .ip = ip,
	    .port = (__u16)ctx->user_port,
	    .flags = AMBIT_ORIG_DNS,
	    .cgroup = cgroup,
	};
	__u64 cookie = bpf_get_socket_cookie(ctx);

	if (bpf_map_update_elem(&sock_orig, &cookie, &orig, BPF_ANY) != 0)
		return CONNECT_REJECT;
	capture_keep_mptcp4(ctx, &orig);
	capture_set_dst(ctx, v6, ztunnel_ip, bpf_htons(AMBIT_PORT_DNS));
	counter_inc(AMBIT_REDIRECT_DNS);
	return CONNECT_ALLOW;
}

/*
 * Whether enrolled pod @en (cgroup @cgroup) leaves @ctx's destination port out of capture (Istio's
 * excludeOutboundPorts, lib/excl.h): its TCP there goes as a pod's out of the mesh would.
 */
static __always_inline bool capture_excluded(const struct bpf_sock_addr *ctx, __u64 cgroup,
					     const struct ambit_enrolled *en)
{
	return (en->flags & AMBIT_ENROLLED_EXCL_OUT) &&
	       excl_port(cgroup, (__be16)ctx->user_port, IPPROTO_TCP, AMBIT_EXCL_OUT);
}

static __always_inline int capture_connect(struct bpf_sock_addr *ctx, bool v6, __u32 ip)
{
	struct ambit_addr key = {};
	struct ambit_enrolled *en = NULL;
	struct ambit_service *svc;
	bool excluded = false;
	__u64 cgroup;

	if (ctx->type == SOCK_DGRAM)
		return capture_udp(ctx, v6, ip);
	if (ctx->type != SOCK_STREAM)
		return CONNECT_ALLOW;
	if (capture_dns_wanted(ctx, ip))
		return capture_dns_tcp(ctx, v6, ip, capture_enrolled_cgroup(&en));
	key.ip = ip;
	key.port = (__u16)ctx->user_port;
	/* Loopback never leaves the pod; the ztunnel's own address must not loop back to it. */
	if (capture_is_loopback(key.ip) || key.ip == ztunnel_ip)
		return CONNECT_ALLOW;

	cgroup = capture_enrolled_cgroup(&en);
	if (cgroup && en) {
		excluded = capture_excluded(ctx, cgroup, en);
		if (!excluded)
			return capture_redirect(ctx, v6, ip, cgroup, en);
	}
	svc = bpf_map_lookup_elem(&services, &key);
	if (svc)
		return capture_service_lb(ctx, v6, ip, svc, bpf_get_current_cgroup_id());
	counter_inc(excluded ? AMBIT_PASS_EXCLUDED : AMBIT_PASS);
	return CONNECT_ALLOW;
}

static __always_inline int capture_connect4(struct bpf_sock_addr *ctx)
{
	return capture_connect(ctx, false, ctx->user_ip4);
}

/* ::ffff:a.b.c.d, the form a dual-stack socket gives an IPv4 destination. */
static __always_inline bool capture_v4_mapped(__u32 w0, __u32 w1, __u32 w2)
{
	return w0 == 0 && w1 == 0 && w2 == bpf_htonl(0x0000ffff);
}

/* ::1, or :: which connect() and sendmsg() take for it (the BSD rule Linux keeps). */
static __always_inline bool capture_v6_loopback(const struct bpf_sock_addr *ctx)
{
	if (ctx->user_ip6[0] | ctx->user_ip6[1] | ctx->user_ip6[2])
		return false;
	return ctx->user_ip6[3] == 0 || ctx->user_ip6[3] == bpf_htonl(1);
}

/* The loader leaves ztunnel_ip6 all zero on a node without IPv6; the verifier folds this. */
static __always_inline bool capture_ztunnel6_unset(void)
{
	return !(ztunnel_ip6[0] | ztunnel_ip6[1] | ztunnel_ip6[2] | ztunnel_ip6[3]);
}

static __always_inline bool capture_is_ztunnel6(const struct bpf_sock_addr *ctx)
{
	return ctx->user_ip6[0] == ztunnel_ip6[0] && ctx->user_ip6[1] == ztunnel_ip6[1] &&
	       ctx->user_ip6[2] == ztunnel_ip6[2] && ctx->user_ip6[3] == ztunnel_ip6[3];
}

/* [ztunnel_ip6]:15053, the DNS proxy a UDP socket's queries were steered to (dns_orig6). */
static __always_inline bool capture_is_dns_proxy6(const struct bpf_sock_addr *ctx)
{
	return !capture_ztunnel6_unset() && ctx->user_port == bpf_htons(AMBIT_PORT_DNS) &&
	       capture_is_ztunnel6(ctx);
}

/*
 * Every IPv6 socket address a hook sets (a native one, or an IPv4 one as v4-mapped) is stored
 * here, a function of its own (a BPF-to-BPF call) so that its stores stay at fixed offsets of
 * the context: inlined at several places, the compiler may hoist one pointer into the context
 * for all of them, which the verifier refuses ("dereference of modified ctx ptr").
 */
static __noinline void capture_put_addr6(struct bpf_sock_addr *ctx, const __u32 *ip6, __u32 port)
{
	ctx->user_ip6[0] = ip6[0];
	ctx->user_ip6[1] = ip6[1];
	ctx->user_ip6[2] = ip6[2];
	ctx->user_ip6[3] = ip6[3];
	ctx->user_port = port;
}

static __always_inline void capture_set_ip6(struct bpf_sock_addr *ctx, __u32 w0, __u32 w1, __u32 w2,
					    __u32 w3, __u32 port)
{
	__u32 a[4] = {w0, w1, w2, w3};

	capture_put_addr6(ctx, a, port);
}

/* An IPv4 address as the v4-mapped one of a dual-stack socket. */
static __always_inline void capture_set_mapped(struct bpf_sock_addr *ctx, __u32 ip, __u32 port)
{
	capture_set_ip6(ctx, 0, 0, bpf_htonl(0x0000ffff), ip, port);
}

static __always_inline void capture_set_addr6(struct bpf_sock_addr *ctx, const __u32 *ip6,
					      __u32 port)
{
	capture_put_addr6(ctx, ip6, port);
}

static __always_inline void capture_set_ztunnel6(struct bpf_sock_addr *ctx, __u32 port)
{
	capture_set_ip6(ctx, ztunnel_ip6[0], ztunnel_ip6[1], ztunnel_ip6[2], ztunnel_ip6[3],
			bpf_htons(port));
}

/* The destination the application named, into @ip6 and *@port (network order). */
static __always_inline void capture_get_addr6(const struct bpf_sock_addr *ctx, __u32 *ip6,
					      __u16 *port)
{
	/* Each field from ctx itself: a shared ctx + offset is refused ("modified ctx ptr"). */
	barrier_var(ctx);
	ip6[0] = ctx->user_ip6[0];
	ip6[1] = ctx->user_ip6[1];
	ip6[2] = ctx->user_ip6[2];
	ip6[3] = ctx->user_ip6[3];
	*port = (__u16)ctx->user_port;
}

/*
 * A native IPv6 destination of an enrolled pod that the mesh cannot carry: on a node without
 * IPv6 (no ztunnel_ip6 to steer to) or from a pod captured in-pod whose IPv6 the agent did not
 * write in enrolled_ip6 (no in-pod listener of that family to steer to: an agent or ztunnel
 * that predates them, or a pod without IPv6), the connection would leave past the ztunnel, in
 * plaintext and past policy. It is refused (EPERM) and counted, as tc refuses such packets
 * (lib/steer.h); a happy-eyeballs client (RFC 8305) then falls back to IPv4. Otherwise *@own
 * is the in-pod pod's IPv6 (NULL for a pod captured on the node).
 */
static __always_inline bool capture_v6_refused(const struct ambit_enrolled *en, __u64 cgroup,
					       struct ambit_ip6 **own)
{
	*own = NULL;
	if (!capture_ztunnel6_unset()) {
		if (!(en->flags & AMBIT_ENROLLED_INPOD))
			return false;
		*own = bpf_map_lookup_elem(&enrolled_ip6, &cgroup);
		if (*own)
			return false;
	}
	counter_inc(AMBIT_DROP_IPV6_UNSUPPORTED);
	return true;
}

/*
 * An enrolled pod's TCP to the ztunnel's [@to]:@port (the node's, ztunnel_ip6, when @to is
 * NULL), the original destination kept with the socket for sockops and getpeername6. Without
 * the record the ztunnel could not tell where the pod meant to go: refused, as
 * capture_redirect does.
 */
static __always_inline int capture_steer6(struct bpf_sock_addr *ctx, __u64 cgroup, __u16 flags,
					  const struct ambit_ip6 *to, __u32 port,
					  enum ambit_reason reason)
{
	struct ambit_orig_dst6 *orig;

	orig = bpf_sk_storage_get(&sock_orig6, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig)
		return CONNECT_REJECT;
	capture_get_addr6(ctx, orig->ip6, &orig->port);
	orig->flags = flags;
	orig->cgroup = cgroup;
	capture_keep_mptcp(ctx, orig->ip6, orig->port, flags, cgroup);
	if (to)
		capture_set_addr6(ctx, to->a, bpf_htons(port));
	else
		capture_set_ztunnel6(ctx, port);
	counter_inc(reason);
	return CONNECT_ALLOW;
}

/* capture_dns_of for a native IPv6 destination: not to a ServiceEntry's resolver. */
static __always_inline bool capture_dns6_of(const struct bpf_sock_addr *ctx,
					    const struct ambit_enrolled *en)
{
	__u32 ip6[4];

	if (!capture_dns_of(ctx, en))
		return false;
	/* The port is 53 (capture_dns_of): read again, the compiler may share its ctx offset. */
	ip6[0] = ctx->user_ip6[0];
	ip6[1] = ctx->user_ip6[1];
	ip6[2] = ctx->user_ip6[2];
	ip6[3] = ctx->user_ip6[3];
	return !sentry_udp6(ip6, bpf_htons(53));
}

/* UDP DNS of an enrolled pod to the proxy, the server kept with the socket for recvmsg6. */
static __always_inline int capture_dns6_udp(struct bpf_sock_addr *ctx,
					    const struct ambit_enrolled *en)
{
	struct ambit_addr6 *o;

	if (!capture_dns_of(ctx, en))
		return CONNECT_ALLOW;
	o = bpf_sk_storage_get(&dns_orig6, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	/* As capture_dns_udp: without the server kept, the query goes as is. */
	if (!o)
		return CONNECT_ALLOW;
	capture_get_addr6(ctx, o->ip6, &o->port);
	capture_set_ztunnel6(ctx, AMBIT_PORT_DNS);
	counter_inc(AMBIT_REDIRECT_DNS);
	return CONNECT_ALLOW;
}

static __always_inline bool capture_same6(const __u32 *a, const __u32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* As capture_udp_lb, for a native IPv6 destination (services6, udp_lb6). */
static __always_inline int capture_udp_lb6(struct bpf_sock_addr *ctx)
{
	struct ambit_addr6 key = {.proto = IPPROTO_UDP};
	struct ambit_enrolled *en = NULL;
	struct ambit_backend_key bk = {};
	struct ambit_addr6 *be;
	struct ambit_service *svc;
	struct ambit_udp_lb6 *lb;
	__u32 slot = AMBIT_UDP_LB_SLOTS;

	capture_get_addr6(ctx, key.ip6, &key.port);
	svc = bpf_map_lookup_elem(&services6, &key);
	if (!svc)
		return CONNECT_ALLOW;
	if (sentry_cidr6(key.ip6, key.port) && capture_enrolled_cgroup(&en) && en)
		return CONNECT_ALLOW;
	if (!svc->backend_count) {
		counter_inc(AMBIT_DROP_NO_BACKEND);
		return CONNECT_REJECT;
	}
	bk.service_id = svc->id;
	lb = bpf_sk_storage_get(&udp_lb6, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	for (__u32 i = 0; lb && i < AMBIT_UDP_LB_SLOTS; i++) {
		struct ambit_udp_flow6 *f = &lb->f[i];

		if (!capture_same6(f->vip, key.ip6) || f->vport != key.port)
			continue;
		slot = i;
		if (f->service_id != svc->id || f->index >= svc->backend_count)
			break;
		bk.index = f->index;
		be = bpf_map_lookup_elem(&backends6, &bk);
		if (be && capture_same6(be->ip6, f->bip) && be->port == f->bport) {
			capture_set_addr6(ctx, be->ip6, be->port);
			return CONNECT_ALLOW;
		}
		break;
	}
	be = capture_pick_at(&backends6, svc, &bk);
	if (!be) {
		counter_inc(AMBIT_DROP_NO_BACKEND);
		return CONNECT_REJECT;
	}
	if (sentry_backend6(be))
		return CONNECT_ALLOW;
	if (lb) {
		if (slot >= AMBIT_UDP_LB_SLOTS)
			slot = lb->next++ % AMBIT_UDP_LB_SLOTS;
		if (slot < AMBIT_UDP_LB_SLOTS) {
			struct ambit_udp_flow6 *f = &lb->f[slot];

			__builtin_memcpy(f->vip, key.ip6, sizeof(f->vip));
			__builtin_memcpy(f->bip, be->ip6, sizeof(f->bip));
			f->vport = key.port;
			f->bport = be->port;
			f->service_id = svc->id;
			f->index = bk.index;
		}
	}
	capture_set_addr6(ctx, be->ip6, be->port);
	counter_inc(AMBIT_SERVICE_LB);
	return CONNECT_ALLOW;
}

/* As capture_udp_lb_rev: the IPv6 VIP and port the flow to the peer (a backend) was sent to. */
static __always_inline bool capture_udp_lb6_rev(struct bpf_sock_addr *ctx, __u32 *vip, __u16 *vport)
{
	struct ambit_udp_lb6 *lb = bpf_sk_storage_get(&udp_lb6, ctx->sk, 0, 0);
	__u32 peer[4];
	__u16 port;

	if (!lb)
		return false;
	capture_get_addr6(ctx, peer, &port);
	for (__u32 i = 0; i < AMBIT_UDP_LB_SLOTS; i++) {
		struct ambit_udp_flow6 *f = &lb->f[i];

		if (f->vport && capture_same6(f->bip, peer) && f->bport == port) {
			__builtin_memcpy(vip, f->vip, sizeof(f->vip));
			*vport = f->vport;
			return true;
		}
	}
	return false;
}

/* A pod not enrolled: an IPv6 Service VIP is balanced in the kernel, as capture_service_lb. */
static __always_inline int capture_service6(struct bpf_sock_addr *ctx)
{
	struct ambit_addr6 key = {};
	struct ambit_orig_dst6 *orig;
	struct ambit_service *svc;
	struct ambit_addr6 *be = NULL;

	capture_get_addr6(ctx, key.ip6, &key.port);
	svc = bpf_map_lookup_elem(&services6, &key);
	if (!svc) {
		counter_inc(AMBIT_PASS);
		return CONNECT_ALLOW;
	}
	if (svc->backend_count > 0)
		be = capture_pick_backend(&backends6, svc);
	if (!be) {
		counter_inc(AMBIT_DROP_NO_BACKEND);
		return CONNECT_REJECT;
	}
	orig = bpf_sk_storage_get(&sock_orig6, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	/* getpeername6 still works from the backend's address if this fails; not fatal. */
	if (orig) {
		capture_get_addr6(ctx, orig->ip6, &orig->port);
		orig->flags = AMBIT_ORIG_SERVICE_LB;
		orig->cgroup = bpf_get_current_cgroup_id();
		capture_keep_mptcp(ctx, orig->ip6, orig->port, orig->flags, orig->cgroup);
	}
	capture_set_addr6(ctx, be->ip6, be->port);
	counter_inc(AMBIT_SERVICE_LB);
	return CONNECT_ALLOW;
}

/*
 * connect6 and sendmsg6 of a native IPv6 destination: an enrolled pod's TCP to the ztunnel (its
 * DNS to the proxy) and its UDP DNS to the proxy, as IPv4 (its other UDP is not the mesh's, as
 * IPv4's is not); a Service VIP balanced for the others. As over IPv4, a pod captured in-pod
 * has its TCP sent to the ztunnel's listener in its own netns, at its own IPv6 ([own]:15001,
 * where the ztunnel finds the record by the client's address), and its DNS to the node's proxy.
 * An ICMPv6 (ping) socket is left to tc, which lets ICMPv6 through; loopback never leaves the
 * pod, and the ztunnel's own address must not loop back to it.
 */
static __always_inline int capture_native6(struct bpf_sock_addr *ctx)
{
	struct ambit_enrolled *en = NULL;
	struct ambit_ip6 *own;
	__u64 cgroup;

	if (ctx->protocol == IPPROTO_ICMPV6 || capture_v6_loopback(ctx) || capture_is_ztunnel6(ctx))
		return CONNECT_ALLOW;
	cgroup = capture_enrolled_cgroup(&en);
	if (!cgroup || !en) {
		if (ctx->type == SOCK_DGRAM)
			return capture_udp_lb6(ctx);
		return ctx->type == SOCK_STREAM ? capture_service6(ctx) : CONNECT_ALLOW;
	}
	if (capture_v6_refused(en, cgroup, &own))
		return CONNECT_REJECT;
	if (ctx->type == SOCK_DGRAM)
		return capture_dns6_of(ctx, en) ? capture_dns6_udp(ctx, en) : capture_udp_lb6(ctx);
	if (ctx->type != SOCK_STREAM)
		return CONNECT_ALLOW;
	if (capture_dns6_of(ctx, en))
		return capture_steer6(ctx, cgroup, AMBIT_ORIG_DNS, NULL, AMBIT_PORT_DNS,
				      AMBIT_REDIRECT_DNS);
	if (capture_excluded(ctx, cgroup, en))
		return capture_service6(ctx);
	return capture_steer6(ctx, cgroup, AMBIT_ORIG_REDIRECTED, own, AMBIT_PORT_OUTBOUND,
			      AMBIT_REDIRECT_OUTBOUND);
}

static __always_inline int capture_connect6(struct bpf_sock_addr *ctx)
{
	if (capture_v4_mapped(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2]))
		return capture_connect(ctx, true, ctx->user_ip6[3]);
	return capture_native6(ctx);
}

/*
 * The socket's local port exists only now: re-key by it so the ztunnel finds it from accept().
 * A socket with a sock_orig record also asks for state callbacks, so the record leaves with the
 * socket (capture_sock_closed).
 */
static __always_inline void capture_sock_connect(struct bpf_sock_ops *skops)
{
	struct ambit_orig_dst *orig;
	struct ambit_addr key = {};
	__u64 cookie;

	cookie = bpf_get_socket_cookie(skops);
	orig = bpf_map_lookup_elem(&sock_orig, &cookie);
	if (!orig)
		return;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	if (!(orig->flags & AMBIT_ORIG_REDIRECTED))
		return;
	key.ip = skops->local_ip4;
	key.port = bpf_htons((__u16)skops->local_port); /* host order in sockops */
	bpf_map_update_elem(&orig_dst, &key, orig, BPF_ANY);
}

/* The same for a native IPv6 socket; its sock_orig6 dies with it, so no state callback. */
static __always_inline void capture_sock_connect6(struct bpf_sock_ops *skops)
{
	struct ambit_orig_dst6 *orig;
	struct ambit_addr6 key = {};
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return;
	orig = bpf_sk_storage_get(&sock_orig6, sk, 0, 0);
	if (!orig || !(orig->flags & AMBIT_ORIG_REDIRECTED))
		return;
	key.ip6[0] = skops->local_ip6[0];
	key.ip6[1] = skops->local_ip6[1];
	key.ip6[2] = skops->local_ip6[2];
	key.ip6[3] = skops->local_ip6[3];
	key.port = bpf_htons((__u16)skops->local_port);
	bpf_map_update_elem(&orig_dst6, &key, orig, BPF_ANY);
}

/*
 * TCP_CLOSE is the last state of a full socket (a timewait or reset socket passes through it,
 * and nothing reads its peer address after: getpeername() answers ENOTCONN first), so the
 * record goes now; the LRU only reclaims what no callback ever saw (a connect() that failed
 * before its SYN). orig_dst is left to the ztunnel's take: a client that writes and closes at
 * once can reach TCP_CLOSE before the ztunnel has accepted it.
 */
static __always_inline void capture_sock_closed(struct bpf_sock_ops *skops)
{
	__u64 cookie;

	if (skops->args[1] != BPF_TCP_CLOSE)
		return;
	cookie = bpf_get_socket_cookie(skops);
	bpf_map_delete_elem(&sock_orig, &cookie);
}

/*
 * A dual-stack socket's v4-mapped connection has its IPv4 addresses in local_ip4 too, and its
 * local_ip6 v4-mapped: it takes the IPv4 path.
 */
static __always_inline bool capture_sock_native6(const struct bpf_sock_ops *skops)
{
	return skops->family == AF_INET6 &&
	       !capture_v4_mapped(skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2]);
}

static __always_inline void capture_sockops(struct bpf_sock_ops *skops)
{
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return;
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		if (capture_sock_native6(skops))
			capture_sock_connect6(skops);
		else
			capture_sock_connect(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB: capture_sock_closed(skops); break;
	}
}

/* An MPTCP socket's IPv4 original destination, kept v4-mapped by capture_keep_mptcp. */
static __always_inline bool capture_orig_mptcp(struct bpf_sock_addr *ctx, __u32 *ip, __u32 *port)
{
	struct ambit_orig_dst6 *o = bpf_sk_storage_get(&sock_orig6, ctx->sk, 0, 0);

	if (!o || !capture_v4_mapped(o->ip6[0], o->ip6[1], o->ip6[2]))
		return false;
	*ip = o->ip6[3];
	*port = o->port;
	return true;
}

/*
 * The original destination of a steered socket: TCP's sock_orig, an MPTCP socket's storage,
 * else UDP DNS's dns_orig, else the Service a UDP socket's peer *@ip:*@port (on entry: the
 * backend it is connected to) is a backend of.
 */
static __always_inline bool capture_orig_of(struct bpf_sock_addr *ctx, __u32 *ip, __u32 *port)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct ambit_orig_dst *orig = bpf_map_lookup_elem(&sock_orig, &cookie);
	struct ambit_addr *o;

	if (orig) {
		*ip = orig->ip;
		*port = orig->port;
		return true;
	}
	if (ctx->protocol == IPPROTO_MPTCP)
		return capture_orig_mptcp(ctx, ip, port);
	if (ctx->type != SOCK_DGRAM)
		return false;
	o = bpf_sk_storage_get(&dns_orig, ctx->sk, 0, 0);
	if (!o)
		return capture_udp_lb_rev(ctx, ip, port);
	*ip = o->ip;
	*port = o->port;
	return true;
}

static __always_inline void capture_getpeername4(struct bpf_sock_addr *ctx)
{
	__u32 ip = ctx->user_ip4, port = ctx->user_port;

	if (!capture_orig_of(ctx, &ip, &port))
		return;
	ctx->user_ip4 = ip;
	ctx->user_port = port;
}

/* The server a UDP socket's answers from the DNS proxy are shown from; a Service backend's, its
 * VIP. */
static __always_inline void capture_dns_peer6(struct bpf_sock_addr *ctx)
{
	__u32 ip6[4];
	__u16 port;

	if (capture_is_dns_proxy6(ctx)) {
		struct ambit_addr6 *o = bpf_sk_storage_get(&dns_orig6, ctx->sk, 0, 0);

		if (!o)
			return;
		__builtin_memcpy(ip6, o->ip6, sizeof(ip6));
		port = o->port;
	} else if (!capture_udp_lb6_rev(ctx, ip6, &port)) {
		return;
	}
	capture_set_addr6(ctx, ip6, port);
}

/*
 * A native IPv6 peer: TCP's sock_orig6, else UDP DNS's dns_orig6 (both the socket's own) while
 * the socket is connected to the proxy, not after it connected elsewhere.
 */
static __always_inline void capture_getpeername_native6(struct bpf_sock_addr *ctx)
{
	struct ambit_orig_dst6 *orig;

	if (ctx->type == SOCK_DGRAM) {
		capture_dns_peer6(ctx);
		return;
	}
	orig = bpf_sk_storage_get(&sock_orig6, ctx->sk, 0, 0);
	if (orig)
		capture_set_addr6(ctx, orig->ip6, orig->port);
}

static __always_inline void capture_getpeername6(struct bpf_sock_addr *ctx)
{
	__u32 ip = ctx->user_ip6[3], port = ctx->user_port;

	if (!capture_v4_mapped(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2]))
		capture_getpeername_native6(ctx);
	else if (capture_orig_of(ctx, &ip, &port))
		capture_set_mapped(ctx, ip, port);
}

/* sendmsg with an address (UDP): DNS to the proxy, Service VIPs to a backend. 0: EPERM. */
static __always_inline int capture_sendmsg4(struct bpf_sock_addr *ctx)
{
	return capture_udp(ctx, false, ctx->user_ip4);
}

/* sendmsg6's verdict: 0 makes sendmsg() fail with EPERM. */
static __always_inline int capture_sendmsg6(struct bpf_sock_addr *ctx)
{
	if (capture_v4_mapped(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2]))
		return capture_udp(ctx, true, ctx->user_ip6[3]);
	return capture_native6(ctx);
}

/*
 * recvmsg (UDP): the proxy's answers show as from the server the pod asked, a Service backend's
 * as from the Service.
 */
static __always_inline void capture_recvmsg4(struct bpf_sock_addr *ctx)
{
	__u32 ip = ctx->user_ip4, port = ctx->user_port;
	struct ambit_addr *o;

	if (ip != ztunnel_ip || port != bpf_htons(AMBIT_PORT_DNS)) {
		if (capture_udp_lb_rev(ctx, &ip, &port)) {
			ctx->user_ip4 = ip;
			ctx->user_port = port;
		}
		return;
	}
	o = bpf_sk_storage_get(&dns_orig, ctx->sk, 0, 0);
	if (!o)
		return;
	ctx->user_ip4 = o->ip;
	ctx->user_port = o->port;
}

static __always_inline void capture_recvmsg6(struct bpf_sock_addr *ctx)
{
	struct ambit_addr *o;

	if (!capture_v4_mapped(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2])) {
		capture_dns_peer6(ctx);
		return;
	}
	if (ctx->user_ip6[3] != ztunnel_ip || ctx->user_port != bpf_htons(AMBIT_PORT_DNS)) {
		__u32 ip = ctx->user_ip6[3], port = ctx->user_port;

		if (capture_udp_lb_rev(ctx, &ip, &port))
			capture_set_mapped(ctx, ip, port);
		return;
	}
	o = bpf_sk_storage_get(&dns_orig, ctx->sk, 0, 0);
	if (o)
		capture_set_mapped(ctx, o->ip, o->port);
}

#endif
