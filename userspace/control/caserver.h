/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mesh CA as a service of its own (issue 10 §3; `ambit-agent --ca-server`, a Deployment):
 * it alone holds the root (from a Secret only it can read) and signs, over TLS, certificate
 * requests from node agents only for identities of pods scheduled on the requesting node. So a
 * compromised node can mint only the identities of the pods it already runs, and workload keys
 * never leave their node (the agent sends a CSR).
 *
 *   POST /v1/sign   Authorization: Bearer <the node agent's service-account token>
 *                   {"pod": "<namespace>/<name>", "csr": "<PEM>"}
 *   200 {"identity": "spiffe://...", "certificate": "<PEM>", "root": "<PEM>",
 *        "notBefore": <unix s>, "notAfter": <unix s>}
 *   4xx/5xx {"error": "<why>"}
 *
 * The token is checked with a TokenReview: it must be the agents' service account's
 * (system:serviceaccount:<agent-sa>) and bound to a pod on a node (the node-name the API server
 * puts in the review's user.extra); the pod named is read from the API server and must be
 * scheduled on that node; the identity is its service account's. The server presents a
 * certificate for its DNS name, issued by the root it holds, which agents verify with the root.
 *
 * It also publishes the workload directory (wdir.h) in the agents' namespace (that of
 * --agent-sa): the one component that watches every Pod, as istiod is for Istio's ztunnels.
 */
#ifndef AMBIT_AGENT_CASERVER_H
#define AMBIT_AGENT_CASERVER_H

#include <stddef.h>

struct ambit_ca;
struct kconn;
struct cJSON;

#define CASERVER_PORT 15012
#define CASERVER_CERT_TTL_S (24 * 3600)
#define CASERVER_WATCH_S 300 /* the directory's WATCH requests (wdir.h) */

/*
 * The decision, from the TokenReview's response @review and the pod's object @pod (NULL when
 * the API server has none): 0 with the SPIFFE ID in @id, or the HTTP status to refuse with
 * (401, 403) and the reason in @why. @agent_sa is "<namespace>/<name>" of the agents' account.
 */
int caserver_decide(const struct cJSON *review, const struct cJSON *pod, const char *pod_ref,
		    const char *agent_sa, const char *trust_domain, char *id, size_t idlen,
		    char *why, size_t len);

struct caserver_opts {
	const char *listen;	  /* host:port */
	const char *dns_name;	  /* the name agents reach it by (its certificate's) */
	const char *agent_sa;	  /* "<namespace>/<name>" */
	const char *trust_domain; /* cluster.local */
	struct ambit_ca *ca;	  /* borrowed */
	const struct kconn *conn; /* the API server (TokenReview, pods), borrowed */
};

/* Serves until SIGTERM/SIGINT. 0, or -errno when it cannot start. */
int caserver_run(const struct caserver_opts *o);
/* `ambit-agent --ca-server ARGS` (@argv[0] is "--ca-server"): its exit status. */
int caserver_main(int argc, char **argv);

/*
 * The agent's side: signs @csr_pem for pod @pod_ref ("ns/name") at the CA server @url
 * (https://host:port), verified with @root_pem, authenticated with @token. 0 with the
 * certificate (malloc'd) and its validity; else -errno with the reason in @why.
 */
int caserver_request(const char *url, const char *root_pem, const char *token, const char *pod_ref,
		     const char *csr_pem, char **cert_pem, long *not_before, long *not_after,
		     char *why, size_t len);

#endif
