/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-pod capture (bridge CNIs: flannel, the bridge plugin; DESIGN.md §7). Frames between pods of
 * one bridge never pass the node's IP stack, so the node-side tc program cannot see them: as
 * Istio ambient does, the ztunnel listens inside each enrolled pod's own network namespace. For
 * every enrolled pod of the node the agent:
 *  - finds the pod's netns from its cgroup (podns_in_cgroup) and keeps an fd to it;
 *  - sets the netns up: accept_local on lo and the fwmark policy route (both over rtnetlink:
 *    netsetup.h), and tc_pod (ingress) and tc_pod_egress on the
 *    interface holding the pod's IP (tc_pod_egress turns the pod's answers to the ztunnel's
 *    spoofed-source connections back into lo, marked for that route; no sysctl is written, so
 *    a container whose /proc/sys is read-only can do it);
 *  - hands the netns fd to every connected ztunnel over SCM_RIGHTS, on the SOCK_SEQPACKET
 *    socket AMBIT_INPOD_SOCKET beside the agent socket:
 *      agent -> ztunnel  "add <ip> <uid>[ <ip6>]" + the netns fd | "del <ip>[ <ip6>]" |
 *                        "synced"
 *                        (<ip6>: a dual-stack pod's IPv6, which the ztunnel listens for too;
 *                        a ztunnel older than it reads the first two words alone. An
 *                        IPv6-only pod is "add 0.0.0.0 <uid> <ip6>", "del 0.0.0.0 <ip6>":
 *                        known by its IPv6, its IPv4 listeners kept but reached by nothing)
 *      ztunnel -> agent  "fail <ip> <uid>: <why>" (a pod it could not capture: handed to
 *                        that ztunnel again after 250 ms, doubling to 8 s, until it takes it)
 *      ztunnel -> agent  "ok <ip> <uid>" (its listeners are up in the pod's netns)
 *    A ztunnel that connects gets every pod, then "synced" (it drops what was not re-added);
 *  - keeps the DNS proxy's sockets (UDP and TCP 15053) for the ztunnels, so that a restarting
 *    ztunnel finds the queries sent meanwhile queued there, not refused:
 *      ztunnel -> agent  "keep-dns" + its UDP and TCP sockets (kept unless some are already)
 *      agent -> ztunnel  "dns" + the sockets kept, first thing on connecting (it serves them);
 *  - and only when every connected ztunnel said "ok" marks the pod in-pod in the maps
 *    (desired_mark_inpod): connect4 goes to the pod's own 15001 (connect6, for a dual-stack pod,
 *    to its own [IPv6]:15001 by enrolled_ip6), the node-side tc leaves it to tc_pod. Before, a
 * connection the pod opened meanwhile would find no listener there (a loaded node takes a while to
 * schedule the ztunnel's in-pod thread). A pod already in-pod in the pinned maps (an agent
 * restarted) stays marked; a ztunnel that never answers (one older than "ok") is waited for
 * INPOD_ACK_WAIT_MS. A pod that cannot be set up yet (no process in its cgroup) stays as it was and
 * is tried again soon. A pod that leaves the mesh is let go of by the ztunnels at once ("del"; the
 * maps no longer send it there), but its netns keeps its set-up while connections the ztunnel
 * made to it with their client's address are open (sock_diag, netsetup_foreign_conns): without
 * tc_pod_egress and the route, the pod's answers on them would leave eth0 for the client itself,
 * and a request in flight at the label's removal would hang. At most INPOD_DRAIN_MS, then they
 * are reset. The node's mode is --capture-mode host|inpod|auto; auto takes in-pod when
 * the pods' host-side veths are ports of a Linux bridge (inpod_detect).
 */
#ifndef AMBIT_AGENT_INPOD_H
#define AMBIT_AGENT_INPOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "l4/desired.h"
#include "server.h"

#define AMBIT_INPOD_SOCKET "inpod.sock"
#define INPOD_MAX_ZTUNNELS 4

enum capture_mode { CAPTURE_AUTO = 0, CAPTURE_HOST, CAPTURE_INPOD };

struct datapath;
struct inpod_pod;

struct inpod;

/* An event source of the manager (first: epoll hands the agent_source pointer back). */
struct inpod_source {
	struct agent_source src;
	struct inpod *m;
};

struct inpod {
	struct inpod_source listen;		    /* AMBIT_INPOD_SOCKET */
	struct inpod_source zt[INPOD_MAX_ZTUNNELS]; /* connected ztunnels (fd -1: free) */
	struct inpod_source resend;		    /* timer: pods a ztunnel refused, again */
	struct inpod_source drain;		    /* timer: pods that left, while they drain */
	int epfd;
	char path[4096];
	struct datapath *dp; /* borrowed */
	struct inpod_pod *pods;
	size_t n, cap;
	struct inpod_pod *leaving; /* left the mesh, set up until the ztunnel's connections end */
	size_t n_leaving, cap_leaving;
	unsigned int pending; /* enrolled pods the last sync could not set up or mark yet */
	/* Called when a ztunnel's "ok" lets a pod be marked: the owner reconciles soon. */
	void (*kick)(void *arg);
	void *kick_arg;
	/*
	 * May be NULL. The netns path the runtime gave pod @uid (ambit-cni's ADD), for a pod whose
	 * cgroup holds no process yet; NULL when it gave none.
	 */
	const char *(*netns_hint)(void *ctx, const char *uid);
	void *netns_hint_ctx;
	/*
	 * The first sync is done: until then the pods are not known (an agent just started, on
	 * Kubernetes before its first list), so a ztunnel that connects is told nothing, and
	 * above all not "synced", which would make it release every pod it holds.
	 */
	bool ready;
	bool unsynced[INPOD_MAX_ZTUNNELS]; /* connected before it: "synced" still owed */
	int dns_fds[2];			   /* the DNS proxy's UDP and TCP sockets kept, or -1 */
};

/* "host", "inpod", "auto" into *@out: 0, or -EINVAL. */
int capture_mode_parse(const char *s, enum capture_mode *out);
const char *capture_mode_name(enum capture_mode m);
/*
 * auto: CAPTURE_INPOD when a local pod's host-side veth (@d's) is a bridge port, CAPTURE_HOST
 * when one is not, CAPTURE_AUTO while no local pod tells.
 */
enum capture_mode inpod_detect(const struct desired *d);

/* Listens at <dir>/AMBIT_INPOD_SOCKET on @epfd. 0 or -errno. */
int inpod_open(struct inpod *m, int epfd, const char *dir, struct datapath *dp);
/*
 * Sets up every enrolled local pod of @d not yet captured in-pod and marks those that are in
 * @d (before the maps are written). Pods that left are torn down by inpod_sync_after.
 */
void inpod_sync_before(struct inpod *m, struct desired *d);
/* Tears down the pods @d no longer has as enrolled local pods (after the maps were written). */
void inpod_sync_after(struct inpod *m, const struct desired *d);
/* Pods captured in-pod now. */
size_t inpod_count(const struct inpod *m);
/* Connected ztunnels. */
unsigned int inpod_ztunnels(const struct inpod *m);
/* Closes the socket; with @teardown, also every pod's tc program and routes (uninstall). */
void inpod_close(struct inpod *m, bool teardown);

#endif
