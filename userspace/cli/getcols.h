/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `ambitctl get` prints of an object, as kubectl prints it: the kinds with kubectl's names
 * for them (plural, singular, short, kind.group), each kind's table columns (kubectl's own
 * printers for the built-in kinds, the CRDs' additionalPrinterColumns for Istio's and the
 * Gateway API's), kubectl's age format and its tabwriter's layout. The cells are read from the
 * object as the API would serve it (metadata.creationTimestamp, status): get.c builds those.
 */
#ifndef AMBIT_CLI_GETCOLS_H
#define AMBIT_CLI_GETCOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

/* One column: its header and how its cell is read from an object at time @now. */
struct get_col {
	const char *header;
	void (*cell)(const cJSON *o, const char *arg, time_t now, char *buf, size_t len);
	const char *arg; /* the field the generic cells read: "spec.host" */
};

struct get_kind {
	const char *kind, *group; /* group "": the core group */
	const char *plural, *singular;
	const char *shorts[2];
	bool namespaced;
	const struct get_col *cols; /* ended by a NULL header; NAME is implicit */
	const struct get_col *wide; /* more with -o wide, or NULL */
};

/* Every kind, in the order `get` lists them for `all`-like requests. */
const struct get_kind *get_kinds(size_t *n);
/*
 * The kind @word names: its plural, singular, short name or Kind, any of them with ".group"
 * (or a prefix of the group, as kubectl takes "deployments.apps"), case-insensitive. NULL when
 * none. "gateway" alone is the Gateway API's (gtw), "gw" Istio's, as their CRDs name them.
 */
const struct get_kind *get_kind_find(const char *word);
/* "pod", "deployment.apps": how `-o name` and multi-kind tables prefix an object's name. */
void get_kind_prefix(const struct get_kind *k, char *buf, size_t len);

/*
 * The age at @now of RFC 3339 timestamp @ts as kubectl prints it (klease_age: 5s, 3m2s, 10m,
 * 2d3h), "<unknown>" when it is none.
 */
void get_age_of(const char *ts, time_t now, char *buf, size_t len);
/* @ts (2024-01-02T03:04:05Z) as seconds since the epoch; -1 when it is not one. */
time_t get_parse_time(const char *ts);

/* A table of cells, printed as kubectl's tabwriter aligns it. */
struct get_table {
	size_t ncols, nrows;
	char **cells; /* nrows * ncols, owned */
};

int get_table_init(struct get_table *t, size_t ncols);
/* Appends a row of ncols cells (copied). 0 or -ENOMEM. */
int get_table_add(struct get_table *t, const char *const *cells);
/* Each column as wide as its widest cell and 3 more, at least 6; the last one not padded. */
void get_table_print(const struct get_table *t, FILE *f);
void get_table_free(struct get_table *t);

/* What a table shows besides the kind's own columns. */
struct get_show {
	bool wide;		       /* -o wide */
	bool namespace;		       /* -A: NAMESPACE first */
	bool labels;		       /* --show-labels: LABELS last */
	const char *const *label_cols; /* -L KEY...: a column each, before LABELS */
	size_t n_label_cols;
	const char *label; /* the kind's prefix before each name ("pod/"), or NULL */
};

/* The number of columns of @k's table with @s. */
size_t get_ncols(const struct get_kind *k, const struct get_show *s);
/* @k's header row into @t. 0 or -ENOMEM. */
int get_header(const struct get_kind *k, const struct get_show *s, struct get_table *t);
/* Object @o's row into @t. 0 or -ENOMEM. */
int get_row(const struct get_kind *k, const struct get_show *s, const cJSON *o, time_t now,
	    struct get_table *t);

#endif
