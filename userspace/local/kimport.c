// SPDX-License-Identifier: Apache-2.0
/*
 * `local up --kube`: the API server as a source of truth the local cluster follows, as a real
 * cluster's controllers follow theirs. What kubectl (or any other client) created, changed or
 * deleted there among the kinds the store holds is written into the store (kube_import), then
 * the cluster is brought to the store (state_reconcile: pods, VIPs, and the mirror back into the
 * API). `ambitctl local kube-controller` runs this whenever the server's resourceVersion moves;
 * ambitctl's own store writers run it first, under the same reconcile lock, so neither side
 * ever takes the other's stale view.
 *
 * What is not imported: the mirror's own objects as it wrote them (their hash holds), the
 * objects `ambitctl install` and the agents make (ambit-system, labelled part-of or managed-by
 * ambit, or create-only), and the kinds the plan makes or the agents own (Pods, EndpointSlices,
 * Nodes, RBAC, DaemonSets, CRDs).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "local.h"
#include "k8s/kconn.h"
#include "k8s/kevents.h"
#include "k8s/kmanifest.h"
#include "kmirror.h"
#include "objstore.h"

#define KCTL_POLL_MS 500    /* how often the controller asks the server's resourceVersion */
#define KCTL_STATUS_POLLS 4 /* status computed again every this many polls (2 s) */

/* Whether the controller follows kind @group/@kind (what the store holds and a user writes). */
static bool kind_imported(const char *group, const char *kind)
{
	static const char *const core[] = {"Namespace", "ServiceAccount", "Service", "ConfigMap",
					   "Secret"};
	size_t glen = strlen(group);

	if (!*group) {
		for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
			if (!strcmp(kind, core[i]))
				return true;
		return false;
	}
	if (!strcmp(group, "apps"))
		return !strcmp(kind, "Deployment");
	return (glen > 9 && !strcmp(group + glen - 9, ".istio.io")) ||
	       !strcmp(group, "gateway.networking.k8s.io") || !strcmp(group, "networking.ambit.io");
}

/* Whether @obj is ambit's own (install's, the agents'): never the store's business. */
static bool ambit_own(const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = kjson_str(md, "namespace", NULL), *name = kjson_str(md, "name", NULL);
	const char *part = kjson_str(cJSON_GetObjectItemCaseSensitive(md, "labels"),
				     "app.kubernetes.io/part-of", NULL);
	const char *by = kjson_str(cJSON_GetObjectItemCaseSensitive(md, "labels"),
				   "app.kubernetes.io/managed-by", NULL);
	const char *mirror =
	    kjson_str(cJSON_GetObjectItemCaseSensitive(md, "labels"), KMIRROR_LABEL, NULL);

	if (mirror)
		return false; /* the store's, whatever else it carries */
	if ((ns && !strcmp(ns, CTL_KUBE_NS)) ||
	    (!ns && name && !strcmp(name, CTL_KUBE_NS) &&
	     !strcmp(kjson_str(obj, "kind", NULL) ?: "", "Namespace")))
		return true;
	return (part && !strcmp(part, "ambit")) || (by && !strcmp(by, "ambit")) ||
	       kjson_get(cJSON_GetObjectItemCaseSensitive(md, "annotations"),
			 "ambit.io/create-only", NULL);
}

int kube_reconcile_lock(const struct ctl_cluster *c)
{
	char path[PATH_MAX];

	if (!c->kube)
		return -1; /* nothing else writes a cluster without an API server */
	if (cluster_path(c, path, sizeof(path), "reconcile.lock"))
		return -ENAMETOOLONG;
	return store_flock(path);
}

/* The last import's view (kube_import_saw): "group/kind/ns/name" keys, sorted, and its rv. */
static char **saw;
static size_t n_saw;
static uint64_t saw_rv;

