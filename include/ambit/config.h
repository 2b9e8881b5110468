/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The config model: Kubernetes objects the mesh reads, parsed from YAML manifests with libyaml.
 * Every object remembers the file and line it came from so errors and `ambitctl` can name them.
 * Kubernetes and Istio kinds share this one model, whatever the source of the objects.
 */
#ifndef AMBIT_CONFIG_H
#define AMBIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/ipaddr.h"

struct config_label {
	char *key;
	char *value;
};

struct config_labels {
	size_t n;
	struct config_label *items;
};

/* Where an object came from: file (absolute or as given) and 1-based line of its document. */
struct config_origin {
	char *file;
	int line;
};

struct config_meta {
	char *name;
	char *namespace; /* "default" when the manifest omits it (not for Namespace) */
	struct config_labels labels;
	struct config_labels annotations;
	struct config_origin origin;
	char *creation_timestamp; /* metadata.creationTimestamp (RFC 3339) or NULL: Istio tie-breaks
				   */
	char *api_version; /* of a top-level object ("v1", "security.istio.io/v1"), else NULL */
	char *uid;	   /* metadata.uid (set by the API server), or NULL */
	/* The ownerReference with controller: true (kind and name), or NULL. */
	char *controller_kind, *controller_name;
	bool deleting;	  /* metadata.deletionTimestamp is set: the object is being deleted */
	uint64_t id_hash; /* config_object_hash, kept by a store that holds the object; 0: none */
	uint64_t origin_hash; /* XXH3 of origin.file, set with id_hash; 0: none */
	/*
	 * Set by config_stamp_ids to a value no other load in this process had: what was
	 * computed from an object with the same serial may be kept (0: unknown, never).
	 */
	uint64_t serial;
};

/*
 * The label the API server sets on every Namespace, always its name (immutable): selectors
 * name namespaces by it (a Gateway listener's allowedRoutes, Istio's cross-namespace waypoint
 * task). The loader sets it as the API server does, so every source agrees.
 */
#define CONFIG_LABEL_NS_NAME "kubernetes.io/metadata.name"
/* The network of a cluster, on its root namespace (istio-system), as Istio's multicluster has it.
 */
#define CONFIG_LABEL_NETWORK "topology.istio.io/network"

struct config_namespace {
	struct config_meta meta;
};

struct config_service_account {
	struct config_meta meta;
};

struct config_container_port {
	char *name;
	uint16_t port;
	char *protocol; /* "TCP" by default */
};

/* spec.restartPolicy (core/v1): what the kubelet does when the pod's command exits. */
enum config_restart_policy {
	CONFIG_RESTART_ALWAYS, /* the default, and the only value a Deployment allows */
	CONFIG_RESTART_ON_FAILURE,
	CONFIG_RESTART_NEVER,
};

/* Linux capability numbers as <linux/capability.h> has them; names are Kubernetes' (no CAP_). */
#define CONFIG_CAP_LAST 40 /* CAP_CHECKPOINT_RESTORE */
#define CONFIG_CAPS_ALL ((UINT64_C(1) << (CONFIG_CAP_LAST + 1)) - 1)
/*
 * What a container gets when its securityContext says nothing: containerd's default set (the
 * one Kubernetes pods run with): CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID
 * SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
 */
#define CONFIG_CAPS_DEFAULT UINT64_C(0xa80425fb)

/*
 * The securityContext of the pod and of containers[0], merged as the kubelet does: the
 * container's runAsUser, runAsGroup and runAsNonRoot win over the pod's; the rest exist only on
 * the container.
 */
struct config_security {
	int64_t run_as_user;  /* -1 when unset: the image's user, which is root locally */
	int64_t run_as_group; /* -1 when unset: the user's group, 0 */
	bool run_as_non_root;
	bool privileged;
	bool read_only_root_fs;
	bool no_new_privs; /* allowPrivilegeEscalation: false */
	bool cap_add_all, cap_drop_all;
	uint64_t cap_add, cap_drop; /* bits of capabilities.add / drop other than "ALL" */
};

/* The part of a pod template the mesh and the local cluster use. */
struct config_pod_spec {
	char *service_account; /* "default" when omitted */
	char *node_name;       /* spec.nodeName, or NULL: the local cluster places the pod */
	bool host_network;     /* spec.hostNetwork: the node's own namespace */
	char **command;	       /* containers[0].command + args, NULL-terminated, or NULL */
	char *container;       /* containers[0].name (what cAdvisor's series call it) */
	size_t nports;
	struct config_container_port *ports; /* containers[*].ports */
	enum config_restart_policy restart_policy;
	struct config_security security;
	/*
	 * spec.hostname and spec.subdomain, or NULL: with a headless Service named @subdomain in
	 * its namespace, the pod is <hostname>.<subdomain>.<ns>.svc.<domain> in DNS.
	 */
	char *hostname, *subdomain;
};

/* A list of strings, each owned (NULL-terminated items). */
struct config_strings {
	size_t n;
	char **items;
};

struct config_pod {
	struct config_meta meta;
	struct config_pod_spec spec;
	char *pod_ip; /* status.podIP, or NULL while not running */
	/* status.podIPs[].ip: the pod's addresses of both families, podIP's family first. */
	struct config_strings pod_ips;
	char *host_ip; /* status.hostIP */
	char *phase;   /* status.phase ("Running", "Succeeded"...), or NULL */
	/*
	 * status.conditions' Ready: CONFIG_READY_TRUE, _FALSE (False or Unknown: its readiness
	 * probe fails, or it is starting), or _UNSAID (no such condition: a manifest, not the API).
	 */
	enum { CONFIG_READY_UNSAID, CONFIG_READY_TRUE, CONFIG_READY_FALSE } ready;
};

struct config_deployment {
	struct config_meta meta;
	int replicas;		       /* 1 when omitted */
	struct config_labels selector; /* spec.selector.matchLabels */
	struct config_labels template_labels;
	struct config_labels template_annotations;
	struct config_pod_spec template;
};

struct config_service_port {
	char *name;
	uint16_t port;
	uint16_t target_port; /* = port when omitted; 0 when named (see target_port_name) */
	char *target_port_name;
	char *protocol;	    /* "TCP" by default */
	char *app_protocol; /* appProtocol, or NULL */
};

struct config_service {
	struct config_meta meta;
	char *cluster_ip; /* spec.clusterIP, or NULL: the local cluster allocates one */
	/* spec.clusterIPs: one a family, clusterIP first ("None" alone when headless). */
	struct config_strings cluster_ips;
	/* spec.ipFamilyPolicy PreferDualStack or RequireDualStack: an address of each family. */
	bool dual_stack;
	bool require_dual_stack; /* RequireDualStack: a single-stack cluster refuses it */
	/* spec.ipFamilies names IPv6 (ipv6_asked), first (ipv6_first: with SingleStack, alone). */
	bool ipv6_asked, ipv6_first;
	bool ipv4_asked; /* spec.ipFamilies names IPv4: an IPv6 cluster refuses it unless second */
	/*
	 * spec.trafficDistribution PreferClose (or PreferSameZone, PreferSameNode), or Istio's
	 * annotation networking.istio.io/traffic-distribution: endpoints close by first.
	 */
	bool prefer_close;
	/* spec.type LoadBalancer; spec.loadBalancerClass set (another controller's to serve). */
	bool load_balancer, lb_class;
	/*
	 * status.loadBalancer.ingress[].ip: the addresses a balancer gave it, as the API server
	 * holds them (what a Gateway's status.addresses names; Istio reads the same).
	 */
	struct config_strings lb_ingress;
	struct config_labels selector;
	size_t nports;
	struct config_service_port *ports;
};

/*
 * An EndpointSlice (discovery.k8s.io/v1) as the Kubernetes source reads it: the endpoints of a
 * Service without a selector (the API server's own `kubernetes`, an external database, endpoints
 * someone manages by hand). IPv4 and IPv6 slices' addresses are kept (a dual-stack Service has
 * a slice of each); FQDN slices' are not.
 */
