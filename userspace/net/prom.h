/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition (format 0.0.4) shared by the proxies' metrics: a growing text
 * buffer, label sets rendered with escaping (Istio prints "unknown" for an empty label), and
 * histograms with cumulative buckets.
 */
#ifndef AMBIT_NET_PROM_H
#define AMBIT_NET_PROM_H

#include <stddef.h>
#include <stdint.h>

struct prom_buf {
	char *s; /* NUL-terminated, malloc'd */
	size_t len, cap;
	int err; /* -ENOMEM once an append failed: the text is incomplete */
};

/* Appends printf-style; failures are remembered in @b->err. */
void prom_printf(struct prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the text (caller frees): NULL when an append failed. Resets @b. */
char *prom_take(struct prom_buf *b);

struct prom_label {
	const char *name, *value; /* value NULL or "": "unknown" */
};

/* Renders @n labels as `a="x",b="y"` into @out (@len bytes, always terminated). */
void prom_labels(const struct prom_label *l, size_t n, char *out, size_t len);

/*
 * One histogram series: `<name>_bucket{<labels>,le="<bound>"}` for each of @nb bounds with
 * @counts cumulated (counts[i]: observations in (bounds[i-1], bounds[i]]; counts[nb]: above
 * the last), then +Inf, _sum and _count.
 */
void prom_histogram(struct prom_buf *b, const char *name, const char *labels, const double *bounds,
		    size_t nb, const uint64_t *counts, double sum);

#endif
