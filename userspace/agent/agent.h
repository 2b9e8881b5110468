/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's state and its reconcile step: config + runtime -> desired state -> BPF maps (as a
 * diff against what the maps hold), tc attachments, certificates and the published snapshot.
 * main.c owns the event loop; this file knows nothing about epoll except the server it feeds.
 */
#ifndef AMBIT_AGENT_AGENT_H
#define AMBIT_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "ambit/ca.h"
#include "ambit/datapath.h"
#include "ambit/ipaddr.h"
#include "certs.h"
#include "confstore.h"
#include "l4/desired.h"
#include "inpod.h"
#include "jwks.h"
#include "ksource.h"
#include "policy_sync.h"
#include "remote.h"
#include "config/runtime.h"
#include "server.h"

struct agent_opts {
	const char *node;
	const char *node_ip_str;
	uint32_t node_ip;	  /* network order */
	struct in6_addr node_ip6; /* :: when --node-ip gave none */
	const char *state_dir;
	const char *runtime_path;
	const char *ca_dir;
	const char *pin_root;
	const char *cgroup;
	const char *socket;
	const char *uplink; /* NULL: none */
	const char *trust_domain;
	const char *trust_domain_aliases[16]; /* --trust-domain-alias, repeatable */
	size_t n_trust_domain_aliases;
	const char *root_namespace; /* Istio root namespace (mesh-wide policy), istio-system */
	/*
	 * --cluster-id (ISTIO_META_CLUSTER_ID or CLUSTER_ID; SNAP_CLUSTER_ID) and --network
	 * (NETWORK; none), as Istio's ztunnel takes them: the cluster and network this node is in.
	 * The network label (topology.istio.io/network) on the root namespace, when there is one,
	 * is the network instead, as Istio reads it (agent_network).
	 */
	const char *cluster_id, *network;
	/*
	 * The Kubernetes source instead of the state directory and pods.json: in-cluster
	 * (--kube, the service-account directory @kube_sa_dir) or @kubeconfig; pods' cgroups are
	 * searched under @pod_cgroup_root (the cgroup2 mount).
	 */
	bool kube;
	const char *kubeconfig, *kube_sa_dir, *pod_cgroup_root;
	/*
	 * The DaemonSet that runs this agent ("namespace/name"), or NULL: when it is gone at exit
	 * (ambitctl uninstall), the agent removes the node's state (agent_uninstall_if_gone).
	 */
	const char *owner_daemonset;
	/*
	 * --uninstalled-file: a file whose presence at exit means the same, where no DaemonSet
	 * runs the agent (a local cluster's `istioctl uninstall` writes it first); while it is
	 * there, no pod is in the mesh (agent_mesh_off): the node keeps its Service proxy.
	 */
	const char *uninstalled_file;
	/* The CA server (https://host:port) and the root file to verify it, instead of --ca-dir. */
	const char *ca_url, *ca_root;
	/* --capture-mode: host (routed CNIs), inpod (bridge CNIs) or auto (inpod.h). */
	enum capture_mode capture_mode;
	/* --kubelet-cgroup: "auto" (NULL), "none" or a cgroup v2 directory (probes.h). */
	const char *kubelet_cgroup;
	/* --conntrack-max: datapath_opts.conntrack_max (0: the maps' built-in sizes). */
	uint32_t conntrack_max;
	char cluster_path[4096];    /* dirname(dirname(runtime))/cluster.json */
	char cache_dir[4096];	    /* dirname(socket)/lastgood: config files' last good versions */
	char version_path[4096];    /* dirname(socket)/snapshot.version: survives restarts */
	char generation_path[4096]; /* <state>/generation, written by ambitctl after each change */
};

struct jwks_fetcher;

/*
 * A pod's address and network namespace as ambit-cni's ADD gave them (cnireq.c): its sandbox
 * has no process yet, and on Kubernetes its Pod object shows no IP until ADD returns.
 */
struct agent_cni_hint {
	char *ns, *name;
	char *netns;	  /* CNI_NETNS, or NULL */
	int nsfd;	  /* the netns ambit-cni sent open (SCM_RIGHTS), or -1 */
	char fdpath[32];  /* /proc/self/fd/<nsfd>: the namespace whatever the agent's view */
	struct ipaddr ip; /* its IPv4 address, or an IPv6-only pod's IPv6 one */
};

