// SPDX-License-Identifier: Apache-2.0
/* In-pod capture: the pods' netns set up and handed to the ztunnels (inpod.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "ambit/bpf_abi.h"
#include "ambit/clock.h"
#include "ambit/datapath.h"
#include "ambit/ipc.h"
#include "ambit/log.h"
#include "inpod.h"
#include "podnet/netsetup.h"
#include "podnet/podns.h"
#include "net/sock.h"

#define INPOD_SEND_S 2
/* A pod a ztunnel could not capture is handed to it again after 250 ms, doubling to 8 s. */
#define RESEND_FIRST_MS 250
#define RESEND_MAX_MS 8000
#define RESEND_FORGET_MS 60000
/* How long a pod waits for the ztunnels' "ok" before it is marked all the same (inpod.h). */
#define INPOD_ACK_WAIT_MS 2000
/*
 * A pod that left the mesh keeps its netns set-up (the way back of the ztunnel's deliveries to
 * it) while connections the ztunnel made to it are open, looked at every INPOD_DRAIN_POLL_MS, at
 * most INPOD_DRAIN_MS: those still open then are reset.
 */
#define INPOD_DRAIN_POLL_MS 100
#define INPOD_DRAIN_MS 30000

struct inpod_pod {
	char *uid;
	uint32_t ip;
	struct ipaddr ip6; /* family 0: none */
	uint64_t cgroup_id;
	int nsfd;    /* the pod's netns, held while it is captured */
	int ifindex; /* the interface holding its IP, in its netns */
	bool seen;   /* in the desired state of this sync */
	bool marked; /* in-pod in the maps (desired_mark_inpod) since a sync */
	/* The ztunnels that said "ok" since it was last handed to them: bit per m->zt slot. */
	unsigned int acked;
	uint64_t added_at; /* ms: when it was first handed to the ztunnels */
	/* What the ztunnels refused: bit per m->zt slot, handed again at resend_at (ms). */
	unsigned int resend;
	unsigned int fails;
	uint64_t resend_at;
	uint64_t left_at; /* ms: when it left the mesh (m->leaving: draining) */
};

static const char *const mode_names[] = {"auto", "host", "inpod"};

