// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "tls.h"

/* Bytes OpenSSL may pull from the socket per read (four full records and their overhead). */
#define TLS_READ_BUF (4 * (16384 + 256))
/* Records gathered before one send(): a flush of the HTTP/2 coalescing buffer and more. */
#define TLS_WRITE_BUF (256 << 10)

/* One certificate of a gateway context: the SNI names it answers for and its context. */
struct sni_entry {
	char **hosts; /* "bookinfo.com", "*.example.com", "*" */
	size_t n_hosts;
	SSL_CTX *ssl;
	bool mutual, optional; /* optional: a client certificate is checked when sent */
	int min_version, max_version;
};

struct sni_set {
	size_t n;
	struct sni_entry *e;
};

struct tls_ctx {
	SSL_CTX *ssl;
	bool server;
	bool edge;   /* one-way TLS for HTTP clients (tls_ctx_create_edge) */
	bool origin; /* TLS origination to a server outside the mesh (tls_ctx_create_origin) */
	bool insecure;
	int refs;
	/* A gateway context (tls_ctx_create_gateway): the certificates chosen by SNI. */
	bool gateway;
	pthread_mutex_t sni_lock;
	struct sni_set *sni;
	size_t n_domains;
	char **domains; /* trust domains a peer's SPIFFE ID must be in; none: any */
};

struct tls_conn {
	SSL *ssl;
	struct tls_ctx *ctx; /* a reference of its own */
	bool server;
	bool want_write;
	bool handshaken;
	bool drained; /* the last socket read returned less than asked: the socket is empty */
	int fd;
	struct buf out; /* records written by OpenSSL, not yet sent (sock_bio_write) */
	/* tls_conn_defer_sends: the owner sends what tls_conn_flush would (NULL: it sends). */
	void (*kick)(void *arg);
	void *kick_arg;
	/* tls_conn_set_reader: where the records come from instead of recv() (NULL: recv). */
	ssize_t (*reader)(void *arg, void *buf, size_t len, bool *drained);
	void *reader_arg;
	bool send_short; /* the owner's last send left some: wait for EPOLLOUT */
	char *expect_san;
	char **sans; /* origination: the names the server's certificate must have one of */
	size_t n_sans;
	char *peer_id;
	char err[200];
};

static const unsigned char alpn_h2[] = {2, 'h', '2'};

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel;

	/* HBONE is HTTP/2 only: no h2 offered means no connection. */
	if (SSL_select_next_proto(&sel, outlen, alpn_h2, sizeof(alpn_h2), in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* An HTTP client's offer: h2 if it has it, else http/1.1, else no ALPN at all. */
static int alpn_select_edge(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = {2,	  'h', '2', 8,	 'h', 't',
					     't', 'p', '/', '1', '.', '1'};
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours), in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int load_root(SSL_CTX *ssl, const char *root_pem)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ssl);
	BIO *bio = BIO_new_mem_buf(root_pem, -1);
	X509 *x;
	int n = 0;

	if (!bio)
		return -ENOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (X509_STORE_add_cert(store, x) == 1)
			n++;
		X509_free(x);
	}
	BIO_free(bio);
	ERR_clear_error();
	return n ? 0 : -EINVAL;
}

static int load_identity(SSL_CTX *ssl, const char *cert_pem, const char *key_pem)
{
	BIO *bio = BIO_new_mem_buf(cert_pem, -1);
	EVP_PKEY *key = NULL;
	X509 *x;
	int err = -EINVAL;

	if (!bio)
		return -ENOMEM;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!x || SSL_CTX_use_certificate(ssl, x) != 1)
		goto out;
	X509_free(x);
	/* Intermediates follow the leaf in the same PEM. */
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (SSL_CTX_add_extra_chain_cert(ssl, x) != 1) {
			X509_free(x);
			goto out;
		}
	}
	BIO_free(bio);
	x = NULL;
	bio = BIO_new_mem_buf(key_pem, -1);
	if (!bio)
		return -ENOMEM;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!key || SSL_CTX_use_PrivateKey(ssl, key) != 1 || SSL_CTX_check_private_key(ssl) != 1)
		goto out;
	err = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(bio);
	ERR_clear_error();
	return err;
}

/* What every context's connections do: TLS @min_version and up, partial writes, read-ahead. */
static void ctx_modes(SSL_CTX *ssl, int min_version)
{
	SSL_CTX_set_min_proto_version(ssl, min_version);
	SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	/*
	 * Read-ahead with a buffer of several records: one recv() brings in many records instead
	 * of two (header, then body) per 16 KiB record.
	 */
	SSL_CTX_set_read_ahead(ssl, 1);
	SSL_CTX_set_default_read_buffer_len(ssl, TLS_READ_BUF);
}

