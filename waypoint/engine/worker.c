// SPDX-License-Identifier: Apache-2.0
/* The waypoint's worker threads (worker.h). */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "ambit/log.h"
#include "../cluster.h"
#include "../config.h"
#include "hbone/hbone.h"
#include "../mesh.h"
#include "proxy.h"
#include "proxy_pp.h"
#include "net/sock.h"
#include "hbone/transport_hbone.h"
#include "worker.h"
#include "../remote.h"

#define ACCEPT_PAUSE_MS 100
/* Idle connections closed at once when accept() runs out of descriptors. */
#define RECLAIM_BATCH 32

struct wlistener {
	struct loop_handler h;
	struct wp_worker *w;
	struct wp_listener l;
	struct loop_timer resume; /* paused for want of file descriptors */
	bool added;
};

struct wp_worker {
	struct loop *loop;
	struct wp_mesh *mesh;	 /* NULL: plain TCP both ways */
	struct hbone_pool *pool; /* in the mesh: HBONE in and out */
	struct connector *cn;
	struct connector *tcp_cn; /* an east-west gateway's onward legs: plain TCP */
	struct wp_engine *e;
	struct wp_stats *stats;
	struct wp_pp_set pp; /* accepted, waiting for their PROXY header */
	pthread_t thread;
	int efd;
	struct loop_handler ctl;
	struct loop_timer sweep;
	size_t n;
	struct wlistener *ls; /* room for WP_MAX_LISTENERS */
	/* Listeners handed over by the main thread (a gateway's new ports), under @lock. */
	pthread_mutex_t lock;
	size_t n_new;
	struct wp_listener fresh[WP_MAX_LISTENERS];
	struct wp_gen *pending; /* atomic: handed over by the main thread */
	int drain;		/* atomic */
	size_t active;		/* atomic: for wp_worker_active */
	size_t reqs_peak;	/* atomic: for wp_worker_requests_peak */
};

static void listener_add(struct wlistener *li)
{
	if (!li->added && loop_add(li->w->loop, li->l.fd, EPOLLIN | EPOLLEXCLUSIVE, &li->h) == 0)
		li->added = true;
}

static void listener_del(struct wlistener *li)
{
	if (li->added)
		loop_del(li->w->loop, li->l.fd);
	li->added = false;
	loop_timer_cancel(li->w->loop, &li->resume);
}

static void on_resume(struct loop_timer *t)
{
	struct wlistener *li = (struct wlistener *)((char *)t - offsetof(struct wlistener, resume));

	if (!__atomic_load_n(&li->w->drain, __ATOMIC_ACQUIRE))
		listener_add(li);
}

/*
 * "<name>:<port>" (not an address) into @host and *@port: the Service an east-west gateway's
 * CONNECT names. 0, or -EINVAL.
 */
