// SPDX-License-Identifier: Apache-2.0
/*
 * `create-remote-secret` and `remote-clusters`, ambitctl's and istioctl's (userspace/istioctl
 * runs these same functions): Istio's remote secret of the local cluster, and the clusters the
 * nodes' agents read (docs/multicluster.md, "Remote secrets"). What they print is
 * userspace/multicluster's, without I/O; this reads the cluster and asks its agents.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/policy.h"
#include "ctl.h"
#include "getcols.h"
#include "multicluster/multicluster.h"

/* As istioctl's cobra says an error, under either name: scripts grep the same words. */
static void __attribute__((format(printf, 1, 2))) rs_error(const char *fmt, ...)
{
	va_list ap;

	fputs("Error: create-remote-secret: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int remote_secret_print(const struct ctl_opts *o, const char *name, const char *ns)
{
	char server[PATH_MAX + 64];
	struct ctl_cluster c;
	char *yaml = NULL;
	bool by_id = !name;
	int ret = cluster_open(&c, o);

	if (ret)
		return ret;
	/*
	 * The other cluster's agents would need a token of this one's API server that may read
	 * what they watch (Istio's istio-reader-service-account): kubeup.c makes none yet, and a
	 * Secret without one would only fail at the other end.
	 */
	if (c.kube) {
		rs_error("cluster %s runs a Kubernetes API server (--kube); a reader token for it "
			 "is not made yet",
			 c.name);
		return -EOPNOTSUPP;
	}
	if (!ns)
		ns = POLICY_ROOT_NAMESPACE_DEFAULT;
	if (!name)
		name = c.cluster_id;
	/* istioctl's rule: the name is the Secret's name's end and its data's key. */
	if (!config_dns_label_ok(name)) {
		if (!by_id)
			rs_error("%s is not a valid DNS 1123 label", name);
		else
			rs_error("%s is not a valid DNS 1123 label (the cluster's id): say the "
				 "cluster's name in the mesh with --name N%s",
				 name,
				 c.network[0] ? ""
					      : " (`local up --network NET` makes a cluster's name "
						"its id)");
		return -EINVAL;
	}
	if (!config_dns_label_ok(ns)) {
		rs_error("namespace %s: not a valid name", ns);
		return -EINVAL;
	}
	ret = remote_secret_server(&c, server, sizeof(server));
	ret = ret ?: remote_secret_render(name, ns, server, NULL, &yaml);
	if (ret) {
		rs_error("%s", strerror(-ret));
		return ret;
	}
	fputs(yaml, stdout);
	free(yaml);
	return 0;
}

static void usage_remote_secret(FILE *f)
{
	fputs("usage: ambitctl create-remote-secret [--name N] [-n NS] [--cluster C]\n", f);
}

int cmd_create_remote_secret(const struct ctl_opts *o, int argc, char **argv)
{
	const char *name = NULL, *ns = NULL;

	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		bool next = i + 1 < argc;

		if (!strcmp(s, "--name") && next)
			name = argv[++i];
		else if (!strncmp(s, "--name=", 7))
			name = s + 7;
		else if ((!strcmp(s, "-n") || !strcmp(s, "--namespace") || !strcmp(s, "-i") ||
			  !strcmp(s, "--istioNamespace")) &&
			 next)
			ns = argv[++i];
		else if (!strncmp(s, "--namespace=", 12) || !strncmp(s, "--istioNamespace=", 17))
			ns = strchr(s, '=') + 1;
		else if (!strcmp(s, "--cluster") && next)
			i++; /* resolved by main */
		else {
			fprintf(stderr, "ambitctl: create-remote-secret: unknown option %s\n", s);
			usage_remote_secret(stderr);
			return -EINVAL;
		}
	}
	return remote_secret_print(o, name, ns);
}

cJSON *remote_clusters_doc(const struct ctl_opts *o)
{
	struct remote_view v[CTL_MAX_NODES];
	cJSON *st[CTL_MAX_NODES] = {0}, *rows = NULL;
	struct ctl_cluster c;
	size_t n = 0, answered = 0;

	if (cluster_open(&c, o))
		return NULL;
	for (int i = 0; i < c.nnodes; i++) {
		const struct ctl_node *nd = &c.nodes[i];

		if (o->node && strcmp(o->node, nd->name))
			continue;
		/* Told on stderr when it does not answer; the others' views still count. */
		st[n] = agentq_get(nd, "status");
		v[n] = (struct remote_view){nd->name, st[n]};
		if (st[n])
			answered++;
		if (st[n] && !cJSON_GetObjectItemCaseSensitive(st[n], "remoteClusters"))
			fprintf(stderr, "ambitctl: %s agent: its build predates remote clusters\n",
				nd->name);
		n++;
	}
	if (!answered)
		fprintf(stderr,
			"ambitctl: no agent of cluster %s answers: they read the remote "
			"clusters\n",
			c.name);
	else if (!(rows = remote_clusters_merge(c.cluster_id, v, n)))
		fprintf(stderr, "ambitctl: remote-clusters: %s\n", strerror(ENOMEM));
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(st[i]);
	return rows;
}

/* @rows as istioctl's table (NAME SECRET STATUS ISTIOD), as `get` lays its tables out. */
static int print_table(const cJSON *rows)
{
	static const char *const head[] = {"NAME", "SECRET", "STATUS", "ISTIOD"};
	struct get_table t;
	const cJSON *r;
	int ret;

	get_table_init(&t, 4);
	ret = get_table_add(&t, head);
	cJSON_ArrayForEach(r, rows)
	{
		const char *cells[4];
		static const char *const keys[] = {"name", "secret", "status", "istiod"};

		for (size_t i = 0; i < 4; i++)
			cells[i] =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, keys[i]));
		ret = ret ?: get_table_add(&t, cells);
	}
	if (!ret)
		get_table_print(&t, stdout);
	get_table_free(&t);
	return ret;
}

int cmd_remote_clusters(const struct ctl_opts *o)
{
	cJSON *rows = remote_clusters_doc(o);
	const cJSON *r;
	char *text;
	int ret;

	if (!rows)
		return -EIO;
	/* The table has istioctl's four columns; why a cluster failed is said beside it. */
	cJSON_ArrayForEach(r, rows)
	{
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(r, "error");

		if (!o->json && cJSON_IsString(err))
			fprintf(stderr, "ambitctl: remote cluster %s: %s\n",
				cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name")),
				err->valuestring);
	}
	if (o->json) {
		text = cJSON_Print(rows);
		ret = text ? 0 : -ENOMEM;
		if (text)
			printf("%s\n", text);
		free(text);
	} else {
		ret = print_table(rows);
	}
	cJSON_Delete(rows);
	return ret;
}