/*
 * An edge context's connections: Envoy's TLS 1.2 suites, their record buffers kept, no client
 * certificate, ALPN. 0 or -ENOMEM.
 */
static int edge_modes(SSL_CTX *ssl)
{
	/*
	 * A client's connection keeps its record buffers (one record each way, OpenSSL's default
	 * sizes: some 34 KiB, as HAProxy's): released after every read and write, as the mesh's
	 * many mostly idle HBONE connections have them, they cost a malloc and a free of up to
	 * 66 KiB per request. HTTP requests are small; one record of read-ahead is enough.
	 */
	SSL_CTX_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_read_buffer_len(ssl, 0);
	SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_alpn_select_cb(ssl, alpn_select_edge, NULL);
	/* OpenSSL's own default would add CBC and static-RSA suites to TLS 1.2. */
	if (SSL_CTX_set_cipher_list(ssl, TLS_EDGE_CIPHERS) != 1) {
		ERR_clear_error();
		return -ENOMEM;
	}
	return 0;
}

/*
 * A context's common part: OpenSSL's context for @server, TLS @min_version and up, partial
 * writes, read-ahead, and the identity @cert_pem / @key_pem. NULL + errno.
 */
static struct tls_ctx *ctx_new(bool server, int min_version, const char *cert_pem,
			       const char *key_pem)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
	int err = -ENOMEM;

	if (!ctx)
		return NULL;
	ctx->server = server;
	ctx->refs = 1;
	ctx->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx->ssl)
		goto fail;
	ctx_modes(ctx->ssl, min_version);
	err = load_identity(ctx->ssl, cert_pem ? cert_pem : "", key_pem ? key_pem : "");
	if (err)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx->ssl);
	free(ctx);
	errno = -err;
	return NULL;
}

struct tls_ctx *tls_ctx_create(bool server, const char *cert_pem, const char *key_pem,
			       const char *root_pem)
{
	struct tls_ctx *ctx = ctx_new(server, TLS1_3_VERSION, cert_pem, key_pem);
	int err;

	if (!ctx)
		return NULL;
	/* Compression and renegotiation do not exist in 1.3; tickets would only add state. */
	SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx->ssl, 0);
	SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	err = load_root(ctx->ssl, root_pem ? root_pem : "");
	if (err)
		goto fail;
	if (server) {
		SSL_CTX_set_alpn_select_cb(ctx->ssl, alpn_select, NULL);
		SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
	} else if (SSL_CTX_set_alpn_protos(ctx->ssl, alpn_h2, sizeof(alpn_h2)) != 0) {
		err = -ENOMEM;
		goto fail;
	}
	return ctx;
fail:
	tls_ctx_put(ctx);
	errno = -err;
	return NULL;
}

struct tls_ctx *tls_ctx_create_edge(const char *cert_pem, const char *key_pem)
{
	/* What HTTP clients speak today: TLS 1.2 and 1.3, OpenSSL's default suites. */
	struct tls_ctx *ctx = ctx_new(true, TLS1_2_VERSION, cert_pem, key_pem);

	if (!ctx)
		return NULL;
	ctx->edge = true;
	if (edge_modes(ctx->ssl)) {
		tls_ctx_put(ctx);
		errno = ENOMEM;
		return NULL;
	}
	return ctx;
}

int tls_count_certs(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;

	while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		X509_free(x);
		n++;
	}
	BIO_free(bio);
	ERR_clear_error();
	return n;
}

int tls_check_pair(const char *cert_pem, const char *key_pem, char *err, size_t len)
{
	BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int ret = -EINVAL;

	if (!x)
		snprintf(err, len, "no PEM certificate");
	else if (!key)
		snprintf(err, len, "no PEM private key");
	else if (X509_check_private_key(x, key) != 1)
		snprintf(err, len, "the private key does not belong to the certificate");
	else
		ret = 0;
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(cb);
	BIO_free(kb);
	ERR_clear_error();
	return ret;
}

/* Each gateway certificate's context carries its name (tls_conn_server): freed with it. */
static int cert_name_idx = -1;
static pthread_once_t cert_name_once = PTHREAD_ONCE_INIT;

static void cert_name_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			   void *argp)
{
	free(ptr);
}

static void cert_name_init(void)
{
	cert_name_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, cert_name_free);
}

static void sni_set_free(struct sni_set *set)
{
	for (size_t i = 0; set && i < set->n; i++) {
		for (size_t h = 0; h < set->e[i].n_hosts; h++)
			free(set->e[i].hosts[h]);
		free(set->e[i].hosts);
		SSL_CTX_free(set->e[i].ssl);
	}
	if (set)
		free(set->e);
	free(set);
}

