// SPDX-License-Identifier: Apache-2.0
/* HTTP/1.x messages over llhttp (http1.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "http1.h"
#include "http_uri.h"

static bool is_token(const char *s);

/*
 * A request line is read here, not by llhttp: llhttp knows a fixed table of methods and refuses
 * the extension methods RFC 9110 §9.1 allows (and every peer forwards), reads "GET /" as
 * HTTP/0.9 and waits for more, and refuses HTTP/1.2 where RFC 9112 §2.3 says to read it as
 * HTTP/1.1. Once the line is read llhttp is handed a stand-in line of the same framing meaning
 * (CONNECT or not, HTTP/1.0 or 1.1) and parses the fields and the body as before.
 */
static const char standin[2][2][24] = {
    {"GET / HTTP/1.0\r\n", "GET / HTTP/1.1\r\n"},
    {"CONNECT a:1 HTTP/1.0\r\n", "CONNECT a:1 HTTP/1.1\r\n"},
};
/* Empty lines a client may send before a request line (RFC 9112 §2.2: ignore at least one). */
#define MAX_BLANK_LINES 4
/* A Content-Length or chunk size no 64-bit signed integer holds is refused: hops differ on it. */
#define MAX_LENGTH (UINT64_C(1) << 63)

/*
 * RFC 9110 §5.6.2 tchar, by table (every byte of every field name is looked at): a token byte
 * maps to itself lower-cased, any other to 0.
 */
static const char tchar_lower[256] = {
    ['!'] = '!', ['#'] = '#', ['$'] = '$', ['%'] = '%', ['&'] = '&', ['\''] = '\'', ['*'] = '*',
    ['+'] = '+', ['-'] = '-', ['.'] = '.', ['^'] = '^', ['_'] = '_', ['`'] = '`',   ['|'] = '|',
    ['~'] = '~', ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',   ['5'] = '5',
    ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', ['A'] = 'a', ['B'] = 'b',   ['C'] = 'c',
    ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i',   ['J'] = 'j',
    ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p',   ['Q'] = 'q',
    ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w',   ['X'] = 'x',
    ['Y'] = 'y', ['Z'] = 'z', ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd',   ['e'] = 'e',
    ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k',   ['l'] = 'l',
    ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',   ['s'] = 's',
    ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y',   ['z'] = 'z',
};

static inline bool is_tchar(unsigned char c)
{
	return tchar_lower[c] != 0;
}

struct h1_parser {
	llhttp_t ll;
	const struct h1_parser_ops *ops;
	void *user;
	struct h1_head head;
	struct http_limits lim;
	/*
	 * What llhttp hands over in pieces: a span (target, reason, name or value) that came in
	 * one piece is taken straight from the buffer being fed (span), one in several pieces is
	 * gathered in acc. A field's name is kept in acc (its first name_len bytes) until its
	 * value is whole; a request line is read into acc (feed_line).
	 */
	char *acc;
	size_t acc_len, acc_cap;
	size_t name_len; /* the field name in acc[0..name_len), while its value comes */
	bool in_value;
	const char *span; /* the current span's single piece, or NULL (then acc after the name) */
	size_t span_len;
	size_t head_bytes; /* target, names and values so far (http_limits) */
	/* The buffer being fed, and the last byte consumed before it (see fold_before). */
	const char *feed;
	char prev;
	bool request, in_message, in_head, no_body_next, upgraded;
	/* Requests: the current message's line was read into acc (method and target in it). */
	bool line_done;
	/* llhttp was paused at a request's end so the next line goes through feed_line. */
	bool line_pause;
	unsigned int blank_lines;
	size_t line_mlen, line_toff, line_tlen;
	uint8_t line_minor;
	int cb_err; /* the errno a callback failed with */
	int status; /* the status to answer a refusal with */
	char why[160];
};

void h1_head_free(struct h1_head *h)
{
	/* Method, target and reason live in the fields' arena. */
	http_fields_free(&h->fields);
	memset(h, 0, sizeof(*h));
}

char *h1_head_strdup(struct h1_head *h, const char *s)
{
	return http_fields_strndup(&h->fields, s, strlen(s));
}

