// SPDX-License-Identifier: Apache-2.0
/*
 * The ztunnel's in-pod module (ztunnel/inpod.c) against a stand-in agent: two workers, the
 * agent's SOCK_SEQPACKET socket, and a network namespace of the test's own standing in for a
 * pod. A pod removed and named again at once (its namespace unlabelled and labelled again, as
 * t_99 does) is captured again on the same ports, never refused with EADDRINUSE while a worker
 * still holds the old listeners. A dual-stack pod (its IPv6 in the "add") has the same three
 * listeners on [::], its 15006 published in inpod_socks6 (a SOCKHASH of the test's own) while
 * it is captured. Root (a network namespace, a BPF map).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "ambit/clock.h"
#include "ambit/ipc.h"
#include "../../../ztunnel/inpod.h"
#include "../../../ztunnel/proxy.h"
#include "../../../ztunnel/resolved.h"
#include "../../../ztunnel/route.h"
#include "ambit/snapshot.h"
#include "net/sock.h"

#define POD_IP "10.77.0.9"
#define POD_UID "0f6a1c7e-inpod-test"
#define POD_IP6 "fd00:77::9"
#define SENTINEL_IP "10.77.0.250"
#define WAIT_MS 10000

struct fixture {
	char dir[64];
	int lfd;       /* the agent's in-pod socket */
	int zt;	       /* the ztunnel's connection to it */
	int nsfd;      /* the pod's netns */
	int socks6_fd; /* inpod_socks6's stand-in */
	struct mesh_state *st;
	struct zt_worker *w[2];
	unsigned int oks; /* "ok <POD_IP> <POD_UID>" answers read by barrier() */
};

