/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The single-host cluster (userspace/local/): its nodes, pods and their sandboxes, the kubelet,
 * the store (state/) and what follows it, and the --kube cluster's Kubernetes lookalike. The
 * layout (names, addresses, files) is the contract of docs/internals/local-cluster-layout.md;
 * everything that derives a name or path from it lives in cluster.c so the rest never
 * formats one by hand. The commands (userspace/cli/ctl.h) are built on it; it uses none of them.
 */
#ifndef AMBIT_LOCAL_H
#define AMBIT_LOCAL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "ambit/fileutil.h"
#include "ambit/l7.h"
#include "k8s/kubeapi.h"

#define CTL_MAX_NODES 8
/* A Kubernetes label value's length at most (a cluster id, a network: config_label_value_ok). */
#define CTL_LABEL_VALUE_MAX 63
#define CTL_NAME_MAX 64
#define CTL_RUN_BASE "/run/ambit"
#define CTL_PIN_BASE "/sys/fs/bpf/ambit"
#define CTL_READY_TIMEOUT_S 30
/* The agent socket's status request (its reply: {"ok":..., "result":{...}}). */
#define CTL_AGENT_STATUS_REQ "{\"op\":\"get\",\"what\":\"status\"}"
/* br0's address in the fabric netns (up.c), which every node routes to. */
#define CTL_FABRIC_IP "10.99.0.1"
/* Dual stack: br0's IPv6 address (cluster_ip6 of CTL_FABRIC_IP), its prefix the nodes'. */
#define CTL_FABRIC_IP6 "fd00:99::1"
/* The cluster's DNS (up.c, kube-dns's part), also on br0: every pod's nameserver. */
#define CTL_CLUSTER_DNS_IP "10.99.0.2"
/* IPv6: its address for pods of IPv6 alone (dual-stack pods ask the IPv4 one, as before). */
#define CTL_CLUSTER_DNS_IP6 "fd00:99::2"
/*
 * --kube: the API server's port, in the fabric netns at cluster_fabric_ip, and where `ambitctl
 * install` puts ambit.
 */
#define CTL_KUBE_API_PORT 6443
#define CTL_KUBE_NS "ambit-system"
/*
 * <run>/CTL_UNINSTALLED: ambit was uninstalled from the cluster (`istioctl uninstall`), which
 * stays up: its text says so; the kubelets keep the node components down, and each agent removes
 * its node's data path as it exits (--uninstalled-file). `istioctl install` removes it.
 */
#define CTL_UNINSTALLED "uninstalled"
/* --cni bridge: the bridge in each node netns that holds .1 of the node's pod CIDR. */
#define CTL_CNI_BRIDGE_IFACE "cni0"
#define CTL_CNI_VXLAN_IFACE "flannel.1"		  /* --cni bridge: the nodes' VXLAN tunnel */
#define CTL_CNI_BRIDGE_MTU "1450"		  /* 1500 less VXLAN's 50 */
#define CTL_CNI_PLUGIN_DIR "/usr/lib/cni"	  /* Debian's containernetworking-plugins */
#define CTL_CNI_AMBIT "ambit-cni"		  /* chained last when built beside ambitctl */
#define CTL_CNI_KUBECONFIG "ambit-cni.kubeconfig" /* --kube: its kubeconfig, in the node dir */
/* --kube: the kubelet's kubeconfig, in the node dir (its own credentials, kubeup.c). */
#define CTL_KUBELET_KUBECONFIG "kubelet.kubeconfig"

/*
 * The pod network of a local cluster (`local up --cni`, cluster.json "cni"). Both route other
 * nodes' pod CIDRs via their node IPs; they differ within a node.
 */
enum ctl_cni {
	/* Calico-like: a pod's /32, default via 169.254.1.1, proxy ARP and a /32 route per veth. */
	CTL_CNI_ROUTED = 0,
	/*
	 * The CNI bridge plugin or flannel host-gw: veths enslaved to cni0, a pod's /24 with
	 * default via .1. Frames between pods of one node are switched, past the node's IP stack.
	 */
	CTL_CNI_BRIDGE,
};

/*
 * The address families of a local cluster (`local up --ip-family`, cluster.json "ipFamily").
 * Dual stack: nodes, pods and the fabric have an IPv6 address beside each IPv4 one, the IPv4
 * one's digits in the last group (cluster_ip6): 10.99.0.11 is fd00:99::11, pod 10.98.1.23 is
 * fd00:98:1::23 in its node's fd00:98:1::/64. IPv4 is the first family.
 * IPv6, as kubeadm's IPv6 single stack (and EKS's IPv6 mode): pods, Services and the nodes have
 * IPv6 alone, and everything a node reaches of the control plane (the API server, the CA, the
 * cluster's DNS, the nodes' resolver) it reaches over the fabric's IPv6 (cluster_fabric_ip). A
 * node and a pod still have their IPv4 slots in the plan (10.99.0.11, 10.98.1.23, whence
 * fd00:99::11, fd00:98:1::23), on no interface and never reported (node_host_ip, pod_ip4);
 * cluster.json keeps a node's slot as "ip" beside its "ip6", the layout's numbering. br0
 * keeps its 10.99.0.1, which no node has an address or a route to reach.
 */
enum ctl_ip_family {
	CTL_IP_IPV4 = 0,
	CTL_IP_DUAL,
	CTL_IP_IPV6,
};

