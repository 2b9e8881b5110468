// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's pure logic: pods.json parsing, desired-state computation and map diffs.
 * The unit-test link line has libambit.a but not the agent's objects, so the modules under test
 * are compiled into this binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/runtime.h"
#include "l4/desired.h"

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static const char *MANIFESTS = "apiVersion: v1\n"
			       "kind: Namespace\n"
			       "metadata:\n"
			       "  name: demo\n"
			       "  labels:\n"
			       "    istio.io/dataplane-mode: ambient\n"
			       "---\n"
			       "apiVersion: v1\n"
			       "kind: Namespace\n"
			       "metadata:\n"
			       "  name: legacy\n"
			       "---\n"
			       "apiVersion: apps/v1\n"
			       "kind: Deployment\n"
			       "metadata:\n"
			       "  name: web\n"
			       "  namespace: demo\n"
			       "spec:\n"
			       "  selector:\n"
			       "    matchLabels: {app: web}\n"
			       "  template:\n"
			       "    metadata:\n"
			       "      labels: {app: web}\n"
			       "    spec:\n"
			       "      serviceAccountName: web-sa\n"
			       "      containers:\n"
			       "      - name: web\n"
			       "        image: x\n"
			       "        ports:\n"
			       "        - name: http\n"
			       "          containerPort: 8080\n"
			       "---\n"
			       "apiVersion: v1\n"
			       "kind: Service\n"
			       "metadata:\n"
			       "  name: web\n"
			       "  namespace: demo\n"
			       "spec:\n"
			       "  selector: {app: web}\n"
			       "  ports:\n"
			       "  - name: http\n"
			       "    port: 80\n"
			       "    targetPort: http\n"
			       "  - name: admin\n"
			       "    port: 9000\n"
			       "---\n"
			       "apiVersion: v1\n"
			       "kind: Service\n"
			       "metadata:\n"
			       "  name: db\n"
			       "  namespace: legacy\n"
			       "spec:\n"
			       "  clusterIP: 'fd00:96::99'\n"
			       "  clusterIPs: ['fd00:96::99', 10.96.0.99]\n"
			       "  ipFamilies: [IPv6, IPv4]\n"
			       "  ipFamilyPolicy: RequireDualStack\n"
			       "  selector: {app: db}\n"
			       "  ports:\n"
			       "  - port: 5432\n"
			       "    targetPort: 15432\n";

/* web-1 local, web-2 remote, web-3 local but opted out, db-1 local in a plain namespace,
 * and a pod labelled app=web in another namespace that must not become a web endpoint. */
static const char *PODS =
    "{\"pods\":["
    "{\"namespace\":\"demo\",\"name\":\"web-1\",\"uid\":\"demo/web-1\",\"owner\":\"web\","
    " \"node\":\"node1\",\"ip\":\"10.98.1.2\",\"cgroup\":\"/cg/demo_web-1\","
    " \"hostIface\":\"amb000001\",\"serviceAccount\":\"web-sa\",\"labels\":{\"app\":\"web\"}},"
    "{\"namespace\":\"demo\",\"name\":\"web-2\",\"owner\":\"web\",\"node\":\"node2\","
    " \"ip\":\"10.98.2.2\",\"cgroup\":\"/cg/demo_web-2\",\"hostIface\":\"amb000002\","
    " \"serviceAccount\":\"web-sa\",\"labels\":{\"app\":\"web\",\"version\":\"v2\"}},"
    "{\"namespace\":\"demo\",\"name\":\"web-3\",\"owner\":\"web\",\"node\":\"node1\","
    " \"ip\":\"10.98.1.3\",\"cgroup\":\"/cg/demo_web-3\",\"hostIface\":\"amb000003\","
    " \"labels\":{\"app\":\"web\",\"istio.io/dataplane-mode\":\"none\"}},"
    "{\"namespace\":\"legacy\",\"name\":\"db-1\",\"owner\":null,\"node\":\"node1\","
    " \"ip\":\"10.98.1.4\",\"cgroup\":\"/cg/legacy_db-1\",\"hostIface\":\"amb000004\","
    " \"labels\":{\"app\":\"db\"}},"
    "{\"namespace\":\"legacy\",\"name\":\"imp\",\"node\":\"node2\",\"ip\":\"10.98.2.9\","
    " \"labels\":{\"app\":\"web\",\"app.kubernetes.io/name\":\"imp-kube\","
    " \"service.istio.io/canonical-name\":\"importer\",\"version\":\"v9\","
    " \"app.kubernetes.io/version\":\"1.2\"}}"
    "],\"serviceIPs\":{\"demo/web\":\"10.96.0.10\",\"legacy/db\":\"10.96.0.11\"}}";

static const char *CLUSTER =
    "{\"name\":\"ambit\",\"nodes\":[{\"name\":\"node1\",\"ip\":\"10.99.0.11\"},"
    "{\"name\":\"node2\",\"ip\":\"10.99.0.12\"}]}";

static int fake_ifindex(const char *name, void *ctx)
{
	/* amb000001 -> 101, ...; anything else is unknown. */
	if (strncmp(name, "amb", 3) != 0)
		return 0;
	return 100 + atoi(name + 3);
}

static uint64_t fake_cgroup(const char *path, void *ctx)
{
	uint64_t h = 1469598103934665603ull;

	for (; *path; path++)
		h = (h ^ (unsigned char)*path) * 1099511628211ull;
	return h;
}

struct fixture {
	bool ipv6; /* the node is dual stack (desired_env.ipv6) */
	/* desired_env's other clusters' global Services, and those made for them */
	const struct snap_remote_service *remote;
	size_t n_remote;
	const struct snap_service *made;
	size_t n_made;
	struct config cfg;
	struct runtime rt;
	struct rt_cluster cluster;
	struct desired d;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct config_diags diags = {0};
	char err[256] = "";

