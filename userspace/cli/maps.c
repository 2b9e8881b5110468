// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl maps`: the pinned BPF maps of each node, resolved to names (pods, services,
 * identities, interfaces, reasons). `-o json` prints the entries as bpftool's BTF "formatted"
 * view does (integers as numbers, structs as objects by field name), so tests can compare the
 * two directly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ldns/ldns.h>

#include "ambit/datapath.h"
#include "ctl.h"

/* Names for addresses and ids, from pods.json and the node netns. */
struct resolver {
	cJSON *pods_json; /* owned */
	const struct ctl_node *node;
	size_t npods;
	struct {
		uint32_t ip;
		struct in6_addr ip6; /* :: when the pod has none */
		uint64_t cgroup_id;
		const char *uid, *ns, *sa;
	} * pods;
};

static void resolver_free(struct resolver *r)
{
	cJSON_Delete(r->pods_json);
	free(r->pods);
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static int resolver_init(struct resolver *r, const struct ctl_cluster *c)
{
	const cJSON *pod;
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	r->pods_json = plan_read_pods_json(c);
	if (!r->pods_json)
		return 0; /* raw addresses are still worth printing */
	const cJSON *pods = cJSON_GetObjectItemCaseSensitive(r->pods_json, "pods");
	r->pods = calloc((size_t)cJSON_GetArraySize(pods) + 1, sizeof(*r->pods));
	if (!r->pods)
		return -ENOMEM;
	cJSON_ArrayForEach(pod, pods)
	{
		struct in_addr a = {0};
		bool v4 = inet_pton(AF_INET, jstr(pod, "ip"), &a) == 1;

		/* A pod of IPv6 alone (an IPv6-only cluster's) is named by that one. */
		if (inet_pton(AF_INET6, jstr(pod, "ip6"), &r->pods[i].ip6) != 1) {
			memset(&r->pods[i].ip6, 0, sizeof(r->pods[i].ip6));
			if (!v4)
				continue;
		}
		r->pods[i].ip = a.s_addr;
		r->pods[i].cgroup_id = cgroup_id_of(jstr(pod, "cgroup"));
		r->pods[i].uid = jstr(pod, "uid");
		r->pods[i].ns = jstr(pod, "namespace");
		r->pods[i].sa = jstr(pod, "serviceAccount");
		i++;
	}
	r->npods = i;
	return 0;
}

static const char *pod_by_ip(const struct resolver *r, uint32_t ip, char *ident, size_t len)
{
	for (size_t i = 0; ip && i < r->npods; i++) {
		if (r->pods[i].ip != ip)
			continue;
		if (ident)
			str_fmt(ident, len, "spiffe://cluster.local/ns/%s/sa/%s", r->pods[i].ns,
				r->pods[i].sa[0] ? r->pods[i].sa : "default");
		return r->pods[i].uid;
	}
	return NULL;
}

/* The pod of IPv6 address @ip6 (16 bytes), or NULL. */
static const char *pod_by_ip6(const struct resolver *r, const void *ip6)
{
	for (size_t i = 0; i < r->npods; i++)
		if (!memcmp(&r->pods[i].ip6, ip6, sizeof(r->pods[i].ip6)) &&
		    !IN6_IS_ADDR_UNSPECIFIED(&r->pods[i].ip6))
			return r->pods[i].uid;
	return NULL;
}

/* The pod of @ip, 4 bytes (AF_INET) or 16 (AF_INET6) as a map holds it, or NULL. */
static const char *pod_by_addr(const struct resolver *r, int af, const void *ip)
{
	uint32_t ip4;

	if (af == AF_INET6)
		return pod_by_ip6(r, ip);
	memcpy(&ip4, ip, sizeof(ip4));
	return pod_by_ip(r, ip4, NULL, 0);
}

static const char *pod_by_cgroup(const struct resolver *r, uint64_t id)
{
	for (size_t i = 0; i < r->npods; i++)
		if (id && r->pods[i].cgroup_id == id)
			return r->pods[i].uid;
	return NULL;
}

/* The Service pods.json names at VIP @ip of family @af (serviceIPs, serviceIPs6), or NULL. */
static const char *svc_by_vip(const struct resolver *r, int af, const void *ip)
{
	const cJSON *it;
	char txt[INET6_ADDRSTRLEN];

	if (!r->pods_json || !inet_ntop(af, ip, txt, sizeof(txt)))
		return NULL;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
				   r->pods_json, af == AF_INET ? "serviceIPs" : "serviceIPs6"))
	{
		if (cJSON_IsString(it) && !strcmp(it->valuestring, txt))
			return it->string;
	}
	return NULL;
}

/* An address of @af (4 or 16 bytes, network order) as text, into @buf of INET6_ADDRSTRLEN. */
static const char *addr_str(int af, const void *ip, char *buf)
{
	return inet_ntop(af, ip, buf, INET6_ADDRSTRLEN) ? buf : "?";
}

/* The host of a host:port: an IPv6 address in brackets (RFC 3986 §3.2.2). */
#define HOST_STRLEN (INET6_ADDRSTRLEN + 2)
static const char *host_str(int af, const void *ip, char *buf)
{
	char a[INET6_ADDRSTRLEN];

	if (af == AF_INET)
		return addr_str(af, ip, buf);
	snprintf(buf, HOST_STRLEN, "[%s]", addr_str(af, ip, a));
	return buf;
}

