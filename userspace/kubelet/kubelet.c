// SPDX-License-Identifier: Apache-2.0
/*
 * The kubelet of a local cluster's node (`ambitctl local kubelet --node N`, started by `local up`
 * in the node's system cgroup): it starts the node's agent, ztunnel and pods and restarts them
 * when they exit, with the kubelet's back-off (the first restart at once, then 10 s doubling to
 * 5 min, forgotten after 10 min of running; AMBIT_KUBELET_BACKOFF_MS scales all three for tests)
 * and the pod's restartPolicy. It records restarts, the last exit and the state (Running,
 * CrashLoopBackOff, Failed with the reason, Completed) and answers ambitctl on
 * <run>/<node>/kubelet.sock (ipc.h framing):
 *   {"op":"status"}                      every process: state, pid, restarts, last exit
 *   {"op":"start"|"stop","what":"agent"|"ztunnel"|"ambit-ca"}   stopped until started;
 *                                        "graceful":true stops with SIGTERM (reaped later,
 *                                        as a pod deleted), "reason" says why in the status
 *   {"op":"surge","what":"ztunnel"}      a new ztunnel beside the running one, which it takes
 *                                        the listeners from (`local upgrade`, ztunnel/main.c)
 *   {"op":"retire","what":"ztunnel"}     SIGTERM to the one it replaced: it drains and exits,
 *                                        and is not restarted (a rolling update's old pod)
 *   {"op":"sync"}                        run exactly the pods runtime/pods.json gives the node;
 *                                        answered once the new pods' sandboxes are made or
 *                                        failed, with each one's pid or why
 * One thread, one epoll loop: children are reaped from a signalfd, back-offs run on a timerfd.
 * A pod's sandbox (netns, CNI ADD) is made by a child of its own, as a kubelet's pod workers
 * run apart from its loop: an ADD that ambit-cni holds until the pod's capture is in force
 * (seconds, or until the agent comes) stalls neither the other pods nor the answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ambit/clock.h"
#include "ambit/ipc.h"
#include "ambit/log.h"
#include "kubelet.h"
#include "k8s/kconn.h"

#define KL_BACKOFF_BASE_MS 10000 /* the kubelet's initial back-off */
#define KL_BACKOFF_CAP 30	 /* x base: 5 min */
#define KL_BACKOFF_RESET 60	 /* x base: 10 min of running forgets the back-off */

/* KL_CA: --kube only, on the first node: the CA Deployment's one pod. */
enum kl_kind { KL_AGENT, KL_ZTUNNEL, KL_POD, KL_CA };

enum kl_state {
	KL_PENDING,   /* never started */
	KL_RUNNING,   /* its process runs */
	KL_BACKOFF,   /* exited or failed to start; restarts when the back-off ends */
	KL_FAILED,    /* exited or failed to start; its policy says it stays so */
	KL_COMPLETED, /* exited 0; its policy says it stays so */
	KL_STOPPED,   /* `local stop`: stays down until `local start` */
};

static const char *const kl_state_names[] = {"Pending", "Running",   "CrashLoopBackOff",
					     "Failed",	"Completed", "Stopped"};

/* Variables a `local start` may hand a component (ZTUNNEL_* limits, for one). */
#define KL_MAX_ENV 32

struct kl_proc {
	char name[520]; /* "agent", "ztunnel" or "ns/pod" */
	enum kl_kind kind;
	struct sandbox pod; /* KL_POD only */
	enum kl_state state;
	int pid;
	int old_pid; /* surge: the process this one replaces, running until it drains */
	unsigned int restarts;
	uint64_t started_ms, restart_at_ms, backoff_ms; /* CLOCK_MONOTONIC */
	time_t started_at, finished_at;			/* wall clock, for people */
	bool exited;					/* a last exit is recorded */
	int exit_code, exit_signal;			/* -1 when not that kind of exit */
	char reason[1100];	     /* why it is not running, or why it last stopped */
	bool net_ready;		     /* KL_POD: its sandbox (netns, CNI ADD) is made */
	int sandbox_pid;	     /* KL_POD: the child making its sandbox, or 0 */
	int sandbox_fd;		     /* KL_POD: that child's pipe: why it failed */
	uint64_t sandbox_backoff_ms; /* KL_POD: before the next try at its sandbox */
	bool seen;		     /* sync bookkeeping */
	/* A component's variables from the last `local start` ("NAME=value"), NULL-ended. */
	char *env[KL_MAX_ENV + 1];
};

struct kubelet {
	struct ctl_cluster c;
	const struct ctl_node *n;
	struct kl_proc **procs;
	size_t nprocs;
	uint64_t base_ms;
	/* --kube: the DaemonSet's and the CA Deployment's pod templates as last read. */
	cJSON *tmpl[2];
	/* sync requests waiting for their pods' sandboxes: the client and its answer so far. */
	struct kl_wait {
		int fd;
		cJSON *res;
	} * waits;
	size_t nwaits;
	int epfd, sigfd, timerfd, lfd;
	bool quit;
};

static int kl_pidfile(const struct kubelet *k, const struct kl_proc *p, char *buf, size_t len)
{
	if (p->kind == KL_POD)
		return cluster_path(&k->c, buf, len, "pods/%s_%s.pid", p->pod.namespace,
				    p->pod.name);
	return cluster_path(&k->c, buf, len, "%s/%s.pid", k->n->name, p->name);
}

/*
 * --kube: the pod template of the DaemonSet (@ca false) or the CA Deployment, from the API
 * server through @kc; the one read last when the server cannot say (a kubelet runs the pods it
 * has while the API server is away). Borrowed, or NULL.
 */
