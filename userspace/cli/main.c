// SPDX-License-Identifier: Apache-2.0
/* ambitctl: operate a local cluster and inspect the mesh of its nodes. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/version.h"
#include "ambit/log.h"
#include "ctl.h"
#include "getobj.h"
#include "kubelet/kubelet.h"
#include "install/install.h"

/*
 * The synopsis, one entry per command group: `ambitctl --help` prints them all, `ambitctl CMD
 * --help` (or -h, anywhere before "--") the entry naming CMD.
 */
static const struct usage_entry {
	const char *group; /* heading in the full usage */
	const char *cmds;  /* the commands it covers, each between spaces */
	const char *text;
} usages[] = {
    {"local cluster", " local ",
     "  local up -f DIR [--nodes 2] [--kube] [--cni routed|bridge] [--no-ingress]\n"
     "           [--ip-family ipv4|dual|ipv6] [--with-prometheus [--prometheus-port 9090]]\n"
     "           [--network NET]\n"
     "                                  build the cluster from manifests in DIR\n"
     "                                  (--kube: an API server holds it, ambit installed\n"
     "                                  as on Kubernetes; --cni bridge: pods of a node on\n"
     "                                  bridge cni0, as flannel host-gw; default routed;\n"
     "                                  --ip-family dual: pods and nodes with IPv6\n"
     "                                  addresses too, IPv4 first; ipv6: pods and\n"
     "                                  Services IPv6 only, nodes reporting IPv6; also\n"
     "                                  $AMBIT_LOCAL_KUBE=1, $AMBIT_LOCAL_CNI,\n"
     "                                  $AMBIT_LOCAL_IP_FAMILY;\n"
     "                                  istio-ingressgateway in istio-system unless\n"
     "                                  --no-ingress; Prometheus scraping it as Istio's\n"
     "                                  addon does, on 127.0.0.1:PORT, with\n"
     "                                  --with-prometheus; --network: the cluster is in\n"
     "                                  network NET, its name its cluster id, and\n"
     "                                  istio-system labelled topology.istio.io/network,\n"
     "                                  as Istio's multicluster; else cluster id\n"
     "                                  Kubernetes, no network)\n"
     "  local down                      remove everything the cluster made\n"
     "  local exec [-n NS] POD -- CMD...   run CMD in a pod (its namespaces, user,\n"
     "                                  capabilities)\n"
     "  local port-forward [-n NS] [--address ADDR] TARGET [LOCAL:]REMOTE...\n"
     "                                  as kubectl: host ports to a pod's (TARGET: svc/NAME,\n"
     "                                  pod/NAME, deploy/NAME or a pod NAME), until Ctrl-C\n"
     "  local logs [-n NS] POD|nodeN-agent|nodeN-ztunnel|nodeN-kubelet [-f]\n"
     "                                  (--kube: also apiserver, node1-ambit-ca)\n"
     "  local stop|start agent|ztunnel [--node N]   stopped stays down until started\n"
     "  local upgrade ztunnel [--node N]   a new ztunnel takes the listeners, the old drains\n"
     "  local reboot NODE [--agent-delay S]   what a reboot does: all killed, pins and netns "
     "gone,\n"
     "                                     the kubelet and pods first, the agent S seconds later\n"
     "  local crash NODE agent|ztunnel [--times N]   SIGKILL each time it comes back\n"
     "  local status [-o json]          kubelets, agents, ztunnels, pods: state, restarts\n"
     "  local kubeconfig                --kube: the path of the admin's kubeconfig (its API\n"
     "                                  server on 127.0.0.1), for KUBECONFIG=\n"},
    {"config", " apply delete ",
     "  apply -f FILE|DIR|URL|- [-n NS] [--dry-run] [--wait=false] [--timeout 30s]\n"
     "                                  object by object, as kubectl; waits until in force\n"
     "  delete -f FILE|DIR|URL|- [-n NS] [--dry-run]\n"},
    {"config", " analyze ",
     "  analyze [-f FILE|DIR] [--root-namespace NS]   schema, Istio rules, references\n"},
    {"config", " label ",
     "  label namespace NS key=value|key- ... [--overwrite] [--wait=false]\n"
     "                                  returns, as apply, once every node has them in force\n"},
    {"config", " create get ",
     "  create secret tls NAME --cert FILE --key FILE [-n NS] [--dry-run] [-o yaml]\n"
     "  create secret generic NAME --from-file=[KEY=]FILE... [-n NS] [-o yaml]\n"
     "                                  a Secret (a gateway's credentialName), as kubectl\n"
     "  create namespace|ns NAME         a Namespace, as kubectl (applied as apply does)\n"
     "  get KIND[,KIND...]|all [NAME...] [-n NS | -A] [-o wide|yaml|json|name]\n"
     "      [-l KEY=VALUE,...] [-L KEY,...] [--show-labels]\n"
     "                                  as kubectl, with its names and columns: pods (po),\n"
     "                                  services (svc), deployments (deploy), namespaces (ns),\n"
     "                                  sa, cm, secrets, endpointslices, vs, dr, gw (Istio's),\n"
     "                                  se, envoyfilters, ap, pa, ra, telemetries, gateway\n"
     "                                  (gtw: the Gateway API's, with the status Istio\n"
     "                                  writes), httproutes, grpcroutes, tlsroutes, tcproutes,\n"
     "                                  referencegrants, localratelimits (kind.group too)\n"},
    {"waypoints", " waypoint ",
     "  waypoint generate|apply [-n NS] [--name N] [--for service|workload|all|none]\n"
     "                    [--enroll-namespace]   a waypoint (Gateway istio-waypoint), as istioctl\n"
     "  waypoint list [-n NS | -A] [-o json]   waypoints, identities, instances\n"
     "  waypoint status [-n NS] [--name N]    programmed or why not; what is bound to it\n"
     "  waypoint delete [-n NS] NAME... | --all\n"
     "  waypoint config -f FILE|DIR [-n NS] [--name N]   its L7 model (waypoint --config)\n"
     "  waypoint apply|status|delete ... --kubeconfig F (or --kube)   on Kubernetes\n"},
    {"inspection", " workloads services certs connections maps metrics policies ",
     "  workloads|services|certs|connections|maps|metrics|policies [--node N] [-o json]\n"},
    {"kubernetes", " install uninstall ",
     "  install [--set KEY=VALUE]... [--dry-run] [--kubeconfig F]   ambit on the cluster\n"
     "            (keys: namespace image trustDomain logLevel cgroupRoot caSecret\n"
     "             captureMode ingressGateway cniConfDir cniBinDir clusterName network;\n"
     "             Istio's [values.]global.multiCluster.clusterName and\n"
     "             [values.]global.network are clusterName and network: the agents'\n"
     "             CLUSTER_ID, default Kubernetes, and NETWORK, default none)\n"
     "  install crds [--dry-run [-o yaml|json]] [--kubeconfig F]   Istio's CRDs, from ambit's own "
     "schemas\n"
     "  uninstall [--set namespace=NS] [--dry-run] [--purge] [--force] [--kubeconfig F]\n"
     "            (--purge: also the CRDs install crds made, and every object of their kinds;\n"
     "            --force: even while namespaces are still in the mesh, whose pods then talk\n"
     "            in plaintext)\n"},
    {"kubernetes", " nodes ",
     "  nodes [--kubeconfig F] [-n NAMESPACE] [-o json]   each node's capture mode (host or\n"
     "            inpod), agent version and whether its agent keeps its Lease (Ready, Stale)\n"},
    {"inspection", " dashboard ",
     "  dashboard [kiali|jaeger|grafana] [--port 20001] [--address 127.0.0.1]\n"
     "        [--allow-host NAME]... [--prometheus URL] [--grafana-dashboards DIR]\n"
     "                                  the mesh in a browser: service graph, workloads,\n"
     "                                  configuration (Prometheus: --with-prometheus's),\n"
     "                                  traces, the Grafana dashboards of DIR\n"},
    {"multicluster", " create-remote-secret ",
     "  create-remote-secret [--name N] [-n NS]   Istio's remote secret of the cluster, as\n"
     "                                  istioctl prints it, for `apply -f -` on another\n"
     "                                  (--name: the cluster's name in the mesh, default its\n"
     "                                  cluster id; -n: the Secret's namespace, default\n"
     "                                  istio-system). Its kubeconfig's server is\n"
     "                                  file:///run/ambit/C, the cluster's run dir (the\n"
     "                                  other cluster's agents read its state/ and\n"
     "                                  runtime/pods.json there, nothing else), with no\n"
     "                                  credentials (user: {}); on --kube, its API server\n"
     "                                  on the LoadBalancer network (https://172.30.K.1:6443)\n"
     "                                  with its CA and a year's token of Istio's read-only\n"
     "                                  istio-system/istio-reader-service-account\n"},
    {"multicluster", " remote-clusters ",
     "  remote-clusters [-o json]       as istioctl: NAME SECRET STATUS ISTIOD, the cluster\n"
     "                                  itself first, then each remote cluster the nodes'\n"
     "                                  agents read (synced when every agent says so;\n"
     "                                  ISTIOD: ambit-agent, the node agents; -o json: each\n"
     "                                  node's view too)\n"},
    {"inspection", " check ",
     "  check SRC DST:PORT [--udp] [-o json]\n"
     "                                  which policy decides SRC -> DST and why (--udp: a flow)\n"
     "                                  (SRC, DST: ns/pod, pod or IP; DST also a Service or\n"
     "                                  a ServiceEntry's host; IPv6 DST as [ADDR]:PORT)\n"
     "        [--method M] [--path P] [--header K=V] [--jwt FILE]\n"
     "                                  the request a Service's waypoint judges (L7)\n"},
};

