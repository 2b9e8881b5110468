// SPDX-License-Identifier: Apache-2.0
/*
 * istioctl version, proxy-status and ztunnel-config: what runs in the local cluster and what
 * each node's ztunnel holds, in istioctl's words and columns, from what `ambitctl local status`,
 * `workloads`, `services`, `policies`, `certs` and `connections` read (the agents' snapshots,
 * the kubelets' records, the proxies' admin ports).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ambit/ipaddr.h"
#include "ambit/policy.h"
#include "ambit/snapshot.h"
#include "ambit/version.h"
#include "cli/ctl.h"
#include "dashboard/dashboard.h"
#include "istioctl.h"
#include "k8s/kmanifest.h"

/* -o: "" (the table; istioctl's "short"), "json" or "yaml"; NULL after telling it is neither. */
static const char *output_of(const struct ic *ic, bool short_ok)
{
	const char *o = ic->val[IC_F_OUTPUT];

	if (!o || (short_ok && !strcmp(o, "short")))
		return "";
	if (!strcmp(o, "json") || !strcmp(o, "yaml"))
		return o;
	ic_error(IC_EXIT_USAGE, "--output must be 'yaml' or 'json'%s",
		 short_ok ? " or 'short'" : "");
	return NULL;
}

/* The build @netns's process on @port says at /server_info, into @buf ("" when unknown). */
static void server_version(const char *netns, int port, char *buf, size_t len)
{
	char *body = NULL;
	cJSON *doc;

	buf[0] = '\0';
	if (http_get_in_netns(netns, port, "/server_info", &body) == 200 &&
	    (doc = cJSON_Parse(body))) {
		str_fmt(buf, len, "%s", kjson_str(doc, "version", NULL) ?: "");
		cJSON_Delete(doc);
	}
	free(body);
}

/* A node's agent's status (caller deletes), or NULL when it does not answer. */
static cJSON *agent_status(const struct ctl_node *n)
{
	return agent_try(n, "status");
}

/* One proxy of the mesh: a node's ztunnel, or a waypoint or gateway instance. */
struct proxy {
	char name[320];	  /* istioctl's NAME: pod.namespace */
	char agent[64];	  /* the node agent that feeds it */
	char cluster[64]; /* the cluster id its agent says it is in */
	char version[64];
	const char *type; /* "ztunnel", "waypoint", "gateway" */
	bool running;
	uint64_t have, want; /* the snapshot version it holds, and the one its agent sent */
};

