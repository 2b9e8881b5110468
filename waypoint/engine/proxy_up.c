// SPDX-License-Identifier: Apache-2.0
/*
 * The request engine's upstream side (proxy_priv.h): Envoy's router as Istio configures it.
 * Each attempt picks a host (load balancer, outlier ejections, previous hosts avoided), takes
 * a pooled connection (circuit breakers: 503 UO), sends the head and the body, and judges the
 * outcome with retry.h: a retriable one is retried after the jittered backoff while attempts,
 * the cluster's retry budget and the kept body allow (a body that outgrew WP_RETRY_BUF
 * streamed on and cannot be replayed); the route timeout spans every attempt (504 UT), the
 * per-try timeout one. The response is re-framed to the client with backpressure both ways;
 * a 101 or a 2xx to CONNECT makes both connections one opaque pipe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../headers.h"
#include "proxy_priv.h"

static struct wp_req *req_of_wait(struct h1_pool_wait *w)
{
	return (struct wp_req *)((char *)w - offsetof(struct wp_req, w));
}

static struct loop *loop_of(struct wp_req *r)
{
	return r->conn->e->loop;
}

/* The attempt is over: its connection goes back (reset unless @reuse), its host is free. */
static void end_attempt(struct wp_req *r, bool reuse)
{
	loop_timer_cancel(loop_of(r), &r->try_timer);
	if (r->waiting) {
		h1_pool_cancel(&r->w);
		r->waiting = false;
	}
	if (r->c) {
		h1_pool_put(r->c, reuse, !reuse);
		r->c = NULL;
	}
	if (r->h2a)
		wp_h2up_end(r);
	if (r->host >= 0 && r->up && r->up->hosts[r->host].active_requests)
		r->up->hosts[r->host].active_requests--;
	if (r->retry_counted) {
		h1_pool_retry_done(r->up->pool);
		r->retry_counted = false;
	}
}

void wp_up_cancel(struct wp_req *r)
{
	if (!r->up)
		return;
	end_attempt(r, false);
	loop_timer_cancel(loop_of(r), &r->try_timer);
}

static void resume_down(struct wp_req *r)
{
	if (r->paused_down) {
		r->paused_down = false;
		wp_down_resume(r->conn);
	}
}

static void attempt(struct wp_req *r);

/* How long a request waits for a DYNAMIC_DNS name's first answer: turns of DNS_WAIT_MS. */
#define DNS_WAIT_MS 10
#define DNS_WAITS 300

static void retry_now(struct wp_req *r)
{
	attempt(r);
}

/*
 * An attempt failed with @a: retried when the policy, the attempts left, the body and the
 * cluster's retry budget allow. Returns true when a retry is scheduled.
 */
static bool maybe_retry(struct wp_req *r, const struct wp_attempt *a)
{
	const struct l7_retry *rp = &r->route->retry;

	if (r->tries > rp->attempts || !wp_retry_wanted(rp, a) || r->head.upgrade)
		return false;
	/* Only a body still whole in the buffer can be sent again (Envoy's buffer limit). */
	if (!r->body_kept)
		return false;
	if (h1_pool_retry_begin(r->up->pool))
		return false; /* maxRetries reached: this outcome stands (Envoy's retry overflow) */
	end_attempt(r, false);
	r->retry_counted = true;
	r->wait_fn = retry_now;
	if (loop_timer_arm(loop_of(r), &r->wait,
			   (unsigned int)wp_backoff_next(&r->backoff, wp_random()))) {
		h1_pool_retry_done(r->up->pool);
		r->retry_counted = false;
		return false;
	}
	return true;
}

/* wp_engine_stale_retries' count (atomic: every worker's). */
static uint64_t n_stale_retries;

uint64_t wp_engine_stale_retries(void)
{
	return __atomic_load_n(&n_stale_retries, __ATOMIC_RELAXED);
}

/* RFC 9110 §9.2.2: what a client may send twice without asking anyone. */
static bool idempotent(const char *method)
{
	static const char *const m[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(method, m[i]))
			return true;
	return false;
}

