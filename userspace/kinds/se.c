// SPDX-License-Identifier: Apache-2.0
/*
 * ServiceEntry and Gateway (networking.istio.io v1, v1beta1, v1alpha3; API_SEMANTICS.md §5, §6).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode/decode.h"

#define SE struct config_service_entry

static int u32_field(struct cfg_ctx *ctx, yaml_node_t *v, long long min, long long max,
		     uint32_t *out)
{
	long long n;

	if (cfg_get_int(ctx, v, min, max, &n))
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

/* SE hosts: required, never "*"; the CRD accepts partial wildcards such as "*x". */
static int se_hosts(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	SE *se = obj;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &se->hosts))
		return -EINVAL;
	if (!se->hosts.n)
		cfg_error(ctx, v, "at least one host is required");
	if (se->hosts.n > 256)
		cfg_error(ctx, v, "at most 256 hosts");
	for (size_t i = 0; i < se->hosts.n; i++) {
		const char *h = se->hosts.items[i];
		size_t saved = cfg_path_push_index(ctx, i);

		if (!strcmp(h, "*"))
			cfg_error(ctx, cfg_seq_item(ctx, v, i), "hostname cannot be wildcard");
		else if (strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
				   "._*") != strlen(h))
			cfg_error(ctx, cfg_seq_item(ctx, v, i), "\"%.64s\" is not a host name", h);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int se_addresses(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	SE *se = obj;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &se->addresses))
		return -EINVAL;
	for (size_t i = 0; i < se->addresses.n; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		if (!cfg_cidr_ok(se->addresses.items[i]))
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "\"%.64s\" is not an IP address or CIDR block",
				  se->addresses.items[i]);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int se_port_number(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 4294967295LL, &n))
		return -EINVAL;
	if (n < 1 || n > 65535) {
		cfg_error(ctx, v, "port must be between 1-65535, got %lld", n);
		return -EINVAL;
	}
	((struct config_se_port *)obj)->number = (uint32_t)n;
	return 0;
}

static int se_port_target(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 4294967295LL, &n))
		return -EINVAL;
	if (n < 1 || n > 65535) {
		cfg_error(ctx, v, "port must be between 1-65535, got %lld", n);
		return -EINVAL;
	}
	((struct config_se_port *)obj)->target_port = (uint32_t)n;
	return 0;
}

int cfg_check_istio_protocol(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	static const char *const protos[] = {"HTTP",  "HTTPS", "GRPC", "GRPC-WEB", "HTTP2",
					     "MONGO", "TCP",   "TLS",  "MYSQL",	   "REDIS",
					     "UDP",   "HBONE", NULL};
	const char *s = (const char *)v->data.scalar.value;

	for (const char *const *p = protos; *p; p++)
		if (!strcasecmp(s, *p))
			return (*out = strdup(s)) ? 0 : -ENOMEM;
	cfg_error(ctx, v,
		  "unsupported protocol \"%.32s\" (want HTTP, HTTPS, GRPC, GRPC-WEB, HTTP2, "
		  "MONGO, TCP, TLS, MYSQL, REDIS, UDP)",
		  s);
	return -EINVAL;
}

static int se_port_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_check_istio_protocol(ctx, v, &((struct config_se_port *)obj)->protocol);
}

static int se_port_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct config_se_port *)obj)->name);
}

static const struct cfg_field se_port_fields[] = {
    {"number", CFG_T_INT, se_port_number, CFG_F_REQUIRED},
    {"protocol", CFG_T_STR, se_port_protocol, 0},
    {"name", CFG_T_STR, se_port_name, 0},
    {"targetPort", CFG_T_INT, se_port_target, 0},
    {NULL, 0, NULL, 0},
};

