// SPDX-License-Identifier: Apache-2.0
/*
 * Tests for what the local cluster's kubelet takes from a PodSpec (userspace/kinds/pod.c,
 * kinds/podsec.c): restartPolicy, the securityContext of the pod and of containers[0] merged
 * as the kubelet merges them, the capability set containerd would give, and the errors the API
 * server would answer, with the field they are about.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ambit/config.h"

#define POD_HEAD "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n"

static int load(struct config *cfg, struct config_diags *d, const char *yaml)
{
	config_init(cfg);
	memset(d, 0, sizeof(*d));
	return config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml), d);
}

static void test_defaults(void **state)
{
	struct config cfg;
	struct config_diags d;
	const struct config_pod_spec *s;

	assert_int_equal(load(&cfg, &d, POD_HEAD "  containers: [{name: c, image: x}]\n"), 0);
	s = &cfg.pods[0].spec;
	assert_int_equal(s->restart_policy, CONFIG_RESTART_ALWAYS);
	assert_int_equal(s->security.run_as_user, -1);
	assert_int_equal(s->security.run_as_group, -1);
	assert_false(s->security.run_as_non_root);
	assert_false(s->security.privileged);
	assert_false(s->security.no_new_privs);
	assert_true(config_security_caps(&s->security) == CONFIG_CAPS_DEFAULT);
	config_free(&cfg);
	config_diags_free(&d);
}

static void test_restart_policy(void **state)
{
	static const struct {
		const char *value;
		enum config_restart_policy want;
	} cases[] = {
	    {"Always", CONFIG_RESTART_ALWAYS},
	    {"OnFailure", CONFIG_RESTART_ON_FAILURE},
	    {"Never", CONFIG_RESTART_NEVER},
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		struct config_diags d;

		snprintf(yaml, sizeof(yaml),
			 POD_HEAD "  restartPolicy: %s\n  containers: [{name: c}]\n",
			 cases[i].value);
		assert_int_equal(load(&cfg, &d, yaml), 0);
		assert_int_equal(cfg.pods[0].spec.restart_policy, cases[i].want);
		assert_string_equal(config_restart_policy_name(cases[i].want), cases[i].value);
		config_free(&cfg);
		config_diags_free(&d);
	}
}

/* The container's user, group and runAsNonRoot win; the pod's fill in what it leaves unset. */
static void test_merge(void **state)
{
	struct config cfg;
	struct config_diags d;
	const struct config_security *s;

	assert_int_equal(load(&cfg, &d,
			      POD_HEAD "  securityContext: {runAsUser: 1000, runAsGroup: 2000, "
				       "runAsNonRoot: true, fsGroup: 3, supplementalGroups: [4]}\n"
				       "  containers:\n"
				       "  - name: c\n"
				       "    securityContext:\n"
				       "      runAsUser: 1001\n"
				       "      allowPrivilegeEscalation: false\n"
				       "      readOnlyRootFilesystem: true\n"
				       "      capabilities: {add: [NET_ADMIN, cap_sys_time], drop: "
				       "[CHOWN]}\n"
				       "  - name: second\n"
				       "    securityContext: {runAsUser: 5, privileged: true}\n"),
			 0);
	s = &cfg.pods[0].spec.security;
	assert_int_equal(s->run_as_user, 1001);
	assert_int_equal(s->run_as_group, 2000);
	assert_true(s->run_as_non_root);
	assert_true(s->no_new_privs);
	assert_true(s->read_only_root_fs);
	/* The second container is validated, but the local cluster runs containers[0] only. */
	assert_false(s->privileged);
	assert_true(
	    config_security_caps(s) ==
	    ((CONFIG_CAPS_DEFAULT | (UINT64_C(1) << 12) | (UINT64_C(1) << 25)) & ~UINT64_C(1)));
	config_free(&cfg);
	config_diags_free(&d);
}

