// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes kinds: the table of kind descriptors, object metadata, labels, Namespace,
 * ServiceAccount and Service. Pods and Deployments (the pod template) are in config_pod.c.
 * Field lists follow the Kubernetes API (core/v1, apps/v1) so real manifests load; sub-objects
 * the mesh does not use are type-checked as opaque mappings or sequences.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

/* Validation rules from k8s.io/apimachinery/pkg/util/validation. */
static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool dns_label_ok(const char *s, size_t n, bool letter_first)
{
	if (n == 0 || n > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
		return false;
	if (letter_first && !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool dns_subdomain_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	for (const char *p = s;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (!dns_label_ok(p, len, false))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

static bool is_alnum(char c)
{
	return is_alnum_lower(c) || (c >= 'A' && c <= 'Z');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63: label names and values. */
static bool label_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

static bool qualified_name_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	char prefix[254];

	if (!slash)
		return label_name_ok(s, strlen(s));
	if ((size_t)(slash - s) >= sizeof(prefix))
		return false;
	memcpy(prefix, s, (size_t)(slash - s));
	prefix[slash - s] = '\0';
	return dns_subdomain_ok(prefix) && label_name_ok(slash + 1, strlen(slash + 1));
}

bool cfg_iana_svc_name_ok(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return false;
		letter |= s[i] >= 'a' && s[i] <= 'z';
	}
	return letter;
}

bool cfg_ip_ok(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

bool config_dns_label_ok(const char *s)
{
	return dns_label_ok(s, strlen(s), false);
}

bool config_dns_subdomain_ok(const char *s)
{
	return dns_subdomain_ok(s);
}

bool cfg_name_ok(const char *s, enum cfg_name_rule rule)
{
	switch (rule) {
	case CFG_NAME_SUBDOMAIN: return dns_subdomain_ok(s);
	case CFG_NAME_LABEL: return dns_label_ok(s, strlen(s), false);
	case CFG_NAME_LABEL1035: return dns_label_ok(s, strlen(s), true);
	default: return cfg_iana_svc_name_ok(s);
	}
}

int cfg_get_name(struct cfg_ctx *ctx, yaml_node_t *v, enum cfg_name_rule rule, char **out)
{
	static const char *const what[] = {
	    [CFG_NAME_SUBDOMAIN] = "a lowercase RFC 1123 subdomain",
	    [CFG_NAME_LABEL] = "a lowercase RFC 1123 label",
	    [CFG_NAME_LABEL1035] = "a lowercase RFC 1035 label (starting with a letter)",
	    [CFG_NAME_IANA] = "an IANA service name (at most 15 of a-z, 0-9, -)",
	};

	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (!cfg_name_ok(*out, rule)) {
		cfg_error(ctx, v, "\"%.64s\" is not %s", *out, what[rule]);
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

int cfg_check_enum(struct cfg_ctx *ctx, yaml_node_t *v, const char *const *allowed, char **out)
{
	const char *s = (const char *)v->data.scalar.value;
	char list[256];

	for (const char *const *a = allowed; *a; a++) {
		if (strcmp(s, *a) == 0) {
			if (out && !(*out = strdup(s))) {
				cfg_error(ctx, v, "out of memory");
				return -ENOMEM;
			}
			return 0;
		}
	}
	list[0] = '\0';
	for (const char *const *a = allowed; *a; a++) {
		size_t used = strlen(list);

		snprintf(list + used, sizeof(list) - used, "%s%s", a == allowed ? "" : ", ", *a);
	}
	cfg_error(ctx, v, "\"%.64s\" is not one of %s", s, list);
	return -EINVAL;
}

int cfg_check_protocol(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	static const char *const protos[] = {"TCP", "UDP", "SCTP", NULL};

	return cfg_check_enum(ctx, v, protos, out);
}

/* Parses a mapping of label key to value into @out; @annotations relaxes the value rules. */
int cfg_get_labels(struct cfg_ctx *ctx, yaml_node_t *map, bool annotations,
		   struct config_labels *out)
{
	size_t total = 0;
	int before = ctx->nerrors;

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *v = cfg_node(ctx, p->value);
		const char *key = (const char *)k->data.scalar.value;
		char *value = NULL;

		if (!qualified_name_ok(key)) {
			cfg_error(ctx, k,
				  "invalid key \"%.64s\": want [prefix/]name, name at most 63 "
				  "alphanumerics, '-', '_' or '.'",
				  key);
			continue;
		}
		if (cfg_is_null(v)) {
			value = strdup("");
		} else if (cfg_get_str(ctx, v, &value)) {
			continue;
		}
		if (!value) {
			cfg_error(ctx, v, "out of memory");
			continue;
		}
		total += strlen(key) + strlen(value);
		if (!annotations && *value && !label_name_ok(value, strlen(value)))
			cfg_error(ctx, v,
				  "invalid value \"%.64s\" for label %s: at most 63 "
				  "alphanumerics, '-', '_' or '.'",
				  value, key);
		else if (config_labels_add(out, key, value))
			cfg_error(ctx, v, "out of memory");
		free(value);
	}
	/* Kubernetes' TotalAnnotationSizeLimitB. */
	if (annotations && total > 256 * 1024)
		cfg_error(ctx, map, "annotations larger than 256 KiB in total");
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* ---- metadata ---- */

static int meta_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct cfg_obj *o = obj;

	return cfg_get_name(ctx, v, o->name_rule, &o->meta->name);
}

static int meta_namespace(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct cfg_obj *o = obj;

	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &o->meta->namespace);
}

static int meta_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_labels(ctx, v, false, &((struct cfg_obj *)obj)->meta->labels);
}

static int meta_annotations(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_labels(ctx, v, true, &((struct cfg_obj *)obj)->meta->annotations);
}

static int meta_created(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct cfg_obj *)obj)->meta->creation_timestamp);
}

