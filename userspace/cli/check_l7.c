// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl check` at a waypoint: a request to a Service a waypoint serves is judged by that
 * waypoint first, with its own code (waypoint/authn.c, waypoint/authz.c) on the L7 model its
 * node's agent serves it (the same compile, jwksUri key sets included): which proxy decides,
 * the RequestAuthentication's verdict on the token, and the AuthorizationPolicy and rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ambit/snapshot.h"
#include "../../waypoint/authn.h"
#include "../../waypoint/route.h"
#include "../../waypoint/authz.h"
#include "../../waypoint/config.h"
#include "ctl.h"

/* The token in @file (its first line), malloc'd, or NULL (told). */
static char *read_token(const char *file)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "ambitctl: check: --jwt %s: %s\n", file, strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, f);
	fclose(f);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (n <= 0) {
		fprintf(stderr, "ambitctl: check: --jwt %s: empty\n", file);
		free(line);
		return NULL;
	}
	return line;
}

/* The request's fields: Host, the --header ones, the --jwt token as a bearer. */
static int request_fields(const struct check_l7 *q, const char *host, struct http_fields *f)
{
	char *tok, *bearer;
	int err = host ? http_fields_add(f, "host", host) : 0;

	for (size_t i = 0; !err && i < q->n_headers; i++) {
		const char *eq = strchr(q->headers[i], '=');

		if (!eq || eq == q->headers[i]) {
			fprintf(stderr, "ambitctl: check: --header %s: want NAME=VALUE\n",
				q->headers[i]);
			return -EINVAL;
		}
		err = http_fields_addn(f, q->headers[i], (size_t)(eq - q->headers[i]), eq + 1,
				       strlen(eq + 1));
	}
	if (err || !q->jwt_file)
		return err;
	if (!(tok = read_token(q->jwt_file)))
		return -EINVAL;
	err = asprintf(&bearer, "Bearer %s", tok) < 0 ? -ENOMEM : 0;
	free(tok);
	if (!err) {
		err = http_fields_add(f, "authorization", bearer);
		free(bearer);
	}
	return err;
}

/* The Host a --header host=... gives, or NULL. */
static const char *header_host(const struct check_l7 *q)
{
	for (size_t i = 0; i < q->n_headers; i++)
		if (!strncasecmp(q->headers[i], "host=", 5))
			return q->headers[i] + 5;
	return NULL;
}

/* The verdict, policy and why of @d, as check prints them. */
static void verdict_of(const struct wp_authz_decision *d, const char **verdict, char *name,
		       size_t len, const char **why)
{
	wp_authz_policy_name(d->policy, d->rule, name, len);
	if (d->verdict == WP_AUTHZ_ALLOW) {
		*verdict = "ALLOW";
		*why = d->policy ? "an ALLOW policy's rule matches"
				 : "no AuthorizationPolicy denies it, and none ALLOWs only some "
				   "requests";
	} else if (d->policy && d->policy->action == CONFIG_AUTHZ_CUSTOM) {
		*verdict = "ASK (CUSTOM)";
		snprintf(name, len, "%s (provider %s)", d->policy->name,
			 d->policy->provider ? d->policy->provider : "?");
		*why =
		    "a CUSTOM policy matches: its external authorizer decides (then the DENY and "
		    "ALLOW policies)";
	} else if (d->policy) {
		*verdict = "DENY (403)";
		*why = "a DENY policy's rule matches";
	} else {
		*verdict = "DENY (403)";
		*why = "ALLOW policies apply and none matches";
	}
}

