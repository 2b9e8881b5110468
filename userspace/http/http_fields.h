/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HTTP message's header fields, in order, as both HTTP/1.1 and HTTP/2 carry them: repeated
 * names stay separate entries (RFC 9110 §5.3 lets a recipient join them with "," except
 * set-cookie, so the list never joins). Names compare case-insensitively and are stored
 * lower-cased, as HTTP/2 requires (RFC 9113 §8.2.1) and Envoy writes them on HTTP/1 too.
 */
#ifndef AMBIT_NET_HTTP_FIELDS_H
#define AMBIT_NET_HTTP_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "net/arena.h"

/*
 * How much header a peer may send, the same for HTTP/1.1 and HTTP/2 (one limit whatever the
 * protocol, so a request refused on one is refused on the other): Envoy's defaults
 * (max_request_headers_kb 60, max_headers_count 100). Bytes are the request target (:path) and
 * every field's name and value; fields are the regular ones (not pseudo-headers). Past either,
 * a request gets 431 (RFC 6585 §5) and a response is an upstream protocol error.
 */
#define HTTP_MAX_HEADER_BYTES (60u * 1024)
#define HTTP_MAX_FIELDS 100u

struct http_limits {
	uint32_t header_bytes; /* 0: HTTP_MAX_HEADER_BYTES */
	uint32_t fields;       /* 0: HTTP_MAX_FIELDS */
};

struct http_field {
	char *name, *value; /* NUL-terminated, in the list's arena; names lower-case */
	uint32_t name_len, value_len;
	/*
	 * Read from a peer and checked as it was (a token name, a value without CR, LF or NUL):
	 * a writer need not check it again. Fields made here are checked when written.
	 */
	bool clean;
};

/*
 * The list and every name and value live in one arena (arena.h), freed at once: a request
 * costs no allocation per field. Zero-initialised it is empty. Removing a field only drops it
 * from the list (its bytes stay until http_fields_free): lists are short-lived.
 */
struct http_fields {
	size_t n, cap;
	struct http_field *items;
	struct arena mem;
};

/* Appends copies of @name (@nlen bytes, lower-cased) and @value (@vlen bytes). 0 or -ENOMEM. */
int http_fields_addn(struct http_fields *f, const char *name, size_t nlen, const char *value,
		     size_t vlen);
/* The same for a field a parser checked (struct http_field.clean), its name lower-case. */
int http_fields_add_clean(struct http_fields *f, const char *name, size_t nlen, const char *value,
			  size_t vlen);
/* Appends copies of the strings @name and @value. 0 or -ENOMEM. */
static inline int http_fields_add(struct http_fields *f, const char *name, const char *value)
{
	return http_fields_addn(f, name, strlen(name), value, strlen(value));
}
/* Replaces every @name by one @name: @value (appended when absent). 0 or -ENOMEM. */
int http_fields_set(struct http_fields *f, const char *name, const char *value);
/* The index of the first field @name (@nlen bytes, any case) from @from, or -1. */
ssize_t http_fields_find(const struct http_fields *f, const char *name, size_t nlen, size_t from);
/* The first value of @name, or NULL (borrowed from @f). */
static inline const char *http_fields_get(const struct http_fields *f, const char *name)
{
	ssize_t i = http_fields_find(f, name, strlen(name), 0);

	return i < 0 ? NULL : f->items[i].value;
}
size_t http_fields_count(const struct http_fields *f, const char *name);
/* Removes every @name; returns how many there were. */
size_t http_fields_remove(struct http_fields *f, const char *name);
/* Removes every field named any of @names (@n of them, lowercase) in one pass; how many. */
size_t http_fields_remove_any(struct http_fields *f, const char *const *names, size_t n);
/* Deep copy of @src into @dst (which must be empty). 0 or -ENOMEM (@dst left empty). */
int http_fields_copy(struct http_fields *dst, const struct http_fields *src);
/* A copy of @n bytes of @s (NUL-terminated) in @f's arena, for what goes with the fields. */
char *http_fields_strndup(struct http_fields *f, const char *s, size_t n);
/* Frees the entries; @f is empty afterwards and may be reused. */
void http_fields_free(struct http_fields *f);

/*
 * The elements of a comma-separated field value (RFC 9110 §5.6.1: OWS around elements, empty
 * ones skipped), one a call: the next element's start and *@len from *@pos (advanced past
 * it), or NULL at the end. As `for (p = value; (e = http_list_next(&p, &n));)`.
 */
static inline const char *http_list_next(const char **pos, size_t *len)
{
	const char *p = *pos;
	size_t n;

	for (;;) {
		p += strspn(p, " \t,");
		if (!*p) {
			*pos = p;
			return NULL;
		}
		n = strcspn(p, ",");
		*pos = p + n;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n) {
			*len = n;
			return p;
		}
		p = *pos;
	}
}

#endif
