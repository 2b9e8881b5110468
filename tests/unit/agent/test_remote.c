// SPDX-License-Identifier: Apache-2.0
/*
 * Remote clusters (remote.c): remote secrets of the local config name local clusters by their
 * run directory; the summary read there (network, east-west gateways, global Services' shares)
 * and how it follows the secrets and the remote's files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "agent/remote.h"
#include "../../lib/fake_api.h"

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
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	char sub[512];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/ambit-test-remote-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(sub, sizeof(sub), "%s/state", root);
	if (mkdir(sub, 0755))
		return -1;
	snprintf(sub, sizeof(sub), "%s/runtime", root);
	return mkdir(sub, 0755);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The remote cluster "east": its manifests and pods as `local up` keeps them. */
static const char *REMOTE_STATE =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n  labels:\n"
    "    topology.istio.io/network: network2\n---\n"
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sample\n  labels:\n"
    "    istio.io/dataplane-mode: ambient\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: helloworld\n  namespace: sample\n"
    "  labels: {istio.io/global: \"true\"}\nspec:\n  selector: {app: helloworld}\n"
    "  ports:\n  - {name: http, port: 5000}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: local-only\n  namespace: sample\n"
    "spec:\n  selector: {app: helloworld}\n  ports:\n  - {port: 80, targetPort: 5000}\n---\n"
    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n"
    "  name: istio-eastwestgateway\n  namespace: istio-system\nspec:\n"
    "  gatewayClassName: istio-east-west\n  listeners:\n  - name: mesh\n    port: 15008\n"
    "    protocol: HBONE\n    tls:\n      mode: Terminate\n      options:\n"
    "        gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL\n";

static const char *pods_json(int replicas)
{
	static char buf[2048];
	size_t n = 0;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"pods\":[");
	for (int i = 0; i < replicas; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "%s{\"namespace\":\"sample\",\"name\":\"hw-%d\","
				      "\"node\":\"node2\",\"ip\":\"10.98.2.%d\","
				      "\"serviceAccount\":\"hw%d\",\"labels\":{\"app\":"
				      "\"helloworld\"}}",
				      i ? "," : "", i, i + 2, i % 2);
	snprintf(buf + n, sizeof(buf) - n,
		 "],\"serviceIPs\":{\"sample/helloworld\":\"10.96.0.10\","
		 "\"sample/local-only\":\"10.96.0.11\"},"
		 "\"loadBalancerIPs\":{\"istio-system/istio-eastwestgateway\":\"172.30.2.100\"}}");
	return buf;
}

/* The local cluster's config: its remote secret for "east" (server @server), and @extra. */
static void local_config(struct config *cfg, const char *server, const char *extra)
{
	char text[4096];
	struct config_diags diags = {0};

	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Secret\nmetadata:\n  name: istio-remote-secret-east\n"
		 "  namespace: istio-system\n  labels:\n    istio/multiCluster: \"true\"\n"
		 "stringData:\n  east: |\n    apiVersion: v1\n    clusters:\n    - cluster:\n"
		 "        server: %s\n      name: east\n    contexts:\n    - context:\n"
		 "        cluster: east\n        user: east\n      name: east\n"
		 "    current-context: east\n    kind: Config\n    users:\n    - name: east\n"
		 "      user: {}\n%s",
		 server, extra ? extra : "");
	config_init(cfg);
	assert_int_equal(config_load_buffer(cfg, "local.yaml", text, strlen(text), &diags), 0);
	assert_int_equal(diags.n, 0);
	config_diags_free(&diags);
}

static const struct remote_env ENV = {
    .root_namespace = "istio-system",
    .cluster_id = "west",
    .trust_domain = "cluster.local",
};

