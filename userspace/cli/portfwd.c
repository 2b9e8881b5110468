// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl local port-forward [-n NS] [--address ADDR] TARGET LOCAL:REMOTE...`: kubectl
 * port-forward on the local cluster. The target is found as kubectl finds it (a Service's or
 * Deployment's first running pod), its ports resolved against the store's objects
 * (portfwd_spec.c), and portfwd_relay.c forwards. Messages are kubectl's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "portfwd.h"

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* The command line after `local port-forward`. */
struct pf_args {
	const char *ns;
	const char *target;
	char *ports[PORTFWD_MAX_PORTS];
	char *addrs[PORTFWD_MAX_ADDRS];
	size_t nports, naddrs;
};

static int pf_positional(struct pf_args *a, char *s)
{
	if (!a->target) {
		a->target = s;
		return 0;
	}
	if (a->nports == PORTFWD_MAX_PORTS) {
		fprintf(stderr, "error: at most %d ports\n", PORTFWD_MAX_PORTS);
		return -EINVAL;
	}
	a->ports[a->nports++] = s;
	return 0;
}

/* kubectl's flags, anywhere among the arguments (-n NS, -nNS, --namespace[=]NS, --address). */
static int pf_parse(int argc, char **argv, struct pf_args *a)
{
	bool flags = true;

	for (int i = 0; i < argc; i++) {
		char *s = argv[i], *val = NULL;
		bool has_next = i + 1 < argc;

		if (!flags || s[0] != '-' || !s[1]) {
			if (pf_positional(a, s))
				return -EINVAL;
			continue;
		}
		if (!strcmp(s, "--")) {
			flags = false;
		} else if ((!strcmp(s, "--name") || !strcmp(s, "--cluster")) && has_next) {
			i++; /* the cluster: main.c's pick_cluster read it */
		} else if ((!strcmp(s, "-n") || !strcmp(s, "--namespace")) && has_next) {
			a->ns = argv[++i];
		} else if (!strncmp(s, "--namespace=", 12)) {
			a->ns = s + 12;
		} else if (!strncmp(s, "-n", 2) && s[2]) {
			a->ns = s + 2 + (s[2] == '=');
		} else if (!strcmp(s, "--address") && has_next) {
			val = argv[++i];
		} else if (!strncmp(s, "--address=", 10)) {
			val = s + 10;
		} else {
			fprintf(stderr, "ambitctl: unknown or incomplete option %s\n", s);
			return -EINVAL;
		}
		if (val && a->naddrs == PORTFWD_MAX_ADDRS) {
			fprintf(stderr, "error: at most %d --address\n", PORTFWD_MAX_ADDRS);
			return -EINVAL;
		}
		if (val)
			a->addrs[a->naddrs++] = val;
	}
	if (!a->target || !a->nports) {
		fprintf(stderr,
			"error: TYPE/NAME and list of ports are required for port-forward\n"
			"usage: ambitctl local port-forward [-n NS] [--address ADDR] TARGET "
			"LOCAL:REMOTE...\n");
		return -EINVAL;
	}
	return 0;
}

/* Whether pods.json's @pod carries every label of @sel. */
static bool selects(const struct config_labels *sel, const cJSON *pod)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(pod, "labels");

	for (size_t i = 0; i < sel->n; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, sel->items[i].key);

		if (!cJSON_IsString(v) || strcmp(v->valuestring, sel->items[i].value))
			return false;
	}
	return true;
}

static bool pod_running(const struct ctl_cluster *c, const cJSON *pod)
{
	char pidf[PATH_MAX];
	int pid;

	if (cluster_path(c, pidf, sizeof(pidf), "pods/%s_%s.pid", jstr(pod, "namespace"),
			 jstr(pod, "name")))
		return false;
	pid = read_pid_file(pidf);
	return pid > 0 && pid_alive(pid);
}

/* The pod's state as its kubelet says it ("CrashLoopBackOff: ..."), for kubectl's message. */
static void pod_state(const struct ctl_cluster *c, const cJSON *pod, char *buf, size_t len)
{
	const struct ctl_node *n = cluster_node(c, jstr(pod, "node"));
	cJSON *st = NULL;
	int err;

	str_fmt(buf, len, "Unknown");
	if (n && (st = kubelet_call(n, "{\"op\":\"status\"}", true, &err)))
		kubelet_describe(kubelet_find(st, jstr(pod, "uid")), buf, len);
	cJSON_Delete(st);
}