struct ctl_node {
	char name[16];	   /* node1, node2, ... */
	int index;	   /* 1-based */
	int pod_net;	   /* the cluster's pod_base + index: its pods' third octet */
	char ip[16];	   /* 10.99.0.(10+index); IPv6: its slot alone (node_ip4) */
	char pod_cidr[24]; /* 10.98.<pod_net>.0/24 */
	char pod_gw[16];   /* 10.98.<pod_net>.1: cni0's address with --cni bridge; else unused */
	/* Dual stack and IPv6 ("" otherwise): fd00:99::<10+index>, fd00:98:<pod_net>::/64, ::1. */
	char ip6[40], pod_cidr6[40], pod_gw6[40];
	/* IPv6: its pods have no IPv4 (pod_cidr and pod_gw number them, route nothing of theirs).
	 */
	bool pods_v6only;
	char netns[CTL_NAME_MAX * 2];
	char cgroup[PATH_MAX];	  /* <cg2>/ambit-C/<node>/pods */
	char system_cg[PATH_MAX]; /* <cg2>/ambit-C/<node>/system */
	char pin_root[PATH_MAX];
	char socket[PATH_MAX];
	char kubelet_socket[PATH_MAX]; /* <run>/<node>/kubelet.sock */
	/* --kube only (cluster_set_kube): what the DaemonSet's hostPath volumes are here. */
	char host_bpffs[PATH_MAX];  /* its /sys/fs/bpf: /sys/fs/bpf/ambit/C-<node>_fs */
	char host_cgroup[PATH_MAX]; /* its /sys/fs/cgroup: <cg2>/ambit-C/<node> */
	char host_run[PATH_MAX];    /* its /run/ambit: <run>/<node>/run-ambit */
};

struct ctl_cluster {
	char name[CTL_NAME_MAX];
	char run_dir[PATH_MAX];
	char cg2[PATH_MAX];	/* cgroup2 mount */
	char cg_root[PATH_MAX]; /* <cg2>/ambit-C */
	char src_dir[PATH_MAX]; /* the -f DIR of `up` (pods' cwd), "" when unknown */
	/*
	 * `local up --kube`: the cluster looks like Kubernetes to its agents. Its objects live in
	 * an API server (tests/k8s/fake_apiserver.py) in the fabric netns, the agents and
	 * ztunnels run as the DaemonSet's containers, pods have kubelet cgroups named by UID.
	 */
	bool kube;
	enum ctl_cni cni;
	enum ctl_ip_family ip_family;
	/*
	 * The cluster and network its agents are in (their --cluster-id and --network, cluster.json
	 * "clusterId" and "network"), as Istio's multicluster names them: with `local up --network
	 * NET`, its name and NET (cluster_set_network); without, Istio's default id
	 * (SNAP_CLUSTER_ID) and "" (none).
	 */
	char cluster_id[CTL_LABEL_VALUE_MAX + 1];
	char network[CTL_LABEL_VALUE_MAX + 1];
	/*
	 * Its place on the machine's LoadBalancer network (lbnet.c): its fabric is 172.30.K.1 and
	 * fd00:30::K:1 there, its LoadBalancer Services' addresses 172.30.K.100 upward
	 * (cluster.json "lbIndex"); 0 when it has none (the host had the range), their Services
	 * stay <pending>.
	 */
	int lb_index;
	/*
	 * Added to each node's index for its pods' range (cluster.json "podBase", 0 when absent):
	 * a cluster joining another's network (`--network` the same) takes a multiple of 16 no
	 * cluster of that network has, so that their pods' addresses differ (lbnet_reserve).
	 */
	int pod_base;
	int nnodes;
	struct ctl_node nodes[CTL_MAX_NODES];
	bool quiet; /* not saved: a reconcile says no pod's start or removal (ctl_opts.quiet) */
};

/* One pod of the local cluster, as planned from the manifests. Strings owned unless noted. */
struct ctl_pod {
	char *namespace;
	char *name;
	char *owner;		     /* Deployment name, or NULL for a bare Pod */
	const struct ctl_node *node; /* borrowed from the cluster */
	uint32_t ip;		     /* network order */
	/* Its IPv4 slot: the address in dual stack, in IPv6 only the plan's number (pod_ip4). */
	char ip_str[16];
	char ip6_str[40]; /* dual stack, IPv6: its IPv6 address (cluster_ip6 of ip_str); else "" */
	char netns[CTL_NAME_MAX * 2];
	char iface[16];
	char cgroup[PATH_MAX];
	char pod_dir[PATH_MAX];
	char *service_account;
	const struct config_labels *labels;	 /* borrowed from the config */
	const struct config_labels *annotations; /* borrowed from the config, or NULL */
	const struct config_pod_spec *spec; /* borrowed: command, restartPolicy, securityContext */
	bool running;			    /* already in pods.json: keeps node, IP, veth */
	char uid[40];	  /* --kube: the Pod's metadata.uid, as the API server gave it; else "" */
	char created[32]; /* when it was first planned (RFC 3339), kept in pods.json */
	bool started;	  /* --kube: its kubelet started it (its Pod is Running, not Pending) */
	bool waypoint; /* an instance of a waypoint Gateway: the agent serves it in <pod_dir>/agent
			*/
};

/*
 * What the local cluster's gateway controller made for a waypoint Gateway (istiod's deployment
 * controller in Istio): the labels and spec of its one instance, owned by the plan.
 */
struct ctl_waypoint_pod {
	struct config_labels labels;
	struct config_labels annotations; /* Prometheus's, as the pod templates in deploy/ carry */
	struct config_pod_spec spec;
};

struct ctl_service_ip {
	char *key; /* ns/name */
	char *ip;  /* "": a SingleStack IPv6 Service, @ip6 alone */
	/* Its IPv6 VIP in a dual-stack cluster (a dual-stack one's cluster_ip6 of @ip); else "". */
	char ip6[40];
	/* A LoadBalancer Service's addresses on the LoadBalancer network (lbnet.c), or "". */
	char lb[16];
	char lb6[40];
};

