/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC's status codes by name (grpc/doc/statuscodes.md), for the config and the L7 model. */
#ifndef AMBIT_GRPC_STATUS_H
#define AMBIT_GRPC_STATUS_H

/* "OK" .. "UNAUTHENTICATED", indexed by code (0-16), NULL-terminated. */
extern const char *const grpc_status_names[];
/* The code @name stands for, or -1 (also for NULL). */
int grpc_status_code(const char *name);

#endif
