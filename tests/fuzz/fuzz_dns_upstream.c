// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: an upstream resolver's answer (untrusted: whatever the node's resolvers, or
 * anyone spoofing them, send) checked against the queries the forwarder has in flight, as
 * dns_server.c does before relaying it to a pod, and the addresses it takes from answers to
 * its own queries (a DNS ServiceEntry's names).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <ldns/ldns.h>

#include "../../ztunnel/dns.h"

/* The query "@name @type" with the answer's id, on the wire (malloc'd). */
static uint8_t *query(const char *name, ldns_rr_type type, uint16_t id, size_t *len)
{
	ldns_pkt *q = NULL;
	uint8_t *w = NULL;

	if (ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK)
		abort();
	ldns_pkt_set_id(q, id);
	if (ldns_pkt2wire(&w, q, len) != LDNS_STATUS_OK)
		abort();
	ldns_pkt_free(q);
	return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		const char *name;
		ldns_rr_type type;
	} qs[] = {{"example.org.", LDNS_RR_TYPE_A},
		  {"www.example.org.", LDNS_RR_TYPE_AAAA},
		  {"_sip._tcp.example.org.", LDNS_RR_TYPE_SRV},
		  {"alias.example.org.", LDNS_RR_TYPE_CNAME}};
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	struct ipaddr ips[16];
	uint32_t ttl;

	/* What the proxy takes from the answers to its own queries (DNS ServiceEntries). */
	for (int f = 0; f < 2; f++) {
		int n = dns_answer_addrs(data, size, f ? AF_INET6 : AF_INET, ips, 16, &ttl);

		if (n > 16 || (n < 0 && n != -ENOENT && n != -EPROTO))
			abort();
		for (int i = 0; i < n; i++)
			if (ips[i].family != (f ? AF_INET6 : AF_INET))
				abort();
	}

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		size_t len;
		uint8_t *q = query(qs[i].name, qs[i].type, id, &len);

		(void)dns_upstream_check(data, size, q, len);
		/* The same query under the answer's opcode (an UPDATE's, a NOTIFY's forwarded). */
		if (size > 2) {
			q[2] = (uint8_t)((q[2] & ~0x78) | (data[2] & 0x78));
			(void)dns_upstream_check(data, size, q, len);
		}
		free(q);
	}
	return 0;
}
