// SPDX-License-Identifier: Apache-2.0
/* Header field lists (http_fields.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_fields.h"

int http_fields_addn(struct http_fields *f, const char *name, size_t nlen, const char *value,
		     size_t vlen)
{
	struct http_field *e;

	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 8;
		void *p = realloc(f->items, nc * sizeof(*f->items));

		if (!p)
			return -ENOMEM;
		f->items = p;
		f->cap = nc;
	}
	e = &f->items[f->n];
	e->name = strndup(name, nlen);
	e->value = strndup(value, vlen);
	if (!e->name || !e->value) {
		free(e->name);
		free(e->value);
		return -ENOMEM;
	}
	/* Kept lower-case (HTTP/2's form, and Envoy's on HTTP/1): lookups compare less. */
	for (char *c = e->name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + ('a' - 'A'));
	f->n++;
	return 0;
}

/* Whether stored (lower-case) @have is @name in any case: the first byte rules most out. */
static bool same_name(const char *have, const char *name)
{
	char c = *name >= 'A' && *name <= 'Z' ? (char)(*name + ('a' - 'A')) : *name;

	return *have == c && !strcasecmp(have, name);
}

int http_fields_add(struct http_fields *f, const char *name, const char *value)
{
	return http_fields_addn(f, name, strlen(name), value, strlen(value));
}

int http_fields_set(struct http_fields *f, const char *name, const char *value)
{
	http_fields_remove(f, name);
	return http_fields_add(f, name, value);
}

const char *http_fields_get(const struct http_fields *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (same_name(f->items[i].name, name))
			return f->items[i].value;
	return NULL;
}

size_t http_fields_count(const struct http_fields *f, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		n += same_name(f->items[i].name, name);
	return n;
}

size_t http_fields_remove(struct http_fields *f, const char *name)
{
	size_t w = 0, n = f->n;

	for (size_t i = 0; i < n; i++) {
		if (same_name(f->items[i].name, name)) {
			free(f->items[i].name);
			free(f->items[i].value);
			continue;
		}
		f->items[w++] = f->items[i];
	}
	f->n = w;
	return n - w;
}

int http_fields_copy(struct http_fields *dst, const struct http_fields *src)
{
	for (size_t i = 0; i < src->n; i++) {
		if (http_fields_add(dst, src->items[i].name, src->items[i].value)) {
			http_fields_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

void http_fields_free(struct http_fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->items[i].name);
		free(f->items[i].value);
	}
	free(f->items);
	memset(f, 0, sizeof(*f));
}
