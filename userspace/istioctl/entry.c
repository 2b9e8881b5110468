// SPDX-License-Identifier: Apache-2.0
/*
 * The binary's main(): ambitctl, or istioctl when run under that name (build/istioctl, a link).
 * As istioctl it reads istioctl's command lines as cobra does (flags anywhere, --flag=value,
 * -n value, aliases, `help VERB`), refuses what ambit cannot mean with what to do instead, and
 * runs each verb with ambitctl's code (report.c, findings.c, profiles.c, and cli's waypoint and
 * dashboard commands).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "ctl.h"
#include "dashboard.h"
#include "istioctl.h"

static const struct flag_def {
	enum ic_flag f;
	const char *lng;
	char shrt;
	bool value;
	const char *help;
} flags[] = {
    {IC_F_NAMESPACE, "namespace", 'n', true, "the namespace the command is about"},
    {IC_F_ISTIO_NS, "istioNamespace", 'i', true,
     "the control plane's namespace (default istio-system)"},
    {IC_F_CONTEXT, "context", 0, true, "the local cluster to address, by name"},
    {IC_F_KUBECONFIG, "kubeconfig", 'c', true, "a Kubernetes cluster's kubeconfig"},
    {IC_F_CLUSTER, "cluster", 0, true, "the local cluster to address (ambit's own flag)"},
    {IC_F_REVISION, "revision", 'r', true, "refused: ambit has no control plane revisions"},
    {IC_F_OUTPUT, "output", 'o', true, "output format"},
    {IC_F_ALL_NS, "all-namespaces", 'A', false, "every namespace"},
    {IC_F_YES, "skip-confirmation", 'y', false, "do not ask before changing the cluster"},
    {IC_F_SET, "set", 's', true, "KEY=VALUE: an install option (repeats)"},
    {IC_F_FILE, "filename", 'f', true, "a file or directory of manifests (repeats)"},
    {IC_F_PURGE, "purge", 0, false, "remove everything the install made, and the CRDs"},
    {IC_F_DRY_RUN, "dry-run", 0, false, "say what would change, change nothing"},
    {IC_F_FORCE, "force", 0, false, "even while namespaces are in the mesh"},
    {IC_F_NODE, "node", 0, true, "the node whose ztunnel to ask"},
    {IC_F_WL_NS, "workload-namespace", 0, true, "only workloads of this namespace"},
    {IC_F_WL_NODE, "workload-node", 0, true, "only workloads on this node"},
    {IC_F_PORT, "port", 'p', true, "the local port to serve on"},
    {IC_F_ADDRESS, "address", 0, true, "the local address to serve on (default localhost)"},
    {IC_F_BROWSER, "browser", 0, false, "open a browser (never here: the URL is printed)"},
    {IC_F_REMOTE, "remote", 0, false, "also the cluster's versions (default true)"},
    {IC_F_SHORT, "short", 0, false, "versions alone (default true)"},
    {IC_F_FOR, "for", 0, true, "what traffic the waypoint takes: service, workload, all, none"},
    {IC_F_ENROLL, "enroll-namespace", 0, false, "label the namespace to use the waypoint"},
    {IC_F_WAIT, "wait", 'w', false, "wait until the waypoint is ready (default true)"},
    {IC_F_OVERWRITE, "overwrite", 0, false, "enroll even if another waypoint is enrolled"},
    {IC_F_NAME, "name", 0, true, "the waypoint's name (default waypoint)"},
    {IC_F_ALL, "all", 0, false, "every waypoint of the namespace"},
    {IC_F_FAIL_THRESHOLD, "failure-threshold", 0, true,
     "the lowest level that fails the command: Info, Warning, Error (default Error)"},
    {IC_F_OUT_THRESHOLD, "output-threshold", 0, true,
     "the lowest level printed: Info, Warning, Error (default Info)"},
    {IC_F_USE_KUBE, "use-kube", 'k', false, "analyze the cluster's objects too (default true)"},
    {IC_F_VKLOG, "vklog", 0, true, "client-go's log level (accepted, unused)"},
    {IC_F_HELP, "help", 'h', false, "this help"},
};

#define FLAG(x) (1ULL << (x))
/* Every verb takes these (istioctl's root flags). */
#define ROOT_FLAGS                                                                                 \
	(FLAG(IC_F_NAMESPACE) | FLAG(IC_F_ISTIO_NS) | FLAG(IC_F_CONTEXT) | FLAG(IC_F_KUBECONFIG) | \
	 FLAG(IC_F_CLUSTER) | FLAG(IC_F_REVISION) | FLAG(IC_F_VKLOG) | FLAG(IC_F_HELP))

