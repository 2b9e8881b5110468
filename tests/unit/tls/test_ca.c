// SPDX-License-Identifier: Apache-2.0
/* Tests for the mesh CA (userspace/tls/ca.c): root lifecycle, issued certificates, chains. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ambit/ca.h"

static const char *const test_id = "spiffe://cluster.local/ns/demo/sa/web";

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup_dir(void **state)
{
	char *dir = strdup("/tmp/ambit-test-ca-XXXXXX");

	if (!dir || !mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static X509 *pem_cert(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	BIO_free(bio);
	return x;
}

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	BIO_free(bio);
	return k;
}

/* 1 when @leaf chains to @root_pem, 0 when not. */
static int verify_chain(const char *root_pem, const char *leaf_pem)
{
	X509 *root = pem_cert(root_pem), *leaf = pem_cert(leaf_pem);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(root);
	assert_non_null(leaf);
	assert_int_equal(X509_STORE_add_cert(store, root), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(root);
	X509_free(leaf);
	return ok == 1;
}

/* ---- a plugged-in CA (Istio's cacerts): an intermediate of a root made here ---- */

static EVP_PKEY *new_key(bool rsa)
{
	return rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
}

/* A certificate for @cn with @key's public key, signed by @issuer (NULL: itself) and @ikey. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, bool ca)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)random());
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext =
	    X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
				ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key, X509 *more)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	if (cert)
		assert_int_equal(PEM_write_X509(f, cert), 1);
	if (more)
		assert_int_equal(PEM_write_X509(f, more), 1);
	if (key)
		assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

/* 1 when the first certificate of @pem chains to @root_pem through the others of @pem. */
static int verify_with_chain(const char *root_pem, const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *root = pem_cert(root_pem), *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL), *x;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(leaf);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(chain, x);
	ERR_clear_error();
	X509_STORE_add_cert(store, root);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, chain), 1);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(chain, X509_free);
	X509_free(root);
	X509_free(leaf);
	BIO_free(bio);
	return ok == 1;
}

struct plug {
	EVP_PKEY *root_key, *int_key;
	X509 *root, *inter;
};

/* Istio's cacerts files in @dir: an RSA root, an @rsa_int intermediate of it (CA: @int_ca). */
static void plug_write(const char *dir, struct plug *p, bool rsa_int, bool int_ca)
{
	p->root_key = new_key(true);
	p->int_key = new_key(rsa_int);
	assert_non_null(p->root_key);
	assert_non_null(p->int_key);
	p->root = make_cert("Root CA", p->root_key, NULL, p->root_key, true);
	p->inter = make_cert("Intermediate CA cluster1", p->int_key, p->root, p->root_key, int_ca);
	write_pem(dir, "root-cert.pem", p->root, NULL, NULL);
	write_pem(dir, "ca-cert.pem", p->inter, NULL, NULL);
	write_pem(dir, "ca-key.pem", NULL, p->int_key, NULL);
	write_pem(dir, "cert-chain.pem", p->inter, NULL, p->root);
}

static void plug_free(struct plug *p)
{
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->int_key);
	X509_free(p->root);
	X509_free(p->inter);
}

static char *file_text(const char *dir, const char *name)
{
	char path[512], *buf = calloc(1, 65536);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(buf);
	(void)!fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

/*
 * Istio's plug-in CA: the intermediate signs, what it issues carries cert-chain.pem after it,
 * and a peer holding root-cert.pem alone verifies it (not without the chain); the files are
 * never rewritten, and no root of ambit's own is made beside them.
 */
static void test_plugged_in_ca(void **state)
{
	const char *dir = *state;
	for (int rsa = 0; rsa < 2; rsa++) {
		struct plug p;
		struct ambit_ca *ca;
		struct ca_issued out;
		char *root, path[512];
		X509 *leaf;

		plug_write(dir, &p, rsa, true);
		ca = ca_open(dir);
		assert_non_null(ca);
		root = file_text(dir, "root-cert.pem");
		assert_string_equal(ca_root_pem(ca), root);
		assert_int_equal(ca_issue(ca, test_id, 3600, &out), 0);
		assert_true(verify_with_chain(root, out.cert_pem));
		assert_false(verify_chain(root, out.cert_pem));
		leaf = pem_cert(out.cert_pem);
		assert_int_equal(
		    X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(p.inter)), 0);
		X509_free(leaf);
		ca_issued_free(&out);
		ca_destroy(ca);
		snprintf(path, sizeof(path), "%s/root-key.pem", dir);
		assert_int_not_equal(access(path, F_OK), 0);
		free(root);
		plug_free(&p);
	}
}

