// SPDX-License-Identifier: Apache-2.0
/* Remote clusters: their remote secrets, and the summary of each the snapshot carries (remote.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "ambit/fileutil.h"
#include "ambit/ipaddr.h"
#include "ambit/log.h"
#include "confstore.h"
#include "k8s/kconn.h"
#include "l4/desired.h"
#include "remote.h"

#define FILE_SCHEME "file://"
/* A gateway's port: HBONE's, on the listener `mesh` of Istio's east-west Gateway. */
#define EASTWEST_PORT 15008

static void summary_free(struct remote_cluster *rc)
{
	snapshot_net_gateways_free(rc->gateways, rc->n_gateways);
	snapshot_remote_services_free(rc->services, rc->n_services);
	for (size_t i = 0; i < rc->n_peer_workloads; i++)
		snapshot_workload_clear(&rc->peer_workloads[i]);
	for (size_t i = 0; i < rc->n_peer_services; i++)
		snapshot_service_clear(&rc->peer_services[i]);
	free(rc->peer_workloads);
	free(rc->peer_services);
	rc->gateways = NULL;
	rc->services = NULL;
	rc->peer_workloads = NULL;
	rc->peer_services = NULL;
	rc->n_gateways = rc->n_services = rc->n_peer_workloads = rc->n_peer_services = 0;
}

static void cluster_free(struct remote_cluster *rc)
{
	remote_api_stop(rc->api);
	rc->api = NULL;
	summary_free(rc);
	confstore_free(&rc->conf);
	free(rc->name);
	free(rc->secret);
	free(rc->server);
	free(rc->dir);
}

static void made_free(struct remote_set *rs)
{
	for (size_t i = 0; i < rs->n_made; i++)
		snapshot_service_clear(&rs->made[i]);
	free(rs->made);
	rs->made = NULL;
	rs->n_made = 0;
}

void remote_free(struct remote_set *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		cluster_free(&rs->items[i]);
	free(rs->items);
	free(rs->gateways);
	free(rs->services);
	free(rs->peer_workloads);
	free(rs->peer_services);
	made_free(rs);
	memset(rs, 0, sizeof(*rs));
}

/* The change time of @dir/@file (zero when it is not there). */
static struct timespec mtime_of(const char *dir, const char *file)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (stat(path, &st) < 0)
		return (struct timespec){0};
	return st.st_mtim;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool cluster_due(const struct remote_cluster *rc)
{
	if (rc->api)
		return remote_api_pending(rc->api);
	if (!rc->dir)
		return false;
	return !rc->read_once || !same_time(rc->gen_mtime, mtime_of(rc->dir, "state/generation")) ||
	       !same_time(rc->rt_mtime, mtime_of(rc->dir, "runtime/pods.json"));
}

bool remote_due(const struct remote_set *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		if (cluster_due(&rs->items[i]))
			return true;
	return false;
}

static const struct config_service *find_service(const struct config *cfg, const char *ns,
						 const char *name)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		if (!strcmp(cfg->services[i].meta.namespace, ns) &&
		    !strcmp(cfg->services[i].meta.name, name))
			return &cfg->services[i];
	return NULL;
}

static bool is_global(const struct config_meta *m)
{
	const char *v = config_label_get(&m->labels, REMOTE_GLOBAL_LABEL);

	return v && !strcmp(v, "true");
}

static char *identity_of(const char *td, const char *ns, const char *sa)
{
	char *id = NULL;

	if (asprintf(&id, "spiffe://%s/ns/%s/sa/%s", td, ns, sa) < 0)
		return NULL;
	return id;
}

/* The LoadBalancer addresses local up gave Service @key ("ns/name"), from pods.json. */
static void lb_addresses(const cJSON *pods, const char *key, uint32_t *ip, struct ipaddr *ip6)
{
	const cJSON *v4 = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pods, "loadBalancerIPs"), key);
	const cJSON *v6 = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pods, "loadBalancerIPs6"), key);
	struct in_addr a;

	*ip = 0;
	memset(ip6, 0, sizeof(*ip6));
	if (cJSON_IsString(v4) && inet_pton(AF_INET, v4->valuestring, &a) == 1)
		*ip = a.s_addr;
	if (cJSON_IsString(v6) &&
	    (ipaddr_parse_addr(v6->valuestring, ip6) || ip6->family != AF_INET6))
		memset(ip6, 0, sizeof(*ip6));
}

