// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "confstore.h"

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

static struct confstore_file *find(struct confstore *cs, const char *path)
{
	/* Entries already moved to the new array have no path. */
	for (size_t i = 0; i < cs->n_files; i++)
		if (cs->files[i].path && strcmp(cs->files[i].path, path) == 0)
			return &cs->files[i];
	return NULL;
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

/* Parses @f's current content; returns true when its good objects were replaced. */
static bool file_parse(struct confstore_file *f)
{
	struct config cfg;
	struct config_diags diags = {0};
	int err;

	config_init(&cfg);
	err = config_load_file(&cfg, f->path, &diags);
	log_diags(&diags);
	config_diags_free(&f->errors);
	if (err) {
		if (!diags.n)
			pr_err("%s: cannot load: %s", f->path, strerror(-err));
		config_free(&cfg);
		f->errors = diags;
		if (f->has_good)
			pr_warn("%s: keeping its last good version", f->path);
		return false;
	}
	config_diags_free(&diags);
	config_free(&f->good);
	f->good = cfg;
	f->has_good = true;
	pr_info("%s: loaded", f->path);
	return true;
}

int confstore_reload(struct confstore *cs, const char *dir, bool *changed)
{
	struct scan sc = {0};
	struct confstore_file *files;
	size_t k = 0;
	int err;

	*changed = false;
	err = scan_dir(&sc, dir, 0);
	if (err) {
		scan_free(&sc);
		return err;
	}
	files = calloc(sc.n_paths ? sc.n_paths : 1, sizeof(*files));
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
		if (file_parse(f))
			*changed = true;
	}
	/* Whatever is left in the old array was deleted from the directory. */
	for (size_t i = 0; i < cs->n_files; i++) {
		if (!cs->files[i].path)
			continue;
		pr_info("%s: removed; its objects are withdrawn", cs->files[i].path);
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
	cs->dirs = sc.dirs;
	cs->n_dirs = sc.n_dirs;
	sc.dirs = NULL;
	sc.n_dirs = 0;
	scan_free(&sc);
	return 0;
}

#define APPEND(kind)                                                                            \
	do {                                                                                     \
		size_t total = 0, at = 0;                                                        \
		for (size_t i = 0; i < cs->n_files; i++)                                         \
			total += cs->files[i].good.n_##kind;                                     \
		if (!total)                                                                      \
			break;                                                                   \
		view->kind = calloc(total, sizeof(*view->kind));                                 \
		if (!view->kind)                                                                 \
			goto nomem;                                                              \
		for (size_t i = 0; i < cs->n_files; i++) {                                       \
			const struct config *g = &cs->files[i].good;                             \
			if (g->n_##kind)                                                         \
				memcpy(&view->kind[at], g->kind, g->n_##kind * sizeof(*g->kind)); \
			at += g->n_##kind;                                                       \
		}                                                                                \
		view->n_##kind = total;                                                          \
	} while (0)

int confstore_view(const struct confstore *cs, struct config *view)
{
	memset(view, 0, sizeof(*view));
	APPEND(namespaces);
	APPEND(pods);
	APPEND(deployments);
	APPEND(services);
	APPEND(service_accounts);
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
	free(view->namespaces);
	free(view->pods);
	free(view->deployments);
	free(view->services);
	free(view->service_accounts);
	memset(view, 0, sizeof(*view));
}

size_t confstore_error_count(const struct confstore *cs)
{
	size_t n = 0;

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
	memset(cs, 0, sizeof(*cs));
}
