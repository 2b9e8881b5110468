// SPDX-License-Identifier: Apache-2.0
/*
 * The local cluster following its store (state/, objstore.h): pods created and removed as the
 * objects say, and `label namespace`. Files are replaced atomically so an agent never reads
 * half of one.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "local.h"
#include "k8s/kmanifest.h"
#include "objstore.h"

static bool plan_has(const struct ctl_plan *p, const char *ns, const char *name)
{
	for (size_t i = 0; i < p->npods; i++)
		if (!strcmp(p->pods[i].namespace, ns) && !strcmp(p->pods[i].name, name))
			return true;
	return false;
}

#define RESTARTED_AT "kubectl.kubernetes.io/restartedAt"

/* The annotation @key of pods.json's pod @ns/@name in @existing, or NULL. */
static const char *existing_annotation(const cJSON *existing, const char *ns, const char *name,
				       const char *key)
{
	const cJSON *pod;

	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(existing, "pods"))
	{
		const char *pns = kjson_str(pod, "namespace", NULL),
			   *pname = kjson_str(pod, "name", NULL);

		if (pns && pname && !strcmp(pns, ns) && !strcmp(pname, name))
			return kjson_str(pod, "annotations", key);
	}
	return NULL;
}

/*
 * `kubectl rollout restart`: a running pod whose Deployment's template now carries another
 * restartedAt is left out of @p, so that this reconcile stops and removes it and the next makes
 * it anew (a Deployment's new ReplicaSet; here the same name). Whether any was.
 */
static bool drop_restarted(struct ctl_plan *p, const cJSON *existing)
{
	bool any = false;
	size_t k = 0;

	for (size_t i = 0; i < p->npods; i++) {
		struct ctl_pod *pod = &p->pods[i];
		const char *want = pod->annotations
				       ? config_label_get(pod->annotations, RESTARTED_AT)
				       : NULL,
			   *had = existing_annotation(existing, pod->namespace, pod->name,
						      RESTARTED_AT);

		if (pod->running && pod->owner && want && (!had || strcmp(want, had))) {
			printf("pod %s/%s restarted (%s %s)\n", pod->namespace, pod->name,
			       RESTARTED_AT, want);
			free(pod->namespace);
			free(pod->name);
			free(pod->owner);
			free(pod->service_account);
			any = true;
			continue;
		}
		p->pods[k++] = *pod;
	}
	p->npods = k;
	return any;
}

static int reconcile_once(const struct ctl_cluster *c, bool *again);

/*
 * Brings the running cluster to what state/ now says: pods that appeared are created and
 * started by their node's kubelet, pods that went away are stopped by it and removed, Services
 * get (or keep) their VIPs; pods.json and every pod's hosts file are rewritten (the kubelets
 * rebind it in running pods). Running pods keep their node, address and veth, but those a
 * rollout restart replaces: they go in one pass and come back in a second.
 */
/* Tries of a reconcile whose mirror met another hand's change in the API server (-EAGAIN). */
#define RECONCILE_TRIES 3

int state_reconcile(const struct ctl_cluster *c)
{
	bool again = false, imported;
	int ret;

	for (int t = 1;; t++) {
		ret = reconcile_once(c, &again);
		if (!ret && again)
			ret = reconcile_once(c, &again);
		if (ret != -EAGAIN || !c->kube || t == RECONCILE_TRIES)
			break;
		/* kubectl deleted or changed what the store held since the import: taken in. */
		ret = kube_import(c, &imported);
		if (ret)
			break;
	}
	if (ret == -EAGAIN)
		fprintf(stderr,
			"ambitctl: kube: the API server kept changing under the mirror "
			"(%d tries); the controller takes it in next\n",
			RECONCILE_TRIES);
	return ret;
}

