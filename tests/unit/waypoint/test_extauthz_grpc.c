// SPDX-License-Identifier: Apache-2.0
/*
 * The ext_authz gRPC codec (waypoint/extauthz_grpc.c): a request's CheckRequest, read back with
 * the generated descriptors, and CheckResponses as an ext_authz server sends them. The answers'
 * bytes were made by python3-protobuf from proto/ (another implementation than protobuf-c), as
 * the integration test's server (t_83_waypoint_extauthz_grpc) makes its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envoy/service/auth/v3/external_auth.pb-c.h"
#include "../../../waypoint/extauthz_grpc.h"

#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1

/* status 0; ok_response: x-a APPEND_IF_EXISTS_OR_ADD, x-b append false, x-c append true, x-d
 * ADD_IF_ABSENT, x-e OVERWRITE_IF_EXISTS, "Bad Name", host; remove x-gone, host, :path. */
static const char ok_msg[] =
    "\x00\x00\x00\x00\x82\x0a\x00\x1a\x7e\x12\x0a\x0a\x08\x0a\x03\x78\x2d\x61\x12\x01\x31\x12"
    "\x0c\x0a\x08\x0a\x03\x78\x2d\x62\x12\x01\x32\x12\x00\x12\x0e\x0a\x08\x0a\x03\x78\x2d\x63"
    "\x12\x01\x33\x12\x02\x08\x01\x12\x0c\x0a\x08\x0a\x03\x78\x2d\x64\x12\x01\x34\x18\x01\x12"
    "\x0c\x0a\x08\x0a\x03\x78\x2d\x65\x12\x01\x35\x18\x03\x12\x0f\x0a\x0d\x0a\x08\x42\x61\x64"
    "\x20\x4e\x61\x6d\x65\x12\x01\x78\x12\x10\x0a\x0c\x0a\x04\x68\x6f\x73\x74\x12\x04\x65\x76"
    "\x69\x6c\x18\x02\x2a\x06\x78\x2d\x67\x6f\x6e\x65\x2a\x04\x68\x6f\x73\x74\x2a\x05\x3a\x70"
    "\x61\x74\x68";
/* status 7; denied_response 401, x-ext-authz-check-result: denied, body "no". */
static const char denied_msg[] =
    "\x00\x00\x00\x00\x35\x0a\x02\x08\x07\x12\x2f\x0a\x03\x08\x91\x03\x12\x24\x0a\x22\x0a\x18"
    "\x78\x2d\x65\x78\x74\x2d\x61\x75\x74\x68\x7a\x2d\x63\x68\x65\x63\x6b\x2d\x72\x65\x73\x75"
    "\x6c\x74\x12\x06\x64\x65\x6e\x69\x65\x64\x1a\x02\x6e\x6f";
/* status 7 alone. */
static const char denied_bare_msg[] = "\x00\x00\x00\x00\x04\x0a\x02\x08\x07";
/* status 13 with error_response 500. */
static const char error_msg[] = "\x00\x00\x00\x00\x0b\x0a\x02\x08\x0d\x2a\x05\x0a\x03\x08\xf4\x03";
/* An empty CheckResponse: no status is status 0. */
static const char empty_msg[] = "\x00\x00\x00\x00\x00";

