// SPDX-License-Identifier: Apache-2.0
/*
 * The dashboard's view of the cluster's state: its workloads (pods grouped by owner, as
 * Istio's source_workload names them), Services, the policies and routes that apply to each
 * (with `analyze`'s findings and `check`'s explanations), each ztunnel's live connections, and
 * every object of the configuration with its validation state.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ambit/l7.h"
#include "dashboard.h"
#include "local/objstore.h"

#define DASH_ROOT_NS "istio-system"
#define DASH_TRUST_DOMAIN "cluster.local"
/* `check` explanations per workload: one per source seen calling it, at most this many. */
#define DASH_MAX_EXPLAIN 4

bool dash_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 253)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '.'))
			return false;
	return true;
}

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

const char *dash_pod_workload(const cJSON *pod)
{
	return jstr(pod, "owner") ?: jstr(pod, "name") ?: "";
}

const char *dash_pod_role(const cJSON *pod)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(pod, "labels");
	const char *managed = jstr(labels, "gateway.istio.io/managed");
	const char *istio = jstr(labels, "istio");

	if (managed && !strcmp(managed, "istio.io-mesh-controller"))
		return "waypoint";
	if ((managed && !strcmp(managed, "istio.io-gateway-controller")) ||
	    (istio && (!strcmp(istio, "ingressgateway") || !strcmp(istio, "egressgateway"))))
		return "gateway";
	return "workload";
}

int dash_view_open(struct dash_view *v, const struct dash *d, long duration)
{
	char state[PATH_MAX];

	memset(v, 0, sizeof(*v));
	v->d = d;
	v->duration = duration;
	config_init(&v->cfg);
	v->pods_doc = plan_read_pods_json(&d->c);
	if (!v->pods_doc)
		return -errno;
	v->pods = cJSON_GetObjectItemCaseSensitive(v->pods_doc, "pods");
	cluster_path(&d->c, state, sizeof(state), "state");
	load_state_quiet(&v->cfg, state);
	return 0;
}

void dash_view_close(struct dash_view *v)
{
	cJSON_Delete(v->pods_doc);
	config_free(&v->cfg);
}

/* A pod's labels as config_labels (items borrowed from the JSON; free ->items only). */
static struct config_labels pod_labels(const cJSON *pod)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(pod, "labels"), *kv;
	struct config_labels l = {0};
	size_t n = (size_t)cJSON_GetArraySize(labels);

	l.items = calloc(n ? n : 1, sizeof(*l.items));
	if (!l.items)
		return l;
	cJSON_ArrayForEach(kv, labels) if (cJSON_IsString(kv))
	{
		l.items[l.n].key = kv->string;
		l.items[l.n++].value = kv->valuestring;
	}
	return l;
}

static bool add_str(cJSON *o, const char *k, const char *v)
{
	return v ? cJSON_AddStringToObject(o, k, v) != NULL : cJSON_AddNullToObject(o, k) != NULL;
}

/* The Services of namespace @ns whose selector picks @labels. */
static size_t pod_services(const struct config *cfg, const char *ns,
			   const struct config_labels *labels, const struct config_service **out,
			   size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_services && n < max; i++) {
		const struct config_service *s = &cfg->services[i];

		if (!strcmp(s->meta.namespace, ns) && s->selector.n &&
		    config_labels_match(&s->selector, labels))
			out[n++] = s;
	}
	return n;
}

static const char *service_waypoint(const struct config *cfg, const struct config_service *s,
				    char *buf, size_t len)
{
	const struct config_k8s_gateway *g = l7_service_waypoint(cfg, s);

	if (!g)
		return NULL;
	str_fmt(buf, len, "%s/%s", g->meta.namespace, g->meta.name);
	return buf;
}

/* The findings `analyze` has on object "@kind @ns/@name". */
static cJSON *findings_of(const struct config_diags *diags, const char *kind, const char *ns,
			  const char *name, const char **worst)
{
	cJSON *arr = cJSON_CreateArray();
	char object[600];

	if (ns)
		str_fmt(object, sizeof(object), "%s %s/%s", kind, ns, name);
	else
		str_fmt(object, sizeof(object), "%s %s", kind, name);
	for (size_t i = 0; arr && i < diags->n; i++) {
		const struct config_diag *f = &diags->items[i];
		cJSON *o;

		if (!f->object || strcmp(f->object, object))
			continue;
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o) ||
		    !add_str(o, "severity", f->error ? "error" : "warning") ||
		    !add_str(o, "field", f->field) || !add_str(o, "message", f->message))
			break;
		if (worst && (f->error || !strcmp(*worst, "valid")))
			*worst = f->error ? "error" : "warning";
	}
	return arr;
}

