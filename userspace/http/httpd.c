// SPDX-License-Identifier: Apache-2.0
/* The proxies' HTTP surfaces (httpd.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "httpd.h"
#include "net/sock.h"

struct MHD_Daemon *httpd_start(uint32_t ip, uint16_t port, MHD_AccessHandlerCallback handler,
			       void *cls)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr.s_addr = ip, .sin_port = htons(port)};

	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
				0, NULL, NULL, handler, cls, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned int)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
				MHD_OPTION_END);
}

struct MHD_Daemon *httpd_start_fd(int fd, MHD_AccessHandlerCallback handler, void *cls)
{
	/* ITC: what MHD_quiesce_daemon needs to wake the daemon's own thread. */
	return MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, handler, cls, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
}

struct MHD_Daemon *httpd_start_any(uint16_t port, MHD_AccessHandlerCallback handler, void *cls)
{
	struct MHD_Daemon *d;
	int fd = sock_listen_any(port);

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	d = httpd_start_fd(fd, handler, cls);
	if (!d) {
		close(fd);
		errno = ENOMEM;
	}
	return d;
}

enum MHD_Result httpd_reply(struct MHD_Connection *conn, unsigned int status, char *body,
			    const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return httpd_reply(conn, 500, strdup("internal error\n"), "text/plain");
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
