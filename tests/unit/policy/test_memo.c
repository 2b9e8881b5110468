// SPDX-License-Identifier: Apache-2.0
/*
 * policy_compile_from's short way (policy/memo.c): a set made from the previous one and what
 * changed must be the set a full compile makes, with the same warnings. The cases: a pod added
 * that a policy taken over selects, a pod relabelled out of one, a policy changed, added and
 * removed; then a random walk of pods, policies, PeerAuthentications and Namespaces changing,
 * each step checked against a full compile, the short and the full way both taken.
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

#include "ambit/config.h"
#include "ambit/json_memo.h"
#include "ambit/policy.h"

/* ---- a cluster the cases change, as the agent's view and runtime change ---- */

#define MAX_OBJS 512
#define MAX_PODS 256

struct pod {
	char uid[64], ns[32];
	struct config_labels labels;
	uint64_t serial;
};

struct world {
	struct config *loads[4 * MAX_OBJS]; /* every load, freed at the end */
	size_t n_loads;
	struct config_authorization_policy aps[MAX_OBJS];
	size_t n_aps;
	struct config_peer_authentication pas[MAX_OBJS];
	size_t n_pas;
	struct config_namespace nss[MAX_OBJS];
	size_t n_nss;
	struct config_service svcs[16]; /* svc-APP in n0..n2, some bound to a waypoint */
	size_t n_svcs;
	struct config_k8s_gateway gws[4];
	size_t n_gws;
	struct pod pods[MAX_PODS];
	size_t n_pods;
	uint64_t pod_serial;
	const char *root;
};

/* Loads @yaml (one object) as its own load, as a watch event does. */
static struct config *load(struct world *w, const char *yaml)
{
	struct config_diags diags = {0};
	struct config *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	config_init(c);
	if (config_load_buffer(c, "obj.yaml", yaml, strlen(yaml), &diags)) {
		for (size_t i = 0; i < diags.n; i++)
			print_error("%s\n", diags.items[i].message ? diags.items[i].message : "?");
		print_error("%s", yaml);
		fail();
	}
	config_diags_free(&diags);
	config_stamp_ids(c);
	assert_true(w->n_loads < sizeof(w->loads) / sizeof(w->loads[0]));
	w->loads[w->n_loads++] = c;
	return c;
}

static void world_free(struct world *w)
{
	for (size_t i = 0; i < w->n_loads; i++) {
		config_free(w->loads[i]);
		free(w->loads[i]);
	}
	for (size_t i = 0; i < w->n_pods; i++)
		config_labels_free(&w->pods[i].labels);
}

static void view_of(const struct world *w, struct config *v)
{
	memset(v, 0, sizeof(*v));
	v->authorization_policies = (struct config_authorization_policy *)w->aps;
	v->n_authorization_policies = w->n_aps;
	v->peer_authentications = (struct config_peer_authentication *)w->pas;
	v->n_peer_authentications = w->n_pas;
	v->namespaces = (struct config_namespace *)w->nss;
	v->n_namespaces = w->n_nss;
	v->services = (struct config_service *)w->svcs;
	v->n_services = w->n_svcs;
	v->k8s_gateways = (struct config_k8s_gateway *)w->gws;
	v->n_k8s_gateways = w->n_gws;
}

/* The inputs and their serials (*@serials, the caller frees both). */
static struct policy_workload_input *inputs_of(const struct world *w, uint64_t **serials)
{
	struct policy_workload_input *in = calloc(w->n_pods + 1, sizeof(*in));

	*serials = calloc(w->n_pods + 1, sizeof(uint64_t));
	assert_non_null(in);
	assert_non_null(*serials);
	for (size_t i = 0; i < w->n_pods; i++) {
		in[i].uid = w->pods[i].uid;
		in[i].namespace = w->pods[i].ns;
		in[i].labels = &w->pods[i].labels;
		(*serials)[i] = w->pods[i].serial;
	}
	return in;
}

static void pod_set(struct world *w, size_t i, const char *ns, const char *name, const char *app,
		    const char *tier)
{
	struct pod *p = &w->pods[i];

	config_labels_free(&p->labels);
	snprintf(p->ns, sizeof(p->ns), "%s", ns);
	snprintf(p->uid, sizeof(p->uid), "%s/%s", ns, name);
	assert_int_equal(config_labels_add(&p->labels, "app", app), 0);
	if (tier)
		assert_int_equal(config_labels_add(&p->labels, "tier", tier), 0);
	p->serial = ++w->pod_serial;
}