static int reconcile_once(const struct ctl_cluster *c, bool *again)
{
	struct ctl_plan p = {0};
	struct config cfg;
	char state[PATH_MAX];
	cJSON *existing, *pod;
	int ret, sync_err = 0;
	bool fresh = false; /* --kube: a pod its kubelet starts now */

	config_init(&cfg);
	cluster_path(c, state, sizeof(state), "state");
	existing = plan_read_pods_json(c);
	if (!existing) {
		ret = -errno;
		fprintf(stderr, "ambitctl: reading pods.json: %s\n", strerror(-ret));
		goto out;
	}
	/* The Services of class istio Gateways first, as their controller makes them. */
	ret = gwdeploy_sync(state);
	/* Validated when it was written: its warnings were told then, not on every apply. */
	ret = ret ? ret : load_state_quiet(&cfg, state);
	if (!ret)
		ret = plan_build(&p, c, &cfg, existing);
	if (!ret)
		*again = drop_restarted(&p, existing);
	/*
	 * --kube: the API server before anything runs, as a cluster's controllers and scheduler
	 * come before its kubelets. The UIDs it gives name the cgroups of the pods made below and
	 * of pods.json, where the agents look for them.
	 */
	for (size_t i = 0; !ret && c->kube && i < p.npods; i++)
		p.pods[i].started = p.pods[i].running;
	if (!ret && c->kube)
		ret = kube_mirror(c, &p, state);
	if (ret)
		goto out;
	ret = plan_write_hosts(c, &p, &cfg);
	if (!ret)
		ret = plan_write_pods_json(&p, c);
	/* The LoadBalancer addresses follow their Services and pods (the fabric's balancer). */
	if (!ret)
		ret = lbnet_sync(c, &p, &cfg);
	/* Each kubelet runs what pods.json now gives its node: it makes the new pods' sandboxes
	 * (netns, CNI) and starts them, and lets go of the removed ones (CNI DEL), so none is
	 * restarted while it is torn down below. */
	for (int i = 0; !ret && i < c->nnodes; i++) {
		int r = kubelet_sync(&c->nodes[i], !c->quiet);

		if (r && !sync_err)
			sync_err = r;
	}
	/* --kube: the kubelets report the new pods Running, with their IPs (none new: no call). */
	for (size_t i = 0; !ret && c->kube && i < p.npods; i++) {
		fresh |= !p.pods[i].started;
		p.pods[i].started = true;
	}
	if (!ret && fresh)
		ret = kube_mirror(c, &p, state);
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(existing, "pods"))
	{
		const cJSON *ns = cJSON_GetObjectItemCaseSensitive(pod, "namespace");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(pod, "name");
		const cJSON *cg = cJSON_GetObjectItemCaseSensitive(pod, "cgroup");
		const char *node =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pod, "node"));

		if (ret || !cJSON_IsString(ns) || !cJSON_IsString(name) ||
		    plan_has(&p, ns->valuestring, name->valuestring))
			continue;
		int r = pod_remove(c, node, ns->valuestring, name->valuestring,
				   cJSON_IsString(cg) ? cg->valuestring : NULL);
		if (r)
			fprintf(stderr, "pod %s/%s could not be removed completely\n",
				ns->valuestring, name->valuestring);
		else if (!c->quiet)
			printf("pod %s/%s removed\n", ns->valuestring, name->valuestring);
	}
	if (!ret)
		ret = sync_err;
out:
	cJSON_Delete(existing);
	plan_free(&p);
	config_free(&cfg);
	return ret;
}

static int label_apply(struct config_labels *l, const char *change)
{
	const char *eq = strchr(change, '=');
	size_t klen = eq ? (size_t)(eq - change) : strlen(change);
	bool remove = !eq && klen > 1 && change[klen - 1] == '-';
	char *key, *value = NULL;

	if (remove)
		klen--;
	if (!eq && !remove) {
		fprintf(stderr, "ambitctl: label change '%s': expected key=value or key-\n",
			change);
		return -EINVAL;
	}
	if (klen == 0 || klen > 316) {
		fprintf(stderr, "ambitctl: label change '%s': bad key\n", change);
		return -EINVAL;
	}
	for (size_t i = 0; i < klen; i++) {
		char ch = change[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr("._/-", ch))) {
			fprintf(stderr, "ambitctl: label key '%.*s': invalid character\n",
				(int)klen, change);
			return -EINVAL;
		}
	}
	/* As the API server validates one (the agents ignore a network label that is none). */
	if (eq && !config_label_value_ok(eq + 1)) {
		fprintf(stderr,
			"ambitctl: label value '%s': a valid label must be an empty string or "
			"consist of alphanumeric characters, '-', '_' or '.', and must start and "
			"end with an alphanumeric character (at most 63)\n",
			eq + 1);
		return -EINVAL;
	}
	key = strndup(change, klen);
	if (!key)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i].key, key))
			continue;
		free(key);
		if (remove) {
			free(l->items[i].key);
			free(l->items[i].value);
			memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof(*l->items));
			l->n--;
			return 0;
		}
		value = strdup(eq + 1);
		if (!value)
			return -ENOMEM;
		free(l->items[i].value);
		l->items[i].value = value;
		return 0;
	}
	if (remove) {
		free(key);
		return 0;
	}
	struct config_label *grown = realloc(l->items, (l->n + 1) * sizeof(*grown));
	value = strdup(eq + 1);
	if (!grown || !value) {
		if (grown)
			l->items = grown;
		free(key);
		free(value);
		return -ENOMEM;
	}
	l->items = grown;
	l->items[l->n].key = key;
	l->items[l->n++].value = value;
	return 0;
}

