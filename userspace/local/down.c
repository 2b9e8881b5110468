// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl local down`: removes everything a cluster made, from its name alone, so it works
 * after a crash, halfway through `up`, and twice in a row. Order matters: processes die first
 * (cgroup.kill) so nothing recreates state while the netns, pins and files go.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ambit/datapath.h"
#include "local.h"

/*
 * True when @entry (e.g. "ambit-a-b-node1") starts with @prefix ("ambit-a-") but really belongs
 * to another live cluster whose name extends ours ("a-b"): a glob alone would take it too.
 */
static bool owned_by_other(const char *entry, const char *self, const char *fmt)
{
	DIR *d = opendir(CTL_RUN_BASE);
	struct dirent *e;
	bool other = false;

	if (!d)
		return false;
	while (!other && (e = readdir(d))) {
		char prefix[256], cj[PATH_MAX];

		if (e->d_name[0] == '.' || !strcmp(e->d_name, self) ||
		    strncmp(e->d_name, self, strlen(self)) != 0)
			continue;
		str_fmt(cj, sizeof(cj), CTL_RUN_BASE "/%s/cluster.json", e->d_name);
		if (access(cj, F_OK) < 0)
			continue;
		str_fmt(prefix, sizeof(prefix), fmt, e->d_name);
		other = strncmp(entry, prefix, strlen(prefix)) == 0;
	}
	closedir(d);
	return other;
}

/* Calls @fn(dir/entry) for every entry of @dir whose name starts with fmt(@name). */
static int for_each_prefixed(const char *dir, const char *fmt, const char *name,
			     int (*fn)(const char *dir, const char *entry))
{
	char prefix[256];
	struct dirent *e;
	DIR *d = opendir(dir);
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	str_fmt(prefix, sizeof(prefix), fmt, name);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
		    owned_by_other(e->d_name, name, fmt))
			continue;
		int r = fn(dir, e->d_name);
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	return ret;
}

static int del_netns(const char *dir, const char *entry)
{
	return RUN("ip", "netns", "del", (char *)entry) ? -EIO : 0;
}

static int del_tree(const char *dir, const char *entry)
{
	char path[PATH_MAX];

	str_fmt(path, sizeof(path), "%s/%s", dir, entry);
	return rm_rf(path);
}

static int del_pins(const char *dir, const char *entry)
{
	char path[PATH_MAX];

	str_fmt(path, sizeof(path), "%s/%s", dir, entry);
	/*
	 * --kube: a node's whole /sys/fs/bpf (its pins lie in ambit/node below it), named with a
	 * character no cluster or node name has (bpffs refuses dots).
	 */
	if (strlen(entry) > 3 && !strcmp(entry + strlen(entry) - 3, "_fs"))
		return rm_rf(path);
	return datapath_remove_pins(path);
}

static bool cgroup_populated(const char *cg)
{
	char path[PATH_MAX];
	char *ev;
	bool populated;

	str_fmt(path, sizeof(path), "%s/cgroup.events", cg);
	ev = read_file(path, NULL);
	if (!ev)
		return false;
	populated = strstr(ev, "populated 1") != NULL;
	free(ev);
	return populated;
}

/* Fallback when cgroup.kill is missing (kernels before 5.14): SIGKILL every listed pid. */
static void cgroup_kill_each(const char *cg)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	str_fmt(path, sizeof(path), "%s/cgroup.procs", cg);
	char *procs = read_file(path, NULL);
	if (procs) {
		for (char *s = strtok(procs, "\n"); s; s = strtok(NULL, "\n"))
			kill((pid_t)atoi(s), SIGKILL);
		free(procs);
	}
	d = opendir(cg);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		str_fmt(path, sizeof(path), "%s/%s", cg, e->d_name);
		cgroup_kill_each(path);
	}
	closedir(d);
}

static int cgroup_rmdir_tree(const char *cg)
{
	struct dirent *e;
	DIR *d = opendir(cg);
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		char path[PATH_MAX];

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		str_fmt(path, sizeof(path), "%s/%s", cg, e->d_name);
		int r = cgroup_rmdir_tree(path);
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	if (rmdir(cg) < 0 && errno != ENOENT && !ret)
		ret = -errno;
	return ret;
}

