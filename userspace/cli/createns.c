// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl create namespace|ns NAME [-o yaml]`, as kubectl's: a Namespace object applied as
 * `apply` applies one (the store, the running cluster, in --kube the API server), refused as the
 * API server refuses it when the namespace exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "local/objstore.h"

static void usage_create_ns(void)
{
	fprintf(stderr, "usage: ambitctl create namespace NAME [--dry-run] [-o yaml]\n");
}

/* Whether the store of the cluster @o names holds Namespace @name. */
static int namespace_exists(const struct ctl_opts *o, const char *name, bool *exists)
{
	struct config_diags diags = {0};
	struct store_objs objs = {0};
	struct ctl_cluster c;
	char state[PATH_MAX];
	int ret = cluster_open(&c, o);

	*exists = false;
	if (ret)
		return ret;
	cluster_path(&c, state, sizeof(state), "state");
	ret = store_load(state, &objs, &diags);
	for (size_t i = 0; !ret && i < objs.n; i++)
		*exists |= (!strcmp(objs.items[i].kind, "Namespace") && !*objs.items[i].group &&
			    !strcmp(objs.items[i].name, name)) ||
			   (objs.items[i].namespace && !strcmp(objs.items[i].namespace, name));
	/* As `get namespace` has it: default always, and every namespace objects are in. */
	*exists |= !strcmp(name, "default");
	store_objs_free(&objs);
	config_diags_free(&diags);
	return ret;
}

int cmd_create_namespace(const struct ctl_opts *o, int argc, char **argv)
{
	const char *name = NULL;
	char *pass[8], m[400];
	bool yaml = false, exists;
	int npass = 0, ret;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc && !strcmp(argv[i + 1], "yaml")) {
			yaml = true;
			i++;
		} else if (!strcmp(argv[i], "-oyaml")) {
			yaml = true;
		} else if (argv[i][0] == '-' && npass < 8) {
			pass[npass++] = argv[i]; /* apply's: --dry-run, --wait=false, ... */
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			usage_create_ns();
			return -EINVAL;
		}
	}
	if (!name) {
		fprintf(stderr, "error: exactly one NAME is required, got 0\n");
		return -EINVAL;
	}
	if (str_fmt(m, sizeof(m), "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name))
		return -ENAMETOOLONG;
	if (yaml) {
		fputs(m, stdout);
		return 0;
	}
	ret = namespace_exists(o, name, &exists);
	if (ret)
		return ret;
	if (exists) {
		fprintf(stderr,
			"Error from server (AlreadyExists): namespaces \"%s\" already exists\n",
			name);
		return -EEXIST;
	}
	return apply_manifest(o, "create namespace", m, npass, pass, false);
}
