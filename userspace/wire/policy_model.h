/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L4 policy set's parts, made and unmade (policy_model.c): for the compiler (policy/) and the
 * codec (policy.c). The set itself is include/ambit/policy.h's.
 */
#ifndef AMBIT_WIRE_POLICY_MODEL_H
#define AMBIT_WIRE_POLICY_MODEL_H

#include <stddef.h>

#include "ambit/policy.h"

/* Parses an Istio pattern into @out (owned strings). 0, -EINVAL (empty) or -ENOMEM. */
int policy_str_init(struct policy_str *out, const char *text);

void policy_uids_free(char **u, size_t n);
void policy_match_free(struct policy_match *m);
void policy_rule_free(struct policy_rule *r);
void policy_authz_free(struct policy_authz *p);
void policy_mtls_free(struct policy_mtls *m);
void policy_peer_auth_free(struct policy_peer_auth *pa);

#endif
