// SPDX-License-Identifier: Apache-2.0
/* The agent socket server: requests, watchers, and dropping a client that does not read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cjson/cJSON.h>
#include <poll.h>

#include "ambit/ipc.h"
#include "server.h"

static char dir[64], path[128];

static char *get_cb(void *ctx, const char *what, char *err, size_t errlen)
{
	if (strcmp(what, "status") == 0)
		return strdup("{\"node\":\"n1\"}");
	snprintf(err, errlen, "no such thing");
	return NULL;
}

/* The pod is captured once @in_force; "bad" pods are refused outright. */
static bool in_force;

static char *cni_cb(void *ctx, const struct cJSON *req, int *fd, char *err, size_t errlen)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(req, "name");

	if (cJSON_IsString(name) && !strcmp(name->valuestring, "bad")) {
		snprintf(err, errlen, "pod bad: refused");
		return NULL;
	}
	return in_force ? strdup("{\"captured\":true}") : NULL;
}

static const struct server_ops ops = {.get = get_cb, .cni = cni_cb};
static const struct server_ops ops_no_cni = {.get = get_cb};

/* Runs the loop until nothing is ready for @ms. */
static void pump(int epfd, struct server *srv, int ms)
{
	struct epoll_event evs[16];
	int n;

	while ((n = epoll_wait(epfd, evs, 16, ms)) > 0) {
		for (int i = 0; i < n; i++) {
			struct agent_source *src = evs[i].data.ptr;

			src->handle(src, evs[i].events);
		}
		server_reap(srv);
	}
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/ambit-test-agentsrv-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/agent.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return rmdir(dir);
}

static void send_req(int fd, const char *json)
{
	assert_int_equal(ipc_write_frame(fd, json, strlen(json)), 0);
}

static void test_get_and_watch(void **state)
{
	int epfd = epoll_create1(0);
	struct server *srv = server_create(path, epfd, &ops);
	char *reply;
	size_t len;
	int c1, c2;

	assert_non_null(srv);
	assert_int_equal(server_publish(srv, "{\"version\":1}", 13), 0);
	c1 = ipc_connect(path);
	c2 = ipc_connect(path);
	assert_true(c1 >= 0 && c2 >= 0);
	send_req(c1, "{\"op\":\"get\",\"what\":\"status\"}");
	send_req(c2, "{\"op\":\"watch\"}");
	pump(epfd, srv, 50);
	assert_int_equal(ipc_read_frame(c1, &reply, &len), 0);
	assert_string_equal(reply, "{\"ok\":true,\"result\":{\"node\":\"n1\"}}");
	free(reply);
	assert_int_equal(ipc_read_frame(c2, &reply, &len), 0);
	assert_string_equal(reply, "{\"version\":1}");
	free(reply);

	/* Only the watcher gets new snapshots; the getter can keep asking. */
	assert_int_equal(server_publish(srv, "{\"version\":2}", 13), 0);
	send_req(c1, "{\"op\":\"get\",\"what\":\"bogus\"}");
	pump(epfd, srv, 50);
	assert_int_equal(ipc_read_frame(c2, &reply, &len), 0);
	assert_string_equal(reply, "{\"version\":2}");
	free(reply);
	assert_int_equal(ipc_read_frame(c1, &reply, &len), 0);
	assert_string_equal(reply, "{\"ok\":false,\"error\":\"no such thing\"}");
	free(reply);

	/* A closed client is dropped. */
	close(c1);
	pump(epfd, srv, 50);
	assert_int_equal(server_client_count(srv), 1);
	close(c2);
	pump(epfd, srv, 50);
	assert_int_equal(server_client_count(srv), 0);
	server_destroy(srv);
	close(epfd);
}

static void test_slow_watcher_dropped(void **state)
{
	int epfd = epoll_create1(0);
	struct server *srv = server_create(path, epfd, &ops);
	size_t big = 4u << 20;
	char *snap = malloc(big);
	int c;

	assert_non_null(srv);
	assert_non_null(snap);
	memset(snap, 'x', big);
	c = ipc_connect(path);
	assert_true(c >= 0);
	send_req(c, "{\"op\":\"watch\"}");
	pump(epfd, srv, 50);
	assert_int_equal(server_client_count(srv), 1);
	/* The client never reads: past SERVER_MAX_PENDING it is dropped, and publish never blocks.
	 */
	for (int i = 0; i < 2 * (int)(SERVER_MAX_PENDING / big) + 2; i++)
		assert_int_equal(server_publish(srv, snap, big), 0);
	server_reap(srv);
	assert_int_equal(server_client_count(srv), 0);
	free(snap);
	close(c);
	server_destroy(srv);
	close(epfd);
}

