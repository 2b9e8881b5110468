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
#include "hbone.h"
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

static struct connrec *on_established(void *arg, struct guard_slot *slot)
{
	struct opened *o = arg;

	if (o->established || o->failed)
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
		while (recv(streams[i].app, buf, sizeof(buf), MSG_DONTWAIT) > 0)
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
	t.addr.sin_family = AF_INET;
	t.addr.sin_addr.s_addr = fuzz_ip4("127.0.0.2");
	t.addr.sin_port = htons(15008);
	if (hbone_seam_client(&s, &t))
		abort();
	for (size_t i = 0; i < n; i++) {
		int sv[2];

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
		close(streams[i].app);
	}
	return 0;
}
