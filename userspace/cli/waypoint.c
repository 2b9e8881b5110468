// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl waypoint generate|apply|list|status|delete`, as `istioctl waypoint` does them: a
 * waypoint is a Gateway of class istio-waypoint with one HBONE listener on 15008 and the
 * istio.io/waypoint-for label (API_SEMANTICS.md §9). apply and delete go through `apply`'s
 * object path (validation before anything is written, the wait for the nodes); list and status
 * read the store and the running pods and compute the bindings as the agents do.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "ctl.h"
#include "k8s/kconn.h"
#include "k8s/kmanifest.h"

#define WP_DEFAULT_NAME "waypoint"
#define WP_MAX_NAMES 16

struct wp_args {
	const char *sub;
	const char *ns; /* -n; NULL: "default" */
	const char *name;
	const char *names[WP_MAX_NAMES]; /* delete's positional names */
	int nnames;
	const char *traffic; /* --for */
	bool enroll, all_ns, all, wait_false, json;
	bool overwrite; /* --overwrite: enroll over another waypoint's label (istioctl's) */
	const char *timeout;
	const char *file;	/* config -f */
	bool istioctl;		/* istioctl's words and columns (ctl_opts.istioctl) */
	bool kube;		/* on Kubernetes (--kubeconfig, or --kube: the default one) */
	const char *kubeconfig; /* NULL: $KUBECONFIG, else ~/.kube/config */
};

/* Whether @v has a waypoint `list` of @a shows (istioctl prints no header without one). */
static bool has_waypoint(const struct wp_view *v, const struct wp_args *a)
{
	for (size_t i = 0; i < v->b.n_waypoints; i++)
		if ((a->all_ns || !strcmp(v->b.waypoints[i].namespace, a->ns)) &&
		    (!a->name || !strcmp(v->b.waypoints[i].name, a->name)))
			return true;
	return false;
}

/* What istioctl puts before a line that says a change was made. */
static const char *done_mark(const struct wp_args *a)
{
	return a->istioctl ? "\u2705 " : "";
}

static void usage_waypoint(FILE *f)
{
	fputs(
	    "usage: ambitctl waypoint generate|apply [-n NS] [--name N] [--for "
	    "service|workload|all|none]\n"
	    "                        [--enroll-namespace [--overwrite]] [--wait=false] [--timeout "
	    "30s]\n"
	    "       ambitctl waypoint list [-n NS | -A] [-o json]\n"
	    "       ambitctl waypoint status [-n NS] [--name N]\n"
	    "       ambitctl waypoint delete [-n NS] NAME... | --all\n"
	    "       ambitctl waypoint config -f FILE|DIR [-n NS] [--name N]\n"
	    "  the cluster: --cluster C (--name is the waypoint's), else $AMBIT_CLUSTER;\n"
	    "  on Kubernetes (apply, delete, status): --kubeconfig F, or --kube for $KUBECONFIG\n",
	    f);
}

static int parse_wp(int argc, char **argv, struct wp_args *a)
{
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		bool next = i + 1 < argc;

		if ((!strcmp(s, "-n") || !strcmp(s, "--namespace")) && next)
			a->ns = argv[++i];
		else if (!strncmp(s, "--namespace=", 12))
			a->ns = s + 12;
		else if (!strcmp(s, "--name") && next)
			a->name = argv[++i];
		else if (!strcmp(s, "--for") && next)
			a->traffic = argv[++i];
		else if (!strcmp(s, "--enroll-namespace"))
			a->enroll = true;
		else if (!strcmp(s, "--overwrite"))
			a->overwrite = true;
		else if (!strcmp(s, "-A") || !strcmp(s, "--all-namespaces"))
			a->all_ns = true;
		else if (!strcmp(s, "--all"))
			a->all = true;
		else if (!strcmp(s, "--wait=false"))
			a->wait_false = true;
		else if (!strcmp(s, "--wait") || !strcmp(s, "--wait=true"))
			a->wait_false = false;
		else if (!strcmp(s, "--timeout") && next)
			a->timeout = argv[++i];
		else if (!strcmp(s, "-f") && next)
			a->file = argv[++i];
		else if (!strcmp(s, "-o") && next && !strcmp(argv[i + 1], "json") && ++i)
			a->json = true;
		else if (!strcmp(s, "--cluster") && next)
			i++; /* resolved by main */
		else if (!strcmp(s, "--kube"))
			a->kube = true;
		else if (!strcmp(s, "--kubeconfig") && next) {
			a->kube = true;
			a->kubeconfig = argv[++i];
		} else if (s[0] == '-' || a->nnames == WP_MAX_NAMES)
			return -EINVAL;
		else if (!a->sub)
			a->sub = s;
		else
			a->names[a->nnames++] = s;
	}
	if (!a->ns)
		a->ns = "default";
	return a->sub ? 0 : -EINVAL;
}

