// SPDX-License-Identifier: Apache-2.0
/*
 * The status of Gateway API objects as Istio's gateway controller writes it (API_SEMANTICS.md
 * §7): a Gateway of class istio's conditions (Accepted, Programmed), addresses and listeners
 * (supportedKinds, attachedRoutes, Accepted, Conflicted, Programmed, ResolvedRefs); a route's
 * parents (Accepted, ResolvedRefs) for every parentRef naming such a Gateway, and for a mesh
 * (GAMMA) parent, a Service or ServiceEntry, also ResolvedWaypoints.
 * Reasons and messages are the spec's and Istio's. Attachment is gwattach.c's, as the
 * gateway's compiler uses it. No transition times: nothing here remembers them.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "compile_priv.h"

#define CONTROLLER "istio.io/gateway-controller"

cJSON *l7_status_condition(cJSON *list, const char *type, bool status, const char *reason,
			   const char *message)
{
	cJSON *c = cJSON_CreateObject();

	cJSON_AddStringToObject(c, "type", type);
	cJSON_AddStringToObject(c, "status", status ? "True" : "False");
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", message);
	cJSON_AddItemToArray(list, c);
	return c;
}

cJSON *l7_authz_status(const struct config *cfg, const char *ns, const char *name)
{
	char reason[64], msg[1024];
	cJSON *st, *conds;
	bool ok;

	for (size_t i = 0; cfg && ns && name && i < cfg->n_authorization_policies; i++) {
		const struct config_authorization_policy *p = &cfg->authorization_policies[i];

		if (strcmp(p->meta.namespace, ns) || strcmp(p->meta.name, name) ||
		    !config_authz_ztunnel_condition(p, &ok, reason, sizeof(reason), msg,
						    sizeof(msg)))
			continue;
		st = cJSON_CreateObject();
		conds = st ? cJSON_AddArrayToObject(st, "conditions") : NULL;
		if (!conds || !l7_status_condition(conds, "ZtunnelAccepted", ok, reason, msg)) {
			cJSON_Delete(st);
			return NULL;
		}
		return st;
	}
	return NULL;
}

/*
 * Why listener @l's certificate does not resolve, into @why; true when it does. As the
 * gateway's compiler: the first certificateRef, a Secret of the Gateway's namespace with
 * tls.crt and tls.key.
 */
static bool cert_resolves(const struct config *cfg, const struct config_k8s_gateway *gw,
			  const struct config_gw_listener *l, const char **reason, char *why,
			  size_t len)
{
	const struct config_gw_cert_ref *r = l->n_cert_refs ? &l->cert_refs[0] : NULL;
	const struct config_secret *s;
	const char *ns;

	*reason = "InvalidCertificateRef";
	if (!r) {
		snprintf(why, len, "an HTTPS listener needs tls.certificateRefs");
		return false;
	}
	if (*r->group || strcmp(r->kind, "Secret")) {
		snprintf(why, len, "certificateRefs[0] is a %s of group \"%s\": only Secrets",
			 r->kind, r->group);
		return false;
	}
	if (!l7_gwapi_cert_granted(cfg, gw, r)) {
		*reason = "RefNotPermitted";
		snprintf(why, len,
			 "Secret %s/%s is in another namespace and no ReferenceGrant there allows "
			 "it",
			 r->namespace, r->name);
		return false;
	}
	ns = r->namespace ? r->namespace : gw->meta.namespace;
	s = config_secret_of(cfg, ns, r->name);
	if (!s) {
		snprintf(why, len, "Secret %s/%s does not exist", ns, r->name);
		return false;
	}
	if (!config_secret_get(s, CONFIG_SECRET_TLS_CRT) ||
	    !config_secret_get(s, CONFIG_SECRET_TLS_KEY)) {
		snprintf(why, len, "Secret %s/%s has no tls.crt and tls.key", ns, r->name);
		return false;
	}
	return true;
}

