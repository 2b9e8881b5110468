// SPDX-License-Identifier: Apache-2.0
/* The in-process waypoint of the unit tests (wp_mem.h). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/loop.h"
#include "wp_mem.h"

static int open_up(void *arg, struct transport *t, const union sockaddr_inet *dst)
{
	struct wp_mem *w = arg;
	struct wp_mem_backend *b = &w->ups[w->n_ups];

	assert_true(w->n_ups < WP_MEM_MAX_UP);
	w->n_ups++;
	memset(b, 0, sizeof(*b));
	b->t = t;
	b->dst = *dst;
	return 0;
}

/* The value of header @name in the request head @h (NUL-terminated), into @out. */
static void header_of(const char *h, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);

	out[0] = '\0';
	for (const char *p = strstr(h, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n"))
		if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
			const char *v = p + 3 + nl + strspn(p + 3 + nl, " ");

			snprintf(out, len, "%.*s", (int)strcspn(v, "\r"), v);
			return;
		}
}

static void b_serve(struct wp_mem *w, struct wp_mem_backend *b)
{
	const char *d;
	size_t n;
	char body[SOCKADDR_INET_STRLEN], resp[256];
	int k;

	d = transport_mem_output(b->t, &n);
	if (n) {
		assert_true(b->len + n < sizeof(b->in));
		memcpy(b->in + b->len, d, n);
		b->len += n;
		b->in[b->len] = '\0';
		transport_mem_take(b->t, n);
	}
	/* A GET has no body: its head is the request (a pooled connection takes the next). */
	if (!strstr(b->in, "\r\n\r\n"))
		return;
	b->len = 0;
	header_of(b->in, "x-forwarded-for", w->seen_xff, sizeof(w->seen_xff));
	header_of(b->in, "x-envoy-external-address", w->seen_ext, sizeof(w->seen_ext));
	sockaddr_inet_format(&b->dst, body, sizeof(body));
	k = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\n\r\n%s",
		     strlen(body), body);
	transport_mem_input(b->t, resp, (size_t)k);
}

void wp_mem_start(struct wp_mem *w, struct l7_config *l7, struct wp_engine_opts o)
{
	char err[256];

	memset(w, 0, sizeof(*w));
	assert_non_null(l7);
	assert_int_equal(pipe2(w->log, O_NONBLOCK | O_CLOEXEC), 0);
	o.log_fd = w->log[1];
	w->g = wp_gen_new(l7, 1, err, sizeof(err));
	if (!w->g)
		print_error("%s\n", err);
	assert_non_null(w->g);
	w->l = loop_create();
	assert_non_null(w->l);
	w->cn = o.cn = connector_mem_new(w->l, open_up, w);
	w->e = wp_engine_new(w->l, w->g, &o);
	assert_non_null(w->e);
}

void wp_mem_stop(struct wp_mem *w)
{
	wp_engine_destroy(w->e);
	loop_run_once(w->l, 0);
	for (size_t k = 0; k < w->n_ups; k++)
		transport_mem_free(w->ups[k].t);
	connector_destroy(w->cn);
	wp_gen_put(w->g);
	loop_destroy(w->l);
	close(w->log[0]);
	close(w->log[1]);
}

size_t wp_mem_pump(struct wp_mem *w, struct transport *t, char *in, size_t len)
{
	size_t got = 0;

	in[0] = '\0';
	for (int i = 0; i < 64; i++) {
		const char *d;
		size_t k;

		loop_run_once(w->l, 0);
		for (size_t u = 0; u < w->n_ups; u++)
			b_serve(w, &w->ups[u]);
		d = transport_mem_output(t, &k);
		if (k) {
			assert_true(got + k < len);
			memcpy(in + got, d, k);
			got += k;
			in[got] = '\0';
			transport_mem_take(t, k);
		}
	}
	return got;
}

void wp_mem_exchange(struct wp_mem *w, const struct transport_peer *p, const char *req, int *status,
		     char *body, size_t len)
{
	struct transport *t = transport_mem_new(w->l, p);
	static char in[8192];
	size_t got;

	assert_non_null(t);
	assert_int_equal(wp_engine_serve(w->e, t), 0);
	assert_int_equal(transport_mem_input(t, req, strlen(req)), 0);
	w->seen_xff[0] = w->seen_ext[0] = '\0';
	got = wp_mem_pump(w, t, in, sizeof(in));
	assert_true(got > 12);
	*status = atoi(in + 9);
	body[0] = '\0';
	if (strstr(in, "\r\n\r\n"))
		snprintf(body, len, "%s", strstr(in, "\r\n\r\n") + 4);
	transport_mem_input(t, NULL, 0);
	loop_run_once(w->l, 0);
}
