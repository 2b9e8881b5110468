// SPDX-License-Identifier: Apache-2.0
/*
 * The CNI protocol of ambit-cni (cni.h): the configuration and environment checked as the
 * specification asks, the pod named from CNI_ARGS as the kubelet passes it, the agent asked over
 * its socket (include/ambit/ipc.h, the "cni" op), prevResult passed on as this plugin's result.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/nsfs.h>
#include <cjson/cJSON.h>

#include "ambit/ipc.h"
#include "cni.h"

/* The versions whose configuration and result this plugin reads: those with prevResult. */
static const char *const supported_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};

struct cni_req {
	const struct cni_env *env;
	cJSON *conf;		 /* the parsed configuration (owned) */
	const char *version;	 /* conf's cniVersion */
	const char *socket;	 /* agentSocket or the default */
	const char *kubeconfig;	 /* for judging a pod while the agent is away, or NULL */
	const cJSON *prev;	 /* conf's prevResult, or NULL */
	char ns[254], name[254]; /* from CNI_ARGS, "" when absent */
	char container[254];	 /* K8S_POD_INFRA_CONTAINER_ID, else CNI_CONTAINERID */
	int timeout_s;
	int nsfd; /* CNI_NETNS open (ADD), or -1 */
};

/* The specification's error object; always returns 1 (the exit status). */
static int cni_error(char **out, const char *version, int code, const char *msg,
		     const char *details)
{
	cJSON *o = cJSON_CreateObject();

	*out = NULL;
	if (o && cJSON_AddStringToObject(o, "cniVersion", version ? version : CNI_SPEC_VERSION) &&
	    cJSON_AddNumberToObject(o, "code", code) && cJSON_AddStringToObject(o, "msg", msg) &&
	    (!details || cJSON_AddStringToObject(o, "details", details)))
		*out = cJSON_Print(o);
	cJSON_Delete(o);
	return 1;
}

static bool version_supported(const char *v)
{
	for (size_t i = 0; i < sizeof(supported_versions) / sizeof(*supported_versions); i++)
		if (!strcmp(v, supported_versions[i]))
			return true;
	return false;
}

static int cmd_version(char **out)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_CreateStringArray(supported_versions, sizeof(supported_versions) /
								     sizeof(*supported_versions));

	*out = NULL;
	if (o && arr && cJSON_AddStringToObject(o, "cniVersion", CNI_SPEC_VERSION) &&
	    cJSON_AddItemToObject(o, "supportedVersions", arr)) {
		arr = NULL;
		*out = cJSON_Print(o);
	}
	cJSON_Delete(arr);
	cJSON_Delete(o);
	return *out ? 0 : cni_error(out, NULL, CNI_ERR_IO, "out of memory", NULL);
}

/*
 * CNI_ARGS is "K=V;K=V" (the kubelet's: IgnoreUnknown=1;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;
 * K8S_POD_INFRA_CONTAINER_ID=..;K8S_POD_UID=..). 0, or -EINVAL for a pair without "=" or a
 * value too long.
 */
