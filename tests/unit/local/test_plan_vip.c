// SPDX-License-Identifier: Apache-2.0
/*
 * Tests for the local cluster's Service VIPs (userspace/local/plan_vip.c): by ipFamilies and
 * ipFamilyPolicy an IPv4 VIP, an IPv6 one beside it, or an IPv6 one alone in a dual-stack
 * cluster; the VIPs a running cluster has kept; a slot whose IPv6 twin is taken passed over;
 * an IPv4 cluster refusing a Service that asks for IPv6, and an IPv6 one (IPv6 its one Service
 * family) refusing one that needs IPv4, as their API servers would. Also the cluster's
 * --ip-family (cluster.c): its names, the nodes' addresses it sets, and a pod's IPv4 slot read
 * back from its IPv6 as an IPv6 cluster's pods.json has it; and its --network: the values
 * refused, the cluster id it gives, cluster.json's round trip and the agents' arguments.
 * And LoadBalancer addresses (plan_lb_ips): a family each the Service has, kept across
 * reconciles, the lowest free otherwise, none for other types, a loadBalancerClass or a cluster
 * off the network, and <pending> once the pool is spent.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include "ambit/config.h"
#include "local/local.h"

static const char SERVICES[] =
    "apiVersion: v1\nkind: Service\nmetadata: {name: four, namespace: d}\n"
    "spec: {ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: dual, namespace: d}\n"
    "spec: {ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: d}\n"
    "spec: {ipFamilies: [IPv6], ipFamilyPolicy: SingleStack, ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: six-default, namespace: d}\n"
    "spec: {ipFamilies: [IPv6], ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: six-first, namespace: d}\n"
    "spec: {ipFamilies: [IPv6, IPv4], ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n"
    "---\napiVersion: v1\nkind: Service\nmetadata: {name: six-given, namespace: d}\n"
    "spec: {clusterIP: 'fd00:96::99', ports: [{port: 80}]}\n";

struct fx {
	struct config cfg;
	struct ctl_cluster c;
	struct ctl_plan p;
};

static void load(struct fx *f, const char *yaml, enum ctl_ip_family fam)
{
	struct config_diags diags = {0};

	memset(f, 0, sizeof(*f));
	config_init(&f->cfg);
	assert_int_equal(config_load_buffer(&f->cfg, "s.yaml", yaml, strlen(yaml), &diags), 0);
	config_diags_free(&diags);
	f->c.ip_family = fam;
}

/* What plan_services made (plan_free's part for them: plan.c is not linked). */
static void done(struct fx *f)
{
	for (size_t i = 0; i < f->p.nservices; i++) {
		free(f->p.services[i].key);
		free(f->p.services[i].ip);
	}
	free(f->p.services);
	config_free(&f->cfg);
}

static void test_dual_cluster(void **state)
{
	struct fx f;

	load(&f, SERVICES, CTL_IP_DUAL);
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, NULL), 0);
	assert_int_equal(f.p.nservices, 6);
	/* SingleStack IPv4 (the default): IPv4 alone. */
	assert_string_equal(plan_vip(&f.p, "d", "four"), "10.96.0.10");
	assert_null(plan_vip6(&f.p, "d", "four"));
	/* PreferDualStack: both, the IPv6 the IPv4's twin. */
	assert_string_equal(plan_vip(&f.p, "d", "dual"), "10.96.0.11");
	assert_string_equal(plan_vip6(&f.p, "d", "dual"), "fd00:96::11");
	/* [IPv6], SingleStack said or by default: IPv6 alone, from a slot of its own. */
	assert_null(plan_vip(&f.p, "d", "six"));
	assert_string_equal(plan_vip6(&f.p, "d", "six"), "fd00:96::12");
	assert_null(plan_vip(&f.p, "d", "six-default"));
	assert_string_equal(plan_vip6(&f.p, "d", "six-default"), "fd00:96::13");
	/* [IPv6, IPv4] PreferDualStack: both families. */
	assert_string_equal(plan_vip(&f.p, "d", "six-first"), "10.96.0.14");
	assert_string_equal(plan_vip6(&f.p, "d", "six-first"), "fd00:96::14");
	/* A clusterIP of IPv6 alone: that one, no IPv4. */
	assert_null(plan_vip(&f.p, "d", "six-given"));
	assert_string_equal(plan_vip6(&f.p, "d", "six-given"), "fd00:96::99");
	done(&f);
}

