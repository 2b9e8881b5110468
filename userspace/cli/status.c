// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl local status [-o json]`: each node's kubelet, agent and ztunnel, and each pod, with
 * what the kubelet knows of them (state, restarts, why not running) and whether the agent and
 * ztunnel answer. Without a kubelet the pid files still tell whether a process runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/ipc.h"
#include "ctl.h"

static const char *jstr(const cJSON *o, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return v ? v : "";
}

static int jint(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const cJSON *status_errors(cJSON *root)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");

	return cJSON_GetObjectItemCaseSensitive(res, "configErrors");
}

/*
 * How the agent captures its pods' traffic ("host", "inpod"), from its status reply; NULL when
 * it does not say. Borrows from @root.
 */
static const char *status_capture_mode(const cJSON *root)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "captureMode"));
}

/* The string @key of an agent's status reply's result, or NULL. */
static const char *status_result_str(const cJSON *root, const char *key)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, key));
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

/* What is known of one process of a node: from its kubelet, else from its pid file. */
struct proc_view {
	const cJSON *rec; /* the kubelet's record, or NULL */
	int pid;
	bool running, ready;
};

static void view_of(const struct ctl_cluster *c, const cJSON *kst, const char *name,
		    const char *pidfile, struct proc_view *v)
{
	char path[PATH_MAX];

	memset(v, 0, sizeof(*v));
	v->rec = kst ? kubelet_find(kst, name) : NULL;
	if (v->rec) {
		v->pid = jint(v->rec, "pid");
		v->running = !strcmp(jstr(v->rec, "state"), "Running") && pid_alive(v->pid);
		return;
	}
	cluster_path(c, path, sizeof(path), "%s", pidfile);
	v->pid = read_pid_file(path);
	v->pid = v->pid > 0 ? v->pid : 0;
	v->running = pid_alive(v->pid);
}

static void component_view(const struct ctl_cluster *c, const struct ctl_node *n, const cJSON *kst,
			   bool agent, struct proc_view *v, char **agent_reply)
{
	char pidf[64];

	str_fmt(pidf, sizeof(pidf), "%s/%s.pid", n->name, agent ? "agent" : "ztunnel");
	view_of(c, kst, agent ? "agent" : "ztunnel", pidf, v);
	if (!v->running)
		return;
	if (agent)
		v->ready = !ipc_request(n->socket, CTL_AGENT_STATUS_REQ, agent_reply);
	else
		v->ready = http_get_in_netns(n->netns, 15021, "/healthz/ready", NULL) == 200;
}

/* The kubelet's record, less its name, plus running/ready, into @o. */
static void add_view(cJSON *o, const struct proc_view *v, bool with_ready)
{
	const cJSON *it;

	cJSON_AddNumberToObject(o, "pid", v->pid);
	cJSON_AddBoolToObject(o, "running", v->running);
	if (with_ready)
		cJSON_AddBoolToObject(o, "ready", v->ready);
	if (!v->rec) {
		cJSON_AddStringToObject(o, "state", "Unknown");
		return;
	}
	cJSON_ArrayForEach(it, v->rec)
	{
		if (strcmp(it->string, "name") && strcmp(it->string, "pid"))
			cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, true));
	}
}

