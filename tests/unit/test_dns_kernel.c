// SPDX-License-Identifier: Apache-2.0
/*
 * The DNS proxy's answers handed to the kernel (ztunnel/dns_kernel.c), against real BPF maps
 * shaped as bpf/lib/maps.h's dns_answers and dns_gen, pinned in a private bpffs directory: what
 * a predecessor left is dropped, generations, what is published and what is not, nothing written
 * twice, the kernel's hits read back (also those of an entry about to be replaced), many queries
 * kept side by side, and the table never holding more than its share of the map. The tc program
 * that answers from these entries is tested in tests/bpf/test_steer.c.
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
#include <linux/types.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "../../ztunnel/dns_kernel.h"
#include "ambit/bpf_abi.h"
#include "ambit/datapath.h"
#include "ambit/log.h"

static char pin_root[64];
static int afd = -1, gfd = -1;

/* What the count function was told, summed by pod. */
static uint64_t counted[4];
static int counted_qtype;

static void count(void *arg, uint32_t pod_ip, int qtype, uint64_t n)
{
	assert_ptr_equal(arg, &counted);
	assert_true(pod_ip < 4);
	counted[pod_ip] += n;
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
	gfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "dns_gen", 4, 4, 1, NULL);
	if (afd < 0 || gfd < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/dns_answers", pin_root);
	if (bpf_obj_pin(afd, path))
		return -1;
	snprintf(path, sizeof(path), "%s/dns_gen", pin_root);
	return bpf_obj_pin(gfd, path) ? -1 : 0;
}

static int teardown(void **state)
{
	if (afd >= 0)
		close(afd);
	if (gfd >= 0)
		close(gfd);
	afd = gfd = -1;
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

static size_t map_len(void)
{
	struct ambit_dns_key k, next;
	size_t n = 0;

	for (const void *prev = NULL; bpf_map_get_next_key(afd, prev, &next) == 0; prev = &k) {
		k = next;
		n++;
	}
	return n;
}

static uint32_t gen_now(void)
{
	uint32_t zero = 0, g = 0;

	assert_int_equal(bpf_map_lookup_elem(gfd, &zero, &g), 0);
	return g;
}

static void set_hits(const struct ambit_dns_key *k, uint64_t hits)
{
	struct ambit_dns_answer v;

	assert_int_equal(bpf_map_lookup_elem(afd, k, &v), 0);
	v.hits = hits;
	assert_int_equal(bpf_map_update_elem(afd, k, &v, BPF_EXIST), 0);
}

static void test_open(void **state)
{
	struct ambit_dns_answer v = {.gen = 1, .alen = 12};
	struct ambit_dns_key k = {.pod_ip = 9, .qlen = 10};
	struct dns_kernel *kn;

	/* No maps there: the proxy answers alone. */
	errno = 0;
	assert_null(dns_kernel_open("/sys/fs/bpf/ambit-test-nothing-here", count, &counted));
	assert_int_equal(errno, ENOENT);
	/* A predecessor's entries are dropped: they are of its generations. */
	assert_int_equal(bpf_map_update_elem(afd, &k, &v, BPF_ANY), 0);
	kn = dns_kernel_open(pin_root, count, &counted);
	assert_non_null(kn);
	assert_int_equal(map_len(), 0);
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
	uint8_t q[200], ans[600];
	struct ambit_dns_answer v;
	struct ambit_dns_key k;
	size_t qlen = query(q, 40, 0x11, 1);

	assert_non_null(kn);
	memset(counted, 0, sizeof(counted));
	memset(ans, 0x22, sizeof(ans));
	dns_kernel_publish(kn, 3, 1, q, qlen, ans, 60, 1);
	k = key_of(1, q, qlen);
	assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	assert_int_equal(v.gen, dns_kernel_gen(kn, 3));
	assert_int_equal(v.alen, 60);
	assert_int_equal(v.hits, 0);
	assert_memory_equal(v.a, ans, 60);

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
	dns_kernel_publish(kn, 3, 1, q, qlen, ans, 60, 1);
	assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	assert_int_equal(v.hits, 7);
	/* Under a new snapshot it is, after the old entry's last hits are counted. */
	set_hits(&k, 10);
	dns_kernel_publish(kn, 4, 1, q, qlen, ans, 61, 1);
	assert_int_equal(counted[1], 10);
	assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	assert_int_equal(v.gen, dns_kernel_gen(kn, 4));
	assert_int_equal(v.alen, 61);
	assert_int_equal(v.hits, 0);
	/* Another pod's same query is its own entry. */
	dns_kernel_publish(kn, 4, 2, q, qlen, ans, 60, 28);
	assert_int_equal(map_len(), 2);

	/* Sizes the kernel does not take: left to the proxy. */
	dns_kernel_publish(kn, 4, 3, q, 11, ans, 60, 1);
	dns_kernel_publish(kn, 4, 3, q, 2 + AMBIT_DNS_QMAX + 1, ans, 60, 1);
	dns_kernel_publish(kn, 4, 3, q, qlen, ans, 11, 1);
	dns_kernel_publish(kn, 4, 3, q, qlen, ans, AMBIT_DNS_AMAX + 1, 1);
	assert_int_equal(map_len(), 2);
	/* The largest it takes. */
	dns_kernel_publish(kn, 4, 3, q, 2 + AMBIT_DNS_QMAX, ans, AMBIT_DNS_AMAX, 1);
	assert_int_equal(map_len(), 3);
	dns_kernel_publish(NULL, 4, 3, q, qlen, ans, 60, 1);
	dns_kernel_close(kn);
}

/*
 * Many queries side by side (none pushes another out while there is room: the bench's 200
 * names once did, to a table of one slot a hash), and never more entries than the table holds.
 */
static void test_many(void **state)
{
	struct dns_kernel *kn = dns_kernel_open(pin_root, count, &counted);
	uint8_t q[64], ans[64] = {0};
	size_t n_keep = AMBIT_MAX_DNS_ANSWERS / 4, n_all = AMBIT_MAX_DNS_ANSWERS;

	assert_non_null(kn);
	for (uint32_t i = 0; i < n_keep; i++)
		dns_kernel_publish(kn, 1, 1, q, query(q, 40, 0x33, i), ans, 40, 1);
	assert_int_equal(map_len(), n_keep);
	for (uint32_t i = 0; i < n_keep; i++) {
		struct ambit_dns_key k = key_of(1, q, query(q, 40, 0x33, i));
		struct ambit_dns_answer v;

		assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	}
	/* Twice the table: the newest are there, the map holds no more than the table. */
	for (uint32_t i = 0; i < n_all; i++)
		dns_kernel_publish(kn, 1, 1, q, query(q, 40, 0x44, i), ans, 40, 1);
	assert_true(map_len() <= AMBIT_MAX_DNS_ANSWERS / 2);
	{
		struct ambit_dns_key k = key_of(1, q, query(q, 40, 0x44, (uint32_t)n_all - 1));
		struct ambit_dns_answer v;

		assert_int_equal(bpf_map_lookup_elem(afd, &k, &v), 0);
	}
	/* A new snapshot's answers take the older generation's places first. */
	for (uint32_t i = 0; i < n_keep; i++)
		dns_kernel_publish(kn, 2, 1, q, query(q, 40, 0x55, i), ans, 40, 1);
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
	    cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_dns_kernel: needs root (BPF maps), skipping\n");
		return 77;
	}
	log_init("test_dns_kernel", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