static bool saw_key(char *buf, size_t len, const char *group, const char *kind, const char *ns,
		    const char *name)
{
	return !str_fmt(buf, len, "%s/%s/%s/%s", group, kind, ns ?: "", name);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool kube_import_saw(const char *group, const char *kind, const char *ns, const char *name)
{
	char key[1200], *k = key;

	return saw && saw_key(key, sizeof(key), group, kind, ns, name) &&
	       bsearch(&k, saw, n_saw, sizeof(*saw), cmp_key);
}

uint64_t kube_import_rv(void)
{
	return saw_rv;
}

static void saw_free(void)
{
	for (size_t i = 0; i < n_saw; i++)
		free(saw[i]);
	free(saw);
	saw = NULL;
	n_saw = 0;
	saw_rv = 0;
}

/* The listed @items as the import's view; on failure none (the mirror then knows nothing). */
static void saw_take(const cJSON *items, uint64_t rv, bool ok)
{
	const cJSON *it;
	size_t n = 0;

	saw_free();
	if (!ok || !(saw = calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof(*saw))))
		return;
	cJSON_ArrayForEach(it, items)
	{
		const char *ns = kjson_str(it, "metadata", "namespace");
		const char *name = kjson_str(it, "metadata", "name");
		char group[256], key[1200];

		config_api_group(kjson_str(it, "apiVersion", NULL) ?: "", group, sizeof(group));
		if (!name ||
		    !saw_key(key, sizeof(key), group, kjson_str(it, "kind", NULL) ?: "", ns, name))
			continue;
		if (!(saw[n_saw] = strdup(key))) {
			saw_free();
			return;
		}
		n_saw++;
	}
	qsort(saw, n_saw, sizeof(*saw), cmp_key);
	for (size_t i = 0; i < n_saw; i++) {
		if (n && !strcmp(saw[n - 1], saw[i])) {
			free(saw[i]);
			continue;
		}
		saw[n++] = saw[i];
	}
	n_saw = n;
	saw_rv = rv;
}

/*
 * What the server holds of every imported kind: items (with kind and apiVersion) in @items,
 * and in *@rv the oldest of the lists' resourceVersions (any change past it came after).
 */
static int list_imported(const struct kconn *k, cJSON *items, bool listed[], uint64_t *rv)
{
	const char *kind, *group;
	bool namespaced;

	for (size_t i = 0; !kube_kind_at(i, &kind, &group, &namespaced); i++) {
		char path[512], *resp = NULL;
		const char *av;
		cJSON *list, *it;
		long code;

		listed[i] = false;
		if (!kind_imported(group, kind))
			continue;
		if (kube_kind_list_path(i, path, sizeof(path)))
			return -ENAMETOOLONG;
		code = kube_call(k, "GET", path, NULL, &resp);
		if (code == 404) { /* a kind not served: nothing of it to follow */
			free(resp);
			continue;
		}
		list = code == 200 ? cJSON_Parse(resp) : NULL;
		free(resp);
		if (!list) {
			fprintf(stderr, "ambitctl: kube-controller: listing %s: HTTP %ld\n", kind,
				code);
			return code ? -EIO : -ECONNREFUSED;
		}
		av = kjson_str(list, "apiVersion", NULL);
		const char *lrv = kjson_str(list, "metadata", "resourceVersion");
		uint64_t v = lrv ? strtoull(lrv, NULL, 10) : 0;

		if (!v || !*rv || v < *rv)
			*rv = v ? v : 1; /* none given: nothing past 1 is trusted */
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
		{
			cJSON *c = cJSON_Duplicate(it, true);

			if (!c)
				continue;
			/* As kmirror's take_page: a real server leaves these out of items. */
			if (!cJSON_GetObjectItemCaseSensitive(c, "kind"))
				cJSON_AddStringToObject(c, "kind", kind);
			if (!cJSON_GetObjectItemCaseSensitive(c, "apiVersion") && av)
				cJSON_AddStringToObject(c, "apiVersion", av);
			cJSON_AddItemToArray(items, c);
		}
		cJSON_Delete(list);
		listed[i] = true;
	}
	return 0;
}

/* The index of @group/@kind in kubeapi.c's table, or -1. */
static int kind_index(const char *group, const char *kind)
{
	const char *k, *g;
	bool namespaced;

	for (size_t i = 0; !kube_kind_at(i, &k, &g, &namespaced); i++)
		if (!strcmp(k, kind) && !strcmp(g, group))
			return (int)i;
	return -1;
}

/* The API item of @o's identity in @items, or NULL. */
static const cJSON *api_find(const cJSON *items, const struct store_obj *o)
{
	const cJSON *it;
	char group[256];

	cJSON_ArrayForEach(it, items)
	{
		const char *ns = kjson_str(it, "metadata", "namespace");

		if (strcmp(kjson_str(it, "kind", NULL) ?: "", o->kind) ||
		    strcmp(kjson_str(it, "metadata", "name") ?: "", o->name))
			continue;
		config_api_group(kjson_str(it, "apiVersion", NULL) ?: "", group, sizeof(group));
		if (strcmp(group, o->group))
			continue;
		if (ns && o->namespace ? !strcmp(ns, o->namespace) : !ns || !o->namespace)
			return it;
	}
	return NULL;
}

