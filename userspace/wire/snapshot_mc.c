// SPDX-License-Identifier: Apache-2.0
/*
 * The snapshot's multicluster members (ambit/snapshot.h): other networks' east-west gateways
 * ("networkGateways") and the remote shares of global Services ("remoteServices"), and the link
 * from each Service to its shares. Kept beside snapshot.c, which calls in here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "ambit/snapshot.h"
#include "dec.h"
#include "snapshot_mc.h"

static bool put_str(cJSON *o, const char *key, const char *v)
{
	return cJSON_AddStringToObject(o, key, v ? v : "") != NULL;
}

static bool encode_gateway(cJSON *arr, const struct snap_net_gateway *g)
{
	cJSON *o = cJSON_CreateObject();
	char a[INET6_ADDRSTRLEN];
	bool ok = o && cJSON_AddItemToArray(arr, o);

	if (!ok) {
		cJSON_Delete(o);
		return false;
	}
	ok = put_str(o, "network", g->network) && put_str(o, "cluster", g->cluster) &&
	     put_str(o, "name", g->name) && put_str(o, "identity", g->identity) &&
	     cJSON_AddNumberToObject(o, "port", g->port);
	if (ok && g->ip)
		ok = inet_ntop(AF_INET, &g->ip, a, sizeof(a)) && put_str(o, "address", a);
	if (ok && g->ip6.family == AF_INET6)
		ok = put_str(o, "address6", ipaddr_format(&g->ip6, a, sizeof(a)));
	return ok;
}

static bool encode_remote(cJSON *arr, const struct snap_remote_service *r)
{
	cJSON *o = cJSON_CreateObject(), *ports, *ids;
	bool ok = o && cJSON_AddItemToArray(arr, o);

	if (!ok) {
		cJSON_Delete(o);
		return false;
	}
	ok = put_str(o, "hostname", r->hostname) && put_str(o, "cluster", r->cluster) &&
	     put_str(o, "network", r->network) &&
	     cJSON_AddNumberToObject(o, "endpoints", r->endpoints);
	ports = ok ? cJSON_AddArrayToObject(o, "ports") : NULL;
	for (size_t i = 0; ports && i < r->n_ports; i++) {
		cJSON *v = cJSON_CreateNumber(r->ports[i]);

		if (!v || !cJSON_AddItemToArray(ports, v)) {
			cJSON_Delete(v);
			ports = NULL;
		}
	}
	ids = ports ? cJSON_AddArrayToObject(o, "identities") : NULL;
	for (size_t i = 0; ids && i < r->n_identities; i++) {
		cJSON *v = cJSON_CreateString(r->identities[i]);

		if (!v || !cJSON_AddItemToArray(ids, v)) {
			cJSON_Delete(v);
			ids = NULL;
		}
	}
	if (ids && r->waypoint && r->waypoint_identity)
		return put_str(o, "waypoint", r->waypoint) &&
		       put_str(o, "waypointIdentity", r->waypoint_identity);
	return ids != NULL;
}

int snapshot_mc_encode(cJSON *root, const struct snapshot *s)
{
	cJSON *arr;

	if (s->n_net_gateways) {
		arr = cJSON_AddArrayToObject(root, "networkGateways");
		for (size_t i = 0; arr && i < s->n_net_gateways; i++)
			if (!encode_gateway(arr, &s->net_gateways[i]))
				arr = NULL;
		if (!arr)
			return -ENOMEM;
	}
	if (s->n_remote_services) {
		arr = cJSON_AddArrayToObject(root, "remoteServices");
		for (size_t i = 0; arr && i < s->n_remote_services; i++)
			if (!encode_remote(arr, &s->remote_services[i]))
				arr = NULL;
		if (!arr)
			return -ENOMEM;
	}
	return 0;
}

/* A label value (a cluster's id, a network), required. */
static char *label_str(struct wire_dec *d, const cJSON *o, const char *key, const char *path)
{
	char *v = wire_str(d, o, key, path, true);

	if (v && !config_label_value_ok(v))
		wire_fail(d, "%s.%s: \"%.80s\" is not a label value", path, key, v);
	return v;
}

static void decode_gateway(struct wire_dec *d, const cJSON *o, const char *path,
			   struct snap_net_gateway *g)
{
	static const char *const keys[] = {"network", "cluster",  "name", "identity",
					   "address", "address6", "port", NULL};
	double v;

	if (!wire_keys(d, o, path, keys))
		return;
	g->network = label_str(d, o, "network", path);
	g->cluster = label_str(d, o, "cluster", path);
	g->name = wire_str(d, o, "name", path, true);
	g->identity = wire_str(d, o, "identity", path, true);
	g->ip = wire_ip(d, o, "address", path, false);
	g->ip6 = wire_ip6(d, o, "address6", path);
	if (wire_num_at(d, o, "port", path, 1, 65535, true, &v))
		g->port = (uint16_t)v;
	if (!d->failed && !g->ip && g->ip6.family != AF_INET6)
		wire_fail(d, "%s: a gateway needs an address or address6", path);
}

static void decode_remote(struct wire_dec *d, const cJSON *o, const char *path,
			  struct snap_remote_service *r)
{
	static const char *const keys[] = {"hostname", "cluster",    "network",	 "endpoints",
					   "ports",    "identities", "waypoint", "waypointIdentity",
					   NULL};
	const cJSON *arr, *it;
	char sub[96];
	size_t n, j = 0;