/* The east-west gateways of @cfg that have an address, into @rc. */
static int read_gateways(struct remote_cluster *rc, const struct config *cfg, const cJSON *pods,
			 const char *td)
{
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++) {
		const struct config_k8s_gateway *g = &cfg->k8s_gateways[i];
		struct snap_net_gateway *ng;
		char key[300];
		uint32_t ip;
		struct ipaddr ip6;
		void *grown;

		if (!g->class_name || strcmp(g->class_name, CONFIG_EASTWEST_CLASS))
			continue;
		snprintf(key, sizeof(key), "%s/%s", g->meta.namespace, g->meta.name);
		lb_addresses(pods, key, &ip, &ip6);
		if (!ip && ip6.family != AF_INET6)
			continue; /* no balancer address yet: nothing to connect to */
		grown = realloc(rc->gateways, (rc->n_gateways + 1) * sizeof(*rc->gateways));
		if (!grown)
			return -ENOMEM;
		rc->gateways = grown;
		ng = &rc->gateways[rc->n_gateways];
		memset(ng, 0, sizeof(*ng));
		ng->ip = ip;
		ng->ip6 = ip6;
		ng->port = EASTWEST_PORT;
		ng->network = strdup(rc->network);
		ng->cluster = strdup(rc->name);
		ng->name = strdup(key);
		/* Its controller runs it as the service account of its name (gwdeploy.c). */
		ng->identity = identity_of(td, g->meta.namespace, g->meta.name);
		rc->n_gateways++;
		if (!ng->network || !ng->cluster || !ng->name || !ng->identity)
			return -ENOMEM;
	}
	return 0;
}

static const struct snap_service *desired_service(const struct desired *d, const char *ns,
						  const char *name)
{
	for (size_t i = 0; i < d->n_snap_services; i++)
		if (!strcmp(d->snap_services[i].namespace, ns) &&
		    !strcmp(d->snap_services[i].name, name))
			return &d->snap_services[i];
	return NULL;
}

static const struct snap_workload *desired_workload(const struct desired *d, uint32_t ip,
						    const struct ipaddr *ip6)
{
	for (size_t i = 0; i < d->n_snap_workloads; i++) {
		const struct snap_workload *w = &d->snap_workloads[i];

		if (ip ? w->ip == ip : ipaddr_equal(&w->ip6, ip6))
			return w;
	}
	return NULL;
}

