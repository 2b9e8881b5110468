// SPDX-License-Identifier: Apache-2.0
/*
 * The policy set's JSON form (the snapshot's "policies"; schema in docs/internals/l4-policy.md).
 * The decoder is strict like the rest of the snapshot: a wrong type, an unknown enum name, a bad
 * CIDR, an out-of-range index or an unsorted index array is an error naming the field, because
 * the ztunnel would rather keep its previous policy than enforce a half-understood one.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/json_memo.h"
#include "dec.h"
#include "policy_model.h"

/* ---- encode ---- */

static bool put_str(cJSON *o, const char *k, const char *v)
{
	return v ? cJSON_AddStringToObject(o, k, v) != NULL : true;
}

static bool put_strs(cJSON *o, const char *k, const struct policy_strs *l)
{
	cJSON *a;

	if (!l->n)
		return true;
	if (!(a = cJSON_AddArrayToObject(o, k)))
		return false;
	for (size_t i = 0; i < l->n; i++) {
		cJSON *s = cJSON_CreateString(l->items[i].text);

		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return false;
		}
	}
	return true;
}

static bool put_cidrs(cJSON *o, const char *k, const struct policy_cidrs *l)
{
	cJSON *a;

	if (!l->n)
		return true;
	if (!(a = cJSON_AddArrayToObject(o, k)))
		return false;
	for (size_t i = 0; i < l->n; i++) {
		char buf[IPADDR_STRLEN];
		cJSON *s;

		s = cJSON_CreateString(ipaddr_format_prefix(&l->items[i], buf, sizeof(buf)));
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return false;
		}
	}
	return true;
}

static bool put_u32s(cJSON *o, const char *k, const void *items, size_t n, bool u16)
{
	cJSON *a = cJSON_AddArrayToObject(o, k);

	if (!a)
		return false;
	for (size_t i = 0; i < n; i++) {
		double v = u16 ? ((const uint16_t *)items)[i] : ((const uint32_t *)items)[i];
		cJSON *x = cJSON_CreateNumber(v);

		if (!x || !cJSON_AddItemToArray(a, x)) {
			cJSON_Delete(x);
			return false;
		}
	}
	return true;
}

static bool put_uids(cJSON *o, const char *k, char **u, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, k);

	if (!a)
		return false;
	for (size_t i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateString(u[i]);

		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return false;
		}
	}
	return true;
}

