// SPDX-License-Identifier: Apache-2.0
/*
 * Pods and Deployments: the PodSpec (containers, ports, command, restartPolicy, securityContext),
 * the pod template and the Deployment's selector. Field lists follow core/v1 PodSpec and apps/v1
 * DeploymentSpec.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define CFG_MAX_CONTAINERS 64
#define CFG_MAX_CONTAINER_PORTS 1024
#define CFG_MAX_ARGS 4096

#define ENUM_FIELD(fn, ...)                                                                        \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)                              \
	{                                                                                          \
		static const char *const ok[] = {__VA_ARGS__, NULL};                               \
		return cfg_check_enum(ctx, v, ok, NULL);                                           \
	}

#define INT_FIELD(fn, min, max)                                                                    \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)                              \
	{                                                                                          \
		long long n;                                                                       \
		return cfg_get_int(ctx, v, min, max, &n);                                          \
	}

ENUM_FIELD(pull_policy, "Always", "IfNotPresent", "Never")
ENUM_FIELD(dns_policy, "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
ENUM_FIELD(termination_message_policy, "File", "FallbackToLogsOnError")
ENUM_FIELD(strategy_type, "Recreate", "RollingUpdate")
INT_FIELD(non_negative, 0, INT_MAX)
INT_FIELD(positive, 1, INT_MAX)
INT_FIELD(any_int32, INT_MIN, INT_MAX)
INT_FIELD(port_range, 1, 65535)

/* ---- containers ---- */

/* One PodSpec being walked: what is modelled, and the two securityContexts merged at the end. */
struct spec_ctx {
	struct config_pod_spec *spec;
	struct cfg_podsec pod_sec, ctr_sec; /* spec.securityContext, containers[0]'s */
};

struct container_ctx {
	struct spec_ctx *sc; /* NULL for init containers: validated, not modelled */
	char *name;
	char **command, **args;
	size_t ncommand, nargs;
	struct cfg_podsec sec;
};

static int string_list(struct cfg_ctx *ctx, yaml_node_t *v, char ***out, size_t *n)
{
	size_t count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	int before = ctx->nerrors;

	if (count > CFG_MAX_ARGS) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_ARGS);
		return -EINVAL;
	}
	*out = calloc(count + 1, sizeof(**out));
	if (!*out) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		if (cfg_get_str(ctx, cfg_node(ctx, v->data.sequence.items.start[i]), &(*out)[*n]) ==
		    0)
			(*n)++;
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int container_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((struct container_ctx *)obj)->name);
}

static int container_command(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct container_ctx *c = obj;

	return string_list(ctx, v, &c->command, &c->ncommand);
}

static int container_args(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct container_ctx *c = obj;

	return string_list(ctx, v, &c->args, &c->nargs);
}

static int cport_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_name(ctx, v, CFG_NAME_IANA, &((struct config_container_port *)obj)->name);
}

static int cport_port(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((struct config_container_port *)obj)->port = (uint16_t)n;
	return 0;
}

static int cport_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_check_protocol(ctx, v, &((struct config_container_port *)obj)->protocol);
}

