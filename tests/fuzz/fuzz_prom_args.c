// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: the Prometheus calls any browser may send `ambitctl dashboard` for Grafana's
 * panels (GET /api/prom/<call>?..., userspace/dashboard/grafana.c's dash_prom_path),
 * before they are forwarded to Prometheus. An input is the call's path, a newline, then its
 * query string's arguments split at '&' and '=' as libmicrohttpd splits them (up to 32).
 * Checked beyond no crash, leak or UB: a call taken becomes one of the four Prometheus API
 * paths, its label name a label name, and nothing reaches Prometheus's URL unescaped (only
 * RFC 3986's unreserved characters, '%' escapes and the separators dash_prom_path writes); a
 * call refused says why.
 * Seeds: tests/fuzz/corpus/fuzz_prom_args/, the calls the Dashboards view makes for Istio's
 * dashboards.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard/dashboard.h"

static void check_url(const char *out)
{
	static const char *const heads[] = {"/api/v1/query_range", "/api/v1/query",
					    "/api/v1/series", "/api/v1/label/"};
	size_t q = strcspn(out, "?"), h = 0;

	while (h < 4 && strncmp(out, heads[h], strlen(heads[h])))
		h++;
	if (h == 4)
		abort();
	if (h == 3) {
		const char *name = out + strlen(heads[3]), *end = strchr(name, '/');

		if (!end || strncmp(end, "/values", 7) || (size_t)(end + 7 - out) != q ||
		    !(isalpha((unsigned char)*name) || *name == '_'))
			abort();
		for (const char *p = name; p < end; p++)
			if (!isalnum((unsigned char)*p) && *p != '_')
				abort();
	} else if (q != strlen(heads[h])) {
		abort();
	}
	for (const char *p = out + q; *p; p++) {
		if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]))
			p += 2;
		else if (!isalnum((unsigned char)*p) && !strchr("-._~?&=", *p))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *api, *rest, *save = NULL, *out = NULL, err[256] = "";
	struct dash_arg args[32];
	size_t n = 0;
	int ret;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	api = text;
	rest = strchr(text, '\n');
	if (rest)
		*rest++ = '\0';
	for (char *kv = rest ? strtok_r(rest, "&", &save) : NULL; kv && n < 32;
	     kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');

		if (eq)
			*eq++ = '\0';
		args[n++] = (struct dash_arg){kv, eq};
	}
	ret = dash_prom_path(api, args, n, &out, err, sizeof(err));
	if (ret == 0)
		check_url(out);
	else if (out || !err[0])
		abort();
	free(out);
	free(text);
	return 0;
}
