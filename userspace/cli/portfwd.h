/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ambitctl local port-forward` (kubectl port-forward on the local cluster). portfwd_spec.c
 * reads its arguments as kubectl does, without I/O (unit-tested); portfwd.c finds the pod;
 * portfwd_relay.c listens on the host and connects each accepted connection to the pod's
 * localhost from inside its network namespace, as the kubelet's runtime does.
 */
#ifndef AMBIT_CLI_PORTFWD_H
#define AMBIT_CLI_PORTFWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "ambit/config.h"

#define PORTFWD_MAX_PORTS 32
#define PORTFWD_MAX_ADDRS 16
/* Connections held at once (pending and relayed); more are accepted and closed, and told. */
#define PORTFWD_MAX_CONNS 1024

/* What TARGET names. */
enum portfwd_kind {
	PORTFWD_POD = 0,
	PORTFWD_SERVICE,
	PORTFWD_DEPLOYMENT,
};

/*
 * TARGET as kubectl reads it: TYPE/NAME with TYPE pod (pods, po), service (services, svc) or
 * deployment (deployments, deploy; with or without .apps), or a bare pod NAME. *@name points
 * into @target. 0, or -EINVAL with kubectl's message in @err.
 */
int portfwd_target_parse(const char *target, enum portfwd_kind *kind, const char **name, char *err,
			 size_t errlen);

/* An address to listen on. */
struct portfwd_addr {
	char ip[INET6_ADDRSTRLEN]; /* as given ("127.0.0.1", "::1", "0.0.0.0") */
	int family;		   /* AF_INET or AF_INET6 */
	/*
	 * From "localhost" (127.0.0.1 and ::1): a port fails only when neither listens (kubectl's
	 * failure mode "all"); an address given as an IP must listen (mode "any").
	 */
	bool all;
};

/*
 * The --address values @vals (@n of them, each a comma-separated list; none means
 * "localhost") into @out (@max entries, *@nout set): deduplicated and sorted by their text, as
 * kubectl orders them. 0, or -EINVAL with kubectl's message in @err.
 */
int portfwd_addrs_parse(char *const *vals, size_t n, struct portfwd_addr *out, size_t max,
			size_t *nout, char *err, size_t errlen);

/* One forwarded port: LOCAL (0 until a listener picked one, for ":REMOTE") to REMOTE. */
struct portfwd_port {
	uint16_t local;
	uint16_t remote; /* the pod's (container) port */
};

/*
 * The port specs @specs (@n of them: LOCAL:REMOTE, PORT, :REMOTE) into @out (at most
 * PORTFWD_MAX_PORTS), resolved as kubectl resolves them. With Service @svc (borrowed; NULL
 * for a pod target) REMOTE is a service port, by number or name, and becomes its targetPort,
 * a named one looked up in the containerPorts of @spec (borrowed, may be NULL: none); for a
 * pod a named REMOTE is one of its containerPorts. @pod names the pod in messages. 0, or
 * -EINVAL with kubectl's message in @err.
 */
int portfwd_ports_resolve(char *const *specs, size_t n, const struct config_service *svc,
			  const char *pod, const struct config_pod_spec *spec,
			  struct portfwd_port *out, char *err, size_t errlen);

/* A resolved forward: the pod, its network namespace and what to listen on. */
struct portfwd {
	char ns[256], pod[256];
	char netns[256]; /* its name under /run/netns */
	size_t nports, naddrs;
	struct portfwd_port ports[PORTFWD_MAX_PORTS];
	struct portfwd_addr addrs[PORTFWD_MAX_ADDRS];
};

/*
 * Listens as @pf says (a ":REMOTE" port's LOCAL is set once chosen), printing kubectl's
 * "Forwarding from" lines, and relays every connection to the pod's localhost until SIGINT or
 * SIGTERM (0). -EADDRINUSE-style -errno when no port could listen, -ECONNRESET when the pod
 * went away; both told on stderr.
 */
int portfwd_run(struct portfwd *pf);

#endif
