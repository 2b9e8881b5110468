/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the request engine: proxy.c (downstream, decisions, local replies, the record),
 * proxy_up.c (attempts, retries, timeouts, the response) and proxy_mirror.c (shadows).
 */
#ifndef AMBIT_WAYPOINT_PROXY_PRIV_H
#define AMBIT_WAYPOINT_PROXY_PRIV_H

#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "http/h2.h"
#include "http/http1_conn.h"
#include "proxy.h"
#include "../reply.h"
#include "../retry.h"
#include "../trace.h"

/* Request body kept for a retry; a longer body makes the request not retriable (Envoy). */
#define WP_RETRY_BUF (64u << 10)
#define WP_MAX_TRIED 8

/* A worker's view of one generation: its clusters' load balancers and pools. */
struct wp_view {
	struct wp_gen *gen;
	struct wp_upstream *ups; /* per cluster, set up on first use */
	size_t users;		 /* requests and mirrors still on it */
	struct wp_view *next;	 /* retired views of the engine */
};

/* A request's tracing (proxy_trace.c). */
struct wp_req_trace {
	struct wp_trace_ctx ctx;
	uint8_t server_id[8], client_id[8];
	bool begun, on, sampled;
	bool client; /* it went upstream: a client span, from client_start_us */
	uint64_t client_start_us;
};

struct wp_tracer;

struct wp_engine {
	struct loop *loop;
	struct wp_engine_opts o;
	struct wp_log *log;	 /* the access log, or NULL (o.log_fd < 0) */
	struct wp_view *view;	 /* the current generation's */
	struct wp_view *retired; /* older ones, freed when unused */
	struct wp_conn *conns;
	struct wp_mirror *mirrors; /* in flight, with or without their request */
	size_t n_conns, n_mirrors;
	bool draining;
	struct wp_req *reqs;	   /* requests in flight (the stream idle sweep) */
	size_t n_reqs;		   /* and how many (the heap trim's count) */
	uint64_t idle_swept_ms;	   /* when wp_engine_sweep last looked at them */
	struct wp_h2down *h2downs; /* HTTP/2 downstream connections (proxy_h2.c) */
	struct wp_h2up *h2ups;	   /* HTTP/2 upstream connections (proxy_h2up.c) */
	struct wp_tcp *tcps;	   /* TCP passthroughs (proxy_tcp.c) */
	struct wp_udp *udps;	   /* UDP flows (proxy_udp.c) */
	size_t n_udps;
	uint64_t udp_swept_ms;
	struct sniff *sniffs; /* connections whose protocol is undecided (proxy_detect.c) */
	size_t n_h2downs, n_tcps;
	uint64_t tcp_swept_ms;		/* when wp_tcp_sweep last looked at the TCP ones */
	struct wp_tracer *tracer;	/* the span queues and exports, made on first use */
	struct wp_jwt_cache *jwt_cache; /* the worker's verified JWTs (jwt.h), made on first use */
};

struct wp_conn {
	struct wp_engine *e;
	struct h1_server *s; /* NULL for an HTTP/2 stream's exchange (h2s) */
	struct wp_h2s *h2s;
	struct wp_req *req; /* the exchange in progress */
	struct wp_conn *next, *prev;
	struct transport_peer peer; /* copied at accept: outlives the transport */
	uint64_t peer_hash; /* its identity and baggage (the metric series' key), once hashed */
	bool peer_hashed;
	/* local and client address as the access log writes them ("[v6]:port" for IPv6) */
	char addr_text[2][SOCKADDR_INET_STRLEN];
	/* An HTTP/2 stream's head was malformed past what its conversion checks (a :scheme). */
	const char *malformed;
	bool reclaimed; /* closed by wp_engine_reclaim: its on_close is still to come */
};

struct wp_mirror;

