// SPDX-License-Identifier: Apache-2.0
/* The Kubernetes API's address and credentials (kconn.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <yaml.h>

#include "ambit/fileutil.h"
#include "tls/crypto.h"
#include "kconn.h"

/* The whole of file @path (NUL-terminated) into *@out, trailing newlines cut when @trim. */
static int slurp(const char *path, char **out, bool trim)
{
	size_t n = 0;
	int err = fileutil_read_file(path, 1u << 20, out, &n);

	if (err)
		return err;
	while (trim && n && ((*out)[n - 1] == '\n' || (*out)[n - 1] == '\r'))
		(*out)[--n] = '\0';
	return 0;
}

int kconn_copy(struct kconn *d, const struct kconn *s)
{
	memset(d, 0, sizeof(*d));
#define DUP(f)                                                                                     \
	do {                                                                                       \
		if (s->f && !(d->f = strdup(s->f))) {                                              \
			kconn_free(d);                                                             \
			return -ENOMEM;                                                            \
		}                                                                                  \
	} while (0)
	DUP(server);
	DUP(ca_pem);
	DUP(token);
	DUP(token_file);
	DUP(cert_pem);
	DUP(key_pem);
	DUP(namespace);
#undef DUP
	d->insecure = s->insecure;
	memcpy(d->source, s->source, sizeof(d->source));
	return 0;
}

int kconn_keep_alive(struct kconn *c)
{
	if (!c->handle)
		c->handle = curl_easy_init();
	return c->handle ? 0 : -ENOMEM;
}

const char *kconn_namespace(const struct kconn *c)
{
	return c->namespace && *c->namespace ? c->namespace : KCONN_MESH_NAMESPACE;
}

void kconn_free(struct kconn *c)
{
	if (c->handle)
		curl_easy_cleanup(c->handle);
	free(c->server);
	free(c->ca_pem);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	free(c->token_file);
	free(c->cert_pem);
	if (c->key_pem)
		explicit_bzero(c->key_pem, strlen(c->key_pem));
	free(c->key_pem);
	free(c->namespace);
	memset(c, 0, sizeof(*c));
}

int kconn_refresh_token(struct kconn *c)
{
	char *t = NULL;
	int err;

	if (!c->token_file)
		return 0;
	err = slurp(c->token_file, &t, true);
	if (err)
		return err;
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	c->token = t;
	return 0;
}

