// SPDX-License-Identifier: Apache-2.0
/*
 * When a burst's heap is given back (memtrim.h): once the live connections fell to half their
 * high-water mark by at least MEMTRIM_MIN_DROP and stopped growing, the mark then starting
 * again from there; never for small drops, nor while the count climbs. And that the trim
 * itself gives freed pages of a thread's arena back to the system (RSS, from /proc).
 */
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/memtrim.h"

static void test_flood_then_quiet(void **state)
{
	struct memtrim m = {0};

	assert_false(memtrim_due(&m, 10));
	assert_false(memtrim_due(&m, 5000)); /* the flood */
	assert_false(memtrim_due(&m, 4000)); /* closing, but not half yet */
	assert_true(memtrim_due(&m, 20));    /* gone */
	assert_false(memtrim_due(&m, 20));   /* once */
	assert_false(memtrim_due(&m, 0));    /* 20 more: too few to be worth it */
}

static void test_halvings(void **state)
{
	struct memtrim m = {0};
	size_t n = 0;

	assert_false(memtrim_due(&m, 4096));
	/* Closing a little each second: a trim at each halving, none in between. */
	for (size_t live = 4096; live > 0; live -= 64)
		n += memtrim_due(&m, live - 64);
	assert_int_equal(n, 6); /* at 2048, 1024, 512, 256, 128 and 0 */
}

static void test_not_while_growing(void **state)
{
	struct memtrim m = {.high = 1000, .last = 100};

	/* Down from the mark, but new connections came since the last tick: not over yet. */
	assert_false(memtrim_due(&m, 300));
	/* A tick later, none came: the burst is over. */
	assert_true(memtrim_due(&m, 300));
}

static void test_small_drops(void **state)
{
	struct memtrim m = {0};

	for (int i = 0; i < 100; i++) {
		assert_false(memtrim_due(&m, MEMTRIM_MIN_DROP - 1));
		assert_false(memtrim_due(&m, 0));
	}
}

/* VmRSS of this process, in KiB. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

#define CHUNKS 4000
#define CHUNK 16384

/* A worker's burst: 64 MiB in blocks, every other one freed (none at the heap's top). */
static void *burst(void *arg)
{
	void **keep = arg;
	void *p[CHUNKS];

	for (int i = 0; i < CHUNKS; i++) {
		p[i] = malloc(CHUNK);
		assert_non_null(p[i]);
		memset(p[i], 1, CHUNK);
	}
	for (int i = 0; i < CHUNKS; i++) {
		if (i % 64 == 63)
			keep[i / 64] = p[i];
		else
			free(p[i]);
	}
	return NULL;
}

static void test_trim_gives_back(void **state)
{
	void *keep[CHUNKS / 64] = {0};
	struct memtrim m = {0};
	pthread_t t;
	long before, after;

#ifdef __SANITIZE_ADDRESS__
	skip(); /* ASan's allocator, not glibc's, serves malloc: nothing for malloc_trim */
#endif
	/* Not trimmed by free: glibc's default threshold only shrinks a heap's top. */
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	assert_int_equal(pthread_create(&t, NULL, burst, keep), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	before = rss_kib();
	assert_false(memtrim_tick(&m, 1000));
	assert_true(memtrim_tick(&m, 0));
	assert_int_equal(m.trims, 1);
	after = rss_kib();
	for (size_t i = 0; i < CHUNKS / 64; i++)
		free(keep[i]);
	/* Some 62 MiB were free in the thread's arena: most of it is gone from the RSS. */
	assert_true(before - after > 32 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flood_then_quiet),  cmocka_unit_test(test_halvings),
	    cmocka_unit_test(test_not_while_growing), cmocka_unit_test(test_small_drops),
	    cmocka_unit_test(test_trim_gives_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
