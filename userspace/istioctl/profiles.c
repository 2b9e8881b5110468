// SPDX-License-Identifier: Apache-2.0
/*
 * istioctl install, uninstall, manifest and profile on ambit. A profile is a set of ambit's
 * install keys (`ambitctl install --set`), and what it turns on that ambit has no use for is
 * said, never dropped in silence. On Kubernetes (--kubeconfig) install and uninstall are
 * `ambitctl install|uninstall`'s; a local cluster's nodes run ambit from `local up` on, so there
 * install checks each component and reports it in istioctl's lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl.h"
#include "istioctl.h"
#include "k8s/kmanifest.h"
#include "install/install.h"
#include "local/objstore.h"

static const struct profile {
	const char *name;
	bool ingress;	   /* istio-ingressgateway */
	bool egress;	   /* istio-egressgateway (none on ambit) */
	const char *notes; /* what else it turns on, and what ambit does of it */
} profiles[] = {
    {"ambient", false, false, NULL},
    {"default", true, false,
     "  Sidecar injection: Istio's default profile is sidecar mode; ambit is ambient-only: "
     "label a namespace istio.io/dataplane-mode=ambient to put it in the mesh.\n"},
    {"demo", true, true,
     "  Access logs (meshConfig.accessLogFile=/dev/stdout): ambit's waypoints and gateways "
     "log each request already (a Telemetry resource turns it off).\n"
     "  Tracing at 100%: a Telemetry resource's randomSamplingPercentage sets it on ambit.\n"},
    {"minimal", false, false, NULL},
};

static const struct profile *find_profile(const char *name)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

/* istioctl's --set paths for what ambit's install keys mean. */
static const struct {
	const char *istio, *ambit;
} set_paths[] = {
    {"meshConfig.trustDomain", "trustDomain"},
    {"values.global.trustDomain", "trustDomain"},
    {"values.global.istioNamespace", "namespace"},
    {"values.global.logging.level", "logLevel"},
    {"values.cni.cniConfDir", "cniConfDir"},
    {"values.cni.cniBinDir", "cniBinDir"},
    {"components.ingressGateways[0].enabled", "ingressGateway"},
    {"components.ingressGateways[name:istio-ingressgateway].enabled", "ingressGateway"},
};

struct install_args {
	const struct profile *p;
	char *argv[2 * IC_MAX_REPEAT + 8]; /* for cmd_install */
	int argc;
	char said[IC_MAX_REPEAT][512]; /* what --set asked that ambit does otherwise */
	size_t n_said;
	char store[IC_MAX_REPEAT][256];
};

/* @ic's --set values into @a: a profile, istioctl's paths as ambit's keys, ambit's own keys. */
static int read_sets(const struct ic *ic, struct install_args *a)
{
	a->p = find_profile("default");
	for (size_t i = 0; i < ic->n_sets; i++) {
		if (strncmp(ic->sets[i], "profile=", 8))
			continue;
		a->p = find_profile(ic->sets[i] + 8);
		if (!a->p)
			return ic_error(
			    IC_EXIT_ERROR,
			    "profile \"%s\": ambit has ambient, default, demo and minimal "
			    "(istioctl profile list)",
			    ic->sets[i] + 8);
	}
	/* The profile's, then the user's values over them. */
	a->argv[a->argc++] = "--set";
	a->argv[a->argc++] = a->p->ingress ? "ingressGateway=true" : "ingressGateway=false";
	for (size_t i = 0; i < ic->n_sets; i++) {
		const char *kv = ic->sets[i], *eq = strchr(kv, '=');
		size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
		bool mapped = false;

		if (!eq)
			return ic_error(IC_EXIT_USAGE, "--set %s: want KEY=VALUE", kv);
		if (!strncmp(kv, "profile=", 8))
			continue;
		if (klen == strlen("meshConfig.accessLogFile") &&
		    !strncmp(kv, "meshConfig.accessLogFile", klen)) {
			str_fmt(a->said[a->n_said++], sizeof(a->said[0]),
				"  %s: ambit's waypoints and gateways log each request to stdout "
				"already.\n",
				kv);
			continue;
		}
		if (klen == strlen("values.global.meshID") &&
		    !strncmp(kv, "values.global.meshID", klen)) {
			str_fmt(a->said[a->n_said++], sizeof(a->said[0]),
				"  %s: the clusters of one mesh are those sharing its root "
				"(cacerts) on ambit; its name is not used.\n",
				kv);
			continue;
		}
		for (size_t k = 0; k < sizeof(set_paths) / sizeof(set_paths[0]); k++) {
			if (strlen(set_paths[k].istio) != klen ||
			    strncmp(set_paths[k].istio, kv, klen))
				continue;
			str_fmt(a->store[i], sizeof(a->store[0]), "%s=%s", set_paths[k].ambit,
				eq + 1);
			mapped = true;
		}
		/* ambit's own keys (`ambitctl install --help`) pass as they are. */
		if (!mapped)
			str_fmt(a->store[i], sizeof(a->store[0]), "%s", kv);
		a->argv[a->argc++] = "--set";
		a->argv[a->argc++] = a->store[i];
	}
	return 0;
}