static void test_caps(void **state)
{
	struct config_security s = {0};

	assert_int_equal(config_capability_parse("NET_ADMIN"), 12);
	assert_int_equal(config_capability_parse("CAP_NET_ADMIN"), 12);
	assert_int_equal(config_capability_parse("net_raw"), 13);
	assert_int_equal(config_capability_parse("CHECKPOINT_RESTORE"), CONFIG_CAP_LAST);
	assert_int_equal(config_capability_parse("NET_ADMINN"), -1);
	assert_string_equal(config_capability_name(21), "SYS_ADMIN");
	assert_null(config_capability_name(CONFIG_CAP_LAST + 1));
	/* containerd's default set, by name. */
	static const char *const dflt[] = {
	    "CHOWN",   "DAC_OVERRIDE", "FSETID",	   "FOWNER",
	    "MKNOD",   "NET_RAW",      "SETGID",	   "SETUID",
	    "SETFCAP", "SETPCAP",      "NET_BIND_SERVICE", "SYS_CHROOT",
	    "KILL",    "AUDIT_WRITE"};
	uint64_t want = 0;
	for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++)
		want |= UINT64_C(1) << config_capability_parse(dflt[i]);
	assert_true(want == CONFIG_CAPS_DEFAULT);
	/* ALL is applied before the named ones, whichever list it is in. */
	s.cap_add_all = true;
	s.cap_drop = UINT64_C(1);
	assert_true(config_security_caps(&s) == (CONFIG_CAPS_ALL & ~UINT64_C(1)));
	s = (struct config_security){.cap_drop_all = true, .cap_add = UINT64_C(1) << 13};
	assert_true(config_security_caps(&s) == UINT64_C(1) << 13);
	s = (struct config_security){.privileged = true, .cap_drop_all = true};
	assert_true(config_security_caps(&s) == CONFIG_CAPS_ALL);
}

/* A Pod as the API server serves it: what the Kubernetes source takes from it. */
static void test_api_pod(void **state)
{
	static const char json[] =
	    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"r-7d9f-x2\","
	    "\"namespace\":\"shop\",\"uid\":\"5f0c1e2a-1b2c-4d5e-8f90-0123456789ab\","
	    "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"n\","
	    "\"uid\":\"u1\"},{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
	    "\"name\":\"r-7d9f\",\"uid\":\"u2\",\"controller\":true,\"blockOwnerDeletion\":true}]},"
	    "\"spec\":{\"nodeName\":\"node1\",\"hostNetwork\":true,\"hostname\":\"primary\","
	    "\"subdomain\":\"db\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]},\"status\":{"
	    "\"phase\":\"Running\",\"podIP\":\"10.1.2.3\","
	    "\"hostIP\":\"10.0.0.1\",\"observedGeneration\":2,\"conditions\":[{\"type\":"
	    "\"Initialized\",\"status\":\"True\"},{\"type\":\"Ready\",\"status\":\"False\","
	    "\"reason\":\"ContainersNotReady\",\"lastTransitionTime\":null,\"newField\":1}]}}";
	struct config cfg;
	struct config_diags d;
	const struct config_pod *p;

	assert_int_equal(load(&cfg, &d, json), 0);
	p = &cfg.pods[0];
	assert_string_equal(p->meta.uid, "5f0c1e2a-1b2c-4d5e-8f90-0123456789ab");
	assert_string_equal(p->meta.controller_kind, "ReplicaSet");
	assert_string_equal(p->meta.controller_name, "r-7d9f");
	assert_true(p->spec.host_network);
	assert_string_equal(p->spec.node_name, "node1");
	assert_string_equal(p->spec.hostname, "primary");
	assert_string_equal(p->spec.subdomain, "db");
	assert_string_equal(p->phase, "Running");
	assert_string_equal(p->pod_ip, "10.1.2.3");
	assert_string_equal(p->host_ip, "10.0.0.1");
	/* Failing its readiness probe; not being deleted. */
	assert_int_equal(p->ready, CONFIG_READY_FALSE);
	assert_false(p->meta.deleting);
	config_free(&cfg);
	config_diags_free(&d);

	/* Ready, being deleted; and a manifest says nothing of readiness. */
	assert_int_equal(
	    load(&cfg, &d,
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
		 "\"deletionTimestamp\":\"2026-11-23T10:00:00Z\"},\"spec\":{\"containers\":"
		 "[{\"name\":\"c\"}]},\"status\":{\"conditions\":[{\"type\":\"Ready\","
		 "\"status\":\"True\"}]}}\n---\n" POD_HEAD "  containers: [{name: c}]\n"),
	    0);
	assert_int_equal(cfg.pods[0].ready, CONFIG_READY_TRUE);
	assert_true(cfg.pods[0].meta.deleting);
	assert_int_equal(cfg.pods[1].ready, CONFIG_READY_UNSAID);
	config_free(&cfg);
	config_diags_free(&d);
}