static struct h1_parser *parser_of(llhttp_t *ll)
{
	return ll->data;
}

/* A head past Envoy's limits is refused with 431 (RFC 6585 §5), before it costs more memory. */
static int too_large(struct h1_parser *p, const char *what)
{
	p->status = 431;
	snprintf(p->why, sizeof(p->why), "%s (limits: %u bytes, %u fields)", what,
		 p->lim.header_bytes, p->lim.fields);
	return -1;
}

/* Appends @len bytes to the collector; -1 when out of memory (cb_err set). */
static int acc_append(struct h1_parser *p, const char *at, size_t len)
{
	if (p->acc_len + len + 1 > p->acc_cap) {
		size_t cap = (p->acc_len + len + 1) * 2;
		char *n = realloc(p->acc, cap < 256 ? 256 : cap);

		if (!n) {
			p->cb_err = -ENOMEM;
			return -1;
		}
		p->acc = n;
		p->acc_cap = cap < 256 ? 256 : cap;
	}
	memcpy(p->acc + p->acc_len, at, len);
	p->acc_len += len;
	return 0;
}

/* Room for @n bytes in the collector from its start; -1 when out of memory (cb_err set). */
static int acc_reserve(struct h1_parser *p, size_t n)
{
	size_t cap = n + 1 < 256 ? 256 : n + 1;
	char *m;

	if (n + 1 <= p->acc_cap)
		return 0;
	m = realloc(p->acc, cap);
	if (!m) {
		p->cb_err = -ENOMEM;
		return -1;
	}
	p->acc = m;
	p->acc_cap = cap;
	return 0;
}

/* The span so far, gathered into acc (a second piece came, or the buffer is about to go). */
static int span_gather(struct h1_parser *p)
{
	const char *at = p->span;

	if (!at)
		return 0;
	p->span = NULL;
	return acc_append(p, at, p->span_len);
}

static int collect(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_parser *p = parser_of(ll);

	p->head_bytes += len;
	if (p->head_bytes > p->lim.header_bytes)
		return too_large(p, "message head too large");
	/* The first piece of a span is only remembered: most spans come whole. */
	if (!p->span && p->acc_len == (p->in_value ? p->name_len : 0)) {
		p->span = at;
		p->span_len = len;
		return 0;
	}
	if (span_gather(p))
		return -1;
	return acc_append(p, at, len);
}

/* The current span (a piece in the buffer, or acc from @from), and its length. */
static const char *span_of(struct h1_parser *p, size_t from, size_t *len)
{
	if (p->span) {
		*len = p->span_len;
		return p->span;
	}
	*len = p->acc_len - from;
	return p->acc ? p->acc + from : "";
}

static int on_message_begin(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);
	struct h1_head *h = &p->head;

	h1_head_free(h);
	p->span = NULL;
	p->name_len = 0;
	p->in_value = false;
	p->head_bytes = 0;
	p->in_message = p->in_head = true;
	if (p->request) {
		/* The line read before llhttp was handed its stand-in (feed_line), in acc. */
		h->method = http_fields_strndup(&h->fields, p->acc, p->line_mlen);
		h->target = http_fields_strndup(&h->fields, p->acc + p->line_toff, p->line_tlen);
		if (!h->method || !h->target) {
			p->cb_err = -ENOMEM;
			return -1;
		}
		p->head_bytes = p->line_tlen;
	}
	p->acc_len = 0;
	return 0;
}

static int on_status_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);
	size_t n;
	const char *r = span_of(p, 0, &n);

	p->head.reason = http_fields_strndup(&p->head.fields, r, n);
	p->span = NULL;
	p->acc_len = 0;
	if (!p->head.reason)
		p->cb_err = -ENOMEM;
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

static int refuse_fold(struct h1_parser *p)
{
	p->status = 400;
	snprintf(p->why, sizeof(p->why), "malformed HTTP/1 header '%.*s': obsolete line folding",
		 (int)(p->name_len > 60 ? 60 : p->name_len), p->acc ? p->acc : "");
	return -1;
}

static int collect_value(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_parser *p = parser_of(ll);

	if (len && fold_before(p, at))
		return refuse_fold(p);
	return collect(ll, at, len);
}

