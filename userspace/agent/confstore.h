/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state directory as per-file last good configs (DESIGN.md §5: invalid input never takes the
 * node down). Each *.yaml / *.yml file is parsed on its own: a good version replaces that file's
 * objects, a broken one keeps its last good objects and its diagnostics are "in force", a deleted
 * file takes its objects away.
 */
#ifndef AMBIT_AGENT_CONFSTORE_H
#define AMBIT_AGENT_CONFSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ambit/config.h"

struct confstore_file {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool has_good;
	bool external;		    /* put by confstore_put (no file: a reload keeps it) */
	struct config good;	    /* last good objects of this file */
	struct config_diags errors; /* diagnostics of the current (bad) version, or none */
};

struct confstore {
	bool mesh_off; /* given to each view (config.mesh_off) */
	size_t n_files, n_dirs;
	struct confstore_file *files; /* files sorted by path, then other sources' entries */
	char **dirs;		      /* the directory and every subdirectory, for inotify */
	/*
	 * Optional (borrowed): where a copy of each file's last good version is kept, so a file
	 * that is broken when the agent restarts still serves what it served before.
	 */
	const char *cache_dir;
	char *dir; /* the directory of the last reload */
	/*
	 * One definition per object is in force (DESIGN.md §5: a duplicate never replaces or
	 * weakens one in force). The file each identity was taken from by the last view, sorted
	 * by key: that file keeps it while it still defines it. The others are reported in @dups.
	 */
	size_t n_owners;
	struct confstore_owner *owners;
	struct config_diags dups;
	/*
	 * Entry names to their place in @files, built when first needed (the Kubernetes source
	 * puts tens of thousands of entries, each looked up by name): open addressing over a
	 * power of two, at most half full; a slot holds 0 (free), CONFSTORE_SLOT_GONE or the
	 * position plus one.
	 */
	uint32_t *slots;
	size_t slots_cap, slots_used;
};

struct confstore_owner {
	uint64_t key;  /* config_object_hash */
	uint64_t file; /* XXH3 of the file's path */
};

/*
 * Rescans @dir recursively and reparses the files whose inode, size or mtime changed. Logs each
 * new diagnostic at error level. A file that fails to parse keeps its last good objects: from
 * memory, or after a restart from cs->cache_dir. *changed is set when the merged objects may
 * differ. Returns 0, or -errno when @dir itself cannot be read (then nothing is changed).
 */
int confstore_reload(struct confstore *cs, const char *dir, bool *changed);
/*
 * An object from another source than the directory (the Kubernetes API), as entry @name (e.g.
 * "k8s:pods/shop/a", never a path): @text (one object, YAML or JSON as the API serves it) is
 * validated as a file is and kept the same way: a good version replaces the entry's objects, a
 * bad one keeps its last good objects with its diagnostics in force (naming @name). A directory
 * reload keeps such entries. *changed is set when the merged objects may differ. 0 or -ENOMEM.
 */
int confstore_put(struct confstore *cs, const char *name, const char *text, size_t len,
		  bool *changed);
/* The diagnostics of entry @name's last parse when it failed (borrowed), else NULL. */
const struct config_diags *confstore_errors(const struct confstore *cs, const char *name);
/* Entry @name (confstore_put's) goes with its objects. *changed as above. */
void confstore_drop(struct confstore *cs, const char *name, bool *changed);
/*
 * Fills @view with every file's good objects, one definition per object: where several files
 * define one object, the one in force stays (the file it came from last time), else the one
 * at the path `ambitctl apply` keeps it (config_object_path), else the first by file name; the
 * others are left out, logged once and listed in cs->dups. The view borrows the objects:
 * release it with confstore_view_free (not config_free), and before the next confstore_reload.
 * 0 or -ENOMEM.
 */
int confstore_view(struct confstore *cs, struct config *view);
void confstore_view_free(struct config *view);
/* Number of error diagnostics currently in force (duplicates included). */
size_t confstore_error_count(const struct confstore *cs);
void confstore_free(struct confstore *cs);

#endif
