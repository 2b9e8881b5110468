// SPDX-License-Identifier: Apache-2.0
/* Small process, file and netns helpers for ambitctl. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "local.h"

volatile sig_atomic_t ctl_interrupted;

int run_argv(char *const argv[])
{
	int pipefd[2];
	char err[4096];
	size_t used = 0;
	int status;
	pid_t pid;

	if (ctl_interrupted)
		return -EINTR;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return -e;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		dup2(pipefd[1], STDERR_FILENO);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		ssize_t r = read(pipefd[0], err + used, sizeof(err) - 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
		if (used == sizeof(err) - 1)
			break;
	}
	err[used] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (status != 0) {
		/* Show the failing command so a topology error names its step. */
		fprintf(stderr, "ambitctl: command failed (exit %d):", status);
		for (size_t i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n%s", err);
	}
	return status;
}

int netns_enter(const char *name, int *saved)
{
	char path[PATH_MAX];
	int fd, self;

	str_fmt(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		int e = errno;
		close(fd);
		close(self);
		return -e;
	}
	close(fd);
	*saved = self;
	return 0;
}

int netns_leave(int saved)
{
	int ret = 0;

	if (saved < 0)
		return 0;
	if (setns(saved, CLONE_NEWNET) < 0)
		ret = -errno;
	close(saved);
	return ret;
}

int sysctl_write(const char *key, const char *value)
{
	char path[PATH_MAX] = "/proc/sys/";
	size_t off = strlen(path);

	for (const char *k = key; *k && off < sizeof(path) - 1; k++)
		path[off++] = *k == '.' ? '/' : *k;
	path[off] = '\0';
	return write_file(path, value);
}

bool pid_alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int read_pid_file(const char *path)
{
	char *s = read_file(path, NULL);
	long v;

	if (!s)
		return -errno;
	v = strtol(s, NULL, 10);
	free(s);
	return v > 0 && v < INT32_MAX ? (int)v : -EINVAL;
}

int load_manifests(struct config *cfg, const char *path)
{
	struct config_diags diags = {0};
	struct stat st;
	bool errors = false;
	int ret;

	if (stat(path, &st) < 0) {
		ret = -errno;
		fprintf(stderr, "ambitctl: %s: %s\n", path, strerror(-ret));
		return ret;
	}
	if (S_ISDIR(st.st_mode))
		ret = config_load_dir(cfg, path, &diags);
	else
		ret = config_load_file(cfg, path, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		char line[1024];

		config_diag_format(&diags.items[i], line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		errors |= diags.items[i].error;
	}
	config_diags_free(&diags);
	if (ret == 0 && errors)
		ret = -EINVAL;
	if (ret)
		fprintf(stderr, "ambitctl: %s: %s\n", path,
			ret == -EINVAL ? "invalid manifests, nothing changed" : strerror(-ret));
	return ret;
}

int load_state_quiet(struct config *cfg, const char *state)
{
	struct config_diags diags = {0};
	const char *bad = NULL;
	int ret = config_load_dir(cfg, state, &diags);

	for (size_t i = 0; i < diags.n && !bad; i++)
		if (diags.items[i].error)
			bad = diags.items[i].file;
	if (bad)
		fprintf(stderr,
			"ambitctl: %s does not load (ambitctl analyze says why); the cluster "
			"is left as it is\n",
			bad);
	config_diags_free(&diags);
	return ret ? ret : bad ? -EINVAL : 0;
}

/* Whether any of the @n objects of @arr (a struct config_* array, each with a meta) is in @ns. */
#define ANY_IN_NS(arr, n, ns)                                                                      \
	({                                                                                         \
		bool found_ = false;                                                               \
		for (size_t i_ = 0; i_ < (n) && !found_; i_++)                                     \
			found_ =                                                                   \
			    (arr)[i_].meta.namespace && !strcmp((arr)[i_].meta.namespace, (ns));   \
		found_;                                                                            \
	})

bool state_ns_known(const struct config *cfg, const char *ns)
{
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (!strcmp(cfg->namespaces[i].meta.name, ns))
			return true;
	return !strcmp(ns, "default") || !strcmp(ns, "istio-system") ||
	       ANY_IN_NS(cfg->pods, cfg->n_pods, ns) ||
	       ANY_IN_NS(cfg->deployments, cfg->n_deployments, ns) ||
	       ANY_IN_NS(cfg->services, cfg->n_services, ns) ||
	       ANY_IN_NS(cfg->service_accounts, cfg->n_service_accounts, ns) ||
	       ANY_IN_NS(cfg->k8s_gateways, cfg->n_k8s_gateways, ns);
}

void tell_ns_not_found(const char *ns)
{
	fprintf(stderr, "Error from server (NotFound): namespaces \"%s\" not found\n", ns);
}

int self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	return 0;
}
