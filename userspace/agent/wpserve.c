// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "ambit/json_memo.h"
#include "ambit/l7.h"
#include "ambit/log.h"
#include "wpserve.h"

#define GATEWAY_NAME_LABEL "gateway.networking.k8s.io/gateway-name"

struct wp_inst {
	char *key;	/* "ns/pod" */
	char *wp;	/* "ns/name" of its waypoint */
	char *identity; /* the waypoint's */
	char *dir;	/* agentDir */
	char *cgroup;	/* the pod's, for the peer check */
	bool gateway;	/* of an ingress gateway proxy (wp names it), not a waypoint */
	struct server *srv;
	struct server_ops ops;
	char
	    *published; /* the last snapshot published: what changed is compared, but its version */
	uint64_t version; /* of the last snapshot published to it, 0 before the first */
	bool seen;	  /* wanted by the sync in progress */
};

struct wpserve {
	size_t n, n_retired;
	struct wp_inst **insts;
	struct server **retired; /* destroyed after the current batch (wpserve_reap) */
	struct cert_store certs; /* the waypoints' identities, apart from the node's */
	/*
	 * The waypoints' snapshots' elements (json_memo.h): theirs, not the node snapshot's memo,
	 * which also holds the policies they do not carry (an encoding sweeps what it left out).
	 */
	struct json_memo *memo;
};

/* Whether @pid is listed in the cgroup.procs of @dir or a cgroup below it (@depth levels more). */
static bool pid_in_subtree(const char *dir, pid_t pid, int depth)
{
	char path[PATH_MAX];
	struct dirent *e;
	bool found = false;
	long p;
	DIR *d;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return false;
	f = fopen(path, "re");
	while (f && !found && fscanf(f, "%ld", &p) == 1)
		found = p == pid;
	if (f)
		fclose(f);
	d = found || depth <= 0 ? NULL : opendir(dir);
	while (d && !found && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
			found = pid_in_subtree(path, pid, depth - 1);
	}
	if (d)
		closedir(d);
	return found;
}

bool wpserve_peer_in_cgroup(int fd, const char *cgroup, char *why, size_t len)
{
	struct ucred cr;
	socklen_t sl = sizeof(cr);
	char path[64], line[4200], *rel = NULL;
	size_t n, clen;
	FILE *f;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) < 0) {
		snprintf(why, len, "SO_PEERCRED: %s", strerror(errno));
		return false;
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)cr.pid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(why, len, "pid %d: %s", (int)cr.pid, strerror(errno));
		return false;
	}
	/* cgroup v2: the one line "0::/path" (relative to the hierarchy's root). */
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			rel = line + 3;
			rel[strcspn(rel, "\n")] = '\0';
			break;
		}
	fclose(f);
	n = rel ? strlen(rel) : 0;
	clen = strlen(cgroup);
	/* @cgroup is <mount point><pod path>: the process's path must be the pod's or below. */
	for (size_t cut = 0; rel && n > 1 && cut < clen; cut++) {
		const char *pod = cgroup + cut;
		size_t plen = clen - cut;

		if (*pod != '/' || plen > n || strncmp(rel, pod, plen) != 0)
			continue;
		if (rel[plen] == '\0' || rel[plen] == '/')
			return true;
	}
	/*
	 * The paths differ when the agent's cgroup mount or namespace is not the hierarchy's root
	 * (a container with cgroupns=private, a node's cgroup mounted as /sys/fs/cgroup): the
	 * pod's cgroup files list its processes whatever the view.
	 */
	if (pid_in_subtree(cgroup, cr.pid, 4))
		return true;
	snprintf(why, len, "pid %d runs in cgroup %s, not in the pod's %s", (int)cr.pid,
		 rel ? rel : "(unknown)", cgroup);
	return false;
}

static bool inst_admit(void *ctx, int fd, char *why, size_t len)
{
	const struct wp_inst *in = ctx;
	char sub[300];

	if (!in->cgroup) {
		snprintf(why, len, "waypoint %s: the pod list gives no cgroup", in->key);
		return false;
	}
	if (wpserve_peer_in_cgroup(fd, in->cgroup, sub, sizeof(sub)))
		return true;
	snprintf(why, len, "waypoint %s: %s", in->key, sub);
	return false;
}

