// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <cjson/cJSON.h>
#include <xxhash.h>

#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "ambit/json_memo.h"
#include "ambit/snapshot.h"
#include "fastdrop.h"
#include "agent.h"
#include "control/caserver.h"
#include "k8s/kconn.h"
#include "podnet/netsetup.h"
#include "podnet/preflows.h"
#include "probes.h"
#include "wpserve.h"

static int env_ifindex(const char *name, void *ctx)
{
	return (int)if_nametoindex(name);
}

static uint64_t env_cgroup_id(const char *path, void *ctx)
{
	uint64_t id = cgroup_id_of(path);

	if (!id)
		pr_debug("cgroup id of %s: %s", path, strerror(errno));
	return id;
}

const char *agent_root_pem(const struct agent *a)
{
	return a->ca ? ca_root_pem(a->ca) : a->root_pem;
}

/* A pod of this node with identity @id ("ns/name"), for the CA server to check; or NULL. */
static const char *pod_of(const struct agent *a, const char *id)
{
	for (size_t i = 0; i < a->cur.n_local; i++)
		if (!strcmp(a->cur.local[i].identity, id))
			return a->cur.local[i].uid;
	return NULL;
}

int agent_issue(void *ctx, const char *id, long lifetime_s, struct ca_issued *out)
{
	struct agent *a = ctx;
	char *csr, *key, *token = NULL, why[512] = "", path[4200];
	const char *pod;
	long nb = 0, na = 0;
	size_t len;
	int err;

	memset(out, 0, sizeof(*out));
	/* The key is made here and never leaves the node; the CA sees a CSR. */
	err = ca_csr_new(id, &csr, &key);
	if (err)
		return err;
	if (a->ca) {
		/* The embedded CA (the local cluster), on the same request path. */
		err = ca_sign_csr(a->ca, csr, strlen(csr), id, lifetime_s, out, why, sizeof(why));
	} else if (!(pod = pod_of(a, id))) {
		snprintf(why, sizeof(why), "no pod of this node has identity %s", id);
		err = -ENOENT;
	} else {
		/* The service-account token, read again each time (projected tokens rotate). */
		snprintf(path, sizeof(path), "%s/token", a->opts.kube_sa_dir);
		err = fileutil_read_file(path, 64 << 10, &token, &len);
		if (err)
			snprintf(why, sizeof(why), "%.400s: %s", path, strerror(-err));
		else
			err = caserver_request(a->opts.ca_url, a->root_pem, token, pod, csr,
					       &out->cert_pem, &nb, &na, why, sizeof(why));
		out->not_before = nb;
		out->not_after = na;
		if (token) {
			explicit_bzero(token, len);
			free(token);
		}
	}
	free(csr);
	if (err) {
		pr_err("certificate for %s: %s", id, why);
		explicit_bzero(key, strlen(key));
		free(key);
		ca_issued_free(out);
		return err;
	}
	out->key_pem = key;
	return 0;
}

/* Reads a whole fixed-size map (4- or 8-byte keys) as it is in the kernel now. */
static int read_map(struct agent *a, const char *name, size_t ksz, struct dp_entry **out, size_t *n)
{
	void *keys, *vals;
	uint32_t mksz, mvsz;
	struct dp_entry *arr;
	int fd, err;

	*out = NULL;
	*n = 0;
	fd = datapath_map_fd(a->dp, name);
	if (fd < 0)
		return fd;
	err = datapath_map_dump(fd, &keys, &vals, n, &mksz, &mvsz);
	if (err)
		return err;
	if (mksz != ksz || mvsz > sizeof(arr->val)) {
		free(keys);
		free(vals);
		*n = 0;
		return -EINVAL;
	}
	arr = calloc(*n ? *n : 1, sizeof(*arr));
	for (size_t i = 0; arr && i < *n; i++) {
		if (ksz == 4) {
			uint32_t k32;

			memcpy(&k32, (char *)keys + i * 4, sizeof(k32));
			arr[i].key = k32;
		} else if (ksz == 8) {
			memcpy(&arr[i].key, (char *)keys + i * 8, sizeof(arr[i].key));
		} else {
			/* 16: an IPv6 address, as dp_entry_key16 reads it back. */
			memcpy(&arr[i].key, (char *)keys + i * 16, sizeof(arr[i].key));
			memcpy(&arr[i].key2, (char *)keys + i * 16 + 8, sizeof(arr[i].key2));
		}
		memcpy(arr[i].val, (char *)vals + i * mvsz, mvsz);
	}
	free(keys);
	free(vals);
	if (!arr) {
		*n = 0;
		return -ENOMEM;
	}
	*out = arr;
	return 0;
}

/* How a service port's protocol is logged: nothing for TCP, as before UDP was balanced. */
static const char *proto_suffix(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "/udp" : "";
}

/* The services map's keys, with the backends we know we wrote for them. */
static int read_services(struct agent *a, struct dp_service **out, size_t *n)
{
	const struct dp_service *k;
	struct ambit_addr key;
	struct dp_service *arr;
	void *keys, *vals;
	uint32_t ksz, vsz;
	int fd, err;

	*out = NULL;
	*n = 0;
	fd = datapath_map_fd(a->dp, "services");
	if (fd < 0)
		return fd;
	err = datapath_map_dump(fd, &keys, &vals, n, &ksz, &vsz);
	free(vals);
	if (err)
		return err;
	arr = ksz == sizeof(key) ? calloc(*n ? *n : 1, sizeof(*arr)) : NULL;
	for (size_t i = 0; arr && i < *n; i++) {
		struct dp_service s;

		memcpy(&key, (char *)keys + i * sizeof(key), sizeof(key));
		s = (struct dp_service){
		    .vip = key.ip, .port = ntohs(key.port), .proto = (uint8_t)key.proto};
		k = a->n_applied_svcs ? bsearch(&s, a->applied_svcs, a->n_applied_svcs,
						sizeof(*a->applied_svcs), dp_service_cmp)
				      : NULL;
		if (k && k->known) {
			/* Borrowed: this array is freed shallowly. */
			s.n = k->n;
			s.backends = k->backends;
			s.known = true;
		}
		arr[i] = s;
	}
	free(keys);
	if (!arr) {
		*n = 0;
		return ksz == sizeof(key) ? -ENOMEM : -EINVAL;
	}
	*out = arr;
	return 0;
}

static void apply_failed(struct agent *a, const char *what, uint64_t key, int err)
{
	a->apply_errors++;
	pr_err("datapath: %s %llu: %s", what, (unsigned long long)key, strerror(-err));
}

static void apply_failed6(struct agent *a, const char *what, const struct in6_addr *ip6, int err)
{
	char txt[INET6_ADDRSTRLEN];

	a->apply_errors++;
	pr_err("datapath: %s %s: %s", what, inet_ntop(AF_INET6, ip6, txt, sizeof(txt)),
	       strerror(-err));
}

static int diff_map(struct agent *a, const char *name, size_t ksz, const struct dp_entry *want,
		    size_t nwant, struct dp_diff *d)
{
	struct dp_entry *cur;
	size_t ncur;
	int err;

	err = read_map(a, name, ksz, &cur, &ncur);
	if (err) {
		pr_err("datapath: reading map %s: %s", name, strerror(-err));
		a->apply_errors++;
		memset(d, 0, sizeof(*d));
		return err;
	}
	err = dp_diff_compute(cur, ncur, want, nwant, d);
	free(cur);
	return err;
}

