// SPDX-License-Identifier: Apache-2.0
/*
 * istioctl proxy-config on ambit: what a waypoint or gateway routes, from the L7 model its node's
 * agent serves it (the model `ambitctl check` judges requests with), in the tables istioctl
 * prints of an Envoy's configuration (listeners, routes, clusters, endpoints, secrets) and as
 * JSON. A ztunnel is `ztunnel-config`'s; an application pod has no proxy in ambient, so the
 * waypoint that routes its Services' traffic answers for it, said on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ambit/ipaddr.h"
#include "ambit/l7.h"
#include "ambit/snapshot.h"
#include "cli/ctl.h"
#include "dashboard/dashboard.h"
#include "istioctl.h"
#include "k8s/kmanifest.h"

/* The proxy a target names: its model's key for the agent, and the node that serves it. */
struct target {
	char key[320]; /* "waypoint ns/name" or "gateway ns/deployment" */
	const struct ctl_node *node;
	char pod[300]; /* "ns/name" of the instance asked */
};

/* The pod record of pods.json that @kind/@name in @ns names (a Deployment: its first pod). */
static const cJSON *find_pod(const cJSON *pods, const char *kind, const char *name, const char *ns)
{
	bool deploy = kind && (!strcmp(kind, "deployment") || !strcmp(kind, "deploy") ||
			       !strcmp(kind, "deployments") || !strcmp(kind, "deployment.apps"));
	const cJSON *p;

	cJSON_ArrayForEach(p, kjson_get(pods, "pods", NULL))
	{
		const char *pn = kjson_str(p, deploy ? "owner" : "name", NULL);

		if (pn && !strcmp(pn, name) && !strcmp(kjson_str(p, "namespace", NULL) ?: "", ns))
			return p;
	}
	return NULL;
}

/* The waypoint ("ns/name") that routes what is addressed to pod @ip's Services or to it. */
static bool waypoint_of(const struct snapshot *s, const char *ip, char *buf, size_t len)
{
	struct ipaddr a;
	const struct snap_workload *w;
	uint32_t v4;

	if (ipaddr_parse_addr(ip, &a) || !(w = snapshot_workload_by_addr(s, &a)))
		return false;
	if (w->waypoint) {
		str_fmt(buf, len, "%s", w->waypoint->name);
		return true;
	}
	v4 = w->ip;
	for (size_t i = 0; i < s->n_services; i++)
		for (size_t k = 0; s->services[i].waypoint && k < s->services[i].nendpoints; k++)
			if (v4 && s->services[i].endpoints[k] == v4) {
				str_fmt(buf, len, "%s", s->services[i].waypoint->name);
				return true;
			}
	return false;
}

static int resolve(const struct ic *ic, const struct ctl_cluster *c, const char *spec,
		   struct target *t)
{
	char kind[64] = "", name[256], ns[128], wp[320];
	const char *slash = strchr(spec, '/'), *dot;
	cJSON *pods = plan_read_pods_json(c);
	const cJSON *pod;
	struct snapshot *s = NULL;
	int ret = 0;

	if (slash)
		str_fmt(kind, sizeof(kind), "%.*s", (int)(slash - spec), spec);
	spec = slash ? slash + 1 : spec;
	dot = strchr(spec, '.');
	str_fmt(name, sizeof(name), "%.*s", dot ? (int)(dot - spec) : (int)strlen(spec), spec);
	str_fmt(ns, sizeof(ns), "%s", dot ? dot + 1 : ic_namespace(ic));
	if (!strncmp(name, "ztunnel", 7) || (!strcmp(kind, "ds") || !strcmp(kind, "daemonset"))) {
		cJSON_Delete(pods);
		return ic_error(IC_EXIT_ERROR, "proxy-config does not read ztunnels: use `istioctl "
					       "ztunnel-config` instead");
	}
	pod = find_pod(pods, kind[0] ? kind : NULL, name, ns);
	if (!pod) {
		cJSON_Delete(pods);
		return ic_error(IC_EXIT_ERROR, "%s%s%s.%s: no such pod or deployment", kind,
				kind[0] ? "/" : "", name, ns);
	}
	str_fmt(t->pod, sizeof(t->pod), "%s/%s", ns, kjson_str(pod, "name", NULL));
	t->node = cluster_node(c, kjson_str(pod, "node", NULL) ?: "");
	const char *role = dash_pod_role(pod);
	const char *gwname = kjson_str(kjson_get(pod, "labels", NULL),
				       "gateway.networking.k8s.io/gateway-name", NULL);

