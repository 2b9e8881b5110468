// SPDX-License-Identifier: Apache-2.0
/*
 * `local up --kube`: the cluster's API server brought to hold exactly the local cluster's objects
 * (kmirror.h), as a real cluster's controllers and scheduler keep theirs. What the store and the
 * plan want is compared with what the server lists under the mirror's label: absent objects are
 * created, changed ones replaced, unwanted ones deleted, and the rest left alone, so the agents
 * watching see an event only for a real change. The Pods' UIDs the server gives name the
 * kubelet cgroups the pods are then made in, where the agents look for them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "local.h"
#include "k8s/kconn.h"
#include "k8s/kmanifest.h"
#include "kmirror.h"
#include "objstore.h"

#define MIRROR_PAGE "500"   /* objects per LIST page */
#define MIRROR_LIST_TRIES 3 /* a listing restarted after its continue token expired */

/* One object the mirror deals with: wanted, held by the server, or both. */
struct mobj {
	const char *group, *kind, *ns, *name; /* borrowed; ns "" when cluster-scoped */
	cJSON *want;			      /* sealed; NULL: the server's alone, to go */
	const cJSON *have;		      /* borrowed from mirror.lists, or NULL */
	cJSON *got;			      /* the server's answer to a write, or NULL */
	struct ctl_pod *pod;		      /* the plan's pod it is, or NULL */
	size_t seq;			      /* order of the wanted: the first of two stands */
	bool left; /* another hand deleted or changed it since the import: not written */
};

struct mirror {
	struct store_objs store;
	size_t n, nwant; /* o[0..nwant) are the wanted, sorted by identity (mobj_cmp) */
	struct mobj *o;
	cJSON *lists; /* the LIST pages the haves point into */
};

static void mirror_free(struct mirror *m)
{
	for (size_t i = 0; i < m->n; i++) {
		cJSON_Delete(m->o[i].want);
		cJSON_Delete(m->o[i].got);
	}
	free(m->o);
	cJSON_Delete(m->lists);
	store_objs_free(&m->store);
}

static struct mobj *mirror_add(struct mirror *m)
{
	struct mobj *o = realloc(m->o, (m->n + 1) * sizeof(*o));

	if (!o)
		return NULL;
	m->o = o;
	o = &m->o[m->n++];
	memset(o, 0, sizeof(*o));
	return o;
}

/* @x's identity (group, kind, namespace, name) against @y's. */
static int ident_cmp(const struct mobj *x, const struct mobj *y)
{
	int d = strcmp(x->group, y->group);

	d = d ?: strcmp(x->kind, y->kind);
	d = d ?: strcmp(x->ns, y->ns);
	return d ?: strcmp(x->name, y->name);
}

/* By identity, then by the order they were wanted in. */
static int mobj_cmp(const void *a, const void *b)
{
	const struct mobj *x = a, *y = b;
	int d = ident_cmp(x, y);

	return d ?: (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * Sorts the wanted for mirror_find; of one identity wanted twice (one object in two files of
 * the store) the first stays, as the store's loader takes it.
 */
static void mirror_index(struct mirror *m)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n; i++)
		m->o[i].seq = i;
	if (m->n > 1) /* none wanted: no array, and qsort must not get NULL */
		qsort(m->o, m->n, sizeof(*m->o), mobj_cmp);
	for (size_t i = 0; i < m->n; i++) {
		if (k && !ident_cmp(&m->o[i], &m->o[k - 1])) {
			cJSON_Delete(m->o[i].want);
			continue;
		}
		m->o[k++] = m->o[i];
	}
	m->n = m->nwant = k;
}

