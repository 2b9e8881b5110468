// SPDX-License-Identifier: Apache-2.0
/* Header operations (headers.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"

int wp_headers_add(struct wp_header_list *h, const char *name, const char *value)
{
	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 8;
		void *p = realloc(h->items, nc * sizeof(*h->items));

		if (!p)
			return -ENOMEM;
		h->items = p;
		h->cap = nc;
	}
	h->items[h->n].name = strdup(name);
	h->items[h->n].value = strdup(value);
	if (!h->items[h->n].name || !h->items[h->n].value) {
		free(h->items[h->n].name);
		free(h->items[h->n].value);
		return -ENOMEM;
	}
	h->n++;
	return 0;
}

const char *wp_headers_get(const struct wp_header_list *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcasecmp(h->items[i].name, name))
			return h->items[i].value;
	return NULL;
}

size_t wp_headers_count(const struct wp_header_list *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n; i++)
		n += !strcasecmp(h->items[i].name, name);
	return n;
}

static void remove_all(struct wp_header_list *h, const char *name)
{
	size_t w = 0;

	for (size_t i = 0; i < h->n; i++) {
		if (!strcasecmp(h->items[i].name, name)) {
			free(h->items[i].name);
			free(h->items[i].value);
			continue;
		}
		h->items[w++] = h->items[i];
	}
	h->n = w;
}

void wp_headers_free(struct wp_header_list *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->items[i].name);
		free(h->items[i].value);
	}
	free(h->items);
	memset(h, 0, sizeof(*h));
}

static bool authority_name(const char *n)
{
	return !strcasecmp(n, ":authority") || !strcasecmp(n, "host");
}

static int set_authority(char **authority, const char *v)
{
	char *s;

	if (!authority)
		return 0;
	s = strdup(v);
	if (!s)
		return -ENOMEM;
	free(*authority);
	*authority = s;
	return 0;
}

int wp_headers_apply(struct wp_header_list *h, const struct config_header_ops *ops,
		     char **authority)
{
	for (size_t i = 0; i < ops->remove.n; i++)
		remove_all(h, ops->remove.items[i]);
	for (size_t i = 0; i < ops->set.n; i++) {
		const struct config_label *l = &ops->set.items[i];

		if (authority_name(l->key)) {
			if (set_authority(authority, l->value))
				return -ENOMEM;
			continue;
		}
		remove_all(h, l->key);
		if (wp_headers_add(h, l->key, l->value))
			return -ENOMEM;
	}
	for (size_t i = 0; i < ops->add.n; i++) {
		const struct config_label *l = &ops->add.items[i];

		if (authority_name(l->key)) {
			if (set_authority(authority, l->value))
				return -ENOMEM;
			continue;
		}
		if (wp_headers_add(h, l->key, l->value))
			return -ENOMEM;
	}
	return 0;
}
