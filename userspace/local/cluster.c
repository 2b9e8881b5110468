// SPDX-License-Identifier: Apache-2.0
/*
 * Names, addresses and paths of a local cluster (docs/internals/local-cluster-layout.md), and
 * its cluster.json. Everything else derives names from here.
 */
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/crypto.h"
#include "ambit/datapath.h"
#include "ambit/snapshot.h"
#include "local.h"
#include "k8s/kconn.h"

static bool cluster_name_valid(const char *name)
{
	size_t n = strlen(name);

	/* The name ends up in netns, cgroup, pin and file names: keep it to a safe alphabet. */
	if (n == 0 || n > 24)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return name[0] != '-';
}

int cluster_init(struct ctl_cluster *c, const char *name, int nnodes)
{
	int ret;

	memset(c, 0, sizeof(*c));
	if (!cluster_name_valid(name)) {
		fprintf(stderr, "ambitctl: invalid cluster name '%s' (a-z, 0-9, '-', max 24)\n",
			name);
		return -EINVAL;
	}
	if (nnodes < 1 || nnodes > CTL_MAX_NODES) {
		fprintf(stderr, "ambitctl: --nodes must be 1..%d\n", CTL_MAX_NODES);
		return -EINVAL;
	}
	str_fmt(c->name, sizeof(c->name), "%s", name);
	str_fmt(c->cluster_id, sizeof(c->cluster_id), "%s", SNAP_CLUSTER_ID);
	str_fmt(c->run_dir, sizeof(c->run_dir), CTL_RUN_BASE "/%s", name);
	ret = cgroup2_mount(c->cg2, sizeof(c->cg2));
	if (ret) {
		fprintf(stderr, "ambitctl: no cgroup2 mount found: %s\n", strerror(-ret));
		return ret;
	}
	str_fmt(c->cg_root, sizeof(c->cg_root), "%s/ambit-%s", c->cg2, name);
	c->nnodes = nnodes;
	for (int i = 0; i < nnodes; i++) {
		struct ctl_node *n = &c->nodes[i];

		n->index = n->pod_net = i + 1;
		str_fmt(n->name, sizeof(n->name), "node%d", n->index);
		str_fmt(n->ip, sizeof(n->ip), "10.99.0.%d", 10 + n->index);
		str_fmt(n->pod_cidr, sizeof(n->pod_cidr), "10.98.%d.0/24", n->pod_net);
		str_fmt(n->pod_gw, sizeof(n->pod_gw), "10.98.%d.1", n->pod_net);
		str_fmt(n->netns, sizeof(n->netns), "ambit-%s-%s", name, n->name);
		str_fmt(n->cgroup, sizeof(n->cgroup), "%s/%s/pods", c->cg_root, n->name);
		str_fmt(n->system_cg, sizeof(n->system_cg), "%s/%s/system", c->cg_root, n->name);
		str_fmt(n->pin_root, sizeof(n->pin_root), CTL_PIN_BASE "/%s-%s", name, n->name);
		str_fmt(n->socket, sizeof(n->socket), "%s/%s/agent.sock", c->run_dir, n->name);
		str_fmt(n->kubelet_socket, sizeof(n->kubelet_socket), "%s/%s/kubelet.sock",
			c->run_dir, n->name);
	}
	return 0;
}

int cluster_set_network(struct ctl_cluster *c, const char *network, const char *what)
{
	if (!network || !*network || !config_label_value_ok(network)) {
		fprintf(stderr,
			"ambitctl: %s: '%s' is not a network name (a label value: 1 to %d of "
			"[A-Za-z0-9._-], alphanumeric at both ends)\n",
			what, network ? network : "", CTL_LABEL_VALUE_MAX);
		return -EINVAL;
	}
	/* The id is a label value too (Istio's topology.istio.io/cluster): no '-' at the end. */
	if (!config_label_value_ok(c->name)) {
		fprintf(stderr,
			"ambitctl: %s: cluster name '%s' cannot be its cluster id (a label value "
			"ends alphanumeric)\n",
			what, c->name);
		return -EINVAL;
	}
	str_fmt(c->network, sizeof(c->network), "%s", network);
	str_fmt(c->cluster_id, sizeof(c->cluster_id), "%s", c->name);
	return 0;
}

