// SPDX-License-Identifier: Apache-2.0
/* HTTP/1.x messages over llhttp (http1.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "http1.h"

static bool is_token(const char *s);

struct h1_parser {
	llhttp_t ll;
	const struct h1_parser_ops *ops;
	void *user;
	struct h1_head head;
	/* The span llhttp is handing over in pieces (target, reason, a field's name or value). */
	char *acc;
	size_t acc_len, acc_cap;
	char *name; /* a field name whose value is being collected */
	size_t head_bytes;
	/* The buffer being fed, and the last byte consumed before it (see fold_before). */
	const char *feed;
	char prev;
	bool in_message, in_head, no_body_next, upgraded;
	int cb_err; /* the errno a callback failed with */
	int status; /* the status to answer a refusal with */
	char why[160];
};

void h1_head_free(struct h1_head *h)
{
	free(h->method);
	free(h->target);
	free(h->reason);
	http_fields_free(&h->fields);
	memset(h, 0, sizeof(*h));
}

static struct h1_parser *parser_of(llhttp_t *ll)
{
	return ll->data;
}

/* A head past Envoy's limits is refused with 431 (RFC 6585 §5), before it costs more memory. */
static int too_large(struct h1_parser *p, const char *what)
{
	p->status = 431;
	snprintf(p->why, sizeof(p->why), "%s (limits: %d bytes, %d fields)", what,
		 H1_MAX_HEAD_BYTES, H1_MAX_FIELDS);
	return -1;
}

static int collect(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_parser *p = parser_of(ll);

	p->head_bytes += len;
	if (p->head_bytes > H1_MAX_HEAD_BYTES)
		return too_large(p, "message head too large");
	if (p->acc_len + len + 1 > p->acc_cap) {
		size_t cap = (p->acc_len + len + 1) * 2;
		char *n = realloc(p->acc, cap);

		if (!n) {
			p->cb_err = -ENOMEM;
			return -1;
		}
		p->acc = n;
		p->acc_cap = cap;
	}
	memcpy(p->acc + p->acc_len, at, len);
	p->acc_len += len;
	return 0;
}

/* The collected span as a string (malloc'd), leaving the collector empty; NULL on ENOMEM. */
static char *take(struct h1_parser *p)
{
	char *s = strndup(p->acc ? p->acc : "", p->acc_len);

	p->acc_len = 0;
	if (!s)
		p->cb_err = -ENOMEM;
	return s;
}

static int on_message_begin(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	h1_head_free(&p->head);
	free(p->name);
	p->name = NULL;
	p->acc_len = 0;
	p->head_bytes = 0;
	p->in_message = p->in_head = true;
	return 0;
}

static int on_url_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	p->head.target = take(p);
	return p->head.target ? 0 : -1;
}

static int on_status_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	p->head.reason = take(p);
	return p->head.reason ? 0 : -1;
}

/*
 * Whether a piece of a field value follows a line break: an obs-fold (RFC 9112 §5.2). When the
 * whole fold is in one buffer llhttp keeps its CRLF in the value (on_value_complete finds it);
 * across buffers it ends the piece before the CR and starts the next after the LF, so the fold
 * shows only in the byte before the piece (which is not empty: the fold's SP or HTAB is in it).
 * An empty piece (an empty value) may point just past a line's LF.
 */
static bool fold_before(const struct h1_parser *p, const char *at)
{
	return (at > p->feed ? at[-1] : p->prev) == '\n';
}

static int collect_value(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_parser *p = parser_of(ll);

	if (len && fold_before(p, at)) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why),
			 "malformed HTTP/1 header '%s': obsolete line folding",
			 p->name ? p->name : "");
		return -1;
	}
	return collect(ll, at, len);
}

static int on_field_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	/* Each field costs its ": " and CRLF on the wire too. */
	p->head_bytes += 4;
	if (p->head.fields.n >= H1_MAX_FIELDS)
		return too_large(p, "too many header fields");
	p->name = take(p);
	if (!p->name)
		return -1;
	/*
	 * llhttp 8 lets a space or other non-token byte into a name; "Transfer-Encoding : x" read
	 * one way here and another by the next hop is how requests are smuggled (RFC 9112 §5.1).
	 */
	if (!is_token(p->name)) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why), "malformed HTTP/1 header name '%.60s'", p->name);
		return -1;
	}
	for (char *c = p->name; *c; c++)
		*c = tolower((unsigned char)*c);
	return 0;
}

