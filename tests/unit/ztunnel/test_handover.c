// SPDX-License-Identifier: Apache-2.0
/*
 * The listener hand-over of an upgrade (ztunnel/handover.c) and the descriptor passing under it
 * (sock_send_fds/sock_recv_fds). Both sides are real: the predecessor serves in a thread on a
 * unix socket in a fresh directory under /tmp, with loopback TCP listeners on ports the kernel
 * picks, and the test is the successor (or a peer that misbehaves). Every exchange ends by a
 * close on the other side, never by a deadline, so no case waits ZT_HO_STEP_S.
 * Leaks are counted in /proc/self/fd, which the predecessor's thread shares: counts are
 * compared only while that thread holds no descriptor of its own beyond its listeners.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ambit/ipc.h"
#include "net/sock.h"
#include "../../../ztunnel/handover.h"
#include "../../lib/harness.h"

/* Descriptors open in this process (the directory stream's own included, the same each time). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	assert_true(fl >= 0);
	return fl & FD_CLOEXEC;
}

/* The local port of a TCP socket, host order. */
static uint16_t local_port(int fd)
{
	union sockaddr_inet sa;
	socklen_t sl = sizeof(sa);

	assert_int_equal(getsockname(fd, &sa.sa, &sl), 0);
	assert_int_not_equal(sockaddr_inet_len(&sa), 0);
	return sockaddr_inet_port(&sa);
}

/* The loopback address of slot @i's family: [::1] for the IPv6 listeners. */
static union sockaddr_inet slot_lo(int i, uint16_t port)
{
	return harness_sa(i >= HO_OUTBOUND6 ? "::1" : "127.0.0.1", port);
}

static int accepting(int fd)
{
	int v = -1;
	socklen_t vl = sizeof(v);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl), 0);
	return v;
}

static ino_t inode(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

/*
 * A blocking client connected to slot @i's loopback on @port (the kernel completes it into the
 * backlog).
 */
static int tcp_connect(int i, uint16_t port)
{
	union sockaddr_inet to = slot_lo(i, port);
	int fd = socket(to.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, &to.sa, sockaddr_inet_len(&to)), 0);
	return fd;
}

/* The next connection on listener @lfd comes from client @cfd: then @lfd is the socket it hit. */
static void accept_from(int lfd, int cfd)
{
	struct sockaddr_in peer;
	int a = harness_accept_within(lfd, 5000, &peer);

	assert_true(a >= 0);
	assert_int_equal(ntohs(peer.sin_port), local_port(cfd));
	close(a);
}

/* ---- sock_send_fds / sock_recv_fds on a SOCK_SEQPACKET pair ---- */

static int pair_setup(void **state)
{
	int *sv = malloc(2 * sizeof(int));

	if (!sv || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		free(sv);
		return -1;
	}
	*state = sv;
	return 0;
}

static int pair_teardown(void **state)
{
	int *sv = *state;

	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	free(sv);
	return 0;
}

/*
 * @n pipes without close-on-exec (so that a received copy having it proves the receive set it);
 * read ends non-blocking, so that "no writer left" reads as EOF instead of hanging.
 */
static void make_pipes(int p[][2], int n)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal(pipe(p[i]), 0);
		assert_int_equal(fcntl(p[i][0], F_SETFL, O_NONBLOCK), 0);
	}
}

/* No copy of @p's write end is left anywhere, in this process or in flight. */
static void assert_no_writer(const int p[2])
{
	char c;

	assert_int_equal(read(p[0], &c, 1), 0);
}