struct wp_req {
	struct wp_conn *conn;
	struct wp_view *view;
	struct wp_req *anext, *aprev; /* in the engine's requests in flight */
	uint64_t active_ms;	      /* last activity either way (Envoy's stream idle timeout) */
	struct h1_head head;	      /* as received, then as forwarded */
	union sockaddr_inet client;   /* the client's address: the peer's, or from trusted XFF */
	struct ipaddr remote; /* the same address (remoteIpBlocks, x-envoy-external-address) */
	char *orig_path, *authority, *user_agent, *xff, *request_id;
	const char *authority_in; /* the authority as the request's Host gave it */
	int svc;
	const struct l7_route *route;
	const struct l7_destination *dest;
	struct wp_upstream *up;
	struct timespec start_wall;
	uint64_t start_ms;
	struct loop_timer timer;     /* route timeout */
	struct loop_timer try_timer; /* per-try timeout */
	struct loop_timer wait;	     /* fault delay, retry backoff */
	void (*wait_fn)(struct wp_req *r);
	struct buf body;  /* body not yet sent, and kept for retries while it fits */
	size_t body_sent; /* of body, written to the current attempt */
	bool body_kept;	  /* body holds the whole body so far */
	bool req_end, counted, paused_down, paused_up, grpc;
	enum h1_framing framing;
	uint64_t length, bytes_in, bytes_out;
	/* The attempt. */
	struct h1_pool_wait w;
	struct h1_client *c;
	struct wp_h2a *h2a; /* or an HTTP/2 stream (proxy_h2up.c) */
	int host;
	bool waiting, head_sent, got_response, retry_counted, down_eof, up_eof;
	bool stale_retried; /* sent again once after its reused connection was closed under it */
	unsigned int tries;
	unsigned int dns_waits; /* DYNAMIC_DNS: the turns it waited for the name's answer */
	int tried[WP_MAX_TRIED];
	size_t n_tried;
	struct wp_backoff backoff;
	int64_t upstream_ms;
	uint64_t try_start_ms;
	/* The answer. */
	int status, grpc_status;
	uint32_t flag_bits; /* Envoy's response flags (proxy.c) */
	const char *details;
	bool resp_started;
	bool sent_100;	   /* a 100 Continue was forwarded (one per request, retries or not) */
	char *cors_origin; /* an allowed Origin to echo on the response, or NULL */
	char *set_cookie;  /* a hash cookie the response sets (httpCookie with a ttl), or NULL */
	/* The external authorizer's headersToDownstreamOnAllow fields, set on the response. */
	struct http_fields down_allow;
	struct wp_mirror *mirrors;
	struct wp_authn *authn;	      /* the request's verified JWT, or NULL */
	struct wp_extauthz *extauthz; /* the external authorizer's check in flight, or NULL */
	struct wp_req_trace trace;
};

/* proxy.c */
/* The HTTP/1 server's events, also how an HTTP/2 stream's request enters (proxy_h2.c). */
extern const struct h1_server_ops wp_h1_events;
/* Storage for the labels wp_record_source / wp_record_destination point the record at. */
struct wp_labels_buf {
	char sns[128], swl[256], dns[128], dwl[256];
	struct wp_baggage_labels bag;
};

/* "a.b.c.d:port" or "[v6]:port" of @a into @out (SOCKADDR_INET_STRLEN fits any). */
void wp_addr_text(const union sockaddr_inet *a, char *out, size_t len);
/*
 * The client address of @p (the peer's, or the one its ztunnel or PROXY header named) into
 * @out: true, or false with family 0 when none is known (none, or 0.0.0.0 / ::).
 */
bool wp_peer_client_ip(const struct transport_peer *p, struct ipaddr *out);
/*
 * proxy_labels.c: the client's workload labels (peer @p: a workload @g knows, else its
 * ztunnel's baggage, else its identity's namespace), cluster (@g's, or its baggage's),
 * principal and mTLS into @rec; the destination's: Service @svc (NULL: none; a workload entry
 * names none), endpoint @ep (NULL: none picked) and @g's cluster. Strings live in @b, @g or the
 * borrowed inputs.
 */
void wp_record_source(const struct wp_gen *g, const struct transport_peer *p, struct wp_record *rec,
		      struct wp_labels_buf *b);
void wp_record_destination(const struct wp_gen *g, const struct l7_service *svc,
			   const struct l7_endpoint *ep, struct wp_record *rec,
			   struct wp_labels_buf *b);

/* Serves @t as HTTP/1.1 (wp_engine_serve once the protocol is known). */
int wp_serve_http1(struct wp_engine *e, struct transport *t);
/* Closes up to @n connections still silent before their protocol is known, oldest first. */
size_t wp_detect_reclaim(struct wp_engine *e, size_t n);
void wp_req_finish(struct wp_req *r);
/* Answers @r locally with reply @what (status override @status, body override @body). */
void wp_req_reply(struct wp_req *r, enum wp_reply what, int status, const char *body, size_t blen);
/* Answers @r with @status, @body and @extra fields (name, value pairs). */
void wp_req_answer(struct wp_req *r, int status, const char *body, size_t blen,
		   const char *const *extra, size_t n_extra);
