// SPDX-License-Identifier: Apache-2.0
/*
 * Editing the local cluster's state/ directory, which the agents watch: apply/delete -f and
 * `label namespace`. Input is validated with the config loader before anything is written, and
 * files are replaced atomically so an agent never reads half of one.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "ctl.h"

int state_copy_tree(const char *src, const char *dst_dir);

static bool is_manifest(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/*
 * Visits every manifest under @path (or @path itself when a file) with its flattened state/
 * name: subdirectories become "sub_file.yaml" so the agents' flat watch sees them.
 */
static int walk_manifests(const char *path, const char *prefix,
			  int (*fn)(const char *file, const char *flat, void *arg), void *arg)
{
	struct stat st;
	struct dirent **list = NULL;
	int n, ret = 0;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		const char *base = strrchr(path, '/');
		char flat[NAME_MAX + 1];

		base = base ? base + 1 : path;
		if (!is_manifest(base))
			return 0;
		if (str_fmt(flat, sizeof(flat), "%s%s", prefix, base))
			return -ENAMETOOLONG;
		return fn(path, flat, arg);
	}
	n = scandir(path, &list, NULL, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char child[PATH_MAX], sub[NAME_MAX + 1];
		const char *name = list[i]->d_name;

		if (!ret && name[0] != '.' && !str_fmt(child, sizeof(child), "%s/%s", path, name)) {
			if (stat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
				if (str_fmt(sub, sizeof(sub), "%s%s_", prefix, name))
					ret = -ENAMETOOLONG;
				else
					ret = walk_manifests(child, sub, fn, arg);
			} else if (is_manifest(name)) {
				if (str_fmt(sub, sizeof(sub), "%s%s", prefix, name))
					ret = -ENAMETOOLONG;
				else
					ret = fn(child, sub, arg);
			}
		}
		free(list[i]);
	}
	free(list);
	return ret;
}

static int copy_one(const char *file, const char *flat, void *arg)
{
	char dst[PATH_MAX];
	int ret;

	if (str_fmt(dst, sizeof(dst), "%s/%s", (const char *)arg, flat))
		return -ENAMETOOLONG;
	ret = copy_file(file, dst);
	if (ret)
		fprintf(stderr, "ambitctl: copy %s to %s: %s\n", file, dst, strerror(-ret));
	return ret;
}

static int remove_one(const char *file, const char *flat, void *arg)
{
	char dst[PATH_MAX];

	if (str_fmt(dst, sizeof(dst), "%s/%s", (const char *)arg, flat))
		return -ENAMETOOLONG;
	if (unlink(dst) < 0) {
		if (errno != ENOENT)
			return -errno;
		fprintf(stderr, "ambitctl: %s was not applied (no %s)\n", file, dst);
		return 0;
	}
	printf("deleted %s\n", flat);
	return 0;
}

int state_copy_tree(const char *src, const char *dst_dir)
{
	return walk_manifests(src, "", copy_one, (void *)dst_dir);
}

/*
 * Gives every Service of state/ a VIP (keeping the ones it has) and rewrites pods.json and the
 * pods' hosts files, so a Service applied after `up` resolves and load-balances like the rest.
 */
static int state_refresh_services(const struct ctl_cluster *c)
{
	struct ctl_plan p = {0};
	struct config cfg;
	char state[PATH_MAX], path[PATH_MAX];
	cJSON *root, *ips, *newips = NULL, *pod;
	char *text = NULL;
	int ret, next = 10;

	config_init(&cfg);
	cluster_path(c, state, sizeof(state), "state");
	root = plan_read_pods_json(c);
	if (!root) {
		ret = -errno;
		goto out;
	}
	ret = load_manifests(&cfg, state);
	if (ret)
		goto out;
	ips = cJSON_GetObjectItemCaseSensitive(root, "serviceIPs");
	newips = cJSON_CreateObject();
	ret = -ENOMEM;
	if (!newips)
		goto out;
	for (size_t i = 0; i < cfg.n_services; i++) {
		const struct config_service *s = &cfg.services[i];
		char key[512], ip[16];
		const cJSON *old;

		str_fmt(key, sizeof(key), "%s/%s", s->meta.namespace, s->meta.name);
		old = cJSON_GetObjectItemCaseSensitive(ips, key);
		if (s->cluster_ip && strcmp(s->cluster_ip, "None")) {
			str_fmt(ip, sizeof(ip), "%s", s->cluster_ip);
		} else if (cJSON_IsString(old)) {
			str_fmt(ip, sizeof(ip), "%s", old->valuestring);
		} else {
			bool taken;
			do {
				cJSON *it;
				str_fmt(ip, sizeof(ip), "10.96.%d.%d", next / 256, next % 256);
				next++;
				taken = false;
				cJSON_ArrayForEach(it, ips) taken |=
					cJSON_IsString(it) && !strcmp(it->valuestring, ip);
				cJSON_ArrayForEach(it, newips) taken |= !strcmp(it->valuestring, ip);
				for (size_t k = 0; k < cfg.n_services; k++)
					taken |= cfg.services[k].cluster_ip &&
						 !strcmp(cfg.services[k].cluster_ip, ip);
			} while (taken && next < 65535);
		}
		if (!cJSON_AddStringToObject(newips, key, ip))
			goto out;
	}
	cJSON_ReplaceItemInObjectCaseSensitive(root, "serviceIPs", newips);
	newips = NULL;
	/* A plan made of the running pods, just enough for their hosts files. */
	ips = cJSON_GetObjectItemCaseSensitive(root, "serviceIPs");
	cJSON *it;
	cJSON_ArrayForEach(it, ips) p.nservices++;
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(root, "pods")) p.npods++;
	p.services = calloc(p.nservices + 1, sizeof(*p.services));
	p.pods = calloc(p.npods + 1, sizeof(*p.pods));
	if (!p.services || !p.pods)
		goto out;
	size_t k = 0;
	cJSON_ArrayForEach(it, ips)
	{
		p.services[k].key = strdup(it->string);
		p.services[k++].ip = strdup(it->valuestring);
	}
	k = 0;
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(root, "pods"))
	{
		struct ctl_pod *cp = &p.pods[k++];
		const cJSON *ns = cJSON_GetObjectItemCaseSensitive(pod, "namespace");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(pod, "name");
		const cJSON *ip = cJSON_GetObjectItemCaseSensitive(pod, "ip");

		if (!cJSON_IsString(ns) || !cJSON_IsString(name) || !cJSON_IsString(ip)) {
			ret = -EINVAL;
			goto out;
		}
		cp->namespace = strdup(ns->valuestring);
		cp->name = strdup(name->valuestring);
		str_fmt(cp->ip_str, sizeof(cp->ip_str), "%s", ip->valuestring);
		cluster_pod_netns(c, ns->valuestring, name->valuestring, cp->netns,
				  sizeof(cp->netns));
	}
	for (size_t i = 0; i < p.nservices; i++) {
		if (!p.services[i].key || !p.services[i].ip)
			goto out;
	}
	for (size_t i = 0; i < p.npods; i++) {
		if (!p.pods[i].namespace || !p.pods[i].name)
			goto out;
	}
	ret = plan_write_hosts(&p, &cfg);
	if (ret)
		goto out;
	text = cJSON_Print(root);
	ret = -ENOMEM;
	if (!text)
		goto out;
	cluster_path(c, path, sizeof(path), "runtime/pods.json");
	ret = write_file_atomic(path, text);
