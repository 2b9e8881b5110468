/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A waypoint in process, for the unit tests of what it does with a request: the request engine
 * of an l7 model serves memory transports whose peer is what a CONNECT made of it (worker.c),
 * and its connector's upstream streams are answered by HTTP/1 backends that say where they were
 * opened to ("HTTP/1.1 200" with the address as the body).
 */
#ifndef AMBIT_TEST_WP_MEM_H
#define AMBIT_TEST_WP_MEM_H

#include <stddef.h>

#include "ambit/l7.h"
#include "../../waypoint/config.h"
#include "../../waypoint/engine/proxy.h"
#include "net/sock.h"
#include "net/transport.h"

#define WP_MEM_MAX_UP 16

/* An upstream connection the engine opened, and what it has read of its request. */
struct wp_mem_backend {
	struct transport *t;
	union sockaddr_inet dst;
	char in[4096];
	size_t len;
};

struct wp_mem {
	struct loop *l;
	struct connector *cn;
	struct wp_engine *e;
	struct wp_gen *g;
	int log[2]; /* the engine's access log (o.log_fd), non-blocking */
	struct wp_mem_backend ups[WP_MEM_MAX_UP];
	size_t n_ups;
	char seen_xff[128], seen_ext[64]; /* the last request a backend took: its headers */
};

/*
 * @w (zeroed first) serving the model @l7 (taken) with the engine options @o (its log_fd and cn
 * are the harness's); a failure fails the test with the model's error.
 */
void wp_mem_start(struct wp_mem *w, struct l7_config *l7, struct wp_engine_opts o);
void wp_mem_stop(struct wp_mem *w);
/*
 * The request @req (one HTTP/1.1 head) on a new downstream whose peer is @p: the reply's status
 * into *@status and its body (NUL-terminated, cut to @len) into @body.
 */
void wp_mem_exchange(struct wp_mem *w, const struct transport_peer *p, const char *req, int *status,
		     char *body, size_t len);
/*
 * Runs the loop (the backends answering) a few rounds, collecting what downstream @t wrote
 * into @in (NUL-terminated, @len at most): the bytes collected.
 */
size_t wp_mem_pump(struct wp_mem *w, struct transport *t, char *in, size_t len);

#endif
