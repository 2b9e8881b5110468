/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 model: the one definition of what a waypoint receives, compiled by the agent from the
 * config (l7_compile) and carried in the waypoint's snapshot as "l7" (l7_to_json /
 * l7_from_json, decoded strictly). Also the waypoint bindings (l7_bindings_compute): which
 * waypoint, if any, takes the traffic addressed to each Service and pod, with Istio's
 * precedence (API_SEMANTICS.md §9); the ztunnel's snapshot carries the result per service and
 * workload. Host names are FQDNs; IPv4 addresses are in network byte order, ports host order.
 * docs/internals/l7-model.md describes the JSON.
 */
#ifndef AMBIT_L7_H
#define AMBIT_L7_H

#include "ambit/ipaddr.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/config.h"

struct cJSON;

/* ---- inputs: the workloads the agent knows, beside the config ---- */

struct l7_pod {
	const char *namespace, *name, *node, *service_account;
	const char *workload; /* its owning Deployment, or NULL: the pod is its own workload */
	uint32_t ip;
	const struct config_labels *labels;
	const struct config_pod_spec *spec; /* container ports (named targetPorts), or NULL */
	struct ipaddr ip6; /* its IPv6 address in a dual-stack cluster (family 0: none) */
};

struct l7_inputs {
	const struct config *cfg;
	size_t n_pods;
	const struct l7_pod *pods;
	const char *trust_domain; /* NULL: "cluster.local" */
	/* The VIP allocated to Service ns/name when its manifest names none (0: none). */
	uint32_t (*service_vip)(void *arg, const char *ns, const char *name);
	/* The same for a dual-stack Service's IPv6 VIP (NULL, or NULL returned: none). */
	const struct ipaddr *(*service_vip6)(void *arg, const char *ns, const char *name);
	/* The JWKS last fetched from @uri (a RequestAuthentication's jwksUri), or NULL while none
	 * could be had; NULL callback: none is ever fetched. Borrowed until l7_compile returns. */
	const char *(*jwks)(void *arg, const char *uri);
	void *jwks_arg;
	void *arg;
};

/*
 * The running pods of a config (status.podIP set) as l7_pod, borrowing from @cfg: for analysis
 * and tests, where no runtime exists. *@out is malloc'd (caller frees). 0 or -ENOMEM.
 */
int l7_pods_from_config(const struct config *cfg, struct l7_pod **out, size_t *n);

/* ---- waypoint bindings ---- */

enum l7_traffic {
	L7_FOR_SERVICE = 0, /* istio.io/waypoint-for default */
	L7_FOR_WORKLOAD,
	L7_FOR_ALL,
	L7_FOR_NONE,
};

#define L7_HBONE_PORT 15008

struct l7_waypoint {
	char *namespace, *name;
	enum l7_traffic traffic;
	char *service_account; /* annotation gateway.istio.io/service-account, else the name */
	char *identity;	       /* spiffe://<td>/ns/<ns>/sa/<service_account> */
	char *hostname;	       /* <name>.<ns>.svc.cluster.local: its Service */
	uint32_t vip;	       /* that Service's VIP; 0 while none is known */
	size_t n_ips;
	uint32_t *ips; /* its instances: pods labelled gateway.networking.k8s.io/gateway-name */
	/*
	 * The same of IPv6: its Service's IPv6 VIP (family 0 while none is known) and its
	 * instances' IPv6 addresses; a pod of IPv6 alone is in @ips6 and not in @ips.
	 */
	struct ipaddr vip6;
	size_t n_ips6;
	struct ipaddr *ips6;
	bool has_hbone;			  /* a listener of protocol HBONE on 15008 */
	enum config_gw_from allowed_from; /* that listener's allowedRoutes.namespaces */
	struct config_labels allowed_selector;
	/*
	 * An ingress gateway proxy, not a waypoint (l7_bindings.gateways): the pods that Istio
	 * Gateways (networking.istio.io) select, one entry per workload (namespace, owning
	 * Deployment, else the pod). Nothing binds to it; name is the workload's, identity its
	 * pods' service account's, hostname and vip its Service's (the one selecting its pods).
	 */
	bool gateway;
	/*
	 * An east-west gateway (Gateway of class istio-east-west, l7_bindings.east_west): a
	 * waypoint's identity, Service and instances, that nothing binds to.
	 */
	bool east_west;
	struct config_labels labels;	/* its (first) pod's, for policies' selectors */
	struct config_strings gateways; /* "ns/name" of the Gateways that select it */
	/* "ns/name" of the Gateway API Gateways (class istio) whose deployment it is. */
	struct config_strings k8s_gateways;
	struct config_strings pods; /* "ns/name" of its instances */
};

/* How many instances serve @w: its pods' IPv4 addresses, or IPv6 of pods of IPv6 alone. */
static inline size_t l7_waypoint_instances(const struct l7_waypoint *w)
{
	return w->n_ips ? w->n_ips : w->n_ips6;
}

enum l7_bind_source {
	L7_BIND_NONE = 0,  /* no use-waypoint label applies */
	L7_BIND_OBJECT,	   /* the Service's or pod's own label */
	L7_BIND_NAMESPACE, /* its namespace's label */
};

