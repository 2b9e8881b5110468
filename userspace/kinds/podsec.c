// SPDX-License-Identifier: Apache-2.0
/*
 * securityContext of pods and containers (core/v1 PodSecurityContext and SecurityContext): the
 * fields the local cluster honours are modelled (user, group, runAsNonRoot, capabilities,
 * privileged, readOnlyRootFilesystem, allowPrivilegeEscalation), the others validated only.
 * Capabilities are computed as containerd computes them for the CRI.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode/decode.h"

/* Indexed by capability number (<linux/capability.h>). */
static const char *const cap_names[CONFIG_CAP_LAST + 1] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

int config_capability_parse(const char *name)
{
	if (!strncasecmp(name, "CAP_", 4))
		name += 4;
	for (int i = 0; i <= CONFIG_CAP_LAST; i++) {
		if (!strcasecmp(name, cap_names[i]))
			return i;
	}
	return -1;
}

const char *config_capability_name(int bit)
{
	return bit >= 0 && bit <= CONFIG_CAP_LAST ? cap_names[bit] : NULL;
}

uint64_t config_security_caps(const struct config_security *s)
{
	uint64_t caps = CONFIG_CAPS_DEFAULT;

	if (s->privileged)
		return CONFIG_CAPS_ALL;
	/* containerd applies ALL first so that "add: [ALL], drop: [CHOWN]" means all but CHOWN. */
	if (s->cap_add_all)
		caps = CONFIG_CAPS_ALL;
	if (s->cap_drop_all)
		caps = 0;
	caps |= s->cap_add;
	caps &= ~s->cap_drop;
	return caps;
}

const char *config_restart_policy_name(enum config_restart_policy p)
{
	switch (p) {
	case CONFIG_RESTART_ON_FAILURE: return "OnFailure";
	case CONFIG_RESTART_NEVER: return "Never";
	default: return "Always";
	}
}

void cfg_podsec_init(struct cfg_podsec *s)
{
	memset(s, 0, sizeof(*s));
	s->run_as_user = -1;
	s->run_as_group = -1;
	s->run_as_non_root = -1;
	s->allow_escalation = -1;
}

/* Kubernetes keeps ids to the non-negative int32 range (validation.ValidateNonnegativeField). */
static int id_field(struct cfg_ctx *ctx, yaml_node_t *v, int64_t *out)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 2147483647, &n))
		return -EINVAL;
	if (out)
		*out = n;
	return 0;
}

static int sec_user(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return id_field(ctx, v, &((struct cfg_podsec *)obj)->run_as_user);
}

static int sec_group(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return id_field(ctx, v, &((struct cfg_podsec *)obj)->run_as_group);
}

static int sec_id(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return id_field(ctx, v, NULL);
}

static int sec_non_root(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	bool b;

	if (cfg_get_bool(ctx, v, &b))
		return -EINVAL;
	((struct cfg_podsec *)obj)->run_as_non_root = b;
	return 0;
}

