// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl local up --with-prometheus [--prometheus-port P]`: Debian's prometheus on the local
 * cluster, scraping as Istio's addon does (deploy/observability/prometheus.yml).
 *
 * It runs beside the cluster's other control-plane processes: in the fabric netns (which this
 * routes to every node's pod CIDR, as a VPC routes a node's pod range to it), in the control
 * cgroup, its data under <run>/prometheus. Istio's addon discovers pods through the API server
 * (kubernetes_sd_configs, role pod); the local cluster has none, so the pods file writes the
 * same __meta_kubernetes_pod_* labels Prometheus's Kubernetes discovery would give each pod
 * into <run>/prometheus/targets/pods.json (file_sd_configs), and the addon's relabelling
 * applies unchanged: the prometheus.io/scrape, port and path annotations, the pod's labels.
 * Each node's ztunnel is listed as the pod Istio's ztunnel DaemonSet makes (istio-system,
 * `app: ztunnel`), which is how Kiali's ambient support finds its metrics. The host reaches
 * the UI and API at 127.0.0.1:P through a port-forward relay (portfwd_relay.c) to the fabric
 * netns's loopback, where prometheus listens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>

#include "local.h"

extern const char _binary_deploy_observability_prometheus_yml_start[];
extern const char _binary_deploy_observability_prometheus_yml_end[];
extern const char _binary_deploy_observability_rules_yml_start[];
extern const char _binary_deploy_observability_rules_yml_end[];

/* Where prometheus listens inside the fabric netns; the relay forwards the host's port here. */
#define PROM_INNER_PORT 9090
#define PROM_READY_S 30
/* The ztunnel's metrics, as the DaemonSet's prometheus.io annotations give them. */
#define PROM_ZTUNNEL_PATH "/metrics"
/* cadvisor.c's port in each node's netns. */
#define PROM_CADVISOR_PORT 4194

static bool prom_enabled(const struct ctl_cluster *c)
{
	char dir[PATH_MAX];

	cluster_path(c, dir, sizeof(dir), "prometheus");
	return access(dir, F_OK) == 0;
}

