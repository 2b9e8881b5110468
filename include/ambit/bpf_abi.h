/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every struct that crosses the kernel/user boundary, defined once. Included by the BPF programs
 * (after vmlinux.h) and by user space (after <linux/types.h>). Addresses and ports are stored in
 * network byte order unless a field name says otherwise.
 */
#ifndef AMBIT_BPF_ABI_H
#define AMBIT_BPF_ABI_H

#include "reasons.h"

/* Ports, compatible with Istio ambient (DESIGN.md §3). */
#define AMBIT_PORT_OUTBOUND 15001
#define AMBIT_PORT_INBOUND 15006
#define AMBIT_PORT_HBONE 15008
#define AMBIT_PORT_DNS 15053
#define AMBIT_PORT_ADMIN 15000
#define AMBIT_PORT_METRICS 15020
#define AMBIT_PORT_READY 15021

/*
 * skb mark the tc program sets on packets it assigns to a proxy socket, so that policy routing
 * (`ip rule fwmark AMBIT_SKB_MARK lookup AMBIT_ROUTE_TABLE`, `local 0.0.0.0/0 dev lo` in that
 * table) delivers them locally instead of forwarding them (KERNEL_NOTES.md, mechanism 2).
 */
#define AMBIT_SKB_MARK 0x539
#define AMBIT_ROUTE_TABLE 133
/*
 * Host capture, the node's own traffic to its pods (bpf/lib/nodeguard.h): tc_veth_egress turns a
 * segment of the node's for the ztunnel back into the node by the veth's ingress with
 * AMBIT_NODE_MARK (no pod's packet has a mark there: crossing netns clears it), where tc_ingress
 * assigns it to the ztunnel; the ztunnel's own connections to pods carry AMBIT_PROXY_MARK
 * (SO_MARK), which leaves them alone. Neither is a fwmark rule's: both route as unmarked.
 */
#define AMBIT_NODE_MARK 0x53a
#define AMBIT_PROXY_MARK 0x53b

/* Indexes of the proxy_socks SOCKMAP: the ztunnel inserts its transparent listeners there. */
enum ambit_proxy_sock {
	AMBIT_SOCK_INBOUND = 0, /* 15006, plaintext inbound */
	AMBIT_SOCK_HBONE = 1,	/* 15008, HBONE (mTLS) inbound */
	AMBIT_SOCK__COUNT,
};

/* workloads: pod IPv4 -> what the data path must know about it (all pods of the cluster). */
#define AMBIT_WL_ENROLLED (1u << 0) /* in the mesh: inbound is captured */
#define AMBIT_WL_LOCAL (1u << 1)    /* runs on this node */
/*
 * Captured in-pod (bridge CNIs, DESIGN.md §7): the ztunnel listens inside the pod's netns and the
 * tc program on the pod's own eth0 steers to it; the node-side programs leave the pod alone.
 */
#define AMBIT_WL_INPOD (1u << 2)
/* A local pod leaving ports out of capture: excl_ports holds them, by its veth's ifindex. */
#define AMBIT_WL_EXCL (1u << 3)

struct ambit_workload {
	__u32 flags;   /* AMBIT_WL_* */
	__u32 ifindex; /* host-side veth in the node netns, 0 if remote */
	__u32 node_ip; /* IPv4 of the node running it */
	__u32 pad;
};
_Static_assert(sizeof(struct ambit_workload) == 16, "ambit_workload ABI");

/*
 * enrolled_cgrp: cgroup v2 id of an enrolled pod -> the pod. Outbound capture keys on this: to the
 * node ztunnel's 15001, or with AMBIT_ENROLLED_INPOD to the ztunnel's 15001 in the pod's own netns
 * (pod_ip:15001, so the ztunnel finds the record by the client's pod address as in host mode).
 */
#define AMBIT_ENROLLED_INPOD (1u << 0)
/* Annotated ambient.istio.io/dns-capture: "false": its DNS is not sent to the ztunnel's proxy. */
#define AMBIT_ENROLLED_NO_DNS (1u << 1)
/* Leaves outbound ports out of capture: excl_ports holds them, by this cgroup id. */
#define AMBIT_ENROLLED_EXCL_OUT (1u << 2)