/* Adds @id to @r's identities unless it is there. */
static int add_identity(struct snap_remote_service *r, const char *id)
{
	char **grown;

	for (size_t i = 0; i < r->n_identities; i++)
		if (!strcmp(r->identities[i], id))
			return 0;
	grown = realloc(r->identities, (r->n_identities + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	r->identities = grown;
	if (!(r->identities[r->n_identities] = strdup(id)))
		return -ENOMEM;
	r->n_identities++;
	return 0;
}

/* One global Service of the remote cluster: its share, from the remote's desired state. */
static int add_service(struct remote_cluster *rc, const struct snap_service *ss,
		       const struct desired *d)
{
	struct snap_remote_service *r;
	void *grown = realloc(rc->services, (rc->n_services + 1) * sizeof(*rc->services));
	size_t n = ss->nendpoints ? ss->nendpoints : ss->nendpoints6;

	if (!grown)
		return -ENOMEM;
	rc->services = grown;
	r = &rc->services[rc->n_services++];
	memset(r, 0, sizeof(*r));
	r->hostname = strdup(ss->hostname);
	r->cluster = strdup(rc->name);
	r->network = strdup(rc->network);
	r->ports = calloc(ss->nports + 1, sizeof(*r->ports));
	if (!r->hostname || !r->cluster || !r->network || !r->ports)
		return -ENOMEM;
	for (size_t i = 0; i < ss->nports; i++)
		r->ports[r->n_ports++] = ss->ports[i].port;
	/* Bound to a waypoint there: its gateway sends the Service's streams to it. */
	if (ss->waypoint && (!(r->waypoint = strdup(ss->waypoint->name)) ||
			     !(r->waypoint_identity = strdup(ss->waypoint->identity))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct snap_workload *w = ss->nendpoints
						    ? desired_workload(d, ss->endpoints[i], NULL)
						    : desired_workload(d, 0, &ss->endpoints6[i]);

		/* An endpoint outside the mesh takes no inner tunnel: not counted. */
		if (!w || !w->enrolled || !w->identity)
			continue;
		r->endpoints++;
		if (add_identity(r, w->identity))
			return -ENOMEM;
	}
	return 0;
}

/* One network: a copy of remote workload @w, named apart from this cluster's (remote.h). */
static int add_peer_workload(struct remote_cluster *rc, const struct snap_workload *w)
{
	struct snap_workload *c = &rc->peer_workloads[rc->n_peer_workloads++];

	memset(c, 0, sizeof(*c));
	if (asprintf(&c->uid, "%s/%s/%s", rc->name, w->namespace, w->name) < 0 ||
	    asprintf(&c->node, "%s/%s", rc->name, w->node ? w->node : "") < 0) {
		c->uid = c->node = NULL;
		return -ENOMEM;
	}
	c->name = strdup(w->name);
	c->namespace = strdup(w->namespace);
	c->service_account = strdup(w->service_account ? w->service_account : "default");
	c->identity = strdup(w->identity);
	c->workload_name = strdup(w->workload_name ? w->workload_name : w->name);
	c->app = strdup(w->app ? w->app : w->name);
	c->version = strdup(w->version ? w->version : "latest");
	c->canonical_service = strdup(w->canonical_service ? w->canonical_service : w->name);
	c->canonical_revision = strdup(w->canonical_revision ? w->canonical_revision : "latest");
	c->ip = w->ip;
	c->ip6 = w->ip6;
	c->enrolled = w->enrolled;
	return c->name && c->namespace && c->service_account && c->identity && c->workload_name &&
		       c->app && c->version && c->canonical_service && c->canonical_revision
		   ? 0
		   : -ENOMEM;
}

/*
 * One network: global Service @ss of the remote cluster as this cluster's pods reach it, its
 * hostname, ports and endpoints, and each endpoint's own port for every port (ep_ports).
 */
static int add_peer_service(struct remote_cluster *rc, const struct snap_service *ss)
{
	struct snap_service *c = &rc->peer_services[rc->n_peer_services++];
	size_t n4 = ss->nendpoints * ss->nports, n6 = ss->nendpoints6 * ss->nports;

	memset(c, 0, sizeof(*c));
	c->hostname = strdup(ss->hostname);
	c->endpoints = calloc(ss->nendpoints + 1, sizeof(*c->endpoints));
	c->endpoints6 = calloc(ss->nendpoints6 + 1, sizeof(*c->endpoints6));
	c->ep_ports = calloc(n4 + 1, sizeof(*c->ep_ports));
	c->ep_ports6 = calloc(n6 + 1, sizeof(*c->ep_ports6));
	if (!c->hostname || !c->endpoints || !c->endpoints6 || !c->ep_ports || !c->ep_ports6)
		return -ENOMEM;
	memcpy(c->endpoints, ss->endpoints, ss->nendpoints * sizeof(*c->endpoints));
	memcpy(c->endpoints6, ss->endpoints6, ss->nendpoints6 * sizeof(*c->endpoints6));
	c->nendpoints = ss->nendpoints;
	c->nendpoints6 = ss->nendpoints6;
	for (size_t p = 0; p < ss->nports; p++) {
		const struct snap_service_port *sp = &ss->ports[p];

		for (size_t e = 0; e < ss->nendpoints; e++)
			c->ep_ports[c->n_ep_ports++] =
			    (struct snap_ep_port){ss->endpoints[e], sp->port,
						  snapshot_endpoint_port(ss, sp, ss->endpoints[e])};
		for (size_t e = 0; e < ss->nendpoints6; e++)
			c->ep_ports6[c->n_ep_ports6++] = (struct snap_ep_port6){
			    ss->endpoints6[e], sp->port,
			    snapshot_endpoint_port6(ss, sp, &ss->endpoints6[e])};
	}
	return 0;
}

/*
 * One network: room for the remote's peer copies (read_services fills its global Services, one
 * per Service of @cfg at most), and its workloads, their IPv6 too (which dual-stack endpoints
 * reach), from its desired state @d.
 */
static int read_peer_workloads(struct remote_cluster *rc, const struct config *cfg,
			       const struct desired *d)
{
	int err = 0;

	rc->peer_workloads = calloc(d->n_snap_workloads + 1, sizeof(*rc->peer_workloads));
	rc->peer_services = calloc(cfg->n_services + 1, sizeof(*rc->peer_services));
	if (!rc->peer_workloads || !rc->peer_services)
		return -ENOMEM;
	for (size_t i = 0; !err && i < d->n_snap_workloads; i++) {
		const struct snap_workload *w = &d->snap_workloads[i];

		/*
		 * Those outside the mesh too, as a cluster's own snapshot has them: a waypoint's or
		 * a gateway's pod is a client of HBONE whose address the destination must know.
		 */
		if (w->identity && (w->ip || w->ip6.family == AF_INET6))
			err = add_peer_workload(rc, w);
	}
	return err;
}

static int no_ifindex(const char *name, void *ctx)
{
	(void)name;
	(void)ctx;
	return 0;
}

static uint64_t no_cgroup(const char *path, void *ctx)
{
	(void)path;
	(void)ctx;
	return 0;
}

/* The global Services of @cfg (with pods @rt) into @rc; with @peer, their and its pods' peer
 * copies too (one network: read_peer_workloads, add_peer_service). */
static int read_services(struct remote_cluster *rc, const struct config *cfg,
			 const struct runtime *rt, const char *td, bool peer)
{
	struct desired_env env = {
	    .node = "", /* no pod of it is this node's */
	    .trust_domain = td,
	    .ifindex_of = no_ifindex,
	    .cgroup_id_of = no_cgroup,
	};
	struct desired d;
	int err = desired_compute(cfg, rt, &env, &d);

	if (!err && peer)
		err = read_peer_workloads(rc, cfg, &d);
	for (size_t i = 0; !err && i < cfg->n_services; i++) {
		const struct config_service *cs = &cfg->services[i];
		const struct snap_service *ss;

		if (!is_global(&cs->meta))
			continue;
		ss = desired_service(&d, cs->meta.namespace, cs->meta.name);
		if (ss && ss->hostname)
			err = add_service(rc, ss, &d) ?: (peer ? add_peer_service(rc, ss) : 0);
	}
	desired_free(&d);
	return err;
}

/* The remote cluster's network: the label on its root namespace, else its cluster.json's. */
static void read_network(struct remote_cluster *rc, const struct config *cfg, const char *root_ns)
{
	const struct config_namespace *ns = config_find_namespace(cfg, root_ns);
	const char *v = ns ? config_label_get(&ns->meta.labels, CONFIG_LABEL_NETWORK) : NULL;
	char path[PATH_MAX], *text = NULL;
	size_t len;
	cJSON *cl = NULL;
	const cJSON *n;

	rc->network[0] = '\0';
	if (v && config_label_value_ok(v)) {
		snprintf(rc->network, sizeof(rc->network), "%s", v);
		return;
	}
	if (!rc->dir)
		return; /* an API server's cluster: the label alone */
	snprintf(path, sizeof(path), "%s/cluster.json", rc->dir);
	if (!fileutil_read_file(path, 1u << 20, &text, &len))
		cl = cJSON_ParseWithLength(text, len);
	n = cJSON_GetObjectItemCaseSensitive(cl, "network");
	if (cJSON_IsString(n) && config_label_value_ok(n->valuestring))
		snprintf(rc->network, sizeof(rc->network), "%s", n->valuestring);
	cJSON_Delete(cl);
	free(text);
}

/* The summary of config @cs and pods @rt (@pods: the same as JSON, for balancer addresses). */
static int summarize(struct remote_cluster *rc, const struct remote_env *env, struct confstore *cs,
		     const struct runtime *rt, const cJSON *pods)
{
	struct config view;
	int ret = confstore_view(cs, &view);

	if (ret)
		return ret;
	summary_free(rc);
	read_network(rc, &view, env->root_namespace);
	ret = read_gateways(rc, &view, pods, env->trust_domain)
		  ?: read_services(rc, &view, rt, env->trust_domain,
				   env->network && *env->network &&
				       !strcmp(rc->network, env->network));
	confstore_view_free(&view);
	return ret;
}

/* Reads the local cluster at rc->dir: manifests and pod list. 0, or -errno with rc->error. */
static int read_dir(struct remote_cluster *rc, const struct remote_env *env)
{
	struct runtime rt = {0};
	char path[PATH_MAX], err[256] = "", *text = NULL;
	struct timespec gen = mtime_of(rc->dir, "state/generation"),
			rtm = mtime_of(rc->dir, "runtime/pods.json");
	cJSON *pods = NULL;
	size_t len = 0;
	bool changed;
	int ret;

	/* Tried at these times: tried again once they move (a failure too). */
	rc->gen_mtime = gen;
	rc->rt_mtime = rtm;
	rc->read_once = true;
	snprintf(path, sizeof(path), "%s/cluster.json", rc->dir);
	if (access(path, R_OK)) {
		snprintf(rc->error, sizeof(rc->error), "%s: no local cluster there (%s)", rc->dir,
			 strerror(errno));
		return -ENOENT;
	}
	/* Kept from one read to the next: a file that did not change is not parsed again. */
	snprintf(path, sizeof(path), "%s/state", rc->dir);
	ret = confstore_reload(&rc->conf, path, &changed);
	if (ret) {
		snprintf(rc->error, sizeof(rc->error), "%.200s: %s", path, strerror(-ret));
		return ret;
	}
	/* Once, for the pods (runtime_parse) and the balancer addresses (cJSON) alike. */
	snprintf(path, sizeof(path), "%s/runtime/pods.json", rc->dir);
	ret = fileutil_read_file(path, 64u << 20, &text, &len);
	if (ret == -ENOENT)
		ret = 0; /* no pod started yet */
	else if (ret)
		snprintf(err, sizeof(err), "%s", strerror(-ret));
	else
		ret = runtime_parse(text, len, &rt, err, sizeof(err));
	if (ret) {
		snprintf(rc->error, sizeof(rc->error), "%.120s: %.170s", path, err);
		runtime_free(&rt);
		free(text);
		return ret;
	}
	if (text)
		pods = cJSON_ParseWithLength(text, len);
	free(text);
	ret = summarize(rc, env, &rc->conf, &rt, pods);
	if (ret)
		snprintf(rc->error, sizeof(rc->error), "%s: %s", rc->dir, strerror(-ret));
	cJSON_Delete(pods);
	runtime_free(&rt);
	return ret;
}

/* The lists an API server's reader took (remote_api.c), read as a directory is. */
static int read_lists(struct remote_cluster *rc, const struct remote_env *env, const char *lists)
{
	struct confstore cs = {0};
	struct runtime rt = {0};
	char err[256] = "", *pods_text = NULL;
	cJSON *pods = NULL;
	int ret = remote_api_convert(lists, &cs, &pods_text, err, sizeof(err));

	if (!ret)
		ret = runtime_parse(pods_text, strlen(pods_text), &rt, err, sizeof(err));
	if (!ret)
		pods = cJSON_Parse(pods_text);
	if (!ret) {
		ret = summarize(rc, env, &cs, &rt, pods);
		if (ret)
			snprintf(err, sizeof(err), "%s", strerror(-ret));
	}
	if (ret)
		snprintf(rc->error, sizeof(rc->error), "%.120s: %.170s", rc->server, err);
	cJSON_Delete(pods);
	free(pods_text);
	runtime_free(&rt);
	confstore_free(&cs);
	return ret;
}

/* Reads @rc where its server says, when its files moved; a failure keeps the last summary. */
static void read_cluster(struct remote_cluster *rc, const struct remote_env *env, bool *changed)
{
	char was[sizeof(rc->error)];

	memcpy(was, rc->error, sizeof(was));
	if (rc->api) {
		char err[300] = "", *lists = NULL;

		if (remote_api_pending(rc->api))
			lists = remote_api_take(rc->api, err, sizeof(err));
		if (err[0])
			snprintf(rc->error, sizeof(rc->error), "%.120s: %.170s", rc->server, err);
		if (lists && !read_lists(rc, env, lists)) {
			rc->error[0] = '\0';
			rc->synced = true;
			*changed = true;
			pr_info("remote cluster %s: network %s, %zu gateway(s), %zu global "
				"service(s)",
				rc->name, *rc->network ? rc->network : "(none)", rc->n_gateways,
				rc->n_services);
		}
		free(lists);
	} else if (!rc->dir) {
		if (!strncmp(rc->server, FILE_SCHEME, strlen(FILE_SCHEME)))
			snprintf(rc->error, sizeof(rc->error),
				 "server %.120s: not an absolute directory", rc->server);
		else if (!rc->error[0])
			snprintf(rc->error, sizeof(rc->error),
				 "server %.120s: neither a directory (file://) nor an API server "
				 "(https://)",
				 rc->server);
	} else if (cluster_due(rc)) {
		rc->error[0] = '\0';
		if (!read_dir(rc, env)) {
			rc->synced = true;
			*changed = true;
			pr_info("remote cluster %s: network %s, %zu gateway(s), %zu global "
				"service(s)",
				rc->name, *rc->network ? rc->network : "(none)", rc->n_gateways,
				rc->n_services);
		}
	}
	if (rc->error[0] && strcmp(was, rc->error))
		pr_warn("remote cluster %s (secret %s): %s; keeping what was read before", rc->name,
			rc->secret, rc->error);
}

/* FNV-1a of a remote secret's kubeconfig: whether it changed (its credentials). */
static uint64_t text_hash(const char *t, size_t len)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)t[i]) * 1099511628211ull;
	return h;
}

