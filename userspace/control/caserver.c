// SPDX-License-Identifier: Apache-2.0
/* The mesh CA as a service (caserver.h): a thread per connection, one request each. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ambit/ca.h"
#include "ambit/log.h"
#include "ambit/version.h"
#include "caserver.h"
#include "http/http1.h"
#include "http/http_fields.h"
#include "k8s/kmanifest.h"
#include "k8s/kconn.h"
#include "net/sock.h"
#include "tls/tls.h"
#include "wdir.h"

#define MAX_CONNS 64
#define MAX_BODY (64 * 1024)
#define CONN_DEADLINE_MS 10000
#define NODE_NAME_KEY "authentication.kubernetes.io/node-name"

static const char *str_at(const cJSON *o, const char *const *path)
{
	for (; o && *path; path++)
		o = cJSON_GetObjectItemCaseSensitive(o, *path);
	return cJSON_IsString(o) ? o->valuestring : NULL;
}

/* A Kubernetes name: lower-case letters, digits, '-' and '.', 1..253 (no path tricks). */
static bool k8s_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

/*
 * The review's verdict: 0 when the token is service account @sa's ("ns/name", @who's for the
 * message), or 401/403 and why.
 */
static int decide_account(const cJSON *review, const char *sa, const char *who, char *why,
			  size_t len)
{
	static const char *const user_p[] = {"status", "user", "username", NULL};
	static const char *const err_p[] = {"status", "error", NULL};
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(review, "status");
	const char *user = str_at(review, user_p), *e = str_at(review, err_p);
	char want[600], *slash;

	if (!st || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "authenticated")) || !user) {
		snprintf(why, len, "the token is not valid%s%s", e ? ": " : "", e ? e : "");
		return 401;
	}
	snprintf(want, sizeof(want), "system:serviceaccount:%s", sa);
	slash = strchr(want + strlen("system:serviceaccount:"), '/');
	if (slash)
		*slash = ':';
	if (strcmp(user, want) != 0) {
		snprintf(why, len, "%s is not %s service account (%s)", user, who, want);
		return 403;
	}
	return 0;
}

/* The review's verdict: 0 with the node the token is bound to, or 401/403 and why. */
static int decide_token(const cJSON *review, const char *agent_sa, const char **node, char *why,
			size_t len)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(review, "status");
	const cJSON *extra, *names;
	int ret = decide_account(review, agent_sa, "the node agents'", why, len);

	*node = NULL;
	if (ret)
		return ret;
	extra =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "user"), "extra");
	names = cJSON_GetObjectItemCaseSensitive(extra, NODE_NAME_KEY);
	if (cJSON_IsArray(names) && cJSON_GetArraySize(names) == 1 &&
	    cJSON_IsString(cJSON_GetArrayItem(names, 0)))
		*node = cJSON_GetArrayItem(names, 0)->valuestring;
	if (!*node || !**node) {
		snprintf(why, len, "the token is bound to no node (no %s in the review)",
			 NODE_NAME_KEY);
		return 403;
	}
	return 0;
}

/* The pod's verdict for @node: 0 with its identity in @id, or 403 and why. */
static int decide_pod(const cJSON *pod, const char *pod_ref, const char *node,
		      const char *trust_domain, char *id, size_t idlen, char *why, size_t len)
{
	static const char *const node_p[] = {"spec", "nodeName", NULL};
	static const char *const sa_p[] = {"spec", "serviceAccountName", NULL};
	static const char *const ns_p[] = {"metadata", "namespace", NULL};
	const char *pod_node, *sa, *ns;

	if (!pod) {
		snprintf(why, len, "no pod %s", pod_ref);
		return 403;
	}
	pod_node = str_at(pod, node_p);
	if (!pod_node || strcmp(pod_node, node) != 0) {
		snprintf(why, len, "pod %s runs on %s, not on the requesting node %s", pod_ref,
			 pod_node ? pod_node : "no node yet", node);
		return 403;
	}
	sa = str_at(pod, sa_p);
	ns = str_at(pod, ns_p);
	if (!ns || spiffe_id_format(id, idlen, trust_domain, ns, sa && *sa ? sa : "default")) {
		snprintf(why, len, "pod %s: no identity can be formed", pod_ref);
		return 403;
	}
	return 0;
}

int caserver_decide(const cJSON *review, const cJSON *pod, const char *pod_ref,
		    const char *agent_sa, const char *trust_domain, char *id, size_t idlen,
		    char *why, size_t len)
{
	const char *node;
	int st = decide_token(review, agent_sa, &node, why, len);

	return st ? st : decide_pod(pod, pod_ref, node, trust_domain, id, idlen, why, len);
}

struct conn {
	const struct caserver_opts *o;
	int fd;
	struct tls_conn *t;
	struct h1_parser *p;
	char *auth, *target, *method;
	char *body;
	size_t len;
	bool done, too_big;
};

