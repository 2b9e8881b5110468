/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mesh CA (OpenSSL 3): an ECDSA P-256 root kept in a state directory (created on first use,
 * under an flock so agents of several nodes sharing the directory agree on one root), issuing
 * ECDSA P-256 workload certificates with a SPIFFE URI SAN.
 */
#ifndef AMBIT_CA_H
#define AMBIT_CA_H

#include <stddef.h>
#include <time.h>

struct ambit_ca;

/*
 * Loads the root from @dir/root-cert.pem + root-key.pem, creating them if absent; or, when @dir
 * holds Istio's plug-in CA files (its cacerts Secret: ca-cert.pem, ca-key.pem, root-cert.pem,
 * cert-chain.pem), that intermediate, which then signs, every certificate it issues followed
 * by cert-chain.pem, and root-cert.pem is the root (ca_root_pem). NULL+errno (EINVAL: files
 * missing, damaged, or an intermediate that is no CA or does not chain to the root).
 */
struct ambit_ca *ca_open(const char *dir);
void ca_destroy(struct ambit_ca *ca);
/* Borrowed PEM of the root certificate. */
const char *ca_root_pem(const struct ambit_ca *ca);

struct ca_issued {
	char *cert_pem; /* malloc'd */
	char *key_pem;	/* malloc'd, PKCS#8 */
	time_t not_before;
	time_t not_after;
};

/* Issues a key and a certificate for @spiffe_id valid @lifetime_s seconds. 0 or -errno. */
int ca_issue(struct ambit_ca *ca, const char *spiffe_id, long lifetime_s, struct ca_issued *out);
/*
 * A key and a server certificate for DNS name @dns_name (lower-case letters, digits, '-', '.'):
 * the CA server's own, which the agents verify against the root. An IPv4 literal gets an iPAddress
 * SAN instead (a server reached by address: the local cluster's API server). 0 or -errno.
 */
int ca_issue_dns(struct ambit_ca *ca, const char *dns_name, long lifetime_s, struct ca_issued *out);
/* As ca_issue_dns for a server known by several names and addresses (@n of @names), all SANs. */
int ca_issue_names(struct ambit_ca *ca, const char *const *names, size_t n, long lifetime_s,
		   struct ca_issued *out);
void ca_issued_free(struct ca_issued *out);
/*
 * Signs the PEM certificate request @csr_pem for @spiffe_id (the caller decides the identity;
 * the CSR's subject is ignored, and a CSR naming any other SAN is refused): its signature must
 * verify and its key be EC P-256 or RSA >= 2048. The certificate carries the CSR's key; out->
 * key_pem stays NULL (the key never left its node). 0, or -EINVAL/-EPERM with the reason in @why.
 */
int ca_sign_csr(struct ambit_ca *ca, const char *csr_pem, size_t csr_len, const char *spiffe_id,
		long lifetime_s, struct ca_issued *out, char *why, size_t len);
/* A new P-256 key and a CSR for @spiffe_id signed with it (both PEM, malloc'd). 0 or -errno. */
int ca_csr_new(const char *spiffe_id, char **csr_pem, char **key_pem);

/* spiffe://<td>/ns/<ns>/sa/<sa> into @buf; returns 0 or -ENAMETOOLONG. */
int spiffe_id_format(char *buf, size_t len, const char *trust_domain, const char *ns,
		     const char *sa);

#endif