static cJSON *enc_match(const struct policy_match *m)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !put_strs(o, "principals", &m->principals) ||
	    !put_strs(o, "notPrincipals", &m->not_principals) ||
	    !put_strs(o, "namespaces", &m->namespaces) ||
	    !put_strs(o, "notNamespaces", &m->not_namespaces) ||
	    !put_cidrs(o, "srcIPs", &m->src_ips) || !put_cidrs(o, "notSrcIPs", &m->not_src_ips) ||
	    !put_cidrs(o, "dstIPs", &m->dst_ips) || !put_cidrs(o, "notDstIPs", &m->not_dst_ips) ||
	    (m->ports.n && !put_u32s(o, "ports", m->ports.items, m->ports.n, true)) ||
	    (m->not_ports.n &&
	     !put_u32s(o, "notPorts", m->not_ports.items, m->not_ports.n, true))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *enc_rule(const struct policy_rule *r)
{
	cJSON *o = cJSON_CreateObject(), *cls;

	if (!o || !cJSON_AddNumberToObject(o, "line", r->line) ||
	    !cJSON_AddBoolToObject(o, "dropped", r->dropped) || !put_str(o, "note", r->note) ||
	    !(cls = cJSON_AddArrayToObject(o, "clauses")))
		goto fail;
	for (size_t i = 0; i < r->n_clauses; i++) {
		cJSON *cl = cJSON_CreateArray();

		if (!cl || !cJSON_AddItemToArray(cls, cl)) {
			cJSON_Delete(cl);
			goto fail;
		}
		for (size_t j = 0; j < r->clauses[i].n; j++) {
			cJSON *m = enc_match(&r->clauses[i].items[j]);

			if (!m || !cJSON_AddItemToArray(cl, m)) {
				cJSON_Delete(m);
				goto fail;
			}
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static cJSON *enc_authz(const struct policy_authz *p)
{
	cJSON *o = cJSON_CreateObject(), *rules;

	if (!o || !put_str(o, "namespace", p->namespace) || !put_str(o, "name", p->name) ||
	    !put_str(o, "scope", policy_scope_str(p->scope)) ||
	    !put_str(o, "action", policy_action_str(p->action)) ||
	    !cJSON_AddBoolToObject(o, "dryRun", p->dry_run) || !put_str(o, "note", p->note) ||
	    !put_uids(o, "workloads", p->workloads, p->n_workloads) ||
	    !(rules = cJSON_AddArrayToObject(o, "rules")))
		goto fail;
	for (size_t i = 0; i < p->n_rules; i++) {
		cJSON *r = enc_rule(&p->rules[i]);

		if (!r || !cJSON_AddItemToArray(rules, r)) {
			cJSON_Delete(r);
			goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static bool put_mtls(cJSON *parent, const char *k, const struct policy_mtls *m)
{
	cJSON *o = cJSON_AddObjectToObject(parent, k), *ports;

	if (!o || !put_str(o, "mode", policy_mtls_str(m->mode)) ||
	    !put_str(o, "source", m->source) || !put_str(o, "portSource", m->port_source) ||
	    !(ports = cJSON_AddArrayToObject(o, "ports")))
		return false;
	for (size_t i = 0; i < m->n_ports; i++) {
		cJSON *p = cJSON_CreateObject();

		if (!p || !cJSON_AddItemToArray(ports, p)) {
			cJSON_Delete(p);
			return false;
		}
		if (!cJSON_AddNumberToObject(p, "port", m->ports[i].port) ||
		    !put_str(p, "mode", policy_mtls_str(m->ports[i].mode)))
			return false;
	}
	return true;
}

static cJSON *peer_auth_json(const void *p)
{
	const struct policy_peer_auth *pa = p;
	cJSON *o = cJSON_CreateObject();

	if (o && put_str(o, "namespace", pa->namespace) && put_str(o, "name", pa->name) &&
	    put_str(o, "scope", policy_scope_str(pa->scope)) &&
	    put_str(o, "mode", policy_mtls_str(pa->mode)) &&
	    cJSON_AddBoolToObject(o, "inForce", pa->in_force) &&
	    put_uids(o, "workloads", pa->workloads, pa->n_workloads))
		return o;
	cJSON_Delete(o);
	return NULL;
}

static cJSON *namespace_json(const void *p)
{
	const struct policy_namespace *n = p;
	cJSON *o = cJSON_CreateObject();

	if (o && put_str(o, "name", n->name) && put_mtls(o, "mtls", &n->mtls) &&
	    put_u32s(o, "policies", n->policies, n->n_policies, false))
		return o;
	cJSON_Delete(o);
	return NULL;
}

static cJSON *workload_json(const void *p)
{
	const struct policy_workload *w = p;
	cJSON *o = cJSON_CreateObject();

	if (o && put_str(o, "uid", w->uid) && put_str(o, "namespace", w->namespace) &&
	    put_mtls(o, "mtls", &w->mtls) &&
	    put_u32s(o, "policies", w->policies, w->n_policies, false))
		return o;
	cJSON_Delete(o);
	return NULL;
}

static cJSON *authz_json(const void *p)
{
	return enc_authz(p);
}

/* The set's members before its arrays: rootNamespace and mesh. */
static cJSON *set_head(const struct policy_set *ps)
{
	cJSON *root = cJSON_CreateObject();

	if (root && put_str(root, "rootNamespace", ps->root_namespace) &&
	    put_mtls(root, "mesh", &ps->mesh))
		return root;
	cJSON_Delete(root);
	return NULL;
}

/* The set's arrays in their order, each element with its encoder and its memo hash. */
#define SET_ARRAYS(X)                                                                              \
	X("policies", policies, n_policies, authz_json, hash_authz)                                \
	X("peerAuthentications", peer_auths, n_peer_auths, peer_auth_json, hash_peer_auth)         \
	X("namespaces", namespaces, n_namespaces, namespace_json, hash_namespace)                  \
	X("workloads", workloads, n_workloads, workload_json, hash_workload)

static bool add_all(cJSON *arr, const void *items, size_t n, size_t size,
		    cJSON *(*to_json)(const void *))
{
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *o = to_json((const char *)items + i * size);

		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			return false;
		}
	}
	return arr != NULL;
}

struct cJSON *policy_set_to_json(const struct policy_set *ps)
{
	cJSON *root = set_head(ps);

#define ADD_ARRAY(key, items, n, to_json, hash)                                                    \
	if (root && !add_all(cJSON_AddArrayToObject(root, key), ps->items, ps->n,                  \
			     sizeof(*ps->items), to_json)) {                                       \
		cJSON_Delete(root);                                                                \
		root = NULL;                                                                       \
	}
	SET_ARRAYS(ADD_ARRAY)
#undef ADD_ARRAY
	if (!root)
		errno = ENOMEM;
	return root;
}

/* ---- the memo's hashes: each reads exactly what its encoder above writes ---- */

static void hash_strs(struct json_hasher *x, const struct policy_strs *l)
{
	json_hasher_u64(x, l->n);
	for (size_t i = 0; i < l->n; i++)
		json_hasher_str(x, l->items[i].text);
}

static void hash_cidrs(struct json_hasher *x, const struct policy_cidrs *l)
{
	json_hasher_u64(x, l->n);
	for (size_t i = 0; i < l->n; i++)
		json_hasher_mem(x, &l->items[i], sizeof(l->items[i]));
}

static void hash_u16s(struct json_hasher *x, const uint16_t *v, size_t n)
{
	json_hasher_u64(x, n);
	json_hasher_mem(x, v, n * sizeof(*v));
}

static void hash_u32s(struct json_hasher *x, const uint32_t *v, size_t n)
{
	json_hasher_u64(x, n);
	json_hasher_mem(x, v, n * sizeof(*v));
}

static void hash_uids(struct json_hasher *x, char *const *u, size_t n)
{
	json_hasher_u64(x, n);
	for (size_t i = 0; i < n; i++)
		json_hasher_str(x, u[i]);
}

static void hash_int(struct json_hasher *x, int v)
{
	json_hasher_mem(x, &v, sizeof(v));
}

/* Which of the match's ten lists are there, then those: most are empty. */
static void hash_match(struct json_hasher *x, const struct policy_match *m)
{
	const struct policy_strs *strs[] = {&m->principals, &m->not_principals, &m->namespaces,
					    &m->not_namespaces};
	const struct policy_cidrs *cidrs[] = {&m->src_ips, &m->not_src_ips, &m->dst_ips,
					      &m->not_dst_ips};
	uint16_t there = (uint16_t)(!!m->ports.n << 8 | !!m->not_ports.n << 9);

	for (unsigned int i = 0; i < 4; i++)
		there |= (uint16_t)(!!strs[i]->n << i | !!cidrs[i]->n << (4 + i));
	json_hasher_mem(x, &there, sizeof(there));
	for (unsigned int i = 0; i < 4; i++)
		if (strs[i]->n)
			hash_strs(x, strs[i]);
	for (unsigned int i = 0; i < 4; i++)
		if (cidrs[i]->n)
			hash_cidrs(x, cidrs[i]);
	if (m->ports.n)
		hash_u16s(x, m->ports.items, m->ports.n);
	if (m->not_ports.n)
		hash_u16s(x, m->not_ports.items, m->not_ports.n);
}

static uint64_t hash_authz(const void *p)
{
	const struct policy_authz *a = p;
	struct json_hasher x;

	json_hasher_init(&x, 0x617574687aull); /* "authz" */
	json_hasher_opt(&x, a->namespace);
	json_hasher_opt(&x, a->name);
	hash_int(&x, (int)a->scope);
	hash_int(&x, (int)a->action);
	hash_int(&x, a->dry_run);
	json_hasher_opt(&x, a->note);
	hash_uids(&x, a->workloads, a->n_workloads);
	json_hasher_u64(&x, a->n_rules);
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct policy_rule *r = &a->rules[i];

		hash_int(&x, r->line);
		hash_int(&x, r->dropped);
		json_hasher_opt(&x, r->note);
		json_hasher_u64(&x, r->n_clauses);
		for (size_t j = 0; j < r->n_clauses; j++) {
			json_hasher_u64(&x, r->clauses[j].n);
			for (size_t k = 0; k < r->clauses[j].n; k++)
				hash_match(&x, &r->clauses[j].items[k]);
		}
	}
	return json_hasher_end(&x);
}

static void hash_mtls(struct json_hasher *x, const struct policy_mtls *m)
{
	hash_int(x, (int)m->mode);
	json_hasher_opt(x, m->source);
	json_hasher_opt(x, m->port_source);
	json_hasher_u64(x, m->n_ports);
	for (size_t i = 0; i < m->n_ports; i++) {
		json_hasher_mem(x, &m->ports[i].port, sizeof(m->ports[i].port));
		hash_int(x, (int)m->ports[i].mode);
	}
}

static uint64_t hash_peer_auth(const void *p)
{
	const struct policy_peer_auth *pa = p;
	struct json_hasher x;

	json_hasher_init(&x, 0x7065657261ull); /* "peera" */
	json_hasher_opt(&x, pa->namespace);
	json_hasher_opt(&x, pa->name);
	hash_int(&x, (int)pa->scope);
	hash_int(&x, (int)pa->mode);
	hash_int(&x, pa->in_force);
	hash_uids(&x, pa->workloads, pa->n_workloads);
	return json_hasher_end(&x);
}

static uint64_t hash_namespace(const void *p)
{
	const struct policy_namespace *n = p;
	struct json_hasher x;

	json_hasher_init(&x, 0x6e616d657370ull); /* "namesp" */
	json_hasher_opt(&x, n->name);
	hash_mtls(&x, &n->mtls);
	hash_u32s(&x, n->policies, n->n_policies);
	return json_hasher_end(&x);
}

static uint64_t hash_workload(const void *p)
{
	const struct policy_workload *w = p;
	struct json_hasher x;

	json_hasher_init(&x, 0x706f6c776cull); /* "polwl" */
	json_hasher_opt(&x, w->uid);
	json_hasher_opt(&x, w->namespace);
	hash_mtls(&x, &w->mtls);
	hash_u32s(&x, w->policies, w->n_policies);
	return json_hasher_end(&x);
}

static int write_all(struct jbuf *b, const char *key, const void *items, size_t n, size_t size,
		     cJSON *(*to_json)(const void *), uint64_t (*hash)(const void *),
		     struct json_memo *m)
{
	int err = 0;

	jbuf_puts(b, ",\"");
	jbuf_puts(b, key);
	jbuf_puts(b, "\":[");
	for (size_t i = 0; !err && i < n; i++) {
		if (i)
			jbuf_put(b, ",", 1);
		err = json_memo_write(b, m, (const char *)items + i * size, hash, to_json);
	}
	jbuf_put(b, "]", 1);
	return err || b->failed ? -ENOMEM : 0;
}

int policy_set_write(struct jbuf *b, const struct policy_set *ps, struct json_memo *m)
{
	cJSON *head = set_head(ps);
	char *txt = head ? cJSON_PrintUnformatted(head) : NULL;
	int err = txt ? 0 : -ENOMEM;

	cJSON_Delete(head);
	/* The head without its closing brace, then the arrays. */
	if (!err)
		jbuf_put(b, txt, strlen(txt) - 1);
	free(txt);
#define WRITE_ARRAY(key, items, n, to_json, hash)                                                  \
	if (!err)                                                                                  \
		err = write_all(b, key, ps->items, ps->n, sizeof(*ps->items), to_json, hash, m);
	SET_ARRAYS(WRITE_ARRAY)
#undef WRITE_ARRAY
	jbuf_put(b, "}", 1);
	return err || b->failed ? -ENOMEM : 0;
}

/* ---- decode ---- */

/* The kit's state, and the path of the element at hand ("policies.policies[3].rules[0]"). */
struct dec {
	struct wire_dec w;
	char path[168];
};

static __attribute__((format(printf, 2, 3))) void fail(struct dec *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (d->w.failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wire_fail(&d->w, "%s: %s", d->path, msg);
}

/* Appends a path element; returns the length to restore with pop(). */
static size_t push(struct dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t push(struct dec *d, const char *fmt, ...)
{
	size_t n = strlen(d->path);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->path + n, sizeof(d->path) - n, fmt, ap);
	va_end(ap);
	return n;
}

static void pop(struct dec *d, size_t n)
{
	d->path[n] = '\0';
}

static bool dec_int(struct dec *d, const cJSON *it, double max, uint32_t *out)
{
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0 ||
	    it->valuedouble > max || it->valuedouble != floor(it->valuedouble)) {
		fail(d, "expected an integer in 0..%.0f", max);
		return false;
	}
	*out = (uint32_t)it->valuedouble;
	return true;
}

static int enum_of(struct dec *d, const cJSON *o, const char *k, const char *(*name)(int),
		   int count, int dflt)
{
	char *s = wire_str(&d->w, o, k, d->path, false);
	int v = -1;

	if (!s)
		return dflt;
	for (int i = 0; i < count && v < 0; i++)
		if (!strcmp(s, name(i)))
			v = i;
	if (v < 0) {
		size_t n = push(d, ".%s", k);

		fail(d, "unknown value \"%.40s\"", s);
		pop(d, n);
		v = dflt;
	}
	free(s);
	return v;
}

static const char *scope_name(int i)
{
	return policy_scope_str((enum policy_scope)i);
}

static const char *action_name(int i)
{
	return policy_action_str((enum policy_action)i);
}

static const char *mode_name(int i)
{
	return policy_mtls_str((enum config_mtls_mode)i);
}

#define FOR_ITEMS(d, arr, i, it)                                                                   \
	for (size_t _n = 0, i = 0; !_n; _n = 1)                                                    \
		for (const cJSON *it = (arr) ? (arr)->child : NULL; it && !(d)->w.failed;          \
		     it = it->next, i++)

/* Decodes one array element into @item (zeroed); false when it holds nothing to free. */
typedef bool (*dec_item_fn)(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx);

/*
 * The array at @k of @o, decoded by @item into a new zeroed array of @size-byte items (one spare)
 * which the caller owns; NULL when absent or empty, or after a failure. *@count: the items that
 * hold something to free, which the caller's destructor walks. Stops at the first failure.
 */
static void *dec_list(struct dec *d, const cJSON *o, const char *k, size_t size, size_t *count,
		      dec_item_fn item, void *ctx)
{
	size_t n;
	const cJSON *arr = wire_arr(&d->w, o, k, d->path, &n);
	char *items;

	*count = 0;
	if (!arr || !n || d->w.failed || !(items = wire_alloc(&d->w, n, size, d->path)))
		return NULL;
	FOR_ITEMS(d, arr, i, it)
	{
		size_t p = push(d, ".%s[%zu]", k, i);

		if (item(d, it, items + i * size, i, ctx))
			*count = i + 1;
		pop(d, p);
	}
	return items;
}

static bool dec_str_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	int err = cJSON_IsString(it) ? policy_str_init(item, it->valuestring) : -EINVAL;

	if (err)
		fail(d, err == -ENOMEM ? "out of memory" : "expected a non-empty string");
	return !err;
}

static void dec_strs(struct dec *d, const cJSON *o, const char *k, struct policy_strs *l)
{
	l->items = dec_list(d, o, k, sizeof(*l->items), &l->n, dec_str_item, NULL);
}

static bool dec_cidr_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	struct ipaddr *c = item;

	/* "none": an entry read as no address (it matches nothing). */
	if (cJSON_IsString(it) && !strcmp(it->valuestring, "none"))
		memset(c, 0, sizeof(*c));
	else if (!cJSON_IsString(it) || ipaddr_parse(it->valuestring, c))
		fail(d, "expected a CIDR string (IPv4 or IPv6)");
	return true;
}

static void dec_cidrs(struct dec *d, const cJSON *o, const char *k, struct policy_cidrs *l)
{
	l->items = dec_list(d, o, k, sizeof(*l->items), &l->n, dec_cidr_item, NULL);
}

static bool dec_port_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	uint32_t v;

	if (dec_int(d, it, 65535, &v))
		*(uint16_t *)item = (uint16_t)v;
	return true;
}

