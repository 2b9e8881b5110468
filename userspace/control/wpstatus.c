// SPDX-License-Identifier: Apache-2.0
/*
 * The Gateway API status the waypoint controller writes back (wpstatus.h): what l7/gwstatus.c
 * says, stamped as the API wants conditions (observedGeneration, lastTransitionTime), merged
 * with what other controllers wrote, and compared with what is there so that an unchanged
 * status is never written again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/l7.h"
#include "k8s/kmanifest.h"
#include "wpstatus.h"

#define GATEWAY_API "/apis/gateway.networking.k8s.io/"
#define CONTROLLER "istio.io/gateway-controller"

const struct kwatch_res wps_res[] = {
    {"httproutes", GATEWAY_API "v1/httproutes", NULL, NULL, "gateway.networking.k8s.io/v1",
     "HTTPRoute"},
    {"grpcroutes", GATEWAY_API "v1/grpcroutes", NULL, NULL, "gateway.networking.k8s.io/v1",
     "GRPCRoute"},
    {"tlsroutes", GATEWAY_API "v1alpha2/tlsroutes", NULL, NULL,
     "gateway.networking.k8s.io/v1alpha2", "TLSRoute"},
    {"tcproutes", GATEWAY_API "v1alpha2/tcproutes", NULL, NULL,
     "gateway.networking.k8s.io/v1alpha2", "TCPRoute"},
    {"referencegrants", GATEWAY_API "v1beta1/referencegrants", NULL, NULL,
     "gateway.networking.k8s.io/v1beta1", "ReferenceGrant"},
    {"namespaces", "/api/v1/namespaces", NULL, NULL, "v1", "Namespace"},
    {"services", "/api/v1/services", NULL, NULL, "v1", "Service"},
    /* A route's parent may be a ServiceEntry (egress through its waypoint). */
    {"serviceentries", "/apis/networking.istio.io/v1/serviceentries", NULL, NULL,
     "networking.istio.io/v1", "ServiceEntry"},
    /* Without a CA to ask (wps_certificate_refs): a controller run with a user's kubeconfig. */
    {"tls secrets", WPS_SECRETS_PATH, "type=kubernetes.io/tls", NULL, "v1", "Secret"},
    /* Their ZtunnelAccepted condition, as istiod's ambient index writes it. */
    {"authorizationpolicies", "/apis/security.istio.io/v1/authorizationpolicies", NULL, NULL,
     "security.istio.io/v1", "AuthorizationPolicy"},
};
const size_t wps_n_res = sizeof(wps_res) / sizeof(wps_res[0]);

struct config *wps_config(const cJSON *const *maps, size_t n)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	const cJSON *o;

	if (!cfg)
		return NULL;
	config_init(cfg);
	for (size_t i = 0; i < n; i++) {
		cJSON_ArrayForEach(o, maps[i])
		{
			struct config_diags d = {0};
			char *text = cJSON_PrintUnformatted(o);

			/* Refused (an object the agent refuses too): left out, as there. */
			if (text)
				(void)config_load_buffer(cfg, o->string ? o->string : "object",
							 text, strlen(text), &d);
			free(text);
			config_diags_free(&d);
		}
	}
	return cfg;
}

void wps_config_free(struct config *cfg)
{
	if (!cfg)
		return;
	config_free(cfg);
	free(cfg);
}

static double generation(const cJSON *obj)
{
	double g = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation"));

	return g == g ? g : 0; /* NaN: the server serves none */
}

void wps_stamp(cJSON *o, double gen, const char *now)
{
	cJSON *c, *k;

	cJSON_ArrayForEach(k, o)
	{
		if (k->string && !strcmp(k->string, "conditions") && cJSON_IsArray(k)) {
			cJSON_ArrayForEach(c, k)
			{
				cJSON_AddNumberToObject(c, "observedGeneration", gen);
				cJSON_AddStringToObject(c, "lastTransitionTime", now);
			}
		} else if (cJSON_IsObject(k) || cJSON_IsArray(k)) {
			wps_stamp(k, gen, now);
		}
	}
}

