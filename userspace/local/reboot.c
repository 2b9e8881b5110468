// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl local reboot NODE` and `local crash NODE agent|ztunnel`: a node's worst days, as the
 * fail-closed tests need them (issue 41). A reboot is what a node without a drain goes through:
 * every process dies at once, what lived in memory and in /run goes (bpffs pins, tc filters,
 * cgroup attachments, pods' netns, host-local's reservations), then the kubelet comes back
 * first and makes its pods' sandboxes again (CNI ADD) before the node's agent and ztunnel,
 * which start after --agent-delay: the order of istio/istio#60882. A crash loop is SIGKILL to a
 * component each time its kubelet brings it back.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ambit/datapath.h"
#include "local.h"

static double since_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The node's processes, all at once (cgroup.kill on the node's whole tree), and its cgroups. */
static int reboot_kill(const struct ctl_cluster *c, const struct ctl_node *n)
{
	char node_cg[PATH_MAX];
	int ret;

	str_fmt(node_cg, sizeof(node_cg), "%s/%s", c->cg_root, n->name);
	/* New cgroups are new attachments: the old programs go with the old directories. */
	ret = down_cgroups(node_cg);
	if (!ret)
		ret = mkdir_p(n->system_cg, 0755);
	if (!ret)
		ret = mkdir_p(n->cgroup, 0755);
	return ret;
}

/* Every clsact qdisc in the node's netns (eth0's, the pods' veths'), with its tc filters. */
static void reboot_tc(const struct ctl_node *n)
{
	char line[512];
	FILE *f;

	str_fmt(line, sizeof(line), "tc -n '%s' qdisc show 2>/dev/null", n->netns);
	f = popen(line, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[64];

		/* "qdisc clsact ffff: dev eth0 parent ffff:fff1" */
		if (sscanf(line, "qdisc clsact %*s dev %63s", name) == 1)
			RUN("tc", "-n", (char *)n->netns, "qdisc", "del", "dev", name, "clsact");
	}
	pclose(f);
}

/* What lived in memory and /run: pins, tc, the pods' netns, the node's run dir and sockets. */
static int reboot_volatile(const struct ctl_cluster *c, const struct ctl_node *n)
{
	cJSON *pods = plan_read_pods_json(c);
	const cJSON *pod;
	char path[PATH_MAX];
	int ret;

	ret = datapath_remove_pins(n->pin_root);
	if (ret && ret != -ENOENT)
		fprintf(stderr, "ambitctl: %s: removing %s: %s\n", n->name, n->pin_root,
			strerror(-ret));
	reboot_tc(n);
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(pods, "pods"))
	{
		const char *node =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "node"));
		const char *ns =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "namespace"));
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "name"));
		char netns[CTL_NAME_MAX * 2];

		if (!node || !ns || !name || strcmp(node, n->name))
			continue;
		cluster_pod_netns(c, ns, name, netns, sizeof(netns));
		str_fmt(path, sizeof(path), "/run/netns/%s", netns);
		if (access(path, F_OK) == 0)
			RUN("ip", "netns", "del", netns);
	}
	cJSON_Delete(pods);
	cluster_path(c, path, sizeof(path), "%s/run", n->name);
	ret = rm_rf(path);
	if (!ret)
		ret = mkdir_p(path, 0755);
	unlink(n->socket);
	unlink(n->kubelet_socket);
	return ret;
}

/* Until the node's kubelet has tried every pod of the node: each Running, or its sandbox refused
 * (ContainerCreating with the CNI error), or 60 s; with @all, until every one is Running. 0 when
 * all run. */
static int reboot_wait_pods(const struct ctl_node *n, bool all, int *running, int *total)
{
	for (int i = 0; i < 600 && !ctl_interrupted; i++) {
		int err;
		cJSON *st = kubelet_call(n, "{\"op\":\"status\"}", true, &err);
		const cJSON *p;

		int tried = 0;

		*running = *total = 0;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(st, "pods"))
		{
			const char *s =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "state"));
			const char *why =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "reason"));
			bool up = s && !strcmp(s, "Running");

			(*total)++;
			*running += up;
			/* A sandbox ambit-cni refused (no agent yet) was tried: it waits for the
			 * agent. */
			tried += up || (s && !strcmp(s, "ContainerCreating") && why && why[0]);
		}
		cJSON_Delete(st);
		if (*total && *running == *total)
			return 0;
		if (!all && *total && tried == *total)
			return -EAGAIN;
		usleep(100 * 1000);
	}
	return -ETIMEDOUT;
}

