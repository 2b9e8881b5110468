// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl local up`: the topology of docs/internals/local-cluster-layout.md, with the pod
 * network routed or bridged (--cni), then each node's kubelet, which starts the agent, the
 * ztunnel and the pods as up asks, in that order. Any failure tears everything down with the
 * same code as `local down`.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ambit/ca.h"
#include "ambit/datapath.h"
#include "ambit/fileutil.h"
#include "ambit/ipc.h"
#include "ambit/policy.h"
#include "control/gwservices.h"
#include "local.h"

int sysctl_in(const char *netns, const char *const *kv)
{
	int saved, ret;

	ret = netns_enter(netns, &saved);
	if (ret)
		return ret;
	for (size_t i = 0; kv[i] && !ret; i += 2) {
		ret = sysctl_write(kv[i], kv[i + 1]);
		if (ret)
			fprintf(stderr, "ambitctl: %s: sysctl %s=%s: %s\n", netns, kv[i], kv[i + 1],
				strerror(-ret));
	}
	netns_leave(saved);
	return ret;
}

static int up_fabric(const struct ctl_cluster *c, char *fabric)
{
	TRY(RUN("ip", "netns", "add", fabric));
	TRY(RUN("ip", "-n", fabric, "link", "set", "lo", "up"));
	TRY(RUN("ip", "-n", fabric, "link", "add", "br0", "type", "bridge"));
	/* IPv6: br0 keeps 10.99.0.1, which no node has an IPv4 address or route to reach. */
	TRY(RUN("ip", "-n", fabric, "addr", "add", CTL_FABRIC_IP "/24", "dev", "br0"));
	if (c->ip_family != CTL_IP_IPV6)
		TRY(RUN("ip", "-n", fabric, "addr", "add", CTL_CLUSTER_DNS_IP "/24", "dev", "br0"));
	if (c->ip_family != CTL_IP_IPV4)
		TRY(RUN("ip", "-n", fabric, "-6", "addr", "add", CTL_FABRIC_IP6 "/64", "dev", "br0",
			"nodad"));
	/* IPv6: the pods' nameserver has no IPv4 they could reach. */
	if (c->ip_family == CTL_IP_IPV6)
		TRY(RUN("ip", "-n", fabric, "-6", "addr", "add", CTL_CLUSTER_DNS_IP6 "/64", "dev",
			"br0", "nodad"));
	TRY(RUN("ip", "-n", fabric, "link", "set", "br0", "up"));
	return 0;
}

/* Whether the process @pid (in the fabric netns) has a UDP socket bound to the cluster DNS. */
static bool dns_bound(const struct ctl_cluster *c, int pid)
{
	bool v6 = c->ip_family == CTL_IP_IPV6;
	char path[64], line[256];
	bool found = false;
	FILE *f;

	str_fmt(path, sizeof(path), "/proc/%d/net/udp%s", pid, v6 ? "6" : "");
	f = fopen(path, "re");
	if (!f)
		return false;
	/*
	 * 10.99.0.2:53 (fd00:99::2:53) as the kernel shows it: the address's 32-bit words each in
	 * host byte order, the port in hex.
	 */
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, v6 ? " 990000FD000000000000000002000000:0035 "
					: " 0200630A:0035 ") != NULL;
	fclose(f);
	return found;
}

/*
 * The cluster's DNS, kube-dns's part, in the fabric at cluster_dns_ip: every pod's
 * nameserver (the kubelet's ClusterFirst). dnsmasq answers the Services' names from <run>/dns/
 * (plan_write_hosts keeps the file; dnsmasq reads it again as it changes), NXDOMAIN for other
 * names under cluster.local, and forwards the rest to the fabric's resolver, as CoreDNS forwards
 * to its node's. Nothing cached: what a test's resolver answers next is answered next. An
 * enrolled pod's queries never reach it: its capture sends them to the ztunnel's proxy.
 */
