// SPDX-License-Identifier: Apache-2.0
/*
 * CustomResourceDefinitions for the Istio kinds ambit implements and its own (LocalRateLimit,
 * networking.ambit.io) for `ambitctl install crds`, generated from the field tables the loader
 * validates with, so the API server keeps every field
 * ambit reads (a structural schema prunes what it does not declare) and refuses the types ambit
 * would refuse.
 *
 * The tables say a field's name, type and whether it is required, but which table a nested
 * mapping is walked with lives in its parse function. So the nesting is found by parsing: a probe
 * document (`spec: {"80": {}}`) is loaded with a recorder in the context (cfg_probe), which notes
 * the table every mapping was walked with and the first "expected ..." error at each path; each
 * round extends the document one level under every table found (a mapping for each mapping
 * field, a one-item sequence for each sequence field, "80" for a key no table knows) until a round
 * finds nothing new. A mapping walked with no table is a map of free keys, its values what the
 * error at `."80"` (or at the mapping) expected; a sequence's items are what `[0]` was walked with,
 * or expected; a field of any type (a percentage) is what its parser expected of `{}`.
 * Whatever stays unknown is kept whole (x-kubernetes-preserve-unknown-fields), never pruned.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define PROBE_ROUNDS 24
#define PROBE_KEY "80" /* a label, a header name, a port number */

static const struct cfg_field *table_at(const struct cfg_probe *p, const char *path)
{
	const struct cfg_probe_rec *r = cfg_probe_rec_at(p, path);

	return r ? r->fields : NULL;
}

static bool child_path(char *out, size_t len, const char *path, const char *seg)
{
	int n = seg[0] == '[' || !path[0] ? snprintf(out, len, "%s%s", path, seg)
					  : snprintf(out, len, "%s.%s", path, seg);

	return n > 0 && (size_t)n < len;
}

/* ---- the probe document ---- */

static cJSON *probe_map(const struct cfg_probe *p, const char *path, int depth);

static cJSON *probe_value(const struct cfg_probe *p, const char *path, enum cfg_type type,
			  int depth)
{
	char item[512];
	cJSON *seq;

	if (type == CFG_T_MAP)
		return probe_map(p, path, depth);
	seq = cJSON_CreateArray();
	if (seq && child_path(item, sizeof(item), path, "[0]"))
		cJSON_AddItemToArray(seq, probe_map(p, item, depth));
	return seq;
}

/* A mapping at @path: every nested field of its table, else one free key. */
static cJSON *probe_map(const struct cfg_probe *p, const char *path, int depth)
{
	const struct cfg_field *t = table_at(p, path);
	cJSON *o = cJSON_CreateObject();
	char sub[512];

	if (!o || depth > PROBE_ROUNDS)
		return o;
	if (!t) {
		if (child_path(sub, sizeof(sub), path, PROBE_KEY))
			cJSON_AddItemToObject(o, PROBE_KEY,
					      table_at(p, sub) ? probe_map(p, sub, depth + 1)
							       : cJSON_CreateObject());
		return o;
	}
	for (const struct cfg_field *f = t; f->name; f++) {
		if (!f->parse || !child_path(sub, sizeof(sub), path, f->name))
			continue;
		if (f->type == CFG_T_MAP || f->type == CFG_T_SEQ)
			cJSON_AddItemToObject(o, f->name, probe_value(p, sub, f->type, depth + 1));
		else if (f->type == CFG_T_ANY) /* its parser says what it expected instead */
			cJSON_AddItemToObject(o, f->name, cJSON_CreateObject());
	}
	return o;
}

static int probe_kind(struct cfg_probe *p, const struct cfg_kind *kd)
{
	for (int round = 0; round < PROBE_ROUNDS; round++) {
		cJSON *doc = cJSON_CreateObject(), *meta;
		char *text;

		if (!doc)
			return -ENOMEM;
		cJSON_AddStringToObject(doc, "apiVersion", kd->api_versions[0]);
		cJSON_AddStringToObject(doc, "kind", kd->kind);
		meta = cJSON_AddObjectToObject(doc, "metadata");
		cJSON_AddStringToObject(meta, "name", "probe");
		cJSON_AddStringToObject(meta, "namespace", "probe");
		cJSON_AddItemToObject(doc, "spec", probe_map(p, "spec", 0));
		text = cJSON_PrintUnformatted(doc);
		cJSON_Delete(doc);
		if (!text)
			return -ENOMEM;
		p->grew = false;
		cfg_probe_load(text, strlen(text), p); /* errors expected: they are the findings */
		free(text);
		if (p->oom)
			return -ENOMEM;
		if (!p->grew)
			return 0;
	}
	return 0;
}

/* ---- the schema ---- */

static cJSON *keep_whole(bool object)
{
	cJSON *s = cJSON_CreateObject();

	if (object)
		cJSON_AddStringToObject(s, "type", "object");
	cJSON_AddBoolToObject(s, "x-kubernetes-preserve-unknown-fields", 1);
	return s;
}

