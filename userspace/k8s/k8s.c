// SPDX-License-Identifier: Apache-2.0
/* Kubernetes API response bodies: LIST, WATCH streams, Status (include/ambit/k8s.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/k8s.h"

struct k8s_stream {
	k8s_event_fn fn;
	void *arg;
	size_t max_line;
	char *line; /* the current line's bytes so far */
	size_t len, cap;
	size_t lines, events;
	int failed; /* the error every later call returns */
};

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *meta_rv(const cJSON *obj)
{
	return str_of(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
}

struct k8s_stream *k8s_stream_new(size_t max_line, k8s_event_fn fn, void *arg)
{
	struct k8s_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fn = fn;
	s->arg = arg;
	s->max_line = max_line;
	return s;
}

void k8s_stream_free(struct k8s_stream *s)
{
	if (!s)
		return;
	free(s->line);
	free(s);
}

size_t k8s_stream_events(const struct k8s_stream *s)
{
	return s->events;
}

static int fail(struct k8s_stream *s, int err, char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(struct k8s_stream *s, int err, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(buf, len, "watch event %zu: ", s->lines);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < len)
		vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	s->failed = err;
	return err;
}

static int event_type(const char *t, enum k8s_event_type *out)
{
	static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(t, names[i])) {
			*out = (enum k8s_event_type)i;
			return 0;
		}
	return -1;
}

/* One complete line (without its newline): an event, or blank (ignored). */
static int line_done(struct k8s_stream *s, const char *p, size_t n, char *err, size_t errlen)
{
	struct k8s_event ev = {.reason = "", .message = "", .resource_version = ""};
	const cJSON *type, *obj, *code;
	cJSON *root;
	int ret;

	while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (!n)
		return 0;
	s->lines++;
	root = cJSON_ParseWithLength(p, n);
	if (!root)
		return fail(s, -EPROTO, err, errlen, "not JSON");
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	obj = cJSON_GetObjectItemCaseSensitive(root, "object");
	if (!cJSON_IsObject(root) || !cJSON_IsString(type) || !cJSON_IsObject(obj)) {
		cJSON_Delete(root);
		return fail(s, -EPROTO, err, errlen,
			    "not an event (an object with a string \"type\" and an object "
			    "\"object\")");
	}
	if (event_type(type->valuestring, &ev.type)) {
		ret = fail(s, -EPROTO, err, errlen, "unknown type \"%.40s\"", type->valuestring);
		cJSON_Delete(root);
		return ret;
	}
	ev.object = obj;
	if (ev.type == K8S_ERROR) {
		code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		ev.code = cJSON_IsNumber(code) ? code->valueint : 0;
		ev.reason = str_of(obj, "reason") ? str_of(obj, "reason") : "";
		ev.message = str_of(obj, "message") ? str_of(obj, "message") : "";
	} else {
		/* Every object, a bookmark's included, says where the watch can resume. */
		ev.resource_version = meta_rv(obj);
		if (!ev.resource_version || !*ev.resource_version) {
			ret = fail(s, -EPROTO, err, errlen, "%s without metadata.resourceVersion",
				   type->valuestring);
			cJSON_Delete(root);
			return ret;
		}
	}
	s->events++;
	ret = s->fn(s->arg, &ev);
	cJSON_Delete(root);
	if (ret)
		s->failed = ret;
	return ret;
}