/* False when the services map may now differ from a->applied_svcs. */
static bool apply_services(struct agent *a, const struct desired *next)
{
	struct dp_service_diff sd;
	struct dp_service *cur, *applied;
	size_t ncur;
	int err;

	if (a->maps_known) {
		err = dp_service_diff_compute(a->applied_svcs, a->n_applied_svcs, next->services,
					      next->n_services, &sd);
	} else {
		if (read_services(a, &cur, &ncur)) {
			pr_err("datapath: cannot read the services map");
			a->apply_errors++;
			return false;
		}
		err = dp_service_diff_compute(cur, ncur, next->services, next->n_services, &sd);
		free(cur);
	}
	if (err)
		return false;
	applied = dp_services_dup(next->services, next->n_services);
	for (size_t i = 0; i < sd.n_set; i++) {
		const struct dp_service *s = sd.set[i];
		struct ambit_backend *be = calloc(s->n ? s->n : 1, sizeof(*be));
		char ip[INET_ADDRSTRLEN];

		err = -ENOMEM;
		if (be) {
			for (uint32_t j = 0; j < s->n; j++) {
				be[j].ip = s->backends[j].ip;
				be[j].port = htons(s->backends[j].port);
			}
			err = datapath_set_service(a->dp, s->vip, s->port, s->proto, be, s->n);
			free(be);
		}
		if (!err) {
			pr_info("service %s:%u%s -> %u backend(s)", ipaddr_v4_str(s->vip, ip),
				s->port, proto_suffix(s->proto), s->n);
			continue;
		}
		apply_failed(a, "set service port", s->port, err);
		/* Forget what we believed about it so the next reconcile writes it again. */
		for (size_t j = 0; applied && j < next->n_services; j++)
			if (!dp_service_cmp(&applied[j], s))
				applied[j].known = false;
	}
	for (size_t i = 0; i < sd.n_del; i++) {
		char ip[INET_ADDRSTRLEN];

		err = datapath_del_service(a->dp, sd.del[i].vip, sd.del[i].port, sd.del[i].proto);
		if (err && err != -ENOENT)
			apply_failed(a, "delete service port", sd.del[i].port, err);
		else
			pr_info("service %s:%u%s removed", ipaddr_v4_str(sd.del[i].vip, ip),
				sd.del[i].port, proto_suffix(sd.del[i].proto));
	}
	dp_service_diff_free(&sd);
	dp_services_free(a->applied_svcs, a->n_applied_svcs);
	a->applied_svcs = applied;
	a->n_applied_svcs = applied ? next->n_services : 0;
	return applied || !next->n_services;
}

static bool same_service6(const struct dp_service6 *x, const struct dp_service6 *y)
{
	return x->n == y->n &&
	       (!x->n || !memcmp(x->backends, y->backends, x->n * sizeof(*x->backends)));
}

/* A copy of @s (@n entries, backends too), or NULL. */
static struct dp_service6 *services6_dup(const struct dp_service6 *s, size_t n)
{
	struct dp_service6 *c = calloc(n ? n : 1, sizeof(*c));

	for (size_t i = 0; c && i < n; i++) {
		c[i] = s[i];
		c[i].backends = NULL;
		if (s[i].n && !(c[i].backends = malloc(s[i].n * sizeof(*s[i].backends)))) {
			dp_services6_free(c, i);
			return NULL;
		}
		if (s[i].n)
			memcpy(c[i].backends, s[i].backends, s[i].n * sizeof(*s[i].backends));
	}
	return c;
}

/*
 * services6 as the kernel holds it, when what was last written is not known (a restart): its
 * keys, each with no backend known (so rewritten). 0 or -errno.
 */
static int read_services6(struct agent *a, struct dp_service6 **out, size_t *n)
{
	int fd = datapath_map_fd(a->dp, "services6");
	struct ambit_addr6 *keys = NULL;
	void *vals = NULL;
	uint32_t ksz, vsz;
	int err;

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return fd;
	err = datapath_map_dump(fd, (void **)&keys, &vals, n, &ksz, &vsz);
	free(vals);
	if (err)
		return err;
	*out = calloc(*n ? *n : 1, sizeof(**out));
	for (size_t i = 0; *out && i < *n; i++) {
		memcpy(&(*out)[i].vip, keys[i].ip6, sizeof((*out)[i].vip));
		(*out)[i].port = ntohs(keys[i].port);
		(*out)[i].proto = (uint8_t)keys[i].proto;
		(*out)[i].n = UINT32_MAX; /* never equal to a wanted one */
	}
	free(keys);
	if (!*out)
		return -ENOMEM;
	qsort(*out, *n, sizeof(**out), dp_service6_cmp);
	return 0;
}

/*
 * services6 brought in line with @next: what changed written (backends before the count, as
 * for IPv4), what went deleted. False when the map may now differ from a->applied_svcs6.
 */
static bool apply_services6(struct agent *a, const struct desired *next)
{
	struct dp_service6 *cur = a->applied_svcs6;
	size_t ncur = a->n_applied_svcs6;
	unsigned int errors = a->apply_errors;
	char txt[INET6_ADDRSTRLEN];
	int err;

	if (!a->svcs6_known && read_services6(a, &cur, &ncur)) {
		pr_err("datapath: cannot read the services6 map");
		a->apply_errors++;
		return false;
	}
	for (size_t i = 0; i < next->n_services6; i++) {
		const struct dp_service6 *w = &next->services6[i];
		const struct dp_service6 *c =
		    ncur ? bsearch(w, cur, ncur, sizeof(*cur), dp_service6_cmp) : NULL;

		if (c && same_service6(c, w))
			continue;
		err = datapath_set_service6(a->dp, &w->vip, w->port, w->proto, w->backends, w->n);
		if (err)
			apply_failed(a, "set IPv6 service port", w->port, err);
		else
			pr_info("service [%s]:%u%s -> %u backend(s)",
				inet_ntop(AF_INET6, &w->vip, txt, sizeof(txt)), w->port,
				proto_suffix(w->proto), w->n);
	}
	for (size_t i = 0; i < ncur; i++) {
		const struct dp_service6 *c = &cur[i];

		if (next->n_services6 &&
		    bsearch(c, next->services6, next->n_services6, sizeof(*c), dp_service6_cmp))
			continue;
		err = datapath_del_service6(a->dp, &c->vip, c->port, c->proto);
		if (err && err != -ENOENT)
			apply_failed(a, "delete IPv6 service port", c->port, err);
		else
			pr_info("service [%s]:%u%s removed",
				inet_ntop(AF_INET6, &c->vip, txt, sizeof(txt)), c->port,
				proto_suffix(c->proto));
	}
	if (cur != a->applied_svcs6)
		dp_services6_free(cur, ncur);
	dp_services6_free(a->applied_svcs6, a->n_applied_svcs6);
	a->applied_svcs6 = services6_dup(next->services6, next->n_services6);
	a->n_applied_svcs6 = a->applied_svcs6 ? next->n_services6 : 0;
	a->svcs6_known = a->applied_svcs6 && a->apply_errors == errors;
	return a->svcs6_known;
}

/* One sentry_cidrs(6) change failed: counted, logged with the block and port. */
static void sentry_cidr_failed(struct agent *a, const char *what, const struct dp_sentry_cidr *c,
			       int err)
{
	char txt[INET6_ADDRSTRLEN + 4];

	a->apply_errors++;
	pr_err("datapath: %s UDP to %s port %u (as addressed): %s", what,
	       ipaddr_format_prefix(&c->net, txt, sizeof(txt)), c->port, strerror(-err));
}

/*
 * UDP the ztunnel takes as addressed (sentry_cidrs, sentry_cidrs6: ServiceEntries' UDP ports over
 * their CIDR blocks, the VIPs of Services a waypoint serves or other clusters serve too): what the
 * kernel holds is read back each time (a few entries, only this agent writes them), what @next does
 * not want deleted, what it wants and the kernel lacks written. False when a change failed.
 */
