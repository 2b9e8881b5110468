// SPDX-License-Identifier: Apache-2.0
/* fuzz_env.h */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_env.h"

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		err = -errno;
	close(fd);
	return err;
}

static int link_up_lo(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(fd);
	return err;
}

int fuzz_private_netns(const char *target, bool bpf)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];
	int err;

	if (unshare(CLONE_NEWNET) == 0)
		goto up;
	err = -errno;
	if (bpf || err != -EPERM) {
		fprintf(stderr, "%s: needs root (a network namespace of its own%s): unshare: %s\n",
			target, bpf ? " and BPF" : "", strerror(-err));
		return err;
	}
	/* Unprivileged: a user namespace grants what a private netns needs (not BPF). */
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
		err = -errno;
		fprintf(stderr, "%s: cannot make a private network namespace: %s\n", target,
			strerror(-err));
		return err;
	}
	snprintf(map, sizeof(map), "0 %u 1", (unsigned int)uid);
	write_str("/proc/self/setgroups", "deny");
	write_str("/proc/self/uid_map", map);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned int)gid);
	write_str("/proc/self/gid_map", map);
up:
	err = link_up_lo();
	if (err)
		fprintf(stderr, "%s: cannot bring lo up in its namespace: %s\n", target,
			strerror(-err));
	return err;
}

static char scratch[256];

static void scratch_remove(void)
{
	char cmd[300];

	if (!scratch[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", scratch);
}

int fuzz_scratch_dir(const char *target, char *buf, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(scratch, sizeof(scratch), "%s/ambit-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp",
		 target);
	if (!mkdtemp(scratch)) {
		fprintf(stderr, "%s: mkdtemp: %s\n", target, strerror(errno));
		scratch[0] = '\0';
		return -errno;
	}
	atexit(scratch_remove);
	snprintf(buf, len, "%s", scratch);
	return 0;
}

uint32_t fuzz_ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

const char *fuzz_piece(const char **p, const char *end)
{
	const char *s = *p;
	const char *z;

	if (s >= end)
		return "";
	z = memchr(s, '\0', (size_t)(end - s));
	*p = z ? z + 1 : end;
	return s;
}