static int host_authority(const char *authority, char *host, size_t len, uint16_t *port)
{
	const char *colon = authority ? strrchr(authority, ':') : NULL;
	unsigned long p;
	size_t n;
	char *end;

	if (!colon || colon == authority || authority[0] == '[' || !colon[1])
		return -EINVAL;
	n = (size_t)(colon - authority);
	if (n >= len || memchr(authority, ':', n) || strspn(authority, "0123456789.") == n)
		return -EINVAL;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (*end || errno || !p || p > 65535)
		return -EINVAL;
	memcpy(host, authority, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/*
 * A CONNECT to an east-west gateway (Istio's double HBONE, the outer tunnel): its :authority is
 * `<Service hostname>:<port>`; what it carries, the inner tunnel (TLS from the client's ztunnel
 * to the destination's), goes on as it is to one of that Service's endpoints at 15008, or to
 * its waypoint's unless the stream comes from a waypoint (Istio's `x-istio-source: waypoint`:
 * L7 ran there, once). The gateway sees no plaintext, and only mesh identities reach here (the
 * HBONE server's mTLS).
 */
static int on_connect_east_west(struct wp_worker *w, const struct hbone_request *req,
				struct hbone_upstream *up, struct transport_peer *peer)
{
	const char *src = h2_header_get(req->headers, req->nheaders, "x-istio-source");
	bool from_wp = src && !strcmp(src, "waypoint");
	const struct wp_gen *g = wp_engine_gen(w->e);
	struct transport *t;
	char host[256];
	int svc;

	if (host_authority(req->authority, host, sizeof(host), &peer->dest_port))
		return 400;
	peer->dest_host = host;
	/* No address was named: the endpoints of the stream's own family. */
	peer->dest_ip.family = req->local.sa.sa_family == AF_INET6 ? AF_INET6 : AF_INET;
	/* A Service or port this cluster does not have: no route (Envoy's NR), before a 200. */
	svc = wp_gen_service(g, host, NULL);
	if (svc < 0 || !wp_gen_east_west(g, svc, peer->dest_port, wp_peer_v6(peer), from_wp))
		return 404;
	t = transport_hbone_accepted(w->loop, peer, up);
	if (!t)
		return 503;
	if (wp_engine_serve_east_west(w->e, t, from_wp)) {
		up->end = NULL;
		up->end_arg = NULL;
		transport_hbone_refused(t);
		return 503;
	}
	return 0;
}

/*
 * A CONNECT to the waypoint: its :authority is the original destination (a Service VIP:port,
 * or a pod's address), forwarded host= the Service the client addressed, for= the client. It
 * becomes a downstream connection of the engine, which routes it (no service: 404 NR). From
 * another network, through its gateway (Istio's double HBONE, the inner CONNECT), the authority
 * is `<Service hostname>:<port>` and for= an address of that network, which names nobody here.
 */
static int on_connect(void *user, const struct hbone_request *req, struct hbone_upstream *up)
{
	struct wp_worker *w = user;
	struct transport_peer peer = {.identity = (char *)req->peer_identity,
				      .mtls = true,
				      .local = req->local,
				      .client = req->peer};
	const char *net = h2_header_get(req->headers, req->nheaders, "x-forwarded-network");
	const struct wp_gen *g = wp_engine_gen(w->e);
	union sockaddr_inet dst, client;
	struct transport *t;
	char host[256];
	bool foreign;

	/*
	 * Draining: a CONNECT refused before it is established is one the client's ztunnel tries
	 * again (on a new connection, to the instance that replaces this one); accepted, it would
	 * be an idle downstream the drain closes with the client's request already sent.
	 */
	if (__atomic_load_n(&w->drain, __ATOMIC_ACQUIRE))
		return 503;
	peer.baggage = (char *)h2_header_get(req->headers, req->nheaders, "baggage");
	if (g->l7->east_west)
		return on_connect_east_west(w, req, up, &peer);
	foreign = net && *net && strcmp(net, g->network ? g->network : "");
	/* "ip:port" or "[v6]:port": a Service VIP of either family, or a pod's address. */
	if (!sock_parse_authority(req->authority, &dst) &&
	    !sockaddr_inet_to_ipaddr(&dst, &peer.dest_ip)) {
		peer.dest_port = sockaddr_inet_port(&dst);
		if (req->forwarded &&
		    sock_parse_forwarded_host(req->forwarded, host, sizeof(host)) == 0)
			peer.dest_host = host;
	} else if (foreign &&
		   !host_authority(req->authority, host, sizeof(host), &peer.dest_port)) {
		/* The Service by name; the endpoints of the stream's own family. */
		peer.dest_host = host;
		peer.dest_ip.family = req->local.sa.sa_family == AF_INET6 ? AF_INET6 : AF_INET;
	} else {
		return 400;
	}
	/* for= of either family: the client's ztunnel sends for="[v6]:port" for an IPv6 one. */
	if (!foreign && req->forwarded && sock_parse_forwarded_for(req->forwarded, &client) == 0)
		peer.client = client;
	/* A UDP flow from this cluster's ztunnels (not carried between networks). */
	if (req->udp)
		return foreign ? 400 : wp_engine_serve_udp(w->e, req, up, &peer);
	t = transport_hbone_accepted(w->loop, &peer, up);
	if (!t)
		return 503;
	if (wp_engine_serve(w->e, t)) {
		/* The engine closed it: the CONNECT is refused, the stream never exists. */
		up->end = NULL;
		up->end_arg = NULL;
		transport_hbone_refused(t);
		return 503;
	}
	return 0;
}

static void accept_hbone(struct wp_worker *w, int fd)
{
	struct tls_ctx *ctx = wp_mesh_server_ctx(w->mesh);

	if (!ctx) {
		pr_warn("waypoint: no certificate yet: connection refused");
		sock_close_reset(fd);
		return;
	}
	if (hbone_server_start(w->pool, fd, ctx, on_connect, w, NULL))
		pr_warn("waypoint: cannot serve an HBONE connection: out of memory");
	tls_ctx_put(ctx);
}

/* A gateway listener's connection @fd (taken), its PROXY header read when there is one. */
static void serve_accepted(void *arg, int fd, const struct transport_peer *peer)
{
	struct wlistener *li = arg;
	struct transport *t;

	t = li->l.tls ? transport_tls_new(li->w->loop, fd, li->l.tls, peer)
		      : transport_tcp_new(li->w->loop, fd, peer);
	if (t)
		wp_engine_serve(li->w->e, t);
}

static void on_accept(struct loop_handler *h, uint32_t events)
{
	struct wlistener *li = (struct wlistener *)((char *)h - offsetof(struct wlistener, h));
	struct wp_worker *w = li->w;

	for (int k = 0; k < 32; k++) {
		struct transport_peer peer = {0};
		socklen_t sl = sizeof(peer.client);
		int one = 1, fd;

		fd = accept4(li->l.fd, &peer.client.sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* Shut down by the drain: nothing more will come from it. */
			if (errno == EINVAL) {
				listener_del(li);
				return;
			}
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/*
				 * Idle connections would hold every descriptor until their
				 * timeouts (60 s of request headers) while good clients wait in
				 * the backlog: the oldest idle ones go and the new one is taken
				 * now, as nginx drains its reusable connections.
				 */
				if (wp_engine_reclaim(w->e, RECLAIM_BATCH)) {
					pr_warn("waypoint: accept: out of file descriptors: closed "
						"idle connections, oldest first");
					continue;
				}
				/* Level-triggered: without a pause the loop would spin on it. */
				pr_warn("waypoint: accept: %s: pausing the listener %d ms",
					strerror(errno), ACCEPT_PAUSE_MS);
				listener_del(li);
				loop_timer_arm(w->loop, &li->resume, ACCEPT_PAUSE_MS);
			}
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (li->l.hbone) {
			accept_hbone(w, fd);
			continue;
		}
		sl = sizeof(peer.local);
		getsockname(fd, &peer.local.sa, &sl);
		peer.dest_host = (char *)li->l.host;
		peer.dest_port = li->l.port;
		peer.tls = li->l.tls != NULL;
		/* Before anything reads the socket: the header precedes a TLS ClientHello too. */
		if (wp_engine_proxy_protocol(w->e, li->l.port))
			wp_pp_start(&w->pp, fd, &peer, serve_accepted, li);
		else
			serve_accepted(li, fd, &peer);
	}
}

/*
 * A gateway is the client workload of what it sends into the mesh: it says so as a ztunnel says
 * it of its pods, so that a waypoint on the way labels it (its own metrics name it so too:
 * proxy_labels.c), in generation @g's cluster. For the CONNECTs opened from now on (on @w's
 * loop, or before it runs). 0 or -ENOMEM (the baggage as it was).
 */
static int gateway_baggage(struct wp_worker *w, const struct wp_gen *g)
{
	char *bag;
	int err;

	if (!w->mesh || !g->l7->gateway || !g->l7->waypoint_name)
		return 0;
	if (asprintf(&bag,
		     "k8s.cluster.name=%s,k8s.namespace.name=%s,k8s.deployment.name=%s,"
		     "service.name=%s,service.version=latest",
		     g->cluster_id, g->l7->waypoint_namespace, g->l7->waypoint_name,
		     g->l7->waypoint_name) < 0)
		return -ENOMEM;
	err = connector_hbone_set_baggage(w->cn, bag);
	free(bag);
	return err;
}

static void on_ctl(struct loop_handler *h, uint32_t events)
{
	struct wp_worker *w = (struct wp_worker *)((char *)h - offsetof(struct wp_worker, ctl));
	struct wp_gen *g;
	uint64_t v;

	if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->n_new; i++) {
		struct wlistener *li = &w->ls[w->n];

		li->w = w;
		li->l = w->fresh[i];
		li->h.fn = on_accept;
		li->resume.fn = on_resume;
		w->n++;
		if (!__atomic_load_n(&w->drain, __ATOMIC_ACQUIRE))
			listener_add(li);
	}
	w->n_new = 0;
	pthread_mutex_unlock(&w->lock);
	g = __atomic_exchange_n(&w->pending, NULL, __ATOMIC_ACQ_REL);
	if (g) {
		/* A snapshot may move the gateway to another cluster id. */
		if (gateway_baggage(w, g))
			pr_warn("waypoint: out of memory: the gateway's baggage stays as it was");
		wp_engine_set_gen(w->e, g);
		wp_gen_put(g);
	}
	if (__atomic_load_n(&w->drain, __ATOMIC_ACQUIRE)) {
		for (size_t i = 0; i < w->n; i++)
			listener_del(&w->ls[i]);
		wp_pp_close_all(&w->pp);
		wp_engine_drain(w->e);
	}
}

/* Outlier sweeps, and the count the main thread reads while draining. */
static void on_sweep(struct loop_timer *t)
{
	struct wp_worker *w = (struct wp_worker *)((char *)t - offsetof(struct wp_worker, sweep));

	size_t reqs, peak;

	wp_engine_sweep(w->e);
	__atomic_store_n(&w->active, wp_engine_active(w->e), __ATOMIC_RELEASE);
	reqs = wp_engine_requests(w->e);
	peak = __atomic_load_n(&w->reqs_peak, __ATOMIC_RELAXED);
	while (reqs > peak && !__atomic_compare_exchange_n(&w->reqs_peak, &peak, reqs, false,
							   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	loop_timer_arm(w->loop, &w->sweep, 100);
}

static void *worker_main(void *arg)
{
	struct wp_worker *w = arg;
	int err = loop_run(w->loop);

	if (err)
		pr_err("waypoint worker loop failed: %s", strerror(-err));
	return NULL;
}

/*
 * A gateway's destinations that go through their waypoint (l7_config.tunnels): a VIP is opened
 * to one of the waypoint's instances of its family, chosen at random as a ztunnel spreads over
 * a waypoint's. The tunnels are those of the generation new requests take; it changes only on
 * this worker's loop, where opens run, so no lock is needed.
 */
static int via_tunnel(void *arg, const union sockaddr_inet *dst, union sockaddr_inet *via)
{
	struct wp_worker *w = arg;
	const struct l7_config *l7 = w->e ? wp_engine_gen(w->e)->l7 : NULL;
	const struct l7_tunnel *t;
	struct ipaddr a6;

	if (dst->sa.sa_family == AF_INET) {
		t = l7_config_tunnel(l7, dst->v4.sin_addr.s_addr);
		if (!t)
			return 1;
		if (!t->n_ips)
			return -EHOSTUNREACH;
		via->v4.sin_addr.s_addr = t->ips[wp_random() % t->n_ips];
		return 0;
	}
	t = ipaddr_from_sockaddr(&a6, &dst->sa) ? NULL : l7_config_tunnel6(l7, &a6);
	if (!t)
		return 1;
	if (!t->n_ips6)
		return -EHOSTUNREACH;
	memcpy(&via->v6.sin6_addr, t->ips6[wp_random() % t->n_ips6].a, 16);
	return 0;
}

/*
 * The connector's remote hook: a host of another network (remote.h) is reached through one of
 * its network's gateways, taken at random per open, as the via hook takes a tunnel's address.
 */
static int via_remote(void *arg, const union sockaddr_inet *dst, struct hbone_remote *out)
{
	struct wp_worker *w = arg;
	const struct wp_gen *g = w->e ? wp_engine_gen(w->e) : NULL;
	const struct wp_remote_host *h = g ? wp_remote_find(g->remotes, dst) : NULL;
	const struct wp_remote_gateway *gw;

	if (!h)
		return 1;
	if (!h->n_gateways)
		return -EHOSTUNREACH;
	gw = &g->remotes->gateways[h->first_gateway + wp_random() % h->n_gateways];
	out->gateway = gw->addr;
	out->gateway_san = gw->identity;
	out->hostname = h->hostname;
	out->sans = h->sans;
	out->network = *g->remotes->network ? g->remotes->network : NULL;
	out->slot = h->slot;
	return 0;
}

int wp_listen_any6(uint16_t port)
{
	union sockaddr_inet a = {.v6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)}};

	return sock_listen_at(&a, false);
}

/*
 * The pod's own global IPv6 address, in @buf: @pod_ip itself when it is one (a pod of IPv6
 * alone), else the first one on the interface holding @pod_ip (a dual-stack pod's eth0). 0, or
 * -ENOENT when there is none (an IPv4 pod, or no POD_IP).
 */
static int wp_self6(const char *pod_ip, char *buf, size_t len)
{
	struct ifaddrs *all, *i;
	char ifname[IF_NAMESIZE] = "";
	struct in6_addr p6;
	struct in_addr a4;
	int ret = -ENOENT;

	/* A pod of IPv6 alone: POD_IP is that address. */
	if (pod_ip && inet_pton(AF_INET6, pod_ip, &p6) == 1)
		return inet_ntop(AF_INET6, &p6, buf, (socklen_t)len) ? 0 : -ENOENT;
	if (!pod_ip || inet_pton(AF_INET, pod_ip, &a4) != 1 || getifaddrs(&all))
		return -ENOENT;
	for (i = all; i && !ifname[0]; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == a4.s_addr)
			snprintf(ifname, sizeof(ifname), "%s", i->ifa_name);
	for (i = all; i && ifname[0] && ret; i = i->ifa_next) {
		const struct in6_addr *a6;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET6 ||
		    strcmp(i->ifa_name, ifname))
			continue;
		a6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		if (IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_LOOPBACK(a6) ||
		    IN6_IS_ADDR_V4MAPPED(a6))
			continue;
		if (inet_ntop(AF_INET6, a6, buf, (socklen_t)len))
			ret = 0;
	}
	freeifaddrs(all);
	return ret;
}

