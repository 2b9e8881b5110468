// SPDX-License-Identifier: Apache-2.0
/*
 * Starting the processes of a node: its kubelet, agent and ztunnel, and its pods. The child is
 * born in its cgroup (clone3 CLONE_INTO_CGROUP: nothing it forks can run outside it, even for an
 * instant) and, for a pod, in new mount, pid, uts and ipc namespaces. Every step up to the exec
 * reports its failure through a close-on-exec pipe, so the caller knows a command that could
 * not start ("exec: nginxx: No such file or directory") from one that started and then failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sched.h>

#include "local.h"

/* How long a child may take from clone to exec before the start is called failed. */
#define SPAWN_SETUP_TIMEOUT_MS 10000

/* What the child sends back when it cannot get to its command. */
struct spawn_error {
	int err;
	char why[400];
};

static void child_fail(int pipe_fd, int err, const char *why)
{
	struct spawn_error e = {.err = err};

	snprintf(e.why, sizeof(e.why), "%s", why);
	/* Best effort: the parent reads EOF and a non-zero exit if this write is lost. */
	if (write(pipe_fd, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

static void child_signals(void)
{
	static const int sigs[] = {SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	sigset_t none;

	/* The kubelet blocks SIGCHLD for its signalfd; a pod must start with nothing blocked. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

static void child_main(const struct spawn_req *r, int pipe_fd, int net_fd, int log_fd)
{
	char why[400];
	int fd, ret;

	child_signals();
	if (net_fd >= 0 && setns(net_fd, CLONE_NEWNET) < 0) {
		snprintf(why, sizeof(why), "enter netns %s: %s", r->netns, strerror(errno));
		child_fail(pipe_fd, errno, why);
	}
	setsid();
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0) {
		snprintf(why, sizeof(why), "stdio: %s", strerror(errno));
		child_fail(pipe_fd, errno, why);
	}
	if (r->pod && (ret = sandbox_mounts(r->pod, why, sizeof(why))))
		child_fail(pipe_fd, -ret, why);
	if (chdir(r->cwd ? r->cwd : "/") < 0) {
		snprintf(why, sizeof(why), "chdir %s: %s", r->cwd, strerror(errno));
		child_fail(pipe_fd, errno, why);
	}
	if (r->pod) {
		sandbox_env(r->pod);
		ret = sandbox_identity(r->pod, why, sizeof(why));
		if (ret)
			child_fail(pipe_fd, -ret, why);
	}
	for (char *const *e = r->env; e && *e; e++)
		putenv(*e);
	/* The container's own variables win over the knobs a kubelet passes. */
	for (char *const *e = r->pod ? r->pod->env : NULL; e && *e; e++)
		putenv(*e);
	execvp(r->argv[0], r->argv);
	snprintf(why, sizeof(why), "exec: %s: %s", r->argv[0], strerror(errno));
	child_fail(pipe_fd, errno, why);
}

/* Reads the child's verdict: 0 once its exec closed the pipe, else -errno with why. */
static int spawn_verdict(int fd, pid_t pid, char *why, size_t len)
{
	struct spawn_error e;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t got = 0;

	while (got < sizeof(e)) {
		int n = poll(&p, 1, SPAWN_SETUP_TIMEOUT_MS);
		ssize_t r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			str_fmt(why, len, "no exec after %d s of setup",
				SPAWN_SETUP_TIMEOUT_MS / 1000);
			kill(pid, SIGKILL);
			return -ETIMEDOUT;
		}
		r = read(fd, (char *)&e + got, sizeof(e) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == 0)
		return 0;
	if (got < sizeof(e)) {
		str_fmt(why, len, "setup failed before exec");
		return -EIO;
	}
	e.why[sizeof(e.why) - 1] = '\0';
	str_fmt(why, len, "%s", e.why);
	return e.err > 0 ? -e.err : -EIO;
}

int spawn_start(const struct spawn_req *r, char *why, size_t len)
{
	int cg_fd, net_fd = -1, log_fd, pipe_fd[2] = {-1, -1}, ret;
	struct clone_args args = {.exit_signal = SIGCHLD, .flags = CLONE_INTO_CGROUP};
	long pid;

	cg_fd = open(r->cgroup, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		ret = -errno;
		str_fmt(why, len, "cgroup %s: %s", r->cgroup, strerror(-ret));
		return ret;
	}
	log_fd = open(r->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		ret = -errno;
		str_fmt(why, len, "log %s: %s", r->log, strerror(-ret));
		goto out_cg;
	}
	if (r->netns) {
		char path[PATH_MAX];

		str_fmt(path, sizeof(path), "/run/netns/%s", r->netns);
		net_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (net_fd < 0) {
			ret = -errno;
			str_fmt(why, len, "netns %s: %s", r->netns, strerror(-ret));
			goto out_log;
		}
	}
	if (pipe2(pipe_fd, O_CLOEXEC) < 0) {
		ret = -errno;
		str_fmt(why, len, "pipe: %s", strerror(-ret));
		goto out_net;
	}
	args.cgroup = (__u64)cg_fd;
	if (r->pod)
		args.flags |= CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
			      (r->pod->host_pid ? 0 : CLONE_NEWPID);
	/* Like fork (no new stack): the caller is single-threaded, the child only sets up and
	 * execs. */
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		ret = -errno;
		str_fmt(why, len, "clone3: %s", strerror(-ret));
		goto out_pipe;
	}
	if (pid == 0) {
		close(pipe_fd[0]);
		child_main(r, pipe_fd[1], net_fd, log_fd);
	}
	close(pipe_fd[1]);
	pipe_fd[1] = -1;
	ret = spawn_verdict(pipe_fd[0], (pid_t)pid, why, len);
	if (ret) {
		/* It exits (or was killed) right after reporting: reap it here, not as a crash. */
		while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
			;
	} else {
		ret = (int)pid;
	}
out_pipe:
	close(pipe_fd[0]);
	if (pipe_fd[1] >= 0)
		close(pipe_fd[1]);
out_net:
	if (net_fd >= 0)
		close(net_fd);
out_log:
	close(log_fd);
out_cg:
	close(cg_fd);
	return ret;
}
