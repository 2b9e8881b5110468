/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one seam to OpenSSL (STYLE.md rule 8): TLS 1.3 only, ALPN "h2", mutual authentication
 * against the mesh root, SPIFFE URI SAN extraction. Non-blocking: operations return -EAGAIN and
 * tls_conn_want_write() says whether to wait for EPOLLOUT instead of EPOLLIN.
 */
#ifndef AMBIT_NET_TLS_H
#define AMBIT_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_conn;

/*
 * A context presenting @cert_pem/@key_pem (borrowed, copied into OpenSSL) and trusting only
 * @root_pem. A server context requires a client certificate. NULL + errno (EINVAL on bad PEM).
 * Contexts are reference counted and may be shared between threads.
 */
struct tls_ctx *tls_ctx_create(bool server, const char *cert_pem, const char *key_pem,
			       const char *root_pem);
void tls_ctx_put(struct tls_ctx *ctx); /* accepts NULL */
/*
 * A server context for HTTP clients outside the mesh (the waypoint's --listen-tls): presents
 * @cert_pem (the chain) and @key_pem, TLS 1.2 (TLS_EDGE_CIPHERS) or 1.3, asks for no client
 * certificate, and
 * selects ALPN h2 or http/1.1 from the client's offer (none when it offers neither). Its
 * connections complete the handshake without a peer identity. NULL + errno (EINVAL: bad PEM).
 */
struct tls_ctx *tls_ctx_create_edge(const char *cert_pem, const char *key_pem);
/*
 * An ingress gateway's TLS listener: its certificates are chosen per connection by the
 * client's SNI (tls_ctx_gateway_set), and replaced live. Until set, every handshake fails.
 * NULL + errno.
 */
struct tls_ctx *tls_ctx_create_gateway(void);

/* One certificate of a gateway listener (all borrowed). */
struct tls_gateway_cert {
	const char *name;	  /* for messages: "Gateway ns/name server 0 (credentialName x)" */
	const char *const *hosts; /* SNI names: exact, "*.suffix", or "*" (any, and no SNI) */
	size_t n_hosts;
	const char *cert_pem, *key_pem;
	const char *ca_pem; /* non-NULL: MUTUAL, clients must present a certificate it signed */
	bool optional;	    /* with @ca_pem: OPTIONAL_MUTUAL, a certificate checked when sent */
	/* TLS versions as on the wire (0x0304: 1.3); 0: 1.2 and up. Below 1.2 is never offered. */
	int min_version, max_version;
	/*
	 * tls.cipherSuites: the TLS 1.2 suites in Envoy's (BoringSSL's) names, which are
	 * OpenSSL's, and its syntax ("[A|B]" an equal-preference group, "!X"...); none: Envoy's
	 * server default, TLS_EDGE_CIPHERS. TLS 1.3's suites are never narrowed (as Envoy's).
	 */
	const char *const *ciphers;
	size_t n_ciphers;
};
/*
 * TLS 1.2 suites an edge or gateway context offers unless told otherwise: Envoy's server
 * default (DEFAULT_CIPHER_SUITES), which an Istio gateway keeps when a server sets no
 * cipherSuites: ECDHE with AES-GCM or ChaCha20-Poly1305 only, no CBC, no static RSA.
 */
#define TLS_EDGE_CIPHERS                                                                           \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"                             \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:"                                 \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"

/*
 * Replaces the certificates of gateway context @ctx with the @n of @certs, each an edge
 * context (TLS 1.2 and 1.3, ALPN h2 or http/1.1). A handshake takes the one whose hosts meet
 * its SNI best: exact, then the longest wildcard, then "*"; none is refused (unrecognized_name).
 * Connections already made keep theirs. 0; -EINVAL with the reason in @err (nothing changed).
 */
int tls_ctx_gateway_set(struct tls_ctx *ctx, const struct tls_gateway_cert *certs, size_t n,
			char *err, size_t len);
/*
 * The server name a TLS ClientHello asks for, read from the first bytes a client sent (@data,
 * @len, borrowed) without answering it (tls_hello.c): OpenSSL parses the records and the
 * ClientHello, a throwaway server connection reading them from memory and stopped at its
 * ClientHello callback, as Envoy's tls_inspector peeks. At most TLS_HELLO_MAX bytes are worth
 * waiting for. 1 with @sni filled (lowercase, NUL-terminated); 0 for a whole ClientHello that
 * names no host (none, or not a DNS name that fits @sni_len); -EAGAIN when more bytes are
 * needed; -EINVAL when the bytes are not a TLS ClientHello (or one over TLS_HELLO_MAX).
 */
#define TLS_HELLO_MAX 16384
int tls_hello_sni(const void *data, size_t len, char *sni, size_t sni_len);
/*
 * Whether @cert_pem's first certificate and @key_pem's key load and belong together: 0, or
 * -EINVAL with the reason in @err. For validating Secrets where they are loaded.
 */
int tls_check_pair(const char *cert_pem, const char *key_pem, char *err, size_t len);
/* The number of certificates in @pem (0: none parsable). */
int tls_count_certs(const char *pem);

/*
 * TLS origination to a server outside the mesh (a DestinationRule's tls.mode SIMPLE or MUTUAL):
 * a client context, TLS 1.2 and 1.3, ALPN @alpn, checking the server's chain against @ca_pem (NULL:
 * the system's roots), presenting @cert_pem/@key_pem when both are given (MUTUAL), or checking
 * nothing when @insecure (insecureSkipVerify). NULL + errno (EINVAL with the reason in @err).
 */
