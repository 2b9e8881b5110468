// SPDX-License-Identifier: Apache-2.0
/*
 * bench-ratehttp: HTTP/1.1 requests at a fixed rate, for latency at a given load (wrk runs as
 * fast as it can; Debian has no wrk2). No Debian tool does this, so this one does, and nothing
 * more:
 *
 *   bench-ratehttp ADDR PORT HOST PATH RATE SECONDS CONNS
 *
 * sends GET PATH with Host HOST to ADDR:PORT, RATE requests a second for SECONDS, over up to
 * CONNS keep-alive connections (a request goes on an idle one; when none is idle it waits for
 * one, its latency still counted from when it was due, so a stall is not hidden: no
 * coordinated omission). Responses are parsed by the waypoint's HTTP/1 parser (llhttp).
 * Prints one JSON line: sent, ok (2xx), failed, p50/p90/p99/max latency in microseconds.
 * Exit 0 when every request got a 2xx.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http1.h"

struct conn {
	int fd;
	struct h1_parser *p;
	bool busy, done;
	uint64_t due_us; /* when the request in flight was due */
	int status;
};

static uint64_t *lat;
static size_t n_lat, n_ok, n_failed;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int on_head(void *user, struct h1_head *h)
{
	((struct conn *)user)->status = h->status;
	return 0;
}

static int on_body(void *user, const char *data, size_t len)
{
	return 0;
}

static int on_end(void *user)
{
	((struct conn *)user)->done = true;
	return H1_PAUSE;
}

static const struct h1_parser_ops ops = {.on_head = on_head, .on_body = on_body, .on_end = on_end};

static int conn_open(struct conn *c, const struct sockaddr_in *sa, int ep)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->p = h1_parser_new(false, &ops, c);
	if (!c->p || epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
		return -ENOMEM;
	c->busy = false;
	return 0;
}

static void conn_close(struct conn *c, int ep)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	h1_parser_free(c->p);
	c->p = NULL;
	c->fd = -1;
}

static void finish(struct conn *c, bool ok)
{
	lat[n_lat++] = now_us() - c->due_us;
	if (ok)
		n_ok++;
	else
		n_failed++;
	c->busy = false;
}

/* A response's bytes arrived on @c (or it closed): the request ends when the message did. */
static void conn_read(struct conn *c, int ep, const struct sockaddr_in *sa)
{
	char buf[16384];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0 || !c->busy)
		goto broken;
	c->done = false;
	if (h1_parser_feed(c->p, buf, (size_t)n) < 0)
		goto broken;
	if (c->done) {
		h1_parser_resume(c->p);
		finish(c, c->status >= 200 && c->status < 300);
	}
	return;
broken:
	/* Closed, refused or bad: the request in flight failed; a new connection takes over. */
	if (c->busy)
		finish(c, false);
	conn_close(c, ep);
	conn_open(c, sa, ep);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct epoll_event evs[64];
	struct conn *conns;
	char req[1024];
	uint64_t start, end, next, interval, total;
	size_t nconns, sent = 0;
	double rate;
	int ep, reqlen;

	if (argc != 8 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: bench-ratehttp ADDR PORT HOST PATH RATE SECONDS CONNS\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	rate = atof(argv[5]);
	total = (uint64_t)(rate * atof(argv[6]));
	nconns = (size_t)atoi(argv[7]);
	if (rate <= 0 || !total || !nconns) {
		fprintf(stderr, "bench-ratehttp: RATE, SECONDS and CONNS must be positive\n");
		return 2;
	}
	reqlen = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-ratehttp\r\n\r\n",
			  argv[4], argv[3]);
	lat = calloc(total, sizeof(*lat));
	conns = calloc(nconns, sizeof(*conns));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!lat || !conns || ep < 0)
		return 1;
	for (size_t i = 0; i < nconns; i++)
		if (conn_open(&conns[i], &sa, ep)) {
			fprintf(stderr, "bench-ratehttp: connect %s:%s: %s\n", argv[1], argv[2],
				strerror(errno));
			return 1;
		}
	interval = (uint64_t)(1e6 / rate);
	start = now_us();
	next = start;
	/* Until every request was sent and answered (or 10 s past the end). */
	end = start + (uint64_t)(atof(argv[6]) * 1e6) + 10000000u;
	while (n_lat < total && now_us() < end) {
		uint64_t t = now_us();
		int timeout, n;

		/* Requests due now go on idle connections; the rest wait, still due as they were.
		 */
		while (sent < total && next <= t) {
			struct conn *c = NULL;

			for (size_t i = 0; i < nconns && !c; i++)
				if (!conns[i].busy && conns[i].fd >= 0)
					c = &conns[i];
			if (!c)
				break;
			c->busy = true;
			c->due_us = next;
			if (write(c->fd, req, (size_t)reqlen) != reqlen) {
				finish(c, false);
				conn_close(c, ep);
				conn_open(c, &sa, ep);
			}
			sent++;
			next = start + sent * interval;
		}
		timeout = sent < total && next > t ? (int)((next - t) / 1000) : 1;
		n = epoll_wait(ep, evs, 64, timeout);
		for (int i = 0; i < n; i++)
			conn_read(evs[i].data.ptr, ep, &sa);
	}
	n_failed += total - n_lat;
	qsort(lat, n_lat, sizeof(*lat), cmp_u64);
#define PCT(p) (n_lat ? lat[(size_t)((double)(n_lat - 1) * (p))] : 0)
	printf(
	    "{\"rate\":%g,\"sent\":%zu,\"ok\":%zu,\"failed\":%zu,\"p50_us\":%llu,\"p90_us\":%llu,"
	    "\"p99_us\":%llu,\"max_us\":%llu}\n",
	    rate, sent, n_ok, n_failed, (unsigned long long)PCT(0.5), (unsigned long long)PCT(0.9),
	    (unsigned long long)PCT(0.99), (unsigned long long)(n_lat ? lat[n_lat - 1] : 0));
	for (size_t i = 0; i < nconns; i++)
		conn_close(&conns[i], ep);
	close(ep);
	free(conns);
	free(lat);
	return n_failed ? 1 : 0;
}
