// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile HTTP/1.x bytes into the waypoint's parser (userspace/http/http1.c),
 * as requests or responses (the first byte chooses, and where the input is split: llhttp hands
 * spans over in pieces across feeds). Every head the parser hands up must be one the writer
 * either refuses or writes so that it parses back to the same fields: what the waypoint
 * forwards can never be read differently by the next hop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1.h"

struct state {
	bool request;
	size_t body;
};

static int reparse_head(void *user, struct h1_head *h)
{
	return 0;
}

static const struct h1_parser_ops reparse_ops = {reparse_head, NULL, NULL};

/* The written form of @h parses back to one head with the same fields. */
static void check_roundtrip(bool request, const struct h1_head *h)
{
	ssize_t n = h1_head_len(h);
	struct h1_parser *p;
	char *buf;

	if (n < 0)
		return;
	buf = malloc(n);
	p = h1_parser_new(request, &reparse_ops, NULL);
	if (!buf || !p)
		abort();
	if (h1_head_write(h, buf) != (size_t)n)
		abort();
	/* Only the head limits may refuse it: writing adds no bytes the parser counts. */
	if (h1_parser_feed(p, buf, n) < 0 && h1_parser_error_status(p) != 431)
		abort();
	h1_parser_free(p);
	free(buf);
}

static int on_head(void *user, struct h1_head *h)
{
	struct state *s = user;

	check_roundtrip(s->request, h);
	return 0;
}

static int on_body(void *user, const char *d, size_t n)
{
	struct state *s = user;

	s->body += n;
	return 0;
}

static int on_end(void *user)
{
	return 0;
}

static const struct h1_parser_ops ops = {on_head, on_body, on_end};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state s = {0};
	struct h1_parser *p;
	size_t split, off = 0;

	if (size < 1)
		return 0;
	s.request = !(data[0] & 1);
	split = data[0] >> 1;
	data++;
	size--;
	p = h1_parser_new(s.request, &ops, &s);
	if (!p)
		return 0;
	while (off < size) {
		size_t n = split ? split : size;
		ssize_t used;

		if (n > size - off)
			n = size - off;
		used = h1_parser_feed(p, (const char *)data + off, n);
		if (used < 0)
			break;
		if ((size_t)used < n) {
			if (h1_parser_feed(p, "", 0) < 0)
				break;
			/* An upgrade: the rest is not HTTP. */
			break;
		}
		off += n;
	}
	h1_parser_eof(p);
	h1_parser_free(p);
	return 0;
}