/* Bumps @rel's change time (the poll looks at it). */
static void touch_later(const char *rel)
{
	char path[512];
	struct timespec ts[2];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec += 5;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_reads_local_cluster(void **state)
{
	struct remote_set rs = {0};
	struct config cfg;
	char server[128];
	bool changed = false;
	cJSON *st;

	(void)state;
	put("cluster.json", "{\"name\":\"east\",\"network\":\"ignored-label-wins\"}");
	put("state/objects.yaml", REMOTE_STATE);
	put("state/generation", "1\n");
	put("runtime/pods.json", pods_json(3));
	snprintf(server, sizeof(server), "file://%s", root);
	local_config(&cfg, server, NULL);
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_true(changed);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.items[0].name, "east");
	assert_string_equal(rs.items[0].network, "network2");
	assert_string_equal(rs.items[0].error, "");
	/* Its east-west gateway, at its balancer address, as its service account. */
	assert_int_equal(rs.n_gateways, 1);
	assert_string_equal(rs.gateways[0].network, "network2");
	assert_string_equal(rs.gateways[0].cluster, "east");
	assert_string_equal(rs.gateways[0].identity,
			    "spiffe://cluster.local/ns/istio-system/sa/istio-eastwestgateway");
	assert_int_equal(rs.gateways[0].ip, inet_addr("172.30.2.100"));
	assert_int_equal(rs.gateways[0].port, 15008);
	/* The global Service alone, with its three endpoints' two identities. */
	assert_int_equal(rs.n_services, 1);
	assert_string_equal(rs.services[0].hostname, "helloworld.sample.svc.cluster.local");
	assert_int_equal(rs.services[0].endpoints, 3);
	assert_int_equal(rs.services[0].n_ports, 1);
	assert_int_equal(rs.services[0].ports[0], 5000);
	assert_int_equal(rs.services[0].n_identities, 2);
	assert_false(remote_due(&rs));
	/* This cluster has no helloworld: made here, by name, at a VIP of its own. */
	assert_int_equal(rs.n_made, 1);
	assert_string_equal(rs.made[0].hostname, "helloworld.sample.svc.cluster.local");
	assert_string_equal(rs.made[0].name, "helloworld");
	assert_string_equal(rs.made[0].namespace, "sample");
	assert_int_equal(ntohl(rs.made[0].vip) >> 16, 0xf0f1);
	assert_int_equal(rs.made[0].vip6.family, AF_INET6);
	assert_int_equal(rs.made[0].nports, 1);
	assert_int_equal(rs.made[0].ports[0].port, 5000);
	assert_int_equal(rs.made[0].nendpoints, 0);

	/* The remote's pods change: due, read again, one endpoint now. */
	put("runtime/pods.json", pods_json(1));
	touch_later("runtime/pods.json");
	assert_true(remote_due(&rs));
	changed = false;
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_true(changed);
	assert_int_equal(rs.services[0].endpoints, 1);
	assert_int_equal(rs.services[0].n_identities, 1);

	/* Its status, as remote-clusters reads it. */
	st = remote_status(&rs);
	assert_non_null(st);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(st, 0), "status")->valuestring,
			    "synced");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(st, 0), "secret")->valuestring,
			    "istio-system/istio-remote-secret-east");
	cJSON_Delete(st);

	/* A broken manifest there keeps the last good summary. */
	put("runtime/pods.json", "{\"pods\": 7}");
	touch_later("runtime/pods.json");
	changed = false;
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_int_equal(rs.n_services, 1);
	assert_int_equal(rs.services[0].endpoints, 1);
	assert_non_null(strstr(rs.items[0].error, "pods.json"));
	st = remote_status(&rs);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(st, 0), "status")->valuestring,
			    "failed");
	cJSON_Delete(st);

	/* The secret deleted: the cluster goes. */
	config_free(&cfg);
	config_init(&cfg);
	changed = false;
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_true(changed);
	assert_int_equal(rs.n, 0);
	assert_int_equal(rs.n_services, 0);
	assert_int_equal(rs.n_gateways, 0);
	config_free(&cfg);
	remote_free(&rs);
}

static void test_local_scope_wins(void **state)
{
	struct remote_set rs = {0};
	struct config cfg;
	char server[128];
	bool changed = false;

	(void)state;
	put("cluster.json", "{\"name\":\"east\"}");
	put("state/objects.yaml", REMOTE_STATE);
	put("runtime/pods.json", pods_json(2));
	snprintf(server, sizeof(server), "file://%s", root);
	/* This cluster's helloworld is not global: the remote's share is not used here. */
	local_config(&cfg, server,
		     "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: helloworld\n"
		     "  namespace: sample\nspec:\n  selector: {app: helloworld}\n"
		     "  ports:\n  - {port: 5000}\n");
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_int_equal(rs.items[0].n_services, 1);
	assert_int_equal(rs.n_services, 0);
	assert_int_equal(rs.n_made, 0);
	config_free(&cfg);
	remote_free(&rs);
}