/* The wanted object of that identity, or NULL: a list of 10,000 pods meets 10,000 wanted. */
static struct mobj *mirror_find(const struct mirror *m, const char *group, const char *kind,
				const char *ns, const char *name)
{
	const struct mobj key = {.group = group, .kind = kind, .ns = ns, .name = name};
	size_t lo = 0, hi = m->nwant;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = ident_cmp(&key, &m->o[mid]);

		if (!d)
			return &m->o[mid];
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Whether @group/@kind is in kubeapi.c's table (the server serves it), and its scope. */
static bool kind_served(const char *group, const char *kind, bool *namespaced)
{
	const char *k, *g;

	for (size_t i = 0; !kube_kind_at(i, &k, &g, namespaced); i++)
		if (!strcmp(k, kind) && !strcmp(g, group))
			return true;
	return false;
}

/* "Kind" or "Kind.group", for messages. */
static const char *kind_display(const char *group, const char *kind, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", kind, *group ? "." : "", group);
	return buf;
}

/* Tells, once a kind, that the objects of a kind the server does not serve stay out of it. */
static void tell_unserved(const struct store_objs *s, size_t at)
{
	const struct store_obj *o = &s->items[at];
	char what[300];
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->items[i].group, o->group) || strcmp(s->items[i].kind, o->kind))
			continue;
		if (i < at)
			return; /* told at the first */
		n++;
	}
	fprintf(stderr,
		"ambitctl: kube: %zu %s object%s not mirrored: the API server does not serve "
		"the kind\n",
		n, kind_display(o->group, o->kind, what, sizeof(what)), n == 1 ? "" : "s");
}

/* Seals @want and adds an entry of @m for it (filled by the caller, who gives it @want); on a
 * failure NULL with *@ret set, and @want freed. */
static struct mobj *want_sealed(struct mirror *m, cJSON *want, int *ret)
{
	struct mobj *o = NULL;

	*ret = kmirror_seal(want);
	if (!*ret && !(o = mirror_add(m)))
		*ret = -ENOMEM;
	if (*ret)
		cJSON_Delete(want);
	return o;
}

/* The store's objects but Pods (the plan's, below), as the server is to hold them. */
static int want_store(struct mirror *m, const struct ctl_plan *p)
{
	for (size_t i = 0; i < m->store.n; i++) {
		const struct store_obj *so = &m->store.items[i];
		const char *ns = "";
		char err[512], what[300];
		struct mobj *o = NULL;
		bool namespaced;
		cJSON *want;
		int ret;

		if (!*so->group && !strcmp(so->kind, "Pod"))
			continue;
		if (!kind_served(so->group, so->kind, &namespaced)) {
			tell_unserved(&m->store, i);
			continue;
		}
		if (namespaced)
			ns = so->namespace ? so->namespace : "default";
		want = kmirror_from_yaml(so->yaml, namespaced ? ns : NULL, err, sizeof(err));
		if (!want) {
			fprintf(stderr, "ambitctl: kube: %s/%s (%s:%d): %s\n",
				kind_display(so->group, so->kind, what, sizeof(what)), so->name,
				so->file, so->line, err);
			return -EINVAL;
		}
		ret = 0;
		if (!*so->group && !strcmp(so->kind, "Service")) {
			const struct ctl_service_ip *v = plan_service_ip(p, ns, so->name);

			ret = kmirror_service_ip(want, plan_vip(p, ns, so->name),
						 plan_vip6(p, ns, so->name));
			/* A LoadBalancer's addresses, as its controller writes them. */
			if (!ret && v && (v->lb[0] || v->lb6[0]))
				ret = kmirror_service_lb(want, v->lb, v->lb6);
		}
		if (ret)
			cJSON_Delete(want);
		else
			o = want_sealed(m, want, &ret);
		if (ret)
			return ret;
		*o = (struct mobj){
		    .group = so->group, .kind = so->kind, .ns = ns, .name = so->name, .want = want};
	}
	return 0;
}

