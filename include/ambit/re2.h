/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regular expressions as Istio writes them (RE2 syntax, whole-string match), run by PCRE2.
 * re2_check() accepts only what RE2 accepts of the syntax both share, so a pattern that loads
 * here also loads in Istio; the differences that remain are in docs/internals/l7-model.md
 * ("Regexes").
 */
#ifndef AMBIT_RE2_H
#define AMBIT_RE2_H

#include <stdbool.h>
#include <stddef.h>

struct re2;

#define RE2_CASELESS 1u /* (?i) for the whole pattern */
#define RE2_SEARCH 2u	/* find matches anywhere (substitution) instead of matching the whole */

/* 0 when @pattern is RE2 syntax ambit runs; -EINVAL with the reason in @why. Borrows all. */
int re2_check(const char *pattern, char *why, size_t len);
/*
 * Compiles @pattern (RE2_* @flags). Returns the compiled pattern (free with re2_free), or NULL
 * with errno set (EINVAL: the reason is in @why). Borrows @pattern.
 */
struct re2 *re2_compile(const char *pattern, unsigned int flags, char *why, size_t len);
void re2_free(struct re2 *re);
/* 1 when @re matches all of @s (@len bytes), 0 when not or when the work limit is hit. */
int re2_match(const struct re2 *re, const char *s, size_t len);
/*
 * Replaces every non-overlapping match of @re (compiled with RE2_SEARCH) in @s by @rewrite,
 * where \0..\9 stand for the groups and \\ for a backslash (RE2::GlobalReplace, which
 * Envoy's regex_rewrite uses). Returns a malloc'd string (caller frees) or NULL with errno.
 */
char *re2_replace_all(const struct re2 *re, const char *s, const char *rewrite);
/* 0 when @rewrite only names groups @re has; -EINVAL with the reason. */
int re2_check_rewrite(const struct re2 *re, const char *rewrite, char *why, size_t len);

#endif
