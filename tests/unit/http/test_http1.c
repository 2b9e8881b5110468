// SPDX-License-Identifier: Apache-2.0
/* HTTP/1.x parsing and writing (userspace/http/http1.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http1.h"

/* What the callbacks saw. */
struct rec {
	int heads, ends;
	struct h1_head head; /* the last head, taken from the parser */
	char body[4096];
	size_t body_len;
	int pause_head, pause_end;
};

static int rec_head(void *user, struct h1_head *h)
{
	struct rec *r = user;

	h1_head_free(&r->head);
	r->head = *h;
	memset(h, 0, sizeof(*h));
	r->heads++;
	return r->pause_head ? H1_PAUSE : 0;
}

static int rec_body(void *user, const char *d, size_t n)
{
	struct rec *r = user;

	assert_true(r->body_len + n <= sizeof(r->body));
	memcpy(r->body + r->body_len, d, n);
	r->body_len += n;
	return 0;
}

static int rec_end(void *user)
{
	struct rec *r = user;

	r->ends++;
	return r->pause_end ? H1_PAUSE : 0;
}

static const struct h1_parser_ops rec_ops = {rec_head, rec_body, rec_end};

static ssize_t feed_str(struct h1_parser *p, const char *s)
{
	return h1_parser_feed(p, s, strlen(s));
}

/* Fed one byte at a time, a request is parsed exactly as in one piece. */
static void test_request_bytewise(void **state)
{
	const char *req = "POST /api/v1?x=1 HTTP/1.1\r\nHost: reviews:9080\r\nX-Tag:  a b  \r\n"
			  "End-User: jason\r\nContent-Length: 5\r\n\r\nhello";
	struct rec r = {0};
	struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);

	assert_non_null(p);
	for (size_t i = 0; req[i]; i++)
		assert_int_equal(h1_parser_feed(p, req + i, 1), 1);
	assert_int_equal(r.heads, 1);
	assert_int_equal(r.ends, 1);
	assert_string_equal(r.head.method, "POST");
	assert_string_equal(r.head.target, "/api/v1?x=1");
	assert_int_equal(r.head.minor, 1);
	assert_string_equal(http_fields_get(&r.head.fields, "host"), "reviews:9080");
	/* Names lower-cased, surrounding whitespace of a value dropped, inner kept. */
	assert_string_equal(r.head.fields.items[1].name, "x-tag");
	assert_string_equal(r.head.fields.items[1].value, "a b");
	assert_string_equal(http_fields_get(&r.head.fields, "end-user"), "jason");
	assert_int_equal(r.head.framing, H1_FRAMING_LENGTH);
	assert_int_equal(r.head.content_length, 5);
	assert_true(r.head.keep_alive);
	assert_memory_equal(r.body, "hello", 5);
	assert_true(h1_parser_idle(p));
	h1_head_free(&r.head);
	h1_parser_free(p);
}

/*
 * Released between messages, a parser reads the next one as before; inside one (a request line
 * half received) the release keeps what it collected.
 */
static void test_release(void **state)
{
	struct rec r = {.pause_end = 1};
	struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);

	assert_non_null(p);
	h1_parser_release(p); /* nothing held yet */
	assert_int_equal(feed_str(p, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), 28);
	assert_int_equal(r.ends, 1);
	h1_parser_release(p);
	h1_parser_resume(p);
	assert_int_equal(feed_str(p, "GET /b HT"), 9);
	h1_parser_release(p); /* the line so far stays */
	assert_int_equal(feed_str(p, "TP/1.1\r\nHost: y\r\n\r\n"), 19);
	assert_int_equal(r.ends, 2);
	assert_string_equal(r.head.target, "/b");
	assert_string_equal(http_fields_get(&r.head.fields, "host"), "y");
	h1_head_free(&r.head);
	h1_parser_free(p);
}

