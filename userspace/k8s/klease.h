/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Each node's Lease (issue 10 §2): on Kubernetes the agent's status socket is out of the user's
 * reach, so every agent says which capture mode it took (host or inpod: what --capture-mode auto
 * resolved to) and which version it runs in a coordination.k8s.io/v1 Lease ambit-node-<node> in
 * its own namespace, renewed every KLEASE_RENEW_S seconds for KLEASE_DURATION_S, as the kubelet
 * keeps its node's Lease in kube-node-lease. `ambitctl nodes` lists them: a Lease not renewed
 * within its duration is a node whose agent is gone or cut off from the API server.
 *
 *   metadata.name                     ambit-node-<node>
 *   metadata.labels                   app.kubernetes.io/part-of=ambit,
 *                                     app.kubernetes.io/component=node-agent (KLEASE_SELECTOR)
 *   metadata.annotations              ambit.io/capture-mode: host|inpod (absent while auto has
 *                                     not decided: no local pod yet), ambit.io/version
 *   spec.holderIdentity               <node>
 *   spec.leaseDurationSeconds         KLEASE_DURATION_S
 *   spec.acquireTime, spec.renewTime  MicroTime, "2026-11-24T06:00:00.000000Z"
 *
 * The API calls run on a thread of their own (as kevents'): the API server being slow or away
 * delays a renewal, never the agent's loop; a failure is logged once per outage and the next
 * period tries again. Nothing is deleted at exit: the Lease goes stale on its own, which is what
 * a node whose agent stopped should show.
 */
#ifndef AMBIT_AGENT_KLEASE_H
#define AMBIT_AGENT_KLEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "kconn.h"

#define KLEASE_RENEW_S 30
#define KLEASE_DURATION_S 90
#define KLEASE_NAME_PREFIX "ambit-node-"
#define KLEASE_SELECTOR "app.kubernetes.io/part-of=ambit,app.kubernetes.io/component=node-agent"
#define KLEASE_ANN_MODE "ambit.io/capture-mode"
#define KLEASE_ANN_VERSION "ambit.io/version"
#define KLEASE_API "/apis/coordination.k8s.io/v1"

struct klease;
struct cJSON;

/*
 * Starts keeping node @node's Lease in @conn's namespace ("ambit-system" when it names none,
 * as the workload directory's) with a copy of @conn; @version and @mode (as klease_set_mode's)
 * are copied. The first renewal comes at once. NULL + errno.
 */
struct klease *klease_start(const struct kconn *conn, const char *node, const char *version,
			    const char *mode);
/* The capture mode in force ("host", "inpod"; NULL: not known yet); a change is posted at once. */
void klease_set_mode(struct klease *kl, const char *mode);
/* Stops the thread (a call under way ends within its timeout); leaves the Lease. Accepts NULL. */
void klease_stop(struct klease *kl);

/*
 * The Lease to write at @now (+@usec): @cur as the API server last gave it (its resourceVersion,
 * and its acquireTime while @node held it, kept; whatever else it carries too), or NULL for a
 * new one in namespace @ns. @mode NULL leaves the capture-mode annotation out. Returns a new
 * object (the caller's), or NULL when out of memory.
 */
struct cJSON *klease_object(const struct cJSON *cur, const char *ns, const char *node,
			    const char *mode, const char *version, time_t now, long usec);
/* MicroTime of @t + @usec into @buf: 0, or -ENOSPC. */
int klease_time_format(time_t t, long usec, char *buf, size_t len);
/* An RFC 3339 time in UTC ("...Z", fraction optional) into *@t: 0, or -EINVAL. */
int klease_time_parse(const char *s, time_t *t);

/* What a listed Lease says of its node. */
struct klease_info {
	char node[256];	   /* spec.holderIdentity, else the name less its prefix */
	char ns[256];	   /* metadata.namespace */
	char mode[16];	   /* the annotation, or "" */
	char version[128]; /* the annotation, or "" */
	bool renewed;	   /* spec.renewTime is there and parses */
	time_t renew_time;
	long duration; /* spec.leaseDurationSeconds, 0 when absent */
};
/* Reads @lease (an item of a LeaseList). 0, or -EINVAL when it is not an object with a name. */
int klease_read(const struct cJSON *lease, struct klease_info *out);
/* Whether the Lease is in force at @now: renewed less than its duration ago. */
bool klease_ready(const struct klease_info *i, time_t now);
/* @secs as kubectl prints an age ("12s", "3m10s", "5h", "2d3h"); negative is "0s". */
void klease_age(long long secs, char *buf, size_t len);

#endif
