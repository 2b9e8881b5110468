/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The versioned snapshot the agent compiles from config and hands to the ztunnel (and answers
 * ambitctl with). Encoded as JSON (cJSON) in length-prefixed frames (ipc.h) on the agent's
 * Unix socket. The ztunnel never reads manifests: this is all it knows.
 * IPv4 addresses are in network byte order, ports in host order.
 */
#ifndef AMBIT_SNAPSHOT_H
#define AMBIT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ambit/ipaddr.h"

struct policy_set;
struct l7_config;

/*
 * The cluster id of an install that names none (Istio's default clusterName, which its
 * dashboards expect): what telemetry and baggage say of a snapshot without "clusterId".
 */
#define SNAP_CLUSTER_ID "Kubernetes"

/*
 * The waypoint that takes traffic addressed to a service or workload (include/ambit/l7.h,
 * l7_bindings_compute): the client ztunnel sends such traffic over HBONE to one of @addresses
 * (the waypoint Service's VIP first, then its instances) on @port, checking @identity.
 */
struct snap_waypoint {
	char *name; /* "namespace/name" of the Gateway */
	char *identity;
	char *hostname;
	size_t n_addresses;
	uint32_t *addresses;
	/*
	 * Its IPv6 addresses, in the same order (the Service's vip6 first, then its instances'
	 * ip6), JSON "addresses6" (optional: only when it has some): the client ztunnel reaches a
	 * waypoint over IPv6 when it has no IPv4 address (an IPv6-only waypoint pod).
	 */
	size_t n_addresses6;
	struct ipaddr *addresses6;
	uint16_t port; /* 15008 */
};

struct snap_workload {
	char *uid;  /* "namespace/name" */
	char *name; /* pod name */
	char *namespace;
	char *service_account;
	char *identity;	     /* spiffe://<td>/ns/<ns>/sa/<sa> */
	char *node;	     /* node name */
	char *workload_name; /* owning Deployment, or the pod name */
	char *app;	     /* label app (or app.kubernetes.io/name), or workload_name */
	char *version;	     /* label version, or "latest" */
	/*
	 * Istio's canonical service: label service.istio.io/canonical-name, app.kubernetes.io/name
	 * or app, else workload_name; canonical revision: service.istio.io/canonical-revision,
	 * app.kubernetes.io/version or version, else "latest". JSON "canonicalService",
	 * "canonicalRevision" (optional: NULL when an older agent sent none).
	 */
	char *canonical_service;
	char *canonical_revision;
	/*
	 * The pod's spec.hostname and spec.subdomain, JSON "hostname" and "subdomain" (NULL: none):
	 * an endpoint of the headless Service @subdomain is <hostname>.<subdomain>.<ns>.svc in DNS.
	 */
	char *hostname, *subdomain;
	uint32_t ip; /* 0: none (an IPv6-only pod, found by its ip6 alone, never by 0.0.0.0) */
	/*
	 * Its IPv6 address in a dual-stack or IPv6-only cluster, JSON "ip6" (family 0: none): the
	 * ztunnel carries the pod's IPv6 traffic by it (snapshot_workload_by_addr).
	 */
	struct ipaddr ip6;
	uint32_t node_ip;
	bool enrolled;
	struct snap_waypoint *waypoint; /* traffic addressed to the pod IP; NULL: none */
	/*
	 * The agent's own, never encoded: the serial of the Pod object it was made from (0:
	 * unknown), and 1 + the position of the workload in the desired state in force whose
	 * strings (all but @waypoint) it borrows, or 0 (desired_adopt, userspace/l4/desired.h).
	 */
	uint64_t serial;
	size_t borrowed;
};

/* An address block of a ServiceEntry (`addresses`: an IP is a /32). Network order. */
/*
 * An endpoint's own number for one of its service's ports: a ServiceEntry endpoint's (its
 * `ports` map), a Service endpoint's (its EndpointSlice's port of that name, or its pod's
 * named container port) where it is not the snap_service_port's targetPort.
 */
