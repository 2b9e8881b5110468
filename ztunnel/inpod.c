// SPDX-License-Identifier: Apache-2.0
/* In-pod capture: the pods' netns from the agent, their listeners and connections (inpod.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "ambit/bpf_abi.h"
#include "ambit/ipc.h"
#include "ambit/log.h"
#include "inpod.h"
#include "proxy_priv.h"

#define INPOD_SOCKET "inpod.sock" /* userspace/agent/inpod.h AMBIT_INPOD_SOCKET */
#define MAX_WORKERS 64
#define RELEASE_WAIT_MS 2000
_Static_assert(ZT_INPOD_LISTENERS == L__COUNT, "a pod's listeners");

/*
 * One pod captured in its netns. Freed once every worker let go of it after its removal. A
 * dual-stack pod (the agent gave its IPv6) has the same three listeners on [::] too.
 */
struct ipod {
	uint32_t ip;
	struct in6_addr ip6; /* with has6 */
	bool has6;
	char uid[160];
	struct sock_ns ns;  /* fd owned */
	int lfd[L__COUNT];  /* owned: 15001, 15006, 15008 in the pod's netns */
	int lfd6[L__COUNT]; /* owned: the same on [::], or -1 */
	int ufd, ufd6;	    /* owned: 15001/udp on 0.0.0.0 and [::] (-1: none), never handed over */
	bool gone;
	bool readded;		   /* named again since the agent (re)connected */
	_Atomic uint64_t released; /* bit per worker: it dropped this pod's listeners */
};

/* A worker's hold on one pod: its listeners on the worker's loop. */
struct wk_inpod {
	struct ipod *pod;
	struct listener ls[L__COUNT];
	struct listener ls6[L__COUNT]; /* fd -1: none */
	void *uls[2]; /* 15001/udp: IPv4's, IPv6's (ops->udp_add's handles; NULL: none) */
};

static struct {
	pthread_rwlock_t lock;
	struct ipod **pods; /* live and gone (until released by every worker) */
	size_t n, cap;
	unsigned int live;
	struct {
		struct zt_worker *w;
		void (*wake)(void *);
		void *arg;
	} workers[MAX_WORKERS];
	uint64_t all_workers; /* bit per registered worker */
	/*
	 * Listeners a predecessor handed over, until the agent names their pod: a pod's IPv4 ones
	 * by its IPv4 address, its IPv6 ones (@v6) by its IPv6 address.
	 */
	struct adopted {
		uint32_t ip;
		struct in6_addr ip6;
		bool v6;
		uint64_t ino;
		int fds[L__COUNT];
	} * adopted;
	size_t n_adopted;
	char path[PATH_MAX];
	int socks_fd;
	int socks6_fd;
	int stop_efd;
	int (*dns_export)(void *arg, int fds[2]);
	void (*dns_adopt)(void *arg, int fds[2]);
	void *dns_arg;
	pthread_t thread;
	bool started;
} g = {.lock = PTHREAD_RWLOCK_INITIALIZER, .socks_fd = -1, .socks6_fd = -1, .stop_efd = -1};

static void wake_workers(void)
{
	for (int i = 0; i < MAX_WORKERS; i++)
		if (g.workers[i].wake)
			g.workers[i].wake(g.workers[i].arg);
}

/* The live pod of IPv4 address @ip (lock held), or NULL; an IPv6-only pod's (0) is never. */
static struct ipod *find_live(uint32_t ip)
{
	for (size_t i = 0; ip && i < g.n; i++)
		if (g.pods[i]->ip == ip && !g.pods[i]->gone)
			return g.pods[i];
	return NULL;
}

/* The live pod of IPv6 address @ip6 (lock held), or NULL. */
static struct ipod *find_live6(const struct in6_addr *ip6)
{
	for (size_t i = 0; i < g.n; i++)
		if (g.pods[i]->has6 && !g.pods[i]->gone &&
		    !memcmp(&g.pods[i]->ip6, ip6, sizeof(*ip6)))
			return g.pods[i];
	return NULL;
}

