/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ztunnel's policy hook (DESIGN.md §2 inbound; API_SEMANTICS §3, §4): decides inbound
 * connections with the snapshot's compiled policy set, keeps the per-policy decision counters
 * (`ambit_policy_decisions_total`, admin `/policies`; docs/internals/l4-policy.md), and tracks each
 * worker's open inbound connections so a new policy can close those it now denies, as Istio
 * ztunnel's policy watcher does.
 */
#ifndef ZT_AUTHZ_H
#define ZT_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/policy.h"
#include "ambit/snapshot.h"

struct connrec;

struct authz_result {
	struct policy_decision d;
	char name[256];	   /* deciding object ("ns/name", "PeerAuthentication ns/name") or "" */
	char explain[512]; /* one sentence: why (for the access log of a denial) */
};

/*
 * Decides a connection to @dst (a local enrolled workload of @s) at its address @dst_ip (its
 * IPv4 or its IPv6 one, as the connection reached it) on workload port @port from @src_ip
 * with the verified peer identity @src_identity (NULL: plaintext, no identity). Counts the deciding
 * policy (and matching AUDIT policies), logs AUDIT and dry-run outcomes. Returns true when allowed.
 * Borrows everything; @out's pointers point into @s.
 */
bool authz_decide(const struct snapshot *s, const struct snap_workload *dst,
		  const struct ipaddr *dst_ip, uint16_t port, const struct ipaddr *src_ip,
		  const char *src_identity, struct authz_result *out);

/* Prometheus text of ambit_policy_decisions_total; malloc'd (caller frees) or NULL. */
char *authz_metrics_render(void);
/* {"policies":[{"policy","action","allow","deny"}]}; malloc'd (caller frees) or NULL. */
char *authz_policies_json(void);

/* A worker's open inbound connections, touched only by that worker's loop thread. */
struct authz_tracker;

/* NULL + errno. */
struct authz_tracker *authz_tracker_create(void);
/* Forgets every entry (their records stay with their owners). Accepts NULL. */
void authz_tracker_destroy(struct authz_tracker *t);
/*
 * Remembers the open connection @rec (borrowed; the entry goes away when @rec closes) with the
 * attributes it was authorized on. 0, or -ENOMEM / -EINVAL (@rec NULL): then it cannot be
 * revoked later, which is logged.
 */
int authz_track(struct authz_tracker *t, struct connrec *rec, const struct ipaddr *dst_ip,
		uint16_t port, const struct ipaddr *src_ip, const char *src_identity);
/*
 * Re-decides every tracked connection against @s and resets those it now denies (access log
 * `decision=deny policy=...`, counted as a denial of the deciding policy). Loop thread only.
 * Returns how many were closed.
 */
unsigned int authz_reevaluate(struct authz_tracker *t, const struct snapshot *s);
/* Number of tracked connections (tests). */
size_t authz_tracked(const struct authz_tracker *t);

#endif
