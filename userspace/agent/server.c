// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "ambit/ipc.h"
#include "ambit/log.h"
#include "server.h"

struct client {
	struct agent_source src; /* first: epoll hands us this pointer */
	struct server *srv;
	struct client *next;
	bool watching;
	bool closing; /* reply queued, then close (protocol error) */
	bool dead;    /* dropped; freed by server_reap once no event can name it */
	uint32_t events;
	size_t rlen;
	char *rbuf; /* SERVER_MAX_REQUEST + 4 */
	size_t wlen, woff, wcap;
	char *wbuf;
	/* A "cni" request not answerable yet (server_ops.cni), asked again until held_until. */
	cJSON *held;
	uint64_t held_until; /* monotonic ms */
	/* A descriptor the client sent (SCM_RIGHTS): the pod's netns of a "cni" add, or -1. */
	int passed_fd;
};

struct server {
	struct agent_source src;
	int epfd;
	const struct server_ops *ops;
	struct client *clients;
	struct client *dead;
	size_t n_clients;
	size_t n_held;
	char *snap;
	size_t snap_len;
	bool snap_owned; /* false: the publisher's (server_publish_borrowed) */
};

static void client_drop(struct client *c, const char *why)
{
	struct server *srv = c->srv;
	struct client **pp;

	for (pp = &srv->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	srv->n_clients--;
	if (c->held)
		srv->n_held--;
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	c->passed_fd = -1;
	if (why)
		pr_debug("client fd %d dropped: %s", c->src.fd, why);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
	close(c->src.fd);
	c->src.fd = -1;
	c->dead = true;
	c->next = srv->dead;
	srv->dead = c;
}

void server_reap(struct server *srv)
{
	while (srv && srv->dead) {
		struct client *c = srv->dead;

		srv->dead = c->next;
		cJSON_Delete(c->held);
		free(c->rbuf);
		free(c->wbuf);
		free(c);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int client_want(struct client *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = &c->src};

	if (events == c->events)
		return 0;
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->src.fd, &ev) < 0)
		return -errno;
	c->events = events;
	return 0;
}

/* Sends what it can; returns -errno when the client must be dropped. */
static int client_flush(struct client *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->src.fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return client_want(c, EPOLLIN | EPOLLOUT);
		if (n < 0)
			return -errno;
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	if (c->closing)
		return -ECONNRESET;
	return client_want(c, EPOLLIN);
}

/* Queues one frame; drops nothing itself but reports -ENOBUFS past the bound. */
static int client_queue(struct client *c, const char *buf, size_t len)
{
	size_t need;
	uint32_t be;

	if (len > IPC_MAX_FRAME)
		return -EMSGSIZE;
	if (c->woff) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	need = c->wlen + 4 + len;
	if (need > SERVER_MAX_PENDING && c->wlen)
		return -ENOBUFS;
	if (need > c->wcap) {
		char *p = realloc(c->wbuf, need);

		if (!p)
			return -ENOMEM;
		c->wbuf = p;
		c->wcap = need;
	}
	be = htonl((uint32_t)len);
	memcpy(c->wbuf + c->wlen, &be, 4);
	memcpy(c->wbuf + c->wlen + 4, buf, len);
	c->wlen = need;
	return 0;
}

static int reply_error(struct client *c, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;
	int err = -ENOMEM;

	if (o && cJSON_AddFalseToObject(o, "ok") && cJSON_AddStringToObject(o, "error", msg))
		s = cJSON_PrintUnformatted(o);
	if (s)
		err = client_queue(c, s, strlen(s));
	free(s);
	cJSON_Delete(o);
	return err;
}

static int reply_result(struct client *c, char *result)
{
	char *reply;
	int ret;

	ret = asprintf(&reply, "{\"ok\":true,\"result\":%s}", result);
	free(result);
	if (ret < 0)
		return -ENOMEM;
	ret = client_queue(c, reply, (size_t)ret);
	free(reply);
	return ret;
}

/*
 * Asks server_ops.cni about the held request: 0 with the reply queued (or still held), or
 * -errno. @expired: its time is up, so "not yet" is answered as a failure.
 */