struct l7_binding {
	char *namespace, *name; /* the Service or pod */
	int waypoint;		/* index into l7_bindings.waypoints, -1: none */
	enum l7_bind_source source;
	char *want_namespace, *want_name; /* the waypoint its label asks for, when refused */
	/*
	 * Why a label that applies leads to no waypoint, or NULL; @reason is Istio's word for it
	 * (the istio.io/WaypointBound condition's): WaypointIsNotReady (no such waypoint),
	 * AttachmentDenied (its allowedRoutes refuse the namespace), UnsupportedTrafficType.
	 */
	char *problem;
	const char *reason;
};

struct l7_bindings {
	size_t n_waypoints, n_services, n_workloads, n_gateways;
	struct l7_waypoint *waypoints;
	struct l7_waypoint *gateways; /* ingress gateway proxies (l7_waypoint.gateway) */
	size_t n_east_west;
	struct l7_waypoint *east_west; /* east-west gateways (l7_waypoint.east_west) */
	struct l7_binding *services;   /* one per Service of the config, in config order */
	struct l7_binding *workloads;  /* one per l7_inputs pod, in input order */
	size_t n_entries;
	struct l7_binding *entries; /* one per ServiceEntry of the config, in config order */
	/* The same, by namespace and name (l7_bindings_find's binary search). */
	const struct l7_binding **services_by_name, **workloads_by_name;
};

/*
 * Every waypoint (Gateway of class istio-waypoint) and, for every Service and pod, the waypoint
 * taking traffic addressed to it: the object's istio.io/use-waypoint label (with
 * istio.io/use-waypoint-namespace), else its namespace's; "none" opts out; a waypoint whose
 * HBONE listener does not admit the object's namespace, or that is not for that traffic type
 * (istio.io/waypoint-for), takes nothing. Borrows @in; fills @out (zeroed first; free with
 * l7_bindings_free, also on error). 0 or -ENOMEM.
 */
int l7_bindings_compute(const struct l7_inputs *in, struct l7_bindings *out);
void l7_bindings_free(struct l7_bindings *b);
/*
 * Whether waypoint Gateway @gw admits objects of namespace @ns (@n: that Namespace, or NULL
 * when none is defined) by its HBONE listener's allowedRoutes; when not and @why is given, why
 * (naming the listener's selector and the namespace's labels). Borrows all.
 */
bool l7_waypoint_admits(const struct config_k8s_gateway *gw, const char *ns,
			const struct config_namespace *n, char *why, size_t len);
/* The waypoint of ServiceEntry @se (one of the config's), or NULL. Borrowed. */
const struct l7_waypoint *l7_bindings_entry(const struct l7_bindings *b, const struct config *cfg,
					    const struct config_service_entry *se);
/* The binding of Service @ns/@name (or pod, with @pod), or NULL when unknown. Borrowed. */
const struct l7_binding *l7_binding_of(const struct l7_bindings *b, bool pod, const char *ns,
				       const char *name);
/* The waypoint of Service @ns/@name (or pod, with @pod), or NULL. Borrowed. */
const struct l7_waypoint *l7_bindings_find(const struct l7_bindings *b, bool pod, const char *ns,
					   const char *name);
const char *l7_traffic_name(enum l7_traffic t);

/* ---- the compiled model ---- */

enum l7_protocol {
	L7_PROTO_UNKNOWN = 0, /* no appProtocol or known name prefix: sniffed */
	L7_PROTO_HTTP,
	L7_PROTO_HTTP2,
	L7_PROTO_GRPC,
	L7_PROTO_GRPC_WEB,
	L7_PROTO_HTTPS,
	L7_PROTO_TLS,
	L7_PROTO_TCP,
	L7_PROTO_MONGO,
	L7_PROTO_MYSQL,
	L7_PROTO_REDIS,
	L7_PROTO_UDP,
};

/* True for the protocols whose traffic takes HTTP routes (API_SEMANTICS.md §0). */
bool l7_protocol_is_http(enum l7_protocol p);
const char *l7_protocol_name(enum l7_protocol p);
/* A Service port's protocol: appProtocol, else the port name's "<proto>[-suffix]". */
enum l7_protocol l7_port_protocol(const char *app_protocol, const char *port_name);

struct l7_port {
	uint16_t port;
	char *name; /* NULL when unnamed */
	enum l7_protocol protocol;
	uint16_t target_port;	/* 0 when named */
	char *target_port_name; /* NULL when numeric */
};

struct l7_endpoint {
	uint32_t ip;
	/*
	 * Its IPv6 address (a dual-stack pod's; family 0: none), JSON "ip6": where a request the
	 * client sent to its Service's IPv6 VIP goes, as the ztunnel sends one to the VIP's.
	 */
	struct ipaddr ip6;
	char *pod;	/* "ns/name" */
	char *workload; /* Istio's workload name: the owning Deployment, or NULL: the pod's */
	char *node;
	char *identity;
	struct config_labels labels;
	uint16_t *ports; /* per service port: the target port on this pod (0: the pod lacks it) */
	/*
	 * A ServiceEntry endpoint the proxy resolves itself (resolution DNS or DNS_ROUND_ROBIN:
	 * an endpoint's address that is a name, or the host when the entry lists no endpoint),
	 * as Envoy's DNS clusters do; then @ip is 0. NULL: @ip is the address.
	 */
	char *dns_name;
};