/* How well SNI @name meets host @h: 3 exact, 2 wildcard (+ its length), 1 "*", 0 not. */
static size_t sni_rank(const char *h, const char *name)
{
	size_t hl = strlen(h), nl = strlen(name);

	if (!strcmp(h, "*"))
		return 1;
	if (!strcasecmp(h, name))
		return SIZE_MAX;
	if (h[0] == '*' && nl >= hl && !strcasecmp(name + nl - (hl - 1), h + 1))
		return 2 + hl;
	return 0;
}

/*
 * The gateway context's ClientHello: the certificate whose hosts meet the SNI best (exact, the
 * longest wildcard, "*"), as Envoy picks a filter chain by server_names; a client without SNI
 * gets the "*" one. None: the handshake fails with unrecognized_name.
 */
static int gateway_hello(SSL *ssl, int *alert, void *arg)
{
	struct tls_ctx *ctx = arg;
	const unsigned char *ext;
	size_t len, best_rank = 0;
	char name[256] = "";
	struct sni_entry *best = NULL;

	/* server_name: list length (2), type host_name (1), name length (2), the name. */
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) && len > 5 &&
	    ext[2] == TLSEXT_NAMETYPE_host_name) {
		size_t n = (size_t)ext[3] << 8 | ext[4];

		if (n < sizeof(name) && n + 5 <= len && !memchr(ext + 5, '\0', n)) {
			memcpy(name, ext + 5, n);
			name[n] = '\0';
		}
	}
	pthread_mutex_lock(&ctx->sni_lock);
	for (size_t i = 0; ctx->sni && i < ctx->sni->n; i++)
		for (size_t h = 0; h < ctx->sni->e[i].n_hosts; h++) {
			size_t r = sni_rank(ctx->sni->e[i].hosts[h], name);

			if (r > best_rank && (name[0] || r == 1)) {
				best_rank = r;
				best = &ctx->sni->e[i];
			}
		}
	if (best) {
		SSL_set_SSL_CTX(ssl, best->ssl);
		SSL_set_verify(ssl,
			       !best->mutual	? SSL_VERIFY_NONE
			       : best->optional ? SSL_VERIFY_PEER
						: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			       NULL);
		/* Before the version is chosen: the callback runs ahead of that. */
		SSL_set_min_proto_version(ssl, best->min_version);
		SSL_set_max_proto_version(ssl, best->max_version);
	}
	pthread_mutex_unlock(&ctx->sni_lock);
	if (!best) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

struct tls_ctx *tls_ctx_create_gateway(void)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->server = ctx->edge = ctx->gateway = true;
	ctx->refs = 1;
	pthread_mutex_init(&ctx->sni_lock, NULL);
	ctx->ssl = SSL_CTX_new(TLS_server_method());
	if (!ctx->ssl) {
		pthread_mutex_destroy(&ctx->sni_lock);
		free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	/* A connection takes its modes from here (SSL_set_SSL_CTX does not change them). */
	ctx_modes(ctx->ssl, TLS1_2_VERSION);
	if (edge_modes(ctx->ssl)) {
		tls_ctx_put(ctx);
		errno = ENOMEM;
		return NULL;
	}
	SSL_CTX_set_client_hello_cb(ctx->ssl, gateway_hello, ctx);
	return ctx;
}

/*
 * cipherSuites in OpenSSL's syntax: "A:B", Envoy's equal-preference groups ("[A|B]") as their
 * members in order (OpenSSL has no such groups; the client's order decides among all of them,
 * OpenSSL's default), empty names left out ("": none). malloc'd, or NULL.
 */
static char *cipher_list(const char *const *names, size_t n)
{
	size_t len = 1;
	char *out, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	out = p = malloc(len);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!names[i][0])
			continue;
		if (p != out)
			*p++ = ':';
		for (const char *s = names[i]; *s; s++)
			if (*s == '|')
				*p++ = ':';
			else if (*s != '[' && *s != ']')
				*p++ = *s;
	}
	*p = '\0';
	return out;
}