static int on_field_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	if (p->head.fields.n >= p->lim.fields)
		return too_large(p, "too many header fields");
	/*
	 * The name waits in acc for its value (the buffer it came in may go before), checked
	 * and lower-cased (stored so: http_fields.h) as it is copied there. llhttp 8 lets a space
	 * or other non-token byte into a name; "Transfer-Encoding : x" read one way here and
	 * another by the next hop is how requests are smuggled (RFC 9112 §5.1).
	 */
	{
		const char *src = p->span ? p->span : p->acc;
		size_t n = p->span ? p->span_len : p->acc_len;
		char bad = 1;

		if (p->span) {
			p->span = NULL;
			if (acc_reserve(p, n))
				return -1;
		}
		for (size_t i = 0; i < n; i++)
			bad &= (char)(tchar_lower[(unsigned char)src[i]] != 0);
		if (!bad) {
			p->status = 400;
			snprintf(p->why, sizeof(p->why), "malformed HTTP/1 header name '%.*s'",
				 (int)(n > 60 ? 60 : n), src);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			p->acc[i] = tchar_lower[(unsigned char)src[i]];
		p->acc_len = n;
	}
	p->name_len = p->acc_len;
	p->in_value = true;
	if (!p->name_len) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why), "malformed HTTP/1 header: empty name");
		return -1;
	}
	return 0;
}

static int on_value_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);
	size_t n;
	const char *v = span_of(p, p->name_len, &n);
	int err;

	/* The field value excludes trailing whitespace (RFC 9110 §5.5); llhttp drops the leading.
	 */
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	/*
	 * llhttp keeps an obs-fold's CRLF inside the value; RFC 9112 §5.2 lets a server refuse it
	 * with 400, which is safer than unfolding what another hop might read differently.
	 */
	if (memchr(v, '\n', n) || memchr(v, '\r', n))
		return refuse_fold(p);
	/* Names and values llhttp and the checks above let through: no writer checks them again. */
	err = http_fields_add_clean(&p->head.fields, p->acc, p->name_len, v, n);
	p->acc_len = p->name_len = 0;
	p->span = NULL;
	p->in_value = false;
	if (err) {
		p->cb_err = err;
		return -1;
	}
	return 0;
}

/*
 * RFC 9112 §6.3: a 1xx, 204 or 304 response ends with its head whatever its fields say (llhttp
 * would read a 204's Content-Length as a body: the bytes after it are the next response's, or
 * no one's).
 */
static bool bodiless_status(const llhttp_t *ll)
{
	int st = ll->status_code;

	return ll->type == HTTP_RESPONSE && ((st >= 100 && st < 200) || st == 204 || st == 304);
}

static enum h1_framing framing_of(struct h1_parser *p)
{
	if (bodiless_status(&p->ll))
		return H1_FRAMING_NONE;
	if (p->ll.flags & F_CHUNKED)
		return H1_FRAMING_CHUNKED;
	if (p->ll.flags & F_CONTENT_LENGTH)
		return p->ll.content_length ? H1_FRAMING_LENGTH : H1_FRAMING_NONE;
	if (p->ll.type == HTTP_REQUEST)
		return H1_FRAMING_NONE;
	return H1_FRAMING_EOF; /* other responses run to the connection's end */
}

static int refuse_head(struct h1_parser *p, int status, const char *why)
{
	p->status = status;
	snprintf(p->why, sizeof(p->why), "%s", why);
	return -1;
}

/* Whether field @name's only value is exactly @want (case-insensitive): one field, one value. */
static bool only_value(const struct http_fields *f, const char *name, const char *want)
{
	return http_fields_count(f, name) == 1 && !strcasecmp(http_fields_get(f, name), want);
}

/*
 * What llhttp lets through and a proxy must not: framing another hop could read differently
 * (RFC 9112 §6.1, §6.3), a request naming two hosts (§3.2), a status outside 100..599.
 * 0, or -1 with the refusal set.
 */
