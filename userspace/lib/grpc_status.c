// SPDX-License-Identifier: Apache-2.0
/* gRPC's status codes by name (grpc_status.h). */
#include <string.h>

#include "grpc_status.h"

const char *const grpc_status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
    NULL,
};

int grpc_status_code(const char *name)
{
	for (int i = 0; name && grpc_status_names[i]; i++)
		if (!strcmp(grpc_status_names[i], name))
			return i;
	return -1;
}
