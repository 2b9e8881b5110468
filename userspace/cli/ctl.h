/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ambitctl's commands (userspace/cli/), over the single-host cluster (local.h) and the library.
 */
#ifndef AMBIT_CLI_CTL_H
#define AMBIT_CLI_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "ambit/l7.h"
#include "local/local.h"

/*
 * main.c: ambitctl's command line (argv[0] aside), its exit status. The binary's main() is
 * userspace/istioctl/entry.c's: the same binary answers as istioctl under that name.
 */
int ambitctl_main(int argc, char **argv);

/* local.c */
int local_exec(const struct ctl_opts *o, const char *pod, char **cmd);
int local_logs(const struct ctl_opts *o, const char *what);
int local_component(const struct ctl_opts *o, bool start, const char *what);
/* `local upgrade ztunnel [--node N]`: each node's ztunnel replaced under load (local.c). */
int local_upgrade(const struct ctl_opts *o, const char *what);
/*
 * portfwd.c: `local port-forward [-n NS] [--address A] TARGET LOCAL:REMOTE...` (@argv: what
 * follows it), kubectl's. Runs until SIGINT or SIGTERM (0); -errno when it cannot start or the
 * pod went away (told on stderr).
 */
int local_port_forward(const struct ctl_opts *o, int argc, char **argv);
/* status.c */
int local_status(const struct ctl_opts *o);
/*
 * What `local status -o json` prints of @c: its nodes (kubelet, agent, ztunnel: pid, running,
 * ready) and pods (state, restarts). Caller deletes; NULL when out of memory.
 */
cJSON *local_status_doc(const struct ctl_cluster *c);
/* Finds a pod in pods.json by "ns/name" or unique "name"; borrowed from @pods or NULL. */
cJSON *local_find_pod(cJSON *pods, const char *spec);

/* agentq.c */
struct snapshot;
/* {"op":"get","what":@what} to @n's agent: its "result" (caller deletes) or NULL, told on stderr.
 */
cJSON *agentq_get(const struct ctl_node *n, const char *what);
/* The same, saying nothing when the agent answers an error (a question that may not apply). */
cJSON *agent_try(const struct ctl_node *n, const char *what);
/*
 * @n's public snapshot, decoded strictly (policies included); caller frees. With @raw, also the
 * JSON it came from (caller deletes). NULL, told on stderr, when it cannot be had.
 */
struct snapshot *agent_snapshot(const struct ctl_node *n, cJSON **raw);

/* inspect.c */
int cmd_workloads(const struct ctl_opts *o);
int cmd_services(const struct ctl_opts *o);
int cmd_certs(const struct ctl_opts *o);
int cmd_connections(const struct ctl_opts *o);
int cmd_metrics(const struct ctl_opts *o);
/* maps.c */
int cmd_maps(const struct ctl_opts *o);
/* policy.c: `policies` (each policy, scope, workloads, counts) and `check SRC DST:PORT`. */
int cmd_policies(const struct ctl_opts *o);
/* An HTTP request for `check` to judge at a waypoint (--method, --path, --header, --jwt). */
struct check_l7 {
	const char *method, *path, *jwt_file;
	const char *headers[16];
	size_t n_headers;
	bool udp; /* --udp: a UDP flow (docs/udp.md), not a TCP connection */
};
int cmd_check(const struct ctl_opts *o, const char *src, const char *dst, const struct check_l7 *q);
/* dashboard.c: `ambitctl dashboard`, until interrupted. */
int cmd_dashboard(const struct ctl_opts *o, int argc, char **argv);

struct snap_waypoint;
/* check_l7.c: @q to Service @svc_host:@port judged by waypoint @w (its model from the agent);
 * printed, or added to @out (-o json). 0 or -errno (told). */
struct snapshot;
/*
 * check_l7.c: @q from client address @src_ip to Service port @svc_port (target port @tport) of
 * gateway proxy @gw ("ns/name", its Service @svc_host the Host unless --header host= says)
 * judged by that gateway (@l7, taken): its listener, its
 * AuthorizationPolicies (Envoy's RBAC filter runs before the router) and the route the request
 * takes; printed, or added to @out. The destination's host and port into @dst (a Service
 * hostname, "" when no route takes it) and *@dport. 0 or -errno (told).
 */
int check_gateway(const char *gw, cJSON *l7, const char *svc_host, uint32_t src_ip,
		  uint16_t svc_port, uint16_t tport, const struct check_l7 *q, cJSON *out,
		  char *dst, size_t dlen, uint16_t *dport);