cJSON *cluster_json(const struct ctl_cluster *c)
{
	cJSON *root = cJSON_CreateObject(), *nodes;

	if (!root)
		return NULL;
	/* Istio's default id and no network are said by leaving them out, as before --network. */
	if (!cJSON_AddStringToObject(root, "name", c->name) ||
	    !cJSON_AddStringToObject(root, "sourceDir", c->src_dir) ||
	    !cJSON_AddBoolToObject(root, "kube", c->kube) ||
	    !cJSON_AddStringToObject(root, "cni", cluster_cni_name(c->cni)) ||
	    !cJSON_AddStringToObject(root, "ipFamily", cluster_ip_family_name(c->ip_family)) ||
	    (strcmp(c->cluster_id, SNAP_CLUSTER_ID) &&
	     !cJSON_AddStringToObject(root, "clusterId", c->cluster_id)) ||
	    (c->network[0] && !cJSON_AddStringToObject(root, "network", c->network)) ||
	    (c->lb_index && !cJSON_AddNumberToObject(root, "lbIndex", c->lb_index)) ||
	    (c->pod_base && !cJSON_AddNumberToObject(root, "podBase", c->pod_base)) ||
	    !(nodes = cJSON_AddArrayToObject(root, "nodes")))
		goto fail;
	for (int i = 0; i < c->nnodes; i++) {
		const struct ctl_node *n = &c->nodes[i];
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(nodes, o)) {
			cJSON_Delete(o);
			goto fail;
		}
		if (!cJSON_AddStringToObject(o, "name", n->name) ||
		    !cJSON_AddStringToObject(o, "ip", n->ip) ||
		    !cJSON_AddStringToObject(o, "netns", n->netns) ||
		    !cJSON_AddStringToObject(o, "podCIDR", n->pod_cidr) ||
		    (n->ip6[0] && (!cJSON_AddStringToObject(o, "ip6", n->ip6) ||
				   !cJSON_AddStringToObject(o, "podCIDR6", n->pod_cidr6))) ||
		    !cJSON_AddStringToObject(o, "cgroup", n->cgroup) ||
		    !cJSON_AddStringToObject(o, "pinRoot", n->pin_root) ||
		    !cJSON_AddStringToObject(o, "agentSocket", n->socket))
			goto fail;
	}
	return root;
fail:
	cJSON_Delete(root);
	errno = ENOMEM;
	return NULL;
}

int cluster_save(const struct ctl_cluster *c)
{
	cJSON *root = cluster_json(c);
	char path[PATH_MAX];
	char *text = root ? cJSON_Print(root) : NULL;
	int ret = -ENOMEM;

	if (text) {
		cluster_path(c, path, sizeof(path), "cluster.json");
		ret = write_file_atomic(path, text);
	}
	free(text);
	cJSON_Delete(root);
	return ret;
}

/* cluster.json's @key, a label value (none: @def) into @out of CTL_LABEL_VALUE_MAX + 1. */
static int label_value_field(const cJSON *root, const char *key, const char *def, char *out,
			     const char *what)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!v)
		return str_fmt(out, CTL_LABEL_VALUE_MAX + 1, "%s", def);
	if (!cJSON_IsString(v) || !*v->valuestring || !config_label_value_ok(v->valuestring)) {
		fprintf(stderr, "ambitctl: %s: %s: not a label value\n", what, key);
		return -EINVAL;
	}
	return str_fmt(out, CTL_LABEL_VALUE_MAX + 1, "%s", v->valuestring);
}

