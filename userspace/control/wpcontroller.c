// SPDX-License-Identifier: Apache-2.0
/*
 * The waypoint controller (wpcontroller.h). One thread: the Gateways come from a kwatch (LIST,
 * WATCH, re-list on 410), each change is reconciled at once, every Gateway again each minute
 * (an object deleted by hand comes back) and failures after a few seconds. Requests are
 * blocking kconn_call()s: a handful of objects per Gateway, and nothing else waits on them.
 * The same kwatch brings what status depends on (wpstatus.h): any change makes every status
 * computed again, and written where it differs from what is served.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "ambit/config.h"
#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "ambit/version.h"
#include "caserver.h"
#include "k8s/kconn.h"
#include "k8s/kevents.h"
#include "k8s/kmanifest.h"
#include "k8s/kwatch.h"
#include "wpcontroller.h"
#include "wpstatus.h"

extern const char _binary_deploy_waypoint_yaml_tmpl_start[];
extern const char _binary_deploy_waypoint_yaml_tmpl_end[];
extern const char _binary_deploy_gateway_yaml_tmpl_start[];
extern const char _binary_deploy_gateway_yaml_tmpl_end[];
extern const char _binary_deploy_eastwest_yaml_tmpl_start[];
extern const char _binary_deploy_eastwest_yaml_tmpl_end[];

#define MANAGED_BY "app.kubernetes.io/managed-by"
#define HASH_ANNOT "ambit.io/template-hash"
#define RETRY_S 5
#define BODY_MAX (4u << 20)
#define CALL_MS 10000

static const struct kwatch_res gateways = {
    .name = "gateways",
    .path = "/apis/gateway.networking.k8s.io/v1/gateways",
    .api_version = "gateway.networking.k8s.io/v1",
    .kind = "Gateway",
};

/* ---- the objects of a Gateway ---- */

struct vals {
	const char *name, *ns, *uid, *sa, *image, *log_level, *hash, *svc_type, *network;
};

static const char *val(void *arg, const char *key)
{
	const struct vals *v = arg;

	if (!strcmp(key, "name"))
		return v->name;
	if (!strcmp(key, "namespace"))
		return v->ns;
	if (!strcmp(key, "uid"))
		return v->uid;
	if (!strcmp(key, "serviceAccount"))
		return v->sa;
	if (!strcmp(key, "image"))
		return v->image;
	if (!strcmp(key, "logLevel"))
		return v->log_level;
	if (!strcmp(key, "hash"))
		return v->hash;
	if (!strcmp(key, "serviceType"))
		return v->svc_type;
	if (!strcmp(key, "network"))
		return v->network;
	return NULL;
}

/* metadata.<what>[@key] of @o, or NULL. */
static const char *meta_map(const cJSON *o, const char *what, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "metadata");

	return cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, what), key));
}

static bool is_waypoint(const cJSON *gw)
{
	const char *cls = kjson_str(gw, "spec", "gatewayClassName");

	return cls && !strcmp(cls, CONFIG_WAYPOINT_CLASS);
}

/* A Gateway of class istio: an ingress gateway with its own deployment, <name>-istio. */
static bool is_gateway(const cJSON *gw)
{
	const char *cls = kjson_str(gw, "spec", "gatewayClassName");

	return cls && !strcmp(cls, CONFIG_GATEWAY_CLASS);
}

/* A Gateway of class istio-east-west: an east-west gateway, its objects of its own name. */
static bool is_east_west(const cJSON *gw)
{
	const char *cls = kjson_str(gw, "spec", "gatewayClassName");

	return cls && !strcmp(cls, CONFIG_EASTWEST_CLASS);
}

/*
 * The Service ports of a class istio Gateway: one per listener port (at most 64), named after
 * its first listener when that is a DNS label, else "port-<n>". NULL when a listener's port is
 * not a port number (or ENOMEM).
 */
static cJSON *listener_ports(const cJSON *gw)
{
	const cJSON *ls = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(gw, "spec"), "listeners"),
		    *l;
	cJSON *out = cJSON_CreateArray(), *o;
	int seen[64], n = 0;

	cJSON_ArrayForEach(l, ls)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(l, "port");
		const char *name = kjson_str(l, "name", NULL);
		double v = cJSON_GetNumberValue(p);
		char pname[64];
		bool dup = false;
		int port;

		if (!out || !cJSON_IsNumber(p) || v < 1 || v > 65535 || v != (int)v) {
			cJSON_Delete(out);
			return NULL;
		}
		port = (int)v;
		for (int i = 0; i < n; i++)
			dup |= seen[i] == port;
		if (dup || n == 64)
			continue;
		seen[n++] = port;
		if (name && strlen(name) < sizeof(pname) && config_dns_label_ok(name))
			snprintf(pname, sizeof(pname), "%s", name);
		else
			snprintf(pname, sizeof(pname), "port-%d", port);
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddStringToObject(o, "name", pname) ||
		    !cJSON_AddNumberToObject(o, "port", port) ||
		    !cJSON_AddStringToObject(o, "protocol", "TCP")) {
			cJSON_Delete(o);
			cJSON_Delete(out);
			return NULL;
		}
		cJSON_AddItemToArray(out, o);
	}
	return out;
}