/* The context of one gateway certificate: an edge context, the client CA for MUTUAL. */
static SSL_CTX *gateway_cert_ctx(const struct tls_gateway_cert *gc, char *err, size_t len)
{
	static const unsigned char sid[] = "ambit-gateway";
	struct tls_ctx *edge = tls_ctx_create_edge(gc->cert_pem, gc->key_pem);
	SSL_CTX *ssl;

	if (!edge) {
		snprintf(err, len, "%s: the certificate or key does not load, or they do not match",
			 gc->name);
		return NULL;
	}
	ssl = edge->ssl;
	SSL_CTX_up_ref(ssl);
	tls_ctx_put(edge);
	pthread_once(&cert_name_once, cert_name_init);
	if (cert_name_idx < 0 || !SSL_CTX_set_ex_data(ssl, cert_name_idx, strdup(gc->name)) ||
	    !SSL_CTX_get_ex_data(ssl, cert_name_idx)) {
		snprintf(err, len, "out of memory");
		SSL_CTX_free(ssl);
		return NULL;
	}
	/*
	 * The server's own TLS 1.2 suites: the ClientHello callback's SSL_set_SSL_CTX makes this
	 * context's list the one the connection chooses from (SSL_get_ciphers: the context's,
	 * the connection having none of its own).
	 */
	if (gc->n_ciphers) {
		char *list = cipher_list(gc->ciphers, gc->n_ciphers);
		/* Only empty names: none given, the default stays (as Envoy takes an empty list).
		 */
		int ok = list && (!list[0] || SSL_CTX_set_cipher_list(ssl, list) == 1);

		free(list);
		ERR_clear_error();
		if (!ok) {
			snprintf(err, len, "%s: cipherSuites: no TLS 1.2 suite OpenSSL has",
				 gc->name);
			SSL_CTX_free(ssl);
			return NULL;
		}
	}
	/* One session id context for all: SSL_set_SSL_CTX keeps the connection's. */
	SSL_CTX_set_session_id_context(ssl, sid, sizeof(sid) - 1);
	if (gc->ca_pem && load_root(ssl, gc->ca_pem)) {
		snprintf(err, len, "%s: no CA certificate to verify clients with", gc->name);
		SSL_CTX_free(ssl);
		return NULL;
	}
	return ssl;
}

int tls_ctx_gateway_set(struct tls_ctx *ctx, const struct tls_gateway_cert *certs, size_t n,
			char *err, size_t len)
{
	struct sni_set *set = calloc(1, sizeof(*set)), *old;

	err[0] = '\0';
	if (!set || !(set->e = calloc(n ? n : 1, sizeof(*set->e))))
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		struct sni_entry *e = &set->e[set->n];

		e->ssl = gateway_cert_ctx(&certs[i], err, len);
		if (!e->ssl) {
			sni_set_free(set);
			return -EINVAL;
		}
		set->n++;
		e->mutual = certs[i].ca_pem != NULL;
		e->optional = certs[i].optional;
		e->min_version =
		    certs[i].min_version > TLS1_2_VERSION ? certs[i].min_version : TLS1_2_VERSION;
		e->max_version = certs[i].max_version; /* 0: the highest OpenSSL has */
		if (e->max_version && e->max_version < e->min_version) {
			snprintf(err, len, "%s: no TLS version left: 1.2 is the lowest served",
				 certs[i].name);
			sni_set_free(set);
			return -EINVAL;
		}
		e->hosts = calloc(certs[i].n_hosts ? certs[i].n_hosts : 1, sizeof(*e->hosts));
		if (!e->hosts)
			goto nomem;
		for (size_t h = 0; h < certs[i].n_hosts; h++)
			if (!(e->hosts[e->n_hosts++] = strdup(certs[i].hosts[h])))
				goto nomem;
	}
	pthread_mutex_lock(&ctx->sni_lock);
	old = ctx->sni;
	ctx->sni = set;
	pthread_mutex_unlock(&ctx->sni_lock);
	sni_set_free(old); /* connections that chose one of them hold their own reference */
	return 0;
nomem:
	sni_set_free(set);
	snprintf(err, len, "out of memory");
	return -ENOMEM;
}

struct tls_ctx *tls_ctx_get(struct tls_ctx *ctx)
{
	__atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
	return ctx;
}

static void free_domains(struct tls_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_domains; i++)
		free(ctx->domains[i]);
	free(ctx->domains);
	ctx->domains = NULL;
	ctx->n_domains = 0;
}

void tls_ctx_put(struct tls_ctx *ctx)
{
	if (!ctx || __atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	SSL_CTX_free(ctx->ssl);
	free_domains(ctx);
	if (ctx->gateway) {
		sni_set_free(ctx->sni);
		pthread_mutex_destroy(&ctx->sni_lock);
	}
	free(ctx);
}

int tls_ctx_set_trust_domains(struct tls_ctx *ctx, const char *const *domains, size_t n)
{
	free_domains(ctx);
	ctx->domains = calloc(n ? n : 1, sizeof(*ctx->domains));
	if (!ctx->domains)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ctx->domains[i] = strdup(domains[i]);
		if (!ctx->domains[i]) {
			free_domains(ctx);
			return -ENOMEM;
		}
		ctx->n_domains++;
	}
	return 0;
}