/* Whether namespace @ns is one a kubectl delete took away (in @gone, a list of names). */
static bool ns_gone(const cJSON *gone, const char *ns)
{
	const cJSON *g;

	cJSON_ArrayForEach(g, gone)
	{
		if (ns && cJSON_IsString(g) && !strcmp(g->valuestring, ns))
			return true;
	}
	return false;
}

/* Tells the object's owner (a Warning Event on it, as the agents do) why it was not taken. */
static void reject(const struct kconn *k, const cJSON *item, const struct config_diags *d)
{
	char *json = cJSON_PrintUnformatted(item), ns[256], path[400];
	cJSON *ev =
	    json ? kevents_event(json, kjson_str(item, "apiVersion", NULL) ?: "v1",
				 kjson_str(item, "kind", NULL) ?: "", d, time(NULL), ns, sizeof(ns))
		 : NULL;

	for (size_t i = 0; i < d->n; i++) {
		char line[1024];

		config_diag_format(&d->items[i], line, sizeof(line));
		fprintf(stderr, "ambitctl: kube-controller: not imported: %s\n", line);
	}
	if (ev && !str_fmt(path, sizeof(path), "/api/v1/namespaces/%s/events", ns))
		kube_call(k, "POST", path, ev, NULL); /* a 409: told before */
	cJSON_Delete(ev);
	free(json);
}

/*
 * The objects refused so far, "kind/ns/name" -> resourceVersion: a refused version is judged
 * (and told) once, not on every pass the server's other writes cause.
 */
static cJSON *refused;

static bool refused_before(const cJSON *it, char *key, size_t len)
{
	const char *rv = kjson_str(it, "metadata", "resourceVersion");
	const char *had;

	snprintf(key, len, "%s/%s/%s", kjson_str(it, "kind", NULL) ?: "",
		 kjson_str(it, "metadata", "namespace") ?: "",
		 kjson_str(it, "metadata", "name") ?: "");
	had = kjson_str(refused, key, NULL);
	return had && rv && !strcmp(had, rv);
}

static void refused_add(const cJSON *it, const char *key)
{
	const char *rv = kjson_str(it, "metadata", "resourceVersion");

	if (!refused)
		refused = cJSON_CreateObject();
	if (!refused || !rv)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(refused, key);
	cJSON_AddStringToObject(refused, key, rv);
}

/* Imports server item @it into the store @state (@cur: what it holds). 1 if written. */
static int import_one(const struct kconn *k, const char *state, const struct store_objs *cur,
		      const cJSON *it)
{
	struct config_diags diags = {0};
	struct store_obj o = {0};
	struct store_obj *had;
	struct config check;
	char group[256], key[800], *text = NULL;
	bool same, nerr = false;
	cJSON *imp, *prev = NULL;
	int ret = 0;

	if (refused_before(it, key, sizeof(key)))
		return 0;
	imp = kmirror_import(it, &same);
	if (!imp)
		return -errno;
	if (same)
		goto out;
	o.group =
	    (char *)config_api_group(kjson_str(it, "apiVersion", NULL) ?: "", group, sizeof(group));
	o.kind = (char *)kjson_str(it, "kind", NULL);
	o.namespace = (char *)kjson_str(it, "metadata", "namespace");
	o.name = (char *)kjson_str(it, "metadata", "name");
	if (!o.kind || !o.name || store_obj_path(state, &o))
		goto out; /* no place in the store: not the store's */
	had = store_objs_find(cur, &o, 0);
	if (had) {
		char err[256];

		prev = kmirror_from_yaml(had->yaml, o.namespace, err, sizeof(err));
		/* The store has it so already (a server's own addition aside). */
		if (prev && cJSON_Compare(prev, imp, true))
			goto out;
		if (strcmp(had->file, o.path)) {
			fprintf(stderr,
				"ambitctl: kube-controller: %s/%s is defined in %s, not "
				"imported over it\n",
				o.kind, o.name, had->file);
			goto out;
		}
	}
	text = cJSON_PrintUnformatted(imp);
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	/* Judged as a file applied with ambitctl: an object the agents would refuse stays out. */
	config_init(&check);
	ret = config_load_buffer(&check, o.path, text, strlen(text), &diags);
	config_free(&check);
	for (size_t i = 0; i < diags.n; i++)
		nerr |= diags.items[i].error;
	if (ret || nerr) {
		reject(k, it, &diags);
		refused_add(it, key);
		ret = 0;
		goto out;
	}
	o.yaml = text;
	ret = store_write(&o);
	if (!ret) {
		printf("kube-controller: %s %s%s%s imported\n", o.kind, o.namespace ?: "",
		       o.namespace ? "/" : "", o.name);
		ret = 1;
	}
out:
	config_diags_free(&diags);
	free(o.path);
	free(text);
	cJSON_Delete(prev);
	cJSON_Delete(imp);
	return ret;
}

