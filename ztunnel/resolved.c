// SPDX-License-Identifier: Apache-2.0
/* ServiceEntry names the DNS proxy resolved (resolved.h): a small table under a rwlock. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "resolved.h"

struct name {
	char *name;
	uint32_t ips[ZT_RESOLVED_MAX_ADDRS];
	size_t n;
};

static struct {
	pthread_rwlock_t lock;
	struct name *v;
	size_t n, cap;
} t = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static struct name *find(const char *name)
{
	for (size_t i = 0; i < t.n; i++)
		if (!strcmp(t.v[i].name, name))
			return &t.v[i];
	return NULL;
}

int zt_resolved_set(const char *name, const uint32_t *ips, size_t n)
{
	struct name *e;
	int err = 0;

	if (n > ZT_RESOLVED_MAX_ADDRS)
		n = ZT_RESOLVED_MAX_ADDRS;
	pthread_rwlock_wrlock(&t.lock);
	e = find(name);
	if (!e && t.n == ZT_RESOLVED_MAX_NAMES) {
		err = -ENOSPC;
		goto out;
	}
	if (!e && t.n == t.cap) {
		size_t cap = t.cap ? t.cap * 2 : 16;
		struct name *v = realloc(t.v, cap * sizeof(*v));

		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		t.v = v;
		t.cap = cap;
	}
	if (!e) {
		char *copy = strdup(name);

		if (!copy) {
			err = -ENOMEM;
			goto out;
		}
		e = &t.v[t.n++];
		e->name = copy;
	}
	if (n)
		memcpy(e->ips, ips, n * sizeof(*ips));
	e->n = n;
out:
	pthread_rwlock_unlock(&t.lock);
	return err;
}

size_t zt_resolved_get(const char *name, uint32_t *ips, size_t max)
{
	const struct name *e;
	size_t n = 0;

	pthread_rwlock_rdlock(&t.lock);
	e = find(name);
	if (e) {
		n = e->n < max ? e->n : max;
		memcpy(ips, e->ips, n * sizeof(*ips));
	}
	pthread_rwlock_unlock(&t.lock);
	return n;
}

void zt_resolved_keep(char *const *keep, size_t n)
{
	pthread_rwlock_wrlock(&t.lock);
	for (size_t i = 0; i < t.n;) {
		bool kept = false;

		for (size_t j = 0; j < n && !kept; j++)
			kept = !strcmp(t.v[i].name, keep[j]);
		if (kept) {
			i++;
			continue;
		}
		free(t.v[i].name);
		t.v[i] = t.v[--t.n];
	}
	pthread_rwlock_unlock(&t.lock);
}
