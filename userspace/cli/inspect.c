// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl workloads|services|certs|connections|metrics`: what the agents and ztunnels of the
 * local cluster's nodes hold, asked over the agent socket (ipc.h) and the ztunnel's admin and
 * metrics ports (inside the node netns).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tls/crypto.h"
#include "ambit/ipc.h"
#include "ambit/snapshot.h"
#include "ambit/ipaddr.h"
#include "ctl.h"
#include "svcfmt.h"

static bool node_selected(const struct ctl_opts *o, const struct ctl_node *n)
{
	return !o->node || !strcmp(o->node, n->name);
}

static const char *ip_str(uint32_t ip, char *buf)
{
	return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN) ? buf : "?";
}

/* Prints {"node": result...} for -o json. */
static int print_raw(const struct ctl_opts *o, const struct ctl_cluster *c, const char *what)
{
	cJSON *all = cJSON_CreateObject();
	int ret = 0;

	if (!all)
		return -ENOMEM;
	for (int i = 0; i < c->nnodes; i++) {
		if (!node_selected(o, &c->nodes[i]))
			continue;
		cJSON *res = agentq_get(&c->nodes[i], what);
		if (!res) {
			ret = -EIO;
			continue;
		}
		/* Private keys never reach the CLI (snapshot is the public encoding). */
		cJSON_AddItemToObject(all, c->nodes[i].name, res);
	}
	char *text = cJSON_Print(all);
	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(all);
	return ret;
}

/* Why a pod is not in the mesh, from the manifests the agents read. */
static void why_not(const struct config *cfg, const struct snap_workload *w, char *buf, size_t len)
{
	const struct config_namespace *ns = config_find_namespace(cfg, w->namespace);
	const struct config_labels *pl = NULL, *pa = NULL;

	for (size_t i = 0; i < cfg->n_pods && !pl; i++)
		if (!strcmp(cfg->pods[i].meta.namespace, w->namespace) &&
		    !strcmp(cfg->pods[i].meta.name, w->name)) {
			pl = &cfg->pods[i].meta.labels;
			pa = &cfg->pods[i].meta.annotations;
		}
	for (size_t i = 0; i < cfg->n_deployments && !pl; i++)
		if (!strcmp(cfg->deployments[i].meta.namespace, w->namespace) &&
		    !strcmp(cfg->deployments[i].meta.name, w->workload_name)) {
			pl = &cfg->deployments[i].template_labels;
			pa = &cfg->deployments[i].template_annotations;
		}
	const char *pv = pl ? config_label_get(pl, AMBIT_LABEL_DATAPLANE_MODE) : NULL;
	const char *nv = ns ? config_label_get(&ns->meta.labels, AMBIT_LABEL_DATAPLANE_MODE) : NULL;
	/* Sidecar mode's switches (Istio's tutorials): named, since ambit ignores them. */
	const char *ni = ns ? config_label_get(&ns->meta.labels, "istio-injection") : NULL;
	const char *pi = pl ? config_label_get(pl, "sidecar.istio.io/inject") : NULL;

	if (!pi && pa)
		pi = config_label_get(pa, "sidecar.istio.io/inject");
	if (pv && !strcmp(pv, AMBIT_DATAPLANE_NONE))
		str_fmt(buf, len, "no (pod opts out: %s=none)", AMBIT_LABEL_DATAPLANE_MODE);
	else if (!ns)
		str_fmt(buf, len, "no (namespace %s has no Namespace object)", w->namespace);
	else if ((!nv || strcmp(nv, AMBIT_DATAPLANE_AMBIENT)) &&
		 ((ni && !strcmp(ni, "enabled")) || (pi && !strcmp(pi, "true"))))
		str_fmt(buf, len,
			"no (%s is sidecar mode; ambit is ambient-only: label the "
			"namespace %s=ambient)",
			ni && !strcmp(ni, "enabled") ? "istio-injection=enabled"
						     : "sidecar.istio.io/inject=true",
			AMBIT_LABEL_DATAPLANE_MODE);
	else if (!nv || strcmp(nv, AMBIT_DATAPLANE_AMBIENT))
		str_fmt(buf, len, "no (namespace not labelled %s=ambient)",
			AMBIT_LABEL_DATAPLANE_MODE);
	else if (cfg->mesh_off)
		str_fmt(buf, len, "no (ambit is uninstalled from the cluster: istioctl install)");
	else
		str_fmt(buf, len, "no (pending on the agent)");
}