/*
 * Namespace cleanup, as the namespace controller does: what is left in the API of namespaces
 * in @gone that the mirror will not delete itself (not its own).
 */
static void cascade(const struct kconn *k, const cJSON *items, const cJSON *gone)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, items)
	{
		char coll[512], path[1024];
		const char *name;

		if (!ns_gone(gone, kjson_str(it, "metadata", "namespace")) ||
		    kjson_str(cJSON_GetObjectItemCaseSensitive(
				  cJSON_GetObjectItemCaseSensitive(it, "metadata"), "labels"),
			      KMIRROR_LABEL, NULL) ||
		    kube_paths(it, coll, sizeof(coll), &name) ||
		    str_fmt(path, sizeof(path), "%s/%s", coll, name))
			continue;
		kube_call(k, "DELETE", path, NULL, NULL);
	}
}

int kube_import(const struct ctl_cluster *c, bool *changed)
{
	struct store_objs cur = {0};
	struct config_diags ignored = {0};
	struct kconn k = {0};
	char state[PATH_MAX], dirty[PATH_MAX];
	bool listed[128] = {0};
	cJSON *items = cJSON_CreateArray(), *gone = cJSON_CreateArray();
	const cJSON *it;
	uint64_t list_rv = 0;
	int lock, ret, saved = -1, n = 0;

	*changed = false;
	saw_take(NULL, 0, false);
	if (!c->kube)
		return 0;
	if (!items || !gone) {
		cJSON_Delete(items);
		cJSON_Delete(gone);
		return -ENOMEM;
	}
	cluster_path(c, state, sizeof(state), "state");
	cluster_path(c, dirty, sizeof(dirty), "kube/mirror.dirty");
	lock = store_lock(state);
	if (lock < 0) {
		ret = lock;
		goto out;
	}
	store_load(state, &cur, &ignored);
	ret = cluster_kube_enter(c, &k, &saved);
	if (ret)
		goto out;
	ret = list_imported(&k, items, listed, &list_rv);
	saw_take(items, list_rv, !ret);
	/*
	 * Deletions only when the last mirror went through: then all of the store is in the API,
	 * and what the API lacks, someone deleted there.
	 */
	for (size_t i = 0; !ret && access(dirty, F_OK) < 0 && i < cur.n; i++) {
		struct store_obj *o = &cur.items[i];
		int at = kind_index(o->group, o->kind);

		if (at < 0 || at >= 128 || !listed[at] || api_find(items, o) ||
		    (o->namespace && !strcmp(o->namespace, CTL_KUBE_NS)))
			continue;
		if (!*o->group && !strcmp(o->kind, "Namespace"))
			cJSON_AddItemToArray(gone, cJSON_CreateString(o->name));
	}
	for (size_t i = 0; !ret && access(dirty, F_OK) < 0 && i < cur.n; i++) {
		struct store_obj *o = &cur.items[i];
		int at = kind_index(o->group, o->kind);
		bool in_gone = ns_gone(gone, o->namespace);

		if (!in_gone && (at < 0 || at >= 128 || !listed[at] || api_find(items, o) ||
				 (o->namespace && !strcmp(o->namespace, CTL_KUBE_NS))))
			continue;
		if (store_obj_path(state, o) || !store_obj_canonical(o))
			continue; /* a hand-placed file is its author's to remove */
		if (!store_remove(state, o)) {
			printf("kube-controller: %s %s%s%s deleted\n", o->kind, o->namespace ?: "",
			       o->namespace ? "/" : "", o->name);
			n++;
		}
	}
	if (!ret && cJSON_GetArraySize(gone))
		cascade(&k, items, gone);
	cJSON_ArrayForEach(it, items)
	{
		const char *ns = kjson_str(it, "metadata", "namespace");
		int r;

		if (ret || ambit_own(it) || ns_gone(gone, ns))
			continue;
		r = import_one(&k, state, &cur, it);
		if (r < 0)
			ret = r;
		n += r > 0;
	}
	cluster_kube_leave(&k, saved);
	if (!ret && n) {
		*changed = true;
		if (!store_generation_bump(state))
			ret = -errno;
	}
out:
	if (ret)
		fprintf(stderr, "ambitctl: kube-controller: following the API server: %s\n",
			strerror(-ret));
	store_unlock(lock);
	store_objs_free(&cur);
	config_diags_free(&ignored);
	cJSON_Delete(items);
	cJSON_Delete(gone);
	return ret;
}