struct config_eps_endpoint {
	uint32_t ip;	   /* its first address, network order (an IPv4 slice's) */
	struct ipaddr ip6; /* an IPv6 slice's first address (family 0 in an IPv4 slice) */
	bool not_ready;	   /* conditions.ready: false (unset is ready, as kube-proxy reads it) */
};

struct config_eps_port {
	char *name; /* NULL: the Service's unnamed port */
	uint16_t port;
};

struct config_endpoint_slice {
	struct config_meta meta;
	char *service; /* label kubernetes.io/service-name, or NULL */
	bool ipv4;     /* addressType: IPv4 */
	bool ipv6;     /* addressType: IPv6 (FQDN slices keep no endpoint) */
	size_t nendpoints, nports;
	struct config_eps_endpoint *endpoints;
	struct config_eps_port *ports;
};

/*
 * Istio security kinds (security.istio.io v1 and v1beta1, same schema). Strings are kept as
 * written (Istio match syntax: "exact", "prefix*", "*suffix", "*" = present); the policy compiler
 * (include/ambit/policy.h) gives them meaning. Every list keeps the YAML line of its rule so
 * diagnostics can point at it.
 */

struct config_authz_source {
	struct config_strings principals, not_principals;
	struct config_strings request_principals, not_request_principals;
	struct config_strings namespaces, not_namespaces;
	struct config_strings service_accounts, not_service_accounts;
	struct config_strings ip_blocks, not_ip_blocks;
	struct config_strings remote_ip_blocks, not_remote_ip_blocks;
	struct config_strings trust_domains, not_trust_domains;
};

struct config_authz_operation {
	struct config_strings hosts, not_hosts;
	struct config_strings ports, not_ports;
	struct config_strings methods, not_methods;
	struct config_strings paths, not_paths;
};

struct config_authz_condition {
	int line;
	char *key;
	struct config_strings values, not_values;
};

struct config_authz_rule {
	int line;
	size_t n_from, n_to, n_when;
	struct config_authz_source *from;  /* rules[].from[].source */
	struct config_authz_operation *to; /* rules[].to[].operation */
	struct config_authz_condition *when;
};

enum config_authz_action {
	CONFIG_AUTHZ_ALLOW = 0, /* the default */
	CONFIG_AUTHZ_DENY,
	CONFIG_AUTHZ_AUDIT,
	CONFIG_AUTHZ_CUSTOM,
};

struct config_target_ref {
	char *group;
	char *kind;
	char *name;
	char *namespace; /* NULL: the policy's namespace */
};

struct config_authorization_policy {
	struct config_meta meta;
	bool has_selector; /* spec.selector present (matchLabels may still be empty) */
	struct config_labels selector;
	size_t n_target_refs; /* targetRef and targetRefs[] merged */
	struct config_target_ref *target_refs;
	enum config_authz_action action;
	char *provider; /* provider.name for CUSTOM */
	bool dry_run;	/* annotation istio.io/dry-run: "true" */
	size_t n_rules; /* 0 with no `rules`: matches nothing ("allow nothing" for ALLOW) */
	struct config_authz_rule *rules;
};

enum config_mtls_mode {
	CONFIG_MTLS_UNSET = 0,
	CONFIG_MTLS_PERMISSIVE,
	CONFIG_MTLS_STRICT,
	CONFIG_MTLS_DISABLE,
};

struct config_port_mtls {
	uint16_t port; /* workload (container) port */
	enum config_mtls_mode mode;
};

struct config_peer_authentication {
	struct config_meta meta;
	bool has_selector;
	struct config_labels selector;
	enum config_mtls_mode mode; /* spec.mtls.mode, UNSET when absent */
	size_t n_port_mtls;
	struct config_port_mtls *port_mtls;
};

/* RequestAuthentication (security.istio.io v1, v1beta1): JWT rules, enforced by a waypoint. */
struct config_jwt_header {
	char *name;
	char *prefix;
};

struct config_claim_header {
	char *claim;
	char *header;
};

struct config_jwt_rule {
	int line;
	char *issuer;
	struct config_strings audiences;
	char *jwks_uri, *jwks;
	size_t n_from_headers;
	struct config_jwt_header *from_headers;
	struct config_strings from_params, from_cookies;
	char *output_payload_to_header;
	bool forward_original_token;
	size_t n_output_claim_to_headers;
	struct config_claim_header *output_claim_to_headers;
	uint64_t timeout_ms; /* 0: the default */
	struct config_strings space_delimited_claims;
	char *presence; /* NULL, "OPTIONAL" or "REQUIRED" */
};

struct config_request_authentication {
	struct config_meta meta;
	bool has_selector;
	struct config_labels selector;
	size_t n_target_refs;
	struct config_target_ref *target_refs;
	size_t n_jwt_rules;
	struct config_jwt_rule *jwt_rules;
};

/*
 * Local rate limiting at waypoints and gateways, from two kinds that load into this one shape:
 * ambit's own LocalRateLimit (networking.ambit.io v1alpha1) and the EnvoyFilter shape Istio's
 * tutorials use (networking.istio.io v1alpha3, envoy.filters.http.local_ratelimit only),
 * translated as it loads. Semantics are Envoy's local_ratelimit filter: token buckets per proxy,
 * the rules' buckets checked before the default one.
 */
struct config_token_bucket {
	uint32_t max_tokens;
	uint32_t tokens_per_fill; /* defaults to 1, as Envoy */
	uint64_t fill_interval_ms;
};

enum config_rl_key {
	CONFIG_RL_KEY_NONE = 0,		/* one bucket for the rule */
	CONFIG_RL_KEY_REMOTE_ADDRESS,	/* a bucket per client address */
	CONFIG_RL_KEY_SOURCE_PRINCIPAL, /* per peer identity (none: one shared bucket) */
	CONFIG_RL_KEY_HEADER,		/* per value of a request header (absent: not limited) */
};

/* ambit's own kinds' API group (LocalRateLimit). */
#define CONFIG_AMBIT_NET_GROUP "networking.ambit.io"

#define CONFIG_RL_MAX_KEYS_DEFAULT 1024
#define CONFIG_RL_MAX_KEYS_LIMIT 65536

struct config_rl_rule {
	int line;
	size_t n_match; /* any of them; 0: every request */
	struct config_route_match *match;
	enum config_rl_key key;
	char *key_header; /* lowercase, CONFIG_RL_KEY_HEADER */
	uint32_t max_keys;
	struct config_token_bucket bucket;
};

/* Which proxies an EnvoyFilter patch's match.context leaves it to. */
enum config_rl_proxies {
	CONFIG_RL_PROXIES_ANY = 0,
	CONFIG_RL_PROXIES_WAYPOINT, /* SIDECAR_INBOUND: the workload's side */
	CONFIG_RL_PROXIES_GATEWAY,  /* GATEWAY */
};

struct config_rate_limit {
	struct config_meta meta;
	bool envoy_filter; /* loaded from an EnvoyFilter */
	bool has_selector; /* selector / workloadSelector present */
	struct config_labels selector;
	size_t n_target_refs;
	struct config_target_ref *target_refs;
	enum config_rl_proxies proxies;
	uint16_t port; /* only requests to this (target) port; 0: any */
	bool has_bucket;
	struct config_token_bucket bucket; /* every request checked */
	bool always_consume_default;	   /* the default bucket even when a rule's matched */
	double enabled_percent, enforced_percent; /* 0..100 */
	int status;				  /* of a refused request: 429 */
	bool rate_limit_headers;		  /* x-ratelimit-* (DRAFT_VERSION_03) */
	struct config_labels response_headers;	  /* added to a refused request's answer */
	size_t n_rules;
	struct config_rl_rule *rules;
};

/*
 * Telemetry (telemetry.istio.io v1, v1alpha1; one schema): per mesh (the root namespace, no
 * selector), namespace (no selector) or workload (selector, or targetRefs to a Gateway or
 * Service). Fields that may be absent (inherited from the wider one) carry has_ flags.
 */
enum config_telemetry_mode {
	CONFIG_TELEMETRY_CLIENT_AND_SERVER = 0,
	CONFIG_TELEMETRY_CLIENT,
	CONFIG_TELEMETRY_SERVER,
};