int cmd_label_namespace(const struct ctl_opts *o, const char *ns, char **changes, int n,
			int timeout_s)
{
	struct ctl_cluster c;
	struct config cfg;
	struct config_diags diags = {0};
	struct config_namespace *found = NULL;
	char state[PATH_MAX], file[PATH_MAX];
	char *text = NULL;
	uint64_t gen = 0;
	int ret, rlock;
	bool imported;

	ret = cluster_load(&c, o->cluster);
	if (ret) {
		cluster_tell_not_up(o->cluster);
		return ret;
	}
	c.quiet = o->quiet;
	config_init(&cfg);
	/* --kube: a namespace kubectl made or labelled is in the store first (kimport.c). */
	rlock = kube_reconcile_lock(&c);
	if (c.kube && rlock < 0) {
		ret = rlock;
		goto out;
	}
	if (c.kube)
		kube_import(&c, &imported);
	cluster_path(&c, state, sizeof(state), "state");
	ret = load_state_quiet(&cfg, state);
	if (ret)
		goto out;
	for (size_t i = 0; i < cfg.n_namespaces; i++) {
		if (!strcmp(cfg.namespaces[i].meta.name, ns))
			found = &cfg.namespaces[i];
	}
	if (!found) {
		tell_ns_not_found(ns);
		ret = -ENOENT;
		goto out;
	}
	for (int i = 0; i < n && !ret; i++)
		ret = label_apply(&found->meta.labels, changes[i]);
	if (ret)
		goto out;
	if (found->meta.origin.file[0] == '/')
		str_fmt(file, sizeof(file), "%s", found->meta.origin.file);
	else if (realpath(found->meta.origin.file, file) == NULL) {
		ret = -errno;
		goto out;
	}
	ret = config_emit_ns_labels(file, ns, &found->meta.labels, &found->meta.annotations, &text);
	if (ret) {
		fprintf(stderr, "ambitctl: rewriting %s: %s\n", file, strerror(-ret));
		goto out;
	}
	/* Never hand the agents a file the loader would reject. */
	struct config check;
	struct config_analyze_opts an = {.context = &cfg};
	config_init(&check);
	ret = config_load_buffer(&check, file, text, strlen(text), &diags);
	if (ret) {
		config_free(&check);
		fprintf(stderr, "ambitctl: internal error: rewritten %s does not load\n", file);
		goto out;
	}
	ret = write_file_atomic(file, text);
	if (!ret && !(gen = store_generation_bump(state)))
		ret = -errno;
	/* --kube: the agents see the namespace as the API server holds it. */
	if (!ret && c.kube)
		ret = state_reconcile(&c);
	store_unlock(rlock);
	rlock = -1;
	if (!ret && !o->quiet)
		printf("namespace/%s labelled\n", ns);
	/*
	 * As apply: returned once every node's agent, ztunnel and running waypoint has the labels
	 * in force, so that a waypoint said Programmed after it serves the Services they bind
	 * (else the ztunnels may send it requests for a Service it does not know yet: 404 NR).
	 */
	if (!ret && timeout_s && c.kube)
		ret = kube_resource_version(&c, &gen);
	if (!ret && timeout_s)
		ret = wait_generation(&c, gen, timeout_s, o->quiet);
	/* What the labels mean here (istio-injection does nothing in an ambient-only mesh). */
	if (!ret && !config_analyze(&check, &an, &diags)) {
		for (size_t i = 0; i < diags.n; i++) {
			char line[2048];

			config_diag_format(&diags.items[i], line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
	}
	config_free(&check);
out:
	store_unlock(rlock);
	free(text);
	config_diags_free(&diags);
	config_free(&cfg);
	return ret;
}

int state_ns_label(const struct ctl_cluster *c, const char *ns, const char *key, const char *value)
{
	struct config_namespace *found = NULL;
	struct config cfg;
	char state[PATH_MAX], path[PATH_MAX], change[512];
	char *text = NULL;
	int ret;

	config_init(&cfg);
	cluster_path(c, state, sizeof(state), "state");
	ret = load_state_quiet(&cfg, state);
	for (size_t i = 0; !ret && i < cfg.n_namespaces; i++)
		if (!strcmp(cfg.namespaces[i].meta.name, ns))
			found = &cfg.namespaces[i];
	if (!ret && found) {
		const char *have = config_label_get(&found->meta.labels, key);

		if (have && !strcmp(have, value))
			goto out;
		ret = str_fmt(change, sizeof(change), "%s=%s", key, value);
		ret = ret ?: label_apply(&found->meta.labels, change);
		ret = ret
			  ?: config_emit_ns_labels(found->meta.origin.file, ns, &found->meta.labels,
						   &found->meta.annotations, &text);
		if (ret)
			fprintf(stderr, "ambitctl: labelling namespace %s (%s): %s\n", ns,
				found->meta.origin.file, strerror(-ret));
	} else if (!ret) {
		/* Label values need no escaping: quoted, one like "true" stays a string. */
		if (asprintf(&text,
			     "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n"
			     "    %s: \"%s\"\n",
			     ns, key, value) < 0) {
			text = NULL;
			ret = -ENOMEM;
		}
	}
	/* Through apply's own write: validated, under the store's lock, the generation bumped. */
	ret = ret ?: cluster_path(c, path, sizeof(path), "namespace-%s.yaml", ns);
	ret = ret ?: write_file_atomic(path, text);
	if (!ret) {
		ret = apply_store_path(c, path, true);
		unlink(path);
	}
out:
	free(text);
	config_free(&cfg);
	return ret;
}
