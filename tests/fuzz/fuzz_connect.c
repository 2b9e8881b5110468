// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for inbound HBONE up to the pod: the input is what a peer ztunnel sends
 * after the TLS handshake, into a real server connection (tests/lib/hbone_seam.h) whose peer
 * identity is one a handshake could have verified, and whose CONNECTs the ztunnel's own
 * zt_hbone_accept decides: zt_check_connect (sock_parse_authority, sock_parse_forwarded_for,
 * the claimed client's identity), policy, the upstream connect and the stream's splice.
 * The target runs in a network namespace of its own (fuzz_env.h): the pods are loopback
 * addresses there; "web" (127.0.0.2:8080) and "db" (127.0.0.5:5432) listen and greet each
 * connection, so streams get established and carry bytes both ways.
 * Input: byte 0 picks the peer identity (bits 0-1) and where the rest is cut (bits 2-7, in
 * 16-byte units: loop rounds run at the cut, so upstream sockets connect mid-stream, as on the
 * wire); the rest is the peer's bytes, client preface included. Seeds:
 * tests/fuzz/corpus/fuzz_connect/ (gen_seeds.c: CONNECTs allowed, denied by policy, to a pod
 * not enrolled, from each identity, claiming another workload, malformed, several at once).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/ca.h"
#include "ambit/config.h"
#include "ambit/log.h"
#include "ambit/policy.h"
#include "../../ztunnel/authz.h"
#include "../../ztunnel/proxy_priv.h"
#include "net/meshstate.h"
#include "../lib/fuzz_env.h"
#include "../lib/hbone_seam.h"

#define TD "spiffe://cluster.local/ns/demo/sa/"

static const char config_yaml[] =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: demo\n"
    "  labels:\n    app: web\nspec:\n  containers:\n  - name: c\n    image: x\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: db\n  namespace: demo\n"
    "  labels:\n    app: db\nspec:\n  containers:\n  - name: c\n    image: x\n"
    "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
    "  name: db-deny-client\n  namespace: demo\nspec:\n  selector:\n    matchLabels:\n"
    "      app: db\n  action: DENY\n  rules:\n  - from:\n    - source:\n        principals:\n"
    "        - cluster.local/ns/demo/sa/client\n";

/* Who the peer is: the client node's workload, a local one, nobody, another trust domain. */
static const char *const peer_ids[4] = {TD "client", TD "web", NULL,
					"spiffe://evil.example/ns/demo/sa/client"};

static struct zt_worker worker;
static struct tls_ctx *server_ctx;
static int listeners[2];
static int accepted[64];
static size_t n_accepted;

static void add_wl(struct snapshot *s, const char *name, const char *ip, const char *node,
		   bool enrolled)
{
	struct snap_workload *w = &s->workloads[s->n_workloads++];
	char id[128];

	snprintf(id, sizeof(id), TD "%s", name);
	w->uid = strdup(name);
	w->name = strdup(name);
	w->namespace = strdup("demo");
	w->service_account = strdup(name);
	w->identity = strdup(id);
	w->node = strdup(node);
	w->workload_name = strdup(name);
	w->app = strdup(name);
	w->version = strdup("v1");
	w->ip = fuzz_ip4(ip);
	w->enrolled = enrolled;
}

/* The policy set: "db" refuses the client's identity (so a CONNECT can be denied by policy). */
static struct policy_set *compile_policy(void)
{
	struct config_diags d = {0};
	struct policy_workload_input in[2];
	struct policy_set *ps;
	struct config cfg;

	config_init(&cfg);
	if (config_load_buffer(&cfg, "fuzz.yaml", config_yaml, sizeof(config_yaml) - 1, &d) ||
	    cfg.n_pods != 2)
		abort();
	for (size_t i = 0; i < 2; i++) {
		static char uids[2][32];

		snprintf(uids[i], sizeof(uids[i]), "demo/%s", cfg.pods[i].meta.name);
		in[i] = (struct policy_workload_input){uids[i], "demo", &cfg.pods[i].meta.labels};
	}
	ps = policy_compile(&cfg, in, 2, NULL, NULL);
	if (!ps)
		abort();
	config_free(&cfg);
	config_diags_free(&d);
	return ps;
}

static int listen_on(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = fuzz_ip4(ip)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 256))
		abort();
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct ca_issued is = {0};
	struct ambit_ca *ca;
	char dir[256];

	log_init("fuzz_connect", LOG_LEVEL_ERROR);
	if (fuzz_private_netns("fuzz_connect", false) ||
	    fuzz_scratch_dir("fuzz_connect", dir, sizeof(dir)))
		exit(1);
	/* hbone_conn_new wants a server context; the seam never handshakes with it. */
	ca = ca_open(dir);
	if (!ca || ca_issue(ca, TD "web", 3600, &is))
		abort();
	server_ctx = tls_ctx_create(true, is.cert_pem, is.key_pem, ca_root_pem(ca));
	if (!server_ctx)
		abort();
	ca_issued_free(&is);
	ca_destroy(ca);

	s->version = 1;
	s->node = strdup("node1");
	s->trust_domain = strdup("cluster.local");
	s->workloads = calloc(4, sizeof(*s->workloads));
	if (!s || !s->workloads)
		abort();
	add_wl(s, "web", "127.0.0.2", "node1", true);
	add_wl(s, "client", "127.0.0.3", "node2", true);
	add_wl(s, "plain", "127.0.0.4", "node1", false);
	add_wl(s, "db", "127.0.0.5", "node1", true);
	for (size_t i = 0; i < s->n_workloads; i++) {
		char *uid;

		if (asprintf(&uid, "demo/%s", s->workloads[i].name) < 0)
			abort();
		free(s->workloads[i].uid);
		s->workloads[i].uid = uid;
	}
	/* Service "web" selects the pod: a `forwarded: host=` naming it labels the metrics. */
	s->services = calloc(1, sizeof(*s->services));
	if (!s->services)
		abort();
	s->n_services = 1;
	s->services[0] = (struct snap_service){.name = strdup("web"),
					       .namespace = strdup("demo"),
					       .hostname = strdup("web.demo.svc.cluster.local"),
					       .vip = fuzz_ip4("10.96.0.10"),
					       .nports = 1,
					       .ports = calloc(1, sizeof(struct snap_service_port)),
					       .nendpoints = 1,
					       .endpoints = calloc(1, sizeof(uint32_t))};
	if (!s->services[0].ports || !s->services[0].endpoints)
		abort();
	s->services[0].ports[0] = (struct snap_service_port){strdup("http"), 80, 8080};
	s->services[0].endpoints[0] = fuzz_ip4("127.0.0.2");
	s->policies = compile_policy();
	worker.st = mesh_state_create();
	worker.tracker = authz_tracker_create();
	if (!worker.st || !worker.tracker || mesh_state_install(worker.st, s))
		abort();
	listeners[0] = listen_on("127.0.0.2", 8080);
	listeners[1] = listen_on("127.0.0.5", 5432);
	return 0;
}