	assert_non_null(f);
	config_init(&f->cfg);
	assert_int_equal(
	    config_load_buffer(&f->cfg, "m.yaml", MANIFESTS, strlen(MANIFESTS), &diags), 0);
	config_diags_free(&diags);
	assert_int_equal(runtime_parse(PODS, strlen(PODS), &f->rt, err, sizeof(err)), 0);
	assert_int_equal(
	    runtime_cluster_parse(CLUSTER, strlen(CLUSTER), &f->cluster, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	desired_free(&f->d);
	runtime_free(&f->rt);
	runtime_cluster_free(&f->cluster);
	config_free(&f->cfg);
	free(f);
	return 0;
}

static void compute(struct fixture *f)
{
	struct desired_env env = {
	    .node = "node1",
	    .node_ip = ip("10.99.0.11"),
	    .trust_domain = "cluster.local",
	    .cluster = &f->cluster,
	    .ifindex_of = fake_ifindex,
	    .cgroup_id_of = fake_cgroup,
	    .ipv6 = f->ipv6,
	    .remote = f->remote,
	    .n_remote = f->n_remote,
	    .made = f->made,
	    .n_made = f->n_made,
	};

	desired_free(&f->d);
	assert_int_equal(desired_compute(&f->cfg, &f->rt, &env, &f->d), 0);
}

static const struct ambit_workload *wl_of(const struct desired *d, const char *addr)
{
	for (size_t i = 0; i < d->n_workloads; i++)
		if (d->workloads[i].key == ip(addr))
			return (const struct ambit_workload *)d->workloads[i].val;
	return NULL;
}

static void test_enrollment(void **state)
{
	struct fixture *f = *state;
	const struct ambit_workload *w;
	const struct desired_local_pod *lp;

	compute(f);
	assert_int_equal(f->d.n_workloads, 5);
	w = wl_of(&f->d, "10.98.1.2");
	assert_non_null(w);
	assert_int_equal(w->flags, AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL);
	assert_int_equal(w->ifindex, 101);
	assert_int_equal(w->node_ip, ip("10.99.0.11"));
	w = wl_of(&f->d, "10.98.2.2"); /* remote: node IP from cluster.json, no ifindex */
	assert_int_equal(w->flags, AMBIT_WL_ENROLLED);
	assert_int_equal(w->ifindex, 0);
	assert_int_equal(w->node_ip, ip("10.99.0.12"));
	w = wl_of(&f->d, "10.98.1.3"); /* opted out with the pod label */
	assert_int_equal(w->flags, AMBIT_WL_LOCAL);
	w = wl_of(&f->d, "10.98.1.4"); /* namespace not ambient */
	assert_int_equal(w->flags, AMBIT_WL_LOCAL);

	/* Only the local enrolled pod is captured by cgroup; every local pod gets anti-spoofing. */
	assert_int_equal(f->d.n_enrolled, 1);
	assert_true(f->d.enrolled[0].key == fake_cgroup("/cg/demo_web-1", NULL));
	assert_int_equal(((struct ambit_enrolled *)f->d.enrolled[0].val)->pod_ip, ip("10.98.1.2"));
	assert_int_equal(f->d.n_ifaces, 3);
	assert_int_equal(f->d.ifaces[0].key, 101);
	assert_int_equal(((struct ambit_iface *)f->d.ifaces[2].val)->pod_ip, ip("10.98.1.4"));
	assert_int_equal(f->d.n_local, 3);
	lp = desired_local_pod(&f->d, "demo/web-3");
	assert_non_null(lp);
	assert_false(lp->enrolled);
	assert_int_equal(lp->ifindex, 103);
	assert_null(desired_local_pod(&f->d, "demo/web-2"));

	/* Certificates only for identities of local enrolled pods. */
	assert_int_equal(f->d.n_identities, 1);
	assert_string_equal(f->d.identities[0], "spiffe://cluster.local/ns/demo/sa/web-sa");

	/* Snapshot workloads carry every pod, sorted by IP, with Istio-style names. */
	assert_int_equal(f->d.n_snap_workloads, 5);
	assert_int_equal(f->d.snap_workloads[0].ip, ip("10.98.1.2"));
	assert_string_equal(f->d.snap_workloads[0].workload_name, "web");
	assert_string_equal(f->d.snap_workloads[0].app, "web");
	assert_string_equal(f->d.snap_workloads[0].version, "latest");
	assert_string_equal(f->d.snap_workloads[3].name, "web-2");
	assert_string_equal(f->d.snap_workloads[3].version, "v2");
	assert_string_equal(f->d.snap_workloads[2].service_account, "default");
	assert_string_equal(f->d.snap_workloads[2].workload_name, "db-1");
	/* Istio's canonical service and revision: the first label set of each list, else defaults.
	 */
	for (size_t i = 0; i < f->d.n_snap_workloads; i++) {
		const struct snap_workload *w = &f->d.snap_workloads[i];
		const char *svc = !strcmp(w->name, "imp")    ? "importer"
				  : !strcmp(w->name, "db-1") ? "db"
							     : "web";
		const char *rev = !strcmp(w->name, "imp")     ? "1.2"
				  : !strcmp(w->name, "web-2") ? "v2"
							      : "latest";

		assert_string_equal(w->canonical_service, svc);
		assert_string_equal(w->canonical_revision, rev);
	}
}

static void test_unenroll_namespace_is_live(void **state)
{
	struct fixture *f = *state;
	struct config_namespace *ns = NULL;
	struct dp_diff diff;
	struct desired before;

	compute(f);
	before = f->d;
	memset(&f->d, 0, sizeof(f->d));
	for (size_t i = 0; i < f->cfg.n_namespaces; i++)
		if (strcmp(f->cfg.namespaces[i].meta.name, "demo") == 0)
			ns = &f->cfg.namespaces[i];
	assert_non_null(ns);
	free(ns->meta.labels.items[0].value);
	ns->meta.labels.items[0].value = strdup("none");
	compute(f);

	/* Unenrolling removes the capture entry and rewrites flags, nothing else. */
	assert_int_equal(dp_diff_compute(before.enrolled, before.n_enrolled, f->d.enrolled,
					 f->d.n_enrolled, &diff),
			 0);
	assert_int_equal(diff.n_del, 1);
	assert_int_equal(diff.n_set, 0);
	dp_diff_free(&diff);
	assert_int_equal(
	    dp_diff_compute(before.ifaces, before.n_ifaces, f->d.ifaces, f->d.n_ifaces, &diff), 0);
	assert_int_equal(diff.n_del + diff.n_set, 0);
	dp_diff_free(&diff);
	assert_int_equal(dp_diff_compute(before.workloads, before.n_workloads, f->d.workloads,
					 f->d.n_workloads, &diff),
			 0);
	assert_int_equal(diff.n_del, 0);
	assert_int_equal(diff.n_set, 2); /* web-1 and web-2 lose ENROLLED */
	dp_diff_free(&diff);
	assert_int_equal(f->d.n_identities, 0);
	desired_free(&before);
}

static const struct dp_service *svc_of(const struct desired *d, const char *vip, uint16_t port)
{
	for (size_t i = 0; i < d->n_services; i++)
		if (d->services[i].vip == ip(vip) && d->services[i].port == port)
			return &d->services[i];
	return NULL;
}

static void test_services(void **state)
{
	struct fixture *f = *state;
	const struct dp_service *s;

	compute(f);
	assert_int_equal(f->d.n_services, 3);
	/* Named targetPort resolved through the Deployment's container port; same namespace only.
	 */
	s = svc_of(&f->d, "10.96.0.10", 80);
	assert_non_null(s);
	assert_int_equal(s->n, 3);
	for (uint32_t i = 0; i < s->n; i++) {
		assert_int_equal(s->backends[i].port, 8080);
		assert_true(s->backends[i].ip != ip("10.98.2.9"));
	}
	/* Omitted targetPort = port. */
	s = svc_of(&f->d, "10.96.0.10", 9000);
	assert_non_null(s);
	assert_int_equal(s->n, 3);
	assert_int_equal(s->backends[0].port, 9000);
	/*
	 * spec.clusterIPs' IPv4 address wins over the runtime's allocation (the Service is dual
	 * stack, IPv6 first: its clusterIP is the IPv6 one).
	 */
	assert_null(svc_of(&f->d, "10.96.0.11", 5432));
	s = svc_of(&f->d, "10.96.0.99", 5432);
	assert_non_null(s);
	assert_int_equal(s->n, 1);
	assert_int_equal(s->backends[0].ip, ip("10.98.1.4"));
	assert_int_equal(s->backends[0].port, 15432);
	/* Its IPv6 VIP too, with no backend: db-1 has no IPv6 address. */
	assert_int_equal(f->d.n_services6, 1);
	assert_int_equal(f->d.services6[0].port, 5432);
	assert_int_equal(f->d.services6[0].n, 0);

	assert_int_equal(f->d.n_snap_services, 2);
	assert_string_equal(f->d.snap_services[0].namespace, "demo");
	assert_string_equal(f->d.snap_services[0].hostname, "web.demo.svc.cluster.local");
	assert_int_equal(f->d.snap_services[0].nendpoints, 3);
	assert_int_equal(f->d.snap_services[0].ports[0].target_port, 8080);

	/* A pod not Ready (or being deleted) is no endpoint, but stays a workload. */
	{
		size_t workloads = f->d.n_snap_workloads;
		uint32_t out = svc_of(&f->d, "10.96.0.10", 80)->backends[0].ip;

		for (size_t i = 0; i < f->rt.n_pods; i++)
			if (f->rt.pods[i].ip == out)
				f->rt.pods[i].not_ready = true;
		compute(f);
		s = svc_of(&f->d, "10.96.0.10", 80);
		assert_int_equal(s->n, 2);
		for (uint32_t i = 0; i < s->n; i++)
			assert_true(s->backends[i].ip != out);
		assert_int_equal(f->d.snap_services[0].nendpoints, 2);
		assert_int_equal(f->d.n_snap_workloads, workloads);
	}
}

/*
 * Services without a selector: endpoints from their EndpointSlices (ready ones, each slice's port
 * of the Service port's name); without any slice, left out (the ztunnel passes their address
 * through, as the node routes it).
 */
static void test_selectorless_services(void **state)
{
	static const char more[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: demo}\n"
	    "spec: {clusterIP: 10.96.0.50, ports: [{name: http, port: 80}, {name: grpc, port: "
	    "90}]}\n"
	    "---\napiVersion: v1\nkind: Service\nmetadata: {name: lonely, namespace: demo}\n"
	    "spec: {clusterIP: 10.96.0.51, ports: [{port: 5432}]}\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: ext-a, namespace: demo, labels: {kubernetes.io/service-name: ext}}\n"
	    "addressType: IPv4\nports: [{name: http, port: 8080}]\n"
	    "endpoints: [{addresses: [10.98.1.2]}, {addresses: [10.98.9.9], conditions: {ready: "
	    "false}}]\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: ext-b, namespace: demo, labels: {kubernetes.io/service-name: ext}}\n"
	    "addressType: IPv4\nports: [{name: http, port: 8081}, {name: grpc, port: 9090}]\n"
	    "endpoints: [{addresses: [10.98.2.2], conditions: {ready: true}}, "
	    "{addresses: [10.98.1.2]}]\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: ext-v6, namespace: demo, labels: {kubernetes.io/service-name: ext}}\n"
	    "addressType: IPv6\nports: [{name: http, port: 8080}]\nendpoints: [{addresses: "
	    "['fd00::1']}]\n";
	struct fixture *f = *state;
	struct config_diags diags = {0};
	const struct dp_service *s;
	const struct snap_service *ss = NULL;

	assert_int_equal(config_load_buffer(&f->cfg, "more.yaml", more, strlen(more), &diags), 0);
	config_diags_free(&diags);
	compute(f);
	s = svc_of(&f->d, "10.96.0.50", 80);
	assert_non_null(s);
	assert_int_equal(s->n, 3);
	assert_int_equal(s->backends[0].ip, ip("10.98.1.2"));
	assert_int_equal(s->backends[0].port, 8080);
	assert_int_equal(s->backends[1].ip, ip("10.98.2.2"));
	assert_int_equal(s->backends[1].port, 8081);
	assert_int_equal(s->backends[2].ip, ip("10.98.1.2"));
	assert_int_equal(s->backends[2].port, 8081);
	/* Only ext-b serves grpc. */
	s = svc_of(&f->d, "10.96.0.50", 90);
	assert_non_null(s);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->backends[0].port, 9090);
	for (size_t i = 0; i < f->d.n_snap_services; i++)
		if (!strcmp(f->d.snap_services[i].name, "ext"))
			ss = &f->d.snap_services[i];
		else
			assert_string_not_equal(f->d.snap_services[i].name, "lonely");
	assert_non_null(ss);
	assert_int_equal(ss->nendpoints, 2); /* once each; not the one not ready */
	assert_int_equal(ss->endpoints[0], ip("10.98.1.2"));
	assert_int_equal(ss->endpoints[1], ip("10.98.2.2"));
	assert_int_equal(ss->ports[0].target_port, 8080);
	assert_null(svc_of(&f->d, "10.96.0.51", 5432));
}

/* Waypoint bindings reach the ztunnel's snapshot: the Service, not its pods (service waypoint). */
static void test_waypoint_bindings(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
	    "  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: wp, namespace: demo}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\n"
	    "spec: {selector: {app: web}, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: wp\n  namespace: demo\n"
	    "  labels: {gateway.istio.io/managed: istio.io-mesh-controller}\n"
	    "spec: {selector: {gateway.networking.k8s.io/gateway-name: wp}, ports: [{port: "
	    "15008}]}\n";
	static const char pods[] =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"web-1\",\"node\":\"node1\","
	    " \"ip\":\"10.98.1.2\",\"labels\":{\"app\":\"web\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"wp-0\",\"node\":\"node2\",\"ip\":\"10.98.2.7\","
	    " \"serviceAccount\":\"wp\",\"labels\":{\"gateway.networking.k8s.io/"
	    "gateway-name\":\"wp\"}}"
	    "],\"serviceIPs\":{\"demo/web\":\"10.96.0.10\",\"demo/wp\":\"10.96.0.20\"}}";
	struct fixture *f = *state;
	struct config_diags diags = {0};
	char err[256] = "";
	const struct snap_service *web = NULL;

	config_free(&f->cfg);
	runtime_free(&f->rt);
	config_init(&f->cfg);
	assert_int_equal(config_load_buffer(&f->cfg, "w.yaml", yaml, strlen(yaml), &diags), 0);
	config_diags_free(&diags);
	assert_int_equal(runtime_parse(pods, strlen(pods), &f->rt, err, sizeof(err)), 0);
	compute(f);
	for (size_t i = 0; i < f->d.n_snap_services; i++) {
		if (!strcmp(f->d.snap_services[i].name, "web"))
			web = &f->d.snap_services[i];
		else
			assert_null(f->d.snap_services[i].waypoint); /* the waypoint's own */
	}
	assert_non_null(web);
	assert_non_null(web->waypoint);
	assert_string_equal(web->waypoint->name, "demo/wp");
	assert_string_equal(web->waypoint->identity, "spiffe://cluster.local/ns/demo/sa/wp");
	assert_int_equal(web->waypoint->port, 15008);
	assert_int_equal(web->waypoint->n_addresses, 2);
	assert_int_equal(web->waypoint->addresses[0], ip("10.96.0.20"));
	assert_int_equal(web->waypoint->addresses[1], ip("10.98.2.7"));
	for (size_t i = 0; i < f->d.n_snap_workloads; i++)
		assert_null(f->d.snap_workloads[i].waypoint);
}

static void test_named_port_unresolvable(void **state)
{
	struct fixture *f = *state;
	const struct dp_service *s;

	/* Without the Deployment nobody declares "http": no backend, and a warning says why. */
	for (size_t i = 0; i < f->cfg.n_deployments; i++) {
		free(f->cfg.deployments[i].meta.name);
		f->cfg.deployments[i].meta.name = strdup("other");
	}
	compute(f);
	s = svc_of(&f->d, "10.96.0.10", 80);
	assert_non_null(s);
	assert_int_equal(s->n, 0);
	assert_true(f->d.n_warnings >= 1);
	assert_non_null(strstr(f->d.warnings[0], "no port named http"));
}

static void test_duplicate_ip_and_missing_vip(void **state)
{
	struct fixture *f = *state;
	const char *pods =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"a\",\"node\":\"node1\",\"ip\":\"10.0.0.1\"},"
	    "{\"namespace\":\"demo\",\"name\":\"b\",\"node\":\"node3\",\"ip\":\"10.0.0.1\"}]}";
	char err[256];

	runtime_free(&f->rt);
	assert_int_equal(runtime_parse(pods, strlen(pods), &f->rt, err, sizeof(err)), 0);
	compute(f);
	assert_int_equal(f->d.n_workloads, 1);
	/* demo/web has neither clusterIP nor a runtime IP now: skipped, not a zero VIP. */
	assert_null(svc_of(&f->d, "0.0.0.0", 80));
	assert_int_equal(f->d.n_snap_services, 1);
	assert_true(f->d.n_warnings >= 2);
}

static const struct ambit_workload *wl6_of(const struct desired *d, const char *addr)
{
	struct in6_addr want, got;

	assert_int_equal(inet_pton(AF_INET6, addr, &want), 1);
	for (size_t i = 0; i < d->n_workloads6; i++) {
		dp_entry_key16(&d->workloads6[i], &got);
		if (!memcmp(&got, &want, sizeof(got)))
			return (const struct ambit_workload *)d->workloads6[i].val;
	}
	return NULL;
}

/* The dp_service6 of @d at @vip (text), port @port, or NULL. */
static const struct dp_service6 *svc6_of(const struct desired *d, const char *vip, uint16_t port)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, vip, &a), 1);
	for (size_t i = 0; i < d->n_services6; i++)
		if (!memcmp(&d->services6[i].vip, &a, sizeof(a)) && d->services6[i].port == port)
			return &d->services6[i];
	return NULL;
}

/* The snapshot's Service @name (namespace demo) of @d, or NULL. */
static const struct snap_service *snap_svc_of(const struct desired *d, const char *name)
{
	for (size_t i = 0; i < d->n_snap_services; i++)
		if (!strcmp(d->snap_services[i].namespace, "demo") &&
		    !strcmp(d->snap_services[i].name, name))
			return &d->snap_services[i];
	return NULL;
}

/*
 * A waypoint's IPv6 addresses reach the binding beside its IPv4 ones: its Service's vip6 (it
 * is served), then its instances' ip6; an instance of IPv6 alone (ip 0, as an IPv6-only
 * cluster's pods) is one by its ip6 and never listed as 0.0.0.0.
 */