/* The waypoint's name: --name, else istioctl's default. */
static const char *wp_name(const struct wp_args *a)
{
	return a->name ? a->name : WP_DEFAULT_NAME;
}

static int check_names(const struct wp_args *a)
{
	static const char *const kinds[] = {"service", "workload", "all", "none"};
	bool ok = !a->traffic;

	for (size_t i = 0; !ok && i < 4; i++)
		ok = !strcmp(a->traffic, kinds[i]);
	if (!ok) {
		fprintf(stderr, "ambitctl: --for %s: one of service, workload, all, none\n",
			a->traffic);
		return -EINVAL;
	}
	if (!config_dns_label_ok(a->ns) || !config_dns_label_ok(wp_name(a))) {
		fprintf(stderr,
			"ambitctl: %s: not a valid name (lower-case letters, digits, '-')\n",
			config_dns_label_ok(a->ns) ? wp_name(a) : a->ns);
		return -EINVAL;
	}
	return 0;
}

/* The Gateway `istioctl waypoint generate` prints, into a malloc'd string. */
static char *gateway_yaml(const char *ns, const char *name, const char *traffic)
{
	char *y = NULL;

	if (asprintf(&y,
		     "apiVersion: gateway.networking.k8s.io/v1\n"
		     "kind: Gateway\n"
		     "metadata:\n"
		     "  labels:\n"
		     "    istio.io/waypoint-for: %s\n"
		     "  name: %s\n"
		     "  namespace: %s\n"
		     "spec:\n"
		     "  gatewayClassName: istio-waypoint\n"
		     "  listeners:\n"
		     "  - name: mesh\n"
		     "    port: 15008\n"
		     "    protocol: HBONE\n",
		     traffic ? traffic : "service", name, ns) < 0)
		return NULL;
	return y;
}

/* Runs `apply` (or `delete`) on the manifest @text in namespace @ns. */
static int apply_text(const struct ctl_opts *o, const struct wp_args *a, const char *text,
		      bool remove)
{
	/* istioctl says only its own lines (✅ waypoint NS/NAME applied), not apply's. */
	struct ctl_opts q = *o;
	char *argv[6];
	int argc = 0;

	q.quiet = a->istioctl;

	argv[argc++] = "-n";
	argv[argc++] = (char *)a->ns;
	if (a->wait_false && !remove)
		argv[argc++] = "--wait=false";
	if (a->timeout && !remove) {
		argv[argc++] = "--timeout";
		argv[argc++] = (char *)a->timeout;
	}
	return apply_manifest(&q, remove ? "waypoint delete" : "waypoint apply", text, argc, argv,
			      remove);
}

static const struct config_namespace *find_ns(const struct config *cfg, const char *ns)
{
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (!strcmp(cfg->namespaces[i].meta.name, ns))
			return &cfg->namespaces[i];
	return NULL;
}

/* The store of @o's cluster loaded into @cfg (config_init'd by the caller). */
static int load_store(const struct ctl_opts *o, struct ctl_cluster *c, struct config *cfg)
{
	char state[PATH_MAX];
	int ret = cluster_open(c, o);

	if (ret)
		return ret;
	cluster_path(c, state, sizeof(state), "state");
	return load_state_quiet(cfg, state);
}