/* Three descriptors arrive with their line, in order, usable, close-on-exec. */
static void test_fds_three_pipes(void **state)
{
	int *sv = *state, p[3][2], w[3], got[SOCK_MAX_FDS];
	char msg[64], c;
	size_t n = 99;

	make_pipes(p, 3);
	for (int i = 0; i < 3; i++) {
		w[i] = p[i][1];
		assert_false(cloexec(w[i]));
	}
	assert_int_equal(sock_send_fds(sv[0], "three pipes", w, 3), 0);
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, SOCK_MAX_FDS, &n), 0);
	assert_string_equal(msg, "three pipes");
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		assert_true(got[i] >= 0);
		for (int j = 0; j < 3; j++)
			assert_int_not_equal(got[i], w[j]);
		assert_true(cloexec(got[i]));
		assert_int_equal(inode(got[i]), inode(w[i]));
		c = 'a' + i;
		assert_int_equal(write(got[i], &c, 1), 1);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(read(p[i][0], &c, 1), 1);
		assert_int_equal(c, 'a' + i);
		close(got[i]);
		close(p[i][1]);
		assert_no_writer(p[i]);
		close(p[i][0]);
	}
}

static void test_fds_none(void **state)
{
	int *sv = *state, got[SOCK_MAX_FDS];
	char msg[64];
	size_t n = 99;

	assert_int_equal(sock_send_fds(sv[0], "take 1", NULL, 0), 0);
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, SOCK_MAX_FDS, &n), 0);
	assert_string_equal(msg, "take 1");
	assert_int_equal(n, 0);
}

/* More descriptors than @max: -EPROTO, every one closed, and the next message still whole. */
static void test_fds_over_max(void **state)
{
	int *sv = *state, p[3][2], w[3], got[SOCK_MAX_FDS], before;
	char msg[64];
	size_t n = 99;

	make_pipes(p, 3);
	for (int i = 0; i < 3; i++)
		w[i] = p[i][1];
	assert_int_equal(sock_send_fds(sv[0], "three", w, 3), 0);
	assert_int_equal(sock_send_fds(sv[0], "after", NULL, 0), 0);
	for (int i = 0; i < 3; i++)
		close(p[i][1]);
	before = count_fds();
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, 2, &n), -EPROTO);
	assert_int_equal(n, 0);
	assert_int_equal(count_fds(), before);
	for (int i = 0; i < 3; i++) {
		assert_no_writer(p[i]);
		close(p[i][0]);
	}
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, 2, &n), 0);
	assert_string_equal(msg, "after");
	assert_int_equal(n, 0);
}

/*
 * More descriptors than SOCK_MAX_FDS (another sender than sock_send_fds): the kernel cuts the
 * rights short (MSG_CTRUNC) and installs those that fit: -EPROTO, and those closed too.
 */
static void test_fds_over_capacity(void **state)
{
	enum { N = SOCK_MAX_FDS + 4 };
	union {
		char buf[CMSG_SPACE(sizeof(int) * N)];
		struct cmsghdr align;
	} u = {};
	int *sv = *state, p[2], w[N], got[SOCK_MAX_FDS], before;
	struct iovec iov = {.iov_base = "many", .iov_len = 4};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	char msg[64];
	size_t n = 99;

	make_pipes(&p, 1);
	for (int i = 0; i < N; i++)
		w[i] = p[1];
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * N);
	memcpy(CMSG_DATA(cm), w, sizeof(w));
	assert_int_equal(sendmsg(sv[0], &mh, 0), 4);
	close(p[1]);
	before = count_fds();
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, SOCK_MAX_FDS, &n), -EPROTO);
	assert_int_equal(n, 0);
	assert_int_equal(count_fds(), before);
	assert_no_writer(p);
	close(p[0]);
}

static void test_fds_peer_closed(void **state)
{
	int *sv = *state, got[SOCK_MAX_FDS];
	char msg[64];
	size_t n = 99;

	close(sv[0]);
	sv[0] = -1;
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, SOCK_MAX_FDS, &n),
			 -ECONNRESET);
	assert_int_equal(n, 0);
}

