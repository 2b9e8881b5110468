// SPDX-License-Identifier: Apache-2.0
/*
 * The flows a pod captured the host way had open when it was enrolled (preflows, preflows6 of
 * bpf_abi.h). The node's tc program refuses a segment to a captured pod that is not a SYN and that
 * no socket of the node owns (bpf/lib/preflow.h): the pod's own sockets are in its netns, out of
 * the program's sight, so the connections it had before it was captured are read there
 * (sock_diag) and written to the maps, before the workloads map captures the pod and once more
 * right after (a connection that opened in between). Each reconcile (at least every resync)
 * forgets the flows of pods no longer captured the host way, and those that ended.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "l4/desired.h"
#include "netsetup.h"
#include "podns.h"
#include "preflows.h"

/* A pod's open flows, peer to pod, as the maps key them. */
struct flows {
	struct ambit_flow *v4;
	struct ambit_flow6 *v6;
	size_t n4, n6, cap4, cap6;
};

static void flows_free(struct flows *f)
{
	free(f->v4);
	free(f->v6);
	memset(f, 0, sizeof(*f));
}

static int flow_add(uint8_t family, const struct inet_diag_sockid *id, void *ctx)
{
	struct flows *f = ctx;

	if (family == AF_INET) {
		if (f->n4 == f->cap4) {
			size_t cap = f->cap4 ? f->cap4 * 2 : 16;
			struct ambit_flow *v = reallocarray(f->v4, cap, sizeof(*v));

			if (!v)
				return -ENOMEM;
			f->v4 = v;
			f->cap4 = cap;
		}
		f->v4[f->n4++] = (struct ambit_flow){.saddr = id->idiag_dst[0],
						     .daddr = id->idiag_src[0],
						     .sport = id->idiag_dport,
						     .dport = id->idiag_sport};
		return 0;
	}
	if (f->n6 == f->cap6) {
		size_t cap = f->cap6 ? f->cap6 * 2 : 16;
		struct ambit_flow6 *v = reallocarray(f->v6, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		f->v6 = v;
		f->cap6 = cap;
	}
	f->v6[f->n6] = (struct ambit_flow6){.sport = id->idiag_dport, .dport = id->idiag_sport};
	memcpy(f->v6[f->n6].saddr, id->idiag_dst, sizeof(f->v6[f->n6].saddr));
	memcpy(f->v6[f->n6].daddr, id->idiag_src, sizeof(f->v6[f->n6].daddr));
	f->n6++;
	return 0;
}

/* setns changes the calling thread only: the scan runs in a thread of its own. */
struct scan_job {
	int nsfd;
	uint32_t ip;
	const struct in6_addr *ip6;
	struct flows *out;
	int ret;
};

static void *scan_work(void *arg)
{
	struct scan_job *j = arg;

	if (setns(j->nsfd, CLONE_NEWNET) < 0) {
		j->ret = -errno;
		return NULL;
	}
	j->ret = netsetup_pod_conns(j->ip, j->ip6, flow_add, j->out);
	return NULL;
}

/* Pod @lp's open flows into @out (emptied first). 0, or -errno with the reason in @why. */
static int pod_flows(const struct desired_local_pod *lp, struct flows *out, char *why, size_t len)
{
	struct scan_job j = {.ip = lp->ip, .out = out, .ret = -EIO};
	struct ipaddr addr;
	struct podns ns;
	pthread_t t;
	int err;

	flows_free(out);
	if (!lp->cgroup) {
		snprintf(why, len, "no cgroup known");
		return -ENOENT;
	}
	if (lp->ip)
		ipaddr_from_v4(&addr, lp->ip);
	else
		addr = lp->ip6;
	err = podns_in_cgroup(lp->cgroup, lp->uid, &addr, &ns, why, len);
	if (err)
		return err;
	j.ip6 = lp->ip6.family == AF_INET6 ? (const struct in6_addr *)lp->ip6.a : NULL;
	j.nsfd = open(ns.netns, O_RDONLY | O_CLOEXEC);
	if (j.nsfd < 0) {
		err = -errno;
		snprintf(why, len, "open %s: %s", ns.netns, strerror(errno));
		return err;
	}
	err = pthread_create(&t, NULL, scan_work, &j);
	if (err) {
		close(j.nsfd);
		snprintf(why, len, "thread: %s", strerror(err));
		return -err;
	}
	pthread_join(t, NULL);
	close(j.nsfd);
	if (j.ret)
		snprintf(why, len, "sock_diag in its netns: %s", strerror(-j.ret));
	return j.ret;
}

/* Whether @lp is captured the host way once @next is applied. */
static bool host_captured(const struct desired_local_pod *lp)
{
	return lp->enrolled && !lp->inpod && (lp->ip || lp->ip6.family == AF_INET6);
}

/* Whether the kernel's workloads map captures @lp the host way already. */
static bool kernel_captures(struct datapath *dp, const struct desired_local_pod *lp)
{
	const uint32_t all = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD;
	struct ambit_workload wl;
	int fd;

	if (lp->ip) {
		fd = datapath_map_fd(dp, "workloads");
		return fd >= 0 && !bpf_map_lookup_elem(fd, &lp->ip, &wl) &&
		       (wl.flags & all) == (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL);
	}
	fd = datapath_map_fd(dp, "workloads6");
	return fd >= 0 && !bpf_map_lookup_elem(fd, lp->ip6.a, &wl) &&
	       (wl.flags & all) == (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL);
}

/* Writes @lp's open flows; how many, or -errno (said in the log). */
static int record(struct datapath *dp, const struct desired_local_pod *lp)
{
	struct flows f = {0};
	char why[512];
	int err = pod_flows(lp, &f, why, sizeof(why));

	/* No cgroup or no process yet (ambit-cni enrols a pod before it runs): no connection. */
	if (err == -ENOENT || err == -ESRCH) {
		pr_debug("pod %s: no connection to let finish: %s", lp->uid, why);
		return 0;
	}
	if (err) {
		pr_warn("pod %s: its open connections, to let them finish: %s; their segments are "
			"refused once it is captured",
			lp->uid, why);
		return err;
	}
	for (size_t i = 0; i < f.n4 && !err; i++)
		err = datapath_set_preflow(dp, &f.v4[i]);
	for (size_t i = 0; i < f.n6 && !err; i++)
		err = datapath_set_preflow6(dp, &f.v6[i]);
	if (err)
		pr_warn("pod %s: recording its open connections: %s", lp->uid, strerror(-err));
	else
		err = (int)(f.n4 + f.n6);
	flows_free(&f);
	return err;
}

bool *preflows_before(struct datapath *dp, const struct desired *next)
{
	bool *fresh;

	if (!next->n_local)
		return NULL;
	fresh = calloc(next->n_local, sizeof(*fresh));
	if (!fresh) {
		pr_warn(
		    "preflows: no memory: pods enrolled now have their open connections refused");
		return NULL;
	}
	for (size_t i = 0; i < next->n_local; i++) {
		const struct desired_local_pod *lp = &next->local[i];

		if (!host_captured(lp) || kernel_captures(dp, lp))
			continue;
		fresh[i] = true;
		record(dp, lp);
	}
	return fresh;
}

/* The index in @next->local of the pod captured the host way at @addr (@v6: IPv6), or -1. */
static long captured_pod(const struct desired *next, bool v6, const void *addr)
{
	for (size_t i = 0; i < next->n_local; i++) {
		const struct desired_local_pod *lp = &next->local[i];

		if (!host_captured(lp))
			continue;
		if (v6 ? lp->ip6.family == AF_INET6 && !memcmp(lp->ip6.a, addr, 16)
		       : lp->ip && !memcmp(&lp->ip, addr, 4))
			return (long)i;
	}
	return -1;
}

static bool flow_open(const struct flows *f, bool v6, const void *key)
{
	if (v6) {
		for (size_t i = 0; i < f->n6; i++)
			if (!memcmp(&f->v6[i], key, sizeof(f->v6[i])))
				return true;
		return false;
	}
	for (size_t i = 0; i < f->n4; i++)
		if (!memcmp(&f->v4[i], key, sizeof(f->v4[i])))
			return true;
	return false;
}

/* A pod's flows as read once for a sweep: unread, read, or unreadable (its entries stay). */
struct pod_scan {
	enum { SCAN_NONE, SCAN_OK, SCAN_FAILED } state;
	struct flows f;
};

/*
 * preflows (@v6: preflows6): deletes the entries of pods @next does not capture the host way,
 * and of flows their pod no longer has open; each pod's connections read once (@scans, one a
 * pod of @next).
 */
static void sweep(struct datapath *dp, const struct desired *next, bool v6, struct pod_scan *scans)
{
	size_t off = v6 ? offsetof(struct ambit_flow6, daddr) : offsetof(struct ambit_flow, daddr);
	int fd = datapath_map_fd(dp, v6 ? "preflows6" : "preflows");
	void *keys = NULL, *vals = NULL;
	uint32_t ksz, vsz;
	char why[512];
	size_t n;

	if (fd < 0 || datapath_map_dump(fd, &keys, &vals, &n, &ksz, &vsz))
		return;
	for (size_t i = 0; i < n; i++) {
		const char *k = (const char *)keys + i * ksz;
		long p = captured_pod(next, v6, k + off);

		if (p >= 0 && scans[p].state == SCAN_NONE) {
			scans[p].state = pod_flows(&next->local[p], &scans[p].f, why, sizeof(why))
					     ? SCAN_FAILED
					     : SCAN_OK;
			if (scans[p].state == SCAN_FAILED)
				pr_debug("pod %s: its connections: %s", next->local[p].uid, why);
		}
		if (p >= 0 && (scans[p].state == SCAN_FAILED || flow_open(&scans[p].f, v6, k)))
			continue;
		if (bpf_map_delete_elem(fd, k) && errno != ENOENT)
			pr_warn("preflows: delete: %s", strerror(errno));
	}
	free(keys);
	free(vals);
}

void preflows_after(struct datapath *dp, const struct desired *next, bool *fresh)
{
	struct pod_scan *scans;

	for (size_t i = 0; fresh && i < next->n_local; i++) {
		int n;

		if (!fresh[i])
			continue;
		n = record(dp, &next->local[i]);
		if (n > 0)
			pr_info(
			    "pod %s: %d connection(s) it had before it was captured are let finish",
			    next->local[i].uid, n);
	}
	free(fresh);
	scans = calloc(next->n_local ? next->n_local : 1, sizeof(*scans));
	if (!scans) {
		pr_warn("preflows: no memory to sweep; tried again at the next reconcile");
		return;
	}
	sweep(dp, next, false, scans);
	sweep(dp, next, true, scans);
	for (size_t i = 0; i < next->n_local; i++)
		flows_free(&scans[i].f);
	free(scans);
}
