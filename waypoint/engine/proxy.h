/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waypoint's HTTP/1.1 request engine, one per worker loop: it serves downstream
 * connections handed to it as transports (a plaintext listener's sockets, or HBONE streams),
 * routes each request by the original destination the transport reports (the Service) and
 * the route table of the current configuration generation, and forwards it through the
 * upstream connector with Istio's semantics (API_SEMANTICS.md §1, §2): weighted destinations,
 * subsets, DestinationRule load balancing, circuit breakers and outlier detection, redirects,
 * direct responses, rewrites, header operations, CORS, faults, timeouts, retries, mirrors.
 * Local replies carry Envoy's status, response flag and body (reply.h).
 */
#ifndef AMBIT_WAYPOINT_PROXY_H
#define AMBIT_WAYPOINT_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "../authz.h"
#include "../config.h"
#include "http/http_fields.h"
#include "../stats.h"
#include "net/transport.h"

/*
 * Envoy's HTTP connection manager settings as Istio exposes them (0 for a time: its default,
 * docs/internals/waypoint.md lists them next to Envoy's and Istio's).
 */
#define WP_STREAM_IDLE_MS (300u * 1000) /* Envoy's default stream_idle_timeout */

struct wp_hcm_opts {
	unsigned int headers_ms;     /* request headers timeout: 408 (60 s) */
	unsigned int stream_idle_ms; /* stream idle timeout: 408 / 504 (300 s) */
	unsigned int idle_ms;	     /* a connection without requests (1 h) */
	/*
	 * meshConfig.defaultConfig.gatewayTopology.numTrustedProxies: how many proxies in front
	 * of an edge listener append to x-forwarded-for (Envoy's xff_num_trusted_hops).
	 */
	unsigned int trusted_hops;
	struct http_limits headers;  /* one limit for HTTP/1.1 and HTTP/2 */
	enum wp_path_norm path_norm; /* meshConfig.pathNormalization (BASE) */
};

struct wp_engine_opts {
	struct connector *cn; /* upstream connector on the same loop (borrowed) */
	/* Plain TCP on the same loop (borrowed), or NULL: an east-west gateway's onward legs. */
	struct connector *tcp_cn;
	struct wp_stats *stats; /* this worker's metric store (borrowed), or NULL */
	int log_fd;		/* access log (-1: none) */
	bool log_json;
	bool shadow_suffix; /* mirrored requests' Host gets "-shadow" (Envoy's default) */
	struct wp_hcm_opts hcm;
};

struct wp_engine;

/* An engine on @l serving generation @gen (a reference is taken); @o copied. NULL + errno. */
struct wp_engine *wp_engine_new(struct loop *l, struct wp_gen *gen, const struct wp_engine_opts *o);
/* New requests take @gen (a reference is taken); in-flight ones keep theirs. */
void wp_engine_set_gen(struct wp_engine *e, struct wp_gen *gen);
/* The generation new requests take. Borrowed: valid on @e's loop until the next set_gen. */
const struct wp_gen *wp_engine_gen(const struct wp_engine *e);
/* Serves the downstream connection @t (taken). 0 or -errno (then @t is closed). */
int wp_engine_serve(struct wp_engine *e, struct transport *t);
/*
 * An east-west gateway's stream @t (taken), its peer's dest_host and dest_port the CONNECT's
 * `<Service hostname>:<port>`: its bytes (the inner tunnel of Istio's double HBONE) go on as
 * they are to one of that Service's endpoints, at its port 15008, or to its waypoint's
 * (l7_service.waypoint_host) unless @from_waypoint (the stream said `x-istio-source:
 * waypoint`). 0 or -errno (@t closed).
 */
int wp_engine_serve_east_west(struct wp_engine *e, struct transport *t, bool from_waypoint);
/*
 * A CONNECT-UDP @req (hbone_udp.h) to this waypoint, @peer what it named (the Service's
 * VIP:port, the client): decided, and on its way to an endpoint (proxy_udp.c), @up filled: 0.
 * Else the status to answer: 403 denied by policy, 404 no such Service, 503 no endpoint or no
 * flow to it.
 */
struct hbone_request;
struct hbone_upstream;
int wp_engine_serve_udp(struct wp_engine *e, const struct hbone_request *req,
			struct hbone_upstream *up, const struct transport_peer *peer);
/* Idle connections close now, busy ones after their current exchange. */
void wp_engine_drain(struct wp_engine *e);
/*
 * Out of file descriptors: closes (with a reset) up to @n downstream connections that have no
 * request in flight, oldest first: those that said nothing yet, then HTTP/1 keep-alive ones
 * between requests (nginx's reusable connections). Their descriptors are free on return. How
 * many it closed.
 */
size_t wp_engine_reclaim(struct wp_engine *e, size_t n);
/* Open downstream connections and mirrored requests still in flight. */
size_t wp_engine_active(const struct wp_engine *e);
/* Requests in flight (HTTP/1 exchanges and HTTP/2 streams alike). */
size_t wp_engine_requests(const struct wp_engine *e);
/* Runs outlier sweeps of the clusters this engine used (call from a periodic timer). */
void wp_engine_sweep(struct wp_engine *e);
/* Resets what is left and frees @e. Accepts NULL. */
void wp_engine_destroy(struct wp_engine *e);
/*
 * Requests the engines of the process sent again on a new connection because the pooled one
 * they were written on was closed by its server before any byte of the answer (the keep-alive
 * race; proxy_up.c's stale_retry). Atomic.
 */
uint64_t wp_engine_stale_retries(void);

#endif
