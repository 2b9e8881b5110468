/* SPDX-License-Identifier: Apache-2.0 */
/* Private to policy*.c: building blocks shared by the compiler and the JSON codec. */
#ifndef AMBIT_POLICY_PRIV_H
#define AMBIT_POLICY_PRIV_H

#include "ambit/policy.h"

/*
 * An address list entry that never matches (an IPv6 block: the mesh is IPv4 only). Its address
 * has bits outside its (empty) mask, which no parsed CIDR can have.
 */
#define POLICY_CIDR_NONE_ADDR 0xffffffffu

/* Parses an Istio pattern into @out (owned strings). 0, -EINVAL (empty) or -ENOMEM. */
int policy_str_init(struct policy_str *out, const char *text);
/* Parses "a.b.c.d[/len]" (IPv6 gives the never-matching entry). 0 or -EINVAL. */
int policy_cidr_parse(const char *text, struct policy_cidr *out);
/* Formats @c as "a.b.c.d/len" (or "none") into @buf of at least 24 bytes. */
void policy_cidr_format(const struct policy_cidr *c, char *buf, size_t len);

void policy_match_free(struct policy_match *m);
void policy_rule_free(struct policy_rule *r);
void policy_authz_free(struct policy_authz *p);
void policy_mtls_free(struct policy_mtls *m);
void policy_peer_auth_free(struct policy_peer_auth *pa);

/* bsearch comparators over the sorted arrays of a set. */
int policy_cmp_authz(const void *a, const void *b);
int policy_cmp_workload(const void *a, const void *b);
int policy_cmp_namespace(const void *a, const void *b);
int policy_cmp_port(const void *a, const void *b);

#endif
