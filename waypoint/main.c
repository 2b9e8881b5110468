// SPDX-License-Identifier: Apache-2.0
/*
 * waypoint --config L7.json --listen IP:PORT=SERVICE:PORT [--listen ...]
 *          [--admin IP:PORT|[V6]:PORT] [--workers N] [--log-format text|json] [--log-level info]
 *          [--shadow-host-suffix on|off] [--drain-seconds 5]
 * waypoint --config GATEWAY.json [...]: a gateway's model (`ambitctl waypoint config` of an
 *          ingress gateway) listens on its own listeners, on every address, with its Secrets'
 *          certificates, as under an agent; its upstreams are plaintext (no mesh).
 * waypoint --agent SOCKET [--hbone IP:PORT] [--admin IP:PORT] [...]: in the mesh (mesh.h), its
 *          config and certificate from its node's agent, HBONE on 15008 both ways, the admin
 *          on 15020 of every address of both families (admin.h), readiness also on 15021.
 * Start-up, reloads and the drain only: everything that carries traffic is in the modules.
 * The configuration is reloaded on SIGHUP and when the file's mtime changes (checked every
 * second); a file that does not load is logged with its reason and the last good one keeps
 * serving. SIGTERM (or SIGINT) stops accepting, lets in-flight requests finish within the
 * drain time, then exits 0.
 */
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "admin.h"
#include "dnsres.h"
#include "ambit/config.h"
#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "ambit/version.h"
#include "net/memtrim.h"
#include "mesh.h"
#include "net/sock.h"
#include "tls/tls.h"
#include "net/transport.h"
#include "engine/worker.h"

#define MAX_WORKERS 64
/* Envoy's readiness listener on Istio's gateways and waypoints (their status-port's target). */
#define WP_READY_PORT 15021

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: waypoint --config L7.json --listen IP:PORT=SERVICE:PORT [--listen ...]\n"
	    "                [--listen-tls IP:PORT=SERVICE:PORT ... --tls-cert PEM --tls-key PEM]\n"
	    "       waypoint --config GATEWAY.json (a gateway's model: its own listeners)\n"
	    "       waypoint --agent SOCKET [--hbone IP:PORT (0.0.0.0:15008)]\n"
	    "                [--admin IP:PORT|[V6]:PORT (both families on 15020)]\n"
	    "                [--workers N] [--log-format text|json]\n"
	    "                [--log-level error|warn|info|debug] [--shadow-host-suffix on|off]\n"
	    "                [--drain-seconds 5]\n"
	    "                [--request-headers-timeout DUR (60s)] [--stream-idle-timeout DUR "
	    "(5m)]\n"
	    "                [--idle-timeout DUR (1h)] [--num-trusted-proxies N (0)]\n"
	    "                [--max-request-headers-kb N (60)] [--max-headers-count N (100)]\n"
	    "                [--path-normalization BASE|NONE|MERGE_SLASHES|"
	    "DECODE_AND_MERGE_SLASHES]\n");
}

