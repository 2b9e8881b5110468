/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ztunnel's view of the world: the newest snapshot from the agent, with a TLS context per
 * local identity, behind a reference-counted pointer (RCU-ish: a worker takes a reference for a
 * new connection; a swap never waits for readers and never changes what they hold).
 * Also the agent watcher thread that keeps it current.
 */
#ifndef ZT_STATE_H
#define ZT_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "ambit/snapshot.h"
#include "tls.h"

struct zt_ident {
	const char *identity; /* borrowed from snap */
	struct tls_ctx *client, *server;
};

struct zt_snap {
	struct snapshot *snap;
	struct zt_ident *ids;
	size_t nids;
	int refs;
};

struct zt_state;

/* NULL + errno. */
struct zt_state *zt_state_create(void);
/* Accepts NULL. Readers' references stay valid until they drop them. */
void zt_state_destroy(struct zt_state *st);
/*
 * Takes @s, builds the TLS contexts of its certificates and makes it current. A certificate
 * that fails to load is logged and skipped (its identity then has no TLS). 0 or -errno (then
 * @s is freed and the previous snapshot stays current).
 */
int zt_state_install(struct zt_state *st, struct snapshot *s);
/*
 * Calls @fn(@arg) after every install, on the installing thread with the state locked: keep it
 * to a wake-up (the workers re-evaluate open connections on their own threads). 0 or -ENOSPC.
 */
int zt_state_subscribe(struct zt_state *st, void (*fn)(void *arg), void *arg);
/* Once this returns, @fn(@arg) is not running and will not run again. */
void zt_state_unsubscribe(struct zt_state *st, void (*fn)(void *arg), void *arg);
/* A new reference to the current snapshot, or NULL before the first one. */
struct zt_snap *zt_state_get(struct zt_state *st);
void zt_snap_put(struct zt_snap *zs); /* accepts NULL */
/* Borrowed TLS contexts of @identity, or NULL. */
struct tls_ctx *zt_snap_ctx(const struct zt_snap *zs, const char *identity, bool server);

/* Follows the agent at @socket_path ({"op":"watch"}), reconnecting with backoff. */
struct zt_agent;
struct zt_agent *zt_agent_start(struct zt_state *st, const char *socket_path);
void zt_agent_stop(struct zt_agent *a); /* accepts NULL */

#endif
