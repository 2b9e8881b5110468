/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault injection decisions (API_SEMANTICS.md §1.3): the delay and the abort are independent
 * draws, each applied when the draw modulo one million falls under its parts per million (Envoy's
 * fractional percent with a MILLION denominator). The caller injects the two random values.
 */
#ifndef AMBIT_WAYPOINT_FAULT_H
#define AMBIT_WAYPOINT_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "ambit/l7.h"

struct wp_fault_decision {
	uint64_t delay_ms; /* 0: no delay (response flag DI otherwise) */
	bool abort;	   /* answer locally (response flag FI): */
	int http_status;   /* the status, or 0 with a gRPC status */
	int grpc_status;   /* -1 with an HTTP status */
};

void wp_fault_decide(const struct l7_fault *f, uint64_t rnd_delay, uint64_t rnd_abort,
		     struct wp_fault_decision *out);

#endif
