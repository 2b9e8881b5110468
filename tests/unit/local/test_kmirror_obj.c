// SPDX-License-Identifier: Apache-2.0
/*
 * Tests for the objects of the --kube cluster's mirror (userspace/local/kmirror_obj.c): a planned
 * pod as the API server is to hold it, read back by the agent's own loader and named by its
 * workload rule (ksource_workload); the ReplicaSet and pod-template-hash; stored objects made
 * writable (server fields dropped, namespace set, a Service's planned ClusterIP); the hash seal;
 * and what the diff does with each pair of wanted and held objects.
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
#include "local/local.h"
#include "k8s/kmanifest.h"
#include "local/kmirror.h"
#include "agent/ksource.h"

static struct ctl_node node = {.name = "node2", .index = 2, .ip = "10.99.0.12"};
static struct config_label label_items[] = {{"app", "web"}, {"version", "v1"}};
static struct config_labels labels = {2, label_items};
static struct config_container_port ports[] = {{"http", 8080, "TCP"}, {NULL, 9090, NULL}};

static struct ctl_pod pod_of(const char *owner, struct config_pod_spec *spec)
{
	struct ctl_pod p = {
	    .namespace = "shop",
	    .name = "web-0",
	    .owner = (char *)owner,
	    .node = &node,
	    .ip_str = "10.98.2.7",
	    .service_account = "web",
	    .labels = &labels,
	    .spec = spec,
	};

	return p;
}

static void test_template_hash(void **state)
{
	char a[KMIRROR_TEMPLATE_HASH_LEN + 1], b[KMIRROR_TEMPLATE_HASH_LEN + 1], rs[300];

	kmirror_template_hash("shop", "web", a);
	assert_int_equal(strlen(a), KMIRROR_TEMPLATE_HASH_LEN);
	for (const char *c = a; *c; c++)
		assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *c));
	kmirror_template_hash("shop", "web", b);
	assert_string_equal(a, b);
	kmirror_template_hash("shop", "db", b);
	assert_string_not_equal(a, b);
	kmirror_template_hash("other", "web", b);
	assert_string_not_equal(a, b);

	assert_int_equal(kmirror_replicaset("shop", "web", rs, sizeof(rs)), 0);
	assert_int_equal(strncmp(rs, "web-", 4), 0);
	assert_string_equal(rs + 4, a);
	assert_int_equal(kmirror_replicaset("shop", "web", rs, 8), -ENAMETOOLONG);
}

/* The sealed JSON of @pod, as the agent's loader reads it from the API: one config_pod. */
static void load_as_agent(const cJSON *obj, struct config *cfg)
{
	struct config_diags diags = {0};
	char *text = cJSON_Print(obj);
	int ret;

	assert_non_null(text);
	config_init(cfg);
	ret = config_load_buffer(cfg, "pod.json", text, strlen(text), &diags);
	for (size_t i = 0; i < diags.n; i++) {
		char line[1024];

		config_diag_format(&diags.items[i], line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	assert_int_equal(ret, 0);
	assert_int_equal(cfg->n_pods, 1);
	config_diags_free(&diags);
	free(text);
}

static void test_owned_pod(void **state)
{
	struct config_pod_spec spec = {.service_account = "web", .nports = 2, .ports = ports};
	char *cmd[] = {"/bin/web", "--port", "8080", NULL};
	struct ctl_pod pod;
	char hash[KMIRROR_TEMPLATE_HASH_LEN + 1], rs[300], wl[256];
	struct config cfg;
	const cJSON *refs, *ref, *ctr, *conds, *c;
	cJSON *o;
	bool ready = false;

	spec.command = cmd;
	pod = pod_of("web", &spec);
	pod.started = true;
	o = kmirror_pod(&pod);
	assert_non_null(o);
	assert_int_equal(kmirror_seal(o), 0);
	kmirror_template_hash("shop", "web", hash);
	kmirror_replicaset("shop", "web", rs, sizeof(rs));

	assert_string_equal(kjson_str(o, "apiVersion", NULL), "v1");
	assert_string_equal(kjson_str(o, "kind", NULL), "Pod");
	assert_string_equal(kjson_str(o, "metadata", "name"), "web-0");
	assert_string_equal(kjson_str(o, "metadata", "namespace"), "shop");
	refs = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "ownerReferences");
	assert_int_equal(cJSON_GetArraySize(refs), 1);
	ref = cJSON_GetArrayItem(refs, 0);
	assert_string_equal(kjson_str(ref, "kind", NULL), "ReplicaSet");
	assert_string_equal(kjson_str(ref, "apiVersion", NULL), "apps/v1");
	assert_string_equal(kjson_str(ref, "name", NULL), rs);
	assert_int_equal(strlen(kjson_str(ref, "uid", NULL)), 36);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ref, "controller")));

	assert_string_equal(kjson_str(o, "spec", "nodeName"), "node2");
	assert_string_equal(kjson_str(o, "spec", "serviceAccountName"), "web");
	ctr = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "containers"),
				 0);
	assert_non_null(kjson_str(ctr, "name", NULL));
	assert_non_null(kjson_str(ctr, "image", NULL));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ctr, "ports")), 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ctr, "command")), 3);

	assert_string_equal(kjson_str(o, "status", "phase"), "Running");
	assert_string_equal(kjson_str(o, "status", "podIP"), "10.98.2.7");
	assert_string_equal(kjson_str(o, "status", "hostIP"), "10.99.0.12");
	assert_string_equal(
	    kjson_str(cJSON_GetArrayItem(
			  cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "podIPs"), 0),
		      "ip", NULL),
	    "10.98.2.7");
	conds = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "conditions");
	cJSON_ArrayForEach(c, conds)
	{
		assert_string_equal(kjson_str(c, "status", NULL), "True");
		ready |= !strcmp(kjson_str(c, "type", NULL), "Ready");
	}
	assert_true(ready);

	/* What the agent makes of it: Running, Ready, placed, the Deployment's workload. */
	load_as_agent(o, &cfg);
	assert_string_equal(cfg.pods[0].pod_ip, "10.98.2.7");
	assert_string_equal(cfg.pods[0].host_ip, "10.99.0.12");
	assert_string_equal(cfg.pods[0].spec.node_name, "node2");
	assert_string_equal(cfg.pods[0].spec.service_account, "web");
	assert_int_equal(cfg.pods[0].ready, CONFIG_READY_TRUE);
	assert_string_equal(config_label_get(&cfg.pods[0].meta.labels, "pod-template-hash"), hash);
	assert_string_equal(config_label_get(&cfg.pods[0].meta.labels, "app"), "web");
	assert_string_equal(config_label_get(&cfg.pods[0].meta.labels, KMIRROR_LABEL),
			    KMIRROR_LABEL_VALUE);
	assert_string_equal(ksource_workload(&cfg.pods[0], wl, sizeof(wl)), "web");
	config_free(&cfg);
	cJSON_Delete(o);
}

