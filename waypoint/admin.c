// SPDX-License-Identifier: Apache-2.0
/* The waypoint's admin listener (admin.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "admin.h"
#include "http1_conn.h"
#include "httpd.h"
#include "procmetrics.h"
#include "prom.h"
#include "proxy.h"
#include "sock.h"

struct wp_admin {
	struct MHD_Daemon *d;
	struct wp_stats *const *stores;
	size_t n;
	int draining;	  /* atomic */
	uint64_t version; /* atomic */
};

/*
 * The upstream pools' side of the keep-alive race (proxy_up.c's stale_retry), named as Envoy's
 * cluster counters are (upstream_cx_destroy_remote, upstream_rq_retry), summed over clusters.
 */
static void render_pools(struct prom_buf *b)
{
	prom_printf(
	    b,
	    "# HELP ambit_waypoint_upstream_cx_stale_total Idle pooled upstream connections "
	    "found closed by the server when a request was to reuse them, and dropped.\n"
	    "# TYPE ambit_waypoint_upstream_cx_stale_total counter\n"
	    "ambit_waypoint_upstream_cx_stale_total %llu\n"
	    "# HELP ambit_waypoint_upstream_rq_retry_stale_total Requests sent again on a new "
	    "connection after the reused one was closed before any byte of the response.\n"
	    "# TYPE ambit_waypoint_upstream_rq_retry_stale_total counter\n"
	    "ambit_waypoint_upstream_rq_retry_stale_total %llu\n",
	    (unsigned long long)h1_pool_stale_dropped(),
	    (unsigned long long)wp_engine_stale_retries());
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req_cls)
{
	struct wp_admin *a = cls;

	if (strcmp(method, "GET"))
		return httpd_reply(conn, 405, strdup("method not allowed\n"), "text/plain");
	/* Its traffic, then its build (component "proxy", as Istio's Envoy proxies say) and
	 * process. */
	if (!strcmp(url, "/stats/prometheus") || !strcmp(url, "/metrics")) {
		struct prom_buf b = {0};
		char *traffic = wp_stats_render(a->stores, a->n);

		if (traffic)
			prom_printf(&b, "%s", traffic);
		free(traffic);
		render_pools(&b);
		procmetrics_render(&b, "proxy");
		return httpd_reply(conn, 200, traffic ? prom_take(&b) : (free(b.s), NULL),
				   "text/plain; version=0.0.4");
	}
	if (!strcmp(url, "/snapshot_version")) {
		uint64_t v = __atomic_load_n(&a->version, __ATOMIC_ACQUIRE);
		char *body = NULL;

		if (asprintf(&body, "%llu\n", (unsigned long long)v) < 0)
			body = NULL;
		return httpd_reply(conn, 200, body, "text/plain"); /* NULL: 500 */
	}
	if (!strcmp(url, "/healthz/ready"))
		return __atomic_load_n(&a->draining, __ATOMIC_ACQUIRE)
			   ? httpd_reply(conn, 503, strdup("draining\n"), "text/plain")
			   : httpd_reply(conn, 200, strdup("ready\n"), "text/plain");
	return httpd_reply(conn, 404, strdup("not found\n"), "text/plain");
}

/* On @ip:@port, or on the listening socket @fd (taken) when it is one. */
static struct wp_admin *admin_start(uint32_t ip, uint16_t port, int fd,
				    struct wp_stats *const *stores, size_t n)
{
	struct wp_admin *a = calloc(1, sizeof(*a));

	if (!a) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	a->stores = stores;
	a->n = n;
	a->d = fd >= 0 ? httpd_start_fd(fd, handle, a) : httpd_start(ip, port, handle, a);
	if (!a->d) {
		if (fd >= 0)
			close(fd);
		free(a);
		errno = EADDRINUSE;
		return NULL;
	}
	return a;
}

struct wp_admin *wp_admin_start(uint32_t ip, uint16_t port, struct wp_stats *const *stores,
				size_t n)
{
	return admin_start(ip, port, -1, stores, n);
}

struct wp_admin *wp_admin_start_pod(uint32_t ip, uint16_t port, const char *pod_ip,
				    struct wp_stats *const *stores, size_t n)
{
	struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct in6_addr a6;
	int fd, zero = 0, one = 1;

	if (ip || !pod_ip || inet_pton(AF_INET6, pod_ip, &a6) != 1)
		return admin_start(ip, port, -1, stores, n);
	/*
	 * Both families on one socket (not V6ONLY): the kubelet probes the pod's IPv6, ambitctl
	 * and a user's curl 127.0.0.1 in the pod's netns, as on any other pod.
	 */
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return NULL;
	if (setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&any6, sizeof(any6)) || listen(fd, 1024)) {
		int e = errno;

		close(fd);
		errno = e;
		return NULL;
	}
	return admin_start(0, port, fd, stores, n);
}

void wp_admin_set_version(struct wp_admin *a, uint64_t version)
{
	if (a)
		__atomic_store_n(&a->version, version, __ATOMIC_RELEASE);
}

void wp_admin_draining(struct wp_admin *a)
{
	if (a)
		__atomic_store_n(&a->draining, 1, __ATOMIC_RELEASE);
}

void wp_admin_stop(struct wp_admin *a)
{
	if (!a)
		return;
	MHD_stop_daemon(a->d);
	free(a);
}