static void dec_ports(struct dec *d, const cJSON *o, const char *k, struct policy_ports *l)
{
	l->items = dec_list(d, o, k, sizeof(*l->items), &l->n, dec_port_item, NULL);
}

static const char *const match_keys[] = {
    "principals", "notPrincipals", "namespaces", "notNamespaces", "srcIPs", "notSrcIPs",
    "dstIPs",	  "notDstIPs",	   "ports",	 "notPorts",	  NULL};

static void dec_match(struct dec *d, const cJSON *o, struct policy_match *m)
{
	const cJSON *it;

	if (!cJSON_IsObject(o)) {
		fail(d, "expected an object");
		return;
	}
	cJSON_ArrayForEach(it, o)
	{
		bool known = false;

		for (size_t i = 0; match_keys[i] && !known; i++)
			known = !strcmp(it->string, match_keys[i]);
		if (!known) {
			fail(d, "unknown field \"%.40s\"", it->string);
			return;
		}
	}
	dec_strs(d, o, "principals", &m->principals);
	dec_strs(d, o, "notPrincipals", &m->not_principals);
	dec_strs(d, o, "namespaces", &m->namespaces);
	dec_strs(d, o, "notNamespaces", &m->not_namespaces);
	dec_cidrs(d, o, "srcIPs", &m->src_ips);
	dec_cidrs(d, o, "notSrcIPs", &m->not_src_ips);
	dec_cidrs(d, o, "dstIPs", &m->dst_ips);
	dec_cidrs(d, o, "notDstIPs", &m->not_dst_ips);
	dec_ports(d, o, "ports", &m->ports);
	dec_ports(d, o, "notPorts", &m->not_ports);
}

