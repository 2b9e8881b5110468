// SPDX-License-Identifier: Apache-2.0
/*
 * From manifests to a local cluster plan: Deployments expanded into pods, pods placed on nodes
 * and given addresses, Services given ClusterIPs; then runtime/pods.json and the per-pod hosts
 * files that stand in for cluster DNS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ambit/fileutil.h"
#include "local.h"
#include "objstore.h"

/*
 * .1 of a node's pod CIDR is its gateway, cni0's address with --cni bridge (unused when routed),
 * and .255 the /24's broadcast there: neither is ever a pod's.
 */
#define PLAN_FIRST_POD_HOST 2
#define PLAN_LAST_POD_HOST 254

void plan_free(struct ctl_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->npods; i++) {
		free(p->pods[i].namespace);
		free(p->pods[i].name);
		free(p->pods[i].owner);
		free(p->pods[i].service_account);
	}
	for (size_t i = 0; i < p->nservices; i++) {
		free(p->services[i].key);
		free(p->services[i].ip);
	}
	for (size_t i = 0; i < p->nwaypoints; i++) {
		struct ctl_waypoint_pod *w = &p->waypoints[i];

		for (size_t l = 0; l < w->labels.n; l++) {
			free(w->labels.items[l].key);
			free(w->labels.items[l].value);
		}
		free(w->labels.items);
		for (size_t l = 0; l < w->annotations.n; l++) {
			free(w->annotations.items[l].key);
			free(w->annotations.items[l].value);
		}
		free(w->annotations.items);
		free(w->spec.service_account);
		free(w->spec.container);
		for (size_t a = 0; w->spec.command && w->spec.command[a]; a++)
			free(w->spec.command[a]);
		free(w->spec.command);
	}
	free(p->pods);
	free(p->services);
	free(p->waypoints);
	memset(p, 0, sizeof(*p));
}

static bool name_safe(const char *s)
{
	if (!*s || *s == '.' || *s == '-' || strlen(s) > 253)
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '.'))
			return false;
	}
	return true;
}

/* Allocation state of one plan_build: what is taken, and where round-robin placement is. */
struct plan_alloc {
	const cJSON *existing; /* pods.json of the running cluster, or NULL */
	int next_node;
	unsigned int next_iface;
};

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *existing_pod(const struct plan_alloc *a, const char *ns, const char *name)
{
	const cJSON *pod;

	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(a->existing, "pods"))
	{
		const char *pns = jstr(pod, "namespace"), *pname = jstr(pod, "name");
		if (pns && pname && !strcmp(pns, ns) && !strcmp(pname, name))
			return pod;
	}
	return NULL;
}

/* An address or interface name is taken when a planned or a running pod has it. */
static bool taken(const struct ctl_plan *p, const struct plan_alloc *a, const char *key,
		  const char *val)
{
	const cJSON *pod;

	for (size_t i = 0; i < p->npods; i++) {
		const char *v = !strcmp(key, "ip") ? p->pods[i].ip_str : p->pods[i].iface;
		if (!strcmp(v, val))
			return true;
	}
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(a->existing, "pods"))
	{
		const char *v = jstr(pod, key);
		char slot[16];

		if (!v && !strcmp(key, "ip") &&
		    !cluster_pod_slot(jstr(pod, "ip6"), slot, sizeof(slot)))
			v = slot;
		if (v && !strcmp(v, val))
			return true;
	}
	return false;
}

/* Keeps a running pod's node, address and veth; places and addresses a new one. */
static int plan_assign(struct ctl_plan *p, const struct ctl_cluster *c, struct plan_alloc *a,
		       struct ctl_pod *pod, const struct config_pod_spec *spec)
{
	const cJSON *old = existing_pod(a, pod->namespace, pod->name);
	const struct ctl_node *node;