struct l7_subset {
	char *name;
	struct config_labels labels;
	size_t n_endpoints;
	uint32_t *endpoints; /* indices into the service's endpoints */
};

/* The DestinationRule policy in force for (subset, port), Istio's merge already applied. */
struct l7_policy {
	char *subset;  /* NULL: the whole service */
	uint16_t port; /* a service port */
	struct config_load_balancer lb;
	struct config_connection_pool pool;
	struct config_outlier_detection outlier;
	struct config_client_tls tls;
	/*
	 * TLS origination (tls.mode SIMPLE or MUTUAL, to endpoints outside the mesh): the PEM of
	 * Secret tls.credentialName in the proxy's namespace, as istiod's SDS serves it: tls.crt
	 * and tls.key (MUTUAL), ca.crt (or Secret <name>-cacert) the roots the server is checked
	 * against. NULL when absent (no credentialName: caCertificates names a file of the proxy,
	 * else the system's roots).
	 */
	char *tls_cert, *tls_key, *tls_ca;
};

enum l7_match_type {
	L7_MATCH_ANY = 0, /* no condition (for headers: presence) */
	L7_MATCH_EXACT,
	L7_MATCH_PREFIX,      /* plain string prefix (VirtualService) */
	L7_MATCH_PATH_PREFIX, /* segment-aware path prefix (Gateway API PathPrefix) */
	L7_MATCH_REGEX,	      /* RE2 syntax, whole string */
};

struct l7_string_match {
	enum l7_match_type type;
	char *value;
	bool ignore_case;
};

struct l7_header_match {
	char *name; /* lowercase for headers; as written for query parameters */
	struct l7_string_match match;
	bool invert; /* withoutHeaders */
};

/* One condition block: all must hold. */
struct l7_match {
	struct l7_string_match path; /* on :path without the query string (prefix: with it) */
	struct l7_string_match scheme, method, authority;
	size_t n_headers, n_query;
	struct l7_header_match *headers, *query;
	uint16_t port; /* 0: any */
	/*
	 * A gateway's TLS server: only requests on connections whose certificate was this one
	 * (l7_tls_cert.source), as Envoy routes each HTTPS server's filter chain by its own route
	 * configuration. NULL: any connection.
	 */
	char *tls_server;
};

struct l7_destination {
	char *host; /* FQDN */
	char *subset;
	uint16_t port; /* 0: the port the request came on */
	uint32_t weight;
	struct config_headers headers; /* applied after the route's own */
	bool unknown; /* host is no service the waypoint knows: requests to it fail */
	/*
	 * A Gateway API backendRef that cannot be used (no such Service, a kind no route goes
	 * to, another namespace's without a ReferenceGrant): its share of the requests answers
	 * 500, as the spec says (HTTPRoute's backendRefs), JSON "invalid".
	 */
	bool invalid;
};

enum l7_action {
	L7_ACTION_ROUTE = 0,
	L7_ACTION_REDIRECT,
	L7_ACTION_DIRECT,
	/* 404 NR, as when no route matches: a gateway's virtual host ends with it (Envoy does not
	 * try another virtual host once one took the request's host). */
	L7_ACTION_NOT_FOUND,
};

struct l7_redirect {
	char *scheme; /* NULL: keep */
	char *host;   /* NULL: keep */
	uint16_t port;
	enum config_derive_port derive_port;
	char *path;   /* replaces the whole path */
	char *prefix; /* replaces the matched prefix */
	bool keep_query;
	int code;
};

struct l7_rewrite {
	char *path, *prefix;	 /* whole path / the matched prefix */
	char *regex, *regex_sub; /* uriRegexRewrite (RE2, \1 substitutions) */
	char *authority;
};

/* retryOn conditions (Envoy's), as bits. */
enum {
	L7_RETRY_5XX = 1u << 0,
	L7_RETRY_GATEWAY_ERROR = 1u << 1,
	L7_RETRY_RESET = 1u << 2,
	L7_RETRY_RESET_BEFORE_REQUEST = 1u << 3,
	L7_RETRY_CONNECT_FAILURE = 1u << 4,
	L7_RETRY_RETRIABLE_4XX = 1u << 5,
	L7_RETRY_REFUSED_STREAM = 1u << 6,
	L7_RETRY_RETRIABLE_STATUS_CODES = 1u << 7,
	L7_RETRY_RETRIABLE_HEADERS = 1u << 8,
	L7_RETRY_ENVOY_RATELIMITED = 1u << 9,
	L7_RETRY_HTTP3_POST_CONNECT = 1u << 10,
	L7_RETRY_GRPC_CANCELLED = 1u << 11,
	L7_RETRY_GRPC_DEADLINE_EXCEEDED = 1u << 12,
	L7_RETRY_GRPC_INTERNAL = 1u << 13,
	L7_RETRY_GRPC_RESOURCE_EXHAUSTED = 1u << 14,
	L7_RETRY_GRPC_UNAVAILABLE = 1u << 15,
};
#define L7_RETRY_NAMES 16
/* The name of retryOn bit @i ("5xx", ...). */
const char *l7_retry_on_name(unsigned int i);