	if (!strcmp(role, "waypoint")) {
		str_fmt(t->key, sizeof(t->key), "waypoint %s/%s", ns,
			gwname ?: kjson_str(pod, "owner", NULL) ?: name);
	} else if (!strcmp(role, "gateway")) {
		str_fmt(t->key, sizeof(t->key), "gateway %s/%s", ns,
			kjson_str(pod, "owner", NULL) ?: name);
	} else {
		/* An application pod: no proxy of its own; its Services' waypoint, if any. */
		for (int i = 0; i < c->nnodes && !s; i++)
			s = agent_snapshot(&c->nodes[i], NULL);
		if (!s || !waypoint_of(s, kjson_str(pod, "ip", NULL) ?: "", wp, sizeof(wp))) {
			ret =
			    ic_error(IC_EXIT_ERROR,
				     "%s is no proxy: in ambient a pod has none, and no waypoint "
				     "routes its Services' traffic (istioctl waypoint apply -n %s "
				     "--enroll-namespace binds one); what its node's ztunnel holds "
				     "is `istioctl ztunnel-config`'s",
				     t->pod, ns);
		} else {
			fprintf(stderr,
				"%s is no proxy (ambient): its Services' traffic is routed by "
				"waypoint %s, whose configuration follows\n",
				t->pod, wp);
			str_fmt(t->key, sizeof(t->key), "waypoint %s", wp);
			t->node = NULL;
			/* The node of one of its instances serves its model. */
			cJSON_ArrayForEach(pod, kjson_get(pods, "pods", NULL))
			{
				const char *g =
				    kjson_str(kjson_get(pod, "labels", NULL),
					      "gateway.networking.k8s.io/gateway-name", NULL);
				char key[320];

				str_fmt(key, sizeof(key), "%s/%s",
					kjson_str(pod, "namespace", NULL), g ?: "");
				if (g && !strcmp(key, wp) && !t->node)
					t->node =
					    cluster_node(c, kjson_str(pod, "node", NULL) ?: "");
			}
			if (!t->node)
				ret = ic_error(IC_EXIT_ERROR, "waypoint %s has no instance running",
					       wp);
		}
		snapshot_free(s);
	}
	cJSON_Delete(pods);
	if (!ret && !t->node)
		ret = ic_error(IC_EXIT_ERROR, "%s: its node is not in cluster %s", t->pod, c->name);
	return ret;
}

static const char *cluster_type(const struct l7_service *s)
{
	switch (s->resolution) {
	case L7_RES_DNS: return "STRICT_DNS";
	case L7_RES_DNS_ROUND_ROBIN: return "LOGICAL_DNS";
	case L7_RES_NONE: return "ORIGINAL_DST";
	case L7_RES_DYNAMIC_DNS: return "DYNAMIC_DNS";
	default: return "EDS";
	}
}

/* The DestinationRule ("name.ns") for @s in @cfg, or "-": one of its namespace first. */
static const char *dr_of(const struct config *cfg, const struct l7_service *s, char *buf,
			 size_t len)
{
	const char *hit = NULL, *hit_ns = NULL;

	for (size_t i = 0; i < cfg->n_destination_rules; i++) {
		const struct config_destination_rule *d = &cfg->destination_rules[i];
		size_t n = strlen(d->host);
		bool match = !strcmp(d->host, s->hostname) ||
			     (!strncmp(s->hostname, d->host, n) && s->hostname[n] == '.' &&
			      !strcmp(d->meta.namespace, s->namespace ?: ""));

		if (match && (!hit || !strcmp(d->meta.namespace, s->namespace ?: ""))) {
			hit = d->meta.name;
			hit_ns = d->meta.namespace;
		}
	}
	if (!hit)
		return "-";
	str_fmt(buf, len, "%s.%s", hit, hit_ns);
	return buf;
}