	if (old) {
		node = cluster_node(c, jstr(old, "node") ? jstr(old, "node") : "");
		/* An IPv6 cluster's pod has its IPv6 alone there: its slot is read back from it. */
		if (!node || (!jstr(old, "ip") && !node->pods_v6only) || !jstr(old, "hostIface") ||
		    (jstr(old, "ip")
			 ? str_fmt(pod->ip_str, sizeof(pod->ip_str), "%s", jstr(old, "ip"))
			 : cluster_pod_slot(jstr(old, "ip6"), pod->ip_str, sizeof(pod->ip_str))) ||
		    str_fmt(pod->iface, sizeof(pod->iface), "%s", jstr(old, "hostIface"))) {
			fprintf(stderr, "ambitctl: pods.json: pod %s/%s is malformed\n",
				pod->namespace, pod->name);
			return -EINVAL;
		}
		pod->node = node;
		pod->running = true;
		/* Older pods.json files have none: the pod is then as old as this plan. */
		if (jstr(old, "creationTimestamp"))
			str_fmt(pod->created, sizeof(pod->created), "%s",
				jstr(old, "creationTimestamp"));
		return 0;
	}
	if (spec->node_name) {
		node = cluster_node(c, spec->node_name);
		if (!node) {
			fprintf(stderr,
				"ambitctl: pod %s/%s: spec.nodeName '%s' is not a node of "
				"this cluster (node1..node%d)\n",
				pod->namespace, pod->name, spec->node_name, c->nnodes);
			return -EINVAL;
		}
	} else {
		node = &c->nodes[a->next_node++ % c->nnodes];
	}
	pod->node = node;
	for (int h = PLAN_FIRST_POD_HOST;; h++) {
		if (h > PLAN_LAST_POD_HOST) {
			fprintf(stderr, "ambitctl: node %s: pod CIDR %s is full\n", node->name,
				node->pod_cidr);
			return -ENOSPC;
		}
		str_fmt(pod->ip_str, sizeof(pod->ip_str), "10.98.%d.%d", node->pod_net, h);
		if (!taken(p, a, "ip", pod->ip_str))
			break;
	}
	do {
		if (a->next_iface > 0xffffff)
			return -ENOSPC;
		str_fmt(pod->iface, sizeof(pod->iface), "amb%06x", a->next_iface++);
	} while (taken(p, a, "hostIface", pod->iface));
	return 0;
}

static int plan_add_pod(struct ctl_plan *p, const struct ctl_cluster *c, struct plan_alloc *a,
			const char *ns, const char *name, const char *owner,
			const struct config_pod_spec *spec, const struct config_labels *labels,
			const struct config_labels *annotations)
{
	struct ctl_pod pod = {0}, *grown;
	struct in_addr addr;
	int ret;

	/* These name netns, cgroups and files: never let a separator or dot-dir through. */
	if (!name_safe(ns) || !name_safe(name)) {
		fprintf(stderr, "ambitctl: pod %s/%s: names must be lowercase RFC 1123\n", ns,
			name);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->npods; i++) {
		if (!strcmp(p->pods[i].namespace, ns) && !strcmp(p->pods[i].name, name)) {
			fprintf(stderr, "ambitctl: pod %s/%s defined twice\n", ns, name);
			return -EINVAL;
		}
	}
	pod.namespace = strdup(ns);
	pod.name = strdup(name);
	pod.owner = owner ? strdup(owner) : NULL;
	pod.service_account = strdup(spec->service_account ? spec->service_account : "default");
	ret = -ENOMEM;
	if (!pod.namespace || !pod.name || (owner && !pod.owner) || !pod.service_account)
		goto fail;
	ret = plan_assign(p, c, a, &pod, spec);
	if (ret)
		goto fail;
	inet_pton(AF_INET, pod.ip_str, &addr);
	pod.ip = addr.s_addr;
	if (pod.node->pod_cidr6[0] && cluster_ip6(pod.ip_str, pod.ip6_str, sizeof(pod.ip6_str))) {
		fprintf(stderr, "ambitctl: pod %s/%s: no IPv6 address for %s\n", ns, name,
			pod.ip_str);
		ret = -EINVAL;
		goto fail;
	}
	cluster_pod_netns(c, ns, name, pod.netns, sizeof(pod.netns));
	str_fmt(pod.cgroup, sizeof(pod.cgroup), "%s/%s_%s", pod.node->cgroup, ns, name);
	cluster_path(c, pod.pod_dir, sizeof(pod.pod_dir), "pods/%s_%s", ns, name);
	pod.labels = labels;
	pod.annotations = annotations;
	pod.spec = spec;
	ret = -ENOMEM;
	grown = realloc(p->pods, (p->npods + 1) * sizeof(*p->pods));
	if (!grown)
		goto fail;
	p->pods = grown;
	p->pods[p->npods++] = pod;
	return 0;
fail:
	free(pod.namespace);
	free(pod.name);
	free(pod.owner);
	free(pod.service_account);
	return ret;
}

