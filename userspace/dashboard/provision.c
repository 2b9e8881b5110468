// SPDX-License-Identifier: Apache-2.0
/*
 * The Grafana dashboards a cluster provisions, found in its objects where Grafana would find them
 * (no I/O: the objects come from the store). Two ways are in use:
 *  - Grafana's file provisioning, as Istio's addon (samples/addons/grafana.yaml) and Grafana's
 *    Helm chart write it: a Deployment runs Grafana's image and mounts, from ConfigMaps, a
 *    dashboards provider file (a *.yaml file of <provisioning>/dashboards: providers, a folder and
 *    an options.path) and, at or below a provider's path, the dashboards, a *.json file each.
 *  - The sidecar of Grafana's chart (kube-prometheus-stack's way): every ConfigMap labelled
 *    grafana_dashboard holds dashboards, a *.json key each, in the folder its grafana_folder
 *    annotation names.
 * What a user applied is untrusted: the store bounds the objects (the config loader's limits,
 * aliases expanded); a provider file inside a ConfigMap is bounded here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "dashboard.h"
#include "k8s/kmanifest.h"
#include "local/objstore.h"

/* Grafana's default provisioning directory (GF_PATHS_PROVISIONING). */
#define GF_PROVISIONING "/etc/grafana/provisioning"
/* A providers file is a few lines; a bound keeps libyaml's anchor look-ups cheap. */
#define PROVIDERS_MAX_TEXT (64u << 10)
#define PROVIDERS_MAX 256
#define PATH_MAX_LEN 1024

/* An object of the store as JSON (kmanifest_documents). */
struct obj {
	const struct store_obj *o;
	cJSON *doc;
};

struct objs {
	struct obj *cms, *deps;
	size_t ncms, ndeps;
};

/* A file a configMap volume puts in Grafana's container. */
struct mfile {
	char *path; /* absolute, normalised */
	const struct obj *cm;
	const char *key;   /* the data key (borrowed from cm->doc) */
	const char *value; /* its value, or NULL when not a string */
};

struct mfiles {
	struct mfile *v;
	size_t n, cap;
};

struct provider {
	char *folder; /* NULL or "": General */
	char *path;   /* options.path, normalised */
	bool from_files;
};

struct providers {
	struct provider *v;
	size_t n;
};

static bool ends_with(const char *s, const char *tail)
{
	size_t n = s ? strlen(s) : 0, t = strlen(tail);

	return n > t && !strcmp(s + n - t, tail);
}

/*
 * Whether @image is Grafana's: grafana/grafana (or its -oss and -enterprise names), from any
 * registry, with any tag or digest.
 */
static bool grafana_image(const char *image)
{
	static const char *const repos[] = {"grafana/grafana", "grafana/grafana-oss",
					    "grafana/grafana-enterprise"};
	char name[512];
	size_t n = strcspn(image, "@");
	char *colon;

	if (n >= sizeof(name))
		return false;
	memcpy(name, image, n);
	name[n] = '\0';
	colon = strchr(strrchr(name, '/') ?: name, ':');
	if (colon)
		*colon = '\0';
	n = strlen(name);
	for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
		size_t r = strlen(repos[i]);

		if (!strcmp(name, repos[i]) ||
		    (n > r && name[n - r - 1] == '/' && !strcmp(name + n - r, repos[i])))
			return true;
	}
	return false;
}

/*
 * @a, then @b (NULL: none) joined by '/', as an absolute path without empty or "." segments
 * or a trailing slash, into @out; false when too long, relative or climbing ("..").
 */
static bool path_norm(const char *a, const char *b, char *out, size_t len)
{
	char in[PATH_MAX_LEN * 2 + 2];
	size_t o = 0;

	if (!a || a[0] != '/' ||
	    (size_t)snprintf(in, sizeof(in), "%s/%s", a, b ? b : "") >= sizeof(in))
		return false;
	for (const char *p = in; *p;) {
		size_t seg;

		while (*p == '/')
			p++;
		seg = strcspn(p, "/");
		if (!seg)
			break;
		if (seg == 2 && !strncmp(p, "..", 2))
			return false;
		if (!(seg == 1 && *p == '.')) {
			if (o + 1 + seg >= len)
				return false;
			out[o++] = '/';
			memcpy(out + o, p, seg);
			o += seg;
		}
		p += seg;
	}
	if (!o)
		out[o++] = '/';
	out[o] = '\0';
	return true;
}

/* @path is @dir or below it. */
static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, n) && (!path[n] || path[n] == '/');
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const struct obj *find_cm(const struct objs *x, const char *ns, const char *name)
{
	for (size_t i = 0; name && i < x->ncms; i++)
		if (!strcmp(x->cms[i].o->namespace ?: "", ns) && !strcmp(x->cms[i].o->name, name))
			return &x->cms[i];
	return NULL;
}

