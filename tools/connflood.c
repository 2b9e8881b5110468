// SPDX-License-Identifier: Apache-2.0
/*
 * connflood: holds many idle TCP connections to one address, as an attacker would, and reports
 * what the server did with them. For the denial-of-service tests (tests/integration/t_80_*).
 *
 *   connflood ADDR:PORT N SECONDS [--send TEXT] [--rate R] [--reconnect] [--hold-after-open]
 *
 * Opens N connections (at most R new ones per second; 0, the default, is as fast as possible),
 * optionally writes TEXT on each once connected (e.g. the start of a TLS ClientHello, a
 * half-finished handshake), then holds them for SECONDS without reading or writing anything
 * else. With --reconnect a connection the server closed or refused is opened again (within the
 * same rate), so the pressure stays at N. With --hold-after-open the SECONDS count from the moment
 * all N are open (a soak's idle time, however long opening them took through a slow path; from
 * the start as without it while they never all are). It
 * raises its own fd limit to fit N.
 *
 * Prints one JSON line: attempts, established (connect completed), refused (connect failed),
 * closed_by_peer (EOF or reset after connecting), open_at_end, max_open. Exit 0, or 1 on a
 * usage or local error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { C_IDLE = 0, C_CONNECTING, C_OPEN };

struct conn {
	int fd;
	enum state st;
};

struct flood {
	int ep;
	struct sockaddr_in sa;
	const char *send_text;
	bool reconnect;
	struct conn *conns;
	uint32_t *idle; /* indexes of the connections to (re)open, a stack */
	unsigned long n, nidle;
	unsigned long attempts, established, refused, closed_by_peer, open, max_open;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (*end || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

/* Room for @n sockets and a few more: root may raise the hard limit too. */
static int raise_nofile(unsigned long n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= n + 64)
		return 0;
	rl.rlim_cur = n + 64;
	if (rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur;
	return setrlimit(RLIMIT_NOFILE, &rl) ? -errno : 0;
}

static void conn_drop(struct flood *f, uint32_t id)
{
	struct conn *c = &f->conns[id];

	epoll_ctl(f->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->st == C_OPEN)
		f->open--;
	c->fd = -1;
	c->st = C_IDLE;
	if (f->reconnect)
		f->idle[f->nidle++] = id;
}

static int conn_start(struct flood *f, uint32_t id)
{
	struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = id};
	struct conn *c = &f->conns[id];

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	f->attempts++;
	c->st = C_CONNECTING;
	if (connect(c->fd, (const struct sockaddr *)&f->sa, sizeof(f->sa)) &&
	    errno != EINPROGRESS) {
		f->refused++;
		close(c->fd);
		c->fd = -1;
		c->st = C_IDLE;
		if (f->reconnect)
			f->idle[f->nidle++] = id;
		return 0;
	}
	return epoll_ctl(f->ep, EPOLL_CTL_ADD, c->fd, &ev) ? -errno : 0;
}

static void conn_event(struct flood *f, uint32_t id, uint32_t events)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = id};
	struct conn *c = &f->conns[id];
	socklen_t sl = sizeof(int);
	char buf[512];
	int err = 0;

	if (c->st == C_CONNECTING) {
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			f->refused++;
			conn_drop(f, id);
			return;
		}
		c->st = C_OPEN;
		f->established++;
		if (++f->open > f->max_open)
			f->max_open = f->open;
		if (f->send_text &&
		    send(c->fd, f->send_text, strlen(f->send_text), MSG_NOSIGNAL) < 0) {
			f->closed_by_peer++;
			conn_drop(f, id);
			return;
		}
		epoll_ctl(f->ep, EPOLL_CTL_MOD, c->fd, &ev);
		return;
	}
	/* Anything the server sends is read and ignored; EOF or a reset means it let go. */
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n > 0)
			continue;
		if (n < 0 && errno == EAGAIN && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return;
		f->closed_by_peer++;
		conn_drop(f, id);
		return;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: connflood ADDR:PORT N SECONDS [--send TEXT] [--rate R] "
			"[--reconnect] [--hold-after-open]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"send", required_argument, NULL, 's'},
	    {"rate", required_argument, NULL, 'r'},
	    {"reconnect", no_argument, NULL, 'R'},
	    {"hold-after-open", no_argument, NULL, 'H'},
	    {},
	};
	struct flood f = {.ep = -1};
	struct epoll_event evs[256];
	double start, end, rate = 0, budget = 0, last;
	bool after_open = false;
	long secs;
	int opt, err;

	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's': f.send_text = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'R': f.reconnect = true; break;
		case 'H': after_open = true; break;
		default: usage();
		}
	}
	if (argc - optind != 3 || parse_addr(argv[optind], &f.sa))
		usage();
	f.n = strtoul(argv[optind + 1], NULL, 10);
	secs = strtol(argv[optind + 2], NULL, 10);
	if (f.n == 0 || f.n > 1000000 || secs <= 0 || rate < 0)
		usage();
	err = raise_nofile(f.n);
	if (err) {
		fprintf(stderr, "connflood: cannot raise the fd limit to %lu: %s\n", f.n + 64,
			strerror(-err));
		return 1;
	}
	f.conns = calloc(f.n, sizeof(*f.conns));
	f.idle = calloc(f.n, sizeof(*f.idle));
	f.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!f.conns || !f.idle || f.ep < 0) {
		perror("connflood");
		return 1;
	}
	/* Opened in index order: the stack holds them reversed. */
	for (unsigned long i = 0; i < f.n; i++) {
		f.conns[i].fd = -1;
		f.idle[i] = (uint32_t)(f.n - 1 - i);
	}
	f.nidle = f.n;
	start = last = now_s();
	end = start + (double)secs;
	while (now_s() < end) {
		double t = now_s();
		int k;

		/* A token bucket of one second's worth: a burst never exceeds R. */
		budget += (t - last) * rate;
		if (budget > rate)
			budget = rate;
		last = t;
		while (f.nidle && (rate == 0 || budget >= 1)) {
			err = conn_start(&f, f.idle[--f.nidle]);
			if (err) {
				fprintf(stderr, "connflood: %s\n", strerror(-err));
				return 1;
			}
			budget -= 1;
		}
		k = epoll_wait(f.ep, evs, 256, 20);
		for (int i = 0; i < k; i++)
			if (f.conns[evs[i].data.u32].fd >= 0)
				conn_event(&f, evs[i].data.u32, evs[i].events);
		if (after_open && f.open == f.n) {
			end = now_s() + (double)secs;
			after_open = false;
		}
	}
	printf("{\"attempts\":%lu,\"established\":%lu,\"refused\":%lu,\"closed_by_peer\":%lu,"
	       "\"open_at_end\":%lu,\"max_open\":%lu,\"seconds\":%.1f}\n",
	       f.attempts, f.established, f.refused, f.closed_by_peer, f.open, f.max_open,
	       now_s() - start);
	return 0;
}