struct l7_retry {
	uint32_t attempts; /* retries after the first try; 0: none */
	uint32_t retry_on;
	size_t n_codes;
	uint16_t *codes; /* retriable-status-codes */
	uint64_t per_try_timeout_ms;
	uint64_t backoff_base_ms, backoff_max_ms; /* Envoy: 25 ms and 10 x base */
	bool ignore_previous_hosts;
};

/* Istio's mesh default policy (API_SEMANTICS.md §1.3): 2 attempts on connect failures, refused
 * streams, unavailable and cancelled; backoff 25 ms to 250 ms. Overwrites @r. */
void l7_default_retry(struct l7_retry *r);
/* Adds the conditions of a retryOn list to @r (status codes as retriable-status-codes; @r's
 * codes array is grown: the caller frees it). 0 or -ENOMEM. */
int l7_parse_retry_on(const char *s, struct l7_retry *r);

struct l7_fault {
	bool delay, abort;
	uint64_t delay_ms;
	uint32_t delay_ppm, abort_ppm; /* parts per million */
	int abort_http;		       /* 0 with a gRPC status */
	int abort_grpc;		       /* -1 with an HTTP status */
};

struct l7_mirror {
	struct l7_destination dest;
	uint32_t ppm;
};

struct l7_route {
	char *name;
	char *source;	  /* "VirtualService ns/name http[i]" or "HTTPRoute ns/name rules[i]" */
	size_t n_matches; /* 0: every request */
	struct l7_match *matches;
	enum l7_action action;
	size_t n_dests;
	struct l7_destination *dests;
	struct l7_redirect redirect;
	int direct_status;
	char *direct_body;
	size_t direct_body_len;
	struct l7_rewrite rewrite;
	struct config_headers headers;
	uint64_t timeout_ms; /* whole request; 0: none */
	struct l7_retry retry;
	struct l7_fault fault;
	size_t n_mirrors;
	struct l7_mirror *mirrors;
	struct config_cors cors;
};

/*
 * A VirtualService tcp rule's match block, or at a gateway a tls rule's (API_SEMANTICS.md §6):
 * then @sni_hosts are the ClientHello's server names it takes (exact, "*.suffix", or "*"), and
 * a connection without one of them takes no route. @port is the service port, at a gateway the
 * listener's.
 */
struct l7_tcp_route {
	char *source;
	uint16_t port; /* 0: any */
	struct config_strings subnets;
	struct config_strings sni_hosts; /* empty: a tcp rule, whatever the client names */
	size_t n_dests;
	struct l7_destination *dests;
};

enum l7_routes_kind {
	L7_ROUTES_DEFAULT = 0, /* no route object: the service itself */
	L7_ROUTES_VIRTUAL_SERVICE,
	L7_ROUTES_GATEWAY_API,
};

/*
 * A Service bound to the waypoint, or (@workload) a pod bound to it for the traffic addressed to
 * the pod itself (istio.io/use-waypoint on a pod or its namespace, waypoint-for workload|all):
 * then hostname is the pod's address, vip its IP, name and namespace the pod's, the one endpoint
 * the pod, ports its declared containerPorts (TCP), and the route table the default route:
 * routing objects name Services, so the request goes where it was addressed, with the
 * waypoint's policy and telemetry on the way.
 */
/* How a ServiceEntry's endpoints are found (API_SEMANTICS.md §5). */
enum l7_resolution {
	L7_RES_STATIC = 0,	/* addresses known (a Service's pods, STATIC entries) */
	L7_RES_DNS,		/* dns_name endpoints resolved, every address used */
	L7_RES_DNS_ROUND_ROBIN, /* the first address only (Envoy's LOGICAL_DNS) */
	/*
	 * NONE: the client's original destination (Envoy's ORIGINAL_DST): one endpoint (ip 0)
	 * stands for it, within the entry's addresses (l7_service.cidrs; none: any address).
	 */
	L7_RES_NONE,
	/*
	 * DYNAMIC_DNS (a wildcard host): one endpoint (ip 0) stands for the name each request's
	 * Host asks for under the wildcard, resolved by the proxy (Envoy's dynamic forward proxy).
	 */
	L7_RES_DYNAMIC_DNS,
};

