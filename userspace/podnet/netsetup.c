// SPDX-License-Identifier: Apache-2.0
/*
 * The netns set-up the data path relies on, over rtnetlink with libmnl in the calling thread's
 * netns: no ip(8) to spawn (the image holds only ambit's binaries), no /proc/sys to write (a
 * container has it read-only).
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/inet_diag.h>
#include <linux/ip.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/types.h>

#include "ambit/bpf_abi.h"
#include "ambit/log.h"
#include "netsetup.h"

#define LOOPBACK_IFINDEX 1

/*
 * Sends the request @nlh (NLM_F_ACK is added) on a fresh netlink socket of protocol @proto and
 * runs @cb (may be NULL) on its answers until the kernel's acknowledgement, or a dump's end.
 * 0, or the kernel's -errno.
 */
static int nl_talk(int proto, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open2(proto, SOCK_CLOEXEC);
	unsigned int portid;
	int ret;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			ret = -errno;
			break;
		}
		ret = mnl_cb_run(buf, (size_t)n, 1, portid, cb, data);
		if (ret <= MNL_CB_STOP) {
			ret = ret == MNL_CB_ERROR ? -errno : 0;
			break;
		}
	}
out:
	mnl_socket_close(nl);
	return ret;
}

/* The same over rtnetlink. */
static int nl_request(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	return nl_talk(NETLINK_ROUTE, nlh, cb, data);
}

/*
 * The rule's priority: fixed, so the kernel finds an identical rule (EEXIST) rather than adding
 * one more at the next free priority; 32765 is where a rule without one lands below the main
 * table's 32766, so a node set up by an agent that let the kernel choose has it there too.
 */
#define RULE_PRIORITY 32765

/*
 * The fwmark rule: `ip rule add priority RULE_PRIORITY fwmark AMBIT_SKB_MARK lookup
 * AMBIT_ROUTE_TABLE`; without @prio (a delete), whatever its priority.
 */
static struct nlmsghdr *rule_msg(char *buf, uint16_t type, uint16_t flags, bool prio,
				 uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct fib_rule_hdr *frh;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = AMBIT_ROUTE_TABLE;
	mnl_attr_put_u32(nlh, FRA_FWMARK, AMBIT_SKB_MARK);
	mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffff);
	mnl_attr_put_u32(nlh, FRA_TABLE, AMBIT_ROUTE_TABLE);
	if (prio)
		mnl_attr_put_u32(nlh, FRA_PRIORITY, RULE_PRIORITY);
	return nlh;
}

/* Its table's one route: `local 0.0.0.0/0 dev lo table AMBIT_ROUTE_TABLE` (or `local ::/0`). */
static struct nlmsghdr *route_msg(char *buf, uint16_t type, uint16_t flags, uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = family;
	rtm->rtm_table = AMBIT_ROUTE_TABLE;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_HOST;
	rtm->rtm_type = RTN_LOCAL;
	mnl_attr_put_u32(nlh, RTA_OIF, LOOPBACK_IFINDEX);
	mnl_attr_put_u32(nlh, RTA_TABLE, AMBIT_ROUTE_TABLE);
	return nlh;
}

static const char *const any_of[] = {[AF_INET] = "0.0.0.0/0", [AF_INET6] = "::/0"};

static int policy_routing_family(uint8_t family)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int err;

	/* EXCL: the kernel says EEXIST for the same rule or route, so restarts add nothing. */
	err = nl_request(rule_msg(buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, true, family), NULL,
			 NULL);
	if (err && err != -EEXIST) {
		pr_err("policy routing: %s rule fwmark 0x%x lookup %d: %s",
		       family == AF_INET6 ? "IPv6" : "IPv4", AMBIT_SKB_MARK, AMBIT_ROUTE_TABLE,
		       strerror(-err));
		return err;
	}
	if (!err)
		pr_debug("policy routing: added %s rule fwmark 0x%x lookup %d",
			 family == AF_INET6 ? "IPv6" : "IPv4", AMBIT_SKB_MARK, AMBIT_ROUTE_TABLE);
	err =
	    nl_request(route_msg(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, family), NULL, NULL);
	if (err && err != -EEXIST) {
		pr_err("policy routing: local %s dev lo table %d: %s", any_of[family],
		       AMBIT_ROUTE_TABLE, strerror(-err));
		return err;
	}
	if (!err)
		pr_debug("policy routing: added local %s dev lo table %d", any_of[family],
			 AMBIT_ROUTE_TABLE);
	return 0;
}

