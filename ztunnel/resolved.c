// SPDX-License-Identifier: Apache-2.0
/* ServiceEntry names the DNS proxy resolved (resolved.h): a small table under a rwlock. */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "resolved.h"

struct name {
	char *name;
	struct ipaddr v4[ZT_RESOLVED_MAX_ADDRS], v6[ZT_RESOLVED_MAX_ADDRS];
	size_t n4, n6;
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

int zt_resolved_set(const char *name, int family, const struct ipaddr *ips, size_t n)
{
	struct name *e;
	int err = 0;

	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (ips[i].family != family)
			return -EINVAL;
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
		memset(e, 0, sizeof(*e));
		e->name = copy;
	}
	if (n)
		memcpy(family == AF_INET ? e->v4 : e->v6, ips, n * sizeof(*ips));
	*(family == AF_INET ? &e->n4 : &e->n6) = n;
out:
	pthread_rwlock_unlock(&t.lock);
	return err;
}

size_t zt_resolved_get(const char *name, struct ipaddr *ips, size_t max)
{
	const struct name *e;
	size_t n = 0, n6 = 0;

	pthread_rwlock_rdlock(&t.lock);
	e = find(name);
	if (e) {
		n = e->n4 < max ? e->n4 : max;
		memcpy(ips, e->v4, n * sizeof(*ips));
		n6 = e->n6 < max - n ? e->n6 : max - n;
		memcpy(ips + n, e->v6, n6 * sizeof(*ips));
		n += n6;
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