static const char cluster_note[] =
    "the cluster: --cluster C on every command (or --name C but for waypoint and\n"
    "create-remote-secret, whose --name is the waypoint's and the cluster's name in the mesh),\n"
    "else $AMBIT_CLUSTER, else the one cluster that is up\n"
    "(`local up` makes \"ambit\" by default; with several up, say which)\n";

static void usage(FILE *f)
{
	const char *group = "";

	fprintf(f, "usage: ambitctl COMMAND [options]    (ambitctl COMMAND --help: one command;"
		   " ambitctl --version)\n");
	for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++) {
		if (strcmp(group, usages[i].group))
			fprintf(f, "%s:\n", usages[i].group);
		group = usages[i].group;
		fputs(usages[i].text, f);
	}
	fputs(cluster_note, f);
}

/* The usage of @cmd alone, on stdout; false when @cmd is no command. */
static bool usage_of(const char *cmd)
{
	char key[64];
	bool found = false;

	if (str_fmt(key, sizeof(key), " %s ", cmd) || !strcmp(cmd, ""))
		return false;
	for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++) {
		if (!strstr(usages[i].cmds, key))
			continue;
		if (!found)
			printf("usage: ambitctl %s ...\n", cmd);
		found = true;
		fputs(usages[i].text, stdout);
	}
	if (found)
		fputs(cluster_note, stdout);
	return found;
}

