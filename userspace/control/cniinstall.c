// SPDX-License-Identifier: Apache-2.0
/*
 * `ambit-agent --install-cni`: the DaemonSet's container that puts ambit-cni on the node and
 * keeps it there (cniconf.h), as istio-cni's install-cni. The entry stays through the agent's
 * restarts, upgrades and the node's reboots, so that a pod of the mesh made while the agent is
 * down waits for it instead of running uncaptured (istio/istio#60882); only an uninstall (the
 * DaemonSet gone) or, without --owner-daemonset, a clean stop takes it out.
 *
 * With --kube it also writes the plugin a kubeconfig (ambit-cni.kubeconfig beside the conflist,
 * 0600) from the pod's service account, as istio-cni's install-cni does: while the agent is
 * away the plugin asks the API server whether a pod is in the mesh, so a pod outside it is not
 * held. The token is a projected one that the kubelet rotates: the file follows it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "ambit/version.h"
#include "cniconf.h"
#include "tls/crypto.h"
#include "k8s/kconn.h"

#define PLUGIN_KUBECONFIG "ambit-cni.kubeconfig"
/* How often the plugin's kubeconfig is checked against the rotating token. */
#define TOKEN_CHECK_MS 60000

struct cniinstall {
	const char *conf_dir, *bin_dir, *plugin, *socket;
	const char *owner_daemonset, *kubeconfig, *sa_dir;
	const char *conf_host_dir; /* where the node sees conf_dir (the plugin's paths) */
	bool kube;		   /* in-cluster credentials: the plugin gets a kubeconfig */
	char *entry;
	bool waiting; /* no configuration in conf_dir yet: said once */
};

static void install_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: ambit-agent --install-cni --cni-conf-dir DIR --cni-bin-dir DIR\n"
	    "         [--plugin PATH] [--agent-socket PATH] [--once | --uninstall]\n"
	    "         [--owner-daemonset NS/NAME (--kube | --kubeconfig F)] [--log-level L]\n"
	    "         [--cni-conf-host-dir DIR]\n"
	    "  Copies ambit-cni (--plugin, default: beside this binary) into --cni-bin-dir and\n"
	    "  appends {\"type\": \"ambit-cni\", \"agentSocket\": ...} to the plugins of the\n"
	    "  node's conflist in --cni-conf-dir (a lone .conf becomes a .conflist), then puts\n"
	    "  them back whenever another writer drops them, until SIGTERM. At a clean stop it\n"
	    "  takes them out; with --owner-daemonset only when that DaemonSet is gone\n"
	    "  (ambitctl uninstall), so a restart or a reboot keeps pods waiting for the agent.\n"
	    "  --once installs and exits; --uninstall takes them out and exits. With --kube the\n"
	    "  plugin also gets ambit-cni.kubeconfig (0600) beside the conflist, from the pod's\n"
	    "  service account, to judge pods by while the agent is away; --cni-conf-host-dir\n"
	    "  is where the node sees --cni-conf-dir (default: the same).\n");
}

