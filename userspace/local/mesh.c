// SPDX-License-Identifier: Apache-2.0
/*
 * ambit taken off a local cluster that stays up, and put back: what `istioctl uninstall` and
 * `istioctl install` do there. Down: <run>/uninstalled is written, then each node's kubelet
 * stops its agent, ztunnel and (--kube) CA as a kubelet stops a deleted pod, with SIGTERM; the
 * agent, seeing the file (or its DaemonSet gone), removes its node's data path as it exits. The
 * ztunnel and CA stay down, a reboot included; the agent comes back as the node's Service proxy
 * alone, no pod in the mesh. Up: the file goes and each is started again.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "local.h"
#include "ambit/fileutil.h"

#define MESH_STOP_WAIT_S 60 /* a pod's grace period is 30 s; the agent takes well under 1 */

bool cluster_uninstalled(const struct ctl_cluster *c, char *why, size_t len)
{
	char path[PATH_MAX], *text = NULL;
	size_t n = 0;

	cluster_path(c, path, sizeof(path), CTL_UNINSTALLED);
	if (access(path, F_OK) < 0)
		return false;
	if (why && len && !fileutil_read_file(path, 4096, &text, &n))
		str_fmt(why, len, "%.*s", (int)strcspn(text, "\n"), text);
	free(text);
	return true;
}

/*
 * @n's kubelet stops @what, down until started, @reason in its status: with SIGTERM when
 * @graceful (a pod deleted), else SIGKILL.
 */
static int stop(const struct ctl_node *n, const char *what, const char *reason, bool graceful)
{
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	char *text = NULL;
	int err = -ENOMEM;

	if (req && cJSON_AddStringToObject(req, "op", "stop") &&
	    cJSON_AddStringToObject(req, "what", what) &&
	    cJSON_AddBoolToObject(req, "graceful", graceful) &&
	    cJSON_AddStringToObject(req, "reason", reason) && (text = cJSON_PrintUnformatted(req)))
		res = kubelet_call(n, text, false, &err);
	if (res)
		err = 0;
	cJSON_Delete(res);
	cJSON_Delete(req);
	free(text);
	return err;
}

/* The pid @n's kubelet has for @what: 0 when it has exited, -errno when it cannot say. */
static int component_pid(const struct ctl_node *n, const char *what)
{
	int err, pid;
	cJSON *st = kubelet_call(n, "{\"op\":\"status\"}", true, &err);
	const cJSON *rec = st ? kubelet_find(st, what) : NULL;

	if (!st)
		return err;
	pid = rec ? (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "pid")) : 0;
	cJSON_Delete(st);
	return pid > 0 ? pid : 0;
}

/*
 * @n's kubelet stops @what with SIGTERM and it is awaited (SIGKILL after MESH_STOP_WAIT_S), as
 * a deleted pod's container. 0 or -errno, said.
 */
static int stop_wait(const struct ctl_node *n, const char *what, const char *reason)
{
	int err = stop(n, what, reason, true), pid = 0;

	for (int w = 0; !err && w < MESH_STOP_WAIT_S * 10; w++) {
		pid = component_pid(n, what);
		if (pid <= 0)
			break;
		usleep(100 * 1000);
	}
	if (!err && pid > 0) {
		fprintf(stderr, "ambitctl: %s %s still running after %d s: killed\n", n->name, what,
			MESH_STOP_WAIT_S);
		err = stop(n, what, reason, false);
	}
	if (err)
		fprintf(stderr, "ambitctl: %s: stopping %s: %s\n", n->name, what, strerror(-err));
	return err;
}

/* @n's agent (or ztunnel) started and awaited ready. */
static int start_ready(const struct ctl_cluster *c, const struct ctl_node *n, bool agent)
{
	int pid, ret = kubelet_component(n, true, agent, &pid);

	return ret ?: proc_wait_ready(c, n, agent, pid);
}

/*
 * Each node's agent, ztunnel and (--kube) CA stop; the agent removes its node's data path as
 * it exits (the marker is there, or its DaemonSet is gone) and is started again as the node's
 * Service proxy alone: the local cluster has no kube-proxy, its agents load-balance Services
 * for every pod (DESIGN.md), and its pods keep that, out of the mesh.
 */
int local_mesh_down(const struct ctl_cluster *c, const char *reason)
{
	char path[PATH_MAX], text[512];
	int ret = 0;

	cluster_path(c, path, sizeof(path), CTL_UNINSTALLED);
	str_fmt(text, sizeof(text), "%s\n", reason);
	if (write_file_atomic(path, text)) {
		fprintf(stderr, "ambitctl: %s: cannot write\n", path);
		return -EIO;
	}
	for (int i = 0; !ret && i < c->nnodes; i++) {
		const struct ctl_node *n = &c->nodes[i];

		ret = stop_wait(n, "agent", reason);
		ret = ret ?: stop_wait(n, "ztunnel", reason);
		if (!ret && c->kube && n->index == 1)
			ret = stop_wait(n, "ambit-ca", reason);
		ret = ret ?: start_ready(c, n, true);
		if (!ret)
			printf("%s: ztunnel stopped, data path removed; the agent is the node's "
			       "Service proxy\n",
			       n->name);
	}
	return ret;
}

int local_mesh_down_hook(void *arg)
{
	const struct local_mesh_down *m = arg;

	return local_mesh_down(m->c, m->reason);
}

int local_mesh_up(const struct ctl_cluster *c)
{
	char path[PATH_MAX];
	int ret = 0;

	/* The Service proxies go first, each removing its data path (the marker is there). */
	for (int i = 0; !ret && i < c->nnodes; i++)
		ret = stop_wait(&c->nodes[i], "agent", "installing ambit");
	cluster_path(c, path, sizeof(path), CTL_UNINSTALLED);
	if (!ret && unlink(path) < 0 && errno != ENOENT)
		ret = -errno;
	for (int i = 0; !ret && i < c->nnodes; i++) {
		const struct ctl_node *n = &c->nodes[i];
		int err;

		if (c->kube && n->index == 1) {
			cJSON *res = kubelet_call(n, "{\"op\":\"start\",\"what\":\"ambit-ca\"}",
						  false, &err);

			cJSON_Delete(res);
			if (!res)
				return err;
		}
		ret = start_ready(c, n, true);
		ret = ret ?: start_ready(c, n, false);
	}
	return ret;
}

bool cluster_by_kubeconfig(const char *path, struct ctl_cluster *c)
{
	char first[NAME_MAX + 1], list[1024], want[PATH_MAX], have[PATH_MAX], kc[PATH_MAX];
	char *save = NULL;

	if (!realpath(path, want) || cluster_list_up(first, sizeof(first), list, sizeof(list)) < 1)
		return false;
	for (char *n = strtok_r(list, ", ", &save); n; n = strtok_r(NULL, ", ", &save)) {
		if (cluster_load(c, n) || !c->kube)
			continue;
		cluster_path(c, kc, sizeof(kc), "kube/kubeconfig");
		if (realpath(kc, have) && !strcmp(have, want))
			return true;
	}
	return false;
}