/*
 * A remote cluster of this cluster's network (one network, pods routed): its mesh workloads and
 * its global Services' endpoints are kept, and a Service of here of that hostname takes them
 * after its own (remote_peer_endpoints); one of another network's keeps none of them.
 */
static void test_one_network(void **state)
{
	struct remote_env env = ENV;
	struct remote_set rs = {0};
	struct snap_service mine = {0}, merged;
	uint32_t here = inet_addr("10.98.1.7");
	struct snap_ep_port here_port = {here, 5000, 8080};
	struct config cfg;
	char server[128];
	bool changed = false;

	(void)state;
	put("cluster.json", "{\"name\":\"east\"}");
	put("state/objects.yaml", REMOTE_STATE);
	put("runtime/pods.json", pods_json(2));
	snprintf(server, sizeof(server), "file://%s", root);
	local_config(&cfg, server, NULL);
	env.network = "network1"; /* not east's */
	assert_int_equal(remote_sync(&rs, &cfg, &env, &changed), 0);
	assert_int_equal(rs.n_peer_workloads, 0);
	assert_int_equal(rs.n_peer_services, 0);
	remote_free(&rs);

	env.network = "network2";
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(remote_sync(&rs, &cfg, &env, &changed), 0);
	/* Its two pods, named apart from this cluster's (a node "node2" of here is not theirs). */
	assert_int_equal(rs.n_peer_workloads, 2);
	assert_string_equal(rs.peer_workloads[0].uid, "east/sample/hw-0");
	assert_string_equal(rs.peer_workloads[0].node, "east/node2");
	assert_string_equal(rs.peer_workloads[0].identity,
			    "spiffe://cluster.local/ns/sample/sa/hw0");
	assert_int_equal(rs.peer_workloads[1].ip, inet_addr("10.98.2.3"));
	assert_true(rs.peer_workloads[1].enrolled);
	assert_int_equal(rs.peer_workloads[1].node_ip, 0);
	/* helloworld alone (local-only is not global), both endpoints with their port. */
	assert_int_equal(rs.n_peer_services, 1);
	assert_int_equal(rs.peer_services[0]->nendpoints, 2);
	assert_int_equal(rs.peer_services[0]->n_ep_ports, 2);
	assert_int_equal(rs.peer_services[0]->ep_ports[1].target_port, 5000);

	/* This cluster's helloworld: its endpoint first, then east's. */
	mine.hostname = (char *)"helloworld.sample.svc.cluster.local";
	mine.endpoints = &here;
	mine.nendpoints = 1;
	mine.ep_ports = &here_port;
	mine.n_ep_ports = 1;
	merged = mine;
	assert_int_equal(remote_peer_endpoints(&rs, &merged), 0);
	assert_int_equal(merged.nendpoints, 3);
	assert_int_equal(merged.endpoints[0], here);
	assert_int_equal(merged.endpoints[2], inet_addr("10.98.2.3"));
	assert_int_equal(merged.n_ep_ports, 3);
	assert_int_equal(merged.ep_ports[0].target_port, 8080);
	assert_int_equal(merged.ep_ports[1].port, 5000);
	remote_peer_endpoints_free(&merged, &mine);
	/* Another hostname: unchanged. */
	mine.hostname = (char *)"other.sample.svc.cluster.local";
	merged = mine;
	assert_int_equal(remote_peer_endpoints(&rs, &merged), 0);
	assert_ptr_equal(merged.endpoints, &here);
	remote_free(&rs);

	/* helloworld not global here: local scope, none of east's endpoints taken. */
	config_free(&cfg);
	local_config(&cfg, server,
		     "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: helloworld\n"
		     "  namespace: sample\nspec:\n  selector: {app: helloworld}\n"
		     "  ports:\n  - {port: 5000}\n");
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(remote_sync(&rs, &cfg, &env, &changed), 0);
	assert_int_equal(rs.n_peer_workloads, 2);
	assert_int_equal(rs.n_peer_services, 0);
	config_free(&cfg);
	remote_free(&rs);
}