/* Whether an earlier listener of @gw takes @l's port with the other kind (plain or TLS). */
static bool conflicted(const struct config_k8s_gateway *gw, size_t i)
{
	enum l7_gwapi_listener_kind k = l7_gwapi_listener_kind(&gw->listeners[i]);

	for (size_t j = 0; j < i; j++) {
		enum l7_gwapi_listener_kind o = l7_gwapi_listener_kind(&gw->listeners[j]);

		if (gw->listeners[j].port == gw->listeners[i].port && o != L7_GWL_UNSUPPORTED &&
		    k != L7_GWL_UNSUPPORTED && o != k)
			return true;
	}
	return false;
}

static size_t attached_routes(const struct config *cfg, const struct config_k8s_gateway *gw,
			      const struct config_gw_listener *l)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_http_routes; i++)
		n += l7_gwapi_attached(cfg, &cfg->http_routes[i], gw, l) == L7_GWA_ATTACHED;
	for (size_t i = 0; i < cfg->n_grpc_routes; i++)
		n += l7_gwapi_attached(cfg, &cfg->grpc_routes[i], gw, l) == L7_GWA_ATTACHED;
	for (size_t i = 0; i < cfg->n_tls_routes; i++)
		n += l7_gwapi_attached(cfg, &cfg->tls_routes[i], gw, l) == L7_GWA_ATTACHED;
	for (size_t i = 0; i < cfg->n_tcp_routes; i++)
		n += l7_gwapi_attached(cfg, &cfg->tcp_routes[i], gw, l) == L7_GWA_ATTACHED;
	return n;
}

static void supported_kinds(cJSON *o, const struct config_gw_listener *l)
{
	static const char *const kinds[] = {"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"};
	cJSON *list = cJSON_AddArrayToObject(o, "supportedKinds");

	for (size_t i = 0; i < 4; i++) {
		cJSON *k;

		if (!l7_gwapi_kind_allowed(l, kinds[i]))
			continue;
		k = cJSON_CreateObject();
		cJSON_AddStringToObject(k, "group", CONFIG_GW_GROUP);
		cJSON_AddStringToObject(k, "kind", kinds[i]);
		cJSON_AddItemToArray(list, k);
	}
}

/* Listener @i of @gw; true when it is programmed. */
static bool listener_status(cJSON *list, const struct config *cfg,
			    const struct config_k8s_gateway *gw, size_t i)
{
	const struct config_gw_listener *l = &gw->listeners[i];
	enum l7_gwapi_listener_kind kind = l7_gwapi_listener_kind(l);
	cJSON *o = cJSON_CreateObject(), *conds;
	const char *reason = "ResolvedRefs";
	char why[512] = "No errors found";
	bool refs = true, accepted = kind != L7_GWL_UNSUPPORTED, conflict = conflicted(gw, i);

	cJSON_AddItemToArray(list, o);
	cJSON_AddStringToObject(o, "name", l->name);
	supported_kinds(o, l);
	cJSON_AddNumberToObject(o, "attachedRoutes",
				accepted ? (double)attached_routes(cfg, gw, l) : 0);
	conds = cJSON_AddArrayToObject(o, "conditions");
	if (!accepted) {
		snprintf(why, sizeof(why), "protocol %s%s%s is not served by this gateway",
			 l->protocol, l->tls_mode ? " with tls mode " : "",
			 l->tls_mode ? l->tls_mode : "");
		l7_status_condition(conds, "Accepted", false, "UnsupportedProtocol", why);
	} else {
		l7_status_condition(conds, "Accepted", true, "Accepted", "No errors found");
	}
	l7_status_condition(
	    conds, "Conflicted", conflict, conflict ? "ProtocolConflict" : "NoConflicts",
	    conflict ? "another listener takes this port with the other of plaintext and TLS"
		     : "No errors found");
	if (kind == L7_GWL_HTTPS)
		refs = cert_resolves(cfg, gw, l, &reason, why, sizeof(why));
	if (accepted && l->allowed_kinds.n && !l7_gwapi_kind_allowed(l, "HTTPRoute") &&
	    !l7_gwapi_kind_allowed(l, "GRPCRoute") && !l7_gwapi_kind_allowed(l, "TLSRoute") &&
	    !l7_gwapi_kind_allowed(l, "TCPRoute")) {
		refs = false;
		reason = "InvalidRouteKinds";
		snprintf(why, sizeof(why), "allowedRoutes.kinds names no kind this listener takes");
	}
	l7_status_condition(conds, "ResolvedRefs", refs, refs ? "ResolvedRefs" : reason,
			    refs ? "No errors found" : why);
	accepted = accepted && refs && !conflict;
	l7_status_condition(conds, "Programmed", accepted, accepted ? "Programmed" : "Invalid",
			    accepted ? "No errors found" : why);
	return accepted;
}