/*
 * podIPs and hostIPs as Kubernetes lists them, IPv4 first and one of IPv6 alone; an IPv6
 * cluster's Node by its IPv6 (it has no IPv4), a dual-stack one's by its IPv4 as before.
 */
static void test_add_ips(void **state)
{
	struct ctl_node v6 = {.name = "node3",
			      .index = 3,
			      .ip = "10.99.0.13",
			      .ip6 = "fd00:99::13",
			      .pods_v6only = true};
	const cJSON *arr, *a;
	cJSON *o = cJSON_CreateObject();

	assert_true(kmirror_add_ips(o, "two", "10.98.1.2", "fd00:98:1::2"));
	assert_true(kmirror_add_ips(o, "one", "fd00:98:1::2", ""));
	arr = cJSON_GetObjectItem(o, "two");
	assert_int_equal(cJSON_GetArraySize(arr), 2);
	assert_string_equal(kjson_str(cJSON_GetArrayItem(arr, 0), "ip", NULL), "10.98.1.2");
	assert_string_equal(kjson_str(cJSON_GetArrayItem(arr, 1), "ip", NULL), "fd00:98:1::2");
	arr = cJSON_GetObjectItem(o, "one");
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	assert_string_equal(kjson_str(cJSON_GetArrayItem(arr, 0), "ip", NULL), "fd00:98:1::2");
	cJSON_Delete(o);

	o = kmirror_node(&v6);
	assert_non_null(o);
	a = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "addresses"),
			       0);
	assert_string_equal(kjson_str(a, "type", NULL), "InternalIP");
	assert_string_equal(kjson_str(a, "address", NULL), "fd00:99::13");
	cJSON_Delete(o);
	o = kmirror_node(&node);
	a = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "addresses"),
			       0);
	assert_string_equal(kjson_str(a, "address", NULL), "10.99.0.12");
	cJSON_Delete(o);
}