static bool add_applied(cJSON *arr, const struct config_diags *diags, const char *kind,
			const struct config_meta *m, const char *by)
{
	const cJSON *have;
	cJSON *o;

	/* Once each, however many of the workload's Services it is for. */
	cJSON_ArrayForEach(have, arr)
	{
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "kind")),
			    kind) &&
		    !strcmp(
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "namespace")),
			m->namespace) &&
		    !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "name")),
			    m->name))
			return true;
	}
	o = cJSON_CreateObject();

	return o && cJSON_AddItemToArray(arr, o) && add_str(o, "kind", kind) &&
	       add_str(o, "namespace", m->namespace) && add_str(o, "name", m->name) &&
	       add_str(o, "enforcedBy", by) &&
	       cJSON_AddItemToObject(o, "findings",
				     findings_of(diags, kind, m->namespace, m->name, NULL));
}

/* Who enforces a policy that names Service @s by targetRefs. */
static void target_by(const struct config *cfg, const struct config_service *s, char *by,
		      size_t len)
{
	char wp[300];

	if (service_waypoint(cfg, s, wp, sizeof(wp)))
		str_fmt(by, len, "waypoint %s", wp);
	else
		str_fmt(by, len, "ztunnel (no waypoint serves Service %s: fails closed there)",
			s->meta.name);
}

/*
 * Whether targetRefs @refs (of an object in @ns) name one of @svcs (by=who enforces it), or
 * the Gateway @gw_name the workload is a proxy of.
 */
static bool targets(const struct config *cfg, const struct config_target_ref *refs, size_t n,
		    const char *ns, const struct config_service *const *svcs, size_t nsvcs,
		    const char *gw_name, char *by, size_t len)
{
	for (size_t r = 0; r < n; r++) {
		const char *rns = refs[r].namespace ? refs[r].namespace : ns;

		if (!refs[r].kind || !refs[r].name)
			continue;
		for (size_t i = 0; i < nsvcs && !strcmp(refs[r].kind, "Service"); i++)
			if (!strcmp(svcs[i]->meta.namespace, rns) &&
			    !strcmp(svcs[i]->meta.name, refs[r].name)) {
				target_by(cfg, svcs[i], by, len);
				return true;
			}
		if (gw_name && !strcmp(refs[r].kind, "Gateway") && !strcmp(refs[r].name, gw_name) &&
		    !strcmp(rns, ns)) {
			str_fmt(by, len, "this proxy");
			return true;
		}
	}
	return false;
}

/* Scope of a selector-or-namespace policy in @pns for a pod of @ns labelled @labels. */
static bool selects(const char *pns, bool has_selector, const struct config_labels *sel,
		    const char *ns, const struct config_labels *labels)
{
	if (!strcmp(pns, DASH_ROOT_NS) && !has_selector)
		return true;
	if (strcmp(pns, ns))
		return false;
	return !has_selector || config_labels_match(sel, labels);
}

/*
 * The policies that apply to a workload of @ns labelled @labels behind Services @svcs (role
 * @role, a proxy of Gateway @gw_name when one).
 */
static cJSON *policies_for(const struct config *cfg, const struct config_diags *diags,
			   const char *ns, const struct config_labels *labels,
			   const struct config_service *const *svcs, size_t nsvcs, const char *role,
			   const char *gw_name)
{
	cJSON *arr = cJSON_CreateArray();
	const char *at = !strcmp(role, "workload") ? "ztunnel" : role;
	char by[400];

	for (size_t i = 0; arr && i < cfg->n_authorization_policies; i++) {
		const struct config_authorization_policy *p = &cfg->authorization_policies[i];

		if (p->n_target_refs
			? targets(cfg, p->target_refs, p->n_target_refs, p->meta.namespace, svcs,
				  nsvcs, gw_name, by, sizeof(by))
			: selects(p->meta.namespace, p->has_selector, &p->selector, ns, labels) &&
			      !str_fmt(by, sizeof(by), "%s", at))
			add_applied(arr, diags, "AuthorizationPolicy", &p->meta, by);
	}
	for (size_t i = 0; arr && i < cfg->n_peer_authentications; i++) {
		const struct config_peer_authentication *p = &cfg->peer_authentications[i];

		if (selects(p->meta.namespace, p->has_selector, &p->selector, ns, labels))
			add_applied(arr, diags, "PeerAuthentication", &p->meta, "ztunnel");
	}
	for (size_t i = 0; arr && i < cfg->n_request_authentications; i++) {
		const struct config_request_authentication *p = &cfg->request_authentications[i];

		if (p->n_target_refs
			? targets(cfg, p->target_refs, p->n_target_refs, p->meta.namespace, svcs,
				  nsvcs, gw_name, by, sizeof(by))
			: selects(p->meta.namespace, p->has_selector, &p->selector, ns, labels) &&
			      !str_fmt(by, sizeof(by), "%s", at))
			add_applied(arr, diags, "RequestAuthentication", &p->meta, by);
	}
	return arr;
}