/* A plugged-in CA that cannot sign for the root is refused, never half used. */
static void test_plugged_in_ca_refused(void **state)
{
	const char *dir = *state;
	char path[512];
	struct plug p, q;

	/* Not a CA. */
	plug_write(dir, &p, false, false);
	errno = 0;
	assert_null(ca_open(dir));
	assert_int_equal(errno, EINVAL);
	plug_free(&p);
	/* ca-key.pem of another certificate. */
	plug_write(dir, &p, false, true);
	q.int_key = new_key(false);
	write_pem(dir, "ca-key.pem", NULL, q.int_key, NULL);
	assert_null(ca_open(dir));
	EVP_PKEY_free(q.int_key);
	plug_free(&p);
	/* A root the intermediate is not of. */
	plug_write(dir, &p, true, true);
	q.root_key = new_key(true);
	q.root = make_cert("Other root", q.root_key, NULL, q.root_key, true);
	write_pem(dir, "root-cert.pem", q.root, NULL, NULL);
	write_pem(dir, "cert-chain.pem", p.inter, NULL, NULL);
	assert_null(ca_open(dir));
	X509_free(q.root);
	EVP_PKEY_free(q.root_key);
	/* No root at all. */
	snprintf(path, sizeof(path), "%s/root-cert.pem", dir);
	assert_int_equal(unlink(path), 0);
	assert_null(ca_open(dir));
	assert_int_equal(errno, EINVAL);
	plug_free(&p);
}

static void test_root_created_and_reopened(void **state)
{
	const char *dir = *state;
	char path[512];
	struct ambit_ca *ca, *again;
	struct stat st;
	X509 *root;

	ca = ca_open(dir);
	assert_non_null(ca);
	snprintf(path, sizeof(path), "%s/root-key.pem", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/root-cert.pem", dir);
	assert_int_equal(stat(path, &st), 0);

	root = pem_cert(ca_root_pem(ca));
	assert_non_null(root);
	assert_int_equal(X509_check_ca(root), 1);
	assert_true(X509_get_key_usage(root) & KU_KEY_CERT_SIGN);
	assert_non_null(X509_get0_subject_key_id(root));
	/* Ten years, give or take the clock-skew allowance. */
	int days, secs;
	assert_int_equal(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(root), X509_get0_notAfter(root)), 1);
	assert_in_range(days, 3650, 3651);
	X509_free(root);

	again = ca_open(dir);
	assert_non_null(again);
	assert_string_equal(ca_root_pem(ca), ca_root_pem(again));
	ca_destroy(again);
	ca_destroy(ca);
	ca_destroy(NULL);
}

static void test_issue(void **state)
{
	struct ambit_ca *ca = ca_open(*state);
	struct ca_issued out;
	GENERAL_NAMES *sans;
	X509 *leaf;
	EVP_PKEY *key;
	char group[64];
	int crit = -1, days, secs;

	assert_non_null(ca);
	assert_int_equal(ca_issue(ca, test_id, 86400, &out), 0);
	assert_true(verify_chain(ca_root_pem(ca), out.cert_pem));
	assert_int_equal(out.not_after - out.not_before, 86400 + 300);
	assert_non_null(strstr(out.key_pem, "-----BEGIN PRIVATE KEY-----"));

	leaf = pem_cert(out.cert_pem);
	assert_non_null(leaf);
	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	assert_non_null(sans);
	assert_int_equal(crit, 1);
	assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, 0);
	assert_int_equal(gn->type, GEN_URI);
	assert_int_equal(ASN1_STRING_length(gn->d.uniformResourceIdentifier), strlen(test_id));
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), test_id,
			    strlen(test_id));
	GENERAL_NAMES_free(sans);

	assert_int_equal(X509_check_ca(leaf), 0);
	assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
	assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
	assert_int_equal(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf)), 1);
	assert_int_equal(days * 86400 + secs, 86400 + 300);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(leaf), out.not_after), 0);

	key = pem_key(out.key_pem);
	assert_non_null(key);
	assert_true(EVP_PKEY_is_a(key, "EC"));
	assert_int_equal(EVP_PKEY_get_group_name(key, group, sizeof(group), NULL), 1);
	assert_string_equal(group, "prime256v1");
	assert_int_equal(X509_check_private_key(leaf, key), 1);
	EVP_PKEY_free(key);
	X509_free(leaf);
	ca_issued_free(&out);
	ca_issued_free(&out);
	ca_destroy(ca);
}

