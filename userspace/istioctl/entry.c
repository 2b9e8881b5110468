// SPDX-License-Identifier: Apache-2.0
/*
 * The binary's main(): ambitctl, or istioctl when run under that name (build/istioctl, a link).
 * As istioctl it reads istioctl's command lines as cobra does (flags anywhere, --flag=value,
 * -n value, aliases, `help VERB`), refuses what ambit cannot mean with what to do instead, and
 * runs each verb with ambitctl's code (report.c, findings.c, profiles.c, and cli's waypoint,
 * dashboard and multicluster commands).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ambit/log.h"
#include "tls/crypto.h"
#include "cli/ctl.h"
#include "dashboard/dashboard.h"
#include "istioctl.h"
#include "install/install.h"

/* Every verb takes these (istioctl's root flags). */
#define ROOT_FLAGS                                                                                 \
	(IC_FLAG(IC_F_NAMESPACE) | IC_FLAG(IC_F_ISTIO_NS) | IC_FLAG(IC_F_CONTEXT) |                \
	 IC_FLAG(IC_F_KUBECONFIG) | IC_FLAG(IC_F_CLUSTER) | IC_FLAG(IC_F_REVISION) |               \
	 IC_FLAG(IC_F_VKLOG) | IC_FLAG(IC_F_HELP))

/* waypoint's, and x's (x waypoint: istioctl's older spelling). */
#define WAYPOINT_FLAGS                                                                             \
	(IC_FLAG(IC_F_OUTPUT) | IC_FLAG(IC_F_ALL_NS) | IC_FLAG(IC_F_FOR) | IC_FLAG(IC_F_ENROLL) |  \
	 IC_FLAG(IC_F_WAIT) | IC_FLAG(IC_F_OVERWRITE) | IC_FLAG(IC_F_NAME) | IC_FLAG(IC_F_ALL))

static int ic_waypoint(struct ic *ic);
static int ic_dashboard(struct ic *ic);
static int ic_create_remote_secret(struct ic *ic);
static int ic_remote_clusters(struct ic *ic);
static int ic_refuse(struct ic *ic);
static int ic_experimental(struct ic *ic);