/* A uid as the API server makes them (a UUID); anything else is refused. */
static bool uid_ok(const char *v)
{
	size_t n = strlen(v);

	if (!n || n > 64)
		return false;
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'f') || (*v >= 'A' && *v <= 'F') ||
		      (*v >= '0' && *v <= '9') || *v == '-'))
			return false;
	return true;
}

cJSON *wpc_objects(const cJSON *gw, const struct wpc_opts *o, char *why, size_t len)
{
	const bool gateway = is_gateway(gw), ew = is_east_west(gw);
	const char *tmpl = gateway ? _binary_deploy_gateway_yaml_tmpl_start
			   : ew	   ? _binary_deploy_eastwest_yaml_tmpl_start
				   : _binary_deploy_waypoint_yaml_tmpl_start;
	const size_t tlen = gateway ? (size_t)(_binary_deploy_gateway_yaml_tmpl_end -
					       _binary_deploy_gateway_yaml_tmpl_start)
			    : ew    ? (size_t)(_binary_deploy_eastwest_yaml_tmpl_end -
					       _binary_deploy_eastwest_yaml_tmpl_start)
				    : (size_t)(_binary_deploy_waypoint_yaml_tmpl_end -
					       _binary_deploy_waypoint_yaml_tmpl_start);
	struct vals v = {
	    .name = kjson_str(gw, "metadata", "name"),
	    .ns = kjson_str(gw, "metadata", "namespace"),
	    .uid = kjson_str(gw, "metadata", "uid"),
	    .sa = meta_map(gw, "annotations", CONFIG_ANNOT_GATEWAY_SA),
	    .image = o->image,
	    .log_level = o->log_level,
	    .hash = "",
	    .svc_type = config_gateway_service_type(
		meta_map(gw, "annotations", CONFIG_ANNOT_SERVICE_TYPE), !gateway),
	    .network = meta_map(gw, "labels", CONFIG_LABEL_NETWORK) ?: "",
	};
	char hash[17], sa[80], *text, *ports_text = NULL;
	cJSON *docs, *ports = NULL, *it;
	XXH64_hash_t h;

	if (!is_waypoint(gw) && !gateway && !ew) {
		snprintf(why, len, "not of class %s, %s or %s", CONFIG_WAYPOINT_CLASS,
			 CONFIG_GATEWAY_CLASS, CONFIG_EASTWEST_CLASS);
		return NULL;
	}
	/* Rendered as a label of its objects: a label value the API server takes, or none. */
	if (*v.network && !config_label_value_ok(v.network)) {
		snprintf(why, len, "label %s is not a label value", CONFIG_LABEL_NETWORK);
		return NULL;
	}
	if (!v.name || !v.ns || !v.uid || !*v.name || !*v.ns || !*v.uid) {
		snprintf(why, len, "metadata.name, namespace or uid missing");
		return NULL;
	}
	/* A gateway's objects are <name>-istio: a DNS label too. */
	if (gateway && strlen(v.name) > 63 - 6) {
		snprintf(why, len, "metadata.name is too long for <name>-istio (57 at most)");
		return NULL;
	}
	if ((!v.sa || !*v.sa) && gateway) {
		snprintf(sa, sizeof(sa), "%.60s-istio", v.name);
		v.sa = sa;
	} else if (!v.sa || !*v.sa) {
		v.sa = v.name;
	}
	/* Each value rendered is a name the API server makes: none reaches the YAML as more. */
	if (!config_dns_label_ok(v.name) || !config_dns_label_ok(v.ns) || !uid_ok(v.uid)) {
		snprintf(why, len,
			 "metadata.name, namespace or uid is not one the API server makes");
		return NULL;
	}
	if (!config_dns_subdomain_ok(v.sa)) {
		snprintf(why, len,
			 "annotation %s is not a ServiceAccount name (a DNS-1123 subdomain)",
			 CONFIG_ANNOT_GATEWAY_SA);
		return NULL;
	}
	/* The type is in the rendering: annotating a Gateway replaces its Service (its hash). */
	if (!v.svc_type) {
		snprintf(why, len, "annotation %s is not ClusterIP, NodePort or LoadBalancer",
			 CONFIG_ANNOT_SERVICE_TYPE);
		return NULL;
	}
	if (gateway &&
	    (!(ports = listener_ports(gw)) || !(ports_text = cJSON_PrintUnformatted(ports)))) {
		snprintf(why, len, "spec.listeners: a port that is not a port number");
		cJSON_Delete(ports);
		return NULL;
	}
	/* The hash of the rendering (and a gateway's ports) says whether a live object is this. */
	text = kmanifest_render(tmpl, tlen, val, &v);
	if (!text) {
		snprintf(why, len, "rendering: %s", strerror(errno));
		free(ports_text);
		cJSON_Delete(ports);
		return NULL;
	}
	h = XXH3_64bits(text, strlen(text));
	if (ports_text)
		h ^= XXH3_64bits(ports_text, strlen(ports_text));
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)h);
	free(text);
	free(ports_text);
	v.hash = hash;
	text = kmanifest_render(tmpl, tlen, val, &v);
	if (!text) {
		snprintf(why, len, "rendering: %s", strerror(errno));
		cJSON_Delete(ports);
		return NULL;
	}
	docs = kmanifest_documents(text, why, len);
	free(text);
	/* The gateway's Service: its status port, then a port per listener port. */
	cJSON_ArrayForEach(it, docs)
	{
		cJSON *list;

		if (!ports || strcmp(kjson_str(it, "kind", NULL) ?: "", "Service"))
			continue;
		list = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(it, "spec"), "ports");
		while (cJSON_GetArraySize(ports))
			cJSON_AddItemToArray(list, cJSON_DetachItemFromArray(ports, 0));
	}
	cJSON_Delete(ports);
	return docs;
}

