/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RequestAuthentication jwksUri, fetched by the agent as istiod fetches it for its proxies
 * (the waypoint is given the key set inline and never reaches out itself): with libcurl, on a
 * thread of its own so the agent's loop never waits on an issuer, cached, refreshed every 20
 * minutes (istiod's PILOT_JWT_PUB_KEY_REFRESH_INTERVAL) and, after a failure, retried with
 * back-off from 1 s to 60 s while the last good key set stays in force. Everything but the
 * thread's fetch runs on the agent's thread.
 */
#ifndef AMBIT_AGENT_JWKS_H
#define AMBIT_AGENT_JWKS_H

#include <stdbool.h>
#include <stdint.h>

struct jwks_fetcher;

/* Starts the fetch thread. NULL with errno set. */
struct jwks_fetcher *jwks_fetcher_new(void);
/* Stops the thread and frees everything. Accepts NULL. */
void jwks_fetcher_free(struct jwks_fetcher *f);
/* Readable when fetches finished: then call jwks_fetcher_collect. */
int jwks_fetcher_fd(const struct jwks_fetcher *f);
/*
 * The key set last fetched from @uri (borrowed until the next collect), or NULL while none
 * could be had; a URI not seen before is fetched from now on. An l7_inputs.jwks callback
 * (@arg: the fetcher).
 */
const char *jwks_fetcher_get(void *arg, const char *uri);
/* Takes the finished fetches in: true when a key set in force changed (compile again). */
bool jwks_fetcher_collect(struct jwks_fetcher *f);

/* For tests: the refresh interval and the back-off bounds, in ms. */
void jwks_fetcher_set_timing(struct jwks_fetcher *f, uint64_t refresh_ms, uint64_t min_backoff_ms,
			     uint64_t max_backoff_ms);

#endif
