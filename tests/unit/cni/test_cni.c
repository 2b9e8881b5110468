// SPDX-License-Identifier: Apache-2.0
/*
 * ambit-cni's protocol (userspace/cni/cni.c): configuration and environment in, the
 * specification's result or error out, against the agent's own socket server (server.c) with a
 * "cni" answer the test decides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cni/cni.h"
#include "agent/server.h"

enum agent_mode { AGENT_OUTSIDE, AGENT_CAPTURE_LATER, AGENT_REFUSE, AGENT_NEVER };

static char dir[64], sock[128];
static enum agent_mode mode;
static int asked; /* calls of the cni callback for the current request */
static char last_req[2048];
static volatile bool stop;

/* The inode of the namespace the last request sent open (0: none), taken from the server. */
static ino_t sent_ino;

static char *cni_cb(void *ctx, const struct cJSON *req, int *fd, char *err, size_t errlen)
{
	char *text = cJSON_PrintUnformatted(req);
	struct stat st;

	if (*fd >= 0) {
		assert_int_equal(fstat(*fd, &st), 0);
		sent_ino = st.st_ino;
		close(*fd);
		*fd = -1;
	}

	snprintf(last_req, sizeof(last_req), "%s", text ? text : "");
	free(text);
	asked++;
	switch (mode) {
	case AGENT_OUTSIDE: return strdup("{\"captured\":false}");
	case AGENT_CAPTURE_LATER:
		/* Held twice (not in force yet), then in force: as a reconcile or two would. */
		return asked >= 3 ? strdup("{\"captured\":true}") : NULL;
	case AGENT_REFUSE: snprintf(err, errlen, "pod x/y: no cgroup"); return NULL;
	case AGENT_NEVER: return NULL;
	}
	return NULL;
}

static const struct server_ops ops = {.cni = cni_cb};

static void *agent_thread(void *arg)
{
	int epfd = epoll_create1(0);
	struct server *srv = server_create(sock, epfd, &ops);

	assert_non_null(srv);
	*(volatile bool *)arg = true;
	while (!stop) {
		struct epoll_event evs[8];
		int n = epoll_wait(epfd, evs, 8, 20);

		for (int i = 0; i < n; i++) {
			struct agent_source *src = evs[i].data.ptr;

			src->handle(src, evs[i].events);
		}
		server_retry(srv);
		server_reap(srv);
	}
	server_destroy(srv);
	close(epfd);
	return NULL;
}

static pthread_t agent;
static bool agent_up;

static void agent_start(void)
{
	volatile bool ready = false;

	stop = false;
	assert_int_equal(pthread_create(&agent, NULL, agent_thread, (void *)&ready), 0);
	while (!ready)
		usleep(1000);
	agent_up = true;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/ambit-test-cni-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	mode = AGENT_OUTSIDE;
	asked = 0;
	sent_ino = 0;
	last_req[0] = '\0';
	agent_up = false;
	return 0;
}

static int teardown(void **state)
{
	if (agent_up) {
		stop = true;
		pthread_join(agent, NULL);
	}
	unlink(sock);
	return rmdir(dir);
}

static const char prev[] = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
			   "\"sandbox\":\"/var/run/netns/p1\"}],\"ips\":[{\"address\":"
			   "\"10.22.0.5/24\",\"interface\":0},{\"address\":\"fd00::5/64\"}]}";

/* The chained configuration as a runtime gives it, with @extra fields inside the object. */
static char *conf(const char *extra, bool with_prev)
{
	char *s;

	assert_true(asprintf(&s,
			     "{\"cniVersion\":\"1.0.0\",\"name\":\"podnet\",\"type\":\"ambit-cni\","
			     "\"agentSocket\":\"%s\"%s%s%s%s}",
			     sock, extra ? "," : "", extra ? extra : "",
			     with_prev ? ",\"prevResult\":" : "", with_prev ? prev : "") > 0);
	return s;
}

