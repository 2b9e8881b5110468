// SPDX-License-Identifier: Apache-2.0
/*
 * Istio's workload labels of a record's two ends (proxy_priv.h), shared by the request record
 * (proxy.c) and the TCP connection's series (proxy_tcp.c): the client as a workload the
 * configuration knows, else as the baggage its ztunnel sent describes it (Istio's peer
 * metadata), else what its identity says; the destination as the endpoint picked. Both ends are
 * in the generation's cluster, but a client whose baggage names another (k8s.cluster.name: a
 * ztunnel of another cluster of the mesh).
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "ambit/fmt.h"
#include "proxy_priv.h"

static const char *label(const struct config_labels *l, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = config_label_get(l, keys[i]);

		if (v && *v)
			return v;
	}
	return NULL;
}

/* "spiffe://td/ns/<ns>/sa/<sa>": the namespace, into @buf. */
static const char *identity_ns(const char *id, char *buf, size_t len)
{
	const char *p = id ? strstr(id, "/ns/") : NULL;

	if (!p)
		return NULL;
	p += 4;
	snprintf(buf, len, "%.*s", (int)strcspn(p, "/"), p);
	return buf;
}

/* Istio's workload labels of endpoint @ep (its pod's), into the record's @source side or not. */
static void workload_labels(const struct l7_endpoint *ep, bool source, struct wp_record *rec,
			    char *ns, size_t nslen, char *wl, size_t wllen)
{
	static const char *const canon[] = {"service.istio.io/canonical-name",
					    "app.kubernetes.io/name", "app"};
	static const char *const rev[] = {"service.istio.io/canonical-revision",
					  "app.kubernetes.io/version", "version"};
	static const char *const app[] = {"app", "app.kubernetes.io/name"};
	static const char *const ver[] = {"version", "app.kubernetes.io/version"};
	const char *slash = ep->pod ? strchr(ep->pod, '/') : NULL;
	const char *cs, *cr;

	snprintf(ns, nslen, "%.*s", slash ? (int)(slash - ep->pod) : 0, ep->pod ? ep->pod : "");
	snprintf(wl, wllen, "%s",
		 ep->workload ? ep->workload
		 : slash      ? slash + 1
		 : ep->pod    ? ep->pod
			      : "");
	cs = label(&ep->labels, canon, 3);
	cr = label(&ep->labels, rev, 3);
	if (source) {
		rec->source_namespace = ns;
		rec->source_workload = wl;
		rec->source_app = label(&ep->labels, app, 2);
		rec->source_version = label(&ep->labels, ver, 2);
		rec->source_canonical_service = cs ? cs : wl;
		rec->source_canonical_revision = cr ? cr : "latest";
		return;
	}
	rec->destination_namespace = ns;
	rec->destination_workload = wl;
	rec->destination_principal = ep->identity;
	rec->destination_app = label(&ep->labels, app, 2);
	rec->destination_version = label(&ep->labels, ver, 2);
	rec->destination_canonical_service = cs ? cs : wl;
	rec->destination_canonical_revision = cr ? cr : "latest";
}

void wp_addr_text(const union sockaddr_inet *a, char *out, size_t len)
{
	sockaddr_inet_format(a, out, len);
}

bool wp_peer_client_ip(const struct transport_peer *p, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sockaddr_inet_is_any(&p->client) || sockaddr_inet_to_ipaddr(&p->client, out)) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	return true;
}

void wp_record_source(const struct wp_gen *g, const struct transport_peer *p, struct wp_record *rec,
		      struct wp_labels_buf *b)
{
	struct ipaddr ip;
	const struct l7_endpoint *src = wp_peer_client_ip(p, &ip) ? wp_gen_endpoint(g, &ip) : NULL;
	const struct l7_config *c = g->l7;

	rec->source_cluster = g->cluster_id;
	/*
	 * A gateway reports as Istio's ingress gateway does: as the source of the requests it
	 * sends (its workload, app and identity), whoever its clients are.
	 */
	if (c->gateway) {
		rec->reporter = "source";
		rec->source_namespace = c->waypoint_namespace;
		rec->source_workload = c->waypoint_name;
		rec->source_app = c->waypoint_name;
		rec->source_canonical_service = c->waypoint_name;
		rec->source_canonical_revision = "latest";
		rec->source_principal = c->identity;
		rec->mtls = false;
		return;
	}
	if (src)
		workload_labels(src, true, rec, b->sns, sizeof(b->sns), b->swl, sizeof(b->swl));
	else if (!wp_record_source_baggage(
		     rec, p->baggage, identity_ns(p->identity, b->sns, sizeof(b->sns)), &b->bag))
		rec->source_namespace = identity_ns(p->identity, b->sns, sizeof(b->sns));
	rec->source_principal = p->identity;
	rec->mtls = p->mtls;
}

void wp_record_destination(const struct wp_gen *g, const struct l7_service *svc,
			   const struct l7_endpoint *ep, struct wp_record *rec,
			   struct wp_labels_buf *b)
{
	rec->destination_cluster = g->cluster_id;
	/* Traffic addressed to a pod names no Service: those labels stay "unknown". */
	if (svc && !svc->workload) {
		rec->destination_service = svc->hostname;
		rec->destination_service_name = svc->name;
		rec->destination_service_namespace = svc->namespace;
	}
	if (ep)
		workload_labels(ep, false, rec, b->dns, sizeof(b->dns), b->dwl, sizeof(b->dwl));
}
