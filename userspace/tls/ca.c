// SPDX-License-Identifier: Apache-2.0
/*
 * The mesh CA: an ECDSA P-256 root in a state directory, shared by the agents of every node
 * (the directory's .lock serialises creation so they all agree on one root), issuing short-
 * lived workload certificates whose only identity is a critical SPIFFE URI SAN (RFC 5280
 * §4.2.1.6 requires the SAN be critical when the subject is empty). OpenSSL 3 EVP APIs only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ambit/ca.h"
#include "ambit/fileutil.h"
#include "ambit/log.h"

#define CA_ROOT_DAYS 3650
#define CA_CLOCK_SKEW_S 300
#define CA_MAX_LIFETIME_S (366L * 86400)
#define CA_TRUST_ORG "cluster.local"

struct ambit_ca {
	X509 *cert; /* what signs: the root, or a plugged-in intermediate (ca-cert.pem) */
	EVP_PKEY *key;
	char *root_pem;
	/*
	 * A plugged-in CA's chain (cert-chain.pem: its certificate up to the root), sent after
	 * every certificate it issues so that peers holding the root alone verify it; NULL for a
	 * root of ambit's own, which signs directly.
	 */
	char *chain_pem;
};

static void ca_log_ssl(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		pr_err("ca: %s: %s", what, buf);
	} else {
		pr_err("ca: %s failed", what);
	}
	ERR_clear_error();
}

