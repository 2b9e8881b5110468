// SPDX-License-Identifier: Apache-2.0
/*
 * Snapshot codec (cJSON). The JSON schema, camelCase like the Kubernetes objects it comes from:
 *   {"version":N,"node":S,"nodeIP":"a.b.c.d","trustDomain":S,"rootPEM":S,
 *    "clusterId":S (optional: "Kubernetes"),"network":S (optional: none),
 *    "workloads":[{"uid","name","namespace","serviceAccount","identity","node","workloadName",
 *                  "app","version","canonicalService","canonicalRevision","ip","ip6" (one
 *                  of the two, or both),"nodeIP","enrolled"}],
 *    "services":[{"name","namespace","hostname","vip" (absent: "vip6" alone),"vip6" (optional),
 *                 "ports":[{"name","port","targetPort"}],
 *                 "endpoints":["a.b.c.d",...],
 *                 "endpoints6":["v6",...] (optional: a selectorless Service's IPv6 slices',
 *                                          or a selector's pods' with IPv6-only ones),
 *                 "endpointPorts":[{"ip","port","targetPort"},...],   (optional)
 *                 "endpointPorts6":[{"ip":"v6","port","targetPort"},...]}],   (optional)
 *    "serviceEntries":[ a service (its "vip6" given or allocated), plus "kind","resolution",
 *                       "addresses":["a.b.c.d/n"],
 *                       "exportTo":[ns,...],"resolve":[name,...] ],
 *    "outboundTrafficPolicy":"REGISTRY_ONLY",   (optional)
 *    "captureMode":"host"|"inpod",   (optional: unknown)
 *    "certs":[{"identity","certPEM","keyPEM","notBefore","notAfter"}],
 *    "policies":{...},  (optional: include/ambit/policy.h, docs/internals/l4-policy.md)
 *    "l7":{...}}        (optional, a waypoint's: include/ambit/l7.h)
 * A workload or service bound to a waypoint carries "waypoint":{"name","identity","hostname",
 * "addresses":["a.b.c.d",...],"addresses6":["v6",...] (optional),"port"}.
 * Addresses travel as dotted quads so `ambitctl` output and logs are readable; times as Unix
 * seconds. The decoder is strict (wrong types are errors naming the field): the input comes
 * over a socket and a half-understood snapshot is worse than keeping the previous one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "ambit/json_memo.h"
#include "ambit/l7.h"
#include "ambit/policy.h"
#include "ambit/snapshot.h"
#include "dec.h"
#include "snapshot_mc.h"

/* ---- encode ---- */

static int add_str(cJSON *obj, const char *key, const char *val)
{
	return cJSON_AddStringToObject(obj, key, val ? val : "") ? 0 : -ENOMEM;
}

static int add_ip(cJSON *obj, const char *key, uint32_t ip)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = ip};

	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	return add_str(obj, key, buf);
}

static int add_num(cJSON *obj, const char *key, double v)
{
	return cJSON_AddNumberToObject(obj, key, v) ? 0 : -ENOMEM;
}