static int cni_answer(struct client *c, bool expired)
{
	struct server *srv = c->srv;
	char err[256] = "";
	char *result;

	result = srv->ops->cni(srv->ops->ctx, c->held, &c->passed_fd, err, sizeof(err));
	if (!result && !err[0] && !expired)
		return 0;
	cJSON_Delete(c->held);
	c->held = NULL;
	srv->n_held--;
	/* One request's descriptor is not the next one's. */
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	c->passed_fd = -1;
	if (result)
		return reply_result(c, result);
	return reply_error(c, err[0] ? err : "timed out waiting for the pod's capture");
}

/* {"op":"cni",...}: answered now, or held until server_ops.cni can (server_retry). */
static int handle_cni(struct client *c, cJSON *root)
{
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(root, "timeoutMs");
	double ms = cJSON_IsNumber(to) ? to->valuedouble : SERVER_CNI_TIMEOUT_MS;

	if (!c->srv->ops->cni) {
		cJSON_Delete(root);
		return reply_error(c, "cni: not served here");
	}
	if (ms < 0)
		ms = 0;
	if (ms > SERVER_CNI_MAX_TIMEOUT_MS)
		ms = SERVER_CNI_MAX_TIMEOUT_MS;
	c->held = root;
	c->held_until = now_ms() + (uint64_t)ms;
	c->srv->n_held++;
	return cni_answer(c, false);
}

static int handle_request(struct client *c, const char *req, size_t len)
{
	struct server *srv = c->srv;
	const cJSON *op, *what;
	char err[256] = "";
	char *result;
	cJSON *root;

	root = cJSON_ParseWithLength(req, len);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return reply_error(c, "request is not a JSON object");
	}
	op = cJSON_GetObjectItemCaseSensitive(root, "op");
	what = cJSON_GetObjectItemCaseSensitive(root, "what");
	if (cJSON_IsString(op) && strcmp(op->valuestring, "watch") == 0) {
		cJSON_Delete(root);
		c->watching = true;
		pr_info("snapshot watcher connected (fd %d)", c->src.fd);
		return srv->snap ? client_queue(c, srv->snap, srv->snap_len) : 0;
	}
	if (cJSON_IsString(op) && strcmp(op->valuestring, "cni") == 0)
		return handle_cni(c, root);
	if (!cJSON_IsString(op) || strcmp(op->valuestring, "get") != 0) {
		cJSON_Delete(root);
		return reply_error(c, "unknown op (want \"watch\", \"get\" or \"cni\")");
	}
	if (!cJSON_IsString(what)) {
		cJSON_Delete(root);
		return reply_error(c, "get: \"what\" must be a string");
	}
	result = srv->ops->get(srv->ops->ctx, what->valuestring, err, sizeof(err));
	cJSON_Delete(root);
	if (!result)
		return reply_error(c, err[0] ? err : "request failed");
	return reply_result(c, result);
}

/*
 * Reads what the client sent into its buffer, keeping the first descriptor that came with it
 * (any more, or one sent while another is kept, is closed: a client gets no fd table of ours).
 */
static ssize_t client_recv(struct client *c, size_t cap)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = {.iov_base = c->rbuf + c->rlen, .iov_len = cap - c->rlen};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl)};
	ssize_t n = recvmsg(c->src.fd, &msg, MSG_CMSG_CLOEXEC);

	for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm;
	     cm = CMSG_NXTHDR(&msg, cm)) {
		size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0;
		     cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->passed_fd < 0)
				c->passed_fd = fd;
			else
				close(fd);
		}
	}
	return n;
}