static int ic_waypoint(struct ic *ic);
static int ic_dashboard(struct ic *ic);
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
     FLAG(IC_F_ALL_NS) | FLAG(IC_F_OUTPUT) | FLAG(IC_F_FILE) | FLAG(IC_F_FAIL_THRESHOLD) |
	 FLAG(IC_F_OUT_THRESHOLD) | FLAG(IC_F_USE_KUBE),
     ic_analyze, "Analyze Istio configuration and print validation messages",
     "analyze [FILE|DIR|-]... [-n NS | -A] [-o log|json|yaml] [--failure-threshold LEVEL]",
     "The cluster's objects (and the files given) through ambit's loader and analyzers: schema\n"
     "errors (IST0106), references not found (IST0101), Istio's other findings, each as\n"
     "\"Error [IST0101] (Kind ns/name) message\". Exit 79 when one is at or above the\n"
     "failure threshold, 65 when a file cannot be parsed.\n"},
    {"dashboard", " dash d ", FLAG(IC_F_PORT) | FLAG(IC_F_ADDRESS) | FLAG(IC_F_BROWSER),
     ic_dashboard, "Access to Istio web UIs",
     "dashboard kiali|grafana|jaeger [-p PORT] [--address ADDR]",
     "ambit's dashboard at the view the tool is for (the service graph, Grafana's\n"
     "dashboards, the traces), on the tool's port (20001, 3000, 16686), until Ctrl-C.\n"},
    {"experimental", " x exp ", 0, ic_experimental, "Experimental commands",
     "x precheck | x waypoint ...",
     "precheck: what stops ambit from running on this cluster, as findings; waypoint: as\n"
     "`istioctl waypoint`.\n"},
    {"install", " apply ", FLAG(IC_F_SET) | FLAG(IC_F_FILE) | FLAG(IC_F_YES) | FLAG(IC_F_DRY_RUN),
     ic_install, "Applies an Istio manifest, installing or reconfiguring Istio on a cluster",
     "install [--set profile=ambient|default|demo|minimal] [--set KEY=VALUE]... [-y]",
     "On a local cluster, its nodes already run ambit: the components are checked and\n"
     "reported. With --kubeconfig (or on a --kube local cluster) ambit's manifests are\n"
     "applied as `ambitctl install` does. What a profile turns on that ambit has no use\n"
     "for is said.\n"},
    {"manifest", "", FLAG(IC_F_SET) | FLAG(IC_F_FILE) | FLAG(IC_F_YES) | FLAG(IC_F_DRY_RUN),
     ic_manifest, "Commands related to Istio manifests",
     "manifest generate [--set profile=P] [--set KEY=VALUE]... | manifest install ...",
     "generate: the manifests `install` applies, as YAML; install: as `istioctl install`.\n"},
    {"profile", "", FLAG(IC_F_OUTPUT), ic_profile,
     "Commands related to Istio configuration profiles", "profile list | profile dump [PROFILE]",
     "The profiles ambit accepts (ambient, default, demo, minimal) and what each sets.\n"},
    {"proxy-config", " pc ", FLAG(IC_F_OUTPUT), ic_proxy_config,
     "Retrieve information about proxy configuration from Envoy",
     "proxy-config clusters|routes|listeners|endpoints|secret [TYPE/]NAME[.NS]",
     "ambit's L7 proxies are waypoints and gateways, not Envoy; what a ztunnel holds is\n"
     "`istioctl ztunnel-config`'s.\n"},
    {"proxy-status", " ps ", FLAG(IC_F_OUTPUT), ic_proxy_status,
     "Retrieves the synchronization status of each proxy in the mesh", "proxy-status [NAME[.NS]]",
     "Every node's ztunnel and every waypoint and gateway instance: NAME CLUSTER ISTIOD\n"
     "VERSION SUBSCRIBED TYPES, where ISTIOD is the node agent that feeds it and the types\n"
     "what it holds from it.\n"},
    {"uninstall", "",
     FLAG(IC_F_PURGE) | FLAG(IC_F_YES) | FLAG(IC_F_DRY_RUN) | FLAG(IC_F_FORCE) | FLAG(IC_F_SET) |
	 FLAG(IC_F_FILE),
     ic_uninstall, "Uninstall Istio from a cluster", "uninstall --purge [-y] [--dry-run]",
     "With --kubeconfig (or on a --kube local cluster) as `ambitctl uninstall --purge`.\n"
     "A local cluster's nodes run ambit for as long as the cluster is up: `ambitctl local\n"
     "down` removes it.\n"},
    {"version", "", FLAG(IC_F_OUTPUT) | FLAG(IC_F_REMOTE) | FLAG(IC_F_SHORT), ic_version,
     "Prints out build version information", "version [-o json|yaml] [--remote=false]",
     "client version (this binary's), control plane version (the node agents') and data\n"
     "plane version (the ztunnels' and the waypoints', with how many run it).\n"},
    {"waypoint", "",
     FLAG(IC_F_OUTPUT) | FLAG(IC_F_ALL_NS) | FLAG(IC_F_FOR) | FLAG(IC_F_ENROLL) | FLAG(IC_F_WAIT) |
	 FLAG(IC_F_OVERWRITE) | FLAG(IC_F_NAME) | FLAG(IC_F_ALL),
     ic_waypoint, "Manage waypoint configuration",
     "waypoint generate|apply|list|status|delete [-n NS] [--name N] [--for T] "
     "[--enroll-namespace]",
     "As `ambitctl waypoint`: the Gateway of class istio-waypoint, applied, listed, its\n"
     "status, deleted.\n"},
    {"ztunnel-config", " zc ",
     FLAG(IC_F_OUTPUT) | FLAG(IC_F_NODE) | FLAG(IC_F_WL_NS) | FLAG(IC_F_WL_NODE), ic_ztunnel_config,
     "Update or retrieve current Ztunnel configuration",
     "ztunnel-config workloads|services|policies|certificates|connections|all [--node N] "
     "[-o short|json|yaml]",
     "What a node's ztunnel holds, in istioctl's columns (every node's without --node).\n"},
    /* What ambit cannot mean: said, with what to do instead (exit 1). */
    {"kube-inject", "", FLAG(IC_F_FILE) | FLAG(IC_F_OUTPUT), ic_refuse,
     "Inject Istio sidecar into Kubernetes pod resources", "kube-inject -f FILE", NULL},
    {"tag", "", 0, ic_refuse, "Command group used to interact with revision tags", "tag ...", NULL},
    {"create-remote-secret", "", FLAG(IC_F_NAME), ic_refuse,
     "Create a secret with credentials to allow Istio to access remote Kubernetes apiservers",
     "create-remote-secret --name NAME", NULL},
    {"remote-clusters", "", 0, ic_refuse,
     "Lists the remote clusters each istiod instance is connected to", "remote-clusters", NULL},
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
    {"create-remote-secret",
     "ambit addresses one cluster for now: multicluster (remote secrets, east-west\n"
     "gateways) is not built yet"},
    {"remote-clusters",
     "ambit addresses one cluster for now: there are no remote clusters to list"},
};