static volatile sig_atomic_t kctl_quit;

static void kctl_on_signal(int sig)
{
	kctl_quit = 1;
}

int local_kube_controller(const struct ctl_opts *o, int (*status_sync)(const struct ctl_cluster *))
{
	struct ctl_cluster c;
	uint64_t seen = 0;
	char dirty[PATH_MAX], pidf[PATH_MAX], txt[32];
	int ret = cluster_load(&c, o->cluster);

	if (ret) {
		fprintf(stderr, "ambitctl: cluster %s is not up\n", o->cluster);
		return ret;
	}
	if (!c.kube) {
		fprintf(stderr, "ambitctl: cluster %s has no API server (local up --kube)\n",
			c.name);
		return -EINVAL;
	}
	signal(SIGTERM, kctl_on_signal);
	signal(SIGINT, kctl_on_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	cluster_path(&c, dirty, sizeof(dirty), "kube/mirror.dirty");
	cluster_path(&c, pidf, sizeof(pidf), "kube/controller.pid");
	snprintf(txt, sizeof(txt), "%d\n", getpid());
	if (write_file_atomic(pidf, txt))
		fprintf(stderr, "ambitctl: kube-controller: %s: cannot write\n", pidf);
	printf("kube-controller: following the API server of cluster %s\n", c.name);
	for (unsigned int tick = 1; !kctl_quit; tick++) {
		uint64_t rv = 0;
		bool changed = false;
		int lock;

		usleep(KCTL_POLL_MS * 1000);
		/*
		 * The status controllers write (a waypoint is Programmed once it serves, which
		 * moves nothing in the API server), said again every few polls; and ambit's own
		 * workloads' status, as the DaemonSet and Deployment controllers follow their pods'
		 * readiness.
		 */
		if (!(tick % KCTL_STATUS_POLLS)) {
			status_sync(&c);
			kube_workloads_status(&c);
		}
		/* Every write moves it: nothing moved, nothing to follow (a failed mirror aside).
		 */
		if (kube_resource_version(&c, &rv) || (rv == seen && access(dirty, F_OK) < 0))
			continue;
		lock = kube_reconcile_lock(&c);
		if (lock < 0)
			continue;
		ret = kube_import(&c, &changed);
		if (!ret && (changed || access(dirty, F_OK) == 0))
			ret = state_reconcile(&c);
		store_unlock(lock);
		if (!ret)
			seen = rv;
		else
			sleep(5); /* the server or a pod failing: not a busy loop */
	}
	return 0;
}

int kube_controller_spawn(const struct ctl_cluster *c)
{
	char exe[PATH_MAX], log[PATH_MAX], cg[PATH_MAX + 32], why[512];
	char *argv[] = {exe, "local", "kube-controller", "--name", (char *)c->name, NULL};
	struct spawn_req r = {.argv = argv, .cgroup = cg, .log = log};
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int pid, ret;

	if (len < 0)
		return -errno;
	exe[len] = '\0';
	cluster_path(c, log, sizeof(log), "logs/kube-controller.log");
	/* In the control plane's cgroup: `local down` ends it with the API server. */
	str_fmt(cg, sizeof(cg), "%s/control/kube-controller", c->cg_root);
	ret = mkdir_p(cg, 0755);
	pid = ret ?: spawn_start(&r, why, sizeof(why));
	if (pid < 0) {
		fprintf(stderr, "ambitctl: kube-controller: %s\n", ret ? strerror(-ret) : why);
		return pid;
	}
	return 0;
}
