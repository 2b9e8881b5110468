// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the HTTP/2 layer's server side (userspace/http/h2.h) with a plain HTTP/2
 * application on it, as the waypoint will have one: the input is what a client sends (preface
 * included) through the in-memory transport (H2_PIPE) into a real server connection, its
 * nghttp2 session, its streams and its protections (max streams, requests decided after the
 * read, rapid reset, header sizes). The application answers by :path, so that inputs reach
 * every way a stream can end: /echo streams the request body back and ends with trailers,
 * /hold never consumes (backpressure), /reset resets the stream, /close closes the connection
 * from inside the callback, /refuse leaves the request unbound, anything else gets a small body.
 * Input: byte 0 picks the limits (bits 0-1: defaults, 2 streams, 2 early resets, 64-byte header
 * values) and where the rest is cut (bits 2-7, in 16-byte units; loop rounds and the deadline
 * sweep run at the cut); the rest is the client's bytes. Seeds: tests/fuzz/corpus/fuzz_h2/
 * (gen_seeds.c: an nghttp2 client's requests).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "lib/buf.h"
#include "http/h2.h"

#define ECHO_MAX (64u << 10)
#define MAX_STREAMS 128

struct app_stream {
	struct h2_stream *s;
	struct buf echo; /* the request body, to send back */
	bool hold, echoing, ended, in_use;
};

static struct app {
	struct loop *loop;
	struct h2_conn *conn;
	size_t out_bytes;
	struct app_stream st[MAX_STREAMS];
} app;

static void app_stream_end(struct app_stream *a)
{
	buf_free(&a->echo);
	a->in_use = false;
	a->s = NULL;
}

static void on_headers(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		       bool end)
{
	/* Trailers: only looked at. */
	for (size_t i = 0; i < n; i++)
		if (strlen(h[i].name) != h[i].name_len || strlen(h[i].value) != h[i].value_len)
			abort();
}

static void on_data(void *arg, struct h2_stream *s, const uint8_t *data, size_t len)
{
	struct app_stream *a = arg;
	char *p;

	if (a->echoing && a->echo.len + len <= ECHO_MAX &&
	    (p = buf_reserve(&a->echo, len, ECHO_MAX))) {
		memcpy(p, data, len);
		a->echo.len += len;
		h2_stream_resume(s);
	}
	if (!a->hold)
		h2_stream_consume(s, len);
}

static void on_end(void *arg, struct h2_stream *s)
{
	struct app_stream *a = arg;

	a->ended = true;
	h2_stream_resume(s);
}

static void on_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	struct app_stream *a = arg;

	if (!reason || a->s != s)
		abort();
	h2_stream_release(s);
	app_stream_end(a);
}

static ssize_t provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	static const char small[] = "hello from the layer\n";
	struct app_stream *a = arg;
	size_t n;

	if (!a->echoing) {
		n = sizeof(small) - 1 < len ? sizeof(small) - 1 : len;
		memcpy(buf, small, n);
		*eof = true;
		return (ssize_t)n;
	}
	n = a->echo.len < len ? a->echo.len : len;
	if (n) {
		memcpy(buf, buf_head(&a->echo), n);
		buf_consume(&a->echo, n);
	}
	if (!a->echo.len && a->ended) {
		struct h2_header t = H2_HDR("grpc-status", "0");

		h2_submit_trailers(s, &t, 1);
		*eof = true;
	}
	return (ssize_t)n;
}

static const struct h2_stream_ops app_ops = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_end = on_end,
    .on_close = on_close,
    .provide = provide,
};

static void on_request(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		       bool end_stream)
{
	const char *path = h2_header_get(h, n, ":path");
	struct h2_header ct = H2_HDR("content-type", "text/plain");
	struct app_stream *a = NULL;

	if (!path || !strcmp(path, "/refuse"))
		return;
	if (!strcmp(path, "/close")) {
		h2_conn_close(app.conn, "asked to");
		return;
	}
	for (size_t i = 0; i < MAX_STREAMS && !a; i++)
		if (!app.st[i].in_use)
			a = &app.st[i];
	if (!a)
		return;
	*a = (struct app_stream){.s = s, .in_use = true, .ended = end_stream};
	h2_stream_bind(s, &app_ops, a);
	if (!strcmp(path, "/reset")) {
		h2_stream_reset(s, H2_INTERNAL_ERROR);
		return;
	}
	a->hold = !strcmp(path, "/hold");
	a->echoing = !strcmp(path, "/echo");
	if (h2_submit_response(s, 200, &ct, 1, !a->hold))
		abort();
}

static void on_conn_close(void *arg, struct h2_conn *c, const char *reason)
{
	if (c != app.conn || !reason)
		abort();
	app.conn = NULL;
}

static const struct h2_conn_ops conn_ops = {.on_request = on_request, .on_close = on_conn_close};

static ssize_t pipe_write(void *arg, const uint8_t *data, size_t len)
{
	app.out_bytes += len;
	return (ssize_t)len;
}

static const struct h2_pipe_ops pipe_ops = {.write = pipe_write};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_h2", LOG_LEVEL_ERROR);
	return 0;
}

static void step(void)
{
	for (int i = 0; i < 3; i++)
		loop_run_once(app.loop, 0);
	if (app.conn)
		h2_conn_sweep(app.conn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h2_transport t = {.kind = H2_PIPE, .fd = -1, .pipe = &pipe_ops};
	struct h2_config cfg = {.server = true, .ops = &conn_ops};
	struct h2_limits lim;
	size_t cut;

	if (!size)
		return 0;
	h2_limits_default(&lim);
	switch (data[0] & 3) {
	case 1: lim.max_streams = 2; break;
	case 2: lim.max_early_resets = 2; break;
	case 3: lim.max_header_value = 64; break;
	}
	cfg.lim = &lim;
	cut = (size_t)(data[0] >> 2) * 16;
	data++;
	size--;
	if (cut > size)
		cut = size;
	memset(&app, 0, sizeof(app));
	app.loop = loop_create();
	if (!app.loop)
		abort();
	app.conn = h2_conn_create(app.loop, &t, &cfg);
	if (!app.conn)
		abort();
	if (h2_conn_input(app.conn, data, cut) == 0) {
		step();
		if (app.conn && h2_conn_input(app.conn, data + cut, size - cut) == 0)
			step();
	}
	h2_conn_close(app.conn, "done");
	/* Every stream heard of the close and was released: nothing of the app's is left. */
	for (size_t i = 0; i < MAX_STREAMS; i++)
		if (app.st[i].in_use)
			abort();
	loop_run_once(app.loop, 0);
	loop_destroy(app.loop);
	return 0;
}