static cJSON *scalar_schema(enum cfg_type type)
{
	cJSON *s = cJSON_CreateObject();

	switch (type) {
	case CFG_T_STR: cJSON_AddStringToObject(s, "type", "string"); break;
	case CFG_T_INT: cJSON_AddStringToObject(s, "type", "integer"); break;
	case CFG_T_BOOL: cJSON_AddStringToObject(s, "type", "boolean"); break;
	case CFG_T_INT_OR_STR: cJSON_AddBoolToObject(s, "x-kubernetes-int-or-string", 1); break;
	default: cJSON_AddBoolToObject(s, "x-kubernetes-preserve-unknown-fields", 1); break;
	}
	return s;
}

static cJSON *table_schema(const struct cfg_probe *p, const char *path, const struct cfg_field *t);

/* The type an "expected ..." names, as a schema; NULL for none of these. */
static cJSON *said_schema(const char *expected)
{
	static const struct {
		const char *said, *type; /* type NULL: int-or-string */
	} said[] = {
	    {"an integer or a string", NULL}, {"a string", "string"}, {"an integer", "integer"},
	    {"a boolean", "boolean"},	      {"a number", "number"},
	};

	for (size_t i = 0; expected && i < sizeof(said) / sizeof(said[0]); i++) {
		size_t n = strlen(said[i].said);
		cJSON *s;

		if (strncmp(expected, said[i].said, n) != 0 || (expected[n] && expected[n] != ','))
			continue;
		s = cJSON_CreateObject();
		if (said[i].type)
			cJSON_AddStringToObject(s, "type", said[i].type);
		else
			cJSON_AddBoolToObject(s, "x-kubernetes-int-or-string", 1);
		return s;
	}
	return NULL;
}

/*
 * What was walked or expected at @path (an item, a free key's value), else what the mapping
 * holding it (@outer, may be NULL) said of its values; kept whole if nothing.
 */
static cJSON *found_schema(const struct cfg_probe *p, const char *path, const char *outer)
{
	const struct cfg_probe_rec *r = cfg_probe_rec_at(p, path),
				   *o = outer ? cfg_probe_rec_at(p, outer) : NULL;
	cJSON *s;

	if (r && r->fields)
		return table_schema(p, path, r->fields);
	s = said_schema(r ? r->expected : NULL);
	if (!s)
		s = said_schema(o ? o->expected : NULL);
	return s ? s : keep_whole(false);
}

static cJSON *field_schema(const struct cfg_probe *p, const char *path, const struct cfg_field *f)
{
	char sub[512];
	cJSON *s;

	if (f->type == CFG_T_SEQ) {
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", "array");
		cJSON_AddItemToObject(s, "items",
				      f->parse && child_path(sub, sizeof(sub), path, "[0]")
					  ? found_schema(p, sub, NULL)
					  : keep_whole(false));
		return s;
	}
	if (f->type == CFG_T_ANY && f->parse) {
		/* A number (a percentage) or another one type: what its parser expected of `{}`. */
		const struct cfg_probe_rec *r = cfg_probe_rec_at(p, path);
		cJSON *said = said_schema(r ? r->expected : NULL);

		if (said)
			return said;
	}
	if (f->type != CFG_T_MAP)
		return scalar_schema(f->type);
	if (!f->parse)
		return keep_whole(true); /* status: not ambit's to check */
	if (table_at(p, path))
		return table_schema(p, path, table_at(p, path));
	/* Free keys (labels, headers): their values as `.zz` showed them. */
	s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "object");
	cJSON_AddItemToObject(s, "additionalProperties",
			      child_path(sub, sizeof(sub), path, PROBE_KEY)
				  ? found_schema(p, sub, path)
				  : keep_whole(false));
	return s;
}

static cJSON *table_schema(const struct cfg_probe *p, const char *path, const struct cfg_field *t)
{
	cJSON *s = cJSON_CreateObject(), *props, *req = cJSON_CreateArray();
	char sub[512];

	cJSON_AddStringToObject(s, "type", "object");
	props = cJSON_AddObjectToObject(s, "properties");
	for (const struct cfg_field *f = t; f->name; f++) {
		/* At the root: apiVersion, kind and metadata are the API server's own. */
		if (!path[0] && (strcmp(f->name, "apiVersion") == 0 ||
				 strcmp(f->name, "kind") == 0 || strcmp(f->name, "metadata") == 0))
			continue;
		if (!child_path(sub, sizeof(sub), path, f->name))
			continue;
		cJSON_AddItemToObject(props, f->name, field_schema(p, sub, f));
		if (f->flags & CFG_F_REQUIRED)
			cJSON_AddItemToArray(req, cJSON_CreateString(f->name));
	}
	if (cJSON_GetArraySize(req))
		cJSON_AddItemToObject(s, "required", req);
	else
		cJSON_Delete(req);
	return s;
}

/* ---- the CRDs ---- */

