// SPDX-License-Identifier: Apache-2.0
/* The node's CNI configuration and plugin binary (cniconf.h), written as install-cni does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "ambit/fileutil.h"
#include "cniconf.h"

/* A CNI configuration is small; anything larger is not one. */
#define CNICONF_MAX (1u << 20)
#define CNICONF_MAX_BINARY (64u << 20)

static bool has_ext(const char *name, const char *ext)
{
	size_t n = strlen(name), e = strlen(ext);

	return n > e && !strcmp(name + n - e, ext);
}

static bool cni_name(const char *name)
{
	return name[0] != '.' &&
	       (has_ext(name, ".conf") || has_ext(name, ".conflist") || has_ext(name, ".json"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @dir's CNI files, sorted by name (libcni's order). 0 with *@names (caller frees) or -errno. */
static int list_names(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL, **p;
	size_t cnt = 0;
	int err = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!cni_name(de->d_name))
			continue;
		p = realloc(v, (cnt + 1) * sizeof(*v));
		if (!p || !(p[cnt] = strdup(de->d_name))) {
			v = p ? p : v;
			err = -ENOMEM;
			break;
		}
		v = p;
		cnt++;
	}
	closedir(d);
	if (err) {
		while (cnt)
			free(v[--cnt]);
		free(v);
		return err;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_str);
	*names = v;
	*n = cnt;
	return 0;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static cJSON *read_json(const char *path)
{
	char *text = NULL;
	size_t len;
	cJSON *o;

	if (fileutil_read_file(path, CNICONF_MAX, &text, &len))
		return NULL;
	o = cJSON_ParseWithLength(text, len);
	free(text);
	if (o && !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

static bool is_conflist(const cJSON *o)
{
	return cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "plugins"));
}

static bool is_conf(const cJSON *o)
{
	return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "type"));
}

int cniconf_primary(const char *dir, char *path, size_t len)
{
	char **names, full[PATH_MAX];
	size_t n;
	int err = -ENOENT;

	if ((err = list_names(dir, &names, &n)))
		return err;
	err = -ENOENT;
	for (size_t i = 0; i < n && err == -ENOENT; i++) {
		cJSON *o;

		if (str_fmt(full, sizeof(full), "%s/%s", dir, names[i]))
			continue;
		o = read_json(full);
		if (o && (is_conflist(o) || is_conf(o)))
			err = str_fmt(path, len, "%s", full) ? -ENAMETOOLONG : 0;
		cJSON_Delete(o);
	}
	free_names(names, n);
	return err;
}

/*
 * Writes @len bytes to @path whole: a temporary file beside it, synced, then renamed over it, so
 * a reader sees the old file or the new one. 0 or -errno.
 */
static int write_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t off = 0;
	int fd, err = 0;

	if (str_fmt(tmp, sizeof(tmp), "%.*s/.ambit-cni.XXXXXX", slash ? (int)(slash - path) : 1,
		    slash ? path : "."))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	while (off < len && !err) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno != EINTR)
			err = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (!err && (fchmod(fd, mode) < 0 || fsync(fd) < 0))
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int write_json(const char *path, const cJSON *o)
{
	char *text = cJSON_Print(o);
	size_t len;
	int err;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	text[len] = '\n'; /* over the NUL, written by length */
	err = write_atomic(path, text, len + 1, 0644);
	free(text);
	return err;
}

static bool is_ours(const cJSON *plugin)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(plugin, "type");

	return cJSON_IsString(t) && !strcmp(t->valuestring, CNICONF_PLUGIN);
}

/* A lone plugin's configuration as a conflist of that one plugin (install-cni's conversion). */
static cJSON *to_conflist(cJSON *conf)
{
	cJSON *list = cJSON_CreateObject(), *plugins = cJSON_CreateArray();
	cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(conf, "cniVersion");
	cJSON *name = cJSON_DetachItemFromObjectCaseSensitive(conf, "name");

	if (!list || !plugins || !cJSON_AddItemToArray(plugins, conf)) {
		cJSON_Delete(list);
		cJSON_Delete(plugins);
		cJSON_Delete(v);
		cJSON_Delete(name);
		cJSON_Delete(conf);
		return NULL;
	}
	cJSON_AddItemToObject(list, "cniVersion", v ? v : cJSON_CreateString("1.0.0"));
	cJSON_AddItemToObject(list, "name", name ? name : cJSON_CreateString("k8s-pod-network"));
	cJSON_AddItemToObject(list, "plugins", plugins);
	return list;
}

