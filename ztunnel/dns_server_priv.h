/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the DNS proxy (dns_server.c: its sockets, clients and answers; dns_forward.c: the
 * queries it forwards to the node's resolvers and the ServiceEntry names it keeps resolved).
 */
#ifndef AMBIT_ZT_DNS_SERVER_PRIV_H
#define AMBIT_ZT_DNS_SERVER_PRIV_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "dns_server.h"
#include "net/loop.h"
#include "net/sock.h"

#define MAX_PENDING 4096
/* Its own sockets (IPv4's, IPv6's), and those the agent kept of a predecessor. */
#define MAX_PAIRS 5
/*
 * TCP clients of the node, of one source address, and how long one may stay without sending a
 * whole message (RFC 7766 §6.2.3, §10): the defaults of zt_dns_opts' knobs.
 */
#define MAX_TCP_CLIENTS 512
#define MAX_TCP_PER_SOURCE 32
#define TCP_IDLE_MS 10000
/* Answers a TCP client may leave unread: past this it is sending queries without reading. */
#define TCP_WBUF_MAX (256 * 1024)
#define MSG_MAX 65535
#define RESOLVED_STUB "127.0.0.53"
#define RESOLVED_LIST "/run/systemd/resolve/resolv.conf"

struct zt_dns;
struct tcp_client;

#define CACHE_SLOTS 4096

/* An answer the proxy made (query()'s cache). */
struct cached {
	uint64_t hash, version;
	uint8_t q[300]; /* the query (its id aside) */
	size_t qlen;
	char ns[64]; /* the client's namespace, "" for none */
	uint8_t *a;  /* the answer, malloc'd; NULL: empty slot */
	size_t alen;
	int qtype; /* the question's type (metrics) */
};

/*
 * A name of a DNS ServiceEntry (snap_service.names) the proxy keeps resolved for the routing,
 * one for its A records and one for its AAAA ones: each family is asked on its own TTL.
 */
struct want {
	char *name;
	int family;	  /* AF_INET: A, AF_INET6: AAAA */
	uint64_t next_ms; /* when to ask again (loop clock) */
	bool inflight;
	bool failing; /* its last query got no answer (said once) */
};

/* A forwarded query: the client's, re-numbered, until its answer or the last resolver fails. */
struct pending {
	struct zt_dns *d;
	uint8_t *q;	   /* as sent upstream (the proxy's id) */
	struct want *want; /* the proxy's own query for a ServiceEntry's name, else NULL */
	size_t qlen;
	uint16_t id, orig_id;
	int server; /* index of the resolver asked */
	int tries;  /* resolvers asked so far */
	bool used;
	/*
	 * The client: over UDP (@ufd, @peer, and @local, the address it sent to, port aside) or a
	 * TCP connection (@tc, NULL for UDP).
	 */
	int ufd;
	union sockaddr_inet peer, local;
	struct tcp_client *tc;
	/* Over TCP upstream: the connection and what it read so far. */
	int up_fd;
	struct loop_handler up_h;
	uint8_t *rbuf;
	size_t rlen;
	size_t wsent;
	struct loop_timer timer;
	/* A client's query: its metrics series and when it was forwarded (CLOCK_MONOTONIC). */
	struct dns_series *series;
	struct timespec start;
};

struct tcp_client {
	struct loop_handler h;
	struct zt_dns *d;
	int fd;
	union sockaddr_inet peer;
	uint8_t rbuf[2 + MSG_MAX];
	size_t rlen;
	uint8_t *wbuf;
	size_t wlen, wcap;
	int inflight; /* pendings answering to it */
	bool closing;
	/* Fires TCP idle ms after the last complete message (or the accept), not the last byte. */
	struct loop_timer idle;
	uint64_t last_ms; /* the loop's clock then */
	struct tcp_client *next, *prev;
};

/* A listening socket (UDP or TCP) of the proxy's. */
struct dns_sock {
	struct loop_handler h;
	struct zt_dns *d;
	int fd;
};

/* One udp_io round: the queries read at once and the answers sent at once. */
#define UDP_BATCH 32
#define UDP_SLOT 4096 /* a UDP query or answer: EDNS sizes up to DNS_UDP_EDNS_MAX and more */
/* A packet-info control message of either family (in6_pktinfo is the larger). */
#define PKTINFO_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))
struct udp_batch {
	int fd; /* the socket being read; -1: answers go out one by one */
	unsigned int n;
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	struct iovec iiov[UDP_BATCH], oiov[UDP_BATCH];
	union sockaddr_inet from[UDP_BATCH], peer[UDP_BATCH];
	char icbuf[UDP_BATCH][PKTINFO_SPACE];
	char ocbuf[UDP_BATCH][PKTINFO_SPACE];
	uint8_t ibuf[UDP_BATCH][UDP_SLOT], obuf[UDP_BATCH][UDP_SLOT];
};

struct zt_dns {
	struct mesh_state *st;
	struct zt_dns_opts o;
	char domain[256];
	uint16_t port;
	struct loop *loop;
	pthread_t thread;
	bool started;
	/*
	 * [0]: its own IPv4 pair; then its IPv6 one and adopted ones (zt_dns_adopt), served alike
	 * until the stop.
	 */
	struct dns_sock udp[MAX_PAIRS], tcp[MAX_PAIRS];
	int n_pairs;
	bool own; /* pair 0 is its own (else it could not bind: only adopted ones) */
	/*
	 * No snapshot yet (a ztunnel just started): queries wait in the sockets, unread, for the
	 * names to answer them with; @await checks again.
	 */
	bool paused;
	struct loop_timer await;
	/*
	 * The UDP sockets queries go upstream on, one a family (a node of an IPv6 cluster has an
	 * IPv6 resolver alone; -1 where the host has no such family).
	 */
	int up_fd, up_fd6;
	struct loop_handler up_h, up6_h;
	/* Sockets handed in from another thread, until the loop takes them. */
	pthread_mutex_t lock;
	int queued[MAX_PAIRS][2];
	int n_queued;
	int adopt_efd;
	struct loop_handler adopt_h;
	/* The table of the snapshot it was built from (held). */
	struct mesh_snap *zs;
	struct dns_table *table;
	/* The resolvers, re-read when resolv.conf changes (checked each tick). */
	union sockaddr_inet servers[ZT_DNS_MAX_UPSTREAMS];
	int n_servers;
	struct timespec resolv_mtime;
	struct loop_tick tick;
	struct pending *pend; /* MAX_PENDING slots, by id % MAX_PENDING */
	size_t n_pending;
	struct tcp_client *clients;
	int n_clients;
	struct cached cache[CACHE_SLOTS];
	struct dns_kernel *kernel; /* NULL: no answers in the kernel */
	bool subscribed;
	uint8_t out[2 + MSG_MAX];
	struct udp_batch batch;
	/* The names of the snapshot @wants_version, resolved again as their TTLs run out. */
	struct want *wants;
	size_t n_wants;
	uint64_t wants_version;
};

/* dns_server.c: an answer to a client over UDP (from @local, the address it asked) or TCP. */
void dns_udp_send(struct zt_dns *d, int ufd, const union sockaddr_inet *peer,
		  const union sockaddr_inet *local, const uint8_t *msg, size_t len);
void dns_tcp_send(struct tcp_client *c, const uint8_t *msg, size_t len);
void dns_tcp_client_close(struct tcp_client *c);

/* dns_forward.c */
/* Forwards client query @q upstream, its answer to go back as dns_udp_send's or over @tc. */
void dns_forward(struct zt_dns *d, const uint8_t *q, size_t len, int ufd,
		 const union sockaddr_inet *peer, const union sockaddr_inet *local,
		 struct tcp_client *tc, struct dns_series *series);
/* Ends @p and frees its slot; a closing TCP client whose last query it was is closed. */
void dns_pending_end(struct pending *p);
/* The upstream UDP sockets' events (IPv4's, IPv6's). */
void dns_up_udp_io(struct loop_handler *h, uint32_t events);
void dns_up6_udp_io(struct loop_handler *h, uint32_t events);
/*
 * Takes in a new snapshot's ServiceEntry names, and asks for those whose TTL ran out (from the
 * tick).
 */
void dns_wants_ask(struct zt_dns *d);

#endif