static struct remote_cluster *find_cluster(struct remote_set *rs, const char *name)
{
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->items[i].name, name))
			return &rs->items[i];
	return NULL;
}

/* The cluster @name of secret @sec with kubeconfig @kc: found or added, marked seen. */
static int take_secret(struct remote_set *rs, const struct config_secret *sec, const char *name,
		       const char *kc, size_t kc_len, bool *changed)
{
	struct remote_cluster *rc = find_cluster(rs, name);
	char server[1024], why[300], secret[300];
	const char *dir = NULL;
	void *grown;

	snprintf(secret, sizeof(secret), "%s/%s", sec->meta.namespace, sec->meta.name);
	if (kconn_kubeconfig_server(secret, kc, kc_len, server, sizeof(server), why, sizeof(why))) {
		if (!rc)
			pr_warn("remote secret %s: cluster %s: %s", secret, name, why);
		if (rc)
			rc->seen = true; /* keeps what it had */
		return 0;
	}
	if (!strncmp(server, FILE_SCHEME, strlen(FILE_SCHEME)))
		dir = server + strlen(FILE_SCHEME);
	if (rc && rc->seen)
		return 0; /* a second secret naming the cluster: the first one's */
	if (rc && !strcmp(rc->server, server)) {
		rc->seen = true;
		if (rc->kc_hash == text_hash(kc, kc_len))
			return 0;
		/*
		 * The same server with other credentials (a token rotated): a new reader with them,
		 * the summary kept meanwhile.
		 */
		rc->kc_hash = text_hash(kc, kc_len);
		if (rc->api) {
			remote_api_stop(rc->api);
			if (!(rc->api = remote_api_start(name, kc, kc_len, why, sizeof(why))))
				snprintf(rc->error, sizeof(rc->error), "%.280s", why);
			pr_info("remote cluster %s: secret %s changed: read with its new "
				"credentials",
				name, secret);
		}
		return 0;
	}
	if (rc) {
		/* Another server for the same cluster: read anew. */
		cluster_free(rc);
	} else {
		grown = realloc(rs->items, (rs->n + 1) * sizeof(*rs->items));
		if (!grown)
			return -ENOMEM;
		rs->items = grown;
		rc = &rs->items[rs->n++];
	}
	memset(rc, 0, sizeof(*rc));
	rc->seen = true;
	rc->kc_hash = text_hash(kc, kc_len);
	rc->name = strdup(name);
	rc->secret = strdup(secret);
	rc->server = strdup(server);
	rc->dir = dir ? strdup(dir) : NULL;
	*changed = true;
	if (!rc->name || !rc->secret || !rc->server || (dir && !rc->dir))
		return -ENOMEM;
	if (dir && dir[0] != '/') {
		free(rc->dir);
		rc->dir = NULL;
	}
	if ((!strncmp(server, "https://", 8) || !strncmp(server, "http://", 7)) &&
	    !(rc->api = remote_api_start(name, kc, kc_len, why, sizeof(why))))
		snprintf(rc->error, sizeof(rc->error), "%.280s", why);
	pr_info("remote cluster %s: from secret %s, server %s", name, secret, server);
	return 0;
}

