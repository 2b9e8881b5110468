// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "kdrops.h"

#define KDROPS_NAME "ambit_kernel_drops_total"

char *kdrops_render(const char *pin_root)
{
	uint64_t counts[AMBIT_REASON__COUNT];
	size_t cap = 256 + AMBIT_REASON__COUNT * 96, len;
	char *out = malloc(cap);
	int err = 0, n;

	if (!out)
		return NULL;
	n = snprintf(out, cap,
		     "# HELP " KDROPS_NAME " Packets and connects the node's BPF programs refused, "
		     "by reason (refused SYNs are answered with a TCP reset).\n"
		     "# TYPE " KDROPS_NAME " counter\n");
	len = (size_t)n;
	if (!pin_root)
		return out;
	err = datapath_read_counters_pinned(pin_root, counts);
	if (err) {
		/* A scrape must not fail for it: Istio's families still matter without these. */
		pr_warn("metrics: cannot read %s/counters: %s", pin_root, strerror(-err));
		return out;
	}
	for (unsigned int r = 0; r < AMBIT_REASON__COUNT; r++) {
		if (!ambit_reason_is_drop(r))
			continue;
		n = snprintf(out + len, cap - len, KDROPS_NAME "{reason=\"%s\"} %llu\n",
			     ambit_reason_name(r), (unsigned long long)counts[r]);
		/* cap holds every reason's line: names are short identifiers from reasons.h. */
		if (n < 0 || (size_t)n >= cap - len) {
			free(out);
			errno = EOVERFLOW;
			return NULL;
		}
		len += (size_t)n;
	}
	return out;
}