/* A new network namespace with lo up, from a thread (unshare moves the calling thread only). */
static void *new_netns(void *arg)
{
	struct ifreq ifr = {0};
	int *out = arg, fd;

	*out = -1;
	if (unshare(CLONE_NEWNET) < 0)
		return NULL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd >= 0 && !ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		ifr.ifr_flags |= IFF_UP;
		if (!ioctl(fd, SIOCSIFFLAGS, &ifr))
			*out = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

struct probe {
	int nsfd;
	uint16_t port;
	bool v6;
	int err; /* connect's: 0 or errno */
};

/* connect() to 127.0.0.1:port (or [::1]:port) from inside the pod's netns. */
static void *probe_in_ns(void *arg)
{
	struct probe *p = arg;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(p->port)};
	struct sockaddr_in6 to6 = {.sin6_family = AF_INET6,
				   .sin6_port = htons(p->port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd;

	p->err = EIO;
	if (setns(p->nsfd, CLONE_NEWNET) < 0)
		return NULL;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(p->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (p->v6)
		p->err = connect(fd, (struct sockaddr *)&to6, sizeof(to6)) ? errno : 0;
	else
		p->err = connect(fd, (struct sockaddr *)&to, sizeof(to)) ? errno : 0;
	close(fd);
	return NULL;
}

static int connect_in_pod_family(int nsfd, uint16_t port, bool v6)
{
	struct probe p = {.nsfd = nsfd, .port = port, .v6 = v6};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, probe_in_ns, &p), 0);
	pthread_join(t, NULL);
	return p.err;
}

static int connect_in_pod(int nsfd, uint16_t port)
{
	struct probe p = {.nsfd = nsfd, .port = port};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, probe_in_ns, &p), 0);
	pthread_join(t, NULL);
	return p.err;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct zt_proxy_opts o = {.outbound_fd = -1,
				  .inbound_fd = -1,
				  .hbone_fd = -1,
				  .orig_dst_fd = -1,
				  .orig_dst6_fd = -1,
				  .outbound6_fd = -1,
				  .inbound6_fd = -1,
				  .hbone6_fd = -1,
				  .hbone_port = 15008};
	char path[128];
	struct pollfd pf;
	pthread_t t;

	assert_non_null(f);
	assert_int_equal(geteuid(), 0); /* a network namespace of its own */
	snprintf(f->dir, sizeof(f->dir), "/tmp/ambit-inpod-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/inpod.sock", f->dir);
	f->lfd = ipc_listen_type(path, SOCK_SEQPACKET);
	assert_true(f->lfd >= 0);
	assert_int_equal(pthread_create(&t, NULL, new_netns, &f->nsfd), 0);
	pthread_join(t, NULL);
	assert_true(f->nsfd >= 0);
	f->socks6_fd = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "inpod_socks6", 16, 8, 16, NULL);
	assert_true(f->socks6_fd >= 0);
	f->st = mesh_state_create();
	assert_non_null(f->st);
	for (int i = 0; i < 2; i++) {
		f->w[i] = zt_worker_start(f->st, &o);
		assert_non_null(f->w[i]);
	}
	snprintf(path, sizeof(path), "%s/agent.sock", f->dir);
	assert_int_equal(zt_inpod_start(path, -1, f->socks6_fd), 0);
	pf.fd = f->lfd;
	pf.events = POLLIN;
	assert_int_equal(poll(&pf, 1, WAIT_MS), 1);
	f->zt = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	assert_true(f->zt >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	for (int i = 0; i < 2; i++)
		zt_worker_stop(f->w[i]);
	zt_inpod_stop();
	mesh_state_destroy(f->st);
	close(f->zt);
	close(f->lfd);
	close(f->nsfd);
	close(f->socks6_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static void send_add(struct fixture *f)
{
	assert_int_equal(sock_send_fds(f->zt, "add " POD_IP " " POD_UID, &f->nsfd, 1), 0);
}

/*
 * Every message sent so far taken by the ztunnel: a last "add" it must refuse (the fd is no
 * netns), whose "fail" comes after the answers to all earlier ones. 0, or -1 with the first
 * earlier report in @why (a refused capture is reported, never silent).
 */
static int barrier(struct fixture *f, char *why, size_t len)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uint64_t until = clock_mono_ms() + WAIT_MS;
	char msg[512];

	assert_true(devnull >= 0);
	assert_int_equal(sock_send_fds(f->zt, "add " SENTINEL_IP " sentinel", &devnull, 1), 0);
	close(devnull);
	why[0] = '\0';
	while (clock_mono_ms() < until) {
		int fds[SOCK_MAX_FDS];
		size_t n = 0;
		int err = sock_recv_fds(f->zt, msg, sizeof(msg), fds, SOCK_MAX_FDS, &n);

		for (size_t i = 0; i < n; i++)
			close(fds[i]);
		if (err == -EAGAIN) {
			usleep(1000);
			continue;
		}
		assert_int_equal(err, 0);
		/* A capture is answered "ok": the agent sends the pod's traffic there only then. */
		if (!strcmp(msg, "ok " POD_IP " " POD_UID)) {
			f->oks++;
			continue;
		}
		if (!strncmp(msg, "fail " SENTINEL_IP " ", strlen("fail " SENTINEL_IP " ")))
			return why[0] ? -1 : 0;
		if (!why[0])
			snprintf(why, len, "%s", msg);
	}
	snprintf(why, len, "no answer to the last message within %d ms", WAIT_MS);
	return -1;
}

static void assert_captured(struct fixture *f)
{
	char why[512];

	unsigned int oks = f->oks;

	if (barrier(f, why, sizeof(why)))
		fail_msg("pod not captured: %s", why);
	/* The last add's "ok" came (a re-add of a pod held is answered too). */
	assert_true(f->oks > oks);
	assert_int_equal(zt_inpod_count(), 1);
	/* Its three listeners, in its own netns. */
	assert_int_equal(connect_in_pod(f->nsfd, 15001), 0);
	assert_int_equal(connect_in_pod(f->nsfd, 15006), 0);
	assert_int_equal(connect_in_pod(f->nsfd, 15008), 0);
}

static void test_add_del(void **state)
{
	struct fixture *f = *state;
	uint64_t until;
	char why[512];

	send_add(f);
	assert_captured(f);
	/* The same pod again (a resync): kept, not opened twice. */
	send_add(f);
	assert_int_equal(sock_send_fds(f->zt, "synced", NULL, 0), 0);
	assert_captured(f);
	assert_int_equal(sock_send_fds(f->zt, "del " POD_IP, NULL, 0), 0);
	assert_int_equal(barrier(f, why, sizeof(why)), 0);
	assert_int_equal(zt_inpod_count(), 0);
	/* Its listeners close once both workers let go of them (15008 last). */
	until = clock_mono_ms() + WAIT_MS;
	while (connect_in_pod(f->nsfd, 15008) != ECONNREFUSED && clock_mono_ms() < until)
		usleep(1000);
	assert_int_equal(connect_in_pod(f->nsfd, 15001), ECONNREFUSED);
	assert_int_equal(connect_in_pod(f->nsfd, 15006), ECONNREFUSED);
	assert_int_equal(connect_in_pod(f->nsfd, 15008), ECONNREFUSED);
}

/* "del" and "add" back to back, as an unlabel and relabel close together (CI5's t_99 [kube]). */
static void test_readd_at_once(void **state)
{
	struct fixture *f = *state;

	send_add(f);
	assert_captured(f);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(sock_send_fds(f->zt, "del " POD_IP, NULL, 0), 0);
		send_add(f);
		assert_captured(f);
	}
	assert_int_equal(sock_send_fds(f->zt, "del " POD_IP, NULL, 0), 0);
}