/* @len holds @len - 1 bytes and the NUL: one more is -EMSGSIZE, its descriptor closed. */
static void test_fds_too_long(void **state)
{
	int *sv = *state, p[2], got[SOCK_MAX_FDS], before;
	char msg[6];
	size_t n = 99;

	make_pipes(&p, 1);
	assert_int_equal(sock_send_fds(sv[0], "hello", NULL, 0), 0);
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, SOCK_MAX_FDS, &n), 0);
	assert_string_equal(msg, "hello");

	assert_int_equal(sock_send_fds(sv[0], "hello!", &p[1], 1), 0);
	close(p[1]);
	before = count_fds();
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, SOCK_MAX_FDS, &n), -EMSGSIZE);
	assert_int_equal(n, 0);
	assert_int_equal(count_fds(), before);
	assert_no_writer(p);
	close(p[0]);
}

/* What neither side may ask: too many descriptors, empty or oversized lines, no buffer. */
static void test_fds_refused(void **state)
{
	int *sv = *state, w[SOCK_MAX_FDS + 1], got[SOCK_MAX_FDS + 1];
	char big[1026], msg[64];
	size_t n = 99;

	for (int i = 0; i <= SOCK_MAX_FDS; i++)
		w[i] = sv[0];
	assert_int_equal(sock_send_fds(sv[0], "many", w, SOCK_MAX_FDS + 1), -EINVAL);
	assert_int_equal(sock_send_fds(sv[0], "", NULL, 0), -EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sock_send_fds(sv[0], big, NULL, 0), -EINVAL);
	big[1024] = '\0';
	assert_int_equal(sock_send_fds(sv[0], big, w, SOCK_MAX_FDS), 0);
	assert_int_equal(sock_recv_fds(sv[1], msg, sizeof(msg), got, SOCK_MAX_FDS + 1, &n),
			 -EINVAL);
	assert_int_equal(sock_recv_fds(sv[1], msg, 0, got, SOCK_MAX_FDS, &n), -EINVAL);
	assert_int_equal(n, 0);
}

/* ---- the hand-over ---- */

struct ho {
	char dir[64];
	char path[96];
	/* The predecessor: its hand-over socket, listeners (-1: none) and their ports. */
	int lfd;
	int fds[HO__COUNT];
	uint16_t ports[HO__COUNT];
	/*
	 * After give returned 1: close the listeners, as main.c stops accepting, and only a while
	 * later say so (released, then zt_handover_release), so that a successor not waiting for
	 * that word would be seen going on before it.
	 */
	bool close_copies;
	atomic_bool released;
	pthread_t thread;
	bool running;
	int give_ret;
	int give_session;
	char give_why[256];
	/* A fake predecessor's "give" line and descriptors (borrowed; fake_predecessor()). */
	const char *fake_line;
	int fake_fds[3];
	size_t fake_n;
	char fake_asked[64];
	/* The successor, or a peer: closed by the teardown when a case fails half-way. */
	int got[HO__COUNT];
	int session;
	int peer;
	char why[256];
};

