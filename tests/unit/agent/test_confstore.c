// SPDX-License-Identifier: Apache-2.0
/* Per-file last good config of the agent (confstore.c is compiled in: see l4/test_desired.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/confstore.h"
#include "config/runtime.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	char sub[512];

	snprintf(root, sizeof(root), "/tmp/ambit-test-confstore-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(sub, sizeof(sub), "%s/sub", root);
	return mkdir(sub, 0755);
}

static int teardown(void **state)
{
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *NS_A = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n";
static const char *SVC_B = "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: a\n"
			   "spec:\n  selector: {app: b}\n  ports:\n  - port: 80\n";
static const char *SVC_B_BAD = "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n"
			       "  namespace: a\nspec:\n  ports:\n  - port: 99999999\n";

static void view_counts(struct confstore *cs, size_t ns, size_t svc)
{
	struct config v;

	assert_int_equal(confstore_view(cs, &v), 0);
	assert_int_equal(v.n_namespaces, ns);
	assert_int_equal(v.n_services, svc);
	if (svc)
		assert_int_equal(v.services[0].ports[0].port, 80);
	confstore_view_free(&v);
}

/*
 * The view carries every kind, the L7 ones too: the agent compiles waypoint bindings and
 * configs from it (a view without them bound no Service to any waypoint).
 */
static void test_view_has_l7_kinds(void **state)
{
	struct confstore cs = {0};
	struct config v;
	bool changed;

	put("l7.yaml",
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: waypoint\n"
	    "  namespace: a\nspec:\n  gatewayClassName: istio-waypoint\n  listeners:\n"
	    "  - name: mesh\n    port: 15008\n    protocol: HBONE\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: b\n"
	    "  namespace: a\nspec:\n  hosts: [b]\n  http:\n  - route:\n"
	    "    - destination: {host: b}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: b\n"
	    "  namespace: a\nspec:\n  host: b\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\n"
	    "  namespace: a\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: b}\n");
	put("ns.yaml", NS_A);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(confstore_view(&cs, &v), 0);
	assert_int_equal(v.n_k8s_gateways, 1);
	assert_string_equal(v.k8s_gateways[0].class_name, "istio-waypoint");
	assert_int_equal(v.n_virtual_services, 1);
	assert_int_equal(v.n_destination_rules, 1);
	assert_int_equal(v.n_http_routes, 1);
	confstore_view_free(&v);
	confstore_free(&cs);
}