struct args {
	struct ctl_opts o;
	const char *file;
	int nodes;
	bool kube;	     /* local up --kube */
	bool no_ingress;     /* local up --no-ingress */
	bool prometheus;     /* local up --with-prometheus */
	int prom_port;	     /* local up --prometheus-port, or 0 */
	const char *cni;     /* local up --cni, or NULL */
	const char *family;  /* local up --ip-family, or NULL */
	const char *network; /* local up --network, or NULL */
	const char *ns;	     /* -n NS (local exec, local logs: the pod's namespace), or NULL */
	double agent_delay;  /* local reboot --agent-delay SECONDS */
	int times;	     /* local crash --times N */
	struct check_l7 l7;  /* check --method --path --header --jwt */
	int npos;
	char *pos[16];
	char **rest; /* after "--" */
};

/* @file_is_path: -f takes a value (up/apply/delete) instead of meaning --follow (logs). */
static int parse(int argc, char **argv, int start, bool file_is_path, struct args *a)
{
	for (int i = start; i < argc; i++) {
		const char *s = argv[i];
		bool has_next = i + 1 < argc;

		if (!strcmp(s, "--")) {
			a->rest = &argv[i + 1];
			return 0;
		} else if ((!strcmp(s, "--name") || !strcmp(s, "--cluster")) && has_next) {
			a->o.cluster = argv[++i];
		} else if ((!strcmp(s, "-n") || !strcmp(s, "--namespace")) && has_next) {
			a->ns = argv[++i];
		} else if (!strcmp(s, "--node") && has_next) {
			a->o.node = argv[++i];
		} else if (!strcmp(s, "--nodes") && has_next) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > CTL_MAX_NODES) {
				fprintf(stderr, "ambitctl: --nodes: 1..%d\n", CTL_MAX_NODES);
				return -EINVAL;
			}
			a->nodes = (int)n;
		} else if (!strcmp(s, "--kube")) {
			a->kube = true;
		} else if (!strcmp(s, "--no-ingress")) {
			a->no_ingress = true;
		} else if (!strcmp(s, "--with-prometheus")) {
			a->prometheus = true;
		} else if (!strcmp(s, "--prometheus-port") && has_next) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 65535) {
				fprintf(stderr, "ambitctl: --prometheus-port: 1..65535\n");
				return -EINVAL;
			}
			a->prom_port = (int)n;
		} else if (!strcmp(s, "--cni") && has_next) {
			a->cni = argv[++i];
		} else if (!strcmp(s, "--ip-family") && has_next) {
			a->family = argv[++i];
		} else if (!strcmp(s, "--network") && has_next) {
			a->network = argv[++i];
		} else if (!strncmp(s, "--network=", 10)) {
			a->network = s + 10;
		} else if (!strcmp(s, "--agent-delay") && has_next) {
			char *end;
			double d = strtod(argv[++i], &end);
			if (*end || d < 0 || d > 3600) {
				fprintf(stderr, "ambitctl: --agent-delay: 0..3600 seconds\n");
				return -EINVAL;
			}
			a->agent_delay = d;
		} else if (!strcmp(s, "--times") && has_next) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 1000) {
				fprintf(stderr, "ambitctl: --times: 1..1000\n");
				return -EINVAL;
			}
			a->times = (int)n;
		} else if (!strcmp(s, "--method") && has_next) {
			a->l7.method = argv[++i];
		} else if (!strcmp(s, "--path") && has_next) {
			a->l7.path = argv[++i];
		} else if (!strcmp(s, "--jwt") && has_next) {
			a->l7.jwt_file = argv[++i];
		} else if (!strcmp(s, "--udp")) {
			a->l7.udp = true;
		} else if (!strcmp(s, "--header") && has_next) {
			if (a->l7.n_headers == 16) {
				fprintf(stderr, "ambitctl: at most 16 --header\n");
				return -EINVAL;
			}
			a->l7.headers[a->l7.n_headers++] = argv[++i];
		} else if (!strcmp(s, "-o") && has_next) {
			const char *v = argv[++i];
			if (strcmp(v, "json") && strcmp(v, "wide") && strcmp(v, "table")) {
				fprintf(stderr, "ambitctl: -o json|table\n");
				return -EINVAL;
			}
			a->o.json = !strcmp(v, "json");
		} else if (!strcmp(s, "-f") && file_is_path && has_next) {
			a->file = argv[++i];
		} else if ((!strcmp(s, "-f") && !file_is_path) || !strcmp(s, "--follow")) {
			a->o.follow = true;
		} else if (s[0] == '-' && s[1]) {
			fprintf(stderr, "ambitctl: unknown or incomplete option %s\n", s);
			return -EINVAL;
		} else if (a->npos < 16) {
			a->pos[a->npos++] = argv[i];
		} else {
			fprintf(stderr, "ambitctl: too many arguments\n");
			return -EINVAL;
		}
	}
	return 0;
}

