// SPDX-License-Identifier: Apache-2.0
/*
 * A pod template's container as the kubelet of a `local up --kube` cluster runs it: the
 * DaemonSet's agent and ztunnel, the CA Deployment's server, read from the API server as
 * `ambitctl install` put them there. What the container gets is what the template says:
 *   - command and args, with $(VAR) expanded from its env as the kubelet does; the image's
 *     /usr/local/bin/<binary> is this build's binary (the image holds the same ones);
 *   - env: values and the downward API (spec.nodeName, status.hostIP(s), metadata.name, ...), and
 *     KUBERNETES_SERVICE_HOST/PORT pointing at the API server;
 *   - the pod's and the container's securityContext: user, group, capabilities (drop ALL then
 *     add), read-only root, no privilege escalation;
 *   - hostNetwork (the node's netns), hostPID (no pid namespace of its own);
 *   - volumes: a hostPath is the node's own (/sys/fs/bpf, /sys/fs/cgroup and /run/ambit are
 *     directories of this node, see cluster_set_kube), a Secret or ConfigMap is written from the
 *     API into the pod's directory, and the service-account token is projected at
 *     /var/run/secrets/kubernetes.io/serviceaccount.
 * A pod without hostNetwork (the CA) still runs in its node's netns: the local cluster gives the
 * control plane's pods no pod network of their own.
 * Anything else a template could ask (another volume type, a secretKeyRef) is refused by name,
 * so the local cluster never runs something other than what a node would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/crypto.h"
#include "kubelet.h"
#include "k8s/kconn.h"
#include "k8s/kmanifest.h"

#define SA_MOUNT "/var/run/secrets/kubernetes.io/serviceaccount"

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A name=value pair appended to the NULL-ended @env (*n entries). 0 or -ENOMEM. */
static int env_add(char ***env, size_t *n, const char *name, const char *value)
{
	char **grown = realloc(*env, (*n + 2) * sizeof(**env));
	size_t l = strlen(name) + strlen(value) + 2;

	if (!grown)
		return -ENOMEM;
	*env = grown;
	grown[*n] = malloc(l);
	if (!grown[*n])
		return -ENOMEM;
	snprintf(grown[*n], l, "%s=%s", name, value);
	grown[++*n] = NULL;
	return 0;
}

/* The value of $(NAME) (@name, @nlen bytes) among @env, or NULL. */
static const char *env_find(char *const *env, const char *name, size_t nlen)
{
	for (size_t i = 0; env && env[i]; i++) {
		if (!strncmp(env[i], name, nlen) && env[i][nlen] == '=')
			return env[i] + nlen + 1;
	}
	return NULL;
}

/*
 * @in with the kubelet's expansion: $(NAME) of a variable the container defines becomes its
 * value, $$ is one $, and any other $(...) stays as written. malloc'd, or NULL.
 */
char *kpod_expand(const char *in, char *const *env)
{
	size_t cap = strlen(in) + 1, n = 0;
	char *out = malloc(cap);

	for (const char *p = in; out && *p;) {
		const char *val = NULL, *close;
		size_t vl = 1;

		if (p[0] == '$' && p[1] == '$') {
			val = "$";
			p += 2;
		} else if (p[0] == '$' && p[1] == '(' && (close = strchr(p + 2, ')')) &&
			   (val = env_find(env, p + 2, (size_t)(close - p - 2)))) {
			p = close + 1;
		} else {
			val = p++;
		}
		if (val != p - 1)
			vl = strlen(val);
		if (n + vl + 1 > cap) {
			char *grown = realloc(out, cap = (n + vl + 1) * 2);

			if (!grown) {
				free(out);
				return NULL;
			}
			out = grown;
		}
		memcpy(out + n, val, vl);
		n += vl;
	}
	if (out)
		out[n] = '\0';
	return out;
}

struct kpod_ctx {
	const struct ctl_cluster *c;
	const struct ctl_node *n;
	const struct kconn *k;
	const char *ns, *pod, *sa;
	char *why;
	size_t len;
};

static int refuse(const struct kpod_ctx *x, const char *fmt, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, what ? what : "(none)");
	str_fmt(x->why, x->len, "%s/%s: %s", x->ns, x->pod, msg);
	return -EINVAL;
}

