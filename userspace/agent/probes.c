// SPDX-License-Identifier: Apache-2.0
/* The kubelet's cgroup for the node's programs (probes.h). */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/datapath.h"
#include "probes.h"

#define PROBES_KUBELET "kubelet"

/* The first line of @path into @buf, its newline cut; 0, or -1 when it cannot be read. */
static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int ret = -1;

	if (!f)
		return -1;
	if (fgets(buf, (int)len, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		ret = 0;
	}
	fclose(f);
	return ret;
}

/* Whether cgroup directory @dir lists process @pid (its cgroup.procs). */
static bool cgroup_holds(const char *dir, int pid)
{
	char path[PATH_MAX * 2 + 16];
	bool found = false;
	FILE *f;
	int p;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fscanf(f, "%d", &p) == 1)
		found = p == pid;
	fclose(f);
	return found;
}

uint64_t probes_cgroup_of_pid(const char *proc, const char *cg2, int pid)
{
	char path[PATH_MAX], line[PATH_MAX], dir[PATH_MAX * 2];
	uint64_t id = 0;
	const char *rel;
	FILE *f;

	if (pid <= 0 ||
	    snprintf(path, sizeof(path), "%s/%d/cgroup", proc, pid) >= (int)sizeof(path))
		return 0;
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* cgroup v2's line is "0::/path"; a hybrid host lists the v1 hierarchies beside it. */
	while (!id && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::/", 4) != 0)
			continue;
		/*
		 * Read from a cgroup namespace of its own (a container's), a path outside it starts
		 * with "/..": the rest is tried from the mount's root, and taken only if the
		 * process is there.
		 */
		rel = line + 3;
		while (strncmp(rel, "/..", 3) == 0 && (rel[3] == '/' || rel[3] == '\0'))
			rel += 3;
		if (snprintf(dir, sizeof(dir), "%s%s", cg2, rel) < (int)sizeof(dir) &&
		    (rel == line + 3 || cgroup_holds(dir, pid)))
			id = cgroup_id_of(dir);
	}
	fclose(f);
	return id;
}

int probes_find_comm(const char *proc, const char *comm)
{
	char path[PATH_MAX], name[64];
	struct dirent *de;
	DIR *d = opendir(proc);
	int found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid > INT_MAX || (found && pid >= found))
			continue;
		if (snprintf(path, sizeof(path), "%s/%ld/comm", proc, pid) >= (int)sizeof(path) ||
		    read_line(path, name, sizeof(name)) || strcmp(name, comm) != 0)
			continue;
		found = (int)pid;
	}
	closedir(d);
	return found;
}

/* Whether *@pid is still a process named @comm. */
static int still(const char *proc, int pid, const char *comm)
{
	char path[PATH_MAX], name[64];

	return pid > 0 &&
	       snprintf(path, sizeof(path), "%s/%d/comm", proc, pid) < (int)sizeof(path) &&
	       read_line(path, name, sizeof(name)) == 0 && strcmp(name, comm) == 0;
}

uint64_t probes_kubelet_cgroup(const char *how, const char *proc, const char *cg2, int *pid)
{
	char dir[PATH_MAX];

	if (how && strcmp(how, "none") == 0)
		return 0;
	if (how && strcmp(how, "auto") != 0) {
		/* A path: absolute under the cgroup2 mount, or relative to it. */
		if (strncmp(how, cg2, strlen(cg2)) == 0 && how[strlen(cg2)] == '/')
			return cgroup_id_of(how);
		if (snprintf(dir, sizeof(dir), "%s/%s", cg2, how[0] == '/' ? how + 1 : how) >=
		    (int)sizeof(dir))
			return 0;
		return cgroup_id_of(dir);
	}
	if (!still(proc, *pid, PROBES_KUBELET))
		*pid = probes_find_comm(proc, PROBES_KUBELET);
	return probes_cgroup_of_pid(proc, cg2, *pid);
}