static void test_waypoint_bindings_ipv6(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
	    "  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: wp, namespace: demo}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\n"
	    "spec: {clusterIP: 'fd00:96::10', clusterIPs: ['fd00:96::10'], ipFamilies: [IPv6],"
	    " selector: {app: web}, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: wp\n  namespace: demo\n"
	    "spec: {clusterIP: 'fd00:96::20', clusterIPs: ['fd00:96::20'], ipFamilies: [IPv6],"
	    " selector: {gateway.networking.k8s.io/gateway-name: wp}, ports: [{port: 15008}]}\n";
	static const char pods[] =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"web-1\",\"node\":\"node1\","
	    " \"ip\":\"10.98.1.2\",\"ip6\":\"fd00:98:1::2\",\"labels\":{\"app\":\"web\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"wp-0\",\"node\":\"node2\",\"ip\":\"10.98.2.7\","
	    " \"ip6\":\"fd00:98:2::7\",\"serviceAccount\":\"wp\",\"labels\":{"
	    "\"gateway.networking.k8s.io/gateway-name\":\"wp\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"wp-1\",\"node\":\"node2\",\"ip\":\"10.98.2.8\","
	    " \"ip6\":\"fd00:98:2::8\",\"serviceAccount\":\"wp\",\"labels\":{"
	    "\"gateway.networking.k8s.io/gateway-name\":\"wp\"}}]}";
	struct fixture *f = *state;
	struct config_diags diags = {0};
	char err[256] = "", txt[IPADDR_STRLEN];
	const struct snap_service *web;

	config_free(&f->cfg);
	runtime_free(&f->rt);
	config_init(&f->cfg);
	assert_int_equal(config_load_buffer(&f->cfg, "w.yaml", yaml, strlen(yaml), &diags), 0);
	config_diags_free(&diags);
	assert_int_equal(runtime_parse(pods, strlen(pods), &f->rt, err, sizeof(err)), 0);
	/* wp-1 of IPv6 alone, as the runtime holds such a pod. */
	for (size_t i = 0; i < f->rt.n_pods; i++)
		if (!strcmp(f->rt.pods[i].name, "wp-1"))
			f->rt.pods[i].ip = 0;
	compute(f);
	web = snap_svc_of(&f->d, "web");
	assert_non_null(web);
	assert_non_null(web->waypoint);
	/* No IPv4 VIP to list; wp-1 is no IPv4 instance. */
	assert_int_equal(web->waypoint->n_addresses, 1);
	assert_int_equal(web->waypoint->addresses[0], ip("10.98.2.7"));
	assert_int_equal(web->waypoint->n_addresses6, 3);
	assert_string_equal(ipaddr_format(&web->waypoint->addresses6[0], txt, sizeof(txt)),
			    "fd00:96::20");
	assert_string_equal(ipaddr_format(&web->waypoint->addresses6[1], txt, sizeof(txt)),
			    "fd00:98:2::7");
	assert_string_equal(ipaddr_format(&web->waypoint->addresses6[2], txt, sizeof(txt)),
			    "fd00:98:2::8");
}

/*
 * A SingleStack IPv6 Service, by its clusterIPs (the Kubernetes source) or by the runtime's
 * serviceIPs6 alone (the local cluster): balanced at its IPv6 VIP to the selected pods' IPv6
 * addresses, nothing at an IPv4 VIP, in the snapshot with vip 0 and its vip6, no warning.
 */
static void test_ipv6_only_service(void **state)
{
	struct fixture *f = *state;
	static const char pods[] =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"a\",\"node\":\"node1\",\"ip\":\"10.98.1.2\","
	    " \"ip6\":\"fd00:98:1::2\",\"labels\":{\"app\":\"six\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"b\",\"node\":\"node2\",\"ip\":\"10.98.2.2\","
	    " \"ip6\":\"fd00:98:2::2\",\"labels\":{\"app\":\"six\"}}],"
	    "\"serviceIPs6\":{\"demo/six-rt\":\"fd00:96::71\"}}";
	static const char svc[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: demo}\n"
	    "spec: {clusterIP: 'fd00:96::70', clusterIPs: ['fd00:96::70'], ipFamilies: [IPv6],"
	    " ipFamilyPolicy: SingleStack, selector: {app: six},"
	    " ports: [{port: 80, targetPort: 8080}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six-rt, namespace: demo}\n"
	    "spec: {ipFamilies: [IPv6], selector: {app: six}, ports: [{port: 81}]}\n";
	struct config_diags diags = {0};
	const struct dp_service6 *s6;
	const struct snap_service *ss;
	struct in6_addr want;
	char err[256], txt[IPADDR_STRLEN];

	runtime_free(&f->rt);
	assert_int_equal(runtime_parse(pods, strlen(pods), &f->rt, err, sizeof(err)), 0);
	assert_int_equal(config_load_buffer(&f->cfg, "six.yaml", svc, strlen(svc), &diags), 0);
	config_diags_free(&diags);
	compute(f);
	for (size_t i = 0; i < f->d.n_warnings; i++)
		if (strstr(f->d.warnings[i], "six"))
			fail_msg("warned: %s", f->d.warnings[i]);
	s6 = svc6_of(&f->d, "fd00:96::70", 80);
	assert_non_null(s6);
	assert_int_equal(s6->n, 2);
	assert_int_equal(inet_pton(AF_INET6, "fd00:98:1::2", &want), 1);
	assert_memory_equal(s6->backends[0].ip6, &want, sizeof(want));
	assert_int_equal(s6->backends[0].port, htons(8080));
	s6 = svc6_of(&f->d, "fd00:96::71", 81);
	assert_non_null(s6);
	assert_int_equal(s6->n, 2);
	assert_int_equal(s6->backends[1].port, htons(81));
	/* Nothing at an IPv4 VIP: no 0.0.0.0 entry for the kernel to balance. */
	for (size_t i = 0; i < f->d.n_services; i++)
		assert_int_not_equal(f->d.services[i].vip, 0);
	ss = snap_svc_of(&f->d, "six");
	assert_non_null(ss);
	assert_int_equal(ss->vip, 0);
	assert_string_equal(ipaddr_format(&ss->vip6, txt, sizeof(txt)), "fd00:96::70");
	assert_int_equal(ss->nendpoints, 2);
	ss = snap_svc_of(&f->d, "six-rt");
	assert_non_null(ss);
	assert_int_equal(ss->vip, 0);
	assert_string_equal(ipaddr_format(&ss->vip6, txt, sizeof(txt)), "fd00:96::71");
}

/*
 * A Service's ports by protocol, as kube-proxy balances them: TCP and UDP port 53 are two
 * entries of one VIP (keyed apart, each with its own target port), dual stack too; an SCTP port
 * is not balanced in the kernel at all; the diff tells the two 53s apart.
 */
/* The world anew: @pods (runtime JSON) and @yaml (loaded as @name), computed. */
static void load_world(struct fixture *f, const char *pods, const char *name, const char *yaml)
{
	struct config_diags diags = {0};
	char err[256];

	runtime_free(&f->rt);
	assert_int_equal(runtime_parse(pods, strlen(pods), &f->rt, err, sizeof(err)), 0);
	config_free(&f->cfg);
	config_init(&f->cfg);
	assert_int_equal(config_load_buffer(&f->cfg, name, yaml, strlen(yaml), &diags), 0);
	config_diags_free(&diags);
	compute(f);
}

static void test_service_protocols(void **state)
{
	struct fixture *f = *state;
	static const char pods[] =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"dns-0\",\"node\":\"node1\",\"ip\":\"10.98.1.7\","
	    " \"ip6\":\"fd00:98:1::7\",\"labels\":{\"app\":\"dns\"}}]}";
	static const char svc[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: demo}\n"
	    "spec: {clusterIP: 10.96.0.53, clusterIPs: [10.96.0.53, 'fd00:96::53'],"
	    " ipFamilies: [IPv4, IPv6], selector: {app: dns},"
	    " ports: [{name: dns-tcp, port: 53, targetPort: 5353},"
	    " {name: dns, port: 53, protocol: UDP, targetPort: 5354},"
	    " {name: sctp, port: 9999, protocol: SCTP}]}\n";
	const struct dp_service *tcp = NULL, *udp = NULL;
	struct dp_service_diff d;
	size_t n6 = 0;

	load_world(f, pods, "dns.yaml", svc);
	assert_int_equal(dp_service_proto(NULL), 0);
	assert_int_equal(dp_service_proto("udp"), IPPROTO_UDP);
	assert_int_equal(dp_service_proto("SCTP"), -1);
	for (size_t i = 0; i < f->d.n_services; i++) {
		const struct dp_service *s = &f->d.services[i];

		assert_int_equal(s->vip, ip("10.96.0.53"));
		assert_int_equal(s->port, 53); /* 9999 (SCTP) is not there */
		if (s->proto == IPPROTO_UDP)
			udp = s;
		else if (s->proto == 0)
			tcp = s;
	}
	assert_int_equal(f->d.n_services, 2);
	assert_non_null(tcp);
	assert_non_null(udp);
	assert_int_equal(tcp->n, 1);
	assert_int_equal(tcp->backends[0].port, 5353);
	assert_int_equal(udp->n, 1);
	assert_int_equal(udp->backends[0].port, 5354);
	/* The order the diff and the agent's look-ups go by: TCP before UDP at one port. */
	assert_true(dp_service_cmp(tcp, udp) < 0);
	assert_true(dp_service_key(tcp) != dp_service_key(udp));
	for (size_t i = 0; i < f->d.n_services6; i++) {
		const struct dp_service6 *s6 = &f->d.services6[i];

		assert_int_equal(s6->port, 53);
		assert_int_equal(s6->backends[0].port,
				 htons(s6->proto == IPPROTO_UDP ? 5354 : 5353));
		n6++;
	}
	assert_int_equal(n6, 2);
	/* UDP's 53 gone: only it is deleted, TCP's stays as it is. */
	assert_int_equal(dp_service_diff_compute(f->d.services, 2, tcp, 1, &d), 0);
	assert_int_equal(d.n_set, 0);
	assert_int_equal(d.n_del, 1);
	assert_int_equal(d.del[0].proto, IPPROTO_UDP);
	dp_service_diff_free(&d);
}

/*
 * Selectorless Services' IPv6 EndpointSlices in the snapshot, for the ztunnel: a dual-stack
 * one's IPv4 slice's ready endpoints in endpoints, its IPv6 slices' (once each, ready ones) in
 * endpoints6; an IPv6-only one (its IPv6 slice alone) is not left out: vip6, endpoints6 and
 * its slice's port as the target port, balanced at its IPv6 VIP, nothing at an IPv4 one.
 */
static void test_selectorless_ipv6_slices(void **state)
{
	static const char more[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: demo}\n"
	    "spec: {clusterIP: 10.96.0.61, clusterIPs: [10.96.0.61, 'fd00:96::61'],"
	    " ipFamilies: [IPv4, IPv6], ipFamilyPolicy: RequireDualStack, ports: [{port: 9000}]}\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: ext-v4, namespace: demo, labels: {kubernetes.io/service-name: ext}}\n"
	    "addressType: IPv4\nports: [{port: 9000}]\nendpoints: [{addresses: [10.98.7.1]}]\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: ext-v6a, namespace: demo, labels: {kubernetes.io/service-name: "
	    "ext}}\n"
	    "addressType: IPv6\nports: [{port: 9000}]\n"
	    "endpoints: [{addresses: ['fd00:98:7::1']}, {addresses: ['fd00:98:7::9'],"
	    " conditions: {ready: false}}]\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: ext-v6b, namespace: demo, labels: {kubernetes.io/service-name: "
	    "ext}}\n"
	    "addressType: IPv6\nports: [{port: 9000}]\n"
	    "endpoints: [{addresses: ['fd00:98:7::2']}, {addresses: ['fd00:98:7::1']}]\n"
	    "---\napiVersion: v1\nkind: Service\nmetadata: {name: db6, namespace: demo}\n"
	    "spec: {clusterIP: 'fd00:96::62', clusterIPs: ['fd00:96::62'], ipFamilies: [IPv6],"
	    " ipFamilyPolicy: SingleStack, ports: [{name: db, port: 5432}]}\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: db6-x, namespace: demo, labels: {kubernetes.io/service-name: db6}}\n"
	    "addressType: IPv6\nports: [{name: db, port: 15432}]\n"
	    "endpoints: [{addresses: ['fd00:98:8::1']}, {addresses: ['fd00:98:8::2']}]\n";
	struct fixture *f = *state;
	struct config_diags diags = {0};
	const struct snap_service *ss;
	const struct dp_service6 *s6;
	char txt[IPADDR_STRLEN];

	assert_int_equal(config_load_buffer(&f->cfg, "more.yaml", more, strlen(more), &diags), 0);
	config_diags_free(&diags);
	compute(f);
	ss = snap_svc_of(&f->d, "ext");
	assert_non_null(ss);
	assert_int_equal(ss->nendpoints, 1);
	assert_int_equal(ss->endpoints[0], ip("10.98.7.1"));
	assert_int_equal(ss->nendpoints6, 2);
	assert_string_equal(ipaddr_format(&ss->endpoints6[0], txt, sizeof(txt)), "fd00:98:7::1");
	assert_string_equal(ipaddr_format(&ss->endpoints6[1], txt, sizeof(txt)), "fd00:98:7::2");
	assert_int_equal(ss->ports[0].target_port, 9000);

	ss = snap_svc_of(&f->d, "db6");
	assert_non_null(ss);
	assert_int_equal(ss->vip, 0);
	assert_string_equal(ipaddr_format(&ss->vip6, txt, sizeof(txt)), "fd00:96::62");
	assert_int_equal(ss->nendpoints, 0);
	assert_int_equal(ss->nendpoints6, 2);
	assert_string_equal(ipaddr_format(&ss->endpoints6[0], txt, sizeof(txt)), "fd00:98:8::1");
	assert_string_equal(ipaddr_format(&ss->endpoints6[1], txt, sizeof(txt)), "fd00:98:8::2");
	/* The port the slice names, not the Service port: where the ztunnel sends [vip6]:5432. */
	assert_int_equal(ss->nports, 1);
	assert_int_equal(ss->ports[0].target_port, 15432);
	s6 = svc6_of(&f->d, "fd00:96::62", 5432);
	assert_non_null(s6);
	assert_int_equal(s6->n, 2);
	assert_int_equal(s6->backends[1].port, htons(15432));
	for (size_t i = 0; i < f->d.n_services; i++)
		assert_int_not_equal(f->d.services[i].vip, 0);
}