/* ---- the API ---- */

struct wpc {
	struct kconn *conn;
	struct wpc_opts o;
	cJSON *gws;	/* "namespace/name" -> the Gateway as last served */
	cJSON *others;	/* "resource|key" -> the other objects status depends on (wps_res) */
	cJSON *outcome; /* "namespace/name" -> why the Gateway's objects are not in place ("") */
	struct config *cfg;    /* of gws and others, for status; NULL: to be made again */
	bool status_due;       /* something changed: every status computed again */
	unsigned int unsynced; /* resources not listed yet */
	bool synced;
	const struct kwatch_res *res; /* what is watched: Gateways first, then wps_res */
	unsigned int resync_s;	      /* every Gateway again this often (60) */
	time_t next_resync, retry_at;
	/*
	 * --ca-url: the certificateRefs judged by the CA (no grant on Secrets here): its last
	 * answer ("namespace/name" -> "" or why not), asked again when the Gateways' refs change,
	 * every CERTS_RETRY_S while one is not servable, and at every resync.
	 */
	const char *ca_url;
	char *ca_root;
	cJSON *certs, *cert_refs;
	time_t certs_next;
};

#define CERTS_RETRY_S 5

/* The collection of @kind in @ns, or -EINVAL for a kind the template does not make. */
static int collection(const char *kind, const char *ns, char *buf, size_t len)
{
	if (!strcmp(kind, "ServiceAccount"))
		snprintf(buf, len, "/api/v1/namespaces/%s/serviceaccounts", ns);
	else if (!strcmp(kind, "Service"))
		snprintf(buf, len, "/api/v1/namespaces/%s/services", ns);
	else if (!strcmp(kind, "Deployment"))
		snprintf(buf, len, "/apis/apps/v1/namespaces/%s/deployments", ns);
	else
		return -EINVAL;
	return 0;
}

static long call(struct wpc *c, const char *method, const char *path, const cJSON *body,
		 cJSON **resp, char *why, size_t len)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL, *out = NULL, err[256] = "";
	long st;

	if (body && !text) {
		snprintf(why, len, "out of memory");
		return 0;
	}
	kconn_refresh_token(c->conn);
	st = kconn_call(c->conn, method, path, text, &out, BODY_MAX, CALL_MS, err, sizeof(err));
	free(text);
	if (!st)
		snprintf(why, len, "%s %s: %s", method, path, err);
	else if (st >= 300 && st != 404 && st != 409) {
		cJSON *s = cJSON_Parse(out ? out : "");

		snprintf(why, len, "%s %s: %ld %s", method, path, st,
			 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "message"))
			     ?: "");
		cJSON_Delete(s);
	}
	if (resp)
		*resp = out ? cJSON_Parse(out) : NULL;
	free(out);
	return st;
}

enum outcome { OUT_OK, OUT_FOREIGN, OUT_FAILED };

/* Makes live object @obj (ours, rendered) as rendered: created, or replaced when it differs. */
static enum outcome ensure(struct wpc *c, cJSON *obj, char *why, size_t len)
{
	const char *kind = kjson_str(obj, "kind", NULL),
		   *ns = kjson_str(obj, "metadata", "namespace");
	const char *name = kjson_str(obj, "metadata", "name");
	const char *hash = meta_map(obj, "annotations", HASH_ANNOT), *rv;
	char coll[512], path[1024];
	cJSON *live = NULL, *spec, *ip;
	enum outcome out = OUT_FAILED;
	long st;

