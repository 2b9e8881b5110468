/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The config family's decoding kit, for decode/, kinds/, config/ and analyze/ only (the public
 * API is include/ambit/config.h): the parse context that carries the file name, object name
 * and field path every diagnostic needs, the schema walker the kind descriptors are written
 * against, and each kind's parts.
 */
#ifndef AMBIT_DECODE_DECODE_H
#define AMBIT_DECODE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "ambit/config.h"

/* Bounds on hostile input (see config_yaml.c). */
#define CFG_MAX_FILE_SIZE (8u << 20)
#define CFG_MAX_DEPTH 64
#define CFG_MAX_EXPANDED_NODES 100000 /* after alias expansion, per document */
#define CFG_MAX_DIAGS_PER_FILE 64
/*
 * libyaml's loader finds an alias's anchor by a linear search and its scanner re-checks every
 * open flow level per token: both are judged on tokens before the loader runs (config_yaml.c).
 */
#define CFG_MAX_ANCHORS 4096 /* per document */
#define CFG_MAX_ALIASES 16384

struct cfg_ctx {
	const char *file;
	const struct config_load_opts *opts; /* NULL: the defaults */
	yaml_document_t *doc;
	struct config *cfg;   /* what earlier files loaded: duplicates are checked against it */
	struct config *stage; /* this file's objects, merged into cfg only if it had no errors */
	struct config_diags *diags;
	int nerrors;
	int ndiags;
	char *object; /* "Kind ns/name" of the object being parsed, or NULL */
	char path[512];
	size_t plen;
	struct cfg_index *index; /* names of cfg's and stage's objects, built on first use */
	struct cfg_told *told;	 /* objects for opts->on_object, told once the file is clean */
	size_t ntold;
	struct cfg_probe *probe; /* config_crds: records the tables walked and the type errors */
};

/* An object waiting for the end of its file to be told (config_load_opts.on_object). */
struct cfg_told {
	char *api_version, *kind, *namespace, *name, *yaml;
	int line;
};

enum cfg_type {
	CFG_T_STR,
	CFG_T_INT,
	CFG_T_BOOL,
	CFG_T_MAP,
	CFG_T_SEQ,
	CFG_T_ANY,
	CFG_T_INT_OR_STR,
};

#define CFG_F_REQUIRED 1u

/* One known field of a mapping; @parse (may be NULL: type check only) gets the value node. */
struct cfg_field {
	const char *name;
	enum cfg_type type;
	int (*parse)(struct cfg_ctx *ctx, yaml_node_t *value, void *obj);
	unsigned int flags;
};

/* What a plain scalar resolves to under the YAML 1.1 rules Kubernetes' decoder uses. */
enum cfg_scalar {
	CFG_S_NULL,
	CFG_S_BOOL,
	CFG_S_INT,
	CFG_S_FLOAT,
	CFG_S_STR,
};