/*
 * A Service's slices carrying different numbers for one port name (Kubernetes allows it; an
 * IPv6 slice at 8081 beside an IPv4 one at 8080): the snapshot's target port is the first IPv4
 * slice's, and each endpoint of another number is listed with it, an IPv4 one in ep_ports, an
 * IPv6 one in ep_ports6 (the ztunnel's SRV targets take them); ones at the target port are
 * not listed.
 */
static void test_slice_port_per_endpoint(void **state)
{
	static const char more[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: hsx, namespace: demo}\n"
	    "spec: {clusterIP: None, ipFamilies: [IPv4, IPv6], ipFamilyPolicy: RequireDualStack,"
	    " ports: [{name: http, port: 80}]}\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: hsx-a, namespace: demo, labels: {kubernetes.io/service-name: hsx}}\n"
	    "addressType: IPv4\nports: [{name: http, port: 8080}]\n"
	    "endpoints: [{addresses: [10.98.9.1]}]\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: hsx-b, namespace: demo, labels: {kubernetes.io/service-name: hsx}}\n"
	    "addressType: IPv4\nports: [{name: http, port: 8082}]\n"
	    "endpoints: [{addresses: [10.98.9.2]}]\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: hsx-6, namespace: demo, labels: {kubernetes.io/service-name: hsx}}\n"
	    "addressType: IPv6\nports: [{name: http, port: 8081}]\n"
	    "endpoints: [{addresses: ['fd00:98:9::1']}, {addresses: ['fd00:98:9::2']}]\n"
	    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: hsx-6b, namespace: demo, labels: {kubernetes.io/service-name: hsx}}\n"
	    "addressType: IPv6\nports: [{name: http, port: 8080}]\n"
	    "endpoints: [{addresses: ['fd00:98:9::3']}]\n";
	struct fixture *f = *state;
	struct config_diags diags = {0};
	const struct snap_service *ss;
	char txt[IPADDR_STRLEN];

	assert_int_equal(config_load_buffer(&f->cfg, "more.yaml", more, strlen(more), &diags), 0);
	config_diags_free(&diags);
	compute(f);
	ss = snap_svc_of(&f->d, "hsx");
	assert_non_null(ss);
	assert_int_equal(ss->ports[0].target_port, 8080);
	assert_int_equal(ss->n_ep_ports, 1);
	assert_int_equal(ss->ep_ports[0].ip, ip("10.98.9.2"));
	assert_int_equal(ss->ep_ports[0].port, 80);
	assert_int_equal(ss->ep_ports[0].target_port, 8082);
	assert_int_equal(ss->n_ep_ports6, 2);
	assert_string_equal(ipaddr_format(&ss->ep_ports6[0].ip, txt, sizeof(txt)), "fd00:98:9::1");
	assert_string_equal(ipaddr_format(&ss->ep_ports6[1].ip, txt, sizeof(txt)), "fd00:98:9::2");
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(ss->ep_ports6[i].port, 80);
		assert_int_equal(ss->ep_ports6[i].target_port, 8081);
	}
}

/*
 * A dual-stack pod is one workload under both addresses (the same value in workloads and
 * workloads6); a local one's veth may send from its IPv6 (ifaces6); a pod without IPv6 has no
 * IPv6 entry; two pods claiming one IPv6 leave one entry and a warning; in-pod marks both.
 */
static void test_dual_stack(void **state)
{
	struct fixture *f = *state;
	const char *pods =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"a\",\"node\":\"node1\",\"ip\":\"10.98.1.2\","
	    " \"ip6\":\"fd00:98:1::2\",\"cgroup\":\"/cg/a\",\"hostIface\":\"amb000001\","
	    " \"labels\":{\"app\":\"web\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"b\",\"node\":\"node2\",\"ip\":\"10.98.2.2\","
	    " \"ip6\":\"fd00:98:2::2\",\"labels\":{\"app\":\"web\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"c\",\"node\":\"node2\",\"ip\":\"10.98.2.3\","
	    " \"ip6\":\"fd00:98:2::2\",\"labels\":{\"app\":\"web\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"d\",\"node\":\"node1\",\"ip\":\"10.98.1.3\","
	    " \"hostIface\":\"amb000003\",\"labels\":{\"app\":\"web\"}}]}";
	const struct ambit_workload *w4, *w6;
	struct desired_local_pod *lp;
	struct in6_addr a6;
	char err[256];
	bool warned = false;

	runtime_free(&f->rt);
	assert_int_equal(runtime_parse(pods, strlen(pods), &f->rt, err, sizeof(err)), 0);
	compute(f);
	assert_int_equal(f->d.n_workloads, 4);
	assert_int_equal(f->d.n_workloads6, 2);
	w4 = wl_of(&f->d, "10.98.1.2");
	w6 = wl6_of(&f->d, "fd00:98:1::2");
	assert_non_null(w4);
	assert_non_null(w6);
	assert_memory_equal(w4, w6, sizeof(*w4));
	assert_int_equal(w6->flags, AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL);
	assert_int_equal(w6->ifindex, 101);
	w6 = wl6_of(&f->d, "fd00:98:2::2");
	assert_non_null(w6);
	assert_int_equal(w6->node_ip, ip("10.99.0.12"));
	for (size_t i = 0; i < f->d.n_warnings; i++)
		warned |= strstr(f->d.warnings[i], "fd00:98:2::2") != NULL;
	assert_true(warned);
	/* Only the dual-stack local pod's veth has an IPv6 source. */
	assert_int_equal(f->d.n_ifaces, 2);
	assert_int_equal(f->d.n_ifaces6, 1);
	assert_int_equal(f->d.ifaces6[0].key, 101);
	assert_int_equal(inet_pton(AF_INET6, "fd00:98:1::2", &a6), 1);
	assert_memory_equal(f->d.ifaces6[0].val, &a6, sizeof(a6));

	/* A dual-stack Service: its IPv6 VIP balanced to the selected pods' IPv6 addresses. */
	{
		static const char svc[] =
		    "apiVersion: v1\nkind: Service\nmetadata: {name: web6, namespace: demo}\n"
		    "spec: {clusterIP: 10.96.0.60, clusterIPs: [10.96.0.60, 'fd00:96::60'],"
		    " ipFamilies: [IPv4, IPv6], ipFamilyPolicy: PreferDualStack,"
		    " selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n"
		    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		    "metadata: {name: ext-v4, namespace: demo, labels: "
		    "{kubernetes.io/service-name: ext}}\n"
		    "addressType: IPv4\nports: [{port: 9000}]\n"
		    "endpoints: [{addresses: [10.98.1.2]}]\n"
		    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		    "metadata: {name: ext-v6, namespace: demo, labels: "
		    "{kubernetes.io/service-name: ext}}\n"
		    "addressType: IPv6\nports: [{port: 9000}]\n"
		    "endpoints: [{addresses: ['fd00:98:1::2']}, {addresses: ['fd00:98:1::9'],"
		    " conditions: {ready: false}}]\n"
		    "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: demo}\n"
		    "spec: {clusterIP: 10.96.0.61, clusterIPs: [10.96.0.61, 'fd00:96::61'], ports: "
		    "[{port: 9000}]}\n";
		struct config_diags diags = {0};
		const struct dp_service6 *s6 = NULL, *e6 = NULL;
		struct in6_addr want;

		assert_int_equal(config_load_buffer(&f->cfg, "six.yaml", svc, strlen(svc), &diags),
				 0);
		config_diags_free(&diags);
		compute(f);
		for (size_t i = 0; i < f->d.n_services6; i++) {
			char txt[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, &f->d.services6[i].vip, txt, sizeof(txt));
			if (!strcmp(txt, "fd00:96::60"))
				s6 = &f->d.services6[i];
			if (!strcmp(txt, "fd00:96::61"))
				e6 = &f->d.services6[i];
		}
		assert_non_null(s6);
		assert_int_equal(s6->port, 80);
		/* The snapshot's Service has it too, for the ztunnel's routing and DNS. */
		for (size_t i = 0; i < f->d.n_snap_services; i++)
			if (!strcmp(f->d.snap_services[i].name, "web6")) {
				char txt[IPADDR_STRLEN];

				assert_string_equal(
				    ipaddr_format(&f->d.snap_services[i].vip6, txt, sizeof(txt)),
				    "fd00:96::60");
			}
		/* a, b and c have IPv6 addresses (d does not): all three are backends. */
		assert_int_equal(s6->n, 3);
		assert_int_equal(inet_pton(AF_INET6, "fd00:98:1::2", &want), 1);
		assert_memory_equal(s6->backends[0].ip6, &want, sizeof(want));
		assert_int_equal(s6->backends[0].port, htons(8080));
		/* Selectorless: its IPv6 slice's ready endpoints. */
		assert_non_null(e6);
		assert_int_equal(e6->n, 1);
		assert_memory_equal(e6->backends[0].ip6, &want, sizeof(want));
		assert_int_equal(e6->backends[0].port, htons(9000));
	}

	lp = (struct desired_local_pod *)desired_local_pod(&f->d, "demo/a");
	assert_non_null(lp);
	assert_int_equal(lp->ip6.family, AF_INET6);
	assert_int_equal(f->d.n_enrolled6, 0);
	assert_int_equal(desired_mark_inpod(&f->d, lp), 0);
	assert_true(wl_of(&f->d, "10.98.1.2")->flags & AMBIT_WL_INPOD);
	assert_true(wl6_of(&f->d, "fd00:98:1::2")->flags & AMBIT_WL_INPOD);
	/* Its IPv6 by its cgroup (enrolled_ip6), where connect6 sends it in-pod. */
	assert_true(lp->cgroup_id != 0);
	assert_int_equal(f->d.n_enrolled6, 1);
	assert_int_equal(f->d.enrolled6[0].key, lp->cgroup_id);
	assert_memory_equal(f->d.enrolled6[0].val, &a6, sizeof(a6));
	for (size_t i = 0; i < f->d.n_enrolled; i++)
		if (f->d.enrolled[i].key == lp->cgroup_id)
			assert_true(((const struct ambit_enrolled *)f->d.enrolled[i].val)->flags &
				    AMBIT_ENROLLED_INPOD);
	/* A pod without IPv6 has none. */
	lp = (struct desired_local_pod *)desired_local_pod(&f->d, "demo/d");
	assert_non_null(lp);
	assert_int_equal(desired_mark_inpod(&f->d, lp), 0);
	assert_int_equal(f->d.n_enrolled6, 1);
}

/* The snapshot's workload @name (namespace demo) of @d, or NULL. */
/* Whether @d's excl_ports has (@id, @port, @proto, @dir). */
static bool has_excl(const struct desired *d, uint64_t id, uint16_t port, uint8_t proto,
		     uint8_t dir)
{
	for (size_t i = 0; i < d->n_excl; i++) {
		struct ambit_excl_key k;

		dp_entry_key16(&d->excl[i], &k);
		if (k.id == id && k.port == htons(port) && k.proto == proto && k.dir == dir)
			return true;
	}
	return false;
}

static const struct ambit_enrolled *enrolled_of(const struct desired *d, uint64_t cgroup)
{
	for (size_t i = 0; i < d->n_enrolled; i++)
		if (d->enrolled[i].key == cgroup)
			return (const struct ambit_enrolled *)d->enrolled[i].val;
	return NULL;
}

/* web-1 as a Pod object of its own, with Istio's exclude annotations @out and @in. */
static void load_excluding_pod(struct fixture *f, const char *out, const char *in)
{
	struct config_diags diags = {0};
	char yaml[1024];
	int n = snprintf(yaml, sizeof(yaml),
			 "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: demo\n"
			 "  labels: {app: web}\n  annotations:\n"
			 "    traffic.sidecar.istio.io/excludeOutboundPorts: '%s'\n"
			 "    traffic.sidecar.istio.io/excludeInboundPorts: '%s'\n"
			 "spec:\n  containers:\n  - name: web\n    image: x\n",
			 out, in);

	config_free(&f->cfg);
	config_init(&f->cfg);
	assert_int_equal(
	    config_load_buffer(&f->cfg, "m.yaml", MANIFESTS, strlen(MANIFESTS), &diags), 0);
	assert_int_equal(config_load_buffer(&f->cfg, "p.yaml", yaml, (size_t)n, &diags), 0);
	config_diags_free(&diags);
}

/*
 * Istio's traffic.sidecar.istio.io/excludeOutboundPorts and excludeInboundPorts: each outbound
 * port by the pod's cgroup (connect, TCP) and by its veth (tc, TCP and UDP), each inbound port
 * by its veth, under the flags of its entries; a value that is no port list is told and left
 * out whole (its ports stay captured).
 */
