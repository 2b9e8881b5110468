// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "ambit/clock.h"
#include "ambit/log.h"

static const char *log_name = "ambit";
static enum log_level log_max = LOG_LEVEL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/*
 * Repeated-line suppression. A process in trouble tends to say the same thing in a loop (an
 * accept() failing with EMFILE printed 9 million identical lines, 700 MB, in 30 s), and the log
 * then costs more than the trouble. So a line identical (level and text) to one printed less
 * than a window ago is only counted; when that window ends, one summary line says how many
 * were dropped, and a new window starts if it kept repeating (syslog's "last message repeated
 * N times", kept per distinct line so that two alternating messages are both caught). A few
 * distinct lines are remembered; the least recently seen makes room (summarised first), so a
 * line repeating in a loop keeps its place while one-off lines pass through. Lines that differ
 * (every access-log line does) are never held back.
 */
#define REPEAT_SLOTS 32
#define REPEAT_TEXT 256 /* of the line, kept for the summary */
#define REPEAT_WINDOW_MS_DEFAULT 5000

struct repeat_slot {
	uint64_t hash; /* 0: free */
	enum log_level level;
	uint64_t window_start; /* ms, monotonic */
	uint64_t last_seen;    /* use_seq when last printed or held back */
	unsigned long suppressed;
	char text[REPEAT_TEXT];
};

static pthread_mutex_t repeat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct repeat_slot repeat_slots[REPEAT_SLOTS];
static unsigned int repeat_window_ms = REPEAT_WINDOW_MS_DEFAULT;
static bool repeat_atexit;
static uint64_t use_seq;

/* Summaries of the windows that ended by @now, or of every window with @all. Lock held. */
static void expire(uint64_t now, bool all);

/* Nothing held back is lost when the process ends. */
static void log_flush_at_exit(void)
{
	pthread_mutex_lock(&repeat_lock);
	expire(0, true);
	pthread_mutex_unlock(&repeat_lock);
}

void log_init(const char *name, enum log_level level)
{
	log_name = name;
	log_max = level;
	pthread_mutex_lock(&repeat_lock);
	if (!repeat_atexit)
		repeat_atexit = atexit(log_flush_at_exit) == 0;
	pthread_mutex_unlock(&repeat_lock);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned int i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* FNV-1a over the level and the text; never 0 (a free slot). */
static uint64_t line_hash(enum log_level level, const char *text)
{
	uint64_t h = 14695981039346656037ull ^ (uint64_t)level;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h ? h : 1;
}

/* One write per line so lines from several threads never interleave. */
static void emit(enum log_level level, const char *text, const char *suffix)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	dprintf(STDERR_FILENO, "%s.%03ldZ %s %s[%d]: %s%s\n", stamp, ts.tv_nsec / 1000000,
		level_names[level], log_name, (int)getpid(), text, suffix);
}

/* Ends @s's window: its summary if it dropped lines (and a new window), else frees it. */
static void slot_close(struct repeat_slot *s, uint64_t now)
{
	char suffix[64];

	if (!s->suppressed) {
		s->hash = 0;
		return;
	}
	snprintf(suffix, sizeof(suffix), " (last message repeated %lu times)", s->suppressed);
	emit(s->level, s->text, suffix);
	s->suppressed = 0;
	s->window_start = now;
}

static void expire(uint64_t now, bool all)
{
	for (int i = 0; i < REPEAT_SLOTS; i++) {
		struct repeat_slot *s = &repeat_slots[i];

		if (s->hash && (all || now - s->window_start >= repeat_window_ms))
			slot_close(s, now);
	}
}

void log_flush(void)
{
	pthread_mutex_lock(&repeat_lock);
	expire(clock_mono_ms(), false);
	pthread_mutex_unlock(&repeat_lock);
}

void log_set_repeat_window(unsigned int ms)
{
	uint64_t now = clock_mono_ms();

	pthread_mutex_lock(&repeat_lock);
	/* What was held back under the old window is told now. */
	expire(now, true);
	for (int i = 0; i < REPEAT_SLOTS; i++)
		repeat_slots[i].hash = 0;
	repeat_window_ms = ms;
	pthread_mutex_unlock(&repeat_lock);
}

static void log_line(enum log_level level, const char *text)
{
	uint64_t now = clock_mono_ms(), h = line_hash(level, text);
	struct repeat_slot *slot = NULL, *oldest = &repeat_slots[0];

	pthread_mutex_lock(&repeat_lock);
	if (!repeat_window_ms) {
		emit(level, text, "");
		pthread_mutex_unlock(&repeat_lock);
		return;
	}
	expire(now, false);
	for (int i = 0; i < REPEAT_SLOTS; i++) {
		struct repeat_slot *s = &repeat_slots[i];

		if (s->hash == h && s->level == level) {
			s->suppressed++;
			s->last_seen = ++use_seq;
			pthread_mutex_unlock(&repeat_lock);
			return;
		}
		if (!slot && !s->hash)
			slot = s;
		if (s->last_seen < oldest->last_seen)
			oldest = s;
	}
	if (!slot) {
		slot_close(oldest, now);
		slot = oldest;
	}
	slot->hash = h;
	slot->level = level;
	slot->window_start = now;
	slot->last_seen = ++use_seq;
	slot->suppressed = 0;
	snprintf(slot->text, sizeof(slot->text), "%s", text);
	emit(level, text, "");
	pthread_mutex_unlock(&repeat_lock);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n;

	if (level > log_max)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_line(level, line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

#define HELD_MAX 4
static __thread struct {
	bool on;
	unsigned int n;
	struct {
		enum log_level level;
		char text[256];
	} msg[HELD_MAX];
} held;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level l = level == LIBBPF_WARN ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;

	if (held.on) {
		if (held.n < HELD_MAX && l <= log_max) {
			held.msg[held.n].level = l;
			vsnprintf(held.msg[held.n].text, sizeof(held.msg[0].text), fmt, ap);
			held.n++;
		}
		return 0;
	}
	log_vmsg(l, fmt, ap);
	return 0;
}

void log_libbpf_hold(void)
{
	held.on = true;
	held.n = 0;
}

void log_libbpf_release(bool emit)
{
	held.on = false;
	for (unsigned int i = 0; emit && i < held.n; i++)
		log_msg(held.msg[i].level, "%s", held.msg[i].text);
	held.n = 0;
}

void log_libbpf_setup(void)
{
	libbpf_set_print(libbpf_print);
}
