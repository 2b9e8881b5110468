// SPDX-License-Identifier: Apache-2.0
/*
 * `local up --kube`: the status the controllers of a real cluster write, on the objects whose
 * controllers the local cluster plays (plan.c deploys the waypoints and gateways as Istio's
 * gateway controller does, the agents take the policies as istiod's ambient index does). Each
 * Gateway API Gateway's and route's status and each AuthorizationPolicy's ZtunnelAccepted
 * condition, as `ambitctl get` computes them (getobj.c: a waypoint is Programmed once it
 * serves), is written on the API server's object through its /status where it says something
 * else, so `kubectl get gateway`, `kubectl wait --for=condition=programmed` and `kubectl get
 * authorizationpolicy -o yaml` read what `ambitctl get` says. A policy the ztunnel cannot
 * enforce as written also gets a Warning Event saying why (`kubectl describe`).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "getobj.h"
#include "k8s/kconn.h"
#include "k8s/kevents.h"
#include "k8s/kmanifest.h"
#include "local/local.h"
#include "control/wpstatus.h"

#define COMPONENT "ambit-kube-controller"

static bool is_policy(const char *group, const char *kind)
{
	return !strcmp(group, "security.istio.io") && !strcmp(kind, "AuthorizationPolicy");
}

/* Whether the store object @o has a status a controller writes here. */
static bool has_status(const struct store_obj *o)
{
	if (!strcmp(o->group, CONFIG_GW_GROUP))
		return !strcmp(o->kind, "Gateway") || strstr(o->kind, "Route");
	return is_policy(o->group, o->kind);
}

/* The policy's Warning Event when its condition says the ztunnel cannot enforce it all. */
static void policy_event(const struct kconn *k, const cJSON *have, const cJSON *st)
{
	const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "conditions"), 0);
	const char *reason = kjson_str(c, "reason", NULL), *msg = kjson_str(c, "message", NULL);
	char ns[256], path[400];
	cJSON *ev;

	if (!reason || !msg || strcmp(reason, "UnsupportedValue"))
		return;
	ev = kevents_warning(have, reason, msg, COMPONENT, time(NULL), ns, sizeof(ns));
	if (ev && !str_fmt(path, sizeof(path), "/api/v1/namespaces/%s/events", ns))
		kube_call(k, "POST", path, ev, NULL); /* 409: posted for this version already */
	cJSON_Delete(ev);
}

/*
 * Store object @o's status, as @x computes it, written on the server's object where that says
 * something else (a 404 or a 409 is left for the next pass). 0 or -errno.
 */
static int sync_one(const struct kconn *k, struct get_ctx *x, const struct store_obj *o,
		    const char *now)
{
	cJSON *want = getobj_store(x, o), *st, *have = NULL;
	const cJSON *gen;
	char coll[512], path[1100], sub[1120], *resp = NULL;
	const char *name;
	long code;
	int ret = 0;

	st = want ? cJSON_DetachItemFromObjectCaseSensitive(want, "status") : NULL;
	if (!st || kube_paths(want, coll, sizeof(coll), &name) ||
	    str_fmt(path, sizeof(path), "%s/%s", coll, name) ||
	    str_fmt(sub, sizeof(sub), "%s/status", path))
		goto out;
	code = kube_call(k, "GET", path, NULL, &resp);
	have = code == 200 ? cJSON_Parse(resp) : NULL;
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(have, "metadata")))
		goto out; /* not there (yet), or the server away: the next pass */
	gen = kjson_get(cJSON_GetObjectItemCaseSensitive(have, "metadata"), "generation", NULL);
	wps_stamp(st, cJSON_IsNumber(gen) ? gen->valuedouble : 0, now);
	if (wps_same_status(cJSON_GetObjectItemCaseSensitive(have, "status"), st))
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(have, "status");
	if (!cJSON_AddItemToObject(have, "status", st)) {
		ret = -ENOMEM;
		goto out;
	}
	free(resp);
	resp = NULL;
	code = kube_call(k, "PUT", sub, have, &resp);
	if (code == 200 && is_policy(o->group, o->kind))
		policy_event(k, have, st);
	else if (code != 200 && code != 404 && code != 409)
		fprintf(stderr, "ambitctl: kube-controller: the status of %s %s/%s: HTTP %ld\n",
			o->kind, o->namespace ? o->namespace : "", o->name, code);
	st = NULL; /* in @have */
out:
	cJSON_Delete(st);
	cJSON_Delete(have);
	cJSON_Delete(want);
	free(resp);
	return ret;
}

int kube_status_sync(const struct ctl_cluster *c)
{
	struct config_diags diags = {0};
	struct get_ctx x = {.c = *c, .now = time(NULL)};
	char state[PATH_MAX], now[32];
	bool any = false, gateways = false;
	struct kconn k = {0};
	int ret, saved = -1;
	struct tm tm;

	if (!c->kube)
		return 0;
	gmtime_r(&x.now, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cluster_path(c, state, sizeof(state), "state");
	config_init(&x.cfg);
	ret = store_load(state, &x.objs, &diags);
	for (size_t i = 0; !ret && i < x.objs.n; i++) {
		any |= has_status(&x.objs.items[i]);
		gateways |= !strcmp(x.objs.items[i].group, CONFIG_GW_GROUP) &&
			    !strcmp(x.objs.items[i].kind, "Gateway");
	}
	/* Nothing of those kinds (most clusters): the config is not even loaded. */
	if (!any)
		goto out;
	ret = load_state_quiet(&x.cfg, state);
	if (ret)
		goto out;
	x.pods_json = plan_read_pods_json(&x.c);
	if (gateways)
		ret = wp_view_load(&x.v, &x.c, &x.cfg);
	if (!ret)
		ret = cluster_kube_enter(c, &k, &saved);
	for (size_t i = 0; !ret && i < x.objs.n; i++)
		if (has_status(&x.objs.items[i]))
			ret = sync_one(&k, &x, &x.objs.items[i], now);
	if (saved >= 0)
		cluster_kube_leave(&k, saved);
out:
	getobj_ctx_free(&x);
	config_diags_free(&diags);
	return ret;
}