/*
 * A Gateway's status.addresses: @address (NULL: none), an IPAddress when it is one (its Service's
 * balancer address, as Istio writes it), else a Hostname (the Service's).
 */
static void add_address(cJSON *st, const char *address)
{
	struct ipaddr ip;
	cJSON *a;

	if (!address || !(a = cJSON_CreateObject()))
		return;
	cJSON_AddStringToObject(a, "type",
				ipaddr_parse_addr(address, &ip) ? "Hostname" : "IPAddress");
	cJSON_AddStringToObject(a, "value", address);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "addresses"), a);
}

cJSON *l7_gwapi_east_west_status(const struct config_k8s_gateway *gw, const char *address,
				 const char *not_running)
{
	cJSON *st = cJSON_CreateObject(), *conds, *ls;
	char msg[600];
	bool served = false;

	if (!st)
		return NULL;
	add_address(st, address);
	conds = cJSON_AddArrayToObject(st, "conditions");
	ls = cJSON_AddArrayToObject(st, "listeners");
	/* Its one kind of listener: HBONE on 15008, the outer tunnel of double HBONE. */
	for (size_t i = 0; i < gw->n_listeners; i++) {
		const struct config_gw_listener *l = &gw->listeners[i];
		bool ok = l->protocol && !strcmp(l->protocol, "HBONE") && l->port == 15008;
		cJSON *one = cJSON_CreateObject(), *lc;

		served |= ok;
		cJSON_AddStringToObject(one, "name", l->name ? l->name : "");
		cJSON_AddArrayToObject(one, "supportedKinds");
		cJSON_AddNumberToObject(one, "attachedRoutes", 0);
		lc = cJSON_AddArrayToObject(one, "conditions");
		snprintf(msg, sizeof(msg),
			 "an east-west gateway serves HBONE on 15008, not %s on %u",
			 l->protocol ? l->protocol : "?", l->port);
		l7_status_condition(lc, "Accepted", ok, ok ? "Accepted" : "UnsupportedProtocol",
				    ok ? "No errors found" : msg);
		l7_status_condition(lc, "Programmed", ok, ok ? "Programmed" : "Invalid",
				    ok ? "No errors found" : msg);
		cJSON_AddItemToArray(ls, one);
	}
	l7_status_condition(conds, "Accepted", true, "Accepted", "Resource accepted");
	snprintf(msg, sizeof(msg),
		 "Resource programmed, assigned to service(s) %s.%s.svc.cluster.local:15008",
		 gw->meta.name, gw->meta.namespace);
	l7_status_condition(conds, "Programmed", served && !not_running,
			    !served	  ? "Invalid"
			    : not_running ? "Pending"
					  : "Programmed",
			    !served	  ? "no HBONE listener on 15008"
			    : not_running ? not_running
					  : msg);
	return st;
}

void l7_gwapi_gateway_address(const struct config *cfg, const struct config_k8s_gateway *gw,
			      char *out, size_t len)
{
	const bool ew = gw->class_name && !strcmp(gw->class_name, CONFIG_EASTWEST_CLASS);
	char name[300];

	/* An east-west gateway's Service is the Gateway's own name; class istio's <name>-istio. */
	snprintf(name, sizeof(name), "%s%s", gw->meta.name, ew ? "" : "-istio");
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct config_service *s = &cfg->services[i];

		if (s->lb_ingress.n && !strcmp(s->meta.namespace, gw->meta.namespace) &&
		    !strcmp(s->meta.name, name)) {
			snprintf(out, len, "%s", s->lb_ingress.items[0]);
			return;
		}
	}
	snprintf(out, len, "%s.%s.svc.cluster.local", name, gw->meta.namespace);
}

