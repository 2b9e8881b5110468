// SPDX-License-Identifier: Apache-2.0
/*
 * Waiting for a change to be in force on every node: the node's agent has reconciled the
 * store's generation G (it reads state/generation before the manifests, so G in force means
 * every object written before G was seen), the node's ztunnel runs the snapshot that agent
 * published since, and so does each waypoint pod of the node that runs (its L7 config: routes,
 * rules).
 * What a node lacks is said by name when the wait runs out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ambit/ipc.h"
#include "local.h"

struct node_view {
	bool agent_up, ztunnel_up, waypoints_up;
	uint64_t generation, version, ztunnel_version;
	char why[160];
};

static bool json_u64(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

/*
 * Whether every waypoint instance in @res (the agent's status) runs the snapshot the agent
 * published to it; the first that does not is said in @v->why.
 */
static bool view_waypoints(const struct ctl_cluster *c, const cJSON *res, struct node_view *v)
{
	const cJSON *w;

	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(res, "waypoints"))
	{
		const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "pod"));
		char ns[CTL_NAME_MAX], netns[CTL_NAME_MAX * 2], err[600] = "", *body = NULL;
		uint64_t want, have = 0;
		const char *slash;
		int ret;

		if (!key || !(slash = strchr(key, '/')) || !json_u64(w, "version", &want)) {
			snprintf(v->why, sizeof(v->why), "agent status with a bad waypoint entry");
			return false;
		}
		if (!want) {
			snprintf(v->why, sizeof(v->why),
				 "the agent could not publish waypoint %s's config (see its log)",
				 key);
			return false;
		}
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
		cluster_pod_netns(c, ns, slash + 1, netns, sizeof(netns));
		ret = http_get_in_netns_err(netns, 15020, "/snapshot_version", &body, err,
					    sizeof(err));
		/*
		 * Nothing listens (the pod is not up yet, or runs no data plane): no stale routes
		 * to wait out, as a waypoint that starts takes the agent's current snapshot. One
		 * that listens but does not answer (hung, stopped) is waited for.
		 */
		if (ret == -ECONNREFUSED || ret == -ENOENT) {
			free(body);
			continue;
		}
		if (ret != 200 || !body || sscanf(body, "%" SCNu64, &have) != 1) {
			snprintf(v->why, sizeof(v->why), "waypoint %s not answering (%s)", key,
				 ret < 0 ? strerror(-ret) : "no snapshot version");
			free(body);
			return false;
		}
		free(body);
		if (have < want) {
			snprintf(v->why, sizeof(v->why),
				 "waypoint %s runs snapshot %" PRIu64
				 ", the agent published %" PRIu64,
				 key, have, want);
			return false;
		}
	}
	return true;
}

static void view_node(const struct ctl_cluster *c, const struct ctl_node *n, uint64_t gen,
		      struct node_view *v)
{
	char *reply = NULL, *body = NULL;
	cJSON *root = NULL;
	const cJSON *res;
	int ret;

	memset(v, 0, sizeof(*v));
	ret = ipc_request(n->socket, CTL_AGENT_STATUS_REQ, &reply);
	if (ret) {
		snprintf(v->why, sizeof(v->why), "agent not answering (%s)", strerror(-ret));
		goto out;
	}
	root = cJSON_Parse(reply);
	res = cJSON_GetObjectItemCaseSensitive(root, "result");
	if (!res || !json_u64(res, "configGeneration", &v->generation) ||
	    !json_u64(res, "version", &v->version)) {
		snprintf(v->why, sizeof(v->why), "agent status without a config generation");
		goto out;
	}
	v->agent_up = true;
	ret = http_get_in_netns(n->netns, 15000, "/snapshot_version", &body);
	if (ret != 200 || !body || sscanf(body, "%" SCNu64, &v->ztunnel_version) != 1) {
		snprintf(v->why, sizeof(v->why), "ztunnel not answering (%s)",
			 ret < 0 ? strerror(-ret) : "no snapshot version");
		goto out;
	}
	v->ztunnel_up = true;
	/* Asked only once the rest is in force (a stopped one costs the request's timeout). */
	if (v->generation >= gen && v->ztunnel_version >= v->version)
		v->waypoints_up = view_waypoints(c, res, v);
out:
	cJSON_Delete(root);
	free(reply);
	free(body);
}

/* In force on @n: the agent reconciled @gen and the ztunnel runs what the agent published. */
static bool in_force(const struct node_view *v, uint64_t gen)
{
	return v->agent_up && v->ztunnel_up && v->generation >= gen &&
	       v->ztunnel_version >= v->version && v->waypoints_up;
}

static void say_lag(const struct ctl_node *n, const struct node_view *v, uint64_t gen)
{
	if (!v->agent_up || (v->generation >= gen && (!v->ztunnel_up || !v->waypoints_up)))
		fprintf(stderr, "ambitctl: %s: %s\n", n->name, v->why);
	else if (v->generation < gen)
		fprintf(stderr,
			"ambitctl: %s: the agent has generation %" PRIu64 " in force, not %" PRIu64
			" (see ambitctl local status)\n",
			n->name, v->generation, gen);
	else
		fprintf(stderr,
			"ambitctl: %s: the ztunnel runs snapshot %" PRIu64 ", the agent published "
			"%" PRIu64 "\n",
			n->name, v->ztunnel_version, v->version);
}

int wait_generation(const struct ctl_cluster *c, uint64_t gen, int timeout_s, bool quiet)
{
	struct node_view v[CTL_MAX_NODES];
	struct timespec start, now;
	bool done[CTL_MAX_NODES] = {0};
	int left = c->nnodes;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		for (int i = 0; i < c->nnodes; i++) {
			if (done[i])
				continue;
			view_node(c, &c->nodes[i], gen, &v[i]);
			if (in_force(&v[i], gen)) {
				done[i] = true;
				left--;
			}
		}
		if (!left) {
			if (quiet)
				return 0;
			printf("%s %" PRIu64 " in force on %d node%s\n",
			       c->kube ? "resourceVersion" : "generation", gen, c->nnodes,
			       c->nnodes == 1 ? "" : "s");
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout_s || ctl_interrupted)
			break;
		usleep(100 * 1000);
	}
	fprintf(stderr,
		"ambitctl: applied, but generation %" PRIu64 " is not in force on every "
		"node after %ds:\n",
		gen, timeout_s);
	for (int i = 0; i < c->nnodes; i++)
		if (!done[i])
			say_lag(&c->nodes[i], &v[i], gen);
	return -ETIMEDOUT;
}
