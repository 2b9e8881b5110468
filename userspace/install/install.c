// SPDX-License-Identifier: Apache-2.0
/*
 * ambitctl install | uninstall: ambit on a Kubernetes cluster, as istioctl installs Istio. The
 * manifests are deploy/ambit.yaml.tmpl (built into ambitctl) with the --set keys substituted;
 * `--dry-run` prints them (the committed deploy/ambit.yaml is the rendering with every default).
 * Installing applies each object with the user's kubeconfig (created, or replaced when it
 * exists) and first makes the mesh root once: a Secret only the CA server mounts, and the
 * public root certificate as a ConfigMap the node agents verify the CA server with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <yaml.h>

#include "ambit/ca.h"
#include "ambit/config.h"
#include "ambit/fileutil.h"
#include "tls/crypto.h"
#include "install.h"
#include "k8s/kconn.h"
#include "k8s/kubeapi.h"
#include "k8s/kmanifest.h"
#include "control/wdir.h"

extern const char _binary_deploy_ambit_yaml_tmpl_start[];
extern const char _binary_deploy_ambit_yaml_tmpl_end[];

/* A cluster id: a label value, not empty (Istio's topology.istio.io/cluster). */
static bool cluster_name_ok(const char *v)
{
	return *v && config_label_value_ok(v);
}

#define LABEL_VALUE_CHARS "of [A-Za-z0-9._-], alphanumeric at both ends"

/* The --set keys, their defaults and what a value must be (@ok, when set, says). */
static const struct key {
	const char *name, *def, *what;
	bool (*ok)(const char *v);
} keys[] = {
    {"namespace", "ambit-system", "a DNS label", NULL},
    {"image", "localhost/ambit:latest", "an image reference without spaces or quotes", NULL},
    {"trustDomain", "cluster.local", "a DNS name", NULL},
    {"logLevel", "info", "error, warn, info or debug", NULL},
    {"cgroupRoot", "/sys/fs/cgroup", "an absolute path", NULL},
    {"caSecret", "ambit-ca-root", "a DNS label", NULL},
    {"captureMode", "auto", "auto, host or inpod", NULL},
    {"ingressGateway", "true", "true or false", NULL},
    {"cniConfDir", "/etc/cni/net.d", "an absolute path", NULL},
    {"cniBinDir", "/opt/cni/bin", "an absolute path", NULL},
    /*
     * The cluster and network the node agents are in (their CLUSTER_ID and NETWORK, as Istio's
     * ztunnel takes them); "": none, unless istio-system's topology.istio.io/network names one.
     */
    {"clusterName", "Kubernetes", "a label value (1 to 63 " LABEL_VALUE_CHARS ")", cluster_name_ok},
    {"network", "", "a label value (at most 63 " LABEL_VALUE_CHARS ")", config_label_value_ok},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/*
 * Istio's Helm values for what ambit's keys mean, as istioctl and Helm take them: with or
 * without the "values." of an IstioOperator's spec.
 */
static const struct {
	const char *istio, *key;
} istio_keys[] = {
    {"global.multiCluster.clusterName", "clusterName"},
    {"global.network", "network"},
};

static bool value_ok(size_t k, const char *v)
{
	if (keys[k].ok)
		return keys[k].ok(v);
	switch (k) {
	case 0:
	case 5: return config_dns_label_ok(v);
	case 2: return config_dns_subdomain_ok(v);
	case 3:
		return !strcmp(v, "error") || !strcmp(v, "warn") || !strcmp(v, "info") ||
		       !strcmp(v, "debug");
	case 4:
	case 8:
	case 9: return v[0] == '/' && !strpbrk(v, "\"'\\ \n");
	case 6: return !strcmp(v, "auto") || !strcmp(v, "host") || !strcmp(v, "inpod");
	case 7: return !strcmp(v, "true") || !strcmp(v, "false");
	default: return *v && !strpbrk(v, "\"'\\ \n\t#{}");
	}
}

struct render_opts {
	const char *vals[N_KEYS];
};

/* The key @name (@len bytes) names, ambit's or Istio's (istio_keys): its index, or -1. */
static int key_index(const char *name, size_t len)
{
	const char *ambit = NULL;

	for (size_t i = 0; i < N_KEYS; i++)
		if (strlen(keys[i].name) == len && !strncmp(name, keys[i].name, len))
			return (int)i;
	if (len > 7 && !strncmp(name, "values.", 7)) {
		name += 7;
		len -= 7;
	}
	for (size_t i = 0; i < sizeof(istio_keys) / sizeof(istio_keys[0]); i++)
		if (strlen(istio_keys[i].istio) == len && !strncmp(name, istio_keys[i].istio, len))
			ambit = istio_keys[i].key;
	for (size_t i = 0; ambit && i < N_KEYS; i++)
		if (!strcmp(keys[i].name, ambit))
			return (int)i;
	return -1;
}

/* --set key=value into @ro: 0, or -EINVAL with the reason printed. */
static int set_key(struct render_opts *ro, const char *kv)
{
	const char *eq = strchr(kv, '=');
	int k = eq ? key_index(kv, (size_t)(eq - kv)) : -1;

	if (k >= 0 && !value_ok((size_t)k, eq + 1)) {
		/* Named as the user wrote it (an Istio path too). */
		fprintf(stderr, "ambitctl install: --set %.*s: \"%s\" is not %s\n", (int)(eq - kv),
			kv, eq + 1, keys[k].what);
		return -EINVAL;
	}
	if (k >= 0) {
		ro->vals[k] = eq + 1;
		return 0;
	}
	fprintf(stderr, "ambitctl install: --set %s: want KEY=VALUE, KEY one of:", kv);
	for (size_t i = 0; i < N_KEYS; i++)
		fprintf(stderr, " %s", keys[i].name);
	for (size_t i = 0; i < sizeof(istio_keys) / sizeof(istio_keys[0]); i++)
		fprintf(stderr, " [values.]%s", istio_keys[i].istio);
	fprintf(stderr, "\n");
	return -EINVAL;
}

static const char *val(const struct render_opts *ro, const char *name)
{
	for (size_t k = 0; k < N_KEYS; k++)
		if (!strcmp(keys[k].name, name))
			return ro->vals[k] ? ro->vals[k] : keys[k].def;
	return NULL;
}

static const char *val_cb(void *arg, const char *name)
{
	return val(arg, name);
}

/* Where the ingress gateway's part of the manifests begins (to their end). */
#define INGRESS_MARK "---\n# ---- the ingress gateway"
/* Objects install makes when missing and never changes or deletes (istio-system). */
#define CREATE_ONLY "ambit.io/create-only"

/*
 * The manifests with every {{key}} replaced (malloc'd), or NULL (ENOMEM, or a bad key); without
 * the ingress gateway's part when ingressGateway is false.
 */
static char *render(const struct render_opts *ro)
{
	char *text = kmanifest_render(
	    _binary_deploy_ambit_yaml_tmpl_start,
	    (size_t)(_binary_deploy_ambit_yaml_tmpl_end - _binary_deploy_ambit_yaml_tmpl_start),
	    val_cb, (void *)ro);
	char *mark = text ? strstr(text, INGRESS_MARK) : NULL;

	if (mark && !strcmp(val(ro, "ingressGateway"), "false"))
		*mark = '\0';
	return text;
}

static bool create_only(const cJSON *o)
{
	return kjson_str(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "annotations",
			 CREATE_ONLY) != NULL;
}

/* How long a node's new pod may take to be ready before its old one is left running. */
#define REPLACE_READY_S 300

/* @sel's matchLabels as a labelSelector for a URL ("k%3Dv,k%3Dv") into @out. */
static bool selector_query(const cJSON *sel, char *out, size_t len)
{
	const cJSON *kv;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(sel, "matchLabels"))
	{
		if (!cJSON_IsString(kv) || n >= len)
			return false;
		n += (size_t)snprintf(out + n, len - n, "%s%s%%3D%s", n ? "," : "", kv->string,
				      kv->valuestring);
	}
	return n > 0 && n < len;
}

