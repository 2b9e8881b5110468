// SPDX-License-Identifier: Apache-2.0
/*
 * What the dashboard checks before it answers (no I/O, so that a unit test drives it): the
 * Host a browser named, against DNS rebinding; the media type of a POST to a receiver, against
 * a cross-origin form or fetch; and which service names the sender of spans may use, by the
 * pod its source address is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "ambit/l7.h"
#include "dashboard.h"

/*
 * A page of another site that rebinds its DNS name to 127.0.0.1 reads this origin's answers
 * only by a request whose Host is that name; a Host that is an address literal names no
 * site but this one, whatever address it is (the listener's, or a port-forward's), so it is
 * taken as Jupyter and webpack's dev server take it. Names: localhost and those allowed.
 */
bool dash_host_ok(const char *host, const char *const *allow, size_t n)
{
	char name[256], buf[sizeof(struct in6_addr)];
	const char *colon;
	size_t len;

	if (!host || !*host)
		return false;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');

		if (!end || (end[1] && end[1] != ':'))
			return false;
		len = (size_t)(end - host - 1);
		if (len >= sizeof(name))
			return false;
		memcpy(name, host + 1, len);
		name[len] = '\0';
		return inet_pton(AF_INET6, name, buf) == 1;
	}
	colon = strchr(host, ':');
	len = colon ? (size_t)(colon - host) : strlen(host);
	if (!len || len >= sizeof(name) || (colon && strchr(colon + 1, ':')))
		return false;
	memcpy(name, host, len);
	name[len] = '\0';
	if (name[len - 1] == '.') /* the absolute form of a name is the same name */
		name[--len] = '\0';
	if (inet_pton(AF_INET, name, buf) == 1 || !strcasecmp(name, "localhost"))
		return true;
	for (size_t i = 0; i < n; i++)
		if (allow[i] && !strcasecmp(name, allow[i]))
			return true;
	return false;
}

bool dash_media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	while (ct && (*ct == ' ' || *ct == '\t'))
		ct++;
	return ct && !strncasecmp(ct, type, n) &&
	       (!ct[n] || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

/*
 * A browser sends a cross-origin POST without asking first (no CORS preflight) only with
 * text/plain, multipart/form-data or application/x-www-form-urlencoded, or none: JSON and
 * protobuf, the only types the collectors take, need a preflight this server never grants.
 */
int dash_receive_format(bool otlp, const char *ct, enum dash_trace_format *f, const char **why)
{
	if (dash_media_is(ct, "application/x-protobuf") ||
	    dash_media_is(ct, "application/protobuf")) {
		if (!otlp) {
			*why = "Content-Type: application/json (Zipkin v2 JSON)";
			return -EPROTONOSUPPORT;
		}
		*f = DASH_TRACE_OTLP_PROTO;
		return 0;
	}
	if (!dash_media_is(ct, "application/json")) {
		*why = otlp ? "Content-Type: application/x-protobuf or application/json"
			    : "Content-Type: application/json (Zipkin v2 JSON)";
		return -EPROTONOSUPPORT;
	}
	*f = otlp ? DASH_TRACE_OTLP_JSON : DASH_TRACE_ZIPKIN;
	return 0;
}

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* @a and @b (text) are one address. */
static bool addr_eq(const char *a, const char *b)
{
	unsigned char x[sizeof(struct in6_addr)], y[sizeof(struct in6_addr)];

	if (!a || !b)
		return false;
	if (inet_pton(AF_INET, a, x) == 1)
		return inet_pton(AF_INET, b, y) == 1 && !memcmp(x, y, 4);
	return inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1 &&
	       !memcmp(x, y, 16);
}

/* Appends "@name.@ns" to @l (a NULL @name: nothing). 0 or -ENOMEM. */
static int names_add(struct dash_names *l, const char *name, const char *ns)
{
	char **v;
	size_t len;

	if (!name || !*name)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		len = strlen(name);
		if (!strncmp(l->v[i], name, len) && l->v[i][len] == '.' &&
		    !strcmp(l->v[i] + len + 1, ns))
			return 0;
	}
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	len = strlen(name) + strlen(ns) + 2;
	l->v[l->n] = malloc(len);
	if (!l->v[l->n])
		return -ENOMEM;
	snprintf(l->v[l->n++], len, "%s.%s", name, ns);
	return 0;
}