/* The raw JSON policy of @sj (the model's service) for @subset and @port, or NULL. */
static const cJSON *raw_policy(const cJSON *sj, const char *subset, uint16_t port)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, kjson_get(sj, "policies", NULL))
	{
		const char *ps = kjson_str(p, "subset", NULL);

		if ((uint16_t)cJSON_GetNumberValue(kjson_get(p, "port", NULL)) == port &&
		    ((!ps && !subset) || (ps && subset && !strcmp(ps, subset))))
			return p;
	}
	return NULL;
}

static void clusters(const struct l7_config *l7, const cJSON *raw, const struct config *cfg,
		     cJSON *out)
{
	if (!out)
		printf("%-56s %-6s %-10s %-10s %-13s %s\n", "SERVICE FQDN", "PORT", "SUBSET",
		       "DIRECTION", "TYPE", "DESTINATION RULE");
	for (size_t i = 0; i < l7->n_services; i++) {
		const struct l7_service *s = &l7->services[i];
		const cJSON *sj = cJSON_GetArrayItem(kjson_get(raw, "services", NULL), (int)i);
		char dr[300];

		/* A gateway's own Service is where it listens; its upstreams are the rest. */
		if (s->workload || (l7->gateway && !s->aux))
			continue;
		const char *drn = dr_of(cfg, s, dr, sizeof(dr));

		for (size_t p = 0; p < s->n_ports; p++)
			for (size_t k = 0; k <= s->n_subsets; k++) {
				const char *sub = k ? s->subsets[k - 1].name : NULL;
				char name[512];

				str_fmt(name, sizeof(name), "outbound|%u|%s|%s", s->ports[p].port,
					sub ?: "", s->hostname);
				if (!out) {
					printf("%-56s %-6u %-10s %-10s %-13s %s\n", s->hostname,
					       s->ports[p].port, sub ?: "-", "outbound",
					       cluster_type(s), drn);
					continue;
				}
				cJSON *o = cJSON_CreateObject();
				const cJSON *pol = raw_policy(sj, sub, s->ports[p].port);

				cJSON_AddStringToObject(o, "name", name);
				cJSON_AddStringToObject(o, "type", cluster_type(s));
				cJSON_AddStringToObject(o, "destinationRule", drn);
				/* Envoy's cluster keys, from the policy in force. */
				const cJSON *f;

				cJSON_ArrayForEach(f, pol)
				{
					if (strcmp(f->string, "subset") &&
					    strcmp(f->string, "port"))
						cJSON_AddItemToObject(o, f->string,
								      cJSON_Duplicate(f, true));
				}
				cJSON_AddItemToArray(out, o);
			}
	}
}

static void endpoints(const struct l7_config *l7, cJSON *out)
{
	if (!out)
		printf("%-28s %-8s %-14s %s\n", "ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER");
	for (size_t i = 0; i < l7->n_services; i++) {
		const struct l7_service *s = &l7->services[i];

		/* A gateway's own Service is where it listens; its upstreams are the rest. */
		if (s->workload || (l7->gateway && !s->aux))
			continue;
		for (size_t p = 0; p < s->n_ports; p++)
			for (size_t e = 0; e < s->n_endpoints; e++) {
				const struct l7_endpoint *ep = &s->endpoints[e];
				char addr[IPADDR_STRLEN + 8], ip[IPADDR_STRLEN], cl[512];
				uint16_t port =
				    ep->ports && ep->ports[p] ? ep->ports[p] : s->ports[p].port;

				if (ep->ip)
					inet_ntop(AF_INET, &ep->ip, ip, sizeof(ip));
				else if (ep->ip6.family)
					ipaddr_format(&ep->ip6, ip, sizeof(ip));
				else
					str_fmt(ip, sizeof(ip), "%s", ep->dns_name ?: "?");
				str_fmt(addr, sizeof(addr), "%s%s%s:%u",
					ep->ip6.family && !ep->ip ? "[" : "", ip,
					ep->ip6.family && !ep->ip ? "]" : "", port);
				str_fmt(cl, sizeof(cl), "outbound|%u||%s", s->ports[p].port,
					s->hostname);
				if (!out) {
					printf("%-28s %-8s %-14s %s\n", addr, "HEALTHY", "OK", cl);
					continue;
				}
				cJSON *o = cJSON_CreateObject();

				cJSON_AddStringToObject(o, "address", addr);
				cJSON_AddStringToObject(o, "cluster", cl);
				cJSON_AddStringToObject(o, "pod", ep->pod ?: "");
				cJSON_AddStringToObject(o, "identity", ep->identity ?: "");
				cJSON_AddStringToObject(o, "healthStatus", "HEALTHY");
				cJSON_AddItemToArray(out, o);
			}
	}
}

