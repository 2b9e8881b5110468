// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/ipc.h"
#include "ambit/log.h"
#include "meshstate.h"

#define STATE_MAX_SUBS 64 /* one per worker */

struct mesh_state {
	pthread_mutex_t lock;
	struct mesh_snap *cur;
	uint64_t version; /* cur's, for mesh_state_version */
	struct {
		void (*fn)(void *arg);
		void *arg;
	} subs[STATE_MAX_SUBS];
};

struct mesh_state *mesh_state_create(void)
{
	struct mesh_state *st = calloc(1, sizeof(*st));

	if (st)
		pthread_mutex_init(&st->lock, NULL);
	return st;
}

static void snap_free(struct mesh_snap *zs)
{
	for (size_t i = 0; i < zs->nids; i++) {
		tls_ctx_put(zs->ids[i].client);
		tls_ctx_put(zs->ids[i].server);
	}
	free(zs->ids);
	snapshot_free(zs->snap);
	free(zs);
}

void mesh_snap_put(struct mesh_snap *zs)
{
	if (zs && __atomic_sub_fetch(&zs->refs, 1, __ATOMIC_ACQ_REL) == 0)
		snap_free(zs);
}

void mesh_state_destroy(struct mesh_state *st)
{
	if (!st)
		return;
	mesh_snap_put(st->cur);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/*
 * Inbound HBONE accepts the mesh's trust domain and its aliases only: the root may sign for
 * others (a shared CA), and Istio refuses those peers too.
 */
static int set_trust_domains(struct tls_ctx *ctx, const struct snapshot *s)
{
	const char *td[17];
	size_t n = 0;

	if (!s->trust_domain || !*s->trust_domain)
		return -EINVAL;
	td[n++] = s->trust_domain;
	for (size_t i = 0; i < s->n_trust_domain_aliases && n < 17; i++)
		td[n++] = s->trust_domain_aliases[i];
	return tls_ctx_set_trust_domains(ctx, td, n);
}

int mesh_state_install(struct mesh_state *st, struct snapshot *s)
{
	struct mesh_snap *zs = calloc(1, sizeof(*zs)), *old;

	if (!zs || (s->n_certs && !(zs->ids = calloc(s->n_certs, sizeof(*zs->ids))))) {
		free(zs);
		snapshot_free(s);
		return -ENOMEM;
	}
	zs->snap = s;
	zs->refs = 1;
	for (size_t i = 0; i < s->n_certs; i++) {
		const struct snap_cert *c = &s->certs[i];
		struct mesh_ident *id = &zs->ids[zs->nids];

		id->identity = c->identity;
		id->client = tls_ctx_create(false, c->cert_pem, c->key_pem, s->root_pem);
		id->server = tls_ctx_create(true, c->cert_pem, c->key_pem, s->root_pem);
		if (id->server && set_trust_domains(id->server, s)) {
			tls_ctx_put(id->server);
			id->server = NULL;
		}
		if (!id->client || !id->server) {
			pr_warn("snapshot %llu: certificate of %s unusable, skipped",
				(unsigned long long)s->version, c->identity);
			tls_ctx_put(id->client);
			tls_ctx_put(id->server);
			continue;
		}
		zs->nids++;
	}
	pthread_mutex_lock(&st->lock);
	old = st->cur;
	st->cur = zs;
	__atomic_store_n(&st->version, s->version, __ATOMIC_RELEASE);
	for (int i = 0; i < STATE_MAX_SUBS; i++)
		if (st->subs[i].fn)
			st->subs[i].fn(st->subs[i].arg);
	pthread_mutex_unlock(&st->lock);
	mesh_snap_put(old);
	pr_info("snapshot %llu installed: %zu workloads, %zu services, %zu identities",
		(unsigned long long)s->version, s->n_workloads, s->n_services, zs->nids);
	return 0;
}

int mesh_state_subscribe(struct mesh_state *st, void (*fn)(void *arg), void *arg)
{
	int err = -ENOSPC;

	pthread_mutex_lock(&st->lock);
	for (int i = 0; i < STATE_MAX_SUBS; i++) {
		if (!st->subs[i].fn) {
			st->subs[i].fn = fn;
			st->subs[i].arg = arg;
			err = 0;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return err;
}

void mesh_state_unsubscribe(struct mesh_state *st, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&st->lock);
	for (int i = 0; i < STATE_MAX_SUBS; i++) {
		if (st->subs[i].fn == fn && st->subs[i].arg == arg) {
			st->subs[i].fn = NULL;
			st->subs[i].arg = NULL;
		}
	}
	pthread_mutex_unlock(&st->lock);
}

uint64_t mesh_state_version(struct mesh_state *st)
{
	return __atomic_load_n(&st->version, __ATOMIC_ACQUIRE);
}

struct mesh_snap *mesh_state_get(struct mesh_state *st)
{
	struct mesh_snap *zs;

	pthread_mutex_lock(&st->lock);
	zs = st->cur;
	if (zs)
		__atomic_add_fetch(&zs->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&st->lock);
	return zs;
}

struct tls_ctx *mesh_snap_ctx(const struct mesh_snap *zs, const char *identity, bool server)
{
	for (size_t i = 0; zs && identity && i < zs->nids; i++)
		if (strcmp(zs->ids[i].identity, identity) == 0)
			return server ? zs->ids[i].server : zs->ids[i].client;
	return NULL;
}

/* ---- agent watcher ---- */

struct agent_follow {
	struct mesh_state *st;
	char *path;
	pthread_t thread;
	int stopfd;
	volatile int stopping;
};

/* Sleeps @ms unless stopped; false when stopping. */
static bool nap(struct agent_follow *a, int ms)
{
	struct pollfd p = {.fd = a->stopfd, .events = POLLIN};

	poll(&p, 1, ms);
	return !a->stopping;
}

/* Reads frames until the agent goes away. Keeps the last snapshot: traffic must not notice. */
static void follow(struct agent_follow *a, int fd)
{
	static const char req[] = "{\"op\":\"watch\"}";
	char err[256];

	if (ipc_write_frame(fd, req, sizeof(req) - 1))
		return;
	while (!a->stopping) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = a->stopfd, .events = POLLIN}};
		struct snapshot *s;
		size_t len;
		char *buf;
		int rv;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return;
		if (a->stopping || !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		/* A frame, once started, arrives whole from a healthy agent. */
		rv = ipc_read_frame(fd, &buf, &len);
		if (rv) {
			pr_warn("agent connection lost: %s", strerror(-rv));
			return;
		}
		s = snapshot_decode(buf, len, err, sizeof(err));
		free(buf);
		if (!s) {
			pr_warn("agent sent an invalid snapshot (kept the previous one): %s", err);
			continue;
		}
		mesh_state_install(a->st, s);
	}
}