static const cJSON *kl_template(struct kubelet *k, const struct kconn *kc, bool ca)
{
	const char *path = ca ? "/apis/apps/v1/namespaces/" CTL_KUBE_NS "/deployments/ambit-ca"
			      : "/apis/apps/v1/namespaces/" CTL_KUBE_NS "/daemonsets/ambit-node";
	char *resp = NULL;
	long code = kc ? kube_call(kc, "GET", path, NULL, &resp) : 0;
	cJSON *o = code == 200 ? cJSON_Parse(resp) : NULL;
	cJSON *t = o ? cJSON_DetachItemFromObjectCaseSensitive(
			   cJSON_GetObjectItemCaseSensitive(o, "spec"), "template")
		     : NULL;

	free(resp);
	cJSON_Delete(o);
	if (t) {
		cJSON_Delete(k->tmpl[ca]);
		k->tmpl[ca] = t;
	} else {
		pr_warn("%s: HTTP %ld; %s", path, code,
			k->tmpl[ca] ? "running the template read before" : "no template yet");
	}
	return k->tmpl[ca];
}

/*
 * --kube: @p's container as its pod template says (kpod.c) into @sb, and its pod's name into
 * @pod. 0, or -errno with why.
 */
static int kl_kube_sandbox(struct kubelet *k, const struct kl_proc *p, struct sandbox *sb,
			   char *why, size_t len)
{
	static const char *const ctr[] = {
	    [KL_AGENT] = "agent", [KL_ZTUNNEL] = "ztunnel", [KL_CA] = "ca"};
	struct kconn kc = {0};
	const cJSON *tmpl;
	char pod[64], cfg[CTL_NAME_MAX + 32];
	int saved, ret;

	str_fmt(pod, sizeof(pod), "%s-%s", p->kind == KL_CA ? "ambit-ca" : "ambit-node",
		k->n->name);
	str_fmt(cfg, sizeof(cfg), "%s/" CTL_KUBELET_KUBECONFIG, k->n->name);
	ret = cluster_kube_enter_as(&k->c, cfg, &kc, &saved);
	tmpl = kl_template(k, ret ? NULL : &kc, p->kind == KL_CA);
	ret = tmpl ? kpod_sandbox(&k->c, k->n, &kc, CTL_KUBE_NS, tmpl, ctr[p->kind], pod, sb, why,
				  len)
		   : -EAGAIN;
	if (!tmpl)
		str_fmt(why, len, "no pod template from the API server yet");
	cluster_kube_leave(&kc, saved);
	return ret;
}

/*
 * <run>/runtime/<node>.sandboxes: the node's pods whose sandbox is made, one "ns/name iface" a
 * line, as a runtime lists its sandboxes. The agent reconciles on any change of the runtime
 * dir, so a veth made after pods.json named it gets its tc program now, not at the resync.
 */
static void kl_sandboxes_publish(const struct kubelet *k)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	for (size_t i = 0; i < k->nprocs; i++) {
		const struct kl_proc *p = k->procs[i];

		if (p->kind == KL_POD && p->net_ready)
			fprintf(f, "%s %s\n", p->name, p->pod.iface);
	}
	if (fclose(f) == 0 &&
	    !cluster_path(&k->c, path, sizeof(path), "runtime/%s.sandboxes", k->n->name) &&
	    write_file_atomic(path, text))
		pr_warn("writing %s failed", path);
	free(text);
}

/* Spawns @p's process; on failure records why. 0 or -errno. */
static int kl_spawn(struct kubelet *k, struct kl_proc *p)
{
	struct sandbox kube = {0};
	char store[8192], log[PATH_MAX], why[512] = "", pidf[PATH_MAX], txt[32];
	char *argv[40];
	struct spawn_req r = {0};
	struct stat st;
	int ret;

	if (p->kind == KL_POD) {
		char d[PATH_MAX + 8];

		ret = sandbox_check(&p->pod, why, sizeof(why));
		/* The upper and work dirs of the pod's /var overlay, kept across its restarts. */
		if (!ret && !(ret = str_fmt(d, sizeof(d), "%s/var", p->pod.var_dir)))
			ret = mkdir_p(d, 0755);
		if (!ret && !(ret = str_fmt(d, sizeof(d), "%s/work", p->pod.var_dir)))
			ret = mkdir_p(d, 0700);
		if (!ret && (ret = mkdir_p(p->pod.container_cg, 0755)))
			str_fmt(d, sizeof(d), "%s", p->pod.container_cg);
		if (ret && !why[0])
			str_fmt(why, sizeof(why), "mkdir %s: %s", d, strerror(-ret));
		cluster_path(&k->c, log, sizeof(log), "logs/%s_%s.log", p->pod.namespace,
			     p->pod.name);
		r = (struct spawn_req){.argv = p->pod.argv,
				       .cgroup = p->pod.container_cg,
				       .netns = p->pod.netns,
				       .cwd = p->pod.cwd,
				       .log = log,
				       .pod = &p->pod};
	} else if (k->c.kube && !(p->kind == KL_AGENT && cluster_uninstalled(&k->c, NULL, 0))) {
		/* Uninstalled, the agent is the node's Service proxy of a local cluster (below). */
		ret = kl_kube_sandbox(k, p, &kube, why, sizeof(why));
		cluster_path(&k->c, log, sizeof(log), "logs/%s-%s.log", k->n->name, p->name);
		r = (struct spawn_req){.argv = kube.argv,
				       .cgroup = k->n->system_cg,
				       .netns = k->n->netns,
				       .log = log,
				       .pod = &kube,
				       .env = p->env};
	} else {
		ret = p->kind == KL_AGENT
			  ? cluster_agent_argv(&k->c, k->n, store, sizeof(store), argv, 40)
			  : cluster_ztunnel_argv(&k->c, k->n, store, sizeof(store), argv, 40);
		/* A directory passes access(X_OK): build/ztunnel/ also holds the ztunnel's objects.
		 */
		if (!ret && stat(argv[0], &st) < 0)
			ret = -errno;
		else if (!ret && (!S_ISREG(st.st_mode) || access(argv[0], X_OK) < 0))
			ret = -ENOEXEC;
		if (ret)
			str_fmt(why, sizeof(why), "%s: %s (build it with make)", argv[0],
				ret == -ENOEXEC ? "not an executable file" : strerror(-ret));
		cluster_path(&k->c, log, sizeof(log), "logs/%s-%s.log", k->n->name, p->name);
		r = (struct spawn_req){.argv = argv,
				       .cgroup = k->n->system_cg,
				       .netns = k->n->netns,
				       .log = log,
				       .env = p->env};
	}
	if (!ret)
		ret = spawn_start(&r, why, sizeof(why));
	sandbox_free(&kube);
	if (ret < 0) {
		str_fmt(p->reason, sizeof(p->reason), "%s", why);
		pr_warn("%s: failed to start: %s", p->name, why);
		return ret;
	}
	p->pid = ret;
	p->state = KL_RUNNING;
	p->started_ms = clock_mono_ms();
	p->started_at = time(NULL);
	p->reason[0] = '\0';
	kl_pidfile(k, p, pidf, sizeof(pidf));
	str_fmt(txt, sizeof(txt), "%d\n", p->pid);
	if (write_file_atomic(pidf, txt))
		pr_warn("%s: writing %s failed", p->name, pidf);
	pr_info("%s: started, pid %d (restarts %u)", p->name, p->pid, p->restarts);
	return 0;
}