int capture_mode_parse(const char *s, enum capture_mode *out)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (!strcmp(s, mode_names[i])) {
			*out = (enum capture_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *capture_mode_name(enum capture_mode m)
{
	return mode_names[m];
}

enum capture_mode inpod_detect(const struct desired *d)
{
	for (size_t i = 0; i < d->n_local; i++) {
		const struct desired_local_pod *lp = &d->local[i];

		int r;

		if (!lp->ifindex)
			continue;
		r = netsetup_bridge_port(lp->ifindex);
		if (r >= 0)
			return r ? CAPTURE_INPOD : CAPTURE_HOST;
	}
	return CAPTURE_AUTO;
}

/*
 * Work in a pod's netns: setns changes the calling thread only, so a thread of its own.
 * NS_DRAIN counts the ztunnel's connections to the pod (resetting them with @reset) and, when
 * none is left, does what NS_DOWN does.
 */
enum ns_what { NS_UP, NS_DOWN, NS_DRAIN };

struct ns_job {
	struct inpod *m;
	struct inpod_pod *p;
	enum ns_what what;
	bool reset;
	int conns; /* NS_DRAIN: the connections found open (before any reset) */
	int ret;
	char why[256];
};

static void *ns_work(void *arg)
{
	struct ns_job *j = arg;
	int err;

	if (setns(j->p->nsfd, CLONE_NEWNET) < 0) {
		j->ret = -errno;
		snprintf(j->why, sizeof(j->why), "setns: %s", strerror(errno));
		return NULL;
	}
	if (j->what == NS_DRAIN) {
		const struct in6_addr *ip6 =
		    j->p->ip6.family == AF_INET6 ? (const struct in6_addr *)j->p->ip6.a : NULL;

		j->conns = netsetup_foreign_conns(j->p->ip, ip6, j->reset);
		if (j->conns < 0) {
			/* Not known: the set-up goes, as it did before the drain. */
			snprintf(j->why, sizeof(j->why), "sock_diag: %s", strerror(-j->conns));
			j->conns = 0;
		}
		if (j->conns && !j->reset) {
			j->ret = 0;
			return NULL;
		}
	}
	if (j->what != NS_UP) {
		/* The pod may be gone with its interface: nothing left to undo then. */
		err = datapath_detach_tc_pod(j->m->dp, j->p->ifindex);
		if (err && err != -ENODEV && err != -ENOENT && err != -EINVAL)
			pr_warn("pod %s: tc detach in its netns: %s", j->p->uid, strerror(-err));
		netsetup_policy_routing_remove();
		netsetup_lo_accept_local(false);
		j->ret = 0;
		return NULL;
	}
	/*
	 * tc_pod_egress turns the pod's answers to the ztunnel back to lo, marked for this route,
	 * with the pod's own address as source (accept_local).
	 */
	err = netsetup_lo_accept_local(true);
	if (err) {
		j->ret = err;
		snprintf(j->why, sizeof(j->why), "accept_local on lo: %s", strerror(-err));
		return NULL;
	}
	err = netsetup_policy_routing();
	if (err) {
		j->ret = err;
		snprintf(j->why, sizeof(j->why), "policy routing: %s", strerror(-err));
		return NULL;
	}
	err = datapath_attach_tc_pod(j->m->dp, j->p->ifindex);
	if (err) {
		j->ret = err;
		snprintf(j->why, sizeof(j->why), "tc attach on ifindex %d: %s", j->p->ifindex,
			 strerror(-err));
		return NULL;
	}
	j->ret = 0;
	return NULL;
}

static int ns_run(struct ns_job *j, char *why, size_t len)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, ns_work, j);

	if (err) {
		snprintf(why, len, "thread: %s", strerror(err));
		return -err;
	}
	pthread_join(t, NULL);
	snprintf(why, len, "%s", j->why);
	return j->ret;
}

static int in_pod_netns(struct inpod *m, struct inpod_pod *p, bool up, char *why, size_t len)
{
	struct ns_job j = {.m = m, .p = p, .what = up ? NS_UP : NS_DOWN, .ret = -EIO};

	return ns_run(&j, why, len);
}

static unsigned int zt_slot(const struct inpod *m, const struct agent_source *z)
{
	return (unsigned int)((const struct inpod_source *)z - m->zt);
}

static void zt_drop(struct inpod *m, struct agent_source *z, const char *why)
{
	unsigned int bit = 1u << zt_slot(m, z);

	/* A ztunnel that connects again is handed every pod anyway. */
	for (size_t i = 0; i < m->n; i++) {
		m->pods[i].resend &= ~bit;
		m->pods[i].acked &= ~bit;
	}
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, z->fd, NULL);
	close(z->fd);
	z->fd = -1;
	pr_warn("in-pod: ztunnel connection closed: %s", why);
}

/* One message to one ztunnel; a ztunnel that cannot take it is dropped (it resyncs). */
static void zt_send(struct inpod *m, struct agent_source *z, const char *msg, int fd)
{
	int err = sock_send_fds(z->fd, msg, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);

	if (err)
		zt_drop(m, z, strerror(-err));
}

/* "add <ip> <uid>", and the pod's IPv6 after them when it has one (inpod.h). */
static void send_add(struct inpod *m, struct agent_source *z, struct inpod_pod *p)
{
	char msg[320], ip[INET_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN] = "";

	p->acked &= ~(1u << zt_slot(m, z));
	inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
	if (p->ip6.family == AF_INET6)
		inet_ntop(AF_INET6, p->ip6.a, ip6, sizeof(ip6));
	snprintf(msg, sizeof(msg), "add %s %.200s%s%s", ip, p->uid, ip6[0] ? " " : "", ip6);
	zt_send(m, z, msg, p->nsfd);
}

