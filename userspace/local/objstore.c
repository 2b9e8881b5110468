// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local.h"
#include "objstore.h"

int store_objs_collect(void *arg, const struct config_object *o)
{
	struct store_objs *s = arg;
	struct store_obj *items = realloc(s->items, (s->n + 1) * sizeof(*items)), *it;
	char group[256];

	if (!items)
		return -ENOMEM;
	s->items = items;
	it = &items[s->n];
	memset(it, 0, sizeof(*it));
	it->group = strdup(config_api_group(o->api_version, group, sizeof(group)));
	it->api_version = strdup(o->api_version ?: "");
	it->kind = strdup(o->kind);
	it->namespace = o->namespace ? strdup(o->namespace) : NULL;
	it->name = strdup(o->name);
	it->yaml = strdup(o->yaml);
	it->file = strdup(o->file);
	it->line = o->line;
	s->n++;
	if (!it->group || !it->api_version || !it->kind || (o->namespace && !it->namespace) ||
	    !it->name || !it->yaml || !it->file)
		return -ENOMEM;
	return 0;
}

void store_objs_free(struct store_objs *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct store_obj *o = &s->items[i];

		free(o->group);
		free(o->api_version);
		free(o->kind);
		free(o->namespace);
		free(o->name);
		free(o->yaml);
		free(o->file);
		free(o->path);
	}
	free(s->items);
	s->items = NULL;
	s->n = 0;
}

static bool same_identity(const struct store_obj *a, const struct store_obj *b)
{
	return !strcmp(a->group, b->group) && !strcmp(a->kind, b->kind) &&
	       !strcmp(a->name, b->name) &&
	       (a->namespace && b->namespace ? !strcmp(a->namespace, b->namespace)
					     : a->namespace == b->namespace);
}

struct store_obj *store_objs_find(const struct store_objs *s, const struct store_obj *o,
				  size_t from)
{
	for (size_t i = from; i < s->n; i++)
		if (same_identity(&s->items[i], o))
			return &s->items[i];
	return NULL;
}

struct load_one {
	struct store_objs *out;
	struct config_diags *diags;
};

static int load_one(const char *path, void *arg)
{
	struct load_one *l = arg;
	struct config_load_opts opts = {.on_object = store_objs_collect, .arg = l->out};
	struct config cfg;
	int err;

	config_init(&cfg);
	err = config_load_file_opts(&cfg, path, &opts, l->diags);
	config_free(&cfg);
	/* A file that does not load is not the store's error: it just holds no object here. */
	return err == -ENOMEM ? err : 0;
}

int store_load(const char *state, struct store_objs *out, struct config_diags *diags)
{
	struct load_one l = {out, diags};

	return config_walk_dir(state, load_one, &l, diags);
}

int store_obj_path(const char *state, struct store_obj *o)
{
	char path[PATH_MAX];
	int err =
	    config_object_path(state, o->group, o->kind, o->namespace, o->name, path, sizeof(path));

	if (err)
		return err;
	free(o->path);
	o->path = strdup(path);
	return o->path ? 0 : -ENOMEM;
}

void store_obj_display(const struct store_obj *o, char *buf, size_t len)
{
	size_t n = 0;

	for (const char *k = o->kind; *k && n + 1 < len; k++)
		buf[n++] = (char)tolower((unsigned char)*k);
	snprintf(buf + n, len - n, "%s%s/%s", *o->group ? "." : "", o->group, o->name);
}

bool store_obj_canonical(const struct store_obj *o)
{
	return o->path && o->file && !strcmp(o->path, o->file);
}

int store_flock(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int err = -errno;

			close(fd);
			return err;
		}
	}
	return fd;
}

int store_lock(const char *state)
{
	char path[PATH_MAX];

	if (str_fmt(path, sizeof(path), "%s/.lock", state))
		return -ENAMETOOLONG;
	return store_flock(path);
}