struct agent {
	struct agent_opts opts;
	struct jwks_fetcher *jwks; /* owned: RequestAuthentication jwksUri key sets (jwks.h) */
	struct datapath *dp;	   /* owned */
	struct ambit_ca *ca;	   /* owned: the embedded CA (--ca-dir), or NULL: the CA server */
	char *root_pem;		   /* the root from --ca-root, with a CA server */
	struct server *srv;	   /* owned */
	struct confstore conf;
	struct runtime rt;  /* last good pods.json */
	char rt_error[512]; /* why the current pods.json is not in force, or "" */
	bool rt_ok;	    /* a pods.json (or its absence) was accepted at least once */
	struct rt_cluster cluster;
	/* The network the snapshots say this node is in (agent_network), "" for none. */
	char network[64];
	/*
	 * The trust domain's aliases the snapshots carry: --trust-domain-alias, then the mesh
	 * config's trustDomainAliases (agent_trust_aliases); owned copies.
	 */
	char *td_aliases[32];
	size_t n_td_aliases;
	struct desired cur; /* what was last applied */
	bool have_cur;
	struct dp_service *applied_svcs; /* services as last written (backends known) */
	size_t n_applied_svcs;
	/* services6 as last written; NULL with @svcs6_known false: read the map back first. */
	struct dp_service6 *applied_svcs6;
	size_t n_applied_svcs6;
	bool svcs6_known;
	/*
	 * The maps hold exactly cur's entries and applied_svcs (every write of the last apply
	 * succeeded): the next diff starts from them instead of reading the maps back. Cleared by
	 * a failure and by agent_reread_maps, so a change made behind the agent's back is undone
	 * at the periodic resync.
	 */
	bool maps_known;
	int *tc_ifindexes;   /* pod veths we attached tc to */
	uint64_t kubelet_cg; /* the kubelet's cgroup id in node_cfg (0: none) */
	int kubelet_pid;     /* the kubelet --kubelet-cgroup auto found (0: none) */
	bool kubelet_cg_set; /* node_cfg written once by this agent */
	size_t n_tc;
	int uplink_ifindex;
	char uplink_auto[16]; /* --uplink auto: the interface found holding --node-ip */
	struct cert_store certs;
	struct policy_sync policy; /* the compiled L4 policy the snapshot carries */
	uint64_t version;	   /* of the last snapshot published; monotonic across restarts */
	uint64_t snap_version;	   /* of snap_json (waypoints' snapshots share the counter) */
	/*
	 * Store generation of the last completed reconcile; from the Kubernetes API, the
	 * resourceVersion every kind's changes were taken up to (kwatch_resource_version).
	 */
	uint64_t config_generation;
	uint64_t generation_seen; /* read at the start of the reconcile in progress */
	bool reconcile_due;	  /* Kubernetes changes taken that no reconcile has run on yet */
	char *snap_json;	  /* last published full encoding */
	/* The node snapshot's elements' JSON (json_memo.h), or NULL. */
	struct json_memo *memo;
	unsigned int apply_errors; /* map/tc failures of the last reconcile */
	int epfd;		   /* the event loop's, for the waypoints' sockets */
	struct wpserve *wps;	   /* the node's waypoint instances (wpserve.h) */
	struct ksource *kube;	   /* the Kubernetes source, or NULL: the state directory */
	/* The capture mode in force: --capture-mode, or what auto found (AUTO: not yet known). */
	enum capture_mode capture;
	struct inpod inpod; /* the pods captured in their own netns (inpod.h) */
	bool inpod_open;
	struct agent_cni_hint *cni_hints; /* owned */
	size_t n_cni_hints;
	/*
	 * The store's entries of the CA's credentials (creds.c), the gateway pods asked for and
	 * the refusals last logged (hashes).
	 */
	char **creds;
	size_t n_creds;
	uint64_t creds_pods, creds_refused;
	/* The remote clusters of the remote secrets in force (remote.h). */
	struct remote_set remote;
	/*
	 * What of @remote the kernel's maps were last computed with (remote_udp_key): the global
	 * Services whose UDP the ztunnel balances over the clusters (desired_remote_udp).
	 */
	uint64_t remote_udp;
};

/*
 * A key and a certificate for identity @id (cert_store's issue callback, @ctx the agent): the
 * key is made here, the CSR signed by the embedded CA or by the CA server for a pod of this
 * node with that identity.
 */