/* Every pod of the plan, scheduled and running. */
static int want_pods(struct mirror *m, struct ctl_plan *p)
{
	for (size_t i = 0; i < p->npods; i++) {
		struct ctl_pod *pod = &p->pods[i];
		cJSON *want = kmirror_pod(pod);
		struct mobj *o = NULL;
		int ret;

		if (!want) {
			ret = -errno;
			fprintf(stderr, "ambitctl: kube: pod %s/%s: %s\n", pod->namespace,
				pod->name, strerror(-ret));
			return ret;
		}
		o = want_sealed(m, want, &ret);
		if (ret)
			return ret;
		*o = (struct mobj){.group = "",
				   .kind = "Pod",
				   .ns = pod->namespace,
				   .name = pod->name,
				   .want = want,
				   .pod = pod};
	}
	return 0;
}

/* Every node, as its kubelet registers it. */
static int want_nodes(struct mirror *m, const struct ctl_cluster *c)
{
	for (int i = 0; i < c->nnodes; i++) {
		cJSON *want = kmirror_node(&c->nodes[i]);
		struct mobj *o;
		int ret;

		if (!want)
			return -ENOMEM;
		o = want_sealed(m, want, &ret);
		if (ret)
			return ret;
		*o = (struct mobj){
		    .group = "", .kind = "Node", .ns = "", .name = c->nodes[i].name, .want = want};
	}
	return 0;
}

/* The reason in a server's answer @resp (a Status' message, else its start) into @buf. */
static const char *server_reason(const char *resp, char *buf, size_t len)
{
	cJSON *st = resp ? cJSON_Parse(resp) : NULL;
	const char *msg = kjson_str(st, "message", NULL);

	snprintf(buf, len, "%.300s", msg ? msg : resp ? resp : "(no body)");
	cJSON_Delete(st);
	return buf;
}

/* @in percent-encoded into @out (a continue token is base64 with '=' and maybe '+' '/'). */
static int url_escape(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *in; in++) {
		unsigned char ch = (unsigned char)*in;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || strchr("-_.~", ch);

		if (n + (plain ? 1 : 3) >= len)
			return -ENAMETOOLONG;
		if (plain) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

/*
 * Takes the items of LIST page @page (its parsed body) as the haves of kind @i: each matched to
 * the object wanted with its identity, or added as one to go. Items get the kind and apiVersion
 * a real server leaves out of a List's items, for kube_paths.
 */
static int take_page(struct mirror *m, size_t i, cJSON *page)
{
	const char *kind, *group, *av = kjson_str(page, "apiVersion", NULL);
	cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items"), *it;
	bool namespaced;

	kube_kind_at(i, &kind, &group, &namespaced);
	cJSON_ArrayForEach(it, items)
	{
		const char *name = kjson_str(it, "metadata", "name"),
			   *ns = kjson_str(it, "metadata", "namespace");
		struct mobj *o;

		if (!cJSON_IsObject(it) || !name)
			continue;
		if (!namespaced || !ns)
			ns = "";
		if (!cJSON_GetObjectItemCaseSensitive(it, "kind") &&
		    !cJSON_AddStringToObject(it, "kind", kind))
			return -ENOMEM;
		if (av && !cJSON_GetObjectItemCaseSensitive(it, "apiVersion") &&
		    !cJSON_AddStringToObject(it, "apiVersion", av))
			return -ENOMEM;
		o = mirror_find(m, group, kind, ns, name);
		if (o && !o->have) {
			o->have = it;
			if (o->pod && kmirror_pod_keep_start(o->want, it))
				return -ENOMEM;
			continue;
		}
		if (o)
			continue; /* listed twice (a page boundary moved): the first stands */
		/* Not looked up again: one listed twice is deleted twice, the second a 404. */
		if (!(o = mirror_add(m)))
			return -ENOMEM;
		*o =
		    (struct mobj){.group = group, .kind = kind, .ns = ns, .name = name, .have = it};
	}
	return 0;
}

/*
 * Lists the mirror's objects of kind @i across all namespaces, page by page, into @pages. 0;
 * -EAGAIN when a continue token expired (start again); -errno, told.
 */
static int list_pages(const struct kconn *k, size_t i, cJSON *pages)
{
	char base[512], path[4096], token[2048], what[300], why[400];
	const char *kind, *group, *cont = NULL;
	bool namespaced;

	kube_kind_at(i, &kind, &group, &namespaced);
	kind_display(group, kind, what, sizeof(what));
	if (kube_kind_list_path(i, base, sizeof(base)))
		return -ENAMETOOLONG;
	do {
		char *resp = NULL;
		cJSON *page;
		long code;

		token[0] = '\0';
		if (cont && url_escape(cont, token, sizeof(token)))
			return -ENAMETOOLONG;
		if (str_fmt(path, sizeof(path),
			    "%s?labelSelector=" KMIRROR_LABEL "%%3D" KMIRROR_LABEL_VALUE
			    "&limit=" MIRROR_PAGE "%s%s",
			    base, *token ? "&continue=" : "", token))
			return -ENAMETOOLONG;
		code = kube_call(k, "GET", path, NULL, &resp);
		if (code == 410 && cont) {
			free(resp);
			return -EAGAIN;
		}
		/* A kind the server does not serve (a CRD not installed) holds nothing to go. */
		if (code == 404) {
			free(resp);
			return 0;
		}
		if (code != 200) {
			if (code)
				fprintf(stderr, "ambitctl: kube: listing %s: HTTP %ld: %s\n", what,
					code, server_reason(resp, why, sizeof(why)));
			else
				fprintf(stderr,
					"ambitctl: kube: listing %s: no answer from the "
					"API server\n",
					what);
			free(resp);
			return code ? -EIO : -ECONNREFUSED;
		}
		page = cJSON_Parse(resp);
		free(resp);
		if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(page, "items")) &&
		    !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(page, "items"))) {
			fprintf(stderr, "ambitctl: kube: listing %s: the answer is no List\n",
				what);
			cJSON_Delete(page);
			return -EPROTO;
		}
		cJSON_AddItemToArray(pages, page);
		cont = kjson_str(page, "metadata", "continue");
	} while (cont && *cont);
	return 0;
}

