/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waypoint controller (`ambit-agent --waypoint-controller`, one replica): for every Gateway
 * of class istio-waypoint it keeps the waypoint's ServiceAccount, Deployment and Service
 * (deploy/waypoint.yaml.tmpl) in the API server, owned by the Gateway, and reports the
 * Gateway's status (Accepted, Programmed, its address), as Istio's gateway controller does for
 * waypoints; for a Gateway of class istio, the same for its deployment (<name>-istio), and the
 * full status of the Gateway (listeners) and of the routes naming it (wpstatus.h). Objects of those
 * names that ambit did not make are left alone, and said so in the Gateway's status. A Gateway gone
 * takes its objects with it (ownerReferences; the controller deletes them too, for API servers
 * without a garbage collector).
 */
#ifndef AMBIT_AGENT_WPCONTROLLER_H
#define AMBIT_AGENT_WPCONTROLLER_H

#include <cjson/cJSON.h>

/* Template values besides the Gateway's own. */
struct wpc_opts {
	const char *image;     /* the waypoint's image */
	const char *log_level; /* the waypoint's --log-level */
};

/*
 * The objects of waypoint Gateway @gw (a JSON object as served): an array of the three
 * manifests, each annotated with the rendering's hash (ambit.io/template-hash). NULL with the
 * reason in @why (@len bytes): not a waypoint Gateway, a name or namespace missing, no uid.
 */
cJSON *wpc_objects(const cJSON *gw, const struct wpc_opts *o, char *why, size_t len);
/* `ambit-agent --waypoint-controller ...`: runs until SIGTERM. An exit code. */
int wpcontroller_main(int argc, char **argv);

#endif