static const struct verb {
	const char *name;
	const char *aliases; /* each between spaces */
	unsigned long long flags;
	int (*run)(struct ic *ic);
	const char *summary;
	const char *usage; /* after "istioctl " */
	const char *more;  /* what it does on ambit */
} verbs[] = {
    {"analyze", " analyse ",
     IC_FLAG(IC_F_ALL_NS) | IC_FLAG(IC_F_OUTPUT) | IC_FLAG(IC_F_FILE) |
	 IC_FLAG(IC_F_FAIL_THRESHOLD) | IC_FLAG(IC_F_OUT_THRESHOLD) | IC_FLAG(IC_F_USE_KUBE),
     ic_analyze, "Analyze Istio configuration and print validation messages",
     "analyze [FILE|DIR|-]... [-n NS | -A] [-o log|json|yaml] [--failure-threshold LEVEL]",
     "The cluster's objects (and the files given) through ambit's loader and analyzers: schema\n"
     "errors (IST0106), references not found (IST0101), Istio's other findings, each as\n"
     "\"Error [IST0101] (Kind ns/name) message\". Exit 79 when one is at or above the\n"
     "failure threshold, 65 when a file cannot be parsed.\n"},
    {"create-remote-secret", "", IC_FLAG(IC_F_NAME), ic_create_remote_secret,
     "Create a secret with credentials to allow Istio to access remote Kubernetes apiservers",
     "create-remote-secret [--name NAME] [--context C] [-i NAMESPACE]",
     "The remote secret of the cluster --context names, as YAML for `kubectl apply -f -`\n"
     "(or `ambitctl apply -f -`) on another: Secret istio-remote-secret-NAME, its kubeconfig\n"
     "naming the cluster by its run dir, file:///run/ambit/C, whose manifests (state/) and\n"
     "pods (runtime/pods.json) the other cluster's agents read, with no credentials\n"
     "(user: {}). NAME defaults to the cluster's id. A --kube cluster's names its API server\n"
     "on the LoadBalancer network (https://172.30.K.1:6443) with its CA and a token of\n"
     "istio-system/istio-reader-service-account (read-only; valid a year).\n"},
    {"dashboard", " dash d ", IC_FLAG(IC_F_PORT) | IC_FLAG(IC_F_ADDRESS) | IC_FLAG(IC_F_BROWSER),
     ic_dashboard, "Access to Istio web UIs",
     "dashboard kiali|grafana|jaeger [-p PORT] [--address ADDR]",
     "ambit's dashboard at the view the tool is for (the service graph, Grafana's\n"
     "dashboards, the traces), on the tool's port (20001, 3000, 16686), until Ctrl-C.\n"},
    {"experimental", " x exp ", WAYPOINT_FLAGS, ic_experimental, "Experimental commands",
     "x precheck | x waypoint ... | x create-remote-secret ...",
     "precheck: what stops ambit from running on this cluster, as findings; waypoint and\n"
     "create-remote-secret: as `istioctl waypoint` and `istioctl create-remote-secret`.\n"},
    {"install", " apply ",
     IC_FLAG(IC_F_SET) | IC_FLAG(IC_F_FILE) | IC_FLAG(IC_F_YES) | IC_FLAG(IC_F_DRY_RUN), ic_install,
     "Applies an Istio manifest, installing or reconfiguring Istio on a cluster",
     "install [--set profile=ambient|default|demo|minimal] [--set KEY=VALUE]... [-y]",
     "On a local cluster (or with its kubeconfig) the nodes run ambit from `local up` on:\n"
     "each component is checked and reported. With --kubeconfig of a Kubernetes cluster,\n"
     "ambit's manifests are applied as `ambitctl install` does. What a profile turns on\n"
     "that ambit has no use for is said.\n"},
    {"manifest", "",
     IC_FLAG(IC_F_SET) | IC_FLAG(IC_F_FILE) | IC_FLAG(IC_F_YES) | IC_FLAG(IC_F_DRY_RUN),
     ic_manifest, "Commands related to Istio manifests",
     "manifest generate [--set profile=P] [--set KEY=VALUE]... | manifest install ...",
     "generate: the manifests `install` applies, as YAML; install: as `istioctl install`.\n"},
    {"profile", "", 0, ic_profile, "Commands related to Istio configuration profiles",
     "profile list | profile dump [PROFILE]",
     "The profiles ambit accepts (ambient, default, demo, minimal) and what each sets.\n"},
    {"proxy-config", " pc ", IC_FLAG(IC_F_OUTPUT), ic_proxy_config,
     "Retrieve information about proxy configuration from Envoy",
     "proxy-config clusters|routes|listeners|endpoints|secret|all [TYPE/]NAME[.NS] "
     "[-o json|yaml]",
     "ambit's L7 proxies are waypoints and gateways, not Envoy; what a ztunnel holds is\n"
     "`istioctl ztunnel-config`'s.\n"},
    {"proxy-status", " ps ", IC_FLAG(IC_F_OUTPUT), ic_proxy_status,
     "Retrieves the synchronization status of each proxy in the mesh", "proxy-status [NAME[.NS]]",
     "Every node's ztunnel and every waypoint and gateway instance: NAME CLUSTER ISTIOD\n"
     "VERSION SUBSCRIBED TYPES, where ISTIOD is the node agent that feeds it and the types\n"
     "what it holds from it.\n"},
    {"remote-clusters", "", IC_FLAG(IC_F_OUTPUT), ic_remote_clusters,
     "Lists the remote clusters each istiod instance is connected to",
     "remote-clusters [--context C] [-o json|yaml]",
     "NAME SECRET STATUS ISTIOD: the cluster itself first, then each remote cluster the\n"
     "nodes' agents read, synced when every agent says so (else the worst they say:\n"
     "syncing, failed). ISTIOD is ambit-agent, the node agents that do istiod's part;\n"
     "-o json also gives each node's view.\n"},
    {"uninstall", "",
     IC_FLAG(IC_F_PURGE) | IC_FLAG(IC_F_YES) | IC_FLAG(IC_F_DRY_RUN) | IC_FLAG(IC_F_FORCE) |
	 IC_FLAG(IC_F_SET) | IC_FLAG(IC_F_FILE),
     ic_uninstall, "Uninstall Istio from a cluster", "uninstall --purge [-y] [--dry-run]",
     "With --kubeconfig of a Kubernetes cluster, as `ambitctl uninstall --purge`.\n"
     "A local cluster's nodes run ambit for as long as the cluster is up: `ambitctl local\n"
     "down` removes it.\n"},
    {"version", "", IC_FLAG(IC_F_OUTPUT) | IC_FLAG(IC_F_REMOTE) | IC_FLAG(IC_F_SHORT), ic_version,
     "Prints out build version information", "version [-o json|yaml] [--remote=false]",
     "client version (this binary's), control plane version (the node agents') and data\n"
     "plane version (the ztunnels' and the waypoints', with how many run it).\n"},
    {"waypoint", "", WAYPOINT_FLAGS, ic_waypoint, "Manage waypoint configuration",
     "waypoint generate|apply|list|status|delete [-n NS] [--name N] [--for T] "
     "[--enroll-namespace]",
     "As `ambitctl waypoint`: the Gateway of class istio-waypoint, applied, listed, its\n"
     "status, deleted.\n"},
    {"ztunnel-config", " zc ",
     IC_FLAG(IC_F_OUTPUT) | IC_FLAG(IC_F_NODE) | IC_FLAG(IC_F_WL_NS) | IC_FLAG(IC_F_WL_NODE),
     ic_ztunnel_config, "Update or retrieve current Ztunnel configuration",
     "ztunnel-config workloads|services|policies|certificates|connections|all [--node N] "
     "[-o short|json|yaml]",
     "What a node's ztunnel holds, in istioctl's columns: --node's, a ztunnel-NODE named,\n"
     "else the first that answers (every ztunnel knows every workload and Service).\n"},
    /* What ambit cannot mean: said, with what to do instead (exit 1). */
    {"kube-inject", "", IC_FLAG(IC_F_FILE) | IC_FLAG(IC_F_OUTPUT), ic_refuse,
     "Inject Istio sidecar into Kubernetes pod resources", "kube-inject -f FILE", NULL},
    {"tag", "", 0, ic_refuse, "Command group used to interact with revision tags", "tag ...", NULL},
};