/*
 * A running cluster's VIPs are kept (an IPv6 Service's from serviceIPs6), and a new Service
 * passes over a slot whose IPv4 or IPv6 twin is already someone's.
 */
static void test_kept(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: new, namespace: d}\n"
	    "spec: {ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: d}\n"
	    "spec: {ipFamilies: [IPv6], ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: four, namespace: d}\n"
	    "spec: {ports: [{port: 80}]}\n";
	cJSON *existing = cJSON_Parse("{\"serviceIPs\":{\"d/four\":\"10.96.0.11\"},"
				      "\"serviceIPs6\":{\"d/six\":\"fd00:96::10\"}}");
	struct fx f;

	assert_non_null(existing);
	load(&f, yaml, CTL_IP_DUAL);
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, existing), 0);
	assert_string_equal(plan_vip6(&f.p, "d", "six"), "fd00:96::10");
	assert_null(plan_vip(&f.p, "d", "six"));
	assert_string_equal(plan_vip(&f.p, "d", "four"), "10.96.0.11");
	/* 10.96.0.10's twin is six's, 10.96.0.11 four's: the next free slot. */
	assert_string_equal(plan_vip(&f.p, "d", "new"), "10.96.0.12");
	assert_string_equal(plan_vip6(&f.p, "d", "new"), "fd00:96::12");
	done(&f);
	cJSON_Delete(existing);
}

/*
 * An IPv4 cluster refuses a Service asking for IPv6 (ipFamilies, or an IPv6 clusterIP), as its
 * API server does; PreferDualStack there is IPv4 alone.
 */
static void test_ipv4_cluster(void **state)
{
	static const char six[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: d}\n"
	    "spec: {ipFamilies: [IPv6], ports: [{port: 80}]}\n";
	static const char second[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: both, namespace: d}\n"
	    "spec: {ipFamilies: [IPv4, IPv6], ipFamilyPolicy: PreferDualStack,"
	    " ports: [{port: 80}]}\n";
	static const char given[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: given, namespace: d}\n"
	    "spec: {clusterIP: 'fd00:96::99', ports: [{port: 80}]}\n";
	static const char prefer[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: prefer, namespace: d}\n"
	    "spec: {ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n";
	const char *const refused[] = {six, second, given};
	struct fx f;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		load(&f, refused[i], CTL_IP_IPV4);
		assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, NULL), -EINVAL);
		done(&f);
	}
	load(&f, prefer, CTL_IP_IPV4);
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, NULL), 0);
	assert_string_equal(plan_vip(&f.p, "d", "prefer"), "10.96.0.10");
	assert_null(plan_vip6(&f.p, "d", "prefer"));
	done(&f);
}

/*
 * An IPv6 cluster, as EKS's IPv6 mode: every Service gets an IPv6 VIP alone (the default
 * policy, PreferDualStack too: Kubernetes gives [IPv6] in a single-stack IPv6 cluster, and
 * [IPv6, IPv4] PreferDualStack drops its IPv4), kept while the cluster runs; one needing IPv4
 * (ipFamilies naming it first or with SingleStack, RequireDualStack, an IPv4 clusterIP) is
 * refused as the API server refuses it.
 */