/* The width of a column of bare pod addresses: an IPv6 one is twice as wide. */
static int addr_width(int af)
{
	return af == AF_INET ? 12 : 24;
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

/* The ifindex names live in the node netns: look them up there. */
static const char *iface_name(const struct resolver *r, uint32_t ifindex, char *buf)
{
	int saved;

	buf[0] = '\0';
	if (netns_enter(r->node->netns, &saved))
		return "?";
	if (!if_indextoname(ifindex, buf))
		str_fmt(buf, IF_NAMESIZE, "?");
	netns_leave(saved);
	return buf;
}

/* Iterates @fd calling @fn(key, value) for each entry; sizes checked against the ABI. */
static int map_each(int fd, const char *name, size_t ksz, size_t vsz,
		    void (*fn)(const void *k, const void *v, void *arg), void *arg)
{
	struct bpf_map_info info = {0};
	__u32 ilen = sizeof(info);
	/* The largest of the maps: dns_answers6' key, dns_answers' value. */
	unsigned char key[sizeof(struct ambit_dns_key6)], next[sizeof(key)];
	unsigned char val[sizeof(struct ambit_dns_answer)];
	void *prev = NULL;

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		return -errno;
	if (info.key_size != ksz || info.value_size != vsz || ksz > sizeof(key) ||
	    vsz > sizeof(val)) {
		fprintf(stderr, "ambitctl: map %s: key/value sizes %u/%u, expected %zu/%zu\n", name,
			info.key_size, info.value_size, ksz, vsz);
		return -EPROTO;
	}
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, ksz);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, val))
			continue; /* deleted meanwhile (LRU maps churn) */
		fn(key, val, arg);
	}
	return 0;
}

/*
 * A map of either family is dumped by one function, told by @af which of the twins it reads:
 * the IPv4 map's key and value, or the IPv6 one's (DESIGN.md §11: the same things, an address
 * of 16 bytes).
 */
struct dump_ctx {
	const struct resolver *r;
	bool json;
	int af;	    /* AF_INET or AF_INET6: the family of the current map */
	cJSON *arr; /* json: entries of the current map */
	const char *map;
};

static cJSON *num(double v)
{
	return cJSON_CreateNumber(v);
}

static void add_entry(struct dump_ctx *d, cJSON *key, cJSON *value)
{
	cJSON *e = cJSON_CreateObject();

	if (!e || !cJSON_AddItemToArray(d->arr, e)) {
		cJSON_Delete(e);
		cJSON_Delete(key);
		cJSON_Delete(value);
		return;
	}
	cJSON_AddItemToObject(e, "key", key);
	cJSON_AddItemToObject(e, "value", value);
}

static cJSON *obj(const char *const *names, const double *vals, size_t n)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < n; i++)
		cJSON_AddNumberToObject(o, names[i], vals[i]);
	return o;
}

/* bpftool's rendering of a __u32[4]: an array of numbers. */
static cJSON *u32s(const __u32 *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[i]));
	return arr;
}

/*
 * Adds address field @name of @af to @o as bpftool renders it: an IPv4 __u32 as a number; an
 * IPv6 __u32[4] as its four words, named as the ABI names it, @name with a "6" after it.
 */
static void add_ip(cJSON *o, const char *name, int af, const void *ip)
{
	char name6[32];
	__u32 w[4];

	if (!o)
		return;
	if (af == AF_INET) {
		memcpy(w, ip, sizeof(w[0]));
		cJSON_AddNumberToObject(o, name, w[0]);
		return;
	}
	memcpy(w, ip, sizeof(w));
	snprintf(name6, sizeof(name6), "%s6", name);
	cJSON_AddItemToObject(o, name6, u32s(w, 4));
}

/* A bare pod address key: an IPv4 __u32 is a number, a struct ambit_ip6 an object. */
static cJSON *ip_key_json(int af, const void *ip)
{
	cJSON *o;
	__u32 w[4];

	if (af == AF_INET) {
		memcpy(w, ip, sizeof(w[0]));
		return num(w[0]);
	}
	memcpy(w, ip, sizeof(w));
	o = cJSON_CreateObject();
	if (o)
		cJSON_AddItemToObject(o, "a", u32s(w, 4));
	return o;
}

/*
 * A socket address of either family: struct ambit_addr or ambit_backend (IPv4, the same
 * fields) or struct ambit_addr6.
 */
struct sockaddr_view {
	int af;
	const void *ip;	  /* 4 or 16 bytes, network order */
	uint16_t port;	  /* network order */
	uint16_t last;	  /* the last field: proto (an address), pad (an IPv4 backend) */
	const char *name; /* its name, as bpftool names it from the BTF */
};

static struct sockaddr_view addr_view(int af, const void *p)
{
	if (af == AF_INET6) {
		const struct ambit_addr6 *a = p;

		return (struct sockaddr_view){af, a->ip6, a->port, a->proto, "proto"};
	}
	const struct ambit_addr *a = p;

	return (struct sockaddr_view){af, &a->ip, a->port, a->proto, "proto"};
}

static cJSON *addr_json(const struct sockaddr_view *a)
{
	cJSON *o = cJSON_CreateObject();

	add_ip(o, "ip", a->af, a->ip);
	if (o) {
		cJSON_AddNumberToObject(o, "port", a->port);
		cJSON_AddNumberToObject(o, a->name, a->last);
	}
	return o;
}

static void dump_workload(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	const struct ambit_workload *w = v;
	char a[INET6_ADDRSTRLEN], b[INET_ADDRSTRLEN], ident[512] = "", ifn[IF_NAMESIZE];

	if (d->json) {
		static const char *const f[] = {"flags", "ifindex", "node_ip", "pad"};
		double vals[] = {w->flags, w->ifindex, w->node_ip, w->pad};
		add_entry(d, ip_key_json(d->af, k), obj(f, vals, 4));
		return;
	}
	/* The identity and the veth are said once, on the pod's IPv4 line. */
	if (d->af == AF_INET) {
		uint32_t ip = *(const uint32_t *)k;
		const char *pod = pod_by_ip(d->r, ip, ident, sizeof(ident));

		printf("  %-12s %-26s %-46s ", ipaddr_v4_str(ip, a), or_dash(pod),
		       ident[0] ? ident : "-");
	} else {
		printf("  %-24s %-26s ", addr_str(d->af, k, a), or_dash(pod_by_ip6(d->r, k)));
	}
	printf("%s%s%s%s node %s", w->flags & AMBIT_WL_ENROLLED ? "enrolled" : "not-enrolled",
	       w->flags & AMBIT_WL_LOCAL ? ",local" : "",
	       w->flags & AMBIT_WL_INPOD ? ",in-pod" : "",
	       w->flags & AMBIT_WL_EXCL ? ",ports-excluded" : "", ipaddr_v4_str(w->node_ip, b));
	if (d->af == AF_INET && w->ifindex)
		printf(" iface %s (%u)", iface_name(d->r, w->ifindex, ifn), w->ifindex);
	printf("\n");
}