int cmd_workloads(const struct ctl_opts *o)
{
	struct ctl_cluster c;
	struct snapshot *snaps[CTL_MAX_NODES] = {0};
	cJSON *kst[CTL_MAX_NODES] = {0};
	struct config cfg;
	char state[PATH_MAX];
	int ret, nok = 0, ipw = 12;

	ret = cluster_open(&c, o);
	if (ret)
		return ret;
	if (o->json)
		return print_raw(o, &c, "snapshot");
	config_init(&cfg);
	cluster_path(&c, state, sizeof(state), "state");
	load_manifests(&cfg, state); /* best effort: only explains "why not" */
	cfg.mesh_off = cluster_uninstalled(&c, NULL, 0);
	/* Every agent knows every workload; a pod's own node is the authority on it. */
	for (int i = 0; i < c.nnodes; i++) {
		snaps[i] = agent_snapshot(&c.nodes[i], NULL);
		nok += snaps[i] != NULL;
	}
	/* What each pod's kubelet says of it: kubectl's STATUS and RESTARTS. */
	for (int i = 0; i < c.nnodes; i++) {
		int err;

		kst[i] = kubelet_call(&c.nodes[i], "{\"op\":\"status\"}", true, &err);
	}
	/* Dual stack: the IP column holds both addresses, IPv4 first. */
	for (int i = 0; i < c.nnodes; i++)
		for (size_t k = 0; snaps[i] && k < snaps[i]->n_workloads; k++)
			ipw = snaps[i]->workloads[k].ip6.family ? 32 : ipw;
	printf("%-10s %-24s %-7s %-*s %-8s %-46s %-17s %-8s %s\n", "NAMESPACE", "NAME", "NODE", ipw,
	       "IP", "PROTOCOL", "IDENTITY", "STATUS", "RESTARTS", "ENROLLED");
	for (int i = 0; i < c.nnodes; i++) {
		for (size_t k = 0; snaps[i] && k < snaps[i]->n_workloads; k++) {
			const struct snap_workload *w = &snaps[i]->workloads[k];
			bool own = !strcmp(w->node, c.nodes[i].name);
			char ip[INET_ADDRSTRLEN + IPADDR_STRLEN + 2], why[160];

			/* Shown once: by its node's agent, or by the first answering one if down.
			 */
			if (!own) {
				const struct ctl_node *home = cluster_node(&c, w->node);
				if (home && snaps[home->index - 1])
					continue;
				bool earlier = false;
				for (int j = 0; j < i; j++)
					earlier |= snaps[j] != NULL;
				if (earlier)
					continue;
			}
			if (o->node && strcmp(o->node, w->node))
				continue;
			if (w->enrolled)
				str_fmt(why, sizeof(why), "yes");
			else
				why_not(&cfg, w, why, sizeof(why));
			const struct ctl_node *home = cluster_node(&c, w->node);
			const cJSON *rec = NULL;
			char uid[600];

			str_fmt(uid, sizeof(uid), "%s/%s", w->namespace, w->name);
			if (home && kst[home->index - 1])
				rec = kubelet_find(kst[home->index - 1], uid);
			/* A pod of IPv6 alone (an IPv6-only cluster's) shows that one. */
			ip[0] = '\0';
			if (w->ip || !w->ip6.family)
				ip_str(w->ip, ip);
			if (w->ip6.family) {
				char six[IPADDR_STRLEN];

				str_fmt(ip + strlen(ip), sizeof(ip) - strlen(ip), "%s%s",
					ip[0] ? "," : "", ipaddr_format(&w->ip6, six, sizeof(six)));
			}
			printf("%-10s %-24s %-7s %-*s %-8s %-46s %-17s %-8d %s\n", w->namespace,
			       w->name, w->node, ipw, ip, w->enrolled ? "HBONE" : "TCP",
			       w->identity,
			       rec ? cJSON_GetStringValue(
					 cJSON_GetObjectItemCaseSensitive(rec, "state"))
				   : "Unknown",
			       rec ? (int)cJSON_GetNumberValue(
					 cJSON_GetObjectItemCaseSensitive(rec, "restarts"))
				   : 0,
			       why);
		}
	}
	for (int i = 0; i < c.nnodes; i++) {
		snapshot_free(snaps[i]);
		cJSON_Delete(kst[i]);
	}
	config_free(&cfg);
	return nok ? 0 : -EIO;
}

