// SPDX-License-Identifier: Apache-2.0
/* Envoy's retry_on conditions (retry_on.h). */
#include <stddef.h>

#include "ambit/l7.h"
#include "retry_on.h"

const char *const retry_on_names[] = {
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
    NULL,
};

_Static_assert(sizeof(retry_on_names) / sizeof(retry_on_names[0]) == L7_RETRY_NAMES + 1,
	       "one name a retryOn bit of the L7 model");