/* The local cluster's ingress gateway (deploy/ingress.yaml.tmpl). */
#define CTL_INGRESS_NS "istio-system"
#define CTL_INGRESS_NAME "istio-ingressgateway"
#define CTL_INGRESS_LABEL CONFIG_LABEL_LOCAL_INGRESS
/* The proxies' metrics port (AMBIT_PORT_METRICS), as their prometheus.io/port annotation. */
#define CTL_METRICS_PORT "15020"
/* `local up --with-prometheus` without --prometheus-port: Prometheus's own default. */
#define CTL_PROM_PORT_DEFAULT 9090

struct ctl_plan {
	size_t npods, nservices, nwaypoints;
	struct ctl_pod *pods;
	struct ctl_service_ip *services;
	struct ctl_waypoint_pod *waypoints; /* pods[].labels and .spec point into it */
};

/* Common options of every command. */
struct ctl_opts {
	const char *cluster; /* --name, default "ambit" */
	const char *node;    /* --node, or NULL for all */
	bool json;	     /* -o json */
	bool follow;	     /* -f on logs */
	bool istioctl; /* run as istioctl: its words (✅ ...) and columns where they differ */
	bool quiet;    /* apply, label: no per-object or in-force lines (istioctl prints its own) */
};

/*
 * lbnet.c: the machine's LoadBalancer network, as MetalLB gives a kind cluster addresses on its
 * docker network: 172.30.0.0/16 and fd00:30::/64 on a bridge in netns ambit-external, the host
 * at 172.30.0.1 (interface ambit-ext), each cluster's fabric at 172.30.K.1.
 */
#define CTL_LB_NETNS "ambit-external"
#define CTL_LB_HOST_IF "ambit-ext"
/* A cluster's LoadBalancer addresses: 172.30.K.100 to 172.30.K.254 (and fd00:30::K:N). */
#define CTL_LB_FIRST 100
#define CTL_LB_LAST 254
/* Takes the lowest free index for @c (c->lb_index; 0 with a warning when the host has the
 * range). 0 or -errno. */
int lbnet_reserve(struct ctl_cluster *c);
/* Sets c->pod_base to @base and the nodes' pod ranges with it (both families as it has them). */
void cluster_set_pod_base(struct ctl_cluster *c, int base);
#define CTL_POD_BASE_STEP 16
/* Gives cluster @name's index back; the network goes with the last one. */
void lbnet_release(const char *name);
/* Joins @c's fabric to the network (made when it is not there) and routes its nodes to it. */
int lbnet_attach(const struct ctl_cluster *c);
/* Gives @p's LoadBalancer Services (of @cfg, in order) their addresses, kept from @existing. */
void plan_lb_ips(struct ctl_plan *p, const struct ctl_cluster *c, const struct config *cfg,
		 const cJSON *existing);
/* Puts @p's LoadBalancer addresses on the fabric and sends them to their Services' pods. */
int lbnet_sync(const struct ctl_cluster *c, const struct ctl_plan *p, const struct config *cfg);

/* cluster.c */
/* Fills @c with every name and path of cluster @name with @nnodes nodes. 0 or -errno. */
int cluster_init(struct ctl_cluster *c, const char *name, int nnodes);
/* Reads <run dir>/cluster.json of @name into @c. -ENOENT when the cluster is not up. */
int cluster_load(struct ctl_cluster *c, const char *name);
/*
 * The clusters that are up (a run dir holding cluster.json), by name: the first into @first,
 * all of them ", "-separated into @list. Their number.
 */
int cluster_list_up(char *first, size_t flen, char *list, size_t llen);
/* Tells on stderr that cluster @name is not up, and which are (or how to start one). */
void cluster_tell_not_up(const char *name);
int cluster_save(const struct ctl_cluster *c);
/*
 * cluster.json's document of @c (caller deletes), or NULL (ENOMEM); and @c (named @name) from
 * one (borrowed), its names and paths recomputed, malformed parts told on stderr as @what's:
 * 0 or -errno. cluster_save and cluster_load write and read it.
 */
cJSON *cluster_json(const struct ctl_cluster *c);
int cluster_from_json(struct ctl_cluster *c, const char *name, const cJSON *root, const char *what);
/*
 * `local up --network @network`: @c is in that network, and its name is its cluster id, as
 * Istio's multicluster has one id and one network per cluster. 0, or -EINVAL told on stderr as
 * @what's value (empty or no label value), or when the cluster's name is no label value.
 */
int cluster_set_network(struct ctl_cluster *c, const char *network, const char *what);
/* "routed" or "bridge" (static string). */
const char *cluster_cni_name(enum ctl_cni cni);
/* @name ("routed", "bridge") into *@cni. 0, or -EINVAL told on stderr as @what's value. */
int cluster_cni_parse(const char *name, const char *what, enum ctl_cni *cni);
const char *cluster_ip_family_name(enum ctl_ip_family f);
/* @name ("ipv4", "dual") into *@f. 0, or -EINVAL told on stderr as @what's value. */
int cluster_ip_family_parse(const char *name, const char *what, enum ctl_ip_family *f);
/* Dual stack, IPv6: the nodes' and their pod ranges' IPv6 addresses (no-op for IPv4 only). */
void cluster_set_ip_family(struct ctl_cluster *c, enum ctl_ip_family f);
/*
 * The IPv6 address of the local cluster's IPv4 address @v4 (a node's, a pod's, the fabric's:
 * 10.99.0.X is fd00:99::X, 10.98.N.H is fd00:98:N::H) into @out: 0, or -EINVAL for another.
 */
int cluster_ip6(const char *v4, char *out, size_t len);
/*
 * cluster_ip6's inverse for a pod (fd00:98:N::H is 10.98.N.H) into @out: 0, or -EINVAL for an
 * address that is no pod's. An IPv6 cluster's pods.json has their IPv6 alone, the plan's slot
 * numbering reads it back from there.
 */
