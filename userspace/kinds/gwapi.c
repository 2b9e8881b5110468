// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway API Gateway (gateway.networking.k8s.io v1, v1beta1; API_SEMANTICS.md §7, §9): the
 * CRD's schema and CEL rules. A Gateway of class istio-waypoint defines a waypoint; what its
 * listeners must be for that is analysis (analyze/l7.c), not schema.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define GW struct config_k8s_gateway
#define LS struct config_gw_listener

/* Hostname: an RFC 1123 subdomain, optionally "*." first; no IP, no port. */
bool cfg_gw_hostname_ok(const char *h, bool wildcard_ok)
{
	if (wildcard_ok && !strncmp(h, "*.", 2))
		h += 2;
	return strlen(h) <= 253 && cfg_name_ok(h, CFG_NAME_SUBDOMAIN);
}

/* Gateway API Duration: ^([0-9]{1,5}(h|m|s|ms)){1,4}$; "0s" is allowed (no timeout). */
int cfg_gw_duration(struct cfg_ctx *ctx, yaml_node_t *v, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
	uint64_t total = 0;
	const char *p;
	char *s;
	int parts = 0;

	if (cfg_get_str(ctx, v, &s))
		return -EINVAL;
	for (p = s; *p && parts < 5; parts++) {
		size_t digits = strspn(p, "0123456789"), u;
		uint64_t n = strtoull(p, NULL, 10);

		if (!digits || digits > 5)
			break;
		p += digits;
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
			if (!strncmp(p, units[u].unit, strlen(units[u].unit)))
				break;
		if (u == sizeof(units) / sizeof(units[0]))
			break;
		p += strlen(units[u].unit);
		total += n * units[u].ms;
	}
	if (*p || !parts || parts > 4) {
		cfg_error(ctx, v,
			  "\"%.32s\" is not a Gateway API duration (1 to 4 of <n>h, m, s or "
			  "ms, e.g. \"1m30s\")",
			  s);
		free(s);
		return -EINVAL;
	}
	free(s);
	*ms = total;
	return 0;
}

static int ls_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_SUBDOMAIN, &((LS *)o)->name);
}

static int ls_hostname(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LS *l = o;

	if (cfg_get_str(ctx, v, &l->hostname))
		return -EINVAL;
	if (!cfg_gw_hostname_ok(l->hostname, true)) {
		cfg_error(ctx, v, "\"%.64s\" is not a hostname (\"*.\" may come first)",
			  l->hostname);
		return -EINVAL;
	}
	return 0;
}

static int ls_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((LS *)o)->port = (uint16_t)n;
	return 0;
}

/* ProtocolType: a name (HTTP, HBONE, ...) or a domain-prefixed one (example.com/proto). */
static int ls_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LS *l = o;
	const char *slash;

	if (cfg_get_str(ctx, v, &l->protocol))
		return -EINVAL;
	slash = strchr(l->protocol, '/');
	if (!*l->protocol || strlen(l->protocol) > 255 ||
	    strspn(slash ? slash + 1 : l->protocol,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
		strlen(slash ? slash + 1 : l->protocol)) {
		cfg_error(ctx, v, "\"%.64s\" is not a protocol name", l->protocol);
		return -EINVAL;
	}
	return 0;
}

static int tls_mode(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const modes[] = {"Terminate", "Passthrough", NULL};
	LS *l = o;

	free(l->tls_mode);
	l->tls_mode = NULL;
	return cfg_check_enum(ctx, v, modes, &l->tls_mode);
}

#define CREF struct config_gw_cert_ref

static int cr_str(struct cfg_ctx *ctx, yaml_node_t *v, char **out, size_t max)
{
	free(*out);
	*out = NULL;
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (strlen(*out) > max) {
		cfg_error(ctx, v, "must be at most %zu characters", max);
		return -EINVAL;
	}
	return 0;
}

static int cr_group(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cr_str(ctx, v, &((CREF *)o)->group, 253);
}

