// SPDX-License-Identifier: Apache-2.0
/*
 * The ztunnel workers: each a thread with its own loop, listeners, HBONE pool and splices
 * (shared-nothing), told of every new snapshot so that held connections retry and open ones are
 * decided again with the new policy.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ambit/log.h"
#include "authz.h"
#include "hbone/hbone.h"
#include "inpod.h"
#include "proxy_priv.h"
#include "net/splice.h"

static const struct zt_inpod_listen_ops listen_ops = {
    .add = zt_listener_add,
    .remove = zt_listener_remove,
    .udp_add = zt_udp_listener_add,
    .udp_remove = zt_udp_listener_remove,
};

/* Snapshot installed (agent watcher thread): wake the worker, which owns its connections. */
static void worker_wake(void *arg)
{
	struct zt_worker *w = arg;
	uint64_t one = 1;

	if (write(w->policy_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("worker: policy wake-up failed: %s", strerror(errno));
}

/*
 * On the worker's thread: a drain asked for (zt_worker_drain), and the open inbound connections
 * decided again with the new policy.
 */
static void on_policy(struct loop_handler *h, uint32_t events)
{
	struct zt_worker *w =
	    (struct zt_worker *)((char *)h - offsetof(struct zt_worker, policy_h));
	struct mesh_snap *zs;
	uint64_t n;
	unsigned int closed;

	if (read(w->policy_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	if (atomic_load(&w->drain_req) && !atomic_load(&w->drained)) {
		zt_listeners_drop(w);
		zt_inpod_worker_sync(w, true, &listen_ops);
		hbone_pool_drain(w->pool);
		atomic_store(&w->drained, true);
	}
	/* Pods captured in-pod came or went (or nothing did: cheap). */
	zt_inpod_worker_sync(w, atomic_load(&w->drained), &listen_ops);
	zs = mesh_state_get(w->st);
	if (!zs)
		return;
	zt_outbound_snapshot(w, zs);
	zt_inbound_snapshot(w, zs);
	closed = authz_reevaluate(w->tracker, zs->snap);
	if (closed)
		pr_info("snapshot %llu: closed %u open connection(s) the new policy denies",
			(unsigned long long)zs->snap->version, closed);
	mesh_snap_put(zs);
}

/* Once a second: memory back to the system after a burst, repeated-log summaries. */
static void worker_tick(struct loop_tick *t)
{
	guard_memory_tick();
	log_flush();
}

static void *worker_main(void *arg)
{
	struct zt_worker *w = arg;
	int err = loop_run(w->loop);

	if (err)
		pr_err("worker loop failed: %s", strerror(-err));
	return NULL;
}

struct zt_worker *zt_worker_start(struct mesh_state *st, const struct zt_proxy_opts *opts)
{
	struct zt_worker *w = calloc(1, sizeof(*w));
	const int fds[L__COUNT] = {opts->outbound_fd, opts->inbound_fd, opts->hbone_fd};
	const int fds6[L__COUNT] = {opts->outbound6_fd, opts->inbound6_fd, opts->hbone6_fd};
	int err = ENOMEM;

	if (!w)
		return NULL;
	w->st = st;
	w->o = *opts;
	w->o.hbone = NULL; /* borrowed for the start only: the pool and the set keep copies */
	w->o.splice = NULL;
	w->o.udp = NULL;
	if (opts->udp)
		w->udp_lim = *opts->udp;
	else
		zt_udp_limits_default(&w->udp_lim);
	LIST_INIT(&w->udp_in);
	w->policy_efd = -1;
	w->reserve_fd = -1;
	w->loop = loop_create();
	if (!w->loop || !(w->pool = hbone_pool_create(w->loop, opts->hbone)) ||
	    !(w->splices = splice_set_create(w->loop, opts->splice)) ||
	    !(w->tracker = authz_tracker_create()))
		goto fail;
	w->tick.fn = worker_tick;
	loop_tick_add(w->loop, &w->tick);
	w->policy_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->policy_efd < 0) {
		err = errno;
		goto fail;
	}
	w->policy_h.fn = on_policy;
	err = -loop_add(w->loop, w->policy_efd, EPOLLIN, &w->policy_h);
	if (err)
		goto fail;
	err = -zt_listeners_start(w, fds, fds6);
	if (!err)
		err = opts->udp_worker ? -zt_udp_start(w, opts->udp_fd, opts->udp6_fd) : 0;
	if (err)
		goto fail;
	err = -mesh_state_subscribe(st, worker_wake, w);
	if (err)
		goto fail;
	zt_inpod_worker_add(w, worker_wake, w);
	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err) {
		mesh_state_unsubscribe(st, worker_wake, w);
		zt_inpod_worker_remove(w);
		goto fail;
	}
	return w;
fail:
	if (w->loop) {
		zt_udp_stop(w);
		zt_listeners_stop(w);
	}
	hbone_pool_destroy(w->pool);
	splice_set_destroy(w->splices);
	authz_tracker_destroy(w->tracker);
	loop_destroy(w->loop);
	if (w->policy_efd >= 0)
		close(w->policy_efd);
	free(w);
	errno = err;
	return NULL;
}

int zt_worker_drain(struct zt_worker *w)
{
	if (!w)
		return 0;
	atomic_store(&w->drain_req, true);
	worker_wake(w);
	/* The worker answers within one loop round; 5 s is a worker that hangs. */
	for (int i = 0; i < 500 && !atomic_load(&w->drained); i++)
		usleep(10000);
	return atomic_load(&w->drained) ? 0 : -ETIMEDOUT;
}

void zt_worker_stop(struct zt_worker *w)
{
	if (!w)
		return;
	mesh_state_unsubscribe(w->st, worker_wake, w);
	zt_inpod_worker_remove(w);
	loop_stop(w->loop);
	pthread_join(w->thread, NULL);
	/* Held connections fail for good now: those in HBONE through the pool, the rest here. */
	w->stopping = true;
	/* The pool's connections close through the tracker's hooks: destroy it after them. */
	hbone_pool_destroy(w->pool);
	splice_set_destroy(w->splices);
	zt_udp_stop(w);
	zt_outbound_stop(w);
	zt_inbound_stop(w);
	authz_tracker_destroy(w->tracker);
	zt_listeners_stop(w);
	loop_destroy(w->loop);
	zt_inpod_worker_free(w);
	close(w->policy_efd);
	free(w);
}