bool ic_flag_on(const struct ic *ic, enum ic_flag f)
{
	return ic->set[f] && (!ic->val[f] || strcmp(ic->val[f], "false"));
}

const char *ic_namespace(const struct ic *ic)
{
	return ic->val[IC_F_NAMESPACE] ? ic->val[IC_F_NAMESPACE] : "default";
}

int ic_error(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("Error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int ic_cluster(const struct ic *ic, struct ctl_cluster *c, bool quiet)
{
	static char first[NAME_MAX + 1];
	const char *env = getenv("AMBIT_CLUSTER");
	char list[1024];
	const char *name = ic->val[IC_F_CLUSTER] ? ic->val[IC_F_CLUSTER] : ic->val[IC_F_CONTEXT];
	int n;

	if (!name && env && *env)
		name = env;
	if (!name) {
		n = cluster_list_up(first, sizeof(first), list, sizeof(list));
		if (n == 0 && quiet)
			return IC_EXIT_ERROR;
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
		cluster_tell_not_up(name);
		return IC_EXIT_ERROR;
	}
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
	} else if (doc) {
		char *text = cJSON_Print(doc);

		if (text) {
			/* cJSON lays out by tabs (a string's own are escaped); istioctl by two
			 * spaces, and ": " between a key and its value. */
			for (const char *p = text; *p; p++) {
				if (*p != '\t')
					putchar(*p);
				else
					fputs(p > text && p[-1] == ':' ? " " : "  ", stdout);
			}
			putchar('\n');
			ret = 0;
		}
		free(text);
	}
	cJSON_Delete(doc);
	return ret;
}

static const struct flag_def *flag_by_long(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strlen(flags[i].lng) == len && !strncmp(flags[i].lng, s, len))
			return &flags[i];
	return NULL;
}

