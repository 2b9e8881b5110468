/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Local rate limiting at the waypoint and gateway, as Envoy's local_ratelimit filter runs the
 * model's l7_ratelimit (include/ambit/l7.h): token buckets that start full and get
 * tokens_per_fill back (up to max_tokens) at every fill_interval since they were made.
 *
 * The buckets are the proxy's, shared by its worker threads: a bucket is one 64-bit atomic
 * (fill period, tokens) taken with compare-and-swap, so N workers together admit exactly what
 * one would (Envoy's buckets are per worker unless shared; ambit's are always shared). A rule
 * with a client key has a table of at most max_keys buckets under a mutex, keyed by a seeded
 * 64-bit hash of the key: the least recently used is forgotten when a new key needs room, so a
 * flood of distinct keys costs max_keys entries and only resets old clients' buckets.
 *
 * A new configuration generation takes over the buckets of every rate limit it has unchanged
 * (wp_rl_inherit: the same name, buckets and keys), so a snapshot about something else (a pod
 * started in the mesh) does not fill them again; a changed rate limit starts full, as Envoy's
 * rebuilt route configuration does. Fill periods count from the process's first state.
 */
#ifndef AMBIT_WAYPOINT_RATELIMIT_H
#define AMBIT_WAYPOINT_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/l7.h"
#include "route.h"

struct wp_rl_state;

/*
 * The buckets of every rate limit of @c (borrowed: it must outlive the state), made at @now_ms.
 * NULL with errno set (EINVAL: a rule's regex does not compile; the reason is in @why).
 */
struct wp_rl_state *wp_rl_new(const struct l7_config *c, uint64_t now_ms, char *why, size_t len);
void wp_rl_free(struct wp_rl_state *st);
/* @st (not in use yet) takes @old's buckets for the rate limits both have unchanged. */
void wp_rl_inherit(struct wp_rl_state *st, const struct wp_rl_state *old);

/* What a decision reads of a request (all borrowed). */
struct wp_rl_request {
	const struct wp_request *rq; /* what the rules' matches read; rq->port: the service port */
	const char *principal;	     /* the peer identity, or NULL */
	const char *remote_ip;	     /* the client address, text */
	uint64_t now_ms;
	uint32_t enabled_draw, enforced_draw; /* uniform in [0, 1000000) */
};

struct wp_rl_decision {
	const struct l7_ratelimit *limit; /* the rate limit whose bucket was empty, or NULL */
	bool enforced;			  /* refuse it (else only counted: shadow mode) */
	/* The tightest bucket seen (x-ratelimit-*): its size, what is left, seconds to refill. */
	uint32_t limit_tokens, remaining;
	uint64_t reset_s;
	const struct l7_ratelimit *headers_of; /* whose bucket that was, or NULL */
};

/*
 * Checks request @rq against the rate limits of service @s (of the state's model), in order,
 * taking a token from every bucket that applies until one is empty. Thread-safe.
 */
void wp_rl_decide(struct wp_rl_state *st, const struct l7_service *s,
		  const struct wp_rl_request *rq, struct wp_rl_decision *d);

#endif
