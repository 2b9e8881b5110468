// SPDX-License-Identifier: Apache-2.0
/*
 * ztunnel --node N --agent-socket S [--pin-root P] [--workers 2] [--log-level info]
 *         [--lb round-robin|least-conn] [limits: limits.h, e.g. --max-conns N]
 * Start-up only: everything that carries traffic lives in the modules (tested without main).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <linux/types.h>

#include "ambit/datapath.h" /* and bpf_abi.h */
#include "ambit/log.h"
#include "ambit/version.h"
#include "admin.h"
#include "limits.h"
#include "proxy.h"
#include "sock.h"
#include "meshstate.h"

#define MAX_WORKERS 64

static void usage(void)
{
	fprintf(stderr,
		"usage: ztunnel --node N --agent-socket S [--pin-root P] [--workers 2] "
		"[--log-level info] [--lb round-robin|least-conn] [LIMITS]\n"
		"LIMITS (0: none; also from ZTUNNEL_<NAME>, e.g. ZTUNNEL_MAX_CONNS):\n%s",
		zt_limits_usage());
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
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	};
	struct option longopts[sizeof(base_opts) / sizeof(base_opts[0]) + 32];
	struct zt_limits lim;
	const char *node = NULL, *sock_path = NULL, *pin_root = NULL;
	struct zt_proxy_opts popts = {.orig_dst_fd = -1, .hbone_port = AMBIT_PORT_HBONE};
	struct zt_admin_opts aopts = {
	    .metrics_ip = htonl(INADDR_ANY),
	    .metrics_port = AMBIT_PORT_METRICS,
	    .ready_ip = htonl(INADDR_ANY),
	    .ready_port = AMBIT_PORT_READY,
	    .admin_ip = htonl(INADDR_LOOPBACK),
	    .admin_port = AMBIT_PORT_ADMIN,
	};
	struct zt_worker *workers[MAX_WORKERS] = {};
	enum log_level level = LOG_LEVEL_INFO;
	struct mesh_state *st = NULL;
	struct agent_follow *agent = NULL;
	struct zt_admin *admin = NULL;
	int nworkers = 2, socks_fd = -1, rc = 1, opt, sig, err;
	sigset_t sigs;

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
	popts.splice = &lim.splice;
	/* Signals are taken synchronously by main; workers and HTTP threads inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	popts.outbound_fd = sock_listen(htonl(INADDR_ANY), AMBIT_PORT_OUTBOUND, false);
	popts.inbound_fd = sock_listen(htonl(INADDR_ANY), AMBIT_PORT_INBOUND, true);
	popts.hbone_fd = sock_listen(htonl(INADDR_ANY), AMBIT_PORT_HBONE, true);
	if (popts.outbound_fd < 0 || popts.inbound_fd < 0 || popts.hbone_fd < 0) {
		pr_err("cannot listen on 15001/15006/15008: %s",
		       strerror(-(popts.outbound_fd < 0	 ? popts.outbound_fd
				  : popts.inbound_fd < 0 ? popts.inbound_fd
							 : popts.hbone_fd)));
		goto out;
	}
	if (pin_root) {
		popts.orig_dst_fd = pinned_map_open(pin_root, "orig_dst");
		socks_fd = pinned_map_open(pin_root, "proxy_socks");
		if (popts.orig_dst_fd < 0 || socks_fd < 0) {
			pr_err("cannot open pinned maps under %s: %s", pin_root,
			       strerror(-(popts.orig_dst_fd < 0 ? popts.orig_dst_fd : socks_fd)));
			goto out;
		}
		if (proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, popts.inbound_fd) ||
		    proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, popts.hbone_fd)) {
			pr_err("cannot publish listeners in %s/proxy_socks", pin_root);
			goto out;
		}
	} else {
		pr_warn("no --pin-root: outbound capture and inbound steering are unavailable");
	}
	aopts.pin_root = pin_root;
	st = mesh_state_create();
	if (!st)
		goto out;
	admin = zt_admin_start(st, &aopts);
	if (!admin) {
		pr_err("cannot start the metrics/readiness/admin servers");
		goto out;
	}
	agent = agent_follow_start(st, sock_path);
	if (!agent)
		goto out;
	for (int i = 0; i < nworkers; i++) {
		workers[i] = zt_worker_start(st, &popts);
		if (!workers[i]) {
			pr_err("cannot start worker %d: %s", i, strerror(errno));
			goto out;
		}
	}
	pr_info("ztunnel for node %s up: %d workers, agent %s", node, nworkers, sock_path);
	while (sigwait(&sigs, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	pr_info("shutting down");
	rc = 0;
out:
	for (int i = 0; i < MAX_WORKERS; i++)
		zt_worker_stop(workers[i]);
	agent_follow_stop(agent);
	zt_admin_stop(admin);
	mesh_state_destroy(st);
	if (popts.outbound_fd >= 0)
		close(popts.outbound_fd);
	if (popts.inbound_fd >= 0)
		close(popts.inbound_fd);
	if (popts.hbone_fd >= 0)
		close(popts.hbone_fd);
	if (popts.orig_dst_fd >= 0)
		close(popts.orig_dst_fd);
	if (socks_fd >= 0)
		close(socks_fd);
	return rc;
}