static int encode_waypoint(cJSON *o, const struct snap_waypoint *w)
{
	cJSON *m, *a;
	int err = 0;

	if (!w)
		return 0;
	m = cJSON_AddObjectToObject(o, "waypoint");
	if (!m)
		return -ENOMEM;
	err |= add_str(m, "name", w->name);
	err |= add_str(m, "identity", w->identity);
	err |= add_str(m, "hostname", w->hostname);
	err |= add_num(m, "port", w->port);
	a = cJSON_AddArrayToObject(m, "addresses");
	for (size_t i = 0; a && i < w->n_addresses; i++) {
		char buf[INET_ADDRSTRLEN];
		struct in_addr in = {.s_addr = w->addresses[i]};
		cJSON *s;

		inet_ntop(AF_INET, &in, buf, sizeof(buf));
		s = cJSON_CreateString(buf);
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return -ENOMEM;
		}
	}
	if (err || !a)
		return -ENOMEM;
	/* Only when it has some: an IPv4 cluster's snapshot is unchanged. */
	if (w->n_addresses6 && !(a = cJSON_AddArrayToObject(m, "addresses6")))
		return -ENOMEM;
	for (size_t i = 0; i < w->n_addresses6; i++) {
		char buf[IPADDR_STRLEN];
		cJSON *s = cJSON_CreateString(ipaddr_format(&w->addresses6[i], buf, sizeof(buf)));

		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * A workload's and a service's JSON are kept between encodings (struct json_memo) under a
 * hash of what goes into them: each hash function reads exactly the fields its encoder writes,
 * and sits beside it.
 */
static void hash_waypoint(struct json_hasher *x, const struct snap_waypoint *w)
{
	json_hasher_mem(x, w ? "\1" : "", 1);
	if (!w)
		return;
	json_hasher_str(x, w->name);
	json_hasher_str(x, w->identity);
	json_hasher_str(x, w->hostname);
	json_hasher_mem(x, &w->port, sizeof(w->port));
	json_hasher_u64(x, w->n_addresses);
	json_hasher_mem(x, w->addresses, w->n_addresses * sizeof(*w->addresses));
	json_hasher_u64(x, w->n_addresses6);
	json_hasher_mem(x, w->addresses6, w->n_addresses6 * sizeof(*w->addresses6));
}

static uint64_t hash_workload(const void *p)
{
	const struct snap_workload *w = p;
	struct json_hasher x;
	uint8_t enrolled = w->enrolled;

	json_hasher_init(&x, 0x776f726b6c6f6164ull); /* "workload" */
	json_hasher_str(&x, w->uid);
	json_hasher_str(&x, w->name);
	json_hasher_str(&x, w->namespace);
	json_hasher_str(&x, w->service_account);
	json_hasher_str(&x, w->identity);
	json_hasher_str(&x, w->node);
	json_hasher_str(&x, w->workload_name);
	json_hasher_str(&x, w->app);
	json_hasher_str(&x, w->version);
	json_hasher_str(&x, w->canonical_service);
	json_hasher_str(&x, w->canonical_revision);
	json_hasher_str(&x, w->hostname);
	json_hasher_str(&x, w->subdomain);
	json_hasher_mem(&x, &w->ip, sizeof(w->ip));
	json_hasher_mem(&x, &w->ip6, sizeof(w->ip6));
	json_hasher_mem(&x, &w->node_ip, sizeof(w->node_ip));
	json_hasher_mem(&x, &enrolled, sizeof(enrolled));
	hash_waypoint(&x, w->waypoint);
	return json_hasher_end(&x);
}

static cJSON *workload_json(const void *p)
{
	const struct snap_workload *w = p;
	cJSON *o = cJSON_CreateObject();
	int err = 0;

	if (!o)
		return NULL;
	err |= add_str(o, "uid", w->uid);
	err |= add_str(o, "name", w->name);
	err |= add_str(o, "namespace", w->namespace);
	err |= add_str(o, "serviceAccount", w->service_account);
	err |= add_str(o, "identity", w->identity);
	err |= add_str(o, "node", w->node);
	err |= add_str(o, "workloadName", w->workload_name);
	err |= add_str(o, "app", w->app);
	err |= add_str(o, "version", w->version);
	err |= add_str(o, "canonicalService", w->canonical_service);
	err |= add_str(o, "canonicalRevision", w->canonical_revision);
	/* Only when set: most pods have neither, and older readers know neither. */
	if (w->hostname)
		err |= add_str(o, "hostname", w->hostname);
	if (w->subdomain)
		err |= add_str(o, "subdomain", w->subdomain);
	/* An IPv6-only pod's has none. */
	if (w->ip)
		err |= add_ip(o, "ip", w->ip);
	/* Only when it has one: most clusters are IPv4, and older readers know none. */
	if (w->ip6.family) {
		char buf[IPADDR_STRLEN];

		err |= add_str(o, "ip6", ipaddr_format(&w->ip6, buf, sizeof(buf)));
	}
	err |= add_ip(o, "nodeIP", w->node_ip);
	if (!cJSON_AddBoolToObject(o, "enrolled", w->enrolled))
		err = -ENOMEM;
	err |= encode_waypoint(o, w->waypoint);
	if (err) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static uint64_t hash_service(const void *p)
{
	const struct snap_service *svc = p;
	struct json_hasher x;

	json_hasher_init(&x, 0x73657276696365ull); /* "service" */
	json_hasher_str(&x, svc->name);
	json_hasher_str(&x, svc->namespace);
	json_hasher_str(&x, svc->hostname);
	json_hasher_mem(&x, &svc->vip, sizeof(svc->vip));
	json_hasher_mem(&x, &svc->vip6, sizeof(svc->vip6));
	hash_waypoint(&x, svc->waypoint);
	json_hasher_u64(&x, svc->nports);
	for (size_t i = 0; i < svc->nports; i++) {
		json_hasher_str(&x, svc->ports[i].name);
		json_hasher_mem(&x, &svc->ports[i].port, sizeof(svc->ports[i].port));
		json_hasher_mem(&x, &svc->ports[i].target_port, sizeof(svc->ports[i].target_port));
	}
	json_hasher_u64(&x, svc->nendpoints);
	json_hasher_mem(&x, svc->endpoints, svc->nendpoints * sizeof(*svc->endpoints));
	json_hasher_u64(&x, svc->nendpoints6);
	json_hasher_mem(&x, svc->endpoints6, svc->nendpoints6 * sizeof(*svc->endpoints6));
	json_hasher_u64(&x, (uint64_t)svc->kind << 8 | svc->resolution);
	json_hasher_u64(&x, svc->n_cidrs);
	json_hasher_mem(&x, svc->cidrs, svc->n_cidrs * sizeof(*svc->cidrs));
	json_hasher_u64(&x, svc->n_export_to);
	for (size_t i = 0; i < svc->n_export_to; i++)
		json_hasher_str(&x, svc->export_to[i]);
	json_hasher_u64(&x, svc->n_names);
	for (size_t i = 0; i < svc->n_names; i++)
		json_hasher_str(&x, svc->names[i]);
	json_hasher_u64(&x, svc->n_ep_ports);
	json_hasher_mem(&x, svc->ep_ports, svc->n_ep_ports * sizeof(*svc->ep_ports));
	json_hasher_u64(&x, svc->n_ep_ports6);
	json_hasher_mem(&x, svc->ep_ports6, svc->n_ep_ports6 * sizeof(*svc->ep_ports6));
	json_hasher_u64(&x, svc->prefer_close);
	json_hasher_str(&x, svc->waypoint_wanted);
	return json_hasher_end(&x);
}

static int service_fill(cJSON *o, const struct snap_service *svc);

static const char *const svc_kinds[] = {"", "MESH_EXTERNAL", "MESH_INTERNAL", NULL};
static const char *const resolutions[] = {"NONE",	 "STATIC", "DNS", "DNS_ROUND_ROBIN",
					  "DYNAMIC_DNS", NULL};

/* @n strings as array @key of @o (none: nothing). */
static int add_strs(cJSON *o, const char *key, char *const *v, size_t n)
{
	cJSON *arr;

	if (!n)
		return 0;
	arr = cJSON_AddArrayToObject(o, key);
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);

		if (!s || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			return -ENOMEM;
		}
	}
	return 0;
}

/* A ServiceEntry's own members (a Service has none). */
static int entry_fill(cJSON *o, const struct snap_service *svc)
{
	cJSON *addrs = NULL;
	int err = 0;

	err |= add_str(o, "kind", svc_kinds[svc->kind]);
	err |= add_str(o, "resolution", resolutions[svc->resolution]);
	if (svc->n_cidrs && !(addrs = cJSON_AddArrayToObject(o, "addresses")))
		return -ENOMEM;
	for (size_t i = 0; i < svc->n_cidrs; i++) {
		char buf[IPADDR_STRLEN];

		if (!cJSON_AddItemToArray(addrs, cJSON_CreateString(ipaddr_format_prefix(
						     &svc->cidrs[i], buf, sizeof(buf)))))
			return -ENOMEM;
	}
	/* Present even empty: exported to no one (absent: everyone). */
	if (svc->export_to && !svc->n_export_to && !cJSON_AddArrayToObject(o, "exportTo"))
		return -ENOMEM;
	err |= add_strs(o, "exportTo", svc->export_to, svc->n_export_to);
	err |= add_strs(o, "resolve", svc->names, svc->n_names);
	return err ? -ENOMEM : 0;
}

/*
 * "endpointPorts" and "endpointPorts6" (each only when it has some): the endpoints' own
 * numbers, of either family, where they are not the port's targetPort.
 */
static int encode_ep_ports(cJSON *o, const struct snap_service *svc)
{
	cJSON *eps = svc->n_ep_ports ? cJSON_AddArrayToObject(o, "endpointPorts") : NULL;
	cJSON *eps6 = svc->n_ep_ports6 ? cJSON_AddArrayToObject(o, "endpointPorts6") : NULL;
	size_t n = svc->n_ep_ports + svc->n_ep_ports6;
	int err = 0;

	if ((svc->n_ep_ports && !eps) || (svc->n_ep_ports6 && !eps6))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bool v6 = i >= svc->n_ep_ports;
		const struct snap_ep_port6 *e6 = v6 ? &svc->ep_ports6[i - svc->n_ep_ports] : NULL;
		cJSON *e = cJSON_CreateObject();
		char buf[IPADDR_STRLEN];

		if (!e || !cJSON_AddItemToArray(v6 ? eps6 : eps, e)) {
			cJSON_Delete(e);
			return -ENOMEM;
		}
		if (v6)
			err |= add_str(e, "ip", ipaddr_format(&e6->ip, buf, sizeof(buf)));
		else
			err |= add_ip(e, "ip", svc->ep_ports[i].ip);
		err |= add_num(e, "port", v6 ? e6->port : svc->ep_ports[i].port);
		err |=
		    add_num(e, "targetPort", v6 ? e6->target_port : svc->ep_ports[i].target_port);
	}
	return err ? -ENOMEM : 0;
}