/* The pods: take every new connection and greet it (the greeting flows back as DATA). */
static void pods_serve(void)
{
	for (int i = 0; i < 2; i++) {
		int fd;

		while (n_accepted < sizeof(accepted) / sizeof(accepted[0]) &&
		       (fd = accept4(listeners[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
			   0) {
			if (send(fd, "hello from the pod\n", 19, MSG_NOSIGNAL) < 0)
				(void)0; /* a client already gone: fine */
			accepted[n_accepted++] = fd;
		}
	}
}

static void step(struct hbone_seam *s)
{
	for (int i = 0; i < 3; i++) {
		hbone_seam_step(s, 0);
		pods_serve();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hbone_seam_server o = {
	    .ctx = server_ctx, .on_accept = zt_hbone_accept, .user = &worker};
	struct hbone_seam s;
	size_t cut;

	if (!size)
		return 0;
	o.peer_identity = peer_ids[data[0] & 3];
	sockaddr_inet_v4(&o.local, fuzz_ip4("127.0.0.2"), 15008);
	sockaddr_inet_v4(&o.peer, fuzz_ip4("127.0.0.3"), 40000);
	cut = (size_t)(data[0] >> 2) * 16;
	data++;
	size--;
	if (cut > size)
		cut = size;
	if (hbone_seam_server(&s, &o))
		abort();
	if (hbone_seam_feed(&s, data, cut) == 0) {
		step(&s);
		if (hbone_seam_feed(&s, data + cut, size - cut) == 0)
			step(&s);
	}
	hbone_seam_close(&s);
	while (n_accepted)
		close(accepted[--n_accepted]);
	return 0;
}