/* A label name as Prometheus's discovery sanitizes one: [^a-zA-Z0-9_] becomes '_'. */
static void sanitize(char *out, size_t len, const char *prefix, const char *name)
{
	size_t n = (size_t)snprintf(out, len, "%s", prefix);

	for (const char *s = name; *s && n + 1 < len; s++, n++)
		out[n] =
		    (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
			? *s
			: '_';
	out[n < len ? n : len - 1] = '\0';
}

/* The _label_/_annotation_ pair and its _present_ twin for every key of map @m. */
static int meta_map(cJSON *labels, const cJSON *m, const char *kind)
{
	const cJSON *kv;

	cJSON_ArrayForEach(kv, m)
	{
		char name[512], prefix[64];

		if (!cJSON_IsString(kv))
			continue;
		str_fmt(prefix, sizeof(prefix), "__meta_kubernetes_pod_%s_", kind);
		sanitize(name, sizeof(name), prefix, kv->string);
		if (!cJSON_AddStringToObject(labels, name, kv->valuestring))
			return -ENOMEM;
		str_fmt(prefix, sizeof(prefix), "__meta_kubernetes_pod_%spresent_", kind);
		sanitize(name, sizeof(name), prefix, kv->string);
		if (!cJSON_AddStringToObject(labels, name, "true"))
			return -ENOMEM;
	}
	return 0;
}

/*
 * One file_sd group: the pod's address and the labels Kubernetes discovery would give it. An
 * IPv6 target is bracketed, as discovery gives it; the addon's relabelling makes
 * [ip]:port of __meta_kubernetes_pod_ip and the port annotation for either family.
 */
static int pod_group(cJSON *groups, const char *ns, const char *name, const char *ip,
		     const char *node, const char *owner, const cJSON *labels,
		     const cJSON *annotations)
{
	cJSON *g = cJSON_CreateObject(), *targets, *l;
	char target[48];

	if (!g || !cJSON_AddItemToArray(groups, g))
		return -ENOMEM;
	str_fmt(target, sizeof(target), strchr(ip, ':') ? "[%s]" : "%s", ip);
	if (!(targets = cJSON_AddArrayToObject(g, "targets")) ||
	    !cJSON_AddItemToArray(targets, cJSON_CreateString(target)) ||
	    !(l = cJSON_AddObjectToObject(g, "labels")) ||
	    !cJSON_AddStringToObject(l, "__meta_kubernetes_namespace", ns) ||
	    !cJSON_AddStringToObject(l, "__meta_kubernetes_pod_name", name) ||
	    !cJSON_AddStringToObject(l, "__meta_kubernetes_pod_ip", ip) ||
	    !cJSON_AddStringToObject(l, "__meta_kubernetes_pod_node_name", node) ||
	    !cJSON_AddStringToObject(l, "__meta_kubernetes_pod_phase", "Running") ||
	    !cJSON_AddStringToObject(l, "__meta_kubernetes_pod_ready", "true") ||
	    (owner &&
	     (!cJSON_AddStringToObject(l, "__meta_kubernetes_pod_controller_kind", "ReplicaSet") ||
	      !cJSON_AddStringToObject(l, "__meta_kubernetes_pod_controller_name", owner))))
		return -ENOMEM;
	return meta_map(l, labels, "label") ?: meta_map(l, annotations, "annotation");
}

/* Each node's ztunnel, as the pod of Istio's ztunnel DaemonSet on that node. */
static int ztunnel_groups(cJSON *groups, const struct ctl_cluster *c)
{
	cJSON *labels = cJSON_CreateObject(), *annots = cJSON_CreateObject();
	int ret = -ENOMEM;

	if (labels && annots && cJSON_AddStringToObject(labels, "app", "ztunnel") &&
	    cJSON_AddStringToObject(annots, "prometheus.io/scrape", "true") &&
	    cJSON_AddStringToObject(annots, "prometheus.io/port", CTL_METRICS_PORT) &&
	    cJSON_AddStringToObject(annots, "prometheus.io/path", PROM_ZTUNNEL_PATH)) {
		ret = 0;
		for (int i = 0; i < c->nnodes && !ret; i++) {
			char name[64];

			str_fmt(name, sizeof(name), "ztunnel-%s", c->nodes[i].name);
			ret = pod_group(groups, "istio-system", name, node_host_ip(&c->nodes[i]),
					c->nodes[i].name, "ztunnel", labels, annots);
		}
	}
	cJSON_Delete(labels);
	cJSON_Delete(annots);
	return ret;
}

int prom_targets_write(const struct ctl_cluster *c, const cJSON *pods_json)
{
	cJSON *groups, *pod;
	char path[PATH_MAX], *text = NULL;
	int ret;

	if (!prom_enabled(c))
		return 0;
	groups = cJSON_CreateArray();
	ret = groups ? ztunnel_groups(groups, c) : -ENOMEM;
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(pods_json, "pods"))
	{
		const cJSON *owner = cJSON_GetObjectItemCaseSensitive(pod, "owner");
		const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "ip"));

		/* A pod of IPv6 alone (an IPv6 cluster's) by that. */
		if (!ip || !*ip)
			ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "ip6"));

		if (ret || !ip || !*ip)
			continue;
		ret = pod_group(
		    groups,
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "namespace")),
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "name")), ip,
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "node")),
		    cJSON_IsString(owner) ? owner->valuestring : NULL,
		    cJSON_GetObjectItemCaseSensitive(pod, "labels"),
		    cJSON_GetObjectItemCaseSensitive(pod, "annotations"));
	}
	if (!ret && !(text = cJSON_Print(groups)))
		ret = -ENOMEM;
	cluster_path(c, path, sizeof(path), "prometheus/targets/pods.json");
	ret = ret ?: write_file_atomic(path, text);
	if (ret)
		fprintf(stderr, "ambitctl: %s: %s\n", path, strerror(-ret));
	free(text);
	cJSON_Delete(groups);
	return ret;
}

