// SPDX-License-Identifier: Apache-2.0
/*
 * The machine's LoadBalancer network: what MetalLB (or cloud-provider-kind) gives a kind cluster
 * on its docker network, for every local cluster at once.
 *
 *   host  ambit-ext 172.30.0.1/16 fd00:30::1/64
 *           |
 *   netns ambit-external: br0, a port per cluster (c<K>)
 *           |
 *   cluster K's fabric: lb0 172.30.K.1/16 fd00:30::K:1/64, and one address per LoadBalancer
 *   Service, 172.30.K.N and fd00:30::K:N (N from 100 to 254, kept while the Service is)
 *
 * The fabric is the cloud's balancer: nftables there (table inet ambit_lb, replaced whole on
 * every reconcile) sends a connection to a Service's address and port to one of its pods, picked
 * at random, as a balancer with IP targets does (the client's address kept), and masquerades
 * what the cluster sends out to the network, so clusters with the same pod ranges reach each
 * other's LoadBalancer addresses and nothing else. A Service with no pod refuses (TCP reset,
 * ICMP unreachable), as kube-proxy does. The nodes route the network through the fabric.
 *
 * The network is made by the first cluster that joins (lbnet_attach) and goes with the last
 * (lbnet_release); <run base>/.lbnet/K files say which cluster holds index K.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "objstore.h"

#define LB_DIR CTL_RUN_BASE "/.lbnet"
#define LB_LOCK LB_DIR "/lock"
#define LB_NET4 "172.30.0.0/16"
#define LB_NET6 "fd00:30::/64"
#define LB_HOST4 "172.30.0.1/16"
#define LB_HOST6 "fd00:30::1/64"
#define LB_MAX_INDEX 254
#define LB_TABLE "ambit_lb"

static void fabric_name(const struct ctl_cluster *c, char *buf, size_t len)
{
	str_fmt(buf, len, "ambit-%s-fabric", c->name);
}

/* Whether @a (of family @af) is in 172.30.0.0/16 or fd00:30::/64. */
static bool in_range(int af, const void *a)
{
	static const uint8_t net6[8] = {0xfd, 0x00, 0x00, 0x30, 0, 0, 0, 0};
	const uint8_t *b = a;

	if (af == AF_INET)
		return b[0] == 172 && b[1] == 30;
	return af == AF_INET6 && !memcmp(b, net6, sizeof(net6));
}

/* @i's address of the network's ranges, its family in *@af; NULL when it has none. */
static const void *range_addr(const struct ifaddrs *i, int *af)
{
	const struct sockaddr *sa = i->ifa_addr;
	const void *a;

	if (!sa)
		return NULL;
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return NULL;
	*af = sa->sa_family;
	return in_range(*af, a) ? a : NULL;
}

/*
 * The host interface other than ambit-ext holding an address of the network's ranges (a docker
 * network, a VPN), in @who; false when there is none.
 */
static bool host_has_range(char *who, size_t len)
{
	struct ifaddrs *ifa, *i;
	bool found = false;

	if (getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		const void *a;
		int af;

		if (strcmp(i->ifa_name, CTL_LB_HOST_IF) && (a = range_addr(i, &af))) {
			char ip[INET6_ADDRSTRLEN];

			inet_ntop(af, a, ip, sizeof(ip));
			str_fmt(who, len, "%s has %s", i->ifa_name, ip);
			found = true;
		}
	}
	freeifaddrs(ifa);
	return found;
}

static bool netns_exists(const char *name)
{
	char path[PATH_MAX];

	str_fmt(path, sizeof(path), "/run/netns/%s", name);
	return access(path, F_OK) == 0;
}

/*
 * Takes the network's lock, LB_DIR made first: the fd to close, or -errno. The last cluster's
 * release removes the lock file and LB_DIR under the lock, so a lock taken meanwhile on the
 * removed file is no lock: taken again on the one made anew (a store's rmdir of the run base
 * may race the mkdir the same way).
 */
