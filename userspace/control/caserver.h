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
 * It also serves the gateways' certificates, as istiod's SDS does (the CA alone reads Secrets
 * outside istio-system: no component on every node can read the root key):
 *
 *   POST /v1/credentials   Authorization: Bearer <the node agent's token>
 *                          {"pod": "<namespace>/<name>"}
 *   200 {"secrets": [<Secret>...], "refused": ["<why>"...]}
 *
 * for a gateway's pod (caserver_gateway_pod) scheduled on the requesting node (as for
 * signing): the kubernetes.io/tls Secrets its Gateway API Gateway's listeners name in
 * tls.certificateRefs, in the Gateway's namespace or another whose ReferenceGrant allows it, and
 * those the Istio Gateways selecting it name in tls.credentialName, in its namespace; never one
 * of the CA's own namespace, nor of another type. Each Secret carries tls.crt, tls.key and
 * ca.crt only.
 *
 * And it tells the waypoint controller (its service account, --controller-sa) whether the
 * Secrets its Gateways name are certificates a gateway can serve, for their status:
 *
 *   POST /v1/certificate-status   Authorization: Bearer <the controller's token>
 *                                 {"secrets": ["<namespace>/<name>"...]}  (at most 256)
 *   200 {"status": {"<namespace>/<name>": "" (yes) or "<why not>"...}}
 *
 * It also publishes the workload directory (wdir.h) in the agents' namespace (that of
 * --agent-sa): the one component that watches every Pod, as istiod is for Istio's ztunnels.
 */
#ifndef AMBIT_AGENT_CASERVER_H
#define AMBIT_AGENT_CASERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ambit_ca;
struct kconn;
struct cJSON;

#define CASERVER_PORT 15012
#define CASERVER_CERT_TTL_S (24 * 3600)
#define CASERVER_WATCH_S 300	/* the directory's WATCH requests (wdir.h) */
#define CASERVER_MAX_CHECKS 256 /* Secrets in one certificate-status request */
/*
 * How long the agent's and the controller's loops wait on a credentials or certificate-status
 * answer (asked again at their next round): the CA answers from a few API calls.
 */
#define CASERVER_ASK_MS 3000

/*
 * The decision, from the TokenReview's response @review and the pod's object @pod (NULL when
 * the API server has none): 0 with the SPIFFE ID in @id, or the HTTP status to refuse with
 * (401, 403) and the reason in @why. @agent_sa is "<namespace>/<name>" of the agents' account.
 */
int caserver_decide(const struct cJSON *review, const struct cJSON *pod, const char *pod_ref,
		    const char *agent_sa, const char *trust_domain, char *id, size_t idlen,
		    char *why, size_t len);

#define CASERVER_GATEWAY_LABEL "gateway.networking.k8s.io/gateway-name"

/*
 * Whether @pod (as served) is a gateway's or waypoint's, as the agents serve them: labelled
 * CASERVER_GATEWAY_LABEL (a Gateway API Gateway's deployment), or istio: ingressgateway or
 * egressgateway (Istio's gateways). Only such pods are served credentials.
 */
bool caserver_gateway_pod(const struct cJSON *pod);
/*
 * The Secrets gateway pod @pod may be served, appended to the array @refs as {"namespace",
 * "name"} (each once): the certificateRefs (core Secrets) of the listeners of Gateway API
 * Gateway @gw, when it is the pod's (its label CASERVER_GATEWAY_LABEL, its namespace); and the
 * tls.credentialName(s) of the Istio Gateways among @gateways (an array of objects as served)
 * whose selector selects the pod, in the pod's namespace (with <name>-cacert for the mutual
 * modes), as istiod's SDS serves them. 0 or -ENOMEM.
 */
int caserver_gateway_refs(const struct cJSON *pod, const struct cJSON *gw, struct cJSON *refs);
int caserver_istio_refs(const struct cJSON *pod, const struct cJSON *gateways, struct cJSON *refs);
/*
 * The tls.credentialNames (mode SIMPLE or MUTUAL; trafficPolicy, its portLevelSettings, the
 * subsets' and theirs) of the DestinationRules among @drs (objects as served) that apply to
 * gateway pod @pod's proxy (no workloadSelector; exported to its namespace), appended to @refs
 * in the pod's namespace with <name>-cacert, as istiod's SDS serves a gateway or waypoint its
 * namespace's Secrets; marked "generic": true (an Opaque Secret of cert, key and cacert may do).
 * Nothing for a pod that is no gateway's. 0 or -ENOMEM.
 */
