// SPDX-License-Identifier: Apache-2.0
/* Gateway (networking.istio.io v1, v1beta1, v1alpha3; API_SEMANTICS.md §6). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode/decode.h"

#define SRV struct config_gateway_server

static int port_number(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((SRV *)o)->port = (uint32_t)n;
	return 0;
}

static int port_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_check_istio_protocol(ctx, v, &((SRV *)o)->protocol);
}

static int port_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((SRV *)o)->port_name);
}

static int port_target(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	return cfg_get_int(ctx, v, 1, 65535, &n);
}

static const struct cfg_field port_fields[] = {
    {"number", CFG_T_INT, port_number, CFG_F_REQUIRED},
    {"protocol", CFG_T_STR, port_protocol, CFG_F_REQUIRED},
    {"name", CFG_T_STR, port_name, 0},
    {"targetPort", CFG_T_INT, port_target, 0},
    {NULL, 0, NULL, 0},
};

static int srv_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, port_fields, o);
}

/* Server hosts: "[ns/]host" where ns is ".", "*" or a namespace and host may be a wildcard. */
static int srv_hosts(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	SRV *s = o;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &s->hosts))
		return -EINVAL;
	if (!s->hosts.n)
		cfg_error(ctx, v, "server config must contain at least one host");
	for (size_t i = 0; i < s->hosts.n; i++) {
		const char *h = s->hosts.items[i], *slash = strchr(h, '/');
		size_t saved = cfg_path_push_index(ctx, i);

		if (slash) {
			char ns[64];
			size_t l = (size_t)(slash - h);

			if (l >= sizeof(ns) || !l)
				cfg_error(ctx, cfg_seq_item(ctx, v, i),
					  "invalid namespace in \"%.64s\"", h);
			else {
				memcpy(ns, h, l);
				ns[l] = '\0';
				if (strcmp(ns, ".") && strcmp(ns, "*") &&
				    !cfg_name_ok(ns, CFG_NAME_LABEL))
					cfg_error(ctx, cfg_seq_item(ctx, v, i),
						  "\"%.64s\": namespace must be \".\", \"*\" or a "
						  "namespace name",
						  h);
			}
			h = slash + 1;
		}
		if (!cfg_wildcard_host_ok(h, true))
			cfg_error(ctx, cfg_seq_item(ctx, v, i), "\"%.64s\" is not a valid host", h);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int tls_mode(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const modes[] = {
	    "PASSTHROUGH",  "SIMPLE",	       "MUTUAL", "AUTO_PASSTHROUGH",
	    "ISTIO_MUTUAL", "OPTIONAL_MUTUAL", NULL};
	SRV *s = o;

	free(s->tls_mode);
	s->tls_mode = NULL;
	return cfg_check_enum(ctx, v, modes, &s->tls_mode);
}

static int tls_redirect(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((SRV *)o)->https_redirect);
}

static int tls_credential(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((SRV *)o)->credential_name);
}

static int str_list(struct cfg_ctx *ctx, yaml_node_t *v, void *o);

static int tls_version(struct cfg_ctx *ctx, yaml_node_t *v, uint16_t *out)
{
	static const char *const versions[] = {"TLS_AUTO", "TLSV1_0", "TLSV1_1",
					       "TLSV1_2",  "TLSV1_3", NULL};
	char *got = NULL;
	int err = cfg_check_enum(ctx, v, versions, &got);

	/* TLSV1_x is protocol version 0x0301 + x; TLS_AUTO leaves the proxy's defaults. */
	if (!err && got && strcmp(got, "TLS_AUTO"))
		*out = (uint16_t)(0x0301 + (got[6] - '0'));
	free(got);
	return err;
}

static int tls_min(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return tls_version(ctx, v, &((SRV *)o)->min_tls);
}

static int tls_max(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return tls_version(ctx, v, &((SRV *)o)->max_tls);
}

/*
 * Istio's ValidCipherSuites (BoringSSL's TLS 1.2 suites less PSK, by their OpenSSL names, which
 * OpenSSL shares): what tls.cipherSuites may name.
 */