static int se_ports(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	SE *se = obj;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (cfg_parse_seq(ctx, v, se_port_fields, sizeof(*se->ports), (void **)&se->ports,
			  &se->n_ports, false, "port"))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		for (size_t j = 0; j < i; j++) {
			if (se->ports[i].name && se->ports[j].name &&
			    !strcmp(se->ports[i].name, se->ports[j].name))
				cfg_error(ctx, cfg_seq_item(ctx, v, i),
					  "Duplicate value: port name \"%.64s\"",
					  se->ports[i].name);
			if (se->ports[i].number == se->ports[j].number)
				cfg_error(ctx, cfg_seq_item(ctx, v, i),
					  "port number cannot be duplicated (%u)",
					  se->ports[i].number);
		}
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int se_location(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const locs[] = {"MESH_EXTERNAL", "MESH_INTERNAL", NULL};

	if (cfg_check_enum(ctx, v, locs, NULL))
		return -EINVAL;
	((SE *)obj)->location = strcmp((const char *)v->data.scalar.value, "MESH_INTERNAL")
				    ? CONFIG_SE_MESH_EXTERNAL
				    : CONFIG_SE_MESH_INTERNAL;
	return 0;
}

static int se_resolution(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const res[] = {"NONE",	 "STATIC", "DNS", "DNS_ROUND_ROBIN",
					  "DYNAMIC_DNS", NULL};
	const char *s = (const char *)v->data.scalar.value;
	size_t i;

	if (cfg_check_enum(ctx, v, res, NULL))
		return -EINVAL;
	for (i = 0; strcmp(res[i], s); i++)
		;
	((SE *)obj)->resolution = (enum config_se_resolution)i;
	return 0;
}

#define EP struct config_se_endpoint
static int ep_address(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((EP *)o)->address);
}
static int ep_str(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	return cfg_get_str(ctx, v, out);
}
static int ep_network(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return ep_str(ctx, v, &((EP *)o)->network);
}
static int ep_locality(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return ep_str(ctx, v, &((EP *)o)->locality);
}
static int ep_sa(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return ep_str(ctx, v, &((EP *)o)->service_account);
}
static int ep_weight(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_field(ctx, v, 0, 4294967295LL, &((EP *)o)->weight);
}
static int ep_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_labels(ctx, v, false, &((EP *)o)->labels);
}

/* ports: name -> number; kept as strings in a label list. */
static int ep_ports(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	EP *e = o;
	int before = ctx->nerrors;

	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *val = cfg_node(ctx, p->value);
		const char *key = (const char *)k->data.scalar.value;
		size_t saved = cfg_path_push(ctx, key);
		long long n;

		if (cfg_get_int(ctx, val, 1, 65535, &n) == 0 &&
		    config_labels_add(&e->ports, key, (const char *)val->data.scalar.value))
			cfg_error(ctx, val, "out of memory");
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field endpoint_fields[] = {
    {"address", CFG_T_STR, ep_address, 0},   {"ports", CFG_T_MAP, ep_ports, 0},
    {"labels", CFG_T_MAP, ep_labels, 0},     {"network", CFG_T_STR, ep_network, 0},
    {"locality", CFG_T_STR, ep_locality, 0}, {"weight", CFG_T_INT, ep_weight, 0},
    {"serviceAccount", CFG_T_STR, ep_sa, 0}, {NULL, 0, NULL, 0},
};

static int se_endpoints(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	SE *se = obj;

	return cfg_parse_seq(ctx, v, endpoint_fields, sizeof(*se->endpoints),
			     (void **)&se->endpoints, &se->n_endpoints, false, "endpoint");
}

static int se_selector_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_selector_labels(ctx, v, obj);
}

static const struct cfg_field se_selector_fields[] = {
    {"labels", CFG_T_MAP, se_selector_labels, 0},
    {NULL, 0, NULL, 0},
};

static int se_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	SE *se = obj;

	se->has_workload_selector = true;
	return cfg_walk_map(ctx, v, se_selector_fields, &se->workload_selector);
}

static int se_export_to(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_export_to(ctx, v, &((SE *)obj)->export_to);
}

static int se_sans(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &((SE *)obj)->subject_alt_names);
}

