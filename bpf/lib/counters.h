/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Verdict/drop accounting by enum ambit_reason, summed over CPUs by datapath_read_counters(). */
#ifndef AMBIT_BPF_COUNTERS_H
#define AMBIT_BPF_COUNTERS_H

#include "lib/maps.h"

static __always_inline void counter_inc(enum ambit_reason reason)
{
	__u32 key = reason;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	/* Per-CPU slot: a plain increment cannot race with another CPU. */
	if (v)
		*v += 1;
}

#endif
