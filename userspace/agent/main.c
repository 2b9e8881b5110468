// SPDX-License-Identifier: Apache-2.0
/*
 * ambit-agent: the node's control plane (DESIGN.md §1, §5). One thread around one epoll loop:
 * signalfd, inotify on the state and runtime directories (debounced), a certificate timer, a
 * periodic resync, and the agent socket with its clients.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "ambit/clock.h"
#include "ambit/config.h"
#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "ambit/snapshot.h"
#include "ambit/version.h"
#include "agent.h"
#include "control/caserver.h"
#include "control/cniconf.h"
#include "jwks.h"
#include "k8s/kconn.h"
#include "k8s/klease.h"
#include "control/wpcontroller.h"
#include "wpserve.h"
#include "podnet/netsetup.h"

#define DEBOUNCE_MS 100
/*
 * The API server's events come already settled (one per object change): the first change after
 * a reconcile is taken up at once, but for what arrives with it; what comes during a reconcile
 * waits for its end, so a flood is taken in batches, never one reconcile per event.
 */
#define KUBE_DEBOUNCE_MS 1
/* How long a WATCH request lasts before it is made again (client-go draws 5 to 10 minutes). */
#define KUBE_WATCH_S 300
/*
 * Memory is given back once no reconcile came for this long (on_trim): not sooner, or the next
 * burst of changes pays to fault it back in (a third more on the first reconciles at 10,000
 * pods); under RESYNC_S, whose reconciles would put it off for ever.
 */
#define TRIM_IDLE_MS 10000
#define TRIM_GROWTH_PODS 1000 /* and a quarter more pods than at the last trim: trim again */
/* Safety net: picks up what no inotify event announces (interfaces, cgroups, cluster.json). */
#define RESYNC_S 15
/* How often the remote clusters' files are looked at (remote.h): a change shows within it. */
#define REMOTE_POLL_S 1

#define STATE_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |   \
	 IN_ATTRIB)
#define RUNTIME_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE)

#define CNI_RETRY_MS 250

struct loop {
	struct agent agent;
	int epfd;
	/*
	 * ambit-cni's held requests are asked again after each reconcile and every
	 * CNI_RETRY_MS otherwise (their timeouts), not after every event of a busy loop.
	 */
	bool cni_retry_due;
	uint64_t cni_retry_ms;
	struct agent_source sig, ino, debounce, certs, resync, kube, trim, jwks, remote;
	char runtime_dir[PATH_MAX];
	int runtime_wd;
	bool stop;
	bool trimmed_sync;   /* the memory of the first full Kubernetes list was given back */
	size_t trimmed_pods; /* the pods in force then, or at the last list that grew them much */
	/* --kube: this node's Lease (klease.h), started at the first reconcile */
	struct klease *lease;
	bool lease_tried;
};

static struct loop *the_loop;

/*
 * --node-ip as the kubelet's: one address, or an IPv4 and an IPv6 one, comma-separated, for a
 * dual-stack node (the DaemonSet passes status.hostIPs so). A node of an IPv6-only cluster has
 * its IPv6 alone there (EKS's IPv6 mode, kubeadm's IPv6 single stack): the mesh between nodes
 * rides on the pods' addresses, so the node's own IPv4, when it has one, is only where IPv4
 * pods' traffic is captured to, and a node without it has no IPv4 pods.
 */
