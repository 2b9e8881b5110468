// SPDX-License-Identifier: Apache-2.0
/*
 * L7 policy benchmark (not a test: it reports, never asserts a time). A waypoint serving S
 * Services with P AuthorizationPolicies written as users write them (ALLOW by principal,
 * paths, methods and a header condition; one in ten a DENY on a path), compiled through the
 * real model and its JSON, then the waypoint's per-request decision (wp_authz_decide) timed
 * over many requests, each one its service's policies allow, with the index the waypoint
 * builds per generation (wp_authz_decide_indexed) and without it (every policy tried). Two
 * placements: the policies
 * spread over the Services (targetRefs, as a mesh has them: the waypoint holds all P) and all
 * P on one Service (the worst case: every request meets every policy).
 *   build/bench-l7-policy [POLICIES...]        (default 10 100 1000)
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "ambit/l7.h"
#include "../../waypoint/authz.h"
#include "http/http_fields.h"

#define SERVICES 100
#define REQUESTS 200000

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void put(char **y, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char **y, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*y + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < *cap - *len)
			break;
		*cap *= 2;
		*y = realloc(*y, *cap);
		if (!*y)
			exit(1);
	}
	*len += (size_t)n;
}

/* The world and @p policies; all on svc-0 when @one, else policy i on svc-(i % SERVICES). */
static char *world(size_t p, bool one)
{
	size_t len = 0, cap = 1 << 16;
	char *y = malloc(cap);

	if (!y)
		exit(1);
	put(&y, &len, &cap,
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
	    "    istio.io/dataplane-mode: ambient\n    istio.io/use-waypoint: waypoint\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: waypoint, namespace: shop}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n");
	for (size_t s = 0; s < SERVICES; s++)
		put(&y, &len, &cap,
		    "apiVersion: v1\nkind: Service\nmetadata: {name: svc-%zu, namespace: shop}\n"
		    "spec: {selector: {app: svc-%zu}, ports: [{name: http, port: 80}]}\n---\n",
		    s, s);
	for (size_t i = 0; i < p; i++) {
		size_t s = one ? 0 : i % SERVICES;

		if (i % 10 == 9)
			put(&y, &len, &cap,
			    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
			    "metadata: {name: p-%zu, namespace: shop}\nspec:\n"
			    "  targetRefs: [{kind: Service, group: '', name: svc-%zu}]\n"
			    "  action: DENY\n"
			    "  rules: [{to: [{operation: {paths: ['/admin/%zu/*']}}]}]\n---\n",
			    i, s, i);
		else
			put(&y, &len, &cap,
			    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
			    "metadata: {name: p-%zu, namespace: shop}\nspec:\n"
			    "  targetRefs: [{kind: Service, group: '', name: svc-%zu}]\n"
			    "  action: ALLOW\n  rules:\n"
			    "  - from: [{source: {principals: [cluster.local/ns/shop/sa/c-%zu]}}]\n"
			    "    to: [{operation: {methods: [GET, POST], paths: ['/api/%zu/*']}}]\n"
			    "    when: [{key: 'request.headers[x-tenant]', values: "
			    "[t-%zu]}]\n---\n",
			    i, s, i, i, i);
	}
	return y;
}

static struct l7_config *compile(const char *yaml)
{
	struct config cfg;
	struct config_diags diags = {0};
	struct l7_config *l7, *back = NULL;
	char err[256];
	cJSON *j;

	config_init(&cfg);
	if (config_load_buffer(&cfg, "bench.yaml", yaml, strlen(yaml), &diags)) {
		config_diag_format(&diags.items[0], err, sizeof(err));
		fprintf(stderr, "bench-l7-policy: %s\n", err);
		exit(1);
	}
	l7 = l7_compile_config(&cfg, "shop", "waypoint");
	j = l7 ? l7_to_json(l7) : NULL;
	back = j ? l7_from_json(j, err, sizeof(err)) : NULL;
	if (!back) {
		fprintf(stderr, "bench-l7-policy: no model: %s\n", j ? err : "compile");
		exit(1);
	}
	cJSON_Delete(j);
	l7_config_free(l7);
	config_free(&cfg);
	config_diags_free(&diags);
	return back;
}

/* ns per decision over REQUESTS requests, each allowed by one policy of its service. */
static double run(const struct l7_config *c, size_t p, bool one, bool indexed, size_t *allowed)
{
	struct wp_authz_index *x[SERVICES] = {0};

	char principal[96], path[64], host[64], tenant[32];
	struct http_fields f = {0};
	double t0, t = 0;

	*allowed = 0;
	for (size_t k = 0; k < REQUESTS; k++) {
		/* Policy i's request: the i-th of the ALLOWs, round the set. */
		size_t i = (k * 7919) % p, s = one ? 0 : i % SERVICES;
		const struct l7_service *svc;
		struct wp_authz_request rq;
		struct wp_authz_decision d;

		if (i % 10 == 9)
			i--;
		snprintf(principal, sizeof(principal), "cluster.local/ns/shop/sa/c-%zu", i);
		snprintf(path, sizeof(path), "/api/%zu/items", i);
		snprintf(host, sizeof(host), "svc-%zu.shop.svc.cluster.local", s);
		snprintf(tenant, sizeof(tenant), "t-%zu", i);
		svc = l7_config_service(c, host);
		if (!svc)
			exit(1);
		if (indexed && !x[s] && !(x[s] = wp_authz_index_build(c, svc)))
			exit(1);
		http_fields_free(&f);
		memset(&f, 0, sizeof(f));
		http_fields_add(&f, "x-tenant", tenant);
		rq = (struct wp_authz_request){.principal = principal,
					       .dest_port = 80,
					       .host = host,
					       .method = "GET",
					       .path = path,
					       .path_len = strlen(path),
					       .headers = &f};
		ipaddr_from_v4(&rq.source_ip, inet_addr("10.0.0.5"));
		rq.remote_ip = rq.source_ip;
		ipaddr_from_v4(&rq.dest_ip, inet_addr("10.96.0.10"));
		t0 = now_ns();
		wp_authz_decide_indexed(c, svc, x[s], &rq, &d);
		t += now_ns() - t0;
		*allowed += d.verdict == WP_AUTHZ_ALLOW;
	}
	http_fields_free(&f);
	for (size_t s = 0; s < SERVICES; s++)
		wp_authz_index_free(x[s]);
	return t / REQUESTS;
}

int main(int argc, char **argv)
{
	static const size_t defaults[] = {10, 100, 1000};
	size_t n = argc > 1 ? (size_t)argc - 1 : 3;

	printf("| policies | placement | per service | ns per decision | every policy tried | "
	       "allowed |\n");
	printf("|---:|---|---:|---:|---:|---:|\n");
	for (size_t a = 0; a < n; a++) {
		size_t p = argc > 1 ? strtoul(argv[a + 1], NULL, 10) : defaults[a];

		for (int one = 0; one < 2; one++) {
			char *y = world(p, one);
			struct l7_config *c = compile(y);
			size_t allowed, allowed_full;
			double ns = run(c, p, one, true, &allowed);
			double full = run(c, p, one, false, &allowed_full);

			if (allowed != allowed_full)
				return 1; /* the index changed a decision */
			printf("| %zu | %s | %zu | %.0f | %.0f | %zu/%d |\n", p,
			       one ? "all on one Service" : "spread over 100 Services",
			       one ? p : (p + SERVICES - 1) / SERVICES, ns, full, allowed,
			       REQUESTS);
			l7_config_free(c);
			free(y);
		}
	}
	return 0;
}