static const char *const valid_ciphers[] = {"ECDHE-ECDSA-AES128-GCM-SHA256",
					    "ECDHE-RSA-AES128-GCM-SHA256",
					    "ECDHE-ECDSA-AES256-GCM-SHA384",
					    "ECDHE-RSA-AES256-GCM-SHA384",
					    "ECDHE-ECDSA-CHACHA20-POLY1305",
					    "ECDHE-RSA-CHACHA20-POLY1305",
					    "ECDHE-ECDSA-AES128-SHA",
					    "ECDHE-RSA-AES128-SHA",
					    "ECDHE-ECDSA-AES256-SHA",
					    "ECDHE-RSA-AES256-SHA",
					    "AES128-GCM-SHA256",
					    "AES256-GCM-SHA384",
					    "AES128-SHA",
					    "AES256-SHA",
					    "DES-CBC3-SHA",
					    NULL};

/*
 * Istio's IsValidCipherSuite: a known name, "ALL", or an expression (a first character that
 * is neither letter nor digit: "!X", "-X", "[A|B]") passed on unparsed.
 */
static bool cipher_valid(const char *cs)
{
	if (!*cs || !strcmp(cs, "ALL") || !isalnum((unsigned char)cs[0]))
		return true;
	for (size_t i = 0; valid_ciphers[i]; i++)
		if (!strcmp(cs, valid_ciphers[i]))
			return true;
	return false;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "[a b]" as Go prints Istio's sorted list, into @out (truncated to @len). */
static void go_list(char **items, size_t n, char *out, size_t len)
{
	size_t o = 0;

	qsort(items, n, sizeof(*items), str_cmp);
	o += (size_t)snprintf(out, len, "[");
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%.80s", i ? " " : "", items[i]);
	if (o < len)
		snprintf(out + o, len - o, "]");
}

/*
 * tls.cipherSuites as Istio's validation and FilterCipherSuites take them: names it does not
 * know, and repeats, are warned about and dropped; the rest are kept in order ("" too, as
 * Istio keeps it: the proxy leaves empty names out, none but empty ones meaning its default).
 */
static int tls_ciphers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_strings *out = &((SRV *)o)->cipher_suites, all = {0}, bad = {0}, dup = {0};
	char list[512];
	int err = cfg_get_strings(ctx, v, 0, &all);

	config_strings_free(out);
	for (size_t i = 0; !err && i < all.n; i++) {
		const char *cs = all.items[i];

		if (!cipher_valid(cs))
			err = config_strings_add(&bad, cs);
		else if (config_strings_has(out, cs))
			err = config_strings_add(&dup, cs);
		else
			err = config_strings_add(out, cs);
	}
	if (err == -ENOMEM)
		cfg_error(ctx, v, "out of memory");
	if (!err && bad.n) {
		go_list(bad.items, bad.n, list, sizeof(list));
		cfg_diag(ctx, v, false, "ignoring invalid cipher suites: %s", list);
	}
	if (!err && dup.n) {
		go_list(dup.items, dup.n, list, sizeof(list));
		cfg_diag(ctx, v, false, "ignoring duplicate cipher suites: %s", list);
	}
	config_strings_free(&all);
	config_strings_free(&bad);
	config_strings_free(&dup);
	return err;
}

static int str_list(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_strings tmp = {0};
	int err = cfg_get_strings(ctx, v, 0, &tmp);

	config_strings_free(&tmp);
	return err;
}

static const struct cfg_field tls_fields[] = {
    {"httpsRedirect", CFG_T_BOOL, tls_redirect, 0},
    {"mode", CFG_T_STR, tls_mode, 0},
    {"serverCertificate", CFG_T_STR, NULL, 0},
    {"privateKey", CFG_T_STR, NULL, 0},
    {"caCertificates", CFG_T_STR, NULL, 0},
    {"caCrl", CFG_T_STR, NULL, 0},
    {"credentialName", CFG_T_STR, tls_credential, 0},
    {"credentialNames", CFG_T_SEQ, str_list, 0},
    {"tlsCertificates", CFG_T_SEQ, NULL, 0},
    {"subjectAltNames", CFG_T_SEQ, str_list, 0},
    {"verifyCertificateSpki", CFG_T_SEQ, str_list, 0},
    {"verifyCertificateHash", CFG_T_SEQ, str_list, 0},
    {"minProtocolVersion", CFG_T_STR, tls_min, 0},
    {"maxProtocolVersion", CFG_T_STR, tls_max, 0},
    {"cipherSuites", CFG_T_SEQ, tls_ciphers, 0},
    {NULL, 0, NULL, 0},
};