/* A flag that means something else to a verb than to the others: its help there. */
static const struct flag_note {
	const char *verb;
	enum ic_flag f;
	const char *help;
} flag_notes[] = {
    {"create-remote-secret", IC_F_NAME,
     "the cluster's name in the mesh: the Secret's and its key's (default its cluster id)"},
    {"create-remote-secret", IC_F_ISTIO_NS, "the Secret's namespace (default istio-system)"},
    {"create-remote-secret", IC_F_NAMESPACE,
     "the Secret's namespace when -i is not given (as older istioctl releases read it)"},
};

/* What ambit says instead of doing what istioctl would (a verb's or an experimental's). */
static const struct refusal {
	const char *what;
	const char *why;
} refusals[] = {
    {"kube-inject",
     "ambit is ambient-only and injects no sidecar: label the namespace instead\n"
     "(kubectl label namespace NS istio.io/dataplane-mode=ambient) and apply the manifest\n"
     "as it is"},
    {"tag", "ambit has no control plane revisions to tag: one agent per node serves the mesh;\n"
	    "upgrade it in place (`ambitctl local upgrade ztunnel`, or the DaemonSet's rollout)"},
    {"revision", "ambit has no control plane revisions: one agent per node serves the mesh"},
};

void ic_cert_read(const char *pem, struct ic_cert *out)
{
	struct crypto_cert_info ci;
	time_t now = time(NULL);
	struct tm tm;

	*out = (struct ic_cert){.ok = pem && !crypto_cert_info(pem, &ci)};
	str_fmt(out->serial, sizeof(out->serial), "%s", out->ok ? ci.serial : "-");
	str_fmt(out->not_after, sizeof(out->not_after), "-");
	str_fmt(out->not_before, sizeof(out->not_before), "-");
	if (!out->ok)
		return;
	out->valid = ci.not_before <= now && now < ci.not_after;
	gmtime_r(&ci.not_after, &tm);
	strftime(out->not_after, sizeof(out->not_after), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gmtime_r(&ci.not_before, &tm);
	strftime(out->not_before, sizeof(out->not_before), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ic_cluster(const struct ic *ic, struct ctl_cluster *c, bool quiet)
{
	static char first[NAME_MAX + 1];
	const char *env = getenv("AMBIT_CLUSTER");
	char list[1024];
	const char *name = ic->val[IC_F_CLUSTER] ? ic->val[IC_F_CLUSTER] : ic->val[IC_F_CONTEXT];
	int n;

	/* A kubeconfig is a local cluster's (`ambitctl local kubeconfig`), or no cluster here. */
	if (!name && ic->val[IC_F_KUBECONFIG]) {
		if (cluster_by_kubeconfig(ic->val[IC_F_KUBECONFIG], c))
			return 0;
		return ic_error(IC_EXIT_ERROR,
				"--kubeconfig %s is no local cluster's: this command reads the "
				"nodes of a local cluster (on Kubernetes install, uninstall and "
				"waypoint take --kubeconfig)",
				ic->val[IC_F_KUBECONFIG]);
	}
	if (!name && env && *env)
		name = env;
	if (!name) {
		n = cluster_list_up(first, sizeof(first), list, sizeof(list));
		if (n == 0 && quiet)
			return -ENOENT;
		if (n == 0)
			return ic_error(IC_EXIT_ERROR,
					"no running Istio pods in \"%s\": no ambit cluster is up "
					"(`ambitctl local up -f DIR` starts one)",
					ic->val[IC_F_ISTIO_NS] ? ic->val[IC_F_ISTIO_NS]
							       : "istio-system");
		if (n > 1)
			return ic_error(IC_EXIT_ERROR,
					"%d clusters are up (%s): say which with --context C", n,
					list);
		name = first;
	}
	if (cluster_load(c, name)) {
		n = cluster_list_up(first, sizeof(first), list, sizeof(list));
		if (quiet && !n)
			return -ENOENT;
		return ic_error(IC_EXIT_ERROR,
				"context \"%s\": no local cluster of that name is up%s%s%s", name,
				n ? " (up: " : "", n ? list : "", n ? ")" : "");
	}
	return 0;
}

/*
 * @v as Go's json.MarshalIndent(v, "", "  ") writes it, istioctl's encoder: one member or
 * element a line, two spaces a level, "key": value, [] and {} when empty. 0 or -ENOMEM.
 */
static int print_json(const cJSON *v, int depth)
{
	const cJSON *it;
	char *text;

	if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
		bool obj = cJSON_IsObject(v);

		if (!v->child) {
			fputs(obj ? "{}" : "[]", stdout);
			return 0;
		}
		putchar(obj ? '{' : '[');
		cJSON_ArrayForEach(it, v)
		{
			printf("\n%*s", 2 * (depth + 1), "");
			if (obj) {
				cJSON key = {.type = cJSON_String, .valuestring = it->string};

				text = cJSON_PrintUnformatted(&key);
				if (!text)
					return -ENOMEM;
				printf("%s: ", text);
				free(text);
			}
			if (print_json(it, depth + 1))
				return -ENOMEM;
			if (it->next)
				putchar(',');
		}
		printf("\n%*s%c", 2 * depth, "", obj ? '}' : ']');
		return 0;
	}
	/* A scalar as cJSON writes it: strings escaped as JSON wants them. */
	text = cJSON_PrintUnformatted(v);
	if (!text)
		return -ENOMEM;
	fputs(text, stdout);
	free(text);
	return 0;
}

int ic_print(cJSON *doc, const char *fmt)
{
	int ret = IC_EXIT_ERROR;

	if (doc && !strcmp(fmt, "yaml")) {
		cJSON *one = cJSON_CreateArray();

		if (one && cJSON_AddItemReferenceToArray(one, doc))
			ret = ctl_print_yaml(one) ? IC_EXIT_ERROR : 0;
		cJSON_Delete(one);
	} else if (doc && !print_json(doc, 0)) {
		putchar('\n');
		ret = 0;
	}
	cJSON_Delete(doc);
	return ret;
}

static const struct verb *find_verb(const char *word)
{
	char key[64];

	if (str_fmt(key, sizeof(key), " %s ", word))
		return NULL;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].name, word) || strstr(verbs[i].aliases, key))
			return &verbs[i];
	return NULL;
}

