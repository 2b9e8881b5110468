// SPDX-License-Identifier: Apache-2.0
/* The wire's one decoding kit (dec.h): strict member reads, each failure named by its path. */
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "dec.h"

/* "path.key", or "key" at the root. */
#define AT(path) (path), (path)[0] ? "." : ""

void wire_fail(struct wire_dec *d, const char *fmt, ...)
{
	va_list ap;

	if (d->failed)
		return;
	d->failed = true;
	if (!d->err || !d->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
}

const cJSON *wire_member(const struct wire_dec *d, const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return it && d->null_absent && cJSON_IsNull(it) ? NULL : it;
}

const cJSON *wire_get(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
		      bool req)
{
	const cJSON *it = wire_member(d, o, key);

	if (!it && req)
		wire_fail(d, "%s%s%s: missing", AT(path), key);
	return it;
}

bool wire_keys(struct wire_dec *d, const cJSON *o, const char *path, const char *const *allowed)
{
	const cJSON *it;

	if (!cJSON_IsObject(o)) {
		wire_fail(d, "%s: expected an object", path);
		return false;
	}
	cJSON_ArrayForEach(it, o)
	{
		const char *const *a = allowed;

		for (; *a; a++)
			if (!strcmp(*a, it->string))
				break;
		if (!*a) {
			wire_fail(d, "%s%s%s: unknown member", AT(path), it->string);
			return false;
		}
	}
	return true;
}

char *wire_str(struct wire_dec *d, const cJSON *o, const char *key, const char *path, bool req)
{
	const cJSON *it = wire_member(d, o, key);
	char *v;

	if (!it) {
		if (req)
			wire_fail(d, "%s%s%s: missing", AT(path), key);
		return NULL;
	}
	if (!cJSON_IsString(it)) {
		wire_fail(d, "%s%s%s: expected a string", AT(path), key);
		return NULL;
	}
	v = strdup(it->valuestring);
	if (!v)
		wire_fail(d, "%s%s%s: out of memory", AT(path), key);
	return v;
}

bool wire_num_at(struct wire_dec *d, const cJSON *o, const char *key, const char *path, double min,
		 double max, bool req, double *out)
{
	const cJSON *it = wire_member(d, o, key);

	*out = 0;
	if (!it) {
		if (req)
			wire_fail(d, "%s%s%s: missing", AT(path), key);
		return !req;
	}
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
	    it->valuedouble != floor(it->valuedouble)) {
		wire_fail(d, "%s%s%s: expected an integer", AT(path), key);
		return false;
	}
	if (it->valuedouble < min || it->valuedouble > max) {
		wire_fail(d, "%s%s%s: %.0f out of range", AT(path), key, it->valuedouble);
		return false;
	}
	*out = it->valuedouble;
	return true;
}

double wire_num(struct wire_dec *d, const cJSON *o, const char *key, const char *path, double min,
		double max, bool req)
{
	double v;

	wire_num_at(d, o, key, path, min, max, req, &v);
	return v;
}

bool wire_bool(struct wire_dec *d, const cJSON *o, const char *key, const char *path)
{
	const cJSON *it = wire_member(d, o, key);

	if (it && !cJSON_IsBool(it))
		wire_fail(d, "%s%s%s: expected a boolean", AT(path), key);
	return it && cJSON_IsTrue(it);
}

int wire_enum(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
	      const char *const *names, bool req)
{
	char *s = wire_str(d, o, key, path, req);
	int v = 0;

	if (!s)
		return 0;
	for (v = 0; names[v] && strcmp(names[v], s); v++)
		;
	if (!names[v]) {
		wire_fail(d, "%s%s%s: unknown value \"%.32s\"", AT(path), key, s);
		v = 0;
	}
	free(s);
	return v;
}

const cJSON *wire_arr(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
		      size_t *n)
{
	const cJSON *it = wire_member(d, o, key);
	size_t max = d->max_list ? d->max_list : WIRE_MAX_LIST;

	*n = 0;
	if (!it)
		return NULL;
	if (!cJSON_IsArray(it)) {
		wire_fail(d, "%s%s%s: expected an array", AT(path), key);
		return NULL;
	}
	*n = (size_t)cJSON_GetArraySize(it);
	if (*n > max) {
		wire_fail(d, "%s%s%s: more than %zu entries", AT(path), key, max);
		*n = 0;
		return NULL;
	}
	return it;
}

void *wire_alloc(struct wire_dec *d, size_t n, size_t size, const char *path)
{
	void *p = calloc(n + 1, size);

	if (!p)
		wire_fail(d, "%s: out of memory", path);
	return p;
}

uint32_t wire_ip(struct wire_dec *d, const cJSON *o, const char *key, const char *path, bool req)
{
	const cJSON *it = wire_member(d, o, key);
	struct in_addr a = {0};

	if (!it || (!req && cJSON_IsString(it) && !it->valuestring[0])) {
		if (req)
			wire_fail(d, "%s%s%s: missing", AT(path), key);
		return 0;
	}
	if (!cJSON_IsString(it) || inet_pton(AF_INET, it->valuestring, &a) != 1) {
		wire_fail(d, "%s%s%s: expected an IPv4 address", AT(path), key);
		return 0;
	}
	return a.s_addr;
}

struct ipaddr wire_ip6(struct wire_dec *d, const cJSON *o, const char *key, const char *path)
{
	char *s = wire_str(d, o, key, path, false);
	struct ipaddr a = {0};

	if (s && (ipaddr_parse_addr(s, &a) || a.family != AF_INET6)) {
		wire_fail(d, "%s%s%s: expected an IPv6 address", AT(path), key);
		memset(&a, 0, sizeof(a));
	}
	free(s);
	return a;
}

void wire_strings(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
		  struct config_strings *out)
{
	size_t n;
	const cJSON *a = wire_arr(d, o, key, path, &n), *it;

	if (!a || d->failed || !(out->items = wire_alloc(d, n, sizeof(char *), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsString(it)) {
			wire_fail(d, "%s%s%s[%zu]: expected a string", AT(path), key, out->n);
			return;
		}
		if (!(out->items[out->n++] = strdup(it->valuestring))) {
			wire_fail(d, "%s: out of memory", path);
			return;
		}
	}
}

void wire_labels(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
		 struct config_labels *out)
{
	const cJSON *m = wire_member(d, o, key), *it;

	if (!m)
		return;
	if (!cJSON_IsObject(m)) {
		wire_fail(d, "%s%s%s: expected an object", AT(path), key);
		return;
	}
	cJSON_ArrayForEach(it, m)
	{
		if (!cJSON_IsString(it)) {
			wire_fail(d, "%s%s%s.%s: expected a string", AT(path), key, it->string);
			return;
		}
		if (config_labels_add(out, it->string, it->valuestring)) {
			wire_fail(d, "%s: out of memory", path);
			return;
		}
	}
}