static int up_cluster_dns(const struct ctl_cluster *c, char *fabric)
{
	char dir[PATH_MAX], hostsdir[PATH_MAX + 16], log[PATH_MAX], cg[PATH_MAX + 16], why[512];
	char listen[64], server[64];
	char *argv[] = {"dnsmasq",
			"--keep-in-foreground",
			"--bind-interfaces",
			listen,
			"--port=53",
			"--no-resolv",
			"--no-hosts",
			server,
			"--local=/cluster.local/",
			hostsdir,
			"--cache-size=0",
			"--no-negcache",
			"--pid-file=",
			"--log-facility=-",
			NULL};
	struct spawn_req r = {.argv = argv, .cgroup = cg, .netns = fabric, .log = log};
	int pid;

	/* IPv6: its address and its upstream's are the fabric's IPv6, all a pod or node has. */
	str_fmt(listen, sizeof(listen), "--listen-address=%s", cluster_dns_ip(c));
	str_fmt(server, sizeof(server), "--server=%s", cluster_fabric_ip(c));
	cluster_path(c, dir, sizeof(dir), "dns");
	str_fmt(hostsdir, sizeof(hostsdir), "--hostsdir=%s", dir);
	cluster_path(c, log, sizeof(log), "logs/cluster-dns.log");
	str_fmt(cg, sizeof(cg), "%s/control/dns", c->cg_root);
	TRY(mkdir_p(cg, 0755));
	pid = spawn_start(&r, why, sizeof(why));
	if (pid < 0) {
		fprintf(stderr,
			"ambitctl: the cluster's DNS (dnsmasq, Debian's dnsmasq-base): %s\n", why);
		return pid;
	}
	for (int i = 0; i < 50 && !ctl_interrupted; i++) {
		if (dns_bound(c, pid))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) != 0)
			break;
		usleep(100 * 1000);
	}
	fprintf(stderr, "ambitctl: the cluster's DNS did not come up on %s port 53; see %s\n",
		cluster_dns_ip(c), log);
	return -EIO;
}

/*
 * br_netfilter (a module or built in; ambitctl never loads it) would pass the frames cni0
 * switches between pods through the node's iptables. Its knobs exist only where it is.
 */
static int bridge_nf_off(const char *netns)
{
	const char *path = "/proc/sys/net/bridge/bridge-nf-call-iptables";
	int saved, ret;

	ret = netns_enter(netns, &saved);
	if (ret)
		return ret;
	if (access(path, F_OK) == 0)
		ret = write_file(path, "0");
	netns_leave(saved);
	if (ret)
		fprintf(stderr, "ambitctl: %s: %s: %s\n", netns, path, strerror(-ret));
	return ret;
}

/*
 * --cni bridge: cni0 holds the node's gateway address (.1 of its pod CIDR), as the CNI bridge
 * plugin's isGateway and flannel's host-gw have it. Its MAC is set, not left to the bridge: a
 * bridge otherwise takes the lowest MAC of its ports, so a pod joining or leaving would change
 * the gateway's MAC under the neighbour caches of the others. 0a:58 + the IPv4 address, as the
 * bridge plugin derived it.
 */
static int up_node_bridge(const struct ctl_node *n)
{
	const char *kv[] = {"net.ipv4.conf." CTL_CNI_BRIDGE_IFACE ".rp_filter", "0", NULL};
	char *ns = (char *)n->netns, addr[32], mac[18];

	str_fmt(addr, sizeof(addr), "%s/24", n->pod_gw);
	str_fmt(mac, sizeof(mac), "0a:58:0a:62:%02x:01", n->index);
	TRY(RUN("ip", "-n", ns, "link", "add", CTL_CNI_BRIDGE_IFACE, "address", mac, "type",
		"bridge"));
	if (!n->pods_v6only)
		TRY(RUN("ip", "-n", ns, "addr", "add", addr, "dev", CTL_CNI_BRIDGE_IFACE));
	if (n->pod_gw6[0]) {
		str_fmt(addr, sizeof(addr), "%s/64", n->pod_gw6);
		TRY(RUN("ip", "-n", ns, "-6", "addr", "add", addr, "dev", CTL_CNI_BRIDGE_IFACE,
			"nodad"));
	}
	TRY(RUN("ip", "-n", ns, "link", "set", CTL_CNI_BRIDGE_IFACE, "up"));
	TRY(sysctl_in(ns, kv));
	return bridge_nf_off(ns);
}

/*
 * --cni bridge across nodes: flannel's default backend, VXLAN. Each node has flannel.1 (VNI 1,
 * UDP 8472 over eth0) holding .0 of its pod CIDR; another node's pod CIDR is routed via that
 * node's .0 on flannel.1 (onlink), whose MAC and the node IP behind it are static neighbour and
 * FDB entries, as flanneld writes them. So a pod's packet crosses the fabric inside UDP, and the
 * destination node's eth0 sees only the tunnel: what the node-side capture cannot steer.
 */
static void vtep_mac(const struct ctl_node *n, char *mac, size_t len)
{
	str_fmt(mac, len, "0e:58:0a:62:%02x:00", n->index);
}

