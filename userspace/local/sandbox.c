// SPDX-License-Identifier: Apache-2.0
/*
 * A pod of the local cluster isolated as a container would be (docs/DESIGN.md §6): its own
 * mount, pid, uts and ipc namespaces; the host's files read-only; private writable /tmp, /run
 * and /var (an overlay on the host's /var, so nginx finds /var/lib/nginx and writes
 * /var/log/nginx to the pod); a /dev, /proc and /sys of its own; none of ambit's run dir, CA,
 * agent socket or BPF pins; the user and capabilities of a Kubernetes container, with its
 * securityContext. The kubelet builds this for the pod's main process and `local exec` enters
 * it, as kubectl exec enters a container.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "local.h"

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200 /* Linux 6.5's; Debian 12's headers predate it */
#endif

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static bool jbool(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* A non-negative id of the securityContext, or -1 when null or absent. */
static long long jid(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 2147483647.0
		   ? (long long)v->valuedouble
		   : -1;
}

static int argv_from_json(const cJSON *cmd, struct sandbox *s)
{
	static const char *const idle[] = {"sleep", "infinity", NULL};
	int n = cJSON_IsArray(cmd) ? cJSON_GetArraySize(cmd) : 0;
	const cJSON *it;
	int i = 0;

	/* A pod without a command idles, as a pause container would. */
	s->argv = calloc((size_t)(n ? n : 2) + 1, sizeof(*s->argv));
	if (!s->argv)
		return -ENOMEM;
	if (!n) {
		for (i = 0; idle[i]; i++)
			if (!(s->argv[i] = strdup(idle[i])))
				return -ENOMEM;
		return 0;
	}
	cJSON_ArrayForEach(it, cmd)
	{
		if (!cJSON_IsString(it))
			return -EINVAL;
		if (!(s->argv[i++] = strdup(it->valuestring)))
			return -ENOMEM;
	}
	return 0;
}

/* Under a directory the pod gets a fresh file system on, so it must be carried over. */
bool sandbox_masked(const char *p)
{
	static const char *const roots[] = {"/tmp", "/run", "/dev", "/proc", "/sys"};

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		size_t n = strlen(roots[i]);

		if (!strncmp(p, roots[i], n) && (p[n] == '/' || p[n] == '\0'))
			return true;
	}
	return false;
}

