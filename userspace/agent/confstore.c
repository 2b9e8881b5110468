// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "ambit/log.h"
#include "confstore.h"
#include "config/runtime.h"

/* Bounds against a hostile or runaway tree (symlink loops are not followed anyway). */
#define CONFSTORE_MAX_DEPTH 16
#define CONFSTORE_MAX_FILES 65536

struct scan {
	size_t n_paths, cap_paths, n_dirs, cap_dirs;
	char **paths;
	char **dirs;
};

static int push(char ***arr, size_t *n, size_t *cap, char *s)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **p = realloc(*arr, ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = s;
	return 0;
}

static bool is_yaml(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int scan_dir(struct scan *sc, const char *dir, int depth)
{
	struct dirent **ents = NULL;
	char *copy;
	int n, err = 0;

	copy = strdup(dir);
	if (!copy || push(&sc->dirs, &sc->n_dirs, &sc->cap_dirs, copy)) {
		free(copy);
		return -ENOMEM;
	}
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct dirent *de = ents[i];
		struct stat st;
		char *path;

		/* Editors' and atomic writers' temporaries start with a dot: never half files. */
		if (err || de->d_name[0] == '.')
			goto next;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			err = -ENOMEM;
			goto next;
		}
		if (lstat(path, &st) < 0) {
			free(path);
			goto next;
		}
		if (S_ISDIR(st.st_mode) && depth < CONFSTORE_MAX_DEPTH) {
			err = scan_dir(sc, path, depth + 1);
			free(path);
		} else if (S_ISREG(st.st_mode) && is_yaml(de->d_name) &&
			   sc->n_paths < CONFSTORE_MAX_FILES) {
			if (push(&sc->paths, &sc->n_paths, &sc->cap_paths, path)) {
				free(path);
				err = -ENOMEM;
			}
		} else {
			free(path);
		}
	next:
		free(de);
	}
	free(ents);
	/* A subdirectory vanishing mid-scan is a normal race, not an error. */
	return err == -ENOENT && depth ? 0 : err;
}

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->n_paths; i++)
		free(sc->paths[i]);
	for (size_t i = 0; i < sc->n_dirs; i++)
		free(sc->dirs[i]);
	free(sc->paths);
	free(sc->dirs);
}

static void file_free(struct confstore_file *f)
{
	free(f->path);
	config_free(&f->good);
	config_diags_free(&f->errors);
	memset(f, 0, sizeof(*f));
}

#define CONFSTORE_SLOT_GONE UINT32_MAX

static void index_drop(struct confstore *cs)
{
	free(cs->slots);
	cs->slots = NULL;
	cs->slots_cap = cs->slots_used = 0;
}

static size_t index_start(const struct confstore *cs, const char *path)
{
	uint64_t h = XXH3_64bits(path, strlen(path));

	return (size_t)(h ^ (h >> 32)) & (cs->slots_cap - 1);
}

/* Position @i of cs->files (whose name is not in the index yet) into it. */
static void index_insert(struct confstore *cs, size_t i)
{
	size_t s = index_start(cs, cs->files[i].path);

	while (cs->slots[s] && cs->slots[s] != CONFSTORE_SLOT_GONE)
		s = (s + 1) & (cs->slots_cap - 1);
	if (!cs->slots[s])
		cs->slots_used++;
	cs->slots[s] = (uint32_t)i + 1;
}

static int index_build(struct confstore *cs)
{
	size_t cap = 64;

	index_drop(cs);
	while (cap < (cs->n_files + 1) * 2)
		cap *= 2;
	if (cs->n_files >= CONFSTORE_SLOT_GONE - 1 || !(cs->slots = calloc(cap, sizeof(uint32_t))))
		return -ENOMEM;
	cs->slots_cap = cap;
	for (size_t i = 0; i < cs->n_files; i++)
		if (cs->files[i].path)
			index_insert(cs, i);
	return 0;
}

/* The slot holding entry @path, or NULL. */
static uint32_t *index_slot(struct confstore *cs, const char *path)
{
	for (size_t s = index_start(cs, path); cs->slots[s]; s = (s + 1) & (cs->slots_cap - 1)) {
		uint32_t v = cs->slots[s];

		/* Entries already moved to a reload's new array have no path. */
		if (v != CONFSTORE_SLOT_GONE && cs->files[v - 1].path &&
		    strcmp(cs->files[v - 1].path, path) == 0)
			return &cs->slots[s];
	}
	return NULL;
}

