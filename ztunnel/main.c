// SPDX-License-Identifier: Apache-2.0
/*
 * ztunnel --node N --agent-socket S [--pin-root P] [--workers 2] [--log-level info]
 *         [--lb round-robin|least-conn] [--handover PATH] [--drain-timeout 30]
 *         [--dns-port 15053] [--resolv-conf /etc/resolv.conf] [--dns-forward-cluster]
 *         [limits: limits.h, e.g. --max-conns N]
 * Start-up, hand-over and drain only: everything that carries traffic lives in the modules
 * (tested without main).
 *
 * With --handover, a ztunnel first asks the one serving at PATH for its listeners
 * (handover.h), waits for its own first snapshot, serves on them and lets the old one go; then
 * it offers them at PATH in turn. A ztunnel whose listeners were taken accepts nothing more and
 * drains: its HBONE connections end gracefully (GOAWAY), the rest run to their end. It exits
 * at SIGTERM once nothing is left, or --drain-timeout seconds after the hand-over; before
 * SIGTERM it idles, as the old pod of a DaemonSet rolling update waits to be deleted (its
 * restart would take the listeners back).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/signalfd.h>

#include <linux/types.h>

#include "ambit/datapath.h" /* and bpf_abi.h */
#include "ambit/log.h"
#include "ambit/version.h"
#include "admin.h"
#include "net/guard.h"
#include "dns_server.h"
#include "handover.h"
#include "inpod.h"
#include "limits.h"
#include "proxy.h"
#include "net/sock.h"
#include "net/meshstate.h"

#define MAX_WORKERS 64
/* A successor serves only with a snapshot: it waits this long for its first one. */
#define HANDOVER_SNAPSHOT_S 45

static void usage(void)
{
	fprintf(stderr,
		"usage: ztunnel --node N --agent-socket S [--pin-root P] [--workers 2] "
		"[--log-level info] [--lb round-robin|least-conn] [--handover PATH] "
		"[--drain-timeout 30] [--dns-port 15053 (0: none)] [--resolv-conf PATH] "
		"[--dns-forward-cluster] [LIMITS]\n"
		"LIMITS (0: none; also from ZTUNNEL_<NAME>, e.g. ZTUNNEL_MAX_CONNS):\n%s",
		zt_limits_usage());
}

/*
 * Listeners a predecessor did not hand over are opened here. A host without IPv6 (no AF_INET6
 * sockets, or no address to bind [::] on) serves IPv4 only, said once. 0 or -errno (said).
 */
static int open_listeners(int fds[HO__COUNT], const union sockaddr_inet want[HO__COUNT])
{
	bool no_v6 = false;

	for (int i = 0; i < HO__COUNT; i++) {
		bool v6 = want[i].sa.sa_family == AF_INET6;

		if (fds[i] >= 0 || !sockaddr_inet_port(&want[i]) || (v6 && no_v6))
			continue;
		/* 15006 and 15008 take flows sk_assign()ed with the pods' addresses. */
		fds[i] = sock_listen_at(&want[i], i == HO_INBOUND || i == HO_HBONE ||
						      i == HO_INBOUND6 || i == HO_HBONE6);
		if (fds[i] >= 0)
			continue;
		if (v6 && (fds[i] == -EAFNOSUPPORT || fds[i] == -EADDRNOTAVAIL)) {
			pr_warn("no IPv6 on this host (%s): serving IPv4 only", strerror(-fds[i]));
			fds[i] = -1;
			no_v6 = true;
			continue;
		}
		pr_err("cannot listen on %u (%s): %s", sockaddr_inet_port(&want[i]), zt_ho_names[i],
		       strerror(-fds[i]));
		return fds[i];
	}
	return 0;
}

