/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local replies a waypoint answers itself, with the status, Envoy response flag and body
 * Istio users see in access logs and responses (API_SEMANTICS.md §2): no route (NR, 404), no
 * healthy upstream (UH, 503), connect failure (UF, 503), upstream timeout (UT, 504), retry limit
 * (URX), fault abort (FI) and delay (DI), local rate limit (RL, 429), circuit breaker overflow (UO,
 * 503, with x-envoy-overloaded), downstream disconnect (DC), unknown cluster (NC, 503), upstream
 * reset (UR) and connection termination (UC). gRPC requests get the status as grpc-status in a
 * trailers-only 200 (Envoy's HTTP-to-gRPC mapping).
 */
#ifndef AMBIT_WAYPOINT_REPLY_H
#define AMBIT_WAYPOINT_REPLY_H

#include <stdbool.h>

enum wp_reply {
	WP_REPLY_NO_ROUTE = 0,	      /* NR */
	WP_REPLY_NO_HEALTHY,	      /* UH */
	WP_REPLY_CONNECT_FAILURE,     /* UF */
	WP_REPLY_TIMEOUT,	      /* UT */
	WP_REPLY_RETRY_LIMIT,	      /* URX */
	WP_REPLY_FAULT_ABORT,	      /* FI */
	WP_REPLY_FAULT_DELAY,	      /* DI: a flag, the request goes on */
	WP_REPLY_OVERFLOW,	      /* UO */
	WP_REPLY_DOWNSTREAM_CLOSED,   /* DC */
	WP_REPLY_NO_CLUSTER,	      /* NC */
	WP_REPLY_UPSTREAM_RESET,      /* UR */
	WP_REPLY_UPSTREAM_TERMINATED, /* UC */
	WP_REPLY_UPSTREAM_PROTOCOL,   /* UPE: a response the HTTP/1 parser refused */
	WP_REPLY_STREAM_IDLE,	      /* SI: 408, or 504 once the request was whole */
	WP_REPLY_UPGRADE_FAILED,      /* an Upgrade or CONNECT no configuration allows: 403 */
	WP_REPLY_RBAC_DENIED,	      /* an AuthorizationPolicy denied it: 403 */
	WP_REPLY_EXT_AUTHZ,	      /* UAEX: the external authorizer denied or was not asked */
	WP_REPLY_RATE_LIMITED,	      /* RL: a local rate limit's bucket was empty: 429 */
	WP_REPLY_DNS_FAILURE,	      /* DF: a DYNAMIC_DNS name did not resolve: 503 */
	WP_REPLY_COUNT,
};

struct wp_reply_info {
	int status;	     /* 0: no response is sent (DI, DC) */
	const char *flag;    /* Envoy's response flag, e.g. "UH" */
	const char *body;    /* Envoy's body text, "" for none */
	bool overloaded;     /* add x-envoy-overloaded: true */
	const char *details; /* Envoy's %RESPONSE_CODE_DETAILS% */
};

/* Borrowed, static. */
const struct wp_reply_info *wp_reply(enum wp_reply r);
/* Envoy's Grpc::Utility::httpToGrpcStatus: the grpc-status for a local reply's HTTP status. */
int wp_grpc_status_of_http(int status);

#endif