static int up_node_vxlan(const struct ctl_cluster *c, const struct ctl_node *n)
{
	char *ns = (char *)n->netns, mac[18], addr[32];

	vtep_mac(n, mac, sizeof(mac));
	str_fmt(addr, sizeof(addr), "10.98.%d.0/32", n->pod_net);
	/* IPv6: the tunnel runs over the nodes' IPv6, as flannel's does on an IPv6-only cluster. */
	TRY(RUN("ip", "-n", ns, "link", "add", CTL_CNI_VXLAN_IFACE, "address", mac, "type", "vxlan",
		"id", "1", "local", (char *)node_host_ip(n), "dev", "eth0", "dstport", "8472",
		"nolearning"));
	if (!n->pods_v6only)
		TRY(RUN("ip", "-n", ns, "addr", "add", addr, "dev", CTL_CNI_VXLAN_IFACE));
	TRY(RUN("ip", "-n", ns, "link", "set", CTL_CNI_VXLAN_IFACE, "up"));
	for (int i = 0; i < c->nnodes; i++) {
		const struct ctl_node *o = &c->nodes[i];
		char gw[40], omac[18];

		if (o == n)
			continue;
		vtep_mac(o, omac, sizeof(omac));
		TRY(RUN("bridge", "-n", ns, "fdb", "append", omac, "dev", CTL_CNI_VXLAN_IFACE,
			"dst", (char *)node_host_ip(o)));
		str_fmt(gw, sizeof(gw), "10.98.%d.0", o->pod_net);
		if (!n->pods_v6only) {
			TRY(RUN("ip", "-n", ns, "neigh", "add", gw, "lladdr", omac, "dev",
				CTL_CNI_VXLAN_IFACE, "nud", "permanent"));
			TRY(RUN("ip", "-n", ns, "route", "add", (char *)o->pod_cidr, "via", gw,
				"dev", CTL_CNI_VXLAN_IFACE, "onlink"));
		}
		if (!o->pod_cidr6[0])
			continue;
		/* IPv6 through the same tunnel (the frames are Ethernet): via fd00:98:<o>::. */
		str_fmt(gw, sizeof(gw), "fd00:98:%d::", o->pod_net);
		TRY(RUN("ip", "-n", ns, "-6", "neigh", "add", gw, "lladdr", omac, "dev",
			CTL_CNI_VXLAN_IFACE, "nud", "permanent"));
		TRY(RUN("ip", "-n", ns, "-6", "route", "add", (char *)o->pod_cidr6, "via", gw,
			"dev", CTL_CNI_VXLAN_IFACE, "onlink"));
	}
	return 0;
}

