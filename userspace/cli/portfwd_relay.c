// SPDX-License-Identifier: Apache-2.0
/*
 * port-forward's data path. Listeners on the host as client-go's PortForwarder opens them; each
 * accepted connection is connected to the pod's localhost from a socket made inside the pod's
 * network namespace (IPv4, then IPv6, as containerd's port forward dials), then relayed by
 * libnet's splice (bounded buffers, EOF passed on as shutdown(SHUT_WR), a reset resets both).
 * One thread, one epoll loop; SIGINT and SIGTERM arrive on a signalfd. The pod's netns is
 * checked each second: when its name is gone or names another namespace, the pod went away.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/loop.h"
#include "net/sock.h"
#include "net/splice.h"
#include "portfwd.h"

#define PF_DIAL_TIMEOUT_MS 10000
/* The kubelet's default streaming-connection-idle-timeout: an idle forward is closed after it. */
#define PF_IDLE_S (4 * 3600)
/* Accepts per wake-up of a listener, so one flooded port cannot starve the others. */
#define PF_ACCEPT_BATCH 64
/* Descriptors kept aside from the connections' share: listeners, epoll, stdio, the netns. */
#define PF_FD_RESERVE 64

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

struct pf_run;

struct pf_listener {
	struct loop_handler h;
	struct pf_run *run;
	struct portfwd_port *port;
	int fd;
};

/* An accepted connection while its pod side connects. */
struct pf_dial {
	struct loop_handler h;
	struct loop_timer timer;
	struct pf_run *run;
	struct pf_dial *next, *prev;
	const struct portfwd_port *port;
	int client, server;
	bool v6;  /* trying [::1], 127.0.0.1 failed */
	int err4; /* why 127.0.0.1 failed */
};

struct pf_run {
	struct loop *loop;
	struct splice_set *splices;
	struct portfwd *pf;
	struct sock_ns ns;
	dev_t ns_dev;
	char ns_path[PATH_MAX];
	struct loop_handler sig_h;
	int sigfd;
	struct loop_tick tick;
	struct loop_timer resume; /* listeners paused for want of descriptors */
	struct pf_listener ls[PORTFWD_MAX_PORTS * PORTFWD_MAX_ADDRS];
	size_t nls;
	struct pf_dial *dials;
	size_t ndials, cap;
	unsigned long refused; /* over the cap, not yet told */
	time_t refused_said;
	bool lost;
};

static size_t held(const struct pf_run *r)
{
	return splice_set_size(r->splices) + r->ndials;
}

static void dial_end(struct pf_dial *d)
{
	struct pf_run *r = d->run;

	if (d->prev)
		d->prev->next = d->next;
	else
		r->dials = d->next;
	if (d->next)
		d->next->prev = d->prev;
	r->ndials--;
	d->h.dead = true;
	loop_timer_cancel(r->loop, &d->timer);
	if (d->server >= 0) {
		loop_del(r->loop, d->server);
		close(d->server);
	}
	if (d->client >= 0)
		close(d->client);
	loop_defer_free(r->loop, d, free);
}