static struct cni_env env_for(const char *cmd)
{
	return (struct cni_env){
	    .command = cmd,
	    .containerid = "c0ffee",
	    .netns = "/var/run/netns/p1",
	    .ifname = "eth0",
	    .args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;"
		    "K8S_POD_INFRA_CONTAINER_ID=c0ffee",
	    .path = "/opt/cni/bin",
	};
}

/* Runs the plugin; returns its parsed stdout (NULL when empty) and its exit status. */
static cJSON *run(const struct cni_env *env, const char *in, int *status)
{
	char *out = NULL;
	cJSON *j = NULL;

	*status = cni_run(env, in, in ? strlen(in) : 0, &out);
	if (out) {
		j = cJSON_Parse(out);
		assert_non_null(j);
	}
	free(out);
	return j;
}

/* Asserts the specification's error object with @code, and that @needle is in msg or details. */
static void assert_error(cJSON *j, int status, int code, const char *needle)
{
	const cJSON *c = cJSON_GetObjectItem(j, "code"), *m = cJSON_GetObjectItem(j, "msg");
	const cJSON *d = cJSON_GetObjectItem(j, "details");

	assert_int_equal(status, 1);
	assert_non_null(j);
	assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "cniVersion")));
	assert_true(cJSON_IsNumber(c));
	assert_int_equal(c->valueint, code);
	assert_true(cJSON_IsString(m));
	if (needle)
		assert_true(strstr(m->valuestring, needle) ||
			    (cJSON_IsString(d) && strstr(d->valuestring, needle)));
	cJSON_Delete(j);
}

static void assert_error_for(const struct cni_env *env, const char *in, int code,
			     const char *needle)
{
	int status;
	cJSON *j = run(env, in, &status);

	assert_error(j, status, code, needle);
}

/* The result is prevResult, unchanged but for the configuration's cniVersion. */
static void assert_passes_prev(cJSON *j, int status, const char *version)
{
	cJSON *want = cJSON_Parse(prev);

	assert_int_equal(status, 0);
	assert_non_null(j);
	cJSON_ReplaceItemInObject(want, "cniVersion", cJSON_CreateString(version));
	assert_true(cJSON_Compare(j, want, true));
	cJSON_Delete(want);
	cJSON_Delete(j);
}

static void test_version(void **state)
{
	struct cni_env env = {.command = "VERSION"};
	const cJSON *v;
	int status, n = 0;
	cJSON *j = run(&env, NULL, &status);

	assert_int_equal(status, 0);
	assert_string_equal(cJSON_GetObjectItem(j, "cniVersion")->valuestring, "1.0.0");
	cJSON_ArrayForEach(v, cJSON_GetObjectItem(j, "supportedVersions")) n +=
	    !strcmp(v->valuestring, "1.0.0") || !strcmp(v->valuestring, "0.4.0");
	assert_int_equal(n, 2);
	cJSON_Delete(j);
}

static void test_env_errors(void **state)
{
	char *c = conf(NULL, true);
	struct cni_env env = env_for("ADD");

	env.command = NULL;
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "CNI_COMMAND");
	env.command = "FROB";
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "CNI_COMMAND");
	env = env_for("ADD");
	env.containerid = NULL;
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID");
	env = env_for("ADD");
	env.ifname = "";
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "CNI_IFNAME");
	env = env_for("ADD");
	env.netns = NULL;
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "CNI_NETNS");
	env = env_for("CHECK");
	env.netns = NULL;
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "CNI_NETNS");
	env = env_for("ADD");
	env.args = "K8S_POD_NAMESPACE=shop;garbage";
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "CNI_ARGS");
	assert_int_equal(asked, 0);
	free(c);
}

