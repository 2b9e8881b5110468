// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: a pod's DNS query (untrusted bytes from any enrolled pod) into the DNS
 * proxy's decision, over UDP and TCP, from a client of the mesh and from an unknown one. An
 * answer must be a DNS message ldns reads back, fit the transport and carry the query's id.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>

#include "../../ztunnel/dns.h"

/* Both families: a dual-stack Service, pod and entry; an IPv4-only Service and an IPv6-only one. */
static const char SNAP[] =
    "{\"version\":1,\"node\":\"n1\",\"workloads\":[{\"uid\":\"mesh/c\",\"name\":\"c\","
    "\"namespace\":\"mesh\",\"ip\":\"10.98.1.3\",\"enrolled\":true},{\"uid\":\"mesh/db-0\","
    "\"name\":\"db-0\",\"namespace\":\"mesh\",\"ip\":\"10.98.1.5\",\"ip6\":\"fd00:98:1::5\","
    "\"hostname\":\"primary\",\"subdomain\":\"db\"}],\"services\":["
    "{\"name\":\"server\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.10\",\"vip6\":"
    "\"fd00:96::a\",\"ports\":[{\"name\":\"http\",\"port\":80}],\"endpoints\":[]},"
    "{\"name\":\"four\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.11\",\"ports\":[],"
    "\"endpoints\":[]},{\"name\":\"six\",\"namespace\":\"mesh\",\"vip\":\"0.0.0.0\","
    "\"vip6\":\"fd00:96::c\",\"ports\":[],\"endpoints\":[\"10.98.1.5\"]},"
    "{\"name\":\"db\",\"namespace\":\"mesh\",\"vip\":"
    "\"0.0.0.0\",\"ports\":[{\"name\":\"pg\",\"port\":5432,\"targetPort\":15432}],"
    "\"endpoints\":[\"10.98.1.5\",\"10.98.2.5\",\"10.98.2.6\"]}],"
    "\"serviceEntries\":[{\"name\":\"api.example.com\",\"namespace\":\"mesh\",\"hostname\":"
    "\"api.example.com\",\"vip\":\"240.240.1.1\",\"vip6\":\"2001:2::f0f0:101\",\"ports\":[],"
    "\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\",\"exportTo\":[\"mesh\"]}],"
    "\"certs\":[]}";

static struct snapshot *snap;
static struct dns_table *table;

static void check(const uint8_t *q, size_t len, const uint8_t *out, size_t outlen, size_t max)
{
	ldns_pkt *p = NULL;

	if (outlen > max || outlen < LDNS_HEADER_SIZE || out[0] != q[0] || out[1] != q[1] ||
	    ldns_wire2pkt(&p, out, outlen) != LDNS_STATUS_OK)
		abort();
	ldns_pkt_free(p);
	(void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = {0, 65535};
	uint8_t *out;
	size_t outlen;

	if (!snap) {
		char err[200];

		snap = snapshot_decode(SNAP, sizeof(SNAP) - 1, err, sizeof(err));
		table = snap ? dns_table_build(snap, "cluster.local") : NULL;
		if (!table)
			abort();
	}
	for (int i = 0; i < 4; i++) {
		size_t max = maxes[i & 1];
		enum dns_verdict v = dns_query(table, i & 2 ? &snap->workloads[0] : NULL, data,
					       size, max, i & 2, &out, &outlen);

		if (v == DNS_ANSWER) {
			check(data, size, out, outlen, max ? max : DNS_UDP_EDNS_MAX);
			free(out);
		} else if (out) {
			abort();
		}
	}
	if (dns_servfail(data, size, &out, &outlen) == 0) {
		check(data, size, out, outlen, 65535);
		free(out);
	}
	return 0;
}
