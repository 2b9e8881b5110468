// SPDX-License-Identifier: Apache-2.0
/*
 * EndpointSlice (discovery.k8s.io/v1), as the API server serves it: the endpoints of Services
 * without a selector. The fields are the API reference's; what the mesh uses is the Service it
 * belongs to (label kubernetes.io/service-name), its addresses (IPv4 or IPv6, by the slice's
 * addressType) with their readiness, and its ports by name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define EPS_MAX 1000 /* endpoints and ports of one slice (the API server's own limits) */

typedef struct config_endpoint_slice EPS;

static int eps_address_type(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const types[] = {"IPv4", "IPv6", "FQDN"};
	const char *s = (const char *)v->data.scalar.value;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(s, types[i])) {
			((EPS *)((struct cfg_obj *)obj)->obj)->ipv4 = i == 0;
			((EPS *)((struct cfg_obj *)obj)->obj)->ipv6 = i == 1;
			return 0;
		}
	cfg_error(ctx, v, "\"%.40s\" is not one of IPv4, IPv6, FQDN", s);
	return -EINVAL;
}

static int ep_addresses(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_eps_endpoint *e = obj;
	size_t n = cfg_seq_len(v);
	yaml_node_t *a = n ? cfg_seq_item(ctx, v, 0) : NULL;
	struct in_addr in;

	if (!a || a->type != YAML_SCALAR_NODE) {
		cfg_error(ctx, v, "an endpoint needs an address");
		return -EINVAL;
	}
	/* Checked against the slice's addressType once it is known (eps_finish). */
	if (inet_pton(AF_INET, (const char *)a->data.scalar.value, &in) == 1)
		e->ip = in.s_addr;
	else if (ipaddr_parse_addr((const char *)a->data.scalar.value, &e->ip6) ||
		 e->ip6.family != AF_INET6)
		memset(&e->ip6, 0, sizeof(e->ip6));
	return 0;
}

static int ep_ready(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	bool ready;
	int err = cfg_get_bool(ctx, v, &ready);

	if (!err)
		((struct config_eps_endpoint *)obj)->not_ready = !ready;
	return err;
}

static const struct cfg_field ep_condition_fields[] = {
    {"ready", CFG_T_BOOL, ep_ready, 0},
    {"serving", CFG_T_BOOL, NULL, 0},
    {"terminating", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int ep_conditions(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, ep_condition_fields, obj);
}

static const struct cfg_field ep_fields[] = {
    {"addresses", CFG_T_SEQ, ep_addresses, CFG_F_REQUIRED},
    {"conditions", CFG_T_MAP, ep_conditions, 0},
    {"hostname", CFG_T_STR, NULL, 0},
    {"targetRef", CFG_T_MAP, NULL, 0},
    {"nodeName", CFG_T_STR, NULL, 0},
    {"zone", CFG_T_STR, NULL, 0},
    {"hints", CFG_T_MAP, NULL, 0},
    {"deprecatedTopology", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* Each mapping of sequence @v walked with @fields into a new array of @size-byte items. */
static int walk_items(struct cfg_ctx *ctx, yaml_node_t *v, const struct cfg_field *fields,
		      size_t size, const char *what, void **arr, size_t *out_n)
{
	size_t n = cfg_seq_len(v);
	int err = 0;

	if (n > EPS_MAX) {
		cfg_error(ctx, v, "%zu %s; at most %d", n, what, EPS_MAX);
		return -EINVAL;
	}
	*arr = n ? calloc(n, size) : NULL;
	if (n && !*arr)
		return -ENOMEM;
	*out_n = n; /* all zeroed: the free can walk them */
	for (size_t i = 0; i < n; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		if (cfg_walk_map(ctx, cfg_seq_item(ctx, v, i), fields, (char *)*arr + i * size))
			err = -EINVAL;
		cfg_path_pop(ctx, saved);
	}
	return err;
}

static int eps_endpoints(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	EPS *s = ((struct cfg_obj *)obj)->obj;

	return walk_items(ctx, v, ep_fields, sizeof(*s->endpoints), "endpoints",
			  (void **)&s->endpoints, &s->nendpoints);
}

static int port_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct config_eps_port *)obj)->name);
}

static int port_number(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	long long p;
	int err = cfg_get_int(ctx, v, 1, 65535, &p);

	if (!err)
		((struct config_eps_port *)obj)->port = (uint16_t)p;
	return err;
}

static const struct cfg_field port_fields[] = {
    {"name", CFG_T_STR, port_name, 0},
    {"port", CFG_T_INT, port_number, 0},
    {"protocol", CFG_T_STR, NULL, 0},
    {"appProtocol", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int eps_ports(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	EPS *s = ((struct cfg_obj *)obj)->obj;

	return walk_items(ctx, v, port_fields, sizeof(*s->ports), "ports", (void **)&s->ports,
			  &s->nports);
}

const struct cfg_field cfg_eps_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"addressType", CFG_T_STR, eps_address_type, CFG_F_REQUIRED},
    {"endpoints", CFG_T_SEQ, eps_endpoints, 0},
    {"ports", CFG_T_SEQ, eps_ports, 0},
    {NULL, 0, NULL, 0},
};

/* The Service it belongs to; an IPv4 slice's addresses must be IPv4, an IPv6 one's IPv6. */
int cfg_eps_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	EPS *s = o->obj;
	const char *svc = config_label_get(&s->meta.labels, "kubernetes.io/service-name");

	if (svc && !(s->service = strdup(svc)))
		return -ENOMEM;
	for (size_t i = 0; (s->ipv4 || s->ipv6) && i < s->nendpoints; i++) {
		size_t saved;

		if (s->ipv4 ? s->endpoints[i].ip != 0 : s->endpoints[i].ip6.family == AF_INET6)
			continue;
		saved = cfg_path_push(ctx, "endpoints");
		cfg_path_push_index(ctx, i);
		cfg_error(ctx, root,
			  s->ipv4 ? "not an IPv4 address, in a slice of addressType IPv4"
				  : "not an IPv6 address, in a slice of addressType IPv6");
		cfg_path_pop(ctx, saved);
		return -EINVAL;
	}
	return 0;
}

void config_endpoint_slice_free(struct config_endpoint_slice *s)
{
	config_meta_free(&s->meta);
	free(s->service);
	free(s->endpoints);
	for (size_t i = 0; i < s->nports; i++)
		free(s->ports[i].name);
	free(s->ports);
}
