// SPDX-License-Identifier: Apache-2.0
/*
 * The local cluster's Service cluster IPs, as the API server allocates them: 10.96.X.Y from
 * the Service range, and in a dual-stack cluster fd00:96:X::Y from the second one, by each
 * Service's ipFamilies and ipFamilyPolicy; in an IPv6 cluster fd00:96:X::Y alone. A Service keeps
 * the VIPs it has while the cluster runs (runtime/pods.json's serviceIPs and serviceIPs6); new ones
 * get the next free slot.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"

#define PLAN_VIP_FIRST 10 /* 10.96.0.10 upward */
#define PLAN_VIP_LAST 65534

/* @ip: "" for a SingleStack IPv6 Service (its @ip6 alone), whose slot is its IPv6's. */
static int plan_add_vip(struct ctl_plan *p, const char *key, const char *ip, const char *ip6)
{
	struct ctl_service_ip *grown = realloc(p->services, (p->nservices + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	p->services = grown;
	memset(&grown[p->nservices], 0, sizeof(grown[p->nservices]));
	grown[p->nservices].key = strdup(key);
	grown[p->nservices].ip = strdup(ip);
	if (!grown[p->nservices].key || !grown[p->nservices].ip) {
		free(grown[p->nservices].key);
		free(grown[p->nservices].ip);
		return -ENOMEM;
	}
	if (ip6)
		str_fmt(grown[p->nservices].ip6, sizeof(grown[p->nservices].ip6), "%s", ip6);
	p->nservices++;
	return 0;
}

/* Whether @s (a Service's clusterIP or one of its clusterIPs) is @ip. */
static bool names_ip(const struct config_service *s, const char *ip)
{
	if (s->cluster_ip && !strcmp(s->cluster_ip, ip))
		return true;
	for (size_t i = 0; i < s->cluster_ips.n; i++)
		if (!strcmp(s->cluster_ips.items[i], ip))
			return true;
	return false;
}

/*
 * Whether slot @ip (10.96.X.Y) is in use: by its IPv4 or by its IPv6 twin (fd00:96:X::Y), which
 * a SingleStack IPv6 Service holds without the IPv4 address, in the manifests, in this plan or
 * in the running cluster's (@old: serviceIPs, @old6: serviceIPs6).
 */
static bool vip_taken(const struct config *cfg, const struct ctl_plan *p, const cJSON *old,
		      const cJSON *old6, const char *ip)
{
	const cJSON *it;
	char six[40];
	bool has6 = !cluster_ip6(ip, six, sizeof(six));

	for (size_t i = 0; i < cfg->n_services; i++)
		if (names_ip(&cfg->services[i], ip) || (has6 && names_ip(&cfg->services[i], six)))
			return true;
	for (size_t i = 0; i < p->nservices; i++)
		if (!strcmp(p->services[i].ip, ip) || (has6 && !strcmp(p->services[i].ip6, six)))
			return true;
	cJSON_ArrayForEach(it, old)
	{
		if (cJSON_IsString(it) && !strcmp(it->valuestring, ip))
			return true;
	}
	cJSON_ArrayForEach(it, old6)
	{
		if (has6 && cJSON_IsString(it) && !strcmp(it->valuestring, six))
			return true;
	}
	return false;
}

/* The next free slot from *@next on into @ip (16 bytes). 0 or -ENOSPC. */
static int next_free(const struct config *cfg, const struct ctl_plan *p, const cJSON *old,
		     const cJSON *old6, int *next, char *ip)
{
	do {
		if (*next > PLAN_VIP_LAST)
			return -ENOSPC;
		str_fmt(ip, 16, "10.96.%d.%d", *next / 256, *next % 256);
		(*next)++;
	} while (vip_taken(cfg, p, old, old6, ip));
	return 0;
}

/* @s's IPv6 cluster IP as its manifest gives it (clusterIP or clusterIPs), or NULL. */
static const char *given_ip6(const struct config_service *s)
{
	struct in6_addr a;

	if (s->cluster_ip && inet_pton(AF_INET6, s->cluster_ip, &a) == 1)
		return s->cluster_ip;
	for (size_t i = 0; i < s->cluster_ips.n; i++)
		if (inet_pton(AF_INET6, s->cluster_ips.items[i], &a) == 1)
			return s->cluster_ips.items[i];
	return NULL;
}

/*
 * The IPv6 VIP of Service @s (the plan's newest entry, whose IPv4 VIP is set) in a dual-stack
 * cluster: the one its clusterIPs name, else, when its ipFamilyPolicy asks for both families,
 * the IPv4 VIP's twin in fd00:96::/48 (cluster_ip6), as the API server allocates from the
 * cluster's second Service range. A SingleStack IPv4 Service has none, as in Kubernetes.
 */
static void plan_vip6_of(struct ctl_plan *p, const struct ctl_cluster *c,
			 const struct config_service *s)
{
	struct ctl_service_ip *v = &p->services[p->nservices - 1];
	const char *six = given_ip6(s);

	v->ip6[0] = '\0';
	if (c->ip_family != CTL_IP_DUAL)
		return;
	if (six) {
		str_fmt(v->ip6, sizeof(v->ip6), "%s", six);
		return;
	}
	if (s->dual_stack && cluster_ip6(v->ip, v->ip6, sizeof(v->ip6)))
		v->ip6[0] = '\0';
}

/*
 * A Service the API server of an IPv6 cluster refuses, as Kubernetes words it: IPv4 is not one
 * of its Service families, so ipFamilies may name it only second with PreferDualStack (which
 * the API server then drops: [IPv6]), and RequireDualStack cannot be met. -EINVAL when told.
 */
static int refuse_ipv4(const struct config_service *s)
{
	const char *v4 = config_service_ipv4(s);

	if (s->cluster_ip && !strcmp(s->cluster_ip, "None"))
		return 0;
	if (s->require_dual_stack) {
		fprintf(stderr,
			"ambitctl: service %s/%s: spec.ipFamilyPolicy: Invalid value: "
			"\"RequireDualStack\": this cluster is not configured for dual-stack "
			"services (an IPv6 one)\n",
			s->meta.namespace, s->meta.name);
		return -EINVAL;
	}
	if (s->ipv4_asked && (!s->ipv6_first || !s->dual_stack)) {
		fprintf(stderr,
			"ambitctl: service %s/%s: spec.ipFamilies[%d]: Invalid value: \"IPv4\": "
			"not configured on this cluster (an IPv6 one: `local up --ip-family dual` "
			"makes a dual-stack one)\n",
			s->meta.namespace, s->meta.name, s->ipv6_first ? 1 : 0);
		return -EINVAL;
	}
	if (v4) {
		fprintf(stderr,
			"ambitctl: service %s/%s: spec.clusterIPs: Invalid value: \"%s\": IPv4 is "
			"not configured on this cluster (an IPv6 one)\n",
			s->meta.namespace, s->meta.name, v4);
		return -EINVAL;
	}
	return 0;
}

/*
 * A Service the API server of a single-stack cluster refuses: one asking for the family it
 * lacks, as Kubernetes words it (the field, then why). -EINVAL when told, else 0.
 */
static int refuse_family(const struct ctl_cluster *c, const struct config_service *s)
{
	const char *six = given_ip6(s);

	if (c->ip_family == CTL_IP_IPV6)
		return refuse_ipv4(s);
	if (c->ip_family == CTL_IP_DUAL || (!six && !s->ipv6_asked))
		return 0;
	if (s->ipv6_asked)
		fprintf(stderr,
			"ambitctl: service %s/%s: spec.ipFamilies[%d]: Invalid value: \"IPv6\": "
			"not configured on this cluster (an IPv4 one: `local up --ip-family dual` "
			"makes a dual-stack one)\n",
			s->meta.namespace, s->meta.name, s->ipv6_first ? 0 : 1);
	else
		fprintf(stderr,
			"ambitctl: service %s/%s: spec.clusterIPs: Invalid value: \"%s\": IPv6 is "
			"not configured on this cluster (an IPv4 one)\n",
			s->meta.namespace, s->meta.name, six);
	return -EINVAL;
}

/*
 * A SingleStack IPv6 Service (ipFamilies [IPv6], or a clusterIP of IPv6 alone), and every
 * Service of an IPv6 cluster (IPv6 its one Service family: PreferDualStack gets [IPv6] as
 * there): no IPv4 VIP; its IPv6 one as given, as it has while the cluster runs, else a free
 * slot's twin.
 */
static bool v6_only(const struct ctl_cluster *c, const struct config_service *s)
{
	if (c->ip_family == CTL_IP_IPV6)
		return true;
	if (s->cluster_ip && !strcmp(s->cluster_ip, "None"))
		return false;
	if (config_service_ipv4(s))
		return false;
	return !s->dual_stack && (s->ipv6_first || given_ip6(s));
}

int plan_services(struct ctl_plan *p, const struct ctl_cluster *c, const struct config *cfg,
		  const cJSON *existing)
{
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(existing, "serviceIPs");
	const cJSON *old6 = cJSON_GetObjectItemCaseSensitive(existing, "serviceIPs6");
	int next = PLAN_VIP_FIRST;
	int ret;

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct config_service *s = &cfg->services[i];
		const char *v4 = config_service_ipv4(s);
		const cJSON *had, *had6;
		char key[512], ip[16], six[40];

		str_fmt(key, sizeof(key), "%s/%s", s->meta.namespace, s->meta.name);
		had = cJSON_GetObjectItemCaseSensitive(old, key);
		had6 = cJSON_GetObjectItemCaseSensitive(old6, key);
		ret = refuse_family(c, s);
		if (ret)
			return ret;
		if (v6_only(c, s)) {
			if (given_ip6(s))
				ret = plan_add_vip(p, key, "", given_ip6(s));
			else if (cJSON_IsString(had6) && strlen(had6->valuestring) < sizeof(six))
				ret = plan_add_vip(p, key, "", had6->valuestring);
			else
				ret = next_free(cfg, p, old, old6, &next, ip) ?:
				      cluster_ip6(ip, six, sizeof(six)) ?: plan_add_vip(p, key, "", six);
			if (ret)
				return ret;
			continue;
		}
		if (v4)
			ret = plan_add_vip(p, key, v4, NULL);
		else if (cJSON_IsString(had) && strlen(had->valuestring) < sizeof(ip))
			ret = plan_add_vip(p, key, had->valuestring, NULL);
		else
			ret = next_free(cfg, p, old, old6, &next, ip)
				  ?: plan_add_vip(p, key, ip, NULL);
		if (ret)
			return ret;
		plan_vip6_of(p, c, s);
	}
	return 0;
}

const struct ctl_service_ip *plan_service_ip(const struct ctl_plan *p, const char *ns,
					     const char *name)
{
	char key[512];

	str_fmt(key, sizeof(key), "%s/%s", ns, name);
	for (size_t i = 0; i < p->nservices; i++)
		if (!strcmp(p->services[i].key, key))
			return &p->services[i];
	return NULL;
}

const char *plan_vip6(const struct ctl_plan *p, const char *ns, const char *name)
{
	char key[512];

	str_fmt(key, sizeof(key), "%s/%s", ns, name);
	for (size_t i = 0; i < p->nservices; i++)
		if (!strcmp(p->services[i].key, key))
			return p->services[i].ip6[0] ? p->services[i].ip6 : NULL;
	return NULL;
}

const char *plan_vip(const struct ctl_plan *p, const char *ns, const char *name)
{
	char key[512];

	str_fmt(key, sizeof(key), "%s/%s", ns, name);
	for (size_t i = 0; i < p->nservices; i++)
		if (!strcmp(p->services[i].key, key))
			return p->services[i].ip[0] ? p->services[i].ip : NULL;
	return NULL;
}

/* LoadBalancer addresses: 172.30.K.N and fd00:30::K:N of cluster K (lbnet.c). */

/* Slot N of an address 172.30.K.N or fd00:30::K:N of cluster @k, else 0. */
static int slot_of(const char *ip, int k)
{
	char pre[32];
	int n;

	if (!ip)
		return 0;
	str_fmt(pre, sizeof(pre), strchr(ip, ':') ? "fd00:30::%d:" : "172.30.%d.", k);
	if (strncmp(ip, pre, strlen(pre)))
		return 0;
	n = atoi(ip + strlen(pre));
	return n >= CTL_LB_FIRST && n <= CTL_LB_LAST ? n : 0;
}

static void lb_set(struct ctl_service_ip *v, int k, int n)
{
	v->lb[0] = v->lb6[0] = '\0';
	if (v->ip[0])
		str_fmt(v->lb, sizeof(v->lb), "172.30.%d.%d", k, n);
	if (v->ip6[0])
		str_fmt(v->lb6, sizeof(v->lb6), "fd00:30::%d:%d", k, n);
}

static bool wants_lb(const struct config_service *s)
{
	return s->load_balancer && !s->lb_class &&
	       !(s->cluster_ip && !strcmp(s->cluster_ip, "None"));
}

void plan_lb_ips(struct ctl_plan *p, const struct ctl_cluster *c, const struct config *cfg,
		 const cJSON *existing)
{
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(existing, "loadBalancerIPs");
	const cJSON *old6 = cJSON_GetObjectItemCaseSensitive(existing, "loadBalancerIPs6");
	bool used[CTL_LB_LAST + 1] = {0};
	int next = CTL_LB_FIRST;

	if (!c->lb_index || p->nservices != cfg->n_services)
		return;
	/* Those that had an address keep it; the others take the lowest free ones. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < cfg->n_services; i++) {
			struct ctl_service_ip *v = &p->services[i];
			int n;

			if (!wants_lb(&cfg->services[i]))
				continue;
			n = slot_of(
				cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(old, v->key)),
				c->lb_index)
				?: slot_of(cJSON_GetStringValue(
					       cJSON_GetObjectItemCaseSensitive(old6, v->key)),
					   c->lb_index);
			if (pass == 0) {
				if (n && !used[n]) {
					used[n] = true;
					lb_set(v, c->lb_index, n);
				}
				continue;
			}
			if (v->lb[0] || v->lb6[0])
				continue;
			while (next <= CTL_LB_LAST && used[next])
				next++;
			if (next > CTL_LB_LAST) {
				fprintf(stderr,
					"ambitctl: service %s: no free LoadBalancer address "
					"(172.30.%d.%d-%d): <pending>\n",
					v->key, c->lb_index, CTL_LB_FIRST, CTL_LB_LAST);
				continue;
			}
			used[next] = true;
			lb_set(v, c->lb_index, next);
		}
}
