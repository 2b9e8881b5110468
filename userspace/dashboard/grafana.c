// SPDX-License-Identifier: Apache-2.0
/*
 * Grafana's part of the dashboard (no I/O beyond reading the dashboards' directory): the
 * dashboards of the view, those the cluster provisions (provision.c) or the JSON files of
 * `--grafana-dashboards DIR` (Istio's five, from its release's manifests/addons/dashboards),
 * each told a dashboard or not, listed and served as they are for the page to draw; and the
 * Prometheus API calls their panels and template variables make, checked argument by argument
 * before they are forwarded (prom.c): the page can ask Prometheus only what Grafana's
 * Prometheus data source asks it, nothing of its admin or write API.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"
#include "ambit/fileutil.h"

/* Grafana's largest dashboards are a few hundred KiB; Istio's are under 150. */
#define GRAFANA_MAX_FILE (16u << 20)
/* A panel's PromQL, $variables interpolated with every value of a multi-value one. */
#define PROM_MAX_QUERY (64u << 10)

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json names of @dir, sorted (caller frees each and the array); -errno. */
static int json_files(const char *dir, char ***out, size_t *n)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!dp)
		return -errno;
	while ((e = readdir(dp))) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		if (*n == cap) {
			char **p = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));

			if (!p)
				goto nomem;
			v = p;
		}
		v[*n] = strdup(e->d_name);
		if (!v[*n])
			goto nomem;
		(*n)++;
	}
	closedir(dp);
	if (*n)
		qsort(v, *n, sizeof(*v), name_cmp);
	*out = v;
	return 0;
nomem:
	closedir(dp);
	while (*n)
		free(v[--*n]);
	free(v);
	return -ENOMEM;
}

/*
 * The dashboard a text holds: Grafana's own JSON model, or the {"dashboard": {...}} its HTTP API
 * exports. Borrowed from @doc; NULL with @err when it is not one.
 */
static const cJSON *dashboard_of(const cJSON *doc, char *err, size_t errlen)
{
	const cJSON *dash = cJSON_GetObjectItemCaseSensitive(doc, "dashboard");

	if (!cJSON_IsObject(dash))
		dash = doc;
	if (!cJSON_IsObject(dash)) {
		snprintf(err, errlen, "not a Grafana dashboard: not a JSON object");
		return NULL;
	}
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(dash, "panels"))) {
		snprintf(err, errlen, "not a Grafana dashboard: no \"panels\" array");
		return NULL;
	}
	return dash;
}

static bool add_str(cJSON *o, const char *key, const char *v)
{
	return v ? cJSON_AddStringToObject(o, key, v) != NULL
		 : cJSON_AddNullToObject(o, key) != NULL;
}

/* @dash's uid, title and tags into @row (uid also into *@uid, malloc'd). */
static bool describe(cJSON *row, const cJSON *dash, char **uid)
{
	const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dash, "uid"));
	cJSON *tags = cJSON_AddArrayToObject(row, "tags");
	const cJSON *t;

	if (!tags || !add_str(row, "uid", u) ||
	    !add_str(row, "title",
		     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dash, "title"))))
		return false;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(dash, "tags"))
	{
		if (cJSON_IsString(t) &&
		    !cJSON_AddItemToArray(tags, cJSON_CreateString(t->valuestring)))
			return false;
	}
	*uid = u ? strdup(u) : NULL;
	return !u || *uid;
}

