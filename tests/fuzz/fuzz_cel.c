// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile CEL filter expressions (a Telemetry's accessLogging filter, from
 * configuration) into the parser, and what parses evaluated against a request's attributes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/cel.h"

static bool attr(void *arg, const char *name, const char *key, struct cel_value *out)
{
	if (!strcmp(name, "response.code") || !strcmp(name, "request.size")) {
		*out = (struct cel_value){.type = CEL_INT, .i = 503};
		return true;
	}
	if (!strcmp(name, "connection.mtls")) {
		*out = (struct cel_value){.type = CEL_BOOL, .b = true};
		return true;
	}
	if (key && strcmp(key, "x-user"))
		return false;
	*out = (struct cel_value){.type = CEL_STRING, .s = "/productpage"};
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[128];
	struct cel_expr *e;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	e = cel_parse(s, err, sizeof(err));
	if (!e && !err[0])
		abort(); /* a refusal always says why */
	if (e)
		cel_eval(e, attr, NULL);
	cel_free(e);
	free(s);
	return 0;
}
