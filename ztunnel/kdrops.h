/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's kernel refusals on the ztunnel's /metrics: `ambit_kernel_drops_total{reason}`, one
 * series per DROP_* reason of include/ambit/reasons.h, read from the per-CPU `counters` map the
 * agent pinned under --pin-root (docs/internals/l4-policy.md).
 */
#ifndef ZT_KDROPS_H
#define ZT_KDROPS_H

/*
 * Prometheus text of the family, every drop reason by its printed name. @pin_root (borrowed)
 * NULL: the family with no series (this ztunnel has no data path). A map that cannot be read is
 * logged and leaves the family without series rather than failing the scrape. Returns a
 * malloc'd string (caller frees) or NULL when out of memory.
 */
char *kdrops_render(const char *pin_root);

#endif