/* spiffe://<trust domain>/<path>: is the trust domain one of @ctx's? */
static bool in_trust_domains(const struct tls_ctx *ctx, const char *id)
{
	const char *td = id + 9, *slash = strchr(td, '/');
	size_t len = slash ? (size_t)(slash - td) : strlen(td);

	if (!ctx->n_domains)
		return true;
	for (size_t i = 0; i < ctx->n_domains; i++)
		if (strlen(ctx->domains[i]) == len && !strncmp(ctx->domains[i], td, len))
			return true;
	return false;
}

static void set_err(struct tls_conn *c, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[120] = "";
	long vr = SSL_get_verify_result(c->ssl);

	if (e)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	if (vr != X509_V_OK)
		snprintf(c->err, sizeof(c->err), "%s: certificate verify failed: %s", what,
			 X509_verify_cert_error_string(vr));
	else
		snprintf(c->err, sizeof(c->err), "%s: %s", what, e ? ebuf : "failed");
	ERR_clear_error();
}

/* ---- the socket BIO: OpenSSL reads the socket and writes into the connection's buffer ---- */

/* Sends what @c's buffer holds: 0 when empty, -EAGAIN when the socket is full, else -errno. */
static int out_send(struct tls_conn *c)
{
	/* No socket (the owner's pipe, tls_conn_defer_sends): the owner sends, now. */
	if (c->fd < 0) {
		if (c->kick && c->out.len)
			c->kick(c->kick_arg);
		return c->out.len ? -EAGAIN : 0;
	}
	while (c->out.len) {
		ssize_t n = send(c->fd, buf_head(&c->out), c->out.len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		buf_consume(&c->out, (size_t)n);
	}
	buf_free(&c->out);
	return 0;
}

static int sock_bio_read(BIO *b, char *dst, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (c->reader) {
		bool drained = false;

		n = c->reader(c->reader_arg, dst, (size_t)len, &drained);
		c->drained = drained;
		if (n == -EAGAIN)
			BIO_set_retry_read(b);
		if (n < 0) {
			errno = (int)-n;
			return -1;
		}
		return (int)n;
	}
	do
		n = recv(c->fd, dst, (size_t)len, 0);
	while (n < 0 && errno == EINTR);
	/* Less than asked (or nothing): the socket is empty, no need to read again now. */
	c->drained = n < len;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return (int)n;
}

/* Records are gathered (bounded) and leave together at tls_conn_flush: one send, not one each. */
static int sock_bio_write(BIO *b, const char *src, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	char *p;

	BIO_clear_retry_flags(b);
	if (c->out.len + (size_t)len > TLS_WRITE_BUF) {
		int err = out_send(c);

		if (err == -EAGAIN && c->out.len + (size_t)len > TLS_WRITE_BUF) {
			BIO_set_retry_write(b);
			return -1;
		}
		if (err && err != -EAGAIN) {
			errno = -err;
			return -1;
		}
	}
	p = buf_reserve(&c->out, (size_t)len, TLS_WRITE_BUF);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(p, src, (size_t)len);
	c->out.len += (size_t)len;
	return len;
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_conn *c = BIO_get_data(b);
	int err;

	(void)num, (void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		/* OpenSSL flushes its handshake flights and alerts itself. */
		BIO_clear_retry_flags(b);
		/*
		 * No socket: the records are the owner's to send (its pipe may take them later),
		 * and held here they are flushed as far as TLS goes. (A retry here would not reach
		 * SSL_get_error: the handshake's buffering BIO does not copy it after a flush.)
		 */
		if (c->fd < 0) {
			(void)out_send(c);
			return 1;
		}
		err = out_send(c);
		if (err == -EAGAIN)
			BIO_set_retry_write(b);
		return err ? -1 : 1;
	case BIO_CTRL_WPENDING: return (long)c->out.len;
	case BIO_CTRL_DUP: return 1;
	default: return 0; /* no kTLS, no pending reads of its own */
	}
}

static int sock_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *sock_bio_method;
static pthread_once_t sock_bio_once = PTHREAD_ONCE_INIT;

static void sock_bio_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ambit socket");

	if (m && BIO_meth_set_read(m, sock_bio_read) && BIO_meth_set_write(m, sock_bio_write) &&
	    BIO_meth_set_ctrl(m, sock_bio_ctrl) && BIO_meth_set_create(m, sock_bio_create)) {
		sock_bio_method = m;
		return;
	}
	BIO_meth_free(m);
}

/*
 * One BIO of ours both ways (as HAProxy has its own): reads go straight to the socket, noting
 * whether they drained it (tls_conn_read_drained); writes gather in the connection's buffer so
 * that the records of one flush leave in one send() (OpenSSL writes each record separately).
 * OpenSSL's socket and buffer BIOs did the same through a chain whose every control call went
 * through both (a few thousand instructions a request).
 */
