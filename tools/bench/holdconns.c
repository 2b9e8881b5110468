// SPDX-License-Identifier: Apache-2.0
/*
 * bench-holdconns: the scale workload of tools/bench/run.sh. No Debian tool holds a thousand TCP
 * connections open for a minute while checking every byte, so this one does, and nothing more.
 *
 *   bench-holdconns serve ADDR PORT            echo server (epoll), runs until killed
 *   bench-holdconns hold ADDR PORT N SECONDS   opens N connections, sends each a deterministic
 *                                              stream (64 bytes per connection per second) for
 *                                              SECONDS, verifies the echo byte for byte, then
 *                                              prints one JSON line; exit 0 only if every byte
 *                                              came back intact on every connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 64
#define ECHO_BUF 16384

struct echo_conn {
	int fd;
	size_t len;
	size_t off;
	unsigned char buf[ECHO_BUF];
};

struct hold_conn {
	int fd;
	int closed;
	uint64_t sent;
	uint64_t recvd;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Byte OFF of connection ID's stream: differs per connection and per position. */
static unsigned char stream_byte(uint32_t id, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)id << 32);

	return (unsigned char)(x >> 56 ^ x >> 13);
}

static int parse_addr(const char *ip, const char *port, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (*end || p <= 0 || p > 65535 || inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_port = htons((uint16_t)p);
	return 0;
}

/* Echoes what it reads; a connection whose peer stalls stops being read until it drains. */
static int echo_event(int ep, struct echo_conn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	ssize_t n;

	for (;;) {
		if (c->off < c->len) {
			n = write(c->fd, c->buf + c->off, c->len - c->off);
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0)
				return -1;
			c->off += n;
			continue;
		}
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->len = n;
		c->off = 0;
	}
	ev.events = c->off < c->len ? EPOLLOUT : EPOLLIN;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int serve(const struct sockaddr_in *sa)
{
	struct epoll_event ev, evs[256];
	int one = 1, lfd, ep, n, i;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0)
		return -errno;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (const struct sockaddr *)sa, sizeof(*sa)) || listen(lfd, 4096))
		return -errno;
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		return -errno;
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n; i++) {
			struct echo_conn *c = evs[i].data.ptr;

			if (!c) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0)
					continue;
				c = calloc(1, sizeof(*c));
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
					close(fd);
					free(c);
					continue;
				}
				c->fd = fd;
				continue;
			}
			/* One connection failing closes that connection only. */
			if (echo_event(ep, c)) {
				close(c->fd);
				free(c);
			}
		}
	}
}

static int hold_connect(const struct sockaddr_in *sa)
{
	struct pollfd p;
	socklen_t len = sizeof(int);
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) && errno != EINPROGRESS)
		goto fail;
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, 5000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Reads what is there and checks it against the stream; returns mismatched bytes. */
static uint64_t hold_read(struct hold_conn *c, uint32_t id)
{
	unsigned char buf[4096];
	uint64_t bad = 0;
	ssize_t n;

	while ((n = read(c->fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++, c->recvd++)
			bad += buf[i] != stream_byte(id, c->recvd);
	if (n == 0 || (n < 0 && errno != EAGAIN))
		c->closed = 1;
	return bad;
}

static int hold(const struct sockaddr_in *sa, long nconn, long secs)
{
	uint64_t sent = 0, recvd = 0, bad = 0;
	struct epoll_event ev, evs[256];
	struct hold_conn *conns;
	double start, end, next;
	long est = 0, closed = 0, i, tick = 0;
	int ep, n;

	conns = calloc(nconn, sizeof(*conns));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || ep < 0)
		return 2;
	for (i = 0; i < nconn; i++) {
		conns[i].fd = hold_connect(sa);
		conns[i].closed = conns[i].fd < 0;
		if (conns[i].fd < 0)
			continue;
		ev.events = EPOLLIN;
		ev.data.u64 = i;
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
		est++;
	}
	fprintf(stderr, "bench-holdconns: %ld of %ld connections established\n", est, nconn);
	start = now_s();
	end = start + secs;
	next = start;
	/* Ten ticks a second, each sending on a tenth of the connections; then 10 s to drain. */
	while (now_s() < end + 10) {
		double t = now_s();

		if (t >= next && t < end) {
			unsigned char chunk[CHUNK];

			for (i = tick % 10; i < nconn; i += 10) {
				struct hold_conn *c = &conns[i];
				ssize_t w;

				if (c->closed)
					continue;
				for (int k = 0; k < CHUNK; k++)
					chunk[k] = stream_byte(i, c->sent + k);
				w = write(c->fd, chunk, CHUNK);
				if (w > 0)
					c->sent += w;
				else if (errno != EAGAIN)
					c->closed = 1;
			}
			tick++;
			next += 0.1;
		}
		if (t >= end) {
			int done = 1;

			for (i = 0; i < nconn && done; i++)
				done = conns[i].closed || conns[i].recvd == conns[i].sent;
			if (done)
				break;
		}
		n = epoll_wait(ep, evs, 256, 20);
		for (int k = 0; k < n; k++) {
			struct hold_conn *c = &conns[evs[k].data.u64];

			bad += hold_read(c, evs[k].data.u64);
			if (c->closed)
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		}
	}
	for (i = 0; i < nconn; i++) {
		sent += conns[i].sent;
		recvd += conns[i].recvd;
		closed += conns[i].closed;
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	}
	printf("{\"connections\":%ld,\"established\":%ld,\"closed_early\":%ld,\"seconds\":%.1f,"
	       "\"bytes_sent\":%llu,\"bytes_echoed\":%llu,\"mismatched_bytes\":%llu,\"ok\":%s}\n",
	       nconn, est, closed, now_s() - start, (unsigned long long)sent,
	       (unsigned long long)recvd, (unsigned long long)bad,
	       est == nconn && !closed && !bad && sent == recvd && sent ? "true" : "false");
	free(conns);
	close(ep);
	return est == nconn && !closed && !bad && sent == recvd && sent ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	long n, secs;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && !strcmp(argv[1], "serve") && !parse_addr(argv[2], argv[3], &sa)) {
		int ret = serve(&sa);

		fprintf(stderr, "bench-holdconns: serve: %s\n", strerror(-ret));
		return 2;
	}
	if (argc == 6 && !strcmp(argv[1], "hold") && !parse_addr(argv[2], argv[3], &sa)) {
		n = strtol(argv[4], NULL, 10);
		secs = strtol(argv[5], NULL, 10);
		if (n > 0 && n <= 100000 && secs > 0 && secs <= 3600)
			return hold(&sa, n, secs);
	}
	fprintf(stderr, "usage: bench-holdconns serve ADDR PORT\n"
			"       bench-holdconns hold ADDR PORT CONNECTIONS SECONDS\n");
	return 2;
}