/* Before its kubelet started it: Pending and scheduled, no IP, not Ready, as the agent reads it. */
static void test_pending_pod(void **state)
{
	struct ctl_pod pod = pod_of("web", NULL);
	const cJSON *st, *c;
	struct config cfg;
	cJSON *o;

	o = kmirror_pod(&pod);
	assert_non_null(o);
	assert_int_equal(kmirror_seal(o), 0);
	st = cJSON_GetObjectItem(o, "status");
	assert_string_equal(kjson_str(st, "phase", NULL), "Pending");
	assert_null(cJSON_GetObjectItem(st, "podIP"));
	assert_null(cJSON_GetObjectItem(st, "podIPs"));
	assert_string_equal(kjson_str(st, "hostIP", NULL), "10.99.0.12");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(st, "conditions")), 1);
	c = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0);
	assert_string_equal(kjson_str(c, "type", NULL), "PodScheduled");
	load_as_agent(o, &cfg);
	assert_true(!cfg.pods[0].pod_ip || !cfg.pods[0].pod_ip[0]);
	assert_int_not_equal(cfg.pods[0].ready, CONFIG_READY_TRUE);
	config_free(&cfg);
	cJSON_Delete(o);
}

static void test_bare_pod(void **state)
{
	struct config_label mine[] = {{"app", "db"}, {"pod-template-hash", "kept"}};
	struct config_labels l = {2, mine};
	struct ctl_pod pod = pod_of(NULL, NULL);
	struct config cfg;
	char wl[256];
	cJSON *o;

	pod.labels = &l;
	o = kmirror_pod(&pod);
	assert_non_null(o);
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "ownerReferences"));
	assert_int_equal(kmirror_seal(o), 0);
	load_as_agent(o, &cfg);
	/* A bare pod's labels are its own; it is a workload of no controller. */
	assert_string_equal(config_label_get(&cfg.pods[0].meta.labels, "pod-template-hash"),
			    "kept");
	assert_null(ksource_workload(&cfg.pods[0], wl, sizeof(wl)));
	config_free(&cfg);
	cJSON_Delete(o);

	pod.node = NULL;
	assert_null(kmirror_pod(&pod));
	assert_int_equal(errno, EINVAL);
}

static cJSON *parse(const char *json)
{
	cJSON *o = cJSON_Parse(json);

	assert_non_null(o);
	return o;
}

static void test_seal(void **state)
{
	cJSON *a = parse("{\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"labels\":null},"
			 "\"spec\":{\"ports\":[{\"port\":80}]}}"),
	      *b = cJSON_Duplicate(a, true), *c = cJSON_Duplicate(a, true),
	      *d = parse("{\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"annotations\":{"
			 "\"" KMIRROR_HASH_ANNOTATION "\":\"stale\"},\"labels\":null},"
			 "\"spec\":{\"ports\":[{\"port\":80}]}}");
	const char *h;

	assert_int_equal(kmirror_seal(a), 0);
	assert_int_equal(kmirror_seal(b), 0);
	h = kjson_str(cJSON_GetObjectItem(a, "metadata"), "annotations", KMIRROR_HASH_ANNOTATION);
	assert_non_null(h);
	assert_int_equal(strlen(h), KMIRROR_HASH_LEN);
	assert_string_equal(kjson_str(cJSON_GetObjectItem(a, "metadata"), "labels", KMIRROR_LABEL),
			    KMIRROR_LABEL_VALUE);
	assert_true(cJSON_Compare(a, b, true));

	/* Any change changes the hash. */
	cJSON_SetNumberValue(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "spec"), "ports"), 0)
		->child,
	    81);
	assert_int_equal(kmirror_seal(c), 0);
	assert_string_not_equal(
	    kjson_str(cJSON_GetObjectItem(c, "metadata"), "annotations", KMIRROR_HASH_ANNOTATION),
	    h);

	/* A hash the object came with is not part of what is hashed. */
	assert_int_equal(kmirror_seal(d), 0);
	assert_string_equal(
	    kjson_str(cJSON_GetObjectItem(d, "metadata"), "annotations", KMIRROR_HASH_ANNOTATION),
	    h);

	assert_int_equal(kmirror_seal(cJSON_GetObjectItem(a, "spec")), -EINVAL);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
	cJSON_Delete(d);
}