static void *agent_main(void *arg)
{
	struct agent_follow *a = arg;
	int backoff = 100;

	while (!a->stopping) {
		int fd = ipc_connect(a->path);

		if (fd < 0) {
			pr_debug("agent %s unreachable: %s; retry in %d ms", a->path, strerror(-fd),
				 backoff);
			if (!nap(a, backoff))
				break;
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		/* Bounded blocking reads: a wedged agent must not stall the watcher forever. */
		struct timeval tv = {.tv_sec = 30};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		pr_info("connected to agent %s", a->path);
		backoff = 100;
		follow(a, fd);
		close(fd);
		if (!nap(a, backoff))
			break;
	}
	return NULL;
}

struct agent_follow *agent_follow_start(struct mesh_state *st, const char *socket_path)
{
	struct agent_follow *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return NULL;
	a->st = st;
	a->stopfd = eventfd(0, EFD_CLOEXEC);
	a->path = strdup(socket_path);
	if (a->stopfd < 0 || !a->path)
		goto fail;
	err = pthread_create(&a->thread, NULL, agent_main, a);
	if (err) {
		errno = err;
		goto fail;
	}
	return a;
fail:
	err = errno;
	if (a->stopfd >= 0)
		close(a->stopfd);
	free(a->path);
	free(a);
	errno = err;
	return NULL;
}

void agent_follow_stop(struct agent_follow *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	a->stopping = 1;
	if (write(a->stopfd, &one, sizeof(one)) < 0)
		pr_warn("agent watcher wakeup failed");
	pthread_join(a->thread, NULL);
	close(a->stopfd);
	free(a->path);
	free(a);
}
