// SPDX-License-Identifier: Apache-2.0
/*
 * The listener hand-over between two ztunnels of one node (handover.h). Each message is one
 * SOCK_SEQPACKET record, so a line never arrives split or merged with the next, and the
 * descriptors travel with the "give" line they belong to.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "ambit/ipc.h"
#include "ambit/log.h"
#include "handover.h"
#include "inpod.h"
#include "net/sock.h"

#define HO_MSG_MAX 256

const char *const zt_ho_names[HO__COUNT] = {"outbound", "inbound",  "hbone",	 "metrics",
					    "ready",	"admin",    "outbound6", "inbound6",
					    "hbone6",	"metrics6", "ready6"};

/* Deadlines on @fd's reads and writes, and the peer checked to run as this process's user. */
static int session_setup(int fd, char *why, size_t len)
{
	struct timeval tv = {.tv_sec = ZT_HO_STEP_S};
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl)) {
		snprintf(why, len, "socket options: %s", strerror(errno));
		return -errno;
	}
	if (cred.uid != geteuid()) {
		snprintf(why, len, "peer pid %d runs as uid %u, not %u", (int)cred.pid,
			 (unsigned int)cred.uid, (unsigned int)geteuid());
		return -EPERM;
	}
	return 0;
}

/* Receives one message without descriptors: 0, or -errno with @why. */
static int recv_line(int fd, char *msg, size_t mlen, const char *what, char *why, size_t len)
{
	int fds[SOCK_MAX_FDS];
	size_t n;
	int ret = sock_recv_fds(fd, msg, mlen, fds, SOCK_MAX_FDS, &n);

	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	if (ret)
		snprintf(why, len, "waiting for %s: %s", what,
			 ret == -EAGAIN ? "no answer in time" : strerror(-ret));
	else if (n)
		ret = -EPROTO;
	if (ret == -EPROTO)
		snprintf(why, len, "waiting for %s: descriptors where none belong", what);
	return ret;
}

/*
 * The address @fd listens on (*@at) and its port (host order), or 0 when it is not a listening
 * TCP socket of either family.
 */
static uint16_t listening_port(int fd, union sockaddr_inet *at)
{
	socklen_t sl = sizeof(*at);
	int v = 0;
	socklen_t vl = sizeof(v);

	memset(at, 0, sizeof(*at));
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) || !v)
		return 0;
	vl = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl) || v != SOCK_STREAM)
		return 0;
	if (getsockname(fd, &at->sa, &sl) || !sockaddr_inet_len(at))
		return 0;
	return sockaddr_inet_port(at);
}

static int name_index(const char *name)
{
	for (int i = 0; i < HO__COUNT; i++)
		if (!strcmp(name, zt_ho_names[i]))
			return i;
	return -1;
}