int cluster_from_json(struct ctl_cluster *c, const char *name, const cJSON *root, const char *what)
{
	const cJSON *nodes, *src, *cni, *fam, *lb;
	int ret, count;

	nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
	count = cJSON_GetArraySize(nodes);
	if (!cJSON_IsArray(nodes) || count < 1 || count > CTL_MAX_NODES) {
		fprintf(stderr, "ambitctl: %s: malformed\n", what);
		return -EINVAL;
	}
	/* Names and paths are a function of (name, node count): recompute rather than trust. */
	ret = cluster_init(c, name, count);
	src = cJSON_GetObjectItemCaseSensitive(root, "sourceDir");
	if (!ret && cJSON_IsString(src))
		str_fmt(c->src_dir, sizeof(c->src_dir), "%s", src->valuestring);
	if (!ret && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "kube")))
		ret = cluster_set_kube(c);
	/* A cluster.json from before --cni has none: those clusters are routed. */
	cni = cJSON_GetObjectItemCaseSensitive(root, "cni");
	if (!ret && cni) {
		char why[PATH_MAX + 8];

		str_fmt(why, sizeof(why), "%s: cni", what);
		ret = cluster_cni_parse(cJSON_GetStringValue(cni), why, &c->cni);
	}
	/* A cluster.json from before --ip-family has none: those clusters are IPv4. */
	fam = cJSON_GetObjectItemCaseSensitive(root, "ipFamily");
	if (!ret && fam) {
		char why[PATH_MAX + 16];
		enum ctl_ip_family f;

		str_fmt(why, sizeof(why), "%s: ipFamily", what);
		ret = cluster_ip_family_parse(cJSON_GetStringValue(fam), why, &f);
		if (!ret)
			cluster_set_ip_family(c, f);
	}
	/* One from before --network has neither: Istio's default id, no network. */
	if (!ret)
		ret = label_value_field(root, "clusterId", SNAP_CLUSTER_ID, c->cluster_id, what);
	if (!ret)
		ret = label_value_field(root, "network", "", c->network, what);
	/* One from before the LoadBalancer network, or whose host had its range: none. */
	lb = cJSON_GetObjectItemCaseSensitive(root, "lbIndex");
	if (!ret && lb) {
		if (!cJSON_IsNumber(lb) || lb->valuedouble < 1 || lb->valuedouble > 254 ||
		    lb->valuedouble != (int)lb->valuedouble) {
			fprintf(stderr, "ambitctl: %s: lbIndex: not 1 to 254\n", what);
			return -EINVAL;
		}
		c->lb_index = (int)lb->valuedouble;
	}
	lb = cJSON_GetObjectItemCaseSensitive(root, "podBase");
	if (!ret && lb) {
		if (!cJSON_IsNumber(lb) || lb->valuedouble < 0 ||
		    lb->valuedouble > 255 - CTL_POD_BASE_STEP ||
		    (int)lb->valuedouble % CTL_POD_BASE_STEP ||
		    lb->valuedouble != (int)lb->valuedouble) {
			fprintf(stderr, "ambitctl: %s: podBase: not a multiple of %d below %d\n",
				what, CTL_POD_BASE_STEP, 256 - CTL_POD_BASE_STEP);
			return -EINVAL;
		}
		cluster_set_pod_base(c, (int)lb->valuedouble);
	}
	return ret;
}

int cluster_load(struct ctl_cluster *c, const char *name)
{
	char path[PATH_MAX];
	cJSON *root;
	char *text;
	int ret;

	str_fmt(path, sizeof(path), CTL_RUN_BASE "/%s/cluster.json", name);
	text = read_file(path, NULL);
	if (!text)
		return -errno;
	root = cJSON_Parse(text);
	free(text);
	ret = cluster_from_json(c, name, root, path);
	cJSON_Delete(root);
	return ret;
}

/* The position of @name in @names (@n of them), or -1. */
static int name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (!strcmp(name, names[i]))
			return (int)i;
	return -1;
}

static const char *const family_names[] = {
    [CTL_IP_IPV4] = "ipv4",
    [CTL_IP_DUAL] = "dual",
    [CTL_IP_IPV6] = "ipv6",
};

const char *cluster_ip_family_name(enum ctl_ip_family f)
{
	return (size_t)f < sizeof(family_names) / sizeof(family_names[0]) ? family_names[f] : "?";
}

int cluster_ip_family_parse(const char *name, const char *what, enum ctl_ip_family *f)
{
	int i = name_index(family_names, sizeof(family_names) / sizeof(family_names[0]), name);

	if (i >= 0) {
		*f = (enum ctl_ip_family)i;
		return 0;
	}
	fprintf(stderr, "ambitctl: %s: '%s' is none of ipv4, dual and ipv6\n", what,
		name ? name : "?");
	return -EINVAL;
}

const char *node_host_ips(const struct ctl_node *n, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", node_host_ip(n), node_host_ip2(n)[0] ? "," : "",
		 node_host_ip2(n));
	return buf;
}