static bool vip_taken(const struct remote_set *rs, uint32_t vip)
{
	for (size_t i = 0; i < rs->n_made; i++)
		if (rs->made[i].vip == vip)
			return true;
	return false;
}

/* A VIP of REMOTE_VIP_NET for @host: by its hash, then the next free one (never .0, .255). */
static uint32_t made_vip(const struct remote_set *rs, const char *host)
{
	uint32_t h = 2166136261u;

	for (const char *p = host; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (uint32_t i = 0; i < 65536; i++) {
		uint32_t ip = REMOTE_VIP_NET | ((h + i) & 0xffff);

		if ((ip & 0xff) == 0 || (ip & 0xff) == 0xff)
			continue;
		if (!vip_taken(rs, htonl(ip)))
			return htonl(ip);
	}
	return 0;
}

/* The Service of remote share @r made here (or its ports added to the one made already). */
static int make_service(struct remote_set *rs, const struct snap_remote_service *r, const char *ns,
			const char *name)
{
	struct snap_service *ss = NULL;
	void *grown;
	uint32_t vip;

	for (size_t i = 0; i < rs->n_made; i++)
		if (!strcmp(rs->made[i].hostname, r->hostname))
			ss = &rs->made[i];
	if (!ss) {
		vip = made_vip(rs, r->hostname);
		if (!vip)
			return 0; /* 65,536 of them: no more */
		grown = realloc(rs->made, (rs->n_made + 1) * sizeof(*rs->made));
		if (!grown)
			return -ENOMEM;
		rs->made = grown;
		ss = &rs->made[rs->n_made++];
		memset(ss, 0, sizeof(*ss));
		ss->vip = vip;
		ss->vip6 =
		    (struct ipaddr){.family = AF_INET6, .len = 128, .a = {0x20, 0x01, 0, 0x02}};
		ss->vip6.a[12] = 0xf1;
		ss->vip6.a[13] = 0xf1;
		memcpy(&ss->vip6.a[14], (const uint8_t *)&vip + 2, 2);
		ss->name = strdup(name);
		ss->namespace = strdup(ns);
		ss->hostname = strdup(r->hostname);
		if (!ss->name || !ss->namespace || !ss->hostname)
			return -ENOMEM;
	}
	for (size_t i = 0; i < r->n_ports; i++) {
		bool have = false;

		for (size_t j = 0; j < ss->nports; j++)
			have |= ss->ports[j].port == r->ports[i];
		if (have)
			continue;
		grown = realloc(ss->ports, (ss->nports + 1) * sizeof(*ss->ports));
		if (!grown)
			return -ENOMEM;
		ss->ports = grown;
		ss->ports[ss->nports] = (struct snap_service_port){.port = r->ports[i]};
		ss->ports[ss->nports].target_port = r->ports[i];
		if (!(ss->ports[ss->nports].name = strdup("")))
			return -ENOMEM;
		ss->nports++;
	}
	return 0;
}

/*
 * Whether a remote global Service @hostname stays out here: this cluster has the Service without
 * the global label (local scope, as Istio's), or the name is no Service's. Else its name and
 * namespace into @name and @ns, and *@mine this cluster's Service of them (NULL: none).
 */
static bool scoped_out(const struct config *local, const char *hostname, char *name, char *ns,
		       const struct config_service **mine)
{
	/* name.namespace.svc...: this cluster's Service of that name, if any. */
	if (sscanf(hostname, "%253[^.].%253[^.]", name, ns) != 2)
		return true;
	*mine = find_service(local, ns, name);
	return *mine && !is_global(&(*mine)->meta);
}

/* The merged summary: every cluster's, shallow. */
static int merge(struct remote_set *rs, const struct config *local)
{
	size_t ng = 0, nsvc = 0, nw = 0, np = 0;

	free(rs->gateways);
	free(rs->services);
	free(rs->peer_workloads);
	free(rs->peer_services);
	made_free(rs);
	rs->gateways = NULL;
	rs->services = NULL;
	rs->peer_workloads = NULL;
	rs->peer_services = NULL;
	rs->n_gateways = rs->n_services = rs->n_peer_workloads = rs->n_peer_services = 0;
	for (size_t i = 0; i < rs->n; i++) {
		ng += rs->items[i].n_gateways;
		nsvc += rs->items[i].n_services;
		nw += rs->items[i].n_peer_workloads;
		np += rs->items[i].n_peer_services;
	}
	rs->gateways = calloc(ng + 1, sizeof(*rs->gateways));
	rs->services = calloc(nsvc + 1, sizeof(*rs->services));
	rs->peer_workloads = calloc(nw + 1, sizeof(*rs->peer_workloads));
	rs->peer_services = calloc(np + 1, sizeof(*rs->peer_services));
	if (!rs->gateways || !rs->services || !rs->peer_workloads || !rs->peer_services)
		return -ENOMEM;
	for (size_t i = 0; i < rs->n; i++) {
		const struct remote_cluster *rc = &rs->items[i];

		for (size_t j = 0; j < rc->n_gateways; j++)
			rs->gateways[rs->n_gateways++] = rc->gateways[j];
		for (size_t j = 0; j < rc->n_services; j++) {
			const struct snap_remote_service *r = &rc->services[j];
			char ns[254], name[254];
			const struct config_service *mine = NULL;

			if (scoped_out(local, r->hostname, name, ns, &mine))
				continue;
			if (!mine && make_service(rs, r, ns, name))
				return -ENOMEM;
			rs->services[rs->n_services++] = *r;
		}
		for (size_t j = 0; j < rc->n_peer_workloads; j++)
			rs->peer_workloads[rs->n_peer_workloads++] = rc->peer_workloads[j];
		for (size_t j = 0; j < rc->n_peer_services; j++) {
			char ns[254], name[254];
			const struct config_service *mine;

			if (!scoped_out(local, rc->peer_services[j].hostname, name, ns, &mine))
				rs->peer_services[rs->n_peer_services++] = &rc->peer_services[j];
		}
	}
	return 0;
}

int remote_peer_endpoints(const struct remote_set *rs, struct snap_service *svc)
{
	size_t n4 = svc->nendpoints, n6 = svc->nendpoints6, q4 = svc->n_ep_ports,
	       q6 = svc->n_ep_ports6;
	struct snap_service out = *svc;
	bool any = false;

	for (size_t i = 0; svc->hostname && i < rs->n_peer_services; i++) {
		const struct snap_service *p = rs->peer_services[i];

		if (strcmp(p->hostname, svc->hostname))
			continue;
		any = true;
		n4 += p->nendpoints;
		n6 += p->nendpoints6;
		q4 += p->n_ep_ports;
		q6 += p->n_ep_ports6;
	}
	if (!any)
		return 0;
	out.endpoints = malloc((n4 + 1) * sizeof(*out.endpoints));
	out.endpoints6 = malloc((n6 + 1) * sizeof(*out.endpoints6));
	out.ep_ports = malloc((q4 + 1) * sizeof(*out.ep_ports));
	out.ep_ports6 = malloc((q6 + 1) * sizeof(*out.ep_ports6));
	if (!out.endpoints || !out.endpoints6 || !out.ep_ports || !out.ep_ports6) {
		remote_peer_endpoints_free(&out, svc);
		return -ENOMEM;
	}
	out.nendpoints = out.nendpoints6 = out.n_ep_ports = out.n_ep_ports6 = 0;
	for (size_t i = 0; i <= rs->n_peer_services; i++) {
		const struct snap_service *p = i ? rs->peer_services[i - 1] : svc;

		if (i && strcmp(p->hostname, svc->hostname))
			continue;
		/* This cluster's first, then each cluster's of its network. */
		memcpy(out.endpoints + out.nendpoints, p->endpoints,
		       p->nendpoints * sizeof(*p->endpoints));
		memcpy(out.endpoints6 + out.nendpoints6, p->endpoints6,
		       p->nendpoints6 * sizeof(*p->endpoints6));
		memcpy(out.ep_ports + out.n_ep_ports, p->ep_ports,
		       p->n_ep_ports * sizeof(*p->ep_ports));
		memcpy(out.ep_ports6 + out.n_ep_ports6, p->ep_ports6,
		       p->n_ep_ports6 * sizeof(*p->ep_ports6));
		out.nendpoints += p->nendpoints;
		out.nendpoints6 += p->nendpoints6;
		out.n_ep_ports += p->n_ep_ports;
		out.n_ep_ports6 += p->n_ep_ports6;
	}
	*svc = out;
	return 0;
}

void remote_peer_endpoints_free(struct snap_service *svc, const struct snap_service *orig)
{
	if (svc->endpoints != orig->endpoints)
		free(svc->endpoints);
	if (svc->endpoints6 != orig->endpoints6)
		free(svc->endpoints6);
	if (svc->ep_ports != orig->ep_ports)
		free(svc->ep_ports);
	if (svc->ep_ports6 != orig->ep_ports6)
		free(svc->ep_ports6);
}

int remote_sync(struct remote_set *rs, const struct config *local, const struct remote_env *env,
		bool *changed)
{
	int err = 0;

	for (size_t i = 0; i < rs->n; i++)
		rs->items[i].seen = false;
	for (size_t i = 0; !err && i < local->n_secrets; i++) {
		const struct config_secret *sec = &local->secrets[i];
		const char *v = config_label_get(&sec->meta.labels, REMOTE_SECRET_LABEL);

		if (strcmp(sec->meta.namespace, env->root_namespace) || !v || strcmp(v, "true"))
			continue;
		for (size_t j = 0; !err && j < sec->n; j++) {
			/* Istio skips a secret naming the cluster it runs in. */
			if (env->cluster_id && !strcmp(sec->items[j].key, env->cluster_id))
				continue;
			if (!config_label_value_ok(sec->items[j].key)) {
				pr_warn("remote secret %s/%s: \"%.80s\" is no cluster name",
					sec->meta.namespace, sec->meta.name, sec->items[j].key);
				continue;
			}
			err = take_secret(rs, sec, sec->items[j].key, sec->items[j].value,
					  sec->items[j].len, changed);
		}
	}
	/* Secrets deleted: their clusters go. */
	for (size_t i = 0; !err && i < rs->n;) {
		if (rs->items[i].seen) {
			i++;
			continue;
		}
		pr_info("remote cluster %s: its secret %s is gone", rs->items[i].name,
			rs->items[i].secret);
		cluster_free(&rs->items[i]);
		rs->items[i] = rs->items[--rs->n];
		*changed = true;
	}
	for (size_t i = 0; !err && i < rs->n; i++)
		read_cluster(&rs->items[i], env, changed);
	return err ?: merge(rs, local);
}

cJSON *remote_status(const struct remote_set *rs)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < rs->n; i++) {
		const struct remote_cluster *rc = &rs->items[i];
		cJSON *o = cJSON_CreateObject();
		const char *st = rc->error[0] ? "failed" : rc->synced ? "synced" : "syncing";

		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return NULL;
		}
		if (!cJSON_AddStringToObject(o, "cluster", rc->name) ||
		    !cJSON_AddStringToObject(o, "secret", rc->secret) ||
		    !cJSON_AddStringToObject(o, "server", rc->server) ||
		    !cJSON_AddStringToObject(o, "status", st) ||
		    (rc->error[0] && !cJSON_AddStringToObject(o, "error", rc->error)) ||
		    !cJSON_AddStringToObject(o, "network", rc->network) ||
		    !cJSON_AddNumberToObject(o, "gateways", (double)rc->n_gateways) ||
		    !cJSON_AddNumberToObject(o, "globalServices", (double)rc->n_services)) {
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}