static bool dec_clause_item(struct dec *d, const cJSON *cl, void *item, size_t i, void *ctx)
{
	struct policy_clause *c = item;
	size_t m;

	if (!cJSON_IsArray(cl) || !(m = (size_t)cJSON_GetArraySize(cl))) {
		fail(d, "expected a non-empty array");
	} else if ((c->items = wire_alloc(&d->w, m, sizeof(*c->items), d->path))) {
		FOR_ITEMS(d, cl, j, mo)
		{
			size_t q = push(d, "[%zu]", j);

			c->n = j + 1;
			dec_match(d, mo, &c->items[j]);
			pop(d, q);
		}
	}
	return true;
}

static void dec_rule(struct dec *d, const cJSON *o, struct policy_rule *r)
{
	const cJSON *line;
	uint32_t v;

	if (!cJSON_IsObject(o)) {
		fail(d, "expected an object");
		return;
	}
	if ((line = wire_get(&d->w, o, "line", d->path, false)) && dec_int(d, line, 1e9, &v))
		r->line = (int)v;
	r->dropped = wire_bool(&d->w, o, "dropped", d->path);
	r->note = wire_str(&d->w, o, "note", d->path, false);
	r->clauses =
	    dec_list(d, o, "clauses", sizeof(*r->clauses), &r->n_clauses, dec_clause_item, NULL);
}

