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
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cjson/cJSON.h>
#include <poll.h>

#include "ambit/ipc.h"
#include "agent/server.h"

static char dir[64], path[512];
/* Each test's server (up), on its own epoll set; torn down by teardown. */
static int epfd = -1;
static struct server *srv;

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
static void pump(int ms)
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
	char cmd[128];

	if (srv)
		server_destroy(srv);
	srv = NULL;
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
	unlink(path);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir); /* test_long_path's directories too */
	return system(cmd);
}

/* The server with @o up, and @n clients (in @c) connected to it. */
static void up(const struct server_ops *o, int *c, int n)
{
	epfd = epoll_create1(0);
	assert_true(epfd >= 0);
	srv = server_create(path, epfd, o);
	assert_non_null(srv);
	for (int i = 0; i < n; i++) {
		c[i] = ipc_connect(path);
		assert_true(c[i] >= 0);
	}
}

static void send_req(int fd, const char *json)
{
	assert_int_equal(ipc_write_frame(fd, json, strlen(json)), 0);
}

/* The next frame on @fd: @want exactly, or containing @part. */
static void expect_reply(int fd, const char *want, const char *part)
{
	char *reply;
	size_t len;

	assert_int_equal(ipc_read_frame(fd, &reply, &len), 0);
	if (want)
		assert_string_equal(reply, want);
	if (part)
		assert_non_null(strstr(reply, part));
	free(reply);
}

static void test_get_and_watch(void **state)
{
	int c[2];

	up(&ops, c, 2);
	assert_int_equal(server_publish(srv, "{\"version\":1}", 13), 0);
	send_req(c[0], "{\"op\":\"get\",\"what\":\"status\"}");
	send_req(c[1], "{\"op\":\"watch\"}");
	pump(50);
	expect_reply(c[0], "{\"ok\":true,\"result\":{\"node\":\"n1\"}}", NULL);
	expect_reply(c[1], "{\"version\":1}", NULL);

	/* Only the watcher gets new snapshots; the getter can keep asking. */
	assert_int_equal(server_publish(srv, "{\"version\":2}", 13), 0);
	send_req(c[0], "{\"op\":\"get\",\"what\":\"bogus\"}");
	pump(50);
	expect_reply(c[1], "{\"version\":2}", NULL);
	expect_reply(c[0], "{\"ok\":false,\"error\":\"no such thing\"}", NULL);

	/* A closed client is dropped. */
	close(c[0]);
	pump(50);
	assert_int_equal(server_client_count(srv), 1);
	close(c[1]);
	pump(50);
	assert_int_equal(server_client_count(srv), 0);
}

static void test_slow_watcher_dropped(void **state)
{
	size_t big = 4u << 20;
	char *snap = malloc(big);
	int c;

	assert_non_null(snap);
	memset(snap, 'x', big);
	up(&ops, &c, 1);
	send_req(c, "{\"op\":\"watch\"}");
	pump(50);
	assert_int_equal(server_client_count(srv), 1);
	/* The client never reads: past SERVER_MAX_PENDING it is dropped, and publish never blocks.
	 */
	for (int i = 0; i < 2 * (int)(SERVER_MAX_PENDING / big) + 2; i++)
		assert_int_equal(server_publish(srv, snap, big), 0);
	server_reap(srv);
	assert_int_equal(server_client_count(srv), 0);
	free(snap);
	close(c);
}

static void test_oversized_request(void **state)
{
	uint32_t be = htonl(SERVER_MAX_REQUEST + 1);
	char *reply;
	size_t len;
	int c;

	up(&ops, &c, 1);
	assert_int_equal(write(c, &be, 4), 4);
	pump(50);
	expect_reply(c, NULL, "too large");
	assert_int_equal(ipc_read_frame(c, &reply, &len), -EPIPE);
	assert_int_equal(server_client_count(srv), 0);
	close(c);
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
	char *reply;
	size_t len;
	int c[4];

	in_force = false;
	up(&ops, c, 4);
	send_req(c[0], "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"web\"}");
	send_req(c[1], "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"bad\"}");
	send_req(c[2], "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"slow\",\"timeoutMs\":0}");
	send_req(c[3], "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"gone\"}");
	pump(50);
	expect_reply(c[1], "{\"ok\":false,\"error\":\"pod bad: refused\"}", NULL);
	assert_int_equal(server_held(srv), 3);
	assert_false(readable(c[0]));

	/* Its deadline passed: the slow one is answered at the next retry, web still held. */
	server_retry(srv);
	assert_int_equal(ipc_read_frame(c[2], &reply, &len), 0);
	assert_non_null(strstr(reply, "\"ok\":false"));
	assert_non_null(strstr(reply, "timed out"));
	free(reply);
	assert_int_equal(server_held(srv), 2);
	assert_false(readable(c[0]));

	close(c[3]);
	pump(50);
	assert_int_equal(server_held(srv), 1);

	in_force = true;
	server_retry(srv);
	expect_reply(c[0], "{\"ok\":true,\"result\":{\"captured\":true}}", NULL);
	assert_int_equal(server_held(srv), 0);
	for (int i = 0; i < 3; i++)
		close(c[i]);
}

/* A server without a "cni" answer says so rather than holding the request forever. */
static void test_cni_not_served(void **state)
{
	int c;

	up(&ops_no_cni, &c, 1);
	send_req(c, "{\"op\":\"cni\",\"cmd\":\"add\",\"name\":\"web\"}");
	pump(50);
	expect_reply(c, NULL, "not served");
	assert_int_equal(server_held(srv), 0);
	close(c);
}

/*
 * A socket path longer than sun_path's 108 bytes: a gateway pod's directory on the local cluster
 * under the Gateway API suite's names (namespace gateway-conformance-infra, Gateway
 * httproute-listener-hostname-matching). It is served and reached at that path, mode 0600.
 */
static void test_long_path(void **state)
{
	static const char *const parts[] = {
	    "run",
	    "ambit",
	    "ambit-it-gwconf-12345",
	    "pods",
	    "gateway-conformance-infra_httproute-listener-hostname-matching-istio-5d8f7c9b4-x2x7q",
	    "agent"};
	char deep[512];
	struct stat st;
	int c;

	snprintf(deep, sizeof(deep), "%s", dir);
	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++) {
		snprintf(deep + strlen(deep), sizeof(deep) - strlen(deep), "/%s", parts[i]);
		assert_int_equal(mkdir(deep, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/agent.sock", deep);
	assert_true(strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path));
	up(&ops, &c, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	send_req(c, "{\"op\":\"get\",\"what\":\"status\"}");
	pump(50);
	expect_reply(c, "{\"ok\":true,\"result\":{\"node\":\"n1\"}}", NULL);
	close(c);
	/* A live server keeps its socket, at the long path too. */
	assert_int_equal(ipc_listen(path), -EADDRINUSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get_and_watch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_watcher_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cni_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cni_not_served, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