/* The plugin's kubeconfig from the pod's service account (JSON, which is YAML), or NULL. */
static char *plugin_kubeconfig(const struct cniinstall *ci)
{
	struct kconn conn = {0};
	char why[512] = "", *ca = NULL, *text = NULL;
	cJSON *o = cJSON_CreateObject(), *arr, *it, *in;

	if (kconn_in_cluster(&conn, ci->sa_dir, why, sizeof(why))) {
		pr_warn("cni: no kubeconfig for the plugin: %s", why);
		goto out;
	}
	if (conn.ca_pem && !(ca = crypto_base64_encode(conn.ca_pem, strlen(conn.ca_pem))))
		goto out;
	if (!o || !cJSON_AddStringToObject(o, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(o, "kind", "Config") ||
	    !cJSON_AddStringToObject(o, "current-context", "ambit-cni") ||
	    !(arr = cJSON_AddArrayToObject(o, "clusters")) ||
	    !cJSON_AddItemToArray(arr, it = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(it, "name", "ambit-cni") ||
	    !(in = cJSON_AddObjectToObject(it, "cluster")) ||
	    !cJSON_AddStringToObject(in, "server", conn.server) ||
	    (ca && !cJSON_AddStringToObject(in, "certificate-authority-data", ca)) ||
	    !(arr = cJSON_AddArrayToObject(o, "users")) ||
	    !cJSON_AddItemToArray(arr, it = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(it, "name", "ambit-cni") ||
	    !(in = cJSON_AddObjectToObject(it, "user")) ||
	    !cJSON_AddStringToObject(in, "token", conn.token ? conn.token : "") ||
	    !(arr = cJSON_AddArrayToObject(o, "contexts")) ||
	    !cJSON_AddItemToArray(arr, it = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(it, "name", "ambit-cni") ||
	    !(in = cJSON_AddObjectToObject(it, "context")) ||
	    !cJSON_AddStringToObject(in, "cluster", "ambit-cni") ||
	    !cJSON_AddStringToObject(in, "user", "ambit-cni"))
		goto out;
	text = cJSON_Print(o);
out:
	cJSON_Delete(o);
	free(ca);
	kconn_free(&conn);
	return text;
}

/* The plugin's kubeconfig written when it is new or its token rotated. */
static void install_kubeconfig(const struct cniinstall *ci)
{
	char path[PATH_MAX], *want, *have;
	int err;

	if (!ci->kube || str_fmt(path, sizeof(path), "%s/" PLUGIN_KUBECONFIG, ci->conf_dir))
		return;
	want = plugin_kubeconfig(ci);
	have = want ? read_file(path, NULL) : NULL;
	if (want && (!have || strcmp(have, want))) {
		err = write_file_atomic_mode(path, want, 0600);
		if (err)
			pr_err("cni: writing %s: %s", path, strerror(-err));
		else
			pr_info("cni: %s written (%s)", path, have ? "its token rotated" : "new");
	}
	free(have);
	free(want);
}

/* Binary and entry in place. 0, or -errno (-ENOENT: no configuration to join yet). */
static int install(struct cniinstall *ci)
{
	bool changed;
	int err;

	/* Before the entry that names it: a plugin never reads a kubeconfig not written yet. */
	install_kubeconfig(ci);
	err = cniconf_install_binary(ci->plugin, ci->bin_dir, &changed);
	if (err) {
		pr_err("cni: copying %s into %s: %s", ci->plugin, ci->bin_dir, strerror(-err));
		return err;
	}
	if (changed)
		pr_info("cni: %s/%s installed", ci->bin_dir, CNICONF_PLUGIN);
	err = cniconf_insert(ci->conf_dir, ci->entry, &changed);
	if (err == -ENOENT) {
		if (!ci->waiting)
			pr_info("cni: no network configuration in %s yet; waiting for the node's",
				ci->conf_dir);
		ci->waiting = true;
		return err;
	}
	ci->waiting = false;
	if (err)
		pr_err("cni: %s: %s", ci->conf_dir, strerror(-err));
	else if (changed)
		pr_info("cni: ambit-cni chained in %s's network configuration", ci->conf_dir);
	return err;
}

static int uninstall(const struct cniinstall *ci)
{
	bool changed;
	int err = cniconf_remove(ci->conf_dir, &changed), err2;
	char path[PATH_MAX];

	if (!str_fmt(path, sizeof(path), "%s/" PLUGIN_KUBECONFIG, ci->conf_dir) &&
	    unlink(path) == 0)
		pr_info("cni: %s removed", path);
	if (err)
		pr_err("cni: removing the entry from %s: %s", ci->conf_dir, strerror(-err));
	else if (changed)
		pr_info("cni: ambit-cni taken out of %s", ci->conf_dir);
	err2 = cniconf_remove_binary(ci->bin_dir);
	if (err2)
		pr_err("cni: removing %s/%s: %s", ci->bin_dir, CNICONF_PLUGIN, strerror(-err2));
	return err ? err : err2;
}

/* At a clean stop: whether this is an uninstall (see the top of the file). */
static bool stop_uninstalls(const struct cniinstall *ci)
{
	struct kconn conn = {0};
	char why[512] = "";
	int gone;

	if (!ci->owner_daemonset)
		return true;
	gone = ci->kubeconfig ? kconn_kubeconfig(&conn, ci->kubeconfig, NULL, why, sizeof(why))
			      : kconn_in_cluster(&conn, ci->sa_dir, why, sizeof(why));
	if (!gone)
		gone = kconn_daemonset_gone(&conn, ci->owner_daemonset, why, sizeof(why));
	else
		gone = -EIO;
	kconn_free(&conn);
	if (gone < 0)
		pr_info("cni: DaemonSet %s: %s; ambit-cni stays chained", ci->owner_daemonset, why);
	else if (!gone)
		pr_info("cni: DaemonSet %s is there (a restart): ambit-cni stays chained",
			ci->owner_daemonset);
	return gone > 0;
}

/* Watches both directories and re-installs on every change until SIGTERM/SIGINT. */
static int watch(struct cniinstall *ci)
{
	const uint32_t mask = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
			      IN_DELETE_SELF | IN_MOVE_SELF;
	struct pollfd pfd[2];
	sigset_t sigs;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int ino, sfd, err = 0;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0)
		return -errno;
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (sfd < 0 || ino < 0) {
		err = -errno;
		goto out;
	}
	if (inotify_add_watch(ino, ci->conf_dir, mask) < 0 ||
	    inotify_add_watch(ino, ci->bin_dir, mask) < 0) {
		err = -errno;
		pr_err("cni: watching %s and %s: %s", ci->conf_dir, ci->bin_dir, strerror(-err));
		goto out;
	}
	/* Anything changed between the first install and the watch is caught here. */
	(void)install(ci);
	pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = ino, .events = POLLIN};
	for (;;) {
		int n = poll(pfd, 2, ci->kube ? TOKEN_CHECK_MS : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (pfd[0].revents)
			break;
		/* A writer's burst comes as many events: drained, then one install for them all. */
		while (read(ino, buf, sizeof(buf)) > 0)
			;
		(void)install(ci);
	}
out:
	if (ino >= 0)
		close(ino);
	if (sfd >= 0)
		close(sfd);
	return err;
}

/* The plugin beside this binary (the image ships both in one directory). */
static int default_plugin(char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	return str_fmt(path, len, "%s/%s", self, CNICONF_PLUGIN);
}

static char *make_entry(const struct cniinstall *ci)
{
	cJSON *o = cJSON_CreateObject();
	char kc[PATH_MAX];
	char *s = NULL;

	if (ci->kube && str_fmt(kc, sizeof(kc), "%s/" PLUGIN_KUBECONFIG,
				ci->conf_host_dir ? ci->conf_host_dir : ci->conf_dir))
		goto out;
	if (o && cJSON_AddStringToObject(o, "type", CNICONF_PLUGIN) &&
	    (!ci->socket || cJSON_AddStringToObject(o, "agentSocket", ci->socket)) &&
	    (!ci->kube || cJSON_AddStringToObject(o, "kubeconfig", kc)))
		s = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return s;
}

int cniinstall_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"cni-conf-dir", required_argument, NULL, 'c'},
	    {"cni-bin-dir", required_argument, NULL, 'b'},
	    {"plugin", required_argument, NULL, 'p'},
	    {"agent-socket", required_argument, NULL, 'S'},
	    {"once", no_argument, NULL, 'o'},
	    {"uninstall", no_argument, NULL, 'u'},
	    {"owner-daemonset", required_argument, NULL, 'O'},
	    {"kube", no_argument, NULL, 'K'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"kube-sa-dir", required_argument, NULL, 'A'},
	    {"cni-conf-host-dir", required_argument, NULL, 'H'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct cniinstall ci = {.sa_dir = KCONN_SA_DIR};
	enum log_level lvl = LOG_LEVEL_INFO;
	bool once = false, remove = false;
	char plugin[PATH_MAX];
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': ci.conf_dir = optarg; break;
		case 'b': ci.bin_dir = optarg; break;
		case 'p': ci.plugin = optarg; break;
		case 'S': ci.socket = optarg; break;
		case 'o': once = true; break;
		case 'u': remove = true; break;
		case 'O': ci.owner_daemonset = optarg; break;
		case 'K': ci.kube = true; break;
		case 'H': ci.conf_host_dir = optarg; break;
		case 'k': ci.kubeconfig = optarg; break;
		case 'A': ci.sa_dir = optarg; break;
		case 'l':
			if (log_level_parse(optarg, &lvl)) {
				fprintf(stderr,
					"ambit-agent: --log-level: want error|warn|info|debug\n");
				return 2;
			}
			break;
		case 'h': install_usage(stdout); return 0;
		case 'V': printf("ambit-agent %s\n", ambit_version()); return 0;
		default: install_usage(stderr); return 2;
		}
	}
	if (optind != argc || !ci.conf_dir || !ci.bin_dir || (once && remove) ||
	    (ci.socket && ci.socket[0] != '/') ||
	    (ci.owner_daemonset && !ci.kube && !ci.kubeconfig) ||
	    (ci.conf_host_dir && ci.conf_host_dir[0] != '/')) {
		fprintf(stderr,
			"ambit-agent --install-cni: missing, extra or clashing arguments\n");
		install_usage(stderr);
		return 2;
	}
	log_init("ambit-cni-install", lvl);
	if (!ci.plugin) {
		if (default_plugin(plugin, sizeof(plugin))) {
			pr_err("cni: cannot find ambit-cni beside this binary; give --plugin");
			return 1;
		}
		ci.plugin = plugin;
	}
	if (remove)
		return uninstall(&ci) ? 1 : 0;
	ci.entry = make_entry(&ci);
	if (!ci.entry)
		return 1;
	err = install(&ci);
	if (once) {
		free(ci.entry);
		return err ? 1 : 0;
	}
	err = watch(&ci);
	if (!err && stop_uninstalls(&ci))
		err = uninstall(&ci);
	free(ci.entry);
	return err ? 1 : 0;
}