static int cr_kind(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	CREF *r = o;

	if (cr_str(ctx, v, &r->kind, 63))
		return -EINVAL;
	if (!*r->kind) {
		cfg_error(ctx, v, "kind must not be empty");
		return -EINVAL;
	}
	return 0;
}

static int cr_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_SUBDOMAIN, &((CREF *)o)->name);
}

static int cr_namespace(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((CREF *)o)->namespace);
}

static const struct cfg_field cert_ref_fields[] = {
    {"group", CFG_T_STR, cr_group, 0},
    {"kind", CFG_T_STR, cr_kind, 0},
    {"name", CFG_T_STR, cr_name, CFG_F_REQUIRED},
    {"namespace", CFG_T_STR, cr_namespace, 0},
    {NULL, 0, NULL, 0},
};

/* tls.certificateRefs: at most 64, each a Secret ("" group, kind Secret) unless it says. */
static int ls_cert_refs(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LS *l = o;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > 64) {
		cfg_error(ctx, v, "at most 64 certificateRefs");
		return -EINVAL;
	}
	l->cert_refs = calloc(n + 1, sizeof(*l->cert_refs));
	if (!l->cert_refs) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		CREF *r = &l->cert_refs[l->n_cert_refs++];
		size_t saved = cfg_path_push_index(ctx, i);

		r->group = strdup("");
		r->kind = strdup("Secret");
		if (!r->group || !r->kind)
			cfg_error(ctx, v, "out of memory");
		else
			cfg_walk_map(ctx, cfg_seq_item(ctx, v, i), cert_ref_fields, r);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field ls_tls_fields[] = {
    {"mode", CFG_T_STR, tls_mode, 0},
    {"certificateRefs", CFG_T_SEQ, ls_cert_refs, 0},
    {"options", CFG_T_MAP, NULL, 0},
    {"frontendValidation", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int ls_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LS *l = o;
	int err = cfg_walk_map(ctx, v, ls_tls_fields, l);

	if (!err && !l->tls_mode && !(l->tls_mode = strdup("Terminate")))
		err = -ENOMEM;
	return err;
}

static int from(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const f[] = {"All", "Selector", "Same", NULL};
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, f, NULL))
		return -EINVAL;
	((LS *)o)->allowed_from = !strcmp(s, "All")	   ? CONFIG_GW_FROM_ALL
				  : !strcmp(s, "Selector") ? CONFIG_GW_FROM_SELECTOR
							   : CONFIG_GW_FROM_SAME;
	return 0;
}

static int ns_match_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_labels(ctx, v, false, &((LS *)o)->allowed_selector);
}

static const struct cfg_field label_selector_fields[] = {
    {"matchLabels", CFG_T_MAP, ns_match_labels, 0},
    {"matchExpressions", CFG_T_SEQ, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int ns_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	if (cfg_map_get(ctx, v, "matchExpressions"))
		cfg_diag(ctx, v, false,
			 "matchExpressions are not evaluated: only matchLabels "
			 "select namespaces");
	return cfg_walk_map(ctx, v, label_selector_fields, o);
}

static const struct cfg_field ns_fields[] = {
    {"from", CFG_T_STR, from, 0},
    {"selector", CFG_T_MAP, ns_selector, 0},
    {NULL, 0, NULL, 0},
};

static int ar_namespaces(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, ns_fields, o);
}

static int kind_group(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	char *g = NULL;

	(void)o;
	if (cfg_get_str(ctx, v, &g))
		return -EINVAL;
	if (*g && strcmp(g, CONFIG_GW_GROUP))
		cfg_diag(ctx, v, false, "routes of group \"%.64s\" are never attached here", g);
	free(g);
	return 0;
}

static int kind_kind(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LS *l = o;
	char *k = NULL;
	int err;

	if (cfg_get_str(ctx, v, &k))
		return -EINVAL;
	err = config_strings_add(&l->allowed_kinds, k);
	free(k);
	if (err)
		cfg_error(ctx, v, "out of memory");
	return err;
}

