/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Framing on the agent's Unix socket: each message is a 4-byte big-endian length followed by
 * that many bytes of JSON. A client sends one request object:
 *   {"op":"watch"}            the agent replies with the current snapshot and then every new one
 *                             (the ztunnel uses this; private keys included, socket is 0600 root)
 *   {"op":"get","what":W}     one reply; W is "snapshot" (public: no keys), "status"
 *                             (agent view: per-pod enrollment, cgroup, iface, cert expiry)
 *   {"op":"cni","cmd":"add"|"del"|"check","namespace":NS,"name":POD,"container":ID,
 *    "netns":PATH,"ips":["10.0.0.5"],"timeoutMs":N}
 *                             ambit-cni (userspace/cni): the reply waits until the pod's capture
 *                             is in force, {"captured":true}, or comes at once for a pod outside
 *                             the mesh, {"captured":false}; "del" releases what "add" took.
 *                             An "add" frame may carry the pod's network namespace as an open
 *                             descriptor (SCM_RIGHTS on its first byte): the agent then needs no
 *                             view of the runtime's netns path (a DaemonSet's container has none)
 * Replies to "get" and "cni" are {"ok":true,"result":...} or {"ok":false,"error":"..."}.
 */
#ifndef AMBIT_IPC_H
#define AMBIT_IPC_H

#include <stddef.h>
#include <stdint.h>

#define IPC_MAX_FRAME (64u << 20)

/* Blocking helpers for blocking sockets. Return 0 or -errno. */
int ipc_write_frame(int fd, const char *buf, size_t len);
/* The same with descriptor @pass (when >= 0) sent along with the frame's first byte. */
int ipc_write_frame_fd(int fd, const char *buf, size_t len, int pass);
/* Reads one frame into a malloc'd NUL-terminated buffer (*out, caller frees). -EPIPE on EOF. */
int ipc_read_frame(int fd, char **out, size_t *len);
/*
 * Connects to a Unix stream socket at @path; returns fd or -errno. A @path longer than sun_path
 * (108 bytes) is reached through its directory (/proc/self/fd/N/FILE), for ipc_listen too.
 */
int ipc_connect(const char *path);
/* Creates, binds (mode 0600) and listens on @path, replacing a stale socket; fd or -errno. */
int ipc_listen(const char *path);
/* The same for a socket of @type (SOCK_STREAM, SOCK_SEQPACKET). */
int ipc_connect_type(const char *path, int type);
int ipc_listen_type(const char *path, int type);
/* One request/response round trip on a new connection; *reply is malloc'd. 0 or -errno. */
int ipc_request(const char *path, const char *request_json, char **reply);

#endif