static void broadcast(struct inpod *m, struct inpod_pod *p, bool add)
{
	char msg[96], ip[INET_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
	/* An IPv6-only pod (0.0.0.0) is named by its IPv6 (inpod.h). */
	if (!p->ip && p->ip6.family == AF_INET6)
		snprintf(msg, sizeof(msg), "del %s %s", ip,
			 inet_ntop(AF_INET6, p->ip6.a, ip6, sizeof(ip6)));
	else
		snprintf(msg, sizeof(msg), "del %s", ip);
	for (int i = 0; i < INPOD_MAX_ZTUNNELS; i++) {
		struct agent_source *z = &m->zt[i].src;

		if (z->fd < 0)
			continue;
		if (add)
			send_add(m, z, p);
		else
			zt_send(m, z, msg, -1);
	}
}

/* The resend timer at the earliest pod due, or off. */
static void resend_arm(struct inpod *m)
{
	struct itimerspec its = {0};
	uint64_t next = 0, now = clock_mono_ms();

	for (size_t i = 0; i < m->n; i++)
		if (m->pods[i].resend && (!next || m->pods[i].resend_at < next))
			next = m->pods[i].resend_at;
	if (next) {
		uint64_t ms = next > now ? next - now : 1;

		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000;
	}
	if (m->resend.src.fd >= 0 && timerfd_settime(m->resend.src.fd, 0, &its, NULL) < 0)
		pr_warn("in-pod: resend timer: %s", strerror(errno));
}

static void on_resend(struct agent_source *src, uint32_t events)
{
	struct inpod *m = ((struct inpod_source *)src)->m;
	uint64_t now = clock_mono_ms(), expirations;

	(void)events;
	if (read(src->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_warn("in-pod: resend timer: %s", strerror(errno));
	for (size_t i = 0; i < m->n; i++) {
		struct inpod_pod *p = &m->pods[i];
		unsigned int due = p->resend_at <= now ? p->resend : 0;

		p->resend &= ~due;
		for (int k = 0; k < INPOD_MAX_ZTUNNELS; k++)
			if ((due & (1u << k)) && m->zt[k].src.fd >= 0)
				send_add(m, &m->zt[k].src, p);
	}
	resend_arm(m);
}

/* The pod of "<ip> <uid>[:]" at the head of a ztunnel's report, or NULL. */
static struct inpod_pod *reported(struct inpod *m, const char *report)
{
	char ipstr[INET_ADDRSTRLEN + 1], uid[160];
	struct in_addr a;
	size_t ul;

	if (sscanf(report, "%16s %159s", ipstr, uid) != 2 || inet_pton(AF_INET, ipstr, &a) != 1)
		return NULL;
	ul = strlen(uid);
	if (ul && uid[ul - 1] == ':')
		uid[--ul] = '\0';
	for (size_t i = 0; i < m->n; i++)
		if (m->pods[i].ip == a.s_addr && !strcmp(m->pods[i].uid, uid))
			return &m->pods[i];
	return NULL;
}

/* @p's address for the log: its IPv4, or an IPv6-only pod's IPv6. */
static const char *pod_addr_str(const struct inpod_pod *p, char *buf, size_t len)
{
	struct ipaddr addr;

	if (p->ip)
		ipaddr_from_v4(&addr, p->ip);
	else
		addr = p->ip6;
	return ipaddr_format(&addr, buf, len);
}

/* "ok <ip> <uid>": that ztunnel listens in the pod's netns; marked at the next sync when all do. */
static void on_ok(struct inpod *m, struct agent_source *z, const char *report)
{
	struct inpod_pod *p = reported(m, report);

	if (!p)
		return; /* no longer captured */
	p->acked |= 1u << zt_slot(m, z);
	if (!p->marked && m->kick)
		m->kick(m->kick_arg);
}

/*
 * "fail <ip> <uid>: <why>": that ztunnel did not capture the pod (a port of 15001, 15006 or
 * 15008 taken in the pod, no memory, ...). The maps already send the pod's traffic to those
 * listeners, so it is handed to that ztunnel again, with back-off, until it takes it.
 */
static void on_fail(struct inpod *m, struct agent_source *z, const char *report)
{
	struct inpod_pod *p = reported(m, report);
	uint64_t delay, now = clock_mono_ms();
	/* The ztunnel names an IPv6-only pod 0.0.0.0: the log says its address instead. */
	const char *rest = strchr(report, ' ');
	char ip[IPADDR_STRLEN];

	if (!p) {
		pr_warn("in-pod: the ztunnel could not capture pod %.200s (no longer captured)",
			report);
		return;
	}
	/* A refusal long after the last one starts the back-off again. */
	if (!p->resend && now > p->resend_at + RESEND_FORGET_MS)
		p->fails = 0;
	delay = (uint64_t)RESEND_FIRST_MS << (p->fails < 5 ? p->fails : 5);
	if (delay > RESEND_MAX_MS)
		delay = RESEND_MAX_MS;
	p->fails++;
	p->resend |= 1u << zt_slot(m, z);
	p->resend_at = now + delay;
	pr_warn("in-pod: the ztunnel could not capture pod %s%.200s; handed to it again in %" PRIu64
		" ms (attempt %u)",
		pod_addr_str(p, ip, sizeof(ip)), rest ? rest : "", delay, p->fails + 1);
	resend_arm(m);
}

/* What a ztunnel says: how each pod went (its failures are the agent's log too). */
static void on_ztunnel(struct agent_source *src, uint32_t events)
{
	struct inpod *m = ((struct inpod_source *)src)->m;
	int fds[SOCK_MAX_FDS];
	char msg[512];
	size_t n = 0;
	int err;

	if (src->fd < 0)
		return; /* dropped earlier in this batch of events */
	err = sock_recv_fds(src->fd, msg, sizeof(msg), fds, SOCK_MAX_FDS, &n);
	if (!err && !strcmp(msg, "keep-dns") && n == 2 && m->dns_fds[0] < 0) {
		/* Kept from now on: a ztunnel that restarts gets them (and their queue) back. */
		m->dns_fds[0] = fds[0];
		m->dns_fds[1] = fds[1];
		pr_info("in-pod: keeping the DNS proxy's sockets for the ztunnels");
		return;
	}
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	if (err == -EAGAIN)
		return;
	if (err || (events & (EPOLLHUP | EPOLLERR))) {
		zt_drop(m, src, err ? strerror(-err) : "hung up");
		return;
	}
	if (!strncmp(msg, "fail ", 5))
		on_fail(m, src, msg + 5);
	else if (!strncmp(msg, "ok ", 3))
		on_ok(m, src, msg + 3);
	else
		pr_debug("in-pod: ztunnel: %s", msg);
}

/*
 * A ztunnel connects: it gets every captured pod, then "synced". Only a process of this user
 * (root) may: the messages carry the pods' netns. Sends block up to INPOD_SEND_S while the
 * ztunnel takes them (a unix SEQPACKET queue holds only net.unix.max_dgram_qlen messages, 10 by
 * default); a ztunnel that takes nothing for that long is dropped and resyncs when it comes back.
 */
static void on_listen(struct agent_source *src, uint32_t events)
{
	struct inpod *m = ((struct inpod_source *)src)->m;
	struct epoll_event ev = {.events = EPOLLIN};
	struct timeval tv = {.tv_sec = INPOD_SEND_S};
	struct agent_source *z = NULL;
	int fd = accept4(src->fd, NULL, NULL, SOCK_CLOEXEC);
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int err;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.uid != geteuid() ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		pr_warn("in-pod: refused a connection from pid %d (uid %u): not this user's",
			(int)cred.pid, (unsigned int)cred.uid);
		close(fd);
		return;
	}
	for (int i = 0; i < INPOD_MAX_ZTUNNELS && !z; i++)
		if (m->zt[i].src.fd < 0)
			z = &m->zt[i].src;
	if (!z) {
		pr_warn("in-pod: more than %d ztunnels connected: refusing one",
			INPOD_MAX_ZTUNNELS);
		close(fd);
		return;
	}
	ev.data.ptr = z;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	z->fd = fd;
	z->handle = on_ztunnel;
	if (m->dns_fds[0] >= 0 && (err = sock_send_fds(fd, "dns", m->dns_fds, 2)))
		pr_warn("in-pod: cannot hand the DNS proxy's sockets to a ztunnel: %s",
			strerror(-err));
	if (!m->ready) {
		/* Its pods keep their listeners until this agent knows which are still here. */
		m->unsynced[(struct inpod_source *)z - m->zt] = true;
		pr_info("in-pod: a ztunnel connected; its pods follow this agent's first sync");
		return;
	}
	for (size_t i = 0; i < m->n && z->fd >= 0; i++)
		send_add(m, z, &m->pods[i]);
	if (z->fd >= 0)
		zt_send(m, z, "synced", -1);
	if (z->fd >= 0)
		pr_info("in-pod: a ztunnel connected; handed it %zu pod netns", m->n);
}

static void pod_free(struct inpod_pod *p)
{
	free(p->uid);
	close(p->nsfd);
}

/* The drain timer in INPOD_DRAIN_POLL_MS while a pod drains, or off. */
static void drain_arm(struct inpod *m)
{
	struct itimerspec its = {0};

	if (m->n_leaving)
		its.it_value.tv_nsec = INPOD_DRAIN_POLL_MS * 1000000L;
	if (m->drain.src.fd >= 0 && timerfd_settime(m->drain.src.fd, 0, &its, NULL) < 0)
		pr_warn("in-pod: drain timer: %s", strerror(errno));
}

/*
 * Whether @p, which left the mesh, is done with: the ztunnel's connections to it ended (or were
 * reset, @reset) and its netns set-up removed.
 */
static bool drained(struct inpod *m, struct inpod_pod *p, bool reset)
{
	struct ns_job j = {.m = m, .p = p, .what = NS_DRAIN, .reset = reset, .ret = -EIO};
	char why[256], ip[IPADDR_STRLEN];
	int err = ns_run(&j, why, sizeof(why));

	pod_addr_str(p, ip, sizeof(ip));
	if (!err && j.conns && !reset)
		return false;
	if (err)
		pr_warn("in-pod: pod %s: tear-down: %s", p->uid, why);
	else if (why[0])
		pr_warn("in-pod: pod %s: its connections not counted (%s)", p->uid, why);
	if (j.conns)
		pr_warn(
		    "in-pod: pod %s (%s): %d connection(s) of the ztunnel to it still open %" PRIu64
		    " ms after it left the mesh: reset",
		    p->uid, ip, j.conns, clock_mono_ms() - p->left_at);
	if (p->left_at)
		pr_info(
		    "in-pod: pod %s (%s): its netns set-up removed, the ztunnel's connections to "
		    "it over (%" PRIu64 " ms)",
		    p->uid, ip, clock_mono_ms() - p->left_at);
	return true;
}

/*
 * @p leaves: the ztunnels let go of it. With @drain (a pod that left the mesh) its netns keeps
 * its set-up until the ztunnel's connections to it end (m->leaving), else (the agent's
 * uninstall) it goes at once; the caller forgets @p in both cases.
 */
static void pod_down(struct inpod *m, struct inpod_pod *p, bool drain)
{
	char why[256], ip[IPADDR_STRLEN];
	struct inpod_pod *grown;

	pod_addr_str(p, ip, sizeof(ip));
	broadcast(m, p, false);
	pr_info("in-pod: pod %s (%s): no longer captured in its netns", p->uid, ip);
	if (drain && !drained(m, p, false)) {
		p->left_at = clock_mono_ms();
		if (m->n_leaving == m->cap_leaving) {
			size_t cap = m->cap_leaving ? m->cap_leaving * 2 : 8;

			grown = realloc(m->leaving, cap * sizeof(*grown));
			if (!grown) {
				drained(m, p, true);
				pod_free(p);
				return;
			}
			m->leaving = grown;
			m->cap_leaving = cap;
		}
		m->leaving[m->n_leaving++] = *p;
		drain_arm(m);
		return;
	}
	if (!drain && in_pod_netns(m, p, false, why, sizeof(why)))
		pr_warn("in-pod: pod %s: tear-down: %s", p->uid, why);
	pod_free(p);
}

static void on_drain(struct agent_source *src, uint32_t events)
{
	struct inpod *m = ((struct inpod_source *)src)->m;
	uint64_t now = clock_mono_ms(), expirations;
	size_t k = 0;

	(void)events;
	if (read(src->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_warn("in-pod: drain timer: %s", strerror(errno));
	for (size_t i = 0; i < m->n_leaving; i++) {
		struct inpod_pod *p = &m->leaving[i];

		if (drained(m, p, now - p->left_at >= INPOD_DRAIN_MS))
			pod_free(p);
		else
			m->leaving[k++] = *p;
	}
	m->n_leaving = k;
	drain_arm(m);
}

/* @uid at @ip enrolled again while it drained: its set-up stays, done again by pod_up. */
static void leaving_forget(struct inpod *m, const char *uid, uint32_t ip)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n_leaving; i++) {
		if (m->leaving[i].ip == ip && !strcmp(m->leaving[i].uid, uid))
			pod_free(&m->leaving[i]);
		else
			m->leaving[k++] = m->leaving[i];
	}
	m->n_leaving = k;
	drain_arm(m);
}

/* A timer of the manager into @t, its expiry handled by @handle, on m->epfd. 0 or -errno. */
static int timer_open(struct inpod *m, struct inpod_source *t,
		      void (*handle)(struct agent_source *, uint32_t))
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &t->src};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), err;

	if (fd < 0 || epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	t->src.fd = fd;
	t->src.handle = handle;
	return 0;
}