int caserver_dr_refs(const struct cJSON *pod, const struct cJSON *drs, struct cJSON *refs);
/*
 * The cluster-wide LISTs the credentials answer reads (Istio Gateways, DestinationRules), kept
 * CASERVER_LIST_CACHE_MS: every gateway pod's agent asks every 15 s, so the CA lists each
 * kind at most once in that time, not once per pod. Secrets and ReferenceGrants are read at
 * each answer.
 */
#define CASERVER_LIST_CACHE_MS 5000
struct caserver_list_cache {
	pthread_mutex_t lock; /* PTHREAD_MUTEX_INITIALIZER */
	struct cJSON *obj;    /* the last good answer */
	uint64_t at_ms;	      /* when it came */
};
/*
 * A copy of @c's object when it came less than CASERVER_LIST_CACHE_MS before @now_ms; else
 * @fetch(@arg, @failed) asked (one caller at a time) and its answer kept unless *@failed. NULL
 * with *@failed on an error (nothing kept), or when the object is NULL.
 */
struct cJSON *caserver_list_cached(struct caserver_list_cache *c, uint64_t now_ms,
				   struct cJSON *(*fetch)(void *arg, bool *failed), void *arg,
				   bool *failed);
void caserver_list_cache_clear(struct caserver_list_cache *c);
/*
 * Whether a Gateway of namespace @gw_ns may use Secret @ns/@name: its own namespace's, or a
 * ReferenceGrant among @grants (objects as served; those of @ns count) allows it.
 */
bool caserver_ref_granted(const char *gw_ns, const char *ns, const char *name,
			  const struct cJSON *grants);
/*
 * Secret @secret (as served) as the CA hands it to an agent: 0 with @out a new object holding
 * its name, namespace, type and tls.crt, tls.key, ca.crt; with @generic (a ref so marked by
 * caserver_dr_refs) an Opaque Secret's cert, key, cacert instead. 403 (not kubernetes.io/tls,
 * nor such an Opaque Secret) or 500, with the reason in @why.
 */
int caserver_credential(const struct cJSON *secret, bool generic, struct cJSON **out, char *why,
			size_t len);

/*
 * Whether Secret @secret (as served; NULL: there is none) is a certificateRef a gateway can serve:
 * a kubernetes.io/tls Secret the agent's loader takes (a certificate and its key). 0, or 1 with
 * why not in @why ("does not exist", "is of type Opaque, ..."); -1: out of memory.
 */
int caserver_certificate_check(const struct cJSON *secret, char *why, size_t len);

struct caserver_opts {
	const char *listen;	   /* host:port */
	const char *dns_name;	   /* the name agents reach it by (its certificate's) */
	const char *agent_sa;	   /* "<namespace>/<name>" */
	const char *controller_sa; /* the waypoint controller's, "<namespace>/<name>" */
	const char *trust_domain;  /* cluster.local */
	struct ambit_ca *ca;	   /* borrowed */
	const struct kconn *conn;  /* the API server (TokenReview, pods), borrowed */
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

/*
 * The agent's side of /v1/credentials, for gateway pod @pod_ref ("ns/name") of this node: 0 with
 * @secrets the array of Secrets served and @refused that of the reasons for those not served
 * (NULL when none; both the caller's); else -errno (-EPERM: refused) with the reason in @why.
 */
int caserver_credentials(const char *url, const char *root_pem, const char *token,
			 const char *pod_ref, struct cJSON **secrets, struct cJSON **refused,
			 char *why, size_t len);

/*
 * The waypoint controller's side of /v1/certificate-status: 0 with @status the answer's object
 * ("namespace/name" -> "" or why not; the caller's) for the Secrets @names (an array of
 * "namespace/name"); else -errno (-EPERM: refused) with the reason in @why.
 */
int caserver_certificate_status(const char *url, const char *root_pem, const char *token,
				const struct cJSON *names, struct cJSON **status, char *why,
				size_t len);

#endif
