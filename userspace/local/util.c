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

int write_file(const char *path, const char *data)
{
	size_t len = strlen(data);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ret = 0;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		data += w;
		len -= (size_t)w;
	}
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

int write_file_atomic(const char *path, const char *data)
{
	char tmp[PATH_MAX];
	int ret;

	/* The temporary name does not end in .yaml/.json, so watchers never read it half done. */
	if (str_fmt(tmp, sizeof(tmp), "%s.tmp~", path))
		return -ENAMETOOLONG;
	ret = write_file(tmp, data);
	if (ret)
		goto fail;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return ret;
}

char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, used = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (used + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *n = realloc(buf, ncap);
			if (!n) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = n;
			cap = ncap;
		}
		size_t r = fread(buf + used, 1, cap - used - 1, f);
		used += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	buf[used] = '\0';
	if (len)
		*len = used;
	return buf;
}

int mkdir_p(const char *path, unsigned int mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int ret = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char child[PATH_MAX];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (str_fmt(child, sizeof(child), "%s/%s", path, e->d_name)) {
			ret = -ENAMETOOLONG;
			continue;
		}
		int r = rm_rf(child);
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT && !ret)
		ret = -errno;
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

int copy_file(const char *from, const char *to)
{
	char *data = read_file(from, NULL);
	int ret;

	if (!data)
		return -errno;
	ret = write_file_atomic(to, data);
	free(data);
	return ret;
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
