// SPDX-License-Identifier: Apache-2.0
/*
 * The dashboard's Prometheus client: PromQL over the HTTP API (/api/v1/query and
 * /api/v1/query_range), as Kiali asks it, and the Grafana panels' calls passed through.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "dashboard.h"

/* A query's answer is a few series per edge: far below this even for thousands of pods. */
#define PROM_MAX_BODY (64u << 20)

cJSON *dash_prom_query(const struct dash *d, const char *promql, long range_s, char *err,
		       size_t errlen)
{
	char *q = curl_easy_escape(NULL, promql, 0), *url = NULL, *body = NULL;
	long now = (long)time(NULL);
	size_t len;
	cJSON *doc = NULL, *result = NULL;
	int n;

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (range_s > 0) {
		/* About 60 points whatever the range, never closer than 5 s (the scrape). */
		long step = range_s / 60 < 5 ? 5 : range_s / 60;

		n = asprintf(&url, "%s/api/v1/query_range?query=%s&start=%ld&end=%ld&step=%ld",
			     d->prom, q, now - range_s, now, step);
	} else {
		n = asprintf(&url, "%s/api/v1/query?query=%s&time=%ld", d->prom, q, now);
	}
	curl_free(q);
	if (n < 0) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (http_fetch(url, PROM_MAX_BODY, &body, &len, err, errlen))
		goto out;
	doc = cJSON_Parse(body);
	if (!doc ||
	    strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "status")) ?: "",
		   "success")) {
		snprintf(err, errlen, "Prometheus at %s did not answer the query: %.200s", d->prom,
			 body);
		goto out;
	}
	result = cJSON_DetachItemFromObjectCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(doc, "data"), "result");
	if (!cJSON_IsArray(result)) {
		cJSON_Delete(result);
		result = NULL;
		snprintf(err, errlen, "Prometheus at %s: no result in its answer", d->prom);
	}
out:
	cJSON_Delete(doc);
	free(body);
	free(url);
	return result;
}

int dash_prom_get(const struct dash *d, const char *path, char **body, size_t *len, long *status,
		  char *err, size_t errlen)
{
	char *url = NULL;
	int ret;

	if (asprintf(&url, "%s%s", d->prom, path) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = http_fetch_status(url, PROM_MAX_BODY, body, len, status, err, errlen);
	free(url);
	return ret;
}

double dash_prom_value(const cJSON *value)
{
	const char *s = cJSON_GetStringValue(cJSON_GetArrayItem(value, 1));
	double v;

	if (!s)
		return 0;
	v = strtod(s, NULL);
	return isfinite(v) ? v : 0;
}