static int ho_setup(void **state)
{
	struct ho *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/ambit-test-handover-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/ho.sock", t->dir);
	t->lfd = t->session = t->peer = t->give_session = -1;
	t->give_ret = -1000;
	for (int i = 0; i < HO__COUNT; i++)
		t->fds[i] = t->got[i] = -1;
	*state = t;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Closing the successor's side first ends a predecessor waiting for a message; shutting the
 * hand-over socket down ends one blocked in accept() (-EINVAL): a failed case never hangs here.
 */
static int ho_teardown(void **state)
{
	struct ho *t = *state;
	int ret;

	for (int i = 0; i < HO__COUNT; i++)
		close_fd(&t->got[i]);
	close_fd(&t->session);
	close_fd(&t->peer);
	if (t->running) {
		if (t->lfd >= 0)
			shutdown(t->lfd, SHUT_RDWR);
		pthread_join(t->thread, NULL);
	}
	close_fd(&t->lfd);
	for (int i = 0; i < HO__COUNT; i++)
		close_fd(&t->fds[i]);
	if (unlink(t->path) && errno != ENOENT)
		fprintf(stderr, "unlink %s: %s\n", t->path, strerror(errno));
	ret = rmdir(t->dir);
	if (ret)
		fprintf(stderr, "rmdir %s: %s\n", t->dir, strerror(errno));
	free(t);
	return ret;
}

/* Loopback listeners for the slots in @mask (1 << HO_x), each on a port the kernel picks. */
static void make_listeners(struct ho *t, unsigned int mask)
{
	for (int i = 0; i < HO__COUNT; i++) {
		union sockaddr_inet at = slot_lo(i, 0);

		if (!(mask & (1u << i)))
			continue;
		t->fds[i] = sock_listen_at(&at, false);
		assert_true(t->fds[i] >= 0);
		t->ports[i] = local_port(t->fds[i]);
		assert_int_not_equal(t->ports[i], 0);
	}
}

/* No assertion here: cmocka's longjmp belongs to the main thread. */
static void *predecessor(void *arg)
{
	struct ho *t = arg;

	t->give_ret =
	    zt_handover_give(t->lfd, t->fds, &t->give_session, t->give_why, sizeof(t->give_why));
	if (t->give_ret == 1) {
		if (t->close_copies) {
			struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};

			for (int i = 0; i < HO__COUNT; i++)
				close_fd(&t->fds[i]);
			nanosleep(&ts, NULL);
		}
		atomic_store(&t->released, true);
		zt_handover_release(t->give_session);
	}
	return NULL;
}

static void start(struct ho *t, void *(*fn)(void *))
{
	if (t->lfd < 0)
		t->lfd = zt_handover_listen(t->path);
	assert_true(t->lfd >= 0);
	assert_int_equal(pthread_create(&t->thread, NULL, fn, t), 0);
	t->running = true;
}

static void join(struct ho *t)
{
	assert_true(t->running);
	assert_int_equal(pthread_join(t->thread, NULL), 0);
	t->running = false;
}

/* @ips for the IPv4 slots; the IPv6 ones are on [::1]. */
static int take_at(struct ho *t, const uint32_t ips[HO__COUNT], const uint16_t ports[HO__COUNT])
{
	union sockaddr_inet want[HO__COUNT];

	for (int i = 0; i < HO__COUNT; i++) {
		want[i] = slot_lo(i, ports[i]);
		if (i < HO_OUTBOUND6)
			want[i].v4.sin_addr.s_addr = ips[i];
	}
	t->why[0] = '\0';
	return zt_handover_take(t->path, want, t->got, &t->session, t->why, sizeof(t->why));
}

/* Every listener here is on loopback. */
static int take(struct ho *t, const uint16_t ports[HO__COUNT])
{
	const uint32_t lo = htonl(INADDR_LOOPBACK);
	const uint32_t ips[HO__COUNT] = {lo, lo, lo, lo, lo, lo};

	return take_at(t, ips, ports);
}

static int done(struct ho *t)
{
	int ret = zt_handover_done(t->session, t->why, sizeof(t->why));

	t->session = -1;
	return ret;
}

/* Each given listener is the predecessor's own socket: its port, and accepting. */
static void assert_got_listener(struct ho *t, int i)
{
	assert_true(t->got[i] >= 0);
	assert_int_equal(local_port(t->got[i]), t->ports[i]);
	assert_int_equal(accepting(t->got[i]), 1);
	assert_true(cloexec(t->got[i]));
}

/*
 * All six listeners change hands: the successor's copies are the very sockets (same inodes);
 * a connection queued before the hand-over and new ones after the predecessor closed its
 * copies are accepted on them.
 */