int cmd_services(const struct ctl_opts *o)
{
	struct ctl_cluster c;
	struct snapshot *s = NULL;
	int ret;

	ret = cluster_open(&c, o);
	if (ret)
		return ret;
	if (o->json)
		return print_raw(o, &c, "snapshot");
	/* Services are cluster-wide: any one agent's view is the whole list. */
	for (int i = 0; i < c.nnodes && !s; i++)
		if (node_selected(o, &c.nodes[i]))
			s = agent_snapshot(&c.nodes[i], NULL);
	if (!s)
		return -EIO;
	printf("%-10s %-16s %-12s %-20s %s\n", "NAMESPACE", "NAME", "VIP", "PORTS", "ENDPOINTS");
	for (size_t i = 0; i < s->n_services; i++) {
		const struct snap_service *sv = &s->services[i];
		char vip[INET_ADDRSTRLEN + IPADDR_STRLEN + 1], ports[256], eps[1024];

		svcfmt_ports_endpoints(s, sv, ports, sizeof(ports), eps, sizeof(eps));
		/*
		 * A dual-stack Service: both, IPv4 first, as `ambitctl workloads` lists pods; a
		 * SingleStack IPv6 one its IPv6 alone (headless: 0.0.0.0, no address).
		 */
		vip[0] = '\0';
		if (sv->vip || sv->vip6.family != AF_INET6)
			ip_str(sv->vip, vip);
		if (sv->vip6.family == AF_INET6) {
			size_t n = strlen(vip);

			if (n)
				vip[n++] = ',';
			ipaddr_format(&sv->vip6, vip + n, sizeof(vip) - n);
		}
		printf("%-10s %-16s %-12s %-20s %s\n", sv->namespace, sv->name, vip, ports, eps);
	}
	if (s->n_entries)
		printf("\n%-10s %-24s %-16s %-14s %-10s %-16s %s\n", "NAMESPACE",
		       "SERVICE ENTRY HOST", "ADDRESSES", "LOCATION", "RESOLUTION", "PORTS",
		       "ENDPOINTS");
	for (size_t i = 0; i < s->n_entries; i++) {
		static const char *const res[] = {"NONE", "STATIC", "DNS", "DNS_RR", "DYNAMIC_DNS"};
		const struct snap_service *e = &s->entries[i];
		char addrs[256], ip[INET_ADDRSTRLEN], ports[256], eps[1024];
		size_t al = 0;

		addrs[0] = 0;
		if (e->vip)
			al += (size_t)snprintf(addrs, sizeof(addrs), "%s", ip_str(e->vip, ip));
		if (e->vip6.family == AF_INET6) {
			char six[IPADDR_STRLEN];

			al +=
			    (size_t)snprintf(addrs + al, sizeof(addrs) - al, "%s%s", al ? "," : "",
					     ipaddr_format(&e->vip6, six, sizeof(six)));
		}
		for (size_t j = 0; j < e->n_cidrs && al < sizeof(addrs); j++) {
			char cidr[IPADDR_STRLEN];

			al += (size_t)snprintf(
			    addrs + al, sizeof(addrs) - al, "%s%s", al ? "," : "",
			    ipaddr_format_prefix(&e->cidrs[j], cidr, sizeof(cidr)));
		}
		svcfmt_ports_endpoints(s, e, ports, sizeof(ports), eps, sizeof(eps));
		printf("%-10s %-24s %-16s %-14s %-10s %-16s %s\n", e->namespace, e->hostname,
		       al ? addrs : "<none>",
		       e->kind == SNAP_SVC_MESH_INTERNAL ? "MESH_INTERNAL" : "MESH_EXTERNAL",
		       res[e->resolution], ports, eps);
	}
	printf("\noutbound traffic policy: %s\n", s->registry_only ? "REGISTRY_ONLY" : "ALLOW_ANY");
	snapshot_free(s);
	return 0;
}

/* Serial of the leaf certificate in @pem as hex, into @buf. */
static void cert_serial(const char *pem, char *buf, size_t len)
{
	struct crypto_cert_info ci;

	str_fmt(buf, len, "%s", crypto_cert_info(pem, &ci) ? "?" : ci.serial);
}