/* The -f IstioOperators' settings (iop.c), held for the command's length. */
struct operators {
	char **sets;
	size_t n;
	char *said; /* what they set that ambit does otherwise, lines */
};

static void operators_free(struct operators *op)
{
	for (size_t i = 0; i < op->n; i++)
		free(op->sets[i]);
	free(op->sets);
	free(op->said);
}

/*
 * @ic with its -f IstioOperators' settings before its own --set values, as istioctl overlays
 * them, into @out (@op holds their strings). 0, or istioctl's exit code with the error said.
 */
static int with_operators(const struct ic *ic, struct ic *out, struct operators *op)
{
	*out = *ic;
	out->n_sets = 0;
	out->n_files = 0;
	for (size_t f = 0; f < ic->n_files; f++) {
		char **sets, *said;
		size_t n, len = op->said ? strlen(op->said) : 0;
		int ret = ic_operator_sets(ic->files[f], &sets, &n, &said);
		void *grown;

		if (ret)
			return ret;
		grown = realloc(op->sets, (op->n + n) * sizeof(*op->sets));
		if (!grown) {
			for (size_t i = 0; i < n; i++)
				free(sets[i]);
			free(sets);
			free(said);
			return ic_error(IC_EXIT_ERROR, "out of memory");
		}
		op->sets = grown;
		memcpy(op->sets + op->n, sets, n * sizeof(*sets));
		op->n += n;
		free(sets);
		if (said) {
			char *all = realloc(op->said, len + strlen(said) + 1);

			if (all) {
				memcpy(all + len, said, strlen(said) + 1);
				op->said = all;
			}
			free(said);
		}
	}
	if (op->n + ic->n_sets > IC_MAX_REPEAT)
		return ic_error(IC_EXIT_ERROR, "more than %d settings in -f and --set together",
				IC_MAX_REPEAT);
	for (size_t i = 0; i < op->n; i++)
		out->sets[out->n_sets++] = op->sets[i];
	for (size_t i = 0; i < ic->n_sets; i++)
		out->sets[out->n_sets++] = ic->sets[i];
	return 0;
}

/* What the profile and the --set values turn on that ambit does otherwise, on stdout. */
static void tell_unused(const struct install_args *a)
{
	if (a->p->egress)
		printf("  Egress gateways: ambit has none; egress goes through a ServiceEntry and, "
		       "for policy, a waypoint.\n");
	if (a->p->notes)
		fputs(a->p->notes, stdout);
	for (size_t i = 0; i < a->n_said; i++)
		fputs(a->said[i], stdout);
}

/* Whether the user said yes to @question (-y says it for them). */
static bool confirm(const struct ic *ic, const char *question)
{
	char line[16];

	if (ic_flag_on(ic, IC_F_YES))
		return true;
	printf("%s Proceed? (y/N) ", question);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y')) {
		printf("Cancelled.\n");
		return false;
	}
	return true;
}