static char *bio_to_string(BIO *bio)
{
	char *data, *s;
	long n = BIO_get_mem_data(bio, &data);

	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

static char *cert_to_pem(X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (bio && PEM_write_bio_X509(bio, cert))
		s = bio_to_string(bio);
	BIO_free(bio);
	return s;
}

/* PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") in OpenSSL 3. */
static char *key_to_pem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		s = bio_to_string(bio);
	BIO_free(bio);
	return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

/* A positive random 128-bit serial (RFC 5280 §4.1.2.2 allows up to 20 octets). */
static int set_random_serial(X509 *cert)
{
	unsigned char raw[16];
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn;
	int err = -EIO;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	raw[0] &= 0x7f;
	raw[0] |= 0x40; /* never zero, never a short encoding */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (bn)
		serial = BN_to_ASN1_INTEGER(bn, NULL);
	if (serial && X509_set_serialNumber(cert, serial))
		err = 0;
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return err;
}

static EVP_PKEY *new_p256_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static X509 *root_create(EVP_PKEY *key)
{
	X509 *cert = X509_new();
	X509_NAME *name;

	if (!cert)
		return NULL;
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) || set_random_serial(cert) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -CA_CLOCK_SKEW_S) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), CA_ROOT_DAYS, 0, NULL) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)CA_TRUST_ORG, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"ambit mesh root", -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key) ||
	    add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(cert, cert, NID_subject_key_identifier, "hash") ||
	    add_ext(cert, cert, NID_authority_key_identifier, "keyid:always") ||
	    !X509_sign(cert, key, EVP_sha256())) {
		ca_log_ssl("creating the root certificate");
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* Writes @data to @dir/@name via a temporary file and rename, so readers never see half. */
static int write_atomic(const char *dir, const char *name, const char *data, mode_t mode)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	size_t len = strlen(data), off = 0;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%d", dir, name, (int)getpid()) >=
		(int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (!err && fchmod(fd, mode) < 0)
		err = -errno;
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, dst) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static bool file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* File @name of @dir (at most 64 KiB), NUL-terminated, into *@out. 0 or -errno. */
static int ca_read(const char *dir, const char *name, char **out)
{
	char path[PATH_MAX];
	size_t len;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return fileutil_read_file(path, 64 * 1024, out, &len);
}

/*
 * @cert_pem and @key_pem (files @cert_name and @key_name of @dir) as @ca's signing certificate
 * and key: the key must be the certificate's (and EC when @ec), the certificate a CA. 0, or
 * -EINVAL said in the log.
 */
static int ca_take_pair(struct ambit_ca *ca, const char *dir, const char *cert_pem,
			const char *key_pem, const char *cert_name, const char *key_name, bool ec)
{
	BIO *bio = BIO_new_mem_buf(cert_pem, -1);
	char what[64];
	int err = -EINVAL;

	if (!bio || !(ca->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		snprintf(what, sizeof(what), "parsing %s", cert_name);
		ca_log_ssl(what);
		goto out;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(key_pem, -1);
	if (!bio || !(ca->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL))) {
		snprintf(what, sizeof(what), "parsing %s", key_name);
		ca_log_ssl(what);
		goto out;
	}
	if ((ec && !EVP_PKEY_is_a(ca->key, "EC")) ||
	    X509_check_private_key(ca->cert, ca->key) != 1) {
		pr_err("ca: %s: %s is not the %skey of %s", dir, key_name, ec ? "EC " : "",
		       cert_name);
		goto out;
	}
	/* X509_check_ca() is 1 only for a v3 cert with basicConstraints CA:TRUE. */
	if (X509_check_ca(ca->cert) != 1) {
		pr_err("ca: %s: %s is not a CA certificate", dir, cert_name);
		goto out;
	}
	err = 0;
out:
	ERR_clear_error();
	BIO_free(bio);
	return err;
}

static int ca_load(struct ambit_ca *ca, const char *dir)
{
	char *cert_pem = NULL, *key_pem = NULL;
	int err;

	err = ca_read(dir, "root-cert.pem", &cert_pem);
	if (!err)
		err = ca_read(dir, "root-key.pem", &key_pem);
	if (err) {
		pr_err("ca: %s: reading the root: %s", dir, strerror(-err));
		goto out;
	}
	err = ca_take_pair(ca, dir, cert_pem, key_pem, "root-cert.pem", "root-key.pem", true);
	if (err)
		goto out;
	ca->root_pem = cert_pem;
	cert_pem = NULL;
	err = 0;
out:
	ERR_clear_error();
	free(cert_pem);
	if (key_pem) {
		OPENSSL_cleanse(key_pem, strlen(key_pem));
		free(key_pem);
	}
	return err;
}

/* The PEM certificates of @pem (NUL-terminated), in order, into a new stack. NULL when none. */
static STACK_OF(X509) * certs_of(const char *pem)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x;

	while (sk && bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			break;
		}
	BIO_free(bio);
	ERR_clear_error();
	if (sk && !sk_X509_num(sk)) {
		sk_X509_free(sk);
		sk = NULL;
	}
	return sk;
}

/*
 * Whether @cert chains to one of the roots in @roots_pem through @chain_pem's certificates:
 * X509_verify_cert, as a peer holding the roots checks a certificate this CA issued. Says why
 * not into @why.
 */
static bool chains_to_root(X509 *cert, const char *chain_pem, const char *roots_pem, char *why,
			   size_t len)
{
	STACK_OF(X509) *roots = certs_of(roots_pem), *chain = certs_of(chain_pem);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;

	if (!roots || !store || !ctx) {
		snprintf(why, len, "%s",
			 roots ? "out of memory" : "root-cert.pem holds no certificate");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(roots); i++)
		X509_STORE_add_cert(store, sk_X509_value(roots, i));
	if (X509_STORE_CTX_init(ctx, store, cert, chain) != 1) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	ok = X509_verify_cert(ctx) == 1;
	if (!ok)
		snprintf(why, len, "%s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(roots, X509_free);
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
	return ok;
}

/*
 * A plugged-in CA, as Istio's `cacerts` Secret holds one: ca-cert.pem and ca-key.pem (an
 * intermediate, RSA or EC, that signs), root-cert.pem (the mesh's roots: what every peer
 * trusts) and cert-chain.pem (ca-cert.pem up to the root; ca-cert.pem alone when absent). The
 * intermediate must be a CA whose key is ca-key.pem and chain to the root. Never written.
 */
static int ca_load_plugged(struct ambit_ca *ca, const char *dir)
{
	static const char *const need[] = {"ca-cert.pem", "ca-key.pem", "root-cert.pem"};
	char *cert_pem = NULL, *key_pem = NULL, why[256];
	int err = 0;

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!file_exists(dir, need[i])) {
			pr_err("ca: %s: a plugged-in CA (Istio's cacerts) needs ca-cert.pem, "
			       "ca-key.pem and root-cert.pem; %s is missing",
			       dir, need[i]);
			return -EINVAL;
		}
	err = ca_read(dir, "ca-cert.pem", &cert_pem);
	if (!err)
		err = ca_read(dir, "ca-key.pem", &key_pem);
	if (!err)
		err = ca_read(dir, "root-cert.pem", &ca->root_pem);
	if (!err && file_exists(dir, "cert-chain.pem"))
		err = ca_read(dir, "cert-chain.pem", &ca->chain_pem);
	else if (!err && !(ca->chain_pem = strdup(cert_pem)))
		err = -ENOMEM;
	if (err) {
		pr_err("ca: %s: reading the plugged-in CA: %s", dir, strerror(-err));
		goto out;
	}
	err = ca_take_pair(ca, dir, cert_pem, key_pem, "ca-cert.pem", "ca-key.pem", false);
	if (err)
		goto out;
	err = -EINVAL;
	if (!chains_to_root(ca->cert, ca->chain_pem, ca->root_pem, why, sizeof(why))) {
		pr_err("ca: %s: ca-cert.pem does not chain to root-cert.pem through "
		       "cert-chain.pem: %s",
		       dir, why);
		goto out;
	}
	err = 0;
out:
	ERR_clear_error();
	free(cert_pem);
	if (key_pem) {
		OPENSSL_cleanse(key_pem, strlen(key_pem));
		free(key_pem);
	}
	return err;
}

static int ca_create(struct ambit_ca *ca, const char *dir)
{
	char *key_pem = NULL;
	int err = -ENOMEM;

	ca->key = new_p256_key();
	if (!ca->key) {
		ca_log_ssl("generating the root key");
		return -ENOMEM;
	}
	ca->cert = root_create(ca->key);
	if (!ca->cert)
		return -ENOMEM;
	ca->root_pem = cert_to_pem(ca->cert);
	key_pem = key_to_pem(ca->key);
	if (!ca->root_pem || !key_pem)
		goto out;
	/* Key first: a cert on disk always has its key next to it. */
	err = write_atomic(dir, "root-key.pem", key_pem, 0600);
	if (!err)
		err = write_atomic(dir, "root-cert.pem", ca->root_pem, 0644);
	if (err)
		pr_err("ca: %s: writing the root: %s", dir, strerror(-err));
out:
	if (key_pem) {
		OPENSSL_cleanse(key_pem, strlen(key_pem));
		free(key_pem);
	}
	return err;
}

struct ambit_ca *ca_open(const char *dir)
{
	char lock_path[PATH_MAX];
	struct ambit_ca *ca = NULL;
	bool have_cert, have_key;
	int lock_fd = -1, err;

	if (!dir || !*dir) {
		errno = EINVAL;
		return NULL;
	}
	/* Istio's plug-in CA (its cacerts Secret's files): taken as it is, never created. */
	if (file_exists(dir, "ca-cert.pem") || file_exists(dir, "ca-key.pem")) {
		ca = calloc(1, sizeof(*ca));
		err = ca ? ca_load_plugged(ca, dir) : -ENOMEM;
		if (err)
			goto fail;
		return ca;
	}
	err = mkdir_p(dir, 0700);
	if (err)
		goto fail;
	if (snprintf(lock_path, sizeof(lock_path), "%s/.lock", dir) >= (int)sizeof(lock_path)) {
		err = -ENAMETOOLONG;
		goto fail;
	}
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 && (errno == EROFS || errno == EACCES) &&
	    file_exists(dir, "root-cert.pem") && file_exists(dir, "root-key.pem")) {
		/* A read-only root (a mounted Secret): nobody creates anything there to lock out.
		 */
		ca = calloc(1, sizeof(*ca));
		err = ca ? ca_load(ca, dir) : -ENOMEM;
		if (err)
			goto fail;
		return ca;
	}
	if (lock_fd < 0) {
		err = -errno;
		goto fail;
	}
	/* Held only while loading or creating: agents sharing @dir then all see one root. */
	while (flock(lock_fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			err = -errno;
			goto fail;
		}
	}
	ca = calloc(1, sizeof(*ca));
	if (!ca) {
		err = -ENOMEM;
		goto fail;
	}
	have_cert = file_exists(dir, "root-cert.pem");
	have_key = file_exists(dir, "root-key.pem");
	if (have_cert && have_key) {
		err = ca_load(ca, dir);
	} else if (have_cert || have_key) {
		/* Never replace half a root: certificates already issued chain to it. */
		pr_err("ca: %s: only one of root-cert.pem and root-key.pem exists", dir);
		err = -EINVAL;
	} else {
		err = ca_create(ca, dir);
	}
	if (err)
		goto fail;
	close(lock_fd);
	return ca;
fail:
	ca_destroy(ca);
	if (lock_fd >= 0)
		close(lock_fd);
	errno = -err;
	return NULL;
}