static const char *match_text(const struct l7_route *r, char *buf, size_t len)
{
	const struct l7_string_match *m = r->n_matches ? &r->matches[0].path : NULL;

	if (!m || m->type == L7_MATCH_ANY)
		str_fmt(buf, len, "/*");
	else if (m->type == L7_MATCH_PREFIX || m->type == L7_MATCH_PATH_PREFIX)
		str_fmt(buf, len, "%s*", m->value);
	else if (m->type == L7_MATCH_REGEX)
		str_fmt(buf, len, "%s (regex)", m->value);
	else
		str_fmt(buf, len, "%s", m->value);
	/* Other conditions (headers, methods, more matches) are in -o json. */
	if (r->n_matches > 1 ||
	    (r->n_matches && (r->matches[0].n_headers || r->matches[0].n_query ||
			      r->matches[0].method.type != L7_MATCH_ANY)))
		str_fmt(buf + strlen(buf), len - strlen(buf), "%s", " +");
	return buf;
}

/* "VirtualService ns/name http[i]" as istioctl's "name.ns", else "-" (the default route). */
static const char *route_source(const struct l7_route *r, char *buf, size_t len)
{
	const char *sp = r->source ? strchr(r->source, ' ') : NULL, *slash, *end;

	if (!sp || !(slash = strchr(sp + 1, '/')))
		return "-";
	end = strchr(slash, ' ');
	str_fmt(buf, len, "%.*s.%.*s", end ? (int)(end - slash - 1) : (int)strlen(slash + 1),
		slash + 1, (int)(slash - sp - 1), sp + 1);
	return buf;
}

static void routes(const struct l7_config *l7, const cJSON *raw, cJSON *out)
{
	if (!out)
		printf("%-8s %-56s %-32s %-24s %s\n", "NAME", "VHOST NAME", "DOMAINS", "MATCH",
		       "VIRTUAL SERVICE");
	for (size_t i = 0; i < l7->n_services; i++) {
		const struct l7_service *s = &l7->services[i];
		const cJSON *sj = cJSON_GetArrayItem(kjson_get(raw, "services", NULL), (int)i);

		if (s->aux)
			continue;
		for (size_t p = 0; p < s->n_ports; p++) {
			char vhost[512], name[16];

			str_fmt(name, sizeof(name), "%u", s->ports[p].port);
			str_fmt(vhost, sizeof(vhost), "%s:%u", s->hostname, s->ports[p].port);
			if (out) {
				cJSON *o = cJSON_CreateObject();

				cJSON_AddStringToObject(o, "name", name);
				cJSON_AddStringToObject(o, "virtualHost", vhost);
				cJSON_AddItemToObject(
				    o, "routes",
				    cJSON_Duplicate(kjson_get(sj, "routes", NULL), true));
				cJSON_AddItemToArray(out, o);
				continue;
			}
			for (size_t r = 0; r < s->n_routes; r++) {
				char m[300], vs[300];

				printf("%-8s %-56s %-32s %-24s %s\n", name, vhost,
				       s->name ? s->name : s->hostname,
				       match_text(&s->routes[r], m, sizeof(m)),
				       route_source(&s->routes[r], vs, sizeof(vs)));
			}
			if (!s->n_routes)
				printf("%-8s %-56s %-32s %-24s %s\n", name, vhost,
				       s->name ? s->name : s->hostname, "/*", "-");
		}
	}
}

