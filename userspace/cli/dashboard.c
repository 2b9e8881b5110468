// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl dashboard [--name C] [--port 20001] [--address 127.0.0.1] [--prometheus URL]`:
 * the mesh at a glance in a browser, Kiali's role built in. It serves the page
 * (dashboard/web/) and its libraries (cytoscape.js and Chart.js, from dashboard/node_modules,
 * pinned by dashboard/package-lock.json), all built into this binary so that nothing is
 * fetched from elsewhere, and a JSON API the page reads: the service graph from Istio's
 * metrics in Prometheus (as Kiali reads them), the workloads, Services and configuration of
 * the cluster from its state, each agent's and ztunnel's live view. Prometheus is the one
 * `local up --with-prometheus` runs (its URL is in <run>/prometheus/url) unless --prometheus
 * names another. Runs until interrupted.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "dashboard.h"
#include "httpd.h"

#define DASH_DEFAULT_PORT 20001 /* Kiali's */
#define DASH_DEFAULT_PROM "http://127.0.0.1:9090"

#define ASSET(sym) _binary_##sym##_start, _binary_##sym##_end
#define ASSET_DECL(sym)                                                                            \
	extern const char _binary_##sym##_start[];                                                 \
	extern const char _binary_##sym##_end[]
ASSET_DECL(dashboard_web_index_html);
ASSET_DECL(dashboard_web_app_js);
ASSET_DECL(dashboard_web_app_css);
ASSET_DECL(dashboard_node_modules_cytoscape_dist_cytoscape_min_js);
ASSET_DECL(dashboard_node_modules_chart_js_dist_chart_umd_js);
ASSET_DECL(dashboard_node_modules_layout_base_layout_base_js);
ASSET_DECL(dashboard_node_modules_cose_base_cose_base_js);
ASSET_DECL(dashboard_node_modules_cytoscape_fcose_cytoscape_fcose_js);

static const struct asset {
	const char *path, *type;
	const char *start, *end;
} assets[] = {
    {"/", "text/html; charset=utf-8", ASSET(dashboard_web_index_html)},
    {"/index.html", "text/html; charset=utf-8", ASSET(dashboard_web_index_html)},
    {"/app.js", "text/javascript; charset=utf-8", ASSET(dashboard_web_app_js)},
    {"/app.css", "text/css; charset=utf-8", ASSET(dashboard_web_app_css)},
    {"/lib/cytoscape.min.js", "text/javascript; charset=utf-8",
     ASSET(dashboard_node_modules_cytoscape_dist_cytoscape_min_js)},
    {"/lib/chart.umd.js", "text/javascript; charset=utf-8",
     ASSET(dashboard_node_modules_chart_js_dist_chart_umd_js)},
    /* cytoscape-fcose, the layout for compound graphs, and what it is built on. */
    {"/lib/layout-base.js", "text/javascript; charset=utf-8",
     ASSET(dashboard_node_modules_layout_base_layout_base_js)},
    {"/lib/cose-base.js", "text/javascript; charset=utf-8",
     ASSET(dashboard_node_modules_cose_base_cose_base_js)},
    {"/lib/cytoscape-fcose.js", "text/javascript; charset=utf-8",
     ASSET(dashboard_node_modules_cytoscape_fcose_cytoscape_fcose_js)},
};

static enum MHD_Result reply_static(struct MHD_Connection *conn, const struct asset *a)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    (size_t)(a->end - a->start), (void *)a->start, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned int status, cJSON *doc)
{
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;

