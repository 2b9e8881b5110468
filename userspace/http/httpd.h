/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxies' small HTTP surfaces (metrics, readiness, admin) over libmicrohttpd, each a
 * daemon with its own internal thread, off the data path.
 */
#ifndef AMBIT_NET_HTTPD_H
#define AMBIT_NET_HTTPD_H

#include <stdint.h>
#include <microhttpd.h>

/*
 * A daemon on @ip:@port (network order ip, host order port) answering with @handler(@cls, ...)
 * (libmicrohttpd's access handler): 10 s connection timeout, 64 connections. NULL on failure.
 */
struct MHD_Daemon *httpd_start(uint32_t ip, uint16_t port, MHD_AccessHandlerCallback handler,
			       void *cls);
/*
 * The same on every address of both families: [::]:@port, not IPV6_V6ONLY (IPv4 clients come
 * as mapped addresses), or 0.0.0.0:@port on a host without IPv6. NULL + errno (EADDRINUSE:
 * the port is taken).
 */
struct MHD_Daemon *httpd_start_any(uint16_t port, MHD_AccessHandlerCallback handler, void *cls);
/*
 * The same on the listening socket @fd (taken: closed by MHD_stop_daemon, or by the caller
 * after MHD_quiesce_daemon gave it back). NULL on failure (@fd is the caller's then).
 */
struct MHD_Daemon *httpd_start_fd(int fd, MHD_AccessHandlerCallback handler, void *cls);
/* Queues @body (taken; NULL answers 500) with @status and content type @type. */
enum MHD_Result httpd_reply(struct MHD_Connection *conn, unsigned int status, char *body,
			    const char *type);

#endif