/* Every proxy of @c, ztunnels first, into @out (up to @max). Their number. */
static size_t proxies(const struct ctl_cluster *c, const struct ic *ic, struct proxy *out,
		      size_t max)
{
	const char *ins = ic->val[IC_F_ISTIO_NS] ? ic->val[IC_F_ISTIO_NS] : "istio-system";
	cJSON *status = local_status_doc(c), *pods = plan_read_pods_json(c), *st[CTL_MAX_NODES];
	const cJSON *it;
	size_t n = 0;

	for (int i = 0; i < c->nnodes; i++) {
		const struct ctl_node *nd = &c->nodes[i];
		struct proxy *p = &out[n];
		const cJSON *zt = kjson_get(cJSON_GetArrayItem(kjson_get(status, "nodes", NULL), i),
					    "ztunnel", NULL);
		char *body = NULL;

		st[i] = agent_status(nd);
		if (n == max)
			continue;
		memset(p, 0, sizeof(*p));
		str_fmt(p->name, sizeof(p->name), "ztunnel-%s.%s", nd->name, ins);
		str_fmt(p->agent, sizeof(p->agent), "ambit-agent-%s", nd->name);
		p->type = "ztunnel";
		p->running = cJSON_IsTrue(kjson_get(zt, "running", NULL));
		if (p->running)
			server_version(nd->netns, 15000, p->version, sizeof(p->version));
		if (p->running &&
		    http_get_in_netns(nd->netns, 15000, "/snapshot_version", &body) == 200)
			p->have = strtoull(body, NULL, 10);
		free(body);
		p->want =
		    st[i] ? (uint64_t)cJSON_GetNumberValue(kjson_get(st[i], "version", NULL)) : 0;
		str_fmt(p->cluster, sizeof(p->cluster), "%s",
			kjson_str(st[i], "clusterId", NULL) ?: SNAP_CLUSTER_ID);
		n++;
	}
	cJSON_ArrayForEach(it, kjson_get(status, "pods", NULL))
	{
		const char *ns = kjson_str(it, "namespace", NULL),
			   *name = kjson_str(it, "name", NULL);
		const struct ctl_node *nd = cluster_node(c, kjson_str(it, "node", NULL) ?: "");
		const cJSON *pod = NULL, *w, *pp;
		const char *role;
		char uid[300];

		cJSON_ArrayForEach(
		    pp, kjson_get(pods, "pods",
				  NULL)) if (!strcmp(kjson_str(pp, "namespace", NULL) ?: "",
						     ns ?: "") &&
					     !strcmp(kjson_str(pp, "name", NULL) ?: "", name ?: ""))
		    pod = pp;
		role = pod ? dash_pod_role(pod) : "workload";
		if (!strcmp(role, "workload") || !nd || n == max)
			continue;
		struct proxy *p = &out[n++];

		memset(p, 0, sizeof(*p));
		str_fmt(p->name, sizeof(p->name), "%s.%s", name, ns);
		str_fmt(p->agent, sizeof(p->agent), "ambit-agent-%s", nd->name);
		p->type = role;
		p->running = !strcmp(kjson_str(it, "state", NULL) ?: "", "Running");
		if (p->running && kjson_str(it, "netns", NULL))
			server_version(kjson_str(it, "netns", NULL), 15020, p->version,
				       sizeof(p->version));
		str_fmt(p->cluster, sizeof(p->cluster), "%s",
			kjson_str(st[nd->index - 1], "clusterId", NULL) ?: SNAP_CLUSTER_ID);
		str_fmt(uid, sizeof(uid), "%s/%s", ns, name);
		cJSON_ArrayForEach(
		    w, kjson_get(st[nd->index - 1], "waypoints",
				 NULL)) if (!strcmp(kjson_str(w, "pod", NULL) ?: "", uid))
		{
			p->want = (uint64_t)cJSON_GetNumberValue(kjson_get(w, "version", NULL));
			/* Sent by the agent over the socket it serves: held once it was sent. */
			p->have = p->want;
		}
	}
	for (int i = 0; i < c->nnodes; i++)
		cJSON_Delete(st[i]);
	cJSON_Delete(status);
	cJSON_Delete(pods);
	return n;
}