static int need(bool ok, const char *what)
{
	if (!ok)
		fprintf(stderr, "ambitctl: %s\n", what);
	return ok ? 0 : -EINVAL;
}

/* -n NS POD is NS/POD, as kubectl's -n names the pod's namespace (pos[0] points into @ns_pod). */
static int pod_in_ns(struct args *a)
{
	static char ns_pod[512];

	if (!a->ns)
		return 0;
	if (strchr(a->pos[0], '/'))
		return need(false, "-n NS goes with a pod's name, not NS/POD");
	if (str_fmt(ns_pod, sizeof(ns_pod), "%s/%s", a->ns, a->pos[0]))
		return need(false, "-n NS POD: too long");
	a->pos[0] = ns_pod;
	return 0;
}

static int run_local(int argc, char **argv, struct args *a)
{
	const char *sub = argc > 2 ? argv[2] : "";
	int ret;

	/* kubectl's flags (-n, --address), read where it is implemented (portfwd.c). */
	if (!strcmp(sub, "port-forward"))
		return local_port_forward(&a->o, argc - 3, argv + 3);
	if (!strcmp(sub, "relay"))
		return local_relay(argc - 3, argv + 3);
	ret = parse(argc, argv, 3, !strcmp(sub, "up"), a);
	if (ret)
		return ret;
	if (a->ns && strcmp(sub, "exec") && strcmp(sub, "logs"))
		return need(false, "unknown or incomplete option -n");
	if (a->network && strcmp(sub, "up"))
		return need(false, "unknown or incomplete option --network");
	if (!strcmp(sub, "up")) {
		const char *env_cni = getenv("AMBIT_LOCAL_CNI");
		const char *env_fam = getenv("AMBIT_LOCAL_IP_FAMILY");
		struct local_up_opts u = {.dir = a->file,
					  .nnodes = a->nodes,
					  .kube = a->kube,
					  .cni = CTL_CNI_ROUTED,
					  .family = CTL_IP_IPV4,
					  .ingress = !a->no_ingress,
					  .network = a->network};

		ret = need(a->file && !a->npos,
			   "usage: ambitctl local up -f DIR [--nodes N] [--kube] "
			   "[--cni routed|bridge] [--ip-family ipv4|dual|ipv6] [--no-ingress] "
			   "[--with-prometheus [--prometheus-port P]] [--network NET]");
		if (!ret && a->prom_port && !a->prometheus)
			ret = need(false, "--prometheus-port goes with --with-prometheus");
		/*
		 * The integration suite runs tests again in other modes: AMBIT_LOCAL_KUBE=1 is
		 * --kube, AMBIT_LOCAL_CNI=bridge is --cni bridge, AMBIT_LOCAL_IP_FAMILY=dual (or
		 * ipv6) is --ip-family dual (or ipv6) (the flags win).
		 */
		if (getenv("AMBIT_LOCAL_KUBE") && !strcmp(getenv("AMBIT_LOCAL_KUBE"), "1"))
			u.kube = true;
		if (!ret && a->cni)
			ret = cluster_cni_parse(a->cni, "--cni", &u.cni);
		else if (!ret && env_cni && *env_cni)
			ret = cluster_cni_parse(env_cni, "AMBIT_LOCAL_CNI", &u.cni);
		if (!ret && a->family)
			ret = cluster_ip_family_parse(a->family, "--ip-family", &u.family);
		else if (!ret && env_fam && *env_fam)
			ret = cluster_ip_family_parse(env_fam, "AMBIT_LOCAL_IP_FAMILY", &u.family);
		u.prom_port = a->prometheus ? a->prom_port ?: CTL_PROM_PORT_DEFAULT : 0;
		return ret ? ret : local_up(&a->o, &u);
	}
	if (!strcmp(sub, "down"))
		return local_down(a->o.cluster, false);
	if (!strcmp(sub, "cadvisor")) /* hidden: started by local up --with-prometheus */
		return local_cadvisor(&a->o);
	if (!strcmp(sub, "exec")) {
		ret = need(a->npos == 1 && a->rest && a->rest[0],
			   "usage: ambitctl local exec [-n NS] POD -- CMD...");
		ret = ret ?: pod_in_ns(a);
		return ret ? ret : local_exec(&a->o, a->pos[0], a->rest);
	}
	if (!strcmp(sub, "logs")) {
		ret = need(a->npos == 1, "usage: ambitctl local logs [-n NS] "
					 "POD|nodeN-agent|nodeN-ztunnel|nodeN-kubelet");
		ret = ret ?: pod_in_ns(a);
		return ret ? ret : local_logs(&a->o, a->pos[0]);
	}
	if (!strcmp(sub, "stop") || !strcmp(sub, "start")) {
		ret = need(a->npos == 1, "usage: ambitctl local stop|start agent|ztunnel --node N");
		return ret ? ret : local_component(&a->o, !strcmp(sub, "start"), a->pos[0]);
	}
	if (!strcmp(sub, "upgrade")) {
		ret = need(a->npos == 1, "usage: ambitctl local upgrade ztunnel [--node N]");
		return ret ? ret : local_upgrade(&a->o, a->pos[0]);
	}
	if (!strcmp(sub, "reboot")) {
		ret =
		    need(a->npos == 1, "usage: ambitctl local reboot NODE [--agent-delay SECONDS]");
		return ret ? ret : local_reboot(&a->o, a->pos[0], a->agent_delay);
	}
	if (!strcmp(sub, "crash")) {
		ret = need(a->npos == 2,
			   "usage: ambitctl local crash NODE agent|ztunnel [--times N]");
		return ret ? ret
			   : local_crash(&a->o, a->pos[0], a->pos[1], a->times ? a->times : 1);
	}
	if (!strcmp(sub, "status"))
		return local_status(&a->o);
	if (!strcmp(sub, "kubeconfig"))
		return local_kubeconfig(&a->o);
	/* Not in the usage: `local up` starts one per node (kubelet.c). */
	if (!strcmp(sub, "kubelet"))
		return local_kubelet(&a->o);
	/* Not in the usage: `local up --kube` starts it (kimport.c). */
	if (!strcmp(sub, "kube-controller"))
		return local_kube_controller(&a->o, kube_status_sync);
	fprintf(stderr, "ambitctl: %s local command%s%s\n", *sub ? "unknown" : "missing",
		*sub ? " " : "", sub);
	usage(stderr);
	return -EINVAL;
}