	if (!kind || !ns || !name || collection(kind, ns, coll, sizeof(coll))) {
		snprintf(why, len, "the template made an object without kind, name or namespace");
		return OUT_FAILED;
	}
	snprintf(path, sizeof(path), "%s/%s", coll, name);
	st = call(c, "GET", path, NULL, &live, why, len);
	if (st == 404) {
		st = call(c, "POST", coll, obj, NULL, why, len);
		if (st == 200 || st == 201) {
			pr_info("waypoint: created %s %s/%s", kind, ns, name);
			out = OUT_OK;
		} else if (st == 409) {
			snprintf(why, len, "%s %s/%s: created meanwhile by another", kind, ns,
				 name);
		}
		goto done;
	}
	if (st != 200)
		goto done;
	if (!meta_map(live, "labels", MANAGED_BY) ||
	    strcmp(meta_map(live, "labels", MANAGED_BY), "ambit")) {
		snprintf(why, len, "%s %s/%s exists and is not ambit's: left as it is", kind, ns,
			 name);
		out = OUT_FOREIGN;
		goto done;
	}
	if (hash && meta_map(live, "annotations", HASH_ANNOT) &&
	    !strcmp(hash, meta_map(live, "annotations", HASH_ANNOT))) {
		out = OUT_OK;
		goto done;
	}
	/* A replace names the version it replaces, and keeps what the API server allocated. */
	rv = kjson_str(live, "metadata", "resourceVersion");
	if (rv)
		cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
					"resourceVersion", rv);
	spec = cJSON_GetObjectItemCaseSensitive(live, "spec");
	for (const char *const *k = (const char *const[]){"clusterIP", "clusterIPs", NULL};
	     !strcmp(kind, "Service") && *k; k++) {
		ip = cJSON_GetObjectItemCaseSensitive(spec, *k);
		if (ip)
			cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(obj, "spec"), *k,
					      cJSON_Duplicate(ip, true));
	}
	st = call(c, "PUT", path, obj, NULL, why, len);
	if (st == 200 || st == 201) {
		pr_info("waypoint: updated %s %s/%s", kind, ns, name);
		out = OUT_OK;
	} else if (st == 409) {
		snprintf(why, len, "%s %s/%s: changed meanwhile", kind, ns, name);
	}
done:
	cJSON_Delete(live);
	return out;
}

/*
 * Deletes ambit's objects of waypoint or gateway @ns/@name (found by their labels) but the
 * current ones: @keep_sa (NULL: none) and, with @keep, the Deployment and Service of that name.
 * A Gateway gone or no longer a waypoint keeps nothing; a renamed service account leaves its
 * old ServiceAccount behind otherwise. false: retry.
 */
static bool prune(struct wpc *c, const char *ns, const char *name, const char *keep,
		  const char *keep_sa)
{
	static const char *const kinds[] = {"Deployment", "Service", "ServiceAccount"};
	bool ok = true;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		bool sa = !strcmp(kinds[i], "ServiceAccount");
		char coll[512], path[1024], why[600] = "";
		cJSON *list = NULL, *it;
		long st;

		collection(kinds[i], ns, coll, sizeof(coll));
		snprintf(path, sizeof(path),
			 "%s?labelSelector=gateway.networking.k8s.io%%2Fgateway-name%%3D%s"
			 "%%2Capp.kubernetes.io%%2Fmanaged-by%%3Dambit",
			 coll, name);
		st = call(c, "GET", path, NULL, &list, why, sizeof(why));
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
		{
			const char *n = kjson_str(it, "metadata", "name");

			if (!n ||
			    (keep && (sa ? keep_sa && !strcmp(n, keep_sa) : !strcmp(n, keep))))
				continue;
			snprintf(path, sizeof(path), "%s/%s", coll, n);
			st = call(c, "DELETE", path, NULL, NULL, why, sizeof(why));
			if (st == 200 || st == 202 || st == 404)
				pr_info("waypoint: deleted %s %s/%s", kinds[i], ns, n);
		}
		if (st != 200 && st != 202 && st != 404) {
			pr_warn("waypoint %s/%s: %s", ns, name, why);
			ok = false;
		}
		cJSON_Delete(list);
	}
	return ok;
}

/* A condition as Gateway API status wants it. */
static cJSON *condition(const char *type, bool ok, const char *reason, const char *msg,
			double generation, const char *now)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "status", ok ? "True" : "False");
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON_AddNumberToObject(o, "observedGeneration", generation);
	cJSON_AddStringToObject(o, "lastTransitionTime", now);
	return o;
}

