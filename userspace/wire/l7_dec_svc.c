// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's strict JSON decoder, service facts: ports, endpoints, subsets (their endpoint
 * indices checked against the endpoints) and the resolved policies (each naming a port and
 * subset the service has). The helpers and the rest are in json_dec.c.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "l7_priv.h"

enum l7_protocol l7j_dprotocol(struct wire_dec *d, const cJSON *o, const char *path)
{
	char *proto = wire_str(d, o, "protocol", path, true);
	enum l7_protocol x = L7_PROTO_UNKNOWN;

	while (proto && strcmp(l7_protocol_name(x), proto) && x <= L7_PROTO_UDP)
		x++;
	if (proto && x > L7_PROTO_UDP)
		wire_fail(d, "%s.protocol: unknown \"%.16s\"", path, proto);
	free(proto);
	return x;
}

void l7j_ports(struct wire_dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"port",	      "name",		"protocol",
					"targetPort", "targetPortName", NULL};
	size_t n;
	const cJSON *a = wire_arr(d, o, "ports", path, &n), *it;
	char p[320];

	if (d->failed || !(s->ports = wire_alloc(d, n, sizeof(*s->ports), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_port *x = &s->ports[s->n_ports];
		snprintf(p, sizeof(p), "%.200s.ports[%zu]", path, s->n_ports++);
		if (!wire_keys(d, it, p, k))
			return;
		x->port = (uint16_t)wire_num(d, it, "port", p, 1, 65535, true);
		x->name = wire_str(d, it, "name", p, false);
		x->target_port = (uint16_t)wire_num(d, it, "targetPort", p, 1, 65535, false);
		x->target_port_name = wire_str(d, it, "targetPortName", p, false);
		x->protocol = l7j_dprotocol(d, it, p);
		if (d->failed)
			return;
	}
}

void l7j_endpoints(struct wire_dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"ip",	  "pod",   "workload", "node", "identity",
					"labels", "ports", "dnsName",  "ip6",  NULL};
	size_t n;
	const cJSON *a = wire_arr(d, o, "endpoints", path, &n), *it;
	char p[320];

	if (d->failed || !(s->endpoints = wire_alloc(d, n, sizeof(*s->endpoints), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_endpoint *e = &s->endpoints[s->n_endpoints];
		const cJSON *ports, *pt;
		size_t np, j = 0;

		snprintf(p, sizeof(p), "%.200s.endpoints[%zu]", path, s->n_endpoints++);
		if (!wire_keys(d, it, p, k))
			return;
		e->ip = wire_ip(d, it, "ip", p, true);
		e->ip6 = wire_ip6(d, it, "ip6", p);
		e->pod = wire_str(d, it, "pod", p, true);
		e->workload = wire_str(d, it, "workload", p, false);
		e->node = wire_str(d, it, "node", p, false);
		e->identity = wire_str(d, it, "identity", p, false); /* none: outside the mesh */
		e->dns_name = wire_str(d, it, "dnsName", p, false);
		wire_labels(d, it, "labels", p, &e->labels);
		ports = wire_arr(d, it, "ports", p, &np);
		if (d->failed)
			return;
		if (np != s->n_ports) {
			wire_fail(d, "%s.ports: %zu entries for %zu service ports", p, np,
				  s->n_ports);
			return;
		}
		if (!(e->ports = wire_alloc(d, np, sizeof(*e->ports), p)))
			return;
		cJSON_ArrayForEach(pt, ports)
		{
			if (!cJSON_IsNumber(pt) || pt->valuedouble < 0 || pt->valuedouble > 65535 ||
			    pt->valuedouble != floor(pt->valuedouble)) {
				wire_fail(d, "%s.ports[%zu]: expected a port", p, j);
				return;
			}
			e->ports[j++] = (uint16_t)pt->valuedouble;
		}
	}
}

void l7j_subsets(struct wire_dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	static const char *const k[] = {"name", "labels", "endpoints", NULL};
	size_t n;
	const cJSON *a = wire_arr(d, o, "subsets", path, &n), *it;
	char p[320];

	if (d->failed || !(s->subsets = wire_alloc(d, n, sizeof(*s->subsets), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_subset *x = &s->subsets[s->n_subsets];
		const cJSON *eps, *ep;
		size_t ne;

		snprintf(p, sizeof(p), "%.200s.subsets[%zu]", path, s->n_subsets++);
		if (!wire_keys(d, it, p, k))
			return;
		x->name = wire_str(d, it, "name", p, true);
		wire_labels(d, it, "labels", p, &x->labels);
		eps = wire_arr(d, it, "endpoints", p, &ne);
		if (d->failed || !(x->endpoints = wire_alloc(d, ne, sizeof(*x->endpoints), p)))
			return;
		cJSON_ArrayForEach(ep, eps)
		{
			if (!cJSON_IsNumber(ep) || ep->valuedouble < 0 ||
			    ep->valuedouble >= (double)s->n_endpoints ||
			    ep->valuedouble != floor(ep->valuedouble)) {
				wire_fail(d, "%s.endpoints[%zu]: not an endpoint index", p,
					  x->n_endpoints);
				return;
			}
			x->endpoints[x->n_endpoints++] = (uint32_t)ep->valuedouble;
		}
	}
}

static void dpolicy(struct wire_dec *d, const cJSON *o, const char *path, struct l7_service *s,
		    struct l7_policy *x)
{
	static const char *const k[] = {
	    "subset", "port", "loadBalancer", "connectionPool", "outlierDetection", "tls", NULL};
	static const char *const lbk[] = {"present",	 "simple",	     "hashKey", "hashName",
					  "cookiePath",	 "cookieTtlMs",	     "maglev",	"tableSize",
					  "localityOff", "failoverPriority", NULL};
	static const char *const pk[] = {"present",
					 "maxConnections",
					 "connectTimeoutMs",
					 "tcpIdleTimeoutMs",
					 "maxConnectionDurationMs",
					 "http1MaxPendingRequests",
					 "http2MaxRequests",
					 "maxRequestsPerConnection",
					 "maxRetries",
					 "httpIdleTimeoutMs",
					 "h2UpgradePolicy",
					 "useClientProtocol",
					 "maxConcurrentStreams",
					 NULL};
	static const char *const ok[] = {"consecutive5xxErrors",
					 "consecutiveGatewayErrors",
					 "consecutiveLocalOriginFailures",
					 "splitExternalLocalOriginErrors",
					 "intervalMs",
					 "baseEjectionMs",
					 "maxEjectionPercent",
					 "minHealthPercent",
					 "errorCodes",
					 NULL};
	static const char *const tk[] = {"mode",
					 "sni",
					 "caCertificates",
					 "credentialName",
					 "subjectAltNames",
					 "insecureSkipVerify",
					 "certPem",
					 "keyPem",
					 "caPem",
					 NULL};
	const cJSON *m;
	char p[320];
	bool port_ok = false, subset_ok = false;

	if (!wire_keys(d, o, path, k))
		return;
	x->subset = wire_str(d, o, "subset", path, false);
	x->port = (uint16_t)wire_num(d, o, "port", path, 1, 65535, true);
	for (size_t i = 0; i < s->n_ports; i++)
		port_ok |= s->ports[i].port == x->port;
	for (size_t i = 0; x->subset && i < s->n_subsets; i++)
		subset_ok |= !strcmp(s->subsets[i].name, x->subset);
	if (!d->failed && (!port_ok || (x->subset && !subset_ok))) {
		wire_fail(d, "%s: names a port or subset the service does not have", path);
		return;
	}
	snprintf(p, sizeof(p), "%.200s.loadBalancer", path);
	m = cJSON_GetObjectItemCaseSensitive(o, "loadBalancer");
	if (!m || !wire_keys(d, m, p, lbk)) {
		wire_fail(d, "%s: missing", p);
		return;
	}
	x->lb.present = wire_bool(d, m, "present", p);
	x->lb.simple = wire_enum(d, m, "simple", p, l7_lb_names, true);
	x->lb.hash_key = wire_enum(d, m, "hashKey", p, l7_hash_names, false);
	x->lb.hash_name = wire_str(d, m, "hashName", p,
				   x->lb.hash_key && x->lb.hash_key != CONFIG_HASH_SOURCE_IP);
	x->lb.cookie_path = wire_str(d, m, "cookiePath", p, false);
	x->lb.cookie_ttl_ms = (uint64_t)wire_num(d, m, "cookieTtlMs", p, 0, 1e12, false);
	x->lb.maglev = wire_bool(d, m, "maglev", p);
	x->lb.table_size = (uint64_t)wire_num(d, m, "tableSize", p, x->lb.hash_key ? 1 : 0, 8388608,
					      x->lb.hash_key != CONFIG_HASH_NONE);
	x->lb.locality_off = wire_bool(d, m, "localityOff", p);
	wire_strings(d, m, "failoverPriority", p, &x->lb.failover_priority);
	snprintf(p, sizeof(p), "%.200s.connectionPool", path);
	m = cJSON_GetObjectItemCaseSensitive(o, "connectionPool");
	if (!m || !wire_keys(d, m, p, pk)) {
		wire_fail(d, "%s: missing", p);
		return;
	}
	x->pool.present = wire_bool(d, m, "present", p);
	x->pool.max_connections =
	    (uint32_t)wire_num(d, m, "maxConnections", p, 0, UINT32_MAX, true);
	x->pool.connect_timeout_ms = (uint64_t)wire_num(d, m, "connectTimeoutMs", p, 0, 1e12, true);
	x->pool.tcp_idle_timeout_ms =
	    (uint64_t)wire_num(d, m, "tcpIdleTimeoutMs", p, 0, 1e12, true);
	x->pool.max_connection_duration_ms =
	    (uint64_t)wire_num(d, m, "maxConnectionDurationMs", p, 0, 1e12, true);
	x->pool.http1_max_pending_requests =
	    (uint32_t)wire_num(d, m, "http1MaxPendingRequests", p, 0, UINT32_MAX, true);
	x->pool.http2_max_requests =
	    (uint32_t)wire_num(d, m, "http2MaxRequests", p, 0, UINT32_MAX, true);
	x->pool.max_requests_per_connection =
	    (uint32_t)wire_num(d, m, "maxRequestsPerConnection", p, 0, UINT32_MAX, true);
	x->pool.max_retries = (uint32_t)wire_num(d, m, "maxRetries", p, 0, UINT32_MAX, true);
	x->pool.http_idle_timeout_ms =
	    (uint64_t)wire_num(d, m, "httpIdleTimeoutMs", p, 0, 1e12, true);
	x->pool.h2_upgrade_policy = wire_enum(d, m, "h2UpgradePolicy", p, l7_h2_names, true);
	x->pool.use_client_protocol = wire_bool(d, m, "useClientProtocol", p);
	x->pool.max_concurrent_streams =
	    (uint32_t)wire_num(d, m, "maxConcurrentStreams", p, 0, UINT32_MAX, false);
	m = cJSON_GetObjectItemCaseSensitive(o, "outlierDetection");
	snprintf(p, sizeof(p), "%.200s.outlierDetection", path);
	if (m && wire_keys(d, m, p, ok)) {
		const cJSON *codes, *c;
		size_t n;

		x->outlier.present = true;
		x->outlier.consecutive_5xx =
		    (uint32_t)wire_num(d, m, "consecutive5xxErrors", p, 0, UINT32_MAX, true);
		x->outlier.consecutive_gateway =
		    (uint32_t)wire_num(d, m, "consecutiveGatewayErrors", p, 0, UINT32_MAX, true);
		x->outlier.consecutive_local_origin = (uint32_t)wire_num(
		    d, m, "consecutiveLocalOriginFailures", p, 0, UINT32_MAX, false);
		x->outlier.split_local_origin =
		    wire_bool(d, m, "splitExternalLocalOriginErrors", p);
		x->outlier.interval_ms = (uint64_t)wire_num(d, m, "intervalMs", p, 1, 1e12, true);
		x->outlier.base_ejection_ms =
		    (uint64_t)wire_num(d, m, "baseEjectionMs", p, 1, 1e12, true);
		x->outlier.max_ejection_percent =
		    (uint32_t)wire_num(d, m, "maxEjectionPercent", p, 0, 100, true);
		x->outlier.min_health_percent =
		    (uint32_t)wire_num(d, m, "minHealthPercent", p, 0, 100, true);
		codes = wire_arr(d, m, "errorCodes", p, &n);
		if (d->failed || !(x->outlier.error_codes =
				       wire_alloc(d, n, sizeof(*x->outlier.error_codes), p)))
			return;
		cJSON_ArrayForEach(c, codes)
		{
			if (!cJSON_IsNumber(c) || c->valuedouble < 100 || c->valuedouble > 599) {
				wire_fail(d, "%s.errorCodes: expected status codes", p);
				return;
			}
			x->outlier.error_codes[x->outlier.n_error_codes++] =
			    (uint16_t)c->valuedouble;
		}
	}
	m = cJSON_GetObjectItemCaseSensitive(o, "tls");
	snprintf(p, sizeof(p), "%.200s.tls", path);
	if (m && wire_keys(d, m, p, tk)) {
		x->tls.present = true;
		x->tls.mode = wire_str(d, m, "mode", p, false);
		x->tls.sni = wire_str(d, m, "sni", p, false);
		x->tls.ca_certificates = wire_str(d, m, "caCertificates", p, false);
		x->tls.credential_name = wire_str(d, m, "credentialName", p, false);
		wire_strings(d, m, "subjectAltNames", p, &x->tls.subject_alt_names);
		x->tls.insecure_skip_verify = wire_bool(d, m, "insecureSkipVerify", p);
		x->tls_cert = wire_str(d, m, "certPem", p, false);
		x->tls_key = wire_str(d, m, "keyPem", p, false);
		x->tls_ca = wire_str(d, m, "caPem", p, false);
	}
}

void l7j_policies(struct wire_dec *d, const cJSON *o, const char *path, struct l7_service *s)
{
	size_t n;
	const cJSON *a = wire_arr(d, o, "policies", path, &n), *it;
	char p[320];

	if (d->failed || !(s->policies = wire_alloc(d, n, sizeof(*s->policies), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.policies[%zu]", path, s->n_policies);
		dpolicy(d, it, p, s, &s->policies[s->n_policies++]);
		if (d->failed)
			return;
	}
}

/* A tunnel's "ips6": its waypoint's IPv6 instances (absent: none). */
static void l7j_tunnel_ips6(struct wire_dec *d, const cJSON *it, const char *p, struct l7_tunnel *t)
{
	size_t n;
	const cJSON *a = wire_arr(d, it, "ips6", p, &n), *ip;

	if (!a || d->failed || !(t->ips6 = wire_alloc(d, n, sizeof(*t->ips6), p)))
		return;
	cJSON_ArrayForEach(ip, a)
	{
		struct ipaddr *x = &t->ips6[t->n_ips6];

		if (!cJSON_IsString(ip) || ipaddr_parse_addr(ip->valuestring, x) ||
		    x->family != AF_INET6) {
			wire_fail(d, "%s.ips6[%zu]: expected an IPv6 address", p, t->n_ips6);
			return;
		}
		t->n_ips6++;
	}
}

void l7j_tunnels(struct wire_dec *d, const cJSON *j, struct l7_config *c)
{
	static const char *const k[] = {"vip", "vip6", "waypoint", "ips", "ips6", NULL};
	size_t n;
	const cJSON *a = wire_arr(d, j, "tunnels", "l7", &n), *it;
	char p[64];

	if (!a || d->failed || !(c->tunnels = wire_alloc(d, n, sizeof(*c->tunnels), "l7.tunnels")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_tunnel *t = &c->tunnels[c->n_tunnels];
		const cJSON *ips, *ip;
		size_t ni;

		snprintf(p, sizeof(p), "l7.tunnels[%zu]", c->n_tunnels);
		if (!wire_keys(d, it, p, k))
			return;
		t->vip = wire_ip(d, it, "vip", p, true);
		t->vip6 = wire_ip6(d, it, "vip6", p);
		if (d->failed)
			return;
		/* A Service of IPv6 alone has vip 0.0.0.0; one of neither family is no tunnel. */
		if (!t->vip && !t->vip6.family) {
			wire_fail(d, "%s.vip: 0.0.0.0 and no vip6", p);
			return;
		}
		if (l7_config_tunnel(c, t->vip) || l7_config_tunnel6(c, &t->vip6)) {
			wire_fail(d, "%s.%s: listed twice", p,
				  l7_config_tunnel(c, t->vip) ? "vip" : "vip6");
			return;
		}
		c->n_tunnels++;
		t->waypoint = wire_str(d, it, "waypoint", p, true);
		l7j_tunnel_ips6(d, it, p, t);
		ips = wire_arr(d, it, "ips", p, &ni);
		if (d->failed || !(t->ips = wire_alloc(d, ni, sizeof(*t->ips), p)))
			return;
		cJSON_ArrayForEach(ip, ips)
		{
			struct in_addr in;

			if (!cJSON_IsString(ip) || inet_pton(AF_INET, ip->valuestring, &in) != 1) {
				wire_fail(d, "%s.ips[%zu]: expected an IPv4 address", p, t->n_ips);
				return;
			}
			t->ips[t->n_ips++] = in.s_addr;
		}
	}
}