static bool ns_ambient(const struct config_namespace *n)
{
	for (size_t i = 0; i < n->meta.labels.n; i++)
		if (!strcmp(n->meta.labels.items[i].key, AMBIT_LABEL_DATAPLANE_MODE))
			return !strcmp(n->meta.labels.items[i].value, AMBIT_DATAPLANE_AMBIENT);
	return false;
}

/* Waits up to --timeout (30 s) until waypoint @a is Programmed in the local cluster. */
static int local_wait(const struct ctl_opts *o, const struct wp_args *a)
{
	int secs = a->timeout ? atoi(a->timeout) : 30;
	const char *reason = "NotFound", *msg = "no such waypoint";

	for (int i = 0; i <= secs * 5 && !ctl_interrupted; i++) {
		struct ctl_cluster c;
		struct config cfg;
		struct wp_view v = {0};

		config_init(&cfg);
		if (!load_store(o, &c, &cfg) && !wp_view_load(&v, &c, &cfg))
			for (size_t k = 0; k < v.b.n_waypoints; k++)
				if (!strcmp(v.b.waypoints[k].namespace, a->ns) &&
				    !strcmp(v.b.waypoints[k].name, wp_name(a)))
					reason = wp_view_programmed(&v, &v.b.waypoints[k], &msg);
		bool ok = !strcmp(reason, "Programmed");
		char why[512];

		str_fmt(why, sizeof(why), "%s: %s", reason, msg);
		wp_view_free(&v);
		config_free(&cfg);
		if (ok) {
			printf("%swaypoint %s/%s is ready!\n", done_mark(a), a->ns, wp_name(a));
			return 0;
		}
		if (i == secs * 5) {
			fprintf(stderr, "Error: waypoint %s/%s is not ready: %s\n", a->ns,
				wp_name(a), why);
			return -ETIMEDOUT;
		}
		usleep(200 * 1000);
	}
	return -EINTR;
}

/*
 * Whether --enroll-namespace may label the namespace (its label now @cur, or NULL): under
 * istioctl's name, another waypoint's enrollment stays unless --overwrite, said as it says it.
 */
static bool enroll_ok(const struct wp_args *a, const char *cur)
{
	/* ambitctl's own --enroll-namespace moves the namespace to this waypoint, as it did. */
	if (!a->istioctl || !cur || !strcmp(cur, wp_name(a)) || a->overwrite)
		return true;
	printf(
	    "\u26a0\ufe0f Warning: namespace (%s) already has an enrolled Waypoint (%s). Consider "
	    "adding the `--overwrite` flag to your apply command.\n",
	    a->ns, cur);
	return false;
}

static int wp_apply(const struct ctl_opts *o, const struct wp_args *a)
{
	const struct config_namespace *n;
	struct ctl_opts q = *o;
	struct ctl_cluster c;
	struct config cfg;
	char *yaml, *label = NULL;
	int ret;

	q.quiet = a->istioctl;
	config_init(&cfg);
	ret = load_store(o, &c, &cfg);
	if (ret)
		goto out;
	n = find_ns(&cfg, a->ns);
	if (!n) {
		tell_ns_not_found(a->ns);
		ret = -ENOENT;
		goto out;
	}
	yaml = gateway_yaml(a->ns, wp_name(a), a->traffic);
	ret = yaml ? apply_text(o, a, yaml, false) : -ENOMEM;
	free(yaml);
	if (ret)
		goto out;
	printf("%swaypoint %s/%s applied\n", done_mark(a), a->ns, wp_name(a));
	if (a->enroll && !enroll_ok(a, config_label_get(&n->meta.labels, "istio.io/use-waypoint")))
		goto out;
	if (a->enroll) {
		if (asprintf(&label, "istio.io/use-waypoint=%s", wp_name(a)) < 0) {
			label = NULL;
			ret = -ENOMEM;
			goto out;
		}
		ret = cmd_label_namespace(&q, a->ns, &label, 1,
					  a->wait_false ? 0
					  : a->timeout	? atoi(a->timeout)
							: 30);
		if (!ret)
			printf("%snamespace %s labeled with \"istio.io/use-waypoint: %s\"\n",
			       done_mark(a), a->ns, wp_name(a));
	}
	/* istioctl's --wait: until its instances serve (apply above waited for the config). */
	if (!ret && a->istioctl && !a->wait_false)
		ret = local_wait(o, a);
	/* A waypoint serves traffic the ztunnels capture: only ambient namespaces send it any. */
	if (!ret && !ns_ambient(n))
		fprintf(stderr,
			"ambitctl: note: namespace %s is not in the ambient mesh (label %s=%s): "
			"its pods' traffic does not reach the waypoint\n",
			a->ns, AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_AMBIENT);
out:
	free(label);
	config_free(&cfg);
	return ret;
}

