// SPDX-License-Identifier: Apache-2.0
/*
 * The dashboards a cluster provisions for Grafana (userspace/dashboard/provision.c), from the
 * objects of its store: Istio's addon's form (a Deployment of Grafana's image mounting its
 * providers file by subPath and its dashboards' ConfigMaps at the providers' paths), with
 * GF_PATHS_PROVISIONING, items and foldersFromFilesStructure; the sidecar's (ConfigMaps labelled
 * grafana_dashboard, their folder by annotation); a key that is not a dashboard listed with why;
 * a providers file that does not parse, said, and its dashboards not listed; no Grafana at all.
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

#include "dashboard/dashboard.h"
#include "local/objstore.h"

#define DASH(uid, title) "{\"uid\": \"" uid "\", \"title\": \"" title "\", \"panels\": []}"

/* Istio's samples/addons/grafana.yaml, its parts that matter here. */
static const char providers[] = "apiVersion: v1\n"
				"kind: ConfigMap\n"
				"metadata: {name: grafana, namespace: istio-system}\n"
				"data:\n"
				"  grafana.ini: |\n"
				"    [paths]\n"
				"    provisioning = /etc/grafana/provisioning\n"
				"  dashboardproviders.yaml: |\n"
				"    apiVersion: 1\n"
				"    providers:\n"
				"    - disableDeletion: false\n"
				"      folder: istio\n"
				"      name: istio\n"
				"      options:\n"
				"        path: /var/lib/grafana/dashboards/istio\n"
				"      orgId: 1\n"
				"      type: file\n"
				"    - folder: istio\n"
				"      name: istio-services\n"
				"      options:\n"
				"        path: /var/lib/grafana/dashboards/istio-services/\n"
				"      type: file\n";

static const char deployment[] =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata: {name: grafana, namespace: istio-system}\n"
    "spec:\n"
    "  selector: {matchLabels: {app: grafana}}\n"
    "  template:\n"
    "    metadata: {labels: {app: grafana}}\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: grafana\n"
    "        image: \"docker.io/grafana/grafana:11.3.1\"\n"
    "        volumeMounts:\n"
    "        - {name: config, mountPath: /etc/grafana/grafana.ini, subPath: grafana.ini}\n"
    "        - {name: storage, mountPath: /var/lib/grafana}\n"
    "        - {name: dashboards-istio, mountPath: /var/lib/grafana/dashboards/istio}\n"
    "        - name: dashboards-istio-services\n"
    "          mountPath: /var/lib/grafana/dashboards/istio-services\n"
    "        - name: config\n"
    "          mountPath: /etc/grafana/provisioning/dashboards/dashboardproviders.yaml\n"
    "          subPath: dashboardproviders.yaml\n"
    "      volumes:\n"
    "      - {name: config, configMap: {name: grafana}}\n"
    "      - {name: dashboards-istio, configMap: {name: istio-grafana-dashboards}}\n"
    "      - {name: dashboards-istio-services, configMap: {name: "
    "istio-services-grafana-dashboards}}\n"
    "      - {name: storage, emptyDir: {}}\n";

static const char boards_istio[] =
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata: {name: istio-grafana-dashboards, namespace: istio-system}\n"
    "data:\n"
    "  ztunnel-dashboard.json: '" DASH(
	"zt",
	"Istio Ztunnel Dashboard") "'\n"
				   "  istio-performance-dashboard.json: |\n"
				   "    " DASH("perf",
					       "Istio Performance Dashboard") "\n"
									      "  README.md: not a "
									      "dashboard file\n";

static const char boards_services[] =
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata: {name: istio-services-grafana-dashboards, namespace: istio-system}\n"
    "data:\n"
    "  istio-service-dashboard.json: '" DASH(
	"svc", "Istio Service Dashboard") "'\n"
					  "  broken.json: '{\"title\": \"half'\n"
					  "  other.json: '{\"apiVersion\": \"v1\"}'\n";

/* Not mounted: Grafana does not see it. */
static const char boards_unmounted[] = "apiVersion: v1\n"
				       "kind: ConfigMap\n"
				       "metadata: {name: spare, namespace: istio-system}\n"
				       "data:\n"
				       "  spare.json: '" DASH("spare", "Spare") "'\n";

/* kube-prometheus-stack's sidecar form. */
static const char sidecar_a[] = "apiVersion: v1\n"
				"kind: ConfigMap\n"
				"metadata:\n"
				"  name: team-a\n"
				"  namespace: monitoring\n"
				"  labels: {grafana_dashboard: \"1\"}\n"
				"  annotations: {grafana_folder: Team A}\n"
				"data:\n"
				"  a.json: '" DASH("a", "A") "'\n"
							     "  notes.txt: not read\n";