void wp_req_flag(struct wp_req *r, const char *flag);
struct wp_upstream *wp_view_upstream(struct wp_engine *e, struct wp_view *v, struct wp_cluster *c);

/*
 * proxy_log.c: the Telemetry entry of @r's service (its index into *@idx when not NULL), or
 * NULL when the model has none; whether @r gets an access-log line (accessLogging, filter).
 */
const struct l7_telemetry *wp_req_telemetry(const struct wp_req *r, size_t *idx);
bool wp_req_logged(const struct wp_req *r);
/*
 * Telemetry's metrics overrides for @r into @mo (the tag values evaluated for it into @ops and
 * @bufs, at most @max): false when its service has none.
 */
#define WP_TAG_VALUE_MAX 128
bool wp_req_metric_ops(const struct wp_req *r, struct wp_metric_ops *mo, struct wp_tag_op *ops,
		       char (*bufs)[WP_TAG_VALUE_MAX], size_t max);
/* The same for a TCP connection to @svc (NULL: the proxy's own): no request attributes. */
bool wp_svc_metric_ops(const struct wp_gen *g, const struct l7_service *svc,
		       struct wp_metric_ops *mo, struct wp_tag_op *ops,
		       char (*bufs)[WP_TAG_VALUE_MAX], size_t max);

/* Envoy's response flags of @r, comma-separated ("" when none), into @out. */
void wp_req_flags_text(const struct wp_req *r, char *out, size_t len);

/*
 * proxy_trace.c: @r's trace context read and its decision made, the upstream's context
 * written (call once it is routed); its spans queued (call when it ends); the queues sent
 * when due (periodic); everything dropped (the engine goes).
 */
void wp_trace_begin(struct wp_req *r);
void wp_trace_finish(struct wp_req *r);
void wp_trace_flush(struct wp_engine *e);
void wp_trace_destroy(struct wp_engine *e);

/* proxy_extauthz.c: asks provider @p about @r; 0 (the answer comes to
 * wp_authz_custom_done or answers @r), or -errno when it cannot be asked. */
int wp_extauthz_start(struct wp_req *r, const struct l7_ext_authz *p);
void wp_extauthz_cancel(struct wp_req *r);
/* proxy.c: the external authorizer allowed @r: the other policies, then the route. */
void wp_authz_custom_done(struct wp_req *r, bool allowed);
/* proxy_ratelimit.c: the service's local rate limits on @r (read as @rq); true when it was
 * refused and answered (429). */
bool wp_ratelimited(struct wp_req *r, const struct wp_request *rq);

/* proxy_up.c */
/* Starts forwarding @r to its destination (after faults). */
void wp_up_start(struct wp_req *r);
/* Request body bytes / end from downstream while routing upstream. */
void wp_up_body(struct wp_req *r, const char *data, size_t len);
void wp_up_body_end(struct wp_req *r);
/* The downstream's queue drained: the upstream may read again. */
void wp_up_drain(struct wp_req *r);
/* Ends the attempt (downstream gone, timeout, local reply): the connection is reset. */
void wp_up_cancel(struct wp_req *r);

/* The upstream connection's events, also those of an HTTP/2 attempt (proxy_h2up.c). */
extern const struct h1_client_ops wp_up_events;
/* An HTTP/2 attempt could not connect (-errno): as a pool's connect failure. */
void wp_up_connect_failed(struct wp_req *r, int err);
/* The HTTP/2 attempt took body bytes: the downstream may send again below the water mark. */
void wp_up_sent(struct wp_req *r);

/*
 * proxy_down.c: the exchange's downstream side, an HTTP/1 connection's current request or an
 * HTTP/2 stream (proxy_h2.c); the same calls as h1_server's. @c outlives its request.
 */
int wp_down_respond(struct wp_conn *c, const struct h1_head *resp, enum h1_framing framing,
		    uint64_t length);
int wp_down_body(struct wp_conn *c, const char *data, size_t len);
/* Response trailers (an HTTP/1 client does not get them). */
int wp_down_trailers(struct wp_conn *c, const struct http_fields *f);
int wp_down_end(struct wp_conn *c);
void wp_down_upgrade(struct wp_conn *c);
size_t wp_down_queued(const struct wp_conn *c);
void wp_down_pause(struct wp_conn *c);
void wp_down_resume(struct wp_conn *c);
bool wp_down_head_request(const struct wp_conn *c);
void wp_down_close(struct wp_conn *c, bool reset);
/* HTTP/1: the response about to be sent says "connection: close", and the connection goes. */
void wp_down_close_after(struct wp_conn *c);
/*
 * The response cannot be completed: the client must learn it. HTTP/1: the connection ends,
 * with a FIN when the framing lets the client see the cut (a length or chunks), else an RST;
 * HTTP/2: the stream is reset.
 */
