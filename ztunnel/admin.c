// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include "ambit/version.h"
#include "admin.h"
#include "udp.h"
#include "dns_stats.h"
#include "http/httpd.h"
#include "authz.h"
#include "net/guard.h"
#include "kdrops.h"
#include "net/meshstate.h"
#include "metrics.h"
#include "net/procmetrics.h"
#include "net/prom.h"

/* S_METRICS6 and S_READY6 serve what S_METRICS and S_READY do, on their IPv6 listeners. */
enum { S_METRICS, S_READY, S_ADMIN, S_METRICS6, S_READY6, S__COUNT };

struct zt_admin;

struct ctx {
	struct zt_admin *a;
	int kind;
};

struct zt_admin {
	struct mesh_state *st;
	const char *pin_root;
	const char *node;	  /* its node's name (the workload manager's pods), or NULL */
	atomic_bool handing_over; /* zt_admin_handing_over */
	struct MHD_Daemon *d[S__COUNT];
	struct ctx ctx[S__COUNT]; /* the callback argument of each daemon */
};

/*
 * Istio's ztunnel dashboard reads these beside the traffic: its build, its process, its open
 * TCP sockets, and its workload manager's proxies: the enrolled pods of this node it serves
 * (active: their identity's certificate is loaded) or will once their certificate comes
 * (pending, expected to converge to zero).
 */
static char *render_self(struct mesh_state *st, const char *node)
{
	struct prom_buf b = {0};
	struct mesh_snap *zs = mesh_state_get(st);
	unsigned long active = 0, pending = 0;
	long socks = procmetrics_tcp_sockets();

	procmetrics_render(&b, "ztunnel");
	if (socks >= 0)
		prom_printf(&b,
			    "# HELP istio_tcp_sockets_open Open TCP sockets of this ztunnel.\n"
			    "# TYPE istio_tcp_sockets_open gauge\nistio_tcp_sockets_open %ld\n",
			    socks);
	for (size_t i = 0; zs && node && i < zs->snap->n_workloads; i++) {
		const struct snap_workload *w = &zs->snap->workloads[i];
		bool ready = false;

		if (!w->enrolled || !w->node || strcmp(w->node, node))
			continue;
		for (size_t k = 0; k < zs->nids && !ready; k++)
			ready = !strcmp(zs->ids[k].identity, w->identity) && zs->ids[k].server;
		if (ready)
			active++;
		else
			pending++;
	}
	mesh_snap_put(zs);
	prom_printf(
	    &b,
	    "# HELP workload_manager_active_proxy_count Enrolled pods of this node served.\n"
	    "# TYPE workload_manager_active_proxy_count gauge\n"
	    "workload_manager_active_proxy_count %lu\n"
	    "# HELP workload_manager_pending_proxy_count Enrolled pods of this node waiting "
	    "for their certificate.\n# TYPE workload_manager_pending_proxy_count gauge\n"
	    "workload_manager_pending_proxy_count %lu\n",
	    active, pending);
	return prom_take(&b);
}

/*
 * Istio's connection metrics and the DNS proxy's, then the policy decision counters, the kernel's
 * refusals, the admission counters of the ztunnel's limits (docs/internals/limits.md) and its own.
 */
