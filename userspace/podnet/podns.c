// SPDX-License-Identifier: Apache-2.0
/* A pod's network namespace from its UID, on a real node (podns.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netsetup.h"
#include "podns.h"

#define MAX_PIDS 256

/* Whether directory name @d names pod @uid ("pod<uid>", dashes or underscores, any suffix). */
static bool names_pod(const char *d, const char *dash, const char *under)
{
	const char *p = strstr(d, "pod");

	for (; p; p = strstr(p + 1, "pod")) {
		const char *u = p + 3;
		size_t n = strlen(dash);

		if ((!strncmp(u, dash, n) || !strncmp(u, under, n)) &&
		    (u[n] == '\0' || u[n] == '.'))
			return true;
	}
	return false;
}

/* Depth-first below @dir (PATH_MAX buffer, modified and restored) for pod @uid's cgroup. */
static bool find_pod_cgroup(char *dir, int depth, const char *dash, const char *under)
{
	size_t len = strlen(dir);
	DIR *d;
	struct dirent *e;
	bool found = false;

	if (depth > PODNS_MAX_DEPTH || !(d = opendir(dir)))
		return false;
	while (!found && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (len + 1 + strlen(e->d_name) + 1 > PATH_MAX)
			continue;
		dir[len] = '/';
		strcpy(dir + len + 1, e->d_name);
		if (names_pod(e->d_name, dash, under) ||
		    find_pod_cgroup(dir, depth + 1, dash, under)) {
			found = true;
			break;
		}
		dir[len] = '\0';
	}
	closedir(d);
	return found;
}

/* Every process of the cgroup subtree @dir into @pids (at most MAX_PIDS). */
static void subtree_pids(char *dir, int depth, int *pids, size_t *n)
{
	size_t len = strlen(dir);
	char line[32];
	DIR *d;
	struct dirent *e;
	FILE *f;

	if (len + sizeof("/cgroup.procs") > PATH_MAX)
		return;
	strcpy(dir + len, "/cgroup.procs");
	f = fopen(dir, "re");
	dir[len] = '\0';
	while (f && *n < MAX_PIDS && fgets(line, sizeof(line), f))
		pids[(*n)++] = atoi(line);
	if (f)
		fclose(f);
	if (depth > PODNS_MAX_DEPTH || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)) && *n < MAX_PIDS) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
		    len + 1 + strlen(e->d_name) + 1 > PATH_MAX)
			continue;
		dir[len] = '/';
		strcpy(dir + len + 1, e->d_name);
		subtree_pids(dir, depth + 1, pids, n);
		dir[len] = '\0';
	}
	closedir(d);
}

struct ip_check {
	const char *netns;
	const struct ipaddr *ip;
	int ret;     /* 1: holds it, 0: does not, -errno */
	int ifindex; /* the interface holding it, in the pod's netns */
	int link;    /* IFLA_LINK of that interface (a veth's peer), or 0 */
};

/* Whether interface address @sa is @ip (of either family). */
static bool holds(const struct sockaddr *sa, const struct ipaddr *ip)
{
	if (!sa || sa->sa_family != ip->family)
		return false;
	if (sa->sa_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)sa)->sin_addr, ip->a, 4);
	return sa->sa_family == AF_INET6 &&
	       !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, ip->a, 16);
}