static struct confstore_file *find(struct confstore *cs, const char *path)
{
	uint32_t *slot;

	if (!cs->slots && index_build(cs)) {
		/* No memory for the index: a scan finds it too. */
		for (size_t i = 0; i < cs->n_files; i++)
			if (cs->files[i].path && strcmp(cs->files[i].path, path) == 0)
				return &cs->files[i];
		return NULL;
	}
	slot = index_slot(cs, path);
	return slot ? &cs->files[*slot - 1] : NULL;
}

static void log_diags(const struct config_diags *d)
{
	char line[1024];

	for (size_t i = 0; i < d->n; i++) {
		config_diag_format(&d->items[i], line, sizeof(line));
		if (d->items[i].error)
			pr_err("%s", line);
		else
			pr_warn("%s", line);
	}
}

/* An unreadable file gets a diagnostic too, so status shows why its objects are stale. */
static void diag_add(struct config_diags *d, const char *file, const char *msg)
{
	struct config_diag *items = realloc(d->items, (d->n + 1) * sizeof(*items));

	if (!items)
		return;
	d->items = items;
	memset(&items[d->n], 0, sizeof(items[d->n]));
	items[d->n].file = strdup(file);
	items[d->n].message = strdup(msg);
	items[d->n].error = true;
	if (items[d->n].file && items[d->n].message)
		d->n++;
	else
		free(items[d->n].file), free(items[d->n].message);
}

/* The cache file of @path: the whole path escaped into one name ('%' and '/' as %25, %2F). */
static char *cache_path(const char *cache_dir, const char *path)
{
	size_t n = strlen(cache_dir) + 1 + 3 * strlen(path) + sizeof(".last");
	char *out = malloc(n), *p;

	if (!out)
		return NULL;
	p = out + sprintf(out, "%s/", cache_dir);
	for (; *path; path++) {
		if (*path == '/' || *path == '%')
			p += sprintf(p, "%%%02X", (unsigned char)*path);
		else
			*p++ = *path;
	}
	/* Not *.yaml: a cache placed under the state directory must never be loaded as config. */
	strcpy(p, ".last");
	return out;
}

/* Best effort: losing the cache only loses restart protection for that file. */
static void cache_store(const char *cache_dir, const char *path, const char *buf, size_t len)
{
	char *cp = cache_dir ? cache_path(cache_dir, path) : NULL;
	char *tmp = NULL;
	FILE *f;

	if (!cp || asprintf(&tmp, "%s.tmp", cp) < 0) {
		free(cp);
		return;
	}
	mkdir(cache_dir, 0700);
	f = fopen(tmp, "we");
	if (f && fwrite(buf, 1, len, f) == len && fclose(f) == 0) {
		if (rename(tmp, cp) < 0)
			unlink(tmp);
	} else {
		if (f)
			fclose(f);
		unlink(tmp);
	}
	free(tmp);
	free(cp);
}

static void cache_remove(const char *cache_dir, const char *path)
{
	char *cp = cache_dir ? cache_path(cache_dir, path) : NULL;

	if (cp)
		unlink(cp);
	free(cp);
}

/*
 * After a restart a broken file has no in-memory last good version: take the copy cached the
 * last time it parsed, so a restart does not withdraw objects that were serving.
 */
static bool cache_load(const char *cache_dir, const char *path, struct config *out)
{
	struct config_diags diags = {0};
	char *cp = cache_dir ? cache_path(cache_dir, path) : NULL;
	char *buf;
	size_t len;
	bool ok = false;

	if (cp && runtime_read_file(cp, &buf, &len) == 0) {
		config_init(out);
		ok = config_load_buffer(out, path, buf, len, &diags) == 0;
		if (!ok)
			config_free(out);
		free(buf);
	}
	config_diags_free(&diags);
	free(cp);
	return ok;
}

/* Parses @f's current content; returns true when its good objects were replaced. */
/*
 * @f's new text @buf (@len bytes; @read_err: it could not be read): parsed, and in force when
 * good, else the last good objects stay (after a restart, a file's from @cache_dir). Whether
 * its objects may have changed.
 */