struct snap_ep_port {
	uint32_t ip;	      /* the endpoint */
	uint16_t port;	      /* the entry's port */
	uint16_t target_port; /* where that endpoint takes it */
};

/* The same for an endpoint of endpoints6 (an IPv6 slice's, an IPv6-only pod's). */
struct snap_ep_port6 {
	struct ipaddr ip;
	uint16_t port;
	uint16_t target_port;
};

/* Where a ServiceEntry's hosts are (its `location`); a Kubernetes Service is SNAP_SVC_SERVICE. */
enum snap_svc_kind {
	SNAP_SVC_SERVICE = 0,
	SNAP_SVC_MESH_EXTERNAL,
	SNAP_SVC_MESH_INTERNAL,
};

/* A ServiceEntry's `resolution` (API_SEMANTICS.md §5). */
enum snap_resolution {
	SNAP_RES_NONE = 0,
	SNAP_RES_STATIC,
	SNAP_RES_DNS,
	SNAP_RES_DNS_ROUND_ROBIN,
	SNAP_RES_DYNAMIC_DNS,
};

struct snap_service_port {
	char *name;
	uint16_t port;
	uint16_t target_port;
};

struct snap_service {
	char *name;
	char *namespace;
	char *hostname; /* name.namespace.svc.cluster.local */
	uint32_t vip;
	/*
	 * A dual-stack Service's IPv6 ClusterIP, JSON "vip6" (only when set; family 0: none).
	 * Its endpoints stay @endpoints: a connection to [vip6]:port goes to the IPv6 address of
	 * the endpoint's workload.
	 */
	struct ipaddr vip6;
	size_t nports;
	struct snap_service_port *ports;
	size_t nendpoints;
	uint32_t *endpoints; /* pod IPs of ready endpoints */
	/*
	 * A Service without selector: the ready endpoints of its EndpointSlices of addressType
	 * IPv6, JSON "endpoints6" (optional; only when it has some). Its slices pair no address
	 * of one family with one of the other, so a connection to [vip6]:port goes to one of
	 * these, and one to vip:port to one of @endpoints: an endpoint of one family serves that
	 * family alone. A Service with a selector: every selected pod's IPv6 when some of them
	 * have IPv6 alone (an IPv6-only cluster's pods, none in @endpoints), else empty (its
	 * pods' ip6 serve vip6).
	 */
	size_t nendpoints6;
	struct ipaddr *endpoints6;
	struct snap_waypoint *waypoint; /* traffic addressed to the Service; NULL: none */
	/*
	 * A ServiceEntry host (snapshot.entries, one per host; @name is the host, @hostname too,
	 * @namespace the entry's): @kind its location, @resolution, @vip its first address or the
	 * one allocated to it (0: none), @vip6 likewise its first IPv6 address or the one of
	 * 2001:2::/48 allocated beside an allocated @vip (JSON "vip6", as a Service's), @cidrs
	 * its other addresses and CIDRs, @endpoints its STATIC or selected endpoints, and
	 * @export_to the namespaces that see it (NULL: all). JSON "kind" ("MESH_EXTERNAL",
	 * "MESH_INTERNAL"), "resolution", "addresses" (CIDRs of both families), "exportTo"; a
	 * Service has none of them. A DNS or DNS_ROUND_ROBIN entry also has @names, JSON "resolve":
	 * what the ztunnel resolves for its endpoints (its endpoints' names, or its host when it
	 * lists none).
	 */
	enum snap_svc_kind kind;
	enum snap_resolution resolution;
	size_t n_cidrs, n_export_to, n_names, n_ep_ports, n_ep_ports6;
	struct ipaddr *cidrs; /* an IPv6 one holds no IPv4 destination */
	char **export_to;
	char **names;
	/*
	 * Endpoints whose own port differs from the port's targetPort, JSON "endpointPorts"
	 * [{"ip","port","targetPort"}], and "endpointPorts6" likewise for @endpoints6 (a Service's
	 * slices may each carry their own number for one port name: Kubernetes' SRV targets and
	 * backends take each endpoint's).
	 */
	struct snap_ep_port *ep_ports;
	struct snap_ep_port6 *ep_ports6;
	/*
	 * The agent's own, never encoded: the serial of the Service object it was made from (0:
	 * unknown), and 1 + the position of the service in the desired state in force whose
	 * strings (name, namespace, hostname, the ports' names) it borrows, or 0.
	 */
	uint64_t serial;
	size_t borrowed;
	/*
	 * A decoded snapshot's remoteServices of this Service's hostname (borrowed from
	 * snapshot.remote_services, never encoded; 0: none), linked at decode.
	 */
	size_t n_remote;
	const struct snap_remote_service *remote;
	/*
	 * Traffic distribution PreferClose (the Service's spec or Istio's annotation), JSON
	 * "preferClose": endpoints in this network first, other networks' only when it has none.
	 */
	bool prefer_close;
	/*
	 * The waypoint its istio.io/use-waypoint label names ("namespace/name") when this cluster
	 * has none of that name, JSON "waypointWanted" (NULL: none wanted, or it is here, in
	 * @waypoint). A global Service's waypoint is global with it: when another cluster's share
	 * has a waypoint of that name (snap_remote_service.waypoint), every connection goes
	 * through it, this cluster's endpoints included.
	 */
	char *waypoint_wanted;
};