/*
 * ambitctl install|uninstall: on Kubernetes; a local --kube cluster's kubeconfig too, whose
 * nodes' kubelets are this machine's (their components stop once the DaemonSet goes, and an
 * install there puts back what an uninstall took off: kube_ambit, local_mesh_up).
 */
static int cmd_install_any(int argc, char **argv, bool uninstall)
{
	static const char why[] =
	    "uninstalled by ambitctl uninstall (ambitctl install brings it back)";
	const char *kc = NULL;
	struct ctl_cluster c;
	bool dry = false;
	int ret;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc)
			kc = argv[i + 1];
		dry |= !strcmp(argv[i], "--dry-run");
	}
	if (dry || !kc || !cluster_by_kubeconfig(kc, &c))
		return cmd_install(argc, argv, uninstall);
	if (uninstall) {
		struct local_mesh_down m = {&c, why};

		return cmd_install_local(argc, argv, true, local_mesh_down_hook, &m);
	}
	/* As `local up` installed it (its cluster, network and ingress), then the user's --set. */
	char *extra[32];
	int n = 0;

	for (int i = 0; i < argc && n < 31; i++) {
		if (!strcmp(argv[i], "--kubeconfig"))
			i++;
		else
			extra[n++] = argv[i];
	}
	extra[n] = NULL;
	ret = kube_ambit(&c, NULL, false, extra, NULL);
	if (!ret && cluster_uninstalled(&c, NULL, 0))
		ret = local_mesh_up(&c);
	return ret;
}