int ic_version(struct ic *ic)
{
	const char *fmt = output_of(ic, false);
	bool remote = !ic->set[IC_F_REMOTE] || ic_flag_on(ic, IC_F_REMOTE);
	struct proxy px[CTL_MAX_NODES + 256];
	struct ctl_cluster c;
	char agents[CTL_MAX_NODES][64], dp[1024] = "";
	size_t n = 0, nagents = 0, dpl = 0;
	cJSON *doc, *mesh, *data;

	if (!fmt)
		return IC_EXIT_USAGE;
	int found = remote ? ic_cluster(ic, &c, true) : 0;

	if (found == -ENOENT) {
		/* istioctl's words for a cluster without Istio, then the client's version. */
		fprintf(stderr,
			"Istio is not present in the cluster: no running Istio pods in "
			"namespace \"%s\" (no ambit cluster is up)\n",
			ic->val[IC_F_ISTIO_NS] ? ic->val[IC_F_ISTIO_NS] : "istio-system");
		remote = false;
	} else if (found) {
		remote = false; /* said by ic_cluster */
	} else if (remote) {
		n = proxies(&c, ic, px, sizeof(px) / sizeof(px[0]));
		for (int i = 0; i < c.nnodes; i++) {
			cJSON *st = agent_status(&c.nodes[i]);

			if (st && kjson_str(st, "build", NULL))
				str_fmt(agents[nagents++], sizeof(agents[0]), "%s",
					kjson_str(st, "build", NULL));
			cJSON_Delete(st);
		}
	}
	doc = cJSON_CreateObject();
	cJSON *cv = cJSON_AddObjectToObject(doc, "clientVersion");
	cJSON_AddStringToObject(cv, "version", ambit_version());
	cJSON_AddStringToObject(cv, "status", "Clean");
	mesh = remote ? cJSON_AddArrayToObject(doc, "meshVersion") : NULL;
	for (size_t i = 0; mesh && i < nagents; i++) {
		cJSON *m = cJSON_CreateObject();

		cJSON_AddStringToObject(m, "Component", "ambit-agent");
		cJSON_AddStringToObject(m, "Revision", "default");
		cJSON_AddStringToObject(cJSON_AddObjectToObject(m, "Info"), "version", agents[i]);
		cJSON_AddItemToArray(mesh, m);
	}
	data = remote ? cJSON_AddArrayToObject(doc, "dataPlaneVersion") : NULL;
	for (size_t i = 0; data && i < n; i++) {
		cJSON *d;

		if (!px[i].version[0])
			continue;
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "ID", px[i].name);
		cJSON_AddStringToObject(d, "IstioVersion", px[i].version);
		cJSON_AddStringToObject(d, "Type", px[i].type);
		cJSON_AddItemToArray(data, d);
	}
	if (*fmt)
		return ic_print(doc, fmt);
	printf("client version: %s\n", ambit_version());
	if (remote) {
		bool same = true;
		const cJSON *d, *e;

		for (size_t i = 1; i < nagents; i++)
			same &= !strcmp(agents[i], agents[0]);
		if (!nagents)
			fprintf(stderr, "no running ambit agents in cluster %s\n", c.name);
		else if (same)
			printf("control plane version: %s\n", agents[0]);
		else
			for (size_t i = 0; i < nagents; i++)
				printf("ambit-agent-%s version: %s\n", c.nodes[i].name, agents[i]);
		/* By version, in the order first met: "X (N proxies), Y (M proxies)". */
		cJSON_ArrayForEach(d, data)
		{
			const char *v = kjson_str(d, "IstioVersion", NULL);
			bool seen = false;
			int count = 0;

			cJSON_ArrayForEach(e, data)
			{
				if (e == d)
					break;
				seen |= !strcmp(kjson_str(e, "IstioVersion", NULL), v);
			}
			if (seen)
				continue;
			cJSON_ArrayForEach(e, data) count +=
			    !strcmp(kjson_str(e, "IstioVersion", NULL), v);
			dpl += (size_t)snprintf(dp + dpl, dpl < sizeof(dp) ? sizeof(dp) - dpl : 0,
						"%s%s (%d prox%s)", dpl ? ", " : "", v, count,
						count == 1 ? "y" : "ies");
		}
		printf("data plane version: %s\n", dpl ? dp : "none");
	}
	cJSON_Delete(doc);
	return 0;
}

/* Whether @p is the proxy @name names: its NAME, or its pod name alone (NAME[.NS]). */
static bool proxy_named(const struct proxy *p, const char *name)
{
	size_t len = strlen(name);

	return !strcmp(p->name, name) || (!strncmp(p->name, name, len) && p->name[len] == '.');
}

int ic_proxy_status(struct ic *ic)
{
	const char *fmt = output_of(ic, false),
		   *only = ic->args < ic->npos ? ic->pos[ic->args] : NULL;
	struct proxy px[CTL_MAX_NODES + 256];
	struct ctl_cluster c;
	size_t n, shown = 0;
	cJSON *arr;
	int ret;

	if (!fmt)
		return IC_EXIT_USAGE;
	ret = ic_cluster(ic, &c, false);
	if (ret)
		return ret;
	n = proxies(&c, ic, px, sizeof(px) / sizeof(px[0]));
	for (size_t i = 0; only && i < n; i++)
		shown += proxy_named(&px[i], only);
	if (only && !shown)
		return ic_error(IC_EXIT_ERROR,
				"no proxy named %s (istioctl proxy-status lists them)", only);
	arr = cJSON_CreateArray();
	if (!*fmt)
		printf("%-40s %-11s %-18s %-26s %-17s %s\n", "NAME", "CLUSTER", "ISTIOD", "VERSION",
		       "SUBSCRIBED TYPES", "STATUS");
	for (size_t i = 0; i < n; i++) {
		const struct proxy *p = &px[i];
		const char *state = !p->running		 ? "NOT RUNNING"
				    : !p->want		 ? "NOT SENT"
				    : p->have == p->want ? "SYNCED"
							 : "STALE";

		if (only && !proxy_named(p, only))
			continue;
		if (!*fmt) {
			printf("%-40s %-11s %-18s %-26s %-17s %s\n", p->name, p->cluster, p->agent,
			       p->version[0] ? p->version : "-", p->want ? "1 (SNAPSHOT)" : "0",
			       state);
			continue;
		}
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "proxy", p->name);
		cJSON_AddStringToObject(o, "type", p->type);
		cJSON_AddStringToObject(o, "clusterId", p->cluster);
		cJSON_AddStringToObject(o, "istiod", p->agent);
		cJSON_AddStringToObject(o, "istioVersion", p->version);
		cJSON_AddNumberToObject(o, "snapshotVersion", (double)p->have);
		cJSON_AddNumberToObject(o, "snapshotSent", (double)p->want);
		cJSON_AddStringToObject(o, "status", state);
		cJSON_AddItemToArray(arr, o);
	}
	if (*fmt)
		return ic_print(arr, fmt);
	cJSON_Delete(arr);
	return 0;
}