static int check_head(struct h1_parser *p)
{
	llhttp_t *ll = &p->ll;
	const struct http_fields *f = &p->head.fields;
	const char *host, *why;

	if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length >= MAX_LENGTH)
		return refuse_head(p, 400, "malformed HTTP/1 message: Content-Length too large");
	if (ll->type == HTTP_RESPONSE) {
		if (ll->status_code < 100 || ll->status_code > 599)
			return refuse_head(p, 400,
					   "malformed HTTP/1 response: status out of range");
		/* A coding we would drop while re-framing the body: the body's meaning would go. */
		if ((ll->flags & F_TRANSFER_ENCODING) &&
		    !only_value(f, "transfer-encoding", "chunked"))
			return refuse_head(p, 400,
					   "HTTP/1 response: transfer coding other than "
					   "chunked");
		return 0;
	}
	if (ll->flags & F_TRANSFER_ENCODING) {
		if (ll->http_minor == 0)
			return refuse_head(p, 400, "malformed HTTP/1.0 request: Transfer-Encoding");
		if (ll->flags & F_CONTENT_LENGTH)
			return refuse_head(p, 400,
					   "malformed HTTP/1 request: Content-Length with "
					   "Transfer-Encoding");
		/*
		 * Only chunked is implemented (Envoy answers any other coding 501): a coding
		 * dropped while the body is re-framed would change what the next hop reads.
		 */
		if (!only_value(f, "transfer-encoding", "chunked"))
			return refuse_head(p, 501,
					   "HTTP/1 request: transfer coding other than "
					   "chunked");
	}
	if (http_fields_count(f, "host") > 1)
		return refuse_head(p, 400, "malformed HTTP/1 request: more than one Host");
	host = http_fields_get(f, "host");
	if (host && *host && (why = http_authority_problem(host, strlen(host)))) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why), "malformed HTTP/1 request: Host: %s", why);
		return -1;
	}
	return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);
	struct h1_head *h = &p->head;
	bool interim = ll->type == HTTP_RESPONSE && ll->status_code >= 100 &&
		       ll->status_code < 200 && ll->status_code != 101;
	bool skip = p->no_body_next && !interim;
	int rv;

	p->in_head = false;
	if (!interim)
		p->no_body_next = false; /* the HEAD's final response is the one without a body */
	/*
	 * Only HTTP/1.x is forwarded, always written as HTTP/1.1 (a request's version was read
	 * with its line: feed_line).
	 */
	if (ll->http_major != 1) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why), "malformed HTTP/1 response: version %u.%u",
			 ll->http_major, ll->http_minor);
		return -1;
	}
	if (check_head(p))
		return -1;
	h->major = ll->http_major;
	h->minor = ll->http_minor;
	if (ll->type != HTTP_REQUEST) {
		h->status = ll->status_code;
		if (!h->reason && !(h->reason = h1_head_strdup(h, ""))) {
			p->cb_err = -ENOMEM;
			return -1;
		}
	}
	/* A HEAD's response keeps the framing it announces, for the client; no body follows. */
	h->framing = framing_of(p);
	h->content_length = h->framing == H1_FRAMING_LENGTH ? ll->content_length : 0;
	h->no_body = skip;
	h->keep_alive = llhttp_should_keep_alive(ll);
	h->upgrade = ll->upgrade;
	rv = p->ops->on_head(p->user, h);
	if (rv < 0) {
		p->cb_err = rv;
		return -1;
	}
	if (skip || (bodiless_status(ll) && ll->status_code != 101))
		return 1; /* no body: what follows is the next message, or no one's */
	return rv == H1_PAUSE ? HPE_PAUSED : 0;
}

static int on_chunk_header(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	if (ll->content_length >= MAX_LENGTH)
		return refuse_head(p, 400, "malformed HTTP/1 chunked body: chunk size too large");
	return 0;
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
	p->line_done = false; /* the next request starts with its line */
	p->blank_lines = 0;
	if (rv < 0) {
		p->cb_err = rv;
		return -1;
	}
	if (rv == H1_PAUSE)
		return HPE_PAUSED;
	/*
	 * A request pipelined behind this one is read line first (feed_line), never by llhttp
	 * on its own: h1_parser_feed resumes and goes on there.
	 */
	if (p->request && !ll->upgrade) {
		p->line_pause = true;
		return HPE_PAUSED;
	}
	return 0;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_status = collect,
    .on_header_field = collect,
    .on_header_value = collect_value,
    .on_status_complete = on_status_complete,
    .on_header_field_complete = on_field_complete,
    .on_header_value_complete = on_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_chunk_header = on_chunk_header,
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
	p->request = request;
	h1_parser_set_limits(p, NULL);
	return p;
}