static void test_config_errors(void **state)
{
	struct cni_env env = env_for("ADD");
	const char *bad_fields[] = {
	    "\"agentSocket\":\"relative/agent.sock\"",
	    "\"excludeNamespaces\":\"kube-system\"",
	    "\"excludeNamespaces\":[1]",
	    "\"timeoutSeconds\":0",
	    "\"timeoutSeconds\":\"5\"",
	};
	char *c;

	assert_error_for(&env, "not json", CNI_ERR_DECODE, NULL);
	assert_error_for(&env, "[1,2]", CNI_ERR_DECODE, NULL);
	assert_error_for(&env, "{\"name\":\"n\",\"type\":\"ambit-cni\"}", CNI_ERR_INVALID_CONFIG,
			 "cniVersion");
	assert_error_for(&env, "{\"cniVersion\":\"9.9.9\",\"name\":\"n\",\"type\":\"ambit-cni\"}",
			 CNI_ERR_INCOMPATIBLE_VERSION, NULL);
	assert_error_for(&env, "{\"cniVersion\":\"1.0.0\",\"type\":\"ambit-cni\"}",
			 CNI_ERR_INVALID_CONFIG, "name");
	assert_error_for(&env,
			 "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"ambit-cni\","
			 "\"prevResult\":[]}",
			 CNI_ERR_INVALID_CONFIG, "prevResult");
	for (size_t i = 0; i < sizeof(bad_fields) / sizeof(*bad_fields); i++) {
		/* A later key of the same name is not what cJSON reads: the field goes first. */
		assert_true(asprintf(&c,
				     "{%s,\"cniVersion\":\"1.0.0\",\"name\":\"n\","
				     "\"type\":\"ambit-cni\",\"prevResult\":%s}",
				     bad_fields[i], prev) > 0);
		assert_error_for(&env, c, CNI_ERR_INVALID_CONFIG, NULL);
		free(c);
	}
	assert_int_equal(asked, 0);
}

/* The first plugin of a chain has no prevResult: ambit-cni cannot be it. */
static void test_add_needs_prev_result(void **state)
{
	char *c = conf(NULL, false);
	struct cni_env env = env_for("ADD");

	assert_error_for(&env, c, CNI_ERR_INVALID_CONFIG, "prevResult");
	free(c);
}

/* No agent on the socket: ADD fails, "try again later", and names the socket. */
static void test_add_agent_absent(void **state)
{
	char *c = conf(NULL, true);
	struct cni_env env = env_for("ADD");

	assert_error_for(&env, c, CNI_ERR_TRY_AGAIN_LATER, sock);
	free(c);
}

static void test_add_outside_mesh(void **state)
{
	char *c = conf(NULL, true);
	struct cni_env env = env_for("ADD");
	cJSON *j, *req;
	int status;

	agent_start();
	mode = AGENT_OUTSIDE;
	j = run(&env, c, &status);
	assert_passes_prev(j, status, "1.0.0");
	assert_int_equal(asked, 1);
	req = cJSON_Parse(last_req);
	assert_string_equal(cJSON_GetObjectItem(req, "cmd")->valuestring, "add");
	assert_string_equal(cJSON_GetObjectItem(req, "namespace")->valuestring, "shop");
	assert_string_equal(cJSON_GetObjectItem(req, "name")->valuestring, "web-0");
	assert_string_equal(cJSON_GetObjectItem(req, "container")->valuestring, "c0ffee");
	assert_string_equal(cJSON_GetObjectItem(req, "netns")->valuestring, "/var/run/netns/p1");
	/* No namespace there to open: the path alone, the agent's to judge. */
	assert_int_equal(sent_ino, 0);
	/*
	 * prevResult's addresses of both families, without their prefix lengths: the agent
	 * captures by the IPv4 one and refuses a pod of the mesh with IPv6 ones only.
	 */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(req, "ips")), 2);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(req, "ips"), 0)->valuestring,
			    "10.22.0.5");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(req, "ips"), 1)->valuestring,
			    "fd00::5");
	cJSON_Delete(req);
	free(c);
}