static bool apply_sentry_cidrs(struct agent *a, const struct desired *next)
{
	unsigned int errors = a->apply_errors;

	for (int v6 = 0; v6 <= 1; v6++) {
		const char *name = v6 ? "sentry_cidrs6" : "sentry_cidrs";
		int fd = datapath_map_fd(a->dp, name), err = fd < 0 ? fd : 0;
		struct dp_sentry_cidr *have = NULL;
		void *keys = NULL, *vals = NULL;
		char txt[INET6_ADDRSTRLEN + 4];
		uint32_t ksz = 0, vsz = 0;
		size_t n = 0;

		if (!err)
			err = datapath_map_dump(fd, &keys, &vals, &n, &ksz, &vsz);
		if (!err && n && !(have = calloc(n, sizeof(*have))))
			err = -ENOMEM;
		if (err) {
			pr_err("datapath: reading map %s: %s", name, strerror(-err));
			a->apply_errors++;
			free(keys);
			free(vals);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned int len;

			have[i].net.family = v6 ? AF_INET6 : AF_INET;
			datapath_sentry_cidr_of((char *)keys + i * ksz, v6, have[i].net.a, &len,
						&have[i].port);
			have[i].net.len = (uint8_t)len;
		}
		n = dp_sentry_cidrs_sort(have, n);
		for (size_t i = 0; i < n; i++) {
			if (next->n_sentry_cidrs &&
			    bsearch(&have[i], next->sentry_cidrs, next->n_sentry_cidrs,
				    sizeof(*have), dp_sentry_cidr_cmp))
				continue;
			err = datapath_del_sentry_cidr(a->dp, v6, have[i].net.a, have[i].net.len,
						       have[i].port);
			if (err)
				sentry_cidr_failed(a, "delete", &have[i], err);
		}
		for (size_t i = 0; i < next->n_sentry_cidrs; i++) {
			const struct dp_sentry_cidr *w = &next->sentry_cidrs[i];

			if (w->net.family != (v6 ? AF_INET6 : AF_INET) ||
			    (n && bsearch(w, have, n, sizeof(*have), dp_sentry_cidr_cmp)))
				continue;
			err = datapath_set_sentry_cidr(a->dp, v6, w->net.a, w->net.len, w->port);
			if (err)
				sentry_cidr_failed(a, "set", w, err);
			else
				pr_info("UDP to %s port %u -> the ztunnel, as addressed",
					ipaddr_format_prefix(&w->net, txt, sizeof(txt)), w->port);
		}
		free(have);
		free(keys);
		free(vals);
	}
	return a->apply_errors == errors;
}

/* From the map as last applied (@known: cur's entries), else as the kernel holds it. */
static int diff_from(struct agent *a, bool known, const char *name, size_t ksz,
		     const struct dp_entry *cur, size_t ncur, const struct dp_entry *want,
		     size_t nwant, struct dp_diff *d)
{
	int err;

	if (!known)
		return diff_map(a, name, ksz, want, nwant, d);
	err = dp_diff_compute(cur, ncur, want, nwant, d);
	if (err)
		memset(d, 0, sizeof(*d));
	return err;
}

void agent_reread_maps(struct agent *a)
{
	a->maps_known = false;
	a->svcs6_known = false;
}

static void apply_maps(struct agent *a, const struct desired *next)
{
	unsigned int errors = a->apply_errors;
	bool known = a->maps_known && a->have_cur, ok;
	struct dp_diff wl, en, ifc, wl6, ifc6, en6, ex;
	int err;

	/* Values are at most 16 bytes (struct dp_entry.val); keys 4, 8 or 16 (bpf/lib/maps.h). */
	_Static_assert(sizeof(struct ambit_workload) <= sizeof(((struct dp_entry *)0)->val), "val");
	ok = !diff_from(a, known, "workloads", 4, a->cur.workloads, a->cur.n_workloads,
			next->workloads, next->n_workloads, &wl);
	ok &= !diff_from(a, known, "enrolled_cgrp", 8, a->cur.enrolled, a->cur.n_enrolled,
			 next->enrolled, next->n_enrolled, &en);
	ok &= !diff_from(a, known, "pod_ifaces", 4, a->cur.ifaces, a->cur.n_ifaces, next->ifaces,
			 next->n_ifaces, &ifc);
	ok &= !diff_from(a, known, "workloads6", 16, a->cur.workloads6, a->cur.n_workloads6,
			 next->workloads6, next->n_workloads6, &wl6);
	ok &= !diff_from(a, known, "pod_ifaces6", 4, a->cur.ifaces6, a->cur.n_ifaces6,
			 next->ifaces6, next->n_ifaces6, &ifc6);
	ok &= !diff_from(a, known, "enrolled_ip6", 8, a->cur.enrolled6, a->cur.n_enrolled6,
			 next->enrolled6, next->n_enrolled6, &en6);
	ok &= !diff_from(a, known, "excl_ports", 16, a->cur.excl, a->cur.n_excl, next->excl,
			 next->n_excl, &ex);
	a->maps_known = known;

	/*
	 * A pod's ports left out of capture count only under its entries' flags (AMBIT_WL_EXCL,
	 * AMBIT_ENROLLED_EXCL_OUT); either way round, a port missing from excl_ports is captured.
	 */
	for (size_t i = 0; i < ex.n_set; i++) {
		struct ambit_excl_key k;

		dp_entry_key16(&ex.set[i], &k);
		if ((err = datapath_set_excl(a->dp, &k)))
			apply_failed(a, "set excluded port of", k.id, err);
	}
	for (size_t i = 0; i < ex.n_del; i++) {
		struct ambit_excl_key k;

		dp_entry_key16(&ex.del[i], &k);
		if ((err = datapath_del_excl(a->dp, &k)) && err != -ENOENT)
			apply_failed(a, "delete excluded port of", k.id, err);
	}
	/* Unenroll first and delete workloads last: capture never points at a missing entry. */
	for (size_t i = 0; i < en.n_del; i++)
		if ((err = datapath_del_enrolled(a->dp, en.del[i].key)) && err != -ENOENT)
			apply_failed(a, "delete enrolled cgroup", en.del[i].key, err);
	for (size_t i = 0; i < wl.n_set; i++) {
		struct ambit_workload v;

		memcpy(&v, wl.set[i].val, sizeof(v));
		if ((err = datapath_set_workload(a->dp, (uint32_t)wl.set[i].key, &v)))
			apply_failed(a, "set workload", wl.set[i].key, err);
	}
	for (size_t i = 0; i < wl6.n_set; i++) {
		struct ambit_workload v;
		struct in6_addr ip6;

		memcpy(&v, wl6.set[i].val, sizeof(v));
		dp_entry_key16(&wl6.set[i], &ip6);
		if ((err = datapath_set_workload6(a->dp, &ip6, &v)))
			apply_failed6(a, "set workload", &ip6, err);
	}
	for (size_t i = 0; i < ifc.n_set; i++) {
		struct ambit_iface v;

		memcpy(&v, ifc.set[i].val, sizeof(v));
		if ((err = datapath_set_iface(a->dp, (int)ifc.set[i].key, v.pod_ip)))
			apply_failed(a, "set pod iface", ifc.set[i].key, err);
	}
	for (size_t i = 0; i < ifc6.n_set; i++) {
		struct in6_addr v;

		memcpy(&v, ifc6.set[i].val, sizeof(v));
		if ((err = datapath_set_iface6(a->dp, (int)ifc6.set[i].key, &v)))
			apply_failed(a, "set pod iface (IPv6)", ifc6.set[i].key, err);
	}
	/*
	 * An in-pod pod's IPv6 (enrolled_ip6) counts only under its enrolled_cgrp entry's in-pod
	 * flag: written before that flag and deleted after it, so a pod going in-pod or back never
	 * has its IPv6 refused meanwhile. Missing, it is refused, never sent past the mesh.
	 */
	for (size_t i = 0; i < en6.n_set; i++) {
		struct in6_addr v;

		memcpy(&v, en6.set[i].val, sizeof(v));
		if ((err = datapath_set_enrolled_ip6(a->dp, en6.set[i].key, &v)))
			apply_failed(a, "set in-pod IPv6 of cgroup", en6.set[i].key, err);
	}
	for (size_t i = 0; i < en.n_set; i++) {
		struct ambit_enrolled v;

		memcpy(&v, en.set[i].val, sizeof(v));
		if ((err = datapath_set_enrolled_entry(a->dp, en.set[i].key, &v)))
			apply_failed(a, "set enrolled cgroup", en.set[i].key, err);
	}
	for (size_t i = 0; i < en6.n_del; i++)
		if ((err = datapath_del_enrolled_ip6(a->dp, en6.del[i].key)) && err != -ENOENT)
			apply_failed(a, "delete in-pod IPv6 of cgroup", en6.del[i].key, err);
	ok &= apply_services(a, next);
	ok &= apply_services6(a, next);
	ok &= apply_sentry_cidrs(a, next);
	for (size_t i = 0; i < ifc.n_del; i++)
		if ((err = datapath_del_iface(a->dp, (int)ifc.del[i].key)) && err != -ENOENT)
			apply_failed(a, "delete pod iface", ifc.del[i].key, err);
	for (size_t i = 0; i < ifc6.n_del; i++)
		if ((err = datapath_del_iface6(a->dp, (int)ifc6.del[i].key)) && err != -ENOENT)
			apply_failed(a, "delete pod iface (IPv6)", ifc6.del[i].key, err);
	for (size_t i = 0; i < wl.n_del; i++)
		if ((err = datapath_del_workload(a->dp, (uint32_t)wl.del[i].key)) && err != -ENOENT)
			apply_failed(a, "delete workload", wl.del[i].key, err);
	for (size_t i = 0; i < wl6.n_del; i++) {
		struct in6_addr ip6;

		dp_entry_key16(&wl6.del[i], &ip6);
		if ((err = datapath_del_workload6(a->dp, &ip6)) && err != -ENOENT)
			apply_failed6(a, "delete workload", &ip6, err);
	}
	/* next becomes cur: the maps hold it if nothing failed. */
	a->maps_known = ok && a->apply_errors == errors;
	pr_debug("datapath diff: workloads +%zu -%zu (IPv6 +%zu -%zu), enrolled +%zu -%zu (in-pod "
		 "IPv6 +%zu -%zu), ifaces +%zu -%zu (IPv6 +%zu -%zu), excluded ports +%zu -%zu%s",
		 wl.n_set, wl.n_del, wl6.n_set, wl6.n_del, en.n_set, en.n_del, en6.n_set, en6.n_del,
		 ifc.n_set, ifc.n_del, ifc6.n_set, ifc6.n_del, ex.n_set, ex.n_del,
		 known ? "" : " (maps read back)");
	dp_diff_free(&wl);
	dp_diff_free(&en);
	dp_diff_free(&ifc);
	dp_diff_free(&wl6);
	dp_diff_free(&ifc6);
	dp_diff_free(&en6);
	dp_diff_free(&ex);
}

