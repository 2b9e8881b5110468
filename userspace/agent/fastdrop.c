// SPDX-License-Identifier: Apache-2.0
/*
 * Desired fast-drop entries are computed from the policy set, then the maps are diffed against
 * them: stale keys deleted, missing ones added. Only this agent writes these maps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "ambit/log.h"
#include "lib/array.h"
#include "fastdrop.h"

/* A pod address of either family: the IPv4 (family AF_INET) or the IPv6 one (AF_INET6). */
struct strict_want {
	struct ipaddr ip;
	uint16_t port; /* host order, 0 = the pod's default */
	uint32_t mode; /* AMBIT_PLAINTEXT_* */
};

/* @dst and @src of one family; @src's len is the block's prefix. */
struct deny_want {
	struct ipaddr dst, src;
};

struct want {
	size_t n_strict, cap_strict, n_deny, cap_deny;
	struct strict_want *strict;
	struct deny_want *deny;
};

/* The addresses the kernel knows @wl by: its IPv4, and its IPv6 on a dual-stack pod. */
static size_t pod_addrs(const struct snap_workload *wl, struct ipaddr out[2])
{
	size_t n = 0;

	ipaddr_from_v4(&out[n++], wl->ip);
	if (wl->ip6.family == AF_INET6)
		out[n++] = wl->ip6;
	return n;
}

static int want_strict(struct want *w, const struct snap_workload *wl, uint16_t port, uint32_t mode)
{
	struct ipaddr ips[2];
	size_t n = pod_addrs(wl, ips);

	for (size_t i = 0; i < n; i++) {
		if (array_grow((void **)&w->strict, &w->cap_strict, w->n_strict,
			       sizeof(*w->strict)))
			return -ENOMEM;
		w->strict[w->n_strict++] = (struct strict_want){ips[i], port, mode};
	}
	return 0;
}

/* @src to each of @wl's addresses of its family (an IPv6 block to an IPv4-only pod: none). */
static int want_deny(struct want *w, const struct snap_workload *wl, const struct ipaddr *src)
{
	struct ipaddr ips[2];
	size_t n = pod_addrs(wl, ips);

	for (size_t i = 0; i < n; i++) {
		if (ips[i].family != src->family)
			continue;
		if (array_grow((void **)&w->deny, &w->cap_deny, w->n_deny, sizeof(*w->deny)))
			return -ENOMEM;
		w->deny[w->n_deny++] = (struct deny_want){ips[i], *src};
	}
	return 0;
}

/*
 * STRICT only matters where plaintext would otherwise be let through: a STRICT pod gets a
 * default drop entry plus allow entries for its non-STRICT ports; a PERMISSIVE pod gets drop
 * entries for its STRICT ports only. A dual-stack pod gets each under both addresses.
 */
static int want_workload(struct want *w, const struct policy_set *ps,
			 const struct snap_workload *wl)
{
	const struct policy_workload *pw = policy_set_workload(ps, wl->uid);
	bool strict = policy_mtls_mode(ps, wl->uid, wl->namespace, 0, NULL) == CONFIG_MTLS_STRICT;
	struct policy_cidrs cidrs;
	int err = 0;

	if (strict)
		err = want_strict(w, wl, 0, AMBIT_PLAINTEXT_DROP);
	for (size_t i = 0; !err && pw && i < pw->mtls.n_ports; i++) {
		uint16_t port = pw->mtls.ports[i].port;
		bool port_strict =
		    policy_mtls_mode(ps, wl->uid, wl->namespace, port, NULL) == CONFIG_MTLS_STRICT;

		if (port_strict != strict)
			err =
			    want_strict(w, wl, port,
					port_strict ? AMBIT_PLAINTEXT_DROP : AMBIT_PLAINTEXT_ALLOW);
	}
	if (err || policy_deny_src_cidrs(ps, wl->uid, wl->namespace, &cidrs))
		return -ENOMEM;
	for (size_t i = 0; !err && i < cidrs.n; i++)
		err = want_deny(w, wl, &cidrs.items[i]);
	free(cidrs.items);
	return err;
}