/* Whether @have's conditions say what @want's do (the times aside). */
static bool same_conditions(const cJSON *have, const cJSON *want)
{
	const cJSON *w, *h;

	if (cJSON_GetArraySize(have) != cJSON_GetArraySize(want))
		return false;
	for (w = want ? want->child : NULL, h = have ? have->child : NULL; w && h;
	     w = w->next, h = h->next) {
		static const char *const keys[] = {"type", "status", "reason", "message"};

		for (size_t i = 0; i < 4; i++) {
			const char *a = kjson_str(w, keys[i], NULL),
				   *b = kjson_str(h, keys[i], NULL);

			if (!a || !b || strcmp(a, b))
				return false;
		}
		if (cJSON_GetNumberValue(
			cJSON_GetObjectItemCaseSensitive(w, "observedGeneration")) !=
		    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(h, "observedGeneration")))
			return false;
	}
	return true;
}

/* The config status is computed from, made again after any change. */
static const struct config *cfg_of(struct wpc *c)
{
	const cJSON *maps[] = {c->gws, c->others};

	if (!c->cfg) {
		c->cfg = wps_config(maps, 2);
		if (c->cfg && c->certs && wps_add_certificates(c->cfg, c->certs))
			pr_err("waypoint controller: out of memory for the certificates' status");
	}
	return c->cfg;
}

/*
 * Writes @status (taken) as object @obj's (of resource @plural in API group @group), unless it
 * says what @obj's already does. Whether it was written.
 */
static bool put_status(struct wpc *c, const cJSON *obj, cJSON *status, const char *group,
		       const char *plural)
{
	const char *ns = kjson_str(obj, "metadata", "namespace"),
		   *name = kjson_str(obj, "metadata", "name"),
		   *av = kjson_str(obj, "apiVersion", NULL);
	const char *version = av && strchr(av, '/') ? strchr(av, '/') + 1 : "v1";
	char path[1024], err[600] = "";
	cJSON *body;
	long st;

	if (!ns || !name ||
	    wps_same_status(cJSON_GetObjectItemCaseSensitive(obj, "status"), status)) {
		cJSON_Delete(status);
		return false;
	}
	body = cJSON_Duplicate(obj, true);
	if (!body) {
		cJSON_Delete(status);
		return false;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(body, "status");
	cJSON_AddItemToObject(body, "status", status);
	snprintf(path, sizeof(path), "/apis/%s/%s/namespaces/%s/%s/%s/status", group, version, ns,
		 plural, name);
	/* Older: a change came meanwhile, and its reconcile reports again. */
	st = call(c, "PUT", path, body, NULL, err, sizeof(err));
	if (st != 200 && st != 409 && st != 404) /* 404: the object went meanwhile */
		pr_warn("%s %s/%s: status: %s", plural, ns, name, err);
	cJSON_Delete(body);
	return st == 200;
}

/*
 * AuthorizationPolicy @obj's ZtunnelAccepted condition written, and a Warning Event on it when
 * the ztunnel cannot enforce it as written (one per spec generation: a 409 is one posted).
 */
static void policy_status(struct wpc *c, const cJSON *obj, const char *now)
{
	cJSON *st = wps_policy_status(cfg_of(c), obj, now), *ev;
	const cJSON *cond =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "conditions"), 0);
	char reason[64], msg[1100], ns[256], path[400], err[600] = "";

	snprintf(reason, sizeof(reason), "%s", kjson_str(cond, "reason", NULL) ?: "");
	snprintf(msg, sizeof(msg), "%s", kjson_str(cond, "message", NULL) ?: "");
	if (!st || !put_status(c, obj, st, "security.istio.io", "authorizationpolicies") ||
	    strcmp(reason, "UnsupportedValue"))
		return;
	ev = kevents_warning(obj, reason, msg, "ambit-waypoints", time(NULL), ns, sizeof(ns));
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
	if (ev && call(c, "POST", path, ev, NULL, err, sizeof(err)) >= 300 && *err)
		pr_warn("authorizationpolicies %s: the Warning Event: %s", ns, err);
	cJSON_Delete(ev);
}

