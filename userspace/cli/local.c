// SPDX-License-Identifier: Apache-2.0
/* `ambitctl local exec|logs|stop|start|status`: operating a running local cluster. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ambit/ipc.h"
#include "ctl.h"

static int load_cluster(const struct ctl_opts *o, struct ctl_cluster *c)
{
	int ret = cluster_load(c, o->cluster);

	if (ret == -ENOENT)
		fprintf(stderr, "ambitctl: cluster %s is not up (no %s/%s/cluster.json)\n",
			o->cluster, CTL_RUN_BASE, o->cluster);
	else if (ret)
		fprintf(stderr, "ambitctl: cluster %s: %s\n", o->cluster, strerror(-ret));
	return ret;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Counts pods matching @spec by @key ("name" or "owner"), optionally within namespace @ns. */
static int match_pods(cJSON *pods, const char *ns, const char *spec, const char *key, cJSON **found)
{
	cJSON *pod;
	int n = 0;

	cJSON_ArrayForEach(pod, pods)
	{
		if ((ns && strcmp(jstr(pod, "namespace"), ns)) || strcmp(jstr(pod, key), spec))
			continue;
		*found = pod;
		n++;
	}
	return n;
}

cJSON *local_find_pod(cJSON *root, const char *spec)
{
	cJSON *pods = cJSON_GetObjectItemCaseSensitive(root, "pods"), *found = NULL;
	const char *slash = strchr(spec, '/');
	char ns[256] = "";
	int n;

	if (slash && str_fmt(ns, sizeof(ns), "%.*s", (int)(slash - spec), spec))
		return NULL;
	const char *name = slash ? slash + 1 : spec;
	const char *in = slash ? ns : NULL;

	n = match_pods(pods, in, name, "name", &found);
	/* A Deployment name stands for its pod when it has exactly one ("demo/client"). */
	if (n == 0)
		n = match_pods(pods, in, name, "owner", &found);
	if (n > 1) {
		fprintf(stderr, "ambitctl: %s matches %d pods; use namespace/pod-name\n", spec, n);
		return NULL;
	}
	if (n == 0)
		fprintf(stderr, "ambitctl: no pod %s\n", spec);
	return n == 1 ? found : NULL;
}

int local_exec(const struct ctl_opts *o, const char *spec, char **cmd)
{
	struct ctl_cluster c;
	char procs[PATH_MAX + 16], pid[32], netns[CTL_NAME_MAX * 2];
	char *argv[512];
	size_t n = 0;
	cJSON *root, *pod;
	int ret;

	ret = load_cluster(o, &c);
	if (ret)
		return ret;
	root = plan_read_pods_json(&c);
	if (!root) {
		fprintf(stderr, "ambitctl: cannot read pods.json: %s\n", strerror(errno));
		return -errno;
	}
	pod = local_find_pod(root, spec);
	if (!pod) {
		cJSON_Delete(root);
		return -ENOENT;
	}
	str_fmt(procs, sizeof(procs), "%s/cgroup.procs", jstr(pod, "cgroup"));
	if (jstr(pod, "netns")[0])
		str_fmt(netns, sizeof(netns), "%s", jstr(pod, "netns"));
	else
		cluster_pod_netns(&c, jstr(pod, "namespace"), jstr(pod, "name"), netns,
				  sizeof(netns));
	cJSON_Delete(root);
	/* Joining the pod's cgroup is what makes the command's sockets captured like the pod's. */
	str_fmt(pid, sizeof(pid), "%d\n", getpid());
	ret = write_file(procs, pid);
	if (ret) {
		fprintf(stderr, "ambitctl: join %s: %s\n", procs, strerror(-ret));
		return ret;
	}
	argv[n++] = "ip";
	argv[n++] = "netns";
	argv[n++] = "exec";
	argv[n++] = netns;
	for (size_t i = 0; cmd[i] && n + 1 < sizeof(argv) / sizeof(argv[0]); i++)
		argv[n++] = cmd[i];
	argv[n] = NULL;
	execvp("ip", argv);
	ret = -errno;
	fprintf(stderr, "ambitctl: exec ip: %s\n", strerror(errno));
	return ret;
}

int local_logs(const struct ctl_opts *o, const char *what)
{
	struct ctl_cluster c;
	char path[PATH_MAX];
	cJSON *root = NULL, *pod;
	int ret;

	ret = load_cluster(o, &c);
	if (ret)
		return ret;
	for (int i = 0; i < c.nnodes; i++) {
		char a[64], z[64];

		str_fmt(a, sizeof(a), "%s-agent", c.nodes[i].name);
		str_fmt(z, sizeof(z), "%s-ztunnel", c.nodes[i].name);
		if (!strcmp(what, a) || !strcmp(what, z)) {
			cluster_path(&c, path, sizeof(path), "logs/%s.log", what);
			goto show;
		}
	}
	root = plan_read_pods_json(&c);
	pod = root ? local_find_pod(root, what) : NULL;
	if (!pod) {
		cJSON_Delete(root);
		return -ENOENT;
	}
	cluster_path(&c, path, sizeof(path), "logs/%s_%s.log", jstr(pod, "namespace"),
		     jstr(pod, "name"));
	cJSON_Delete(root);
show:
	if (o->follow) {
		execlp("tail", "tail", "-n", "+1", "-F", path, (char *)NULL);
		return -errno;
	}
	size_t len;
	char *text = read_file(path, &len);
	if (!text) {
		ret = -errno;
		fprintf(stderr, "ambitctl: %s: %s\n", path, strerror(errno));
		return ret;
	}
	fwrite(text, 1, len, stdout);
	free(text);
	return 0;
}