/* A strict_ports or strict_ports6 key as an address and a port (host order). */
static void strict_key_of(const void *k, bool v6, struct ipaddr *ip, uint16_t *port)
{
	if (v6) {
		const struct ambit_addr6 *a = k;

		memset(ip, 0, sizeof(*ip));
		ip->family = AF_INET6;
		ip->len = 128;
		memcpy(ip->a, a->ip6, sizeof(a->ip6));
		*port = ntohs(a->port);
	} else {
		const struct ambit_addr *a = k;

		ipaddr_from_v4(ip, a->ip);
		*port = ntohs(a->port);
	}
}

/* A deny_src or deny_src6 key as the pod and the source block. */
static void deny_key_of(const void *k, bool v6, struct ipaddr *dst, struct ipaddr *src)
{
	memset(dst, 0, sizeof(*dst));
	memset(src, 0, sizeof(*src));
	if (v6) {
		const struct ambit_deny_src6_key *d = k;

		dst->family = src->family = AF_INET6;
		dst->len = 128;
		src->len = (uint8_t)(d->prefixlen - 128);
		memcpy(dst->a, d->dst_ip6, sizeof(d->dst_ip6));
		memcpy(src->a, d->src_ip6, sizeof(d->src_ip6));
	} else {
		const struct ambit_deny_src_key *d = k;

		ipaddr_from_v4(dst, d->dst_ip);
		ipaddr_from_v4(src, d->src_ip);
		src->len = (uint8_t)(d->prefixlen - 32);
	}
}

static bool strict_wanted(const struct want *w, const struct ipaddr *ip, uint16_t port)
{
	for (size_t i = 0; i < w->n_strict; i++)
		if (w->strict[i].port == port && ipaddr_equal(&w->strict[i].ip, ip))
			return true;
	return false;
}

static bool deny_wanted(const struct want *w, const struct ipaddr *dst, const struct ipaddr *src)
{
	for (size_t i = 0; i < w->n_deny; i++)
		if (ipaddr_equal(&w->deny[i].dst, dst) && ipaddr_equal(&w->deny[i].src, src))
			return true;
	return false;
}

/* Collects every key of map @fd (element size @ksz, at most 64) into a malloc'd array. */
static int map_keys(int fd, size_t ksz, void **out, size_t *n)
{
	size_t cap = 0;
	char prev[64], next[64];
	bool first = true;

	*out = NULL;
	*n = 0;
	while (bpf_map_get_next_key(fd, first ? NULL : prev, next) == 0) {
		if (array_grow(out, &cap, *n, ksz)) {
			free(*out);
			*out = NULL;
			return -ENOMEM;
		}
		memcpy((char *)*out + *n * ksz, next, ksz);
		(*n)++;
		memcpy(prev, next, ksz);
		first = false;
	}
	return errno == ENOENT ? 0 : -errno;
}

/* ipaddr's bytes sit unaligned for a struct in6_addr: copied, never cast. */
static struct in6_addr in6_of(const struct ipaddr *ip)
{
	struct in6_addr a;

	memcpy(&a, ip->a, sizeof(a));
	return a;
}

static int strict_set(struct datapath *dp, const struct ipaddr *ip, uint16_t port, uint32_t mode)
{
	uint32_t v4;

	if (ipaddr_v4(ip, &v4))
		return datapath_set_strict_port(dp, v4, port, mode);
	struct in6_addr a = in6_of(ip);

	return datapath_set_strict_port6(dp, &a, port, mode);
}

static int strict_del(struct datapath *dp, const struct ipaddr *ip, uint16_t port)
{
	uint32_t v4;

	if (ipaddr_v4(ip, &v4))
		return datapath_del_strict_port(dp, v4, port);
	struct in6_addr a = in6_of(ip);

	return datapath_del_strict_port6(dp, &a, port);
}

static int deny_set(struct datapath *dp, const struct ipaddr *dst, const struct ipaddr *src)
{
	uint32_t d4, s4;

	if (ipaddr_v4(dst, &d4)) {
		memcpy(&s4, src->a, sizeof(s4));
		return datapath_set_deny_src(dp, d4, s4, src->len);
	}
	struct in6_addr d6 = in6_of(dst), s6 = in6_of(src);

	return datapath_set_deny_src6(dp, &d6, &s6, src->len);
}