struct l7_service {
	char *hostname; /* name.ns.svc.cluster.local; for a workload its IP; an entry's host */
	char *name, *namespace;
	bool workload;
	/*
	 * A ServiceEntry host bound to the waypoint (egress): @name is the entry's, @hostname the
	 * host, @vip its address (config_se_vips), ports the entry's (targetPort on every
	 * endpoint), endpoints its STATIC addresses, the pods its workloadSelector picks, or names
	 * to resolve (@resolution).
	 */
	bool entry;
	enum l7_resolution resolution;
	size_t n_cidrs;
	struct ipaddr *cidrs; /* L7_RES_NONE: the entry's addresses (both families), JSON
				 "addresses"; a destination of the other family is in none */
	uint32_t vip;
	/*
	 * A dual-stack Service's IPv6 VIP (a workload's IPv6 address), JSON "vip6" (family 0:
	 * none): a CONNECT to it is the Service's as one to @vip, and goes to the endpoints' ip6.
	 */
	struct ipaddr vip6;
	size_t n_ports, n_endpoints, n_subsets, n_policies, n_routes, n_tcp;
	struct l7_port *ports;
	struct l7_endpoint *endpoints;
	struct l7_subset *subsets;
	struct l7_policy *policies; /* whole service then each subset, each per port */
	enum l7_routes_kind routes_kind;
	struct l7_route *routes; /* in evaluation order: the first that matches is used */
	struct l7_tcp_route *tcp;
	size_t n_authz;
	uint32_t *authz; /* the policies (l7_config.authz indices) that apply to its requests */
	size_t n_jwt;
	uint32_t *jwt; /* the JWT rules (l7_config.jwt indices) its requests are checked against */
	size_t n_ratelimit;
	uint32_t *ratelimit; /* the local rate limits (l7_config.ratelimits indices), in order */
	/* Not bound to the waypoint: carried only as an external authorizer's upstream (never
	 * matched to a request's destination). */
	bool aux;
	uint32_t telemetry; /* its l7_config.telemetry index (0: the proxy's own) */
	/*
	 * A gateway's destination whose traffic goes through its waypoint (istio.io/
	 * ingress-use-waypoint): "ns/name" of that waypoint, else NULL. Its endpoints are then
	 * one pseudo-endpoint at the VIP (ports: the service ports; identity: the waypoint's,
	 * reached through l7_config.tunnels), or none when it has no VIP or the waypoint no
	 * instance; every subset is that endpoint (the waypoint routes by its own config).
	 */
	char *via_waypoint;
	/*
	 * An east-west gateway's Service bound to a waypoint: the hostname of the waypoint's own
	 * Service, JSON "waypointHost" (NULL: none). The gateway sends a stream for the Service
	 * to that Service's instances at 15008 (the inner tunnel ends at the waypoint), unless
	 * it comes from a waypoint (`x-istio-source: waypoint`: L7 ran there).
	 */
	char *waypoint_host;
};

/*
 * A gateway's tunnel: the addresses its pseudo-endpoints carry (a Service's VIPs) and the
 * instances of the waypoint that serves it. The proxy opens HBONE to one of @ips on 15008 with
 * :authority the VIP:port, as a ztunnel sends to a waypoint; to one of @ips6 for @vip6 (a
 * Service of IPv6 alone has no @vip, JSON "0.0.0.0").
 */
struct l7_tunnel {
	uint32_t vip;	    /* 0: none */
	struct ipaddr vip6; /* JSON "vip6" (family 0: none) */
	char *waypoint;	    /* "ns/name" */
	size_t n_ips, n_ips6;
	uint32_t *ips;
	struct ipaddr *ips6; /* JSON "ips6", absent when none */
};

/*
 * An ext_authz provider a CUSTOM policy of the waypoint names (the mesh config's
 * extensionProviders, envoyExtAuthzHttp / envoyExtAuthzGrpc): its settings, and the service
 * (l7_config.services index, an aux one when no Service bound to the waypoint) it is reached
 * at; -1 when its Service is unknown (then a CUSTOM policy fails closed).
 */
struct l7_ext_authz {
	char *name;
	struct config_ext_authz x; /* x.service: the FQDN */
	int service;
};

/*
 * The tracing a proxy does for the requests of a service (the Telemetry API resolved for it:
 * mesh, then namespace, then the proxy's own (targetRefs to its Gateway, or a gateway's
 * selector), then the Service's (targetRefs); the provider from the mesh config's
 * extensionProviders). @provider NULL: no tracing (trace headers pass untouched). @service is
 * the collector's l7_config.services index (aux when not bound), -1 when its Service is
 * unknown (spans are then dropped and counted). Sampling is in parts per million.
 */
/* Istio's standard metrics, as Telemetry's metrics overrides name them (bits). */
enum l7_metric {
	L7_METRIC_REQUEST_COUNT = 1 << 0,    /* istio_requests_total */
	L7_METRIC_REQUEST_DURATION = 1 << 1, /* istio_request_duration_milliseconds */
	L7_METRIC_REQUEST_SIZE = 1 << 2,     /* istio_request_bytes */
	L7_METRIC_RESPONSE_SIZE = 1 << 3,    /* istio_response_bytes */
	L7_METRIC_TCP_OPENED = 1 << 4,	     /* istio_tcp_connections_opened_total */
	L7_METRIC_TCP_CLOSED = 1 << 5,	     /* istio_tcp_connections_closed_total */
	L7_METRIC_TCP_SENT = 1 << 6,	     /* istio_tcp_sent_bytes_total */
	L7_METRIC_TCP_RECEIVED = 1 << 7,     /* istio_tcp_received_bytes_total */
	L7_METRIC_GRPC_REQUEST = 1 << 8,     /* istio_request_messages_total (not made) */
	L7_METRIC_GRPC_RESPONSE = 1 << 9,    /* istio_response_messages_total (not made) */
};
#define L7_METRIC_ALL 0x3ffu