static int up_node(const struct ctl_cluster *c, const struct ctl_node *n, char *fabric)
{
	char port[16], addr[48];
	const char *kv[] = {"net.ipv4.ip_forward",
			    "1",
			    "net.ipv4.conf.all.rp_filter",
			    "0",
			    "net.ipv4.conf.default.rp_filter",
			    "0",
			    "net.ipv4.conf.eth0.rp_filter",
			    "0",
			    "net.ipv4.conf.lo.rp_filter",
			    "0",
			    NULL};
	char *ns = (char *)n->netns;

	str_fmt(port, sizeof(port), "n%d", n->index);
	TRY(RUN("ip", "netns", "add", ns));
	TRY(RUN("ip", "-n", fabric, "link", "add", port, "type", "veth", "peer", "name", "eth0",
		"netns", ns));
	TRY(RUN("ip", "-n", fabric, "link", "set", port, "master", "br0", "up"));
	TRY(RUN("ip", "-n", ns, "link", "set", "lo", "up"));
	/*
	 * IPv6: no IPv4 on any interface, as a node of kubeadm's IPv6 single stack; 169.254.1.1,
	 * the routed pods' IPv4 gateway, has no pod to serve there.
	 */
	if (node_ip4(n)[0]) {
		str_fmt(addr, sizeof(addr), "%s/24", node_ip4(n));
		TRY(RUN("ip", "-n", ns, "addr", "add", "169.254.1.1/32", "dev", "lo"));
		TRY(RUN("ip", "-n", ns, "addr", "add", addr, "dev", "eth0"));
	}
	TRY(sysctl_in(ns, kv));
	if (n->ip6[0]) {
		/*
		 * A router of both families; no DAD (addresses are the plan's, and a pod would wait
		 * for it); IPv6 addresses kept on a link that goes down, as a pod's host veth does
		 * when it is renamed (cni.c).
		 */
		const char *kv6[] = {"net.ipv6.conf.all.forwarding",
				     "1",
				     "net.ipv6.conf.default.accept_dad",
				     "0",
				     "net.ipv6.conf.all.keep_addr_on_down",
				     "1",
				     "net.ipv6.conf.default.keep_addr_on_down",
				     "1",
				     NULL};

		TRY(sysctl_in(ns, kv6));
		str_fmt(addr, sizeof(addr), "%s/64", n->ip6);
		TRY(RUN("ip", "-n", ns, "-6", "addr", "add", addr, "dev", "eth0", "nodad"));
	}
	TRY(RUN("ip", "-n", ns, "link", "set", "eth0", "up"));
	if (c->cni == CTL_CNI_BRIDGE) {
		TRY(up_node_bridge(n));
		TRY(up_node_vxlan(c, n));
	}
	for (int i = 0; c->cni != CTL_CNI_BRIDGE && i < c->nnodes; i++) {
		const struct ctl_node *o = &c->nodes[i];

		if (o == n)
			continue;
		if (node_ip4(o)[0])
			TRY(RUN("ip", "-n", ns, "route", "add", (char *)o->pod_cidr, "via",
				(char *)o->ip, "dev", "eth0"));
		if (o->pod_cidr6[0])
			TRY(RUN("ip", "-n", ns, "-6", "route", "add", (char *)o->pod_cidr6, "via",
				(char *)o->ip6, "dev", "eth0"));
	}
	/*
	 * The fabric routes the node's pod CIDR to it, as a Calico underlay learns it by BGP: a pod
	 * outside the capture (a waypoint reaching a ServiceEntry's endpoint, its resolver) is
	 * answered from outside the cluster.
	 */
	if (node_ip4(n)[0])
		TRY(RUN("ip", "-n", fabric, "route", "replace", (char *)n->pod_cidr, "via",
			(char *)n->ip));
	if (n->pod_cidr6[0])
		TRY(RUN("ip", "-n", fabric, "-6", "route", "replace", (char *)n->pod_cidr6, "via",
			(char *)n->ip6));
	TRY(mkdir_p(n->system_cg, 0755));
	TRY(mkdir_p(n->cgroup, 0755));
	return cni_conflist_write(c, n);
}

/* Whether @pid is still the process the kubelet runs as @n's agent or ztunnel. */
static bool component_alive(const struct ctl_node *n, bool agent, int pid)
{
	cJSON *st;
	const cJSON *rec;
	bool alive;
	int err;

	st = kubelet_call(n, "{\"op\":\"status\"}", true, &err);
	if (!st)
		return pid_alive(pid);
	rec = kubelet_find(st, agent ? "agent" : "ztunnel");
	alive =
	    rec && (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "pid")) == pid;
	cJSON_Delete(st);
	return alive;
}

int proc_wait_ready(const struct ctl_cluster *c, const struct ctl_node *n, bool agent, int pid)
{
	struct timespec start, now;
	char *reply = NULL;
	int ret = -ETIMEDOUT;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (agent) {
			ret = ipc_request(n->socket, CTL_AGENT_STATUS_REQ, &reply);
			bool ok = !ret && reply && strstr(reply, "\"ok\":true");
			free(reply);
			reply = NULL;
			if (ok)
				return 0;
		} else {
			ret = http_get_in_netns(n->netns, 15021, "/healthz/ready", NULL);
			if (ret == 200)
				return 0;
		}
		if (!component_alive(n, agent, pid)) {
			fprintf(stderr, "ambitctl: %s %s exited; see %s/logs/%s-%s.log\n", n->name,
				agent ? "agent" : "ztunnel", c->run_dir, n->name,
				agent ? "agent" : "ztunnel");
			return -ESRCH;
		}
		if (ctl_interrupted)
			return -EINTR;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= CTL_READY_TIMEOUT_S) {
			fprintf(stderr, "ambitctl: %s %s not ready after %ds (last: %d)\n", n->name,
				agent ? "agent" : "ztunnel", CTL_READY_TIMEOUT_S, ret);
			return -ETIMEDOUT;
		}
		usleep(100 * 1000);
	}
}

/*
 * --kube: until @n's agent knows @want workloads. Its node's pods come from its own watch, the
 * other nodes' from the CA's workload directory, a moment later: up is done once every agent
 * knows every pod, as without --kube.
 */