int k8s_stream_feed(struct k8s_stream *s, const char *data, size_t len, char *err, size_t errlen)
{
	while (len && !s->failed) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		int ret;

		if (s->len + take > s->max_line)
			return fail(s, -E2BIG, err, errlen, "a line over %zu bytes", s->max_line);
		/* A whole line in this chunk with nothing held: decoded in place. */
		if (nl && !s->len) {
			ret = line_done(s, data, take, err, errlen);
		} else {
			if (s->len + take + 1 > s->cap) {
				size_t cap = s->cap ? s->cap : 4096;
				char *p;

				while (cap < s->len + take + 1)
					cap *= 2;
				p = realloc(s->line, cap);
				if (!p)
					return fail(s, -ENOMEM, err, errlen, "out of memory");
				s->line = p;
				s->cap = cap;
			}
			memcpy(s->line + s->len, data, take);
			s->len += take;
			if (!nl)
				return 0;
			ret = line_done(s, s->line, s->len, err, errlen);
			s->len = 0;
		}
		if (ret)
			return ret;
		data += take + 1;
		len -= take + 1;
	}
	return s->failed;
}

int k8s_stream_end(struct k8s_stream *s, char *err, size_t errlen)
{
	if (s->failed)
		return s->failed;
	/* The server ends each event with a newline: bytes after the last one were cut. */
	for (size_t i = 0; i < s->len; i++)
		if (s->line[i] != ' ' && s->line[i] != '\r' && s->line[i] != '\t')
			return fail(s, -EPROTO, err, errlen, "the body ended inside an event");
	return 0;
}

int k8s_list_parse(const char *body, size_t len, struct k8s_list *out, char *err, size_t errlen)
{
	const cJSON *items, *it, *meta;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	out->root = cJSON_ParseWithLength(body, len);
	if (!out->root || !cJSON_IsObject(out->root)) {
		snprintf(err, errlen, "list: not a JSON object");
		return -EPROTO;
	}
	out->kind = str_of(out->root, "kind");
	meta = cJSON_GetObjectItemCaseSensitive(out->root, "metadata");
	items = cJSON_GetObjectItemCaseSensitive(out->root, "items");
	if (!out->kind || strlen(out->kind) < 5 ||
	    strcmp(out->kind + strlen(out->kind) - 4, "List")) {
		snprintf(err, errlen, "list: kind \"%.40s\" is not a List",
			 out->kind ? out->kind : "");
		return -EPROTO;
	}
	out->resource_version = str_of(meta, "resourceVersion");
	if (!out->resource_version || !*out->resource_version) {
		snprintf(err, errlen, "%s: no metadata.resourceVersion", out->kind);
		return -EPROTO;
	}
	out->cont = str_of(meta, "continue");
	if (out->cont && !*out->cont)
		out->cont = NULL;
	/* "items": null is how an empty list may come. */
	if (items && !cJSON_IsArray(items) && !cJSON_IsNull(items)) {
		snprintf(err, errlen, "%s: items is not an array", out->kind);
		return -EPROTO;
	}
	out->items = calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof(*out->items));
	if (!out->items)
		return -ENOMEM;
	if (!cJSON_IsArray(items))
		return 0;
	cJSON_ArrayForEach(it, items)
	{
		const char *name = str_of(cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");

		if (!cJSON_IsObject(it) || !name || !*name) {
			snprintf(err, errlen, "%s: items[%zu] is not an object with metadata.name",
				 out->kind, i);
			return -EPROTO;
		}
		out->items[out->n_items++] = it;
		i++;
	}
	return 0;
}

void k8s_list_free(struct k8s_list *l)
{
	cJSON_Delete(l->root);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

int k8s_status_parse(const char *body, size_t len, int *code, char *reason, size_t rlen,
		     char *message, size_t mlen)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *c;
	const char *kind, *r, *m;

	kind = root ? str_of(root, "kind") : NULL;
	if (!kind || strcmp(kind, "Status")) {
		cJSON_Delete(root);
		return -EPROTO;
	}
	c = cJSON_GetObjectItemCaseSensitive(root, "code");
	r = str_of(root, "reason");
	m = str_of(root, "message");
	*code = cJSON_IsNumber(c) ? c->valueint : 0;
	snprintf(reason, rlen, "%s", r ? r : "");
	snprintf(message, mlen, "%s", m ? m : "");
	cJSON_Delete(root);
	return 0;
}
