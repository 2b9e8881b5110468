/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An address or prefix of either family, as policy, Services and endpoints name them: one type
 * for IPv4 and IPv6 where the model used a uint32_t. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what a dual-stack socket reports for an IPv4 peer) is taken as the IPv4
 * address it carries, so that a peer is the same address whichever socket saw it; a mapped
 * prefix (::ffff:0:0/96 and longer) likewise becomes the IPv4 prefix it covers.
 */
#ifndef AMBIT_IPADDR_H
#define AMBIT_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

struct ipaddr {
	uint8_t family; /* AF_INET or AF_INET6; 0: none (matches nothing, contains nothing) */
	uint8_t len;	/* prefix length: 0..32 or 0..128; a single address has its family's full */
	uint8_t a[16];	/* network order, host bits clear; IPv4 in a[0..3], the rest zero */
};

/* "a.b.c.d", "a.b.c.d/n", an IPv6 address or "addr/n" (RFC 4291 text): 0, or -EINVAL. */
int ipaddr_parse(const char *txt, struct ipaddr *out);
/* The same, refusing a prefix: a single address only. */
int ipaddr_parse_addr(const char *txt, struct ipaddr *out);
/* @be: an IPv4 address in network order. */
void ipaddr_from_v4(struct ipaddr *out, uint32_t be);
/* From a sockaddr_in or sockaddr_in6 (a mapped one as IPv4): 0, or -EAFNOSUPPORT. */
int ipaddr_from_sockaddr(struct ipaddr *out, const struct sockaddr *sa);
/* The IPv4 address (network order) of @a, when it is one address of that family. */
bool ipaddr_v4(const struct ipaddr *a, uint32_t *be);
/* Whether prefix @p holds address (or prefix) @a: same family, @a at least as long, bits equal. */
bool ipaddr_contains(const struct ipaddr *p, const struct ipaddr *a);
/* Same family, length and bits. */
bool ipaddr_equal(const struct ipaddr *x, const struct ipaddr *y);
/* The length of a single address of @a's family (32 or 128; 0 for none). */
unsigned int ipaddr_full_len(const struct ipaddr *a);

/* Long enough for any address with "/128". */
#define IPADDR_STRLEN 50
/*
 * @a as text: the address alone when it is a single one ("10.0.0.1", "2001:db8::1"), else
 * "addr/len"; RFC 5952's IPv6 form (inet_ntop). "none" for family 0. Returns @buf.
 */
const char *ipaddr_format(const struct ipaddr *a, char *buf, size_t len);
/* The same, always with "/len" (what a CIDR list shows). */
const char *ipaddr_format_prefix(const struct ipaddr *a, char *buf, size_t len);
/* IPv4 address @be (network order) as text into @buf (INET_ADDRSTRLEN bytes). Returns @buf. */
const char *ipaddr_v4_str(uint32_t be, char *buf);

#endif
