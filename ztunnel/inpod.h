/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-pod capture (bridge CNIs; the agent's side is userspace/agent/inpod.h). The agent hands the
 * ztunnel each enrolled pod's network namespace over SCM_RIGHTS on <agent dir>/inpod.sock; the
 * ztunnel then, for that pod:
 *  - listens inside its netns on 15001 (where connect4 sends the pod's outbound: pod_ip:15001),
 *    15006 (plaintext inbound, which tc_pod assigns there: published in inpod_socks by pod IP)
 *    and 15008 (HBONE, reached by the ordinary socket lookup); every worker accepts on them as
 *    on the node's listeners. A dual-stack pod (the agent's "add" names its IPv6) has the same
 *    three on [::]: connect6 sends its IPv6 to [pod_ip6]:15001 (the original destination in
 *    orig_dst6), its 15006 is published in inpod_socks6 by its IPv6;
 *  - opens the pod's outbound connections (HBONE and plain) from the pod's netns, so they leave
 *    with the pod's address and routes, HBONE pooled per pod;
 *  - delivers to the pod from inside its netns, with the client's address (IP_TRANSPARENT,
 *    IPV6_TRANSPARENT for an IPv6 client);
 *    tc_pod_egress on the pod's eth0 brings the pod's answers back through lo to that socket.
 * The module has one thread, which follows the agent (reconnecting) and owns the pods; workers
 * take its listeners on their loop when woken (zt_inpod_worker_sync) and look pods up by IP.
 * A removed pod's listeners close once every worker let them go.
 */
#ifndef ZT_INPOD_H
#define ZT_INPOD_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "net/sock.h"

struct zt_worker;

/*
 * Starts following the agent at <dirname(@agent_socket)>/inpod.sock (absent on a node in host
 * mode: tried again every second, silently). @socks_fd, @socks6_fd: the pinned inpod_socks and
 * inpod_socks6 maps (borrowed), or -1. 0 or -errno.
 */
int zt_inpod_start(const char *agent_socket, int socks_fd, int socks6_fd);
/*
 * A successor took over (the workers dropped the pods' listeners already): stops following the
 * agent and closes the listeners, so the successor can open its own; connections held go on.
 */
void zt_inpod_quiesce(void);
/* After the workers stopped: closes every pod's listeners and netns. */
void zt_inpod_stop(void);
/* @w takes part (at most 64 workers); @wake(@arg) wakes it from any thread. */
void zt_inpod_worker_add(struct zt_worker *w, void (*wake)(void *), void *arg);
/* @w leaves (its thread stopped). */
void zt_inpod_worker_remove(struct zt_worker *w);
/* How a worker takes a listener on its loop and lets go of it (accept.c's, passed in). */
struct listener;
struct zt_inpod_listen_ops {
	int (*add)(struct zt_worker *w, struct listener *li, int kind, int fd);
	void (*remove)(struct zt_worker *w, struct listener *li);
	/* A pod's 15001/udp listener: udp.c's zt_udp_listener_add and _remove. */
	void *(*udp_add)(struct zt_worker *w, int fd);
	void (*udp_remove)(struct zt_worker *w, void *handle);
};
/*
 * On @w's thread: takes new pods' listeners on its loop and lets go of removed ones' (all of them
 * with @drop: a successor took over).
 */
void zt_inpod_worker_sync(struct zt_worker *w, bool drop, const struct zt_inpod_listen_ops *ops);
/* At the worker's stop, its loop gone: frees its holds. */
void zt_inpod_worker_free(struct zt_worker *w);
/* On a worker's thread: the netns of in-pod pod @ip into *@out, valid until its callback ends. */
bool zt_inpod_ns(uint32_t ip, struct sock_ns *out);
/* The same by a dual-stack in-pod pod's IPv6 address. */
bool zt_inpod_ns6(const struct in6_addr *ip6, struct sock_ns *out);
/* The same by an address of either family (its port aside). */
bool zt_inpod_ns_of(const union sockaddr_inet *a, struct sock_ns *out);
/*
 * Whether a plain connection of the pod at @ip (network order; 0: none) or @ip6 (NULL or family
 * 0: none) can reach @a from where zt_connect_from_pod makes it: the pod's own routes when it
 * is captured in-pod (a pod of IPv6 alone reaches no IPv4 address), else the ztunnel's, where
 * IPv4 is taken as routable without asking (the node's uplink) and IPv6 is asked.
 */
bool zt_inpod_routable(uint32_t ip, const struct ipaddr *ip6, const struct ipaddr *a);
/*
 * Connects to local pod address @dst (either family) with source @src (as sock_connect): from
 * inside the pod's netns when the pod is captured in-pod; else from here.
 */
int zt_connect_to_pod(const union sockaddr_inet *dst, const union sockaddr_inet *src);
/* The same for UDP (sock_connect_udp): the socket a flow's datagrams go to the pod by. */
int zt_udp_to_pod(const union sockaddr_inet *dst, const union sockaddr_inet *src);
/*
 * Connects to @dst for local pod @from (its address, of @dst's family; the port is not used):
 * from its netns when it is in-pod (so from its address); else from here, from @from
 * (IP_TRANSPARENT) when @as_pod, from the node's own address otherwise.
 */
int zt_connect_from_pod(const union sockaddr_inet *from, const union sockaddr_inet *dst,
			bool as_pod);
/* A pod's listeners: 15001, 15006, 15008. */
#define ZT_INPOD_LISTENERS 3
/*
 * Hand-over (handover.c): @give(@arg, ip, netns inode, listeners, ip6, listeners6) for every
 * pod captured now (the listeners borrowed for the call; @ip6 NULL when the pod has no IPv6
 * listeners); 0 or the first -errno. And on the successor's side, a pod's listeners taken
 * (@fds: ZT_INPOD_LISTENERS, owned from here), its IPv4 ones by its IPv4 address and its IPv6
 * ones by its IPv6 address: the agent's "add" for that pod in that netns serves on them instead
 * of opening new ones (both processes accept on them until the predecessor lets go), so an
 * upgrade leaves no moment without a listener. What no "add" claims is closed at the agent's
 * "synced".
 */
int zt_inpod_export(int (*give)(void *arg, uint32_t ip, uint64_t ino, const int *fds,
				const struct in6_addr *ip6, const int *fds6),
		    void *arg);
void zt_inpod_adopt(uint32_t ip, uint64_t ino, const int *fds);
void zt_inpod_adopt6(const struct in6_addr *ip6, uint64_t ino, const int *fds);
/*
 * The DNS proxy's sockets and the agent (its inpod.h): on every connection to the agent,
 * @export(@arg, fds) gives the UDP and TCP sockets to deposit ("keep-dns"; borrowed, 0 or
 * -errno), and the agent's "dns" sockets go to @adopt(@arg, fds) (taken). Set before
 * zt_inpod_start.
 */
void zt_inpod_dns(int (*export_fn)(void *arg, int fds[2]), void (*adopt)(void *arg, int fds[2]),
		  void *arg);
/* Pods captured in-pod now (admin). */
unsigned int zt_inpod_count(void);

#endif