static bool tc_has(const struct agent *a, int ifindex)
{
	for (size_t i = 0; i < a->n_tc; i++)
		if (a->tc_ifindexes[i] == ifindex)
			return true;
	return false;
}

/* Every local pod's veth gets the tc program, enrolled or not: anti-spoofing covers all. */
static void apply_tc(struct agent *a, const struct desired *next)
{
	size_t k = 0;
	int err;

	for (size_t i = 0; i < a->n_tc; i++) {
		bool keep = false;

		for (size_t j = 0; j < next->n_local; j++)
			keep |= next->local[j].ifindex == a->tc_ifindexes[i];
		if (keep) {
			a->tc_ifindexes[k++] = a->tc_ifindexes[i];
			continue;
		}
		err = datapath_detach_tc_veth(a->dp, a->tc_ifindexes[i]);
		if (err && err != -ENODEV && err != -ENOENT && err != -EINVAL)
			pr_warn("tc detach from ifindex %d: %s", a->tc_ifindexes[i],
				strerror(-err));
		/* Out of the mesh, nothing judges a pod's source there: no local ones again. */
		err = netsetup_accept_local(a->tc_ifindexes[i], false);
		if (err && err != -ENODEV)
			pr_warn("accept_local off on ifindex %d: %s", a->tc_ifindexes[i],
				strerror(-err));
	}
	a->n_tc = k;
	for (size_t j = 0; j < next->n_local; j++) {
		const struct desired_local_pod *lp = &next->local[j];
		int *p;

		if (!lp->ifindex || tc_has(a, lp->ifindex))
			continue;
		err = datapath_attach_tc_veth(a->dp, lp->ifindex);
		if (err) {
			a->apply_errors++;
			pr_err("pod %s: tc attach on %s (ifindex %d): %s", lp->uid, lp->host_iface,
			       lp->ifindex, strerror(-err));
			continue;
		}
		/*
		 * The node's own connections to the pod come back in by this veth to the ztunnel
		 * (bpf/lib/nodeguard.h), from the node's address: without it they are dropped.
		 */
		err = netsetup_accept_local(lp->ifindex, true);
		if (err)
			pr_warn(
			    "pod %s: accept_local on %s: %s; the node's own IPv4 connections to "
			    "it fail",
			    lp->uid, lp->host_iface, strerror(-err));
		p = realloc(a->tc_ifindexes, (a->n_tc + 1) * sizeof(*p));
		if (!p)
			continue; /* attached anyway; we only forget to detach it later */
		a->tc_ifindexes = p;
		a->tc_ifindexes[a->n_tc++] = lp->ifindex;
		pr_info("pod %s: tc attached on %s (ifindex %d)", lp->uid, lp->host_iface,
			lp->ifindex);
		/*
		 * What the node routed to the pod before this, while its address resolved, went
		 * by the uplink before the maps knew the pod: dropped, not delivered once the pod
		 * answers (after a reboot, a client outside the mesh reached a STRICT pod so).
		 */
		err = netsetup_neigh_forget(lp->ifindex, lp->ip, &lp->ip6);
		if (err)
			pr_warn("pod %s: neighbour entries on %s: %s", lp->uid, lp->host_iface,
				strerror(-err));
	}
}

/* The kubelet's cgroup in node_cfg, whose probes the node's programs let by (probes.h). */
static void sync_kubelet(struct agent *a)
{
	char cg2[PATH_MAX];
	uint64_t id;
	int err;

	if (a->opts.pod_cgroup_root)
		snprintf(cg2, sizeof(cg2), "%s", a->opts.pod_cgroup_root);
	else if (cgroup2_mount(cg2, sizeof(cg2)))
		return;
	id = probes_kubelet_cgroup(a->opts.kubelet_cgroup, "/proc", cg2, &a->kubelet_pid);
	/* Written once at least: the pinned map may hold a previous agent's. */
	if (a->kubelet_cg_set && id == a->kubelet_cg)
		return;
	err = datapath_set_kubelet_cgroup(a->dp, id);
	if (err) {
		a->apply_errors++;
		pr_err("node_cfg: the kubelet's cgroup: %s", strerror(-err));
		return;
	}
	a->kubelet_cg = id;
	a->kubelet_cg_set = true;
	if (id && a->kubelet_pid)
		pr_info("kubelet probes pass: its cgroup, id %llu (pid %d)", (unsigned long long)id,
			a->kubelet_pid);
	else if (id)
		pr_info("kubelet probes pass: cgroup %s, id %llu", a->opts.kubelet_cgroup,
			(unsigned long long)id);
	else
		pr_info(
		    "kubelet probes: no kubelet cgroup known (--kubelet-cgroup %s); none passes",
		    a->opts.kubelet_cgroup ? a->opts.kubelet_cgroup : "auto");
}

static bool has_warning(const struct desired *d, const char *w)
{
	for (size_t i = 0; i < d->n_warnings; i++)
		if (strcmp(d->warnings[i], w) == 0)
			return true;
	return false;
}