/* enrolled_cgrp holds a struct ambit_enrolled, enrolled_ip6 the in-pod pod's ambit_ip6. */
static void dump_enrolled(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	const struct ambit_enrolled *e = v;
	char a[INET6_ADDRSTRLEN];
	uint64_t id;

	memcpy(&id, k, sizeof(id));
	if (d->json) {
		static const char *const f[] = {"pod_ip", "flags"};
		double vals[] = {e->pod_ip, e->flags};
		add_entry(d, num((double)id),
			  d->af == AF_INET ? obj(f, vals, 2) : ip_key_json(d->af, v));
		return;
	}
	printf("  cgroup %-12llu -> %-26s ", (unsigned long long)id,
	       or_dash(pod_by_cgroup(d->r, id)));
	if (d->af == AF_INET)
		printf("%s%s%s%s\n", ipaddr_v4_str(e->pod_ip, a),
		       e->flags & AMBIT_ENROLLED_INPOD ? " in-pod" : "",
		       e->flags & AMBIT_ENROLLED_NO_DNS ? " no-dns-capture" : "",
		       e->flags & AMBIT_ENROLLED_EXCL_OUT ? " outbound-ports-excluded" : "");
	else
		printf("in-pod at [%s]\n", addr_str(d->af, v, a));
}

/* pod_ifaces holds a struct ambit_iface, pod_ifaces6 the pod's ambit_ip6. */
static void dump_iface(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	uint32_t ifindex = *(const uint32_t *)k;
	const struct ambit_iface *e = v;
	const void *ip = d->af == AF_INET ? (const void *)&e->pod_ip : v;
	char a[INET6_ADDRSTRLEN], ifn[IF_NAMESIZE];

	if (d->json) {
		static const char *const f[] = {"pod_ip", "pad"};
		double vals[] = {e->pod_ip, e->pad};
		add_entry(d, num(ifindex),
			  d->af == AF_INET ? obj(f, vals, 2) : ip_key_json(d->af, v));
		return;
	}
	printf("  %-10s (%3u) -> %-26s %s source %s%s\n", iface_name(d->r, ifindex, ifn), ifindex,
	       or_dash(pod_by_addr(d->r, d->af, ip)), d->af == AF_INET ? "only" : "IPv6",
	       addr_str(d->af, ip, a), d->af == AF_INET ? "" : " (and link-local)");
}

static void dump_service(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	struct sockaddr_view a = addr_view(d->af, k);
	const struct ambit_service *s = v;
	char host[HOST_STRLEN];

	if (d->json) {
		static const char *const f[] = {"id", "backend_count"};
		double vals[] = {s->id, s->backend_count};
		add_entry(d, addr_json(&a), obj(f, vals, 2));
		return;
	}
	printf("  %s:%-5u%-4s -> %-20s ", host_str(a.af, a.ip, host), ntohs(a.port),
	       a.last == IPPROTO_UDP ? "/udp" : "", or_dash(svc_by_vip(d->r, a.af, a.ip)));
	printf("id %u, %u backend(s)\n", s->id, s->backend_count);
}

/* backends holds a struct ambit_backend, the fields of an ambit_addr; backends6 an ambit_addr6. */
static void dump_backend(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	const struct ambit_backend_key *bk = k;
	const struct ambit_backend *b4 = v;
	struct sockaddr_view b =
	    d->af == AF_INET ? (struct sockaddr_view){AF_INET, &b4->ip, b4->port, b4->pad, "pad"}
			     : addr_view(d->af, v);
	static const uint8_t zero[16];
	char host[HOST_STRLEN];

	if (d->json) {
		static const char *const fk[] = {"service_id", "index"};
		double kv[] = {bk->service_id, bk->index};
		add_entry(d, obj(fk, kv, 2), addr_json(&b));
		return;
	}
	/* A ServiceEntry's UDP port: the ztunnel routes it (bpf_abi.h). */
	if (!b.port && !memcmp(b.ip, zero, b.af == AF_INET ? 4 : 16)) {
		printf("  service %u #%u -> the ztunnel (a ServiceEntry's UDP port)\n",
		       bk->service_id, bk->index);
		return;
	}
	printf("  service %u #%u -> %s:%u %s\n", bk->service_id, bk->index,
	       host_str(b.af, b.ip, host), ntohs(b.port), or_dash(pod_by_addr(d->r, b.af, b.ip)));
}

static cJSON *orig_json(const struct ambit_orig_dst *o)
{
	static const char *const f[] = {"ip", "port", "flags", "cgroup"};
	double vals[] = {o->ip, o->port, o->flags, (double)o->cgroup};

	return obj(f, vals, 4);
}

static cJSON *orig6_json(const struct ambit_orig_dst6 *o)
{
	static const char *const f[] = {"port", "flags", "pad", "cgroup"};
	double vals[] = {o->port, o->flags, o->pad, (double)o->cgroup};
	cJSON *vo = cJSON_CreateObject();

	add_ip(vo, "ip", AF_INET6, o->ip6);
	for (size_t i = 0; vo && i < 4; i++)
		cJSON_AddNumberToObject(vo, f[i], vals[i]);
	return vo;
}