static int write_embedded(const struct ctl_cluster *c, const char *rel, const char *start,
			  const char *end)
{
	char path[PATH_MAX], *text = strndup(start, (size_t)(end - start));
	int ret;

	if (!text)
		return -ENOMEM;
	cluster_path(c, path, sizeof(path), "prometheus/%s", rel);
	ret = write_file(path, text);
	free(text);
	if (ret)
		fprintf(stderr, "ambitctl: %s: %s\n", path, strerror(-ret));
	return ret;
}

int prom_prepare(const struct ctl_cluster *c)
{
	static const char *const dirs[] = {"prometheus/targets", "prometheus/rules",
					   "prometheus/data"};
	char path[PATH_MAX];
	int ret = 0;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !ret; i++) {
		cluster_path(c, path, sizeof(path), "%s", dirs[i]);
		ret = mkdir_p(path, 0755);
	}
	ret = ret
		  ?: write_embedded(c, "prometheus.yml",
				    _binary_deploy_observability_prometheus_yml_start,
				    _binary_deploy_observability_prometheus_yml_end);
	ret = ret
		  ?: write_embedded(c, "rules/ambit.yml",
				    _binary_deploy_observability_rules_yml_start,
				    _binary_deploy_observability_rules_yml_end);
	return ret;
}

int prom_port_free(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, ret = 0;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		fprintf(stderr,
			"ambitctl: --prometheus-port %d: 127.0.0.1:%d: %s (choose another port)\n",
			port, port, strerror(-ret));
	}
	close(fd);
	return ret;
}

/* Starts @argv in the fabric netns (or the host's, @netns NULL) in control cgroup @cgname. */
static int control_spawn(const struct ctl_cluster *c, char **argv, const char *netns,
			 const char *cgname, const char *logname, int *pid)
{
	char cg[PATH_MAX + 32], log[PATH_MAX], pidf[PATH_MAX], why[512], txt[32];
	struct spawn_req r = {.argv = argv, .cgroup = cg, .netns = netns, .log = log};
	int ret;

	str_fmt(cg, sizeof(cg), "%s/control/%s", c->cg_root, cgname);
	cluster_path(c, log, sizeof(log), "logs/%s.log", logname);
	cluster_path(c, pidf, sizeof(pidf), "prometheus/%s.pid", cgname);
	ret = mkdir_p(cg, 0755);
	*pid = ret ?: spawn_start(&r, why, sizeof(why));
	if (*pid < 0) {
		fprintf(stderr, "ambitctl: %s: %s\n", cgname, ret ? strerror(-ret) : why);
		return *pid;
	}
	str_fmt(txt, sizeof(txt), "%d\n", *pid);
	return write_file_atomic(pidf, txt);
}

/*
 * Each node's cAdvisor (cadvisor.c) in the node's netns, and its file_sd target as Kubernetes
 * discovery's node role gives a node (the addon's kubernetes-nodes-cadvisor job).
 */
static int cadvisors(const struct ctl_cluster *c, char *exe)
{
	cJSON *groups = cJSON_CreateArray();
	char path[PATH_MAX], *text = NULL;
	int ret = groups ? 0 : -ENOMEM;

	for (int i = 0; i < c->nnodes && !ret; i++) {
		const struct ctl_node *n = &c->nodes[i];
		char *argv[] = {exe,	  "local",	   "cadvisor", "--name", (char *)c->name,
				"--node", (char *)n->name, NULL};
		char cg[64], addr[56];
		cJSON *g = cJSON_CreateObject(), *l;
		int pid;

		str_fmt(cg, sizeof(cg), "cadvisor-%s", n->name);
		str_fmt(addr, sizeof(addr), n->pods_v6only ? "[%s]:%d" : "%s:%d", node_host_ip(n),
			PROM_CADVISOR_PORT);
		ret = control_spawn(c, argv, n->netns, cg, cg, &pid);
		if (!ret &&
		    (!g || !cJSON_AddItemToArray(groups, g) ||
		     !cJSON_AddItemToArray(cJSON_AddArrayToObject(g, "targets"),
					   cJSON_CreateString(addr)) ||
		     !(l = cJSON_AddObjectToObject(g, "labels")) ||
		     !cJSON_AddStringToObject(l, "__meta_kubernetes_node_name", n->name) ||
		     !cJSON_AddStringToObject(
			 l, "__meta_kubernetes_node_label_kubernetes_io_hostname", n->name)))
			ret = -ENOMEM;
	}
	if (!ret && !(text = cJSON_Print(groups)))
		ret = -ENOMEM;
	cluster_path(c, path, sizeof(path), "prometheus/targets/nodes.json");
	ret = ret ?: write_file_atomic(path, text);
	free(text);
	cJSON_Delete(groups);
	return ret;
}

