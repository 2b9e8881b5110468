// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the ztunnel's client side of HBONE: the input is what the destination
 * node's ztunnel answers after the TLS handshake, into a real pooled client connection
 * (tests/lib/hbone_seam.h) on which hbone_pool_open opened 1 to 3 CONNECT streams, each spliced
 * to an application socket, with an owner (struct hbone_open_ops) as the proxy's retrying
 * outbound path has one. Responses (:status, HEADERS/DATA/RST_STREAM/GOAWAY/SETTINGS/
 * WINDOW_UPDATE in any order) must keep the open contract of hbone.h: per stream exactly one of
 * established/failed runs, once; failed hands back the very socket it was given, is not
 * retryable after a 401 or when the pool goes away; nothing leaks when the pool is destroyed.
 * With 3 streams, the third has an in-process near end instead (hbone_pool_open_end, as the
 * waypoint opens them): it writes only after the 200 and hears of its end exactly once.
 * Input: byte 0 = streams - 1 (bits 0-1, 3 is 3 streams) and where the rest is cut (bits 2-7, in
 * 16-byte units; loop rounds run at the cut); the rest is the server's bytes, its SETTINGS
 * first. Seeds: tests/fuzz/corpus/fuzz_client/ (gen_seeds.c: a real nghttp2 server's answers).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/ca.h"
#include "ambit/log.h"
#include "hbone/hbone.h"
#include "../lib/fuzz_env.h"
#include "../lib/hbone_seam.h"

#define ID_CLIENT "spiffe://cluster.local/ns/demo/sa/client"
#define ID_SERVER "spiffe://cluster.local/ns/demo/sa/web"
#define MAX_STREAMS 3

struct opened {
	int fd;	 /* the socket given to hbone_pool_open (the ztunnel's side) */
	int app; /* the application's end */
	int established, failed;
};

static struct tls_ctx *client_ctx;
static struct opened streams[MAX_STREAMS];

/* The in-process near end: its request once writable, what comes back is dropped. */
static struct {
	struct hbone_stream *s;
	size_t off;
	int closed, status;
} near;

static size_t near_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	if (s != near.s || near.closed)
		abort();
	return len;
}

static void near_eof(void *arg, struct hbone_stream *s)
{
	if (s != near.s || near.closed)
		abort();
}

static void near_writable(void *arg, struct hbone_stream *s)
{
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	ssize_t n;

	/* Only after the 200. */
	if (s != near.s || near.closed || hbone_stream_status(s) != 200)
		abort();
	n = hbone_stream_write(s, req + near.off, sizeof(req) - 1 - near.off);
	if (n > 0)
		near.off += (size_t)n;
	if (near.off == sizeof(req) - 1)
		hbone_stream_shutdown(s);
}

static void near_closed(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	if (s != near.s || near.closed++ || !reason)
		abort();
	near.status = hbone_stream_status(s);
}

static const struct hbone_end_ops near_ops = {
    .data = near_data, .eof = near_eof, .writable = near_writable, .closed = near_closed};

static struct connrec *on_established(void *arg, struct guard_slot *slot,
				      const struct hbone_peer_baggage *peer)
{
	struct opened *o = arg;

	if (o->established || o->failed || !peer)
		abort();
	/* What the peer said of itself lands in metric labels: only a label's characters. */
	for (const char *v = peer->workload; *v; v++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    *v))
			abort();
	o->established++;
	return NULL;
}

static void on_failed(void *arg, int fd, int status, const char *reason, bool retryable)
{
	struct opened *o = arg;

	if (o->established || o->failed || fd != o->fd || !reason)
		abort();
	if (retryable && status == 401)
		abort(); /* a policy refusal is final */
	o->failed++;
	close(fd); /* handed back: ours again */
	o->fd = -1;
}

static const struct hbone_open_ops open_ops = {.established = on_established, .failed = on_failed};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ca_issued is = {0};
	struct ambit_ca *ca;
	char dir[256];

	log_init("fuzz_client", LOG_LEVEL_ERROR);
	/* A mistaken pool key would make hbone_pool_open dial: let it reach nothing. */
	if (fuzz_private_netns("fuzz_client", false) ||
	    fuzz_scratch_dir("fuzz_client", dir, sizeof(dir)))
		exit(1);
	ca = ca_open(dir);
	if (!ca || ca_issue(ca, ID_CLIENT, 3600, &is))
		abort();
	client_ctx = tls_ctx_create(false, is.cert_pem, is.key_pem, ca_root_pem(ca));
	if (!client_ctx)
		abort();
	ca_issued_free(&is);
	ca_destroy(ca);
	return 0;
}

/* The application reads what the streams deliver (discarded) so that they never block. */
static void apps_read(size_t n)
{
	char buf[4096];

	for (size_t i = 0; i < n; i++)
		while (streams[i].app >= 0 &&
		       recv(streams[i].app, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
}

static void step(struct hbone_seam *s, size_t n)
{
	for (int i = 0; i < 3; i++) {
		hbone_seam_step(s, 0);
		apps_read(n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hbone_target t = {.authority = "127.0.0.2:8080",
				 .forwarded_for = "\"127.0.0.3:40000\"",
				 .forwarded_host = "web.demo.svc.cluster.local",
				 .identity = ID_CLIENT,
				 .expect_san = ID_SERVER,
				 .ctx = client_ctx,
				 .ops = &open_ops};
	struct hbone_seam s;
	size_t n, cut;

	if (!size)
		return 0;
	n = (data[0] & 3) == 3 ? 3 : (size_t)(data[0] & 3) + 1;
	cut = (size_t)(data[0] >> 2) * 16;
	data++;
	size--;
	if (cut > size)
		cut = size;
	sockaddr_inet_v4(&t.addr, fuzz_ip4("127.0.0.2"), 15008);
	if (hbone_seam_client(&s, &t))
		abort();
	memset(&near, 0, sizeof(near));
	for (size_t i = 0; i < n; i++) {
		int sv[2];

		if (i == 2) {
			near.s = hbone_pool_open_end(s.pool, &t, &near_ops, NULL, NULL);
			if (!near.s)
				abort();
			streams[i] = (struct opened){.fd = -1, .app = -1, .established = 1};
			continue;
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
			abort();
		streams[i] = (struct opened){.fd = sv[0], .app = sv[1]};
		/* The request the application already sent: read only after the 200. */
		if (send(sv[1], "GET / HTTP/1.1\r\n\r\n", 18, MSG_NOSIGNAL) != 18)
			abort();
		t.ops_arg = &streams[i];
		if (hbone_pool_open(s.pool, &t, sv[0], NULL))
			abort();
	}
	/* Every stream rode the seam's connection: no second one was dialled. */
	if (hbone_pool_size(s.pool) != 1)
		abort();
	step(&s, n); /* the CONNECTs go out */
	if (hbone_seam_feed(&s, data, cut) == 0) {
		step(&s, n);
		if (hbone_seam_feed(&s, data + cut, size - cut) == 0)
			step(&s, n);
	}
	hbone_seam_close(&s);
	for (size_t i = 0; i < n; i++) {
		/* The pool is gone: every stream has been decided, exactly once. */
		if (streams[i].established + streams[i].failed != 1)
			abort();
		if (streams[i].failed && streams[i].fd != -1)
			abort();
		if (streams[i].app >= 0)
			close(streams[i].app);
	}
	/* The near end heard of its end, once, whatever the server said. */
	if (n == 3 && near.closed != 1)
		abort();
	return 0;
}