/* ---- ztunnel-config ---- */

static void addr_list(uint32_t ip, const struct ipaddr *ip6, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN] = "", b[IPADDR_STRLEN] = "";

	if (ip || !ip6->family)
		inet_ntop(AF_INET, &ip, a, sizeof(a));
	if (ip6->family)
		ipaddr_format(ip6, b, sizeof(b));
	str_fmt(buf, len, "%s%s%s", a, a[0] && b[0] ? "," : "", b);
}

/* The waypoint's Service name ("None" when none), as istioctl's WAYPOINT column. */
static const char *wp_short(const struct snap_waypoint *w)
{
	const char *slash;

	if (!w)
		return "None";
	slash = strchr(w->name, '/');
	return slash ? slash + 1 : w->name;
}

static bool wl_wanted(const struct ic *ic, const struct snap_workload *w)
{
	return (!ic->val[IC_F_WL_NS] || !strcmp(ic->val[IC_F_WL_NS], w->namespace)) &&
	       (!ic->val[IC_F_WL_NODE] || !strcmp(ic->val[IC_F_WL_NODE], w->node));
}

static int cmp_wl(const void *a, const void *b)
{
	const struct snap_workload *x = *(struct snap_workload *const *)a,
				   *y = *(struct snap_workload *const *)b;
	int r = strcmp(x->namespace, y->namespace);

	r = r ?: strcmp(x->name, y->name);
	return r ?: strcmp(x->node, y->node);
}

static void zc_workloads(const struct ic *ic, const struct snapshot *s, cJSON *out)
{
	const struct snap_workload **rows = calloc(s->n_workloads + 1, sizeof(*rows));
	size_t n = 0;

	if (!rows)
		return;
	for (size_t i = 0; i < s->n_workloads; i++)
		if (wl_wanted(ic, &s->workloads[i]))
			rows[n++] = &s->workloads[i];
	qsort(rows, n, sizeof(*rows), cmp_wl);
	if (!out)
		printf("%-12s %-36s %-32s %-16s %-8s %s\n", "NAMESPACE", "POD NAME", "ADDRESS",
		       "NODE", "WAYPOINT", "PROTOCOL");
	for (size_t i = 0; i < n; i++) {
		const struct snap_workload *w = rows[i];
		char addr[INET_ADDRSTRLEN + IPADDR_STRLEN + 2];

		addr_list(w->ip, &w->ip6, addr, sizeof(addr));
		if (!out) {
			printf("%-12s %-36s %-32s %-16s %-8s %s\n", w->namespace, w->name, addr,
			       w->node, wp_short(w->waypoint), w->enrolled ? "HBONE" : "TCP");
			continue;
		}
		cJSON *o = cJSON_CreateObject(), *ips = cJSON_AddArrayToObject(o, "workloadIps");
		char *save = NULL;

		for (char *a = strtok_r(addr, ",", &save); a; a = strtok_r(NULL, ",", &save))
			cJSON_AddItemToArray(ips, cJSON_CreateString(a));
		cJSON_AddStringToObject(o, "uid", w->uid);
		cJSON_AddStringToObject(o, "name", w->name);
		cJSON_AddStringToObject(o, "namespace", w->namespace);
		cJSON_AddStringToObject(o, "serviceAccount", w->service_account);
		cJSON_AddStringToObject(o, "workloadName", w->workload_name);
		cJSON_AddStringToObject(o, "canonicalName", w->canonical_service ?: w->app);
		cJSON_AddStringToObject(o, "canonicalRevision",
					w->canonical_revision ?: w->version);
		cJSON_AddStringToObject(o, "node", w->node);
		/* As Istio's ztunnel dumps a workload: its cluster, network and trust domain. */
		cJSON_AddStringToObject(o, "clusterId", s->cluster_id ?: SNAP_CLUSTER_ID);
		cJSON_AddStringToObject(o, "network", s->network ?: "");
		cJSON_AddStringToObject(o, "trustDomain", s->trust_domain ?: "");
		cJSON_AddStringToObject(o, "protocol", w->enrolled ? "HBONE" : "TCP");
		cJSON_AddStringToObject(o, "identity", w->identity);
		if (w->waypoint)
			cJSON_AddStringToObject(o, "waypoint", w->waypoint->name);
		cJSON_AddItemToArray(out, o);
	}
	free(rows);
}

