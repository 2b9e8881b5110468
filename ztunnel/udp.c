// SPDX-License-Identifier: Apache-2.0
/*
 * UDP flows through the ztunnel (udp.h). Either way a flow is a socket connected to the pod,
 * spliced datagram by datagram to a CONNECT-UDP stream (hbone_udp.h): inbound, the pod's end of
 * a stream 15008 accepted; outbound, a stream this node opens for a pod's datagrams, whose socket
 * is bound to the pod's destination so the pod's next datagrams and the answers it is sent
 * belong to it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <bpf/bpf.h>

#include "ambit/bpf_abi.h"
#include "ambit/log.h"
#include "authz.h"
#include "hbone/hbone.h"
#include "hbone/hbone_udp.h"
#include "inpod.h"
#include "metrics.h"
#include "net/sock.h"
#include "proxy_priv.h"
#include "record.h"
#include "udp.h"

#ifndef container_of
#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))
#endif

/* Datagrams read from a socket per wake-up before the others' turn. */
#define RX_BATCH 64
/* Datagrams one recvmmsg takes, and one sendmmsg gives. */
#define IO_VLEN 16
/* Datagrams for the pods held in a batch of events, and their bytes, before they go. */
#define TX_MAX 64
#define TX_BYTES (256 * 1024)
#define DGRAM_MAX 65536
/* Datagrams sent as one offloaded run: each at most a 1,500-byte MTU's, all within 60,000. */
#define GSO_SEG_MAX 1452
#define GSO_BYTES_MAX 60000
/* Buckets of a worker's outbound flows, by pod address and destination. */
#define OUT_BUCKETS 1024

/* A 15001/udp listener: the node's (IPv4's, or IPv6's), or an in-pod pod's. */
struct zt_udp_listener {
	struct loop_handler h;
	struct zt_udp_out *o;
	int fd; /* borrowed; 0 or -1: none */
};

struct zt_udp_flow {
	struct loop_handler h;
	struct loop_timer idle;
	LIST_ENTRY(zt_udp_flow) link; /* in the worker's inbound list or an outbound bucket */
	struct zt_worker *w;
	struct hbone_udp *f;	       /* the far side, or none for a flow within the node: */
	struct loop_handler h2;	       /* ... its destination pod's socket */
	int fd2;		       /* bound to the client, connected to that pod; or -1 */
	int fd;			       /* connected to the pod */
	bool outbound;		       /* opened for the pod (else accepted for it) */
	bool replied;		       /* the far side answered: the longer idle time */
	uint64_t last_ms;	       /* a datagram either way */
	union sockaddr_inet pod, peer; /* outbound: the pod's address and where it sent */
	TAILQ_ENTRY(zt_udp_flow) lru;  /* outbound: least recently active first */
	uint64_t lru_ms;	       /* when it last moved to the tail */
	struct id_count *id;	       /* outbound: its pod's identity's count */
	struct connrec *rec;	       /* outbound: Istio's source-side record (or NULL) */
	struct connrec *rec_dst;       /* within the node: the destination's record too */
	char name[2 * SOCKADDR_INET_STRLEN + 4];
};

LIST_HEAD(zt_udp_bucket, zt_udp_flow);

/* The outbound flows of one identity (the pods of a service account on the node). */
struct id_count {
	LIST_ENTRY(id_count) link;
	unsigned int n;
	char id[];
};

struct zt_udp_out;

/*
 * A worker's room for its flows' datagrams, so a wake-up costs system calls by the batch, not
 * by the datagram: recvmmsg's buffers, and the datagrams for the pods that a batch of events
 * brought (a TLS record holds many), sent when it is over (loop_queue), a flow's together by
 * sendmmsg. Its pages are touched only as datagrams fill them (calloc's are the kernel's zero
 * pages until then).
 */
struct zt_udp_io {
	uint8_t rx[IO_VLEN][DGRAM_MAX];
	struct loop_task flush;
	size_t n, used;
	struct {
		struct zt_udp_flow *fl; /* NULL: its flow ended before it went */
		size_t off, len;
	} tx[TX_MAX];
	uint8_t txb[TX_BYTES];
};

struct zt_udp_out {
	struct zt_udp_listener ls[2]; /* IPv4, IPv6 */
	struct zt_worker *w;
	struct zt_udp_bucket buckets[OUT_BUCKETS];
	TAILQ_HEAD(zt_udp_lru, zt_udp_flow) lru;
	size_t n;				     /* outbound flows */
	LIST_HEAD(, id_count) ids[OUT_BUCKETS / 16]; /* by identity */
	uint64_t reclaim_log_ms;		     /* a reclaim is logged once a second */
};

static struct {
	atomic_uint_fast64_t flows_opened, flows_closed, flows_idle, flows_refused, flows_reclaimed;
	atomic_uint_fast64_t to_pod, to_pod_dropped, from_pod, from_pod_dropped;
} counts;

void zt_udp_limits_default(struct zt_udp_limits *l)
{
	*l = (struct zt_udp_limits){
	    .idle_s = 30, .stream_idle_s = 120, .max_flows = 16384, .max_flows_per_identity = 2048};
}