static const char sidecar_b[] = "apiVersion: v1\n"
				"kind: ConfigMap\n"
				"metadata:\n"
				"  name: team-b\n"
				"  namespace: default\n"
				"  labels: {grafana_dashboard: \"\"}\n"
				"data:\n"
				"  b.json: '" DASH("b", "B") "'\n"
							     "  empty.json: ''\n";

static const char unlabelled[] = "apiVersion: v1\n"
				 "kind: ConfigMap\n"
				 "metadata: {name: plain, namespace: default}\n"
				 "data:\n"
				 "  c.json: '" DASH("c", "C") "'\n";

/* Not Grafana: the same mounts in a Deployment of another image. */
static const char nginx[] = "apiVersion: apps/v1\n"
			    "kind: Deployment\n"
			    "metadata: {name: web, namespace: default}\n"
			    "spec:\n"
			    "  template:\n"
			    "    spec:\n"
			    "      containers:\n"
			    "      - name: web\n"
			    "        image: grafana/grafana-image-renderer:latest\n"
			    "        volumeMounts:\n"
			    "        - {name: p, mountPath: /etc/grafana/provisioning/dashboards}\n"
			    "        - {name: d, mountPath: /var/lib/grafana/dashboards/istio}\n"
			    "      volumes:\n"
			    "      - {name: p, configMap: {name: providers}}\n"
			    "      - {name: d, configMap: {name: plain}}\n";

static const char plain_providers[] = "apiVersion: v1\n"
				      "kind: ConfigMap\n"
				      "metadata: {name: providers, namespace: default}\n"
				      "data:\n"
				      "  p.yaml: |\n"
				      "    apiVersion: 1\n"
				      "    providers: [{folder: x, options: {path: "
				      "/var/lib/grafana/dashboards/istio}}]\n";

#define OBJ(g, k, ns, n, y)                                                                        \
	{                                                                                          \
		.group = g, .kind = k, .namespace = ns, .name = n, .yaml = (char *)y               \
	}

static struct dash_boards provision(struct store_obj *items, size_t n)
{
	struct store_objs objs = {n, items};
	struct dash_boards b = {0};

	assert_int_equal(dash_boards_provisioned(&objs, &b), 0);
	return b;
}

static const char *field(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const cJSON *row(const cJSON *l, const char *ref)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, l)
	{
		if (!strcmp(field(e, "ref"), ref))
			return e;
	}
	fail_msg("no row %s", ref);
	return NULL;
}

static void test_addon(void **state)
{
	struct store_obj items[] = {
	    OBJ("", "ConfigMap", "istio-system", "grafana", providers),
	    OBJ("", "ServiceAccount", "istio-system", "grafana", "kind: ServiceAccount\n"),
	    OBJ("apps", "Deployment", "istio-system", "grafana", deployment),
	    OBJ("", "ConfigMap", "istio-system", "istio-grafana-dashboards", boards_istio),
	    OBJ("", "ConfigMap", "istio-system", "istio-services-grafana-dashboards",
		boards_services),
	    OBJ("", "ConfigMap", "istio-system", "spare", boards_unmounted),
	};
	struct dash_boards b = provision(items, sizeof(items) / sizeof(items[0]));
	cJSON *l = dash_boards_list(&b);
	const cJSON *e;
	char err[256];
	int status;
	char *t;

	(void)state;
	/* Three dashboards and two keys that are not, all in folder istio, by file name. */
	assert_int_equal(cJSON_GetArraySize(l), 5);
	cJSON_ArrayForEach(e, l)
	{
		assert_string_equal(field(e, "folder"), "istio");
	}
	assert_string_equal(field(cJSON_GetArrayItem(l, 0), "file"), "broken.json");
	assert_string_equal(field(cJSON_GetArrayItem(l, 4), "file"), "ztunnel-dashboard.json");
	e = row(l, "istio-system/istio-services-grafana-dashboards/istio-service-dashboard.json");
	assert_string_equal(field(e, "title"), "Istio Service Dashboard");
	assert_string_equal(field(e, "uid"), "svc");
	assert_string_equal(field(e, "configmap"),
			    "istio-system/istio-services-grafana-dashboards");
	assert_string_equal(field(e, "key"), "istio-service-dashboard.json");
	assert_null(field(e, "error"));
	e = row(l, "istio-system/istio-grafana-dashboards/istio-performance-dashboard.json");
	assert_string_equal(field(e, "title"), "Istio Performance Dashboard");
	/* Not dashboards: said, naming the ConfigMap and key. */
	e = row(l, "istio-system/istio-services-grafana-dashboards/broken.json");
	assert_non_null(strstr(field(e, "error"), "not JSON"));
	assert_string_equal(field(e, "key"), "broken.json");
	e = row(l, "istio-system/istio-services-grafana-dashboards/other.json");
	assert_non_null(strstr(field(e, "error"), "no \"panels\""));
	cJSON_Delete(l);

	t = dash_boards_get(&b, "istio-service-dashboard.json", &status, err, sizeof(err));
	assert_int_equal(status, 200);
	assert_non_null(strstr(t, "\"uid\": \"svc\""));
	free(t);
	t = dash_boards_get(&b, "perf", &status, err, sizeof(err));
	assert_int_equal(status, 200);
	assert_non_null(strstr(t, "Performance"));
	free(t);
	t = dash_boards_get(&b, "istio-system/istio-grafana-dashboards/ztunnel-dashboard.json",
			    &status, err, sizeof(err));
	assert_int_equal(status, 200);
	free(t);
	assert_null(dash_boards_get(&b, "broken.json", &status, err, sizeof(err)));
	assert_int_equal(status, 422);
	assert_null(dash_boards_get(&b, "spare.json", &status, err, sizeof(err)));
	assert_int_equal(status, 404);
	assert_null(dash_boards_get(&b, "README.md", &status, err, sizeof(err)));
	assert_int_equal(status, 404);
	dash_boards_free(&b);
}