/* Appends a Gateway document naming @ns/@name to @f: delete loads whole objects. */
static int put_gateway(FILE *f, const char *ns, const char *name)
{
	char *y = gateway_yaml(ns, name, NULL);

	if (!y)
		return -ENOMEM;
	fprintf(f, "---\n%s", y);
	free(y);
	return 0;
}

static int wp_delete(const struct ctl_opts *o, const struct wp_args *a)
{
	struct ctl_cluster c;
	struct config cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const char **names = NULL;
	int ret, n = 0;

	if (!f)
		return -ENOMEM;
	config_init(&cfg);
	ret = load_store(o, &c, &cfg);
	if (!ret && !state_ns_known(&cfg, a->ns)) {
		tell_ns_not_found(a->ns);
		ret = -ENOENT;
	}
	for (size_t i = 0; !ret && a->all && i < cfg.n_k8s_gateways; i++) {
		const struct config_k8s_gateway *g = &cfg.k8s_gateways[i];

		if (strcmp(g->meta.namespace, a->ns) || !g->class_name ||
		    strcmp(g->class_name, "istio-waypoint"))
			continue;
		const char **more = realloc(names, (n + 1) * sizeof(*names));

		if (!more) {
			ret = -ENOMEM;
			break;
		}
		names = more;
		names[n++] = g->meta.name;
		ret = put_gateway(f, a->ns, g->meta.name);
	}
	/* A name that is no waypoint is reported by delete as "not found". */
	for (int k = 0; !ret && !a->all && k < a->nnames; k++)
		ret = put_gateway(f, a->ns, a->names[k]);
	fclose(f);
	if (!ret && (a->all ? !n : !a->nnames)) {
		fprintf(stderr,
			a->all ? "ambitctl: no waypoints in namespace %s\n"
			       : "ambitctl: waypoint delete: name the waypoints, or --all\n",
			a->ns);
		ret = a->all ? -ENOENT : -EINVAL;
	}
	if (!ret)
		ret = apply_text(o, a, text, true);
	/* istioctl's words for each (apply's own lines are quiet under its name). */
	for (int k = 0; !ret && a->istioctl && k < (a->all ? n : a->nnames); k++)
		printf("waypoint %s/%s deleted\n", a->ns, a->all ? names[k] : a->names[k]);
	free(names);
	free(text);
	config_free(&cfg);
	return ret;
}

static const char *source_name(enum l7_bind_source s)
{
	return s == L7_BIND_OBJECT ? "own label" : "namespace label";
}

static void print_bound(const char *what, const struct l7_binding *b, size_t n, int w)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		if (b[i].waypoint != w)
			continue;
		printf("%s%s/%s (%s)", any ? ", " : "    bound ", b[i].namespace, b[i].name,
		       source_name(b[i].source));
		any = true;
	}
	printf(any ? " [%s]\n" : "    bound %s: none\n", what);
}

/*
 * Binding @i of @b (its Services, then pods, then ServiceEntries) when a label of it or its
 * namespace asks for a waypoint and is refused: which object, by which label, for which
 * waypoint, and why (Istio's reason first). Said for the objects of namespace -n and for those
 * asking for a waypoint of it (--name: that one).
 */