static void help_root(FILE *f)
{
	fprintf(f, "Istio configuration command line utility, on ambit: istioctl's commands do "
		   "what ambitctl\ndoes for them (docs/istioctl.md).\n\nUsage:\n  istioctl "
		   "[command]\n\nAvailable Commands:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-22s %s%s\n", verbs[i].name, verbs[i].summary,
			verbs[i].run == ic_refuse ? " (not on ambit: says what instead)" : "");
	fprintf(f, "  %-22s %s\n", "help", "Help about any command");
	fprintf(f, "\nFlags:\n");
	ic_print_flags(ROOT_FLAGS, NULL);
	fprintf(f, "\nUse \"istioctl [command] --help\" for more information about a command.\n");
}

static void help_verb(const struct verb *v)
{
	const char *help[IC_N_FLAGS] = {0};

	for (size_t i = 0; i < sizeof(flag_notes) / sizeof(flag_notes[0]); i++)
		if (!strcmp(flag_notes[i].verb, v->name))
			help[flag_notes[i].f] = flag_notes[i].help;
	printf("%s\n\n", v->summary);
	if (v->more)
		printf("%s\n", v->more);
	printf("Usage:\n  istioctl %s\n", v->usage);
	if (v->aliases[0] && v->aliases[1])
		printf("\nAliases:\n  %s,%.*s\n", v->name, (int)strlen(v->aliases + 1) - 1,
		       v->aliases + 1);
	printf("\nFlags:\n");
	ic_print_flags(v->flags & ~ROOT_FLAGS, help);
	printf("\nGlobal Flags:\n");
	ic_print_flags(ROOT_FLAGS, help);
}