static void test_ipv6_cluster(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: plain, namespace: d}\n"
	    "spec: {ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: prefer, namespace: d}\n"
	    "spec: {ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: d}\n"
	    "spec: {ipFamilies: [IPv6], ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six-first, namespace: d}\n"
	    "spec: {ipFamilies: [IPv6, IPv4], ipFamilyPolicy: PreferDualStack,"
	    " ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: given, namespace: d}\n"
	    "spec: {clusterIP: 'fd00:96::99', ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: kept, namespace: d}\n"
	    "spec: {ports: [{port: 80}]}\n";
	static const char four[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: four, namespace: d}\n"
	    "spec: {ipFamilies: [IPv4], ports: [{port: 80}]}\n";
	static const char four_first[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: both, namespace: d}\n"
	    "spec: {ipFamilies: [IPv4, IPv6], ipFamilyPolicy: PreferDualStack,"
	    " ports: [{port: 80}]}\n";
	static const char single_two[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: two, namespace: d}\n"
	    "spec: {ipFamilies: [IPv6, IPv4], ipFamilyPolicy: SingleStack, ports: [{port: 80}]}\n";
	static const char require[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: req, namespace: d}\n"
	    "spec: {ipFamilyPolicy: RequireDualStack, ports: [{port: 80}]}\n";
	static const char given4[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: given4, namespace: d}\n"
	    "spec: {clusterIP: 10.96.0.50, ports: [{port: 80}]}\n";
	const char *const refused[] = {four, four_first, single_two, require, given4};
	cJSON *existing = cJSON_Parse("{\"serviceIPs6\":{\"d/kept\":\"fd00:96::11\"}}");
	struct fx f;

	assert_non_null(existing);
	load(&f, yaml, CTL_IP_IPV6);
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, existing), 0);
	assert_int_equal(f.p.nservices, 6);
	for (size_t i = 0; i < f.p.nservices; i++)
		assert_string_equal(f.p.services[i].ip, "");
	assert_null(plan_vip(&f.p, "d", "plain"));
	assert_string_equal(plan_vip6(&f.p, "d", "plain"), "fd00:96::10");
	/* fd00:96::11 is kept's: passed over. */
	assert_string_equal(plan_vip6(&f.p, "d", "prefer"), "fd00:96::12");
	assert_string_equal(plan_vip6(&f.p, "d", "six"), "fd00:96::13");
	assert_string_equal(plan_vip6(&f.p, "d", "six-first"), "fd00:96::14");
	assert_string_equal(plan_vip6(&f.p, "d", "given"), "fd00:96::99");
	assert_string_equal(plan_vip6(&f.p, "d", "kept"), "fd00:96::11");
	done(&f);
	cJSON_Delete(existing);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		load(&f, refused[i], CTL_IP_IPV6);
		assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, NULL), -EINVAL);
		done(&f);
	}
}

