// SPDX-License-Identifier: Apache-2.0
/*
 * The gateways' credentials as the CA serves them to node agents (caserver.h, POST
 * /v1/credentials): which Secrets a gateway pod may have, decided from objects alone (the
 * handler in caserver.c reads them from the API server).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "caserver.h"
#include "kmanifest.h"

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

static bool has_ref(const cJSON *refs, const char *ns, const char *name)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, refs)
	{
		if (!strcmp(str_or(r, "namespace", ""), ns) && !strcmp(str_or(r, "name", ""), name))
			return true;
	}
	return false;
}

/* Appends {"namespace": @ns, "name": @name} to @refs unless there: 0 or -ENOMEM. */
static int add_ref(cJSON *refs, const char *ns, const char *name)
{
	cJSON *o;

	if (has_ref(refs, ns, name))
		return 0;
	o = cJSON_CreateObject();
	if (!cJSON_AddItemToArray(refs, o) || !cJSON_AddStringToObject(o, "namespace", ns) ||
	    !cJSON_AddStringToObject(o, "name", name))
		return -ENOMEM;
	return 0;
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

int caserver_credential(const cJSON *secret, cJSON **out, char *why, size_t len)
{
	static const char *const keys[] = {"tls.crt", "tls.key", "ca.crt"};
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(secret, "type"));
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data"), *v;
	cJSON *meta, *d;

	*out = NULL;
	/* A gateway's certificate, as the spec makes certificateRefs: never an opaque Secret. */
	if (!type || strcmp(type, "kubernetes.io/tls")) {
		snprintf(why, len, "of type %.64s, not kubernetes.io/tls", type ? type : "Opaque");
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
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
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
	/* As the agent loads it (config_secret.c): a certificate and the key that belongs to it. */
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