void ca_destroy(struct ambit_ca *ca)
{
	if (!ca)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->root_pem);
	free(ca->chain_pem);
	free(ca);
}

const char *ca_root_pem(const struct ambit_ca *ca)
{
	return ca->root_pem;
}

/* Printable ASCII without spaces or commas: nothing that could smuggle a second name. */
static bool spiffe_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n <= strlen("spiffe://") || n > 2048 || strncmp(id, "spiffe://", 9) != 0)
		return false;
	for (const char *p = id; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ',')
			return false;
	return true;
}

/*
 * A DNS name of letters, digits, '-' and '.', as a Service's name is, or an IPv6 address (an
 * IPv6 cluster's API server, add_san's iPAddress), whose ':' no DNS name has.
 */
static bool dns_name_ok(const char *name)
{
	struct in6_addr a6;
	size_t n = strlen(name);

	if (inet_pton(AF_INET6, name, &a6) == 1)
		return true;

	if (!n || n > 253)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.'))
			return false;
	return true;
}

/* One subjectAltName extension naming each of @names (@n of them) as @type. */
static int add_san(X509 *cert, int type, const char *const *names_in, size_t n)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	int err = names ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
		/* A server named by an address (an API server's IP): an iPAddress SAN, as TLS
		 * checks. */
		ASN1_OCTET_STRING *ip = type == GEN_DNS ? a2i_IPADDRESS(names_in[i]) : NULL;

		err = -ENOMEM;
		if (gn && ia5 && ASN1_STRING_set(ia5, names_in[i], -1)) {
			if (ip) {
				GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
				ip = NULL;
			} else {
				GENERAL_NAME_set0_value(gn, type, ia5);
				ia5 = NULL;
			}
			if (sk_GENERAL_NAME_push(names, gn)) {
				gn = NULL;
				err = 0;
			}
		}
		ASN1_IA5STRING_free(ia5);
		ASN1_OCTET_STRING_free(ip);
		GENERAL_NAME_free(gn);
	}
	if (!err &&
	    X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 1, X509V3_ADD_DEFAULT) != 1)
		err = -ENOMEM;
	GENERAL_NAMES_free(names);
	return err;
}

