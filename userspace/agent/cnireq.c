// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's side of ambit-cni (userspace/cni): {"op":"cni","cmd":"add"|"del"|"check",
 * "namespace","name","container","netns","ips":[...]} on the agent socket (ipc.h), held by the
 * server until the pod's capture is in force (server_ops.cni).
 *
 * A pod's capture is in force when the last reconcile applied it without a failure: in host
 * mode its cgroup in the enrolled map (outbound) and the tc program on its host-side veth
 * (inbound); in in-pod mode the pod marked in-pod once every ztunnel listens in its netns
 * (inpod.h). Until the agent has its config (no reconcile yet) it cannot judge a namespace, and
 * holds every pod, as istio-cni holds pods until its node agent is ready.
 *
 * ADD also leaves the pod's address from the chain's prevResult and its CNI_NETNS with the
 * agent: on Kubernetes the Pod object shows its IP only after the sandbox is up, which is after
 * this ADD returns, so the agent enrolls the pod by that address meanwhile
 * (ksource_set_ip_hint); and runtimes start the sandbox's first process only after the chain,
 * so the pod's namespace is found at that path rather than from its cgroup's processes
 * (podns_at). ambit-cni sends the namespace open along with the request: the agent of a
 * DaemonSet sees neither the runtime's /var/run/netns nor the node's processes, and an open
 * namespace is the one the runtime made, whatever became of its path. The agent holds it until
 * DEL, which the runtime runs before it deletes the namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "agent.h"
#include "ambit/log.h"

enum cni_judgement { CNI_OUTSIDE, CNI_CAPTURED, CNI_UNKNOWN };

static struct agent_cni_hint *hint_find(struct agent *a, const char *ns, const char *name)
{
	for (size_t i = 0; i < a->n_cni_hints; i++)
		if (!strcmp(a->cni_hints[i].ns, ns) && !strcmp(a->cni_hints[i].name, name))
			return &a->cni_hints[i];
	return NULL;
}

static void hint_set_fd(struct agent_cni_hint *h, int *fd)
{
	if (*fd < 0)
		return;
	if (h->nsfd >= 0)
		close(h->nsfd);
	h->nsfd = *fd;
	*fd = -1;
	snprintf(h->fdpath, sizeof(h->fdpath), "/proc/self/fd/%d", h->nsfd);
}

/*
 * Remembers @ip, @netns and the namespace sent open (*@fd, taken) for the pod; true when that
 * is news (a reconcile takes it up). A held ADD is asked again with no descriptor: it keeps
 * the one it came with.
 */
static bool hint_set(struct agent *a, const char *ns, const char *name, const struct ipaddr *ip,
		     const char *netns, int *fd)
{
	struct agent_cni_hint *h = hint_find(a, ns, name), *p;
	char *ns_copy = netns && netns[0] ? strdup(netns) : NULL;

	if (h) {
		bool changed = !ipaddr_equal(&h->ip, ip) || !h->netns != !ns_copy ||
			       (ns_copy && strcmp(h->netns, ns_copy)) || *fd >= 0;

		h->ip = *ip;
		free(h->netns);
		h->netns = ns_copy;
		hint_set_fd(h, fd);
		return changed;
	}
	p = realloc(a->cni_hints, (a->n_cni_hints + 1) * sizeof(*p));
	if (!p)
		return false;
	a->cni_hints = p;
	h = &p[a->n_cni_hints];
	h->ns = strdup(ns);
	h->name = strdup(name);
	h->netns = ns_copy;
	h->nsfd = -1;
	h->ip = *ip;
	if (!h->ns || !h->name) {
		free(h->ns);
		free(h->name);
		free(h->netns);
		return false;
	}
	hint_set_fd(h, fd);
	a->n_cni_hints++;
	return true;
}

static void hint_free(struct agent_cni_hint *h)
{
	free(h->ns);
	free(h->name);
	free(h->netns);
	if (h->nsfd >= 0)
		close(h->nsfd);
}

static void hint_drop(struct agent *a, const char *ns, const char *name)
{
	struct agent_cni_hint *h = hint_find(a, ns, name);

	if (!h)
		return;
	hint_free(h);
	*h = a->cni_hints[--a->n_cni_hints];
}

/* The pod's namespace as the agent can open it: the one sent open, else the runtime's path. */
static const char *hint_netns(const struct agent_cni_hint *h)
{
	return h->nsfd >= 0 ? h->fdpath : h->netns;
}

bool agent_cni_ip_hint(void *ctx, const char *ns, const char *name, struct ipaddr *ip,
		       const char **netns)
{
	struct agent_cni_hint *h = hint_find(ctx, ns, name);

	*netns = h ? hint_netns(h) : NULL;
	if (h)
		*ip = h->ip;
	return h != NULL;
}

const char *agent_cni_netns(void *ctx, const char *uid)
{
	const char *slash = strchr(uid, '/');
	struct agent *a = ctx;

	for (size_t i = 0; slash && i < a->n_cni_hints; i++) {
		const struct agent_cni_hint *h = &a->cni_hints[i];

		if (strlen(h->ns) == (size_t)(slash - uid) && !strncmp(h->ns, uid, slash - uid) &&
		    !strcmp(h->name, slash + 1))
			return hint_netns(h);
	}
	return NULL;
}

void agent_cni_free(struct agent *a)
{
	for (size_t i = 0; i < a->n_cni_hints; i++)
		hint_free(&a->cni_hints[i]);
	free(a->cni_hints);
	a->cni_hints = NULL;
	a->n_cni_hints = 0;
}

