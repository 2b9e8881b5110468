// SPDX-License-Identifier: Apache-2.0
/*
 * The gateways' credentials as the CA serves them to node agents (caserver.h, POST
 * /v1/credentials): which Secrets a gateway or waypoint pod may have (its Gateway's
 * certificates, its Istio Gateways' and its DestinationRules' credentialNames), decided from
 * objects alone (the handler in caserver.c reads them from the API server).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "caserver.h"
#include "k8s/kmanifest.h"

#define GWAPI_GROUP "gateway.networking.k8s.io"

static const char *label_of(const cJSON *o, const char *key)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(o, "metadata"), "labels");

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, key));
}

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s ? s : dflt;
}

static cJSON *find_ref(const cJSON *refs, const char *ns, const char *name)
{
	cJSON *r;

	cJSON_ArrayForEach(r, refs)
	{
		if (!strcmp(str_or(r, "namespace", ""), ns) && !strcmp(str_or(r, "name", ""), name))
			return r;
	}
	return NULL;
}

/*
 * Appends {"namespace": @ns, "name": @name} to @refs unless there; @generic (a DestinationRule's
 * credentialName: an Opaque Secret of cert, key, cacert may do) marks it "generic": true, there
 * or new. 0 or -ENOMEM.
 */
static int add_ref_as(cJSON *refs, const char *ns, const char *name, bool generic)
{
	cJSON *o = find_ref(refs, ns, name);

	if (!o) {
		o = cJSON_CreateObject();
		if (!cJSON_AddItemToArray(refs, o) ||
		    !cJSON_AddStringToObject(o, "namespace", ns) ||
		    !cJSON_AddStringToObject(o, "name", name))
			return -ENOMEM;
	}
	if (generic && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "generic")) &&
	    !cJSON_AddTrueToObject(o, "generic"))
		return -ENOMEM;
	return 0;
}

static int add_ref(cJSON *refs, const char *ns, const char *name)
{
	return add_ref_as(refs, ns, name, false);
}

bool caserver_gateway_pod(const cJSON *pod)
{
	const char *istio = label_of(pod, "istio");

	/* As the agents serve them (agent.c, kube_waypoint_dirs). */
	return label_of(pod, CASERVER_GATEWAY_LABEL) ||
	       (istio && (!strcmp(istio, "ingressgateway") || !strcmp(istio, "egressgateway")));
}

int caserver_gateway_refs(const cJSON *pod, const cJSON *gw, cJSON *refs)
{
	const char *pod_ns = kjson_str(pod, "metadata", "namespace"),
		   *gw_ns = kjson_str(gw, "metadata", "namespace"),
		   *gw_name = kjson_str(gw, "metadata", "name"),
		   *want = label_of(pod, CASERVER_GATEWAY_LABEL);
	const cJSON *l, *r;

	/* Gateway API: a Gateway's deployment runs in the Gateway's namespace. */
	if (!want || !pod_ns || !gw_ns || !gw_name || strcmp(gw_ns, pod_ns) ||
	    strcmp(gw_name, want))
		return 0;
	cJSON_ArrayForEach(
	    l, kjson_get(cJSON_GetObjectItemCaseSensitive(gw, "spec"), "listeners", NULL))
	{
		cJSON_ArrayForEach(r, kjson_get(l, "tls", "certificateRefs"))
		{
			const char *name = str_or(r, "name", NULL),
				   *ns = str_or(r, "namespace", gw_ns);

			/* Only core Secrets: the spec's default kind, the one ambit serves. */
			if (!name || *str_or(r, "group", "") ||
			    strcmp(str_or(r, "kind", "Secret"), "Secret"))
				continue;
			if (add_ref(refs, ns, name))
				return -ENOMEM;
		}
	}
	return 0;
}