static bool dec_uid_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	char **uid = item;

	if (!cJSON_IsString(it) || !(*uid = strdup(it->valuestring))) {
		fail(d, "expected a string");
		return false;
	}
	return true;
}

static void dec_uids(struct dec *d, const cJSON *o, char ***out, size_t *nout)
{
	*out = dec_list(d, o, "workloads", sizeof(char *), nout, dec_uid_item, NULL);
}

static bool dec_rule_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	dec_rule(d, it, item);
	return true;
}

static void dec_authz(struct dec *d, const cJSON *o, struct policy_authz *p)
{
	if (!cJSON_IsObject(o)) {
		fail(d, "expected an object");
		return;
	}
	p->namespace = wire_str(&d->w, o, "namespace", d->path, true);
	p->name = wire_str(&d->w, o, "name", d->path, true);
	if (d->w.failed)
		return;
	if (asprintf(&p->key, "%s/%s", p->namespace, p->name) < 0) {
		p->key = NULL;
		fail(d, "out of memory");
		return;
	}
	p->scope = (enum policy_scope)enum_of(d, o, "scope", scope_name, 4, 0);
	p->action = (enum policy_action)enum_of(d, o, "action", action_name, 4, 0);
	p->dry_run = wire_bool(&d->w, o, "dryRun", d->path);
	p->note = wire_str(&d->w, o, "note", d->path, false);
	dec_uids(d, o, &p->workloads, &p->n_workloads);
	p->rules = dec_list(d, o, "rules", sizeof(*p->rules), &p->n_rules, dec_rule_item, NULL);
}

