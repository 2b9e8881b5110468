/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every Istio proxy exposes about itself beside its traffic: istio_build (the component
 * and its version, as Istio's dashboards list them) and the Prometheus client's process
 * collector (process_cpu_seconds_total, process_open_fds, process_max_fds,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_start_time_seconds),
 * read from /proc/self.
 */
#ifndef AMBIT_NET_PROCMETRICS_H
#define AMBIT_NET_PROCMETRICS_H

#include "prom.h"

struct procmetrics_stat {
	double cpu_s;	/* user + system CPU time, seconds */
	double start_s; /* start time, seconds since the epoch */
	double vsize;	/* virtual memory, bytes */
	double rss;	/* resident memory, bytes */
};

/* From /proc/@pid/stat (@pid 0: this process). 0, or -1 when it cannot be read. */
int procmetrics_stat(int pid, struct procmetrics_stat *out);

/* Appends the families to @b, istio_build with component @component (e.g. "ztunnel"). */
void procmetrics_render(struct prom_buf *b, const char *component);
/* The TCP sockets (IPv4 and IPv6) this process holds open now: its descriptors' kinds. */
long procmetrics_tcp_sockets(void);

#endif
