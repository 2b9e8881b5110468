// SPDX-License-Identifier: Apache-2.0
/* ambitctl: operate a local cluster and inspect the mesh of its nodes. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "ctl.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ambitctl COMMAND [options]\n"
		"local cluster (--name C, default $AMBIT_CLUSTER, else the one cluster up, else "
		"ambit):\n"
		"  local up -f DIR [--nodes 2]     build the cluster from manifests in DIR\n"
		"  local down                      remove everything the cluster made\n"
		"  local exec POD -- CMD...        run CMD in a pod (captured like the pod)\n"
		"  local logs POD|nodeN-agent|nodeN-ztunnel [-f]\n"
		"  local stop|start agent|ztunnel [--node N]\n"
		"  local status\n"
		"config:\n"
		"  apply -f FILE|DIR [-n NS] [--dry-run] [--wait=false]   object by object, as "
		"kubectl\n"
		"  delete -f FILE|DIR [-n NS] [--dry-run]\n"
		"  analyze [-f FILE|DIR] [--root-namespace NS]   schema, Istio rules, references\n"
		"  label namespace NS key=value|key- ...\n"
		"inspection ([--node N] [-o json]):\n"
		"  workloads, services, certs, connections, maps, metrics, policies\n"
		"  check SRC DST:PORT              which policy decides SRC -> DST and why\n"
		"                                  (SRC, DST: ns/pod, pod or IP)\n");
}

struct args {
	struct ctl_opts o;
	const char *file;
	int nodes;
	int npos;
	char *pos[16];
	char **rest; /* after "--" */
};

/* @file_is_path: -f takes a value (up/apply/delete) instead of meaning --follow (logs). */
static int parse(int argc, char **argv, int start, bool file_is_path, struct args *a)
{
	for (int i = start; i < argc; i++) {
		const char *s = argv[i];
		bool has_next = i + 1 < argc;

		if (!strcmp(s, "--")) {
			a->rest = &argv[i + 1];
			return 0;
		} else if (!strcmp(s, "--name") && has_next) {
			a->o.cluster = argv[++i];
		} else if (!strcmp(s, "--node") && has_next) {
			a->o.node = argv[++i];
		} else if (!strcmp(s, "--nodes") && has_next) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > CTL_MAX_NODES) {
				fprintf(stderr, "ambitctl: --nodes: 1..%d\n", CTL_MAX_NODES);
				return -EINVAL;
			}
			a->nodes = (int)n;
		} else if (!strcmp(s, "-o") && has_next) {
			const char *v = argv[++i];
			if (strcmp(v, "json") && strcmp(v, "wide") && strcmp(v, "table")) {
				fprintf(stderr, "ambitctl: -o json|table\n");
				return -EINVAL;
			}
			a->o.json = !strcmp(v, "json");
		} else if (!strcmp(s, "-f") && file_is_path && has_next) {
			a->file = argv[++i];
		} else if ((!strcmp(s, "-f") && !file_is_path) || !strcmp(s, "--follow")) {
			a->o.follow = true;
		} else if (s[0] == '-' && s[1]) {
			fprintf(stderr, "ambitctl: unknown or incomplete option %s\n", s);
			return -EINVAL;
		} else if (a->npos < 16) {
			a->pos[a->npos++] = argv[i];
		} else {
			fprintf(stderr, "ambitctl: too many arguments\n");
			return -EINVAL;
		}
	}
	return 0;
}

static int need(bool ok, const char *what)
{
	if (!ok)
		fprintf(stderr, "ambitctl: %s\n", what);
	return ok ? 0 : -EINVAL;
}