static int wait_workloads(const struct ctl_cluster *c, const struct ctl_node *n, size_t want)
{
	struct timespec start, now;
	double have = -1;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		char *reply = NULL;
		cJSON *root;

		if (!ipc_request(n->socket, CTL_AGENT_STATUS_REQ, &reply) &&
		    (root = cJSON_Parse(reply))) {
			have = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(root, "result"), "workloads"));
			cJSON_Delete(root);
		}
		free(reply);
		if (have >= (double)want)
			return 0;
		if (ctl_interrupted)
			return -EINTR;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= CTL_READY_TIMEOUT_S) {
			fprintf(stderr,
				"ambitctl: %s: the agent knows %.0f of the %zu pods after %ds (the "
				"others' come from the CA's workload directory; see its log)\n",
				n->name, have < 0 ? 0 : have, want, CTL_READY_TIMEOUT_S);
			return -ETIMEDOUT;
		}
		usleep(100 * 1000);
	}
}

static void print_summary(const struct ctl_cluster *c, const struct ctl_plan *p)
{
	bool dual = c->ip_family != CTL_IP_IPV4;

	printf("cluster %s is up (%s), pod network %s%s\n", c->name, c->run_dir,
	       cluster_cni_name(c->cni),
	       c->ip_family == CTL_IP_DUAL   ? ", dual stack (IPv4 first)"
	       : c->ip_family == CTL_IP_IPV6 ? ", IPv6 (pods, Services and the nodes' hostIPs)"
					     : "");
	if (c->network[0])
		printf("cluster id %s, network %s\n", c->cluster_id, c->network);
	printf("nodes:\n");
	for (int i = 0; i < c->nnodes; i++) {
		const struct ctl_node *n = &c->nodes[i];

		printf("  %-8s %-12s pods %s  netns %s", n->name, node_ip4(n)[0] ? n->ip : "-",
		       n->pods_v6only ? "-" : n->pod_cidr, n->netns);
		printf(dual ? "  %s pods %s\n" : "\n", n->ip6, n->pod_cidr6);
	}
	printf("pods:\n");
	for (size_t i = 0; i < p->npods; i++) {
		char uid[300];

		str_fmt(uid, sizeof(uid), "%s/%s", p->pods[i].namespace, p->pods[i].name);
		printf("  %-30s %-12s %s%s%s\n", uid,
		       pod_ip4(&p->pods[i])[0] ? pod_ip4(&p->pods[i]) : "-", p->pods[i].node->name,
		       dual ? "  " : "", p->pods[i].ip6_str);
	}
	printf("services:\n");
	for (size_t i = 0; i < p->nservices; i++)
		if (p->services[i].ip6[0])
			printf("  %-30s %-12s  %s\n", p->services[i].key,
			       p->services[i].ip[0] ? p->services[i].ip : "-", p->services[i].ip6);
		else
			printf("  %-30s %s\n", p->services[i].key, p->services[i].ip);
	/* What the host and the other local clusters reach (lbnet.c). */
	for (size_t i = 0, first = 1; i < p->nservices; i++) {
		const struct ctl_service_ip *v = &p->services[i];

		if (!v->lb[0] && !v->lb6[0])
			continue;
		if (first)
			printf("load balancers (on %s, the host at %s):\n", CTL_LB_HOST_IF,
			       c->ip_family == CTL_IP_IPV6 ? "fd00:30::1" : "172.30.0.1");
		first = 0;
		printf("  %-30s %s%s%s\n", v->key, v->lb, v->lb[0] && v->lb6[0] ? "  " : "",
		       v->lb6);
	}
	if (c->kube) {
		char path[PATH_MAX], server[128] = "?";

		kube_host_server(c, server, sizeof(server));
		cluster_path(c, path, sizeof(path), "kube/kubeconfig");
		printf("kubernetes: API server %s, kubeconfig %s\n", server, path);
		printf("  export KUBECONFIG=%s\n", path);
	}
}

static int up_dirs(const struct ctl_cluster *c)
{
	const char *sub[] = {"state", "runtime", "logs", "ca", "pods", "dns"};
	char path[PATH_MAX], text[128];

	TRY(mkdir_p(c->run_dir, 0755));
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		cluster_path(c, path, sizeof(path), "%s", sub[i]);
		TRY(mkdir_p(path, i == 3 ? 0700 : 0755));
	}
	for (int i = 0; i < c->nnodes; i++) {
		cluster_path(c, path, sizeof(path), "%s", c->nodes[i].name);
		TRY(mkdir_p(path, 0700));
		/* The node's /run: what a reboot empties (host-local's reservations). */
		cluster_path(c, path, sizeof(path), "%s/run", c->nodes[i].name);
		TRY(mkdir_p(path, 0755));
		if (c->kube)
			TRY(mkdir_p(c->nodes[i].host_run, 0755));
	}
	cluster_path(c, path, sizeof(path), "kube");
	if (c->kube)
		TRY(mkdir_p(path, 0700));
	/*
	 * The nodes' resolvers, for the names the ztunnels' DNS proxies forward: the fabric's
	 * address, where the host serves nothing unless a test or user starts a server there.
	 */
	cluster_path(c, path, sizeof(path), "resolv.conf");
	str_fmt(text, sizeof(text),
		"# written by ambitctl local up: the nodes' resolvers\n"
		"nameserver %s\n",
		cluster_fabric_ip(c));
	TRY(write_file_atomic(path, text));
	return 0;
}