static enum config_restart_policy kl_policy(const struct kl_proc *p)
{
	/* The node's own components are always kept up, as static pods are. */
	return p->kind == KL_POD ? p->pod.restart : CONFIG_RESTART_ALWAYS;
}

static void kl_start(struct kubelet *k, struct kl_proc *p);

/*
 * @p stopped running (@ok: it exited 0) or failed to start: restart it as its policy says, at
 * once the first time, then after a back-off that doubles up to the cap.
 */
static void kl_finished(struct kubelet *k, struct kl_proc *p, bool ok, uint64_t ran_ms)
{
	enum config_restart_policy rp = kl_policy(p);
	uint64_t cap = k->base_ms * KL_BACKOFF_CAP;

	p->pid = 0;
	if (rp == CONFIG_RESTART_NEVER || (rp == CONFIG_RESTART_ON_FAILURE && ok)) {
		p->state = ok ? KL_COMPLETED : KL_FAILED;
		pr_info("%s: %s (restartPolicy %s)", p->name, kl_state_names[p->state],
			config_restart_policy_name(rp));
		return;
	}
	if (ran_ms >= k->base_ms * KL_BACKOFF_RESET)
		p->backoff_ms = 0;
	if (p->backoff_ms == 0) {
		p->backoff_ms = k->base_ms;
		p->restarts++;
		kl_start(k, p);
		return;
	}
	p->state = KL_BACKOFF;
	p->restart_at_ms = clock_mono_ms() + p->backoff_ms;
	pr_info("%s: back-off %llu ms before restart %u", p->name,
		(unsigned long long)p->backoff_ms, p->restarts + 1);
	p->backoff_ms = p->backoff_ms * 2 > cap ? cap : p->backoff_ms * 2;
}

/*
 * A sandbox not made (CNI ADD failed: the node's agent not there yet for ambit-cni) is no
 * restart of the pod: the pod stays ContainerCreating and its sandbox is tried again after its
 * own back-off, a tenth of the restart's and doubling up to it, so the pods of a node that
 * boots come up soon after its agent does.
 */
static void kl_sandbox_backoff(struct kubelet *k, struct kl_proc *p)
{
	uint64_t cap = k->base_ms;

	p->sandbox_backoff_ms =
	    p->sandbox_backoff_ms ? p->sandbox_backoff_ms * 2 : (k->base_ms + 9) / 10;
	if (p->sandbox_backoff_ms > cap)
		p->sandbox_backoff_ms = cap;
	p->state = KL_BACKOFF;
	p->restart_at_ms = clock_mono_ms() + p->sandbox_backoff_ms;
}

/*
 * RunPodSandbox for @p in a child of its own (kl_sandbox_done takes its end): the netns and
 * the CNI chain's ADD, which ambit-cni may hold for as long as its timeout. The child leads a
 * process group, so a pod removed meanwhile takes the plugins it runs down with it.
 */
static void kl_sandbox_begin(struct kubelet *k, struct kl_proc *p)
{
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		str_fmt(p->reason, sizeof(p->reason), "FailedCreatePodSandBox: pipe: %s",
			strerror(errno));
		kl_sandbox_backoff(k, p);
		return;
	}
	pid = fork();
	if (pid == 0) {
		char why[1024] = "";
		sigset_t none;
		int ret;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		close(pfd[0]);
		ret = cni_sandbox_make(&k->c, k->n, &p->pod, why, sizeof(why));
		if (ret && write(pfd[1], why, strlen(why)) < 0)
			_exit(2);
		_exit(ret ? 1 : 0);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		str_fmt(p->reason, sizeof(p->reason), "FailedCreatePodSandBox: fork: %s",
			strerror(errno));
		kl_sandbox_backoff(k, p);
		return;
	}
	p->sandbox_pid = pid;
	p->sandbox_fd = pfd[0];
	p->state = KL_PENDING;
}