/* The ConfigMaps and Deployments of @objs, as JSON. 0 or -ENOMEM. */
static int objs_parse(const struct store_objs *objs, struct objs *x)
{
	memset(x, 0, sizeof(*x));
	x->cms = calloc(objs->n + 1, sizeof(*x->cms));
	x->deps = calloc(objs->n + 1, sizeof(*x->deps));
	if (!x->cms || !x->deps)
		return -ENOMEM;
	for (size_t i = 0; i < objs->n; i++) {
		const struct store_obj *o = &objs->items[i];
		bool cm = !*o->group && !strcmp(o->kind, "ConfigMap");
		bool dep = !strcmp(o->group, "apps") && !strcmp(o->kind, "Deployment");
		char err[256];
		cJSON *all, *doc;

		if ((!cm && !dep) || !o->yaml || !o->name)
			continue;
		all = kmanifest_documents(o->yaml, err, sizeof(err));
		doc = all ? cJSON_DetachItemFromArray(all, 0) : NULL;
		cJSON_Delete(all);
		/* The store wrote it: what does not read back is not there (or no memory). */
		if (!cJSON_IsObject(doc)) {
			cJSON_Delete(doc);
			continue;
		}
		if (cm)
			x->cms[x->ncms++] = (struct obj){o, doc};
		else
			x->deps[x->ndeps++] = (struct obj){o, doc};
	}
	return 0;
}

static void objs_free(struct objs *x)
{
	for (size_t i = 0; i < x->ncms; i++)
		cJSON_Delete(x->cms[i].doc);
	for (size_t i = 0; i < x->ndeps; i++)
		cJSON_Delete(x->deps[i].doc);
	free(x->cms);
	free(x->deps);
}

static void mfiles_free(struct mfiles *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].path);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static int mfile_add(struct mfiles *f, const char *path, const struct obj *cm, const char *key,
		     const cJSON *value)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct mfile *v = realloc(f->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n].path = strdup(path);
	if (!f->v[f->n].path)
		return -ENOMEM;
	f->v[f->n].cm = cm;
	f->v[f->n].key = key;
	f->v[f->n].value = cJSON_GetStringValue(value);
	f->n++;
	return 0;
}

/*
 * One file of a configMap volume, at @rel in the volume, as mount @mount (mountPath, subPath)
 * shows it: at mountPath/rel, or with a subPath at mountPath when rel is the subPath or below
 * it when rel is inside.
 */
static int volume_file(struct mfiles *f, const cJSON *mount, const struct obj *cm, const char *rel,
		       const char *key)
{
	const char *at = str_of(mount, "mountPath"), *sub = str_of(mount, "subPath");
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cm->doc, "data"), key);
	char sub_n[PATH_MAX_LEN], rel_n[PATH_MAX_LEN], path[PATH_MAX_LEN];

	if (!value || !path_norm("/", rel, rel_n, sizeof(rel_n)))
		return 0;
	if (sub && *sub) {
		if (!path_norm("/", sub, sub_n, sizeof(sub_n)) || !under(rel_n, sub_n))
			return 0;
		if (!path_norm(at, rel_n + strlen(sub_n), path, sizeof(path)))
			return 0;
	} else if (!path_norm(at, rel_n, path, sizeof(path))) {
		return 0;
	}
	return mfile_add(f, path, cm, key, value);
}

/* The files the configMap volumes mounted in @ctr put in it (the pod spec @spec's volumes). */
static int mounted_files(const struct objs *x, const char *ns, const cJSON *spec, const cJSON *ctr,
			 struct mfiles *f)
{
	const cJSON *mount;

	cJSON_ArrayForEach(mount, cJSON_GetObjectItemCaseSensitive(ctr, "volumeMounts"))
	{
		const char *vname = str_of(mount, "name");
		const cJSON *vol, *cmv = NULL, *item, *data;
		const struct obj *cm;
		int ret = 0;

		cJSON_ArrayForEach(vol, cJSON_GetObjectItemCaseSensitive(spec, "volumes"))
		{
			if (vname && !cmv && !strcmp(str_of(vol, "name") ?: "", vname))
				cmv = cJSON_GetObjectItemCaseSensitive(vol, "configMap");
		}
		cm = cmv ? find_cm(x, ns, str_of(cmv, "name")) : NULL;
		if (!cm)
			continue;
		if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(cmv, "items"))) {
			cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(cmv, "items"))
			{
				const char *key = str_of(item, "key"), *rel = str_of(item, "path");

				if (key && rel && !ret)
					ret = volume_file(f, mount, cm, rel, key);
			}
		} else {
			data = cJSON_GetObjectItemCaseSensitive(cm->doc, "data");
			cJSON_ArrayForEach(item, data)
			{
				if (!ret)
					ret = volume_file(f, mount, cm, item->string, item->string);
			}
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- the providers file ---- */

static yaml_node_t *ymap_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

/* A scalar's text (borrowed), or NULL when @n is absent or not a scalar. */
static const char *yscalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void providers_free(struct providers *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].folder);
		free(p->v[i].path);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* One provider of the list (a mapping); 1 when it is not a file provider, 0, or -errno. */