static int lb_lock(void)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat held, named;
		int fd, r = mkdir_p(LB_DIR, 0755);

		if (r == -ENOENT)
			continue;
		if (r)
			return r;
		fd = store_flock(LB_LOCK);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return fd;
		if (!fstat(fd, &held) && !stat(LB_LOCK, &named) && held.st_ino == named.st_ino &&
		    held.st_dev == named.st_dev)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/* Calls @fn with the name of each cluster on the network but @self (under the lock). */
static void each_other(const char *self, void (*fn)(const char *name, void *arg), void *arg)
{
	struct dirent *e;
	DIR *d = opendir(LB_DIR);

	while (d && (e = readdir(d))) {
		char path[PATH_MAX], *name;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		str_fmt(path, sizeof(path), LB_DIR "/%s", e->d_name);
		name = read_file(path, NULL);
		if (name && strchr(name, '\n'))
			*strchr(name, '\n') = '\0';
		if (name && *name && strcmp(name, self))
			fn(name, arg);
		free(name);
	}
	if (d)
		closedir(d);
}

/* ---- one network: pods routed between clusters ---- */

/* The pod bases of the clusters of network @arg's (a struct pod_bases) network. */
struct pod_bases {
	const char *network;
	bool used[256 / CTL_POD_BASE_STEP];
};

static void base_of(const char *name, void *arg)
{
	struct pod_bases *b = arg;
	struct ctl_cluster o;

	if (!cluster_load(&o, name) && !strcmp(o.network, b->network))
		b->used[o.pod_base / CTL_POD_BASE_STEP] = true;
}

/*
 * In @from's fabric and nodes, routes to @to's pods: the nodes through their fabric, the fabric
 * through @to's on the network (lb0), as a flat network's routers would. Without masquerade
 * (ruleset), so each side sees the other's pod addresses.
 */
static void routes_to(const struct ctl_cluster *from, const struct ctl_cluster *to)
{
	char fabric[CTL_NAME_MAX * 2], via4[32], via6[48];

	fabric_name(from, fabric, sizeof(fabric));
	if (!netns_exists(fabric))
		return;
	str_fmt(via4, sizeof(via4), "172.30.%d.1", to->lb_index);
	str_fmt(via6, sizeof(via6), "fd00:30::%d:1", to->lb_index);
	for (int i = 0; i < to->nnodes; i++) {
		const struct ctl_node *o = &to->nodes[i];

		if (!o->pods_v6only)
			RUN("ip", "-n", fabric, "route", "replace", (char *)o->pod_cidr, "via",
			    via4);
		if (o->pod_cidr6[0])
			RUN("ip", "-n", fabric, "-6", "route", "replace", (char *)o->pod_cidr6,
			    "via", via6);
		for (int k = 0; k < from->nnodes; k++) {
			const struct ctl_node *n = &from->nodes[k];

			if (!o->pods_v6only && node_ip4(n)[0])
				RUN("ip", "-n", (char *)n->netns, "route", "replace",
				    (char *)o->pod_cidr, "via", CTL_FABRIC_IP);
			if (o->pod_cidr6[0] && n->ip6[0])
				RUN("ip", "-n", (char *)n->netns, "-6", "route", "replace",
				    (char *)o->pod_cidr6, "via", CTL_FABRIC_IP6);
		}
	}
}

static void route_peer(const char *name, void *arg)
{
	const struct ctl_cluster *c = arg;
	struct ctl_cluster o;

	if (cluster_load(&o, name) || strcmp(o.network, c->network) || !o.lb_index)
		return;
	routes_to(c, &o);
	routes_to(&o, c);
}

