/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the L7 compiler (the files of l7/). */
#ifndef AMBIT_L7_COMPILE_PRIV_H
#define AMBIT_L7_COMPILE_PRIV_H

#include "ambit/l7.h"
#include "wire/l7_model.h"

/* What route compilation needs about the service being compiled and the world around it. */
struct l7_ctx {
	const struct l7_inputs *in;
	const struct l7_waypoint *wp;
	struct l7_service *svc;
	/* A gateway's routes: a backendRef to another namespace needs a ReferenceGrant. */
	bool own_ns_backends;
};

/* "name.ns.svc.cluster.local" for a short @host written in namespace @ns, else @host. */
void l7_fqdn(const char *host, const char *ns, char *out, size_t len);
/* "*.foo" covers "a.foo"; otherwise names must be equal. */
bool l7_host_covers(const char *pattern, const char *host);
/* Whether targetRef @t names a @kind of API group @group ("" for the core group). */
bool l7_ref_is(const struct config_target_ref *t, const char *group, const char *kind);
/* A Service or ServiceEntry host of the config. */
bool l7_host_known(const struct config *cfg, const char *fqdn);
/* Istio's tie-break: older creationTimestamp first, then namespace/name. */
int l7_meta_cmp(const struct config_meta *a, const struct config_meta *b);

/* routes.c: the route table of ctx->svc (VirtualService, Gateway API or default). */
int l7_compile_routes(struct l7_ctx *ctx);
/* One route of VirtualService @vs's http rule @vr (index @rule) for match block @m or NULL. */
int l7_vs_route(struct l7_ctx *ctx, const struct config_virtual_service *vs,
		const struct config_vs_route *vr, size_t rule, const struct config_route_match *m,
		struct l7_route *r);
/* Destination @d of a rule of a VirtualService of namespace @ns, with @weight, into @out. */
int l7_vs_dest(struct l7_ctx *ctx, const struct config_destination *d, const char *ns,
	       uint32_t weight, struct l7_destination *out);
/* Room for @more routes (zeroed) in @s. 0 or -ENOMEM. */
int l7_grow_routes(struct l7_service *s, size_t more);
/* A gateway proxy's model (gateway.c) into @c, whose services have room for every Service. */
int l7_compile_gateway(const struct l7_inputs *in, const struct l7_bindings *b,
		       const struct l7_waypoint *wp, struct l7_config *c);
/*
 * gateway_wp.c: when a gateway's destination @s (compiled into @out) is bound to a
 * waypoint of @b and labelled istio.io/ingress-use-waypoint, its endpoints become the VIP's
 * pseudo-endpoint (struct l7_service via_waypoint) and @c's tunnels gain the VIP. 0 or -ENOMEM.
 */
int l7_gateway_via_waypoint(const struct l7_inputs *in, const struct l7_bindings *b,
			    const struct config_service *s, struct l7_service *out,
			    struct l7_config *c);
/* gateway.c: a `gateways:` list of an object of namespace @ns names @gw. */
bool l7_gateway_binds(const struct config_strings *refs, const char *ns,
		      const struct config_gateway *gw);
/* gateway.c: server host @sh ("[ns/]host") admits a VirtualService of @ns: its host part. */
const char *l7_gateway_server_host(const char *sh, const char *ns, const char *gw_ns);
/* The tls (PASSTHROUGH) or tcp rules bound to server @srv of @gw, as tcp routes of @own on
 * @listener. 0 or -ENOMEM. */
int l7_gateway_l4_routes(const struct l7_inputs *in, const struct l7_waypoint *wp,
			 struct l7_service *own, const struct config_gateway *gw,
			 const struct config_gateway_server *srv, uint16_t listener);
/* @own's tcp routes by listener, the most specific SNI first (Envoy's server_names). */
void l7_gateway_l4_sort(struct l7_service *own);
/* gwapi.c: Gateway API routes bound to ctx->svc, in precedence order; 0 when none bind. */
int l7_compile_gateway_api(struct l7_ctx *ctx, size_t *n_bound);

/*
 * gwapi.c: the rules of @routes as the gateway service ctx->svc's routes, appended in the
 * spec's precedence order (bound on any port: the caller restricts them). 0 or -ENOMEM.
 */
int l7_gwapi_append_routes(struct l7_ctx *ctx, const struct config_gw_route *const *routes,
			   size_t n);
/* A backendRef of route @r as a model destination (its Service's FQDN, port, weight). */
int l7_gwapi_backend_dest(struct l7_ctx *ctx, const struct config_gw_route *r,
			  const struct config_backend_ref *b, struct l7_destination *d);
/*
 * gateway_tcp.c: the TLSRoutes (a Passthrough TLS listener: SNI routes on the hostnames
 * where route and listener meet) or TCPRoutes (a TCP listener) attached to listener @l of @gw,
 * as @own's tcp routes on @l's port, oldest route first; its first rule's backends.
 */
int l7_gwapi_l4_routes(const struct l7_inputs *in, const struct l7_waypoint *wp,
		       struct l7_service *own, const struct config_k8s_gateway *gw,
		       const struct config_gw_listener *l);