static cJSON *service_json(const void *p)
{
	cJSON *o = cJSON_CreateObject();

	if (o && service_fill(o, p)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* A Service's IPv6 endpoints, "endpoints6" (only when it has some). */
static int encode_endpoints6(cJSON *o, const struct snap_service *svc)
{
	cJSON *eps = cJSON_AddArrayToObject(o, "endpoints6");

	for (size_t i = 0; eps && i < svc->nendpoints6; i++) {
		char buf[IPADDR_STRLEN];
		cJSON *s = cJSON_CreateString(ipaddr_format(&svc->endpoints6[i], buf, sizeof(buf)));

		if (!s || !cJSON_AddItemToArray(eps, s)) {
			cJSON_Delete(s);
			return -ENOMEM;
		}
	}
	return eps ? 0 : -ENOMEM;
}

static int service_fill(cJSON *o, const struct snap_service *svc)
{
	cJSON *ports, *eps;
	int err = 0;

	err |= add_str(o, "name", svc->name);
	err |= add_str(o, "namespace", svc->namespace);
	err |= add_str(o, "hostname", svc->hostname);
	/* A SingleStack IPv6 Service has vip6 alone; every other one a vip (0.0.0.0: headless). */
	if (svc->vip || !svc->vip6.family)
		err |= add_ip(o, "vip", svc->vip);
	/* Only when it has one, as a workload's ip6. */
	if (svc->vip6.family) {
		char buf[IPADDR_STRLEN];

		err |= add_str(o, "vip6", ipaddr_format(&svc->vip6, buf, sizeof(buf)));
	}
	err |= encode_waypoint(o, svc->waypoint);
	ports = cJSON_AddArrayToObject(o, "ports");
	eps = cJSON_AddArrayToObject(o, "endpoints");
	if (err || !ports || !eps)
		return -ENOMEM;
	for (size_t i = 0; i < svc->nports; i++) {
		cJSON *p = cJSON_CreateObject();

		if (!p || !cJSON_AddItemToArray(ports, p)) {
			cJSON_Delete(p);
			return -ENOMEM;
		}
		err |= add_str(p, "name", svc->ports[i].name);
		err |= add_num(p, "port", svc->ports[i].port);
		err |= add_num(p, "targetPort", svc->ports[i].target_port);
	}
	for (size_t i = 0; i < svc->nendpoints; i++) {
		char buf[INET_ADDRSTRLEN];
		struct in_addr a = {.s_addr = svc->endpoints[i]};
		cJSON *s;

		inet_ntop(AF_INET, &a, buf, sizeof(buf));
		s = cJSON_CreateString(buf);
		if (!s || !cJSON_AddItemToArray(eps, s)) {
			cJSON_Delete(s);
			return -ENOMEM;
		}
	}
	if (!err && svc->nendpoints6)
		err = encode_endpoints6(o, svc);
	if (!err)
		err = encode_ep_ports(o, svc);
	if (!err && svc->kind != SNAP_SVC_SERVICE)
		err = entry_fill(o, svc);
	if (!err && svc->prefer_close && !cJSON_AddTrueToObject(o, "preferClose"))
		err = -ENOMEM;
	if (!err && svc->waypoint_wanted &&
	    !cJSON_AddStringToObject(o, "waypointWanted", svc->waypoint_wanted))
		err = -ENOMEM;
	return err ? -ENOMEM : 0;
}

static int encode_cert(cJSON *arr, const struct snap_cert *c, bool with_keys)
{
	cJSON *o = cJSON_CreateObject();
	int err = 0;

	if (!o || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	err |= add_str(o, "identity", c->identity);
	err |= add_str(o, "certPEM", c->cert_pem);
	if (with_keys)
		err |= add_str(o, "keyPEM", c->key_pem);
	err |= add_num(o, "notBefore", (double)c->not_before);
	err |= add_num(o, "notAfter", (double)c->not_after);
	return err ? -ENOMEM : 0;
}

/* "key":<the printed @o> (consumed), after a comma. */
static int put_json(struct jbuf *b, const char *key, cJSON *o)
{
	char *txt = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	if (!txt)
		return -ENOMEM;
	jbuf_puts(b, ",\"");
	jbuf_puts(b, key);
	jbuf_puts(b, "\":");
	jbuf_puts(b, txt);
	free(txt);
	return b->failed ? -ENOMEM : 0;
}

/*
 * The header's members through cJSON, then each element's JSON as its own printing (the same
 * text cJSON gives the whole tree: the order of members is the header's, then workloads,
 * services, certs, policies, l7).
 */
static char *encode(const struct snapshot *s, bool with_keys, struct json_memo *memo)
{
	cJSON *root = cJSON_CreateObject(), *certs = cJSON_CreateArray();
	struct jbuf b = {0};
	char *head = NULL, *out;
	int err = 0;

	if (!root || !certs)
		goto nomem;
	err |= add_num(root, "version", (double)s->version);
	err |= add_str(root, "node", s->node);
	err |= add_ip(root, "nodeIP", s->node_ip);
	err |= add_str(root, "trustDomain", s->trust_domain);
	if (s->cluster_id && *s->cluster_id)
		err |= add_str(root, "clusterId", s->cluster_id);
	if (s->network && *s->network)
		err |= add_str(root, "network", s->network);
	if (s->n_trust_domain_aliases) {
		cJSON *al = cJSON_AddArrayToObject(root, "trustDomainAliases");

		err |= !al;
		for (size_t i = 0; al && i < s->n_trust_domain_aliases; i++) {
			cJSON *v = cJSON_CreateString(s->trust_domain_aliases[i]);

			if (!v || !cJSON_AddItemToArray(al, v)) {
				cJSON_Delete(v);
				err = 1;
				break;
			}
		}
	}
	err |= add_str(root, "rootPEM", s->root_pem);
	err |= snapshot_mc_encode(root, s) ? 1 : 0;
	for (size_t i = 0; i < s->n_certs; i++)
		err |= encode_cert(certs, &s->certs[i], with_keys);
	if (err || !(head = cJSON_PrintUnformatted(root)))
		goto nomem;
	/* Room for what the last encoding through the memo wrote: one allocation. */
	jbuf_init(&b, json_memo_last_len(memo));
	/* The header without its closing brace. */
	jbuf_put(&b, head, strlen(head) - 1);
	jbuf_puts(&b, ",\"workloads\":[");
	for (size_t i = 0; !err && i < s->n_workloads; i++) {
		if (i)
			jbuf_put(&b, ",", 1);
		err = json_memo_write(&b, memo, &s->workloads[i], hash_workload, workload_json);
	}
	jbuf_puts(&b, "],\"services\":[");
	for (size_t i = 0; !err && i < s->n_services; i++) {
		if (i)
			jbuf_put(&b, ",", 1);
		err = json_memo_write(&b, memo, &s->services[i], hash_service, service_json);
	}
	jbuf_put(&b, "]", 1);
	if (s->n_entries)
		jbuf_puts(&b, ",\"serviceEntries\":[");
	for (size_t i = 0; !err && i < s->n_entries; i++) {
		if (i)
			jbuf_put(&b, ",", 1);
		err = json_memo_write(&b, memo, &s->entries[i], hash_service, service_json);
	}
	if (s->n_entries)
		jbuf_put(&b, "]", 1);
	if (s->registry_only)
		jbuf_puts(&b, ",\"outboundTrafficPolicy\":\"REGISTRY_ONLY\"");
	if (s->capture == SNAP_CAPTURE_HOST)
		jbuf_puts(&b, ",\"captureMode\":\"host\"");
	else if (s->capture == SNAP_CAPTURE_INPOD)
		jbuf_puts(&b, ",\"captureMode\":\"inpod\"");
	if (!err)
		err = put_json(&b, "certs", certs);
	certs = NULL;
	if (!err && s->policies) {
		jbuf_puts(&b, ",\"policies\":");
		err = policy_set_write(&b, s->policies, memo);
	}
	if (!err && s->l7)
		err = put_json(&b, "l7", l7_to_json(s->l7));
	jbuf_put(&b, "}", 1);
	if (err)
		b.failed = 1;
	json_memo_set_last_len(memo, b.len);
	out = jbuf_take(&b);
	if (!out)
		goto nomem;
	json_memo_sweep(memo);
	cJSON_Delete(root);
	free(head);
	return out;
nomem:
	free(jbuf_take(&b));
	cJSON_Delete(root);
	cJSON_Delete(certs);
	free(head);
	errno = ENOMEM;
	return NULL;
}

char *snapshot_encode(const struct snapshot *s)
{
	return encode(s, true, NULL);
}

char *snapshot_encode_memo(const struct snapshot *s, struct json_memo *memo)
{
	return encode(s, true, memo);
}

char *snapshot_encode_public(const struct snapshot *s)
{
	return encode(s, false, NULL);
}

/* What follows snapshot_encode's leading version, or NULL when @json does not start with it. */
static const char *after_version(const char *json)
{
	static const char head[] = "{\"version\":";

	if (strncmp(json, head, sizeof(head) - 1) != 0)
		return NULL;
	json += sizeof(head) - 1;
	while (*json >= '0' && *json <= '9')
		json++;
	return json;
}

bool snapshot_same_but_version(const char *a, const char *b)
{
	const char *ra = after_version(a), *rb = after_version(b);

	return ra && rb && !strcmp(ra, rb);
}

/* ---- decode ---- */

/* Optional strings decode to "" so consumers never need NULL checks; wrong types are errors. */
static char *str_or_empty(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
			  bool required)
{
	char *v = wire_str(d, o, key, path, required);

	if (!v && !required && !d->failed && !(v = strdup("")))
		wire_fail(d, "%s%s%s: out of memory", path, path[0] ? "." : "", key);
	return v;
}

static bool parse_ip(const cJSON *it, uint32_t *out)
{
	struct in_addr a;

	if (!cJSON_IsString(it) || inet_pton(AF_INET, it->valuestring, &a) != 1)
		return false;
	*out = a.s_addr;
	return true;
}

/* A waypoint's "addresses6": IPv6 addresses (one of another family, or a prefix, is an error). */
static void decode_waypoint_addresses6(struct wire_dec *d, const cJSON *m, const char *sub,
				       struct snap_waypoint *w)
{
	size_t n, j = 0;
	const cJSON *arr = wire_arr(d, m, "addresses6", sub, &n), *it;

	if (d->failed || !n)
		return;
	if (!(w->addresses6 = calloc(n, sizeof(*w->addresses6)))) {
		wire_fail(d, "%s.addresses6: out of memory", sub);
		return;
	}
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || ipaddr_parse_addr(it->valuestring, &w->addresses6[j]) ||
		    w->addresses6[j].family != AF_INET6) {
			wire_fail(d, "%s.addresses6[%zu]: expected an IPv6 address string", sub, j);
			return;
		}
		w->n_addresses6 = ++j;
	}
}

static struct snap_waypoint *decode_waypoint(struct wire_dec *d, const cJSON *o, const char *path)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "waypoint"), *arr, *it;
	struct snap_waypoint *w;
	char sub[96];
	double v;
	size_t n, j = 0;

	if (!m || cJSON_IsNull(m))
		return NULL;
	snprintf(sub, sizeof(sub), "%s.waypoint", path);
	if (!cJSON_IsObject(m)) {
		wire_fail(d, "%s.waypoint: expected an object", path);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		wire_fail(d, "%s.waypoint: out of memory", path);
		return NULL;
	}
	w->name = str_or_empty(d, m, "name", sub, true);
	w->identity = str_or_empty(d, m, "identity", sub, true);
	w->hostname = str_or_empty(d, m, "hostname", sub, false);
	if (wire_num_at(d, m, "port", sub, 1, 65535, true, &v))
		w->port = (uint16_t)v;
	arr = wire_arr(d, m, "addresses", sub, &n);
	if (n && !(w->addresses = calloc(n, sizeof(*w->addresses))))
		wire_fail(d, "%s.addresses: out of memory", sub);
	cJSON_ArrayForEach(it, arr)
	{
		if (d->failed)
			break;
		if (!parse_ip(it, &w->addresses[j])) {
			wire_fail(d, "%s.addresses[%zu]: expected an IPv4 address string", sub, j);
			break;
		}
		w->n_addresses = ++j;
	}
	decode_waypoint_addresses6(d, m, sub, w);
	return w;
}

