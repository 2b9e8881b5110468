/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.x messages for the proxies that speak HTTP (the waypoint, gateways): llhttp (Debian's
 * node-llhttp sources, strict mode) parses, this module collects each message's head and hands
 * its body on, and writes heads back out.
 *
 * Strictness is the point: llhttp refuses what request smuggling needs (Content-Length with
 * Transfer-Encoding, repeated differing Content-Length, bare LF, obs-fold, chunk-size
 * overflow), and this module adds what llhttp lets through and a proxy must not forward: two
 * Host fields, a transfer coding other than chunked (501, as Envoy), Transfer-Encoding in
 * HTTP/1.0, lengths past 2^63, a status outside 100..599. It reads a request line itself
 * (extension methods, HTTP/1.2 as 1.1, HTTP/0.9 refused at once: feed_line in http1.c) and
 * bounds a head by struct http_limits (Envoy's 60 KiB and 100 fields by default), so a hostile
 * peer costs bounded memory. A refusal carries the status a proxy answers with (400, 431 for a
 * head too large, 501, 505).
 */
#ifndef AMBIT_NET_HTTP1_H
#define AMBIT_NET_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http_fields.h"

/* How the body of a message ends (RFC 9112 §6.3). */
enum h1_framing {
	H1_FRAMING_NONE,    /* no body */
	H1_FRAMING_LENGTH,  /* content_length bytes */
	H1_FRAMING_CHUNKED, /* chunked transfer coding */
	H1_FRAMING_EOF,	    /* a response read until the connection closes */
};

struct h1_head {
	char *method;	 /* request: "GET", ... */
	char *target;	 /* request: the request-target as received */
	uint16_t status; /* response */
	char *reason;	 /* response: as received (may be empty) */
	uint8_t major, minor;
	struct http_fields fields; /* names lower-cased, in order */
	enum h1_framing framing;
	uint64_t content_length; /* H1_FRAMING_LENGTH */
	bool no_body;	 /* a response to HEAD: the framing is what it announces, no body follows */
	bool keep_alive; /* the connection may carry another message after this one */
	bool upgrade;	 /* CONNECT or an accepted Upgrade: the bytes after the head are not HTTP */
};

/*
 * Frees what @h owns and zeroes it: its fields and, in their arena, its method, target and
 * reason (set them with h1_head_strdup).
 */
void h1_head_free(struct h1_head *h);
/* A copy of @s in @h's arena (for its method, target or reason). NULL when out of memory. */
char *h1_head_strdup(struct h1_head *h, const char *s);

/* Returned by a callback: stop feeding after this event (h1_parser_feed returns early). */
#define H1_PAUSE 1

struct h1_parser_ops {
	/*
	 * A head is complete. @head belongs to the parser until the next message begins; the
	 * callback may take its contents (copy the struct, then zero *@head). 0, H1_PAUSE, or a
	 * negative errno that fails the parse.
	 */
	int (*on_head)(void *user, struct h1_head *head);
	/* Body bytes (chunk framing removed). 0 or a negative errno. */
	int (*on_body)(void *user, const char *data, size_t len);
	/* The message is complete (trailers are dropped). 0, H1_PAUSE or a negative errno. */
	int (*on_end)(void *user);
};

struct h1_parser;

/*
 * A parser of requests (@request) or responses, calling @ops with @user (both borrowed: they
 * must outlive the parser). NULL with errno set.
 */
struct h1_parser *h1_parser_new(bool request, const struct h1_parser_ops *ops, void *user);
void h1_parser_free(struct h1_parser *p);
/* The header limits of the messages @p reads (NULL or 0 fields: http_fields.h's defaults). */
void h1_parser_set_limits(struct h1_parser *p, const struct http_limits *lim);
/*
 * From inside on_head: the message is not an upgrade after all (a request whose Upgrade the
 * proxy declines, as Envoy strips "Upgrade: h2c"): its body and the next messages are HTTP.
 */
void h1_parser_no_upgrade(struct h1_parser *p);
/* From inside on_head: what follows this response's head is not HTTP (a 101 without
 * "Connection: upgrade" to a request that asked for the upgrade). */
void h1_parser_upgrade(struct h1_parser *p);
/*
 * Feeds @len bytes. Returns how many were consumed: fewer than @len when a callback paused or
 * the message upgraded the connection (the rest is not HTTP), else @len. A negative errno when
 * the input is refused (-EPROTO: see h1_parser_error) or a callback failed (its errno); the
 * parser then refuses everything after.
 */
ssize_t h1_parser_feed(struct h1_parser *p, const char *data, size_t len);
/* Continues after a pause: the next h1_parser_feed starts at the first unconsumed byte. */
void h1_parser_resume(struct h1_parser *p);
/*
 * The peer closed its side. Completes a message framed by EOF; 0, or -EPROTO when a message
 * was cut short (a truncated head, body or chunk).
 */
int h1_parser_eof(struct h1_parser *p);
/* The next response answers a HEAD request: its head announces a body that does not follow. */
void h1_parser_expect_no_body(struct h1_parser *p);
/* Why the input was refused ("" when it was not), and the status to answer (400 or 431). */
const char *h1_parser_error(const struct h1_parser *p);
int h1_parser_error_status(const struct h1_parser *p);
/* Whether the parser is between messages (nothing of a next message received yet). */
bool h1_parser_idle(const struct h1_parser *p);
/*
 * Between messages: frees what @p kept of the last one (the head a callee left in place, the
 * collector's buffer), so an idle connection holds only the parser itself; both are taken
 * again with the next message. A no-op inside a message or while a next one's first bytes
 * are held.
 */
void h1_parser_release(struct h1_parser *p);

/*
 * The bytes h1_head_write needs for @h: a request line when @h->method is set, else a status
 * line. -EINVAL when a field name is not an RFC 9110 token or a value, target or reason holds
 * CR, LF or NUL (a header injection), or the status is not 100..999.
 */
ssize_t h1_head_len(const struct h1_head *h);
/* Writes @h, always as HTTP/1.1, into @dst (h1_head_len bytes); returns that length. */
size_t h1_head_write(const struct h1_head *h, char *dst);
/*
 * The same with @n_extra more fields after @h's (@extra: name, value pairs of constants and
 * numbers, not checked): the framing fields a connection adds.
 */
ssize_t h1_head_len_extra(const struct h1_head *h, const char *const *extra, size_t n_extra);
size_t h1_head_write_extra(const struct h1_head *h, const char *const *extra, size_t n_extra,
			   char *dst);
/*
 * Checks and writes in one pass what h1_head_len_extra and h1_head_write_extra do in two, into
 * @dst (@cap bytes): the length, -ENOSPC when it does not fit, -EINVAL as h1_head_len.
 */
ssize_t h1_head_format(const struct h1_head *h, const char *const *extra, size_t n_extra, char *dst,
		       size_t cap);
/* RFC 9110's reason phrase of @status ("" for a code it does not name). */
const char *h1_reason(int status);
/* Writes the chunk-size line of a @len byte chunk ("%zx\r\n") into @dst; returns its length. */
size_t h1_chunk_line(size_t len, char dst[20]);
#define H1_CHUNK_END "\r\n"
#define H1_LAST_CHUNK "0\r\n\r\n"

#endif
