// SPDX-License-Identifier: Apache-2.0
/*
 * Load balancing (waypoint/lb.c): round robin order, Envoy's two-choice least request, random
 * spread, the consistent-hash ring (size, weights, stickiness, minimal movement when a host
 * goes, ejected hosts skipped), the panic threshold, and the request hash keys. Randomness is a
 * fixed sequence, so every outcome is exact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../waypoint/lb.h"

/* A field with its lengths, as the parsers make them. */
#define HF(n, v)                                                                                   \
	{                                                                                          \
		(char *)(n), (char *)(v), sizeof(n) - 1, sizeof(v) - 1, true                       \
	}

static void hosts_init(struct wp_host *h, size_t n)
{
	memset(h, 0, n * sizeof(*h));
	for (size_t i = 0; i < n; i++) {
		sockaddr_inet_v4(&h[i].addr, htonl(0x0a010000u + (uint32_t)i + 1), 8080);
		h[i].weight = 1;
	}
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void test_round_robin(void **state)
{
	struct config_load_balancer p = {.simple = CONFIG_LB_ROUND_ROBIN};
	struct wp_host h[3];
	struct wp_lb lb;

	hosts_init(h, 3);
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 3), 0);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 0);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 1);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 2);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 0);
	h[1].ejected = true; /* skipped while ejected */
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 2);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 0);
	h[0].ejected = h[2].ejected = true;
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), -1); /* UH */
	wp_lb_destroy(&lb);
}

static void test_least_request(void **state)
{
	struct config_load_balancer p = {.simple = CONFIG_LB_UNSPECIFIED}; /* Istio: LR */
	struct wp_host h[4];
	struct wp_lb lb;
	size_t count[4] = {0};
	uint64_t s = 1;

	hosts_init(h, 4);
	h[2].active_requests = 10;
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 4), 0);
	/* Two choices: of hosts 1 and 2, the one with fewer active requests. */
	assert_int_equal(wp_lb_pick(&lb, false, 0, 2, 1), 1);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 1, 2), 1);
	/* Ties keep the first choice. */
	assert_int_equal(wp_lb_pick(&lb, false, 0, 3, 0), 3);
	/* The busy host only wins when drawn twice: 1/16 of picks. */
	for (int i = 0; i < 16000; i++)
		count[wp_lb_pick(&lb, false, 0, splitmix(&s), splitmix(&s))]++;
	assert_true(count[2] > 800 && count[2] < 1200);
	wp_lb_destroy(&lb);
}

static void test_random(void **state)
{
	struct config_load_balancer p = {.simple = CONFIG_LB_RANDOM};
	struct wp_host h[4];
	struct wp_lb lb;
	size_t count[4] = {0};

	hosts_init(h, 4);
	h[3].ejected = true;
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 4), 0);
	for (uint64_t r = 0; r < 3000; r++)
		count[wp_lb_pick(&lb, false, 0, r, 0)]++;
	assert_int_equal(count[0], 1000);
	assert_int_equal(count[1], 1000);
	assert_int_equal(count[2], 1000);
	assert_int_equal(count[3], 0);
	wp_lb_destroy(&lb);
}