int dash_boards_add(struct dash_boards *b, const struct dash_board_src *src, const char *text,
		    size_t len, const char *error)
{
	struct dash_board e = {0};
	char why[256] = "";
	const cJSON *dash = NULL;
	cJSON *doc = NULL;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct dash_board *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	if (text) {
		doc = cJSON_ParseWithLength(text, len);
		if (doc) {
			dash = dashboard_of(doc, why, sizeof(why));
		} else {
			const char *at = cJSON_GetErrorPtr();

			snprintf(why, sizeof(why), "not JSON (at byte %ld)",
				 at && at >= text && at <= text + len ? (long)(at - text) : 0L);
		}
	} else {
		snprintf(why, sizeof(why), "%s", error ? error : "no text");
	}
	e.ref = strdup(src->ref);
	e.file = strdup(src->file);
	e.folder = strdup(src->folder);
	e.row = cJSON_CreateObject();
	if (!e.ref || !e.file || !e.folder || !e.row || !add_str(e.row, "ref", src->ref) ||
	    !add_str(e.row, "file", src->file) || !add_str(e.row, "folder", src->folder) ||
	    (src->configmap &&
	     (!add_str(e.row, "configmap", src->configmap) || !add_str(e.row, "key", src->key))))
		goto nomem;
	if (dash) {
		e.text = strndup(text, len);
		if (!e.text || !describe(e.row, dash, &e.uid))
			goto nomem;
	} else if (!add_str(e.row, "error", why)) {
		goto nomem;
	}
	cJSON_Delete(doc);
	e.seq = b->added++;
	b->v[b->n++] = e;
	return 0;
nomem:
	cJSON_Delete(doc);
	free(e.ref);
	free(e.file);
	free(e.folder);
	free(e.uid);
	free(e.text);
	cJSON_Delete(e.row);
	return -ENOMEM;
}

static void board_free(struct dash_board *e)
{
	free(e->ref);
	free(e->file);
	free(e->folder);
	free(e->uid);
	free(e->text);
	cJSON_Delete(e->row);
}

static int by_ref(const void *a, const void *b)
{
	const struct dash_board *x = a, *y = b;
	int c = strcmp(x->ref, y->ref);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static int by_folder(const void *a, const void *b)
{
	const struct dash_board *x = a, *y = b;
	int c = strcmp(x->folder, y->folder);

	if (!c)
		c = strcmp(x->file, y->file);
	return c ? c : strcmp(x->ref, y->ref);
}

/* Sorted by ref first, so that a ref added again (one ConfigMap mounted twice) goes in n log n. */
void dash_boards_sort(struct dash_boards *b)
{
	size_t kept = 0;

	if (b->n < 2)
		return;
	qsort(b->v, b->n, sizeof(*b->v), by_ref);
	for (size_t i = 0; i < b->n; i++) {
		if (kept && !strcmp(b->v[kept - 1].ref, b->v[i].ref))
			board_free(&b->v[i]);
		else
			b->v[kept++] = b->v[i];
	}
	b->n = kept;
	qsort(b->v, b->n, sizeof(*b->v), by_folder);
}

void dash_boards_free(struct dash_boards *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		board_free(&b->v[i]);
	free(b->v);
	memset(b, 0, sizeof(*b));
}

int dash_boards_from_dir(const char *dir, struct dash_boards *b, char *err, size_t errlen)
{
	char **files = NULL;
	size_t n = 0;
	int ret = json_files(dir, &files, &n);

	if (ret) {
		snprintf(err, errlen, "--grafana-dashboards %s: %s", dir, strerror(-ret));
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		struct dash_board_src src = {files[i], files[i], DASH_GRAFANA_GENERAL, NULL, NULL};
		char path[4096], why[256] = "", *text = NULL;
		size_t len = 0;
		int r = 0;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, files[i]) >= sizeof(path))
			snprintf(why, sizeof(why), "path too long");
		else if ((r = fileutil_read_file(path, GRAFANA_MAX_FILE, &text, &len)))
			snprintf(why, sizeof(why), "cannot read: %s", strerror(-r));
		if (!ret)
			ret = dash_boards_add(b, &src, text, len, why);
		free(text);
		free(files[i]);
	}
	free(files);
	if (ret)
		snprintf(err, errlen, "out of memory");
	dash_boards_sort(b);
	return ret;
}

