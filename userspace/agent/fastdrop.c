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
#include "fastdrop.h"

struct strict_want {
	uint32_t ip;
	uint16_t port; /* host order, 0 = the pod's default */
	uint32_t mode; /* AMBIT_PLAINTEXT_* */
};

struct deny_want {
	uint32_t dst_ip, src_ip;
	unsigned int prefix;
};

struct want {
	size_t n_strict, cap_strict, n_deny, cap_deny;
	struct strict_want *strict;
	struct deny_want *deny;
};

static int grow(void **items, size_t *cap, size_t n, size_t size)
{
	size_t nc;
	void *p;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	p = realloc(*items, nc * size);
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = nc;
	return 0;
}

static int want_strict(struct want *w, uint32_t ip, uint16_t port, uint32_t mode)
{
	if (grow((void **)&w->strict, &w->cap_strict, w->n_strict, sizeof(*w->strict)))
		return -ENOMEM;
	w->strict[w->n_strict++] = (struct strict_want){ip, port, mode};
	return 0;
}

static int want_deny(struct want *w, uint32_t dst, uint32_t src, unsigned int prefix)
{
	if (grow((void **)&w->deny, &w->cap_deny, w->n_deny, sizeof(*w->deny)))
		return -ENOMEM;
	w->deny[w->n_deny++] = (struct deny_want){dst, src, prefix};
	return 0;
}

/*
 * STRICT only matters where plaintext would otherwise be let through: a STRICT pod gets a
 * default drop entry plus allow entries for its non-STRICT ports; a PERMISSIVE pod gets drop
 * entries for its STRICT ports only.
 */
static int want_workload(struct want *w, const struct policy_set *ps,
			 const struct snap_workload *wl)
{
	const struct policy_workload *pw = policy_set_workload(ps, wl->uid);
	bool strict = policy_mtls_mode(ps, wl->uid, wl->namespace, 0, NULL) == CONFIG_MTLS_STRICT;
	struct policy_cidrs cidrs;
	int err = 0;

	if (strict)
		err = want_strict(w, wl->ip, 0, AMBIT_PLAINTEXT_DROP);
	for (size_t i = 0; !err && pw && i < pw->mtls.n_ports; i++) {
		uint16_t port = pw->mtls.ports[i].port;
		bool port_strict =
		    policy_mtls_mode(ps, wl->uid, wl->namespace, port, NULL) == CONFIG_MTLS_STRICT;

		if (port_strict != strict)
			err =
			    want_strict(w, wl->ip, port,
					port_strict ? AMBIT_PLAINTEXT_DROP : AMBIT_PLAINTEXT_ALLOW);
	}
	if (err || policy_deny_src_cidrs(ps, wl->uid, wl->namespace, &cidrs))
		return -ENOMEM;
	/* The kernel's table is IPv4's (an IPv6 source is not let through there at all). */
	for (size_t i = 0; !err && i < cidrs.n; i++) {
		uint32_t src;

		if (cidrs.items[i].family != AF_INET)
			continue;
		memcpy(&src, cidrs.items[i].a, sizeof(src));
		err = want_deny(w, wl->ip, src, cidrs.items[i].len);
	}
	free(cidrs.items);
	return err;
}

static bool strict_wanted(const struct want *w, const struct ambit_addr *k)
{
	for (size_t i = 0; i < w->n_strict; i++)
		if (w->strict[i].ip == k->ip && htons(w->strict[i].port) == k->port)
			return true;
	return false;
}

static bool deny_wanted(const struct want *w, const struct ambit_deny_src_key *k)
{
	for (size_t i = 0; i < w->n_deny; i++)
		if (w->deny[i].dst_ip == k->dst_ip && w->deny[i].src_ip == k->src_ip &&
		    32 + w->deny[i].prefix == k->prefixlen)
			return true;
	return false;
}

/* Collects every key of map @fd (element size @ksz) into a malloc'd array. */
static int map_keys(int fd, size_t ksz, void **out, size_t *n)
{
	size_t cap = 0;
	char prev[16], next[16];
	bool first = true;

	*out = NULL;
	*n = 0;
	while (bpf_map_get_next_key(fd, first ? NULL : prev, next) == 0) {
		if (grow(out, &cap, *n, ksz)) {
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

static unsigned int apply(struct datapath *dp, const struct want *w)
{
	int sfd = datapath_map_fd(dp, "strict_ports"), dfd = datapath_map_fd(dp, "deny_src");
	struct ambit_deny_src_key *dkeys = NULL;
	struct ambit_addr *skeys = NULL;
	unsigned int failed = 0;
	size_t ns = 0, nd = 0;
	int err;

	if (sfd < 0 || dfd < 0 || map_keys(sfd, sizeof(*skeys), (void **)&skeys, &ns) ||
	    map_keys(dfd, sizeof(*dkeys), (void **)&dkeys, &nd)) {
		pr_err("fastdrop: cannot read strict_ports/deny_src");
		free(skeys);
		return 1;
	}
	for (size_t i = 0; i < ns; i++)
		if (!strict_wanted(w, &skeys[i]) &&
		    (err = datapath_del_strict_port(dp, skeys[i].ip, ntohs(skeys[i].port)))) {
			pr_warn("fastdrop: cannot delete a strict_ports entry: %s", strerror(-err));
			failed++;
		}
	for (size_t i = 0; i < nd; i++)
		if (!deny_wanted(w, &dkeys[i]) &&
		    (err = datapath_del_deny_src(dp, dkeys[i].dst_ip, dkeys[i].src_ip,
						 dkeys[i].prefixlen - 32))) {
			pr_warn("fastdrop: cannot delete a deny_src entry: %s", strerror(-err));
			failed++;
		}
	for (size_t i = 0; i < w->n_strict; i++)
		if ((err = datapath_set_strict_port(dp, w->strict[i].ip, w->strict[i].port,
						    w->strict[i].mode))) {
			pr_warn("fastdrop: cannot write strict_ports: %s", strerror(-err));
			failed++;
		}
	for (size_t i = 0; i < w->n_deny; i++)
		if ((err = datapath_set_deny_src(dp, w->deny[i].dst_ip, w->deny[i].src_ip,
						 w->deny[i].prefix))) {
			pr_warn("fastdrop: cannot write deny_src: %s", strerror(-err));
			failed++;
		}
	free(skeys);
	free(dkeys);
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
		pr_debug("fastdrop: %zu strict_ports and %zu deny_src entries", w.n_strict,
			 w.n_deny);
out:
	free(w.strict);
	free(w.deny);
	return failed;
}