static void test_encode(void **state)
{
	struct http_fields f = {0};
	struct xa_grpc_check c = {
	    .id = "req-1",
	    .method = "GET",
	    .path = "/headers?x=1",
	    .host = "server",
	    .scheme = "http",
	    .protocol = "HTTP/1.1",
	    .fields = &f,
	};
	Envoy__Service__Auth__V3__CheckRequest *m;
	const Envoy__Service__Auth__V3__AttributeContext__HttpRequest *h;
	uint8_t *b;
	size_t len;
	int seen = 0;

	sockaddr_inet_v4(&c.source.addr, inet_addr("10.1.0.5"), 40000);
	c.source.principal = "spiffe://cluster.local/ns/mesh/sa/client";
	sockaddr_inet_v4(&c.destination.addr, inet_addr("10.96.0.10"), 80);
	assert_int_equal(http_fields_add(&f, "host", "server"), 0);
	assert_int_equal(http_fields_add(&f, "x-ext-authz", "allow"), 0);
	assert_int_equal(http_fields_add(&f, "accept", "a"), 0);
	assert_int_equal(http_fields_add(&f, "x-ext-authz", "again"), 0);
	assert_int_equal(xa_grpc_encode(&c, &b, &len), 0);

	/* One uncompressed message, its length in the prefix. */
	assert_true(len > XA_GRPC_PREFIX);
	assert_int_equal(b[0], 0);
	assert_int_equal((size_t)b[1] << 24 | b[2] << 16 | b[3] << 8 | b[4], len - XA_GRPC_PREFIX);
	m = envoy__service__auth__v3__check_request__unpack(NULL, len - XA_GRPC_PREFIX,
							    b + XA_GRPC_PREFIX);
	assert_non_null(m);
	assert_non_null(m->attributes);
	assert_string_equal(m->attributes->source->principal,
			    "spiffe://cluster.local/ns/mesh/sa/client");
	assert_string_equal(m->attributes->source->address->socket_address->address, "10.1.0.5");
	assert_int_equal(m->attributes->source->address->socket_address->port_value, 40000);
	assert_string_equal(m->attributes->destination->address->socket_address->address,
			    "10.96.0.10");
	assert_int_equal(m->attributes->destination->address->socket_address->port_value, 80);
	assert_string_equal(m->attributes->destination->principal, "");
	h = m->attributes->request->http;
	assert_string_equal(h->id, "req-1");
	assert_string_equal(h->method, "GET");
	assert_string_equal(h->path, "/headers?x=1");
	assert_string_equal(h->host, "server");
	assert_string_equal(h->scheme, "http");
	assert_string_equal(h->protocol, "HTTP/1.1");
	/* The pseudo-headers, then each name once (repeats joined), Host as :authority only. */
	assert_int_equal(h->n_headers, 6);
	for (size_t i = 0; i < h->n_headers; i++) {
		const char *k = h->headers[i]->key, *v = h->headers[i]->value;

		if (!strcmp(k, ":authority"))
			seen |= 1, assert_string_equal(v, "server");
		else if (!strcmp(k, ":method"))
			seen |= 2, assert_string_equal(v, "GET");
		else if (!strcmp(k, ":path"))
			seen |= 4, assert_string_equal(v, "/headers?x=1");
		else if (!strcmp(k, ":scheme"))
			seen |= 8, assert_string_equal(v, "http");
		else if (!strcmp(k, "x-ext-authz"))
			seen |= 16, assert_string_equal(v, "allow,again");
		else if (!strcmp(k, "accept"))
			seen |= 32, assert_string_equal(v, "a");
		else
			fail_msg("unexpected header %s", k);
	}
	assert_int_equal(seen, 63);
	envoy__service__auth__v3__check_request__free_unpacked(m, NULL);
	free(b);
	http_fields_free(&f);
}

/* A request without peers' addresses or fields still encodes (nothing left out is sent). */
static void test_encode_bare(void **state)
{
	struct xa_grpc_check c = {.method = "POST"};
	Envoy__Service__Auth__V3__CheckRequest *m;
	uint8_t *b;
	size_t len;

	assert_int_equal(xa_grpc_encode(&c, &b, &len), 0);
	m = envoy__service__auth__v3__check_request__unpack(NULL, len - XA_GRPC_PREFIX,
							    b + XA_GRPC_PREFIX);
	assert_non_null(m);
	assert_null(m->attributes->source->address);
	assert_int_equal(m->attributes->request->http->n_headers, 1);
	assert_string_equal(m->attributes->request->http->headers[0]->key, ":method");
	envoy__service__auth__v3__check_request__free_unpacked(m, NULL);
	free(b);
}

static void test_decode_ok(void **state)
{
	struct xa_grpc_answer a;
	struct http_fields f = {0};

	assert_int_equal(xa_grpc_decode(BYTES(ok_msg), &a), 0);
	assert_int_equal(a.verdict, XA_GRPC_OK);
	assert_int_equal(a.code, 0);
	/* "Bad Name" and host are dropped; the rest keep their order and actions. */
	assert_int_equal(a.n_invalid, 2);
	assert_int_equal(a.n_headers, 5);
	assert_string_equal(a.headers[0].name, "x-a");
	assert_int_equal(a.headers[0].action, XA_GRPC_APPEND_IF_EXISTS_OR_ADD);
	assert_int_equal(a.headers[1].action, XA_GRPC_OVERWRITE_IF_EXISTS_OR_ADD);
	assert_int_equal(a.headers[2].action, XA_GRPC_APPEND_VALUE);
	assert_int_equal(a.headers[3].action, XA_GRPC_ADD_IF_ABSENT);
	assert_int_equal(a.headers[4].action, XA_GRPC_OVERWRITE_IF_EXISTS);
	assert_int_equal(a.n_remove, 3);

	assert_int_equal(http_fields_add(&f, "host", "server"), 0);
	assert_int_equal(http_fields_add(&f, "x-a", "0"), 0);
	assert_int_equal(http_fields_add(&f, "x-b", "old"), 0);
	assert_int_equal(http_fields_add(&f, "x-b", "older"), 0);
	assert_int_equal(http_fields_add(&f, "x-c", "c0"), 0);
	assert_int_equal(http_fields_add(&f, "x-d", "kept"), 0);
	assert_int_equal(http_fields_add(&f, "x-gone", "bye"), 0);
	assert_int_equal(xa_grpc_apply(&a, &f), 0);
	assert_int_equal(http_fields_count(&f, "x-a"), 2); /* added alongside */
	assert_int_equal(http_fields_count(&f, "x-b"), 1); /* overwritten */
	assert_string_equal(http_fields_get(&f, "x-b"), "2");
	assert_string_equal(http_fields_get(&f, "x-c"), "c0,3"); /* append: true */
	assert_string_equal(http_fields_get(&f, "x-d"), "kept");
	assert_null(http_fields_get(&f, "x-e")); /* OVERWRITE_IF_EXISTS: absent stays absent */
	assert_null(http_fields_get(&f, "x-gone"));
	assert_string_equal(http_fields_get(&f, "host"), "server"); /* not removable */
	xa_grpc_answer_free(&a);
	http_fields_free(&f);
}