static void pod_free(struct ipod *p)
{
	for (int i = 0; i < L__COUNT; i++) {
		if (p->lfd[i] >= 0)
			close(p->lfd[i]);
		if (p->lfd6[i] >= 0)
			close(p->lfd6[i]);
	}
	if (p->ufd >= 0)
		close(p->ufd);
	if (p->ufd6 >= 0)
		close(p->ufd6);
	close(p->ns.fd);
	free(p);
}

/* Frees the gone pods every worker let go of (the manager thread). */
static void reap(void)
{
	size_t k = 0;

	pthread_rwlock_wrlock(&g.lock);
	for (size_t i = 0; i < g.n; i++) {
		struct ipod *p = g.pods[i];

		if (p->gone && (atomic_load(&p->released) & g.all_workers) == g.all_workers)
			pod_free(p);
		else
			g.pods[k++] = p;
	}
	g.n = k;
	pthread_rwlock_unlock(&g.lock);
}

static bool any_gone(void)
{
	bool gone = false;

	pthread_rwlock_rdlock(&g.lock);
	for (size_t i = 0; i < g.n && !gone; i++)
		gone = g.pods[i]->gone;
	pthread_rwlock_unlock(&g.lock);
	return gone;
}

static uint64_t sock_cookie(int fd)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &l) ? 0 : c;
}

/* Marks @p gone (lock held for writing); its inpod_socks entry goes if it is still ours. */
static void pod_remove_locked(struct ipod *p)
{
	uint64_t cookie = 0;

	p->gone = true;
	g.live--;
	if (p->ip && g.socks_fd >= 0 && !bpf_map_lookup_elem(g.socks_fd, &p->ip, &cookie) &&
	    cookie == sock_cookie(p->lfd[L_INBOUND]))
		bpf_map_delete_elem(g.socks_fd, &p->ip);
	if (p->has6 && g.socks6_fd >= 0 && !bpf_map_lookup_elem(g.socks6_fd, &p->ip6, &cookie) &&
	    cookie == sock_cookie(p->lfd6[L_INBOUND]))
		bpf_map_delete_elem(g.socks6_fd, &p->ip6);
}

/*
 * The listeners handed over for @p's addresses in @p's netns, if any (the manager thread): its
 * IPv4 ones, and its IPv6 ones when it has an IPv6 address.
 */
static void take_adopted(struct ipod *p)
{
	for (size_t i = 0; i < g.n_adopted;) {
		struct adopted *a = &g.adopted[i];
		int *to;

		if (a->ino != p->ns.ino)
			to = NULL;
		else if (a->v6)
			to = p->has6 && !memcmp(&a->ip6, &p->ip6, sizeof(a->ip6)) ? p->lfd6 : NULL;
		else
			to = a->ip == p->ip ? p->lfd : NULL;
		if (!to || to[0] >= 0) {
			i++;
			continue;
		}
		memcpy(to, a->fds, sizeof(a->fds));
		g.adopted[i] = g.adopted[--g.n_adopted];
	}
}

static void drop_adopted(void)
{
	for (size_t i = 0; i < g.n_adopted; i++)
		for (int k = 0; k < L__COUNT; k++)
			close(g.adopted[i].fds[k]);
	free(g.adopted);
	g.adopted = NULL;
	g.n_adopted = 0;
}

static void adopt(uint32_t ip, const struct in6_addr *ip6, uint64_t ino, const int *fds)
{
	struct adopted *grown = realloc(g.adopted, (g.n_adopted + 1) * sizeof(*grown));
	struct adopted *a;

	if (!grown) {
		for (int k = 0; k < L__COUNT; k++)
			close(fds[k]);
		return;
	}
	g.adopted = grown;
	a = &g.adopted[g.n_adopted++];
	memset(a, 0, sizeof(*a));
	a->ip = ip;
	a->v6 = ip6 != NULL;
	if (ip6)
		a->ip6 = *ip6;
	a->ino = ino;
	memcpy(a->fds, fds, sizeof(a->fds));
}

void zt_inpod_adopt(uint32_t ip, uint64_t ino, const int *fds)
{
	adopt(ip, NULL, ino, fds);
}

