// SPDX-License-Identifier: Apache-2.0
/*
 * A local node's pod network through real CNI plugins, run as a kubelet's runtime runs a
 * conflist (CNI 1.0): Debian's containernetworking-plugins (ptp or bridge, host-local,
 * loopback), then ambit-cni when it is built beside ambitctl. Each node has its conflist in its
 * state dir, written at `local up`; each plugin is executed in the node's netns (the node is
 * the plugins' host) with the CNI_* variables and its config on stdin, the list's name and
 * cniVersion injected and the previous plugin's result as prevResult. DEL runs the list in
 * reverse. A plugin that fails exits non-zero with the specification's error JSON on stdout,
 * which is what the caller is told.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "local.h"

#define CNI_VERSION "1.0.0"
#define CNI_NET_NAME "ambit-pods"
#define CNI_OUT_MAX (256 * 1024)

static int cni_conflist_path(const struct ctl_cluster *c, const struct ctl_node *n, char *buf,
			     size_t len)
{
	return cluster_path(c, buf, len, "%s/cni.conflist", n->name);
}

/*
 * CNI_PATH: the directory of this ambitctl first (where ambit-cni is built), then Debian's
 * plugins. @self gets that directory alone.
 */
static int cni_path(char *self, size_t self_len, char *path, size_t len)
{
	char exe[PATH_MAX];
	ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (r < 0)
		return -errno;
	exe[r] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	str_fmt(self, self_len, "%s", exe);
	return str_fmt(path, len, "%s:" CTL_CNI_PLUGIN_DIR, exe);
}

/*
 * host-local's reservations live in the node's runtime dir, which `local reboot` empties as a
 * reboot empties /run: a pod made again after a reboot asks for the address it had. The default
 * route is the IPAM's for ptp; the bridge plugin adds its own (isDefaultGateway), and a second
 * one fails the ADD.
 */
static cJSON *cni_ipam(const struct ctl_cluster *c, const struct ctl_node *n)
{
	cJSON *ipam = cJSON_CreateObject(), *ranges, *set, *range, *routes, *def;
	bool ok;
	char dir[PATH_MAX];

	cluster_path(c, dir, sizeof(dir), "%s/run/cni-ipam", n->name);
	ok = ipam && cJSON_AddStringToObject(ipam, "type", "host-local") &&
	     cJSON_AddStringToObject(ipam, "dataDir", dir) &&
	     (ranges = cJSON_AddArrayToObject(ipam, "ranges"));
	/* IPv4, dual stack: the IPv4 range; an IPv6 cluster's pods have none. */
	if (ok && !n->pods_v6only)
		ok = (set = cJSON_CreateArray()) && cJSON_AddItemToArray(ranges, set) &&
		     (range = cJSON_CreateObject()) && cJSON_AddItemToArray(set, range) &&
		     cJSON_AddStringToObject(range, "subnet", n->pod_cidr) &&
		     cJSON_AddStringToObject(range, "gateway", n->pod_gw);
	/* Dual stack: a second range set, so that a pod gets one address of each family. */
	if (ok && n->pod_cidr6[0])
		ok = (set = cJSON_CreateArray()) && cJSON_AddItemToArray(ranges, set) &&
		     (range = cJSON_CreateObject()) && cJSON_AddItemToArray(set, range) &&
		     cJSON_AddStringToObject(range, "subnet", n->pod_cidr6) &&
		     cJSON_AddStringToObject(range, "gateway", n->pod_gw6);
	if (ok && c->cni != CTL_CNI_BRIDGE)
		ok = (routes = cJSON_AddArrayToObject(ipam, "routes")) &&
		     (n->pods_v6only ||
		      ((def = cJSON_CreateObject()) && cJSON_AddItemToArray(routes, def) &&
		       cJSON_AddStringToObject(def, "dst", "0.0.0.0/0"))) &&
		     (!n->pod_cidr6[0] ||
		      ((def = cJSON_CreateObject()) && cJSON_AddItemToArray(routes, def) &&
		       cJSON_AddStringToObject(def, "dst", "::/0")));
	if (ok)
		return ipam;
	cJSON_Delete(ipam);
	return NULL;
}

/*
 * Routed: ptp, whose host veth holds the node's .1 as a /32 and routes the pod's address to it
 * (the pod keeps its address, a default route via .1 the node answers). Bridged: the bridge
 * plugin on cni0, which up_node_bridge made with its stable MAC and the gateway address (the
 * plugin takes the bridge as it finds it), the MTU the VXLAN leaves.
 */
