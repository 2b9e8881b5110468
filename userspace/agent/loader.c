// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's BPF loader, the only user of skeletons: loads capture and steer over maps pinned
 * under pin_root (so state survives an agent restart), pins the programs, and attaches the
 * cgroup programs as pinned bpf_links. A restarted agent swaps the program behind each existing
 * link (BPF_LINK_UPDATE) instead of attaching again, so live connections never see a gap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "l4/datapath_loader.h"
#include "capture.skel.h"
#include "steer.skel.h"

/* Fixed so that a restarted agent replaces its own filter rather than stacking a second one. */
#define LOADER_TC_HANDLE 0xa3b1
#define LOADER_TC_PRIORITY 1
/* lo, in every netns. */
#define LOADER_LO_IFINDEX 1

struct loader {
	struct capture_bpf *capture;
	struct steer_bpf *steer;
};

static void loader_release(void *p)
{
	struct loader *ld = p;

	if (!ld)
		return;
	capture_bpf__destroy(ld->capture);
	steer_bpf__destroy(ld->steer);
	free(ld);
}

static int loader_path(char *buf, size_t len, const char *pin_root, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", pin_root, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A pin left by the previous agent names the old program: replace it with this one. */
static int loader_pin_prog(struct bpf_program *prog, const char *pin_root, const char *name)
{
	char path[PATH_MAX];
	int err;

	err = loader_path(path, sizeof(path), pin_root, name);
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	err = bpf_program__pin(prog, path);
	if (err)
		pr_err("loader: cannot pin %s: %s", path, strerror(-err));
	return err;
}

/*
 * Reuses the pinned link at @path when it still attaches @prog's attach type to the cgroup of id
 * @id (a BPF_LINK_TYPE_CGROUP @type) or the netns of inode @id (BPF_LINK_TYPE_NETNS). Returns 0
 * when updated, -ESTALE when the pin must be replaced, or another -errno.
 */
static int loader_update_link(struct bpf_program *prog, const char *path, uint32_t type,
			      uint64_t id)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);
	struct bpf_link *link;
	int err;

	/* No pin yet (the first start) is the expected answer: libbpf's line for it is held. */
	log_libbpf_hold();
	link = bpf_link__open(path);
	err = link ? 0 : errno;
	log_libbpf_release(err && err != ENOENT);
	if (!link)
		return err == ENOENT ? -ENOENT : -ESTALE;
	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len);
	if (err || info.type != type ||
	    (type == BPF_LINK_TYPE_CGROUP
		 ? info.cgroup.cgroup_id != id ||
		       info.cgroup.attach_type != bpf_program__expected_attach_type(prog)
		 : info.netns.netns_ino != id ||
		       info.netns.attach_type != bpf_program__expected_attach_type(prog))) {
		err = -ESTALE;
		goto out;
	}
	err = bpf_link__update_program(link, prog);
	if (err) {
		pr_warn("loader: cannot update link %s (%s), attaching anew", path, strerror(-err));
		err = -ESTALE;
	}
out:
	/* Only closes our fd: the pin keeps the attachment. */
	bpf_link__destroy(link);
	return err;
}

/*
 * @prog as the pinned link @name on the cgroup @target_fd of id @id (a BPF_LINK_TYPE_CGROUP
 * @type) or on the netns @target_fd of inode @id (BPF_LINK_TYPE_NETNS: sk_lookup): updated in
 * place when that pin attaches it there already (an agent restart), else attached anew.
 */
static int loader_attach_link(struct bpf_program *prog, uint32_t type, int target_fd, uint64_t id,
			      const char *pin_root, const char *name)
{
	struct bpf_link *link;
	char path[PATH_MAX];
	int err;

	err = loader_path(path, sizeof(path), pin_root, name);
	if (err)
		return err;
	err = loader_update_link(prog, path, type, id);
	if (err == 0) {
		pr_info("loader: %s updated in place", path);
		return 0;
	}
	if (err == -ESTALE) {
		/* Unpinning a link nobody holds detaches it; the new one is attached right after.
		 */
		if (unlink(path) && errno != ENOENT)
			return -errno;
	} else if (err != -ENOENT) {
		return err;
	}
	link = type == BPF_LINK_TYPE_CGROUP ? bpf_program__attach_cgroup(prog, target_fd)
					    : bpf_program__attach_netns(prog, target_fd);
	if (!link) {
		err = -errno;
		pr_err("loader: cannot attach %s to the %s: %s", name,
		       type == BPF_LINK_TYPE_CGROUP ? "cgroup" : "netns", strerror(-err));
		return err;
	}
	err = bpf_link__pin(link, path);
	if (err)
		pr_err("loader: cannot pin %s: %s", path, strerror(-err));
	/* Closes our fd: pinned, the link stays; unpinned (error), it detaches as it should. */
	bpf_link__destroy(link);
	return err;
}

