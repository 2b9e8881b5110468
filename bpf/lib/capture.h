/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Outbound capture at the socket layer (KERNEL_NOTES.md, mechanism 1): connect4 steers enrolled
 * pods to the ztunnel and load-balances Service VIPs for the others; sockops re-keys the original
 * destination by the pod socket's local address; getpeername4 hides the rewrite. connect6 and
 * getpeername6 do the same for IPv4 destinations a dual-stack socket names as v4-mapped IPv6
 * (::ffff:a.b.c.d: what gRPC, Java and Node clients do by default); without them such a connect
 * to a Service VIP found no route and an enrolled pod's bypassed the mesh. A native IPv6
 * destination of an enrolled pod is refused (capture_v6_refused): the mesh carries IPv4 only.
 */
#ifndef AMBIT_BPF_CAPTURE_H
#define AMBIT_BPF_CAPTURE_H

#include "lib/maps.h"
#include "lib/counters.h"
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
	/* In-pod: the ztunnel's listener in the pod's own netns, at the pod's own address. */
	capture_set_dst(ctx, v6, (en->flags & AMBIT_ENROLLED_INPOD) ? en->pod_ip : ztunnel_ip,
			bpf_htons(AMBIT_PORT_OUTBOUND));
	counter_inc(AMBIT_REDIRECT_OUTBOUND);
	return CONNECT_ALLOW;
}

static __always_inline struct ambit_backend *capture_pick_backend(const struct ambit_service *svc)
{
	struct ambit_backend_key key = {.service_id = svc->id};
	struct ambit_backend *be;

	key.index = bpf_get_prandom_u32() % svc->backend_count;
	be = bpf_map_lookup_elem(&backends, &key);
	if (be)
		return be;
	/*
	 * The agent shrinks a service by writing the new count before deleting stale indexes, so
	 * a count read just before a shrink may point past the end: index 0 is always valid then.
	 */
	key.index = 0;
	return bpf_map_lookup_elem(&backends, &key);
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
		be = capture_pick_backend(svc);
	if (!be) {
		counter_inc(AMBIT_DROP_NO_BACKEND);
		return CONNECT_REJECT;
	}
	cookie = bpf_get_socket_cookie(ctx);
	/* getpeername4 still works from the backend's address if this fails; not fatal. */
	bpf_map_update_elem(&sock_orig, &cookie, &orig, BPF_ANY);
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
 * anything but loopback, goes to the node ztunnel's proxy on 15053. A pod captured in-pod (a
 * bridge CNI) too: the cgroup hook sees its sockets wherever its netns is, and the node's
 * address is one its pod network routes to.
 */
static __always_inline bool capture_dns_wanted(struct bpf_sock_addr *ctx, __u32 ip)
{
	struct ambit_enrolled *en = NULL;

	if (ctx->user_port != bpf_htons(53) || capture_is_loopback(ip) || ip == ztunnel_ip)
		return false;
	if (!capture_enrolled_cgroup(&en) || !en)
		return false;
	return !(en->flags & AMBIT_ENROLLED_NO_DNS);
}

/* UDP (a sendmsg with an address, or a connect): the server is kept with the socket. */
static __always_inline int capture_dns_udp(struct bpf_sock_addr *ctx, bool v6, __u32 ip)
{
	struct ambit_addr *o;

	if (!capture_dns_wanted(ctx, ip))
		return CONNECT_ALLOW;
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
	capture_set_dst(ctx, v6, ztunnel_ip, bpf_htons(AMBIT_PORT_DNS));
	counter_inc(AMBIT_REDIRECT_DNS);
	return CONNECT_ALLOW;
}