static int env_build(const struct kpod_ctx *x, const cJSON *ctr, struct sandbox *s)
{
	size_t n = 0;
	const cJSON *e;
	char port[8];
	int ret;

	str_fmt(port, sizeof(port), "%d", CTL_KUBE_API_PORT);
	ret = env_add(&s->env, &n, "KUBERNETES_SERVICE_HOST", cluster_fabric_ip(x->c));
	ret = ret ?: env_add(&s->env, &n, "KUBERNETES_SERVICE_PORT", port);
	cJSON_ArrayForEach(e, get(ctr, "env"))
	{
		const char *name = str(e, "name"), *val = str(e, "value"),
			   *field = kjson_str(get(e, "valueFrom"), "fieldRef", "fieldPath");
		char *exp = NULL, ips[CTL_NODE_IPS_MAX];

		if (ret || !name)
			return ret ?: refuse(x, "an env entry without a name%s", "");
		if (!val && field) {
			/* The plural fields list both families, IPv4 first, comma-separated. */
			node_host_ips(x->n, ips, sizeof(ips));
			val = !strcmp(field, "spec.nodeName")		  ? x->n->name
			      : !strcmp(field, "status.hostIP")		  ? node_host_ip(x->n)
			      : !strcmp(field, "status.hostIPs")	  ? ips
			      : !strcmp(field, "status.podIPs")		  ? ips
			      : !strcmp(field, "status.podIP")		  ? node_host_ip(x->n)
			      : !strcmp(field, "metadata.name")		  ? x->pod
			      : !strcmp(field, "metadata.namespace")	  ? x->ns
			      : !strcmp(field, "spec.serviceAccountName") ? x->sa
									  : NULL;
			if (!val)
				return refuse(x, "env fieldRef %s: not one the local kubelet gives",
					      field);
		} else if (!val && get(e, "valueFrom")) {
			return refuse(x, "env %s: only value and fieldRef are supported", name);
		}
		/* A value may name the variables before it, as $(NODE_NAME). */
		exp = kpod_expand(val ? val : "", s->env);
		ret = exp ? env_add(&s->env, &n, name, exp) : -ENOMEM;
		free(exp);
	}
	return ret;
}

static int argv_build(const struct kpod_ctx *x, const cJSON *ctr, struct sandbox *s)
{
	const cJSON *cmd = get(ctr, "command"), *args = get(ctr, "args"), *it;
	int total = cJSON_GetArraySize(cmd) + cJSON_GetArraySize(args), i = 0;

	if (!cJSON_IsArray(cmd) || !cJSON_GetArraySize(cmd))
		return refuse(x,
			      "container %s has no command (the image's entrypoint is not "
			      "known here)",
			      str(ctr, "name"));
	s->argv = calloc((size_t)total + 1, sizeof(*s->argv));
	if (!s->argv)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		const cJSON *list = pass ? args : cmd;

		cJSON_ArrayForEach(it, list)
		{
			if (!cJSON_IsString(it))
				return refuse(x, "container %s: a command or arg is no string",
					      str(ctr, "name"));
			s->argv[i] = kpod_expand(it->valuestring, s->env);
			if (!s->argv[i++])
				return -ENOMEM;
		}
	}
	/* The image's binaries are this build's. */
	if (!strncmp(s->argv[0], "/usr/local/bin/", 15)) {
		char bin[PATH_MAX];

		if (cluster_image_bin(s->argv[0] + 15, bin, sizeof(bin)))
			return refuse(x, "no binary of this build for the image's %s", s->argv[0]);
		free(s->argv[0]);
		if (!(s->argv[0] = strdup(bin)))
			return -ENOMEM;
	}
	return 0;
}

static int security(const struct kpod_ctx *x, const cJSON *spec, const cJSON *ctr,
		    struct sandbox *s)
{
	const cJSON *psc = get(spec, "securityContext"), *csc = get(ctr, "securityContext");
	const cJSON *caps = get(csc, "capabilities"), *it;
	const cJSON *uid = get(csc, "runAsUser") ?: get(psc, "runAsUser");
	const cJSON *gid = get(csc, "runAsGroup") ?: get(psc, "runAsGroup");
	const cJSON *nonroot = get(csc, "runAsNonRoot") ?: get(psc, "runAsNonRoot");