static int loader_attach_cgroup(struct bpf_program *prog, int cgroup_fd, uint64_t cgroup_id,
				const char *pin_root, const char *name)
{
	return loader_attach_link(prog, BPF_LINK_TYPE_CGROUP, cgroup_fd, cgroup_id, pin_root, name);
}

/* @prog (sk_lookup) on the agent's own netns, the node's, as the pinned link @name. */
static int loader_attach_netns(struct bpf_program *prog, const char *pin_root, const char *name)
{
	struct stat st;
	int err, fd;

	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	err = loader_attach_link(prog, BPF_LINK_TYPE_NETNS, fd, st.st_ino, pin_root, name);
	close(fd);
	return err;
}

/*
 * A map pinned by an older agent whose layout differs (e.g. `counters` grew with a new reason)
 * would make libbpf refuse to load. Such a pin is removed so the load creates the new layout;
 * the programs still using the old map are replaced by this load's attachments.
 */
static void loader_unpin_stale(struct bpf_object *obj, const char *pin_root)
{
	struct bpf_map_info info;
	struct bpf_map *map;
	char path[PATH_MAX];

	bpf_object__for_each_map(map, obj)
	{
		uint32_t len = sizeof(info);
		int fd;

		if (!bpf_map__pin_path(map) ||
		    loader_path(path, sizeof(path), pin_root, bpf_map__name(map)))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
		     info.value_size != bpf_map__value_size(map) ||
		     info.max_entries != bpf_map__max_entries(map) ||
		     info.map_flags != bpf_map__map_flags(map))) {
			pr_warn("loader: pinned map %s has an older layout; recreating it", path);
			if (unlink(path))
				pr_warn("loader: cannot unpin %s: %s", path, strerror(errno));
		}
		close(fd);
	}
}

/* Each LRU map of @obj at most @max entries (datapath_opts.conntrack_max; 0: as built). */
static void loader_size_maps(struct bpf_object *obj, uint32_t max)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
	{
		if (max && bpf_map__type(map) == BPF_MAP_TYPE_LRU_HASH &&
		    bpf_map__max_entries(map) > max)
			bpf_map__set_max_entries(map, max);
	}
}

static int loader_load(struct loader *ld, const struct datapath_opts *opts)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = opts->pin_root);
	int err;

	ld->capture = capture_bpf__open_opts(&oopts);
	if (!ld->capture)
		return -errno;
	loader_size_maps(ld->capture->obj, opts->conntrack_max);
	loader_unpin_stale(ld->capture->obj, opts->pin_root);
	ld->capture->rodata->ztunnel_ip = opts->ztunnel_ip;
	memcpy((void *)ld->capture->rodata->ztunnel_ip6, &opts->ztunnel_ip6,
	       sizeof(ld->capture->rodata->ztunnel_ip6));
	err = capture_bpf__load(ld->capture);
	if (err) {
		pr_err("loader: cannot load capture programs: %s", strerror(-err));
		return err;
	}
	ld->steer = steer_bpf__open_opts(&oopts);
	if (!ld->steer)
		return -errno;
	loader_size_maps(ld->steer->obj, opts->conntrack_max);
	ld->steer->rodata->dns_proxy_ip = opts->ztunnel_ip;
	memcpy((void *)ld->steer->rodata->dns_proxy_ip6, &opts->ztunnel_ip6,
	       sizeof(ld->steer->rodata->dns_proxy_ip6));
	err = steer_bpf__load(ld->steer);
	if (err)
		pr_err("loader: cannot load steer program: %s", strerror(-err));
	return err;
}