int inpod_open(struct inpod *m, int epfd, const char *dir, struct datapath *dp)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int fd, err;

	memset(m, 0, sizeof(*m));
	m->epfd = epfd;
	m->dp = dp;
	m->listen.m = m;
	m->listen.src.fd = -1;
	m->resend.m = m;
	m->resend.src.fd = -1;
	m->drain.m = m;
	m->drain.src.fd = -1;
	for (int i = 0; i < INPOD_MAX_ZTUNNELS; i++) {
		m->zt[i].m = m;
		m->zt[i].src.fd = -1;
	}
	m->dns_fds[0] = m->dns_fds[1] = -1;
	if (snprintf(m->path, sizeof(m->path), "%s/%s", dir, AMBIT_INPOD_SOCKET) >=
	    (int)sizeof(m->path))
		return -ENAMETOOLONG;
	fd = ipc_listen_type(m->path, SOCK_SEQPACKET);
	if (fd < 0)
		return fd;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    (ev.data.ptr = &m->listen.src, epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)) {
		err = -errno;
		close(fd);
		unlink(m->path);
		return err;
	}
	m->listen.src.fd = fd;
	m->listen.src.handle = on_listen;
	err = timer_open(m, &m->resend, on_resend);
	err = err ?: timer_open(m, &m->drain, on_drain);
	if (err)
		inpod_close(m, false);
	return err;
}