/* The items of a GET of @path, or NULL. */
static cJSON *list_items(const struct kconn *k, const char *path, cJSON **doc)
{
	char *resp = NULL;
	long code = kube_call(k, "GET", path, NULL, &resp);

	*doc = code == 200 ? cJSON_Parse(resp) : NULL;
	free(resp);
	return cJSON_GetObjectItemCaseSensitive(*doc, "items");
}

/* Whether pod @p's Ready condition is True. */
static bool pod_ready(const cJSON *p)
{
	const cJSON *c, *conds = kjson_get(p, "status", "conditions");

	cJSON_ArrayForEach(c, conds)
	{
		if (!strcmp(kjson_str(c, "type", NULL) ?: "", "Ready"))
			return !strcmp(kjson_str(c, "status", NULL) ?: "", "True");
	}
	return false;
}

/* A ready pod of selector @q in @ns on node @node, or NULL (the name, static). */
static const char *ready_on(const struct kconn *k, const char *ns, const char *q, const char *node)
{
	static char name[256];
	char path[1024];
	const cJSON *p, *items;
	cJSON *doc;
	const char *found = NULL;

	str_fmt(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s", ns, q);
	items = list_items(k, path, &doc); /* once: cJSON_ArrayForEach names it twice */
	cJSON_ArrayForEach(p, items)
	{
		if (!found && !strcmp(kjson_str(p, "spec", "nodeName") ?: "", node) &&
		    pod_ready(p)) {
			str_fmt(name, sizeof(name), "%s", kjson_str(p, "metadata", "name") ?: "");
			found = name;
		}
	}
	cJSON_Delete(doc);
	return found;
}

/*
 * DaemonSet @o over @cur, whose selector it changes: a field the API server keeps as it was
 * made. Replaced as a rolling update with surge would, node by node, so that no node goes
 * unserved: @cur deleted with its pods left running (orphaned), @o created (its controller
 * starts a new pod beside each old one: the new ztunnel takes the old one's listeners, the new
 * agent waits for the old one), then each old pod deleted once its node's new pod is ready. A
 * node whose new pod is not ready within REPLACE_READY_S keeps its old one (said, and an error).
 */
static int replace_daemonset(const struct kconn *k, cJSON *o, const cJSON *cur)
{
	char coll[512], path[1024], oldq[512], newq[512], *resp = NULL;
	const char *name, *ns = kjson_str(o, "metadata", "namespace") ?: "default";
	cJSON *doc = NULL; /* the old pods, listed before the DaemonSet goes */
	const cJSON *p, *olds;
	int ret = 0;
	long code;

	if (kube_paths(o, coll, sizeof(coll), &name) ||
	    !selector_query(kjson_get(cur, "spec", "selector"), oldq, sizeof(oldq)) ||
	    !selector_query(kjson_get(o, "spec", "selector"), newq, sizeof(newq))) {
		fprintf(stderr, "ambitctl install: DaemonSet %s: selectors not made of labels\n",
			name ? name : "?");
		return -EINVAL;
	}
	printf(
	    "DaemonSet/%s: its selector changes (%s -> %s), which the API server does not allow: "
	    "replacing it node by node\n",
	    name, oldq, newq);
	str_fmt(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s", ns, oldq);
	olds = list_items(k, path, &doc);
	str_fmt(path, sizeof(path), "%s/%s", coll, name);
	cJSON *opts = cJSON_Parse("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
				  "\"propagationPolicy\":\"Orphan\"}");
	code = kube_call(k, "DELETE", path, opts, &resp);
	cJSON_Delete(opts);
	free(resp);
	resp = NULL;
	if (code != 200 && code != 202 && code != 404) {
		fprintf(stderr,
			"ambitctl install: DaemonSet %s: deleting it (pods kept): HTTP %ld\n", name,
			code);
		cJSON_Delete(doc);
		return -EIO;
	}
	/* The garbage collector removes the pods' owner reference, then the DaemonSet. */
	for (int i = 0; i < 600; i++) {
		code = kube_call(k, "GET", path, NULL, NULL);
		if (code == 404)
			break;
		usleep(100 * 1000);
	}
	if (code != 404 || (ret = kube_apply(k, o, false))) {
		if (code != 404)
			fprintf(stderr,
				"ambitctl install: DaemonSet %s still there 60 s after its "
				"deletion\n",
				name);
		cJSON_Delete(doc);
		return ret ? ret : -ETIMEDOUT;
	}
	cJSON_ArrayForEach(p, olds)
	{
		const char *pod = kjson_str(p, "metadata", "name") ?: "";
		const char *node = kjson_str(p, "spec", "nodeName") ?: "";
		const char *by = NULL;

		for (int i = 0; node[0] && i < REPLACE_READY_S * 2 && !by; i++)
			if (!(by = ready_on(k, ns, newq, node)))
				usleep(500 * 1000);
		if (node[0] && !by) {
			fprintf(
			    stderr,
			    "ambitctl install: node %s: no new pod ready after %d s; its old pod "
			    "%s keeps serving it (delete it when the new one is ready)\n",
			    node, REPLACE_READY_S, pod);
			ret = -ETIMEDOUT;
			continue;
		}
		str_fmt(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, pod);
		code = kube_call(k, "DELETE", path, NULL, NULL);
		if (code != 200 && code != 202 && code != 404) {
			fprintf(stderr, "ambitctl install: deleting old pod %s: HTTP %ld\n", pod,
				code);
			ret = -EIO;
			continue;
		}
		printf("node %s: pod %s replaced by %s\n", node[0] ? node : "(none)", pod,
		       by ? by : "(none: it was not scheduled)");
	}
	cJSON_Delete(doc);
	return ret;
}

/*
 * @o applied, or, when it is create-only and exists, left as it is; a DaemonSet whose selector
 * changes, replaced (replace_daemonset).
 */
static int apply_doc(const struct kconn *k, cJSON *o)
{
	char coll[512], path[1024], *resp = NULL;
	const char *name;
	long code;

	if (!strcmp(kjson_str(o, "kind", NULL) ?: "", "DaemonSet") &&
	    !kube_paths(o, coll, sizeof(coll), &name)) {
		cJSON *cur;

		str_fmt(path, sizeof(path), "%s/%s", coll, name);
		code = kube_call(k, "GET", path, NULL, &resp);
		cur = code == 200 ? cJSON_Parse(resp) : NULL;
		free(resp);
		resp = NULL;
		if (cur && !cJSON_Compare(kjson_get(cur, "spec", "selector"),
					  kjson_get(o, "spec", "selector"), true)) {
			int ret = replace_daemonset(k, o, cur);

			cJSON_Delete(cur);
			return ret;
		}
		cJSON_Delete(cur);
	}
	if (!create_only(o) || kube_paths(o, coll, sizeof(coll), &name))
		return kube_apply(k, o, false);
	str_fmt(path, sizeof(path), "%s/%s", coll, name);
	code = kube_call(k, "GET", path, NULL, &resp);
	free(resp);
	if (code != 200)
		return kube_apply(k, o, false);
	printf("%s/%s unchanged (kept as it is)\n", kjson_str(o, "kind", NULL), name);
	return 0;
}

/* Every document of @text as JSON objects (an array), or NULL with the reason printed. */
static cJSON *documents(const char *text)
{
	char err[256];
	cJSON *all = kmanifest_documents(text, err, sizeof(err));

	if (!all)
		fprintf(stderr, "ambitctl install: the manifests do not parse: %s\n", err);
	return all;
}

/* ---- applying ---- */

/* A Secret's or ConfigMap's object with @keys → @vals (base64 for a Secret's data). */
static cJSON *data_object(const char *kind, const char *ns, const char *name, const char *const *ks,
			  const char *const *vs, size_t n)
{
	cJSON *o = cJSON_CreateObject(), *md, *data;
	bool secret = !strcmp(kind, "Secret");

	if (!o || !cJSON_AddStringToObject(o, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(o, "kind", kind) ||
	    !(md = cJSON_AddObjectToObject(o, "metadata")) ||
	    !cJSON_AddStringToObject(md, "name", name) ||
	    !cJSON_AddStringToObject(md, "namespace", ns) ||
	    !(data = cJSON_AddObjectToObject(o, "data"))) {
		cJSON_Delete(o);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char *b = secret ? crypto_base64_encode(vs[i], strlen(vs[i])) : NULL;

		if ((secret && !b) || !cJSON_AddStringToObject(data, ks[i], secret ? b : vs[i])) {
			free(b);
			cJSON_Delete(o);
			return NULL;
		}
		free(b);
	}
	return o;
}

/*
 * Istio's plug-in CA, when the cluster has one: Secret istio-system/cacerts, made before the
 * mesh is installed (Istio's multicluster pages). Its four files into @vals (malloc'd; NULL
 * where absent, cert-chain.pem may be), checked as the CA will open them. 0 with @vals[0] NULL
 * when there is no such Secret; -EINVAL (said on stderr) when there is one that cannot sign.
 */
static const char *const cacerts_keys[] = {"ca-cert.pem", "ca-key.pem", "root-cert.pem",
					   "cert-chain.pem"};

static int read_cacerts(const struct kconn *k, char *vals[4])
{
	char *resp = NULL, dir[] = "/tmp/ambitctl-cacerts-XXXXXX", path[600];
	cJSON *cur = NULL;
	struct ambit_ca *ca = NULL;
	long code;
	int ret = 0;

	memset(vals, 0, 4 * sizeof(*vals));
	code = kube_call(k, "GET", "/api/v1/namespaces/istio-system/secrets/cacerts", NULL, &resp);
	if (code == 404)
		goto out;
	if (code != 200 || !(cur = cJSON_Parse(resp))) {
		fprintf(stderr, "ambitctl install: reading Secret istio-system/cacerts: HTTP %ld\n",
			code);
		ret = -EIO;
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		const char *b64 =
		    kjson_str(cJSON_GetObjectItemCaseSensitive(cur, "data"), cacerts_keys[i], NULL);

		if (b64 && crypto_base64_decode(b64, &vals[i]) < 0)
			vals[i] = NULL;
	}
	/* Opened as the CA server will open its Secret: it says why it cannot sign. */
	if (!vals[0] || !vals[1] || !vals[2] || !mkdtemp(dir)) {
		ret = -EINVAL;
	} else {
		for (int i = 0; !ret && i < 4; i++) {
			str_fmt(path, sizeof(path), "%s/%s", dir, cacerts_keys[i]);
			if (vals[i])
				ret = write_file_mode(path, vals[i], i == 1 ? 0600 : 0644);
		}
		if (!ret && !(ca = ca_open(dir)))
			ret = -EINVAL;
		ca_destroy(ca);
		for (int i = 0; i < 4; i++) {
			str_fmt(path, sizeof(path), "%s/%s", dir, cacerts_keys[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	if (ret)
		fprintf(
		    stderr,
		    "ambitctl install: Secret istio-system/cacerts is not a CA the mesh can sign "
		    "with (Istio's ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)\n");
out:
	if (ret || !vals[0])
		for (int i = 0; i < 4; i++) {
			if (vals[i])
				explicit_bzero(vals[i], strlen(vals[i]));
			free(vals[i]);
			vals[i] = NULL;
		}
	cJSON_Delete(cur);
	free(resp);
	return ret;
}

/*
 * The mesh root, made once: if Secret @secret exists its certificate is kept (the ConfigMap is
 * written from it); else Istio's plugged-in CA (istio-system/cacerts) goes into it when the
 * cluster has one, or a new root. The key never touches the disk but to be checked.
 */
static int ensure_root(const struct kconn *k, const char *ns, const char *secret)
{
	static const char *const names[] = {"root-cert.pem", "root-key.pem"};
	char path[512], dir[] = "/tmp/ambitctl-root-XXXXXX", *resp = NULL, *cert = NULL;
	const char *vals[2];
	struct ambit_ca *ca = NULL;
	cJSON *cur = NULL, *o = NULL;
	long code;
	int ret = -EIO;

	str_fmt(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, secret);
	code = kube_call(k, "GET", path, NULL, &resp);
	if (code == 200 && (cur = cJSON_Parse(resp))) {
		const char *b64 =
		    kjson_str(cJSON_GetObjectItemCaseSensitive(cur, "data"), "root-cert.pem", NULL);

		if (b64 && crypto_base64_decode(b64, &cert) < 0)
			cert = NULL;
		if (!cert)
			fprintf(stderr, "ambitctl install: Secret %s/%s has no root-cert.pem\n", ns,
				secret);
	} else if (code == 404) {
		char *plug[4];

		ret = read_cacerts(k, plug);
		if (ret)
			goto out;
		if (plug[0]) {
			const char *pv[4] = {plug[0], plug[1], plug[2],
					     plug[3] ? plug[3] : plug[0]};

			o = data_object("Secret", ns, secret, cacerts_keys, pv, 4);
			ret = o ? kube_apply(k, o, false) : -ENOMEM;
			cert = strdup(plug[2]);
			for (int i = 0; i < 4; i++) {
				if (plug[i])
					explicit_bzero(plug[i], strlen(plug[i]));
				free(plug[i]);
			}
			cJSON_Delete(o);
			o = NULL;
			if (ret || !cert)
				goto out;
			printf("mesh CA: Istio's plugged-in CA (istio-system/cacerts)\n");
			goto root_cm;
		}
		/* A new root: made in a private directory, sent, and the directory wiped. */
		ret = -EIO;
		if (!mkdtemp(dir) || !(ca = ca_open(dir))) {
			fprintf(stderr, "ambitctl install: cannot make the mesh root: %s\n",
				strerror(errno));
			goto out;
		}
		{
			char kp[64], *key;
			size_t n;

			str_fmt(kp, sizeof(kp), "%s/root-key.pem", dir);
			key = read_file(kp, &n);
			vals[0] = ca_root_pem(ca);
			vals[1] = key;
			o = key ? data_object("Secret", ns, secret, names, vals, 2) : NULL;
			ret = o ? kube_apply(k, o, false) : -ENOMEM;
			if (key) {
				explicit_bzero(key, n);
				free(key);
			}
		}
		cert = strdup(ca_root_pem(ca));
		cJSON_Delete(o);
		o = NULL;
		if (ret)
			goto out;
	} else {
		fprintf(stderr, "ambitctl install: reading Secret %s/%s: HTTP %ld\n", ns, secret,
			code);
		goto out;
	}
	if (!cert)
		goto out;
root_cm:
	vals[0] = cert;
	o = data_object("ConfigMap", ns, "ambit-ca-root-cert", names, vals, 1);
	ret = o ? kube_apply(k, o, false) : -ENOMEM;
out:
	if (ca) {
		char cmd[128];

		ca_destroy(ca);
		str_fmt(cmd, sizeof(cmd), "%s/root-key.pem", dir);
		unlink(cmd);
		str_fmt(cmd, sizeof(cmd), "%s/root-cert.pem", dir);
		unlink(cmd);
		str_fmt(cmd, sizeof(cmd), "%s/.lock", dir);
		unlink(cmd);
		rmdir(dir);
	}
	cJSON_Delete(cur);
	cJSON_Delete(o);
	free(resp);
	free(cert);
	return ret;
}

/* Whether @v, underscores aside, is all of a number strtod or strtoll (any base) reads. */
static bool reads_as_number(const char *v)
{
	char buf[128], *end;
	size_t n = 0;

	for (; *v && n + 1 < sizeof(buf); v++)
		if (*v != '_')
			buf[n++] = *v;
	if (*v || !n)
		return *v != '\0'; /* too long to tell: quoted, as the safe side */
	buf[n] = '\0';
	strtoll(buf, &end, 0);
	if (!*end)
		return true;
	strtod(buf, &end);
	return !*end;
}

/* YAML 1.1's sexagesimal numbers (190:20:30, -1:30.5): [-+]digits(:[0-5]?digit)+[.digits]. */
static bool base60(const char *v)
{
	bool colon = false;

	v += *v == '-' || *v == '+';
	if (*v < '0' || *v > '9')
		return false;
	while ((*v >= '0' && *v <= '9') || *v == '_')
		v++;
	while (*v == ':') {
		colon = true;
		v++;
		if (*v < '0' || *v > '9')
			return false;
		v += v[1] >= '0' && v[1] <= '9' ? 2 : 1;
	}
	if (*v == '.')
		for (v++; (*v >= '0' && *v <= '9') || *v == '_'; v++)
			;
	return colon && !*v;
}

/*
 * A string YAML 1.1 would read as something else (true, 80, 1.5, 0x1f, 1:20, .inf, null):
 * quoted, as kubectl's printer quotes it; an address (10.96.0.10) or a version (1.2.3) is
 * plain. What plain style cannot hold at all, libyaml's emitter quotes by itself.
 */
static bool needs_quotes(const char *v)
{
	static const char *const words[] = {"true",  "false", "yes",  "no", "on", "off",
					    "y",     "n",     "null", "~",  "",	  ".inf",
					    "-.inf", "+.inf", ".nan", "<<"};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(v, words[i]))
			return true;
	if (!strchr("0123456789+-.", v[0]))
		return false;
	return reads_as_number(v) || base60(v);
}

static int emit_scalar(yaml_emitter_t *e, const char *v, bool quote)
{
	yaml_event_t ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), !quote, 1,
				     quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
					   : YAML_ANY_SCALAR_STYLE);
	return yaml_emitter_emit(e, &ev) ? 0 : -EIO;
}

/* @v as YAML events (block style): objects, arrays, strings, booleans, numbers. */
static int emit_json(yaml_emitter_t *e, const cJSON *v)
{
	yaml_event_t ev;
	const cJSON *c;
	char num[64];
	int err = 0;

	if (cJSON_IsObject(v)) {
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(e, &ev))
			return -EIO;
		cJSON_ArrayForEach(c, v)
		{
			err = err ?: emit_scalar(e, c->string, needs_quotes(c->string));
			err = err ?: emit_json(e, c);
		}
		yaml_mapping_end_event_initialize(&ev);
	} else if (cJSON_IsArray(v)) {
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(e, &ev))
			return -EIO;
		cJSON_ArrayForEach(c, v) err = err ?: emit_json(e, c);
		yaml_sequence_end_event_initialize(&ev);
	} else if (cJSON_IsString(v)) {
		return emit_scalar(e, v->valuestring, needs_quotes(v->valuestring));
	} else if (cJSON_IsBool(v)) {
		return emit_scalar(e, cJSON_IsTrue(v) ? "true" : "false", false);
	} else if (cJSON_IsNumber(v)) {
		snprintf(num, sizeof(num), "%.17g", v->valuedouble);
		return emit_scalar(e, num, false);
	} else {
		return emit_scalar(e, "null", false);
	}
	if (err)
		return err;
	return yaml_emitter_emit(e, &ev) ? 0 : -EIO;
}

/* Each of @items as a YAML document of its own, on stdout. */
int ctl_print_yaml(const cJSON *items)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	const cJSON *o;
	int err = 0;

	if (!yaml_emitter_initialize(&e))
		return -ENOMEM;
	yaml_emitter_set_output_file(&e, stdout);
	yaml_emitter_set_width(&e, 100);
	yaml_emitter_set_unicode(&e, 1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(&e, &ev))
		err = -EIO;
	cJSON_ArrayForEach(o, items)
	{
		/* One object alone as kubectl prints it (`get -o yaml`): no "---" before it. */
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL,
						     cJSON_GetArraySize(items) == 1);
		if (err || !yaml_emitter_emit(&e, &ev))
			break;
		err = emit_json(&e, o);
		yaml_document_end_event_initialize(&ev, 1);
		if (err || !yaml_emitter_emit(&e, &ev))
			break;
	}
	yaml_stream_end_event_initialize(&ev);
	if (!err && !yaml_emitter_emit(&e, &ev))
		err = -EIO;
	yaml_emitter_delete(&e);
	fflush(stdout);
	return err ? -EIO : 0;
}