static void test_ho_round_trip(void **state)
{
	struct ho *t = *state;
	ino_t ino[HO__COUNT];
	int early;

	make_listeners(t, (1u << HO__COUNT) - 1);
	for (int i = 0; i < HO__COUNT; i++)
		ino[i] = inode(t->fds[i]);
	early = tcp_connect(HO_HBONE, t->ports[HO_HBONE]);
	t->close_copies = true;
	start(t, predecessor);

	assert_int_equal(take(t, t->ports), 0);
	assert_true(t->session >= 0);
	for (int i = 0; i < HO__COUNT; i++) {
		assert_got_listener(t, i);
		assert_int_equal(inode(t->got[i]), ino[i]);
	}
	assert_int_equal(done(t), 0);
	assert_true(atomic_load(&t->released));
	join(t);
	assert_int_equal(t->give_ret, 1);
	assert_true(t->give_session >= 0);
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(t->fds[i], -1);

	accept_from(t->got[HO_HBONE], early);
	close(early);
	for (int i = 0; i < HO__COUNT; i++) {
		int c = tcp_connect(i, t->ports[i]);

		accept_from(t->got[i], c);
		close(c);
	}
}

/* The predecessor serves two of the six: the successor gets those, -1 where none came. */
static void test_ho_partial(void **state)
{
	struct ho *t = *state;
	uint16_t want[HO__COUNT] = {1, 2, 0, 4, 5, 6};

	make_listeners(t, 1u << HO_INBOUND | 1u << HO_HBONE);
	want[HO_INBOUND] = t->ports[HO_INBOUND];
	want[HO_HBONE] = t->ports[HO_HBONE];
	start(t, predecessor);

	assert_int_equal(take(t, want), 0);
	assert_got_listener(t, HO_INBOUND);
	assert_got_listener(t, HO_HBONE);
	for (int i = 0; i < HO__COUNT; i++)
		if (i != HO_INBOUND && i != HO_HBONE)
			assert_int_equal(t->got[i], -1);
	assert_int_equal(done(t), 0);
	join(t);
	assert_int_equal(t->give_ret, 1);
}

/*
 * A predecessor from before the IPv6 listeners gives its six: the successor takes them, wants
 * its IPv6 ones and gets none (-1: main.c opens them afresh).
 */
static void test_ho_no_ipv6_given(void **state)
{
	struct ho *t = *state;
	uint16_t want[HO__COUNT];

	make_listeners(t, (1u << HO_OUTBOUND6) - 1);
	memcpy(want, t->ports, sizeof(want));
	want[HO_OUTBOUND6] = 15001;
	want[HO_INBOUND6] = 15006;
	want[HO_HBONE6] = 15008;
	start(t, predecessor);

	assert_int_equal(take(t, want), 0);
	for (int i = 0; i < HO_OUTBOUND6; i++)
		assert_got_listener(t, i);
	for (int i = HO_OUTBOUND6; i < HO__COUNT; i++)
		assert_int_equal(t->got[i], -1);
	assert_int_equal(done(t), 0);
	join(t);
	assert_int_equal(t->give_ret, 1);
}

/*
 * An IPv4 socket in an IPv6 slot (the port right, the family not) is refused as a wrong
 * listener, named; the predecessor serves on.
 */
static void test_ho_ipv6_slot_family(void **state)
{
	struct ho *t = *state;
	uint16_t want[HO__COUNT] = {0};

	t->fds[HO_HBONE6] = sock_listen(htonl(INADDR_LOOPBACK), 0, false);
	assert_true(t->fds[HO_HBONE6] >= 0);
	t->ports[HO_HBONE6] = local_port(t->fds[HO_HBONE6]);
	want[HO_HBONE6] = t->ports[HO_HBONE6];
	start(t, predecessor);

	assert_int_equal(take(t, want), -EPROTO);
	assert_non_null(strstr(t->why, "hbone6"));
	assert_non_null(strstr(t->why, "[::1]:"));
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(t->got[i], -1);
	join(t);
	assert_int_equal(t->give_ret, 0);
	assert_true(t->fds[HO_HBONE6] >= 0);
}

