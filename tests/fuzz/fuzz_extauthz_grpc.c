// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: the body of an ext_authz provider's gRPC answer (waypoint/extauthz_grpc.h),
 * which the provider's author chose, read as the waypoint reads it: decoded, then, if a
 * CheckResponse, its header operations applied to a request's fields (OK) or made the local
 * reply's (denied). Whatever is kept must be a token name and a value without CR or LF, Host
 * never touched, and a refusal leave nothing to free.
 * Seeds: tests/fuzz/corpus/fuzz_extauthz_grpc/, answers python3-protobuf made from proto/ (the
 * sample's allow and deny, every append action, headers_to_remove, error_response, bad fields).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../waypoint/extauthz_grpc.h"

static void check_fields(const struct http_fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (!f->items[i].name[0] || strpbrk(f->items[i].name, " :\r\n") ||
		    strpbrk(f->items[i].value, "\r\n"))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xa_grpc_answer a;
	struct http_fields f = {0};

	if (xa_grpc_decode(data, size, &a)) {
		if (a.msg || a.headers)
			abort();
		return 0;
	}
	if (a.verdict == XA_GRPC_DENIED &&
	    (a.status < 100 || a.status > 599 || !a.body || strlen(a.body) != a.body_len))
		abort();
	if (http_fields_add(&f, "host", "server") || http_fields_add(&f, "x-a", "1"))
		abort();
	if (a.verdict == XA_GRPC_OK) {
		if (xa_grpc_apply(&a, &f))
			abort();
		if (http_fields_count(&f, "host") != 1 ||
		    strcmp(http_fields_get(&f, "host"), "server"))
			abort();
	} else if (a.verdict == XA_GRPC_DENIED) {
		http_fields_free(&f);
		if (xa_grpc_reply_fields(&a, &f))
			abort();
	}
	check_fields(&f);
	http_fields_free(&f);
	xa_grpc_answer_free(&a);
	return 0;
}