void h1_parser_set_limits(struct h1_parser *p, const struct http_limits *lim)
{
	p->lim.header_bytes = lim && lim->header_bytes ? lim->header_bytes : HTTP_MAX_HEADER_BYTES;
	p->lim.fields = lim && lim->fields ? lim->fields : HTTP_MAX_FIELDS;
}

void h1_parser_free(struct h1_parser *p)
{
	if (!p)
		return;
	h1_head_free(&p->head);
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

/*
 * The request line in @line (@n bytes, without its CRLF): method SP request-target SP
 * HTTP-version (RFC 9112 §3). 0, or -1 with the refusal set.
 */
static int parse_line(struct h1_parser *p, const char *line, size_t n)
{
	const char *sp1 = memchr(line, ' ', n), *sp2, *v, *why;
	size_t ml, tl;

	if (!sp1 || sp1 == line)
		return refuse_head(p, 400, "malformed HTTP/1 request line");
	ml = (size_t)(sp1 - line);
	for (size_t i = 0; i < ml; i++)
		if (!is_tchar((unsigned char)line[i]))
			return refuse_head(p, 400, "malformed HTTP/1 request line: method");
	sp2 = memchr(sp1 + 1, ' ', n - ml - 1);
	/* "GET /": HTTP/0.9, which has no headers and no status line to answer with. */
	if (!sp2)
		return refuse_head(p, 400, "HTTP/0.9 request (no version)");
	tl = (size_t)(sp2 - sp1 - 1);
	if (!tl)
		return refuse_head(p, 400, "malformed HTTP/1 request line: empty target");
	for (size_t i = 0; i < tl; i++) {
		unsigned char c = (unsigned char)sp1[1 + i];

		/* Visible ASCII only (RFC 3986): no whitespace, control or 8-bit byte. */
		if (c <= 0x20 || c >= 0x7f)
			return refuse_head(p, 400, "malformed HTTP/1 request line: target");
	}
	v = sp2 + 1;
	if ((size_t)(line + n - v) != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' ||
	    v[6] != '.' || v[7] < '0' || v[7] > '9')
		return refuse_head(p, 400, "malformed HTTP/1 request line: version");
	if (v[5] != '1') {
		p->status = 505;
		snprintf(p->why, sizeof(p->why), "HTTP/%c.%c request over HTTP/1", v[5], v[7]);
		return -1;
	}
	if (tl > p->lim.header_bytes)
		return too_large(p, "request target too long");
	why = http_target_problem(line, ml, sp1 + 1, tl);
	if (why) {
		p->status = 400;
		snprintf(p->why, sizeof(p->why), "malformed HTTP/1 request line: %s", why);
		return -1;
	}
	/* Taken from acc into the head when llhttp begins the message (on_message_begin). */
	p->line_mlen = ml;
	p->line_toff = (size_t)(sp1 + 1 - line);
	p->line_tlen = tl;
	/* RFC 9112 §2.3: a higher minor version is read as the highest we implement. */
	p->line_minor = v[7] == '0' ? 0 : 1;
	return 0;
}

/*
 * Reads the request line from @data (collected across feeds): how many bytes it took (all of
 * them while the line is incomplete), or -1 with the refusal set. Once the line is whole,
 * llhttp gets its stand-in.
 */
static ssize_t feed_line(struct h1_parser *p, const char *data, size_t len)
{
	size_t used = 0;

	while (used < len && !p->line_done) {
		const char *nl = memchr(data + used, '\n', len - used);
		size_t take = nl ? (size_t)(nl - (data + used)) : len - used;
		const char *line;
		llhttp_errno_t err;
		bool connect;

		if (p->acc_len + take > p->lim.header_bytes + 64)
			return too_large(p, "request line too long");
		if (acc_append(p, data + used, take))
			return -1;
		used += take;
		if (!nl)
			break;
		used++; /* the LF */
		if (!p->acc_len || p->acc[p->acc_len - 1] != '\r')
			return refuse_head(p, 400, "malformed HTTP/1 request line: bare LF");
		if (p->acc_len == 1) {
			/* An empty line before the request (RFC 9112 §2.2). */
			p->acc_len = 0;
			if (++p->blank_lines > MAX_BLANK_LINES)
				return refuse_head(p, 400, "empty lines instead of a request");
			continue;
		}
		if (parse_line(p, p->acc, p->acc_len - 1))
			return -1;
		p->line_done = true;
		p->prev = '\n';
		connect = p->line_mlen == 7 && !memcmp(p->acc, "CONNECT", 7);
		line = standin[connect][p->line_minor];
		err = llhttp_execute(&p->ll, line, strlen(line));
		if (err != HPE_OK) {
			refuse(p, err);
			return -1;
		}
	}
	return (ssize_t)used;
}

ssize_t h1_parser_feed(struct h1_parser *p, const char *data, size_t len)
{
	llhttp_errno_t err;
	ssize_t used = 0, n;

	if (p->upgraded)
		return 0;
	if (p->status || p->cb_err)
		return p->cb_err ? p->cb_err : -EPROTO;
again:
	if (p->request && !p->line_done && llhttp_get_errno(&p->ll) == HPE_OK) {
		n = feed_line(p, data, len);
		if (n < 0)
			return p->cb_err ? p->cb_err : -EPROTO;
		used += n;
		data += n;
		len -= (size_t)n;
		if (!len)
			return used;
	}
	p->feed = data;
	err = llhttp_execute(&p->ll, data, len);
	/* A span left open points into @data, which is the caller's only for this call. */
	if (p->span && span_gather(p))
		return p->cb_err;
	switch (err) {
	case HPE_OK: n = (ssize_t)len; break;
	case HPE_PAUSED: n = llhttp_get_error_pos(&p->ll) - data; break;
	case HPE_PAUSED_UPGRADE:
		p->upgraded = true;
		n = llhttp_get_error_pos(&p->ll) - data;
		break;
	default: return refuse(p, err);
	}
	if (n > 0)
		p->prev = data[n - 1];
	if (err == HPE_PAUSED && p->line_pause) {
		/* The request ended without a pause: the next one starts with its line. */
		p->line_pause = false;
		llhttp_resume(&p->ll);
		used += n;
		data += n;
		len -= (size_t)n;
		if (len)
			goto again;
		return used;
	}
	return used + n;
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

void h1_parser_no_upgrade(struct h1_parser *p)
{
	p->ll.upgrade = 0;
}

void h1_parser_upgrade(struct h1_parser *p)
{
	p->ll.upgrade = 1;
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

void h1_parser_release(struct h1_parser *p)
{
	if (p->in_message || p->line_done || p->acc_len)
		return;
	h1_head_free(&p->head);
	free(p->acc);
	p->acc = NULL;
	p->acc_cap = 0;
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
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

/* A value made here (not read and checked by the parser) may not hold CR, LF or NUL. */
static bool value_safe(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == '\r' || v[i] == '\n' || !v[i])
			return false;
	return true;
}

static bool name_token(const char *n, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)n[i]))
			return false;
	return true;
}