/*
 * `ambitctl install crds`: the CustomResourceDefinitions of the Istio kinds ambit reads, for a
 * cluster that has none (one migrating from Istio has Istio's own), generated from the loader's
 * field tables (config_crds_json), printed as YAML (--dry-run; -o json: a List) or applied.
 */
static int install_crds(int argc, char **argv)
{
	const char *kubeconfig = NULL;
	bool dry = false, json = false;
	struct kconn k = {0};
	char *text;
	cJSON *list, *items;
	int ret = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run"))
			dry = true;
		else if (!strcmp(argv[i], "-o") && i + 1 < argc &&
			 (!strcmp(argv[i + 1], "json") || !strcmp(argv[i + 1], "yaml")))
			json = !strcmp(argv[++i], "json");
		else if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc)
			kubeconfig = argv[++i];
		else if (strcmp(argv[i], "-y") && strcmp(argv[i], "--skip-confirmation")) {
			fprintf(stderr, "usage: ambitctl install crds [--dry-run [-o yaml|json]] "
					"[--kubeconfig F]\n");
			return -EINVAL;
		}
	}
	text = config_crds_json();
	if (!text) {
		fprintf(stderr, "ambitctl install crds: out of memory\n");
		return -ENOMEM;
	}
	if (dry && json) {
		puts(text);
		free(text);
		return 0;
	}
	list = cJSON_Parse(text);
	free(text);
	if (!list)
		return -ENOMEM;
	items = cJSON_GetObjectItemCaseSensitive(list, "items");
	if (dry) {
		ret = ctl_print_yaml(items);
		cJSON_Delete(list);
		return ret;
	}
	ret = kube_connect(&k, kubeconfig);
	for (int i = 0; !ret && i < cJSON_GetArraySize(items); i++)
		ret = kube_apply(&k, cJSON_GetArrayItem(items, i), false);
	kconn_free(&k);
	cJSON_Delete(list);
	return ret;
}