static int meta_uid(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct cfg_obj *)obj)->meta->uid);
}

static int meta_deletion(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	((struct cfg_obj *)obj)->meta->deleting = true;
	return 0;
}

struct owner_ref {
	char *kind, *name;
	bool controller;
};

static int owner_kind(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct owner_ref *)obj)->kind);
}

static int owner_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct owner_ref *)obj)->name);
}

static int owner_controller(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_bool(ctx, v, &((struct owner_ref *)obj)->controller);
}

static const struct cfg_field owner_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, 0},
    {"kind", CFG_T_STR, owner_kind, CFG_F_REQUIRED},
    {"name", CFG_T_STR, owner_name, CFG_F_REQUIRED},
    {"uid", CFG_T_STR, NULL, 0},
    {"controller", CFG_T_BOOL, owner_controller, 0},
    {"blockOwnerDeletion", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* The controller among the ownerReferences (a Pod's ReplicaSet, ...): at most one has it. */
static int meta_owners(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_meta *m = ((struct cfg_obj *)obj)->meta;
	size_t n = cfg_seq_len(v);
	int err = 0;

	if (v->type != YAML_SEQUENCE_NODE) {
		cfg_error(ctx, v, "expected a sequence, got %s", cfg_type_name(v));
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		struct owner_ref r = {0};

		if (!it || it->type != YAML_MAPPING_NODE) {
			cfg_error(ctx, it ? it : v, "expected an ownerReference map");
			err = -EINVAL;
		} else if (cfg_walk_map(ctx, it, owner_fields, &r)) {
			err = -EINVAL;
		} else if (r.controller && m->controller_kind) {
			cfg_error(ctx, it, "more than one ownerReference has controller: true");
			err = -EINVAL;
		} else if (r.controller) {
			m->controller_kind = r.kind;
			m->controller_name = r.name;
			r.kind = r.name = NULL;
		}
		cfg_path_pop(ctx, saved);
		free(r.kind);
		free(r.name);
	}
	return err;
}

static const struct cfg_field meta_fields[] = {
    {"name", CFG_T_STR, meta_name, 0},
    {"generateName", CFG_T_STR, NULL, 0},
    {"namespace", CFG_T_STR, meta_namespace, 0},
    {"labels", CFG_T_MAP, meta_labels, 0},
    {"annotations", CFG_T_MAP, meta_annotations, 0},
    {"uid", CFG_T_STR, meta_uid, 0},
    {"resourceVersion", CFG_T_STR, NULL, 0},
    {"generation", CFG_T_INT, NULL, 0},
    {"creationTimestamp", CFG_T_STR, meta_created, 0},
    {"deletionTimestamp", CFG_T_STR, meta_deletion, 0},
    {"deletionGracePeriodSeconds", CFG_T_INT, NULL, 0},
    {"ownerReferences", CFG_T_SEQ, meta_owners, 0},
    {"finalizers", CFG_T_SEQ, NULL, 0},
    {"managedFields", CFG_T_SEQ, NULL, 0},
    {"selfLink", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_parse_meta(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct cfg_obj *o = obj;
	int err = cfg_walk_map(ctx, v, meta_fields, o);

	if (err)
		return err;
	if (o->kind && !o->meta->name) {
		size_t saved = cfg_path_push(ctx, "name");

		cfg_error(ctx, v, "required field \"name\" is missing%s",
			  cfg_map_get(ctx, v, "generateName") ? " (generateName is not supported)"
							      : "");
		cfg_path_pop(ctx, saved);
		return -EINVAL;
	}
	if (o->kind && !o->kind->namespaced && o->meta->namespace) {
		size_t saved = cfg_path_push(ctx, "namespace");

		cfg_error(ctx, cfg_map_get(ctx, v, "namespace"), "%s is not namespaced",
			  o->kind->kind);
		cfg_path_pop(ctx, saved);
		return -EINVAL;
	}
	return 0;
}

/* ---- Namespace, ServiceAccount ---- */

#define OBJECT_FIELDS                                                                              \
	{"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},                                           \
	    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},                                             \
	{                                                                                          \
		"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED                              \
	}

static const struct cfg_field namespace_spec_fields[] = {
    {"finalizers", CFG_T_SEQ, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int namespace_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, namespace_spec_fields, obj);
}

static const struct cfg_field namespace_fields[] = {
    OBJECT_FIELDS,
    {"spec", CFG_T_MAP, namespace_spec, 0},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/*
 * As the API server's namespace strategy does on every create and update: the label
 * kubernetes.io/metadata.name is the namespace's name, whatever the manifest said of it.
 */
static int namespace_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	struct config_labels *l = &o->meta->labels;

	for (size_t i = 0; i < l->n; i++) {
		char *v;

		if (strcmp(l->items[i].key, CONFIG_LABEL_NS_NAME))
			continue;
		if (!strcmp(l->items[i].value, o->meta->name))
			return 0;
		v = strdup(o->meta->name);
		if (!v)
			goto oom;
		free(l->items[i].value);
		l->items[i].value = v;
		return 0;
	}
	if (!config_labels_add(l, CONFIG_LABEL_NS_NAME, o->meta->name))
		return 0;
oom:
	cfg_error(ctx, root, "out of memory");
	return -ENOMEM;
}

static const struct cfg_field service_account_fields[] = {
    OBJECT_FIELDS,
    {"secrets", CFG_T_SEQ, NULL, 0},
    {"imagePullSecrets", CFG_T_SEQ, NULL, 0},
    {"automountServiceAccountToken", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* ---- Service ---- */

#define CFG_MAX_PORTS 1024

static int port_number(struct cfg_ctx *ctx, yaml_node_t *v, uint16_t *out)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	*out = (uint16_t)n;
	return 0;
}

static int svc_port_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((struct config_service_port *)obj)->name);
}

static int svc_port_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_check_protocol(ctx, v, &((struct config_service_port *)obj)->protocol);
}

static int svc_port_app_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct config_service_port *)obj)->app_protocol);
}