static int on_value_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);
	size_t n = p->acc_len;
	int err;

	/* The field value excludes trailing whitespace (RFC 9110 §5.5); llhttp drops the leading.
	 */
	while (n && (p->acc[n - 1] == ' ' || p->acc[n - 1] == '\t'))
		n--;
	/*
	 * llhttp keeps an obs-fold's CRLF inside the value; RFC 9112 §5.2 lets a server refuse it
	 * with 400, which is safer than unfolding what another hop might read differently.
	 */
	if (memchr(p->acc ? p->acc : "", '\n', n) || memchr(p->acc ? p->acc : "", '\r', n)) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why),
			 "malformed HTTP/1 header '%s': obsolete line folding", p->name);
		return -1;
	}
	err = http_fields_addn(&p->head.fields, p->name, strlen(p->name), p->acc ? p->acc : "", n);
	p->acc_len = 0;
	free(p->name);
	p->name = NULL;
	if (err) {
		p->cb_err = err;
		return -1;
	}
	return 0;
}

static enum h1_framing framing_of(struct h1_parser *p)
{
	uint16_t st = p->head.status;

	if (p->ll.flags & F_CHUNKED)
		return H1_FRAMING_CHUNKED;
	if (p->ll.flags & F_CONTENT_LENGTH)
		return p->ll.content_length ? H1_FRAMING_LENGTH : H1_FRAMING_NONE;
	if (p->ll.type == HTTP_REQUEST)
		return H1_FRAMING_NONE;
	/* RFC 9112 §6.3: 1xx, 204 and 304 never carry a body; other responses run to EOF. */
	if ((st >= 100 && st < 200) || st == 204 || st == 304)
		return H1_FRAMING_NONE;
	return H1_FRAMING_EOF;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);
	struct h1_head *h = &p->head;
	bool skip = p->no_body_next;
	int rv;

	p->in_head = false;
	p->no_body_next = false;
	/*
	 * llhttp refuses a request whose last transfer coding is not chunked only after this
	 * callback; refuse it first (RFC 9112 §6.3: 400) so no head it rejects is ever acted on.
	 */
	if (ll->type == HTTP_REQUEST && (ll->flags & F_TRANSFER_ENCODING) &&
	    !(ll->flags & F_CHUNKED)) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why),
			 "malformed HTTP/1 request: Transfer-Encoding does not end in chunked");
		return -1;
	}
	/*
	 * Only HTTP/1.x is forwarded, always written as HTTP/1.1. llhttp reads a request line
	 * without a version as HTTP/0.9 and then takes methods (RTSP's PAUSE, ...) it refuses
	 * under HTTP/1.x: the next hop would read what we write differently, so refuse it here.
	 */
	if (ll->http_major != 1) {
		p->status = ll->type == HTTP_REQUEST ? 505 : 400;
		snprintf(p->why, sizeof(p->why), "malformed HTTP/1 %s: version %u.%u",
			 ll->type == HTTP_REQUEST ? "request" : "response", ll->http_major,
			 ll->http_minor);
		return -1;
	}
	h->major = ll->http_major;
	h->minor = ll->http_minor;
	if (ll->type == HTTP_REQUEST) {
		h->method = strdup(llhttp_method_name(ll->method));
		if (!h->method || !h->target) {
			p->cb_err = -ENOMEM;
			return -1;
		}
	} else {
		h->status = ll->status_code;
		if (!h->reason && !(h->reason = strdup(""))) {
			p->cb_err = -ENOMEM;
			return -1;
		}
	}
	h->framing = skip ? H1_FRAMING_NONE : framing_of(p);
	h->content_length = h->framing == H1_FRAMING_LENGTH ? ll->content_length : 0;
	h->keep_alive = llhttp_should_keep_alive(ll);
	h->upgrade = ll->upgrade;
	rv = p->ops->on_head(p->user, h);
	if (rv < 0) {
		p->cb_err = rv;
		return -1;
	}
	if (skip)
		return 1;
	return rv == H1_PAUSE ? HPE_PAUSED : 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_parser *p = parser_of(ll);
	int rv = p->ops->on_body ? p->ops->on_body(p->user, at, len) : 0;

	if (rv < 0) {
		p->cb_err = rv;
		return -1;
	}
	return 0;
}

static int on_message_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);
	int rv = p->ops->on_end ? p->ops->on_end(p->user) : 0;

	p->in_message = false;
	if (rv < 0) {
		p->cb_err = rv;
		return -1;
	}
	return rv == H1_PAUSE ? HPE_PAUSED : 0;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = collect,
    .on_status = collect,
    .on_header_field = collect,
    .on_header_value = collect_value,
    .on_url_complete = on_url_complete,
    .on_status_complete = on_status_complete,
    .on_header_field_complete = on_field_complete,
    .on_header_value_complete = on_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct h1_parser *h1_parser_new(bool request, const struct h1_parser_ops *ops, void *user)
{
	struct h1_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	llhttp_init(&p->ll, request ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
	p->ll.data = p;
	p->ops = ops;
	p->user = user;
	return p;
}

void h1_parser_free(struct h1_parser *p)
{
	if (!p)
		return;
	h1_head_free(&p->head);
	free(p->name);
	free(p->acc);
	free(p);
}

static ssize_t refuse(struct h1_parser *p, llhttp_errno_t err)
{
	if (p->cb_err)
		return p->cb_err;
	if (!p->status) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why), "malformed HTTP/1 %s: %s (%s)",
			 p->ll.type == HTTP_REQUEST ? "request" : "response",
			 llhttp_get_error_reason(&p->ll), llhttp_errno_name(err));
	}
	return -EPROTO;
}

