/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 model's parts, made and unmade (l7_model.c, and each part's own file of the wire): for
 * the compiler (l7/) and the codec. The model itself is include/ambit/l7.h's.
 */
#ifndef AMBIT_WIRE_L7_MODEL_H
#define AMBIT_WIRE_L7_MODEL_H

#include <stddef.h>

#include "ambit/l7.h"

/* Copies (deep) of config parts the model reuses. 0 or -ENOMEM. */
int l7_copy_headers(struct config_headers *dst, const struct config_headers *src);
int l7_copy_header_ops(struct config_header_ops *dst, const struct config_header_ops *src);
int l7_copy_strings(struct config_strings *dst, const struct config_strings *src);
int l7_copy_labels(struct config_labels *dst, const struct config_labels *src);
/* l7_authz.c: an AuthorizationPolicy's rule, every string list of its sources and operations. */
int l7_authz_rule_copy(struct config_authz_rule *dst, const struct config_authz_rule *src);
/* strdup, NULL for NULL. */
char *l7_strdup(const char *s);

/* @n match blocks freed. */
void l7_matches_free(struct l7_match *m, size_t n);
/* Frees what certificate @t owns. */
void l7_tls_cert_free(struct l7_tls_cert *t);
/* Each part's own file: l7_authz.c, l7_ratelimit.c, l7_telemetry.c. */
void l7_authz_clear(struct l7_authz *a);
void l7_jwt_clear(struct l7_jwt *j);
void l7_ext_authz_clear(struct l7_ext_authz *x);
void l7_ratelimit_clear(struct l7_ratelimit *r);
void l7_telemetry_clear(struct l7_telemetry *t);

#endif