static void test_last_good_per_file(void **state)
{
	struct confstore cs = {0};
	char path[512];
	bool changed;

	put("a.yaml", NS_A);
	put("sub/b.yml", SVC_B);
	put(".tmp.yaml", "this: [is not: valid");
	put("notes.txt", "ignored");
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_true(changed);
	assert_int_equal(cs.n_files, 2);
	assert_int_equal(cs.n_dirs, 2);
	view_counts(&cs, 1, 1);
	assert_int_equal(confstore_error_count(&cs), 0);

	/* Unchanged files are not reparsed and change nothing. */
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_false(changed);

	/* A broken version keeps the file's last good objects, and its errors are in force. */
	put("sub/b.yml", SVC_B_BAD);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_false(changed);
	view_counts(&cs, 1, 1);
	assert_true(confstore_error_count(&cs) >= 1);
	snprintf(path, sizeof(path), "%s/sub/b.yml", root);
	assert_string_equal(cs.files[1].path, path);
	assert_true(cs.files[1].errors.n >= 1);
	assert_int_equal(cs.files[1].errors.items[0].line > 0, 1);

	/* A deleted file withdraws its objects. */
	snprintf(path, sizeof(path), "%s/a.yaml", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_true(changed);
	assert_int_equal(cs.n_files, 1);
	view_counts(&cs, 0, 1);

	/* Fixed again: errors cleared. */
	put("sub/b.yml", SVC_B);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_true(changed);
	assert_int_equal(confstore_error_count(&cs), 0);
	view_counts(&cs, 0, 1);
	confstore_free(&cs);
	confstore_free(NULL);
}

static void test_new_file_broken_from_start(void **state)
{
	struct confstore cs = {0};
	bool changed;

	put("a.yaml", SVC_B_BAD);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_false(changed);
	assert_int_equal(cs.n_files, 1);
	assert_false(cs.files[0].has_good);
	view_counts(&cs, 0, 0);
	assert_true(confstore_error_count(&cs) >= 1);
	confstore_free(&cs);
}

static void test_cache_survives_restart(void **state)
{
	struct confstore cs = {0};
	char cache[512], path[512];
	bool changed;

	snprintf(cache, sizeof(cache), "%s/cache", root);
	put("a.yaml", NS_A);
	put("sub/b.yml", SVC_B);
	cs.cache_dir = cache;
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	confstore_free(&cs);

	/* "Restart" with b broken: its cached last good version still serves, errors in force. */
	put("sub/b.yml", SVC_B_BAD);
	cs.cache_dir = cache;
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_true(changed);
	view_counts(&cs, 1, 1);
	assert_true(confstore_error_count(&cs) >= 1);
	assert_string_equal(cs.files[1].good.services[0].meta.origin.file, cs.files[1].path);
	confstore_free(&cs);

	/* Deleting the file deletes its cache entry: a later broken file has nothing to serve. */
	snprintf(path, sizeof(path), "%s/sub/b.yml", root);
	cs.cache_dir = cache;
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	confstore_free(&cs);
	put("sub/b.yml", SVC_B_BAD);
	cs.cache_dir = cache;
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	view_counts(&cs, 1, 0);
	confstore_free(&cs);
}

static void mkdirs(const char *rel)
{
	char path[512], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

#define PA_DEFAULT(mode)                                                                           \
	"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"                  \
	"  name: default\n  namespace: a\nspec:\n  mtls: {mode: " mode "}\n"
#define PA_STORE "a/peerauthentication.security.istio.io/default.yaml"

/* The mode of the one PeerAuthentication in force. */
static int view_mode(struct confstore *cs)
{
	struct config v;
	int mode;

	assert_int_equal(confstore_view(cs, &v), 0);
	assert_int_equal(v.n_peer_authentications, 1);
	mode = v.peer_authentications[0].mode;
	confstore_view_free(&v);
	return mode;
}

/*
 * Two files defining one object: the definition in force stays, whatever the newcomer's file
 * is called; with none in force (a restart), the file `ambitctl apply` keeps it in wins. Either
 * way the other is reported, with both places. A duplicate turned STRICT into PERMISSIVE.
 */
static void test_duplicate_never_replaces(void **state)
{
	struct confstore cs = {0};
	char path[512];
	bool changed;

	mkdirs("a/peerauthentication.security.istio.io");
	put(PA_STORE, PA_DEFAULT("STRICT"));
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(view_mode(&cs), CONFIG_MTLS_STRICT);
	assert_int_equal(confstore_error_count(&cs), 0);

	/* Sorts before the store's file, as the attacker's did. */
	put("0-evil.yaml", PA_DEFAULT("PERMISSIVE"));
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(view_mode(&cs), CONFIG_MTLS_STRICT);
	assert_int_equal(cs.dups.n, 1);
	assert_int_equal(confstore_error_count(&cs), 1);
	snprintf(path, sizeof(path), "%s/0-evil.yaml", root);
	assert_string_equal(cs.dups.items[0].file, path);
	assert_non_null(strstr(cs.dups.items[0].message, PA_STORE ":1, which is in force"));
	/* Reported once, and still refused on every later view. */
	assert_int_equal(view_mode(&cs), CONFIG_MTLS_STRICT);
	assert_int_equal(cs.dups.n, 1);
	confstore_free(&cs);

	/* A restart: nothing in force yet; the store's own file is preferred to the first name. */
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(view_mode(&cs), CONFIG_MTLS_STRICT);
	assert_int_equal(cs.dups.n, 1);

	/* The store's definition deleted: the other one is now the only one, and in force. */
	snprintf(path, sizeof(path), "%s/" PA_STORE, root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(view_mode(&cs), CONFIG_MTLS_PERMISSIVE);
	assert_int_equal(cs.dups.n, 0);

	/* Neither at the store's path: the one in force stays even when the other sorts first. */
	put("z-hand.yaml", PA_DEFAULT("STRICT"));
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(view_mode(&cs), CONFIG_MTLS_PERMISSIVE);
	confstore_free(&cs);
}

/* A Namespace too: a duplicate without the ambient label does not take it out of the mesh. */
static void test_duplicate_namespace(void **state)
{
	struct confstore cs = {0};
	struct config v;
	bool changed;

	mkdirs("_cluster/namespace");
	put("_cluster/namespace/a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
					 "  labels: {istio.io/dataplane-mode: ambient}\n");
	put("00.yaml", NS_A);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(confstore_view(&cs, &v), 0);
	assert_int_equal(v.n_namespaces, 1);
	assert_string_equal(
	    config_label_get(&v.namespaces[0].meta.labels, "istio.io/dataplane-mode"), "ambient");
	confstore_view_free(&v);
	assert_int_equal(cs.dups.n, 1);
	confstore_free(&cs);
}

static void test_missing_dir(void **state)
{
	struct confstore cs = {0};
	bool changed;

	assert_int_equal(confstore_reload(&cs, "/nonexistent/ambit-state", &changed), -ENOENT);
	assert_int_equal(cs.n_files, 0);
	confstore_free(&cs);
}

/*
 * Objects of another source (the Kubernetes API, as JSON with the server's fields): validated
 * and kept as files are, a bad version keeping the last good one with its error named by the
 * entry, dropped when deleted, and kept across directory reloads.
 */
static void test_external_objects(void **state)
{
	static const char svc[] =
	    "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"b\","
	    "\"namespace\":\"a\",\"uid\":\"0b0c8a6e-2d5e-4f7b-9b1e-7d3b5a1f0c11\","
	    "\"resourceVersion\":\"12\",\"creationTimestamp\":\"2026-11-20T10:00:00Z\"},"
	    "\"spec\":{\"clusterIP\":\"10.96.0.20\",\"selector\":{\"app\":\"b\"},"
	    "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\","
	    "\"targetPort\":8080}]},\"status\":{\"loadBalancer\":{}}}";
	static const char bad[] =
	    "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"b\","
	    "\"namespace\":\"a\"},\"spec\":{\"ports\":[{\"port\":99999999}]}}";
	struct confstore cs = {0};
	struct config_diags *d;
	bool changed;

	put("ns.yaml", NS_A);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(confstore_put(&cs, "k8s:services/a/b", svc, strlen(svc), &changed), 0);
	assert_true(changed);
	view_counts(&cs, 1, 1);
	/* A bad version: the last good one serves on; its error names the entry. */
	assert_int_equal(confstore_put(&cs, "k8s:services/a/b", bad, strlen(bad), &changed), 0);
	assert_false(changed);
	view_counts(&cs, 1, 1);
	assert_int_equal(confstore_error_count(&cs), 1);
	d = &cs.files[1].errors;
	assert_int_equal(d->n, 1);
	assert_string_equal(d->items[0].file, "k8s:services/a/b");
	/* A directory reload keeps it; a put of the good version clears the error. */
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	view_counts(&cs, 1, 1);
	assert_int_equal(confstore_put(&cs, "k8s:services/a/b", svc, strlen(svc), &changed), 0);
	assert_int_equal(confstore_error_count(&cs), 0);
	/* Deleted at the source: gone. A file is never dropped this way. */
	confstore_drop(&cs, "k8s:services/a/b", &changed);
	assert_true(changed);
	view_counts(&cs, 1, 0);
	confstore_drop(&cs, cs.files[0].path, &changed);
	assert_false(changed);
	view_counts(&cs, 1, 0);
	confstore_free(&cs);
}

/*
 * Entries are found by name through an index (many thousands on Kubernetes): after puts that
 * grow it, drops that move the last entry into a freed place and a directory reload, every
 * name still reaches its own entry and a dropped one is gone.
 */
static void test_many_external_entries(void **state)
{
	enum { N = 300 };
	struct confstore cs = {0};
	char name[64], text[256];
	bool changed;

	put("ns.yaml", NS_A);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "k8s:serviceaccounts/a/sa%d", i);
		snprintf(text, sizeof(text),
			 "{\"kind\":\"ServiceAccount\",\"apiVersion\":\"v1\","
			 "\"metadata\":{\"name\":\"sa%d\",\"namespace\":\"a\"}}",
			 i);
		assert_int_equal(confstore_put(&cs, name, text, strlen(text), &changed), 0);
		assert_true(changed);
		if (i == N / 2)
			assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	}
	assert_int_equal(cs.n_files, N + 1);
	/* Every third one goes: each drop moves the last entry into its place. */
	for (int i = 0; i < N; i += 3) {
		snprintf(name, sizeof(name), "k8s:serviceaccounts/a/sa%d", i);
		confstore_drop(&cs, name, &changed);
		assert_true(changed);
		confstore_drop(&cs, name, &changed);
		assert_false(changed);
	}
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(cs.n_files, N + 1 - N / 3);
	for (int i = 0; i < N; i++) {
		const char bad[] = "{\"kind\":\"ServiceAccount\",\"apiVersion\":\"v1\"}";
		const struct config_diags *d;

		/* A bad version names the entry it was put under, found by name. */
		snprintf(name, sizeof(name), "k8s:serviceaccounts/a/sa%d", i);
		assert_int_equal(confstore_put(&cs, name, bad, strlen(bad), &changed), 0);
		d = confstore_errors(&cs, name);
		assert_non_null(d);
		assert_string_equal(d->items[0].file, name);
		/* A dropped name comes back as a new entry with no good objects. */
		assert_int_equal(cs.n_files, N + 1 - N / 3 + i / 3 + 1);
	}
	confstore_free(&cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_view_has_l7_kinds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_good_per_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_file_broken_from_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_survives_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_never_replaces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_namespace, setup, teardown),
	    cmocka_unit_test(test_missing_dir),
	    cmocka_unit_test_setup_teardown(test_external_objects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_external_entries, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
