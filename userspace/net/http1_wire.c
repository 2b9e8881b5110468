// SPDX-License-Identifier: Apache-2.0
/* Heads and bodies on the wire, and the hop-by-hop fields a proxy drops (http1_conn.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1_priv.h"

/* Whether comma-separated list @list names @name (case-insensitive, OWS around elements). */
static bool list_has(const char *list, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = list; *p;) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == nl && !strncasecmp(p, name, n))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Whether a Connection field of @f names @name. */
static bool named_by_connection(const struct http_fields *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcasecmp(f->items[i].name, "connection") &&
		    list_has(f->items[i].value, name))
			return true;
	return false;
}

void h1_strip_hop(struct http_fields *f, bool request, bool upgrading)
{
	static const char *const fixed[] = {"keep-alive", "proxy-connection", "transfer-encoding",
					    "content-length"};
	bool te_trailers = false;
	size_t w = 0;

	/* Every field the Connection header names is this hop's (RFC 9110 §7.6.1). */
	for (size_t i = 0; i < f->n; i++) {
		struct http_field *e = &f->items[i];

		if (strcasecmp(e->name, "connection") && named_by_connection(f, e->name) &&
		    !(upgrading && !strcasecmp(e->name, "upgrade"))) {
			e->name[0] = '\0'; /* dropped below */
			continue;
		}
	}
	for (size_t i = 0; i < f->n; i++) {
		if (!f->items[i].name[0]) {
			free(f->items[i].name);
			free(f->items[i].value);
			continue;
		}
		f->items[w++] = f->items[i];
	}
	f->n = w;
	http_fields_remove(f, "connection");
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		http_fields_remove(f, fixed[i]);
	/* TE: only "trailers" may travel on (Envoy keeps a request's "te: trailers" for gRPC). */
	if (request)
		for (size_t i = 0; i < f->n; i++)
			if (!strcasecmp(f->items[i].name, "te") &&
			    list_has(f->items[i].value, "trailers"))
				te_trailers = true;
	http_fields_remove(f, "te");
	if (te_trailers)
		http_fields_add(f, "te", "trailers");
	if (!upgrading)
		http_fields_remove(f, "upgrade");
}

int h1_send_head(struct transport *t, const struct h1_head *h, const char *const *extra,
		 size_t n_extra)
{
	struct h1_head tmp = *h;
	struct http_field items[8];
	struct http_field *all;
	ssize_t len;
	char *buf;
	int err;

	if (n_extra > sizeof(items) / sizeof(items[0]))
		return -EINVAL;
	all = malloc((h->fields.n + n_extra + 1) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	if (h->fields.n)
		memcpy(all, h->fields.items, h->fields.n * sizeof(*all));
	for (size_t i = 0; i < n_extra; i++) {
		all[h->fields.n + i].name = (char *)extra[2 * i];
		all[h->fields.n + i].value = (char *)extra[2 * i + 1];
	}
	tmp.fields.items = all;
	tmp.fields.n = tmp.fields.cap = h->fields.n + n_extra;
	len = h1_head_len(&tmp);
	if (len < 0) {
		free(all);
		return (int)len;
	}
	buf = malloc((size_t)len);
	if (!buf) {
		free(all);
		return -ENOMEM;
	}
	h1_head_write(&tmp, buf);
	err = transport_write(t, buf, (size_t)len);
	free(buf);
	free(all);
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