cJSON *dash_boards_list(const struct dash_boards *b)
{
	cJSON *list = cJSON_CreateArray();

	for (size_t i = 0; list && i < b->n; i++) {
		cJSON *row = cJSON_Duplicate(b->v[i].row, true);

		if (!row || !cJSON_AddItemToArray(list, row)) {
			cJSON_Delete(row);
			cJSON_Delete(list);
			list = NULL;
		}
	}
	return list;
}

/* The dashboard @e is, as text (@status 200), or why not (422, 500). */
static char *board_text(const struct dash_board *e, int *status, char *err, size_t errlen)
{
	char *text;

	if (!e->text) {
		*status = 422;
		snprintf(err, errlen, "%s: %s", e->ref,
			 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e->row, "error")));
		return NULL;
	}
	text = strdup(e->text);
	*status = text ? 200 : 500;
	if (!text)
		snprintf(err, errlen, "out of memory");
	return text;
}

char *dash_boards_get(const struct dash_boards *b, const char *want, int *status, char *err,
		      size_t errlen)
{
	const struct dash_board *by_file = NULL;

	/* By ref first: a uid is the dashboard's own word and two files may share one. */
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->v[i].ref, want))
			return board_text(&b->v[i], status, err, errlen);
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].uid && !strcmp(b->v[i].uid, want))
			return board_text(&b->v[i], status, err, errlen);
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->v[i].file, want) && (!by_file || (!by_file->text && b->v[i].text)))
			by_file = &b->v[i];
	if (by_file)
		return board_text(by_file, status, err, errlen);
	*status = 404;
	snprintf(err, errlen, "no dashboard %s", want);
	return NULL;
}

/* ---- the Prometheus API calls the panels make ---- */

/* A Unix time in seconds, as Grafana sends it (digits, a fraction), or RFC 3339. */
static bool time_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 40)
		return false;
	if (strspn(s, "0123456789.") == n)
		return strchr(s, '.') == strrchr(s, '.') && isdigit((unsigned char)s[0]);
	return isdigit((unsigned char)s[0]) && strspn(s, "0123456789-:.TZ+") == n;
}

/* A step: seconds (a float), or a Prometheus duration (1m, 15s, 1h30m), not zero. */
static bool step_ok(const char *s)
{
	const char *p = s;
	bool nonzero = false;

	if (!*s || strlen(s) > 32)
		return false;
	if (strspn(s, "0123456789.") == strlen(s))
		return time_ok(s) && strtod(s, NULL) > 0;
	while (*p) {
		const char *d = p;

		while (isdigit((unsigned char)*p))
			nonzero |= *p++ != '0';
		if (p == d)
			return false;
		if (!strncmp(p, "ms", 2))
			p += 2;
		else if (*p && strchr("smhdwy", *p))
			p++;
		else
			return false;
	}
	return nonzero;
}

