/* SPDX-License-Identifier: Apache-2.0 */
/* The L7 JSON codec's shared name tables (json.c encodes, json_dec.c decodes). */
#ifndef AMBIT_L7_JSON_PRIV_H
#define AMBIT_L7_JSON_PRIV_H

#include "compile_priv.h"

/* NULL-terminated, indexed by the enum they name. */
extern const char *const l7_match_names[],
    *const l7_action_names[], *const l7_routes_kind_names[], *const l7_resolution_names[];
extern const char *const l7_lb_names[], *const l7_hash_names[], *const l7_h2_names[];
extern const char *const l7_derive_names[], *const l7_preflight_names[];

/* The strict decoder's state and helpers (json_dec.c), shared with json_dec_svc.c. */
struct cJSON;

#define L7J_MAX_LIST 100000

struct l7j_dec {
	char *err;
	size_t errlen;
	bool failed;
};

/* Records the first failure (later ones keep it). */
void l7j_fail(struct l7j_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* @o is an object whose members are all in the NULL-terminated @allowed. */
/* The "protocol" member of @o (required), by l7_protocol_name. */
enum l7_protocol l7j_dprotocol(struct l7j_dec *d, const struct cJSON *o, const char *path);
bool l7j_keys(struct l7j_dec *d, const struct cJSON *o, const char *path,
	      const char *const *allowed);
/* Member @key: a malloc'd string (NULL when absent), an integer in [@min, @max], a boolean,
 * an index into @names, an array (NULL when absent; its size in *@n), an IPv4 address. */
char *l7j_dstr(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path,
	       bool req);
double l7j_dnum(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path,
		double min, double max, bool req);
bool l7j_dbool(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path);
int l7j_denum(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path,
	      const char *const *names, bool req);
const struct cJSON *l7j_darr(struct l7j_dec *d, const struct cJSON *o, const char *key,
			     const char *path, size_t *n);
void *l7j_dalloc(struct l7j_dec *d, size_t n, size_t size, const char *path);
uint32_t l7j_dip(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path);
/* An optional IPv6 address (one, not a prefix, not a mapped IPv4): family 0 when absent. */
struct ipaddr l7j_dip6(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path);
void l7j_dstrings(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path,
		  struct config_strings *out);
void l7j_dlabels(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path,
		 struct config_labels *out);
/* json_dec_svc.c: a service's ports, endpoints, subsets and policies. */
void l7j_ports(struct l7j_dec *d, const struct cJSON *o, const char *path, struct l7_service *s);
void l7j_endpoints(struct l7j_dec *d, const struct cJSON *o, const char *path,
		   struct l7_service *s);
void l7j_subsets(struct l7j_dec *d, const struct cJSON *o, const char *path, struct l7_service *s);
void l7j_policies(struct l7j_dec *d, const struct cJSON *o, const char *path, struct l7_service *s);
/* A gateway's "tunnels" (each VIP once, each with its waypoint's addresses of its family). */
void l7j_tunnels(struct l7j_dec *d, const struct cJSON *j, struct l7_config *c);

/* Member @key: indices into a model list of @max (omitted when empty); decoded strictly. */
int l7j_indices_to_json(struct cJSON *o, const char *key, const uint32_t *v, size_t n);
void l7j_dindices(struct l7j_dec *d, const struct cJSON *o, const char *key, const char *path,
		  size_t max, uint32_t **out, size_t *nout);
/* A "matches" array of route match blocks: encoded into @o (0 or -ENOMEM), decoded from @o. */
int l7j_matches_to_json(struct cJSON *o, const struct l7_match *m, size_t n);
void l7j_dmatches(struct l7j_dec *d, const struct cJSON *o, const char *path, struct l7_match **out,
		  size_t *nout);
/* ratelimit.c: the local rate limits ("rateLimits") and a service's indices into them. */
void l7j_ratelimits(struct l7j_dec *d, const struct cJSON *j, struct l7_config *c);
int l7_service_ratelimits_to_json(const struct l7_service *s, struct cJSON *o);
void l7j_service_ratelimits(struct l7j_dec *d, const struct cJSON *o, const char *path,
			    const struct l7_config *c, struct l7_service *s);

/* l7_tracing.c: "tracing" and "meshId" of the model, a service's index into it ("tracing"). */
int l7_telemetry_to_json(const struct l7_config *c, struct cJSON *root);
void l7j_telemetry(struct l7j_dec *d, const struct cJSON *j, struct l7_config *c);

/* authz.c: the policies ("authz") and a service's indices into them. */
int l7_authz_to_json(const struct l7_config *c, struct cJSON *root);
int l7_service_authz_to_json(const struct l7_service *s, struct cJSON *o);
void l7j_authz(struct l7j_dec *d, const struct cJSON *j, struct l7_config *c);
/* After the services: each provider names its service by index. */
void l7j_ext_authz(struct l7j_dec *d, const struct cJSON *j, struct l7_config *c);
void l7j_service_authz(struct l7j_dec *d, const struct cJSON *o, const char *path,
		       const struct l7_config *c, struct l7_service *s);

#endif
