// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "capture_fixture.h"

int capture_fixture_make(struct capture_fixture *f, const char *tag, uint32_t pod_ip)
{
	char cg2[PATH_MAX];
	int pid = (int)getpid();

	if (cgroup2_mount(cg2, sizeof(cg2)))
		return -1;
	snprintf(f->cg, sizeof(f->cg), "%s/ambit-%s-%d", cg2, tag, pid);
	snprintf(f->cg_enrolled, sizeof(f->cg_enrolled), "%s/enrolled", f->cg);
	snprintf(f->cg_plain, sizeof(f->cg_plain), "%s/plain", f->cg);
	snprintf(f->cg_container, sizeof(f->cg_container), "%s/container", f->cg_enrolled);
	snprintf(f->pin_root, sizeof(f->pin_root), "/sys/fs/bpf/ambit-%s-%d", tag, pid);
	if (mkdir(f->cg, 0755) || mkdir(f->cg_enrolled, 0755) || mkdir(f->cg_plain, 0755) ||
	    mkdir(f->cg_container, 0755))
		return -1;
	f->pod_ip = pod_ip;
	if (capture_fixture_reopen(f))
		return -1;
	f->enrolled_id = cgroup_id_of(f->cg_enrolled);
	if (!f->enrolled_id)
		return -1;
	return datapath_set_enrolled(f->dp, f->enrolled_id, pod_ip) ? -1 : 0;
}

int capture_fixture_reopen(struct capture_fixture *f)
{
	datapath_close(f->dp);
	f->opts.pin_root = f->pin_root;
	f->opts.cgroup_path = f->cg;
	f->dp = datapath_open(&f->opts);
	return f->dp ? 0 : -1;
}

int capture_fixture_destroy(struct capture_fixture *f)
{
	int err = 0;

	datapath_close(f->dp);
	f->dp = NULL;
	/* Unpinning the links detaches the programs from the cgroup. */
	if (f->pin_root[0] && datapath_remove_pins(f->pin_root))
		err = -1;
	/* Children have all been reaped, so the cgroups are empty. */
	if (f->cg[0]) {
		if ((rmdir(f->cg_container) && errno != ENOENT) ||
		    (rmdir(f->cg_enrolled) && errno != ENOENT) ||
		    (rmdir(f->cg_plain) && errno != ENOENT) || (rmdir(f->cg) && errno != ENOENT))
			err = -1;
	}
	return err;
}

int capture_fixture_join(const char *cgroup)
{
	char path[PATH_MAX + 64], me[32];
	int n = snprintf(me, sizeof(me), "%d", (int)getpid());
	int fd;
	ssize_t w;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	w = write(fd, me, (size_t)n);
	close(fd);
	return w == n ? 0 : -1;
}

uint64_t capture_fixture_counter(struct capture_fixture *f, enum ambit_reason reason)
{
	uint64_t c[AMBIT_REASON__COUNT];

	assert_int_equal(datapath_read_counters(f->dp, c), 0);
	return c[reason];
}

void capture_fixture_set_flags(struct capture_fixture *f, uint32_t flags)
{
	struct ambit_enrolled en = {.pod_ip = f->pod_ip, .flags = flags};

	assert_int_equal(datapath_set_enrolled_entry(f->dp, f->enrolled_id, &en), 0);
}

bool capture_fixture_idle(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 0;
}
