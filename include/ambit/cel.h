/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The part of CEL (Common Expression Language) Istio's Telemetry filters are written in, over
 * Envoy's request attributes: `response.code >= 400`, `request.headers['x-user'] == "jason"`,
 * `!(request.url_path.startsWith('/health')) && connection.mtls`. No C library of CEL exists
 * in Debian; this is the subset the filters of Istio's documentation and tests use, with an
 * error naming what it does not take:
 *
 *   expr    := or ['?' expr ':' expr]
 *   or      := and {'||' and}          and := unary {'&&' unary}
 *   unary   := '!' unary | '-' unary | cmp
 *   cmp     := primary [('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in') primary]
 *   primary := '(' expr ')' | INT | STRING | 'true' | 'false' | 'null' | '[' list ']'
 *            | ATTRIBUTE ['[' STRING ']'] {'.' METHOD '(' STRING ')'}
 *   METHOD  := startsWith | endsWith | contains | matches (an RE2-style regex, PCRE2)
 *
 * Attributes are Envoy's (request.method, request.path, request.url_path, request.host,
 * request.scheme, request.protocol, request.id, request.useragent, request.referer,
 * request.size, request.total_size, request.headers[...], response.code,
 * response.code_details, response.grpc_status, response.size, response.flags_text
 * (ambit: Envoy's response flags as its access log writes them), response.headers[...],
 * connection.mtls, connection.requested_server_name, source.address, source.port,
 * destination.address, destination.port, upstream.address, xds.cluster_name,
 * source.principal, destination.principal); an unknown one is a parse error.
 * Evaluation errors (no such header, a type mismatch) make the whole expression false, as
 * Envoy's CEL filters treat an error as no match.
 */
#ifndef AMBIT_CEL_H
#define AMBIT_CEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cel_type {
	CEL_NULL = 0,
	CEL_INT,
	CEL_STRING,
	CEL_BOOL,
};

struct cel_value {
	enum cel_type type;
	int64_t i;
	const char *s; /* borrowed */
	bool b;
};

/*
 * The value of attribute @name (one of the list above), @key the map key of headers[...]
 * (else NULL): false when the request has none (an evaluation error).
 */
typedef bool (*cel_attr_fn)(void *arg, const char *name, const char *key, struct cel_value *out);

struct cel_expr;

/* @src parsed; NULL with the reason and its offset in @err. */
struct cel_expr *cel_parse(const char *src, char *err, size_t errlen);
/* Whether @e holds for the attributes @fn gives (false on any evaluation error). */
bool cel_eval(const struct cel_expr *e, cel_attr_fn fn, void *arg);
/* The value of @e into @out (its string borrowed from @e or @fn's): false on an error. */
bool cel_eval_value(const struct cel_expr *e, cel_attr_fn fn, void *arg, struct cel_value *out);
/* Whether @e names attribute @name (its caller need not compute the others). */
bool cel_uses(const struct cel_expr *e, const char *name);
void cel_free(struct cel_expr *e);

#endif