static void test_excluded_ports(void **state)
{
	struct fixture *f = *state;
	uint64_t cg = fake_cgroup("/cg/demo_web-1", NULL);
	const struct ambit_enrolled *en;
	bool warned = false;

	load_excluding_pod(f, "5432, 6379", "8081");
	compute(f);
	assert_true(wl_of(&f->d, "10.98.1.2")->flags & AMBIT_WL_EXCL);
	assert_false(wl_of(&f->d, "10.98.2.2")->flags & AMBIT_WL_EXCL); /* another node's */
	en = enrolled_of(&f->d, cg);
	assert_non_null(en);
	assert_true(en->flags & AMBIT_ENROLLED_EXCL_OUT);
	assert_int_equal(f->d.n_excl, 8);
	assert_true(has_excl(&f->d, cg, 5432, IPPROTO_TCP, AMBIT_EXCL_OUT));
	assert_true(has_excl(&f->d, cg, 6379, IPPROTO_TCP, AMBIT_EXCL_OUT));
	assert_true(has_excl(&f->d, 101, 5432, IPPROTO_TCP, AMBIT_EXCL_OUT_IFACE));
	assert_true(has_excl(&f->d, 101, 5432, IPPROTO_UDP, AMBIT_EXCL_OUT_IFACE));
	assert_true(has_excl(&f->d, 101, 6379, IPPROTO_UDP, AMBIT_EXCL_OUT_IFACE));
	assert_true(has_excl(&f->d, 101, 8081, IPPROTO_TCP, AMBIT_EXCL_IN_IFACE));
	assert_true(has_excl(&f->d, 101, 8081, IPPROTO_UDP, AMBIT_EXCL_IN_IFACE));
	assert_false(has_excl(&f->d, 101, 8081, IPPROTO_TCP, AMBIT_EXCL_OUT_IFACE));

	/* A bad list: told, and that annotation left out; the other one holds. */
	load_excluding_pod(f, "5432,x", "8081");
	compute(f);
	for (size_t i = 0; i < f->d.n_warnings; i++)
		warned |= strstr(f->d.warnings[i], "pod demo/web-1: annotation "
						   "traffic.sidecar.istio.io/excludeOutboundPorts: "
						   "\"5432,x\": \"x\" is not a port") != NULL;
	assert_true(warned);
	assert_false(enrolled_of(&f->d, cg)->flags & AMBIT_ENROLLED_EXCL_OUT);
	assert_true(wl_of(&f->d, "10.98.1.2")->flags & AMBIT_WL_EXCL);
	assert_int_equal(f->d.n_excl, 2);
	static const char *const bad[] = {"0", "65536", "80,", ",80", "80 81", "-1", "http"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		load_excluding_pod(f, bad[i], "");
		compute(f);
		assert_int_equal(f->d.n_excl, 0);
		assert_false(wl_of(&f->d, "10.98.1.2")->flags & AMBIT_WL_EXCL);
	}
	/* Blanks around ports, and an empty value (none). */
	load_excluding_pod(f, " 53 ,5353 ", " ");
	compute(f);
	assert_int_equal(f->d.n_excl, 6);
	assert_true(has_excl(&f->d, 101, 5353, IPPROTO_UDP, AMBIT_EXCL_OUT_IFACE));
}

static const struct snap_workload *snap_wl_of(const struct desired *d, const char *name)
{
	for (size_t i = 0; i < d->n_snap_workloads; i++)
		if (!strcmp(d->snap_workloads[i].name, name))
			return &d->snap_workloads[i];
	return NULL;
}

/*
 * Pods of an IPv6-only cluster (ip6, no ip): IPv6 entries as a dual-stack pod's (workloads6,
 * ifaces6, enrolled6 in-pod) and no IPv4 one (no workload or iface at 0, the cgroup's enrolled
 * entry with pod_ip 0: connect6 captures by it); a selector Service with them among its pods
 * lists every selected pod's IPv6 in endpoints6 and its IPv4 endpoints and kernel backends
 * are the dual-stack pod's alone; one selecting IPv6-only pods alone has no IPv4 endpoint.
 */
static void test_ipv6_only_pods(void **state)
{
	struct fixture *f = *state;
	static const char pods[] =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"a\",\"node\":\"node1\","
	    " \"ip6\":\"fd00:98:1::2\",\"cgroup\":\"/cg/a\",\"hostIface\":\"amb000001\","
	    " \"labels\":{\"app\":\"six\",\"only\":\"six\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"b\",\"node\":\"node2\","
	    " \"ip6\":\"fd00:98:2::2\",\"labels\":{\"app\":\"six\",\"only\":\"six\"}},"
	    "{\"namespace\":\"demo\",\"name\":\"c\",\"node\":\"node2\",\"ip\":\"10.98.2.3\","
	    " \"ip6\":\"fd00:98:2::3\",\"labels\":{\"app\":\"six\"}}]}";
	static const char svc[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: demo}\n"
	    "spec: {clusterIP: 10.96.0.80, clusterIPs: [10.96.0.80, 'fd00:96::80'],"
	    " ipFamilies: [IPv4, IPv6], ipFamilyPolicy: PreferDualStack, selector: {app: six},"
	    " ports: [{port: 80, targetPort: 8080}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: only, namespace: demo}\n"
	    "spec: {clusterIP: 'fd00:96::81', clusterIPs: ['fd00:96::81'], ipFamilies: [IPv6],"
	    " ipFamilyPolicy: SingleStack, selector: {only: six}, ports: [{port: 81}]}\n";
	struct config_diags diags = {0};
	const struct ambit_workload *w6;
	const struct snap_workload *sw;
	const struct snap_service *ss;
	const struct dp_service *s4;
	const struct dp_service6 *s6;
	struct desired_local_pod *lp;
	struct in6_addr a6;
	char err[256], txt[IPADDR_STRLEN];
	bool found = false;

	runtime_free(&f->rt);
	assert_int_equal(runtime_parse(pods, strlen(pods), &f->rt, err, sizeof(err)), 0);
	assert_int_equal(config_load_buffer(&f->cfg, "six.yaml", svc, strlen(svc), &diags), 0);
	config_diags_free(&diags);
	compute(f);
	for (size_t i = 0; i < f->d.n_warnings; i++)
		if (strstr(f->d.warnings[i], "demo/a") || strstr(f->d.warnings[i], "demo/b"))
			fail_msg("warned: %s", f->d.warnings[i]);
	/* c alone by IPv4; no key 0. */
	assert_int_equal(f->d.n_workloads, 1);
	assert_non_null(wl_of(&f->d, "10.98.2.3"));
	assert_null(wl_of(&f->d, "0.0.0.0"));
	assert_int_equal(f->d.n_workloads6, 3);
	w6 = wl6_of(&f->d, "fd00:98:1::2");
	assert_non_null(w6);
	assert_int_equal(w6->flags, AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL);
	assert_int_equal(w6->ifindex, 101);
	assert_int_equal(w6->node_ip, ip("10.99.0.11"));
	assert_non_null(wl6_of(&f->d, "fd00:98:2::2"));
	/* Its veth: an IPv6 source alone. */
	assert_int_equal(f->d.n_ifaces, 0);
	assert_int_equal(f->d.n_ifaces6, 1);
	assert_int_equal(f->d.ifaces6[0].key, 101);
	assert_int_equal(inet_pton(AF_INET6, "fd00:98:1::2", &a6), 1);
	assert_memory_equal(f->d.ifaces6[0].val, &a6, sizeof(a6));
	lp = (struct desired_local_pod *)desired_local_pod(&f->d, "demo/a");
	assert_non_null(lp);
	assert_int_equal(lp->ip, 0);
	for (size_t i = 0; i < f->d.n_enrolled; i++)
		if (f->d.enrolled[i].key == lp->cgroup_id) {
			assert_int_equal(
			    ((const struct ambit_enrolled *)f->d.enrolled[i].val)->pod_ip, 0);
			found = true;
		}
	assert_true(found);
	/* The snapshot's workload: ip 0, its ip6. */
	sw = snap_wl_of(&f->d, "a");
	assert_non_null(sw);
	assert_int_equal(sw->ip, 0);
	assert_string_equal(ipaddr_format(&sw->ip6, txt, sizeof(txt)), "fd00:98:1::2");

	/* The dual-stack Service: IPv4 to c alone, IPv6 to all three, in endpoints6 too. */
	s4 = svc_of(&f->d, "10.96.0.80", 80);
	assert_non_null(s4);
	assert_int_equal(s4->n, 1);
	assert_int_equal(s4->backends[0].ip, ip("10.98.2.3"));
	s6 = svc6_of(&f->d, "fd00:96::80", 80);
	assert_non_null(s6);
	assert_int_equal(s6->n, 3);
	ss = snap_svc_of(&f->d, "six");
	assert_non_null(ss);
	assert_int_equal(ss->nendpoints, 1);
	assert_int_equal(ss->endpoints[0], ip("10.98.2.3"));
	assert_int_equal(ss->nendpoints6, 3);
	assert_string_equal(ipaddr_format(&ss->endpoints6[0], txt, sizeof(txt)), "fd00:98:1::2");
	assert_string_equal(ipaddr_format(&ss->endpoints6[2], txt, sizeof(txt)), "fd00:98:2::3");
	assert_int_equal(ss->ports[0].target_port, 8080);
	/* IPv6-only pods alone: no IPv4 endpoint, both by their IPv6. */
	ss = snap_svc_of(&f->d, "only");
	assert_non_null(ss);
	assert_int_equal(ss->vip, 0);
	assert_int_equal(ss->nendpoints, 0);
	assert_int_equal(ss->nendpoints6, 2);
	s6 = svc6_of(&f->d, "fd00:96::81", 81);
	assert_non_null(s6);
	assert_int_equal(s6->n, 2);

	/* In-pod: its IPv6 by its cgroup (enrolled_ip6). */
	assert_int_equal(desired_mark_inpod(&f->d, lp), 0);
	assert_true(wl6_of(&f->d, "fd00:98:1::2")->flags & AMBIT_WL_INPOD);
	assert_int_equal(f->d.n_enrolled6, 1);
	assert_int_equal(f->d.enrolled6[0].key, lp->cgroup_id);
	assert_memory_equal(f->d.enrolled6[0].val, &a6, sizeof(a6));
}

static const char *ENTRIES =
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: ext, namespace: demo}\n"
    "spec:\n"
    "  hosts: [api.example.com, www.example.com]\n"
    "  location: MESH_EXTERNAL\n"
    "  resolution: DNS\n"
    "  ports: [{number: 443, name: https, protocol: TLS}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: db, namespace: legacy}\n"
    "spec:\n"
    "  hosts: [db.internal]\n"
    "  addresses: [192.0.2.10, 198.51.100.0/24, \"2001:db8:7::/48\"]\n"
    "  location: MESH_EXTERNAL\n"
    "  resolution: STATIC\n"
    "  exportTo: [\".\"]\n"
    "  ports: [{number: 5432, name: pg, protocol: TCP, targetPort: 15432}]\n"
    "  endpoints: [{address: 192.0.2.20}, {address: 192.0.2.21, ports: {pg: 6432}},\n"
    "              {address: \"2001:db8:9::20\"}, {address: \"2001:db8:9::20\"},\n"
    "              {address: \"2001:db8:9::21\", ports: {pg: 6433}}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: web-vm, namespace: demo}\n"
    "spec:\n"
    "  hosts: [web.mesh]\n"
    "  location: MESH_INTERNAL\n"
    "  resolution: STATIC\n"
    "  workloadSelector: {labels: {version: v2}}\n"
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata: {name: istio, namespace: istio-system}\n"
    "data:\n"
    "  mesh: |\n"
    "    outboundTrafficPolicy:\n"
    "      mode: REGISTRY_ONLY\n";

static const struct snap_service *entry_of(const struct desired *d, const char *host)
{
	for (size_t i = 0; i < d->n_snap_entries; i++)
		if (!strcmp(d->snap_entries[i].hostname, host))
			return &d->snap_entries[i];
	return NULL;
}

/*
 * ServiceEntries: one entry per host, sorted; hosts without address (resolution not NONE) get one
 * of 240.240.0.0/16, the same on every computation; addresses and CIDRs, exportTo ".",
 * targetPort, IPv4 endpoints and selected pods; the mesh config's REGISTRY_ONLY.
 */