/* Whether @opt is among argv[2..] before "--" (its value, when it takes one, into *val). */
static bool has_opt(int argc, char **argv, const char *opt, const char **val)
{
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++) {
		if (strcmp(argv[i], opt))
			continue;
		if (!val)
			return true;
		if (i + 1 < argc) {
			*val = argv[i + 1];
			return true;
		}
	}
	return false;
}

/*
 * The cluster a command addresses without --name or $AMBIT_CLUSTER: the one that is up (e.g.
 * "demo" while `make demo` runs), or "ambit" (what `local up` makes by default) when none is.
 * With several up a guess could act on the wrong one, so the user is asked to choose; only
 * `analyze -f` can do without one (it then resolves references within its files alone).
 * 0 with o->cluster set (NULL for that analyze), or -EINVAL told on stderr.
 */
static int pick_cluster(int argc, char **argv, struct ctl_opts *o)
{
	static char first[NAME_MAX + 1];
	const char *env = getenv("AMBIT_CLUSTER");
	const char *cmd = argv[1];
	char list[1024];
	int n;

	o->cluster = "ambit";
	/*
	 * `waypoint --name` names the waypoint, `create-remote-secret --name` the cluster in the
	 * mesh, as istioctl's do.
	 */
	if (has_opt(argc, argv, "--cluster", &o->cluster) ||
	    (strcmp(cmd, "waypoint") && strcmp(cmd, "create-remote-secret") &&
	     has_opt(argc, argv, "--name", &o->cluster)))
		return 0;
	if (env && *env) {
		o->cluster = env;
		return 0;
	}
	if (!strcmp(cmd, "local") && argc > 2 && !strcmp(argv[2], "up"))
		return 0;
	/* `waypoint config -f` and `waypoint generate` write from files and flags: no cluster. */
	if (!strcmp(cmd, "waypoint") && argc > 2 &&
	    (!strcmp(argv[2], "config") || !strcmp(argv[2], "generate"))) {
		o->cluster = NULL;
		return 0;
	}
	n = cluster_list_up(first, sizeof(first), list, sizeof(list));
	if (n == 1)
		o->cluster = first;
	if (n < 2)
		return 0;
	if (!strcmp(cmd, "analyze") && has_opt(argc, argv, "-f", NULL)) {
		fprintf(stderr,
			"ambitctl: %d clusters are up (%s): references are resolved within the "
			"files alone; --cluster C resolves them against cluster C\n",
			n, list);
		o->cluster = NULL;
		return 0;
	}
	fprintf(stderr,
		"ambitctl: %d clusters are up (%s): say which with --cluster C (or "
		"AMBIT_CLUSTER=C)\n",
		n, list);
	return -EINVAL;
}