static atomic_int n_conns;
/* The API connection's token is read again before each call (projected tokens rotate). */
static pthread_mutex_t api_lock = PTHREAD_MUTEX_INITIALIZER;

static long api_call(const struct kconn *k, const char *method, const char *path, const char *body,
		     char **resp, size_t max, char *why, size_t len)
{
	long code;

	pthread_mutex_lock(&api_lock);
	kconn_refresh_token((struct kconn *)k);
	code = kconn_call(k, method, path, body, resp, max, 5000, why, len);
	pthread_mutex_unlock(&api_lock);
	return code;
}

static int on_head(void *arg, struct h1_head *h)
{
	struct conn *c = arg;
	const char *a = http_fields_get(&h->fields, "authorization");

	c->auth = a ? strdup(a) : NULL;
	c->method = h->method ? strdup(h->method) : NULL;
	c->target = h->target ? strdup(h->target) : NULL;
	if (h->framing == H1_FRAMING_LENGTH && h->content_length > MAX_BODY)
		c->too_big = true;
	return 0;
}

static int on_body(void *arg, const char *d, size_t n)
{
	struct conn *c = arg;
	char *p;

	if (c->len + n > MAX_BODY) {
		c->too_big = true;
		return 0;
	}
	p = realloc(c->body, c->len + n + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + c->len, d, n);
	c->body = p;
	c->len += n;
	p[c->len] = '\0';
	return 0;
}

static int on_end(void *arg)
{
	((struct conn *)arg)->done = true;
	return H1_PAUSE;
}

static const struct h1_parser_ops req_ops = {on_head, on_body, on_end};

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static bool wait_fd(struct conn *c, const struct timespec *deadline)
{
	struct pollfd p = {c->fd, tls_conn_want_write(c->t) ? POLLOUT : POLLIN, 0};
	long left = ms_left(deadline);

	return left > 0 && poll(&p, 1, (int)left) > 0;
}

static void send_all(struct conn *c, const char *data, size_t n, const struct timespec *dl)
{
	while (n) {
		ssize_t w = tls_conn_write(c->t, data, n);

		if (w == -EAGAIN) {
			if (!wait_fd(c, dl))
				return;
			continue;
		}
		if (w <= 0)
			return;
		data += w;
		n -= (size_t)w;
	}
	while (tls_conn_flush(c->t) == -EAGAIN)
		if (!wait_fd(c, dl))
			return;
}

static void reply(struct conn *c, int status, cJSON *body, const struct timespec *dl)
{
	char *text = cJSON_PrintUnformatted(body), head[256];
	int n;

	if (!text)
		return;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
		     "connection: close\r\n\r\n",
		     status, h1_reason(status), strlen(text));
	send_all(c, head, (size_t)n, dl);
	send_all(c, text, strlen(text), dl);
	free(text);
}

static void refuse(struct conn *c, int status, const char *why, const struct timespec *dl)
{
	cJSON *o = cJSON_CreateObject();

	if (o && cJSON_AddStringToObject(o, "error", why))
		reply(c, status, o, dl);
	cJSON_Delete(o);
}

/* The TokenReview of @token, as the API server answers it (NULL: the reason in @why). */
static cJSON *review_token(const struct kconn *k, const char *token, char *why, size_t len)
{
	cJSON *req = cJSON_CreateObject(), *spec, *res = NULL;
	char *text = NULL, *resp = NULL;
	long code;

	if (!req || !cJSON_AddStringToObject(req, "apiVersion", "authentication.k8s.io/v1") ||
	    !cJSON_AddStringToObject(req, "kind", "TokenReview") ||
	    !(spec = cJSON_AddObjectToObject(req, "spec")) ||
	    !cJSON_AddStringToObject(spec, "token", token) ||
	    !(text = cJSON_PrintUnformatted(req))) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	code = api_call(k, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", text, &resp,
			1 << 20, why, len);
	if (code == 200 || code == 201)
		res = cJSON_Parse(resp);
	if (!res && code)
		snprintf(why, len, "TokenReview: HTTP %ld from the API server", code);
out:
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	cJSON_Delete(req);
	free(resp);
	return res;
}

/* GET @path from the API server: the object, NULL when it has none (*@failed on errors). */
static cJSON *api_get(const struct kconn *k, const char *path, bool *failed, char *why, size_t len)
{
	char *resp = NULL;
	cJSON *o = NULL;
	long code = api_call(k, "GET", path, NULL, &resp, 4 << 20, why, len);

	*failed = code != 200 && code != 404;
	if (code == 200 && !(o = cJSON_Parse(resp)))
		*failed = true;
	if (*failed && code)
		snprintf(why, len, "GET %.300s: HTTP %ld from the API server", path, code);
	free(resp);
	return o;
}

/* Pod @ns/@name from the API server: the object, NULL when it has none (*@failed on errors). */
static cJSON *get_pod(const struct kconn *k, const char *ns, const char *name, bool *failed,
		      char *why, size_t len)
{
	char path[1024];

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
	return api_get(k, path, failed, why, len);
}

