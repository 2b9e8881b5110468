/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status the waypoint controller writes back for Gateway API objects of class istio, as
 * Istio's gateway controller does (l7/gwstatus.c computes it, as `ambitctl get` shows it
 * locally): a Gateway's conditions, address and listeners (supportedKinds, attachedRoutes,
 * Accepted, Conflicted, ResolvedRefs, Programmed), and each route's parents naming such a
 * Gateway (Accepted, ResolvedRefs) or a Service or ServiceEntry, the waypoint's case (also
 * ResolvedWaypoints). What they depend on (the routes, Namespaces for allowedRoutes selectors
 * and use-waypoint labels, Services for backendRefs and parents, ServiceEntries) comes from the
 * controller's watches (wps_res), loaded as the agent loads them; whether a certificateRef is a
 * servable kubernetes.io/tls Secret from the CA (wps_certificate_refs), or, with no CA to ask,
 * from a watch of those Secrets.
 */
#ifndef AMBIT_AGENT_WPSTATUS_H
#define AMBIT_AGENT_WPSTATUS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "k8s/kwatch.h"

/*
 * The resources watched besides Gateways: the routes, ReferenceGrants, Namespaces, Services,
 * ServiceEntries, TLS Secrets, AuthorizationPolicies.
 */
extern const struct kwatch_res wps_res[];
#define WPS_SECRETS_PATH "/api/v1/secrets"
extern const size_t wps_n_res;

/*
 * A config of the objects of @maps (@n cJSON objects, each "key" -> an object as served), each
 * loaded on its own, so that one the loader refuses leaves out only itself. NULL: ENOMEM.
 */
struct config *wps_config(const cJSON *const *maps, size_t n);
void wps_config_free(struct config *cfg);

/*
 * The status of Gateway @gw (as served) of class istio or istio-east-west in @cfg (each as
 * Istio writes it: l7_gwapi_gateway_status, l7_gwapi_east_west_status), stamped with its generation
 * and @now on every condition; @not_running says why its deployment is not in place (NULL:
 * it is). NULL when @cfg does not have it.
 */
cJSON *wps_gateway_status(const struct config *cfg, const cJSON *gw, const char *not_running,
			  const char *now);

/*
 * Route @obj (as served) with its status as it should be: the parents other controllers wrote
 * kept, this controller's replaced by what @cfg says. NULL when its status already says that
 * (the transition times aside), or @cfg does not have the route.
 */
cJSON *wps_route_update(const struct config *cfg, const cJSON *obj, const char *now);
/*
 * Every condition under status @o (at any depth) stamped as the API wants them:
 * observedGeneration @gen and lastTransitionTime @now.
 */
void wps_stamp(cJSON *o, double gen, const char *now);
/*
 * AuthorizationPolicy @obj's status (as served) as istiod writes it in an ambient mesh: its
 * ZtunnelAccepted condition (config_authz_ztunnel_condition), stamped with its generation and
 * @now. NULL when @cfg does not have it or it has none (a targetRefs policy).
 */
cJSON *wps_policy_status(const struct config *cfg, const cJSON *obj, const char *now);
/*
 * Without a grant on Secrets (deploy/ambit.yaml) the controller asks the CA whether its
 * Gateways' certificateRefs are servable certificates (caserver.h, /v1/certificate-status):
 * the Secrets the Gateways of @gws (a cJSON object of Gateways as served) name, as a new array
 * of "namespace/name" strings, each once (NULL: ENOMEM); and the CA's answer @status
 * ("namespace/name" -> "" or why not) put in @cfg as a Secret with (empty) tls.crt and tls.key
 * for each servable one, which is all the status looks at. 0 or -ENOMEM.
 */
cJSON *wps_certificate_refs(const cJSON *gws);
int wps_add_certificates(struct config *cfg, const cJSON *status);
/* Whether two statuses say the same, lastTransitionTime aside. */
bool wps_same_status(const cJSON *a, const cJSON *b);

#endif