struct ambit_enrolled {
	__u32 pod_ip;
	__u32 flags; /* AMBIT_ENROLLED_* */
};
_Static_assert(sizeof(struct ambit_enrolled) == 8, "ambit_enrolled ABI");

/* pod_ifaces: ifindex of a pod's host-side veth -> the only source IP that pod may use. */
struct ambit_iface {
	__u32 pod_ip;
	__u32 pad;
};
_Static_assert(sizeof(struct ambit_iface) == 8, "ambit_iface ABI");

/* An IPv4 socket address; used as key of orig_dst and services. */
struct ambit_addr {
	__u32 ip;
	__u16 port;
	/*
	 * services: IPPROTO_UDP for a Service's UDP port, 0 for its TCP port (the only kind older
	 * agents wrote, so their entries stay TCP's); 0 in every other map.
	 */
	__u16 proto;
};
_Static_assert(sizeof(struct ambit_addr) == 8, "ambit_addr ABI");

/*
 * udp_lb, a UDP socket's storage: its Service flows, kept on one backend each as kube-proxy's
 * conntrack keeps a UDP flow on one endpoint. Up to AMBIT_UDP_LB_SLOTS (VIP, port) pairs, each
 * with the backend picked for it; every send to the VIP checks that backend is still the
 * Service's at that index (an endpoint gone is replaced at the next send), and recvmsg and
 * getpeername show the backend's answers as from the VIP. A socket sending to more Services
 * than there are slots replaces its oldest pin. IPv4 (and v4-mapped) only; udp_lb6 is IPv6's.
 */
#define AMBIT_UDP_LB_SLOTS 4
struct ambit_udp_flow {
	__u32 vip;   /* network order; 0: a free slot */
	__u16 vport; /* network order */
	__u16 bport; /* the backend's, network order */
	__u32 bip;
	__u32 service_id;
	__u32 index; /* of the backend in backends */
	__u32 pad;
};
_Static_assert(sizeof(struct ambit_udp_flow) == 24, "ambit_udp_flow ABI");

struct ambit_udp_lb {
	struct ambit_udp_flow f[AMBIT_UDP_LB_SLOTS];
	__u32 next; /* the slot the next new flow takes (modulo AMBIT_UDP_LB_SLOTS) */
	__u32 pad;
};
_Static_assert(sizeof(struct ambit_udp_lb) == 104, "ambit_udp_lb ABI");

/* udp_lb6, the same for a socket's flows to IPv6 Service VIPs (services6, backends6). */
struct ambit_udp_flow6 {
	__u32 vip[4]; /* network order; all zero: a free slot */
	__u32 bip[4];
	__u16 vport;
	__u16 bport;
	__u32 service_id;
	__u32 index;
	__u32 pad;
};
_Static_assert(sizeof(struct ambit_udp_flow6) == 48, "ambit_udp_flow6 ABI");

struct ambit_udp_lb6 {
	struct ambit_udp_flow6 f[AMBIT_UDP_LB_SLOTS];
	__u32 next;
	__u32 pad;
};
_Static_assert(sizeof(struct ambit_udp_lb6) == 200, "ambit_udp_lb6 ABI");

/* Value of sock_orig (by socket cookie) and orig_dst (by the pod socket's local address). */
#define AMBIT_ORIG_REDIRECTED (1u << 0) /* steered to the ztunnel */
#define AMBIT_ORIG_SERVICE_LB (1u << 1) /* VIP rewritten to a backend in the kernel */
#define AMBIT_ORIG_DNS (1u << 2)	/* TCP to port 53 steered to the DNS proxy (15053) */

struct ambit_orig_dst {
	__u32 ip; /* destination the application asked for */
	__u16 port;
	__u16 flags;  /* AMBIT_ORIG_* */
	__u64 cgroup; /* cgroup id of the connecting pod */
};
_Static_assert(sizeof(struct ambit_orig_dst) == 16, "ambit_orig_dst ABI");

/* services: (ClusterIP, port) -> its backends, which live in backends[(id, 0..count-1)]. */
struct ambit_service {
	__u32 id;
	__u32 backend_count;
};
_Static_assert(sizeof(struct ambit_service) == 8, "ambit_service ABI");

