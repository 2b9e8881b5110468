/* SPDX-License-Identifier: Apache-2.0 */
/*
 * struct datapath, shared by libambit's map operations (datapath.c) and the agent's loader
 * (userspace/agent/loader.c), which alone holds skeletons. Not for other users.
 */
#ifndef AMBIT_L4_DATAPATH_LOADER_H
#define AMBIT_L4_DATAPATH_LOADER_H

#include <limits.h>
#include <stdint.h>

#include "ambit/datapath.h"

enum datapath_map {
	DP_MAP_WORKLOADS = 0,
	DP_MAP_ENROLLED_CGRP,
	DP_MAP_POD_IFACES,
	DP_MAP_SERVICES,
	DP_MAP_BACKENDS,
	DP_MAP_SOCK_ORIG,
	DP_MAP_ORIG_DST,
	DP_MAP_PROXY_SOCKS,
	DP_MAP_COUNTERS,
	DP_MAP_STRICT_PORTS,
	DP_MAP_DENY_SRC,
	DP_MAP_INPOD_SOCKS,
	DP_MAP_DNS_ANSWERS,
	DP_MAP_DNS_GEN,
	DP_MAP_WORKLOADS6,
	DP_MAP_POD_IFACES6,
	DP_MAP_SERVICES6,
	DP_MAP_BACKENDS6,
	DP_MAP_SOCK_ORIG6,
	DP_MAP_ORIG_DST6,
	DP_MAP_DNS_ORIG6,
	DP_MAP_PROXY_SOCKS6,
	DP_MAP_STRICT_PORTS6,
	DP_MAP_DENY_SRC6,
	DP_MAP_ENROLLED_IP6,
	DP_MAP_INPOD_SOCKS6,
	DP_MAP_DNS_ANSWERS6,
	DP_MAP_PREFLOWS,
	DP_MAP_PREFLOWS6,
	DP_MAP_NODE_CFG,
	DP_MAP_PROBE_FLOWS,
	DP_MAP_UDP_REPLIES,
	DP_MAP_UDP_REPLIES6,
	DP_MAP_EXCL_PORTS,
	DP_MAP_EXCL_REPLIES,
	DP_MAP_EXCL_REPLIES6,
	DP_MAP_UDP_FRAGS,
	DP_MAP_UDP_PENDING,
	DP_MAP_UDP_PENDING6,
	DP_MAP_UDP_SOCKS,
	DP_MAP_SENTRY_CIDRS,
	DP_MAP_SENTRY_CIDRS6,
	DP_MAP__COUNT,
};

/* Pinned names, indexed by enum datapath_map (the same names as in bpf/lib/maps.h). */
extern const char *const datapath_map_names[DP_MAP__COUNT];

struct datapath {
	char pin_root[PATH_MAX];
	int map_fds[DP_MAP__COUNT]; /* owned */
	int tc_prog_fd;		    /* owned; -1 when prog_tc_ingress is not pinned */
	int tc_pod_prog_fd;	    /* owned; -1 when prog_tc_pod is not pinned */
	int tc_pod_egress_prog_fd;  /* owned; -1 when prog_tc_pod_egress is not pinned */
	int tc_pod_lo_prog_fd;	    /* owned; -1 when prog_tc_pod_lo is not pinned */
	int tc_veth_egress_prog_fd; /* owned; -1 when prog_tc_veth_egress is not pinned */
	uint32_t next_service_id;   /* 0 until the services map was scanned once */
	uint32_t next_service6_id;  /* the same for services6 */
	void *loader;		    /* the loader's state (skeletons), released by loader_release */
	void (*loader_release)(void *loader);
};

#endif
