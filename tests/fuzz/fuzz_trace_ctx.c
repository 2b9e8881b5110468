// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile trace context fields into the waypoint's reader (trace.c), which
 * runs on every traced request: the input is header lines "name: value" (traceparent, b3,
 * x-b3-*), and what is read is written back upstream and must read back as the same trace.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../waypoint/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_fields f = {0};
	struct wp_trace_ctx c, back;
	const uint8_t span[8] = {1, 2, 3, 4, 5, 6, 7, 8}, parent[8] = {8, 7, 6, 5, 4, 3, 2, 1};
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(le - p));

		if (colon && colon > p) {
			const char *v = colon + 1;

			while (v < le && *v == ' ')
				v++;
			if (!memchr(p, '\0', (size_t)(le - p)) &&
			    http_fields_addn(&f, p, (size_t)(colon - p), v, (size_t)(le - v)))
				break;
		}
		p = nl ? nl + 1 : end;
	}
	if (wp_trace_extract(&f, &c)) {
		if (c.sampled < -1 || c.sampled > 1 || !c.has_parent)
			abort();
		if (wp_trace_inject(&f, &c, span, parent, c.sampled == 1) == 0) {
			if (!wp_trace_extract(&f, &back) || memcmp(back.trace_id, c.trace_id, 16) ||
			    memcmp(back.parent_id, span, 8))
				abort();
		}
	}
	http_fields_free(&f);
	return 0;
}