static int provider_parse(yaml_document_t *doc, yaml_node_t *item, struct provider *pv, char *err,
			  size_t errlen)
{
	const char *type = yscalar(ymap_get(doc, item, "type"));
	yaml_node_t *opts = ymap_get(doc, item, "options");
	const char *path = yscalar(ymap_get(doc, opts, "path"));
	const char *folder = yscalar(ymap_get(doc, item, "folder"));
	const char *ffs = yscalar(ymap_get(doc, opts, "foldersFromFilesStructure"));
	char norm[PATH_MAX_LEN];

	if (item->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "not a mapping");
		return -EINVAL;
	}
	/* Other types (Grafana's plugins') do not read files. */
	if (type && *type && strcmp(type, "file"))
		return 1;
	if (!path || !*path) {
		snprintf(err, errlen, "no options.path");
		return -EINVAL;
	}
	if (!path_norm(path, NULL, norm, sizeof(norm))) {
		snprintf(err, errlen, "options.path %.200s: not an absolute path", path);
		return -EINVAL;
	}
	pv->path = strdup(norm);
	pv->folder = folder ? strdup(folder) : NULL;
	pv->from_files = ffs && !strcmp(ffs, "true");
	if (!pv->path || (folder && !pv->folder)) {
		free(pv->path);
		free(pv->folder);
		memset(pv, 0, sizeof(*pv));
		return -ENOMEM;
	}
	return 0;
}

/*
 * The file providers of a dashboards provisioning file (apiVersion 1: {providers: [...]}), as
 * Grafana takes them: a file that does not parse gives none. 0, -EINVAL with @err, or -ENOMEM.
 */
static int providers_parse(const char *text, struct providers *out, char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t doc;
	yaml_node_t *root, *list;
	size_t n = 0, len = strlen(text);
	int ret = 0;

	if (len > PROVIDERS_MAX_TEXT) {
		snprintf(err, errlen, "over %u KiB", PROVIDERS_MAX_TEXT >> 10);
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		ret = p.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		snprintf(err, errlen, "not YAML: line %zu: %s", p.problem_mark.line + 1,
			 p.problem ? p.problem : "?");
		yaml_parser_delete(&p);
		return ret;
	}
	yaml_parser_delete(&p);
	root = yaml_document_get_root_node(&doc);
	list = ymap_get(&doc, root, "providers");
	if (root && root->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "not a mapping (apiVersion: 1 and providers)");
		ret = -EINVAL;
	} else if (list && list->type != YAML_SEQUENCE_NODE) {
		snprintf(err, errlen, "providers: not a list");
		ret = -EINVAL;
	} else if (list && (n = (size_t)(list->data.sequence.items.top -
					 list->data.sequence.items.start)) > PROVIDERS_MAX) {
		snprintf(err, errlen, "over %d providers", PROVIDERS_MAX);
		ret = -EINVAL;
	} else if (list && n) {
		out->v = calloc(n, sizeof(*out->v));
		ret = out->v ? 0 : -ENOMEM;
		for (size_t i = 0; !ret && i < n; i++) {
			yaml_node_t *item =
			    yaml_document_get_node(&doc, list->data.sequence.items.start[i]);
			char why[256];

			ret = item ? provider_parse(&doc, item, &out->v[out->n], why, sizeof(why))
				   : -EINVAL;
			if (ret == -EINVAL)
				snprintf(err, errlen, "providers[%zu]: %s", i, item ? why : "none");
			if (!ret)
				out->n++;
			if (ret == 1)
				ret = 0;
		}
		if (ret)
			providers_free(out);
	}
	yaml_document_delete(&doc);
	return ret;
}

/* ---- the two ways ---- */

static int add_key(struct dash_boards *b, const struct obj *cm, const char *key, const char *file,
		   const char *folder, const char *value, const char *error)
{
	char ref[768], where[512];
	struct dash_board_src src = {ref, file, folder && *folder ? folder : DASH_GRAFANA_GENERAL,
				     where, key};

	snprintf(where, sizeof(where), "%s/%s", cm->o->namespace ?: "", cm->o->name);
	snprintf(ref, sizeof(ref), "%s/%s", where, key);
	if (!value)
		return dash_boards_add(b, &src, NULL, 0, error ? error : "not a string");
	return dash_boards_add(b, &src, value, strlen(value), NULL);
}