/* Sent but not served here (port 0): closed on receipt, -1, only the served one stays open. */
static void test_ho_unwanted_slot(void **state)
{
	struct ho *t = *state;
	uint16_t want[HO__COUNT] = {0};
	int before;

	make_listeners(t, (1u << HO__COUNT) - 1);
	want[HO_HBONE] = t->ports[HO_HBONE];
	t->lfd = zt_handover_listen(t->path);
	before = count_fds();
	start(t, predecessor);

	assert_int_equal(take(t, want), 0);
	assert_got_listener(t, HO_HBONE);
	for (int i = 0; i < HO__COUNT; i++)
		if (i != HO_HBONE)
			assert_int_equal(t->got[i], -1);
	assert_int_equal(done(t), 0);
	join(t);
	assert_int_equal(t->give_ret, 1);
	assert_int_equal(count_fds(), before + 1);
	close_fd(&t->got[HO_HBONE]);
	assert_int_equal(count_fds(), before);
}

/* Nobody at the path, or only a dead ztunnel's socket file: a fresh start, nothing taken. */
static void test_ho_nobody(void **state)
{
	struct ho *t = *state;
	const uint16_t want[HO__COUNT] = {15001, 15006, 15008, 15020, 15021, 15000};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, before = count_fds();

	assert_int_equal(take(t, want), -ENOENT);
	assert_int_equal(t->session, -1);
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(t->got[i], -1);
	assert_non_null(strstr(t->why, t->path));
	assert_int_equal(count_fds(), before);

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	strcpy(sa.sun_path, t->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(access(t->path, F_OK), 0);
	assert_int_equal(take(t, want), -ECONNREFUSED);
	assert_int_equal(t->session, -1);
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(t->got[i], -1);
	assert_int_equal(count_fds(), before);
}

/*
 * The successor serves hbone on another port: the exchange fails (not "nobody there"), names
 * the listener, returns every descriptor; the predecessor keeps serving on its listeners.
 */
static void test_ho_port_mismatch(void **state)
{
	struct ho *t = *state;
	uint16_t want[HO__COUNT];
	int before, c;

	make_listeners(t, (1u << HO__COUNT) - 1);
	memcpy(want, t->ports, sizeof(want));
	want[HO_HBONE] = t->ports[HO_HBONE] == 65535 ? 1 : t->ports[HO_HBONE] + 1;
	t->lfd = zt_handover_listen(t->path);
	before = count_fds();
	start(t, predecessor);

	assert_int_equal(take(t, want), -EPROTO);
	assert_non_null(strstr(t->why, "hbone"));
	assert_int_equal(t->session, -1);
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(t->got[i], -1);
	join(t);
	assert_int_equal(t->give_ret, 0);
	assert_int_equal(t->give_session, -1);
	/* It went away after the listeners: while the pods' were sent, or after. */
	if (!strstr(t->give_why, "successor to serve") && !strstr(t->give_why, "the pods'"))
		fail_msg("the predecessor's reason: \"%s\"", t->give_why);
	assert_int_equal(count_fds(), before);
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(accepting(t->fds[i]), 1);
	c = tcp_connect(HO_HBONE, t->ports[HO_HBONE]);
	accept_from(t->fds[HO_HBONE], c);
	close(c);
}

/* The right port on another address (admin on loopback, served on every address) is refused. */
static void test_ho_addr_mismatch(void **state)
{
	struct ho *t = *state;
	const uint32_t lo = htonl(INADDR_LOOPBACK);
	uint32_t ips[HO__COUNT] = {lo, lo, lo, lo, lo, lo};

	make_listeners(t, (1u << HO__COUNT) - 1);
	ips[HO_ADMIN] = htonl(INADDR_ANY);
	t->lfd = zt_handover_listen(t->path);
	start(t, predecessor);

	assert_int_equal(take_at(t, ips, t->ports), -EPROTO);
	assert_non_null(strstr(t->why, "admin"));
	assert_non_null(strstr(t->why, "127.0.0.1"));
	assert_non_null(strstr(t->why, "0.0.0.0"));
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(t->got[i], -1);
	join(t);
	assert_int_equal(t->give_ret, 0);
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(accepting(t->fds[i]), 1);
}

/* A successor that took the listeners but hangs up before "took 1": the predecessor serves on. */
static void test_ho_successor_gives_up(void **state)
{
	struct ho *t = *state;
	int c;

	make_listeners(t, (1u << HO__COUNT) - 1);
	start(t, predecessor);

	assert_int_equal(take(t, t->ports), 0);
	for (int i = 0; i < HO__COUNT; i++) {
		assert_got_listener(t, i);
		close_fd(&t->got[i]);
	}
	close_fd(&t->session);
	join(t);
	assert_int_equal(t->give_ret, 0);
	assert_int_equal(t->give_session, -1);
	/* It went away after the listeners: while the pods' were sent, or after. */
	if (!strstr(t->give_why, "successor to serve") && !strstr(t->give_why, "the pods'"))
		fail_msg("the predecessor's reason: \"%s\"", t->give_why);
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(accepting(t->fds[i]), 1);
	c = tcp_connect(HO_OUTBOUND, t->ports[HO_OUTBOUND]);
	accept_from(t->fds[HO_OUTBOUND], c);
	close(c);
}

/* A peer asking something else than "take 1" gets nothing: the predecessor hangs up. */
static void test_ho_garbage_request(void **state)
{
	struct ho *t = *state;
	int got[SOCK_MAX_FDS];
	char msg[64];
	size_t n = 99;

	make_listeners(t, (1u << HO__COUNT) - 1);
	start(t, predecessor);

	t->peer = ipc_connect_type(t->path, SOCK_SEQPACKET);
	assert_true(t->peer >= 0);
	assert_int_equal(sock_send_fds(t->peer, "hello", NULL, 0), 0);
	assert_int_equal(sock_recv_fds(t->peer, msg, sizeof(msg), got, SOCK_MAX_FDS, &n),
			 -ECONNRESET);
	assert_int_equal(n, 0);
	join(t);
	assert_int_equal(t->give_ret, 0);
	assert_int_equal(t->give_session, -1);
	assert_non_null(strstr(t->give_why, "\"hello\""));
	for (int i = 0; i < HO__COUNT; i++)
		assert_int_equal(accepting(t->fds[i]), 1);
}

/* "take 1" carrying a descriptor is refused, and the predecessor keeps no copy of it. */
static void test_ho_request_with_fds(void **state)
{
	struct ho *t = *state;
	int p[2], before, got[SOCK_MAX_FDS];
	char msg[64];
	size_t n = 99;

	make_listeners(t, 1u << HO_HBONE);
	make_pipes(&p, 1);
	t->lfd = zt_handover_listen(t->path);
	before = count_fds();
	start(t, predecessor);

	t->peer = ipc_connect_type(t->path, SOCK_SEQPACKET);
	assert_true(t->peer >= 0);
	assert_int_equal(sock_send_fds(t->peer, "take 1", &p[1], 1), 0);
	assert_int_equal(sock_recv_fds(t->peer, msg, sizeof(msg), got, SOCK_MAX_FDS, &n),
			 -ECONNRESET);
	assert_int_equal(n, 0);
	join(t);
	assert_int_equal(t->give_ret, 0);
	assert_non_null(strstr(t->give_why, "descriptors where none belong"));
	assert_int_equal(count_fds(), before + 1);
	close(p[1]);
	assert_no_writer(p);
	close(p[0]);
}

/*
 * A predecessor of another make: answers "take 1" with t->fake_line and t->fake_fds, then
 * waits for the successor to hang up.
 */
static void *fake_predecessor(void *arg)
{
	struct ho *t = arg;
	int fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
	char msg[64];
	ssize_t r;

	if (fd < 0)
		return NULL;
	r = recv(fd, t->fake_asked, sizeof(t->fake_asked) - 1, 0);
	if (r > 0 && !sock_send_fds(fd, t->fake_line, t->fake_fds, t->fake_n))
		while (recv(fd, msg, sizeof(msg), 0) > 0)
			;
	close(fd);
	return NULL;
}

/* Whatever a predecessor gives that does not fit is refused, and none of it kept. */
static void test_ho_bad_give(void **state)
{
	struct ho *t = *state;
	const struct {
		const char *line;
		int n; /* descriptors: pipe read end, then hbone's listener, then hbone's again */
		const char *why;
	} cases[] = {
	    {"give 1 hbone", 1, "hbone: given no listening socket"},
	    {"give 1 inbound hbone hbone", 3, "unknown or given twice"},
	    {"give 1 inbound bogus", 2, "unknown or given twice"},
	    {"give 1 inbound hbone", 1, "named without its descriptor"},
	    {"give 1 inbound", 2, "given without a name"},
	    {"give 2 inbound", 1, "not \"give 1"},
	    {"draining 1", 0, "not \"give 1"},
	};
	uint16_t want[HO__COUNT] = {0};
	int p[2], before;

	make_listeners(t, 1u << HO_HBONE | 1u << HO_INBOUND);
	make_pipes(&p, 1);
	want[HO_HBONE] = t->ports[HO_HBONE];
	want[HO_INBOUND] = t->ports[HO_INBOUND];
	t->lfd = zt_handover_listen(t->path);
	before = count_fds();
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const int fds[3] = {p[0], t->fds[HO_HBONE], t->fds[HO_HBONE]};
		const int in_order[3] = {t->fds[HO_INBOUND], t->fds[HO_HBONE], t->fds[HO_HBONE]};

		/* Bad names and counts are given real listeners, so only the name is at fault. */
		memcpy(t->fake_fds, k ? in_order : fds, sizeof(fds));
		t->fake_line = cases[k].line;
		t->fake_n = cases[k].n;
		start(t, fake_predecessor);
		assert_int_equal(take(t, want), -EPROTO);
		join(t);
		assert_string_equal(t->fake_asked, "take 1 pods");
		if (!strstr(t->why, cases[k].why))
			fail_msg("\"%s\": why is \"%s\", not about \"%s\"", cases[k].line, t->why,
				 cases[k].why);
		assert_int_equal(t->session, -1);
		for (int i = 0; i < HO__COUNT; i++)
			assert_int_equal(t->got[i], -1);
		assert_int_equal(count_fds(), before);
	}
	close(p[1]);
	close(p[0]);
}