int prom_start(const struct ctl_cluster *c, int port)
{
	char fabric[CTL_NAME_MAX * 2], exe[PATH_MAX], cfg[PATH_MAX], data[PATH_MAX], log[PATH_MAX];
	char cfg_arg[PATH_MAX + 32], data_arg[PATH_MAX + 32], listen[64], ports[32];
	char *prom_argv[] = {"prometheus",
			     cfg_arg,
			     data_arg,
			     listen,
			     "--storage.tsdb.retention.time=1d",
			     "--web.enable-lifecycle",
			     NULL};
	char *relay_argv[] = {exe,	 "local", "relay", "--name", (char *)c->name,
			      "--netns", fabric,  ports,   NULL};
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int ret, pid, relay;

	if (n < 0)
		return -errno;
	exe[n] = '\0';
	str_fmt(fabric, sizeof(fabric), "ambit-%s-fabric", c->name);
	cluster_path(c, cfg, sizeof(cfg), "prometheus/prometheus.yml");
	cluster_path(c, data, sizeof(data), "prometheus/data");
	cluster_path(c, log, sizeof(log), "logs/prometheus.log");
	str_fmt(cfg_arg, sizeof(cfg_arg), "--config.file=%s", cfg);
	str_fmt(data_arg, sizeof(data_arg), "--storage.tsdb.path=%s", data);
	str_fmt(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", PROM_INNER_PORT);
	str_fmt(ports, sizeof(ports), "%d:%d", port, PROM_INNER_PORT);
	/* The fabric routes every node's pod CIDRs (up.c): prometheus reaches every pod. */
	ret = control_spawn(c, prom_argv, fabric, "prometheus", "prometheus", &pid);
	if (ret)
		return ret;
	for (int i = 0; i < PROM_READY_S * 10 && !ctl_interrupted; i++) {
		char *body = NULL, err[256];
		int code = http_get_in_netns_err(fabric, PROM_INNER_PORT, "/-/ready", &body, err,
						 sizeof(err));

		free(body);
		if (code == 200)
			break;
		if (!pid_alive(pid) || i + 1 == PROM_READY_S * 10) {
			fprintf(stderr, "ambitctl: prometheus did not come up; see %s\n", log);
			return -ETIMEDOUT;
		}
		usleep(100 * 1000);
	}
	ret = cadvisors(c, exe);
	ret = ret
		  ?: control_spawn(c, relay_argv, NULL, "prometheus-forward", "prometheus-forward",
				   &relay);
	/* Up when the host's port answers as prometheus does. */
	for (int i = 0; !ret && i < PROM_READY_S * 10 && !ctl_interrupted; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool up = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

		if (fd >= 0)
			close(fd);
		if (up) {
			/* Where the host finds it: `ambitctl dashboard` reads it. */
			char path[PATH_MAX], url[64];

			cluster_path(c, path, sizeof(path), "prometheus/url");
			str_fmt(url, sizeof(url), "http://127.0.0.1:%d\n", port);
			return write_file(path, url);
		}
		if (!pid_alive(relay))
			break;
		usleep(100 * 1000);
	}
	cluster_path(c, log, sizeof(log), "logs/prometheus-forward.log");
	fprintf(stderr, "ambitctl: 127.0.0.1:%d does not forward to prometheus; see %s\n", port,
		log);
	return ret ?: -ETIMEDOUT;
}