static int refuse_named(const char *what)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		if (!strcmp(refusals[i].what, what))
			return ic_error(IC_EXIT_ERROR, "istioctl %s: not on ambit: %s", what,
					refusals[i].why);
	return ic_error(IC_EXIT_ERROR, "istioctl %s: not on ambit", what);
}

static int ic_refuse(struct ic *ic)
{
	return refuse_named(ic->pos[0]);
}

/*
 * `ambitctl waypoint` with istioctl's flags spelt as it reads them (each istioctl flag's
 * ambitctl spelling, or NULL where istioctl's has the same), then the arguments.
 */
static int ic_waypoint(struct ic *ic)
{
	static const struct {
		enum ic_flag f;
		const char *as;
	} pass[] = {{IC_F_NAMESPACE, "-n"},
		    {IC_F_NAME, "--name"},
		    {IC_F_FOR, "--for"},
		    {IC_F_ENROLL, "--enroll-namespace"},
		    {IC_F_OVERWRITE, "--overwrite"},
		    {IC_F_ALL_NS, "-A"},
		    {IC_F_ALL, "--all"},
		    {IC_F_KUBECONFIG, "--kubeconfig"},
		    {IC_F_OUTPUT, "-o"}};
	char *argv[2 * (sizeof(pass) / sizeof(pass[0])) + IC_MAX_POS + 2];
	struct ctl_cluster c;
	int argc = 0, ret;

	if (ic->val[IC_F_OUTPUT] && strcmp(ic->val[IC_F_OUTPUT], "json"))
		return ic_error(IC_EXIT_USAGE, "waypoint: --output must be 'json'");
	if (ic->args >= ic->npos)
		return ic_error(IC_EXIT_USAGE, "waypoint: one of generate, apply, list, status, "
					       "delete\nRun 'istioctl waypoint --help' for usage.");
	if (!ic->set[IC_F_KUBECONFIG] && strcmp(ic->pos[ic->args], "generate")) {
		ret = ic_cluster(ic, &c, false);
		if (ret)
			return ret;
		ic->o.cluster = c.name;
	}
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		bool value = pass[i].f != IC_F_ENROLL && pass[i].f != IC_F_OVERWRITE &&
			     pass[i].f != IC_F_ALL_NS && pass[i].f != IC_F_ALL;

		if (!ic->set[pass[i].f] || (!value && !ic_flag_on(ic, pass[i].f)))
			continue;
		argv[argc++] = (char *)pass[i].as;
		if (value)
			argv[argc++] = (char *)ic->val[pass[i].f];
	}
	/* istioctl's apply returns once applied; --wait waits until the waypoint serves. */
	if (!ic_flag_on(ic, IC_F_WAIT))
		argv[argc++] = "--wait=false";
	for (int i = ic->args; i < ic->npos; i++)
		argv[argc++] = ic->pos[i];
	argv[argc] = NULL;
	return cmd_waypoint(&ic->o, argc, argv) ? IC_EXIT_ERROR : IC_EXIT_OK;
}