/* What the server holds of every kind the mirror writes, as haves. */
static int list_all(struct mirror *m, const struct kconn *k)
{
	const char *kind, *group;
	bool namespaced;
	int ret = 0;

	m->lists = cJSON_CreateArray();
	if (!m->lists)
		return -ENOMEM;
	for (size_t i = 0; !ret && !kube_kind_at(i, &kind, &group, &namespaced); i++) {
		cJSON *pages = NULL, *page;

		ret = -EAGAIN;
		for (int t = 0; ret == -EAGAIN && t < MIRROR_LIST_TRIES; t++) {
			cJSON_Delete(pages);
			pages = cJSON_CreateArray();
			ret = pages ? list_pages(k, i, pages) : -ENOMEM;
		}
		if (ret == -EAGAIN)
			fprintf(stderr, "ambitctl: kube: listing %s: the list kept expiring\n",
				kind);
		cJSON_ArrayForEach(page, pages)
		{
			if (!ret)
				ret = take_page(m, i, page);
		}
		/* Kept whole: the haves point into its pages. */
		if (pages && !cJSON_AddItemToArray(m->lists, pages)) {
			cJSON_Delete(pages);
			ret = ret ?: -ENOMEM;
		}
	}
	return ret;
}

/* "Kind[.group] [ns/]name" of @o, for messages. */
static const char *obj_display(const struct mobj *o, char *buf, size_t len)
{
	char what[300];

	snprintf(buf, len, "%s %s%s%s", kind_display(o->group, o->kind, what, sizeof(what)), o->ns,
		 *o->ns ? "/" : "", o->name);
	return buf;
}

/* Tells why @verb (a write) of @o failed: no answer (@code 0), or the server's. -errno. */
static int write_failed(const struct mobj *o, const char *verb, long code, const char *resp)
{
	char what[900], why[400];

	obj_display(o, what, sizeof(what));
	if (!code) {
		fprintf(stderr, "ambitctl: kube: %s %s: no answer from the API server\n", verb,
			what);
		return -ECONNREFUSED;
	}
	fprintf(stderr, "ambitctl: kube: %s %s: HTTP %ld: %s\n", verb, what, code,
		server_reason(resp, why, sizeof(why)));
	return -EIO;
}

