// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes kinds: object metadata, labels, Namespace, ServiceAccount and Service (the kinds
 * table is kinds.def, expanded in config/kinds.c). Pods and Deployments (the pod template) are in
 * kinds/pod.c. Field lists follow the Kubernetes API (core/v1, apps/v1) so real manifests load;
 * sub-objects the mesh does not use are type-checked as opaque mappings or sequences.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

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

int cfg_ip_once_per_family(struct cfg_ctx *ctx, yaml_node_t *v, const char *ip, unsigned int *seen)
{
	unsigned int bit = strchr(ip, ':') ? 2 : 1;

	if (!cfg_ip_ok(ip)) {
		cfg_error(ctx, v, "\"%.64s\" is not an IP address", ip);
		return -EINVAL;
	}
	if (*seen & bit) {
		cfg_error(ctx, v, "a second IPv%c address (\"%.64s\"): one of each family",
			  bit == 2 ? '6' : '4', ip);
		return -EINVAL;
	}
	*seen |= bit;
	return 0;
}

bool config_dns_label_ok(const char *s)
{
	return dns_label_ok(s, strlen(s), false);
}

bool config_label_value_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool alnum = isalnum((unsigned char)s[i]);

		if (!alnum && ((i == 0 || i == n - 1) || !strchr("-_.", s[i])))
			return false;
	}
	return true;
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

const struct cfg_field cfg_namespace_fields[] = {
    OBJECT_FIELDS,
    {"spec", CFG_T_MAP, namespace_spec, 0},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/*
 * As the API server's namespace strategy does on every create and update: the label
 * kubernetes.io/metadata.name is the namespace's name, whatever the manifest said of it.
 */
int cfg_namespace_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
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

const struct cfg_field cfg_service_account_fields[] = {
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

/*
 * spec.clusterIPs: "None" alone (headless), or at most one address a family (Kubernetes'
 * validation); its first is clusterIP when both are given.
 */
static int service_cluster_ips(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_service *svc = obj;
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	unsigned int seen = 0;
	int err = 0;

	if (n > 2) {
		cfg_error(ctx, v,
			  "a Service has at most two cluster IPs (one of each family), not %zu", n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n && !err; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		char *ip = NULL;

		if (!item || cfg_get_str(ctx, item, &ip))
			err = -EINVAL;
		else if (!strcmp(ip, "None") && n != 1)
			err = (cfg_error(ctx, item, "\"None\" stands alone (a headless Service)"),
			       -EINVAL);
		else if (strcmp(ip, "None"))
			err = cfg_ip_once_per_family(ctx, item, ip, &seen);
		if (!err && *ip)
			err = config_strings_add(&svc->cluster_ips, ip);
		free(ip);
		cfg_path_pop(ctx, saved);
	}
	return err;
}

#define ENUM_FIELD(fn, ...)                                                                        \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)                              \
	{                                                                                          \
		static const char *const ok[] = {__VA_ARGS__, NULL};                               \
		return cfg_check_enum(ctx, v, ok, NULL);                                           \
	}

static int service_type(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const ok[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName",
					 NULL};
	int err = cfg_check_enum(ctx, v, ok, NULL);

	if (!err)
		((struct config_service *)obj)->load_balancer =
		    !strcmp((const char *)v->data.scalar.value, "LoadBalancer");
	return err;
}

static int service_lb_class(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	((struct config_service *)obj)->lb_class = true;
	return 0;
}
ENUM_FIELD(service_affinity, "None", "ClientIP")
static int service_family_policy(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const ok[] = {"SingleStack", "PreferDualStack", "RequireDualStack",
					 NULL};
	const char *s = (const char *)v->data.scalar.value;
	int err = cfg_check_enum(ctx, v, ok, NULL);

	if (!err) {
		((struct config_service *)obj)->dual_stack = strcmp(s, "SingleStack") != 0;
		((struct config_service *)obj)->require_dual_stack = !strcmp(s, "RequireDualStack");
	}
	return err;
}
ENUM_FIELD(service_ip_family, "IPv4", "IPv6")

/*
 * spec.ipFamilies: whether IPv6 is one, and the first (the Service's primary family: a
 * SingleStack Service of [IPv6] has an IPv6 cluster IP and no IPv4 one).
 */
static int service_ip_families(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_service *svc = obj;

	for (size_t i = 0; i < (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	     i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		int err = item ? service_ip_family(ctx, item, obj) : -EINVAL;

		cfg_path_pop(ctx, saved);
		if (err)
			return err;
		if (item->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)item->data.scalar.value, "IPv6")) {
			svc->ipv6_asked = true;
			svc->ipv6_first = svc->ipv6_first || i == 0;
		}
		if (item->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)item->data.scalar.value, "IPv4"))
			svc->ipv4_asked = true;
	}
	return 0;
}
ENUM_FIELD(service_traffic_policy, "Cluster", "Local")
/* Kubernetes' values (1.31 PreferClose, 1.34 its two finer ones): all "close by first" here. */
static int service_traffic_distribution(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const ok[] = {"PreferClose", "PreferSameZone", "PreferSameNode", NULL};
	int err = cfg_check_enum(ctx, v, ok, NULL);

	if (!err)
		((struct config_service *)obj)->prefer_close = true;
	return err;
}

