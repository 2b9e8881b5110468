/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup programs of bpf/capture.bpf.c loaded for the BPF tests (tests/bpf/test_capture*.c):
 * datapath_open() attaches them to a private cgroup <cg2>/ambit-<tag>-<pid>, never the root one,
 * with the cgroups of an enrolled pod, a container below it and a pod outside the mesh, and
 * pins its maps under /sys/fs/bpf/ambit-<tag>-<pid>. Forked children join those cgroups before
 * they open sockets. Test code only.
 */
#ifndef AMBIT_TESTS_CAPTURE_FIXTURE_H
#define AMBIT_TESTS_CAPTURE_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "ambit/datapath.h"

struct capture_fixture {
	char cg[PATH_MAX + 32];		  /* where the programs are attached */
	char cg_enrolled[PATH_MAX + 48];  /* the enrolled pod's */
	char cg_container[PATH_MAX + 64]; /* a container's, below the pod's */
	char cg_plain[PATH_MAX + 48];	  /* a pod not enrolled */
	char pin_root[64];
	struct datapath_opts opts; /* the ztunnel's addresses: set before capture_fixture_make */
	struct datapath *dp;
	uint64_t enrolled_id;
	uint32_t pod_ip; /* the enrolled pod's (network order) */
};

/*
 * Makes the cgroups and pin directory named by @tag and this process, loads and attaches the
 * programs with @f->opts and enrolls cg_enrolled as pod @pod_ip. 0, or -1 with errno set; what
 * was made is undone by capture_fixture_destroy either way.
 */
int capture_fixture_make(struct capture_fixture *f, const char *tag, uint32_t pod_ip);
/* Loads the programs again with @f->opts, behind the same pinned links (an agent restart). */
int capture_fixture_reopen(struct capture_fixture *f);
/* Detaches and unpins everything and removes the (empty) cgroups: 0, or -1. */
int capture_fixture_destroy(struct capture_fixture *f);

/* In a child: moves the calling process into @cgroup (its sockets record it at birth). */
int capture_fixture_join(const char *cgroup);
/* The counter of @reason (fails the test when it cannot be read). */
uint64_t capture_fixture_counter(struct capture_fixture *f, enum ambit_reason reason);
/* The enrolled pod's entry with @flags (AMBIT_ENROLLED_*); fails the test on error. */
void capture_fixture_set_flags(struct capture_fixture *f, uint32_t flags);
/* Nothing waits on @fd: a connection or datagram did not land on it. */
bool capture_fixture_idle(int fd);

#endif