/* --ip-family's names (ipv6 taken now), and what each family gives the nodes. */
static void test_family(void **state)
{
	struct ctl_cluster c;
	char ips[CTL_NODE_IPS_MAX];
	enum ctl_ip_family fam = CTL_IP_IPV4;

	assert_int_equal(cluster_ip_family_parse("ipv6", "t", &fam), 0);
	assert_int_equal(fam, CTL_IP_IPV6);
	assert_string_equal(cluster_ip_family_name(fam), "ipv6");
	assert_int_equal(cluster_ip_family_parse("dual", "t", &fam), 0);
	assert_int_equal(fam, CTL_IP_DUAL);
	assert_int_equal(cluster_ip_family_parse("ipv4", "t", &fam), 0);
	assert_int_equal(fam, CTL_IP_IPV4);
	assert_int_equal(cluster_ip_family_parse("IPv6", "t", &fam), -EINVAL);
	assert_int_equal(cluster_ip_family_parse(NULL, "t", &fam), -EINVAL);
	assert_int_equal(fam, CTL_IP_IPV4);

	memset(&c, 0, sizeof(c));
	c.nnodes = 2;
	for (int i = 0; i < 2; i++) {
		c.nodes[i].index = c.nodes[i].pod_net = i + 1;
		snprintf(c.nodes[i].ip, sizeof(c.nodes[i].ip), "10.99.0.%d", 11 + i);
		snprintf(c.nodes[i].pod_gw, sizeof(c.nodes[i].pod_gw), "10.98.%d.1", i + 1);
	}
	/*
	 * IPv6: nodes and pods have IPv6 alone (the node's IPv4 slot numbers it, is on no
	 * interface), and reach the control plane at the fabric's IPv6.
	 */
	cluster_set_ip_family(&c, CTL_IP_IPV6);
	assert_string_equal(c.nodes[1].ip, "10.99.0.12");
	assert_string_equal(c.nodes[1].ip6, "fd00:99::12");
	assert_string_equal(c.nodes[1].pod_cidr6, "fd00:98:2::/64");
	assert_string_equal(c.nodes[1].pod_gw6, "fd00:98:2::1");
	/* A second cluster of one network: its pods a range apart, both families. */
	cluster_set_pod_base(&c, CTL_POD_BASE_STEP);
	assert_string_equal(c.nodes[1].pod_cidr, "10.98.18.0/24");
	assert_string_equal(c.nodes[1].pod_cidr6, "fd00:98:18::/64");
	assert_string_equal(c.nodes[0].pod_gw6, "fd00:98:17::1");
	cluster_set_pod_base(&c, 0);
	assert_string_equal(c.nodes[1].pod_cidr6, "fd00:98:2::/64");
	assert_true(c.nodes[0].pods_v6only && c.nodes[1].pods_v6only);
	assert_string_equal(node_ip4(&c.nodes[1]), "");
	assert_string_equal(node_host_ips(&c.nodes[1], ips, sizeof(ips)), "fd00:99::12");
	assert_string_equal(cluster_fabric_ip(&c), "fd00:99::1");
	assert_string_equal(cluster_dns_ip(&c), "fd00:99::2");
	assert_string_equal(cluster_fabric_host(&c), "[fd00:99::1]");
	cluster_set_ip_family(&c, CTL_IP_DUAL);
	assert_string_equal(c.nodes[0].ip6, "fd00:99::11");
	assert_false(c.nodes[0].pods_v6only);
	assert_string_equal(node_ip4(&c.nodes[0]), "10.99.0.11");
	assert_string_equal(node_host_ips(&c.nodes[0], ips, sizeof(ips)), "10.99.0.11,fd00:99::11");
	/* Dual stack reaches the control plane over IPv4, as before. */
	assert_string_equal(cluster_fabric_ip(&c), "10.99.0.1");
	assert_string_equal(cluster_dns_ip(&c), "10.99.0.2");
	assert_string_equal(cluster_fabric_host(&c), "10.99.0.1");
	cluster_set_ip_family(&c, CTL_IP_IPV4);
	assert_string_equal(c.nodes[0].ip6, "");
	assert_string_equal(c.nodes[0].pod_cidr6, "");
	assert_false(c.nodes[0].pods_v6only);
	assert_string_equal(node_host_ips(&c.nodes[0], ips, sizeof(ips)), "10.99.0.11");
	assert_string_equal(cluster_fabric_host(&c), "10.99.0.1");
}