/* A timeout flag's duration (Istio's syntax: "10s", "500ms", "1h") in ms, at most ~49 days. */
/*
 * A connection is a descriptor (two when proxied): the soft limit, often 1024, is raised to the
 * hard one, as Envoy's and HAProxy's start-up does. Past it, accept() meets EMFILE and the
 * worker closes idle connections (worker.c). Logged, so what a deployment got is known.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;

		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			pr_warn("waypoint: cannot raise the file descriptor limit to %llu: %s",
				(unsigned long long)want, strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	pr_info("waypoint: file descriptor limit %llu (hard %llu)", (unsigned long long)rl.rlim_cur,
		(unsigned long long)rl.rlim_max);
}

static int parse_timeout(const char *flag, const char *arg, unsigned int *out)
{
	const char *why = NULL;
	uint64_t ms;

	if (config_parse_duration_ms(arg, &ms, &why) || !ms || ms > UINT32_MAX) {
		fprintf(stderr, "waypoint: bad %s %s: %s\n", flag, arg,
			why ? why : "not a positive duration below 49 days");
		return -EINVAL;
	}
	*out = (unsigned int)ms;
	return 0;
}

/* A count flag: 1..@max. */
static int parse_count(const char *flag, const char *arg, long min, long max, unsigned int *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end || end == arg || v < min || v > max) {
		fprintf(stderr, "waypoint: bad %s %s: a number from %ld to %ld\n", flag, arg, min,
			max);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

/* "IP:PORT=HOST:PORT" ("[V6]:PORT=..." too): a listener bound to the Service HOST's port PORT. */
static int parse_listen(const char *arg, union sockaddr_inet *sa, char **host, uint16_t *port)
{
	const char *eq = strchr(arg, '='), *colon;
	char addr[64];
	long p;

	if (!eq || (size_t)(eq - arg) >= sizeof(addr))
		return -EINVAL;
	snprintf(addr, sizeof(addr), "%.*s", (int)(eq - arg), arg);
	colon = strrchr(eq + 1, ':');
	if (sock_parse_authority(addr, sa) || !colon || colon == eq + 1)
		return -EINVAL;
	p = strtol(colon + 1, NULL, 10);
	if (p <= 0 || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	*host = strndup(eq + 1, (size_t)(colon - eq - 1));
	return *host ? 0 : -ENOMEM;
}

/* The --listen-tls context from the PEM files @cert and @key; NULL with the reason in @err. */
static struct tls_ctx *edge_tls(const char *cert, const char *key, char *err, size_t len)
{
	char *c = NULL, *k = NULL;
	struct tls_ctx *ctx = NULL;
	size_t n;
	int e;

	if ((e = fileutil_read_file(cert, 1u << 20, &c, &n))) {
		snprintf(err, len, "--tls-cert %s: %s", cert, strerror(-e));
	} else if ((e = fileutil_read_file(key, 1u << 20, &k, &n))) {
		snprintf(err, len, "--tls-key %s: %s", key, strerror(-e));
	} else if (!(ctx = tls_ctx_create_edge(c, k))) {
		snprintf(err, len, "--tls-cert %s / --tls-key %s: %s", cert, key,
			 errno == EINVAL ? "not a PEM certificate and its private key"
					 : strerror(errno));
	}
	if (k)
		explicit_bzero(k, strlen(k));
	free(c);
	free(k);
	return ctx;
}

static bool mtime_of(const char *path, struct timespec *out)
{
	struct stat st;

	if (stat(path, &st))
		return false;
	*out = st.st_mtim;
	return true;
}

/*
 * A gateway's listeners (its model's, on every address), the ones not open yet opened and, once
 * the workers run, handed to them. A port that cannot be had is said and tried again with the
 * next snapshot. Listeners stay for the process's life: a port its Gateways no longer list
 * has no route left (404).
 */
/* Gateway listener @gl's certificates into its context @tls; a refusal keeps the last good. */
static int gateway_certs(struct tls_ctx *tls, const struct l7_listener *gl)
{
	struct tls_gateway_cert c[WP_MAX_CERTS];
	char err[256];
	size_t n = gl->n_certs < WP_MAX_CERTS ? gl->n_certs : WP_MAX_CERTS;

	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct l7_tls_cert *t = &gl->certs[i];

		/* ISTIO_MUTUAL without the proxy's mesh certificate (a model from a file). */
		if (!t->cert || !t->key) {
			pr_err("gateway: port %u: %s: no mesh certificate here: not served",
			       gl->port, t->source);
			continue;
		}
		c[k++] = (struct tls_gateway_cert){.name = t->source,
						   .hosts = (const char *const *)t->hosts.items,
						   .n_hosts = t->hosts.n,
						   .cert_pem = t->cert,
						   .key_pem = t->key,
						   .ca_pem = t->ca,
						   .optional = t->optional,
						   .min_version = t->min_tls,
						   .max_version = t->max_tls,
						   .ciphers = (const char *const *)t->ciphers.items,
						   .n_ciphers = t->ciphers.n};
	}
	if (gl->n_certs > n)
		pr_warn("gateway: port %u: %zu certificates, only the first %d are served",
			gl->port, gl->n_certs, WP_MAX_CERTS);
	if (tls_ctx_gateway_set(tls, c, k, err, sizeof(err))) {
		pr_err("gateway: port %u: %s", gl->port, err);
		return -EINVAL;
	}
	return 0;
}

/*
 * The IPv6 twin of gateway listener @l (the last of @ls, its 0.0.0.0 one): [::] on the same
 * port (IPV6_V6ONLY: each family its own socket), the same Service and certificates. A host
 * without IPv6 keeps the IPv4 one alone, said once.
 */
static void gateway_listen6(struct wp_listener *l, char **hosts, int *n_ls,
			    struct wp_worker **workers, long nworkers)
{
	static bool said;
	struct wp_listener *l6 = l + 1;
	int fd;

	if (*n_ls == WP_MAX_LISTENERS) {
		pr_err("gateway: port %u: more than %d listeners: IPv4 only", l->port,
		       WP_MAX_LISTENERS);
		return;
	}
	fd = wp_listen_any6(l->port);
	if (fd < 0) {
		if (fd != -EAFNOSUPPORT && fd != -EADDRNOTAVAIL)
			pr_err("gateway: cannot listen on [::]:%u: %s", l->port, strerror(-fd));
		else if (!said)
			pr_info("gateway: no IPv6 on this host: listening on IPv4 only");
		said = true;
		return;
	}
	hosts[*n_ls] = strdup(l->host);
	if (!hosts[*n_ls]) {
		close(fd);
		return;
	}
	*l6 = (struct wp_listener){.fd = fd,
				   .host = hosts[*n_ls],
				   .port = l->port,
				   .tls = l->tls ? tls_ctx_get(l->tls) : NULL};
	(*n_ls)++;
	for (long w = 0; w < nworkers && workers[w]; w++)
		if (wp_worker_add_listener(workers[w], l6))
			pr_err("gateway: port [::]:%u: a worker has no room for it", l->port);
}

static void gateway_listen(const struct l7_config *l7, struct wp_listener *ls, char **hosts,
			   int *n_ls, struct wp_worker **workers, long nworkers)
{
	for (size_t i = 0; i < l7->n_listeners; i++) {
		const struct l7_listener *gl = &l7->listeners[i];
		struct wp_listener *l = &ls[*n_ls];
		struct tls_ctx *tls = NULL;
		int open = -1;

		for (int k = 0; k < *n_ls && open < 0; k++)
			if (ls[k].port == gl->port)
				open = k;
		if (open >= 0) {
			/* Its certificates follow the Secrets; plaintext or TLS stays as it began.
			 */
			if (ls[open].tls && gl->n_certs)
				gateway_certs(ls[open].tls, gl);
			else if (!ls[open].tls != !gl->n_certs)
				pr_warn("gateway: port %u is now %s: it stays %s until a restart",
					gl->port, gl->n_certs ? "TLS" : "plaintext",
					gl->n_certs ? "plaintext" : "TLS");
			continue;
		}
		if (*n_ls == WP_MAX_LISTENERS) {
			pr_err("gateway: port %u: more than %d listeners", gl->port,
			       WP_MAX_LISTENERS);
			return;
		}
		if (gl->n_certs) {
			tls = tls_ctx_create_gateway();
			if (!tls || gateway_certs(tls, gl)) {
				tls_ctx_put(tls);
				continue;
			}
		}
		*l = (struct wp_listener){.port = gl->port, .tls = tls};
		l->fd = sock_listen(htonl(INADDR_ANY), gl->port, false);
		if (l->fd < 0) {
			pr_err("gateway: cannot listen on port %u: %s", gl->port, strerror(-l->fd));
			tls_ctx_put(tls);
			continue;
		}
		hosts[*n_ls] = strdup(gl->service);
		if (!hosts[*n_ls]) {
			close(l->fd);
			tls_ctx_put(tls);
			continue;
		}
		l->host = hosts[(*n_ls)++];
		for (long w = 0; w < nworkers && workers[w]; w++)
			if (wp_worker_add_listener(workers[w], l))
				pr_err("gateway: port %u: a worker has no room for it", gl->port);
		gateway_listen6(l, hosts, n_ls, workers, nworkers);
		pr_info("gateway: listening on port %u (%s%s)", gl->port, gl->service,
			tls			       ? ", TLS"
			: gl->protocol == L7_PROTO_TLS ? ", TLS passthrough"
			: gl->protocol == L7_PROTO_TCP ? ", TCP"
						       : "");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"agent", required_argument, NULL, 'A'},
	    {"hbone", required_argument, NULL, 'H'},
	    {"listen", required_argument, NULL, 'L'},
	    {"listen-tls", required_argument, NULL, 'T'},
	    {"tls-cert", required_argument, NULL, 'C'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"admin", required_argument, NULL, 'a'},
	    {"workers", required_argument, NULL, 'w'},
	    {"log-format", required_argument, NULL, 'f'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"shadow-host-suffix", required_argument, NULL, 's'},
	    {"drain-seconds", required_argument, NULL, 'd'},
	    {"request-headers-timeout", required_argument, NULL, 1},
	    {"stream-idle-timeout", required_argument, NULL, 2},
	    {"idle-timeout", required_argument, NULL, 3},
	    {"num-trusted-proxies", required_argument, NULL, 4},
	    {"max-request-headers-kb", required_argument, NULL, 5},
	    {"max-headers-count", required_argument, NULL, 6},
	    {"path-normalization", required_argument, NULL, 7},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {},
	};
	struct wp_listener ls[WP_MAX_LISTENERS] = {0};
	char *hosts[WP_MAX_LISTENERS] = {0};
	struct wp_worker *workers[MAX_WORKERS] = {0};
	struct wp_stats *stores[MAX_WORKERS] = {0};
	struct wp_worker_opts wo = {.log_fd = STDOUT_FILENO, .shadow_suffix = true};
	union sockaddr_inet admin_sa = {0};
	enum log_level level = LOG_LEVEL_INFO;
	const char *config = NULL, *agent = NULL;
	union sockaddr_inet hbone_sa = {
	    .v4 = {.sin_family = AF_INET, .sin_port = htons(L7_HBONE_PORT)}};
	struct wp_mesh mesh = {0};
	struct wp_admin *admin = NULL;
	struct wp_gen *gen = NULL;
	struct timespec mt = {0}, nmt, ts = {.tv_sec = 1};
	struct memtrim trim = {0}, trim_reqs = {0};
	long nworkers = sysconf(_SC_NPROCESSORS_ONLN);
	int n_ls = 0, drain_s = 5, rc = 1, opt, sig;
	uint64_t version = 1;
	const char *tls_cert = NULL, *tls_key = NULL;
	bool tls_wanted[WP_MAX_LISTENERS] = {0}, any_tls = false, gw_file = false;
	struct tls_ctx *tls = NULL;
	char err[512];
	sigset_t sigs;

	log_init("waypoint", level);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'A': agent = optarg; break;
		case 'H':
			if (sock_parse_authority(optarg, &hbone_sa)) {
				fprintf(stderr, "waypoint: bad --hbone %s\n", optarg);
				return 2;
			}
			break;
		case 'C': tls_cert = optarg; break;
		case 'K': tls_key = optarg; break;
		case 'T':
		case 'L': {
			union sockaddr_inet sa;

			if (n_ls == WP_MAX_LISTENERS ||
			    parse_listen(optarg, &sa, &hosts[n_ls], &ls[n_ls].port)) {
				fprintf(stderr, "waypoint: bad --listen %s\n", optarg);
				return 2;
			}
			ls[n_ls].host = hosts[n_ls];
			tls_wanted[n_ls] = opt == 'T';
			ls[n_ls].fd = sock_listen_at(&sa, false);
			if (ls[n_ls].fd < 0) {
				fprintf(stderr, "waypoint: cannot listen on %s: %s\n", optarg,
					strerror(-ls[n_ls].fd));
				return 1;
			}
			n_ls++;
			break;
		}
		case 'a':
			if (sock_parse_authority(optarg, &admin_sa)) {
				fprintf(stderr, "waypoint: bad --admin %s\n", optarg);
				return 2;
			}
			break;
		case 'w': nworkers = atol(optarg); break;
		case 'f':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				usage();
				return 2;
			}
			wo.log_json = !strcmp(optarg, "json");
			break;
		case 'l':
			if (log_level_parse(optarg, &level)) {
				usage();
				return 2;
			}
			break;
		case 's':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				usage();
				return 2;
			}
			wo.shadow_suffix = !strcmp(optarg, "on");
			break;
		case 'd': drain_s = atoi(optarg); break;
		case 1:
			if (parse_timeout("--request-headers-timeout", optarg, &wo.hcm.headers_ms))
				return 2;
			break;
		case 2:
			if (parse_timeout("--stream-idle-timeout", optarg, &wo.hcm.stream_idle_ms))
				return 2;
			break;
		case 3:
			if (parse_timeout("--idle-timeout", optarg, &wo.hcm.idle_ms))
				return 2;
			break;
		case 4:
			if (parse_count("--num-trusted-proxies", optarg, 0, 64,
					&wo.hcm.trusted_hops))
				return 2;
			break;
		case 5: {
			unsigned int kb;

			/* Envoy's max_request_headers_kb: at most 8 MiB. */
			if (parse_count("--max-request-headers-kb", optarg, 1, 8192, &kb))
				return 2;
			wo.hcm.headers.header_bytes = kb * 1024;
			break;
		}
		case 6:
			if (parse_count("--max-headers-count", optarg, 1, 10000,
					&wo.hcm.headers.fields))
				return 2;
			break;
		case 7: {
			int m = wp_path_norm_parse(optarg);

			if (m < 0) {
				fprintf(
				    stderr,
				    "waypoint: --path-normalization: \"%s\" is not one of BASE, "
				    "NONE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES\n",
				    optarg);
				return 2;
			}
			wo.hcm.path_norm = (enum wp_path_norm)m;
			break;
		}
		case 'h': usage(); return 0;
		case 'V': printf("waypoint %s\n", ambit_version()); return 0;
		default: usage(); return 2;
		}
	}
	for (int i = 0; i < n_ls; i++)
		any_tls |= tls_wanted[i];
	if ((!config == !agent) || (agent && n_ls) || nworkers < 1 || nworkers > MAX_WORKERS ||
	    drain_s < 0 || any_tls != (tls_cert && tls_key) || (!tls_cert != !tls_key)) {
		usage();
		return 2;
	}
	if (any_tls) {
		tls = edge_tls(tls_cert, tls_key, err, sizeof(err));
		if (!tls) {
			fprintf(stderr, "waypoint: %s\n", err);
			return 1;
		}
		for (int i = 0; i < n_ls; i++)
			ls[i].tls = tls_wanted[i] ? tls : NULL;
	}
	log_init("waypoint", level);
	if (agent) {
		/* As a proxy pod does: it waits for its config, however long (not ready till then).
		 */
		int e = wp_mesh_start(&mesh, agent, 0);

		if (e) {
			pr_err(
			    "no snapshot with this waypoint's config and certificate from %s: %s",
			    agent, strerror(-e));
			return 1;
		}
		gen = wp_mesh_gen(&mesh);
		if (!gen)
			goto out;
		if (gen->l7->gateway) {
			/* A gateway: its clients come to its Gateways' ports, not over HBONE. */
			gateway_listen(gen->l7, ls, hosts, &n_ls, workers, 0);
		} else {
			uint16_t port = sockaddr_inet_port(&hbone_sa);

			ls[0] = (struct wp_listener){.hbone = true};
			ls[0].fd = sock_listen_at(&hbone_sa, false);
			if (ls[0].fd < 0) {
				pr_err("cannot listen on HBONE port %u: %s", port,
				       strerror(-ls[0].fd));
				goto out;
			}
			n_ls = 1;
			/* On any address: [::] too (a dual-stack pod's ztunnels may use either). */
			if (hbone_sa.sa.sa_family == AF_INET && sockaddr_inet_is_any(&hbone_sa)) {
				ls[1] = (struct wp_listener){.hbone = true};
				ls[1].fd = wp_listen_any6(port);
				if (ls[1].fd >= 0)
					n_ls = 2;
				else if (ls[1].fd != -EAFNOSUPPORT && ls[1].fd != -EADDRNOTAVAIL)
					pr_warn(
					    "cannot listen on HBONE port [::]:%u: %s: IPv4 only",
					    port, strerror(-ls[1].fd));
			}
		}
		wo.mesh = &mesh;
		/* Istio's waypoint answers its metrics on 15020 (merged) and readiness there. */
		if (!admin_sa.sa.sa_family)
			sockaddr_inet_v4(&admin_sa, htonl(INADDR_ANY), 15020);
		/* New routes within 1 s: the snapshot is looked at five times a second. */
		ts = (struct timespec){.tv_nsec = 200 * 1000 * 1000};
		pr_info("waypoint %s: snapshot %llu", mesh.identity,
			(unsigned long long)gen->version);
	} else {
		mtime_of(config, &mt);
		gen = wp_gen_load(config, version, err, sizeof(err));
		if (!gen) {
			pr_err("cannot load the configuration: %s", err);
			return 1;
		}
		/* A gateway's model says where it listens; any other needs --listen. */
		gw_file = !n_ls && gen->l7->gateway;
		if (gw_file)
			gateway_listen(gen->l7, ls, hosts, &n_ls, workers, 0);
		if (!n_ls) {
			if (!gen->l7->gateway)
				usage();
			pr_err("%s: no listener", config);
			goto out;
		}
	}
	/* Signals are taken synchronously here; the workers and the admin thread inherit it. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	for (long i = 0; i < nworkers; i++) {
		workers[i] = wp_worker_start(gen, ls, (size_t)n_ls, &wo);
		if (!workers[i]) {
			pr_err("cannot start worker %ld: %s", i, strerror(errno));
			goto out;
		}
		stores[i] = wp_worker_stats(workers[i]);
	}
	if (admin_sa.sa.sa_family) {
		admin = wp_admin_start(&admin_sa, stores, (size_t)nworkers);
		if (!admin) {
			pr_err("cannot start the admin listener: %s", strerror(errno));
			goto out;
		}
		wp_admin_set_version(admin, gen->version);
		/* Under an agent: its Service's status-port goes to 15021, as Istio's proxies'. */
		if (wo.mesh && (sig = wp_admin_ready_listen(admin, WP_READY_PORT)))
			pr_warn("cannot answer readiness on %d: %s", WP_READY_PORT, strerror(-sig));
	}
	pr_info("waypoint up: %ld workers, %d listeners, %zu services", nworkers, n_ls,
		gen->l7->n_services);
	for (;;) {
		bool reload;
		size_t live, peak;
		bool trim_now;

		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		/*
		 * A burst of connections gone (a handshake flood, or the streams of a few HBONE
		 * connections): its heap back to the system. Every accepted connection counts, in
		 * its handshake or not yet served as well, and every connection and stream the
		 * workers carry.
		 *
		 * A burst of requests answered on connections that stay open too (their heads'
		 * blocks and wp_req structs freed, the connections never halving): requests in
		 * flight have a mark of their own, counted at their most within each second (such
		 * a burst is often over before the next look).
		 */
		live = transport_tcp_accepted();
		peak = 0;
		for (long i = 0; i < nworkers; i++) {
			live += wp_worker_active(workers[i]);
			peak += wp_worker_requests_peak(workers[i]);
		}
		/* Both marks move every tick; one trim serves both. */
		trim_now = memtrim_due(&trim_reqs, peak);
		trim_now = memtrim_due(&trim, live) || trim_now;
		if (trim_now) {
			malloc_trim(0);
			pr_debug("connections down to %zu, requests in flight to %zu: freed memory "
				 "given back",
				 live, peak);
		}
		/* A DNS endpoint's addresses changed: the same config with the new ones. */
		if (wp_gen_dns_stale(gen)) {
			struct wp_gen *g = wp_gen_redo(gen, err, sizeof(err));

			if (g) {
				wp_gen_inherit(g, gen);
				for (long i = 0; i < nworkers; i++)
					wp_worker_set_gen(workers[i], g);
				wp_gen_put(gen);
				gen = g;
				pr_info("DNS answers changed: %zu services", g->l7->n_services);
			} else {
				pr_err("DNS answers changed, the last generation serves on: %s",
				       err);
			}
		}
		if (agent) {
			struct wp_gen *g = wp_mesh_gen(&mesh);

			if (g) {
				/* Outlier ejections and rate-limit buckets carry over. */
				wp_gen_inherit(g, gen);
				if (g->l7->gateway)
					gateway_listen(g->l7, ls, hosts, &n_ls, workers, nworkers);
				for (long i = 0; i < nworkers; i++)
					wp_worker_set_gen(workers[i], g);
				wp_gen_put(gen);
				gen = g;
				wp_admin_set_version(admin, g->version);
				pr_info("snapshot %llu in force: %zu services",
					(unsigned long long)g->version, g->l7->n_services);
			}
			continue;
		}
		reload = sig == SIGHUP;
		if (mtime_of(config, &nmt) &&
		    (nmt.tv_sec != mt.tv_sec || nmt.tv_nsec != mt.tv_nsec)) {
			mt = nmt;
			reload = true;
		}
		if (reload) {
			struct wp_gen *g = wp_gen_load(config, version + 1, err, sizeof(err));

			if (!g) {
				pr_err(
				    "configuration not reloaded, the last good one serves on: %s",
				    err);
				continue;
			}
			version++;
			wp_gen_inherit(g, gen);
			if (gw_file && g->l7->gateway)
				gateway_listen(g->l7, ls, hosts, &n_ls, workers, nworkers);
			for (long i = 0; i < nworkers; i++)
				wp_worker_set_gen(workers[i], g);
			wp_gen_put(gen);
			gen = g;
			wp_admin_set_version(admin, g->version);
			pr_info("configuration %llu loaded: %zu services",
				(unsigned long long)version, g->l7->n_services);
		}
	}
	pr_info("draining (at most %d s)", drain_s);
	wp_admin_draining(admin);
	for (long i = 0; i < nworkers; i++)
		wp_worker_drain(workers[i]);
	for (int t = 0; t < drain_s * 10; t++) {
		size_t left = 0;
		struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};

		for (long i = 0; i < nworkers; i++)
			left += wp_worker_active(workers[i]);
		if (!left)
			break;
		nanosleep(&tick, NULL);
	}
	rc = 0;
out:
	wp_admin_stop(admin);
	for (long i = 0; i < MAX_WORKERS; i++)
		wp_worker_stop(workers[i]);
	wp_gen_put(gen);
	for (int i = 0; i < n_ls; i++) {
		close(ls[i].fd);
		free(hosts[i]);
		if (ls[i].tls != tls)
			tls_ctx_put(ls[i].tls); /* a gateway listener's own */
	}
	tls_ctx_put(tls);
	if (agent)
		wp_mesh_stop(&mesh);
	wp_dns_stop();
	return rc;
}
