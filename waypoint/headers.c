// SPDX-License-Identifier: Apache-2.0
/* Header operations (headers.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"

static bool authority_name(const char *n)
{
	return !strcasecmp(n, ":authority") || !strcasecmp(n, "host");
}

/* The new authority lives with the request's fields (their arena). */
static int set_authority(struct http_fields *h, char **authority, const char *v)
{
	char *s;

	if (!authority)
		return 0;
	s = http_fields_strndup(h, v, strlen(v));
	if (!s)
		return -ENOMEM;
	*authority = s;
	return 0;
}

int wp_headers_apply(struct http_fields *h, const struct config_header_ops *ops, char **authority)
{
	for (size_t i = 0; i < ops->remove.n; i++)
		http_fields_remove(h, ops->remove.items[i]);
	for (size_t i = 0; i < ops->set.n; i++) {
		const struct config_label *l = &ops->set.items[i];

		if (authority_name(l->key)) {
			if (set_authority(h, authority, l->value))
				return -ENOMEM;
			continue;
		}
		http_fields_remove(h, l->key);
		if (http_fields_add(h, l->key, l->value))
			return -ENOMEM;
	}
	for (size_t i = 0; i < ops->add.n; i++) {
		const struct config_label *l = &ops->add.items[i];

		if (authority_name(l->key)) {
			if (set_authority(h, authority, l->value))
				return -ENOMEM;
			continue;
		}
		if (http_fields_add(h, l->key, l->value))
			return -ENOMEM;
	}
	return 0;
}
