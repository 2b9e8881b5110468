// SPDX-License-Identifier: Apache-2.0
/*
 * RE2-syntax regular expressions on PCRE2 (the regex library Debian ships; RE2 is C++). The
 * syntax check is a whitelist of what RE2 parses: escapes, group forms, flags and repetition
 * bounds; everything PCRE2 has and RE2 refuses (backreferences, lookaround, atomic groups,
 * possessive quantifiers, recursion, callouts, \K \G \R \h ...) is rejected, so Istio and ambit
 * accept the same patterns. Matching is PCRE2 with RE2's defaults: UTF-8, `$` only at the end,
 * whole-string match anchored at both ends. RE2 runs in linear time and PCRE2 backtracks, so a
 * match is bounded by a work limit and a pattern that hits it does not match.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/re2.h"

#define RE2_MAX_REPEAT 1000 /* RE2's kMaxRepeat */
#define RE2_MATCH_LIMIT 200000
#define RE2_DEPTH_LIMIT 10000

struct re2 {
	pcre2_code *code;
	pcre2_match_context *mctx;
	uint32_t ngroups;
};

static int fail(char *why, size_t len, const char *fmt, size_t at)
{
	if (why && len)
		snprintf(why, len, fmt, at);
	return -EINVAL;
}

/* Letters RE2 knows after a backslash (digits: \0 octal only; punctuation is literal). */
static bool escape_ok(char c)
{
	return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
	       (c >= '{' && c <= '~') || c == '0' || (c && strchr("afnrtvxdDsSwWbBAzCQEpP", c));
}

/* "{n}", "{n,}", "{n,m}" at @p: its bounds checked; returns its length, or 0 when literal. */
static size_t repeat_len(const char *p, char *why, size_t len, size_t at, int *err)
{
	const char *q = p + 1;
	long n = -1, m = -1;
	char *end;

	if (*q < '0' || *q > '9')
		return 0;
	n = strtol(q, &end, 10);
	q = end;
	if (*q == ',') {
		q++;
		if (*q >= '0' && *q <= '9') {
			m = strtol(q, &end, 10);
			q = end;
		}
	}
	if (*q != '}')
		return 0; /* RE2 takes a malformed {..} literally */
	if (n > RE2_MAX_REPEAT || m > RE2_MAX_REPEAT || (m >= 0 && m < n))
		*err = fail(why, len,
			    "bad repetition bounds at offset %zu (at most 1000, min <= max)", at);
	return (size_t)(q - p) + 1;
}

/* "(?" forms RE2 parses: (?:..) (?flags) (?flags:..) (?P<name>..) (?<name>..). */
static int group_ok(const char *p, char *why, size_t len, size_t at)
{
	const char *q = p + 2;

	if (*q == 'P' && q[1] == '<')
		q += 2;
	else if (*q == '<' && q[1] != '=' && q[1] != '!')
		q++;
	else
		goto flags;
	if (!*q || *q == '>')
		return fail(why, len, "empty group name at offset %zu", at);
	for (; *q && *q != '>'; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		      (*q >= '0' && *q <= '9') || *q == '_'))
			return fail(why, len, "bad group name at offset %zu", at);
	return *q ? 0 : fail(why, len, "unterminated group name at offset %zu", at);
flags:
	for (; *q && strchr("imsU-", *q); q++)
		;
	if (*q == ')' || *q == ':')
		return 0;
	return fail(why, len,
		    "group syntax RE2 does not support at offset %zu (lookaround, atomic, "
		    "recursion, conditional, comment or flag other than i, m, s, U)",
		    at);
}

/*
 * Walks @pattern once, checking it is RE2 syntax; when @out is not NULL, writes the PCRE2
 * spelling of it there (RE2's \v is a vertical tab, PCRE2's a character class).
 */
