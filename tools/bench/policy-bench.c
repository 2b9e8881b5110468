// SPDX-License-Identifier: Apache-2.0
/*
 * Policy benchmark (not a test: it reports, never asserts a time). Builds W workloads in W/10
 * namespaces and P AuthorizationPolicies of mixed scope (a few mesh-wide, one per namespace,
 * the rest workload selectors) plus PeerAuthentications at every level, as YAML manifests; then
 * times the full update the agent does on a change (YAML load, policy_compile, JSON encode, and
 * the ztunnel's decode) and the per-connection decision (policy_evaluate) over random
 * connections. Run at several policy counts to show the decision does not grow with them.
 *   build/bench-policy [WORKLOADS [POLICIES]]      (default 10000 10000)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "ambit/policy.h"

#define PODS_PER_NS 10
#define APPS 5
#define NCONNS 200000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Deterministic xorshift: the same run every time. */
static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

struct bench_wl {
	char uid[64], ns[32], identity[128];
	struct config_label labels[2];
	struct config_labels ls;
	char app[24], id[24];
	uint32_t ip;
};

static void make_workloads(struct bench_wl *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t ns = i / PODS_PER_NS;

		snprintf(w[i].ns, sizeof(w[i].ns), "ns-%zu", ns);
		snprintf(w[i].uid, sizeof(w[i].uid), "ns-%zu/pod-%zu", ns, i);
		snprintf(w[i].identity, sizeof(w[i].identity),
			 "spiffe://cluster.local/ns/ns-%zu/sa/sa-%zu", ns, i % APPS);
		snprintf(w[i].app, sizeof(w[i].app), "app-%zu", i % APPS);
		snprintf(w[i].id, sizeof(w[i].id), "%zu", i);
		w[i].labels[0] = (struct config_label){"app", w[i].app};
		w[i].labels[1] = (struct config_label){"id", w[i].id};
		w[i].ls = (struct config_labels){2, w[i].labels};
		w[i].ip = htonl(0x0a000000u | (uint32_t)(i + 1));
	}
}

/* Appends one policy document of mixed shape to @f. */
static void policy_doc(FILE *f, size_t i, size_t nns, size_t nwl)
{
	size_t ns = rnd((uint32_t)nns), peer = rnd((uint32_t)nns);
	const char *action = i % 4 == 0 ? "DENY" : "ALLOW";

	fprintf(f, "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n");
	if (i < 10) {
		/* mesh-wide: DENY source blocks and a namespace */
		fprintf(f,
			"metadata: {name: global-%zu, namespace: istio-system}\nspec:\n"
			"  action: DENY\n  rules:\n  - from:\n    - source:\n"
			"        ipBlocks: [192.168.%zu.0/24]\n        notNamespaces: [ns-%zu]\n",
			i, i, peer);
		return;
	}
	if (i < 10 + nns) {
		ns = i - 10;
		fprintf(f,
			"metadata: {name: ns-wide, namespace: ns-%zu}\nspec:\n  rules:\n"
			"  - from:\n    - source:\n        namespaces: [ns-%zu, ns-%zu]\n"
			"  - from:\n    - source:\n        principals: "
			"[\"cluster.local/ns/ns-%zu/*\"]\n"
			"    to:\n    - operation:\n        ports: [\"8080\", \"9090\"]\n",
			ns, ns, peer, (size_t)rnd((uint32_t)nns));
		return;
	}
	if (i % 2)
		fprintf(f,
			"metadata: {name: p-%zu, namespace: ns-%zu}\nspec:\n  selector:\n"
			"    matchLabels: {app: app-%u}\n",
			i, ns, rnd(APPS));
	else
		fprintf(f,
			"metadata: {name: p-%zu, namespace: ns-%zu}\nspec:\n  selector:\n"
			"    matchLabels: {id: \"%zu\"}\n",
			i, ns, ns * PODS_PER_NS + rnd(PODS_PER_NS) % (nwl ? nwl : 1));
	fprintf(f,
		"  action: %s\n  rules:\n  - from:\n    - source:\n"
		"        principals: [\"cluster.local/ns/ns-%zu/sa/sa-%u\"]\n"
		"    to:\n    - operation:\n        ports: [\"%u\"]\n"
		"  - from:\n    - source:\n        ipBlocks: [10.%u.0.0/16]\n"
		"    when:\n    - key: destination.port\n      notValues: [\"22\"]\n",
		action, peer, rnd(APPS), 8000 + rnd(4) * 10, rnd(256));
}

static void pa_docs(FILE *f, size_t nns)
{
	fprintf(
	    f,
	    "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
	    "metadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}\n");
	for (size_t ns = 0; ns < nns; ns += 10)
		fprintf(
		    f,
		    "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
		    "metadata: {name: ns, namespace: ns-%zu}\nspec:\n  mtls: {mode: PERMISSIVE}\n",
		    ns);
	for (size_t ns = 5; ns < nns; ns += 10)
		fprintf(f,
			"---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
			"metadata: {name: wl, namespace: ns-%zu}\nspec:\n  selector:\n"
			"    matchLabels: {app: app-1}\n  mtls: {mode: STRICT}\n"
			"  portLevelMtls:\n    8080: {mode: PERMISSIVE}\n",
			ns);
}