enum config_custom_tag_kind {
	CONFIG_TAG_LITERAL = 0, /* value */
	CONFIG_TAG_ENVIRONMENT, /* name (a variable), default_value */
	CONFIG_TAG_HEADER,	/* name (a request header, lowercase), default_value */
};

struct config_custom_tag {
	char *tag;
	enum config_custom_tag_kind kind;
	char *value; /* the literal, or the variable's or header's name */
	char *default_value;
};

struct config_telemetry_tracing {
	struct config_strings providers; /* providers[].name; none: the mesh's defaultProviders */
	enum config_telemetry_mode mode; /* match.mode */
	bool has_sampling;
	double sampling; /* randomSamplingPercentage, 0..100 */
	bool has_disable_span_reporting, disable_span_reporting;
	bool has_use_request_id, use_request_id_for_trace_sampling;
	bool has_enable_istio_tags, enable_istio_tags; /* Istio's default: true */
	bool has_disable_context_propagation, disable_context_propagation;
	size_t n_tags;
	struct config_custom_tag *tags; /* customTags, sorted by name */
};

struct config_telemetry_access_logging {
	struct config_strings providers;
	enum config_telemetry_mode mode;
	bool has_disabled, disabled;
	char *filter; /* filter.expression (CEL), or NULL */
};

enum config_tag_op {
	CONFIG_TAG_UPSERT = 0,
	CONFIG_TAG_REMOVE,
};

struct config_tag_override {
	char *tag;
	enum config_tag_op op;
	char *value; /* UPSERT's expression */
};

struct config_metric_override {
	char *metric; /* match.metric (ALL_METRICS, REQUEST_COUNT, ...) or match.customMetric */
	bool custom_metric; /* @metric is match.customMetric */
	enum config_telemetry_mode mode;
	bool has_disabled, disabled;
	size_t n_tag_overrides;
	struct config_tag_override *tag_overrides; /* tagOverrides, sorted by tag */
};

struct config_telemetry_metrics {
	struct config_strings providers;
	uint64_t reporting_interval_ms; /* 0: unset */
	size_t n_overrides;
	struct config_metric_override *overrides;
};

struct config_telemetry {
	struct config_meta meta;
	bool has_selector;
	struct config_labels selector;
	size_t n_target_refs; /* targetRef and targetRefs, one list */
	struct config_target_ref *target_refs;
	size_t n_tracing, n_access_logging, n_metrics;
	struct config_telemetry_tracing *tracing;
	struct config_telemetry_access_logging *access_logging;
	struct config_telemetry_metrics *metrics;
};

/*
 * Istio networking kinds (networking.istio.io v1, v1beta1, v1alpha3; same schema). The loader
 * validates every field of the API and the model keeps every field a proxy acts on (telemetry
 * names and what is only validated are not kept). Host names are kept as written (short names
 * are expanded against meta.namespace by the consumer). Istio's defaults are filled in where
 * the meaning of "absent" is a value (a redirect's 301, an outlier block's 5 errors); fields
 * whose absence means something else carry a has_ flag or -1.
 */

/* Headers.HeaderOperations: set (overwrite), add (append), remove; names as written. */
struct config_header_ops {
	struct config_labels set, add;
	struct config_strings remove;
};

struct config_headers {
	struct config_header_ops request, response;
};

struct config_destination {
	char *host;
	char *subset;  /* NULL: the whole service */
	uint16_t port; /* destination.port.number, 0 when omitted */
	bool has_weight;
	int32_t weight;
	struct config_headers headers; /* route[].headers: applied after the rule's own */
};

struct config_string_match {
	enum {
		CONFIG_MATCH_NONE = 0,
		CONFIG_MATCH_EXACT,
		CONFIG_MATCH_PREFIX,
		CONFIG_MATCH_REGEX
	} type;
	char *value;
};

/* headers / withoutHeaders / queryParams entry; match type NONE tests presence. */
struct config_header_match {
	char *name;
	struct config_string_match match;
};

/* One http[].match[] / tcp[].match[] / tls[].match[] block; fields AND. */
struct config_route_match {
	int line;
	char *name;
	struct config_string_match uri, scheme, method, authority;
	size_t n_headers, n_without_headers, n_query_params;
	struct config_header_match *headers, *without_headers, *query_params;
	bool ignore_uri_case; /* exact and prefix uri matches ignore case */
	uint16_t port;	      /* 0: any */
	struct config_labels source_labels;
	char *source_namespace;
	struct config_strings gateways;
	struct config_strings sni_hosts;	   /* tls */
	struct config_strings destination_subnets; /* tcp/tls */
	bool empty; /* no condition at all: the block matches every request (a catch-all) */
};

enum config_route_type {
	CONFIG_ROUTE_HTTP = 0,
	CONFIG_ROUTE_TCP,
	CONFIG_ROUTE_TLS,
};

struct config_http_fault {
	bool has_delay, has_abort;
	uint64_t delay_ms;
	double delay_percent; /* 0..100; 0 when neither percentage nor percent is given */
	int abort_status;     /* httpStatus, 0 when grpcStatus */
	char *abort_grpc_status;
	double abort_percent; /* 0 when percentage is absent */
};

enum config_derive_port {
	CONFIG_DERIVE_PORT_NONE = 0,
	CONFIG_DERIVE_PORT_PROTOCOL_DEFAULT, /* FROM_PROTOCOL_DEFAULT: 80 or 443 */
	CONFIG_DERIVE_PORT_REQUEST,	     /* FROM_REQUEST_PORT */
};

struct config_http_redirect {
	char *uri;	      /* replaces the whole path, or NULL */
	char *prefix_rewrite; /* replaces the matched prefix, or NULL */
	char *authority, *scheme;
	uint16_t port; /* 0: keep */
	enum config_derive_port derive_port;
	int code; /* 301 unless redirectCode says */
};

struct config_mirror {
	struct config_destination destination;
	double percent; /* 100 when omitted */
};

enum config_cors_preflight {
	CONFIG_CORS_PREFLIGHT_UNSPECIFIED = 0,
	CONFIG_CORS_PREFLIGHT_FORWARD,
	CONFIG_CORS_PREFLIGHT_IGNORE,
};

struct config_cors {
	bool present;
	size_t n_allow_origins; /* allowOrigins, and deprecated allowOrigin as exact matches */
	struct config_string_match *allow_origins;
	struct config_strings allow_methods, allow_headers, expose_headers;
	uint64_t max_age_ms;   /* 0: unset */
	int allow_credentials; /* -1 unset, 0, 1 */
	enum config_cors_preflight unmatched_preflights;
};

struct config_vs_route {
	enum config_route_type type;
	int line;
	char *name;
	size_t n_match; /* 0: matches everything (a catch-all) */
	struct config_route_match *match;
	size_t n_route;
	struct config_destination *route;
	bool has_redirect, has_direct_response, has_delegate;
	struct config_http_redirect redirect;
	int direct_response_status;
	char *direct_response_body; /* body.string, or body.bytes decoded; NULL: none */
	size_t direct_response_body_len;
	char *delegate_name, *delegate_namespace;
	uint64_t timeout_ms; /* 0: none */
	bool has_retries;    /* absent: the mesh default policy applies */
	int retry_attempts;
	uint64_t retry_per_try_timeout_ms;
	char *retry_on;			 /* NULL or "": the default conditions */
	int retry_remote_localities;	 /* -1 unset */
	int retry_ignore_previous_hosts; /* -1 unset (true) */
	uint64_t retry_backoff_ms;	 /* 0: Envoy's 25 ms */
	bool has_fault;
	struct config_http_fault fault;
	char *rewrite_uri, *rewrite_authority;
	char *rewrite_regex, *rewrite_regex_sub; /* uriRegexRewrite match / rewrite */
	bool has_mirror;
	struct config_destination mirror;
	double mirror_percent; /* 100 when omitted */
	size_t n_mirrors;
	struct config_mirror *mirrors;
	struct config_cors cors;
	struct config_headers headers;
};

