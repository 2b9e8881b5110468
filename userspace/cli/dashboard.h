/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ambitctl dashboard`: the mesh in a browser (Kiali's role). dashboard.c serves the page and
 * its libraries (built into the binary) and routes the JSON API; dashboard_prom.c asks
 * Prometheus's HTTP API; dashboard_graph.c makes the service graph from Istio's metrics;
 * dashboard_info.c tells workloads, Services and the configuration from the cluster's state.
 */
#ifndef AMBIT_CLI_DASHBOARD_H
#define AMBIT_CLI_DASHBOARD_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "ctl.h"

struct dash {
	struct ctl_opts opts;
	struct ctl_cluster c;
	char prom[512]; /* Prometheus's base URL, no trailing slash */
};

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
 * dashboard_prom.c: an instant query at now (@range_s 0) or a range query over the last
 * @range_s seconds; the "result" array (caller deletes) or NULL with @err set.
 */
cJSON *dash_prom_query(const struct dash *d, const char *promql, long range_s, char *err,
		       size_t errlen);
/* The number a sample's "value" ([ts, "v"]) holds; 0 for NaN or none. */
double dash_prom_value(const cJSON *value);

/* dashboard_graph.c: GET /api/graph; the document (caller deletes). */
cJSON *dash_graph(struct dash_view *v, const char *namespaces);

/* dashboard_info.c */
cJSON *dash_namespaces(struct dash_view *v);
cJSON *dash_workloads(struct dash_view *v);
cJSON *dash_workload(struct dash_view *v, const char *ns, const char *name, int *status);
cJSON *dash_service(struct dash_view *v, const char *ns, const char *name, int *status);
cJSON *dash_config(struct dash_view *v);

#endif