static int srv_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	SRV *s = o;
	int err = cfg_walk_map(ctx, v, tls_fields, s);

	if (!err && !s->tls_mode && !(s->tls_mode = strdup("SIMPLE")))
		return -ENOMEM; /* the API's default mode */
	if (!err && (cfg_map_get(ctx, v, "credentialName") ? 1 : 0) +
			    (cfg_map_get(ctx, v, "credentialNames") ? 1 : 0) +
			    (cfg_map_get(ctx, v, "serverCertificate") ? 1 : 0) +
			    (cfg_map_get(ctx, v, "tlsCertificates") ? 1 : 0) >
			1) {
		cfg_error(ctx, v,
			  "only one of credentialName, credentialNames, serverCertificate "
			  "or tlsCertificates can be set");
		err = -EINVAL;
	}
	/* Istio's validation: the mesh's certificates, none of the server's own. */
	if (!err && !strcmp(s->tls_mode, "ISTIO_MUTUAL") &&
	    (cfg_map_get(ctx, v, "credentialName") || cfg_map_get(ctx, v, "credentialNames") ||
	     cfg_map_get(ctx, v, "serverCertificate") || cfg_map_get(ctx, v, "privateKey") ||
	     cfg_map_get(ctx, v, "caCertificates") || cfg_map_get(ctx, v, "tlsCertificates"))) {
		cfg_error(ctx, v,
			  "ISTIO_MUTUAL uses the mesh certificates: credentialName, "
			  "serverCertificate, privateKey and caCertificates cannot be set");
		err = -EINVAL;
	}
	if (!err && s->min_tls && s->max_tls && s->min_tls > s->max_tls) {
		cfg_error(ctx, v, "minProtocolVersion is above maxProtocolVersion");
		err = -EINVAL;
	}
	return err;
}

static int srv_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((SRV *)o)->name);
}

static const struct cfg_field server_fields[] = {
    {"port", CFG_T_MAP, srv_port, CFG_F_REQUIRED},
    {"bind", CFG_T_STR, NULL, 0},
    {"hosts", CFG_T_SEQ, srv_hosts, CFG_F_REQUIRED},
    {"tls", CFG_T_MAP, srv_tls, 0},
    {"defaultEndpoint", CFG_T_STR, NULL, 0},
    {"name", CFG_T_STR, srv_name, 0},
    {NULL, 0, NULL, 0},
};

static int gw_servers(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_gateway *gw = obj;
	int before = ctx->nerrors;

	if (cfg_parse_seq(ctx, v, server_fields, sizeof(*gw->servers), (void **)&gw->servers,
			  &gw->n_servers, true, "servers"))
		return -EINVAL;
	for (size_t i = 0; i < gw->n_servers; i++) {
		SRV *s = &gw->servers[i];
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		const char *p = s->protocol ? s->protocol : "";
		bool tls_proto = !strcasecmp(p, "HTTPS") || !strcasecmp(p, "TLS");
		bool http_proto = !strcasecmp(p, "HTTP") || !strcasecmp(p, "HTTP2") ||
				  !strcasecmp(p, "GRPC") || !strcasecmp(p, "GRPC-WEB");
		size_t saved = cfg_path_push_index(ctx, i);

		s->line = (int)item->start_mark.line + 1;
		if (tls_proto && !s->tls_mode)
			cfg_error(ctx, item,
				  "server config must contain tls settings for HTTPS/TLS "
				  "servers");
		else if (http_proto && s->tls_mode && !s->https_redirect)
			cfg_error(ctx, item, "a plaintext %s server can only set tls.httpsRedirect",
				  p);
		else if (!tls_proto && !http_proto && s->tls_mode)
			cfg_error(ctx, item, "a %s server cannot have tls settings", p);
		for (size_t j = 0; j < i; j++)
			if (s->port_name && gw->servers[j].port_name &&
			    !strcmp(s->port_name, gw->servers[j].port_name))
				cfg_error(ctx, item,
					  "port names in servers must be unique: "
					  "duplicate name \"%.64s\"",
					  s->port_name);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int gw_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_selector_labels(ctx, v, &((struct config_gateway *)obj)->selector);
}

static const struct cfg_field gw_spec_fields[] = {
    {"servers", CFG_T_SEQ, gw_servers, CFG_F_REQUIRED},
    {"selector", CFG_T_MAP, gw_selector, 0},
    {NULL, 0, NULL, 0},
};

static int gw_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, gw_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_gw_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, gw_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};
