/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which of many labelled objects a selector may select, without matching it against each one:
 * a table from (namespace, label key, value), and from (key, value) in any namespace, to the
 * objects carrying that label, in their order. A selector's candidates are the shortest such
 * list of its labels: a superset of what it selects (hashes may meet), in the objects' order,
 * each still to be matched in full. 10,000 policies over 10,000 pods match 10,000 candidates,
 * not a hundred million pairs.
 */
#ifndef AMBIT_LABEL_INDEX_H
#define AMBIT_LABEL_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "ambit/config.h"

struct label_index {
	size_t cap; /* slots: a power of two, at most half full */
	struct label_slot *t;
	size_t *pool; /* every list, one after the other */
};

/*
 * Indexes @n objects: object i is in namespace @ns_of(@ctx, i) with labels @labels_of(@ctx, i)
 * (either may be NULL: no namespace, no labels). 0 or -ENOMEM (then @ix is empty: every
 * selector's caller scans).
 */
int label_index_build(struct label_index *ix, size_t n, const char *(*ns_of)(void *, size_t),
		      const struct config_labels *(*labels_of)(void *, size_t), void *ctx);
/*
 * The candidates of @sel in namespace @ns (NULL: any): *@n indexes, ascending. NULL with *@n 0
 * when none can match; NULL with *@n SIZE_MAX when the caller must scan: @sel has no label
 * (it selects everything), or @ix was not built.
 */
const size_t *label_index_candidates(const struct label_index *ix, const char *ns,
				     const struct config_labels *sel, size_t *n);
void label_index_free(struct label_index *ix);

#endif