static int run(size_t nwl, size_t npol)
{
	struct policy_workload_input *in = calloc(nwl, sizeof(*in));
	struct bench_wl *w = calloc(nwl, sizeof(*w));
	struct policy_conn *conns = calloc(NCONNS, sizeof(*conns));
	size_t nns = (nwl + PODS_PER_NS - 1) / PODS_PER_NS, len = 0, denied = 0;
	struct config_diags diags = {0};
	double t0, t_load, t_comp, t_enc, t_dec, t_eval;
	struct policy_set *ps = NULL, *back = NULL;
	struct policy_decision d;
	char *yaml = NULL, *json = NULL;
	cJSON *j = NULL, *jb = NULL;
	struct config cfg;
	int ret = -ENOMEM;
	FILE *f;

	config_init(&cfg);
	if (!in || !w || !conns || !(f = open_memstream(&yaml, &len)))
		goto out;
	make_workloads(w, nwl);
	for (size_t i = 0; i < nwl; i++)
		in[i] = (struct policy_workload_input){w[i].uid, w[i].ns, &w[i].ls};
	for (size_t i = 0; i < npol; i++)
		policy_doc(f, i, nns, nwl);
	pa_docs(f, nns);
	if (fclose(f))
		goto out;

	t0 = now_ms();
	ret = config_load_buffer(&cfg, "bench.yaml", yaml, len, &diags);
	t_load = now_ms() - t0;
	if (ret) {
		char buf[512];

		config_diag_format(&diags.items[0], buf, sizeof(buf));
		fprintf(stderr, "bench-policy: generated YAML rejected: %s\n", buf);
		goto out;
	}
	t0 = now_ms();
	ps = policy_compile(&cfg, in, nwl, NULL, NULL);
	t_comp = now_ms() - t0;
	if (!ps)
		goto out;
	t0 = now_ms();
	j = policy_set_to_json(ps);
	json = j ? cJSON_PrintUnformatted(j) : NULL;
	t_enc = now_ms() - t0;
	if (!json)
		goto out;
	t0 = now_ms();
	jb = cJSON_Parse(json);
	back = jb ? policy_set_from_json(jb, NULL, 0) : NULL;
	t_dec = now_ms() - t0;
	if (!back)
		goto out;

	for (size_t i = 0; i < NCONNS; i++) {
		const struct bench_wl *dst = &w[rnd((uint32_t)nwl)], *src = &w[rnd((uint32_t)nwl)];

		conns[i] = (struct policy_conn){
		    .dst_uid = dst->uid,
		    .dst_namespace = dst->ns,
		    .dst_port = (uint16_t)(8000 + rnd(4) * 10),
		    .src_identity = rnd(10) ? src->identity : NULL,
		};
		ipaddr_from_v4(&conns[i].dst_ip, dst->ip);
		ipaddr_from_v4(&conns[i].src_ip,
			       rnd(8) ? src->ip : htonl(0xc0a80000u | rnd(65536)));
	}
	/* Best of five passes: the machine is shared, the minimum is the code's own cost. */
	t_eval = 1e18;
	for (int pass = 0; pass < 5; pass++) {
		double t;

		denied = 0;
		t0 = now_ms();
		for (size_t i = 0; i < NCONNS; i++) {
			policy_evaluate(back, &conns[i], &d);
			denied += d.verdict == POLICY_VERDICT_DENY;
		}
		t = now_ms() - t0;
		if (t < t_eval)
			t_eval = t;
	}
	printf(
	    "%6zu workloads %6zu policies %4zu PAs | load %8.1f ms  compile %7.1f ms  "
	    "encode %6.1f ms (%zu KiB)  decode %6.1f ms | decision %6.0f ns/conn (%zu%% denied)\n",
	    nwl, npol, cfg.n_peer_authentications, t_load, t_comp, t_enc, strlen(json) / 1024,
	    t_dec, t_eval * 1e6 / NCONNS, denied * 100 / NCONNS);
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "bench-policy: %zu x %zu failed: %s\n", nwl, npol, strerror(-ret));
	cJSON_Delete(j);
	cJSON_Delete(jb);
	free(json);
	policy_set_free(ps);
	policy_set_free(back);
	config_free(&cfg);
	config_diags_free(&diags);
	free(yaml);
	free(conns);
	free(in);
	free(w);
	return ret;
}

int main(int argc, char **argv)
{
	size_t nwl = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t npol = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;

	if (nwl < PODS_PER_NS || npol < 10 + nwl / PODS_PER_NS) {
		fprintf(stderr,
			"usage: bench-policy [WORKLOADS>=10 [POLICIES>=10+WORKLOADS/10]]\n");
		return 2;
	}
	printf("policy benchmark: %d random connections, best of 5 passes; wall clock\n", NCONNS);
	/* The same workloads under growing policy counts: decisions must stay flat. */
	if (npol > 10 + nwl / PODS_PER_NS + 100 && run(nwl, 10 + nwl / PODS_PER_NS + 100))
		return 1;
	if (npol / 2 > 10 + nwl / PODS_PER_NS + 100 && run(nwl, npol / 2))
		return 1;
	return run(nwl, npol) ? 1 : 0;
}
