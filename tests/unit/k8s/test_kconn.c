// SPDX-License-Identifier: Apache-2.0
/*
 * Where the Kubernetes API is (userspace/k8s/kconn.h): kubeconfig files as kubectl writes
 * them (the current context or a named one; inline -data fields in base64 or files relative to
 * the kubeconfig; token or tokenFile; client certificates) and their refusals, each naming the
 * file and field; in-cluster from the environment and a service-account directory, IPv6 hosts
 * in brackets, a rotated token read again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls/crypto.h"
#include "k8s/kconn.h"

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/ambit-test-kconn-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *kubeconfig(void)
{
	static char path[256];
	char *ca = crypto_base64_encode("CA-PEM\n", 7), *crt = crypto_base64_encode("CERT", 4),
	     *key = crypto_base64_encode("KEY", 3), text[2048];

	snprintf(
	    text, sizeof(text),
	    "apiVersion: v1\nkind: Config\ncurrent-context: kind-a\n"
	    "clusters:\n"
	    "- name: a\n  cluster:\n    server: https://127.0.0.1:6443/\n"
	    "    certificate-authority-data: %s\n"
	    "- name: b\n  cluster:\n    server: https://api.example:443\n"
	    "    certificate-authority: ca.crt\n"
	    "- name: nourl\n  cluster: {insecure-skip-tls-verify: true}\n"
	    "- name: badca\n  cluster: {server: 'https://x', certificate-authority-data: '!!'}\n"
	    "- name: noca\n  cluster: {server: 'https://x', certificate-authority: gone.crt}\n"
	    "users:\n"
	    "- name: admin\n  user: {token: abc}\n"
	    "- name: robot\n  user:\n    tokenFile: tok\n    client-certificate-data: %s\n"
	    "    client-key-data: %s\n"
	    "- name: halfcert\n  user: {client-certificate-data: %s}\n"
	    "contexts:\n"
	    "- name: kind-a\n  context: {cluster: a, user: admin, namespace: shop}\n"
	    "- name: b\n  context: {cluster: b, user: robot}\n"
	    "- name: nourl\n  context: {cluster: nourl}\n"
	    "- name: nocluster\n  context: {user: admin}\n"
	    "- name: badca\n  context: {cluster: badca}\n"
	    "- name: noca\n  context: {cluster: noca}\n"
	    "- name: nouser\n  context: {cluster: a, user: ghost}\n"
	    "- name: halfcert\n  context: {cluster: a, user: halfcert}\n",
	    ca, crt, key, crt);
	free(ca);
	free(crt);
	free(key);
	put("config", text);
	put("ca.crt", "FILE-CA\n");
	put("tok", "tok-1\n");
	snprintf(path, sizeof(path), "%s/config", dir);
	return path;
}

static void test_kubeconfig(void **state)
{
	const char *path = kubeconfig();
	struct kconn c;
	char why[300];

	assert_int_equal(kconn_kubeconfig(&c, path, NULL, why, sizeof(why)), 0);
	assert_string_equal(c.server, "https://127.0.0.1:6443");
	assert_string_equal(c.ca_pem, "CA-PEM\n");
	assert_string_equal(c.token, "abc");
	assert_null(c.token_file);
	assert_string_equal(c.namespace, "shop");
	assert_null(c.cert_pem);
	assert_non_null(strstr(c.source, "context kind-a"));
	kconn_free(&c);
	/* Files relative to the kubeconfig's directory; a token file read again when it rotates. */
	assert_int_equal(kconn_kubeconfig(&c, path, "b", why, sizeof(why)), 0);
	assert_string_equal(c.server, "https://api.example:443");
	assert_string_equal(c.ca_pem, "FILE-CA\n");
	assert_string_equal(c.token, "tok-1");
	assert_string_equal(c.cert_pem, "CERT");
	assert_string_equal(c.key_pem, "KEY");
	put("tok", "tok-2");
	assert_int_equal(kconn_refresh_token(&c), 0);
	assert_string_equal(c.token, "tok-2");
	kconn_free(&c);
}

static void refused(const char *path, const char *context, int code, const char *want)
{
	struct kconn c;
	char why[300] = "";

	assert_int_equal(kconn_kubeconfig(&c, path, context, why, sizeof(why)), code);
	if (!strstr(why, want))
		fail_msg("\"%s\" does not say \"%s\"", why, want);
	assert_null(c.server);
}

static void test_kubeconfig_refusals(void **state)
{
	const char *path = kubeconfig();
	char other[256];

	refused(path, "nope", -EINVAL, "context \"nope\": not found");
	refused(path, "nocluster", -EINVAL,
		"context \"nocluster\": not found, or without a cluster");
	refused(path, "nourl", -EINVAL, "cluster \"nourl\": no server URL");
	refused(path, "badca", -EINVAL, "cluster.certificate-authority-data: not base64");
	refused(path, "noca", -ENOENT, "cluster.certificate-authority: ");
	refused(path, "nouser", -EINVAL, "user \"ghost\": not found");
	refused(path, "halfcert", -EINVAL, "a client certificate needs its key");
	snprintf(other, sizeof(other), "%s/none", dir);
	put("none", "apiVersion: v1\nkind: Config\n");
	refused(other, NULL, -EINVAL, "no current-context");
	put("none", "a: [b\n");
	refused(other, NULL, -EINVAL, "not YAML");
	snprintf(other, sizeof(other), "%s/missing", dir);
	refused(other, NULL, -ENOENT, "missing: ");
}

static void test_in_cluster(void **state)
{
	struct kconn c;
	char why[300] = "";

	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kconn_in_cluster(&c, dir, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(kconn_in_cluster(&c, dir, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "/token: "));
	put("token", "eyJhbGciOi.sa\n");
	put("ca.crt", "SA-CA\n");
	put("namespace", "ambit-system");
	assert_int_equal(kconn_in_cluster(&c, dir, why, sizeof(why)), 0);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.token, "eyJhbGciOi.sa");
	assert_string_equal(c.ca_pem, "SA-CA\n");
	assert_string_equal(c.namespace, "ambit-system");
	assert_string_equal(c.source, "in-cluster");
	kconn_free(&c);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	assert_int_equal(kconn_in_cluster(&c, dir, why, sizeof(why)), 0);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	kconn_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kubeconfig),
	    cmocka_unit_test(test_kubeconfig_refusals),
	    cmocka_unit_test(test_in_cluster),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
