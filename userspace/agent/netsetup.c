// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/rtnetlink.h>
#include <linux/types.h>

#include "ambit/bpf_abi.h"
#include "ambit/log.h"
#include "netsetup.h"

extern char **environ;

/* Runs argv (PATH lookup, no shell); captures up to @outlen-1 bytes of stdout if @out. */
static int run(char *const argv[], char *out, size_t outlen)
{
	posix_spawn_file_actions_t fa;
	size_t got = 0;
	int pfd[2], status, err;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	/* Queries report "absent" on stderr (e.g. a table that does not exist yet): not news. */
	if (out)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (err) {
		close(pfd[0]);
		return -err;
	}
	for (;;) {
		char sink[256];
		char *dst = out && got + 1 < outlen ? out + got : sink;
		size_t room = out && got + 1 < outlen ? outlen - 1 - got : sizeof(sink);
		ssize_t n = read(pfd[0], dst, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != sink)
			got += (size_t)n;
	}
	close(pfd[0]);
	if (out && outlen)
		out[got] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	return 0;
}

int netsetup_policy_routing(void)
{
	char mark[16], table[16], out[4096];
	char *show_rule[] = {"ip", "-4", "rule", "show", "fwmark", mark, "lookup", table, NULL};
	char *add_rule[] = {"ip", "-4", "rule", "add", "fwmark", mark, "lookup", table, NULL};
	char *show_route[] = {"ip", "-4", "route", "show", "table", table, "type", "local", NULL};
	char *add_route[] = {"ip",  "-4", "route", "add", "local", "0.0.0.0/0",
			     "dev", "lo", "table", table, NULL};
	int err;

	snprintf(mark, sizeof(mark), "0x%x", AMBIT_SKB_MARK);
	snprintf(table, sizeof(table), "%d", AMBIT_ROUTE_TABLE);
	err = run(show_rule, out, sizeof(out));
	if (err) {
		pr_err("ip rule show: %s", strerror(-err));
		return err;
	}
	if (!strstr(out, "lookup")) {
		err = run(add_rule, NULL, 0);
		if (err) {
			pr_err("ip rule add fwmark %s lookup %s: %s", mark, table, strerror(-err));
			return err;
		}
		pr_info("policy routing: added rule fwmark %s lookup %s", mark, table);
	}
	/* ip fails when the table does not exist yet: that just means the route is absent. */
	if (run(show_route, out, sizeof(out)))
		out[0] = '\0';
	if (!strstr(out, "default dev lo") && !strstr(out, "0.0.0.0/0 dev lo")) {
		err = run(add_route, NULL, 0);
		if (err) {
			pr_err("ip route add local 0.0.0.0/0 dev lo table %s: %s", table,
			       strerror(-err));
			return err;
		}
		pr_info("policy routing: added local 0.0.0.0/0 dev lo table %s", table);
	}
	return 0;
}

int netsetup_policy_routing_remove(void)
{
	char mark[16], table[16], out[4096];
	char *show_rule[] = {"ip", "-4", "rule", "show", "fwmark", mark, "lookup", table, NULL};
	char *del_rule[] = {"ip", "-4", "rule", "del", "fwmark", mark, "lookup", table, NULL};
	char *del_route[] = {"ip",  "-4", "route", "del", "local", "0.0.0.0/0",
			     "dev", "lo", "table", table, NULL};
	int err = 0;

	snprintf(mark, sizeof(mark), "0x%x", AMBIT_SKB_MARK);
	snprintf(table, sizeof(table), "%d", AMBIT_ROUTE_TABLE);
	/* The rule may have been added more than once by hand: remove every copy. */
	for (int i = 0; i < 16 && !run(show_rule, out, sizeof(out)) && strstr(out, "lookup"); i++) {
		err = run(del_rule, NULL, 0);
		if (err)
			break;
	}
	if (!err)
		pr_info("policy routing: removed rule fwmark %s lookup %s", mark, table);
	/* Fails when the route (or the table) is gone already: nothing to do then. */
	if (!run(del_route, NULL, 0))
		pr_info("policy routing: removed local 0.0.0.0/0 dev lo table %s", table);
	return err;
}