/* istioctl's tools, each at its own port and a view of ambit's one page. */
static int ic_dashboard(struct ic *ic)
{
	static const struct {
		const char *tool, *path;
		int port;
	} tools[] = {{"kiali", "/kiali", 20001}, {"grafana", "", 3000}, {"jaeger", "", 16686}};
	const char *tool = ic->args < ic->npos ? ic->pos[ic->args] : NULL;
	struct ctl_cluster c;
	char port[16], *argv[8];
	int argc = 0, ret;

	for (size_t i = 0; tool && i < sizeof(tools) / sizeof(tools[0]); i++) {
		if (strcmp(tool, tools[i].tool))
			continue;
		if (ic->args + 1 < ic->npos)
			return ic_error(IC_EXIT_USAGE, "dashboard %s takes no arguments", tool);
		ret = ic_cluster(ic, &c, false);
		if (ret)
			return ret;
		ic->o.cluster = c.name;
		str_fmt(port, sizeof(port), "%d", tools[i].port);
		argv[argc++] = (char *)tool;
		argv[argc++] = "--port";
		argv[argc++] = ic->val[IC_F_PORT] ? (char *)ic->val[IC_F_PORT] : port;
		if (ic->val[IC_F_ADDRESS]) {
			argv[argc++] = "--address";
			argv[argc++] = (char *)ic->val[IC_F_ADDRESS];
		}
		argv[argc] = NULL;
		return cmd_dashboard_as(&ic->o, argc, argv, tools[i].path) ? IC_EXIT_ERROR : 0;
	}
	if (!tool)
		return ic_error(IC_EXIT_USAGE, "dashboard: one of kiali, grafana, jaeger\nRun "
					       "'istioctl dashboard --help' for usage.");
	return ic_error(IC_EXIT_ERROR,
			"unknown dashboard \"%s\": ambit's page has kiali's graph, grafana's "
			"dashboards and jaeger's traces",
			tool);
}

/*
 * Both on the cluster --context names, with ambitctl's code (cli/remote.c). The Secret's
 * namespace is -i's, or -n's as older istioctl releases read it.
 */
static int ic_create_remote_secret(struct ic *ic)
{
	const char *ns = ic->val[IC_F_ISTIO_NS] ? ic->val[IC_F_ISTIO_NS] : ic->val[IC_F_NAMESPACE];
	struct ctl_cluster c;
	int ret;

	if (ic->args < ic->npos)
		return ic_error(IC_EXIT_USAGE, "create-remote-secret takes no arguments\nRun "
					       "'istioctl create-remote-secret --help' for usage.");
	ret = ic_cluster(ic, &c, false);
	if (ret)
		return ret;
	ic->o.cluster = c.name;
	return remote_secret_print(&ic->o, ic->val[IC_F_NAME], ns) ? IC_EXIT_ERROR : IC_EXIT_OK;
}