/* Whether @host (of an object in @ons) names Service @s. */
static bool host_is(const char *host, const char *ons, const struct config_service *s)
{
	char fq[600];

	if (!strcmp(host, "*"))
		return true;
	str_fmt(fq, sizeof(fq), "%s.%s.svc.cluster.local", s->meta.name, s->meta.namespace);
	if (!strcmp(host, fq))
		return true;
	str_fmt(fq, sizeof(fq), "%s.%s", s->meta.name, s->meta.namespace);
	return !strcmp(host, fq) ||
	       (!strcmp(host, s->meta.name) && !strcmp(ons, s->meta.namespace));
}

static bool route_parents(const struct config_gw_route *r, const struct config_service *s)
{
	for (size_t i = 0; i < r->n_parent_refs; i++) {
		const struct config_parent_ref *p = &r->parent_refs[i];
		const char *pns = p->namespace ? p->namespace : r->meta.namespace;

		if (p->kind && !strcmp(p->kind, "Service") && p->name &&
		    !strcmp(p->name, s->meta.name) && !strcmp(pns, s->meta.namespace))
			return true;
	}
	return false;
}

/* The VirtualServices, DestinationRules and Gateway API routes for Services @svcs. */
static cJSON *routes_for(const struct config *cfg, const struct config_diags *diags,
			 const struct config_service *const *svcs, size_t nsvcs)
{
	static const char *const kinds[] = {"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"};
	cJSON *arr = cJSON_CreateArray();
	char by[400];

	for (size_t i = 0; arr && i < nsvcs; i++) {
		const struct config_service *s = svcs[i];
		const struct config_gw_route *lists[] = {cfg->http_routes, cfg->grpc_routes,
							 cfg->tls_routes, cfg->tcp_routes};
		const size_t counts[] = {cfg->n_http_routes, cfg->n_grpc_routes, cfg->n_tls_routes,
					 cfg->n_tcp_routes};

		target_by(cfg, s, by, sizeof(by));
		for (size_t v = 0; v < cfg->n_virtual_services; v++) {
			const struct config_virtual_service *vs = &cfg->virtual_services[v];
			bool mesh = !vs->gateways.n;

			/* Bound to gateways only, it routes what they receive, not the mesh. */
			for (size_t i = 0; i < vs->gateways.n; i++)
				mesh = mesh || !strcmp(vs->gateways.items[i], "mesh");
			if (!mesh)
				continue;

			for (size_t h = 0; h < vs->hosts.n; h++)
				if (host_is(vs->hosts.items[h], vs->meta.namespace, s)) {
					add_applied(arr, diags, "VirtualService", &vs->meta, by);
					break;
				}
		}
		for (size_t r = 0; r < cfg->n_destination_rules; r++) {
			const struct config_destination_rule *dr = &cfg->destination_rules[r];

			if (dr->host && host_is(dr->host, dr->meta.namespace, s))
				add_applied(arr, diags, "DestinationRule", &dr->meta, by);
		}
		for (size_t k = 0; k < 4; k++)
			for (size_t r = 0; r < counts[k]; r++)
				if (route_parents(&lists[k][r], s))
					add_applied(arr, diags, kinds[k], &lists[k][r].meta, by);
	}
	return arr;
}

/* One workload's summary (the /api/workloads entry), from its pods in @pods. */
static cJSON *workload_entry(const struct dash_view *v, const char *ns, const char *name,
			     const cJSON *first, cJSON *pods)
{
	cJSON *o = cJSON_CreateObject(), *labels;
	struct config_labels l = pod_labels(first);
	const struct config_service *svcs[16];
	size_t nsvcs = pod_services(&v->cfg, ns, &l, svcs, 16);
	const char *sa = jstr(first, "serviceAccount") ?: "default";
	char identity[600], wp[300] = "";
	const char *waypoint = NULL;

	labels = cJSON_GetObjectItemCaseSensitive(first, "labels");
	for (size_t i = 0; i < nsvcs && !waypoint; i++)
		waypoint = service_waypoint(&v->cfg, svcs[i], wp, sizeof(wp));
	str_fmt(identity, sizeof(identity), "spiffe://%s/ns/%s/sa/%s", DASH_TRUST_DOMAIN, ns, sa);
	if (!o || !add_str(o, "namespace", ns) || !add_str(o, "name", name) ||
	    !add_str(o, "role", dash_pod_role(first)) || !add_str(o, "app", jstr(labels, "app")) ||
	    !add_str(o, "version", jstr(labels, "version")) || !add_str(o, "serviceAccount", sa) ||
	    !add_str(o, "identity", identity) ||
	    !cJSON_AddBoolToObject(o, "enrolled", config_enrolled(&v->cfg, ns, &l)) ||
	    !add_str(o, "waypoint", waypoint) || !cJSON_AddItemToObject(o, "pods", pods)) {
		cJSON_Delete(o);
		o = NULL;
	}
	free(l.items);
	return o;
}

