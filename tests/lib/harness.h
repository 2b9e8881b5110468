/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the unit tests (cmocka): addresses, snapshot workloads and loopback sockets
 * standing in for pods. They fail the running test (cmocka assertions) instead of returning
 * errors, so they are for test code only.
 */
#ifndef AMBIT_TESTS_HARNESS_H
#define AMBIT_TESTS_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "ambit/ca.h"
#include "ambit/snapshot.h"
#include "net/sock.h"
#include "tls/tls.h"

/* A TLS context (server or client) with a certificate of @id issued by @ca, trusting @ca's root. */
struct tls_ctx *harness_issue_ctx(struct ambit_ca *ca, const char *id, bool server);

/*
 * A mesh CA made afresh in a new directory under /tmp (its path into @dir, @len bytes; @tag
 * names it) and two contexts it issued: *@srv (server, identity @srv_id) and *@cli (client,
 * @cli_id). Fails the test on any error. harness_tls_pair_free undoes it: 0, or -1 when the
 * directory could not be removed.
 */
void harness_tls_pair(const char *tag, char *dir, size_t len, const char *srv_id,
		      struct tls_ctx **srv, const char *cli_id, struct tls_ctx **cli);
int harness_tls_pair_free(const char *dir, struct tls_ctx *srv, struct tls_ctx *cli);

/* The network-order address of dotted-quad @s (fails the test when it is not one). */
uint32_t harness_ip4(const char *s);
struct sockaddr_in harness_sin(const char *ip, uint16_t port);
/* @ip (IPv4 or IPv6 text) and @port as an address of its family (fails the test otherwise). */
union sockaddr_inet harness_sa(const char *ip, uint16_t port);

/*
 * Appends workload @name (namespace "demo", service account and app @name, version v1) to @s,
 * whose workloads array must have room for it; its strings are owned by @s.
 */
void harness_add_wl(struct snapshot *s, const char *name, const char *ip, const char *node,
		    const char *id, bool enrolled);

/* A listening TCP socket on @ip, on a port the kernel picks (*@port, host order). */
int harness_listen(const char *ip, uint16_t *port);

/* The next connection on @lfd within @ms (10 s receive timeout), or -1. */
int harness_accept_within(int lfd, int ms, struct sockaddr_in *peer);

/*
 * Connects as pod A (127.0.0.1) to the outbound listener on @outbound_port, first registering
 * @ip:@port as its original destination in the orig_dst map @orig_fd, as the sockops program
 * would. The caller owns the returned socket (10 s receive timeout).
 */
int harness_pod_a_connect(int orig_fd, uint16_t outbound_port, const char *ip, uint16_t port);

/* Brings "lo" up in the current netns (a fresh netns starts with it down). */
void harness_link_up_lo(void);

/* Runs the command @fmt formats with sh -c (stdout and stderr as ours): 0 when it exits 0. */
int harness_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