static const struct flag_def *flag_by_short(char c)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (flags[i].shrt == c)
			return &flags[i];
	return NULL;
}

/* Records flag @d with @v (NULL: a boolean given bare). */
static int take(struct ic *ic, const struct flag_def *d, const char *v)
{
	ic->set[d->f] = true;
	ic->val[d->f] = v;
	if (d->f == IC_F_SET || d->f == IC_F_FILE) {
		size_t *n = d->f == IC_F_SET ? &ic->n_sets : &ic->n_files;
		const char **to = d->f == IC_F_SET ? ic->sets : ic->files;

		if (*n == IC_MAX_REPEAT)
			return ic_error(IC_EXIT_USAGE, "--%s: at most %d", d->lng, IC_MAX_REPEAT);
		to[(*n)++] = v;
	}
	if (!d->value && v && strcmp(v, "true") && strcmp(v, "false"))
		return ic_error(IC_EXIT_USAGE,
				"invalid argument \"%s\" for \"--%s\" flag: strconv.ParseBool: "
				"parsing \"%s\": invalid syntax",
				v, d->lng, v);
	return 0;
}

/* cobra's reading: flags anywhere (before "--"), --f=v, --f v, -f v, -f=v, -fv; 0 or 64. */
static int parse(int argc, char **argv, struct ic *ic)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *eq;
		const struct flag_def *d;

		if (!strcmp(s, "--")) {
			while (++i < argc && ic->npos < IC_MAX_POS)
				ic->pos[ic->npos++] = argv[i];
			break;
		}
		if (s[0] != '-' || !s[1]) {
			if (ic->npos == IC_MAX_POS)
				return ic_error(IC_EXIT_USAGE, "too many arguments");
			ic->pos[ic->npos++] = argv[i];
			continue;
		}
		if (s[1] == '-') {
			eq = strchr(s + 2, '=');
			d = flag_by_long(s + 2, eq ? (size_t)(eq - s - 2) : strlen(s + 2));
			if (!d)
				return ic_error(IC_EXIT_USAGE, "unknown flag: %.*s",
						eq ? (int)(eq - s) : (int)strlen(s), s);
		} else {
			d = flag_by_short(s[1]);
			if (!d)
				return ic_error(IC_EXIT_USAGE, "unknown shorthand flag: '%c' in %s",
						s[1], s);
			eq = s[2] == '=' ? s + 2 : NULL;
			if (!eq && s[2]) {
				if (!d->value)
					return ic_error(IC_EXIT_USAGE,
							"unknown shorthand flag: '%c' in %s", s[2],
							s);
				if (take(ic, d, s + 2))
					return IC_EXIT_USAGE;
				continue;
			}
		}
		if (eq) {
			if (take(ic, d, eq + 1))
				return IC_EXIT_USAGE;
		} else if (d->value) {
			if (i + 1 >= argc)
				return ic_error(IC_EXIT_USAGE, "flag needs an argument: %s", s);
			if (take(ic, d, argv[++i]))
				return IC_EXIT_USAGE;
		} else if (take(ic, d, NULL)) {
			return IC_EXIT_USAGE;
		}
	}
	return 0;
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

