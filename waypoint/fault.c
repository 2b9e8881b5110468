// SPDX-License-Identifier: Apache-2.0
/* Fault injection decisions (fault.h). */
#include <string.h>

#include "fault.h"

#define MILLION 1000000u

void wp_fault_decide(const struct l7_fault *f, uint64_t rnd_delay, uint64_t rnd_abort,
		     struct wp_fault_decision *out)
{
	memset(out, 0, sizeof(*out));
	out->grpc_status = -1;
	if (f->delay && rnd_delay % MILLION < f->delay_ppm)
		out->delay_ms = f->delay_ms;
	if (f->abort && rnd_abort % MILLION < f->abort_ppm) {
		out->abort = true;
		out->http_status = f->abort_grpc >= 0 ? 0 : f->abort_http;
		out->grpc_status = f->abort_grpc;
	}
}