/* In a thread of its own (setns changes the calling thread only): does the netns hold the IP? */
static void *check_ip(void *arg)
{
	struct ip_check *c = arg;
	struct ifaddrs *ifa = NULL;
	char kind[32];
	int master;
	int fd = open(c->netns, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		c->ret = -errno;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	if (getifaddrs(&ifa) < 0) {
		c->ret = -errno;
		return NULL;
	}
	c->ret = 0;
	for (struct ifaddrs *i = ifa; i && !c->ret; i = i->ifa_next)
		if (holds(i->ifa_addr, c->ip)) {
			c->ret = 1;
			c->ifindex = (int)if_nametoindex(i->ifa_name);
			if (netsetup_link_info(c->ifindex, &master, &c->link, kind, sizeof(kind)))
				c->link = 0;
		}
	freeifaddrs(ifa);
	return NULL;
}

static int holds_ip(const char *netns, const struct ipaddr *ip, int *ifindex, int *link)
{
	struct ip_check c = {netns, ip, -EIO, 0, 0};
	pthread_t t;
	int err = pthread_create(&t, NULL, check_ip, &c);

	if (err)
		return -err;
	pthread_join(t, NULL);
	*ifindex = c.ifindex;
	*link = c.link;
	return c.ret;
}

int podns_find(const char *cg_root, const char *uid, const struct ipaddr *ip, struct podns *out,
	       char *why, size_t len)
{
	char dir[PATH_MAX], under[128];

	memset(out, 0, sizeof(*out));
	if (!*uid || strlen(uid) >= sizeof(under) || strchr(uid, '/')) {
		snprintf(why, len, "pod UID \"%.60s\" is not a UID", uid);
		return -EINVAL;
	}
	for (size_t i = 0; i <= strlen(uid); i++)
		under[i] = uid[i] == '-' ? '_' : uid[i];
	snprintf(dir, sizeof(dir), "%s", cg_root);
	if (!find_pod_cgroup(dir, 0, uid, under)) {
		snprintf(why, len,
			 "no cgroup for pod %s under %s (kubelet layouts: kubepods/.../pod<uid>, "
			 "kubepods.slice/...-pod<uid>.slice)",
			 uid, cg_root);
		return -ENOENT;
	}
	return podns_in_cgroup(dir, uid, ip, out, why, len);
}

int podns_in_cgroup(const char *cgroup, const char *uid, const struct ipaddr *ip, struct podns *out,
		    char *why, size_t len)
{
	char dir[PATH_MAX], host[64], addr[IPADDR_STRLEN];
	uint64_t seen[MAX_PIDS], host_ino = 0;
	int pids[MAX_PIDS];
	size_t n = 0, n_seen = 0;
	struct stat st;
	bool only_host = true;

	memset(out, 0, sizeof(*out));
	ipaddr_format(ip, addr, sizeof(addr));
	snprintf(out->cgroup, sizeof(out->cgroup), "%s", cgroup);
	snprintf(dir, sizeof(dir), "%s", cgroup);
	subtree_pids(dir, 0, pids, &n);
	if (!n) {
		snprintf(why, len, "pod %s: no process in %s", uid, out->cgroup);
		return -ESRCH;
	}
	/* The agent runs in the node's namespace (hostNetwork), so its own is the node's. */
	if (stat("/proc/self/ns/net", &st) == 0)
		host_ino = st.st_ino;
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		int r, ifindex = 0, link = 0;

		snprintf(host, sizeof(host), "/proc/%d/ns/net", pids[i]);
		if (stat(host, &st) < 0)
			continue; /* gone meanwhile */
		for (size_t k = 0; k < n_seen; k++)
			dup |= seen[k] == st.st_ino;
		if (dup)
			continue;
		seen[n_seen++] = st.st_ino;
		if (st.st_ino == host_ino)
			continue;
		only_host = false;
		r = holds_ip(host, ip, &ifindex, &link);
		if (r == 1) {
			out->pid = pids[i];
			out->pod_ifindex = ifindex;
			out->inode = st.st_ino;
			snprintf(out->netns, sizeof(out->netns), "%s", host);
			/* The peer's index is in the node's namespace when it is a veth to it. */
			if (link > 0 && if_indextoname((unsigned int)link, out->host_iface))
				out->host_ifindex = link;
			return 0;
		}
	}
	if (only_host && n_seen) {
		snprintf(why, len, "pod %s runs in the node's network namespace (hostNetwork)",
			 uid);
		return -EPERM;
	}
	snprintf(why, len,
		 "pod %s: none of the %zu network namespaces of its %zu processes holds %s", uid,
		 n_seen, n, addr);
	return -EADDRNOTAVAIL;
}

int podns_at(const char *netns, const char *uid, const struct ipaddr *ip, struct podns *out,
	     char *why, size_t len)
{
	struct stat st, self;
	char addr[IPADDR_STRLEN];
	int r, ifindex = 0, link = 0;

	ipaddr_format(ip, addr, sizeof(addr));
	if (stat(netns, &st) < 0) {
		r = -errno;
		snprintf(why, len, "pod %s: %s: %s", uid, netns, strerror(-r));
		return r;
	}
	if (stat("/proc/self/ns/net", &self) == 0 && self.st_ino == st.st_ino) {
		snprintf(why, len, "pod %s: %s is the node's network namespace", uid, netns);
		return -EPERM;
	}
	r = holds_ip(netns, ip, &ifindex, &link);
	if (r < 0) {
		snprintf(why, len, "pod %s: entering %s: %s", uid, netns, strerror(-r));
		return r;
	}
	if (r != 1) {
		snprintf(why, len, "pod %s: %s does not hold %s", uid, netns, addr);
		return -EADDRNOTAVAIL;
	}
	out->pid = 0;
	out->pod_ifindex = ifindex;
	out->inode = st.st_ino;
	out->host_ifindex = 0;
	out->host_iface[0] = '\0';
	snprintf(out->netns, sizeof(out->netns), "%s", netns);
	if (link > 0 && if_indextoname((unsigned int)link, out->host_iface))
		out->host_ifindex = link;
	return 0;
}