static void decode_workload(struct wire_dec *d, const cJSON *o, size_t i, struct snap_workload *w)
{
	char path[48], *ip6;
	const cJSON *en;

	snprintf(path, sizeof(path), "workloads[%zu]", i);
	if (!cJSON_IsObject(o)) {
		wire_fail(d, "workloads[%zu]: expected an object", i);
		return;
	}
	w->uid = str_or_empty(d, o, "uid", path, false);
	w->name = str_or_empty(d, o, "name", path, true);
	w->namespace = str_or_empty(d, o, "namespace", path, true);
	w->service_account = str_or_empty(d, o, "serviceAccount", path, false);
	w->identity = str_or_empty(d, o, "identity", path, false);
	w->node = str_or_empty(d, o, "node", path, false);
	w->workload_name = str_or_empty(d, o, "workloadName", path, false);
	w->app = str_or_empty(d, o, "app", path, false);
	w->version = str_or_empty(d, o, "version", path, false);
	w->canonical_service = str_or_empty(d, o, "canonicalService", path, false);
	w->canonical_revision = str_or_empty(d, o, "canonicalRevision", path, false);
	w->hostname = wire_str(d, o, "hostname", path, false);
	w->subdomain = wire_str(d, o, "subdomain", path, false);
	/* An IPv6-only pod's workload has "ip6" alone: one of the two is required. */
	w->ip = wire_ip(d, o, "ip", path, false);
	ip6 = wire_str(d, o, "ip6", path, false);
	if (ip6 && (ipaddr_parse_addr(ip6, &w->ip6) || w->ip6.family != AF_INET6))
		wire_fail(d, "%s.ip6: \"%.60s\" is not an IPv6 address", path, ip6);
	else if (!ip6 && !w->ip)
		wire_fail(d, "%s.ip: missing (nor ip6)", path);
	free(ip6);
	w->node_ip = wire_ip(d, o, "nodeIP", path, false);
	en = cJSON_GetObjectItemCaseSensitive(o, "enrolled");
	if (en && !cJSON_IsBool(en))
		wire_fail(d, "%s.enrolled: expected a boolean", path);
	w->enrolled = en && cJSON_IsTrue(en);
	w->waypoint = decode_waypoint(d, o, path);
}