static bool is_waypoint(const struct config_k8s_gateway *g)
{
	return g->class_name && !strcmp(g->class_name, CONFIG_WAYPOINT_CLASS);
}

static int label_add(struct config_labels *l, const char *key, const char *value)
{
	struct config_label *it = &l->items[l->n];

	it->key = strdup(key);
	it->value = strdup(value);
	if (!it->key || !it->value) {
		free(it->key);
		free(it->value);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

/*
 * A proxy pod ambitctl makes, as Istio's controllers deploy one (a waypoint's, the ingress
 * gateway's): the waypoint binary given the socket on which the agent serves it its config and
 * certificate, out of the mesh's capture (istio.io/dataplane-mode: none), running as @sa,
 * labelled with @labels (key, value, ..., NULL) and owned by Deployment @owner.
 */
static int plan_proxy(struct ctl_plan *p, const struct ctl_cluster *c, struct plan_alloc *a,
		      const char *ns, const char *name, const char *owner, const char *sa,
		      const char *const *labels)
{
	struct ctl_waypoint_pod *w = &p->waypoints[p->nwaypoints];
	char bin[PATH_MAX], sock[PATH_MAX];
	size_t nl = 0;
	int ret = 0;

	while (labels[nl])
		nl++;
	memset(w, 0, sizeof(*w));
	p->nwaypoints++;
	if (cluster_waypoint_bin(bin, sizeof(bin)) ||
	    (c->kube
		 ? str_fmt(sock, sizeof(sock), SANDBOX_WAYPOINT_AGENT_DIR "/agent.sock")
		 : cluster_path(c, sock, sizeof(sock), "pods/%s_%s/agent/agent.sock", ns, name)))
		return -ENAMETOOLONG;
	w->labels.items = calloc(nl / 2 + 2, sizeof(*w->labels.items));
	w->spec.command = calloc(4, sizeof(*w->spec.command));
	w->spec.service_account = strdup(sa);
	w->spec.container = strdup("istio-proxy"); /* as Istio names its proxies' container */
	if (!w->labels.items || !w->spec.command || !w->spec.service_account || !w->spec.container)
		return -ENOMEM;
	w->spec.restart_policy = CONFIG_RESTART_ALWAYS;
	w->spec.security.run_as_user = -1;
	w->spec.security.run_as_group = -1;
	if (!(w->spec.command[0] = strdup(bin)) || !(w->spec.command[1] = strdup("--agent")) ||
	    !(w->spec.command[2] = strdup(sock)))
		return -ENOMEM;
	ret = label_add(&w->labels, AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_NONE);
	for (size_t i = 0; i + 1 < nl && !ret; i += 2)
		ret = label_add(&w->labels, labels[i], labels[i + 1]);
	/* Scraped as Istio's addon finds a waypoint or gateway: its admin port's metrics. */
	w->annotations.items = calloc(3, sizeof(*w->annotations.items));
	ret = ret ?: (w->annotations.items ? 0 : -ENOMEM);
	ret = ret ?: label_add(&w->annotations, "prometheus.io/scrape", "true");
	ret = ret ?: label_add(&w->annotations, "prometheus.io/port", CTL_METRICS_PORT);
	ret = ret ?: label_add(&w->annotations, "prometheus.io/path", "/stats/prometheus");
	if (!ret)
		ret = plan_add_pod(p, c, a, ns, name, owner, &w->spec, &w->labels, &w->annotations);
	if (!ret)
		p->pods[p->npods - 1].waypoint = true;
	return ret;
}

/*
 * The instance of waypoint Gateway @g, as Istio's gateway controller deploys it: labelled with
 * the Gateway's name, running as the Gateway's service account
 * (gateway.istio.io/service-account, else its name).
 */
static int plan_waypoint(struct ctl_plan *p, const struct ctl_cluster *c, struct plan_alloc *a,
			 const struct config_k8s_gateway *g)
{
	const char *sa = config_label_get(&g->meta.annotations, CONFIG_ANNOT_GATEWAY_SA);
	const char *const labels[] = {CONFIG_LABEL_GATEWAY_NAME,
				      g->meta.name,
				      "service.istio.io/canonical-name",
				      g->meta.name,
				      "gateway.istio.io/managed",
				      "istio.io-mesh-controller",
				      NULL};
	char name[300];

	str_fmt(name, sizeof(name), "%s-0", g->meta.name);
	return plan_proxy(p, c, a, g->meta.namespace, name, g->meta.name, sa ? sa : g->meta.name,
			  labels);
}

/*
 * The deployment of Gateway API Gateway @g of class istio, as Istio's deployment controller
 * makes it: Deployment `<name>-istio` (here its one pod `<name>-istio-0`), service account
 * `<name>-istio`, labelled with the Gateway's name; its Service is gwdeploy.c's.
 */
static int plan_gateway(struct ctl_plan *p, const struct ctl_cluster *c, struct plan_alloc *a,
			const struct config_k8s_gateway *g)
{
	char name[300], owner[300];
	const char *const labels[] = {CONFIG_LABEL_GATEWAY_NAME,
				      g->meta.name,
				      "istio.io/gateway-name",
				      g->meta.name,
				      "service.istio.io/canonical-name",
				      owner,
				      "gateway.istio.io/managed",
				      "istio.io-gateway-controller",
				      NULL};

	str_fmt(owner, sizeof(owner), "%s-istio", g->meta.name);
	str_fmt(name, sizeof(name), "%s-istio-0", g->meta.name);
	return plan_proxy(p, c, a, g->meta.namespace, name, owner, owner, labels);
}

/*
 * The instance of east-west Gateway @g, as Istio's controller deploys it (istio-east-west.yaml
 * of its testdata): Deployment, service account and Service all the Gateway's name, labelled
 * with it and the class (and the network the Gateway names).
 */
static int plan_east_west(struct ctl_plan *p, const struct ctl_cluster *c, struct plan_alloc *a,
			  const struct config_k8s_gateway *g)
{
	const char *net = config_label_get(&g->meta.labels, CONFIG_LABEL_NETWORK);
	char name[300];
	const char *const labels[] = {CONFIG_LABEL_GATEWAY_NAME,
				      g->meta.name,
				      "gateway.networking.k8s.io/gateway-class-name",
				      CONFIG_EASTWEST_CLASS,
				      "gateway.istio.io/managed",
				      "istio.io-eastwest-controller",
				      "service.istio.io/canonical-name",
				      g->meta.name,
				      net ? CONFIG_LABEL_NETWORK : NULL,
				      net,
				      NULL};

	str_fmt(name, sizeof(name), "%s-0", g->meta.name);
	return plan_proxy(p, c, a, g->meta.namespace, name, g->meta.name, g->meta.name, labels);
}

/*
 * The local cluster's ingress gateway (deploy/ingress.yaml.tmpl, which `local up` applies
 * unless --no-ingress): while its Service is there, one pod of Deployment
 * istio-ingressgateway in istio-system, labelled as Istio's (istio: ingressgateway), which
 * the Gateways selecting it make a gateway proxy (the agent serves it their listeners).
 */
static int plan_ingress(struct ctl_plan *p, const struct ctl_cluster *c, struct plan_alloc *a,
			const struct config *cfg)
{
	static const char *const labels[] = {"app",
					     CTL_INGRESS_NAME,
					     "istio",
					     "ingressgateway",
					     "service.istio.io/canonical-name",
					     CTL_INGRESS_NAME,
					     NULL};
	const struct config_service *s = NULL;

	for (size_t i = 0; i < cfg->n_services && !s; i++)
		if (!strcmp(cfg->services[i].meta.namespace, CTL_INGRESS_NS) &&
		    !strcmp(cfg->services[i].meta.name, CTL_INGRESS_NAME))
			s = &cfg->services[i];
	if (!s || !config_label_get(&s->meta.labels, CTL_INGRESS_LABEL))
		return 0;
	return plan_proxy(p, c, a, CTL_INGRESS_NS, CTL_INGRESS_NAME "-0", CTL_INGRESS_NAME,
			  CTL_INGRESS_NAME "-service-account", labels);
}

int plan_build(struct ctl_plan *p, const struct ctl_cluster *c, const struct config *cfg,
	       const cJSON *existing)
{
	struct plan_alloc a = {.existing = existing, .next_iface = 1};
	const cJSON *pod;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	/* New pods continue the round robin and never reuse a running pod's veth name. */
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(existing, "pods"))
	{
		const char *ifc = jstr(pod, "hostIface");
		unsigned int idx;

		a.next_node++;
		if (ifc && sscanf(ifc, "amb%x", &idx) == 1 && idx >= a.next_iface)
			a.next_iface = idx + 1;
	}
	for (size_t i = 0; i < cfg->n_deployments && !ret; i++) {
		const struct config_deployment *d = &cfg->deployments[i];

		for (int r = 0; r < d->replicas && !ret; r++) {
			char name[300];

			str_fmt(name, sizeof(name), "%s-%d", d->meta.name, r);
			ret = plan_add_pod(p, c, &a, d->meta.namespace, name, d->meta.name,
					   &d->template, &d->template_labels,
					   &d->template_annotations);
		}
	}
	for (size_t i = 0; i < cfg->n_pods && !ret; i++) {
		const struct config_pod *cp = &cfg->pods[i];

		ret = plan_add_pod(p, c, &a, cp->meta.namespace, cp->meta.name, NULL, &cp->spec,
				   &cp->meta.labels, &cp->meta.annotations);
	}
	/* Every slot up front: the pods point into this array. */
	if (!ret && !(p->waypoints = calloc(cfg->n_k8s_gateways + 1, sizeof(*p->waypoints))))
		ret = -ENOMEM;
	for (size_t i = 0; i < cfg->n_k8s_gateways && !ret; i++)
		if (is_waypoint(&cfg->k8s_gateways[i]))
			ret = plan_waypoint(p, c, &a, &cfg->k8s_gateways[i]);
		else if (cfg->k8s_gateways[i].class_name &&
			 !strcmp(cfg->k8s_gateways[i].class_name, CONFIG_GATEWAY_CLASS))
			ret = plan_gateway(p, c, &a, &cfg->k8s_gateways[i]);
		else if (cfg->k8s_gateways[i].class_name &&
			 !strcmp(cfg->k8s_gateways[i].class_name, CONFIG_EASTWEST_CLASS))
			ret = plan_east_west(p, c, &a, &cfg->k8s_gateways[i]);
	if (!ret)
		ret = plan_ingress(p, c, &a, cfg);
	if (!ret)
		ret = plan_services(p, c, cfg, existing);
	if (!ret)
		plan_lb_ips(p, c, cfg, existing);
	if (ret)
		plan_free(p);
	return ret;
}

/* What the kubelet runs the pod with: its command, restartPolicy and securityContext. */
static int pod_runtime_json(cJSON *o, const struct config_pod_spec *spec)
{
	const struct config_security *s = &spec->security;
	uint64_t caps = config_security_caps(s);
	cJSON *sec, *list;

	if (spec->command) {
		list = cJSON_AddArrayToObject(o, "command");
		for (size_t i = 0; list && spec->command[i]; i++)
			if (!cJSON_AddItemToArray(list, cJSON_CreateString(spec->command[i])))
				return -ENOMEM;
		if (!list)
			return -ENOMEM;
	} else if (!cJSON_AddNullToObject(o, "command")) {
		return -ENOMEM;
	}
	if (!cJSON_AddStringToObject(o, "restartPolicy",
				     config_restart_policy_name(spec->restart_policy)) ||
	    !(sec = cJSON_AddObjectToObject(o, "securityContext")))
		return -ENOMEM;
	if (s->run_as_user >= 0)
		cJSON_AddNumberToObject(sec, "runAsUser", (double)s->run_as_user);
	if (s->run_as_group >= 0)
		cJSON_AddNumberToObject(sec, "runAsGroup", (double)s->run_as_group);
	cJSON_AddBoolToObject(sec, "runAsNonRoot", s->run_as_non_root);
	cJSON_AddBoolToObject(sec, "privileged", s->privileged);
	cJSON_AddBoolToObject(sec, "readOnlyRootFilesystem", s->read_only_root_fs);
	cJSON_AddBoolToObject(sec, "allowPrivilegeEscalation", !s->no_new_privs);
	/* The set it runs with, resolved: the kubelet need not know containerd's rules. */
	list = cJSON_AddArrayToObject(sec, "capabilities");
	for (int bit = 0; list && bit <= CONFIG_CAP_LAST; bit++)
		if ((caps & (UINT64_C(1) << bit)) &&
		    !cJSON_AddItemToArray(list, cJSON_CreateString(config_capability_name(bit))))
			return -ENOMEM;
	return list ? 0 : -ENOMEM;
}

int plan_write_pods_json(const struct ctl_plan *p, const struct ctl_cluster *c)
{
	cJSON *root = cJSON_CreateObject(), *pods, *ips, *ips6 = NULL, *lbs = NULL, *lbs6 = NULL,
	      *annots;
	char path[PATH_MAX];
	char *text = NULL;
	int ret = -ENOMEM;

	if (!root)
		return -ENOMEM;
	pods = cJSON_AddArrayToObject(root, "pods");
	ips = cJSON_AddObjectToObject(root, "serviceIPs");
	if (!pods || !ips)
		goto out;
	for (size_t i = 0; i < p->npods; i++) {
		const struct ctl_pod *pod = &p->pods[i];
		cJSON *o = cJSON_CreateObject(), *labels;
		char uid[600], created[32];

		if (!o || !cJSON_AddItemToArray(pods, o))
			goto out;
		str_fmt(uid, sizeof(uid), "%s/%s", pod->namespace, pod->name);
		if (pod->created[0])
			str_fmt(created, sizeof(created), "%s", pod->created);
		else
			store_timestamp(time(NULL), created, sizeof(created));
		if (!cJSON_AddStringToObject(o, "namespace", pod->namespace) ||
		    !cJSON_AddStringToObject(o, "name", pod->name) ||
		    !cJSON_AddStringToObject(o, "uid", uid) ||
		    !(pod->owner ? cJSON_AddStringToObject(o, "owner", pod->owner)
				 : cJSON_AddNullToObject(o, "owner")) ||
		    !cJSON_AddStringToObject(o, "node", pod->node->name) ||
		    !cJSON_AddStringToObject(o, "creationTimestamp", created) ||
		    (pod_ip4(pod)[0] && !cJSON_AddStringToObject(o, "ip", pod->ip_str)) ||
		    (pod->ip6_str[0] && !cJSON_AddStringToObject(o, "ip6", pod->ip6_str)) ||
		    !cJSON_AddStringToObject(o, "cgroup", pod->cgroup) ||
		    !cJSON_AddStringToObject(o, "hostIface", pod->iface) ||
		    !cJSON_AddStringToObject(o, "netns", pod->netns) ||
		    !cJSON_AddStringToObject(o, "serviceAccount", pod->service_account) ||
		    (pod->spec && pod->spec->container &&
		     !cJSON_AddStringToObject(o, "container", pod->spec->container)) ||
		    /* The pod's name in DNS under a headless Service (ztunnel/dns.c). */
		    (pod->spec && pod->spec->hostname &&
		     !cJSON_AddStringToObject(o, "hostname", pod->spec->hostname)) ||
		    (pod->spec && pod->spec->subdomain &&
		     !cJSON_AddStringToObject(o, "subdomain", pod->spec->subdomain)) ||
		    /* --kube: the Pod's metadata.uid in the API server, which names its cgroup. */
		    (pod->uid[0] && !cJSON_AddStringToObject(o, "podUID", pod->uid)) ||
		    !(labels = cJSON_AddObjectToObject(o, "labels")))
			goto out;
		for (size_t l = 0; pod->labels && l < pod->labels->n; l++) {
			if (!cJSON_AddStringToObject(labels, pod->labels->items[l].key,
						     pod->labels->items[l].value))
				goto out;
		}
		if (!(annots = cJSON_AddObjectToObject(o, "annotations")))
			goto out;
		for (size_t l = 0; pod->annotations && l < pod->annotations->n; l++) {
			if (!cJSON_AddStringToObject(annots, pod->annotations->items[l].key,
						     pod->annotations->items[l].value))
				goto out;
		}
		if (pod_runtime_json(o, pod->spec))
			goto out;
		if (pod->waypoint) {
			char dir[PATH_MAX];

			/* --kube: where its node's agent serves it (<DaemonSet's
			 * /run/ambit>/waypoints). */
			if (c->kube)
				str_fmt(dir, sizeof(dir), "%s/waypoints/%s_%s", pod->node->host_run,
					pod->namespace, pod->name);
			else
				str_fmt(dir, sizeof(dir), "%s/agent", pod->pod_dir);
			if (!cJSON_AddStringToObject(o, "agentDir", dir))
				goto out;
		}
	}
	for (size_t i = 0; i < p->nservices; i++) {
		/* A SingleStack IPv6 Service is in serviceIPs6 alone. */
		if (p->services[i].ip[0] &&
		    !cJSON_AddStringToObject(ips, p->services[i].key, p->services[i].ip))
			goto out;
		/* serviceIPs6: dual-stack and IPv6 Services' IPv6 VIPs (when there is one). */
		if (p->services[i].ip6[0] &&
		    (!(ips6 = ips6 ?: cJSON_AddObjectToObject(root, "serviceIPs6")) ||
		     !cJSON_AddStringToObject(ips6, p->services[i].key, p->services[i].ip6)))
			goto out;
		/* LoadBalancer Services' addresses on the machine's LoadBalancer network. */
		if (p->services[i].lb[0] &&
		    (!(lbs = lbs ?: cJSON_AddObjectToObject(root, "loadBalancerIPs")) ||
		     !cJSON_AddStringToObject(lbs, p->services[i].key, p->services[i].lb)))
			goto out;
		if (p->services[i].lb6[0] &&
		    (!(lbs6 = lbs6 ?: cJSON_AddObjectToObject(root, "loadBalancerIPs6")) ||
		     !cJSON_AddStringToObject(lbs6, p->services[i].key, p->services[i].lb6)))
			goto out;
	}
	text = cJSON_Print(root);
	if (!text)
		goto out;
	cluster_path(c, path, sizeof(path), "runtime/pods.json");
	ret = write_file_atomic(path, text);
	/* --with-prometheus: its file_sd targets follow the pods. */
	ret = ret ?: prom_targets_write(c, root);
out:
	free(text);
	cJSON_Delete(root);
	return ret;
}

cJSON *plan_read_pods_json(const struct ctl_cluster *c)
{
	char path[PATH_MAX];
	char *text;
	cJSON *root;

	cluster_path(c, path, sizeof(path), "runtime/pods.json");
	text = read_file(path, NULL);
	if (!text)
		return NULL;
	root = cJSON_Parse(text);
	free(text);
	if (!root || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "pods"))) {
		cJSON_Delete(root);
		errno = EINVAL;
		return NULL;
	}
	return root;
}