static int svc_port_port(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return port_number(ctx, v, &((struct config_service_port *)obj)->port);
}

static int svc_port_target(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_service_port *p = obj;

	if (cfg_scalar_kind(v) == CFG_S_INT)
		return port_number(ctx, v, &p->target_port);
	/* IntOrString: a string names a container port; "8080" is a name, and an invalid one. */
	return cfg_get_name(ctx, v, CFG_NAME_IANA, &p->target_port_name);
}

static int node_port(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	long long n;

	return cfg_get_int(ctx, v, 1, 65535, &n);
}

static const struct cfg_field service_port_fields[] = {
    {"name", CFG_T_STR, svc_port_name, 0},
    {"protocol", CFG_T_STR, svc_port_protocol, 0},
    {"appProtocol", CFG_T_STR, svc_port_app_protocol, 0},
    {"port", CFG_T_INT, svc_port_port, CFG_F_REQUIRED},
    {"targetPort", CFG_T_INT_OR_STR, svc_port_target, 0},
    {"nodePort", CFG_T_INT, node_port, 0},
    {NULL, 0, NULL, 0},
};

static int service_ports(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_service *svc = obj;
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	int before = ctx->nerrors;

	if (n > CFG_MAX_PORTS) {
		cfg_error(ctx, v, "more than %d ports", CFG_MAX_PORTS);
		return -EINVAL;
	}
	svc->ports = calloc(n ? n : 1, sizeof(*svc->ports));
	if (!svc->ports) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_node(ctx, v->data.sequence.items.start[i]);
		struct config_service_port p = {0};
		size_t saved = cfg_path_push_index(ctx, i);

		if (cfg_walk_map(ctx, item, service_port_fields, &p) == 0) {
			if (!p.protocol && !(p.protocol = strdup("TCP")))
				cfg_error(ctx, item, "out of memory");
			if (!p.target_port && !p.target_port_name)
				p.target_port = p.port;
			/* Kubernetes requires names once there are several, and unique ones. */
			if (!p.name && n > 1)
				cfg_error(ctx, item, "ports need a name when there are several");
			for (size_t j = 0; p.name && j < svc->nports; j++)
				if (svc->ports[j].name && strcmp(svc->ports[j].name, p.name) == 0)
					cfg_error(ctx, item, "duplicate port name \"%s\"", p.name);
		}
		svc->ports[svc->nports++] = p;
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int service_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_labels(ctx, v, false, &((struct config_service *)obj)->selector);
}

static int service_cluster_ip(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_service *svc = obj;
	char *ip;

	if (cfg_get_str(ctx, v, &ip))
		return -EINVAL;
	/* "" asks for an allocation; "None" is a headless Service. */
	if (!*ip) {
		free(ip);
		return 0;
	}
	if (strcmp(ip, "None") != 0 && !cfg_ip_ok(ip)) {
		cfg_error(ctx, v, "\"%.64s\" is not an IP address or \"None\"", ip);
		free(ip);
		return -EINVAL;
	}
	svc->cluster_ip = ip;
	return 0;
}

#define ENUM_FIELD(fn, ...)                                                                        \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)                              \
	{                                                                                          \
		static const char *const ok[] = {__VA_ARGS__, NULL};                               \
		return cfg_check_enum(ctx, v, ok, NULL);                                           \
	}