static void pod_add(struct world *w, const char *ns, const char *name, const char *app,
		    const char *tier)
{
	assert_true(w->n_pods < MAX_PODS);
	memset(&w->pods[w->n_pods], 0, sizeof(w->pods[0]));
	pod_set(w, w->n_pods++, ns, name, app, tier);
}

static void pod_remove(struct world *w, size_t i)
{
	config_labels_free(&w->pods[i].labels);
	w->pods[i] = w->pods[--w->n_pods];
}

static char *text_of(const struct policy_set *ps)
{
	struct jbuf b;

	jbuf_init(&b, 4096);
	assert_int_equal(policy_set_write(&b, ps, NULL), 0);
	return jbuf_take(&b);
}

static char *diags_text(const struct config_diags *d)
{
	size_t len = 1, off = 0;
	char *t, line[1024];

	for (size_t i = 0; i < d->n; i++) {
		config_diag_format(&d->items[i], line, sizeof(line));
		len += strlen(line) + 1;
	}
	t = calloc(len, 1);
	assert_non_null(t);
	for (size_t i = 0; i < d->n; i++) {
		config_diag_format(&d->items[i], line, sizeof(line));
		off += (size_t)sprintf(t + off, "%s\n", line);
	}
	return t;
}

/*
 * Compiles @w from *@prev (replaced by the new set), checks the set and the warnings against a
 * full compile of the same inputs. Returns whether the short way was taken (@prev left hollow).
 */