/*
 * The resolv.conf of one pod, as the kubelet writes it (ClusterFirst): the cluster's search
 * list, ndots, and the cluster's DNS (up.c). An enrolled pod's queries go to its node ztunnel's
 * proxy instead (the capture steers every port-53 packet; the answers show the address asked),
 * and a pod leaving the mesh asks the cluster's DNS again: the same file for the pod's life.
 */
static int plan_resolv_text(const struct ctl_pod *pod, char **out)
{
	return asprintf(out,
			"# written by ambitctl local up: the pod's DNS (the cluster's)\n"
			"search %s.svc.cluster.local svc.cluster.local cluster.local\n"
			"nameserver %s\n"
			"options ndots:5\n",
			pod->namespace,
			pod->node->pods_v6only ? CTL_CLUSTER_DNS_IP6 : CTL_CLUSTER_DNS_IP) < 0
		   ? -ENOMEM
		   : 0;
}

/*
 * The names the cluster's DNS answers (dnsmasq's hosts file in <run>/dns/): each Service with
 * an address by its FQDN and its <name>.<namespace>.svc, as CoreDNS answers them.
 */
static int plan_dns_text(const struct ctl_plan *p, const struct config *cfg, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -errno;
	fprintf(f, "# written by ambitctl local up: the Services of the local cluster\n");
	for (size_t i = 0; i < cfg->n_services; i++) {
		const char *ns = cfg->services[i].meta.namespace,
			   *name = cfg->services[i].meta.name;
		const char *vip = plan_vip(p, ns, name), *vip6 = plan_vip6(p, ns, name);

		if (vip)
			fprintf(f, "%s\t%s.%s.svc.cluster.local %s.%s.svc\n", vip, name, ns, name,
				ns);
		/* A dual-stack Service answers AAAA too, as CoreDNS does. */
		if (vip6)
			fprintf(f, "%s\t%s.%s.svc.cluster.local %s.%s.svc\n", vip6, name, ns, name,
				ns);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

/* Whether @path holds exactly @text. */
static bool same_file_text(const char *path, const char *text)
{
	char *old = NULL;
	size_t len = 0, n = strlen(text);
	bool same =
	    fileutil_read_file(path, n + 1, &old, &len) == 0 && len == n && !memcmp(old, text, n);

	free(old);
	return same;
}

/* @text into @path unless it already holds it: watchers of the file see only changes. */
static int write_if_changed(const char *path, const char *text)
{
	return same_file_text(path, text) ? 0 : write_file_atomic(path, text);
}

int plan_write_hosts(const struct ctl_cluster *c, const struct ctl_plan *p,
		     const struct config *cfg)
{
	char path[PATH_MAX + 16], *text = NULL;
	int ret = plan_dns_text(p, cfg, &text);

	cluster_path(c, path, sizeof(path), "dns/services");
	ret = ret ?: write_if_changed(path, text);
	free(text);
	if (ret) {
		fprintf(stderr, "ambitctl: the cluster's DNS names (%s): %s\n", path,
			strerror(-ret));
		return ret;
	}
	/* Each pod's own: what a kubelet writes, fixed for the pod's life, bound before it starts.
	 */
	for (size_t i = 0; !ret && i < p->npods; i++) {
		const struct ctl_pod *pod = &p->pods[i];
		char dir[PATH_MAX];

		str_fmt(dir, sizeof(dir), "/etc/netns/%s", pod->netns);
		ret = mkdir_p(dir, 0755);
		text = NULL;
		/* An IPv6 cluster's pod is named by its IPv6 alone. */
		if (!ret &&
		    asprintf(&text,
			     "# written by ambitctl local up: the pod's own names\n"
			     "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
			     "%s%s%s%s%s%s%s%s",
			     pod_ip4(pod), pod_ip4(pod)[0] ? "\t" : "",
			     pod_ip4(pod)[0] ? pod->name : "", pod_ip4(pod)[0] ? "\n" : "",
			     pod->ip6_str, pod->ip6_str[0] ? "\t" : "",
			     pod->ip6_str[0] ? pod->name : "", pod->ip6_str[0] ? "\n" : "") < 0)
			ret = -ENOMEM;
		str_fmt(path, sizeof(path), "%s/hosts", dir);
		ret = ret ?: write_if_changed(path, text);
		free(text);
		text = NULL;
		ret = ret ?: plan_resolv_text(pod, &text);
		str_fmt(path, sizeof(path), "%s/resolv.conf", dir);
		ret = ret ?: write_if_changed(path, text);
		free(text);
		if (ret)
			fprintf(stderr, "ambitctl: hosts file of %s: %s\n", pod->netns,
				strerror(-ret));
	}
	return ret;
}