static int scan(const char *pattern, char *out, char *why, size_t len)
{
	bool in_class = false, quoted = false, after_quant = false;
	size_t o = 0;
	int err = 0;

	for (const char *p = pattern; *p && !err; p++) {
		size_t at = (size_t)(p - pattern);
		bool quant = false;

		if (quoted) { /* \Q...\E: literal */
			if (p[0] == '\\' && p[1] == 'E') {
				quoted = false;
				if (out) {
					out[o++] = *p++;
					out[o++] = *p;
				} else {
					p++;
				}
				continue;
			}
			if (out)
				out[o++] = *p;
			continue;
		}
		if (*p == '\\') {
			if (!p[1])
				return fail(why, len, "trailing backslash at offset %zu", at);
			if (!escape_ok(p[1]))
				return fail(why, len,
					    "escape RE2 does not support at offset %zu "
					    "(backreferences and PCRE-only escapes are invalid)",
					    at);
			if (p[1] == 'Q')
				quoted = true;
			if (out && p[1] == 'v') {
				memcpy(out + o, "\\x0B", 4);
				o += 4;
			} else if (out) {
				out[o++] = p[0];
				out[o++] = p[1];
			}
			p++;
			after_quant = false;
			continue;
		}
		if (in_class) {
			if (*p == ']')
				in_class = false;
			else if (*p == '[' && p[1] == ':') { /* [[:alpha:]] */
				const char *e = strstr(p + 2, ":]");

				if (e) {
					if (out) {
						memcpy(out + o, p, (size_t)(e + 2 - p));
						o += (size_t)(e + 2 - p);
					}
					p = e + 1;
					continue;
				}
			}
			if (out)
				out[o++] = *p;
			continue;
		}
		switch (*p) {
		case '[':
			in_class = true;
			if (out)
				out[o++] = *p;
			if (p[1] == '^') {
				p++;
				if (out)
					out[o++] = *p;
			}
			if (p[1] == ']') { /* a leading ] is literal */
				p++;
				if (out)
					out[o++] = *p;
			}
			after_quant = false;
			continue;
		case '(':
			if (p[1] == '?')
				err = group_ok(p, why, len, at);
			break;
		case '*':
		case '+':
		case '?':
			if (after_quant && *p != '?')
				return fail(why, len,
					    "bad repetition operator at offset %zu (possessive or "
					    "repeated quantifiers are not RE2)",
					    at);
			quant = !after_quant; /* "x??" is lazy, "x???" is not RE2 */
			if (after_quant && *p == '?' && p[1] && strchr("*+?{", p[1]))
				return fail(why, len, "bad repetition operator at offset %zu", at);
			break;
		case '{': {
			size_t n = repeat_len(p, why, len, at, &err);

			if (n && after_quant)
				return fail(why, len, "bad repetition operator at offset %zu", at);
			if (n) {
				if (out) {
					memcpy(out + o, p, n);
					o += n;
				}
				p += n - 1;
				after_quant = true;
				continue;
			}
			break;
		}
		default: break;
		}
		after_quant = quant;
		if (out)
			out[o++] = *p;
	}
	if (err)
		return err;
	if (in_class)
		return fail(why, len, "missing ] (character class not closed at offset %zu)",
			    strlen(pattern));
	if (out)
		out[o] = '\0';
	return 0;
}

static int compile(const char *pattern, unsigned int flags, pcre2_code **code, char *why,
		   size_t len)
{
	uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
	/* \v becomes 4 bytes: the translation is at most twice as long. */
	char *pcre = malloc(strlen(pattern) * 2 + 1);
	PCRE2_SIZE off;
	int err, code_err;

	if (!pcre)
		return -ENOMEM;
	err = scan(pattern, pcre, why, len);
	if (err)
		goto out;
	if (flags & RE2_CASELESS)
		opts |= PCRE2_CASELESS;
	if (!(flags & RE2_SEARCH))
		opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
	*code = pcre2_compile((PCRE2_SPTR)pcre, PCRE2_ZERO_TERMINATED, opts, &code_err, &off, NULL);
	if (!*code) {
		PCRE2_UCHAR msg[120];

		pcre2_get_error_message(code_err, msg, sizeof(msg));
		if (why && len)
			snprintf(why, len, "%s at offset %zu", (const char *)msg, (size_t)off);
		err = -EINVAL;
	}
out:
	free(pcre);
	return err;
}