/* The original destination of a struct ambit_orig_dst (IPv4) or ambit_orig_dst6. */
static void print_orig(const struct dump_ctx *d, int af, const void *v)
{
	const struct ambit_orig_dst *o4 = v;
	const struct ambit_orig_dst6 *o6 = v;
	const void *ip = af == AF_INET ? (const void *)&o4->ip : o6->ip6;
	const char *svc = svc_by_vip(d->r, af, ip);
	uint16_t flags = af == AF_INET ? o4->flags : o6->flags;
	char host[HOST_STRLEN];

	printf("-> %s:%u (%s) ", host_str(af, ip, host), ntohs(af == AF_INET ? o4->port : o6->port),
	       svc ? svc : or_dash(pod_by_addr(d->r, af, ip)));
	printf("%s%s ", flags & AMBIT_ORIG_REDIRECTED ? "redirected" : "",
	       flags & AMBIT_ORIG_SERVICE_LB ? "service-lb" : "");
	printf("by %s\n", or_dash(pod_by_cgroup(d->r, af == AF_INET ? o4->cgroup : o6->cgroup)));
}

static void dump_sock_orig(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	uint64_t cookie;

	memcpy(&cookie, k, sizeof(cookie));
	if (d->json) {
		add_entry(d, num((double)cookie), orig_json(v));
		return;
	}
	printf("  socket cookie %-10llu ", (unsigned long long)cookie);
	print_orig(d, AF_INET, v);
}

static void dump_orig_dst(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	struct sockaddr_view a = addr_view(d->af, k);
	char host[HOST_STRLEN];

	if (d->json) {
		add_entry(d, addr_json(&a), d->af == AF_INET ? orig_json(v) : orig6_json(v));
		return;
	}
	printf("  %s:%-5u %-20s ", host_str(a.af, a.ip, host), ntohs(a.port),
	       or_dash(pod_by_addr(d->r, a.af, a.ip)));
	print_orig(d, a.af, v);
}

static void dump_proxy_sock(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	uint32_t slot = *(const uint32_t *)k;
	uint64_t cookie;

	memcpy(&cookie, v, sizeof(cookie));
	if (d->json) {
		add_entry(d, num(slot), num((double)cookie));
		return;
	}
	printf("  slot %u (%s) -> listener socket cookie %llu\n", slot,
	       slot == AMBIT_SOCK_INBOUND ? "inbound 15006"
	       : slot == AMBIT_SOCK_HBONE ? "hbone 15008"
					  : "?",
	       (unsigned long long)cookie);
}

static void dump_inpod_sock(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	char a[INET6_ADDRSTRLEN];
	uint64_t cookie;

	memcpy(&cookie, v, sizeof(cookie));
	if (d->json) {
		add_entry(d, ip_key_json(d->af, k), num((double)cookie));
		return;
	}
	printf("  %-*s %-26s -> in-pod 15006 listener socket cookie %llu\n", addr_width(d->af),
	       addr_str(d->af, k, a), or_dash(pod_by_addr(d->r, d->af, k)),
	       (unsigned long long)cookie);
}

static void dump_strict_port(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	struct sockaddr_view a = addr_view(d->af, k);
	const struct ambit_strict_port *sp = v;
	char host[HOST_STRLEN], port[16] = "*";

	if (d->json) {
		static const char *const f[] = {"mode", "pad", "drops"};
		double vals[] = {sp->mode, sp->pad, (double)sp->drops};

		add_entry(d, addr_json(&a), obj(f, vals, 3));
		return;
	}
	if (a.port)
		snprintf(port, sizeof(port), "%u", ntohs(a.port));
	printf("  %s:%-5s %-28s plaintext %-5s drops %llu\n", host_str(a.af, a.ip, host), port,
	       or_dash(pod_by_addr(d->r, a.af, a.ip)),
	       sp->mode == AMBIT_PLAINTEXT_DROP ? "drop" : "allow", (unsigned long long)sp->drops);
}

/* A flow key (struct ambit_flow, or ambit_flow6 for IPv6) as its addresses and ports. */
struct flow_view {
	const void *src, *dst; /* 4 or 16 bytes, network order */
	uint16_t sport, dport; /* host order */
};

static struct flow_view flow_view(int af, const void *k)
{
	const struct ambit_flow *k4 = k;
	const struct ambit_flow6 *k6 = k;

	if (af == AF_INET)
		return (struct flow_view){&k4->saddr, &k4->daddr, ntohs(k4->sport),
					  ntohs(k4->dport)};
	return (struct flow_view){k6->saddr, k6->daddr, ntohs(k6->sport), ntohs(k6->dport)};
}

/* @f as JSON: saddr, daddr, sport, dport (NULL without memory). */
static cJSON *flow_json(int af, const struct flow_view *f)
{
	cJSON *ko = cJSON_CreateObject();

	add_ip(ko, "saddr", af, f->src);
	add_ip(ko, "daddr", af, f->dst);
	if (ko) {
		cJSON_AddNumberToObject(ko, "sport", f->sport);
		cJSON_AddNumberToObject(ko, "dport", f->dport);
	}
	return ko;
}

#define FLOW_STRLEN (2 * INET6_ADDRSTRLEN + 40)
/* "from A port N to B port M", into @buf of FLOW_STRLEN. */
static const char *flow_str(int af, const struct flow_view *f, char *buf)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	snprintf(buf, FLOW_STRLEN, "from %s port %u to %s port %u", addr_str(af, f->src, a),
		 f->sport, addr_str(af, f->dst, b), f->dport);
	return buf;
}