int lbnet_reserve(struct ctl_cluster *c)
{
	char who[128], path[PATH_MAX];
	int lock, ret = -ENOSPC;

	c->lb_index = 0;
	if (!netns_exists(CTL_LB_NETNS) && host_has_range(who, sizeof(who))) {
		fprintf(stderr,
			"ambitctl: warning: no LoadBalancer network: the host's %s, in %s or %s; "
			"LoadBalancer Services stay <pending>\n",
			who, LB_NET4, LB_NET6);
		return 0;
	}
	lock = lb_lock();
	if (lock < 0) {
		fprintf(stderr, "ambitctl: LoadBalancer network: %s\n", strerror(-lock));
		return lock;
	}
	for (int k = 1; k <= LB_MAX_INDEX && ret == -ENOSPC; k++) {
		int fd;

		str_fmt(path, sizeof(path), LB_DIR "/%d", k);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			if (errno != EEXIST)
				ret = -errno;
			continue;
		}
		ret = dprintf(fd, "%s\n", c->name) < 0 ? -EIO : 0;
		close(fd);
		if (!ret)
			c->lb_index = k;
	}
	/* One network with another cluster: pods numbered apart from its. */
	if (!ret && c->network[0]) {
		struct pod_bases b = {.network = c->network};
		size_t i = 0;

		each_other(c->name, base_of, &b);
		while (i < sizeof(b.used) / sizeof(b.used[0]) && b.used[i])
			i++;
		if (i == sizeof(b.used) / sizeof(b.used[0]))
			fprintf(stderr, "ambitctl: network %s: no pod range left (%zu clusters)\n",
				c->network, i);
		else
			cluster_set_pod_base(c, (int)i * CTL_POD_BASE_STEP);
	}
	close(lock);
	if (ret)
		fprintf(stderr, "ambitctl: LoadBalancer network: %s\n",
			ret == -ENOSPC ? "all 254 places taken" : strerror(-ret));
	return ret;
}

/*
 * Removes cluster @k's port on the network's bridge, if it is there still: the kernel takes a
 * deleted fabric's veth pair down when it reclaims the netns, which may be after the next
 * cluster at @k wants to make it.
 */
static void port_remove(int k)
{
	char port[16];
	int saved;
	bool there;

	if (!netns_exists(CTL_LB_NETNS) || netns_enter(CTL_LB_NETNS, &saved))
		return;
	str_fmt(port, sizeof(port), "c%d", k);
	there = if_nametoindex(port) != 0;
	netns_leave(saved);
	if (there)
		RUN("ip", "-n", CTL_LB_NETNS, "link", "del", port);
}

/* Whether @name's file in LB_DIR names cluster @cluster. */
static bool held_by(const char *name, const char *cluster)
{
	char path[PATH_MAX], *text;
	bool yes;

	str_fmt(path, sizeof(path), LB_DIR "/%s", name);
	text = read_file(path, NULL);
	yes = text && !strncmp(text, cluster, strlen(cluster)) && text[strlen(cluster)] == '\n';
	free(text);
	return yes;
}

