// SPDX-License-Identifier: Apache-2.0
/*
 * CUSTOM AuthorizationPolicy: the external authorizer asked over HTTP, as Envoy's ext_authz
 * filter in raw HTTP mode does for Istio's envoyExtAuthzHttp provider, or over gRPC for
 * envoyExtAuthzGrpc (below). The HTTP check request has
 * the request's method, pathPrefix + its path, its Host, and only the fields the provider lets
 * through (includeRequestHeadersInCheck, Envoy's own: authorization, and the
 * includeAdditionalHeadersInCheck ones), with no body. A 2xx answer lets the request go on to
 * the DENY and ALLOW policies, with headersToUpstreamOnAllow copied onto it (and
 * headersToDownstreamOnAllow onto its response); any other status
 * is the client's answer, with its body and headersToDownstreamOnDeny (UAEX); a failure or the
 * provider's timeout (600 s by default, as Istio) allows when failOpen, else answers
 * statusOnError (403).
 *
 * gRPC: a unary call of envoy.service.auth.v3.Authorization/Check (extauthz_grpc.h) on a
 * stream of the worker's pooled HTTP/2 connections to the provider (proxy_h2up.c: h2c with
 * prior knowledge through the engine's connector, as the HTTP provider is reached), many checks
 * sharing one connection. The CheckRequest carries the request's method, path, Host, scheme,
 * protocol, id and every field, and both peers' addresses and the client's principal, no body;
 * grpc-timeout says the provider's timeout, which the waypoint keeps too. grpc-status 0 with
 * status.code 0 lets the request on with ok_response's header operations; another code is the
 * client's answer (denied_response's status, 403 by default, headers and body; UAEX); any other
 * outcome (no connection, a reset, a timeout, an HTTP status but 200, grpc-status not 0, an
 * answer that is not one CheckResponse, error_response) is an error, as over HTTP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ambit/log.h"
#include "../extauthz_grpc.h"
#include "proxy_priv.h"

#define CHECK_BODY_MAX (64u << 10)
#define DEFAULT_TIMEOUT_MS 600000u

struct wp_extauthz {
	struct wp_engine *e;
	struct wp_req *r; /* NULL once the request was answered */
	const struct l7_ext_authz *p;
	struct wp_upstream *up;
	struct h1_pool_wait w;
	struct h1_client *c;
	struct loop_timer timer;
	struct h1_head head; /* the check request */
	struct h1_head resp; /* its answer */
	struct buf body;     /* the answer's body, up to CHECK_BODY_MAX; over gRPC, its message */
	bool got_response;
	/* gRPC */
	struct wp_h2up *h2;
	struct h2_stream *s;
	uint8_t *msg; /* the CheckRequest message, sent from msg_sent on */
	size_t msg_len, msg_sent;
	int http_status, grpc_status; /* -1: not said yet */
	bool too_long;
};

static bool in_list(const struct config_strings *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcasecmp(l->items[i], name))
			return true;
	return false;
}

static void xa_free(struct wp_extauthz *x, bool reuse)
{
	loop_timer_cancel(x->e->loop, &x->timer);
	h1_pool_cancel(&x->w);
	if (x->s)
		wp_h2up_call_end(x->h2, x->s);
	free(x->msg);
	if (x->c)
		h1_pool_put(x->c, reuse, !reuse);
	if (x->up)
		h1_pool_request_done(x->up->pool);
	if (x->r)
		x->r->extauthz = NULL;
	h1_head_free(&x->head);
	h1_head_free(&x->resp);
	buf_free(&x->body);
	free(x);
}

/* The authorizer could not answer: failOpen, or statusOnError (403) with UAEX. */
static void xa_failed(struct wp_extauthz *x, const char *why)
{
	struct wp_req *r = x->r;
	bool open = x->p->x.fail_open;
	int status = x->p->x.status_on_error ? x->p->x.status_on_error : 403;

	pr_debug("ext_authz %s: %s", x->p->name, why);
	xa_free(x, false);
	if (open) {
		wp_authz_custom_done(r, true);
		return;
	}
	wp_req_flag(r, "UAEX");
	r->details = "ext_authz_error";
	wp_req_answer(r, status, "", 0, NULL, 0);
}

static void xa_response(void *arg, struct h1_head *head)
{
	struct wp_extauthz *x = arg;

	x->resp = *head;
	memset(head, 0, sizeof(*head));
	x->got_response = true;
}