/* A label name, as Prometheus's data model allows it. */
static bool label_ok(const char *s, size_t n)
{
	if (!n || n > 128 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

struct prom_api {
	const char *path;     /* after /api/prom */
	const char *required; /* the arguments it needs, space separated */
	const char *optional; /* those it may have */
};

/* What Grafana's Prometheus data source asks; match[] may repeat, the others may not. */
static const struct prom_api prom_apis[] = {
    {"/query_range", "query start end step", ""},
    {"/query", "query", "time"},
    {"/series", "match[]", "start end"},
    {"/label/", "", "match[] start end"}, /* /label/<name>/values */
};

/* @key is one of the space separated words of @list. */
static bool word_in(const char *list, const char *key)
{
	size_t n = strlen(key);

	if (!n)
		return false;
	for (const char *p = list; (p = strstr(p, key)); p += n)
		if ((p == list || p[-1] == ' ') && (!p[n] || p[n] == ' '))
			return true;
	return false;
}

static bool append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 256;
		char *p;

		while (c < *len + n + 1)
			c *= 2;
		p = realloc(*buf, c);
		if (!p)
			return false;
		*buf = p;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

/* @s percent-encoded as a query component (RFC 3986 unreserved characters kept). */
static bool append_escaped(char **buf, size_t *len, size_t *cap, const char *s)
{
	for (; *s; s++) {
		char hex[4];

		if (isalnum((unsigned char)*s) || strchr("-._~", *s)) {
			if (!append(buf, len, cap, s, 1))
				return false;
			continue;
		}
		snprintf(hex, sizeof(hex), "%%%02X", (unsigned char)*s);
		if (!append(buf, len, cap, hex, 3))
			return false;
	}
	return true;
}

int dash_prom_path(const char *api, const struct dash_arg *args, size_t n, char **out, char *err,
		   size_t errlen)
{
	const struct prom_api *a = NULL;
	char *buf = NULL, head[256];
	size_t len = 0, cap = 0;
	char sep = '?';

	*out = NULL;
	for (size_t i = 0; i < sizeof(prom_apis) / sizeof(prom_apis[0]) && !a; i++)
		if (!strcmp(api, prom_apis[i].path) ||
		    (!strcmp(prom_apis[i].path, "/label/") && !strncmp(api, "/label/", 7)))
			a = &prom_apis[i];
	if (!a) {
		snprintf(err, errlen,
			 "not an API the panels use: query, query_range, series, "
			 "label/<name>/values");
		return -ENOENT;
	}
	if (!strcmp(a->path, "/label/")) {
		const char *name = api + 7, *slash = strchr(name, '/');

		if (!slash || strcmp(slash, "/values") || !label_ok(name, (size_t)(slash - name))) {
			snprintf(err, errlen, "label/<name>/values: <name> a label name");
			return -ENOENT;
		}
		snprintf(head, sizeof(head), "/api/v1%s", api);
	} else {
		snprintf(head, sizeof(head), "/api/v1%s", a->path);
	}
	for (size_t i = 0; i < n; i++) {
		const char *k = args[i].key, *v = args[i].value ?: "";

		if (!word_in(a->required, k) && !word_in(a->optional, k)) {
			snprintf(err, errlen, "%s: no argument %.64s", api, k);
			return -EINVAL;
		}
		for (size_t j = 0; j < i && strcmp(k, "match[]"); j++)
			if (!strcmp(args[j].key, k)) {
				snprintf(err, errlen, "%s: %s given twice", api, k);
				return -EINVAL;
			}
		if ((!strcmp(k, "query") || !strcmp(k, "match[]")) &&
		    (!*v || strlen(v) > PROM_MAX_QUERY)) {
			snprintf(err, errlen, "%s: %s: a PromQL expression of 1 to %u bytes", api,
				 k, PROM_MAX_QUERY);
			return -EINVAL;
		}
		if ((!strcmp(k, "start") || !strcmp(k, "end") || !strcmp(k, "time")) &&
		    !time_ok(v)) {
			snprintf(err, errlen, "%s: %s: a Unix time in seconds or RFC 3339", api, k);
			return -EINVAL;
		}
		if (!strcmp(k, "step") && !step_ok(v)) {
			snprintf(err, errlen, "%s: step: seconds or a duration (15s, 1m)", api);
			return -EINVAL;
		}
	}
	for (const char *r = a->required; *r;) {
		size_t wn = strcspn(r, " ");
		char word[16];
		bool have = false;

		snprintf(word, sizeof(word), "%.*s", (int)wn, r);
		for (size_t i = 0; i < n && !have; i++)
			have = !strcmp(args[i].key, word);
		if (!have) {
			snprintf(err, errlen, "%s: %s is needed", api, word);
			return -EINVAL;
		}
		r += wn + (r[wn] == ' ');
	}
	if (!append(&buf, &len, &cap, head, strlen(head)))
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		if (!append(&buf, &len, &cap, &sep, 1) ||
		    !append_escaped(&buf, &len, &cap, args[i].key) ||
		    !append(&buf, &len, &cap, "=", 1) ||
		    !append_escaped(&buf, &len, &cap, args[i].value ?: ""))
			goto nomem;
		sep = '&';
	}
	*out = buf;
	return 0;
nomem:
	free(buf);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}