static void unstamp(cJSON *o)
{
	cJSON *k;

	cJSON_DeleteItemFromObjectCaseSensitive(o, "lastTransitionTime");
	cJSON_ArrayForEach(k, o)
	{
		if (cJSON_IsObject(k) || cJSON_IsArray(k))
			unstamp(k);
	}
}

bool wps_same_status(const cJSON *a, const cJSON *b)
{
	cJSON *x = a ? cJSON_Duplicate(a, true) : cJSON_CreateObject();
	cJSON *y = b ? cJSON_Duplicate(b, true) : cJSON_CreateObject();
	bool same;

	if (x)
		unstamp(x);
	if (y)
		unstamp(y);
	same = x && y && cJSON_Compare(x, y, true);
	cJSON_Delete(x);
	cJSON_Delete(y);
	return same;
}

cJSON *wps_gateway_status(const struct config *cfg, const cJSON *gw, const char *not_running,
			  const char *now)
{
	const char *ns = kjson_str(gw, "metadata", "namespace"),
		   *name = kjson_str(gw, "metadata", "name");
	const struct config_k8s_gateway *g =
	    cfg && ns && name ? l7_gwapi_gateway(cfg, ns, name) : NULL;
	char addr[600];
	cJSON *st;

	if (!g)
		return NULL;
	l7_gwapi_gateway_address(cfg, g, addr, sizeof(addr));
	st = g->class_name && !strcmp(g->class_name, CONFIG_EASTWEST_CLASS)
		 ? l7_gwapi_east_west_status(g, addr, not_running)
		 : l7_gwapi_gateway_status(cfg, g, addr, not_running);
	if (st)
		wps_stamp(st, generation(gw), now);
	return st;
}

/* The route of @cfg that @obj is, or NULL. */
static const struct config_gw_route *find_route(const struct config *cfg, const cJSON *obj)
{
	const char *kind = kjson_str(obj, "kind", NULL),
		   *ns = kjson_str(obj, "metadata", "namespace"),
		   *name = kjson_str(obj, "metadata", "name");
	const struct {
		const struct config_gw_route *r;
		size_t n;
	} lists[] = {
	    {cfg->http_routes, cfg->n_http_routes},
	    {cfg->grpc_routes, cfg->n_grpc_routes},
	    {cfg->tls_routes, cfg->n_tls_routes},
	    {cfg->tcp_routes, cfg->n_tcp_routes},
	};

	for (size_t l = 0; kind && ns && name && l < 4; l++)
		for (size_t i = 0; i < lists[l].n; i++) {
			const struct config_gw_route *r = &lists[l].r[i];

			if (!strcmp(l7_gwapi_route_kind(r), kind) &&
			    !strcmp(r->meta.namespace, ns) && !strcmp(r->meta.name, name))
				return r;
		}
	return NULL;
}

cJSON *wps_route_update(const struct config *cfg, const cJSON *obj, const char *now)
{
	const struct config_gw_route *r = cfg ? find_route(cfg, obj) : NULL;
	const cJSON *have = cJSON_GetObjectItemCaseSensitive(obj, "status"), *p;
	cJSON *ours, *want, *parents, *body;

	if (!r || !(ours = l7_gwapi_route_status(cfg, r)))
		return NULL;
	want = cJSON_CreateObject();
	parents = want ? cJSON_AddArrayToObject(want, "parents") : NULL;
	if (!parents) {
		cJSON_Delete(ours);
		cJSON_Delete(want);
		return NULL;
	}
	/* Other controllers' parents first, as they were; then ours. */
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(have, "parents"))
	{
		const char *ctl =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "controllerName"));

		if (!ctl || strcmp(ctl, CONTROLLER))
			cJSON_AddItemToArray(parents, cJSON_Duplicate(p, true));
	}
	wps_stamp(ours, generation(obj), now);
	while (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ours, "parents")))
		cJSON_AddItemToArray(parents,
				     cJSON_DetachItemFromArray(
					 cJSON_GetObjectItemCaseSensitive(ours, "parents"), 0));
	cJSON_Delete(ours);
	/* No parents said, none to say: nothing to write. */
	if ((!have && !cJSON_GetArraySize(parents)) || wps_same_status(have, want)) {
		cJSON_Delete(want);
		return NULL;
	}
	body = cJSON_Duplicate(obj, true);
	if (!body) {
		cJSON_Delete(want);
		return NULL;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(body, "status");
	cJSON_AddItemToObject(body, "status", want);
	return body;
}

