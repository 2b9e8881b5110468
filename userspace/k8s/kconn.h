/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the Kubernetes API is and how to authenticate to it (issue 10 §1), as client-go finds
 * it: in-cluster (the DaemonSet): KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and the
 * pod's service-account directory (token, ca.crt, namespace); or a kubeconfig file: its
 * current-context (or a named one), that context's cluster (server, certificate-authority or
 * -data, insecure-skip-tls-verify) and user (token, tokenFile, client-certificate / -key or
 * their -data). Relative paths in a kubeconfig are relative to its directory. Errors name the
 * file and the field.
 */
#ifndef AMBIT_AGENT_KCONN_H
#define AMBIT_AGENT_KCONN_H

#include <stdbool.h>
#include <stddef.h>

#define KCONN_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kconn {
	char *server;	  /* https://host:port, no trailing slash */
	char *ca_pem;	  /* the CA bundle to verify the server with, NULL: the system's */
	char *token;	  /* the bearer token as last read, or NULL */
	char *token_file; /* where it is read again from (projected tokens rotate), or NULL */
	char *cert_pem;	  /* client certificate and key, or NULL */
	char *key_pem;
	char *namespace;  /* the pod's or the context's namespace, or NULL */
	bool insecure;	  /* insecure-skip-tls-verify */
	char source[300]; /* "in-cluster" or "<kubeconfig> context <name>", for messages */
	/*
	 * kconn_keep_alive: the libcurl handle kconn_call reuses, with its open connection (one TLS
	 * handshake for a series of calls); NULL: one per call. Never copied; one thread only.
	 */
	void *handle;
};

/*
 * In-cluster: the environment's KUBERNETES_SERVICE_HOST/PORT and @sa_dir (KCONN_SA_DIR in a
 * pod; tests give another). 0, or -ENOENT / -EINVAL with the reason in @why.
 */
int kconn_in_cluster(struct kconn *c, const char *sa_dir, char *why, size_t len);
/* From kubeconfig @path, context @context (NULL: current-context). 0, or -errno and @why. */
int kconn_kubeconfig(struct kconn *c, const char *path, const char *context, char *why, size_t len);
/*
 * The same from kubeconfig text @text (@tlen bytes, its current-context; @name names it in
 * messages) that may name no file of this machine (a remote secret's): a certificate-authority,
 * client-certificate, client-key or tokenFile field is refused. 0, or -errno and @why.
 */
int kconn_kubeconfig_text(struct kconn *c, const char *name, const char *text, size_t tlen,
			  char *why, size_t len);
/*
 * The server URL of the current context of kubeconfig @text (@len bytes; @name names it in
 * messages), as written: a remote secret's, whose server may also be a file:// directory (a
 * local cluster without an API server). 0, or -EINVAL with @why.
 */
int kconn_kubeconfig_server(const char *name, const char *text, size_t len, char *server,
			    size_t slen, char *why, size_t wlen);
/* Reads the token file again when there is one: 0, or -errno (the old token stays). */
int kconn_refresh_token(struct kconn *c);
/*
 * Has kconn_call on @c keep its connection open from one call to the next (a client making many
 * calls in a row, from one thread); kconn_free closes it. 0 or -ENOMEM.
 */
int kconn_keep_alive(struct kconn *c);
/* A deep copy of @s into @d (for another thread). 0 or -ENOMEM (then @d holds nothing). */
int kconn_copy(struct kconn *d, const struct kconn *s);
void kconn_free(struct kconn *c);
/*
 * The namespace ambit's own objects are in (the node Leases, the workload directory): @c's,
 * else KCONN_MESH_NAMESPACE (a kubeconfig whose context names none).
 */
#define KCONN_MESH_NAMESPACE "ambit-system"
const char *kconn_namespace(const struct kconn *c);

typedef void CURL;
struct curl_slist;

/*
 * Sets @h up to talk to the API server as @c says: the CA bundle, the client certificate, the
 * bearer token (its header appended to *@hdrs with Accept: application/json), no proxy, a 10 s
 * connect timeout. The caller sets the URL (kconn server + path), and frees *@hdrs after the
 * transfer. 0 or -ENOMEM.
 */
int kconn_curl_setup(const struct kconn *c, CURL *h, struct curl_slist **hdrs);
/* A response body collected by kconn_take_body (CURLOPT_WRITEFUNCTION), at most @max bytes. */
struct kconn_body {
	char *data; /* malloc'd, NUL-terminated */
	size_t len, max;
	bool over; /* the body passed @max: the transfer was cut */
};
size_t kconn_take_body(char *data, size_t size, size_t nmemb, void *arg);

/*
 * One request: @method @path (below c->server) with the JSON @body (or NULL), the response body
 * (at most @max bytes) into *@resp (malloc'd, NUL-terminated). The HTTP status, or 0 with the
 * transport's reason in @err. Blocking, up to @timeout_ms.
 */
long kconn_call(const struct kconn *c, const char *method, const char *path, const char *body,
		char **resp, size_t max, long timeout_ms, char *err, size_t errlen);
/*
 * Whether the DaemonSet @ns_name ("namespace/name") is gone or being deleted (an uninstall, not
 * an upgrade or a restart): 1, 0 when it is there, or -errno when the API server cannot say
 * (with its reason in @why): the caller then keeps what it put on the node.
 */
int kconn_daemonset_gone(const struct kconn *c, const char *ns_name, char *why, size_t len);

#endif
