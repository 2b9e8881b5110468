// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "ambit/fileutil.h"
#include "runtime.h"

/* pods.json is written by our own tooling; anything near this size is hostile or broken. */
#define RUNTIME_MAX_FILE (64u << 20)

static int rt_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rt_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int runtime_read_file(const char *path, char **out, size_t *len)
{
	return fileutil_read_file(path, RUNTIME_MAX_FILE, out, len);
}

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

/* Copies an optional string member; a present member of another type is an error. */
static int opt_string(const cJSON *obj, const char *key, char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it) || !it->valuestring)
		return -EINVAL;
	*out = strdup(it->valuestring);
	return *out ? 0 : -ENOMEM;
}

static int req_string(const cJSON *obj, const char *key, char **out)
{
	int err = opt_string(obj, key, out);

	if (!err && (!*out || !**out)) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return err;
}

static void labels_free(struct config_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int parse_labels(const cJSON *obj, struct config_labels *out)
{
	const cJSON *it;
	size_t n = 0;

	if (!obj || cJSON_IsNull(obj))
		return 0;
	if (!cJSON_IsObject(obj))
		return -EINVAL;
	n = (size_t)cJSON_GetArraySize(obj);
	if (!n)
		return 0;
	out->items = calloc(n, sizeof(*out->items));
	if (!out->items)
		return -ENOMEM;
	cJSON_ArrayForEach(it, obj)
	{
		struct config_label *l = &out->items[out->n];

		if (!cJSON_IsString(it) || !it->string)
			return -EINVAL;
		l->key = strdup(it->string);
		l->value = strdup(it->valuestring);
		out->n++;
		if (!l->key || !l->value)
			return -ENOMEM;
	}
	return 0;
}

static void pod_free(struct rt_pod *p)
{
	free(p->cgroup);
	free(p->host_iface);
	free(p->agent_dir);
	free(p->hostname);
	free(p->subdomain);
	if (p->shared)
		return; /* the rest is the runtime in force's */
	free(p->namespace);
	free(p->name);
	free(p->uid);
	free(p->owner);
	free(p->node);
	free(p->service_account);
	labels_free(&p->labels);
}

void runtime_adopt(struct runtime *rt, struct runtime *prev)
{
	for (size_t i = 0; i < rt->n_pods; i++) {
		struct rt_pod *p = &rt->pods[i], *from;

		if (!p->shared)
			continue;
		from = &prev->pods[p->shared - 1];
		from->namespace = from->name = from->uid = from->owner = from->node = NULL;
		from->service_account = NULL;
		from->labels = (struct config_labels){0};
		p->shared = 0;
	}
}

static int parse_pod(const cJSON *obj, size_t i, struct rt_pod *p, char *err, size_t errlen)
{
	char *ip = NULL;
	int ret;

	if (!cJSON_IsObject(obj))
		return rt_fail(err, errlen, "pods[%zu]: not an object", i);
#define REQ(key, field)                                                                            \
	do {                                                                                       \
		ret = req_string(obj, key, &p->field);                                             \
		if (ret == -ENOMEM)                                                                \
			return ret;                                                                \
		if (ret)                                                                           \
			return rt_fail(err, errlen, "pods[%zu].%s: missing or not a string", i,    \
				       key);                                                       \
	} while (0)
#define OPT(key, field)                                                                            \
	do {                                                                                       \
		ret = opt_string(obj, key, &p->field);                                             \
		if (ret == -ENOMEM)                                                                \
			return ret;                                                                \
		if (ret)                                                                           \
			return rt_fail(err, errlen, "pods[%zu].%s: not a string", i, key);         \
	} while (0)
	REQ("namespace", namespace);
	REQ("name", name);
	REQ("node", node);
	OPT("uid", uid);
	OPT("owner", owner);
	OPT("cgroup", cgroup);
	OPT("hostIface", host_iface);
	OPT("serviceAccount", service_account);
	OPT("agentDir", agent_dir);
	OPT("hostname", hostname);
	OPT("subdomain", subdomain);
#undef REQ
#undef OPT
	/* An IPv6-only cluster's pod has "ip6" alone: one of the two, each of its family. */
	ret = opt_string(obj, "ip", &ip);
	if (ret == -ENOMEM)
		return ret;
	if (ret || (ip && (parse_ip(ip, &p->ip) || !p->ip))) {
		free(ip);
		return rt_fail(err, errlen, "pods[%zu].ip: not an IPv4 address", i);
	}
	free(ip);
	ip = NULL;
	ret = opt_string(obj, "ip6", &ip);
	if (ret == -ENOMEM)
		return ret;
	if (ret || (ip && (ipaddr_parse_addr(ip, &p->ip6) || p->ip6.family != AF_INET6))) {
		free(ip);
		return rt_fail(err, errlen, "pods[%zu].ip6: not an IPv6 address", i);
	}
	free(ip);
	if (!p->ip && p->ip6.family != AF_INET6)
		return rt_fail(err, errlen, "pods[%zu].ip: missing (and no ip6)", i);
	if (!p->uid && asprintf(&p->uid, "%s/%s", p->namespace, p->name) < 0) {
		p->uid = NULL;
		return -ENOMEM;
	}
	if (!p->service_account && !(p->service_account = strdup("default")))
		return -ENOMEM;
	ret = parse_labels(cJSON_GetObjectItemCaseSensitive(obj, "labels"), &p->labels);
	if (ret == -ENOMEM)
		return ret;
	if (ret)
		return rt_fail(err, errlen, "pods[%zu].labels: not an object of strings", i);
	return 0;
}

static struct rt_service_ip *service_ip_entry(const struct runtime *rt, const char *ns,
					      const char *name);

/*
 * serviceIPs6 (optional): "ns/name" -> IPv6 VIP: a dual-stack Service's second, beside its
 * serviceIPs entry, or a SingleStack IPv6 Service's only one (an entry of its own, ip 0).
 * @out->service_ips has room for both objects' entries. 0 or -EINVAL / -ENOMEM with @err.
 */
static int parse_service_ips6(const cJSON *root, struct runtime *out, char *err, size_t errlen)
{
	const cJSON *six = cJSON_GetObjectItemCaseSensitive(root, "serviceIPs6"), *it;

	if (!six || cJSON_IsNull(six))
		return 0;
	if (!cJSON_IsObject(six))
		return rt_fail(err, errlen, "serviceIPs6: not an object");
	cJSON_ArrayForEach(it, six)
	{
		struct rt_service_ip *s = NULL;
		const char *slash = it->string ? strchr(it->string, '/') : NULL;
		char ns[256];

		if (slash && (size_t)(slash - it->string) < sizeof(ns)) {
			memcpy(ns, it->string, (size_t)(slash - it->string));
			ns[slash - it->string] = '\0';
			s = service_ip_entry(out, ns, slash + 1);
		}
		if (!slash || slash == it->string || !slash[1])
			return rt_fail(err, errlen, "serviceIPs6[\"%s\"]: not namespace/name",
				       it->string ? it->string : "");
		if (!s) {
			s = &out->service_ips[out->n_service_ips];
			if (!(s->key = strdup(it->string)))
				return -ENOMEM;
			out->n_service_ips++;
		}
		if (!cJSON_IsString(it) || ipaddr_parse_addr(it->valuestring, &s->ip6) ||
		    s->ip6.family != AF_INET6)
			return rt_fail(err, errlen, "serviceIPs6[\"%s\"]: not an IPv6 address",
				       it->string);
	}
	return 0;
}

int runtime_parse(const char *json, size_t len, struct runtime *out, char *err, size_t errlen)
{
	const cJSON *pods, *sips, *six, *it;
	size_t i = 0, n_ips;
	cJSON *root;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	root = cJSON_ParseWithLength(json, len);
	if (!root)
		return rt_fail(err, errlen, "not valid JSON");
	if (!cJSON_IsObject(root)) {
		ret = rt_fail(err, errlen, "top level: not an object");
		goto out;
	}
	pods = cJSON_GetObjectItemCaseSensitive(root, "pods");
	if (pods && !cJSON_IsNull(pods) && !cJSON_IsArray(pods)) {
		ret = rt_fail(err, errlen, "pods: not an array");
		goto out;
	}
	if (cJSON_IsArray(pods) && cJSON_GetArraySize(pods) > 0) {
		out->pods = calloc((size_t)cJSON_GetArraySize(pods), sizeof(*out->pods));
		if (!out->pods) {
			ret = -ENOMEM;
			goto out;
		}
		cJSON_ArrayForEach(it, pods)
		{
			ret = parse_pod(it, i, &out->pods[i], err, errlen);
			out->n_pods = ++i;
			if (ret)
				goto out;
		}
	}
	sips = cJSON_GetObjectItemCaseSensitive(root, "serviceIPs");
	if (sips && !cJSON_IsNull(sips) && !cJSON_IsObject(sips)) {
		ret = rt_fail(err, errlen, "serviceIPs: not an object");
		goto out;
	}
	six = cJSON_GetObjectItemCaseSensitive(root, "serviceIPs6");
	n_ips = (cJSON_IsObject(sips) ? (size_t)cJSON_GetArraySize(sips) : 0) +
		(cJSON_IsObject(six) ? (size_t)cJSON_GetArraySize(six) : 0);
	if (n_ips) {
		out->service_ips = calloc(n_ips, sizeof(*out->service_ips));
		if (!out->service_ips) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (cJSON_IsObject(sips)) {
		cJSON_ArrayForEach(it, sips)
		{
			struct rt_service_ip *s = &out->service_ips[out->n_service_ips];

			if (!cJSON_IsString(it) || parse_ip(it->valuestring, &s->ip)) {
				ret =
				    rt_fail(err, errlen, "serviceIPs[\"%s\"]: not an IPv4 address",
					    it->string ? it->string : "");
				goto out;
			}
			s->key = strdup(it->string);
			if (!s->key) {
				ret = -ENOMEM;
				goto out;
			}
			out->n_service_ips++;
		}
	}
	ret = parse_service_ips6(root, out, err, errlen);
out:
	if (ret == -ENOMEM)
		rt_fail(err, errlen, "out of memory");
	cJSON_Delete(root);
	return ret;
}

int runtime_load(const char *path, struct runtime *out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = runtime_read_file(path, &buf, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		rt_fail(err, errlen, "%s", strerror(-ret));
		return ret;
	}
	ret = runtime_parse(buf, len, out, err, errlen);
	free(buf);
	return ret;
}

void runtime_free(struct runtime *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->n_pods; i++)
		pod_free(&rt->pods[i]);
	for (size_t i = 0; i < rt->n_service_ips; i++)
		free(rt->service_ips[i].key);
	free(rt->pods);
	free(rt->service_ips);
	memset(rt, 0, sizeof(*rt));
}

static struct rt_service_ip *service_ip_entry(const struct runtime *rt, const char *ns,
					      const char *name)
{
	size_t nl = strlen(ns);

	for (size_t i = 0; i < rt->n_service_ips; i++) {
		const char *k = rt->service_ips[i].key;

		if (strncmp(k, ns, nl) == 0 && k[nl] == '/' && strcmp(k + nl + 1, name) == 0)
			return &rt->service_ips[i];
	}
	return NULL;
}

const struct ipaddr *runtime_service_ip6(const struct runtime *rt, const char *ns, const char *name)
{
	const struct rt_service_ip *s = service_ip_entry(rt, ns, name);

	return s && s->ip6.family == AF_INET6 ? &s->ip6 : NULL;
}

uint32_t runtime_service_ip(const struct runtime *rt, const char *ns, const char *name)
{
	const struct rt_service_ip *s = service_ip_entry(rt, ns, name);

	return s ? s->ip : 0;
}

int runtime_cluster_parse(const char *json, size_t len, struct rt_cluster *out, char *err,
			  size_t errlen)
{
	const cJSON *nodes, *it;
	cJSON *root;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	root = cJSON_ParseWithLength(json, len);
	if (!root)
		return rt_fail(err, errlen, "not valid JSON");
	nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
	if (!cJSON_IsArray(nodes)) {
		ret = rt_fail(err, errlen, "nodes: missing or not an array");
		goto out;
	}
	if (cJSON_GetArraySize(nodes) > 0) {
		out->nodes = calloc((size_t)cJSON_GetArraySize(nodes), sizeof(*out->nodes));
		if (!out->nodes) {
			ret = -ENOMEM;
			goto out;
		}
	}
	cJSON_ArrayForEach(it, nodes)
	{
		struct rt_node *n = &out->nodes[out->n_nodes];
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *ip = cJSON_GetObjectItemCaseSensitive(it, "ip");
		const cJSON *ip6 = cJSON_GetObjectItemCaseSensitive(it, "ip6");
		struct ipaddr a;

		/* "ip" of either family (a node of an IPv6-only cluster has its IPv6 alone), and a
		 * dual-stack node's IPv6 as "ip6". */
		if (!cJSON_IsString(name) || !cJSON_IsString(ip) ||
		    ipaddr_parse_addr(ip->valuestring, &a) || (a.family == AF_INET6 && ip6) ||
		    (ip6 && (!cJSON_IsString(ip6) || ipaddr_parse_addr(ip6->valuestring, &n->ip6) ||
			     n->ip6.family != AF_INET6))) {
			ret = rt_fail(err, errlen,
				      "nodes[%zu]: needs string name, ip (IPv4 or IPv6) and an "
				      "optional IPv6 ip6 beside an IPv4 ip",
				      out->n_nodes);
			goto out;
		}
		if (!ipaddr_v4(&a, &n->ip))
			n->ip6 = a;
		if (!n->ip && n->ip6.family != AF_INET6) {
			ret = rt_fail(err, errlen, "nodes[%zu]: ip 0.0.0.0", out->n_nodes);
			goto out;
		}
		/* A name is a node's key (runtime_node): a second node of one name would answer
		 * for neither. */
		for (size_t j = 0; j < out->n_nodes; j++)
			if (strcmp(out->nodes[j].name, name->valuestring) == 0) {
				ret = rt_fail(err, errlen,
					      "nodes[%zu]: name \"%.64s\" repeats nodes[%zu]",
					      out->n_nodes, name->valuestring, j);
				goto out;
			}
		n->name = strdup(name->valuestring);
		if (!n->name) {
			ret = -ENOMEM;
			goto out;
		}
		out->n_nodes++;
	}
out:
	cJSON_Delete(root);
	return ret;
}

int runtime_cluster_load(const char *path, struct rt_cluster *out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = runtime_read_file(path, &buf, &len);
	if (ret) {
		rt_fail(err, errlen, "%s", strerror(-ret));
		return ret;
	}
	ret = runtime_cluster_parse(buf, len, out, err, errlen);
	free(buf);
	if (!ret)
		runtime_cluster_sort(out);
	return ret;
}

void runtime_cluster_free(struct rt_cluster *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_nodes; i++)
		free(c->nodes[i].name);
	free(c->nodes);
	memset(c, 0, sizeof(*c));
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct rt_node *)a)->name, ((const struct rt_node *)b)->name);
}

void runtime_cluster_sort(struct rt_cluster *c)
{
	if (c->n_nodes > 1)
		qsort(c->nodes, c->n_nodes, sizeof(*c->nodes), cmp_node);
	c->sorted = true;
}

const struct rt_node *runtime_node(const struct rt_cluster *c, const char *name)
{
	if (c && c->sorted) {
		struct rt_node key = {.name = (char *)name};

		return c->n_nodes ? bsearch(&key, c->nodes, c->n_nodes, sizeof(*c->nodes), cmp_node)
				  : NULL;
	}
	for (size_t i = 0; c && i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return &c->nodes[i];
	return NULL;
}

uint32_t runtime_node_ip(const struct rt_cluster *c, const char *name)
{
	const struct rt_node *n = runtime_node(c, name);

	return n ? n->ip : 0;
}
