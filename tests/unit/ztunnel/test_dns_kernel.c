// SPDX-License-Identifier: Apache-2.0
/*
 * The DNS proxy's answers handed to the kernel (ztunnel/dns_kernel.c), against real BPF maps
 * shaped as bpf/lib/maps.h's dns_answers, dns_answers6 and dns_gen, pinned in a private bpffs
 * directory: what a predecessor left is dropped, generations, what is published and what is not,
 * nothing written twice, the kernel's hits read back (also those of an entry about to be
 * replaced), many queries kept side by side, the table never holding more than its share of the
 * map, and an IPv6 client's answers in dns_answers6 by its IPv6 address (none in dns_answers),
 * or nowhere on a data path without that map. The tc program that answers from these entries is
 * tested in tests/bpf/test_steer.c and test_dnsfast6.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "../../../ztunnel/dns_kernel.h"
#include "ambit/bpf_abi.h"
#include "ambit/datapath.h"
#include "ambit/log.h"

static char pin_root[64];
static int afd = -1, a6fd = -1, gfd = -1;

/*
 * The test's pods: IPv4 address @n (0.0.0.n, 1..3; the kernel takes any 32 bits) and IPv6
 * address fd00::@n.
 */
static struct ipaddr pod4(uint32_t n)
{
	struct ipaddr a;

	ipaddr_from_v4(&a, n);
	return a;
}

static struct ipaddr pod6(uint8_t n)
{
	struct ipaddr a = {.family = AF_INET6, .len = 128, .a = {0xfd, 0}};

	a.a[15] = n;
	return a;
}

/* What the count function was told, summed by pod: IPv4 pod n at [n], IPv6 pod n at [4 + n]. */
static uint64_t counted[8];
static int counted_qtype;

static void count(void *arg, const struct ipaddr *pod, int qtype, uint64_t n)
{
	struct ipaddr six = pod6(pod->a[15]);
	uint32_t ip;

	assert_ptr_equal(arg, &counted);
	if (ipaddr_v4(pod, &ip)) {
		assert_true(ip < 4);
		counted[ip] += n;
	} else {
		assert_true(ipaddr_equal(pod, &six) && pod->a[15] < 4);
		counted[4 + pod->a[15]] += n;
	}
	counted_qtype = qtype;
}

static int setup(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, hopts, .map_flags = BPF_F_NO_PREALLOC);
	char path[128];

	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/ambit-test-dnsk-%d", (int)getpid());
	if (bpffs_ensure_mounted() || mkdir(pin_root, 0700))
		return -1;
	afd = bpf_map_create(BPF_MAP_TYPE_HASH, "dns_answers", sizeof(struct ambit_dns_key),
			     sizeof(struct ambit_dns_answer), AMBIT_MAX_DNS_ANSWERS, &hopts);
	a6fd = bpf_map_create(BPF_MAP_TYPE_HASH, "dns_answers6", sizeof(struct ambit_dns_key6),
			      sizeof(struct ambit_dns_answer), AMBIT_MAX_DNS_ANSWERS, &hopts);
	gfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "dns_gen", 4, 4, 1, NULL);
	if (afd < 0 || a6fd < 0 || gfd < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/dns_answers", pin_root);
	if (bpf_obj_pin(afd, path))
		return -1;
	snprintf(path, sizeof(path), "%s/dns_answers6", pin_root);
	if (bpf_obj_pin(a6fd, path))
		return -1;
	snprintf(path, sizeof(path), "%s/dns_gen", pin_root);
	return bpf_obj_pin(gfd, path) ? -1 : 0;
}

static int teardown(void **state)
{
	if (afd >= 0)
		close(afd);
	if (a6fd >= 0)
		close(a6fd);
	if (gfd >= 0)
		close(gfd);
	afd = a6fd = gfd = -1;
	return pin_root[0] && datapath_remove_pins(pin_root) ? -1 : 0;
}

/* A query of @len bytes (its id 0xabcd) whose bytes after the id are all @fill but one: @n. */
static size_t query(uint8_t *q, size_t len, uint8_t fill, uint32_t n)
{
	memset(q, fill, len);
	q[0] = 0xab;
	q[1] = 0xcd;
	memcpy(q + 4, &n, sizeof(n));
	return len;
}

static struct ambit_dns_key key_of(uint32_t pod, const uint8_t *q, size_t len)
{
	struct ambit_dns_key k = {.pod_ip = pod, .qlen = (uint16_t)(len - 2)};