static int run(int argc, char **argv)
{
	struct args a = {.nodes = 2};
	const char *cmd = argv[1];
	int ret;

	ret = pick_cluster(argc, argv, &a.o);
	if (ret)
		return ret;
	if (!strcmp(cmd, "local"))
		return run_local(argc, argv, &a);
	if (!strcmp(cmd, "apply") || !strcmp(cmd, "delete"))
		return cmd_apply(&a.o, argc - 2, argv + 2, !strcmp(cmd, "delete"));
	if (!strcmp(cmd, "analyze"))
		return cmd_analyze(&a.o, argc - 2, argv + 2);
	if (!strcmp(cmd, "create"))
		return cmd_create(&a.o, argc - 2, argv + 2);
	if (!strcmp(cmd, "get"))
		return cmd_get(&a.o, argc - 2, argv + 2);
	if (!strcmp(cmd, "waypoint"))
		return cmd_waypoint(&a.o, argc - 2, argv + 2);
	if (!strcmp(cmd, "dashboard"))
		return cmd_dashboard(&a.o, argc - 2, argv + 2);
	if (!strcmp(cmd, "create-remote-secret"))
		return cmd_create_remote_secret(&a.o, argc - 2, argv + 2);
	if (!strcmp(cmd, "remote-clusters")) {
		ret = parse(argc, argv, 2, false, &a);
		ret = ret ?: need(!a.ns, "unknown or incomplete option -n");
		if (!ret)
			ret = need(!a.npos, "remote-clusters takes no arguments");
		return ret ? ret : cmd_remote_clusters(&a.o);
	}
	if (!strcmp(cmd, "label")) {
		int timeout_s = 30;

		/*
		 * As apply: waits until the nodes have the labels in force, unless --wait=false.
		 * kubectl's --overwrite is taken (a value given replaces the one there either way).
		 */
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--wait=false") && strcmp(argv[i], "--overwrite"))
				continue;
			if (!strcmp(argv[i], "--wait=false"))
				timeout_s = 0;
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
		ret = parse(argc, argv, 2, false, &a);
		ret = ret ?: need(!a.ns, "unknown or incomplete option -n");
		if (!ret)
			ret = need(a.npos >= 3 && !strcmp(a.pos[0], "namespace"),
				   "usage: ambitctl label namespace NS key=value|key- ... "
				   "[--overwrite] [--wait=false]");
		return ret ? ret
			   : cmd_label_namespace(&a.o, a.pos[1], &a.pos[2], a.npos - 2, timeout_s);
	}
	if (!strcmp(cmd, "check")) {
		ret = parse(argc, argv, 2, false, &a);
		ret = ret ?: need(!a.ns, "unknown or incomplete option -n");
		if (!ret)
			ret = need(a.npos == 2,
				   "usage: ambitctl check SRC DST:PORT [--udp] [--method M] "
				   "[--path P] [--header K=V] [--jwt FILE]");
		ret = ret
			  ?: need(!a.l7.udp || (!a.l7.method && !a.l7.path && !a.l7.jwt_file &&
						!a.l7.n_headers),
				  "check --udp: a UDP flow has no HTTP request (--method, --path, "
				  "--header, --jwt)");
		return ret ? ret : cmd_check(&a.o, a.pos[0], a.pos[1], &a.l7);
	}
	static const struct {
		const char *name;
		int (*fn)(const struct ctl_opts *);
	} inspect[] = {
	    {"workloads", cmd_workloads},     {"services", cmd_services}, {"certs", cmd_certs},
	    {"connections", cmd_connections}, {"maps", cmd_maps},	  {"metrics", cmd_metrics},
	    {"policies", cmd_policies},
	};
	for (size_t i = 0; i < sizeof(inspect) / sizeof(inspect[0]); i++) {
		if (strcmp(cmd, inspect[i].name))
			continue;
		ret = parse(argc, argv, 2, false, &a);
		ret = ret ?: need(!a.ns, "unknown or incomplete option -n");
		if (!ret)
			ret = need(!a.npos, "inspection commands take no arguments");
		return ret ? ret : inspect[i].fn(&a.o);
	}
	fprintf(stderr, "ambitctl: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return -EINVAL;
}

int ambitctl_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("ambitctl %s\n", ambit_version());
		return 0;
	}
	if ((has_opt(argc, argv, "--help", NULL) || has_opt(argc, argv, "-h", NULL)) &&
	    usage_of(argv[1]))
		return 0;
	/* Kubernetes, not a local cluster: no cluster to pick. */
	if (!strcmp(argv[1], "install") || !strcmp(argv[1], "uninstall"))
		return cmd_install_any(argc - 2, argv + 2, !strcmp(argv[1], "uninstall")) ? 1 : 0;
	if (!strcmp(argv[1], "nodes"))
		return cmd_nodes(argc - 2, argv + 2) ? 1 : 0;
	return run(argc, argv) ? 1 : 0;
}
