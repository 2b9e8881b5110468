// SPDX-License-Identifier: Apache-2.0
/*
 * istioctl analyze and x precheck: ambit's loader and analyzers (`ambitctl analyze`) with
 * istioctl's lines ("Error [IST0101] (Kind ns/name) message"), its success and failure words on
 * stderr, its namespace scoping (-n, -A) and its exit codes (79 findings, 65 unparsable files).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl.h"
#include "istioctl.h"
#include "k8s/kmanifest.h"

#define ANALYSIS_URL "https://istio.io/latest/docs/reference/config/analysis"

enum level { L_INFO, L_WARNING, L_ERROR };

static int level_of(const char *s, enum level *out)
{
	static const char *const names[] = {"Info", "Warning", "Error"};

	for (int i = 0; i < 3; i++)
		if (!strcasecmp(s, names[i])) {
			*out = (enum level)i;
			return 0;
		}
	return -EINVAL;
}

/* The namespace of "Kind ns/name" (into @buf), or "" for a cluster-scoped object. */
static const char *object_ns(const char *object, char *buf, size_t len)
{
	const char *sp = object ? strchr(object, ' ') : NULL, *slash;

	buf[0] = '\0';
	if (sp && (slash = strchr(sp + 1, '/')))
		str_fmt(buf, len, "%.*s", (int)(slash - sp - 1), sp + 1);
	return buf;
}

/* @line with the file stdin was read into (@tmp) said as istioctl says it: "stdin". */
static void say_stdin(char *line, size_t len, const char *tmp)
{
	char *at = tmp[0] ? strstr(line, tmp) : NULL;
	size_t tl = strlen(tmp);

	if (at && len > tl)
		memmove(at + 5, at + tl, strlen(at + tl) + 1), memcpy(at, "stdin", 5);
}

/* A parse error: no object, no code (the loader could not read the file's YAML). */
static bool unparsable(const struct config_diag *d)
{
	char code[8];

	return d->error && !d->object && ic_split_code(d->message, "", code) == d->message;
}

/* "-" is read from stdin into a file of its own (@tmp), as istioctl reads `analyze -`. */
static int stdin_file(char *tmp, size_t len)
{
	char buf[65536];
	ssize_t n;
	int fd;

	str_fmt(tmp, len, "/tmp/istioctl-stdin-XXXXXX.yaml");
	fd = mkstemps(tmp, 5);
	if (fd < 0)
		return -errno;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n) {
			close(fd);
			return -EIO;
		}
	close(fd);
	return n < 0 ? -errno : 0;
}