/* The index of @it (a string) in @names, or -1. */
static int enum_of(const cJSON *it, const char *const names[])
{
	for (int i = 0; cJSON_IsString(it) && names[i]; i++)
		if (!strcmp(it->valuestring, names[i]))
			return i;
	return -1;
}

/* A ServiceEntry host's own members. */
static void decode_entry(struct wire_dec *d, const cJSON *o, const char *path,
			 struct snap_service *svc)
{
	const cJSON *arr, *it;
	int k;

	k = enum_of(cJSON_GetObjectItemCaseSensitive(o, "kind"), svc_kinds);
	if (k < 1) {
		wire_fail(d, "%s.kind: expected MESH_EXTERNAL or MESH_INTERNAL", path);
		return;
	}
	svc->kind = (enum snap_svc_kind)k;
	k = enum_of(cJSON_GetObjectItemCaseSensitive(o, "resolution"), resolutions);
	if (k < 0) {
		wire_fail(d,
			  "%s.resolution: expected NONE, STATIC, DNS, DNS_ROUND_ROBIN or "
			  "DYNAMIC_DNS",
			  path);
		return;
	}
	svc->resolution = (enum snap_resolution)k;
	arr = wire_arr(d, o, "addresses", path, &svc->n_cidrs);
	if (svc->n_cidrs && !(svc->cidrs = calloc(svc->n_cidrs, sizeof(*svc->cidrs)))) {
		svc->n_cidrs = 0;
		wire_fail(d, "%s.addresses: out of memory", path);
		return;
	}
	k = 0;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || ipaddr_parse(it->valuestring, &svc->cidrs[k])) {
			wire_fail(d, "%s.addresses[%d]: expected an address or CIDR", path, k);
			return;
		}
		k++;
	}
	arr = wire_arr(d, o, "resolve", path, &svc->n_names);
	if (svc->n_names && !(svc->names = calloc(svc->n_names, sizeof(*svc->names)))) {
		svc->n_names = 0;
		wire_fail(d, "%s.resolve: out of memory", path);
		return;
	}
	k = 0;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || !it->valuestring[0] ||
		    !(svc->names[k] = strdup(it->valuestring))) {
			svc->n_names = (size_t)k;
			wire_fail(d, "%s.resolve[%d]: expected a name", path, k);
			return;
		}
		k++;
	}
	arr = wire_arr(d, o, "exportTo", path, &svc->n_export_to);
	if (!arr)
		return;
	/* Present but empty: seen by no namespace (not NULL, which is all). */
	svc->export_to = calloc(svc->n_export_to + 1, sizeof(*svc->export_to));
	if (!svc->export_to) {
		svc->n_export_to = 0;
		wire_fail(d, "%s.exportTo: out of memory", path);
		return;
	}
	k = 0;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || !(svc->export_to[k] = strdup(it->valuestring))) {
			svc->n_export_to = (size_t)k;
			wire_fail(d, "%s.exportTo[%d]: expected a namespace", path, k);
			return;
		}
		k++;
	}
}

/* "endpoints6": IPv6 addresses (one of another family, or a prefix, is an error). */
static void decode_endpoints6(struct wire_dec *d, const cJSON *o, const char *path,
			      struct snap_service *svc)
{
	const cJSON *arr = wire_arr(d, o, "endpoints6", path, &svc->nendpoints6), *it;
	size_t j = 0;

	if (svc->nendpoints6 &&
	    !(svc->endpoints6 = calloc(svc->nendpoints6, sizeof(*svc->endpoints6)))) {
		svc->nendpoints6 = 0;
		wire_fail(d, "%s.endpoints6: out of memory", path);
		return;
	}
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) ||
		    ipaddr_parse_addr(it->valuestring, &svc->endpoints6[j]) ||
		    svc->endpoints6[j].family != AF_INET6) {
			wire_fail(d, "%s.endpoints6[%zu]: expected an IPv6 address string", path,
				  j);
			return;
		}
		j++;
	}
}

/*
 * "endpointPorts" (@v6 false: IPv4 "ip"s) or "endpointPorts6" (IPv6 ones): each an ip, a port
 * and a targetPort.
 */
static void decode_ep_ports(struct wire_dec *d, const cJSON *o, const char *path, bool v6,
			    struct snap_service *svc)
{
	const char *key = v6 ? "endpointPorts6" : "endpointPorts";
	size_t *n = v6 ? &svc->n_ep_ports6 : &svc->n_ep_ports;
	const cJSON *arr = wire_arr(d, o, key, path, n), *it;
	int k = 0;

	if (*n && v6)
		svc->ep_ports6 = calloc(*n, sizeof(*svc->ep_ports6));
	else if (*n)
		svc->ep_ports = calloc(*n, sizeof(*svc->ep_ports));
	if (*n && (v6 ? !svc->ep_ports6 : !svc->ep_ports)) {
		*n = 0;
		wire_fail(d, "%s.%s: out of memory", path, key);
		return;
	}
	cJSON_ArrayForEach(it, arr)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "port");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "targetPort");
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "ip");
		char sub[80];

		snprintf(sub, sizeof(sub), "%s.%s[%d]", path, key, k);
		if (!cJSON_IsObject(it) || !cJSON_IsNumber(p) || !cJSON_IsNumber(t) ||
		    p->valuedouble < 1 || p->valuedouble > 65535 || t->valuedouble < 1 ||
		    t->valuedouble > 65535) {
			wire_fail(d, "%s.%s[%d]: expected an ip, a port and a targetPort", path,
				  key, k);
			return;
		}
		if (!v6) {
			svc->ep_ports[k].ip = wire_ip(d, it, "ip", sub, true);
			svc->ep_ports[k].port = (uint16_t)p->valuedouble;
			svc->ep_ports[k].target_port = (uint16_t)t->valuedouble;
		} else if (!cJSON_IsString(a) ||
			   ipaddr_parse_addr(a->valuestring, &svc->ep_ports6[k].ip) ||
			   svc->ep_ports6[k].ip.family != AF_INET6) {
			wire_fail(d, "%s.ip: expected an IPv6 address string", sub);
			return;
		} else {
			svc->ep_ports6[k].port = (uint16_t)p->valuedouble;
			svc->ep_ports6[k].target_port = (uint16_t)t->valuedouble;
		}
		k++;
	}
}