static void test_decide(void **state)
{
	cJSON *want = parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
			    "\"status\":{\"podIP\":\"10.98.1.2\"}}"),
	      *same, *changed, *foreign, *no_status;

	assert_int_equal(kmirror_seal(want), 0);
	same = cJSON_Duplicate(want, true);
	cJSON_AddStringToObject(cJSON_GetObjectItem(same, "metadata"), "uid", "u-1");
	changed = cJSON_Duplicate(same, true);
	cJSON_ReplaceItemInObject(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(changed, "metadata"), "annotations"),
	    KMIRROR_HASH_ANNOTATION, cJSON_CreateString("0000"));
	foreign =
	    parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{\"a\":\"b\"}}}");
	no_status = cJSON_Duplicate(same, true);
	cJSON_DeleteItemFromObject(no_status, "status");

	assert_int_equal(kmirror_decide(NULL, NULL), KMIRROR_KEEP);
	assert_int_equal(kmirror_decide(want, NULL), KMIRROR_CREATE);
	assert_int_equal(kmirror_decide(want, same), KMIRROR_KEEP);
	assert_int_equal(kmirror_decide(want, changed), KMIRROR_UPDATE);
	assert_int_equal(kmirror_decide(NULL, same), KMIRROR_DELETE);
	/* Never touched when not labelled as the mirror's: a create then meets the server's 409. */
	assert_int_equal(kmirror_decide(NULL, foreign), KMIRROR_KEEP);
	assert_int_equal(kmirror_decide(want, foreign), KMIRROR_CREATE);
	assert_int_equal(kmirror_decide(want, no_status), KMIRROR_STATUS);
	cJSON_Delete(want);
	cJSON_Delete(same);
	cJSON_Delete(changed);
	cJSON_Delete(foreign);
	cJSON_Delete(no_status);
}

static void test_from_yaml(void **state)
{
	static const char ap[] = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
				 "metadata:\n  name: deny\n  namespace: shop\n  uid: abc\n"
				 "  resourceVersion: '12'\n  generation: 3\n"
				 "spec:\n  action: DENY\n  rules: [{}]\n";
	char err[256];
	cJSON *o = kmirror_from_yaml(ap, "shop", err, sizeof(err)), *md;

	assert_non_null(o);
	md = cJSON_GetObjectItem(o, "metadata");
	assert_null(cJSON_GetObjectItem(md, "uid"));
	assert_null(cJSON_GetObjectItem(md, "resourceVersion"));
	assert_null(cJSON_GetObjectItem(md, "generation"));
	assert_string_equal(kjson_str(o, "metadata", "namespace"), "shop");
	assert_string_equal(kjson_str(o, "spec", "action"), "DENY");
	cJSON_Delete(o);

	o = kmirror_from_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
			      "  namespace: stray\n",
			      NULL, err, sizeof(err));
	assert_non_null(o);
	assert_null(kjson_str(o, "metadata", "namespace"));
	cJSON_Delete(o);

	/* Scalars as YAML 1.2's core schema types them: what the API server's JSON would hold
	 * (percentage: {value: 100.0} is a number, and Istio's loader refuses a string there). */
	o = kmirror_from_yaml(
	    "kind: T\nmetadata: {name: t}\nv: [100.0, -1.5e3, .5, 7, '8.5', 1.2.3, "
	    ".inf, 1e, +2.0, 0x10, 3s]\n",
	    NULL, err, sizeof(err));
	assert_non_null(o);
	{
		const cJSON *v = cJSON_GetObjectItem(o, "v");
		const double nums[] = {100.0, -1500.0, 0.5, 7};
		const char *const texts[] = {"8.5", "1.2.3", ".inf", "1e", NULL, "0x10", "3s"};

		for (int i = 0; i < 4; i++) {
			assert_true(cJSON_IsNumber(cJSON_GetArrayItem(v, i)));
			assert_true(cJSON_GetArrayItem(v, i)->valuedouble == nums[i]);
		}
		for (int i = 0; i < 7; i++) {
			const cJSON *it = cJSON_GetArrayItem(v, 4 + i);

			if (texts[i])
				assert_string_equal(cJSON_GetStringValue(it), texts[i]);
			else
				assert_true(cJSON_IsNumber(it) && it->valuedouble == 2.0);
		}
	}
	cJSON_Delete(o);

	assert_null(kmirror_from_yaml("kind: A\nmetadata: {name: a}\n---\nkind: B\n", NULL, err,
				      sizeof(err)));
	assert_null(kmirror_from_yaml("kind: A\n", NULL, err, sizeof(err)));
}