int wp_self_addrs(const char *pod_ip, const char **self4, char *self6, size_t len)
{
	struct in_addr a4;

	*self4 = pod_ip && inet_pton(AF_INET, pod_ip, &a4) == 1 ? pod_ip : NULL;
	return wp_self6(pod_ip, self6, len);
}

struct wp_worker *wp_worker_start(struct wp_gen *gen, const struct wp_listener *ls, size_t n,
				  const struct wp_worker_opts *o)
{
	struct wp_worker *w = calloc(1, sizeof(*w));
	struct wp_engine_opts eo = {.log_fd = o->log_fd,
				    .log_json = o->log_json,
				    .shadow_suffix = o->shadow_suffix,
				    .hcm = o->hcm};

	if (!w || n > WP_MAX_LISTENERS) {
		free(w);
		errno = EINVAL;
		return NULL;
	}
	w->efd = -1;
	pthread_mutex_init(&w->lock, NULL);
	w->loop = loop_create();
	w->ls = calloc(WP_MAX_LISTENERS, sizeof(*w->ls));
	w->stats = wp_stats_new();
	w->mesh = o->mesh;
	w->pp.loop = w->loop;
	if (!w->loop || !w->ls || !w->stats)
		goto fail;
	if (w->mesh) {
		char self6[INET6_ADDRSTRLEN];
		const char *self4;
		int has6 = wp_self_addrs(getenv("POD_IP"), &self4, self6, sizeof(self6));
		struct hbone_limits lim;

		/*
		 * An HBONE stream into the waypoint has no idle deadline of its own: what it
		 * carries does, HTTP's (--idle-timeout, --stream-idle-timeout) or TCP's (the
		 * destination's connectionPool.tcp.idleTimeout), and the ztunnel's one would
		 * override a DestinationRule that asks for longer.
		 */
		hbone_limits_default(&lim);
		lim.stream_idle_s = 0;
		/* CONNECT-UDP from the ztunnels: the flows to Services bound here (proxy_udp.c). */
		lim.udp = !gen->l7->east_west && !gen->l7->gateway;
		w->pool = hbone_pool_create(w->loop, &lim);
		/* The destinations see the waypoint's address, as in Istio (its pod IP). */
		w->cn = w->pool ? connector_hbone_new(w->loop, w->pool, L7_HBONE_PORT, self4,
						      wp_mesh_creds, w->mesh)
				: NULL;
		if (w->cn) {
			connector_hbone_set_via(w->cn, via_tunnel, w);
			connector_hbone_set_remote(w->cn, via_remote, w);
		}
		/* A dual-stack pod, or one of IPv6 alone: what IPv6 destinations see. */
		if (w->cn && has6 == 0 && connector_hbone_set_self6(w->cn, self6)) {
			connector_destroy(w->cn);
			w->cn = NULL;
		}
		if (w->cn && gateway_baggage(w, gen))
			goto fail;
		/* An east-west gateway's legs onward carry the inner tunnel as it is. */
		if (w->cn && !(w->tcp_cn = connector_tcp_new(w->loop)))
			goto fail;
	} else {
		w->cn = connector_tcp_new(w->loop);
	}
	if (!w->cn)
		goto fail;
	eo.cn = w->cn;
	eo.tcp_cn = w->tcp_cn;
	eo.stats = w->stats;
	w->e = wp_engine_new(w->loop, gen, &eo);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!w->e || w->efd < 0)
		goto fail;
	w->ctl.fn = on_ctl;
	if (loop_add(w->loop, w->efd, EPOLLIN, &w->ctl))
		goto fail;
	w->n = n;
	for (size_t i = 0; i < n; i++) {
		/* An HBONE listener needs the mesh (its certificate and pool). */
		if (ls[i].hbone && !w->mesh)
			goto fail;
		w->ls[i].w = w;
		w->ls[i].l = ls[i];
		w->ls[i].h.fn = on_accept;
		w->ls[i].resume.fn = on_resume;
		listener_add(&w->ls[i]);
		if (!w->ls[i].added)
			goto fail;
	}
	w->sweep.fn = on_sweep;
	loop_timer_arm(w->loop, &w->sweep, 100);
	if (pthread_create(&w->thread, NULL, worker_main, w))
		goto fail;
	return w;