static const struct cfg_field kind_fields[] = {
    {"group", CFG_T_STR, kind_group, 0},
    {"kind", CFG_T_STR, kind_kind, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int ar_kinds(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	int before = ctx->nerrors;

	for (size_t i = 0; i < cfg_seq_len(v); i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		cfg_walk_map(ctx, cfg_seq_item(ctx, v, i), kind_fields, o);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field allowed_fields[] = {
    {"namespaces", CFG_T_MAP, ar_namespaces, 0},
    {"kinds", CFG_T_SEQ, ar_kinds, 0},
    {NULL, 0, NULL, 0},
};

static int ls_allowed(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	yaml_node_t *kinds = cfg_map_get(ctx, v, "kinds");

	if (kinds && cfg_seq_len(kinds) > 8) {
		cfg_error(ctx, v, "at most 8 route kinds");
		return -EINVAL;
	}
	return cfg_walk_map(ctx, v, allowed_fields, o);
}

static const struct cfg_field listener_fields[] = {
    {"name", CFG_T_STR, ls_name, CFG_F_REQUIRED},
    {"hostname", CFG_T_STR, ls_hostname, 0},
    {"port", CFG_T_INT, ls_port, CFG_F_REQUIRED},
    {"protocol", CFG_T_STR, ls_protocol, CFG_F_REQUIRED},
    {"tls", CFG_T_MAP, ls_tls, 0},
    {"allowedRoutes", CFG_T_MAP, ls_allowed, 0},
    {NULL, 0, NULL, 0},
};

static bool same_str(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

/* The CRD's CEL rules on the listener list. */
static void check_listener(struct cfg_ctx *ctx, yaml_node_t *item, GW *gw, size_t i)
{
	const LS *l = &gw->listeners[i];
	const char *p = l->protocol ? l->protocol : "";
	bool plain = !strcmp(p, "HTTP") || !strcmp(p, "TCP") || !strcmp(p, "UDP");

	if (plain && l->tls_mode)
		cfg_error(ctx, item,
			  "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']");
	if (!strcmp(p, "HTTPS") && l->tls_mode && strcmp(l->tls_mode, "Terminate"))
		cfg_error(ctx, item, "tls mode must be Terminate for protocol HTTPS");
	if (!strcmp(p, "TLS") && !l->tls_mode)
		cfg_error(ctx, item, "tls mode must be set for protocol TLS");
	if ((!strcmp(p, "TCP") || !strcmp(p, "UDP")) && l->hostname)
		cfg_error(ctx, item, "hostname must not be specified for protocols ['TCP', 'UDP']");
	for (size_t j = 0; j < i; j++) {
		const LS *o = &gw->listeners[j];

		if (same_str(o->name, l->name))
			cfg_error(ctx, item, "Listener name must be unique within the Gateway");
		else if (o->port == l->port && same_str(o->protocol, l->protocol) &&
			 same_str(o->hostname, l->hostname))
			cfg_error(ctx, item,
				  "Combination of port, protocol and hostname must be "
				  "unique for each listener");
	}
}

static int gw_listeners(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	GW *gw = o;
	int before = ctx->nerrors;

	if (cfg_seq_len(v) > 64) {
		cfg_error(ctx, v, "at most 64 listeners");
		return -EINVAL;
	}
	if (cfg_parse_seq(ctx, v, listener_fields, sizeof(*gw->listeners), (void **)&gw->listeners,
			  &gw->n_listeners, true, "listeners"))
		return -EINVAL;
	for (size_t i = 0; i < gw->n_listeners; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		gw->listeners[i].line = (int)item->start_mark.line + 1;
		check_listener(ctx, item, gw, i);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int gw_class(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	GW *gw = o;

	if (cfg_get_str(ctx, v, &gw->class_name))
		return -EINVAL;
	if (!*gw->class_name || strlen(gw->class_name) > 253) {
		cfg_error(ctx, v, "gatewayClassName must be 1 to 253 characters");
		return -EINVAL;
	}
	return 0;
}

struct gw_address {
	char *type, *value;
};

static int addr_type(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((struct gw_address *)o)->type);
}

static int addr_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((struct gw_address *)o)->value);
}

static const struct cfg_field address_fields[] = {
    {"type", CFG_T_STR, addr_type, 0},
    {"value", CFG_T_STR, addr_value, 0},
    {NULL, 0, NULL, 0},
};

static int gw_addresses(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	GW *gw = o;
	struct gw_address *arr = NULL;
	size_t n = 0;
	int before = ctx->nerrors;

	if (cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "at most 16 addresses");
		return -EINVAL;
	}
	cfg_parse_seq(ctx, v, address_fields, sizeof(*arr), (void **)&arr, &n, false, "address");
	gw->addresses.items = calloc(n + 1, sizeof(char *));
	if (!gw->addresses.items)
		cfg_error(ctx, v, "out of memory");
	for (size_t i = 0; gw->addresses.items && i < n; i++) {
		const char *type = arr[i].type ? arr[i].type : "IPAddress";
		yaml_node_t *item = cfg_seq_item(ctx, v, i);

		if (!strcmp(type, "IPAddress") && arr[i].value && !cfg_ip_ok(arr[i].value))
			cfg_error(ctx, item, "\"%.64s\" is not an IP address", arr[i].value);
		else if (!strcmp(type, "Hostname") && arr[i].value &&
			 !cfg_gw_hostname_ok(arr[i].value, true))
			cfg_error(ctx, item, "\"%.64s\" is not a hostname", arr[i].value);
		for (size_t j = 0; j < gw->addresses.n; j++)
			if (arr[i].value && !strcmp(gw->addresses.items[j], arr[i].value))
				cfg_error(ctx, item, "address values must be unique");
		if (arr[i].value) {
			gw->addresses.items[gw->addresses.n++] = arr[i].value;
			arr[i].value = NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(arr[i].type);
		free(arr[i].value);
	}
	free(arr);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field gw_spec_fields[] = {
    {"gatewayClassName", CFG_T_STR, gw_class, CFG_F_REQUIRED},
    {"listeners", CFG_T_SEQ, gw_listeners, CFG_F_REQUIRED},
    {"addresses", CFG_T_SEQ, gw_addresses, 0},
    {"infrastructure", CFG_T_MAP, NULL, 0},
    {"allowedListeners", CFG_T_MAP, NULL, 0},
    {"tls", CFG_T_MAP, NULL, 0},
    {"defaultScope", CFG_T_STR, NULL, 0},
    {"backendTLS", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int gw_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, gw_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_k8s_gw_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, gw_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

const char *config_gateway_service_type(const char *annot, bool waypoint)
{
	/* ExternalName has no selector to put the gateway's pods behind. */
	static const char *const types[] = {"ClusterIP", "NodePort", "LoadBalancer"};

	if (!annot)
		return waypoint ? types[0] : types[2];
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(annot, types[i]))
			return types[i];
	return NULL;
}

void config_k8s_gateway_free(struct config_k8s_gateway *gw)
{
	config_meta_free(&gw->meta);
	free(gw->class_name);
	for (size_t i = 0; i < gw->n_listeners; i++) {
		LS *l = &gw->listeners[i];

		free(l->name);
		free(l->hostname);
		free(l->protocol);
		free(l->tls_mode);
		config_labels_free(&l->allowed_selector);
		config_strings_free(&l->allowed_kinds);
		for (size_t k = 0; k < l->n_cert_refs; k++) {
			free(l->cert_refs[k].group);
			free(l->cert_refs[k].kind);
			free(l->cert_refs[k].name);
			free(l->cert_refs[k].namespace);
		}
		free(l->cert_refs);
	}
	free(gw->listeners);
	config_strings_free(&gw->addresses);
	memset(gw, 0, sizeof(*gw));
}