static int sec_groups(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	int before = ctx->nerrors;

	for (size_t i = 0; i < cfg_seq_len(v); i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		id_field(ctx, cfg_seq_item(ctx, v, i), NULL);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int sec_proc_mount(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const ok[] = {"Default", "Unmasked", NULL};

	return cfg_check_enum(ctx, v, ok, NULL);
}

static const struct cfg_field pod_security_fields[] = {
    {"runAsUser", CFG_T_INT, sec_user, 0},
    {"runAsGroup", CFG_T_INT, sec_group, 0},
    {"runAsNonRoot", CFG_T_BOOL, sec_non_root, 0},
    {"supplementalGroups", CFG_T_SEQ, sec_groups, 0},
    {"supplementalGroupsPolicy", CFG_T_STR, NULL, 0},
    {"fsGroup", CFG_T_INT, sec_id, 0},
    {"fsGroupChangePolicy", CFG_T_STR, NULL, 0},
    {"sysctls", CFG_T_SEQ, NULL, 0},
    {"seccompProfile", CFG_T_MAP, NULL, 0},
    {"seLinuxOptions", CFG_T_MAP, NULL, 0},
    {"seLinuxChangePolicy", CFG_T_STR, NULL, 0},
    {"appArmorProfile", CFG_T_MAP, NULL, 0},
    {"windowsOptions", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* capabilities.add / drop: Linux capability names; "ALL" stands for every one. */
static int cap_list(struct cfg_ctx *ctx, yaml_node_t *v, bool *all, uint64_t *bits)
{
	int before = ctx->nerrors;

	if (cfg_seq_len(v) > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg_seq_len(v); i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		char *name = NULL;
		int bit;

		if (!cfg_get_str(ctx, item, &name)) {
			if (!strcasecmp(name, "ALL"))
				*all = true;
			else if ((bit = config_capability_parse(name)) >= 0)
				*bits |= UINT64_C(1) << bit;
			else
				cfg_error(ctx, item,
					  "\"%.64s\" is not a Linux capability (e.g. NET_ADMIN)",
					  name);
		}
		free(name);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int caps_add(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct cfg_podsec *s = obj;

	return cap_list(ctx, v, &s->cap_add_all, &s->cap_add);
}

static int caps_drop(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct cfg_podsec *s = obj;

	return cap_list(ctx, v, &s->cap_drop_all, &s->cap_drop);
}

static const struct cfg_field capabilities_fields[] = {
    {"add", CFG_T_SEQ, caps_add, 0},
    {"drop", CFG_T_SEQ, caps_drop, 0},
    {NULL, 0, NULL, 0},
};

static int sec_caps(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, capabilities_fields, obj);
}

static int sec_privileged(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_bool(ctx, v, &((struct cfg_podsec *)obj)->privileged);
}

static int sec_ro_root(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_bool(ctx, v, &((struct cfg_podsec *)obj)->read_only_root_fs);
}

static int sec_escalation(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	bool b;

	if (cfg_get_bool(ctx, v, &b))
		return -EINVAL;
	((struct cfg_podsec *)obj)->allow_escalation = b;
	return 0;
}

static const struct cfg_field container_security_fields[] = {
    {"runAsUser", CFG_T_INT, sec_user, 0},
    {"runAsGroup", CFG_T_INT, sec_group, 0},
    {"runAsNonRoot", CFG_T_BOOL, sec_non_root, 0},
    {"capabilities", CFG_T_MAP, sec_caps, 0},
    {"privileged", CFG_T_BOOL, sec_privileged, 0},
    {"readOnlyRootFilesystem", CFG_T_BOOL, sec_ro_root, 0},
    {"allowPrivilegeEscalation", CFG_T_BOOL, sec_escalation, 0},
    {"procMount", CFG_T_STR, sec_proc_mount, 0},
    {"seccompProfile", CFG_T_MAP, NULL, 0},
    {"seLinuxOptions", CFG_T_MAP, NULL, 0},
    {"appArmorProfile", CFG_T_MAP, NULL, 0},
    {"windowsOptions", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_podsec_pod(struct cfg_ctx *ctx, yaml_node_t *v, struct cfg_podsec *out)
{
	return cfg_walk_map(ctx, v, pod_security_fields, out);
}

int cfg_podsec_container(struct cfg_ctx *ctx, yaml_node_t *v, struct cfg_podsec *out)
{
	if (cfg_walk_map(ctx, v, container_security_fields, out))
		return -EINVAL;
	/* The API server refuses both combinations (core/v1 validation, same wording). */
	if (out->allow_escalation == 0 && out->privileged) {
		cfg_error(ctx, v,
			  "cannot set allowPrivilegeEscalation to false and privileged to true");
		return -EINVAL;
	}
	if (out->allow_escalation == 0 &&
	    (out->cap_add_all || (out->cap_add & (UINT64_C(1) << 21)))) {
		cfg_error(ctx, v,
			  "cannot set allowPrivilegeEscalation to false and capabilities.add "
			  "CAP_SYS_ADMIN");
		return -EINVAL;
	}
	return 0;
}

void cfg_podsec_merge(const struct cfg_podsec *pod, const struct cfg_podsec *ctr,
		      struct config_security *out)
{
	memset(out, 0, sizeof(*out));
	out->run_as_user = ctr->run_as_user >= 0 ? ctr->run_as_user : pod->run_as_user;
	out->run_as_group = ctr->run_as_group >= 0 ? ctr->run_as_group : pod->run_as_group;
	out->run_as_non_root =
	    (ctr->run_as_non_root >= 0 ? ctr->run_as_non_root : pod->run_as_non_root) == 1;
	out->privileged = ctr->privileged;
	out->read_only_root_fs = ctr->read_only_root_fs;
	out->no_new_privs = ctr->allow_escalation == 0;
	out->cap_add_all = ctr->cap_add_all;
	out->cap_drop_all = ctr->cap_drop_all;
	out->cap_add = ctr->cap_add;
	out->cap_drop = ctr->cap_drop;
}