cJSON *local_status_doc(const struct ctl_cluster *c)
{
	cJSON *out = cJSON_CreateObject(), *nodes, *pods, *root, *pod;
	cJSON *kst[CTL_MAX_NODES] = {0};
	int err;

	if (!out)
		return NULL;
	cJSON_AddStringToObject(out, "name", c->name);
	cJSON_AddStringToObject(out, "runDir", c->run_dir);
	cJSON_AddStringToObject(out, "sourceDir", c->src_dir);
	/* --kube: where its API server answers (the kubelets' records hold the CA pod). */
	cJSON_AddBoolToObject(out, "kube", c->kube);
	cJSON_AddStringToObject(out, "cni", cluster_cni_name(c->cni));
	/* As cluster.json has them: said when `local up --network` set them. */
	if (c->network[0]) {
		cJSON_AddStringToObject(out, "clusterId", c->cluster_id);
		cJSON_AddStringToObject(out, "network", c->network);
	}
	if (c->kube) {
		char url[128] = "";

		/* The user's (the host's loopback), and the one pods and agents reach. */
		kube_host_server(c, url, sizeof(url));
		cJSON_AddStringToObject(out, "apiServer", url);
		str_fmt(url, sizeof(url), "https://%s:%d", cluster_fabric_host(c),
			CTL_KUBE_API_PORT);
		cJSON_AddStringToObject(out, "apiServerInCluster", url);
	}
	nodes = cJSON_AddArrayToObject(out, "nodes");
	pods = cJSON_AddArrayToObject(out, "pods");
	for (int i = 0; nodes && i < c->nnodes; i++) {
		const struct ctl_node *n = &c->nodes[i];
		cJSON *o = cJSON_CreateObject(), *kl;
		char pidf[64];

		if (!o || !cJSON_AddItemToArray(nodes, o))
			break;
		kst[i] = kubelet_call(n, "{\"op\":\"status\"}", true, &err);
		cJSON_AddStringToObject(o, "name", n->name);
		cJSON_AddStringToObject(o, "ip", node_host_ip(n));
		cJSON_AddStringToObject(o, "netns", n->netns);
		str_fmt(pidf, sizeof(pidf), "%s/kubelet.pid", n->name);
		kl = cJSON_AddObjectToObject(o, "kubelet");
		cJSON_AddNumberToObject(kl, "pid", kst[i] ? jint(kst[i], "pid") : 0);
		cJSON_AddBoolToObject(kl, "running", kst[i] != NULL);
		for (int a = 1; a >= 0; a--) {
			struct proc_view v;
			char *reply = NULL;
			cJSON *view, *r;
			const char *mode;

			component_view(c, n, kst[i], a, &v, &reply);
			view = cJSON_AddObjectToObject(o, a ? "agent" : "ztunnel");
			add_view(view, &v, true);
			r = reply ? cJSON_Parse(reply) : NULL;
			mode = status_capture_mode(r);
			if (mode)
				cJSON_AddStringToObject(view, "captureMode", mode);
			/* Its cluster and network (a network istio-system's label names wins). */
			for (size_t f = 0; f < 2; f++) {
				const char *key = f ? "network" : "clusterId";
				const char *val = status_result_str(r, key);

				if (val)
					cJSON_AddStringToObject(view, key, val);
			}
			cJSON_Delete(r);
			free(reply);
		}
	}
	root = plan_read_pods_json(c);
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(root, "pods"))
	{
		const struct ctl_node *n = cluster_node(c, jstr(pod, "node"));
		cJSON *o = cJSON_CreateObject();
		struct proc_view v;
		char pidf[PATH_MAX];

		if (!pods || !o || !cJSON_AddItemToArray(pods, o)) {
			cJSON_Delete(o);
			break;
		}
		str_fmt(pidf, sizeof(pidf), "pods/%s_%s.pid", jstr(pod, "namespace"),
			jstr(pod, "name"));
		view_of(c, n ? kst[n->index - 1] : NULL, jstr(pod, "uid"), pidf, &v);
		cJSON_AddStringToObject(o, "namespace", jstr(pod, "namespace"));
		cJSON_AddStringToObject(o, "name", jstr(pod, "name"));
		cJSON_AddStringToObject(o, "node", jstr(pod, "node"));
		cJSON_AddStringToObject(o, "ip", jstr(pod, "ip"));
		if (jstr(pod, "ip6")[0])
			cJSON_AddStringToObject(o, "ip6", jstr(pod, "ip6"));
		cJSON_AddStringToObject(o, "netns", jstr(pod, "netns"));
		cJSON_AddStringToObject(o, "cgroup", jstr(pod, "cgroup"));
		add_view(o, &v, false);
	}
	cJSON_Delete(root);
	for (int i = 0; i < c->nnodes; i++)
		cJSON_Delete(kst[i]);
	return out;
}

