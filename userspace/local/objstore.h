/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local cluster's state/ directory as a store of objects, the way the Kubernetes API holds
 * them: one file per object at a path derived from its identity (group, kind, namespace, name),
 * state/<namespace|_cluster>/<kind>[.<group>]/<name>.yaml, written atomically. The agents load
 * every *.yaml under state/; `state/generation` counts the changes ambitctl made, so the agents
 * can report which one they have in force. Writers hold state/.lock (flock) for the whole of a
 * read-validate-write cycle.
 */
#ifndef AMBIT_CLI_OBJSTORE_H
#define AMBIT_CLI_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ambit/config.h"

struct store_obj {
	char *group;	   /* "" for the core group */
	char *api_version; /* as written: "networking.istio.io/v1"; NULL where not collected */
	char *kind;	   /* "PeerAuthentication" */
	char *namespace;   /* NULL for a cluster-scoped kind */
	char *name;
	char *yaml; /* the object alone, as stored (or as it would be) */
	char *file; /* where it was read from */
	int line;
	char *path; /* where the store keeps it: the canonical file */
};

struct store_objs {
	size_t n;
	struct store_obj *items;
};

/*
 * Every object of the store, each file loaded on its own so that two files defining one object
 * both show (one load would refuse the second). Files that do not load are left out; their
 * diagnostics go to @diags. 0 or -errno when @state cannot be read.
 */
int store_load(const char *state, struct store_objs *out, struct config_diags *diags);
/* Collects every object config_load_*_opts tells (pass as on_object with the store_objs). */
int store_objs_collect(void *arg, const struct config_object *o);
void store_objs_free(struct store_objs *s);
/* The object of @s with @o's identity, or NULL; from @from on (0: the first). */
struct store_obj *store_objs_find(const struct store_objs *s, const struct store_obj *o,
				  size_t from);

/* Fills @o->path under @state for its identity. 0 or -ENAMETOOLONG/-EINVAL (unsafe name). */
int store_obj_path(const char *state, struct store_obj *o);
/* "kind[.group]/name", as kubectl names an object in its output. */
void store_obj_display(const struct store_obj *o, char *buf, size_t len);
/* Whether @o was read from its canonical file (ambitctl wrote it) rather than a hand-placed one. */
bool store_obj_canonical(const struct store_obj *o);

/*
 * What the store records of an object beside it, as the API server does in its metadata: when
 * it was created (RFC 3339, UTC; the file's mtime for one placed by hand) and its UID ("" when
 * none was recorded). store_write records both for a new object and keeps them on a replace.
 */
struct store_meta {
	char created[32];
	char uid[40];
};

void store_meta_read(const struct store_obj *o, struct store_meta *m);
/* @t as RFC 3339 in UTC, as metadata.creationTimestamp has it. */
void store_timestamp(time_t t, char *buf, size_t len);

/* Locks file @path (made if absent) exclusively, blocking: fd to pass to store_unlock, or
 * -errno. */
int store_flock(const char *path);
/* Takes the store's writer lock (blocking). fd to pass to store_unlock, or -errno. */
int store_lock(const char *state);
void store_unlock(int fd);
/* Writes @o->yaml at @o->path (parent directories made). 0 or -errno. */
int store_write(const struct store_obj *o);
/* Removes @o->path and the directories it leaves empty (below @state). 0 or -errno. */
int store_remove(const char *state, const struct store_obj *o);
/* The generation in state/generation (0 when absent). */
uint64_t store_generation(const char *state);
/* Increments it; the new value, or 0 on error (errno set). */
uint64_t store_generation_bump(const char *state);

#endif
