// SPDX-License-Identifier: Apache-2.0
/*
 * The waypoint's access-log line in Envoy's default format (waypoint/stats.c), written by hand
 * for speed: byte for byte what printf makes of that format, for records with every field, with
 * the absent ones ("-"), no upstream time, no addresses, big counters, the same second twice
 * and the next one (the cached date), and a line longer than the 4 KiB stack buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "net/loop.h"
#include "../../../waypoint/stats.h"

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

/* Envoy's address form: "ip:port", "[v6]:port". */
static void addr(const union sockaddr_inet *a, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->v6.sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, ntohs(a->v6.sin6_port));
		return;
	}
	if (!a->sa.sa_family) {
		snprintf(out, len, "-");
		return;
	}
	inet_ntop(AF_INET, &a->v4.sin_addr, ip, sizeof(ip));
	snprintf(out, len, "%s:%u", ip, ntohs(a->v4.sin_port));
}

/* The reference: the format string Envoy documents, through printf. */
static char *reference(const struct wp_record *r)
{
	char start[40], ut[24], dl[64], dr[64], *line;
	struct tm tm;
	int n;

	gmtime_r(&r->start.tv_sec, &tm);
	n = (int)strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(start + n, sizeof(start) - (size_t)n, ".%03ldZ", r->start.tv_nsec / 1000000);
	if (r->upstream_ms >= 0)
		snprintf(ut, sizeof(ut), "%lld", (long long)r->upstream_ms);
	else
		snprintf(ut, sizeof(ut), "-");
	addr(&r->downstream_local, dl, sizeof(dl));
	addr(&r->downstream_remote, dr, sizeof(dr));
	assert_true(asprintf(&line,
			     "[%s] \"%s %s %s\" %d %s %s - \"-\" %llu %llu %llu %s \"%s\" \"%s\" "
			     "\"%s\" \"%s\" \"%s\" %s - %s %s - %s\n",
			     start, dash(r->method), dash(r->path), dash(r->protocol), r->status,
			     dash(r->flags), dash(r->details),
			     (unsigned long long)r->bytes_received,
			     (unsigned long long)r->bytes_sent, (unsigned long long)r->duration_ms,
			     ut, dash(r->forwarded_for), dash(r->user_agent), dash(r->request_id),
			     dash(r->authority), dash(r->upstream_host), dash(r->upstream_cluster),
			     dl, dr, dash(r->route_name)) > 0);
	return line;
}

static void test_text_line_is_printfs(void **state)
{
	struct loop *l = loop_create();
	int fds[2];
	char got[1 << 16], *want = NULL, *one;
	size_t wlen = 0, glen = 0;
	ssize_t n;
	struct wp_log *lg;
	struct wp_record full = {
	    .start = {1795420165, 768123456},
	    .method = "GET",
	    .path = "/productpage?u=normal",
	    .protocol = "HTTP/1.1",
	    .status = 200,
	    .flags = "-",
	    .details = "via_upstream",
	    .bytes_received = 0,
	    .bytes_sent = 5289,
	    .duration_ms = 23,
	    .upstream_ms = 22,
	    .upstream_host = "10.98.2.4:9080",
	    .upstream_cluster = "inbound-vip|9080|http|productpage.default.svc.cluster.local",
	    .route_name = "default",
	    .forwarded_for = "10.98.1.2",
	    .user_agent = "curl/7.88.1",
	    .request_id = "62a1b6f0-040a-4716-9fa1-551875041102",
	    .authority = "productpage:9080",
	    .downstream_remote = {.v4 = {AF_INET, htons(34978), {htonl(0x0a620103)}, {0}}},
	    .downstream_local = {.v4 = {AF_INET, htons(15008), {htonl(0x0a620104)}, {0}}},
	};
	struct wp_record bare = {.start = {1795420165, 5000000},
				 .status = 0,
				 .upstream_ms = -1,
				 .bytes_received = 18446744073709551615ull,
				 .duration_ms = 7};
	struct wp_record next = full, longer = full;
	static char path[6000];

	next.start.tv_sec++;
	next.start.tv_nsec = 999999999;
	next.status = 503;
	next.flags = "UO";
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	longer.path = path;
	assert_non_null(l);
	assert_int_equal(pipe(fds), 0);
	lg = wp_log_new(l, fds[1], false);
	assert_non_null(lg);
	{
		const struct wp_record *rs[] = {&full, &bare, &full, &next, &longer};

		for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
			wp_stats_record(NULL, rs[i], lg);
			one = reference(rs[i]);
			want = realloc(want, wlen + strlen(one) + 1);
			assert_non_null(want);
			memcpy(want + wlen, one, strlen(one) + 1);
			wlen += strlen(one);
			free(one);
		}
	}
	wp_log_free(lg); /* writes what is pending */
	close(fds[1]);
	while ((n = read(fds[0], got + glen, sizeof(got) - 1 - glen)) > 0)
		glen += (size_t)n;
	got[glen] = '\0';
	close(fds[0]);
	assert_int_equal(glen, wlen);
	assert_string_equal(got, want);
	free(want);
	loop_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_line_is_printfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