/*
 * The keep-alive race (istio/istio#54063, #60767; envoyproxy/envoy#1979): a server closes a
 * connection idle in the pool just as a request is written on it, and the request meets the
 * FIN or the RST. The server saw a connection it had given up, not a request: the request goes
 * once more, at once, on a new connection (h1_pool_wait.fresh), whatever the route's retry
 * policy and without counting against its attempts, budget or the host's outlier record. Only
 * when that is safe (RFC 9112 §9.3.1): the connection had served a request before, not one
 * byte of the answer came, the body is still whole in the buffer, and the request was not
 * written (@sent false) or its method is idempotent; a POST that may have been taken is left to
 * the retry policy (retryOn reset), as Envoy and nginx leave it. On an HTTP/2 upstream
 * connection the same holds for a stream of a pooled connection that went under it, and a
 * stream the server refused unprocessed (REFUSED_STREAM, or beyond its GOAWAY's last stream)
 * goes again whatever its method (RFC 9113 §8.7).
 */
/*
 * Whether stale_retry would send @r again if the pooled connection it is about to take turned
 * out closed under it, written or not: then the pool need not peek the idle connection's socket
 * first (h1_pool_wait.retry_safe), a system call per request.
 */
static bool retry_safe(const struct wp_req *r)
{
	return !r->stale_retried && r->body_kept && !r->head.upgrade &&
	       strcmp(r->head.method, "CONNECT") && idempotent(r->head.method);
}

static bool stale_retry(struct wp_req *r, int err, bool sent)
{
	bool unprocessed = false;

	if (r->stale_retried || err == -EPROTO || !r->body_kept || r->head.upgrade ||
	    !strcmp(r->head.method, "CONNECT"))
		return false;
	/* HTTP/2 upstream: a pooled connection's stream, or one the server refused unprocessed. */
	if (r->h2a ? !wp_h2up_stale(r, &unprocessed)
		   : !r->c || !h1_client_reused(r->c) || h1_client_heard(r->c))
		return false;
	if (sent && !unprocessed && !idempotent(r->head.method))
		return false;
	end_attempt(r, false);
	r->stale_retried = true;
	r->tries--; /* not one of the route's attempts */
	if (r->n_tried && r->tried[r->n_tried - 1] == r->host)
		r->n_tried--; /* nor a host to avoid */
	r->w.fresh = true;
	r->wait_fn = retry_now;
	if (loop_timer_arm(loop_of(r), &r->wait, 0))
		return false;
	__atomic_add_fetch(&n_stale_retries, 1, __ATOMIC_RELAXED);
	return true;
}

static void fail_local(struct wp_req *r, enum wp_reply what)
{
	end_attempt(r, false);
	if (r->tries > 1)
		wp_req_flag(r, "URX");
	wp_req_reply(r, what, 0, NULL, 0);
}

static void try_failed(struct wp_req *r, enum wp_failure f, enum wp_outcome o, enum wp_reply what)
{
	struct wp_attempt a = {.failure = f, .grpc_status = -1};

	wp_cluster_record(r->up->c, (size_t)r->host, o, 0, loop_now_ms(loop_of(r)));
	if (!maybe_retry(r, &a))
		fail_local(r, what);
}

/* ---- the upstream connection's events ---- */

