// SPDX-License-Identifier: Apache-2.0
/* istio_build and the process collector (procmetrics.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ambit/version.h"
#include "procmetrics.h"

/* Descriptors open now: the entries of /proc/self/fd, less the one reading it. */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

long procmetrics_tcp_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name), dom = 0, proto = 0;
		socklen_t l1 = sizeof(dom), l2 = sizeof(proto);
		struct stat st;

		if (e->d_name[0] == '.' || fd == dirfd(d) || fstat(fd, &st) ||
		    !S_ISSOCK(st.st_mode))
			continue;
		if (!getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l1) &&
		    !getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) &&
		    (dom == AF_INET || dom == AF_INET6) && proto == IPPROTO_TCP)
			n++;
	}
	closedir(d);
	return n;
}

int procmetrics_stat(int pid, struct procmetrics_stat *out)
{
	char buf[1024], path[64], *p;
	unsigned long long ut, st, start, vs;
	long long pages;
	FILE *f;
	size_t n;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	double boot = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	f = fopen(path, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	/* utime, stime, starttime, vsize and rss: fields 14, 15, 22, 23, 24, after "(comm)". */
	p = strrchr(buf, ')');
	if (!p || tick <= 0 ||
	    sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
		   "%llu %llu %lld",
		   &ut, &st, &start, &vs, &pages) != 5)
		return -1;
	f = fopen("/proc/stat", "r");
	while (f && fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %lf", &boot) == 1)
			break;
	if (f)
		fclose(f);
	out->cpu_s = (double)(ut + st) / (double)tick;
	out->start_s = boot + (double)start / (double)tick;
	out->vsize = (double)vs;
	out->rss = (double)pages * (double)page;
	return 0;
}

void procmetrics_render(struct prom_buf *b, const char *component)
{
	struct procmetrics_stat ps;
	struct rlimit rl;
	long fds = open_fds();

	prom_printf(b, "# HELP istio_build Istio component build info\n# TYPE istio_build gauge\n");
	prom_printf(b, "istio_build{component=\"%s\",tag=\"%s\"} 1\n", component, ambit_version());
	if (!procmetrics_stat(0, &ps)) {
		prom_printf(b,
			    "# HELP process_cpu_seconds_total Total user and system CPU time spent "
			    "in seconds.\n# TYPE process_cpu_seconds_total counter\n"
			    "process_cpu_seconds_total %.2f\n",
			    ps.cpu_s);
		prom_printf(
		    b,
		    "# HELP process_start_time_seconds Start time of the process since unix "
		    "epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
		    "process_start_time_seconds %.2f\n",
		    ps.start_s);
		prom_printf(b,
			    "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
			    "# TYPE process_virtual_memory_bytes gauge\n"
			    "process_virtual_memory_bytes %.0f\n",
			    ps.vsize);
		prom_printf(b,
			    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
			    "# TYPE process_resident_memory_bytes gauge\n"
			    "process_resident_memory_bytes %.0f\n",
			    ps.rss);
	}
	if (fds >= 0)
		prom_printf(b,
			    "# HELP process_open_fds Number of open file descriptors.\n"
			    "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
			    fds);
	if (!getrlimit(RLIMIT_NOFILE, &rl))
		prom_printf(b,
			    "# HELP process_max_fds Maximum number of open file descriptors.\n"
			    "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
			    (unsigned long long)rl.rlim_cur);
}