	s->uid = cJSON_IsNumber(uid) ? (unsigned int)uid->valuedouble : 0;
	s->gid = cJSON_IsNumber(gid) ? (unsigned int)gid->valuedouble : 0;
	s->run_as_non_root = cJSON_IsTrue(nonroot);
	s->privileged = cJSON_IsTrue(get(csc, "privileged"));
	s->read_only_root = cJSON_IsTrue(get(csc, "readOnlyRootFilesystem"));
	s->no_new_privs = cJSON_IsFalse(get(csc, "allowPrivilegeEscalation"));
	s->caps = CONFIG_CAPS_DEFAULT;
	for (int add = 0; add < 2; add++) {
		cJSON_ArrayForEach(it, get(caps, add ? "add" : "drop"))
		{
			const char *name = cJSON_IsString(it) ? it->valuestring : "";
			int bit;

			if (!add && !strcmp(name, "ALL")) {
				s->caps = 0;
				continue;
			}
			bit = config_capability_parse(name);
			if (bit < 0)
				return refuse(x, "unknown capability %s", name);
			if (add)
				s->caps |= UINT64_C(1) << bit;
			else
				s->caps &= ~(UINT64_C(1) << bit);
		}
	}
	if (s->privileged)
		s->caps = ~UINT64_C(0);
	return 0;
}

/* The node's directory for hostPath @path, or NULL when the local node has none. */
static const char *host_path(const struct ctl_node *n, const char *path)
{
	if (!strcmp(path, "/sys/fs/bpf"))
		return n->host_bpffs;
	if (!strcmp(path, "/sys/fs/cgroup"))
		return n->host_cgroup;
	if (!strcmp(path, CTL_RUN_BASE))
		return n->host_run;
	return NULL;
}

/* Writes the data of Secret or ConfigMap @name into directory @dir, one file per key. */
static int write_data(const struct kpod_ctx *x, bool secret, const char *name, const char *dir)
{
	char path[PATH_MAX], *resp = NULL;
	const cJSON *it;
	cJSON *obj;
	long code;
	int ret = 0;

	str_fmt(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", x->ns,
		secret ? "secrets" : "configmaps", name);
	/* No server (it is away: cluster_kube_enter failed) is no answer, as an unreachable one. */
	code = x->k->server ? kube_call(x->k, "GET", path, NULL, &resp) : 0;
	obj = code == 200 ? cJSON_Parse(resp) : NULL;
	free(resp);
	/*
	 * A kubelet keeps a pod's volumes while the API server is away: a container restarted
	 * then gets what it had. Only a volume never written is an error.
	 */
	if (!obj && code != 404 && access(dir, F_OK) == 0)
		return 0;
	if (!obj) {
		str_fmt(x->why, x->len, "%s/%s: %s %s: HTTP %ld", x->ns, x->pod,
			secret ? "Secret" : "ConfigMap", name, code);
		return -EIO;
	}
	rm_rf(dir);
	ret = mkdir_p(dir, 0755);
	cJSON_ArrayForEach(it, get(obj, "data"))
	{
		char file[PATH_MAX], *dec = NULL;
		const char *val = cJSON_IsString(it) ? it->valuestring : NULL;

		if (ret || !val || strchr(it->string, '/') || it->string[0] == '.')
			continue;
		if (secret && crypto_base64_decode(val, &dec) < 0) {
			ret = -EINVAL;
			break;
		}
		str_fmt(file, sizeof(file), "%s/%s", dir, it->string);
		ret = write_file_atomic(file, secret ? dec : val);
		if (!ret)
			chmod(file, 0644);
		if (dec) {
			explicit_bzero(dec, strlen(dec));
			free(dec);
		}
	}
	cJSON_Delete(obj);
	if (ret)
		str_fmt(x->why, x->len, "%s/%s: writing %s: %s", x->ns, x->pod, dir,
			strerror(-ret));
	return ret;
}

