// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl dashboard [kiali|jaeger|grafana] [--name C] [--port 20001] [--address 127.0.0.1]
 * [--allow-host NAME]... [--prometheus URL] [--grafana-dashboards DIR]`:
 * the mesh at a glance in a browser, Kiali's role built in. It serves the page
 * (dashboard/web/) and its libraries (cytoscape.js and Chart.js, from dashboard/node_modules,
 * pinned by dashboard/package-lock.json), all built into this binary so that nothing is
 * fetched from elsewhere, and a JSON API the page reads: the service graph from Istio's
 * metrics in Prometheus (as Kiali reads them), the workloads, Services and configuration of
 * the cluster from its state, each agent's and ztunnel's live view. Prometheus is the one
 * `local up --with-prometheus` runs (its URL is in <run>/prometheus/url) unless --prometheus
 * names another. It is also the mesh's trace collector (Jaeger's role): the spans waypoints
 * and gateways export, OTLP/HTTP at POST /v1/traces and Zipkin v2 at POST /api/v2/spans, on its
 * own port and, for the proxies inside the local cluster, where Istio's collectors would listen:
 * 10.99.0.1:4318 and :9411 in the cluster's fabric netns (an IPv6 cluster's [fd00:99::1], its
 * nodes having no IPv4: cluster_fabric_ip), which every node routes to. It draws, from the same
 * Prometheus, the Grafana dashboards the cluster provisions for Grafana (Istio's addon's
 * ConfigMaps, those labelled grafana_dashboard: provision.c), or with --grafana-dashboards those
 * of DIR (Grafana's role). Runs until interrupted.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <zlib.h>

#include "dashboard.h"
#include "http/httpd.h"
#include "local/objstore.h"
#include "net/sock.h"

#define DASH_DEFAULT_PORT 20001 /* Kiali's */
#define DASH_DEFAULT_PROM "http://127.0.0.1:9090"
/* The spans kept: past either bound, the traces that received nothing for longest go. */
#define DASH_TRACE_SPANS 50000
#define DASH_TRACE_BYTES (256u << 20)
/* The collectors' ports, at br0's address in the fabric netns. */
#define DASH_OTLP_PORT 4318
#define DASH_ZIPKIN_PORT 9411
#define DASH_OTLP_PATH "/v1/traces"
#define DASH_ZIPKIN_PATH "/api/v2/spans"

/* What a daemon serves: all of the dashboard, or (inside the cluster) the receivers only. */
struct dash_site {
	const struct dash *d;
	bool receivers_only;
};

/* A request body arriving over several calls of the access handler (its con_cls). */
struct upload {
	char *buf;
	size_t len, cap;
	bool too_big;
};

#define ASSET(sym) _binary_##sym##_start, _binary_##sym##_end
#define ASSET_DECL(sym)                                                                            \
	extern const char _binary_##sym##_start[];                                                 \
	extern const char _binary_##sym##_end[]
ASSET_DECL(dashboard_web_index_html);
ASSET_DECL(dashboard_web_app_js);
ASSET_DECL(dashboard_web_app_css);
ASSET_DECL(dashboard_web_dom_js);
ASSET_DECL(dashboard_web_grafana_js);
ASSET_DECL(dashboard_web_grafana_panels_js);
ASSET_DECL(dashboard_node_modules_cytoscape_dist_cytoscape_min_js);
ASSET_DECL(dashboard_node_modules_chart_js_dist_chart_umd_js);
ASSET_DECL(dashboard_node_modules_layout_base_layout_base_js);
ASSET_DECL(dashboard_node_modules_cose_base_cose_base_js);
ASSET_DECL(dashboard_node_modules_cytoscape_fcose_cytoscape_fcose_js);
ASSET_DECL(dashboard_node_modules_marked_lib_marked_umd_js);

static const struct asset {
	const char *path, *type;
	const char *start, *end;
} assets[] = {
    {"/", "text/html; charset=utf-8", ASSET(dashboard_web_index_html)},
    {"/index.html", "text/html; charset=utf-8", ASSET(dashboard_web_index_html)},
    /* The page again at istioctl's tools' names: app.js opens the view the tool is for. */
    {"/kiali", "text/html; charset=utf-8", ASSET(dashboard_web_index_html)},
    {"/grafana", "text/html; charset=utf-8", ASSET(dashboard_web_index_html)},
    {"/jaeger", "text/html; charset=utf-8", ASSET(dashboard_web_index_html)},
    {"/app.js", "text/javascript; charset=utf-8", ASSET(dashboard_web_app_js)},
    {"/app.css", "text/css; charset=utf-8", ASSET(dashboard_web_app_css)},
    {"/dom.js", "text/javascript; charset=utf-8", ASSET(dashboard_web_dom_js)},
    {"/grafana.js", "text/javascript; charset=utf-8", ASSET(dashboard_web_grafana_js)},
    {"/grafana_panels.js", "text/javascript; charset=utf-8",
     ASSET(dashboard_web_grafana_panels_js)},
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
    /* The markdown of Grafana's text panels, as Grafana renders it. */
    {"/lib/marked.umd.js", "text/javascript; charset=utf-8",
     ASSET(dashboard_node_modules_marked_lib_marked_umd_js)},
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

/* A yes/no argument: "1" or "true" (anything else, or none: no). */
static bool flag(const char *s)
{
	return s && (!strcmp(s, "1") || !strcmp(s, "true"));
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

/* ?limit= (1 to 1000, 20 when absent), ?minDuration= (ms), ?tag=key:value or tagKey, tagValue. */
static enum MHD_Result traces_list(const struct dash *d, struct MHD_Connection *conn)
{
	const char *limit = arg(conn, "limit"), *min = arg(conn, "minDuration");
	const char *tag = arg(conn, "tag");
	struct dash_trace_query q = {
	    .service = arg(conn, "service"), .operation = arg(conn, "operation"), .limit = 20};
	char key[256], *end;

	if (q.service && !*q.service)
		q.service = NULL;
	if (q.operation && !*q.operation)
		q.operation = NULL;
	if (limit && *limit) {
		long v = strtol(limit, &end, 10);

		if (*end || v < 1 || v > 1000)
			return reply_error(conn, 400, "limit: 1 to 1000 traces");
		q.limit = (size_t)v;
	}
	if (min && *min) {
		double ms = strtod(min, &end);

		if (*end || !(ms >= 0 && ms < 1e12))
			return reply_error(conn, 400, "minDuration: milliseconds, 0 or more");
		q.min_duration_us = (int64_t)(ms * 1000);
	}
	/* ?tagKey=&tagValue=: a key with a colon in it (Envoy's guid:x-request-id). */
	if (arg(conn, "tagKey") && *arg(conn, "tagKey")) {
		q.tag_key = arg(conn, "tagKey");
		q.tag_value = arg(conn, "tagValue");
	} else if (tag && *tag) {
		size_t k = strcspn(tag, ":");

		if (k >= sizeof(key))
			return reply_error(conn, 400, "tag: key:value, the key under 256 bytes");
		memcpy(key, tag, k);
		key[k] = '\0';
		q.tag_key = key;
		q.tag_value = tag[k] ? tag + k + 1 : NULL;
	}
	return reply_json(conn, 200, dash_traces_find(d->traces, &q));
}

/* GET /api/traces[/services|/stats|/<trace id>]; @rest is what follows /api/traces. */
static enum MHD_Result traces_api(const struct dash *d, struct MHD_Connection *conn,
				  const char *rest)
{
	int status;
	cJSON *doc;

	if (!*rest)
		return traces_list(d, conn);
	if (!strcmp(rest, "/services"))
		return reply_json(conn, 200, dash_traces_services(d->traces));
	if (!strcmp(rest, "/stats"))
		return reply_json(conn, 200, dash_traces_stats(d->traces));
	doc = dash_traces_get(d->traces, rest + 1, &status);
	if (!doc)
		return reply_error(conn, status, status == 404 ? "no such trace" : "out of memory");
	return reply_json(conn, 200, doc);
}

/*
 * The dashboards of the Dashboards view into @b: those of --grafana-dashboards, else those the
 * cluster provisions for Grafana, from its store as it is now (a ConfigMap applied since shows).
 * 0, or -errno with @err (-ENOMEM, or the directory or the store unreadable).
 */
static int grafana_boards(const struct dash *d, struct dash_boards *b, char *err, size_t errlen)
{
	struct config_diags ignored = {0};
	struct store_objs objs = {0};
	char state[PATH_MAX];
	int ret;

	if (d->grafana_dir)
		return dash_boards_from_dir(d->grafana_dir, b, err, errlen);
	cluster_path(&d->c, state, sizeof(state), "state");
	ret = store_load(state, &objs, &ignored);
	if (ret == -ENOENT) /* nothing applied yet */
		ret = 0;
	if (ret)
		snprintf(err, errlen, "the cluster's state cannot be read (is it up?): %s",
			 strerror(-ret));
	else if ((ret = dash_boards_provisioned(&objs, b)))
		snprintf(err, errlen, "out of memory");
	store_objs_free(&objs);
	config_diags_free(&ignored);
	return ret;
}

/* GET /api/grafana/dashboards[/<ref, uid or file>]: the list, or one dashboard's JSON as it is. */
static enum MHD_Result grafana_api(const struct dash *d, struct MHD_Connection *conn,
				   const char *rest)
{
	struct dash_boards b = {0};
	char err[512] = "", *text;
	int status, ret = grafana_boards(d, &b, err, sizeof(err));

	if (ret) {
		dash_boards_free(&b);
		return reply_error(conn, ret == -ENOMEM ? 500 : 503, err);
	}
	if (!*rest || !strcmp(rest, "/")) {
		cJSON *list = dash_boards_list(&b);

		dash_boards_free(&b);
		return reply_json(conn, 200, list);
	}
	text = dash_boards_get(&b, rest + 1, &status, err, sizeof(err));
	dash_boards_free(&b);
	if (!text)
		return reply_error(conn, (unsigned int)status, err);
	return httpd_reply(conn, 200, text, "application/json");
}

/* The number of dashboards the Dashboards view would list now (0 when they cannot be read). */
static size_t grafana_count(const struct dash *d)
{
	struct dash_boards b = {0};
	char err[512];
	size_t n = 0;

	if (!grafana_boards(d, &b, err, sizeof(err)))
		for (size_t i = 0; i < b.n; i++)
			n += b.v[i].text != NULL;
	dash_boards_free(&b);
	return n;
}

/* A request's GET arguments, in the order sent (match[] repeats). */
struct arg_list {
	struct dash_arg v[32];
	size_t n;
	bool over;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct arg_list *l = cls;

	(void)kind;
	if (l->n == sizeof(l->v) / sizeof(l->v[0])) {
		l->over = true;
		return MHD_NO;
	}
	l->v[l->n++] = (struct dash_arg){key, value};
	return MHD_YES;
}

/* A Prometheus API error, in Prometheus's own shape: the page reads one kind of answer. */
static enum MHD_Result prom_error(struct MHD_Connection *conn, unsigned int status,
				  const char *type, const char *msg)
{
	cJSON *doc = cJSON_CreateObject();

	if (doc && (!cJSON_AddStringToObject(doc, "status", "error") ||
		    !cJSON_AddStringToObject(doc, "errorType", type) ||
		    !cJSON_AddStringToObject(doc, "error", msg))) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	return reply_json(conn, status, doc);
}

/*
 * GET /api/prom/<call>: the Prometheus calls of Grafana's panels and variables (dash_prom_path
 * says which), forwarded to Prometheus and its answer back as it came, error or not.
 */
static enum MHD_Result prom_api(const struct dash *d, struct MHD_Connection *conn, const char *api)
{
	struct arg_list args = {.n = 0};
	char err[512], *path, *body;
	size_t len;
	long status;
	cJSON *probe;
	int ret;

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
	if (args.over)
		return prom_error(conn, 400, "bad_data", "over 32 arguments");
	ret = dash_prom_path(api, args.v, args.n, &path, err, sizeof(err));
	if (ret)
		return prom_error(conn,
				  ret == -ENOENT   ? 404
				  : ret == -EINVAL ? 400
						   : 500,
				  ret == -ENOMEM ? "internal" : "bad_data", err);
	ret = dash_prom_get(d, path, &body, &len, &status, err, sizeof(err));
	free(path);
	if (ret) {
		char msg[1400];

		snprintf(msg, sizeof(msg), "Prometheus at %s: %s", d->prom, err);
		return prom_error(conn, 502, "unavailable", msg);
	}
	probe = cJSON_ParseWithLength(body, len);
	cJSON_Delete(probe);
	if (status < 200 || status > 599 || !probe) {
		char msg[1400];

		snprintf(msg, sizeof(msg), "Prometheus at %s answered HTTP %ld: %.200s", d->prom,
			 status, body);
		free(body);
		return prom_error(conn, 502, "unavailable", msg);
	}
	return httpd_reply(conn, (unsigned int)status, body, "application/json");
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
		if (doc &&
		    (!cJSON_AddBoolToObject(doc, "ok", true) ||
		     !cJSON_AddStringToObject(doc, "cluster", d->c.name) ||
		     !cJSON_AddStringToObject(doc, "prometheus", d->prom) ||
		     !cJSON_AddBoolToObject(doc, "grafanaDashboards", d->grafana_dir != NULL) ||
		     !cJSON_AddStringToObject(doc, "grafanaSource",
					      d->grafana_dir ? "directory" : "cluster"))) {
			cJSON_Delete(doc);
			doc = NULL;
		}
		return reply_json(conn, 200, doc);
	}
	if (!strncmp(url, "/api/traces", 11) && (!url[11] || url[11] == '/'))
		return traces_api(d, conn, url + 11);
	if (!strncmp(url, "/api/grafana/dashboards", 23) && (!url[23] || url[23] == '/'))
		return grafana_api(d, conn, url + 23);
	if (!strncmp(url, "/api/prom/", 10))
		return prom_api(d, conn, url + 9);
	if ((!strcmp(url, "/api/workload") || !strcmp(url, "/api/service")) &&
	    (!ns || !name || !dash_name_ok(ns) || !dash_name_ok(name)))
		return reply_error(conn, 400, "namespace and name: Kubernetes names");
	if (dash_view_open(&v, d, duration))
		return reply_error(conn, 503, "the cluster's state cannot be read (is it up?)");
	if (!strcmp(url, "/api/graph"))
		doc = dash_graph(&v, arg(conn, "namespaces"), flag(arg(conn, "waypoints")));
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

/* A gzip body (Content-Encoding: gzip, as the OpenTelemetry Collector sends), inflated. */
static int gunzip(const struct upload *u, char **out, size_t *len)
{
	z_stream z = {.next_in = (Bytef *)u->buf, .avail_in = (uInt)u->len};
	size_t cap = 64 << 10;
	int ret;

	*len = 0;
	*out = malloc(cap);
	if (!*out || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	do {
		if (*len == cap) {
			char *p = cap < DASH_TRACE_MAX_BODY ? realloc(*out, cap * 2) : NULL;

			if (!p) {
				ret = cap < DASH_TRACE_MAX_BODY ? -ENOMEM : -E2BIG;
				goto out;
			}
			*out = p;
			cap *= 2;
		}
		z.next_out = (Bytef *)*out + *len;
		z.avail_out = (uInt)(cap - *len);
		ret = inflate(&z, Z_NO_FLUSH);
		*len = cap - z.avail_out;
	} while (ret == Z_OK);
	ret = ret == Z_STREAM_END ? 0 : ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
out:
	inflateEnd(&z);
	if (ret) {
		free(*out);
		*out = NULL;
	}
	return ret;
}

/*
 * The sender of a POST, by its source address: a pod of the cluster (pods.json), its names
 * from the configuration's Services (state/), a node (its pods' names), or neither. 0, or
 * -ENOMEM.
 */
static int sender_of(const struct dash *d, struct MHD_Connection *conn, struct dash_sender *s)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char addr[INET6_ADDRSTRLEN] = "";
	const char *node = NULL;
	struct dash_view v;
	int ret;

	memset(s, 0, sizeof(*s));
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr,
			  sizeof(addr));
	else if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6))
			inet_ntop(AF_INET, &a6->s6_addr[12], addr, sizeof(addr));
		else
			inet_ntop(AF_INET6, a6, addr, sizeof(addr));
	}
	for (int i = 0; *addr && i < d->c.nnodes; i++)
		if (!strcmp(addr, d->c.nodes[i].ip) || !strcmp(addr, d->c.nodes[i].ip6))
			node = d->c.nodes[i].name;
	/* Without the cluster's state no address is known to be a pod's. */
	if (!*addr || dash_view_open(&v, d, 0))
		return 0;
	ret = dash_sender_find(s, v.pods, &v.cfg, addr, node);
	dash_view_close(&v);
	return ret;
}

/*
 * The body of a POST to a receiver is complete: decoded and kept. Answered as the collectors
 * answer: OTLP 200 with an empty ExportTraceServiceResponse (protobuf, or {} in JSON), Zipkin
 * 202; 400 with what was wrong, 413 past the size bound, 415 for what is not understood.
 */
static enum MHD_Result receive_done(const struct dash *d, struct MHD_Connection *conn,
				    const char *url, struct upload *u)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
	bool otlp = !strcmp(url, DASH_OTLP_PATH);
	enum dash_trace_format f;
	struct dash_sender from;
	char err[256], *body = u->buf, *plain = NULL;
	const char *why = NULL;
	size_t len = u->len;
	int ret;

	if (u->too_big)
		return reply_error(conn, 413, "the body is over 8 MiB");
	if (dash_receive_format(otlp, ct, &f, &why))
		return reply_error(conn, 415, why);
	if (ce && *ce && strcasecmp(ce, "identity")) {
		if (strcasecmp(ce, "gzip"))
			return reply_error(conn, 415, "Content-Encoding: gzip or none");
		ret = gunzip(u, &plain, &len);
		if (ret)
			return reply_error(conn,
					   ret == -E2BIG    ? 413
					   : ret == -EINVAL ? 400
							    : 500,
					   ret == -E2BIG    ? "the body inflates to over 8 MiB"
					   : ret == -EINVAL ? "Content-Encoding gzip: not gzip"
							    : "out of memory");
		body = plain;
	}
	ret = sender_of(d, conn, &from);
	if (ret) {
		free(plain);
		return reply_error(conn, 500, "out of memory");
	}
	ret = dash_traces_ingest(d->traces, f, body ?: "", len, &from, err, sizeof(err));
	dash_sender_free(&from);
	free(plain);
	if (ret < 0)
		return reply_error(conn, ret == -E2BIG ? 413 : ret == -EINVAL ? 400 : 500, err);
	if (ret > 0 && otlp && f == DASH_TRACE_OTLP_JSON) {
		/* OTLP's partial success: the spans refused, and why. */
		cJSON *doc = cJSON_CreateObject(),
		      *ps = cJSON_AddObjectToObject(doc, "partialSuccess");

		if (ps && cJSON_AddNumberToObject(ps, "rejectedSpans", ret))
			cJSON_AddStringToObject(ps, "errorMessage",
						"spans under a service name that is not the "
						"sending pod's were refused");
		return reply_json(conn, 200, doc);
	}
	if (!otlp)
		return httpd_reply(conn, 202, strdup(""), "text/plain");
	return f == DASH_TRACE_OTLP_PROTO
		   ? httpd_reply(conn, 200, strdup(""), "application/x-protobuf")
		   : httpd_reply(conn, 200, strdup("{}"), "application/json");
}

/*
 * POST to a receiver, libmicrohttpd's way: the first call sets up *@con_cls (or refuses by its
 * Content-Length), the next ones bring the body in pieces, the last (no data) answers.
 * upload_done frees it.
 */
static enum MHD_Result receive(const struct dash *d, struct MHD_Connection *conn, const char *url,
			       const char *data, size_t *size, void **con_cls)
{
	struct upload *u = *con_cls;

	if (!u) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		/* Refused before it is sent (curl waits for 100 Continue on a big body). */
		if (cl && strtoull(cl, NULL, 10) > DASH_TRACE_MAX_BODY)
			return reply_error(conn, 413, "the body is over 8 MiB");
		u = calloc(1, sizeof(*u));
		if (!u)
			return MHD_NO;
		*con_cls = u;
		return MHD_YES;
	}
	if (!*size)
		return receive_done(d, conn, url, u);
	if (u->len + *size > DASH_TRACE_MAX_BODY) {
		/* A chunked body: what is left is read and dropped, then refused. */
		u->too_big = true;
	} else if (!u->too_big) {
		if (u->len + *size > u->cap) {
			size_t cap = u->cap ? u->cap : 64 << 10;
			char *p;

			while (cap < u->len + *size)
				cap *= 2;
			p = realloc(u->buf, cap);
			if (!p)
				return MHD_NO;
			u->buf = p;
			u->cap = cap;
		}
		memcpy(u->buf + u->len, data, *size);
		u->len += *size;
	}
	*size = 0;
	return MHD_YES;
}

static void upload_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (u) {
		free(u->buf);
		free(u);
		*con_cls = NULL;
	}
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	const struct dash_site *site = cls;
	const struct dash *d = site->d;
	bool receiver = !strcmp(url, DASH_OTLP_PATH) || !strcmp(url, DASH_ZIPKIN_PATH);

	(void)version;
	/*
	 * DNS rebinding: a page of another site whose name now points here would read the API as
	 * its own origin's. The receivers inside the cluster are no browser's business: their
	 * callers name them by a Service's name.
	 */
	if (!site->receivers_only &&
	    !dash_host_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"),
			  (const char *const *)d->allow_hosts, d->n_allow_hosts)) {
		char msg[512];

		str_fmt(msg, sizeof(msg),
			"Host %s: not a name this dashboard is reached by (an address, localhost, "
			"or one given by --allow-host)",
			MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host") ?: "(none)");
		return reply_error(conn, 403, msg);
	}
	if (receiver && !strcmp(method, "POST"))
		return receive(d, conn, url, upload_data, upload_data_size, con_cls);
	if (receiver)
		return reply_error(conn, 405, "only POST");
	if (site->receivers_only)
		return httpd_reply(conn, 404, strdup("not found\n"), "text/plain");
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_error(conn, 405, "only GET");
	if (!strncmp(url, "/api/", 5))
		return api(d, conn, url);
	/* `istioctl dashboard grafana|jaeger`'s URL is the port alone: "/" is that tool's view. */
	if (d->home && !strcmp(url, "/")) {
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, d->home);
		ret = MHD_queue_response(conn, MHD_HTTP_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
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

/* Where a receiver listens inside the cluster, and the socket made for it (-errno if none). */
struct fabric_port {
	uint16_t port;
	const char *what, *path;
	int fd;
};

struct fabric_job {
	const char *netns;
	const char *ip; /* cluster_fabric_ip */
	struct fabric_port *ports;
	size_t n;
	int err; /* entering the netns */
};

/*
 * In a thread of its own, as setns changes the calling thread only: the sockets are made in
 * the fabric netns and stay in it whatever thread accepts on them.
 */
static void *fabric_listen(void *arg)
{
	struct fabric_job *j = arg;
	int saved;

	j->err = netns_enter(j->netns, &saved);
	if (j->err)
		return NULL;
	for (size_t i = 0; i < j->n; i++) {
		union sockaddr_inet sa;
		struct ipaddr a;
		int err = ipaddr_parse_addr(j->ip, &a);

		err = err ?: sockaddr_inet_from_ipaddr(&sa, &a, j->ports[i].port);
		j->ports[i].fd = err ?: sock_listen_at(&sa, false);
	}
	netns_leave(saved);
	return NULL;
}

/*
 * A daemon answering @site on listening socket @fd (taken: closed by MHD_stop_daemon, or here
 * when it fails), a thread per connection so that a slow Prometheus holds up only its own
 * request. NULL on failure.
 */
static struct MHD_Daemon *serve(const struct dash_site *site, int fd)
{
	struct MHD_Daemon *daemon = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, handle, (void *)site, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, upload_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)60, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);

	if (!daemon)
		close(fd);
	return daemon;
}

/*
 * The receivers inside the local cluster, in @daemons (@n of them, NULL where not). Istio's
 * proxies send to a collector Service; the local cluster has none, but its fabric netns is
 * one hop from every pod. Any failure (no netns: the cluster is down or not local; a port
 * taken: another dashboard has it) is one warning: the dashboard goes on without them.
 */
static void fabric_open(const struct dash *d, const struct dash_site *site,
			struct MHD_Daemon **daemons, size_t n)
{
	struct fabric_port ports[] = {{DASH_OTLP_PORT, "OTLP", DASH_OTLP_PATH, -1},
				      {DASH_ZIPKIN_PORT, "Zipkin", DASH_ZIPKIN_PATH, -1}};
	char netns[CTL_NAME_MAX * 2], ok[512] = "", bad[512] = "";
	struct fabric_job j = {netns, cluster_fabric_ip(&d->c), ports, n, 0};
	pthread_t th;

	str_fmt(netns, sizeof(netns), "ambit-%s-fabric", d->c.name);
	if (pthread_create(&th, NULL, fabric_listen, &j) || pthread_join(th, NULL))
		j.err = -EAGAIN;
	if (j.err) {
		fprintf(stderr,
			"ambitctl: dashboard: netns %s: %s; spans from inside cluster %s are not "
			"received (POST them to this port)\n",
			netns, strerror(-j.err), d->c.name);
		return;
	}
	/*
	 * The way back to the pods, as `local up --with-prometheus` routes it (prom.c): each
	 * node's pod CIDR via the node, as a VPC routes a node's pod range to it.
	 */
	for (int i = 0; i < d->c.nnodes; i++)
		if (!d->c.nodes[i].pods_v6only &&
		    RUN("ip", "-n", netns, "route", "replace", (char *)d->c.nodes[i].pod_cidr,
			"via", (char *)d->c.nodes[i].ip))
			fprintf(stderr,
				"ambitctl: dashboard: no route to %s's pods from netns %s\n",
				d->c.nodes[i].name, netns);
	for (size_t i = 0; i < n; i++) {
		int fd = ports[i].fd;
		size_t o = strlen(ok), b = strlen(bad);

		daemons[i] = fd >= 0 ? serve(site, fd) : NULL;
		if (fd >= 0 && !daemons[i])
			fd = -EIO;
		if (fd >= 0)
			snprintf(ok + o, sizeof(ok) - o, "%s%s at http://%s:%u%s", o ? " and " : "",
				 ports[i].what, cluster_fabric_host(&d->c), ports[i].port,
				 ports[i].path);
		else
			snprintf(bad + b, sizeof(bad) - b, "%s%s:%u (%s)", b ? ", " : "",
				 cluster_fabric_host(&d->c), ports[i].port, strerror(-fd));
	}
	if (*ok)
		printf("receiving %s inside cluster %s\n", ok, d->c.name);
	if (*bad)
		fprintf(stderr,
			"ambitctl: dashboard: cannot listen on %s in netns %s (another dashboard "
			"there?); not received from inside the cluster\n",
			bad, netns);
}

static void usage_dashboard(void)
{
	fprintf(stderr,
		"usage: ambitctl dashboard [kiali|jaeger|grafana] [--cluster C] [--port 20001] "
		"[--address 127.0.0.1] [--allow-host NAME]... [--prometheus URL] "
		"[--grafana-dashboards DIR]\n");
}

/*
 * `istioctl dashboard kiali|jaeger|grafana` as ambit's users type it: the one page, its URL
 * at the view that tool is for. NULL: no such tool here.
 */
static const char *dashboard_view(const char *tool)
{
	static const char *const views[][2] = {
	    {"kiali", "#/graph"}, {"jaeger", "#/traces"}, {"grafana", "#/dashboards"}};

	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
		if (!strcmp(tool, views[i][0]))
			return views[i][1];
	return NULL;
}

int cmd_dashboard(const struct ctl_opts *o, int argc, char **argv)
{
	return cmd_dashboard_as(o, argc, argv, NULL);
}

int cmd_dashboard_as(const struct ctl_opts *o, int argc, char **argv, const char *istioctl_path)
{
	static struct dash d; /* the daemons' threads read it until exit */
	static const struct dash_site site = {&d, false}, fabric_site = {&d, true};
	const char *address = "127.0.0.1", *prom = NULL, *view = "", *tool = NULL;
	struct MHD_Daemon *daemon, *fabric[2] = {NULL, NULL};
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
		} else if (!strcmp(argv[i], "--allow-host") && i + 1 < argc) {
			if (d.n_allow_hosts == DASH_ALLOW_HOSTS_MAX) {
				fprintf(stderr, "ambitctl: --allow-host: %d at most\n",
					DASH_ALLOW_HOSTS_MAX);
				return -EINVAL;
			}
			d.allow_hosts[d.n_allow_hosts++] = argv[++i];
		} else if (!strcmp(argv[i], "--prometheus") && i + 1 < argc) {
			prom = argv[++i];
		} else if (!strcmp(argv[i], "--grafana-dashboards") && i + 1 < argc) {
			d.grafana_dir = argv[++i];
		} else if ((!strcmp(argv[i], "--name") || !strcmp(argv[i], "--cluster")) &&
			   i + 1 < argc) {
			i++; /* main.c took it */
		} else if (i == 0 && argv[i][0] != '-') {
			tool = argv[i];
			view = dashboard_view(tool);
			if (!view) {
				fprintf(
				    stderr,
				    "ambitctl: dashboard %s: not one of kiali, jaeger, grafana "
				    "(the "
				    "graph, traces and Grafana's dashboards, all on one page)\n",
				    argv[i]);
				return -EINVAL;
			}
		} else {
			usage_dashboard();
			return -EINVAL;
		}
	}
	/* istioctl's default address is "localhost": the loopback, said as istioctl says it. */
	if (inet_pton(AF_INET, strcmp(address, "localhost") ? address : "127.0.0.1", &ip) != 1) {
		fprintf(stderr, "ambitctl: --address %s: an IPv4 address\n", address);
		return -EINVAL;
	}
	if (d.grafana_dir) {
		struct dash_boards b = {0};
		char err[512] = "";

		ret = dash_boards_from_dir(d.grafana_dir, &b, err, sizeof(err));
		dash_boards_free(&b);
		if (ret) {
			fprintf(stderr, "ambitctl: %s\n", err);
			return -EINVAL;
		}
	}
	if (istioctl_path && !*istioctl_path && tool) {
		static char home[32];

		str_fmt(home, sizeof(home), "/%s", tool);
		d.home = home;
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
	d.traces = dash_traces_create(DASH_TRACE_SPANS, DASH_TRACE_BYTES);
	if (!d.traces)
		return -ENOMEM;
	ret = sock_listen(ip.s_addr, (uint16_t)port, false);
	daemon = ret >= 0 ? serve(&site, ret) : NULL;
	if (!daemon) {
		fprintf(stderr, "ambitctl: dashboard: cannot listen on %s:%ld (%s)\n", address,
			port, strerror(ret < 0 ? -ret : EIO));
		dash_traces_destroy(d.traces);
		return ret < 0 ? ret : -EIO;
	}
	/* istioctl's users' scripts read the URL alone from its first line. */
	if (istioctl_path)
		printf("http://%s:%ld%s\n", !strcmp(address, "127.0.0.1") ? "localhost" : address,
		       port, istioctl_path);
	else
		printf("dashboard of cluster %s: http://%s:%ld/%s (Prometheus: %s; Ctrl-C to "
		       "stop)\n",
		       d.c.name, address, port, view, d.prom);
	/* istioctl's first line is its URL alone: what follows is said on stderr. */
	if (!strcmp(view, "#/dashboards") && !d.grafana_dir && !grafana_count(&d))
		fprintf(istioctl_path ? stderr : stdout,
			"no Grafana dashboards to draw: cluster %s provisions none. Apply Istio's "
			"Grafana addon (samples/addons/grafana.yaml of its release: its ConfigMaps "
			"hold Istio's dashboards) or ConfigMaps of dashboards labelled "
			"grafana_dashboard, and they are listed as they come; or run `ambitctl "
			"dashboard grafana --grafana-dashboards DIR` with a directory of dashboard "
			"files (Istio's are manifests/addons/dashboards/*.json)\n",
			d.c.name);
	fflush(stdout); /* it serves already: say so before the fabric's routes are made */
	fabric_open(&d, &fabric_site, fabric, 2);
	fflush(stdout);
	sigwait(&set, &sig);
	for (size_t i = 0; i < 2; i++)
		if (fabric[i])
			MHD_stop_daemon(fabric[i]);
	MHD_stop_daemon(daemon);
	dash_traces_destroy(d.traces);
	return 0;
}