/* @p's sandbox child ended with @status: the pod starts, or its sandbox backs off. */
static void kl_sandbox_done(struct kubelet *k, struct kl_proc *p, int status)
{
	char why[1024];
	ssize_t n = read(p->sandbox_fd, why, sizeof(why) - 1);

	why[n > 0 ? n : 0] = '\0';
	close(p->sandbox_fd);
	p->sandbox_fd = -1;
	p->sandbox_pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!why[0])
			str_fmt(why, sizeof(why), "the sandbox's maker %s %d",
				WIFSIGNALED(status) ? "was killed by signal" : "exited",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		str_fmt(p->reason, sizeof(p->reason),
			"FailedCreatePodSandBox: failed to set up the pod's network: %s", why);
		pr_warn("%s: %s", p->name, p->reason);
		kl_sandbox_backoff(k, p);
		return;
	}
	p->net_ready = true;
	kl_sandboxes_publish(k);
	kl_start(k, p);
}

/* Kills @p's sandbox child, if one runs, with the plugins it runs, and reaps it. */
static void kl_sandbox_abort(struct kl_proc *p)
{
	if (p->sandbox_pid <= 0)
		return;
	kill(-p->sandbox_pid, SIGKILL);
	kill(p->sandbox_pid, SIGKILL);
	while (waitpid(p->sandbox_pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(p->sandbox_fd);
	p->sandbox_fd = -1;
	p->sandbox_pid = 0;
}

static void kl_start(struct kubelet *k, struct kl_proc *p)
{
	if (p->kind == KL_POD && !p->net_ready) {
		kl_sandbox_begin(k, p);
		return;
	}
	if (kl_spawn(k, p) == 0) {
		p->sandbox_backoff_ms = 0;
		return;
	}
	p->sandbox_backoff_ms = 0;
	/* A command that cannot start counts as a failed run of no time (the kubelet's
	 * StartError). */
	p->exited = false;
	p->exit_code = p->exit_signal = -1;
	p->finished_at = time(NULL);
	kl_finished(k, p, false, 0);
}

static struct kl_proc *kl_by_pid(struct kubelet *k, int pid)
{
	for (size_t i = 0; i < k->nprocs; i++) {
		if (k->procs[i]->pid == pid && pid > 0)
			return k->procs[i];
	}
	return NULL;
}

/* Records how @p's process ended. */
static void kl_record_exit(struct kl_proc *p, int status)
{
	p->exited = true;
	p->finished_at = time(NULL);
	p->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	p->exit_signal = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
	if (p->exit_signal >= 0)
		str_fmt(p->reason, sizeof(p->reason), "killed by signal %d (%s)", p->exit_signal,
			strsignal(p->exit_signal));
	else
		str_fmt(p->reason, sizeof(p->reason), "%s (exit code %d)",
			p->exit_code ? "Error" : "Completed", p->exit_code);
	pr_info("%s: pid %d exited: %s", p->name, p->pid, p->reason);
}

static struct kl_proc *kl_by_sandbox(struct kubelet *k, int pid)
{
	for (size_t i = 0; i < k->nprocs; i++) {
		if (k->procs[i]->sandbox_pid == pid && pid > 0)
			return k->procs[i];
	}
	return NULL;
}

static void kl_reap(struct kubelet *k)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct kl_proc *p = kl_by_sandbox(k, pid);

		if (p) {
			kl_sandbox_done(k, p, status);
			continue;
		}
		p = kl_by_pid(k, pid);

		for (size_t i = 0; !p && i < k->nprocs; i++) {
			if (k->procs[i]->old_pid != pid)
				continue;
			pr_info("%s: the replaced pid %d exited (%s %d)", k->procs[i]->name, pid,
				WIFSIGNALED(status) ? "signal" : "exit code",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			k->procs[i]->old_pid = 0;
			pid = 0;
		}
		if (!p)
			continue; /* a helper (hosts refresh) or a process already forgotten */
		if (p->state == KL_STOPPED) {
			char why[sizeof(p->reason)];

			memcpy(why, p->reason, sizeof(why));
			kl_record_exit(p, status);
			memcpy(p->reason, why, sizeof(why));
			p->pid = 0;
			continue;
		}
		kl_record_exit(p, status);
		kl_finished(k, p, WIFEXITED(status) && WEXITSTATUS(status) == 0,
			    clock_mono_ms() - p->started_ms);
	}
}

static void kl_run_due(struct kubelet *k)
{
	uint64_t now = clock_mono_ms();

	for (size_t i = 0; i < k->nprocs; i++) {
		struct kl_proc *p = k->procs[i];

		if (p->state != KL_BACKOFF || p->restart_at_ms > now)
			continue;
		p->restarts++;
		kl_start(k, p);
	}
}

/* Arms the timerfd for the earliest back-off to end (or disarms it). */
static void kl_arm(struct kubelet *k)
{
	struct itimerspec its = {0};
	uint64_t next = 0;

	for (size_t i = 0; i < k->nprocs; i++) {
		const struct kl_proc *p = k->procs[i];

		if (p->state == KL_BACKOFF && (!next || p->restart_at_ms < next))
			next = p->restart_at_ms;
	}
	if (next) {
		/* 0 would disarm: a due restart still needs the timer to fire. */
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000 + 1;
	}
	timerfd_settime(k->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Kills @p's process for good and reaps it (a pod's whole pid namespace dies with it). */
static void kl_kill(struct kl_proc *p)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			p->pid = 0;
			return;
		}
	}
	kl_record_exit(p, status);
	p->pid = 0;
}

static struct kl_proc *kl_find(struct kubelet *k, const char *name)
{
	for (size_t i = 0; i < k->nprocs; i++) {
		if (!strcmp(k->procs[i]->name, name))
			return k->procs[i];
	}
	return NULL;
}