static void test_unreadable_servers(void **state)
{
	struct remote_set rs = {0};
	struct config cfg;
	bool changed = false;

	(void)state;
	/* An API server that does not answer (nothing listens there): failed, saying why. */
	local_config(&cfg, "https://127.0.0.1:9", NULL);
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_int_equal(rs.n, 1);
	for (int i = 0; i < 100 && !remote_due(&rs); i++)
		usleep(50 * 1000);
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_non_null(strstr(rs.items[0].error, "/api/v1/namespaces"));
	assert_int_equal(rs.n_services, 0);
	config_free(&cfg);
	remote_free(&rs);
	/* Neither a directory nor an API server. */
	local_config(&cfg, "ftp://example", NULL);
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_int_equal(rs.n, 1);
	assert_non_null(strstr(rs.items[0].error, "neither a directory"));
	config_free(&cfg);
	remote_free(&rs);
	/* A directory that is no local cluster. */
	local_config(&cfg, "file:///nonexistent/ambit", NULL);
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_non_null(strstr(rs.items[0].error, "no local cluster"));
	assert_false(remote_due(&rs)); /* tried once; again when its files move */
	config_free(&cfg);
	remote_free(&rs);
	/* A secret naming this cluster itself is skipped, as Istio's. */
	config_init(&cfg);
	{
		static const char *self =
		    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: istio-remote-secret-west\n"
		    "  namespace: istio-system\n  labels:\n    istio/multiCluster: \"true\"\n"
		    "stringData:\n  west: \"current-context: x\"\n";
		struct config_diags diags = {0};

		assert_int_equal(config_load_buffer(&cfg, "self.yaml", self, strlen(self), &diags),
				 0);
		config_diags_free(&diags);
	}
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	assert_int_equal(rs.n, 0);
	config_free(&cfg);
	remote_free(&rs);
}