static char *render_metrics(struct zt_admin *za)
{
	char *a = metrics_render(), *b = authz_metrics_render(), *k = kdrops_render(za->pin_root);
	char *g = guard_metrics_render(), *p = render_self(za->st, za->node), *out = NULL;
	char *d = dns_stats_render(), *u = zt_udp_render();

	if (a && b && k && g && p && d && u &&
	    asprintf(&out, "%s%s%s%s%s%s%s", a, d, u, b, k, g, p) < 0)
		out = NULL;
	free(u);
	free(d);
	free(a);
	free(b);
	free(k);
	free(g);
	free(p);
	return out;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req_cls)
{
	struct ctx *c = cls;
	struct mesh_snap *zs;
	char *body;

	if (strcmp(method, "GET") != 0)
		return httpd_reply(conn, 405, strdup("method not allowed\n"), "text/plain");
	switch (c->kind) {
	case S_METRICS:
		if (strcmp(url, "/metrics") == 0)
			return httpd_reply(conn, 200, render_metrics(c->a),
					   "text/plain; version=0.0.4");
		break;
	case S_READY:
		if (strcmp(url, "/healthz/ready") == 0) {
			if (atomic_load(&c->a->handing_over))
				return httpd_reply(conn, 503,
						   strdup("handing over to a successor\n"),
						   "text/plain");
			zs = mesh_state_get(c->a->st);
			mesh_snap_put(zs);
			return zs ? httpd_reply(conn, 200, strdup("ready\n"), "text/plain")
				  : httpd_reply(conn, 503, strdup("no snapshot yet\n"),
						"text/plain");
		}
		break;
	case S_ADMIN:
		if (strcmp(url, "/connections") == 0)
			return httpd_reply(conn, 200, metrics_connections_json(),
					   "application/json");
		if (strcmp(url, "/policies") == 0)
			return httpd_reply(conn, 200, authz_policies_json(), "application/json");
		/* What `ambitctl apply` waits for: the version of the snapshot in force. */
		if (strcmp(url, "/snapshot_version") == 0) {
			zs = mesh_state_get(c->a->st);
			body = NULL;
			if (asprintf(&body, "%llu\n",
				     zs ? (unsigned long long)zs->snap->version : 0ULL) < 0)
				body = NULL;
			mesh_snap_put(zs);
			return httpd_reply(conn, 200, body, "text/plain");
		}
		/* Which process serves the node's ports (`ambitctl local upgrade` waits on it). */
		if (strcmp(url, "/server_info") == 0) {
			body = NULL;
			if (asprintf(&body, "{\"pid\":%d,\"version\":\"%s\"}\n", (int)getpid(),
				     ambit_version()) < 0)
				body = NULL;
			return httpd_reply(conn, 200, body, "application/json");
		}
		if (strcmp(url, "/config_dump") == 0) {
			zs = mesh_state_get(c->a->st);
			body = zs ? snapshot_encode_public(zs->snap) : strdup("{}");
			mesh_snap_put(zs);
			return httpd_reply(conn, 200, body, "application/json");
		}
		break;
	}
	return httpd_reply(conn, 404, strdup("not found\n"), "text/plain");
}

struct zt_admin *zt_admin_start(struct mesh_state *st, const struct zt_admin_opts *opts)
{
	struct zt_admin *a = calloc(1, sizeof(*a));
	const uint32_t ips[S__COUNT] = {opts->metrics_ip, opts->ready_ip, opts->admin_ip};
	/* The IPv6 servers bind nothing themselves: only on a socket given. */
	const uint16_t ports[S__COUNT] = {opts->metrics_port, opts->ready_port, opts->admin_port};
	int fds[S__COUNT] = {opts->metrics_fd, opts->ready_fd, opts->admin_fd, opts->metrics6_fd,
			     opts->ready6_fd};

	if (!a) {
		for (int i = 0; i < S__COUNT; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return NULL;
	}
	a->st = st;
	a->pin_root = opts->pin_root;
	a->node = opts->node;
	for (int i = 0; i < S__COUNT; i++) {
		if (!ports[i] && fds[i] < 0)
			continue;
		a->ctx[i] = (struct ctx){a, i >= S_METRICS6 ? i - S_METRICS6 : i};
		a->d[i] = fds[i] >= 0 ? httpd_start_fd(fds[i], handle, &a->ctx[i])
				      : httpd_start(ips[i], ports[i], handle, &a->ctx[i]);
		if (fds[i] >= 0 && a->d[i])
			fds[i] = -1; /* the daemon's now */
		if (!a->d[i]) {
			for (int j = i; j < S__COUNT; j++)
				if (fds[j] >= 0)
					close(fds[j]);
			zt_admin_stop(a);
			errno = EADDRINUSE;
			return NULL;
		}
	}
	return a;
}

void zt_admin_handing_over(struct zt_admin *a, bool on)
{
	if (a)
		atomic_store(&a->handing_over, on);
}

void zt_admin_quiesce(struct zt_admin *a)
{
	if (!a)
		return;
	for (int i = 0; i < S__COUNT; i++) {
		MHD_socket fd = a->d[i] ? MHD_quiesce_daemon(a->d[i]) : MHD_INVALID_SOCKET;

		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
}

void zt_admin_stop(struct zt_admin *a)
{
	if (!a)
		return;
	for (int i = 0; i < S__COUNT; i++)
		if (a->d[i])
			MHD_stop_daemon(a->d[i]);
	free(a);
}