static cJSON *cni_main_plugin(const struct ctl_cluster *c, const struct ctl_node *n)
{
	cJSON *pl = cJSON_CreateObject(), *ipam = cni_ipam(c, n);
	bool ok = pl && ipam;

	if (ok && c->cni == CTL_CNI_BRIDGE)
		ok = cJSON_AddStringToObject(pl, "type", "bridge") &&
		     cJSON_AddStringToObject(pl, "bridge", CTL_CNI_BRIDGE_IFACE) &&
		     cJSON_AddTrueToObject(pl, "isGateway") &&
		     cJSON_AddTrueToObject(pl, "isDefaultGateway") &&
		     cJSON_AddNumberToObject(pl, "mtu", atoi(CTL_CNI_BRIDGE_MTU));
	else if (ok)
		ok = cJSON_AddStringToObject(pl, "type", "ptp") != NULL;
	if (ok && cJSON_AddItemToObject(pl, "ipam", ipam))
		return pl;
	cJSON_Delete(pl);
	cJSON_Delete(ipam);
	return NULL;
}

int cni_conflist_write(const struct ctl_cluster *c, const struct ctl_node *n)
{
	char path[PATH_MAX], self[PATH_MAX], cpath[PATH_MAX * 2], exe[PATH_MAX * 2];
	cJSON *root = cJSON_CreateObject(), *plugins, *pl;
	char *text = NULL;
	int ret = -ENOMEM;

	ret = cni_path(self, sizeof(self), cpath, sizeof(cpath));
	if (ret)
		goto out;
	ret = -ENOMEM;
	if (!root || !cJSON_AddStringToObject(root, "cniVersion", CNI_VERSION) ||
	    !cJSON_AddStringToObject(root, "name", CNI_NET_NAME) ||
	    !(plugins = cJSON_AddArrayToObject(root, "plugins")) || !(pl = cni_main_plugin(c, n)) ||
	    !cJSON_AddItemToArray(plugins, pl) || !(pl = cJSON_CreateObject()) ||
	    !cJSON_AddItemToArray(plugins, pl) || !cJSON_AddStringToObject(pl, "type", "loopback"))
		goto out;
	/*
	 * ambit-cni last: its ADD fails while the node's agent is not there to capture the pod,
	 * and returns once the pod's capture is in force (with --kube too: it hands the agent's
	 * container the pod's netns open, which that container has no path to).
	 */
	str_fmt(exe, sizeof(exe), "%s/" CTL_CNI_AMBIT, self);
	/* --kube: the plugin judges pods by the API server while the agent is away (kubeup.c). */
	cluster_path(c, path, sizeof(path), "%s/" CTL_CNI_KUBECONFIG, n->name);
	if (access(exe, X_OK) == 0 &&
	    (!(pl = cJSON_CreateObject()) || !cJSON_AddItemToArray(plugins, pl) ||
	     !cJSON_AddStringToObject(pl, "type", CTL_CNI_AMBIT) ||
	     !cJSON_AddStringToObject(pl, "agentSocket", n->socket) ||
	     (c->kube && !cJSON_AddStringToObject(pl, "kubeconfig", path))))
		goto out;
	text = cJSON_Print(root);
	if (!text)
		goto out;
	ret = cni_conflist_path(c, n, path, sizeof(path));
	if (!ret)
		ret = write_file_atomic(path, text);
	if (ret)
		fprintf(stderr, "ambitctl: %s: %s\n", path, strerror(-ret));
out:
	free(text);
	cJSON_Delete(root);
	return ret;
}

struct cni_call {
	const char *command; /* ADD or DEL */
	const char *node_ns; /* the netns the plugins run in */
	const char *pod_ns;  /* the pod's netns name */
	const char *cni_path;
	char args[1024]; /* CNI_ARGS */
	/* Dual stack, ADD: the plan's addresses, as args.cni.ips of the plugin with an IPAM. */
	const char *ips[2];
};

/*
 * Runs @plugin (a path) as CNI_COMMAND @call->command with @conf on stdin; *@out gets its stdout
 * (malloc'd, NUL-ended). Returns its exit status (0 success), or -errno when it could not run.
 */