	if (!wire_keys(d, o, path, keys))
		return;
	r->hostname = wire_str(d, o, "hostname", path, true);
	r->cluster = label_str(d, o, "cluster", path);
	r->network = label_str(d, o, "network", path);
	r->endpoints = (uint32_t)wire_num(d, o, "endpoints", path, 0, 1e9, true);
	arr = wire_arr(d, o, "ports", path, &n);
	snprintf(sub, sizeof(sub), "%s.ports", path);
	if (d->failed || !(r->ports = wire_alloc(d, n, sizeof(*r->ports), sub)))
		return;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 65535 ||
		    it->valuedouble != (double)(uint16_t)it->valuedouble) {
			wire_fail(d, "%s[%zu]: expected a port number", sub, j);
			return;
		}
		r->ports[r->n_ports++] = (uint16_t)it->valuedouble;
		j++;
	}
	arr = wire_arr(d, o, "identities", path, &n);
	snprintf(sub, sizeof(sub), "%s.identities", path);
	if (d->failed || !(r->identities = wire_alloc(d, n, sizeof(*r->identities), sub)))
		return;
	j = 0;
	cJSON_ArrayForEach(it, arr)
	{
		/* SPIFFE IDs: the inner TLS takes a space-separated list of them. */
		if (!cJSON_IsString(it) || strncmp(it->valuestring, "spiffe://", 9) ||
		    strpbrk(it->valuestring, " \t\r\n")) {
			wire_fail(d, "%s[%zu]: expected a SPIFFE ID", sub, j);
			return;
		}
		if (!(r->identities[r->n_identities] = strdup(it->valuestring))) {
			wire_fail(d, "%s: out of memory", sub);
			return;
		}
		r->n_identities++;
		j++;
	}
	r->waypoint = wire_str(d, o, "waypoint", path, false);
	r->waypoint_identity = wire_str(d, o, "waypointIdentity", path, false);
	if (d->failed)
		return;
	if (!r->waypoint != !r->waypoint_identity)
		wire_fail(d, "%s: \"waypoint\" and \"waypointIdentity\" go together", path);
	else if (r->waypoint && (!strchr(r->waypoint, '/') || strchr(r->waypoint, ' ')))
		wire_fail(d, "%s.waypoint: \"%.80s\" is not namespace/name", path, r->waypoint);
	else if (r->waypoint_identity && (strncmp(r->waypoint_identity, "spiffe://", 9) ||
					  strpbrk(r->waypoint_identity, " \t\r\n")))
		wire_fail(d, "%s.waypointIdentity: expected a SPIFFE ID", path);
}

static int cmp_remote(const void *a, const void *b)
{
	const struct snap_remote_service *x = a, *y = b;
	int c = strcmp(x->hostname, y->hostname);

	return c ? c : strcmp(x->cluster, y->cluster);
}

/* Each Service's remote shares: the run of remote_services of its hostname. */
static void link_services(struct snapshot *s)
{
	for (size_t i = 0; i < s->n_services; i++) {
		struct snap_service *svc = &s->services[i];
		struct snap_remote_service key = {.hostname = svc->hostname, .cluster = ""};
		const struct snap_remote_service *r;
		size_t lo = 0, hi = s->n_remote_services;

		if (!svc->hostname || !*svc->hostname)
			continue;
		/* The first share of the hostname (clusters sort after ""). */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (cmp_remote(&s->remote_services[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		r = &s->remote_services[lo];
		while (lo < s->n_remote_services &&
		       !strcmp(s->remote_services[lo].hostname, svc->hostname)) {
			lo++;
			svc->n_remote++;
		}
		svc->remote = svc->n_remote ? r : NULL;
	}
}

int snapshot_mc_decode(struct wire_dec *d, const cJSON *root, struct snapshot *s)
{
	const cJSON *arr, *it;
	char path[64];
	size_t n;

	arr = wire_arr(d, root, "networkGateways", "", &n);
	if (d->failed ||
	    !(s->net_gateways = wire_alloc(d, n, sizeof(*s->net_gateways), "networkGateways")))
		return -EINVAL;
	cJSON_ArrayForEach(it, arr)
	{
		snprintf(path, sizeof(path), "networkGateways[%zu]", s->n_net_gateways);
		decode_gateway(d, it, path, &s->net_gateways[s->n_net_gateways++]);
		if (d->failed)
			return -EINVAL;
	}
	arr = wire_arr(d, root, "remoteServices", "", &n);
	if (d->failed ||
	    !(s->remote_services = wire_alloc(d, n, sizeof(*s->remote_services), "remoteServices")))
		return -EINVAL;
	cJSON_ArrayForEach(it, arr)
	{
		snprintf(path, sizeof(path), "remoteServices[%zu]", s->n_remote_services);
		decode_remote(d, it, path, &s->remote_services[s->n_remote_services++]);
		if (d->failed)
			return -EINVAL;
	}
	qsort(s->remote_services, s->n_remote_services, sizeof(*s->remote_services), cmp_remote);
	link_services(s);
	return 0;
}

void snapshot_net_gateways_free(struct snap_net_gateway *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++) {
		free(g[i].network);
		free(g[i].cluster);
		free(g[i].name);
		free(g[i].identity);
	}
	free(g);
}

void snapshot_remote_services_free(struct snap_remote_service *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].hostname);
		free(r[i].cluster);
		free(r[i].network);
		free(r[i].ports);
		for (size_t j = 0; j < r[i].n_identities; j++)
			free(r[i].identities[j]);
		free(r[i].identities);
		free(r[i].waypoint);
		free(r[i].waypoint_identity);
	}
	free(r);
}

void snapshot_mc_free(struct snapshot *s)
{
	snapshot_net_gateways_free(s->net_gateways, s->n_net_gateways);
	snapshot_remote_services_free(s->remote_services, s->n_remote_services);
}

bool snapshot_remote_has_port(const struct snap_remote_service *r, uint16_t port)
{
	for (size_t i = 0; i < r->n_ports; i++)
		if (r->ports[i] == port)
			return true;
	return false;
}
