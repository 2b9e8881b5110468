/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Envoy's ext_authz gRPC messages (envoy.service.auth.v3, proto/ at the top of the tree): the
 * CheckRequest the waypoint sends for a request, and the CheckResponse it reads back, as one
 * length-prefixed gRPC message each (gRPC over HTTP/2: a compressed flag byte, a 32-bit
 * big-endian length, the message). protobuf-c stays behind this seam.
 *
 * What an answer means, as Envoy's ext_authz gRPC client reads it: status.code 0 allows, with
 * ok_response's header operations on the request; any other code denies, answered with
 * denied_response's status (403 when absent or 0), headers and body, unless the answer carries
 * error_response, which is an error (failOpen / statusOnError) and no denial.
 */
#ifndef AMBIT_WAYPOINT_EXTAUTHZ_GRPC_H
#define AMBIT_WAYPOINT_EXTAUTHZ_GRPC_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http_fields.h"
#include "net/sock.h"

/* The method Envoy calls (its :path), and the largest answer read: the prefix included. */
#define XA_GRPC_PATH "/envoy.service.auth.v3.Authorization/Check"
#define XA_GRPC_ANSWER_MAX (64u << 10)
#define XA_GRPC_PREFIX 5

struct xa_grpc_peer {
	union sockaddr_inet addr; /* either family; family 0 or no address: not said */
	const char *principal;	  /* a SPIFFE URI, or NULL */
};

/* What a check says about a request (all borrowed; NULL strings are left out). */
struct xa_grpc_check {
	struct xa_grpc_peer source, destination;
	const char *id, *method, *path, *host, *scheme, *protocol;
	const struct http_fields *fields; /* the request's fields (host goes as :authority) */
};

/* HeaderValueOption's append_action, and the deprecated `append: true` (a value joined to an
 * existing field's with ", "). */
enum xa_grpc_action {
	XA_GRPC_APPEND_IF_EXISTS_OR_ADD = 0,
	XA_GRPC_ADD_IF_ABSENT,
	XA_GRPC_OVERWRITE_IF_EXISTS_OR_ADD,
	XA_GRPC_OVERWRITE_IF_EXISTS,
	XA_GRPC_APPEND_VALUE,
};

struct xa_grpc_header {
	const char *name, *value; /* a token name (any case), a value without CR, LF */
	enum xa_grpc_action action;
};

enum xa_grpc_verdict {
	XA_GRPC_OK = 0,
	XA_GRPC_DENIED,
	XA_GRPC_ERROR,
};

/* A decoded CheckResponse; its strings live in @msg until xa_grpc_answer_free. */
struct xa_grpc_answer {
	enum xa_grpc_verdict verdict;
	int code;   /* status.code (google.rpc.Code) */
	int status; /* DENIED: the HTTP status of the reply (403 unless the answer says) */
	struct xa_grpc_header *headers; /* OK: onto the request; DENIED: onto the reply */
	size_t n_headers;
	size_t n_invalid;    /* header operations dropped: a bad name or value */
	const char **remove; /* OK: headers_to_remove */
	size_t n_remove;
	const char *body; /* DENIED: the reply's body ("" if none) */
	size_t body_len;
	void *msg;
};

/*
 * The gRPC message (prefix included) of @c's CheckRequest into *@out (malloc'd, the caller's)
 * and *@len. 0 or -ENOMEM.
 */
int xa_grpc_encode(const struct xa_grpc_check *c, uint8_t **out, size_t *len);
/*
 * The response body @data (@len bytes: exactly one uncompressed gRPC message) read into @a.
 * 0; -EPROTO when it is not one message or not a CheckResponse; -ENOMEM. On failure @a holds
 * nothing to free.
 */
int xa_grpc_decode(const uint8_t *data, size_t len, struct xa_grpc_answer *a);
/* Frees what @a holds (accepts an answer that holds nothing). */
void xa_grpc_answer_free(struct xa_grpc_answer *a);
/*
 * An OK answer's operations on the request's fields @f, as Envoy's ext_authz applies them: each
 * header by its action in order, then headers_to_remove (never a pseudo-header or Host).
 * 0 or -ENOMEM.
 */
int xa_grpc_apply(const struct xa_grpc_answer *a, struct http_fields *f);
/*
 * A DENIED answer's headers as the local reply's fields into @out, with the actions resolved
 * among themselves (the reply has no field of its own yet). 0 or -ENOMEM.
 */
int xa_grpc_reply_fields(const struct xa_grpc_answer *a, struct http_fields *out);

#endif