/* The Gateway's status: Accepted, Programmed (@ok, else @why) and its Service's name. */
static void report(struct wpc *c, const cJSON *gw, bool ok, const char *why)
{
	const char *ns = kjson_str(gw, "metadata", "namespace"),
		   *name = kjson_str(gw, "metadata", "name");
	double gen = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(gw, "metadata"), "generation"));
	char now[32], addr[600], path[1024], err[600] = "";
	cJSON *body, *status, *conds, *addrs, *a;
	time_t t = time(NULL);
	struct tm tm;
	long st;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (gen != gen) /* NaN: no generation served */
		gen = 0;
	if ((is_gateway(gw) || is_east_west(gw)) &&
	    (status = wps_gateway_status(cfg_of(c), gw, ok ? NULL : why, now))) {
		put_status(c, gw, status, "gateway.networking.k8s.io", "gateways");
		return;
	}
	conds = cJSON_CreateArray();
	cJSON_AddItemToArray(conds, condition("Accepted", true, "Accepted",
					      is_gateway(gw) ? "ambit deploys this gateway"
							     : "ambit deploys this waypoint",
					      gen, now));
	cJSON_AddItemToArray(conds, condition("Programmed", ok, ok ? "Programmed" : "Invalid",
					      ok ? "its Deployment and Service are in place" : why,
					      gen, now));
	if (same_conditions(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(gw, "status"), "conditions"),
			    conds)) {
		cJSON_Delete(conds);
		return;
	}
	body = cJSON_Duplicate(gw, true);
	cJSON_DeleteItemFromObjectCaseSensitive(body, "status");
	status = cJSON_AddObjectToObject(body, "status");
	cJSON_AddItemToObject(status, "conditions", conds);
	addrs = cJSON_AddArrayToObject(status, "addresses");
	a = cJSON_CreateObject();
	snprintf(addr, sizeof(addr), "%s%s.%s.svc.cluster.local", name,
		 is_gateway(gw) ? "-istio" : "", ns);
	cJSON_AddStringToObject(a, "type", "Hostname");
	cJSON_AddStringToObject(a, "value", addr);
	cJSON_AddItemToArray(addrs, a);
	snprintf(path, sizeof(path),
		 "/apis/gateway.networking.k8s.io/v1/namespaces/%s/gateways/%s/status", ns, name);
	/* Older: a change came meanwhile, and its reconcile reports again. */
	st = call(c, "PUT", path, body, NULL, err, sizeof(err));
	if (st != 200 && st != 409 && st != 404) /* 404: the Gateway went meanwhile */
		pr_warn("waypoint %s/%s: status: %s", ns, name, err);
	cJSON_Delete(body);
}

/* One Gateway as served: its objects made as rendered, its status said. false: retry. */
static bool reconcile(struct wpc *c, const cJSON *gw)
{
	const char *ns = kjson_str(gw, "metadata", "namespace"),
		   *name = kjson_str(gw, "metadata", "name");
	char why[600] = "", sa[256] = "", keep[300];
	enum outcome worst = OUT_OK;
	cJSON *objs, *o;

	if (!ns || !name)
		return true;
	if (!is_waypoint(gw) && !is_gateway(gw) && !is_east_west(gw))
		return prune(c, ns, name, NULL, NULL);
	snprintf(keep, sizeof(keep), "%s%s", name, is_gateway(gw) ? "-istio" : "");
	objs = wpc_objects(gw, &c->o, why, sizeof(why));
	if (!objs) {
		pr_warn("waypoint %s/%s: %s", ns, name, why);
		if (is_gateway(gw) || is_east_west(gw)) {
			char key[600];

			snprintf(key, sizeof(key), "%s/%s", ns, name);
			cJSON_DeleteItemFromObjectCaseSensitive(c->outcome, key);
			cJSON_AddStringToObject(c->outcome, key, why);
		}
		report(c, gw, false, why);
		return true;
	}
	cJSON_ArrayForEach(o, objs)
	{
		char w[600] = "";
		enum outcome r = ensure(c, o, w, sizeof(w));

		if (r != OUT_OK && worst == OUT_OK)
			snprintf(why, sizeof(why), "%s", w);
		if (r > worst)
			worst = r;
		if (!strcmp(kjson_str(o, "kind", NULL) ?: "", "ServiceAccount"))
			snprintf(sa, sizeof(sa), "%s", kjson_str(o, "metadata", "name") ?: "");
	}
	cJSON_Delete(objs);
	if (worst == OUT_OK && !prune(c, ns, name, keep, sa))
		worst = OUT_FAILED;
	if (worst != OUT_OK)
		pr_warn("waypoint %s/%s: %s", ns, name, why);
	/* A failed request says nothing of the Gateway: no status for it, a retry. */
	if (worst != OUT_FAILED) {
		char key[600];

		snprintf(key, sizeof(key), "%s/%s", ns, name);
		cJSON_DeleteItemFromObjectCaseSensitive(c->outcome, key);
		cJSON_AddStringToObject(c->outcome, key, worst == OUT_OK ? "" : why);
		report(c, gw, worst == OUT_OK, why);
	}
	return worst != OUT_FAILED;
}

/* Something status depends on changed: the config is made again, every status computed. */
static void wpc_changed(struct wpc *c)
{
	wps_config_free(c->cfg);
	c->cfg = NULL;
	c->status_due = true;
}