static bool step(struct world *w, struct policy_set **prev, bool with_diags)
{
	struct config_diags d_from = {0}, d_full = {0};
	uint64_t *serials;
	struct policy_workload_input *in = inputs_of(w, &serials);
	struct policy_set *next, *full;
	size_t had = *prev ? (*prev)->n_workloads + (*prev)->n_policies : 0;
	bool hollow;
	struct config v;
	char *a, *b;

	view_of(w, &v);
	next = policy_compile_from(&v, in, w->n_pods, serials, w->root, with_diags ? &d_from : NULL,
				   *prev);
	assert_non_null(next);
	hollow = *prev && had && !(*prev)->n_workloads && !(*prev)->n_policies;
	full = policy_compile(&v, in, w->n_pods, w->root, &d_full);
	assert_non_null(full);
	a = text_of(full);
	b = text_of(next);
	if (strcmp(a, b)) {
		print_error("full:  %s\nfrom:  %s\n", a, b);
		fail();
	}
	free(a);
	free(b);
	if (with_diags) {
		a = diags_text(&d_full);
		b = diags_text(&d_from);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	policy_set_free(*prev);
	policy_set_free(full);
	*prev = next;
	config_diags_free(&d_from);
	config_diags_free(&d_full);
	free(in);
	free(serials);
	return hollow;
}

/* ---- objects ---- */

static void ap_put(struct world *w, size_t at, const char *ns, const char *name, const char *spec)
{
	char yaml[2048];
	struct config *c;

	snprintf(yaml, sizeof(yaml),
		 "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
		 "  name: %s\n  namespace: %s\nspec:\n%s",
		 name, ns, spec);
	c = load(w, yaml);
	assert_int_equal(c->n_authorization_policies, 1);
	if (at == w->n_aps) {
		assert_true(w->n_aps < MAX_OBJS);
		w->n_aps++;
	}
	w->aps[at] = c->authorization_policies[0];
}

static const char *const AP_SPECS[] = {
    /* 0: ALLOW a selector */
    "  selector:\n    matchLabels:\n      app: %s\n  rules:\n  - from:\n    - source:\n"
    "        principals: [cluster.local/ns/x/sa/%s]\n",
    /* 1: DENY two labels */
    "  selector:\n    matchLabels:\n      app: %s\n      tier: x\n  action: DENY\n  rules:\n"
    "  - to:\n    - operation:\n        ports: [\"80%s\"]\n",
    /* 2: namespace-wide ALLOW */
    "  rules:\n  - from:\n    - source:\n        namespaces: [%s%s]\n",
    /* 3: L7 (a warning at every compile) */
    "  selector:\n    matchLabels:\n      app: %s\n  rules:\n  - to:\n    - operation:\n"
    "        paths: [/x%s]\n",
    /* 4: CUSTOM (a warning) */
    "  selector:\n    matchLabels:\n      app: %s\n  action: CUSTOM\n  provider:\n"
    "    name: ext%s\n  rules:\n  - {}\n",
    /* 5: an empty selector: every workload of the namespace */
    "  selector:\n    matchLabels: {}\n  action: AUDIT\n  rules:\n  - from:\n    - source:\n"
    "        ipBlocks: [10.1.0.0/16]\n        namespaces: [%s%s]\n",
    /* 6: ALLOW with no rules (a warning) */
    "  selector:\n    matchLabels:\n      app: %s%s\n",
    /* 7: DENY everything of a tier */
    "  selector:\n    matchLabels:\n      tier: %s\n  action: DENY\n  rules:\n  - {}\n# %s\n",
    /* 8: targetRefs a Service: its pods' ztunnels enforce it unless a waypoint serves it */
    "  targetRefs:\n  - {kind: Service, group: \"\", name: svc-%s}\n  action: DENY\n  rules:\n"
    "  - to:\n    - operation:\n        ports: [\"80%s\"]\n",
};

static const char *const APPS[] = {"a", "b", "c"};
static const char *const NSS[] = {"n0", "n1", "n2", "istio-system"};

/* Deterministic xorshift: the same walk every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Object @id (its key fixed by it): a random kind and parameters, as a new load. */
static void ap_random(struct world *w, size_t at, unsigned id)
{
	char spec[1024], name[32];
	unsigned kind = rnd(sizeof(AP_SPECS) / sizeof(AP_SPECS[0]));
	const char *app = APPS[rnd(3)], *p2 = rnd(2) ? "1" : "2";

	snprintf(name, sizeof(name), "p%u", id);
	snprintf(spec, sizeof(spec), AP_SPECS[kind], kind == 7 ? (rnd(2) ? "x" : "y") : app, p2);
	ap_put(w, at, NSS[id % 4], name, spec);
}

static void pa_put(struct world *w, size_t at, const char *ns, const char *name, const char *spec)
{
	char yaml[1024];
	struct config *c;

	snprintf(yaml, sizeof(yaml),
		 "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata:\n"
		 "  name: %s\n  namespace: %s\n  creationTimestamp: \"2024-01-0%zuT00:00:00Z\"\n"
		 "spec:\n%s",
		 name, ns, at % 9 + 1, spec);
	c = load(w, yaml);
	assert_int_equal(c->n_peer_authentications, 1);
	if (at == w->n_pas)
		w->n_pas++;
	w->pas[at] = c->peer_authentications[0];
}

static void ns_put(struct world *w, size_t at, const char *name)
{
	char yaml[256];
	struct config *c;

	snprintf(yaml, sizeof(yaml), "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n",
		 name);
	c = load(w, yaml);
	assert_int_equal(c->n_namespaces, 1);
	if (at == w->n_nss)
		w->n_nss++;
	w->nss[at] = c->namespaces[0];
}

/* Service svc-@app of @ns (selecting app @app), bound to waypoint wp when @wp. */
static void svc_put(struct world *w, size_t at, const char *ns, const char *app, bool wp)
{
	char yaml[512];
	struct config *c;

	snprintf(yaml, sizeof(yaml),
		 "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%s\n  namespace: %s\n"
		 "  labels: {%s}\nspec:\n  selector: {app: %s}\n  ports: [{port: 80}]\n",
		 app, ns, wp ? "istio.io/use-waypoint: wp" : "", app);
	c = load(w, yaml);
	assert_int_equal(c->n_services, 1);
	if (at == w->n_svcs) {
		assert_true(w->n_svcs < sizeof(w->svcs) / sizeof(w->svcs[0]));
		w->n_svcs++;
	}
	w->svcs[at] = c->services[0];
}

/* Waypoint wp of @ns. */
static void gw_put(struct world *w, const char *ns)
{
	char yaml[512];
	struct config *c;

	snprintf(yaml, sizeof(yaml),
		 "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n"
		 "  name: wp\n  namespace: %s\nspec:\n  gatewayClassName: istio-waypoint\n"
		 "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n",
		 ns);
	c = load(w, yaml);
	assert_int_equal(c->n_k8s_gateways, 1);
	assert_true(w->n_gws < sizeof(w->gws) / sizeof(w->gws[0]));
	w->gws[w->n_gws++] = c->k8s_gateways[0];
}

/* Three namespaces of pods, a policy per app and namespace; the first compile. */
static void world_init(struct world *w, struct policy_set **ps)
{
	char name[32];

	memset(w, 0, sizeof(*w));
	w->root = NULL;
	for (unsigned i = 0; i < 3; i++)
		ns_put(w, w->n_nss, NSS[i]);
	for (unsigned i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "pod%u", i);
		pod_add(w, NSS[i % 3], name, APPS[i / 3 % 3], i % 2 ? "x" : NULL);
	}
	for (unsigned i = 0; i < 9; i++) {
		char spec[512];

		snprintf(name, sizeof(name), "allow-%s", APPS[i % 3]);
		snprintf(spec, sizeof(spec), AP_SPECS[0], APPS[i % 3], "y");
		ap_put(w, w->n_aps, NSS[i / 3], name, spec);
	}
	for (unsigned i = 0; i < 9; i++)
		svc_put(w, w->n_svcs, NSS[i / 3], APPS[i % 3], false);
	gw_put(w, "n1");
	*ps = NULL;
	assert_false(step(w, ps, true));
}

