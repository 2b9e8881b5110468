/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waypoint in the mesh (`waypoint --agent SOCKET`): it follows its node's agent on the
 * socket the agent serves it alone (userspace/agent/wpserve.h) for its snapshot (its own
 * certificate, the workloads, its compiled L7 config), terminates HBONE on 15008 with that
 * certificate (clients must be mesh identities: the ztunnels checking its SAN), takes each
 * CONNECT as a downstream connection of the request engine whose original destination is the
 * CONNECT's :authority (and forwarded host=), and reaches the endpoints over pooled HBONE to
 * their ztunnels, presenting its identity and checking theirs (API_SEMANTICS.md §9).
 */
#ifndef AMBIT_WAYPOINT_MESH_H
#define AMBIT_WAYPOINT_MESH_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "hbone/hbone.h"
#include "net/meshstate.h"

struct wp_mesh {
	struct mesh_state *st;
	struct agent_follow *follow;
	char *identity;	      /* the waypoint's (its L7 config's), from the first snapshot */
	uint64_t gen_version; /* snapshot version of the newest generation made */
};

/*
 * Follows the agent at @socket and waits (up to @wait_s seconds) for a snapshot carrying an L7
 * config and the certificate of its identity. 0 with @m filled, or -errno (-ETIMEDOUT).
 */
int wp_mesh_start(struct wp_mesh *m, const char *socket, unsigned int wait_s);
void wp_mesh_stop(struct wp_mesh *m);
/*
 * A generation of the newest snapshot's L7 config when its version is newer than the last one
 * made (NULL otherwise, or on a failure, logged).
 */
struct wp_gen *wp_mesh_gen(struct wp_mesh *m);
/* hbone_creds_fn: the waypoint's identity and client context (a new reference). */
int wp_mesh_creds(void *arg, const char **identity, struct tls_ctx **ctx);
/* A new reference to the waypoint's server context, or NULL while it has none. */
struct tls_ctx *wp_mesh_server_ctx(struct wp_mesh *m);

#endif