static int loader_attach(struct loader *ld, const struct datapath_opts *opts)
{
	struct capture_bpf *c = ld->capture;
	uint64_t cgroup_id;
	int cgroup_fd;
	int err;

	err = loader_pin_prog(c->progs.connect4, opts->pin_root, "prog_connect4");
	err = err ?: loader_pin_prog(c->progs.getpeer4, opts->pin_root, "prog_getpeer4");
	err = err ?: loader_pin_prog(c->progs.connect6, opts->pin_root, "prog_connect6");
	err = err ?: loader_pin_prog(c->progs.getpeer6, opts->pin_root, "prog_getpeer6");
	err = err ?: loader_pin_prog(c->progs.sock_ops, opts->pin_root, "prog_sockops");
	err = err ?: loader_pin_prog(c->progs.sendmsg4, opts->pin_root, "prog_sendmsg4");
	err = err ?: loader_pin_prog(c->progs.sendmsg6, opts->pin_root, "prog_sendmsg6");
	err = err ?: loader_pin_prog(c->progs.recvmsg4, opts->pin_root, "prog_recvmsg4");
	err = err ?: loader_pin_prog(c->progs.recvmsg6, opts->pin_root, "prog_recvmsg6");
	err =
	    err ?: loader_pin_prog(ld->steer->progs.tc_ingress, opts->pin_root, "prog_tc_ingress");
	err = err ?: loader_pin_prog(ld->steer->progs.tc_pod, opts->pin_root, "prog_tc_pod");
	err = err
		  ?: loader_pin_prog(ld->steer->progs.tc_pod_egress, opts->pin_root,
				     "prog_tc_pod_egress");
	err = err ?: loader_pin_prog(ld->steer->progs.tc_pod_lo, opts->pin_root, "prog_tc_pod_lo");
	err = err
		  ?: loader_pin_prog(ld->steer->progs.tc_veth_egress, opts->pin_root,
				     "prog_tc_veth_egress");
	if (err)
		return err;

	cgroup_id = cgroup_id_of(opts->cgroup_path);
	if (!cgroup_id)
		return -errno;
	cgroup_fd = open(opts->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgroup_fd < 0)
		return -errno;
	/* sockops first: a connect4 redirect is only useful once its re-keying is in place. */
	err = loader_attach_cgroup(c->progs.sock_ops, cgroup_fd, cgroup_id, opts->pin_root,
				   "link_sockops");
	err = err
		  ?: loader_attach_cgroup(c->progs.getpeer4, cgroup_fd, cgroup_id, opts->pin_root,
					  "link_getpeer4");
	err = err
		  ?: loader_attach_cgroup(c->progs.getpeer6, cgroup_fd, cgroup_id, opts->pin_root,
					  "link_getpeer6");
	/* recvmsg before sendmsg: an answer to a steered query always shows its server. */
	err = err
		  ?: loader_attach_cgroup(c->progs.recvmsg4, cgroup_fd, cgroup_id, opts->pin_root,
					  "link_recvmsg4");
	err = err
		  ?: loader_attach_cgroup(c->progs.recvmsg6, cgroup_fd, cgroup_id, opts->pin_root,
					  "link_recvmsg6");
	err = err
		  ?: loader_attach_cgroup(c->progs.sendmsg4, cgroup_fd, cgroup_id, opts->pin_root,
					  "link_sendmsg4");
	err = err
		  ?: loader_attach_cgroup(c->progs.sendmsg6, cgroup_fd, cgroup_id, opts->pin_root,
					  "link_sendmsg6");
	err = err
		  ?: loader_attach_cgroup(c->progs.connect4, cgroup_fd, cgroup_id, opts->pin_root,
					  "link_connect4");
	err = err
		  ?: loader_attach_cgroup(c->progs.connect6, cgroup_fd, cgroup_id, opts->pin_root,
					  "link_connect6");
	close(cgroup_fd);
	/* A new UDP flow's first datagram the node reassembled, to the ztunnel (docs/udp.md). */
	return err
		   ?: loader_attach_netns(ld->steer->progs.sk_lookup_udp, opts->pin_root,
					  "link_sk_lookup");
}

/* Borrows @opts; returns an owned handle (datapath_close) or NULL with errno set. */
struct datapath *datapath_open(const struct datapath_opts *opts)
{
	struct datapath *dp = NULL;
	struct loader *ld;
	int err;