static const struct cfg_field container_port_fields[] = {
    {"name", CFG_T_STR, cport_name, 0},
    {"containerPort", CFG_T_INT, cport_port, CFG_F_REQUIRED},
    {"protocol", CFG_T_STR, cport_protocol, 0},
    {"hostPort", CFG_T_INT, port_range, 0},
    {"hostIP", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static void container_port_free(struct config_container_port *p)
{
	free(p->name);
	free(p->protocol);
}

static int container_ports(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct container_ctx *c = obj;
	struct config_pod_spec *spec = c->sc ? c->sc->spec : NULL;
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	int before = ctx->nerrors;

	if (n > CFG_MAX_CONTAINER_PORTS) {
		cfg_error(ctx, v, "more than %d ports", CFG_MAX_CONTAINER_PORTS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_node(ctx, v->data.sequence.items.start[i]);
		size_t saved = cfg_path_push_index(ctx, i);
		struct config_container_port p = {0}, *ports;

		if (cfg_walk_map(ctx, item, container_port_fields, &p) == 0 && spec) {
			if (!p.protocol)
				p.protocol = strdup("TCP");
			ports = realloc(spec->ports, (spec->nports + 1) * sizeof(*ports));
			if (!ports || !p.protocol) {
				cfg_error(ctx, item, "out of memory");
				if (ports)
					spec->ports = ports;
			} else {
				spec->ports = ports;
				ports[spec->nports++] = p;
				memset(&p, 0, sizeof(p));
			}
		}
		container_port_free(&p);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int container_security(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_podsec_container(ctx, v, &((struct container_ctx *)obj)->sec);
}

static const struct cfg_field container_fields[] = {
    {"name", CFG_T_STR, container_name, CFG_F_REQUIRED},
    {"image", CFG_T_STR, NULL, 0},
    {"imagePullPolicy", CFG_T_STR, pull_policy, 0},
    {"command", CFG_T_SEQ, container_command, 0},
    {"args", CFG_T_SEQ, container_args, 0},
    {"workingDir", CFG_T_STR, NULL, 0},
    {"ports", CFG_T_SEQ, container_ports, 0},
    {"env", CFG_T_SEQ, NULL, 0},
    {"envFrom", CFG_T_SEQ, NULL, 0},
    {"resources", CFG_T_MAP, NULL, 0},
    {"resizePolicy", CFG_T_SEQ, NULL, 0},
    {"restartPolicy", CFG_T_STR, NULL, 0},
    {"volumeMounts", CFG_T_SEQ, NULL, 0},
    {"volumeDevices", CFG_T_SEQ, NULL, 0},
    {"livenessProbe", CFG_T_MAP, NULL, 0},
    {"readinessProbe", CFG_T_MAP, NULL, 0},
    {"startupProbe", CFG_T_MAP, NULL, 0},
    {"lifecycle", CFG_T_MAP, NULL, 0},
    {"terminationMessagePath", CFG_T_STR, NULL, 0},
    {"terminationMessagePolicy", CFG_T_STR, termination_message_policy, 0},
    {"securityContext", CFG_T_MAP, container_security, 0},
    {"stdin", CFG_T_BOOL, NULL, 0},
    {"stdinOnce", CFG_T_BOOL, NULL, 0},
    {"tty", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

static void container_ctx_free(struct container_ctx *c)
{
	for (size_t i = 0; i < c->ncommand; i++)
		free(c->command[i]);
	for (size_t i = 0; i < c->nargs; i++)
		free(c->args[i]);
	free(c->command);
	free(c->args);
	free(c->name);
}

/* The pod's command is what the local cluster runs: containers[0].command then its args. */
static int set_command(struct config_pod_spec *spec, struct container_ctx *c)
{
	size_t n = c->ncommand + c->nargs, k = 0;

	if (!n)
		return 0;
	spec->command = calloc(n + 1, sizeof(*spec->command));
	if (!spec->command)
		return -ENOMEM;
	for (size_t i = 0; i < c->ncommand; i++, k++) {
		spec->command[k] = c->command[i];
		c->command[i] = NULL;
	}
	for (size_t i = 0; i < c->nargs; i++, k++) {
		spec->command[k] = c->args[i];
		c->args[i] = NULL;
	}
	return 0;
}

static int containers(struct cfg_ctx *ctx, yaml_node_t *v, struct spec_ctx *sc)
{
	struct config_pod_spec *spec = sc ? sc->spec : NULL;
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	char *names[CFG_MAX_CONTAINERS] = {0};
	int before = ctx->nerrors;
	size_t i;

	if (n > CFG_MAX_CONTAINERS) {
		cfg_error(ctx, v, "more than %d containers", CFG_MAX_CONTAINERS);
		return -EINVAL;
	}
	if (spec && n == 0)
		cfg_error(ctx, v, "a pod needs at least one container");
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_node(ctx, v->data.sequence.items.start[i]);
		size_t saved = cfg_path_push_index(ctx, i);
		struct container_ctx c = {.sc = sc};

		cfg_podsec_init(&c.sec);
		if (cfg_walk_map(ctx, item, container_fields, &c) == 0) {
			for (size_t j = 0; j < i; j++)
				if (names[j] && strcmp(names[j], c.name) == 0)
					cfg_error(ctx, item, "duplicate container name \"%s\"",
						  c.name);
			if (spec && i == 0 &&
			    (set_command(spec, &c) || !(spec->container = strdup(c.name))))
				cfg_error(ctx, item, "out of memory");
			/* The local cluster runs containers[0] alone: its context is the pod's. */
			if (sc && i == 0)
				sc->ctr_sec = c.sec;
			names[i] = c.name;
			c.name = NULL;
		}
		container_ctx_free(&c);
		cfg_path_pop(ctx, saved);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* ---- PodSpec ---- */

static int spec_containers(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return containers(ctx, v, obj);
}

static int spec_restart_policy(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const ok[] = {"Always", "OnFailure", "Never", NULL};
	struct spec_ctx *sc = obj;
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, ok, NULL))
		return -EINVAL;
	sc->spec->restart_policy = !strcmp(s, "Never")	     ? CONFIG_RESTART_NEVER
				   : !strcmp(s, "OnFailure") ? CONFIG_RESTART_ON_FAILURE
							     : CONFIG_RESTART_ALWAYS;
	return 0;
}

static int spec_security(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_podsec_pod(ctx, v, &((struct spec_ctx *)obj)->pod_sec);
}

static int spec_init_containers(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return containers(ctx, v, NULL);
}

static int service_account(struct cfg_ctx *ctx, yaml_node_t *v, struct config_pod_spec *spec,
			   bool override)
{
	char *sa;

	/* serviceAccountName: "" means the default account, as in the ratelimit sample. */
	if (v->data.scalar.length == 0 && v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	if (cfg_get_name(ctx, v, CFG_NAME_SUBDOMAIN, &sa))
		return -EINVAL;
	if (spec->service_account && !override) {
		free(sa);
		return 0;
	}
	free(spec->service_account);
	spec->service_account = sa;
	return 0;
}

static int spec_host_network(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_bool(ctx, v, &((struct spec_ctx *)obj)->spec->host_network);
}

static int spec_service_account_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return service_account(ctx, v, ((struct spec_ctx *)obj)->spec, true);
}

/* serviceAccount is the deprecated alias: serviceAccountName wins when both are set. */
static int spec_service_account(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return service_account(ctx, v, ((struct spec_ctx *)obj)->spec, false);
}

static int spec_node_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_name(ctx, v, CFG_NAME_SUBDOMAIN, &((struct spec_ctx *)obj)->spec->node_name);
}

/* Both are RFC 1123 labels, as Kubernetes validates them (one label of a DNS name each). */
static int spec_hostname(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((struct spec_ctx *)obj)->spec->hostname);
}

static int spec_subdomain(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((struct spec_ctx *)obj)->spec->subdomain);
}

static int spec_node_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_labels tmp = {0};
	int err = cfg_get_labels(ctx, v, false, &tmp);

	config_labels_free(&tmp);
	return err;
}

static const struct cfg_field pod_spec_fields[] = {
    {"containers", CFG_T_SEQ, spec_containers, CFG_F_REQUIRED},
    {"initContainers", CFG_T_SEQ, spec_init_containers, 0},
    {"ephemeralContainers", CFG_T_SEQ, NULL, 0},
    {"volumes", CFG_T_SEQ, NULL, 0},
    {"restartPolicy", CFG_T_STR, spec_restart_policy, 0},
    {"terminationGracePeriodSeconds", CFG_T_INT, non_negative, 0},
    {"activeDeadlineSeconds", CFG_T_INT, positive, 0},
    {"dnsPolicy", CFG_T_STR, dns_policy, 0},
    {"dnsConfig", CFG_T_MAP, NULL, 0},
    {"nodeSelector", CFG_T_MAP, spec_node_selector, 0},
    {"serviceAccountName", CFG_T_STR, spec_service_account_name, 0},
    {"serviceAccount", CFG_T_STR, spec_service_account, 0},
    {"automountServiceAccountToken", CFG_T_BOOL, NULL, 0},
    {"nodeName", CFG_T_STR, spec_node_name, 0},
    {"hostNetwork", CFG_T_BOOL, spec_host_network, 0},
    {"hostPID", CFG_T_BOOL, NULL, 0},
    {"hostIPC", CFG_T_BOOL, NULL, 0},
    {"hostUsers", CFG_T_BOOL, NULL, 0},
    {"shareProcessNamespace", CFG_T_BOOL, NULL, 0},
    {"securityContext", CFG_T_MAP, spec_security, 0},
    {"imagePullSecrets", CFG_T_SEQ, NULL, 0},
    {"hostname", CFG_T_STR, spec_hostname, 0},
    {"subdomain", CFG_T_STR, spec_subdomain, 0},
    {"setHostnameAsFQDN", CFG_T_BOOL, NULL, 0},
    {"affinity", CFG_T_MAP, NULL, 0},
    {"schedulerName", CFG_T_STR, NULL, 0},
    {"tolerations", CFG_T_SEQ, NULL, 0},
    {"hostAliases", CFG_T_SEQ, NULL, 0},
    {"priorityClassName", CFG_T_STR, NULL, 0},
    {"priority", CFG_T_INT, any_int32, 0},
    {"preemptionPolicy", CFG_T_STR, NULL, 0},
    {"readinessGates", CFG_T_SEQ, NULL, 0},
    {"runtimeClassName", CFG_T_STR, NULL, 0},
    {"enableServiceLinks", CFG_T_BOOL, NULL, 0},
    {"overhead", CFG_T_MAP, NULL, 0},
    {"topologySpreadConstraints", CFG_T_SEQ, NULL, 0},
    {"os", CFG_T_MAP, NULL, 0},
    {"schedulingGates", CFG_T_SEQ, NULL, 0},
    {"resourceClaims", CFG_T_SEQ, NULL, 0},
    {"resources", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int pod_spec(struct cfg_ctx *ctx, yaml_node_t *v, struct config_pod_spec *spec)
{
	struct spec_ctx sc = {.spec = spec};

	cfg_podsec_init(&sc.pod_sec);
	cfg_podsec_init(&sc.ctr_sec);
	if (cfg_walk_map(ctx, v, pod_spec_fields, &sc))
		return -EINVAL;
	cfg_podsec_merge(&sc.pod_sec, &sc.ctr_sec, &spec->security);
	/* Kubernetes rejects one port name used by two containers of a pod. */
	for (size_t i = 0; i < spec->nports; i++) {
		for (size_t j = 0; spec->ports[i].name && j < i; j++) {
			if (spec->ports[j].name &&
			    !strcmp(spec->ports[i].name, spec->ports[j].name)) {
				size_t saved = cfg_path_push(ctx, "containers");

				cfg_error(ctx, v, "port name \"%s\" is used twice",
					  spec->ports[i].name);
				cfg_path_pop(ctx, saved);
				return -EINVAL;
			}
		}
	}
	if (!spec->service_account && !(spec->service_account = strdup("default"))) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* ---- Pod ---- */

static int pod_ip(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (!cfg_ip_ok(*out)) {
		cfg_error(ctx, v, "\"%.64s\" is not an IP address", *out);
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

static int status_pod_ip(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return pod_ip(ctx, v, &((struct config_pod *)obj)->pod_ip);
}

/*
 * status.podIPs: [{ip: ...}], at most one address a family (Kubernetes' validation), the first of
 * podIP's family. A dual-stack pod whose first family is IPv6 has its IPv4 address only here.
 */
static int status_pod_ips(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_pod *p = obj;
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	unsigned int seen = 0;
	int err = 0;

	if (n > 2) {
		cfg_error(ctx, v, "a pod has at most two IPs (one of each family), not %zu", n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n && !err; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i), *ip;
		size_t saved = cfg_path_push_index(ctx, i);
		char *txt = NULL;

		ip = item && item->type == YAML_MAPPING_NODE ? cfg_map_get(ctx, item, "ip") : NULL;
		if (!ip)
			err = (cfg_error(ctx, item ? item : v, "want {ip: <address>}"), -EINVAL);
		else if (!(err = cfg_get_str(ctx, ip, &txt) ? -EINVAL : 0))
			err = cfg_ip_once_per_family(ctx, ip, txt, &seen)
				  ?: config_strings_add(&p->pod_ips, txt);
		free(txt);
		cfg_path_pop(ctx, saved);
	}
	return err;
}

static int status_host_ip(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return pod_ip(ctx, v, &((struct config_pod *)obj)->host_ip);
}

static int status_phase(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct config_pod *)obj)->phase);
}

/*
 * The Ready condition (the kubelet writes conditions; their other fields are not ambit's to
 * check, and new ones come with new Kubernetes versions).
 */
static int status_conditions(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_pod *p = obj;

	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *c = cfg_node(ctx, *i), *type, *status;
		size_t saved;

		if (!c || c->type != YAML_MAPPING_NODE)
			continue;
		type = cfg_map_get(ctx, c, "type");
		status = cfg_map_get(ctx, c, "status");
		if (!type || type->type != YAML_SCALAR_NODE ||
		    strcmp((const char *)type->data.scalar.value, "Ready"))
			continue;
		saved = cfg_path_push_index(ctx, (size_t)(i - v->data.sequence.items.start));
		if (!status || status->type != YAML_SCALAR_NODE) {
			cfg_error(ctx, c, "the Ready condition has no status");
			cfg_path_pop(ctx, saved);
			return -EINVAL;
		}
		p->ready = strcmp((const char *)status->data.scalar.value, "True") == 0
			       ? CONFIG_READY_TRUE
			       : CONFIG_READY_FALSE;
		cfg_path_pop(ctx, saved);
	}
	return 0;
}

static const struct cfg_field pod_status_fields[] = {
    {"phase", CFG_T_STR, status_phase, 0},
    {"conditions", CFG_T_SEQ, status_conditions, 0},
    {"observedGeneration", CFG_T_INT, NULL, 0},
    {"extendedResourceClaimStatus", CFG_T_MAP, NULL, 0},
    {"message", CFG_T_STR, NULL, 0},
    {"reason", CFG_T_STR, NULL, 0},
    {"nominatedNodeName", CFG_T_STR, NULL, 0},
    {"hostIP", CFG_T_STR, status_host_ip, 0},
    {"hostIPs", CFG_T_SEQ, NULL, 0},
    {"podIP", CFG_T_STR, status_pod_ip, 0},
    {"podIPs", CFG_T_SEQ, status_pod_ips, 0},
    {"startTime", CFG_T_STR, NULL, 0},
    {"initContainerStatuses", CFG_T_SEQ, NULL, 0},
    {"containerStatuses", CFG_T_SEQ, NULL, 0},
    {"ephemeralContainerStatuses", CFG_T_SEQ, NULL, 0},
    {"qosClass", CFG_T_STR, NULL, 0},
    {"resize", CFG_T_STR, NULL, 0},
    {"resourceClaimStatuses", CFG_T_SEQ, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int pod_root_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return pod_spec(ctx, v, &((struct config_pod *)((struct cfg_obj *)obj)->obj)->spec);
}

static int pod_root_status(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, pod_status_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_pod_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, pod_root_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, pod_root_status, 0},
    {NULL, 0, NULL, 0},
};

/* ---- Deployment ---- */

static int selector_match_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_labels(ctx, v, false, &((struct config_deployment *)obj)->selector);
}

static const struct cfg_field selector_fields[] = {
    {"matchLabels", CFG_T_MAP, selector_match_labels, 0},
    {"matchExpressions", CFG_T_SEQ, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int dep_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, selector_fields, obj);
}

static int template_meta(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_deployment *dep = obj;
	struct config_meta meta = {0};
	struct cfg_obj o = {.name_rule = CFG_NAME_SUBDOMAIN, .meta = &meta};
	int err = cfg_parse_meta(ctx, v, &o);

	dep->template_labels = meta.labels;
	dep->template_annotations = meta.annotations;
	memset(&meta.labels, 0, sizeof(meta.labels));
	memset(&meta.annotations, 0, sizeof(meta.annotations));
	config_meta_free(&meta);
	return err;
}

static int template_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_deployment *dep = obj;
	yaml_node_t *rp = cfg_map_get(ctx, v, "restartPolicy");

	if (pod_spec(ctx, v, &dep->template))
		return -EINVAL;
	/* A Deployment keeps its replicas running: apps/v1 validation allows nothing else. */
	if (dep->template.restart_policy != CONFIG_RESTART_ALWAYS) {
		size_t saved = cfg_path_push(ctx, "restartPolicy");

		cfg_error(ctx, rp, "\"%s\" is not supported in a Deployment: only \"Always\"",
			  config_restart_policy_name(dep->template.restart_policy));
		cfg_path_pop(ctx, saved);
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field template_fields[] = {
    {"metadata", CFG_T_MAP, template_meta, 0},
    {"spec", CFG_T_MAP, template_spec, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int dep_template(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, template_fields, obj);
}

static int dep_replicas(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, INT_MAX, &n))
		return -EINVAL;
	((struct config_deployment *)obj)->replicas = (int)n;
	return 0;
}

static const struct cfg_field strategy_fields[] = {
    {"type", CFG_T_STR, strategy_type, 0},
    {"rollingUpdate", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int dep_strategy(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, strategy_fields, obj);
}

static const struct cfg_field deployment_spec_fields[] = {
    {"replicas", CFG_T_INT, dep_replicas, 0},
    {"selector", CFG_T_MAP, dep_selector, CFG_F_REQUIRED},
    {"template", CFG_T_MAP, dep_template, CFG_F_REQUIRED},
    {"strategy", CFG_T_MAP, dep_strategy, 0},
    {"minReadySeconds", CFG_T_INT, non_negative, 0},
    {"revisionHistoryLimit", CFG_T_INT, non_negative, 0},
    {"progressDeadlineSeconds", CFG_T_INT, positive, 0},
    {"paused", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int dep_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_deployment *dep = ((struct cfg_obj *)obj)->obj;
	yaml_node_t *r = cfg_map_get(ctx, v, "replicas");

	if (!r || cfg_is_null(r))
		dep->replicas = 1;
	return cfg_walk_map(ctx, v, deployment_spec_fields, dep);
}

const struct cfg_field cfg_deployment_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, dep_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_deployment_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	struct config_deployment *dep = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	yaml_node_t *sel = cfg_map_get(ctx, spec, "selector");
	int before = ctx->nerrors;
	size_t saved;

	if (!sel)
		return 0; /* already reported as missing */
	saved = cfg_path_push(ctx, "spec.selector");
	if (!dep->selector.n && !cfg_map_get(ctx, sel, "matchExpressions"))
		cfg_error(ctx, sel, "empty selector: it would select every pod");
	else if (!config_labels_match(&dep->selector, &dep->template_labels))
		cfg_error(ctx, sel, "selector does not match the template's labels");
	cfg_path_pop(ctx, saved);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