static void xa_body(void *arg, const char *data, size_t len)
{
	struct wp_extauthz *x = arg;
	size_t room = CHECK_BODY_MAX > x->body.len ? CHECK_BODY_MAX - x->body.len : 0;

	size_t n = len < room ? len : room;
	char *dst = n ? buf_reserve(&x->body, n, CHECK_BODY_MAX) : NULL;

	if (dst) {
		memcpy(dst, data, n);
		x->body.len += n;
	}
}

static void xa_drain(void *arg)
{
}

static void xa_end(void *arg)
{
	struct wp_extauthz *x = arg;
	struct wp_req *r = x->r;
	const struct config_ext_authz *p = &x->p->x;
	int status = x->resp.status;

	if (status >= 200 && status < 300) {
		/*
		 * Allowed: the provider's headersToUpstreamOnAllow go with the request, its
		 * headersToDownstreamOnAllow with the response.
		 */
		for (size_t i = 0; i < x->resp.fields.n; i++) {
			const struct http_field *f = &x->resp.fields.items[i];

			if (in_list(&p->headers_to_upstream_on_allow, f->name))
				http_fields_set(&r->head.fields, f->name, f->value);
			if (in_list(&p->headers_to_downstream_on_allow, f->name))
				http_fields_set(&r->down_allow, f->name, f->value);
		}
		xa_free(x, true);
		wp_authz_custom_done(r, true);
		return;
	}
	{
		const char *extra[2 * 32];
		size_t n = 0;

		for (size_t i = 0; i < x->resp.fields.n && n < 32; i++) {
			const struct http_field *f = &x->resp.fields.items[i];

			if (in_list(&p->headers_to_downstream_on_deny, f->name)) {
				extra[2 * n] = f->name;
				extra[2 * n++ + 1] = f->value;
			}
		}
		/* The answer ends the request: the check lets go of it first. */
		r->extauthz = NULL;
		x->r = NULL;
		wp_req_flag(r, "UAEX");
		r->details = "ext_authz_denied";
		wp_req_answer(r, status ? status : 403, buf_head(&x->body), x->body.len, extra, n);
		xa_free(x, true);
	}
}

static void xa_error(void *arg, int err)
{
	struct wp_extauthz *x = arg;

	xa_failed(x, strerror(-err));
}

static const struct h1_client_ops xa_ops = {
    .on_response = xa_response,
    .on_body = xa_body,
    .on_end = xa_end,
    .on_drain = xa_drain,
    .on_error = xa_error,
};

static void xa_ready(struct h1_pool_wait *w, struct h1_client *c)
{
	struct wp_extauthz *x = (struct wp_extauthz *)((char *)w - offsetof(struct wp_extauthz, w));

	x->c = c;
	h1_client_bind(c, &xa_ops, x);
	if (h1_client_request(c, &x->head, H1_FRAMING_LENGTH, 0) || h1_client_end(c))
		xa_failed(x, "cannot send the check");
}

static void xa_fail(struct h1_pool_wait *w, int err)
{
	struct wp_extauthz *x = (struct wp_extauthz *)((char *)w - offsetof(struct wp_extauthz, w));

	xa_failed(x, "cannot connect");
}

static void xa_timeout(struct loop_timer *t)
{
	struct wp_extauthz *x =
	    (struct wp_extauthz *)((char *)t - offsetof(struct wp_extauthz, timer));

	xa_failed(x, "timeout");
}

/* The check request: method, pathPrefix + path, Host, and the fields the provider allows. */
static int check_head(struct wp_extauthz *x)
{
	const struct wp_req *r = x->r;
	const struct config_ext_authz *p = &x->p->x;
	const struct http_fields *f = &r->head.fields;
	char *target;
	int err = 0;

	if (asprintf(&target, "%s%s", p->path_prefix ? p->path_prefix : "", r->head.target) < 0)
		return -ENOMEM;
	x->head.method = h1_head_strdup(&x->head, r->head.method);
	x->head.target = h1_head_strdup(&x->head, target);
	free(target);
	x->head.minor = 1;
	if (!x->head.method || !x->head.target)
		return -ENOMEM;
	err = http_fields_set(&x->head.fields, "host", r->authority ? r->authority : "");
	for (size_t i = 0; !err && i < f->n; i++) {
		const struct http_field *h = &f->items[i];

		if (!strcmp(h->name, "authorization") ||
		    in_list(&p->include_request_headers_in_check, h->name))
			err = http_fields_add(&x->head.fields, h->name, h->value);
	}
	for (size_t i = 0; !err && i < p->include_additional_headers_in_check.n; i++)
		err = http_fields_set(&x->head.fields,
				      p->include_additional_headers_in_check.items[i].key,
				      p->include_additional_headers_in_check.items[i].value);
	return err;
}