void lbnet_release(const char *name)
{
	int lock, left = 0;
	struct dirent *e;
	DIR *d;

	if (access(LB_DIR, F_OK) < 0)
		return;
	lock = lb_lock();
	if (lock < 0)
		return;
	d = opendir(LB_DIR);
	while (d && (e = readdir(d))) {
		char path[PATH_MAX];

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		if (!held_by(e->d_name, name)) {
			left++;
			continue;
		}
		port_remove(atoi(e->d_name));
		str_fmt(path, sizeof(path), LB_DIR "/%s", e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	/* The last cluster: the network and the host's end of it go (the veth pair with it). */
	if (!left) {
		/* The host's end now: a netns goes when the kernel gets to it. */
		if (if_nametoindex(CTL_LB_HOST_IF))
			RUN("ip", "link", "del", CTL_LB_HOST_IF);
		if (netns_exists(CTL_LB_NETNS) && RUN("ip", "netns", "del", CTL_LB_NETNS))
			fprintf(stderr, "ambitctl: netns %s could not be removed\n", CTL_LB_NETNS);
		unlink(LB_LOCK);
		rmdir(LB_DIR);
	}
	close(lock);
}

/* The network itself: its netns and bridge, the host's interface on it. */
static int make_network(void)
{
	/* One left by a network whose netns was removed but not yet reclaimed. */
	if (if_nametoindex(CTL_LB_HOST_IF))
		TRY(RUN("ip", "link", "del", CTL_LB_HOST_IF));
	TRY(RUN("ip", "netns", "add", CTL_LB_NETNS));
	TRY(RUN("ip", "-n", CTL_LB_NETNS, "link", "set", "lo", "up"));
	TRY(RUN("ip", "-n", CTL_LB_NETNS, "link", "add", "br0", "type", "bridge", "mcast_snooping",
		"0"));
	TRY(RUN("ip", "-n", CTL_LB_NETNS, "link", "set", "br0", "up"));
	TRY(RUN("ip", "link", "add", CTL_LB_HOST_IF, "type", "veth", "peer", "name", "host",
		"netns", CTL_LB_NETNS));
	TRY(RUN("ip", "-n", CTL_LB_NETNS, "link", "set", "host", "master", "br0", "up"));
	TRY(RUN("ip", "addr", "add", LB_HOST4, "dev", CTL_LB_HOST_IF));
	/* A host without IPv6 reaches the IPv4 addresses still. */
	if (RUN("ip", "-6", "addr", "add", LB_HOST6, "dev", CTL_LB_HOST_IF, "nodad"))
		fprintf(stderr,
			"ambitctl: warning: %s: no IPv6 (%s): the host reaches the "
			"LoadBalancer network's IPv4 addresses only\n",
			CTL_LB_HOST_IF, LB_HOST6);
	TRY(RUN("ip", "link", "set", CTL_LB_HOST_IF, "up"));
	return 0;
}

static void flush_in(const char *name, void *arg)
{
	char fabric[CTL_NAME_MAX * 2];
	char *const *to = arg;

	str_fmt(fabric, sizeof(fabric), "ambit-%s-fabric", name);
	if (netns_exists(fabric)) {
		RUN("ip", "-n", fabric, "neigh", "flush", "to", to[0]);
		RUN("ip", "-n", fabric, "-6", "neigh", "flush", "to", to[1]);
	}
}

/*
 * Forgets, on the host and in every other cluster's fabric, the link addresses of place @k's
 * addresses: they were another fabric's when a cluster held @k before (what a balancer's
 * gratuitous ARP does when an address moves). @self: this cluster, whose fabric is new.
 */
static void neigh_forget(int k, const char *self)
{
	char v4[32], v6[48], *to[2] = {v4, v6};

	str_fmt(v4, sizeof(v4), "172.30.%d.0/24", k);
	str_fmt(v6, sizeof(v6), "fd00:30::%d:0/112", k);
	RUN("ip", "neigh", "flush", "to", v4);
	RUN("ip", "-6", "neigh", "flush", "to", v6);
	each_other(self, flush_in, to);
}

int lbnet_attach(const struct ctl_cluster *c)
{
	char fabric[CTL_NAME_MAX * 2], port[16], a4[32], a6[48];
	const char *fwd[] = {"net.ipv4.ip_forward", "1", "net.ipv6.conf.all.forwarding", "1", NULL};
	int lock, ret = 0;

	if (!c->lb_index)
		return 0;
	fabric_name(c, fabric, sizeof(fabric));
	lock = lb_lock();
	if (lock < 0)
		return lock;
	if (!netns_exists(CTL_LB_NETNS))
		ret = make_network();
	close(lock);
	if (ret) {
		fprintf(stderr, "ambitctl: the LoadBalancer network could not be made\n");
		return ret;
	}
	port_remove(c->lb_index);
	str_fmt(port, sizeof(port), "c%d", c->lb_index);
	str_fmt(a4, sizeof(a4), "172.30.%d.1/16", c->lb_index);
	str_fmt(a6, sizeof(a6), "fd00:30::%d:1/64", c->lb_index);
	TRY(RUN("ip", "-n", CTL_LB_NETNS, "link", "add", port, "type", "veth", "peer", "name",
		"lb0", "netns", fabric));
	TRY(RUN("ip", "-n", CTL_LB_NETNS, "link", "set", port, "master", "br0", "up"));
	TRY(RUN("ip", "-n", fabric, "addr", "add", a4, "dev", "lb0"));
	TRY(RUN("ip", "-n", fabric, "-6", "addr", "add", a6, "dev", "lb0", "nodad"));
	TRY(RUN("ip", "-n", fabric, "link", "set", "lb0", "up"));
	TRY(sysctl_in(fabric, fwd));
	lock = lb_lock();
	if (lock >= 0) {
		neigh_forget(c->lb_index, c->name);
		close(lock);
	}
	/* The fabric is each node's way out to the network, both families as the node has them. */
	for (int i = 0; i < c->nnodes; i++) {
		const struct ctl_node *n = &c->nodes[i];

		if (node_ip4(n)[0])
			TRY(RUN("ip", "-n", (char *)n->netns, "route", "replace", LB_NET4, "via",
				CTL_FABRIC_IP));
		if (n->ip6[0])
			TRY(RUN("ip", "-n", (char *)n->netns, "-6", "route", "replace", LB_NET6,
				"via", CTL_FABRIC_IP6));
	}
	/* The clusters of its network and it reach each other's pods. */
	lock = c->network[0] ? lb_lock() : -1;
	if (lock >= 0) {
		each_other(c->name, route_peer, (void *)c);
		close(lock);
	}
	return 0;
}

/* ---- addresses ---- */

/* The LoadBalancer addresses lb0 of @fabric holds now (its own .1 aside), "ip" strings. */
static int lb0_addresses(const char *fabric, char ***out, size_t *n)
{
	struct ifaddrs *ifa = NULL, *i;
	int saved, ret;

	*out = NULL;
	*n = 0;
	ret = netns_enter(fabric, &saved);
	if (ret)
		return ret;
	if (getifaddrs(&ifa) < 0)
		ret = -errno;
	netns_leave(saved);
	for (i = ifa; !ret && i; i = i->ifa_next) {
		char ip[INET6_ADDRSTRLEN], **grown;
		const void *a;
		int af;

		if (strcmp(i->ifa_name, "lb0") || !(a = range_addr(i, &af)) ||
		    !inet_ntop(af, a, ip, sizeof(ip)))
			continue;
		grown = realloc(*out, (*n + 1) * sizeof(**out));
		if (!grown || !(grown[*n] = strdup(ip))) {
			*out = grown ? grown : *out;
			ret = -ENOMEM;
			break;
		}
		*out = grown;
		(*n)++;
	}
	freeifaddrs(ifa);
	return ret;
}

static bool planned(const struct ctl_plan *p, const char *ip)
{
	for (size_t i = 0; i < p->nservices; i++)
		if (!strcmp(p->services[i].lb, ip) || !strcmp(p->services[i].lb6, ip))
			return true;
	return false;
}

static bool held(char *const *have, size_t n, const char *ip)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(have[i], ip))
			return true;
	return false;
}

