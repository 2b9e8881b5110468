// SPDX-License-Identifier: Apache-2.0
/* The node kubelets (kubelet.c) as the rest of ambitctl uses them: start one, ask it things. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ambit/ipc.h"
#include "local.h"

extern char **environ;

/* A sync starts every new pod of the node one after the other: leave it time. */
#define KUBELET_CALL_TIMEOUT_S 60

int kubelet_spawn(const struct ctl_cluster *c, const struct ctl_node *n)
{
	char exe[PATH_MAX], log[PATH_MAX], why[512];
	char *argv[] = {exe,	  "local",	   "kubelet", "--name", (char *)c->name,
			"--node", (char *)n->name, NULL};
	struct spawn_req r = {.argv = argv, .cgroup = n->system_cg, .log = log};
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int pid, status, err;

	if (len < 0)
		return -errno;
	exe[len] = '\0';
	cluster_path(c, log, sizeof(log), "logs/%s-kubelet.log", n->name);
	pid = spawn_start(&r, why, sizeof(why));
	if (pid < 0) {
		fprintf(stderr, "ambitctl: %s kubelet: %s\n", n->name, why);
		return pid;
	}
	for (int i = 0; i < CTL_READY_TIMEOUT_S * 20; i++) {
		cJSON *res = kubelet_call(n, "{\"op\":\"status\"}", true, &err);

		if (res) {
			cJSON_Delete(res);
			return 0;
		}
		/* It is our child until we exit: a dead one is a zombie to reap, not a runner. */
		if (waitpid(pid, &status, WNOHANG) == pid || ctl_interrupted)
			break;
		usleep(50 * 1000);
	}
	fprintf(stderr, "ambitctl: %s kubelet did not come up; see %s\n", n->name, log);
	return -ESRCH;
}

static int kubelet_connect(const struct ctl_node *n)
{
	struct timeval tv = {.tv_sec = KUBELET_CALL_TIMEOUT_S};
	int fd = ipc_connect(n->kubelet_socket);

	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

cJSON *kubelet_call(const struct ctl_node *n, const char *req, bool quiet, int *err)
{
	char *reply = NULL;
	cJSON *root = NULL, *res = NULL;
	const char *msg = NULL;
	size_t len;
	int fd = kubelet_connect(n);

	*err = fd < 0 ? fd : ipc_write_frame(fd, req, strlen(req));
	if (!*err)
		*err = ipc_read_frame(fd, &reply, &len);
	if (fd >= 0)
		close(fd);
	if (!*err) {
		root = cJSON_Parse(reply);
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "ok")))
			res = cJSON_DetachItemFromObjectCaseSensitive(root, "result");
		msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "error"));
		if (!res)
			*err = -EPROTO;
	}
	if (!res && !quiet) {
		if (msg)
			fprintf(stderr, "ambitctl: %s: %s\n", n->name, msg);
		else
			fprintf(stderr, "ambitctl: %s kubelet (%s): %s\n", n->name,
				n->kubelet_socket,
				*err == -ENOENT || *err == -ECONNREFUSED ? "not running"
									 : strerror(-*err));
	}
	cJSON_Delete(root);
	free(reply);
	return res;
}

int kubelet_component(const struct ctl_node *n, bool start, bool agent, int *pid)
{
	const char *prefix = agent ? "AMBIT_AGENT_" : "ZTUNNEL_";
	cJSON *req = cJSON_CreateObject(), *env, *res = NULL;
	char *text = NULL;
	int err = -ENOMEM;

	if (!req || !cJSON_AddStringToObject(req, "op", start ? "start" : "stop") ||
	    !cJSON_AddStringToObject(req, "what", agent ? "agent" : "ztunnel") ||
	    !(env = cJSON_AddObjectToObject(req, "env")))
		goto out;
	for (char **e = environ; start && *e; e++) {
		char *eq = strchr(*e, '=');
		char name[128];

		if (!eq || strncmp(*e, prefix, strlen(prefix)) || (size_t)(eq - *e) >= sizeof(name))
			continue;
		memcpy(name, *e, eq - *e);
		name[eq - *e] = '\0';
		if (!cJSON_AddStringToObject(env, name, eq + 1))
			goto out;
	}
	text = cJSON_PrintUnformatted(req);
	if (!text)
		goto out;
	res = kubelet_call(n, text, false, &err);
	if (res) {
		*pid = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "pid"));
		err = 0;
	}
out:
	cJSON_Delete(res);
	cJSON_Delete(req);
	free(text);
	return err;
}

int kubelet_sync(const struct ctl_node *n, bool verbose)
{
	cJSON *res, *it;
	int err;

	res = kubelet_call(n, "{\"op\":\"sync\"}", false, &err);
	if (!res)
		return err;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "started"))
	{
		const char *pod = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "pod"));
		const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "error"));
		const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "ip"));

		/* Reported, not fatal: the pod exists and its kubelet keeps trying, as a real one.
		 */
		if (e)
			fprintf(stderr, "pod %s failed to start on %s: %s\n", pod, n->name, e);
		else if (verbose)
			printf("pod %s started on %s (%s)\n", pod, n->name, ip ? ip : "?");
	}
	cJSON_Delete(res);
	return 0;
}

const cJSON *kubelet_find(const cJSON *status, const char *name)
{
	static const char *const lists[] = {"components", "pods"};
	const cJSON *it;

	for (size_t i = 0; i < 2; i++) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(status, lists[i]))
		{
			const char *v =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));

			if (v && !strcmp(v, name))
				return it;
		}
	}
	return NULL;
}

const char *kubelet_describe(const cJSON *rec, char *buf, size_t len)
{
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "state"));
	const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "reason"));

	if (!state)
		str_fmt(buf, len, "Unknown (kubelet down)");
	else if (reason && reason[0] && strcmp(state, "Running") && strcmp(state, "Completed"))
		str_fmt(buf, len, "%s: %s", state, reason);
	else
		str_fmt(buf, len, "%s", state);
	return buf;
}