int ic_analyze(struct ic *ic)
{
	const char *fmt = ic->val[IC_F_OUTPUT] ? ic->val[IC_F_OUTPUT] : "log";
	const char *files[IC_MAX_REPEAT * 2], *ns = ic_namespace(ic);
	enum level fail_at = L_ERROR, show_at = L_INFO;
	bool all = ic_flag_on(ic, IC_F_ALL_NS),
	     use_kube = !ic->set[IC_F_USE_KUBE] || ic_flag_on(ic, IC_F_USE_KUBE);
	struct config_diags diags = {0};
	struct ctl_cluster c;
	char tmp[64] = "", what[512];
	size_t nfiles = 0, shown = 0;
	int load_errors = 0, parse_errors = 0, failing = 0, ret;
	cJSON *out = NULL;

	if (strcmp(fmt, "log") && strcmp(fmt, "json") && strcmp(fmt, "yaml"))
		return ic_error(IC_EXIT_USAGE, "invalid output format \"%s\": log, json or yaml",
				fmt);
	if ((ic->val[IC_F_FAIL_THRESHOLD] && level_of(ic->val[IC_F_FAIL_THRESHOLD], &fail_at)) ||
	    (ic->val[IC_F_OUT_THRESHOLD] && level_of(ic->val[IC_F_OUT_THRESHOLD], &show_at)))
		return ic_error(IC_EXIT_USAGE, "a threshold is one of Info, Warning, Error");
	for (int i = ic->args; i < ic->npos && nfiles < IC_MAX_REPEAT; i++)
		files[nfiles++] = ic->pos[i];
	for (size_t i = 0; i < ic->n_files && nfiles < IC_MAX_REPEAT * 2; i++)
		files[nfiles++] = ic->files[i];
	for (size_t i = 0; i < nfiles; i++) {
		if (strcmp(files[i], "-"))
			continue;
		if (tmp[0] || stdin_file(tmp, sizeof(tmp)))
			return ic_error(IC_EXIT_USAGE, "-: stdin could not be read (once at most)");
		files[i] = tmp;
	}
	/* The cluster's objects: what is analyzed without files, the context with them. */
	if (use_kube && ic_cluster(ic, &c, false)) {
		if (!nfiles)
			return IC_EXIT_ERROR;
		fprintf(stderr, "(no cluster: references are resolved within the files alone)\n");
		use_kube = false;
	}
	if (!use_kube && !nfiles)
		return ic_error(IC_EXIT_USAGE, "--use-kube=false needs files to analyze");
	ret = analyze_run(use_kube ? c.name : NULL, files, nfiles, NULL, &diags, &load_errors);
	if (tmp[0])
		unlink(tmp);
	if (ret && !diags.n) {
		config_diags_free(&diags);
		return nfiles ? IC_EXIT_DATA : IC_EXIT_ERROR;
	}
	if (strcmp(fmt, "log"))
		out = cJSON_CreateArray();
	for (size_t i = 0; i < diags.n; i++) {
		const struct config_diag *d = &diags.items[i];
		enum level lv = d->error ? L_ERROR : L_WARNING;
		char dns[256], line[2048];

		if (unparsable(d)) {
			char raw[2048];

			config_diag_format(d, raw, sizeof(raw));
			say_stdin(raw, sizeof(raw), tmp);
			fprintf(stderr, "Error: failed to parse %s\n", raw);
			parse_errors++;
			continue;
		}
		/* The cluster: the namespace asked about (cluster-scoped objects too); files: all.
		 */
		if (!nfiles && !all && d->object && object_ns(d->object, dns, sizeof(dns))[0] &&
		    strcmp(dns, ns))
			continue;
		failing += lv >= fail_at;
		if (lv < show_at)
			continue;
		shown++;
		ic_finding_format(d, nfiles > 0, line, sizeof(line));
		say_stdin(line, sizeof(line), tmp);
		if (!out) {
			printf("%s\n", line);
			continue;
		}
		/* -o json|yaml: istioctl's keys. */
		char code[8], url[128], *msg;
		cJSON *o = cJSON_CreateObject();

		/* The line's message, after its "(origin) ": capitalized as istioctl's. */
		ic_split_code(d->message, d->error ? "IST0106" : "AMB0000", code);
		msg = strstr(line, ") ");
		msg = msg ? msg + 2 : line;

		str_fmt(url, sizeof(url), ANALYSIS_URL "/ist%s/?ref=istioctl-analyze", code + 3);
		cJSON_AddStringToObject(o, "code", code);
		cJSON_AddStringToObject(o, "documentationUrl", url);
		cJSON_AddStringToObject(o, "level", d->error ? "Error" : "Warning");
		cJSON_AddStringToObject(o, "message", msg);
		cJSON_AddStringToObject(o, "origin",
					d->object ? d->object
					: d->file ? d->file
						  : "");
		if (d->file) {
			char ref[1024];

			str_fmt(ref, sizeof(ref), "%s:%d", d->file, d->line);
			cJSON_AddStringToObject(o, "reference", ref);
		}
		cJSON_AddItemToArray(out, o);
	}
	config_diags_free(&diags);
	if (out) {
		if (ic_print(out, fmt))
			return IC_EXIT_ERROR;
		/* As istioctl: findings at the threshold fail in every format. */
		return parse_errors ? IC_EXIT_DATA : failing ? IC_EXIT_ANALYZE : 0;
	}
	if (!shown)
		printf("\n"); /* istioctl prints its (empty) list of messages */
	if (nfiles == 1)
		str_fmt(what, sizeof(what), "%s", files[0] == tmp ? "stdin" : files[0]);
	else if (nfiles)
		str_fmt(what, sizeof(what), "%zu files", nfiles);
	else if (all)
		str_fmt(what, sizeof(what), "all namespaces");
	else
		str_fmt(what, sizeof(what), "namespace: %s", ns);
	if (parse_errors) {
		fprintf(stderr, "Error: Some files couldn't be parsed.\n");
		return IC_EXIT_DATA;
	}
	if (failing) {
		fprintf(stderr,
			"Error: Analyzers found issues when analyzing %s.\nSee " ANALYSIS_URL
			" for more information about causes and resolutions.\n",
			what);
		return IC_EXIT_ANALYZE;
	}
	if (!shown)
		fprintf(stderr, "\u2714 No validation issues found when analyzing %s.\n", what);
	return 0;
}

int ic_precheck(struct ic *ic)
{
	struct ctl_cluster c;
	struct config_diags diags = {0};
	const cJSON *node;
	cJSON *status;
	int issues = 0, load_errors = 0, ret = ic_cluster(ic, &c, false);

	if (ret)
		return ret;
	status = local_status_doc(&c);
	if (!status)
		return ic_error(IC_EXIT_ERROR, "out of memory");
	/* What ambit needs of each node: its agent and its ztunnel running and ready. */
	cJSON_ArrayForEach(node, kjson_get(status, "nodes", NULL))
	{
		static const char *const parts[] = {"agent", "ztunnel"};

		for (size_t k = 0; k < 2; k++) {
			const cJSON *p = kjson_get(node, parts[k], NULL);

			if (cJSON_IsTrue(kjson_get(p, "ready", NULL)))
				continue;
			printf(
			    "Error [AMB0001] (Node %s) The node's ambit %s is %s: `ambitctl local "
			    "status` and `ambitctl local logs %s-%s` say why\n",
			    kjson_str(node, "name", NULL), parts[k],
			    cJSON_IsTrue(kjson_get(p, "running", NULL)) ? "not ready"
									: "not running",
			    kjson_str(node, "name", NULL), parts[k]);
			issues++;
		}
	}
	cJSON_Delete(status);
	/* And the configuration it would serve, as `analyze -A` finds it. */
	if (!analyze_run(c.name, NULL, 0, NULL, &diags, &load_errors))
		for (size_t i = 0; i < diags.n; i++) {
			char line[2048];

			if (!diags.items[i].error)
				continue;
			ic_finding_format(&diags.items[i], false, line, sizeof(line));
			printf("%s\n", line);
			issues++;
		}
	config_diags_free(&diags);
	if (issues) {
		fprintf(stderr,
			"Error: Issues found when checking the cluster. Istio may not be safe "
			"to install or upgrade.\nSee " ANALYSIS_URL
			" for more information about causes and resolutions.\n");
		return IC_EXIT_ERROR;
	}
	fprintf(stderr,
		"\u2714 No issues found when checking the cluster. Istio is safe to install "
		"or upgrade!\n  To get started, check out "
		"https://istio.io/latest/docs/setup/getting-started/.\n");
	return 0;
}
