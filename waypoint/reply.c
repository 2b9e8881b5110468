// SPDX-License-Identifier: Apache-2.0
/* The local reply table (reply.h): Envoy's statuses, flags and bodies. */
#include "reply.h"

#define RESET_BODY "upstream connect error or disconnect/reset before headers. reset reason: "

#define RESET_DETAILS(r) "upstream_reset_before_response_started{" r "}"

static const struct wp_reply_info table[WP_REPLY_COUNT] = {
    [WP_REPLY_NO_ROUTE] = {404, "NR", "", false, "route_not_found"},
    [WP_REPLY_NO_HEALTHY] = {503, "UH", "no healthy upstream", false, "no_healthy_upstream"},
    [WP_REPLY_CONNECT_FAILURE] = {503, "UF", RESET_BODY "connection failure", false,
				  RESET_DETAILS("connection_failure")},
    [WP_REPLY_TIMEOUT] = {504, "UT", "upstream request timeout", false, "response_timeout"},
    [WP_REPLY_RETRY_LIMIT] = {503, "URX", RESET_BODY "connection failure", false,
			      RESET_DETAILS("connection_failure")},
    [WP_REPLY_FAULT_ABORT] = {0, "FI", "fault filter abort", false, "fault_filter_abort"},
    [WP_REPLY_FAULT_DELAY] = {0, "DI", "", false, ""},
    [WP_REPLY_OVERFLOW] = {503, "UO", RESET_BODY "overflow", true, RESET_DETAILS("overflow")},
    [WP_REPLY_DOWNSTREAM_CLOSED] = {0, "DC", "", false, "downstream_remote_disconnect"},
    [WP_REPLY_NO_CLUSTER] = {503, "NC", "", false, "cluster_not_found"},
    [WP_REPLY_UPSTREAM_RESET] = {503, "UR", RESET_BODY "remote reset", false,
				 RESET_DETAILS("remote_reset")},
    [WP_REPLY_UPSTREAM_TERMINATED] = {503, "UC", RESET_BODY "connection termination", false,
				      RESET_DETAILS("connection_termination")},
    [WP_REPLY_UPSTREAM_PROTOCOL] = {503, "UPE", RESET_BODY "protocol error", false,
				    RESET_DETAILS("protocol_error")},
    [WP_REPLY_STREAM_IDLE] = {408, "SI", "stream timeout", false, "stream_idle_timeout"},
    [WP_REPLY_UPGRADE_FAILED] = {403, "", "", false, "upgrade_failed"},
    [WP_REPLY_RBAC_DENIED] = {403, "", "RBAC: access denied", false, "rbac_access_denied"},
    [WP_REPLY_EXT_AUTHZ] = {403, "UAEX", "", false, "ext_authz_error"},
    [WP_REPLY_RATE_LIMITED] = {429, "RL", "local_rate_limited", false, "local_rate_limited"},
    [WP_REPLY_DNS_FAILURE] = {503, "DF", "DNS resolution failure", false, "dns_resolution_failure"},
};

const struct wp_reply_info *wp_reply(enum wp_reply r)
{
	return (unsigned int)r < WP_REPLY_COUNT ? &table[r] : &table[WP_REPLY_NO_ROUTE];
}

int wp_grpc_status_of_http(int status)
{
	switch (status) {
	case 400: return 13; /* INTERNAL */
	case 401: return 16; /* UNAUTHENTICATED */
	case 403: return 7;  /* PERMISSION_DENIED */
	case 404: return 12; /* UNIMPLEMENTED */
	case 429:
	case 502:
	case 503:
	case 504: return 14; /* UNAVAILABLE */
	default: return 2;   /* UNKNOWN */
	}
}