ssize_t h1_parser_feed(struct h1_parser *p, const char *data, size_t len)
{
	llhttp_errno_t err;

	ssize_t used;

	if (p->upgraded)
		return 0;
	p->feed = data;
	err = llhttp_execute(&p->ll, data, len);
	switch (err) {
	case HPE_OK: used = (ssize_t)len; break;
	case HPE_PAUSED: used = llhttp_get_error_pos(&p->ll) - data; break;
	case HPE_PAUSED_UPGRADE:
		p->upgraded = true;
		used = llhttp_get_error_pos(&p->ll) - data;
		break;
	default: return refuse(p, err);
	}
	if (used > 0)
		p->prev = data[used - 1];
	return used;
}

void h1_parser_resume(struct h1_parser *p)
{
	if (llhttp_get_errno(&p->ll) == HPE_PAUSED)
		llhttp_resume(&p->ll);
}

int h1_parser_eof(struct h1_parser *p)
{
	llhttp_errno_t err;

	if (p->upgraded)
		return 0;
	err = llhttp_finish(&p->ll);
	if (err == HPE_OK || err == HPE_PAUSED)
		return 0;
	if (!p->status) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why), "connection closed inside an HTTP/1 %s",
			 p->ll.type == HTTP_REQUEST ? "request" : "response");
	}
	return p->cb_err ? p->cb_err : -EPROTO;
}

void h1_parser_expect_no_body(struct h1_parser *p)
{
	p->no_body_next = true;
}

const char *h1_parser_error(const struct h1_parser *p)
{
	return p->why;
}

int h1_parser_error_status(const struct h1_parser *p)
{
	return p->status;
}

bool h1_parser_idle(const struct h1_parser *p)
{
	return !p->in_message;
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

/* A value, target or reason may hold anything but what ends a line (or a C string). */
static bool is_line_safe(const char *s, bool allow_space)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n' || (!allow_space && *s == ' '))
			return false;
	return true;
}

static const char *reason_of(const struct h1_head *h)
{
	return h->reason && *h->reason ? h->reason : h1_reason(h->status);
}

ssize_t h1_head_len(const struct h1_head *h)
{
	size_t n;

	if (h->method) {
		if (!is_token(h->method) || !h->target || !*h->target ||
		    !is_line_safe(h->target, false))
			return -EINVAL;
		n = strlen(h->method) + 1 + strlen(h->target) + sizeof(" HTTP/1.1\r\n") - 1;
	} else {
		if (h->status < 100 || h->status > 999 || !is_line_safe(reason_of(h), true))
			return -EINVAL;
		n = sizeof("HTTP/1.1 200 \r\n") - 1 + strlen(reason_of(h));
	}
	for (size_t i = 0; i < h->fields.n; i++) {
		const struct http_field *f = &h->fields.items[i];

		if (!is_token(f->name) || !is_line_safe(f->value, true))
			return -EINVAL;
		n += strlen(f->name) + 2 + strlen(f->value) + 2;
	}
	return n + 2;
}

static char *put(char *d, const char *s)
{
	size_t n = strlen(s);

	memcpy(d, s, n);
	return d + n;
}

size_t h1_head_write(const struct h1_head *h, char *dst)
{
	char *d = dst;

	if (h->method) {
		d = put(d, h->method);
		d = put(d, " ");
		d = put(d, h->target);
		d = put(d, " HTTP/1.1\r\n");
	} else {
		char code[8];

		snprintf(code, sizeof(code), "%03u", h->status);
		d = put(d, "HTTP/1.1 ");
		d = put(d, code);
		d = put(d, " ");
		d = put(d, reason_of(h));
		d = put(d, "\r\n");
	}
	for (size_t i = 0; i < h->fields.n; i++) {
		d = put(d, h->fields.items[i].name);
		d = put(d, ": ");
		d = put(d, h->fields.items[i].value);
		d = put(d, "\r\n");
	}
	d = put(d, "\r\n");
	return d - dst;
}

const char *h1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 418: return "I'm a teapot";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

size_t h1_chunk_line(size_t len, char dst[20])
{
	return snprintf(dst, 20, "%zx\r\n", len);
}