int down_cgroups(const char *cg_root)
{
	char path[PATH_MAX];
	int ret = 0;

	if (access(cg_root, F_OK) < 0)
		return 0;
	str_fmt(path, sizeof(path), "%s/cgroup.kill", cg_root);
	if (write_file(path, "1"))
		cgroup_kill_each(cg_root);
	/* cgroup.kill is asynchronous: wait (up to 10 s) for the tree to empty, then rmdir it. */
	for (int i = 0; i < 200; i++) {
		if (!cgroup_populated(cg_root)) {
			ret = cgroup_rmdir_tree(cg_root);
			if (!ret)
				return 0;
		}
		usleep(50 * 1000);
		if (i % 20 == 19)
			cgroup_kill_each(cg_root);
	}
	fprintf(stderr, "ambitctl: could not remove %s: %s\n", cg_root,
		strerror(ret ? -ret : EBUSY));
	return ret ? ret : -EBUSY;
}

int pod_remove(const struct ctl_cluster *c, const char *node, const char *ns, const char *name,
	       const char *cgroup)
{
	char netns[CTL_NAME_MAX * 2], path[PATH_MAX], why[1024];
	int ret = 0, r;

	cluster_pod_netns(c, ns, name, netns, sizeof(netns));
	if (cgroup && cgroup[0] == '/')
		ret = down_cgroups(cgroup);
	/*
	 * The node's kubelet ran DEL when it let the pod go; a sandbox still there (its kubelet
	 * down) is released here, so that host-local gives its address again.
	 */
	str_fmt(path, sizeof(path), "/run/netns/%s", netns);
	for (int i = 0; node && access(path, F_OK) == 0 && i < c->nnodes; i++) {
		if (strcmp(c->nodes[i].name, node))
			continue;
		r = cni_del(c, &c->nodes[i], ns, name, why, sizeof(why));
		if (r && r != -ENOENT)
			fprintf(stderr, "ambitctl: pod %s/%s: CNI DEL: %s\n", ns, name, why);
	}
	if (access(path, F_OK) == 0 && del_netns("/run/netns", netns) && !ret)
		ret = -EIO;
	str_fmt(path, sizeof(path), "/etc/netns/%s", netns);
	r = rm_rf(path);
	if (r && !ret)
		ret = r;
	cluster_path(c, path, sizeof(path), "pods/%s_%s.pid", ns, name);
	unlink(path);
	cluster_path(c, path, sizeof(path), "pods/%s_%s.rootfs", ns, name);
	r = rm_rf(path);
	if (r && !ret)
		ret = r;
	cluster_path(c, path, sizeof(path), "pods/%s_%s", ns, name);
	r = rm_rf(path);
	return r && !ret ? r : ret;
}

int local_down(const char *name, bool quiet)
{
	struct ctl_cluster c;
	char fmt_ns[] = "ambit-%s-", fmt_pin[] = "%s-";
	int ret = 0, r;

	/* Only the name is needed: cluster_init derives every path (node count is irrelevant). */
	r = cluster_init(&c, name, 1);
	if (r)
		return r;
	r = down_cgroups(c.cg_root);
	if (r)
		ret = r;
	r = for_each_prefixed("/run/netns", fmt_ns, name, del_netns);
	if (r && !ret)
		ret = r;
	r = for_each_prefixed("/etc/netns", fmt_ns, name, del_tree);
	if (r && !ret)
		ret = r;
	r = for_each_prefixed(CTL_PIN_BASE, fmt_pin, name, del_pins);
	if (r && !ret)
		ret = r;
	/* Fails with ENOTEMPTY while another cluster has pins: that is the point. */
	rmdir(CTL_PIN_BASE);
	/* After its fabric: the network goes with the last cluster on it. */
	lbnet_release(name);
	r = rm_rf(c.run_dir);
	if (r && !ret)
		ret = r;
	rmdir(CTL_RUN_BASE);
	if (!quiet)
		printf(ret ? "cluster %s: teardown incomplete\n" : "cluster %s is down\n", name);
	return ret;
}