	memcpy(k.q, q + 2, len - 2);
	return k;
}

static struct ambit_dns_key6 key6_of(uint8_t pod, const uint8_t *q, size_t len)
{
	struct ipaddr a = pod6(pod);
	struct ambit_dns_key6 k = {.qlen = (uint16_t)(len - 2)};

	memcpy(k.pod_ip6, a.a, sizeof(k.pod_ip6));
	memcpy(k.q, q + 2, len - 2);
	return k;
}

static size_t map_len_of(int fd)
{
	struct ambit_dns_key6 k, next; /* the larger key */
	size_t n = 0;

	for (const void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &k) {
		k = next;
		n++;
	}
	return n;
}

static size_t map_len(void)
{
	return map_len_of(afd);
}

static uint32_t gen_now(void)
{
	uint32_t zero = 0, g = 0;

	assert_int_equal(bpf_map_lookup_elem(gfd, &zero, &g), 0);
	return g;
}

/* The kernel answered with map @fd's entry @k: its hits become @hits. */
static void set_hits_in(int fd, const void *k, uint64_t hits)
{
	struct ambit_dns_answer v;

	assert_int_equal(bpf_map_lookup_elem(fd, k, &v), 0);
	v.hits = hits;
	assert_int_equal(bpf_map_update_elem(fd, k, &v, BPF_EXIST), 0);
}

static void set_hits(const struct ambit_dns_key *k, uint64_t hits)
{
	set_hits_in(afd, k, hits);
}

/* Map @fd's entry @k is a fresh answer: @ans's first @alen bytes under generation @gen, no hits. */
static void fresh_answer(int fd, const void *k, uint32_t gen, const uint8_t *ans, uint16_t alen)
{
	struct ambit_dns_answer v;

	assert_int_equal(bpf_map_lookup_elem(fd, k, &v), 0);
	assert_int_equal(v.gen, gen);
	assert_int_equal(v.alen, alen);
	assert_int_equal(v.hits, 0);
	assert_memory_equal(v.a, ans, alen);
}