static void test_service_ip(void **state)
{
	cJSON *plain = parse("{\"kind\":\"Service\",\"spec\":{\"ports\":[]}}"),
	      *headless = parse("{\"kind\":\"Service\",\"spec\":{\"clusterIP\":\"None\"}}"),
	      *fixed = parse("{\"kind\":\"Service\",\"spec\":{\"clusterIP\":\"10.96.0.99\"}}"),
	      *ext = parse("{\"kind\":\"Service\",\"spec\":{\"type\":\"ExternalName\","
			   "\"externalName\":\"example.com\"}}");

	cJSON *dual = parse("{\"kind\":\"Service\",\"spec\":{\"ipFamilyPolicy\":"
			    "\"PreferDualStack\"}}");
	cJSON *six = parse("{\"kind\":\"Service\",\"spec\":{\"ipFamilies\":[\"IPv6\"]}}");
	const cJSON *spec;

	assert_int_equal(kmirror_service_ip(plain, "10.96.0.10", NULL), 0);
	assert_string_equal(kjson_str(plain, "spec", "clusterIP"), "10.96.0.10");
	assert_string_equal(
	    cJSON_GetArrayItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(plain, "spec"), "clusterIPs"), 0)
		->valuestring,
	    "10.96.0.10");
	assert_string_equal(kjson_str(plain, "spec", "ipFamilyPolicy"), "SingleStack");
	/* A dual-stack Service of a dual-stack cluster: both, IPv4 first, as the API server does.
	 */
	assert_int_equal(kmirror_service_ip(dual, "10.96.0.14", "fd00:96::14"), 0);
	spec = cJSON_GetObjectItem(dual, "spec");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(spec, "clusterIPs")), 2);
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "clusterIPs"), 1)->valuestring,
	    "fd00:96::14");
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "ipFamilies"), 1)->valuestring, "IPv6");
	assert_string_equal(kjson_str(dual, "spec", "ipFamilyPolicy"), "PreferDualStack");
	cJSON_Delete(dual);
	/*
	 * ipFamilies [IPv6, IPv4]: that order kept in clusterIPs and ipFamilies, clusterIP the
	 * IPv6 one, as the API server keeps a Service's families.
	 */
	dual = parse("{\"kind\":\"Service\",\"spec\":{\"ipFamilyPolicy\":\"RequireDualStack\","
		     "\"ipFamilies\":[\"IPv6\",\"IPv4\"]}}");
	assert_int_equal(kmirror_service_ip(dual, "10.96.0.16", "fd00:96::16"), 0);
	spec = cJSON_GetObjectItem(dual, "spec");
	assert_string_equal(kjson_str(dual, "spec", "clusterIP"), "fd00:96::16");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(spec, "clusterIPs")), 2);
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "clusterIPs"), 0)->valuestring,
	    "fd00:96::16");
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "clusterIPs"), 1)->valuestring,
	    "10.96.0.16");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(spec, "ipFamilies")), 2);
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "ipFamilies"), 0)->valuestring, "IPv6");
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "ipFamilies"), 1)->valuestring, "IPv4");
	assert_string_equal(kjson_str(dual, "spec", "ipFamilyPolicy"), "RequireDualStack");
	cJSON_Delete(dual);
	/* No ipFamilies, clusterIPs IPv6 first (getobj's case): that order. */
	dual = parse("{\"kind\":\"Service\",\"spec\":{\"ipFamilyPolicy\":\"PreferDualStack\","
		     "\"clusterIPs\":[\"fd00:96::18\",\"10.96.0.18\"]}}");
	assert_int_equal(
	    kmirror_service_ips(cJSON_GetObjectItem(dual, "spec"), "10.96.0.18", "fd00:96::18"), 0);
	assert_string_equal(kjson_str(dual, "spec", "clusterIP"), "fd00:96::18");
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(dual, "spec"), "ipFamilies"),
			       0)
		->valuestring,
	    "IPv6");
	cJSON_Delete(dual);
	/* [IPv4, IPv6] named: IPv4 first, as unnamed. */
	dual = parse("{\"kind\":\"Service\",\"spec\":{\"ipFamilyPolicy\":\"PreferDualStack\","
		     "\"ipFamilies\":[\"IPv4\",\"IPv6\"]}}");
	assert_int_equal(kmirror_service_ip(dual, "10.96.0.17", "fd00:96::17"), 0);
	assert_string_equal(kjson_str(dual, "spec", "clusterIP"), "10.96.0.17");
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(dual, "spec"), "ipFamilies"),
			       0)
		->valuestring,
	    "IPv4");
	cJSON_Delete(dual);
	/* A SingleStack IPv6 Service: its IPv6 VIP alone, its one family IPv6. */
	assert_int_equal(kmirror_service_ip(six, NULL, "fd00:96::15"), 0);
	spec = cJSON_GetObjectItem(six, "spec");
	assert_string_equal(kjson_str(six, "spec", "clusterIP"), "fd00:96::15");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(spec, "clusterIPs")), 1);
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "clusterIPs"), 0)->valuestring,
	    "fd00:96::15");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(spec, "ipFamilies")), 1);
	assert_string_equal(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "ipFamilies"), 0)->valuestring, "IPv6");
	assert_string_equal(kjson_str(six, "spec", "ipFamilyPolicy"), "SingleStack");
	cJSON_Delete(six);
	assert_int_equal(kmirror_service_ip(headless, "10.96.0.11", NULL), 0);
	assert_string_equal(kjson_str(headless, "spec", "clusterIP"), "None");
	assert_int_equal(kmirror_service_ip(fixed, "10.96.0.12", NULL), 0);
	assert_string_equal(kjson_str(fixed, "spec", "clusterIP"), "10.96.0.99");
	assert_int_equal(kmirror_service_ip(ext, "10.96.0.13", NULL), 0);
	assert_null(kjson_str(ext, "spec", "clusterIP"));
	cJSON_Delete(plain);
	cJSON_Delete(headless);
	cJSON_Delete(fixed);
	cJSON_Delete(ext);
}