const char *cluster_fabric_ip(const struct ctl_cluster *c)
{
	return c->ip_family == CTL_IP_IPV6 ? CTL_FABRIC_IP6 : CTL_FABRIC_IP;
}

const char *cluster_dns_ip(const struct ctl_cluster *c)
{
	return c->ip_family == CTL_IP_IPV6 ? CTL_CLUSTER_DNS_IP6 : CTL_CLUSTER_DNS_IP;
}

const char *cluster_fabric_host(const struct ctl_cluster *c)
{
	return c->ip_family == CTL_IP_IPV6 ? "[" CTL_FABRIC_IP6 "]" : CTL_FABRIC_IP;
}

int cluster_lb_ip(const struct ctl_cluster *c, bool url, char *buf, size_t len)
{
	if (!c->lb_index)
		return -ENOENT;
	if (c->ip_family == CTL_IP_IPV6)
		return str_fmt(buf, len, url ? "[fd00:30::%d:1]" : "fd00:30::%d:1", c->lb_index);
	return str_fmt(buf, len, "172.30.%d.1", c->lb_index);
}

int cluster_ip6(const char *v4, char *out, size_t len)
{
	unsigned int a, b, x, y;
	char tail;

	/* The IPv4 address's decimal digits read as the IPv6 group's hex ones. */
	if (sscanf(v4, "%u.%u.%u.%u%c", &a, &b, &x, &y, &tail) != 4 || a != 10 || x > 255 ||
	    y > 255)
		return -EINVAL;
	if (b == 99 && x == 0)
		return str_fmt(out, len, "fd00:99::%u", y) ? -EINVAL : 0;
	/* Pods' 10.98.N.H and Services' 10.96.X.Y alike; in RFC 5952's form (fd00:96::10). */
	if (b == 98 || b == 96) {
		struct in6_addr a6;
		char txt[64];

		if (str_fmt(txt, sizeof(txt), "fd00:%u:%u::%u", b, x, y) ||
		    inet_pton(AF_INET6, txt, &a6) != 1 ||
		    !inet_ntop(AF_INET6, &a6, txt, sizeof(txt)))
			return -EINVAL;
		return str_fmt(out, len, "%s", txt) ? -EINVAL : 0;
	}
	return -EINVAL;
}

int cluster_pod_slot(const char *v6, char *out, size_t len)
{
	struct in6_addr a;
	char group[8], tail;
	unsigned int n, h;

	if (!v6 || inet_pton(AF_INET6, v6, &a) != 1 || a.s6_addr[0] != 0xfd || a.s6_addr[1] ||
	    a.s6_addr[2] || a.s6_addr[3] != 0x98)
		return -EINVAL;
	for (int i = 6; i < 14; i++)
		if (a.s6_addr[i])
			return -EINVAL;
	/* cluster_ip6 wrote the decimal digits as hex ones: read them back as decimal. */
	snprintf(group, sizeof(group), "%x", a.s6_addr[4] << 8 | a.s6_addr[5]);
	if (sscanf(group, "%u%c", &n, &tail) != 1 || n > 255)
		return -EINVAL;
	snprintf(group, sizeof(group), "%x", a.s6_addr[14] << 8 | a.s6_addr[15]);
	if (sscanf(group, "%u%c", &h, &tail) != 1 || h > 255)
		return -EINVAL;
	return str_fmt(out, len, "10.98.%u.%u", n, h) ? -EINVAL : 0;
}

void cluster_set_ip_family(struct ctl_cluster *c, enum ctl_ip_family f)
{
	c->ip_family = f;
	for (int i = 0; i < c->nnodes; i++) {
		struct ctl_node *n = &c->nodes[i];

		n->ip6[0] = n->pod_cidr6[0] = n->pod_gw6[0] = '\0';
		n->pods_v6only = f == CTL_IP_IPV6;
		if (f == CTL_IP_IPV4)
			continue;
		cluster_ip6(n->ip, n->ip6, sizeof(n->ip6));
		cluster_ip6(n->pod_gw, n->pod_gw6, sizeof(n->pod_gw6));
		str_fmt(n->pod_cidr6, sizeof(n->pod_cidr6), "fd00:98:%d::/64", n->pod_net);
	}
}