/*
 * `uninstall --purge`: the CRDs `install crds` made (labelled part-of ambit), and with them every
 * object of their kinds, as `istioctl uninstall --purge`. CRDs of the same names without the
 * label (Istio's own, on a cluster that came from Istio) are left alone.
 */
static int purge_crds(const struct kconn *k, bool dry)
{
	char *text = config_crds_json(), path[512], *resp = NULL;
	cJSON *list = text ? cJSON_Parse(text) : NULL, *crd;
	int ret = 0;

	free(text);
	if (!list)
		return -ENOMEM;
	cJSON_ArrayForEach(crd, cJSON_GetObjectItemCaseSensitive(list, "items"))
	{
		const char *name = kjson_str(crd, "metadata", "name"), *owner;
		cJSON *cur;
		long code;

		str_fmt(path, sizeof(path),
			"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s", name);
		if (!k) {
			printf("CustomResourceDefinition/%s would be deleted, if ambit's\n", name);
			continue;
		}
		code = kube_call(k, "GET", path, NULL, &resp);
		cur = code == 200 ? cJSON_Parse(resp) : NULL;
		free(resp);
		resp = NULL;
		if (code == 404)
			continue;
		owner = cur ? kjson_str(cJSON_GetObjectItemCaseSensitive(cur, "metadata"), "labels",
					"app.kubernetes.io/part-of")
			    : NULL;
		if (!cur) {
			fprintf(stderr,
				"ambitctl uninstall: CustomResourceDefinition %s: HTTP %ld\n", name,
				code);
			ret = -EIO;
		} else if (!owner || strcmp(owner, "ambit")) {
			printf("CustomResourceDefinition/%s kept: not made by ambit\n", name);
		} else if (dry) {
			printf("CustomResourceDefinition/%s would be deleted\n", name);
		} else {
			code = kube_call(k, "DELETE", path, NULL, &resp);
			free(resp);
			resp = NULL;
			if (code == 200 || code == 202)
				printf("CustomResourceDefinition/%s deleted\n", name);
			else if (code != 404)
				ret = -EIO;
		}
		cJSON_Delete(cur);
	}
	cJSON_Delete(list);
	return ret;
}

