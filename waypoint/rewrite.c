// SPDX-License-Identifier: Apache-2.0
/* Path rewriting and redirect locations (rewrite.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/re2.h"
#include "rewrite.h"

/* @prefix replaces the @mlen bytes the route matched at the start of @path. */
static char *replace_prefix(const char *path, size_t mlen, const char *prefix, bool segment)
{
	const char *rest = path + mlen;
	size_t pl = strlen(prefix);
	char *out;

	/* Gateway API: replacing "/foo" by "/" in "/foo/x" gives "/x", not "//x". */
	if (segment && pl && prefix[pl - 1] == '/' && *rest == '/')
		pl--;
	if (segment && !pl && *rest != '/')
		return asprintf(&out, "/%s", rest) < 0 ? NULL : out;
	return asprintf(&out, "%.*s%s", (int)pl, prefix, rest) < 0 ? NULL : out;
}

/* Length of the prefix match @m consumed of @path (0 when it is no prefix match). */
static size_t matched_len(const struct l7_match *m, const char *path)
{
	size_t n;

	if (!m || (m->path.type != L7_MATCH_PREFIX && m->path.type != L7_MATCH_PATH_PREFIX))
		return 0;
	n = strlen(m->path.value);
	if (m->path.type == L7_MATCH_PATH_PREFIX && n > 1 && m->path.value[n - 1] == '/')
		n--;
	return n <= strlen(path) ? n : 0;
}

static char *new_path(const char *path, const char *full, const char *prefix,
		      const struct l7_match *m)
{
	const char *q = path + strcspn(path, "?");
	char *out;

	if (full)
		return asprintf(&out, "%s%s", full, q) < 0 ? NULL : out;
	if (prefix)
		return replace_prefix(path, matched_len(m, path), prefix,
				      m && m->path.type == L7_MATCH_PATH_PREFIX);
	return strdup(path);
}

char *wp_rewrite_path(const struct l7_route *r, const struct l7_match *m, const char *path)
{
	const struct l7_rewrite *rw = &r->rewrite;
	char why[160], *head, *done, *out;
	size_t hl = strcspn(path, "?");
	struct re2 *re;

	if (!rw->regex)
		return new_path(path, rw->path, rw->prefix, m);
	/* uriRegexRewrite: on the path only; the query string follows unchanged. */
	re = re2_compile(rw->regex, RE2_SEARCH, why, sizeof(why));
	head = strndup(path, hl);
	if (!re || !head) {
		re2_free(re);
		free(head);
		errno = re ? ENOMEM : EINVAL;
		return NULL;
	}
	done = re2_replace_all(re, head, rw->regex_sub);
	re2_free(re);
	free(head);
	if (!done)
		return NULL;
	if (asprintf(&out, "%s%s", done, path + hl) < 0)
		out = NULL;
	free(done);
	return out;
}

/* Host and port of an authority "host[:port]" ("[v6]:port" too). */
static void split_authority(const char *a, char *host, size_t hlen, uint16_t *port)
{
	const char *colon = a[0] == '[' ? strchr(a, ']') : strrchr(a, ':');

	if (a[0] == '[' && colon)
		colon = colon[1] == ':' ? colon + 1 : NULL;
	*port = colon ? (uint16_t)atoi(colon + 1) : 0;
	snprintf(host, hlen, "%.*s", colon ? (int)(colon - a) : (int)strlen(a), a);
}

static uint16_t default_port(const char *scheme)
{
	return !strcmp(scheme, "https") ? 443 : 80;
}

char *wp_redirect_location(const struct l7_route *r, const struct l7_match *m, const char *scheme,
			   const char *authority, const char *path, uint16_t port)
{
	const struct l7_redirect *rd = &r->redirect;
	const char *s = rd->scheme ? rd->scheme : scheme;
	char host[512], portbuf[16] = "", *p, *out;
	uint16_t keep;

	split_authority(authority ? authority : "", host, sizeof(host), &keep);
	if (rd->host)
		split_authority(rd->host, host, sizeof(host), &keep);
	if (rd->port)
		keep = rd->port;
	else if (rd->derive_port == CONFIG_DERIVE_PORT_REQUEST)
		keep = port;
	else if (rd->derive_port == CONFIG_DERIVE_PORT_PROTOCOL_DEFAULT || rd->scheme)
		keep = 0; /* a scheme change drops a port meant for the old scheme */
	if (keep && keep != default_port(s))
		snprintf(portbuf, sizeof(portbuf), ":%u", keep);
	p = new_path(path, rd->path, rd->prefix, m);
	if (!p)
		return NULL;
	if (!rd->keep_query)
		p[strcspn(p, "?")] = '\0';
	if (asprintf(&out, "%s://%s%s%s", s, host, portbuf, p) < 0)
		out = NULL;
	free(p);
	return out;
}
