// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the agent's runtime files: an input is pods.json, a NUL, then
 * cluster.json (no NUL: the same bytes serve both). Each is parsed (runtime_parse,
 * runtime_cluster_parse); what parses must be whole and consistent, and is then computed into
 * the node's desired state against a small config, as the agent's reconcile does, so that an
 * accepted but odd runtime (duplicate IPs, empty labels, unknown nodes) is exercised too.
 * Seeds: tests/fuzz/corpus/fuzz_runtime/ (files as the local cluster writes them, duplicates,
 * errors).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/config.h"
#include "ambit/log.h"
#include "l4/desired.h"
#include "config/runtime.h"

static const char config_yaml[] =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n  labels:\n"
    "    istio.io/dataplane-mode: ambient\n"
    "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\n"
    "spec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web-0\n  namespace: demo\n"
    "  labels:\n    app: web\nspec:\n  containers:\n  - name: c\n    image: x\n";

static struct config cfg;

/* Error text is a bounded, terminated string naming the place. */
static void check_err(int ret, const char *err, size_t len)
{
	if (ret != -EINVAL && ret != -ENOMEM)
		abort();
	if (!memchr(err, '\0', len) || !err[0])
		abort();
}

static int fake_ifindex(const char *name, void *ctx)
{
	return (int)(strlen(name) % 7);
}

static uint64_t fake_cgroup(const char *path, void *ctx)
{
	return strlen(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config_diags d = {0};

	log_init("fuzz_runtime", LOG_LEVEL_ERROR);
	config_init(&cfg);
	if (config_load_buffer(&cfg, "fuzz.yaml", config_yaml, sizeof(config_yaml) - 1, &d))
		abort();
	config_diags_free(&d);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nul = memchr(data, '\0', size);
	size_t pods_len = nul ? (size_t)(nul - data) : size;
	const char *cl_text = nul ? text + pods_len + 1 : text;
	size_t cl_len = nul ? size - pods_len - 1 : size;
	struct rt_cluster cl;
	struct runtime rt;
	char err[256];
	int ret, cret;

	ret = runtime_parse(text, pods_len, &rt, err, sizeof(err));
	if (ret)
		check_err(ret, err, sizeof(err));
	for (size_t i = 0; !ret && i < rt.n_pods; i++) {
		const struct rt_pod *p = &rt.pods[i];

		/* Required fields are there and non-empty; defaults were filled in. */
		if (!p->namespace[0] || !p->name[0] || !p->node[0] || !p->uid ||
		    !p->service_account)
			abort();
		for (size_t j = 0; j < p->labels.n; j++)
			if (!p->labels.items[j].key || !p->labels.items[j].value)
				abort();
	}
	for (size_t i = 0; !ret && i < rt.n_service_ips; i++) {
		const char *key = rt.service_ips[i].key;
		char *ns = strdup(key), *slash = ns ? strchr(ns, '/') : NULL;
		size_t first = 0;

		if (!ns)
			abort();
		/* The first entry of that name answers (a later duplicate never does). */
		while (strcmp(rt.service_ips[first].key, key) != 0)
			first++;
		if (slash) {
			*slash = '\0';
			if (runtime_service_ip(&rt, ns, slash + 1) != rt.service_ips[first].ip)
				abort();
		}
		free(ns);
	}

	cret = runtime_cluster_parse(cl_text, cl_len, &cl, err, sizeof(err));
	if (cret)
		check_err(cret, err, sizeof(err));
	for (size_t i = 0; !cret && i < cl.n_nodes; i++)
		if (!runtime_node(&cl, cl.nodes[i].name) ||
		    (!runtime_node_ip(&cl, cl.nodes[i].name) && cl.nodes[i].ip6.family != AF_INET6))
			abort();

	if (!ret) {
		struct desired_env env = {.node = "node1",
					  .node_ip = 0x0b00630a,
					  .trust_domain = "cluster.local",
					  .cluster = cret ? NULL : &cl,
					  .ifindex_of = fake_ifindex,
					  .cgroup_id_of = fake_cgroup};
		struct desired d;

		if (desired_compute(&cfg, &rt, &env, &d) && errno != ENOMEM)
			abort();
		desired_free(&d);
	}
	runtime_free(&rt);
	runtime_cluster_free(&cl);
	return 0;
}