struct config_virtual_service {
	struct config_meta meta;
	struct config_strings hosts;
	struct config_strings gateways; /* empty: ["mesh"] */
	struct config_strings export_to;
	size_t n_routes; /* http[], then tcp[], then tls[] in file order within each */
	struct config_vs_route *routes;
};

/* DestinationRule trafficPolicy parts. Each has `present`: a subset's replaces its parent's. */
enum config_lb_simple {
	CONFIG_LB_UNSPECIFIED = 0, /* Istio's default: LEAST_REQUEST */
	CONFIG_LB_LEAST_REQUEST,   /* also the deprecated LEAST_CONN */
	CONFIG_LB_ROUND_ROBIN,
	CONFIG_LB_RANDOM,
	CONFIG_LB_PASSTHROUGH,
};

enum config_hash_key {
	CONFIG_HASH_NONE = 0,
	CONFIG_HASH_HEADER,
	CONFIG_HASH_COOKIE,
	CONFIG_HASH_SOURCE_IP,
	CONFIG_HASH_QUERY,
};

struct config_load_balancer {
	bool present;
	enum config_lb_simple simple;
	enum config_hash_key hash_key; /* NONE: not consistentHash */
	char *hash_name;	       /* header, cookie or query parameter name */
	char *cookie_path;
	uint64_t cookie_ttl_ms; /* 0: no ttl (the proxy does not generate the cookie) */
	bool maglev;
	uint64_t table_size; /* ring hash minimumRingSize (1024) or maglev tableSize (65537) */
	/*
	 * localityLbSetting: turned off (enabled: false), and its failoverPriority, in order: a
	 * label key, or "key=value" naming the value to prefer. Applied with outlierDetection only,
	 * as Istio's.
	 */
	bool locality_off;
	struct config_strings failover_priority;
};

enum config_h2_upgrade {
	CONFIG_H2_UPGRADE_DEFAULT = 0,
	CONFIG_H2_UPGRADE_DO_NOT_UPGRADE,
	CONFIG_H2_UPGRADE_UPGRADE,
};

/* Istio's defaults fill what is unset: limits 2^32-1, connect 10 s, idle 1 h. */
struct config_connection_pool {
	bool present;
	uint32_t max_connections;
	uint64_t connect_timeout_ms;
	uint64_t tcp_idle_timeout_ms;
	uint64_t max_connection_duration_ms; /* 0: unlimited */
	uint32_t http1_max_pending_requests, http2_max_requests;
	uint32_t max_requests_per_connection; /* 0: unlimited */
	uint32_t max_retries;
	uint64_t http_idle_timeout_ms;
	enum config_h2_upgrade h2_upgrade_policy;
	bool use_client_protocol;
	uint32_t max_concurrent_streams; /* 0: unset */
};

/* Istio's circuit-breaker defaults, for a pool nothing configured: no limits, 10 s to connect, an
 * hour idle (Envoy's TCP proxy's and HTTP connection manager's). */
#define CONFIG_POOL_ISTIO_DEFAULTS                                                                 \
	{                                                                                          \
		.max_connections = UINT32_MAX, .connect_timeout_ms = 10000,                        \
		.tcp_idle_timeout_ms = 3600000, .http1_max_pending_requests = UINT32_MAX,          \
		.http2_max_requests = UINT32_MAX, .max_retries = UINT32_MAX,                       \
		.http_idle_timeout_ms = 3600000,                                                   \
	}

/* Defaults when the block is present: 5 consecutive 5xx, 10 s sweep, 30 s, 10%, panic off. */
struct config_outlier_detection {
	bool present;
	uint32_t consecutive_5xx;	   /* 0 disables */
	uint32_t consecutive_gateway;	   /* 0: off (the default) */
	uint32_t consecutive_local_origin; /* with split_local_origin only */
	bool split_local_origin;
	uint64_t interval_ms, base_ejection_ms;
	uint32_t max_ejection_percent, min_health_percent;
	size_t n_error_codes; /* outlierDetectionHttpErrorCodes: what counts instead of 5xx */
	uint16_t *error_codes;
};

struct config_client_tls {
	bool present;
	char *mode; /* DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL (NULL: DISABLE as written) */
	char *sni, *ca_certificates, *credential_name, *client_certificate, *private_key;
	struct config_strings subject_alt_names;
	bool insecure_skip_verify;
};

struct config_port_traffic_policy {
	uint16_t port;
	struct config_load_balancer lb;
	struct config_connection_pool pool;
	struct config_outlier_detection outlier;
	struct config_client_tls tls;
};

struct config_traffic_policy {
	bool present;
	struct config_load_balancer lb;
	struct config_connection_pool pool;
	struct config_outlier_detection outlier;
	struct config_client_tls tls;
	size_t n_port_level;
	struct config_port_traffic_policy *port_level;
};

struct config_subset {
	int line;
	char *name;
	struct config_labels labels;
	struct config_traffic_policy policy;
};

struct config_destination_rule {
	struct config_meta meta;
	char *host;
	struct config_traffic_policy policy;
	size_t n_subsets;
	struct config_subset *subsets;
	struct config_strings export_to;
	bool has_workload_selector;
	struct config_labels workload_selector;
};

struct config_gateway_server {
	int line;
	uint32_t port;
	char *protocol;
	char *port_name;
	char *name;
	struct config_strings hosts;
	char *tls_mode; /* NULL: no tls block */
	bool https_redirect;
	char *credential_name;
	/* tls.min/maxProtocolVersion as TLS version numbers (0x0303: 1.2), 0 for TLS_AUTO. */
	uint16_t min_tls, max_tls;
	/* tls.cipherSuites as Istio keeps them: its valid names, each once, in order. */
	struct config_strings cipher_suites;
};

struct config_gateway {
	struct config_meta meta;
	struct config_labels selector;
	size_t n_servers;
	struct config_gateway_server *servers;
};

/*
 * Gateway API kinds (gateway.networking.k8s.io): Gateway (v1, v1beta1), HTTPRoute (v1,
 * v1beta1), GRPCRoute (v1). API_SEMANTICS.md §7. Defaults of the CRDs are filled in (a
 * parentRef's group and kind, a backendRef's kind and weight, a match's PathPrefix "/").
 */
#define CONFIG_GW_GROUP "gateway.networking.k8s.io"
#define CONFIG_WAYPOINT_CLASS "istio-waypoint"
/* Gateway API Gateways of this class are ingress gateways, each with its own deployment. */
#define CONFIG_GATEWAY_CLASS "istio"
/*
 * Istio's east-west gateway (gen-eastwest-gateway.sh --ambient): a listener `mesh` on 15008 of
 * protocol HBONE; its deployment terminates the outer tunnel of double HBONE and passes the
 * inner one on to an endpoint's port 15008.
 */
#define CONFIG_EASTWEST_CLASS "istio-east-west"
/* Waypoint labels (API_SEMANTICS.md §9). */
#define CONFIG_LABEL_USE_WAYPOINT "istio.io/use-waypoint"
#define CONFIG_LABEL_USE_WAYPOINT_NS "istio.io/use-waypoint-namespace"
#define CONFIG_LABEL_WAYPOINT_FOR "istio.io/waypoint-for"
#define CONFIG_LABEL_GATEWAY_NAME "gateway.networking.k8s.io/gateway-name"
#define CONFIG_ANNOT_GATEWAY_SA "gateway.istio.io/service-account"
/* On a Gateway API Gateway: its Service's type, as Istio's gateway controller reads it. */
#define CONFIG_ANNOT_SERVICE_TYPE "networking.istio.io/service-type"
/* On a Service (else its namespace): gateways send its traffic to its waypoint. */
#define CONFIG_LABEL_INGRESS_USE_WAYPOINT "istio.io/ingress-use-waypoint"
/* On the local cluster's istio-system/istio-ingressgateway Service: ambitctl makes its pod. */
#define CONFIG_LABEL_LOCAL_INGRESS "ambit.io/local-ingress"

enum config_gw_from {
	CONFIG_GW_FROM_SAME = 0,
	CONFIG_GW_FROM_ALL,
	CONFIG_GW_FROM_SELECTOR,
};