/* Tells that @o has no place in the API (a name too long for a path). -EINVAL. */
static int no_path(const struct mobj *o)
{
	char what[900];

	fprintf(stderr, "ambitctl: kube: %s: no API path for it\n",
		obj_display(o, what, sizeof(what)));
	return -EINVAL;
}

/* The server's answer @resp to a write of @o as @o->got. 0 or -EPROTO (told). */
static int take_answer(struct mobj *o, const char *verb, char *resp)
{
	cJSON *got = cJSON_Parse(resp);

	free(resp);
	char what[900];

	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(got, "metadata"))) {
		fprintf(stderr, "ambitctl: kube: %s %s: the API server's answer is no object\n",
			verb, obj_display(o, what, sizeof(what)));
		cJSON_Delete(got);
		return -EPROTO;
	}
	cJSON_Delete(o->got);
	o->got = got;
	return 0;
}

/*
 * Writes status @st (taken) over @cur (the server's object) through the status subresource:
 * where a real server takes status, which it drops from a Pod's create and replace.
 */
static int put_status(const struct kconn *k, struct mobj *o, const cJSON *cur, const char *path,
		      cJSON *st)
{
	cJSON *body = cJSON_Duplicate(cur, true);
	char sub[1100], *resp = NULL;
	long code;

	if (!body || !st || str_fmt(sub, sizeof(sub), "%s/status", path)) {
		cJSON_Delete(body);
		cJSON_Delete(st);
		return -ENOMEM;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(body, "status");
	cJSON_AddItemToObject(body, "status", st);
	code = kube_call(k, "PUT", sub, body, &resp);
	cJSON_Delete(body);
	/* Deleted or changed since it was read (`kubectl delete namespace`): left to import. */
	if (code == 404 || code == 409) {
		free(resp);
		o->left = true;
		return 0;
	}
	if (code != 200) {
		int ret = write_failed(o, "setting the status of", code, resp);

		free(resp);
		return ret;
	}
	return take_answer(o, "setting the status of", resp);
}

/* Writes @o's wanted status over @cur. */
static int write_status(const struct kconn *k, struct mobj *o, const cJSON *cur, const char *path)
{
	return put_status(
	    k, o, cur, path,
	    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o->want, "status"), true));
}

/* A write's answer when another hand deleted or changed the object since it was read: not
 * written, left for the next import (kube_mirror's -EAGAIN). */
#define LEFT 1

/*
 * Replaces @o's object at @path, which its create found there, at the server's version, as
 * `kubectl apply` takes over an object it did not make: the import before the mirror took what
 * it held into the store. Changed since that import by another hand (`kubectl label` just
 * after `kubectl create`) and not to what the store holds, it is left for the next import:
 * LEFT. Else the HTTP status, 0 when none.
 */
static long adopt(const struct kconn *k, struct mobj *o, const char *path, char **resp)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(o->want, "metadata"), *cur;
	const char *rv;
	long code = kube_call(k, "GET", path, NULL, resp);

	if (code != 200)
		return code;
	cur = cJSON_Parse(*resp);
	free(*resp);
	*resp = NULL;
	rv = kjson_str(cur, "metadata", "resourceVersion");
	if (rv && kube_import_rv() && strtoull(rv, NULL, 10) > kube_import_rv() &&
	    kmirror_holds(cur, o->want) == 0) {
		cJSON_Delete(cur);
		return LEFT;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
	if (!rv || !cJSON_AddStringToObject(md, "resourceVersion", rv)) {
		cJSON_Delete(cur);
		return 0;
	}
	cJSON_Delete(cur);
	code = kube_call(k, "PUT", path, o->want, resp);
	cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
	return code;
}