struct ambit_backend_key {
	__u32 service_id;
	__u32 index;
};
_Static_assert(sizeof(struct ambit_backend_key) == 8, "ambit_backend_key ABI");

struct ambit_backend {
	__u32 ip;
	__u16 port;
	__u16 pad;
};
_Static_assert(sizeof(struct ambit_backend) == 8, "ambit_backend ABI");

/*
 * A ServiceEntry's UDP port at one of its addresses (its own /32 or /128, or the one allocated to
 * its host): a services (services6) entry whose only backend is all zero, address and port, which
 * no endpoint can be. The kernel balances nothing there: an enrolled pod's datagrams to it,
 * port 53's too (the resolver it names is asked, not the DNS proxy), go to its node's ztunnel,
 * which routes them to the entry's endpoints (docs/udp.md); anyone else's go on as addressed.
 */
#define AMBIT_SERVICE_ENTRY_UDP_BACKENDS 1u

/*
 * Kernel fast drops of what L4 policy forbids before any handshake (DESIGN.md §2). The agent
 * writes these from the compiled policy set; the ztunnel still enforces the same policy, so
 * an entry missing here costs a handshake, never a wrong decision.
 *
 * strict_ports: (local enrolled pod IPv4, workload port in network order, or 0 = every port
 * without its own entry) -> what plaintext (non-HBONE) new flows to it get.
 */
#define AMBIT_PLAINTEXT_ALLOW 0 /* PERMISSIVE/DISABLE: the ztunnel's 15006 listener decides */
#define AMBIT_PLAINTEXT_DROP 1	/* STRICT PeerAuthentication: no peer identity, no entry */

struct ambit_strict_port {
	__u32 mode; /* AMBIT_PLAINTEXT_* */
	__u32 pad;
	__u64 drops; /* packets dropped by this entry (atomic add in BPF) */
};
_Static_assert(sizeof(struct ambit_strict_port) == 16, "ambit_strict_port ABI");

/*
 * deny_src (LPM trie): a DENY AuthorizationPolicy whose rule constrains nothing but the
 * source ipBlocks, expanded per destination pod it selects. The destination is matched
 * whole (prefixlen = 32 + source prefix length), so one trie serves every pod of the node.
 */
struct ambit_deny_src_key {
	__u32 prefixlen; /* 32 + source prefix length */
	__u32 dst_ip;	 /* local enrolled pod */
	__u32 src_ip;	 /* source block address (host bits zero) */
};
_Static_assert(sizeof(struct ambit_deny_src_key) == 12, "ambit_deny_src_key ABI");

struct ambit_deny_src {
	__u64 drops; /* packets dropped by this entry (atomic add in BPF) */
};
_Static_assert(sizeof(struct ambit_deny_src) == 8, "ambit_deny_src ABI");

/*
 * The DNS proxy's answers the kernel gives again (DESIGN.md §2 "DNS in the kernel"): the ztunnel
 * publishes each answer it made for a pod over UDP, by the pod's address and the query's bytes
 * after its id; the tc program on the pod's veth answers the same query again by rewriting the
 * packet into the answer (the query's id in it), without the proxy's socket. No DNS parsing in
 * the kernel: the query is compared byte for byte. An entry counts only while its generation is
 * dns_gen[0], which the ztunnel sets from its snapshot's version on every install (and anew
 * when it starts), so an answer never outlives the configuration it was made from.
 */
#define AMBIT_DNS_QMAX 128 /* query bytes after the id: longer ones are left to the proxy */
#define AMBIT_DNS_AMAX 512 /* answer bytes, the id included (RFC 1035's UDP size) */

struct ambit_dns_key {
	__u32 pod_ip; /* the client */
	__u16 qlen;   /* query bytes after the id, 10..AMBIT_DNS_QMAX */
	__u16 pad;
	__u8 q[AMBIT_DNS_QMAX]; /* zero past qlen */
};
_Static_assert(sizeof(struct ambit_dns_key) == 136, "ambit_dns_key ABI");

struct ambit_dns_answer {
	__u32 gen;  /* dns_gen[0] when published */
	__u16 alen; /* 12..AMBIT_DNS_AMAX */
	__u16 pad;
	__u64 hits; /* queries the kernel answered with it (atomic add in BPF) */
	__u8 a[AMBIT_DNS_AMAX];
};
_Static_assert(sizeof(struct ambit_dns_answer) == 528, "ambit_dns_answer ABI");