/* Waits up to @secs for every node's agent and ztunnel (and @ingress's pod) to be ready. */
static cJSON *wait_ready(const struct ctl_cluster *c, bool ingress, int secs)
{
	for (int t = 0;; t++) {
		cJSON *st = local_status_doc(c);
		const cJSON *n, *p;
		bool ok = st != NULL, gw = !ingress;

		cJSON_ArrayForEach(n, kjson_get(st, "nodes", NULL)) ok &=
		    cJSON_IsTrue(kjson_get(kjson_get(n, "agent", NULL), "ready", NULL)) &&
		    cJSON_IsTrue(kjson_get(kjson_get(n, "ztunnel", NULL), "ready", NULL));
		cJSON_ArrayForEach(p, kjson_get(st, "pods", NULL)) gw |=
		    !strcmp(kjson_str(p, "namespace", NULL) ?: "", "istio-system") &&
		    !strncmp(kjson_str(p, "name", NULL) ?: "", "istio-ingressgateway", 20) &&
		    !strcmp(kjson_str(p, "state", NULL) ?: "", "Running");
		if ((ok && gw) || t >= secs)
			return st;
		cJSON_Delete(st);
		sleep(1);
	}
}

/* Nodes whose @part is ready, ", "-joined into @buf; whether all are. */
static bool nodes_ready(const cJSON *st, const char *part, char *buf, size_t len)
{
	const cJSON *n;
	bool all = true;
	size_t l = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(n, kjson_get(st, "nodes", NULL))
	{
		bool r = cJSON_IsTrue(kjson_get(kjson_get(n, part, NULL), "ready", NULL));

		all &= r;
		if (r && l < len)
			l += (size_t)snprintf(buf + l, len - l, "%s%s", l ? ", " : "",
					      kjson_str(n, "name", NULL));
	}
	return all;
}

/*
 * A local cluster: ambit came with `local up`; each of its components checked. Uninstalled
 * since (local_mesh_down), it is put back first: into the API server with --kube, as `local up`
 * put it, and the nodes' components started again.
 */
static int install_local(const struct ic *ic, const struct install_args *a)
{
	struct ctl_cluster c;
	char agents[256], zts[256], q[256];
	const cJSON *p;
	bool gw = false, ok;
	int ret = ic_cluster(ic, &c, false);
	cJSON *st;

	if (ret)
		return ret;
	if (cluster_uninstalled(&c, NULL, 0)) {
		str_fmt(q, sizeof(q),
			"This will install ambit with the Istio profile \"%s\" into cluster %s.",
			a->p->name, c.name);
		if (!confirm(ic, q))
			return IC_EXIT_ERROR;
		ret = c.kube ? kube_ambit(&c, NULL, false, NULL, NULL) : 0;
		ret = ret ?: local_mesh_up(&c);
		if (ret)
			return ic_error(IC_EXIT_ERROR, "installing ambit on cluster %s: %s", c.name,
					strerror(-ret));
	}
	st = wait_ready(&c, a->p->ingress, 120);
	if (!st)
		return ic_error(IC_EXIT_ERROR, "out of memory");
	cJSON_ArrayForEach(p, kjson_get(st, "pods", NULL)) gw |=
	    !strcmp(kjson_str(p, "namespace", NULL) ?: "", "istio-system") &&
	    !strncmp(kjson_str(p, "name", NULL) ?: "", "istio-ingressgateway", 20) &&
	    !strcmp(kjson_str(p, "state", NULL) ?: "", "Running");
	ok = nodes_ready(st, "agent", agents, sizeof(agents));
	ok &= nodes_ready(st, "ztunnel", zts, sizeof(zts));
	cJSON_Delete(st);
	printf("\u2714 Istio core installed \u26f5\ufe0f (cluster %s: Istio's kinds, ambit's "
	       "schemas)\n",
	       c.name);
	printf("%s Istiod installed \U0001f9e0 (ambit-agent on %s)\n", ok ? "\u2714" : "\u2718",
	       agents[0] ? agents : "no node");
	printf("%s CNI installed \U0001faa2 (the agents' BPF capture)\n", ok ? "\u2714" : "\u2718");
	printf("%s Ztunnel installed \U0001f512 (on %s)\n", ok ? "\u2714" : "\u2718",
	       zts[0] ? zts : "no node");
	if (a->p->ingress)
		printf("%s Ingress gateways installed \U0001f6ec%s\n", gw ? "\u2714" : "\u2718",
		       gw ? " (istio-system/istio-ingressgateway)"
			  : ": the cluster was made with --no-ingress; `ambitctl local up` "
			    "without it makes one");
	tell_unused(a);
	for (size_t i = 0; i < IC_MAX_REPEAT; i++)
		if (a->store[i][0])
			printf("  --set %s: for an install on Kubernetes (--kubeconfig); a local "
			       "cluster's nodes were set up by `ambitctl local up`.\n",
			       a->store[i]);
	if (!ok || (a->p->ingress && !gw))
		return ic_error(IC_EXIT_ERROR,
				"ambit is not ready on every node: `ambitctl local status` says "
				"why");
	printf("\u2714 Installation complete\n");
	return 0;
}