static struct kl_proc *kl_add(struct kubelet *k, const char *name, enum kl_kind kind)
{
	struct kl_proc **grown = realloc(k->procs, (k->nprocs + 1) * sizeof(*grown));
	struct kl_proc *p = calloc(1, sizeof(*p));

	if (grown)
		k->procs = grown;
	if (!grown || !p) {
		free(p);
		return NULL;
	}
	str_fmt(p->name, sizeof(p->name), "%s", name);
	p->kind = kind;
	p->exit_code = p->exit_signal = -1;
	p->sandbox_fd = -1;
	k->procs[k->nprocs++] = p;
	return p;
}

static void kl_env_clear(struct kl_proc *p)
{
	for (size_t i = 0; p->env[i]; i++) {
		free(p->env[i]);
		p->env[i] = NULL;
	}
}

static void kl_remove(struct kubelet *k, size_t i)
{
	struct kl_proc *p = k->procs[i];
	/* A sandbox half made (its child killed mid-ADD) is torn down as a whole one: DEL is
	 * idempotent. */
	bool net = p->kind == KL_POD && (p->net_ready || p->sandbox_pid > 0);
	char pidf[PATH_MAX];

	kl_sandbox_abort(p);
	kl_kill(p);
	kl_pidfile(k, p, pidf, sizeof(pidf));
	unlink(pidf);
	/* StopPodSandbox: CNI DEL, then its netns goes. */
	if (net)
		cni_sandbox_remove(&k->c, k->n, &p->pod);
	sandbox_free(&p->pod);
	kl_env_clear(p);
	free(p);
	memmove(&k->procs[i], &k->procs[i + 1], (k->nprocs - i - 1) * sizeof(*k->procs));
	k->nprocs--;
	if (net)
		kl_sandboxes_publish(k);
}

static cJSON *kl_proc_json(const struct kl_proc *p)
{
	cJSON *o = cJSON_CreateObject(), *last;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", p->name);
	/* A pod whose sandbox is not made yet is ContainerCreating, whatever its back-off. */
	cJSON_AddStringToObject(o, "state",
				p->kind == KL_POD && !p->net_ready &&
					(p->state == KL_BACKOFF || p->state == KL_PENDING)
				    ? "ContainerCreating"
				    : kl_state_names[p->state]);
	cJSON_AddNumberToObject(o, "pid", p->pid);
	if (p->old_pid > 0)
		cJSON_AddNumberToObject(o, "replacedPid", p->old_pid);
	cJSON_AddNumberToObject(o, "restarts", p->restarts);
	if (p->kind == KL_POD)
		cJSON_AddStringToObject(o, "restartPolicy",
					config_restart_policy_name(p->pod.restart));
	cJSON_AddStringToObject(o, "reason", p->reason);
	if (p->started_at)
		cJSON_AddNumberToObject(o, "startedAt", (double)p->started_at);
	if (p->state == KL_BACKOFF) {
		uint64_t now = clock_mono_ms();

		cJSON_AddNumberToObject(o, "restartInMs",
					p->restart_at_ms > now ? (double)(p->restart_at_ms - now)
							       : 0);
	}
	if (!p->finished_at)
		return o;
	last = cJSON_AddObjectToObject(o, "lastExit");
	if (!last)
		return o;
	if (p->exit_code >= 0)
		cJSON_AddNumberToObject(last, "exitCode", p->exit_code);
	else
		cJSON_AddNullToObject(last, "exitCode");
	if (p->exit_signal >= 0)
		cJSON_AddNumberToObject(last, "signal", p->exit_signal);
	else
		cJSON_AddNullToObject(last, "signal");
	cJSON_AddBoolToObject(last, "startError", !p->exited);
	cJSON_AddNumberToObject(last, "finishedAt", (double)p->finished_at);
	return o;
}

static cJSON *kl_status(const struct kubelet *k)
{
	cJSON *res = cJSON_CreateObject(), *comps, *pods;

	if (!res)
		return NULL;
	cJSON_AddNumberToObject(res, "pid", getpid());
	comps = cJSON_AddArrayToObject(res, "components");
	pods = cJSON_AddArrayToObject(res, "pods");
	for (size_t i = 0; comps && pods && i < k->nprocs; i++) {
		cJSON *o = kl_proc_json(k->procs[i]);

		if (o)
			cJSON_AddItemToArray(k->procs[i]->kind == KL_POD ? pods : comps, o);
	}
	return res;
}

/* Adds a "pod" result line of a sync to @arr; a started pod's outcome comes with sync_fill. */
static void sync_result(cJSON *arr, const struct kl_proc *p)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return;
	}
	cJSON_AddStringToObject(o, "pod", p->name);
	cJSON_AddStringToObject(o, "node", p->pod.node);
	cJSON_AddStringToObject(o, "ip", p->pod.v6only ? p->pod.ip6 : p->pod.ip);
}

/* Whether a pod the sync @res started still has its sandbox being made. */
static bool sync_pending(struct kubelet *k, const cJSON *res)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "started"))
	{
		const struct kl_proc *p = kl_find(
		    k, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "pod")) ?: "");

		if (p && p->sandbox_pid > 0)
			return true;
	}
	return false;
}

/*
 * Each started pod of sync @res: its pid when it runs, else why not. A pod whose process was
 * started counts as started even if it has exited since (a crash loop's first run may end
 * before its sandbox's last waiter is answered): its exit is the pod's state, not a failure to
 * start.
 */
