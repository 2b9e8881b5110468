// SPDX-License-Identifier: Apache-2.0
/*
 * A pod's network namespace from its UID (userspace/podnet/podns.h), on cgroups and namespaces
 * laid out as kubelets and runtimes leave them, made under a private cgroup2 directory and
 * `ip netns` names of this test's own: the cgroupfs driver with containerd's container
 * directories, the systemd driver with CRI-O's scopes under a kind-style kubelet.slice root;
 * a pod whose sandbox holds its IP beside a container in another namespace; and the refusals:
 * an unknown UID, a pod cgroup without processes, a hostNetwork pod, a namespace without the
 * pod's IP. Needs root (cgroups, netns); everything made is removed in teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <net/if.h>

#include "ambit/datapath.h"
#include "podnet/podns.h"
#include "../../lib/harness.h"

#define UID_A "0b0c8a6e-2d5e-4f7b-9b1e-7d3b5a1f0c11"
#define UID_A_ "0b0c8a6e_2d5e_4f7b_9b1e_7d3b5a1f0c11"
#define UID_B "9f1d2c3b-aaaa-4bbb-8ccc-1234567890ab"
#define UID_B_ "9f1d2c3b_aaaa_4bbb_8ccc_1234567890ab"
#define UID_C "11111111-2222-3333-4444-555555555555"
#define UID_D "66666666-7777-8888-9999-000000000000"

static char root[256], ns1[64], ns2[64];
static pid_t kids[8];
static size_t n_kids;

/* A process in netns @ns (NULL: the host's) and cgroup @cg (under root), until teardown. */
static void spawn_in(const char *ns, const char *cg)
{
	char path[512], procs[600], pid[16];
	int ready[2], fd;
	pid_t p;

	snprintf(path, sizeof(path), "%s/%s", root, cg);
	assert_int_equal(harness_sh("mkdir -p '%s'", path), 0);
	assert_int_equal(pipe(ready), 0);
	p = fork();
	assert_true(p >= 0);
	if (!p) {
		char b = 1;

		if (ns) {
			char nsp[128];

			snprintf(nsp, sizeof(nsp), "/run/netns/%s", ns);
			fd = open(nsp, O_RDONLY);
			if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
				_exit(1);
		}
		if (write(ready[1], &b, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	kids[n_kids++] = p;
	{
		char b;

		assert_int_equal(read(ready[0], &b, 1), 1);
	}
	close(ready[0]);
	close(ready[1]);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	fd = open(procs, O_WRONLY);
	assert_true(fd >= 0);
	snprintf(pid, sizeof(pid), "%d", (int)p);
	assert_int_equal(write(fd, pid, strlen(pid)), (ssize_t)strlen(pid));
	close(fd);
}

static int teardown(void **state);

static int setup(void **state)
{
	char cg2[200];

	/* The cgroup2 mount, wherever it is (a hybrid host has it at /sys/fs/cgroup/unified). */
	if (cgroup2_mount(cg2, sizeof(cg2)))
		return -1;
	snprintf(root, sizeof(root), "%s/ambit-test-podns-%d", cg2, (int)getpid());
	snprintf(ns1, sizeof(ns1), "ambit-tpodns1-%d", (int)getpid());
	snprintf(ns2, sizeof(ns2), "ambit-tpodns2-%d", (int)getpid());
	/* This process's own namespace plays the node's: the host's interfaces are not touched. */
	if (unshare(CLONE_NEWNET) < 0 || mkdir(root, 0755) < 0)
		return -1;
	/*
	 * ns1 holds the pods' IP 10.244.1.7 (and fd00:244:1::7, as an IPv6-only pod holds its
	 * one) on a veth whose peer (hpod1) is in the node's namespace, as a routed CNI makes it;
	 * ns2 holds another address.
	 */
	if (harness_sh(
		"ip netns add %s && ip -n %s link add e0 type veth peer name hpod1 netns %d && "
		"ip -n %s addr add 10.244.1.7/32 dev e0 && "
		"ip -n %s addr add fd00:244:1::7/128 dev e0 nodad && "
		"ip netns add %s && ip -n %s link add e0 type veth peer name e1 && "
		"ip -n %s addr add 10.244.9.9/32 dev e0",
		ns1, ns1, (int)getpid(), ns1, ns1, ns2, ns2, ns2)) {
		teardown(state);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < n_kids; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	/* Deepest first: a cgroup goes only once empty of processes and children. */
	harness_sh("find '%s' -depth -type d -exec rmdir {} + 2>/dev/null", root);
	harness_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns1, ns2);
	return 0;
}

/* @s as an address; each call's own, for a few calls in one statement. */
static const struct ipaddr *addr(const char *s)
{
	static struct ipaddr ring[4];
	static unsigned int at;
	struct ipaddr *a = &ring[at++ % 4];

	assert_int_equal(ipaddr_parse_addr(s, a), 0);
	return a;
}

static void test_layouts(void **state)
{
	struct podns p;
	char why[512] = "", want[512];
	struct stat st;

	/* cgroupfs driver, containerd: the sandbox in ns1, an app container too. */
	spawn_in(ns1, "kubepods/burstable/pod" UID_A "/4f1e0c0b9a8d");
	spawn_in(ns1, "kubepods/burstable/pod" UID_A "/9a8d4f1e0c0b");
	assert_int_equal(podns_find(root, UID_A, addr("10.244.1.7"), &p, why, sizeof(why)), 0);
	assert_int_equal(podns_find(root, UID_A, addr("fd00:244:1::7"), &p, why, sizeof(why)), 0);
	snprintf(want, sizeof(want), "%s/kubepods/burstable/pod" UID_A, root);
	assert_string_equal(p.cgroup, want);
	assert_int_equal(stat(p.netns, &st), 0);
	{
		char nsp[128];
		struct stat w;

		snprintf(nsp, sizeof(nsp), "/run/netns/%s", ns1);
		assert_int_equal(stat(nsp, &w), 0);
		assert_int_equal(st.st_ino, w.st_ino);
		assert_int_equal(p.inode, w.st_ino);
	}
	/* The node's end of the pod's veth, where the tc program goes. */
	assert_string_equal(p.host_iface, "hpod1");
	assert_int_equal(p.host_ifindex, (int)if_nametoindex("hpod1"));
	/* systemd driver, CRI-O, under a kind-style root; one process elsewhere (ns2) first. */
	spawn_in(ns2, "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
		      "kubelet-kubepods-besteffort-pod" UID_B_ ".slice/crio-aa11.scope");
	spawn_in(ns1, "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
		      "kubelet-kubepods-besteffort-pod" UID_B_ ".slice/crio-bb22.scope");
	assert_int_equal(podns_find(root, UID_B, addr("10.244.1.7"), &p, why, sizeof(why)), 0);
	assert_non_null(strstr(p.cgroup, "besteffort-pod" UID_B_ ".slice"));
	assert_int_equal(p.pid, (int)kids[n_kids - 1]);
}

static void test_refusals(void **state)
{
	struct podns p;
	char why[512] = "";

	assert_int_equal(podns_find(root, UID_D, addr("10.244.1.7"), &p, why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "no cgroup for pod " UID_D));
	/* A pod cgroup, nothing in it. */
	assert_int_equal(harness_sh("mkdir -p '%s/kubepods/pod%s'", root, UID_C), 0);
	assert_int_equal(podns_find(root, UID_C, addr("10.244.1.7"), &p, why, sizeof(why)), -ESRCH);
	assert_non_null(strstr(why, "no process in"));
	/* hostNetwork: its process is in the node's namespace. */
	spawn_in(NULL, "kubepods/pod" UID_C "/cc33");
	assert_int_equal(podns_find(root, UID_C, addr("10.244.1.7"), &p, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "hostNetwork"));
	/* The pod's processes are in a namespace without its IP. */
	spawn_in(ns2, "kubepods.slice/kubepods-pod" UID_A_ ".slice/cri-containerd-dd44.scope");
	assert_int_equal(podns_find(root, UID_A, addr("10.244.3.3"), &p, why, sizeof(why)),
			 -EADDRNOTAVAIL);
	assert_non_null(strstr(why, "holds 10.244.3.3"));
	assert_int_equal(podns_find(root, "../etc", addr("10.244.3.3"), &p, why, sizeof(why)),
			 -EINVAL);
}

/*
 * A sandbox with no process yet (runtimes run the CNI chain before its first process): its
 * namespace found at the path the chain was given, checked to hold the pod's IP (of either
 * family).
 */
static void test_at_netns_path(void **state)
{
	char why[512] = "", nsp[128], other[128];
	struct stat st;
	struct podns p;

	snprintf(nsp, sizeof(nsp), "/run/netns/%s", ns1);
	snprintf(other, sizeof(other), "/run/netns/%s", ns2);
	assert_int_equal(harness_sh("mkdir -p '%s/kubepods/besteffort/pod%s'", root, UID_D), 0);
	assert_int_equal(podns_find(root, UID_D, addr("10.244.1.7"), &p, why, sizeof(why)), -ESRCH);
	assert_int_equal(podns_at(nsp, UID_D, addr("10.244.1.7"), &p, why, sizeof(why)), 0);
	/* The cgroup podns_find found stays. */
	assert_non_null(strstr(p.cgroup, "/kubepods/besteffort/pod" UID_D));
	assert_string_equal(p.netns, nsp);
	assert_int_equal(p.pid, 0);
	assert_int_equal(stat(nsp, &st), 0);
	assert_int_equal(p.inode, st.st_ino);
	assert_string_equal(p.host_iface, "hpod1");
	assert_int_equal(p.host_ifindex, (int)if_nametoindex("hpod1"));
	assert_int_equal(podns_at(other, UID_D, addr("10.244.1.7"), &p, why, sizeof(why)),
			 -EADDRNOTAVAIL);
	assert_non_null(strstr(why, "does not hold 10.244.1.7"));
	/* An IPv6-only pod: found by its IPv6 address, the same veth. */
	assert_int_equal(podns_at(nsp, UID_D, addr("fd00:244:1::7"), &p, why, sizeof(why)), 0);
	assert_string_equal(p.host_iface, "hpod1");
	assert_int_equal(podns_at(other, UID_D, addr("fd00:244:1::7"), &p, why, sizeof(why)),
			 -EADDRNOTAVAIL);
	assert_non_null(strstr(why, "does not hold fd00:244:1::7"));
	assert_int_equal(
	    podns_at("/proc/self/ns/net", UID_D, addr("10.244.1.7"), &p, why, sizeof(why)), -EPERM);
	assert_int_equal(podns_at("/run/netns/ambit-no-such-ns", UID_D, addr("10.244.1.7"), &p, why,
				  sizeof(why)),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layouts),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_at_netns_path),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_podns: needs root (cgroups, network namespaces), skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