void zt_udp_counts(struct zt_udp_counts *out)
{
	*out = (struct zt_udp_counts){
	    .flows_opened = atomic_load(&counts.flows_opened),
	    .flows_closed = atomic_load(&counts.flows_closed),
	    .flows_idle = atomic_load(&counts.flows_idle),
	    .flows_refused = atomic_load(&counts.flows_refused),
	    .flows_reclaimed = atomic_load(&counts.flows_reclaimed),
	    .to_pod = atomic_load(&counts.to_pod),
	    .to_pod_dropped = atomic_load(&counts.to_pod_dropped),
	    .from_pod = atomic_load(&counts.from_pod),
	    .from_pod_dropped = atomic_load(&counts.from_pod_dropped),
	};
}

char *zt_udp_render(void)
{
	struct zt_udp_counts c;
	char *out = NULL;

	zt_udp_counts(&c);
	if (asprintf(&out,
		     "# HELP ambit_udp_flows_total UDP flows through the ztunnel (docs/udp.md): "
		     "opened, closed, closed for idling, refused (no flow opened), reclaimed at a "
		     "cap.\n"
		     "# TYPE ambit_udp_flows_total counter\n"
		     "ambit_udp_flows_total{event=\"opened\"} %llu\n"
		     "ambit_udp_flows_total{event=\"closed\"} %llu\n"
		     "ambit_udp_flows_total{event=\"idle\"} %llu\n"
		     "ambit_udp_flows_total{event=\"refused\"} %llu\n"
		     "ambit_udp_flows_total{event=\"reclaimed\"} %llu\n"
		     "# HELP ambit_udp_datagrams_total UDP datagrams the ztunnel's flows carried, "
		     "by way (to a pod, from a pod) and whether they were dropped (a full flow or "
		     "socket).\n"
		     "# TYPE ambit_udp_datagrams_total counter\n"
		     "ambit_udp_datagrams_total{way=\"to_pod\",dropped=\"false\"} %llu\n"
		     "ambit_udp_datagrams_total{way=\"to_pod\",dropped=\"true\"} %llu\n"
		     "ambit_udp_datagrams_total{way=\"from_pod\",dropped=\"false\"} %llu\n"
		     "ambit_udp_datagrams_total{way=\"from_pod\",dropped=\"true\"} %llu\n",
		     (unsigned long long)c.flows_opened, (unsigned long long)c.flows_closed,
		     (unsigned long long)c.flows_idle, (unsigned long long)c.flows_refused,
		     (unsigned long long)c.flows_reclaimed, (unsigned long long)c.to_pod,
		     (unsigned long long)c.to_pod_dropped, (unsigned long long)c.from_pod,
		     (unsigned long long)c.from_pod_dropped) < 0)
		return NULL;
	return out;
}

static void flow_free(void *p)
{
	free(p);
}

/* What of @fl's @io holds for its pod goes with it, lost as UDP loses it. */
static void tx_forget(struct zt_udp_io *io, const struct zt_udp_flow *fl)
{
	for (size_t i = 0; io && i < io->n; i++) {
		if (io->tx[i].fl != fl)
			continue;
		io->tx[i].fl = NULL;
		atomic_fetch_add(&counts.to_pod_dropped, 1);
	}
}

/*
 * A run of @k datagrams (@iov) of one size (the last no longer) as one segmentation-offload send
 * (UDP_SEGMENT): the kernel cuts it into those datagrams, one pass down the stack for all. How
 * many went (all or none), or -1 when it cannot be so sent (sizes, a path MTU below the size,
 * no offload): then each goes on its own.
 */
static int tx_gso(int fd, struct iovec *iov, unsigned int k)
{
	char cbuf[CMSG_SPACE(sizeof(uint16_t))] = {0};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = k};
	size_t total = 0;
	struct cmsghdr *c;
	uint16_t seg;

	if (k < 2 || iov[0].iov_len > GSO_SEG_MAX)
		return -1;
	for (unsigned int i = 0; i < k; i++) {
		if (iov[i].iov_len > iov[0].iov_len ||
		    (i < k - 1 && iov[i].iov_len != iov[0].iov_len))
			return -1;
		total += iov[i].iov_len;
	}
	if (total > GSO_BYTES_MAX)
		return -1;
	seg = (uint16_t)iov[0].iov_len;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	if (sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return (int)k;
	/* A full socket is a full socket: the datagrams one by one would fare no better. */
	return errno == EAGAIN ? 0 : -1;
}

/*
 * The datagrams held for the pods go, in order, each flow's run of them together to its socket
 * (tx_gso, else one sendmmsg); what a full socket does not take is UDP's loss, counted.
 */
static void tx_flush(struct zt_udp_io *io)
{
	struct mmsghdr mm[IO_VLEN];
	struct iovec iov[IO_VLEN];

	for (size_t i = 0; i < io->n;) {
		struct zt_udp_flow *fl = io->tx[i].fl;
		unsigned int k = 0;
		int sent;

		if (!fl) {
			i++;
			continue;
		}
		for (; i + k < io->n && k < IO_VLEN && io->tx[i + k].fl == fl; k++) {
			iov[k] = (struct iovec){io->txb + io->tx[i + k].off, io->tx[i + k].len};
			mm[k] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[k], .msg_iovlen = 1}};
		}
		sent = tx_gso(fl->fd, iov, k);
		if (sent < 0)
			sent = sendmmsg(fl->fd, mm, k, MSG_DONTWAIT | MSG_NOSIGNAL);
		for (unsigned int j = 0; j < k; j++) {
			if ((int)j >= sent) {
				atomic_fetch_add(&counts.to_pod_dropped, 1);
				continue;
			}
			atomic_fetch_add(&counts.to_pod, 1);
			connrec_bytes(fl->rec, false, io->tx[i + j].len);
			connrec_bytes(fl->rec_dst, false, io->tx[i + j].len);
		}
		i += k;
	}
	io->n = io->used = 0;
}

