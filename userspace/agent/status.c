// SPDX-License-Identifier: Apache-2.0
/* The agent view answered to {"op":"get","what":"status"} (ambitctl status, tests). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/version.h"
#include "agent.h"
#include "wpserve.h"

static bool add_ip(cJSON *o, const char *key, uint32_t ip)
{
	char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, &ip, buf, sizeof(buf)) && cJSON_AddStringToObject(o, key, buf);
}

/*
 * "nodeIP", the address the agent was started with first (the IPv4, or the IPv6 of a node of an
 * IPv6-only cluster), and "nodeIPs", each family's, as a pod's status.hostIP and hostIPs.
 */
static bool add_node_ips(cJSON *o, const struct agent *a)
{
	char v4[INET_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
	bool has6 = !IN6_IS_ADDR_UNSPECIFIED(&a->opts.node_ip6);
	cJSON *arr;

	if ((a->opts.node_ip && !inet_ntop(AF_INET, &a->opts.node_ip, v4, sizeof(v4))) ||
	    (has6 && !inet_ntop(AF_INET6, &a->opts.node_ip6, v6, sizeof(v6))))
		return false;
	if (!cJSON_AddStringToObject(o, "nodeIP",
				     a->opts.node_ip ? v4
				     : has6	     ? v6
						     : "") ||
	    !(arr = cJSON_AddArrayToObject(o, "nodeIPs")))
		return false;
	if (a->opts.node_ip && !cJSON_AddItemToArray(arr, cJSON_CreateString(v4)))
		return false;
	return !has6 || cJSON_AddItemToArray(arr, cJSON_CreateString(v6));
}

static bool add_pod(cJSON *arr, const struct agent *a, const struct desired_local_pod *lp)
{
	const struct cert_entry *ce =
	    lp->enrolled ? cert_store_find(&a->certs, lp->identity) : NULL;
	cJSON *o = cJSON_CreateObject();
	char id[24];

	if (!o || !cJSON_AddItemToArray(arr, o))
		return cJSON_Delete(o), false;
	/* cgroup ids are 64-bit: a JSON number (double) would round them. */
	snprintf(id, sizeof(id), "%llu", (unsigned long long)lp->cgroup_id);
	return cJSON_AddStringToObject(o, "uid", lp->uid) && add_ip(o, "ip", lp->ip) &&
	       cJSON_AddBoolToObject(o, "enrolled", lp->enrolled) &&
	       cJSON_AddBoolToObject(o, "inPod", lp->inpod) &&
	       cJSON_AddStringToObject(o, "identity", lp->identity) &&
	       (lp->cgroup ? cJSON_AddStringToObject(o, "cgroup", lp->cgroup)
			   : cJSON_AddNullToObject(o, "cgroup")) &&
	       cJSON_AddStringToObject(o, "cgroupId", id) &&
	       (lp->host_iface ? cJSON_AddStringToObject(o, "iface", lp->host_iface)
			       : cJSON_AddNullToObject(o, "iface")) &&
	       cJSON_AddNumberToObject(o, "ifindex", lp->ifindex) &&
	       (ce ? cJSON_AddNumberToObject(o, "certExpiry", (double)ce->issued.not_after)
		   : cJSON_AddNullToObject(o, "certExpiry"));
}

static bool add_cert(cJSON *arr, const struct cert_entry *e)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddItemToArray(arr, o))
		return cJSON_Delete(o), false;
	return cJSON_AddStringToObject(o, "identity", e->identity) &&
	       cJSON_AddNumberToObject(o, "notBefore", (double)e->issued.not_before) &&
	       cJSON_AddNumberToObject(o, "notAfter", (double)e->issued.not_after) &&
	       cJSON_AddNumberToObject(o, "renewAt", (double)e->renew_at);
}

static bool add_errors(cJSON *o, const struct agent *a)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "configErrors");
	char line[1024];

	if (!arr)
		return false;
	for (size_t i = 0; i < a->conf.n_files; i++) {
		const struct config_diags *d = &a->conf.files[i].errors;

		for (size_t j = 0; j < d->n; j++) {
			cJSON *s;

			if (!d->items[j].error)
				continue;
			config_diag_format(&d->items[j], line, sizeof(line));
			s = cJSON_CreateString(line);
			if (!s || !cJSON_AddItemToArray(arr, s))
				return cJSON_Delete(s), false;
		}
	}
	for (size_t j = 0; j < a->conf.dups.n; j++) {
		cJSON *s;

		config_diag_format(&a->conf.dups.items[j], line, sizeof(line));
		s = cJSON_CreateString(line);
		if (!s || !cJSON_AddItemToArray(arr, s))
			return cJSON_Delete(s), false;
	}
	if (a->rt_error[0]) {
		cJSON *s = cJSON_CreateString(a->rt_error);

		if (!s || !cJSON_AddItemToArray(arr, s))
			return cJSON_Delete(s), false;
	}
	return true;
}

/* The waypoint instances served, with the snapshot version each was sent (apply --wait). */
static bool add_waypoints(cJSON *o, const struct agent *a)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "waypoints");
	const char *pod;
	uint64_t version;

	for (size_t i = 0; arr && wpserve_instance(a, i, &pod, &version); i++) {
		cJSON *w = cJSON_CreateObject();

		if (!w || !cJSON_AddItemToArray(arr, w))
			return cJSON_Delete(w), false;
		if (!cJSON_AddStringToObject(w, "pod", pod) ||
		    !cJSON_AddNumberToObject(w, "version", (double)version))
			return false;
	}
	return arr != NULL;
}