static void print_refused(const struct wp_args *a, const struct l7_bindings *b, size_t i)
{
	static const char *const kinds[] = {"service", "pod", "serviceentry"};
	size_t k = i < b->n_services ? 0 : i < b->n_services + b->n_workloads ? 1 : 2;
	const struct l7_binding *x = k == 0   ? &b->services[i]
				     : k == 1 ? &b->workloads[i - b->n_services]
					      : &b->entries[i - b->n_services - b->n_workloads];
	bool ours = !strcmp(x->namespace, a->ns) && !a->name;
	bool asks = x->want_namespace && !strcmp(x->want_namespace, a->ns) &&
		    (!a->name || !strcmp(x->want_name, a->name));

	if (!x->problem || (!a->all_ns && !ours && !asks))
		return;
	printf("%s %s/%s: %s asks for waypoint %s/%s, refused: %s: %s\n", kinds[k], x->namespace,
	       x->name,
	       x->source == L7_BIND_OBJECT ? "its label " CONFIG_LABEL_USE_WAYPOINT
					   : "its namespace's label " CONFIG_LABEL_USE_WAYPOINT,
	       x->want_namespace, x->want_name, x->reason ? x->reason : "Refused", x->problem);
}

static int wp_show(const struct ctl_opts *o, const struct wp_args *a, bool status)
{
	struct ctl_cluster c;
	struct config cfg;
	struct wp_view v = {0};
	cJSON *out = NULL;
	size_t shown = 0;
	int ret;

	config_init(&cfg);
	ret = load_store(o, &c, &cfg);
	if (!ret && !a->all_ns && !state_ns_known(&cfg, a->ns)) {
		tell_ns_not_found(a->ns);
		ret = -ENOENT;
	}
	if (!ret)
		ret = wp_view_load(&v, &c, &cfg);
	if (ret)
		goto done;
	if (a->json && !(out = cJSON_CreateArray())) {
		ret = -ENOMEM;
		goto done;
	}
	if (a->istioctl && !a->json && (status || has_waypoint(&v, a))) {
		if (a->all_ns)
			printf("%-12s ", "NAMESPACE");
		if (status)
			printf("%-20s %-7s %-11s %-12s %s\n", "NAME", "STATUS", "TYPE", "REASON",
			       "MESSAGE");
		else
			printf("%-20s %-9s %-13s %s\n", "NAME", "REVISION", "TRAFFIC TYPE",
			       "PROGRAMMED");
	} else if (!status && !a->json && !a->istioctl)
		printf("%-12s %-20s %-9s %-48s %-9s %s\n", "NAMESPACE", "NAME", "FOR", "IDENTITY",
		       "INSTANCES", "PROGRAMMED");
	for (size_t i = 0; i < v.b.n_waypoints; i++) {
		const struct l7_waypoint *w = &v.b.waypoints[i];
		const char *msg, *reason = wp_view_programmed(&v, w, &msg);
		bool ok = !strcmp(reason, "Programmed");

		if ((!a->all_ns && strcmp(w->namespace, a->ns)) ||
		    (a->name && strcmp(w->name, a->name)))
			continue;
		shown++;
		if (a->json) {
			cJSON *j = cJSON_CreateObject();

			if (!j || !cJSON_AddItemToArray(out, j) ||
			    !cJSON_AddStringToObject(j, "namespace", w->namespace) ||
			    !cJSON_AddStringToObject(j, "name", w->name) ||
			    !cJSON_AddStringToObject(j, "for", l7_traffic_name(w->traffic)) ||
			    !cJSON_AddStringToObject(j, "identity", w->identity) ||
			    !cJSON_AddNumberToObject(j, "instances",
						     (double)l7_waypoint_instances(w)) ||
			    !cJSON_AddBoolToObject(j, "programmed", ok) ||
			    !cJSON_AddStringToObject(j, "reason", reason) ||
			    !cJSON_AddStringToObject(j, "message", msg)) {
				ret = -ENOMEM;
				goto done;
			}
		} else if (a->istioctl) {
			if (a->all_ns)
				printf("%-12s ", w->namespace);
			if (status)
				printf("%-20s %-7s %-11s %-12s %s\n", w->name,
				       ok ? "True" : "False", "Programmed", reason, msg);
			else
				printf("%-20s %-9s %-13s %s\n", w->name, "default",
				       l7_traffic_name(w->traffic), ok ? "True" : "False");
		} else if (!status) {
			printf("%-12s %-20s %-9s %-48s %-9zu %s\n", w->namespace, w->name,
			       l7_traffic_name(w->traffic), w->identity, l7_waypoint_instances(w),
			       ok ? "True" : "False");
		} else {
			printf("%s/%s: Programmed=%s reason=%s: %s\n", w->namespace, w->name,
			       ok ? "True" : "False", reason, msg);
			printf("    for %s traffic, identity %s, Service %s\n",
			       l7_traffic_name(w->traffic), w->identity, w->hostname);
			print_bound("services", v.b.services, v.b.n_services, (int)i);
			print_bound("workloads", v.b.workloads, v.b.n_workloads, (int)i);
		}
	}
	/*
	 * Labels that bind nothing, with Istio's reason: those of this namespace's objects, and
	 * those asking for one of its waypoints from another namespace.
	 */
	for (size_t i = 0;
	     status && !a->istioctl && i < v.b.n_services + v.b.n_workloads + v.b.n_entries; i++)
		print_refused(a, &v.b, i);
	if (a->json) {
		char *s = cJSON_Print(out);

		if (!s) {
			ret = -ENOMEM;
			goto done;
		}
		printf("%s\n", s);
		free(s);
	} else if (!shown && a->istioctl && !status) {
		printf("No waypoints found.\n");
	} else if (!shown) {
		fprintf(stderr, "%s: no waypoints%s%s\n", a->istioctl ? "Error" : "ambitctl",
			a->all_ns ? "" : " in namespace ", a->all_ns ? "" : a->ns);
		if (status)
			ret = -ENOENT;
	}
done:
	cJSON_Delete(out);
	wp_view_free(&v);
	config_free(&cfg);
	return ret;
}