static void sign(struct conn *c, const char *ref, const char *csr, const cJSON *pod,
		 const char *node, const struct timespec *dl)
{
	const struct caserver_opts *o = c->o;
	char why[512] = "", id[600];
	struct ca_issued is;
	cJSON *out;
	int st;

	st = decide_pod(pod, ref, node, o->trust_domain, id, sizeof(id), why, sizeof(why));
	if (st) {
		pr_warn("ca-server: refused %s: %s", ref, why);
		return refuse(c, st, why, dl);
	}
	if (ca_sign_csr(o->ca, csr, strlen(csr), id, CASERVER_CERT_TTL_S, &is, why, sizeof(why))) {
		pr_warn("ca-server: refused %s (%s): %s", ref, id, why);
		return refuse(c, 400, why, dl);
	}
	out = cJSON_CreateObject();
	if (out && cJSON_AddStringToObject(out, "identity", id) &&
	    cJSON_AddStringToObject(out, "certificate", is.cert_pem) &&
	    cJSON_AddStringToObject(out, "root", ca_root_pem(o->ca)) &&
	    cJSON_AddNumberToObject(out, "notBefore", (double)is.not_before) &&
	    cJSON_AddNumberToObject(out, "notAfter", (double)is.not_after)) {
		pr_info("ca-server: signed %s for pod %s", id, ref);
		reply(c, 200, out, dl);
	}
	cJSON_Delete(out);
	ca_issued_free(&is);
}

/*
 * Secret @ns/@name for a Gateway of @gw_ns into @secrets, or why not into @refused. The CA's own
 * namespace (the root key's) is never read for an agent, whatever a Gateway there names.
 */
static bool credential_one(struct conn *c, const char *gw_ns, const char *ns, const char *name,
			   bool generic, cJSON *secrets, cJSON *refused)
{
	const struct caserver_opts *o = c->o;
	size_t own = (size_t)(strchr(o->agent_sa, '/') - o->agent_sa);
	cJSON *grants = NULL, *sec = NULL, *out = NULL;
	char path[1024], why[512] = "", line[800];
	bool failed = false;

	if (strlen(ns) == own && !strncmp(ns, o->agent_sa, own)) {
		snprintf(why, sizeof(why), "the CA's own namespace");
		goto no;
	}
	if (strcmp(gw_ns, ns)) {
		snprintf(path, sizeof(path),
			 "/apis/gateway.networking.k8s.io/v1beta1/namespaces/%s/referencegrants",
			 ns);
		grants = api_get(o->conn, path, &failed, why, sizeof(why));
		if (failed)
			goto no;
		if (!caserver_ref_granted(gw_ns, ns, name,
					  cJSON_GetObjectItemCaseSensitive(grants, "items"))) {
			snprintf(why, sizeof(why),
				 "another namespace's, and no ReferenceGrant there allows it");
			goto no;
		}
	}
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
	sec = api_get(o->conn, path, &failed, why, sizeof(why));
	if (failed)
		goto no;
	if (!sec) {
		snprintf(why, sizeof(why), "it does not exist");
		goto no;
	}
	if (caserver_credential(sec, generic, &out, why, sizeof(why)) ||
	    !cJSON_AddItemToArray(secrets, out))
		goto no;
	cJSON_Delete(grants);
	cJSON_Delete(sec);
	return true;
no:
	snprintf(line, sizeof(line), "Secret %s/%s: %s", ns, name, why);
	cJSON_AddItemToArray(refused, cJSON_CreateString(line));
	cJSON_Delete(grants);
	cJSON_Delete(sec);
	return false;
}

/* The cluster-wide LISTs the credentials answers read, each kept a little while. */
static struct caserver_list_cache istio_gateways = {.lock = PTHREAD_MUTEX_INITIALIZER},
				  destination_rules = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct list_req {
	const struct kconn *k;
	const char *path;
	char *why;
	size_t len;
};

static cJSON *list_fetch(void *arg, bool *failed)
{
	struct list_req *r = arg;

	return api_get(r->k, r->path, failed, r->why, r->len);
}

/* LIST @path (cluster-wide) through @c: as api_get. */
static cJSON *api_list_cached(const struct kconn *k, struct caserver_list_cache *c,
			      const char *path, bool *failed, char *why, size_t len)
{
	struct list_req r = {k, path, why, len};
	struct timespec now;
	cJSON *o;

	clock_gettime(CLOCK_MONOTONIC, &now);
	why[0] = '\0';
	o = caserver_list_cached(c, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000,
				 list_fetch, &r, failed);
	if (*failed && !why[0])
		snprintf(why, len, "out of memory");
	return o;
}

/*
 * The Secrets gateway pod @pod (checked: of the requesting node) may be served, into *@refs; or
 * the HTTP status to refuse with and why.
 */
