// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl services`' cells: a Service's ports and endpoints, as the snapshot holds them.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "ambit/ipaddr.h"
#include "svcfmt.h"

/* Appends "@ip (pod)" (the pod when there is one), ", " first unless @eps is empty. */
static void add_endpoint(char *eps, size_t elen, size_t *el, const char *ip, const char *pod)
{
	if (*el >= elen)
		return;
	*el += (size_t)snprintf(eps + *el, elen - *el, "%s%s%s%s%s", *el ? ", " : "", ip,
				pod ? " (" : "", pod ? pod : "", pod ? ")" : "");
}

void svcfmt_ports_endpoints(const struct snapshot *s, const struct snap_service *sv, char *ports,
			    size_t plen, char *eps, size_t elen)
{
	size_t pl = 0, el = 0;

	ports[0] = eps[0] = 0;
	for (size_t p = 0; p < sv->nports && pl < plen; p++)
		pl += (size_t)snprintf(ports + pl, plen - pl, "%s%u->%u", p ? "," : "",
				       sv->ports[p].port, sv->ports[p].target_port);
	for (size_t e = 0; e < sv->nendpoints; e++) {
		const struct snap_workload *w = snapshot_workload_by_ip(s, sv->endpoints[e]);
		struct in_addr a = {.s_addr = sv->endpoints[e]};
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		add_endpoint(eps, elen, &el, ip, w ? w->name : NULL);
	}
	for (size_t e = 0; e < sv->nendpoints6; e++) {
		const struct snap_workload *w = snapshot_workload_by_ip6(s, &sv->endpoints6[e]);
		char ip[IPADDR_STRLEN];

		add_endpoint(eps, elen, &el, ipaddr_format(&sv->endpoints6[e], ip, sizeof(ip)),
			     w ? w->name : NULL);
	}
	if (!el)
		snprintf(eps, elen, "<none>");
}