static int component_pid(const struct ctl_cluster *c, const struct ctl_node *n, bool agent,
			 char *pidf, size_t len)
{
	cluster_path(c, pidf, len, "%s/%s.pid", n->name, agent ? "agent" : "ztunnel");
	return read_pid_file(pidf);
}

static int component_stop(const struct ctl_cluster *c, const struct ctl_node *n, bool agent)
{
	char pidf[PATH_MAX];
	int pid = component_pid(c, n, agent, pidf, sizeof(pidf));

	if (pid <= 0 || !pid_alive(pid)) {
		printf("%s %s: not running\n", n->name, agent ? "agent" : "ztunnel");
		unlink(pidf);
		return 0;
	}
	if (kill(pid, SIGKILL) < 0)
		return -errno;
	for (int i = 0; i < 100 && pid_alive(pid); i++)
		usleep(50 * 1000);
	if (pid_alive(pid)) {
		fprintf(stderr, "ambitctl: pid %d did not exit\n", pid);
		return -EBUSY;
	}
	unlink(pidf);
	printf("%s %s: killed (pid %d)\n", n->name, agent ? "agent" : "ztunnel", pid);
	return 0;
}

static int component_start(const struct ctl_cluster *c, const struct ctl_node *n, bool agent)
{
	char pidf[PATH_MAX];
	int pid = component_pid(c, n, agent, pidf, sizeof(pidf));
	int ret;

	if (pid > 0 && pid_alive(pid)) {
		printf("%s %s: already running (pid %d)\n", n->name, agent ? "agent" : "ztunnel",
		       pid);
		return 0;
	}
	ret = proc_start_component(c, n, agent);
	if (!ret)
		ret = proc_wait_ready(c, n, agent);
	if (!ret)
		printf("%s %s: started and ready\n", n->name, agent ? "agent" : "ztunnel");
	return ret;
}

int local_component(const struct ctl_opts *o, bool start, const char *what)
{
	struct ctl_cluster c;
	bool agent;
	int ret;

	if (!strcmp(what, "agent"))
		agent = true;
	else if (!strcmp(what, "ztunnel"))
		agent = false;
	else {
		fprintf(stderr, "ambitctl: local start|stop takes agent or ztunnel\n");
		return -EINVAL;
	}
	ret = load_cluster(o, &c);
	if (ret)
		return ret;
	if (o->node && !cluster_node(&c, o->node)) {
		fprintf(stderr, "ambitctl: no node %s\n", o->node);
		return -ENOENT;
	}
	for (int i = 0; i < c.nnodes; i++) {
		if (o->node && strcmp(o->node, c.nodes[i].name))
			continue;
		ret = start ? component_start(&c, &c.nodes[i], agent)
			    : component_stop(&c, &c.nodes[i], agent);
		if (ret)
			return ret;
	}
	return 0;
}

static bool pod_running(const char *cgroup)
{
	char path[PATH_MAX + 16];
	char *ev;
	bool up;

	str_fmt(path, sizeof(path), "%s/cgroup.events", cgroup);
	ev = read_file(path, NULL);
	up = ev && strstr(ev, "populated 1");
	free(ev);
	return up;
}

static const cJSON *status_errors(cJSON *root)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");

	return cJSON_GetObjectItemCaseSensitive(res, "configErrors");
}

static bool agent_has_errors(const char *reply)
{
	cJSON *root = cJSON_Parse(reply);
	bool any = cJSON_GetArraySize(status_errors(root)) > 0;

	cJSON_Delete(root);
	return any;
}

/* The agent keeps serving the last good config; say what it rejected and why. */
static void agent_print_errors(const char *node, const char *reply)
{
	cJSON *root = cJSON_Parse(reply);
	const cJSON *e;

	cJSON_ArrayForEach(e, status_errors(root))
	{
		if (cJSON_IsString(e))
			printf("%s agent rejected: %s\n", node, e->valuestring);
	}
	cJSON_Delete(root);
}