extern const char _binary_deploy_ingress_yaml_tmpl_start[];
extern const char _binary_deploy_ingress_yaml_tmpl_end[];

static size_t ingress_len(void)
{
	return (size_t)(_binary_deploy_ingress_yaml_tmpl_end -
			_binary_deploy_ingress_yaml_tmpl_start);
}

/*
 * The ingress gateway's objects into @cfg (for the plan), unless the manifests already have a
 * Service istio-system/istio-ingressgateway (theirs stands). True when added.
 */
static bool ingress_load(struct config *cfg)
{
	struct config_diags d = {0};
	int ret;

	for (size_t i = 0; i < cfg->n_services; i++)
		if (!strcmp(cfg->services[i].meta.namespace, CTL_INGRESS_NS) &&
		    !strcmp(cfg->services[i].meta.name, CTL_INGRESS_NAME))
			return false;
	ret = config_load_buffer(cfg, "ingress.yaml", _binary_deploy_ingress_yaml_tmpl_start,
				 ingress_len(), &d);
	config_diags_free(&d);
	return ret == 0;
}

/* The Services of the manifests' class istio Gateways into @cfg (for the plan). 0 or -errno. */
static int gwdeploy_load(struct config *cfg)
{
	struct config_diags d = {0};
	char *text = NULL;
	int ret = gwservices_render(cfg, &text);

	if (!ret && text)
		ret = config_load_buffer(cfg, "gateway-deployments", text, strlen(text), &d);
	for (size_t i = 0; i < d.n; i++) {
		char line[1024];

		config_diag_format(&d.items[i], line, sizeof(line));
		fprintf(stderr, "ambitctl: %s\n", line);
	}
	config_diags_free(&d);
	free(text);
	return ret;
}

/*
 * Istio's plug-in CA: the Secret `cacerts` in istio-system (`kubectl create secret generic
 * cacerts -n istio-system --from-file=ca-cert.pem --from-file=ca-key.pem
 * --from-file=root-cert.pem --from-file=cert-chain.pem`), whose intermediate the cluster's CA
 * signs with instead of a root of its own, so that clusters sharing the root trust each other.
 * NULL when the manifests have none.
 */
static const struct config_secret *cacerts_of(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_secrets; i++)
		if (!strcmp(cfg->secrets[i].meta.namespace, POLICY_ROOT_NAMESPACE_DEFAULT) &&
		    !strcmp(cfg->secrets[i].meta.name, "cacerts"))
			return &cfg->secrets[i];
	return NULL;
}

/* The files of Istio's cacerts Secret, as its CA reads them. */
static const char *const cacerts_names[] = {"ca-cert.pem", "ca-key.pem", "root-cert.pem",
					    "cert-chain.pem"};

/* @sec's files (Istio's four names; the key 0600) into @dir. 0 or -errno. */
static int cacerts_write(const struct config_secret *sec, const char *dir)
{
	char path[PATH_MAX];
	int ret = 0;

	for (size_t i = 0; !ret && i < sec->n; i++)
		for (size_t k = 0; k < sizeof(cacerts_names) / sizeof(cacerts_names[0]); k++) {
			if (strcmp(sec->items[i].key, cacerts_names[k]))
				continue;
			if (memchr(sec->items[i].value, '\0', sec->items[i].len))
				return -EINVAL;
			str_fmt(path, sizeof(path), "%s/%s", dir, cacerts_names[k]);
			ret =
			    write_file_atomic_mode(path, sec->items[i].value, k == 1 ? 0600 : 0644);
		}
	return ret;
}

/*
 * The manifests' cacerts, checked before the host is touched: written to a scratch directory
 * and opened as the agents will open it (ca.c says why it cannot sign, if it cannot).
 */
