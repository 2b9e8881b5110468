/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ambit-cni, the chained CNI plugin (CNI specification 1.0.0): run by the container runtime
 * after the node's own plugins, it holds a pod's ADD until the node's agent says the pod's
 * traffic is captured, so a pod of the mesh never runs a moment uncaptured (issue 41 §1).
 *
 * Its entry in a conflist: {"type": "ambit-cni", "agentSocket": PATH} (absent: the agent's
 * default socket), optionally "excludeNamespaces": [...] (default ["kube-system"], as
 * istio-cni's), "timeoutSeconds" (how long ADD waits for capture, default 30) and "kubeconfig"
 * (PATH: while the agent is away, a pod the API server shows outside the mesh is not held).
 */
#ifndef AMBIT_CNI_H
#define AMBIT_CNI_H

#include <stdbool.h>
#include <stddef.h>

#define CNI_SPEC_VERSION "1.0.0"
#define CNI_DEFAULT_AGENT_SOCKET "/run/ambit/agent.sock"
#define CNI_DEFAULT_TIMEOUT_S 30

/* The error codes of the CNI specification (its "Error" section). */
enum cni_error_code {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN_LATER = 11,
};

/* The CNI_* environment variables a runtime sets (NULL: unset). All borrowed. */
struct cni_env {
	const char *command, *containerid, *netns, *ifname, *args, *path;
};

/*
 * Runs one CNI command: @in (the network configuration from stdin, @len bytes) and @env in,
 * *@out the text for stdout (malloc'd, caller frees; NULL when the command prints nothing).
 * Returns the process's exit status: 0, or 1 with *@out the specification's error object.
 * Talks to the agent over its socket for ADD, DEL and CHECK of a pod of the mesh.
 */
int cni_run(const struct cni_env *env, const char *in, size_t len, char **out);
/*
 * What cni_run checks before it asks anyone (the configuration on stdin, CNI_COMMAND,
 * CNI_CONTAINERID, CNI_IFNAME, CNI_ARGS), for ADD, DEL or CHECK: 0 (*@out NULL), or 1 with
 * *@out the specification's error object. Talks to nobody (the fuzz target's entry).
 */
int cni_check_input(const struct cni_env *env, const char *in, size_t len, char **out);
/*
 * Whether the mesh captures pod @ns/@name, from the API server that @kubeconfig names: its
 * namespace's labels and its own, by the agent's rule. 0 with *@captured, or -errno with why in
 * @why (no kubeconfig, no answer: the caller holds the pod).
 */
int cni_api_judge(const char *kubeconfig, const char *ns, const char *name, bool *captured,
		  char *why, size_t len);

#endif