static int run_local(int argc, char **argv, struct args *a)
{
	const char *sub = argc > 2 ? argv[2] : "";
	int ret = parse(argc, argv, 3, !strcmp(sub, "up"), a);

	if (ret)
		return ret;
	if (!strcmp(sub, "up")) {
		ret = need(a->file && !a->npos, "usage: ambitctl local up -f DIR [--nodes N]");
		return ret ? ret : local_up(&a->o, a->file, a->nodes);
	}
	if (!strcmp(sub, "down"))
		return local_down(a->o.cluster, false);
	if (!strcmp(sub, "exec")) {
		ret = need(a->npos == 1 && a->rest && a->rest[0],
			   "usage: ambitctl local exec POD -- CMD...");
		return ret ? ret : local_exec(&a->o, a->pos[0], a->rest);
	}
	if (!strcmp(sub, "logs")) {
		ret =
		    need(a->npos == 1, "usage: ambitctl local logs POD|nodeN-agent|nodeN-ztunnel");
		return ret ? ret : local_logs(&a->o, a->pos[0]);
	}
	if (!strcmp(sub, "stop") || !strcmp(sub, "start")) {
		ret = need(a->npos == 1, "usage: ambitctl local stop|start agent|ztunnel --node N");
		return ret ? ret : local_component(&a->o, !strcmp(sub, "start"), a->pos[0]);
	}
	if (!strcmp(sub, "status"))
		return local_status(&a->o);
	usage(stderr);
	return -EINVAL;
}

/*
 * Without --name or $AMBIT_CLUSTER, commands other than `local up` address the one cluster that
 * is up (e.g. "demo" while `make demo` runs); with none or several, the default name "ambit".
 */
static const char *only_running_cluster(void)
{
	static char name[NAME_MAX + 1];
	char path[PATH_MAX];
	struct dirent *e;
	int found = 0;
	DIR *d = opendir(CTL_RUN_BASE);

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		str_fmt(path, sizeof(path), "%s/%s/cluster.json", CTL_RUN_BASE, e->d_name);
		if (access(path, F_OK))
			continue;
		if (found++ == 0)
			str_fmt(name, sizeof(name), "%s", e->d_name);
	}
	closedir(d);
	return found == 1 ? name : NULL;
}

static int run(int argc, char **argv)
{
	struct args a = {.o = {.cluster = "ambit"}, .nodes = 2};
	const char *cmd = argv[1];
	const char *env = getenv("AMBIT_CLUSTER");
	int ret;

	if (env && *env)
		a.o.cluster = env;
	else if (!(argc > 2 && !strcmp(cmd, "local") && !strcmp(argv[2], "up")) &&
		 only_running_cluster())
		a.o.cluster = only_running_cluster();
	if (!strcmp(cmd, "local"))
		return run_local(argc, argv, &a);
	if (!strcmp(cmd, "apply") || !strcmp(cmd, "delete"))
		return cmd_apply(&a.o, argc - 2, argv + 2, !strcmp(cmd, "delete"));
	if (!strcmp(cmd, "analyze"))
		return cmd_analyze(&a.o, argc - 2, argv + 2);
	if (!strcmp(cmd, "label")) {
		ret = parse(argc, argv, 2, false, &a);
		if (!ret)
			ret = need(a.npos >= 3 && !strcmp(a.pos[0], "namespace"),
				   "usage: ambitctl label namespace NS key=value|key- ...");
		return ret ? ret : cmd_label_namespace(&a.o, a.pos[1], &a.pos[2], a.npos - 2);
	}
	if (!strcmp(cmd, "check")) {
		ret = parse(argc, argv, 2, false, &a);
		if (!ret)
			ret = need(a.npos == 2, "usage: ambitctl check SRC DST:PORT");
		return ret ? ret : cmd_check(&a.o, a.pos[0], a.pos[1]);
	}
	static const struct {
		const char *name;
		int (*fn)(const struct ctl_opts *);
	} inspect[] = {
	    {"workloads", cmd_workloads},     {"services", cmd_services}, {"certs", cmd_certs},
	    {"connections", cmd_connections}, {"maps", cmd_maps},	  {"metrics", cmd_metrics},
	    {"policies", cmd_policies},
	};
	for (size_t i = 0; i < sizeof(inspect) / sizeof(inspect[0]); i++) {
		if (strcmp(cmd, inspect[i].name))
			continue;
		ret = parse(argc, argv, 2, false, &a);
		if (!ret)
			ret = need(!a.npos, "inspection commands take no arguments");
		return ret ? ret : inspect[i].fn(&a.o);
	}
	usage(stderr);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	log_init("ambitctl", LOG_LEVEL_WARN);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	return run(argc, argv) ? 1 : 0;
}