void cluster_set_pod_base(struct ctl_cluster *c, int base)
{
	c->pod_base = base;
	for (int i = 0; i < c->nnodes; i++) {
		struct ctl_node *n = &c->nodes[i];

		n->pod_net = base + n->index;
		str_fmt(n->pod_cidr, sizeof(n->pod_cidr), "10.98.%d.0/24", n->pod_net);
		str_fmt(n->pod_gw, sizeof(n->pod_gw), "10.98.%d.1", n->pod_net);
	}
	cluster_set_ip_family(c, c->ip_family);
}

static const char *const cni_names[] = {
    [CTL_CNI_ROUTED] = "routed",
    [CTL_CNI_BRIDGE] = "bridge",
};

const char *cluster_cni_name(enum ctl_cni cni)
{
	return (size_t)cni < sizeof(cni_names) / sizeof(cni_names[0]) ? cni_names[cni] : "?";
}

int cluster_cni_parse(const char *name, const char *what, enum ctl_cni *cni)
{
	int i = name_index(cni_names, sizeof(cni_names) / sizeof(cni_names[0]), name);

	if (i >= 0) {
		*cni = (enum ctl_cni)i;
		return 0;
	}
	fprintf(stderr, "ambitctl: %s: '%s' is neither routed nor bridge\n", what,
		name ? name : "?");
	return -EINVAL;
}

int cluster_set_kube(struct ctl_cluster *c)
{
	c->kube = true;
	for (int i = 0; i < c->nnodes; i++) {
		struct ctl_node *n = &c->nodes[i];

		/*
		 * The node's file systems as its DaemonSet pod mounts them (hostPath volumes):
		 * bpffs below a directory of its own, cgroup2 at the node's cgroup, /run/ambit in
		 * the run dir. The agent pins at /sys/fs/bpf/ambit/node and listens on
		 * /run/ambit/agent.sock inside; these are the same files seen from the host.
		 */
		if (str_fmt(n->host_bpffs, sizeof(n->host_bpffs), CTL_PIN_BASE "/%s-%s_fs", c->name,
			    n->name) ||
		    str_fmt(n->pin_root, sizeof(n->pin_root), "%s/ambit/node", n->host_bpffs) ||
		    str_fmt(n->host_cgroup, sizeof(n->host_cgroup), "%s/%s", c->cg_root, n->name) ||
		    str_fmt(n->cgroup, sizeof(n->cgroup), "%s/kubepods", n->host_cgroup) ||
		    str_fmt(n->host_run, sizeof(n->host_run), "%s/%s/run-ambit", c->run_dir,
			    n->name) ||
		    str_fmt(n->socket, sizeof(n->socket), "%s/agent.sock", n->host_run))
			return -ENAMETOOLONG;
	}
	return 0;
}

int cluster_kube_enter(const struct ctl_cluster *c, struct kconn *k, int *saved)
{
	return cluster_kube_enter_as(c, "kube/fabric.kubeconfig", k, saved);
}

int cluster_kube_enter_as(const struct ctl_cluster *c, const char *file, struct kconn *k,
			  int *saved)
{
	char fabric[CTL_NAME_MAX * 2], path[PATH_MAX], why[512];
	int ret;

	*saved = -1;
	str_fmt(fabric, sizeof(fabric), "ambit-%s-fabric", c->name);
	cluster_path(c, path, sizeof(path), "%s", file);
	if (kconn_kubeconfig(k, path, NULL, why, sizeof(why))) {
		fprintf(stderr, "ambitctl: cluster %s: %s\n", c->name, why);
		return -EINVAL;
	}
	/* A sync makes dozens of calls: one connection, one TLS handshake (made in the netns). */
	if (kconn_keep_alive(k)) {
		kconn_free(k);
		return -ENOMEM;
	}
	ret = netns_enter(fabric, saved);
	if (ret) {
		fprintf(stderr, "ambitctl: cluster %s: netns %s: %s\n", c->name, fabric,
			strerror(-ret));
		kconn_free(k);
		*saved = -1;
	}
	return ret;
}

void cluster_kube_leave(struct kconn *k, int saved)
{
	kconn_free(k);
	if (saved >= 0)
		netns_leave(saved);
}

const struct ctl_node *cluster_node(const struct ctl_cluster *c, const char *name)
{
	for (int i = 0; i < c->nnodes; i++) {
		if (!strcmp(c->nodes[i].name, name))
			return &c->nodes[i];
	}
	return NULL;
}