/* Chunk framing is removed and trailers dropped; HTTP/1.0 does not keep the connection. */
static void test_chunked_and_http10(void **state)
{
	struct rec r = {0};
	struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);

	assert_true(feed_str(p, "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n") > 0);
	assert_int_equal(r.head.framing, H1_FRAMING_CHUNKED);
	assert_int_equal(r.body_len, 5);
	assert_memory_equal(r.body, "abcde", 5);
	assert_int_equal(r.ends, 1);
	assert_true(feed_str(p, "GET / HTTP/1.0\r\n\r\n") > 0);
	assert_int_equal(r.head.minor, 0);
	assert_false(r.head.keep_alive);
	assert_int_equal(r.head.framing, H1_FRAMING_NONE);
	h1_head_free(&r.head);
	h1_parser_free(p);
}

/* Record of every head's method and target, for pipelines read without a pause. */
struct lines {
	int n;
	char method[4][16], target[4][32];
};

static int lines_head(void *user, struct h1_head *h)
{
	struct lines *l = user;

	if (l->n < 4) {
		snprintf(l->method[l->n], sizeof(l->method[0]), "%s", h->method);
		snprintf(l->target[l->n], sizeof(l->target[0]), "%s", h->target);
	}
	l->n++;
	return 0;
}

static const struct h1_parser_ops lines_ops = {lines_head, NULL, NULL};

/*
 * A caller that does not pause at a request's end still gets each pipelined request's own
 * line, in any split (found by fuzz_http1: llhttp read the second line itself and the head
 * took the first one's leftovers as its method and target).
 */
static void test_pipelining_no_pause(void **state)
{
	const char *three = "GET /a HTTP/1.1\r\nHost: jxxxxxxxxxxxxxxxxxxh\r\n\r\n"
			    "\r\nPOST /b HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"
			    "DELETE /c HTTP/1.0\r\n\r\n";
	size_t len = strlen(three);

	for (size_t split = 1; split <= len; split++) {
		struct lines l = {0};
		struct h1_parser *p = h1_parser_new(true, &lines_ops, &l);

		for (size_t off = 0; off < len; off += split) {
			size_t n = len - off < split ? len - off : split;

			assert_int_equal(h1_parser_feed(p, three + off, n), (ssize_t)n);
		}
		assert_int_equal(l.n, 3);
		assert_string_equal(l.method[0], "GET");
		assert_string_equal(l.target[0], "/a");
		assert_string_equal(l.method[1], "POST");
		assert_string_equal(l.target[1], "/b");
		assert_string_equal(l.method[2], "DELETE");
		assert_string_equal(l.target[2], "/c");
		h1_parser_free(p);
	}
}

/* A pause at the end of a message leaves a pipelined request unconsumed until resumed. */
static void test_pipelining_pause(void **state)
{
	const char *two = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	size_t first = strlen("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	struct rec r = {.pause_end = 1};
	struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);
	ssize_t n = feed_str(p, two);

	assert_int_equal(n, first);
	assert_string_equal(r.head.target, "/a");
	h1_parser_resume(p);
	assert_int_equal(feed_str(p, two + n), strlen(two) - first);
	assert_string_equal(r.head.target, "/b");
	assert_int_equal(r.ends, 2);
	h1_head_free(&r.head);
	h1_parser_free(p);
}

/* A pause at the head leaves the body unconsumed: the proxy routes before it reads on. */
static void test_pause_at_head(void **state)
{
	const char *req = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
	struct rec r = {.pause_head = 1};
	struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);
	ssize_t n = feed_str(p, req);

	assert_int_equal(n, strlen(req) - 3);
	assert_int_equal(r.body_len, 0);
	h1_parser_resume(p);
	assert_int_equal(feed_str(p, req + n), 3);
	assert_int_equal(r.body_len, 3);
	assert_int_equal(r.ends, 1);
	h1_head_free(&r.head);
	h1_parser_free(p);
}