static bool entry_parse(struct confstore_file *f, const char *buf, size_t len, int read_err,
			const char *cache_dir)
{
	struct config cfg;
	struct config_diags diags = {0};
	int err = read_err;

	config_init(&cfg);
	if (err)
		diag_add(&diags, f->path, strerror(-err));
	else
		err = config_load_buffer(&cfg, f->path, buf, len, &diags);
	log_diags(&diags);
	config_diags_free(&f->errors);
	f->errors = diags;
	if (err) {
		config_free(&cfg);
		if (f->has_good) {
			pr_warn("%s: keeping its last good version", f->path);
			return false;
		}
		if (!cache_dir || !cache_load(cache_dir, f->path, &f->good))
			return false;
		config_stamp_ids(&f->good);
		f->has_good = true;
		pr_warn("%s: serving its last good version (cached before a restart)", f->path);
		return true;
	}
	config_diags_free(&f->errors);
	config_free(&f->good);
	f->good = cfg;
	config_stamp_ids(&f->good);
	f->has_good = true;
	if (cache_dir)
		cache_store(cache_dir, f->path, buf, len);
	/* Another source's objects come by the thousand (a Kubernetes list): not each a line. */
	if (f->external)
		pr_debug("%s: loaded", f->path);
	else
		pr_info("%s: loaded", f->path);
	return true;
}

static bool file_parse(struct confstore_file *f, const char *cache_dir)
{
	char *buf = NULL;
	size_t len = 0;
	int err = runtime_read_file(f->path, &buf, &len);
	bool changed = entry_parse(f, buf, len, err, cache_dir);

	free(buf);
	return changed;
}

int confstore_put(struct confstore *cs, const char *name, const char *text, size_t len,
		  bool *changed)
{
	struct confstore_file *f = find(cs, name);

	*changed = false;
	if (!f) {
		struct confstore_file *p = realloc(cs->files, (cs->n_files + 1) * sizeof(*p));
		char *n = strdup(name);

		if (p)
			cs->files = p;
		if (!p || !n) {
			free(n);
			return -ENOMEM;
		}
		f = &cs->files[cs->n_files++];
		memset(f, 0, sizeof(*f));
		f->path = n;
		f->external = true;
		config_init(&f->good);
		if (cs->slots && (cs->slots_used + 1) * 2 > cs->slots_cap)
			index_drop(cs); /* rebuilt larger by the next look-up */
		if (cs->slots)
			index_insert(cs, cs->n_files - 1);
	}
	/* No cache: the source lists everything again after a restart. */
	*changed = entry_parse(f, text, len, 0, NULL);
	return 0;
}

const struct config_diags *confstore_errors(const struct confstore *cs, const char *name)
{
	const struct confstore_file *f = find((struct confstore *)cs, name);

	return f && f->errors.n ? &f->errors : NULL;
}

void confstore_drop(struct confstore *cs, const char *name, bool *changed)
{
	struct confstore_file *f = find(cs, name);

	*changed = false;
	if (!f || !f->external)
		return;
	*changed = f->has_good;
	pr_info("%s: removed; its objects are withdrawn", name);
	if (cs->slots) {
		size_t last = cs->n_files - 1;

		*index_slot(cs, f->path) = CONFSTORE_SLOT_GONE;
		if (f != &cs->files[last])
			*index_slot(cs, cs->files[last].path) = (uint32_t)(f - cs->files) + 1;
	}
	file_free(f);
	*f = cs->files[--cs->n_files];
}