/*
 * `waypoint config -f`: the L7 model the waypoint would be served for the manifests at
 * a->file (l7_compile, as the agent compiles it), as the JSON `waypoint --config` reads.
 */
static int wp_config(const struct wp_args *a)
{
	struct config cfg;
	struct config_diags d = {0};
	struct l7_config *l7 = NULL;
	cJSON *j = NULL;
	char *text = NULL, line[512];
	int ret = -EINVAL;

	config_init(&cfg);
	if (config_load_path_opts(&cfg, a->file, NULL, &d)) {
		for (size_t i = 0; i < d.n; i++) {
			config_diag_format(&d.items[i], line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
		goto out;
	}
	l7 = l7_compile_config(&cfg, a->ns, wp_name(a));
	if (!l7) {
		ret = -errno;
		fprintf(stderr, "ambitctl: %s/%s in %s: %s\n", a->ns, wp_name(a), a->file,
			errno == ENOENT ? "no waypoint" : strerror(errno));
		goto out;
	}
	ret = -ENOMEM;
	j = l7_to_json(l7);
	text = j ? cJSON_Print(j) : NULL;
	if (text) {
		printf("%s\n", text);
		ret = 0;
	}
out:
	free(text);
	cJSON_Delete(j);
	l7_config_free(l7);
	config_diags_free(&d);
	config_free(&cfg);
	return ret;
}

/* ---- on Kubernetes: the Gateway through the API; ambit's controller deploys it ---- */

#define GATEWAYS "/apis/gateway.networking.k8s.io/v1/namespaces/%s/gateways"

/* The Gateway's Programmed condition: 1 True, 0 not yet (@why: its message), -errno. */
static int kube_programmed(const struct kconn *k, const char *ns, const char *name, char *why,
			   size_t len)
{
	char path[600], *resp = NULL;
	const cJSON *c;
	cJSON *gw;
	long code;
	int ret = 0;

	str_fmt(path, sizeof(path), GATEWAYS "/%s", ns, name);
	code = kube_call(k, "GET", path, NULL, &resp);
	gw = code == 200 ? cJSON_Parse(resp) : NULL;
	free(resp);
	if (!gw)
		return code == 404 ? -ENOENT : -EIO;
	str_fmt(why, len, "no status yet (is ambit's waypoint controller running?)");
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
				  cJSON_GetObjectItemCaseSensitive(gw, "status"), "conditions"))
	{
		const char *type = kjson_str(c, "type", NULL), *st = kjson_str(c, "status", NULL);

		if (!type || strcmp(type, "Programmed"))
			continue;
		ret = st && !strcmp(st, "True");
		str_fmt(why, len, "%s", kjson_str(c, "message", NULL) ?: "");
	}
	cJSON_Delete(gw);
	return ret;
}