int sandbox_from_json(const struct ctl_cluster *c, const cJSON *pod, struct sandbox *s)
{
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(pod, "securityContext");
	const cJSON *it;
	const char *rp = jstr(pod, "restartPolicy");
	long long uid, gid;
	int ret;

	memset(s, 0, sizeof(*s));
	if (str_fmt(s->namespace, sizeof(s->namespace), "%s", jstr(pod, "namespace")) ||
	    str_fmt(s->name, sizeof(s->name), "%s", jstr(pod, "name")) ||
	    str_fmt(s->node, sizeof(s->node), "%s", jstr(pod, "node")) ||
	    str_fmt(s->ip6, sizeof(s->ip6), "%s", jstr(pod, "ip6")) ||
	    (jstr(pod, "ip")[0] ? str_fmt(s->ip, sizeof(s->ip), "%s", jstr(pod, "ip"))
				: cluster_pod_slot(s->ip6, s->ip, sizeof(s->ip))) ||
	    str_fmt(s->iface, sizeof(s->iface), "%s", jstr(pod, "hostIface")) ||
	    str_fmt(s->cgroup, sizeof(s->cgroup), "%s", jstr(pod, "cgroup")) || !s->namespace[0] ||
	    !s->name[0] || s->cgroup[0] != '/')
		return -EINVAL;
	s->v6only = !jstr(pod, "ip")[0];
	ret = 0;
	if (jstr(pod, "netns")[0])
		ret = str_fmt(s->netns, sizeof(s->netns), "%s", jstr(pod, "netns"));
	else
		cluster_pod_netns(c, s->namespace, s->name, s->netns, sizeof(s->netns));
	if (ret ||
	    cluster_path(c, s->pod_dir, sizeof(s->pod_dir), "pods/%s_%s", s->namespace, s->name) ||
	    cluster_path(c, s->var_dir, sizeof(s->var_dir), "pods/%s_%s.rootfs", s->namespace,
			 s->name) ||
	    str_fmt(s->container_cg, sizeof(s->container_cg), "%s/" SANDBOX_CONTAINER_CG,
		    s->cgroup) ||
	    str_fmt(s->cwd, sizeof(s->cwd), "%s", c->src_dir[0] ? c->src_dir : "/") ||
	    str_fmt(s->hosts, sizeof(s->hosts), "/etc/netns/%s/hosts", s->netns) ||
	    str_fmt(s->resolv, sizeof(s->resolv), "/etc/netns/%s/resolv.conf", s->netns))
		return -ENAMETOOLONG;
	ret = argv_from_json(cJSON_GetObjectItemCaseSensitive(pod, "command"), s);
	/*
	 * --kube: a waypoint's socket to its node's agent, from the DaemonSet's /run/ambit, at
	 * the path the waypoint template mounts it (hostPath /run/ambit/waypoints/<ns>_<pod>).
	 */
	if (!ret && c->kube && jstr(pod, "agentDir")[0])
		ret = mkdir_p(jstr(pod, "agentDir"), 0755);
	if (!ret && c->kube && jstr(pod, "agentDir")[0])
		ret =
		    sandbox_add_volume(s, jstr(pod, "agentDir"), SANDBOX_WAYPOINT_AGENT_DIR, false);
	if (ret) {
		sandbox_free(s);
		return ret;
	}
	/* The tree's tools (bench servers, flood generators, the waypoint) as the host's own. */
	if (self_dir(s->bin_dir, sizeof(s->bin_dir)) || !sandbox_masked(s->bin_dir))
		s->bin_dir[0] = '\0';
	sandbox_exe_dir(s);
	s->restart = !strcmp(rp, "Never")	? CONFIG_RESTART_NEVER
		     : !strcmp(rp, "OnFailure") ? CONFIG_RESTART_ON_FAILURE
						: CONFIG_RESTART_ALWAYS;
	uid = jid(sec, "runAsUser");
	gid = jid(sec, "runAsGroup");
	s->uid = uid < 0 ? 0 : (unsigned int)uid;
	/* Without runAsGroup a container gets its user's group from the image: here, the host. */
	if (gid < 0) {
		struct passwd *pw = getpwuid(s->uid);

		gid = pw ? pw->pw_gid : 0;
	}
	s->gid = (unsigned int)gid;
	s->run_as_non_root = jbool(sec, "runAsNonRoot");
	s->privileged = jbool(sec, "privileged");
	s->read_only_root = jbool(sec, "readOnlyRootFilesystem");
	s->no_new_privs =
	    cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(sec, "allowPrivilegeEscalation"));
	s->caps = CONFIG_CAPS_DEFAULT;
	if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(sec, "capabilities"))) {
		s->caps = 0;
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(sec, "capabilities"))
		{
			int bit =
			    cJSON_IsString(it) ? config_capability_parse(it->valuestring) : -1;

			if (bit >= 0)
				s->caps |= UINT64_C(1) << bit;
		}
	}
	return 0;
}

void sandbox_exe_dir(struct sandbox *s)
{
	char *slash;

	s->exe_dir[0] = '\0';
	if (!s->argv || !s->argv[0] || s->argv[0][0] != '/' || !sandbox_masked(s->argv[0]))
		return;
	str_fmt(s->exe_dir, sizeof(s->exe_dir), "%s", s->argv[0]);
	slash = strrchr(s->exe_dir, '/');
	if (slash == s->exe_dir)
		s->exe_dir[0] = '\0'; /* /tmp itself is no directory to share */
	else
		*slash = '\0';
}