/* A struct ambit_flow or ambit_flow6: a flow to a pod that predates its enrolment. */
static void dump_preflow(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	struct flow_view fv = flow_view(d->af, k);
	const struct ambit_preflow *f = v;
	char txt[FLOW_STRLEN];

	if (d->json) {
		static const char *const fk[] = {"packets"};
		double vv[] = {(double)f->packets};

		add_entry(d, flow_json(d->af, &fv), obj(fk, vv, 1));
		return;
	}
	printf("  %s %-28s packets %llu\n", flow_str(d->af, &fv, txt),
	       or_dash(pod_by_addr(d->r, d->af, fv.dst)), (unsigned long long)f->packets);
}

/* A udp_replies (udp_replies6) key: the answer an enrolled pod's UDP past the mesh may get. */
static void dump_udp_reply(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	struct flow_view fv = flow_view(d->af, k);
	char txt[FLOW_STRLEN];

	if (d->json) {
		add_entry(d, flow_json(d->af, &fv), cJSON_CreateNumber(*(const uint32_t *)v));
		return;
	}
	printf("  %s %s\n", flow_str(d->af, &fv, txt), or_dash(pod_by_addr(d->r, d->af, fv.dst)));
}

/* An excl_ports key: a port a pod leaves out of capture, by the pod's cgroup or veth. */
static void dump_excl_port(const void *k, const void *v, void *arg)
{
	static const char *const dirs[] = {[AMBIT_EXCL_OUT] = "outbound (connect)",
					   [AMBIT_EXCL_OUT_IFACE] = "outbound",
					   [AMBIT_EXCL_IN_IFACE] = "inbound"};
	struct dump_ctx *d = arg;
	const struct ambit_excl_key *e = k;
	const char *dir = e->dir < sizeof(dirs) / sizeof(dirs[0]) ? dirs[e->dir] : NULL;
	const char *proto = e->proto == IPPROTO_TCP ? "tcp" : e->proto == IPPROTO_UDP ? "udp" : "?";
	char ifn[IF_NAMESIZE];

	(void)v;
	if (d->json) {
		cJSON *ko = cJSON_CreateObject();

		if (ko) {
			cJSON_AddNumberToObject(ko, "id", (double)e->id);
			cJSON_AddNumberToObject(ko, "port", ntohs(e->port));
			cJSON_AddStringToObject(ko, "proto", proto);
			cJSON_AddNumberToObject(ko, "dir", e->dir);
		}
		add_entry(d, ko, cJSON_CreateNumber(1));
		return;
	}
	if (e->dir == AMBIT_EXCL_OUT)
		printf("  cgroup %-12llu %-26s", (unsigned long long)e->id,
		       or_dash(pod_by_cgroup(d->r, e->id)));
	else
		printf("  iface %-12s (%3llu)%-21s", iface_name(d->r, (uint32_t)e->id, ifn),
		       (unsigned long long)e->id, "");
	printf(" %s %s %u\n", dir ? dir : "?", proto, ntohs(e->port));
}

/* A udp_frags key: a datagram whose first piece went to the ztunnel (IPv4 in [0] alone). */
static void dump_udp_frag(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	const struct ambit_frag_key *f = k;
	int af = !f->saddr[1] && !f->saddr[2] && !f->saddr[3] && !f->daddr[1] && !f->daddr[2] &&
			 !f->daddr[3]
		     ? AF_INET
		     : AF_INET6;
	char srcs[INET6_ADDRSTRLEN], dsts[INET6_ADDRSTRLEN];

	(void)v;
	if (d->json) {
		cJSON *ko = cJSON_CreateObject();

		add_ip(ko, "saddr", af, f->saddr);
		add_ip(ko, "daddr", af, f->daddr);
		if (ko)
			cJSON_AddNumberToObject(
			    ko, "id", af == AF_INET ? ntohs((uint16_t)f->id) : ntohl(f->id));
		add_entry(d, ko, cJSON_CreateNumber(1));
		return;
	}
	printf("  from %s to %s id %u\n", addr_str(af, f->saddr, srcs),
	       addr_str(af, f->daddr, dsts), af == AF_INET ? ntohs((uint16_t)f->id) : ntohl(f->id));
}

/* node_cfg[0]: the cgroup the kubelet's probes are known by (0: none found). */
static void dump_node_cfg(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	const struct ambit_node_cfg *c = v;

	if (d->json) {
		static const char *const fv[] = {"kubelet_cgroup"};
		double vv[] = {(double)c->kubelet_cgroup};

		add_entry(d, cJSON_CreateNumber(*(const uint32_t *)k), obj(fv, vv, 1));
		return;
	}
	if (c->kubelet_cgroup)
		printf("  kubelet cgroup id %llu: its probes pass\n",
		       (unsigned long long)c->kubelet_cgroup);
	else
		printf("  kubelet cgroup: none found, no probe passes\n");
}

/* A struct ambit_probe_flow: the kubelet's SYN to an in-pod pod, waiting for tc_pod. */
static void dump_probe_flow(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	const struct ambit_probe_flow *f = k;
	int af =
	    f->saddr[1] || f->saddr[2] || f->saddr[3] || f->daddr[1] || f->daddr[2] || f->daddr[3]
		? AF_INET6
		: AF_INET;
	char dsts[INET6_ADDRSTRLEN], srcs[INET6_ADDRSTRLEN];

	if (d->json) {
		cJSON *ko = cJSON_CreateObject();

		add_ip(ko, "saddr", af, f->saddr);
		add_ip(ko, "daddr", af, f->daddr);
		if (ko) {
			cJSON_AddNumberToObject(ko, "sport", ntohs(f->sport));
			cJSON_AddNumberToObject(ko, "dport", ntohs(f->dport));
		}
		add_entry(d, ko, cJSON_CreateNumber(*(const uint32_t *)v));
		return;
	}
	printf("  from %s port %u to %s port %u %s\n", addr_str(af, f->saddr, srcs),
	       ntohs(f->sport), addr_str(af, f->daddr, dsts), ntohs(f->dport),
	       or_dash(pod_by_addr(d->r, af, f->daddr)));
}