ENUM_FIELD(service_type, "ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
ENUM_FIELD(service_affinity, "None", "ClientIP")
ENUM_FIELD(service_family_policy, "SingleStack", "PreferDualStack", "RequireDualStack")
ENUM_FIELD(service_traffic_policy, "Cluster", "Local")

static const struct cfg_field service_spec_fields[] = {
    {"ports", CFG_T_SEQ, service_ports, 0},
    {"selector", CFG_T_MAP, service_selector, 0},
    {"clusterIP", CFG_T_STR, service_cluster_ip, 0},
    {"clusterIPs", CFG_T_SEQ, NULL, 0},
    {"type", CFG_T_STR, service_type, 0},
    {"externalIPs", CFG_T_SEQ, NULL, 0},
    {"sessionAffinity", CFG_T_STR, service_affinity, 0},
    {"sessionAffinityConfig", CFG_T_MAP, NULL, 0},
    {"loadBalancerIP", CFG_T_STR, NULL, 0},
    {"loadBalancerSourceRanges", CFG_T_SEQ, NULL, 0},
    {"loadBalancerClass", CFG_T_STR, NULL, 0},
    {"allocateLoadBalancerNodePorts", CFG_T_BOOL, NULL, 0},
    {"externalName", CFG_T_STR, NULL, 0},
    {"externalTrafficPolicy", CFG_T_STR, service_traffic_policy, 0},
    {"internalTrafficPolicy", CFG_T_STR, service_traffic_policy, 0},
    {"healthCheckNodePort", CFG_T_INT, node_port, 0},
    {"publishNotReadyAddresses", CFG_T_BOOL, NULL, 0},
    {"ipFamilies", CFG_T_SEQ, NULL, 0},
    {"ipFamilyPolicy", CFG_T_STR, service_family_policy, 0},
    {"trafficDistribution", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int service_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, service_spec_fields, ((struct cfg_obj *)obj)->obj);
}

static const struct cfg_field service_fields[] = {
    OBJECT_FIELDS,
    {"spec", CFG_T_MAP, service_spec, 0},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* ---- the kind table ---- */

#define KIND_STORE(fn, arr, n, type, free_fn)                                                      \
	static size_t fn##_count(const struct config *c)                                           \
	{                                                                                          \
		return c->n;                                                                       \
	}                                                                                          \
	static const struct config_meta *fn##_meta_at(const struct config *c, size_t i)            \
	{                                                                                          \
		return &c->arr[i].meta;                                                            \
	}                                                                                          \
	static int fn##_append(struct config *c, void *obj)                                        \
	{                                                                                          \
		type *a = realloc(c->arr, (c->n + 1) * sizeof(*a));                                \
		if (!a)                                                                            \
			return -ENOMEM;                                                            \
		c->arr = a;                                                                        \
		memcpy(&a[c->n++], obj, sizeof(*a));                                               \
		return 0;                                                                          \
	}                                                                                          \
	static void fn##_free(void *obj)                                                           \
	{                                                                                          \
		free_fn(obj);                                                                      \
	}

static void namespace_free(struct config_namespace *ns)
{
	config_meta_free(&ns->meta);
}

static void service_account_free(struct config_service_account *sa)
{
	config_meta_free(&sa->meta);
}

KIND_STORE(ns, namespaces, n_namespaces, struct config_namespace, namespace_free)
KIND_STORE(sa, service_accounts, n_service_accounts, struct config_service_account,
	   service_account_free)
KIND_STORE(svc, services, n_services, struct config_service, config_service_free)
KIND_STORE(pod, pods, n_pods, struct config_pod, config_pod_free)
KIND_STORE(eps, endpoint_slices, n_endpoint_slices, struct config_endpoint_slice,
	   config_endpoint_slice_free)
KIND_STORE(dep, deployments, n_deployments, struct config_deployment, config_deployment_free)
KIND_STORE(ap, authorization_policies, n_authorization_policies, struct config_authorization_policy,
	   config_authorization_policy_free)
KIND_STORE(vs, virtual_services, n_virtual_services, struct config_virtual_service,
	   config_virtual_service_free)
KIND_STORE(dr, destination_rules, n_destination_rules, struct config_destination_rule,
	   config_destination_rule_free)
KIND_STORE(gw, gateways, n_gateways, struct config_gateway, config_gateway_free)
KIND_STORE(se, service_entries, n_service_entries, struct config_service_entry,
	   config_service_entry_free)
KIND_STORE(ra, request_authentications, n_request_authentications,
	   struct config_request_authentication, config_request_authentication_free)
KIND_STORE(pa, peer_authentications, n_peer_authentications, struct config_peer_authentication,
	   config_peer_authentication_free)
KIND_STORE(kgw, k8s_gateways, n_k8s_gateways, struct config_k8s_gateway, config_k8s_gateway_free)
KIND_STORE(hr, http_routes, n_http_routes, struct config_gw_route, config_gw_route_free)
KIND_STORE(gr, grpc_routes, n_grpc_routes, struct config_gw_route, config_gw_route_free)
KIND_STORE(tlr, tls_routes, n_tls_routes, struct config_gw_route, config_gw_route_free)
KIND_STORE(tcr, tcp_routes, n_tcp_routes, struct config_gw_route, config_gw_route_free)
KIND_STORE(rg, reference_grants, n_reference_grants, struct config_reference_grant,
	   config_reference_grant_free)
KIND_STORE(cm, config_maps, n_config_maps, struct config_config_map, config_config_map_free)
KIND_STORE(sec, secrets, n_secrets, struct config_secret, config_secret_free)
KIND_STORE(ef, envoy_filters, n_envoy_filters, struct config_rate_limit, config_rate_limit_free)
KIND_STORE(lrl, local_rate_limits, n_local_rate_limits, struct config_rate_limit,
	   config_rate_limit_free)
KIND_STORE(tm, telemetries, n_telemetries, struct config_telemetry, config_telemetry_free)

static const char *const core_v1[] = {"v1", NULL};
static const char *const apps_v1[] = {"apps/v1", NULL};
static const char *const discovery_v1[] = {"discovery.k8s.io/v1", NULL};
static const char *const networking_istio[] = {
    "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3", NULL};
static const char *const security_istio[] = {"security.istio.io/v1", "security.istio.io/v1beta1",
					     NULL};
static const char *const gateway_api[] = {CONFIG_GW_GROUP "/v1", CONFIG_GW_GROUP "/v1beta1", NULL};
static const char *const gateway_api_v1[] = {CONFIG_GW_GROUP "/v1", NULL};
static const char *const gateway_api_tls[] = {CONFIG_GW_GROUP "/v1alpha2",
					      CONFIG_GW_GROUP "/v1alpha3", NULL};
static const char *const gateway_api_tcp[] = {CONFIG_GW_GROUP "/v1alpha2", NULL};
static const char *const gateway_api_grant[] = {CONFIG_GW_GROUP "/v1beta1",
						CONFIG_GW_GROUP "/v1alpha2", NULL};
static const char *const networking_istio_v1alpha3[] = {"networking.istio.io/v1alpha3", NULL};
static const char *const networking_ambit[] = {CONFIG_AMBIT_NET_GROUP "/v1alpha1", NULL};
static const char *const telemetry_istio[] = {"telemetry.istio.io/v1",
					      "telemetry.istio.io/v1alpha1", NULL};

/* Adding a kind: a field table, a finish hook if it has cross-field rules, and a store. */
static const struct cfg_kind kinds[] = {
    {"Namespace", core_v1, false, CFG_NAME_LABEL, namespace_fields, namespace_finish, ns_count,
     ns_meta_at, ns_append, ns_free},
    {"ServiceAccount", core_v1, true, CFG_NAME_SUBDOMAIN, service_account_fields, NULL, sa_count,
     sa_meta_at, sa_append, sa_free},
    {"Service", core_v1, true, CFG_NAME_LABEL1035, service_fields, NULL, svc_count, svc_meta_at,
     svc_append, svc_free},
    {"Pod", core_v1, true, CFG_NAME_SUBDOMAIN, cfg_pod_fields, NULL, pod_count, pod_meta_at,
     pod_append, pod_free},
    {"Deployment", apps_v1, true, CFG_NAME_SUBDOMAIN, cfg_deployment_fields, cfg_deployment_finish,
     dep_count, dep_meta_at, dep_append, dep_free},
    {"EndpointSlice", discovery_v1, true, CFG_NAME_SUBDOMAIN, cfg_eps_fields, cfg_eps_finish,
     eps_count, eps_meta_at, eps_append, eps_free},
    /* Only istio-system/istio's `mesh` is read (config_mesh.c); others are kept as they are. */
    {"ConfigMap", core_v1, true, CFG_NAME_SUBDOMAIN, cfg_config_map_fields, cfg_config_map_finish,
     cm_count, cm_meta_at, cm_append, cm_free},
    /* What a gateway's credentialName names (config_secret.c). */
    {"Secret", core_v1, true, CFG_NAME_SUBDOMAIN, cfg_secret_fields, cfg_secret_finish, sec_count,
     sec_meta_at, sec_append, sec_free},
    {"AuthorizationPolicy", security_istio, true, CFG_NAME_SUBDOMAIN, cfg_authz_fields,
     cfg_authz_finish, ap_count, ap_meta_at, ap_append, ap_free},
    {"PeerAuthentication", security_istio, true, CFG_NAME_SUBDOMAIN, cfg_peerauth_fields,
     cfg_peerauth_finish, pa_count, pa_meta_at, pa_append, pa_free},
    {"RequestAuthentication", security_istio, true, CFG_NAME_SUBDOMAIN, cfg_reqauth_fields,
     cfg_reqauth_finish, ra_count, ra_meta_at, ra_append, ra_free},
    {"VirtualService", networking_istio, true, CFG_NAME_SUBDOMAIN, cfg_vs_fields, cfg_vs_finish,
     vs_count, vs_meta_at, vs_append, vs_free},
    {"DestinationRule", networking_istio, true, CFG_NAME_SUBDOMAIN, cfg_dr_fields, cfg_dr_finish,
     dr_count, dr_meta_at, dr_append, dr_free},
    {"Gateway", networking_istio, true, CFG_NAME_SUBDOMAIN, cfg_gw_fields, NULL, gw_count,
     gw_meta_at, gw_append, gw_free},
    {"ServiceEntry", networking_istio, true, CFG_NAME_SUBDOMAIN, cfg_se_fields, cfg_se_finish,
     se_count, se_meta_at, se_append, se_free},
    /* Gateway API: Gateway shares its kind name with Istio's; the API group tells them apart. */
    {"Gateway", gateway_api, true, CFG_NAME_SUBDOMAIN, cfg_k8s_gw_fields, NULL, kgw_count,
     kgw_meta_at, kgw_append, kgw_free},
    {"HTTPRoute", gateway_api, true, CFG_NAME_SUBDOMAIN, cfg_gw_route_fields, cfg_gw_route_finish,
     hr_count, hr_meta_at, hr_append, hr_free},
    {"GRPCRoute", gateway_api_v1, true, CFG_NAME_SUBDOMAIN, cfg_gw_route_fields,
     cfg_gw_route_finish, gr_count, gr_meta_at, gr_append, gr_free},
    /* The experimental channel's TLSRoute and TCPRoute: a gateway's TLS and TCP listeners. */
    {"TLSRoute", gateway_api_tls, true, CFG_NAME_SUBDOMAIN, cfg_gw_route_fields,
     cfg_gw_route_finish, tlr_count, tlr_meta_at, tlr_append, tlr_free},
    {"TCPRoute", gateway_api_tcp, true, CFG_NAME_SUBDOMAIN, cfg_gw_route_fields,
     cfg_gw_route_finish, tcr_count, tcr_meta_at, tcr_append, tcr_free},
    /* Cross-namespace references: certificateRefs, backendRefs (config_refgrant.c). */
    {"ReferenceGrant", gateway_api_grant, true, CFG_NAME_SUBDOMAIN, cfg_ref_grant_fields, NULL,
     rg_count, rg_meta_at, rg_append, rg_free},
    /* Local rate limits: the EnvoyFilter shape Istio's tutorials use, and ambit's own kind. */
    {"EnvoyFilter", networking_istio_v1alpha3, true, CFG_NAME_SUBDOMAIN, cfg_envoyfilter_fields,
     cfg_envoyfilter_finish, ef_count, ef_meta_at, ef_append, ef_free},
    {"LocalRateLimit", networking_ambit, true, CFG_NAME_SUBDOMAIN, cfg_ratelimit_fields,
     cfg_ratelimit_finish, lrl_count, lrl_meta_at, lrl_append, lrl_free},
    /* What the proxies report: traces, access logs, metrics (config_telemetry.c). */
    {"Telemetry", telemetry_istio, true, CFG_NAME_SUBDOMAIN, cfg_telemetry_fields,
     cfg_telemetry_finish, tm_count, tm_meta_at, tm_append, tm_free},
};

void cfg_kind_key(const struct cfg_kind *kd, char *buf, size_t len)
{
	char group[96];

	config_api_group(kd->api_versions[0], group, sizeof(group));
	snprintf(buf, len, "%s.%s", kd->kind, group);
}

const struct cfg_kind *cfg_kinds(size_t *n)
{
	*n = sizeof(kinds) / sizeof(kinds[0]);
	return kinds;
}

static char *object_name(struct cfg_ctx *ctx, const struct cfg_kind *kd, yaml_node_t *root)
{
	yaml_node_t *meta = cfg_map_get(ctx, root, "metadata");
	yaml_node_t *name = cfg_map_get(ctx, meta, "name");
	yaml_node_t *ns = cfg_map_get(ctx, meta, "namespace");
	const char *n = "<unnamed>", *s = "default";
	char *out = NULL;

	if (ctx->opts && ctx->opts->default_namespace)
		s = ctx->opts->default_namespace;
	if (name && name->type == YAML_SCALAR_NODE && cfg_scalar_kind(name) == CFG_S_STR)
		n = (const char *)name->data.scalar.value;
	if (ns && ns->type == YAML_SCALAR_NODE && cfg_scalar_kind(ns) == CFG_S_STR)
		s = (const char *)ns->data.scalar.value;
	if (kd->namespaced) {
		if (asprintf(&out, "%s %.63s/%.253s", kd->kind, s, n) < 0)
			out = NULL;
	} else if (asprintf(&out, "%s %.253s", kd->kind, n) < 0) {
		out = NULL;
	}
	return out;
}

/* Keeps a clean object for the caller's on_object with its own YAML (@inject_ns: see emit). */
static int tell_object(struct cfg_ctx *ctx, yaml_node_t *root, const struct cfg_kind *kd,
		       const struct config_meta *meta, const char *inject_ns)
{
	yaml_node_t *api = cfg_map_get(ctx, root, "apiVersion");
	struct cfg_told *told = realloc(ctx->told, (ctx->ntold + 1) * sizeof(*told)), *t;

	if (!told)
		return -ENOMEM;
	ctx->told = told;
	t = &told[ctx->ntold];
	memset(t, 0, sizeof(*t));
	t->api_version = strdup((const char *)api->data.scalar.value);
	t->kind = strdup(kd->kind);
	t->namespace = kd->namespaced ? strdup(meta->namespace) : NULL;
	t->name = strdup(meta->name);
	t->yaml = cfg_emit_object(ctx, root, kd->namespaced ? inject_ns : NULL);
	t->line = meta->origin.line;
	ctx->ntold++;
	if (!t->api_version || !t->kind || (kd->namespaced && !t->namespace) || !t->name ||
	    !t->yaml)
		return -ENOMEM;
	return 0;
}

static void parse_object(struct cfg_ctx *ctx, const struct cfg_kind *kd, yaml_node_t *root)
{
	union {
		struct config_namespace ns;
		struct config_service_account sa;
		struct config_pod pod;
		struct config_deployment dep;
		struct config_service svc;
		struct config_authorization_policy ap;
		struct config_peer_authentication pa;
		struct config_virtual_service vs;
		struct config_destination_rule dr;
		struct config_gateway gw;
		struct config_service_entry se;
		struct config_request_authentication ra;
		struct config_k8s_gateway kgw;
		struct config_gw_route route;
		struct config_endpoint_slice eps;
		struct config_telemetry tm;
	} u;
	struct cfg_obj o = {.kind = kd, .name_rule = kd->name_rule, .meta = &u.ns.meta, .obj = &u};
	const char *default_ns =
	    ctx->opts && ctx->opts->default_namespace ? ctx->opts->default_namespace : "default";
	const char *dup_file = NULL;
	char kind_key[128];
	int before = ctx->nerrors, dup, dup_line = 0;
	bool named_ns;

	/* Every model struct starts with its config_meta, so &u is also the meta. */
	memset(&u, 0, sizeof(u));
	cfg_walk_map(ctx, root, kd->fields, &o);
	if (ctx->nerrors != before)
		goto fail;
	named_ns = o.meta->namespace != NULL;
	if (kd->namespaced && !named_ns && !(o.meta->namespace = strdup(default_ns)))
		goto oom;
	if (kd->namespaced && named_ns && ctx->opts && ctx->opts->enforce_namespace &&
	    strcmp(o.meta->namespace, default_ns)) {
		size_t saved = cfg_path_push(ctx, "metadata.namespace");

		cfg_error(ctx, cfg_map_get(ctx, cfg_map_get(ctx, root, "metadata"), "namespace"),
			  "the namespace of the object (%s) does not match the namespace given "
			  "with -n (%s)",
			  o.meta->namespace, default_ns);
		cfg_path_pop(ctx, saved);
		goto fail;
	}
	o.meta->origin.file = strdup(ctx->file);
	o.meta->origin.line = (int)root->start_mark.line + 1;
	o.meta->api_version =
	    strdup((const char *)cfg_map_get(ctx, root, "apiVersion")->data.scalar.value);
	if (!o.meta->origin.file || !o.meta->api_version)
		goto oom;
	if (kd->finish && kd->finish(ctx, root, &o))
		goto fail;
	cfg_kind_key(kd, kind_key, sizeof(kind_key));
	dup = cfg_index_find(ctx, kind_key, o.meta->namespace, o.meta->name, &dup_file, &dup_line);
	if (dup < 0)
		goto oom;
	if (dup) {
		size_t saved = cfg_path_push(ctx, "metadata.name");

		cfg_error(ctx, root, "%s is defined twice (first at %s:%d)", ctx->object, dup_file,
			  dup_line);
		cfg_path_pop(ctx, saved);
		goto fail;
	}
	/* ctx->file outlives the load call's index; the stage's copy may move on append. */
	if (cfg_index_add(ctx, kind_key, o.meta->namespace, o.meta->name, ctx->file,
			  o.meta->origin.line))
		goto oom;
	if (ctx->opts && ctx->opts->on_object &&
	    tell_object(ctx, root, kd, o.meta, named_ns ? NULL : o.meta->namespace))
		goto oom;
	if (kd->append(ctx->stage, &u))
		goto oom;
	return;
oom:
	cfg_error(ctx, root, "out of memory");
fail:
	kd->free(&u);
}

static void parse_one(struct cfg_ctx *ctx, yaml_node_t *root, bool in_list);

static const struct cfg_field list_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, NULL, 0},
    {"items", CFG_T_SEQ, NULL, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static void parse_list(struct cfg_ctx *ctx, yaml_node_t *root)
{
	yaml_node_t *items;

	if (cfg_walk_map(ctx, root, list_fields, NULL))
		return;
	items = cfg_map_get(ctx, root, "items");
	if (!items || items->type != YAML_SEQUENCE_NODE)
		return; /* an explicit null: an empty list */
	for (yaml_node_item_t *it = items->data.sequence.items.start;
	     it < items->data.sequence.items.top; it++) {
		size_t saved = cfg_path_push(ctx, "items");

		cfg_path_push_index(ctx, (size_t)(it - items->data.sequence.items.start));
		parse_one(ctx, cfg_node(ctx, *it), true);
		cfg_path_pop(ctx, saved);
	}
}

/* The group of "group/version" ("" for the core "v1"). */
static size_t api_group_len(const char *api)
{
	const char *slash = strchr(api, '/');

	return slash ? (size_t)(slash - api) : 0;
}

/*
 * False only for a CRD group (it has a dot) none of @kd's versions is in: another API's kind
 * of the same name. Core and built-in groups keep the "does not serve" diagnosis.
 */
static bool api_group_served(const struct cfg_kind *kd, const char *api)
{
	size_t n = api_group_len(api);

	if (!memchr(api, '.', n))
		return true;

	for (const char *const *v = kd->api_versions; *v; v++)
		if (api_group_len(*v) == n && !strncmp(*v, api, n))
			return true;
	return false;
}

char *config_k8s_object_name(struct cfg_ctx *ctx, yaml_node_t *root)
{
	yaml_node_t *kind = cfg_map_get(ctx, root, "kind");
	yaml_node_t *api = cfg_map_get(ctx, root, "apiVersion");

	if (!kind || kind->type != YAML_SCALAR_NODE)
		return NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].kind, (const char *)kind->data.scalar.value) == 0 &&
		    (!api || api->type != YAML_SCALAR_NODE ||
		     api_group_served(&kinds[i], (const char *)api->data.scalar.value)))
			return object_name(ctx, &kinds[i], root);
	return NULL;
}

