// SPDX-License-Identifier: Apache-2.0
/* Kubernetes manifests from templates (kmanifest.h). */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "kmanifest.h"

char *kmanifest_render(const char *tmpl, size_t tlen,
		       const char *(*val)(void *arg, const char *key), void *arg)
{
	const char *t = tmpl, *end = tmpl + tlen;
	size_t cap = tlen * 2 + 4096, len = 0;
	char *out = malloc(cap), *grown, name[64];

	while (out && t < end) {
		const char *open = memmem(t, (size_t)(end - t), "{{", 2), *close, *v;
		size_t n = open ? (size_t)(open - t) : (size_t)(end - t);

		if (len + n + 1 > cap) {
			grown = realloc(out, cap = (len + n + 1) * 2);
			if (!grown)
				break;
			out = grown;
		}
		memcpy(out + len, t, n);
		len += n;
		if (!open) {
			out[len] = '\0';
			return out;
		}
		close = memmem(open, (size_t)(end - open), "}}", 2);
		if (!close || (size_t)(close - open - 2) >= sizeof(name)) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(close - open - 2), open + 2);
		v = val(arg, name);
		if (!v) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		if (len + strlen(v) + 1 > cap) {
			grown = realloc(out, cap = (len + strlen(v) + 1) * 2);
			if (!grown)
				break;
			out = grown;
		}
		memcpy(out + len, v, strlen(v));
		len += strlen(v);
		t = close + 2;
	}
	if (out && t >= end) {
		out[len] = '\0';
		return out;
	}
	free(out);
	errno = ENOMEM;
	return NULL;
}

/* YAML 1.2 core schema's float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool core_float(const char *s)
{
	bool digits = false;

	if (*s == '-' || *s == '+')
		s++;
	for (; isdigit((unsigned char)*s); s++)
		digits = true;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			digits = true;
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return *s == '\0';
}

static cJSON *node_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	cJSON *o = NULL;

	if (!n || depth > 64)
		return NULL;
	if (n->type == YAML_MAPPING_NODE) {
		o = cJSON_CreateObject();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     o && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			cJSON *v = node_json(doc, yaml_document_get_node(doc, p->value), depth + 1);

			if (!k || k->type != YAML_SCALAR_NODE || !v ||
			    !cJSON_AddItemToObject(o, (const char *)k->data.scalar.value, v)) {
				cJSON_Delete(v);
				cJSON_Delete(o);
				return NULL;
			}
		}
	} else if (n->type == YAML_SEQUENCE_NODE) {
		o = cJSON_CreateArray();
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     o && i < n->data.sequence.items.top; i++) {
			cJSON *v = node_json(doc, yaml_document_get_node(doc, *i), depth + 1);

			if (!v || !cJSON_AddItemToArray(o, v)) {
				cJSON_Delete(v);
				cJSON_Delete(o);
				return NULL;
			}
		}
	} else {
		const char *s = (const char *)n->data.scalar.value;
		char *e;
		long long i;

		/* Plain scalars are typed as YAML 1.2's core schema types them; quoted ones are
		 * strings. */
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return cJSON_CreateString(s);
		if (!strcmp(s, "true") || !strcmp(s, "false"))
			return cJSON_CreateBool(!strcmp(s, "true"));
		if (!strcmp(s, "null") || !strcmp(s, "~") || !*s)
			return cJSON_CreateNull();
		errno = 0;
		i = strtoll(s, &e, 10);
		if (!errno && !*e && *s != '+')
			return cJSON_CreateNumber((double)i);
		/* A float (percentage: {value: 100.0}); .inf and .nan have no JSON and stay text.
		 */
		if (core_float(s))
			return cJSON_CreateNumber(strtod(s, NULL));
		o = cJSON_CreateString(s);
	}
	return o;
}

cJSON *kmanifest_documents(const char *text, char *err, size_t len)
{
	yaml_parser_t p;
	cJSON *all = cJSON_CreateArray();

	err[0] = '\0';
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	while (all) {
		yaml_document_t doc;
		yaml_node_t *root;
		cJSON *o;

		if (!yaml_parser_load(&p, &doc)) {
			snprintf(err, len, "line %zu: %s", p.problem_mark.line + 1,
				 p.problem ? p.problem : "?");
			cJSON_Delete(all);
			all = NULL;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		o = node_json(&doc, root, 0);
		yaml_document_delete(&doc);
		if (!o || !cJSON_AddItemToArray(all, o)) {
			snprintf(err, len, "out of memory, or a document too deep");
			cJSON_Delete(o);
			cJSON_Delete(all);
			all = NULL;
		}
	}
	yaml_parser_delete(&p);
	return all;
}

cJSON *kjson_get(const cJSON *o, const char *a, const char *b)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

const char *kjson_str(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = kjson_get(o, a, b);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}