static const struct policy_authz *find(const struct policy_set *ps, const char *key)
{
	const struct policy_authz *p = policy_set_find(ps, key);

	assert_non_null(p);
	return p;
}

static bool selects(const struct policy_authz *p, const char *uid)
{
	for (size_t i = 0; i < p->n_workloads; i++)
		if (!strcmp(p->workloads[i], uid))
			return true;
	return false;
}

/* ---- cases ---- */

/*
 * A pod added with the labels of a policy taken over whole: the policy selects it (its rules
 * are the previous set's, its selection is not), and the pod's workload lists the policy.
 */
static void test_new_pod_selected(void **state)
{
	struct policy_set *ps;
	const struct policy_rule *rules;
	const struct policy_workload *wl;
	struct world w;

	world_init(&w, &ps);
	rules = find(ps, "n1/allow-b")->rules;
	assert_false(selects(find(ps, "n1/allow-b"), "n1/new"));
	pod_add(&w, "n1", "new", "b", NULL);
	assert_true(step(&w, &ps, true));
	assert_ptr_equal(find(ps, "n1/allow-b")->rules, rules);
	assert_true(selects(find(ps, "n1/allow-b"), "n1/new"));
	assert_false(selects(find(ps, "n1/allow-a"), "n1/new"));
	wl = policy_set_workload(ps, "n1/new");
	assert_non_null(wl);
	assert_int_equal(wl->n_policies, 1);
	assert_string_equal(ps->policies[wl->policies[0]].key, "n1/allow-b");

	/* In another namespace: not selected by n1's policy. */
	pod_add(&w, "n2", "new", "b", NULL);
	assert_true(step(&w, &ps, true));
	assert_false(selects(find(ps, "n1/allow-b"), "n2/new"));
	assert_true(selects(find(ps, "n2/allow-b"), "n2/new"));
	policy_set_free(ps);
	world_free(&w);
}

/* A pod relabelled (a new load, the same uid) leaves the policy it no longer matches. */
static void test_pod_relabelled_and_removed(void **state)
{
	struct policy_set *ps;
	struct world w;

	world_init(&w, &ps);
	/* pod0: n0, app a. */
	assert_true(selects(find(ps, "n0/allow-a"), "n0/pod0"));
	pod_set(&w, 0, "n0", "pod0", "c", NULL);
	assert_true(step(&w, &ps, true));
	assert_false(selects(find(ps, "n0/allow-a"), "n0/pod0"));
	assert_true(selects(find(ps, "n0/allow-c"), "n0/pod0"));
	assert_int_equal(policy_set_workload(ps, "n0/pod0")->n_policies, 1);

	pod_remove(&w, 0);
	assert_true(step(&w, &ps, true));
	assert_false(selects(find(ps, "n0/allow-c"), "n0/pod0"));
	assert_null(policy_set_workload(ps, "n0/pod0"));
	policy_set_free(ps);
	world_free(&w);
}

/* A policy changed (a new load of the same key), added between others, removed. */
static void test_policy_changed_added_removed(void **state)
{
	struct policy_set *ps;
	const struct policy_rule *kept;
	char spec[512];
	struct world w;

	world_init(&w, &ps);
	kept = find(ps, "n0/allow-a")->rules;
	/* allow-b of n0 now selects app c. */
	snprintf(spec, sizeof(spec), AP_SPECS[0], "c", "z");
	ap_put(&w, 1, "n0", "allow-b", spec);
	assert_true(step(&w, &ps, true));
	assert_ptr_equal(find(ps, "n0/allow-a")->rules, kept);
	assert_true(selects(find(ps, "n0/allow-b"), "n0/pod6"));
	assert_false(selects(find(ps, "n0/allow-b"), "n0/pod3"));

	/* A key sorting between the others, and a namespace-wide one. */
	snprintf(spec, sizeof(spec), AP_SPECS[2], "n", "1");
	ap_put(&w, w.n_aps, "n1", "allow-ab", spec);
	assert_true(step(&w, &ps, true));
	assert_int_equal(policy_set_namespace(ps, "n1")->n_policies, 1);

	/* Removed (the last one takes its place in the view, as a view may reorder). */
	w.aps[3] = w.aps[--w.n_aps];
	assert_true(step(&w, &ps, true));
	assert_null(policy_set_find(ps, "n1/allow-a"));
	policy_set_free(ps);
	world_free(&w);
}

