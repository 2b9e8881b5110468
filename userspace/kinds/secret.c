// SPDX-License-Identifier: Apache-2.0
/*
 * Secret (v1): what a gateway's `credentialName` names (API_SEMANTICS.md §6). `data` is base64
 * as the API server has it, `stringData` plain; both end up as one decoded map. A Secret that
 * carries a server certificate (`tls.crt` and `tls.key`, or Istio's generic `cert` and `key`)
 * must hold a certificate and the key that belongs to it, and a CA bundle (`ca.crt` or
 * `cacert`) certificates, or it is refused: a gateway never gets a credential it cannot load,
 * and the last good one keeps serving.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "tls/crypto.h"
#include "tls/tls.h"

/* Kubernetes' limit on a Secret's data (1 MiB) and the rule for its keys. */
#define SECRET_MAX (1u << 20)

static bool secret_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (!n || n > 253 || !strcmp(k, ".") || !strcmp(k, ".."))
		return false;
	return strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == n;
}

static int add_item(struct config_secret *s, const char *key, char *value, size_t len)
{
	struct config_secret_item *it;

	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->items[i].key, key)) { /* stringData wins over data, as the API's */
			free(s->items[i].value);
			s->items[i].value = value;
			s->items[i].len = len;
			return 0;
		}
	it = realloc(s->items, (s->n + 1) * sizeof(*it));
	if (!it)
		return -ENOMEM;
	s->items = it;
	it = &s->items[s->n];
	*it = (struct config_secret_item){strdup(key), value, len};
	if (!it->key)
		return -ENOMEM;
	s->n++;
	return 0;
}

static int walk_data(struct cfg_ctx *ctx, yaml_node_t *map, struct config_secret *s, bool b64)
{
	int before = ctx->nerrors;

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *v = cfg_node(ctx, p->value);
		const char *key = (const char *)k->data.scalar.value;
		char *text = NULL, *value = NULL;
		int len;

		if (!secret_key_ok(key)) {
			cfg_error(ctx, k,
				  "invalid key \"%.64s\": want alphanumerics, '-', '_' or '.'",
				  key);
			continue;
		}
		if (cfg_is_null(v))
			text = strdup("");
		else if (cfg_get_str(ctx, v, &text))
			continue;
		if (!text) {
			cfg_error(ctx, v, "out of memory");
			continue;
		}
		if (b64) {
			len = *text ? crypto_base64_decode(text, &value) : 0;
			if (!*text)
				value = strdup("");
			if (len < 0)
				cfg_error(ctx, v, "%s: %s", key,
					  len == -EINVAL ? "not base64" : "out of memory");
		} else {
			value = text;
			text = NULL;
			len = (int)strlen(value);
		}
		free(text);
		if (len >= 0 && (!value || add_item(s, key, value, (size_t)len)))
			cfg_error(ctx, v, "out of memory");
		else if (len < 0)
			free(value);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int secret_data(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return walk_data(ctx, v, ((struct cfg_obj *)obj)->obj, true);
}

static int secret_string_data(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return 0; /* after data, in the finish hook: stringData overrides */
}

static int secret_type(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_secret *s = ((struct cfg_obj *)obj)->obj;

	free(s->type);
	s->type = NULL;
	return cfg_get_str(ctx, v, &s->type);
}

const struct cfg_field cfg_secret_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"type", CFG_T_STR, secret_type, 0},
    {"data", CFG_T_MAP, secret_data, 0},
    {"stringData", CFG_T_MAP, secret_string_data, 0},
    {"immutable", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

const struct config_secret_item *config_secret_get(const struct config_secret *s, const char *key)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (!strcmp(s->items[i].key, key))
			return &s->items[i];
	return NULL;
}

/* The item @a, else @b, of @s; NULL when neither. */
static const struct config_secret_item *either(const struct config_secret *s, const char *a,
					       const char *b)
{
	const struct config_secret_item *it = config_secret_get(s, a);

	return it ? it : config_secret_get(s, b);
}

int cfg_secret_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	struct config_secret *s = o->obj;
	yaml_node_t *sd = cfg_map_get(ctx, root, "stringData");
	const struct config_secret_item *crt, *key, *ca;
	size_t total = 0;
	char why[128];

	if (sd && walk_data(ctx, sd, s, false))
		return -EINVAL;
	if (!s->type && !(s->type = strdup("Opaque")))
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		total += strlen(s->items[i].key) + s->items[i].len;
	if (total > SECRET_MAX) {
		cfg_error(ctx, root, "data: %zu bytes, over a Secret's 1 MiB", total);
		return -EINVAL;
	}
	crt = either(s, CONFIG_SECRET_TLS_CRT, "cert");
	key = either(s, CONFIG_SECRET_TLS_KEY, "key");
	ca = either(s, CONFIG_SECRET_CA_CRT, "cacert");
	if (!strcmp(s->type, "kubernetes.io/tls") &&
	    (!config_secret_get(s, CONFIG_SECRET_TLS_CRT) ||
	     !config_secret_get(s, CONFIG_SECRET_TLS_KEY))) {
		cfg_error(ctx, root, "data: a kubernetes.io/tls Secret needs tls.crt and tls.key");
		return -EINVAL;
	}
	/* A credential is only as good as what loads: say which key and why. */
	if (crt && key && tls_check_pair(crt->value, key->value, why, sizeof(why))) {
		cfg_error(ctx, root, "data: %s and %s: %s", crt->key, key->key, why);
		return -EINVAL;
	}
	if ((crt != NULL) != (key != NULL)) {
		cfg_error(ctx, root, "data: %s without %s", crt ? crt->key : key->key,
			  crt ? "a private key (tls.key or key)"
			      : "a certificate (tls.crt or cert)");
		return -EINVAL;
	}
	if (ca && ca->len && !tls_count_certs(ca->value)) {
		cfg_error(ctx, root, "data: %s: no PEM certificate", ca->key);
		return -EINVAL;
	}
	return 0;
}

void config_secret_free(struct config_secret *s)
{
	config_meta_free(&s->meta);
	free(s->type);
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].key);
		if (s->items[i].value)
			memset(s->items[i].value, 0, s->items[i].len); /* key material */
		free(s->items[i].value);
	}
	free(s->items);
	memset(s, 0, sizeof(*s));
}

const struct config_secret *config_secret_of(const struct config *c, const char *ns,
					     const char *name)
{
	for (size_t i = 0; c && i < c->n_secrets; i++)
		if (!strcmp(c->secrets[i].meta.namespace, ns) &&
		    !strcmp(c->secrets[i].meta.name, name))
			return &c->secrets[i];
	return NULL;
}