/*
 * dns_answers6: the same for a pod's queries over IPv6 (to [the ztunnel's IPv6]:15053), by its
 * IPv6 address, the value an ambit_dns_answer under the same dns_gen. A pod of both families
 * asking the same question over each has an entry in each map: the answer is made for the
 * address it was asked from.
 */
struct ambit_dns_key6 {
	__u32 pod_ip6[4]; /* the client, network order */
	__u16 qlen;	  /* as ambit_dns_key's */
	__u16 pad;
	__u8 q[AMBIT_DNS_QMAX]; /* zero past qlen */
};
_Static_assert(sizeof(struct ambit_dns_key6) == 148, "ambit_dns_key6 ABI");

/*
 * IPv6 (DESIGN.md §11): maps of their own beside the IPv4 ones, so an IPv4 key stays 4 or 8 bytes
 * and a node without IPv6 pays for none of them (every *6 hash is allocated as used). Keys and
 * values name the same things as their IPv4 twins; an address is 16 bytes, network order.
 *
 * workloads6:   struct ambit_ip6 -> struct ambit_workload (node_ip: the node's IPv4, or 0)
 * pod_ifaces6:  host-side veth ifindex -> struct ambit_ip6, the pod's one global IPv6 source
 *               (besides link-local and ::, which neighbour discovery sends from)
 * services6:    struct ambit_addr6 -> struct ambit_service; backends6: its ambit_addr6 backends
 * sock_orig6:   a pod socket's own storage (no LRU: it lives and dies with the socket)
 * orig_dst6:    struct ambit_addr6 (the pod socket's local address) -> struct ambit_orig_dst6
 * dns_orig6:    a UDP socket's storage: the IPv6 server its port-53 traffic was meant for
 * proxy_socks6: the ztunnel's IPv6 listeners, by enum ambit_proxy_sock
 * strict_ports6, deny_src6: strict_ports and deny_src for IPv6 pods
 * enrolled_ip6: an in-pod enrolled pod's cgroup v2 id -> struct ambit_ip6, its IPv6, where
 *               connect6 sends its IPv6 ([that]:15001); absent: its native IPv6 is refused
 * inpod_socks6: struct ambit_ip6 (an in-pod pod's IPv6) -> its ztunnel 15006 listener on [::]
 */
struct ambit_ip6 {
	__u32 a[4];
};
_Static_assert(sizeof(struct ambit_ip6) == 16, "ambit_ip6 ABI");

struct ambit_addr6 {
	__u32 ip6[4];
	__u16 port;
	__u16 proto; /* as ambit_addr's: services6 keys a UDP port by IPPROTO_UDP, else 0 */
};
_Static_assert(sizeof(struct ambit_addr6) == 20, "ambit_addr6 ABI");

struct ambit_orig_dst6 {
	__u32 ip6[4]; /* destination the application asked for */
	__u16 port;
	__u16 flags; /* AMBIT_ORIG_* */
	__u32 pad;
	__u64 cgroup; /* cgroup id of the connecting pod */
};
_Static_assert(sizeof(struct ambit_orig_dst6) == 32, "ambit_orig_dst6 ABI");

struct ambit_deny_src6_key {
	__u32 prefixlen;  /* 128 + source prefix length */
	__u32 dst_ip6[4]; /* local enrolled pod */
	__u32 src_ip6[4]; /* source block address (host bits zero) */
};
_Static_assert(sizeof(struct ambit_deny_src6_key) == 36, "ambit_deny_src6_key ABI");

/*
 * sentry_cidrs, sentry_cidrs6 (LPM tries): a ServiceEntry's UDP port over each of its CIDR
 * blocks (`addresses: [198.51.100.0/24]`), as services holds one at an address (above,
 * AMBIT_SERVICE_ENTRY_UDP_BACKENDS): an enrolled pod's datagrams to an address of the block
 * there go to the ztunnel, which routes them by the entry (lib/sentry.h). The port (and the
 * zero pad) is matched whole: prefixlen = 32 + the block's length. Written by the agent only;
 * the value counts nothing (1).
 */