	if (!opts || !opts->pin_root || !opts->cgroup_path) {
		errno = EINVAL;
		return NULL;
	}
	log_libbpf_setup();
	err = bpffs_ensure_mounted();
	if (err) {
		pr_err("loader: bpffs not available: %s", strerror(-err));
		errno = -err;
		return NULL;
	}
	err = mkdir_p(opts->pin_root, 0700);
	if (err) {
		pr_err("loader: cannot create %s: %s", opts->pin_root, strerror(-err));
		errno = -err;
		return NULL;
	}
	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return NULL;
	err = loader_load(ld, opts);
	err = err ?: loader_attach(ld, opts);
	if (err)
		goto fail;
	dp = datapath_open_pinned(opts->pin_root);
	if (!dp) {
		err = -errno;
		goto fail;
	}
	dp->loader = ld;
	dp->loader_release = loader_release;
	return dp;
fail:
	loader_release(ld);
	errno = -err;
	return NULL;
}

/* The clsact qdisc of @ifindex (both directions' hooks), made if absent. */
static int tc_hook_create(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	int err;

	/* Present already (an agent restart, a pod enrolled again): not worth a log line. */
	log_libbpf_hold();
	err = bpf_tc_hook_create(&hook);
	log_libbpf_release(err && err != -EEXIST);
	return err == -EEXIST ? 0 : err;
}

/* @prog_fd on the @where hook of @ifindex, whose clsact exists. */
static int attach_tc(int prog_fd, int ifindex, enum bpf_tc_attach_point where)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = LOADER_TC_HANDLE, .priority = LOADER_TC_PRIORITY,
		    .flags = BPF_TC_F_REPLACE);

	if (ifindex <= 0)
		return -EINVAL;
	if (prog_fd < 0)
		return -ENOENT;
	tc.prog_fd = prog_fd;
	return bpf_tc_attach(&hook, &tc);
}

/* Borrows @dp. The filter lives in the caller's netns until detached or the device goes. */
int datapath_attach_tc(struct datapath *dp, int ifindex)
{
	int err = ifindex > 0 ? tc_hook_create(ifindex) : -EINVAL;

	return err ?: attach_tc(dp->tc_prog_fd, ifindex, BPF_TC_INGRESS);
}

/* A pod's host-side veth: tc_ingress, and tc_veth_egress (the node's own traffic to the pod). */
int datapath_attach_tc_veth(struct datapath *dp, int ifindex)
{
	int err = datapath_attach_tc(dp, ifindex);

	return err ?: attach_tc(dp->tc_veth_egress_prog_fd, ifindex, BPF_TC_EGRESS);
}

/*
 * The in-pod programs, for a pod's own eth0 and its lo, where tc_pod_egress turns what is the
 * ztunnel's (the calling thread in the pod's netns).
 */
int datapath_attach_tc_pod(struct datapath *dp, int ifindex)
{
	/* One clsact for both directions, created once. */
	int err = ifindex > 0 ? tc_hook_create(ifindex) : -EINVAL;

	err = err ?: attach_tc(dp->tc_pod_prog_fd, ifindex, BPF_TC_INGRESS);
	err = err ?: attach_tc(dp->tc_pod_egress_prog_fd, ifindex, BPF_TC_EGRESS);
	err = err ?: tc_hook_create(LOADER_LO_IFINDEX);
	return err ?: attach_tc(dp->tc_pod_lo_prog_fd, LOADER_LO_IFINDEX, BPF_TC_INGRESS);
}

static int detach_tc(int ifindex, enum bpf_tc_attach_point where)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = LOADER_TC_HANDLE, .priority = LOADER_TC_PRIORITY);

	if (ifindex <= 0)
		return -EINVAL;
	return bpf_tc_detach(&hook, &tc);
}

int datapath_detach_tc_pod(struct datapath *dp, int ifindex)
{
	int err = detach_tc(ifindex, BPF_TC_INGRESS), err2 = detach_tc(ifindex, BPF_TC_EGRESS);
	/* A pod set up before tc_pod_lo existed has none there. */
	int err3 = detach_tc(LOADER_LO_IFINDEX, BPF_TC_INGRESS);

	(void)dp;
	return err ?: err2 ?: (err3 == -ENOENT ? 0 : err3);
}

/* Removes only our filter: the clsact qdisc may carry other users' filters. */
int datapath_detach_tc(struct datapath *dp, int ifindex)
{
	(void)dp;
	return detach_tc(ifindex, BPF_TC_INGRESS);
}

/* Both of datapath_attach_tc_veth's; a veth attached before tc_veth_egress existed has none. */
int datapath_detach_tc_veth(struct datapath *dp, int ifindex)
{
	int err = datapath_detach_tc(dp, ifindex), err2 = detach_tc(ifindex, BPF_TC_EGRESS);

	return err ?: (err2 == -ENOENT ? 0 : err2);
}