int cluster_pod_slot(const char *v6, char *out, size_t len);

/* The IPv4 address a pod publishes and has on its eth0: "" in an IPv6 cluster. */
static inline const char *pod_ip4(const struct ctl_pod *pod)
{
	return pod->node->pods_v6only ? "" : pod->ip_str;
}
/* The IPv4 address a node has on its eth0 and publishes: "" in an IPv6 cluster. */
static inline const char *node_ip4(const struct ctl_node *n)
{
	return n->pods_v6only ? "" : n->ip;
}
/*
 * The node's status.hostIP and the second of its hostIPs ("" when none), as its kubelet reports
 * them and its agent's --node-ip takes them: in an IPv6 cluster its IPv6 alone, as in EKS's
 * IPv6 mode and kubeadm's IPv6 single stack (it has no other); IPv4 first, then the IPv6 of a
 * dual-stack node.
 */
static inline const char *node_host_ip(const struct ctl_node *n)
{
	return n->pods_v6only ? n->ip6 : n->ip;
}
static inline const char *node_host_ip2(const struct ctl_node *n)
{
	return n->pods_v6only ? "" : n->ip6;
}
/* Room for node_host_ips: two addresses and the comma. */
#define CTL_NODE_IPS_MAX (2 * sizeof(((struct ctl_node *)0)->ip6))
/*
 * The node's hostIPs comma-joined, IPv4 first (the fieldRef status.hostIPs, the agent's
 * --node-ip) into @buf of CTL_NODE_IPS_MAX; returns @buf.
 */
const char *node_host_ips(const struct ctl_node *n, char *buf, size_t len);
/*
 * The control plane's addresses as a node sees them (static strings): the fabric's (the API
 * server, the nodes' resolver, the dashboard's receivers), the cluster's DNS, and the fabric's
 * as a URL's host (bracketed when IPv6: https://[fd00:99::1]:6443). IPv6 in an IPv6 cluster,
 * whose nodes have no IPv4.
 */
const char *cluster_fabric_ip(const struct ctl_cluster *c);
const char *cluster_dns_ip(const struct ctl_cluster *c);
const char *cluster_fabric_host(const struct ctl_cluster *c);
/*
 * The fabric's own address on the machine's LoadBalancer network (lbnet.c), where other
 * clusters reach this one's API server (--kube): 172.30.K.1, fd00:30::K:1 in an IPv6 cluster (a
 * dual-stack one's is the IPv4, as its fabric's); bracketed when @url and IPv6. Into @buf: 0,
 * -ENOENT when the cluster has no place on that network (c->lb_index 0), or -ENAMETOOLONG.
 */
int cluster_lb_ip(const struct ctl_cluster *c, bool url, char *buf, size_t len);
/* Borrowed node by name, or NULL. */
const struct ctl_node *cluster_node(const struct ctl_cluster *c, const char *name);
/*
 * cluster_load of the -c cluster of @o into @c, and its -n node must exist; both errors are
 * told on stderr. 0 or -errno.
 */
