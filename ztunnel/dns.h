/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS proxy's decisions (dns.c), pure functions of a snapshot: which names the mesh answers
 * (Services, headless Services' endpoints and their pods' hostnames, ServiceEntry hosts with
 * their allocated addresses, pods by their dashed address, SRV for Service ports), what a query
 * gets, and whether an upstream's answer belongs to a query. The wire format is ldns's; the sockets
 * are dns_server.c's.
 */
#ifndef ZT_DNS_H
#define ZT_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/snapshot.h"

/* The TTL of every answer the proxy makes: Istio's ztunnel answers with 30 s. */
#define DNS_TTL 30
/* The most a UDP answer carries without EDNS (RFC 1035), and the most it may with (RFC 9715). */
#define DNS_UDP_PLAIN 512
#define DNS_UDP_EDNS_MAX 1232

struct dns_table;

/*
 * The names of @s (borrowed: the table points into it and lives no longer), under the cluster
 * domain @domain ("cluster.local"). NULL with errno on a lack of memory.
 */
struct dns_table *dns_table_build(const struct snapshot *s, const char *domain);
void dns_table_free(struct dns_table *t); /* accepts NULL */

enum dns_verdict {
	DNS_ANSWER,  /* *out holds the response to send */
	DNS_FORWARD, /* the query goes upstream as it is */
	DNS_DROP,    /* not a DNS message: nothing to answer */
};

/*
 * Decides query @q (@len bytes) of @client (its workload, may be NULL: then short names are not
 * expanded and exportTo-limited entries are not seen). A name the table has is answered: A with
 * its IPv4 VIP, AAAA with its IPv6 one (a dual-stack Service's vip6, an entry's IPv6 address or
 * the one allocated to it), a headless Service's with its endpoints' addresses of that family
 * (an endpoint's IPv6 is its pod's); ANY with both; a family the name has no address of, and
 * other types: NOERROR without answers (NODATA, never NXDOMAIN: the name exists); SRV for
 * `_port._tcp.svc.ns.svc`: the Service on its port, or for a headless Service each endpoint, by
 * its pod's hostname when the pod's subdomain is the Service, else its dashed address, on the
 * endpoint's port, with the targets' A and AAAA records in the additional section);
 * `<hostname or a-b-c-d>.<headless svc>.ns.svc` is that endpoint (A, and AAAA its pod's IPv6);
 * an unknown name under the cluster domain is NXDOMAIN unless @forward_cluster (then, as every
 * other name, forwarded); a malformed query with a readable header gets FORMERR. Any other opcode
 * than QUERY (UPDATE, NOTIFY...) is forwarded unread. The response, in *@out (malloc'd, *@outlen
 * bytes), fits @max bytes (0: UDP's, 512 or the client's EDNS size up to DNS_UDP_EDNS_MAX), else it
 * goes truncated (TC, no records): the client asks again over TCP.
 */
enum dns_verdict dns_query(const struct dns_table *t, const struct snap_workload *client,
			   const uint8_t *q, size_t len, size_t max, bool forward_cluster,
			   uint8_t **out, size_t *outlen);

/* The type of @q's one question (read with ldns), or -EPROTO. */
int dns_question_type(const uint8_t *q, size_t len);

/*
 * Whether @r (@rlen bytes, from upstream) answers query @q: a response (QR), with @q's id and
 * opcode and the same question (names compared without case; another opcode's response may have
 * none). 0, or -EPROTO.
 */
int dns_upstream_check(const uint8_t *r, size_t rlen, const uint8_t *q, size_t qlen);

/*
 * A SERVFAIL response to @q (when no upstream answers), into *@out (malloc'd). 0 or -EPROTO (not
 * a query) / -ENOMEM.
 */
int dns_servfail(const uint8_t *q, size_t len, uint8_t **out, size_t *outlen);

/*
 * A query for @name's addresses of @family (AF_INET: A, AF_INET6: AAAA) with @id (RD set), into
 * *@out (malloc'd). 0, -EINVAL or -ENOMEM.
 */
int dns_make_query(const char *name, int family, uint16_t id, uint8_t **out, size_t *outlen);

/*
 * The addresses of @family an upstream's answer @r gives (every A record of its answer section,
 * or every AAAA one for AF_INET6: the end of a CNAME chain included), at most @max into @ips, and
 * the smallest TTL among them in *@ttl. How many (0: NOERROR with none), -ENOENT for NXDOMAIN,
 * or -EPROTO (not a usable answer).
 */
int dns_answer_addrs(const uint8_t *r, size_t rlen, int family, struct ipaddr *ips, size_t max,
		     uint32_t *ttl);

#endif