/*
 * Another network's east-west gateway (Istio's network gateway): where a client of this cluster
 * opens the outer tunnel of double HBONE to reach that network's global Services. JSON
 * "networkGateways": {"network", "cluster", "name" ("namespace/name" of its Gateway),
 * "identity", "address", "address6", "port"}.
 */
struct snap_net_gateway {
	char *network;
	char *cluster;
	char *name;
	char *identity; /* spiffe://<td>/ns/<ns>/sa/<its service account> */
	uint32_t ip;	/* its LoadBalancer address (0: none of the family) */
	struct ipaddr ip6;
	uint16_t port; /* 15008 */
};

/*
 * A remote cluster's share of a global Service (Istio's split horizon): no pods, only how many
 * ready endpoints stand behind the gateways of its network, the ports the Service has there and
 * the identities its endpoints run as (what the inner tunnel's TLS must present). JSON
 * "remoteServices", sorted by hostname then cluster: {"hostname", "cluster", "network",
 * "endpoints", "ports": [80, ...], "identities": [...], "waypoint", "waypointIdentity"}.
 */
struct snap_remote_service {
	char *hostname;
	char *cluster;
	char *network;
	uint32_t endpoints;
	size_t n_ports, n_identities;
	uint16_t *ports;
	char **identities;
	/*
	 * The waypoint the Service is bound to there ("namespace/name") and its identity, JSON
	 * "waypoint" and "waypointIdentity" (both or neither; NULL: none). That network's gateway
	 * sends a stream for the Service to it unless the stream comes from a waypoint (Istio's
	 * `x-istio-source: waypoint`), so a ztunnel's inner tunnel ends there and must present
	 * @waypoint_identity; a waypoint's, which says it is one, reaches the endpoints.
	 */
	char *waypoint;
	char *waypoint_identity;
};

/* A workload certificate for one identity running on this node, with its private key. */
struct snap_cert {
	char *identity;
	char *cert_pem; /* leaf first, then any intermediates */
	char *key_pem;
	time_t not_before;
	time_t not_after;
};

/* How the node's agent captures its pods (its --capture-mode once decided). */
enum snap_capture {
	SNAP_CAPTURE_UNKNOWN = 0, /* not decided yet (no local pod), or an agent that predates it */
	SNAP_CAPTURE_HOST,	  /* the node's tc on the host veths: a routed pod network */
	SNAP_CAPTURE_INPOD,	  /* in each pod's netns (a bridge CNI) */
};