static void parse_one(struct cfg_ctx *ctx, yaml_node_t *root, bool in_list)
{
	yaml_node_t *kind, *api;
	const struct cfg_kind *kd = NULL;
	const char *k, *a;
	size_t saved;

	if (root->type != YAML_MAPPING_NODE) {
		cfg_error(ctx, root, "a manifest must be a mapping, got %s", cfg_type_name(root));
		return;
	}
	kind = cfg_map_get(ctx, root, "kind");
	api = cfg_map_get(ctx, root, "apiVersion");
	if (!kind || !api || kind->type != YAML_SCALAR_NODE || api->type != YAML_SCALAR_NODE ||
	    cfg_scalar_kind(kind) != CFG_S_STR || cfg_scalar_kind(api) != CFG_S_STR) {
		saved = cfg_path_push(ctx, !kind || kind->type != YAML_SCALAR_NODE ||
						   cfg_scalar_kind(kind) != CFG_S_STR
					       ? "kind"
					       : "apiVersion");
		cfg_error(ctx, kind && api ? (kind->type != YAML_SCALAR_NODE ? kind : api) : root,
			  "every object needs string \"apiVersion\" and \"kind\" fields");
		cfg_path_pop(ctx, saved);
		return;
	}
	k = (const char *)kind->data.scalar.value;
	a = (const char *)api->data.scalar.value;
	if (!in_list && strcmp(k, "List") == 0 && strcmp(a, "v1") == 0) {
		parse_list(ctx, root);
		return;
	}
	/* A kind of that name whose API group is the one written, else the first of that name. */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].kind, k) == 0 && (!kd || api_group_served(&kinds[i], a)))
			if (!kd || !api_group_served(kd, a))
				kd = &kinds[i];
	if (!kd) {
		saved = cfg_path_push(ctx, "kind");
		cfg_error(ctx, kind, "unknown kind \"%.64s\" (apiVersion \"%.64s\")", k, a);
		cfg_path_pop(ctx, saved);
		return;
	}
	/*
	 * Same kind name, another API group (gateway.networking.k8s.io's Gateway is not
	 * networking.istio.io's): that kind is not one we load.
	 */
	if (!api_group_served(kd, a)) {
		saved = cfg_path_push(ctx, "kind");
		cfg_error(ctx, kind,
			  "unknown kind \"%.64s\" (apiVersion \"%.64s\"; ambit loads %s "
			  "from %s)",
			  k, a, kd->kind, kd->api_versions[0]);
		cfg_path_pop(ctx, saved);
		return;
	}
	free(ctx->object);
	ctx->object = object_name(ctx, kd, root);
	for (const char *const *v = kd->api_versions; *v; v++) {
		if (strcmp(*v, a) == 0) {
			parse_object(ctx, kd, root);
			goto out;
		}
	}
	saved = cfg_path_push(ctx, "apiVersion");
	cfg_error(ctx, api, "apiVersion \"%.64s\" does not serve kind %s (want %s)", a, kd->kind,
		  kd->api_versions[0]);
	cfg_path_pop(ctx, saved);
out:
	free(ctx->object);
	ctx->object = NULL;
}

int config_k8s_document(struct cfg_ctx *ctx, yaml_node_t *root)
{
	int before = ctx->nerrors;

	parse_one(ctx, root, false);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