struct ambit_sentry_cidr_key {
	__u32 prefixlen; /* 32 + the block's prefix length */
	__u16 port;	 /* network order */
	__u16 pad;	 /* zero */
	__u32 ip;	 /* the block's address (host bits zero) */
};
_Static_assert(sizeof(struct ambit_sentry_cidr_key) == 12, "ambit_sentry_cidr_key ABI");

struct ambit_sentry_cidr6_key {
	__u32 prefixlen; /* 32 + the block's prefix length */
	__u16 port;	 /* network order */
	__u16 pad;	 /* zero */
	__u32 ip6[4];	 /* the block's address (host bits zero) */
};
_Static_assert(sizeof(struct ambit_sentry_cidr6_key) == 24, "ambit_sentry_cidr6_key ABI");

/*
 * preflows, preflows6: the TCP flows an enrolled pod of this node captured the host way had open
 * when it was enrolled, each as its packets to the pod carry it (source: the peer, destination:
 * the pod). In host capture the node cannot see the pod's own sockets, so a segment to a captured
 * pod that is not a SYN and that no socket of the node owns passes to the pod only when its flow
 * is here; any other is refused (lib/preflow.h). The agent writes them when it enrols the pod,
 * before the pod is captured and once more right after (a connection that opened in between), and
 * removes a pod's when the pod leaves the mesh and an ended flow's when it next looks. LRU: a node
 * with more open flows at enrolment than AMBIT_MAX_PREFLOWS loses the least recently used, whose
 * next segment is then answered with a reset. In-pod capture needs none: its programs see the
 * pod's sockets.
 */
struct ambit_flow {
	__u32 saddr; /* the peer */
	__u32 daddr; /* the pod */
	__u16 sport;
	__u16 dport;
};
_Static_assert(sizeof(struct ambit_flow) == 12, "ambit_flow ABI");

struct ambit_flow6 {
	__u32 saddr[4]; /* the peer */
	__u32 daddr[4]; /* the pod */
	__u16 sport;
	__u16 dport;
};
_Static_assert(sizeof(struct ambit_flow6) == 36, "ambit_flow6 ABI");

struct ambit_preflow {
	__u64 packets; /* segments passed by this entry (atomic add in BPF) */
};
_Static_assert(sizeof(struct ambit_preflow) == 8, "ambit_preflow ABI");

/*
 * node_cfg[0]: what the node's programs know of the node itself. kubelet_cgroup is the cgroup v2
 * id of the kubelet's sockets: a connection they open from the node to an enrolled pod is its
 * probe, let through past the mesh as Istio lets the kubelet's probes through; 0 (not found):
 * none is (bpf/lib/nodeguard.h).
 */
struct ambit_node_cfg {
	__u64 kubelet_cgroup;
};
_Static_assert(sizeof(struct ambit_node_cfg) == 8, "ambit_node_cfg ABI");

/*
 * probe_flows: the kubelet's SYN to an in-pod pod seen at the pod veth's egress, by its 4-tuple
 * (IPv4 addresses in the first word, the rest zero), for tc_pod in the pod's netns to let it by.
 */
struct ambit_probe_flow {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport, dport;
	__u32 pad;
};
_Static_assert(sizeof(struct ambit_probe_flow) == 40, "ambit_probe_flow ABI");

#define AMBIT_MAX_WORKLOADS 65536
#define AMBIT_MAX_SERVICES 16384
#define AMBIT_MAX_BACKENDS 131072
#define AMBIT_MAX_IFACES 4096
#define AMBIT_MAX_TRACKED_SOCKS 262144
#define AMBIT_MAX_STRICT_PORTS 65536
#define AMBIT_MAX_DENY_SRC 65536
#define AMBIT_MAX_SENTRY_CIDRS 4096 /* (block, UDP port) pairs of ServiceEntries, per family */
#define AMBIT_MAX_DNS_ANSWERS 8192
/* orig_dst6 holds a record from a pod's connect() until the ztunnel accepts it, no longer. */
#define AMBIT_MAX_PENDING6 65536
#define AMBIT_MAX_PREFLOWS 65536
/* A probe's SYN waits in probe_flows only from the node's veth to the pod's eth0. */
#define AMBIT_MAX_PROBE_FLOWS 4096
/*
 * udp_replies: UDP flows that went past the mesh, each keyed as its answer comes (struct
 * ambit_flow: the answer's source, its destination, their ports), conntrack's "reply"
 * direction: what an enrolled pod of the node sent past it (to a destination outside the mesh,
 * or from a port it leaves out of capture), whose answer passes a STRICT port; and what such a
 * pod took in plaintext from an enrolled workload (one leaving the port out), whose answer goes
 * back as it came rather than into the mesh. The least recently used goes first.
 */