/*
 * A certificate for @names (@n: one SPIFFE ID, or DNS names and addresses) with public key @key,
 * signed by the root, into @out->cert_pem.
 */
static int issue_for_key(struct ambit_ca *ca, int san_type, const char *const *names, size_t n,
			 long lifetime_s, EVP_PKEY *key, struct ca_issued *out)
{
	X509 *cert;
	X509_NAME *org;
	time_t now = time(NULL);
	int err = -EIO;

	if (!ca || !names || !n || (san_type == GEN_URI && n != 1) || lifetime_s <= 0 ||
	    lifetime_s > CA_MAX_LIFETIME_S)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!names[i] ||
		    !(san_type == GEN_URI ? spiffe_id_ok(names[i]) : dns_name_ok(names[i])))
			return -EINVAL;
	cert = X509_new();
	if (!cert)
		return -ENOMEM;
	out->not_before = now - CA_CLOCK_SKEW_S;
	out->not_after = now + lifetime_s;
	org = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) || set_random_serial(cert) ||
	    !X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &out->not_before) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), 0, 0, &out->not_after) ||
	    !X509_NAME_add_entry_by_txt(org, "O", MBSTRING_ASC, (const unsigned char *)CA_TRUST_ORG,
					-1, -1, 0) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) ||
	    !X509_set_pubkey(cert, key) || add_san(cert, san_type, names, n) ||
	    add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(cert, ca->cert, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
	    add_ext(cert, ca->cert, NID_ext_key_usage, "serverAuth,clientAuth") ||
	    /* A plugged-in intermediate may have no key identifier: then its name and serial. */
	    add_ext(cert, ca->cert, NID_authority_key_identifier,
		    X509_get0_subject_key_id(ca->cert) ? "keyid:always" : "issuer:always") ||
	    !X509_sign(cert, ca->key, EVP_sha256())) {
		ca_log_ssl("issuing a certificate");
		X509_free(cert);
		return err;
	}
	out->cert_pem = cert_to_pem(cert);
	X509_free(cert);
	/* A plugged-in CA's certificates travel with its chain, up to the root. */
	if (out->cert_pem && ca->chain_pem) {
		char *both = NULL;

		if (asprintf(&both, "%s%s%s", out->cert_pem,
			     out->cert_pem[strlen(out->cert_pem) - 1] == '\n' ? "" : "\n",
			     ca->chain_pem) < 0)
			both = NULL;
		free(out->cert_pem);
		out->cert_pem = both;
	}
	return out->cert_pem ? 0 : -ENOMEM;
}

