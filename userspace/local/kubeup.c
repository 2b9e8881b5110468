// SPDX-License-Identifier: Apache-2.0
/*
 * The control plane of a `local up --kube` cluster: an API server (tests/k8s/fake_apiserver.py,
 * the real protocol over TLS) in the fabric netns at 10.99.0.1:6443 (an IPv6 cluster's at
 * [fd00:99::1]:6443: its nodes have no IPv4, cluster_fabric_host), credentials as a cluster
 * hands them out, and ambit installed into it by `ambitctl install` itself. After this the
 * nodes' kubelets run the DaemonSet and the CA Deployment from the API server (kpod.c), and the
 * agents find everything there: the same path as on a real cluster.
 *
 * The same server answers the host's kubectl on the host's loopback, 127.0.0.1:6443 (another
 * free port when that one is taken: each cluster its own): the socket is bound here, in the
 * host's netns, and handed down (--listen-fd). The user's kubeconfig names that address, so its
 * token never goes further than this machine (10.99.0.1 from the host is no address of the
 * host's: a packet to it would leave by the default route).
 *
 * And other clusters' node agents on the fabric's own address on the LoadBalancer network,
 * https://172.30.K.1:6443 ([fd00:30::K:1]:6443 in an IPv6 cluster; lbnet.c), the server a
 * remote secret of this cluster names (create-remote-secret, with a token of Istio's reader
 * service account): each cluster's 10.99.0.1 is its own, the LoadBalancer network is what
 * clusters share, as a kind cluster's API server is reached on its docker network. Bound in
 * the fabric netns and handed down the same way: `local up` reserves K before anything is made
 * and lbnet_attach gives lb0 the address before kube_up, so the socket and the certificate's
 * name are there from the start.
 *
 * <run>/kube/ holds:
 *   pki/            the API server's own CA (not the mesh root: install makes that one)
 *   apiserver.crt/.key, ca.crt  (its names: kube_credentials)
 *   tokens.json     the token table: the admin's (ambitctl; system:masters), each kubelet's
 *                   (system:node:<node>), and one service-account token per pod (the node
 *                   agents' bound to their node, as projected tokens are). The API server
 *                   authorizes each with RBAC (tests/k8s/fake_rbac.py).
 *   kubeconfig      the admin's, for the user's kubectl and ambitctl: https://127.0.0.1:PORT
 *   fabric.kubeconfig  the same credentials at https://10.99.0.1:6443 (an IPv6 cluster's
 *                   https://[fd00:99::1]:6443), for ambitctl's own calls from inside the fabric
 *                   netns (cluster_kube_enter)
 *   sa/<node>_<ns>_<sa>/  token, ca.crt, namespace: the projected volume of that pod
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ambit/ca.h"
#include "tls/crypto.h"
#include "local.h"
#include "k8s/kubeapi.h"
#include "k8s/kconn.h"
#include "install/install.h"

#define KUBE_API_WAIT_S 20

/* 32 random bytes as hex: a bearer token. */
static int new_token(char out[65])
{
	unsigned char b[32];

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		return -EIO;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

static int write_private(const char *path, const char *text)
{
	int ret = write_file_atomic(path, text);

	return ret ?: (chmod(path, 0600) < 0 ? -errno : 0);
}

/* A token for service account @ns/@sa of a pod on @n: its table entry and its projected dir. */
static int sa_token(const struct ctl_cluster *c, const struct ctl_node *n, const char *ns,
		    const char *sa, const char *ca_pem, cJSON *table)
{
	char tok[65], dir[PATH_MAX], path[PATH_MAX + 16], user[300], grp[300];
	cJSON *u, *extra, *groups;
	int ret = new_token(tok);

	if (ret)
		return ret;
	str_fmt(user, sizeof(user), "system:serviceaccount:%s:%s", ns, sa);
	str_fmt(grp, sizeof(grp), "system:serviceaccounts:%s", ns);
	u = cJSON_AddObjectToObject(table, tok);
	if (!u || !cJSON_AddStringToObject(u, "username", user) ||
	    !(groups = cJSON_AddArrayToObject(u, "groups")) ||
	    !cJSON_AddItemToArray(groups, cJSON_CreateString("system:serviceaccounts")) ||
	    !cJSON_AddItemToArray(groups, cJSON_CreateString(grp)) ||
	    !cJSON_AddItemToArray(groups, cJSON_CreateString("system:authenticated")) ||
	    !(extra = cJSON_AddObjectToObject(u, "extra")) ||
	    !cJSON_AddItemToObject(extra, "authentication.kubernetes.io/node-name",
				   cJSON_CreateStringArray((const char *[]){n->name}, 1)))
		return -ENOMEM;
	cluster_path(c, dir, sizeof(dir), "kube/sa/%s_%s_%s", n->name, ns, sa);
	ret = mkdir_p(dir, 0755);
	/* 0644 as a projected volume's files without fsGroup: the CA runs as a non-root user. */
	str_fmt(path, sizeof(path), "%s/token", dir);
	ret = ret ?: write_file_atomic(path, tok);
	str_fmt(path, sizeof(path), "%s/ca.crt", dir);
	ret = ret ?: write_file_atomic(path, ca_pem);
	str_fmt(path, sizeof(path), "%s/namespace", dir);
	return ret ?: write_file_atomic(path, ns);
}

/*
 * A kubeconfig at @file (under <run>/) for the admin's token @tok and server @host:@port (a
 * URL's host: an IPv6 address bracketed). Its cluster and context are the cluster's name, its
 * user <name>-admin: two clusters' files merge into one (KUBECONFIG=a:b, a context each, as
 * Istio's multicluster pages use them) with no name shared, as kind names its entries.
 */
static int write_kubeconfig(const struct ctl_cluster *c, const char *file, const char *host,
			    int port, const char *ca_pem, const char *tok)
{
	char path[PATH_MAX], *b64 = crypto_base64_encode(ca_pem, strlen(ca_pem)), *text = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (!b64 || !(f = open_memstream(&text, &len))) {
		free(b64);
		return -ENOMEM;
	}
	fprintf(f,
		"apiVersion: v1\nkind: Config\nclusters:\n- name: %s\n  cluster:\n"
		"    server: https://%s:%d\n    certificate-authority-data: %s\n"
		"users:\n- name: %s-admin\n  user:\n    token: %s\ncontexts:\n- name: %s\n"
		"  context:\n    cluster: %s\n    user: %s-admin\ncurrent-context: %s\n",
		c->name, host, port, b64, c->name, tok, c->name, c->name, c->name, c->name);
	free(b64);
	if (fclose(f)) {
		free(text);
		return -ENOMEM;
	}
	cluster_path(c, path, sizeof(path), "%s", file);
	ret = write_private(path, text);
	free(text);
	return ret;
}

/*
 * ambit-cni's kubeconfig on node @n (cni.c names it in the conflist): the token of the node's
 * DaemonSet pod and the API server's address in the fabric, as install-cni writes one on a
 * node from its pod's service account.
 */
static int plugin_kubeconfig(const struct ctl_cluster *c, const struct ctl_node *n,
			     const char *ca_pem)
{
	char path[PATH_MAX], file[PATH_MAX], *tok;
	int ret;

	cluster_path(c, path, sizeof(path), "kube/sa/%s_%s_ambit-node/token", n->name, CTL_KUBE_NS);
	tok = read_file(path, NULL);
	if (!tok)
		return -errno;
	str_fmt(file, sizeof(file), "%s/" CTL_CNI_KUBECONFIG, n->name);
	ret = write_kubeconfig(c, file, cluster_fabric_host(c), CTL_KUBE_API_PORT, ca_pem, tok);
	free(tok);
	return ret;
}

/*
 * Node @n's kubelet's credentials: user system:node:<node> in group system:nodes, as a kubelet's
 * client certificate names it, and in system:masters too: this kubelet also plays the DaemonSet
 * and Deployment controllers (it reads their pod templates), which the Node authorizer would not
 * let a kubelet do, and the fake API server does not model that authorizer. Its kubeconfig
 * (<node>/kubelet.kubeconfig) names the server in the fabric, where the kubelet runs.
 */
static int kubelet_credentials(const struct ctl_cluster *c, const struct ctl_node *n,
			       const char *ca_pem, cJSON *table)
{
	const char *groups[] = {"system:nodes", "system:masters"};
	char tok[65], user[CTL_NAME_MAX + 16], file[CTL_NAME_MAX + 32];
	cJSON *u;
	int ret = new_token(tok);

	if (ret)
		return ret;
	str_fmt(user, sizeof(user), "system:node:%s", n->name);
	u = cJSON_AddObjectToObject(table, tok);
	if (!u || !cJSON_AddStringToObject(u, "username", user) ||
	    !cJSON_AddItemToObject(u, "groups", cJSON_CreateStringArray(groups, 2)))
		return -ENOMEM;
	str_fmt(file, sizeof(file), "%s/" CTL_KUBELET_KUBECONFIG, n->name);
	return write_kubeconfig(c, file, cluster_fabric_host(c), CTL_KUBE_API_PORT, ca_pem, tok);
}

/*
 * Certificates, tokens and the kubeconfigs; the user's names the host's loopback at @host_port.
 * The server's certificate names every address and name a client uses: the fabric's and the
 * kubernetes.default names (pods, agents), 127.0.0.1 (the host's kubectl), and the fabric's
 * address on the LoadBalancer network when it has one (other clusters' agents).
 */
static int kube_credentials(const struct ctl_cluster *c, int host_port)
{
	const char *names[] = {
	    cluster_fabric_ip(c),
	    "127.0.0.1",
	    "kubernetes",
	    "kubernetes.default",
	    "kubernetes.default.svc",
	    "kubernetes.default.svc.cluster.local",
	    NULL, /* the LoadBalancer network's, when the cluster has a place there */
	};
	char dir[PATH_MAX], path[PATH_MAX], admin[65], lb[64];
	size_t nnames = sizeof(names) / sizeof(names[0]) - 1;
	struct ca_issued srv = {0};
	struct ambit_ca *ca;
	cJSON *doc = cJSON_CreateObject(), *table, *u, *groups;
	char *text = NULL;
	int ret;

	if (!cluster_lb_ip(c, false, lb, sizeof(lb)))
		names[nnames++] = lb;
	cluster_path(c, dir, sizeof(dir), "kube/pki");
	ret = mkdir_p(dir, 0700);
	ca = ret ? NULL : ca_open(dir);
	if (!ca || !doc) {
		cJSON_Delete(doc);
		return ret ?: -errno;
	}
	ret = ca_issue_names(ca, names, nnames, 365L * 24 * 3600, &srv);
	cluster_path(c, path, sizeof(path), "kube/apiserver.crt");
	ret = ret ?: write_file_atomic(path, srv.cert_pem);
	cluster_path(c, path, sizeof(path), "kube/apiserver.key");
	ret = ret ?: write_private(path, srv.key_pem);
	cluster_path(c, path, sizeof(path), "kube/ca.crt");
	ret = ret ?: write_file_atomic(path, ca_root_pem(ca));
	ret = ret ?: new_token(admin);
	ret = ret
		  ?: write_kubeconfig(c, "kube/kubeconfig", "127.0.0.1", host_port, ca_root_pem(ca),
				      admin);
	ret = ret
		  ?: write_kubeconfig(c, "kube/fabric.kubeconfig", cluster_fabric_host(c),
				      CTL_KUBE_API_PORT, ca_root_pem(ca), admin);
	if (!ret && (!cJSON_AddStringToObject(doc, "kind", "FakeTokenTable") ||
		     !(table = cJSON_AddObjectToObject(doc, "tokens")) ||
		     !(u = cJSON_AddObjectToObject(table, admin)) ||
		     !cJSON_AddStringToObject(u, "username", "kubernetes-admin") ||
		     !(groups = cJSON_AddArrayToObject(u, "groups")) ||
		     !cJSON_AddItemToArray(groups, cJSON_CreateString("system:masters"))))
		ret = -ENOMEM;
	for (int i = 0; !ret && i < c->nnodes; i++) {
		ret = sa_token(c, &c->nodes[i], CTL_KUBE_NS, "ambit-node", ca_root_pem(ca), table);
		ret = ret ?: plugin_kubeconfig(c, &c->nodes[i], ca_root_pem(ca));
		ret = ret ?: kubelet_credentials(c, &c->nodes[i], ca_root_pem(ca), table);
	}
	if (!ret)
		ret = sa_token(c, &c->nodes[0], CTL_KUBE_NS, "ambit-ca", ca_root_pem(ca), table);
	if (!ret && !(text = cJSON_Print(doc)))
		ret = -ENOMEM;
	cluster_path(c, path, sizeof(path), "kube/tokens.json");
	ret = ret ?: write_private(path, text);
	free(text);
	cJSON_Delete(doc);
	ca_issued_free(&srv);
	ca_destroy(ca);
	return ret;
}

/* The API server script: $AMBIT_FAKE_APISERVER, else installed beside ambitctl, else the tree's. */
static int apiserver_script(char *buf, size_t len)
{
	const char *env = getenv("AMBIT_FAKE_APISERVER");
	char dir[PATH_MAX];
	int ret;

	if (env && *env)
		return str_fmt(buf, len, "%s", env);
	ret = self_dir(dir, sizeof(dir));
	if (!ret && !str_fmt(buf, len, "%s/../share/ambit/fake_apiserver.py", dir) &&
	    access(buf, R_OK) == 0)
		return 0;
	ret = ret ?: str_fmt(buf, len, "%s/../tests/k8s/fake_apiserver.py", dir);
	if (!ret && access(buf, R_OK) < 0)
		ret = -errno;
	return ret;
}

/*
 * A listening TCP socket on the host's 127.0.0.1 (this process is in the host's netns): port
 * CTL_KUBE_API_PORT when free, else one the kernel picks. Inherited across exec (the API server
 * gets it). The fd, with its port in *@port, or -errno.
 */
static int host_listen(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(CTL_KUBE_API_PORT)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, ret = 0;

	if (fd < 0)
		return -errno;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Lets a port whose last server left connections in TIME_WAIT go again; never a bound one.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		ret = -errno;
	if (!ret && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		a.sin_port = 0;
		if (errno != EADDRINUSE || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			ret = -errno;
	}
	if (!ret && (listen(fd, 128) < 0 || getsockname(fd, (struct sockaddr *)&a, &alen) < 0))
		ret = -errno;
	if (ret) {
		close(fd);
		return ret;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/*
 * A listening TCP socket at the fabric's address on the LoadBalancer network, port
 * CTL_KUBE_API_PORT, made in the fabric netns (a socket stays in the netns it was made in).
 * Inherited across exec, as host_listen's. The fd, -ENOENT when the cluster has no place on
 * that network, or -errno.
 */
static int lb_listen(const struct ctl_cluster *c)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(CTL_KUBE_API_PORT)};
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(CTL_KUBE_API_PORT)};
	bool six = c->ip_family == CTL_IP_IPV6;
	struct sockaddr *a = six ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
	socklen_t alen = six ? sizeof(a6) : sizeof(a4);
	char ip[64], fabric[CTL_NAME_MAX * 2];
	int ret = cluster_lb_ip(c, false, ip, sizeof(ip)), fd = -1, saved;

	if (ret)
		return ret;
	if (inet_pton(six ? AF_INET6 : AF_INET, ip,
		      six ? (void *)&a6.sin6_addr : (void *)&a4.sin_addr) != 1)
		return -EINVAL;
	str_fmt(fabric, sizeof(fabric), "ambit-%s-fabric", c->name);
	ret = netns_enter(fabric, &saved);
	if (ret)
		return ret;
	fd = socket(a->sa_family, SOCK_STREAM, 0);
	if (fd < 0)
		ret = -errno;
	netns_leave(saved);
	if (ret)
		return ret;
	/* The fabric netns is new with the cluster: no other socket may hold the port. */
	if (bind(fd, a, alen) < 0 || listen(fd, 128) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Starts the API server on 10.99.0.1:6443 ([fd00:99::1]:6443 in an IPv6 cluster, whose nodes
 * have no IPv4) in the fabric netns, on @host_fd, and on @lb_fd unless it is negative.
 */
static int start_apiserver(const struct ctl_cluster *c, int host_fd, int lb_fd)
{
	char script[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], tokens[PATH_MAX], log[PATH_MAX];
	char cg[PATH_MAX + 16], listen[64], pidf[PATH_MAX], fabric[CTL_NAME_MAX * 2], why[512];
	char txt[32], fd[16], fd2[16], self[PATH_MAX], name[CTL_NAME_MAX];
	/*
	 * Bookmarks each second: `ambitctl apply` waits until every agent's every watch passed the
	 * server's version, and an idle kind gets there by its bookmarks (a real server: ~1/min).
	 * pods/log, exec and portforward (tests/k8s/fake_streams.py) read the cluster's run dir
	 * and enter pods with this ambitctl's `local exec`.
	 */
	char *argv[] = {"python3",
			script,
			"--listen",
			listen,
			"--tls-cert",
			cert,
			"--tls-key",
			key,
			"--load",
			tokens,
			"--token-table-auth",
			"--bookmark-seconds",
			"1",
			"--listen-fd",
			fd,
			"--cluster",
			name,
			"--ambitctl",
			self,
			NULL, /* --listen-fd @lb_fd */
			NULL,
			NULL};
	size_t last = sizeof(argv) / sizeof(argv[0]) - 1;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	struct spawn_req r = {.argv = argv, .cgroup = cg, .netns = fabric, .log = log};
	int ret = apiserver_script(script, sizeof(script)), pid;

	if (n < 0)
		str_fmt(self, sizeof(self), "ambitctl");
	else
		self[n] = '\0';
	str_fmt(name, sizeof(name), "%s", c->name);
	if (ret) {
		fprintf(stderr, "ambitctl: no fake_apiserver.py (set AMBIT_FAKE_APISERVER): %s\n",
			strerror(-ret));
		return ret;
	}
	str_fmt(listen, sizeof(listen), "%s:%d", cluster_fabric_host(c), CTL_KUBE_API_PORT);
	str_fmt(fd, sizeof(fd), "%d", host_fd);
	if (lb_fd >= 0) {
		str_fmt(fd2, sizeof(fd2), "%d", lb_fd);
		argv[last - 2] = "--listen-fd";
		argv[last - 1] = fd2;
	}
	str_fmt(fabric, sizeof(fabric), "ambit-%s-fabric", c->name);
	str_fmt(cg, sizeof(cg), "%s/control/apiserver", c->cg_root);
	cluster_path(c, cert, sizeof(cert), "kube/apiserver.crt");
	cluster_path(c, key, sizeof(key), "kube/apiserver.key");
	cluster_path(c, tokens, sizeof(tokens), "kube/tokens.json");
	cluster_path(c, log, sizeof(log), "logs/apiserver.log");
	cluster_path(c, pidf, sizeof(pidf), "kube/apiserver.pid");
	ret = mkdir_p(cg, 0755);
	pid = ret ?: spawn_start(&r, why, sizeof(why));
	if (pid < 0) {
		fprintf(stderr, "ambitctl: API server: %s\n", ret ? strerror(-ret) : why);
		return pid;
	}
	str_fmt(txt, sizeof(txt), "%d\n", pid);
	ret = write_file_atomic(pidf, txt);
	/* Up when it answers /version with the admin's token over TLS, as every client will. */
	for (int i = 0; !ret && i < KUBE_API_WAIT_S * 10 && !ctl_interrupted; i++) {
		struct kconn k = {0};
		char *resp = NULL, err[256];
		int saved;
		long code = 0;

		if (cluster_kube_enter(c, &k, &saved))
			return -EIO;
		code =
		    kconn_call(&k, "GET", "/version", NULL, &resp, 1 << 16, 1000, err, sizeof(err));
		free(resp);
		cluster_kube_leave(&k, saved);
		if (code == 200)
			return 0;
		if (!pid_alive(pid))
			break;
		usleep(100 * 1000);
	}
	fprintf(stderr, "ambitctl: the API server did not come up; see %s\n", log);
	return ret ?: -ETIMEDOUT;
}

/*
 * The nodes' names for the cluster's own Services (hostNetwork pods with
 * ClusterFirstWithHostNet): the API server and the CA, which runs on the first node.
 */
static int node_hosts(const struct ctl_cluster *c)
{
	for (int i = 0; i < c->nnodes; i++) {
		char dir[PATH_MAX], path[PATH_MAX + 8], text[1024];
		int ret;

		str_fmt(dir, sizeof(dir), "/etc/netns/%s", c->nodes[i].netns);
		str_fmt(path, sizeof(path), "%s/hosts", dir);
		str_fmt(text, sizeof(text),
			"# written by ambitctl local up --kube: the cluster's own services\n"
			"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
			"%s\t%s\n%s\tkubernetes kubernetes.default kubernetes.default.svc "
			"kubernetes.default.svc.cluster.local\n"
			"%s\tambit-ca.%s ambit-ca.%s.svc ambit-ca.%s.svc.cluster.local\n",
			node_host_ip(&c->nodes[i]), c->nodes[i].name, cluster_fabric_ip(c),
			node_host_ip(&c->nodes[0]), CTL_KUBE_NS, CTL_KUBE_NS, CTL_KUBE_NS);
		ret = mkdir_p(dir, 0755);
		ret = ret ?: write_file_atomic(path, text);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Istio's plug-in CA among the manifests (@cacerts, or NULL): into the API server before ambit
 * is installed, as a user creates it before `istioctl install`, so that install hands it to
 * the mesh's CA. With its namespace. 0 or -errno.
 */
static int kube_cacerts(const struct kconn *k, const struct config_secret *cacerts)
{
	cJSON *ns = cJSON_CreateObject(), *sec = cJSON_CreateObject(), *md, *data;
	int ret = -ENOMEM;

	if (!ns || !sec || !cJSON_AddStringToObject(ns, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(ns, "kind", "Namespace") ||
	    !(md = cJSON_AddObjectToObject(ns, "metadata")) ||
	    !cJSON_AddStringToObject(md, "name", cacerts->meta.namespace) ||
	    !cJSON_AddStringToObject(sec, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(sec, "kind", "Secret") ||
	    !(md = cJSON_AddObjectToObject(sec, "metadata")) ||
	    !cJSON_AddStringToObject(md, "name", cacerts->meta.name) ||
	    !cJSON_AddStringToObject(md, "namespace", cacerts->meta.namespace) ||
	    !(data = cJSON_AddObjectToObject(sec, "data")))
		goto out;
	for (size_t i = 0; i < cacerts->n; i++) {
		char *b64 = crypto_base64_encode(cacerts->items[i].value, cacerts->items[i].len);
		bool ok = b64 && cJSON_AddStringToObject(data, cacerts->items[i].key, b64);

		free(b64);
		if (!ok)
			goto out;
	}
	ret = kube_apply(k, ns, true);
	ret = ret ?: kube_apply(k, sec, true);
out:
	cJSON_Delete(ns);
	cJSON_Delete(sec);
	return ret;
}

int kube_ambit(const struct ctl_cluster *c, const struct config_secret *cacerts, bool uninstall,
	       char *const *extra, const char *reason)
{
	char path[PATH_MAX], id[16 + CTL_LABEL_VALUE_MAX], net[16 + CTL_LABEL_VALUE_MAX];
	/*
	 * The local cluster runs its own ingress gateway (ingress.yaml, --no-ingress). Its
	 * DaemonSet's agents are in its cluster and network (local up --network), as Istio's
	 * install values put them.
	 */
	char *argv[48] = {"--kubeconfig", path, "--set", "ingressGateway=false", "--set", id,
			  "--set",	  net,	NULL};
	struct local_mesh_down m = {c, reason};
	struct kconn k = {0};
	int ret, saved, argc = 8;

	for (size_t i = 0; extra && extra[i] && argc < 47; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	str_fmt(id, sizeof(id), "clusterName=%s", c->cluster_id);
	str_fmt(net, sizeof(net), "network=%s", c->network);
	cluster_path(c, path, sizeof(path), "kube/fabric.kubeconfig");
	ret = cluster_kube_enter(c, &k, &saved);
	if (ret)
		return ret;
	fflush(stdout);
	if (cacerts && !uninstall)
		ret = kube_cacerts(&k, cacerts);
	if (uninstall)
		ret = ret ?: cmd_install_local(argc, argv, true, local_mesh_down_hook, &m);
	else
		ret = ret ?: cmd_install(argc, argv, false);
	/* Its waypoint controller is the local cluster's (kworkload.c). */
	if (!uninstall)
		ret = ret ?: kube_waypoint_controller_off(&k);
	cluster_kube_leave(&k, saved);
	return ret;
}

int kube_up(const struct ctl_cluster *c, const struct config_secret *cacerts)
{
	char path[PATH_MAX];
	int ret, port = 0, fd = host_listen(&port), lb_fd;

	if (fd < 0) {
		fprintf(stderr, "ambitctl: the API server's port on 127.0.0.1: %s\n",
			strerror(-fd));
		return fd;
	}
	lb_fd = lb_listen(c);
	if (lb_fd < 0 && lb_fd != -ENOENT) {
		fprintf(stderr, "ambitctl: the API server's port on the LoadBalancer network: %s\n",
			strerror(-lb_fd));
		close(fd);
		return lb_fd;
	}
	cluster_path(c, path, sizeof(path), "kube/sa");
	ret = mkdir_p(path, 0755);
	ret = ret ?: kube_credentials(c, port);
	ret = ret ?: node_hosts(c);
	ret = ret ?: start_apiserver(c, fd, lb_fd);
	close(fd); /* the API server's now */
	if (lb_fd >= 0)
		close(lb_fd);
	if (ret)
		return ret;
	/* ambit goes in as a user installs it: the same manifests, the same code. */
	return kube_ambit(c, cacerts, false, NULL, NULL);
}

int kube_host_server(const struct ctl_cluster *c, char *buf, size_t len)
{
	char path[PATH_MAX], why[512];
	struct kconn k = {0};
	int ret;

	if (!c->kube)
		return -ENOENT;
	cluster_path(c, path, sizeof(path), "kube/kubeconfig");
	if (kconn_kubeconfig(&k, path, NULL, why, sizeof(why)))
		return -ENOENT;
	ret = str_fmt(buf, len, "%s", k.server);
	kconn_free(&k);
	return ret;
}

int local_kubeconfig(const struct ctl_opts *o)
{
	struct ctl_cluster c;
	char path[PATH_MAX];
	int ret = cluster_open(&c, &(struct ctl_opts){.cluster = o->cluster});

	if (ret)
		return ret;
	if (!c.kube) {
		fprintf(stderr,
			"ambitctl: cluster %s has no API server (local up --kube makes one)\n",
			c.name);
		return -ENOENT;
	}
	cluster_path(&c, path, sizeof(path), "kube/kubeconfig");
	printf("%s\n", path);
	return 0;
}