#define AMBIT_MAX_UDP_REPLIES 65536

/*
 * excl_ports: the ports an enrolled pod of the node leaves out of capture, as Istio's annotations
 * traffic.sidecar.istio.io/excludeOutboundPorts and excludeInboundPorts say (docs/capture.md).
 * The socket layer knows a pod by its cgroup, tc by its veth, so one port is written once for
 * each place that asks: an outbound TCP port by the pod's cgroup id for connect (AMBIT_EXCL_OUT,
 * with AMBIT_ENROLLED_EXCL_OUT in its enrolled_cgrp entry), and every port by its host-side
 * veth's ifindex for tc (AMBIT_EXCL_OUT_IFACE: UDP leaving the pod, and its own TCP's answers
 * let back; AMBIT_EXCL_IN_IFACE: TCP and UDP to the pod, plaintext, past STRICT), with
 * AMBIT_WL_EXCL in its workloads entries. The value is unused (1).
 */
#define AMBIT_EXCL_OUT 1
#define AMBIT_EXCL_OUT_IFACE 2
#define AMBIT_EXCL_IN_IFACE 3
#define AMBIT_MAX_EXCL_PORTS 65536

struct ambit_excl_key {
	__u64 id;   /* cgroup v2 id (AMBIT_EXCL_OUT) or host-side veth ifindex */
	__u16 port; /* network order: the destination port */
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 dir;   /* AMBIT_EXCL_* */
	__u32 pad;
};
_Static_assert(sizeof(struct ambit_excl_key) == 16, "ambit_excl_key ABI");

/*
 * excl_replies, excl_replies6: the TCP an enrolled pod sends past the mesh on a port it leaves
 * out of capture, keyed as its answers come (struct ambit_flow: the peer, the pod, their ports),
 * written at its SYN, so those answers reach the pod where a captured pod's segments without a
 * SYN or a socket of the node's are refused (lib/preflow.h); the least recently used goes first.
 */
#define AMBIT_MAX_EXCL_REPLIES 65536

/*
 * udp_frags: the fragmented datagrams whose first piece tc handed to a socket of the ztunnel's
 * (a flow's, or the UDP listener), by their addresses and Identification (an IPv4 address in
 * [0]), so the later pieces, which carry no ports, follow it: marked for the node to reassemble
 * for that socket. Any other datagram's pieces go on as they came (one a pod sends to a port it
 * leaves out of capture, DNS to the proxy's port, to a destination outside the mesh). The value
 * says which: AMBIT_FRAG_FOLLOW; or AMBIT_FRAG_DROP, an in-pod pod's new flow whose first
 * datagram came in pieces, dropped with them (its netns would reassemble it for no socket).
 */
#define AMBIT_MAX_UDP_FRAGS 16384
#define AMBIT_FRAG_FOLLOW 1
#define AMBIT_FRAG_DROP 2
/*
 * udp_pending, udp_pending6: a new flow whose first datagram came in pieces, keyed as it goes
 * (struct ambit_flow: the pod, the destination, their ports). tc hands its first piece to the
 * ztunnel's listener, but the kernel drops that hand-over when it reassembles the datagram
 * (ip_defrag orphans each piece): sk_lookup_udp, which the kernel runs for the whole datagram's
 * socket look-up in the node's netns, gives it to the listener in udp_socks instead (and takes
 * the entry). udp_socks: the ztunnel's 15001/udp listeners, [0] on 0.0.0.0, [1] on [::].
 */
#define AMBIT_MAX_UDP_PENDING 4096

struct ambit_frag_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 id; /* network order, as the header carries it */
};
_Static_assert(sizeof(struct ambit_frag_key) == 36, "ambit_frag_key ABI");

#endif