struct tls_ctx *tls_ctx_create_origin(const struct tls_origin *o, char *err, size_t len)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
	bool mutual = o->cert_pem && o->key_pem;

	if (!ctx)
		return NULL;
	ctx->refs = 1;
	ctx->origin = true;
	ctx->insecure = o->insecure;
	ctx->ssl = SSL_CTX_new(TLS_client_method());
	if (!ctx->ssl)
		goto nomem;
	ctx_modes(ctx->ssl, TLS1_2_VERSION);
	/* A client of a web server: one record of read-ahead, buffers kept (edge_modes). */
	SSL_CTX_clear_mode(ctx->ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_read_buffer_len(ctx->ssl, 0);
	SSL_CTX_set_verify(ctx->ssl, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if (mutual && load_identity(ctx->ssl, o->cert_pem, o->key_pem)) {
		snprintf(err, len, "the client certificate and key do not load or do not match");
		goto inval;
	}
	if (o->ca_pem && load_root(ctx->ssl, o->ca_pem)) {
		snprintf(err, len, "the CA certificates do not load");
		goto inval;
	}
	if (!o->ca_pem && SSL_CTX_set_default_verify_paths(ctx->ssl) != 1) {
		snprintf(err, len, "the system's root certificates do not load");
		goto inval;
	}
	if (o->alpn) {
		unsigned char wire[32];
		size_t n = strlen(o->alpn);

		if (n >= sizeof(wire)) {
			snprintf(err, len, "ALPN %.40s: too long", o->alpn);
			goto inval;
		}
		wire[0] = (unsigned char)n;
		memcpy(wire + 1, o->alpn, n);
		if (SSL_CTX_set_alpn_protos(ctx->ssl, wire, (unsigned int)n + 1) != 0)
			goto nomem;
	}
	return ctx;
inval:
	tls_ctx_put(ctx);
	errno = EINVAL;
	return NULL;
nomem:
	tls_ctx_put(ctx);
	errno = ENOMEM;
	return NULL;
}

static int set_bios(struct tls_conn *c, SSL *ssl, int fd)
{
	BIO *b;

	pthread_once(&sock_bio_once, sock_bio_make);
	if (!sock_bio_method || !(b = BIO_new(sock_bio_method)))
		return -ENOMEM;
	c->fd = fd;
	BIO_set_data(b, c);
	SSL_set_bio(ssl, b, b);
	return 0;
}

struct tls_conn *tls_conn_create(struct tls_ctx *ctx, int fd, const char *expect_san)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->server = ctx->server;
	c->ctx = tls_ctx_get(ctx);
	c->ssl = SSL_new(ctx->ssl);
	if (!c->ssl || set_bios(c, c->ssl, fd))
		goto fail;
	if (expect_san && !(c->expect_san = strdup(expect_san)))
		goto fail;
	if (c->server)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);
	return c;
fail:
	tls_conn_destroy(c);
	errno = ENOMEM;
	return NULL;
}

struct tls_conn *tls_conn_create_origin(struct tls_ctx *ctx, int fd, const char *sni,
					const char *const *sans, size_t n_sans)
{
	struct tls_conn *c = tls_conn_create(ctx, fd, NULL);

	if (!c)
		return NULL;
	if (sni && *sni && SSL_set_tlsext_host_name(c->ssl, sni) != 1)
		goto fail;
	c->sans = calloc(n_sans + 1, sizeof(*c->sans));
	if (!c->sans)
		goto fail;
	for (; c->n_sans < n_sans; c->n_sans++)
		if (!(c->sans[c->n_sans] = strdup(sans[c->n_sans])))
			goto fail;
	return c;
fail:
	ERR_clear_error();
	tls_conn_destroy(c);
	errno = ENOMEM;
	return NULL;
}

/*
 * The first URI SAN of @x that starts with @prefix and is longer, or (@prefix NULL) equals
 * @exact, malloc'd, or NULL. One with an embedded NUL never is: it would let
 * "spiffe://a\0evil" compare equal to "spiffe://a".
 */
static char *uri_san(X509 *x, const char *prefix, const char *exact)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char *out = NULL;

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !out; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *p;
		size_t len;

		if (gn->type != GEN_URI)
			continue;
		p = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		len = (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (memchr(p, 0, len))
			continue;
		if (prefix ? len > strlen(prefix) && !memcmp(p, prefix, strlen(prefix))
			   : len == strlen(exact) && !memcmp(p, exact, len))
			out = strndup((const char *)p, len);
	}
	GENERAL_NAMES_free(names);
	return out;
}

/* The first URI SAN starting with spiffe:// (Istio puts exactly one). */
static char *spiffe_of(X509 *x)
{
	return uri_san(x, "spiffe://", NULL);
}