/* Whether a 404's Status @resp says the namespace is not found (not the kind's collection). */
static bool ns_not_found(const char *resp)
{
	cJSON *st = resp ? cJSON_Parse(resp) : NULL;
	bool yes = !strcmp(kjson_str(st, "details", "kind") ?: "", "namespaces");

	cJSON_Delete(st);
	return yes;
}

/* Creates, replaces or sets the status of @o as @act says. */
static int write_one(const struct kconn *k, struct mobj *o, enum kmirror_action act)
{
	const char *verb = act == KMIRROR_CREATE ? "creating" : "replacing", *name, *rv;
	char coll[512], path[1024], *resp = NULL;
	cJSON *md = cJSON_GetObjectItemCaseSensitive(o->want, "metadata");
	long code;
	int ret;

	if (kube_paths(o->want, coll, sizeof(coll), &name) ||
	    str_fmt(path, sizeof(path), "%s/%s", coll, name))
		return no_path(o);
	if (act == KMIRROR_STATUS)
		return write_status(k, o, o->have, path);
	if (act == KMIRROR_UPDATE) {
		/* Replaces what was listed, or fails (409) if it changed since. */
		rv = kjson_str(o->have, "metadata", "resourceVersion");
		cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
		if (rv && !cJSON_AddStringToObject(md, "resourceVersion", rv))
			return -ENOMEM;
		code = kube_call(k, "PUT", path, o->want, &resp);
		cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
		/* Deleted or changed since the listing: left to import. */
		if (code == 404 || code == 409)
			code = LEFT;
	} else if (kube_import_saw(o->group, o->kind, o->ns, o->name)) {
		/*
		 * Another hand's at the import (not the mirror's, or it would have been listed):
		 * adopted, or left when changed since, or gone since (`kubectl delete`): not made
		 * again.
		 */
		code = adopt(k, o, path, &resp);
		if (code == 404)
			code = LEFT;
	} else {
		code = kube_call(k, "POST", coll, o->want, &resp);
		/* Made meanwhile by another hand (kubectl): adopted, or left to import. */
		if (code == 409) {
			free(resp);
			resp = NULL;
			code = adopt(k, o, path, &resp);
		}
		/* Its namespace deleted since the listing (`kubectl delete namespace`). */
		if (code == 404 && *o->ns && ns_not_found(resp))
			code = LEFT;
	}
	if (code == LEFT) {
		free(resp);
		o->left = true;
		return 0;
	}
	if (code != 200 && code != 201) {
		ret = write_failed(o, verb, code, resp);
		free(resp);
		return ret;
	}
	ret = take_answer(o, verb, resp);
	/*
	 * The object's own write leaves its status as the server had it (a kind with a status
	 * subresource): a wanted status it does not hold yet goes through /status.
	 */
	if (!ret && (kmirror_decide(o->want, o->got) == KMIRROR_STATUS ||
		     (cJSON_GetObjectItemCaseSensitive(o->want, "status") &&
		      !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(o->want, "status"),
				     cJSON_GetObjectItemCaseSensitive(o->got, "status"), true))))
		ret = write_status(k, o, o->got, path);
	return ret;
}

static int delete_one(const struct kconn *k, const struct mobj *o)
{
	char coll[512], path[1024], *resp = NULL;
	const char *name;
	long code;
	int ret = 0;

	if (kube_paths(o->have, coll, sizeof(coll), &name) ||
	    str_fmt(path, sizeof(path), "%s/%s", coll, name))
		return no_path(o);
	code = kube_call(k, "DELETE", path, NULL, &resp);
	/* Gone already (deleted by hand meanwhile) is what was wanted. */
	if (code != 200 && code != 202 && code != 404)
		ret = write_failed(o, "deleting", code, resp);
	free(resp);
	return ret;
}

#define MIRROR_RANKS 5 /* kmirror_rank's values */

/* Writes in kmirror_rank order, so every object's namespace is there before it; deletes after,
 * the reverse way, so a namespace goes last. */