static void c_response(void *arg, struct h1_head *head)
{
	struct wp_req *r = arg;
	struct wp_conn *s = r->conn;
	const char *gs = http_fields_get(&head->fields, "grpc-status");
	struct wp_attempt a = {.failure = WP_FAIL_NONE,
			       .status = head->status,
			       .grpc_status = gs ? atoi(gs) : -1,
			       .overloaded =
				   http_fields_get(&head->fields, "x-envoy-overloaded") != NULL};
	bool tunnel = r->c && h1_client_tunnel(r->c);
	enum h1_framing fr;

	loop_timer_cancel(loop_of(r), &r->try_timer);
	wp_req_touch(r);
	r->got_response = true;
	r->upstream_ms = (int64_t)(loop_now_ms(loop_of(r)) - r->try_start_ms);
	wp_cluster_record(r->up->c, (size_t)r->host, WP_OUTCOME_RESPONSE, head->status,
			  loop_now_ms(loop_of(r)));
	if (!tunnel && maybe_retry(r, &a))
		return;
	r->status = head->status;
	r->grpc_status = a.grpc_status;
	r->details = "via_upstream";
	h1_strip_hop(&head->fields, false, tunnel && head->status == 101);
	if (wp_headers_apply(&head->fields, &r->route->headers.response, NULL) ||
	    (r->dest && wp_headers_apply(&head->fields, &r->dest->headers.response, NULL))) {
		end_attempt(r, false);
		wp_req_reply(r, WP_REPLY_UPSTREAM_RESET, 500, "", 0);
		return;
	}
	if (r->cors_origin)
		http_fields_set(&head->fields, "access-control-allow-origin", r->cors_origin);
	if (r->set_cookie)
		http_fields_add(&head->fields, "set-cookie", r->set_cookie);
	for (size_t i = 0; i < r->down_allow.n; i++)
		http_fields_set(&head->fields, r->down_allow.items[i].name,
				r->down_allow.items[i].value);
	fr = head->framing == H1_FRAMING_LENGTH ? H1_FRAMING_LENGTH
	     : head->framing == H1_FRAMING_NONE ? H1_FRAMING_NONE
						: H1_FRAMING_EOF;
	if (tunnel && head->status == 101)
		http_fields_set(&head->fields, "connection", "upgrade");
	r->resp_started = true;
	if (wp_down_respond(s, head, fr, head->content_length)) {
		end_attempt(r, false);
		wp_req_finish(r);
		wp_down_close(s, true);
		return;
	}
	if (tunnel) {
		wp_down_upgrade(s);
		/* The tunnel has no route timeout: it lasts as long as both sides want. */
		loop_timer_cancel(loop_of(r), &r->timer);
	}
}

static void c_body(void *arg, const char *data, size_t len)
{
	struct wp_req *r = arg;

	r->bytes_out += len;
	wp_req_touch(r);
	wp_down_body(r->conn, data, len);
	if (wp_down_queued(r->conn) >= TRANSPORT_HIGH_WATER && !r->paused_up) {
		r->paused_up = true;
		if (r->h2a)
			wp_h2up_pause(r);
		else
			h1_client_pause(r->c);
	}
}

static void c_end(void *arg)
{
	struct wp_req *r = arg;
	struct wp_conn *s = r->conn;

	if (r->c && h1_client_tunnel(r->c)) {
		/* The server finished its direction: pass the half-close on. */
		wp_down_end(s);
		r->up_eof = true;
		if (r->down_eof) {
			end_attempt(r, false);
			wp_req_finish(r);
			wp_down_close(s, false);
		}
		return;
	}
	end_attempt(r, r->req_end);
	wp_req_finish(r); /* recorded before the client can see the end */
	wp_down_end(s);
}

static void c_drain(void *arg)
{
	resume_down(arg);
}

static void c_error(void *arg, int err)
{
	struct wp_req *r = arg;
	struct wp_conn *s = r->conn;

	if (!r->got_response) {
		if (stale_retry(r, err, true))
			return;
		/* A response the HTTP/1 parser refused is Envoy's UPE (503), not a termination. */
		try_failed(
		    r, r->req_end ? WP_FAIL_RESET : WP_FAIL_RESET_BEFORE_SEND, WP_OUTCOME_RESET,
		    err == -EPROTO ? WP_REPLY_UPSTREAM_PROTOCOL : WP_REPLY_UPSTREAM_TERMINATED);
		return;
	}
	/* The response was cut: the client can only learn it from the connection's end. */
	wp_req_flag(r, err == -EPROTO ? "UPE" : "UC");
	end_attempt(r, false);
	wp_req_finish(r);
	wp_down_cut(s);
}