static int volumes(const struct kpod_ctx *x, const cJSON *spec, const cJSON *ctr, struct sandbox *s)
{
	const cJSON *m, *v;
	char dir[PATH_MAX];
	int ret = 0;

	cJSON_ArrayForEach(m, get(ctr, "volumeMounts"))
	{
		const char *name = str(m, "name"), *at = str(m, "mountPath"), *host = NULL;
		bool ro = cJSON_IsTrue(get(m, "readOnly"));

		if (!name || !at || at[0] != '/')
			return refuse(x, "a volumeMount without name or absolute mountPath%s", "");
		cJSON_ArrayForEach(
		    v, get(spec, "volumes")) if (!strcmp(str(v, "name") ?: "", name)) break;
		if (!v)
			return refuse(x, "volumeMount %s names no volume", name);
		str_fmt(dir, sizeof(dir), "%s/volumes/%s", s->pod_dir, name);
		if (get(v, "hostPath")) {
			const char *p = kjson_str(v, "hostPath", "path");

			host = p ? host_path(x->n, p) : NULL;
			if (!host)
				return refuse(x, "hostPath %s: not a path the local node provides",
					      p);
			ret = mkdir_p(host, 0755);
		} else if (get(v, "secret") || get(v, "configMap")) {
			bool secret = get(v, "secret") != NULL;
			const char *obj = secret ? kjson_str(v, "secret", "secretName")
						 : kjson_str(v, "configMap", "name");

			if (!obj)
				return refuse(x, "volume %s names no object", name);
			ret = write_data(x, secret, obj, dir);
			host = dir;
		} else {
			return refuse(
			    x, "volume %s: only hostPath, secret and configMap are supported",
			    name);
		}
		ret = ret ?: sandbox_add_volume(s, host, at, ro);
		if (ret)
			return ret;
	}
	/* automountServiceAccountToken: the token `local up` made for the account (cluster.c). */
	if (!cJSON_IsFalse(get(spec, "automountServiceAccountToken"))) {
		cluster_path(x->c, dir, sizeof(dir), "kube/sa/%s_%s_%s", x->n->name, x->ns, x->sa);
		if (access(dir, F_OK))
			return refuse(x, "no token for service account %s", x->sa);
		ret = sandbox_add_volume(s, dir, SA_MOUNT, true);
	}
	return ret;
}

int kpod_sandbox(const struct ctl_cluster *c, const struct ctl_node *n, const struct kconn *k,
		 const char *ns, const cJSON *tmpl, const char *container, const char *pod,
		 struct sandbox *s, char *why, size_t len)
{
	const cJSON *spec = get(tmpl, "spec"), *ctr;
	struct kpod_ctx x = {.c = c, .n = n, .k = k, .ns = ns, .pod = pod, .why = why, .len = len};
	char path[PATH_MAX + 8];
	int ret;

	memset(s, 0, sizeof(*s));
	x.sa = str(spec, "serviceAccountName") ?: "default";
	cJSON_ArrayForEach(
	    ctr, get(spec, "containers")) if (!strcmp(str(ctr, "name") ?: "", container)) break;
	if (!ctr)
		return refuse(&x, "the template has no container %s", container);
	if (str_fmt(s->namespace, sizeof(s->namespace), "%s", ns) ||
	    str_fmt(s->name, sizeof(s->name), "%s", pod) ||
	    str_fmt(s->node, sizeof(s->node), "%s", n->name) ||
	    str_fmt(s->ip, sizeof(s->ip), "%s", n->ip) ||
	    str_fmt(s->ip6, sizeof(s->ip6), "%s", n->ip6) ||
	    str_fmt(s->netns, sizeof(s->netns), "%s", n->netns) ||
	    str_fmt(s->cgroup, sizeof(s->cgroup), "%s", n->system_cg) ||
	    str_fmt(s->container_cg, sizeof(s->container_cg), "%s", n->system_cg) ||
	    cluster_path(c, s->pod_dir, sizeof(s->pod_dir), "%s/kpods/%s_%s_%s", n->name, ns, pod,
			 container) ||
	    str_fmt(s->var_dir, sizeof(s->var_dir), "%s.rootfs", s->pod_dir) ||
	    str_fmt(s->cwd, sizeof(s->cwd), "/") ||
	    str_fmt(s->hosts, sizeof(s->hosts), "/etc/netns/%s/hosts", n->netns))
		return -ENAMETOOLONG;
	s->restart = CONFIG_RESTART_ALWAYS;
	/* hostNetwork: POD_IP is the node's, its IPv6 alone in an IPv6 cluster. */
	s->v6only = n->pods_v6only;
	s->host_pid = cJSON_IsTrue(get(spec, "hostPID"));
	ret = mkdir_p(s->pod_dir, 0755);
	/* The upper and work dirs of its /var overlay (sandbox_mounts), as a pod's. */
	if (!ret && !(ret = str_fmt(path, sizeof(path), "%s/var", s->var_dir)))
		ret = mkdir_p(path, 0755);
	if (!ret && !(ret = str_fmt(path, sizeof(path), "%s/work", s->var_dir)))
		ret = mkdir_p(path, 0700);
	ret = ret ?: env_build(&x, ctr, s);
	ret = ret ?: argv_build(&x, ctr, s);
	ret = ret ?: security(&x, spec, ctr, s);
	ret = ret ?: volumes(&x, spec, ctr, s);
	if (!ret)
		sandbox_exe_dir(s);
	if (ret) {
		if (!why[0])
			str_fmt(why, len, "%s/%s: %s", ns, pod, strerror(-ret));
		sandbox_free(s);
	}
	return ret;
}
