// SPDX-License-Identifier: Apache-2.0
/* The waypoint's admin listener (admin.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <microhttpd.h>

#include "admin.h"

struct wp_admin {
	struct MHD_Daemon *d;
	struct wp_stats *const *stores;
	size_t n;
	int draining; /* atomic */
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, char *body,
			     const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return reply(conn, 500, strdup("internal error\n"), "text/plain");
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req_cls)
{
	struct wp_admin *a = cls;

	if (strcmp(method, "GET"))
		return reply(conn, 405, strdup("method not allowed\n"), "text/plain");
	if (!strcmp(url, "/stats/prometheus") || !strcmp(url, "/metrics"))
		return reply(conn, 200, wp_stats_render(a->stores, a->n),
			     "text/plain; version=0.0.4");
	if (!strcmp(url, "/healthz/ready"))
		return __atomic_load_n(&a->draining, __ATOMIC_ACQUIRE)
			   ? reply(conn, 503, strdup("draining\n"), "text/plain")
			   : reply(conn, 200, strdup("ready\n"), "text/plain");
	return reply(conn, 404, strdup("not found\n"), "text/plain");
}

struct wp_admin *wp_admin_start(uint32_t ip, uint16_t port, struct wp_stats *const *stores,
				size_t n)
{
	struct wp_admin *a = calloc(1, sizeof(*a));
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr.s_addr = ip, .sin_port = htons(port)};

	if (!a)
		return NULL;
	a->stores = stores;
	a->n = n;
	a->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    handle, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	if (!a->d) {
		free(a);
		errno = EADDRINUSE;
		return NULL;
	}
	return a;
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