static int credential_refs(struct conn *c, const cJSON *pod, cJSON **refs, char *why, size_t len)
{
	const struct caserver_opts *o = c->o;
	const char *ns = kjson_str(pod, "metadata", "namespace");
	const char *gw_name = cJSON_GetStringValue(
	    kjson_get(kjson_get(pod, "metadata", "labels"), CASERVER_GATEWAY_LABEL, NULL));
	cJSON *gw = NULL, *list = NULL;
	char path[1024];
	bool failed = false;
	int st = 0;

	if (!caserver_gateway_pod(pod)) {
		snprintf(why, len,
			 "the pod is no gateway's (no label %s, nor istio: ingressgateway "
			 "or egressgateway)",
			 CASERVER_GATEWAY_LABEL);
		return 403;
	}
	if (!(*refs = cJSON_CreateArray())) {
		snprintf(why, len, "out of memory");
		return 500;
	}
	if (gw_name && k8s_name_ok(gw_name, strlen(gw_name))) {
		snprintf(path, sizeof(path),
			 "/apis/gateway.networking.k8s.io/v1/namespaces/%s/gateways/%s", ns,
			 gw_name);
		gw = api_get(o->conn, path, &failed, why, len);
		if (failed)
			st = 502;
		else if (caserver_gateway_refs(pod, gw, *refs))
			st = 500;
	}
	/* istio-system's are the agents' own to read (its Role there). */
	if (!st && strcmp(ns, "istio-system")) {
		list = api_list_cached(o->conn, &istio_gateways,
				       "/apis/networking.istio.io/v1/gateways", &failed, why, len);
		if (failed)
			st = 502;
		else if (caserver_istio_refs(pod, kjson_get(list, "items", NULL), *refs))
			st = 500;
		cJSON_Delete(list);
		list = NULL;
	}
	/* The DestinationRules' credentialNames (TLS origination): istio-system's as above. */
	if (!st && strcmp(ns, "istio-system")) {
		list = api_list_cached(o->conn, &destination_rules,
				       "/apis/networking.istio.io/v1/destinationrules", &failed,
				       why, len);
		if (failed)
			st = 502;
		else if (caserver_dr_refs(pod, kjson_get(list, "items", NULL), *refs))
			st = 500;
	}
	if (st == 500)
		snprintf(why, len, "out of memory");
	cJSON_Delete(gw);
	cJSON_Delete(list);
	return st;
}

static void credentials(struct conn *c, const char *ref, const cJSON *pod, const char *node,
			const struct timespec *dl)
{
	const struct caserver_opts *o = c->o;
	const char *ns = kjson_str(pod, "metadata", "namespace");
	cJSON *refs = NULL, *out = NULL, *secrets, *refused;
	const cJSON *r;
	char why[512] = "", id[600];
	int st;

	/* A pod of this node, as for its certificate; then what its gateways name. */
	st = decide_pod(pod, ref, node, o->trust_domain, id, sizeof(id), why, sizeof(why));
	if (!st)
		st = credential_refs(c, pod, &refs, why, sizeof(why));
	if (st) {
		pr_warn("ca-server: refused the credentials of %s: %s", ref, why);
		refuse(c, st, why, dl);
		goto out;
	}
	out = cJSON_CreateObject();
	secrets = out ? cJSON_AddArrayToObject(out, "secrets") : NULL;
	refused = out ? cJSON_AddArrayToObject(out, "refused") : NULL;
	if (!secrets || !refused) {
		refuse(c, 500, "out of memory", dl);
		goto out;
	}
	cJSON_ArrayForEach(r, refs)
	{
		const char *sns = kjson_str(r, "namespace", NULL),
			   *sname = kjson_str(r, "name", NULL);

		if (!k8s_name_ok(sns, strlen(sns)) || !k8s_name_ok(sname, strlen(sname)))
			continue;
		/* The agent logs them (when they change): here at debug level, asked every 15 s. */
		if (!credential_one(c, ns, sns, sname,
				    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "generic")),
				    secrets, refused))
			pr_debug("ca-server: %s: %s", ref,
				 cJSON_GetArrayItem(refused, cJSON_GetArraySize(refused) - 1)
				     ->valuestring);
	}
	pr_debug("ca-server: %d credentials for gateway pod %s", cJSON_GetArraySize(secrets), ref);
	reply(c, 200, out, dl);
out:
	cJSON_Delete(refs);
	cJSON_Delete(out);
}

/*
 * The waypoint controller's question, for its Gateways' status (ResolvedRefs): which of the
 * Secrets it names are certificates a gateway can serve. The answer says why not, never what
 * they hold; the CA's own namespace is not looked into.
 */
