/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UDP flows through the ztunnel (docs/udp.md). Inbound, a CONNECT-UDP on 15008 that
 * zt_hbone_accept let through becomes a flow to the destination pod: its datagrams go to the pod
 * from a socket bound (IP_TRANSPARENT) to the client's address and connected to the pod's port,
 * so the pod sees the client, and the pod's answers, which tc hands back to that socket
 * (steer_udp_return in bpf/lib/steer.h), go back on the flow's stream. A flow ends when either
 * side ends its stream, or after an idle time as the kernel's conntrack counts UDP: 30 s while
 * only the client has sent, 120 s once the pod answered (nf_conntrack_udp_timeout and
 * _timeout_stream), each settable.
 */
#ifndef ZT_UDP_H
#define ZT_UDP_H

#include <stdint.h>

#include "net/sock.h"

struct zt_worker;
struct hbone_request;
struct hbone_upstream;

struct zt_udp_limits {
	unsigned int idle_s; /* a flow the pod has not answered: no datagram either way (30) */
	unsigned int stream_idle_s; /* ... once it answered (120) */
	/*
	 * The pods' flows out of the node (16384), and of one identity (2048): at the cap the
	 * least recently active flow (of that identity) is reclaimed for the new one. 0: none.
	 * Flows in are HBONE streams, capped as such (--max-streams-per-identity).
	 */
	unsigned int max_flows;
	unsigned int max_flows_per_identity;
};

/* The defaults above. */
void zt_udp_limits_default(struct zt_udp_limits *l);

/* Counted over all workers since the start (for ambitctl and the metrics). */
struct zt_udp_counts {
	uint64_t flows_opened, flows_closed, flows_idle; /* idle: ended by the idle time */
	uint64_t flows_refused;	  /* a pod's datagram that opened no flow (no route, no cert...) */
	uint64_t flows_reclaimed; /* ended for a new one at a cap (max_flows...) */
	uint64_t to_pod, to_pod_dropped;     /* datagrams to pods, and not taken */
	uint64_t from_pod, from_pod_dropped; /* answers, and dropped (flow full) */
};
void zt_udp_counts(struct zt_udp_counts *out);
/* Those counts in Prometheus' text format (ambit_udp_*), malloc'd; NULL without memory. */
char *zt_udp_render(void);

/*
 * The pod's end of an accepted CONNECT-UDP to @dst (a pod of this node, in-pod or not), from
 * @src (the client's verified address, NULL: the ztunnel's own): its socket opened and the
 * flow's in-process end set in @up. 0 or -errno (the accept answers 503).
 */
int zt_udp_inbound(struct zt_worker *w, const struct hbone_request *req,
		   const union sockaddr_inet *dst, const union sockaddr_inet *src,
		   struct hbone_upstream *up);

/*
 * Outbound: the listener tc hands a pod's new flows to (bpf/lib/steer.h, steer_udp_capture; an
 * in-pod pod's is made in its netns by inpod.c, for steer_pod_lo_udp), 0.0.0.0:15001/udp
 * (AF_INET) or [::]:15001/udp (AF_INET6, IPv6 only), by sock_udp_listen_orig with
 * AMBIT_PROXY_MARK: fd or -errno.
 */
int zt_udp_listen(int family);
/*
 * Worker @w reads @fd and @fd6 (IPv4's and IPv6's listener, borrowed; 0 or -1: none): each datagram
 * of a pod's new flow opens a CONNECT-UDP stream to its destination's ztunnel, as the pod's
 * identity, and a socket bound to the destination and connected to the pod, which carries the rest
 * of the flow both ways. Flows through waypoints and to other networks are not carried yet
 * (refused, counted, logged). One worker reads it, and the in-pod pods' listeners too
 * (zt_udp_listener_add): a flow's first datagrams meet one flow table. 0 or -errno.
 */
int zt_udp_start(struct zt_worker *w, int fd, int fd6);

/*
 * An in-pod pod's listener @fd (sock_udp_listen_orig) on @w's loop when @w is the UDP worker
 * (zt_udp_start): its handle; NULL when @fd is none (-1), @w is another worker, or it failed
 * (errno set, else 0). The in-pod module takes it through zt_inpod_listen_ops.
 */
void *zt_udp_listener_add(struct zt_worker *w, int fd);
/* Off @w's loop, its pending events dropped, freed after the batch. NULL: nothing. */
void zt_udp_listener_remove(struct zt_worker *w, void *handle);
/* At shutdown, after the HBONE pool is gone: frees what flows are left, and the listener's. */
void zt_udp_stop(struct zt_worker *w);

#endif