/*
 * Both families: IPv6 packets tc assigns to the ztunnel's IPv6 listeners carry the same mark.
 * A kernel without IPv6 (EAFNOSUPPORT) has none to deliver, and is not an error.
 */
int netsetup_policy_routing(void)
{
	int err = policy_routing_family(AF_INET);

	if (err)
		return err;
	err = policy_routing_family(AF_INET6);
	return err == -EAFNOSUPPORT ? 0 : err;
}

static int policy_routing_family_remove(uint8_t family)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int err = 0, n = 0;

	/* The rule may have been added more than once by hand: remove every copy. */
	while (n < 16 &&
	       !(err = nl_request(rule_msg(buf, RTM_DELRULE, 0, false, family), NULL, NULL)))
		n++;
	if (err == -ENOENT || err == -EAFNOSUPPORT)
		err = 0;
	if (n)
		pr_debug("policy routing: removed rule fwmark 0x%x lookup %d", AMBIT_SKB_MARK,
			 AMBIT_ROUTE_TABLE);
	/* Gone already (or its table): nothing to do then. */
	if (!nl_request(route_msg(buf, RTM_DELROUTE, 0, family), NULL, NULL))
		pr_debug("policy routing: removed local %s dev lo table %d", any_of[family],
			 AMBIT_ROUTE_TABLE);
	return err;
}

int netsetup_policy_routing_remove(void)
{
	int err = policy_routing_family_remove(AF_INET);
	int err6 = policy_routing_family_remove(AF_INET6);

	return err ?: err6;
}

int netsetup_iface_of(uint32_t ip, const struct in6_addr *ip6, char *name)
{
	struct ifaddrs *all;
	int ret = -ENODEV;

	if (getifaddrs(&all) < 0)
		return -errno;
	for (const struct ifaddrs *i = all; i && ret; i = i->ifa_next) {
		const struct sockaddr *a = i->ifa_addr;

		if (!a || !(a->sa_family == AF_INET
				? ip && ((const struct sockaddr_in *)a)->sin_addr.s_addr == ip
				: a->sa_family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(ip6) &&
				      IN6_ARE_ADDR_EQUAL(
					  &((const struct sockaddr_in6 *)a)->sin6_addr, ip6)))
			continue;
		snprintf(name, IF_NAMESIZE, "%s", i->ifa_name);
		ret = 0;
	}
	freeifaddrs(all);
	return ret;
}

struct link_info {
	int *master, *link;
	char *kind;
	size_t len;
};

static int linkinfo_attr(const struct nlattr *a, void *data)
{
	struct link_info *li = data;

	if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
		snprintf(li->kind, li->len, "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int link_attr(const struct nlattr *a, void *data)
{
	struct link_info *li = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_MASTER:
		if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			*li->master = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_LINK:
		if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			*li->link = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) >= 0)
			mnl_attr_parse_nested(a, linkinfo_attr, li);
		break;
	}
	return MNL_CB_OK;
}

static int link_msg(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr, data);
}

int netsetup_link_info(int ifindex, int *master, int *link, char *kind, size_t len)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct link_info li = {master, link, kind, len};
	struct ifinfomsg *ifi;

	*master = *link = 0;
	kind[0] = '\0';
	nlh->nlmsg_type = RTM_GETLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nl_request(nlh, link_msg, &li);
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
	return netsetup_accept_local(LOOPBACK_IFINDEX, on);
}