static int write_all(struct mirror *m, const struct kconn *k)
{
	int ret = 0;

	for (int r = 0; !ret && r < MIRROR_RANKS; r++) {
		for (size_t i = 0; !ret && i < m->n; i++) {
			struct mobj *o = &m->o[i];
			enum kmirror_action act = kmirror_decide(o->want, o->have);

			if (kmirror_rank(o->kind) == r && act != KMIRROR_KEEP &&
			    act != KMIRROR_DELETE)
				ret = write_one(k, o, act);
		}
	}
	for (int r = MIRROR_RANKS - 1; !ret && r >= 0; r--) {
		for (size_t i = 0; !ret && i < m->n; i++) {
			const struct mobj *o = &m->o[i];

			if (kmirror_rank(o->kind) == r &&
			    kmirror_decide(o->want, o->have) == KMIRROR_DELETE)
				ret = delete_one(k, o);
		}
	}
	return ret;
}

/*
 * Each Deployment's status as its controller keeps it: its pods in the plan, the started ones
 * ready, at the generation the server gave its spec. Written only when it changed.
 */
static int deployment_status(struct mirror *m, const struct kconn *k, const struct ctl_plan *p)
{
	for (size_t i = 0; i < m->nwant; i++) {
		struct mobj *o = &m->o[i];
		const cJSON *cur = o->got ? o->got : o->have;
		const cJSON *gen = kjson_get(cJSON_GetObjectItemCaseSensitive(cur, "metadata"),
					     "generation", NULL);
		const cJSON *rep =
		    kjson_get(cJSON_GetObjectItemCaseSensitive(o->want, "spec"), "replicas", NULL);
		char coll[512], path[1024];
		const char *name;
		cJSON *st;

		if (strcmp(o->group, "apps") || strcmp(o->kind, "Deployment") || !o->want || !cur)
			continue;
		st = kmirror_deployment_status(p->pods, p->npods, o->ns, o->name,
					       cJSON_IsNumber(rep) ? rep->valueint : 1,
					       cJSON_IsNumber(gen) ? gen->valuedouble : 1);
		if (!st)
			return -ENOMEM;
		if (cJSON_Compare(st, cJSON_GetObjectItemCaseSensitive(cur, "status"), true)) {
			cJSON_Delete(st);
			continue;
		}
		if (kube_paths(o->want, coll, sizeof(coll), &name) ||
		    str_fmt(path, sizeof(path), "%s/%s", coll, name)) {
			cJSON_Delete(st);
			return no_path(o);
		}
		/* Over the object as it is now: o->got is replaced by the answer. */
		cJSON *copy = cJSON_Duplicate(cur, true);
		int ret = copy ? put_status(k, o, copy, path, st) : -ENOMEM;

		cJSON_Delete(copy);
		if (ret)
			return ret;
	}
	return 0;
}

/* Whether @uid can name a cgroup directory, pod<uid>: what UIDs look like, and no more. */
static bool uid_ok(const char *uid)
{
	size_t n = strlen(uid);

	if (!n || n >= sizeof(((struct ctl_pod *)0)->uid))
		return false;
	for (; *uid; uid++)
		if (!((*uid >= 'a' && *uid <= 'z') || (*uid >= 'A' && *uid <= 'Z') ||
		      (*uid >= '0' && *uid <= '9') || *uid == '-'))
			return false;
	return true;
}

/*
 * Each pod's UID as the server holds it, and its cgroup where a kubelet with the cgroupfs driver
 * makes a BestEffort pod's: <node>/kubepods/besteffort/pod<uid>. podns_find looks there.
 */
static int pod_uids(struct mirror *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct mobj *o = &m->o[i];
		const cJSON *src = o->got ? o->got : o->have;
		const char *uid = kjson_str(src, "metadata", "uid");

		if (!o->pod)
			continue;
		if (!uid || !uid_ok(uid)) {
			fprintf(stderr, "ambitctl: kube: pod %s/%s: the API server gave %s\n",
				o->ns, o->name,
				uid ? "a metadata.uid that names no cgroup" : "no metadata.uid");
			return -EPROTO;
		}
		if (str_fmt(o->pod->cgroup, sizeof(o->pod->cgroup), "%s/besteffort/pod%s",
			    o->pod->node->cgroup, uid))
			return -ENAMETOOLONG;
		memcpy(o->pod->uid, uid, strlen(uid) + 1);
	}
	return 0;
}