static void certificate_status(struct conn *c, const cJSON *req, const struct timespec *dl)
{
	const struct caserver_opts *o = c->o;
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(req, "secrets"), *r;
	size_t own = (size_t)(strchr(o->agent_sa, '/') - o->agent_sa);
	cJSON *review, *out = NULL, *status, *sec;
	char why[512] = "", path[1024];
	bool failed;
	int st;

	if (!cJSON_IsArray(names) || cJSON_GetArraySize(names) > CASERVER_MAX_CHECKS)
		return refuse(c, 400,
			      "the body must be {\"secrets\": [\"<namespace>/<name>\"...]} (at "
			      "most 256)",
			      dl);
	review = review_token(o->conn, c->auth + 7, why, sizeof(why));
	if (!review) {
		pr_warn("ca-server: certificate status: %s", why);
		return refuse(c, 502, why, dl);
	}
	st =
	    decide_account(review, o->controller_sa, "the waypoint controller's", why, sizeof(why));
	cJSON_Delete(review);
	if (st) {
		pr_warn("ca-server: refused a certificate status: %s", why);
		return refuse(c, st, why, dl);
	}
	out = cJSON_CreateObject();
	status = out ? cJSON_AddObjectToObject(out, "status") : NULL;
	if (!status) {
		cJSON_Delete(out);
		return refuse(c, 500, "out of memory", dl);
	}
	cJSON_ArrayForEach(r, names)
	{
		const char *ref = cJSON_GetStringValue(r), *slash = ref ? strchr(ref, '/') : NULL;

		if (!slash || !k8s_name_ok(ref, (size_t)(slash - ref)) ||
		    !k8s_name_ok(slash + 1, strlen(slash + 1)) ||
		    cJSON_GetObjectItemCaseSensitive(status, ref))
			continue;
		failed = false;
		sec = NULL;
		if ((size_t)(slash - ref) == own && !strncmp(ref, o->agent_sa, own)) {
			snprintf(why, sizeof(why), "is in the CA's own namespace");
		} else {
			snprintf(path, sizeof(path), "/api/v1/namespaces/%.*s/secrets/%s",
				 (int)(slash - ref), ref, slash + 1);
			sec = api_get(o->conn, path, &failed, why, sizeof(why));
			if (!failed && caserver_certificate_check(sec, why, sizeof(why)) < 0)
				snprintf(why, sizeof(why), "out of memory");
		}
		cJSON_Delete(sec);
		cJSON_AddStringToObject(status, ref, why);
	}
	reply(c, 200, out, dl);
	cJSON_Delete(out);
}

static void handle(struct conn *c, const struct timespec *dl)
{
	const struct caserver_opts *o = c->o;
	cJSON *req = NULL, *review = NULL, *pod = NULL;
	const char *csr, *ref, *slash, *node;
	char why[512] = "", ns[256], name[256];
	bool failed = false, is_sign;
	int st;

	if (!c->method || strcmp(c->method, "POST") != 0 || !c->target ||
	    (strcmp(c->target, "/v1/sign") && strcmp(c->target, "/v1/credentials") &&
	     strcmp(c->target, "/v1/certificate-status")))
		return refuse(c, 404,
			      "POST /v1/sign, /v1/credentials and /v1/certificate-status are the "
			      "only requests",
			      dl);
	is_sign = !strcmp(c->target, "/v1/sign");
	if (c->too_big)
		return refuse(c, 413, "request body over 64 KiB", dl);
	if (!c->auth || strncmp(c->auth, "Bearer ", 7) != 0 || !c->auth[7])
		return refuse(c, 401, "no bearer token", dl);
	req = c->body ? cJSON_ParseWithLength(c->body, c->len) : NULL;
	if (!strcmp(c->target, "/v1/certificate-status")) {
		certificate_status(c, req, dl);
		cJSON_Delete(req);
		return;
	}
	csr = req ? str_at(req, (const char *const[]){"csr", NULL}) : NULL;
	ref = req ? str_at(req, (const char *const[]){"pod", NULL}) : NULL;
	slash = ref ? strchr(ref, '/') : NULL;
	if ((is_sign && !csr) || !ref || !slash || !k8s_name_ok(ref, (size_t)(slash - ref)) ||
	    !k8s_name_ok(slash + 1, strlen(slash + 1))) {
		cJSON_Delete(req);
		return refuse(
		    c, 400,
		    is_sign ? "the body must be {\"pod\": \"<namespace>/<name>\", \"csr\": PEM}"
			    : "the body must be {\"pod\": \"<namespace>/<name>\"}",
		    dl);
	}
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - ref), ref);
	snprintf(name, sizeof(name), "%s", slash + 1);
	review = review_token(o->conn, c->auth + 7, why, sizeof(why));
	if (!review) {
		pr_warn("ca-server: %s: %s", ref, why);
		refuse(c, 502, why, dl);
		goto out;
	}
	/* Only an authenticated agent learns whether a pod exists. */
	st = decide_token(review, o->agent_sa, &node, why, sizeof(why));
	if (st) {
		pr_warn("ca-server: refused %s: %s", ref, why);
		refuse(c, st, why, dl);
		goto out;
	}
	pod = get_pod(o->conn, ns, name, &failed, why, sizeof(why));
	if (failed) {
		pr_warn("ca-server: %s: %s", ref, why);
		refuse(c, 502, why, dl);
		goto out;
	}
	if (is_sign)
		sign(c, ref, csr, pod, node, dl);
	else
		credentials(c, ref, pod, node, dl);