int sandbox_add_volume(struct sandbox *s, const char *host, const char *path, bool ro)
{
	struct sandbox_volume *grown;

	if (s->nvols == SANDBOX_MAX_VOLS)
		return -E2BIG;
	grown = realloc(s->vols, (s->nvols + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	s->vols = grown;
	/* /var/run is /run on the hosts (and images) this runs on: mount where it leads. */
	grown[s->nvols].path = !strncmp(path, "/var/run/", 9) ? strdup(path + 4) : strdup(path);
	grown[s->nvols].host = strdup(host);
	grown[s->nvols].ro = ro;
	s->nvols++;
	return grown[s->nvols - 1].path && grown[s->nvols - 1].host ? 0 : -ENOMEM;
}

void sandbox_free(struct sandbox *s)
{
	for (size_t i = 0; s->argv && s->argv[i]; i++)
		free(s->argv[i]);
	free(s->argv);
	s->argv = NULL;
	for (size_t i = 0; i < s->nvols; i++) {
		free(s->vols[i].host);
		free(s->vols[i].path);
	}
	free(s->vols);
	s->vols = NULL;
	s->nvols = 0;
	for (size_t i = 0; s->env && s->env[i]; i++)
		free(s->env[i]);
	free(s->env);
	s->env = NULL;
}

int sandbox_check(const struct sandbox *s, char *why, size_t len)
{
	/* The kubelet's CreateContainerConfigError, worded as it is. */
	if (s->run_as_non_root && s->uid == 0) {
		str_fmt(why, len,
			"container has runAsNonRoot and would run as root (set runAsUser to a "
			"non-zero uid)");
		return -EPERM;
	}
	return 0;
}

/* Records the failed step and errno (as -errno) into @why. */
static int step_fail(char *why, size_t len, const char *step, const char *path)
{
	int err = errno ? errno : EIO;

	snprintf(why, len, "%s %s: %s", step, path, strerror(err));
	return -err;
}

#define STEP(expr, step, path)                                                                     \
	do {                                                                                       \
		if ((expr) < 0)                                                                    \
			return step_fail(why, len, step, path);                                    \
	} while (0)

static int attr_set(int dfd, const char *path, unsigned int flags, uint64_t set, uint64_t clr)
{
	struct mount_attr a = {.attr_set = set, .attr_clr = clr};

	return mount_setattr(dfd, path, flags, &a, sizeof(a));
}

/* Decodes the \ooo escapes of a /proc/self/mountinfo field in place. */
static void mountinfo_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * A copy of a netns bind mount (ip netns add makes one per namespace in /run/netns) would keep
 * that namespace, its veth and its address alive for as long as this pod lives, long after
 * `ip netns del`: detach every nsfs mount the new mount namespace inherited.
 */
static int detach_nsfs(char *why, size_t len)
{
	char *info = read_file("/proc/self/mountinfo", NULL), *save = NULL;

	if (!info)
		return step_fail(why, len, "read", "/proc/self/mountinfo");
	for (char *line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sep = strstr(line, " - "), *f[5] = {0}, *fs_save = NULL;
		int n = 0;

		if (!sep || strncmp(sep + 3, "nsfs ", 5))
			continue;
		for (char *t = strtok_r(line, " ", &fs_save); t && n < 5;
		     t = strtok_r(NULL, " ", &fs_save))
			f[n++] = t;
		if (n < 5)
			continue;
		mountinfo_unescape(f[4]);
		/* EINVAL/ENOENT: already gone with a parent detached before it. */
		if (umount2(f[4], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
			int ret = step_fail(why, len, "detach", f[4]);

			free(info);
			return ret;
		}
	}
	free(info);
	return 0;
}

/* A /dev as runc makes one: the harmless devices, a private devpts, /dev/shm, the fd links. */
static int private_dev(char *why, size_t len)
{
	static const struct {
		const char *name;
		unsigned int major, minor;
	} devs[] = {{"null", 1, 3},   {"zero", 1, 5},	 {"full", 1, 7},
		    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
	static const char *const links[][2] = {{"pts/ptmx", "/dev/ptmx"},
					       {"/proc/self/fd", "/dev/fd"},
					       {"/proc/self/fd/0", "/dev/stdin"},
					       {"/proc/self/fd/1", "/dev/stdout"},
					       {"/proc/self/fd/2", "/dev/stderr"}};
	char path[64];

	if (umount2("/dev", MNT_DETACH) < 0 && errno != EINVAL)
		return step_fail(why, len, "detach", "/dev");
	STEP(mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
	     "mount tmpfs on", "/dev");
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		snprintf(path, sizeof(path), "/dev/%s", devs[i].name);
		STEP(mknod(path, S_IFCHR | 0666, makedev(devs[i].major, devs[i].minor)), "mknod",
		     path);
		/* mknod honours the umask: make the mode what containers get. */
		STEP(chmod(path, 0666), "chmod", path);
	}
	STEP(mkdir("/dev/pts", 0755), "mkdir", "/dev/pts");
	STEP(mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		   "newinstance,ptmxmode=0666,mode=0620"),
	     "mount devpts on", "/dev/pts");
	STEP(mkdir("/dev/shm", 01777), "mkdir", "/dev/shm");
	STEP(mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		   "mode=1777,size=65536k"),
	     "mount tmpfs on", "/dev/shm");
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		STEP(symlink(links[i][0], links[i][1]), "symlink", links[i][1]);
	return 0;
}

/* /proc of the pod's pid namespace, with the paths containerd masks or makes read-only. */
static int private_proc(bool privileged, char *why, size_t len)
{
	static const char *const ro[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
					 "/proc/bus", "/proc/fs"};
	static const char *const masked_files[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list",
						   "/proc/sched_debug"};
	static const char *const masked_dirs[] = {"/proc/acpi", "/proc/scsi"};

	STEP(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
	     "mount proc on", "/proc");
	if (privileged)
		return 0;
	/* A root pod without CAP_SYS_ADMIN could still write kernel.* sysctls through /proc/sys. */
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		if (access(ro[i], F_OK) < 0)
			continue;
		STEP(mount(ro[i], ro[i], NULL, MS_BIND | MS_REC, NULL), "bind", ro[i]);
		STEP(attr_set(AT_FDCWD, ro[i], AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0), "read-only",
		     ro[i]);
	}
	for (size_t i = 0; i < sizeof(masked_files) / sizeof(masked_files[0]); i++) {
		if (access(masked_files[i], F_OK) == 0)
			STEP(mount("/dev/null", masked_files[i], NULL, MS_BIND, NULL), "mask",
			     masked_files[i]);
	}
	for (size_t i = 0; i < sizeof(masked_dirs) / sizeof(masked_dirs[0]); i++) {
		if (access(masked_dirs[i], F_OK) == 0)
			STEP(mount("tmpfs", masked_dirs[i], "tmpfs", MS_RDONLY, NULL), "mask",
			     masked_dirs[i]);
	}
	return 0;
}

