/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Route selection: a request's attributes in, the route of the compiled model (include/ambit/
 * l7.h) that takes it out, then the weighted destination. Matching follows Envoy's route
 * matching as Istio configures it (API_SEMANTICS.md §1.2, §7): exact and regex paths compare the
 * path without its query string, a VirtualService prefix is a plain string prefix of the whole
 * :path, a Gateway API PathPrefix is segment-aware, regexes are RE2 syntax matching the whole
 * value (PCRE2, include/ambit/re2.h), header names are case-insensitive and repeated headers are
 * matched joined by ",", a query parameter is matched on its first occurrence, undecoded.
 */
#ifndef AMBIT_WAYPOINT_ROUTE_H
#define AMBIT_WAYPOINT_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "ambit/l7.h"
#include "http/http_fields.h"

/* What matching reads of a request (all borrowed). */
struct wp_request {
	const char *method, *scheme, *authority;
	const char *path;	/* :path, with its query string */
	uint16_t port;		/* the service port it was addressed to */
	const char *tls_server; /* a gateway's TLS certificate its connection got, or NULL */
	size_t n_headers;
	const struct http_field *headers; /* any case; ":method" etc. come from the fields above */
};

/* A service's routes with their regexes compiled once. */
struct wp_route_table;

/*
 * Compiles the routes of @svc (borrowed: it must outlive the table). NULL with errno set
 * (EINVAL: a regex the model carries does not compile; the reason is in @why).
 */
struct wp_route_table *wp_route_table_new(const struct l7_service *svc, char *why, size_t len);
/* Match blocks @m (borrowed, as above) alone, for wp_match_request: a rate limit's rules. */
struct wp_route_table *wp_match_table_new(const struct l7_match *m, size_t n, char *why,
					  size_t len);
void wp_route_table_free(struct wp_route_table *t);
/* The first route that takes @rq (borrowed from the model), or NULL: Envoy's NR, a 404. */
const struct l7_route *wp_route_select(const struct wp_route_table *t, const struct wp_request *rq);
/* Whether match block @m holds for @rq (exposed for tests and the TCP side). */
bool wp_match_request(const struct wp_route_table *t, const struct l7_match *m,
		      const struct wp_request *rq);

/*
 * The first tcp route of @svc that takes a connection to service port @port, its destination
 * address @dest_ip (either family, for destinationSubnets; family 0: none), whose ClientHello named
 * @sni (lowercase; NULL: none, or not TLS): a route with sniHosts wants one of them (exact,
 * "*.suffix" for one label or more, "*"). NULL: none takes it. Borrowed from @svc.
 */
const struct l7_tcp_route *wp_tcp_route_select(const struct l7_service *svc, uint16_t port,
					       const struct ipaddr *dest_ip, const char *sni);

/*
 * Weighted choice: the index whose share of the total @weights contains @rnd % total, so each
 * gets weight / total of uniformly drawn values; -1 when the total is 0.
 */
int wp_weighted_pick(const uint32_t *weights, size_t n, uint64_t rnd);
/* The destination of @r for a request drawn with @rnd (NULL when none has weight). */
const struct l7_destination *wp_route_destination(const struct l7_route *r, uint64_t rnd);

#endif