/* Waits up to --timeout (30 s) for Programmed; 0, or -ETIMEDOUT with the last reason said. */
static int kube_wait(const struct kconn *k, const struct wp_args *a)
{
	int secs = a->timeout ? atoi(a->timeout) : 30, ret = 0;
	char why[512] = "";

	if (!a->istioctl)
		printf("waiting for waypoint %s/%s to be ready\n", a->ns, wp_name(a));
	fflush(stdout);
	for (int i = 0; i <= secs * 5 && !ctl_interrupted; i++) {
		ret = kube_programmed(k, a->ns, wp_name(a), why, sizeof(why));
		if (ret != 0)
			break;
		usleep(200 * 1000);
	}
	if (ret == 1) {
		printf("%swaypoint %s/%s is ready%s\n", done_mark(a), a->ns, wp_name(a),
		       a->istioctl ? "!" : "");
		return 0;
	}
	fprintf(stderr, "ambitctl: waypoint %s/%s is not ready: %s\n", a->ns, wp_name(a),
		ret < 0 ? strerror(-ret) : why);
	return ret < 0 ? ret : -ETIMEDOUT;
}

/* Labels namespace @ns istio.io/use-waypoint=@name (a merge of the label alone). */
static int kube_enroll(const struct kconn *k, const struct wp_args *a)
{
	const char *ns = a->ns, *name = wp_name(a);
	char path[300], *resp = NULL;
	cJSON *ns_obj, *labels;
	long code;

	str_fmt(path, sizeof(path), "/api/v1/namespaces/%s", ns);
	code = kube_call(k, "GET", path, NULL, &resp);
	ns_obj = code == 200 ? cJSON_Parse(resp) : NULL;
	free(resp);
	if (!ns_obj) {
		fprintf(stderr, "ambitctl: namespace %s: %s\n", ns,
			code == 404 ? "not found" : "cannot be read");
		return code == 404 ? -ENOENT : -EIO;
	}
	labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(ns_obj, "metadata"), "labels");
	if (!enroll_ok(a, cJSON_GetStringValue(
			      cJSON_GetObjectItemCaseSensitive(labels, "istio.io/use-waypoint")))) {
		cJSON_Delete(ns_obj);
		return 0;
	}
	if (!labels)
		labels = cJSON_AddObjectToObject(
		    cJSON_GetObjectItemCaseSensitive(ns_obj, "metadata"), "labels");
	cJSON_DeleteItemFromObjectCaseSensitive(labels, "istio.io/use-waypoint");
	cJSON_AddStringToObject(labels, "istio.io/use-waypoint", name);
	/* The resourceVersion read is kept: a concurrent change makes this a 409, not a loss. */
	code = kube_call(k, "PUT", path, ns_obj, NULL);
	cJSON_Delete(ns_obj);
	if (code != 200) {
		fprintf(stderr, "ambitctl: labelling namespace %s: HTTP %ld\n", ns, code);
		return -EIO;
	}
	printf("%snamespace %s labeled with \"istio.io/use-waypoint: %s\"\n", done_mark(a), ns,
	       name);
	return 0;
}