/* A listener's tls.certificateRefs entry: a Secret (group "", kind Secret) by default. */
struct config_gw_cert_ref {
	char *group, *kind, *name;
	char *namespace; /* NULL: the Gateway's */
};

struct config_gw_listener {
	int line;
	char *name;
	char *hostname; /* NULL: any */
	uint16_t port;
	char *protocol; /* HTTP, HTTPS, TLS, TCP, UDP, HBONE, ... as written */
	char *tls_mode; /* NULL: no tls block */
	enum config_gw_from allowed_from;
	struct config_labels allowed_selector; /* matchLabels, for CONFIG_GW_FROM_SELECTOR */
	struct config_strings allowed_kinds;   /* allowedRoutes.kinds[].kind; none: by protocol */
	size_t n_cert_refs;		       /* tls.certificateRefs */
	struct config_gw_cert_ref *cert_refs;
};

struct config_k8s_gateway {
	struct config_meta meta;
	char *class_name;
	size_t n_listeners;
	struct config_gw_listener *listeners;
	struct config_strings addresses; /* spec.addresses[].value */
};

struct config_parent_ref {
	char *group, *kind, *name;
	char *namespace;    /* NULL: the route's */
	char *section_name; /* NULL: all */
	uint16_t port;	    /* 0: all */
	/*
	 * kind Service written with group gateway.networking.k8s.io, or without a group (the
	 * CRD's default): group is made "" (the core Service it can only mean), and this is set
	 * for analyze's warning and the status's parentRef, which echoes the route's.
	 */
	bool service_group_defaulted;
};

enum config_gw_match_type {
	CONFIG_GW_MATCH_EXACT = 0,
	CONFIG_GW_MATCH_PREFIX, /* PathPrefix: segment-aware */
	CONFIG_GW_MATCH_REGEX,
};

/* A header or query parameter match (Exact or RegularExpression). */
struct config_gw_value_match {
	enum config_gw_match_type type;
	char *name;
	char *value;
};

struct config_gw_route_match {
	int line;
	enum config_gw_match_type path_type; /* HTTPRoute; PathPrefix "/" when omitted */
	char *path;
	size_t n_headers, n_query_params;
	struct config_gw_value_match *headers, *query_params;
	char *method; /* HTTPRoute: NULL any */
	/* GRPCRoute: method match; NULL service or method matches any. */
	enum config_gw_match_type grpc_type; /* EXACT or REGEX */
	char *grpc_service, *grpc_method;
};

enum config_gw_filter_type {
	CONFIG_GW_FILTER_REQUEST_HEADER = 0,
	CONFIG_GW_FILTER_RESPONSE_HEADER,
	CONFIG_GW_FILTER_MIRROR,
	CONFIG_GW_FILTER_REDIRECT,
	CONFIG_GW_FILTER_REWRITE,
	CONFIG_GW_FILTER_CORS,
	CONFIG_GW_FILTER_EXTENSION_REF,
};

enum config_gw_path_mod {
	CONFIG_GW_PATH_KEEP = 0,
	CONFIG_GW_PATH_FULL,   /* ReplaceFullPath */
	CONFIG_GW_PATH_PREFIX, /* ReplacePrefixMatch */
};

struct config_backend_ref;

struct config_gw_filter {
	enum config_gw_filter_type type;
	struct config_header_ops headers; /* Request/ResponseHeaderModifier */
	struct config_backend_ref *mirror;
	double mirror_percent;	 /* percent or fraction; 100 when neither */
	char *scheme, *hostname; /* redirect (scheme, hostname) and rewrite (hostname) */
	enum config_gw_path_mod path_mod;
	char *path;
	uint16_t port;	 /* redirect; 0: keep */
	int status_code; /* redirect; 302 by default */
};

struct config_backend_ref {
	char *group, *kind, *name;
	char *namespace; /* NULL: the route's */
	uint16_t port;
	int32_t weight; /* 1 by default */
	size_t n_filters;
	struct config_gw_filter *filters;
};

struct config_gw_route_rule {
	int line;
	char *name;
	size_t n_matches; /* at least one: the default match when none is written */
	struct config_gw_route_match *matches;
	size_t n_filters;
	struct config_gw_filter *filters;
	size_t n_backends;
	struct config_backend_ref *backends;
	uint64_t timeout_request_ms, timeout_backend_ms; /* 0: none */
	bool has_retry;
	int retry_attempts; /* 0: the implementation's */
	size_t n_retry_codes;
	uint16_t *retry_codes;
	uint64_t retry_backoff_ms;
};

/*
 * HTTPRoute and GRPCRoute share one model; so do TLSRoute and TCPRoute (@l4: rules with
 * backendRefs only, a TLSRoute's hostnames the SNI names).
 */
enum config_gw_l4 { CONFIG_GW_L7 = 0, CONFIG_GW_TLS, CONFIG_GW_TCP };

struct config_gw_route {
	struct config_meta meta;
	bool grpc;
	enum config_gw_l4 l4;
	size_t n_parent_refs;
	struct config_parent_ref *parent_refs;
	struct config_strings hostnames;
	size_t n_rules;
	struct config_gw_route_rule *rules;
};

struct config_se_port {
	uint32_t number;
	char *protocol; /* NULL when omitted */
	char *name;
	uint32_t target_port; /* 0 when omitted */
};

struct config_se_endpoint {
	char *address;
	struct config_labels ports; /* port name -> number, as strings */
	struct config_labels labels;
	char *network, *locality, *service_account;
	uint32_t weight;
};

enum config_se_location { CONFIG_SE_MESH_EXTERNAL = 0, CONFIG_SE_MESH_INTERNAL };
enum config_se_resolution {
	CONFIG_SE_RESOLUTION_NONE = 0,
	CONFIG_SE_RESOLUTION_STATIC,
	CONFIG_SE_RESOLUTION_DNS,
	CONFIG_SE_RESOLUTION_DNS_ROUND_ROBIN,
	CONFIG_SE_RESOLUTION_DYNAMIC_DNS,
};

struct config_service_entry {
	struct config_meta meta;
	struct config_strings hosts;
	struct config_strings addresses;
	size_t n_ports;
	struct config_se_port *ports;
	enum config_se_location location;
	enum config_se_resolution resolution;
	size_t n_endpoints;
	struct config_se_endpoint *endpoints;
	bool has_workload_selector;
	struct config_labels workload_selector;
	struct config_strings export_to;
	struct config_strings subject_alt_names;
};

/*
 * The address of a ServiceEntry host (config/se_vip.c): its first /32 address, or one of
 * 240.240.0.0/16 allocated as Istio's DNS auto-allocation does (@needs: it was allocated);
 * 0 for a host with none (CIDRs, resolution NONE, wildcards). @vip6 likewise: its first /128
 * address, or, for a host that got an allocated IPv4 one and has no IPv6 address or CIDR
 * (@needs6), one of 2001:2::/48 (family 0: none).
 */
struct config_se_vip {
	const char *namespace, *host; /* borrowed from the config */
	uint32_t vip;		      /* network order */
	bool needs, needs6;
	struct ipaddr vip6;
};

/* Everything loaded from a set of files. Arrays are owned by the struct. */
/*
 * The mesh config (MeshConfig: ConfigMap `istio` in istio-system, key `mesh`), the fields the
 * proxies act on (kinds/mesh.c).
 */
enum config_path_norm {
	CONFIG_PATH_NORM_UNSET = -1,
	CONFIG_PATH_NORM_BASE = 0, /* Istio's default (DEFAULT) */
	CONFIG_PATH_NORM_NONE,
	CONFIG_PATH_NORM_MERGE_SLASHES,
	CONFIG_PATH_NORM_DECODE_MERGE,
};

/*
 * ProxyConfig.connectionSettings.httpHeadersWithUnderscoresAction (Envoy's
 * headers_with_underscores_action): a request field whose name holds "_" is let through,
 * refused with 400, or dropped before anything sees it. Unset is ALLOW, or REJECT under the
 * EDGE profile.
 */
enum config_underscores {
	CONFIG_UNDERSCORES_UNSET = -1,
	CONFIG_UNDERSCORES_ALLOW = 0,
	CONFIG_UNDERSCORES_REJECT,
	CONFIG_UNDERSCORES_DROP,
};