/* A server named by DNS gets a dNSName SAN; one named by an IPv4 address an iPAddress SAN. */
static void test_issue_server_names(void **state)
{
	struct ambit_ca *ca = ca_open(*state);
	struct ca_issued out;
	X509 *leaf;

	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "ambit-ca.ambit-system.svc", 3600, &out), 0);
	leaf = pem_cert(out.cert_pem);
	assert_non_null(leaf);
	assert_int_equal(X509_check_host(leaf, "ambit-ca.ambit-system.svc", 0, 0, NULL), 1);
	assert_int_not_equal(X509_check_ip_asc(leaf, "10.99.0.1", 0), 1);
	X509_free(leaf);
	ca_issued_free(&out);

	assert_int_equal(ca_issue_dns(ca, "10.99.0.1", 3600, &out), 0);
	assert_true(verify_chain(ca_root_pem(ca), out.cert_pem));
	leaf = pem_cert(out.cert_pem);
	assert_non_null(leaf);
	assert_int_equal(X509_check_ip_asc(leaf, "10.99.0.1", 0), 1);
	assert_int_not_equal(X509_check_ip_asc(leaf, "10.99.0.2", 0), 1);
	assert_int_not_equal(X509_check_host(leaf, "10.99.0.1", 0, 0, NULL), 1);
	X509_free(leaf);
	ca_issued_free(&out);
	ca_destroy(ca);
}

/*
 * A server known by several names and addresses (the local --kube API server: 10.99.0.1 for pods,
 * 127.0.0.1 for the host's kubectl, the kubernetes.default names): one certificate naming all.
 */