ssize_t h1_head_len_extra(const struct h1_head *h, const char *const *extra, size_t n_extra)
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

		if (!f->clean &&
		    (!name_token(f->name, f->name_len) || !value_safe(f->value, f->value_len)))
			return -EINVAL;
		n += f->name_len + 2 + f->value_len + 2;
	}
	/* The layer's own framing fields: constants and numbers. */
	for (size_t i = 0; i < n_extra; i++)
		n += strlen(extra[2 * i]) + 2 + strlen(extra[2 * i + 1]) + 2;
	return n + 2;
}

ssize_t h1_head_len(const struct h1_head *h)
{
	return h1_head_len_extra(h, NULL, 0);
}

static char *put(char *d, const char *s)
{
	size_t n = strlen(s);

	memcpy(d, s, n);
	return d + n;
}

static char *put_n(char *d, const char *s, size_t n)
{
	memcpy(d, s, n);
	return d + n;
}

size_t h1_head_write_extra(const struct h1_head *h, const char *const *extra, size_t n_extra,
			   char *dst)
{
	char *d = dst;

	if (h->method) {
		d = put(d, h->method);
		*d++ = ' ';
		d = put(d, h->target);
		d = put_n(d, " HTTP/1.1\r\n", 11);
	} else {
		unsigned int st = h->status;

		d = put_n(d, "HTTP/1.1 ", 9);
		*d++ = (char)('0' + st / 100);
		*d++ = (char)('0' + st / 10 % 10);
		*d++ = (char)('0' + st % 10);
		*d++ = ' ';
		d = put(d, reason_of(h));
		d = put_n(d, "\r\n", 2);
	}
	for (size_t i = 0; i < h->fields.n; i++) {
		const struct http_field *f = &h->fields.items[i];

		d = put_n(d, f->name, f->name_len);
		d = put_n(d, ": ", 2);
		d = put_n(d, f->value, f->value_len);
		d = put_n(d, "\r\n", 2);
	}
	for (size_t i = 0; i < n_extra; i++) {
		d = put(d, extra[2 * i]);
		d = put_n(d, ": ", 2);
		d = put(d, extra[2 * i + 1]);
		d = put_n(d, "\r\n", 2);
	}
	d = put_n(d, "\r\n", 2);
	return d - dst;
}