cJSON *l7_gwapi_gateway_status(const struct config *cfg, const struct config_k8s_gateway *gw,
			       const char *address, const char *not_running)
{
	cJSON *st = cJSON_CreateObject(), *conds, *listeners;
	size_t programmed = 0, accepted = 0;
	char msg[512];

	if (!st)
		return NULL;
	add_address(st, address);
	conds = cJSON_AddArrayToObject(st, "conditions");
	listeners = cJSON_CreateArray();
	for (size_t i = 0; i < gw->n_listeners; i++) {
		programmed += listener_status(listeners, cfg, gw, i);
		accepted += l7_gwapi_listener_kind(&gw->listeners[i]) != L7_GWL_UNSUPPORTED;
	}
	if (accepted)
		l7_status_condition(conds, "Accepted", true, "Accepted", "Resource accepted");
	else
		l7_status_condition(conds, "Accepted", false, "ListenersNotValid",
				    "no listener has a protocol this gateway serves");
	if (not_running)
		l7_status_condition(conds, "Programmed", false, "Pending", not_running);
	else if (!programmed)
		l7_status_condition(conds, "Programmed", false, "Invalid",
				    "no listener is programmed");
	else {
		snprintf(msg, sizeof(msg), "Resource programmed, assigned to service(s) %s",
			 address ? address : "(none)");
		l7_status_condition(conds, "Programmed", true, "Programmed", msg);
	}
	cJSON_AddItemToObject(st, "listeners", listeners);
	return st;
}

/*
 * Whether every backend of @r resolves, as the compilers judge it (l7_backend_ref_check;
 * @gateway: a Gateway parent's, where another namespace's needs a ReferenceGrant); else the
 * first that does not, its reason into @reason and why into @why.
 */
static bool backends_resolve(const struct config *cfg, const struct config_gw_route *r,
			     bool gateway, const char **reason, char *why, size_t len)
{
	for (size_t i = 0; i < r->n_rules; i++)
		for (size_t k = 0; k < r->rules[i].n_backends; k++) {
			const struct config_backend_ref *b = &r->rules[i].backends[k];
			const char *ns = b->namespace ? b->namespace : r->meta.namespace;
			enum l7_backend_ref v = l7_backend_ref_check(cfg, r, b, gateway);

			*reason = l7_backend_ref_reason(v);
			if (v == L7_BACKEND_INVALID_KIND)
				snprintf(why, len, "backendRef %s of group \"%s\" is not supported",
					 b->kind, b->group);
			else if (v == L7_BACKEND_NOT_PERMITTED)
				snprintf(why, len,
					 "backendRef %s %s/%s is in another namespace and no "
					 "ReferenceGrant there allows it, so it is refused",
					 b->kind, ns, b->name);
			else if (v == L7_BACKEND_NOT_FOUND && !strcmp(b->kind, "Service"))
				snprintf(why, len, "backend(s) not found: Service %s/%s", ns,
					 b->name);
			else if (v == L7_BACKEND_NOT_FOUND)
				snprintf(why, len, "backend(s) not found: Hostname %s", b->name);
			if (v != L7_BACKEND_OK)
				return false;
		}
	return true;
}

/* A parent's status entry: the parentRef as the route wrote it, and its conditions. */
static cJSON *parent_entry(const struct config_parent_ref *p, cJSON **conds)
{
	cJSON *o = cJSON_CreateObject(), *ref;

	ref = cJSON_AddObjectToObject(o, "parentRef");
	/* The group as the API server holds it: the CRD's default when it was left out. */
	cJSON_AddStringToObject(ref, "group",
				p->service_group_defaulted ? CONFIG_GW_GROUP : p->group);
	cJSON_AddStringToObject(ref, "kind", p->kind);
	cJSON_AddStringToObject(ref, "name", p->name);
	if (p->namespace)
		cJSON_AddStringToObject(ref, "namespace", p->namespace);
	if (p->section_name)
		cJSON_AddStringToObject(ref, "sectionName", p->section_name);
	if (p->port)
		cJSON_AddNumberToObject(ref, "port", p->port);
	cJSON_AddStringToObject(o, "controllerName", CONTROLLER);
	*conds = cJSON_AddArrayToObject(o, "conditions");
	return o;
}