/* The waypoints' and gateways' certificates (public: chain alone), for `istioctl pc secret`. */
static bool add_proxy_certs(cJSON *o, const struct agent *a)
{
	const struct cert_store *cs = wpserve_certs(a);
	cJSON *arr = cJSON_AddArrayToObject(o, "proxyCerts");

	for (size_t i = 0; arr && cs && i < cs->n; i++) {
		cJSON *c = cJSON_CreateObject();

		if (!c || !cJSON_AddItemToArray(arr, c))
			return cJSON_Delete(c), false;
		if (!cJSON_AddStringToObject(c, "identity", cs->items[i].identity) ||
		    (cs->items[i].issued.cert_pem &&
		     !cJSON_AddStringToObject(c, "certPem", cs->items[i].issued.cert_pem)))
			return false;
	}
	return arr != NULL;
}

/* Where the config comes from; for the Kubernetes API, each kind's state. */
static bool add_source(cJSON *o, const struct agent *a)
{
	cJSON *kinds;

	if (!a->kube)
		return cJSON_AddStringToObject(o, "source", "directory") != NULL;
	if (!cJSON_AddStringToObject(o, "source", "kubernetes") ||
	    !cJSON_AddBoolToObject(o, "kubernetesSynced", ksource_synced(a->kube)))
		return false;
	kinds = ksource_status(a->kube);
	return kinds && cJSON_AddItemToObject(o, "kubernetes", kinds);
}

/*
 * What ambitctl waits for after a change: the store generation reconciled, or from the
 * Kubernetes API the resourceVersion taken up to. Changes that change nothing here (another
 * node's pods, a bookmark) need no reconcile: with none taken and waiting, and the last
 * reconcile done, everything up to the watches' version is in force.
 */
static uint64_t generation_in_force(const struct agent *a)
{
	uint64_t gen = a->config_generation, rv;
	bool pending;

	if (!a->kube || a->reconcile_due || !ksource_synced(a->kube))
		return gen;
	rv = ksource_resource_version(a->kube, &pending);
	return !pending && rv > gen ? rv : gen;
}

char *agent_status_json(const struct agent *a)
{
	cJSON *o = cJSON_CreateObject(), *pods, *certs, *warn;
	bool ok;
	char *s = NULL;

	ok = o && cJSON_AddStringToObject(o, "node", a->opts.node) && add_node_ips(o, a) &&
	     cJSON_AddStringToObject(o, "build", ambit_version()) &&
	     cJSON_AddStringToObject(o, "trustDomain", a->opts.trust_domain) &&
	     cJSON_AddStringToObject(o, "clusterId",
				     a->opts.cluster_id ? a->opts.cluster_id : SNAP_CLUSTER_ID) &&
	     cJSON_AddStringToObject(o, "network", a->network) &&
	     cJSON_AddNumberToObject(o, "version", (double)a->snap_version) &&
	     cJSON_AddNumberToObject(o, "configGeneration", (double)generation_in_force(a)) &&
	     /* "auto" until a pod of this node tells (inpod.h). */
	     cJSON_AddStringToObject(o, "captureMode", capture_mode_name(a->capture)) &&
	     cJSON_AddNumberToObject(o, "inPodPods", a->inpod_open ? inpod_count(&a->inpod) : 0) &&
	     cJSON_AddNumberToObject(o, "inPodZtunnels",
				     a->inpod_open ? inpod_ztunnels(&a->inpod) : 0) &&
	     cJSON_AddNumberToObject(o, "workloads", (double)a->cur.n_snap_workloads) &&
	     cJSON_AddNumberToObject(o, "services", (double)a->cur.n_snap_services) &&
	     cJSON_AddNumberToObject(o, "configFiles", (double)a->conf.n_files) &&
	     cJSON_AddNumberToObject(o, "applyErrors", a->apply_errors) &&
	     cJSON_AddNumberToObject(o, "clients",
				     a->srv ? (double)server_client_count(a->srv) : 0) &&
	     add_errors(o, a) && add_waypoints(o, a) && add_proxy_certs(o, a) && add_source(o, a);
	pods = ok ? cJSON_AddArrayToObject(o, "pods") : NULL;
	for (size_t i = 0; pods && i < a->cur.n_local; i++)
		if (!add_pod(pods, a, &a->cur.local[i]))
			pods = NULL;
	certs = pods ? cJSON_AddArrayToObject(o, "certs") : NULL;
	for (size_t i = 0; certs && i < a->certs.n; i++)
		if (!add_cert(certs, &a->certs.items[i]))
			certs = NULL;
	/* As istioctl remote-clusters lists them (remote.h). */
	if (certs) {
		cJSON *rem = remote_status(&a->remote);

		if (!rem || !cJSON_AddItemToObject(o, "remoteClusters", rem)) {
			cJSON_Delete(rem);
			certs = NULL;
		}
	}
	warn = certs ? cJSON_AddArrayToObject(o, "warnings") : NULL;
	for (size_t i = 0; warn && i < a->cur.n_warnings; i++) {
		cJSON *w = cJSON_CreateString(a->cur.warnings[i]);

		if (!w || !cJSON_AddItemToArray(warn, w)) {
			cJSON_Delete(w);
			warn = NULL;
		}
	}
	if (warn)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		errno = ENOMEM;
	return s;
}