static int install(struct ic *ic, const char *op_said);

int ic_install(struct ic *ic)
{
	struct operators op = {0};
	struct ic all;
	int ret = with_operators(ic, &all, &op);

	if (!ret)
		ret = install(&all, op.said);
	operators_free(&op);
	return ret;
}

/* @op_said: what the -f files set that ambit does otherwise (NULL: nothing). */
static int install(struct ic *ic, const char *op_said)
{
	struct install_args a = {0};
	char q[256];
	int ret = read_sets(ic, &a);

	if (ret)
		return ret;
	if (op_said)
		fputs(op_said, stdout);
	struct ctl_cluster c;

	/* A local cluster (its own kubeconfig too): ambit came with `local up`. */
	if (!ic->val[IC_F_KUBECONFIG] || cluster_by_kubeconfig(ic->val[IC_F_KUBECONFIG], &c))
		return install_local(ic, &a);
	if (ic_flag_on(ic, IC_F_DRY_RUN)) {
		a.argv[a.argc++] = "--dry-run";
		a.argv[a.argc] = NULL;
		return cmd_install(a.argc, a.argv, false) ? IC_EXIT_ERROR : 0;
	}
	str_fmt(q, sizeof(q),
		"This will install ambit with the Istio profile \"%s\" into the "
		"cluster.",
		a.p->name);
	if (!confirm(ic, q))
		return IC_EXIT_ERROR;
	a.argv[a.argc++] = "--kubeconfig";
	a.argv[a.argc++] = (char *)ic->val[IC_F_KUBECONFIG];
	a.argv[a.argc] = NULL;
	if (cmd_install(a.argc, a.argv, false))
		return IC_EXIT_ERROR;
	tell_unused(&a);
	printf("\u2714 Installation complete\n");
	return 0;
}

/* The Istio API groups: their kinds go with --purge, as with istioctl's CRDs. */
static bool istio_group(const char *group)
{
	static const char *const groups[] = {"networking.istio.io", "security.istio.io",
					     "telemetry.istio.io", "extensions.istio.io"};

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(group, groups[i]))
			return true;
	return false;
}

/* The namespaces of @c in the mesh, ", "-joined into @buf; how many. */
static int enrolled(const struct ctl_cluster *c, char *buf, size_t len)
{
	struct config cfg;
	char state[PATH_MAX];
	size_t l = 0;
	int n = 0;

	buf[0] = '\0';
	cluster_path(c, state, sizeof(state), "state");
	config_init(&cfg);
	if (load_state_quiet(&cfg, state)) {
		config_free(&cfg);
		return -EIO;
	}
	for (size_t i = 0; i < cfg.n_namespaces; i++) {
		const struct config_meta *m = &cfg.namespaces[i].meta;

		for (size_t j = 0; j < m->labels.n; j++) {
			if (strcmp(m->labels.items[j].key, AMBIT_LABEL_DATAPLANE_MODE) ||
			    strcmp(m->labels.items[j].value, AMBIT_DATAPLANE_AMBIENT))
				continue;
			if (l < len)
				l += (size_t)snprintf(buf + l, len - l, "%s%s", n ? ", " : "",
						      m->name);
			n++;
		}
	}
	config_free(&cfg);
	return n;
}