static void listeners(const struct l7_config *l7, cJSON *out)
{
	if (!out)
		printf("%-16s %-6s %-36s %s\n", "ADDRESSES", "PORT", "MATCH", "DESTINATION");
	/* A waypoint takes HBONE on 15008 for every Service bound to it. */
	if (!l7->gateway) {
		for (size_t i = 0; i < l7->n_services; i++) {
			const struct l7_service *s = &l7->services[i];
			char vip[INET_ADDRSTRLEN] = "-";

			if (s->aux)
				continue;
			if (s->vip)
				inet_ntop(AF_INET, &s->vip, vip, sizeof(vip));
			for (size_t p = 0; p < s->n_ports; p++) {
				char dest[512];

				str_fmt(dest, sizeof(dest), "Route: %u (%s)", s->ports[p].port,
					l7_protocol_name(s->ports[p].protocol));
				if (!out) {
					printf("%-16s %-6u %-36s %s\n", vip, s->ports[p].port,
					       "HBONE 15008", dest);
					continue;
				}
				cJSON *o = cJSON_CreateObject();

				cJSON_AddStringToObject(o, "address", vip);
				cJSON_AddNumberToObject(o, "port", s->ports[p].port);
				cJSON_AddStringToObject(o, "service", s->hostname);
				cJSON_AddStringToObject(o, "protocol",
							l7_protocol_name(s->ports[p].protocol));
				cJSON_AddItemToArray(out, o);
			}
		}
		return;
	}
	for (size_t i = 0; i < l7->n_listeners; i++) {
		const struct l7_listener *ls = &l7->listeners[i];
		char match[64], dest[512];

		str_fmt(match, sizeof(match), "%s%s", ls->n_certs ? "TLS (SNI)" : "ALL",
			ls->proxy_protocol ? ", PROXY protocol" : "");
		str_fmt(dest, sizeof(dest), "Route: %u (%s)", ls->port,
			l7_protocol_name(ls->protocol));
		if (!out) {
			printf("%-16s %-6u %-36s %s\n", "0.0.0.0", ls->port, match, dest);
			continue;
		}
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "address", "0.0.0.0");
		cJSON_AddNumberToObject(o, "port", ls->port);
		cJSON_AddStringToObject(o, "protocol", l7_protocol_name(ls->protocol));
		cJSON_AddNumberToObject(o, "certificates", (double)ls->n_certs);
		cJSON_AddItemToArray(out, o);
	}
}

static void secret_row(const char *name, const char *type, const char *pem, cJSON *out)
{
	struct ic_cert c;

	ic_cert_read(pem, &c);
	if (!out) {
		printf("%-56s %-10s %-8s %-11s %-40s %-20s %s\n", name, type,
		       c.ok ? "ACTIVE" : "WARMING", c.valid ? "true" : "false", c.serial,
		       c.not_after, c.not_before);
		return;
	}
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddBoolToObject(o, "valid", c.valid);
	cJSON_AddStringToObject(o, "serialNumber", c.ok ? c.serial : "");
	cJSON_AddStringToObject(o, "notAfter", c.not_after);
	cJSON_AddStringToObject(o, "notBefore", c.not_before);
	cJSON_AddItemToArray(out, o);
}

static void secrets(const struct l7_config *l7, const struct target *t, cJSON *out)
{
	if (!out)
		printf("%-56s %-10s %-8s %-11s %-40s %-20s %s\n", "RESOURCE NAME", "TYPE", "STATUS",
		       "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE");
	/* Its mesh identity's certificate: what its node's agent issued the instance. */
	cJSON *st = agent_try(t->node, "status");
	const cJSON *it;
	struct snapshot *s = agent_snapshot(t->node, NULL);

	cJSON_ArrayForEach(it, kjson_get(st, "proxyCerts", NULL))
	{
		if (!l7->identity || strcmp(kjson_str(it, "identity", NULL) ?: "", l7->identity))
			continue;
		secret_row("default", "Cert Chain", kjson_str(it, "certPem", NULL), out);
		secret_row("ROOTCA", "CA", s ? s->root_pem : NULL, out);
		break;
	}
	snapshot_free(s);
	cJSON_Delete(st);
	/* A gateway's certificates (credentialName), as Envoy's SDS names them. */
	for (size_t i = 0; i < l7->n_listeners; i++)
		for (size_t k = 0; k < l7->listeners[i].n_certs; k++) {
			const struct l7_tls_cert *c = &l7->listeners[i].certs[k];
			const char *cn = c->source ? strstr(c->source, "credentialName ") : NULL;
			char name[300];

			str_fmt(name, sizeof(name), "kubernetes://%.*s",
				cn ? (int)strcspn(cn + 15, ")") : 7, cn ? cn + 15 : "unnamed");
			secret_row(name, "Cert Chain", c->cert, out);
			if (c->ca)
				secret_row(name, "CA", c->ca, out);
		}
}