void wp_down_cut(struct wp_conn *c);
/* The request's activity (stream idle timeout): data or a head either way. */
static inline void wp_req_touch(struct wp_req *r)
{
	r->active_ms = loop_now_ms(r->conn->e->loop);
}

/* proxy_h2.c: HTTP/2 downstream. */
int wp_h2_serve(struct wp_engine *e, struct transport *t, const char *pre, size_t len);
int wp_h2s_respond(struct wp_h2s *s, const struct h1_head *resp, bool has_body);
/* An interim 1xx response on the stream, before its final one. */
int wp_h2s_interim(struct wp_h2s *s, const struct h1_head *resp);
int wp_h2s_body(struct wp_h2s *s, const char *data, size_t len);
int wp_h2s_trailers(struct wp_h2s *s, const struct http_fields *f);
int wp_h2s_end(struct wp_h2s *s);
size_t wp_h2s_queued(const struct wp_h2s *s);
void wp_h2s_pause(struct wp_h2s *s);
void wp_h2s_resume(struct wp_h2s *s);
bool wp_h2s_head_request(const struct wp_h2s *s);
void wp_h2s_reset(struct wp_h2s *s);
void wp_h2_drain_all(struct wp_engine *e);
/* The connections' deadlines (h2_conn_sweep: about once a second). */
void wp_h2_sweep(struct wp_engine *e);
/*
 * @f as an HTTP/2 header block after @reserve free leading slots (pseudo-headers), without
 * connection-specific fields (RFC 9113 §8.2.2); *@out malloc'd, borrowing @f's strings.
 */
int wp_h2_headers(const struct http_fields *f, size_t reserve, struct h2_header **out, size_t *n);
/* The regular fields of a received block appended to @f. 0 or -ENOMEM. */
int wp_h2_fields(const struct h2_header *h, size_t n, struct http_fields *f);
void wp_h2_close_all(struct wp_engine *e);

/* proxy_h2up.c: HTTP/2 upstream. */
/* Whether @r goes upstream as HTTP/2 (h2 downstream, h2UpgradePolicy UPGRADE, h2c/gRPC port). */
bool wp_h2up_wanted(const struct wp_req *r);
/* Whether @r's copy to cluster @c (a mirror's) goes as HTTP/2: the same rules. */
bool wp_h2up_wanted_on(const struct wp_cluster *c, const struct wp_req *r);
/*
 * A mirror's request as an HTTP/2 stream to host @host of @c (of @gen), :authority @authority: its
 * body taken from @body as it grows (wp_h2up_mirror_more after each append) until it is empty and
 * *@req_end; the response read and dropped. When the stream goes, @done(@arg) is called,
 * which must call wp_h2up_mirror_end. NULL when it cannot start.
 */
struct wp_h2m;
struct wp_h2m *wp_h2up_mirror(struct wp_engine *e, struct wp_gen *gen, struct wp_cluster *c,
			      int host, const struct h1_head *head, const char *authority,
			      bool has_body, struct buf *body, const bool *req_end,
			      void (*done)(void *arg), void *arg);
void wp_h2up_mirror_more(struct wp_h2m *x);
/* Releases @x (its stream reset unless it finished); no callback follows. */
void wp_h2up_mirror_end(struct wp_h2m *x);
/*
 * A call of the waypoint's own (ext_authz over gRPC) as a stream on a pooled HTTP/2 connection
 * to host @host of @c (of @gen): request headers @h (copied, pseudo-headers included) and a
 * body from @ops' provide, its events to @ops/@arg. The connection, and *@s, which the caller
 * gives back with wp_h2up_call_end (also from @ops' on_close). NULL + errno when it cannot
 * start (EBUSY past tcp.maxConnections).
 */
struct wp_h2up *wp_h2up_call(struct wp_engine *e, struct wp_gen *gen, struct wp_cluster *c,
			     int host, const struct h2_header *h, size_t n,
			     const struct h2_stream_ops *ops, void *arg, struct h2_stream **s);