static void expect_refused(const char *input, int status, const char *why)
{
	struct rec r = {0};
	struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);

	assert_int_equal(feed_str(p, input), -EPROTO);
	assert_int_equal(h1_parser_error_status(p), status);
	if (!strstr(h1_parser_error(p), why))
		fail_msg("error '%s' lacks '%s'", h1_parser_error(p), why);
	/* A refused parser stays refused. */
	assert_int_equal(feed_str(p, "GET / HTTP/1.1\r\n\r\n"), -EPROTO);
	h1_head_free(&r.head);
	h1_parser_free(p);
}

static void expect_refused_response(const char *input, const char *why)
{
	struct rec r = {0};
	struct h1_parser *p = h1_parser_new(false, &rec_ops, &r);

	assert_int_equal(feed_str(p, input), -EPROTO);
	if (!strstr(h1_parser_error(p), why))
		fail_msg("error '%s' lacks '%s'", h1_parser_error(p), why);
	assert_int_equal(r.heads, 0);
	h1_head_free(&r.head);
	h1_parser_free(p);
}

/*
 * An obs-fold is refused however the bytes arrive: llhttp keeps the CRLF in the value only when
 * the fold is inside one buffer (a fold unfolded here would be read differently by the next hop).
 */
static void test_fold_split(void **state)
{
	static const char req[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n  x\r\n\r\n";

	for (size_t split = 1; split < sizeof(req); split++) {
		struct rec r = {0};
		struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);
		ssize_t got = 0;

		for (size_t off = 0; off < sizeof(req) - 1 && got >= 0; off += split) {
			size_t n = sizeof(req) - 1 - off < split ? sizeof(req) - 1 - off : split;

			got = h1_parser_feed(p, req + off, n);
		}
		if (got != -EPROTO || !strstr(h1_parser_error(p), "obsolete line folding"))
			fail_msg("split %zu: %zd '%s'", split, got, h1_parser_error(p));
		assert_int_equal(h1_parser_error_status(p), 400);
		h1_head_free(&r.head);
		h1_parser_free(p);
	}
}

/* What request smuggling needs is refused, and heads are bounded as Envoy bounds them. */
static void test_refusals(void **state)
{
	static char big[200 * 1024];
	size_t off;

	expect_refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		       400, "malformed HTTP/1 request");
	expect_refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400,
		       "malformed");
	expect_refused("GET / HTTP/1.1\nHost: h\n\n", 400, "malformed");
	expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
		       "malformed");
	expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked, x\r\n\r\n", 400,
		       "malformed");
	/* Any coding but chunked: 501, as Envoy (it would be dropped while re-framing). */
	expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
		       "other than chunked");
	expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501,
		       "other than chunked");
	expect_refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
		       "HTTP/1.0 request: Transfer-Encoding");
	expect_refused("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400, "header name 'Bad Name'");
	expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", 400, "malformed");
	/* RFC 9112 §3.2: exactly one Host. */
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host");
	/* Request lines are read here: HTTP/0.9 at once, HTTP/2+ is 505, and no loose spacing. */
	expect_refused("GET /\r\n", 400, "HTTP/0.9");
	expect_refused("PAUSE /P/1.1\r\nt: H\r\n\r\n", 400, "HTTP/0.9");
	expect_refused("GET / HTTP/2.0\r\n\r\n", 505, "HTTP/2.0");
	expect_refused("GET  / HTTP/1.1\r\n\r\n", 400, "request line");
	expect_refused("GET / HTTP/1.1 \r\n\r\n", 400, "version");
	expect_refused("GE(T / HTTP/1.1\r\n\r\n", 400, "method");
	expect_refused("GET /\x80 HTTP/1.1\r\n\r\n", 400, "target");
	expect_refused("GET / http/1.1\r\n\r\n", 400, "version");
	expect_refused("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400, "empty lines");
	/* A length or chunk size past 2^63: hops that hold it signed would read it otherwise. */
	expect_refused("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", 400,
		       "Content-Length too large");
	expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
		       400, "chunk size too large");
	off = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= (int)HTTP_MAX_FIELDS; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off, "x-%d: v\r\n", i);
	snprintf(big + off, sizeof(big) - off, "\r\n");
	expect_refused(big, 431, "too many header fields");
	off = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nx-big: ");
	memset(big + off, 'a', 70 * 1024);
	snprintf(big + off + 70 * 1024, sizeof(big) - off - 70 * 1024, "\r\n\r\n");
	expect_refused(big, 431, "head too large");
}

