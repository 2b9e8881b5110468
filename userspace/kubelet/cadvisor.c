// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl local cadvisor --name C --node N` (hidden; `local up --with-prometheus` starts one
 * per node, in the node's network namespace): what a Kubernetes node's kubelet serves on
 * /metrics/cadvisor, for the pods of this node and its ztunnel, read from their cgroups as
 * cAdvisor reads them. Istio's dashboards chart the proxies' CPU and memory from these:
 *   container_cpu_usage_seconds_total{container,namespace,pod,cpu="total"}  cpu.stat usage_usec
 *   container_memory_working_set_bytes{container,namespace,pod}   memory.current - inactive_file
 *   container_memory_rss{container,namespace,pod}                  memory.stat anon
 * (where the memory controller is cgroup v1's, as on a hybrid host: the resident memory of the
 * cgroup's processes for both)
 *   container_fs_usage_bytes{container,namespace,pod}  its writable layer (blocks on disk)
 * A pod's container is its manifest's containers[0].name; a waypoint's or gateway's is
 * istio-proxy, as Istio names it. The ztunnel runs beside the node's agent, not in a cgroup of
 * its own: it is read from its process (/proc/PID: CPU time, resident memory) and named as
 * Istio's ztunnel pod is (istio-system/ztunnel-<node>, container istio-proxy).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include "kubelet.h"
#include "http/httpd.h"
#include "net/procmetrics.h"
#include "net/prom.h"

#define CADVISOR_PORT 4194 /* cAdvisor's own */

struct cad {
	struct ctl_cluster c;
	const struct ctl_node *n;
};

struct usage {
	double cpu_s, working_set, rss;
};

static int read_u64(const char *dir, const char *file, unsigned long long *v)
{
	char path[PATH_MAX + 64], buf[64];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	ok = f && fgets(buf, sizeof(buf), f) && sscanf(buf, "%llu", v) == 1;
	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

/* The value of @key in flat-keyed @file of cgroup @dir (cpu.stat, memory.stat). */
static int read_key(const char *dir, const char *file, const char *key, unsigned long long *v)
{
	char path[PATH_MAX + 64], line[256], k[128];
	unsigned long long x;
	FILE *f;
	int ret = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	while (f && ret && fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %llu", k, &x) == 2 && !strcmp(k, key)) {
			*v = x;
			ret = 0;
		}
	if (f)
		fclose(f);
	return ret;
}

/* The resident bytes of the processes of cgroup @dir and of its child cgroups. */
static double procs_rss(const char *dir, int depth)
{
	char path[PATH_MAX + 64], line[64];
	long page = sysconf(_SC_PAGESIZE);
	double sum = 0;
	DIR *d;
	struct dirent *e;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char statm[64];
		long long size, res;
		FILE *m;

		snprintf(statm, sizeof(statm), "/proc/%d/statm", atoi(line));
		m = fopen(statm, "r");
		if (m && fscanf(m, "%lld %lld", &size, &res) == 2)
			sum += (double)res * (double)page;
		if (m)
			fclose(m);
	}
	if (f)
		fclose(f);
	d = depth < 4 ? opendir(dir) : NULL;
	while (d && (e = readdir(d)))
		if (e->d_type == DT_DIR && e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			sum += procs_rss(path, depth + 1);
		}
	if (d)
		closedir(d);
	return sum;
}

/*
 * CPU from cpu.stat (always there on cgroup v2); memory from the memory controller when the
 * hierarchy delegates it, else (a hybrid host, where it is cgroup v1's) the resident memory
 * of the cgroup's processes.
 */
static int cgroup_usage(const char *cg, struct usage *u)
{
	unsigned long long usec, cur, inactive = 0, anon = 0;

	if (read_key(cg, "cpu.stat", "usage_usec", &usec))
		return -1;
	u->cpu_s = (double)usec / 1e6;
	if (!read_u64(cg, "memory.current", &cur)) {
		read_key(cg, "memory.stat", "inactive_file", &inactive);
		read_key(cg, "memory.stat", "anon", &anon);
		u->working_set = (double)(cur > inactive ? cur - inactive : 0);
		u->rss = (double)anon;
	} else {
		u->rss = u->working_set = procs_rss(cg, 0);
	}
	return 0;
}

static int proc_usage(int pid, struct usage *u)
{
	struct procmetrics_stat ps;

	if (procmetrics_stat(pid, &ps))
		return -1;
	u->cpu_s = ps.cpu_s;
	u->rss = u->working_set = ps.rss;
	return 0;
}

/* The one MHD thread serves every request: one walk at a time. */
static double du_total;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	du_total += (double)st->st_blocks * 512;
	return 0;
}

/*
 * What the container wrote: its writable layer, the pod's own /tmp, /run and /var (its scratch
 * directory and the upper layer of its /var, sandbox.c), as blocks on disk.
 */