int netsetup_accept_local(int ifindex, bool on)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *spec, *inet, *conf;
	struct ifinfomsg *ifi;

	/* RTM_SETLINK @ifindex: IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { ACCEPT_LOCAL } } } */
	if (ifindex <= 0)
		return -EINVAL;
	nlh->nlmsg_type = RTM_SETLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	inet = mnl_attr_nest_start(nlh, AF_INET);
	conf = mnl_attr_nest_start(nlh, IFLA_INET_CONF);
	mnl_attr_put_u32(nlh, IPV4_DEVCONF_ACCEPT_LOCAL, on);
	mnl_attr_nest_end(nlh, conf);
	mnl_attr_nest_end(nlh, inet);
	mnl_attr_nest_end(nlh, spec);
	return nl_request(nlh, NULL, NULL);
}

/* RTM_DELNEIGH of @len bytes of address @dst of @family on @ifindex; ENOENT is no error. */
static int neigh_forget(int ifindex, uint8_t family, const void *dst, size_t len)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd;
	int err;

	nlh->nlmsg_type = RTM_DELNEIGH;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = family;
	nd->ndm_ifindex = ifindex;
	mnl_attr_put(nlh, NDA_DST, len, dst);
	err = nl_request(nlh, NULL, NULL);
	return err == -ENOENT ? 0 : err;
}

int netsetup_neigh_forget(int ifindex, uint32_t ip, const struct ipaddr *ip6)
{
	int err = ip ? neigh_forget(ifindex, AF_INET, &ip, sizeof(ip)) : 0;

	if (!err && ip6 && ip6->family == AF_INET6)
		err = neigh_forget(ifindex, AF_INET6, ip6->a, sizeof(ip6->a));
	return err;
}

/* The TCP states a connection of the ztunnel's can be in and still need its way back. */
#define CONN_STATES                                                                                \
	((1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT) | (1u << TCP_SYN_RECV) |                   \
	 (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT) |                  \
	 (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING))

struct foreign_scan {
	uint32_t ip;
	const struct in6_addr *ip6;
	struct ifaddrs *ifs;		 /* the netns' own addresses, or NULL */
	struct inet_diag_sockid ids[64]; /* the first ones found, to reset */
	uint8_t families[64];
	unsigned int n;
};

/* Whether @a (of @family: AF_INET, 4 bytes, or AF_INET6) is an address of an interface here. */
static bool configured(const struct foreign_scan *s, int family, const void *a)
{
	for (const struct ifaddrs *i = s->ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != family)
			continue;
		if (family == AF_INET &&
		    !memcmp(&((const struct sockaddr_in *)i->ifa_addr)->sin_addr, a, 4))
			return true;
		if (family == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a, 16))
			return true;
	}
	return false;
}

static bool own_v4(const struct foreign_scan *s, uint32_t a)
{
	return !a || a == s->ip || (ntohl(a) >> 24) == 127 || configured(s, AF_INET, &a);
}

/*
 * Whether local address @src of family @family is the netns' own: the pod's, loopback,
 * link-local, or any address of its interfaces (a second network's, say). Only a transparent
 * socket binds another.
 */
static bool own_addr(const struct foreign_scan *s, uint8_t family, const __be32 *src)
{
	const struct in6_addr *a = (const struct in6_addr *)src;

	if (family == AF_INET)
		return own_v4(s, src[0]);
	if (IN6_IS_ADDR_V4MAPPED(a))
		return own_v4(s, src[3]);
	return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
	       (s->ip6 && IN6_ARE_ADDR_EQUAL(a, s->ip6)) || configured(s, AF_INET6, a);
}

static int foreign_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct foreign_scan *s = data;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY || mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_OK;
	if (own_addr(s, m->idiag_family, m->id.idiag_src))
		return MNL_CB_OK;
	if (s->n < sizeof(s->ids) / sizeof(s->ids[0])) {
		s->ids[s->n] = m->id;
		s->families[s->n] = m->idiag_family;
	}
	s->n++;
	return MNL_CB_OK;
}