/* A Gateway parent of class istio: attachment to its listeners, as its compiler decides. */
static cJSON *gateway_parent(const struct config *cfg, const struct config_gw_route *r,
			     const struct config_parent_ref *p, const struct config_k8s_gateway *gw)
{
	const char *reason = "NoMatchingParent", *rreason = "ResolvedRefs";
	char why[512] = "", rwhy[512] = "All references resolved";
	bool named = false, ok = false, refs;
	int worst = L7_GWA_NOT_NAMED;
	cJSON *o, *conds;

	for (size_t i = 0; i < gw->n_listeners && !ok; i++) {
		int a;

		if (!l7_gwapi_ref_names(r, p, gw, &gw->listeners[i]))
			continue;
		named = true;
		a = l7_gwapi_attached(cfg, r, gw, &gw->listeners[i]);
		ok = a == L7_GWA_ATTACHED;
		if (a == L7_GWA_NOT_ALLOWED ||
		    (a == L7_GWA_NO_HOSTNAME && worst != L7_GWA_NOT_ALLOWED))
			worst = a;
	}
	if (!named)
		snprintf(why, sizeof(why), "no listener matches sectionName %s, port %u",
			 p->section_name ? p->section_name : "(any)", p->port);
	else if (!ok && worst == L7_GWA_NOT_ALLOWED) {
		reason = "NotAllowedByListeners";
		snprintf(why, sizeof(why), "no listener allows routes of kind %s from namespace %s",
			 l7_gwapi_route_kind(r), r->meta.namespace);
	} else if (!ok) {
		reason = "NoMatchingListenerHostname";
		snprintf(why, sizeof(why), "no hostname of the route meets a listener's");
	}
	refs = backends_resolve(cfg, r, true, &rreason, rwhy, sizeof(rwhy));
	o = parent_entry(p, &conds);
	l7_status_condition(conds, "Accepted", ok, ok ? "Accepted" : reason,
			    ok ? "Route was valid" : why);
	l7_status_condition(conds, "ResolvedRefs", refs, refs ? "ResolvedRefs" : rreason, rwhy);
	return o;
}

/*
 * A mesh parent (GAMMA): a core Service, or a ServiceEntry, of @ns. As Istio's: Accepted when
 * it exists ("parent service: ... not found" else); ResolvedRefs from the backends; and, as
 * with ambient on, ResolvedWaypoints, which says whether a waypoint serves the parent (Istio
 * leaves it True and only changes its message; here it is False when none does, since the
 * route then applies nowhere). A route of another namespace than the parent's or its
 * waypoint's is not one a waypoint serves (the waypoint compiler's bound_port).
 */