/* Whether @x has name @want: a DNS name (wildcards as the certificate has them), an IP, a URI. */
static bool cert_has_name(X509 *x, const char *want)
{
	char *uri;

	if (!strstr(want, "://"))
		return X509_check_ip_asc(x, want, 0) == 1 ||
		       X509_check_host(x, want, 0, 0, NULL) == 1;
	uri = uri_san(x, NULL, want);
	free(uri);
	return uri != NULL;
}

/* An origination's server, once its chain verified: one of the names it must have. */
static int origin_check(struct tls_conn *c)
{
	X509 *peer;
	bool ok = false;

	if (c->ctx->insecure || !c->n_sans)
		return 0;
	peer = SSL_get1_peer_certificate(c->ssl);
	for (size_t i = 0; peer && i < c->n_sans && !ok; i++)
		ok = cert_has_name(peer, c->sans[i]);
	X509_free(peer);
	ERR_clear_error();
	if (ok)
		return 0;
	snprintf(c->err, sizeof(c->err),
		 "handshake: the server's certificate has none of the names %.60s%s", c->sans[0],
		 c->n_sans > 1 ? ", ..." : "");
	return -EPROTO;
}

void tls_conn_destroy(struct tls_conn *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_sans; i++)
		free(c->sans[i]);
	free(c->sans);
	SSL_free(c->ssl);
	tls_ctx_put(c->ctx);
	buf_free(&c->out);
	free(c->expect_san);
	free(c->peer_id);
	free(c);
}

char *tls_cert_spiffe_id(const void *cert, size_t len)
{
	const unsigned char *p = cert;
	X509 *x = NULL;
	char *id = NULL;
	BIO *bio;

	if (len > INT_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (len >= 10 && memcmp(cert, "-----BEGIN", 10) == 0) {
		bio = BIO_new_mem_buf(cert, (int)len);
		if (bio)
			x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		x = d2i_X509(NULL, &p, (long)len);
	}
	ERR_clear_error();
	if (x)
		id = spiffe_of(x);
	X509_free(x);
	errno = x ? ENOENT : EINVAL;
	return id;
}

static int io_result(struct tls_conn *c, int ret, const char *what)
{
	int e = SSL_get_error(c->ssl, ret);

	c->want_write = false;
	switch (e) {
	case SSL_ERROR_WANT_READ: return -EAGAIN;
	case SSL_ERROR_WANT_WRITE: c->want_write = true; return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN: ERR_clear_error(); return 0;
	case SSL_ERROR_SYSCALL:
		snprintf(c->err, sizeof(c->err), "%s: %s", what,
			 errno ? strerror(errno) : "unexpected EOF");
		ERR_clear_error();
		return errno == EPIPE ? -EPIPE : -ECONNRESET;
	default: set_err(c, what); return -EPROTO;
	}
}

/*
 * Whether @id is one of @expect: one SPIFFE ID, or several separated by spaces (the identities
 * of a remote Service's endpoints, any of which may answer its inner tunnel). IDs hold no space.
 */
static bool san_listed(const char *expect, const char *id)
{
	size_t n = strlen(id);

	for (const char *p = expect; *p;) {
		size_t len = strcspn(p, " ");

		if (len == n && !memcmp(p, id, n))
			return true;
		p += len;
		p += *p == ' ';
	}
	return false;
}

int tls_conn_handshake(struct tls_conn *c)
{
	const unsigned char *alpn;
	unsigned int alpn_len;
	X509 *peer;
	int ret;

	if (c->handshaken)
		return 0;
	ERR_clear_error();
	ret = SSL_do_handshake(c->ssl);
	if (ret != 1) {
		long vr = c->ctx->origin ? SSL_get_verify_result(c->ssl) : X509_V_OK;

		ret = io_result(c, ret, "handshake");
		/* Why the server's certificate was refused, in OpenSSL's words. */
		if (ret == -EPROTO && vr != X509_V_OK)
			snprintf(c->err, sizeof(c->err), "handshake: server certificate: %s",
				 X509_verify_cert_error_string(vr));
		return ret == 0 ? -EPROTO : ret;
	}
	if (c->ctx->origin) {
		ret = origin_check(c);
		c->handshaken = !ret;
		return ret;
	}
	if (c->ctx->edge) {
		/* One-way TLS: no peer to authenticate, whatever protocol the client sends. */
		c->handshaken = true;
		return 0;
	}
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
		snprintf(c->err, sizeof(c->err), "handshake: peer did not negotiate ALPN h2");
		return -EPROTO;
	}
	peer = SSL_get1_peer_certificate(c->ssl);
	if (!peer) {
		snprintf(c->err, sizeof(c->err), "handshake: no peer certificate");
		return -EPROTO;
	}
	c->peer_id = spiffe_of(peer);
	X509_free(peer);
	if (!c->peer_id) {
		snprintf(c->err, sizeof(c->err),
			 "handshake: peer certificate has no spiffe URI SAN");
		return -EPROTO;
	}
	/* The root signs for the mesh; the mesh is its trust domain (and its aliases), no other. */
	if (!in_trust_domains(c->ctx, c->peer_id)) {
		snprintf(c->err, sizeof(c->err), "handshake: peer %.90s: not in trust domain %.40s",
			 c->peer_id, c->ctx->domains[0]);
		return -EPROTO;
	}
	if (c->expect_san && !san_listed(c->expect_san, c->peer_id)) {
		snprintf(c->err, sizeof(c->err), "handshake: peer identity %.60s, expected %.60s",
			 c->peer_id, c->expect_san);
		return -EPROTO;
	}
	c->handshaken = true;
	return 0;
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
	size_t n = 0;
	int ret;

	/*
	 * No ERR_clear_error() first (a thread-state lookup, some 300 instructions, before every
	 * call): the queue is kept empty instead, every path that sees an error clearing it
	 * (io_result, set_err), so SSL_get_error reads this call's.
	 */
	ret = SSL_read_ex(c->ssl, buf, len, &n);
	if (ret == 1) {
		c->want_write = false;
		return (ssize_t)n;
	}
	return io_result(c, 0, "read");
}

