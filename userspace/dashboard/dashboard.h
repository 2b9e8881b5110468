/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ambitctl dashboard`: the mesh in a browser (Kiali's role). dashboard.c serves the page and
 * its libraries (built into the binary) and routes the JSON API; prom.c asks
 * Prometheus's HTTP API; graph.c makes the service graph from Istio's metrics;
 * info.c tells workloads, Services and the configuration from the cluster's state;
 * traces.c (OTLP protobuf) and traces_json.c (OTLP JSON, Zipkin v2) decode
 * the spans waypoints and gateways export, trace_store.c keeps them and answers the
 * trace queries (Jaeger's role); grafana.c lists and serves Grafana's dashboards and checks
 * the Prometheus calls their panels make (Grafana's role), provision.c finds the dashboards the
 * cluster provisions for Grafana in its ConfigMaps.
 */
#ifndef AMBIT_CLI_DASHBOARD_H
#define AMBIT_CLI_DASHBOARD_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "local/local.h"

struct dash_traces;
struct dash_sender;
struct store_objs;

#define DASH_ALLOW_HOSTS_MAX 16

struct dash {
	struct ctl_opts opts;
	struct ctl_cluster c;
	char prom[512];		    /* Prometheus's base URL, no trailing slash */
	struct dash_traces *traces; /* the spans received (trace_store.c) */
	const char *grafana_dir;    /* --grafana-dashboards (borrowed from argv), or NULL */
	/* --allow-host: names besides localhost a browser may reach it by (borrowed from argv) */
	char *allow_hosts[DASH_ALLOW_HOSTS_MAX];
	size_t n_allow_hosts;
	/* Where "/" sends a browser (istioctl dashboard grafana: "/grafana"), or NULL: the page. */
	const char *home;
};

/*
 * `ambitctl dashboard` (argv after "dashboard"), as istioctl's `dashboard TOOL` with
 * @istioctl_path: only its URL printed, "http://localhost:PORT" then @istioctl_path ("/kiali",
 * or "" where "/" then opens the tool's view). Until interrupted; 0 or -errno.
 */
int cmd_dashboard_as(const struct ctl_opts *o, int argc, char **argv, const char *istioctl_path);

/* What one request is about: the cluster's state as it is now (loaded per request). */
struct dash_view {
	const struct dash *d;
	cJSON *pods;	   /* pods.json's "pods" array (borrowed from pods_doc) */
	cJSON *pods_doc;   /* pods.json */
	struct config cfg; /* state/ */
	long duration;	   /* seconds of history the request asks for */
};

int dash_view_open(struct dash_view *v, const struct dash *d, long duration);
void dash_view_close(struct dash_view *v);

/* A pod's workload: its owner (Deployment), else the pod's own name. Borrowed. */
const char *dash_pod_workload(const cJSON *pod);
/* "workload", "waypoint" or "gateway", from the labels ambitctl gives proxies. */
const char *dash_pod_role(const cJSON *pod);
/* Whether @s is a name Kubernetes allows (DNS-1123 subdomain): safe inside PromQL quotes. */
bool dash_name_ok(const char *s);

/*
 * prom.c: an instant query at now (@range_s 0) or a range query over the last
 * @range_s seconds; the "result" array (caller deletes) or NULL with @err set.
 */
cJSON *dash_prom_query(const struct dash *d, const char *promql, long range_s, char *err,
		       size_t errlen);
/*
 * GET @path (from dash_prom_path: /api/v1/... with its arguments) of Prometheus, the answer as it
 * came, whatever its status (Prometheus's errors are JSON naming what was wrong): 0 with *@body
 * (caller frees), *@len and *@status, or -errno with @err when no answer came.
 */
int dash_prom_get(const struct dash *d, const char *path, char **body, size_t *len, long *status,
		  char *err, size_t errlen);
/* The number a sample's "value" ([ts, "v"]) holds; 0 for NaN or none. */
double dash_prom_value(const cJSON *value);

/*
 * graph.c: GET /api/graph; the document (caller deletes). With @waypoints, requests a
 * waypoint carried are drawn through its node (caller to waypoint to Service), as Kiali does when
 * asked to show waypoints; without, straight, and a waypoint no edge touches is left out.
 */
cJSON *dash_graph(struct dash_view *v, const char *namespaces, bool waypoints);

/* info.c */
cJSON *dash_namespaces(struct dash_view *v);
cJSON *dash_workloads(struct dash_view *v);
cJSON *dash_workload(struct dash_view *v, const char *ns, const char *name, int *status);
cJSON *dash_service(struct dash_view *v, const char *ns, const char *name, int *status);
cJSON *dash_config(struct dash_view *v);

/* Grafana's folder of a dashboard no provider or annotation puts in one. */
#define DASH_GRAFANA_GENERAL "General"

/* One dashboard of the Dashboards view, or a file or ConfigMap key that is not one (grafana.c). */
struct dash_board {
	char *ref;  /* unique: the file's name, or "<namespace>/<configmap>/<key>" */
	char *file; /* the file's name, as Grafana reads it (a ConfigMap's: its key, or items' path)
		     */
	char *folder; /* Grafana's folder: a provider's, grafana_folder's, or "General" */
	char *uid;    /* the dashboard's uid, or NULL */
	char *text;   /* its JSON as given, or NULL when it is not a dashboard */
	cJSON *row;   /* its row of GET /api/grafana/dashboards */
	size_t seq;   /* the order it was added in: of two with one ref, the first is kept */
};

struct dash_boards {
	struct dash_board *v;
	size_t n, cap;
	size_t added; /* ever, for each one's seq */
};

/* Where a dashboard's text came from (all borrowed): what its row says. */
struct dash_board_src {
	const char *ref, *file, *folder;
	const char *configmap; /* "<namespace>/<name>", or NULL: a file of --grafana-dashboards */
	const char *key;       /* the ConfigMap's data key, or NULL */
};

/*
 * Adds what @text (@len bytes, borrowed; untrusted) is, as from @src: a dashboard (Grafana's JSON
 * model, or the {"dashboard": {...}} its HTTP API exports) or, with its reason, not one; or, when
 * @text is NULL, not one because of @error. 0 or -ENOMEM.
 */
int dash_boards_add(struct dash_boards *b, const struct dash_board_src *src, const char *text,
		    size_t len, const char *error);
/* Sorts @b by folder, then file, then ref (the list's order), keeping the first added of a ref. */
void dash_boards_sort(struct dash_boards *b);
/* Frees what @b holds (NULL-safe); @b is empty after. */
void dash_boards_free(struct dash_boards *b);
/*
 * The *.json files of @dir (--grafana-dashboards) into @b, in folder "General", sorted; 0, or
 * -errno with @err when @dir cannot be read.
 */
int dash_boards_from_dir(const char *dir, struct dash_boards *b, char *err, size_t errlen);
/*
 * GET /api/grafana/dashboards: the rows of @b, in its order (caller deletes; NULL: no memory):
 * {ref, file, folder, uid, title, tags} for a dashboard, {ref, file, folder, error} for what is
 * not one, both with {configmap, key} when a ConfigMap holds it.
 */
cJSON *dash_boards_list(const struct dash_boards *b);
/*
 * GET /api/grafana/dashboards/<@want>: the text of the dashboard whose ref is @want, else whose
 * uid is, else the first whose file is (caller frees); NULL with *@status 404, or 422 (not a
 * dashboard), or 500 (no memory) and @err.
 */
char *dash_boards_get(const struct dash_boards *b, const char *want, int *status, char *err,
		      size_t errlen);

/*
 * provision.c: the dashboards the objects of @objs (the cluster's store; borrowed, untrusted)
 * provision for Grafana, appended to @b, sorted: those of the dashboard providers of a Deployment
 * running Grafana's image, mounted from ConfigMaps as Istio's addon does, and those of the
 * ConfigMaps labelled grafana_dashboard (Grafana's sidecar); what is not a dashboard, and a
 * providers file that does not parse, as rows with their error. 0 or -ENOMEM.
 */
int dash_boards_provisioned(const struct store_objs *objs, struct dash_boards *b);

/* One argument of a request's query string (both borrowed). */
struct dash_arg {
	const char *key, *value;
};

/*
 * GET /api/prom<@api> (/query, /query_range, /series, /label/<name>/values) with its @n
 * arguments @args, checked as Prometheus would take them (each known to that call, given once
 * but match[], times and steps well formed): 0 with the Prometheus path and query string to ask
 * in *@out (caller frees); -ENOENT (not one of those calls) or -EINVAL with @err.
 */
int dash_prom_path(const char *api, const struct dash_arg *args, size_t n, char **out, char *err,
		   size_t errlen);

/*
 * traces.c: one span, whatever format it came in. Istio's proxies report a request
 * as a server span where it arrives and a client span where it leaves; kinds are OTLP's.
 */
enum dash_span_kind {
	DASH_SPAN_UNSPECIFIED = 0,
	DASH_SPAN_INTERNAL,
	DASH_SPAN_SERVER,
	DASH_SPAN_CLIENT,
	DASH_SPAN_PRODUCER,
	DASH_SPAN_CONSUMER,
};

struct dash_tag {
	char *key, *value;
};

struct dash_span {
	char trace_id[33];  /* 32 lowercase hex digits (a 64-bit Zipkin id zero-padded) */
	char span_id[17];   /* 16 lowercase hex digits */
	char parent_id[17]; /* "" for a root */
	enum dash_span_kind kind;
	bool error; /* status ERROR, an error tag, HTTP 5xx or Istio response flags */
	char *name;
	/*
	 * The application's service, as Jaeger lists it ("reviews.default"): the resource's
	 * service.name or localEndpoint.serviceName, but for a waypoint's span the service it
	 * served (traces.c); then @proxy is the name the waypoint gave, else NULL.
	 */
	char *service;
	char *proxy;
	int64_t start_us, duration_us;
	bool unverified; /* its sender is no pod of the cluster: its names are its word */
	size_t n_tags;
	struct dash_tag *tags; /* attributes or tags, as strings, in the order sent */
};

struct dash_spans {
	struct dash_span *v;
	size_t n, cap;
};

enum dash_trace_format {
	DASH_TRACE_OTLP_PROTO = 0, /* POST /v1/traces, application/x-protobuf */
	DASH_TRACE_OTLP_JSON,	   /* POST /v1/traces, application/json */
	DASH_TRACE_ZIPKIN,	   /* POST /api/v2/spans, Zipkin v2 JSON */
};

/* A body larger than this is refused (413); the OpenTelemetry Collector's receiver's order. */
#define DASH_TRACE_MAX_BODY (8u << 20)

/*
 * Decodes the request body @body (@len bytes, borrowed; untrusted) in format @f, appending its
 * spans to @out (which owns them). 0, or -EINVAL (a message naming the field in @err) / -E2BIG
 * / -ENOMEM, with nothing appended: a body is taken whole or not at all. *@seen is the number
 * of spans the body held, as far as it could be read (for the counters).
 */
int dash_trace_decode(enum dash_trace_format f, const void *body, size_t len,
		      struct dash_spans *out, size_t *seen, char *err, size_t errlen);
void dash_span_free(struct dash_span *s);
/* A trace id of 16 or 32 hex digits, not all zero, as 32 lowercase ones in @out (33 bytes). */
bool dash_trace_id(const char *s, char *out);
/* Frees every span of @s and its array; @s is empty after (NULL-safe). */
void dash_spans_free(struct dash_spans *s);
const char *dash_span_kind_name(enum dash_span_kind k);

/*
 * trace_store.c: the spans received, in memory, bounded by @max_spans spans and
 * @max_bytes bytes: past either, the traces that received nothing for longest go, whole.
 * Thread safe (libmicrohttpd answers each connection in a thread of its own).
 */
struct dash_traces *dash_traces_create(size_t max_spans, size_t max_bytes);
void dash_traces_destroy(struct dash_traces *t);
/*
 * Decodes @body (borrowed) as dash_trace_decode does and keeps its spans; the counters count
 * them as accepted or rejected. A span @from (borrowed; NULL: a sender outside the cluster's
 * pods) may not claim (dash_sender_may) is left out and counted as refused; one from outside
 * is kept marked unverified. The number refused, or dash_trace_decode's error, with @err.
 */
int dash_traces_ingest(struct dash_traces *t, enum dash_trace_format f, const void *body,
		       size_t len, const struct dash_sender *from, char *err, size_t errlen);
/* Takes the spans of @spans (left empty). */
void dash_traces_add(struct dash_traces *t, struct dash_spans *spans);

/*
 * GET /api/traces: a trace matches when one of its spans matches every condition given
 * (NULL, 0: none), as Jaeger's search does.
 */
struct dash_trace_query {
	const char *service, *operation;
	const char *tag_key, *tag_value;
	int64_t min_duration_us;
	size_t limit;
};

/* Summaries of the matching traces, newest first (caller deletes; NULL: no memory). */
cJSON *dash_traces_find(struct dash_traces *t, const struct dash_trace_query *q);
/* A trace with all its spans, by its id (16 or 32 hex digits); NULL with *@status 404 or 500. */
cJSON *dash_traces_get(struct dash_traces *t, const char *id, int *status);
/*
 * The services seen, each with its operations (span names) and whether it is a waypoint's name
 * (proxy) rather than an application's (caller deletes; NULL: no memory).
 */
cJSON *dash_traces_services(struct dash_traces *t);
/* The counters: spans accepted, rejected, evicted; what is kept; the bounds. */
cJSON *dash_traces_stats(struct dash_traces *t);

/*
 * guard.c: a request's Host names this dashboard: an address literal (with or
 * without a port), localhost, or one of the @n names of @allow (--allow-host), any case.
 */
bool dash_host_ok(const char *host, const char *const *allow, size_t n);
/* Content-Type @ct (NULL: none) is media type @type, whatever its parameters. */
bool dash_media_is(const char *ct, const char *type);
/*
 * The format of a POST to the OTLP (@otlp) or Zipkin receiver with Content-Type @ct: 0 and
 * *@f, or -EPROTONOSUPPORT (415) with *@why saying what is taken. JSON or protobuf only: what a
 * page of another origin cannot POST without a CORS preflight.
 */
int dash_receive_format(bool otlp, const char *ct, enum dash_trace_format *f, const char **why);

/* Names as "name.namespace", owned. */
struct dash_names {
	char **v;
	size_t n;
};

/* Who sent a body of spans, told by its source address. */
struct dash_sender {
	bool pod;		  /* one of the cluster's pods: it may claim only the names below */
	bool node;		  /* a node's address: the names of the node's pods */
	struct dash_names own;	  /* the pods' own, workloads', labels' and Services' names */
	struct dash_names served; /* a waypoint's: the Services it serves */
};

/*
 * The pod of @pods (pods.json's array, borrowed) whose address is @addr, and its names, with
 * the Services of @cfg (NULL: none) that select it or, for a waypoint, that it serves; when no
 * pod has @addr and @node is not NULL (@addr is that node's), those of all the node's pods.
 * 0 with @s filled (neither pod nor node: no pod or node of the cluster), or -ENOMEM.
 * dash_sender_free frees it.
 */
int dash_sender_find(struct dash_sender *s, const cJSON *pods, const struct config *cfg,
		     const char *addr, const char *node);
void dash_sender_free(struct dash_sender *s);
/*
 * Span @sp may come from @s: any span when @s is NULL or neither pod nor node; else its
 * service is one of @s's names ("reviews.default", or "reviews") or, a waypoint's span
 * (sp->proxy), the waypoint's name is and the Service is one it serves.
 */
bool dash_sender_may(const struct dash_sender *s, const struct dash_span *sp);

#endif