/* lb0 holds exactly the plan's addresses, and its own. */
static int sync_addresses(const struct ctl_cluster *c, const struct ctl_plan *p, const char *fabric)
{
	char self4[32], self6[48], **have, cidr[64];
	size_t n;
	int ret = lb0_addresses(fabric, &have, &n);

	str_fmt(self4, sizeof(self4), "172.30.%d.1", c->lb_index);
	str_fmt(self6, sizeof(self6), "fd00:30::%d:1", c->lb_index);
	for (size_t i = 0; !ret && i < n; i++) {
		if (!strcmp(have[i], self4) || !strcmp(have[i], self6) || planned(p, have[i]))
			continue;
		str_fmt(cidr, sizeof(cidr), "%s/%d", have[i], strchr(have[i], ':') ? 128 : 32);
		ret = RUN("ip", "-n", (char *)fabric, "addr", "del", cidr, "dev", "lb0") ? -EIO : 0;
	}
	for (size_t i = 0; !ret && i < p->nservices; i++) {
		const struct ctl_service_ip *v = &p->services[i];

		if (v->lb[0] && !held(have, n, v->lb)) {
			str_fmt(cidr, sizeof(cidr), "%s/32", v->lb);
			ret = RUN("ip", "-n", (char *)fabric, "addr", "add", cidr, "dev", "lb0")
				  ? -EIO
				  : 0;
		}
		if (!ret && v->lb6[0] && !held(have, n, v->lb6)) {
			str_fmt(cidr, sizeof(cidr), "%s/128", v->lb6);
			/* Never a source: what the fabric sends is from its own fd00:30::K:1. */
			ret = RUN("ip", "-n", (char *)fabric, "-6", "addr", "add", cidr, "dev",
				  "lb0", "nodad", "preferred_lft", "0")
				  ? -EIO
				  : 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(have[i]);
	free(have);
	return ret;
}

/* ---- the balancer's rules ---- */

/* The pod port Service port @sp reaches on @pod (a named targetPort among its containerPorts). */
static int target_port(const struct config_service_port *sp, const struct ctl_pod *pod)
{
	if (!sp->target_port_name)
		return sp->target_port ? sp->target_port : sp->port;
	for (size_t i = 0; pod->spec && i < pod->spec->nports; i++)
		if (pod->spec->ports[i].name &&
		    !strcmp(pod->spec->ports[i].name, sp->target_port_name))
			return pod->spec->ports[i].port;
	return 0;
}

static bool selects(const struct config_service *s, const struct ctl_pod *pod)
{
	return s->selector.n && pod->labels && !strcmp(pod->namespace, s->meta.namespace) &&
	       config_labels_match(&s->selector, pod->labels);
}

static const char *l4proto(const struct config_service_port *sp)
{
	if (sp->protocol && !strcasecmp(sp->protocol, "UDP"))
		return "udp";
	if (sp->protocol && !strcasecmp(sp->protocol, "SCTP"))
		return "sctp";
	return "tcp";
}

/*
 * One Service port of one family: a rule in prerouting to its chain, which picks an endpoint's
 * chain at random, which rewrites the destination. @six: IPv6.
 */
static void rules_port(FILE *f, FILE *pre, const struct ctl_plan *p, const struct config_service *s,
		       size_t si, size_t pi, bool six, const char *lb)
{
	const struct config_service_port *sp = &s->ports[pi];
	const char *fam = six ? "ip6" : "ip", *proto = l4proto(sp);
	size_t n = 0;

	for (size_t e = 0; e < p->npods; e++) {
		const struct ctl_pod *pod = &p->pods[e];
		const char *ip = six ? pod->ip6_str : pod_ip4(pod);
		int port = target_port(sp, pod);

		if (!selects(s, pod) || !ip[0] || !port)
			continue;
		fprintf(
		    f, "\tchain e%zu_%zu_%s_%zu {\n\t\tmeta l4proto %s dnat %s to %s%s%s:%d\n\t}\n",
		    si, pi, fam, n, proto, fam, six ? "[" : "", ip, six ? "]" : "", port);
		n++;
	}
	if (!n)
		return; /* the input chain refuses it */
	fprintf(pre, "\t\t%s daddr %s meta l4proto %s th dport %u goto s%zu_%zu_%s\n", fam, lb,
		proto, sp->port, si, pi, fam);
	fprintf(f, "\tchain s%zu_%zu_%s {\n\t\tnumgen random mod %zu vmap { ", si, pi, fam, n);
	for (size_t e = 0; e < n; e++)
		fprintf(f, "%s%zu : goto e%zu_%zu_%s_%zu", e ? ", " : "", e, si, pi, fam, e);
	fprintf(f, " }\n\t}\n");
}

/* The whole table, replacing what was there in one transaction. */
static char *ruleset(const struct ctl_plan *p, const struct config *cfg)
{
	char *chains = NULL, *pres = NULL, *out = NULL;
	size_t clen = 0, plen = 0, olen = 0;
	FILE *f = open_memstream(&chains, &clen), *pre = open_memstream(&pres, &plen), *o = NULL;
	bool any4 = false, any6 = false;

	if (!f || !pre)
		goto out;
	for (size_t i = 0; i < cfg->n_services && i < p->nservices; i++) {
		const struct ctl_service_ip *v = &p->services[i];

		for (size_t j = 0; j < cfg->services[i].nports; j++) {
			if (v->lb[0])
				rules_port(f, pre, p, &cfg->services[i], i, j, false, v->lb);
			if (v->lb6[0])
				rules_port(f, pre, p, &cfg->services[i], i, j, true, v->lb6);
		}
		any4 |= v->lb[0] != '\0';
		any6 |= v->lb6[0] != '\0';
	}
	if (fflush(f) || fflush(pre) || !(o = open_memstream(&out, &olen)))
		goto out;
	fprintf(
	    o,
	    "table inet " LB_TABLE " {}\ndelete table inet " LB_TABLE "\n"
	    "table inet " LB_TABLE " {\n"
	    "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	    "%s\t}\n%s",
	    pres, chains);
	/*
	 * Out to the network as the fabric (clusters may share pod ranges); a pod reaching its own
	 * cluster's balancer as the fabric too, so that the answer comes back through it (whether
	 * or not the bridge's frames pass netfilter).
	 */
	fprintf(o, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; "
		   "policy accept;\n"
		   /*
		    * A pod to another cluster's pods (one network, routed): as it is. A node's
		    * own address is one every cluster has: masqueraded as the rest.
		    */
		   "\t\toifname \"lb0\" ip saddr 10.98.0.0/16 ip daddr 10.98.0.0/16 accept\n"
		   "\t\toifname \"lb0\" ip6 saddr fd00:98::/32 ip6 daddr fd00:98::/32 accept\n"
		   "\t\toifname \"lb0\" masquerade\n"
		   "\t\tiifname != \"lb0\" ct status dnat masquerade\n\t}\n");
	/*
	 * What is for a balancer's address and was not sent on has no pod: refused. The fabric's
	 * own address (lb0's .1) is no balancer's and passes: a --kube cluster's API server
	 * answers other clusters there (kubeup.c), and what the fabric masqueraded comes back to
	 * it.
	 */
	fprintf(o, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
	for (int six = 0; six < 2; six++) {
		const char *fam = six ? "ip6" : "ip";
		bool first = true;

		if (!(six ? any6 : any4))
			continue;
		fprintf(o, "\t\tmeta nfproto %s %s daddr { ", six ? "ipv6" : "ipv4", fam);
		for (size_t i = 0; i < p->nservices; i++) {
			const char *a = six ? p->services[i].lb6 : p->services[i].lb;

			if (a[0]) {
				fprintf(o, "%s%s", first ? "" : ", ", a);
				first = false;
			}
		}
		fprintf(o, " } jump refuse\n");
	}
	/* ICMP passes: neighbour discovery and ping, to the address as to the fabric. */
	fprintf(o, "\t}\n\tchain refuse {\n\t\tmeta l4proto tcp reject with tcp reset\n"
		   "\t\tmeta l4proto { udp, sctp } reject\n\t}\n}\n");
	if (fclose(o)) {
		free(out);
		out = NULL;
	}
	o = NULL;
out:
	if (f)
		fclose(f);
	if (pre)
		fclose(pre);
	free(chains);
	free(pres);
	return out;
}

int lbnet_sync(const struct ctl_cluster *c, const struct ctl_plan *p, const struct config *cfg)
{
	char fabric[CTL_NAME_MAX * 2], path[PATH_MAX];
	char *text;
	int ret;

	if (!c->lb_index)
		return 0;
	fabric_name(c, fabric, sizeof(fabric));
	ret = sync_addresses(c, p, fabric);
	if (ret) {
		fprintf(stderr, "ambitctl: LoadBalancer addresses on %s could not be set\n",
			fabric);
		return ret;
	}
	text = ruleset(p, cfg);
	if (!text)
		return -ENOMEM;
	cluster_path(c, path, sizeof(path), "runtime/lb.nft");
	ret = write_file(path, text);
	free(text);
	if (!ret && RUN("ip", "netns", "exec", fabric, "nft", "-f", path)) {
		fprintf(stderr, "ambitctl: the LoadBalancer rules (%s) were refused\n", path);
		ret = -EIO;
	}
	return ret;
}