static void print_flags(unsigned long long mask)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char head[64];

		if (!(mask & FLAG(flags[i].f)))
			continue;
		if (flags[i].shrt)
			str_fmt(head, sizeof(head), "-%c, --%s%s", flags[i].shrt, flags[i].lng,
				flags[i].value ? " string" : "");
		else
			str_fmt(head, sizeof(head), "    --%s%s", flags[i].lng,
				flags[i].value ? " string" : "");
		printf("  %-34s %s\n", head, flags[i].help);
	}
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
	if (f == stdout)
		print_flags(ROOT_FLAGS);
	fprintf(f, "\nUse \"istioctl [command] --help\" for more information about a command.\n");
}

static void help_verb(const struct verb *v)
{
	printf("%s\n\n", v->summary);
	if (v->more)
		printf("%s\n", v->more);
	printf("Usage:\n  istioctl %s\n", v->usage);
	if (v->aliases[0] && v->aliases[1])
		printf("\nAliases:\n  %s,%.*s\n", v->name, (int)strlen(v->aliases + 1) - 1,
		       v->aliases + 1);
	printf("\nFlags:\n");
	print_flags(v->flags & ~ROOT_FLAGS);
	printf("\nGlobal Flags:\n");
	print_flags(ROOT_FLAGS);
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
		    {IC_F_ALL_NS, "-A"},
		    {IC_F_ALL, "--all"},
		    {IC_F_KUBECONFIG, "--kubeconfig"},
		    {IC_F_OUTPUT, "-o"}};
	char *argv[2 * (sizeof(pass) / sizeof(pass[0])) + IC_MAX_POS + 2];
	struct ctl_cluster c;
	int argc = 0, ret;

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
		bool value =
		    pass[i].f != IC_F_ENROLL && pass[i].f != IC_F_ALL_NS && pass[i].f != IC_F_ALL;

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

static int ic_experimental(struct ic *ic)
{
	const char *sub = ic->args < ic->npos ? ic->pos[ic->args] : "";

	ic->args++;
	if (!strcmp(sub, "precheck"))
		return ic_precheck(ic);
	if (!strcmp(sub, "waypoint"))
		return ic_waypoint(ic);
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
	int ret = parse(argc, argv, &ic);

	if (ret)
		return ret;
	ic.o.cluster = NULL;
	ic.o.istioctl = true;
	if (!ic.npos || !strcmp(ic.pos[0], "help")) {
		if (ic.npos > 1 && (v = find_verb(ic.pos[1]))) {
			help_verb(v);
			return 0;
		}
		if (ic.npos || ic.set[IC_F_HELP]) {
			help_root(stdout);
			return 0;
		}
		help_root(stderr);
		return IC_EXIT_USAGE;
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
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (ic.set[flags[i].f] && !((v->flags | ROOT_FLAGS) & FLAG(flags[i].f)))
			return ic_error(IC_EXIT_USAGE,
					"unknown flag: --%s\nRun 'istioctl %s --help' for usage.",
					flags[i].lng, v->name);
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