static void on_flush(struct loop_task *t)
{
	tx_flush(container_of(t, struct zt_udp_io, flush));
}

/* @w's room for datagrams, made when its first flow is: NULL without memory. */
static struct zt_udp_io *udp_io(struct zt_worker *w)
{
	if (!w->udp_io && (w->udp_io = calloc(1, sizeof(*w->udp_io))))
		w->udp_io->flush.fn = on_flush;
	return w->udp_io;
}

/* A datagram moved: the flow's idle time starts again, and it is no longer the oldest. */
static void touch(struct zt_udp_flow *fl)
{
	struct zt_udp_out *o = fl->w->udp_out;

	fl->last_ms = loop_now_ms(fl->w->loop);
	/* At most once a second: the order is that of activity to the second. */
	if (fl->id && o && fl->last_ms - fl->lru_ms >= 1000) {
		TAILQ_REMOVE(&o->lru, fl, lru);
		TAILQ_INSERT_TAIL(&o->lru, fl, lru);
		fl->lru_ms = fl->last_ms;
	}
}

/* Ends @fl: its socket closed, its stream reset if still up (@why for the log). */
static void flow_end(struct zt_udp_flow *fl, const char *why)
{
	struct loop *l = fl->w->loop;

	pr_debug("udp: flow %s ended: %s", fl->name, why);
	LIST_REMOVE(fl, link);
	tx_forget(fl->w->udp_io, fl);
	if (fl->id) {
		TAILQ_REMOVE(&fl->w->udp_out->lru, fl, lru);
		fl->w->udp_out->n--;
		if (!--fl->id->n) {
			LIST_REMOVE(fl->id, link);
			free(fl->id);
		}
		fl->id = NULL;
	}
	loop_timer_cancel(l, &fl->idle);
	fl->h.dead = true;
	loop_del(l, fl->fd);
	close(fl->fd);
	if (fl->fd2 >= 0) {
		fl->h2.dead = true;
		loop_del(l, fl->fd2);
		close(fl->fd2);
	}
	hbone_udp_free(fl->f);
	connrec_close(fl->rec, why);
	connrec_close(fl->rec_dst, why);
	atomic_fetch_add(&counts.flows_closed, 1);
	loop_defer_free(l, fl, flow_free);
}

static void to_pod(struct zt_udp_flow *fl, const uint8_t *p, size_t n);

/* The far side's datagram, to the pod. */
static void on_datagram(void *arg, struct hbone_udp *f, const uint8_t *p, size_t len)
{
	to_pod(arg, p, len);
}

static void on_closed(void *arg, struct hbone_udp *f, const char *reason)
{
	struct zt_udp_flow *fl = arg;

	/* A refused flow says so once; the pod's next datagram tries again. */
	if (fl->outbound && !hbone_udp_established(f) && hbone_udp_status(f) != 200)
		pr_info("udp: flow %s refused: %s", fl->name, reason);
	flow_end(fl, reason);
}

static const struct hbone_udp_ops flow_ops = {.datagram = on_datagram, .closed = on_closed};