static bool dec_mtls_port_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	struct policy_port_mtls *mp = item;
	const cJSON *port = cJSON_IsObject(it) ? wire_get(&d->w, it, "port", d->path, true) : NULL;
	uint32_t v;

	if (!cJSON_IsObject(it))
		fail(d, "expected an object");
	else if (port && dec_int(d, port, 65535, &v))
		mp->port = (uint16_t)v;
	if (!d->w.failed)
		mp->mode = (enum config_mtls_mode)enum_of(d, it, "mode", mode_name, 4,
							  CONFIG_MTLS_PERMISSIVE);
	if (i && !d->w.failed && mp->port <= mp[-1].port)
		fail(d, "ports not sorted");
	return true;
}

static void dec_mtls(struct dec *d, const cJSON *parent, const char *k, struct policy_mtls *m)
{
	const cJSON *o = wire_get(&d->w, parent, k, d->path, true);
	size_t p;

	if (d->w.failed)
		return;
	p = push(d, ".%s", k);
	if (!cJSON_IsObject(o)) {
		fail(d, "expected an object");
		return;
	}
	m->mode =
	    (enum config_mtls_mode)enum_of(d, o, "mode", mode_name, 4, CONFIG_MTLS_PERMISSIVE);
	m->source = wire_str(&d->w, o, "source", d->path, false);
	m->port_source = wire_str(&d->w, o, "portSource", d->path, false);
	m->ports =
	    dec_list(d, o, "ports", sizeof(*m->ports), &m->n_ports, dec_mtls_port_item, NULL);
	if (!d->w.failed)
		pop(d, p);
}