/* The dashboards Grafana's container @ctr of a pod of namespace @ns reads (pod spec @spec). */
static int container_boards(const struct objs *x, const char *ns, const cJSON *spec,
			    const cJSON *ctr, struct dash_boards *b)
{
	char dir[PATH_MAX_LEN], prov[PATH_MAX_LEN];
	const char *base = GF_PROVISIONING;
	struct mfiles f = {0};
	struct providers pv = {0};
	const cJSON *env;
	int ret;

	cJSON_ArrayForEach(env, cJSON_GetObjectItemCaseSensitive(ctr, "env"))
	{
		if (!strcmp(str_of(env, "name") ?: "", "GF_PATHS_PROVISIONING") &&
		    str_of(env, "value"))
			base = str_of(env, "value");
	}
	if (!path_norm(base, "dashboards", prov, sizeof(prov)))
		return 0;
	ret = mounted_files(x, ns, spec, ctr, &f);
	/* Grafana reads every *.yaml and *.yml file in <provisioning>/dashboards. */
	for (size_t i = 0; !ret && i < f.n; i++) {
		const struct mfile *m = &f.v[i];
		struct providers one = {0};
		char err[300] = "", why[400];

		if (strlen(m->path) <= strlen(prov) || !under(m->path, prov) ||
		    strchr(m->path + strlen(prov) + 1, '/') ||
		    (!ends_with(m->path, ".yaml") && !ends_with(m->path, ".yml")))
			continue;
		ret = m->value ? providers_parse(m->value, &one, err, sizeof(err)) : 0;
		if (ret == -EINVAL) {
			snprintf(why, sizeof(why), "not a dashboards provider file: %s", err);
			ret = add_key(b, m->cm, m->key, base_name(m->path), NULL, NULL, why);
		}
		for (size_t j = 0; j < one.n && !ret; j++) {
			struct provider *grown = realloc(pv.v, (pv.n + 1) * sizeof(*pv.v));

			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			pv.v = grown;
			pv.v[pv.n++] = one.v[j];
			memset(&one.v[j], 0, sizeof(one.v[j]));
		}
		providers_free(&one);
	}
	/* Each *.json file at or below a provider's path, in the first such provider's folder. */
	for (size_t i = 0; !ret && i < f.n; i++) {
		const struct mfile *m = &f.v[i];
		const struct provider *p = NULL;
		const char *folder;

		if (!ends_with(m->path, ".json"))
			continue;
		for (size_t j = 0; j < pv.n && !p; j++)
			if (under(m->path, pv.v[j].path))
				p = &pv.v[j];
		if (!p)
			continue;
		folder = p->folder;
		/* foldersFromFilesStructure: a file in a subdirectory is in that folder. */
		if (p->from_files && strlen(m->path) > strlen(p->path) + 1 &&
		    strchr(m->path + strlen(p->path) + 1, '/')) {
			const char *last = strrchr(m->path, '/'), *first = last;

			while (first > m->path && first[-1] != '/')
				first--;
			(void)snprintf(dir, sizeof(dir), "%.*s", (int)(last - first), first);
			folder = dir;
		}
		ret = add_key(b, m->cm, m->key, base_name(m->path), folder, m->value, NULL);
	}
	providers_free(&pv);
	mfiles_free(&f);
	return ret;
}

int dash_boards_provisioned(const struct store_objs *objs, struct dash_boards *b)
{
	struct objs x;
	int ret = objs_parse(objs, &x);

	for (size_t i = 0; !ret && i < x.ndeps; i++) {
		const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(x.deps[i].doc, "spec"), "template");
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(tmpl, "spec"), *ctr;

		cJSON_ArrayForEach(ctr, cJSON_GetObjectItemCaseSensitive(spec, "containers"))
		{
			if (!ret && grafana_image(str_of(ctr, "image") ?: ""))
				ret = container_boards(&x, x.deps[i].o->namespace ?: "", spec, ctr,
						       b);
		}
	}
	for (size_t i = 0; !ret && i < x.ncms; i++) {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(x.cms[i].doc, "metadata"), *kv;
		const char *folder =
		    str_of(cJSON_GetObjectItemCaseSensitive(meta, "annotations"), "grafana_folder");

		if (!cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(meta, "labels"), "grafana_dashboard"))
			continue;
		cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(x.cms[i].doc, "data"))
		{
			if (!ret && ends_with(kv->string, ".json"))
				ret = add_key(b, &x.cms[i], kv->string, kv->string, folder,
					      cJSON_GetStringValue(kv), NULL);
		}
	}
	objs_free(&x);
	dash_boards_sort(b);
	return ret;
}
