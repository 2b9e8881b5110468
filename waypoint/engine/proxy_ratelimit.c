// SPDX-License-Identifier: Apache-2.0
/*
 * The engine's local rate limit filter (ratelimit.h), after authorization and before the
 * route, as Envoy's local_ratelimit sits in the HTTP filter chain: a refused request gets
 * Envoy's 429 "local_rate_limited" with response flag RL (gRPC: UNAVAILABLE, as Envoy maps it),
 * the rate limit's response headers and, when asked, x-ratelimit-limit/-remaining/-reset
 * (DRAFT_VERSION_03); over-limit requests left unenforced (shadow mode) are logged and go on.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "ambit/clock.h"
#include "ambit/log.h"
#include "proxy_priv.h"
#include "../ratelimit.h"

/* Room for the rate limit's own headers beside the three x-ratelimit ones. */
#define RL_MAX_EXTRA 32

bool wp_ratelimited(struct wp_req *r, const struct wp_request *rq)
{
	const struct wp_gen *g = r->view->gen;
	const struct l7_service *s = &g->l7->services[r->svc];
	const char *id = r->conn->peer.identity;
	const char *extra[2 * (RL_MAX_EXTRA + 3)];
	char ip[IPADDR_STRLEN], limit[16], remaining[16], reset[24];
	struct wp_rl_request q = {.rq = rq};
	struct wp_rl_decision d;
	size_t n = 0;

	if (!s->n_ratelimit)
		return false;
	q.principal = id && !strncmp(id, "spiffe://", 9) ? id + 9 : id;
	q.remote_ip = ipaddr_format(&r->remote, ip, sizeof(ip));
	q.now_ms = clock_mono_ms();
	q.enabled_draw = (uint32_t)(wp_random() % 1000000);
	q.enforced_draw = (uint32_t)(wp_random() % 1000000);
	wp_rl_decide(g->rl, s, &q, &d);
	if (!d.limit)
		return false;
	if (!d.enforced) {
		pr_info("shadow: request %s to %s over the limit of %s, not enforced",
			r->request_id ? r->request_id : "-", s->hostname, d.limit->name);
		return false;
	}
	if (r->grpc) {
		wp_req_reply(r, WP_REPLY_RATE_LIMITED, d.limit->status, NULL, 0);
		return true;
	}
	for (size_t i = 0; i < d.limit->response_headers.n && i < RL_MAX_EXTRA; i++) {
		extra[n++] = d.limit->response_headers.items[i].key;
		extra[n++] = d.limit->response_headers.items[i].value;
	}
	if (d.headers_of) {
		snprintf(limit, sizeof(limit), "%u", d.limit_tokens);
		snprintf(remaining, sizeof(remaining), "%u", d.remaining);
		snprintf(reset, sizeof(reset), "%llu", (unsigned long long)d.reset_s);
		extra[n++] = "x-ratelimit-limit";
		extra[n++] = limit;
		extra[n++] = "x-ratelimit-remaining";
		extra[n++] = remaining;
		extra[n++] = "x-ratelimit-reset";
		extra[n++] = reset;
	}
	wp_req_flag(r, "RL");
	r->details = "local_rate_limited";
	wp_req_answer(r, d.limit->status, "local_rate_limited", 18, extra, n / 2);
	return true;
}