struct snapshot {
	uint64_t version; /* strictly increasing per agent run; 0 = none yet */
	char *node;
	uint32_t node_ip;
	char *trust_domain;
	/*
	 * The cluster and network this node is in (Istio's clusterName and network), JSON
	 * "clusterId" and "network": the cluster every local workload is in, as telemetry
	 * (source_cluster, destination_cluster) and baggage (k8s.cluster.name) say it. A decoded
	 * snapshot without "clusterId" has SNAP_CLUSTER_ID, without "network" "" (none).
	 */
	char *cluster_id;
	char *network;
	size_t n_trust_domain_aliases; /* other trust domains peers may be in (Istio's
					  trustDomainAliases), JSON "trustDomainAliases" */
	char **trust_domain_aliases;
	char *root_pem; /* the mesh trust root */
	size_t n_workloads, n_services, n_certs;
	struct snap_workload *workloads;
	struct snap_service *services;
	struct snap_cert *certs;
	/*
	 * Compiled L4 policy (include/ambit/policy.h), JSON "policies"; NULL: none (allow all,
	 * PERMISSIVE). Owned by a decoded snapshot (snapshot_free frees it).
	 */
	struct policy_set *policies;
	/*
	 * What a waypoint serves (include/ambit/l7.h), JSON "l7": only in a waypoint's snapshot,
	 * NULL otherwise. Owned by a decoded snapshot.
	 */
	struct l7_config *l7;
	/*
	 * ServiceEntry hosts (struct snap_service with @kind set), JSON "serviceEntries", sorted
	 * by namespace and host; and the mesh's outboundTrafficPolicy, JSON
	 * "outboundTrafficPolicy": "REGISTRY_ONLY" refuses destinations no Service, workload or
	 * entry names (omitted: ALLOW_ANY).
	 */
	size_t n_entries;
	struct snap_service *entries;
	bool registry_only;
	/*
	 * JSON "captureMode": "host" or "inpod" (omitted: unknown). The ztunnel opens a pod's plain
	 * connections to other pods from the pod's own address only in host mode, where the
	 * answers cross the node's tc (ztunnel/route.h, zt_passthrough_as_client).
	 */
	enum snap_capture capture;
	/* Multicluster: other networks' gateways and the remote shares of global Services. */
	size_t n_net_gateways, n_remote_services;
	struct snap_net_gateway *net_gateways;
	struct snap_remote_service *remote_services;
};

/* Returns a malloc'd NUL-terminated JSON document (caller frees), or NULL with errno set. */
char *snapshot_encode(const struct snapshot *s);
struct json_memo;
/* snapshot_encode's text (the same), through @memo (json_memo.h; NULL: none). */
char *snapshot_encode_memo(const struct snapshot *s, struct json_memo *memo);
/* Encodes without certs' private keys (for ambitctl and logs). */
char *snapshot_encode_public(const struct snapshot *s);
/*
 * True when @a and @b (snapshot_encode's, which puts the version first) differ at most in
 * their version: the agent encodes the next version and publishes it only if something else
 * changed, without encoding 10,000 workloads a second time.
 */
bool snapshot_same_but_version(const char *a, const char *b);
/*
 * Parses @json into a new snapshot (caller frees with snapshot_free). On error returns NULL and
 * writes a reason naming the offending field into @err.
 */
struct snapshot *snapshot_decode(const char *json, size_t len, char *err, size_t errlen);
void snapshot_free(struct snapshot *s);
/* Free the strings and arrays one workload / service owns, not the struct itself. */
void snapshot_workload_clear(struct snap_workload *w);
void snapshot_service_clear(struct snap_service *svc);
/* Frees a waypoint binding (NULL is fine). */
void snapshot_waypoint_free(struct snap_waypoint *w);