static int parse_args(struct cni_req *r, const char *args)
{
	const char *p = args;

	while (p && *p) {
		const char *end = strchr(p, ';'), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *dst = NULL;
		size_t klen, vlen;

		eq = memchr(p, '=', len);
		if (!eq)
			return len ? -EINVAL : 0;
		klen = (size_t)(eq - p);
		vlen = len - klen - 1;
		if (klen == 17 && !strncmp(p, "K8S_POD_NAMESPACE", klen))
			dst = r->ns;
		else if (klen == 12 && !strncmp(p, "K8S_POD_NAME", klen))
			dst = r->name;
		else if (klen == 26 && !strncmp(p, "K8S_POD_INFRA_CONTAINER_ID", klen))
			dst = r->container;
		if (dst) {
			if (vlen >= sizeof(r->ns))
				return -EINVAL;
			memcpy(dst, eq + 1, vlen);
			dst[vlen] = '\0';
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

static bool excluded(const struct cni_req *r)
{
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r->conf, "excludeNamespaces");
	const cJSON *it;

	if (!ex)
		return !strcmp(r->ns, "kube-system");
	cJSON_ArrayForEach(it, ex) if (cJSON_IsString(it) &&
				       !strcmp(it->valuestring, r->ns)) return true;
	return false;
}

/* The configuration's fields this plugin reads, checked. 0 or an exit status with *@out. */
static int read_conf(struct cni_req *r, const char *in, size_t len, char **out)
{
	const cJSON *v, *name, *type, *sock, *ex, *to, *it, *kc;

	r->conf = cJSON_ParseWithLength(in, len);
	if (!r->conf || !cJSON_IsObject(r->conf))
		return cni_error(out, NULL, CNI_ERR_DECODE, "network configuration is not JSON",
				 "stdin must hold one JSON object");
	v = cJSON_GetObjectItemCaseSensitive(r->conf, "cniVersion");
	name = cJSON_GetObjectItemCaseSensitive(r->conf, "name");
	type = cJSON_GetObjectItemCaseSensitive(r->conf, "type");
	sock = cJSON_GetObjectItemCaseSensitive(r->conf, "agentSocket");
	ex = cJSON_GetObjectItemCaseSensitive(r->conf, "excludeNamespaces");
	to = cJSON_GetObjectItemCaseSensitive(r->conf, "timeoutSeconds");
	kc = cJSON_GetObjectItemCaseSensitive(r->conf, "kubeconfig");
	r->prev = cJSON_GetObjectItemCaseSensitive(r->conf, "prevResult");
	if (!cJSON_IsString(v))
		return cni_error(out, NULL, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				 "cniVersion must be a string");
	r->version = v->valuestring;
	if (!version_supported(r->version))
		return cni_error(out, NULL, CNI_ERR_INCOMPATIBLE_VERSION,
				 "incompatible CNI version",
				 "ambit-cni supports 0.3.0, 0.3.1, 0.4.0 and 1.0.0");
	if (!cJSON_IsString(name) || !name->valuestring[0] || !cJSON_IsString(type))
		return cni_error(out, r->version, CNI_ERR_INVALID_CONFIG,
				 "invalid network configuration", "name and type must be strings");
	if (sock && (!cJSON_IsString(sock) || sock->valuestring[0] != '/'))
		return cni_error(out, r->version, CNI_ERR_INVALID_CONFIG,
				 "invalid network configuration",
				 "agentSocket must be an absolute path");
	if (kc && (!cJSON_IsString(kc) || kc->valuestring[0] != '/'))
		return cni_error(out, r->version, CNI_ERR_INVALID_CONFIG,
				 "invalid network configuration",
				 "kubeconfig must be an absolute path");
	if (ex && !cJSON_IsArray(ex))
		return cni_error(out, r->version, CNI_ERR_INVALID_CONFIG,
				 "invalid network configuration",
				 "excludeNamespaces must be a list of names");
	cJSON_ArrayForEach(it, ex) if (!cJSON_IsString(it)) return cni_error(
	    out, r->version, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
	    "excludeNamespaces must be a list of names");
	if (to && (!cJSON_IsNumber(to) || to->valuedouble < 1 || to->valuedouble > 600))
		return cni_error(out, r->version, CNI_ERR_INVALID_CONFIG,
				 "invalid network configuration",
				 "timeoutSeconds must be a number from 1 to 600");
	if (r->prev && !cJSON_IsObject(r->prev))
		return cni_error(out, r->version, CNI_ERR_INVALID_CONFIG,
				 "invalid network configuration", "prevResult must be an object");
	r->socket = sock ? sock->valuestring : CNI_DEFAULT_AGENT_SOCKET;
	r->kubeconfig = kc ? kc->valuestring : NULL;
	r->timeout_s = to ? (int)to->valuedouble : CNI_DEFAULT_TIMEOUT_S;
	return 0;
}

/*
 * The addresses of prevResult ("10.0.0.2/24" -> "10.0.0.2", "fd00::2/64" -> "fd00::2"), for the
 * agent: it captures a pod by its IPv4 one, an IPv6-only pod by its IPv6 one.
 */
static cJSON *prev_ips(const cJSON *prev)
{
	const cJSON *ips = prev ? cJSON_GetObjectItemCaseSensitive(prev, "ips") : NULL;
	cJSON *arr = cJSON_CreateArray();
	const cJSON *it;

	cJSON_ArrayForEach(it, ips)
	{
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "address");
		char buf[64];
		char *slash;

		if (!cJSON_IsString(a) || strlen(a->valuestring) >= sizeof(buf))
			continue;
		strcpy(buf, a->valuestring);
		slash = strchr(buf, '/');
		if (slash)
			*slash = '\0';
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(buf)))
			break;
	}
	return arr;
}

