// SPDX-License-Identifier: Apache-2.0
/*
 * The kinds `ambitctl get` shows and their columns, as kubectl prints them (getcols.h). The
 * built-in kinds' cells follow kubectl's printers (pkg/printers/internalversion), the custom
 * kinds' the additionalPrinterColumns of Istio's CRDs (manifests/charts/base/files/
 * crd-all.gen.yaml) and the Gateway API's: a cell whose field is absent prints <none>, one that
 * holds a list its JSON.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "getcols.h"
#include "k8s/klease.h" /* klease_age: kubectl's age, as `ambitctl nodes` prints it */

#define NONE "<none>"

static const cJSON *at(const cJSON *o, const char *path)
{
	char key[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static const char *str_at(const cJSON *o, const char *path)
{
	return cJSON_GetStringValue(at(o, path));
}

static long num_at(const cJSON *o, const char *path, long dflt)
{
	const cJSON *v = at(o, path);

	return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

/* Appends @s to @buf (separated by @sep when not the first); truncates quietly. */
static void append(char *buf, size_t len, const char *sep, const char *s)
{
	size_t n = strlen(buf);

	if (n + 1 < len)
		snprintf(buf + n, len - n, "%s%s", n ? sep : "", s);
}

/* A CRD column's cell: the field's string or number, a list's JSON, or <none>. */
static void c_field(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const cJSON *v = at(o, arg);
	char *s;

	if (cJSON_IsString(v)) {
		snprintf(buf, len, "%s", v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		snprintf(buf, len, "%g", v->valuedouble);
	} else if (cJSON_IsBool(v)) {
		snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
	} else if (v && !cJSON_IsNull(v) && (s = cJSON_PrintUnformatted(v))) {
		snprintf(buf, len, "%s", s);
		free(s);
	} else {
		snprintf(buf, len, NONE);
	}
}

static void c_age(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	get_age_of(str_at(o, "metadata.creationTimestamp"), now, buf, len);
}

/* The count of a map's (or list's) members at each of @arg's comma-separated fields. */
static void c_count(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	char path[64];
	int n = 0;

	for (const char *p = arg; *p;) {
		size_t l = strcspn(p, ",");

		snprintf(path, sizeof(path), "%.*s", (int)l, p);
		n += cJSON_GetArraySize(at(o, path));
		p += l + (p[l] == ',');
	}
	snprintf(buf, len, "%d", n);
}

/* A condition's status (.status.conditions[?(@.type==arg)].status), or <none>. */
static void c_condition(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const cJSON *c;

	snprintf(buf, len, NONE);
	cJSON_ArrayForEach(c, at(o, "status.conditions"))
	{
		const char *t = str_at(c, "type"), *s = str_at(c, "status");

		if (t && s && !strcmp(t, arg)) {
			snprintf(buf, len, "%s", s);
			return;
		}
	}
}

/* The first of a list's members' field: .status.addresses[*].value. */
static void c_first(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const char *dot = strchr(arg, ':');
	char path[64];
	const char *v;

	snprintf(path, sizeof(path), "%.*s", dot ? (int)(dot - arg) : (int)strlen(arg), arg);
	v = dot ? str_at(cJSON_GetArrayItem(at(o, path), 0), dot + 1) : NULL;
	snprintf(buf, len, "%s", v ? v : NONE);
}

/* A label selector's map as kubectl formats labels: k=v,... sorted by key, or <none>. */
static void labels_fmt(const cJSON *m, char *buf, size_t len)
{
	const cJSON *items[64], *l;
	size_t n = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(l, m)
	{
		if (cJSON_IsString(l) && n < 64)
			items[n++] = l;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(items[j - 1]->string, items[j]->string) > 0;
		     j--) {
			const cJSON *t = items[j];

			items[j] = items[j - 1];
			items[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		char kv[512];

		snprintf(kv, sizeof(kv), "%s=%s", items[i]->string, items[i]->valuestring);
		append(buf, len, ",", kv);
	}
	if (!n)
		snprintf(buf, len, NONE);
}

static void c_labels(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	labels_fmt(at(o, arg), buf, len);
}

/* ---- pods: kubectl's printPod ---- */

struct pod_summary {
	int ready, total, restarts;
	const char *reason;
	char reason_buf[32];
	const char *last_restart; /* the last terminated container's finishedAt */
};

static void pod_summarize(const cJSON *o, struct pod_summary *s)
{
	const cJSON *cs;

	memset(s, 0, sizeof(*s));
	s->total = cJSON_GetArraySize(at(o, "spec.containers"));
	s->reason = str_at(o, "status.reason") ?: str_at(o, "status.phase") ?: "Unknown";
	cJSON_ArrayForEach(cs, at(o, "status.containerStatuses"))
	{
		const char *fin = str_at(cs, "lastState.terminated.finishedAt");
		const cJSON *term = at(cs, "state.terminated");

		s->restarts += (int)num_at(cs, "restartCount", 0);
		if (fin && (!s->last_restart || strcmp(fin, s->last_restart) > 0))
			s->last_restart = fin;
		if (str_at(cs, "state.waiting.reason")) {
			s->reason = str_at(cs, "state.waiting.reason");
		} else if (str_at(term, "reason")) {
			s->reason = str_at(term, "reason");
		} else if (term) {
			long sig = num_at(term, "signal", 0);

			snprintf(s->reason_buf, sizeof(s->reason_buf),
				 sig ? "Signal:%ld" : "ExitCode:%ld",
				 sig ? sig : num_at(term, "exitCode", 0));
			s->reason = s->reason_buf;
		} else if (cJSON_IsTrue(at(cs, "ready")) && at(cs, "state.running")) {
			s->ready++;
		}
	}
	if (str_at(o, "metadata.deletionTimestamp"))
		s->reason = "Terminating";
}

static void c_pod_ready(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	struct pod_summary s;

	pod_summarize(o, &s);
	snprintf(buf, len, "%d/%d", s.ready, s.total);
}

static void c_pod_status(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	struct pod_summary s;

	pod_summarize(o, &s);
	snprintf(buf, len, "%s", s.reason);
}

static void c_pod_restarts(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	struct pod_summary s;
	char age[32];

	pod_summarize(o, &s);
	if (s.restarts && s.last_restart) {
		get_age_of(s.last_restart, now, age, sizeof(age));
		snprintf(buf, len, "%d (%s ago)", s.restarts, age);
	} else {
		snprintf(buf, len, "%d", s.restarts);
	}
}

static void c_or_none(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const char *v = str_at(o, arg);

	snprintf(buf, len, "%s", v && *v ? v : NONE);
}

/* ---- services: kubectl's printService ---- */

static void c_svc_external(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const char *type = str_at(o, "spec.type") ?: "ClusterIP";
	const cJSON *i;

	buf[0] = '\0';
	if (!strcmp(type, "ExternalName")) {
		snprintf(buf, len, "%s", str_at(o, "spec.externalName") ?: NONE);
		return;
	}
	if (!strcmp(type, "LoadBalancer"))
		cJSON_ArrayForEach(i, at(o, "status.loadBalancer.ingress"))
		{
			const char *a = str_at(i, "ip") ?: str_at(i, "hostname");

			if (a)
				append(buf, len, ",", a);
		}
	cJSON_ArrayForEach(i, at(o, "spec.externalIPs"))
	{
		if (cJSON_IsString(i))
			append(buf, len, ",", i->valuestring);
	}
	if (!buf[0])
		snprintf(buf, len, "%s", !strcmp(type, "LoadBalancer") ? "<pending>" : NONE);
}

static void c_svc_ports(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const cJSON *p;

	buf[0] = '\0';
	cJSON_ArrayForEach(p, at(o, "spec.ports"))
	{
		const char *proto = str_at(p, "protocol") ?: "TCP";
		long node = num_at(p, "nodePort", 0);
		char one[64];

		if (node)
			snprintf(one, sizeof(one), "%ld:%ld/%s", num_at(p, "port", 0), node, proto);
		else
			snprintf(one, sizeof(one), "%ld/%s", num_at(p, "port", 0), proto);
		append(buf, len, ",", one);
	}
	if (!buf[0])
		snprintf(buf, len, NONE);
}

/* ---- deployments: kubectl's printDeployment ---- */

static void c_deploy_ready(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	snprintf(buf, len, "%ld/%ld", num_at(o, "status.readyReplicas", 0),
		 num_at(o, "spec.replicas", 1));
}

static void c_num(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	snprintf(buf, len, "%ld", num_at(o, arg, 0));
}

/* The containers' @arg ("name", "image") of a pod template, comma-separated. */
static void c_containers(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const cJSON *c;

	buf[0] = '\0';
	cJSON_ArrayForEach(c, at(o, "spec.template.spec.containers"))
	{
		append(buf, len, ",", str_at(c, arg) ?: "");
	}
	if (!buf[0])
		snprintf(buf, len, NONE);
}

/* ---- endpointslices: kubectl's printEndpointSlice ---- */

static void c_eps_ports(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const cJSON *p;
	char one[16];

	buf[0] = '\0';
	cJSON_ArrayForEach(p, at(o, "ports"))
	{
		if (cJSON_IsNumber(at(p, "port")))
			snprintf(one, sizeof(one), "%ld", num_at(p, "port", 0));
		else
			snprintf(one, sizeof(one), "<unset>");
		append(buf, len, ",", one);
	}
	if (!buf[0])
		snprintf(buf, len, "<unset>");
}

static void c_eps_endpoints(const cJSON *o, const char *arg, time_t now, char *buf, size_t len)
{
	const cJSON *e, *a;
	int n = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(e, at(o, "endpoints"))
	{
		cJSON_ArrayForEach(a, at(e, "addresses"))
		{
			if (cJSON_IsString(a) && n++ < 3)
				append(buf, len, ",", a->valuestring);
		}
	}
	if (n > 3) {
		char more[32];

		snprintf(more, sizeof(more), " + %d more...", n - 3);
		append(buf, len, "", more);
	}
	if (!n)
		snprintf(buf, len, "<unset>");
}

#define AGE                                                                                        \
	{                                                                                          \
		"AGE", c_age, NULL                                                                 \
	}
#define END                                                                                        \
	{                                                                                          \
		NULL, NULL, NULL                                                                   \
	}

static const struct get_col pod_cols[] = {{"READY", c_pod_ready, NULL},
					  {"STATUS", c_pod_status, NULL},
					  {"RESTARTS", c_pod_restarts, NULL},
					  AGE,
					  END};
static const struct get_col pod_wide[] = {{"IP", c_or_none, "status.podIP"},
					  {"NODE", c_or_none, "spec.nodeName"},
					  {"NOMINATED NODE", c_or_none, "status.nominatedNodeName"},
					  {"READINESS GATES", c_or_none, "spec.readinessGates"},
					  END};
static const struct get_col svc_cols[] = {{"TYPE", c_field, "spec.type"},
					  {"CLUSTER-IP", c_or_none, "spec.clusterIP"},
					  {"EXTERNAL-IP", c_svc_external, NULL},
					  {"PORT(S)", c_svc_ports, NULL},
					  AGE,
					  END};
static const struct get_col svc_wide[] = {{"SELECTOR", c_labels, "spec.selector"}, END};
static const struct get_col deploy_cols[] = {{"READY", c_deploy_ready, NULL},
					     {"UP-TO-DATE", c_num, "status.updatedReplicas"},
					     {"AVAILABLE", c_num, "status.availableReplicas"},
					     AGE,
					     END};
static const struct get_col deploy_wide[] = {{"CONTAINERS", c_containers, "name"},
					     {"IMAGES", c_containers, "image"},
					     {"SELECTOR", c_labels, "spec.selector.matchLabels"},
					     END};
static const struct get_col ns_cols[] = {{"STATUS", c_field, "status.phase"}, AGE, END};
static const struct get_col sa_cols[] = {{"SECRETS", c_count, "secrets"}, AGE, END};
static const struct get_col cm_cols[] = {{"DATA", c_count, "data,binaryData"}, AGE, END};
static const struct get_col secret_cols[] = {
    {"TYPE", c_field, "type"}, {"DATA", c_count, "data,stringData"}, AGE, END};
static const struct get_col eps_cols[] = {{"ADDRESSTYPE", c_field, "addressType"},
					  {"PORTS", c_eps_ports, NULL},
					  {"ENDPOINTS", c_eps_endpoints, NULL},
					  AGE,
					  END};
static const struct get_col age_cols[] = {AGE, END};
static const struct get_col vs_cols[] = {
    {"GATEWAYS", c_field, "spec.gateways"}, {"HOSTS", c_field, "spec.hosts"}, AGE, END};
static const struct get_col dr_cols[] = {{"HOST", c_field, "spec.host"}, AGE, END};
static const struct get_col se_cols[] = {{"HOSTS", c_field, "spec.hosts"},
					 {"LOCATION", c_field, "spec.location"},
					 {"RESOLUTION", c_field, "spec.resolution"},
					 AGE,
					 END};
static const struct get_col ap_cols[] = {{"ACTION", c_field, "spec.action"}, AGE, END};
static const struct get_col pa_cols[] = {{"MODE", c_field, "spec.mtls.mode"}, AGE, END};
static const struct get_col gtw_cols[] = {{"CLASS", c_field, "spec.gatewayClassName"},
					  {"ADDRESS", c_first, "status.addresses:value"},
					  {"PROGRAMMED", c_condition, "Programmed"},
					  AGE,
					  END};
static const struct get_col route_cols[] = {{"HOSTNAMES", c_field, "spec.hostnames"}, AGE, END};

#define ISTIO_NET "networking.istio.io"
#define ISTIO_SEC "security.istio.io"
#define GW_API "gateway.networking.k8s.io"

/* The order of `get all` first (pods, services, deployments), then the rest. */
static const struct get_kind kinds[] = {
    {"Pod", "", "pods", "pod", {"po"}, true, pod_cols, pod_wide},
    {"Service", "", "services", "service", {"svc"}, true, svc_cols, svc_wide},
    {"Deployment", "apps", "deployments", "deployment", {"deploy"}, true, deploy_cols, deploy_wide},
    {"Namespace", "", "namespaces", "namespace", {"ns"}, false, ns_cols, NULL},
    {"ServiceAccount", "", "serviceaccounts", "serviceaccount", {"sa"}, true, sa_cols, NULL},
    {"ConfigMap", "", "configmaps", "configmap", {"cm"}, true, cm_cols, NULL},
    {"Secret", "", "secrets", "secret", {NULL}, true, secret_cols, NULL},
    {"EndpointSlice",
     "discovery.k8s.io",
     "endpointslices",
     "endpointslice",
     {NULL},
     true,
     eps_cols,
     NULL},
    {"VirtualService", ISTIO_NET, "virtualservices", "virtualservice", {"vs"}, true, vs_cols, NULL},
    {"DestinationRule",
     ISTIO_NET,
     "destinationrules",
     "destinationrule",
     {"dr"},
     true,
     dr_cols,
     NULL},
    {"Gateway", ISTIO_NET, "gateways", "gateway", {"gw"}, true, age_cols, NULL},
    {"ServiceEntry", ISTIO_NET, "serviceentries", "serviceentry", {"se"}, true, se_cols, NULL},
    {"EnvoyFilter", ISTIO_NET, "envoyfilters", "envoyfilter", {NULL}, true, age_cols, NULL},
    {"AuthorizationPolicy",
     ISTIO_SEC,
     "authorizationpolicies",
     "authorizationpolicy",
     {"ap"},
     true,
     ap_cols,
     NULL},
    {"PeerAuthentication",
     ISTIO_SEC,
     "peerauthentications",
     "peerauthentication",
     {"pa"},
     true,
     pa_cols,
     NULL},
    {"RequestAuthentication",
     ISTIO_SEC,
     "requestauthentications",
     "requestauthentication",
     {"ra"},
     true,
     age_cols,
     NULL},
    {"Telemetry",
     "telemetry.istio.io",
     "telemetries",
     "telemetry",
     {"telemetry"},
     true,
     age_cols,
     NULL},
    {"Gateway", GW_API, "gateways", "gateway", {"gtw"}, true, gtw_cols, NULL},
    {"HTTPRoute", GW_API, "httproutes", "httproute", {NULL}, true, route_cols, NULL},
    {"GRPCRoute", GW_API, "grpcroutes", "grpcroute", {NULL}, true, route_cols, NULL},
    {"TLSRoute", GW_API, "tlsroutes", "tlsroute", {NULL}, true, age_cols, NULL},
    {"TCPRoute", GW_API, "tcproutes", "tcproute", {NULL}, true, age_cols, NULL},
    {"ReferenceGrant",
     GW_API,
     "referencegrants",
     "referencegrant",
     {"refgrant"},
     true,
     age_cols,
     NULL},
    {"LocalRateLimit",
     "networking.ambit.io",
     "localratelimits",
     "localratelimit",
     {NULL},
     true,
     age_cols,
     NULL},
};

const struct get_kind *get_kinds(size_t *n)
{
	*n = sizeof(kinds) / sizeof(kinds[0]);
	return kinds;
}

/* Whether @k is named @w: a name of it alone, or with its group (or the group's first labels). */
static bool kind_named(const struct get_kind *k, const char *w)
{
	const char *names[] = {k->plural, k->singular, k->kind, k->shorts[0], k->shorts[1]};
	const char *dot = strchr(w, '.');
	size_t n = dot ? (size_t)(dot - w) : strlen(w);

	if (dot) {
		size_t g = strlen(dot + 1);

		if (!*k->group || strncasecmp(dot + 1, k->group, g) ||
		    (k->group[g] && k->group[g] != '.'))
			return false;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i] && strlen(names[i]) == n && !strncasecmp(w, names[i], n))
			return true;
	return false;
}

const struct get_kind *get_kind_find(const char *word)
{
	/* A short name before a name: "gw" is Istio's though "gateway" is the Gateway API's. */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		for (size_t s = 0; s < 2; s++)
			if (kinds[i].shorts[s] && !strcasecmp(word, kinds[i].shorts[s]))
				return &kinds[i];
	/* The Gateway API's Gateway before Istio's for the bare name, as ambit has always had. */
	for (size_t i = sizeof(kinds) / sizeof(kinds[0]); i-- > 0;)
		if (kind_named(&kinds[i], word))
			return &kinds[i];
	return NULL;
}

void get_kind_prefix(const struct get_kind *k, char *buf, size_t len)
{
	size_t n = 0;

	for (const char *c = k->kind; *c && n + 1 < len; c++)
		buf[n++] = (char)tolower((unsigned char)*c);
	snprintf(buf + n, len - n, "%s%s", *k->group ? "." : "", k->group);
}

time_t get_parse_time(const char *ts)
{
	struct tm tm = {0};
	const char *end;

	if (!ts || !(end = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	if (*end == '.')
		end += 1 + strspn(end + 1, "0123456789");
	if (strcmp(end, "Z"))
		return -1;
	return timegm(&tm);
}

void get_age_of(const char *ts, time_t now, char *buf, size_t len)
{
	time_t t = get_parse_time(ts);

	if (t < 0)
		snprintf(buf, len, "<unknown>");
	else
		klease_age((long long)(now - t), buf, len);
}

int get_table_init(struct get_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	return 0;
}

int get_table_add(struct get_table *t, const char *const *cells)
{
	char **c = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*c));

	if (!c)
		return -ENOMEM;
	t->cells = c;
	c += t->nrows++ * t->ncols;
	for (size_t i = 0; i < t->ncols; i++)
		c[i] = strdup(cells[i] ? cells[i] : "");
	for (size_t i = 0; i < t->ncols; i++)
		if (!c[i])
			return -ENOMEM;
	return 0;
}

void get_table_print(const struct get_table *t, FILE *f)
{
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t w = 6; /* kubectl's tabwriter: minwidth 6, padding 3 */

			if (c + 1 == t->ncols) {
				fprintf(f, "%s\n", s);
				continue;
			}
			for (size_t i = 0; i < t->nrows; i++)
				if (strlen(t->cells[i * t->ncols + c]) + 3 > w)
					w = strlen(t->cells[i * t->ncols + c]) + 3;
			fprintf(f, "%-*s", (int)w, s);
		}
}

void get_table_free(struct get_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static size_t ncols_of(const struct get_col *c)
{
	size_t n = 0;

	while (c && c[n].header)
		n++;
	return n;
}

size_t get_ncols(const struct get_kind *k, const struct get_show *s)
{
	return 1 + (s->namespace && k->namespaced) + ncols_of(k->cols) +
	       (s->wide ? ncols_of(k->wide) : 0) + s->n_label_cols + s->labels;
}

int get_header(const struct get_kind *k, const struct get_show *s, struct get_table *t)
{
	const char *cells[32];
	char *headers[32];
	size_t n = 0, nh = 0;
	int ret;

	if (get_ncols(k, s) > 32)
		return -E2BIG;
	if (s->namespace && k->namespaced)
		cells[n++] = "NAMESPACE";
	cells[n++] = "NAME";
	for (const struct get_col *c = k->cols; c->header; c++)
		cells[n++] = c->header;
	for (const struct get_col *c = s->wide ? k->wide : NULL; c && c->header; c++)
		cells[n++] = c->header;
	for (size_t i = 0; i < s->n_label_cols; i++) {
		/* kubectl's header: the key's name, past its prefix, in capitals */
		const char *key = strrchr(s->label_cols[i], '/');
		char *h = strdup(key ? key + 1 : s->label_cols[i]);

		for (char *c = h; c && *c; c++)
			*c = (char)toupper((unsigned char)*c);
		cells[n++] = headers[nh++] = h;
	}
	if (s->labels)
		cells[n++] = "LABELS";
	ret = get_table_add(t, cells);
	for (size_t i = 0; i < nh; i++)
		free(headers[i]);
	return ret;
}

int get_row(const struct get_kind *k, const struct get_show *s, const cJSON *o, time_t now,
	    struct get_table *t)
{
	char bufs[32][512];
	const char *cells[32];
	size_t n = 0;

	if (get_ncols(k, s) > 32)
		return -E2BIG;
	if (s->namespace && k->namespaced)
		c_field(o, "metadata.namespace", now, bufs[n], sizeof(bufs[n])), n++;
	snprintf(bufs[n], sizeof(bufs[n]), "%s%s", s->label ? s->label : "",
		 str_at(o, "metadata.name") ?: "");
	n++;
	for (const struct get_col *c = k->cols; c->header; c++, n++)
		c->cell(o, c->arg, now, bufs[n], sizeof(bufs[n]));
	for (const struct get_col *c = s->wide ? k->wide : NULL; c && c->header; c++, n++)
		c->cell(o, c->arg, now, bufs[n], sizeof(bufs[n]));
	for (size_t i = 0; i < s->n_label_cols; i++, n++) {
		const char *v = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(at(o, "metadata.labels"), s->label_cols[i]));

		snprintf(bufs[n], sizeof(bufs[n]), "%s", v ? v : "");
	}
	if (s->labels)
		labels_fmt(at(o, "metadata.labels"), bufs[n], sizeof(bufs[n])), n++;
	for (size_t i = 0; i < n; i++)
		cells[i] = bufs[i];
	return get_table_add(t, cells);
}
