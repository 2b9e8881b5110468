/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS proxy's sockets (DESIGN.md §2, §10): UDP and TCP on 15053, where the capture programs
 * send enrolled pods' port-53 traffic. Names of the snapshot are answered here (dns.c); the rest
 * is forwarded to the node's resolvers, UDP for UDP and TCP for TCP (a truncated answer goes back
 * truncated and the client asks again over TCP), with a timeout per resolver and SERVFAIL when
 * none answers. One thread with its own loop.
 */
#ifndef ZT_DNS_SERVER_H
#define ZT_DNS_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "net/sock.h"

struct mesh_state;

#define ZT_DNS_MAX_UPSTREAMS 3

struct zt_dns_opts {
	/*
	 * Where the node's resolvers are (re-read when it changes): "nameserver" lines, IPv4.
	 * When it names only systemd-resolved's stub (127.0.0.53) and resolved's own list exists
	 * (/run/systemd/resolve/resolv.conf), the servers the stub forwards to are used instead,
	 * as the kubelet's --resolv-conf advice goes. NULL: /etc/resolv.conf.
	 */
	const char *resolv_conf;
	const char *domain;   /* the cluster domain: "cluster.local" when NULL */
	bool forward_cluster; /* names of the domain the snapshot lacks go upstream (Kubernetes) */
	unsigned int timeout_ms; /* per resolver try; 0: 2000 */
	/*
	 * The node's pinned BPF maps: answers made for a pod over UDP are handed to the kernel,
	 * which answers the same query again itself (ztunnel/dns_kernel.h). NULL: the proxy alone.
	 */
	const char *pin_root;
	/*
	 * TCP (RFC 7766): the node's clients (0: 512), those of one source address (0: 32; a
	 * further one is refused), and how long a client may go without sending a whole query
	 * (0: 10000 ms; bytes of a message begun do not count). At the node's cap the client
	 * whose last whole query is oldest is closed for a new one.
	 */
	unsigned int tcp_max_clients, tcp_max_per_source, tcp_idle_ms;
};

/*
 * Opens UDP and TCP sockets on 0.0.0.0:@port (SO_REUSEPORT: a successor binds beside this one)
 * and serves them. NULL with errno.
 */
struct zt_dns *zt_dns_start(struct mesh_state *st, uint16_t port, const struct zt_dns_opts *o);
void zt_dns_stop(struct zt_dns *d); /* accepts NULL */
/*
 * The agent as the keeper of the sockets (ztunnel/inpod.h, zt_inpod_dns), from any thread:
 * export gives this proxy's own UDP and TCP sockets (borrowed; 0), adopt serves sockets the
 * agent kept (taken; ignored when they are ones served already, or not UDP and TCP on the
 * proxy's port), so the queries a dead predecessor never read are answered.
 */
int zt_dns_export(void *arg, int fds[2]);
void zt_dns_adopt(void *arg, int fds[2]);

/*
 * The nameservers of resolv.conf text @text (IPv4 and IPv6, port 53; a node of an IPv6 cluster
 * has an IPv6 one alone), at most @max into @out; whether it named only systemd-resolved's stub
 * in *@stub_only. Returns how many.
 */
int zt_dns_parse_resolv(const char *text, union sockaddr_inet *out, int max, bool *stub_only);

#endif
