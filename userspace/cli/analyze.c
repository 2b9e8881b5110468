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

int cmd_analyze(const struct ctl_opts *o, int argc, char **argv)
{
	struct config cfg, context;
	struct config_diags diags = {0}, ignored = {0};
	struct config_analyze_opts opts = {0};
	struct ctl_cluster c;
	const char *file = NULL;
	char state[PATH_MAX];
	const char *cluster = o->cluster;
	bool have_cluster;
	int ret, errors = 0, warnings = 0, load_errors = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-f") && i + 1 < argc) {
			file = argv[++i];
		} else if (!strcmp(argv[i], "--root-namespace") && i + 1 < argc) {
			opts.root_namespace = argv[++i];
		} else if ((!strcmp(argv[i], "--name") || !strcmp(argv[i], "--cluster")) &&
			   i + 1 < argc) {
			cluster = argv[++i];
		} else {
			usage_analyze();
			return -EINVAL;
		}
	}
	config_init(&cfg);
	config_init(&context);
	have_cluster = cluster && cluster_load(&c, cluster) == 0;
	if (have_cluster)
		cluster_path(&c, state, sizeof(state), "state");
	if (!file && !have_cluster) {
		fprintf(stderr, "ambitctl: no -f and cluster %s is not up: nothing to analyze\n",
			cluster);
		return -ENOENT;
	}
	if (file && have_cluster) {
		/* Context only: its own problems are not what the user asked about. */
		load_quiet(&context, state, &ignored);
		opts.context = &context;
	}
	ret = load_quiet(&cfg, file ? file : state, &diags);
	/* A file over the size cap or unreadable has its own diagnostic: print it like the rest. */
	if (ret && !diags.n)
		goto out;
	for (size_t i = 0; i < diags.n; i++)
		load_errors += diags.items[i].error;
	ret = config_analyze(&cfg, &opts, &diags);
	if (ret) {
		fprintf(stderr, "ambitctl: analyze: %s\n", strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < diags.n; i++) {
		char line[2048];

		config_diag_format(&diags.items[i], line, sizeof(line));
		printf("%s\n", line);
		if (diags.items[i].error)
			errors++;
		else
			warnings++;
	}
	printf("%s: %d error%s, %d warning%s%s\n", file ? file : state, errors,
	       errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s",
	       load_errors ? " (objects of a file with errors are not cross-checked)" : "");
	ret = errors ? -EINVAL : 0;
out:
	config_diags_free(&diags);
	config_diags_free(&ignored);
	config_free(&cfg);
	config_free(&context);
	return ret;
}