/* Whether Istio Gateway @gw's selector selects @pod (Istio: in any namespace). */
static bool selects(const cJSON *gw, const cJSON *pod)
{
	const cJSON *sel = kjson_get(gw, "spec", "selector"), *kv;

	/* No selector: every gateway pod, as Istio's. */
	cJSON_ArrayForEach(kv, sel)
	{
		const char *have = label_of(pod, kv->string);

		if (!cJSON_IsString(kv) || !have || strcmp(have, kv->valuestring))
			return false;
	}
	return true;
}

static int add_credential(cJSON *refs, const char *ns, const char *name, const char *mode)
{
	char ca[300];

	if (add_ref(refs, ns, name))
		return -ENOMEM;
	/* The mutual modes' CA may be in <name>-cacert (l7_secret_tls). */
	if (mode && strstr(mode, "MUTUAL") && strcmp(mode, "ISTIO_MUTUAL") &&
	    snprintf(ca, sizeof(ca), "%s-cacert", name) < (int)sizeof(ca))
		return add_ref(refs, ns, ca);
	return 0;
}

int caserver_istio_refs(const cJSON *pod, const cJSON *gateways, cJSON *refs)
{
	const char *ns = kjson_str(pod, "metadata", "namespace");
	const cJSON *gw, *srv, *n;

	if (!ns)
		return 0;
	cJSON_ArrayForEach(gw, gateways)
	{
		if (!selects(gw, pod))
			continue;
		cJSON_ArrayForEach(srv, kjson_get(gw, "spec", "servers"))
		{
			const cJSON *tls = cJSON_GetObjectItemCaseSensitive(srv, "tls");
			const char *mode = str_or(tls, "mode", NULL), *cn;

			/* credentialName: a Secret of the gateway pod's namespace (istiod's SDS).
			 */
			if ((cn = str_or(tls, "credentialName", NULL)) &&
			    add_credential(refs, ns, cn, mode))
				return -ENOMEM;
			cJSON_ArrayForEach(n,
					   cJSON_GetObjectItemCaseSensitive(tls, "credentialNames"))
			{
				if (cJSON_IsString(n) &&
				    add_credential(refs, ns, n->valuestring, mode))
					return -ENOMEM;
			}
		}
	}
	return 0;
}

/* Whether DestinationRule @dr applies to proxies of @ns, as l7/compile.c's dr_visible. */
static bool dr_visible(const cJSON *dr, const char *ns)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(dr, "spec"),
		    *to = cJSON_GetObjectItemCaseSensitive(spec, "exportTo"), *e;
	const char *own = kjson_str(dr, "metadata", "namespace");

	/* A workloadSelector selects sidecars, never a gateway's or waypoint's view. */
	if (cJSON_GetObjectItemCaseSensitive(spec, "workloadSelector") || !own)
		return false;
	if (!cJSON_GetArraySize(to))
		return true;
	cJSON_ArrayForEach(e, to)
	{
		const char *v = cJSON_GetStringValue(e);

		if (v &&
		    (!strcmp(v, "*") || !strcmp(v, ns) || (!strcmp(v, ".") && !strcmp(own, ns))))
			return true;
	}
	return false;
}

/* A DestinationRule's @tls (ClientTLSSettings): its credentialName, in @ns, into @refs. */
static int tls_refs(const cJSON *tls, const char *ns, cJSON *refs)
{
	const char *mode = str_or(tls, "mode", ""), *cn = str_or(tls, "credentialName", NULL);
	char ca[300];

	if (!cn || !*cn || (strcmp(mode, "SIMPLE") && strcmp(mode, "MUTUAL")))
		return 0;
	/* SIMPLE takes the CA, MUTUAL the pair too: from <name>, or <name>-cacert (istiod's). */
	if (add_ref_as(refs, ns, cn, true))
		return -ENOMEM;
	if (snprintf(ca, sizeof(ca), "%s-cacert", cn) < (int)sizeof(ca))
		return add_ref_as(refs, ns, ca, true);
	return 0;
}