/* What the short way leaves to the full compile, which then starts a memo again. */
static void test_fallbacks(void **state)
{
	struct policy_set *ps;
	struct world w;

	world_init(&w, &ps);
	/* A pod without a serial. */
	w.pods[3].serial = 0;
	assert_false(step(&w, &ps, true));
	w.pods[3].serial = ++w.pod_serial;
	assert_false(step(&w, &ps, true));
	assert_true(step(&w, &ps, true));
	/* A new namespace. */
	pod_add(&w, "n7", "p", "a", NULL);
	assert_false(step(&w, &ps, true));
	/* A uid twice. */
	pod_add(&w, "n7", "p", "b", NULL);
	assert_false(step(&w, &ps, true));
	pod_remove(&w, w.n_pods - 1);
	assert_false(step(&w, &ps, true));
	/* Another root namespace. */
	w.root = "n1";
	assert_false(step(&w, &ps, true));
	assert_true(step(&w, &ps, false));
	/* A PeerAuthentication. */
	pa_put(&w, 0, "n0", "strict", "  mtls:\n    mode: STRICT\n");
	assert_false(step(&w, &ps, true));
	assert_true(step(&w, &ps, true));
	policy_set_free(ps);
	world_free(&w);
}

/*
 * A policy on a Service no waypoint serves: its pods' ztunnels enforce it, selecting them by the
 * Service's selector, the new ones too; once the Service is bound to a waypoint that exists, the
 * waypoint's (scope none here); unbound again, the pods' once more.
 */
static void test_service_target(void **state)
{
	struct policy_set *ps;
	char spec[512];
	struct world w;

	world_init(&w, &ps);
	snprintf(spec, sizeof(spec), AP_SPECS[8], "b", "1");
	ap_put(&w, w.n_aps, "n1", "svc", spec);
	assert_true(step(&w, &ps, true));
	assert_int_equal(find(ps, "n1/svc")->scope, POLICY_SCOPE_WORKLOAD);
	/* pod4 is n1's of app b; pod3 n0's. */
	assert_true(selects(find(ps, "n1/svc"), "n1/pod4"));
	assert_false(selects(find(ps, "n1/svc"), "n0/pod3"));
	assert_false(selects(find(ps, "n1/svc"), "n1/pod1"));
	pod_add(&w, "n1", "newb", "b", NULL);
	assert_true(step(&w, &ps, true));
	assert_true(selects(find(ps, "n1/svc"), "n1/newb"));
	assert_int_equal(policy_set_workload(ps, "n1/newb")->n_policies, 2);

	/* Bound to n1's waypoint: the waypoint's. */
	svc_put(&w, 4, "n1", "b", true);
	step(&w, &ps, true);
	assert_int_equal(find(ps, "n1/svc")->scope, POLICY_SCOPE_NONE);
	assert_int_equal(find(ps, "n1/svc")->n_workloads, 0);
	/* Bound to a waypoint that does not exist (n0 has none): the pods' again. */
	snprintf(spec, sizeof(spec), AP_SPECS[8], "b", "2");
	ap_put(&w, w.n_aps, "n0", "svc", spec);
	svc_put(&w, 1, "n0", "b", true);
	step(&w, &ps, true);
	assert_int_equal(find(ps, "n0/svc")->scope, POLICY_SCOPE_WORKLOAD);
	assert_true(selects(find(ps, "n0/svc"), "n0/pod3"));
	svc_put(&w, 4, "n1", "b", false);
	step(&w, &ps, true);
	assert_true(selects(find(ps, "n1/svc"), "n1/newb"));
	policy_set_free(ps);
	world_free(&w);
}