/* The socket cookie inpod_socks6 holds under @ip6, or 0 when it holds none. */
static uint64_t published6(struct fixture *f, const char *ip6)
{
	struct in6_addr key;
	uint64_t cookie = 0;

	assert_int_equal(inet_pton(AF_INET6, ip6, &key), 1);
	return bpf_map_lookup_elem(f->socks6_fd, &key, &cookie) ? 0 : cookie;
}

/*
 * A dual-stack pod: its three listeners on [::] too, in its own netns, its 15006 published by
 * its IPv6 until it leaves; an IPv4-only pod ("add" without IPv6) has none, and publishes none.
 * The same pod named with an IPv6 address it had none of is captured anew with both families.
 */
static void test_dual_stack(void **state)
{
	static const uint16_t ports[] = {15001, 15006, 15008};
	struct fixture *f = *state;
	uint64_t until;
	char why[512];

	send_add(f);
	assert_captured(f);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(connect_in_pod_family(f->nsfd, ports[i], true), ECONNREFUSED);
	assert_int_equal(published6(f, POD_IP6), 0);

	assert_int_equal(sock_send_fds(f->zt, "add " POD_IP " " POD_UID " " POD_IP6, &f->nsfd, 1),
			 0);
	assert_captured(f);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(connect_in_pod_family(f->nsfd, ports[i], true), 0);
	assert_true(published6(f, POD_IP6) != 0);
	/* Named again the same: kept, still published. */
	assert_int_equal(sock_send_fds(f->zt, "add " POD_IP " " POD_UID " " POD_IP6, &f->nsfd, 1),
			 0);
	assert_captured(f);
	assert_true(published6(f, POD_IP6) != 0);

	assert_int_equal(sock_send_fds(f->zt, "del " POD_IP, NULL, 0), 0);
	assert_int_equal(barrier(f, why, sizeof(why)), 0);
	assert_int_equal(zt_inpod_count(), 0);
	assert_int_equal(published6(f, POD_IP6), 0);
	until = clock_mono_ms() + WAIT_MS;
	while (connect_in_pod_family(f->nsfd, 15008, true) != ECONNREFUSED &&
	       clock_mono_ms() < until)
		usleep(1000);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(connect_in_pod_family(f->nsfd, ports[i], true), ECONNREFUSED);
}

/* What zt_inpod_export gave for the one pod: copies of its listeners (-1: none). */
struct exported {
	unsigned int pods;
	uint32_t ip;
	uint64_t ino;
	bool has6;
	struct in6_addr ip6;
	int fds[ZT_INPOD_LISTENERS], fds6[ZT_INPOD_LISTENERS];
};

static int give(void *arg, uint32_t ip, uint64_t ino, const int *fds, const struct in6_addr *ip6,
		const int *fds6)
{
	struct exported *e = arg;

	e->pods++;
	e->ip = ip;
	e->ino = ino;
	e->has6 = ip6 != NULL;
	if (ip6)
		e->ip6 = *ip6;
	for (int i = 0; i < ZT_INPOD_LISTENERS; i++) {
		e->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		e->fds6[i] = ip6 ? fcntl(fds6[i], F_DUPFD_CLOEXEC, 0) : -1;
	}
	return 0;
}

static uint64_t cookie_of(int fd)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &l), 0);
	return c;
}