static int local_status_json(const struct ctl_cluster *c)
{
	cJSON *out = local_status_doc(c);
	char *text = out ? cJSON_Print(out) : NULL;

	cJSON_Delete(out);
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

/* "ready (pid 12)", "up (pid 12), 2 restarts", "CrashLoopBackOff, 3 restarts", "down". */
static void component_cell(const struct proc_view *v, char *buf, size_t len)
{
	int restarts = v->rec ? jint(v->rec, "restarts") : 0;
	char state[64];

	if (v->running)
		str_fmt(state, sizeof(state), "%s (pid %d)", v->ready ? "ready" : "up", v->pid);
	else
		str_fmt(state, sizeof(state), "%s", v->rec ? jstr(v->rec, "state") : "down");
	if (restarts)
		str_fmt(buf, len, "%s, %d restart%s", state, restarts, restarts == 1 ? "" : "s");
	else
		str_fmt(buf, len, "%s", state);
}

static void print_pods(const struct ctl_cluster *c, cJSON *const *kst)
{
	cJSON *root = plan_read_pods_json(c), *pod;

	if (!root)
		return;
	printf("\n%-32s %-7s %-12s %-17s %-8s %s\n", "POD", "NODE", "IP", "STATUS", "RESTARTS",
	       "REASON");
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(root, "pods"))
	{
		const struct ctl_node *n = cluster_node(c, jstr(pod, "node"));
		struct proc_view v;
		char pidf[PATH_MAX];
		const char *state;

		str_fmt(pidf, sizeof(pidf), "pods/%s_%s.pid", jstr(pod, "namespace"),
			jstr(pod, "name"));
		view_of(c, n ? kst[n->index - 1] : NULL, jstr(pod, "uid"), pidf, &v);
		/* As kubectl says of the pods of a node that stopped reporting. */
		state = v.rec ? jstr(v.rec, "state") : "Unknown";
		printf("%-32s %-7s %-12s %-17s %-8d %s\n", jstr(pod, "uid"), jstr(pod, "node"),
		       jstr(pod, "ip")[0] ? jstr(pod, "ip") : jstr(pod, "ip6"), state,
		       v.rec ? jint(v.rec, "restarts") : 0,
		       !v.rec			  ? (v.running ? "kubelet down; its process runs"
							       : "kubelet down; not running")
		       : strcmp(state, "Running") ? jstr(v.rec, "reason")
						  : "");
	}
	cJSON_Delete(root);
}

/* --kube: where the API server is and whether it runs, and the CA pod (node1's kubelet). */
static void print_kube(const struct ctl_cluster *c, const cJSON *node1)
{
	const cJSON *ca = node1 ? kubelet_find(node1, "ambit-ca") : NULL;
	char path[PATH_MAX], why[600], server[128] = "?";
	int pid;

	cluster_path(c, path, sizeof(path), "kube/apiserver.pid");
	pid = read_pid_file(path);
	cluster_path(c, path, sizeof(path), "kube/kubeconfig");
	kube_host_server(c, server, sizeof(server));
	printf("kubernetes: API server %s (pods: https://%s:%d) %s, kubeconfig %s\n", server,
	       cluster_fabric_host(c), CTL_KUBE_API_PORT,
	       pid > 0 && pid_alive(pid) ? "up" : "down (see `ambitctl local logs apiserver`)",
	       path);
	printf("kubernetes: CA pod %s/ambit-ca-%s: %s\n", CTL_KUBE_NS, c->nodes[0].name,
	       ca ? kubelet_describe(ca, why, sizeof(why)) : "unknown (node1's kubelet is down)");
	/* What follows kubectl's writes (kimport.c); nothing restarts it. */
	cluster_path(c, path, sizeof(path), "kube/controller.pid");
	pid = read_pid_file(path);
	printf("kubernetes: controller %s\n",
	       pid > 0 && pid_alive(pid)
		   ? "following the API server"
		   : "down: kubectl's changes are not followed (see logs/kube-controller.log)");
}