/* A struct ambit_deny_src_key or ambit_deny_src6_key: its prefix counts the whole pod in. */
static void dump_deny_src(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	const struct ambit_deny_src_key *k4 = k;
	const struct ambit_deny_src6_key *k6 = k;
	const struct ambit_deny_src *ds = v;
	const void *dst = d->af == AF_INET ? (const void *)&k4->dst_ip : k6->dst_ip6;
	const void *src = d->af == AF_INET ? (const void *)&k4->src_ip : k6->src_ip6;
	uint32_t prefixlen = d->af == AF_INET ? k4->prefixlen : k6->prefixlen;
	uint32_t pod_bits = d->af == AF_INET ? 32 : 128;
	char dsts[INET6_ADDRSTRLEN], srcs[INET6_ADDRSTRLEN];

	if (d->json) {
		static const char *const fv[] = {"drops"};
		double vv[] = {(double)ds->drops};
		cJSON *ko = cJSON_CreateObject();

		if (ko)
			cJSON_AddNumberToObject(ko, "prefixlen", prefixlen);
		add_ip(ko, "dst_ip", d->af, dst);
		add_ip(ko, "src_ip", d->af, src);
		add_entry(d, ko, obj(fv, vv, 1));
		return;
	}
	printf("  from %s/%u to %s %-28s drops %llu\n", addr_str(d->af, src, srcs),
	       prefixlen >= pod_bits ? prefixlen - pod_bits : 0, addr_str(d->af, dst, dsts),
	       or_dash(pod_by_addr(d->r, d->af, dst)), (unsigned long long)ds->drops);
}

/*
 * A sentry_cidrs or sentry_cidrs6 key: a ServiceEntry's UDP port over a block, or a waypoint's
 * Service's VIP (a full-length prefix) on its UDP port.
 */
static void dump_sentry_cidr(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	char txt[INET6_ADDRSTRLEN];
	unsigned int prefix;
	uint16_t port;
	uint8_t ip[16];

	(void)v;
	datapath_sentry_cidr_of(k, d->af == AF_INET6, ip, &prefix, &port);
	if (d->json) {
		cJSON *ko = cJSON_CreateObject();

		add_ip(ko, "ip", d->af, ip);
		if (ko) {
			cJSON_AddNumberToObject(ko, "prefix", prefix);
			cJSON_AddNumberToObject(ko, "port", port);
		}
		add_entry(d, ko, cJSON_CreateNumber(1));
		return;
	}
	printf("  %s/%u port %u/udp -> the ztunnel, as addressed (a ServiceEntry's UDP port%s)\n",
	       addr_str(d->af, ip, txt), prefix, port,
	       prefix == (d->af == AF_INET6 ? 128u : 32u) ? ", or a Service a waypoint serves"
							  : "");
}

static void bytes_array(cJSON *o, const char *name, const uint8_t *b, size_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(o, name);

	for (size_t i = 0; arr && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(b[i]));
}

/*
 * The question of a dns_answers or dns_answers6 key's @qlen bytes @q ("name type"), read by
 * ldns; "?" when it does not read.
 */
static void dns_question(const uint8_t *q, uint16_t qlen, char *buf, size_t len)
{
	uint8_t wire[2 + AMBIT_DNS_QMAX] = {0};
	ldns_pkt *pkt = NULL;
	ldns_rr *rr;
	char *name = NULL, *type = NULL;

	snprintf(buf, len, "?");
	if (qlen > AMBIT_DNS_QMAX)
		return;
	memcpy(wire + 2, q, qlen);
	if (ldns_wire2pkt(&pkt, wire, 2u + qlen) == LDNS_STATUS_OK &&
	    (rr = ldns_rr_list_rr(ldns_pkt_question(pkt), 0)) &&
	    (name = ldns_rdf2str(ldns_rr_owner(rr))) &&
	    (type = ldns_rr_type2str(ldns_rr_get_type(rr))))
		snprintf(buf, len, "%s %s", name, type);
	free(name);
	free(type);
	ldns_pkt_free(pkt);
}

/* A struct ambit_dns_key or ambit_dns_key6 -> struct ambit_dns_answer. */
static void dump_dns_answer(const void *k, const void *v, void *arg)
{
	struct dump_ctx *d = arg;
	const struct ambit_dns_key *k4 = k;
	const struct ambit_dns_key6 *k6 = k;
	const struct ambit_dns_answer *a = v;
	const void *pod = d->af == AF_INET ? (const void *)&k4->pod_ip : k6->pod_ip6;
	uint16_t qlen = d->af == AF_INET ? k4->qlen : k6->qlen;
	uint16_t pad = d->af == AF_INET ? k4->pad : k6->pad;
	const uint8_t *qb = d->af == AF_INET ? k4->q : k6->q;
	char ip[INET6_ADDRSTRLEN], q[300];

	if (d->json) {
		/* bpftool's BTF rendering: every field, the byte arrays as arrays of numbers. */
		static const char *const fv[] = {"gen", "alen", "pad", "hits"};
		double vv[] = {a->gen, a->alen, a->pad, (double)a->hits};
		cJSON *ko = cJSON_CreateObject(), *vo = obj(fv, vv, 4);

		add_ip(ko, "pod_ip", d->af, pod);
		if (ko) {
			cJSON_AddNumberToObject(ko, "qlen", qlen);
			cJSON_AddNumberToObject(ko, "pad", pad);
			bytes_array(ko, "q", qb, AMBIT_DNS_QMAX);
		}
		if (vo)
			bytes_array(vo, "a", a->a, sizeof(a->a));
		add_entry(d, ko, vo);
		return;
	}
	dns_question(qb, qlen, q, sizeof(q));
	printf("  %s %-28s %-40s gen %08x %u bytes hits %llu\n", addr_str(d->af, pod, ip),
	       or_dash(pod_by_addr(d->r, d->af, pod)), q, a->gen, a->alen,
	       (unsigned long long)a->hits);
}