/* A stale socket file is replaced; a live predecessor's is not. The socket is 0600. */
static void test_ho_listen(void **state)
{
	struct ho *t = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, t->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	t->lfd = zt_handover_listen(t->path);
	assert_true(t->lfd >= 0);
	assert_int_equal(stat(t->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(zt_handover_listen(t->path), -EADDRINUSE);
}

#define HO_TEST(f) cmocka_unit_test_setup_teardown(f, ho_setup, ho_teardown)
#define FD_TEST(f) cmocka_unit_test_setup_teardown(f, pair_setup, pair_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    FD_TEST(test_fds_three_pipes),     FD_TEST(test_fds_none),
	    FD_TEST(test_fds_over_max),	       FD_TEST(test_fds_over_capacity),
	    FD_TEST(test_fds_peer_closed),     FD_TEST(test_fds_too_long),
	    FD_TEST(test_fds_refused),	       HO_TEST(test_ho_round_trip),
	    HO_TEST(test_ho_partial),	       HO_TEST(test_ho_no_ipv6_given),
	    HO_TEST(test_ho_ipv6_slot_family), HO_TEST(test_ho_unwanted_slot),
	    HO_TEST(test_ho_nobody),	       HO_TEST(test_ho_port_mismatch),
	    HO_TEST(test_ho_addr_mismatch),    HO_TEST(test_ho_successor_gives_up),
	    HO_TEST(test_ho_garbage_request),  HO_TEST(test_ho_request_with_fds),
	    HO_TEST(test_ho_bad_give),	       HO_TEST(test_ho_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