size_t h1_head_write(const struct h1_head *h, char *dst)
{
	return h1_head_write_extra(h, NULL, 0, dst);
}

/* Appends @n bytes at *@d when they fit before @end. */
static bool fit(char **d, const char *end, const char *s, size_t n)
{
	if ((size_t)(end - *d) < n)
		return false;
	memcpy(*d, s, n);
	*d += n;
	return true;
}

ssize_t h1_head_format(const struct h1_head *h, const char *const *extra, size_t n_extra, char *dst,
		       size_t cap)
{
	char *d = dst, *end = dst + cap;

	/* The start line is checked here always (a rewrite gives a request a new target). */
	if (h->method) {
		if (!is_token(h->method) || !h->target || !*h->target ||
		    !is_line_safe(h->target, false))
			return -EINVAL;
		if (!fit(&d, end, h->method, strlen(h->method)) || !fit(&d, end, " ", 1) ||
		    !fit(&d, end, h->target, strlen(h->target)) ||
		    !fit(&d, end, " HTTP/1.1\r\n", 11))
			return -ENOSPC;
	} else {
		const char *reason = reason_of(h);
		unsigned int st = h->status;
		char code[5] = {(char)('0' + st / 100 % 10), (char)('0' + st / 10 % 10),
				(char)('0' + st % 10), ' '};

		if (st < 100 || st > 999 || !is_line_safe(reason, true))
			return -EINVAL;
		if (!fit(&d, end, "HTTP/1.1 ", 9) || !fit(&d, end, code, 4) ||
		    !fit(&d, end, reason, strlen(reason)) || !fit(&d, end, "\r\n", 2))
			return -ENOSPC;
	}
	for (size_t i = 0; i < h->fields.n; i++) {
		const struct http_field *f = &h->fields.items[i];

		if (!f->clean &&
		    (!name_token(f->name, f->name_len) || !value_safe(f->value, f->value_len)))
			return -EINVAL;
		if ((size_t)(end - d) < (size_t)f->name_len + f->value_len + 4)
			return -ENOSPC;
		memcpy(d, f->name, f->name_len);
		d += f->name_len;
		*d++ = ':';
		*d++ = ' ';
		memcpy(d, f->value, f->value_len);
		d += f->value_len;
		*d++ = '\r';
		*d++ = '\n';
	}
	for (size_t i = 0; i < n_extra; i++)
		if (!fit(&d, end, extra[2 * i], strlen(extra[2 * i])) || !fit(&d, end, ": ", 2) ||
		    !fit(&d, end, extra[2 * i + 1], strlen(extra[2 * i + 1])) ||
		    !fit(&d, end, "\r\n", 2))
			return -ENOSPC;
	if (!fit(&d, end, "\r\n", 2))
		return -ENOSPC;
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
