// SPDX-License-Identifier: Apache-2.0
/*
 * Waypoint bindings in the ztunnel's snapshot: which waypoint takes the traffic addressed to each
 * Service and workload (l7_bindings_compute, API_SEMANTICS.md §9), with the addresses and
 * identity the client ztunnel needs to reach it over HBONE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "ambit/l7.h"
#include "lib/array.h"
#include "desired.h"

static uint32_t vip_of(void *arg, const char *ns, const char *name)
{
	return runtime_service_ip(arg, ns, name);
}

static const struct ipaddr *vip6_of(void *arg, const char *ns, const char *name)
{
	return runtime_service_ip6(arg, ns, name);
}

/*
 * The client ztunnel reaches a waypoint through the ready endpoints of its Service when that
 * Service is in the snapshot, else through its instances: a VIP the snapshot does not serve
 * would be an address nobody answers on.
 */
static bool vip_served(const struct desired *d, uint32_t vip)
{
	for (size_t i = 0; vip && i < d->n_snap_services; i++)
		if (d->snap_services[i].vip == vip)
			return true;
	return false;
}

static bool vip6_served(const struct desired *d, const struct ipaddr *vip6)
{
	for (size_t i = 0; vip6->family == AF_INET6 && i < d->n_snap_services; i++)
		if (ipaddr_equal(&d->snap_services[i].vip6, vip6))
			return true;
	return false;
}

static struct snap_waypoint *binding(const struct l7_waypoint *w, const struct desired *d)
{
	struct snap_waypoint *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->identity = strdup(w->identity);
	s->hostname = strdup(w->hostname);
	s->port = L7_HBONE_PORT;
	s->addresses = calloc(w->n_ips + 2, sizeof(*s->addresses));
	s->addresses6 = calloc(w->n_ips6 + 2, sizeof(*s->addresses6));
	if (!s->identity || !s->hostname || !s->addresses || !s->addresses6 ||
	    asprintf(&s->name, "%s/%s", w->namespace, w->name) < 0) {
		s->name = NULL;
		snapshot_waypoint_free(s);
		return NULL;
	}
	/* The waypoint Service's VIP first, then its instances. */
	if (vip_served(d, w->vip))
		s->addresses[s->n_addresses++] = w->vip;
	for (size_t i = 0; i < w->n_ips; i++)
		s->addresses[s->n_addresses++] = w->ips[i];
	/* Its IPv6 ones likewise: what reaches a waypoint of pods of IPv6 alone. */
	if (vip6_served(d, &w->vip6))
		s->addresses6[s->n_addresses6++] = w->vip6;
	for (size_t i = 0; i < w->n_ips6; i++)
		s->addresses6[s->n_addresses6++] = w->ips6[i];
	return s;
}

/*
 * A waypoint Gateway, an Istio Gateway (whose selected pods are a gateway proxy), a Gateway
 * API Gateway of class istio (whose deployment's pods are) or a pod labelled as Istio's
 * gateways (l7/bind.c: one before any Gateway selects it).
 */
static bool any_waypoint(const struct config *cfg, const struct runtime *rt)
{
	if (cfg->n_gateways)
		return true;
	for (size_t i = 0; i < rt->n_pods; i++)
		if (config_istio_gateway_labelled(&rt->pods[i].labels))
			return true;
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++)
		if (cfg->k8s_gateways[i].class_name &&
		    (!strcmp(cfg->k8s_gateways[i].class_name, CONFIG_WAYPOINT_CLASS) ||
		     !strcmp(cfg->k8s_gateways[i].class_name, CONFIG_GATEWAY_CLASS) ||
		     !strcmp(cfg->k8s_gateways[i].class_name, CONFIG_EASTWEST_CLASS)))
			return true;
	return false;
}

int waypoint_view_build(struct waypoint_view *v, const struct config *cfg, const struct runtime *rt,
			const char *trust_domain, const char *(*jwks)(void *arg, const char *uri),
			void *jwks_arg)
{
	struct desired_index ix;

	memset(v, 0, sizeof(*v));
	if (!any_waypoint(cfg, rt))
		return 0;
	v->pods = calloc(rt->n_pods + 1, sizeof(*v->pods));
	if (!v->pods || desired_index_build(cfg, rt, &ix)) {
		free(v->pods);
		v->pods = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < rt->n_pods; i++) {
		const struct rt_pod *p = &rt->pods[i];

		v->pods[i] =
		    (struct l7_pod){p->namespace, p->name, p->node,    p->service_account,
				    p->owner,	  p->ip,   &p->labels, desired_pod_spec(&ix, p),
				    p->ip6};
	}
	desired_index_free(&ix);
	v->in = (struct l7_inputs){.cfg = cfg,
				   .pods = v->pods,
				   .n_pods = rt->n_pods,
				   .trust_domain = trust_domain,
				   .service_vip = vip_of,
				   .service_vip6 = vip6_of,
				   .jwks = jwks,
				   .jwks_arg = jwks_arg,
				   .arg = (void *)rt};
	return l7_bindings_compute(&v->in, &v->b);
}

void waypoint_view_free(struct waypoint_view *v)
{
	l7_bindings_free(&v->b);
	free(v->pods);
	memset(v, 0, sizeof(*v));
}