/*
 * An interim response (RFC 9110 §15.2: a proxy forwards 1xx): to an HTTP/1.1 or HTTP/2 client
 * (never to an HTTP/1.0 one, §15.2), before the final response, one 100 Continue per request
 * whatever the attempts.
 */
static void c_interim(void *arg, const struct h1_head *head)
{
	struct wp_req *r = arg;
	struct h1_head h = {.status = head->status};

	wp_req_touch(r);
	if (r->resp_started || r->head.minor == 0 || (head->status == 100 && r->sent_100))
		return;
	if (head->status == 100)
		r->sent_100 = true;
	if (http_fields_copy(&h.fields, &head->fields))
		return;
	h1_strip_hop(&h.fields, false, false);
	wp_down_respond(r->conn, &h, H1_FRAMING_NONE, 0);
	http_fields_free(&h.fields);
}

const struct h1_client_ops wp_up_events = {
    .on_response = c_response,
    .on_interim = c_interim,
    .on_body = c_body,
    .on_end = c_end,
    .on_drain = c_drain,
    .on_error = c_error,
};

/* Writes what the current attempt has not had of the body yet. */
static int send_body(struct wp_req *r)
{
	int err = 0;

	if (r->body.len > r->body_sent)
		err = h1_client_body(r->c, buf_head(&r->body) + r->body_sent,
				     r->body.len - r->body_sent);
	if (r->body_kept) {
		r->body_sent = r->body.len;
	} else {
		buf_consume(&r->body, r->body.len);
		r->body_sent = 0;
	}
	if (!err && r->req_end)
		err = h1_client_end(r->c);
	return err;
}

static void on_ready(struct h1_pool_wait *w, struct h1_client *c)
{
	struct wp_req *r = req_of_wait(w);
	enum h1_framing fr = r->framing == H1_FRAMING_LENGTH	? H1_FRAMING_LENGTH
			     : r->framing == H1_FRAMING_CHUNKED ? H1_FRAMING_EOF
								: H1_FRAMING_NONE;
	int err;

	r->waiting = false;
	r->c = c;
	h1_client_bind(c, &wp_up_events, r);
	r->body_sent = 0;
	err = h1_client_request(c, &r->head, fr, r->length);
	if (err || send_body(r)) {
		if (stale_retry(r, -EPIPE, !err))
			return;
		try_failed(r, WP_FAIL_RESET_BEFORE_SEND, WP_OUTCOME_RESET,
			   WP_REPLY_UPSTREAM_TERMINATED);
		return;
	}
	r->head_sent = true;
	if (h1_client_queued(c) < TRANSPORT_HIGH_WATER)
		resume_down(r);
}

void wp_up_connect_failed(struct wp_req *r, int err)
{
	r->waiting = false;
	if (err == -ECANCELED) {
		fail_local(r, WP_REPLY_NO_HEALTHY);
		return;
	}
	try_failed(r, WP_FAIL_CONNECT, WP_OUTCOME_CONNECT_FAILURE, WP_REPLY_CONNECT_FAILURE);
}

static void on_fail(struct h1_pool_wait *w, int err)
{
	wp_up_connect_failed(req_of_wait(w), err);
}

void wp_up_sent(struct wp_req *r)
{
	if (r->body.len - r->body_sent < TRANSPORT_HIGH_WATER)
		resume_down(r);
}

static void on_try_timeout(struct loop_timer *t)
{
	struct wp_req *r = (struct wp_req *)((char *)t - offsetof(struct wp_req, try_timer));

	wp_req_flag(r, "UT");
	try_failed(r, WP_FAIL_PER_TRY_TIMEOUT, WP_OUTCOME_TIMEOUT, WP_REPLY_TIMEOUT);
}

