// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 compiler, ingress gateway part: destinations that go through their waypoint
 * (API_SEMANTICS.md §9). Istio's gateways send a Service's traffic to the waypoint the
 * Service is bound to (istio.io/use-waypoint) when the Service, or failing a label of its own
 * its namespace, is labelled istio.io/ingress-use-waypoint=true; the waypoint's routes and
 * policies then apply to ingress traffic too. istiod does it by giving the gateway's cluster
 * for the Service the waypoint's endpoints, reached over HBONE with the Service's VIP:port as
 * the CONNECT authority, as a ztunnel sends to a waypoint. Here the Service keeps one
 * pseudo-endpoint at its VIP (so the authority and the access log name the Service) whose
 * identity is the waypoint's, and the model's tunnel table says which waypoint instances the
 * VIP is reached through.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "compile_priv.h"

bool l7_ingress_use_waypoint_labels(const struct config_labels *svc, const struct config_labels *ns)
{
	const char *v = config_label_get(svc, CONFIG_LABEL_INGRESS_USE_WAYPOINT);

	if (!v && ns)
		v = config_label_get(ns, CONFIG_LABEL_INGRESS_USE_WAYPOINT);
	return v && !strcasecmp(v, "true");
}

static bool ingress_use_waypoint(const struct config *cfg, const struct config_service *s)
{
	const struct config_namespace *ns = config_find_namespace(cfg, s->meta.namespace);

	return l7_ingress_use_waypoint_labels(&s->meta.labels, ns ? &ns->meta.labels : NULL);
}

static void drop_endpoints(struct l7_service *out)
{
	for (size_t i = 0; i < out->n_endpoints; i++) {
		struct l7_endpoint *e = &out->endpoints[i];

		free(e->pod);
		free(e->node);
		free(e->identity);
		free(e->workload);
		config_labels_free(&e->labels);
		free(e->ports);
	}
	out->n_endpoints = 0;
	for (size_t i = 0; i < out->n_subsets; i++)
		out->subsets[i].n_endpoints = 0;
}

/*
 * The pseudo-endpoint: the VIPs on the service ports, answered by waypoint @wp. A VIP whose
 * family the waypoint has no instance of is left out: no tunnel would carry it.
 */
static int pseudo_endpoint(const struct l7_waypoint *wp, struct l7_service *out)
{
	struct l7_endpoint *e = &out->endpoints[0];

	memset(e, 0, sizeof(*e));
	if (wp->n_ips)
		e->ip = out->vip;
	if (wp->n_ips6)
		e->ip6 = out->vip6;
	e->node = strdup("");
	e->workload = strdup(wp->name);
	e->identity = strdup(wp->identity);
	e->ports = calloc(out->n_ports + 1, sizeof(*e->ports));
	if (asprintf(&e->pod, "%s/%s", wp->namespace, wp->name) < 0)
		e->pod = NULL;
	out->n_endpoints = 1;
	if (!e->node || !e->workload || !e->identity || !e->ports || !e->pod)
		return -ENOMEM;
	for (size_t i = 0; i < out->n_ports; i++)
		e->ports[i] = out->ports[i].port;
	for (size_t i = 0; i < out->n_subsets; i++) {
		out->subsets[i].endpoints[0] = 0;
		out->subsets[i].n_endpoints = 1;
	}
	return 0;
}

/* The tunnel of @e's addresses (a pseudo-endpoint's) to @wp's instances of each family. */
static int add_tunnel(struct l7_config *c, const struct l7_waypoint *wp,
		      const struct l7_endpoint *e)
{
	struct l7_tunnel *grown = realloc(c->tunnels, (c->n_tunnels + 1) * sizeof(*grown)), *t;

	if (!grown)
		return -ENOMEM;
	c->tunnels = grown;
	t = &c->tunnels[c->n_tunnels++];
	memset(t, 0, sizeof(*t));
	t->vip = e->ip;
	t->vip6 = e->ip6;
	t->ips = calloc(wp->n_ips + 1, sizeof(*t->ips));
	t->ips6 = calloc(wp->n_ips6 + 1, sizeof(*t->ips6));
	if (asprintf(&t->waypoint, "%s/%s", wp->namespace, wp->name) < 0)
		t->waypoint = NULL;
	if (!t->ips || !t->ips6 || !t->waypoint)
		return -ENOMEM;
	if (t->vip) {
		memcpy(t->ips, wp->ips, wp->n_ips * sizeof(*t->ips));
		t->n_ips = wp->n_ips;
	}
	if (t->vip6.family) {
		memcpy(t->ips6, wp->ips6, wp->n_ips6 * sizeof(*t->ips6));
		t->n_ips6 = wp->n_ips6;
	}
	return 0;
}

int l7_gateway_via_waypoint(const struct l7_inputs *in, const struct l7_bindings *b,
			    const struct config_service *s, struct l7_service *out,
			    struct l7_config *c)
{
	const struct l7_waypoint *wp;
	const struct l7_endpoint *e;

	if (!b || out->workload || !ingress_use_waypoint(in->cfg, s))
		return 0;
	wp = l7_bindings_find(b, false, s->meta.namespace, s->meta.name);
	if (!wp)
		return 0; /* not bound: the label alone changes nothing */
	if (asprintf(&out->via_waypoint, "%s/%s", wp->namespace, wp->name) < 0) {
		out->via_waypoint = NULL;
		return -ENOMEM;
	}
	drop_endpoints(out);
	/*
	 * No VIP to name it by, or no instance to answer, in either family: no endpoint, 503 no
	 * healthy upstream.
	 */
	if (!(out->vip && wp->n_ips) && !(out->vip6.family == AF_INET6 && wp->n_ips6))
		return 0;
	if (pseudo_endpoint(wp, out))
		return -ENOMEM;
	e = &out->endpoints[0];
	if (l7_config_tunnel(c, e->ip) || l7_config_tunnel6(c, &e->ip6))
		return 0;
	return add_tunnel(c, wp, e);
}