/* Responses: framing by status and headers, HEAD, EOF-delimited bodies and truncation. */
static void test_responses(void **state)
{
	struct rec r = {0};
	struct h1_parser *p = h1_parser_new(false, &rec_ops, &r);

	assert_true(feed_str(p, "HTTP/1.1 204 No Content\r\n\r\n") > 0);
	assert_int_equal(r.head.status, 204);
	assert_string_equal(r.head.reason, "No Content");
	assert_int_equal(r.head.framing, H1_FRAMING_NONE);
	/* A HEAD's response announces a body that does not follow. */
	h1_parser_expect_no_body(p);
	assert_true(feed_str(p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") > 0);
	assert_int_equal(r.head.framing, H1_FRAMING_LENGTH);
	assert_true(r.head.no_body);
	assert_int_equal(r.ends, 2);
	assert_true(feed_str(p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") > 0);
	assert_int_equal(r.ends, 3);
	/* No length: the body runs to EOF, which completes it. */
	assert_true(feed_str(p, "HTTP/1.1 200 OK\r\n\r\nuntil close") > 0);
	assert_int_equal(r.head.framing, H1_FRAMING_EOF);
	assert_int_equal(r.ends, 3);
	assert_int_equal(h1_parser_eof(p), 0);
	assert_int_equal(r.ends, 4);
	h1_parser_free(p);
	h1_head_free(&r.head);

	memset(&r, 0, sizeof(r));
	p = h1_parser_new(false, &rec_ops, &r);
	assert_true(feed_str(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort") > 0);
	assert_int_equal(h1_parser_eof(p), -EPROTO);
	assert_non_null(strstr(h1_parser_error(p), "connection closed inside"));
	h1_parser_free(p);
	h1_head_free(&r.head);
}

/*
 * The bytes fed are the caller's only for the call (a transport reuses its buffer): a span cut
 * across feeds must have been copied. Fed from one reused byte, overwritten after each call.
 */
static void test_spans_across_feeds(void **state)
{
	const char *req = "PUT /a/b HTTP/1.1\r\nHost: reviews:9080\r\nX-Long-Name: some value\r\n"
			  "Content-Length: 2\r\n\r\nok";
	struct rec r = {0};
	struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);
	char one;

	for (size_t i = 0; req[i]; i++) {
		one = req[i];
		assert_int_equal(h1_parser_feed(p, &one, 1), 1);
		one = 'X';
	}
	assert_int_equal(r.ends, 1);
	assert_string_equal(r.head.method, "PUT");
	assert_string_equal(r.head.target, "/a/b");
	assert_string_equal(http_fields_get(&r.head.fields, "host"), "reviews:9080");
	assert_string_equal(http_fields_get(&r.head.fields, "x-long-name"), "some value");
	assert_memory_equal(r.body, "ok", 2);
	h1_parser_free(p);
	h1_head_free(&r.head);
}

/*
 * Request lines llhttp would refuse or wait on: extension methods (RFC 9110 §9.1) and HTTP/1.2
 * (RFC 9112 §2.3, read as 1.1) are forwarded; an empty line or two before a request is skipped.
 */
static void test_request_lines(void **state)
{
	static const char *const ok[][3] = {
	    {"FOO /x HTTP/1.1\r\nHost: h\r\n\r\n", "FOO", "/x"},
	    {"PURGE-ALL /x HTTP/1.1\r\nHost: h\r\n\r\n", "PURGE-ALL", "/x"},
	    {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*"},
	    {"GET http://h:80/a?b HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "http://h:80/a?b"},
	    {"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", "CONNECT", "h:443"},
	    {"GET / HTTP/1.1\r\nHost: b.example.com:\r\n\r\n", "GET", "/"},
	    {"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "GET", "/"},
	    {"GET / HTTP/1.1\r\nHost: a%2Db.example\r\n\r\n", "GET", "/"},
	    {"get / HTTP/1.1\r\nHost: h\r\n\r\n", "get", "/"},
	    {"PROPFIND /d HTTP/1.1\r\nHost: h\r\n\r\n", "PROPFIND", "/d"},
	    {"\r\nGET /after-crlf HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/after-crlf"},
	    {"GET /v12 HTTP/1.2\r\nHost: h\r\n\r\n", "GET", "/v12"},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct rec r = {0};
		struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);

		/* Byte by byte too: the line is collected across reads. */
		for (size_t j = 0; ok[i][0][j]; j++)
			assert_int_equal(h1_parser_feed(p, ok[i][0] + j, 1), 1);
		assert_int_equal(r.ends, 1);
		assert_string_equal(r.head.method, ok[i][1]);
		assert_string_equal(r.head.target, ok[i][2]);
		assert_int_equal(r.head.minor, 1);
		h1_parser_free(p);
		h1_head_free(&r.head);
	}
}

/*
 * Targets and hosts a rule could be walked around with (issue 38 §1.2-1.4): a fragment, a target
 * not in origin-form, asterisk-form but for OPTIONS, user-info or a character no host holds in
 * Host or an absolute-form target. 400 before anyone routes or judges them.
 */
static void test_targets_and_hosts(void **state)
{
	static const char *const bad[][2] = {
	    {"GET /admin#x HTTP/1.1\r\nHost: h\r\n\r\n", "fragment"},
	    {"GET /#/admin HTTP/1.1\r\nHost: h\r\n\r\n", "fragment"},
	    {"GET admin HTTP/1.1\r\nHost: h\r\n\r\n", "origin-form"},
	    {"GET \\admin HTTP/1.1\r\nHost: h\r\n\r\n", "origin-form"},
	    {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", "asterisk-form"},
	    {"GET ftp://h/a HTTP/1.1\r\nHost: h\r\n\r\n", "origin-form"},
	    {"GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", "no authority"},
	    {"GET http://x@b.example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", "user-info"},
	    {"GET / HTTP/1.1\r\nHost: x@b.example.com\r\n\r\n", "user-info"},
	    {"GET / HTTP/1.1\r\nHost: b.example.com/x\r\n\r\n", "character no host holds"},
	    {"GET / HTTP/1.1\r\nHost: b\"example\r\n\r\n", "character no host holds"},
	    {"GET / HTTP/1.1\r\nHost: b.example.com:8x\r\n\r\n", "port"},
	    {"GET / HTTP/1.1\r\nHost: b.example.com:65536\r\n\r\n", "port"},
	    {"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", "no host"},
	    {"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", "IPv6"},
	    {"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", "percent"},
	    {"CONNECT x@h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", "user-info"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i][0], 400, bad[i][1]);
}

/* RFC 9112 §6.3: a 204 or 304 ends with its head, whatever its Content-Length says. */
static void test_bodiless_statuses(void **state)
{
	const char *in = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello";
	struct rec r = {0};
	struct h1_parser *p = h1_parser_new(false, &rec_ops, &r);

	/* Everything is taken (no pause asked), but "hello" is no body: a next response's bytes. */
	assert_int_equal(feed_str(p, in), -EPROTO);
	assert_int_equal(r.heads, 1);
	assert_int_equal(r.ends, 1);
	assert_int_equal(r.head.framing, H1_FRAMING_NONE);
	assert_int_equal(r.body_len, 0);
	h1_parser_free(p);
	h1_head_free(&r.head);
	/* A HEAD's response keeps the framing it announces (the client gets its length). */
	memset(&r, 0, sizeof(r));
	p = h1_parser_new(false, &rec_ops, &r);
	h1_parser_expect_no_body(p);
	assert_true(feed_str(p, "HTTP/1.1 100 Continue\r\n\r\n") > 0);
	assert_true(feed_str(p, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n") > 0);
	assert_int_equal(r.head.framing, H1_FRAMING_LENGTH);
	assert_int_equal(r.head.content_length, 1234);
	assert_true(r.head.no_body);
	assert_int_equal(r.ends, 2);
	h1_parser_free(p);
	h1_head_free(&r.head);
	expect_refused_response("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", "out of range");
	expect_refused_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
				"other than chunked");
}

/* CONNECT and an Upgrade stop the parser at the end of the head: the rest is not HTTP. */
static void test_upgrade(void **state)
{
	const char *c = "CONNECT svc:80 HTTP/1.1\r\nHost: svc:80\r\n\r\nRAW BYTES";
	struct rec r = {0};
	struct h1_parser *p = h1_parser_new(true, &rec_ops, &r);

	assert_int_equal(feed_str(p, c), strlen(c) - strlen("RAW BYTES"));
	assert_true(r.head.upgrade);
	assert_string_equal(r.head.target, "svc:80");
	assert_int_equal(feed_str(p, "RAW"), 0);
	h1_head_free(&r.head);
	h1_parser_free(p);
}

/* Written heads parse back to the same message; injections and bad names are refused. */
static void test_write(void **state)
{
	struct h1_head h = {0};
	struct rec r = {0};
	struct h1_parser *p;
	char buf[512], line[20];
	ssize_t n;

	h.method = h1_head_strdup(&h, "GET");
	h.target = h1_head_strdup(&h, "/productpage");
	assert_int_equal(http_fields_add(&h.fields, "host", "productpage:9080"), 0);
	assert_int_equal(http_fields_add(&h.fields, "x-b3", "1"), 0);
	n = h1_head_len(&h);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	assert_int_equal(h1_head_write(&h, buf), n);
	p = h1_parser_new(true, &rec_ops, &r);
	assert_int_equal(h1_parser_feed(p, buf, n), n);
	assert_string_equal(r.head.target, "/productpage");
	assert_string_equal(http_fields_get(&r.head.fields, "host"), "productpage:9080");
	assert_int_equal(r.head.fields.n, 2);
	h1_parser_free(p);
	h1_head_free(&r.head);

	assert_int_equal(http_fields_add(&h.fields, "x-evil", "a\r\nx-injected: 1"), 0);
	assert_int_equal(h1_head_len(&h), -EINVAL);
	http_fields_remove(&h.fields, "x-evil");
	assert_int_equal(http_fields_add(&h.fields, "bad name", "v"), 0);
	assert_int_equal(h1_head_len(&h), -EINVAL);
	h1_head_free(&h);

	/* A response with no reason gets RFC 9110's. */
	h.status = 503;
	n = h1_head_len(&h);
	assert_int_equal(h1_head_write(&h, buf), n);
	assert_memory_equal(buf, "HTTP/1.1 503 Service Unavailable\r\n\r\n", n);
	h.status = 42;
	assert_int_equal(h1_head_len(&h), -EINVAL);
	h1_head_free(&h);
	assert_int_equal(h1_chunk_line(255, line), 4);
	assert_memory_equal(line, "ff\r\n", 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_bytewise),
	    cmocka_unit_test(test_release),
	    cmocka_unit_test(test_chunked_and_http10),
	    cmocka_unit_test(test_pipelining_pause),
	    cmocka_unit_test(test_pipelining_no_pause),
	    cmocka_unit_test(test_pause_at_head),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_fold_split),
	    cmocka_unit_test(test_responses),
	    cmocka_unit_test(test_upgrade),
	    cmocka_unit_test(test_request_lines),
	    cmocka_unit_test(test_targets_and_hosts),
	    cmocka_unit_test(test_spans_across_feeds),
	    cmocka_unit_test(test_bodiless_statuses),
	    cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