void zt_inpod_adopt6(const struct in6_addr *ip6, uint64_t ino, const int *fds)
{
	adopt(0, ip6, ino, fds);
}

int zt_inpod_export(int (*give)(void *arg, uint32_t ip, uint64_t ino, const int *fds,
				const struct in6_addr *ip6, const int *fds6),
		    void *arg)
{
	int err = 0;

	pthread_rwlock_rdlock(&g.lock);
	for (size_t i = 0; i < g.n && !err; i++) {
		const struct ipod *p = g.pods[i];

		if (!p->gone && p->lfd[0] >= 0)
			err = give(arg, p->ip, p->ns.ino, p->lfd,
				   p->has6 && p->lfd6[0] >= 0 ? &p->ip6 : NULL, p->lfd6);
	}
	pthread_rwlock_unlock(&g.lock);
	return err;
}

/* A removed pod of netns @ino whose listeners some worker still holds (they keep its ports). */
static bool held_in(uint64_t ino)
{
	bool held = false;

	pthread_rwlock_rdlock(&g.lock);
	for (size_t i = 0; i < g.n && !held; i++)
		held = g.pods[i]->gone && g.pods[i]->ns.ino == ino;
	pthread_rwlock_unlock(&g.lock);
	return held;
}

/*
 * A pod named again right after its "del" (its namespace unlabelled and labelled again): the
 * old listeners close once every worker let go of them, which takes a worker's wake-up. Binding
 * before that fails with EADDRINUSE, so the add waits for them, at most RELEASE_WAIT_MS.
 */
static int wait_released(uint64_t ino)
{
	for (int ms = 0; ms < RELEASE_WAIT_MS; ms++) {
		reap();
		if (!held_in(ino))
			return 0;
		wake_workers();
		usleep(1000);
	}
	return -EBUSY;
}

/*
 * The listeners of @p's family @v6 in its netns not handed over: 15006 takes flows tc_pod
 * assigns (transparent); the others are reached by their address. 0, or -errno and @why.
 */
