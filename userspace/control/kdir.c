// SPDX-License-Identifier: Apache-2.0
/* The workload directory merged with the node's own pods (kdir.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kdir.h"
#include "lib/str_search.h"
#include "wdir.h"

struct kdir_cm {
	char *name; /* the ConfigMap's "namespace/name" */
	struct wdir_shard_pods pods;
};

struct kdir {
	char *node;
	size_t n_cm;
	struct kdir_cm *cm;
	size_t n_local; /* the node's own pods' keys, sorted */
	char **local;
};

struct kdir *kdir_new(const char *node)
{
	struct kdir *d = calloc(1, sizeof(*d));

	if (d && !(d->node = strdup(node))) {
		free(d);
		d = NULL;
	}
	return d;
}

void kdir_free(struct kdir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_cm; i++) {
		free(d->cm[i].name);
		wdir_shard_pods_free(&d->cm[i].pods);
	}
	for (size_t i = 0; i < d->n_local; i++)
		free(d->local[i]);
	free(d->cm);
	free(d->local);
	free(d->node);
	free(d);
}

/* Where @key is in the local set, or where it would go (*@found false). */
static size_t local_at(const struct kdir *d, const char *key, bool *found)
{
	return str_lower_bound(d->local, d->n_local, sizeof(*d->local), 0, key, found);
}

static bool is_local(const struct kdir *d, const char *key)
{
	bool found;

	local_at(d, key, &found);
	return found;
}

/* What the directory says of @key: its pod, or NULL. */
static const struct wdir_pod *dir_pod(const struct kdir *d, const char *key)
{
	for (size_t i = 0; i < d->n_cm; i++) {
		long at = wdir_shard_find(&d->cm[i].pods, key);

		if (at >= 0)
			return &d->cm[i].pods.p[at];
	}
	return NULL;
}

/* The directory's pod @p (NULL: none) in force for its key, unless the node's own has it. */
static void offer(const struct kdir *d, const char *key, const struct wdir_pod *p, kdir_emit emit,
		  void *arg)
{
	if (!is_local(d, key))
		emit(arg, key, p && !p->here ? p->text : NULL);
}

int kdir_shard(struct kdir *d, const char *cm, const char *json, kdir_emit emit, void *arg)
{
	struct wdir_shard_pods now = {0}, *was = NULL;
	struct kdir_cm *slot = NULL;
	size_t i = 0, j = 0;
	int err;

	for (size_t k = 0; k < d->n_cm; k++)
		if (!strcmp(d->cm[k].name, cm))
			slot = &d->cm[k];
	if (json && (err = wdir_shard_parse(json, d->node, &now)))
		return err;
	if (!slot) {
		struct kdir_cm *n = realloc(d->cm, (d->n_cm + 1) * sizeof(*n));

		if (!n || !(cm = strdup(cm))) {
			if (n)
				d->cm = n;
			wdir_shard_pods_free(&now);
			return -ENOMEM;
		}
		d->cm = n;
		slot = &d->cm[d->n_cm++];
		*slot = (struct kdir_cm){(char *)cm, {0}};
	}
	was = &slot->pods;
	/* Both sorted by key: a merge walk says what left, came or changed. */
	while (i < was->n || j < now.n) {
		int c = i == was->n ? 1 : j == now.n ? -1 : strcmp(was->p[i].key, now.p[j].key);

		if (c < 0) {
			offer(d, was->p[i].key, NULL, emit, arg);
			i++;
		} else if (c > 0) {
			offer(d, now.p[j].key, &now.p[j], emit, arg);
			j++;
		} else {
			if (was->p[i].here != now.p[j].here || was->p[i].hash != now.p[j].hash)
				offer(d, now.p[j].key, &now.p[j], emit, arg);
			i++;
			j++;
		}
	}
	wdir_shard_pods_free(was);
	/*
	 * The texts put are the store's to keep: only the ones the node's own watch shadows are
	 * kept here, for when the pod leaves it first (the rest would be a second copy of every
	 * pod of the cluster). A pod that comes to the node's watch later falls back to nothing
	 * when it leaves, until its shard changes: as it does when the pod runs elsewhere.
	 */
	for (size_t k = 0; k < now.n; k++) {
		if (!is_local(d, now.p[k].key)) {
			free(now.p[k].text);
			now.p[k].text = NULL;
		}
	}
	*was = now;
	return 0;
}

int kdir_local(struct kdir *d, const char *key, bool present, kdir_emit emit, void *arg)
{
	bool found;
	size_t at = local_at(d, key, &found);

	if (present && !found) {
		char **n = realloc(d->local, (d->n_local + 1) * sizeof(*n));
		char *k = strdup(key);

		if (n)
			d->local = n;
		if (!n || !k) {
			free(k);
			return -ENOMEM;
		}
		memmove(&d->local[at + 1], &d->local[at], (d->n_local - at) * sizeof(*n));
		d->local[at] = k;
		d->n_local++;
	} else if (!present) {
		if (found) {
			free(d->local[at]);
			memmove(&d->local[at], &d->local[at + 1],
				(d->n_local - at - 1) * sizeof(*d->local));
			d->n_local--;
		}
		offer(d, key, dir_pod(d, key), emit, arg);
	}
	return 0;
}

size_t kdir_pods(const struct kdir *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_cm; i++)
		n += d->cm[i].pods.n;
	return n;
}