int local_status(const struct ctl_opts *o)
{
	cJSON *kst[CTL_MAX_NODES] = {0};
	char capture[CTL_MAX_NODES][32] = {{0}}; /* the agents' captureMode, "" if unsaid */
	bool print_errors = false, kubelet_down = false;
	struct ctl_cluster c;
	int ret, err;

	ret = cluster_open(&c, &(struct ctl_opts){.cluster = o->cluster});
	if (ret)
		return ret;
	if (o->json)
		return local_status_json(&c);
	printf("cluster %s (%s), manifests from %s, pod network %s\n", c.name, c.run_dir,
	       c.src_dir[0] ? c.src_dir : "?", cluster_cni_name(c.cni));
	if (c.network[0])
		printf("cluster id %s, network %s\n", c.cluster_id, c.network);
	printf("%-7s %-12s %-18s %-30s %s\n", "NODE", "IP", "KUBELET", "AGENT", "ZTUNNEL");
	for (int i = 0; i < c.nnodes; i++) {
		const struct ctl_node *n = &c.nodes[i];
		struct proc_view av, zv;
		char k[32], a[64], z[64], *reply = NULL;

		kst[i] = kubelet_call(n, "{\"op\":\"status\"}", true, &err);
		kubelet_down |= !kst[i];
		component_view(&c, n, kst[i], true, &av, &reply);
		component_view(&c, n, kst[i], false, &zv, NULL);
		if (av.ready && reply) {
			cJSON *r = cJSON_Parse(reply);
			const char *mode = status_capture_mode(r);

			print_errors |= cJSON_GetArraySize(status_errors(r)) > 0;
			if (mode)
				str_fmt(capture[i], sizeof(capture[i]), "%s", mode);
			cJSON_Delete(r);
		}
		free(reply);
		if (kst[i])
			str_fmt(k, sizeof(k), "up (pid %d)", jint(kst[i], "pid"));
		else
			str_fmt(k, sizeof(k), "down");
		component_cell(&av, a, sizeof(a));
		component_cell(&zv, z, sizeof(z));
		printf("%-7s %-12s %-18s %-30s %s\n", n->name, node_host_ip(n), k, a, z);
	}
	for (int i = 0; i < c.nnodes; i++) {
		if (capture[i][0])
			printf("%s capture %s\n", c.nodes[i].name, capture[i]);
	}
	for (int i = 0; i < c.nnodes; i++) {
		for (int a = 1; kst[i] && a >= 0; a--) {
			const cJSON *rec = kubelet_find(kst[i], a ? "agent" : "ztunnel");
			char why[600];

			if (rec && strcmp(jstr(rec, "state"), "Running"))
				printf("%s %s: %s\n", c.nodes[i].name, a ? "agent" : "ztunnel",
				       kubelet_describe(rec, why, sizeof(why)));
		}
	}
	if (c.kube)
		print_kube(&c, kst[0]);
	if (kubelet_down)
		printf("a node whose kubelet is down restarts nothing (see `ambitctl local logs "
		       "nodeN-kubelet`)\n");
	for (int i = 0; print_errors && i < c.nnodes; i++) {
		char *reply = NULL;

		if (!ipc_request(c.nodes[i].socket, CTL_AGENT_STATUS_REQ, &reply))
			agent_print_errors(c.nodes[i].name, reply);
		free(reply);
	}
	print_pods(&c, kst);
	for (int i = 0; i < c.nnodes; i++)
		cJSON_Delete(kst[i]);
	return 0;
}