/* Whether the mesh captures the pod: its namespace's label, and its own when the pod is known. */
static enum cni_judgement judge(struct agent *a, const char *ns, const char *name)
{
	struct config_pod view = {0};
	struct config cfg;
	bool enrolled;

	if (!a->have_cur || confstore_view(&a->conf, &cfg))
		return CNI_UNKNOWN;
	view.meta.namespace = (char *)ns;
	view.meta.name = (char *)name;
	for (size_t i = 0; i < a->rt.n_pods; i++) {
		const struct rt_pod *p = &a->rt.pods[i];

		if (!strcmp(p->namespace, ns) && !strcmp(p->name, name)) {
			view.meta.labels = p->labels;
			break;
		}
	}
	enrolled = config_pod_enrolled(&cfg, &view);
	confstore_view_free(&cfg);
	return enrolled ? CNI_CAPTURED : CNI_OUTSIDE;
}

/* Whether the chain's @ips hold @lp's address: its IPv4 one, an IPv6-only pod's IPv6 one. */
static bool has_ip(const cJSON *ips, const struct desired_local_pod *lp)
{
	struct ipaddr want, got;
	const cJSON *it;

	if (!cJSON_GetArraySize(ips))
		return true; /* the chain gave no address: any of the pod's will do */
	if (lp->ip)
		ipaddr_from_v4(&want, lp->ip);
	else
		want = lp->ip6;
	cJSON_ArrayForEach(it, ips) if (cJSON_IsString(it) &&
					!ipaddr_parse_addr(it->valuestring, &got) &&
					ipaddr_equal(&got, &want)) return true;
	return false;
}

/*
 * The pod's capture in force (see the top of the file), with the address the chain gave it: a
 * pod made again under the same name is not the one the maps hold until they hold its new IP.
 */
static bool in_force(const struct agent *a, const char *uid, const cJSON *ips)
{
	const struct desired_local_pod *lp = NULL;

	if (a->apply_errors)
		return false;
	for (size_t i = 0; i < a->cur.n_local && !lp; i++)
		if (!strcmp(a->cur.local[i].uid, uid))
			lp = &a->cur.local[i];
	if (!lp || !lp->enrolled || !has_ip(ips, lp))
		return false;
	if (a->capture == CAPTURE_INPOD)
		return lp->inpod;
	if (a->capture != CAPTURE_HOST)
		return false; /* auto, not decided yet */
	if (!lp->cgroup_id || !lp->ifindex)
		return false;
	for (size_t i = 0; i < a->n_tc; i++)
		if (a->tc_ifindexes[i] == lp->ifindex)
			return true;
	return false;
}

/*
 * The pod's address among the chain's @ips (in *@ip): the first IPv4 one, else (an IPv6-only
 * pod) the first IPv6 one; its text, or NULL.
 */
static const char *first_addr(const cJSON *ips, struct ipaddr *ip)
{
	for (int family = AF_INET; family; family = family == AF_INET ? AF_INET6 : 0) {
		const cJSON *it;

		cJSON_ArrayForEach(it, ips) if (cJSON_IsString(it) &&
						!ipaddr_parse_addr(it->valuestring, ip) &&
						ip->family == family) return it->valuestring;
	}
	return NULL;
}

static const char *str_field(const cJSON *req, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *agent_cni(void *ctx, const struct cJSON *req, int *fd, char *err, size_t errlen)
{
	struct agent *a = ctx;
	const char *cmd = str_field(req, "cmd"), *ns = str_field(req, "namespace");
	const char *name = str_field(req, "name");
	const cJSON *ips = cJSON_GetObjectItemCaseSensitive(req, "ips");
	const char *netns = str_field(req, "netns");
	enum cni_judgement j;
	struct ipaddr ip = {0};
	char uid[512];
	const char *addr;
	char *res;

	if (!cmd || !ns || !ns[0] || !name || !name[0] || (ips && !cJSON_IsArray(ips))) {
		snprintf(err, errlen, "cni: want cmd, namespace, name (strings) and ips (a list)");
		return NULL;
	}
	snprintf(uid, sizeof(uid), "%s/%s", ns, name);
	if (!strcmp(cmd, "del")) {
		hint_drop(a, ns, name);
		res = strdup("{\"released\":true}");
		if (!res)
			snprintf(err, errlen, "cni: out of memory");
		return res;
	}
	if (strcmp(cmd, "add") && strcmp(cmd, "check")) {
		snprintf(err, errlen, "cni: unknown cmd (want add, del or check)");
		return NULL;
	}
	j = judge(a, ns, name);
	addr = first_addr(ips, &ip);
	if (!strcmp(cmd, "add") && j != CNI_OUTSIDE && addr &&
	    hint_set(a, ns, name, &ip, netns, fd)) {
		pr_info("cni: pod %s (%s) added by the runtime; capturing it", uid, addr);
		if (a->inpod.kick)
			a->inpod.kick(a->inpod.kick_arg);
	}
	if (j == CNI_OUTSIDE)
		res = strdup("{\"captured\":false}");
	else if (in_force(a, uid, ips))
		res = strdup("{\"captured\":true}");
	else if (!strcmp(cmd, "check"))
		return snprintf(err, errlen, "pod %s: not captured yet", uid), NULL;
	else
		return NULL; /* held: asked again after the next reconcile */
	if (!res)
		snprintf(err, errlen, "cni: out of memory");
	return res;
}