/*
 * One round trip to the agent, waiting at most @wait_s for its answer. Returns 0 with *@reply
 * its parsed reply (caller frees), or -errno (-ENOENT, -ECONNREFUSED: no agent there).
 */
static int agent_ask(const struct cni_req *r, const char *cmd, int wait_s, cJSON **reply)
{
	struct timeval tv = {.tv_sec = wait_s};
	cJSON *req = cJSON_CreateObject();
	char *text = NULL, *ans = NULL;
	size_t len;
	int fd = -1, nsfd = -1, err = -ENOMEM;

	*reply = NULL;
	if (req && cJSON_AddStringToObject(req, "op", "cni") &&
	    cJSON_AddStringToObject(req, "cmd", cmd) &&
	    cJSON_AddStringToObject(req, "namespace", r->ns) &&
	    cJSON_AddStringToObject(req, "name", r->name) &&
	    cJSON_AddStringToObject(req, "container", r->container) &&
	    cJSON_AddStringToObject(req, "netns", r->env->netns ? r->env->netns : "") &&
	    cJSON_AddItemToObject(req, "ips", prev_ips(r->prev)) &&
	    cJSON_AddNumberToObject(req, "timeoutMs", (double)r->timeout_s * 1000))
		text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!text)
		return err;
	fd = ipc_connect(r->socket);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	/* The agent answers within timeoutMs; a hung agent must not hang the runtime. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		err = -errno;
		goto out;
	}
	/*
	 * ADD sends the namespace open too: the agent may not see the runtime's path (a
	 * DaemonSet's container), and an open namespace cannot be another one by the time it
	 * looks. Not there to open is the agent's to say (it still judges the namespace).
	 */
	if (!strcmp(cmd, "add"))
		nsfd = r->nsfd;
	err = ipc_write_frame_fd(fd, text, strlen(text), nsfd);
	if (!err)
		err = ipc_read_frame(fd, &ans, &len);
	if (!err && !(*reply = cJSON_ParseWithLength(ans, len)))
		err = -EBADMSG;
out:
	if (fd >= 0)
		close(fd);
	free(ans);
	free(text);
	return err;
}

/*
 * The agent's answer: 0 with *@captured, or an exit status with the error in *@out. No agent
 * listening (-ENOENT, -ECONNREFUSED) is *@away, for ADD to judge the pod without it.
 */
static int agent_judge(const struct cni_req *r, const char *cmd, bool *captured, char **out,
		       bool *away)
{
	const cJSON *ok, *res, *why;
	char details[600];
	cJSON *reply;
	int err;

	err = agent_ask(r, cmd, r->timeout_s + 5, &reply);
	*away = err == -ENOENT || err == -ECONNREFUSED;
	if (err) {
		snprintf(details, sizeof(details), "agent socket %s: %s", r->socket,
			 strerror(-err));
		return cni_error(out, r->version, CNI_ERR_TRY_AGAIN_LATER,
				 "ambit agent unreachable: the pod cannot be captured yet",
				 details);
	}
	ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
	res = cJSON_GetObjectItemCaseSensitive(reply, "result");
	why = cJSON_GetObjectItemCaseSensitive(reply, "error");
	if (!cJSON_IsTrue(ok) || !cJSON_IsObject(res)) {
		snprintf(details, sizeof(details), "%s",
			 cJSON_IsString(why) ? why->valuestring : "malformed reply from the agent");
		cJSON_Delete(reply);
		return cni_error(out, r->version, CNI_ERR_TRY_AGAIN_LATER,
				 "ambit agent did not capture the pod", details);
	}
	*captured = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "captured"));
	cJSON_Delete(reply);
	return 0;
}

