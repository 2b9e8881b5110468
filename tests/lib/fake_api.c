// SPDX-License-Identifier: Apache-2.0
/* The test API server for unit tests (fake_api.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <curl/curl.h>

#include "fake_api.h"

struct body {
	char *data;
	size_t len;
};

static size_t take(char *d, size_t s, size_t n, void *arg)
{
	struct body *b = arg;
	char *p = realloc(b->data, b->len + s * n + 1);

	if (!p)
		return 0;
	memcpy(p + b->len, d, s * n);
	b->len += s * n;
	p[b->len] = '\0';
	b->data = p;
	return s * n;
}

int fake_api_call(const struct fake_api *f, const char *method, const char *path, const char *body,
		  char **out)
{
	struct body b = {0};
	CURL *h = curl_easy_init();
	struct curl_slist *hd = NULL;
	char url[1024], auth[128];
	long code = 0;

	if (!h)
		return 0;
	snprintf(url, sizeof(url), "%s%s", f->base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
	hd = curl_slist_append(hd, auth);
	hd = curl_slist_append(hd, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	if (out)
		*out = b.data ? b.data : strdup("");
	else
		free(b.data);
	return (int)code;
}

int fake_api_start(struct fake_api *f, int port, const char *token)
{
	char listen[64];

	/* A port taken meanwhile (the server exits at once): the next one. */
	for (int tries = 0; tries < 20; tries++, port++) {
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		snprintf(f->base, sizeof(f->base), "http://%s", listen);
		snprintf(f->token, sizeof(f->token), "%s", token);
		f->pid = fork();
		if (f->pid < 0)
			return -1;
		if (!f->pid) {
			execlp("python3", "python3", "tests/k8s/fake_apiserver.py", "--listen",
			       listen, "--token", token, "--bookmark-seconds", "1", (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 100; i++) {
			if (fake_api_call(f, "GET", "/_fake/healthz", NULL, NULL) == 200)
				return 0;
			if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
				f->pid = 0;
				break;
			}
			usleep(50 * 1000);
		}
		if (f->pid) {
			fake_api_stop(f);
			return -1;
		}
	}
	return -1;
}

void fake_api_stop(struct fake_api *f)
{
	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	waitpid(f->pid, NULL, 0);
	f->pid = 0;
}