bool tls_conn_read_drained(struct tls_conn *c)
{
	return c->drained && !SSL_has_pending(c->ssl);
}

void tls_conn_release_buffers(struct tls_conn *c)
{
	/* Refused (0) while a record is half read or half written: kept then. */
	if (!SSL_has_pending(c->ssl))
		SSL_free_buffers(c->ssl);
	if (!c->out.len)
		buf_free(&c->out);
}

bool tls_conn_keep_buffers(struct tls_conn *c)
{
	if (!(SSL_get_mode(c->ssl) & SSL_MODE_RELEASE_BUFFERS))
		return false;
	SSL_clear_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
	return true;
}

ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	size_t n = 0;
	int ret;

	ret = SSL_write_ex(c->ssl, buf, len, &n);
	if (ret == 1) {
		c->want_write = false;
		return (ssize_t)n;
	}
	ret = io_result(c, 0, "write");
	return ret == 0 ? -EPIPE : ret;
}

int tls_conn_flush(struct tls_conn *c)
{
	int err;

	if (c->kick) {
		/* The owner's send, after the batch: it says how it went (tls_conn_sent). */
		c->send_short = false;
		if (c->out.len)
			c->kick(c->kick_arg);
		return 0;
	}
	err = out_send(c);

	if (!err || err == -EAGAIN)
		return err;
	snprintf(c->err, sizeof(c->err), "write: %s", strerror(-err));
	return -EPIPE;
}

void tls_conn_shutdown(struct tls_conn *c)
{
	ERR_clear_error();
	if (c->handshaken) {
		SSL_shutdown(c->ssl);
		(void)out_send(c);
	}
	ERR_clear_error();
}

bool tls_conn_want_write(const struct tls_conn *c)
{
	if (c->kick)
		return c->want_write || (c->out.len > 0 && c->send_short);
	return c->want_write || c->out.len > 0;
}

void tls_conn_set_reader(struct tls_conn *c,
			 ssize_t (*reader)(void *arg, void *buf, size_t len, bool *drained),
			 void *arg)
{
	c->reader = reader;
	c->reader_arg = arg;
}

void tls_conn_defer_sends(struct tls_conn *c, void (*kick)(void *arg), void *arg)
{
	c->kick = kick;
	c->kick_arg = arg;
}

const void *tls_conn_pending(const struct tls_conn *c, size_t *len)
{
	*len = c->out.len;
	return c->out.len ? buf_head(&c->out) : NULL;
}

bool tls_conn_sent(struct tls_conn *c, size_t n)
{
	if (n > c->out.len)
		n = c->out.len;
	buf_consume(&c->out, n);
	c->send_short = c->out.len > 0;
	if (!c->out.len)
		buf_free(&c->out);
	return !c->send_short;
}

const char *tls_conn_server(const struct tls_conn *c)
{
	if (!c->server || !c->handshaken || cert_name_idx < 0)
		return NULL;
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(c->ssl), cert_name_idx);
}

const char *tls_conn_sni(const struct tls_conn *c)
{
	return c->server && c->handshaken ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name)
					  : NULL;
}

const char *tls_conn_peer_identity(const struct tls_conn *c)
{
	return c->handshaken || c->peer_id ? c->peer_id : NULL;
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->err[0] ? c->err : "no error";
}