static int dir_entry_is_cluster(const struct dirent *e)
{
	char path[PATH_MAX];

	if (e->d_name[0] == '.' ||
	    str_fmt(path, sizeof(path), "%s/%s/cluster.json", CTL_RUN_BASE, e->d_name))
		return 0;
	return access(path, F_OK) == 0;
}

int cluster_list_up(char *first, size_t flen, char *list, size_t llen)
{
	struct dirent **names;
	size_t used = 0;
	int n = scandir(CTL_RUN_BASE, &names, dir_entry_is_cluster, alphasort);

	if (n <= 0)
		return 0;
	str_fmt(first, flen, "%s", names[0]->d_name);
	list[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (used < llen)
			used += (size_t)snprintf(list + used, llen - used, "%s%s", i ? ", " : "",
						 names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return n;
}

void cluster_tell_not_up(const char *name)
{
	char first[NAME_MAX + 1], list[1024];
	int n = cluster_list_up(first, sizeof(first), list, sizeof(list));

	if (n > 0)
		fprintf(stderr, "ambitctl: cluster %s is not up; up: %s (--cluster C picks one)\n",
			name, list);
	else
		fprintf(
		    stderr,
		    "ambitctl: cluster %s is not up, and no cluster is (ambitctl local up -f DIR "
		    "[--kube] starts one)\n",
		    name);
}

int cluster_open(struct ctl_cluster *c, const struct ctl_opts *o)
{
	int ret = cluster_load(c, o->cluster);

	if (ret == -ENOENT) {
		cluster_tell_not_up(o->cluster);
		return ret;
	}
	if (ret) {
		fprintf(stderr, "ambitctl: cluster %s: %s\n", o->cluster, strerror(-ret));
		return ret;
	}
	if (o->node && !cluster_node(c, o->node)) {
		fprintf(stderr, "ambitctl: no node %s in cluster %s\n", o->node, c->name);
		return -ENOENT;
	}
	return 0;
}

int cluster_path(const struct ctl_cluster *c, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%s/", c->run_dir);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)m >= len - (size_t)n ? -ENAMETOOLONG : 0;
}

void cluster_pod_netns(const struct ctl_cluster *c, const char *ns, const char *pod, char *buf,
		       size_t len)
{
	char full[512];
	unsigned char md[32];
	/* Leaves room under NAME_MAX and keeps `ip netns list` readable. */
	const size_t max = 60;

	str_fmt(full, sizeof(full), "ambit-%s-%s-%s", c->name, ns, pod);
	if (strlen(full) <= max || len <= max) {
		str_fmt(buf, len, "%s", full);
		return;
	}
	crypto_sha256(full, strlen(full), md);
	str_fmt(buf, len, "%.*s-%02x%02x%02x%02x", (int)(max - 9), full, md[0], md[1], md[2],
		md[3]);
}

/* Appends @s to @store and @argv; the pair keeps argv valid as long as @store lives. */
static int argv_push(char *store, size_t len, size_t *used, char **argv, size_t max, size_t *n,
		     const char *s)
{
	size_t l = strlen(s) + 1;

	if (*used + l > len || *n + 1 >= max)
		return -E2BIG;
	memcpy(store + *used, s, l);
	argv[(*n)++] = store + *used;
	argv[*n] = NULL;
	*used += l;
	return 0;
}

/*
 * The binary of the agent or the ztunnel: $AMBIT_AGENT_BIN / $AMBIT_ZTUNNEL_BIN, else where
 * `make install` puts it beside ambitctl (<prefix>/bin/../libexec/ambit/), else ambitctl's own
 * directory (build/). Relative to ambitctl, so a DESTDIR or moved install works as built; and
 * libexec first, so an installed ambitctl never starts another program named ztunnel that
 * happens to share its bin directory.
 */
static int named_bin(const char *env_name, const char *name, char *bin, size_t len)
{
	const char *env = getenv(env_name);
	char dir[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
	int ret;

	if (env && *env)
		return str_fmt(bin, len, "%s", env);
	ret = self_dir(dir, sizeof(dir));
	if (ret)
		return ret;
	ret = str_fmt(path, sizeof(path), "%s/../libexec/ambit/%s", dir, name);
	if (!ret && access(path, X_OK) == 0 && realpath(path, real))
		return str_fmt(bin, len, "%s", real);
	return str_fmt(bin, len, "%s/%s", dir, name);
}

static int component_bin(bool agent, char *bin, size_t len)
{
	return agent ? named_bin("AMBIT_AGENT_BIN", "ambit-agent", bin, len)
		     : named_bin("AMBIT_ZTUNNEL_BIN", "ztunnel", bin, len);
}

int cluster_image_bin(const char *name, char *bin, size_t len)
{
	if (!strcmp(name, "ambit-agent"))
		return named_bin("AMBIT_AGENT_BIN", name, bin, len);
	if (!strcmp(name, "ztunnel"))
		return named_bin("AMBIT_ZTUNNEL_BIN", name, bin, len);
	if (!strcmp(name, "waypoint"))
		return named_bin("AMBIT_WAYPOINT_BIN", name, bin, len);
	return -ENOENT;
}

int cluster_waypoint_bin(char *bin, size_t len)
{
	return named_bin("AMBIT_WAYPOINT_BIN", "waypoint", bin, len);
}

static int component_argv(const struct ctl_cluster *c, const struct ctl_node *n, bool agent,
			  char *store, size_t len, char **argv, size_t max)
{
	char bin[PATH_MAX], state[PATH_MAX], runtime[PATH_MAX], ca[PATH_MAX], ho[PATH_MAX];
	char resolv[PATH_MAX], gone[PATH_MAX];
	size_t used = 0, cnt = 0;
	int ret;

	ret = component_bin(agent, bin, sizeof(bin));
	if (ret)
		return ret;
	cluster_path(c, state, sizeof(state), "state");
	cluster_path(c, runtime, sizeof(runtime), "runtime/pods.json");
	cluster_path(c, ca, sizeof(ca), "ca");
	cluster_path(c, ho, sizeof(ho), "%s/ztunnel.sock", n->name);
	cluster_path(c, resolv, sizeof(resolv), "resolv.conf");
	cluster_path(c, gone, sizeof(gone), CTL_UNINSTALLED);
	char node_ips[CTL_NODE_IPS_MAX];
	/* The addresses the node's kubelet reports (status.hostIPs), as the DaemonSet passes them.
	 */
	node_host_ips(n, node_ips, sizeof(node_ips));
	/*
	 * The cluster id and network always: the agent would take CLUSTER_ID and NETWORK from the
	 * environment of the shell that ran `local up` otherwise (--network "": none).
	 */
	const char *agent_args[] = {bin,	   "--node",	n->name,    "--node-ip",
				    node_ips,	   "--state",	state,	    "--runtime",
				    runtime,	   "--ca-dir",	ca,	    "--pin-root",
				    n->pin_root,   "--cgroup",	n->cgroup,  "--socket",
				    n->socket,	   "--uplink",	"eth0",	    "--cluster-id",
				    c->cluster_id, "--network", c->network, "--uninstalled-file",
				    gone,	   NULL};
	/* --handover: `local upgrade` starts the new ztunnel beside the old (ztunnel/main.c). */
	const char *zt_args[] = {bin,	    "--node",	     n->name,	  "--agent-socket",
				 n->socket, "--pin-root",    n->pin_root, "--handover",
				 ho,	    "--resolv-conf", resolv,	  NULL};
	const char **args = agent ? agent_args : zt_args;

	for (size_t i = 0; args[i]; i++) {
		ret = argv_push(store, len, &used, argv, max, &cnt, args[i]);
		if (ret)
			return ret;
	}
	/* Its nodes share one machine: 47 MB of kernel maps a node, not 135 (datapath.md). */
	return agent ? argv_push(store, len, &used, argv, max, &cnt, "--conntrack-max=32768") : 0;
}

int cluster_agent_argv(const struct ctl_cluster *c, const struct ctl_node *n, char *store,
		       size_t len, char **argv, size_t max)
{
	return component_argv(c, n, true, store, len, argv, max);
}

int cluster_ztunnel_argv(const struct ctl_cluster *c, const struct ctl_node *n, char *store,
			 size_t len, char **argv, size_t max)
{
	return component_argv(c, n, false, store, len, argv, max);
}