/*
 * After the DaemonSet's deletion: its pods' agents remove their node's data path as they exit
 * (they check that the DaemonSet is gone), which needs their RBAC and namespace still there.
 * Waits for the pods to go (their grace period is 45 s), then the rest may be deleted.
 */
static void wait_node_pods(struct kconn *k, const char *ns)
{
	char path[512];
	bool told = false;

	/* app=ztunnel; app=ambit-node before (an install never replaced since). */
	str_fmt(path, sizeof(path),
		"/api/v1/namespaces/%s/pods?labelSelector=app%%20in%%20(ztunnel,ambit-node)", ns);
	for (int i = 0; i < 120; i++) {
		char *resp = NULL;
		long code = kube_call(k, "GET", path, NULL, &resp);
		cJSON *o = code == 200 ? cJSON_Parse(resp) : NULL;
		int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "items"));

		cJSON_Delete(o);
		free(resp);
		if (code != 200 || n == 0)
			return;
		if (!told) {
			printf("waiting for %d node pod(s) to remove their node's data path\n", n);
			fflush(stdout);
		}
		told = true;
		sleep(1);
	}
	fprintf(stderr, "ambitctl uninstall: node pods still terminating after 120 s; going on\n");
}

/*
 * Before an uninstall: the namespaces still in the mesh (istio.io/dataplane-mode=ambient), whose
 * pods talk in plaintext once their nodes' agents have removed the data path, one node after
 * another, while others still demand mTLS (refused, or sent in the clear across the network).
 * Named, and refused without --force: taking them out of the mesh first is the user's choice to
 * make, one namespace at a time (`kubectl label namespace NS istio.io/dataplane-mode-`). 0 when
 * none is (or --force), -EBUSY when some are, -EIO when the API server cannot say.
 */
