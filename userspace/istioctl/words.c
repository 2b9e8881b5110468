// SPDX-License-Identifier: Apache-2.0
/*
 * istioctl's grammar and words, without I/O (its unit test links this file alone): the flags,
 * read as cobra reads them, and a finding's line as `istioctl analyze` writes it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ambit/config.h"
#include "istioctl.h"

const struct ic_flag_def ic_flags[] = {
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
    {IC_F_WAIT, "wait", 'w', false, "wait until the waypoint is ready"},
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
const size_t ic_n_flags = sizeof(ic_flags) / sizeof(ic_flags[0]);

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

static const struct ic_flag_def *flag_by_long(const char *s, size_t len)
{
	for (size_t i = 0; i < ic_n_flags; i++)
		if (strlen(ic_flags[i].lng) == len && !strncmp(ic_flags[i].lng, s, len))
			return &ic_flags[i];
	return NULL;
}

static const struct ic_flag_def *flag_by_short(char c)
{
	for (size_t i = 0; i < ic_n_flags; i++)
		if (ic_flags[i].shrt == c)
			return &ic_flags[i];
	return NULL;
}

/* Records flag @d with @v (NULL: a boolean given bare). */
static int take(struct ic *ic, const struct ic_flag_def *d, const char *v)
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
int ic_parse(int argc, char **argv, struct ic *ic)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *eq;
		const struct ic_flag_def *d;

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
			/* -yA: booleans bundled; the last may take a value (-nfoo, -n=foo, -n foo).
			 */
			const char *c = s + 1;

			for (;; c++) {
				d = flag_by_short(*c);
				if (!d)
					return ic_error(IC_EXIT_USAGE,
							"unknown shorthand flag: '%c' in %s", *c,
							s);
				if (d->value || !c[1] || c[1] == '=')
					break;
				if (take(ic, d, NULL))
					return IC_EXIT_USAGE;
			}
			eq = c[1] == '=' ? c + 1 : NULL;
			if (!eq && c[1]) {
				if (take(ic, d, c + 1))
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

void ic_print_flags(unsigned long long mask, const char *const *help)
{
	for (size_t i = 0; i < ic_n_flags; i++) {
		char head[64];

		if (!(mask & IC_FLAG(ic_flags[i].f)))
			continue;
		if (ic_flags[i].shrt)
			str_fmt(head, sizeof(head), "-%c, --%s%s", ic_flags[i].shrt,
				ic_flags[i].lng, ic_flags[i].value ? " string" : "");
		else
			str_fmt(head, sizeof(head), "    --%s%s", ic_flags[i].lng,
				ic_flags[i].value ? " string" : "");
		printf("  %-34s %s\n", head,
		       help && help[ic_flags[i].f] ? help[ic_flags[i].f] : ic_flags[i].help);
	}
}

/* The code a finding has ("IST0101 ..." begins its message), else @def; into @code. */
const char *ic_split_code(const char *msg, const char *def, char code[8])
{
	if (!strncmp(msg, "IST", 3) && strspn(msg + 3, "0123456789") == 4 &&
	    (msg[7] == ' ' || !msg[7])) {
		memcpy(code, msg, 7);
		code[7] = '\0';
		msg += msg[7] ? 8 : 7;
		/* "IST0132 VirtualServiceHostNotFoundInGateway: ...": the name is the code's. */
		size_t word = strspn(msg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
		if (word && msg[0] >= 'A' && msg[0] <= 'Z' && msg[word] == ':' &&
		    msg[word + 1] == ' ')
			msg += word + 2;
		return msg;
	}
	str_fmt(code, 8, "%s", def);
	return msg;
}

void ic_finding_format(const struct config_diag *d, bool with_file, char *buf, size_t len)
{
	char code[8], where[1024] = "";
	const char *msg = ic_split_code(d->message, d->error ? "IST0106" : "AMB0000", code);
	bool schema = !strcmp(code, "IST0106") && d->message == msg;

	if (d->object && with_file && d->file)
		str_fmt(where, sizeof(where), "(%s %s:%d) ", d->object, d->file, d->line);
	else if (d->object)
		str_fmt(where, sizeof(where), "(%s) ", d->object);
	else if (d->file)
		str_fmt(where, sizeof(where), "(%s:%d) ", d->file, d->line);
	/* istioctl's messages begin with a capital ("Referenced host not found: ..."). */
	str_fmt(buf, len, "%s [%s] %s%s%s%s%c%s", d->error ? "Error" : "Warning", code, where,
		schema ? "Schema validation error: " : "", d->field && schema ? d->field : "",
		d->field && schema ? ": " : "",
		!schema && msg[0] >= 'a' && msg[0] <= 'z' ? msg[0] - 'a' + 'A' : msg[0],
		msg[0] ? msg + 1 : "");
}