out:
	free(text);
	cJSON_Delete(newips);
	cJSON_Delete(root);
	plan_free(&p);
	config_free(&cfg);
	return ret;
}

int cmd_apply(const struct ctl_opts *o, const char *path, bool delete)
{
	struct ctl_cluster c;
	struct config cfg;
	char state[PATH_MAX];
	size_t before = 0;
	int ret;

	ret = cluster_load(&c, o->cluster);
	if (ret) {
		fprintf(stderr, "ambitctl: cluster %s is not up\n", o->cluster);
		return ret;
	}
	config_init(&cfg);
	ret = load_manifests(&cfg, path);
	before = cfg.n_pods + cfg.n_deployments;
	config_free(&cfg);
	if (ret)
		return ret;
	cluster_path(&c, state, sizeof(state), "state");
	ret = walk_manifests(path, "", delete ? remove_one : copy_one, state);
	if (ret) {
		fprintf(stderr, "ambitctl: %s: %s\n", path, strerror(-ret));
		return ret;
	}
	if (!delete)
		printf("applied %s\n", path);
	if (before)
		fprintf(stderr, "ambitctl: note: pods and deployments in %s take effect at the next "
				"`local up`; running pods are not started or stopped by %s\n",
			path, delete ? "delete" : "apply");
	ret = state_refresh_services(&c);
	if (ret)
		fprintf(stderr, "ambitctl: refreshing service addresses: %s\n", strerror(-ret));
	return ret;
}

int state_label_emit(const char *file, const char *ns, const struct config_labels *labels,
		     const struct config_labels *annotations, char **out);

static int label_apply(struct config_labels *l, const char *change)
{
	const char *eq = strchr(change, '=');
	size_t klen = eq ? (size_t)(eq - change) : strlen(change);
	bool remove = !eq && klen > 1 && change[klen - 1] == '-';
	char *key, *value = NULL;

	if (remove)
		klen--;
	if (!eq && !remove) {
		fprintf(stderr, "ambitctl: label change '%s': expected key=value or key-\n", change);
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
	for (const char *v = eq ? eq + 1 : ""; *v; v++) {
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || strchr("._-", *v))) {
			fprintf(stderr, "ambitctl: label value '%s': invalid character\n", eq + 1);
			return -EINVAL;
		}
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

int cmd_label_namespace(const struct ctl_opts *o, const char *ns, char **changes, int n)
{
	struct ctl_cluster c;
	struct config cfg;
	struct config_diags diags = {0};
	struct config_namespace *found = NULL;
	char state[PATH_MAX], file[PATH_MAX];
	char *text = NULL;
	int ret;

	ret = cluster_load(&c, o->cluster);
	if (ret) {
		fprintf(stderr, "ambitctl: cluster %s is not up\n", o->cluster);
		return ret;
	}
	config_init(&cfg);
	cluster_path(&c, state, sizeof(state), "state");
	ret = load_manifests(&cfg, state);
	if (ret)
		goto out;
	for (size_t i = 0; i < cfg.n_namespaces; i++) {
		if (!strcmp(cfg.namespaces[i].meta.name, ns))
			found = &cfg.namespaces[i];
	}
	if (!found) {
		fprintf(stderr, "ambitctl: namespace %s is not in %s\n", ns, state);
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
	ret = state_label_emit(file, ns, &found->meta.labels, &found->meta.annotations, &text);
	if (ret) {
		fprintf(stderr, "ambitctl: rewriting %s: %s\n", file, strerror(-ret));
		goto out;
	}
	/* Never hand the agents a file the loader would reject. */
	struct config check;
	config_init(&check);
	ret = config_load_buffer(&check, file, text, strlen(text), &diags);
	config_free(&check);
	if (ret) {
		fprintf(stderr, "ambitctl: internal error: rewritten %s does not load\n", file);
		goto out;
	}
	ret = write_file_atomic(file, text);
	if (!ret)
		printf("namespace/%s labelled\n", ns);
out:
	free(text);
	config_diags_free(&diags);
	config_free(&cfg);
	return ret;
}