static void exported_close(struct exported *e)
{
	for (int i = 0; i < ZT_INPOD_LISTENERS; i++) {
		if (e->fds[i] >= 0)
			close(e->fds[i]);
		if (e->fds6[i] >= 0)
			close(e->fds6[i]);
	}
}

/*
 * Hand-over (handover.c carries what these give and take): a dual-stack pod's listeners are
 * exported with its IPv6 ones beside, and a successor that adopted both sets serves the pod's
 * "add" on them (the IPv4 set by its IPv4 address, the IPv6 one by its IPv6 address), opening
 * none: while the copies are held, a new [::] listener could not bind.
 */
static void test_handover_dual_stack(void **state)
{
	struct fixture *f = *state;
	struct exported e = {0}, again = {0};
	struct in6_addr want;
	char why[512];

	assert_int_equal(sock_send_fds(f->zt, "add " POD_IP " " POD_UID " " POD_IP6, &f->nsfd, 1),
			 0);
	assert_captured(f);
	assert_int_equal(zt_inpod_export(give, &e), 0);
	assert_int_equal(e.pods, 1);
	assert_true(e.has6);
	assert_int_equal(inet_pton(AF_INET6, POD_IP6, &want), 1);
	assert_memory_equal(&e.ip6, &want, sizeof(want));
	for (int i = 0; i < ZT_INPOD_LISTENERS; i++)
		assert_true(e.fds[i] >= 0 && e.fds6[i] >= 0);

	/* The pod leaves this ztunnel; a successor has been handed its listeners. */
	assert_int_equal(sock_send_fds(f->zt, "del " POD_IP, NULL, 0), 0);
	assert_int_equal(barrier(f, why, sizeof(why)), 0);
	zt_inpod_adopt(e.ip, e.ino, e.fds);
	zt_inpod_adopt6(&e.ip6, e.ino, e.fds6);
	assert_int_equal(sock_send_fds(f->zt, "add " POD_IP " " POD_UID " " POD_IP6, &f->nsfd, 1),
			 0);
	assert_captured(f);
	for (int i = 0; i < ZT_INPOD_LISTENERS; i++)
		assert_int_equal(connect_in_pod_family(f->nsfd,
						       i == 0	? 15001
						       : i == 1 ? 15006
								: 15008,
						       true),
				 0);
	assert_int_equal(zt_inpod_export(give, &again), 0);
	assert_int_equal(again.pods, 1);
	for (int i = 0; i < ZT_INPOD_LISTENERS; i++) {
		assert_int_equal(cookie_of(again.fds[i]), cookie_of(e.fds[i]));
		assert_int_equal(cookie_of(again.fds6[i]), cookie_of(e.fds6[i]));
	}
	exported_close(&again);
	assert_int_equal(sock_send_fds(f->zt, "del " POD_IP, NULL, 0), 0);
	assert_int_equal(barrier(f, why, sizeof(why)), 0);
}

/*
 * The answers to everything sent so far (barrier's sentinel last): how many were "ok" for the
 * IPv6-only pods' "add 0.0.0.0 <uid> <ip6>" (named "ok 0.0.0.0 <uid>"); any other is a failure.
 */
static unsigned int v6only_oks(struct fixture *f)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uint64_t until = clock_mono_ms() + WAIT_MS;
	unsigned int oks = 0;
	char msg[512];

	assert_true(devnull >= 0);
	assert_int_equal(sock_send_fds(f->zt, "add " SENTINEL_IP " sentinel", &devnull, 1), 0);
	close(devnull);
	while (clock_mono_ms() < until) {
		int fds[SOCK_MAX_FDS];
		size_t n = 0;
		int err = sock_recv_fds(f->zt, msg, sizeof(msg), fds, SOCK_MAX_FDS, &n);

		for (size_t i = 0; i < n; i++)
			close(fds[i]);
		if (err == -EAGAIN) {
			usleep(1000);
			continue;
		}
		assert_int_equal(err, 0);
		if (!strncmp(msg, "fail " SENTINEL_IP " ", strlen("fail " SENTINEL_IP " ")))
			return oks;
		if (strcmp(msg, "ok 0.0.0.0 v6-a") && strcmp(msg, "ok 0.0.0.0 v6-b"))
			fail_msg("unexpected answer: %s", msg);
		oks++;
	}
	fail_msg("no answer to the last message within %d ms", WAIT_MS);
	return 0;
}

