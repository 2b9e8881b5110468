/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Events for the objects the agent rejects (issue 10 §1): an Istio object that fails validation
 * keeps its last good version in force and is named in the log and the status; a user looking at
 * the cluster (`kubectl describe`, `kubectl get events`) sees a Warning Event "Rejected" on the
 * object saying which field and why, as Kubernetes' own controllers report.
 *
 * Every node's agent validates the same object the same way: the Event's name is a hash of the
 * object's uid, resourceVersion and the reasons, so all agents post the same Event and the API
 * server keeps the first (the others get 409 Conflict): one Event per rejected version, whatever
 * the number of nodes. Posting runs on a thread of its own with a bounded queue: the API server
 * being slow or away delays or drops Events (logged), never the agent's loop.
 */
#ifndef AMBIT_AGENT_KEVENTS_H
#define AMBIT_AGENT_KEVENTS_H

#include <time.h>

#include "ambit/config.h"
#include "kconn.h"

struct kevents;
struct cJSON;

/* Starts the poster with a copy of @conn. NULL + errno. */
struct kevents *kevents_start(const struct kconn *conn);
/*
 * Queues the Event for object @json (as the API served it; @api_version and @kind stand in for
 * a missing TypeMeta) rejected with the error diagnostics of @d (warnings are not reasons). An
 * Event already posted (same name) is not queued again.
 */
void kevents_rejected(struct kevents *ev, const char *json, const char *api_version,
		      const char *kind, const struct config_diags *d);
void kevents_stop(struct kevents *ev); /* accepts NULL */
/*
 * The Event (core/v1) for that rejection at @now, with its namespace in @ns (the object's, or
 * "default" for a cluster-scoped one): NULL when @json is not an object with a name or @d holds
 * no error.
 */
struct cJSON *kevents_event(const char *json, const char *api_version, const char *kind,
			    const struct config_diags *d, time_t now, char *ns, size_t ns_len);
/*
 * A Warning Event @reason saying @msg (borrowed) on object @obj (as the API served it, with
 * its kind and apiVersion) from @component at @now, with its namespace in @ns: named from the
 * object's uid, generation and @msg, so that posting it again while the spec and what is said
 * of it stay the same makes no second Event (409). NULL when @obj has no name, kind or
 * apiVersion.
 */
struct cJSON *kevents_warning(const struct cJSON *obj, const char *reason, const char *msg,
			      const char *component, time_t now, char *ns, size_t ns_len);

#endif