static int cni_exec(const struct cni_call *call, const char *plugin, const char *conf, char **out)
{
	int in[2], outp[2], status;
	char env[7][1200], *envp[8];
	size_t used = 0, cap = 4096;
	char *buf = malloc(cap);
	void (*old_pipe)(int);
	pid_t pid;

	if (!buf)
		return -ENOMEM;
	str_fmt(env[0], sizeof(env[0]), "CNI_COMMAND=%s", call->command);
	str_fmt(env[1], sizeof(env[1]), "CNI_CONTAINERID=%s", call->pod_ns);
	str_fmt(env[2], sizeof(env[2]), "CNI_NETNS=/var/run/netns/%s", call->pod_ns);
	str_fmt(env[3], sizeof(env[3]), "CNI_IFNAME=eth0");
	str_fmt(env[4], sizeof(env[4]), "CNI_PATH=%s", call->cni_path);
	str_fmt(env[5], sizeof(env[5]), "CNI_ARGS=%s", call->args);
	str_fmt(env[6], sizeof(env[6]), "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	for (int i = 0; i < 7; i++)
		envp[i] = env[i];
	envp[7] = NULL;
	if (pipe2(in, O_CLOEXEC) < 0) {
		free(buf);
		return -errno;
	}
	if (pipe2(outp, O_CLOEXEC) < 0) {
		int e = errno;

		close(in[0]);
		close(in[1]);
		free(buf);
		return -e;
	}
	pid = fork();
	if (pid == 0) {
		char *argv[] = {"ip", "netns", "exec", (char *)call->node_ns, (char *)plugin, NULL};

		dup2(in[0], STDIN_FILENO);
		dup2(outp[1], STDOUT_FILENO);
		/* `ip netns exec` also gives the plugin the node's /sys, as a host's. */
		execve("/usr/bin/ip", argv, envp);
		execve("/sbin/ip", argv, envp);
		dprintf(STDERR_FILENO, "exec ip: %s\n", strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	if (pid < 0) {
		int e = errno;

		close(in[1]);
		close(outp[0]);
		free(buf);
		return -e;
	}
	/*
	 * A config is a few KiB: the pipe holds it before the plugin reads it. A plugin that exits
	 * without reading it must not take ambitctl with it (SIGPIPE): EPIPE is enough.
	 */
	old_pipe = signal(SIGPIPE, SIG_IGN);
	for (size_t off = 0, left = strlen(conf); left;) {
		ssize_t w = write(in[1], conf + off, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
		left -= (size_t)w;
	}
	close(in[1]);
	signal(SIGPIPE, old_pipe);
	for (;;) {
		ssize_t r;

		if (used + 1 == cap && cap < CNI_OUT_MAX) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(outp[0], buf + used, cap - 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
	}
	buf[used] = '\0';
	close(outp[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			free(buf);
			return -errno;
		}
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* @plugin's conf: its entry with the list's name and cniVersion, and @prev as prevResult. */
/*
 * host-local's requested addresses of both families: args.cni.ips (CNI_ARGS' IP= takes one), in
 * the configuration of the plugin that runs it (ptp, bridge).
 */
static bool cni_conf_ips(cJSON *conf, const char *const ips[2])
{
	cJSON *args, *cni, *arr;

	if (!ips[0] || !cJSON_HasObjectItem(conf, "ipam"))
		return true;
	return (args = cJSON_AddObjectToObject(conf, "args")) &&
	       (cni = cJSON_AddObjectToObject(args, "cni")) &&
	       (arr = cJSON_AddArrayToObject(cni, "ips")) &&
	       cJSON_AddItemToArray(arr, cJSON_CreateString(ips[0])) &&
	       (!ips[1] || cJSON_AddItemToArray(arr, cJSON_CreateString(ips[1])));
}

static char *cni_plugin_conf(const cJSON *list, const cJSON *entry, const cJSON *prev,
			     const char *const ips[2])
{
	cJSON *conf = cJSON_Duplicate(entry, true);
	char *text = NULL;

	if (conf && cni_conf_ips(conf, ips) &&
	    cJSON_AddStringToObject(conf, "name", CNI_NET_NAME) &&
	    cJSON_AddStringToObject(
		conf, "cniVersion",
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(list, "cniVersion"))) &&
	    (!prev || cJSON_AddItemToObject(conf, "prevResult", cJSON_Duplicate(prev, true))))
		text = cJSON_PrintUnformatted(conf);
	cJSON_Delete(conf);
	return text;
}

/* The specification's error (code, msg, details) from a failed plugin's stdout, into @why. */
static void cni_error(const char *type, int status, const char *out, char *why, size_t len)
{
	cJSON *err = cJSON_Parse(out);
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "msg"));
	const char *det = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "details"));
	double code = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(err, "code"));

	if (msg)
		str_fmt(why, len, "plugin type=\"%s\" failed (code %.0f): %s%s%s", type, code, msg,
			det && *det ? ": " : "", det ? det : "");
	else
		str_fmt(why, len, "plugin type=\"%s\" failed (exit %d): %.200s", type, status, out);
	cJSON_Delete(err);
}

/*
 * The plugins name the host's veth at random; the local cluster's plan named it, and pods.json
 * tells the agent that name. It is renamed to the plan's as soon as the first plugin made it
 * (before ambit-cni asks the agent to capture the pod), and the result told so. A link is
 * renamed only down, which may take ptp's route to the pod with it: it is put back.
 */
static int cni_rename_host(const struct ctl_cluster *c, const struct ctl_pod *p, cJSON *result,
			   char *why, size_t len)
{
	const cJSON *ifc;
	char addr[48];

	cJSON_ArrayForEach(ifc, cJSON_GetObjectItemCaseSensitive(result, "interfaces"))
	{
		cJSON *name = cJSON_GetObjectItemCaseSensitive(ifc, "name");
		char *ns = (char *)p->node->netns, *old = cJSON_GetStringValue(name);

		if (cJSON_HasObjectItem(ifc, "sandbox") || !old || strncmp(old, "veth", 4))
			continue;
		if (RUN("ip", "-n", ns, "link", "set", old, "down") ||
		    RUN("ip", "-n", ns, "link", "set", old, "name", (char *)p->iface) ||
		    RUN("ip", "-n", ns, "link", "set", (char *)p->iface, "up")) {
			str_fmt(why, len, "renaming the host veth %s to %s failed", old, p->iface);
			return -EIO;
		}
		cJSON_SetValuestring(name, p->iface);
		str_fmt(addr, sizeof(addr), "%s/32", p->ip_str);
		if (c->cni != CTL_CNI_BRIDGE && pod_ip4(p)[0] &&
		    RUN("ip", "-n", ns, "route", "replace", addr, "dev", (char *)p->iface, "scope",
			"host")) {
			str_fmt(why, len, "the route to %s on %s failed", addr, p->iface);
			return -EIO;
		}
		if (c->cni != CTL_CNI_BRIDGE && p->node->pod_cidr6[0] &&
		    (cluster_ip6(p->ip_str, addr, sizeof(addr) - 5) ||
		     str_fmt(addr + strlen(addr), 5, "/128") ||
		     RUN("ip", "-n", ns, "-6", "route", "replace", addr, "dev",
			 (char *)p->iface))) {
			str_fmt(why, len, "the IPv6 route to pod %s on %s failed", p->ip_str,
				p->iface);
			return -EIO;
		}
		return 0;
	}
	str_fmt(why, len, "no host veth in the result of the first plugin");
	return -EIO;
}

/* @type's executable on CNI_PATH @cpath into @exe: 0 or -ENOENT. */
static int cni_find(const char *cpath, const char *type, char *exe, size_t len)
{
	const char *dir = cpath;

	if (strchr(type, '/'))
		return -ENOENT;
	while (*dir) {
		size_t dlen = strcspn(dir, ":");

		str_fmt(exe, len, "%.*s/%s", (int)dlen, dir, type);
		if (dlen && access(exe, X_OK) == 0)
			return 0;
		dir += dlen + (dir[dlen] == ':');
	}
	return -ENOENT;
}

static cJSON *cni_load(const struct ctl_cluster *c, const struct ctl_node *n, char *why, size_t len)
{
	char path[PATH_MAX];
	char *text;
	cJSON *list;

	cni_conflist_path(c, n, path, sizeof(path));
	text = read_file(path, NULL);
	list = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!list || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(list, "plugins"))) {
		str_fmt(why, len, "%s: no conflist", path);
		cJSON_Delete(list);
		return NULL;
	}
	return list;
}

