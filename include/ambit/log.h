/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for every ambit process: one line per message on stderr, level-filtered. A line
 * identical to one printed within the repeat window (5 s) is counted instead of printed, and
 * summarised as "<line> (last message repeated N times)" when the window ends.
 */
#ifndef AMBIT_LOG_H
#define AMBIT_LOG_H

#include <stdbool.h>
#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Sets the process name printed in every line (borrows @name: must outlive logging). */
void log_init(const char *name, enum log_level level);
/*
 * Prints the summaries of repeat windows that have ended. Logging does this itself on every
 * line; a process that may fall quiet calls it from a periodic tick (and it runs at exit).
 */
void log_flush(void);
/* Sets the repeat window in ms (0: print every line); pending summaries are printed first. */
void log_set_repeat_window(unsigned int ms);
/* Parses "error|warn|info|debug"; returns -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Routes libbpf's own messages through log_msg, demoted one level (as xdp-tools does). */
void log_libbpf_setup(void);
/*
 * Holds libbpf's messages of the calling thread from log_libbpf_hold until log_libbpf_release,
 * which logs them only when @emit: a call whose refusal is expected (a clsact qdisc that
 * exists: EEXIST, with the kernel's "Exclusivity flag on"; a pinned link not there yet: ENOENT)
 * says nothing then.
 */
void log_libbpf_hold(void);
void log_libbpf_release(bool emit);

#define pr_err(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