static double fs_usage(const struct ctl_cluster *c, const char *ns, const char *pod)
{
	char dir[PATH_MAX];

	du_total = 0;
	cluster_path(c, dir, sizeof(dir), "pods/%s_%s", ns, pod);
	nftw(dir, du_one, 16, FTW_PHYS | FTW_MOUNT);
	cluster_path(c, dir, sizeof(dir), "pods/%s_%s.rootfs", ns, pod);
	nftw(dir, du_one, 16, FTW_PHYS | FTW_MOUNT);
	return du_total;
}

static void series(struct prom_buf *b, const char *ns, const char *pod, const char *ctr,
		   const struct usage *u)
{
	struct prom_label l[] = {{"container", ctr}, {"namespace", ns}, {"pod", pod}};
	char labels[1024];

	prom_labels(l, 3, labels, sizeof(labels));
	prom_printf(b, "container_cpu_usage_seconds_total{%s,cpu=\"total\"} %.6f\n", labels,
		    u->cpu_s);
	prom_printf(b, "container_memory_working_set_bytes{%s} %.0f\n", labels, u->working_set);
	prom_printf(b, "container_memory_rss{%s} %.0f\n", labels, u->rss);
}

static char *render(struct cad *x)
{
	struct prom_buf b = {0};
	cJSON *pods = plan_read_pods_json(&x->c), *pod;
	char pidf[PATH_MAX], *txt, zname[64];
	struct usage u;

	prom_printf(&b, "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in "
			"seconds.\n# TYPE container_cpu_usage_seconds_total counter\n"
			"# HELP container_memory_working_set_bytes Current working set in bytes.\n"
			"# TYPE container_memory_working_set_bytes gauge\n"
			"# HELP container_memory_rss Size of RSS in bytes.\n"
			"# TYPE container_memory_rss gauge\n"
			"# HELP container_fs_usage_bytes Number of bytes that are consumed by the "
			"container on this filesystem.\n# TYPE container_fs_usage_bytes gauge\n");
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(pods, "pods"))
	{
		const char *node =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "node"));
		const char *cg =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "cgroup"));
		const char *ctr =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "container"));

		if (!node || strcmp(node, x->n->name) || !cg || cgroup_usage(cg, &u))
			continue;
		const char *ns =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "namespace"));
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "name"));
		struct prom_label l[] = {{"container", ctr}, {"namespace", ns}, {"pod", name}};
		char labels[1024];

		if (!ns || !name)
			continue;
		series(&b, ns, name, ctr ? ctr : "", &u);
		prom_labels(l, 3, labels, sizeof(labels));
		prom_printf(&b, "container_fs_usage_bytes{%s} %.0f\n", labels,
			    fs_usage(&x->c, ns, name));
	}
	cJSON_Delete(pods);
	cluster_path(&x->c, pidf, sizeof(pidf), "%s/ztunnel.pid", x->n->name);
	txt = read_file(pidf, NULL);
	str_fmt(zname, sizeof(zname), "ztunnel-%s", x->n->name);
	if (txt && !proc_usage(atoi(txt), &u))
		series(&b, "istio-system", zname, "istio-proxy", &u);
	free(txt);
	return prom_take(&b);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req_cls)
{
	if (strcmp(method, "GET"))
		return httpd_reply(conn, 405, strdup("method not allowed\n"), "text/plain");
	if (strcmp(url, "/metrics/cadvisor"))
		return httpd_reply(conn, 404, strdup("not found\n"), "text/plain");
	return httpd_reply(conn, 200, render(cls), "text/plain; version=0.0.4");
}

int local_cadvisor(const struct ctl_opts *o)
{
	struct cad x = {0};
	struct MHD_Daemon *d;
	sigset_t sigs;
	int sig, ret = cluster_open(&x.c, o);

	for (int i = 0; !ret && i < x.c.nnodes && !x.n; i++)
		if (o->node && !strcmp(x.c.nodes[i].name, o->node))
			x.n = &x.c.nodes[i];
	if (!ret && !x.n) {
		fprintf(stderr, "ambitctl: local cadvisor: --node names no node of the cluster\n");
		return -EINVAL;
	}
	if (ret)
		return ret;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* Both families: the fabric scrapes an IPv6 cluster's node at [ip6]:4194. */
	d = httpd_start_any(CADVISOR_PORT, handle, &x);
	if (!d) {
		fprintf(stderr, "ambitctl: local cadvisor: cannot listen on %d: %s\n",
			CADVISOR_PORT, strerror(errno));
		return -EADDRINUSE;
	}
	fprintf(stderr, "cadvisor for %s on :%d/metrics/cadvisor\n", x.n->name, CADVISOR_PORT);
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	return 0;
}