static int client_read(struct client *c)
{
	for (;;) {
		size_t cap = SERVER_MAX_REQUEST + 4;
		uint32_t flen;
		ssize_t n;
		int err;

		n = client_recv(c, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		c->rlen += (size_t)n;
		/* One request at a time: what follows a held one waits for its answer. */
		while (c->rlen >= 4 && !c->held) {
			memcpy(&flen, c->rbuf, 4);
			flen = ntohl(flen);
			if (flen > SERVER_MAX_REQUEST) {
				c->closing = true;
				c->rlen = 0;
				return reply_error(c, "request frame too large");
			}
			if (c->rlen < 4 + (size_t)flen)
				break;
			err = handle_request(c, c->rbuf + 4, flen);
			if (err)
				return err;
			memmove(c->rbuf, c->rbuf + 4 + flen, c->rlen - 4 - flen);
			c->rlen -= 4 + flen;
		}
	}
}

static void client_handle(struct agent_source *src, uint32_t events)
{
	struct client *c = (struct client *)src;
	int err = 0;

	if (c->dead)
		return;
	if ((events & EPOLLIN) && !c->closing)
		err = client_read(c);
	if (!err && (c->wlen || (events & EPOLLOUT)))
		err = client_flush(c);
	if (!err && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		err = -EPIPE;
	if (err)
		client_drop(c, strerror(-err));
}

static void server_accept(struct agent_source *src, uint32_t events)
{
	struct server *srv = (struct server *)src;

	for (;;) {
		struct epoll_event ev = {.events = EPOLLIN};
		struct client *c;
		int fd;

		fd = accept4(srv->src.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				pr_warn("accept on agent socket: %s", strerror(errno));
			return;
		}
		if (srv->ops->admit) {
			char why[256] = "";

			if (!srv->ops->admit(srv->ops->ctx, fd, why, sizeof(why))) {
				pr_warn("agent socket: client refused: %s", why);
				close(fd);
				continue;
			}
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->rbuf = malloc(SERVER_MAX_REQUEST + 4);
		if (!c || !c->rbuf) {
			pr_warn("agent socket: out of memory; client refused");
			if (c)
				free(c);
			close(fd);
			continue;
		}
		c->src.fd = fd;
		c->passed_fd = -1;
		c->src.handle = client_handle;
		c->srv = srv;
		c->events = EPOLLIN;
		ev.data.ptr = &c->src;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			pr_warn("agent socket: epoll: %s", strerror(errno));
			free(c->rbuf);
			free(c);
			close(fd);
			continue;
		}
		c->next = srv->clients;
		srv->clients = c;
		srv->n_clients++;
	}
}

struct server *server_create(const char *path, int epfd, const struct server_ops *ops)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct server *srv;
	int fd, err, flags;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	fd = ipc_listen(path);
	if (fd < 0) {
		err = fd;
		goto fail;
	}
	srv->src.fd = fd;
	srv->src.handle = server_accept;
	srv->epfd = epfd;
	srv->ops = ops;
	/* ipc_listen gives a blocking socket; the loop must never block in accept. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		err = -errno;
		goto fail_fd;
	}
	ev.data.ptr = &srv->src;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		goto fail_fd;
	}
	return srv;
fail_fd:
	close(fd);
fail:
	free(srv);
	errno = -err;
	return NULL;
}

void server_destroy(struct server *srv)
{
	if (!srv)
		return;
	while (srv->clients)
		client_drop(srv->clients, NULL);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->src.fd, NULL);
	close(srv->src.fd);
	server_reap(srv);
	if (srv->snap_owned)
		free(srv->snap);
	free(srv);
}

/* Makes @json the current snapshot (the server's to free when @owned) and sends it. */
static int publish(struct server *srv, char *json, size_t len, bool owned)
{
	struct client *c, *next;

	if (srv->snap_owned)
		free(srv->snap);
	srv->snap = json;
	srv->snap_len = len;
	srv->snap_owned = owned;
	for (c = srv->clients; c; c = next) {
		int err;

		next = c->next;
		if (!c->watching)
			continue;
		err = client_queue(c, json, len);
		if (!err)
			err = client_flush(c);
		if (err == -ENOBUFS)
			pr_warn("snapshot watcher fd %d too slow (%zu bytes unsent); dropped",
				c->src.fd, c->wlen - c->woff);
		if (err)
			client_drop(c, strerror(-err));
	}
	return 0;
}

int server_publish(struct server *srv, const char *json, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, json, len);
	copy[len] = '\0';
	return publish(srv, copy, len, true);
}

int server_publish_borrowed(struct server *srv, const char *json, size_t len)
{
	return publish(srv, (char *)json, len, false);
}

size_t server_client_count(const struct server *srv)
{
	return srv->n_clients;
}

size_t server_held(const struct server *srv)
{
	return srv ? srv->n_held : 0;
}

void server_retry(struct server *srv)
{
	struct client *c, *next;
	uint64_t now;

	if (!srv || !srv->n_held)
		return;
	now = now_ms();
	for (c = srv->clients; c; c = next) {
		int err;

		next = c->next;
		if (!c->held)
			continue;
		err = cni_answer(c, now >= c->held_until);
		if (!err && c->wlen)
			err = client_flush(c);
		if (err)
			client_drop(c, strerror(-err));
	}
}