/* A metric tag override: @tag removed (@value NULL) or set to CEL expression @value. */
struct l7_tag_op {
	uint32_t metrics; /* enum l7_metric bits it applies to */
	char *tag;
	char *value;
};

struct l7_telemetry {
	char *provider;
	struct config_trace_provider p; /* p.service: the FQDN */
	int service;
	uint32_t sampling_ppm;
	bool disable_span_reporting, use_request_id;
	size_t n_tags;
	struct config_custom_tag *tags; /* by tag name */
	/*
	 * Access logging (accessLogging): -1 not said (the proxy's own setting), 0 off, 1 on,
	 * each request then logged when @log_filter (a CEL expression, ambit/cel.h) holds.
	 */
	int access_log;
	char *log_filter;
	/* metrics overrides: the metrics not made, and tag operations in order */
	uint32_t metrics_off;
	size_t n_tag_ops;
	struct l7_tag_op *tag_ops;
};

/*
 * A jwtRule of a RequestAuthentication the waypoint enforces (attached as l7_authz is). Its
 * jwks is the key set in force: the rule's own, or what the agent last fetched from jwksUri;
 * NULL when none could be had (a token for its issuer then fails: "Jwks remote fetch is
 * failed").
 */
struct l7_jwt {
	char *name; /* "ns/name" of the RequestAuthentication */
	struct config_jwt_rule rule;
};

/*
 * An AuthorizationPolicy the waypoint enforces: one attached with targetRefs to a Service bound
 * to it, to its own Gateway, or (from the root namespace) to GatewayClass istio-waypoint
 * (API_SEMANTICS.md §3, §9). The rules are the config's, copied whole: the waypoint evaluates
 * every field.
 */
struct l7_authz {
	char *name; /* "ns/name" */
	char *namespace;
	enum config_authz_action action;
	char *provider; /* CUSTOM's provider.name */
	bool dry_run;	/* istio.io/dry-run: decided and logged, not enforced */
	size_t n_rules; /* 0: matches nothing (ALLOW with no rules allows nothing) */
	struct config_authz_rule *rules;
};

/*
 * A certificate of a TLS listener (a gateway's HTTPS servers, SIMPLE or MUTUAL): the server's
 * hosts as SNI names, the PEM chain and key of its credentialName's Secret, and for MUTUAL the
 * CA that client certificates must chain to.
 */
struct l7_tls_cert {
	char *source; /* "Gateway ns/name server N (credentialName x)" */
	struct config_strings hosts;
	char *cert, *key;
	char *ca;      /* NULL: SIMPLE */
	bool optional; /* OPTIONAL_MUTUAL: @ca checks a client certificate when sent */
	/*
	 * ISTIO_MUTUAL: the gateway's own mesh certificate and the mesh root, filled in by the
	 * proxy from its snapshot (the model carries no PEM), clients presenting one the root
	 * signed.
	 */
	bool mesh;
	uint16_t min_tls, max_tls; /* TLS versions (0x0304: 1.3), 0: the proxy's (1.2 and 1.3) */
	/* tls.cipherSuites (TLS 1.2's, Envoy's names); none: Envoy's server default. */
	struct config_strings ciphers;
};

/*
 * A local rate limit the proxy enforces (from a LocalRateLimit or an EnvoyFilter, attached as
 * l7_authz is; a selector, a waypoint: the workloads' services): Envoy's local_ratelimit, one
 * set of token buckets per proxy process. A request is checked (enabled_ppm of them) against
 * every rule that matches, then the default bucket (when there is one and no rule matched or
 * always_consume); the first empty bucket refuses it, with @status unless the enforced_ppm draw
 * says only count it (shadow mode).
 */
struct l7_rl_rule {
	size_t n_matches; /* any of them; 0: every request */
	struct l7_match *matches;
	enum config_rl_key key;
	char *key_header;  /* lowercase, CONFIG_RL_KEY_HEADER */
	uint32_t max_keys; /* per-key buckets kept (least recently used forgotten) */
	struct config_token_bucket bucket;
};

struct l7_ratelimit {
	char *name;    /* "LocalRateLimit ns/name" or "EnvoyFilter ns/name" */
	uint16_t port; /* only requests to this service port or target port; 0: any */
	bool has_bucket;
	struct config_token_bucket bucket;
	bool always_consume;
	uint32_t enabled_ppm, enforced_ppm;
	int status;
	bool rate_limit_headers;
	struct config_labels response_headers;
	size_t n_rules;
	struct l7_rl_rule *rules;
};

/*
 * A gateway's listener (API_SEMANTICS.md §6): the port its proxy listens on (the gateway
 * Service's targetPort for a server port that is one of the Service's ports, as istiod
 * translates it, else the server's own), for the servers of its Gateways on that port, served
 * by the routes of the model's service @service. @protocol says which kind of servers: HTTP
 * (plaintext, or HTTPS terminated when it has certificates) take its http routes; TLS
 * (PASSTHROUGH: the ClientHello's SNI chooses, nothing is terminated) and TCP take its tcp
 * routes (l7_tcp_route, sni_hosts for TLS), and the connection is relayed as bytes.
 * @proxy_protocol (the mesh config's gatewayTopology.proxyProtocol): every connection starts
 * with a PROXY protocol header, whose source is the client's address (Envoy's proxy_protocol
 * listener filter); one without is closed.
 */