/*
 * Grafana's provisioning elsewhere (GF_PATHS_PROVISIONING), its providers file in a volume of
 * its own (items naming the file), a provider path below which dashboards sit in
 * subdirectories (items' paths), foldersFromFilesStructure, and an image from another registry
 * by digest; its dashboards' ConfigMap labelled for the sidecar as well.
 */
static void test_addon_variants(void **state)
{
	static const char dep[] =
	    "apiVersion: apps/v1\n"
	    "kind: Deployment\n"
	    "metadata: {name: g, namespace: obs}\n"
	    "spec:\n"
	    "  template:\n"
	    "    spec:\n"
	    "      containers:\n"
	    "      - name: sidecar\n"
	    "        image: busybox\n"
	    "      - name: grafana\n"
	    "        image: registry.local:5000/mirror/grafana/grafana@sha256:0123\n"
	    "        env:\n"
	    "        - {name: GF_PATHS_PROVISIONING, value: /srv/prov/}\n"
	    "        volumeMounts:\n"
	    "        - {name: prov, mountPath: /srv/prov/dashboards}\n"
	    "        - {name: boards, mountPath: /data/boards}\n"
	    "      volumes:\n"
	    "      - name: prov\n"
	    "        configMap:\n"
	    "          name: prov\n"
	    "          items: [{key: providers, path: all.yml}]\n"
	    "      - name: boards\n"
	    "        configMap:\n"
	    "          name: boards\n"
	    "          items:\n"
	    "          - {key: one.json, path: team-x/one.json}\n"
	    "          - {key: two.json, path: two.json}\n";
	static const char prov[] =
	    "apiVersion: v1\n"
	    "kind: ConfigMap\n"
	    "metadata: {name: prov, namespace: obs}\n"
	    "data:\n"
	    "  providers: |\n"
	    "    apiVersion: 1\n"
	    "    providers:\n"
	    "    - {name: p, type: file, folder: Top,\n"
	    "       options: {path: /data/boards, foldersFromFilesStructure: true}}\n"
	    "    - {name: q, type: something-else}\n";
	static const char boards[] =
	    "apiVersion: v1\n"
	    "kind: ConfigMap\n"
	    "metadata:\n"
	    "  name: boards\n"
	    "  namespace: obs\n"
	    "  labels: {grafana_dashboard: \"1\"}\n"
	    "  annotations: {grafana_folder: Side}\n"
	    "data:\n"
	    "  one.json: '" DASH("one", "One") "'\n"
					       "  two.json: '" DASH(
						   "two", "Two") "'\n"
								 "  three.json: '" DASH(
								     "three", "Three") "'\n";
	struct store_obj items[] = {
	    OBJ("apps", "Deployment", "obs", "g", dep),
	    OBJ("", "ConfigMap", "obs", "prov", prov),
	    OBJ("", "ConfigMap", "obs", "boards", boards),
	    /* The same names in another namespace: not this Grafana's. */
	    OBJ("", "ConfigMap", "default", "boards", boards_unmounted),
	};
	struct dash_boards b = provision(items, sizeof(items) / sizeof(items[0]));
	cJSON *l = dash_boards_list(&b);

	(void)state;
	/* Mounted and labelled too: once, as the provider has it; what is not mounted, as labelled.
	 */
	assert_int_equal(cJSON_GetArraySize(l), 3);
	assert_string_equal(field(row(l, "obs/boards/one.json"), "folder"), "team-x");
	assert_string_equal(field(row(l, "obs/boards/two.json"), "folder"), "Top");
	assert_string_equal(field(row(l, "obs/boards/three.json"), "folder"), "Side");
	cJSON_Delete(l);
	dash_boards_free(&b);
}