/* envoyExtAuthzHttp / envoyExtAuthzGrpc */
struct config_ext_authz {
	bool grpc;
	char *service; /* "[ns/]host" */
	uint16_t port;
	uint64_t timeout_ms; /* 0: Istio's 600 s */
	char *path_prefix;
	bool fail_open;
	int status_on_error; /* 0: 403 */
	struct config_strings include_request_headers_in_check, headers_to_upstream_on_allow;
	struct config_strings headers_to_downstream_on_deny, headers_to_downstream_on_allow;
	struct config_labels include_additional_headers_in_check;
	bool include_body;
	uint32_t max_request_bytes;
};

/*
 * A tracing provider: zipkin (Zipkin v2 JSON, POST @path, /api/v2/spans) or opentelemetry
 * (OTLP: over HTTP, protobuf POST to @path, /v1/traces by default, when `http` is set; else
 * OTLP/gRPC, TraceService/Export).
 */
enum config_trace_kind {
	CONFIG_TRACE_NONE = 0,
	CONFIG_TRACE_ZIPKIN,
	CONFIG_TRACE_OTLP_HTTP,
	CONFIG_TRACE_OTLP_GRPC,
};

struct config_trace_provider {
	enum config_trace_kind kind;
	char *service; /* "[ns/]host" */
	uint16_t port;
	uint32_t max_tag_length;      /* zipkin/opentelemetry maxTagLength; 0: Istio's 256 */
	char *path;		      /* as written, else /api/v2/spans or /v1/traces; gRPC: NULL */
	uint64_t timeout_ms;	      /* http.timeout / grpc.timeout; 0: the proxy's (5 s) */
	struct config_labels headers; /* http.headers / grpc.initialMetadata: name -> value */
	bool trace_id_128;	      /* !zipkin.enable64bitTraceId; OTLP: always */
};

struct config_extension_provider {
	char *name;
	const char *kind; /* "envoyExtAuthzHttp", "zipkin", ... (static) */
	struct config_ext_authz ext_authz;
	struct config_trace_provider trace; /* zipkin, opentelemetry */
};

struct config_mesh {
	bool present;
	int path_normalization;	       /* enum config_path_norm */
	int num_trusted_proxies;       /* -1: unset */
	int underscores;	       /* enum config_underscores */
	bool proxy_protocol;	       /* gatewayTopology.proxyProtocol is set (any value) */
	char *outbound_traffic_policy; /* "ALLOW_ANY", "REGISTRY_ONLY" or NULL */
	size_t n_providers;
	struct config_extension_provider *providers;
	/* defaultProviders: what a Telemetry naming no provider uses. */
	struct config_strings default_tracing, default_access_logging, default_metrics;
	bool enable_tracing;	   /* enableTracing (Istio's default: true) */
	bool has_default_sampling; /* defaultConfig.tracing.sampling, not 0 (istiod's unset) */
	double default_sampling;   /* percent, 0..100 (Istio's default: 1) */
	/* trustDomainAliases: other trust domains of the mesh's identities (multicluster). */
	struct config_strings trust_domain_aliases;
};

struct config_config_map {
	struct config_meta meta;
	struct config_labels data;
	bool has_mesh; /* istio-system/istio with a `mesh` key: @mesh parsed */
	struct config_mesh mesh;
};

/* Secret (v1): its data decoded (NUL-terminated past @len); what a credentialName names. */
#define CONFIG_SECRET_TLS_CRT "tls.crt"
#define CONFIG_SECRET_TLS_KEY "tls.key"
#define CONFIG_SECRET_CA_CRT "ca.crt"

struct config_secret_item {
	char *key;
	char *value;
	size_t len;
};

struct config_secret {
	struct config_meta meta;
	char *type; /* "Opaque" when not written */
	size_t n;
	struct config_secret_item *items;
};

/*
 * Gateway API ReferenceGrant: objects of the kinds and namespaces of @from may refer to the
 * objects of @to (of its own namespace; @name NULL: any of the kind).
 */
struct config_ref_grant_from {
	char *group, *kind, *namespace;
};

struct config_ref_grant_to {
	char *group, *kind, *name;
};

struct config_reference_grant {
	struct config_meta meta;
	size_t n_from, n_to;
	struct config_ref_grant_from *from;
	struct config_ref_grant_to *to;
};

struct config {
	size_t n_namespaces, n_pods, n_deployments, n_services, n_service_accounts;
	size_t n_endpoint_slices;
	struct config_endpoint_slice *endpoint_slices;
	struct config_namespace *namespaces;
	struct config_pod *pods;
	struct config_deployment *deployments;
	struct config_service *services;
	struct config_service_account *service_accounts;
	size_t n_authorization_policies, n_peer_authentications;
	struct config_authorization_policy *authorization_policies;
	struct config_peer_authentication *peer_authentications;
	size_t n_virtual_services, n_destination_rules, n_gateways, n_service_entries;
	struct config_virtual_service *virtual_services;
	struct config_destination_rule *destination_rules;
	struct config_gateway *gateways;
	struct config_service_entry *service_entries;
	size_t n_request_authentications;
	struct config_request_authentication *request_authentications;
	/* Gateway API (gateway.networking.k8s.io) */
	size_t n_k8s_gateways, n_http_routes, n_grpc_routes, n_tls_routes, n_tcp_routes;
	struct config_k8s_gateway *k8s_gateways;
	struct config_gw_route *http_routes, *grpc_routes, *tls_routes, *tcp_routes;
	size_t n_reference_grants;
	struct config_reference_grant *reference_grants;
	size_t n_config_maps;
	struct config_config_map *config_maps;
	size_t n_secrets;
	struct config_secret *secrets;
	/* Local rate limits: EnvoyFilters (translated) and LocalRateLimits, one shape. */
	size_t n_envoy_filters, n_local_rate_limits;
	struct config_rate_limit *envoy_filters, *local_rate_limits;
	size_t n_telemetries;
	struct config_telemetry *telemetries;
	/* @namespaces are sorted by name, one each (config_sort_namespaces): looked up in halves.
	 */
	bool namespaces_sorted;
	/*
	 * ambit is uninstalled from the cluster (a local cluster's agent, --uninstalled-file): no
	 * pod is in the mesh, whatever its namespace says (config_enrolled).
	 */
	bool mesh_off;
};

/* One problem found while loading: "file:line:col: kind/ns/name: field: reason". */
struct config_diag {
	char *file;
	int line;
	int column;
	bool error;   /* false: a warning */
	char *object; /* "Kind ns/name" when known, else NULL */
	char *field;  /* dotted path, e.g. "spec.ports[0].port", or NULL */
	char *message;
};

struct config_diags {
	size_t n;
	struct config_diag *items;
};

void config_init(struct config *cfg);
void config_free(struct config *cfg);
void config_diags_free(struct config_diags *diags);
/* Formats @d as one line "file:line:col: error: Kind ns/name: field: message" into @buf. */
void config_diag_format(const struct config_diag *d, char *buf, size_t len);

/*
 * Parses every document of @path (multi-document YAML) and appends the objects to @cfg.
 * A file with any error adds none of its objects (all or nothing per file) and appends the
 * errors to @diags. Returns 0, or -EINVAL when the file had errors, or -errno when unreadable.
 * Borrows @path; @cfg and @diags take ownership of what is appended.
 */
/*
 * A duration as Istio writes one ("1.5s", "300ms", "1h"; google.protobuf.Duration's JSON form
 * and Go's units) in milliseconds. 0, or -EINVAL with *@why (static) saying why.
 */
int config_parse_duration_ms(const char *s, uint64_t *ms, const char **why);
int config_load_file(struct config *cfg, const char *path, struct config_diags *diags);
/* Same for a memory buffer; @name is used as the file name in diagnostics. */
int config_load_buffer(struct config *cfg, const char *name, const char *buf, size_t len,
		       struct config_diags *diags);