static void decode_service(struct wire_dec *d, const cJSON *o, const char *what, size_t i,
			   struct snap_service *svc)
{
	char path[48], sub[64], *vip6;
	const cJSON *arr, *it;
	size_t j = 0;
	double v;

	snprintf(path, sizeof(path), "%s[%zu]", what, i);
	if (!cJSON_IsObject(o)) {
		wire_fail(d, "%s[%zu]: expected an object", what, i);
		return;
	}
	svc->name = str_or_empty(d, o, "name", path, true);
	svc->namespace = str_or_empty(d, o, "namespace", path, true);
	svc->hostname = str_or_empty(d, o, "hostname", path, false);
	vip6 = wire_str(d, o, "vip6", path, false);
	if (vip6 && (ipaddr_parse_addr(vip6, &svc->vip6) || svc->vip6.family != AF_INET6))
		wire_fail(d, "%s.vip6: \"%.60s\" is not an IPv6 address", path, vip6);
	/* Required unless it has vip6 (a SingleStack IPv6 Service's only address). */
	svc->vip = wire_ip(d, o, "vip", path, !vip6);
	free(vip6);
	svc->waypoint = decode_waypoint(d, o, path);
	arr = wire_arr(d, o, "ports", path, &svc->nports);
	if (svc->nports) {
		svc->ports = calloc(svc->nports, sizeof(*svc->ports));
		if (!svc->ports) {
			svc->nports = 0;
			wire_fail(d, "%s.ports: out of memory", path);
			return;
		}
	}
	cJSON_ArrayForEach(it, arr)
	{
		struct snap_service_port *p = &svc->ports[j];

		snprintf(sub, sizeof(sub), "%s.ports[%zu]", path, j++);
		if (!cJSON_IsObject(it)) {
			wire_fail(d, "%s: expected an object", sub);
			return;
		}
		p->name = str_or_empty(d, it, "name", sub, false);
		if (wire_num_at(d, it, "port", sub, 1, 65535, true, &v))
			p->port = (uint16_t)v;
		if (wire_num_at(d, it, "targetPort", sub, 0, 65535, false, &v))
			p->target_port = v ? (uint16_t)v : p->port;
	}
	arr = wire_arr(d, o, "endpoints", path, &svc->nendpoints);
	if (svc->nendpoints) {
		svc->endpoints = calloc(svc->nendpoints, sizeof(*svc->endpoints));
		if (!svc->endpoints) {
			svc->nendpoints = 0;
			wire_fail(d, "%s.endpoints: out of memory", path);
			return;
		}
	}
	j = 0;
	cJSON_ArrayForEach(it, arr)
	{
		if (!parse_ip(it, &svc->endpoints[j])) {
			wire_fail(d, "%s.endpoints[%zu]: expected an IPv4 address string", path, j);
			return;
		}
		j++;
	}
	decode_endpoints6(d, o, path, svc);
	decode_ep_ports(d, o, path, false, svc);
	decode_ep_ports(d, o, path, true, svc);
	svc->prefer_close = wire_bool(d, o, "preferClose", path);
	svc->waypoint_wanted = wire_str(d, o, "waypointWanted", path, false);
	if (svc->waypoint_wanted && !strchr(svc->waypoint_wanted, '/'))
		wire_fail(d, "%s.waypointWanted: \"%.80s\" is not namespace/name", path,
			  svc->waypoint_wanted);
	if (!strcmp(what, "serviceEntries"))
		decode_entry(d, o, path, svc);
}

static void decode_cert(struct wire_dec *d, const cJSON *o, size_t i, struct snap_cert *c)
{
	char path[48];
	double v;

	snprintf(path, sizeof(path), "certs[%zu]", i);
	if (!cJSON_IsObject(o)) {
		wire_fail(d, "certs[%zu]: expected an object", i);
		return;
	}
	c->identity = str_or_empty(d, o, "identity", path, true);
	c->cert_pem = str_or_empty(d, o, "certPEM", path, true);
	c->key_pem = str_or_empty(d, o, "keyPEM", path, false);
	if (wire_num_at(d, o, "notBefore", path, 0, 9e15, false, &v))
		c->not_before = (time_t)v;
	if (wire_num_at(d, o, "notAfter", path, 0, 9e15, false, &v))
		c->not_after = (time_t)v;
}

/* Allocates @n elements of @size for an array member; false (with the error set) on failure. */
static bool alloc_arr(struct wire_dec *d, void **out, size_t n, size_t size, const char *key)
{
	*out = NULL;
	if (!n)
		return true;
	*out = calloc(n, size);
	if (!*out)
		wire_fail(d, "%s: out of memory", key);
	return *out != NULL;
}

struct snapshot *snapshot_decode(const char *json, size_t len, char *err, size_t errlen)
{
	struct wire_dec d = {
	    .err = err, .errlen = errlen, .null_absent = true, .max_list = SIZE_MAX};
	struct snapshot *s = NULL;
	const cJSON *arr, *it;
	cJSON *root;
	size_t i;
	double v;

	if (err && errlen)
		err[0] = '\0';
	root = cJSON_ParseWithLength(json, len);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();