/* Look-ups; borrowed pointers or NULL. */
const struct snap_workload *snapshot_workload_by_ip(const struct snapshot *s, uint32_t ip);
const struct snap_service *snapshot_service_by_vip(const struct snapshot *s, uint32_t vip);
/* The first Service (or ServiceEntry host) named @hostname. */
const struct snap_service *snapshot_service_by_hostname(const struct snapshot *s,
							const char *hostname);
/* By the workload's IPv6 address (@ip6 a single IPv6 address, else NULL). */
const struct snap_workload *snapshot_workload_by_ip6(const struct snapshot *s,
						     const struct ipaddr *ip6);
/* By the Service's IPv6 ClusterIP (@vip6 a single IPv6 address, else NULL). */
const struct snap_service *snapshot_service_by_vip6(const struct snapshot *s,
						    const struct ipaddr *vip6);
/*
 * Where an endpoint of @svc takes its port number @port: its own number (ep_ports, ep_ports6: an
 * entry endpoint's `ports`, a Service endpoint's slice or pod), else @dflt. The endpoint is
 * @ip6 when given, else @ip (network order). The one look-up of every family and caller.
 */
uint16_t snapshot_endpoint_port_of(const struct snap_service *svc, uint16_t port, uint32_t ip,
				   const struct ipaddr *ip6, uint16_t dflt);
/*
 * snapshot_endpoint_port_of for Service port @sp of endpoint @ip: its own number, else @sp's
 * targetPort, else @sp's port.
 */
uint16_t snapshot_endpoint_port(const struct snap_service *svc, const struct snap_service_port *sp,
				uint32_t ip);
/* The same for an endpoint @ip6 of @svc's endpoints6. */
uint16_t snapshot_endpoint_port6(const struct snap_service *svc, const struct snap_service_port *sp,
				 const struct ipaddr *ip6);
/* The workload at address @a of either family (IPv4: @ip, IPv6: @ip6). */
/*
 * The mesh's trust domain then its aliases, into @out (at most @max; borrowed from @s): what
 * policy principals stand for together (struct policy_conn's trust_domains). Their number;
 * 0 when @s names no trust domain.
 */
size_t snapshot_trust_domains(const struct snapshot *s, const char **out, size_t max);
const struct snap_workload *snapshot_workload_by_addr(const struct snapshot *s,
						      const struct ipaddr *a);
/* The Service whose VIP of @a's family is @a. */
const struct snap_service *snapshot_service_by_addr(const struct snapshot *s,
						    const struct ipaddr *a);
/*
 * The ServiceEntry host that @ip:@port (network order, host order) reaches for a client in
 * namespace @ns (NULL: any): by its address or CIDR (the longest prefix), else by one of its
 * endpoints; it must list @port (0: any port).
 */
const struct snap_service *snapshot_entry_by_addr(const struct snapshot *s, uint32_t ip,
						  uint16_t port, const char *ns);
/*
 * The same for an IPv6 destination @ip6 (a single address, else NULL): the entry whose vip6 it
 * is, else the longest of the IPv6 CIDRs holding it, else one whose IPv6 endpoints (endpoints6)
 * name it.
 */
const struct snap_service *snapshot_entry_by_addr6(const struct snapshot *s,
						   const struct ipaddr *ip6, uint16_t port,
						   const char *ns);
const struct snap_cert *snapshot_cert_by_identity(const struct snapshot *s, const char *id);
/* Frees @n gateways' strings and then the array @g (NULL is fine). */
void snapshot_net_gateways_free(struct snap_net_gateway *g, size_t n);
/* Frees @n remote shares' strings and arrays and then the array @r (NULL is fine). */
void snapshot_remote_services_free(struct snap_remote_service *r, size_t n);
/* Whether @svc's remote share @r has port @port. */
bool snapshot_remote_has_port(const struct snap_remote_service *r, uint16_t port);

#endif