static int wp_kube(const struct wp_args *a)
{
	struct kconn k = {0};
	char *yaml = NULL, why[512];
	cJSON *docs = NULL;
	int ret = kube_connect(&k, a->kubeconfig);

	if (ret)
		return ret;
	if (!strcmp(a->sub, "apply")) {
		yaml = gateway_yaml(a->ns, wp_name(a), a->traffic);
		docs = yaml ? kmanifest_documents(yaml, why, sizeof(why)) : NULL;
		ret = docs ? kube_apply(&k, cJSON_GetArrayItem(docs, 0), true) : -ENOMEM;
		if (!ret)
			printf("%swaypoint %s/%s applied\n", done_mark(a), a->ns, wp_name(a));
		if (!ret && a->enroll)
			ret = kube_enroll(&k, a);
		if (!ret && !a->wait_false)
			ret = kube_wait(&k, a);
	} else if (!strcmp(a->sub, "delete")) {
		for (int i = 0; !ret && i < a->nnames; i++) {
			char path[600];
			long code;

			str_fmt(path, sizeof(path), GATEWAYS "/%s", a->ns, a->names[i]);
			code = kube_call(&k, "DELETE", path, NULL, NULL);
			if (code == 200 || code == 202)
				printf("waypoint %s/%s deleted\n", a->ns, a->names[i]);
			else {
				fprintf(stderr, "ambitctl: waypoint %s/%s: %s\n", a->ns,
					a->names[i], code == 404 ? "not found" : "cannot delete");
				ret = code == 404 ? -ENOENT : -EIO;
			}
		}
	} else {
		ret = kube_programmed(&k, a->ns, wp_name(a), why, sizeof(why));
		if (ret >= 0)
			printf("waypoint %s/%s: Programmed %s%s%s\n", a->ns, wp_name(a),
			       ret ? "True" : "False", why[0] ? ": " : "", why);
		else
			fprintf(stderr, "ambitctl: waypoint %s/%s: %s\n", a->ns, wp_name(a),
				ret == -ENOENT ? "not found" : strerror(-ret));
		ret = ret == 1 ? 0 : ret ? ret : -EAGAIN;
	}
	cJSON_Delete(docs);
	free(yaml);
	kconn_free(&k);
	return ret;
}

int cmd_waypoint(const struct ctl_opts *o, int argc, char **argv)
{
	struct wp_args a = {0};
	char *y;

	a.istioctl = o->istioctl;
	if (parse_wp(argc, argv, &a) || check_names(&a) || (a.nnames && strcmp(a.sub, "delete"))) {
		usage_waypoint(stderr);
		return -EINVAL;
	}
	if (!strcmp(a.sub, "generate")) {
		y = gateway_yaml(a.ns, wp_name(&a), a.traffic);
		if (!y)
			return -ENOMEM;
		fputs(y, stdout);
		free(y);
		return 0;
	}
	if (a.kube) {
		if (!strcmp(a.sub, "delete") && a.name && a.nnames < WP_MAX_NAMES)
			a.names[a.nnames++] = a.name;
		for (int k = 0; k < a.nnames; k++) {
			if (!config_dns_label_ok(a.names[k])) {
				fprintf(stderr, "ambitctl: %s: not a valid name\n", a.names[k]);
				return -EINVAL;
			}
		}
		if (!strcmp(a.sub, "apply") || !strcmp(a.sub, "status") ||
		    (!strcmp(a.sub, "delete") && a.nnames && !a.all))
			return wp_kube(&a);
		fprintf(stderr, "ambitctl: on Kubernetes, waypoint takes apply, status and delete "
				"NAME... (list them with kubectl get gateways)\n");
		return -EINVAL;
	}
	if (!strcmp(a.sub, "apply"))
		return wp_apply(o, &a);
	if (!strcmp(a.sub, "config")) {
		if (!a.file) {
			usage_waypoint(stderr);
			return -EINVAL;
		}
		return wp_config(&a);
	}
	if (!strcmp(a.sub, "delete")) {
		if (a.name && a.nnames < WP_MAX_NAMES)
			a.names[a.nnames++] = a.name;
		for (int k = 0; k < a.nnames; k++) {
			if (!config_dns_label_ok(a.names[k])) {
				fprintf(stderr, "ambitctl: %s: not a valid name\n", a.names[k]);
				return -EINVAL;
			}
		}
		return wp_delete(o, &a);
	}
	if (!strcmp(a.sub, "list"))
		return wp_show(o, &a, false);
	if (!strcmp(a.sub, "status"))
		return wp_show(o, &a, true);
	fprintf(stderr, "ambitctl: unknown waypoint command \"%s\"\n", a.sub);
	usage_waypoint(stderr);
	return -EINVAL;
}