static int parse_node_ips(struct agent_opts *o)
{
	char buf[2 * INET6_ADDRSTRLEN + 2], *save = NULL;
	struct in_addr a4;
	struct in6_addr a6;
	bool have4 = false, have6 = false;

	if (snprintf(buf, sizeof(buf), "%s", o->node_ip_str) >= (int)sizeof(buf)) {
		fprintf(stderr, "ambit-agent: --node-ip %s: too long\n", o->node_ip_str);
		return -1;
	}
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!have4 && inet_pton(AF_INET, t, &a4) == 1 && a4.s_addr != INADDR_ANY) {
			o->node_ip = a4.s_addr;
			have4 = true;
		} else if (!have6 && inet_pton(AF_INET6, t, &a6) == 1 &&
			   !IN6_IS_ADDR_V4MAPPED(&a6) && !IN6_IS_ADDR_LINKLOCAL(&a6) &&
			   !IN6_IS_ADDR_UNSPECIFIED(&a6)) {
			o->node_ip6 = a6;
			have6 = true;
		} else {
			fprintf(stderr,
				"ambit-agent: --node-ip %s: \"%s\" is not one IPv4 or one global "
				"IPv6 address of the node\n",
				o->node_ip_str, t);
			return -1;
		}
	}
	if (!have4 && !have6) {
		fprintf(stderr, "ambit-agent: --node-ip %s: no address of the node\n",
			o->node_ip_str);
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: ambit-agent --node N --node-ip IP[,IPv6] --pin-root P --cgroup CG --socket S\n"
	    "                   (--ca-dir DIR | --ca-url https://HOST:PORT --ca-root PEM)\n"
	    "                   (--state DIR --runtime FILE | --kube | --kubeconfig F)\n"
	    "                   [--uplink IFNAME|auto] [--trust-domain cluster.local]\n"
	    "                   [--trust-domain-alias TD]... [--root-namespace istio-system]\n"
	    "                   [--cluster-id Kubernetes] [--network NETWORK]\n"
	    "                   [--kube-sa-dir DIR] [--pod-cgroup-root DIR] [--log-level info]\n"
	    "                   [--owner-daemonset NS/NAME: at exit, the node's state goes with "
	    "it]\n"
	    "                   [--uninstalled-file F: at exit, if F is there, the same]\n"
	    "                   [--capture-mode auto|host|inpod] [--kubelet-cgroup auto|none|CG]\n"
	    "                   [--conntrack-max N]\n"
	    "  --kube: the Kubernetes API in-cluster (KUBERNETES_SERVICE_HOST/PORT and the\n"
	    "          service-account directory, " KCONN_SA_DIR ")\n"
	    "  --kubeconfig F: the Kubernetes API as kubeconfig F's current context says\n"
	    "  --pod-cgroup-root: where pods' cgroups are searched (the cgroup2 mount)\n"
	    "  --capture-mode: host: tc on the pods' host-side veths (routed CNIs: Calico,\n"
	    "          Cilium, kindnet, AWS VPC); inpod: the ztunnel listens in each pod's netns\n"
	    "          and tc runs on the pod's eth0 (bridge CNIs: flannel, bridge); auto (the\n"
	    "          default): inpod when the pods' veths are ports of a bridge; its default\n"
	    "          comes from AMBIT_CAPTURE_MODE\n"
	    "  --kubelet-cgroup: the kubelet's cgroup v2 directory, whose probes of enrolled pods\n"
	    "          pass (the node's other plaintext to them is judged as any); auto (the\n"
	    "          default): the cgroup of the process named kubelet; none: no probe passes\n"
	    "  --conntrack-max: at most N entries (1024..16777216) in each of the kernel's\n"
	    "          connection-tracking maps, which it allocates whole (default: their "
	    "built-in\n"
	    "          sizes, 262144 and 65536 entries); `ambitctl local up` gives its nodes "
	    "32768\n"
	    "  --cluster-id, --network: the cluster and network this node is in (Istio's\n"
	    "          clusterName and network; defaults from ISTIO_META_CLUSTER_ID or\n"
	    "          CLUSTER_ID and from NETWORK, else Kubernetes and none); the root\n"
	    "          namespace's topology.istio.io/network label, when set, is the network\n"
	    "  --node-ip: the node's IPv4, and its IPv6 on a dual-stack node (as the kubelet's\n"
	    "          --node-ip): enrolled pods' IPv6 is then carried, else refused\n"
	    "  --uplink: the node's interface toward other nodes, whose inbound HBONE the tc\n"
	    "          program steers; auto: the one holding --node-ip\n"
	    "  --ca-dir: the embedded CA (its root key in DIR); --ca-url: the CA server, verified\n"
	    "          with the root in --ca-root, authenticated with <kube-sa-dir>/token\n"
	    "       ambit-agent --ca-server ... (ambit-agent --ca-server --help)\n"
	    "       ambit-agent --waypoint-controller ... (--waypoint-controller --help)\n"
	    "       ambit-agent --install-cni ... (--install-cni --help: ambit-cni on the node)\n");
}

static int arm(int tfd, long ms)
{
	struct itimerspec its = {
	    .it_value = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L},
	};

	return timerfd_settime(tfd, 0, &its, NULL) < 0 ? -errno : 0;
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