static int uninstall_check_enrolled(const struct kconn *k, bool force)
{
	cJSON *doc = NULL,
	      *items = list_items(k,
				  "/api/v1/namespaces?labelSelector=" AMBIT_LABEL_DATAPLANE_MODE
				  "%3D" AMBIT_DATAPLANE_AMBIENT,
				  &doc);
	const cJSON *ns;
	int n = cJSON_GetArraySize(items);

	if (!doc) {
		fprintf(stderr,
			"ambitctl uninstall: cannot list the namespaces in the mesh from the "
			"API server (%s)\n",
			k->server);
		return -EIO;
	}
	if (n > 0) {
		fprintf(stderr, "ambitctl uninstall: %d namespace%s still in the mesh (%s=%s):", n,
			n == 1 ? " is" : "s are", AMBIT_LABEL_DATAPLANE_MODE,
			AMBIT_DATAPLANE_AMBIENT);
		cJSON_ArrayForEach(ns, items)
		    fprintf(stderr, " %s", kjson_str(ns, "metadata", "name") ?: "?");
		fprintf(
		    stderr, "\n%s",
		    force ? "ambitctl uninstall: --force: their pods talk in plaintext once "
			    "their nodes' agents are gone\n"
			  : "their pods would talk in plaintext once ambit is gone, and while "
			    "it goes, across nodes that still demand mTLS. Take them out of the "
			    "mesh first (kubectl label namespace NS istio.io/dataplane-mode-), or "
			    "pass --force\n");
	}
	cJSON_Delete(doc);
	return n > 0 && !force ? -EBUSY : 0;
}