/* gwattach.c: Gateway API Gateways of class istio, their listeners and routes. */
enum l7_gwapi_listener_kind {
	L7_GWL_UNSUPPORTED = 0, /* TLS terminated, UDP, others: not served */
	L7_GWL_HTTP,
	L7_GWL_HTTPS, /* terminated with its certificateRefs */
	L7_GWL_TLS,   /* TLS, tls.mode Passthrough: TLSRoutes by SNI */
	L7_GWL_TCP,   /* TCP: TCPRoutes */
};
enum l7_gwapi_attach {
	L7_GWA_ATTACHED = 0,
	L7_GWA_NOT_NAMED,   /* no parentRef names this listener */
	L7_GWA_NOT_ALLOWED, /* allowedRoutes (namespace or kind) or the listener's protocol */
	L7_GWA_NO_HOSTNAME, /* no hostname of the route meets the listener's */
};
bool l7_gwapi_istio_class(const struct config_k8s_gateway *gw);
enum l7_gwapi_listener_kind l7_gwapi_listener_kind(const struct config_gw_listener *l);
bool l7_gwapi_kind_allowed(const struct config_gw_listener *l, const char *kind);
/* Certificate @ref of Gateway @gw: in its namespace, or another's ReferenceGrant allows it. */
bool l7_gwapi_cert_granted(const struct config *cfg, const struct config_k8s_gateway *gw,
			   const struct config_gw_cert_ref *ref);
bool l7_gwapi_namespace_allowed(const struct config *cfg, const struct config_k8s_gateway *gw,
				const struct config_gw_listener *l, const char *ns);
/* Whether parentRef @p of @r names @gw, and with @l its listener @l (sectionName, port). */
bool l7_gwapi_ref_names(const struct config_gw_route *r, const struct config_parent_ref *p,
			const struct config_k8s_gateway *gw, const struct config_gw_listener *l);
size_t l7_gwapi_hostnames(const struct config_gw_listener *l, const struct config_gw_route *r,
			  char (*out)[256], size_t max);
/* Whether @r attaches to listener @l of @gw (an enum l7_gwapi_attach). */
int l7_gwapi_attached(const struct config *cfg, const struct config_gw_route *r,
		      const struct config_k8s_gateway *gw, const struct config_gw_listener *l);

/* A Secret item's PEM, malloc'd, or NULL (absent, empty, or out of memory). */
char *l7_pem_dup(const struct config_secret_item *it);
/*
 * Secret @name of namespace @ns read as istiod's SDS reads a TLS credential: the certificate
 * and key from tls.crt / tls.key (or cert / key), the CA from ca.crt (or cacert), else from
 * Secret <name>-cacert. Each NULL when absent (borrowed from @cfg).
 */
void l7_secret_tls(const struct config *cfg, const char *ns, const char *name,
		   const struct config_secret_item **crt, const struct config_secret_item **key,
		   const struct config_secret_item **ca);

/* compile.c: Service @s as a model service (ports, endpoints, policies, routes). */
int l7_compile_service(const struct l7_inputs *in, const struct l7_waypoint *wp,
		       const struct config_service *s, struct l7_service *out);
/*
 * How a policy attaches to a proxy (authz.c), for AuthorizationPolicy, RequestAuthentication
 * and the local rate limits alike: targetRefs to a Service bound to the waypoint, its Gateway,
 * or (root namespace) GatewayClass istio-waypoint; without targetRefs, a selector (none: every
 * workload) on a gateway's pods, in its namespace or the root one. With @workload_selector, a
 * selector also picks the workloads a waypoint serves: the services with an endpoint it selects
 * (an EnvoyFilter's workloadSelector, as a sidecar would have taken it).
 */
struct l7_attach {
	const char *ns;
	size_t n_refs;
	const struct config_target_ref *refs;
	bool has_selector;
	const struct config_labels *selector;
	bool workload_selector;
};
bool l7_attach_applies(const struct l7_attach *a, const struct l7_waypoint *wp,
		       const struct l7_config *c, const struct l7_service *s);
/* Appends @idx to *@list. 0 or -ENOMEM. */
int l7_add_index(uint32_t **list, size_t *n, uint32_t idx);
/* routes.c: a VirtualService match block as the model's. */
int l7_vs_match(const struct config_route_match *m, struct l7_match *out);
/*
 * authz.c: the index in @c of the Service @spec ("[ns/]host") names, a bound one or else
 * an aux one compiled now, its FQDN into @fqdn; -1 when no Service of the config is it (@fqdn
 * then the host as written); -ENOMEM.
 */
int l7_aux_service(const struct l7_inputs *in, const struct l7_waypoint *wp, struct l7_config *c,
		   const char *spec, char *fqdn, size_t len);
/* l7_tracing.c: the tracing of @wp and of its services' own Telemetry, into @c; JSON. */
int l7_compile_telemetry(const struct l7_inputs *in, const struct l7_waypoint *wp,
			 struct l7_config *c);
/* ratelimit.c: the local rate limits @wp enforces, onto the services of @c; their JSON. */
int l7_compile_ratelimits(const struct l7_inputs *in, const struct l7_waypoint *wp,
			  struct l7_config *c);
/* authz.c: the AuthorizationPolicies waypoint @wp enforces, onto the services of @c. */
int l7_compile_authz(const struct l7_inputs *in, const struct l7_waypoint *wp, struct l7_config *c);

#endif