int agent_issue(void *ctx, const char *id, long lifetime_s, struct ca_issued *out);
/* The mesh root the workloads trust (the embedded CA's, or --ca-root's). */
const char *agent_root_pem(const struct agent *a);
/*
 * One network with other clusters: @s, borrowing the agent's workloads and services, gets
 * their mesh workloads after this node's and their endpoints in the Services of the same
 * hostname (remote.h). 0 or -ENOMEM; agent_view_peers_free undoes it either way.
 */
int agent_view_peers(const struct agent *a, struct snapshot *s);
void agent_view_peers_free(const struct agent *a, struct snapshot *s);

/* Takes the next snapshot version (any snapshot the agent publishes), saved before use. */
uint64_t agent_next_version(struct agent *a);

/* Restores the last published snapshot version so a restart never reuses one. */
void agent_restore_version(struct agent *a);
/* Full reconcile; never fails the process: problems are logged and retried next time. */
void agent_reconcile(struct agent *a);
/*
 * Reads the remote clusters whose files or lists changed and publishes the snapshot: what a
 * remote change needs, without the node's own reconcile (its maps, its pods, its waypoints).
 */
void agent_remote_refresh(struct agent *a);
/* The next reconcile diffs against the maps as the kernel holds them (a periodic resync). */
void agent_reread_maps(struct agent *a);
/* Certificate renewal only (timer); republishes the snapshot when a certificate changed. */
void agent_renew_certs(struct agent *a);
/* The earliest certificate deadline (0: none). */
time_t agent_next_cert_deadline(const struct agent *a);
/* Answers a "get" request (server_ops.get). */
char *agent_get(void *ctx, const char *what, char *err, size_t errlen);
struct cJSON;
/*
 * Answers ambit-cni's {"op":"cni",...} (server_ops.cni, cnireq.c): borrows @req; returns the
 * malloc'd result, or NULL with @err (refused), or NULL with @err empty (held: not in force yet).
 */
char *agent_cni(void *ctx, const struct cJSON *req, int *fd, char *err, size_t errlen);
/*
 * The address ambit-cni gave pod @ns/@name in *@ip (its IPv4 one, an IPv6-only pod's IPv6 one),
 * or false; its netns path in *@netns (NULL: none given), borrowed until the next "cni"
 * request (ksource_set_ip_hint).
 */
bool agent_cni_ip_hint(void *ctx, const char *ns, const char *name, struct ipaddr *ip,
		       const char **netns);
/* The netns path ambit-cni gave pod @uid ("ns/name"), or NULL (inpod's netns_hint). */
const char *agent_cni_netns(void *ctx, const char *uid);
/* Frees what the "cni" requests left (agent_cleanup). */
void agent_cni_free(struct agent *a);
/* Frees the agent's memory; closes the datapath handle leaving pins and filters in force. */
void agent_cleanup(struct agent *a);
/*
 * --kube with a CA server: the certificates of this node's gateway and waypoint pods, asked of
 * the CA (creds.c) and put in (taken out of) the store; *@changed set when that may change
 * what is in force. Asked at each resync, and when due: this node's gateway pods changed since
 * the last time.
 */
void agent_credentials_refresh(struct agent *a, bool *changed);
bool agent_credentials_due(const struct agent *a);
void agent_credentials_free(struct agent *a);
struct kconn;
/* The API server as --kube / --kubeconfig say (kconn.h). 0, or -errno with @why. */
int agent_kconn(const struct agent_opts *o, struct kconn *c, char *why, size_t len);
/*
 * At exit with --owner-daemonset: when the API server says that DaemonSet is gone or being
 * deleted (an uninstall, not an upgrade or a restart), removes what the agent put on the node:
 * the tc filters on the uplink and the pods' interfaces, the pins (and with the links the cgroup
 * programs) and the policy routing. Any other answer, or none, keeps everything (traffic goes
 * on). Best effort, each failure logged.
 */
void agent_uninstall_if_gone(struct agent *a);
/* Whether --uninstalled-file is there, into the config store (config.mesh_off). */
void agent_mesh_off(struct agent *a);

/* Status document (JSON text, malloc'd) of the agent view. NULL+errno. */
char *agent_status_json(const struct agent *a);

#endif