/*
 * The UDP ports of Service @s at its VIPs (a /32, a /128), into sentry_cidrs: an enrolled pod's
 * datagrams there are not balanced in the kernel but go to the ztunnel as addressed
 * (bpf/lib/capture.h), which carries the flow where the kernel could not (a waypoint, another
 * network); pods outside the mesh are balanced as before (Istio's waypoint is the mesh's).
 * 0 or -ENOMEM.
 */
static int udp_at_vips(struct desired *d, const struct snap_service *s)
{
	struct ipaddr a;
	int err = 0;

	ipaddr_from_v4(&a, s->vip);
	for (size_t i = 0; s->vip && !err && i < d->n_services; i++)
		if (d->services[i].vip == s->vip && d->services[i].proto == IPPROTO_UDP)
			err = desired_add_sentry_cidr(d, &a, d->services[i].port);
	for (size_t i = 0; s->vip6.family == AF_INET6 && !err && i < d->n_services6; i++)
		if (d->services6[i].proto == IPPROTO_UDP &&
		    !memcmp(&d->services6[i].vip, s->vip6.a, sizeof(d->services6[i].vip)))
			err = desired_add_sentry_cidr(d, &s->vip6, d->services6[i].port);
	return err;
}

int desired_waypoints(const struct config *cfg, const struct runtime *rt,
		      const struct desired_env *env, struct desired *d)
{
	struct waypoint_view own = {0};
	const struct waypoint_view *v = env->waypoints;
	int err = v ? 0 : waypoint_view_build(&own, cfg, rt, env->trust_domain, NULL, NULL);

	if (!v)
		v = &own;
	for (size_t i = 0; !err && i < d->n_snap_services; i++) {
		struct snap_service *s = &d->snap_services[i];
		const struct l7_binding *bd = l7_binding_of(&v->b, false, s->namespace, s->name);

		if (bd && bd->waypoint >= 0 &&
		    !(s->waypoint = binding(&v->b.waypoints[bd->waypoint], d)))
			err = -ENOMEM;
		if (!err && s->waypoint)
			err = udp_at_vips(d, s);
		/*
		 * Its label names a waypoint this cluster does not have: another cluster's may
		 * serve it (the ztunnel looks among the Service's remote shares).
		 */
		if (bd && bd->waypoint < 0 && bd->reason &&
		    !strcmp(bd->reason, "WaypointIsNotReady") &&
		    asprintf(&s->waypoint_wanted, "%s/%s", bd->want_namespace, bd->want_name) < 0) {
			s->waypoint_wanted = NULL;
			err = -ENOMEM;
		}
	}
	/* A ServiceEntry's hosts go to its waypoint (egress), as a Service's VIP does. */
	for (size_t i = 0; !err && i < d->n_snap_entries; i++) {
		struct snap_service *s = &d->snap_entries[i];
		const struct l7_waypoint *w = NULL;

		for (size_t k = 0; k < cfg->n_service_entries && !w; k++) {
			const struct config_service_entry *se = &cfg->service_entries[k];

			if (!strcmp(se->meta.namespace, s->namespace) &&
			    config_strings_has(&se->hosts, s->hostname))
				w = l7_bindings_entry(&v->b, cfg, se);
		}
		if (w && !(s->waypoint = binding(w, d)))
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < d->n_snap_workloads; i++) {
		struct snap_workload *s = &d->snap_workloads[i];
		const struct l7_waypoint *w = l7_bindings_find(&v->b, true, s->namespace, s->name);

		if (w && !(s->waypoint = binding(w, d)))
			err = -ENOMEM;
	}
	waypoint_view_free(&own);
	return err;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int desired_remote_udp(const struct desired_env *env, struct desired *d)
{
	const char **hosts = NULL;
	int err = 0;

	/* The remote shares' hostnames, sorted: one look-up a Service (5,000 of them, say). */
	if (env->n_remote && !(hosts = malloc(env->n_remote * sizeof(*hosts))))
		return -ENOMEM;
	for (size_t i = 0; i < env->n_remote; i++)
		hosts[i] = env->remote[i].hostname;
	if (hosts)
		qsort(hosts, env->n_remote, sizeof(*hosts), cmp_str);
	for (size_t i = 0; hosts && !err && i < d->n_snap_services; i++) {
		const struct snap_service *s = &d->snap_services[i];

		if (!s->waypoint && s->hostname &&
		    bsearch(&s->hostname, hosts, env->n_remote, sizeof(*hosts), cmp_str))
			err = udp_at_vips(d, s);
	}
	free(hosts);
	for (size_t i = 0; !err && i < env->n_made; i++) {
		const struct snap_service *s = &env->made[i];

		for (size_t k = 0; !err && k < s->nports; k++) {
			if (s->vip) {
				struct ipaddr a;

				ipaddr_from_v4(&a, s->vip);
				err = desired_add_sentry_cidr(d, &a, s->ports[k].port);
			}
			if (!err && s->vip6.family == AF_INET6)
				err = desired_add_sentry_cidr(d, &s->vip6, s->ports[k].port);
		}
	}
	return err;
}