/* ADD sends the namespace open with the request (SCM_RIGHTS): the one CNI_NETNS names. */
static void test_add_sends_netns_open(void **state)
{
	char *c = conf(NULL, true);
	struct cni_env env = env_for("ADD");
	struct stat st;
	cJSON *j;
	int status;

	agent_start();
	mode = AGENT_OUTSIDE;
	sent_ino = 0;
	env.netns = "/proc/self/ns/net";
	assert_int_equal(stat(env.netns, &st), 0);
	j = run(&env, c, &status);
	assert_passes_prev(j, status, "1.0.0");
	assert_int_equal(sent_ino, st.st_ino);
	/* DEL sends none: it releases what ADD took. */
	sent_ino = 0;
	env.command = "DEL";
	j = run(&env, c, &status);
	cJSON_Delete(j);
	assert_int_equal(status, 0);
	assert_int_equal(sent_ino, 0);
	free(c);
}

/*
 * CNI_NETNS that is no network namespace is refused, naming what it is, before anything is
 * asked: a FIFO (whose open would block until a writer came: today's plugin hung there, and
 * tests/run-unit.sh's timeout bounds this case), a regular file, another kind of namespace.
 */
static void test_add_netns_not_netns(void **state)
{
	char *c = conf(NULL, true), fifo[160];
	struct cni_env env = env_for("ADD");

	agent_start();
	mode = AGENT_OUTSIDE;
	snprintf(fifo, sizeof(fifo), "%s/netns-fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	env.netns = fifo;
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "a FIFO, not a network namespace");
	env.netns = "/proc/self/ns/mnt";
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "not a network one");
	env.netns = "/proc/self/status";
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "a regular file");
	env.command = "CHECK";
	env.netns = fifo;
	assert_error_for(&env, c, CNI_ERR_INVALID_ENV, "a FIFO");
	assert_int_equal(asked, 0);
	unlink(fifo);
	free(c);
}

/*
 * The judgement by the API server (the agent away): names that would change the request's path
 * are refused before any request, and a kubeconfig that is not there is a reason, not a pod
 * judged outside the mesh.
 */
static void test_api_judge_refuses(void **state)
{
	bool captured = true;
	char why[256] = "";

	assert_int_equal(cni_api_judge("/nonexistent/kubeconfig", "shop/../kube-system", "web-0",
				       &captured, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "not a Kubernetes namespace and pod name"));
	assert_int_equal(cni_api_judge("/nonexistent/kubeconfig", "shop", "web-0?watch=1",
				       &captured, why, sizeof(why)),
			 -EINVAL);
	why[0] = '\0';
	assert_int_not_equal(
	    cni_api_judge("/nonexistent/kubeconfig", "shop", "web-0", &captured, why, sizeof(why)),
	    0);
	assert_non_null(strstr(why, "/nonexistent/kubeconfig"));
	assert_true(captured);
}

/* ADD of a captured pod returns only once the agent says its capture is in force. */
static void test_add_waits_for_capture(void **state)
{
	char *c = conf(NULL, true);
	struct cni_env env = env_for("ADD");
	cJSON *j;
	int status;

	agent_start();
	mode = AGENT_CAPTURE_LATER;
	j = run(&env, c, &status);
	assert_true(asked >= 3);
	assert_passes_prev(j, status, "1.0.0");
	free(c);
}

static void test_add_agent_refuses(void **state)
{
	char *c = conf(NULL, true);
	struct cni_env env = env_for("ADD");

	agent_start();
	mode = AGENT_REFUSE;
	assert_error_for(&env, c, CNI_ERR_TRY_AGAIN_LATER, "no cgroup");
	free(c);
}

/* Capture never in force within timeoutSeconds: the agent answers that, and ADD fails. */
static void test_add_times_out(void **state)
{
	char *c = conf("\"timeoutSeconds\":1", true);
	struct cni_env env = env_for("ADD");

	agent_start();
	mode = AGENT_NEVER;
	assert_error_for(&env, c, CNI_ERR_TRY_AGAIN_LATER, "timed out");
	assert_true(asked >= 2);
	free(c);
}