static void test_ring_hash(void **state)
{
	struct config_load_balancer p = {.hash_key = CONFIG_HASH_HEADER, .table_size = 1024};
	struct wp_host h[3];
	struct wp_lb lb;
	size_t count[3] = {0}, moved = 0;
	int before[3000];
	uint64_t s = 7;

	hosts_init(h, 3);
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 3), 0);
	/* Envoy: the lightest host gets ceil(1024/3) = 342 entries, so 1026 in all. */
	assert_int_equal(lb.n_ring, 1026);
	for (size_t i = 1; i < lb.n_ring; i++)
		assert_true(lb.ring[i - 1].hash <= lb.ring[i].hash);
	for (int i = 0; i < 3000; i++) {
		uint64_t hash = splitmix(&s);
		int a = wp_lb_pick(&lb, true, hash, 0, 0);

		/* The same hash always lands on the same host. */
		assert_int_equal(wp_lb_pick(&lb, true, hash, 99, 99), a);
		before[i] = a;
		count[a]++;
	}
	for (int i = 0; i < 3; i++)
		assert_true(count[i] > 700 && count[i] < 1300);
	/* A host going away moves only its own keys. */
	h[1].ejected = true;
	s = 7;
	for (int i = 0; i < 3000; i++) {
		int a = wp_lb_pick(&lb, true, splitmix(&s), 0, 0);

		assert_int_not_equal(a, 1);
		moved += a != before[i];
		if (before[i] != 1)
			assert_int_equal(a, before[i]);
	}
	assert_int_equal(moved, count[1]);
	/* No hash value (header absent): a random host of the usable ones (0 and 2). */
	assert_int_equal(wp_lb_pick(&lb, false, 0, 1, 0), 2);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 2, 0), 0);
	wp_lb_destroy(&lb);
	/* Weights: twice the weight, twice the entries; a small minimum is honoured. */
	h[1].ejected = false;
	h[0].weight = 2;
	p.table_size = 6;
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 3), 0);
	assert_int_equal(lb.n_ring, 8); /* ceil(0.25 x 6) / 0.25 */
	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < lb.n_ring; i++)
		count[lb.ring[i].host]++;
	assert_int_equal(count[0], 4);
	assert_int_equal(count[1], 2);
	wp_lb_destroy(&lb);
}

static void test_maglev(void **state)
{
	struct config_load_balancer p = {
	    .hash_key = CONFIG_HASH_SOURCE_IP, .maglev = true, .table_size = 65537};
	struct wp_host h[3];
	struct wp_lb lb;
	size_t count[3] = {0}, stayed = 0, on_others = 0;
	static int before[30000];
	uint64_t s = 11;

	hosts_init(h, 3);
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 3), 0);
	/* Every slot is filled, a third each (Envoy's round-robin fill). */
	for (uint64_t i = 0; i < lb.table_size; i++)
		count[lb.table[i]]++;
	for (int i = 0; i < 3; i++)
		assert_true(count[i] >= 21845 && count[i] <= 21846);
	for (int i = 0; i < 30000; i++) {
		uint64_t hash = splitmix(&s);

		before[i] = wp_lb_pick(&lb, true, hash, 0, 0);
		assert_int_equal(wp_lb_pick(&lb, true, hash, 5, 5), before[i]);
	}
	/* Host 1 leaves: the table is rebuilt without it, and most other keys stay put. */
	h[1].ejected = true;
	s = 11;
	for (int i = 0; i < 30000; i++) {
		int a = wp_lb_pick(&lb, true, splitmix(&s), 0, 0);

		assert_int_not_equal(a, 1);
		if (before[i] != 1) {
			on_others++;
			stayed += a == before[i];
		}
	}
	assert_true(stayed * 100 >= on_others * 95);
	wp_lb_destroy(&lb);
	/* Weights: a host of weight 2 gets twice the slots. */
	h[1].ejected = false;
	h[2].weight = 2;
	p.table_size = 251;
	memset(count, 0, sizeof(count));
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 3), 0);
	for (uint64_t i = 0; i < lb.table_size; i++)
		count[lb.table[i]]++;
	assert_true(count[2] >= 2 * count[0] - 2 && count[2] <= 2 * count[0] + 2);
	wp_lb_destroy(&lb);
}

static void test_panic_threshold(void **state)
{
	struct config_load_balancer p = {.simple = CONFIG_LB_RANDOM};
	struct config_outlier_detection od = {.present = true, .min_health_percent = 50};
	struct wp_host h[4];
	struct wp_lb lb;

	hosts_init(h, 4);
	h[0].ejected = h[1].ejected = h[2].ejected = true;
	/* 25% healthy < 50%: panic, every host is used again. */
	assert_int_equal(wp_lb_init(&lb, &p, &od, h, 4), 0);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 0);
	wp_lb_destroy(&lb);
	/* Istio's default 0 never panics: only the healthy host. */
	od.min_health_percent = 0;
	assert_int_equal(wp_lb_init(&lb, &p, &od, h, 4), 0);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 3);
	wp_lb_destroy(&lb);
	/* PASSTHROUGH picks no endpoint: the original destination is used. */
	p.simple = CONFIG_LB_PASSTHROUGH;
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 4), 0);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), -1);
	wp_lb_destroy(&lb);
}

