/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the agent serves the waypoint instances of its node. A waypoint pod (labelled
 * gateway.networking.k8s.io/gateway-name with the name of a waypoint Gateway of its namespace)
 * whose pod list entry names an agentDir gets, on <agentDir>/agent.sock, a snapshot of its own:
 * the certificate of the waypoint's identity and no other key, the mesh's workloads and
 * services (for its telemetry and upstreams) and the compiled L7 config of its waypoint
 * (include/ambit/l7.h, l7_compile), re-sent whenever any of it changes. The socket is the pod's
 * alone: the directory is mounted into that pod only, and a client whose process is not in the
 * pod's cgroup is refused (SO_PEERCRED).
 */
#ifndef AMBIT_AGENT_WPSERVE_H
#define AMBIT_AGENT_WPSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ambit/config.h"

struct agent;
struct waypoint_view;
struct wpserve;

#define WPSERVE_SOCKET "agent.sock"

/*
 * Serves exactly the waypoint instances of @a's node that @cfg and @a's pod list define, with
 * @a's current snapshot state; publishes what changed. Called after each reconcile and
 * certificate renewal; problems are logged, never fatal. @v: the waypoint bindings of @cfg
 * and @a's pods (desired.h), or NULL to compute them.
 */
void wpserve_sync(struct agent *a, const struct config *cfg, const struct waypoint_view *v);
/*
 * Instance @i of those served (from 0): its pod "ns/name" and the version of the last snapshot
 * published to it (0: none yet). False past the last.
 */
bool wpserve_instance(const struct agent *a, size_t i, const char **pod, uint64_t *version);
/* The certificates issued to the waypoints' and gateways' identities (NULL: none yet). */
const struct cert_store *wpserve_certs(const struct agent *a);
/* Frees servers retired by wpserve_sync: call after each batch of events, as server_reap. */
void wpserve_reap(struct agent *a);
/* Stops serving every instance (agent shutdown). */
void wpserve_free(struct agent *a);
/* The earliest renewal or retry of a waypoint certificate, or 0. */
time_t wpserve_next_cert_deadline(const struct agent *a);
/*
 * Whether the process at the other end of the Unix socket @fd runs in cgroup @cgroup (an
 * absolute cgroup v2 directory) or below it. False with the reason in @why.
 */
bool wpserve_peer_in_cgroup(int fd, const char *cgroup, char *why, size_t len);

#endif