static void close_listeners(int fds[HO__COUNT])
{
	for (int i = 0; i < HO__COUNT; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Connections this process still holds, accepted on any listener. */
static unsigned long open_conns(void)
{
	return guard_open(GUARD_OUTBOUND) + guard_open(GUARD_INBOUND) + guard_open(GUARD_HBONE);
}

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A successor's wait for the snapshot it needs before it may accept: 0 or -ETIMEDOUT. */
static int wait_first_snapshot(struct mesh_state *st)
{
	for (int i = 0; i < HANDOVER_SNAPSHOT_S * 20; i++) {
		struct mesh_snap *zs = mesh_state_get(st);

		if (zs) {
			mesh_snap_put(zs);
			return 0;
		}
		usleep(50000);
	}
	return -ETIMEDOUT;
}

/* What the main thread runs after start-up: signals, successors, the drain. */
struct zt_main {
	struct zt_worker **workers;
	struct zt_admin *admin;
	int *fds; /* HO__COUNT: the listeners this process serves on (-1 once handed over) */
	int lfd;  /* --handover listener, or -1 */
	int sfd;  /* signalfd of SIGINT, SIGTERM */
	unsigned int drain_s;
	bool draining, term, told_drained;
	time_t drain_start;
};

/* A successor serves on our listeners: accept nothing more, drain what is held. */
static void start_drain(struct zt_main *m, int session)
{
	for (int i = 0; i < MAX_WORKERS; i++) {
		if (m->workers[i] && zt_worker_drain(m->workers[i]))
			pr_warn("worker %d did not stop accepting in time", i);
	}
	zt_admin_quiesce(m->admin);
	/* The workers let go of the in-pod listeners: closed, so the successor opens its own. */
	zt_inpod_quiesce();
	/* The admin servers closed theirs; the proxy listeners are ours to close. */
	m->fds[HO_METRICS] = m->fds[HO_READY] = m->fds[HO_ADMIN] = -1;
	m->fds[HO_METRICS6] = m->fds[HO_READY6] = -1;
	close_listeners(m->fds);
	/* The path stays: the successor listens there next. */
	close(m->lfd);
	m->lfd = -1;
	zt_handover_release(session);
	m->draining = true;
	m->drain_start = mono_s();
	pr_info("a successor took the listeners: accepting nothing more, draining %lu "
		"connection(s); exiting at SIGTERM once drained, or %u s after now",
		open_conns(), m->drain_s);
}

/* Until SIGTERM (and, once draining, the drain's end). */
static void run(struct zt_main *m)
{
	for (;;) {
		struct pollfd pf[2] = {{.fd = m->sfd, .events = POLLIN},
				       {.fd = m->lfd, .events = POLLIN}};
		int n = poll(pf, m->lfd >= 0 ? 2 : 1, m->draining ? 200 : -1);
		char why[256] = "";
		int session, r;

		if (n < 0 && errno != EINTR) {
			pr_err("poll: %s", strerror(errno));
			return;
		}
		if (n > 0 && (pf[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(m->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				m->term = true;
		}
		if (n > 0 && m->lfd >= 0 && (pf[1].revents & POLLIN)) {
			zt_admin_handing_over(m->admin, true);
			r = zt_handover_give(m->lfd, m->fds, &session, why, sizeof(why));
			if (r != 1)
				zt_admin_handing_over(m->admin, false);
			if (r < 0)
				pr_warn("hand-over: accept: %s", strerror(-r));
			else if (r == 0 && why[0])
				pr_warn("a successor's hand-over failed, serving on: %s", why);
			else if (r == 1)
				start_drain(m, session);
		}
		if (!m->draining) {
			if (m->term)
				return;
			continue;
		}
		if (!open_conns() && !m->told_drained) {
			m->told_drained = true;
			pr_info("drained in %lld s", (long long)(mono_s() - m->drain_start));
		}
		if (m->term && (!open_conns() || mono_s() - m->drain_start >= (time_t)m->drain_s)) {
			if (open_conns())
				pr_warn("drain timeout: closing %lu connection(s)", open_conns());
			return;
		}
	}
}

/*
 * The UDP listeners into udp_socks, where sk_lookup hands them a new flow's first datagram that
 * came in pieces (docs/udp.md). Absent under an older agent's pins: such a datagram is lost then,
 * as before, and the rest works.
 */
static void udp_publish(const char *pin_root, int udp_fd, int udp6_fd)
{
	int fd = pinned_map_open(pin_root, "udp_socks");

	if (fd < 0) {
		pr_info("no udp_socks under %s (an older agent): a new UDP flow's first datagram "
			"must fit the path MTU",
			pin_root);
		return;
	}
	if ((udp_fd >= 0 && udp_sock_publish(fd, false, udp_fd)) ||
	    (udp6_fd >= 0 && udp_sock_publish(fd, true, udp6_fd)))
		pr_warn("cannot publish the UDP listeners in %s/udp_socks: %s", pin_root,
			strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	static const struct option base_opts[] = {
	    {"node", required_argument, NULL, 'n'},
	    {"agent-socket", required_argument, NULL, 's'},
	    {"pin-root", required_argument, NULL, 'p'},
	    {"workers", required_argument, NULL, 'w'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"lb", required_argument, NULL, 'b'},
	    {"handover", required_argument, NULL, 'H'},
	    {"drain-timeout", required_argument, NULL, 'D'},
	    {"dns-port", required_argument, NULL, 'P'},
	    {"resolv-conf", required_argument, NULL, 'R'},
	    {"dns-forward-cluster", no_argument, NULL, 'F'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	};
	struct option longopts[sizeof(base_opts) / sizeof(base_opts[0]) + 32];
	struct zt_limits lim;
	const char *node = NULL, *sock_path = NULL, *pin_root = NULL, *ho_path = NULL;
	struct zt_proxy_opts popts = {.orig_dst_fd = -1,
				      .orig_dst6_fd = -1,
				      .hbone_port = AMBIT_PORT_HBONE,
				      .udp_fd = -1,
				      .udp6_fd = -1};
	int udp_fd = -1, udp6_fd = -1;
	struct zt_admin_opts aopts = {
	    .metrics_ip = htonl(INADDR_ANY),
	    .metrics_port = AMBIT_PORT_METRICS,
	    .ready_ip = htonl(INADDR_ANY),
	    .ready_port = AMBIT_PORT_READY,
	    .admin_ip = htonl(INADDR_LOOPBACK),
	    .admin_port = AMBIT_PORT_ADMIN,
	    .metrics_fd = -1,
	    .ready_fd = -1,
	    .admin_fd = -1,
	    .metrics6_fd = -1,
	    .ready6_fd = -1,
	};
	struct zt_worker *workers[MAX_WORKERS] = {};
	enum log_level level = LOG_LEVEL_INFO;
	struct mesh_state *st = NULL;
	struct agent_follow *agent = NULL;
	struct zt_dns_opts dopts = {0};
	struct zt_dns *dns = NULL;
	long dns_port = AMBIT_PORT_DNS;
	struct zt_admin *admin = NULL;
	int nworkers = 2, socks_fd = -1, socks6_fd = -1, inpod_fd = -1, inpod6_fd = -1, rc = 1, opt,
	    err;
	int session = -1, fds[HO__COUNT];
	struct zt_main m = {.workers = workers, .fds = fds, .lfd = -1, .sfd = -1, .drain_s = 30};
	char why[256] = "";
	sigset_t sigs;

	for (int i = 0; i < HO__COUNT; i++)
		fds[i] = -1;
	memcpy(longopts, base_opts, sizeof(base_opts));
	if (zt_limits_noptions() + 1 > 32)
		abort(); /* longopts is too small: a build-time mistake */
	zt_limits_options(longopts, sizeof(base_opts) / sizeof(base_opts[0]));
	zt_limits_init(&lim);
	log_init("ztunnel", level);
	if (zt_limits_env(&lim))
		return 2;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'V': printf("ztunnel %s\n", ambit_version()); return 0;
		case 'n': node = optarg; break;
		case 's': sock_path = optarg; break;
		case 'p': pin_root = optarg; break;
		case 'w': nworkers = atoi(optarg); break;
		case 'H': ho_path = optarg; break;
		case 'R': dopts.resolv_conf = optarg; break;
		case 'F': dopts.forward_cluster = true; break;
		case 'P':
			dns_port = strtol(optarg, NULL, 10);
			if (dns_port < 0 || dns_port > 65535) {
				usage();
				return 2;
			}
			break;
		case 'D':
			if (atoi(optarg) < 0 || atoi(optarg) > 86400) {
				usage();
				return 2;
			}
			m.drain_s = (unsigned int)atoi(optarg);
			break;
		case 'l':
			if (log_level_parse(optarg, &level)) {
				usage();
				return 2;
			}
			break;
		case 'b':
			if (strcmp(optarg, "least-conn") == 0)
				popts.lb = ZT_LB_LEAST_CONN;
			else if (strcmp(optarg, "round-robin") != 0) {
				usage();
				return 2;
			}
			break;
		case 'h': usage(); return 0;
		default:
			err = zt_limits_option(&lim, opt, optarg); /* logs what is wrong */
			if (err == -ENOENT)
				usage();
			if (err)
				return 2;
			break;
		}
	}
	if (!node || !sock_path || nworkers < 1 || nworkers > MAX_WORKERS) {
		usage();
		return 2;
	}
	log_init("ztunnel", level);
	log_libbpf_setup();
	/* Before any socket: the caps follow the fd limit obtained. */
	if (zt_limits_finish(&lim)) {
		pr_err("cannot read or raise the fd limit: %s", strerror(errno));
		return 1;
	}
	popts.hbone = &lim.hbone;
	popts.udp = &lim.udp;
	popts.splice = &lim.splice;
	/* Signals are taken synchronously by main; workers and HTTP threads inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	m.sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (m.sfd < 0) {
		pr_err("signalfd: %s", strerror(errno));
		return 1;
	}

	{
		const uint32_t ips[HO_OUTBOUND6] = {htonl(INADDR_ANY), htonl(INADDR_ANY),
						    htonl(INADDR_ANY), aopts.metrics_ip,
						    aopts.ready_ip,    aopts.admin_ip};
		const uint16_t ports[HO__COUNT] = {
		    AMBIT_PORT_OUTBOUND, AMBIT_PORT_INBOUND, AMBIT_PORT_HBONE,
		    aopts.metrics_port,	 aopts.ready_port,   aopts.admin_port,
		    AMBIT_PORT_OUTBOUND, AMBIT_PORT_INBOUND, AMBIT_PORT_HBONE,
		    aopts.metrics_port,	 aopts.ready_port};
		union sockaddr_inet want[HO__COUNT];

		for (int i = 0; i < HO__COUNT; i++) {
			if (i < HO_OUTBOUND6) {
				sockaddr_inet_v4(&want[i], ips[i], ports[i]);
				continue;
			}
			memset(&want[i], 0, sizeof(want[i]));
			want[i].v6.sin6_family = AF_INET6;
			want[i].v6.sin6_addr = in6addr_any;
			want[i].v6.sin6_port = htons(ports[i]);
		}
		if (ho_path) {
			err = zt_handover_take(ho_path, want, fds, &session, why, sizeof(why));
			if (err == 0)
				pr_info("took the listeners of the ztunnel serving at %s", ho_path);
			else if (err != -ENOENT && err != -ECONNREFUSED) {
				pr_err("hand-over from the ztunnel at %s failed (it serves on): %s",
				       ho_path, why);
				goto out;
			}
		}
		if (open_listeners(fds, want))
			goto out;
	}
	popts.outbound_fd = fds[HO_OUTBOUND];
	popts.inbound_fd = fds[HO_INBOUND];
	popts.hbone_fd = fds[HO_HBONE];
	popts.outbound6_fd = fds[HO_OUTBOUND6];
	popts.inbound6_fd = fds[HO_INBOUND6];
	popts.hbone6_fd = fds[HO_HBONE6];
	if (pin_root) {
		popts.orig_dst_fd = pinned_map_open(pin_root, "orig_dst");
		socks_fd = pinned_map_open(pin_root, "proxy_socks");
		/* Absent under an older agent's pins: no in-pod capture then, the rest works. */
		inpod_fd = pinned_map_open(pin_root, "inpod_socks");
		/* Absent under an older agent's too: in-pod pods' IPv6 stays refused then. */
		inpod6_fd = pinned_map_open(pin_root, "inpod_socks6");
		if (popts.orig_dst_fd < 0 || socks_fd < 0) {
			pr_err("cannot open pinned maps under %s: %s", pin_root,
			       strerror(-(popts.orig_dst_fd < 0 ? popts.orig_dst_fd : socks_fd)));
			goto out;
		}
		/* Taken listeners are there already: the same sockets, published again. */
		if (proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, popts.inbound_fd) ||
		    proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, popts.hbone_fd)) {
			pr_err("cannot publish listeners in %s/proxy_socks", pin_root);
			goto out;
		}
		/*
		 * IPv6: an older agent's pins have neither map, and a host without IPv6 no
		 * listeners; either way the ztunnel carries IPv4 only.
		 */
		if (popts.inbound6_fd >= 0 && popts.hbone6_fd >= 0) {
			popts.orig_dst6_fd = pinned_map_open(pin_root, "orig_dst6");
			socks6_fd = pinned_map_open(pin_root, "proxy_socks6");
			if (popts.orig_dst6_fd < 0 || socks6_fd < 0) {
				pr_info("no orig_dst6/proxy_socks6 under %s (an older agent): "
					"carrying IPv4 only",
					pin_root);
			} else if (proxy_sock_publish(socks6_fd, AMBIT_SOCK_INBOUND,
						      popts.inbound6_fd) ||
				   proxy_sock_publish(socks6_fd, AMBIT_SOCK_HBONE,
						      popts.hbone6_fd)) {
				pr_err("cannot publish listeners in %s/proxy_socks6", pin_root);
				goto out;
			}
		}
		/*
		 * tc hands the pods' UDP flows here (docs/udp.md); without it they are refused
		 * in the kernel (drop_no_udp_proxy), never let out in plaintext.
		 */
		udp_fd = zt_udp_listen(AF_INET);
		if (udp_fd < 0)
			pr_warn("cannot listen on 15001/udp: %s (the pods' UDP to the mesh is "
				"refused)",
				strerror(-udp_fd));
		/* A host without IPv6 has no [::] listeners: the pods' IPv4 alone then. */
		if (popts.inbound6_fd >= 0) {
			udp6_fd = zt_udp_listen(AF_INET6);
			if (udp6_fd < 0)
				pr_warn(
				    "cannot listen on [::]:15001/udp: %s (the pods' IPv6 UDP to "
				    "the mesh is refused)",
				    strerror(-udp6_fd));
		}
		udp_publish(pin_root, udp_fd, udp6_fd);
	} else {
		pr_warn("no --pin-root: outbound capture and inbound steering are unavailable");
	}
	aopts.pin_root = pin_root;
	dopts.pin_root = pin_root;
	aopts.node = node;
	st = mesh_state_create();
	if (!st)
		goto out;
	agent = agent_follow_start(st, sock_path);
	if (!agent)
		goto out;
	/* A predecessor serves until this process can: with a snapshot. */
	if (session >= 0 && wait_first_snapshot(st)) {
		pr_err("no snapshot from the agent at %s in %d s: the predecessor serves on",
		       sock_path, HANDOVER_SNAPSHOT_S);
		goto out;
	}
	aopts.metrics_fd = fds[HO_METRICS];
	aopts.ready_fd = fds[HO_READY];
	aopts.admin_fd = fds[HO_ADMIN];
	aopts.metrics6_fd = fds[HO_METRICS6];
	aopts.ready6_fd = fds[HO_READY6];
	/* Taken by the servers, even when they fail to start. */
	fds[HO_METRICS] = fds[HO_READY] = fds[HO_ADMIN] = -1;
	fds[HO_METRICS6] = fds[HO_READY6] = -1;
	admin = zt_admin_start(st, &aopts);
	if (!admin) {
		pr_err("cannot start the metrics/readiness/admin servers");
		goto out;
	}
	/* The admin servers' listeners, for a successor (borrowed from them). */
	fds[HO_METRICS] = aopts.metrics_fd;
	fds[HO_READY] = aopts.ready_fd;
	fds[HO_ADMIN] = aopts.admin_fd;
	fds[HO_METRICS6] = aopts.metrics6_fd;
	fds[HO_READY6] = aopts.ready6_fd;
	m.admin = admin;
	for (int i = 0; i < nworkers; i++) {
		popts.udp_fd = i == 0 ? udp_fd : -1;
		popts.udp6_fd = i == 0 ? udp6_fd : -1;
		popts.udp_worker = i == 0;
		workers[i] = zt_worker_start(st, &popts);
		if (!workers[i]) {
			pr_err("cannot start worker %d: %s", i, strerror(errno));
			goto out;
		}
	}
	if (session >= 0) {
		err = zt_handover_done(session, why, sizeof(why));
		session = -1;
		if (err)
			pr_warn("the predecessor did not confirm it stopped accepting: %s", why);
	}
	/* Beside a predecessor's (SO_REUSEPORT): both answer until it exits. */
	if (dns_port) {
		dns = zt_dns_start(st, (uint16_t)dns_port, &dopts);
		if (!dns) {
			pr_err("cannot serve DNS on %ld: %s", dns_port, strerror(errno));
			goto out;
		}
	}
	if (dns)
		zt_inpod_dns(zt_dns_export, zt_dns_adopt, dns);
	/* After a predecessor let go of the pods' listeners: this process opens its own. */
	err = zt_inpod_start(sock_path, inpod_fd, inpod6_fd);
	if (err) {
		pr_err("in-pod capture: %s", strerror(-err));
		goto out;
	}
	if (ho_path) {
		m.lfd = zt_handover_listen(ho_path);
		if (m.lfd < 0)
			pr_warn(
			    "cannot offer the listeners at %s (no hand-over to a successor): %s",
			    ho_path, strerror(-m.lfd));
	}
	pr_info("ztunnel for node %s up: %d workers, agent %s", node, nworkers, sock_path);
	run(&m);
	pr_info("shutting down");
	rc = 0;
out:
	zt_dns_stop(dns);
	for (int i = 0; i < MAX_WORKERS; i++)
		zt_worker_stop(workers[i]);
	zt_inpod_stop();
	agent_follow_stop(agent);
	/* The admin servers close their own listeners. */
	if (admin)
		fds[HO_METRICS] = fds[HO_READY] = fds[HO_ADMIN] = fds[HO_METRICS6] =
		    fds[HO_READY6] = -1;
	zt_admin_stop(admin);
	mesh_state_destroy(st);
	if (session >= 0)
		close(session); /* a failed start: the predecessor serves on */
	close_listeners(fds);
	if (m.lfd >= 0) {
		close(m.lfd);
		/* Nobody took over: nothing will answer here. */
		if (!m.draining)
			unlink(ho_path);
	}
	if (m.sfd >= 0)
		close(m.sfd);
	if (popts.orig_dst_fd >= 0)
		close(popts.orig_dst_fd);
	if (popts.orig_dst6_fd >= 0)
		close(popts.orig_dst6_fd);
	if (socks_fd >= 0)
		close(socks_fd);
	if (socks6_fd >= 0)
		close(socks6_fd);
	if (inpod_fd >= 0)
		close(inpod_fd);
	if (inpod6_fd >= 0)
		close(inpod6_fd);
	if (udp_fd >= 0)
		close(udp_fd);
	if (udp6_fd >= 0)
		close(udp6_fd);
	return rc;
}