	cJSON_Delete(doc);
	return httpd_reply(conn, text ? status : 500,
			   text ?: strdup("{\"error\":\"out of memory\"}"), "application/json");
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned int status,
				   const char *msg)
{
	cJSON *doc = cJSON_CreateObject();

	if (doc && !cJSON_AddStringToObject(doc, "error", msg)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	return reply_json(conn, status, doc);
}

static const char *arg(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* ?duration= in seconds (1 s to 7 days), 300 when absent; -1 when not a number in range. */
static long duration_arg(struct MHD_Connection *conn)
{
	const char *s = arg(conn, "duration");
	char *end;
	long v;

	if (!s)
		return 300;
	v = strtol(s, &end, 10);
	return *s && !*end && v >= 1 && v <= 7 * 86400 ? v : -1;
}

static enum MHD_Result api(const struct dash *d, struct MHD_Connection *conn, const char *url)
{
	const char *ns = arg(conn, "namespace"), *name = arg(conn, "name");
	long duration = duration_arg(conn);
	struct dash_view v;
	cJSON *doc = NULL;
	int status = 200;

	if (duration < 0)
		return reply_error(conn, 400, "duration: seconds, 1 to 604800");
	if (!strcmp(url, "/api/health")) {
		doc = cJSON_CreateObject();
		if (doc && (!cJSON_AddBoolToObject(doc, "ok", true) ||
			    !cJSON_AddStringToObject(doc, "cluster", d->c.name) ||
			    !cJSON_AddStringToObject(doc, "prometheus", d->prom))) {
			cJSON_Delete(doc);
			doc = NULL;
		}
		return reply_json(conn, 200, doc);
	}
	if ((!strcmp(url, "/api/workload") || !strcmp(url, "/api/service")) &&
	    (!ns || !name || !dash_name_ok(ns) || !dash_name_ok(name)))
		return reply_error(conn, 400, "namespace and name: Kubernetes names");
	if (dash_view_open(&v, d, duration))
		return reply_error(conn, 503, "the cluster's state cannot be read (is it up?)");
	if (!strcmp(url, "/api/graph"))
		doc = dash_graph(&v, arg(conn, "namespaces"));
	else if (!strcmp(url, "/api/namespaces"))
		doc = dash_namespaces(&v);
	else if (!strcmp(url, "/api/workloads"))
		doc = dash_workloads(&v);
	else if (!strcmp(url, "/api/workload"))
		doc = dash_workload(&v, ns, name, &status);
	else if (!strcmp(url, "/api/service"))
		doc = dash_service(&v, ns, name, &status);
	else if (!strcmp(url, "/api/config"))
		doc = dash_config(&v);
	else
		status = 404;
	dash_view_close(&v);
	if (status == 404 && !doc)
		return reply_error(conn, 404, "no such API");
	return reply_json(conn, status, doc);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	const struct dash *d = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_error(conn, 405, "only GET");
	if (!strncmp(url, "/api/", 5))
		return api(d, conn, url);
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (!strcmp(url, assets[i].path))
			return reply_static(conn, &assets[i]);
	return httpd_reply(conn, 404, strdup("not found\n"), "text/plain");
}

/* The URL `local up --with-prometheus` left in <run>/prometheus/url, if any. */
static void local_prometheus(const struct ctl_cluster *c, char *out, size_t len)
{
	char path[PATH_MAX], *text;

	cluster_path(c, path, sizeof(path), "prometheus/url");
	text = read_file(path, NULL);
	if (text) {
		text[strcspn(text, "\r\n")] = '\0';
		if (!strncmp(text, "http://", 7) || !strncmp(text, "https://", 8))
			str_fmt(out, len, "%s", text);
	}
	free(text);
}

static void usage_dashboard(void)
{
	fprintf(stderr, "usage: ambitctl dashboard [--name C] [--port 20001] [--address 127.0.0.1] "
			"[--prometheus URL]\n");
}

int cmd_dashboard(const struct ctl_opts *o, int argc, char **argv)
{
	static struct dash d; /* the daemon's threads read it until exit */
	const char *address = "127.0.0.1", *prom = NULL;
	struct MHD_Daemon *daemon;
	struct in_addr ip;
	long port = DASH_DEFAULT_PORT;
	sigset_t set;
	int sig, ret;

	for (int i = 0; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = strtol(argv[++i], &end, 10);
			if (*end || port < 1 || port > 65535) {
				fprintf(stderr, "ambitctl: --port %s: a port number\n", argv[i]);
				return -EINVAL;
			}
		} else if (!strcmp(argv[i], "--address") && i + 1 < argc) {
			address = argv[++i];
		} else if (!strcmp(argv[i], "--prometheus") && i + 1 < argc) {
			prom = argv[++i];
		} else if ((!strcmp(argv[i], "--name") || !strcmp(argv[i], "--cluster")) &&
			   i + 1 < argc) {
			i++; /* main.c took it */
		} else {
			usage_dashboard();
			return -EINVAL;
		}
	}
	if (inet_pton(AF_INET, address, &ip) != 1) {
		fprintf(stderr, "ambitctl: --address %s: an IPv4 address\n", address);
		return -EINVAL;
	}
	d.opts = *o;
	ret = cluster_open(&d.c, o);
	if (ret)
		return ret;
	str_fmt(d.prom, sizeof(d.prom), "%s", DASH_DEFAULT_PROM);
	if (prom)
		str_fmt(d.prom, sizeof(d.prom), "%s", prom);
	else
		local_prometheus(&d.c, d.prom, sizeof(d.prom));
	d.prom[strcspn(d.prom, "?#")] = '\0';
	while (strlen(d.prom) > 1 && d.prom[strlen(d.prom) - 1] == '/')
		d.prom[strlen(d.prom) - 1] = '\0';
	/* SIGINT and SIGTERM are waited for below, in every thread blocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A thread per connection: a slow Prometheus holds up only its own request. */
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr = ip, .sin_port = htons((uint16_t)port)};
	daemon = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, handle, &d, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)64, MHD_OPTION_END);
	if (!daemon) {
		fprintf(stderr, "ambitctl: dashboard: cannot listen on %s:%ld (in use?)\n", address,
			port);
		return -EADDRINUSE;
	}
	printf("dashboard of cluster %s: http://%s:%ld/ (Prometheus: %s; Ctrl-C to stop)\n",
	       d.c.name, address, port, d.prom);
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(daemon);
	return 0;
}