void wp_h2up_call_end(struct wp_h2up *u, struct h2_stream *s);
/* Opens @r's attempt to host @h of its upstream, at @addr: 0, or -errno (nothing started). */
int wp_h2up_attempt(struct wp_req *r, int h, const union sockaddr_inet *addr);
/* Ends the attempt (its stream is reset unless it finished). */
void wp_h2up_end(struct wp_req *r);
/*
 * Whether @r's HTTP/2 attempt ended in the keep-alive race (proxy_up.c's stale_retry): no
 * answer yet, and its pooled connection went under it, or the server refused the stream
 * unprocessed (*@unprocessed: safe to send again whatever the method).
 */
bool wp_h2up_stale(const struct wp_req *r, bool *unprocessed);
/* The request body grew (r->body) or ended. */
void wp_h2up_body(struct wp_req *r);
/* Bytes of the response not yet consumed by the downstream. */
void wp_h2up_pause(struct wp_req *r);
void wp_h2up_resume(struct wp_req *r);
/* Idle connections past their time close (periodic); all close (the engine goes). */
void wp_h2up_sweep(struct wp_engine *e);
void wp_h2up_close_all(struct wp_engine *e);

/* proxy_tcp.c: TCP passthrough of a connection detected (or declared) as not HTTP. */
/* @pre: bytes already read (@len), @eof: the client already finished sending; @sni (borrowed,
 * or NULL) the server name its ClientHello asked for, for a gateway's tls routes. */
int wp_tcp_serve(struct wp_engine *e, struct transport *t, const char *pre, size_t len, bool eof,
		 const char *sni);
/*
 * The same for an east-west gateway's stream: to an endpoint's 15008 over plain TCP, or its
 * Service's waypoint's unless @from_waypoint (wp_gen_east_west).
 */
int wp_tcp_serve_east_west(struct wp_engine *e, struct transport *t, bool from_waypoint);
/*
 * The AuthorizationPolicies of service @svc of @g on the connection or flow of @p (@what names
 * it in the logs), as a connection is decided (authz.h l4): true when allowed, else false with
 * Envoy's termination details ("rbac_access_denied_matched_policy[...]") in @details. A dry-run
 * denial is logged.
 */
bool wp_l4_authorize(const struct wp_gen *g, int svc, const struct transport_peer *p,
		     const char *what, char *details, size_t len);
/* A connection's or flow's access-log line (Envoy's TCP proxy format, "- - -"). */
struct wp_l4_rec {
	const struct wp_gen *gen;
	const struct transport_peer *peer;
	const struct l7_service *svc; /* its destination Service, or NULL */
	const struct wp_upstream *u;  /* where it went (host @host), or NULL */
	int host;
	struct timespec start;
	uint64_t start_ms, bytes_in, bytes_out;
	const char *flags, *details, *route, *sni; /* NULL: none */
};
void wp_l4_record(struct wp_engine *e, const struct wp_l4_rec *r);
/*
 * Opens the istio_tcp_* series of a connection or flow of @p to host @host of cluster @c, with
 * request_protocol @protocol (NULL: "tcp"), counted opened: NULL without a store or series.
 */
struct wp_tcp_series *wp_l4_series_open(struct wp_engine *e, const struct wp_gen *g,
					const struct transport_peer *p, const struct wp_cluster *c,
					int host, const char *protocol);
/* proxy_udp.c: wp_engine_serve_udp's flows; idle ones end (periodic); all end (the engine goes). */
int wp_udp_serve(struct wp_engine *e, const struct hbone_request *req, struct hbone_upstream *up,
		 const struct transport_peer *peer);
void wp_udp_sweep(struct wp_engine *e);
void wp_udp_close_all(struct wp_engine *e);
/* proxy_sni.c: a gateway's TLS PASSTHROUGH connection: its ClientHello's SNI, then TCP. */
int wp_sni_serve(struct wp_engine *e, struct transport *t);
void wp_tcp_close_all(struct wp_engine *e);
/* TCP passthroughs idle (no byte either way) past their cluster's connectionPool.tcp.idleTimeout
 * close (periodic). */
void wp_tcp_sweep(struct wp_engine *e);

/* proxy_mirror.c */
/* Shadows of @r per its route's mirrors (their copies of the head are taken now). */
void wp_mirror_start(struct wp_req *r);
void wp_mirror_body(struct wp_req *r, const char *data, size_t len);
void wp_mirror_end(struct wp_req *r);
void wp_mirror_detach(struct wp_req *r);
/* Drops every mirror of @e still in flight (the engine goes). */
void wp_mirror_abort_all(struct wp_engine *e);

#endif