static void sync_fill(struct kubelet *k, cJSON *res)
{
	cJSON *it;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "started"))
	{
		const struct kl_proc *p = kl_find(
		    k, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "pod")) ?: "");

		if (!p)
			cJSON_AddStringToObject(it, "error", "removed from the node meanwhile");
		else if (p->state == KL_RUNNING)
			cJSON_AddNumberToObject(it, "pid", p->pid);
		else if (p->started_at)
			cJSON_AddStringToObject(it, "exited", p->reason);
		else
			cJSON_AddStringToObject(it, "error", p->reason);
	}
}

/* Whether NULL-ended string lists @a and @b are the same (NULL as empty). */
static bool kl_same_strings(char *const *a, char *const *b)
{
	size_t i = 0;

	for (; a && b && a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return !(a && a[i]) && !(b && b[i]);
}

/*
 * Whether pods @a and @b run the same process: command, variables, identity, privileges and
 * volumes (what a pod template says of its container). The sandbox's own (address, netns) are
 * the pod's and do not change with the template.
 */
static bool kl_same_spec(const struct sandbox *a, const struct sandbox *b)
{
	if (!kl_same_strings(a->argv, b->argv) || !kl_same_strings(a->env, b->env) ||
	    a->uid != b->uid || a->gid != b->gid || a->run_as_non_root != b->run_as_non_root ||
	    a->privileged != b->privileged || a->read_only_root != b->read_only_root ||
	    a->no_new_privs != b->no_new_privs || a->caps != b->caps ||
	    a->host_pid != b->host_pid || a->nvols != b->nvols)
		return false;
	for (size_t i = 0; i < a->nvols; i++)
		if (strcmp(a->vols[i].host, b->vols[i].host) ||
		    strcmp(a->vols[i].path, b->vols[i].path) || a->vols[i].ro != b->vols[i].ro)
			return false;
	return true;
}

/*
 * Pod @p's template changed (a Deployment applied with another command, say): a real cluster
 * replaces the pod; here the pod keeps its name, address and sandbox, and its process is
 * replaced as the pod's deletion would end it (killed at once), then started from the new
 * template with a fresh restart count. A pod stopped, or whose sandbox is still being made,
 * takes the new template when it starts.
 */
static bool kl_replace(struct kubelet *k, struct kl_proc *p)
{
	if (p->state == KL_STOPPED || !p->net_ready || p->sandbox_pid > 0)
		return false;
	kl_kill(p);
	pr_info("%s: its pod template changed: replaced", p->name);
	p->restarts = 0;
	p->backoff_ms = 0;
	p->started_at = 0;
	p->state = KL_PENDING;
	kl_start(k, p);
	return true;
}

/* The pods.json pods of this node: new ones start, gone ones die, running ones get new hosts. */
static cJSON *kl_sync(struct kubelet *k, char *err, size_t len)
{
	cJSON *pods = plan_read_pods_json(&k->c), *res, *started, *stopped, *pod;

	if (!pods) {
		str_fmt(err, len, "reading pods.json: %s", strerror(errno));
		return NULL;
	}
	res = cJSON_CreateObject();
	started = cJSON_AddArrayToObject(res, "started");
	stopped = cJSON_AddArrayToObject(res, "stopped");
	if (!res || !started || !stopped) {
		cJSON_Delete(res);
		cJSON_Delete(pods);
		str_fmt(err, len, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < k->nprocs; i++)
		k->procs[i]->seen = k->procs[i]->kind != KL_POD;
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(pods, "pods"))
	{
		struct sandbox s;
		struct kl_proc *p;
		char uid[520];

		if (sandbox_from_json(&k->c, pod, &s))
			continue;
		if (strcmp(s.node, k->n->name)) {
			sandbox_free(&s);
			continue;
		}
		str_fmt(uid, sizeof(uid), "%s/%s", s.namespace, s.name);
		p = kl_find(k, uid);
		if (p) {
			bool same = kl_same_spec(&p->pod, &s);

			sandbox_free(&p->pod);
			p->pod = s;
			p->seen = true;
			if (!same && kl_replace(k, p))
				sync_result(started, p);
			continue;
		}
		p = kl_add(k, uid, KL_POD);
		if (!p) {
			sandbox_free(&s);
			continue;
		}
		p->pod = s;
		p->seen = true;
		kl_start(k, p);
		sync_result(started, p);
	}
	for (size_t i = k->nprocs; i-- > 0;) {
		if (k->procs[i]->seen)
			continue;
		sync_result(stopped, k->procs[i]);
		pr_info("%s: removed from the node", k->procs[i]->name);
		kl_remove(k, i);
	}
	cJSON_Delete(pods);
	return res;
}

/* The variables of a start request replace the last ones. 0, or -E2BIG / -ENOMEM. */
static int kl_env_set(struct kl_proc *p, const cJSON *env)
{
	const cJSON *e;
	size_t n = 0;

	kl_env_clear(p);
	cJSON_ArrayForEach(e, env)
	{
		if (!cJSON_IsString(e) || !e->string[0] || strchr(e->string, '='))
			continue;
		if (n == KL_MAX_ENV)
			return -E2BIG;
		if (asprintf(&p->env[n], "%s=%s", e->string, e->valuestring) < 0) {
			p->env[n] = NULL;
			return -ENOMEM;
		}
		n++;
	}
	return 0;
}

/*
 * surge: a second process of @p beside the running one (which becomes old_pid); retire: SIGTERM
 * to old_pid. Only the ztunnel hands over its listeners: a second agent would wait.
 */
static cJSON *kl_surge(struct kubelet *k, struct kl_proc *p, const char *op, char *err, size_t len)
{
	cJSON *res;
	int old = p->pid;

	if (p->kind != KL_ZTUNNEL) {
		str_fmt(err, len, "only the ztunnel is upgraded in place");
		return NULL;
	}
	if (!strcmp(op, "retire")) {
		if (p->old_pid <= 0) {
			str_fmt(err, len, "no replaced ztunnel runs");
			return NULL;
		}
		kill(p->old_pid, SIGTERM);
		pr_info("%s: SIGTERM to the replaced pid %d", p->name, p->old_pid);
		res = cJSON_CreateObject();
		cJSON_AddNumberToObject(res, "oldPid", p->old_pid);
		return res;
	}
	if (p->state != KL_RUNNING || p->old_pid > 0) {
		str_fmt(err, len, "%s is %s", p->name,
			p->old_pid > 0 ? "upgrading already" : kl_state_names[p->state]);
		return NULL;
	}
	p->old_pid = old;
	if (kl_spawn(k, p)) {
		str_fmt(err, len, "%s", p->reason);
		p->pid = old;
		p->old_pid = 0;
		p->state = KL_RUNNING;
		return NULL;
	}
	pr_info("%s: pid %d started beside pid %d, which it replaces", p->name, p->pid, old);
	res = cJSON_CreateObject();
	cJSON_AddNumberToObject(res, "pid", p->pid);
	cJSON_AddNumberToObject(res, "oldPid", old);
	return res;
}

/* start / stop of the agent or the ztunnel; a start's @env (may be NULL) replaces its variables. */
static cJSON *kl_component(struct kubelet *k, const char *op, const char *what, const cJSON *req,
			   char *err, size_t len)
{
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(req, "env");
	struct kl_proc *p = kl_find(k, what);
	cJSON *res;

	if (!p || p->kind == KL_POD) {
		str_fmt(err, len, "no component %s (agent or ztunnel)", what);
		return NULL;
	}
	if (!strcmp(op, "surge") || !strcmp(op, "retire"))
		return kl_surge(k, p, op, err, len);
	if (!strcmp(op, "stop")) {
		const char *why =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "reason"));
		int pid = p->pid;
		char pidf[PATH_MAX];

		p->state = KL_STOPPED;
		/* graceful: a pod deleted, its process given SIGTERM and reaped by kl_reap. */
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "graceful")) && pid > 0)
			kill(pid, SIGTERM);
		else
			kl_kill(p);
		if (p->old_pid > 0)
			kill(p->old_pid, SIGKILL); /* reaped by kl_reap */
		str_fmt(p->reason, sizeof(p->reason), "%s",
			why ? why : "stopped by ambitctl local stop");
		kl_pidfile(k, p, pidf, sizeof(pidf));
		unlink(pidf);
		pr_info("%s: stopped (pid %d) until started", p->name, pid);
		res = cJSON_CreateObject();
		cJSON_AddNumberToObject(res, "pid", pid);
		return res;
	}
	if (p->state != KL_RUNNING && kl_env_set(p, env)) {
		str_fmt(err, len, "more than %d variables, or out of memory", KL_MAX_ENV);
		return NULL;
	}
	if (p->state != KL_RUNNING) {
		/* Asked for by the user: start now, with a fresh back-off. */
		p->backoff_ms = 0;
		if (kl_spawn(k, p)) {
			/* Not retried: what the user asked for failed, and they are told why. */
			p->state = KL_FAILED;
			str_fmt(err, len, "%s", p->reason);
			return NULL;
		}
	}
	res = cJSON_CreateObject();
	cJSON_AddNumberToObject(res, "pid", p->pid);
	return res;
}

