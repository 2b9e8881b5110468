// SPDX-License-Identifier: Apache-2.0
/*
 * Plain HTTP GETs to a node's ztunnel (readiness, admin, metrics), which listen inside the node
 * netns: the calling thread enters that netns, libcurl makes the request, the thread comes back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl.h"

struct http_buf {
	char *data;
	size_t len;
};

#define HTTP_MAX_BODY (32u << 20)

static size_t http_write(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct http_buf *b = user;
	size_t n = size * nmemb;
	char *grown;

	if (b->len + n + 1 > HTTP_MAX_BODY)
		return 0; /* makes curl fail the transfer instead of eating memory */
	grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->data = grown;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

int http_get_in_netns(const char *netns, int port, const char *path, char **body)
{
	struct http_buf buf = {0};
	char url[512];
	long code = 0;
	int saved = -1, ret;
	CURL *h = NULL;
	CURLcode rc;

	str_fmt(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	ret = netns_enter(netns, &saved);
	if (ret)
		return ret;
	h = curl_easy_init();
	if (!h) {
		ret = -ENOMEM;
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
	/* The socket is created by perform: it must happen while we are inside the netns. */
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		ret = rc == CURLE_COULDNT_CONNECT      ? -ECONNREFUSED
		      : rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
						       : -EIO;
		if (body)
			fprintf(stderr, "ambitctl: GET %s in %s: %s\n", url, netns,
				curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	ret = (int)code;
	if (body) {
		*body = buf.data ? buf.data : strdup("");
		buf.data = NULL;
	}
out:
	if (h)
		curl_easy_cleanup(h);
	free(buf.data);
	netns_leave(saved);
	return ret;
}