static int issue_new_key(struct ambit_ca *ca, int san_type, const char *const *names, size_t n,
			 long lifetime_s, struct ca_issued *out)
{
	EVP_PKEY *key;
	int err;

	memset(out, 0, sizeof(*out));
	key = new_p256_key();
	if (!key)
		return -ENOMEM;
	err = issue_for_key(ca, san_type, names, n, lifetime_s, key, out);
	if (!err && !(out->key_pem = key_to_pem(key)))
		err = -ENOMEM;
	if (err)
		ca_issued_free(out);
	EVP_PKEY_free(key);
	return err;
}

int ca_issue(struct ambit_ca *ca, const char *spiffe_id, long lifetime_s, struct ca_issued *out)
{
	return issue_new_key(ca, GEN_URI, &spiffe_id, 1, lifetime_s, out);
}

int ca_issue_dns(struct ambit_ca *ca, const char *dns_name, long lifetime_s, struct ca_issued *out)
{
	return issue_new_key(ca, GEN_DNS, &dns_name, 1, lifetime_s, out);
}

int ca_issue_names(struct ambit_ca *ca, const char *const *names, size_t n, long lifetime_s,
		   struct ca_issued *out)
{
	return issue_new_key(ca, GEN_DNS, names, n, lifetime_s, out);
}

/* Whether the CSR asks for names, and if so only @spiffe_id: 0, or -EPERM with the reason. */
static int csr_names_ok(X509_REQ *req, const char *spiffe_id, char *why, size_t len)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *names = NULL;
	int err = 0;

	if (exts)
		names = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !err; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const ASN1_IA5STRING *uri =
		    gn->type == GEN_URI ? gn->d.uniformResourceIdentifier : NULL;

		if (!uri || (size_t)ASN1_STRING_length(uri) != strlen(spiffe_id) ||
		    memcmp(ASN1_STRING_get0_data(uri), spiffe_id, strlen(spiffe_id)) != 0) {
			snprintf(why, len, "the CSR asks for a name other than %s", spiffe_id);
			err = -EPERM;
		}
	}
	GENERAL_NAMES_free(names);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return err;
}