static void zc_services(const struct ic *ic, const struct snapshot *s, cJSON *out)
{
	if (!out)
		printf("%-12s %-56s %-32s %-10s %s\n", "NAMESPACE", "SERVICE NAME", "SERVICE VIP",
		       "WAYPOINT", "ENDPOINTS");
	for (size_t i = 0; i < s->n_services; i++) {
		const struct snap_service *sv = &s->services[i];
		size_t eps = sv->nendpoints + sv->nendpoints6;
		char vip[INET_ADDRSTRLEN + IPADDR_STRLEN + 2], cell[32];

		if (ic->val[IC_F_WL_NS] && strcmp(ic->val[IC_F_WL_NS], sv->namespace))
			continue;
		addr_list(sv->vip, &sv->vip6, vip, sizeof(vip));
		/* The snapshot holds the ready endpoints alone: healthy/total are one count. */
		str_fmt(cell, sizeof(cell), "%zu/%zu", eps, eps);
		if (!out) {
			printf("%-12s %-56s %-32s %-10s %s\n", sv->namespace, sv->hostname, vip,
			       wp_short(sv->waypoint), cell);
			continue;
		}
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", sv->name);
		cJSON_AddStringToObject(o, "namespace", sv->namespace);
		cJSON_AddStringToObject(o, "hostname", sv->hostname);
		cJSON_AddStringToObject(o, "vips", vip);
		cJSON_AddNumberToObject(o, "endpoints", (double)eps);
		if (sv->waypoint)
			cJSON_AddStringToObject(o, "waypoint", sv->waypoint->name);
		cJSON_AddItemToArray(out, o);
	}
}

/* Istio's ztunnel words: scope Global, Namespace, WorkloadSelector; action Allow, Deny. */
static void zc_policies(const struct ic *ic, const struct snapshot *s, cJSON *out)
{
	static const char *const scopes[] = {[POLICY_SCOPE_GLOBAL] = "Global",
					     [POLICY_SCOPE_NAMESPACE] = "Namespace",
					     [POLICY_SCOPE_WORKLOAD] = "WorkloadSelector"};

	if (!out)
		printf("%-12s %-40s %-7s %s\n", "NAMESPACE", "POLICY NAME", "ACTION", "SCOPE");
	for (size_t i = 0; s->policies && i < s->policies->n_policies; i++) {
		const struct policy_authz *p = &s->policies->policies[i];
		const char *scope =
		    (size_t)p->scope < sizeof(scopes) / sizeof(scopes[0]) ? scopes[p->scope] : NULL;
		char action[16];

		/* What the ztunnel leaves to a waypoint (scope NONE) is not in its config. */
		if (!scope || (ic->val[IC_F_WL_NS] && strcmp(ic->val[IC_F_WL_NS], p->namespace)))
			continue;
		str_fmt(action, sizeof(action), "%s", policy_action_str(p->action));
		for (char *a = action + 1; *a; a++)
			*a = (char)(*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a);
		if (!out) {
			printf("%-12s %-40s %-7s %s\n", p->namespace, p->name, action, scope);
			continue;
		}
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", p->name);
		cJSON_AddStringToObject(o, "namespace", p->namespace);
		cJSON_AddStringToObject(o, "action", action);
		cJSON_AddStringToObject(o, "scope", scope);
		cJSON_AddBoolToObject(o, "dryRun", p->dry_run);
		cJSON_AddItemToArray(out, o);
	}
}