int confstore_reload(struct confstore *cs, const char *dir, bool *changed)
{
	struct scan sc = {0};
	struct confstore_file *files;
	size_t k = 0;
	int err;

	*changed = false;
	if (!cs->dir || strcmp(cs->dir, dir)) {
		char *copy = strdup(dir);

		if (!copy)
			return -ENOMEM;
		free(cs->dir);
		cs->dir = copy;
	}
	err = scan_dir(&sc, dir, 0);
	if (err) {
		scan_free(&sc);
		return err;
	}
	files = calloc(sc.n_paths + cs->n_files + 1, sizeof(*files));
	if (!files) {
		scan_free(&sc);
		return -ENOMEM;
	}
	for (size_t i = 0; i < sc.n_paths; i++) {
		struct confstore_file *old = find(cs, sc.paths[i]);
		struct confstore_file *f = &files[k++];
		struct stat st;

		if (old) {
			*f = *old;
			/* Moved: the old slot no longer owns anything. */
			memset(old, 0, sizeof(*old));
			old->path = NULL;
		} else {
			f->path = sc.paths[i];
			sc.paths[i] = NULL;
			config_init(&f->good);
		}
		if (stat(f->path, &st) < 0)
			memset(&st, 0, sizeof(st));
		if (old && st.st_ino == f->ino && st.st_dev == f->dev && st.st_size == f->size &&
		    st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec)
			continue;
		f->ino = st.st_ino;
		f->dev = st.st_dev;
		f->size = st.st_size;
		f->mtime = st.st_mtim;
		if (file_parse(f, cs->cache_dir))
			*changed = true;
	}
	/* Whatever is left in the old array was deleted from the directory, but for other sources'.
	 */
	for (size_t i = 0; i < cs->n_files; i++) {
		if (!cs->files[i].path)
			continue;
		if (cs->files[i].external) {
			files[k++] = cs->files[i];
			continue;
		}
		pr_info("%s: removed; its objects are withdrawn", cs->files[i].path);
		cache_remove(cs->cache_dir, cs->files[i].path);
		if (cs->files[i].has_good)
			*changed = true;
		file_free(&cs->files[i]);
	}
	free(cs->files);
	for (size_t i = 0; i < cs->n_dirs; i++)
		free(cs->dirs[i]);
	free(cs->dirs);
	cs->files = files;
	cs->n_files = k;
	index_drop(cs); /* positions in the old array */
	cs->dirs = sc.dirs;
	cs->n_dirs = sc.n_dirs;
	sc.dirs = NULL;
	sc.n_dirs = 0;
	scan_free(&sc);
	return 0;
}

static int owner_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct confstore_owner *)a)->key;
	uint64_t y = ((const struct confstore_owner *)b)->key;

	return (x > y) - (x < y);
}

static uint64_t path_hash(const char *file)
{
	return file ? XXH3_64bits(file, strlen(file)) : 0;
}

/* Its origin file's path_hash: kept in the object by config_stamp_ids, as every view asks. */
static uint64_t origin_hash(const struct config_meta *m)
{
	return m->origin_hash ? m->origin_hash : path_hash(m->origin.file);
}

/* Lower is preferred: the file in force, the store's own path, anything else. */
static int prefer(void *arg, const char *kind, const struct config_meta *m)
{
	const struct confstore *cs = arg;
	struct confstore_owner probe = {.key = config_object_hash(kind, m)}, *owner;
	char path[4096], group[256];

	/* No owners yet: bsearch is not given a NULL array (UB even with none to search). */
	owner = cs->n_owners
		    ? bsearch(&probe, cs->owners, cs->n_owners, sizeof(*cs->owners), owner_cmp)
		    : NULL;
	if (owner && m->origin.file && owner->file == origin_hash(m))
		return 0;
	config_api_group(m->api_version ? m->api_version : "", group, sizeof(group));
	if (cs->dir &&
	    !config_object_path(cs->dir, group, kind,
				strcmp(kind, "Namespace") ? m->namespace : NULL, m->name, path,
				sizeof(path)) &&
	    m->origin.file && !strcmp(path, m->origin.file))
		return 1;
	return 2;
}

static void report_dup(void *arg, const char *kind, const struct config_meta *kept,
		       const struct config_meta *dropped)
{
	struct config_diags *d = arg;
	char object[400];

	if (dropped->namespace && strcmp(kind, "Namespace"))
		snprintf(object, sizeof(object), "%s %s/%s", kind, dropped->namespace,
			 dropped->name);
	else
		snprintf(object, sizeof(object), "%s %s", kind, dropped->name);
	config_diags_add(d, &dropped->origin, dropped->origin.line, true, object, "metadata.name",
			 "also defined in %s:%d, which is in force; this definition is ignored "
			 "(remove one of the two)",
			 kept->origin.file, kept->origin.line);
}

static bool diag_known(const struct config_diags *d, const struct config_diag *x)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->items[i].message, x->message) &&
		    !strcmp(d->items[i].file ? d->items[i].file : "", x->file ? x->file : ""))
			return true;
	return false;
}

struct dedupe {
	struct confstore *cs;
	struct config_diags found;
	struct confstore_owner *owners; /* the kept objects', in hash order */
	size_t n_owners;
};

static void report(void *arg, const char *kind, const struct config_meta *kept,
		   const struct config_meta *dropped)
{
	report_dup(&((struct dedupe *)arg)->found, kind, kept, dropped);
}

static int prefer_dd(void *arg, const char *kind, const struct config_meta *m)
{
	return prefer(((struct dedupe *)arg)->cs, kind, m);
}