static int cni_call_init(struct cni_call *call, const char *command, const struct ctl_node *n,
			 const char *pod_ns, const char *ns, const char *name, const char *ip,
			 char *cpath, size_t cpath_len)
{
	char self[PATH_MAX];
	int ret = cni_path(self, sizeof(self), cpath, cpath_len);

	memset(call, 0, sizeof(*call));
	call->command = command;
	call->node_ns = n->netns;
	call->pod_ns = pod_ns;
	call->cni_path = cpath;
	/* IP= is host-local's requested address: the pod keeps the one the plan gave it. */
	str_fmt(call->args, sizeof(call->args),
		"IgnoreUnknown=1%s%s;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
		"K8S_POD_INFRA_CONTAINER_ID=%s",
		ip ? ";IP=" : "", ip ? ip : "", ns, name, pod_ns);
	return ret;
}

int cni_del(const struct ctl_cluster *c, const struct ctl_node *n, const char *ns, const char *name,
	    char *why, size_t len)
{
	char pod_ns[CTL_NAME_MAX * 2], cpath[PATH_MAX * 2];
	struct cni_call call;
	cJSON *list = cni_load(c, n, why, len), *plugins;
	int ret = 0, count;

	if (!list)
		return -ENOENT;
	cluster_pod_netns(c, ns, name, pod_ns, sizeof(pod_ns));
	ret = cni_call_init(&call, "DEL", n, pod_ns, ns, name, NULL, cpath, sizeof(cpath));
	plugins = cJSON_GetObjectItemCaseSensitive(list, "plugins");
	count = ret ? 0 : cJSON_GetArraySize(plugins);
	/* Every plugin is told, even after one failed: each releases what it took. */
	for (int i = count - 1; i >= 0; i--) {
		const cJSON *entry = cJSON_GetArrayItem(plugins, i);
		const char *type =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "type"));
		char *conf = cni_plugin_conf(list, entry, NULL, call.ips), *out = NULL,
		     exe[PATH_MAX];
		int r;

		r = type && conf && !cni_find(cpath, type, exe, sizeof(exe))
			? cni_exec(&call, exe, conf, &out)
			: -ENOENT;
		if (r && !ret) {
			if (r > 0)
				cni_error(type, r, out ? out : "", why, len);
			else
				str_fmt(why, len, "plugin type=\"%s\": %s", type ? type : "?",
					strerror(-r));
			ret = r > 0 ? -EIO : r;
		}
		free(conf);
		free(out);
	}
	cJSON_Delete(list);
	return ret;
}