static cJSON *pod_brief(const cJSON *pod)
{
	cJSON *o = cJSON_CreateObject();

	/* "ip6": a dual-stack pod's IPv6 address (pods.json), shown beside the IPv4 one. */
	if (o && (!add_str(o, "name", jstr(pod, "name")) || !add_str(o, "ip", jstr(pod, "ip")) ||
		  (jstr(pod, "ip6") && !add_str(o, "ip6", jstr(pod, "ip6"))) ||
		  !add_str(o, "node", jstr(pod, "node")))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The pods of workload @ns/@name (an array), with the first in *@first; NULL when none. */
static cJSON *workload_pods(const struct dash_view *v, const char *ns, const char *name,
			    const cJSON **first)
{
	cJSON *arr = cJSON_CreateArray();
	const cJSON *pod;

	*first = NULL;
	cJSON_ArrayForEach(pod, v->pods)
	{
		if (strcmp(jstr(pod, "namespace") ?: "", ns) ||
		    strcmp(dash_pod_workload(pod), name))
			continue;
		if (!*first)
			*first = pod;
		cJSON_AddItemToArray(arr, pod_brief(pod));
	}
	if (!*first) {
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}

/* A pod under its workload's name, and where it stood in pods.json. */
struct pod_at {
	const char *ns, *name;
	const cJSON *pod;
	size_t at;
};

/* By namespace, workload, then place: a workload's pods together, in their order. */
static int pod_at_cmp(const void *a, const void *b)
{
	const struct pod_at *x = a, *y = b;
	int c = strcmp(x->ns, y->ns) ?: strcmp(x->name, y->name);

	return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* The first pod of each workload's run in a sorted pod_at array: by place in pods.json. */
static int run_first_cmp(const void *a, const void *b)
{
	const struct pod_at *x = *(const struct pod_at *const *)a,
			    *y = *(const struct pod_at *const *)b;

	return (x->at > y->at) - (x->at < y->at);
}

static bool same_run(const struct pod_at *a, const struct pod_at *b)
{
	return !strcmp(a->ns, b->ns) && !strcmp(a->name, b->name);
}

/*
 * @all's @n pods grouped by namespace and workload (sorted in place); the first pod of each
 * group into @first, the groups in the order their first pods come in pods.json. How many.
 */
static size_t group_pods(struct pod_at *all, size_t n, const struct pod_at **first)
{
	size_t runs = 0;

	qsort(all, n, sizeof(*all), pod_at_cmp);
	for (size_t i = 0; i < n; i++)
		if (!i || !same_run(&all[i], &all[i - 1]))
			first[runs++] = &all[i];
	qsort(first, runs, sizeof(*first), run_first_cmp);
	return runs;
}

/*
 * Every workload with its pods, in the order of their first pods in pods.json: one sort of the
 * pods (10,000 pods of 3,000 workloads: not a pass over the pods per workload).
 */
cJSON *dash_workloads(struct dash_view *v)
{
	size_t n = (size_t)cJSON_GetArraySize(v->pods), k = 0, runs = 0;
	struct pod_at *all = calloc(n ? n : 1, sizeof(*all));
	const struct pod_at **first = calloc(n ? n : 1, sizeof(*first));
	cJSON *arr = cJSON_CreateArray();
	const cJSON *pod;

	if (!all || !first || !arr) {
		cJSON_Delete(arr);
		arr = NULL;
		goto out;
	}
	cJSON_ArrayForEach(pod, v->pods)
	{
		all[k] =
		    (struct pod_at){jstr(pod, "namespace") ?: "", dash_pod_workload(pod), pod, k};
		k++;
	}
	runs = group_pods(all, n, first);
	for (size_t r = 0; r < runs; r++) {
		const struct pod_at *p = first[r], *end = all + n;
		cJSON *pods = cJSON_CreateArray();

		for (const struct pod_at *q = p; pods && q < end && same_run(q, p); q++)
			cJSON_AddItemToArray(pods, pod_brief(q->pod));
		if (pods)
			cJSON_AddItemToArray(arr, workload_entry(v, p->ns, p->name, p->pod, pods));
	}
out:
	free(all);
	free(first);
	return arr;
}

/* @a and @b (strings) by content. */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The configuration's namespaces, then those only pods are in, each once, in order of appearance.
 */
cJSON *dash_namespaces(struct dash_view *v)
{
	size_t nc = v->cfg.n_namespaces, np = (size_t)cJSON_GetArraySize(v->pods), k = 0, runs = 0;
	const char **cfg = calloc(nc ? nc : 1, sizeof(*cfg));
	struct pod_at *all = calloc(np ? np : 1, sizeof(*all));
	const struct pod_at **first = calloc(np ? np : 1, sizeof(*first));
	cJSON *arr = cJSON_CreateArray();
	const cJSON *pod;

	if (!cfg || !all || !first || !arr) {
		cJSON_Delete(arr);
		arr = NULL;
		goto out;
	}
	for (size_t i = 0; i < nc; i++) {
		cfg[i] = v->cfg.namespaces[i].meta.name;
		cJSON_AddItemToArray(arr, cJSON_CreateString(cfg[i]));
	}
	qsort(cfg, nc, sizeof(*cfg), str_cmp);
	cJSON_ArrayForEach(pod, v->pods)
	{
		const char *ns = jstr(pod, "namespace");

		if (ns && !bsearch(&ns, cfg, nc, sizeof(*cfg), str_cmp))
			all[k] = (struct pod_at){ns, "", pod, k}, k++;
	}
	runs = group_pods(all, k, first); /* names all "": by namespace alone */
	for (size_t r = 0; r < runs; r++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(first[r]->ns));
out:
	free(cfg);
	free(all);
	free(first);
	return arr;
}

/*
 * What `ambitctl check SRC DST --method GET --path /` prints, this binary run again for it (a
 * fresh process: the server's threads stay out of its way).
 */
static char *explain(const struct dash_view *v, const char *src, const char *dst)
{
	char *argv[] = {
	    "ambitctl", "check", (char *)src, (char *)dst, "--cluster", (char *)v->d->c.name,
	    "--method", "GET",	 "--path",    "/",	   NULL};
	posix_spawn_file_actions_t fa;
	int fds[2], status;
	char *out = NULL;
	size_t len = 0;
	FILE *mem;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return NULL;
	if (posix_spawn_file_actions_init(&fa)) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	status = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (status) {
		close(fds[0]);
		return NULL;
	}
	mem = open_memstream(&out, &len);
	if (mem) {
		char buf[4096];
		ssize_t n;

		while ((n = read(fds[0], buf, sizeof(buf))) > 0 && len < (1u << 20))
			fwrite(buf, 1, (size_t)n, mem);
		fclose(mem);
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	return out;
}

/* A range query's one series as [[t, v], ...]; an empty array when there is none. */
static cJSON *series(const struct dash_view *v, const char *promql)
{
	char err[300];
	cJSON *res = dash_prom_query(v->d, promql, v->duration, err, sizeof(err));
	cJSON *out = cJSON_CreateArray();
	const cJSON *point;

	cJSON_ArrayForEach(point,
			   cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, 0), "values"))
	{
		cJSON *p = cJSON_CreateArray();

		if (!out || !p || !cJSON_AddItemToArray(out, p)) {
			cJSON_Delete(p);
			break;
		}
		cJSON_AddItemToArray(
		    p, cJSON_CreateNumber(cJSON_GetNumberValue(cJSON_GetArrayItem(point, 0))));
		cJSON_AddItemToArray(p, cJSON_CreateNumber(dash_prom_value(point)));
	}
	cJSON_Delete(res);
	return out;
}

/*
 * Inbound or outbound charts for the traffic whose @side ("destination" or "source") matches
 * @match (a PromQL label matcher list): requests/s, the share of 4xx/5xx, TCP bytes/s.
 */
static cJSON *charts_side(const struct dash_view *v, const char *match)
{
	cJSON *o = cJSON_CreateObject();
	char q[1200];

	if (!o)
		return NULL;
	str_fmt(q, sizeof(q),
		"sum(rate(istio_requests_total{reporter=~\"waypoint|source\",%s}[1m]))", match);
	cJSON_AddItemToObject(o, "rps", series(v, q));
	str_fmt(q, sizeof(q),
		"sum(rate(istio_requests_total{reporter=~\"waypoint|source\",response_code=~\"[45]"
		"..\",%s}[1m])) / sum(rate(istio_requests_total{reporter=~\"waypoint|source\",%s}"
		"[1m]))",
		match, match);
	cJSON_AddItemToObject(o, "errorRate", series(v, q));
	str_fmt(q, sizeof(q),
		"sum(label_replace(rate(istio_tcp_sent_bytes_total{reporter=\"destination\",%s}"
		"[1m]), \"way\", \"sent\", \"\", \"\") or label_replace(rate("
		"istio_tcp_received_bytes_total{reporter=\"destination\",%s}[1m]), \"way\", "
		"\"received\", \"\", \"\"))",
		match, match);
	cJSON_AddItemToObject(o, "tcp", series(v, q));
	return o;
}

/* The source workloads Prometheus saw calling destination @match, as "ns/workload". */
static cJSON *callers(const struct dash_view *v, const char *match)
{
	char q[800], err[300];
	cJSON *res, *out = cJSON_CreateArray();
	const cJSON *s;

	str_fmt(q, sizeof(q),
		"sum(rate(istio_requests_total{reporter=~\"waypoint|source\",%s}[%lds])) by "
		"(source_workload, source_workload_namespace)",
		match, v->duration);
	res = dash_prom_query(v->d, q, 0, err, sizeof(err));
	cJSON_ArrayForEach(s, res)
	{
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "metric");
		const char *wl = jstr(m, "source_workload"),
			   *ns = jstr(m, "source_workload_namespace");
		char key[600];

		if (!out || !wl || !ns || !strcmp(wl, "unknown") ||
		    cJSON_GetArraySize(out) >= DASH_MAX_EXPLAIN)
			continue;
		str_fmt(key, sizeof(key), "%s/%s", ns, wl);
		cJSON_AddItemToArray(out, cJSON_CreateString(key));
	}
	cJSON_Delete(res);
	return out;
}

/* `check` from a pod of each caller to Service @s's first port. */
static cJSON *explanations(const struct dash_view *v, const cJSON *from,
			   const struct config_service *s)
{
	cJSON *arr = cJSON_CreateArray();
	const cJSON *c;

	if (!s || !s->nports)
		return arr;
	cJSON_ArrayForEach(c, from)
	{
		const char *slash = strchr(c->valuestring, '/');
		const cJSON *pod, *first = NULL;
		char ns[256], src[600], dst[600];
		char *text;
		cJSON *o;

		if (!slash)
			continue;
		str_fmt(ns, sizeof(ns), "%.*s", (int)(slash - c->valuestring), c->valuestring);
		cJSON_ArrayForEach(
		    pod, v->pods) if (!first && !strcmp(jstr(pod, "namespace") ?: "", ns) &&
				      !strcmp(dash_pod_workload(pod), slash + 1)) first = pod;
		if (!first)
			continue;
		str_fmt(src, sizeof(src), "%s/%s", ns, jstr(first, "name"));
		str_fmt(dst, sizeof(dst), "%s/%s:%u", s->meta.namespace, s->meta.name,
			s->ports[0].port);
		text = explain(v, src, dst);
		o = cJSON_CreateObject();
		if (o && cJSON_AddItemToArray(arr, o)) {
			add_str(o, "from", src);
			add_str(o, "to", dst);
			add_str(o, "text", text ?: "(no answer)");
		} else {
			cJSON_Delete(o);
		}
		free(text);
	}
	return arr;
}

/* Each ztunnel's open connections that have one of @ips at an end, with the node. */
static cJSON *connections(const struct dash_view *v, const cJSON *ips)
{
	cJSON *arr = cJSON_CreateArray();

	for (int i = 0; arr && i < v->d->c.nnodes; i++) {
		char *body = NULL, err[300];
		cJSON *doc, *c;
		int code = http_get_in_netns_err(v->d->c.nodes[i].netns, 15000, "/connections",
						 &body, err, sizeof(err));

		doc = code == 200 ? cJSON_Parse(body) : NULL;
		free(body);
		cJSON_ArrayForEach(c, doc)
		{
			const char *src = jstr(c, "src") ?: "", *dst = jstr(c, "dst") ?: "";
			const cJSON *ip;
			bool mine = false;

			cJSON_ArrayForEach(ip, ips)
			{
				size_t n = strlen(ip->valuestring);

				mine = mine ||
				       (!strncmp(src, ip->valuestring, n) && src[n] == ':') ||
				       (!strncmp(dst, ip->valuestring, n) && dst[n] == ':');
			}
			if (!mine)
				continue;
			cJSON *copy = cJSON_Duplicate(c, true);

			if (copy && cJSON_AddItemToArray(arr, copy))
				cJSON_AddStringToObject(copy, "node", v->d->c.nodes[i].name);
		}
		cJSON_Delete(doc);
	}
	return arr;
}

static void analyze_state(struct dash_view *v, struct config_diags *diags)
{
	struct config_analyze_opts opts = {0};

	config_analyze(&v->cfg, &opts, diags);
}

cJSON *dash_workload(struct dash_view *v, const char *ns, const char *name, int *status)
{
	struct config_diags diags = {0};
	const struct config_service *svcs[16];
	const cJSON *first, *pod;
	cJSON *pods = workload_pods(v, ns, name, &first), *o, *arr, *ips, *from;
	struct config_labels l;
	size_t nsvcs;
	char match[600], enroll[400];

	if (!pods) {
		*status = 404;
		return NULL;
	}
	o = workload_entry(v, ns, name, first, pods);
	if (!o) {
		*status = 500;
		return NULL;
	}
	l = pod_labels(first);
	nsvcs = pod_services(&v->cfg, ns, &l, svcs, 16);
	analyze_state(v, &diags);
	cJSON_AddItemToObject(
	    o, "labels", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(first, "labels"), true));
	/*
	 * A namespace no Namespace object defines (default, which an API server always has, or
	 * one local up put objects in) is no fault, only nothing to carry the label: Kiali's
	 * "out of mesh", not an error.
	 */
	if (config_enrolled(&v->cfg, ns, &l))
		str_fmt(enroll, sizeof(enroll), "%s",
			"captured: namespace labelled istio.io/dataplane-mode=ambient");
	else if (!config_find_namespace(&v->cfg, ns))
		str_fmt(enroll, sizeof(enroll),
			"out of mesh: namespace %s has no Namespace object to carry the label "
			"istio.io/dataplane-mode=ambient (ambitctl create namespace %s, then label "
			"it)",
			ns, ns);
	else
		str_fmt(enroll, sizeof(enroll), "%s",
			"out of mesh: its namespace is not labelled "
			"istio.io/dataplane-mode=ambient (or the pod opts out)");
	add_str(o, "enrollment", enroll);
	arr = cJSON_AddArrayToObject(o, "services");
	for (size_t i = 0; arr && i < nsvcs; i++) {
		char key[600];

		str_fmt(key, sizeof(key), "%s/%s", svcs[i]->meta.namespace, svcs[i]->meta.name);
		cJSON_AddItemToArray(arr, cJSON_CreateString(key));
	}
	{
		const char *gw = jstr(cJSON_GetObjectItemCaseSensitive(first, "labels"),
				      CONFIG_LABEL_GATEWAY_NAME);

		cJSON_AddItemToObject(
		    o, "policies",
		    policies_for(&v->cfg, &diags, ns, &l, svcs, nsvcs, dash_pod_role(first), gw));
	}
	cJSON_AddItemToObject(o, "routes", routes_for(&v->cfg, &diags, svcs, nsvcs));
	str_fmt(match, sizeof(match),
		"destination_workload=\"%s\",destination_workload_namespace=\"%s\"", name, ns);
	from = callers(v, match);
	cJSON_AddItemToObject(o, "explanations", explanations(v, from, nsvcs ? svcs[0] : NULL));
	cJSON_Delete(from);
	ips = cJSON_CreateArray();
	cJSON_ArrayForEach(pod, v->pods) if (ips && !strcmp(jstr(pod, "namespace") ?: "", ns) &&
					     !strcmp(dash_pod_workload(pod), name) &&
					     jstr(pod, "ip"))
	    cJSON_AddItemToArray(ips, cJSON_CreateString(jstr(pod, "ip")));
	cJSON_AddItemToObject(o, "connections", connections(v, ips));
	cJSON_Delete(ips);
	{
		cJSON *charts = cJSON_AddObjectToObject(o, "charts");
		char out_match[600];

		str_fmt(out_match, sizeof(out_match),
			"source_workload=\"%s\",source_workload_namespace=\"%s\"", name, ns);
		cJSON_AddItemToObject(charts, "inbound", charts_side(v, match));
		cJSON_AddItemToObject(charts, "outbound", charts_side(v, out_match));
	}
	free(l.items);
	config_diags_free(&diags);
	return o;
}

cJSON *dash_service(struct dash_view *v, const char *ns, const char *name, int *status)
{
	const struct config_service *s = NULL;
	struct config_diags diags = {0};
	cJSON *o, *arr, *ips, *from;
	const cJSON *pod;
	char wp[300], match[600], key[600];

	for (size_t i = 0; i < v->cfg.n_services && !s; i++)
		if (!strcmp(v->cfg.services[i].meta.namespace, ns) &&
		    !strcmp(v->cfg.services[i].meta.name, name))
			s = &v->cfg.services[i];
	if (!s) {
		*status = 404;
		return NULL;
	}
	o = cJSON_CreateObject();
	if (!o) {
		*status = 500;
		return NULL;
	}
	analyze_state(v, &diags);
	str_fmt(key, sizeof(key), "%s/%s", ns, name);
	add_str(o, "namespace", ns);
	add_str(o, "name", name);
	add_str(o, "ip",
		jstr(cJSON_GetObjectItemCaseSensitive(v->pods_doc, "serviceIPs"), key)
		    ?: s->cluster_ip);
	add_str(o, "waypoint", service_waypoint(&v->cfg, s, wp, sizeof(wp)));
	arr = cJSON_AddArrayToObject(o, "ports");
	for (size_t i = 0; arr && i < s->nports; i++) {
		cJSON *p = cJSON_CreateObject();

		if (!p || !cJSON_AddItemToArray(arr, p))
			break;
		add_str(p, "name", s->ports[i].name);
		cJSON_AddNumberToObject(p, "port", s->ports[i].port);
		if (s->ports[i].target_port_name)
			add_str(p, "targetPort", s->ports[i].target_port_name);
		else
			cJSON_AddNumberToObject(p, "targetPort", s->ports[i].target_port);
	}
	arr = cJSON_AddArrayToObject(o, "endpoints");
	ips = cJSON_CreateArray();
	cJSON_ArrayForEach(pod, v->pods)
	{
		struct config_labels l = pod_labels(pod);

		if (s->selector.n && !strcmp(jstr(pod, "namespace") ?: "", ns) &&
		    config_labels_match(&s->selector, &l)) {
			cJSON *e = pod_brief(pod);

			if (e && arr && cJSON_AddItemToArray(arr, e)) {
				cJSON_AddStringToObject(e, "pod", jstr(pod, "name"));
				cJSON_AddStringToObject(e, "workload", dash_pod_workload(pod));
			}
			if (ips && jstr(pod, "ip"))
				cJSON_AddItemToArray(ips, cJSON_CreateString(jstr(pod, "ip")));
		}
		free(l.items);
	}
	{
		const struct config_service *one[] = {s};
		struct config_labels none = {0};

		/* The policies on the Service itself (targetRefs); its pods' own are theirs. */
		cJSON *all = policies_for(&v->cfg, &diags, ns, &none, one, 1, "workload", NULL);
		cJSON *mine = cJSON_AddArrayToObject(o, "policies");
		cJSON *p;

		cJSON_ArrayForEach(p,
				   all) if (mine && strcmp(jstr(p, "enforcedBy") ?: "", "ztunnel"))
		    cJSON_AddItemToArray(mine, cJSON_Duplicate(p, true));
		cJSON_Delete(all);
		cJSON_AddItemToObject(o, "routes", routes_for(&v->cfg, &diags, one, 1));
	}
	str_fmt(match, sizeof(match),
		"destination_service_name=\"%s\",destination_service_namespace=\"%s\"", name, ns);
	from = callers(v, match);
	cJSON_AddItemToObject(o, "explanations", explanations(v, from, s));
	cJSON_Delete(from);
	cJSON_AddItemToObject(o, "connections", connections(v, ips));
	cJSON_Delete(ips);
	{
		cJSON *charts = cJSON_AddObjectToObject(o, "charts");

		cJSON_AddItemToObject(charts, "inbound", charts_side(v, match));
	}
	config_diags_free(&diags);
	return o;
}

cJSON *dash_config(struct dash_view *v)
{
	struct store_objs objs = {0};
	struct config_diags diags = {0}, ignored = {0};
	cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "objects");
	char state[PATH_MAX];

	cluster_path(&v->d->c, state, sizeof(state), "state");
	store_load(state, &objs, &ignored);
	analyze_state(v, &diags);
	for (size_t i = 0; arr && i < objs.n; i++) {
		const struct store_obj *s = &objs.items[i];
		const char *status = "valid";
		cJSON *o = cJSON_CreateObject(), *f;

		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			break;
		}
		f = findings_of(&diags, s->kind, s->namespace, s->name, &status);
		add_str(o, "kind", s->kind);
		add_str(o, "group", s->group);
		/* Istio's Gateway and the Gateway API's: one kind, told apart by this. */
		add_str(o, "apiVersion", s->api_version);
		add_str(o, "namespace", s->namespace);
		add_str(o, "name", s->name);
		add_str(o, "status", status);
		cJSON_AddItemToObject(o, "findings", f);
		add_str(o, "yaml", s->yaml);
	}
	/* A file that does not load is an error of its own, shown as one. */
	for (size_t i = 0; arr && i < ignored.n; i++) {
		char line[2048];
		cJSON *o = cJSON_CreateObject();

		config_diag_format(&ignored.items[i], line, sizeof(line));
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			break;
		}
		add_str(o, "kind", "File");
		add_str(o, "name", ignored.items[i].file);
		add_str(o, "status", ignored.items[i].error ? "error" : "warning");
		cJSON *fs = cJSON_AddArrayToObject(o, "findings"), *one = cJSON_CreateObject();

		if (fs && one && cJSON_AddItemToArray(fs, one)) {
			add_str(one, "severity", ignored.items[i].error ? "error" : "warning");
			add_str(one, "message", line);
		} else {
			cJSON_Delete(one);
		}
	}
	store_objs_free(&objs);
	config_diags_free(&diags);
	config_diags_free(&ignored);
	return doc;
}