static struct inpod_pod *find(struct inpod *m, const char *uid, uint32_t ip)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->pods[i].ip == ip && !strcmp(m->pods[i].uid, uid))
			return &m->pods[i];
	return NULL;
}

/* Sets up @lp's netns; the new pod, or NULL (said, and counted as pending). */
static struct inpod_pod *pod_up(struct inpod *m, const struct desired_local_pod *lp)
{
	char why[512], ip[IPADDR_STRLEN];
	struct inpod_pod *p, *grown;
	struct ipaddr addr;
	struct podns ns;
	int err;

	/* Its IPv4 address, or an IPv6-only pod's IPv6 one: what its netns holds. */
	if (lp->ip)
		ipaddr_from_v4(&addr, lp->ip);
	else
		addr = lp->ip6;
	ipaddr_format(&addr, ip, sizeof(ip));
	err = podns_in_cgroup(lp->cgroup, lp->uid, &addr, &ns, why, sizeof(why));
	/* The runtime runs the CNI chain before the sandbox's first process: ADD named it. */
	if (err == -ESRCH && m->netns_hint) {
		const char *netns = m->netns_hint(m->netns_hint_ctx, lp->uid);

		if (netns)
			err = podns_at(netns, lp->uid, &addr, &ns, why, sizeof(why));
	}
	if (err) {
		pr_info("in-pod: pod %s (%s): %s; tried again shortly", lp->uid, ip, why);
		return NULL;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;

		grown = realloc(m->pods, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		m->pods = grown;
		m->cap = cap;
	}
	p = &m->pods[m->n];
	memset(p, 0, sizeof(*p));
	p->ip = lp->ip;
	p->ip6 = lp->ip6;
	p->cgroup_id = lp->cgroup_id;
	p->ifindex = ns.pod_ifindex;
	p->uid = strdup(lp->uid);
	p->nsfd = open(ns.netns, O_RDONLY | O_CLOEXEC);
	if (!p->uid || p->nsfd < 0) {
		pr_warn("in-pod: pod %s: %s: %s", lp->uid, ns.netns, strerror(errno));
		free(p->uid);
		if (p->nsfd >= 0)
			close(p->nsfd);
		return NULL;
	}
	err = in_pod_netns(m, p, true, why, sizeof(why));
	if (err) {
		pr_warn("in-pod: pod %s (%s): set-up in its netns failed: %s; tried again shortly",
			lp->uid, ip, why);
		in_pod_netns(m, p, false, why, sizeof(why));
		free(p->uid);
		close(p->nsfd);
		return NULL;
	}
	m->n++;
	leaving_forget(m, lp->uid, lp->ip);
	pr_info("in-pod: pod %s (%s): captured in its netns (%s, ifindex %d)", lp->uid, ip,
		ns.netns, p->ifindex);
	p->added_at = clock_mono_ms();
	broadcast(m, p, true);
	return p;
}

/* @p is in-pod in the pinned maps already (set by an earlier run of the agent). */
static bool pinned_inpod(struct inpod *m, const struct inpod_pod *p)
{
	int fd = datapath_map_fd(m->dp, "enrolled_cgrp");
	struct ambit_enrolled en;

	return fd >= 0 && !bpf_map_lookup_elem(fd, &p->cgroup_id, &en) &&
	       (en.flags & AMBIT_ENROLLED_INPOD);
}

/* Whether the maps may send @p's traffic to its netns now (inpod.h). */
static bool may_mark(struct inpod *m, struct inpod_pod *p)
{
	unsigned int connected = 0;

	if (p->marked || pinned_inpod(m, p))
		return true;
	for (int i = 0; i < INPOD_MAX_ZTUNNELS; i++)
		if (m->zt[i].src.fd >= 0)
			connected |= 1u << i;
	if ((p->acked & connected) == connected)
		return true; /* every ztunnel listens there (or none is connected to wait for) */
	if (clock_mono_ms() - p->added_at < INPOD_ACK_WAIT_MS)
		return false;
	pr_warn("in-pod: pod %s: no ztunnel said it listens in the pod's netns within %d ms; "
		"its traffic is sent there all the same",
		p->uid, INPOD_ACK_WAIT_MS);
	return true;
}

void inpod_sync_before(struct inpod *m, struct desired *d)
{
	m->pending = 0;
	for (size_t i = 0; i < d->n_local; i++) {
		struct desired_local_pod *lp = &d->local[i];
		struct inpod_pod *p;

		if (!lp->enrolled || !lp->cgroup || !lp->cgroup_id)
			continue;
		p = find(m, lp->uid, lp->ip);
		if (!p)
			p = pod_up(m, lp);
		if (!p) {
			m->pending++;
			continue;
		}
		p->seen = true;
		if (!may_mark(m, p)) {
			m->pending++;
			continue;
		}
		p->marked = true;
		if (desired_mark_inpod(d, lp))
			pr_warn("in-pod: pod %s: no memory for its IPv6 entry; its IPv6 is refused",
				lp->uid);
	}
}

void inpod_sync_after(struct inpod *m, const struct desired *d)
{
	size_t k = 0;

	(void)d;
	for (size_t i = 0; i < m->n; i++) {
		struct inpod_pod *p = &m->pods[i];

		/* Set up in this sync's inpod_sync_before: marked, or waiting for the ztunnels. */
		if (p->seen) {
			p->seen = false;
			m->pods[k++] = *p;
			continue;
		}
		pod_down(m, p, true);
	}
	m->n = k;
	/* The first sync: the ztunnels that connected before it had every pod added since. */
	m->ready = true;
	for (int i = 0; i < INPOD_MAX_ZTUNNELS; i++) {
		if (!m->unsynced[i])
			continue;
		m->unsynced[i] = false;
		if (m->zt[i].src.fd < 0)
			continue;
		zt_send(m, &m->zt[i].src, "synced", -1);
		if (m->zt[i].src.fd >= 0)
			pr_info("in-pod: a ztunnel connected; handed it %zu pod netns", m->n);
	}
}

size_t inpod_count(const struct inpod *m)
{
	return m->n;
}

unsigned int inpod_ztunnels(const struct inpod *m)
{
	unsigned int n = 0;

	for (int i = 0; i < INPOD_MAX_ZTUNNELS; i++)
		n += m->zt[i].src.fd >= 0;
	return n;
}

void inpod_close(struct inpod *m, bool teardown)
{
	for (int i = 0; i < 2; i++)
		if (m->dns_fds[i] >= 0) {
			close(m->dns_fds[i]);
			m->dns_fds[i] = -1;
		}
	for (int i = 0; i < INPOD_MAX_ZTUNNELS; i++)
		if (m->zt[i].src.fd >= 0) {
			close(m->zt[i].src.fd);
			m->zt[i].src.fd = -1;
		}
	if (m->resend.src.fd >= 0) {
		close(m->resend.src.fd);
		m->resend.src.fd = -1;
	}
	if (m->drain.src.fd >= 0) {
		close(m->drain.src.fd);
		m->drain.src.fd = -1;
	}
	if (m->listen.src.fd >= 0) {
		close(m->listen.src.fd);
		m->listen.src.fd = -1;
		unlink(m->path);
	}
	for (size_t i = 0; i < m->n; i++) {
		if (teardown)
			pod_down(m, &m->pods[i], false);
		else
			pod_free(&m->pods[i]);
	}
	free(m->pods);
	m->pods = NULL;
	m->n = m->cap = 0;
	/*
	 * Pods that left the mesh and still drain lose their set-up now, whatever @teardown: no
	 * agent after this one would know to take it off. Their connections are reset first, as at
	 * the drain's end: without the way back they would hang.
	 */
	for (size_t i = 0; i < m->n_leaving; i++) {
		drained(m, &m->leaving[i], true);
		pod_free(&m->leaving[i]);
	}
	free(m->leaving);
	m->leaving = NULL;
	m->n_leaving = m->cap_leaving = 0;
}