int ca_sign_csr(struct ambit_ca *ca, const char *csr_pem, size_t csr_len, const char *spiffe_id,
		long lifetime_s, struct ca_issued *out, char *why, size_t len)
{
	BIO *bio = BIO_new_mem_buf(csr_pem, (int)csr_len);
	X509_REQ *req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = req ? X509_REQ_get0_pubkey(req) : NULL;
	int err = -EINVAL, type;

	memset(out, 0, sizeof(*out));
	BIO_free(bio);
	ERR_clear_error();
	if (!req || !key) {
		snprintf(why, len, "not a PEM certificate request");
		goto out;
	}
	if (X509_REQ_verify(req, key) != 1) {
		snprintf(why, len, "the CSR's signature does not verify");
		goto out;
	}
	/* What ca_issue would make: P-256, or RSA of at least 2048 bits. */
	type = EVP_PKEY_get_base_id(key);
	if (!(type == EVP_PKEY_EC && EVP_PKEY_get_bits(key) == 256) &&
	    !(type == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) >= 2048)) {
		snprintf(why, len,
			 "the CSR's key is neither EC P-256 nor RSA of 2048 bits or more");
		goto out;
	}
	err = csr_names_ok(req, spiffe_id, why, len);
	if (!err) {
		err = issue_for_key(ca, GEN_URI, &spiffe_id, 1, lifetime_s, key, out);
		if (err)
			snprintf(why, len, "cannot issue for %s: %s", spiffe_id, strerror(-err));
	}
out:
	ERR_clear_error();
	X509_REQ_free(req);
	if (err)
		ca_issued_free(out);
	return err;
}

int ca_csr_new(const char *spiffe_id, char **csr_pem, char **key_pem)
{
	EVP_PKEY *key = new_p256_key();
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *san = NULL;
	char value[2100];
	BIO *bio = NULL;
	int err = -ENOMEM;

	*csr_pem = *key_pem = NULL;
	if (!spiffe_id_ok(spiffe_id)) {
		err = -EINVAL;
		goto out;
	}
	snprintf(value, sizeof(value), "critical,URI:%s", spiffe_id);
	if (!key || !req || !exts ||
	    !(san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, value)) ||
	    !sk_X509_EXTENSION_push(exts, san))
		goto out;
	san = NULL;
	err = -EIO;
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_pubkey(req, key) ||
	    !X509_REQ_add_extensions(req, exts) || !X509_REQ_sign(req, key, EVP_sha256()) ||
	    !(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509_REQ(bio, req)) {
		ca_log_ssl("making a certificate request");
		goto out;
	}
	*csr_pem = bio_to_string(bio);
	*key_pem = key_to_pem(key);
	err = *csr_pem && *key_pem ? 0 : -ENOMEM;
out:
	if (err) {
		free(*csr_pem);
		if (*key_pem)
			OPENSSL_cleanse(*key_pem, strlen(*key_pem));
		free(*key_pem);
		*csr_pem = *key_pem = NULL;
	}
	BIO_free(bio);
	X509_EXTENSION_free(san);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return err;
}

void ca_issued_free(struct ca_issued *out)
{
	if (!out)
		return;
	free(out->cert_pem);
	if (out->key_pem) {
		OPENSSL_cleanse(out->key_pem, strlen(out->key_pem));
		free(out->key_pem);
	}
	memset(out, 0, sizeof(*out));
}

int spiffe_id_format(char *buf, size_t len, const char *trust_domain, const char *ns,
		     const char *sa)
{
	int n;

	if (!buf || !trust_domain || !ns || !sa || !*trust_domain || !*ns || !*sa)
		return -EINVAL;
	n = snprintf(buf, len, "spiffe://%s/ns/%s/sa/%s", trust_domain, ns, sa);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}