/* (Re)adds watches on every state subdirectory and the runtime dir; add_watch is idempotent. */
static void watch_dirs(struct loop *l)
{
	const struct confstore *cs = &l->agent.conf;

	for (size_t i = 0; i < cs->n_dirs; i++)
		if (inotify_add_watch(l->ino.fd, cs->dirs[i], STATE_MASK | IN_ONLYDIR) < 0)
			pr_debug("inotify watch %s: %s", cs->dirs[i], strerror(errno));
	if (cs->n_dirs == 0 &&
	    inotify_add_watch(l->ino.fd, l->agent.opts.state_dir, STATE_MASK | IN_ONLYDIR) < 0)
		pr_debug("inotify watch %s: %s", l->agent.opts.state_dir, strerror(errno));
	if (l->runtime_wd < 0) {
		l->runtime_wd =
		    inotify_add_watch(l->ino.fd, l->runtime_dir, RUNTIME_MASK | IN_ONLYDIR);
		if (l->runtime_wd < 0)
			pr_debug("inotify watch %s: %s (retried at resync)", l->runtime_dir,
				 strerror(errno));
	}
}

/*
 * --kube: the node's Lease says the capture mode in force (for `ambitctl nodes`), started at the
 * first reconcile (an explicit mode is known by then) and told when auto decides.
 */
static void lease_update(struct loop *l)
{
	struct agent *a = &l->agent;
	const char *mode = a->capture == CAPTURE_AUTO ? NULL : capture_mode_name(a->capture);
	struct kconn conn = {0};
	char why[512];

	if (!a->opts.kube || l->lease || l->lease_tried) {
		klease_set_mode(l->lease, mode);
		return;
	}
	l->lease_tried = true;
	if (agent_kconn(&a->opts, &conn, why, sizeof(why)))
		pr_warn("kubernetes: no node Lease: %s", why);
	else if (!(l->lease = klease_start(&conn, a->opts.node, ambit_version(), mode)))
		pr_warn("kubernetes: no node Lease: %s", strerror(errno));
	kconn_free(&conn);
}

static void reconcile(struct loop *l)
{
	time_t deadline, now;

	agent_reconcile(&l->agent);
	/* A gateway pod came (or went): its certificates now, then a reconcile with them. */
	if (agent_credentials_due(&l->agent)) {
		bool changed = false;

		agent_credentials_refresh(&l->agent, &changed);
		if (changed) {
			l->agent.reconcile_due = true;
			arm(l->debounce.fd, 1);
		}
	}
	l->cni_retry_due = true;
	lease_update(l);
	arm(l->trim.fd, TRIM_IDLE_MS);
	/*
	 * The first list's copies (tens of MB at 10,000 pods) are not needed again: given back
	 * once its state is in force, not after the first quiet spell (a busy cluster has none).
	 * So again when the pods grew by a quarter at once (the workload directory's shards come
	 * after the first list when the agent started before the CA service wrote them).
	 */
	if (l->agent.kube && l->agent.have_cur &&
	    (!l->trimmed_sync ||
	     l->agent.rt.n_pods >= l->trimmed_pods + l->trimmed_pods / 4 + TRIM_GROWTH_PODS)) {
		malloc_trim(0);
		l->trimmed_sync = true;
		l->trimmed_pods = l->agent.rt.n_pods;
	}
	/* In-pod pods not set up yet (no process in the cgroup yet): again in a second. */
	if (l->agent.inpod_open && l->agent.inpod.pending)
		arm(l->debounce.fd, 1000);
	if (!l->agent.kube)
		watch_dirs(l);
	deadline = agent_next_cert_deadline(&l->agent);
	if (deadline) {
		now = time(NULL);
		arm(l->certs.fd, deadline > now ? (long)(deadline - now) * 1000 : 1);
	}
}

static void on_signal(struct agent_source *src, uint32_t events)
{
	struct loop *l = the_loop;
	struct signalfd_siginfo si;

	while (read(src->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			pr_info("SIGHUP: reloading");
			reconcile(l);
			continue;
		}
		pr_info("signal %u: exiting; the data path stays in force", si.ssi_signo);
		l->stop = true;
	}
}

