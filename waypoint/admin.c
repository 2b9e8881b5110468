// SPDX-License-Identifier: Apache-2.0
/* The waypoint's admin listener (admin.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "ambit/version.h"
#include "admin.h"
#include "http/http1_conn.h"
#include "http/httpd.h"
#include "net/procmetrics.h"
#include "net/prom.h"
#include "engine/proxy.h"
#include "net/sock.h"

struct wp_admin {
	struct MHD_Daemon *d;
	struct MHD_Daemon *ready_d; /* wp_admin_ready_listen's, or NULL */
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
	/* Its process and build, as the ztunnel's admin says them (`istioctl proxy-status`). */
	if (!strcmp(url, "/server_info")) {
		char *body = NULL;

		if (asprintf(&body, "{\"pid\":%d,\"version\":\"%s\"}\n", (int)getpid(),
			     ambit_version()) < 0)
			body = NULL;
		return httpd_reply(conn, 200, body, "application/json");
	}
	return httpd_reply(conn, 404, strdup("not found\n"), "text/plain");
}

/* /healthz/ready alone, as Envoy's readiness listener on Istio's proxies answers nothing else. */
static enum MHD_Result handle_ready(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version, const char *upload,
				    size_t *upload_len, void **req_cls)
{
	struct wp_admin *a = cls;

	if (strcmp(method, "GET"))
		return httpd_reply(conn, 405, strdup("method not allowed\n"), "text/plain");
	if (strcmp(url, "/healthz/ready"))
		return httpd_reply(conn, 404, strdup("not found\n"), "text/plain");
	return __atomic_load_n(&a->draining, __ATOMIC_ACQUIRE)
		   ? httpd_reply(conn, 503, strdup("draining\n"), "text/plain")
		   : httpd_reply(conn, 200, strdup("ready\n"), "text/plain");
}

int wp_admin_ready_listen(struct wp_admin *a, uint16_t port)
{
	if (a->ready_d)
		return -EALREADY;
	errno = 0; /* libmicrohttpd may fail without setting it */
	a->ready_d = httpd_start_any(port, handle_ready, a);
	return a->ready_d ? 0 : -(errno ? errno : EADDRINUSE);
}

struct wp_admin *wp_admin_start(const union sockaddr_inet *at, struct wp_stats *const *stores,
				size_t n)
{
	struct wp_admin *a = calloc(1, sizeof(*a));
	uint16_t port = sockaddr_inet_port(at);
	int fd, e;

	if (!a)
		return NULL;
	a->stores = stores;
	a->n = n;
	errno = 0; /* libmicrohttpd may fail without setting it */
	if (sockaddr_inet_is_any(at)) {
		/* Prometheus scrapes a pod's own address, whichever family the pod has. */
		a->d = httpd_start_any(port, handle, a);
	} else if (at->sa.sa_family == AF_INET) {
		a->d = httpd_start(at->v4.sin_addr.s_addr, port, handle, a);
	} else {
		fd = sock_listen_at(at, false);
		if (fd < 0) {
			free(a);
			errno = -fd;
			return NULL;
		}
		a->d = httpd_start_fd(fd, handle, a);
		if (!a->d)
			close(fd);
	}
	if (!a->d) {
		e = errno ? errno : EADDRINUSE;
		free(a);
		errno = e;
		return NULL;
	}
	return a;
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
	if (a->ready_d)
		MHD_stop_daemon(a->ready_d);
	MHD_stop_daemon(a->d);
	free(a);
}
