/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The test API server (tests/k8s/fake_apiserver.py) for unit tests: started as a child process
 * on a loopback port, with one bearer token and bookmarks every second, and called with libcurl.
 * Tests run from the repository's root (as `make unit` runs them).
 */
#ifndef AMBIT_TESTS_FAKE_API_H
#define AMBIT_TESTS_FAKE_API_H

#include <sys/types.h>

struct fake_api {
	pid_t pid;
	char base[96];	/* http://127.0.0.1:PORT */
	char token[64]; /* the one it accepts */
};

/* Starts it on @port with @token and waits until it answers: 0, or -1 (nothing left running). */
int fake_api_start(struct fake_api *f, int port, const char *token);
void fake_api_stop(struct fake_api *f);
/*
 * @method @path (below base) with the JSON @body (or NULL) and the token: the HTTP status (0 when
 * it did not answer); the body into *@out (malloc'd, NUL-terminated) when @out is not NULL.
 */
int fake_api_call(const struct fake_api *f, const char *method, const char *path, const char *body,
		  char **out);

#endif