static void on_inotify(struct agent_source *src, uint32_t events)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct loop *l = the_loop;
	bool relevant = false;
	ssize_t n;

	while ((n = read(src->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & IN_IGNORED && ev->wd == l->runtime_wd)
				l->runtime_wd = -1;
			/* Dot-files are temporaries of atomic writers; their rename is what counts.
			 */
			if (!(ev->mask & IN_IGNORED) && !(ev->len && ev->name[0] == '.'))
				relevant = true;
			if (ev->mask & IN_Q_OVERFLOW)
				relevant = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (relevant)
		arm(l->debounce.fd, DEBOUNCE_MS);
}

/* In-pod: a ztunnel listens in a pod's netns now; the pod's traffic goes there at once. */
static void inpod_kick(void *arg)
{
	struct loop *l = arg;

	(void)arm(l->debounce.fd, 1);
}

static void on_debounce(struct agent_source *src, uint32_t events)
{
	drain(src->fd);
	pr_debug("change detected: reconciling");
	reconcile(the_loop);
}

static void on_certs(struct agent_source *src, uint32_t events)
{
	struct loop *l = the_loop;
	time_t deadline, now;

	drain(src->fd);
	agent_renew_certs(&l->agent);
	deadline = agent_next_cert_deadline(&l->agent);
	if (deadline) {
		now = time(NULL);
		arm(src->fd, deadline > now ? (long)(deadline - now) * 1000 : 1000);
	}
}

/* A jwksUri's key set arrived or changed: the waypoints it is for get it. */
static void on_jwks(struct agent_source *src, uint32_t events)
{
	if (jwks_fetcher_collect(the_loop->agent.jwks))
		reconcile(the_loop);
}

/* Quiet since the last reconcile: what its desired state and encodings held goes back. */
static void on_trim(struct agent_source *src, uint32_t events)
{
	drain(src->fd);
	malloc_trim(0);
}

static void on_resync(struct agent_source *src, uint32_t events)
{
	bool changed = false;

	drain(src->fd);
	agent_credentials_refresh(&the_loop->agent, &changed);
	agent_reread_maps(&the_loop->agent);
	reconcile(the_loop);
}

/* Remote clusters' files that moved (remote.h): a reconcile reads them. */
static void on_remote(struct agent_source *src, uint32_t events)
{
	drain(src->fd);
	if (remote_due(&the_loop->agent.remote))
		agent_remote_refresh(&the_loop->agent);
}

static int add_source(struct loop *l, struct agent_source *src, int fd,
		      void (*handle)(struct agent_source *, uint32_t))
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};

	src->fd = fd;
	src->handle = handle;
	if (fd < 0)
		return -errno;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static void on_kube(struct agent_source *src, uint32_t events)
{
	struct loop *l = the_loop;
	bool changed = false, pending;
	/* Before the take: every change up to it is in the queue the take empties. */
	uint64_t rv = ksource_resource_version(l->agent.kube, &pending);

	ksource_take(l->agent.kube, &l->agent.conf, &changed);
	if (changed) {
		l->agent.generation_seen = rv;
		/* Armed once: later changes must not push a reconcile already due further away. */
		if (!l->agent.reconcile_due)
			arm(l->debounce.fd, KUBE_DEBOUNCE_MS);
		l->agent.reconcile_due = true;
	}
}

/* The Kubernetes source: where the API server is, then a watch of every kind. */
static int start_kube(struct loop *l)
{
	struct agent_opts *o = &l->agent.opts;
	struct kconn conn = {0};
	char why[512], cg2[PATH_MAX];
	const char *cg_root = o->pod_cgroup_root;
	int err;

	err = agent_kconn(o, &conn, why, sizeof(why));
	if (err) {
		pr_err("kubernetes: %s", why);
		kconn_free(&conn);
		return err;
	}
	if (!cg_root) {
		err = cgroup2_mount(cg2, sizeof(cg2));
		if (err) {
			pr_err("kubernetes: no cgroup2 mount to find pods in: %s", strerror(-err));
			kconn_free(&conn);
			return err;
		}
		cg_root = cg2;
	}
	l->agent.kube = ksource_start(&conn, o->node, cg_root, KUBE_WATCH_S);
	err = l->agent.kube ? 0 : -errno;
	if (!err)
		ksource_set_ip_hint(l->agent.kube, agent_cni_ip_hint, &l->agent);
	if (err)
		pr_err("kubernetes: cannot start watching %s: %s", conn.server, strerror(-err));
	else
		pr_info("kubernetes: watching %s (%s); pods' cgroups under %s", conn.server,
			conn.source, cg_root);
	kconn_free(&conn);
	return err ? err : add_source(l, &l->kube, ksource_fd(l->agent.kube), on_kube);
}

