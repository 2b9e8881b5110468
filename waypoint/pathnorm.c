// SPDX-License-Identifier: Apache-2.0
/*
 * Request path normalization as Istio configures Envoy (meshConfig.pathNormalization, authz.h):
 * BASE is Envoy's normalize_path (RFC 3986 §6: escapes of unreserved characters decoded, the
 * others upper-cased, backslashes made slashes as the URL canonicalizer Envoy uses does, dot
 * segments removed); MERGE_SLASHES adds merge_slashes; DECODE_AND_MERGE_SLASHES first
 * unescapes %2F and %5C (path_with_escaped_slashes_action UNESCAPE_AND_FORWARD). The path the
 * policies see is the path forwarded.
 */
#include <stdlib.h>
#include <string.h>

#include "ambit/fmt.h"
#include "authz.h"

int wp_path_norm_parse(const char *s)
{
	static const char *const names[] = {
	    [WP_PATH_NORM_BASE] = "BASE",
	    [WP_PATH_NORM_NONE] = "NONE",
	    [WP_PATH_NORM_MERGE_SLASHES] = "MERGE_SLASHES",
	    [WP_PATH_NORM_DECODE_AND_MERGE_SLASHES] = "DECODE_AND_MERGE_SLASHES",
	};

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Escapes in @p (@n bytes) rewritten in place: those of unreserved characters (and, with
 * @slashes, of '/' and '\') decoded, the others' hex upper-cased. The new length, or -1 for an
 * escaped NUL.
 */
static long unescape(char *p, size_t n, bool slashes)
{
	size_t o = 0;
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		unsigned char c;

		if (p[i] != '%' || i + 2 >= n || (hi = fmt_hexval(p[i + 1])) < 0 ||
		    (lo = fmt_hexval(p[i + 2])) < 0) {
			/* Not an escape ("%zz" stays as it came). */
			p[o++] = p[i];
			continue;
		}
		c = (unsigned char)(hi << 4 | lo);
		if (!c)
			return -1;
		if ((slashes && (c == '/' || c == '\\')) || unreserved(c)) {
			p[o++] = (char)c;
		} else {
			p[o++] = '%';
			p[o++] = hex[hi];
			p[o++] = hex[lo];
		}
		i += 2;
	}
	return (long)o;
}

/* RFC 3986 §5.2.4 on absolute path @in (@n bytes, starting with '/') into @out; its length. */
static size_t remove_dots(const char *in, size_t n, char *out)
{
	const char *p = in, *end = in + n;
	size_t o = 0;

	while (p < end) {
		const char *seg = p + 1, *e = memchr(seg, '/', (size_t)(end - seg));
		size_t sl;
		bool last;

		if (!e)
			e = end;
		sl = (size_t)(e - seg);
		last = e == end;
		if (sl == 1 && seg[0] == '.') {
			if (last)
				out[o++] = '/';
		} else if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the slash before the removed segment */
			if (last)
				out[o++] = '/';
		} else {
			out[o++] = '/';
			memcpy(out + o, seg, sl);
			o += sl;
		}
		p = e;
	}
	if (!o)
		out[o++] = '/';
	return o;
}

int wp_path_normalize(enum wp_path_norm mode, const char *target, char *out)
{
	size_t tl = strlen(target), pl = strcspn(target, "?");
	char *work;
	long n;
	size_t o;

	/* Only an origin-form target is a path ("*", authority and absolute forms are kept). */
	if (mode == WP_PATH_NORM_NONE || target[0] != '/') {
		memcpy(out, target, tl + 1);
		return 0;
	}
	work = malloc(pl + 1);
	if (!work)
		return -1;
	memcpy(work, target, pl);
	n = unescape(work, pl, mode == WP_PATH_NORM_DECODE_AND_MERGE_SLASHES);
	if (n < 0) {
		free(work);
		return -1;
	}
	for (long i = 0; i < n; i++)
		if (work[i] == '\\')
			work[i] = '/';
	o = remove_dots(work, (size_t)n, out);
	free(work);
	if (mode == WP_PATH_NORM_MERGE_SLASHES || mode == WP_PATH_NORM_DECODE_AND_MERGE_SLASHES) {
		size_t w = 0;

		for (size_t i = 0; i < o; i++)
			if (out[i] != '/' || !w || out[w - 1] != '/')
				out[w++] = out[i];
		o = w;
	}
	memcpy(out + o, target + pl, tl - pl + 1);
	return 0;
}