/* Attaches detached tree @fd at @path (made on the pod's tmpfs); read-only if asked. */
static int attach(int fd, const char *path, bool ro, char *why, size_t len)
{
	struct stat st;
	int ret;

	if (fstat(fd, &st) < 0)
		return step_fail(why, len, "stat", path);
	if (S_ISDIR(st.st_mode)) {
		ret = mkdir_p(path, 0755);
		if (ret) {
			errno = -ret;
			return step_fail(why, len, "mkdir", path);
		}
	}
	/* No device node made in it may be opened (see sandbox_mounts). */
	STEP(attr_set(fd, "", AT_EMPTY_PATH | AT_RECURSIVE,
		      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | (ro ? MOUNT_ATTR_RDONLY : 0), 0),
	     ro ? "read-only" : "nodev", path);
	STEP(move_mount(fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH), "mount", path);
	return 0;
}

static int sandbox_var(const struct sandbox *s, char *why, size_t len)
{
	char opts[PATH_MAX * 2 + 64];

	/* The host's /var stays the lower layer; what the pod writes lands in its rootfs dir. */
	if (str_fmt(opts, sizeof(opts), "lowerdir=/var,upperdir=%s/var,workdir=%s/work", s->var_dir,
		    s->var_dir)) {
		errno = ENAMETOOLONG;
		return step_fail(why, len, "overlay", s->var_dir);
	}
	STEP(mount("overlay", "/var", "overlay", MS_NOSUID | MS_NODEV, opts), "mount overlay on",
	     "/var");
	return 0;
}