/* A remote cluster with an API server: the test API server, read as Kubernetes is. */
static void test_reads_api_server(void **state)
{
	static const char *const objs[][2] = {
	    {"/api/v1/namespaces",
	     "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
	     "\"istio-system\",\"labels\":{\"topology.istio.io/network\":\"network2\"}}}"},
	    {"/api/v1/namespaces",
	     "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
	     "\"sample\",\"labels\":{\"istio.io/dataplane-mode\":\"ambient\"}}}"},
	    {"/api/v1/namespaces/sample/services",
	     "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
	     "\"helloworld\",\"namespace\":\"sample\",\"labels\":{\"istio.io/global\":"
	     "\"true\"}},\"spec\":{\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":"
	     "[\"10.96.0.10\"],\"selector\":{\"app\":\"hw\"},\"ports\":[{\"port\":5000}]}}"},
	    {"/api/v1/namespaces/istio-system/services",
	     "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
	     "\"ew\",\"namespace\":\"istio-system\"},\"spec\":{\"type\":\"LoadBalancer\","
	     "\"clusterIP\":\"10.96.0.11\",\"clusterIPs\":[\"10.96.0.11\"],\"selector\":"
	     "{\"app\":\"ew\"},\"ports\":[{\"name\":\"mesh\",\"port\":15008}]},"
	     "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"172.30.2.100\"}]}}}"},
	    {"/api/v1/namespaces/sample/pods",
	     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hw-0\","
	     "\"namespace\":\"sample\",\"labels\":{\"app\":\"hw\"}},\"spec\":{\"nodeName\":"
	     "\"node2\",\"serviceAccountName\":\"hw\",\"containers\":[{\"name\":\"c\","
	     "\"image\":\"i\"}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.98.2.2\","
	     "\"podIPs\":[{\"ip\":\"10.98.2.2\"}]}}"},
	    {"/api/v1/namespaces/sample/pods",
	     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hw-1\","
	     "\"namespace\":\"sample\",\"labels\":{\"app\":\"hw\"}},\"spec\":{\"nodeName\":"
	     "\"node2\",\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]},\"status\":"
	     "{\"phase\":\"Pending\"}}"},
	    {"/apis/gateway.networking.k8s.io/v1/namespaces/istio-system/gateways",
	     "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"Gateway\","
	     "\"metadata\":{\"name\":\"ew\",\"namespace\":\"istio-system\"},\"spec\":"
	     "{\"gatewayClassName\":\"istio-east-west\",\"listeners\":[{\"name\":\"mesh\","
	     "\"port\":15008,\"protocol\":\"HBONE\"}]}}"},
	};
	struct fake_api fa;
	struct remote_set rs = {0};
	struct config cfg;
	char server[128];
	bool changed = false;

	(void)state;
	if (fake_api_start(&fa, 30000 + (int)(getpid() % 20000), "r34d3r"))
		fail_msg("the test API server did not start");
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		int st = fake_api_call(&fa, "POST", objs[i][0], objs[i][1], NULL);

		if (st != 201 && st != 200)
			fail_msg("POST %s: %d", objs[i][0], st);
	}
	snprintf(server, sizeof(server), "%s", fa.base);
	local_config(&cfg, server, NULL);
	{
		/* local_config's user has no credentials: give it the token. */
		struct config_secret *sec = &cfg.secrets[0];
		char *kc = NULL;

		assert_true(asprintf(&kc, "%s", sec->items[0].value) > 0);
		kc = realloc(kc, strlen(kc) + 64);
		strcpy(strstr(kc, "user: {}"), "user: {token: r34d3r}\n");
		free(sec->items[0].value);
		sec->items[0].value = kc;
		sec->items[0].len = strlen(kc);
	}
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	for (int i = 0; i < 200 && (!rs.n || !rs.items[0].synced); i++) {
		usleep(50 * 1000);
		if (remote_due(&rs))
			assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	}
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.items[0].error, "");
	/*
	 * The server stops answering (partitioned away), then answers again what it held: failed
	 * meanwhile, synced again after, though nothing it lists changed.
	 */
	kill(fa.pid, SIGSTOP);
	for (int i = 0; i < 400 && !rs.items[0].error[0]; i++) {
		usleep(50 * 1000);
		if (remote_due(&rs))
			assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	}
	kill(fa.pid, SIGCONT);
	assert_non_null(strstr(rs.items[0].error, "Timeout"));
	for (int i = 0; i < 200 && rs.items[0].error[0]; i++) {
		usleep(50 * 1000);
		if (remote_due(&rs))
			assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	}
	assert_string_equal(rs.items[0].error, "");
	assert_true(rs.items[0].synced);
	/* Other credentials in the secret (a token rotated, here a wrong one): read with them,
	 * the summary kept while they fail. */
	{
		struct config_secret *sec = &cfg.secrets[0];

		strcpy(strstr(sec->items[0].value, "r34d3r"), "wrong0}\n");
		sec->items[0].len = strlen(sec->items[0].value);
	}
	assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	for (int i = 0; i < 200 && !rs.items[0].error[0]; i++) {
		usleep(50 * 1000);
		if (remote_due(&rs))
			assert_int_equal(remote_sync(&rs, &cfg, &ENV, &changed), 0);
	}
	assert_non_null(strstr(rs.items[0].error, "HTTP 401"));
	assert_int_equal(rs.n_services, 1);
	fake_api_stop(&fa);
	assert_true(rs.items[0].synced);
	assert_string_equal(rs.items[0].network, "network2");
	assert_int_equal(rs.n_gateways, 1);
	assert_int_equal(rs.gateways[0].ip, inet_addr("172.30.2.100"));
	assert_string_equal(rs.gateways[0].identity,
			    "spiffe://cluster.local/ns/istio-system/sa/ew");
	/* The running pod alone: the pending one has no address. */
	assert_int_equal(rs.n_services, 1);
	assert_int_equal(rs.services[0].endpoints, 1);
	assert_string_equal(rs.services[0].identities[0], "spiffe://cluster.local/ns/sample/sa/hw");
	config_free(&cfg);
	remote_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reads_local_cluster, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_scope_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_network, setup, teardown),
	    cmocka_unit_test(test_unreadable_servers),
	    cmocka_unit_test(test_reads_api_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
