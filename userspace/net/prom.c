// SPDX-License-Identifier: Apache-2.0
/* Prometheus text exposition (prom.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

void prom_printf(struct prom_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	if (!b->s) {
		b->cap = 4096;
		b->s = malloc(b->cap);
		if (!b->s) {
			b->err = -ENOMEM;
			return;
		}
		b->s[0] = '\0';
	}
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = -EINVAL;
		return;
	}
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *p = realloc(b->s, cap);

		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->s = p;
		b->cap = cap;
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

char *prom_take(struct prom_buf *b)
{
	char *s = b->err ? NULL : b->s;

	if (b->err)
		free(b->s);
	else if (!s)
		s = strdup("");
	memset(b, 0, sizeof(*b));
	return s;
}

void prom_labels(const struct prom_label *l, size_t n, char *out, size_t len)
{
	char *p = out, *end = out + len;

	for (size_t i = 0; i < n && p < end - 8; i++) {
		const char *v = l[i].value && *l[i].value ? l[i].value : "unknown";

		p += snprintf(p, (size_t)(end - p), "%s%s=\"", i ? "," : "", l[i].name);
		for (; *v && p < end - 3; v++) {
			if (*v == '"' || *v == '\\' || *v == '\n') {
				*p++ = '\\';
				*p++ = *v == '\n' ? 'n' : *v;
			} else {
				*p++ = *v;
			}
		}
		if (p < end - 1)
			*p++ = '"';
	}
	*(p < end ? p : end - 1) = '\0';
}

void prom_histogram(struct prom_buf *b, const char *name, const char *labels, const double *bounds,
		    size_t nb, const uint64_t *counts, double sum)
{
	uint64_t cum = 0;

	for (size_t i = 0; i < nb; i++) {
		cum += counts[i];
		prom_printf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, bounds[i],
			    (unsigned long long)cum);
	}
	cum += counts[nb];
	prom_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
	prom_printf(b, "%s_sum{%s} %.17g\n", name, labels, sum);
	prom_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
}