/*
 * The mount point of a volume at @path, never made in the host's tree: the top directory it
 * lies in (/etc for /etc/ambit/root) gets an overlay with its upper layer in the pod's rootfs
 * dir, as a container's image would hold the directory. Runs before /run and /tmp are hidden;
 * a path under those (or /sys, /proc) is made once they are fresh. @tops lists the top
 * directories overlaid so far (/var by sandbox_var).
 */
static int volume_point(const struct sandbox *s, const char *path, char (*tops)[64], size_t *ntops,
			char *why, size_t len)
{
	char top[64], up[PATH_MAX + 80], work[PATH_MAX + 80], opts[PATH_MAX * 2 + 300];
	const char *slash = strchr(path + 1, '/');
	size_t i;

	if (sandbox_masked(path) || access(path, F_OK) == 0)
		return 0;
	if (str_fmt(top, sizeof(top), "%.*s", slash ? (int)(slash - path) : (int)strlen(path),
		    path)) {
		errno = ENAMETOOLONG;
		return step_fail(why, len, "mount", path);
	}
	for (i = 0; i < *ntops && strcmp(tops[i], top); i++)
		;
	if (i == *ntops) {
		if (*ntops == SANDBOX_MAX_VOLS + 1 ||
		    str_fmt(up, sizeof(up), "%s%s", s->var_dir, top) ||
		    str_fmt(work, sizeof(work), "%s%s.work", s->var_dir, top) ||
		    str_fmt(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", top, up,
			    work) ||
		    mkdir_p(up, 0755) || mkdir_p(work, 0700)) {
			errno = ENAMETOOLONG;
			return step_fail(why, len, "overlay", top);
		}
		STEP(mount("overlay", top, "overlay", MS_NOSUID | MS_NODEV, opts),
		     "mount overlay on", top);
		str_fmt(tops[(*ntops)++], sizeof(tops[0]), "%s", top);
	}
	if (mkdir_p(path, 0755)) {
		errno = EROFS;
		return step_fail(why, len, "mkdir", path);
	}
	return 0;
}