/* A datagram the pod sent, to the far side: the other pod's socket within the node, or HBONE. */
static void from_pod(struct zt_udp_flow *fl, const uint8_t *p, size_t n)
{
	if (!fl->outbound)
		fl->replied = true;
	touch(fl);
	if (fl->fd2 >= 0 ? send(fl->fd2, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0
			 : hbone_udp_send(fl->f, p, n) != 0) {
		atomic_fetch_add(&counts.from_pod_dropped, 1);
		return;
	}
	atomic_fetch_add(&counts.from_pod, 1);
	connrec_bytes(fl->rec, true, n);
	connrec_bytes(fl->rec_dst, true, n);
}

/* A datagram for the pod, held until the batch of events is over (tx_flush). */
static void to_pod(struct zt_udp_flow *fl, const uint8_t *p, size_t n)
{
	struct zt_udp_io *io = fl->w->udp_io;

	if (fl->outbound)
		fl->replied = true;
	touch(fl);
	if (io->n == TX_MAX || io->used + n > TX_BYTES)
		tx_flush(io);
	memcpy(io->txb + io->used, p, n);
	io->tx[io->n].fl = fl;
	io->tx[io->n].off = io->used;
	io->tx[io->n++].len = n;
	io->used += n;
	loop_queue(fl->w->loop, &io->flush);
}

/*
 * Up to RX_BATCH datagrams of @fd, IO_VLEN a recvmmsg, each to @fn, until none is left (a
 * recvmmsg short of IO_VLEN: epoll says when more come) or @h's flow ended.
 */
static void read_batch(struct zt_udp_flow *fl, int fd, const struct loop_handler *h,
		       void (*fn)(struct zt_udp_flow *fl, const uint8_t *p, size_t n))
{
	struct zt_udp_io *io = fl->w->udp_io;
	struct mmsghdr mm[IO_VLEN];
	struct iovec iov[IO_VLEN];

	for (int done = 0; done < RX_BATCH && !h->dead;) {
		int n;

		for (int i = 0; i < IO_VLEN; i++) {
			iov[i] = (struct iovec){io->rx[i], DGRAM_MAX};
			mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		n = recvmmsg(fd, mm, IO_VLEN, MSG_DONTWAIT, NULL);
		if (n < 0) {
			/* A port the pod does not listen on (ICMP): the client's retries say so. */
			if (errno == EAGAIN || errno == EINTR)
				break;
			done++;
			continue;
		}
		for (int i = 0; i < n && !h->dead; i++)
			fn(fl, io->rx[i], mm[i].msg_len);
		done += n;
		if (n < IO_VLEN)
			break;
	}
}

static void on_pod(struct loop_handler *h, uint32_t events)
{
	struct zt_udp_flow *fl = container_of(h, struct zt_udp_flow, h);

	read_batch(fl, fl->fd, &fl->h, from_pod);
}

/* A flow within the node: its destination pod's answers, to the client pod. */
static void on_local_answer(struct loop_handler *h, uint32_t events)
{
	struct zt_udp_flow *fl = container_of(h, struct zt_udp_flow, h2);

	read_batch(fl, fl->fd2, &fl->h2, to_pod);
}

static unsigned int idle_ms(const struct zt_udp_flow *fl)
{
	const struct zt_udp_limits *lim = &fl->w->udp_lim;

	return (fl->replied ? lim->stream_idle_s : lim->idle_s) * 1000u;
}

static void on_idle(struct loop_timer *t)
{
	struct zt_udp_flow *fl = container_of(t, struct zt_udp_flow, idle);
	uint64_t quiet = loop_now_ms(fl->w->loop) - fl->last_ms;
	unsigned int limit = idle_ms(fl);

	if (limit && quiet < limit) {
		/* Traffic since it was armed: the rest of the time from the last datagram. */
		if (!loop_timer_arm(fl->w->loop, &fl->idle, (unsigned int)(limit - quiet)))
			return;
	}
	atomic_fetch_add(&counts.flows_idle, 1);
	flow_end(fl, "idle");
}

/* A flow around the pod's socket @fd (taken), its stream still to come; NULL: @fd closed. */
static struct zt_udp_flow *flow_new(struct zt_worker *w, int fd, bool outbound)
{
	struct zt_udp_flow *fl = udp_io(w) ? calloc(1, sizeof(*fl)) : NULL;

	if (!fl) {
		close(fd);
		return NULL;
	}
	fl->w = w;
	fl->fd = fd;
	fl->fd2 = -1;
	fl->outbound = outbound;
	fl->h.fn = on_pod;
	fl->idle.fn = on_idle;
	fl->last_ms = loop_now_ms(w->loop);
	if (loop_add(w->loop, fd, EPOLLIN, &fl->h) ||
	    (idle_ms(fl) && loop_timer_arm(w->loop, &fl->idle, idle_ms(fl)))) {
		loop_timer_cancel(w->loop, &fl->idle);
		loop_del(w->loop, fd);
		close(fd);
		free(fl);
		return NULL;
	}
	return fl;
}

/* Undoes flow_new for a flow that never got its stream. */
static void flow_discard(struct zt_udp_flow *fl)
{
	if (fl->fd2 >= 0) {
		loop_del(fl->w->loop, fl->fd2);
		close(fl->fd2);
	}
	loop_timer_cancel(fl->w->loop, &fl->idle);
	loop_del(fl->w->loop, fl->fd);
	close(fl->fd);
	free(fl);
}

int zt_udp_inbound(struct zt_worker *w, const struct hbone_request *req,
		   const union sockaddr_inet *dst, const union sockaddr_inet *src,
		   struct hbone_upstream *up)
{
	struct zt_udp_flow *fl;
	int fd = zt_udp_to_pod(dst, src);

	if (fd < 0)
		return fd;
	fl = flow_new(w, fd, false);
	if (!fl)
		return -ENOMEM;
	sockaddr_inet_format(dst, fl->name, sizeof(fl->name));
	fl->f = hbone_udp_accept(req, up, &flow_ops, fl);
	if (!fl->f) {
		flow_discard(fl);
		return -ENOMEM;
	}
	LIST_INSERT_HEAD(&w->udp_in, fl, link);
	atomic_fetch_add(&counts.flows_opened, 1);
	return 0;
}

/* ---- outbound: the pods' datagrams tc handed to 15001/udp ---- */

/* By both addresses and ports (the kernel zeroes what a sockaddr leaves unused). */
static size_t bucket_of(const union sockaddr_inet *pod, const union sockaddr_inet *dst)
{
	uint64_t h = 1469598103934665603ULL;
	const union sockaddr_inet *a[2] = {pod, dst};

	for (int k = 0; k < 2; k++) {
		const unsigned char *p = (const void *)a[k];

		for (socklen_t i = 0; i < sockaddr_inet_len(a[k]); i++)
			h = (h ^ p[i]) * 1099511628211ULL;
	}
	return (size_t)(h % OUT_BUCKETS);
}

static bool same_addr(const union sockaddr_inet *a, const union sockaddr_inet *b)
{
	return sockaddr_inet_equal(a, b);
}

static struct zt_udp_flow *out_find(struct zt_udp_out *o, const union sockaddr_inet *pod,
				    const union sockaddr_inet *dst)
{
	struct zt_udp_flow *fl;

	LIST_FOREACH(fl, &o->buckets[bucket_of(pod, dst)], link)
	{
		if (same_addr(&fl->pod, pod) && same_addr(&fl->peer, dst))
			return fl;
	}
	return NULL;
}

/*
 * The socket a pod's flow to @dst lives on: bound (IP_TRANSPARENT) to @dst, so tc hands the
 * pod's next datagrams of the flow to it and what it sends the pod comes from @dst, and
 * connected to the pod. Other pods' flows to @dst bind the same address (SO_REUSEADDR): each is
 * told apart by the pod it is connected to. fd or -errno.
 */
static int out_socket(const union sockaddr_inet *pod, const union sockaddr_inet *dst)
{
	int one = 1, mark = AMBIT_PROXY_MARK, err;
	bool v6 = dst->sa.sa_family == AF_INET6;
	struct sock_ns ns;
	/* An in-pod pod's flow: its socket in the pod's netns, where tc_pod_egress turns to lo. */
	int fd = sock_udp_in(zt_inpod_ns_of(pod, &ns) ? &ns : NULL, dst->sa.sa_family);

	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one,
		       sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) ||
	    bind(fd, &dst->sa, sockaddr_inet_len(dst)) ||
	    connect(fd, &pod->sa, sockaddr_inet_len(pod))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Why a pod's datagram to @dst opens no flow, logged once per that many refusals. */
static void out_refused(const union sockaddr_inet *pod, const union sockaddr_inet *dst,
			const char *why)
{
	char a[SOCKADDR_INET_STRLEN], b[SOCKADDR_INET_STRLEN];

	atomic_fetch_add(&counts.flows_refused, 1);
	pr_info("udp: %s to %s: %s", sockaddr_inet_format(pod, a, sizeof(a)),
		sockaddr_inet_format(dst, b, sizeof(b)), why);
}

static size_t id_bucket(const char *id)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return (size_t)(h % (OUT_BUCKETS / 16));
}

/* The count of @id's outbound flows (made at 0 when absent), or NULL without memory. */
static struct id_count *id_get(struct zt_udp_out *o, const char *id, bool make)
{
	struct id_count *c;
	size_t b = id_bucket(id), len = strlen(id);

	LIST_FOREACH(c, &o->ids[b], link)
	{
		if (!strcmp(c->id, id))
			return c;
	}
	if (!make || !(c = calloc(1, sizeof(*c) + len + 1)))
		return NULL;
	memcpy(c->id, id, len + 1);
	LIST_INSERT_HEAD(&o->ids[b], c, link);
	return c;
}

/*
 * Room for one more flow of identity @id: at the node's cap (--udp-max-flows) the least
 * recently active flow goes, at the identity's (--udp-max-flows-per-identity) its own least
 * recently active one, so a pod spraying ports or destinations reclaims its own old flows,
 * not others'. Counted (ambit_udp_flows_total), and logged at most once a second.
 */
static void make_room(struct zt_worker *w, const char *id)
{
	const struct zt_udp_limits *lim = &w->udp_lim;
	struct zt_udp_out *o = w->udp_out;
	struct id_count *c = id_get(o, id, false);
	uint64_t now = loop_now_ms(w->loop);
	struct zt_udp_flow *fl = NULL;

	if (c && lim->max_flows_per_identity && c->n >= lim->max_flows_per_identity) {
		/* The oldest of its own: the head's side of the list holds the least active. */
		for (fl = TAILQ_FIRST(&o->lru); fl && fl->id != c; fl = TAILQ_NEXT(fl, lru))
			;
	} else if (lim->max_flows && o->n >= lim->max_flows) {
		fl = TAILQ_FIRST(&o->lru);
	}
	if (!fl)
		return;
	atomic_fetch_add(&counts.flows_reclaimed, 1);
	if (now - o->reclaim_log_ms >= 1000) {
		o->reclaim_log_ms = now;
		if (fl->id == c)
			pr_info("udp: %s is at its cap of flows (--udp-max-flows-per-identity): "
				"reclaiming %s, idle %llu ms",
				id, fl->name, (unsigned long long)(now - fl->last_ms));
		else
			pr_info("udp: the node is at its cap of flows (--udp-max-flows): "
				"reclaiming %s, idle %llu ms",
				fl->name, (unsigned long long)(now - fl->last_ms));
	}
	flow_end(fl, "reclaimed");
}

/* @fl, new, is @id's: counted, and the newest in the order of activity. */
static bool flow_own(struct zt_worker *w, struct zt_udp_flow *fl, const char *id)
{
	struct zt_udp_out *o = w->udp_out;

	fl->id = id_get(o, id, true);
	if (!fl->id)
		return false;
	fl->id->n++;
	o->n++;
	fl->lru_ms = loop_now_ms(w->loop);
	TAILQ_INSERT_TAIL(&o->lru, fl, lru);
	return true;
}

/*
 * The labels of a flow of @src's along @r, as Istio's reporter="source" counts a connection,
 * with request_protocol "udp" (docs/udp.md); @mtls when it is the mesh's. Through a waypoint
 * the workload it reaches is the waypoint's, as TCP's (outbound.c).
 */
static void out_labels(struct metrics_labels *l, const struct snapshot *s,
		       const struct snap_workload *src, const struct zt_route *r, bool mtls)
{
	zt_fill_labels(l, "source", s->cluster_id, src, NULL, r->wp ? r->wp_wl : r->dst_wl, r->svc,
		       mtls);
	l->request_protocol = "udp";
}

/*
 * A flow of @pod's to @dst carried between two sockets of this ztunnel's, with no HBONE: the
 * flow's, and @fd2 (taken; -errno: it could not be made), connected to where the flow goes,
 * @to; of identity @id's count. NULL when it could not be made (said, or counted as refused).
 */
static struct zt_udp_flow *out_direct(struct zt_worker *w, const char *id,
				      const union sockaddr_inet *pod,
				      const union sockaddr_inet *dst, const union sockaddr_inet *to,
				      int fd2)
{
	char a[SOCKADDR_INET_STRLEN], b[SOCKADDR_INET_STRLEN];
	struct zt_udp_flow *fl;
	int fd = fd2 < 0 ? fd2 : out_socket(pod, dst);

	if (fd < 0) {
		if (fd2 >= 0)
			close(fd2);
		out_refused(pod, dst, strerror(-fd));
		return NULL;
	}
	fl = flow_new(w, fd, true);
	if (!fl) {
		close(fd2);
		return NULL;
	}
	fl->h2.fn = on_local_answer;
	if (loop_add(w->loop, fd2, EPOLLIN, &fl->h2)) {
		close(fd2);
		flow_discard(fl);
		return NULL;
	}
	fl->fd2 = fd2;
	fl->pod = *pod;
	fl->peer = *dst;
	snprintf(fl->name, sizeof(fl->name), "%s>%s", sockaddr_inet_format(pod, a, sizeof(a)),
		 sockaddr_inet_format(to, b, sizeof(b)));
	LIST_INSERT_HEAD(&w->udp_out->buckets[bucket_of(pod, dst)], fl, link);
	if (!flow_own(w, fl, id)) {
		flow_end(fl, "out of memory");
		return NULL;
	}
	atomic_fetch_add(&counts.flows_opened, 1);
	return fl;
}

/*
 * A flow to a pod of this node: this ztunnel is the destination's too, so it decides the flow
 * with the destination's policy, as the destination's ztunnel would over HBONE, and carries it
 * between two sockets of its own: the flow's, and one bound to the client's address and
 * connected to the destination pod.
 */
static void out_local(struct zt_worker *w, const struct snapshot *s,
		      const struct snap_workload *src, const union sockaddr_inet *pod,
		      const union sockaddr_inet *dst, const struct zt_route *r, const uint8_t *p,
		      size_t len)
{
	struct ipaddr src_ip = zt_ip_of(pod), dst_ip = zt_ip_of(&r->addr);
	union sockaddr_inet from = *pod;
	struct metrics_labels labels;
	struct zt_udp_flow *fl;
	struct authz_result ar;

	out_labels(&labels, s, src, r, true);
	if (!authz_decide(s, r->dst_wl, &dst_ip, sockaddr_inet_port(&r->addr), &src_ip,
			  src->identity, &ar)) {
		zt_record_denial(&labels, pod, &r->addr, "outbound udp", &ar);
		out_refused(pod, dst, "denied by policy");
		return;
	}
	sockaddr_inet_set_port(&from, 0);
	fl = out_direct(w, src->identity, pod, dst, &r->addr, zt_udp_to_pod(&r->addr, &from));
	if (!fl)
		return;
	fl->rec = connrec_open(&labels, pod, &r->addr, "outbound udp");
	connrec_set_decision(fl->rec, "allow", ar.name);
	/* This ztunnel is the destination's too: it counts the flow as such (reporter=destination).
	 */
	zt_fill_labels(&labels, "destination", s->cluster_id, src, src->identity, r->dst_wl,
		       zt_inbound_service(s, r->dst_wl, sockaddr_inet_port(&r->addr), NULL), true);
	labels.request_protocol = "udp";
	fl->rec_dst = connrec_open(&labels, pod, &r->addr, "inbound udp");
	connrec_set_decision(fl->rec_dst, "allow", ar.name);
	from_pod(fl, p, len);
}

/*
 * A flow to a ServiceEntry's UDP port whose endpoint is not the mesh's (a resolver outside the
 * cluster, say): plaintext from the node's own address, as TCP past the mesh goes, between the
 * flow's socket and one connected to the endpoint; counted under the entry's host.
 */
static void out_external(struct zt_worker *w, const struct snapshot *s,
			 const struct snap_workload *src, const union sockaddr_inet *pod,
			 const union sockaddr_inet *dst, const struct zt_route *r, const uint8_t *p,
			 size_t len)
{
	struct metrics_labels labels;
	struct zt_udp_flow *fl =
	    out_direct(w, src->identity, pod, dst, &r->addr,
		       sock_connect_udp(NULL, &r->addr, NULL, AMBIT_PROXY_MARK));

	if (!fl)
		return;
	out_labels(&labels, s, src, r, false);
	fl->rec = connrec_open(&labels, pod, &r->addr, "outbound udp");
	from_pod(fl, p, len);
}

/* A new flow of the pod at @pod to @dst, its first datagram @p: opened, or refused. */
static void out_open(struct zt_worker *w, const union sockaddr_inet *pod,
		     const union sockaddr_inet *dst, const uint8_t *p, size_t len)
{
	char auth[SOCKADDR_INET_STRLEN], client[SOCKADDR_INET_STRLEN + 2], ip[INET6_ADDRSTRLEN];
	char path[HBONE_UDP_PATH_MAX], bag[512], a[SOCKADDR_INET_STRLEN], via[ZT_VIA_HOST_MAX];
	char sans[2048];
	struct mesh_snap *zs = mesh_state_get(w->st);
	const struct snap_workload *src;
	struct metrics_labels labels;
	struct zt_udp_flow *fl;
	struct hbone_target t;
	struct zt_route r;
	struct ipaddr src_ip;
	int fd;

	if (!zs) {
		out_refused(pod, dst, "no snapshot yet");
		return;
	}
	src_ip = zt_ip_of(pod);
	src = snapshot_workload_by_addr(zs->snap, &src_ip);
	if (!zt_local_enrolled(zs->snap, src)) {
		out_refused(pod, dst, "not an enrolled pod of this node");
		goto out;
	}
	if (zt_route_outbound(zs->snap, src, dst, w->o.lb, &w->rr, NULL, &r)) {
		out_refused(pod, dst, "no ready endpoint or port there");
		goto out;
	}
	if (!r.remote && !r.wp && (!r.dst_wl || !r.dst_wl->enrolled)) {
		/* tc takes only the mesh's workloads and ServiceEntries' UDP ports (docs/udp.md).
		 */
		if (!r.svc || r.svc->kind == SNAP_SVC_SERVICE) {
			out_refused(pod, dst, "not a workload of the mesh");
			goto out;
		}
		make_room(w, src->identity);
		out_external(w, zs->snap, src, pod, dst, &r, p, len);
		goto out;
	}
	make_room(w, src->identity);
	/* Through a waypoint the flow is HBONE to it, wherever the destination is. */
	if (!r.remote && !r.wp && zt_local_enrolled(zs->snap, r.dst_wl)) {
		out_local(w, zs->snap, src, pod, dst, &r, p, len);
		goto out;
	}
	sockaddr_inet_ntop(&r.addr, ip, sizeof(ip));
	t = (struct hbone_target){
	    .authority = sockaddr_inet_format(&r.addr, auth, sizeof(auth)),
	    .forwarded_for = client,
	    .baggage = bag,
	    .identity = src->identity,
	    .expect_san = r.remote ? NULL
			  : r.wp   ? r.wp->identity
				   : r.dst_wl->identity,
	    .ctx = mesh_snap_ctx(zs, src->identity, false),
	    .udp_path = path,
	};
	/*
	 * TLS to the destination pod's address on 15008 (its IPv4 when it has one, as TCP's
	 * HBONE does between dual-stack nodes; the CONNECT names the IPv6 address).
	 */
	if (r.remote) {
		/*
		 * To another network, as TCP's double HBONE (outbound.c): the outer CONNECT to its
		 * gateway and the inner CONNECT-UDP both name the Service, the gateway picks the
		 * endpoint and the destination's ztunnel the pod.
		 */
		zt_outbound_via(w, zs->snap, &r, sockaddr_inet_port(dst), &t, via, sans,
				sizeof(sans));
		t.authority = via;
	} else if (r.wp) {
		/*
		 * To a waypoint: TLS to its instance, the CONNECT names what the pod addressed
		 * (the Service's VIP:port), host= the Service, as TCP's (outbound.c).
		 */
		t.addr = r.wp_addr;
		t.forwarded_host = r.svc ? r.svc->hostname : NULL;
	} else if (r.addr.sa.sa_family == AF_INET6 && r.dst_wl->ip) {
		sockaddr_inet_v4(&t.addr, r.dst_wl->ip, w->o.hbone_port);
	} else {
		t.addr = r.addr;
		sockaddr_inet_set_port(&t.addr, w->o.hbone_port);
	}
	if (!t.ctx || hbone_udp_path(path, sizeof(path), r.remote ? r.svc->hostname : ip,
				     sockaddr_inet_port(r.remote ? dst : &r.addr)) < 0) {
		out_refused(pod, dst, t.ctx ? "no path for it" : "no certificate for the pod yet");
		goto out;
	}
	snprintf(client, sizeof(client), "\"%s\"", sockaddr_inet_format(pod, a, sizeof(a)));
	zt_baggage(src, zs->snap->cluster_id, bag, sizeof(bag));
	fd = out_socket(pod, dst);
	if (fd < 0) {
		out_refused(pod, dst, strerror(-fd));
		goto out;
	}
	fl = flow_new(w, fd, true);
	if (!fl)
		goto out;
	fl->pod = *pod;
	fl->peer = *dst;
	/* Another network's: by the Service's name (its start: a name for the logs). */
	snprintf(fl->name, sizeof(fl->name), "%s>%.50s", a, r.remote ? via : auth);
	fl->f = hbone_udp_open(w->pool, &t, &flow_ops, fl);
	if (!fl->f) {
		out_refused(pod, dst, strerror(errno));
		flow_discard(fl);
		goto out;
	}
	LIST_INSERT_HEAD(&w->udp_out->buckets[bucket_of(pod, dst)], fl, link);
	if (!flow_own(w, fl, src->identity)) {
		flow_end(fl, "out of memory");
		goto out;
	}
	atomic_fetch_add(&counts.flows_opened, 1);
	out_labels(&labels, zs->snap, src, &r, true);
	fl->rec = connrec_open(&labels, pod, &r.addr, "outbound udp");
	from_pod(fl, p, len);
out:
	mesh_snap_put(zs);
}

/* The pod's destination, from IP(V6)_RECVORIGDSTADDR: true when found. */
static bool orig_dst(struct msghdr *mh, union sockaddr_inet *dst)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR;
		bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR;
		size_t len = v6 ? sizeof(dst->v6) : sizeof(dst->v4);

		if ((v4 || v6) && c->cmsg_len >= CMSG_LEN(len)) {
			memset(dst, 0, sizeof(*dst));
			memcpy(dst, CMSG_DATA(c), len);
			return dst->sa.sa_family == (v6 ? AF_INET6 : AF_INET);
		}
	}
	return false;
}