static char *inst_get(void *ctx, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "a waypoint's socket answers \"watch\" only");
	return NULL;
}

static void inst_retire(struct wpserve *ws, struct wp_inst *in)
{
	char path[4200];

	if (in->srv) {
		snprintf(path, sizeof(path), "%s/%s", in->dir, WPSERVE_SOCKET);
		unlink(path);
		ws->retired[ws->n_retired++] = in->srv;
	}
	free(in->key);
	free(in->wp);
	free(in->identity);
	free(in->dir);
	free(in->cgroup);
	free(in->published);
	free(in);
}

static struct wp_inst *inst_find(struct wpserve *ws, const char *key)
{
	for (size_t i = 0; i < ws->n; i++)
		if (!strcmp(ws->insts[i]->key, key))
			return ws->insts[i];
	return NULL;
}

/* Opens @in's socket (once), making its directory if the pod's owner has not yet. */
static int inst_listen(struct agent *a, struct wp_inst *in)
{
	char path[4200];

	char parent[4200], *slash;

	if (in->srv)
		return 0;
	/* The pod's directory too: the agent may get there before the kubelet starts the pod. */
	snprintf(parent, sizeof(parent), "%s", in->dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	if (mkdir(in->dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", in->dir, WPSERVE_SOCKET);
	in->ops = (struct server_ops){.get = inst_get, .admit = inst_admit, .ctx = in};
	in->srv = server_create(path, a->epfd, &in->ops);
	return in->srv ? 0 : -errno;
}

/* Takes in a wanted instance: a new one, or the existing one updated. 0 or -ENOMEM. */
static int want(struct wpserve *ws, const struct rt_pod *p, const struct l7_waypoint *w)
{
	struct wp_inst *in, **grown;
	char key[600], wp[600];

	snprintf(key, sizeof(key), "%s/%s", p->namespace, p->name);
	snprintf(wp, sizeof(wp), "%s/%s", w->namespace, w->name);
	in = inst_find(ws, key);
	/* Another directory or waypoint is another instance: the old one goes. */
	if (in && (strcmp(in->dir, p->agent_dir) || strcmp(in->wp, wp) ||
		   strcmp(in->identity, w->identity) || in->gateway != w->gateway)) {
		for (size_t i = 0; i < ws->n; i++)
			if (ws->insts[i] == in)
				ws->insts[i] = ws->insts[--ws->n];
		inst_retire(ws, in);
		in = NULL;
	}
	if (!in) {
		grown = realloc(ws->insts, (ws->n + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		ws->insts = grown;
		in = calloc(1, sizeof(*in));
		if (!in)
			return -ENOMEM;
		in->key = strdup(key);
		in->wp = strdup(wp);
		in->identity = strdup(w->identity);
		in->dir = strdup(p->agent_dir);
		in->gateway = w->gateway;
		if (!in->key || !in->wp || !in->identity || !in->dir) {
			free(in->key);
			free(in->wp);
			free(in->identity);
			free(in->dir);
			free(in);
			return -ENOMEM;
		}
		ws->insts[ws->n++] = in;
	}
	free(in->cgroup);
	in->cgroup = p->cgroup ? strdup(p->cgroup) : NULL;
	in->seen = true;
	return 0;
}

/*
 * Proxy @ns/@name of @b, or NULL: an ingress gateway proxy (@gateway), else a waypoint or an
 * east-west gateway (the Gateway API Gateways whose instances carry their name).
 */
static const struct l7_waypoint *find_waypoint(const struct l7_bindings *b, const char *ns,
					       const char *name, bool gateway)
{
	size_t n = gateway ? b->n_gateways : b->n_waypoints;
	const struct l7_waypoint *w = gateway ? b->gateways : b->waypoints;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(w[i].namespace, ns) && !strcmp(w[i].name, name))
			return &w[i];
	for (size_t i = 0; !gateway && i < b->n_east_west; i++)
		if (!strcmp(b->east_west[i].namespace, ns) && !strcmp(b->east_west[i].name, name))
			return &b->east_west[i];
	return NULL;
}

/* @in's snapshot, encoded with @version; NULL on a failure (logged). */
static char *inst_encode(const struct agent *a, const struct wpserve *ws,
			 const struct waypoint_view *v, const struct wp_inst *in, uint64_t version)
{
	const struct cert_entry *ce = cert_store_find(&ws->certs, in->identity);
	const struct l7_waypoint *w;
	struct snap_cert cert;
	struct snapshot s;
	char ns[300], *name, *json;

	snprintf(ns, sizeof(ns), "%s", in->wp);
	name = strchr(ns, '/');
	if (!name)
		return NULL;
	*name++ = '\0';
	w = find_waypoint(&v->b, ns, name, in->gateway);
	if (!w)
		return NULL;
	memset(&s, 0, sizeof(s));
	s.version = version;
	s.node = (char *)a->opts.node;
	s.node_ip = a->opts.node_ip;
	s.trust_domain = (char *)a->opts.trust_domain;
	s.cluster_id = (char *)a->opts.cluster_id;
	s.network = (char *)a->network;
	s.n_trust_domain_aliases = a->n_td_aliases;
	s.trust_domain_aliases = (char **)a->td_aliases;
	s.root_pem = (char *)agent_root_pem(a);
	s.n_workloads = a->cur.n_snap_workloads;
	s.workloads = a->cur.snap_workloads;
	s.n_services = a->cur.n_snap_services;
	s.services = a->cur.snap_services;
	/* Other networks: what the waypoint balances a global Service's requests over too. */
	s.n_net_gateways = a->remote.n_gateways;
	s.net_gateways = a->remote.gateways;
	s.n_remote_services = a->remote.n_services;
	s.remote_services = a->remote.services;
	if (ce) {
		cert = (struct snap_cert){.identity = ce->identity,
					  .cert_pem = ce->issued.cert_pem,
					  .key_pem = ce->issued.key_pem,
					  .not_before = ce->issued.not_before,
					  .not_after = ce->issued.not_after};
		s.certs = &cert;
		s.n_certs = 1;
	}
	s.l7 = l7_compile(&v->in, &v->b, w);
	if (!s.l7) {
		pr_err("waypoint %s: cannot compile its L7 config: %s", in->wp, strerror(errno));
		return NULL;
	}
	/* The same network's other clusters: their pods, which the waypoint reaches directly. */
	json = agent_view_peers(a, &s) ? NULL : snapshot_encode_memo(&s, ws->memo);
	agent_view_peers_free(a, &s);
	l7_config_free(s.l7);
	return json;
}

static void inst_publish(struct agent *a, struct wpserve *ws, const struct waypoint_view *v,
			 struct wp_inst *in)
{
	/* Encoded once, as the next version, which it becomes only if anything else changed. */
	char *json = inst_encode(a, ws, v, in, a->version + 1);
	int err;

	if (!json)
		return;
	if (in->published && in->srv && snapshot_same_but_version(json, in->published)) {
		free(json);
		return;
	}
	err = inst_listen(a, in);
	if (err) {
		pr_err("waypoint %s: cannot serve %s/%s: %s", in->key, in->dir, WPSERVE_SOCKET,
		       strerror(-err));
		free(json);
		return;
	}
	if (server_publish(in->srv, json, strlen(json))) {
		pr_err("waypoint %s: cannot publish its snapshot", in->key);
		free(json);
		return;
	}
	in->version = agent_next_version(a);
	pr_info("waypoint %s (%s): snapshot version %llu", in->key, in->wp,
		(unsigned long long)in->version);
	free(in->published);
	in->published = json;
}

bool wpserve_instance(const struct agent *a, size_t i, const char **pod, uint64_t *version)
{
	const struct wpserve *ws = a->wps;

	if (!ws || i >= ws->n)
		return false;
	*pod = ws->insts[i]->key;
	*version = ws->insts[i]->version;
	return true;
}

const struct cert_store *wpserve_certs(const struct agent *a)
{
	return a->wps ? &a->wps->certs : NULL;
}

void wpserve_sync(struct agent *a, const struct config *cfg, const struct waypoint_view *given)
{
	struct wpserve *ws = a->wps;
	struct waypoint_view own = {0};
	const struct waypoint_view *v = given;
	char **ids = NULL;
	size_t nids = 0;
	bool changed;
	int err;

	if (!ws) {
		ws = a->wps = calloc(1, sizeof(*ws));
		if (!ws) {
			pr_err("waypoints: out of memory");
			return;
		}
		ws->memo = json_memo_new(); /* NULL: each encoding from scratch */
	}
	err = v ? 0
		: waypoint_view_build(&own, cfg, &a->rt, a->opts.trust_domain,
				      a->jwks ? jwks_fetcher_get : NULL, a->jwks);
	if (!v)
		v = &own;
	for (size_t i = 0; i < ws->n; i++)
		ws->insts[i]->seen = false;
	for (size_t i = 0; !err && i < a->rt.n_pods; i++) {
		const struct rt_pod *p = &a->rt.pods[i];
		const char *gw = config_label_get(&p->labels, GATEWAY_NAME_LABEL);
		const struct l7_waypoint *w;

		if (!p->node || strcmp(p->node, a->opts.node))
			continue;
		/* A waypoint's instance, else a pod that Istio Gateways select. */
		w = gw ? find_waypoint(&v->b, p->namespace, gw, false) : NULL;
		if (!w)
			w = l7_bindings_gateway_of(&v->b, p->namespace, p->name);
		if (!w)
			continue;
		if (!p->agent_dir) {
			pr_warn("waypoint pod %s/%s has no agentDir: it cannot get its config",
				p->namespace, p->name);
			continue;
		}
		err = want(ws, p, w);
	}
	/* The retired list needs room for every instance that may go now. */
	if (!err) {
		struct server **r = realloc(ws->retired, (ws->n_retired + ws->n + 1) * sizeof(*r));

		if (r)
			ws->retired = r;
		else
			err = -ENOMEM;
	}
	if (err) {
		pr_err("waypoints: %s; serving them as before", strerror(-err));
		waypoint_view_free(&own);
		return;
	}
	for (size_t i = 0; i < ws->n;) {
		if (ws->insts[i]->seen) {
			i++;
			continue;
		}
		pr_info("waypoint %s: no longer an instance here", ws->insts[i]->key);
		inst_retire(ws, ws->insts[i]);
		ws->insts[i] = ws->insts[--ws->n];
	}
	ids = calloc(ws->n + 1, sizeof(*ids));
	for (size_t i = 0; ids && i < ws->n; i++)
		ids[nids++] = ws->insts[i]->identity;
	if (!ids || cert_store_sync(&ws->certs, ids, nids, time(NULL), agent_issue, a, &changed))
		pr_err("waypoint certificates: out of memory; retrying later");
	free(ids);
	for (size_t i = 0; i < ws->n; i++)
		inst_publish(a, ws, v, ws->insts[i]);
	waypoint_view_free(&own);
}

void wpserve_reap(struct agent *a)
{
	struct wpserve *ws = a->wps;

	if (!ws)
		return;
	for (size_t i = 0; i < ws->n_retired; i++)
		server_destroy(ws->retired[i]);
	ws->n_retired = 0;
	for (size_t i = 0; i < ws->n; i++)
		if (ws->insts[i]->srv)
			server_reap(ws->insts[i]->srv);
}

void wpserve_free(struct agent *a)
{
	struct wpserve *ws = a->wps;

	if (!ws)
		return;
	free(ws->retired);
	ws->retired = calloc(ws->n + 1, sizeof(*ws->retired));
	ws->n_retired = 0;
	while (ws->n && ws->retired)
		inst_retire(ws, ws->insts[--ws->n]);
	wpserve_reap(a);
	free(ws->retired);
	free(ws->insts);
	cert_store_free(&ws->certs);
	json_memo_free(ws->memo);
	free(ws);
	a->wps = NULL;
}

time_t wpserve_next_cert_deadline(const struct agent *a)
{
	return a->wps ? cert_store_next_deadline(&a->wps->certs) : 0;
}