cJSON *wps_policy_status(const struct config *cfg, const cJSON *obj, const char *now)
{
	cJSON *st = l7_authz_status(cfg, kjson_str(obj, "metadata", "namespace"),
				    kjson_str(obj, "metadata", "name"));

	if (st)
		wps_stamp(st, generation(obj), now);
	return st;
}

cJSON *wps_certificate_refs(const cJSON *gws)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *gw, *l, *r;
	char ref[600];

	cJSON_ArrayForEach(gw, gws)
	{
		const char *gw_ns = kjson_str(gw, "metadata", "namespace");
		const cJSON *listeners =
		    kjson_get(cJSON_GetObjectItemCaseSensitive(gw, "spec"), "listeners", NULL);

		cJSON_ArrayForEach(l, listeners)
		{
			cJSON_ArrayForEach(r, kjson_get(l, "tls", "certificateRefs"))
			{
				const char *name = kjson_str(r, "name", NULL),
					   *ns = kjson_str(r, "namespace", NULL),
					   *group = kjson_str(r, "group", NULL),
					   *kind = kjson_str(r, "kind", NULL);
				const cJSON *have;
				bool dup = false;

				/* Core Secrets only, as the status judges (l7/gwstatus.c). */
				if (!name || !(ns || gw_ns) || (group && *group) ||
				    (kind && strcmp(kind, "Secret")))
					continue;
				snprintf(ref, sizeof(ref), "%s/%s", ns ? ns : gw_ns, name);
				cJSON_ArrayForEach(have, out) dup |=
				    !strcmp(have->valuestring, ref);
				if (!dup && out)
					cJSON_AddItemToArray(out, cJSON_CreateString(ref));
			}
		}
	}
	return out;
}

int wps_add_certificates(struct config *cfg, const cJSON *status)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, status)
	{
		const char *slash = e->string ? strchr(e->string, '/') : NULL;
		struct config_secret *s;
		char ns[256];

		/* Only what the CA found servable; the rest stays absent (ResolvedRefs False). */
		if (!slash || !cJSON_IsString(e) || *e->valuestring ||
		    (size_t)(slash - e->string) >= sizeof(ns))
			continue;
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - e->string), e->string);
		if (config_secret_of(cfg, ns, slash + 1))
			continue;
		s = realloc(cfg->secrets, (cfg->n_secrets + 1) * sizeof(*s));
		if (!s)
			return -ENOMEM;
		cfg->secrets = s;
		s = &cfg->secrets[cfg->n_secrets];
		memset(s, 0, sizeof(*s));
		/* A stand-in: its certificate and key were checked by the CA, not copied here. */
		s->items = calloc(2, sizeof(*s->items));
		s->meta.namespace = strdup(ns);
		s->meta.name = strdup(slash + 1);
		s->type = strdup("kubernetes.io/tls");
		if (s->items) {
			s->items[0] = (struct config_secret_item){strdup(CONFIG_SECRET_TLS_CRT),
								  strdup(""), 0};
			s->items[1] = (struct config_secret_item){strdup(CONFIG_SECRET_TLS_KEY),
								  strdup(""), 0};
			s->n = 2;
		}
		cfg->n_secrets++;
		if (!s->items || !s->meta.namespace || !s->meta.name || !s->type ||
		    !s->items[0].key || !s->items[0].value || !s->items[1].key ||
		    !s->items[1].value)
			return -ENOMEM;
	}
	return 0;
}