static int socket_fn(void *arg)
{
	int fd = socket(*(const int *)arg, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

/* A connect from inside the pod to its localhost:@port: the fd (connecting or up) or -errno. */
static int dial_start(struct pf_run *r, bool v6, uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	int family = v6 ? AF_INET6 : AF_INET;
	int fd = sock_in_ns(&r->ns, socket_fn, &family), ret;

	if (fd < 0)
		return fd;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin6.sin6_addr = in6addr_loopback;
	ret = v6 ? connect(fd, (struct sockaddr *)&sin6, sizeof(sin6))
		 : connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (ret < 0 && errno != EINPROGRESS) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static void dial_try(struct pf_dial *d);

/* @d's attempt failed with @err: IPv6 after IPv4, else the connection ends, told. */
static void dial_next(struct pf_dial *d, int err)
{
	const struct portfwd *pf = d->run->pf;
	unsigned int port = d->port->remote;

	if (!d->v6) {
		d->v6 = true;
		d->err4 = err;
		dial_try(d);
		return;
	}
	fprintf(stderr,
		"an error occurred forwarding %u -> %u: error forwarding port %u to pod %s/%s: "
		"failed to connect to localhost:%u inside namespace \"%s\", IPv4: dial tcp4 "
		"127.0.0.1:%u: connect: %s IPv6 dial tcp6 [::1]:%u: connect: %s\n",
		d->port->local, port, port, pf->ns, pf->pod, port, pf->netns, port,
		strerror(d->err4), port, strerror(err));
	dial_end(d);
}

static void dial_try(struct pf_dial *d)
{
	int fd = dial_start(d->run, d->v6, d->port->remote), err;

	if (fd < 0) {
		dial_next(d, -fd);
		return;
	}
	err = loop_add(d->run->loop, fd, EPOLLOUT, &d->h);
	if (err) {
		close(fd);
		dial_next(d, -err);
		return;
	}
	d->server = fd;
}

static void on_dial(struct loop_handler *h, uint32_t events)
{
	struct pf_dial *d = container_of(h, struct pf_dial, h);
	struct pf_run *r = d->run;
	socklen_t sl = sizeof(int);
	int soerr = 0, client, server, err;

	if (getsockopt(d->server, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	/* A hang-up with no error to say and no way to write: nothing to wait for (and, level
	 * triggered, it would wake the loop again at once). */
	if (!soerr && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLOUT))
		soerr = ECONNRESET;
	if (soerr) {
		loop_del(r->loop, d->server);
		close(d->server);
		d->server = -1;
		dial_next(d, soerr);
		return;
	}
	if (!(events & EPOLLOUT))
		return;
	loop_del(r->loop, d->server);
	client = d->client;
	server = d->server;
	d->client = d->server = -1;
	dial_end(d);
	err = splice_start(r->splices, client, server, NULL, NULL);
	if (err)
		fprintf(stderr, "ambitctl: a connection could not be relayed: %s\n",
			strerror(-err));
}

static void on_dial_timeout(struct loop_timer *t)
{
	struct pf_dial *d = container_of(t, struct pf_dial, timer);

	fprintf(stderr,
		"an error occurred forwarding %u -> %u: error forwarding port %u to pod %s/%s: "
		"timed out connecting to localhost:%u\n",
		d->port->local, d->port->remote, d->port->remote, d->run->pf->ns, d->run->pf->pod,
		d->port->remote);
	dial_end(d);
}

/* Takes @client: it is relayed once the pod side is up, or closed. */
static void dial_create(struct pf_run *r, const struct portfwd_port *port, int client)
{
	struct pf_dial *d = calloc(1, sizeof(*d));

	if (!d) {
		close(client);
		return;
	}
	d->h.fn = on_dial;
	d->timer.fn = on_dial_timeout;
	d->run = r;
	d->port = port;
	d->client = client;
	d->server = -1;
	d->next = r->dials;
	if (r->dials)
		r->dials->prev = d;
	r->dials = d;
	r->ndials++;
	if (loop_timer_arm(r->loop, &d->timer, PF_DIAL_TIMEOUT_MS)) {
		dial_end(d);
		return;
	}
	dial_try(d);
}

static void refused_tell(struct pf_run *r)
{
	fprintf(stderr,
		"ambitctl: %zu connections open, the most port-forward holds: refused %lu more\n",
		held(r), r->refused);
	r->refused = 0;
	r->refused_said = loop_now(r->loop);
}

static void listeners_events(struct pf_run *r, uint32_t events)
{
	for (size_t i = 0; i < r->nls; i++)
		loop_mod(r->loop, r->ls[i].fd, events, &r->ls[i].h);
}

static void on_resume(struct loop_timer *t)
{
	listeners_events(container_of(t, struct pf_run, resume), EPOLLIN);
}

static void on_accept(struct loop_handler *h, uint32_t events)
{
	struct pf_listener *l = container_of(h, struct pf_listener, h);
	struct pf_run *r = l->run;

	(void)events;
	for (int i = 0; i < PF_ACCEPT_BATCH; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			/*
			 * The connection waits in the backlog, which would wake the loop again at
			 * once: the listeners rest a second instead of spinning.
			 */
			fprintf(stderr, "ambitctl: accept: %s; listening again in 1 s\n",
				strerror(errno));
			listeners_events(r, 0);
			loop_timer_arm(r->loop, &r->resume, 1000);
			return;
		}
		if (fd < 0)
			return;
		if (held(r) >= r->cap) {
			sock_close_reset(fd);
			r->refused++;
			if (loop_now(r->loop) != r->refused_said)
				refused_tell(r);
			continue;
		}
		printf("Handling connection for %u\n", l->port->local);
		dial_create(r, l->port, fd);
	}
}

static void on_signal(struct loop_handler *h, uint32_t events)
{
	struct pf_run *r = container_of(h, struct pf_run, sig_h);
	struct signalfd_siginfo si;

	(void)events;
	while (read(r->sigfd, &si, sizeof(si)) == sizeof(si))
		loop_stop(r->loop);
}

static void on_tick(struct loop_tick *t)
{
	struct pf_run *r = container_of(t, struct pf_run, tick);
	struct stat st;

	if (r->refused)
		refused_tell(r);
	/* `local down`, `delete` or a re-made pod: its netns name is gone or names another. */
	if (stat(r->ns_path, &st) == 0 && st.st_dev == r->ns_dev && st.st_ino == r->ns.ino)
		return;
	fprintf(stderr, "error: lost connection to pod\n");
	r->lost = true;
	loop_stop(r->loop);
}

/* "127.0.0.1:80", "[::1]:80" (Go's net.JoinHostPort). */
static void host_port(const struct portfwd_addr *a, unsigned int port, char *buf, size_t len)
{
	snprintf(buf, len, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a->ip, port);
}

/* One listener of @p on @a; 0, or -errno with client-go's words for it in @why. */
static int listen_one(struct pf_run *r, const struct portfwd_addr *a, struct portfwd_port *p,
		      char *why, size_t len)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl = a->family == AF_INET6 ? sizeof(*sin6) : sizeof(*sin);
	struct pf_listener *l = &r->ls[r->nls];
	const char *step = "socket";
	char hp[INET6_ADDRSTRLEN + 16];
	int one = 1, fd, ret;

	ss.ss_family = (sa_family_t)a->family;
	if (a->family == AF_INET6) {
		inet_pton(AF_INET6, a->ip, &sin6->sin6_addr);
		sin6->sin6_port = htons(p->local);
	} else {
		inet_pton(AF_INET, a->ip, &sin->sin_addr);
		sin->sin_port = htons(p->local);
	}
	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* As Go's listeners: SO_REUSEADDR, and an IPv6 one takes IPv6 alone. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	step = "bind";
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	step = "listen";
	if (listen(fd, SOMAXCONN) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail;
	l->h.fn = on_accept;
	l->run = r;
	l->port = p;
	l->fd = fd;
	errno = -loop_add(r->loop, fd, EPOLLIN, &l->h);
	if (errno)
		goto fail;
	r->nls++;
	/* ":REMOTE": the port the first listener got is every other address's too. */
	p->local = ntohs(a->family == AF_INET6 ? sin6->sin6_port : sin->sin_port);
	host_port(a, p->local, hp, sizeof(hp));
	printf("Forwarding from %s -> %u\n", hp, p->remote);
	return 0;
fail:
	ret = -errno;
	if (fd >= 0)
		close(fd);
	host_port(a, p->local, hp, sizeof(hp));
	snprintf(why, len, "unable to create listener: Error listen tcp%c %s: %s: %s",
		 a->family == AF_INET6 ? '6' : '4', hp, step, strerror(-ret));
	return ret;
}

/*
 * Every address for @p, as client-go's listenOnPort: the port fails when an address given as
 * an IP fails, or when no "localhost" address listens. Listeners that did open stay open.
 * 0 or -errno, told on stderr.
 */
static int listen_port(struct pf_run *r, struct portfwd_port *p)
{
	char errs[2048] = "", why[512];
	size_t used = 0;
	int ok_all = 0, fail_all = 0, fail_any = 0, ret = 0;

	for (size_t i = 0; i < r->pf->naddrs; i++) {
		const struct portfwd_addr *a = &r->pf->addrs[i];
		int err = listen_one(r, a, p, why, sizeof(why));

		if (!err) {
			ok_all += a->all;
			continue;
		}
		ret = err;
		fail_all += a->all;
		fail_any += !a->all;
		if (used < sizeof(errs))
			used += (size_t)snprintf(errs + used, sizeof(errs) - used, "%s%s",
						 used ? " " : "", why);
	}
	if (!fail_any && (ok_all || !fail_all))
		return 0;
	fprintf(stderr,
		"Unable to listen on port %u: Listeners failed to create with the following "
		"errors: [%s]\n",
		p->local, errs);
	return ret;
}

/* Room for PORTFWD_MAX_CONNS connections (two descriptors each), as the hard limit allows. */
static size_t conn_cap(size_t nls)
{
	rlim_t want = (rlim_t)PORTFWD_MAX_CONNS * 2 + PF_FD_RESERVE + nls;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 16;
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= want)
		return PORTFWD_MAX_CONNS;
	return rl.rlim_cur > PF_FD_RESERVE + nls + 32 ? (rl.rlim_cur - PF_FD_RESERVE - nls) / 2
						      : 16;
}

/* The pod's netns, kept open: sockets are made in it, and its identity checked each second. */
static int open_netns(struct pf_run *r)
{
	struct stat st;

	snprintf(r->ns_path, sizeof(r->ns_path), "/run/netns/%s", r->pf->netns);
	r->ns.fd = open(r->ns_path, O_RDONLY | O_CLOEXEC);
	if (r->ns.fd < 0 || fstat(r->ns.fd, &st) < 0) {
		int ret = -errno;

		fprintf(stderr, "error: pod %s/%s: %s: %s\n", r->pf->ns, r->pf->pod, r->ns_path,
			strerror(-ret));
		return ret;
	}
	r->ns_dev = st.st_dev;
	r->ns.ino = st.st_ino;
	return 0;
}

static void run_close(struct pf_run *r, const sigset_t *old)
{
	while (r->dials)
		dial_end(r->dials);
	splice_set_destroy(r->splices);
	for (size_t i = 0; i < r->nls; i++) {
		loop_del(r->loop, r->ls[i].fd);
		close(r->ls[i].fd);
	}
	if (r->loop) {
		loop_timer_cancel(r->loop, &r->resume);
		loop_tick_del(r->loop, &r->tick);
	}
	loop_destroy(r->loop);
	if (r->sigfd >= 0)
		close(r->sigfd);
	if (r->ns.fd >= 0)
		close(r->ns.fd);
	sigprocmask(SIG_SETMASK, old, NULL);
}

int portfwd_run(struct portfwd *pf)
{
	struct splice_limits lim = {.connect_s = 0, .first_byte_s = 0, .idle_s = PF_IDLE_S};
	struct pf_run *r = calloc(1, sizeof(*r));
	sigset_t mask, old;
	size_t listening = 0;
	int ret = -ENOMEM, err = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, &old);
	if (!r)
		goto out_mask;
	r->pf = pf;
	r->ns.fd = r->sigfd = -1;
	/* Lines go out as they happen, also into a pipe or a file (scripts wait for them). */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	ret = open_netns(r);
	if (ret)
		goto out;
	r->loop = loop_create();
	r->splices = r->loop ? splice_set_create(r->loop, &lim) : NULL;
	r->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	ret = -errno;
	if (!r->splices || r->sigfd < 0)
		goto out;
	r->sig_h.fn = on_signal;
	r->tick.fn = on_tick;
	r->resume.fn = on_resume;
	ret = loop_add(r->loop, r->sigfd, EPOLLIN, &r->sig_h);
	if (ret)
		goto out;
	for (size_t i = 0; i < pf->nports; i++) {
		int e = listen_port(r, &pf->ports[i]);

		listening += !e;
		err = e ? e : err;
	}
	if (!listening) {
		fprintf(stderr, "error: unable to listen on any of the requested ports: [");
		for (size_t i = 0; i < pf->nports; i++)
			fprintf(stderr, "%s{%u %u}", i ? " " : "", pf->ports[i].local,
				pf->ports[i].remote);
		fprintf(stderr, "]\n");
		ret = err ? err : -EADDRINUSE;
		goto out;
	}
	r->cap = conn_cap(r->nls);
	loop_tick_add(r->loop, &r->tick);
	ret = loop_run(r->loop);
	if (!ret && r->lost)
		ret = -ECONNRESET;
out:
	run_close(r, &old);
	free(r);
	return ret;
out_mask:
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}