static void lower(char *out, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

/* The resource name Kubernetes' conventions give a kind: policy -> policies, rule -> rules. */
static void plural_of(char *out, size_t len, const char *kind)
{
	size_t n;

	lower(out, len, kind);
	n = strlen(out);
	if (n > 1 && out[n - 1] == 'y' && !strchr("aeiou", out[n - 2]))
		snprintf(out + n - 1, len - (n - 1), "ies");
	else if (n && out[n - 1] == 's')
		snprintf(out + n, len - n, "es");
	else
		snprintf(out + n, len - n, "s");
}

/*
 * The short name Istio's own CRD gives @kind (its crd-all.gen.yaml), or NULL: `kubectl get vs`
 * works on a cluster whose CRDs are these.
 */
static const char *short_name(const char *kind)
{
	static const char *const names[][2] = {
	    {"VirtualService", "vs"},
	    {"DestinationRule", "dr"},
	    {"Gateway", "gw"},
	    {"ServiceEntry", "se"},
	    {"AuthorizationPolicy", "ap"},
	    {"PeerAuthentication", "pa"},
	    {"RequestAuthentication", "ra"},
	    {"Telemetry", "telemetry"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(kind, names[i][0]))
			return names[i][1];
	return NULL;
}

static cJSON *crd_of(const struct cfg_kind *kd, cJSON *root_schema)
{
	char group[128], plural[96], singular[96], name[256], list_kind[96];
	cJSON *crd = cJSON_CreateObject(), *meta, *spec, *names, *versions;

	config_api_group(kd->api_versions[0], group, sizeof(group));
	plural_of(plural, sizeof(plural), kd->kind);
	lower(singular, sizeof(singular), kd->kind);
	snprintf(name, sizeof(name), "%s.%s", plural, group);
	snprintf(list_kind, sizeof(list_kind), "%sList", kd->kind);
	cJSON_AddStringToObject(crd, "apiVersion", "apiextensions.k8s.io/v1");
	cJSON_AddStringToObject(crd, "kind", "CustomResourceDefinition");
	meta = cJSON_AddObjectToObject(crd, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "labels"),
				"app.kubernetes.io/part-of", "ambit");
	spec = cJSON_AddObjectToObject(crd, "spec");
	cJSON_AddStringToObject(spec, "group", group);
	names = cJSON_AddObjectToObject(spec, "names");
	cJSON_AddStringToObject(names, "kind", kd->kind);
	cJSON_AddStringToObject(names, "listKind", list_kind);
	cJSON_AddStringToObject(names, "plural", plural);
	cJSON_AddStringToObject(names, "singular", singular);
	if (short_name(kd->kind))
		cJSON_AddItemToArray(cJSON_AddArrayToObject(names, "shortNames"),
				     cJSON_CreateString(short_name(kd->kind)));
	cJSON_AddStringToObject(spec, "scope", kd->namespaced ? "Namespaced" : "Cluster");
	versions = cJSON_AddArrayToObject(spec, "versions");
	for (size_t i = 0; kd->api_versions[i]; i++) {
		const char *v = strchr(kd->api_versions[i], '/');
		cJSON *ver = cJSON_CreateObject();

		cJSON_AddStringToObject(ver, "name", v ? v + 1 : kd->api_versions[i]);
		cJSON_AddBoolToObject(ver, "served", 1);
		cJSON_AddBoolToObject(ver, "storage", i == 0);
		cJSON_AddItemToObject(cJSON_AddObjectToObject(ver, "schema"), "openAPIV3Schema",
				      cJSON_Duplicate(root_schema, 1));
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(ver, "subresources"), "status");
		cJSON_AddItemToArray(versions, ver);
	}
	return crd;
}

static void probe_free(struct cfg_probe *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->r[i].path);
		free(p->r[i].expected);
	}
	free(p->r);
	memset(p, 0, sizeof(*p));
}

char *config_crds_json(void)
{
	cJSON *list = cJSON_CreateObject(), *items;
	size_t n;
	const struct cfg_kind *kinds = cfg_kinds(&n);
	char *out = NULL;

	if (!list)
		return NULL;
	cJSON_AddStringToObject(list, "apiVersion", "v1");
	cJSON_AddStringToObject(list, "kind", "List");
	items = cJSON_AddArrayToObject(list, "items");
	for (size_t i = 0; i < n; i++) {
		char group[128];
		struct cfg_probe p = {0};
		cJSON *schema;
		size_t gl;

		if (!kinds[i].append)
			continue; /* refused: no CRD invites objects that are never kept */
		config_api_group(kinds[i].api_versions[0], group, sizeof(group));
		gl = strlen(group);
		if ((gl < 9 || strcmp(group + gl - 9, ".istio.io") != 0) &&
		    strcmp(group, CONFIG_AMBIT_NET_GROUP) != 0)
			continue; /* Kubernetes' own kinds, and the Gateway API's upstream CRDs */
		if (probe_kind(&p, &kinds[i])) {
			probe_free(&p);
			goto out;
		}
		schema = table_schema(&p, "", kinds[i].fields);
		cJSON_AddItemToArray(items, crd_of(&kinds[i], schema));
		cJSON_Delete(schema);
		probe_free(&p);
	}
	out = cJSON_Print(list);
out:
	cJSON_Delete(list);
	return out;
}
