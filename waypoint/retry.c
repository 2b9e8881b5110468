// SPDX-License-Identifier: Apache-2.0
/* Retry classification and backoff (retry.h). */
#include "retry.h"

static bool has(const struct l7_retry *r, uint32_t bit)
{
	return (r->retry_on & bit) != 0;
}

static bool grpc_retry(const struct l7_retry *r, int g)
{
	/* gRPC codes: CANCELLED 1, DEADLINE_EXCEEDED 4, RESOURCE_EXHAUSTED 8, INTERNAL 13,
	 * UNAVAILABLE 14. */
	return (g == 1 && has(r, L7_RETRY_GRPC_CANCELLED)) ||
	       (g == 4 && has(r, L7_RETRY_GRPC_DEADLINE_EXCEEDED)) ||
	       (g == 8 && has(r, L7_RETRY_GRPC_RESOURCE_EXHAUSTED)) ||
	       (g == 13 && has(r, L7_RETRY_GRPC_INTERNAL)) ||
	       (g == 14 && has(r, L7_RETRY_GRPC_UNAVAILABLE));
}

bool wp_retry_wanted(const struct l7_retry *r, const struct wp_attempt *a)
{
	switch (a->failure) {
	case WP_FAIL_OVERFLOW: return false;
	case WP_FAIL_CONNECT:
		return has(r, L7_RETRY_5XX | L7_RETRY_GATEWAY_ERROR | L7_RETRY_RESET |
				  L7_RETRY_CONNECT_FAILURE | L7_RETRY_RESET_BEFORE_REQUEST);
	case WP_FAIL_REFUSED_STREAM:
		return has(r, L7_RETRY_5XX | L7_RETRY_GATEWAY_ERROR | L7_RETRY_RESET |
				  L7_RETRY_REFUSED_STREAM | L7_RETRY_RESET_BEFORE_REQUEST);
	case WP_FAIL_RESET_BEFORE_SEND:
		return has(r, L7_RETRY_5XX | L7_RETRY_GATEWAY_ERROR | L7_RETRY_RESET |
				  L7_RETRY_RESET_BEFORE_REQUEST);
	case WP_FAIL_RESET:
	case WP_FAIL_PER_TRY_TIMEOUT:
		/* "No response at all" is what 5xx, gateway-error and reset retry. */
		return has(r, L7_RETRY_5XX | L7_RETRY_GATEWAY_ERROR | L7_RETRY_RESET);
	case WP_FAIL_NONE: break;
	}
	if (a->overloaded)
		return false;
	if (a->ratelimited)
		return has(r, L7_RETRY_ENVOY_RATELIMITED);
	if (has(r, L7_RETRY_5XX) && a->status >= 500 && a->status <= 599)
		return true;
	if (has(r, L7_RETRY_GATEWAY_ERROR) &&
	    (a->status == 502 || a->status == 503 || a->status == 504))
		return true;
	if (has(r, L7_RETRY_RETRIABLE_4XX) && a->status == 409)
		return true;
	if (has(r, L7_RETRY_RETRIABLE_STATUS_CODES))
		for (size_t i = 0; i < r->n_codes; i++)
			if (r->codes[i] == a->status)
				return true;
	return a->grpc_status >= 0 && grpc_retry(r, a->grpc_status);
}

void wp_backoff_init(struct wp_backoff *b, const struct l7_retry *r)
{
	b->base_ms = r->backoff_base_ms ? r->backoff_base_ms : 25;
	b->max_ms = r->backoff_max_ms >= b->base_ms ? r->backoff_max_ms : 10 * b->base_ms;
	b->next_ms = b->base_ms;
}

/* Envoy's JitteredExponentialBackOffStrategy. */
uint64_t wp_backoff_next(struct wp_backoff *b, uint64_t rnd)
{
	uint64_t interval = b->next_ms;

	b->next_ms = b->next_ms < b->max_ms / 2 ? b->next_ms * 2 : b->max_ms;
	return rnd % interval;
}
