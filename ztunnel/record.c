// SPDX-License-Identifier: Apache-2.0
/*
 * What every ztunnel path records of a connection: Istio's labels for its metrics and access
 * log, the one line of a denial, and the socket helpers they share.
 */
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authz.h"
#include "net/connrec.h"
#include "hbone/hbone.h"
#include "record.h"

void zt_fill_labels(struct metrics_labels *l, const char *reporter, const char *cluster,
		    const struct snap_workload *src, const char *src_principal,
		    const struct snap_workload *dst, const struct snap_service *svc, bool mtls)
{
	memset(l, 0, sizeof(*l));
	l->reporter = reporter;
	if (src) {
		l->source_workload = src->workload_name;
		l->source_workload_namespace = src->namespace;
		l->source_canonical_service = src->canonical_service;
		l->source_canonical_revision = src->canonical_revision;
		l->source_app = src->app;
		l->source_version = src->version;
	}
	l->source_principal = src_principal ? src_principal : src ? src->identity : NULL;
	if (!cluster || !*cluster)
		cluster = SNAP_CLUSTER_ID;
	l->source_cluster = cluster;
	if (svc) {
		l->destination_service = svc->hostname;
		l->destination_service_namespace = svc->namespace;
		l->destination_service_name = svc->name;
	}
	if (dst) {
		l->destination_workload = dst->workload_name;
		l->destination_workload_namespace = dst->namespace;
		l->destination_principal = dst->identity;
		l->destination_canonical_service = dst->canonical_service;
		l->destination_canonical_revision = dst->canonical_revision;
		l->destination_app = dst->app;
		l->destination_version = dst->version;
	}
	l->destination_cluster = cluster;
	l->connection_security_policy = mtls ? "mutual_tls" : "none";
}

void zt_baggage(const struct snap_workload *wl, const char *cluster, char *out, size_t len)
{
	/* Pods of a Deployment are "deployment", others "pod" (Istio's XDS WorkloadType). */
	bool owned = wl->workload_name && wl->name && strcmp(wl->workload_name, wl->name);
	struct hbone_baggage b = {
	    .cluster = cluster && *cluster ? cluster : SNAP_CLUSTER_ID,
	    .ns = wl->namespace,
	    .kind = owned ? "deployment" : "pod",
	    .workload = wl->workload_name ? wl->workload_name : wl->name,
	    .service = wl->canonical_service ? wl->canonical_service : wl->app,
	    .version = wl->canonical_revision ? wl->canonical_revision : wl->version,
	};

	if (hbone_baggage_format(&b, out, len) < 0 && len)
		out[0] = '\0';
}

/* @v when the local view had nothing, else what it had. */
static const char *gap(const char *local, const char *v)
{
	return local && *local ? local : *v ? v : local;
}

void zt_labels_from_peer(struct metrics_labels *l, const struct hbone_peer_baggage *peer)
{
	/* A destination the local view does not know is where its ztunnel says it is. */
	if (!(l->destination_workload && *l->destination_workload) && *peer->cluster)
		l->destination_cluster = peer->cluster;
	l->destination_workload = gap(l->destination_workload, peer->workload);
	l->destination_workload_namespace = gap(l->destination_workload_namespace, peer->ns);
	l->destination_canonical_service = gap(l->destination_canonical_service, peer->service);
	l->destination_canonical_revision = gap(l->destination_canonical_revision, peer->version);
	/* Istio's derived destination: app is the workload's name, version its revision. */
	l->destination_app = gap(l->destination_app, peer->workload);
	l->destination_version = gap(l->destination_version, peer->version);
	/* Its identity as its TLS proved it (behind another network's gateway, no other word). */
	l->destination_principal = gap(l->destination_principal, peer->identity);
}

bool zt_addr_of(int fd, bool peer, union sockaddr_inet *out)
{
	socklen_t sl = sizeof(*out);

	memset(out, 0, sizeof(*out));
	return (peer ? getpeername(fd, &out->sa, &sl) : getsockname(fd, &out->sa, &sl)) == 0 &&
	       (out->sa.sa_family == AF_INET || out->sa.sa_family == AF_INET6);
}

struct ipaddr zt_ip_of(const union sockaddr_inet *sa)
{
	struct ipaddr a = {0};

	if (sockaddr_inet_to_ipaddr(sa, &a))
		memset(&a, 0, sizeof(a));
	return a;
}

const struct snap_workload *zt_workload_at(const struct snapshot *s, const union sockaddr_inet *sa)
{
	struct ipaddr a = zt_ip_of(sa);

	return snapshot_workload_by_addr(s, &a);
}

/*
 * A denied connection is still a connection in the metrics (response_flags="DENY", as Istio
 * ztunnel reports it) and one access-log line naming the deciding policy.
 */
void zt_record_denial(struct metrics_labels *labels, const union sockaddr_inet *src,
		      const union sockaddr_inet *dst, const char *direction,
		      const struct authz_result *ar)
{
	struct connrec *rec;
	char reason[600];

	labels->response_flags = "DENY";
	rec = connrec_open(labels, src, dst, direction);
	connrec_set_decision(rec, "deny", ar->name);
	snprintf(reason, sizeof(reason), "denied: %s", ar->explain);
	connrec_close(rec, reason);
}

/*
 * REGISTRY_ONLY and a destination nothing names: refused, and counted as Istio counts it (the
 * connection under BlackHoleCluster, response_flags "UH": no upstream).
 */
void zt_record_blackhole(struct metrics_labels *labels, const union sockaddr_inet *src,
			 const union sockaddr_inet *dst)
{
	struct connrec *rec;

	labels->response_flags = "UH";
	rec = connrec_open(labels, src, dst, "outbound");
	connrec_set_decision(rec, "deny", "outboundTrafficPolicy REGISTRY_ONLY");
	connrec_close(rec, "refused: no Service or ServiceEntry names this destination "
			   "(outboundTrafficPolicy REGISTRY_ONLY)");
}