/*
 * The server's object as the store would hold it (kimport.c): the mirror's own, as written and
 * with only what the server adds, is nothing to import; a change another hand made, or an object
 * it made, is (without the server's fields, status, or the mirror's label and hash).
 */
static void test_import(void **state)
{
	static const char yaml[] = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
				   "  name: web\n  labels: {app: web}\nspec:\n  replicas: 2\n";
	char err[256];
	cJSON *want = kmirror_from_yaml(yaml, "shop", err, sizeof(err)), *have, *imp, *md;
	bool same;

	assert_non_null(want);
	assert_int_equal(kmirror_seal(want), 0);
	/* As the server holds it: its own fields and a status added. */
	have = cJSON_Duplicate(want, true);
	md = cJSON_GetObjectItem(have, "metadata");
	cJSON_AddStringToObject(md, "uid", "u-1");
	cJSON_AddStringToObject(md, "resourceVersion", "42");
	cJSON_AddNumberToObject(md, "generation", 3);
	cJSON_AddItemToObject(have, "status", parse("{\"replicas\":2}"));
	imp = kmirror_import(have, &same);
	assert_non_null(imp);
	assert_true(same);
	cJSON_Delete(imp);

	/* `kubectl scale`: spec.replicas changed, the hash kept. */
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(have, "spec"), "replicas",
				  cJSON_CreateNumber(3));
	imp = kmirror_import(have, &same);
	assert_non_null(imp);
	assert_false(same);
	assert_int_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(imp, "spec"), "replicas")->valueint, 3);
	md = cJSON_GetObjectItem(imp, "metadata");
	assert_null(cJSON_GetObjectItem(md, "uid"));
	assert_null(cJSON_GetObjectItem(md, "resourceVersion"));
	assert_null(cJSON_GetObjectItem(md, "generation"));
	assert_null(cJSON_GetObjectItem(imp, "status"));
	assert_null(kjson_str(md, "labels", KMIRROR_LABEL));
	assert_string_equal(kjson_str(md, "labels", "app"), "web");
	assert_null(cJSON_GetObjectItem(md, "annotations"));
	/* Sealed again, it is what the mirror then writes: the server's object as changed. */
	assert_int_equal(kmirror_seal(imp), 0);
	cJSON_Delete(imp);
	cJSON_Delete(have);

	/* kubectl's own: everything is news, its annotations kept. */
	have = parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
		     "\"web\",\"namespace\":\"shop\",\"uid\":\"u\",\"annotations\":{\"kubectl."
		     "kubernetes.io/last-applied-configuration\":\"{}\"}},\"spec\":{}}");
	imp = kmirror_import(have, &same);
	assert_non_null(imp);
	assert_false(same);
	assert_string_equal(kjson_str(cJSON_GetObjectItem(imp, "metadata"), "annotations",
				      "kubectl.kubernetes.io/last-applied-configuration"),
			    "{}");
	cJSON_Delete(imp);
	cJSON_Delete(have);
	cJSON_Delete(want);

	/* A Namespace the server labelled with its own name is still the mirror's as written. */
	want = kmirror_from_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
				 "  labels: {istio.io/dataplane-mode: ambient}\n",
				 NULL, err, sizeof(err));
	assert_non_null(want);
	assert_int_equal(kmirror_seal(want), 0);
	have = cJSON_Duplicate(want, true);
	cJSON_AddStringToObject(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(have, "metadata"), "labels"),
	    "kubernetes.io/metadata.name", "shop");
	imp = kmirror_import(have, &same);
	assert_true(same);
	cJSON_Delete(imp);
	/* ... but a label kubectl added is news. */
	cJSON_AddStringToObject(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(have, "metadata"), "labels"), "team", "blue");
	imp = kmirror_import(have, &same);
	assert_false(same);
	assert_string_equal(kjson_str(cJSON_GetObjectItem(imp, "metadata"), "labels", "team"),
			    "blue");
	cJSON_Delete(imp);
	cJSON_Delete(have);
	cJSON_Delete(want);
}

