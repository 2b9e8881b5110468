/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Retry decisions as Envoy's router takes them for the policy Istio writes (API_SEMANTICS.md
 * §1.3; retry_state_impl.cc): whether an upstream outcome is retried under retryOn, and the
 * jittered exponential backoff between tries (base 25 ms unless set, max 10 x base; each wait
 * is drawn uniformly below an interval that doubles up to the max). Randomness is injected.
 */
#ifndef AMBIT_WAYPOINT_RETRY_H
#define AMBIT_WAYPOINT_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "ambit/l7.h"

enum wp_failure {
	WP_FAIL_NONE = 0,	   /* an upstream response arrived: judge its status */
	WP_FAIL_CONNECT,	   /* the connection could not be made (incl. connect timeout) */
	WP_FAIL_REFUSED_STREAM,	   /* HTTP/2 REFUSED_STREAM */
	WP_FAIL_RESET,		   /* reset after the request was sent */
	WP_FAIL_RESET_BEFORE_SEND, /* reset before the request was fully sent */
	WP_FAIL_PER_TRY_TIMEOUT,   /* no response within perTryTimeout */
	WP_FAIL_OVERFLOW,	   /* circuit breaker: never retried */
};

struct wp_attempt {
	enum wp_failure failure;
	int status;	  /* the response's status with WP_FAIL_NONE */
	int grpc_status;  /* grpc-status of the response, -1 when none */
	bool overloaded;  /* x-envoy-overloaded on the response: never retried */
	bool ratelimited; /* x-envoy-ratelimited: only with envoy-ratelimited */
};

/* Whether @a is retriable under @r (the attempt budget is the caller's). */
bool wp_retry_wanted(const struct l7_retry *r, const struct wp_attempt *a);

struct wp_backoff {
	uint64_t base_ms, max_ms, next_ms;
};

void wp_backoff_init(struct wp_backoff *b, const struct l7_retry *r);
/* The wait before the next retry, drawn with @rnd. */
uint64_t wp_backoff_next(struct wp_backoff *b, uint64_t rnd);

#endif