int cniconf_insert(const char *dir, const char *entry, bool *changed)
{
	char path[PATH_MAX], out[PATH_MAX];
	cJSON *want = cJSON_Parse(entry), *conf = NULL, *plugins, *it;
	bool found = false;
	int err, i = 0;

	*changed = false;
	if (!want || !is_ours(want)) {
		err = -EINVAL;
		goto out;
	}
	if ((err = cniconf_primary(dir, path, sizeof(path))))
		goto out;
	conf = read_json(path);
	if (!conf) {
		err = -EINVAL;
		goto out;
	}
	snprintf(out, sizeof(out), "%s", path);
	if (!is_conflist(conf)) {
		conf = to_conflist(conf);
		if (!conf) {
			err = -ENOMEM;
			goto out;
		}
		/* 10-net.conf -> 10-net.conflist; x.json -> x.conflist */
		if (has_ext(path, ".json"))
			snprintf(out, sizeof(out), "%.*s.conflist", (int)(strlen(path) - 5), path);
		else if (str_fmt(out, sizeof(out), "%slist", path))
			err = -ENAMETOOLONG;
		if (err)
			goto out;
		*changed = true;
	}
	plugins = cJSON_GetObjectItemCaseSensitive(conf, "plugins");
	cJSON_ArrayForEach(it, plugins)
	{
		if (is_ours(it)) {
			found = true;
			break;
		}
		i++;
	}
	if (!found) {
		cJSON_AddItemToArray(plugins, want);
		want = NULL;
		*changed = true;
	} else if (!cJSON_Compare(it, want, true)) {
		cJSON_ReplaceItemInArray(plugins, i, want);
		want = NULL;
		*changed = true;
	}
	if (*changed)
		err = write_json(out, conf);
	/* The .conf goes once its .conflist is in place (a runtime reads one or the other). */
	if (!err && strcmp(out, path) && unlink(path) < 0 && errno != ENOENT)
		err = -errno;
out:
	cJSON_Delete(want);
	cJSON_Delete(conf);
	return err;
}

int cniconf_remove(const char *dir, bool *changed)
{
	char **names, full[PATH_MAX];
	size_t n;
	int err;

	*changed = false;
	if ((err = list_names(dir, &names, &n)))
		return err == -ENOENT ? 0 : err;
	for (size_t i = 0; i < n && !err; i++) {
		cJSON *o, *plugins;
		bool ours = false;
		int j = 0;

		if (str_fmt(full, sizeof(full), "%s/%s", dir, names[i]) || !(o = read_json(full)))
			continue;
		plugins = cJSON_GetObjectItemCaseSensitive(o, "plugins");
		while (cJSON_IsArray(plugins) && j < cJSON_GetArraySize(plugins)) {
			if (is_ours(cJSON_GetArrayItem(plugins, j))) {
				cJSON_DeleteItemFromArray(plugins, j);
				ours = true;
			} else {
				j++;
			}
		}
		if (ours) {
			err = write_json(full, o);
			*changed = true;
		}
		cJSON_Delete(o);
	}
	free_names(names, n);
	return err;
}

int cniconf_install_binary(const char *src, const char *bin_dir, bool *changed)
{
	char dst[PATH_MAX], *want = NULL, *have = NULL;
	size_t wlen, hlen;
	int err;

	*changed = false;
	if (str_fmt(dst, sizeof(dst), "%s/%s", bin_dir, CNICONF_PLUGIN))
		return -ENAMETOOLONG;
	err = fileutil_read_file(src, CNICONF_MAX_BINARY, &want, &wlen);
	if (err)
		return err;
	if (fileutil_read_file(dst, CNICONF_MAX_BINARY, &have, &hlen) || hlen != wlen ||
	    memcmp(have, want, wlen)) {
		err = write_atomic(dst, want, wlen, 0755);
		*changed = !err;
	}
	free(have);
	free(want);
	return err;
}

int cniconf_remove_binary(const char *bin_dir)
{
	char dst[PATH_MAX];

	if (str_fmt(dst, sizeof(dst), "%s/%s", bin_dir, CNICONF_PLUGIN))
		return -ENAMETOOLONG;
	return unlink(dst) < 0 && errno != ENOENT ? -errno : 0;
}