/* @ctx: the number of policies, which each index must be below. */
static bool dec_idx_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	size_t max = *(const size_t *)ctx;
	uint32_t *v = item;

	if (dec_int(d, it, 4294967295.0, v) && *v >= max)
		fail(d, "index %u out of range (%zu policies)", *v, max);
	return true;
}

/* An index array into the policies, each < @max. */
static void dec_idx(struct dec *d, const cJSON *o, size_t max, uint32_t **out, size_t *nout)
{
	*out = dec_list(d, o, "policies", sizeof(uint32_t), nout, dec_idx_item, &max);
}

static bool dec_authz_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	struct policy_authz *p = item;

	dec_authz(d, it, p);
	if (!d->w.failed && i && strcmp(p[-1].key, p->key) >= 0)
		fail(d, "not sorted by namespace/name");
	return true;
}

static void dec_policies(struct dec *d, const cJSON *root, struct policy_set *ps)
{
	ps->policies = dec_list(d, root, "policies", sizeof(*ps->policies), &ps->n_policies,
				dec_authz_item, NULL);
	if (d->w.failed || !ps->policies)
		return;
	for (size_t i = 0; i < ps->n_policies; i++)
		if (ps->policies[i].scope == POLICY_SCOPE_GLOBAL)
			ps->n_global++;
	if (!(ps->global = wire_alloc(&d->w, ps->n_global, sizeof(uint32_t), d->path)))
		return;
	ps->n_global = 0;
	for (size_t i = 0; i < ps->n_policies; i++)
		if (ps->policies[i].scope == POLICY_SCOPE_GLOBAL)
			ps->global[ps->n_global++] = (uint32_t)i;
}