/* Takes the watch's changes; reconciles the Gateways they touch. */
static void take(struct wpc *c, struct kwatch *w)
{
	struct kwatch_change *ch;
	size_t n = kwatch_take(w, &ch);

	for (size_t i = 0; i < n; i++) {
		cJSON *obj;
		char *slash;

		wpc_changed(c);
		if (ch[i].what == KWATCH_SYNCED) {
			size_t r = (size_t)(ch[i].res - c->res);

			if (r < 32 && (c->unsynced & (1u << r))) {
				c->unsynced &= ~(1u << r);
				pr_info("waypoint controller: %s listed", ch[i].res->name);
			}
			if (!c->unsynced && !c->synced) {
				c->synced = true;
				c->next_resync = 0;
			}
			continue;
		}
		if (ch[i].res != c->res) {
			char key[700];

			snprintf(key, sizeof(key), "%s|%s", ch[i].res->name, ch[i].key);
			cJSON_DeleteItemFromObjectCaseSensitive(c->others, key);
			if (ch[i].what == KWATCH_UPSERT && (obj = cJSON_Parse(ch[i].json)))
				cJSON_AddItemToObject(c->others, key, obj);
			continue;
		}
		if (ch[i].what == KWATCH_REMOVE) {
			cJSON_DeleteItemFromObjectCaseSensitive(c->gws, ch[i].key);
			slash = strchr(ch[i].key, '/');
			if (slash) {
				*slash = '\0';
				if (!prune(c, ch[i].key, slash + 1, NULL, NULL))
					c->retry_at = time(NULL) + RETRY_S;
			}
			continue;
		}
		obj = cJSON_Parse(ch[i].json);
		if (!obj)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(c->gws, ch[i].key);
		cJSON_AddItemToObject(c->gws, ch[i].key, obj);
		if (c->synced && !reconcile(c, obj))
			c->retry_at = time(NULL) + RETRY_S;
	}
	kwatch_changes_free(ch, n);
}

/* Every status computed again from what is now known (wpstatus.h), written where it changed. */
static void statuses(struct wpc *c)
{
	const cJSON *o;
	char now[32];
	time_t t = time(NULL);
	struct tm tm;

	c->status_due = false;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_ArrayForEach(o, c->gws)
	{
		const char *why =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->outcome, o->string));

		/* Reported by its reconcile once its objects are known in place (or not). */
		if ((is_gateway(o) || is_east_west(o)) && why)
			report(c, o, !*why, why);
	}
	cJSON_ArrayForEach(o, c->others)
	{
		const char *bar = strchr(o->string, '|');
		size_t len = bar ? (size_t)(bar - o->string) : 0;
		cJSON *body;

		if (bar && !strncmp(o->string, "authorizationpolicies|", len + 1)) {
			policy_status(c, o, now);
			continue;
		}
		if (!bar || len < 7 || strncmp(bar - 6, "routes", 6))
			continue;
		body = wps_route_update(cfg_of(c), o, now);
		if (body) {
			char plural[32];

			snprintf(plural, sizeof(plural), "%.*s", (int)len, o->string);
			put_status(
			    c, o,
			    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(body, "status"), true),
			    "gateway.networking.k8s.io", plural);
			cJSON_Delete(body);
		}
	}
}

/* The CA's judgement of the Gateways' certificateRefs, taken when it says something new. */
static void check_certs(struct wpc *c, time_t now)
{
	cJSON *refs = wps_certificate_refs(c->gws), *status = NULL;
	const cJSON *e;
	bool unresolved = false;
	char why[600];

	if (!refs)
		return;
	if (c->cert_refs && cJSON_Compare(refs, c->cert_refs, true) && now < c->certs_next) {
		cJSON_Delete(refs);
		return;
	}
	kconn_refresh_token(c->conn);
	/* No certificateRefs: nothing to ask. */
	if (!cJSON_GetArraySize(refs))
		status = cJSON_CreateObject();
	else if (caserver_certificate_status(c->ca_url, c->ca_root, c->conn->token, refs, &status,
					     why, sizeof(why))) {
		pr_warn("waypoint controller: the certificates' status: %s", why);
		cJSON_Delete(refs);
		c->certs_next = now + CERTS_RETRY_S;
		return;
	}
	if (!status) {
		cJSON_Delete(refs);
		return;
	}
	cJSON_ArrayForEach(e, status) unresolved |= !cJSON_IsString(e) || *e->valuestring;
	c->certs_next = now + (unresolved ? CERTS_RETRY_S : c->resync_s);
	cJSON_Delete(c->cert_refs);
	c->cert_refs = refs;
	if (c->certs && cJSON_Compare(status, c->certs, true)) {
		cJSON_Delete(status);
		return;
	}
	cJSON_Delete(c->certs);
	c->certs = status;
	wpc_changed(c);
}

static void resync(struct wpc *c)
{
	const cJSON *gw;
	bool ok = true;

	cJSON_ArrayForEach(gw, c->gws) ok = reconcile(c, gw) && ok;
	c->next_resync = time(NULL) + c->resync_s;
	c->retry_at = ok ? 0 : time(NULL) + RETRY_S;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ambit-agent --waypoint-controller (--kube [--kube-sa-dir DIR] | "
		"--kubeconfig F)\n"
		"                   --image IMAGE [--waypoint-log-level info] "
		"[--resync-seconds 60] [--log-level info]\n"
		"                   [--ca-url URL --ca-root FILE]\n"
		"  --ca-url: the CA server judges the Gateways' certificateRefs (the controller\n"
		"            reads no Secret); without it, they are read with the controller's\n"
		"            own credentials (a kubeconfig outside the cluster)\n");
}