void store_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* @file's companion: .<base>.meta in its directory, a dotfile no load reads. */
static int meta_path(const char *file, char *buf, size_t len)
{
	const char *slash = strrchr(file, '/');
	int dir = slash ? (int)(slash - file + 1) : 0;

	return str_fmt(buf, len, "%.*s.%s.meta", dir, file, file + dir);
}

void store_timestamp(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Records when the object at @file was created, and a UID for it, unless they are recorded:
 * a replaced object keeps both, as the API server keeps them across an update.
 */
static int meta_create(const char *file)
{
	char path[PATH_MAX], ts[32], text[160];
	uint8_t r[16];

	if (meta_path(file, path, sizeof(path)))
		return -ENAMETOOLONG;
	if (!access(path, F_OK))
		return 0;
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return -errno;
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* a version 4 UUID, as the API server's */
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	store_timestamp(time(NULL), ts, sizeof(ts));
	snprintf(
	    text, sizeof(text),
	    "{\"creationTimestamp\":\"%s\",\"uid\":\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x\"}\n",
	    ts, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
	    r[13], r[14], r[15]);
	return write_file_atomic(path, text);
}

void store_meta_read(const struct store_obj *o, struct store_meta *m)
{
	const char *file = o->path ? o->path : o->file;
	char path[PATH_MAX], *text = NULL;
	cJSON *j = NULL;
	struct stat st;
	const char *ts, *uid;

	memset(m, 0, sizeof(*m));
	if (file && !meta_path(file, path, sizeof(path)) && (text = read_file(path, NULL)))
		j = cJSON_Parse(text);
	ts = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "creationTimestamp"));
	uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "uid"));
	if (ts && strlen(ts) < sizeof(m->created))
		strcpy(m->created, ts);
	else if (file && !stat(file, &st)) /* placed by hand: when it was last written */
		store_timestamp(st.st_mtime, m->created, sizeof(m->created));
	if (uid && strlen(uid) < sizeof(m->uid))
		strcpy(m->uid, uid);
	cJSON_Delete(j);
	free(text);
}

int store_write(const struct store_obj *o)
{
	char dir[PATH_MAX], *slash;
	int err;

	if (str_fmt(dir, sizeof(dir), "%s", o->path))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		err = mkdir_p(dir, 0755);
		if (err)
			return err;
	}
	err = write_file_atomic(o->path, o->yaml);
	return err ? err : meta_create(o->path);
}

int store_remove(const char *state, const struct store_obj *o)
{
	char dir[PATH_MAX], *slash;
	size_t root = strlen(state);

	if (unlink(o->path) < 0 && errno != ENOENT)
		return -errno;
	if (!meta_path(o->path, dir, sizeof(dir)))
		unlink(dir);
	if (str_fmt(dir, sizeof(dir), "%s", o->path))
		return 0;
	/* Empty kind and namespace directories go too; rmdir stops at the first non-empty one. */
	while ((slash = strrchr(dir, '/')) && (size_t)(slash - dir) > root) {
		*slash = '\0';
		if (rmdir(dir) < 0)
			break;
	}
	return 0;
}

static int generation_path(const char *state, char *buf, size_t len)
{
	return str_fmt(buf, len, "%s/generation", state);
}

uint64_t store_generation(const char *state)
{
	char path[PATH_MAX], *text;
	uint64_t g = 0;

	if (generation_path(state, path, sizeof(path)))
		return 0;
	text = read_file(path, NULL);
	if (text && sscanf(text, "%" SCNu64, &g) != 1)
		g = 0;
	free(text);
	return g;
}

uint64_t store_generation_bump(const char *state)
{
	char path[PATH_MAX], text[32];
	uint64_t g = store_generation(state) + 1;
	int err;

	if (generation_path(state, path, sizeof(path))) {
		errno = ENAMETOOLONG;
		return 0;
	}
	snprintf(text, sizeof(text), "%" PRIu64 "\n", g);
	err = write_file_atomic(path, text);
	if (err) {
		errno = -err;
		return 0;
	}
	return g;
}