fail:
	for (size_t i = 0; w->ls && i < n; i++)
		if (w->ls[i].w)
			listener_del(&w->ls[i]);
	wp_engine_destroy(w->e);
	connector_destroy(w->cn);
	connector_destroy(w->tcp_cn);
	hbone_pool_destroy(w->pool);
	wp_stats_free(w->stats);
	if (w->efd >= 0)
		close(w->efd);
	loop_destroy(w->loop);
	free(w->ls);
	pthread_mutex_destroy(&w->lock);
	free(w);
	errno = ENOMEM;
	return NULL;
}

static void wake(struct wp_worker *w)
{
	uint64_t one = 1;

	if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("waypoint: worker wake-up failed: %s", strerror(errno));
}

void wp_worker_set_gen(struct wp_worker *w, struct wp_gen *gen)
{
	struct wp_gen *old = __atomic_exchange_n(&w->pending, wp_gen_get(gen), __ATOMIC_ACQ_REL);

	wp_gen_put(old);
	wake(w);
}

int wp_worker_add_listener(struct wp_worker *w, const struct wp_listener *l)
{
	int err = 0;

	pthread_mutex_lock(&w->lock);
	if (w->n + w->n_new >= WP_MAX_LISTENERS || l->hbone)
		err = -ENOSPC;
	else
		w->fresh[w->n_new++] = *l;
	pthread_mutex_unlock(&w->lock);
	if (!err)
		wake(w);
	return err;
}