/* desired_compute's order of the snapshot's services: namespace, then name. */
static int cmp_svc_name(const struct snap_service *x, const struct snap_service *y)
{
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

static bool svc_equal(const struct snap_service *x, const struct snap_service *y)
{
	if (x->vip != y->vip || memcmp(&x->vip6, &y->vip6, sizeof(x->vip6)) ||
	    x->nports != y->nports || x->nendpoints != y->nendpoints ||
	    x->nendpoints6 != y->nendpoints6 ||
	    (x->nendpoints6 &&
	     memcmp(x->endpoints6, y->endpoints6, x->nendpoints6 * sizeof(*x->endpoints6))))
		return false;
	for (size_t i = 0; i < x->nports; i++)
		if (x->ports[i].port != y->ports[i].port ||
		    x->ports[i].target_port != y->ports[i].target_port)
			return false;
	return !x->nendpoints ||
	       memcmp(x->endpoints, y->endpoints, x->nendpoints * sizeof(*x->endpoints)) == 0;
}

/* Says at info level what changed for people reading the node's log. */
static void log_changes(const struct agent *a, const struct desired *next)
{
	static const struct desired empty;
	const struct desired *cur = a->have_cur ? &a->cur : &empty;
	char ip[INET_ADDRSTRLEN], ip6[IPADDR_STRLEN];

	for (size_t i = 0; i < next->n_warnings; i++)
		if (!has_warning(cur, next->warnings[i]))
			pr_warn("%s", next->warnings[i]);
	for (size_t i = 0; i < next->n_local; i++) {
		const struct desired_local_pod *lp = &next->local[i];
		const struct desired_local_pod *old = desired_local_pod(cur, lp->uid);

		if (old && old->enrolled == lp->enrolled && old->ifindex == lp->ifindex &&
		    old->cgroup_id == lp->cgroup_id)
			continue;
		pr_info(
		    "pod %s (%s): %s, identity %s, cgroup id %llu, iface %s (ifindex %d)", lp->uid,
		    lp->ip ? ipaddr_v4_str(lp->ip, ip) : ipaddr_format(&lp->ip6, ip6, sizeof(ip6)),
		    lp->enrolled ? "enrolled" : "not enrolled", lp->identity,
		    (unsigned long long)lp->cgroup_id, lp->host_iface ? lp->host_iface : "-",
		    lp->ifindex);
	}
	for (size_t i = 0; i < cur->n_local; i++)
		if (!desired_local_pod(next, cur->local[i].uid))
			pr_info("pod %s: gone from this node", cur->local[i].uid);
	/* Both sorted by namespace and name (desired_compute): one walk over the two. */
	for (size_t i = 0, j = 0; i < next->n_snap_services || j < cur->n_snap_services;) {
		const struct snap_service *s =
		    i < next->n_snap_services ? &next->snap_services[i] : NULL;
		const struct snap_service *old =
		    j < cur->n_snap_services ? &cur->snap_services[j] : NULL;
		int c = !s ? 1 : !old ? -1 : cmp_svc_name(s, old);

		if (c > 0) {
			pr_info("service %s/%s: removed", old->namespace, old->name);
			j++;
			continue;
		}
		/* A SingleStack IPv6 Service's VIP is its IPv6 one. */
		if ((c < 0 || !svc_equal(old, s)) && !s->vip && s->vip6.family == AF_INET6)
			pr_info("service %s/%s: VIP %s, %zu port(s), %zu endpoint(s)", s->namespace,
				s->name, ipaddr_format(&s->vip6, ip6, sizeof(ip6)), s->nports,
				s->nendpoints6 ? s->nendpoints6 : s->nendpoints);
		else if (c < 0 || !svc_equal(old, s))
			pr_info("service %s/%s: VIP %s, %zu port(s), %zu endpoint(s)", s->namespace,
				s->name, ipaddr_v4_str(s->vip, ip), s->nports, s->nendpoints);
		i++;
		j += c == 0;
	}
}

void agent_view_peers_free(const struct agent *a, struct snapshot *s)
{
	if (s->workloads != a->cur.snap_workloads)
		free(s->workloads);
	for (size_t i = 0; s->services != a->cur.snap_services && i < s->n_services; i++)
		remote_peer_endpoints_free(&s->services[i],
					   i < a->cur.n_snap_services
					       ? &a->cur.snap_services[i]
					       : &a->remote.made[i - a->cur.n_snap_services]);
	if (s->services != a->cur.snap_services)
		free(s->services);
}

/* What snapshot_view allocated. */
static void snapshot_view_free(const struct agent *a, struct snapshot *s)
{
	free(s->certs);
	agent_view_peers_free(a, s);
}

int agent_view_peers(const struct agent *a, struct snapshot *s)
{
	const struct remote_set *rs = &a->remote;

	if (rs->n_peer_workloads) {
		s->workloads =
		    malloc((s->n_workloads + rs->n_peer_workloads) * sizeof(*s->workloads));
		if (!s->workloads)
			return -ENOMEM;
		memcpy(s->workloads, a->cur.snap_workloads, s->n_workloads * sizeof(*s->workloads));
		memcpy(s->workloads + s->n_workloads, rs->peer_workloads,
		       rs->n_peer_workloads * sizeof(*s->workloads));
		s->n_workloads += rs->n_peer_workloads;
	}
	if (!rs->n_peer_services)
		return 0;
	if (s->services == a->cur.snap_services) {
		s->services = malloc((s->n_services + 1) * sizeof(*s->services));
		if (!s->services)
			return -ENOMEM;
		memcpy(s->services, a->cur.snap_services, s->n_services * sizeof(*s->services));
	}
	for (size_t i = 0; i < s->n_services; i++)
		if (remote_peer_endpoints(rs, &s->services[i]))
			return -ENOMEM;
	return 0;
}

/*
 * Fills @s borrowing everything from the agent; never snapshot_free it: free its certs, and its
 * services when they are not the agent's (remote-only global Services are added after them).
 */
static int snapshot_view(const struct agent *a, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->version = a->snap_version;
	s->node = (char *)a->opts.node;
	s->node_ip = a->opts.node_ip;
	s->trust_domain = (char *)a->opts.trust_domain;
	s->cluster_id = (char *)a->opts.cluster_id;
	s->network = (char *)a->network;
	s->n_trust_domain_aliases = a->n_td_aliases;
	s->trust_domain_aliases = (char **)a->td_aliases;
	s->root_pem = (char *)agent_root_pem(a);
	s->n_workloads = a->cur.n_snap_workloads;
	s->workloads = a->cur.snap_workloads;
	s->n_services = a->cur.n_snap_services;
	s->services = a->cur.snap_services;
	if (a->remote.n_made) {
		s->n_services += a->remote.n_made;
		s->services = malloc(s->n_services * sizeof(*s->services));
		if (!s->services)
			return -ENOMEM;
		memcpy(s->services, a->cur.snap_services,
		       a->cur.n_snap_services * sizeof(*s->services));
		memcpy(s->services + a->cur.n_snap_services, a->remote.made,
		       a->remote.n_made * sizeof(*s->services));
	}
	if (agent_view_peers(a, s)) {
		snapshot_view_free(a, s);
		return -ENOMEM;
	}
	s->policies = a->policy.set;
	s->n_entries = a->cur.n_snap_entries;
	s->entries = a->cur.snap_entries;
	s->registry_only = a->cur.registry_only;
	s->n_net_gateways = a->remote.n_gateways;
	s->net_gateways = a->remote.gateways;
	s->n_remote_services = a->remote.n_services;
	s->remote_services = a->remote.services;
	s->capture = a->capture == CAPTURE_HOST	   ? SNAP_CAPTURE_HOST
		     : a->capture == CAPTURE_INPOD ? SNAP_CAPTURE_INPOD
						   : SNAP_CAPTURE_UNKNOWN;
	s->n_certs = a->certs.n;
	if (!a->certs.n)
		return 0;
	s->certs = calloc(a->certs.n, sizeof(*s->certs));
	if (!s->certs) {
		snapshot_view_free(a, s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < a->certs.n; i++) {
		const struct cert_entry *e = &a->certs.items[i];

		s->certs[i].identity = e->identity;
		s->certs[i].cert_pem = e->issued.cert_pem;
		s->certs[i].key_pem = e->issued.key_pem;
		s->certs[i].not_before = e->issued.not_before;
		s->certs[i].not_after = e->issued.not_after;
	}
	return 0;
}

static uint64_t read_u64_file(const char *path)
{
	char *buf = NULL;
	size_t len;
	uint64_t v = 0;

	if (runtime_read_file(path, &buf, &len) == 0 && sscanf(buf, "%" SCNu64, &v) != 1)
		v = 0;
	free(buf);
	return v;
}

void agent_restore_version(struct agent *a)
{
	a->version = read_u64_file(a->opts.version_path);
	if (a->version)
		pr_info("snapshot versions continue after %" PRIu64, a->version);
}

/*
 * Written before the snapshot is published: a restart then starts above any version a
 * ztunnel may hold. Losing the file only loses that guarantee, never the snapshot.
 */
static void save_version(const struct agent *a)
{
	char tmp[4200], text[32];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", a->opts.version_path);
	snprintf(text, sizeof(text), "%" PRIu64 "\n", a->version);
	f = fopen(tmp, "we");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, a->opts.version_path) < 0) {
		if (f)
			fclose(f);
		pr_warn("%s: %s; a restart may reuse snapshot versions", a->opts.version_path,
			strerror(errno));
		unlink(tmp);
	}
}

uint64_t agent_next_version(struct agent *a)
{
	a->version++;
	save_version(a);
	return a->version;
}