static cJSON *mesh_parent(const struct config *cfg, const struct config_gw_route *r,
			  const struct config_parent_ref *p, bool entry)
{
	const char *ns = p->namespace ? p->namespace : r->meta.namespace;
	const struct config_labels *labels = NULL;
	const struct config_k8s_gateway *wp = NULL;
	const char *rreason = "ResolvedRefs", *wreason = "NoMatchingParent";
	char rwhy[512] = "All references resolved", wwhy[1200] = "parent not found", why[600];
	bool refs, ok;
	cJSON *o, *conds;

	for (size_t i = 0; !entry && !labels && i < cfg->n_services; i++)
		if (!strcmp(cfg->services[i].meta.namespace, ns) &&
		    !strcmp(cfg->services[i].meta.name, p->name))
			labels = &cfg->services[i].meta.labels;
	for (size_t i = 0; entry && !labels && i < cfg->n_service_entries; i++)
		if (!strcmp(cfg->service_entries[i].meta.namespace, ns) &&
		    !strcmp(cfg->service_entries[i].meta.name, p->name))
			labels = &cfg->service_entries[i].meta.labels;
	if (labels)
		wp = l7_object_waypoint(cfg, ns, labels, &wreason, wwhy, sizeof(wwhy));
	ok = labels != NULL;
	if (!ok)
		snprintf(why, sizeof(why), "parent %s: \"%s\" not found",
			 entry ? "service entry" : "service", p->name);
	else if (strcmp(r->meta.namespace, ns) &&
		 (!wp || strcmp(r->meta.namespace, wp->meta.namespace))) {
		ok = false;
		snprintf(why, sizeof(why),
			 "a route of namespace %s on %s %s/%s (a consumer route) is not served: "
			 "a waypoint takes the routes of its parent's namespace and its own",
			 r->meta.namespace, entry ? "ServiceEntry" : "Service", ns, p->name);
	}
	refs = backends_resolve(cfg, r, false, &rreason, rwhy, sizeof(rwhy));
	o = parent_entry(p, &conds);
	l7_status_condition(conds, "Accepted", ok,
			    ok	     ? "Accepted"
			    : labels ? "NotAllowedByListeners"
				     : "NoMatchingParent",
			    ok ? "Route was valid" : why);
	l7_status_condition(conds, "ResolvedRefs", refs, refs ? "ResolvedRefs" : rreason, rwhy);
	l7_status_condition(conds, "ResolvedWaypoints", wp != NULL,
			    wp ? "ResolvedWaypoints" : wreason,
			    wp ? "All waypoints resolved" : wwhy);
	return o;
}

/*
 * One parentRef's status, or NULL when it is none of Istio's to report on: a Gateway that does
 * not exist or is of another class (analyze names the missing: IST0101), a kind Istio does not
 * serve (it skips those as another controller's).
 */
static cJSON *parent_status(const struct config *cfg, const struct config_gw_route *r,
			    const struct config_parent_ref *p)
{
	const char *ns = p->namespace ? p->namespace : r->meta.namespace;
	const struct config_k8s_gateway *gw;
	cJSON *o, *conds;

	if (!*p->group && !strcmp(p->kind, "Service"))
		return r->l4 ? NULL : mesh_parent(cfg, r, p, false);
	if (!strcmp(p->group, "networking.istio.io") && !strcmp(p->kind, "ServiceEntry"))
		return r->l4 ? NULL : mesh_parent(cfg, r, p, true);
	if (strcmp(p->group, CONFIG_GW_GROUP) || strcmp(p->kind, "Gateway"))
		return NULL;
	gw = l7_gwapi_gateway(cfg, ns, p->name);
	if (l7_gwapi_istio_class(gw))
		return gateway_parent(cfg, r, p, gw);
	if (!gw || !gw->class_name || strcmp(gw->class_name, CONFIG_WAYPOINT_CLASS))
		return NULL;
	/* Istio attaches routes to a waypoint's Gateway; ambit's waypoints take them by Service. */
	o = parent_entry(p, &conds);
	l7_status_condition(
	    conds, "Accepted", false, "NoMatchingParent",
	    "ambit's waypoints serve routes attached to a Service or ServiceEntry bound to "
	    "them, not to the waypoint's Gateway: attach the route to each Service "
	    "(parentRefs kind Service, group \"\")");
	l7_status_condition(conds, "ResolvedRefs", true, "ResolvedRefs", "All references resolved");
	return o;
}

cJSON *l7_gwapi_route_status(const struct config *cfg, const struct config_gw_route *r)
{
	cJSON *st = cJSON_CreateObject(), *parents = cJSON_AddArrayToObject(st, "parents");

	for (size_t i = 0; parents && i < r->n_parent_refs; i++) {
		cJSON *p = parent_status(cfg, r, &r->parent_refs[i]);

		if (p)
			cJSON_AddItemToArray(parents, p);
	}
	return st;
}