static int cacerts_check(const struct config *cfg)
{
	const struct config_secret *sec = cacerts_of(cfg);
	char dir[] = "/tmp/ambitctl-cacerts-XXXXXX", path[PATH_MAX];
	struct ambit_ca *ca = NULL;
	int ret;

	if (!sec)
		return 0;
	if (!mkdtemp(dir))
		return -errno;
	ret = cacerts_write(sec, dir);
	if (!ret && !(ca = ca_open(dir)))
		ret = -errno;
	ca_destroy(ca);
	if (ret)
		fprintf(stderr,
			"ambitctl: %s/cacerts (%s:%d): not a CA the cluster can sign with (Istio's "
			"ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem): %s\n",
			POLICY_ROOT_NAMESPACE_DEFAULT, sec->meta.origin.file, sec->meta.origin.line,
			ret == -EINVAL ? "see the line above" : strerror(-ret));
	for (size_t k = 0; k < sizeof(cacerts_names) / sizeof(cacerts_names[0]); k++) {
		str_fmt(path, sizeof(path), "%s/%s", dir, cacerts_names[k]);
		unlink(path);
	}
	rmdir(dir);
	return ret;
}

static int up_all(struct ctl_cluster *c, struct ctl_plan *p, const struct config *cfg,
		  const char *dir, bool ingress, int prom_port)
{
	char fabric[CTL_NAME_MAX * 2];
	int ret;

	TRY(up_dirs(c));
	TRY(cluster_save(c));
	/*
	 * Istio's plugged-in CA, where the agents' CA (--ca-dir) takes it (checked already); on
	 * --kube, into the API server before the install, which hands it to the mesh's CA.
	 */
	if (!c->kube && cacerts_of(cfg)) {
		char ca[PATH_MAX];

		cluster_path(c, ca, sizeof(ca), "ca");
		TRY(cacerts_write(cacerts_of(cfg), ca));
	}
	/* Before the pods file: it writes Prometheus's targets once their directory is there. */
	if (prom_port)
		TRY(prom_prepare(c));
	/* The first apply: one file per object, validated as `ambitctl apply` validates. */
	TRY(apply_store_path(c, dir, true));
	if (ingress) {
		char path[PATH_MAX];

		char *text = strndup(_binary_deploy_ingress_yaml_tmpl_start, ingress_len());

		cluster_path(c, path, sizeof(path), "ingress.yaml");
		ret = text ? write_file(path, text) : -ENOMEM;
		free(text);
		TRY(ret);
		TRY(apply_store_path(c, path, true));
	}
	/* Istio's way of naming a cluster's network, which the agents read (with --kube too). */
	if (c->network[0])
		TRY(state_ns_label(c, POLICY_ROOT_NAMESPACE_DEFAULT, CONFIG_LABEL_NETWORK,
				   c->network));
	{
		char state[PATH_MAX];

		cluster_path(c, state, sizeof(state), "state");
		TRY(gwdeploy_sync(state));
	}
	str_fmt(fabric, sizeof(fabric), "ambit-%s-fabric", c->name);
	TRY(up_fabric(c, fabric));
	TRY(up_cluster_dns(c, fabric));
	for (int i = 0; i < c->nnodes; i++)
		TRY(up_node(c, &c->nodes[i], fabric));
	TRY(lbnet_attach(c));
	/* --kube: the API server, ambit installed into it, and the objects and pods in it. */
	if (c->kube) {
		char state[PATH_MAX];

		cluster_path(c, state, sizeof(state), "state");
		TRY(kube_up(c, cacerts_of(cfg)));
		TRY(kube_mirror(c, p, state));
	}
	TRY(plan_write_hosts(c, p, cfg));
	TRY(plan_write_pods_json(p, c));
	TRY(lbnet_sync(c, p, cfg));
	/* Each node's kubelet runs its agent, its ztunnel and its pods from here on. */
	for (int i = 0; i < c->nnodes; i++)
		TRY(kubelet_spawn(c, &c->nodes[i]));
	for (int agent = 1; agent >= 0; agent--) {
		int pids[CTL_MAX_NODES];

		for (int i = 0; i < c->nnodes; i++)
			TRY(kubelet_component(&c->nodes[i], true, agent, &pids[i]));
		for (int i = 0; i < c->nnodes; i++)
			TRY(proc_wait_ready(c, &c->nodes[i], agent, pids[i]));
	}
	for (int i = 0; i < c->nnodes; i++)
		TRY(kubelet_sync(&c->nodes[i], false));
	/* --kube: the kubelets report their pods Running, with their IPs. */
	if (c->kube) {
		char state[PATH_MAX];

		cluster_path(c, state, sizeof(state), "state");
		for (size_t i = 0; i < p->npods; i++)
			p->pods[i].started = true;
		TRY(kube_mirror(c, p, state));
		for (int i = 0; i < c->nnodes; i++)
			TRY(wait_workloads(c, &c->nodes[i], p->npods));
		/* ambit's own DaemonSet and Deployments as ready as they are (kworkload.c). */
		if (kube_workloads_status(c))
			fprintf(stderr,
				"ambitctl: kube: the status of %s's workloads is not written "
				"yet: the kube-controller writes it\n",
				CTL_KUBE_NS);
		/* From here on the cluster also follows what kubectl writes there. */
		TRY(kube_controller_spawn(c));
	}
	if (prom_port)
		TRY(prom_start(c, prom_port));
	return 0;
}