/*
 * The kernel's fast drops for @next's pods under the policy set just compiled, before the maps
 * and the in-pod set-up that send a new pod's flows to the proxy: a pod enrolled by the same
 * reconcile (after a reboot, the first one) is steered only once a STRICT port of it is
 * refused at the SYN. In the other order a client outside the mesh completed a handshake with
 * the proxy's inbound listener in between, and sent its request before the proxy, which had no
 * snapshot yet, reset it. The fast drops also lead the ztunnel's snapshot, as they always did.
 */
static void sync_fastdrop(struct agent *a, const struct desired *next)
{
	const struct snapshot s = {
	    .node = (char *)a->opts.node,
	    .n_workloads = next->n_snap_workloads,
	    .workloads = next->snap_workloads,
	    .policies = a->policy.set,
	};

	a->apply_errors += fastdrop_sync(a->dp, &s);
}

/* Encodes the current state and publishes it under a new version if anything changed. */
static void publish(struct agent *a)
{
	struct snapshot s;
	char *json, *old;
	size_t len;

	if (snapshot_view(a, &s))
		goto nomem;
	if (!a->memo)
		a->memo = json_memo_new(); /* NULL: each encoding from scratch */
	/* Encoded as the next version, which it becomes only if anything else changed. */
	s.version = a->version + 1;
	json = snapshot_encode_memo(&s, a->memo);
	snapshot_view_free(a, &s);
	if (!json)
		goto nomem;
	/*
	 * Elements the last encoding did not write make another text: only an encoding of the
	 * same elements is compared (megabytes) with the one in force.
	 */
	if (a->snap_json && !json_memo_changed(a->memo) &&
	    snapshot_same_but_version(json, a->snap_json)) {
		free(json);
		return;
	}
	len = a->memo ? json_memo_last_len(a->memo) : strlen(json);
	a->snap_version = agent_next_version(a);
	old = a->snap_json;
	a->snap_json = json;
	pr_info("snapshot version %llu: %zu workload(s), %zu service(s), %zu certificate(s)",
		(unsigned long long)a->snap_version, a->cur.n_snap_workloads,
		a->cur.n_snap_services, a->certs.n);
	/* The server borrows it: the old one goes once the server holds the new one. */
	if (a->srv && server_publish_borrowed(a->srv, json, len))
		pr_err("snapshot version %llu: cannot publish: out of memory",
		       (unsigned long long)a->snap_version);
	free(old);
	return;
nomem:
	pr_err("snapshot: cannot encode: %s", strerror(errno ? errno : ENOMEM));
}

static void sync_certs(struct agent *a)
{
	bool changed;

	if (cert_store_sync(&a->certs, a->cur.identities, a->cur.n_identities, time(NULL),
			    agent_issue, a, &changed))
		pr_err("certificates: out of memory; retrying later");
}

/*
 * On Kubernetes a waypoint pod of this node (deploy/waypoint.yaml.tmpl), or a gateway's pod
 * (labelled istio: ingressgateway or egressgateway, as Istio's), is served under the host
 * directory beside the agent's socket, waypoints/<namespace>_<pod>/, which the pod mounts as
 * its own (subPathExpr); wpserve admits only processes of the pod's cgroup. 0 or -ENOMEM.
 */