/*
 * Two IPv6-only pods ("add 0.0.0.0 <uid> <ip6>"): each known by its IPv6 (neither takes the
 * other's place, as two pods of IPv4 0 would), its listeners on [::] in its own netns, its
 * 15006 published by its IPv6, its netns found by its IPv6 and by no IPv4 0; "del 0.0.0.0
 * <ip6>" releases the one named alone. One without its IPv6 is no add.
 */
static void test_ipv6_only(void **state)
{
	struct fixture *f = *state;
	struct in6_addr a6;
	struct sock_ns ns;
	pthread_t t;
	int nsfd2 = -1;

	assert_int_equal(pthread_create(&t, NULL, new_netns, &nsfd2), 0);
	pthread_join(t, NULL);
	assert_true(nsfd2 >= 0);
	assert_int_equal(sock_send_fds(f->zt, "add 0.0.0.0 v6-a " POD_IP6, &f->nsfd, 1), 0);
	assert_int_equal(sock_send_fds(f->zt, "add 0.0.0.0 v6-b fd00:77::a", &nsfd2, 1), 0);
	assert_int_equal(sock_send_fds(f->zt, "add 0.0.0.0 v6-c", &nsfd2, 1), 0);
	assert_int_equal(v6only_oks(f), 2);
	assert_int_equal(zt_inpod_count(), 2);
	assert_true(published6(f, POD_IP6) != 0);
	assert_true(published6(f, "fd00:77::a") != 0);
	assert_int_equal(connect_in_pod_family(f->nsfd, 15006, true), 0);
	assert_int_equal(connect_in_pod_family(nsfd2, 15001, true), 0);
	assert_int_equal(inet_pton(AF_INET6, POD_IP6, &a6), 1);
	assert_true(zt_inpod_ns6(&a6, &ns));
	assert_false(zt_inpod_ns(0, &ns));

	assert_int_equal(sock_send_fds(f->zt, "del 0.0.0.0 " POD_IP6, NULL, 0), 0);
	assert_int_equal(v6only_oks(f), 0);
	assert_int_equal(zt_inpod_count(), 1);
	assert_int_equal(published6(f, POD_IP6), 0);
	assert_true(published6(f, "fd00:77::a") != 0);
	assert_false(zt_inpod_ns6(&a6, &ns));
	assert_int_equal(sock_send_fds(f->zt, "del 0.0.0.0 fd00:77::a", NULL, 0), 0);
	assert_int_equal(v6only_oks(f), 0);
	assert_int_equal(zt_inpod_count(), 0);
	close(nsfd2);
}

/* struct in6_ifreq (linux/ipv6.h, which clashes with netinet/in.h): SIOCSIFADDR's argument. */
struct addr6_req {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

/* fd00:77::9/64 on lo inside the pod's netns: fd00:77::/64 a route of the pod's alone. */
static void *addr6_in_ns(void *arg)
{
	int *nsfd = arg, fd;
	struct addr6_req r = {.prefixlen = 64, .ifindex = (int)if_nametoindex("lo")};

	if (setns(*nsfd, CLONE_NEWNET) < 0)
		goto fail;
	r.ifindex = (int)if_nametoindex("lo");
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || inet_pton(AF_INET6, "fd00:77::9", &r.addr) != 1 ||
	    ioctl(fd, SIOCSIFADDR, &r) < 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	close(fd);
	*nsfd = 0;
	return NULL;
fail:
	*nsfd = -1;
	return NULL;
}

static const char ENTRY_SNAP[] =
    "{\"version\":1,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"v6-a\",\"name\":\"v6-a\",\"namespace\":\"a\",\"node\":\"n1\","
    " \"ip6\":\"" POD_IP6 "\",\"enrolled\":true},"
    "{\"uid\":\"host-a\",\"name\":\"host-a\",\"namespace\":\"a\",\"node\":\"n1\","
    " \"ip\":\"10.77.0.50\",\"enrolled\":true}],\"services\":[],"
    "\"serviceEntries\":["
    "{\"name\":\"both.ext\",\"namespace\":\"a\",\"hostname\":\"both.ext\","
    " \"vip\":\"240.240.7.1\",\"vip6\":\"2001:2::f0f0:701\",\"ports\":[{\"name\":\"http\","
    " \"port\":80}],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\","
    " \"resolve\":[\"both.ext\"]},"
    "{\"name\":\"four.ext\",\"namespace\":\"a\",\"hostname\":\"four.ext\","
    " \"vip\":\"240.240.7.2\",\"vip6\":\"2001:2::f0f0:702\",\"ports\":[{\"name\":\"http\","
    " \"port\":80}],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\","
    " \"resolve\":[\"four.ext\"]}],\"certs\":[]}";

/* The route of @src's connection to @dst (an address literal) port 80: its result. */
static int route_entry_from(const struct snapshot *s, const struct snap_workload *src,
			    const char *dst, struct zt_rr *rr, struct zt_route *r)
{
	union sockaddr_inet d;
	struct ipaddr a;

	assert_int_equal(ipaddr_parse_addr(dst, &a), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&d, &a, 80), 0);
	memset(r, 0, sizeof(*r));
	return zt_route_outbound(s, src, &d, ZT_LB_ROUND_ROBIN, rr, NULL, r);
}