struct l7_listener {
	uint16_t port;
	enum l7_protocol protocol;
	bool proxy_protocol;
	char *service;	/* a hostname of l7_config.services */
	size_t n_certs; /* > 0: TLS is terminated, a certificate chosen by SNI */
	struct l7_tls_cert *certs;
};

struct l7_config {
	char *waypoint_namespace, *waypoint_name, *identity;
	/*
	 * An ingress gateway's model: its listeners, one service of its own (its hostname, the
	 * routes of the VirtualServices bound to its Gateways, each restricted to the listener
	 * port and the virtual host's domains), then the services those routes name (aux).
	 */
	bool gateway;
	/*
	 * An east-west gateway's model: every Service of the cluster with its endpoints, and no
	 * routes it applies; a CONNECT to `<hostname>:<port>` goes on, as the bytes it carries,
	 * to one endpoint's port 15008 (the inner tunnel of Istio's double HBONE).
	 */
	bool east_west;
	size_t n_listeners;
	struct l7_listener *listeners;
	size_t n_services;
	struct l7_service *services;
	size_t n_authz;
	struct l7_authz *authz;
	size_t n_jwt;
	struct l7_jwt *jwt;
	size_t n_ext_authz;
	struct l7_ext_authz *ext_authz;
	size_t n_ratelimits;
	struct l7_ratelimit *ratelimits;
	size_t n_tunnels; /* a gateway's, by VIP, each VIP once */
	struct l7_tunnel *tunnels;
	/* [0]: the proxy's own, then the services' own where a Telemetry targets them. */
	size_t n_telemetry;
	struct l7_telemetry *telemetry;
	char *mesh_id; /* istio.mesh_id of spans: the trust domain ("cluster.local") */
	/* From the mesh config (-1: not set there; the proxy's flags decide). */
	int path_normalization; /* enum config_path_norm */
	int num_trusted_proxies;
	int underscores; /* enum config_underscores */
};

/*
 * Compiles what waypoint @wp (of @b, computed from @in) serves: every Service bound to it, with
 * its ports, endpoints, subsets, resolved DestinationRule policies and route table
 * (VirtualServices of the service's or the waypoint's namespace in order, or HTTPRoute /
 * GRPCRoute rules in Gateway API precedence, or the default route); then every pod bound to it
 * for workload traffic (a workload entry, see struct l7_service). Returns a new model (free
 * with l7_config_free) or NULL with errno set. Borrows everything.
 */
struct l7_config *l7_compile(const struct l7_inputs *in, const struct l7_bindings *b,
			     const struct l7_waypoint *wp);
/*
 * Gateway servers whose connections a gateway relays as bytes: TLS PASSTHROUGH (protocol TLS or
 * HTTPS, routed by the ClientHello's SNI) and TCP (protocol TCP, MONGO, MYSQL, REDIS).
 */
bool l7_gateway_passthrough(const struct config_gateway_server *s);
/*
 * An HTTPS server the gateway terminates: SIMPLE, MUTUAL or OPTIONAL_MUTUAL with a
 * credentialName, or ISTIO_MUTUAL (the gateway's mesh certificate).
 */
bool l7_gateway_https_server(const struct config_gateway_server *s);
bool l7_gateway_tcp_server(const struct config_gateway_server *s);
/* The gateway proxy of @b that pod @ns/@name is an instance of, or NULL. Borrowed. */
const struct l7_waypoint *l7_bindings_gateway_of(const struct l7_bindings *b, const char *ns,
						 const char *name);
void l7_config_free(struct l7_config *c);
/*
 * The model of waypoint @ns/@name for @cfg alone, its running pods taken from the config
 * (l7_pods_from_config): what `ambitctl waypoint config` prints and what tests run a waypoint
 * on. Borrows everything. A new model, or NULL with errno set (ENOENT: no such waypoint).
 */
struct l7_config *l7_compile_config(const struct config *cfg, const char *ns, const char *name);
/* Free what one route, destination or service owns (not the struct itself). */
void l7_route_clear(struct l7_route *r);
void l7_destination_clear(struct l7_destination *d);
void l7_service_clear(struct l7_service *s);

/*
 * JSON (cJSON): l7_to_json returns a new object (caller deletes) or NULL. l7_from_json decodes
 * strictly (unknown members, wrong types and out-of-range values are errors naming the field in
 * @err) into a new model, or NULL. Both borrow their input.
 */
struct cJSON *l7_to_json(const struct l7_config *c);
struct l7_config *l7_from_json(const struct cJSON *j, char *err, size_t errlen);
/* The policy of (@subset or NULL, @port) of @s, or NULL. Borrowed. */
const struct l7_policy *l7_service_policy(const struct l7_service *s, const char *subset,
					  uint16_t port);
const struct l7_service *l7_config_service(const struct l7_config *c, const char *hostname);
/*
 * istio.io/ingress-use-waypoint of a Service with labels @svc in a namespace with labels @ns
 * (NULL: none known): the Service's own label when it has one, else the namespace's; "true"
 * in any case.
 */