int zt_handover_parse(char *line, const int *got, size_t n,
		      const union sockaddr_inet want[HO__COUNT], int fds[HO__COUNT], char *why,
		      size_t len)
{
	char *save = NULL, *tok = strtok_r(line, " ", &save);
	size_t k = 0;

	if (!tok || strcmp(tok, "give") || !(tok = strtok_r(NULL, " ", &save)) ||
	    strcmp(tok, "1")) {
		snprintf(why, len, "the predecessor answered \"%.40s\", not \"give 1 ...\"", line);
		return -EPROTO;
	}
	while ((tok = strtok_r(NULL, " ", &save))) {
		int i = name_index(tok);
		union sockaddr_inet at;
		uint16_t port;

		if (k == n) {
			snprintf(why, len, "listener %.20s named without its descriptor", tok);
			return -EPROTO;
		}
		if (i < 0 || fds[i] >= 0) {
			snprintf(why, len, "listener \"%.20s\" unknown or given twice", tok);
			return -EPROTO;
		}
		fds[i] = got[k++];
		if (!sockaddr_inet_port(&want[i]))
			continue; /* not served here: closed below */
		port = listening_port(fds[i], &at);
		if (!port || !sockaddr_inet_equal(&at, &want[i])) {
			char have[SOCKADDR_INET_STRLEN], serve[SOCKADDR_INET_STRLEN];

			snprintf(why, len, "listener %s: given %s %s, this ztunnel serves %s",
				 zt_ho_names[i], port ? "a socket on" : "no listening socket",
				 port ? sockaddr_inet_format(&at, have, sizeof(have)) : "-",
				 sockaddr_inet_format(&want[i], serve, sizeof(serve)));
			return -EPROTO;
		}
	}
	if (k != n) {
		snprintf(why, len, "%zu descriptor(s) given without a name", n - k);
		return -EPROTO;
	}
	for (int i = 0; i < HO__COUNT; i++) {
		if (!sockaddr_inet_port(&want[i]) && fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	return 0;
}

/*
 * After the node's listeners, the in-pod pods' (inpod.h): "pod <ip> <netns inode>" with its three
 * listeners each, then "pods end". They wait in the in-pod module for the agent to name the pod.
 * A dual-stack pod's IPv6 listeners follow its IPv4 ones as "pod 0.0.0.0 <netns inode> <ip6>":
 * a successor older than them takes that line for a pod of address 0.0.0.0, which the agent
 * never names, and closes its copies at "synced".
 */
static int take_pods(int fd, char *why, size_t len)
{
	for (unsigned int taken = 0;; taken++) {
		char msg[HO_MSG_MAX], ipstr[INET_ADDRSTRLEN + 1], ip6str[INET6_ADDRSTRLEN + 1];
		unsigned long long ino;
		int got[SOCK_MAX_FDS];
		struct in6_addr a6;
		struct in_addr a;
		size_t n = 0;
		int ret = sock_recv_fds(fd, msg, sizeof(msg), got, SOCK_MAX_FDS, &n), words;

		if (ret) {
			snprintf(why, len, "waiting for the pods' listeners: %s",
				 ret == -EAGAIN ? "no answer in time" : strerror(-ret));
			return ret;
		}
		if (!strcmp(msg, "pods end") && !n) {
			if (taken)
				pr_info("took the listeners of %u in-pod pod(s)", taken);
			return 0;
		}
		words = sscanf(msg, "pod %16s %llu %46s", ipstr, &ino, ip6str);
		if (words < 2 || inet_pton(AF_INET, ipstr, &a) != 1 || n != ZT_INPOD_LISTENERS ||
		    (words == 3 && (a.s_addr || inet_pton(AF_INET6, ip6str, &a6) != 1))) {
			for (size_t i = 0; i < n; i++)
				close(got[i]);
			snprintf(why, len, "the predecessor sent \"%.60s\" with %zu descriptor(s)",
				 msg, n);
			return -EPROTO;
		}
		if (words == 3)
			zt_inpod_adopt6(&a6, ino, got);
		else
			zt_inpod_adopt(a.s_addr, ino, got);
	}
}

static int give_pod(void *arg, uint32_t ip, uint64_t ino, const int *lfds,
		    const struct in6_addr *ip6, const int *lfds6)
{
	char line[HO_MSG_MAX], ipstr[INET_ADDRSTRLEN], ip6str[INET6_ADDRSTRLEN];
	int ret;

	inet_ntop(AF_INET, &ip, ipstr, sizeof(ipstr));
	snprintf(line, sizeof(line), "pod %s %llu", ipstr, (unsigned long long)ino);
	ret = sock_send_fds(*(int *)arg, line, lfds, ZT_INPOD_LISTENERS);
	if (ret || !ip6)
		return ret;
	inet_ntop(AF_INET6, ip6, ip6str, sizeof(ip6str));
	snprintf(line, sizeof(line), "pod 0.0.0.0 %llu %s", (unsigned long long)ino, ip6str);
	return sock_send_fds(*(int *)arg, line, lfds6, ZT_INPOD_LISTENERS);
}

int zt_handover_take(const char *path, const union sockaddr_inet want[HO__COUNT],
		     int fds[HO__COUNT], int *session, char *why, size_t len)
{
	int got[SOCK_MAX_FDS];
	char msg[HO_MSG_MAX];
	size_t n = 0;
	int fd, ret;

	*session = -1;
	for (int i = 0; i < HO__COUNT; i++)
		fds[i] = -1;
	fd = ipc_connect_type(path, SOCK_SEQPACKET);
	if (fd < 0) {
		snprintf(why, len, "connect %s: %s", path, strerror(-fd));
		return fd;
	}
	ret = session_setup(fd, why, len);
	if (!ret && (ret = sock_send_fds(fd, "take 1 pods", NULL, 0)))
		snprintf(why, len, "asking: %s", strerror(-ret));
	if (!ret && (ret = sock_recv_fds(fd, msg, sizeof(msg), got, SOCK_MAX_FDS, &n)))
		snprintf(why, len, "waiting for the listeners: %s",
			 ret == -EAGAIN ? "no answer in time" : strerror(-ret));
	if (!ret)
		ret = zt_handover_parse(msg, got, n, want, fds, why, len);
	if (!ret)
		ret = take_pods(fd, why, len);
	if (ret) {
		/* Whatever was received goes back: the predecessor still serves on its copies. */
		for (int i = 0; i < HO__COUNT; i++)
			fds[i] = -1;
		for (size_t i = 0; i < n; i++)
			close(got[i]);
		close(fd);
		/* Nobody there is a fresh start for the caller; a failed exchange is not. */
		return ret == -ENOENT || ret == -ECONNREFUSED ? -EPROTO : ret;
	}
	*session = fd;
	return 0;
}

int zt_handover_done(int session, char *why, size_t len)
{
	char msg[HO_MSG_MAX];
	int ret = sock_send_fds(session, "took 1", NULL, 0);

	if (ret)
		snprintf(why, len, "confirming: %s", strerror(-ret));
	else if (!(ret =
		       recv_line(session, msg, sizeof(msg), "the predecessor to stop", why, len)) &&
		 strcmp(msg, "draining 1")) {
		snprintf(why, len, "the predecessor answered \"%.40s\", not \"draining 1\"", msg);
		ret = -EPROTO;
	}
	close(session);
	return ret;
}

int zt_handover_listen(const char *path)
{
	return ipc_listen_type(path, SOCK_SEQPACKET);
}

int zt_handover_give(int lfd, const int fds[HO__COUNT], int *session, char *why, size_t len)
{
	char line[HO_MSG_MAX] = "give 1", msg[HO_MSG_MAX];
	int send[HO__COUNT];
	bool pods = false;
	size_t n = 0;
	int fd, ret;

	*session = -1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == ECONNABORTED || errno == EINTR ? 0 : -errno;
	ret = session_setup(fd, why, len);
	if (!ret && !(ret = recv_line(fd, msg, sizeof(msg), "the request", why, len)) &&
	    strcmp(msg, "take 1") && strcmp(msg, "take 1 pods")) {
		snprintf(why, len, "asked \"%.40s\", not \"take 1\"", msg);
		ret = -EPROTO;
	}
	/* A successor that takes the in-pod listeners too (this version) says so. */
	pods = !ret && !strcmp(msg, "take 1 pods");
	for (int i = 0; !ret && i < HO__COUNT; i++) {
		if (fds[i] < 0)
			continue;
		send[n++] = fds[i];
		strcat(line, " ");
		strcat(line, zt_ho_names[i]);
	}
	if (!ret && (ret = sock_send_fds(fd, line, send, n)))
		snprintf(why, len, "giving: %s", strerror(-ret));
	if (!ret && pods &&
	    ((ret = zt_inpod_export(give_pod, &fd)) ||
	     (ret = sock_send_fds(fd, "pods end", NULL, 0))))
		snprintf(why, len, "giving the pods' listeners: %s", strerror(-ret));
	/* The successor waits for its first snapshot before it serves: up to its own bound. */
	if (!ret) {
		struct timeval tv = {.tv_sec = 6 * ZT_HO_STEP_S};

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (!ret && !(ret = recv_line(fd, msg, sizeof(msg), "the successor to serve", why, len)) &&
	    strcmp(msg, "took 1")) {
		snprintf(why, len, "the successor said \"%.40s\", not \"took 1\"", msg);
		ret = -EPROTO;
	}
	if (ret) {
		close(fd);
		return 0;
	}
	*session = fd;
	return 1;
}

void zt_handover_release(int session)
{
	if (session < 0)
		return;
	sock_send_fds(session, "draining 1", NULL, 0);
	close(session);
}