/*
 * The pod @kind/@name stands for in @ns: the pod itself, or the first running one of a
 * Service's selection or a Deployment's pods (kubectl takes the first by its own order; these
 * are in creation order). Borrowed from @pods; NULL when told on stderr.
 */
static const cJSON *pick_pod(const struct ctl_cluster *c, const struct config *cfg,
			     const cJSON *pods, const char *ns, enum portfwd_kind kind,
			     const char *name, const struct config_service **svc)
{
	const cJSON *pod, *first = NULL;
	char state[512];
	bool exists = false;

	*svc = NULL;
	if (!state_ns_known(cfg, ns)) {
		tell_ns_not_found(ns);
		return NULL;
	}
	if (kind == PORTFWD_SERVICE) {
		for (size_t i = 0; i < cfg->n_services && !*svc; i++)
			if (!strcmp(cfg->services[i].meta.namespace, ns) &&
			    !strcmp(cfg->services[i].meta.name, name))
				*svc = &cfg->services[i];
		if (!*svc) {
			fprintf(stderr, "Error from server (NotFound): services \"%s\" not found\n",
				name);
			return NULL;
		}
		if (!(*svc)->selector.n) {
			fprintf(
			    stderr,
			    "error: cannot attach to *v1.Service: invalid service '%s': Service "
			    "is defined without a selector\n",
			    name);
			return NULL;
		}
	}
	for (size_t i = 0; kind == PORTFWD_DEPLOYMENT && i < cfg->n_deployments; i++)
		exists |= !strcmp(cfg->deployments[i].meta.namespace, ns) &&
			  !strcmp(cfg->deployments[i].meta.name, name);
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(pods, "pods"))
	{
		if (strcmp(jstr(pod, "namespace"), ns))
			continue;
		if (kind == PORTFWD_POD	      ? strcmp(jstr(pod, "name"), name)
		    : kind == PORTFWD_SERVICE ? !selects(&(*svc)->selector, pod)
					      : strcmp(jstr(pod, "owner"), name))
			continue;
		if (pod_running(c, pod))
			return pod;
		if (!first)
			first = pod;
	}
	if (first) {
		pod_state(c, first, state, sizeof(state));
		fprintf(stderr,
			"error: unable to forward port because pod is not running. Current "
			"status=%s\n",
			state);
	} else if (kind == PORTFWD_POD) {
		fprintf(stderr, "Error from server (NotFound): pods \"%s\" not found\n", name);
	} else if (kind == PORTFWD_DEPLOYMENT && !exists) {
		fprintf(stderr, "Error from server (NotFound): deployments.apps \"%s\" not found\n",
			name);
	} else {
		fprintf(stderr, "error: %s/%s in namespace %s has no pod\n",
			kind == PORTFWD_SERVICE ? "service" : "deployment", name, ns);
	}
	return NULL;
}

/* The pod template @pod runs (its containerPorts name ports), or NULL (a waypoint's). */
static const struct config_pod_spec *pod_spec(const struct config *cfg, const cJSON *pod)
{
	const char *ns = jstr(pod, "namespace"), *owner = jstr(pod, "owner");

	for (size_t i = 0; i < cfg->n_deployments; i++)
		if (!strcmp(cfg->deployments[i].meta.namespace, ns) &&
		    !strcmp(cfg->deployments[i].meta.name, owner))
			return &cfg->deployments[i].template;
	for (size_t i = 0; i < cfg->n_pods; i++)
		if (!strcmp(cfg->pods[i].meta.namespace, ns) &&
		    !strcmp(cfg->pods[i].meta.name, jstr(pod, "name")))
			return &cfg->pods[i].spec;
	return NULL;
}