static int kube_waypoint_dirs(const struct agent *a, struct runtime *rt)
{
	char dir[PATH_MAX], path[PATH_MAX * 2];
	const char *slash = strrchr(a->opts.socket, '/');

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - a->opts.socket) : 1,
		 slash ? a->opts.socket : ".");
	for (size_t i = 0; i < rt->n_pods; i++) {
		struct rt_pod *p = &rt->pods[i];

		/* A waypoint's instance, or a gateway's pod as Istio labels them (istio: ...). */
		if (p->agent_dir || !p->here ||
		    (!config_label_get(&p->labels, CONFIG_LABEL_GATEWAY_NAME) &&
		     !config_istio_gateway_labelled(&p->labels)))
			continue;
		snprintf(path, sizeof(path), "%s/waypoints/%s_%s", dir, p->namespace, p->name);
		p->agent_dir = strdup(path);
		if (!p->agent_dir)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The Kubernetes source: its changes are taken into the store as they come (main.c); the pods
 * follow from the Pods in force. Nothing is applied before every kind was listed once: a
 * partial copy would unenroll the pods of the kinds not yet read.
 */
static bool load_kube(struct agent *a, const struct config *view)
{
	struct runtime rt;
	struct rt_cluster cl;
	int ret;

	if (!ksource_synced(a->kube)) {
		pr_info("reconcile: waiting for the first list of every Kubernetes kind");
		return false;
	}
	ret = ksource_runtime_from(a->kube, view, &a->rt, &rt, &cl);
	if (!ret)
		ret = kube_waypoint_dirs(a, &rt);
	if (ret) {
		runtime_free(&rt);
		runtime_cluster_free(&cl);
		pr_err("kubernetes: pod list: %s; keeping the last one", strerror(-ret));
		return a->rt_ok;
	}
	runtime_adopt(&rt, &a->rt);
	runtime_free(&a->rt);
	runtime_cluster_free(&a->cluster);
	a->rt = rt;
	a->cluster = cl;
	a->rt_ok = true;
	return true;
}

/* The local state directory, pods.json and cluster.json (the local cluster). */
static void load_dir(struct agent *a)
{
	struct runtime rt;
	struct rt_cluster cl;
	char err[256] = "";
	bool changed;
	int ret;

	/*
	 * The generation first: ambitctl writes it after the objects of a change, so every object
	 * of generation G is in the scan that follows once G is read.
	 */
	a->generation_seen = read_u64_file(a->opts.generation_path);
	agent_mesh_off(a);
	ret = confstore_reload(&a->conf, a->opts.state_dir, &changed);
	if (ret)
		pr_err("state directory %s: %s; keeping the last good config", a->opts.state_dir,
		       strerror(-ret));
	ret = runtime_load(a->opts.runtime_path, &rt, err, sizeof(err));
	if (ret) {
		runtime_free(&rt);
		if (strcmp(err, a->rt_error) != 0)
			pr_err("%s: %s; keeping the last good pod list", a->opts.runtime_path, err);
		snprintf(a->rt_error, sizeof(a->rt_error), "%s: %s", a->opts.runtime_path, err);
	} else {
		runtime_free(&a->rt);
		a->rt = rt;
		a->rt_error[0] = '\0';
		a->rt_ok = true;
	}
	/* cluster.json is optional (Kubernetes has no such file); remote node IPs need it. */
	if (runtime_cluster_load(a->opts.cluster_path, &cl, err, sizeof(err)) == 0) {
		runtime_cluster_free(&a->cluster);
		a->cluster = cl;
	} else {
		runtime_cluster_free(&cl);
	}
}

/*
 * A hash of what desired_remote_udp reads of @rs: the remote shares' hostnames and the made
 * Services' addresses and ports, in order.
 */
static uint64_t remote_udp_key(const struct remote_set *rs)
{
	XXH3_state_t *st = XXH3_createState();
	uint64_t h;

	if (!st)
		return 0; /* out of memory: a reconcile is never skipped on a key it could not make
			   */
	XXH3_64bits_reset(st);
	for (size_t i = 0; i < rs->n_services; i++)
		XXH3_64bits_update(st, rs->services[i].hostname,
				   strlen(rs->services[i].hostname) + 1);
	for (size_t i = 0; i < rs->n_made; i++) {
		const struct snap_service *m = &rs->made[i];

		XXH3_64bits_update(st, &m->vip, sizeof(m->vip));
		XXH3_64bits_update(st, &m->vip6, sizeof(m->vip6));
		for (size_t k = 0; k < m->nports; k++)
			XXH3_64bits_update(st, &m->ports[k].port, sizeof(m->ports[k].port));
	}
	h = XXH3_64bits_digest(st) | 1;
	XXH3_freeState(st);
	return h;
}

/* The remote clusters the remote secrets of @view name, read where they changed. */
static void agent_remote(struct agent *a, const struct config *view)
{
	struct remote_env env = {
	    .root_namespace = a->opts.root_namespace,
	    .cluster_id = a->opts.cluster_id ? a->opts.cluster_id : SNAP_CLUSTER_ID,
	    .trust_domain = a->opts.trust_domain,
	    .network = a->network,
	};
	bool changed = false;

	if (remote_sync(&a->remote, view, &env, &changed))
		pr_err("remote clusters: out of memory; keeping what was read before");
}

/* Monotonic milliseconds, for the phases of a reconcile logged at debug level. */
static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* --capture-mode auto: decided by the first local pod whose host-side veth is known. */
static void capture_resolve(struct agent *a, const struct desired *next)
{
	enum capture_mode m;

	if (a->capture != CAPTURE_AUTO)
		return;
	m = inpod_detect(next);
	if (m == CAPTURE_AUTO)
		return;
	a->capture = m;
	pr_info("capture mode: %s (auto: the pods' host-side veths %s a bridge's ports)",
		capture_mode_name(m), m == CAPTURE_INPOD ? "are" : "are not");
}

/*
 * The network this node's snapshots name: the root namespace's topology.istio.io/network
 * label, as Istio reads a cluster's network, else --network. A label that is no label value
 * cannot be there (the API server and ambitctl refuse it); one is ignored all the same.
 */
static void agent_network(struct agent *a, const struct config *view)
{
	const struct config_namespace *ns = config_find_namespace(view, a->opts.root_namespace);
	const char *v = ns ? config_label_get(&ns->meta.labels, CONFIG_LABEL_NETWORK) : NULL;

	if (!v || !*v || !config_label_value_ok(v))
		v = a->opts.network ? a->opts.network : "";
	if (strcmp(a->network, v))
		pr_info("network: %s", *v ? v : "(none)");
	snprintf(a->network, sizeof(a->network), "%s", v);
}

static void trust_aliases_free(struct agent *a)
{
	for (size_t i = 0; i < a->n_td_aliases; i++)
		free(a->td_aliases[i]);
	a->n_td_aliases = 0;
}

/*
 * The trust domain's aliases: --trust-domain-alias, then the mesh config's
 * trustDomainAliases (Istio's: clusters of one mesh with trust domains of their own), without
 * repeats or the trust domain itself, at most 32. Out of memory keeps what was there.
 */
static void agent_trust_aliases(struct agent *a, const struct config *view)
{
	const struct config_mesh *mesh = config_mesh_of(view);
	const char *want[32];
	char *copy[32];
	size_t n = 0, had = a->n_td_aliases;
	bool same;

	for (size_t i = 0;
	     i < a->opts.n_trust_domain_aliases + (mesh ? mesh->trust_domain_aliases.n : 0); i++) {
		const char *v =
		    i < a->opts.n_trust_domain_aliases
			? a->opts.trust_domain_aliases[i]
			: mesh->trust_domain_aliases.items[i - a->opts.n_trust_domain_aliases];
		bool dup = !strcmp(v, a->opts.trust_domain);

		for (size_t j = 0; !dup && j < n; j++)
			dup = !strcmp(want[j], v);
		if (!dup && n < 32)
			want[n++] = v;
	}
	same = n == had;
	for (size_t i = 0; same && i < n; i++)
		same = !strcmp(want[i], a->td_aliases[i]);
	if (same)
		return;
	for (size_t i = 0; i < n; i++)
		if (!(copy[i] = strdup(want[i]))) {
			while (i--)
				free(copy[i]);
			pr_err("trust domain aliases: out of memory; the old ones stay");
			return;
		}
	trust_aliases_free(a);
	memcpy(a->td_aliases, copy, n * sizeof(*copy));
	a->n_td_aliases = n;
	pr_info("trust domain %s, %zu alias(es)", a->opts.trust_domain, n);
}

void agent_reconcile(struct agent *a)
{
	double t[8];

	struct desired_env env = {
	    .node = a->opts.node,
	    .node_ip = a->opts.node_ip,
	    .ipv6 = !IN6_IS_ADDR_UNSPECIFIED(&a->opts.node_ip6),
	    .trust_domain = a->opts.trust_domain,
	    .cluster = &a->cluster,
	    .ifindex_of = env_ifindex,
	    .cgroup_id_of = env_cgroup_id,
	    .prev = a->have_cur ? &a->cur : NULL,
	};
	struct waypoint_view wv = {0};
	struct desired next;
	struct config view;
	bool *fresh;
	int err;

	if (!a->kube)
		load_dir(a);
	a->reconcile_due = false;
	/*
	 * Right after a restart with a broken pods.json we know no pod at all: applying that
	 * would unenroll and unpublish every pod. Leave the pinned state alone until it parses.
	 */
	if (!a->kube && !a->rt_ok) {
		pr_warn("reconcile: no valid pod list yet; the data path is left as it is");
		return;
	}
	t[0] = mono_ms();
	err = confstore_view(&a->conf, &view);
	if (err) {
		pr_err("reconcile: cannot read the config: %s; retrying on the next change",
		       strerror(-err));
		return;
	}
	if (a->kube && !load_kube(a, &view)) {
		confstore_view_free(&view);
		return;
	}
	agent_network(a, &view);
	agent_trust_aliases(a, &view);
	agent_remote(a, &view);
	/* The waypoint bindings, for the node's snapshot and the waypoints' alike. */
	if (!waypoint_view_build(&wv, &view, &a->rt, a->opts.trust_domain,
				 a->jwks ? jwks_fetcher_get : NULL, a->jwks))
		env.waypoints = &wv;
	env.remote = a->remote.services;
	env.n_remote = a->remote.n_services;
	env.made = a->remote.made;
	env.n_made = a->remote.n_made;
	a->remote_udp = remote_udp_key(&a->remote);
	t[1] = mono_ms();
	err = desired_compute(&view, &a->rt, &env, &next);
	t[2] = mono_ms();
	if (!err)
		policy_sync_update(&a->policy, &view, &a->rt, a->opts.root_namespace);
	t[3] = mono_ms();
	if (err) {
		waypoint_view_free(&wv);
		confstore_view_free(&view);
		desired_free(&next);
		pr_err("reconcile: cannot compute the desired state: %s; retrying on the next "
		       "change",
		       strerror(-err));
		return;
	}
	a->apply_errors = 0;
	capture_resolve(a, &next);
	sync_fastdrop(a, &next);
	/* In-pod pods are set up in their netns before the maps send their traffic there. */
	if (a->capture == CAPTURE_INPOD && a->inpod_open)
		inpod_sync_before(&a->inpod, &next);
	log_changes(a, &next);
	fresh = preflows_before(a->dp, &next);
	apply_maps(a, &next);
	preflows_after(a->dp, &next, fresh);
	apply_tc(a, &next);
	sync_kubelet(a);
	if (a->inpod_open)
		inpod_sync_after(&a->inpod, &next);
	desired_adopt(&next, &a->cur);
	desired_free(&a->cur);
	a->cur = next;
	a->have_cur = true;
	t[4] = mono_ms();
	sync_certs(a);
	/*
	 * The waypoints' and gateways' models before the ztunnels' snapshots: a ztunnel told of a
	 * new binding first would send a Service's requests to a waypoint that does not know it
	 * yet (404 NR meanwhile). This narrows the window, it does not close it: the waypoint
	 * loads what it is served within 200 ms, and one on another node hears from its own agent.
	 */
	wpserve_sync(a, &view, env.waypoints);
	t[5] = mono_ms();
	publish(a);
	waypoint_view_free(&wv);
	confstore_view_free(&view);
	t[6] = mono_ms();
	pr_debug("reconcile: %.1f ms (view %.1f, desired %.1f, policy %.1f, apply %.1f, "
		 "waypoints %.1f, publish %.1f)",
		 t[6] - t[0], t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4],
		 t[6] - t[5]);
	a->config_generation = a->generation_seen;
	if (a->apply_errors)
		pr_warn("reconcile: %u datapath operation(s) failed; retried on the next change",
			a->apply_errors);
}

void agent_remote_refresh(struct agent *a)
{
	struct config view;

	/* Before a first reconcile there is nothing to publish the remote clusters with. */
	if (!a->have_cur || confstore_view(&a->conf, &view)) {
		agent_reconcile(a);
		return;
	}
	agent_remote(a, &view);
	/* A global Service came or went: the kernel's UDP capture follows (desired_remote_udp). */
	if (remote_udp_key(&a->remote) != a->remote_udp) {
		confstore_view_free(&view);
		agent_reconcile(a);
		return;
	}
	/* The waypoints balance over other clusters' endpoints too: theirs before the ztunnels'. */
	wpserve_sync(a, &view, NULL);
	confstore_view_free(&view);
	publish(a);
}