/* An EndpointSlice as the API server serves it: its Service, addresses, readiness and ports. */
static void test_endpoint_slice(void **state)
{
	static const char yaml[] =
	    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: ext-1, namespace: shop, labels: {kubernetes.io/service-name: ext}}\n"
	    "addressType: IPv4\n"
	    "ports: [{name: http, port: 8080, protocol: TCP, appProtocol: http}, {port: 9000}]\n"
	    "endpoints:\n"
	    "- {addresses: [10.1.2.3], conditions: {ready: true, serving: true, terminating: "
	    "false},"
	    " nodeName: n1, zone: z, targetRef: {kind: Pod, name: p, namespace: shop},"
	    " hints: {forZones: [{name: z}]}}\n"
	    "- {addresses: [10.1.2.4], conditions: {ready: false}}\n"
	    "- {addresses: [10.1.2.5]}\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: v6, namespace: shop}\naddressType: IPv6\n"
	    "endpoints: [{addresses: ['fd00::1']}]\n";
	struct config cfg;
	struct config_diags d;
	const struct config_endpoint_slice *s;
	struct in_addr a;

	assert_int_equal(load(&cfg, &d, yaml), 0);
	assert_int_equal(cfg.n_endpoint_slices, 2);
	s = &cfg.endpoint_slices[0];
	assert_string_equal(s->service, "ext");
	assert_true(s->ipv4);
	assert_int_equal(s->nendpoints, 3);
	inet_pton(AF_INET, "10.1.2.3", &a);
	assert_int_equal(s->endpoints[0].ip, a.s_addr);
	assert_false(s->endpoints[0].not_ready);
	assert_true(s->endpoints[1].not_ready);
	assert_false(s->endpoints[2].not_ready); /* unset: ready */
	assert_int_equal(s->nports, 2);
	assert_string_equal(s->ports[0].name, "http");
	assert_int_equal(s->ports[0].port, 8080);
	assert_null(s->ports[1].name);
	s = &cfg.endpoint_slices[1];
	assert_false(s->ipv4);
	assert_true(s->ipv6);
	assert_null(s->service);
	/* An IPv6 slice keeps its addresses: a dual-stack Service's second family. */
	assert_int_equal(s->nendpoints, 1);
	assert_int_equal(s->endpoints[0].ip, 0);
	assert_int_equal(s->endpoints[0].ip6.family, AF_INET6);
	assert_int_equal(s->endpoints[0].ip6.a[0], 0xfd);
	assert_int_equal(s->endpoints[0].ip6.a[15], 1);
	config_free(&cfg);
	config_diags_free(&d);
}