/* ---- gRPC ---- */

static void grpc_headers(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
			 bool end_stream)
{
	struct wp_extauthz *x = arg;
	const char *st = h2_header_get(h, n, ":status"), *gs = h2_header_get(h, n, "grpc-status");

	if (x->http_status < 0 && st)
		x->http_status = atoi(st);
	/* In the trailers, or in the headers of a trailers-only answer. */
	if (gs)
		x->grpc_status = atoi(gs);
	if (gs && strcmp(gs, "0"))
		pr_debug("ext_authz %s: grpc-status %s: %s", x->p->name, gs,
			 h2_header_get(h, n, "grpc-message") ?: "");
}

static void grpc_data(void *arg, struct h2_stream *s, const uint8_t *data, size_t len)
{
	struct wp_extauthz *x = arg;
	char *dst = x->too_long ? NULL : buf_reserve(&x->body, len, XA_GRPC_ANSWER_MAX);

	if (dst) {
		memcpy(dst, data, len);
		x->body.len += len;
	} else {
		x->too_long = true;
	}
	h2_stream_consume(s, len);
}

/* A denial: the answer's status, headers and body are the client's (UAEX). */
static void grpc_denied(struct wp_extauthz *x, const struct xa_grpc_answer *a)
{
	struct wp_req *r = x->r;
	struct http_fields f = {0};
	const char **extra = NULL;
	size_t n = 0;

	if (!xa_grpc_reply_fields(a, &f) && f.n && (extra = calloc(2 * f.n, sizeof(*extra))))
		for (; n < f.n; n++) {
			extra[2 * n] = f.items[n].name;
			extra[2 * n + 1] = f.items[n].value;
		}
	r->extauthz = NULL;
	x->r = NULL;
	wp_req_flag(r, "UAEX");
	r->details = "ext_authz_denied";
	wp_req_answer(r, a->status, a->body, a->body_len, extra, n);
	free(extra);
	http_fields_free(&f);
	xa_free(x, true);
}

static void grpc_end(void *arg, struct h2_stream *s)
{
	struct wp_extauthz *x = arg;
	struct wp_req *r = x->r;
	struct xa_grpc_answer a;
	char why[64];
	int err;

	if (x->http_status != 200 || x->grpc_status != 0 || x->too_long) {
		snprintf(why, sizeof(why), "HTTP status %d, grpc-status %d%s", x->http_status,
			 x->grpc_status, x->too_long ? ", answer too long" : "");
		xa_failed(x, why);
		return;
	}
	err = xa_grpc_decode((const uint8_t *)buf_head(&x->body), x->body.len, &a);
	if (err) {
		xa_failed(x, err == -ENOMEM ? "out of memory" : "not one CheckResponse");
		return;
	}
	if (a.n_invalid)
		pr_debug("ext_authz %s: %zu header operations with a bad name or value dropped",
			 x->p->name, a.n_invalid);
	if (a.verdict == XA_GRPC_ERROR) {
		xa_grpc_answer_free(&a);
		xa_failed(x, "error_response");
		return;
	}
	if (a.verdict == XA_GRPC_DENIED) {
		grpc_denied(x, &a);
		xa_grpc_answer_free(&a);
		return;
	}
	err = xa_grpc_apply(&a, &r->head.fields);
	xa_grpc_answer_free(&a);
	if (err) {
		xa_failed(x, "out of memory");
		return;
	}
	xa_free(x, true);
	wp_authz_custom_done(r, true);
}

static void grpc_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	xa_failed(arg, reason);
}

static ssize_t grpc_provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	struct wp_extauthz *x = arg;
	size_t n = x->msg_len - x->msg_sent < len ? x->msg_len - x->msg_sent : len;

	memcpy(buf, x->msg + x->msg_sent, n);
	x->msg_sent += n;
	*eof = x->msg_sent == x->msg_len;
	return (ssize_t)n;
}

static const struct h2_stream_ops grpc_ops = {
    .on_headers = grpc_headers,
    .on_data = grpc_data,
    .on_end = grpc_end,
    .on_close = grpc_close,
    .provide = grpc_provide,
};