int cmd_certs(const struct ctl_opts *o)
{
	struct ctl_cluster c;
	time_t now = time(NULL);
	int ret, nok = 0;

	ret = cluster_open(&c, o);
	if (ret)
		return ret;
	if (o->json)
		return print_raw(o, &c, "snapshot");
	printf("%-46s %-7s %-34s %-20s %s\n", "IDENTITY", "NODE", "SERIAL", "NOT AFTER (UTC)",
	       "REMAINING");
	for (int i = 0; i < c.nnodes; i++) {
		if (!node_selected(o, &c.nodes[i]))
			continue;
		struct snapshot *s = agent_snapshot(&c.nodes[i], NULL);
		if (!s)
			continue;
		nok++;
		for (size_t k = 0; k < s->n_certs; k++) {
			const struct snap_cert *ct = &s->certs[k];
			char serial[128], until[32], left[32];
			struct tm tm;
			long rem = (long)(ct->not_after - now);

			cert_serial(ct->cert_pem, serial, sizeof(serial));
			gmtime_r(&ct->not_after, &tm);
			strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S", &tm);
			if (rem <= 0)
				str_fmt(left, sizeof(left), "expired");
			else
				str_fmt(left, sizeof(left), "%ldh%02ldm", rem / 3600,
					(rem % 3600) / 60);
			printf("%-46s %-7s %-34s %-20s %s\n", ct->identity, c.nodes[i].name, serial,
			       until, left);
		}
		snapshot_free(s);
	}
	return nok ? 0 : -EIO;
}

static void print_scalar(const cJSON *v)
{
	if (cJSON_IsString(v))
		printf("%s", v->valuestring);
	else if (cJSON_IsNumber(v))
		printf("%.0f", v->valuedouble);
	else if (cJSON_IsBool(v))
		printf("%s", cJSON_IsTrue(v) ? "true" : "false");
	else if (cJSON_IsNull(v))
		printf("-");
	else {
		char *t = cJSON_PrintUnformatted(v);
		printf("%s", t ? t : "?");
		free(t);
	}
}

/* The admin JSON's shape is the ztunnel's: show any list of objects as key=value lines. */
static void print_connections(const char *node, const cJSON *doc)
{
	const cJSON *list = doc, *it;

	if (cJSON_IsObject(doc)) {
		cJSON_ArrayForEach(it, doc) if (cJSON_IsArray(it))
		{
			list = it;
			break;
		}
	}
	if (!cJSON_IsArray(list)) {
		print_scalar(doc);
		printf("\n");
		return;
	}
	printf("%s: %d connection(s)\n", node, cJSON_GetArraySize(list));
	cJSON_ArrayForEach(it, list)
	{
		const cJSON *f;
		printf("  ");
		cJSON_ArrayForEach(f, it)
		{
			printf("%s=", f->string ? f->string : "?");
			print_scalar(f);
			printf(" ");
		}
		printf("\n");
	}
}

int cmd_connections(const struct ctl_opts *o)
{
	struct ctl_cluster c;
	cJSON *all = cJSON_CreateObject();
	int ret, nok = 0;

	if (!all)
		return -ENOMEM;
	ret = cluster_open(&c, o);
	if (ret)
		goto out;
	for (int i = 0; i < c.nnodes; i++) {
		char *body = NULL;
		cJSON *doc;

		if (!node_selected(o, &c.nodes[i]))
			continue;
		int code = http_get_in_netns(c.nodes[i].netns, 15000, "/connections", &body);
		if (code != 200) {
			if (code > 0)
				fprintf(stderr, "ambitctl: %s ztunnel admin: HTTP %d\n",
					c.nodes[i].name, code);
			free(body);
			continue;
		}
		doc = cJSON_Parse(body);
		free(body);
		if (!doc) {
			fprintf(stderr, "ambitctl: %s: /connections is not JSON\n",
				c.nodes[i].name);
			continue;
		}
		nok++;
		if (!o->json)
			print_connections(c.nodes[i].name, doc);
		cJSON_AddItemToObject(all, c.nodes[i].name, doc);
	}
	if (o->json) {
		char *t = cJSON_Print(all);
		printf("%s\n", t ? t : "{}");
		free(t);
	}
	ret = nok ? 0 : -EIO;
out:
	cJSON_Delete(all);
	return ret;
}

int cmd_metrics(const struct ctl_opts *o)
{
	struct ctl_cluster c;
	int ret, nok = 0;

	ret = cluster_open(&c, o);
	if (ret)
		return ret;
	for (int i = 0; i < c.nnodes; i++) {
		char *body = NULL;

		if (!node_selected(o, &c.nodes[i]))
			continue;
		int code = http_get_in_netns(c.nodes[i].netns, 15020, "/metrics", &body);
		if (code == 200) {
			if (!o->node)
				printf("# node %s\n", c.nodes[i].name);
			fputs(body, stdout);
			nok++;
		} else if (code > 0) {
			fprintf(stderr, "ambitctl: %s metrics: HTTP %d\n", c.nodes[i].name, code);
		}
		free(body);
	}
	return nok ? 0 : -EIO;
}