static void cert_row(const char *name, const char *type, const char *pem, cJSON *out)
{
	struct ic_cert c;

	ic_cert_read(pem, &c);
	if (!out) {
		printf("%-56s %-5s %-9s %-11s %-40s %-20s %s\n", name, type,
		       c.valid ? "Available" : "Invalid", c.valid ? "true" : "false", c.serial,
		       c.not_after, c.not_before);
		return;
	}
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "identity", name);
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "state", c.valid ? "Available" : "Invalid");
	cJSON_AddStringToObject(o, "serialNumber", c.ok ? c.serial : "");
	cJSON_AddStringToObject(o, "expirationTime", c.not_after);
	cJSON_AddStringToObject(o, "validFrom", c.not_before);
	cJSON_AddItemToArray(out, o);
}

static void zc_certificates(const struct snapshot *s, cJSON *out)
{
	if (!out)
		printf("%-56s %-5s %-9s %-11s %-40s %-20s %s\n", "CERTIFICATE NAME", "TYPE",
		       "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE");
	for (size_t i = 0; i < s->n_certs; i++) {
		cert_row(s->certs[i].identity, "Leaf", s->certs[i].cert_pem, out);
		cert_row(s->certs[i].identity, "Root", s->root_pem, out);
	}
}

/* The workload an address of @s is ("ns/name"), or the address. */
static const char *who(const struct snapshot *s, const char *addr, char *buf, size_t len)
{
	char host[IPADDR_STRLEN];
	struct ipaddr ip;
	const char *colon = strrchr(addr, ':');

	str_fmt(host, sizeof(host), "%.*s", colon ? (int)(colon - addr) : (int)strlen(addr),
		addr[0] == '[' ? addr + 1 : addr);
	if (host[0] && host[strlen(host) - 1] == ']')
		host[strlen(host) - 1] = '\0';
	if (!ipaddr_parse(host, &ip)) {
		const struct snap_workload *w = snapshot_workload_by_addr(s, &ip);

		if (w) {
			str_fmt(buf, len, "%s.%s", w->name, w->namespace);
			return buf;
		}
	}
	return addr;
}

static void zc_connections(const struct ctl_node *nd, const struct snapshot *s, cJSON *out)
{
	char *body = NULL, wl[300];
	cJSON *doc = NULL;
	const cJSON *it;

	if (http_get_in_netns(nd->netns, 15000, "/connections", &body) == 200)
		doc = cJSON_Parse(body);
	free(body);
	if (!out)
		printf("%-36s %-9s %-26s %-26s %-40s %s\n", "WORKLOAD", "DIRECTION", "LOCAL",
		       "REMOTE", "REMOTE TARGET", "PROTOCOL");
	cJSON_ArrayForEach(it, doc)
	{
		const char *dir = kjson_str(it, "direction", NULL) ?: "";
		const char *src = kjson_str(it, "src", NULL) ?: "",
			   *dst = kjson_str(it, "dst", NULL) ?: "";
		const char *sec = kjson_str(it, "security", NULL) ?: "";
		bool in = !strcmp(dir, "inbound");
		const char *proto = !strcmp(sec, "mutual_tls") ? "HBONE" : "TCP";
		char target[300];

		/* The workload on this node: the destination of an inbound, the source else. */
		who(s, in ? dst : src, wl, sizeof(wl));
		str_fmt(target, sizeof(target), "%s", in ? "" : kjson_str(it, "dstIdentity", NULL) ?: "");
		if (!out) {
			printf("%-36s %-9s %-26s %-26s %-40s %s\n", wl, in ? "Inbound" : "Outbound",
			       in ? dst : src, in ? src : dst, target[0] ? target : "-", proto);
			continue;
		}
		cJSON *o = cJSON_Duplicate(it, true);

		cJSON_AddStringToObject(o, "workload", wl);
		cJSON_AddStringToObject(o, "node", nd->name);
		cJSON_AddItemToArray(out, o);
	}
	cJSON_Delete(doc);
}