int netsetup_iface_of(uint32_t ip, char *name)
{
	struct ifaddrs *all;
	int ret = -ENODEV;

	if (getifaddrs(&all) < 0)
		return -errno;
	for (const struct ifaddrs *i = all; i && ret; i = i->ifa_next) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)i->ifa_addr;

		if (!a || a->sin_family != AF_INET || a->sin_addr.s_addr != ip)
			continue;
		snprintf(name, IF_NAMESIZE, "%s", i->ifa_name);
		ret = 0;
	}
	freeifaddrs(all);
	return ret;
}

int netsetup_link_info(int ifindex, int *master, int *link, char *kind, size_t len)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = RTM_GETLINK,
		   .nlmsg_flags = NLM_F_REQUEST},
	    .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
	};
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct ifinfomsg *ifi;
	struct rtattr *rta;
	ssize_t n;
	int rlen;

	*master = *link = 0;
	kind[0] = '\0';
	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req) ||
	    (n = recv(fd, buf, sizeof(buf), 0)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	if (!NLMSG_OK(nh, (size_t)n) || nh->nlmsg_type != RTM_NEWLINK)
		return -ENODEV;
	ifi = NLMSG_DATA(nh);
	rlen = (int)IFLA_PAYLOAD(nh);
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, rlen); rta = RTA_NEXT(rta, rlen)) {
		if (rta->rta_type == IFLA_MASTER && RTA_PAYLOAD(rta) >= sizeof(uint32_t))
			memcpy(master, RTA_DATA(rta), sizeof(*master));
		if (rta->rta_type == IFLA_LINK && RTA_PAYLOAD(rta) >= sizeof(uint32_t))
			memcpy(link, RTA_DATA(rta), sizeof(*link));
		if (rta->rta_type == IFLA_LINKINFO) {
			struct rtattr *in = RTA_DATA(rta);
			int ilen = (int)RTA_PAYLOAD(rta);

			for (; RTA_OK(in, ilen); in = RTA_NEXT(in, ilen))
				if (in->rta_type == IFLA_INFO_KIND)
					snprintf(kind, len, "%.*s", (int)RTA_PAYLOAD(in),
						 (const char *)RTA_DATA(in));
		}
	}
	return 0;
}

int netsetup_bridge_port(int ifindex)
{
	char kind[32];
	int master, link, err;

	err = netsetup_link_info(ifindex, &master, &link, kind, sizeof(kind));
	if (err)
		return err;
	if (!master)
		return 0;
	err = netsetup_link_info(master, &master, &link, kind, sizeof(kind));
	if (err)
		return err;
	return strcmp(kind, "bridge") == 0;
}

int netsetup_lo_accept_local(bool on)
{
	/* RTM_SETLINK lo, IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { ACCEPT_LOCAL: 1 } } } */
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct rtattr spec, inet, conf, val;
		uint32_t one;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = RTM_SETLINK,
		   .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK},
	    .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = 1 /* lo */},
	    /* Each attribute holds the next: 4 bytes of header each, then the u32. */
	    .spec = {.rta_len = RTA_LENGTH(3 * sizeof(struct rtattr) + 4),
		     .rta_type = IFLA_AF_SPEC},
	    .inet = {.rta_len = RTA_LENGTH(2 * sizeof(struct rtattr) + 4), .rta_type = AF_INET},
	    .conf = {.rta_len = RTA_LENGTH(sizeof(struct rtattr) + 4), .rta_type = IFLA_INET_CONF},
	    .val = {.rta_len = RTA_LENGTH(4), .rta_type = IPV4_DEVCONF_ACCEPT_LOCAL},
	    .one = on,
	};
	char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req) ||
	    (n = recv(fd, buf, sizeof(buf), 0)) < 0)
		err = -errno;
	else if (NLMSG_OK(nh, (size_t)n) && nh->nlmsg_type == NLMSG_ERROR)
		err = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
	else
		err = -EPROTO;
	close(fd);
	return err;
}
