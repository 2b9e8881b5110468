/* SPDX-License-Identifier: Apache-2.0 */
/* The client connection and the pool that owns it (http1_client.c, http1_pool.c). */
#ifndef AMBIT_NET_HTTP1_POOL_PRIV_H
#define AMBIT_NET_HTTP1_POOL_PRIV_H

#include "http1_priv.h"

struct h1_pool_host;

struct h1_client {
	struct h1_pool_host *host;
	struct transport *t;
	struct h1_parser *p;
	const struct h1_client_ops *ops; /* the exchange's, while busy */
	void *arg;
	union sockaddr_inet peer;
	struct loop_timer idle;
	struct h1_client *next;		 /* in the host's idle list */
	struct h1_client *pnext, *pprev; /* in the pool's list of every connection */
	uint32_t requests;
	bool connected, busy, dead, idle_listed;
	bool req_started, req_done, resp_done, resp_keep_alive, head_req, connect_req, tunnel;
	bool interim, chunked, peer_eof, upgrade_req, end_told;
	bool extra_bytes;  /* bytes after a response: never reused */
	bool heard;	   /* a byte of the current request's response arrived */
	bool bad_response; /* the response was refused (a 101 nobody asked for...) */
};

struct h1_pool_host {
	struct h1_pool *pool;
	struct h1_pool_host *next;
	union sockaddr_inet dst;
	char *identity;
	struct h1_client *idle; /* ready connections, most recent first */
	/* Waiting for a connection, oldest first: O(1) in and out, counted (a flood of
	 * thousands of requests waits here; a walk per request made it quadratic). */
	struct h1_pool_wait *wait_head, *wait_tail;
	size_t waiting, conns, opening;
};

struct h1_pool {
	struct loop *loop;
	struct connector *cn;
	struct h1_pool_limits lim;
	struct h1_budget *b;
	struct h1_pool_host *hosts;
	struct h1_client *clients;  /* every connection, open or opening */
	struct h1_pool_wait *ready; /* handed a connection or a failure, told from the task */
	struct loop_task task;
	struct loop_timer retry; /* waiters blocked on max_connections look again */
	size_t conns;
	bool destroying;
};

extern const struct h1_parser_ops h1_client_parser_ops;
/* The transport callbacks of a client connection (http1_client.c). */
size_t h1_client_t_data(void *arg, const char *data, size_t len);
void h1_client_t_eof(void *arg);
/* The connection is dead: its exchange hears @err, the pool forgets it (http1_pool.c). */
void h1_client_fail(struct h1_client *c, int err);

#endif
