// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl get KIND[,KIND...]|all [NAME...] [-n NS | -A] [-o wide|yaml|json|name] [-l SEL]
 * [--show-labels]`, as kubectl's, for every kind ambit loads: getcols.c has their names and
 * columns, getobj.c makes the objects as the API would serve them, this file picks and prints
 * them. In --kube too it reads the local store: what the agents are given, under the names the
 * API server has them by.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "getcols.h"
#include "getobj.h"
#include "local/objstore.h"
#include "install/install.h"

#define GET_MAX_KINDS 32
#define GET_MAX_NAMES 32

static void usage_get(void)
{
	fprintf(
	    stderr,
	    "usage: ambitctl get KIND[,KIND...]|all [NAME...] [-n NS | -A] [-o "
	    "wide|yaml|json|name]\n"
	    "                    [-l KEY=VALUE,...] [-L KEY,...] [--show-labels]\n"
	    "  KIND as kubectl names it: pods (po), services (svc), deployments (deploy),\n"
	    "  namespaces (ns), serviceaccounts (sa), configmaps (cm), secrets, endpointslices,\n"
	    "  virtualservices (vs), destinationrules (dr), gateways.networking.istio.io (gw),\n"
	    "  serviceentries (se), envoyfilters, authorizationpolicies (ap),\n"
	    "  peerauthentications (pa), requestauthentications (ra), telemetries,\n"
	    "  gateways.gateway.networking.k8s.io (gateway, gtw), httproutes, grpcroutes,\n"
	    "  tlsroutes, tcproutes, referencegrants, localratelimits; all: pods, services,\n"
	    "  deployments\n");
}

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* One requirement of a -l selector: key=value, key==value, key!=value, key, !key. */
static bool label_match(const cJSON *labels, const char *req)
{
	char key[512];
	const char *op = req + strcspn(req, "=!"), *v, *have;
	bool neg = *req == '!';

	if (neg) {
		snprintf(key, sizeof(key), "%s", req + 1);
		return !jstr(labels, key);
	}
	snprintf(key, sizeof(key), "%.*s", (int)(op - req), req);
	have = jstr(labels, key);
	if (!*op)
		return have;
	neg = *op == '!';
	v = op + 1 + (op[1] == '=');
	return neg ? !have || strcmp(have, v) : have && !strcmp(have, v);
}

static bool selected(const cJSON *obj, const char *sel)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
	char req[512];

	for (const char *p = sel; p && *p;) {
		size_t n = strcspn(p, ",");

		snprintf(req, sizeof(req), "%.*s", (int)n, p);
		if (!label_match(labels, req))
			return false;
		p += n + (p[n] == ',');
	}
	return true;
}

struct get_req {
	const struct get_kind *kinds[GET_MAX_KINDS];
	size_t nkinds;
	const char *names[GET_MAX_NAMES];
	size_t nnames;
	const char *ns, *out, *selector;
	bool all_ns, show_labels;
	char label_buf[512]; /* -L KEY,...: the keys, NUL-separated */
	const char *label_cols[8];
	size_t n_label_cols;
};

static int obj_cmp(const void *a, const void *b)
{
	const cJSON *ma = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, "metadata");
	const cJSON *mb = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, "metadata");
	int r = strcmp(jstr(ma, "namespace") ?: "", jstr(mb, "namespace") ?: "");

	return r ? r : strcmp(jstr(ma, "name") ?: "", jstr(mb, "name") ?: "");
}

/* Kind @k's objects @r asks for into @list (sorted by namespace and name). 0 or -errno. */
static int collect(struct get_ctx *x, const struct get_kind *k, const struct get_req *r,
		   cJSON *list)
{
	cJSON *found[4096];
	size_t n = 0;
	const cJSON *p;

	if (!strcmp(k->kind, "Pod") && !*k->group) {
		cJSON_ArrayForEach(p, getobj_pods(x))
		{
			if (n < sizeof(found) / sizeof(found[0]))
				found[n++] = cJSON_Duplicate(p, 1);
		}
	} else {
		for (size_t i = 0; i < x->objs.n && n < sizeof(found) / sizeof(found[0]); i++) {
			const struct store_obj *o = &x->objs.items[i];

			if (strcmp(o->kind, k->kind) || strcmp(o->group, k->group))
				continue;
			if (!(found[n] = getobj_store(x, o)))
				return -EINVAL;
			n++;
		}
	}
	if (!strcmp(k->kind, "Namespace") && !*k->group)
		n = getobj_namespaces(x, found, n, sizeof(found) / sizeof(found[0]));
	qsort(found, n, sizeof(found[0]), obj_cmp);
	for (size_t i = 0; i < n; i++) {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(found[i], "metadata");
		const char *ns = jstr(meta, "namespace") ?: "", *name = jstr(meta, "name") ?: "";
		bool want = !r->nnames;

		for (size_t j = 0; j < r->nnames; j++)
			want |= !strcmp(r->names[j], name);
		if (want && (r->all_ns || !k->namespaced || !strcmp(ns, r->ns)) &&
		    selected(found[i], r->selector))
			cJSON_AddItemToArray(list, found[i]);
		else
			cJSON_Delete(found[i]);
	}
	return 0;
}

/* kubectl's NotFound for each of @r's names that @k's @list lacks. How many. */
static int not_found(const struct get_kind *k, const struct get_req *r, const cJSON *list)
{
	int missing = 0;

	for (size_t j = 0; j < r->nnames; j++) {
		const cJSON *o;
		bool seen = false;

		cJSON_ArrayForEach(o, list)
		{
			const char *name =
			    jstr(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "name");

			seen |= name && !strcmp(name, r->names[j]);
		}
		if (seen)
			continue;
		fprintf(stderr, "Error from server (NotFound): %s%s%s \"%s\" not found\n",
			k->plural, *k->group ? "." : "", k->group, r->names[j]);
		missing++;
	}
	return missing;
}

/* Prints @lists (one per kind of @r) as -o asks. */
static int print(const struct get_ctx *x, const struct get_req *r, cJSON *const *lists,
		 size_t total)
{
	bool wide = r->out && !strcmp(r->out, "wide");
	bool multi = r->nkinds > 1;
	bool first = true;
	int ret = 0;

	if (r->out && (!strcmp(r->out, "yaml") || !strcmp(r->out, "json"))) {
		cJSON *doc = NULL, *items;
		char *s;

		if (total == 1 && r->nnames == 1 && !multi) {
			doc = cJSON_Duplicate(cJSON_GetArrayItem(lists[0], 0), 1);
		} else {
			doc = cJSON_CreateObject();
			cJSON_AddStringToObject(doc, "apiVersion", "v1");
			items = cJSON_AddArrayToObject(doc, "items");
			for (size_t i = 0; i < r->nkinds; i++)
				for (const cJSON *o = lists[i]->child; o; o = o->next)
					cJSON_AddItemToArray(items, cJSON_Duplicate(o, 1));
			cJSON_AddStringToObject(doc, "kind", "List");
			cJSON_AddStringToObject(cJSON_AddObjectToObject(doc, "metadata"),
						"resourceVersion", "");
		}
		if (!strcmp(r->out, "json")) {
			s = cJSON_Print(doc);
			ret = s ? (puts(s), 0) : -ENOMEM;
			free(s);
		} else {
			cJSON *one = cJSON_CreateArray();

			cJSON_AddItemReferenceToArray(one, doc);
			ret = ctl_print_yaml(one);
			cJSON_Delete(one);
		}
		cJSON_Delete(doc);
		return ret;
	}
	for (size_t i = 0; i < r->nkinds && !ret; i++) {
		const struct get_kind *k = r->kinds[i];
		char prefix[128], label[130];
		struct get_show s = {.wide = wide,
				     .namespace = r->all_ns,
				     .labels = r->show_labels,
				     .label_cols = r->label_cols,
				     .n_label_cols = r->n_label_cols,
				     .label = NULL};
		struct get_table t;
		const cJSON *o;

		if (!cJSON_GetArraySize(lists[i]))
			continue;
		get_kind_prefix(k, prefix, sizeof(prefix));
		snprintf(label, sizeof(label), "%s/", prefix);
		if (r->out && !strcmp(r->out, "name")) {
			cJSON_ArrayForEach(o, lists[i])
			{
				printf(
				    "%s%s\n", label,
				    jstr(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "name"));
			}
			continue;
		}
		s.label = multi ? label : NULL;
		get_table_init(&t, get_ncols(k, &s));
		ret = get_header(k, &s, &t);
		cJSON_ArrayForEach(o, lists[i])
		{
			if (!ret)
				ret = get_row(k, &s, o, x->now, &t);
		}
		if (!ret) {
			if (!first)
				printf("\n");
			get_table_print(&t, stdout);
		}
		first = false;
		get_table_free(&t);
	}
	return ret;
}

static int get_run(struct get_ctx *x, const struct get_req *r)
{
	cJSON *lists[GET_MAX_KINDS] = {0};
	size_t total = 0;
	bool all_namespaced = !r->all_ns;
	int ret = 0, missing = 0;

	for (size_t i = 0; i < r->nkinds && !ret; i++) {
		lists[i] = cJSON_CreateArray();
		ret = lists[i] ? collect(x, r->kinds[i], r, lists[i]) : -ENOMEM;
		if (!ret) {
			total += (size_t)cJSON_GetArraySize(lists[i]);
			missing += not_found(r->kinds[i], r, lists[i]);
		}
		all_namespaced &= r->kinds[i]->namespaced;
	}
	if (!ret && r->nnames && !total)
		; /* each name said NotFound */
	else if (!ret && (total || (r->out && strcmp(r->out, "wide") && strcmp(r->out, "name"))))
		ret = print(x, r, lists, total);
	else if (!ret && all_namespaced)
		fprintf(stderr, "No resources found in %s namespace.\n", r->ns);
	else if (!ret)
		fprintf(stderr, "No resources found\n");
	for (size_t i = 0; i < r->nkinds; i++)
		cJSON_Delete(lists[i]);
	return ret ? ret : missing ? -ENOENT : 0;
}

/* KIND[,KIND...] or all into @r; kubectl's error for a kind it does not know. */
static int parse_kinds(struct get_req *r, const char *words)
{
	char w[128];

	for (const char *p = words; *p;) {
		size_t n = strcspn(p, ","), nk;
		const struct get_kind *all = get_kinds(&nk);

		snprintf(w, sizeof(w), "%.*s", (int)n, p);
		p += n + (p[n] == ',');
		if (!strcmp(w, "all")) {
			/* kubectl's category all: of ambit's kinds, pods, services, deployments */
			for (size_t i = 0; i < 3 && r->nkinds < GET_MAX_KINDS; i++)
				r->kinds[r->nkinds++] = &all[i];
			continue;
		}
		if (!get_kind_find(w)) {
			fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n",
				w);
			return -EINVAL;
		}
		if (r->nkinds < GET_MAX_KINDS)
			r->kinds[r->nkinds++] = get_kind_find(w);
	}
	return 0;
}

/* -L KEY[,KEY...]: a column of each label's value, as kubectl's --label-columns. */
static void label_columns(struct get_req *r, const char *keys)
{
	size_t used = 0;

	for (size_t i = 0; i < r->n_label_cols; i++)
		used += strlen(r->label_cols[i]) + 1;
	for (const char *p = keys; *p && r->n_label_cols < 8;) {
		size_t n = strcspn(p, ",");

		if (n && used + n + 1 <= sizeof(r->label_buf)) {
			memcpy(r->label_buf + used, p, n);
			r->label_buf[used + n] = '\0';
			r->label_cols[r->n_label_cols++] = r->label_buf + used;
			used += n + 1;
		}
		p += n + (p[n] == ',');
	}
}

static int parse_args(struct get_req *r, int argc, char **argv)
{
	bool have_kinds = false;
	int ret;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if ((!strcmp(a, "-n") || !strcmp(a, "--namespace")) && v) {
			r->ns = argv[++i];
		} else if (!strncmp(a, "--namespace=", 12)) {
			r->ns = a + 12;
		} else if (!strcmp(a, "-A") || !strcmp(a, "--all-namespaces")) {
			r->all_ns = true;
		} else if ((!strcmp(a, "--cluster") || !strcmp(a, "--name")) && v) {
			i++; /* the cluster: pick_cluster (main.c) read it */
		} else if (!strcmp(a, "--show-labels")) {
			r->show_labels = true;
		} else if (((!strcmp(a, "-L") || !strcmp(a, "--label-columns")) && v) ||
			   (!strncmp(a, "-L", 2) && a[2]) || !strncmp(a, "--label-columns=", 16)) {
			label_columns(r, !strcmp(a, "-L") || !strcmp(a, "--label-columns")
					     ? argv[++i]
					 : a[1] == 'L' ? a + 2
						       : a + 16);
		} else if ((!strcmp(a, "-l") || !strcmp(a, "--selector")) && v) {
			r->selector = argv[++i];
		} else if (!strncmp(a, "--selector=", 11)) {
			r->selector = a + 11;
		} else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && v) {
			r->out = argv[++i];
		} else if (!strncmp(a, "-o", 2) && a[2]) {
			r->out = a + 2 + (a[2] == '=');
		} else if (!strncmp(a, "--output=", 9)) {
			r->out = a + 9;
		} else if (a[0] != '-' && !have_kinds) {
			ret = parse_kinds(r, a);
			if (ret)
				return ret;
			have_kinds = true;
		} else if (a[0] != '-' && r->nnames < GET_MAX_NAMES) {
			r->names[r->nnames++] = a;
		} else {
			usage_get();
			return -EINVAL;
		}
	}
	if (r->out && strcmp(r->out, "wide") && strcmp(r->out, "yaml") && strcmp(r->out, "json") &&
	    strcmp(r->out, "name")) {
		fprintf(stderr,
			"error: unable to match a printer suitable for the output format \"%s\", "
			"allowed formats are: json,name,wide,yaml\n",
			r->out);
		return -EINVAL;
	}
	if (!have_kinds) {
		usage_get();
		return -EINVAL;
	}
	return 0;
}

int cmd_get(const struct ctl_opts *opts, int argc, char **argv)
{
	struct config_diags diags = {0};
	struct get_req r = {.ns = "default"};
	struct get_ctx x = {0};
	char state[PATH_MAX];
	int ret;

	ret = parse_args(&r, argc, argv);
	if (ret)
		return ret;
	ret = cluster_open(&x.c, opts);
	if (ret)
		return ret;
	x.now = time(NULL);
	cluster_path(&x.c, state, sizeof(state), "state");
	config_init(&x.cfg);
	ret = load_state_quiet(&x.cfg, state);
	if (!ret)
		ret = store_load(state, &x.objs, &diags);
	x.pods_json = plan_read_pods_json(&x.c);
	for (size_t i = 0; !ret && i < r.nkinds; i++)
		if (!strcmp(r.kinds[i]->kind, "Gateway") &&
		    !strcmp(r.kinds[i]->group, CONFIG_GW_GROUP) && !x.v.pods_json)
			ret = wp_view_load(&x.v, &x.c, &x.cfg);
	if (!ret)
		ret = get_run(&x, &r);
	getobj_ctx_free(&x);
	config_diags_free(&diags);
	return ret;
}
