/* SPDX-License-Identifier: Apache-2.0 */
/* Envoy's retry_on conditions, for the config's check and the L7 model's bits. */
#ifndef AMBIT_RETRY_ON_H
#define AMBIT_RETRY_ON_H

/*
 * "5xx" .. "unavailable" (HTTP's and gRPC's), indexed by the L7 model's retryOn bit
 * (include/ambit/l7.h, L7_RETRY_*), NULL-terminated.
 */
extern const char *const retry_on_names[];

#endif