/* Not a pod (no K8S_POD_*), or an excluded namespace: passed through, the agent never asked. */
static void test_add_not_asked(void **state)
{
	char *c = conf(NULL, true), *c2 = conf("\"excludeNamespaces\":[\"shop\"]", true);
	struct cni_env env = env_for("ADD");
	cJSON *j;
	int status;

	env.args = "IgnoreUnknown=1";
	j = run(&env, c, &status);
	assert_passes_prev(j, status, "1.0.0");
	env.args = NULL;
	j = run(&env, c, &status);
	assert_passes_prev(j, status, "1.0.0");
	env.args = "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-1";
	j = run(&env, c, &status);
	assert_passes_prev(j, status, "1.0.0");
	env = env_for("ADD");
	j = run(&env, c2, &status);
	assert_passes_prev(j, status, "1.0.0");
	assert_int_equal(asked, 0);
	free(c);
	free(c2);
}

/* An older configuration version gets its result in that version. */
static void test_add_older_version(void **state)
{
	char *c;
	struct cni_env env = env_for("ADD");
	cJSON *j;
	int status;

	assert_true(asprintf(&c,
			     "{\"cniVersion\":\"0.4.0\",\"name\":\"n\",\"type\":\"ambit-cni\","
			     "\"agentSocket\":\"%s\",\"prevResult\":%s}",
			     sock, prev) > 0);
	agent_start();
	j = run(&env, c, &status);
	assert_passes_prev(j, status, "0.4.0");
	free(c);
}

/* DEL tells the agent, and succeeds with nothing printed even when no agent is there. */
static void test_del(void **state)
{
	char *c = conf(NULL, false);
	struct cni_env env = env_for("DEL");
	cJSON *j, *req;
	int status;

	env.netns = NULL; /* the runtime may have lost the netns already */
	j = run(&env, c, &status);
	assert_int_equal(status, 0);
	assert_null(j);
	/* Twice: DEL is idempotent. */
	j = run(&env, c, &status);
	assert_int_equal(status, 0);
	assert_null(j);
	agent_start();
	j = run(&env, c, &status);
	assert_int_equal(status, 0);
	assert_null(j);
	req = cJSON_Parse(last_req);
	assert_string_equal(cJSON_GetObjectItem(req, "cmd")->valuestring, "del");
	assert_string_equal(cJSON_GetObjectItem(req, "name")->valuestring, "web-0");
	cJSON_Delete(req);
	mode = AGENT_REFUSE;
	j = run(&env, c, &status);
	assert_int_equal(status, 0);
	assert_null(j);
	free(c);
}

static void test_check(void **state)
{
	char *c = conf(NULL, true), *c2 = conf(NULL, false);
	struct cni_env env = env_for("CHECK");
	cJSON *j;
	int status;

	assert_error_for(&env, c, CNI_ERR_TRY_AGAIN_LATER, sock);
	assert_error_for(&env, c2, CNI_ERR_INVALID_CONFIG, "prevResult");
	agent_start();
	mode = AGENT_OUTSIDE;
	j = run(&env, c, &status);
	assert_int_equal(status, 0);
	assert_null(j);
	assert_non_null(strstr(last_req, "\"cmd\":\"check\""));
	mode = AGENT_REFUSE;
	assert_error_for(&env, c, CNI_ERR_TRY_AGAIN_LATER, "no cgroup");
	free(c);
	free(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_needs_prev_result, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_agent_absent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_outside_mesh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_sends_netns_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_netns_not_netns, setup, teardown),
	    cmocka_unit_test(test_api_judge_refuses),
	    cmocka_unit_test_setup_teardown(test_add_waits_for_capture, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_agent_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_times_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_not_asked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_older_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