/* --purge without --kube: the objects of Istio's kinds, deleted as `kubectl delete` would. */
static int purge_local(struct ic *ic, const struct ctl_cluster *c, bool dry)
{
	struct store_objs objs = {0};
	struct config_diags diags = {0};
	char state[PATH_MAX], *text = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&text, &len);
	int ret;

	cluster_path(c, state, sizeof(state), "state");
	ret = f ? store_load(state, &objs, &diags) : -ENOMEM;
	for (size_t i = 0; !ret && i < objs.n; i++) {
		char name[512];

		if (!istio_group(objs.items[i].group))
			continue;
		store_obj_display(&objs.items[i], name, sizeof(name));
		if (dry)
			printf("%s/%s would be deleted\n", objs.items[i].namespace ?: "", name);
		fprintf(f, "---\n%s\n", objs.items[i].yaml);
		n++;
	}
	if (f)
		fclose(f);
	if (!ret && n && !dry) {
		char *argv[] = {"--wait=false", NULL};
		struct ctl_opts o = ic->o;

		o.cluster = c->name;
		ret = apply_manifest(&o, "the Istio objects of the cluster", text, 1, argv, true);
	}
	store_objs_free(&objs);
	config_diags_free(&diags);
	free(text);
	return ret;
}

/*
 * A local cluster stays up without ambit (local_mesh_down): its pods keep running, out of the
 * mesh. With --kube, ambit's objects leave its API server as on any cluster, the nodes'
 * components stopping once the DaemonSet is deleted.
 */
static int uninstall_local(struct ic *ic, const struct ctl_cluster *c)
{
	static const char why[] =
	    "uninstalled by istioctl uninstall (istioctl install brings it back)";
	bool dry = ic_flag_on(ic, IC_F_DRY_RUN), purge = ic_flag_on(ic, IC_F_PURGE);
	char list[512];
	int n = c->kube ? 0 : enrolled(c, list, sizeof(list)), ret = 0;

	if (n < 0)
		return ic_error(IC_EXIT_ERROR, "cluster %s: its namespaces cannot be read",
				c->name);
	if (n && !ic_flag_on(ic, IC_F_FORCE))
		return ic_error(IC_EXIT_ERROR,
				"%d namespace%s still in the mesh (%s=%s): %s; their pods would "
				"talk in plaintext. Take them out first (`kubectl label namespace "
				"NS %s-`), or pass --force",
				n, n > 1 ? "s" : "", AMBIT_LABEL_DATAPLANE_MODE,
				AMBIT_DATAPLANE_AMBIENT, list, AMBIT_LABEL_DATAPLANE_MODE);
	if (dry) {
		for (int i = 0; i < c->nnodes; i++)
			printf("%s: agent and ztunnel would be stopped and the node's data path "
			       "removed\n",
			       c->nodes[i].name);
		return purge && !c->kube && purge_local(ic, c, true) ? IC_EXIT_ERROR : 0;
	}
	if (!confirm(ic, "All ambit resources will be pruned from the cluster."))
		return IC_EXIT_ERROR;
	if (c->kube) {
		char *extra[] = {"-y", purge ? "--purge" : NULL, NULL, NULL};

		if (ic_flag_on(ic, IC_F_FORCE))
			extra[purge ? 2 : 1] = "--force";
		ret = kube_ambit(c, NULL, true, extra, why);
	} else {
		ret = local_mesh_down(c, why);
		if (!ret && purge)
			ret = purge_local(ic, c, false);
	}
	if (ret)
		return ic_error(IC_EXIT_ERROR, "uninstalling ambit from cluster %s: %s", c->name,
				strerror(-ret));
	printf("\u2714 Uninstall complete\n");
	return 0;
}