static const struct cfg_field se_spec_fields[] = {
    {"hosts", CFG_T_SEQ, se_hosts, CFG_F_REQUIRED},
    {"addresses", CFG_T_SEQ, se_addresses, 0},
    {"ports", CFG_T_SEQ, se_ports, 0},
    {"location", CFG_T_STR, se_location, 0},
    {"resolution", CFG_T_STR, se_resolution, 0},
    {"endpoints", CFG_T_SEQ, se_endpoints, 0},
    {"workloadSelector", CFG_T_MAP, se_selector, 0},
    {"exportTo", CFG_T_SEQ, se_export_to, 0},
    {"subjectAltNames", CFG_T_SEQ, se_sans, 0},
    {NULL, 0, NULL, 0},
};

static int se_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, se_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_se_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, se_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

static bool port_name_declared(const SE *se, const char *name)
{
	for (size_t i = 0; i < se->n_ports; i++)
		if (se->ports[i].name && !strcmp(se->ports[i].name, name))
			return true;
	return false;
}

int cfg_se_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	SE *se = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	int before = ctx->nerrors;
	size_t saved = cfg_path_push(ctx, "spec");
	bool cidr = false;

	if (se->has_workload_selector && se->n_endpoints)
		cfg_error(ctx, spec, "only one of WorkloadSelector or Endpoints can be set");
	for (size_t i = 0; i < se->addresses.n; i++)
		cidr |= strchr(se->addresses.items[i], '/') != NULL;
	if (cidr && se->resolution != CONFIG_SE_RESOLUTION_NONE &&
	    se->resolution != CONFIG_SE_RESOLUTION_STATIC)
		cfg_error(ctx, cfg_map_get(ctx, spec, "addresses"),
			  "CIDR addresses are allowed only for NONE/STATIC resolution types");
	if (se->resolution == CONFIG_SE_RESOLUTION_NONE && se->n_endpoints)
		cfg_error(ctx, cfg_map_get(ctx, spec, "endpoints"),
			  "NONE mode cannot set endpoints");
	if (se->resolution == CONFIG_SE_RESOLUTION_DNS_ROUND_ROBIN && se->n_endpoints > 1)
		cfg_error(ctx, cfg_map_get(ctx, spec, "endpoints"),
			  "DNS_ROUND_ROBIN mode cannot have multiple endpoints");
	if (se->resolution == CONFIG_SE_RESOLUTION_STATIC && !se->n_endpoints &&
	    !se->has_workload_selector)
		cfg_diag(ctx, spec, false,
			 "STATIC resolution without endpoints or workloadSelector: the hosts "
			 "resolve to nothing");
	if (se->resolution == CONFIG_SE_RESOLUTION_DYNAMIC_DNS) {
		for (size_t i = 0; i < se->hosts.n; i++)
			if (strncmp(se->hosts.items[i], "*.", 2))
				cfg_error(ctx, spec,
					  "DYNAMIC_DNS needs wildcard hosts, got \"%.64s\"",
					  se->hosts.items[i]);
		if (se->addresses.n || se->n_endpoints)
			cfg_error(ctx, spec, "DYNAMIC_DNS cannot set addresses or endpoints");
	}
	for (size_t i = 0; i < se->n_endpoints; i++) {
		const struct config_se_endpoint *e = &se->endpoints[i];
		size_t s2 = cfg_path_push(ctx, "endpoints");

		cfg_path_push_index(ctx, i);
		if ((se->resolution == CONFIG_SE_RESOLUTION_STATIC) &&
		    (!e->address || (!cfg_ip_ok(e->address) && strncmp(e->address, "unix://", 7))))
			cfg_error(ctx, spec, "STATIC endpoints need an IP address, got \"%.64s\"",
				  e->address ? e->address : "");
		for (size_t j = 0; j < e->ports.n; j++)
			if (!port_name_declared(se, e->ports.items[j].key))
				cfg_error(ctx, spec,
					  "endpoint port \"%.64s\" is not a declared port name",
					  e->ports.items[j].key);
		cfg_path_pop(ctx, s2);
	}
	cfg_path_pop(ctx, saved);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
