// SPDX-License-Identifier: Apache-2.0
/*
 * `create-remote-secret` and `remote-clusters`, ambitctl's and istioctl's (userspace/istioctl
 * runs these same functions): Istio's remote secret of the local cluster, and the clusters the
 * nodes' agents read (docs/multicluster.md, "Remote secrets"). What they print is
 * userspace/multicluster's, without I/O; this reads the cluster, asks a --kube cluster's API
 * server for a reader token, and asks the agents.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/policy.h"
#include "ctl.h"
#include "getcols.h"
#include "k8s/kconn.h"
#include "k8s/kmanifest.h"
#include "k8s/kubeapi.h"
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

/* What a refusal of the API server says: its Status's message, else the body as it came. */
static const char *status_message(const char *resp)
{
	static char msg[512];
	cJSON *st = resp ? cJSON_Parse(resp) : NULL;
	const char *m = kjson_str(st, "message", NULL);

	snprintf(msg, sizeof(msg), "%s", m ? m : resp ? resp : "");
	cJSON_Delete(st);
	return msg;
}

/*
 * A token of Istio's reader service account (REMOTE_READER_NS/REMOTE_READER_SA, which `ambitctl
 * install` makes) of --kube cluster @c, into *@token (malloc'd, the caller's): asked of its API
 * server with the admin's kubeconfig (kube/kubeconfig, on the host's loopback) by the
 * TokenRequest API, as `kubectl create token` asks, for REMOTE_READER_TOKEN_SECONDS. What it
 * may read is what the account's ClusterRole grants, nothing here. 0 or -errno, told.
 */
static int reader_token(const struct ctl_cluster *c, char **token)
{
	static const char sa_path[] =
	    "/api/v1/namespaces/" REMOTE_READER_NS "/serviceaccounts/" REMOTE_READER_SA;
	char path[PATH_MAX], why[512];
	cJSON *req = cJSON_CreateObject(), *spec, *doc = NULL;
	struct kconn k = {0};
	const char *tok;
	char *resp = NULL;
	long code;
	int ret = -ENOMEM;

	*token = NULL;
	cluster_path(c, path, sizeof(path), "kube/kubeconfig");
	if (!req || !cJSON_AddStringToObject(req, "apiVersion", "authentication.k8s.io/v1") ||
	    !cJSON_AddStringToObject(req, "kind", "TokenRequest") ||
	    !(spec = cJSON_AddObjectToObject(req, "spec")) ||
	    !cJSON_AddNumberToObject(spec, "expirationSeconds", REMOTE_READER_TOKEN_SECONDS)) {
		rs_error("%s", strerror(ENOMEM));
		goto out_req;
	}
	if (kconn_kubeconfig(&k, path, NULL, why, sizeof(why))) {
		rs_error("cluster %s: %s", c->name, why);
		ret = -EINVAL;
		goto out_req;
	}
	/* Asked first, as istioctl does: a missing account means ambit is not installed there. */
	code = kube_call(&k, "GET", sa_path, NULL, &resp);
	ret = -EIO;
	if (!code) {
		rs_error("cluster %s: its API server (%s) does not answer", c->name, k.server);
		goto out;
	}
	if (code == 404) {
		rs_error("cluster %s has no ServiceAccount %s/%s: ambit is not installed there "
			 "(ambitctl install makes it)",
			 c->name, REMOTE_READER_NS, REMOTE_READER_SA);
		ret = -ENOENT;
		goto out;
	}
	if (code != 200) {
		rs_error("cluster %s: ServiceAccount %s/%s: HTTP %ld: %s", c->name,
			 REMOTE_READER_NS, REMOTE_READER_SA, code, status_message(resp));
		goto out;
	}
	free(resp);
	resp = NULL;
	str_fmt(path, sizeof(path), "%s/token", sa_path);
	code = kube_call(&k, "POST", path, req, &resp);
	if (code != 201 && code != 200) {
		rs_error("cluster %s refused a token for ServiceAccount %s/%s: HTTP %ld: %s",
			 c->name, REMOTE_READER_NS, REMOTE_READER_SA, code,
			 code ? status_message(resp) : "no answer");
		goto out;
	}
	doc = cJSON_Parse(resp);
	tok = kjson_str(doc, "status", "token");
	if (!tok || !*tok) {
		rs_error("cluster %s: its API server's TokenRequest holds no token", c->name);
		goto out;
	}
	*token = strdup(tok);
	ret = *token ? 0 : -ENOMEM;
	if (ret)
		rs_error("%s", strerror(ENOMEM));
out:
	cJSON_Delete(doc);
	free(resp);
	kconn_free(&k);
out_req:
	cJSON_Delete(req);
	return ret;
}

int remote_secret_print(const struct ctl_opts *o, const char *name, const char *ns)
{
	char server[PATH_MAX + 64], path[PATH_MAX];
	char *yaml = NULL, *ca = NULL, *token = NULL;
	struct ctl_cluster c;
	bool by_id = !name;
	int ret = cluster_open(&c, o);

	if (ret)
		return ret;
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
	/*
	 * --kube: its API server where the other cluster's agents reach it, the LoadBalancer
	 * network (kubeup.c listens there), its CA and a reader token, as istioctl's Secret.
	 */
	if (ret == -ENOENT) {
		rs_error("cluster %s has no place on the LoadBalancer network, where another "
			 "cluster would reach its API server",
			 c.name);
		return ret;
	}
	if (!ret && c.kube) {
		cluster_path(&c, path, sizeof(path), "kube/ca.crt");
		ca = read_file(path, NULL);
		if (!ca) {
			ret = -errno;
			rs_error("%s: %s", path, strerror(-ret));
			return ret;
		}
		ret = reader_token(&c, &token);
		if (ret) {
			free(ca);
			return ret;
		}
	}
	ret = ret ?: remote_secret_render(name, ns, server, ca, token, &yaml);
	free(ca);
	free(token);
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
