// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: the waypoint's L7 policy path with hostile requests. The first byte picks a
 * path normalization mode; the rest is split at NUL bytes into a request target, a method, a
 * Host, a principal and header name/value pairs. The target is normalized
 * (waypoint/pathnorm.c: never longer, dot segments gone, the query kept, idempotent where no
 * escape is left) and the
 * request judged (waypoint/authz.c) against a model compiled once from policies of every kind
 * (ALLOW, DENY, AUDIT, CUSTOM, dry-run; paths with wildcards and templates, hosts, methods,
 * headers, claims, not* forms): the decision must be deterministic and consistent (a DENY names a
 * DENY or CUSTOM policy of the service, an ALLOW an ALLOW one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ambit/config.h"
#include "ambit/l7.h"
#include "../../waypoint/authz.h"
#include "../lib/fuzz_env.h"

static const char world[] =
    "apiVersion: v1\nkind: Namespace\n"
    "metadata: {name: shop, labels: {istio.io/use-waypoint: waypoint}}\n---\n"
    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: waypoint, namespace: shop}\n"
    "spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, "
    "protocol: HBONE}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
    "spec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n---\n"
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    "metadata: {name: deny, namespace: shop}\n"
    "spec:\n  targetRefs: [{kind: Service, group: '', name: web}]\n  action: DENY\n"
    "  rules:\n"
    "  - to: [{operation: {paths: ['/admin*', '*.bak', '/api/{*}/secret/{**}'], "
    "methods: [DELETE, 'P*']}}]\n"
    "  - when: [{key: 'request.headers[x-block]', values: ['*']}]\n"
    "  - from: [{source: {notPrincipals: ['cluster.local/*'], ipBlocks: ['10.0.0.0/8']}}]\n"
    "---\n"
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    "metadata: {name: allow, namespace: shop}\n"
    "spec:\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: "
    "waypoint}]\n"
    "  rules:\n"
    "  - to: [{operation: {hosts: ['web.shop.svc.cluster.local', '*.example'], notPaths: "
    "['/private*']}}]\n"
    "  - from: [{source: {requestPrincipals: ['*'], notNamespaces: [bad]}}]\n"
    "    when: [{key: 'request.auth.claims[groups]', values: [admins]}, {key: "
    "'request.headers[x-user]', notValues: [mallory]}]\n"
    "---\n"
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    "metadata: {name: audit, namespace: shop}\n"
    "spec:\n  targetRefs: [{kind: Service, group: '', name: web}]\n  action: AUDIT\n"
    "  rules: [{to: [{operation: {paths: ['/{*}']}}]}]\n---\n"
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    "metadata: {name: ext, namespace: shop}\n"
    "spec:\n  targetRefs: [{kind: Service, group: '', name: web}]\n  action: CUSTOM\n"
    "  provider: {name: ext}\n  rules: [{to: [{operation: {paths: ['/ext*']}}]}]\n---\n"
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    "metadata: {name: trial, namespace: shop, annotations: {istio.io/dry-run: 'true'}}\n"
    "spec:\n  targetRefs: [{kind: Service, group: '', name: web}]\n  action: DENY\n"
    "  rules: [{to: [{operation: {ports: ['80']}}]}]\n";

static struct l7_config *model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config cfg;
	struct config_diags diags = {0};

	config_init(&cfg);
	if (config_load_buffer(&cfg, "world.yaml", world, strlen(world), &diags))
		abort();
	model = l7_compile_config(&cfg, "shop", "waypoint");
	if (!model || !model->n_services || model->n_authz != 5)
		abort();
	config_free(&cfg);
	config_diags_free(&diags);
	return 0;
}

static bool has_dot_segment(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '/' || p[i + 1] != '.')
			continue;
		if (i + 2 == n || p[i + 2] == '/')
			return true;
		if (p[i + 2] == '.' && (i + 3 == n || p[i + 3] == '/'))
			return true;
	}
	return false;
}

static void check_normalize(enum wp_path_norm mode, const char *target)
{
	size_t n = strlen(target);
	char *out = malloc(n + 1), *again = malloc(n + 1);
	const char *q = strchr(target, '?');

	if (!out || !again)
		abort();
	if (wp_path_normalize(mode, target, out) == 0) {
		size_t pl = strcspn(out, "?");

		if (strlen(out) > n)
			abort();
		/* The query (from the first '?') is passed on untouched. */
		if (q && strcmp(out + pl, q))
			abort();
		if (target[0] == '/' && mode != WP_PATH_NORM_NONE) {
			if (out[0] != '/' || has_dot_segment(out, pl))
				abort();
			/*
			 * Normalizing a normal path changes nothing, unless decoding made a new
			 * escape ("%3%36f" is "%3%6f"): Envoy decodes once too, so only a path
			 * without '%' is held to it.
			 */
			if (!memchr(out, '%', pl) &&
			    (wp_path_normalize(mode, out, again) || strcmp(out, again)))
				abort();
		}
	}
	free(out);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_fields f = {0};
	struct wp_authz_request rq = {0};
	struct wp_authz_decision d1, d2;
	const struct l7_service *s = &model->services[0];
	char *buf;
	const char *p, *end, *target, *method, *host, *principal;

	if (size < 1)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	p = buf;
	end = buf + size - 1;
	target = fuzz_piece(&p, end);
	method = fuzz_piece(&p, end);
	host = fuzz_piece(&p, end);
	principal = fuzz_piece(&p, end);
	while (p < end && f.n < 16) {
		const char *name = fuzz_piece(&p, end), *value = fuzz_piece(&p, end);

		if (*name && http_fields_add(&f, name, value))
			break;
	}
	check_normalize((enum wp_path_norm)(data[0] % 4), target);
	rq.principal = *principal ? principal : NULL;
	/* Either family, from the first byte. */
	if (data[0] & 2) {
		rq.source_ip =
		    (struct ipaddr){AF_INET6, 128, {0x20, 0x01, 0x0d, 0xb8, [15] = data[0]}};
	} else {
		ipaddr_from_v4(&rq.source_ip, (uint32_t)data[0] << 24 | 0x0a);
	}
	rq.remote_ip = rq.source_ip;
	rq.dest_port = data[0] & 1 ? 80 : 8080;
	rq.host = host;
	rq.method = method;
	rq.path = target;
	rq.path_len = strcspn(target, "?");
	rq.headers = &f;
	rq.custom_allowed = data[0] & 2;
	wp_authz_decide(model, s, &rq, &d1);
	wp_authz_decide(model, s, &rq, &d2);
	if (d1.verdict != d2.verdict || d1.policy != d2.policy || d1.rule != d2.rule)
		abort();
	if (d1.policy) {
		bool in_service = false;

		for (size_t i = 0; i < s->n_authz; i++)
			in_service |= &model->authz[s->authz[i]] == d1.policy;
		if (!in_service || d1.rule >= d1.policy->n_rules || d1.policy->dry_run)
			abort();
		if (d1.verdict == WP_AUTHZ_DENY && d1.policy->action != CONFIG_AUTHZ_DENY &&
		    d1.policy->action != CONFIG_AUTHZ_CUSTOM)
			abort();
		if (d1.verdict == WP_AUTHZ_ALLOW && d1.policy->action != CONFIG_AUTHZ_ALLOW)
			abort();
		if (rq.custom_allowed && d1.policy->action == CONFIG_AUTHZ_CUSTOM)
			abort();
	}
	http_fields_free(&f);
	free(buf);
	return 0;
}