/*
 * kmirror_holds: whether the server's object, whoever wrote it, says what the store does. A
 * namespace kubectl made and the controller imported holds it; once `kubectl label` added a
 * label after that import, it no longer does (the mirror then leaves it to the next import).
 */
static void test_holds(void **state)
{
	char err[256];
	cJSON *want = kmirror_from_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n"
					"  name: shop\n  labels: {team: blue}\n",
					NULL, err, sizeof(err));
	cJSON *have = parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{"
			    "\"name\":\"shop\",\"uid\":\"u-1\",\"resourceVersion\":\"7\","
			    "\"labels\":{\"team\":\"blue\",\"kubernetes.io/metadata.name\":"
			    "\"shop\"}},\"status\":{\"phase\":\"Active\"}}");

	assert_non_null(want);
	assert_int_equal(kmirror_seal(want), 0);
	assert_int_equal(kmirror_holds(have, want), 1);
	cJSON_AddStringToObject(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(have, "metadata"), "labels"),
	    "istio.io/dataplane-mode", "ambient");
	assert_int_equal(kmirror_holds(have, want), 0);
	/* An unsealed want says nothing to compare with. */
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(want, "metadata"), "annotations");
	assert_int_equal(kmirror_holds(have, want), 0);
	cJSON_Delete(have);
	cJSON_Delete(want);
}

/* A running pod's start time is the one the server holds: the same JSON on every mirror. */
static void test_keep_start(void **state)
{
	struct config_pod_spec spec = {0};
	struct ctl_pod pod = pod_of("web", &spec);
	cJSON *a, *b;

	pod.started = true;
	a = kmirror_pod(&pod);
	assert_non_null(a);
	assert_string_equal(kjson_str(a, "status", "phase"), "Running");
	{
		const cJSON *cs = cJSON_GetArrayItem(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(a, "status"), "containerStatuses"), 0);

		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cs, "ready")));
		assert_int_equal(cJSON_GetObjectItem(cs, "restartCount")->valueint, 0);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cs, "name")), "main");
	}
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(a, "status"), "startTime",
				  cJSON_CreateString("2020-01-02T03:04:05Z"));
	assert_int_equal(kmirror_seal(a), 0);
	b = kmirror_pod(&pod);
	assert_int_equal(kmirror_seal(b), 0);
	assert_int_equal(kmirror_pod_keep_start(b, a), 0);
	assert_string_equal(kjson_str(b, "status", "startTime"), "2020-01-02T03:04:05Z");
	assert_string_equal(
	    kjson_str(cJSON_GetObjectItem(
			  cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "status"),
								 "containerStatuses"),
					     0),
			  "state"),
		      "running", "startedAt"),
	    "2020-01-02T03:04:05Z");
	cJSON_Delete(a);
	cJSON_Delete(b);
}