out:
	cJSON_Delete(req);
	cJSON_Delete(review);
	cJSON_Delete(pod);
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	struct timespec dl;
	char buf[16384];
	int r;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += CONN_DEADLINE_MS / 1000;
	while ((r = tls_conn_handshake(c->t)) == -EAGAIN)
		if (!wait_fd(c, &dl))
			goto out;
	if (r)
		goto out;
	while (!c->done) {
		ssize_t n = tls_conn_read(c->t, buf, sizeof(buf));

		if (n == -EAGAIN) {
			if (!wait_fd(c, &dl))
				goto out;
			continue;
		}
		if (n <= 0)
			goto out;
		if (h1_parser_feed(c->p, buf, (size_t)n) < 0) {
			refuse(c, h1_parser_error_status(c->p) ? h1_parser_error_status(c->p) : 400,
			       h1_parser_error(c->p), &dl);
			goto out;
		}
	}
	handle(c, &dl);
	tls_conn_shutdown(c->t);
out:
	tls_conn_destroy(c->t);
	h1_parser_free(c->p);
	close(c->fd);
	free(c->auth);
	free(c->method);
	free(c->target);
	free(c->body);
	free(c);
	atomic_fetch_sub(&n_conns, 1);
	return NULL;
}

static void accept_one(const struct caserver_opts *o, int lfd, struct tls_ctx *ctx)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c;
	pthread_attr_t attr;
	pthread_t t;

	if (fd < 0)
		return;
	if (atomic_fetch_add(&n_conns, 1) >= MAX_CONNS) {
		atomic_fetch_sub(&n_conns, 1);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->o = o;
		c->fd = fd;
		c->t = tls_conn_create(ctx, fd, NULL);
		c->p = h1_parser_new(true, &req_ops, c);
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!c || !c->t || !c->p || pthread_create(&t, &attr, serve, c) != 0) {
		if (c) {
			tls_conn_destroy(c->t);
			h1_parser_free(c->p);
			free(c);
		}
		close(fd);
		atomic_fetch_sub(&n_conns, 1);
	}
	pthread_attr_destroy(&attr);
}

/*
 * @hostport: "a.b.c.d:port", "[v6]:port", or ":port" for every address of both families, as Go's
 * net.Listen and istiod's ":15012" take it (sock_listen_any). A dual-stack or IPv6-only
 * cluster's agents reach the CA by its IPv6, an IPv4 one's by its IPv4, with one manifest.
 * fd or -errno.
 */
static int listen_on(const char *hostport)
{
	union sockaddr_inet a;
	unsigned long port;
	char *end;

	if (hostport[0] == ':') {
		errno = 0;
		port = strtoul(hostport + 1, &end, 10);
		if (errno || end == hostport + 1 || *end || !port || port > 65535)
			return -EINVAL;
		return sock_listen_any((uint16_t)port);
	}
	if (sock_parse_authority(hostport, &a))
		return -EINVAL;
	return sock_listen_at(&a, false);
}

int caserver_run(const struct caserver_opts *o)
{
	struct ca_issued own;
	struct tls_ctx *ctx;
	struct pollfd p[2];
	sigset_t mask;
	int lfd, sfd, err;

	/* Its own serving certificate, from the root it holds (as istiod serves with its CA's). */
	err = ca_issue_dns(o->ca, o->dns_name, 365L * 86400, &own);
	if (err) {
		pr_err("ca-server: a certificate for %s: %s", o->dns_name, strerror(-err));
		return err;
	}
	ctx = tls_ctx_create_edge(own.cert_pem, own.key_pem);
	ca_issued_free(&own);
	if (!ctx)
		return -errno;
	lfd = listen_on(o->listen);
	if (lfd < 0) {
		pr_err("ca-server: listen %s: %s", o->listen, strerror(-lfd));
		tls_ctx_put(ctx);
		return lfd;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	pr_info("ca-server: serving %s as %s for the agents of %s (trust domain %s)", o->listen,
		o->dns_name, o->agent_sa, o->trust_domain);
	p[0] = (struct pollfd){lfd, POLLIN, 0};
	p[1] = (struct pollfd){sfd, POLLIN, 0};
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents)
			accept_one(o, lfd, ctx);
	}
	pr_info("ca-server: exiting");
	close(lfd);
	close(sfd);
	/*
	 * Connections in flight end within their deadline: the context goes once they did (they
	 * use it without a reference of their own); past that, the process exit takes both.
	 */
	for (int i = 0; i < CONN_DEADLINE_MS / 10 && atomic_load(&n_conns); i++)
		usleep(10 * 1000);
	if (!atomic_load(&n_conns)) {
		tls_ctx_put(ctx);
		caserver_list_cache_clear(&istio_gateways);
		caserver_list_cache_clear(&destination_rules);
	}
	return 0;
}