static void on_route_timeout(struct loop_timer *t)
{
	struct wp_req *r = (struct wp_req *)((char *)t - offsetof(struct wp_req, timer));
	struct wp_conn *s = r->conn;

	loop_timer_cancel(loop_of(r), &r->wait);
	if (r->host >= 0 && (r->waiting || r->c) && !r->got_response)
		wp_cluster_record(r->up->c, (size_t)r->host, WP_OUTCOME_TIMEOUT, 0,
				  loop_now_ms(loop_of(r)));
	end_attempt(r, false);
	if (!r->resp_started) {
		wp_req_reply(r, WP_REPLY_TIMEOUT, 0, NULL, 0);
		return;
	}
	wp_req_flag(r, "UT");
	wp_req_finish(r);
	wp_down_cut(s);
}

static bool cookie_wanted(const struct config_load_balancer *lb)
{
	return lb->hash_key == CONFIG_HASH_COOKIE && lb->cookie_ttl_ms && lb->hash_name;
}

/*
 * httpCookie with a ttl and no such cookie in the request: Envoy makes one, its value derived
 * from the client's address, hashes the request on it and sets it on the response, so the
 * client's next requests stick. The hash is kept for the retries.
 */
static bool make_cookie(struct wp_req *r, const struct config_load_balancer *lb, uint64_t *hash)
{
	char addr[SOCKADDR_INET_STRLEN], value[24];
	int n;

	if (!r->set_cookie) {
		/* "ip:port", "[v6]:port": Envoy's address as it prints it. */
		if (r->conn->peer.client.sa.sa_family)
			sockaddr_inet_format(&r->conn->peer.client, addr, sizeof(addr));
		else
			snprintf(addr, sizeof(addr), "0.0.0.0:0");
		n = (int)strlen(addr);
		snprintf(value, sizeof(value), "%016llx",
			 (unsigned long long)wp_hash(addr, (size_t)n));
		if (asprintf(&r->set_cookie, "%s=\"%s\"; Max-Age=%llu%s%s; HttpOnly", lb->hash_name,
			     value, (unsigned long long)(lb->cookie_ttl_ms / 1000),
			     lb->cookie_path && *lb->cookie_path ? "; Path=" : "",
			     lb->cookie_path ? lb->cookie_path : "") < 0) {
			r->set_cookie = NULL;
			return false;
		}
	}
	/* The value between the quotes, as the client will send it back. */
	n = (int)strcspn(strchr(r->set_cookie, '"') + 1, "\"");
	*hash = wp_hash(strchr(r->set_cookie, '"') + 1, (size_t)n);
	return true;
}

static void attempt(struct wp_req *r)
{
	const struct l7_policy *pol = r->up->c->policy;
	const struct l7_retry *rp = &r->route->retry;
	struct wp_request rq = {.method = r->head.method,
				.authority = r->authority,
				.path = r->head.target,
				.n_headers = r->head.fields.n,
				.headers = r->head.fields.items};
	uint64_t hash = 0;
	struct ipaddr src;
	bool has_hash;
	union sockaddr_inet dst;
	int h, err;

	wp_peer_client_ip(&r->conn->peer, &src);
	has_hash = pol && wp_lb_request_hash(&pol->lb, &rq, &src, &hash);

	if (!has_hash && pol && cookie_wanted(&pol->lb))
		has_hash = make_cookie(r, &pol->lb, &hash);

	h = wp_upstream_pick(r->up, has_hash, hash, r->tried,
			     rp->ignore_previous_hosts ? r->n_tried : 0);
	if (h < 0) {
		fail_local(r, WP_REPLY_NO_HEALTHY);
		return;
	}
	err = wp_cluster_dst(r->up->c, (size_t)h, &r->conn->peer, r->authority, &dst);
	/* A DYNAMIC_DNS name being asked: the request waits for it, as Envoy's DFP does. */
	if (err == -EAGAIN && r->dns_waits++ < DNS_WAITS) {
		r->wait_fn = retry_now;
		if (!loop_timer_arm(loop_of(r), &r->wait, DNS_WAIT_MS))
			return;
	}
	if (err) {
		fail_local(r, err == -EAGAIN || err == -ENOENT ? WP_REPLY_DNS_FAILURE
							       : WP_REPLY_CONNECT_FAILURE);
		return;
	}
	r->host = h;
	if (r->n_tried < WP_MAX_TRIED)
		r->tried[r->n_tried++] = h;
	r->up->hosts[h].active_requests++;
	r->tries++;
	r->head_sent = r->got_response = false;
	r->try_start_ms = loop_now_ms(loop_of(r));
	if (wp_h2up_wanted(r)) {
		err = wp_h2up_attempt(r, h, &dst);
		if (err) {
			fail_local(r, err == -EBUSY ? WP_REPLY_OVERFLOW : WP_REPLY_CONNECT_FAILURE);
			return;
		}
		r->head_sent = true;
	} else {
		r->w.on_ready = on_ready;
		r->w.on_fail = on_fail;
		r->w.retry_safe = retry_safe(r);
		err = h1_pool_get(r->up->pool, &dst, r->up->c->ep[h]->identity, &r->w);
		if (err) {
			fail_local(r, err == -EBUSY ? WP_REPLY_OVERFLOW : WP_REPLY_CONNECT_FAILURE);
			return;
		}
		r->waiting = true;
	}
	if (rp->per_try_timeout_ms)
		loop_timer_arm(loop_of(r), &r->try_timer, (unsigned int)rp->per_try_timeout_ms);
}