/* The CheckRequest for @x's request, on a stream to host @host of @c. 0 or -errno. */
static int grpc_start(struct wp_extauthz *x, struct wp_gen *g, struct wp_cluster *c, int host)
{
	const struct wp_req *r = x->r;
	const struct transport_peer *p = &r->conn->peer;
	uint64_t ms = x->p->x.timeout_ms ? x->p->x.timeout_ms : DEFAULT_TIMEOUT_MS;
	struct xa_grpc_check ck = {
	    .source = {.addr = p->client, .principal = p->identity},
	    .destination = {.addr = p->local},
	    .id = r->request_id,
	    .method = r->head.method,
	    .path = r->head.target,
	    .host = r->authority ? r->authority : "",
	    .scheme = p->tls ? "https" : "http",
	    .protocol = r->conn->h2s	? "HTTP/2"
			: r->head.minor ? "HTTP/1.1"
					: "HTTP/1.0",
	    .fields = &r->head.fields,
	};
	char timeout[24], authority[600];
	struct h2_header h[7];

	if (p->dest_ip.family)
		sockaddr_inet_from_ipaddr(&ck.destination.addr, &p->dest_ip, p->dest_port);
	if (xa_grpc_encode(&ck, &x->msg, &x->msg_len))
		return -ENOMEM;
	/* grpc-timeout's value holds at most 8 digits (gRPC over HTTP/2). */
	if (ms <= 99999999)
		snprintf(timeout, sizeof(timeout), "%llum", (unsigned long long)ms);
	else
		snprintf(timeout, sizeof(timeout), "%lluS", (unsigned long long)(ms + 999) / 1000);
	snprintf(authority, sizeof(authority), "%s:%u", x->p->x.service, x->p->x.port);
	h[0] = H2_HDR(":method", "POST");
	h[1] = H2_HDR(":scheme", "http");
	h[2] = H2_HDR(":authority", authority);
	h[3] = H2_HDR(":path", XA_GRPC_PATH);
	h[4] = H2_HDR("content-type", "application/grpc");
	h[5] = H2_HDR("te", "trailers");
	h[6] = H2_HDR("grpc-timeout", timeout);
	x->http_status = -1;
	x->grpc_status = -1;
	x->h2 = wp_h2up_call(x->e, g, c, host, h, 7, &grpc_ops, x, &x->s);
	if (!x->h2)
		return errno == EBUSY ? -EBUSY : -EHOSTUNREACH;
	return 0;
}

int wp_extauthz_start(struct wp_req *r, const struct l7_ext_authz *p)
{
	struct wp_engine *e = r->conn->e;
	struct wp_gen *g = r->view->gen;
	struct wp_cluster *c =
	    p->service >= 0 ? wp_gen_cluster(g, p->service, NULL, p->x.port, false) : NULL;
	struct wp_upstream *u = c ? wp_view_upstream(e, r->view, c) : NULL;
	struct wp_extauthz *x;
	int h, err;

	if (!u)
		return -EHOSTUNREACH; /* an unknown Service */
	if (h1_pool_request_begin(u->pool))
		return -EBUSY;
	h = wp_upstream_pick(u, false, 0, NULL, 0);
	x = h >= 0 ? calloc(1, sizeof(*x)) : NULL;
	if (!x) {
		h1_pool_request_done(u->pool);
		return h < 0 ? -EHOSTUNREACH : -ENOMEM;
	}
	x->e = e;
	x->r = r;
	x->p = p;
	x->up = u;
	r->extauthz = x;
	x->timer.fn = xa_timeout;
	if (p->x.grpc) {
		err = grpc_start(x, g, c, h);
		if (err) {
			xa_free(x, false);
			return err;
		}
	} else {
		if (check_head(x)) {
			xa_free(x, false);
			return -ENOMEM;
		}
		x->w.on_ready = xa_ready;
		x->w.on_fail = xa_fail;
	}
	loop_timer_arm(e->loop, &x->timer,
		       (unsigned int)(p->x.timeout_ms ? p->x.timeout_ms : DEFAULT_TIMEOUT_MS));
	/* An original-destination cluster has no destination for the waypoint's own calls. */
	if (!p->x.grpc && (wp_cluster_per_request(c) ||
			   h1_pool_get(u->pool, &c->addr[h], c->ep[h]->identity, &x->w))) {
		xa_free(x, false);
		return -EHOSTUNREACH;
	}
	return 0;
}

void wp_extauthz_cancel(struct wp_req *r)
{
	if (r->extauthz)
		xa_free(r->extauthz, false);
}