void agent_renew_certs(struct agent *a)
{
	struct config view;

	sync_certs(a);
	publish(a);
	if (confstore_view(&a->conf, &view) == 0) {
		wpserve_sync(a, &view, NULL);
		confstore_view_free(&view);
	}
}

time_t agent_next_cert_deadline(const struct agent *a)
{
	time_t n = cert_store_next_deadline(&a->certs), w = wpserve_next_cert_deadline(a);

	return !n || (w && w < n) ? w : n;
}

/*
 * The L7 model waypoint @ns_name ("ns/name") is served, as JSON (what `ambitctl check` judges
 * a request with: the same compile, jwksUri key sets included). NULL with @err set.
 */
/* The L7 model of waypoint (or, with @gateway, gateway proxy) @ns_name, as JSON (malloc'd). */
static char *waypoint_l7_json(struct agent *a, const char *ns_name, bool gateway, char *err,
			      size_t errlen)
{
	const char *kind = gateway ? "gateway" : "waypoint";
	struct waypoint_view wv = {0};
	struct config view;
	struct l7_config *l7 = NULL;
	char *json = NULL;
	cJSON *j;

	err[0] = '\0';
	if (confstore_view(&a->conf, &view)) {
		snprintf(err, errlen, "waypoint: out of memory");
		return NULL;
	}
	if (waypoint_view_build(&wv, &view, &a->rt, a->opts.trust_domain,
				a->jwks ? jwks_fetcher_get : NULL, a->jwks)) {
		snprintf(err, errlen, "waypoint: out of memory");
		goto out;
	}
	for (size_t i = 0; i < (gateway ? wv.b.n_gateways : wv.b.n_waypoints) && !l7; i++) {
		const struct l7_waypoint *w = gateway ? &wv.b.gateways[i] : &wv.b.waypoints[i];
		char name[600];

		snprintf(name, sizeof(name), "%s/%s", w->namespace, w->name);
		if (!strcmp(name, ns_name) && !(l7 = l7_compile(&wv.in, &wv.b, w)))
			snprintf(err, errlen, "%s %s: cannot compile: %s", kind, ns_name,
				 strerror(errno));
	}
	if (!l7) {
		if (!err[0])
			snprintf(err, errlen, "no %s %s", kind, ns_name);
		goto out;
	}
	j = l7_to_json(l7);
	json = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (!json)
		snprintf(err, errlen, "%s %s: out of memory", kind, ns_name);
out:
	l7_config_free(l7);
	waypoint_view_free(&wv);
	confstore_view_free(&view);
	return json;
}

char *agent_get(void *ctx, const char *what, char *err, size_t errlen)
{
	struct agent *a = ctx;
	struct snapshot s;
	char *json;

	if (strcmp(what, "status") == 0) {
		json = agent_status_json(a);
		if (!json)
			snprintf(err, errlen, "status: out of memory");
		return json;
	}
	if (!strncmp(what, "waypoint ", 9))
		return waypoint_l7_json(a, what + 9, false, err, errlen);
	if (!strncmp(what, "gateway ", 8))
		return waypoint_l7_json(a, what + 8, true, err, errlen);
	if (strcmp(what, "snapshot") != 0) {
		snprintf(err, errlen,
			 "unknown \"what\" (want \"snapshot\", \"status\", \"waypoint NS/NAME\" "
			 "or \"gateway NS/NAME\")");
		return NULL;
	}
	if (snapshot_view(a, &s)) {
		snprintf(err, errlen, "snapshot: out of memory");
		return NULL;
	}
	json = snapshot_encode_public(&s);
	snapshot_view_free(a, &s);
	if (!json)
		snprintf(err, errlen, "snapshot: cannot encode");
	return json;
}

void agent_mesh_off(struct agent *a)
{
	bool off = a->opts.uninstalled_file && access(a->opts.uninstalled_file, F_OK) == 0;

	if (off != a->conf.mesh_off)
		pr_info("%s: %s", a->opts.uninstalled_file,
			off ? "ambit is uninstalled from the cluster: no pod is in the mesh; this "
			      "node keeps its Service load balancing"
			    : "gone: pods are in the mesh as their namespaces say");
	a->conf.mesh_off = off;
}

int agent_kconn(const struct agent_opts *o, struct kconn *c, char *why, size_t len)
{
	return o->kubeconfig ? kconn_kubeconfig(c, o->kubeconfig, NULL, why, len)
			     : kconn_in_cluster(c, o->kube_sa_dir, why, len);
}

/* Whether the API server says the DaemonSet "ns/name" is gone or going; false when unsure. */
static bool daemonset_gone(const struct agent *a, const char *ns_name)
{
	struct kconn conn = {0};
	char why[512] = "";
	int gone;

	if (agent_kconn(&a->opts, &conn, why, sizeof(why))) {
		pr_warn("uninstall check: %s", why);
		kconn_free(&conn);
		return false;
	}
	gone = kconn_daemonset_gone(&conn, ns_name, why, sizeof(why));
	if (gone < 0)
		pr_info("uninstall check: DaemonSet %s: %s; the node's state stays", ns_name, why);
	kconn_free(&conn);
	return gone > 0;
}

void agent_uninstall_if_gone(struct agent *a)
{
	int err;

	if (a->opts.uninstalled_file && access(a->opts.uninstalled_file, F_OK) == 0)
		pr_info("%s is there: removing this node's data path (an uninstall)",
			a->opts.uninstalled_file);
	else if (a->opts.owner_daemonset && daemonset_gone(a, a->opts.owner_daemonset))
		pr_info("DaemonSet %s is gone: removing this node's data path (an uninstall)",
			a->opts.owner_daemonset);
	else
		return;
	/* The in-pod pods' programs and routes, in their netns. */
	if (a->inpod_open) {
		inpod_close(&a->inpod, true);
		a->inpod_open = false;
	}
	for (size_t i = 0; a->dp && i < a->n_tc; i++) {
		err = datapath_detach_tc_veth(a->dp, a->tc_ifindexes[i]);
		if (err && err != -ENOENT && err != -ENODEV)
			pr_warn("tc detach from ifindex %d: %s", a->tc_ifindexes[i],
				strerror(-err));
	}
	if (a->dp && a->uplink_ifindex) {
		err = datapath_detach_tc(a->dp, a->uplink_ifindex);
		if (err && err != -ENOENT)
			pr_warn("tc detach from the uplink: %s", strerror(-err));
	}
	/* The links go with their pins once no fd holds them: close ours first. */
	datapath_close(a->dp);
	a->dp = NULL;
	err = datapath_remove_pins(a->opts.pin_root);
	if (err)
		pr_warn("pins under %s: %s", a->opts.pin_root, strerror(-err));
	netsetup_policy_routing_remove();
	pr_info("node state removed: tc filters, cgroup programs, pins, policy routing");
}

void agent_cleanup(struct agent *a)
{
	/* The pods stay captured: the ztunnels keep their netns, the next agent takes over. */
	if (a->inpod_open)
		inpod_close(&a->inpod, false);
	a->inpod_open = false;
	wpserve_free(a);
	agent_credentials_free(a);
	ksource_stop(a->kube);
	a->kube = NULL;
	server_destroy(a->srv);
	a->srv = NULL;
	cert_store_free(&a->certs);
	policy_sync_free(&a->policy);
	desired_free(&a->cur);
	trust_aliases_free(a);
	remote_free(&a->remote);
	confstore_free(&a->conf);
	runtime_free(&a->rt);
	runtime_cluster_free(&a->cluster);
	dp_services_free(a->applied_svcs, a->n_applied_svcs);
	dp_services6_free(a->applied_svcs6, a->n_applied_svcs6);
	a->applied_svcs = NULL;
	free(a->tc_ifindexes);
	a->tc_ifindexes = NULL;
	agent_cni_free(a);
	json_memo_free(a->memo);
	free(a->snap_json);
	a->snap_json = NULL;
	ca_destroy(a->ca);
	a->ca = NULL;
	free(a->root_pem);
	a->root_pem = NULL;
	datapath_close(a->dp);
	a->dp = NULL;
}
