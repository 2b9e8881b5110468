// SPDX-License-Identifier: Apache-2.0
/* Heads and bodies on the wire, and the hop-by-hop fields a proxy drops (http1_conn.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1_priv.h"

/* Whether comma-separated list @list names @name (@nl bytes, lower-case; OWS around elements). */
static bool list_has(const char *list, const char *name, size_t nl)
{
	const char *e;
	size_t n;

	while ((e = http_list_next(&list, &n)))
		if (n == nl && !strncasecmp(e, name, n))
			return true;
	return false;
}

/* Whether field @e is one of the fixed hop-by-hop fields (and which: *@te for TE). */
static bool fixed_hop(const struct http_field *e, bool upgrading, bool *te)
{
	const char *n = e->name;

	*te = false;
	switch (e->name_len) {
	case 2: return (*te = !memcmp(n, "te", 2));
	case 7: return !upgrading && !memcmp(n, "upgrade", 7);
	case 10: return !memcmp(n, "connection", 10) || !memcmp(n, "keep-alive", 10);
	case 14: return !memcmp(n, "content-length", 14);
	case 16: return !memcmp(n, "proxy-connection", 16);
	case 17: return !memcmp(n, "transfer-encoding", 17);
	default: return false;
	}
}

/* The names Connection fields list (a few in practice; more are compared the slow way). */
#define MAX_NAMED 8

struct named {
	const char *name[MAX_NAMED];
	size_t len[MAX_NAMED], n;
	bool overflow;
};

static void collect_named(const char *list, struct named *nm)
{
	const char *e;
	size_t n;

	while ((e = http_list_next(&list, &n))) {
		if (nm->n == MAX_NAMED) {
			nm->overflow = true;
			return;
		}
		nm->name[nm->n] = e;
		nm->len[nm->n++] = n;
	}
}

static bool is_named(const struct named *nm, const struct http_fields *f,
		     const struct http_field *e)
{
	if (nm->overflow) {
		for (size_t j = 0; j < f->n; j++) {
			const struct http_field *c = &f->items[j];

			if (c->name_len == 10 && !memcmp(c->name, "connection", 10) &&
			    list_has(c->value, e->name, e->name_len))
				return true;
		}
		return false;
	}
	for (size_t i = 0; i < nm->n; i++)
		if (nm->len[i] == e->name_len && !strncasecmp(nm->name[i], e->name, e->name_len))
			return true;
	return false;
}

/*
 * One pass over the fields (this runs twice per request): the fixed hop-by-hop fields by their
 * length and bytes, and those a Connection field names (RFC 9110 §7.6.1), its list read once.
 * Host stays whatever Connection says: it is how the request is routed, and no hop's own.
 */
void h1_strip_hop(struct http_fields *f, bool request, bool upgrading)
{
	struct named nm = {.n = 0};
	bool te_trailers = false, te;
	size_t w = 0;

	for (size_t i = 0; i < f->n; i++)
		if (f->items[i].name_len == 10 && !memcmp(f->items[i].name, "connection", 10))
			collect_named(f->items[i].value, &nm);
	for (size_t i = 0; i < f->n; i++) {
		struct http_field *e = &f->items[i];
		bool drop = fixed_hop(e, upgrading, &te);

		/* TE: only "trailers" may travel on (Envoy keeps a request's "te: trailers"). */
		if (te && request && list_has(e->value, "trailers", 8))
			te_trailers = true;
		if (!drop && (nm.n || nm.overflow) &&
		    !(e->name_len == 4 && !memcmp(e->name, "host", 4)) &&
		    !(upgrading && e->name_len == 7 && !memcmp(e->name, "upgrade", 7)))
			drop = is_named(&nm, f, e);
		if (!drop)
			f->items[w++] = *e;
	}
	f->n = w;
	if (te_trailers)
		http_fields_add(f, "te", "trailers");
}

int h1_send_head(struct transport *t, const struct h1_head *h, const char *const *extra,
		 size_t n_extra)
{
	char stack[4096], *buf = stack;
	ssize_t len = h1_head_format(h, extra, n_extra, stack, sizeof(stack));
	int err;

	/* Most heads fit the stack, written in one pass; a longer one is measured first. */
	if (len == -ENOSPC) {
		len = h1_head_len_extra(h, extra, n_extra);
		if (len < 0)
			return (int)len;
		buf = malloc((size_t)len);
		if (!buf)
			return -ENOMEM;
		h1_head_write_extra(h, extra, n_extra, buf);
	}
	if (len < 0)
		return (int)len;
	err = transport_write(t, buf, (size_t)len);
	if (buf != stack)
		free(buf);
	return err;
}

int h1_send_body(struct transport *t, bool chunked, const char *data, size_t len)
{
	char line[20];
	int err;

	if (!len)
		return 0;
	if (!chunked)
		return transport_write(t, data, len);
	err = transport_write(t, line, h1_chunk_line(len, line));
	err = err ? err : transport_write(t, data, len);
	return err ? err : transport_write(t, H1_CHUNK_END, 2);
}
