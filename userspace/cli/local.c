// SPDX-License-Identifier: Apache-2.0
/* `ambitctl local exec|logs|stop|start`: operating a running local cluster. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>

#include "ambit/bpf_abi.h"
#include "ctl.h"

static int load_cluster(const struct ctl_opts *o, struct ctl_cluster *c)
{
	int ret = cluster_load(c, o->cluster);

	if (ret == -ENOENT)
		cluster_tell_not_up(o->cluster);
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
	/* As kubectl: a namespace no pod is in is not there (the store's own are all pods'). */
	if (n == 0 && in && !match_pods(pods, in, in, "namespace", &found))
		tell_ns_not_found(in);
	else if (n == 0)
		fprintf(stderr, "Error from server (NotFound): pods \"%s\" not found\n", name);
	return n == 1 ? found : NULL;
}

/* The exit status of the command as a shell reports it (128 + signal when killed). */
static int exec_wait(pid_t child)
{
	int status;

	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR)
			return 127;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static pid_t exec_child;

static void exec_forward(int sig)
{
	if (exec_child > 0)
		kill(exec_child, sig);
}

/*
 * Runs @cmd in the pod as kubectl exec runs a command in a container: in its container's cgroup
 * (below the pod's, so its sockets are captured as the pod's), its network, mount, pid, uts and
 * ipc namespaces, as its user with its capabilities, from its working directory. Exits with the
 * command's status.
 */