int local_port_forward(const struct ctl_opts *o, int argc, char **argv)
{
	struct pf_args a = {.ns = "default"};
	struct portfwd *pf = NULL;
	const struct config_service *svc;
	const cJSON *pod;
	struct ctl_cluster c;
	struct config cfg;
	enum portfwd_kind kind;
	const char *name;
	char state[PATH_MAX], err[512];
	cJSON *pods = NULL;
	int ret;

	config_init(&cfg);
	ret = pf_parse(argc, argv, &a);
	if (ret)
		goto out;
	pf = calloc(1, sizeof(*pf));
	ret = -ENOMEM;
	if (!pf)
		goto out;
	ret = portfwd_target_parse(a.target, &kind, &name, err, sizeof(err));
	if (!ret)
		ret = portfwd_addrs_parse(a.addrs, a.naddrs, pf->addrs, PORTFWD_MAX_ADDRS,
					  &pf->naddrs, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "error: %s\n", err);
		goto out;
	}
	ret = cluster_open(&c, o);
	if (ret)
		goto out;
	pods = plan_read_pods_json(&c);
	if (!pods) {
		ret = -errno;
		fprintf(stderr, "ambitctl: cannot read pods.json: %s\n", strerror(-ret));
		goto out;
	}
	cluster_path(&c, state, sizeof(state), "state");
	ret = load_state_quiet(&cfg, state);
	if (ret)
		goto out;
	ret = -ENOENT;
	pod = pick_pod(&c, &cfg, pods, a.ns, kind, name, &svc);
	if (!pod)
		goto out;
	ret = portfwd_ports_resolve(a.ports, a.nports, svc, jstr(pod, "name"), pod_spec(&cfg, pod),
				    pf->ports, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "error: %s\n", err);
		goto out;
	}
	pf->nports = a.nports;
	if (str_fmt(pf->ns, sizeof(pf->ns), "%s", jstr(pod, "namespace")) ||
	    str_fmt(pf->pod, sizeof(pf->pod), "%s", jstr(pod, "name")) ||
	    str_fmt(pf->netns, sizeof(pf->netns), "%s", jstr(pod, "netns")) || !pf->netns[0]) {
		fprintf(stderr, "ambitctl: pods.json: pod %s/%s has no netns\n",
			jstr(pod, "namespace"), jstr(pod, "name"));
		ret = -EINVAL;
		goto out;
	}
	cJSON_Delete(pods);
	pods = NULL;
	config_free(&cfg);
	config_init(&cfg);
	ret = portfwd_run(pf);
out:
	cJSON_Delete(pods);
	config_free(&cfg);
	free(pf);
	return ret;
}

/*
 * `ambitctl local relay [--name C] --netns NETNS LOCAL:REMOTE...` (hidden; `local up` starts it
 * for Prometheus, prom.c): port-forward's relay to the loopback of a cluster netns that is no
 * pod's (the fabric's), on the host's localhost, until the netns goes or a signal comes.
 */
int local_relay(int argc, char **argv)
{
	struct portfwd *pf = calloc(1, sizeof(*pf));
	char *ports[PORTFWD_MAX_PORTS], err[512];
	size_t nports = 0;
	int ret = pf ? 0 : -ENOMEM;

	for (int i = 0; i < argc && !ret; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			i++;
		} else if (!strcmp(argv[i], "--netns") && i + 1 < argc) {
			ret = str_fmt(pf->netns, sizeof(pf->netns), "%s", argv[++i]);
		} else if (argv[i][0] != '-' && nports < PORTFWD_MAX_PORTS) {
			ports[nports++] = argv[i];
		} else {
			fprintf(stderr, "ambitctl: local relay: unexpected %s\n", argv[i]);
			ret = -EINVAL;
		}
	}
	if (!ret && (!pf->netns[0] || !nports)) {
		fprintf(stderr, "usage: ambitctl local relay --netns NETNS LOCAL:REMOTE...\n");
		ret = -EINVAL;
	}
	if (!ret && (str_fmt(pf->pod, sizeof(pf->pod), "%s", pf->netns) ||
		     portfwd_ports_resolve(ports, nports, NULL, pf->pod, NULL, pf->ports, err,
					   sizeof(err)) ||
		     portfwd_addrs_parse(NULL, 0, pf->addrs, PORTFWD_MAX_ADDRS, &pf->naddrs, err,
					 sizeof(err)))) {
		fprintf(stderr, "error: %s\n", err);
		ret = -EINVAL;
	}
	if (!ret) {
		pf->nports = nports;
		ret = portfwd_run(pf);
	}
	free(pf);
	return ret;
}