int cni_add(const struct ctl_cluster *c, const struct ctl_pod *p, char *why, size_t len)
{
	char cpath[PATH_MAX * 2];
	struct cni_call call;
	cJSON *list = cni_load(c, p->node, why, len), *plugins, *prev = NULL;
	const cJSON *entry;
	char ip6[40] = "";
	int ret, i = 0;

	if (!list)
		return -ENOENT;
	/* Dual stack: both addresses in args.cni.ips, and no IP= (host-local would add it twice).
	 */
	if (p->node->pod_cidr6[0] && cluster_ip6(p->ip_str, ip6, sizeof(ip6))) {
		str_fmt(why, len, "no IPv6 address for %s", p->ip_str);
		cJSON_Delete(list);
		return -EINVAL;
	}
	ret = cni_call_init(&call, "ADD", p->node, p->netns, p->namespace, p->name,
			    ip6[0] ? NULL : p->ip_str, cpath, sizeof(cpath));
	/* IPv6: its IPv6 alone, from host-local's one range. */
	if (ip6[0]) {
		call.ips[0] = pod_ip4(p)[0] ? p->ip_str : ip6;
		call.ips[1] = pod_ip4(p)[0] ? ip6 : NULL;
	}
	plugins = cJSON_GetObjectItemCaseSensitive(list, "plugins");
	cJSON_ArrayForEach(entry, plugins)
	{
		const char *type =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "type"));
		char *conf, *out = NULL, exe[PATH_MAX];
		cJSON *res;
		int r;

		if (ret)
			break;
		if (!type || cni_find(cpath, type, exe, sizeof(exe))) {
			str_fmt(why, len, "plugin type=\"%s\" not found on CNI_PATH %s",
				type ? type : "?", cpath);
			ret = -ENOENT;
			break;
		}
		conf = cni_plugin_conf(list, entry, prev, call.ips);
		r = conf ? cni_exec(&call, exe, conf, &out) : -ENOMEM;
		free(conf);
		res = !r && out ? cJSON_Parse(out) : NULL;
		if (r > 0)
			cni_error(type, r, out ? out : "", why, len);
		else if (r)
			str_fmt(why, len, "plugin type=\"%s\": %s", type, strerror(-r));
		else if (!res)
			str_fmt(why, len, "plugin type=\"%s\": its result is not JSON", type);
		ret = r > 0 ? -EIO : r ? r : res ? 0 : -EPROTO;
		free(out);
		if (!ret && i++ == 0)
			ret = cni_rename_host(c, p, res, why, len);
		cJSON_Delete(prev);
		prev = res;
	}
	cJSON_Delete(prev);
	cJSON_Delete(list);
	if (ret) {
		/* As a runtime after a failed ADD: DEL, so that the next ADD starts clean. */
		char ignored[256];

		cni_del(c, p->node, p->namespace, p->name, ignored, sizeof(ignored));
	}
	return ret;
}