static void test_sidecar(void **state)
{
	struct store_obj items[] = {
	    OBJ("", "ConfigMap", "monitoring", "team-a", sidecar_a),
	    OBJ("", "ConfigMap", "default", "team-b", sidecar_b),
	    OBJ("", "ConfigMap", "default", "plain", unlabelled),
	};
	struct dash_boards b = provision(items, sizeof(items) / sizeof(items[0]));
	cJSON *l = dash_boards_list(&b);
	const cJSON *e;

	(void)state;
	/* General before Team A (by folder name), then by file; notes.txt and plain not read. */
	assert_int_equal(cJSON_GetArraySize(l), 3);
	e = cJSON_GetArrayItem(l, 0);
	assert_string_equal(field(e, "ref"), "default/team-b/b.json");
	assert_string_equal(field(e, "folder"), "General");
	assert_string_equal(field(e, "title"), "B");
	e = cJSON_GetArrayItem(l, 1);
	assert_string_equal(field(e, "ref"), "default/team-b/empty.json");
	assert_non_null(strstr(field(e, "error"), "not JSON"));
	e = cJSON_GetArrayItem(l, 2);
	assert_string_equal(field(e, "ref"), "monitoring/team-a/a.json");
	assert_string_equal(field(e, "folder"), "Team A");
	assert_string_equal(field(e, "configmap"), "monitoring/team-a");
	cJSON_Delete(l);
	dash_boards_free(&b);
}

/* A providers file Grafana would refuse: said, and nothing provisioned by it. */
static void test_bad_providers(void **state)
{
	static const char *const bad[] = {
	    "    providers: [\n",
	    "    - just a list\n",
	    "    providers: {name: p}\n",
	    "    providers:\n    - {name: p, folder: x}\n",
	    "    providers:\n    - {name: p, options: {path: relative/dir}}\n",
	    "    providers:\n    - 42\n",
	};
	static const char *const why[] = {"not YAML: line",	   "not a mapping",
					  "providers: not a list", "providers[0]: no options.path",
					  "not an absolute path",  "providers[0]: not a mapping"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char cm[512];
		struct store_obj items[] = {
		    OBJ("", "ConfigMap", "istio-system", "grafana", cm),
		    OBJ("apps", "Deployment", "istio-system", "grafana", deployment),
		    OBJ("", "ConfigMap", "istio-system", "istio-grafana-dashboards", boards_istio),
		};
		struct dash_boards b;
		cJSON *l;
		const cJSON *e;

		snprintf(cm, sizeof(cm),
			 "apiVersion: v1\nkind: ConfigMap\n"
			 "metadata: {name: grafana, namespace: istio-system}\n"
			 "data:\n  dashboardproviders.yaml: |\n%s",
			 bad[i]);
		b = provision(items, sizeof(items) / sizeof(items[0]));
		l = dash_boards_list(&b);
		assert_int_equal(cJSON_GetArraySize(l), 1);
		e = cJSON_GetArrayItem(l, 0);
		assert_string_equal(field(e, "ref"),
				    "istio-system/grafana/dashboardproviders.yaml");
		assert_non_null(strstr(field(e, "error"), "not a dashboards provider file"));
		if (!strstr(field(e, "error"), why[i]))
			fail_msg("%s: %s", bad[i], field(e, "error"));
		cJSON_Delete(l);
		dash_boards_free(&b);
	}
}

/* No Grafana, no label: nothing, whatever ConfigMaps hold JSON. */
static void test_no_grafana(void **state)
{
	struct store_obj items[] = {
	    OBJ("apps", "Deployment", "default", "web", nginx),
	    OBJ("", "ConfigMap", "default", "providers", plain_providers),
	    OBJ("", "ConfigMap", "default", "plain", unlabelled),
	    OBJ("", "ConfigMap", "istio-system", "istio-grafana-dashboards", boards_istio),
	    /* A Deployment of another group, and one the store holds no text of. */
	    OBJ("example.com", "Deployment", "default", "x", deployment),
	    OBJ("apps", "Deployment", "default", "y", NULL),
	};
	struct dash_boards b = provision(items, sizeof(items) / sizeof(items[0]));

	(void)state;
	assert_int_equal(b.n, 0);
	dash_boards_free(&b);
	b = provision(NULL, 0);
	assert_int_equal(b.n, 0);
	dash_boards_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addon),      cmocka_unit_test(test_addon_variants),
	    cmocka_unit_test(test_sidecar),    cmocka_unit_test(test_bad_providers),
	    cmocka_unit_test(test_no_grafana),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