static struct nlmsghdr *diag_msg(char *buf, uint16_t type, uint8_t family, uint32_t states,
				 const struct inet_diag_sockid *id)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_req_v2 *req;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = type == SOCK_DIAG_BY_FAMILY ? NLM_F_DUMP : 0;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = states;
	if (id)
		req->id = *id;
	return nlh;
}

int netsetup_foreign_conns(uint32_t ip, const struct in6_addr *ip6, bool reset)
{
	static const uint8_t families[] = {AF_INET, AF_INET6};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct foreign_scan s = {.ip = ip, .ip6 = ip6};
	int err = 0;

	/* Without the list, an app's socket on another address of its own would count: say so. */
	if (getifaddrs(&s.ifs) < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(families) && !err; i++)
		err = nl_talk(NETLINK_SOCK_DIAG,
			      diag_msg(buf, SOCK_DIAG_BY_FAMILY, families[i], CONN_STATES, NULL),
			      foreign_msg, &s);
	freeifaddrs(s.ifs);
	if (err)
		return err;
	for (unsigned int i = 0; reset && i < s.n && i < sizeof(s.ids) / sizeof(s.ids[0]); i++) {
		err =
		    nl_talk(NETLINK_SOCK_DIAG,
			    diag_msg(buf, SOCK_DESTROY, s.families[i], ~0u, &s.ids[i]), NULL, NULL);
		/* Gone meanwhile: closed on its own. */
		if (err && err != -ENOENT)
			return err;
	}
	return (int)s.n;
}

/*
 * The states a connection can be in and still take segments from its peer: CONN_STATES, and a
 * request socket's (TCP_NEW_SYN_RECV, 12: a SYN answered, its ACK not yet in). Not TIME_WAIT:
 * what it still takes (a FIN sent again) the peer can live without.
 */
#define POD_CONN_STATES (CONN_STATES | (1u << 12))

struct pod_scan {
	uint32_t ip;
	const struct in6_addr *ip6;
	int (*cb)(uint8_t family, const struct inet_diag_sockid *id, void *ctx);
	void *ctx;
	int err;
};

static int pod_conn_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct pod_scan *s = data;
	const struct in6_addr *src;
	struct inet_diag_sockid id;
	uint8_t family;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY || mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_OK;
	id = m->id;
	family = m->idiag_family;
	src = (const struct in6_addr *)id.idiag_src;
	/* A dual-stack socket's IPv4 connection is IPv4 on the wire. */
	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(src)) {
		id.idiag_src[0] = id.idiag_src[3];
		id.idiag_dst[0] = id.idiag_dst[3];
		family = AF_INET;
	}
	if (family == AF_INET ? !s->ip || id.idiag_src[0] != s->ip
			      : !s->ip6 || !IN6_ARE_ADDR_EQUAL(src, s->ip6))
		return MNL_CB_OK;
	s->err = s->cb(family, &id, s->ctx);
	return s->err ? MNL_CB_ERROR : MNL_CB_OK;
}

int netsetup_pod_conns(uint32_t ip, const struct in6_addr *ip6,
		       int (*cb)(uint8_t family, const struct inet_diag_sockid *id, void *ctx),
		       void *ctx)
{
	static const uint8_t families[] = {AF_INET, AF_INET6};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct pod_scan s = {.ip = ip, .ip6 = ip6, .cb = cb, .ctx = ctx};
	int err = 0;

	for (size_t i = 0; i < sizeof(families) && !err && !s.err; i++)
		err =
		    nl_talk(NETLINK_SOCK_DIAG,
			    diag_msg(buf, SOCK_DIAG_BY_FAMILY, families[i], POD_CONN_STATES, NULL),
			    pod_conn_msg, &s);
	return s.err ? s.err : err;
}
