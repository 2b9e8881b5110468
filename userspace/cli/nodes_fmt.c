// SPDX-License-Identifier: Apache-2.0
/* `ambitctl nodes`: the table and JSON of the node Leases (nodes.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/klease.h"
#include "nodes.h"

#define N_COLS 6

static int by_node(const void *a, const void *b)
{
	const struct klease_info *x = a, *y = b;
	int c = strcmp(x->node, y->node);

	return c ? c : strcmp(x->ns, y->ns);
}

/* The columns of @i at @now; @cell[0] is its namespace. */
static void cells(const struct klease_info *i, time_t now, char cell[N_COLS][256])
{
	snprintf(cell[0], 256, "%s", i->ns);
	snprintf(cell[1], 256, "%s", i->node);
	snprintf(cell[2], 256, "%s", *i->mode ? i->mode : "-");
	snprintf(cell[3], 256, "%s", *i->version ? i->version : "-");
	if (i->renewed)
		klease_age((long long)(now - i->renew_time), cell[4], 256);
	else
		snprintf(cell[4], 256, "-");
	snprintf(cell[5], 256, "%s", klease_ready(i, now) ? "Ready" : "Stale");
}

static char *render_json(const struct klease_info *in, int n, time_t now)
{
	cJSON *arr = cJSON_CreateArray();
	char *text = NULL, ts[40];

	for (int k = 0; arr && k < n; k++) {
		const struct klease_info *i = &in[k];
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(arr, o))
			goto out;
		if (!cJSON_AddStringToObject(o, "node", i->node) ||
		    !cJSON_AddStringToObject(o, "namespace", i->ns) ||
		    !(*i->mode ? cJSON_AddStringToObject(o, "captureMode", i->mode)
			       : cJSON_AddNullToObject(o, "captureMode")) ||
		    !cJSON_AddStringToObject(o, "version", i->version) ||
		    !(i->renewed && !klease_time_format(i->renew_time, 0, ts, sizeof(ts))
			  ? cJSON_AddStringToObject(o, "renewTime", ts)
			  : cJSON_AddNullToObject(o, "renewTime")) ||
		    !cJSON_AddNumberToObject(o, "leaseDurationSeconds", (double)i->duration) ||
		    !cJSON_AddStringToObject(o, "status", klease_ready(i, now) ? "Ready" : "Stale"))
			goto out;
	}
	text = arr ? cJSON_Print(arr) : NULL;
out:
	cJSON_Delete(arr);
	return text;
}

static char *render_table(const struct klease_info *in, int n, time_t now)
{
	static const char *const head[N_COLS] = {"NAMESPACE", "NODE",	 "CAPTURE",
						 "VERSION",   "RENEWED", "STATUS"};
	size_t w[N_COLS], len = 0;
	char cell[N_COLS][256], *text = NULL;
	bool many_ns = false;
	FILE *f;

	for (int c = 0; c < N_COLS; c++)
		w[c] = strlen(head[c]);
	for (int k = 0; k < n; k++) {
		cells(&in[k], now, cell);
		for (int c = 0; c < N_COLS; c++)
			w[c] = strlen(cell[c]) > w[c] ? strlen(cell[c]) : w[c];
		many_ns |= k && strcmp(in[k].ns, in[0].ns);
	}
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	/* As kubectl: three spaces between columns, the last one unpadded. */
	for (int k = -1; k < n; k++) {
		if (k >= 0)
			cells(&in[k], now, cell);
		for (int c = many_ns ? 0 : 1; c < N_COLS; c++)
			fprintf(f, c < N_COLS - 1 ? "%-*s   " : "%.*s\n",
				(int)(c < N_COLS - 1 ? w[c] : 255), k < 0 ? head[c] : cell[c]);
	}
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

char *nodes_render(const cJSON *list, time_t now, bool json, int *n)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items"), *it;
	int cap = cJSON_GetArraySize(items);
	struct klease_info *in = calloc(cap ? (size_t)cap : 1, sizeof(*in));
	char *text;

	*n = 0;
	if (!in)
		return NULL;
	cJSON_ArrayForEach(it, items)
	{
		if (*n < cap && !klease_read(it, &in[*n]))
			(*n)++;
	}
	qsort(in, (size_t)*n, sizeof(*in), by_node);
	text = json ? render_json(in, *n, now) : render_table(in, *n, now);
	free(in);
	return text;
}