/*
 * POSTs @body to @url@path (verified with @root_pem, authenticated with @token): 0 with the
 * answer's object in *@res (the caller's), or -errno (-EPERM: 401/403) with the reason in @why.
 */
static int ca_post(const char *url, const char *path, const char *root_pem, const char *token,
		   const cJSON *body, long timeout_ms, cJSON **res, char *why, size_t len)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct curl_blob blob = {(void *)root_pem, strlen(root_pem), CURL_BLOB_COPY};
	char full[1024], auth[4200], *text = cJSON_PrintUnformatted(body);
	struct kconn_body r = {.max = 4 << 20};
	const char *err;
	long code = 0;
	CURLcode rc;
	int ret = -ENOMEM;

	*res = NULL;
	snprintf(why, len, "out of memory");
	if (!h || !text)
		goto out;
	snprintf(full, sizeof(full), "%s%s", url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	hdrs = curl_slist_append(hdrs, auth);
	explicit_bzero(auth, sizeof(auth));
	if (!hdrs || !(hdrs = curl_slist_append(hdrs, "Content-Type: application/json")))
		goto out;
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kconn_take_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	ret = -EIO;
	if (rc != CURLE_OK) {
		snprintf(why, len, "%s: %s", full, curl_easy_strerror(rc));
		goto out;
	}
	*res = r.data ? cJSON_Parse(r.data) : NULL;
	if (code != 200 || !*res) {
		err = *res ? str_at(*res, (const char *const[]){"error", NULL}) : NULL;
		snprintf(why, len, "%s: HTTP %ld: %s", full, code, err ? err : "no answer");
		ret = code == 401 || code == 403 ? -EPERM : -EIO;
		cJSON_Delete(*res);
		*res = NULL;
		goto out;
	}
	ret = 0;
out:
	free(text);
	free(r.data);
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
	return ret;
}

int caserver_request(const char *url, const char *root_pem, const char *token, const char *pod_ref,
		     const char *csr_pem, char **cert_pem, long *not_before, long *not_after,
		     char *why, size_t len)
{
	cJSON *body = cJSON_CreateObject(), *res = NULL;
	const char *cert;
	int ret = -ENOMEM;

	*cert_pem = NULL;
	snprintf(why, len, "out of memory");
	if (body && cJSON_AddStringToObject(body, "pod", pod_ref) &&
	    cJSON_AddStringToObject(body, "csr", csr_pem))
		ret = ca_post(url, "/v1/sign", root_pem, token, body, 5000, &res, why, len);
	cert = res ? str_at(res, (const char *const[]){"certificate", NULL}) : NULL;
	if (!ret && !cert) {
		snprintf(why, len, "%s/v1/sign: no certificate in the answer", url);
		ret = -EIO;
	}
	if (!ret) {
		*cert_pem = strdup(cert);
		*not_before =
		    (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "notBefore"));
		*not_after =
		    (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "notAfter"));
		ret = *cert_pem ? 0 : -ENOMEM;
	}
	cJSON_Delete(body);
	cJSON_Delete(res);
	return ret;
}

int caserver_credentials(const char *url, const char *root_pem, const char *token,
			 const char *pod_ref, cJSON **secrets, cJSON **refused, char *why,
			 size_t len)
{
	cJSON *body = cJSON_CreateObject(), *res = NULL;
	int ret = -ENOMEM;

	*secrets = NULL;
	*refused = NULL;
	snprintf(why, len, "out of memory");
	if (body && cJSON_AddStringToObject(body, "pod", pod_ref))
		ret = ca_post(url, "/v1/credentials", root_pem, token, body, CASERVER_ASK_MS, &res,
			      why, len);
	if (!ret) {
		*secrets = cJSON_DetachItemFromObjectCaseSensitive(res, "secrets");
		if (!cJSON_IsArray(*secrets)) {
			cJSON_Delete(*secrets);
			*secrets = NULL;
			snprintf(why, len, "%s/v1/credentials: no secrets in the answer", url);
			ret = -EIO;
		}
		*refused = cJSON_DetachItemFromObjectCaseSensitive(res, "refused");
	}
	cJSON_Delete(body);
	cJSON_Delete(res);
	return ret;
}

int caserver_certificate_status(const char *url, const char *root_pem, const char *token,
				const cJSON *names, cJSON **status, char *why, size_t len)
{
	cJSON *body = cJSON_CreateObject(), *res = NULL;
	int ret = -ENOMEM;

	*status = NULL;
	snprintf(why, len, "out of memory");
	if (body && cJSON_AddItemToObject(body, "secrets", cJSON_Duplicate(names, true)))
		ret = ca_post(url, "/v1/certificate-status", root_pem, token, body, CASERVER_ASK_MS,
			      &res, why, len);
	if (!ret) {
		*status = cJSON_DetachItemFromObjectCaseSensitive(res, "status");
		if (!cJSON_IsObject(*status)) {
			cJSON_Delete(*status);
			*status = NULL;
			snprintf(why, len, "%s/v1/certificate-status: no status in the answer",
				 url);
			ret = -EIO;
		}
	}
	cJSON_Delete(body);
	cJSON_Delete(res);
	return ret;
}