static void names_free(struct dash_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void dash_sender_free(struct dash_sender *s)
{
	if (!s)
		return;
	names_free(&s->own);
	names_free(&s->served);
}

/*
 * The names a pod's spans go by, as Istio's proxies name them (meshConfig's default
 * APP_LABEL_AND_NAMESPACE, its workload's name else) and as the apps' SDKs would: the pod, its
 * workload, its app and canonical-service labels, its gateway's name and the Services that
 * select it. A waypoint also records spans under the Services it serves (span_app).
 */
static int sender_names(struct dash_sender *s, const cJSON *pod, const struct config *cfg)
{
	static const char *const keys[] = {"app", "service.istio.io/canonical-name",
					   CONFIG_LABEL_GATEWAY_NAME, "istio.io/gateway-name"};
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(pod, "labels"), *kv;
	size_t n = (size_t)cJSON_GetArraySize(labels);
	struct config_labels l = {0, calloc(n ? n : 1, sizeof(*l.items))};
	const char *gw = jstr(labels, CONFIG_LABEL_GATEWAY_NAME);
	const char *managed = jstr(labels, "gateway.istio.io/managed");
	const char *ns = jstr(pod, "namespace") ?: "";
	bool waypoint = managed && !strcmp(managed, "istio.io-mesh-controller");
	int ret = 0;

	if (!l.items)
		return -ENOMEM;
	cJSON_ArrayForEach(kv, labels) if (cJSON_IsString(kv))
	{
		l.items[l.n].key = kv->string;
		l.items[l.n++].value = kv->valuestring;
	}
	ret = ret ?: names_add(&s->own, jstr(pod, "name"), ns);
	ret = ret ?: names_add(&s->own, jstr(pod, "owner"), ns);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ret = ret ?: names_add(&s->own, jstr(labels, keys[i]), ns);
	for (size_t i = 0; cfg && !ret && i < cfg->n_services; i++) {
		const struct config_service *svc = &cfg->services[i];
		const struct config_k8s_gateway *g;

		if (!strcmp(svc->meta.namespace, ns) && svc->selector.n &&
		    config_labels_match(&svc->selector, &l))
			ret = names_add(&s->own, svc->meta.name, ns);
		if (ret || !waypoint || !gw)
			continue;
		g = l7_service_waypoint(cfg, svc);
		if (g && !strcmp(g->meta.name, gw) && !strcmp(g->meta.namespace, ns))
			ret = names_add(&s->served, svc->meta.name, svc->meta.namespace);
	}
	free(l.items);
	return ret;
}

int dash_sender_find(struct dash_sender *s, const cJSON *pods, const struct config *cfg,
		     const char *addr, const char *node)
{
	const cJSON *pod;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	cJSON_ArrayForEach(pod, pods)
	{
		if (!addr_eq(addr, jstr(pod, "ip")) && !addr_eq(addr, jstr(pod, "ip6")))
			continue;
		s->pod = true;
		ret = sender_names(s, pod, cfg);
		if (ret)
			dash_sender_free(s);
		return ret;
	}
	if (!node)
		return 0;
	/*
	 * A node's address: its ztunnel relaying a pod (host capture sends a pod's plaintext to
	 * what is outside the cluster from the node's address) or a process of the node's own
	 * network. Which pod is not known; one of the node's it is.
	 */
	s->node = true;
	cJSON_ArrayForEach(pod, pods)
	{
		const char *on = jstr(pod, "node");

		if (on && !strcmp(on, node) && (ret = sender_names(s, pod, cfg)))
			break;
	}
	if (ret)
		dash_sender_free(s);
	return ret;
}

/* @claim is one of @l's "name.namespace", or the name of one of them alone. */
static bool names_have(const struct dash_names *l, const char *claim)
{
	size_t len = strlen(claim);

	for (size_t i = 0; i < l->n; i++) {
		const char *v = l->v[i], *dot = strrchr(v, '.');

		if (!strcmp(v, claim) ||
		    (dot && (size_t)(dot - v) == len && !strncmp(v, claim, len)))
			return true;
	}
	return false;
}

bool dash_sender_may(const struct dash_sender *s, const struct dash_span *sp)
{
	if (!s || (!s->pod && !s->node))
		return true;
	/* OpenTelemetry's name for a span whose resource has none: nobody's. */
	if (!sp->proxy && !strcmp(sp->service, "unknown_service"))
		return true;
	if (sp->proxy)
		return names_have(&s->own, sp->proxy) && names_have(&s->served, sp->service);
	return names_have(&s->own, sp->service);
}