static void on_listener(struct loop_handler *h, uint32_t events)
{
	static __thread uint8_t rx[65536];
	struct zt_udp_listener *l = container_of(h, struct zt_udp_listener, h);
	struct zt_udp_out *o = l->o;
	char cbuf[CMSG_SPACE(sizeof(struct sockaddr_in6))];

	for (int i = 0; i < RX_BATCH; i++) {
		union sockaddr_inet pod = {0}, dst;
		struct iovec iov = {rx, sizeof(rx)};
		struct msghdr mh = {.msg_name = &pod,
				    .msg_namelen = sizeof(pod),
				    .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		struct zt_udp_flow *fl;
		ssize_t n = recvmsg(l->fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			continue;
		}
		if (!orig_dst(&mh, &dst) || pod.sa.sa_family != dst.sa.sa_family)
			continue;
		/* Datagrams that came before the flow's socket took its 4-tuple. */
		fl = out_find(o, &pod, &dst);
		if (fl) {
			from_pod(fl, rx, (size_t)n);
			continue;
		}
		out_open(o->w, &pod, &dst, rx, (size_t)n);
	}
}

int zt_udp_listen(int family)
{
	return sock_udp_listen_orig(NULL, family, AMBIT_PORT_OUTBOUND, AMBIT_PROXY_MARK);
}

int zt_udp_start(struct zt_worker *w, int fd, int fd6)
{
	/* Made without the node's listeners too: the in-pod pods' have their own. */
	struct zt_udp_out *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->w = w;
	for (size_t i = 0; i < OUT_BUCKETS; i++)
		LIST_INIT(&o->buckets[i]);
	for (size_t i = 0; i < OUT_BUCKETS / 16; i++)
		LIST_INIT(&o->ids[i]);
	TAILQ_INIT(&o->lru);
	for (int k = 0; k < 2; k++) {
		struct zt_udp_listener *l = &o->ls[k];

		l->o = o;
		l->fd = k ? fd6 : fd;
		l->h.fn = on_listener;
		if (l->fd > 0 && loop_add(w->loop, l->fd, EPOLLIN, &l->h)) {
			if (k && o->ls[0].fd > 0)
				loop_del(w->loop, o->ls[0].fd);
			free(o);
			return -errno;
		}
	}
	w->udp_out = o;
	return 0;
}

void *zt_udp_listener_add(struct zt_worker *w, int fd)
{
	struct zt_udp_listener *l;

	errno = 0;
	if (fd <= 0 || !w->udp_out)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	*l = (struct zt_udp_listener){.h.fn = on_listener, .o = w->udp_out, .fd = fd};
	if (loop_add(w->loop, fd, EPOLLIN, &l->h)) {
		free(l);
		return NULL;
	}
	return l;
}

void zt_udp_listener_remove(struct zt_worker *w, void *handle)
{
	struct zt_udp_listener *l = handle;

	if (!l)
		return;
	loop_del(w->loop, l->fd);
	l->h.dead = true;
	loop_defer_free(w->loop, l, free);
}

void zt_udp_stop(struct zt_worker *w)
{
	while (!LIST_EMPTY(&w->udp_in))
		flow_end(LIST_FIRST(&w->udp_in), "ztunnel stopping");
	if (w->udp_out) {
		for (size_t i = 0; i < OUT_BUCKETS; i++)
			while (!LIST_EMPTY(&w->udp_out->buckets[i]))
				flow_end(LIST_FIRST(&w->udp_out->buckets[i]), "ztunnel stopping");
		for (int k = 0; k < 2; k++)
			if (w->udp_out->ls[k].fd > 0)
				loop_del(w->loop, w->udp_out->ls[k].fd);
		free(w->udp_out);
		w->udp_out = NULL;
	}
	/* The loop runs no more (its queued flush with it): what is held is lost. */
	free(w->udp_io);
	w->udp_io = NULL;
}