static void kl_reply(int fd, cJSON *result, const char *err)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddBoolToObject(o, "ok", result != NULL);
	if (result)
		cJSON_AddItemToObject(o, "result", result);
	else
		cJSON_AddStringToObject(o, "error", err[0] ? err : "out of memory");
	text = cJSON_PrintUnformatted(o);
	if (text)
		ipc_write_frame(fd, text, strlen(text));
	free(text);
	cJSON_Delete(o);
}

/* Answers the sync requests whose pods' sandboxes are all made or failed. */
static void kl_waits_flush(struct kubelet *k)
{
	for (size_t i = k->nwaits; i-- > 0;) {
		struct kl_wait *w = &k->waits[i];

		if (sync_pending(k, w->res))
			continue;
		sync_fill(k, w->res);
		kl_reply(w->fd, w->res, "");
		close(w->fd);
		*w = k->waits[--k->nwaits];
	}
}

/* A sync whose new pods' sandboxes are being made is answered when they are (kl_waits_flush). */
static bool kl_wait_add(struct kubelet *k, int fd, cJSON *res)
{
	struct kl_wait *grown;

	if (!sync_pending(k, res))
		return false;
	grown = realloc(k->waits, (k->nwaits + 1) * sizeof(*grown));
	if (!grown)
		return false; /* answered now, with the pods still ContainerCreating */
	k->waits = grown;
	k->waits[k->nwaits++] = (struct kl_wait){.fd = fd, .res = res};
	return true;
}

static void kl_serve(struct kubelet *k)
{
	struct timeval tv = {.tv_sec = 5};
	char *req = NULL, err[512] = "";
	cJSON *root = NULL, *res = NULL;
	const char *op, *what;
	size_t len;
	int fd = accept4(k->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* A client that never sends must not stall the node's supervision. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (ipc_read_frame(fd, &req, &len))
		goto out;
	root = cJSON_Parse(req);
	op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "op"));
	what = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "what"));
	if (!op)
		str_fmt(err, sizeof(err), "malformed request");
	else if (!strcmp(op, "status"))
		res = kl_status(k);
	else if (!strcmp(op, "sync"))
		res = kl_sync(k, err, sizeof(err));
	else if ((!strcmp(op, "start") || !strcmp(op, "stop") || !strcmp(op, "surge") ||
		  !strcmp(op, "retire")) &&
		 what)
		res = kl_component(k, op, what, root, err, sizeof(err));
	else
		str_fmt(err, sizeof(err), "unknown op %s", op);
	if (res && !strcmp(op, "sync") && kl_wait_add(k, fd, res))
		fd = -1; /* answered by kl_waits_flush */
	else if (res && !strcmp(op, "sync"))
		sync_fill(k, res);
	if (fd >= 0)
		kl_reply(fd, res, err);