int kconn_in_cluster(struct kconn *c, const char *sa_dir, char *why, size_t len)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"),
		   *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[512];
	int err;

	memset(c, 0, sizeof(*c));
	snprintf(c->source, sizeof(c->source), "in-cluster");
	if (!host || !*host || !port || !*port) {
		snprintf(why, len,
			 "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
			 "are not set (not in a pod? give --kubeconfig)");
		return -ENOENT;
	}
	/* An IPv6 address goes in brackets, as client-go writes it. */
	if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		     port) < 0) {
		c->server = NULL;
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	c->token_file = strdup(path);
	if (!c->token_file)
		return -ENOMEM;
	err = kconn_refresh_token(c);
	if (err) {
		snprintf(why, len, "in-cluster: %s: %s", path, strerror(-err));
		kconn_free(c);
		return err;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	err = slurp(path, &c->ca_pem, false);
	if (err) {
		snprintf(why, len, "in-cluster: %s: %s", path, strerror(-err));
		kconn_free(c);
		return err;
	}
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	if (slurp(path, &c->namespace, true))
		c->namespace = NULL; /* optional */
	return 0;
}

/* ---- kubeconfig ---- */

struct kdoc {
	yaml_document_t doc;
	const char *path;
	char dir[512]; /* for relative paths */
	char *why;
	size_t len;
};

static yaml_node_t *node(struct kdoc *d, int i)
{
	return i ? yaml_document_get_node(&d->doc, i) : NULL;
}

/* Mapping @m's value for @key, or NULL. */
static yaml_node_t *get(struct kdoc *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(d, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The entry of sequence @list (clusters, users, contexts) named @name: its @inner mapping. */
static yaml_node_t *named(struct kdoc *d, const char *list, const char *inner, const char *name)
{
	yaml_node_t *seq = get(d, yaml_document_get_root_node(&d->doc), list);

	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
	     i++) {
		yaml_node_t *e = node(d, *i);
		const char *n = scalar(get(d, e, "name"));

		if (n && !strcmp(n, name))
			return get(d, e, inner);
	}
	return NULL;
}

/*
 * PEM from field @data (base64) or file field @file of @m into *@out; neither: 0 and NULL.
 * Errors name the field.
 */
static int pem_field(struct kdoc *d, yaml_node_t *m, const char *where, const char *data,
		     const char *file, char **out)
{
	const char *b64 = scalar(get(d, m, data)), *f = scalar(get(d, m, file));
	char path[1024];
	int err;

	*out = NULL;
	if (b64) {
		err = crypto_base64_decode(b64, out);
		if (err < 0) {
			snprintf(d->why, d->len, "%s: %s.%s: not base64", d->path, where, data);
			return -EINVAL;
		}
		return 0;
	}
	if (!f)
		return 0;
	snprintf(path, sizeof(path), "%s%s", f[0] == '/' ? "" : d->dir, f);
	err = slurp(path, out, false);
	if (err)
		snprintf(d->why, d->len, "%s: %s.%s: %s: %s", d->path, where, file, path,
			 strerror(-err));
	return err;
}

/*
 * Kubeconfig @text (@tlen bytes; @path names it in messages, and its directory resolves relative
 * file fields when @files) into @c. Without @files, a field naming a file is refused: a remote
 * secret's kubeconfig names no file of this machine.
 */
static int kubeconfig_parse(struct kconn *c, const char *path, const char *text, size_t tlen,
			    const char *context, bool files, char *why, size_t len)
{
	struct kdoc d = {.path = path, .why = why, .len = len};
	yaml_parser_t p;
	yaml_node_t *ctx, *cluster, *user;
	const char *cl_name, *user_name, *server, *v, *slash = files ? strrchr(path, '/') : NULL;
	int err = -EINVAL;

	memset(c, 0, sizeof(*c));
	snprintf(d.dir, sizeof(d.dir), "%.*s", slash ? (int)(slash - path + 1) : 0, path);
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, tlen);
	if (!yaml_parser_load(&p, &d.doc)) {
		snprintf(why, len, "%s:%zu: not YAML: %s", path, p.problem_mark.line + 1,
			 p.problem ? p.problem : "parse error");
		yaml_parser_delete(&p);
		return -EINVAL;
	}
	yaml_parser_delete(&p);
	if (!context)
		context = scalar(get(&d, yaml_document_get_root_node(&d.doc), "current-context"));
	if (!context || !*context) {
		snprintf(why, len, "%s: no current-context (name one with --kube-context)", path);
		goto out;
	}
	snprintf(c->source, sizeof(c->source), "%.200s context %.80s", path, context);
	ctx = named(&d, "contexts", "context", context);
	cl_name = scalar(get(&d, ctx, "cluster"));
	user_name = scalar(get(&d, ctx, "user"));
	if (!ctx || !cl_name) {
		snprintf(why, len, "%s: context \"%s\": not found, or without a cluster", path,
			 context);
		goto out;
	}
	cluster = named(&d, "clusters", "cluster", cl_name);
	server = scalar(get(&d, cluster, "server"));
	if (!server || strncmp(server, "http", 4)) {
		snprintf(why, len, "%s: cluster \"%s\": no server URL", path, cl_name);
		goto out;
	}
	user = user_name ? named(&d, "users", "user", user_name) : NULL;
	if (!files && (scalar(get(&d, cluster, "certificate-authority")) ||
		       scalar(get(&d, user, "client-certificate")) ||
		       scalar(get(&d, user, "client-key")) || scalar(get(&d, user, "tokenFile")))) {
		snprintf(why, len, "%s: a field naming a file of this machine is not taken here",
			 path);
		goto out;
	}
	c->server = strndup(server, strlen(server) - (server[strlen(server) - 1] == '/'));
	v = scalar(get(&d, cluster, "insecure-skip-tls-verify"));
	c->insecure = v && !strcmp(v, "true");
	v = scalar(get(&d, ctx, "namespace"));
	c->namespace = v ? strdup(v) : NULL;
	if (!c->server || (v && !c->namespace)) {
		err = -ENOMEM;
		goto out;
	}
	err = pem_field(&d, cluster, "cluster", "certificate-authority-data",
			"certificate-authority", &c->ca_pem);
	if (user_name && !user && !err) {
		snprintf(why, len, "%s: user \"%s\": not found", path, user_name);
		err = -EINVAL;
	}
	if (!err)
		err = pem_field(&d, user, "user", "client-certificate-data", "client-certificate",
				&c->cert_pem);
	if (!err)
		err = pem_field(&d, user, "user", "client-key-data", "client-key", &c->key_pem);
	if (!err && (v = scalar(get(&d, user, "token")))) {
		c->token = strdup(v);
		err = c->token ? 0 : -ENOMEM;
	} else if (!err && (v = scalar(get(&d, user, "tokenFile")))) {
		char tf[1024];

		snprintf(tf, sizeof(tf), "%s%s", v[0] == '/' ? "" : d.dir, v);
		c->token_file = strdup(tf);
		err = c->token_file ? kconn_refresh_token(c) : -ENOMEM;
		if (err)
			snprintf(why, len, "%s: user.tokenFile: %s: %s", path, tf, strerror(-err));
	}
	if (!err && !c->cert_pem != !c->key_pem) {
		snprintf(why, len,
			 "%s: user \"%s\": a client certificate needs its key and the key "
			 "its certificate",
			 path, user_name);
		err = -EINVAL;
	}
out:
	yaml_document_delete(&d.doc);
	if (err)
		kconn_free(c);
	return err;
}

int kconn_kubeconfig(struct kconn *c, const char *path, const char *context, char *why, size_t len)
{
	char *text = NULL;
	int err = slurp(path, &text, false);

	if (err) {
		memset(c, 0, sizeof(*c));
		snprintf(why, len, "%s: %s", path, strerror(-err));
		return err;
	}
	err = kubeconfig_parse(c, path, text, strlen(text), context, true, why, len);
	free(text);
	return err;
}

int kconn_kubeconfig_text(struct kconn *c, const char *name, const char *text, size_t tlen,
			  char *why, size_t len)
{
	return kubeconfig_parse(c, name, text, tlen, NULL, false, why, len);
}

int kconn_curl_setup(const struct kconn *c, CURL *h, struct curl_slist **hdrs)
{
	char auth[4200] = "";
	struct curl_blob blob;
	struct curl_slist *l;

	if (!(l = curl_slist_append(*hdrs, "Accept: application/json")))
		return -ENOMEM;
	*hdrs = l;
	if (c->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		l = curl_slist_append(*hdrs, auth);
		explicit_bzero(auth, sizeof(auth));
		if (!l)
			return -ENOMEM;
		*hdrs = l;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	if (c->ca_pem) {
		blob = (struct curl_blob){c->ca_pem, strlen(c->ca_pem), CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (c->cert_pem && c->key_pem) {
		blob = (struct curl_blob){c->cert_pem, strlen(c->cert_pem), CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		blob = (struct curl_blob){c->key_pem, strlen(c->key_pem), CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return 0;
}

size_t kconn_take_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct kconn_body *b = arg;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > b->max) {
		b->over = true;
		return 0;
	}
	p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, data, n);
	b->data = p;
	b->len += n;
	p[b->len] = '\0';
	return n;
}

long kconn_call(const struct kconn *c, const char *method, const char *path, const char *body,
		char **resp, size_t max, long timeout_ms, char *err, size_t errlen)
{
	/* A kept handle keeps its connection cache across curl_easy_reset. */
	CURL *h = c->handle ? c->handle : curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct kconn_body b = {.max = max};
	char url[2048];
	long code = 0;
	CURLcode rc;

	*resp = NULL;
	if (c->handle)
		curl_easy_reset(h);
	if (!h || kconn_curl_setup(c, h, &hdrs) ||
	    (body && !(hdrs = curl_slist_append(hdrs, "Content-Type: application/json")))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(url, sizeof(url), "%s%s", c->server, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kconn_take_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s %s: %s", method, url,
			 b.over ? "response too large" : curl_easy_strerror(rc));
		free(b.data);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	*resp = b.data ? b.data : strdup("");
out:
	curl_slist_free_all(hdrs);
	if (h && h != c->handle)
		curl_easy_cleanup(h);
	return code;
}

int kconn_daemonset_gone(const struct kconn *c, const char *ns_name, char *why, size_t len)
{
	const char *slash = strchr(ns_name, '/');
	char path[600], *body = NULL;
	cJSON *o = NULL;
	int ret = -EPROTO;
	long st;

	if (!slash || !slash[1] || slash == ns_name) {
		snprintf(why, len, "want NAMESPACE/NAME, not %s", ns_name);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%.*s/daemonsets/%s",
		 (int)(slash - ns_name), ns_name, slash + 1);
	st = kconn_call(c, "GET", path, NULL, &body, 1 << 20, 5000, why, len);
	if (st == 404)
		ret = 1;
	else if (st == 200 && (o = cJSON_Parse(body)))
		ret = cJSON_GetObjectItemCaseSensitive(
			  cJSON_GetObjectItemCaseSensitive(o, "metadata"), "deletionTimestamp") !=
		      NULL;
	else if (st)
		snprintf(why, len, "HTTP %ld or an unreadable answer", st);
	else
		ret = -EIO;
	cJSON_Delete(o);
	free(body);
	return ret;
}

int kconn_kubeconfig_server(const char *name, const char *text, size_t len, char *server,
			    size_t slen, char *why, size_t wlen)
{
	struct kdoc d = {.path = name, .why = why, .len = wlen};
	yaml_parser_t p;
	const char *context, *cl_name, *v;
	int err = -EINVAL;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &d.doc)) {
		snprintf(why, wlen, "%s:%zu: not YAML: %s", name, p.problem_mark.line + 1,
			 p.problem ? p.problem : "parse error");
		yaml_parser_delete(&p);
		return -EINVAL;
	}
	yaml_parser_delete(&p);
	context = scalar(get(&d, yaml_document_get_root_node(&d.doc), "current-context"));
	cl_name =
	    context ? scalar(get(&d, named(&d, "contexts", "context", context), "cluster")) : NULL;
	v = cl_name ? scalar(get(&d, named(&d, "clusters", "cluster", cl_name), "server")) : NULL;
	if (!context || !*context)
		snprintf(why, wlen, "%s: no current-context", name);
	else if (!cl_name)
		snprintf(why, wlen, "%s: context \"%s\": not found, or without a cluster", name,
			 context);
	else if (!v || !*v)
		snprintf(why, wlen, "%s: cluster \"%s\": no server", name, cl_name);
	else if (strlen(v) >= slen)
		snprintf(why, wlen, "%s: cluster \"%s\": server too long", name, cl_name);
	else {
		snprintf(server, slen, "%s", v);
		err = 0;
	}
	yaml_document_delete(&d.doc);
	return err;
}
