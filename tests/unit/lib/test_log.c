// SPDX-License-Identifier: Apache-2.0
/*
 * log.c's repeated-line suppression: a process saying the same thing in a loop writes one line
 * and a periodic "(last message repeated N times)" summary, not millions of lines; lines that
 * differ are all written. libbpf's messages held around a call are written only when asked.
 * stderr is redirected to a file the test reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/libbpf.h>

#include "ambit/log.h"

static char path[64];
static int saved_stderr = -1;

/* Sends stderr to a fresh file. */
static void capture(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/ambit-test-log-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	if (saved_stderr < 0)
		saved_stderr = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

/* Restores stderr; returns what was written (malloc'd) and counts its lines in *@lines. */
static char *release(int *lines)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	unlink(path);
	dup2(saved_stderr, STDERR_FILENO);
	*lines = 0;
	for (size_t i = 0; i < n; i++)
		*lines += buf[i] == '\n';
	return buf;
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* With the default window: a loop of one identical warning is one line. */
static void test_identical_lines_suppressed(void **state)
{
	char *out;
	int lines;

	log_init("test", LOG_LEVEL_INFO);
	capture();
	for (int i = 0; i < 10000; i++)
		pr_warn("accept: %s", "Too many open files");
	out = release(&lines);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(out, "warn test["));
	assert_non_null(strstr(out, "]: accept: Too many open files\n"));
	free(out);
	log_set_repeat_window(0); /* forget it: prints the pending summary to the real stderr */
}

/* Every distinct line is written; two messages alternating are both held back. */
static void test_distinct_and_alternating(void **state)
{
	char *out;
	int lines;

	log_set_repeat_window(60000);
	capture();
	for (int i = 0; i < 50; i++)
		pr_info("access conn=%d", i);
	for (int i = 0; i < 200; i++) {
		pr_info("refused: source 10.0.0.1 over its cap");
		pr_info("refused: source 10.0.0.2 over its cap");
	}
	/* Same text, other level: another line. */
	pr_warn("refused: source 10.0.0.1 over its cap");
	out = release(&lines);
	assert_int_equal(lines, 53);
	assert_int_equal(count_of(out, "access conn="), 50);
	assert_int_equal(count_of(out, "10.0.0.1 over its cap"), 2);
	free(out);
	log_set_repeat_window(0);
}

/* When the window ends, the summary names the line and the count, and a new window starts. */
static void test_summary_after_window(void **state)
{
	char *out;
	int lines;

	capture();
	log_set_repeat_window(1000);
	for (int i = 0; i < 1000; i++)
		pr_warn("accept on 15008: Too many open files");
	usleep(1100 * 1000);
	log_flush();
	/* Still repeating: held back again, summarised at the end of the next window. */
	for (int i = 0; i < 10; i++)
		pr_warn("accept on 15008: Too many open files");
	usleep(1100 * 1000);
	log_flush();
	/* A window without repeats frees the line: its next occurrence is written in full. */
	usleep(1100 * 1000);
	log_flush();
	pr_warn("accept on 15008: Too many open files");
	out = release(&lines);
	assert_int_equal(lines, 4);
	assert_non_null(strstr(out, "accept on 15008: Too many open files (last message repeated "
				    "999 times)\n"));
	assert_non_null(strstr(out, "accept on 15008: Too many open files (last message repeated "
				    "10 times)\n"));
	free(out);
	log_set_repeat_window(0);
}

/* Window 0 turns suppression off. */
static void test_window_zero_prints_all(void **state)
{
	char *out;
	int lines;

	log_set_repeat_window(0);
	capture();
	for (int i = 0; i < 20; i++)
		pr_info("same");
	out = release(&lines);
	assert_int_equal(lines, 20);
	free(out);
}

/* What is held back when the process exits is summarised, not lost. */
static void test_summary_at_exit(void **state)
{
	char *out;
	int lines, status;
	pid_t pid;

	capture();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		log_init("child", LOG_LEVEL_INFO);
		log_set_repeat_window(60000);
		for (int i = 0; i < 5; i++)
			pr_err("disk full");
		exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	out = release(&lines);
	assert_int_equal(lines, 2);
	assert_non_null(strstr(out, "disk full (last message repeated 4 times)"));
	free(out);
}

/* libbpf's messages held around a call: dropped when its refusal was expected, else logged. */
static void test_libbpf_held(void **state)
{
	const char *missing = "/nonexistent/ambit-test-log.bpf.o";
	char *out;
	int lines;

	(void)state;
	log_init("held", LOG_LEVEL_INFO);
	log_set_repeat_window(0);
	log_libbpf_setup();
	capture();
	log_libbpf_hold();
	assert_null(bpf_object__open_file(missing, NULL));
	log_libbpf_release(false);
	out = release(&lines);
	assert_int_equal(lines, 0);
	free(out);

	capture();
	log_libbpf_hold();
	assert_null(bpf_object__open_file(missing, NULL));
	log_libbpf_release(true);
	assert_null(bpf_object__open_file(missing, NULL)); /* not held: as before */
	out = release(&lines);
	assert_int_equal(count_of(out, missing), 2);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identical_lines_suppressed),
	    cmocka_unit_test(test_distinct_and_alternating),
	    cmocka_unit_test(test_summary_after_window),
	    cmocka_unit_test(test_window_zero_prints_all),
	    cmocka_unit_test(test_summary_at_exit),
	    cmocka_unit_test(test_libbpf_held),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