static void test_service_entries(void **state)
{
	struct fixture *f = *state;
	struct config_diags diags = {0};
	const struct snap_service *api, *www, *db, *vm;
	uint32_t api_vip, www_vip;

	compute(f);
	assert_false(f->d.registry_only);
	assert_int_equal(f->d.n_snap_entries, 0);
	assert_int_equal(config_load_buffer(&f->cfg, "se.yaml", ENTRIES, strlen(ENTRIES), &diags),
			 0);
	config_diags_free(&diags);
	compute(f);
	assert_true(f->d.registry_only);
	assert_int_equal(f->d.n_snap_entries, 4);
	assert_string_equal(f->d.snap_entries[0].hostname, "api.example.com");
	assert_string_equal(f->d.snap_entries[3].hostname, "db.internal");

	api = entry_of(&f->d, "api.example.com");
	www = entry_of(&f->d, "www.example.com");
	assert_int_equal(api->kind, SNAP_SVC_MESH_EXTERNAL);
	assert_int_equal(api->resolution, SNAP_RES_DNS);
	assert_string_equal(api->namespace, "demo");
	assert_null(api->export_to);
	assert_int_equal(ntohl(api->vip) >> 16, 0xf0f0);
	assert_int_equal(ntohl(www->vip) >> 16, 0xf0f0);
	assert_int_not_equal(api->vip, www->vip);
	api_vip = api->vip;
	www_vip = www->vip;

	db = entry_of(&f->d, "db.internal");
	assert_int_equal(db->vip, ip("192.0.2.10"));
	/* Both families kept; an IPv6 block holds no IPv4 destination. */
	assert_int_equal(db->n_cidrs, 2);
	assert_true(ipaddr_equal(&db->cidrs[0], &(struct ipaddr){AF_INET, 24, {198, 51, 100, 0}}));
	assert_true(ipaddr_equal(&db->cidrs[1],
				 &(struct ipaddr){AF_INET6, 48, {0x20, 0x01, 0x0d, 0xb8, 0, 7}}));
	assert_int_equal(db->n_export_to, 1);
	assert_string_equal(db->export_to[0], "legacy");
	assert_int_equal(db->ports[0].target_port, 15432);
	assert_int_equal(db->nendpoints, 2);
	assert_int_equal(db->endpoints[0], ip("192.0.2.20"));
	/* IPv6 endpoints, each once, for the entry's IPv6 address (an IPv6 cluster's nodes reach
	 * no IPv4 one). */
	assert_int_equal(db->nendpoints6, 2);
	assert_true(ipaddr_equal(
	    &db->endpoints6[0],
	    &(struct ipaddr){AF_INET6, 128, {0x20, 0x01, 0x0d, 0xb8, 0, 9, [15] = 0x20}}));
	/* An endpoint's own number for a port, of either family. */
	assert_int_equal(db->n_ep_ports, 1);
	assert_int_equal(db->ep_ports[0].ip, ip("192.0.2.21"));
	assert_int_equal(db->ep_ports[0].port, 5432);
	assert_int_equal(db->ep_ports[0].target_port, 6432);
	assert_int_equal(db->n_ep_ports6, 1);
	assert_true(ipaddr_equal(
	    &db->ep_ports6[0].ip,
	    &(struct ipaddr){AF_INET6, 128, {0x20, 0x01, 0x0d, 0xb8, 0, 9, [15] = 0x21}}));
	assert_int_equal(db->ep_ports6[0].port, 5432);
	assert_int_equal(db->ep_ports6[0].target_port, 6433);

	vm = entry_of(&f->d, "web.mesh");
	assert_int_equal(vm->kind, SNAP_SVC_MESH_INTERNAL);
	assert_int_equal(vm->nendpoints, 1);
	assert_int_equal(vm->endpoints[0], ip("10.98.2.2"));
	assert_int_equal(ntohl(vm->vip) >> 16, 0xf0f0);

	/* Stable: computed again, every host keeps its address. */
	compute(f);
	assert_int_equal(entry_of(&f->d, "api.example.com")->vip, api_vip);
	assert_int_equal(entry_of(&f->d, "www.example.com")->vip, www_vip);
}

/* The UDP entry of services at @vip:@port (a ServiceEntry's or a Service's), or NULL. */
static const struct dp_service *udp_of(const struct desired *d, uint32_t vip, uint16_t port)
{
	for (size_t i = 0; i < d->n_services; i++)
		if (d->services[i].vip == vip && d->services[i].port == port &&
		    d->services[i].proto == IPPROTO_UDP)
			return &d->services[i];
	return NULL;
}

/* Whether @s is a ServiceEntry's UDP port: its one backend all zero (bpf_abi.h). */
static bool entry_marker(const struct dp_service *s)
{
	return s && s->n == AMBIT_SERVICE_ENTRY_UDP_BACKENDS && !s->backends[0].ip &&
	       !s->backends[0].port;
}

/*
 * ServiceEntries' UDP ports for the kernel: at each host's address (allocated, or its own), of
 * both families, a services entry whose one backend is all zero, so an enrolled pod's datagrams
 * go to the ztunnel; a TCP or TLS port gets none, nor a host without an address. A Service's UDP
 * port at the same address and number keeps its own backends.
 */
static void test_service_entry_udp_ports(void **state)
{
	struct fixture *f = *state;
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: ServiceEntry\n"
	    "metadata: {name: corp-dns, namespace: demo}\n"
	    "spec:\n"
	    "  hosts: [dns.corp.internal]\n"
	    "  location: MESH_EXTERNAL\n"
	    "  resolution: STATIC\n"
	    "  ports: [{number: 53, name: dns, protocol: UDP}, {number: 8125, name: statsd,\n"
	    "           protocol: udp}, {number: 443, name: https, protocol: TLS}]\n"
	    "  endpoints: [{address: 192.0.2.53}]\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: ServiceEntry\n"
	    "metadata: {name: shadow, namespace: demo}\n"
	    "spec:\n"
	    "  hosts: [shadow.internal]\n"
	    "  addresses: [10.96.0.53]\n"
	    "  resolution: STATIC\n"
	    "  ports: [{number: 53, name: dns, protocol: UDP}, {number: 54, name: other,\n"
	    "           protocol: UDP}]\n"
	    "  endpoints: [{address: 192.0.2.54}]\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: ServiceEntry\n"
	    "metadata: {name: net, namespace: demo}\n"
	    "spec:\n"
	    "  hosts: [net.internal, net2.internal]\n"
	    "  addresses: [198.51.100.0/24, 2001:db8:5::/48]\n"
	    "  resolution: NONE\n"
	    "  ports: [{number: 514, name: syslog, protocol: UDP}, {number: 22, name: ssh,\n"
	    "           protocol: TCP}]\n"
	    "---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: demo}\n"
	    "spec: {clusterIP: 10.96.0.53, selector: {app: dns},"
	    " ports: [{name: dns, port: 53, protocol: UDP, targetPort: 5354}]}\n";
	static const char pods[] =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"dns-0\",\"node\":\"node1\",\"ip\":\"10.98.1.7\","
	    " \"labels\":{\"app\":\"dns\"}}]}";
	static const struct ambit_addr6 zero;
	const struct snap_service *corp;
	const struct dp_service *s;
	size_t n6 = 0;

	f->ipv6 = true;
	load_world(f, pods, "se.yaml", yaml);
	corp = entry_of(&f->d, "dns.corp.internal");
	assert_non_null(corp);
	assert_int_equal(ntohl(corp->vip) >> 16, 0xf0f0);
	assert_true(entry_marker(udp_of(&f->d, corp->vip, 53)));
	assert_true(entry_marker(udp_of(&f->d, corp->vip, 8125)));
	for (size_t i = 0; i < f->d.n_services; i++)
		assert_false(f->d.services[i].vip == corp->vip && f->d.services[i].port == 443);
	/* The Service's own port 53 at that address wins; the entry's 54 is there. */
	s = udp_of(&f->d, ip("10.96.0.53"), 53);
	assert_non_null(s);
	assert_false(entry_marker(s));
	assert_int_equal(s->backends[0].ip, ip("10.98.1.7"));
	assert_true(entry_marker(udp_of(&f->d, ip("10.96.0.53"), 54)));
	/* Sorted and unique: what the agent's diff takes. A CIDR is no address: nothing there. */
	for (size_t i = 1; i < f->d.n_services; i++)
		assert_true(dp_service_cmp(&f->d.services[i - 1], &f->d.services[i]) < 0);
	assert_int_equal(f->d.n_services, 4);
	/* The blocks' UDP port instead (sentry_cidrs), once for the entry's two hosts; not 22. */
	assert_int_equal(f->d.n_sentry_cidrs, 2);
	assert_true(ipaddr_equal(&f->d.sentry_cidrs[0].net,
				 &(struct ipaddr){AF_INET, 24, {198, 51, 100, 0}}));
	assert_int_equal(f->d.sentry_cidrs[0].port, 514);
	assert_true(ipaddr_equal(&f->d.sentry_cidrs[1].net,
				 &(struct ipaddr){AF_INET6, 48, {0x20, 0x01, 0x0d, 0xb8, 0, 5}}));
	assert_int_equal(f->d.sentry_cidrs[1].port, 514);
	/* The allocated IPv6 address's UDP ports alike. */
	for (size_t i = 0; i < f->d.n_services6; i++) {
		const struct dp_service6 *s6 = &f->d.services6[i];

		assert_memory_equal(&s6->vip, corp->vip6.a, 16);
		assert_int_equal(s6->proto, IPPROTO_UDP);
		assert_true(s6->port == 53 || s6->port == 8125);
		assert_int_equal(s6->n, AMBIT_SERVICE_ENTRY_UDP_BACKENDS);
		assert_memory_equal(s6->backends, &zero, sizeof(zero));
		n6++;
	}
	assert_int_equal(n6, 2);
}

/* Whether @a is 2001:2::f0f0:XXYY for allocated IPv4 @vip = 240.240.XX.YY. */
static bool paired6(const struct ipaddr *a, uint32_t vip)
{
	struct ipaddr want = {AF_INET6, 128, {0x20, 0x01, 0, 2, [12] = 0xf0, [13] = 0xf0}};
	uint8_t *v = (uint8_t *)&vip;

	want.a[14] = v[2];
	want.a[15] = v[3];
	return ipaddr_equal(a, &want);
}

static const char *ENTRIES6 =
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: ext, namespace: demo}\n"
    "spec:\n"
    "  hosts: [api.example.com]\n"
    "  location: MESH_EXTERNAL\n"
    "  resolution: DNS\n"
    "  ports: [{number: 443, name: https, protocol: TLS}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: six, namespace: demo}\n"
    "spec:\n"
    "  hosts: [six.internal]\n"
    "  addresses: [\"2001:db8::10\", \"2001:db8::11\"]\n"
    "  resolution: STATIC\n"
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
    "  endpoints: [{address: 192.0.2.30}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: four, namespace: demo}\n"
    "spec:\n"
    "  hosts: [four.internal]\n"
    "  addresses: [192.0.2.40]\n"
    "  resolution: STATIC\n"
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
    "  endpoints: [{address: 192.0.2.41}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: blocks, namespace: demo}\n"
    "spec:\n"
    "  hosts: [blocks.internal]\n"
    "  addresses: [\"2001:db8:9::/48\"]\n"
    "  resolution: STATIC\n"
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
    "  endpoints: [{address: 192.0.2.50}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: lit6, namespace: demo}\n"
    "spec:\n"
    "  hosts: [lit6.internal]\n"
    "  resolution: DNS\n"
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
    "  endpoints: [{address: \"2001:db8:a::1\"}, {address: backend.example}]\n";

/*
 * ServiceEntries' IPv6 addresses: a host given none (and no IPv4 one) gets 2001:2::f0f0:XXYY
 * beside its allocated 240.240.XX.YY, the same on every computation; a host's first IPv6
 * address is its vip6 (the rest stay CIDRs); a host with an IPv4 address only, or an IPv6 CIDR
 * only, gets none allocated. An address a host names itself in 2001:2::/48 is never handed to
 * another.
 */
static void test_service_entries_ipv6(void **state)
{
	struct fixture *f = *state;
	struct config_diags diags = {0};
	const struct snap_service *api, *six, *four, *blocks, *taker, *lit6;
	struct ipaddr api6;
	char *yaml, addr[IPADDR_STRLEN];

	assert_int_equal(
	    config_load_buffer(&f->cfg, "se6.yaml", ENTRIES6, strlen(ENTRIES6), &diags), 0);
	config_diags_free(&diags);
	/* An IPv4-only node hands out no IPv6 address its pods could not reach. */
	compute(f);
	api = entry_of(&f->d, "api.example.com");
	assert_int_equal(ntohl(api->vip) >> 16, 0xf0f0);
	assert_int_equal(api->vip6.family, 0);
	f->ipv6 = true;
	compute(f);
	api = entry_of(&f->d, "api.example.com");
	assert_int_equal(ntohl(api->vip) >> 16, 0xf0f0);
	assert_int_equal(api->vip6.family, AF_INET6);
	assert_true(paired6(&api->vip6, api->vip));
	api6 = api->vip6;

	six = entry_of(&f->d, "six.internal");
	assert_true(ipaddr_equal(
	    &six->vip6, &(struct ipaddr){AF_INET6, 128, {0x20, 0x01, 0x0d, 0xb8, [15] = 0x10}}));
	assert_int_equal(six->n_cidrs, 1);
	assert_true(
	    ipaddr_equal(&six->cidrs[0],
			 &(struct ipaddr){AF_INET6, 128, {0x20, 0x01, 0x0d, 0xb8, [15] = 0x11}}));
	/* (Its IPv4 address is allocated, as before: IPv6 addresses do not give one.) */
	assert_int_equal(ntohl(six->vip) >> 16, 0xf0f0);

	four = entry_of(&f->d, "four.internal");
	assert_int_equal(four->vip, ip("192.0.2.40"));
	assert_int_equal(four->vip6.family, 0);
	blocks = entry_of(&f->d, "blocks.internal");
	assert_int_equal(blocks->vip6.family, 0);
	assert_int_equal(blocks->n_cidrs, 1);
	/* A DNS entry's IPv6 literal endpoint is an endpoint, never a name to resolve. */
	lit6 = entry_of(&f->d, "lit6.internal");
	assert_int_equal(lit6->nendpoints6, 1);
	assert_int_equal(lit6->n_names, 1);
	assert_string_equal(lit6->names[0], "backend.example");

	/* Stable across recomputations. */
	compute(f);
	api = entry_of(&f->d, "api.example.com");
	assert_true(ipaddr_equal(&api->vip6, &api6));

	/* Another entry names api's IPv6 address as its own: api's pair moves, both unique. */
	ipaddr_format(&api6, addr, sizeof(addr));
	assert_true(asprintf(&yaml,
			     "apiVersion: networking.istio.io/v1\n"
			     "kind: ServiceEntry\n"
			     "metadata: {name: taker, namespace: demo}\n"
			     "spec:\n"
			     "  hosts: [taker.internal]\n"
			     "  addresses: [\"%s\", 192.0.2.60]\n"
			     "  resolution: STATIC\n"
			     "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
			     "  endpoints: [{address: 192.0.2.61}]\n",
			     addr) > 0);
	assert_int_equal(config_load_buffer(&f->cfg, "taker.yaml", yaml, strlen(yaml), &diags), 0);
	free(yaml);
	config_diags_free(&diags);
	compute(f);
	taker = entry_of(&f->d, "taker.internal");
	api = entry_of(&f->d, "api.example.com");
	assert_true(ipaddr_equal(&taker->vip6, &api6));
	assert_false(ipaddr_equal(&api->vip6, &api6));
	assert_true(paired6(&api->vip6, api->vip));
}