static bool dec_peer_auth_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	struct policy_peer_auth *pa = item;

	if (!cJSON_IsObject(it)) {
		fail(d, "expected an object");
		return true;
	}
	pa->namespace = wire_str(&d->w, it, "namespace", d->path, true);
	pa->name = wire_str(&d->w, it, "name", d->path, true);
	pa->scope = (enum policy_scope)enum_of(d, it, "scope", scope_name, 4, 0);
	pa->mode = (enum config_mtls_mode)enum_of(d, it, "mode", mode_name, 4, 0);
	pa->in_force = wire_bool(&d->w, it, "inForce", d->path);
	dec_uids(d, it, &pa->workloads, &pa->n_workloads);
	return true;
}

static void dec_peer_auths(struct dec *d, const cJSON *root, struct policy_set *ps)
{
	ps->peer_auths = dec_list(d, root, "peerAuthentications", sizeof(*ps->peer_auths),
				  &ps->n_peer_auths, dec_peer_auth_item, NULL);
}

/* @ctx: the policy set, whose policies are decoded already. */
static bool dec_namespace_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	const struct policy_set *ps = ctx;
	struct policy_namespace *x = item;

	if (!cJSON_IsObject(it)) {
		fail(d, "expected an object");
		return true;
	}
	x->name = wire_str(&d->w, it, "name", d->path, true);
	dec_mtls(d, it, "mtls", &x->mtls);
	dec_idx(d, it, ps->n_policies, &x->policies, &x->n_policies);
	if (!d->w.failed && i && strcmp(x[-1].name, x->name) >= 0)
		fail(d, "not sorted by name");
	return true;
}

/* @ctx: the policy set, whose policies are decoded already. */
static bool dec_workload_item(struct dec *d, const cJSON *it, void *item, size_t i, void *ctx)
{
	const struct policy_set *ps = ctx;
	struct policy_workload *w = item;

	if (!cJSON_IsObject(it)) {
		fail(d, "expected an object");
		return true;
	}
	w->uid = wire_str(&d->w, it, "uid", d->path, true);
	w->namespace = wire_str(&d->w, it, "namespace", d->path, true);
	dec_mtls(d, it, "mtls", &w->mtls);
	dec_idx(d, it, ps->n_policies, &w->policies, &w->n_policies);
	if (!d->w.failed && i && strcmp(w[-1].uid, w->uid) >= 0)
		fail(d, "not sorted by uid");
	return true;
}

static void dec_scopes(struct dec *d, const cJSON *root, struct policy_set *ps)
{
	ps->namespaces = dec_list(d, root, "namespaces", sizeof(*ps->namespaces), &ps->n_namespaces,
				  dec_namespace_item, ps);
	ps->workloads = dec_list(d, root, "workloads", sizeof(*ps->workloads), &ps->n_workloads,
				 dec_workload_item, ps);
}

struct policy_set *policy_set_from_json(const struct cJSON *obj, char *err, size_t errlen)
{
	struct dec d = {.w = {.err = err, .errlen = errlen, .max_list = SIZE_MAX},
			.path = "policies"};
	struct policy_set *ps;

	if (err && errlen)
		err[0] = '\0';
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		fail(&d, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (!cJSON_IsObject(obj)) {
		fail(&d, "expected an object");
		goto out;
	}
	ps->root_namespace = wire_str(&d.w, obj, "rootNamespace", d.path, true);
	dec_mtls(&d, obj, "mesh", &ps->mesh);
	dec_policies(&d, obj, ps);
	dec_peer_auths(&d, obj, ps);
	dec_scopes(&d, obj, ps);
out:
	if (!d.w.failed)
		return ps;
	policy_set_free(ps);
	errno = EINVAL;
	return NULL;
}