int check_l7(const struct ctl_cluster *c, const struct snapshot *snap,
	     const struct snap_waypoint *w, const char *svc_host, uint16_t port,
	     const char *src_identity, uint32_t src_ip, const struct check_l7 *q, cJSON *out);
/* analyze.c: `analyze [-f FILE|DIR] [--root-namespace NS]`; -EINVAL when there are errors. */
int cmd_analyze(const struct ctl_opts *o, int argc, char **argv);
/*
 * What it analyzes: @files (a file or directory each; none: the state of local cluster
 * @cluster, which with files resolves their references when it is up), loaded then analyzed,
 * every finding appended to @diags and the loader's errors counted into *@load_errors. 0, or
 * -errno when there was nothing to analyze or a file could not be read (told on stderr).
 */
int analyze_run(const char *cluster, const char *const *files, size_t nfiles, const char *root_ns,
		struct config_diags *diags, int *load_errors);
/* secret.c: `create secret tls|generic NAME ...` (argv after "create"), as kubectl's. */
int cmd_create(const struct ctl_opts *o, int argc, char **argv);
/* createns.c: `create namespace|ns NAME` (argv after "namespace"), as kubectl's. */
int cmd_create_namespace(const struct ctl_opts *o, int argc, char **argv);
/* get.c: `ambitctl get KIND [NAME]` for every kind ambit loads, as kubectl's (getcols.h). */
int cmd_get(const struct ctl_opts *o, int argc, char **argv);
/* `ambitctl waypoint generate|apply|list|status|delete` (argv after "waypoint"). */
int cmd_waypoint(const struct ctl_opts *o, int argc, char **argv);
/*
 * wpview.c: the store's waypoint bindings over the running pods, a waypoint's or gateway's
 * instance counting once it serves (Running, and running the configuration its node's agent
 * published it): what `waypoint list|status` and `get gateway` say of them.
 */
struct wp_view {
	cJSON *pods_json; /* pods.json */
	struct l7_pod *pods;
	struct config_labels *labels; /* the pods' */
	size_t n_pods;
	struct l7_bindings b;
	cJSON *instances; /* "ns/pod" -> {namespace, gateway, why: "" when it serves} */
};
/* @v from the running cluster @c and its store @cfg (borrowed, must outlive @v). 0 or -errno. */
int wp_view_load(struct wp_view *v, const struct ctl_cluster *c, const struct config *cfg);
void wp_view_free(struct wp_view *v);
/* Why instance @ns/@pod does not serve ("" when it does), or NULL when it is none. Borrowed. */
const char *wp_view_instance(const struct wp_view *v, const char *ns, const char *pod);
/*
 * Waypoint @w's Programmed condition: its reason (Programmed, Invalid, Pending, NoInstances)
 * and, into *@message (borrowed from @v or static), what it means.
 */
const char *wp_view_programmed(const struct wp_view *v, const struct l7_waypoint *w,
			       const char **message);
/* ambitctl nodes ARGS (nodes.c): each node's capture mode from its Lease. 0 or -errno (said). */
int cmd_nodes(int argc, char **argv);

/*
 * remote.c: Istio's multicluster commands, ambitctl's and istioctl's. remote_secret_print
 * prints the remote secret of @o's cluster (multicluster/multicluster.h) as cluster @name in
 * the mesh (NULL: its cluster id) in namespace @ns (NULL: istio-system); a --kube cluster's
 * with its API server's CA and a token of Istio's reader, asked of that server (refused when
 * the cluster has no place on the LoadBalancer network, ambit is not installed there, or the
 * server refuses). cmd_create_remote_secret reads its flags from @argv (after the command
 * word). 0 or -errno, told on stderr.
 */
int remote_secret_print(const struct ctl_opts *o, const char *name, const char *ns);
int cmd_create_remote_secret(const struct ctl_opts *o, int argc, char **argv);
/*
 * The rows of `remote-clusters` for @o's cluster (its --node's agent alone when given), from
 * every node's agent's status (remote_clusters_merge): the caller's, or NULL told on stderr
 * (no agent answers, out of memory). cmd_remote_clusters prints them as istioctl's table, or
 * as JSON with -o json; 0 or -errno.
 */
cJSON *remote_clusters_doc(const struct ctl_opts *o);
int cmd_remote_clusters(const struct ctl_opts *o);

#endif