static void add_owner(void *arg, const struct config_meta *m, uint64_t hash)
{
	struct dedupe *dd = arg;

	dd->owners[dd->n_owners++] = (struct confstore_owner){hash, origin_hash(m)};
}

static int count_obj(void *arg, const char *kind, const struct config_meta *m)
{
	(*(size_t *)arg)++;
	return 0;
}

/* One definition per identity; remembers who won for the next view. */
static int dedupe_view(struct confstore *cs, struct config *view)
{
	struct dedupe dd = {.cs = cs};
	size_t n = 0;
	int err;

	config_each_object(view, count_obj, &n);
	dd.owners = calloc(n ? n : 1, sizeof(*dd.owners));
	if (!dd.owners)
		return -ENOMEM;
	err = config_view_drop_duplicates(view, prefer_dd, report, add_owner, &dd);
	if (err) {
		free(dd.owners);
		config_diags_free(&dd.found);
		return err;
	}
	for (size_t i = 0; i < dd.found.n; i++) {
		char line[1024];

		if (diag_known(&cs->dups, &dd.found.items[i]))
			continue;
		config_diag_format(&dd.found.items[i], line, sizeof(line));
		pr_err("%s", line);
	}
	config_diags_free(&cs->dups);
	cs->dups = dd.found;
	free(cs->owners);
	cs->owners = dd.owners;
	cs->n_owners = dd.n_owners;
	return 0;
}

/*
 * Every kind kinds.def puts in the agent's view (its agent column): the view carries them all,
 * the L7 kinds included (the waypoints' bindings and configs are compiled from it). @op is
 * one of the *_KIND below, applied to each such kind's struct config array.
 */
#define AGENT_KIND_1(op, arr) op(arr)
#define AGENT_KIND_0(op, arr)
/* Counted in @view's n_<kind>, then allocated: one pass over the entries for every kind. */
#define COUNT_KIND(kind) view->n_##kind += g->n_##kind;
#define ALLOC_KIND(kind)                                                                           \
	if (view->n_##kind && !(view->kind = calloc(view->n_##kind, sizeof(*view->kind))))         \
		goto nomem;                                                                        \
	view->n_##kind = 0;
#define COPY_KIND(kind)                                                                            \
	if (g->n_##kind) {                                                                         \
		memcpy(&view->kind[view->n_##kind], g->kind, g->n_##kind * sizeof(*g->kind));      \
		view->n_##kind += g->n_##kind;                                                     \
	}
#define FREE_KIND(kind) free(view->kind);

int confstore_view(struct confstore *cs, struct config *view)
{
	memset(view, 0, sizeof(*view));
	for (size_t i = 0; i < cs->n_files; i++) {
		const struct config *g = &cs->files[i].good;

#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	AGENT_KIND_##agent(COUNT_KIND, arr)
#include "config/kinds.def"
	}
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	AGENT_KIND_##agent(ALLOC_KIND, arr)
#include "config/kinds.def"
	for (size_t i = 0; i < cs->n_files; i++) {
		const struct config *g = &cs->files[i].good;

#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	AGENT_KIND_##agent(COPY_KIND, arr)
#include "config/kinds.def"
	}
	view->mesh_off = cs->mesh_off;
	if (dedupe_view(cs, view))
		goto nomem;
	/* One per name now: every pod's namespace is looked up in halves. */
	config_sort_namespaces(view);
	return 0;
nomem:
	confstore_view_free(view);
	return -ENOMEM;
}

void confstore_view_free(struct config *view)
{
	if (!view)
		return;
/* Only the arrays are the view's: their elements belong to the store. */
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	AGENT_KIND_##agent(FREE_KIND, arr)
#include "config/kinds.def"
	memset(view, 0, sizeof(*view));
}

size_t confstore_error_count(const struct confstore *cs)
{
	size_t n = cs->dups.n;

	for (size_t i = 0; i < cs->n_files; i++)
		for (size_t j = 0; j < cs->files[i].errors.n; j++)
			n += cs->files[i].errors.items[j].error;
	return n;
}

void confstore_free(struct confstore *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n_files; i++)
		file_free(&cs->files[i]);
	for (size_t i = 0; i < cs->n_dirs; i++)
		free(cs->dirs[i]);
	free(cs->files);
	free(cs->dirs);
	free(cs->dir);
	free(cs->owners);
	config_diags_free(&cs->dups);
	index_drop(cs);
	memset(cs, 0, sizeof(*cs));
}