bool l7_ingress_use_waypoint_labels(const struct config_labels *svc,
				    const struct config_labels *ns);
/*
 * The waypoint Gateway that serves Service @s (its own istio.io/use-waypoint, else its
 * namespace's, naming a Gateway of class istio-waypoint that exists, takes service traffic and
 * admits the Service's namespace), or NULL: what l7_bindings_compute binds, for one Service.
 */
const struct config_k8s_gateway *l7_service_waypoint(const struct config *cfg,
						     const struct config_service *s);
/*
 * The same for a Service or ServiceEntry of namespace @ns with labels @labels, saying when
 * there is none why: *@reason is Istio's word (MissingUseWaypointLabel when no label applies,
 * WaypointIsNotReady, AttachmentDenied, UnsupportedTrafficType) and @why our explanation.
 * Borrows all; the reason is static.
 */
const struct config_k8s_gateway *l7_object_waypoint(const struct config *cfg, const char *ns,
						    const struct config_labels *labels,
						    const char **reason, char *why, size_t len);
/* The tunnel of @c at @vip (network order; 0 is none's), or NULL. Borrowed. */
const struct l7_tunnel *l7_config_tunnel(const struct l7_config *c, uint32_t vip);
/* The same at IPv6 VIP @vip6. */
const struct l7_tunnel *l7_config_tunnel6(const struct l7_config *c, const struct ipaddr *vip6);

/*
 * The status Istio's gateway controller writes (l7/gwstatus.c), as the `status` object of
 * Gateway @gw (class istio) and of route @r, or NULL (ENOMEM). @address is the Gateway's
 * address (NULL: none yet): an IP (type IPAddress) or its Service's hostname (Hostname);
 * @not_running, when set, says why its deployment is not running (Programmed False, Pending).
 */
struct cJSON *l7_gwapi_gateway_status(const struct config *cfg, const struct config_k8s_gateway *gw,
				      const char *address, const char *not_running);
struct cJSON *l7_gwapi_route_status(const struct config *cfg, const struct config_gw_route *r);
/*
 * The status of east-west Gateway @gw (class istio-east-west), as Istio writes it: @address
 * (its Service's balancer address, else hostname; NULL: none), Accepted, Programmed (when it
 * has its HBONE listener on 15008 and, @not_running NULL, its deployment runs), each listener's.
 */
struct cJSON *l7_gwapi_east_west_status(const struct config_k8s_gateway *gw, const char *address,
					const char *not_running);
/*
 * Gateway @gw's address as Istio's controller writes it: the first balancer address of its
 * Service (status.loadBalancer.ingress; <name>-istio, an east-west gateway's <name>), else that
 * Service's hostname.
 */
void l7_gwapi_gateway_address(const struct config *cfg, const struct config_k8s_gateway *gw,
			      char *out, size_t len);

/*
 * Whether backendRef @b of Gateway API route @r can be used in @cfg (l7/gwattach.c): the one
 * judgement the route compilers (an unusable backend answers 500 for its share), the route's
 * ResolvedRefs status and analyze's findings share, so they cannot disagree. Checked in this
 * order: the kind (a core Service, or networking.istio.io's Hostname: a ServiceEntry host);
 * with @gateway (a Gateway's route, not a mesh parent's, as Istio's), another namespace's
 * backend needs a ReferenceGrant there; the Service (or a ServiceEntry host covering its name),
 * or the Hostname's ServiceEntry, exists.
 */
enum l7_backend_ref {
	L7_BACKEND_OK = 0,
	L7_BACKEND_INVALID_KIND,  /* InvalidKind */
	L7_BACKEND_NOT_PERMITTED, /* RefNotPermitted */
	L7_BACKEND_NOT_FOUND,	  /* BackendNotFound */
};
enum l7_backend_ref l7_backend_ref_check(const struct config *cfg, const struct config_gw_route *r,
					 const struct config_backend_ref *b, bool gateway);
/* Gateway API's ResolvedRefs reason for @v ("ResolvedRefs" when usable). */
const char *l7_backend_ref_reason(enum l7_backend_ref v);
/* Gateway API Gateway @ns/@name of @cfg, or NULL. */
const struct config_k8s_gateway *l7_gwapi_gateway(const struct config *cfg, const char *ns,
						  const char *name);
/* Appends to @list a status condition (type, "True"/"False", reason, message); it, or NULL. */
struct cJSON *l7_status_condition(struct cJSON *list, const char *type, bool status,
				  const char *reason, const char *message);
/*
 * AuthorizationPolicy @ns/@name of @cfg's status as Istio writes it in an ambient mesh: its
 * ZtunnelAccepted condition (config_authz_ztunnel_condition), as a new object; NULL when @cfg
 * has no such policy or it has none (a targetRefs policy), or on ENOMEM.
 */
struct cJSON *l7_authz_status(const struct config *cfg, const char *ns, const char *name);
/* Route @r's kind: "HTTPRoute", "GRPCRoute", "TLSRoute" or "TCPRoute". */
const char *l7_gwapi_route_kind(const struct config_gw_route *r);

#endif