int sandbox_mounts(const struct sandbox *s, char *why, size_t len)
{
	int pod_fd, cwd_fd = -1, exe_fd = -1, bin_fd = -1, hosts_fd = -1, resolv_fd = -1, ret;
	int vol_fd[SANDBOX_MAX_VOLS];
	unsigned int clone = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;

	if (s->nvols > SANDBOX_MAX_VOLS) {
		errno = E2BIG;
		return step_fail(why, len, "mount", "volumes");
	}

	/* Nothing done here may reach the host's mount table. */
	STEP(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make private", "/");
	/* What stays visible under the fresh /run and /tmp, taken before they hide it. */
	pod_fd = open_tree(AT_FDCWD, s->pod_dir, clone);
	if (pod_fd < 0)
		return step_fail(why, len, "open", s->pod_dir);
	if (sandbox_masked(s->cwd) &&
	    (cwd_fd = open_tree(AT_FDCWD, s->cwd, clone | AT_RECURSIVE)) < 0)
		return step_fail(why, len, "open", s->cwd);
	if (s->exe_dir[0] && (exe_fd = open_tree(AT_FDCWD, s->exe_dir, clone)) < 0)
		return step_fail(why, len, "open", s->exe_dir);
	if (s->bin_dir[0] && strcmp(s->bin_dir, s->exe_dir) &&
	    (bin_fd = open_tree(AT_FDCWD, s->bin_dir, clone)) < 0)
		return step_fail(why, len, "open", s->bin_dir);
	if (access(s->hosts, F_OK) == 0 && (hosts_fd = open_tree(AT_FDCWD, s->hosts, clone)) < 0)
		return step_fail(why, len, "open", s->hosts);
	if (s->resolv[0] && access(s->resolv, F_OK) == 0 &&
	    (resolv_fd = open_tree(AT_FDCWD, s->resolv, clone)) < 0)
		return step_fail(why, len, "open", s->resolv);
	for (size_t i = 0; i < s->nvols; i++) {
		/* Recursive: a host's /sys/fs/bpf may hold mounts of its own, as a bpffs does. */
		vol_fd[i] = open_tree(AT_FDCWD, s->vols[i].host, clone | AT_RECURSIVE);
		if (vol_fd[i] < 0)
			return step_fail(why, len, "open", s->vols[i].host);
	}
	ret = detach_nsfs(why, len);
	if (ret)
		return ret;
	/* Replaced below by the pod's own: drops bpffs, cgroupfs and the host's pids with them. */
	STEP(umount2("/sys", MNT_DETACH), "detach", "/sys");
	STEP(umount2("/proc", MNT_DETACH), "detach", "/proc");
	if (!s->read_only_root && (ret = sandbox_var(s, why, len)))
		return ret;
	char tops[SANDBOX_MAX_VOLS + 1][64] = {"/var"};
	size_t ntops = s->read_only_root ? 0 : 1;

	for (size_t i = 0; i < s->nvols; i++) {
		ret = volume_point(s, s->vols[i].path, tops, &ntops, why, len);
		if (ret)
			return ret;
	}
	STEP(attr_set(AT_FDCWD, "/", AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0), "read-only", "/");
	if (!s->read_only_root)
		STEP(attr_set(AT_FDCWD, "/var", 0, 0, MOUNT_ATTR_RDONLY), "read-write", "/var");
	STEP(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"), "mount tmpfs on",
	     "/tmp");
	STEP(mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"), "mount tmpfs on",
	     "/run");
	STEP(mkdir("/run/lock", 01777), "mkdir", "/run/lock");
	if (s->privileged) {
		STEP(attr_set(AT_FDCWD, "/dev", AT_RECURSIVE, 0, MOUNT_ATTR_RDONLY), "read-write",
		     "/dev");
	} else {
		ret = private_dev(why, len);
		if (ret)
			return ret;
		/*
		 * A pod keeps CAP_MKNOD (containerd's default) but no device cgroup guards the
		 * host's disks here: every place it can write is nodev, and its /dev, once made,
		 * is read-only.
		 */
		STEP(attr_set(AT_FDCWD, "/dev", 0, MOUNT_ATTR_RDONLY, 0), "read-only", "/dev");
	}
	STEP(mount("sysfs", "/sys", "sysfs",
		   MS_NOSUID | MS_NODEV | MS_NOEXEC | (s->privileged ? 0 : MS_RDONLY), NULL),
	     "mount sysfs on", "/sys");
	ret = private_proc(s->privileged, why, len);
	if (!ret)
		ret = attach(pod_fd, s->pod_dir, false, why, len);
	if (!ret && cwd_fd >= 0)
		ret = attach(cwd_fd, s->cwd, true, why, len);
	if (!ret && exe_fd >= 0)
		ret = attach(exe_fd, s->exe_dir, true, why, len);
	if (!ret && bin_fd >= 0)
		ret = attach(bin_fd, s->bin_dir, true, why, len);
	for (size_t i = 0; !ret && i < s->nvols; i++)
		ret = attach(vol_fd[i], s->vols[i].path, s->vols[i].ro, why, len);
	if (!ret && hosts_fd >= 0 && !(ret = attach(hosts_fd, "/etc/hosts", false, why, len)))
		STEP(attr_set(AT_FDCWD, "/etc/hosts", 0, MOUNT_ATTR_RDONLY, 0), "read-only",
		     "/etc/hosts");
	/* The cluster's DNS, as the kubelet writes a pod's (a symlinked host file is replaced). */
	if (!ret && resolv_fd >= 0) {
		struct stat st;

		if (!lstat("/etc/resolv.conf", &st) && S_ISLNK(st.st_mode)) {
			errno = ELOOP;
			return step_fail(why, len, "mount on", "/etc/resolv.conf (a symlink)");
		}
		if (!(ret = attach(resolv_fd, "/etc/resolv.conf", false, why, len)))
			STEP(attr_set(AT_FDCWD, "/etc/resolv.conf", 0, MOUNT_ATTR_RDONLY, 0),
			     "read-only", "/etc/resolv.conf");
	}
	/* readOnlyRootFilesystem: what a container writes outside its volumes is refused too. */
	if (!ret && s->read_only_root) {
		STEP(attr_set(AT_FDCWD, "/tmp", 0, MOUNT_ATTR_RDONLY, 0), "read-only", "/tmp");
		STEP(attr_set(AT_FDCWD, "/run", 0, MOUNT_ATTR_RDONLY, 0), "read-only", "/run");
	}
	/* Like a pod's hostname: its name (63 bytes at most, as the kubelet truncates it). */
	if (!ret)
		STEP(sethostname(s->name, strnlen(s->name, 63)), "sethostname", s->name);
	return ret;
}

static int capset_inheritable_none(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[0].inheritable = d[1].inheritable = 0;
	return (int)syscall(SYS_capset, &h, d);
}

int sandbox_identity(const struct sandbox *s, char *why, size_t len)
{
	char what[32];
	gid_t gid = s->gid;

	/* The bounding set is what root keeps across exec; a non-root user keeps nothing. */
	for (int cap = 0; cap < 64; cap++) {
		if (cap <= CONFIG_CAP_LAST && (s->caps & (UINT64_C(1) << cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			snprintf(what, sizeof(what), "%d", cap);
			return step_fail(why, len, "drop capability", what);
		}
	}
	STEP(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear", "ambient caps");
	STEP(capset_inheritable_none(), "clear", "inheritable caps");
	if (s->no_new_privs)
		STEP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set", "no_new_privs");
	snprintf(what, sizeof(what), "%u:%u", s->uid, s->gid);
	STEP(setgroups(1, &gid), "setgroups", what);
	STEP(setresgid(s->gid, s->gid, s->gid), "setresgid", what);
	STEP(setresuid(s->uid, s->uid, s->uid), "setresuid", what);
	return 0;
}

void sandbox_env(const struct sandbox *s)
{
	struct passwd *pw = getpwuid(s->uid);

	/*
	 * A container's environment is its image's and its spec's, never that of whoever started
	 * the node (a secret exported in `local up`'s shell): start from none.
	 */
	clearenv();
	setenv("PATH", SANDBOX_PATH, 1);
	setenv("POD_NAME", s->name, 1);
	setenv("POD_NAMESPACE", s->namespace, 1);
	setenv("POD_IP", s->v6only ? s->ip6 : s->ip, 1);
	setenv("NODE_NAME", s->node, 1);
	setenv("AMBIT_POD_DIR", s->pod_dir, 1);
	/* What a container's HOSTNAME says; HOME as the runtime sets it from the "image"'s
	 * passwd (here the host's), "/" for a user it does not know. */
	setenv("HOSTNAME", s->name, 1);
	setenv("HOME", pw && pw->pw_dir ? pw->pw_dir : "/", 1);
	for (char *const *e = s->env; e && *e; e++)
		putenv(*e);
}