static int ic_remote_clusters(struct ic *ic)
{
	const char *fmt = ic->val[IC_F_OUTPUT];
	struct ctl_cluster c;
	cJSON *rows;
	int ret;

	if (fmt && strcmp(fmt, "json") && strcmp(fmt, "yaml"))
		return ic_error(IC_EXIT_USAGE, "--output must be 'yaml' or 'json'");
	if (ic->args < ic->npos)
		return ic_error(IC_EXIT_USAGE, "remote-clusters takes no arguments\nRun "
					       "'istioctl remote-clusters --help' for usage.");
	ret = ic_cluster(ic, &c, false);
	if (ret)
		return ret;
	ic->o.cluster = c.name;
	if (!fmt)
		return cmd_remote_clusters(&ic->o) ? IC_EXIT_ERROR : IC_EXIT_OK;
	rows = remote_clusters_doc(&ic->o);
	return rows ? ic_print(rows, fmt) : IC_EXIT_ERROR;
}

static int ic_experimental(struct ic *ic)
{
	const char *sub = ic->args < ic->npos ? ic->pos[ic->args] : "";

	ic->args++;
	if (!strcmp(sub, "precheck"))
		return ic_precheck(ic);
	if (!strcmp(sub, "waypoint"))
		return ic_waypoint(ic);
	/* Where Istio's multicluster pages had it before it left experimental. */
	if (!strcmp(sub, "create-remote-secret"))
		return ic_create_remote_secret(ic);
	if (!strcmp(sub, "revision"))
		return refuse_named("revision");
	if (!*sub)
		return ic_error(IC_EXIT_USAGE, "experimental: one of precheck, waypoint\nRun "
					       "'istioctl x --help' for usage.");
	return ic_error(IC_EXIT_USAGE,
			"unknown command \"%s\" for \"istioctl experimental\"\n"
			"Run 'istioctl experimental --help' for usage.",
			sub);
}

static int istioctl_main(int argc, char **argv)
{
	struct ic ic = {0};
	const struct verb *v;
	int ret = ic_parse(argc, argv, &ic);

	if (ret)
		return ret;
	ic.o.cluster = NULL;
	ic.o.istioctl = true;
	if (!ic.npos || !strcmp(ic.pos[0], "help")) {
		if (ic.npos > 1 && (v = find_verb(ic.pos[1]))) {
			help_verb(v);
			return 0;
		}
		/* As cobra: istioctl alone prints its help. */
		help_root(stdout);
		return 0;
	}
	v = find_verb(ic.pos[0]);
	if (!v)
		return ic_error(IC_EXIT_USAGE,
				"unknown command \"%s\" for \"istioctl\"\nRun 'istioctl --help' "
				"for usage.",
				ic.pos[0]);
	if (ic.set[IC_F_HELP]) {
		help_verb(v);
		return 0;
	}
	for (size_t i = 0; i < ic_n_flags; i++)
		if (ic.set[ic_flags[i].f] && !((v->flags | ROOT_FLAGS) & IC_FLAG(ic_flags[i].f)))
			return ic_error(IC_EXIT_USAGE,
					"unknown flag: --%s\nRun 'istioctl %s --help' for usage.",
					ic_flags[i].lng, v->name);
	if (ic.set[IC_F_REVISION])
		return refuse_named("revision");
	ic.args = 1;
	if (ic.val[IC_F_NODE])
		ic.o.node = ic.val[IC_F_NODE];
	log_init("istioctl", LOG_LEVEL_WARN);
	return v->run(&ic);
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');

	base = base ? base + 1 : argv[0];
	if (!strcmp(base, "istioctl"))
		return istioctl_main(argc, argv);
	log_init("ambitctl", LOG_LEVEL_WARN);
	return ambitctl_main(argc, argv);
}