static void test_issue_several_names(void **state)
{
	static const char *const names[] = {"10.99.0.1", "127.0.0.1", "kubernetes.default.svc",
					    "fd00:99::1"};
	static const char *const bad[] = {"127.0.0.1", "not a name", "fd00:99::1::2"};
	struct ambit_ca *ca = ca_open(*state);
	struct ca_issued out;
	X509 *leaf;

	assert_non_null(ca);
	assert_int_equal(ca_issue_names(ca, names, 4, 3600, &out), 0);
	assert_true(verify_chain(ca_root_pem(ca), out.cert_pem));
	leaf = pem_cert(out.cert_pem);
	assert_non_null(leaf);
	assert_int_equal(X509_check_ip_asc(leaf, "10.99.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
	/* An IPv6 cluster's API server, by its IPv6 (an iPAddress SAN, not a DNS name). */
	assert_int_equal(X509_check_ip_asc(leaf, "fd00:99::1", 0), 1);
	assert_int_not_equal(X509_check_ip_asc(leaf, "fd00:99::2", 0), 1);
	assert_int_not_equal(X509_check_host(leaf, "fd00:99::1", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(leaf, "kubernetes.default.svc", 0, 0, NULL), 1);
	assert_int_not_equal(X509_check_ip_asc(leaf, "127.0.0.2", 0), 1);
	assert_int_not_equal(X509_check_host(leaf, "kubernetes", 0, 0, NULL), 1);
	X509_free(leaf);
	ca_issued_free(&out);
	/* One bad name refuses the whole certificate; none at all too. */
	assert_int_equal(ca_issue_names(ca, bad, 2, 3600, &out), -EINVAL);
	assert_int_equal(ca_issue_names(ca, bad + 2, 1, 3600, &out), -EINVAL);
	assert_int_equal(ca_issue_names(ca, names, 0, 3600, &out), -EINVAL);
	ca_destroy(ca);
}

/*
 * The request path: the key is made where the workload runs (ca_csr_new) and only its public
 * half reaches the CA, which signs for the identity it decided, refusing CSRs that ask for
 * another name, are damaged or are not CSRs.
 */
static void test_sign_csr(void **state)
{
	struct ambit_ca *ca = ca_open(*state);
	struct ca_issued out;
	char *csr, *key_pem, *other_csr, *other_key, why[256] = "";
	EVP_PKEY *key;
	X509 *leaf;
	size_t n;

	assert_non_null(ca);
	assert_int_equal(ca_csr_new(test_id, &csr, &key_pem), 0);
	assert_non_null(strstr(csr, "-----BEGIN CERTIFICATE REQUEST-----"));
	assert_int_equal(ca_sign_csr(ca, csr, strlen(csr), test_id, 3600, &out, why, sizeof(why)),
			 0);
	assert_null(out.key_pem);
	assert_true(verify_chain(ca_root_pem(ca), out.cert_pem));
	leaf = pem_cert(out.cert_pem);
	key = pem_key(key_pem);
	assert_non_null(leaf);
	assert_non_null(key);
	/* The certificate carries the node's key. */
	assert_int_equal(X509_check_private_key(leaf, key), 1);
	EVP_PKEY_free(key);
	X509_free(leaf);
	ca_issued_free(&out);

	/* A CSR asking for another identity than the one decided. */
	assert_int_equal(ca_sign_csr(ca, csr, strlen(csr), "spiffe://cluster.local/ns/x/sa/y", 3600,
				     &out, why, sizeof(why)),
			 -EPERM);
	assert_non_null(strstr(why, "asks for a name other than"));
	/* Not a CSR; a damaged one (a byte of the base64 body changed: the signature fails). */
	assert_int_equal(ca_sign_csr(ca, "hello", 5, test_id, 3600, &out, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "not a PEM certificate request"));
	n = strlen("-----BEGIN CERTIFICATE REQUEST-----\n") + 120;
	csr[n] = csr[n] == 'A' ? 'B' : 'A';
	assert_int_equal(ca_sign_csr(ca, csr, strlen(csr), test_id, 3600, &out, why, sizeof(why)),
			 -EINVAL);
	/* Identities are checked as ca_issue checks them. */
	assert_int_equal(ca_csr_new("spiffe://a b", &other_csr, &other_key), -EINVAL);
	free(csr);
	free(key_pem);
	ca_destroy(ca);
}

/*
 * The CA server reads the root from a Secret, mounted read-only: no lock file can be made there,
 * and none is needed. (Root: a read-only bind mount in a mount namespace of a child's own.)
 */
static void test_read_only_root(void **state)
{
	struct ambit_ca *ca = ca_open(*state);
	int status;
	pid_t pid;

	assert_non_null(ca);
	ca_destroy(ca);
	if (geteuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ca_issued out;

		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount(*state, *state, NULL, MS_BIND, NULL) ||
		    mount(NULL, *state, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL))
			_exit(2);
		ca = ca_open(*state);
		_exit(ca && ca_issue(ca, test_id, 3600, &out) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_foreign_ca_does_not_verify(void **state)
{
	char other[] = "/tmp/ambit-test-ca2-XXXXXX";
	struct ambit_ca *ca = ca_open(*state), *ca2;
	struct ca_issued a, b;

	assert_non_null(mkdtemp(other));
	ca2 = ca_open(other);
	assert_non_null(ca);
	assert_non_null(ca2);
	assert_string_not_equal(ca_root_pem(ca), ca_root_pem(ca2));
	assert_int_equal(ca_issue(ca, test_id, 3600, &a), 0);
	assert_int_equal(ca_issue(ca2, test_id, 3600, &b), 0);
	assert_true(verify_chain(ca_root_pem(ca), a.cert_pem));
	assert_false(verify_chain(ca_root_pem(ca), b.cert_pem));
	assert_false(verify_chain(ca_root_pem(ca2), a.cert_pem));
	ca_issued_free(&a);
	ca_issued_free(&b);
	ca_destroy(ca);
	ca_destroy(ca2);
	nftw(other, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_issue_rejects_bad_input(void **state)
{
	struct ambit_ca *ca = ca_open(*state);
	struct ca_issued out;

	assert_non_null(ca);
	assert_int_equal(ca_issue(ca, "https://x/ns/a/sa/b", 3600, &out), -EINVAL);
	assert_int_equal(ca_issue(ca, "spiffe://", 3600, &out), -EINVAL);
	assert_int_equal(ca_issue(ca, "spiffe://td/ns/a/sa/b,DNS:evil", 3600, &out), -EINVAL);
	assert_int_equal(ca_issue(ca, "spiffe://td/ns/a b", 3600, &out), -EINVAL);
	assert_int_equal(ca_issue(ca, test_id, 0, &out), -EINVAL);
	assert_int_equal(ca_issue(ca, test_id, -5, &out), -EINVAL);
	assert_null(out.cert_pem);
	ca_destroy(ca);
}

static void copy_file(const char *from, const char *to)
{
	char buf[8192];
	FILE *in = fopen(from, "r"), *out = fopen(to, "w");
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

static void test_damaged_roots_are_refused(void **state)
{
	const char *dir = *state;
	char other[] = "/tmp/ambit-test-ca3-XXXXXX";
	char a[512], b[512];
	struct ambit_ca *ca;

	ca = ca_open(dir);
	assert_non_null(ca);
	ca_destroy(ca);
	assert_non_null(mkdtemp(other));
	ca = ca_open(other);
	assert_non_null(ca);
	ca_destroy(ca);

	/* Another root's key next to our certificate. */
	snprintf(a, sizeof(a), "%s/root-key.pem", other);
	snprintf(b, sizeof(b), "%s/root-key.pem", dir);
	copy_file(a, b);
	errno = 0;
	assert_null(ca_open(dir));
	assert_int_equal(errno, EINVAL);

	/* A certificate without its key is never silently replaced. */
	assert_int_equal(unlink(b), 0);
	assert_null(ca_open(dir));
	assert_int_equal(errno, EINVAL);

	/* Garbage. */
	FILE *f = fopen(b, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	assert_null(ca_open(dir));
	assert_int_equal(errno, EINVAL);
	nftw(other, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Agents of several nodes start together on one directory: they must agree on one root. */
static void test_concurrent_open_agrees(void **state)
{
	char sub[512], expect[4096];
	pid_t pids[4];
	struct ambit_ca *ca;

	snprintf(sub, sizeof(sub), "%s/nested/ca", (const char *)*state);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct ambit_ca *c = ca_open(sub);
			char out[600];
			FILE *f;

			/* Each child reports the root it got; without the lock they could differ.
			 */
			snprintf(out, sizeof(out), "%s/child%d.pem", (const char *)*state, i);
			f = fopen(out, "w");
			if (!c || !f || fputs(ca_root_pem(c), f) < 0)
				_exit(1);
			_exit(fclose(f) ? 1 : 0);
		}
	}
	for (int i = 0; i < 4; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	ca = ca_open(sub);
	assert_non_null(ca);
	snprintf(expect, sizeof(expect), "%s", ca_root_pem(ca));
	ca_destroy(ca);
	/* Exactly one root was created: every child saw the one that is on disk. */
	for (int i = 0; i < 4; i++) {
		char path[600], got[4096] = {0};
		FILE *f;

		snprintf(path, sizeof(path), "%s/child%d.pem", (const char *)*state, i);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_true(fread(got, 1, sizeof(got) - 1, f) > 0);
		fclose(f);
		assert_string_equal(got, expect);
	}
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_spiffe_id_format(void **state)
{
	char buf[64];

	assert_int_equal(spiffe_id_format(buf, sizeof(buf), "cluster.local", "demo", "web"), 0);
	assert_string_equal(buf, "spiffe://cluster.local/ns/demo/sa/web");
	assert_int_equal(spiffe_id_format(buf, 20, "cluster.local", "demo", "web"), -ENAMETOOLONG);
	assert_int_equal(spiffe_id_format(buf, sizeof(buf), "", "demo", "web"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_root_created_and_reopened, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_issue, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_issue_server_names, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_issue_several_names, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_sign_csr, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_read_only_root, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_foreign_ca_does_not_verify, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_issue_rejects_bad_input, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_damaged_roots_are_refused, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_concurrent_open_agrees, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_plugged_in_ca, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_plugged_in_ca_refused, setup_dir, teardown_dir),
	    cmocka_unit_test(test_spiffe_id_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