static int deny_del(struct datapath *dp, const struct ipaddr *dst, const struct ipaddr *src)
{
	uint32_t d4, s4;

	if (ipaddr_v4(dst, &d4)) {
		memcpy(&s4, src->a, sizeof(s4));
		return datapath_del_deny_src(dp, d4, s4, src->len);
	}
	struct in6_addr d6 = in6_of(dst), s6 = in6_of(src);

	return datapath_del_deny_src6(dp, &d6, &s6, src->len);
}

/* Deletes what one family's two maps hold and @w does not want; the number that failed. */
static unsigned int apply_stale(struct datapath *dp, const struct want *w, bool v6)
{
	const char *sname = v6 ? "strict_ports6" : "strict_ports";
	const char *dname = v6 ? "deny_src6" : "deny_src";
	size_t sksz = v6 ? sizeof(struct ambit_addr6) : sizeof(struct ambit_addr);
	size_t dksz = v6 ? sizeof(struct ambit_deny_src6_key) : sizeof(struct ambit_deny_src_key);
	int sfd = datapath_map_fd(dp, sname), dfd = datapath_map_fd(dp, dname);
	char *skeys = NULL, *dkeys = NULL;
	unsigned int failed = 0;
	size_t ns = 0, nd = 0;
	int err;

	if (sfd < 0 || dfd < 0 || map_keys(sfd, sksz, (void **)&skeys, &ns) ||
	    map_keys(dfd, dksz, (void **)&dkeys, &nd)) {
		pr_err("fastdrop: cannot read %s/%s", sname, dname);
		free(skeys);
		return 1;
	}
	for (size_t i = 0; i < ns; i++) {
		struct ipaddr ip;
		uint16_t port;

		strict_key_of(skeys + i * sksz, v6, &ip, &port);
		if (!strict_wanted(w, &ip, port) && (err = strict_del(dp, &ip, port))) {
			pr_warn("fastdrop: cannot delete a %s entry: %s", sname, strerror(-err));
			failed++;
		}
	}
	for (size_t i = 0; i < nd; i++) {
		struct ipaddr dst, src;

		deny_key_of(dkeys + i * dksz, v6, &dst, &src);
		if (!deny_wanted(w, &dst, &src) && (err = deny_del(dp, &dst, &src))) {
			pr_warn("fastdrop: cannot delete a %s entry: %s", dname, strerror(-err));
			failed++;
		}
	}
	free(skeys);
	free(dkeys);
	return failed;
}

static unsigned int apply(struct datapath *dp, const struct want *w)
{
	unsigned int failed = apply_stale(dp, w, false) + apply_stale(dp, w, true);
	int err;

	for (size_t i = 0; i < w->n_strict; i++)
		if ((err =
			 strict_set(dp, &w->strict[i].ip, w->strict[i].port, w->strict[i].mode))) {
			pr_warn("fastdrop: cannot write strict_ports: %s", strerror(-err));
			failed++;
		}
	for (size_t i = 0; i < w->n_deny; i++)
		if ((err = deny_set(dp, &w->deny[i].dst, &w->deny[i].src))) {
			pr_warn("fastdrop: cannot write deny_src: %s", strerror(-err));
			failed++;
		}
	return failed;
}

unsigned int fastdrop_sync(struct datapath *dp, const struct snapshot *s)
{
	struct want w = {0};
	unsigned int failed = 0;

	if (!dp)
		return 0;
	for (size_t i = 0; s->policies && i < s->n_workloads; i++) {
		const struct snap_workload *wl = &s->workloads[i];

		/* Each pod's node name lies apart: a cache miss each, unless asked early. */
		if (i + 8 < s->n_workloads)
			__builtin_prefetch(s->workloads[i + 8].node);
		if (!wl->enrolled || !wl->node || !s->node || strcmp(wl->node, s->node) != 0)
			continue;
		if (want_workload(&w, s->policies, wl)) {
			/* Half a picture could drop what policy allows: change nothing this time.
			 */
			pr_err("fastdrop: out of memory; kernel drop maps left as they were");
			failed = 1;
			goto out;
		}
	}
	failed = apply(dp, &w);
	if (w.n_strict || w.n_deny)
		pr_debug("fastdrop: %zu strict_ports and %zu deny_src entries (both families)",
			 w.n_strict, w.n_deny);
out:
	free(w.strict);
	free(w.deny);
	return failed;
}