/* A random walk: each step a few changes, each compile checked against a full one. */
static void test_random_walk(void **state)
{
	unsigned next_pod = 100, fast = 0, full = 0;
	struct policy_set *ps;
	struct world w;

	world_init(&w, &ps);
	pa_put(&w, 0, "n1", "ns", "  mtls:\n    mode: STRICT\n");
	pa_put(&w, 1, "n2", "wl",
	       "  selector:\n    matchLabels:\n      app: b\n  mtls:\n    mode: STRICT\n"
	       "  portLevelMtls:\n    8080:\n      mode: PERMISSIVE\n");
	for (unsigned s = 0; s < 600; s++) {
		unsigned n = 1 + rnd(3);

		for (unsigned k = 0; k < n; k++) {
			unsigned what = rnd(100);
			char name[32];

			if (what < 22) {
				snprintf(name, sizeof(name), "pod%u", next_pod++);
				pod_add(&w, NSS[rnd(4)], name, APPS[rnd(3)], rnd(2) ? "x" : "y");
			} else if (what < 34 && w.n_pods > 4) {
				pod_remove(&w, rnd((uint32_t)w.n_pods));
			} else if (what < 46 && w.n_pods) {
				size_t i = rnd((uint32_t)w.n_pods);
				char uid[64], *slash;

				snprintf(uid, sizeof(uid), "%s", w.pods[i].uid);
				slash = strchr(uid, '/');
				*slash = '\0';
				pod_set(&w, i, uid, slash + 1, APPS[rnd(3)], rnd(2) ? "x" : NULL);
			} else if (what < 62) {
				ap_random(&w, rnd((uint32_t)w.n_aps), rnd(40));
			} else if (what < 74 && w.n_aps < 60) {
				ap_random(&w, w.n_aps, rnd(40));
			} else if (what < 84 && w.n_aps > 1) {
				size_t i = rnd((uint32_t)w.n_aps);

				w.aps[i] = w.aps[--w.n_aps];
			} else if (what < 87) {
				pa_put(&w, rnd(2), "n2", "wl",
				       rnd(2) ? "  selector:\n    matchLabels:\n      app: a\n"
						"  mtls:\n    mode: STRICT\n"
					      : "  mtls:\n    mode: DISABLE\n");
			} else if (what < 89) {
				ns_put(&w, rnd((uint32_t)w.n_nss), NSS[rnd(3)]);
			} else if (what < 91 && w.n_pods) {
				/* A pod of a namespace nothing else names, then gone. */
				pod_add(&w, "n9", "lone", "a", NULL);
			} else if (what < 93) {
				for (size_t i = 0; i < w.n_pods; i++)
					if (!strcmp(w.pods[i].ns, "n9"))
						pod_remove(&w, i--);
			} else if (what < 95) {
				w.root = rnd(2) ? NULL : "n0";
			} else if (what < 96) {
				/* A Service bound to (or freed from) a waypoint. */
				unsigned i = rnd(9);

				svc_put(&w, i, NSS[i / 3], APPS[i % 3], rnd(2));
			} else if (what < 98) {
				/* Enough policies at once that selecting indexes the workloads. */
				for (unsigned m = 0; m < 12; m++)
					ap_random(&w, rnd((uint32_t)w.n_aps), rnd(40));
			}
		}
		/*
		 * Two keys of one object, a uid twice: legal inputs the short way leaves to the
		 * full compile (keys and uids are made unique here first, as the loader does).
		 */
		for (size_t i = 0; i < w.n_aps; i++)
			for (size_t j = i + 1; j < w.n_aps; j++)
				if (!strcmp(w.aps[i].meta.name, w.aps[j].meta.name) &&
				    !strcmp(w.aps[i].meta.namespace, w.aps[j].meta.namespace))
					w.aps[j--] = w.aps[--w.n_aps];
		for (size_t i = 0; i < w.n_pods; i++)
			for (size_t j = i + 1; j < w.n_pods; j++)
				if (!strcmp(w.pods[i].uid, w.pods[j].uid))
					pod_remove(&w, j--);
		if (step(&w, &ps, rnd(8) != 0))
			fast++;
		else
			full++;
	}
	print_message("random walk: %u compiles the short way, %u in full\n", fast, full);
	assert_true(fast > 200);
	assert_true(full > 20);
	policy_set_free(ps);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_pod_selected),
	    cmocka_unit_test(test_pod_relabelled_and_removed),
	    cmocka_unit_test(test_policy_changed_added_removed),
	    cmocka_unit_test(test_fallbacks),
	    cmocka_unit_test(test_service_target),
	    cmocka_unit_test(test_random_walk),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