static void test_oversized_request(void **state)
{
	int epfd = epoll_create1(0);
	struct server *srv = server_create(path, epfd, &ops);
	uint32_t be = htonl(SERVER_MAX_REQUEST + 1);
	char *reply;
	size_t len;
	int c;

	assert_non_null(srv);
	c = ipc_connect(path);
	assert_true(c >= 0);
	assert_int_equal(write(c, &be, 4), 4);
	pump(epfd, srv, 50);
	assert_int_equal(ipc_read_frame(c, &reply, &len), 0);
	assert_non_null(strstr(reply, "too large"));
	free(reply);
	assert_int_equal(ipc_read_frame(c, &reply, &len), -EPIPE);
	assert_int_equal(server_client_count(srv), 0);
	close(c);
	server_destroy(srv);
	close(epfd);
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/*
 * A "cni" request is held, unanswered, while the answer is "not yet"; answered at the
 * server_retry after it becomes yes; refused at once when refused; answered with a failure once
 * its timeoutMs passes; dropped cleanly when the client goes away while held.
 */
static void test_cni_held(void **state)
{
	int epfd = epoll_create1(0);
	struct server *srv = server_create(path, epfd, &ops);
	char *reply;
	size_t len;
	int c1, c2, c3, c4;

	assert_non_null(srv);
	in_force = false;
	c1 = ipc_connect(path);
	c2 = ipc_connect(path);
	c3 = ipc_connect(path);
	c4 = ipc_connect(path);
	assert_true(c1 >= 0 && c2 >= 0 && c3 >= 0 && c4 >= 0);
	send_req(c1, "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"web\"}");
	send_req(c2, "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"bad\"}");
	send_req(c3, "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"slow\",\"timeoutMs\":0}");
	send_req(c4, "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"gone\"}");
	pump(epfd, srv, 50);
	assert_int_equal(ipc_read_frame(c2, &reply, &len), 0);
	assert_string_equal(reply, "{\"ok\":false,\"error\":\"pod bad: refused\"}");
	free(reply);
	assert_int_equal(server_held(srv), 3);
	assert_false(readable(c1));

	/* Its deadline passed: c3 is answered at the next retry, c1 still held. */
	server_retry(srv);
	assert_int_equal(ipc_read_frame(c3, &reply, &len), 0);
	assert_non_null(strstr(reply, "\"ok\":false"));
	assert_non_null(strstr(reply, "timed out"));
	free(reply);
	assert_int_equal(server_held(srv), 2);
	assert_false(readable(c1));

	close(c4);
	pump(epfd, srv, 50);
	assert_int_equal(server_held(srv), 1);

	in_force = true;
	server_retry(srv);
	assert_int_equal(ipc_read_frame(c1, &reply, &len), 0);
	assert_string_equal(reply, "{\"ok\":true,\"result\":{\"captured\":true}}");
	free(reply);
	assert_int_equal(server_held(srv), 0);
	close(c1);
	close(c2);
	close(c3);
	server_destroy(srv);
	close(epfd);
}

/* A server without a "cni" answer says so rather than holding the request forever. */
static void test_cni_not_served(void **state)
{
	int epfd = epoll_create1(0);
	struct server *srv = server_create(path, epfd, &ops_no_cni);
	char *reply;
	size_t len;
	int c;

	assert_non_null(srv);
	c = ipc_connect(path);
	assert_true(c >= 0);
	send_req(c, "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"web\"}");
	pump(epfd, srv, 50);
	assert_int_equal(ipc_read_frame(c, &reply, &len), 0);
	assert_non_null(strstr(reply, "not served"));
	free(reply);
	assert_int_equal(server_held(srv), 0);
	close(c);
	server_destroy(srv);
	close(epfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get_and_watch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_watcher_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cni_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cni_not_served, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