/* Traffic policy @tp's tls and its portLevelSettings' tls: their credentialNames. */
static int policy_refs(const cJSON *tp, const char *ns, cJSON *refs)
{
	const cJSON *pl;

	if (tls_refs(cJSON_GetObjectItemCaseSensitive(tp, "tls"), ns, refs))
		return -ENOMEM;
	cJSON_ArrayForEach(pl, cJSON_GetObjectItemCaseSensitive(tp, "portLevelSettings"))
	{
		if (tls_refs(cJSON_GetObjectItemCaseSensitive(pl, "tls"), ns, refs))
			return -ENOMEM;
	}
	return 0;
}

int caserver_dr_refs(const cJSON *pod, const cJSON *drs, cJSON *refs)
{
	const char *ns = kjson_str(pod, "metadata", "namespace");
	const cJSON *dr, *sub;

	if (!ns || !caserver_gateway_pod(pod))
		return 0;
	cJSON_ArrayForEach(dr, drs)
	{
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(dr, "spec");

		if (!dr_visible(dr, ns))
			continue;
		/* credentialName: a Secret of the proxy's namespace (istiod's SDS), the pod's. */
		if (policy_refs(cJSON_GetObjectItemCaseSensitive(spec, "trafficPolicy"), ns, refs))
			return -ENOMEM;
		cJSON_ArrayForEach(sub, cJSON_GetObjectItemCaseSensitive(spec, "subsets"))
		{
			if (policy_refs(cJSON_GetObjectItemCaseSensitive(sub, "trafficPolicy"), ns,
					refs))
				return -ENOMEM;
		}
	}
	return 0;
}

/* Whether ReferenceGrant @g (of the Secret's namespace) lets Gateways of @gw_ns refer to @name. */
static bool grant_allows(const cJSON *g, const char *gw_ns, const char *name)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(g, "spec"), *f, *t;
	bool from = false;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(spec, "from"))
	{
		if (!strcmp(str_or(f, "group", ""), GWAPI_GROUP) &&
		    !strcmp(str_or(f, "kind", ""), "Gateway") &&
		    !strcmp(str_or(f, "namespace", ""), gw_ns))
			from = true;
	}
	if (!from)
		return false;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(spec, "to"))
	{
		const char *n = str_or(t, "name", NULL);

		if (!*str_or(t, "group", "x") && !strcmp(str_or(t, "kind", ""), "Secret") &&
		    (!n || !*n || !strcmp(n, name)))
			return true;
	}
	return false;
}

bool caserver_ref_granted(const char *gw_ns, const char *ns, const char *name, const cJSON *grants)
{
	const cJSON *g;

	if (!strcmp(gw_ns, ns))
		return true;
	cJSON_ArrayForEach(g, grants)
	{
		if (!strcmp(kjson_str(g, "metadata", "namespace") ?: "", ns) &&
		    grant_allows(g, gw_ns, name))
			return true;
	}
	return false;
}