static int dump_counters(struct datapath *dp, struct dump_ctx *d)
{
	int fd = datapath_map_fd(dp, "counters");
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (fd < 0 || ncpu <= 0)
		return fd < 0 ? fd : ncpu;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t r = 0; r < AMBIT_REASON__COUNT; r++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &r, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			sum += vals[c];
		if (d->json) {
			/* bpftool's per-CPU layout: {"key":K,"values":[{"cpu":N,"value":V}]}. */
			cJSON *e = cJSON_CreateObject(), *arr;
			if (!e || !cJSON_AddItemToArray(d->arr, e))
				break;
			cJSON_AddNumberToObject(e, "key", r);
			arr = cJSON_AddArrayToObject(e, "values");
			for (int c = 0; arr && c < ncpu; c++) {
				cJSON *cv = cJSON_CreateObject();
				if (!cv || !cJSON_AddItemToArray(arr, cv))
					break;
				cJSON_AddNumberToObject(cv, "cpu", c);
				cJSON_AddNumberToObject(cv, "value", (double)vals[c]);
			}
		} else {
			printf("  %-22s %llu\n", ambit_reason_name(r), (unsigned long long)sum);
		}
	}
	free(vals);
	return 0;
}

static const struct {
	const char *name;
	int af; /* the family the map's addresses are of */
	size_t ksz, vsz;
	void (*fn)(const void *, const void *, void *);
	const char *title;
} map_table[] = {
    {"workloads", AF_INET, 4, sizeof(struct ambit_workload), dump_workload,
     "pod IP -> pod, identity"},
    {"enrolled_cgrp", AF_INET, 8, sizeof(struct ambit_enrolled), dump_enrolled,
     "cgroup id -> enrolled pod"},
    {"pod_ifaces", AF_INET, 4, sizeof(struct ambit_iface), dump_iface,
     "pod veth -> allowed source"},
    {"services", AF_INET, sizeof(struct ambit_addr), sizeof(struct ambit_service), dump_service,
     "VIP:port -> service"},
    {"backends", AF_INET, sizeof(struct ambit_backend_key), sizeof(struct ambit_backend),
     dump_backend, "service backend -> pod"},
    {"sock_orig", AF_INET, 8, sizeof(struct ambit_orig_dst), dump_sock_orig,
     "socket -> original destination"},
    {"orig_dst", AF_INET, sizeof(struct ambit_addr), sizeof(struct ambit_orig_dst), dump_orig_dst,
     "pod socket -> original destination (waiting for the ztunnel)"},
    {"proxy_socks", AF_INET, 4, 8, dump_proxy_sock, "ztunnel listeners for bpf_sk_assign"},
    {"inpod_socks", AF_INET, 4, 8, dump_inpod_sock,
     "in-pod capture: pod -> its ztunnel 15006 listener"},
    {"strict_ports", AF_INET, sizeof(struct ambit_addr), sizeof(struct ambit_strict_port),
     dump_strict_port, "pod:port (* = default) -> plaintext verdict (STRICT PeerAuthentication)"},
    {"deny_src", AF_INET, sizeof(struct ambit_deny_src_key), sizeof(struct ambit_deny_src),
     dump_deny_src, "source block -> pod denied (DENY ipBlocks AuthorizationPolicy)"},
    {"dns_answers", AF_INET, sizeof(struct ambit_dns_key), sizeof(struct ambit_dns_answer),
     dump_dns_answer,
     "pod + DNS query -> the proxy's answer, given by the kernel (counts under dns_gen)"},
    {"preflows", AF_INET, sizeof(struct ambit_flow), sizeof(struct ambit_preflow), dump_preflow,
     "flow to a pod (host capture) open before its enrolment -> passes"},
    /* IPv6 (sock_orig6 and dns_orig6 are socket storage: `bpftool map dump` shows them). */
    {"workloads6", AF_INET6, sizeof(struct ambit_ip6), sizeof(struct ambit_workload), dump_workload,
     "pod IPv6 -> pod"},
    {"pod_ifaces6", AF_INET6, 4, sizeof(struct ambit_ip6), dump_iface,
     "pod veth -> allowed IPv6 source"},
    {"services6", AF_INET6, sizeof(struct ambit_addr6), sizeof(struct ambit_service), dump_service,
     "[VIP]:port -> service"},
    {"backends6", AF_INET6, sizeof(struct ambit_backend_key), sizeof(struct ambit_addr6),
     dump_backend, "service backend -> pod IPv6"},
    {"orig_dst6", AF_INET6, sizeof(struct ambit_addr6), sizeof(struct ambit_orig_dst6),
     dump_orig_dst, "pod socket -> original IPv6 destination (waiting for the ztunnel)"},
    {"proxy_socks6", AF_INET6, 4, 8, dump_proxy_sock, "ztunnel IPv6 listeners for bpf_sk_assign"},
    {"enrolled_ip6", AF_INET6, 8, sizeof(struct ambit_ip6), dump_enrolled,
     "in-pod capture: cgroup id -> the pod's IPv6 (connect6 to its 15001)"},
    {"inpod_socks6", AF_INET6, sizeof(struct ambit_ip6), 8, dump_inpod_sock,
     "in-pod capture: pod IPv6 -> its ztunnel 15006 listener"},
    {"strict_ports6", AF_INET6, sizeof(struct ambit_addr6), sizeof(struct ambit_strict_port),
     dump_strict_port, "[pod]:port (* = default) -> plaintext verdict (STRICT)"},
    {"deny_src6", AF_INET6, sizeof(struct ambit_deny_src6_key), sizeof(struct ambit_deny_src),
     dump_deny_src, "IPv6 source block -> pod denied (DENY ipBlocks)"},
    {"dns_answers6", AF_INET6, sizeof(struct ambit_dns_key6), sizeof(struct ambit_dns_answer),
     dump_dns_answer, "pod IPv6 + DNS query -> the proxy's answer, given by the kernel"},
    {"preflows6", AF_INET6, sizeof(struct ambit_flow6), sizeof(struct ambit_preflow), dump_preflow,
     "IPv6 flow to a pod open before its enrolment -> passes"},
    /* Both families (the node's own traffic, bpf/lib/nodeguard.h). */
    {"node_cfg", AF_INET, 4, sizeof(struct ambit_node_cfg), dump_node_cfg,
     "the node: the kubelet's cgroup (its probes pass the mesh)"},
    {"probe_flows", AF_INET, sizeof(struct ambit_probe_flow), 4, dump_probe_flow,
     "in-pod capture: the kubelet's probe SYN -> let by to the pod"},
    {"udp_replies", AF_INET, sizeof(struct ambit_flow), 4, dump_udp_reply,
     "answer of a UDP flow past the mesh -> passes STRICT, is not captured"},
    {"udp_replies6", AF_INET6, sizeof(struct ambit_flow6), 4, dump_udp_reply,
     "answer of an IPv6 UDP flow past the mesh -> passes STRICT, is not captured"},
    {"udp_frags", AF_INET, sizeof(struct ambit_frag_key), 4, dump_udp_frag,
     "fragmented datagram whose first piece went to the ztunnel -> its later pieces follow"},
    {"udp_pending", AF_INET, sizeof(struct ambit_flow), 4, dump_udp_reply,
     "new UDP flow whose first datagram came in pieces -> the listener takes it whole"},
    {"udp_pending6", AF_INET6, sizeof(struct ambit_flow6), 4, dump_udp_reply, "the same over IPv6"},
    {"excl_ports", AF_INET, sizeof(struct ambit_excl_key), 4, dump_excl_port,
     "port a pod leaves out of capture (traffic.sidecar.istio.io/exclude*Ports)"},
    {"excl_replies", AF_INET, sizeof(struct ambit_flow), 4, dump_udp_reply,
     "answer to an enrolled pod's TCP on a port it leaves out -> passes"},
    {"excl_replies6", AF_INET6, sizeof(struct ambit_flow6), 4, dump_udp_reply,
     "answer to an enrolled pod's IPv6 TCP on a port it leaves out -> passes"},
    {"sentry_cidrs", AF_INET, sizeof(struct ambit_sentry_cidr_key), 4, dump_sentry_cidr,
     "a ServiceEntry's CIDR block or a waypoint's Service's VIP + UDP port -> the ztunnel"},
    {"sentry_cidrs6", AF_INET6, sizeof(struct ambit_sentry_cidr6_key), 4, dump_sentry_cidr,
     "the same over IPv6"},
};