/* A pod's IPv4 slot back from its IPv6 (cluster_ip6's inverse), and addresses of no pod. */
static void test_lb_ips(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: d}\n"
	    "spec: {type: LoadBalancer, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: d}\n"
	    "spec: {type: LoadBalancer, ipFamilyPolicy: PreferDualStack, ports: [{port: "
	    "80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: c, namespace: d}\n"
	    "spec: {type: ClusterIP, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: e, namespace: d}\n"
	    "spec: {type: LoadBalancer, loadBalancerClass: x.io/lb, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: f, namespace: d}\n"
	    "spec: {type: LoadBalancer, ipFamilies: [IPv6], ports: [{port: 80}]}\n";
	/* b had 100; a gone elsewhere had 101 (given back); a stray one of another cluster. */
	cJSON *existing = cJSON_Parse("{\"loadBalancerIPs\":{\"d/b\":\"172.30.3.100\","
				      "\"d/gone\":\"172.30.3.101\",\"d/a\":\"172.30.4.120\"}}");
	const struct ctl_service_ip *v;
	struct fx f;

	assert_non_null(existing);
	load(&f, yaml, CTL_IP_DUAL);
	f.c.lb_index = 3;
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, existing), 0);
	plan_lb_ips(&f.p, &f.c, &f.cfg, existing);
	v = plan_service_ip(&f.p, "d", "b");
	assert_string_equal(v->lb, "172.30.3.100");
	assert_string_equal(v->lb6, "fd00:30::3:100");
	/* Not its: the lowest free of this cluster's. */
	v = plan_service_ip(&f.p, "d", "a");
	assert_string_equal(v->lb, "172.30.3.101");
	assert_string_equal(v->lb6, "");
	assert_string_equal(plan_service_ip(&f.p, "d", "c")->lb, "");
	assert_string_equal(plan_service_ip(&f.p, "d", "e")->lb, "");
	v = plan_service_ip(&f.p, "d", "f");
	assert_string_equal(v->lb, "");
	assert_string_equal(v->lb6, "fd00:30::3:102");
	done(&f);

	/* Off the network (the host had its range): none at all. */
	load(&f, yaml, CTL_IP_DUAL);
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, existing), 0);
	plan_lb_ips(&f.p, &f.c, &f.cfg, existing);
	for (size_t i = 0; i < f.p.nservices; i++)
		assert_true(!f.p.services[i].lb[0] && !f.p.services[i].lb6[0]);
	done(&f);
	cJSON_Delete(existing);
}

/* 155 addresses a cluster: the 156th LoadBalancer Service stays <pending>. */
static void test_lb_spent(void **state)
{
	char *yaml = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&yaml, &len);
	struct fx f;
	int n = CTL_LB_LAST - CTL_LB_FIRST + 2;

	assert_non_null(m);
	for (int i = 0; i < n; i++)
		fprintf(m,
			"%sapiVersion: v1\nkind: Service\nmetadata: {name: s%03d, namespace: d}\n"
			"spec: {type: LoadBalancer, ports: [{port: 80}]}\n",
			i ? "---\n" : "", i);
	assert_int_equal(fclose(m), 0);
	load(&f, yaml, CTL_IP_IPV4);
	f.c.lb_index = 1;
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, NULL), 0);
	plan_lb_ips(&f.p, &f.c, &f.cfg, NULL);
	assert_string_equal(plan_service_ip(&f.p, "d", "s000")->lb, "172.30.1.100");
	assert_string_equal(plan_service_ip(&f.p, "d", "s154")->lb, "172.30.1.254");
	assert_string_equal(plan_service_ip(&f.p, "d", "s155")->lb, "");
	done(&f);
	free(yaml);
}

static void test_pod_slot(void **state)
{
	static const char *const slots[] = {"10.98.1.2", "10.98.1.23", "10.98.8.254",
					    "10.98.12.255", "10.98.255.10"};
	static const char *const not_pods[] = {"fd00:99::11",
					       "fd00:96::10",
					       "fd00:98:1::1:23",
					       "fd00:98:1a::2",
					       "fd00:98:1::2a",
					       "fd01:98:1::2",
					       "10.98.1.2",
					       "fd00:98:256::1",
					       "",
					       NULL};
	char six[40], back[16];

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		assert_int_equal(cluster_ip6(slots[i], six, sizeof(six)), 0);
		assert_int_equal(cluster_pod_slot(six, back, sizeof(back)), 0);
		assert_string_equal(back, slots[i]);
	}
	assert_int_equal(cluster_pod_slot("fd00:98:1::23", back, sizeof(back)), 0);
	assert_string_equal(back, "10.98.1.23");
	for (size_t i = 0; i < sizeof(not_pods) / sizeof(not_pods[0]); i++)
		assert_int_equal(cluster_pod_slot(not_pods[i], back, sizeof(back)), -EINVAL);
}

