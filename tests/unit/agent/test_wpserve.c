// SPDX-License-Identifier: Apache-2.0
/*
 * A waypoint pod's agent socket is the pod's alone: a client is admitted only when its process
 * runs in the pod's cgroup (or below), as SO_PEERCRED and /proc/<pid>/cgroup tell; the server
 * closes a refused client before it can ask for anything. Real cgroups (made under the cgroup v2
 * mount and removed at the end) and a child process that connects from inside one.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ambit/ipc.h"
#include "agent/server.h"
#include "agent/wpserve.h"

static char root[512], pod[600], sub[700], other[600], dir[64], path[128];

static int setup(void **state)
{
	char mnt[256] = "";
	FILE *f = fopen("/proc/mounts", "re");
	char dev[256], mp[256], type[64];

	assert_non_null(f);
	while (fscanf(f, "%255s %255s %63s %*[^\n]", dev, mp, type) == 3)
		if (!strcmp(type, "cgroup2")) {
			snprintf(mnt, sizeof(mnt), "%s", mp);
			break;
		}
	fclose(f);
	assert_true(mnt[0]);
	snprintf(root, sizeof(root), "%s/ambit-test-wpserve-%d", mnt, (int)getpid());
	snprintf(pod, sizeof(pod), "%s/pod", root);
	snprintf(sub, sizeof(sub), "%s/pod/inner", root);
	snprintf(other, sizeof(other), "%s/other", root);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(pod, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(mkdir(other, 0755), 0);
	snprintf(dir, sizeof(dir), "/tmp/ambit-wps-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/agent.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	rmdir(sub);
	rmdir(pod);
	rmdir(other);
	rmdir(root);
	unlink(path);
	rmdir(dir);
	return 0;
}

/*
 * A child that joins @cgroup, connects to @path and waits until the parent closes @hold; with
 * @expect_closed, it waits instead for the server to close the connection (exit 0 when it
 * did). Returns its pid.
 */
static pid_t child_run(const char *cgroup, int hold[2], bool expect_closed)
{
	pid_t pid;

	assert_int_equal(pipe(hold), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char procs[800], c;
		FILE *f;
		int fd;

		close(hold[1]);
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
		f = fopen(procs, "we");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
			_exit(2);
		fd = ipc_connect(path);
		if (fd < 0)
			_exit(3);
		if (expect_closed)
			_exit(read(fd, &c, 1) == 0 ? 0 : 5);
		if (read(hold[0], &c, 1) < 0)
			_exit(4);
		_exit(0);
	}
	close(hold[0]);
	return pid;
}

static pid_t child_in(const char *cgroup, int hold[2])
{
	return child_run(cgroup, hold, false);
}

static void reap(pid_t pid, int hold[2])
{
	int st;

	close(hold[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_peer_in_cgroup(void **state)
{
	int lfd = ipc_listen(path), hold[2], fd;
	char why[300];
	pid_t pid;

	assert_true(lfd >= 0);
	/* In the pod's cgroup, and below it: admitted. */
	pid = child_in(pod, hold);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_true(wpserve_peer_in_cgroup(fd, pod, why, sizeof(why)));
	/* The pod's path must match whole components: "pod" is not "po". */
	snprintf(why, sizeof(why), "%.*s", (int)strlen(pod) - 1, pod);
	{
		char shorter[600];

		snprintf(shorter, sizeof(shorter), "%s", why);
		assert_false(wpserve_peer_in_cgroup(fd, shorter, why, sizeof(why)));
	}
	close(fd);
	reap(pid, hold);
	pid = child_in(sub, hold);
	fd = accept(lfd, NULL, NULL);
	assert_true(wpserve_peer_in_cgroup(fd, pod, why, sizeof(why)));
	close(fd);
	reap(pid, hold);
	/*
	 * The pod's cgroup at another path than the hierarchy's (a --kube node mounts its own
	 * cgroup as /sys/fs/cgroup; a container may have cgroupns=private): the cgroup's files
	 * still list the process, in the pod's cgroup and below it.
	 */
	{
		char view[128], alias[200];

		snprintf(view, sizeof(view), "%s/view", dir);
		assert_int_equal(symlink(root, view), 0);
		snprintf(alias, sizeof(alias), "%s/pod", view);
		for (int below = 0; below < 2; below++) {
			pid = child_in(below ? sub : pod, hold);
			fd = accept(lfd, NULL, NULL);
			assert_true(wpserve_peer_in_cgroup(fd, alias, why, sizeof(why)));
			close(fd);
			reap(pid, hold);
		}
		snprintf(alias, sizeof(alias), "%s/other", view);
		pid = child_in(pod, hold);
		fd = accept(lfd, NULL, NULL);
		assert_false(wpserve_peer_in_cgroup(fd, alias, why, sizeof(why)));
		close(fd);
		reap(pid, hold);
		unlink(view);
	}
	/* Another pod's cgroup: refused, and the reason names both. */
	pid = child_in(other, hold);
	fd = accept(lfd, NULL, NULL);
	assert_false(wpserve_peer_in_cgroup(fd, pod, why, sizeof(why)));
	assert_non_null(strstr(why, "/other"));
	assert_non_null(strstr(why, "/pod"));
	close(fd);
	reap(pid, hold);
	close(lfd);
	unlink(path);
}

static bool admit_pod(void *ctx, int fd, char *why, size_t len)
{
	return wpserve_peer_in_cgroup(fd, ctx, why, len);
}

static char *get_nothing(void *ctx, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "no");
	return NULL;
}

/* The server drops a client the admit hook refuses, and serves one it admits. */
static void test_server_admit(void **state)
{
	struct server_ops ops = {.get = get_nothing, .admit = admit_pod, .ctx = pod};
	int epfd = epoll_create1(EPOLL_CLOEXEC), hold[2];
	struct server *srv;
	pid_t pid;

	assert_true(epfd >= 0);
	srv = server_create(path, epfd, &ops);
	assert_non_null(srv);
	/* Refused: the child sees its connection closed (it exits 0 only then). */
	pid = child_run(other, hold, true);
	for (int i = 0; i < 3000; i++) {
		struct epoll_event ev;
		int st;

		if (epoll_wait(epfd, &ev, 1, 10) == 1)
			((struct agent_source *)ev.data.ptr)->handle(ev.data.ptr, ev.events);
		server_reap(srv);
		if (waitpid(pid, &st, WNOHANG) == pid) {
			assert_true(WIFEXITED(st));
			assert_int_equal(WEXITSTATUS(st), 0);
			pid = 0;
			break;
		}
	}
	assert_int_equal(pid, 0);
	close(hold[1]);
	assert_int_equal(server_client_count(srv), 0);
	/* Admitted: it stays a client. */
	pid = child_in(pod, hold);
	for (int i = 0; i < 3000 && server_client_count(srv) != 1; i++) {
		struct epoll_event ev;

		if (epoll_wait(epfd, &ev, 1, 10) == 1)
			((struct agent_source *)ev.data.ptr)->handle(ev.data.ptr, ev.events);
		server_reap(srv);
	}
	assert_int_equal(server_client_count(srv), 1);
	reap(pid, hold);
	server_destroy(srv);
	close(epfd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_peer_in_cgroup),
	    cmocka_unit_test(test_server_admit),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