static void test_errors(void **state)
{
	static const struct {
		const char *yaml, *field, *message;
	} cases[] = {
	    {POD_HEAD "  restartPolicy: Sometimes\n  containers: [{name: c}]\n",
	     "spec.restartPolicy", "is not one of Always, OnFailure, Never"},
	    {POD_HEAD "  securityContext: {runAsUser: -1}\n  containers: [{name: c}]\n",
	     "spec.securityContext.runAsUser", "out of range"},
	    {POD_HEAD "  containers: [{name: c, securityContext: {runAsGroup: 2147483648}}]\n",
	     "spec.containers[0].securityContext.runAsGroup", "out of range"},
	    {POD_HEAD "  containers: [{name: c, securityContext: {capabilities: {add: "
		      "[NET_ADMINN]}}}]\n",
	     "spec.containers[0].securityContext.capabilities.add[0]",
	     "\"NET_ADMINN\" is not a Linux capability"},
	    {POD_HEAD "  containers: [{name: c, securityContext: {privileged: true, "
		      "allowPrivilegeEscalation: false}}]\n",
	     "spec.containers[0].securityContext",
	     "cannot set allowPrivilegeEscalation to false and privileged to true"},
	    {POD_HEAD "  containers: [{name: c, securityContext: {allowPrivilegeEscalation: false, "
		      "capabilities: {add: [SYS_ADMIN]}}}]\n",
	     "spec.containers[0].securityContext", "capabilities.add CAP_SYS_ADMIN"},
	    {POD_HEAD "  containers: [{name: c}]\nstatus: {conditions: [{type: PodScheduled, "
		      "status: \"True\"}, {type: Ready}]}\n",
	     "status.conditions[1]", "the Ready condition has no status"},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e, namespace: "
	     "n}\n"
	     "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}, {addresses: ['fd00::1']}]\n",
	     "endpoints[1]", "not an IPv4 address, in a slice of addressType IPv4"},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e, namespace: "
	     "n}\n"
	     "addressType: IPv6\nendpoints: [{addresses: ['fd00::1']}, {addresses: [10.0.0.1]}]\n",
	     "endpoints[1]", "not an IPv6 address, in a slice of addressType IPv6"},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e, namespace: "
	     "n}\n"
	     "addressType: IPX\n",
	     "addressType", "is not one of IPv4, IPv6, FQDN"},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e, namespace: "
	     "n}\n"
	     "addressType: IPv4\nendpoints: [{conditions: {ready: true}}]\n",
	     "endpoints[0].addresses", "required field"},
	    {POD_HEAD "  containers: [{name: c, securityContext: {runAsUserr: 1}}]\n",
	     "spec.containers[0].securityContext.runAsUserr", "unknown field"},
	    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  ownerReferences:\n"
	     "  - {kind: ReplicaSet, name: a, controller: true}\n"
	     "  - {kind: ReplicaSet, name: b, controller: true}\n"
	     "spec: {containers: [{name: c}]}\n",
	     "metadata.ownerReferences[1]", "more than one ownerReference has controller: true"},
	    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  ownerReferences: [{kind: X}]\n"
	     "spec: {containers: [{name: c}]}\n",
	     "metadata.ownerReferences[0].name", "required"},
	    {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ns}\n"
	     "spec:\n  selector: {matchLabels: {app: a}}\n  template:\n"
	     "    metadata: {labels: {app: a}}\n"
	     "    spec: {restartPolicy: Never, containers: [{name: c}]}\n",
	     "spec.template.spec.restartPolicy", "\"Never\" is not supported in a Deployment"},
	};
	char line[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		struct config_diags d;
		bool found = false;

		assert_int_equal(load(&cfg, &d, cases[i].yaml), -EINVAL);
		for (size_t k = 0; k < d.n; k++) {
			config_diag_format(&d.items[k], line, sizeof(line));
			found |= d.items[k].field && !strcmp(d.items[k].field, cases[i].field) &&
				 strstr(d.items[k].message, cases[i].message);
		}
		if (!found) {
			for (size_t k = 0; k < d.n; k++) {
				config_diag_format(&d.items[k], line, sizeof(line));
				print_error("case %zu: %s\n", i, line);
			}
			fail();
		}
		assert_int_equal(cfg.n_pods + cfg.n_deployments, 0);
		config_free(&cfg);
		config_diags_free(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults), cmocka_unit_test(test_restart_policy),
	    cmocka_unit_test(test_api_pod),  cmocka_unit_test(test_endpoint_slice),
	    cmocka_unit_test(test_merge),    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
