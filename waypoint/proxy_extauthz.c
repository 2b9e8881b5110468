// SPDX-License-Identifier: Apache-2.0
/*
 * CUSTOM AuthorizationPolicy: the external authorizer asked over HTTP, as Envoy's ext_authz
 * filter in raw HTTP mode does for Istio's envoyExtAuthzHttp provider. The check request has
 * the request's method, pathPrefix + its path, its Host, and only the fields the provider lets
 * through (includeRequestHeadersInCheck, Envoy's own: authorization, and the
 * includeAdditionalHeadersInCheck ones), with no body. A 2xx answer lets the request go on to
 * the DENY and ALLOW policies, with headersToUpstreamOnAllow copied onto it; any other status
 * is the client's answer, with its body and headersToDownstreamOnDeny (UAEX); a failure or the
 * provider's timeout (600 s by default, as Istio) allows when failOpen, else answers
 * statusOnError (403).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ambit/log.h"
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
	struct buf body;     /* the answer's body, up to CHECK_BODY_MAX */
	bool got_response;
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
		/* Allowed: the provider's headersToUpstreamOnAllow go with the request. */
		for (size_t i = 0; i < x->resp.fields.n; i++) {
			const struct http_field *f = &x->resp.fields.items[i];

			if (in_list(&p->headers_to_upstream_on_allow, f->name))
				http_fields_set(&r->head.fields, f->name, f->value);
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

int wp_extauthz_start(struct wp_req *r, const struct l7_ext_authz *p)
{
	struct wp_engine *e = r->conn->e;
	struct wp_gen *g = r->view->gen;
	struct wp_cluster *c =
	    p->service >= 0 ? wp_gen_cluster(g, p->service, NULL, p->x.port) : NULL;
	struct wp_upstream *u = c ? wp_view_upstream(e, r->view, c) : NULL;
	struct wp_extauthz *x;
	int h;

	if (p->x.grpc || !u)
		return -ENOTSUP; /* gRPC providers are not built yet; an unknown Service */
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
	if (check_head(x)) {
		xa_free(x, false);
		return -ENOMEM;
	}
	x->timer.fn = xa_timeout;
	x->w.on_ready = xa_ready;
	x->w.on_fail = xa_fail;
	loop_timer_arm(e->loop, &x->timer,
		       (unsigned int)(p->x.timeout_ms ? p->x.timeout_ms : DEFAULT_TIMEOUT_MS));
	if (h1_pool_get(u->pool, &c->addr[h], c->ep[h]->identity, &x->w)) {
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
