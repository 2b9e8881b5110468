// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "ambit/bpf_abi.h"
#include <stdio.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

void harness_tls_pair(const char *tag, char *dir, size_t len, const char *srv_id,
		      struct tls_ctx **srv, const char *cli_id, struct tls_ctx **cli)
{
	struct ambit_ca *ca;

	assert_true((size_t)snprintf(dir, len, "/tmp/ambit-test-%s-XXXXXX", tag) < len);
	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	*srv = harness_issue_ctx(ca, srv_id, true);
	*cli = harness_issue_ctx(ca, cli_id, false);
	ca_destroy(ca);
}

int harness_tls_pair_free(const char *dir, struct tls_ctx *srv, struct tls_ctx *cli)
{
	char cmd[PATH_MAX + 16];

	tls_ctx_put(srv);
	tls_ctx_put(cli);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

uint32_t harness_ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

struct sockaddr_in harness_sin(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	a.sin_addr.s_addr = harness_ip4(ip);
	return a;
}

union sockaddr_inet harness_sa(const char *ip, uint16_t port)
{
	union sockaddr_inet a;
	struct ipaddr x;

	assert_int_equal(ipaddr_parse_addr(ip, &x), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&a, &x, port), 0);
	return a;
}

void harness_add_wl(struct snapshot *s, const char *name, const char *ip, const char *node,
		    const char *id, bool enrolled)
{
	struct snap_workload *w = &s->workloads[s->n_workloads++];

	w->uid = strdup(name);
	w->name = strdup(name);
	w->namespace = strdup("demo");
	w->service_account = strdup(name);
	w->identity = strdup(id);
	w->node = strdup(node);
	w->workload_name = strdup(name);
	w->app = strdup(name);
	w->version = strdup("v1");
	w->ip = harness_ip4(ip);
	w->enrolled = enrolled;
}

int harness_listen(const char *ip, uint16_t *port)
{
	struct sockaddr_in a = harness_sin(ip, 0);
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	*port = ntohs(a.sin_port);
	return fd;
}

int harness_accept_within(int lfd, int ms, struct sockaddr_in *peer)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	socklen_t sl = sizeof(*peer);
	struct timeval tv = {.tv_sec = 10};
	int fd;

	if (poll(&p, 1, ms) != 1)
		return -1;
	fd = accept(lfd, (struct sockaddr *)peer, &sl);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int harness_pod_a_connect(int orig_fd, uint16_t outbound_port, const char *ip, uint16_t port)
{
	struct sockaddr_in a = harness_sin("127.0.0.1", 0);
	struct sockaddr_in to = harness_sin("127.0.0.1", outbound_port);
	struct ambit_addr key = {0};
	struct ambit_orig_dst od = {
	    .ip = harness_ip4(ip), .port = htons(port), .flags = AMBIT_ORIG_REDIRECTED};
	socklen_t sl = sizeof(a);
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	key.ip = a.sin_addr.s_addr;
	key.port = a.sin_port;
	assert_int_equal(bpf_map_update_elem(orig_fd, &key, &od, BPF_ANY), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	return fd;
}

void harness_link_up_lo(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

int harness_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

struct tls_ctx *harness_issue_ctx(struct ambit_ca *ca, const char *id, bool server)
{
	struct ca_issued is;
	struct tls_ctx *ctx;

	assert_int_equal(ca_issue(ca, id, 3600, &is), 0);
	ctx = tls_ctx_create(server, is.cert_pem, is.key_pem, ca_root_pem(ca));
	assert_non_null(ctx);
	ca_issued_free(&is);
	return ctx;
}