static void test_diff(void **state)
{
	struct dp_entry cur[3] = {{.key = 3, .val = {1}}, {.key = 1, .val = {1}}, {.key = 2}};
	struct dp_entry want[3] = {{.key = 2}, {.key = 1, .val = {2}}, {.key = 4, .val = {4}}};
	struct dp_diff d;

	assert_int_equal(dp_diff_compute(cur, 3, want, 3, &d), 0);
	assert_int_equal(d.n_del, 1);
	assert_int_equal(d.del[0].key, 3);
	assert_int_equal(d.n_set, 2);
	assert_int_equal(d.set[0].key, 1);
	assert_int_equal(d.set[0].val[0], 2);
	assert_int_equal(d.set[1].key, 4);
	dp_diff_free(&d);

	{
		/* 16-byte keys (IPv6) that differ only in their second half are two keys. */
		struct dp_entry c6[2] = {{.key = 7, .key2 = 1}, {.key = 7, .key2 = 2, .val = {1}}};
		struct dp_entry w6[2] = {{.key = 7, .key2 = 2, .val = {1}}, {.key = 7, .key2 = 3}};

		assert_int_equal(dp_diff_compute(c6, 2, w6, 2, &d), 0);
		assert_int_equal(d.n_del, 1);
		assert_true(d.del[0].key == 7 && d.del[0].key2 == 1);
		assert_int_equal(d.n_set, 1);
		assert_true(d.set[0].key == 7 && d.set[0].key2 == 3);
		dp_diff_free(&d);
	}

	assert_int_equal(dp_diff_compute(NULL, 0, want, 3, &d), 0);
	assert_int_equal(d.n_set, 3);
	assert_int_equal(d.n_del, 0);
	dp_diff_free(&d);
	assert_int_equal(dp_diff_compute(cur, 3, NULL, 0, &d), 0);
	assert_int_equal(d.n_del, 3);
	dp_diff_free(&d);
	assert_int_equal(dp_diff_compute(want, 3, want, 3, &d), 0);
	assert_int_equal(d.n_set + d.n_del, 0);
	dp_diff_free(&d);
}

static void test_service_diff(void **state)
{
	struct ambit_backend b1[1] = {{.ip = 1, .port = 80}}, b2[1] = {{.ip = 2, .port = 80}};
	struct dp_service cur[3] = {
	    {.vip = ip("10.96.0.10"), .port = 80, .n = 1, .backends = b1, .known = true},
	    {.vip = ip("10.96.0.11"), .port = 80, .n = 1, .backends = b1, .known = true},
	    {.vip = ip("10.96.0.12"), .port = 80}, /* read back after a restart */
	};
	struct dp_service want[3] = {
	    {.vip = ip("10.96.0.10"), .port = 80, .n = 1, .backends = b1, .known = true},
	    {.vip = ip("10.96.0.11"), .port = 80, .n = 1, .backends = b2, .known = true},
	    {.vip = ip("10.96.0.12"), .port = 80, .n = 0, .known = true},
	};
	struct dp_service_diff d;
	struct dp_service *dup;

	assert_int_equal(dp_service_diff_compute(cur, 3, want, 2, &d), 0);
	assert_int_equal(d.n_set, 1);
	assert_int_equal(d.set[0]->vip, ip("10.96.0.11"));
	assert_int_equal(d.n_del, 1);
	assert_int_equal(d.del[0].vip, ip("10.96.0.12"));
	dp_service_diff_free(&d);
	/* Unknown backends are always rewritten, even when the wanted set is empty. */
	assert_int_equal(dp_service_diff_compute(cur, 3, want, 3, &d), 0);
	assert_int_equal(d.n_set, 2);
	assert_int_equal(d.n_del, 0);
	dp_service_diff_free(&d);

	dup = dp_services_dup(want, 3);
	assert_non_null(dup);
	assert_ptr_not_equal(dup[1].backends, want[1].backends);
	assert_int_equal(dup[1].backends[0].ip, 2);
	dp_services_free(dup, 3);
}

static void expect_bad(const char *json, const char *needle)
{
	struct runtime rt;
	char err[256] = "";

	assert_int_equal(runtime_parse(json, strlen(json), &rt, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	runtime_free(&rt);
}

static void test_runtime_malformed(void **state)
{
	expect_bad("", "JSON");
	expect_bad("{\"pods\":[", "JSON");
	expect_bad("[]", "top level");
	expect_bad("{\"pods\":{}}", "pods: not an array");
	expect_bad("{\"pods\":[42]}", "pods[0]");
	expect_bad("{\"pods\":[{\"name\":\"a\",\"node\":\"n\",\"ip\":\"10.0.0.1\"}]}",
		   "pods[0].namespace");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\"}]}",
		   "pods[0].ip");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip\":\"10.0.0.300\"}]}",
		   "pods[0].ip");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\",\"ip\":7}]}",
		   "pods[0].ip");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip\":\"10.0.0.1\",\"labels\":{\"x\":1}}]}",
		   "pods[0].labels");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip\":\"10.0.0.1\",\"hostIface\":[]}]}",
		   "pods[0].hostIface");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip\":\"10.0.0.1\",\"ip6\":\"10.0.0.2\"}]}",
		   "pods[0].ip6: not an IPv6 address");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip\":\"10.0.0.1\",\"ip6\":6}]}",
		   "pods[0].ip6");
	/* An IPv6-only pod: "ip6" alone, of its family; neither is refused, as 0.0.0.0 is. */
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip6\":\"10.0.0.2\"}]}",
		   "pods[0].ip6: not an IPv6 address");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip\":\"fd00::1\"}]}",
		   "pods[0].ip: not an IPv4 address");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip\":\"0.0.0.0\",\"ip6\":\"fd00::1\"}]}",
		   "pods[0].ip: not an IPv4 address");
	expect_bad("{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
		   "\"ip\":\"\",\"ip6\":\"fd00::1\"}]}",
		   "pods[0].ip: not an IPv4 address");
	{
		static const char good[] = "{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\","
					   "\"node\":\"n\",\"ip6\":\"fd00:98:1::7\"}]}";
		struct runtime rt;
		char err[256], txt[IPADDR_STRLEN];

		assert_int_equal(runtime_parse(good, strlen(good), &rt, err, sizeof(err)), 0);
		assert_int_equal(rt.n_pods, 1);
		assert_int_equal(rt.pods[0].ip, 0);
		assert_string_equal(ipaddr_format(&rt.pods[0].ip6, txt, sizeof(txt)),
				    "fd00:98:1::7");
		runtime_free(&rt);
	}
	expect_bad("{\"pods\":[],\"serviceIPs\":{\"d/s\":\"nope\"}}", "serviceIPs");
	expect_bad("{\"pods\":[],\"serviceIPs\":[]}", "serviceIPs");
	expect_bad("{\"pods\":[],\"serviceIPs\":{\"d/s\":\"10.96.0.1\"},\"serviceIPs6\":[]}",
		   "serviceIPs6: not an object");
	expect_bad("{\"pods\":[],\"serviceIPs6\":{\"t\":\"fd00::1\"}}",
		   "serviceIPs6[\"t\"]: not namespace/name");
	expect_bad("{\"pods\":[],\"serviceIPs6\":{\"d/\":\"fd00::1\"}}",
		   "serviceIPs6[\"d/\"]: not namespace/name");
	expect_bad("{\"pods\":[],\"serviceIPs6\":{\"d/t\":\"10.96.0.2\"}}",
		   "serviceIPs6[\"d/t\"]: not an IPv6 address");
	expect_bad("{\"pods\":[],\"serviceIPs\":{\"d/s\":\"10.96.0.1\"},"
		   "\"serviceIPs6\":{\"d/s\":\"10.96.0.2\"}}",
		   "serviceIPs6[\"d/s\"]: not an IPv6 address");
	{
		static const char good[] = "{\"pods\":[],\"serviceIPs\":{\"d/s\":\"10.96.0.1\"},"
					   "\"serviceIPs6\":{\"d/s\":\"fd00:96::1\"}}";
		struct runtime rt;
		char err[256], txt[IPADDR_STRLEN];

		assert_int_equal(runtime_parse(good, strlen(good), &rt, err, sizeof(err)), 0);
		assert_non_null(runtime_service_ip6(&rt, "d", "s"));
		assert_string_equal(
		    ipaddr_format(runtime_service_ip6(&rt, "d", "s"), txt, sizeof(txt)),
		    "fd00:96::1");
		assert_null(runtime_service_ip6(&rt, "d", "t"));
		runtime_free(&rt);
	}
	{
		/* A SingleStack IPv6 Service: in serviceIPs6 alone, beside a dual-stack one. */
		static const char good[] = "{\"pods\":[],\"serviceIPs\":{\"d/s\":\"10.96.0.1\"},"
					   "\"serviceIPs6\":{\"d/s\":\"fd00:96::1\","
					   "\"d/t\":\"fd00:96::2\"}}";
		static const char alone[] = "{\"serviceIPs6\":{\"d/t\":\"fd00:96::2\"}}";
		struct runtime rt;
		char err[256], txt[IPADDR_STRLEN];

		assert_int_equal(runtime_parse(good, strlen(good), &rt, err, sizeof(err)), 0);
		assert_int_equal(rt.n_service_ips, 2);
		assert_int_equal(runtime_service_ip(&rt, "d", "s"), ip("10.96.0.1"));
		assert_int_equal(runtime_service_ip(&rt, "d", "t"), 0);
		assert_non_null(runtime_service_ip6(&rt, "d", "t"));
		assert_string_equal(
		    ipaddr_format(runtime_service_ip6(&rt, "d", "t"), txt, sizeof(txt)),
		    "fd00:96::2");
		runtime_free(&rt);
		assert_int_equal(runtime_parse(alone, strlen(alone), &rt, err, sizeof(err)), 0);
		assert_int_equal(rt.n_service_ips, 1);
		assert_int_equal(runtime_service_ip(&rt, "d", "t"), 0);
		assert_non_null(runtime_service_ip6(&rt, "d", "t"));
		assert_null(runtime_service_ip6(&rt, "d", "s"));
		runtime_free(&rt);
	}
}

static void test_runtime_good(void **state)
{
	const char *json = "{\"pods\":[{\"namespace\":\"d\",\"name\":\"a\",\"node\":\"n\","
			   "\"ip\":\"10.0.0.1\",\"ip6\":\"fd00:98:1::1\",\"owner\":null,"
			   "\"labels\":{\"k\":\"v\"}}],"
			   "\"serviceIPs\":{\"d/s\":\"10.96.0.10\"}}";
	char path[] = "/tmp/ambit-test-agent-XXXXXX", six[IPADDR_STRLEN];
	struct runtime rt;
	char err[256];
	int fd;

	assert_int_equal(runtime_parse(json, strlen(json), &rt, err, sizeof(err)), 0);
	assert_int_equal(rt.n_pods, 1);
	assert_string_equal(rt.pods[0].uid, "d/a");
	assert_string_equal(rt.pods[0].service_account, "default");
	assert_null(rt.pods[0].owner);
	assert_null(rt.pods[0].cgroup);
	assert_string_equal(config_label_get(&rt.pods[0].labels, "k"), "v");
	assert_string_equal(ipaddr_format(&rt.pods[0].ip6, six, sizeof(six)), "fd00:98:1::1");
	assert_int_equal(runtime_service_ip(&rt, "d", "s"), ip("10.96.0.10"));
	assert_int_equal(runtime_service_ip(&rt, "d", "t"), 0);
	assert_int_equal(runtime_service_ip(&rt, "", "s"), 0);
	runtime_free(&rt);

	/* Empty object: no pods yet. A missing file is the same. */
	assert_int_equal(runtime_parse("{}", 2, &rt, err, sizeof(err)), 0);
	assert_int_equal(rt.n_pods, 0);
	runtime_free(&rt);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	assert_int_equal(runtime_load(path, &rt, err, sizeof(err)), 0);
	assert_int_equal(rt.n_pods, 1);
	runtime_free(&rt);
	unlink(path);
	assert_int_equal(runtime_load(path, &rt, err, sizeof(err)), 0);
	assert_int_equal(rt.n_pods, 0);
	runtime_free(&rt);
}

