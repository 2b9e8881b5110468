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

#include "local.h"

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

int http_get_in_netns_err(const char *netns, int port, const char *path, char **body, char *err,
			  size_t errlen)
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
		str_fmt(err, errlen, "GET %s in %s: %s", url, netns, curl_easy_strerror(rc));
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

int http_get_in_netns(const char *netns, int port, const char *path, char **body)
{
	char err[600] = "";
	int ret = http_get_in_netns_err(netns, port, path, body, err, sizeof(err));

	if (body && err[0])
		fprintf(stderr, "ambitctl: %s\n", err);
	return ret;
}

int http_fetch_status(const char *url, size_t cap, char **body, size_t *len, long *status,
		      char *err, size_t errlen)
{
	struct http_buf buf = {0};
	char cerr[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURL *h = curl_easy_init();
	CURLcode rc;

	*body = NULL;
	*len = 0;
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	*status = code;
	if (rc != CURLE_OK || buf.len > cap) {
		if (rc == CURLE_FILESIZE_EXCEEDED || rc == CURLE_WRITE_ERROR || buf.len > cap)
			snprintf(err, errlen, "larger than %zu bytes", cap);
		else
			snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
		free(buf.data);
		return -EIO;
	}
	*body = buf.data ? buf.data : strdup("");
	*len = buf.len;
	return *body ? 0 : -ENOMEM;
}

int http_fetch(const char *url, size_t cap, char **body, size_t *len, char *err, size_t errlen)
{
	long code = 0;
	int ret = http_fetch_status(url, cap, body, len, &code, err, errlen);

	if (!ret && code != 200) {
		snprintf(err, errlen, "HTTP status %ld", code);
		free(*body);
		*body = NULL;
		*len = 0;
		return -EIO;
	}
	return ret;
}