static const struct cfg_field service_spec_fields[] = {
    {"ports", CFG_T_SEQ, service_ports, 0},
    {"selector", CFG_T_MAP, service_selector, 0},
    {"clusterIP", CFG_T_STR, service_cluster_ip, 0},
    {"clusterIPs", CFG_T_SEQ, service_cluster_ips, 0},
    {"type", CFG_T_STR, service_type, 0},
    {"externalIPs", CFG_T_SEQ, NULL, 0},
    {"sessionAffinity", CFG_T_STR, service_affinity, 0},
    {"sessionAffinityConfig", CFG_T_MAP, NULL, 0},
    {"loadBalancerIP", CFG_T_STR, NULL, 0},
    {"loadBalancerSourceRanges", CFG_T_SEQ, NULL, 0},
    {"loadBalancerClass", CFG_T_STR, service_lb_class, 0},
    {"allocateLoadBalancerNodePorts", CFG_T_BOOL, NULL, 0},
    {"externalName", CFG_T_STR, NULL, 0},
    {"externalTrafficPolicy", CFG_T_STR, service_traffic_policy, 0},
    {"internalTrafficPolicy", CFG_T_STR, service_traffic_policy, 0},
    {"healthCheckNodePort", CFG_T_INT, node_port, 0},
    {"publishNotReadyAddresses", CFG_T_BOOL, NULL, 0},
    {"ipFamilies", CFG_T_SEQ, service_ip_families, 0},
    {"ipFamilyPolicy", CFG_T_STR, service_family_policy, 0},
    {"trafficDistribution", CFG_T_STR, service_traffic_distribution, 0},
    {NULL, 0, NULL, 0},
};

static int service_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, service_spec_fields, ((struct cfg_obj *)obj)->obj);
}

/*
 * status: what the API server holds of the Service's balancer, status.loadBalancer.ingress[].ip
 * (an address each; a hostname, ipMode and ports are not kept). The rest of a status is the
 * server's and not checked.
 */
static int service_status(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_service *svc = ((struct cfg_obj *)obj)->obj;
	yaml_node_t *lb = cfg_map_get(ctx, v, "loadBalancer");
	yaml_node_t *ing = lb ? cfg_map_get(ctx, lb, "ingress") : NULL;
	size_t n;

	if (!ing || ing->type != YAML_SEQUENCE_NODE)
		return 0;
	n = (size_t)(ing->data.sequence.items.top - ing->data.sequence.items.start);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *ip = cfg_map_get(ctx, cfg_seq_item(ctx, ing, i), "ip");
		struct ipaddr a;

		if (!ip || ip->type != YAML_SCALAR_NODE ||
		    ipaddr_parse_addr((const char *)ip->data.scalar.value, &a))
			continue;
		if (config_strings_add(&svc->lb_ingress, (const char *)ip->data.scalar.value))
			return -ENOMEM;
	}
	return 0;
}

const struct cfg_field cfg_service_fields[] = {
    OBJECT_FIELDS,
    {"spec", CFG_T_MAP, service_spec, 0},
    {"status", CFG_T_MAP, service_status, 0},
    {NULL, 0, NULL, 0},
};

void cfg_namespace_free(struct config_namespace *ns)
{
	config_meta_free(&ns->meta);
}

void cfg_service_account_free(struct config_service_account *sa)
{
	config_meta_free(&sa->meta);
}