int wpcontroller_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"kube", no_argument, NULL, 'K'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"kube-sa-dir", required_argument, NULL, 'A'},
	    {"image", required_argument, NULL, 'i'},
	    {"waypoint-log-level", required_argument, NULL, 'w'},
	    {"resync-seconds", required_argument, NULL, 'r'},
	    {"ca-url", required_argument, NULL, 'u'},
	    {"ca-root", required_argument, NULL, 'R'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct wpc c = {.o = {.log_level = "info"}, .resync_s = 60};
	struct kwatch_res res[16];
	const char *kubeconfig = NULL, *sa_dir = KCONN_SA_DIR, *ca_root = NULL;
	enum log_level lvl = LOG_LEVEL_INFO, wlvl;
	size_t n_res = 0, root_len;
	struct kconn conn = {0};
	struct kwatch *w = NULL;
	bool kube = false;
	char why[512];
	sigset_t sigs;
	int opt, sfd = -1, rc = 1;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'K': kube = true; break;
		case 'k': kubeconfig = optarg; break;
		case 'A': sa_dir = optarg; break;
		case 'i': c.o.image = optarg; break;
		case 'u': c.ca_url = optarg; break;
		case 'R': ca_root = optarg; break;
		case 'r':
			if (atoi(optarg) < 1) {
				usage(stderr);
				return 2;
			}
			c.resync_s = (unsigned int)atoi(optarg);
			break;
		case 'w':
			if (log_level_parse(optarg, &wlvl)) {
				usage(stderr);
				return 2;
			}
			c.o.log_level = optarg;
			break;
		case 'l':
			if (log_level_parse(optarg, &lvl)) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ambit-agent %s\n", ambit_version()); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !c.o.image || (!kube && !kubeconfig) || !c.ca_url != !ca_root) {
		usage(stderr);
		return 2;
	}
	log_init("ambit-waypoints", lvl);
	if (ca_root && (errno = -fileutil_read_file(ca_root, 1 << 20, &c.ca_root, &root_len))) {
		pr_err("--ca-root %s: %s", ca_root, strerror(errno));
		return 1;
	}
	if (kubeconfig ? kconn_kubeconfig(&conn, kubeconfig, NULL, why, sizeof(why))
		       : kconn_in_cluster(&conn, sa_dir, why, sizeof(why))) {
		pr_err("kubernetes: %s", why);
		kconn_free(&conn);
		return 1;
	}
	c.conn = &conn;
	c.gws = cJSON_CreateObject();
	c.others = cJSON_CreateObject();
	c.outcome = cJSON_CreateObject();
	res[n_res++] = gateways;
	for (size_t i = 0; i < wps_n_res && n_res < sizeof(res) / sizeof(res[0]); i++)
		/* With a CA, Secrets are its to read. */
		if (!c.ca_url || strcmp(wps_res[i].path, WPS_SECRETS_PATH))
			res[n_res++] = wps_res[i];
	c.res = res;
	c.unsynced = (1u << n_res) - 1;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	w = c.gws && c.others && c.outcome && sfd >= 0 ? kwatch_start(&conn, res, n_res, 300)
						       : NULL;
	if (!w) {
		pr_err("waypoint controller: cannot start: %s", strerror(errno));
		goto out;
	}
	pr_info("waypoint controller for %s (image %s)", conn.source, c.o.image);
	for (;;) {
		struct pollfd pf[2] = {{.fd = kwatch_fd(w), .events = POLLIN},
				       {.fd = sfd, .events = POLLIN}};
		time_t now;

		if (poll(pf, 2, 1000) < 0 && errno != EINTR)
			break;
		if (pf[1].revents & POLLIN) {
			rc = 0;
			break;
		}
		if (pf[0].revents & POLLIN)
			take(&c, w);
		now = time(NULL);
		if (c.synced && c.ca_url)
			check_certs(&c, now);
		if (c.synced && (now >= c.next_resync || (c.retry_at && now >= c.retry_at)))
			resync(&c);
		if (c.synced && c.status_due)
			statuses(&c);
	}
	pr_info("waypoint controller: stopping");
out:
	kwatch_stop(w);
	if (sfd >= 0)
		close(sfd);
	cJSON_Delete(c.gws);
	cJSON_Delete(c.others);
	cJSON_Delete(c.outcome);
	cJSON_Delete(c.certs);
	cJSON_Delete(c.cert_refs);
	free(c.ca_root);
	wps_config_free(c.cfg);
	kconn_free(&conn);
	return rc;
}