/* `local status -o json`: the same facts for scripts (tests look pods' pids up here). */
static int local_status_json(const struct ctl_cluster *c)
{
	cJSON *out = cJSON_CreateObject(), *nodes, *pods, *root, *pod;
	char *text;

	if (!out)
		return -ENOMEM;
	cJSON_AddStringToObject(out, "name", c->name);
	cJSON_AddStringToObject(out, "runDir", c->run_dir);
	cJSON_AddStringToObject(out, "sourceDir", c->src_dir);
	nodes = cJSON_AddArrayToObject(out, "nodes");
	pods = cJSON_AddArrayToObject(out, "pods");
	for (int i = 0; nodes && i < c->nnodes; i++) {
		const struct ctl_node *n = &c->nodes[i];
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(nodes, o))
			break;
		cJSON_AddStringToObject(o, "name", n->name);
		cJSON_AddStringToObject(o, "ip", n->ip);
		cJSON_AddStringToObject(o, "netns", n->netns);
		for (int a = 0; a < 2; a++) {
			char pidf[PATH_MAX], *reply = NULL;
			int pid = component_pid(c, n, a == 0, pidf, sizeof(pidf));
			cJSON *comp = cJSON_AddObjectToObject(o, a == 0 ? "agent" : "ztunnel");
			bool alive = pid_alive(pid);
			bool ready =
			    alive && (a == 0 ? !ipc_request(n->socket,
							    "{\"op\":\"get\",\"what\":"
							    "\"status\"}",
							    &reply)
					     : http_get_in_netns(n->netns, 15021, "/healthz/ready",
								 NULL) == 200);

			free(reply);
			if (!comp)
				continue;
			cJSON_AddNumberToObject(comp, "pid", pid > 0 ? pid : 0);
			cJSON_AddBoolToObject(comp, "running", alive);
			cJSON_AddBoolToObject(comp, "ready", ready);
		}
	}
	root = plan_read_pods_json(c);
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(root, "pods"))
	{
		cJSON *o = cJSON_CreateObject();
		char pidf[PATH_MAX];
		int pid;

		if (!pods || !o || !cJSON_AddItemToArray(pods, o)) {
			cJSON_Delete(o);
			break;
		}
		cluster_path(c, pidf, sizeof(pidf), "pods/%s_%s.pid", jstr(pod, "namespace"),
			     jstr(pod, "name"));
		pid = read_pid_file(pidf);
		cJSON_AddStringToObject(o, "namespace", jstr(pod, "namespace"));
		cJSON_AddStringToObject(o, "name", jstr(pod, "name"));
		cJSON_AddStringToObject(o, "node", jstr(pod, "node"));
		cJSON_AddStringToObject(o, "ip", jstr(pod, "ip"));
		cJSON_AddStringToObject(o, "netns", jstr(pod, "netns"));
		cJSON_AddStringToObject(o, "cgroup", jstr(pod, "cgroup"));
		cJSON_AddNumberToObject(o, "pid", pid > 0 ? pid : 0);
		cJSON_AddBoolToObject(o, "running", pid_alive(pid));
	}
	cJSON_Delete(root);
	text = cJSON_Print(out);
	cJSON_Delete(out);
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

int local_status(const struct ctl_opts *o)
{
	bool print_errors = false;
	struct ctl_cluster c;
	cJSON *root, *pod;
	int ret;

	ret = load_cluster(o, &c);
	if (ret)
		return ret;
	if (o->json)
		return local_status_json(&c);
	printf("cluster %s (%s), manifests from %s\n", c.name, c.run_dir,
	       c.src_dir[0] ? c.src_dir : "?");
	printf("%-7s %-12s %-24s %-24s\n", "NODE", "IP", "AGENT", "ZTUNNEL");
	for (int i = 0; i < c.nnodes; i++) {
		const struct ctl_node *n = &c.nodes[i];
		char pidf[PATH_MAX], a[32], z[32];
		int apid = component_pid(&c, n, true, pidf, sizeof(pidf));
		int zpid = component_pid(&c, n, false, pidf, sizeof(pidf));
		char *reply = NULL;
		bool aok = pid_alive(apid) &&
			   !ipc_request(n->socket, "{\"op\":\"get\",\"what\":\"status\"}", &reply);
		bool zok = pid_alive(zpid) &&
			   http_get_in_netns(n->netns, 15021, "/healthz/ready", NULL) == 200;

		print_errors = print_errors || (aok && agent_has_errors(reply));
		free(reply);
		str_fmt(a, sizeof(a), "%s (pid %d)",
			aok		  ? "ready"
			: pid_alive(apid) ? "up"
					  : "down",
			apid > 0 ? apid : 0);
		str_fmt(z, sizeof(z), "%s (pid %d)",
			zok		  ? "ready"
			: pid_alive(zpid) ? "up"
					  : "down",
			zpid > 0 ? zpid : 0);
		printf("%-7s %-12s %-24s %-24s\n", n->name, n->ip, a, z);
	}
	for (int i = 0; print_errors && i < c.nnodes; i++) {
		char *reply = NULL;

		if (!ipc_request(c.nodes[i].socket, "{\"op\":\"get\",\"what\":\"status\"}", &reply))
			agent_print_errors(c.nodes[i].name, reply);
		free(reply);
	}
	root = plan_read_pods_json(&c);
	if (!root)
		return 0;
	printf("\n%-32s %-7s %-12s %s\n", "POD", "NODE", "IP", "STATE");
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(root, "pods"))
	{
		printf("%-32s %-7s %-12s %s\n", jstr(pod, "uid"), jstr(pod, "node"),
		       jstr(pod, "ip"), pod_running(jstr(pod, "cgroup")) ? "running" : "exited");
	}
	cJSON_Delete(root);
	return 0;
}