static int pod_listen(struct ipod *p, bool v6, char *why, size_t len)
{
	static const uint16_t ports[L__COUNT] = {AMBIT_PORT_OUTBOUND, AMBIT_PORT_INBOUND,
						 AMBIT_PORT_HBONE};
	int *lfd = v6 ? p->lfd6 : p->lfd;

	for (int i = 0; i < L__COUNT; i++) {
		union sockaddr_inet any = {0};

		if (lfd[i] >= 0)
			continue; /* the predecessor's */
		if (v6) {
			any.v6.sin6_family = AF_INET6;
			any.v6.sin6_port = htons(ports[i]);
		} else {
			sockaddr_inet_v4(&any, htonl(INADDR_ANY), ports[i]);
		}
		lfd[i] = sock_listen_in(&p->ns, &any, i == L_INBOUND);
		if (lfd[i] < 0) {
			int err = lfd[i];

			snprintf(why, len, "listen on %s%u in its netns: %s", v6 ? "[::]:" : "",
				 ports[i], strerror(-err));
			return err;
		}
	}
	/*
	 * 15001/udp, where tc_pod_lo hands the pod's new UDP flows into the mesh. Made anew by
	 * each ztunnel (SO_REUSEADDR: beside a predecessor's, which the kernel's look-up then
	 * passes over for the newer).
	 */
	*(v6 ? &p->ufd6 : &p->ufd) = sock_udp_listen_orig(&p->ns, v6 ? AF_INET6 : AF_INET,
							  AMBIT_PORT_OUTBOUND, AMBIT_PROXY_MARK);
	if ((v6 ? p->ufd6 : p->ufd) < 0) {
		int err = v6 ? p->ufd6 : p->ufd;

		snprintf(why, len, "listen on %s%u/udp in its netns: %s", v6 ? "[::]:" : "",
			 AMBIT_PORT_OUTBOUND, strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Publishes @p's 15006 listeners for tc_pod: by its IPv4 and, dual-stack, by its IPv6; an
 * IPv6-only pod's by its IPv6 alone.
 */
static int pod_publish(struct ipod *p, char *why, size_t len)
{
	uint64_t sock_val = (uint64_t)p->lfd[L_INBOUND];

	if (p->ip && g.socks_fd >= 0 &&
	    bpf_map_update_elem(g.socks_fd, &p->ip, &sock_val, BPF_ANY) < 0) {
		snprintf(why, len, "inpod_socks: %s", strerror(errno));
		return -errno;
	}
	sock_val = (uint64_t)p->lfd6[L_INBOUND];
	if (p->has6 && g.socks6_fd >= 0 &&
	    bpf_map_update_elem(g.socks6_fd, &p->ip6, &sock_val, BPF_ANY) < 0) {
		int err = -errno;

		snprintf(why, len, "inpod_socks6: %s", strerror(errno));
		if (p->ip && g.socks_fd >= 0)
			bpf_map_delete_elem(g.socks_fd, &p->ip);
		return err;
	}
	return 0;
}

/* Takes @p's entries out of inpod_socks and inpod_socks6 (a pod never added to the workers). */
static void pod_unpublish(struct ipod *p)
{
	if (p->ip && g.socks_fd >= 0)
		bpf_map_delete_elem(g.socks_fd, &p->ip);
	if (p->has6 && g.socks6_fd >= 0)
		bpf_map_delete_elem(g.socks6_fd, &p->ip6);
}

/*
 * "add": listeners in the pod's netns (of both families when @ip6 is not NULL), then the pod is
 * the workers'. 0, or -errno and @why.
 */
static int pod_add(uint32_t ip, const struct in6_addr *ip6, const char *uid, int nsfd, char *why,
		   size_t len)
{
	struct ipod *p, *old, **grown;
	struct stat st;
	int err;

	if (fstat(nsfd, &st) < 0) {
		snprintf(why, len, "netns: %s", strerror(errno));
		close(nsfd);
		return -errno;
	}
	pthread_rwlock_rdlock(&g.lock);
	old = ip ? find_live(ip) : find_live6(ip6);
	/*
	 * The same pod again: kept. One that now has an IPv6 address it had none of (or another)
	 * is opened anew, as a pod in a new netns is.
	 */
	if (old && old->ns.ino == (uint64_t)st.st_ino && old->has6 == (ip6 != NULL) &&
	    (!ip6 || !memcmp(&old->ip6, ip6, sizeof(*ip6)))) {
		old->readded = true;
		pthread_rwlock_unlock(&g.lock);
		close(nsfd);
		return 0;
	}
	pthread_rwlock_unlock(&g.lock);
	p = calloc(1, sizeof(*p));
	if (!p) {
		close(nsfd);
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	p->ip = ip;
	p->has6 = ip6 != NULL;
	if (ip6)
		p->ip6 = *ip6;
	p->readded = true;
	snprintf(p->uid, sizeof(p->uid), "%s", uid);
	p->ns.fd = nsfd;
	p->ns.ino = (uint64_t)st.st_ino;
	for (int i = 0; i < L__COUNT; i++)
		p->lfd[i] = p->lfd6[i] = -1;
	p->ufd = p->ufd6 = -1;
	/* A pod restarted in a new netns with the same address: the old one goes first. */
	if (old) {
		pthread_rwlock_wrlock(&g.lock);
		if (!old->gone)
			pod_remove_locked(old);
		pthread_rwlock_unlock(&g.lock);
		wake_workers();
	}
	take_adopted(p);
	if (p->lfd[0] < 0 && wait_released(p->ns.ino)) {
		snprintf(why, len, "its previous listeners were not let go of within %d ms",
			 RELEASE_WAIT_MS);
		pod_free(p);
		return -EBUSY;
	}
	err = pod_listen(p, false, why, len);
	if (!err && p->has6)
		err = pod_listen(p, true, why, len);
	if (!err)
		err = pod_publish(p, why, len);
	if (err) {
		pod_free(p);
		return err;
	}
	pthread_rwlock_wrlock(&g.lock);
	if (g.n == g.cap) {
		size_t cap = g.cap ? g.cap * 2 : 32;

		grown = realloc(g.pods, cap * sizeof(*grown));
		if (!grown) {
			pthread_rwlock_unlock(&g.lock);
			pod_unpublish(p);
			pod_free(p);
			snprintf(why, len, "out of memory");
			return -ENOMEM;
		}
		g.pods = grown;
		g.cap = cap;
	}
	g.pods[g.n++] = p;
	g.live++;
	pthread_rwlock_unlock(&g.lock);
	wake_workers();
	return 0;
}

/* "del": the pod of IPv4 address @ip, or (@ip 0: an IPv6-only pod) of IPv6 address @ip6. */
static void pod_del(uint32_t ip, const struct in6_addr *ip6)
{
	struct ipod *p;

	pthread_rwlock_wrlock(&g.lock);
	p = ip ? find_live(ip) : ip6 ? find_live6(ip6) : NULL;
	if (p)
		pod_remove_locked(p);
	pthread_rwlock_unlock(&g.lock);
	if (p) {
		pr_info("in-pod: pod %s released", p->uid);
		wake_workers();
	}
}

/* "synced": what the agent did not name again since it (re)connected is no longer captured. */
static void sweep_unnamed(void)
{
	unsigned int n = 0;

	pthread_rwlock_wrlock(&g.lock);
	for (size_t i = 0; i < g.n; i++) {
		struct ipod *p = g.pods[i];

		if (!p->gone && !p->readded) {
			pod_remove_locked(p);
			n++;
		}
		p->readded = false;
	}
	pthread_rwlock_unlock(&g.lock);
	if (n) {
		pr_info("in-pod: %u pod(s) the agent no longer names released", n);
		wake_workers();
	}
}

/* One message of the agent; the answer goes back on @fd. */
static void on_message(int fd, char *msg, int *fds, size_t nfds)
{
	char ipstr[INET_ADDRSTRLEN + 1], uid[160], ip6str[INET6_ADDRSTRLEN + 1] = "", why[256] = "",
									     reply[512];
	struct in6_addr a6;
	struct in_addr a;
	int nsfd = nfds ? fds[0] : -1, words;

	if (!strcmp(msg, "dns") && nfds == 2 && g.dns_adopt) {
		g.dns_adopt(g.dns_arg, fds);
		return;
	}
	for (size_t i = 1; i < nfds; i++)
		close(fds[i]);
	/*
	 * "add <ip> <uid>[ <ip6>]": a dual-stack pod's IPv6 last; an IPv6-only pod's <ip> is
	 * 0.0.0.0, and its <ip6> required (inpod.h).
	 */
	words = sscanf(msg, "add %16s %159s %46s", ipstr, uid, ip6str);
	if (words >= 2 && inet_pton(AF_INET, ipstr, &a) == 1 &&
	    (words == 2 || inet_pton(AF_INET6, ip6str, &a6) == 1) && (a.s_addr || words == 3) &&
	    nsfd >= 0) {
		/*
		 * The answer is never waited for (the socket does not block): "ok" once the
		 * listeners are up, for the agent sends the pod's traffic here only then; "fail"
		 * for its log and its retries.
		 */
		if (pod_add(a.s_addr, words == 3 ? &a6 : NULL, uid, nsfd, why, sizeof(why)) == 0) {
			pr_debug("in-pod: pod %s (%s) captured in its netns", uid, ipstr);
			snprintf(reply, sizeof(reply), "ok %s %s", ipstr, uid);
		} else {
			pr_warn("in-pod: pod %s (%s): %s", uid, ipstr, why);
			snprintf(reply, sizeof(reply), "fail %s %s: %s", ipstr, uid, why);
		}
		sock_send_fds(fd, reply, NULL, 0);
		return;
	}
	if (nsfd >= 0)
		close(nsfd);
	/* "del <ip>[ <ip6>]": an IPv6-only pod (0.0.0.0) by its IPv6. */
	words = sscanf(msg, "del %16s %46s", ipstr, ip6str);
	if (words >= 1 && inet_pton(AF_INET, ipstr, &a) == 1 &&
	    (words == 1 || inet_pton(AF_INET6, ip6str, &a6) == 1)) {
		pod_del(a.s_addr, words == 2 ? &a6 : NULL);
		return;
	}
	if (!strcmp(msg, "synced")) {
		sweep_unnamed();
		drop_adopted();
		return;
	}
	pr_warn("in-pod: unknown message from the agent: \"%.80s\"", msg);
}

static void *inpod_main(void *arg)
{
	int fd = -1;
	bool told = false;

	(void)arg;
	for (;;) {
		struct pollfd pf[2] = {{.fd = g.stop_efd, .events = POLLIN},
				       {.fd = fd, .events = POLLIN}};
		int timeout = fd < 0 ? 1000 : -1;
		int n;

		if (fd < 0) {
			fd = ipc_connect_type(g.path, SOCK_SEQPACKET);
			/* Read when poll says so; a failure report never blocks this thread. */
			if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
				close(fd);
				fd = -1;
			}
			if (fd >= 0) {
				int dns[2];

				pr_info("in-pod: following the agent at %s", g.path);
				/* The agent keeps them for the next ztunnel (unless it has some).
				 */
				if (g.dns_export && !g.dns_export(g.dns_arg, dns))
					(void)sock_send_fds(fd, "keep-dns", dns, 2);
				told = false;
				pf[1].fd = fd;
				timeout = -1;
			}
		}
		if (any_gone())
			timeout = 100;
		n = poll(pf, fd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (pf[0].revents & POLLIN)
			break;
		if (fd >= 0 && pf[1].revents) {
			char msg[512];
			int fds[SOCK_MAX_FDS];
			size_t nfds = 0;
			int err = sock_recv_fds(fd, msg, sizeof(msg), fds, SOCK_MAX_FDS, &nfds);

			if (!err) {
				on_message(fd, msg, fds, nfds);
			} else if (err != -EAGAIN && err != -EINTR) {
				/* The pods stay captured: the agent gives them again when back. */
				if (!told)
					pr_warn("in-pod: the agent at %s went away (%s); %u pod(s) "
						"stay captured",
						g.path, strerror(-err), g.live);
				told = true;
				close(fd);
				fd = -1;
			}
		}
		reap();
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

void zt_inpod_dns(int (*export_fn)(void *arg, int fds[2]), void (*adopt)(void *arg, int fds[2]),
		  void *arg)
{
	g.dns_export = export_fn;
	g.dns_adopt = adopt;
	g.dns_arg = arg;
}

int zt_inpod_start(const char *agent_socket, int socks_fd, int socks6_fd)
{
	char tmp[PATH_MAX];
	int err;

	snprintf(tmp, sizeof(tmp), "%s", agent_socket);
	if (snprintf(g.path, sizeof(g.path), "%s/%s", dirname(tmp), INPOD_SOCKET) >=
	    (int)sizeof(g.path))
		return -ENAMETOOLONG;
	g.socks_fd = socks_fd;
	g.socks6_fd = socks6_fd;
	g.stop_efd = eventfd(0, EFD_CLOEXEC);
	if (g.stop_efd < 0)
		return -errno;
	err = pthread_create(&g.thread, NULL, inpod_main, NULL);
	if (err) {
		close(g.stop_efd);
		g.stop_efd = -1;
		return -err;
	}
	g.started = true;
	return 0;
}

/* Ends the thread that follows the agent. */
static void stop_thread(void)
{
	uint64_t one = 1;

	if (g.started) {
		if (write(g.stop_efd, &one, sizeof(one)) < 0)
			pr_warn("in-pod: stop: %s", strerror(errno));
		pthread_join(g.thread, NULL);
		close(g.stop_efd);
		g.stop_efd = -1;
		g.started = false;
	}
}

void zt_inpod_quiesce(void)
{
	stop_thread();
	pthread_rwlock_wrlock(&g.lock);
	for (size_t i = 0; i < g.n; i++)
		for (int k = 0; k < L__COUNT; k++) {
			if (g.pods[i]->lfd[k] >= 0)
				close(g.pods[i]->lfd[k]);
			if (g.pods[i]->lfd6[k] >= 0)
				close(g.pods[i]->lfd6[k]);
			g.pods[i]->lfd[k] = g.pods[i]->lfd6[k] = -1;
		}
	pthread_rwlock_unlock(&g.lock);
}

void zt_inpod_stop(void)
{
	stop_thread();
	drop_adopted();
	/* The workers are gone: nothing holds a pod any more. */
	for (size_t i = 0; i < g.n; i++)
		pod_free(g.pods[i]);
	free(g.pods);
	g.pods = NULL;
	g.n = g.cap = 0;
	g.live = 0;
}

void zt_inpod_worker_add(struct zt_worker *w, void (*wake)(void *), void *arg)
{
	pthread_rwlock_wrlock(&g.lock);
	for (int i = 0; i < MAX_WORKERS; i++) {
		if (g.workers[i].w)
			continue;
		g.workers[i].w = w;
		g.workers[i].wake = wake;
		g.workers[i].arg = arg;
		g.all_workers |= 1ull << i;
		break;
	}
	pthread_rwlock_unlock(&g.lock);
}

void zt_inpod_worker_remove(struct zt_worker *w)
{
	pthread_rwlock_wrlock(&g.lock);
	for (int i = 0; i < MAX_WORKERS; i++) {
		if (g.workers[i].w != w)
			continue;
		memset(&g.workers[i], 0, sizeof(g.workers[i]));
		g.all_workers &= ~(1ull << i);
	}
	pthread_rwlock_unlock(&g.lock);
}

static unsigned int worker_index(const struct zt_worker *w)
{
	for (unsigned int i = 0; i < MAX_WORKERS; i++)
		if (g.workers[i].w == w)
			return i;
	return MAX_WORKERS;
}

static bool held(const struct zt_worker *w, const struct ipod *p)
{
	for (size_t i = 0; i < w->n_inpod; i++)
		if (w->inpod[i]->pod == p)
			return true;
	return false;
}

static void hold(struct zt_worker *w, struct ipod *p, const struct zt_inpod_listen_ops *ops)
{
	struct wk_inpod *h;

	if (w->n_inpod == w->cap_inpod) {
		size_t cap = w->cap_inpod ? w->cap_inpod * 2 : 16;
		struct wk_inpod **grown = realloc(w->inpod, cap * sizeof(*grown));

		if (!grown)
			goto nomem;
		w->inpod = grown;
		w->cap_inpod = cap;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		goto nomem;
	h->pod = p;
	for (int k = 0; k < L__COUNT; k++) {
		if (ops->add(w, &h->ls[k], k, p->lfd[k]))
			pr_warn("in-pod: pod %s: listener %d not taken by a worker", p->uid, k);
		if (ops->add(w, &h->ls6[k], k, p->lfd6[k]))
			pr_warn("in-pod: pod %s: IPv6 listener %d not taken by a worker", p->uid,
				k);
	}
	for (int k = 0; k < 2; k++) {
		h->uls[k] = ops->udp_add(w, k ? p->ufd6 : p->ufd);
		if (!h->uls[k] && errno)
			pr_warn("in-pod: pod %s: its %s UDP listener not taken: %s", p->uid,
				k ? "IPv6" : "IPv4", strerror(errno));
	}
	w->inpod[w->n_inpod++] = h;
	return;
nomem:
	pr_warn("in-pod: worker: no memory for pod %s's listeners", p->uid);
}

/* Off the loop; freed after the batch, whose pending events for it are dropped. */
static void let_go(struct zt_worker *w, struct wk_inpod *h, const struct zt_inpod_listen_ops *ops)
{
	for (int j = 0; j < L__COUNT; j++) {
		ops->remove(w, &h->ls[j]);
		h->ls[j].h.dead = true;
		ops->remove(w, &h->ls6[j]);
		h->ls6[j].h.dead = true;
	}
	ops->udp_remove(w, h->uls[0]);
	ops->udp_remove(w, h->uls[1]);
	loop_defer_free(w->loop, h, free);
}

void zt_inpod_worker_sync(struct zt_worker *w, bool drop, const struct zt_inpod_listen_ops *ops)
{
	unsigned int idx = worker_index(w);
	size_t k = 0;

	if (idx >= MAX_WORKERS)
		return;
	pthread_rwlock_rdlock(&g.lock);
	for (size_t i = 0; i < w->n_inpod; i++) {
		struct wk_inpod *h = w->inpod[i];

		if (!drop && !h->pod->gone)
			w->inpod[k++] = h;
		else
			let_go(w, h, ops);
	}
	w->n_inpod = k;
	for (size_t i = 0; i < g.n; i++) {
		struct ipod *p = g.pods[i];

		if (p->gone || drop)
			atomic_fetch_or(&p->released, 1ull << idx);
		else if (!held(w, p))
			hold(w, p, ops);
	}
	pthread_rwlock_unlock(&g.lock);
}

void zt_inpod_worker_free(struct zt_worker *w)
{
	for (size_t i = 0; i < w->n_inpod; i++) {
		free(w->inpod[i]->uls[0]);
		free(w->inpod[i]->uls[1]);
		free(w->inpod[i]);
	}
	free(w->inpod);
	w->inpod = NULL;
	w->n_inpod = w->cap_inpod = 0;
}

bool zt_inpod_ns(uint32_t ip, struct sock_ns *out)
{
	struct ipod *p;

	pthread_rwlock_rdlock(&g.lock);
	p = g.live ? find_live(ip) : NULL;
	if (p)
		*out = p->ns;
	pthread_rwlock_unlock(&g.lock);
	return p != NULL;
}

bool zt_inpod_ns6(const struct in6_addr *ip6, struct sock_ns *out)
{
	struct ipod *p;

	pthread_rwlock_rdlock(&g.lock);
	p = g.live ? find_live6(ip6) : NULL;
	if (p)
		*out = p->ns;
	pthread_rwlock_unlock(&g.lock);
	return p != NULL;
}

bool zt_inpod_routable(uint32_t ip, const struct ipaddr *ip6, const struct ipaddr *a)
{
	struct sock_ns ns;

	if (ip ? zt_inpod_ns(ip, &ns)
	       : ip6 && ip6->family == AF_INET6 &&
		     zt_inpod_ns6((const struct in6_addr *)ip6->a, &ns))
		return sock_routable_in(&ns, a);
	return a->family == AF_INET || sock_routable6(a);
}

bool zt_inpod_ns_of(const union sockaddr_inet *a, struct sock_ns *out)
{
	if (a->sa.sa_family == AF_INET)
		return zt_inpod_ns(a->v4.sin_addr.s_addr, out);
	return a->sa.sa_family == AF_INET6 && zt_inpod_ns6(&a->v6.sin6_addr, out);
}

/*
 * The ztunnel's connections on a client's behalf carry AMBIT_PROXY_MARK: in host capture
 * tc_veth_egress leaves them alone though their source be the node's (bpf/lib/nodeguard.h), where
 * it turns the node's own back to the ztunnel.
 */
int zt_connect_to_pod(const union sockaddr_inet *dst, const union sockaddr_inet *src)
{
	struct sock_ns ns;

	if (zt_inpod_ns_of(dst, &ns))
		return sock_connect_mark(&ns, dst, src, AMBIT_PROXY_MARK);
	return sock_connect_mark(NULL, dst, src, AMBIT_PROXY_MARK);
}

int zt_udp_to_pod(const union sockaddr_inet *dst, const union sockaddr_inet *src)
{
	struct sock_ns ns;

	if (zt_inpod_ns_of(dst, &ns))
		return sock_connect_udp(&ns, dst, src, AMBIT_PROXY_MARK);
	return sock_connect_udp(NULL, dst, src, AMBIT_PROXY_MARK);
}

int zt_connect_from_pod(const union sockaddr_inet *from, const union sockaddr_inet *dst,
			bool as_pod)
{
	union sockaddr_inet src = *from;
	struct sock_ns ns;

	if (zt_inpod_ns_of(from, &ns))
		return sock_connect_mark(&ns, dst, NULL, AMBIT_PROXY_MARK);
	sockaddr_inet_set_port(&src, 0);
	return sock_connect_mark(NULL, dst, as_pod ? &src : NULL, AMBIT_PROXY_MARK);
}

unsigned int zt_inpod_count(void)
{
	return g.live;
}