int check_gateway(const char *gw, cJSON *l7j, const char *svc_host, uint32_t src_ip,
		  uint16_t svc_port, uint16_t tport, const struct check_l7 *q, cJSON *out,
		  char *dst, size_t dlen, uint16_t *dport)
{
	const char *method = q->method ? q->method : "GET", *path = q->path ? q->path : "/";
	const char *verdict = "", *why = "", *host_h = header_host(q);
	const struct l7_listener *li = NULL;
	const struct l7_service *s = NULL;
	const struct l7_route *r = NULL;
	struct wp_route_table *rt = NULL;
	struct wp_authz_request rq = {0};
	struct wp_authz_decision d;
	struct http_fields f = {0};
	struct wp_gen *g = NULL;
	struct l7_config *l7;
	char err[256], name[320] = "", host[320], route[700] = "none: 404 (no route takes it)";
	int ret = -EIO;

	dst[0] = '\0';
	*dport = 0;
	l7 = l7_from_json(l7j, err, sizeof(err));
	cJSON_Delete(l7j);
	if (!l7 || !(g = wp_gen_new(l7, 0, err, sizeof(err)))) {
		fprintf(stderr, "ambitctl: check: gateway %s's config: %s\n", gw, err);
		return -EIO;
	}
	for (size_t i = 0; i < g->l7->n_listeners && !li; i++)
		if (g->l7->listeners[i].port == tport)
			li = &g->l7->listeners[i];
	for (size_t i = 0; li && i < g->l7->n_services && !s; i++)
		if (!strcmp(g->l7->services[i].hostname, li->service))
			s = &g->l7->services[i];
	if (!li || !s) {
		fprintf(stderr,
			"ambitctl: check: gateway %s listens on no port %u (no Gateway server "
			"there yet)\n",
			gw, tport);
		goto out;
	}
	if (li->n_certs || (li->protocol != L7_PROTO_HTTP && li->protocol != L7_PROTO_HTTP2)) {
		fprintf(
		    stderr,
		    "ambitctl: check: gateway %s port %u is %s: only plaintext HTTP servers are "
		    "checked so far\n",
		    gw, tport, li->n_certs ? "TLS" : "not HTTP");
		ret = -EINVAL;
		goto out;
	}
	snprintf(host, sizeof(host), "%s", host_h ? host_h : svc_host);
	if (request_fields(q, host_h ? NULL : host, &f))
		goto out;
	ipaddr_from_v4(&rq.source_ip, src_ip);
	rq.remote_ip = rq.source_ip;
	rq.dest_port = tport;
	rq.host = host;
	rq.method = method;
	rq.path = path;
	rq.path_len = strcspn(path, "?");
	rq.headers = &f;
	wp_authz_decide(g->l7, s, &rq, &d);
	verdict_of(&d, &verdict, name, sizeof(name), &why);
	if (!(rt = wp_route_table_new(s, err, sizeof(err)))) {
		fprintf(stderr, "ambitctl: check: gateway %s's routes: %s\n", gw, err);
		goto out;
	}
	r = wp_route_select(rt, &(struct wp_request){.method = method,
						     .scheme = "http",
						     .authority = host,
						     .path = path,
						     .port = tport});
	if (r && r->action == L7_ACTION_ROUTE && r->n_dests) {
		snprintf(dst, dlen, "%s", r->dests[0].host);
		*dport = r->dests[0].port;
		snprintf(route, sizeof(route), "%s -> %s:%u%s", r->source ? r->source : "?",
			 r->dests[0].host, r->dests[0].port,
			 r->n_dests > 1 ? " (and other weighted destinations)" : "");
	} else if (r) {
		snprintf(route, sizeof(route), "%s (%s)", r->source ? r->source : "?",
			 r->action == L7_ACTION_REDIRECT ? "a redirect"
			 : r->action == L7_ACTION_DIRECT ? "a direct response"
							 : "no destination");
	}
	if (out) {
		cJSON *j = cJSON_CreateObject();

		if (j && cJSON_AddItemToArray(out, j)) {
			cJSON_AddStringToObject(j, "proxy", "gateway");
			cJSON_AddStringToObject(j, "gateway", gw);
			cJSON_AddNumberToObject(j, "port", svc_port);
			cJSON_AddStringToObject(j, "request", path);
			cJSON_AddStringToObject(j, "method", method);
			cJSON_AddStringToObject(j, "host", host);
			cJSON_AddStringToObject(j, "route", route);
			cJSON_AddStringToObject(j, "decision", verdict);
			cJSON_AddStringToObject(j, "policy", name);
			cJSON_AddStringToObject(j, "why", why);
		} else {
			cJSON_Delete(j);
		}
	} else {
		printf("L7 at gateway %s (%s): %s %s, Host %s\n", gw,
		       g->l7->identity ? g->l7->identity : "?", method, path, host);
		printf("  listener:          port %u (Service port %u)\n", tport, svc_port);
		printf("  decision:          %s%s%s\n", verdict, name[0] ? " by " : "", name);
		printf("  why:               %s\n", why);
		printf("  route:             %s\n", route);
	}
	if (d.verdict != WP_AUTHZ_ALLOW)
		dst[0] = '\0';
	ret = 0;
out:
	wp_route_table_free(rt);
	http_fields_free(&f);
	wp_gen_put(g);
	return ret;
}

/* The node a waypoint instance of @w runs on (its agent has the key sets it fetched). */
static const struct ctl_node *waypoint_node(const struct ctl_cluster *c, const struct snapshot *s,
					    const struct snap_waypoint *w)
{
	for (size_t i = 0; i < w->n_addresses; i++) {
		const struct snap_workload *wl = snapshot_workload_by_ip(s, w->addresses[i]);
		const struct ctl_node *n = wl && wl->node ? cluster_node(c, wl->node) : NULL;

		if (n)
			return n;
	}
	/* A waypoint of IPv6 alone: its instances by their IPv6 addresses. */
	for (size_t i = 0; i < w->n_addresses6; i++) {
		const struct snap_workload *wl = snapshot_workload_by_ip6(s, &w->addresses6[i]);
		const struct ctl_node *n = wl && wl->node ? cluster_node(c, wl->node) : NULL;

		if (n)
			return n;
	}
	return c->nnodes ? &c->nodes[0] : NULL;
}

