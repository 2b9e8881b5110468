/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A proxy's view of the mesh (the ztunnel's, a waypoint's): the newest snapshot from the agent,
 * with a TLS context per identity it holds a certificate of, behind a reference-counted pointer
 * (RCU-ish: a worker takes a reference for a new connection; a swap never waits for readers and
 * never changes what they hold). Also the thread that follows the agent and keeps it current.
 */
#ifndef AMBIT_NET_MESHSTATE_H
#define AMBIT_NET_MESHSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "ambit/snapshot.h"
#include "tls/tls.h"

struct mesh_ident {
	const char *identity; /* borrowed from snap */
	struct tls_ctx *client, *server;
};

struct mesh_snap {
	struct snapshot *snap;
	struct mesh_ident *ids;
	size_t nids;
	int refs;
};

struct mesh_state;

/* NULL + errno. */
struct mesh_state *mesh_state_create(void);
/* Accepts NULL. Readers' references stay valid until they drop them. */
void mesh_state_destroy(struct mesh_state *st);
/*
 * Takes @s, builds the TLS contexts of its certificates and makes it current. A certificate
 * that fails to load is logged and skipped (its identity then has no TLS). 0 or -errno (then
 * @s is freed and the previous snapshot stays current).
 */
int mesh_state_install(struct mesh_state *st, struct snapshot *s);
/*
 * Calls @fn(@arg) after every install, on the installing thread with the state locked: keep it
 * to a wake-up (the workers re-evaluate open connections on their own threads). 0 or -ENOSPC.
 */
int mesh_state_subscribe(struct mesh_state *st, void (*fn)(void *arg), void *arg);
/* Once this returns, @fn(@arg) is not running and will not run again. */
void mesh_state_unsubscribe(struct mesh_state *st, void (*fn)(void *arg), void *arg);
/*
 * The current snapshot's version (0 before the first), without the lock: safe in a subscriber's
 * call, which sees the snapshot just installed.
 */
uint64_t mesh_state_version(struct mesh_state *st);
/* A new reference to the current snapshot, or NULL before the first one. */
struct mesh_snap *mesh_state_get(struct mesh_state *st);
void mesh_snap_put(struct mesh_snap *zs); /* accepts NULL */
/* Borrowed TLS contexts of @identity, or NULL. */
struct tls_ctx *mesh_snap_ctx(const struct mesh_snap *zs, const char *identity, bool server);

/* Follows the agent at @socket_path ({"op":"watch"}), reconnecting with backoff. */
struct agent_follow;
struct agent_follow *agent_follow_start(struct mesh_state *st, const char *socket_path);
void agent_follow_stop(struct agent_follow *a); /* accepts NULL */

#endif
