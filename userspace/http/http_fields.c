// SPDX-License-Identifier: Apache-2.0
/* Header field lists (http_fields.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_fields.h"

static inline char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* @clean: @name is a checked token already lower-case (a parser's), copied as it is. */
static int add(struct http_fields *f, const char *name, size_t nlen, const char *value, size_t vlen,
	       bool clean)
{
	struct http_field *e;
	char *n, *v;

	if (nlen > UINT32_MAX || vlen > UINT32_MAX)
		return -EINVAL;
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 16;
		struct http_field *items = arena_alloc(&f->mem, nc * sizeof(*items));

		if (!items)
			return -ENOMEM;
		if (f->n)
			memcpy(items, f->items, f->n * sizeof(*items));
		f->items = items;
		f->cap = nc;
	}
	n = arena_alloc(&f->mem, nlen + vlen + 2);
	if (!n)
		return -ENOMEM;
	/* Kept lower-case (HTTP/2's form, and Envoy's on HTTP/1): lookups compare less. */
	if (clean) {
		memcpy(n, name, nlen);
	} else {
		for (size_t i = 0; i < nlen; i++)
			n[i] = lower(name[i]);
	}
	n[nlen] = '\0';
	v = n + nlen + 1;
	if (vlen)
		memcpy(v, value, vlen);
	v[vlen] = '\0';
	e = &f->items[f->n++];
	*e = (struct http_field){n, v, (uint32_t)nlen, (uint32_t)vlen, clean};
	return 0;
}

int http_fields_addn(struct http_fields *f, const char *name, size_t nlen, const char *value,
		     size_t vlen)
{
	return add(f, name, nlen, value, vlen, false);
}

int http_fields_add_clean(struct http_fields *f, const char *name, size_t nlen, const char *value,
			  size_t vlen)
{
	return add(f, name, nlen, value, vlen, true);
}

/* Whether stored (lower-case) @e is @name (@nlen bytes) in any case. */
static inline bool same_name(const struct http_field *e, const char *name, size_t nlen)
{
	if (e->name_len != nlen || e->name[0] != lower(name[0]))
		return false;
	for (size_t i = 1; i < nlen; i++)
		if (e->name[i] != lower(name[i]))
			return false;
	return true;
}

ssize_t http_fields_find(const struct http_fields *f, const char *name, size_t nlen, size_t from)
{
	if (!nlen)
		return -1;
	for (size_t i = from; i < f->n; i++)
		if (same_name(&f->items[i], name, nlen))
			return (ssize_t)i;
	return -1;
}

int http_fields_set(struct http_fields *f, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value), w = 0, first = SIZE_MAX;
	char *v;

	/* One pass: the first such field is kept (its place in the list), the others dropped. */
	for (size_t i = 0; i < f->n; i++) {
		if (same_name(&f->items[i], name, nlen)) {
			if (first != SIZE_MAX)
				continue;
			first = w;
		}
		f->items[w++] = f->items[i];
	}
	f->n = w;
	if (first == SIZE_MAX)
		return http_fields_addn(f, name, nlen, value, vlen);
	v = arena_memdup(&f->mem, value, vlen);
	if (!v)
		return -ENOMEM;
	f->items[first].value = v;
	f->items[first].value_len = (uint32_t)vlen;
	f->items[first].clean = false;
	return 0;
}

size_t http_fields_count(const struct http_fields *f, const char *name)
{
	size_t n = 0, nlen = strlen(name);

	for (size_t i = 0; i < f->n; i++)
		n += same_name(&f->items[i], name, nlen);
	return n;
}

size_t http_fields_remove(struct http_fields *f, const char *name)
{
	size_t w = 0, n = f->n, nlen = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (!same_name(&f->items[i], name, nlen))
			f->items[w++] = f->items[i];
	f->n = w;
	return n - w;
}

size_t http_fields_remove_any(struct http_fields *f, const char *const *names, size_t n)
{
	size_t w = 0, total = f->n, lens[16];
	bool drop;

	if (n > sizeof(lens) / sizeof(lens[0]))
		n = sizeof(lens) / sizeof(lens[0]);
	for (size_t k = 0; k < n; k++)
		lens[k] = strlen(names[k]);
	for (size_t i = 0; i < total; i++) {
		drop = false;
		for (size_t k = 0; k < n && !drop; k++)
			drop = same_name(&f->items[i], names[k], lens[k]);
		if (!drop)
			f->items[w++] = f->items[i];
	}
	f->n = w;
	return total - w;
}

int http_fields_copy(struct http_fields *dst, const struct http_fields *src)
{
	for (size_t i = 0; i < src->n; i++) {
		const struct http_field *e = &src->items[i];

		if (add(dst, e->name, e->name_len, e->value, e->value_len, e->clean)) {
			http_fields_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

char *http_fields_strndup(struct http_fields *f, const char *s, size_t n)
{
	return arena_memdup(&f->mem, s, n);
}

void http_fields_free(struct http_fields *f)
{
	arena_free(&f->mem);
	memset(f, 0, sizeof(*f));
}