/* One object of a manifest as `ambitctl apply` stores it. All borrowed for the callback only. */
struct config_object {
	const char *file;	 /* as loaded (the path, or the name given for a buffer) */
	const char *api_version; /* as written: "v1", "security.istio.io/v1", ... */
	const char *kind;
	const char *namespace; /* NULL for a cluster-scoped kind (Namespace) */
	const char *name;
	int line;	  /* of its document (or List item) */
	const char *yaml; /* the object alone as one YAML document, its namespace filled in */
};

struct config_load_opts {
	/* Namespace of namespaced objects that name none; NULL: "default". */
	const char *default_namespace;
	/* An object naming a namespace other than @default_namespace is an error (kubectl -n). */
	bool enforce_namespace;
	/*
	 * Called for each object of a file that loaded cleanly, in file order, once the whole
	 * file did (a file with any error adds no objects and tells none). May be NULL. A
	 * non-zero return fails the load with that error.
	 */
	int (*on_object)(void *arg, const struct config_object *obj);
	void *arg;
};

/* config_load_buffer and config_load_file with options (@opts borrowed, may be NULL). */
int config_load_buffer_opts(struct config *cfg, const char *name, const char *buf, size_t len,
			    const struct config_load_opts *opts, struct config_diags *diags);
int config_load_file_opts(struct config *cfg, const char *path, const struct config_load_opts *opts,
			  struct config_diags *diags);
/*
 * Calls @fn for every *.yaml / *.yml file under @dir (sorted, recursive; dot-files, editor
 * backups and deep trees skipped, the latter with a diagnostic). Returns @fn's first error.
 */
int config_walk_dir(const char *dir, int (*fn)(const char *path, void *arg), void *arg,
		    struct config_diags *diags);
/*
 * Manifest file @file again with Namespace @ns's labels and annotations replaced by @labels and
 * @annotations (`ambitctl label`), the other documents unchanged in meaning: *@out (malloc'd).
 * 0 or -errno.
 */
int config_emit_ns_labels(const char *file, const char *ns, const struct config_labels *labels,
			  const struct config_labels *annotations, char **out);
/* A file, or every *.yaml / *.yml file under a directory (sorted, recursive), with @opts. */
int config_load_path_opts(struct config *cfg, const char *path, const struct config_load_opts *opts,
			  struct config_diags *diags);
/*
 * CustomResourceDefinitions (apiextensions.k8s.io/v1) for the Istio kinds ambit loads, their
 * structural schemas generated from the loader's field tables, as one JSON "List" (malloc'd), or
 * NULL when out of memory. `ambitctl install crds`.
 */
char *config_crds_json(void);
/* The API group of "group/version" ("" for the core "v1"), copied into @buf. */
const char *config_api_group(const char *api_version, char *buf, size_t len);

/*
 * Where the object store of a state directory (ambitctl apply) keeps an object:
 * @state/<namespace, or _cluster>/<kind lowercased>[.<group>]/<name>.yaml. 0, -EINVAL for a
 * name that could leave the directory, or -ENAMETOOLONG.
 */
int config_object_path(const char *state, const char *group, const char *kind, const char *ns,
		       const char *name, char *buf, size_t len);

/*
 * An object's identity (group, kind, namespace or "", name) as a 64-bit hash (XXH3 of its
 * parts), for tables of many objects: @m's id_hash when set (config_stamp_ids), else computed.
 */
uint64_t config_object_hash(const char *kind, const struct config_meta *m);
/* Sets every top-level object's id_hash, for a store that keeps @c and views it often. */
void config_stamp_ids(struct config *c);
/* Calls @fn for every top-level object of @c; stops at @fn's first non-zero return. */
int config_each_object(const struct config *c,
		       int (*fn)(void *arg, const char *kind, const struct config_meta *m),
		       void *arg);

/*
 * Removes from @view (a merged view whose elements it does not own, as the agent builds one
 * from many files) every object whose identity another element has, keeping per identity the
 * one @prefer ranks lowest (ties: origin file, then line). @report (may be NULL) is told each
 * one dropped and the one kept, and @kept (may be NULL) each object that stays with its
 * identity's hash, in the order of the hashes, before the arrays are compacted. 0 or -ENOMEM.
 */
int config_view_drop_duplicates(
    struct config *view, int (*prefer)(void *arg, const char *kind, const struct config_meta *m),
    void (*report)(void *arg, const char *kind, const struct config_meta *kept,
		   const struct config_meta *dropped),
    void (*kept)(void *arg, const struct config_meta *m, uint64_t hash), void *arg);

/* Loads every *.yaml / *.yml file under @dir (sorted, recursive). Returns the first error. */
int config_load_dir(struct config *cfg, const char *dir, struct config_diags *diags);

/* Look-ups; return a borrowed pointer or NULL. */
/*
 * Whether an object (@from_group, @from_kind) of namespace @from_ns may refer to object @to_name
 * (@to_group, @to_kind) of namespace @to_ns: the same namespace, or a ReferenceGrant of @to_ns
 * says so (Gateway API's rule; an empty group is the core one).
 */
bool config_reference_granted(const struct config *cfg, const char *from_group,
			      const char *from_kind, const char *from_ns, const char *to_group,
			      const char *to_kind, const char *to_ns, const char *to_name);
const struct config_namespace *config_find_namespace(const struct config *cfg, const char *name);
/*
 * Sorts @cfg's Namespaces by name, for the look-ups of every pod: a view with one definition
 * per Namespace (config_view_drop_duplicates) that is not merged into afterwards.
 */
void config_sort_namespaces(struct config *cfg);
const char *config_label_get(const struct config_labels *labels, const char *key);
/* A Kubernetes name: an RFC 1123 label (namespaces, most names), or subdomain (at most 253). */
bool config_dns_label_ok(const char *s);
bool config_dns_subdomain_ok(const char *s);
/* A Kubernetes label value: empty, or at most 63 of [A-Za-z0-9._-] with alphanumeric ends. */
bool config_label_value_ok(const char *s);
/*
 * The type of the Service made for a Gateway API Gateway whose CONFIG_ANNOT_SERVICE_TYPE
 * annotation is @annot (borrowed; NULL: none): as Istio's gateway controller, the annotation's,
 * else ClusterIP for a waypoint (@waypoint) and LoadBalancer for an ingress gateway. A static
 * string; NULL when @annot is no type such a Service may have (ClusterIP, NodePort,
 * LoadBalancer).
 */
const char *config_gateway_service_type(const char *annot, bool waypoint);
/* True when every selector label is present with the same value in @labels (empty matches all). */
bool config_labels_match(const struct config_labels *selector, const struct config_labels *labels);
/*
 * Whether a policy's selector names Istio's gateway pods by their conventional labels (istio:
 * ingressgateway or egressgateway, app: istio-ingressgateway or istio-egressgateway,
 * gateway.networking.k8s.io/gateway-name or istio.io/gateway-name): a gateway proxy enforces
 * it, with every field, not the ztunnel.
 */
bool config_selects_gateway(bool has_selector, const struct config_labels *selector);
/* Labels @l (NULL: none) say a gateway's pod as Istio labels them: istio: ingressgateway or
 * egressgateway. */
bool config_istio_gateway_labelled(const struct config_labels *l);

void config_strings_free(struct config_strings *s);
/* Appends a copy of @key=@value to @l (0 or -ENOMEM); frees what @l owns. */
int config_labels_add(struct config_labels *l, const char *key, const char *value);
void config_labels_free(struct config_labels *l);
bool config_strings_has(const struct config_strings *s, const char *v);
/* Appends a copy of @v unless @s has it already. 0 or -ENOMEM. */
int config_strings_add(struct config_strings *s, const char *v);

/*
 * What the ztunnel can evaluate of an AuthorizationPolicy rule (Istio ambient's L4 subset).
 * config_authz_rule_l7_fields() lists, comma-separated into @buf, the fields of @r the ztunnel
 * cannot evaluate (HTTP-only, remoteIpBlocks, when keys other than source.ip, source.namespace,
 * source.principal, destination.ip, destination.port); false when there are none. An ALLOW rule
 * with any is dropped at the ztunnel; a DENY rule keeps its L4 parts, and when
 * config_authz_rule_has_l4() is false nothing is left and the rule matches nothing.
 */