static void test_open(void **state)
{
	struct ambit_dns_answer v = {.gen = 1, .alen = 12};
	struct ambit_dns_key k = {.pod_ip = 9, .qlen = 10};
	struct ambit_dns_key6 k6 = {.pod_ip6 = {htonl(0xfd000000), 0, 0, htonl(9)}, .qlen = 10};
	struct dns_kernel *kn;

	/* No maps there: the proxy answers alone. */
	errno = 0;
	assert_null(dns_kernel_open("/sys/fs/bpf/ambit-test-nothing-here", count, &counted));
	assert_int_equal(errno, ENOENT);
	/* A predecessor's entries are dropped: they are of its generations. */
	assert_int_equal(bpf_map_update_elem(afd, &k, &v, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(a6fd, &k6, &v, BPF_ANY), 0);
	kn = dns_kernel_open(pin_root, count, &counted);
	assert_non_null(kn);
	assert_int_equal(map_len(), 0);
	assert_int_equal(map_len_of(a6fd), 0);
	dns_kernel_close(kn);
	dns_kernel_close(NULL);
}

static void test_generations(void **state)
{
	struct dns_kernel *a = dns_kernel_open(pin_root, count, &counted);
	struct dns_kernel *b = dns_kernel_open(pin_root, count, &counted);

	assert_non_null(a);
	assert_non_null(b);
	assert_int_not_equal(dns_kernel_gen(a, 7), 0);
	assert_int_not_equal(dns_kernel_gen(a, 7), dns_kernel_gen(a, 8));
	assert_int_equal(dns_kernel_gen(a, 7), dns_kernel_gen(a, 7));
	/* Another process (a successor) numbers its snapshots' generations differently. */
	assert_int_not_equal(dns_kernel_gen(a, 7), dns_kernel_gen(b, 7));
	dns_kernel_generation(a, 7);
	assert_int_equal(gen_now(), dns_kernel_gen(a, 7));
	dns_kernel_generation(a, 8);
	assert_int_equal(gen_now(), dns_kernel_gen(a, 8));
	dns_kernel_generation(NULL, 9);
	dns_kernel_close(a);
	dns_kernel_close(b);
}

static void test_publish(void **state)
{
	struct dns_kernel *kn = dns_kernel_open(pin_root, count, &counted);
	const struct ipaddr p1 = pod4(1), p2 = pod4(2), p3 = pod4(3);
	uint8_t q[200], ans[600];
	struct ambit_dns_answer v;
	struct ambit_dns_key k;
	size_t qlen = query(q, 40, 0x11, 1);

	assert_non_null(kn);
	memset(counted, 0, sizeof(counted));
	memset(ans, 0x22, sizeof(ans));
	dns_kernel_publish(kn, 3, &p1, q, qlen, ans, 60, 1);
	k = key_of(1, q, qlen);
	fresh_answer(afd, &k, dns_kernel_gen(kn, 3), ans, 60);

	/* The kernel answered 5; read back once; 2 more later. */
	set_hits(&k, 5);
	dns_kernel_harvest(kn);
	assert_int_equal(counted[1], 5);
	assert_int_equal(counted_qtype, 1);
	dns_kernel_harvest(kn);
	assert_int_equal(counted[1], 5);
	set_hits(&k, 7);
	dns_kernel_harvest(kn);
	assert_int_equal(counted[1], 7);

	/* The same again under the same snapshot is not written again (its hits stay). */
	dns_kernel_publish(kn, 3, &p1, q, qlen, ans, 60, 1);
	assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	assert_int_equal(v.hits, 7);
	/* Under a new snapshot it is, after the old entry's last hits are counted. */
	set_hits(&k, 10);
	dns_kernel_publish(kn, 4, &p1, q, qlen, ans, 61, 1);
	assert_int_equal(counted[1], 10);
	fresh_answer(afd, &k, dns_kernel_gen(kn, 4), ans, 61);
	/* Another pod's same query is its own entry. */
	dns_kernel_publish(kn, 4, &p2, q, qlen, ans, 60, 28);
	assert_int_equal(map_len(), 2);

	/* Sizes the kernel does not take: left to the proxy. */
	dns_kernel_publish(kn, 4, &p3, q, 11, ans, 60, 1);
	dns_kernel_publish(kn, 4, &p3, q, 2 + AMBIT_DNS_QMAX + 1, ans, 60, 1);
	dns_kernel_publish(kn, 4, &p3, q, qlen, ans, 11, 1);
	dns_kernel_publish(kn, 4, &p3, q, qlen, ans, AMBIT_DNS_AMAX + 1, 1);
	assert_int_equal(map_len(), 2);
	/* The largest it takes. */
	dns_kernel_publish(kn, 4, &p3, q, 2 + AMBIT_DNS_QMAX, ans, AMBIT_DNS_AMAX, 1);
	assert_int_equal(map_len(), 3);
	dns_kernel_publish(NULL, 4, &p3, q, qlen, ans, 60, 1);
	dns_kernel_close(kn);
}

/*
 * An IPv6 client's answer goes to dns_answers6 by its IPv6 address, never to dns_answers: tc
 * answers an IPv6 query from there alone. The same pod asking over IPv4 has its own entry in
 * dns_answers. Hits, generations and sizes as for IPv4; the count function is told the IPv6.
 */
static void test_publish6(void **state)
{
	struct dns_kernel *kn = dns_kernel_open(pin_root, count, &counted);
	const struct ipaddr p1 = pod6(1), p2 = pod6(2), v4 = pod4(1), none = {0};
	uint8_t q[200], ans[600];
	struct ambit_dns_answer v;
	struct ambit_dns_key6 k;
	size_t qlen = query(q, 40, 0x66, 1);

	assert_non_null(kn);
	memset(counted, 0, sizeof(counted));
	memset(ans, 0x77, sizeof(ans));
	dns_kernel_publish(kn, 3, &p1, q, qlen, ans, 60, 28);
	k = key6_of(1, q, qlen);
	fresh_answer(a6fd, &k, dns_kernel_gen(kn, 3), ans, 60);
	assert_int_equal(map_len_of(a6fd), 1);
	assert_int_equal(map_len(), 0);

	/* The kernel answered 4: told under the IPv6 pod, not an IPv4 one. */
	set_hits_in(a6fd, &k, 4);
	dns_kernel_harvest(kn);
	assert_int_equal(counted[4 + 1], 4);
	assert_int_equal(counted[1], 0);
	assert_int_equal(counted_qtype, 28);
	/* Not written again under the same snapshot; under the next, after its hits are told. */
	dns_kernel_publish(kn, 3, &p1, q, qlen, ans, 60, 28);
	assert_int_equal(bpf_map_lookup_elem(a6fd, &k, &v), 0);
	assert_int_equal(v.hits, 4);
	set_hits_in(a6fd, &k, 6);
	dns_kernel_publish(kn, 4, &p1, q, qlen, ans, 62, 28);
	assert_int_equal(counted[4 + 1], 6);
	fresh_answer(a6fd, &k, dns_kernel_gen(kn, 4), ans, 62);

	/* Another IPv6 pod is its own entry; the pod over IPv4 is dns_answers'. */
	dns_kernel_publish(kn, 4, &p2, q, qlen, ans, 60, 28);
	assert_int_equal(map_len_of(a6fd), 2);
	dns_kernel_publish(kn, 4, &v4, q, qlen, ans, 60, 28);
	assert_int_equal(map_len(), 1);
	assert_int_equal(map_len_of(a6fd), 2);
	/* Sizes the kernel does not take, or no address: left to the proxy. */
	dns_kernel_publish(kn, 4, &p2, q, 11, ans, 60, 1);
	dns_kernel_publish(kn, 4, &p2, q, qlen, ans, AMBIT_DNS_AMAX + 1, 1);
	dns_kernel_publish(kn, 4, &none, q, qlen, ans, 60, 1);
	assert_int_equal(map_len_of(a6fd), 2);
	assert_int_equal(map_len(), 1);
	dns_kernel_close(kn);
}

/* A data path older than dns_answers6: IPv4 clients' answers still go to the kernel. */
static void test_no_answers6(void **state)
{
	const struct ipaddr p6 = pod6(1), p4 = pod4(1);
	uint8_t q[64], ans[64] = {0};
	size_t qlen = query(q, 40, 0x88, 1);
	struct dns_kernel *kn;
	char path[128];

	snprintf(path, sizeof(path), "%s/dns_answers6", pin_root);
	assert_int_equal(unlink(path), 0);
	kn = dns_kernel_open(pin_root, count, &counted);
	assert_non_null(kn);
	dns_kernel_publish(kn, 1, &p6, q, qlen, ans, 40, 1);
	dns_kernel_publish(kn, 1, &p4, q, qlen, ans, 40, 1);
	assert_int_equal(map_len(), 1);
	assert_int_equal(map_len_of(a6fd), 0);
	dns_kernel_harvest(kn);
	dns_kernel_close(kn);
}

/*
 * Many queries side by side (none pushes another out while there is room: the bench's 200
 * names once did, to a table of one slot a hash), and never more entries than the table holds.
 */
static void test_many(void **state)
{
	struct dns_kernel *kn = dns_kernel_open(pin_root, count, &counted);
	const struct ipaddr p1 = pod4(1);
	uint8_t q[64], ans[64] = {0};
	size_t n_keep = AMBIT_MAX_DNS_ANSWERS / 4, n_all = AMBIT_MAX_DNS_ANSWERS;

	assert_non_null(kn);
	for (uint32_t i = 0; i < n_keep; i++)
		dns_kernel_publish(kn, 1, &p1, q, query(q, 40, 0x33, i), ans, 40, 1);
	assert_int_equal(map_len(), n_keep);
	for (uint32_t i = 0; i < n_keep; i++) {
		struct ambit_dns_key k = key_of(1, q, query(q, 40, 0x33, i));
		struct ambit_dns_answer v;

		assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	}
	/* Twice the table: the newest are there, the map holds no more than the table. */
	for (uint32_t i = 0; i < n_all; i++)
		dns_kernel_publish(kn, 1, &p1, q, query(q, 40, 0x44, i), ans, 40, 1);
	assert_true(map_len() <= AMBIT_MAX_DNS_ANSWERS / 2);
	{
		struct ambit_dns_key k = key_of(1, q, query(q, 40, 0x44, (uint32_t)n_all - 1));
		struct ambit_dns_answer v;

		assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	}
	/* A new snapshot's answers take the older generation's places first. */
	for (uint32_t i = 0; i < n_keep; i++)
		dns_kernel_publish(kn, 2, &p1, q, query(q, 40, 0x55, i), ans, 40, 1);
	for (uint32_t i = 0; i < n_keep; i++) {
		struct ambit_dns_key k = key_of(1, q, query(q, 40, 0x55, i));
		struct ambit_dns_answer v;

		assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	}
	dns_kernel_close(kn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_publish6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_answers6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_dns_kernel: needs root (BPF maps), skipping\n");
		return 77;
	}
	log_init("test_dns_kernel", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