		wire_fail(&d, "invalid JSON near byte %zu",
			  at && at >= json && at <= json + len ? (size_t)(at - json) : (size_t)0);
		errno = EINVAL;
		return NULL;
	}
	if (!cJSON_IsObject(root)) {
		wire_fail(&d, "(root): expected an object");
		goto fail;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		wire_fail(&d, "out of memory");
		goto fail;
	}
	if (wire_num_at(&d, root, "version", "", 0, 9007199254740992.0, true, &v))
		s->version = (uint64_t)v;
	s->node = str_or_empty(&d, root, "node", "", false);
	s->node_ip = wire_ip(&d, root, "nodeIP", "", false);
	s->trust_domain = str_or_empty(&d, root, "trustDomain", "", false);
	s->cluster_id = wire_str(&d, root, "clusterId", "", false);
	if (!d.failed && !s->cluster_id && !(s->cluster_id = strdup(SNAP_CLUSTER_ID)))
		wire_fail(&d, "clusterId: out of memory");
	/* Both land in metric labels and baggage: label values, as the agent takes them. */
	if (!d.failed && (!*s->cluster_id || !config_label_value_ok(s->cluster_id)))
		wire_fail(&d, "clusterId: \"%.80s\" is not a label value", s->cluster_id);
	s->network = str_or_empty(&d, root, "network", "", false);
	if (!d.failed && !config_label_value_ok(s->network))
		wire_fail(&d, "network: \"%.80s\" is not a label value", s->network);
	s->root_pem = str_or_empty(&d, root, "rootPEM", "", false);
	if (d.failed)
		goto fail;
	arr = wire_arr(&d, root, "trustDomainAliases", "", &i);
	if (d.failed || !alloc_arr(&d, (void **)&s->trust_domain_aliases, i,
				   sizeof(*s->trust_domain_aliases), "trustDomainAliases"))
		goto fail;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || !it->valuestring[0]) {
			wire_fail(&d, "trustDomainAliases[%zu]: expected a non-empty string",
				  s->n_trust_domain_aliases);
			goto fail;
		}
		s->trust_domain_aliases[s->n_trust_domain_aliases] = strdup(it->valuestring);
		if (!s->trust_domain_aliases[s->n_trust_domain_aliases++]) {
			wire_fail(&d, "trustDomainAliases: out of memory");
			goto fail;
		}
	}

	arr = wire_arr(&d, root, "workloads", "", &i);
	if (d.failed ||
	    !alloc_arr(&d, (void **)&s->workloads, i, sizeof(*s->workloads), "workloads"))
		goto fail;
	s->n_workloads = i;
	i = 0;
	cJSON_ArrayForEach(it, arr)
	{
		decode_workload(&d, it, i, &s->workloads[i]);
		i++;
		if (d.failed)
			goto fail;
	}

	arr = wire_arr(&d, root, "services", "", &i);
	if (d.failed || !alloc_arr(&d, (void **)&s->services, i, sizeof(*s->services), "services"))
		goto fail;
	s->n_services = i;
	i = 0;
	cJSON_ArrayForEach(it, arr)
	{
		decode_service(&d, it, "services", i, &s->services[i]);
		i++;
		if (d.failed)
			goto fail;
	}

	arr = wire_arr(&d, root, "serviceEntries", "", &i);
	if (d.failed ||
	    !alloc_arr(&d, (void **)&s->entries, i, sizeof(*s->entries), "serviceEntries"))
		goto fail;
	s->n_entries = i;
	i = 0;
	cJSON_ArrayForEach(it, arr)
	{
		decode_service(&d, it, "serviceEntries", i, &s->entries[i]);
		i++;
		if (d.failed)
			goto fail;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "outboundTrafficPolicy");
	if (it) {
		static const char *const policies[] = {"ALLOW_ANY", "REGISTRY_ONLY", NULL};
		int k = enum_of(it, policies);

		if (k < 0) {
			wire_fail(&d, "outboundTrafficPolicy: expected ALLOW_ANY or REGISTRY_ONLY");
			goto fail;
		}
		s->registry_only = k == 1;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "captureMode");
	if (it) {
		/* In enum snap_capture's order, after "unknown" (which is never sent). */
		static const char *const modes[] = {"host", "inpod", NULL};
		int k = enum_of(it, modes);

		if (k < 0) {
			wire_fail(&d, "captureMode: expected host or inpod");
			goto fail;
		}
		s->capture = (enum snap_capture)(k + 1);
	}

	arr = wire_arr(&d, root, "certs", "", &i);
	if (d.failed || !alloc_arr(&d, (void **)&s->certs, i, sizeof(*s->certs), "certs"))
		goto fail;
	s->n_certs = i;
	i = 0;
	cJSON_ArrayForEach(it, arr)
	{
		decode_cert(&d, it, i, &s->certs[i]);
		i++;
		if (d.failed)
			goto fail;
	}

	if (snapshot_mc_decode(&d, root, s))
		goto fail;

	it = cJSON_GetObjectItemCaseSensitive(root, "policies");
	if (it && !cJSON_IsNull(it)) {
		char perr[256];

		s->policies = policy_set_from_json(it, perr, sizeof(perr));
		if (!s->policies) {
			wire_fail(&d, "%s", perr);
			goto fail;
		}
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "l7");
	if (it && !cJSON_IsNull(it)) {
		char lerr[256];

		s->l7 = l7_from_json(it, lerr, sizeof(lerr));
		if (!s->l7) {
			wire_fail(&d, "%s", lerr);
			goto fail;
		}
	}
	cJSON_Delete(root);
	return s;
fail:
	cJSON_Delete(root);
	snapshot_free(s);
	errno = EINVAL;
	return NULL;
}

void snapshot_waypoint_free(struct snap_waypoint *w)
{
	if (!w)
		return;
	free(w->name);
	free(w->identity);
	free(w->hostname);
	free(w->addresses);
	free(w->addresses6);
	free(w);
}

void snapshot_workload_clear(struct snap_workload *w)
{
	snapshot_waypoint_free(w->waypoint);
	free(w->uid);
	free(w->name);
	free(w->namespace);
	free(w->service_account);
	free(w->identity);
	free(w->node);
	free(w->workload_name);
	free(w->app);
	free(w->version);
	free(w->canonical_service);
	free(w->canonical_revision);
	free(w->hostname);
	free(w->subdomain);
}

void snapshot_service_clear(struct snap_service *svc)
{
	snapshot_waypoint_free(svc->waypoint);
	free(svc->waypoint_wanted);
	free(svc->name);
	free(svc->namespace);
	free(svc->hostname);
	for (size_t j = 0; j < svc->nports; j++)
		free(svc->ports[j].name);
	free(svc->ports);
	free(svc->endpoints);
	free(svc->endpoints6);
	free(svc->cidrs);
	for (size_t j = 0; j < svc->n_export_to; j++)
		free(svc->export_to[j]);
	free(svc->export_to);
	for (size_t j = 0; j < svc->n_names; j++)
		free(svc->names[j]);
	free(svc->names);
	free(svc->ep_ports);
	free(svc->ep_ports6);
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_workloads; i++)
		snapshot_workload_clear(&s->workloads[i]);
	for (size_t i = 0; i < s->n_services; i++)
		snapshot_service_clear(&s->services[i]);
	for (size_t i = 0; i < s->n_entries; i++)
		snapshot_service_clear(&s->entries[i]);
	free(s->entries);
	for (size_t i = 0; i < s->n_certs; i++) {
		free(s->certs[i].identity);
		free(s->certs[i].cert_pem);
		/* Keys are secrets: do not leave them in freed heap memory. */
		if (s->certs[i].key_pem) {
			explicit_bzero(s->certs[i].key_pem, strlen(s->certs[i].key_pem));
			free(s->certs[i].key_pem);
		}
	}
	snapshot_mc_free(s);
	policy_set_free(s->policies);
	l7_config_free(s->l7);
	free(s->workloads);
	free(s->services);
	free(s->certs);
	free(s->node);
	free(s->trust_domain);
	free(s->cluster_id);
	free(s->network);
	for (size_t i = 0; i < s->n_trust_domain_aliases; i++)
		free(s->trust_domain_aliases[i]);
	free(s->trust_domain_aliases);
	free(s->root_pem);
	free(s);
}

const struct snap_workload *snapshot_workload_by_ip(const struct snapshot *s, uint32_t ip)
{
	/* 0 is no pod's: an IPv6-only pod's workload has ip 0 and is found by its ip6 alone. */
	for (size_t i = 0; s && ip && i < s->n_workloads; i++)
		if (s->workloads[i].ip == ip)
			return &s->workloads[i];
	return NULL;
}