out:
	cJSON_Delete(root);
	free(req);
	if (fd >= 0)
		close(fd);
}

static void kl_signal(struct kubelet *k)
{
	struct signalfd_siginfo si;

	while (read(k->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			kl_reap(k);
		else
			k->quit = true; /* the processes stay: a restarted kubelet finds them */
	}
	/* Coalesced SIGCHLDs: reap whatever else ended. */
	kl_reap(k);
}

static int kl_setup(struct kubelet *k)
{
	struct epoll_event ev = {.events = EPOLLIN};
	const char *env = getenv("AMBIT_KUBELET_BACKOFF_MS");
	char pidf[PATH_MAX], txt[32];
	sigset_t mask;

	k->base_ms = env && atoi(env) > 0 ? (uint64_t)atoi(env) : KL_BACKOFF_BASE_MS;
	if (!kl_add(k, "agent", KL_AGENT) || !kl_add(k, "ztunnel", KL_ZTUNNEL))
		return -ENOMEM;
	/* The CA Deployment's one replica, scheduled on the first node; up before the agents. */
	if (k->c.kube && k->n->index == 1) {
		struct kl_proc *ca = kl_add(k, "ambit-ca", KL_CA);

		if (!ca)
			return -ENOMEM;
		if (!cluster_uninstalled(&k->c, NULL, 0))
			kl_start(k, ca);
	}
	/* Uninstalled (and the node rebooted since): the mesh's components stay down. */
	for (size_t i = 0; cluster_uninstalled(&k->c, NULL, 0) && i < k->nprocs; i++) {
		if (k->procs[i]->kind == KL_AGENT)
			continue; /* the node's Service proxy (local/mesh.c) */
		k->procs[i]->state = KL_STOPPED;
		str_fmt(k->procs[i]->reason, sizeof(k->procs[i]->reason),
			"ambit is uninstalled from the cluster (istioctl install brings it back)");
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	k->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	k->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	k->epfd = epoll_create1(EPOLL_CLOEXEC);
	k->lfd = ipc_listen(k->n->kubelet_socket);
	if (k->sigfd < 0 || k->timerfd < 0 || k->epfd < 0)
		return -errno;
	if (k->lfd < 0) {
		pr_err("listen on %s: %s", k->n->kubelet_socket, strerror(-k->lfd));
		return k->lfd;
	}
	ev.data.fd = k->sigfd;
	epoll_ctl(k->epfd, EPOLL_CTL_ADD, k->sigfd, &ev);
	ev.data.fd = k->timerfd;
	epoll_ctl(k->epfd, EPOLL_CTL_ADD, k->timerfd, &ev);
	ev.data.fd = k->lfd;
	epoll_ctl(k->epfd, EPOLL_CTL_ADD, k->lfd, &ev);
	cluster_path(&k->c, pidf, sizeof(pidf), "%s/kubelet.pid", k->n->name);
	str_fmt(txt, sizeof(txt), "%d\n", getpid());
	return write_file_atomic(pidf, txt);
}

int local_kubelet(const struct ctl_opts *o)
{
	struct kubelet k = {.epfd = -1, .sigfd = -1, .timerfd = -1, .lfd = -1};
	int ret;

	log_init("kubelet", LOG_LEVEL_INFO);
	ret = cluster_load(&k.c, o->cluster);
	if (ret) {
		pr_err("cluster %s: %s", o->cluster, strerror(-ret));
		return ret;
	}
	k.n = o->node ? cluster_node(&k.c, o->node) : NULL;
	if (!k.n) {
		pr_err("no node %s in cluster %s", o->node ? o->node : "(--node)", k.c.name);
		return -ENOENT;
	}
	ret = kl_setup(&k);
	if (ret)
		goto out;
	pr_info("supervising node %s (back-off %llu ms doubling to %llu ms)", k.n->name,
		(unsigned long long)k.base_ms, (unsigned long long)k.base_ms * KL_BACKOFF_CAP);
	while (!k.quit) {
		struct epoll_event evs[4];
		int n = epoll_wait(k.epfd, evs, 4, -1);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == k.sigfd) {
				kl_signal(&k);
			} else if (evs[i].data.fd == k.timerfd) {
				uint64_t ticks;

				if (read(k.timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					pr_warn("timerfd: %s", strerror(errno));
				kl_run_due(&k);
			} else if (evs[i].data.fd == k.lfd) {
				kl_serve(&k);
			}
		}
		kl_waits_flush(&k);
		kl_arm(&k);
	}
	pr_info("exiting; the node's processes keep running unsupervised");
out:
	for (size_t i = 0; i < k.nwaits; i++) {
		close(k.waits[i].fd);
		cJSON_Delete(k.waits[i].res);
	}
	free(k.waits);
	for (size_t i = 0; i < k.nprocs; i++) {
		sandbox_free(&k.procs[i]->pod);
		free(k.procs[i]);
	}
	free(k.procs);
	cJSON_Delete(k.tmpl[0]);
	cJSON_Delete(k.tmpl[1]);
	if (k.lfd >= 0)
		unlink(k.n->kubelet_socket);
	return ret;
}