/* config_yaml.c */
void cfg_diag(struct cfg_ctx *ctx, const yaml_node_t *node, bool error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define cfg_error(ctx, node, ...) cfg_diag(ctx, node, true, __VA_ARGS__)
/* A diagnostic at a position without a node (the scanner's, the loader's marks). */
void cfg_diag_at(struct cfg_ctx *ctx, int line, int column, bool error, const char *msg);
/* Appends ".name" (or "name" at the root) / "[i]" to the path; returns the length to restore. */
size_t cfg_path_push(struct cfg_ctx *ctx, const char *name);
size_t cfg_path_push_index(struct cfg_ctx *ctx, size_t i);
void cfg_path_pop(struct cfg_ctx *ctx, size_t len);
yaml_node_t *cfg_node(struct cfg_ctx *ctx, int index);
enum cfg_scalar cfg_scalar_kind(const yaml_node_t *node);
const char *cfg_type_name(const yaml_node_t *node);
bool cfg_is_null(const yaml_node_t *node);
/* Scalar accessors: diagnose a wrong type at @node and return -EINVAL. */
int cfg_get_str(struct cfg_ctx *ctx, yaml_node_t *node, char **out);
int cfg_get_int(struct cfg_ctx *ctx, yaml_node_t *node, long long min, long long max,
		long long *out);
int cfg_get_bool(struct cfg_ctx *ctx, yaml_node_t *node, bool *out);
/* Finds @key in mapping @map (NULL when absent or @map is not a mapping). */
yaml_node_t *cfg_map_get(struct cfg_ctx *ctx, yaml_node_t *map, const char *key);
/* Type-checks and dispatches every pair of mapping @map against @fields. Returns 0 or -EINVAL. */
int cfg_walk_map(struct cfg_ctx *ctx, yaml_node_t *map, const struct cfg_field *fields, void *obj);
/* Checks the bounds of a loaded document (depth, alias expansion, keys). 0 or -EINVAL. */
int cfg_check_document(struct cfg_ctx *ctx);
/* config/emit.c: @root as a YAML document of its own, with "namespace: @inject_ns" added to its
 * metadata when not NULL. malloc'd, or NULL when out of memory. */
char *cfg_emit_object(struct cfg_ctx *ctx, yaml_node_t *root, const char *inject_ns);
/* config/load.c: parses every document of @buf, config_k8s_document() on each non-empty root. */
int cfg_parse_stream(struct cfg_ctx *ctx, const char *buf, size_t len);

/*
 * config/crd.c: a probe parse (config_crds) records, by field path ("spec.http[0].route"), the
 * field table each mapping was walked with and the first "expected ..." error; cfg_probe_load
 * (config/load.c) parses @buf with @probe set and keeps nothing else.
 */
/* config_probe.c: the recorder. */
struct cfg_probe_rec {
	char *path;
	const struct cfg_field *fields; /* a table walked here, or NULL */
	char *expected;			/* the first "expected ..." said here, or NULL */
};

struct cfg_probe {
	struct cfg_probe_rec *r;
	size_t n;
	bool grew;
	bool oom;
};
/* The record at @path, or NULL. */
struct cfg_probe_rec *cfg_probe_rec_at(const struct cfg_probe *p, const char *path);
void cfg_probe_table(struct cfg_probe *p, const char *path, const struct cfg_field *fields);
void cfg_probe_diag(struct cfg_probe *p, const char *path, const char *msg);
int cfg_probe_load(const char *buf, size_t len, struct cfg_probe *probe);

/* config_k8s.c */
enum cfg_name_rule {
	CFG_NAME_SUBDOMAIN, /* RFC 1123 subdomain: most object names */
	CFG_NAME_LABEL,	    /* RFC 1123 label: namespaces, container names */
	CFG_NAME_LABEL1035, /* RFC 1035 label: Service names */
	CFG_NAME_IANA,	    /* IANA service name: port names */
};

struct cfg_obj;

/* One Kubernetes kind: how to check it and where it is stored in struct config. */
struct cfg_kind {
	const char *kind;
	const char *const *api_versions; /* served versions, NULL-terminated */
	bool namespaced;
	enum cfg_name_rule name_rule;
	const struct cfg_field *fields; /* the top level of the object */
	/* Cross-field rules and defaults once every field parsed; 0 or -EINVAL. May be NULL. */
	int (*finish)(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
	size_t (*count)(const struct config *c);
	const struct config_meta *(*meta_at)(const struct config *c, size_t i);
	int (*append)(struct config *c, void *obj); /* takes the contents of *obj */
	void (*free)(void *obj);
	/* kinds.def's columns: in the agent's view, in analyze's union. */
	bool agent, in_union;
};

/* The object being parsed, handed to top-level field parsers. */
struct cfg_obj {
	const struct cfg_kind *kind; /* NULL for a pod template's metadata */
	enum cfg_name_rule name_rule;
	struct config_meta *meta;
	void *obj; /* the kind's model struct */
};

extern const struct cfg_field cfg_namespace_fields[], cfg_service_account_fields[],
    cfg_service_fields[];
int cfg_namespace_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void cfg_namespace_free(struct config_namespace *ns);
void cfg_service_account_free(struct config_service_account *sa);

/* config/kinds.c: kinds.def expanded. Parses one document through the table. */
int config_k8s_document(struct cfg_ctx *ctx, yaml_node_t *root);
/* Moves every object of @stage to @cfg, all or none: 0 or -ENOMEM (then nothing moved). */
int cfg_merge(struct config *cfg, struct config *stage);
/* A refused kind (KIND_REFUSED) has no store: its append, count and meta_at are NULL. */
/* "Kind.group" of a kind (Gateway API's Gateway and Istio's are different kinds). */
void cfg_kind_key(const struct cfg_kind *kd, char *buf, size_t len);
/* The kind table (borrowed, @n entries). */
const struct cfg_kind *cfg_kinds(size_t *n);

/* config/index.c: duplicate detection in linear time. */
struct cfg_index;
/* 1 and the first definition's origin when Kind/ns/name is known, 0 when not, or -ENOMEM. */
int cfg_index_find(struct cfg_ctx *ctx, const char *kind, const char *ns, const char *name,
		   const char **file, int *line);
/* Records an object; @file is borrowed and must outlive the load call. 0 or -ENOMEM. */
int cfg_index_add(struct cfg_ctx *ctx, const char *kind, const char *ns, const char *name,
		  const char *file, int line);
void cfg_index_free(struct cfg_index *ix);
/* "Kind ns/name" for @root when its kind is known, else NULL; malloc'd. */
char *config_k8s_object_name(struct cfg_ctx *ctx, yaml_node_t *root);
int cfg_parse_meta(struct cfg_ctx *ctx, yaml_node_t *v, void *obj);
int cfg_get_name(struct cfg_ctx *ctx, yaml_node_t *v, enum cfg_name_rule rule, char **out);
int cfg_get_labels(struct cfg_ctx *ctx, yaml_node_t *map, bool annotations,
		   struct config_labels *out);
/* Checks scalar @v is one of @allowed; copies it to *@out when @out is not NULL. */
int cfg_check_enum(struct cfg_ctx *ctx, yaml_node_t *v, const char *const *allowed, char **out);
int cfg_check_protocol(struct cfg_ctx *ctx, yaml_node_t *v, char **out);
bool cfg_iana_svc_name_ok(const char *s);
bool cfg_name_ok(const char *s, enum cfg_name_rule rule);
bool cfg_ip_ok(const char *s);
/*
 * One address of a list that holds at most one of each family (podIPs, clusterIPs): @ip, read
 * at @v, is an address, of a family *@seen (bit 0 IPv4, bit 1 IPv6) does not hold yet; errors
 * told at @v. 0 or -EINVAL.
 */
int cfg_ip_once_per_family(struct cfg_ctx *ctx, yaml_node_t *v, const char *ip, unsigned int *seen);

/* kinds/eps.c */
extern const struct cfg_field cfg_eps_fields[];
int cfg_eps_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void config_endpoint_slice_free(struct config_endpoint_slice *s);

/* kinds/pod.c */
extern const struct cfg_field cfg_pod_fields[];
extern const struct cfg_field cfg_deployment_fields[];
int cfg_deployment_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
/* kinds/mesh.c */
extern const struct cfg_field cfg_config_map_fields[];
int cfg_config_map_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
extern const struct cfg_field cfg_secret_fields[];
int cfg_secret_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);

/* kinds/podsec.c: one securityContext as written (-1: not set), before the merge. */
struct cfg_podsec {
	int64_t run_as_user, run_as_group;
	int run_as_non_root, allow_escalation;
	bool privileged, read_only_root_fs, cap_add_all, cap_drop_all;
	uint64_t cap_add, cap_drop;
};
void cfg_podsec_init(struct cfg_podsec *s);
/* The pod's spec.securityContext / a container's securityContext into @out. 0 or -EINVAL. */
int cfg_podsec_pod(struct cfg_ctx *ctx, yaml_node_t *v, struct cfg_podsec *out);
int cfg_podsec_container(struct cfg_ctx *ctx, yaml_node_t *v, struct cfg_podsec *out);
/* What the container runs with: its own settings over the pod's. */
void cfg_podsec_merge(const struct cfg_podsec *pod, const struct cfg_podsec *ctr,
		      struct config_security *out);

/* config_istio.c: value rules shared by the Istio kinds (API_SEMANTICS.md §0). */
#define CFG_MAX_LIST 4096
#define CFG_S_NONEMPTY 1u /* cfg_get_strings: reject "" */
size_t cfg_seq_len(const yaml_node_t *v);
yaml_node_t *cfg_seq_item(struct cfg_ctx *ctx, const yaml_node_t *v, size_t i);
int cfg_get_strings(struct cfg_ctx *ctx, yaml_node_t *v, unsigned int flags,
		    struct config_strings *out);
int cfg_get_selector_labels(struct cfg_ctx *ctx, yaml_node_t *map, struct config_labels *out);
/* {matchLabels: {...}} */
int cfg_get_workload_selector(struct cfg_ctx *ctx, yaml_node_t *v, struct config_labels *out);
int cfg_parse_duration_ms(const char *s, uint64_t *ms, const char **why);
int cfg_get_duration(struct cfg_ctx *ctx, yaml_node_t *v, uint64_t *ms); /* @ms may be NULL */
int cfg_get_double(struct cfg_ctx *ctx, yaml_node_t *v, double *out);
int cfg_get_percent(struct cfg_ctx *ctx, yaml_node_t *v, double *out); /* {value: double} */
bool cfg_wildcard_host_ok(const char *h, bool allow_star);
bool cfg_cidr_ok(const char *s);
bool cfg_port_string_ok(const char *s, long min, long *out);
/* Parses a sequence of mappings into a calloc'd array of @size-byte elements via @fields. */
int cfg_parse_seq(struct cfg_ctx *ctx, yaml_node_t *v, const struct cfg_field *fields, size_t size,
		  void **arr, size_t *n, bool nonempty, const char *what);
int cfg_check_istio_protocol(struct cfg_ctx *ctx, yaml_node_t *v, char **out);
/* targetRef (@single) or targetRefs appended to *@out / *@n. */
int cfg_get_target_refs(struct cfg_ctx *ctx, yaml_node_t *v, bool single,
			struct config_target_ref **out, size_t *n);
int cfg_check_target_ref_namespaces(struct cfg_ctx *ctx, yaml_node_t *spec,
				    const struct config_target_ref *refs, size_t n, const char *ns);
void config_target_refs_free(struct config_target_ref *refs, size_t n);
int cfg_get_export_to(struct cfg_ctx *ctx, yaml_node_t *v, struct config_strings *out);

/* kinds/security.c, kinds/vs.c, config_net.c: the Istio kind descriptors' parts. */
extern const struct cfg_field cfg_authz_fields[], cfg_peerauth_fields[];
int cfg_authz_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
int cfg_peerauth_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void config_authorization_policy_free(struct config_authorization_policy *p);
/* kinds/authz_l4.c: warnings for what the ztunnel enforces differently from what is written. */
void cfg_authz_warn(struct cfg_ctx *ctx, yaml_node_t *root,
		    const struct config_authorization_policy *p);
void config_peer_authentication_free(struct config_peer_authentication *p);
extern const struct cfg_field cfg_reqauth_fields[];
int cfg_reqauth_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void config_request_authentication_free(struct config_request_authentication *ra);
extern const struct cfg_field cfg_vs_fields[];
int cfg_vs_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void config_virtual_service_free(struct config_virtual_service *vs);
/* kinds/vs.c pieces shared with kinds/vs_http.c */
int cfg_vs_http_route(struct cfg_ctx *ctx, yaml_node_t *v, struct config_vs_route *r);
int cfg_vs_http_match(struct cfg_ctx *ctx, yaml_node_t *v, void *route);
int cfg_vs_route_dests(struct cfg_ctx *ctx, yaml_node_t *v, void *route);
int cfg_vs_destination(struct cfg_ctx *ctx, yaml_node_t *v, void *dest);
int cfg_vs_string_match(struct cfg_ctx *ctx, yaml_node_t *v, struct config_string_match *m,
			bool empty_prefix_ok);
int cfg_check_regex(struct cfg_ctx *ctx, yaml_node_t *v, const char *re);
/* kinds/vs_ops.c: Headers (VirtualService) and CorsPolicy. */
int cfg_vs_headers(struct cfg_ctx *ctx, yaml_node_t *v, struct config_headers *out);
int cfg_vs_cors(struct cfg_ctx *ctx, yaml_node_t *v, struct config_cors *out);
/* Gateway API header names (case-insensitive tokens) and HTTPHeaderFilter. */
bool cfg_http_token_ok(const char *s);
int cfg_gw_header_filter(struct cfg_ctx *ctx, yaml_node_t *v, struct config_header_ops *out);
int cfg_vs_duration(struct cfg_ctx *ctx, yaml_node_t *v, void *unused);
extern const struct cfg_field cfg_dr_fields[], cfg_gw_fields[], cfg_se_fields[];
int cfg_dr_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
int cfg_se_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void config_destination_rule_free(struct config_destination_rule *dr);
void config_gateway_free(struct config_gateway *gw);
void config_service_entry_free(struct config_service_entry *se);
void config_destination_free(struct config_destination *d);
void config_route_match_free(struct config_route_match *m);
void config_vs_route_free(struct config_vs_route *r);
void config_traffic_policy_free(struct config_traffic_policy *p);

/* kinds/gwapi.c, kinds/gwroute.c: Gateway API kinds. */
extern const struct cfg_field cfg_k8s_gw_fields[], cfg_gw_route_fields[];
int cfg_gw_route_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void config_k8s_gateway_free(struct config_k8s_gateway *gw);
void config_gw_route_free(struct config_gw_route *r);
extern const struct cfg_field cfg_ref_grant_fields[];
void config_reference_grant_free(struct config_reference_grant *g);
bool cfg_gw_hostname_ok(const char *h, bool wildcard_ok);
int cfg_gw_duration(struct cfg_ctx *ctx, yaml_node_t *v, uint64_t *ms);
/* kinds/gwfilter.c: a backendRef (with weight and filters when @with_weight) and a filter list. */
int cfg_gw_backend(struct cfg_ctx *ctx, yaml_node_t *v, struct config_backend_ref *b,
		   bool with_weight);
int cfg_gw_filters(struct cfg_ctx *ctx, yaml_node_t *v, struct config_gw_filter **out, size_t *n);
void cfg_gw_filter_free(struct config_gw_filter *f);
void cfg_gw_backend_free(struct config_backend_ref *b);

/* kinds/ratelimit.c, kinds/envoyfilter.c: the two kinds of local rate limit. */
extern const struct cfg_field cfg_ratelimit_fields[], cfg_envoyfilter_fields[];
int cfg_ratelimit_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
int cfg_envoyfilter_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void config_rate_limit_free(struct config_rate_limit *rl);
void config_rl_rule_free(struct config_rl_rule *r);
void cfg_rl_defaults(struct config_rate_limit *rl);
/* A token bucket (camelCase, or Envoy's snake_case with @envoy; tokens >= 1, a fill interval
 * >= 50 ms as Envoy's), a percentage in [0, 100], a request header name (lowercased). 0 or
 * -EINVAL, diagnosed at @v. */
int cfg_rl_bucket(struct cfg_ctx *ctx, yaml_node_t *v, bool envoy, struct config_token_bucket *b);
int cfg_rl_percent(struct cfg_ctx *ctx, yaml_node_t *v, double *out);
int cfg_rl_header_name(struct cfg_ctx *ctx, yaml_node_t *v, char **out);
/* Only one of targetRefs or the selector (named @selector_field), the refs in its namespace. */
void cfg_rl_check_attachment(struct cfg_ctx *ctx, yaml_node_t *spec,
			     const struct config_rate_limit *rl, const char *selector_field);

/* kinds/telemetry.c: Telemetry (telemetry.istio.io). */
extern const struct cfg_field cfg_telemetry_fields[];
int cfg_telemetry_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
void config_telemetry_free(struct config_telemetry *t);
/*
 * customTags at @v (a map of tag to one of literal, environment or header; with @formatter_ok
 * Telemetry's formatter too, warned about and dropped) into calloc'd *@tags, sorted by tag;
 * header names lowercased. 0 or -EINVAL; *@tags is the caller's to free either way.
 */
int cfg_custom_tags(struct cfg_ctx *ctx, yaml_node_t *v, bool formatter_ok,
		    struct config_custom_tag **tags, size_t *n);
void config_custom_tags_free(struct config_custom_tag *tags, size_t n);

/*
 * kinds/mesh_trace.c: the mesh config's tracing: the zipkin and opentelemetry providers,
 * defaultProviders, defaultConfig.tracing. 0 or -EINVAL, diagnosed at @v.
 */
int cfg_mesh_zipkin(struct cfg_ctx *ctx, yaml_node_t *v, struct config_trace_provider *t);
int cfg_mesh_otel(struct cfg_ctx *ctx, yaml_node_t *v, struct config_trace_provider *t);
int cfg_mesh_default_providers(struct cfg_ctx *ctx, yaml_node_t *v, struct config_mesh *m);
int cfg_mesh_proxy_tracing(struct cfg_ctx *ctx, yaml_node_t *v, struct config_mesh *m);
void cfg_trace_provider_free(struct config_trace_provider *t);

/* analyze/l7.c: findings on what waypoints read (called by config_analyze). */
int cfg_analyze_l7(const struct config *cfg, const struct config *context,
		   struct config_diags *diags);

/* config.c */
void config_meta_free(struct config_meta *m);
void config_labels_free(struct config_labels *l);
void config_pod_spec_free(struct config_pod_spec *s);
void config_pod_free(struct config_pod *p);
void config_deployment_free(struct config_deployment *d);
void config_service_free(struct config_service *s);
int config_labels_add(struct config_labels *l, const char *key, const char *value);
char *cfg_strdup(const char *s);

/* analyze/analyze.c: one analysis run, shared with analyze/l7.c. */
struct cfg_an {
	const struct config *sets[2]; /* the analyzed objects, then the context (or NULL) */
	const char *root;
	struct config_diags *diags;
	int err; /* -ENOMEM once a finding could not be recorded */
};

/* Runs the statement after it for each set of @a that is there, as `c`. */
#define CFG_FOR_SETS(a, c)                                                                         \
	for (const struct config *const *c##_p = (a)->sets, *c;                                    \
	     c##_p < (a)->sets + 2 && ((c = *c##_p), 1); c##_p++)                                  \
		if (c)

/*
 * Array @k (services, ...) of both sets of @a into config @u, as shallow copies (free(u->k)
 * frees it); returns -ENOMEM from the function it is in when out of memory.
 */
#define CFG_AN_JOIN(a, u, k)                                                                       \
	do {                                                                                       \
		size_t n = 0;                                                                      \
		CFG_FOR_SETS(a, c) n += c->n_##k;                                                  \
		(u)->k = calloc(n + 1, sizeof(*(u)->k));                                           \
		if (!(u)->k)                                                                       \
			return -ENOMEM;                                                            \
		CFG_FOR_SETS(a, c)                                                                 \
		{                                                                                  \
			if (c->n_##k)                                                              \
				memcpy(&(u)->k[(u)->n_##k], c->k, c->n_##k * sizeof(*c->k));       \
			(u)->n_##k += c->n_##k;                                                    \
		}                                                                                  \
	} while (0);

/* Records a finding on object @m of @kind (line @line, 0: the object's) into @a's diags. */
void cfg_an_add(struct cfg_an *a, const struct config_meta *m, const char *kind, int line,
		bool error, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/*
 * What the waypoint bindings are computed from: shallow copies of the kinds in kinds.def's
 * union column from both sets. 0 or -ENOMEM; cfg_an_union_free frees the arrays only.
 */
int cfg_an_union(const struct cfg_an *a, struct config *u);
void cfg_an_union_free(struct config *u);

/* analyze/telemetry.c: Telemetries' providers and attachments (IST0157, IST0160). */
void cfg_analyze_telemetry(struct cfg_an *a);

#endif