const struct snap_service *snapshot_service_by_vip(const struct snapshot *s, uint32_t vip)
{
	/* A headless Service has no address (0): nothing is addressed to it. */
	for (size_t i = 0; s && vip && i < s->n_services; i++)
		if (s->services[i].vip == vip)
			return &s->services[i];
	return NULL;
}

const struct snap_service *snapshot_service_by_hostname(const struct snapshot *s,
							const char *hostname)
{
	for (size_t i = 0; s && hostname && i < s->n_services; i++)
		if (s->services[i].hostname && !strcmp(s->services[i].hostname, hostname))
			return &s->services[i];
	return NULL;
}

uint16_t snapshot_endpoint_port_of(const struct snap_service *svc, uint16_t port, uint32_t ip,
				   const struct ipaddr *ip6, uint16_t dflt)
{
	for (size_t i = 0; !ip6 && i < svc->n_ep_ports; i++)
		if (svc->ep_ports[i].ip == ip && svc->ep_ports[i].port == port)
			return svc->ep_ports[i].target_port;
	for (size_t i = 0; ip6 && i < svc->n_ep_ports6; i++)
		if (svc->ep_ports6[i].port == port && ipaddr_equal(&svc->ep_ports6[i].ip, ip6))
			return svc->ep_ports6[i].target_port;
	return dflt;
}

uint16_t snapshot_endpoint_port(const struct snap_service *svc, const struct snap_service_port *sp,
				uint32_t ip)
{
	return snapshot_endpoint_port_of(svc, sp->port, ip, NULL,
					 sp->target_port ? sp->target_port : sp->port);
}

uint16_t snapshot_endpoint_port6(const struct snap_service *svc, const struct snap_service_port *sp,
				 const struct ipaddr *ip6)
{
	return snapshot_endpoint_port_of(svc, sp->port, 0, ip6,
					 sp->target_port ? sp->target_port : sp->port);
}

const struct snap_workload *snapshot_workload_by_ip6(const struct snapshot *s,
						     const struct ipaddr *ip6)
{
	if (!ip6 || ip6->family != AF_INET6 || ip6->len != 128)
		return NULL;
	for (size_t i = 0; s && i < s->n_workloads; i++)
		if (ipaddr_equal(&s->workloads[i].ip6, ip6))
			return &s->workloads[i];
	return NULL;
}

const struct snap_service *snapshot_service_by_vip6(const struct snapshot *s,
						    const struct ipaddr *vip6)
{
	if (!vip6 || vip6->family != AF_INET6 || vip6->len != 128)
		return NULL;
	for (size_t i = 0; s && i < s->n_services; i++)
		if (ipaddr_equal(&s->services[i].vip6, vip6))
			return &s->services[i];
	return NULL;
}

size_t snapshot_trust_domains(const struct snapshot *s, const char **out, size_t max)
{
	size_t n = 0;

	if (!s->trust_domain || !*s->trust_domain || !max)
		return 0;
	out[n++] = s->trust_domain;
	for (size_t i = 0; i < s->n_trust_domain_aliases && n < max; i++)
		out[n++] = s->trust_domain_aliases[i];
	return n;
}

const struct snap_workload *snapshot_workload_by_addr(const struct snapshot *s,
						      const struct ipaddr *a)
{
	uint32_t ip;

	if (ipaddr_v4(a, &ip))
		return snapshot_workload_by_ip(s, ip);
	return snapshot_workload_by_ip6(s, a);
}

const struct snap_service *snapshot_service_by_addr(const struct snapshot *s,
						    const struct ipaddr *a)
{
	uint32_t ip;

	if (ipaddr_v4(a, &ip))
		return snapshot_service_by_vip(s, ip);
	return snapshot_service_by_vip6(s, a);
}

static bool entry_sees(const struct snap_service *e, const char *ns)
{
	if (!e->export_to || !ns)
		return !e->export_to || e->n_export_to;
	for (size_t i = 0; i < e->n_export_to; i++)
		if (!strcmp(e->export_to[i], ns))
			return true;
	return false;
}

static bool entry_port(const struct snap_service *e, uint16_t port)
{
	for (size_t i = 0; port && i < e->nports; i++)
		if (e->ports[i].port == port)
			return true;
	return !port;
}

const struct snap_service *snapshot_entry_by_addr(const struct snapshot *s, uint32_t ip,
						  uint16_t port, const char *ns)
{
	const struct snap_service *best = NULL;
	struct ipaddr dst;
	int best_len = -1;

	ipaddr_from_v4(&dst, ip);
	for (size_t i = 0; s && i < s->n_entries; i++) {
		const struct snap_service *e = &s->entries[i];

		if (!entry_sees(e, ns) || !entry_port(e, port))
			continue;
		if (e->vip && e->vip == ip)
			return e;
		for (size_t j = 0; j < e->n_cidrs; j++) {
			if (ipaddr_contains(&e->cidrs[j], &dst) && e->cidrs[j].len > best_len) {
				best = e;
				best_len = e->cidrs[j].len;
			}
		}
	}
	for (size_t i = 0; s && !best && i < s->n_entries; i++) {
		const struct snap_service *e = &s->entries[i];

		if (!entry_sees(e, ns) || !entry_port(e, port))
			continue;
		for (size_t j = 0; j < e->nendpoints; j++)
			if (e->endpoints[j] == ip)
				return e;
	}
	return best;
}

const struct snap_service *snapshot_entry_by_addr6(const struct snapshot *s,
						   const struct ipaddr *ip6, uint16_t port,
						   const char *ns)
{
	const struct snap_service *best = NULL;
	int best_len = -1;

	if (!ip6 || ip6->family != AF_INET6 || ip6->len != 128)
		return NULL;
	for (size_t i = 0; s && i < s->n_entries; i++) {
		const struct snap_service *e = &s->entries[i];

		if (!entry_sees(e, ns) || !entry_port(e, port))
			continue;
		if (ipaddr_equal(&e->vip6, ip6))
			return e;
		for (size_t j = 0; j < e->n_cidrs; j++) {
			if (ipaddr_contains(&e->cidrs[j], ip6) && e->cidrs[j].len > best_len) {
				best = e;
				best_len = e->cidrs[j].len;
			}
		}
	}
	for (size_t i = 0; s && !best && i < s->n_entries; i++) {
		const struct snap_service *e = &s->entries[i];

		if (!entry_sees(e, ns) || !entry_port(e, port))
			continue;
		for (size_t j = 0; j < e->nendpoints6; j++)
			if (ipaddr_equal(&e->endpoints6[j], ip6))
				return e;
	}
	return best;
}

const struct snap_cert *snapshot_cert_by_identity(const struct snapshot *s, const char *id)
{
	for (size_t i = 0; s && id && i < s->n_certs; i++)
		if (s->certs[i].identity && strcmp(s->certs[i].identity, id) == 0)
			return &s->certs[i];
	return NULL;
}