void wp_worker_drain(struct wp_worker *w)
{
	__atomic_store_n(&w->drain, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&w->active, 1, __ATOMIC_RELEASE); /* until the worker counts again */
	/*
	 * The listening sockets stop listening now (shutdown, not close: the workers still have
	 * them in their loops): a client connecting is refused at once and tries again, where a
	 * socket only left unread would queue it until the exit resets it, too late for a retry.
	 */
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->n; i++)
		shutdown(w->ls[i].l.fd, SHUT_RD);
	for (size_t i = 0; i < w->n_new; i++)
		shutdown(w->fresh[i].fd, SHUT_RD);
	pthread_mutex_unlock(&w->lock);
	wake(w);
}

size_t wp_worker_active(struct wp_worker *w)
{
	return __atomic_load_n(&w->active, __ATOMIC_ACQUIRE);
}

size_t wp_worker_requests_peak(struct wp_worker *w)
{
	return __atomic_exchange_n(&w->reqs_peak, 0, __ATOMIC_RELAXED);
}

struct wp_stats *wp_worker_stats(struct wp_worker *w)
{
	return w->stats;
}

void wp_worker_stop(struct wp_worker *w)
{
	if (!w)
		return;
	loop_stop(w->loop);
	pthread_join(w->thread, NULL);
	for (size_t i = 0; i < w->n; i++)
		listener_del(&w->ls[i]);
	loop_timer_cancel(w->loop, &w->sweep);
	wp_pp_close_all(&w->pp);
	wp_engine_destroy(w->e);
	connector_destroy(w->cn);
	connector_destroy(w->tcp_cn);
	/* After the engine: its transports' streams end with the pool's connections. */
	hbone_pool_destroy(w->pool);
	wp_gen_put(__atomic_exchange_n(&w->pending, NULL, __ATOMIC_ACQ_REL));
	close(w->efd);
	loop_destroy(w->loop);
	wp_stats_free(w->stats);
	free(w->ls);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