bool config_authz_when_key_l4(const char *key);
void config_config_map_free(struct config_config_map *cm);
void config_secret_free(struct config_secret *s);
/* Secret @ns/@name of @c, or NULL. */
const struct config_secret *config_secret_of(const struct config *c, const char *ns,
					     const char *name);
/* Item @key of @s (may be NULL), or NULL. */
const struct config_secret_item *config_secret_get(const struct config_secret *s, const char *key);
void config_mesh_free(struct config_mesh *m);
/* The mesh config in @c (the ConfigMap istio-system/istio's), or NULL: Istio's defaults. */
/*
 * Every host of every ServiceEntry of @cfg with its address, sorted by (namespace, host), into
 * *@out (malloc'd, borrowing @cfg's strings) and *@n. 0, -ENOMEM, or -ENOSPC when the
 * allocation range is full.
 */
int config_se_vips(const struct config *cfg, struct config_se_vip **out, size_t *n);
/* The address of host @host of namespace @ns in @v (config_se_vips), or 0. */
uint32_t config_se_vip_of(const struct config_se_vip *v, size_t n, const char *ns,
			  const char *host);
/* Its IPv6 address (borrowed from @v), or NULL when it has none. */
const struct ipaddr *config_se_vip6_of(const struct config_se_vip *v, size_t n, const char *ns,
				       const char *host);

const struct config_mesh *config_mesh_of(const struct config *c);
/* The extension provider @name of @m (may be NULL), or NULL. */
const struct config_extension_provider *config_mesh_provider(const struct config_mesh *m,
							     const char *name);
/*
 * The kind of provider @name ("zipkin", "envoyFileAccessLog", ...; static) as istiod sees it:
 * one of @m's (may be NULL), else one Istio defines in every mesh (prometheus, stackdriver,
 * envoy: a file access log to /dev/stdout), else NULL: not defined.
 */
const char *config_mesh_provider_kind(const struct config_mesh *m, const char *name);
/* enableTracing of @m (may be NULL: Istio's default, true). */
bool config_mesh_tracing_enabled(const struct config_mesh *m);
/* Frees what rule @r owns (not @r). */
void config_authz_rule_free(struct config_authz_rule *r);
void config_jwt_rule_free(struct config_jwt_rule *r);
/* Free what the config part owns (not the part), for the config model and the L7 model alike. */
void config_header_ops_free(struct config_header_ops *h);
void config_headers_free(struct config_headers *h);
void config_cors_free(struct config_cors *c);
void config_load_balancer_free(struct config_load_balancer *lb);
void config_client_tls_free(struct config_client_tls *t);
bool config_authz_rule_l7_fields(const struct config_authz_rule *r, char *buf, size_t len);
bool config_authz_rule_has_l4(const struct config_authz_rule *r);
/*
 * The ZtunnelAccepted condition Istio (1.22+) writes in an ambient mesh on an AuthorizationPolicy
 * without targetRefs (pilot/pkg/serviceregistry/ambient/authorization.go), saying what ambit's
 * ztunnel does with @p: *@accepted (status True: the ztunnel enforces it), Istio's reason
 * ("Accepted", or "UnsupportedValue" when it cannot enforce every rule as written) into
 * @reason, and the message into @msg, Istio's words where it has them (the HTTP attributes it
 * found, sorted) and ambit's where it does otherwise (a DENY rule's part with only HTTP
 * attributes fails closed; CUSTOM is denied at the ztunnel). false when Istio writes none (a
 * targetRefs policy is the waypoint's).
 */
bool config_authz_ztunnel_condition(const struct config_authorization_policy *p, bool *accepted,
				    char *reason, size_t rlen, char *msg, size_t mlen);

/*
 * Cross-object analysis, as `istioctl analyze` does on top of schema validation: references to
 * hosts, subsets, gateways and namespaces that do not exist, unreachable routes, conflicting
 * PeerAuthentications, selectors matching no workload; and what ambit does not do: sidecar
 * injection (istio-injection, sidecar.istio.io/inject: ambit is ambient-only) and the kinds
 * nothing enforces yet (one "not enforced yet" warning per object). Findings go to @diags (error
 * true for what Istio reports as an Error, false for a Warning), naming file, line, object and
 * field, with Istio's IST codes where one exists. Only objects of @cfg are reported on; @context
 * (may be NULL: e.g. the running cluster's objects) only helps resolve references.
 * Returns 0 or -ENOMEM. Borrows everything; @diags takes ownership of what is appended.
 */
struct config_analyze_opts {
	const char *root_namespace;   /* NULL: "istio-system" */
	const struct config *context; /* NULL: none */
};
int config_analyze(const struct config *cfg, const struct config_analyze_opts *opts,
		   struct config_diags *diags);
/* Appends one finding; @fmt is printf-like. 0 or -ENOMEM. */
int config_diags_add(struct config_diags *diags, const struct config_origin *where, int line,
		     bool error, const char *object, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Mesh semantics (DESIGN.md §3). */
#define AMBIT_LABEL_DATAPLANE_MODE "istio.io/dataplane-mode"
/* Pod annotation: "false" keeps the pod's DNS away from the ztunnel's proxy (Istio's). */
#define AMBIT_ANNOTATION_DNS_CAPTURE "ambient.istio.io/dns-capture"
/*
 * Pod annotations of Istio's sidecars that leave ports out of capture (docs/capture.md): a
 * comma-separated list of ports whose TCP and UDP go as the pod's own, plaintext, past the mesh.
 */
#define AMBIT_ANNOTATION_EXCLUDE_OUTBOUND "traffic.sidecar.istio.io/excludeOutboundPorts"
#define AMBIT_ANNOTATION_EXCLUDE_INBOUND "traffic.sidecar.istio.io/excludeInboundPorts"
#define AMBIT_DATAPLANE_AMBIENT "ambient"
#define AMBIT_DATAPLANE_NONE "none"
/* Pod annotations written by the local cluster (or by the agent's Kubernetes source). */
#define AMBIT_ANNOT_CGROUP "ambit.io/cgroup"	     /* cgroup v2 path of the pod */
#define AMBIT_ANNOT_HOST_IFACE "ambit.io/host-iface" /* host-side veth name in the node netns */

/*
 * The pod's IPv4 address as text: status.podIP when it is one, else the IPv4 one of
 * status.podIPs (a dual-stack pod whose first family is IPv6); NULL: none (not running, or
 * IPv6 only). The mesh's data path carries IPv4.
 */
const char *config_pod_ipv4(const struct config_pod *pod);
/* The pod's IPv6 address as text (status.podIP or status.podIPs), or NULL. */
const char *config_pod_ipv6(const struct config_pod *pod);
/* Whether the pod has addresses and all of them are IPv6. */
bool config_pod_ipv6_only(const struct config_pod *pod);
/*
 * The Service's IPv4 cluster IP as text: spec.clusterIP when it is one, else the IPv4 one of
 * spec.clusterIPs (a dual-stack Service whose first family is IPv6); NULL: none (not allocated,
 * headless, or IPv6 only).
 */
const char *config_service_ipv4(const struct config_service *svc);

/* A pod is enrolled when its namespace is labelled ambient and the pod does not opt out. */
bool config_pod_enrolled(const struct config *cfg, const struct config_pod *pod);
/* The same for a pod of namespace @namespace labelled @labels (NULL: none). */
bool config_enrolled(const struct config *cfg, const char *namespace,
		     const struct config_labels *labels);

/* Capability @name ("NET_ADMIN", "cap_net_admin": case and CAP_ prefix optional): its number,
 * or -1 when Linux has no such capability. */
int config_capability_parse(const char *name);
/* Kubernetes' name of capability @bit ("NET_ADMIN"), or NULL past CONFIG_CAP_LAST. */
const char *config_capability_name(int bit);
/*
 * The capability set a container of @s runs with, as containerd computes it: everything when
 * privileged, else the default set, then add ALL, drop ALL, the other adds, the other drops.
 */
uint64_t config_security_caps(const struct config_security *s);
/* "Always", "OnFailure" or "Never". */
const char *config_restart_policy_name(enum config_restart_policy p);

#endif