/* $@name when set and not empty, else @dflt. */
static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

/* "N" (1024..16777216) into *@out: 0, or -EINVAL. */
static int conntrack_max_parse(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < 1024 || v > 16777216)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct agent_opts *o, enum log_level *lvl)
{
	static const struct option longopts[] = {
	    {"node", required_argument, NULL, 'n'},
	    {"node-ip", required_argument, NULL, 'i'},
	    {"state", required_argument, NULL, 's'},
	    {"runtime", required_argument, NULL, 'r'},
	    {"ca-dir", required_argument, NULL, 'c'},
	    {"pin-root", required_argument, NULL, 'p'},
	    {"cgroup", required_argument, NULL, 'g'},
	    {"socket", required_argument, NULL, 'S'},
	    {"uplink", required_argument, NULL, 'u'},
	    {"trust-domain", required_argument, NULL, 't'},
	    {"trust-domain-alias", required_argument, NULL, 'T'},
	    {"root-namespace", required_argument, NULL, 'R'},
	    {"cluster-id", required_argument, NULL, 'I'},
	    {"network", required_argument, NULL, 'N'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"kube", no_argument, NULL, 'K'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"kube-sa-dir", required_argument, NULL, 'A'},
	    {"pod-cgroup-root", required_argument, NULL, 'P'},
	    {"ca-url", required_argument, NULL, 'C'},
	    {"ca-root", required_argument, NULL, 'O'},
	    {"owner-daemonset", required_argument, NULL, 'D'},
	    {"uninstalled-file", required_argument, NULL, 'U'},
	    {"capture-mode", required_argument, NULL, 'M'},
	    {"kubelet-cgroup", required_argument, NULL, 'B'},
	    {"conntrack-max", required_argument, NULL, 'X'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	char tmp[PATH_MAX];
	int c;

	o->trust_domain = "cluster.local";
	o->root_namespace = POLICY_ROOT_NAMESPACE_DEFAULT;
	/* As Istio's ztunnel chart sets them (ISTIO_META_CLUSTER_ID), or istiod's CLUSTER_ID. */
	o->cluster_id = env_or("ISTIO_META_CLUSTER_ID", env_or("CLUSTER_ID", SNAP_CLUSTER_ID));
	o->network = env_or("NETWORK", NULL);
	/* The flag's default, for a DaemonSet's env or a local cluster's agents. */
	if (getenv("AMBIT_CAPTURE_MODE") &&
	    capture_mode_parse(getenv("AMBIT_CAPTURE_MODE"), &o->capture_mode)) {
		fprintf(stderr,
			"ambit-agent: AMBIT_CAPTURE_MODE: \"%s\" is not host, inpod or auto\n",
			getenv("AMBIT_CAPTURE_MODE"));
		return -EINVAL;
	}
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->node = optarg; break;
		case 'i': o->node_ip_str = optarg; break;
		case 's': o->state_dir = optarg; break;
		case 'r': o->runtime_path = optarg; break;
		case 'c': o->ca_dir = optarg; break;
		case 'p': o->pin_root = optarg; break;
		case 'g': o->cgroup = optarg; break;
		case 'S': o->socket = optarg; break;
		case 'u': o->uplink = optarg; break;
		case 't': o->trust_domain = optarg; break;
		case 'T':
			if (o->n_trust_domain_aliases == 16) {
				fprintf(stderr, "ambit-agent: at most 16 --trust-domain-alias\n");
				return -EINVAL;
			}
			o->trust_domain_aliases[o->n_trust_domain_aliases++] = optarg;
			break;
		case 'R': o->root_namespace = optarg; break;
		case 'I': o->cluster_id = optarg; break;
		case 'N': o->network = *optarg ? optarg : NULL; break;
		case 'K': o->kube = true; break;
		case 'k':
			o->kube = true;
			o->kubeconfig = optarg;
			break;
		case 'A': o->kube_sa_dir = optarg; break;
		case 'P': o->pod_cgroup_root = optarg; break;
		case 'C': o->ca_url = optarg; break;
		case 'O': o->ca_root = optarg; break;
		case 'M':
			if (capture_mode_parse(optarg, &o->capture_mode)) {
				fprintf(stderr,
					"ambit-agent: --capture-mode: \"%s\" is not host, inpod or "
					"auto\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'D': o->owner_daemonset = optarg; break;
		case 'U': o->uninstalled_file = optarg; break;
		case 'B': o->kubelet_cgroup = optarg; break;
		case 'X':
			if (conntrack_max_parse(optarg, &o->conntrack_max)) {
				fprintf(stderr,
					"ambit-agent: --conntrack-max: \"%s\" is not a number of "
					"entries "
					"from 1024 to 16777216\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'V': printf("ambit-agent %s\n", ambit_version()); exit(0);
		case 'l':
			if (log_level_parse(optarg, lvl)) {
				fprintf(stderr,
					"ambit-agent: --log-level: want error|warn|info|debug\n");
				return -EINVAL;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind != argc || !o->node || !o->node_ip_str ||
	    (!o->kube && (!o->state_dir || !o->runtime_path)) ||
	    (o->kube && (o->state_dir || o->runtime_path)) || !o->pin_root || !o->cgroup ||
	    !o->socket || !!o->ca_dir == !!o->ca_url || !!o->ca_url != !!o->ca_root ||
	    (o->owner_daemonset && (!o->kube || !strchr(o->owner_daemonset, '/')))) {
		fprintf(stderr, "ambit-agent: missing or extra arguments\n");
		usage(stderr);
		return -EINVAL;
	}
	if (parse_node_ips(o))
		return -EINVAL;
	if (!config_label_value_ok(o->cluster_id) || !*o->cluster_id ||
	    (o->network && !config_label_value_ok(o->network))) {
		fprintf(stderr,
			"ambit-agent: --cluster-id \"%s\" / --network \"%s\": want a label "
			"value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)\n",
			o->cluster_id, o->network ? o->network : "");
		return -EINVAL;
	}
	if (!o->kube_sa_dir)
		o->kube_sa_dir = KCONN_SA_DIR;
	snprintf(tmp, sizeof(tmp), "%s", o->socket);
	snprintf(o->cache_dir, sizeof(o->cache_dir), "%s/lastgood", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", o->socket);
	snprintf(o->version_path, sizeof(o->version_path), "%s/snapshot.version", dirname(tmp));
	if (o->kube)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s", o->runtime_path);
	snprintf(o->cluster_path, sizeof(o->cluster_path), "%s/cluster.json",
		 dirname(dirname(tmp)));
	snprintf(o->generation_path, sizeof(o->generation_path), "%s/generation", o->state_dir);
	return 0;
}

/*
 * One agent per node at a time: a DaemonSet rolling update with maxSurge starts the new pod's
 * agent while the old pod's runs (both see the host's /run/ambit), and two agents must never
 * write the node's programs and maps at once. The lock (<socket>.lock) is held for the
 * process's life; the new agent waits for it, and meanwhile the old one serves the new ztunnel.
 * The fd stays open (and locked) until exit. 0 or -errno.
 */
static int lock_node(const char *socket)
{
	char path[PATH_MAX];
	int fd, waited = 0;

	if (snprintf(path, sizeof(path), "%s.lock", socket) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		pr_err("lock %s: %s", path, strerror(errno));
		return -errno;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			pr_err("lock %s: %s", path, strerror(errno));
			close(fd);
			return -errno;
		}
		if (!waited++)
			pr_info("another agent holds %s (an upgrade's old pod): waiting for it to "
				"exit",
				path);
		sleep(1);
	}
	if (waited)
		pr_info("the other agent is gone after %d s: starting", waited);
	return 0;
}

static int startup(struct loop *l)
{
	struct agent *a = &l->agent;
	struct datapath_opts dpo = {
	    .pin_root = a->opts.pin_root,
	    .cgroup_path = a->opts.cgroup,
	    .ztunnel_ip = a->opts.node_ip,
	    .ztunnel_ip6 = a->opts.node_ip6,
	    .conntrack_max = a->opts.conntrack_max,
	};
	struct itimerspec every = {
	    .it_interval = {.tv_sec = RESYNC_S},
	    .it_value = {.tv_sec = RESYNC_S},
	};
	struct itimerspec remote_every = {
	    .it_interval = {.tv_sec = REMOTE_POLL_S},
	    .it_value = {.tv_sec = REMOTE_POLL_S},
	};
	static struct server_ops ops;
	char tmp[PATH_MAX];
	sigset_t mask;
	int err;

	err = lock_node(a->opts.socket);
	if (err)
		return err;
	err = bpffs_ensure_mounted();
	if (err)
		pr_warn("bpffs: %s", strerror(-err));
	/* The pin root and its parents (a DaemonSet's /sys/fs/bpf/ambit/node starts absent). */
	snprintf(tmp, sizeof(tmp), "%s", a->opts.pin_root);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(tmp, 0700);
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		pr_warn("pin root %s: %s", tmp, strerror(errno));
	a->dp = datapath_open(&dpo);
	if (!a->dp) {
		err = -errno;
		pr_err("datapath under %s (cgroup %s): %s", dpo.pin_root, dpo.cgroup_path,
		       strerror(-err));
		return err;
	}
	pr_info("datapath open: pins %s, cgroup %s", dpo.pin_root, dpo.cgroup_path);
	err = netsetup_policy_routing();
	if (err)
		return err;
	/* auto: the interface holding --node-ip (a DaemonSet knows status.hostIP, not the NIC). */
	if (a->opts.uplink && !strcmp(a->opts.uplink, "auto")) {
		if (netsetup_iface_of(a->opts.node_ip, &a->opts.node_ip6, a->uplink_auto)) {
			pr_err("--uplink auto: no interface holds the node IP %s",
			       a->opts.node_ip_str ? a->opts.node_ip_str : "(no --node-ip)");
			return -ENODEV;
		}
		a->opts.uplink = a->uplink_auto;
	}
	if (a->opts.uplink) {
		a->uplink_ifindex = (int)if_nametoindex(a->opts.uplink);
		if (!a->uplink_ifindex) {
			pr_err("uplink %s: no such interface in this netns", a->opts.uplink);
			return -ENODEV;
		}
		err = datapath_attach_tc(a->dp, a->uplink_ifindex);
		if (err) {
			pr_err("tc attach on uplink %s: %s", a->opts.uplink, strerror(-err));
			return err;
		}
		pr_info("tc attached on uplink %s (ifindex %d)", a->opts.uplink, a->uplink_ifindex);
	}
	if (a->opts.ca_url) {
		size_t len;

		err = fileutil_read_file(a->opts.ca_root, 1 << 20, &a->root_pem, &len);
		if (err) {
			pr_err("--ca-root %s: %s", a->opts.ca_root, strerror(-err));
			return err;
		}
		pr_info("certificates from the CA server %s", a->opts.ca_url);
	} else if (!(a->ca = ca_open(a->opts.ca_dir))) {
		err = -errno;
		pr_err("CA in %s: %s", a->opts.ca_dir, strerror(-err));
		return err;
	}

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	err = add_source(l, &l->sig, signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC), on_signal);
	if (!err)
		err = add_source(l, &l->ino, inotify_init1(IN_NONBLOCK | IN_CLOEXEC), on_inotify);
	if (!err)
		err = add_source(l, &l->debounce,
				 timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
				 on_debounce);
	if (!err)
		err = add_source(l, &l->certs,
				 timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC),
				 on_certs);
	if (!err)
		err = add_source(l, &l->resync,
				 timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
				 on_resync);
	if (!err)
		err = add_source(l, &l->trim,
				 timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
				 on_trim);
	if (!err)
		err = add_source(l, &l->remote,
				 timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
				 on_remote);
	if (!err && !(a->jwks = jwks_fetcher_new()))
		err = -errno;
	if (!err)
		err = add_source(l, &l->jwks, jwks_fetcher_fd(a->jwks), on_jwks);
	if (err) {
		pr_err("event loop setup: %s", strerror(-err));
		return err;
	}
	if (timerfd_settime(l->resync.fd, 0, &every, NULL) < 0)
		return -errno;
	if (timerfd_settime(l->remote.fd, 0, &remote_every, NULL) < 0)
		return -errno;
	if (a->opts.kube && (err = start_kube(l)))
		return err;
	snprintf(tmp, sizeof(tmp), "%s", a->opts.runtime_path ? a->opts.runtime_path : "");
	snprintf(l->runtime_dir, sizeof(l->runtime_dir), "%s", dirname(tmp));
	l->runtime_wd = -1;
	a->conf.cache_dir = a->opts.cache_dir;

	agent_restore_version(a);
	a->epfd = l->epfd;
	a->capture = a->opts.capture_mode;
	snprintf(tmp, sizeof(tmp), "%s", a->opts.socket);
	err = inpod_open(&a->inpod, l->epfd, dirname(tmp), a->dp);
	if (err) {
		pr_err("in-pod socket beside %s: %s", a->opts.socket, strerror(-err));
		return err;
	}
	a->inpod_open = true;
	a->inpod.kick = inpod_kick;
	a->inpod.kick_arg = l;
	a->inpod.netns_hint = agent_cni_netns;
	a->inpod.netns_hint_ctx = a;
	/* First reconcile before listening, so the first watcher gets a full snapshot at once. */
	reconcile(l);
	ops.get = agent_get;
	ops.cni = agent_cni;
	ops.ctx = a;
	a->srv = server_create(a->opts.socket, l->epfd, &ops);
	if (!a->srv) {
		err = -errno;
		pr_err("agent socket %s: %s", a->opts.socket, strerror(-err));
		return err;
	}
	if (a->snap_json)
		server_publish_borrowed(a->srv, a->snap_json, strlen(a->snap_json));
	pr_info("serving %s (node %s, %s, trust domain %s)", a->opts.socket, a->opts.node,
		a->opts.node_ip_str, a->opts.trust_domain);
	return 0;
}

static void close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	static struct loop l = {
	    .epfd = -1,
	    .sig = {.fd = -1},
	    .ino = {.fd = -1},
	    .debounce = {.fd = -1},
	    .certs = {.fd = -1},
	    .resync = {.fd = -1},
	    .kube = {.fd = -1},
	    .trim = {.fd = -1},
	    .jwks = {.fd = -1},
	    .remote = {.fd = -1},
	};
	enum log_level lvl = LOG_LEVEL_INFO;
	int err;

	/*
	 * One malloc arena per Kubernetes watch thread would keep each one's freed LIST pages
	 * resident: the threads only parse and hand over, so two arenas serve them all.
	 */
	mallopt(M_ARENA_MAX, 2);
	/*
	 * A reconcile frees the last one's many small blocks and then asks for large ones: with
	 * fastbins, that large request stops to consolidate them all (a tenth of a reconcile at
	 * 10,000 pods). Freed blocks go to the thread cache or are merged as they are freed.
	 */
	mallopt(M_MXFAST, 0);
	if (argc > 1 && !strcmp(argv[1], "--ca-server"))
		return caserver_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "--waypoint-controller"))
		return wpcontroller_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "--install-cni"))
		return cniinstall_main(argc - 1, argv + 1);
	if (parse_args(argc, argv, &l.agent.opts, &lvl))
		return 2;
	log_init("ambit-agent", lvl);
	log_libbpf_setup();
	the_loop = &l;
	err = startup(&l);
	while (!err && !l.stop) {
		struct epoll_event evs[32];
		/* A held "cni" request times out even when nothing else happens. */
		int n = epoll_wait(l.epfd, evs, 32, server_held(l.agent.srv) ? CNI_RETRY_MS : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pr_err("epoll_wait: %s", strerror(errno));
			err = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct agent_source *src = evs[i].data.ptr;

			src->handle(src, evs[i].events);
		}
		if (server_held(l.agent.srv) &&
		    (l.cni_retry_due || clock_mono_ms() - l.cni_retry_ms >= CNI_RETRY_MS)) {
			server_retry(l.agent.srv);
			l.cni_retry_due = false;
			l.cni_retry_ms = clock_mono_ms();
		}
		server_reap(l.agent.srv);
		wpserve_reap(&l.agent);
	}
	klease_stop(l.lease); /* the Lease stays: it goes stale, as this node's agent is gone */
	if (l.agent.srv)
		unlink(l.agent.opts.socket);
	if (!err && (l.agent.opts.owner_daemonset || l.agent.opts.uninstalled_file))
		agent_uninstall_if_gone(&l.agent);
	agent_cleanup(&l.agent);
	jwks_fetcher_free(l.agent.jwks); /* closes l.jwks.fd */
	close_fd(l.sig.fd);
	close_fd(l.ino.fd);
	close_fd(l.debounce.fd);
	close_fd(l.certs.fd);
	close_fd(l.resync.fd);
	close_fd(l.trim.fd);
	close_fd(l.remote.fd);
	close_fd(l.epfd);
	if (err)
		pr_err("exiting: %s", strerror(-err));
	return err ? 1 : 0;
}