struct tls_origin {
	const char *ca_pem, *cert_pem, *key_pem;
	bool insecure;
	const char *alpn; /* the one protocol offered ("h2", "http/1.1"), or NULL: none */
};
struct tls_ctx *tls_ctx_create_origin(const struct tls_origin *o, char *err, size_t len);
/*
 * A client connection of an origination context on @fd (borrowed): asks for server name @sni
 * (may be NULL) and, unless the context is insecure, accepts the server only if its
 * certificate has one of the @n_sans names @sans (DNS names, wildcards as the certificate
 * writes them; IP addresses; URIs exactly), all copied. NULL + errno.
 */
struct tls_conn *tls_conn_create_origin(struct tls_ctx *ctx, int fd, const char *sni,
					const char *const *sans, size_t n_sans);

/*
 * Accept only peers whose SPIFFE ID is in one of the @n trust domains @domains (copied): the
 * mesh's own and its aliases. Set before the context is shared. A context without any accepts
 * every trust domain the root signed for. 0 or -ENOMEM.
 */
int tls_ctx_set_trust_domains(struct tls_ctx *ctx, const char *const *domains, size_t n);
struct tls_ctx *tls_ctx_get(struct tls_ctx *ctx);

/*
 * Wraps the connected non-blocking socket @fd (borrowed: the caller closes it after destroying
 * the connection). A client connection (@ctx from a client context) accepts the server only if
 * its URI SAN equals @expect_san (copied), or one of its space-separated IDs. NULL + errno.
 */
struct tls_conn *tls_conn_create(struct tls_ctx *ctx, int fd, const char *expect_san);
void tls_conn_destroy(struct tls_conn *c);
/* 0 when done, -EAGAIN to retry when the fd is ready, -EPROTO (reason in tls_conn_error). */
int tls_conn_handshake(struct tls_conn *c);
/* >0 bytes, 0 on clean close, -EAGAIN, -EPROTO / -ECONNRESET. */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);
/* True when nothing is buffered in OpenSSL and the last socket read came back short. */
bool tls_conn_read_drained(struct tls_conn *c);
/*
 * An idle connection's record buffers go (some 34 KiB: one record each way), if nothing is
 * held in them; OpenSSL takes them again at the next record. For a connection that finished
 * its handshake and sent nothing more (a flood of handshakes held open): once a connection,
 * not once a request as SSL_MODE_RELEASE_BUFFERS would.
 */
void tls_conn_release_buffers(struct tls_conn *c);
/*
 * Keeps @c's record buffers between records, where its context releases them after each one
 * (the mesh's contexts: SSL_MODE_RELEASE_BUFFERS, for their many idle HBONE connections). For an
 * owner that releases them itself once the connection is quiet (tls_conn_release_buffers): a
 * busy connection then pays no allocation and free of its buffers (some 83 KiB) per record.
 * Returns whether it changed anything (false: the context keeps them already).
 */
bool tls_conn_keep_buffers(struct tls_conn *c);
/*
 * >0 bytes (possibly fewer than @len), -EAGAIN, -EPROTO / -EPIPE. Records may stay buffered
 * until tls_conn_flush().
 */
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* Sends what tls_conn_write() buffered: 0 when all is out, -EAGAIN (wait for EPOLLOUT), -EPIPE. */
int tls_conn_flush(struct tls_conn *c);
/* Sends close_notify (best effort). */
void tls_conn_shutdown(struct tls_conn *c);
/*
 * Whether to wait for EPOLLOUT: OpenSSL wants to write, or records wait for the socket (with
 * tls_conn_defer_sends: the owner's last send of them came back short).
 */
bool tls_conn_want_write(const struct tls_conn *c);
/*
 * The owner makes the sends tls_conn_flush would (after its batch, with its event loop's wait:
 * net/loop.h's loop_send): from now on tls_conn_flush calls @kick(@arg) when records wait, and
 * the owner sends tls_conn_pending's bytes and reports with tls_conn_sent. The handshake's
 * flights, close_notify and a write past the buffer's bound are still sent at once.
 */
void tls_conn_defer_sends(struct tls_conn *c, void (*kick)(void *arg), void *arg);
/*
 * The records come from @reader(@arg, ...) instead of recv() on the socket (its event loop reads
 * the socket: net/loop.h's loop_recv): > 0 bytes, 0 at the peer's end, -EAGAIN, -errno, and
 * @drained when nothing more is there now.
 */
void tls_conn_set_reader(struct tls_conn *c,
			 ssize_t (*reader)(void *arg, void *buf, size_t len, bool *drained),
			 void *arg);
/* The records waiting to be sent (borrowed until the next call on @c) and their length. */
const void *tls_conn_pending(const struct tls_conn *c, size_t *len);
/* @n of tls_conn_pending's bytes were sent: true when none are left. */
bool tls_conn_sent(struct tls_conn *c, size_t n);
/* The peer's spiffe:// URI SAN once the handshake is done (borrowed), or NULL. */
const char *tls_conn_peer_identity(const struct tls_conn *c);
/*
 * The spiffe:// URI SAN of one certificate, PEM (the first one in @cert) or DER, as a handshake
 * takes it from the peer's: malloc'd (caller frees), or NULL with errno EINVAL (not a
 * certificate) or ENOENT (no SPIFFE ID). Borrows @cert. For tools and tests (the fuzz target).
 */
char *tls_cert_spiffe_id(const void *cert, size_t len);
/* A gateway connection's certificate, by the name it was set with (borrowed), or NULL. */
const char *tls_conn_server(const struct tls_conn *c);
/* The server name (SNI) a server connection's client sent, once handshaken (borrowed), or NULL. */
const char *tls_conn_sni(const struct tls_conn *c);
/* Human-readable reason of the last failure (borrowed). */
const char *tls_conn_error(const struct tls_conn *c);

#endif
