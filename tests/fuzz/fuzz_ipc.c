// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the agent's Unix socket (include/ambit/ipc.h), both ends of it. The input
 * is the byte stream a peer sent, then EOF:
 * - as the ztunnel and ambitctl read the agent: ipc_read_frame takes frames until it fails; each
 *   frame must be NUL-terminated at its length and, written again with ipc_write_frame,
 *   reproduce its bytes exactly; the stream ends with -EPIPE (EOF, a truncated frame included)
 *   or -EMSGSIZE (a length over IPC_MAX_FRAME, refused before allocating), nothing else;
 * - as the agent serves it: the bytes are a client's requests to the real server (server.c) on
 *   its epoll loop, with a snapshot published. Every reply must be a frame holding a JSON object,
 *   {"ok":true|false,...} or the snapshot a watch asked for, once the agent is done with
 *   what it was sent; after the client hangs up the agent drops it within a bounded number of
 *   loop rounds (no stall, no leak).
 * Seeds: tests/fuzz/corpus/fuzz_ipc/ (real requests: watch, get snapshot/status, errors).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "ambit/ipc.h"
#include "ambit/log.h"
#include "agent/server.h"
#include "../lib/fuzz_env.h"

/* A socket pair big enough for any input kept whole in its buffer. */
#define MAX_INPUT (64u << 10)
/* Loop rounds the agent may take to answer and drop a client that sent MAX_INPUT and EOF. */
#define MAX_ROUNDS 10000

static const char snapshot_json[] = "{\"version\":7,\"node\":\"node1\",\"workloads\":[]}";
static char sock_path[300];

static char *fake_get(void *ctx, const char *what, char *err, size_t errlen)
{
	if (strcmp(what, "snapshot") == 0)
		return strdup(snapshot_json);
	if (strcmp(what, "status") == 0)
		return strdup("{\"node\":\"node1\",\"pods\":[]}");
	snprintf(err, errlen, "get: unknown \"what\" %s", what);
	return NULL;
}

static const struct server_ops ops = {.get = fake_get};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[256];

	log_init("fuzz_ipc", LOG_LEVEL_ERROR);
	if (fuzz_scratch_dir("fuzz_ipc", dir, sizeof(dir)))
		exit(1);
	snprintf(sock_path, sizeof(sock_path), "%s/agent.sock", dir);
	return 0;
}

static void pair(int sv[2])
{
	int sz = 4 * MAX_INPUT;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The reader's side: ipc_read_frame over the input. */
static void fuzz_framing(const uint8_t *data, size_t size)
{
	size_t off = 0, len;
	int in[2], out[2], err;
	char *frame;

	pair(in);
	if (write(in[0], data, size) != (ssize_t)size)
		abort();
	shutdown(in[0], SHUT_WR);
	for (;;) {
		uint8_t *again;
		size_t got = 0;
		ssize_t n;

		err = ipc_read_frame(in[1], &frame, &len);
		if (err)
			break;
		if (frame[len] != '\0' || off + 4 + len > size)
			abort();
		/* Written back, the frame is the bytes it was read from. */
		pair(out);
		if (ipc_write_frame(out[0], frame, len))
			abort();
		shutdown(out[0], SHUT_WR);
		again = malloc(len + 4);
		if (!again)
			abort();
		while ((n = read(out[1], again + got, len + 4 - got)) > 0)
			got += (size_t)n;
		if (got != len + 4 || memcmp(again, data + off, len + 4) != 0)
			abort();
		free(again);
		close(out[0]);
		close(out[1]);
		off += 4 + len;
		free(frame);
	}
	if (frame || (err != -EPIPE && err != -EMSGSIZE))
		abort();
	/* Only a length over the bound is refused; EOF comes only once the input is used up. */
	if (err == -EMSGSIZE && (size - off < 4 || be32(data + off) <= IPC_MAX_FRAME))
		abort();
	close(in[0]);
	close(in[1]);
}

/* Each reply the agent sent is a JSON object: {"ok":bool,...}, or the watched snapshot. */
static void check_replies(const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		uint32_t flen;
		cJSON *o, *ok;

		if (len - off < 4 || (flen = be32(buf + off)) > len - off - 4)
			abort(); /* a cut frame, and the client is still there to read the rest */
		o = cJSON_ParseWithLength((const char *)buf + off + 4, flen);
		if (!cJSON_IsObject(o))
			abort();
		ok = cJSON_GetObjectItemCaseSensitive(o, "ok");
		if (ok ? !cJSON_IsBool(ok)
		       : flen != sizeof(snapshot_json) - 1 ||
			     memcmp(buf + off + 4, snapshot_json, flen) != 0)
			abort();
		cJSON_Delete(o);
		off += 4 + flen;
	}
}

struct peer {
	int epfd, fd;
	struct server *srv;
	uint8_t *replies;
	size_t len, cap;
};

/*
 * One loop round of the agent, then what it sent is collected. Returns 1 when something
 * happened, 0 when nothing did, -1 once the agent closed the connection.
 */
static int peer_round(struct peer *p)
{
	struct epoll_event evs[8];
	int n = epoll_wait(p->epfd, evs, 8, 0), busy = n > 0;
	ssize_t got;

	for (int i = 0; i < n; i++) {
		struct agent_source *src = evs[i].data.ptr;

		src->handle(src, evs[i].events);
	}
	server_reap(p->srv);
	while ((got = recv(p->fd, p->replies + p->len, p->cap - p->len, MSG_DONTWAIT)) > 0) {
		busy = 1;
		p->len += (size_t)got;
		if (p->len == p->cap) {
			p->replies = realloc(p->replies, p->cap *= 2);
			if (!p->replies)
				abort();
		}
	}
	if (got == 0 || (got < 0 && errno != EAGAIN))
		return -1;
	return busy;
}

/*
 * The agent's side: the input as one client's requests to the real server. The client waits
 * for the answers (as ipc_request does), then hangs up.
 */
static void fuzz_server(const uint8_t *data, size_t size)
{
	struct peer p = {.cap = 1 << 16};
	int sz = 4 * MAX_INPUT, rounds, idle = 0, r = 0;

	p.epfd = epoll_create1(EPOLL_CLOEXEC);
	p.replies = malloc(p.cap);
	p.srv = p.epfd >= 0 ? server_create(sock_path, p.epfd, &ops) : NULL;
	if (!p.srv || !p.replies || server_publish(p.srv, snapshot_json, sizeof(snapshot_json) - 1))
		abort();
	p.fd = ipc_connect(sock_path);
	if (p.fd < 0)
		abort();
	setsockopt(p.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (write(p.fd, data, size) != (ssize_t)size)
		abort();
	/* Answered: three quiet rounds in a row (Unix sockets deliver at once), or closed. */
	for (rounds = 0; rounds < MAX_ROUNDS && idle < 3 && r >= 0; rounds++) {
		r = peer_round(&p);
		idle = r == 0 ? idle + 1 : 0;
	}
	if (idle < 3 && r >= 0)
		abort(); /* still busy after MAX_ROUNDS: a stall */
	check_replies(p.replies, p.len);
	shutdown(p.fd, SHUT_WR);
	for (rounds = 0; rounds < MAX_ROUNDS && r >= 0; rounds++)
		r = peer_round(&p);
	if (r >= 0 || server_client_count(p.srv) != 0)
		abort(); /* a client that hung up was kept */
	free(p.replies);
	close(p.fd);
	server_destroy(p.srv);
	close(p.epfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	fuzz_framing(data, size);
	fuzz_server(data, size);
	return 0;
}