/* desired_compute with @prev in force, under trust domain @td. */
/* Whether @d's sentry_cidrs hold @addr (a whole address: /32, /128) on @port. */
static bool cidr_has(const struct desired *d, const char *addr, uint16_t port)
{
	struct ipaddr a = {0};

	assert_int_equal(ipaddr_parse(addr, &a), 0);
	for (size_t i = 0; i < d->n_sentry_cidrs; i++)
		if (d->sentry_cidrs[i].port == port && ipaddr_equal(&d->sentry_cidrs[i].net, &a))
			return true;
	return false;
}

/*
 * Multicluster UDP: a global Service other clusters serve too, and one made for another
 * cluster's, are the ztunnel's to balance: their UDP ports at their VIPs are sentry_cidrs
 * (every port of a made one, whose protocols are not known here), a Service served here alone
 * and a TCP port are not.
 */
static void test_remote_udp(void **state)
{
	struct fixture *f = *state;
	static const char pods[] =
	    "{\"pods\":["
	    "{\"namespace\":\"demo\",\"name\":\"echo-0\",\"node\":\"node1\",\"ip\":\"10.98.1.7\","
	    " \"labels\":{\"app\":\"echo\"}}]}";
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: demo}\n"
	    "spec: {clusterIP: 10.96.0.7, selector: {app: echo},"
	    " ports: [{name: echo, port: 7, protocol: UDP}, {name: http, port: 80}]}\n"
	    "---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: home, namespace: demo}\n"
	    "spec: {clusterIP: 10.96.0.9, selector: {app: echo},"
	    " ports: [{name: echo, port: 9, protocol: UDP}]}\n";
	struct snap_remote_service remote = {.hostname = "echo.demo.svc.cluster.local",
					     .network = "network2"};
	struct snap_service_port ports[] = {{.port = 7}, {.port = 8}};
	struct snap_service made = {.hostname = "east.demo.svc.cluster.local",
				    .vip = ip("240.241.0.5"),
				    .ports = ports,
				    .nports = 2};

	load_world(f, pods, "svc.yaml", yaml);
	assert_int_equal(f->d.n_sentry_cidrs, 0);
	assert_int_equal(ipaddr_parse("2001:2::f1f1:5", &made.vip6), 0);
	f->remote = &remote;
	f->n_remote = 1;
	f->made = &made;
	f->n_made = 1;
	compute(f);
	assert_true(cidr_has(&f->d, "10.96.0.7", 7));
	assert_false(cidr_has(&f->d, "10.96.0.7", 80));
	assert_false(cidr_has(&f->d, "10.96.0.9", 9));
	assert_true(cidr_has(&f->d, "240.241.0.5", 7));
	assert_true(cidr_has(&f->d, "240.241.0.5", 8));
	assert_true(cidr_has(&f->d, "2001:2::f1f1:5", 7));
	assert_true(cidr_has(&f->d, "2001:2::f1f1:5", 8));
	assert_int_equal(f->d.n_sentry_cidrs, 5);
	f->remote = NULL;
	f->n_remote = 0;
	f->made = NULL;
	f->n_made = 0;
}

static void compute_from(struct fixture *f, const struct desired *prev, const char *td,
			 struct desired *out)
{
	struct desired_env env = {
	    .node = "node1",
	    .node_ip = ip("10.99.0.11"),
	    .trust_domain = td,
	    .cluster = &f->cluster,
	    .ifindex_of = fake_ifindex,
	    .cgroup_id_of = fake_cgroup,
	    .prev = prev,
	};

	assert_int_equal(desired_compute(&f->cfg, &f->rt, &env, out), 0);
}

static const struct snap_workload *swl_of(const struct desired *d, const char *addr)
{
	for (size_t i = 0; i < d->n_snap_workloads; i++)
		if (d->snap_workloads[i].ip == ip(addr))
			return &d->snap_workloads[i];
	return NULL;
}

/*
 * A workload made from the same Pod object, identity, node and enrollment as the one in force
 * borrows its strings; anything else is made anew; desired_adopt hands them over (ASan checks
 * that nothing is freed twice or lost).
 */
static void test_unchanged_workloads_borrowed(void **state)
{
	struct fixture *f = *state;
	struct desired d1, d2, d3;
	const struct snap_workload *a, *b;

	for (size_t i = 0; i < f->rt.n_pods; i++)
		f->rt.pods[i].serial = 100 + i;
	config_stamp_ids(&f->cfg); /* the Services' serials */
	compute_from(f, NULL, "cluster.local", &d1);
	for (size_t i = 0; i < d1.n_snap_workloads; i++)
		assert_int_equal(d1.snap_workloads[i].borrowed, 0);

	/* web-1 is a new load of its Pod. */
	f->rt.pods[0].serial = 900;
	compute_from(f, &d1, "cluster.local", &d2);
	assert_int_equal(d2.n_snap_workloads, d1.n_snap_workloads);
	a = swl_of(&d1, "10.98.1.4");
	b = swl_of(&d2, "10.98.1.4"); /* db-1: unchanged */
	assert_non_null(b);
	assert_true(b->borrowed);
	assert_ptr_equal(b->uid, a->uid);
	assert_ptr_equal(b->canonical_revision, a->canonical_revision);
	assert_int_equal(d2.n_snap_services, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct snap_service *x = &d1.snap_services[i], *y = &d2.snap_services[i];

		assert_true(y->borrowed);
		assert_ptr_equal(y->hostname, x->hostname);
		assert_ptr_equal(y->ports[0].name, x->ports[0].name);
		assert_ptr_not_equal(y->ports, x->ports);
		assert_ptr_not_equal(y->endpoints, x->endpoints);
	}
	b = swl_of(&d2, "10.98.1.2"); /* web-1: another load */
	assert_int_equal(b->borrowed, 0);
	assert_ptr_not_equal(b->uid, swl_of(&d1, "10.98.1.2")->uid);
	assert_string_equal(b->uid, "demo/web-1");
	assert_int_equal(b->serial, 900);

	/* Another trust domain: every identity differs, nothing is borrowed. */
	compute_from(f, &d1, "other.domain", &d3);
	for (size_t i = 0; i < d3.n_snap_workloads; i++)
		assert_int_equal(d3.snap_workloads[i].borrowed, 0);
	assert_string_equal(swl_of(&d3, "10.98.1.4")->identity,
			    "spiffe://other.domain/ns/legacy/sa/default");
	desired_free(&d3);

	/* Handed over: the old state goes first, the new one keeps every string. */
	desired_adopt(&d2, &d1);
	desired_free(&d1);
	b = swl_of(&d2, "10.98.1.4");
	assert_int_equal(b->borrowed, 0);
	assert_string_equal(b->uid, "legacy/db-1");
	assert_string_equal(b->identity, "spiffe://cluster.local/ns/legacy/sa/default");
	assert_string_equal(swl_of(&d2, "10.98.2.9")->canonical_service, "importer");
	assert_string_equal(d2.snap_services[0].hostname, "web.demo.svc.cluster.local");
	assert_string_equal(d2.snap_services[0].ports[0].name, "http");
	assert_int_equal(d2.snap_services[0].borrowed, 0);

	/* A Service loaded anew (demo/web, sorted first) is made anew. */
	f->cfg.services[0].meta.serial = 0;
	compute_from(f, &d2, "cluster.local", &d3);
	assert_int_equal(d3.snap_services[0].borrowed, 0);
	assert_true(d3.snap_services[1].borrowed);
	assert_ptr_not_equal(d3.snap_services[0].hostname, d2.snap_services[0].hostname);
	desired_free(&d3);

	/* A computation that is never adopted frees only what it owns. */
	compute_from(f, &d2, "cluster.local", &d3);
	assert_true(swl_of(&d3, "10.98.1.4")->borrowed);
	desired_free(&d3);
	assert_string_equal(swl_of(&d2, "10.98.1.4")->uid, "legacy/db-1");
	desired_free(&d2);
}

#define DUP_NODES                                                                                  \
	"{\"nodes\":[{\"name\":\"a\",\"ip\":\"fd00::1\"},{\"name\":\"a\",\"ip\":\"10.0.0.1\"}]}"

static void test_cluster_json(void **state)
{
	struct rt_cluster c;
	char err[256];

	assert_int_equal(runtime_cluster_parse(CLUSTER, strlen(CLUSTER), &c, err, sizeof(err)), 0);
	assert_int_equal(runtime_node_ip(&c, "node2"), ip("10.99.0.12"));
	assert_int_equal(runtime_node_ip(&c, "node9"), 0);
	runtime_cluster_free(&c);
	assert_int_equal(
	    runtime_cluster_parse("{\"nodes\":[{\"name\":1}]}", 21, &c, err, sizeof(err)), -EINVAL);
	runtime_cluster_free(&c);
	assert_int_equal(runtime_cluster_parse("{}", 2, &c, err, sizeof(err)), -EINVAL);
	runtime_cluster_free(&c);
	/* A repeated name is refused, naming both (fuzz_runtime found the IPv6-only first and an
	 * IPv4 second answering for neither). */
	assert_int_equal(runtime_cluster_parse(DUP_NODES, strlen(DUP_NODES), &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "nodes[1]: name \"a\" repeats nodes[0]");
	runtime_cluster_free(&c);
}

/* A node of an IPv6-only cluster by its IPv6 alone; a dual-stack one's IPv6 as "ip6". */
static void test_cluster_json_ipv6(void **state)
{
	static const char *const bad[] = {
	    "{\"nodes\":[{\"name\":\"n\",\"ip\":\"0.0.0.0\"}]}",
	    "{\"nodes\":[{\"name\":\"n\",\"ip\":\"fd00::1\",\"ip6\":\"fd00::2\"}]}",
	    "{\"nodes\":[{\"name\":\"n\",\"ip\":\"10.0.0.1\",\"ip6\":\"10.0.0.2\"}]}",
	    "{\"nodes\":[{\"name\":\"n\",\"ip\":\"10.0.0.1\",\"ip6\":6}]}",
	    "{\"nodes\":[{\"name\":\"n\",\"ip\":\"10.0.0.1/24\"}]}",
	};
	const char *good = "{\"nodes\":[{\"name\":\"v6\",\"ip\":\"fd00:99::11\"},"
			   "{\"name\":\"dual\",\"ip\":\"10.99.0.12\",\"ip6\":\"fd00:99::12\"}]}";
	struct rt_cluster c;
	char err[256], txt[IPADDR_STRLEN];

	(void)state;
	assert_int_equal(runtime_cluster_parse(good, strlen(good), &c, err, sizeof(err)), 0);
	assert_int_equal(runtime_node_ip(&c, "v6"), 0);
	assert_string_equal(ipaddr_format(&runtime_node(&c, "v6")->ip6, txt, sizeof(txt)),
			    "fd00:99::11");
	assert_int_equal(runtime_node_ip(&c, "dual"), ip("10.99.0.12"));
	assert_string_equal(ipaddr_format(&runtime_node(&c, "dual")->ip6, txt, sizeof(txt)),
			    "fd00:99::12");
	assert_null(runtime_node(&c, "node9"));
	runtime_cluster_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    runtime_cluster_parse(bad[i], strlen(bad[i]), &c, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "nodes[0]"));
		runtime_cluster_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enrollment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unenroll_namespace_is_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_services, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_entry_udp_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_entries_ipv6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_selectorless_services, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_named_port_unresolvable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_waypoint_bindings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_waypoint_bindings_ipv6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_ip_and_missing_vip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dual_stack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_only_pods, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_only_service, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_protocols, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_selectorless_ipv6_slices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slice_port_per_endpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unchanged_workloads_borrowed, setup, teardown),
	    cmocka_unit_test(test_diff),
	    cmocka_unit_test(test_service_diff),
	    cmocka_unit_test(test_runtime_malformed),
	    cmocka_unit_test(test_runtime_good),
	    cmocka_unit_test(test_cluster_json),
	    cmocka_unit_test(test_cluster_json_ipv6),
	    cmocka_unit_test_setup_teardown(test_excluded_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remote_udp, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
