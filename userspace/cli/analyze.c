// SPDX-License-Identifier: Apache-2.0
/*
 * ambitctl analyze [-f FILE|DIR] [--root-namespace NS]: schema errors and Istio's webhook rules
 * (the loader), then cross-object findings (config_analyze), each as
 * "file:line:col: error|warning: Kind ns/name: field: message". With -f, the running cluster's
 * objects (if one is up) resolve references; without -f, the cluster's own state is analyzed.
 * Exits non-zero when there is any error.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

static int load_quiet(struct config *cfg, const char *path, struct config_diags *diags)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int err = -errno;

		fprintf(stderr, "ambitctl: %s: %s\n", path, strerror(-err));
		return err;
	}
	return S_ISDIR(st.st_mode) ? config_load_dir(cfg, path, diags)
				   : config_load_file(cfg, path, diags);
}

static void usage_analyze(void)
{
	fprintf(stderr, "usage: ambitctl analyze [-f FILE|DIR] [--root-namespace NS]\n");
}

int analyze_run(const char *cluster, const char *const *files, size_t nfiles, const char *root_ns,
		struct config_diags *diags, int *load_errors)
{
	struct config cfg, context;
	struct config_diags ignored = {0};
	struct config_analyze_opts opts = {.root_namespace = root_ns};
	struct ctl_cluster c;
	char state[PATH_MAX];
	bool have_cluster;
	int ret = 0;

	config_init(&cfg);
	config_init(&context);
	have_cluster = cluster && cluster_load(&c, cluster) == 0;
	if (have_cluster)
		cluster_path(&c, state, sizeof(state), "state");
	if (!nfiles && !have_cluster) {
		fprintf(stderr, "ambitctl: no -f and cluster %s is not up: nothing to analyze\n",
			cluster ? cluster : "(none)");
		return -ENOENT;
	}
	if (nfiles && have_cluster) {
		/* Context only: its own problems are not what the user asked about. */
		load_quiet(&context, state, &ignored);
		opts.context = &context;
	}
	for (size_t i = 0; i < (nfiles ? nfiles : 1); i++) {
		size_t before = diags->n;
		int err = load_quiet(&cfg, nfiles ? files[i] : state, diags);

		/* A file over the size cap or unreadable has its own diagnostic, printed as the
		 * rest; one without is the caller's to report. */
		if (err && diags->n == before)
			ret = err;
	}
	for (size_t i = 0; i < diags->n; i++)
		*load_errors += diags->items[i].error;
	if (!ret) {
		ret = config_analyze(&cfg, &opts, diags);
		if (ret)
			fprintf(stderr, "ambitctl: analyze: %s\n", strerror(-ret));
	}
	config_diags_free(&ignored);
	config_free(&cfg);
	config_free(&context);
	return ret;
}

int cmd_analyze(const struct ctl_opts *o, int argc, char **argv)
{
	struct config_diags diags = {0};
	const char *file = NULL, *root_ns = NULL;
	const char *cluster = o->cluster;
	char state[PATH_MAX];
	struct ctl_cluster c;
	int ret, errors = 0, warnings = 0, load_errors = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-f") && i + 1 < argc) {
			file = argv[++i];
		} else if (!strcmp(argv[i], "--root-namespace") && i + 1 < argc) {
			root_ns = argv[++i];
		} else if ((!strcmp(argv[i], "--name") || !strcmp(argv[i], "--cluster")) &&
			   i + 1 < argc) {
			cluster = argv[++i];
		} else {
			usage_analyze();
			return -EINVAL;
		}
	}
	ret = analyze_run(cluster, &file, file ? 1 : 0, root_ns, &diags, &load_errors);
	if (ret)
		goto out;
	for (size_t i = 0; i < diags.n; i++) {
		char line[2048];

		config_diag_format(&diags.items[i], line, sizeof(line));
		printf("%s\n", line);
		if (diags.items[i].error)
			errors++;
		else
			warnings++;
	}
	if (!file && cluster && !cluster_load(&c, cluster))
		cluster_path(&c, state, sizeof(state), "state");
	printf("%s: %d error%s, %d warning%s%s\n", file ? file : state, errors,
	       errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s",
	       load_errors ? " (objects of a file with errors are not cross-checked)" : "");
	ret = errors ? -EINVAL : 0;
out:
	config_diags_free(&diags);
	return ret;
}