/* prevResult, in the configuration's version, is this plugin's result (it adds nothing). */
static int pass_prev(const struct cni_req *r, char **out)
{
	cJSON *res = cJSON_Duplicate(r->prev, true);

	*out = NULL;
	if (res) {
		cJSON_DeleteItemFromObjectCaseSensitive(res, "cniVersion");
		if (cJSON_AddStringToObject(res, "cniVersion", r->version))
			*out = cJSON_Print(res);
	}
	cJSON_Delete(res);
	return *out ? 0 : cni_error(out, r->version, CNI_ERR_IO, "out of memory", NULL);
}

static bool is_pod(const struct cni_req *r)
{
	return r->ns[0] && r->name[0];
}

/*
 * ADD while the agent is away (@out its error): with a kubeconfig, a pod the API server shows
 * outside the mesh is not held for the agent; any other keeps the agent's error, with why.
 */
static int add_without_agent(struct cni_req *r, char **out)
{
	bool captured = true;
	char why[512] = "", details[1200];
	cJSON *e;
	int ret = r->kubeconfig
		      ? cni_api_judge(r->kubeconfig, r->ns, r->name, &captured, why, sizeof(why))
		      : -ENOENT;

	if (!ret && !captured) {
		free(*out);
		return pass_prev(r, out);
	}
	if (!r->kubeconfig)
		return 1;
	/* The agent's error, and what the API server said (or could not). */
	e = cJSON_Parse(*out ? *out : "");
	snprintf(details, sizeof(details), "%s; %s",
		 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "details")) ?: "",
		 ret ? why : "the API server shows the pod in the mesh");
	cJSON_Delete(e);
	free(*out);
	return cni_error(out, r->version, CNI_ERR_TRY_AGAIN_LATER,
			 "ambit agent unreachable: the pod cannot be captured yet", details);
}

/* What a file of mode @mode is, for an error naming it. */
static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFDIR: return "a directory";
	case S_IFREG: return "a regular file";
	}
	return "not a namespace";
}

/*
 * CNI_NETNS open in r->nsfd, to be sent to the agent: 0, or 1 with the error in *@out when the
 * path is there but no network namespace. Opened non-blocking (a FIFO would block the open
 * until a writer came, the runtime's call with it) and asked its type (nsfs answers
 * NS_GET_NSTYPE; any other file does not). A path that cannot be opened is the agent's to
 * judge, as before: r->nsfd stays -1.
 */
static int netns_open(struct cni_req *r, char **out)
{
	int fd = open(r->env->netns, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), type;
	char details[600];
	struct stat st;

	if (fd < 0)
		return 0;
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type == CLONE_NEWNET) {
		r->nsfd = fd;
		return 0;
	}
	if (type >= 0)
		snprintf(details, sizeof(details),
			 "CNI_NETNS %s: a namespace, but not a network one (type %#x)",
			 r->env->netns, (unsigned int)type);
	else
		snprintf(details, sizeof(details), "CNI_NETNS %s: %s, not a network namespace",
			 r->env->netns, fstat(fd, &st) ? strerror(errno) : file_kind(st.st_mode));
	close(fd);
	return cni_error(out, r->version, CNI_ERR_INVALID_ENV, "invalid environment", details);
}

static int cmd_add(struct cni_req *r, char **out)
{
	bool captured = false, away;
	int ret;

	if (!r->env->netns || !r->env->netns[0])
		return cni_error(out, r->version, CNI_ERR_INVALID_ENV, "invalid environment",
				 "CNI_NETNS is required for ADD");
	if (netns_open(r, out))
		return 1;
	if (!r->prev)
		return cni_error(out, r->version, CNI_ERR_INVALID_CONFIG,
				 "ambit-cni must be chained after the node's network plugins",
				 "no prevResult in the configuration");
	/* Not a Kubernetes pod (no name to judge) or excluded: never delayed. */
	if (!is_pod(r) || excluded(r))
		return pass_prev(r, out);
	ret = agent_judge(r, "add", &captured, out, &away);
	if (ret && away)
		return add_without_agent(r, out);
	if (ret)
		return ret;
	return pass_prev(r, out);
}