static void arm_route_timeout(struct wp_req *r)
{
	/* Envoy's route timeout runs from the end of the request to the end of the response. */
	if (r->route->timeout_ms && !loop_timer_armed(&r->timer))
		loop_timer_arm(loop_of(r), &r->timer, (unsigned int)r->route->timeout_ms);
}

void wp_up_start(struct wp_req *r)
{
	r->timer.fn = on_route_timeout;
	r->try_timer.fn = on_try_timeout;
	wp_backoff_init(&r->backoff, &r->route->retry);
	if (r->req_end)
		arm_route_timeout(r);
	attempt(r);
}

void wp_up_body(struct wp_req *r, const char *data, size_t len)
{
	char *p;

	if (r->resp_started && !r->c && !r->h2a)
		return; /* answered already: the rest of the body has nowhere to go */
	if (r->c && h1_client_tunnel(r->c)) {
		h1_client_body(r->c, data, len);
	} else if (r->c && r->head_sent && !r->body_kept) {
		h1_client_body(r->c, data, len);
	} else {
		if (r->body_kept && r->body.len + len > WP_RETRY_BUF) {
			/* Too long to replay: what the attempt has is dropped, the rest streams. */
			r->body_kept = false;
			buf_consume(&r->body, r->body_sent);
			r->body_sent = 0;
		}
		p = buf_reserve(&r->body, len, (size_t)-1);
		if (!p) {
			wp_req_flag(r, "DC");
			wp_down_close(r->conn, true);
			return;
		}
		memcpy(p, data, len);
		r->body.len += len;
		if (r->c && r->head_sent)
			send_body(r);
		else if (r->h2a)
			wp_h2up_body(r);
	}
	if ((r->c ? h1_client_queued(r->c) : r->body.len - r->body_sent) >= TRANSPORT_HIGH_WATER &&
	    !r->paused_down) {
		r->paused_down = true;
		wp_down_pause(r->conn);
	}
}

void wp_up_body_end(struct wp_req *r)
{
	if (!r->up)
		return;
	if (r->c && h1_client_tunnel(r->c)) {
		/* The client finished its direction of the tunnel. */
		h1_client_shutdown(r->c);
		r->down_eof = true;
		if (r->up_eof) {
			struct wp_conn *s = r->conn;

			end_attempt(r, false);
			wp_req_finish(r);
			wp_down_close(s, false);
		}
		return;
	}
	if (r->c && r->head_sent)
		h1_client_end(r->c);
	else if (r->h2a)
		wp_h2up_body(r);
	arm_route_timeout(r);
}

void wp_up_drain(struct wp_req *r)
{
	if (r->paused_up && r->c) {
		r->paused_up = false;
		h1_client_resume(r->c);
	} else if (r->paused_up && r->h2a) {
		r->paused_up = false;
		wp_h2up_resume(r);
	}
}
