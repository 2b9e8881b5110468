/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the L7 model's codec: its name tables and its parts' encoders and decoders. */
#ifndef AMBIT_WIRE_L7_PRIV_H
#define AMBIT_WIRE_L7_PRIV_H

#include "dec.h"
#include "l7_model.h"

/* NULL-terminated, indexed by the enum they name. */
extern const char *const l7_match_names[],
    *const l7_action_names[], *const l7_routes_kind_names[], *const l7_resolution_names[];
extern const char *const l7_lb_names[], *const l7_hash_names[], *const l7_h2_names[];
extern const char *const l7_derive_names[], *const l7_preflight_names[];

struct cJSON;

/* The "protocol" member of @o (required), by l7_protocol_name. */
enum l7_protocol l7j_dprotocol(struct wire_dec *d, const struct cJSON *o, const char *path);
/* l7_dec_svc.c: a service's ports, endpoints, subsets and policies. */
void l7j_ports(struct wire_dec *d, const struct cJSON *o, const char *path, struct l7_service *s);
void l7j_endpoints(struct wire_dec *d, const struct cJSON *o, const char *path,
		   struct l7_service *s);
void l7j_subsets(struct wire_dec *d, const struct cJSON *o, const char *path, struct l7_service *s);
void l7j_policies(struct wire_dec *d, const struct cJSON *o, const char *path,
		  struct l7_service *s);
/* A gateway's "tunnels" (each VIP once, each with its waypoint's addresses of its family). */
void l7j_tunnels(struct wire_dec *d, const struct cJSON *j, struct l7_config *c);

/* Member @key: indices into a model list of @max (omitted when empty); decoded strictly. */
int l7j_indices_to_json(struct cJSON *o, const char *key, const uint32_t *v, size_t n);
void l7j_dindices(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path,
		  size_t max, uint32_t **out, size_t *nout);
/* A "matches" array of route match blocks: encoded into @o (0 or -ENOMEM), decoded from @o. */
int l7j_matches_to_json(struct cJSON *o, const struct l7_match *m, size_t n);
void l7j_dmatches(struct wire_dec *d, const struct cJSON *o, const char *path,
		  struct l7_match **out, size_t *nout);
/* l7_ratelimit.c: the local rate limits ("rateLimits") and a service's indices into them. */
int l7j_ratelimits_to_json(const struct l7_config *c, struct cJSON *root);
void l7j_ratelimits(struct wire_dec *d, const struct cJSON *j, struct l7_config *c);
int l7j_service_ratelimits_to_json(const struct l7_service *s, struct cJSON *o);
void l7j_service_ratelimits(struct wire_dec *d, const struct cJSON *o, const char *path,
			    const struct l7_config *c, struct l7_service *s);

/* l7_telemetry.c: "tracing" and "meshId" of the model, a service's index into it ("tracing"). */
int l7j_telemetry_to_json(const struct l7_config *c, struct cJSON *root);
void l7j_telemetry(struct wire_dec *d, const struct cJSON *j, struct l7_config *c);

/* l7_authz.c: the policies ("authz") and a service's indices into them. */
int l7j_authz_to_json(const struct l7_config *c, struct cJSON *root);
int l7j_service_authz_to_json(const struct l7_service *s, struct cJSON *o);
void l7j_authz(struct wire_dec *d, const struct cJSON *j, struct l7_config *c);
/* After the services: each provider names its service by index. */
void l7j_ext_authz(struct wire_dec *d, const struct cJSON *j, struct l7_config *c);
void l7j_service_authz(struct wire_dec *d, const struct cJSON *o, const char *path,
		       const struct l7_config *c, struct l7_service *s);

#endif