static int exec_in(const struct sandbox *s, int pid, char **cmd)
{
	char procs[PATH_MAX + 16], txt[32], why[512];
	struct sigaction sa = {.sa_handler = exec_forward};
	int fd, ret;

	/* A pidfd names this very process: a pod restarting meanwhile cannot be mistaken. */
	fd = pidfd_open(pid, 0);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, "ambitctl: pod %s/%s: %s\n", s->namespace, s->name, strerror(-ret));
		return ret;
	}
	str_fmt(procs, sizeof(procs), "%s/cgroup.procs", s->container_cg);
	str_fmt(txt, sizeof(txt), "%d\n", getpid());
	ret = write_file(procs, txt);
	if (ret) {
		fprintf(stderr, "ambitctl: join %s: %s\n", procs, strerror(-ret));
		close(fd);
		return ret;
	}
	if (setns(fd, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) <
	    0) {
		ret = -errno;
		fprintf(stderr, "ambitctl: entering pod %s/%s: %s\n", s->namespace, s->name,
			strerror(-ret));
		close(fd);
		return ret;
	}
	close(fd);
	/* Only a child enters the pid namespace; this process waits and passes signals on. */
	exec_child = fork();
	if (exec_child < 0)
		return -errno;
	if (exec_child == 0) {
		/*
		 * A terminal that is no session's (the API server's pods/exec with tty): the
		 * command leads a session of its own in the pod with it as its controlling
		 * terminal, as a container's process does, so a shell's job control works there.
		 * A terminal the caller's session holds is left as it is.
		 */
		if (isatty(STDIN_FILENO) && tcgetsid(STDIN_FILENO) < 0 && setsid() >= 0)
			ioctl(STDIN_FILENO, TIOCSCTTY, 0);
		if (chdir(s->cwd) < 0 && chdir("/") < 0)
			_exit(126);
		/*
		 * kubectl exec's: the container's environment, not the caller's; with a
		 * terminal, TERM as containerd sets it for a tty process.
		 */
		sandbox_env(s);
		if (isatty(STDIN_FILENO))
			setenv("TERM", "xterm", 0);
		if (sandbox_identity(s, why, sizeof(why))) {
			fprintf(stderr, "ambitctl: %s\n", why);
			_exit(126);
		}
		execvp(cmd[0], cmd);
		fprintf(stderr, "ambitctl: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	/*
	 * _exit: this process is in the pod's namespaces now, where LeakSanitizer's exit-time
	 * check (SAN=1) cannot stop the world and spins; nothing else runs at exit here.
	 */
	fflush(NULL);
	_exit(exec_wait(exec_child));
}

/* Says why there is nothing to exec into, as the pod's kubelet knows it. */
static void exec_not_running(const struct ctl_cluster *c, const struct sandbox *s)
{
	const struct ctl_node *n = cluster_node(c, s->node);
	cJSON *st = NULL;
	char uid[600], why[700] = "its kubelet does not answer";
	int err;

	str_fmt(uid, sizeof(uid), "%s/%s", s->namespace, s->name);
	if (n && (st = kubelet_call(n, "{\"op\":\"status\"}", true, &err)))
		kubelet_describe(kubelet_find(st, uid), why, sizeof(why));
	fprintf(stderr, "ambitctl: pod %s is not running: %s\n", uid, why);
	cJSON_Delete(st);
}

int local_exec(const struct ctl_opts *o, const char *spec, char **cmd)
{
	struct ctl_cluster c;
	struct sandbox s;
	char pidf[PATH_MAX];
	cJSON *root, *pod;
	int ret, pid;

	ret = load_cluster(o, &c);
	if (ret)
		return ret;
	root = plan_read_pods_json(&c);
	if (!root) {
		fprintf(stderr, "ambitctl: cannot read pods.json: %s\n", strerror(errno));
		return -errno;
	}
	pod = local_find_pod(root, spec);
	ret = pod ? sandbox_from_json(&c, pod, &s) : -ENOENT;
	cJSON_Delete(root);
	if (ret) {
		if (ret != -ENOENT)
			fprintf(stderr, "ambitctl: pods.json: pod %s: %s\n", spec, strerror(-ret));
		return ret;
	}
	cluster_path(&c, pidf, sizeof(pidf), "pods/%s_%s.pid", s.namespace, s.name);
	pid = read_pid_file(pidf);
	if (pid <= 0 || !pid_alive(pid)) {
		exec_not_running(&c, &s);
		sandbox_free(&s);
		return -ESRCH;
	}
	ret = exec_in(&s, pid, cmd);
	sandbox_free(&s);
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
	/* --kube: the API server's log, and the CA pod's (node1-ambit-ca). */
	if (c.kube && !strcmp(what, "apiserver")) {
		cluster_path(&c, path, sizeof(path), "logs/apiserver.log");
		goto show;
	}
	for (int i = 0; i < c.nnodes; i++) {
		char a[64], z[64], k[64], ca[64];

		str_fmt(a, sizeof(a), "%s-agent", c.nodes[i].name);
		str_fmt(z, sizeof(z), "%s-ztunnel", c.nodes[i].name);
		str_fmt(k, sizeof(k), "%s-kubelet", c.nodes[i].name);
		str_fmt(ca, sizeof(ca), "%s-ambit-ca", c.nodes[i].name);
		if (!strcmp(what, a) || !strcmp(what, z) || !strcmp(what, k) ||
		    (c.kube && i == 0 && !strcmp(what, ca))) {
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

/*
 * `local stop`: the kubelet kills it and keeps it down until `local start` (with no kubelet,
 * the process is killed directly and nothing would restart it anyway).
 */
static int component_stop(const struct ctl_cluster *c, const struct ctl_node *n, bool agent)
{
	const char *what = agent ? "agent" : "ztunnel";
	char pidf[PATH_MAX];
	int pid = 0, ret;

	ret = kubelet_component(n, false, agent, &pid);
	if (ret == -ENOENT || ret == -ECONNREFUSED) {
		cluster_path(c, pidf, sizeof(pidf), "%s/%s.pid", n->name, what);
		pid = read_pid_file(pidf);
		ret = pid > 0 && kill(pid, SIGKILL) < 0 && errno != ESRCH ? -errno : 0;
		unlink(pidf);
		if (!ret && pid > 0)
			printf("%s %s: killed (pid %d) without its kubelet\n", n->name, what, pid);
		return ret;
	}
	if (ret)
		return ret;
	if (pid > 0)
		printf("%s %s: killed (pid %d), stays down until `local start`\n", n->name, what,
		       pid);
	else
		printf("%s %s: not running\n", n->name, what);
	return 0;
}

static int component_start(const struct ctl_cluster *c, const struct ctl_node *n, bool agent)
{
	const char *what = agent ? "agent" : "ztunnel";
	char pidf[PATH_MAX];
	int old, pid = 0, ret;

	cluster_path(c, pidf, sizeof(pidf), "%s/%s.pid", n->name, what);
	old = read_pid_file(pidf);
	ret = kubelet_component(n, true, agent, &pid);
	if (!ret && pid == old && pid_alive(pid)) {
		printf("%s %s: already running (pid %d)\n", n->name, what, pid);
		return 0;
	}
	if (!ret)
		ret = proc_wait_ready(c, n, agent, pid);
	if (!ret)
		printf("%s %s: started and ready (pid %d)\n", n->name, what, pid);
	return ret;
}

/* The pid serving @n's ztunnel admin port, or 0 (none answers). */
static int serving_pid(const struct ctl_node *n)
{
	char *body = NULL, err[600];
	cJSON *o = NULL;
	int pid = 0;

	if (http_get_in_netns_err(n->netns, AMBIT_PORT_ADMIN, "/server_info", &body, err,
				  sizeof(err)) == 200 &&
	    (o = cJSON_Parse(body)))
		pid = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "pid"));
	cJSON_Delete(o);
	free(body);
	return pid;
}

/* The ztunnel's record in @n's kubelet status (a new object, or NULL). */
static cJSON *ztunnel_record(const struct ctl_node *n, cJSON **status)
{
	int err;

	*status = kubelet_call(n, "{\"op\":\"status\"}", false, &err);
	return *status ? (cJSON *)kubelet_find(*status, "ztunnel") : NULL;
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * `local upgrade ztunnel`: what a DaemonSet rolling update with maxSurge 1 does to a node's pod.
 * A new ztunnel starts beside the running one and takes its listeners (ztunnel/main.c); once
 * the new one answers on the node's ports, the old one gets SIGTERM and drains. No connection
 * is refused meanwhile, and those the old one holds run to their end.
 */
static int ztunnel_upgrade(const struct ctl_node *n)
{
	cJSON *res, *status = NULL, *rec;
	struct timespec t0;
	int err, pid, old, serving = 0;
	double took;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	res = kubelet_call(n, "{\"op\":\"surge\",\"what\":\"ztunnel\"}", false, &err);
	if (!res)
		return err;
	pid = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "pid"));
	old = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "oldPid"));
	cJSON_Delete(res);
	printf("%s ztunnel: pid %d started beside pid %d\n", n->name, pid, old);
	/* Its first snapshot may take the agent a moment: the successor waits up to 45 s. */
	for (int i = 0; i < 60 * 10 && !ctl_interrupted; i++) {
		serving = serving_pid(n);
		if (serving == pid || !pid_alive(pid))
			break;
		usleep(100 * 1000);
	}
	if (serving != pid) {
		fprintf(stderr,
			"ambitctl: %s: the new ztunnel (pid %d) did not take the listeners; pid %d "
			"still serves (see `ambitctl local logs %s-ztunnel`)\n",
			n->name, pid, serving, n->name);
		return -ETIMEDOUT;
	}
	took = elapsed_s(&t0);
	res = kubelet_call(n, "{\"op\":\"retire\",\"what\":\"ztunnel\"}", false, &err);
	if (!res)
		return err;
	cJSON_Delete(res);
	printf("%s ztunnel: pid %d serves the node's ports (%.1f s); pid %d drains\n", n->name, pid,
	       took, old);
	/* The ztunnel's own bound is its --drain-timeout (30 s): then it closes what is left. */
	for (int i = 0; i < 45 * 10 && !ctl_interrupted; i++) {
		rec = ztunnel_record(n, &status);
		err = rec && !cJSON_GetObjectItemCaseSensitive(rec, "replacedPid") ? 0 : -EBUSY;
		cJSON_Delete(status);
		if (!err)
			break;
		usleep(100 * 1000);
	}
	if (err) {
		fprintf(stderr, "ambitctl: %s: the old ztunnel (pid %d) did not exit\n", n->name,
			old);
		return err;
	}
	printf("%s ztunnel: pid %d drained and exited (%.1f s in all)\n", n->name, old,
	       elapsed_s(&t0));
	return 0;
}