/*
 * A ServiceEntry of resolution DNS, for an in-pod pod of IPv6 alone: its connection leaves
 * from the pod's netns (zt_connect_from_pod), so the answer picked is one the pod routes, not
 * one the ztunnel's netns does: never the A answer (the pod has no IPv4 route), every time the
 * AAAA one in a prefix the pod alone has on lo; a name of A answers alone is unreachable for it
 * (no connect that cannot succeed). A pod not captured in-pod is connected from here, where an
 * A answer is taken as before.
 */
static void test_dns_entry_from_pod_netns(void **state)
{
	struct fixture *f = *state;
	struct ipaddr four, six, got;
	const struct snap_workload *v6pod, *host;
	struct zt_rr rr = {0};
	struct zt_route r;
	struct snapshot *s;
	bool seen_four = false;
	char err[200];
	pthread_t t;
	int arg = f->nsfd;

	assert_int_equal(pthread_create(&t, NULL, addr6_in_ns, &arg), 0);
	pthread_join(t, NULL);
	assert_int_equal(arg, 0);
	assert_int_equal(sock_send_fds(f->zt, "add 0.0.0.0 v6-a " POD_IP6, &f->nsfd, 1), 0);
	assert_int_equal(v6only_oks(f), 1);
	s = snapshot_decode(ENTRY_SNAP, strlen(ENTRY_SNAP), err, sizeof(err));
	if (!s)
		fail_msg("%s", err);
	v6pod = &s->workloads[0];
	host = &s->workloads[1];
	assert_int_equal(ipaddr_parse_addr("198.51.100.7", &four), 0);
	assert_int_equal(ipaddr_parse_addr("fd00:77::1", &six), 0);
	assert_int_equal(zt_resolved_set("both.ext", AF_INET, &four, 1), 0);
	assert_int_equal(zt_resolved_set("both.ext", AF_INET6, &six, 1), 0);
	assert_int_equal(zt_resolved_set("four.ext", AF_INET, &four, 1), 0);

	for (int i = 0; i < 4; i++) {
		assert_int_equal(route_entry_from(s, v6pod, "2001:2::f0f0:701", &rr, &r), 0);
		assert_int_equal(sockaddr_inet_to_ipaddr(&r.addr, &got), 0);
		assert_true(ipaddr_equal(&got, &six));
		assert_int_equal(sockaddr_inet_port(&r.addr), 80);
	}
	assert_int_equal(route_entry_from(s, v6pod, "2001:2::f0f0:702", &rr, &r), -EHOSTUNREACH);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(route_entry_from(s, host, "240.240.7.1", &rr, &r), 0);
		assert_int_equal(sockaddr_inet_to_ipaddr(&r.addr, &got), 0);
		seen_four |= ipaddr_equal(&got, &four);
	}
	assert_true(seen_four);
	assert_int_equal(route_entry_from(s, host, "240.240.7.2", &rr, &r), 0);
	zt_resolved_keep(NULL, 0);
	snapshot_free(s);
	assert_int_equal(sock_send_fds(f->zt, "del 0.0.0.0 " POD_IP6, NULL, 0), 0);
	assert_int_equal(v6only_oks(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readd_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dual_stack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handover_dual_stack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns_entry_from_pod_netns, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