int ic_uninstall(struct ic *ic)
{
	char *argv[8];
	int argc = 0;

	if (!ic_flag_on(ic, IC_F_PURGE) && !ic->n_files)
		return ic_error(IC_EXIT_ERROR,
				"at least one of the --revision (or --set revision=<revision>), "
				"--filename or --purge flags must be set");
	struct ctl_cluster c;

	if (!ic->val[IC_F_KUBECONFIG] || cluster_by_kubeconfig(ic->val[IC_F_KUBECONFIG], &c)) {
		int ret = ic_cluster(ic, &c, false);

		return ret ? ret : uninstall_local(ic, &c);
	}
	argv[argc++] = "--kubeconfig";
	argv[argc++] = (char *)ic->val[IC_F_KUBECONFIG];
	if (ic_flag_on(ic, IC_F_PURGE))
		argv[argc++] = "--purge";
	if (ic_flag_on(ic, IC_F_FORCE))
		argv[argc++] = "--force";
	if (ic_flag_on(ic, IC_F_DRY_RUN))
		argv[argc++] = "--dry-run";
	argv[argc] = NULL;
	if (!ic_flag_on(ic, IC_F_DRY_RUN) &&
	    !confirm(ic, "All ambit resources will be pruned from the cluster."))
		return IC_EXIT_ERROR;
	if (cmd_install(argc, argv, true))
		return IC_EXIT_ERROR;
	printf("\u2714 Uninstall complete\n");
	return 0;
}

int ic_manifest(struct ic *ic)
{
	const char *sub = ic->args < ic->npos ? ic->pos[ic->args] : "";
	struct install_args a = {0};
	int ret;

	if (!strcmp(sub, "install") || !strcmp(sub, "apply")) {
		ic->args++;
		return ic_install(ic);
	}
	if (strcmp(sub, "generate"))
		return ic_error(IC_EXIT_USAGE, "manifest: one of generate, install\nRun 'istioctl "
					       "manifest --help' for usage.");
	struct operators op = {0};
	struct ic all;

	ret = with_operators(ic, &all, &op);
	if (!ret)
		ret = read_sets(&all, &a);
	if (!ret) {
		a.argv[a.argc++] = "--dry-run";
		a.argv[a.argc] = NULL;
		ret = cmd_install(a.argc, a.argv, false) ? IC_EXIT_ERROR : 0;
	}
	operators_free(&op);
	return ret;
}

int ic_profile(struct ic *ic)
{
	const char *sub = ic->args < ic->npos ? ic->pos[ic->args] : "";
	const struct profile *p;

	if (!strcmp(sub, "list")) {
		printf("Istio configuration profiles:\n");
		for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
			printf("    %s\n", profiles[i].name);
		return 0;
	}
	if (strcmp(sub, "dump"))
		return ic_error(IC_EXIT_USAGE, "profile: one of list, dump\nRun 'istioctl profile "
					       "--help' for usage.");
	p = find_profile(ic->args + 1 < ic->npos ? ic->pos[ic->args + 1] : "default");
	if (!p)
		return ic_error(IC_EXIT_ERROR,
				"profile \"%s\": ambit has ambient, default, demo and "
				"minimal (istioctl profile list)",
				ic->pos[ic->args + 1]);
	/* An IstioOperator as istioctl dumps one, saying what each component is on ambit. */
	printf("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n"
	       "  profile: %s\n  components:\n"
	       "    base:\n      enabled: true  # Istio's kinds, from ambit's schemas\n"
	       "    pilot:\n      enabled: true  # ambit-agent, one per node\n"
	       "    cni:\n      enabled: true  # the agent's BPF capture (no iptables)\n"
	       "    ztunnel:\n      enabled: true\n"
	       "    ingressGateways:\n    - name: istio-ingressgateway\n      enabled: %s\n"
	       "    egressGateways:\n    - name: istio-egressgateway\n      enabled: false%s\n"
	       "  values:\n    ambit:\n      ingressGateway: \"%s\"\n",
	       p->name, p->ingress ? "true" : "false",
	       p->egress ? "  # asked by the profile; ambit has none (ServiceEntry and waypoints)"
			 : "",
	       p->ingress ? "true" : "false");
	if (p->notes) {
		printf("# Also in Istio's %s profile:\n", p->name);
		for (const char *l = p->notes; *l;) {
			size_t skip = strspn(l, " "), n = strcspn(l + skip, "\n");

			printf("# %.*s\n", (int)n, l + skip);
			l += skip + n + (l[skip + n] == '\n');
		}
	}
	return 0;
}