int ic_proxy_config(struct ic *ic)
{
	static const struct {
		const char *name, *aliases;
	} subs[] = {{"listeners", " listener l "}, {"routes", " route r "},
		    {"clusters", " cluster c "},   {"endpoints", " endpoint ep eds "},
		    {"secret", " secrets s "},	   {"all", " a "}};
	const char *word = ic->args < ic->npos ? ic->pos[ic->args] : "", *sub = NULL;
	const char *fmt = ic->val[IC_F_OUTPUT] ? ic->val[IC_F_OUTPUT] : "short";
	struct ctl_cluster c;
	struct target t = {0};
	struct config cfg;
	struct l7_config *l7;
	char key[64], err[256], state[PATH_MAX];
	cJSON *raw, *doc = NULL;
	bool all;
	int ret;

	str_fmt(key, sizeof(key), " %s ", word);
	for (size_t i = 0; *word && i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(word, subs[i].name) || strstr(subs[i].aliases, key))
			sub = subs[i].name;
	if (!sub)
		return ic_error(IC_EXIT_USAGE,
				"proxy-config: one of listeners, routes, clusters, endpoints, "
				"secret, all\nRun 'istioctl proxy-config --help' for usage.");
	if (ic->args + 1 >= ic->npos)
		return ic_error(IC_EXIT_USAGE, "proxy-config %s: name a pod ([TYPE/]NAME[.NS])",
				sub);
	if (strcmp(fmt, "short") && strcmp(fmt, "json") && strcmp(fmt, "yaml"))
		return ic_error(IC_EXIT_USAGE, "--output must be 'short', 'json' or 'yaml'");
	ret = ic_cluster(ic, &c, false);
	ret = ret ?: resolve(ic, &c, ic->pos[ic->args + 1], &t);
	if (ret)
		return ret;
	raw = agent_try(t.node, t.key);
	l7 = raw ? l7_from_json(raw, err, sizeof(err)) : NULL;
	if (!l7) {
		cJSON_Delete(raw);
		return ic_error(IC_EXIT_ERROR, "%s: its configuration could not be read%s%s", t.pod,
				raw ? ": " : "", raw ? err : "");
	}
	config_init(&cfg);
	cluster_path(&c, state, sizeof(state), "state");
	load_manifests(&cfg, state); /* best effort: names the DestinationRules */
	all = !strcmp(sub, "all");
	if (strcmp(fmt, "short"))
		doc = cJSON_CreateObject();
	if (all || !strcmp(sub, "listeners"))
		listeners(l7, doc ? cJSON_AddArrayToObject(doc, "listeners") : NULL);
	if (all && !doc)
		printf("\n");
	if (all || !strcmp(sub, "routes"))
		routes(l7, raw, doc ? cJSON_AddArrayToObject(doc, "routes") : NULL);
	if (all && !doc)
		printf("\n");
	if (all || !strcmp(sub, "clusters"))
		clusters(l7, raw, &cfg, doc ? cJSON_AddArrayToObject(doc, "clusters") : NULL);
	if (all && !doc)
		printf("\n");
	if (all || !strcmp(sub, "endpoints"))
		endpoints(l7, doc ? cJSON_AddArrayToObject(doc, "endpoints") : NULL);
	if (all && !doc)
		printf("\n");
	if (all || !strcmp(sub, "secret"))
		secrets(l7, &t, doc ? cJSON_AddArrayToObject(doc, "secrets") : NULL);
	config_free(&cfg);
	l7_config_free(l7);
	cJSON_Delete(raw);
	if (doc && !all) {
		cJSON *list = cJSON_DetachItemViaPointer(doc, doc->child);

		cJSON_Delete(doc);
		doc = list;
	}
	return doc ? ic_print(doc, fmt) : 0;
}