int caserver_credential(const cJSON *secret, bool generic, cJSON **out, char *why, size_t len)
{
	static const char *const tls_keys[] = {"tls.crt", "tls.key", "ca.crt", NULL},
				 *const generic_keys[] = {"cert", "key", "cacert", NULL};
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(secret, "type"));
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data"), *v;
	const char *const *keys = tls_keys;
	bool any = false;
	cJSON *meta, *d;

	*out = NULL;
	type = type ? type : "Opaque";
	/*
	 * A gateway's certificate, as the spec makes certificateRefs: never an opaque Secret. A
	 * DestinationRule's credentialName (@generic) may also be an Opaque Secret of cert, key
	 * and cacert, as Istio's: those keys alone are handed out.
	 */
	if (generic && !strcmp(type, "Opaque")) {
		keys = generic_keys;
		for (size_t i = 0; keys[i]; i++)
			any |= cJSON_IsString(cJSON_GetObjectItemCaseSensitive(data, keys[i]));
		if (!any) {
			snprintf(why, len, "an Opaque Secret without cert, key or cacert");
			return 403;
		}
	} else if (strcmp(type, "kubernetes.io/tls")) {
		snprintf(why, len, "of type %.64s, not kubernetes.io/tls%s", type,
			 generic ? " (nor Opaque)" : "");
		return 403;
	}
	*out = cJSON_CreateObject();
	if (!*out || !cJSON_AddStringToObject(*out, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(*out, "kind", "Secret") ||
	    !(meta = cJSON_AddObjectToObject(*out, "metadata")) ||
	    !cJSON_AddStringToObject(meta, "name", kjson_str(secret, "metadata", "name") ?: "") ||
	    !cJSON_AddStringToObject(meta, "namespace",
				     kjson_str(secret, "metadata", "namespace") ?: "") ||
	    !cJSON_AddStringToObject(*out, "type", type) ||
	    !(d = cJSON_AddObjectToObject(*out, "data")))
		goto oom;
	for (size_t i = 0; keys[i]; i++) {
		v = cJSON_GetObjectItemCaseSensitive(data, keys[i]);
		if (cJSON_IsString(v) && !cJSON_AddStringToObject(d, keys[i], v->valuestring))
			goto oom;
	}
	return 0;
oom:
	cJSON_Delete(*out);
	*out = NULL;
	snprintf(why, len, "out of memory");
	return 500;
}

int caserver_certificate_check(const cJSON *secret, char *why, size_t len)
{
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(secret, "type"));
	struct config cfg;
	struct config_diags d = {0};
	char *text;
	int ret = 1;

	if (!secret) {
		snprintf(why, len, "does not exist");
		return 1;
	}
	if (!type || strcmp(type, "kubernetes.io/tls")) {
		snprintf(why, len, "is of type %.64s, not kubernetes.io/tls",
			 type ? type : "Opaque");
		return 1;
	}
	if (!(text = cJSON_PrintUnformatted(secret))) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	/* As the agent loads it (kinds/secret.c): a certificate and the key that belongs to it. */
	config_init(&cfg);
	(void)config_load_buffer(&cfg, "secret", text, strlen(text), &d);
	for (size_t i = 0; i < d.n; i++)
		if (d.items[i].error) {
			snprintf(why, len, "is refused: %s", d.items[i].message);
			ret = 1;
			goto out;
		}
	if (cfg.n_secrets == 1) {
		why[0] = '\0';
		ret = 0;
	} else {
		snprintf(why, len, "is refused");
	}
out:
	config_diags_free(&d);
	config_free(&cfg);
	explicit_bzero(text, strlen(text)); /* key material */
	free(text);
	return ret;
}

cJSON *caserver_list_cached(struct caserver_list_cache *c, uint64_t now_ms,
			    cJSON *(*fetch)(void *arg, bool *failed), void *arg, bool *failed)
{
	cJSON *o, *copy;

	*failed = false;
	pthread_mutex_lock(&c->lock);
	if (!c->obj || now_ms < c->at_ms || now_ms - c->at_ms >= CASERVER_LIST_CACHE_MS) {
		o = fetch(arg, failed);
		if (!*failed) {
			cJSON_Delete(c->obj);
			c->obj = o;
			c->at_ms = now_ms;
		} else {
			cJSON_Delete(o);
		}
	}
	copy = !*failed && c->obj ? cJSON_Duplicate(c->obj, true) : NULL;
	if (!*failed && c->obj && !copy)
		*failed = true;
	pthread_mutex_unlock(&c->lock);
	return copy;
}

void caserver_list_cache_clear(struct caserver_list_cache *c)
{
	pthread_mutex_lock(&c->lock);
	cJSON_Delete(c->obj);
	c->obj = NULL;
	pthread_mutex_unlock(&c->lock);
}