static void test_priorities(void **state)
{
	struct config_load_balancer p = {.simple = CONFIG_LB_ROUND_ROBIN};
	struct wp_host h[4];
	struct wp_lb lb;

	hosts_init(h, 4);
	/* failoverPriority's ranks: 0 and 1 at home, 2 the next, 3 the last resort. */
	h[2].priority = 1;
	h[3].priority = 2;
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 4), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), i % 2);
	/* Home ejected: the next rank alone, then the last. */
	h[0].ejected = h[1].ejected = true;
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 2);
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 2);
	h[2].ejected = true;
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), 3);
	/* None healthy anywhere: the best rank, as no panic mode is set (UH). */
	h[3].ejected = true;
	assert_int_equal(wp_lb_pick(&lb, false, 0, 0, 0), -1);
	/* One back home: home again, for every policy. */
	h[1].ejected = false;
	p.simple = CONFIG_LB_LEAST_REQUEST;
	wp_lb_destroy(&lb);
	assert_int_equal(wp_lb_init(&lb, &p, NULL, h, 4), 0);
	for (uint64_t r = 0; r < 8; r++)
		assert_int_equal(wp_lb_pick(&lb, false, 0, r, r * 7 + 3), 1);
	wp_lb_destroy(&lb);
}

static void test_hash_keys(void **state)
{
	const struct http_field hdr[] = {HF("X-User", "jason"), HF("Cookie", "a=1; user=42; b=2")};
	struct wp_request rq = {.path = "/p?x=1&uid=7", .n_headers = 2, .headers = hdr};
	struct config_load_balancer p = {.hash_key = CONFIG_HASH_HEADER, .hash_name = "x-user"};
	struct ipaddr none = {0}, src, src6;
	uint64_t h;

	ipaddr_from_v4(&src, htonl(0x0a000001));
	assert_int_equal(ipaddr_parse_addr("fd00:10::1", &src6), 0);
	assert_true(wp_lb_request_hash(&p, &rq, &none, &h));
	assert_true(h == wp_hash("jason", 5));
	p.hash_key = CONFIG_HASH_COOKIE;
	p.hash_name = "user";
	assert_true(wp_lb_request_hash(&p, &rq, &none, &h));
	assert_true(h == wp_hash("42", 2));
	p.hash_key = CONFIG_HASH_QUERY;
	p.hash_name = "uid";
	assert_true(wp_lb_request_hash(&p, &rq, &none, &h));
	assert_true(h == wp_hash("7", 1));
	p.hash_key = CONFIG_HASH_SOURCE_IP;
	assert_true(wp_lb_request_hash(&p, &rq, &src, &h));
	assert_true(h == wp_hash("10.0.0.1", 8));
	/* An IPv6 client hashes on its address as Envoy prints it: bare, RFC 5952. */
	assert_true(wp_lb_request_hash(&p, &rq, &src6, &h));
	assert_true(h == wp_hash("fd00:10::1", 10));
	assert_false(wp_lb_request_hash(&p, &rq, &none, &h));
	p.hash_key = CONFIG_HASH_HEADER;
	p.hash_name = "x-missing";
	assert_false(wp_lb_request_hash(&p, &rq, &none, &h));
	/* Envoy's xxHash64 (seed 0) of the empty string. */
	assert_true(wp_hash("", 0) == 0xef46db3751d8e999ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_robin), cmocka_unit_test(test_least_request),
	    cmocka_unit_test(test_random),	cmocka_unit_test(test_ring_hash),
	    cmocka_unit_test(test_maglev),	cmocka_unit_test(test_panic_threshold),
	    cmocka_unit_test(test_hash_keys),	cmocka_unit_test(test_priorities),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