int ic_ztunnel_config(struct ic *ic)
{
	static const struct {
		const char *name, *aliases;
	} subs[] = {{"workloads", " workload w "},
		    {"services", " service svc s "},
		    {"policies", " policy authorization authz "},
		    {"certificates", " certificate certs cert secret secrets "},
		    {"connections", " connection conn "},
		    {"all", " "}};
	const char *word = ic->args < ic->npos ? ic->pos[ic->args] : "", *fmt = output_of(ic, true);
	const char *sub = NULL;
	struct ctl_cluster c;
	struct snapshot *s = NULL;
	const struct ctl_node *nd = NULL;
	char key[64];
	cJSON *doc = NULL;
	int ret;

	str_fmt(key, sizeof(key), " %s ", word);
	for (size_t i = 0; *word && i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(word, subs[i].name) || strstr(subs[i].aliases, key))
			sub = subs[i].name;
	if (!sub)
		return ic_error(IC_EXIT_USAGE,
				"%s%s%sztunnel-config: one of workloads, services, policies, "
				"certificates, connections, all\nRun 'istioctl ztunnel-config "
				"--help' for usage.",
				*word ? "unknown command \"" : "", word, *word ? "\": " : "");
	if (!fmt)
		return IC_EXIT_USAGE;
	ret = ic_cluster(ic, &c, false);
	if (ret)
		return ret;
	/* The ztunnel asked: --node's, a ztunnel-<node> named, else the first that answers. */
	if (ic->args + 1 < ic->npos) {
		const char *t = ic->pos[ic->args + 1], *slash = strchr(t, '/');
		char name[64];

		t = slash ? slash + 1 : t;
		str_fmt(name, sizeof(name), "%.*s", (int)strcspn(t, "."), t);
		nd = cluster_node(&c, strncmp(name, "ztunnel-", 8) ? name : name + 8);
		if (!nd)
			return ic_error(IC_EXIT_ERROR,
					"no ztunnel %s: ztunnels are ztunnel-NODE "
					"(istioctl proxy-status lists them)",
					ic->pos[ic->args + 1]);
	}
	if (ic->o.node && !(nd = cluster_node(&c, ic->o.node)))
		return ic_error(IC_EXIT_ERROR, "no node %s in cluster %s", ic->o.node, c.name);
	for (int i = 0; i < c.nnodes && !s; i++) {
		if (nd && nd != &c.nodes[i])
			continue;
		s = agent_snapshot(&c.nodes[i], NULL);
		if (s)
			nd = &c.nodes[i];
	}
	if (!s)
		return ic_error(IC_EXIT_ERROR, "no ztunnel's configuration could be read");
	if (*fmt)
		doc = cJSON_CreateObject();
	bool all = !strcmp(sub, "all");
	if (all || !strcmp(sub, "workloads")) {
		zc_workloads(ic, s, doc ? cJSON_AddArrayToObject(doc, "workloads") : NULL);
		if (all && !doc)
			printf("\n");
	}
	if (all || !strcmp(sub, "services")) {
		zc_services(ic, s, doc ? cJSON_AddArrayToObject(doc, "services") : NULL);
		if (all && !doc)
			printf("\n");
	}
	if (all || !strcmp(sub, "policies")) {
		zc_policies(ic, s, doc ? cJSON_AddArrayToObject(doc, "policies") : NULL);
		if (all && !doc)
			printf("\n");
	}
	if (all || !strcmp(sub, "certificates")) {
		zc_certificates(s, doc ? cJSON_AddArrayToObject(doc, "certificates") : NULL);
		if (all && !doc)
			printf("\n");
	}
	if (all || !strcmp(sub, "connections"))
		zc_connections(nd, s, doc ? cJSON_AddArrayToObject(doc, "connections") : NULL);
	snapshot_free(s);
	if (doc && !all) {
		/* One kind: its list alone, as istioctl dumps it. */
		cJSON *list = cJSON_DetachItemFromObject(doc, doc->child->string);

		cJSON_Delete(doc);
		doc = list;
	}
	return doc ? ic_print(doc, fmt) : 0;
}