static void on_signal(int sig)
{
	ctl_interrupted = 1;
}

/*
 * --network: a network label the manifests give istio-system already must say the same (the
 * agents take the label's over their flag). 0, or -EINVAL told on stderr.
 */
static int network_agrees(const struct config *cfg, const char *network)
{
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const struct config_meta *m = &cfg->namespaces[i].meta;
		const char *v = config_label_get(&m->labels, CONFIG_LABEL_NETWORK);

		if (strcmp(m->name, POLICY_ROOT_NAMESPACE_DEFAULT) || !v || !strcmp(v, network))
			continue;
		fprintf(stderr,
			"ambitctl: --network %s: namespace %s (%s:%d) is labelled %s=%s; drop the "
			"label or make the two the same\n",
			network, POLICY_ROOT_NAMESPACE_DEFAULT, m->origin.file, m->origin.line,
			CONFIG_LABEL_NETWORK, v);
		return -EINVAL;
	}
	return 0;
}

int local_up(const struct ctl_opts *o, const struct local_up_opts *u)
{
	struct ctl_cluster c;
	struct ctl_plan plan = {0};
	struct config cfg;
	char path[PATH_MAX];
	bool ingress = u->ingress;
	int ret;

	ret = cluster_init(&c, o->cluster, u->nnodes);
	if (!ret && u->network)
		ret = cluster_set_network(&c, u->network, "--network");
	if (!ret && u->kube)
		ret = cluster_set_kube(&c);
	if (ret)
		return ret;
	c.cni = u->cni;
	cluster_set_ip_family(&c, u->family);
	if (!realpath(u->dir, c.src_dir)) {
		ret = -errno;
		fprintf(stderr, "ambitctl: %s: %s\n", u->dir, strerror(-ret));
		return ret;
	}
	cluster_path(&c, path, sizeof(path), "cluster.json");
	if (access(c.run_dir, F_OK) == 0) {
		fprintf(stderr,
			"ambitctl: cluster %s already exists (%s); run `ambitctl local down "
			"--cluster %s` first\n",
			c.name, c.run_dir, c.name);
		return -EEXIST;
	}
	config_init(&cfg);
	/* Every diagnostic is printed before the host is touched. */
	ret = load_manifests(&cfg, c.src_dir);
	if (!ret && c.network[0])
		ret = network_agrees(&cfg, c.network);
	if (!ret)
		ret = cacerts_check(&cfg);
	ingress = !ret && ingress && ingress_load(&cfg);
	if (!ret)
		ret = gwdeploy_load(&cfg);
	if (!ret && u->prom_port)
		ret = prom_port_free(u->prom_port);
	if (!ret)
		ret = bpffs_ensure_mounted();
	/* The last check: the cluster's place on the LoadBalancer network is held from here. */
	if (!ret)
		ret = lbnet_reserve(&c);
	if (!ret && (ret = plan_build(&plan, &c, &cfg, NULL)))
		lbnet_release(c.name);
	if (ret)
		goto out;
	struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	ret = up_all(&c, &plan, &cfg, c.src_dir, ingress, u->prom_port);
	if (!ret && ctl_interrupted)
		ret = -EINTR;
	if (ret) {
		fprintf(stderr, "ambitctl: local up failed (%s); tearing down\n", strerror(-ret));
		/* Teardown must finish: a second Ctrl-C would leave half a cluster behind. */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		ctl_interrupted = 0;
		local_down(c.name, true);
		goto out_signals;
	}
	print_summary(&c, &plan);
	if (u->prom_port)
		printf("prometheus: http://127.0.0.1:%d\n", u->prom_port);
out_signals:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
out:
	plan_free(&plan);
	config_free(&cfg);
	return ret;
}