/*
 * kube/mirror.dirty while the API may lack some of the store (a mirror failed): the controller
 * (kimport.c) then takes nothing missing there for deleted, and mirrors again.
 */
static void mirror_mark(const struct ctl_cluster *c, int ret)
{
	char path[PATH_MAX];

	if (cluster_path(c, path, sizeof(path), "kube/mirror.dirty"))
		return;
	if (ret)
		write_file_atomic(path, "");
	else
		unlink(path);
}

/*
 * Brings @c's API server to the objects of store @state and the pods of plan @p (borrowed), and
 * gives each pod of @p its UID and cgroup. Nothing for a cluster without --kube. 0 or -errno,
 * told on stderr.
 */
int kube_mirror(const struct ctl_cluster *c, struct ctl_plan *p, const char *state)
{
	struct config_diags diags = {0};
	struct mirror m = {0};
	struct kconn k = {0};
	char path[900];
	int saved = -1, ret;

	if (!c->kube)
		return 0;
	/* The store loaded when the plan was made; what it reports was told then. */
	ret = store_load(state, &m.store, &diags);
	config_diags_free(&diags);
	if (ret)
		fprintf(stderr, "ambitctl: kube: reading %s: %s\n", state, strerror(-ret));
	if (!ret)
		ret = want_store(&m, p);
	if (!ret)
		ret = want_pods(&m, p);
	if (!ret)
		ret = want_nodes(&m, c);
	if (!ret) {
		mirror_index(&m);
		ret = cluster_kube_enter(c, &k, &saved);
	}
	if (ret)
		goto out;
	ret = list_all(&m, &k);
	if (!ret)
		ret = write_all(&m, &k);
	if (!ret)
		ret = deployment_status(&m, &k, p);
	for (size_t i = 0; !ret && i < m.n; i++)
		if (m.o[i].left) {
			/* The rest written; the store takes the other hand's change first. */
			printf("kube: %s changed in the API server since it was read: "
			       "taken in first\n",
			       obj_display(&m.o[i], path, sizeof(path)));
			ret = -EAGAIN;
		}
	cluster_kube_leave(&k, saved);
	if (!ret)
		ret = pod_uids(&m);
out:
	/* -EAGAIN: the rest of the store is in the API; the next import takes what was left. */
	mirror_mark(c, ret == -EAGAIN ? 0 : ret);
	if (ret == -ENOMEM)
		fprintf(stderr, "ambitctl: kube: out of memory\n");
	mirror_free(&m);
	return ret;
}

int kube_resource_version(const struct ctl_cluster *c, uint64_t *rv)
{
	struct kconn k = {0};
	char *resp = NULL, *end;
	const char *v;
	cJSON *list;
	long code;
	int saved, ret = cluster_kube_enter(c, &k, &saved);

	if (ret)
		return ret;
	/* A list's resourceVersion is the server's current one: every write so far is at or below.
	 */
	code = kube_call(&k, "GET", "/api/v1/namespaces?limit=1", NULL, &resp);
	cluster_kube_leave(&k, saved);
	list = code == 200 ? cJSON_Parse(resp) : NULL;
	free(resp);
	v = kjson_str(cJSON_GetObjectItemCaseSensitive(list, "metadata"), "resourceVersion", NULL);
	*rv = v ? strtoull(v, &end, 10) : 0;
	ret = *rv && !*end ? 0 : -EIO;
	if (ret)
		fprintf(stderr, "ambitctl: kube: the API server's resourceVersion: HTTP %ld\n",
			code);
	cJSON_Delete(list);
	return ret;
}