static __always_inline int capture_connect(struct bpf_sock_addr *ctx, bool v6, __u32 ip)
{
	struct ambit_addr key = {};
	struct ambit_enrolled *en = NULL;
	struct ambit_service *svc;
	__u64 cgroup;

	if (ctx->type == SOCK_DGRAM)
		return capture_dns_udp(ctx, v6, ip);
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
	if (cgroup && en)
		return capture_redirect(ctx, v6, ip, cgroup, en);
	svc = bpf_map_lookup_elem(&services, &key);
	if (svc)
		return capture_service_lb(ctx, v6, ip, svc, bpf_get_current_cgroup_id());
	counter_inc(AMBIT_PASS);
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

/*
 * A native IPv6 destination (neither v4-mapped nor loopback) of an enrolled pod: the mesh carries
 * IPv4 only, so the connection would leave past the ztunnel, in plaintext and past policy. It is
 * refused (EPERM) and counted, as tc refuses such packets (lib/steer.h, steer_ingress_v6); a
 * happy-eyeballs client (RFC 8305) then falls back to IPv4, which the mesh carries. An ICMPv6
 * (ping) socket is left to tc, which lets ICMPv6 through. Pods not enrolled are not touched.
 */
static __always_inline bool capture_v6_refused(struct bpf_sock_addr *ctx)
{
	struct ambit_enrolled *en = NULL;

	if (ctx->protocol == IPPROTO_ICMPV6 || capture_v6_loopback(ctx))
		return false;
	if (!capture_enrolled_cgroup(&en) || !en)
		return false;
	counter_inc(AMBIT_DROP_IPV6_UNSUPPORTED);
	return true;
}

static __always_inline int capture_connect6(struct bpf_sock_addr *ctx)
{
	if (capture_v4_mapped(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2]))
		return capture_connect(ctx, true, ctx->user_ip6[3]);
	return capture_v6_refused(ctx) ? CONNECT_REJECT : CONNECT_ALLOW;
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

static __always_inline void capture_sockops(struct bpf_sock_ops *skops)
{
	/* A dual-stack socket's v4-mapped connection has its IPv4 addresses in local_ip4 too. */
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return;
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB: capture_sock_connect(skops); break;
	case BPF_SOCK_OPS_STATE_CB: capture_sock_closed(skops); break;
	}
}

/* The original destination of a steered socket: TCP's sock_orig, else UDP DNS's dns_orig. */
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
	if (ctx->type != SOCK_DGRAM)
		return false;
	o = bpf_sk_storage_get(&dns_orig, ctx->sk, 0, 0);
	if (!o)
		return false;
	*ip = o->ip;
	*port = o->port;
	return true;
}

/* An IPv4 address as the v4-mapped one of a dual-stack socket. */
static __always_inline void capture_set_mapped(struct bpf_sock_addr *ctx, __u32 ip, __u32 port)
{
	ctx->user_ip6[0] = 0;
	ctx->user_ip6[1] = 0;
	ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
	ctx->user_ip6[3] = ip;
	ctx->user_port = port;
}

static __always_inline void capture_getpeername4(struct bpf_sock_addr *ctx)
{
	__u32 ip, port;

	if (!capture_orig_of(ctx, &ip, &port))
		return;
	ctx->user_ip4 = ip;
	ctx->user_port = port;
}

static __always_inline void capture_getpeername6(struct bpf_sock_addr *ctx)
{
	__u32 ip, port;

	if (capture_orig_of(ctx, &ip, &port))
		capture_set_mapped(ctx, ip, port);
}

/* sendmsg with an address (UDP): DNS to the proxy. */
static __always_inline void capture_sendmsg4(struct bpf_sock_addr *ctx)
{
	capture_dns_udp(ctx, false, ctx->user_ip4);
}

/* sendmsg6's verdict: 0 makes sendmsg() fail with EPERM. */
static __always_inline int capture_sendmsg6(struct bpf_sock_addr *ctx)
{
	if (capture_v4_mapped(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2])) {
		capture_dns_udp(ctx, true, ctx->user_ip6[3]);
		return CONNECT_ALLOW;
	}
	return capture_v6_refused(ctx) ? CONNECT_REJECT : CONNECT_ALLOW;
}

/* recvmsg (UDP): the proxy's answers show as from the server the pod asked. */
static __always_inline void capture_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct ambit_addr *o;

	if (ctx->user_ip4 != ztunnel_ip || ctx->user_port != bpf_htons(AMBIT_PORT_DNS))
		return;
	o = bpf_sk_storage_get(&dns_orig, ctx->sk, 0, 0);
	if (!o)
		return;
	ctx->user_ip4 = o->ip;
	ctx->user_port = o->port;
}

static __always_inline void capture_recvmsg6(struct bpf_sock_addr *ctx)
{
	struct ambit_addr *o;

	if (!capture_v4_mapped(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2]) ||
	    ctx->user_ip6[3] != ztunnel_ip || ctx->user_port != bpf_htons(AMBIT_PORT_DNS))
		return;
	o = bpf_sk_storage_get(&dns_orig, ctx->sk, 0, 0);
	if (o)
		capture_set_mapped(ctx, o->ip, o->port);
}

#endif