/* Whether @argv (NULL-ended) has @flag followed by @value. */
static bool has_arg(char *const *argv, const char *flag, const char *value)
{
	for (size_t i = 0; argv[i] && argv[i + 1]; i++)
		if (!strcmp(argv[i], flag))
			return !strcmp(argv[i + 1], value);
	return false;
}

/*
 * --network: refused unless a label value (and not empty); with one, the cluster's name is its
 * id. cluster.json says both only then, and reads them back; a hand-made bad one is refused.
 * The agents get both, always (the shell's CLUSTER_ID and NETWORK must not leak into them).
 */
static void test_network(void **state)
{
	static const char *const bad[] = {
	    "",	    "-net",
	    "net-", "net_",
	    "a b",  "ne/t",
	    "n\"t", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
	    NULL};
	char store[8192], *argv[48];
	struct ctl_cluster c, back;
	cJSON *j;

	if (cluster_init(&c, "cluster1", 2)) {
		printf("no cgroup2 mount: cluster_init needs one\n");
		skip();
	}
	assert_string_equal(c.cluster_id, "Kubernetes");
	assert_string_equal(c.network, "");
	j = cluster_json(&c);
	assert_non_null(j);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "clusterId"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "network"));
	assert_int_equal(cluster_from_json(&back, "cluster1", j, "t"), 0);
	assert_string_equal(back.cluster_id, "Kubernetes");
	assert_string_equal(back.network, "");
	cJSON_Delete(j);
	assert_int_equal(cluster_agent_argv(&c, &c.nodes[0], store, sizeof(store), argv, 48), 0);
	assert_true(has_arg(argv, "--cluster-id", "Kubernetes"));
	assert_true(has_arg(argv, "--network", ""));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cluster_set_network(&c, bad[i], "--network"), -EINVAL);
		assert_string_equal(c.cluster_id, "Kubernetes");
		assert_string_equal(c.network, "");
	}
	assert_int_equal(cluster_set_network(&c, "network1", "--network"), 0);
	assert_string_equal(c.cluster_id, "cluster1");
	assert_string_equal(c.network, "network1");
	assert_int_equal(cluster_agent_argv(&c, &c.nodes[1], store, sizeof(store), argv, 48), 0);
	assert_true(has_arg(argv, "--cluster-id", "cluster1"));
	assert_true(has_arg(argv, "--network", "network1"));
	assert_true(has_arg(argv, "--node", "node2"));

	j = cluster_json(&c);
	assert_non_null(j);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "clusterId")),
			    "cluster1");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "network")),
			    "network1");
	assert_int_equal(cluster_from_json(&back, "cluster1", j, "t"), 0);
	assert_int_equal(back.nnodes, 2);
	assert_string_equal(back.cluster_id, "cluster1");
	assert_string_equal(back.network, "network1");
	cJSON_ReplaceItemInObjectCaseSensitive(j, "network", cJSON_CreateString("net work"));
	assert_int_equal(cluster_from_json(&back, "cluster1", j, "t"), -EINVAL);
	cJSON_ReplaceItemInObjectCaseSensitive(j, "network", cJSON_CreateString(""));
	assert_int_equal(cluster_from_json(&back, "cluster1", j, "t"), -EINVAL);
	cJSON_Delete(j);

	/* A name may end in '-'; a label value, so a cluster id, may not. */
	assert_int_equal(cluster_init(&c, "ambit-", 1), 0);
	assert_int_equal(cluster_set_network(&c, "network1", "--network"), -EINVAL);
	assert_string_equal(c.cluster_id, "Kubernetes");
	assert_string_equal(c.network, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dual_cluster), cmocka_unit_test(test_kept),
	    cmocka_unit_test(test_ipv4_cluster), cmocka_unit_test(test_ipv6_cluster),
	    cmocka_unit_test(test_family),	 cmocka_unit_test(test_pod_slot),
	    cmocka_unit_test(test_network),	 cmocka_unit_test(test_lb_ips),
	    cmocka_unit_test(test_lb_spent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