int cmd_install(int argc, char **argv, bool uninstall)
{
	return cmd_install_local(argc, argv, uninstall, NULL, NULL);
}

int cmd_install_local(int argc, char **argv, bool uninstall, int (*pods_deleted)(void *arg),
		      void *arg)
{
	struct render_opts ro = {{0}};
	const char *kubeconfig = NULL;
	bool dry = false, purge = false, force = false;
	struct kconn k = {0};
	cJSON *docs;
	char *text;
	int ret = 0, n;

	if (!uninstall && argc && !strcmp(argv[0], "crds"))
		return install_crds(argc - 1, argv + 1);
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run"))
			dry = true;
		else if (!strcmp(argv[i], "-y") || !strcmp(argv[i], "--skip-confirmation"))
			;
		else if (uninstall && !strcmp(argv[i], "--purge"))
			purge = true;
		else if (uninstall && !strcmp(argv[i], "--force"))
			force = true;
		else if (!strcmp(argv[i], "--set") && i + 1 < argc)
			ret = ret ?: set_key(&ro, argv[++i]);
		else if (!strncmp(argv[i], "--set=", 6))
			ret = ret ?: set_key(&ro, argv[i] + 6);
		else if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc)
			kubeconfig = argv[++i];
		else {
			fprintf(
			    stderr,
			    "usage: ambitctl %s [--set KEY=VALUE]... [--dry-run]%s [--kubeconfig "
			    "F]%s\n",
			    uninstall ? "uninstall" : "install",
			    uninstall ? " [--purge] [--force]" : "",
			    uninstall
				? ""
				: "\n       ambitctl install crds [--dry-run] [--kubeconfig F]");
			return -EINVAL;
		}
	}
	if (ret)
		return ret;
	text = render(&ro);
	if (!text) {
		fprintf(stderr, "ambitctl install: cannot render the manifests: %s\n",
			strerror(errno));
		return -EINVAL;
	}
	if (dry && !uninstall) {
		fputs(text, stdout);
		free(text);
		return 0;
	}
	docs = documents(text);
	free(text);
	if (!docs)
		return -EINVAL;
	n = cJSON_GetArraySize(docs);
	if (dry) {
		for (int i = n - 1; i >= 0; i--) {
			const cJSON *o = cJSON_GetArrayItem(docs, i);

			printf("%s/%s %s\n", kjson_str(o, "kind", NULL),
			       kjson_str(o, "metadata", "name"),
			       create_only(o) ? "kept" : "would be deleted");
		}
		cJSON_Delete(docs);
		/* Whether a CRD is ambit's is the API server's to say: ask it when it is there. */
		if (purge) {
			ret = purge_crds(kube_connect(&k, kubeconfig) ? NULL : &k, true);
			kconn_free(&k);
		}
		return ret;
	}
	ret = kube_connect(&k, kubeconfig);
	if (!ret && uninstall)
		ret = uninstall_check_enrolled(&k, force);
	if (!ret && !uninstall) {
		/* The namespace first (the root goes into it), then the root, then the rest. */
		ret = kube_apply(&k, cJSON_GetArrayItem(docs, 0), false);
		ret = ret ?: ensure_root(&k, val(&ro, "namespace"), val(&ro, "caSecret"));
		for (int i = 1; !ret && i < n; i++)
			ret = apply_doc(&k, cJSON_GetArrayItem(docs, i));
		if (!ret)
			printf("ambit installed in namespace %s\n", val(&ro, "namespace"));
	}
	for (int i = n - 1; !ret && uninstall && i >= 0; i--) {
		const cJSON *o = cJSON_GetArrayItem(docs, i);
		char coll[512], path[1024], *resp = NULL;
		const char *name;
		long code;

		if (kube_paths(o, coll, sizeof(coll), &name))
			continue;
		if (create_only(o)) {
			printf("%s/%s kept\n", kjson_str(o, "kind", NULL), name);
			continue;
		}
		if (i == 0) {
			/* The root and its certificate: made by install, not in the manifests. */
			const char *made[] = {"secrets", val(&ro, "caSecret"), "configmaps",
					      "ambit-ca-root-cert"};

			for (int m = 0; m < 4; m += 2) {
				str_fmt(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", name,
					made[m], made[m + 1]);
				code = kube_call(&k, "DELETE", path, NULL, &resp);
				free(resp);
				resp = NULL;
				if (code == 200)
					printf("%s/%s deleted\n", m ? "ConfigMap" : "Secret",
					       made[m + 1]);
			}
			/* The workload directory: written by the CA while it ran (wdir.h). */
			for (unsigned int w = 0, gone = 0; w < WDIR_SHARDS; w++) {
				str_fmt(path, sizeof(path),
					"/api/v1/namespaces/%s/configmaps/" WDIR_PREFIX "%02u",
					name, w);
				code = kube_call(&k, "DELETE", path, NULL, &resp);
				free(resp);
				resp = NULL;
				gone += code == 200;
				if (w == WDIR_SHARDS - 1 && gone)
					printf("ConfigMap/" WDIR_PREFIX "* deleted (%u)\n", gone);
			}
		}
		str_fmt(path, sizeof(path), "%s/%s", coll, name);
		code = kube_call(&k, "DELETE", path, NULL, &resp);
		free(resp);
		if (code == 200 || code == 202)
			printf("%s/%s deleted\n", kjson_str(o, "kind", NULL), name);
		else if (code != 404)
			ret = -EIO;
		if ((code == 200 || code == 202) &&
		    !strcmp(kjson_str(o, "kind", NULL), "DaemonSet")) {
			if (pods_deleted)
				ret = pods_deleted(arg);
			wait_node_pods(&k, kjson_str(o, "metadata", "namespace"));
		}
	}
	if (!ret && uninstall && purge)
		ret = purge_crds(&k, false);
	kconn_free(&k);
	cJSON_Delete(docs);
	return ret;
}
