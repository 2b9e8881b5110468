/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the EnvoyFilter kind: what the patches say before translation (envoyfilter.c reads
 * the patches and translates them; envoyfilter_values.c reads the patches' values, the
 * LocalRateLimit filter and the route's rate_limits and typed_per_filter_config).
 */
#ifndef AMBIT_KINDS_ENVOYFILTER_PRIV_H
#define AMBIT_KINDS_ENVOYFILTER_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "decode/decode.h"

#define RL struct config_rate_limit
#define TB struct config_token_bucket

#define FILTER_NAME "envoy.filters.http.local_ratelimit"
#define LRL_TYPE                                                                                   \
	"type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
#define HCM_NAME "envoy.filters.network.http_connection_manager"
#define MAX_ALTERNATIVES 64

/* ---- what the patches say, before translation ---- */

struct ef_entry {
	char *key, *value;
};

struct ef_desc {
	size_t n_entries;
	struct ef_entry *entries;
	TB bucket;
	bool has_bucket;
};

/* One Envoy HeaderMatcher. */
struct ef_header {
	char *name;
	char *exact, *prefix, *suffix, *contains, *regex;
	bool ignore_case, present, invert;
};

enum ef_action_type {
	EF_NONE = 0,
	EF_REMOTE_ADDRESS,
	EF_HEADER_VALUE_MATCH,
	EF_REQUEST_HEADERS,
	EF_GENERIC_KEY,
};

struct ef_action {
	enum ef_action_type type;
	char *key, *value; /* descriptor_key (defaulted), descriptor_value */
	bool expect_match, has_expect;
	size_t n_headers;
	struct ef_header *headers;
	char *header_name; /* request_headers */
	bool skip_if_absent;
};

struct ef_rate_limit {
	size_t n_actions;
	struct ef_action *actions;
};

/* A LocalRateLimit (the filter's, or a route's). */
struct ef_lrl {
	bool present;
	bool has_bucket;
	TB bucket;
	double enabled, enforced;
	int status;
	bool xrl, always_consume;
	struct config_labels headers;
	size_t n_desc;
	struct ef_desc *desc;
	yaml_node_t *desc_node;
};

struct ef_patch {
	char *apply_to, *operation, *context;
	uint16_t port;
	bool route_action_any;
	/* HTTP_FILTER */
	bool is_filter;
	struct ef_lrl lrl;
	/* HTTP_ROUTE */
	size_t n_rate_limits;
	struct ef_rate_limit *rate_limits;
	yaml_node_t *node;
};

/* A string field that must be @want. */
int ef_want_str(struct cfg_ctx *ctx, yaml_node_t *v, const char *want);
/* A string field that must not be empty, into *@out (malloc'd). */
int ef_nonempty(struct cfg_ctx *ctx, yaml_node_t *v, char **out);
/* The fields of an HTTP_FILTER patch's value and of an HTTP_ROUTE MERGE's (envoyfilter_values.c).
 */
extern const struct cfg_field ef_filter_value_fields[], ef_route_value_fields[];

#endif