/* Whether @s's sandbox is there already: its netns, and its veth on the node. */
static bool cni_sandbox_exists(const struct ctl_node *n, const struct sandbox *s)
{
	char path[PATH_MAX];

	str_fmt(path, sizeof(path), "/run/netns/%s", s->netns);
	return access(path, F_OK) == 0 &&
	       RUN("ip", "-n", (char *)n->netns, "link", "show", "dev", (char *)s->iface) == 0;
}

int cni_sandbox_make(const struct ctl_cluster *c, const struct ctl_node *n, const struct sandbox *s,
		     char *why, size_t len)
{
	/* Dual stack: no DAD for the plan's addresses (ptp and bridge would wait out its second).
	 */
	const char *pod_kv[] = {"net.ipv4.conf.all.rp_filter",
				"0",
				"net.ipv4.conf.default.rp_filter",
				"0",
				n->pod_cidr6[0] ? "net.ipv6.conf.default.accept_dad" : NULL,
				"0",
				NULL};
	struct ctl_pod p = {.namespace = (char *)s->namespace, .name = (char *)s->name, .node = n};
	char path[PATH_MAX];
	int ret;

	/* A kubelet that restarts finds its pods' sandboxes as the runtime kept them. */
	if (cni_sandbox_exists(n, s))
		return 0;
	str_fmt(p.ip_str, sizeof(p.ip_str), "%s", s->ip);
	str_fmt(p.netns, sizeof(p.netns), "%s", s->netns);
	str_fmt(p.iface, sizeof(p.iface), "%s", s->iface);
	/* What a sandbox that failed half-way left (the DEL of its ADD ran already). */
	str_fmt(path, sizeof(path), "/run/netns/%s", s->netns);
	if (access(path, F_OK) == 0 && RUN("ip", "netns", "del", (char *)s->netns)) {
		str_fmt(why, len, "netns %s: a stale one could not be deleted", s->netns);
		return -EIO;
	}
	if (RUN("ip", "netns", "add", (char *)s->netns)) {
		str_fmt(why, len, "netns %s could not be made", s->netns);
		return -EIO;
	}
	/* Before eth0 is made, which takes default's. */
	ret = sysctl_in(s->netns, pod_kv);
	if (ret)
		str_fmt(why, len, "netns %s: rp_filter: %s", s->netns, strerror(-ret));
	/*
	 * The pod's cgroup before the chain, as a kubelet makes the pod's cgroup before
	 * RunPodSandbox: ambit-cni's ADD returns only once the agent holds the pod's cgroup in
	 * its enrolled map (host capture), which it cannot while the cgroup does not exist.
	 */
	if (!ret && (ret = mkdir_p(s->cgroup, 0755)))
		str_fmt(why, len, "mkdir %s: %s", s->cgroup, strerror(-ret));
	if (!ret)
		ret = cni_add(c, &p, why, len);
	if (!ret && (ret = mkdir_p(s->pod_dir, 0755)))
		str_fmt(why, len, "mkdir %s: %s", s->pod_dir, strerror(-ret));
	/* No half-made sandbox stays: the next attempt makes it whole. */
	if (ret)
		RUN("ip", "netns", "del", (char *)s->netns);
	return ret;
}

void cni_sandbox_remove(const struct ctl_cluster *c, const struct ctl_node *n,
			const struct sandbox *s)
{
	char why[1024], path[PATH_MAX];
	int ret = cni_del(c, n, s->namespace, s->name, why, sizeof(why));

	if (ret && ret != -ENOENT)
		fprintf(stderr, "pod %s/%s: CNI DEL: %s\n", s->namespace, s->name, why);
	str_fmt(path, sizeof(path), "/run/netns/%s", s->netns);
	if (access(path, F_OK) == 0)
		RUN("ip", "netns", "del", (char *)s->netns);
}