static int cmd_del(struct cni_req *r, char **out)
{
	bool captured, away;
	char *err = NULL;

	*out = NULL;
	if (!is_pod(r) || excluded(r))
		return 0;
	/*
	 * DEL never fails for want of the agent: the runtime would retry it forever, and an agent
	 * that restarts takes its pods from the pod list again (what DEL released is not there).
	 */
	if (agent_judge(r, "del", &captured, &err, &away)) {
		cJSON *e = cJSON_Parse(err ? err : "");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "details");

		fprintf(stderr, "ambit-cni: DEL %s/%s: %s (nothing to release)\n", r->ns, r->name,
			cJSON_IsString(d) ? d->valuestring : "agent not asked");
		cJSON_Delete(e);
		free(err);
	}
	return 0;
}

static int cmd_check(struct cni_req *r, char **out)
{
	bool captured = false, away;
	int ret;

	*out = NULL;
	if (!r->env->netns || !r->env->netns[0])
		return cni_error(out, r->version, CNI_ERR_INVALID_ENV, "invalid environment",
				 "CNI_NETNS is required for CHECK");
	if (netns_open(r, out))
		return 1;
	if (!r->prev)
		return cni_error(out, r->version, CNI_ERR_INVALID_CONFIG,
				 "ambit-cni must be chained after the node's network plugins",
				 "no prevResult in the configuration");
	if (!is_pod(r) || excluded(r))
		return 0;
	ret = agent_judge(r, "check", &captured, out, &away);
	return ret;
}

/*
 * The configuration and environment of an ADD, DEL or CHECK read into @r, as the specification
 * asks; 0, or the exit status with the error in *@out. Talks to nobody.
 */
static int prepare(struct cni_req *r, const struct cni_env *env, const char *in, size_t len,
		   char **out)
{
	int ret;

	*out = NULL;
	if (!env->command || !env->command[0])
		return cni_error(out, NULL, CNI_ERR_INVALID_ENV, "invalid environment",
				 "CNI_COMMAND is not set");
	ret = read_conf(r, in, len, out);
	if (ret)
		return ret;
	if (strcmp(env->command, "ADD") && strcmp(env->command, "DEL") &&
	    strcmp(env->command, "CHECK"))
		return cni_error(out, r->version, CNI_ERR_INVALID_ENV, "invalid environment",
				 "CNI_COMMAND must be ADD, DEL, CHECK or VERSION");
	if (!env->containerid || !env->containerid[0] || !env->ifname || !env->ifname[0])
		return cni_error(out, r->version, CNI_ERR_INVALID_ENV, "invalid environment",
				 "CNI_CONTAINERID and CNI_IFNAME are required");
	if (parse_args(r, env->args))
		return cni_error(out, r->version, CNI_ERR_INVALID_ENV, "invalid environment",
				 "CNI_ARGS must be KEY=VALUE pairs separated by ';'");
	if (!r->container[0])
		snprintf(r->container, sizeof(r->container), "%.*s", (int)sizeof(r->container) - 1,
			 env->containerid);
	return 0;
}

int cni_check_input(const struct cni_env *env, const char *in, size_t len, char **out)
{
	struct cni_req r = {.env = env, .nsfd = -1};
	int ret = prepare(&r, env, in, len, out);

	cJSON_Delete(r.conf);
	return ret;
}

int cni_run(const struct cni_env *env, const char *in, size_t len, char **out)
{
	struct cni_req r = {.env = env, .nsfd = -1};
	int ret;

	*out = NULL;
	if (env->command && !strcmp(env->command, "VERSION"))
		return cmd_version(out);
	ret = prepare(&r, env, in, len, out);
	if (ret)
		goto done;
	if (!strcmp(env->command, "ADD"))
		ret = cmd_add(&r, out);
	else if (!strcmp(env->command, "DEL"))
		ret = cmd_del(&r, out);
	else
		ret = cmd_check(&r, out);
done:
	if (r.nsfd >= 0)
		close(r.nsfd);
	cJSON_Delete(r.conf);
	return ret;
}