int cluster_open(struct ctl_cluster *c, const struct ctl_opts *o);
/* Formats a path under the run dir: cluster_path(c, buf, len, "logs/%s.log", x). */
int cluster_path(const struct ctl_cluster *c, char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Pod netns name ambit-C-<ns>-<pod>, hashed when too long. */
void cluster_pod_netns(const struct ctl_cluster *c, const char *ns, const char *pod, char *buf,
		       size_t len);
/* The build's binary for the image's /usr/local/bin/@name (ambit-agent, ztunnel, waypoint). */
int cluster_image_bin(const char *name, char *bin, size_t len);
/* The waypoint binary ($AMBIT_WAYPOINT_BIN, libexec/ambit/waypoint, else beside ambitctl). */
int cluster_waypoint_bin(char *bin, size_t len);
/* The ambit-agent / ztunnel argv for @n into @argv (strings point into @store). */
int cluster_agent_argv(const struct ctl_cluster *c, const struct ctl_node *n, char *store,
		       size_t len, char **argv, size_t max);
int cluster_ztunnel_argv(const struct ctl_cluster *c, const struct ctl_node *n, char *store,
			 size_t len, char **argv, size_t max);

/*
 * --kube: connects @k to the cluster's API server (<run>/kube/fabric.kubeconfig: 10.99.0.1) from
 * inside the fabric netns, where it listens; *@saved is for cluster_kube_leave. 0 or -errno, told
 * on stderr.
 */
struct kconn;
/* Makes @c a --kube cluster: its nodes' pins, cgroups and sockets where the DaemonSet has them. */
int cluster_set_kube(struct ctl_cluster *c);
int cluster_kube_enter(const struct ctl_cluster *c, struct kconn *k, int *saved);
/* The same with the credentials of kubeconfig @file under <run>/ (<node>/kubelet.kubeconfig). */
int cluster_kube_enter_as(const struct ctl_cluster *c, const char *file, struct kconn *k,
			  int *saved);
void cluster_kube_leave(struct kconn *k, int saved);

/* plan.c */
/*
 * Expands @cfg into pods (placed, addressed) and service VIPs. Pods and Services already in
 * @existing (pods.json of the running cluster, borrowed, may be NULL) keep their node, addresses
 * and veth names. Prints errors; 0 or -errno.
 */
int plan_build(struct ctl_plan *p, const struct ctl_cluster *c, const struct config *cfg,
	       const cJSON *existing);
void plan_free(struct ctl_plan *p);

/* plan_vip.c */
/*
 * @cfg's Services' VIPs into @p (appended to p->services): each keeps the ones it has in
 * @existing (borrowed, may be NULL); by its ipFamilies and ipFamilyPolicy an IPv4 one, an IPv6
 * one beside it, or in a dual-stack cluster an IPv6 one alone (SingleStack [IPv6]). An IPv4
 * cluster refuses a Service asking for IPv6, as its API server would (-EINVAL, told on
 * stderr). 0 or -errno.
 */
int plan_services(struct ctl_plan *p, const struct ctl_cluster *c, const struct config *cfg,
		  const cJSON *existing);
/* The IPv4 VIP @p gives Service @ns/@name (borrowed), or NULL (none, or IPv6 alone). */
const char *plan_vip(const struct ctl_plan *p, const char *ns, const char *name);
/* Its IPv6 VIP (a dual-stack or IPv6 Service of a dual-stack cluster), or NULL. */
const char *plan_vip6(const struct ctl_plan *p, const char *ns, const char *name);
/* Service @ns/@name's entry in the plan (its VIPs, its LoadBalancer addresses), or NULL. */
const struct ctl_service_ip *plan_service_ip(const struct ctl_plan *p, const char *ns,
					     const char *name);

/* plan.c */
/* Writes runtime/pods.json atomically. */
int plan_write_pods_json(const struct ctl_plan *p, const struct ctl_cluster *c);
/* Writes /etc/netns/<pod netns>/hosts for every pod. */
int plan_write_hosts(const struct ctl_cluster *c, const struct ctl_plan *p,
		     const struct config *cfg);
/* Loads runtime/pods.json of @c as cJSON (caller deletes), or NULL with errno set. */
cJSON *plan_read_pods_json(const struct ctl_cluster *c);

struct sandbox;
/* cni.c: a node's pod network through the CNI plugins of its conflist (CNI 1.0). */
/* Writes <run>/<node>/cni.conflist for @c's mode. 0 or -errno. */
int cni_conflist_write(const struct ctl_cluster *c, const struct ctl_node *n);
/*
 * ADD: each plugin of @p's node's conflist in order on @p's netns (which exists), its host veth
 * named as the plan has it. On failure the list's DEL is run and @why says which plugin failed
 * and its error. 0 or -errno.
 */
int cni_add(const struct ctl_cluster *c, const struct ctl_pod *p, char *why, size_t len);
/*
 * The kubelet's RunPodSandbox for @s of node @n: its netns, its network (cni_add), its cgroup and
 * pod dir. Nothing when they are there already (a restarted kubelet). 0, or -errno with @why.
 */
int cni_sandbox_make(const struct ctl_cluster *c, const struct ctl_node *n, const struct sandbox *s,
		     char *why, size_t len);
/* StopPodSandbox: DEL, then the netns goes (with the veth). */
void cni_sandbox_remove(const struct ctl_cluster *c, const struct ctl_node *n,
			const struct sandbox *s);
/* DEL: the list in reverse for pod @ns/@name of node @n; every plugin is run. 0 or -errno. */
int cni_del(const struct ctl_cluster *c, const struct ctl_node *n, const char *ns, const char *name,
	    char *why, size_t len);

/* util.c */
/* Set by SIGINT/SIGTERM while `local up` runs: the next step fails and everything is undone. */
extern volatile sig_atomic_t ctl_interrupted;
/* Runs argv (no shell), quiet unless it fails; returns its exit status or -errno. */
int run_argv(char *const argv[]);
#define RUN(...) run_argv((char *const[]){__VA_ARGS__, NULL})
/* Returns from the calling function when @expr fails: its -errno, or -EIO for a failed command. */
#define TRY(expr)                                                                                  \
	do {                                                                                       \
		int __r = (expr);                                                                  \
		if (__r)                                                                           \
			return __r < 0 ? __r : -EIO;                                               \
	} while (0)
/* Enters netns /run/netns/@name; *saved gets the fd to come back with netns_leave. */
int netns_enter(const char *name, int *saved);
int netns_leave(int saved);

int sysctl_write(const char *key, const char *value);
bool pid_alive(int pid);
int read_pid_file(const char *path);
/* Loads manifests (a file or a dir) printing every diagnostic; 0 or -EINVAL/-errno. */
int load_manifests(struct config *cfg, const char *path);
/* Loads the store (state/) printing nothing but the first file that does not load. */
int load_state_quiet(struct config *cfg, const char *state);
/*
 * Whether namespace @ns is there in @cfg: a Namespace object, default or istio-system, or one
 * the local cluster's own manifests used without making it (their pods, Services...).
 */
bool state_ns_known(const struct config *cfg, const char *ns);
/* kubectl's words for it: Error from server (NotFound): namespaces "NS" not found. */
void tell_ns_not_found(const char *ns);
/*
 * gwdeploy.c, Istio's gateway deployment controller for the local cluster: the store brought in
 * line with the Services of its Gateways (control/gwservices.h) under its lock (0 or -errno,
 * said on stderr).
 */
int gwdeploy_sync(const char *state);
/* Directory of the running ambitctl binary (where ambit-agent and ztunnel are built). */
int self_dir(char *buf, size_t len);

/* prom.c: `local up --with-prometheus`. */
/* Is 127.0.0.1:@port free to listen on? 0, or -errno told on stderr. */
int prom_port_free(int port);
/* <run>/prometheus: its configuration, the mesh's rules, its data and targets directories. */
int prom_prepare(const struct ctl_cluster *c);
/* Runs prometheus in the fabric netns and forwards 127.0.0.1:@port to it; waits until it serves. */
int prom_start(const struct ctl_cluster *c, int port);
/* With prometheus prepared, its file_sd targets from pods.json @pods_json and the nodes; else 0. */
int prom_targets_write(const struct ctl_cluster *c, const cJSON *pods_json);
/* `local relay --netns N LOCAL:REMOTE` (hidden): forwards the host's loopback into netns N. */
int local_relay(int argc, char **argv);
/* up.c */
/* What `local up` makes, beyond the common options. */
struct local_up_opts {
	const char *dir; /* -f DIR: the manifests */
	int nnodes;
	bool kube;
	enum ctl_cni cni;
	enum ctl_ip_family family;
	/*
	 * istio-ingressgateway in istio-system too (deploy/ingress.yaml.tmpl), as Istio's demo
	 * profile installs it.
	 */
	bool ingress;
	int prom_port; /* Prometheus on the host's 127.0.0.1:@prom_port (prom.c), or 0 for none */
	/*
	 * --network: the cluster's network, its name its cluster id (cluster_set_network), and
	 * istio-system labelled topology.istio.io/network with it; NULL: none.
	 */
	const char *network;
};
int local_up(const struct ctl_opts *o, const struct local_up_opts *u);
/* kubeup.c: --kube's API server, credentials and `ambitctl install` into it. 0 or -errno. */
int kube_up(const struct ctl_cluster *c, const struct config_secret *cacerts);
/*
 * ambit installed into the cluster's API server as kube_up does it, or uninstalled from it
 * (@extra: more of `ambitctl uninstall`'s flags, NULL-ended; @reason: what the kubelets say of
 * the node components it stops, local_mesh_down). 0 or -errno.
 */
int kube_ambit(const struct ctl_cluster *c, const struct config_secret *cacerts, bool uninstall,
	       char *const *extra, const char *reason);
/*
 * The server the user's kubeconfig (<run>/kube/kubeconfig) names, https://127.0.0.1:PORT, into
 * @buf. 0, or -errno (@c is no --kube cluster, or its kubeconfig is gone).
 */
int kube_host_server(const struct ctl_cluster *c, char *buf, size_t len);
/* `ambitctl local kubeconfig`: prints the path of the user's kubeconfig of a --kube cluster. */
int local_kubeconfig(const struct ctl_opts *o);
/*
 * kmirror.c: has the API server of --kube cluster @c hold exactly its objects (state/) and the
 * pods of @p, and gives each pod its UID and its kubelet cgroup (pod<uid>). A pod not yet
 * .started is Pending, without an IP; called again once the kubelets started them, they turn
 * Running (the kubelet's status update). 0 or -errno.
 */
int kube_mirror(const struct ctl_cluster *c, struct ctl_plan *p, const char *state);
/*
 * The API server's current resourceVersion: what the agents report in force once they took
 * every change written so far (ambitctl apply waits for it). 0 or -errno, told on stderr.
 */
int kube_resource_version(const struct ctl_cluster *c, uint64_t *rv);
/*
 * kimport.c: the --kube cluster following its API server. kube_import writes into the store
 * what another client created, changed or deleted there (*@changed when it wrote any), its
 * caller holding the reconcile lock; state_reconcile then brings the cluster to it. Every
 * writer of a --kube cluster's store holds the reconcile lock (kube_reconcile_lock: an fd for
 * store_unlock; -1 for a cluster without --kube) from its import through its state_reconcile,
 * taken before the store's own lock.
 */
int kube_import(const struct ctl_cluster *c, bool *changed);
int kube_reconcile_lock(const struct ctl_cluster *c);
/*
 * What the last kube_import of this process saw, for the mirror that follows it: whether the
 * server held object @group/@kind @ns/@name ("" when cluster-scoped) then, and the server's
 * resourceVersion then (0 when no import ran or its listing failed: nothing is known). An
 * object the import saw that is gone, or one changed past that resourceVersion, was deleted or
 * changed by another hand since: the mirror leaves it for the next import (-EAGAIN).
 */
bool kube_import_saw(const char *group, const char *kind, const char *ns, const char *name);
uint64_t kube_import_rv(void);
/* Starts `ambitctl local kube-controller` for @c (its log: logs/kube-controller.log). */
int kube_controller_spawn(const struct ctl_cluster *c);
/*
 * `local kube-controller` (hidden): imports and reconciles whenever the API server moves, and
 * keeps ambit's own workloads' status (kube_workloads_status) and what @status_sync writes (the
 * objects' status as `ambitctl get` computes it: cli/kstatus.c, kube_status_sync, passed in by
 * the command, which this folder does not use) every few seconds.
 */
int local_kube_controller(const struct ctl_opts *o, int (*status_sync)(const struct ctl_cluster *));

/*
 * kworkload.c: writes the status of ambit's DaemonSet and Deployments in @c's API server (its
 * namespace's) as their controllers would, from what the nodes' kubelets run of them and their
 * containers' readiness probes; only a status that changed. 0 or -errno, told on stderr.
 */
int kube_workloads_status(const struct ctl_cluster *c);
/*
 * Scales the waypoint controller's Deployment to 0 through @k (in the fabric netns), saying why
 * in an annotation: the local cluster deploys waypoints itself. 0 or -errno, told on stderr.
 */
int kube_waypoint_controller_off(const struct kconn *k);
/*
 * Waits until @n's agent (@agent) or ztunnel answers as ready; fails early when the process
 * @pid the kubelet started for it is no longer the one running. 0 or -errno, told on stderr.
 */
int proc_wait_ready(const struct ctl_cluster *c, const struct ctl_node *n, bool agent, int pid);
/*
 * Makes a planned pod's netns, veth pair, addresses and routes as @c's pod network has them,
 * its cgroup and its scratch dir (borrows @c and @p). 0 or -errno.
 */
/* Sets sysctls @kv (key, value, ..., NULL) inside netns @netns. 0 or -errno. */
int sysctl_in(const char *netns, const char *const *kv);

/* sandbox.c: how a pod runs, as a container would (docs/internals/processes.md, "Pods"). */
/* The name of the cgroup below a pod's that its processes run in (struct sandbox). */
#define SANDBOX_CONTAINER_CG "container"

struct sandbox {
	/* @ip: the pod's IPv4 slot (struct ctl_pod's ip_str); an IPv6 cluster's pod has @ip6 alone.
	 */
	char namespace[256], name[256], node[16], ip[16], ip6[40];
	bool v6only;
	char netns[CTL_NAME_MAX * 2];
	char iface[16]; /* the node's end of its veth, as the plan named it */
	char cgroup[PATH_MAX];
	/*
	 * Where the pod's processes run: a cgroup below the pod's, as the kubelet runs each
	 * container in one below pod<uid>. The pod's cgroup is what the agent enrolls.
	 */
	char container_cg[PATH_MAX + 16];
	char pod_dir[PATH_MAX]; /* $AMBIT_POD_DIR: writable, at the same path inside */
	char var_dir[PATH_MAX]; /* <pod_dir>.rootfs: upper and work dirs of the pod's /var */
	char cwd[PATH_MAX];	/* the manifests dir, read-only inside */
	/*
	 * The directory of an absolute command under a path the pod gets its own of (/tmp, /run:
	 * ambit's own binaries when the tree lives there), read-only at the same path; or "".
	 */
	char exe_dir[PATH_MAX];
	/* ambit's own binaries (ambitctl's directory), read-only at the same path if masked; or ""
	 */
	char bin_dir[PATH_MAX];
	char hosts[PATH_MAX]; /* /etc/netns/<netns>/hosts, the pod's /etc/hosts */
	/* /etc/netns/<netns>/resolv.conf, the pod's /etc/resolv.conf (plan_write_hosts), or "" */
	char resolv[PATH_MAX];
	char **argv; /* malloc'd, NULL-terminated */
	enum config_restart_policy restart;
	unsigned int uid, gid;
	bool run_as_non_root, privileged, read_only_root, no_new_privs;
	uint64_t caps; /* bounding set, and effective for root */
	/* --kube's DaemonSet and Deployment pods (kpod.c): what a pod template asks beyond. */
	bool host_pid; /* hostPID: the host's pid namespace and /proc */
	struct sandbox_volume {
		char *host; /* a directory of the host (hostPath, or where a Secret was written) */
		char *path; /* its mountPath inside */
		bool ro;
	} * vols;
	size_t nvols;
	char **env; /* the container's own variables ("NAME=value", NULL-ended), or NULL */
};
#define SANDBOX_MAX_VOLS 16
/* Fills @s from @pod, an entry of pods.json (borrowed), for cluster @c. 0 or -errno. */
int sandbox_from_json(const struct ctl_cluster *c, const cJSON *pod, struct sandbox *s);
void sandbox_free(struct sandbox *s);
/*
 * @s->exe_dir: the directory of its absolute command when that lies where the pod gets a fresh
 * tree (ambit's binaries in a tree under /tmp), shared read-only at the same path; else "".
 */
void sandbox_exe_dir(struct sandbox *s);
/* Host directory @host at @path inside @s (read-only if @ro). 0, -E2BIG or -ENOMEM. */
int sandbox_add_volume(struct sandbox *s, const char *host, const char *path, bool ro);
/* --kube: where a waypoint pod finds its agent's socket (deploy/waypoint.yaml.tmpl). */
#define SANDBOX_WAYPOINT_AGENT_DIR "/run/ambit-waypoint"
/* Why @s cannot start as configured (runAsNonRoot with uid 0) into @why; 0 or -EPERM. */
int sandbox_check(const struct sandbox *s, char *why, size_t len);
/*
 * In a child already in new mount, pid, uts and ipc namespaces, the pod's netns and cgroup:
 * builds the pod's file system view (host read-only, private /tmp /run /var /dev /proc /sys,
 * no ambit state). 0, or -errno with the failed step in @why.
 */
int sandbox_mounts(const struct sandbox *s, char *why, size_t len);
/* Drops to the pod's user, groups and capabilities (no_new_privs when asked). 0 or -errno. */
int sandbox_identity(const struct sandbox *s, char *why, size_t len);
/*
 * The pod's environment, in place of the caller's (cleared): PATH (SANDBOX_PATH), HOSTNAME,
 * HOME, POD_NAME POD_NAMESPACE POD_IP NODE_NAME AMBIT_POD_DIR, then the container's own
 * variables (s->env), as a container runtime sets a process's from its image and spec alone.
 */
void sandbox_env(const struct sandbox *s);
/* A container's PATH when its image sets none: containerd's and the Docker engine's default. */
#define SANDBOX_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Whether @p lies under a directory a pod gets a fresh tree of (/tmp, /run, /dev, /proc, /sys). */
bool sandbox_masked(const char *p);

/* spawn.c */
struct spawn_req {
	char *const *argv;
	const char *cgroup;	   /* the child is born in it (CLONE_INTO_CGROUP) */
	const char *netns;	   /* entered first, or NULL */
	const char *cwd;	   /* NULL: "/" */
	const char *log;	   /* stdout and stderr, appended */
	const struct sandbox *pod; /* NULL: a node component, not isolated */
	/*
	 * "NAME=value" set on top of the inherited environment (a pod's: on top of its own
	 * alone, sandbox_env; the node's is not inherited); NULL-ended.
	 */
	char *const *env;
};
/*
 * Starts @r (borrowed) and returns once its command is exec'd: its pid (the caller reaps it),
 * or -errno with why, e.g. "exec: nginxx: No such file or directory", in @why.
 */
int spawn_start(const struct spawn_req *r, char *why, size_t len);

/* kubeletq.c: the kubelet as ambitctl sees it, over <run>/<node>/kubelet.sock (ipc.h). */
/* Starts @n's kubelet in the node's system cgroup and waits until it answers. 0 or -errno. */
int kubelet_spawn(const struct ctl_cluster *c, const struct ctl_node *n);
/* One request; the reply's "result" (caller deletes), or NULL with the error told on stderr
 * (unless @quiet) and in *err. */
cJSON *kubelet_call(const struct ctl_node *n, const char *req, bool quiet, int *err);

/*
 * mesh.c: ambit off a local cluster that stays up, and back (CTL_UNINSTALLED). Whether it is
 * off (@why: the text it was taken off with; may be NULL); down: the marker, then every node's
 * agent, ztunnel and CA stopped as deleted pods are, awaited; up: the marker gone, each started
 * and awaited ready. 0 or -errno, said on stderr.
 */
bool cluster_uninstalled(const struct ctl_cluster *c, char *why, size_t len);
int local_mesh_down(const struct ctl_cluster *c, const char *reason);
int local_mesh_up(const struct ctl_cluster *c);
/* local_mesh_down as cmd_install_local's hook (install/install.h), @arg one of these. */
struct local_mesh_down {
	const struct ctl_cluster *c;
	const char *reason;
};
int local_mesh_down_hook(void *arg);
/* The up local cluster whose kube/kubeconfig @path is (`local up --kube`), into @c. */
bool cluster_by_kubeconfig(const char *path, struct ctl_cluster *c);
/*
 * Starts (or stops, for good until started) @n's agent or ztunnel; *pid gets the new pid. A
 * start hands on the caller's ZTUNNEL_* (ztunnel) or AMBIT_AGENT_* (agent) variables: the
 * component runs with them, restarts included, until the next start.
 */
int kubelet_component(const struct ctl_node *n, bool start, bool agent, int *pid);
/*
 * Has @n's kubelet run exactly the pods pods.json gives its node; tells on stderr which new pod
 * failed to start and why, and with @verbose which started. 0 or -errno (a pod that failed to
 * start is no error: it exists, and its kubelet retries it as its restartPolicy says).
 */
int kubelet_sync(const struct ctl_node *n, bool verbose);
/* The record of @name ("agent", "ztunnel" or "ns/pod") in a status result, or NULL. */
const cJSON *kubelet_find(const cJSON *status, const char *name);
/* "CrashLoopBackOff (exit code 1)"-style one-line summary of record @rec into @buf. */
const char *kubelet_describe(const cJSON *rec, char *buf, size_t len);

/* down.c */
int local_down(const char *name, bool quiet);
/* Kills every process of cgroup tree @cg_root at once and removes the tree. 0 or -errno. */
int down_cgroups(const char *cg_root);

/* reboot.c */
/* `local reboot NODE`: what a reboot does to it; the agent and ztunnel after @agent_delay s. */
int local_reboot(const struct ctl_opts *o, const char *node, double agent_delay);
/* `local crash NODE agent|ztunnel`: SIGKILL to it @times, each time its kubelet restarted it. */
int local_crash(const struct ctl_opts *o, const char *node, const char *what, int times);
/* Kills a pod's processes and removes its cgroup, netns (with its veth), hosts and scratch dir. */
int pod_remove(const struct ctl_cluster *c, const char *node, const char *ns, const char *name,
	       const char *cgroup);
/* http.c: GET http://127.0.0.1:@port@path inside @netns; body malloc'd. Returns HTTP status
 * (>= 100) or -errno. */
int http_get_in_netns(const char *netns, int port, const char *path, char **body);
/* The same, quiet: what failed (curl's reason) goes to @err instead of stderr. */
int http_get_in_netns_err(const char *netns, int port, const char *path, char **body, char *err,
			  size_t errlen);

/*
 * GET @url (http or https, redirects followed, certificates verified) into a malloc'd *@body of
 * at most @cap bytes. 0, or -errno with the reason in @err.
 */
int http_fetch(const char *url, size_t cap, char **body, size_t *len, char *err, size_t errlen);
/* The same, but any HTTP status is an answer: 0 with its body and *@status. */
int http_fetch_status(const char *url, size_t cap, char **body, size_t *len, long *status,
		      char *err, size_t errlen);

/* apply.c: `apply|delete -f ... [-n NS] [--dry-run] [--wait=false] [--timeout D]` (@argv after
 * the command word). */
int cmd_apply(const struct ctl_opts *o, int argc, char **argv, bool remove);
/*
 * apply (or delete) of the manifest @text (borrowed), shown in messages as @label, with apply's
 * options in @argv (-n, --wait=false, --timeout; no -f needed). As cmd_apply.
 */
int apply_manifest(const struct ctl_opts *o, const char *label, const char *text, int argc,
		   char **argv, bool remove);
/* Writes the objects of @path (a file or dir) into @c's store as `apply` does, without waiting:
 * `local up`'s first apply. Prints diagnostics; per-object lines unless @quiet. 0 or -errno. */
int apply_store_path(const struct ctl_cluster *c, const char *path, bool quiet);
/*
 * rollout.c: waits up to @timeout_s until every node has store generation @gen in force, and
 * says so on stdout unless @quiet (a lag is told on stderr either way).
 */
int wait_generation(const struct ctl_cluster *c, uint64_t gen, int timeout_s, bool quiet);
/* state.c */
/* Brings the running cluster's pods and Service VIPs to what the store says. 0 or -errno. */
int state_reconcile(const struct ctl_cluster *c);
/*
 * `ambitctl label namespace NS k=v|k-...`: the Namespace's labels rewritten in the store; with
 * @timeout_s, waits (as apply) until every node has them in force. 0 or -errno.
 */
int cmd_label_namespace(const struct ctl_opts *o, const char *ns, char **changes, int n,
			int timeout_s);
/*
 * Namespace @ns of @c's store labelled @key=@value (`local up --network`): the label added to
 * it, its other labels and annotations kept, or a Namespace made with that label alone; written
 * as apply writes (no per-object line). 0 or -errno, told on stderr.
 */
int state_ns_label(const struct ctl_cluster *c, const char *ns, const char *key, const char *value);

#endif