int check_l7(const struct ctl_cluster *c, const struct snapshot *snap,
	     const struct snap_waypoint *w, const char *svc_host, uint16_t port,
	     const char *src_identity, uint32_t src_ip, const struct check_l7 *q, cJSON *out)
{
	const struct ctl_node *node = waypoint_node(c, snap, w);
	const char *method = q->method ? q->method : "GET", *path = q->path ? q->path : "/";
	struct http_fields f = {0};
	struct wp_authz_request rq = {0};
	struct wp_authz_decision d;
	struct wp_authn an = {0};
	struct l7_config *l7;
	struct wp_gen *g = NULL;
	const struct l7_service *s = NULL;
	char what[600], err[256], name[320], host[320];
	const char *verdict, *why;
	cJSON *res;
	int ret = -EIO;

	snprintf(what, sizeof(what), "waypoint %s", w->name);
	res = node ? agentq_get(node, what) : NULL;
	if (!res)
		return -EIO;
	l7 = l7_from_json(res, err, sizeof(err));
	cJSON_Delete(res);
	if (!l7 || !(g = wp_gen_new(l7, 0, err, sizeof(err)))) {
		fprintf(stderr, "ambitctl: check: waypoint %s's config: %s\n", w->name, err);
		return -EIO;
	}
	for (size_t i = 0; i < g->l7->n_services && !s; i++)
		if (!g->l7->services[i].aux && !strcmp(g->l7->services[i].hostname, svc_host))
			s = &g->l7->services[i];
	if (!s) {
		fprintf(stderr, "ambitctl: check: waypoint %s does not serve %s (yet)\n", w->name,
			svc_host);
		goto out;
	}
	snprintf(host, sizeof(host), "%s:%u", svc_host, port);
	if (request_fields(q, host, &f))
		goto out;
	if (wp_authn_check(g, s, &f, path, time(NULL), NULL, &an)) {
		ret = -ENOMEM;
		goto out;
	}
	if (q->udp) {
		/* A UDP flow: decided as a connection (authz.h l4), no request, no token. */
		rq.principal = src_identity && !strncmp(src_identity, "spiffe://", 9)
				   ? src_identity + 9
				   : src_identity;
		ipaddr_from_v4(&rq.source_ip, src_ip);
		rq.remote_ip = rq.source_ip;
		rq.dest_port = port;
		rq.l4 = true;
		wp_authz_decide(g->l7, s, &rq, &d);
		verdict_of(&d, &verdict, name, sizeof(name), &why);
	} else if (an.error) {
		verdict = "DENY (401)";
		snprintf(name, sizeof(name), "RequestAuthentication: %s", an.error);
		why = "the token does not verify against the RequestAuthentication of the Service";
	} else {
		rq.principal = src_identity && !strncmp(src_identity, "spiffe://", 9)
				   ? src_identity + 9
				   : src_identity;
		rq.request_principal = an.principal;
		rq.claims = an.jwt.payload;
		rq.space_claims = an.rule ? &an.rule->rule.space_delimited_claims : NULL;
		ipaddr_from_v4(&rq.source_ip, src_ip);
		rq.remote_ip = rq.source_ip;
		rq.dest_port = port;
		rq.host = host;
		rq.method = method;
		rq.path = path;
		rq.path_len = strcspn(path, "?");
		rq.headers = &f;
		wp_authz_decide(g->l7, s, &rq, &d);
		verdict_of(&d, &verdict, name, sizeof(name), &why);
	}
	if (out) {
		cJSON *j = cJSON_CreateObject();

		if (j && cJSON_AddItemToArray(out, j)) {
			cJSON_AddStringToObject(j, "proxy", "waypoint");
			cJSON_AddStringToObject(j, "waypoint", w->name);
			cJSON_AddStringToObject(j, "request", q->udp ? "" : path);
			cJSON_AddStringToObject(j, "method", q->udp ? "" : method);
			cJSON_AddStringToObject(j, "protocol", q->udp ? "UDP" : "HTTP");
			cJSON_AddStringToObject(j, "requestPrincipal",
						an.principal ? an.principal : "");
			cJSON_AddStringToObject(j, "decision", verdict);
			cJSON_AddStringToObject(j, "policy", name);
			cJSON_AddStringToObject(j, "why", why);
		} else {
			cJSON_Delete(j);
		}
	} else {
		if (q->udp)
			printf("L4 at waypoint %s (%s): a UDP flow to port %u\n", w->name,
			       w->identity, port);
		else
			printf("L7 at waypoint %s (%s): %s %s\n", w->name, w->identity, method,
			       path);
		if (!q->udp)
			printf("  request principal: %s\n",
			       an.principal ? an.principal : "none (no token)");
		printf("  decision:          %s%s%s\n", verdict, name[0] ? " by " : "", name);
		printf("  why:               %s\n", why);
	}
	ret = 0;
out:
	wp_authn_clear(&an);
	http_fields_free(&f);
	wp_gen_put(g);
	return ret;
}