/* What `kubectl rollout status` and `get deploy` read, from the plan's pods. */
static void test_deployment_status(void **state)
{
	struct config_pod_spec spec = {0};
	struct ctl_pod pods[3] = {pod_of("web", &spec), pod_of("web", &spec), pod_of("db", &spec)};
	cJSON *st;

	pods[0].started = true;
	st = kmirror_deployment_status(pods, 3, "shop", "web", 2, 4);
	assert_non_null(st);
	assert_int_equal(cJSON_GetObjectItem(st, "observedGeneration")->valueint, 4);
	assert_int_equal(cJSON_GetObjectItem(st, "replicas")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(st, "updatedReplicas")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(st, "readyReplicas")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(st, "availableReplicas")->valueint, 1);
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0), "status")),
	    "False");
	cJSON_Delete(st);
	pods[1].started = true;
	st = kmirror_deployment_status(pods, 3, "shop", "web", 2, 4);
	assert_int_equal(cJSON_GetObjectItem(st, "availableReplicas")->valueint, 2);
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0), "status")),
	    "True");
	cJSON_Delete(st);
}

static int num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	assert_true(cJSON_IsNumber(v));
	return v->valueint;
}

/*
 * ambit's own workloads on --kube (kworkload.c), as their controllers write them: the columns
 * `kubectl get deploy,ds` shows and what `rollout status` waits for. A scaled-to-0 Deployment
 * (the waypoint controller) is available with no pod.
 */
static void test_workload_status(void **state)
{
	cJSON *st = kmirror_daemonset_status(2, 2, 1, 3), *cond;

	assert_non_null(st);
	assert_int_equal(num(st, "observedGeneration"), 3);
	assert_int_equal(num(st, "desiredNumberScheduled"), 2);
	assert_int_equal(num(st, "currentNumberScheduled"), 2);
	assert_int_equal(num(st, "numberReady"), 1);
	assert_int_equal(num(st, "updatedNumberScheduled"), 2);
	assert_int_equal(num(st, "numberAvailable"), 1);
	assert_int_equal(num(st, "numberUnavailable"), 1);
	assert_int_equal(num(st, "numberMisscheduled"), 0);
	cJSON_Delete(st);
	st = kmirror_daemonset_status(2, 2, 2, 1);
	assert_int_equal(num(st, "numberAvailable"), 2);
	assert_null(cJSON_GetObjectItem(st, "numberUnavailable"));
	cJSON_Delete(st);

	st = kmirror_replicas_status("ambit-system", "ambit-ca", 1, 1, 1, 2);
	assert_int_equal(num(st, "replicas"), 1);
	assert_int_equal(num(st, "readyReplicas"), 1);
	assert_int_equal(num(st, "availableReplicas"), 1);
	assert_int_equal(num(st, "observedGeneration"), 2);
	cond = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cond, "type")), "Available");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cond, "status")), "True");
	cJSON_Delete(st);
	/* Running, not ready: 0/1, unavailable. */
	st = kmirror_replicas_status("ambit-system", "ambit-ca", 1, 1, 0, 2);
	assert_int_equal(num(st, "replicas"), 1);
	assert_int_equal(num(st, "readyReplicas"), 0);
	assert_int_equal(num(st, "unavailableReplicas"), 1);
	cond = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cond, "status")), "False");
	cJSON_Delete(st);
	st = kmirror_replicas_status("ambit-system", "ambit-waypoints", 0, 0, 0, 2);
	assert_int_equal(num(st, "replicas"), 0);
	cond = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cond, "status")), "True");
	cJSON_Delete(st);
}

static void test_rank(void **state)
{
	assert_true(kmirror_rank("Namespace") < kmirror_rank("ServiceAccount"));
	assert_true(kmirror_rank("CustomResourceDefinition") < kmirror_rank("AuthorizationPolicy"));
	assert_true(kmirror_rank("ServiceAccount") < kmirror_rank("Service"));
	assert_true(kmirror_rank("Service") < kmirror_rank("Pod"));
	assert_true(kmirror_rank("Pod") < 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template_hash),
	    cmocka_unit_test(test_owned_pod),
	    cmocka_unit_test(test_pending_pod),
	    cmocka_unit_test(test_bare_pod),
	    cmocka_unit_test(test_seal),
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test(test_from_yaml),
	    cmocka_unit_test(test_service_ip),
	    cmocka_unit_test(test_rank),
	    cmocka_unit_test(test_add_ips),
	    cmocka_unit_test(test_import),
	    cmocka_unit_test(test_holds),
	    cmocka_unit_test(test_keep_start),
	    cmocka_unit_test(test_deployment_status),
	    cmocka_unit_test(test_workload_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