/* What a node-by-node command does to one node (@arg: the command's own). */
typedef int (*node_fn)(const struct ctl_cluster *c, const struct ctl_node *n, void *arg);

/* Runs @fn on --node, or on every node in turn; the first failure stops it. */
static int each_node(const struct ctl_opts *o, node_fn fn, void *arg)
{
	struct ctl_cluster c;
	int ret = load_cluster(o, &c);

	if (ret)
		return ret;
	if (o->node && !cluster_node(&c, o->node)) {
		fprintf(stderr, "ambitctl: no node %s\n", o->node);
		return -ENOENT;
	}
	for (int i = 0; i < c.nnodes; i++) {
		if (o->node && strcmp(o->node, c.nodes[i].name))
			continue;
		ret = fn(&c, &c.nodes[i], arg);
		if (ret)
			return ret;
	}
	return 0;
}

static int upgrade_node(const struct ctl_cluster *c, const struct ctl_node *n, void *arg)
{
	return ztunnel_upgrade(n);
}

int local_upgrade(const struct ctl_opts *o, const char *what)
{
	if (strcmp(what, "ztunnel")) {
		fprintf(stderr, "ambitctl: local upgrade takes ztunnel (the agent restarts without "
				"touching traffic: local stop/start agent)\n");
		return -EINVAL;
	}
	return each_node(o, upgrade_node, NULL);
}

struct component_req {
	bool start, agent;
};

static int component_node(const struct ctl_cluster *c, const struct ctl_node *n, void *arg)
{
	const struct component_req *r = arg;

	return r->start ? component_start(c, n, r->agent) : component_stop(c, n, r->agent);
}

int local_component(const struct ctl_opts *o, bool start, const char *what)
{
	struct component_req r = {.start = start};

	if (!strcmp(what, "agent"))
		r.agent = true;
	else if (strcmp(what, "ztunnel")) {
		fprintf(stderr, "ambitctl: local start|stop takes agent or ztunnel\n");
		return -EINVAL;
	}
	return each_node(o, component_node, &r);
}