static void ca_usage(FILE *f)
{
	fprintf(f, "usage: ambit-agent --ca-server --ca-dir DIR (--kube | --kubeconfig F)\n"
		   "                   [--listen :15012] [--dns-name NAME]\n"
		   "                   [--agent-sa ambit-system/ambit-node]\n"
		   "                   [--controller-sa ambit-system/ambit-waypoints]\n"
		   "                   [--trust-domain cluster.local] [--kube-sa-dir DIR]\n"
		   "                   [--log-level info]\n"
		   "  --ca-dir: the mesh root (root-cert.pem, root-key.pem: the Secret only this\n"
		   "            server reads); --dns-name: the name agents reach it by\n"
		   "            (ambit-ca.ambit-system.svc)\n");
}

int caserver_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'L'},
	    {"ca-dir", required_argument, NULL, 'c'},
	    {"dns-name", required_argument, NULL, 'D'},
	    {"agent-sa", required_argument, NULL, 'a'},
	    {"controller-sa", required_argument, NULL, 'C'},
	    {"trust-domain", required_argument, NULL, 't'},
	    {"kube", no_argument, NULL, 'K'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"kube-sa-dir", required_argument, NULL, 'A'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct caserver_opts o = {
	    .listen = ":15012",
	    .dns_name = "ambit-ca.ambit-system.svc",
	    .agent_sa = "ambit-system/ambit-node",
	    .trust_domain = "cluster.local",
	};
	const char *ca_dir = NULL, *kubeconfig = NULL, *sa_dir = KCONN_SA_DIR;
	enum log_level lvl = LOG_LEVEL_INFO;
	struct kconn conn = {0};
	struct wdir_pub *pub;
	bool kube = false;
	char why[512], ns[256], ctl_sa[600];
	sigset_t mask;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'L': o.listen = optarg; break;
		case 'c': ca_dir = optarg; break;
		case 'D': o.dns_name = optarg; break;
		case 'a': o.agent_sa = optarg; break;
		case 'C': o.controller_sa = optarg; break;
		case 't': o.trust_domain = optarg; break;
		case 'K': kube = true; break;
		case 'k': kubeconfig = optarg; break;
		case 'A': sa_dir = optarg; break;
		case 'l':
			if (log_level_parse(optarg, &lvl)) {
				fprintf(stderr,
					"ambit-agent: --log-level: want error|warn|info|debug\n");
				return 2;
			}
			break;
		case 'h': ca_usage(stdout); return 0;
		case 'V': printf("ambit-agent %s\n", ambit_version()); return 0;
		default: ca_usage(stderr); return 2;
		}
	}
	if (optind != argc || !ca_dir || (!kube && !kubeconfig) || !strchr(o.agent_sa, '/')) {
		fprintf(stderr, "ambit-agent --ca-server: missing or extra arguments\n");
		ca_usage(stderr);
		return 2;
	}
	if (!o.controller_sa) {
		snprintf(ctl_sa, sizeof(ctl_sa), "%.*s/ambit-waypoints",
			 (int)(strchr(o.agent_sa, '/') - o.agent_sa), o.agent_sa);
		o.controller_sa = ctl_sa;
	}
	if (!strchr(o.controller_sa, '/')) {
		fprintf(stderr,
			"ambit-agent --ca-server: --controller-sa: want <namespace>/<name>\n");
		return 2;
	}
	log_init("ambit-ca", lvl);
	err = kubeconfig ? kconn_kubeconfig(&conn, kubeconfig, NULL, why, sizeof(why))
			 : kconn_in_cluster(&conn, sa_dir, why, sizeof(why));
	if (err) {
		pr_err("kubernetes: %s", why);
		kconn_free(&conn);
		return 1;
	}
	o.conn = &conn;
	o.ca = ca_open(ca_dir);
	if (!o.ca) {
		pr_err("CA in %s: %s", ca_dir, strerror(errno));
		kconn_free(&conn);
		return 1;
	}
	/*
	 * Signals wait for caserver_run's signalfd: blocked before the directory's threads start,
	 * which inherit the mask.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	snprintf(ns, sizeof(ns), "%.*s", (int)(strchr(o.agent_sa, '/') - o.agent_sa), o.agent_sa);
	pub = wdir_pub_start(&conn, ns, CASERVER_WATCH_S);
	if (!pub) {
		pr_err("workload directory: %s", strerror(errno));
		ca_destroy(o.ca);
		kconn_free(&conn);
		return 1;
	}
	err = caserver_run(&o);
	wdir_pub_stop(pub);
	ca_destroy(o.ca);
	kconn_free(&conn);
	return err ? 1 : 0;
}
