/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listening sockets handed from a running ztunnel to its successor (an upgrade, DESIGN.md §7):
 * the new process takes the old one's listeners over a unix socket (SCM_RIGHTS), so the
 * kernel's accept queues, the BPF sockmap's entries and the ports never go away, and the old
 * one stops accepting and drains what it holds. The exchange, on a SOCK_SEQPACKET socket whose
 * peer must run as the same user:
 *   successor    "take 1"
 *   predecessor  "give 1 <name>..." with one descriptor per name (zt_ho_names)
 *   successor    "took 1" once it serves on them (or it closes: the predecessor keeps serving)
 *   predecessor  "draining 1": it accepts nothing more
 * Blocking calls with deadlines, on the main thread of each process.
 */
#ifndef ZT_HANDOVER_H
#define ZT_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#include "net/sock.h"

/*
 * What is handed over, in this order. The IPv6 listeners come last: a predecessor that predates
 * them names none, and its successor opens them afresh.
 */
enum zt_ho_sock {
	HO_OUTBOUND = 0, /* 15001 */
	HO_INBOUND,	 /* 15006 */
	HO_HBONE,	 /* 15008 */
	HO_METRICS,	 /* 15020 */
	HO_READY,	 /* 15021 */
	HO_ADMIN,	 /* 15000 */
	HO_OUTBOUND6,	 /* [::]:15001 */
	HO_INBOUND6,	 /* [::]:15006 */
	HO_HBONE6,	 /* [::]:15008 */
	HO_METRICS6,	 /* [::]:15020: Prometheus of an IPv6-only cluster scrapes [node]:15020 */
	HO_READY6,	 /* [::]:15021 */
	HO__COUNT,
};

extern const char *const zt_ho_names[HO__COUNT];

/* How long either side waits for the other's next message. */
#define ZT_HO_STEP_S 10

/*
 * Successor: asks the ztunnel serving at @path for its listeners. On 0, @fds holds each
 * listener received (-1 where none came; taken by the caller), each checked to be a listening
 * TCP socket on @want[i] (its family, address and port; port 0: not wanted, closed if sent),
 * and *@session is the
 * open exchange, for zt_handover_done. -ENOENT or -ECONNREFUSED: nobody serves there (start
 * afresh). Any other -errno: a predecessor is there but the exchange failed, said in @why
 * (@len bytes); nothing was taken.
 */
int zt_handover_take(const char *path, const union sockaddr_inet want[HO__COUNT],
		     int fds[HO__COUNT], int *session, char *why, size_t len);
/*
 * Successor, inside zt_handover_take: files each of the @n descriptors @got of the "give" @line
 * (modified) under its name in @fds (which must hold -1 on entry) and checks each against
 * @want; a descriptor of a slot with port 0 is closed. 0, or -EPROTO with @why; on an
 * error @fds may hold some of @got (the caller closes @got). Exposed for
 * tests/fuzz/fuzz_handover.c.
 */
int zt_handover_parse(char *line, const int *got, size_t n,
		      const union sockaddr_inet want[HO__COUNT], int fds[HO__COUNT], char *why,
		      size_t len);
/*
 * Successor: tells the predecessor that this process serves on the listeners now, and waits
 * for its word that it accepts no more. Closes @session. 0 or -errno (@why).
 */
int zt_handover_done(int session, char *why, size_t len);
/*
 * Predecessor: listens for a successor at @path (replacing a stale socket; -EADDRINUSE when a
 * live process answers there). fd or -errno.
 */
int zt_handover_listen(const char *path);
/*
 * Predecessor: serves one successor connecting to @lfd with @fds (borrowed; -1 entries are
 * not sent). 1 when the successor serves on them: the caller must stop accepting on them, then
 * call zt_handover_release; 0 when the successor gave up or misbehaved (said in @why): keep
 * serving. -errno when accept() itself failed.
 */
int zt_handover_give(int lfd, const int fds[HO__COUNT], int *session, char *why, size_t len);
/* Predecessor: after zt_handover_give returned 1 and accepting stopped: tells it, closes @session.
 */
void zt_handover_release(int session);

#endif