int local_reboot(const struct ctl_opts *o, const char *node, double agent_delay)
{
	struct ctl_cluster c;
	const struct ctl_node *n;
	struct timespec t0;
	int ret, pid, running = 0, total = 0;

	ret = cluster_load(&c, o->cluster);
	if (ret) {
		fprintf(stderr, "ambitctl: cluster %s: %s\n", o->cluster, strerror(-ret));
		return ret;
	}
	n = cluster_node(&c, node);
	if (!n) {
		fprintf(stderr, "ambitctl: no node %s\n", node);
		return -ENOENT;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = reboot_kill(&c, n);
	if (!ret)
		ret = reboot_volatile(&c, n);
	if (ret)
		return ret;
	printf("%s: down (every process killed, pins, tc filters, cgroups and pods' netns gone) "
	       "in %.2f s\n",
	       n->name, since_s(&t0));
	fflush(stdout);
	/* Up again: the kubelet first, which makes the pods' sandboxes and starts them. */
	ret = kubelet_spawn(&c, n);
	if (!ret)
		ret = kubelet_sync(n, false);
	if (ret)
		return ret;
	ret = reboot_wait_pods(n, false, &running, &total);
	printf("%s: kubelet up, %d of %d pods Running at %.2f s%s\n", n->name, running, total,
	       since_s(&t0),
	       ret ? " (the others ContainerCreating: their sandboxes wait for the agent)" : "");
	fflush(stdout);
	if (agent_delay > 0)
		usleep((useconds_t)(agent_delay * 1e6));
	if (cluster_uninstalled(&c, NULL, 0))
		printf(
		    "%s: ambit is uninstalled from the cluster: its ztunnel stays down, its agent "
		    "is the node's Service proxy\n",
		    n->name);
	for (int agent = 1; agent >= !!cluster_uninstalled(&c, NULL, 0); agent--) {
		ret = kubelet_component(n, true, agent, &pid);
		if (!ret)
			ret = proc_wait_ready(&c, n, agent, pid);
		if (ret)
			return ret;
		printf("%s: %s ready (pid %d) at %.2f s\n", n->name, agent ? "agent" : "ztunnel",
		       pid, since_s(&t0));
		fflush(stdout);
	}
	ret = reboot_wait_pods(n, true, &running, &total);
	printf("%s: rebooted, %d of %d pods Running at %.2f s\n", n->name, running, total,
	       since_s(&t0));
	return ret;
}

/* @what's pid as @n's kubelet reports it while Running, else 0. */
static int crash_pid(const struct ctl_node *n, const char *what)
{
	int err, pid = 0;
	cJSON *st = kubelet_call(n, "{\"op\":\"status\"}", true, &err);
	const cJSON *rec = st ? kubelet_find(st, what) : NULL;
	const char *state =
	    rec ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "state")) : NULL;

	if (state && !strcmp(state, "Running"))
		pid = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "pid"));
	cJSON_Delete(st);
	return pid;
}

int local_crash(const struct ctl_opts *o, const char *node, const char *what, int times)
{
	struct ctl_cluster c;
	const struct ctl_node *n;
	struct timespec t0;
	int ret, last = 0;

	if (strcmp(what, "agent") && strcmp(what, "ztunnel")) {
		fprintf(stderr, "ambitctl: local crash takes agent or ztunnel\n");
		return -EINVAL;
	}
	ret = cluster_load(&c, o->cluster);
	if (ret) {
		fprintf(stderr, "ambitctl: cluster %s: %s\n", o->cluster, strerror(-ret));
		return ret;
	}
	n = cluster_node(&c, node);
	if (!n) {
		fprintf(stderr, "ambitctl: no node %s\n", node);
		return -ENOENT;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < times; i++) {
		int pid = 0;

		/* The kubelet's back-off doubles: up to its 5 min cap, and a little more. */
		for (int w = 0; w < 3200 && !ctl_interrupted; w++) {
			pid = crash_pid(n, what);
			if (pid > 0 && pid != last)
				break;
			usleep(100 * 1000);
		}
		if (pid <= 0 || pid == last) {
			fprintf(stderr, "ambitctl: %s %s did not come back after crash %d\n",
				n->name, what, i);
			return -ETIMEDOUT;
		}
		if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
			return -errno;
		last = pid;
		printf("%s %s: crash %d of %d: SIGKILL to pid %d at %.2f s\n", n->name, what, i + 1,
		       times, pid, since_s(&t0));
		fflush(stdout);
	}
	return 0;
}
