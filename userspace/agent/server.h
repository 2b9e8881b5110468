/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's Unix socket (include/ambit/ipc.h protocol), served from the agent's epoll loop:
 * non-blocking, so a slow or dead client never blocks the agent; a client whose unsent output
 * grows past SERVER_MAX_PENDING is dropped.
 */
#ifndef AMBIT_AGENT_SERVER_H
#define AMBIT_AGENT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every fd in the agent's epoll set carries one of these in epoll_event.data.ptr. */
struct agent_source {
	int fd;
	void (*handle)(struct agent_source *src, uint32_t events);
};

#define SERVER_MAX_PENDING (32u << 20)
/* Requests are one small JSON object; anything longer is refused. */
#define SERVER_MAX_REQUEST (64u << 10)
/* How long a "cni" request is held without its own timeoutMs, and at most with one. */
#define SERVER_CNI_TIMEOUT_MS 30000
#define SERVER_CNI_MAX_TIMEOUT_MS 600000

struct cJSON;

struct server_ops {
	/*
	 * Answers {"op":"get","what":@what}: returns the malloc'd JSON text of "result" (caller
	 * frees), or NULL with a reason in @err.
	 */
	char *(*get)(void *ctx, const char *what, char *err, size_t errlen);
	/*
	 * May be NULL. Decides a new client by its socket @fd (SO_PEERCRED): false refuses it,
	 * with the reason in @why for the log.
	 */
	bool (*admit)(void *ctx, int fd, char *why, size_t len);
	/*
	 * May be NULL. Answers {"op":"cni",...} (@req, borrowed; ambit-cni's, ipc.h): returns the
	 * malloc'd JSON text of "result" (caller frees); or NULL with a reason in @err (an error
	 * reply); or NULL with @err left empty: not yet. A request not answered yet is held, and
	 * asked again at each server_retry until its "timeoutMs" passes (then an error reply).
	 * *@fd: the descriptor the client sent with the request, or -1; the callee may keep it
	 * (and sets *@fd to -1), else the server closes it once the request is answered.
	 */
	char *(*cni)(void *ctx, const struct cJSON *req, int *fd, char *err, size_t errlen);
	void *ctx;
};

struct server;

/* Listens on @path and registers with @epfd. Borrows @ops (must outlive the server). NULL+errno. */
struct server *server_create(const char *path, int epfd, const struct server_ops *ops);
/* Closes every client and the listener, unlinks nothing (a restart replaces the socket). */
void server_destroy(struct server *srv);
/* Makes @json (copied) the current snapshot and sends it to every watcher. 0 or -ENOMEM. */
int server_publish(struct server *srv, const char *json, size_t len);
/*
 * The same without the copy (a node's snapshot is megabytes): @json stays the caller's, which
 * keeps it unchanged until its next server_publish* or server_destroy.
 */
int server_publish_borrowed(struct server *srv, const char *json, size_t len);
/* Frees dropped clients; call after each epoll_wait batch (events may still name them). */
void server_reap(struct server *srv);
size_t server_client_count(const struct server *srv);
/* How many "cni" requests are held (the loop then calls server_retry every so often). */
size_t server_held(const struct server *srv);
/* Asks again about every held "cni" request: after a reconcile, and on the loop's tick. */
void server_retry(struct server *srv);

#endif