static int dump_node(const struct ctl_node *n, struct resolver *r, bool json, cJSON *out)
{
	struct datapath *dp = datapath_open_pinned(n->pin_root);
	struct dump_ctx d = {.r = r, .json = json};
	cJSON *node_obj = NULL;
	int ret = 0;

	if (!dp) {
		ret = -errno;
		fprintf(stderr, "ambitctl: %s: no pinned data path at %s: %s\n", n->name,
			n->pin_root, strerror(errno));
		return ret;
	}
	r->node = n;
	if (json && !(node_obj = cJSON_AddObjectToObject(out, n->name))) {
		datapath_close(dp);
		return -ENOMEM;
	}
	if (!json)
		printf("== %s (%s)\n", n->name, n->pin_root);
	for (size_t i = 0; i < sizeof(map_table) / sizeof(map_table[0]); i++) {
		int fd = datapath_map_fd(dp, map_table[i].name);

		if (fd < 0) {
			fprintf(stderr, "ambitctl: %s: map %s missing\n", n->name,
				map_table[i].name);
			ret = fd;
			continue;
		}
		if (json)
			d.arr = cJSON_AddArrayToObject(node_obj, map_table[i].name);
		else
			printf("%s: %s\n", map_table[i].name, map_table[i].title);
		d.af = map_table[i].af;
		int r2 = map_each(fd, map_table[i].name, map_table[i].ksz, map_table[i].vsz,
				  map_table[i].fn, &d);
		if (r2)
			ret = r2;
	}
	if (json)
		d.arr = cJSON_AddArrayToObject(node_obj, "counters");
	else
		printf("counters: data path verdicts by reason (all CPUs)\n");
	int r3 = dump_counters(dp, &d);
	if (r3)
		ret = r3;
	datapath_close(dp);
	return ret;
}

int cmd_maps(const struct ctl_opts *o)
{
	struct ctl_cluster c;
	struct resolver r;
	cJSON *out = NULL;
	int ret, failed = 0, done = 0;

	ret = cluster_load(&c, o->cluster);
	if (ret) {
		cluster_tell_not_up(o->cluster);
		return ret;
	}
	if (o->node && !cluster_node(&c, o->node)) {
		fprintf(stderr, "ambitctl: no node %s\n", o->node);
		return -ENOENT;
	}
	ret = resolver_init(&r, &c);
	if (ret)
		return ret;
	if (o->json && !(out = cJSON_CreateObject())) {
		resolver_free(&r);
		return -ENOMEM;
	}
	for (int i = 0; i < c.nnodes; i++) {
		if (o->node && strcmp(o->node, c.nodes[i].name))
			continue;
		done++;
		failed += dump_node(&c.nodes[i], &r, o->json, out) != 0;
	}
	if (out) {
		char *t = cJSON_Print(out);
		printf("%s\n", t ? t : "{}");
		free(t);
		cJSON_Delete(out);
	}
	resolver_free(&r);
	return failed && failed == done ? -EIO : 0;
}