static void test_decode_denied(void **state)
{
	struct xa_grpc_answer a;
	struct http_fields f = {0};

	assert_int_equal(xa_grpc_decode(BYTES(denied_msg), &a), 0);
	assert_int_equal(a.verdict, XA_GRPC_DENIED);
	assert_int_equal(a.code, 7);
	assert_int_equal(a.status, 401);
	assert_int_equal(a.body_len, 2);
	assert_memory_equal(a.body, "no", 2);
	assert_int_equal(xa_grpc_reply_fields(&a, &f), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(http_fields_get(&f, "x-ext-authz-check-result"), "denied");
	xa_grpc_answer_free(&a);
	http_fields_free(&f);

	/* No denied_response: Envoy's 403, no body. */
	assert_int_equal(xa_grpc_decode(BYTES(denied_bare_msg), &a), 0);
	assert_int_equal(a.verdict, XA_GRPC_DENIED);
	assert_int_equal(a.status, 403);
	assert_int_equal(a.body_len, 0);
	assert_int_equal(a.n_headers, 0);
	xa_grpc_answer_free(&a);
}

static void test_decode_error_and_empty(void **state)
{
	struct xa_grpc_answer a;

	assert_int_equal(xa_grpc_decode(BYTES(error_msg), &a), 0);
	assert_int_equal(a.verdict, XA_GRPC_ERROR);
	assert_int_equal(a.code, 13);
	xa_grpc_answer_free(&a);
	assert_int_equal(xa_grpc_decode(BYTES(empty_msg), &a), 0);
	assert_int_equal(a.verdict, XA_GRPC_OK);
	assert_int_equal(a.n_headers, 0);
	xa_grpc_answer_free(&a);
}

/* What is not exactly one uncompressed CheckResponse is refused, and holds nothing. */
static void test_decode_malformed(void **state)
{
	static const char compressed[] = "\x01\x00\x00\x00\x00";
	static const char short_len[] = "\x00\x00\x00\x00\x05\x0a\x02\x08\x07";
	static const char long_len[] = "\x00\x00\x00\x00\x03\x0a\x02\x08\x07";
	static const char truncated[] = "\x00\x00\x00\x00\x02\x0a\x05";
	static const char wrong_type[] = "\x00\x00\x00\x00\x02\x08\x07"; /* status as a varint */
	struct xa_grpc_answer a;

	assert_int_equal(xa_grpc_decode(BYTES(compressed), &a), -EPROTO);
	assert_int_equal(xa_grpc_decode(BYTES(short_len), &a), -EPROTO);
	assert_int_equal(xa_grpc_decode(BYTES(long_len), &a), -EPROTO);
	assert_int_equal(xa_grpc_decode(BYTES(truncated), &a), -EPROTO);
	assert_int_equal(xa_grpc_decode((const uint8_t *)"\x00\x00", 2, &a), -EPROTO);
	assert_int_equal(xa_grpc_decode((const uint8_t *)"", 0, &a), -EPROTO);
	assert_int_equal(xa_grpc_decode((const uint8_t *)wrong_type, 7, &a), -EPROTO);
	assert_null(a.msg);
	xa_grpc_answer_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),	     cmocka_unit_test(test_decode_ok),
	    cmocka_unit_test(test_decode_denied),    cmocka_unit_test(test_decode_error_and_empty),
	    cmocka_unit_test(test_decode_malformed), cmocka_unit_test(test_encode_bare),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