int re2_check(const char *pattern, char *why, size_t len)
{
	pcre2_code *code = NULL;
	int err = compile(pattern, 0, &code, why, len);

	pcre2_code_free(code);
	return err;
}

struct re2 *re2_compile(const char *pattern, unsigned int flags, char *why, size_t len)
{
	struct re2 *re = calloc(1, sizeof(*re));
	int err;

	if (!re)
		return NULL;
	err = compile(pattern, flags, &re->code, why, len);
	if (err)
		goto fail;
	re->mctx = pcre2_match_context_create(NULL);
	if (!re->mctx) {
		err = -ENOMEM;
		goto fail;
	}
	pcre2_set_match_limit(re->mctx, RE2_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, RE2_DEPTH_LIMIT);
	pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &re->ngroups);
	return re;
fail:
	re2_free(re);
	errno = -err;
	return NULL;
}

void re2_free(struct re2 *re)
{
	if (!re)
		return;
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	free(re);
}

int re2_match(const struct re2 *re, const char *s, size_t len)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
	int rc;

	if (!md)
		return 0;
	rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, re->mctx);
	pcre2_match_data_free(md);
	return rc > 0;
}

int re2_check_rewrite(const struct re2 *re, const char *rewrite, char *why, size_t len)
{
	for (const char *p = rewrite; *p; p++) {
		if (*p != '\\')
			continue;
		p++;
		if (*p == '\\')
			continue;
		if (*p < '0' || *p > '9')
			return fail(
			    why, len,
			    "rewrite: a backslash must be followed by a digit or a backslash "
			    "(offset %zu)",
			    (size_t)(p - rewrite - 1));
		if ((uint32_t)(*p - '0') > re->ngroups)
			return fail(why, len,
				    "rewrite: \\%zu names a group the regex does not have",
				    (size_t)(*p - '0'));
	}
	return 0;
}

struct buf {
	char *s;
	size_t n, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->s, cap);

		if (!p)
			return -ENOMEM;
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
	return 0;
}

char *re2_replace_all(const struct re2 *re, const char *s, const char *rewrite)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
	size_t len = strlen(s), pos = 0;
	struct buf b = {0};
	int err = put(&b, "", 0);

	if (!md)
		err = -ENOMEM;
	while (!err && pos <= len) {
		PCRE2_SIZE *ov;
		int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, pos, 0, md, re->mctx);

		if (rc <= 0)
			break;
		ov = pcre2_get_ovector_pointer(md);
		err = put(&b, s + pos, ov[0] - pos);
		for (const char *r = rewrite; !err && *r; r++) {
			uint32_t g;

			if (*r != '\\' || !r[1]) {
				err = put(&b, r, 1);
				continue;
			}
			r++;
			if (*r < '0' || *r > '9') {
				err = put(&b, r, 1); /* "\\": one backslash */
				continue;
			}
			g = (uint32_t)(*r - '0');
			if (g < (uint32_t)rc && ov[2 * g] != PCRE2_UNSET)
				err = put(&b, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
		}
		if (ov[1] == ov[0]) { /* an empty match: copy one character and move on */
			if (ov[0] < len)
				err = err ? err : put(&b, s + ov[0], 1);
			pos = ov[0] + 1;
		} else {
			pos = ov[1];
		}
	}
	if (!err && pos < len)
		err = put(&b, s + pos, len - pos);
	pcre2_match_data_free(md);
	if (err) {
		free(b.s);
		errno = -err;
		return NULL;
	}
	return b.s;
}
