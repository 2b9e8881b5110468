// SPDX-License-Identifier: Apache-2.0
/*
 * Map operations on a node's pinned BPF data path (no skeletons: ambitctl and the ztunnel link
 * this too), plus the cgroup/bpffs helpers the loader and tests share.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ambit/log.h"
#include "datapath_loader.h"

#define BPFFS_PATH "/sys/fs/bpf"
#define ENOTSUPP 524 /* kernel-internal errno some map types return for unsupported ops */

const char *const datapath_map_names[DP_MAP__COUNT] = {
    [DP_MAP_WORKLOADS] = "workloads",	      [DP_MAP_ENROLLED_CGRP] = "enrolled_cgrp",
    [DP_MAP_POD_IFACES] = "pod_ifaces",	      [DP_MAP_SERVICES] = "services",
    [DP_MAP_BACKENDS] = "backends",	      [DP_MAP_SOCK_ORIG] = "sock_orig",
    [DP_MAP_ORIG_DST] = "orig_dst",	      [DP_MAP_PROXY_SOCKS] = "proxy_socks",
    [DP_MAP_COUNTERS] = "counters",	      [DP_MAP_STRICT_PORTS] = "strict_ports",
    [DP_MAP_DENY_SRC] = "deny_src",	      [DP_MAP_INPOD_SOCKS] = "inpod_socks",
    [DP_MAP_DNS_ANSWERS] = "dns_answers",     [DP_MAP_DNS_GEN] = "dns_gen",
    [DP_MAP_WORKLOADS6] = "workloads6",	      [DP_MAP_POD_IFACES6] = "pod_ifaces6",
    [DP_MAP_SERVICES6] = "services6",	      [DP_MAP_BACKENDS6] = "backends6",
    [DP_MAP_SOCK_ORIG6] = "sock_orig6",	      [DP_MAP_ORIG_DST6] = "orig_dst6",
    [DP_MAP_DNS_ORIG6] = "dns_orig6",	      [DP_MAP_PROXY_SOCKS6] = "proxy_socks6",
    [DP_MAP_STRICT_PORTS6] = "strict_ports6", [DP_MAP_DENY_SRC6] = "deny_src6",
    [DP_MAP_ENROLLED_IP6] = "enrolled_ip6",   [DP_MAP_INPOD_SOCKS6] = "inpod_socks6",
    [DP_MAP_DNS_ANSWERS6] = "dns_answers6",   [DP_MAP_PREFLOWS] = "preflows",
    [DP_MAP_PREFLOWS6] = "preflows6",	      [DP_MAP_NODE_CFG] = "node_cfg",
    [DP_MAP_PROBE_FLOWS] = "probe_flows",     [DP_MAP_UDP_REPLIES] = "udp_replies",
    [DP_MAP_UDP_REPLIES6] = "udp_replies6",   [DP_MAP_EXCL_PORTS] = "excl_ports",
    [DP_MAP_EXCL_REPLIES] = "excl_replies",   [DP_MAP_EXCL_REPLIES6] = "excl_replies6",
    [DP_MAP_UDP_FRAGS] = "udp_frags",	      [DP_MAP_UDP_PENDING] = "udp_pending",
    [DP_MAP_UDP_PENDING6] = "udp_pending6",   [DP_MAP_UDP_SOCKS] = "udp_socks",
    [DP_MAP_SENTRY_CIDRS] = "sentry_cidrs",   [DP_MAP_SENTRY_CIDRS6] = "sentry_cidrs6",
};

static const char *const reason_names[AMBIT_REASON__COUNT] = {
#define AMBIT_REASON_NAME(n, s) [AMBIT_##n] = s,
    AMBIT_REASONS(AMBIT_REASON_NAME)
#undef AMBIT_REASON_NAME
};

const char *ambit_reason_name(unsigned int reason)
{
	return reason < AMBIT_REASON__COUNT ? reason_names[reason] : "unknown";
}

/* reasons.h names every refusal DROP_*, printed "drop_*". */
bool ambit_reason_is_drop(unsigned int reason)
{
	return reason < AMBIT_REASON__COUNT && strncmp(reason_names[reason], "drop_", 5) == 0;
}

static int pin_path(char *buf, size_t len, const char *pin_root, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", pin_root, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Borrows @pin_root and @name; returns an owned fd or -errno. */
int pinned_map_open(const char *pin_root, const char *name)
{
	char path[PATH_MAX];
	int err, fd;

	err = pin_path(path, sizeof(path), pin_root, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

/* A pinned program's owned fd, or -1 when it is not pinned (only the agent's loader pins them). */
static int pinned_prog_open(const char *pin_root, const char *name)
{
	int fd = pinned_map_open(pin_root, name);

	return fd < 0 ? -1 : fd;
}

/* Returns a handle owning one fd per pinned map (and the tc program if pinned); NULL + errno. */
struct datapath *datapath_open_pinned(const char *pin_root)
{
	struct datapath *dp;
	int err = 0;
	int i;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return NULL;
	for (i = 0; i < DP_MAP__COUNT; i++)
		dp->map_fds[i] = -1;
	dp->tc_prog_fd = -1;
	dp->tc_pod_prog_fd = -1;
	dp->tc_pod_egress_prog_fd = -1;
	dp->tc_pod_lo_prog_fd = -1;
	dp->tc_veth_egress_prog_fd = -1;
	if (snprintf(dp->pin_root, sizeof(dp->pin_root), "%s", pin_root) >=
	    (int)sizeof(dp->pin_root)) {
		err = -ENAMETOOLONG;
		goto fail;
	}
	for (i = 0; i < DP_MAP__COUNT; i++) {
		dp->map_fds[i] = pinned_map_open(pin_root, datapath_map_names[i]);
		if (dp->map_fds[i] < 0) {
			err = dp->map_fds[i];
			pr_debug("datapath: no pinned map %s/%s: %s", pin_root,
				 datapath_map_names[i], strerror(-err));
			goto fail;
		}
	}
	/* Optional: only the agent's loader pins programs, and only it attaches tc. */
	dp->tc_prog_fd = pinned_prog_open(pin_root, "prog_tc_ingress");
	dp->tc_pod_prog_fd = pinned_prog_open(pin_root, "prog_tc_pod");
	dp->tc_pod_egress_prog_fd = pinned_prog_open(pin_root, "prog_tc_pod_egress");
	dp->tc_pod_lo_prog_fd = pinned_prog_open(pin_root, "prog_tc_pod_lo");
	dp->tc_veth_egress_prog_fd = pinned_prog_open(pin_root, "prog_tc_veth_egress");
	return dp;
fail:
	datapath_close(dp);
	errno = -err;
	return NULL;
}

/* Takes @dp (NULL accepted): releases the loader's state, then every fd. Pins stay in force. */
void datapath_close(struct datapath *dp)
{
	int i;

	if (!dp)
		return;
	if (dp->loader_release)
		dp->loader_release(dp->loader);
	for (i = 0; i < DP_MAP__COUNT; i++) {
		if (dp->map_fds[i] >= 0)
			close(dp->map_fds[i]);
	}
	if (dp->tc_prog_fd >= 0)
		close(dp->tc_prog_fd);
	if (dp->tc_pod_prog_fd >= 0)
		close(dp->tc_pod_prog_fd);
	if (dp->tc_pod_egress_prog_fd >= 0)
		close(dp->tc_pod_egress_prog_fd);
	if (dp->tc_pod_lo_prog_fd >= 0)
		close(dp->tc_pod_lo_prog_fd);
	if (dp->tc_veth_egress_prog_fd >= 0)
		close(dp->tc_veth_egress_prog_fd);
	free(dp);
}

int datapath_map_fd(struct datapath *dp, const char *name)
{
	int i;

	for (i = 0; i < DP_MAP__COUNT; i++) {
		if (strcmp(name, datapath_map_names[i]) == 0)
			return dp->map_fds[i];
	}
	return -ENOENT;
}

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's, for an operation a map type lacks */
#endif

/* The key-by-key walk, for map types without batched look-ups. */
static int dump_walk(int fd, uint32_t ksz, uint32_t vsz, char **keys, char **vals, size_t *n)
{
	size_t cap = *n;
	char key[64], next[64];
	bool first = true;

	if (ksz > sizeof(key))
		return -EINVAL;
	while (bpf_map_get_next_key(fd, first ? NULL : key, next) == 0) {
		first = false;
		memcpy(key, next, ksz);
		if (*n == cap) {
			char *k, *v;

			cap = cap ? cap * 2 : 256;
			k = realloc(*keys, cap * ksz);
			if (k)
				*keys = k;
			v = realloc(*vals, cap * vsz);
			if (v)
				*vals = v;
			if (!k || !v)
				return -ENOMEM;
		}
		/* Deleted under us (an LRU or another writer): not there, then. */
		if (bpf_map_lookup_elem(fd, key, *vals + *n * vsz) == 0)
			memcpy(*keys + (*n)++ * ksz, key, ksz);
	}
	return 0;
}

int datapath_map_dump(int fd, void **keys, void **vals, size_t *n, uint32_t *ksz, uint32_t *vsz)
{
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info), count;
	char *token = NULL, *k = NULL, *v = NULL;
	bool first = true;
	size_t cap = 0, chunk = 1024;
	int err;

	*keys = *vals = NULL;
	*n = 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*ksz = info.key_size;
	*vsz = info.value_size;
	/* The batch token is the map's own (a bucket index for hash maps; at most a key). */
	if (!info.value_size || !(token = calloc(1, info.key_size < 8 ? 8 : info.key_size)))
		return info.value_size ? -ENOMEM : -EINVAL;
	for (;;) {
		if (cap - *n < chunk) {
			char *nk, *nv;

			cap = *n + chunk;
			nk = realloc(k, cap * info.key_size);
			if (nk)
				k = nk;
			nv = realloc(v, cap * info.value_size);
			if (nv)
				v = nv;
			if (!nk || !nv) {
				err = -ENOMEM;
				break;
			}
		}
		count = (uint32_t)chunk;
		err = bpf_map_lookup_batch(fd, first ? NULL : token, token, k + *n * info.key_size,
					   v + *n * info.value_size, &count, NULL);
		err = err ? -errno : 0;
		if (err == -ENOSPC && !count) { /* one bucket holds more than a chunk */
			chunk *= 2;
			continue;
		}
		*n += count;
		first = false;
		if (err == -ENOENT) { /* the last batch */
			err = 0;
			break;
		}
		if (err)
			break;
	}
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP) {
		*n = 0;
		err = dump_walk(fd, info.key_size, info.value_size, &k, &v, n);
	}
	free(token);
	if (err) {
		free(k);
		free(v);
		*n = 0;
		return err;
	}
	*keys = k;
	*vals = v;
	return 0;
}

static int map_update(struct datapath *dp, enum datapath_map m, const void *key, const void *val)
{
	return bpf_map_update_elem(dp->map_fds[m], key, val, BPF_ANY) ? -errno : 0;
}

/* Deleting what is absent is not an error: the caller wants it gone, and it is. */
static int map_delete(struct datapath *dp, enum datapath_map m, const void *key)
{
	if (bpf_map_delete_elem(dp->map_fds[m], key) && errno != ENOENT)
		return -errno;
	return 0;
}

int datapath_set_workload(struct datapath *dp, uint32_t ip, const struct ambit_workload *wl)
{
	return map_update(dp, DP_MAP_WORKLOADS, &ip, wl);
}

int datapath_del_workload(struct datapath *dp, uint32_t ip)
{
	return map_delete(dp, DP_MAP_WORKLOADS, &ip);
}

int datapath_set_enrolled(struct datapath *dp, uint64_t cgroup_id, uint32_t pod_ip)
{
	struct ambit_enrolled val = {.pod_ip = pod_ip};

	return datapath_set_enrolled_entry(dp, cgroup_id, &val);
}

int datapath_set_enrolled_entry(struct datapath *dp, uint64_t cgroup_id,
				const struct ambit_enrolled *val)
{
	return map_update(dp, DP_MAP_ENROLLED_CGRP, &cgroup_id, val);
}

int datapath_del_enrolled(struct datapath *dp, uint64_t cgroup_id)
{
	return map_delete(dp, DP_MAP_ENROLLED_CGRP, &cgroup_id);
}

int datapath_set_iface(struct datapath *dp, int ifindex, uint32_t pod_ip)
{
	struct ambit_iface val = {.pod_ip = pod_ip};
	uint32_t key = (uint32_t)ifindex;

	if (ifindex <= 0)
		return -EINVAL;
	return map_update(dp, DP_MAP_POD_IFACES, &key, &val);
}

int datapath_set_kubelet_cgroup(struct datapath *dp, uint64_t cgroup_id)
{
	struct ambit_node_cfg val = {.kubelet_cgroup = cgroup_id};
	uint32_t key = 0;

	return map_update(dp, DP_MAP_NODE_CFG, &key, &val);
}

int datapath_del_iface(struct datapath *dp, int ifindex)
{
	uint32_t key = (uint32_t)ifindex;

	return map_delete(dp, DP_MAP_POD_IFACES, &key);
}

int datapath_del_iface6(struct datapath *dp, int ifindex)
{
	uint32_t key = (uint32_t)ifindex;

	return map_delete(dp, DP_MAP_POD_IFACES6, &key);
}

/* A family's service tables: the IPv4 ones or their IPv6 twins (bpf_abi.h). */
struct svc_maps {
	enum datapath_map services, backends;
	uint32_t key_size, be_size;
	uint32_t *next_id;
};

static struct svc_maps svc_maps_of(struct datapath *dp, bool v6)
{
	if (v6)
		return (struct svc_maps){DP_MAP_SERVICES6, DP_MAP_BACKENDS6,
					 sizeof(struct ambit_addr6), sizeof(struct ambit_addr6),
					 &dp->next_service6_id};
	return (struct svc_maps){DP_MAP_SERVICES, DP_MAP_BACKENDS, sizeof(struct ambit_addr),
				 sizeof(struct ambit_backend), &dp->next_service_id};
}

/*
 * Ids only need to be unique among a family's services. The first allocation scans the map, so
 * nothing is lost across an agent restart; later ones count up from there (the agent is the
 * only writer).
 */
static int service_new_id(struct datapath *dp, const struct svc_maps *m, uint32_t *out)
{
	struct ambit_addr6 key, next; /* the larger of the two key types */
	struct ambit_service svc;
	uint32_t max = 0;
	void *prev = NULL;
	int fd = dp->map_fds[m->services];

	if (*m->next_id == 0) {
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			if (bpf_map_lookup_elem(fd, &next, &svc) == 0 && svc.id > max)
				max = svc.id;
			memcpy(&key, &next, m->key_size);
			prev = &key;
		}
		if (errno != ENOENT)
			return -errno;
		if (max == UINT32_MAX)
			return -ENOSPC;
		*m->next_id = max + 1;
	}
	if (*m->next_id == UINT32_MAX)
		return -ENOSPC;
	*out = (*m->next_id)++;
	return 0;
}

static void backends_delete_range(struct datapath *dp, const struct svc_maps *m, uint32_t id,
				  uint32_t from, uint32_t to)
{
	struct ambit_backend_key key = {.service_id = id};

	for (key.index = from; key.index < to; key.index++)
		map_delete(dp, m->backends, &key);
}

/*
 * @key: the family's service key; @backends: @n of its backend values, as stored. New backends
 * are written before the count that exposes them, and stale indexes deleted after it shrinks,
 * so connect never sees a count larger than what exists except in that last window, which it
 * tolerates.
 */
static int service_set(struct datapath *dp, const struct svc_maps *m, const void *key,
		       const void *backends, uint32_t n)
{
	struct ambit_backend_key bkey;
	struct ambit_service old = {0}, svc = {0};
	bool exists;
	uint32_t i;
	int err;

	if (n > 0 && !backends)
		return -EINVAL;
	if (n > AMBIT_MAX_BACKENDS)
		return -E2BIG;
	exists = bpf_map_lookup_elem(dp->map_fds[m->services], key, &old) == 0;
	if (!exists && errno != ENOENT)
		return -errno;
	if (exists) {
		svc.id = old.id;
	} else {
		err = service_new_id(dp, m, &svc.id);
		if (err)
			return err;
	}
	bkey.service_id = svc.id;
	for (i = 0; i < n; i++) {
		/* Both families' backends end in 2 bytes of no meaning to a backend (pad, proto):
		 * stored cleared. */
		char be[sizeof(struct ambit_addr6)];

		_Static_assert(offsetof(struct ambit_backend, pad) + 2 ==
				   sizeof(struct ambit_backend),
			       "pad last");
		_Static_assert(offsetof(struct ambit_addr6, proto) + 2 ==
				   sizeof(struct ambit_addr6),
			       "proto last");
		memcpy(be, (const char *)backends + i * m->be_size, m->be_size);
		memset(be + m->be_size - 2, 0, 2);
		bkey.index = i;
		err = map_update(dp, m->backends, &bkey, be);
		if (err)
			goto fail;
	}
	svc.backend_count = n;
	err = map_update(dp, m->services, key, &svc);
	if (err)
		goto fail;
	if (exists && old.backend_count > n)
		backends_delete_range(dp, m, svc.id, n, old.backend_count);
	return 0;
fail:
	/* Only indexes the (unchanged) service entry does not expose are safe to remove. */
	backends_delete_range(dp, m, svc.id, exists ? old.backend_count : 0, i);
	return err;
}

static int service_del(struct datapath *dp, const struct svc_maps *m, const void *key)
{
	struct ambit_service svc;
	int err;

	if (bpf_map_lookup_elem(dp->map_fds[m->services], key, &svc))
		return errno == ENOENT ? 0 : -errno;
	err = map_delete(dp, m->services, key);
	if (err)
		return err;
	backends_delete_range(dp, m, svc.id, 0, svc.backend_count);
	return 0;
}

/* Borrows @backends (ip and port in network order, as stored; pad is cleared). */
int datapath_set_service(struct datapath *dp, uint32_t vip, uint16_t port, uint8_t proto,
			 const struct ambit_backend *backends, uint32_t n)
{
	struct ambit_addr key = {.ip = vip, .port = htons(port), .proto = proto};
	struct svc_maps m = svc_maps_of(dp, false);

	return service_set(dp, &m, &key, backends, n);
}

int datapath_del_service(struct datapath *dp, uint32_t vip, uint16_t port, uint8_t proto)
{
	struct ambit_addr key = {.ip = vip, .port = htons(port), .proto = proto};
	struct svc_maps m = svc_maps_of(dp, false);

	return service_del(dp, &m, &key);
}

static struct ambit_addr6 addr6_key(const struct in6_addr *ip, uint16_t port, uint8_t proto)
{
	struct ambit_addr6 key = {.port = htons(port), .proto = proto};

	memcpy(key.ip6, ip, sizeof(key.ip6));
	return key;
}

int datapath_set_service6(struct datapath *dp, const struct in6_addr *vip, uint16_t port,
			  uint8_t proto, const struct ambit_addr6 *backends, uint32_t n)
{
	struct ambit_addr6 key = addr6_key(vip, port, proto);
	struct svc_maps m = svc_maps_of(dp, true);

	return service_set(dp, &m, &key, backends, n);
}

int datapath_del_service6(struct datapath *dp, const struct in6_addr *vip, uint16_t port,
			  uint8_t proto)
{
	struct ambit_addr6 key = addr6_key(vip, port, proto);
	struct svc_maps m = svc_maps_of(dp, true);

	return service_del(dp, &m, &key);
}

int datapath_set_workload6(struct datapath *dp, const struct in6_addr *ip,
			   const struct ambit_workload *wl)
{
	return map_update(dp, DP_MAP_WORKLOADS6, ip, wl);
}

int datapath_del_workload6(struct datapath *dp, const struct in6_addr *ip)
{
	return map_delete(dp, DP_MAP_WORKLOADS6, ip);
}

int datapath_set_excl(struct datapath *dp, const struct ambit_excl_key *key)
{
	uint32_t one = 1;

	return map_update(dp, DP_MAP_EXCL_PORTS, key, &one);
}

int datapath_del_excl(struct datapath *dp, const struct ambit_excl_key *key)
{
	return map_delete(dp, DP_MAP_EXCL_PORTS, key);
}

int datapath_set_enrolled_ip6(struct datapath *dp, uint64_t cgroup_id,
			      const struct in6_addr *pod_ip6)
{
	return map_update(dp, DP_MAP_ENROLLED_IP6, &cgroup_id, pod_ip6);
}

int datapath_del_enrolled_ip6(struct datapath *dp, uint64_t cgroup_id)
{
	return map_delete(dp, DP_MAP_ENROLLED_IP6, &cgroup_id);
}

int datapath_set_iface6(struct datapath *dp, int ifindex, const struct in6_addr *pod_ip6)
{
	uint32_t key = (uint32_t)ifindex;

	if (ifindex <= 0)
		return -EINVAL;
	return map_update(dp, DP_MAP_POD_IFACES6, &key, pod_ip6);
}

/* An entry that exists with the same mode keeps its drop count: only changes are written. */
static int strict_port_set(struct datapath *dp, enum datapath_map map, const void *key,
			   uint32_t mode)
{
	struct ambit_strict_port val = {.mode = mode};
	int fd = dp->map_fds[map];

	if (mode != AMBIT_PLAINTEXT_ALLOW && mode != AMBIT_PLAINTEXT_DROP)
		return -EINVAL;
	if (bpf_map_update_elem(fd, key, &val, BPF_NOEXIST) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (bpf_map_lookup_elem(fd, key, &val) == 0 && val.mode == mode)
		return 0;
	val.mode = mode;
	val.pad = 0;
	return map_update(dp, map, key, &val);
}

int datapath_set_strict_port(struct datapath *dp, uint32_t ip, uint16_t port, uint32_t mode)
{
	struct ambit_addr key = {.ip = ip, .port = htons(port)};

	return strict_port_set(dp, DP_MAP_STRICT_PORTS, &key, mode);
}

int datapath_del_strict_port(struct datapath *dp, uint32_t ip, uint16_t port)
{
	struct ambit_addr key = {.ip = ip, .port = htons(port)};

	return map_delete(dp, DP_MAP_STRICT_PORTS, &key);
}

int datapath_set_strict_port6(struct datapath *dp, const struct in6_addr *ip, uint16_t port,
			      uint32_t mode)
{
	struct ambit_addr6 key = addr6_key(ip, port, 0);

	return strict_port_set(dp, DP_MAP_STRICT_PORTS6, &key, mode);
}

int datapath_del_strict_port6(struct datapath *dp, const struct in6_addr *ip, uint16_t port)
{
	struct ambit_addr6 key = addr6_key(ip, port, 0);

	return map_delete(dp, DP_MAP_STRICT_PORTS6, &key);
}

/* An entry already there keeps its count: the flow is the same. */
static int preflow_add(struct datapath *dp, enum datapath_map m, const void *key)
{
	struct ambit_preflow v = {0};

	if (bpf_map_update_elem(dp->map_fds[m], key, &v, BPF_NOEXIST) && errno != EEXIST)
		return -errno;
	return 0;
}

int datapath_set_preflow(struct datapath *dp, const struct ambit_flow *f)
{
	return preflow_add(dp, DP_MAP_PREFLOWS, f);
}

int datapath_set_preflow6(struct datapath *dp, const struct ambit_flow6 *f)
{
	return preflow_add(dp, DP_MAP_PREFLOWS6, f);
}

/* Deletes the entries of map @m whose key holds @pod (@len bytes) at @off; how many. */
static int preflows_drop(struct datapath *dp, enum datapath_map m, size_t off, const void *pod,
			 size_t len)
{
	void *keys = NULL, *vals = NULL;
	uint32_t ksz, vsz;
	int err, dropped = 0;
	size_t n;

	err = datapath_map_dump(dp->map_fds[m], &keys, &vals, &n, &ksz, &vsz);
	if (err)
		return err;
	for (size_t i = 0; i < n && !err; i++) {
		const char *k = (const char *)keys + i * ksz;

		if (off + len > ksz || memcmp(k + off, pod, len))
			continue;
		err = map_delete(dp, m, k);
		dropped += !err;
	}
	free(keys);
	free(vals);
	return err ? err : dropped;
}

int datapath_forget_preflows(struct datapath *dp, uint32_t ip, const struct in6_addr *ip6)
{
	int n4 = 0, n6 = 0;

	if (ip)
		n4 = preflows_drop(dp, DP_MAP_PREFLOWS, offsetof(struct ambit_flow, daddr), &ip,
				   sizeof(ip));
	if (n4 >= 0 && ip6)
		n6 = preflows_drop(dp, DP_MAP_PREFLOWS6, offsetof(struct ambit_flow6, daddr), ip6,
				   sizeof(*ip6));
	return n4 < 0 ? n4 : n6 < 0 ? n6 : n4 + n6;
}

/* Clears the bits of @b (@n bytes) past @prefix. */
static void clear_host_bits(uint8_t *b, size_t n, unsigned int prefix)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int keep = prefix > i * 8 ? prefix - (unsigned int)i * 8 : 0;

		if (keep < 8)
			b[i] &= (uint8_t)(0xff00u >> keep);
	}
}

static int deny_src_key(struct ambit_deny_src_key *key, uint32_t dst_ip, uint32_t src_ip,
			unsigned int prefix)
{
	if (prefix > 32)
		return -EINVAL;
	key->prefixlen = 32 + prefix;
	key->dst_ip = dst_ip;
	/* The trie ignores bits past the prefix, but a canonical key makes the dump readable. */
	key->src_ip = src_ip;
	clear_host_bits((uint8_t *)&key->src_ip, sizeof(key->src_ip), prefix);
	return 0;
}

int datapath_set_deny_src(struct datapath *dp, uint32_t dst_ip, uint32_t src_ip,
			  unsigned int prefix)
{
	struct ambit_deny_src_key key;
	struct ambit_deny_src val = {0};
	int err = deny_src_key(&key, dst_ip, src_ip, prefix);

	if (err)
		return err;
	if (bpf_map_update_elem(dp->map_fds[DP_MAP_DENY_SRC], &key, &val, BPF_NOEXIST) == 0 ||
	    errno == EEXIST)
		return 0;
	return -errno;
}

int datapath_del_deny_src(struct datapath *dp, uint32_t dst_ip, uint32_t src_ip,
			  unsigned int prefix)
{
	struct ambit_deny_src_key key;
	int err = deny_src_key(&key, dst_ip, src_ip, prefix);

	return err ?: map_delete(dp, DP_MAP_DENY_SRC, &key);
}

static int deny_src6_key(struct ambit_deny_src6_key *key, const struct in6_addr *dst,
			 const struct in6_addr *src, unsigned int prefix)
{
	if (prefix > 128)
		return -EINVAL;
	memset(key, 0, sizeof(*key));
	key->prefixlen = 128 + prefix;
	memcpy(key->dst_ip6, dst, sizeof(key->dst_ip6));
	memcpy(key->src_ip6, src, sizeof(key->src_ip6));
	/* Host bits cleared, as for IPv4: a canonical key. */
	clear_host_bits((uint8_t *)key->src_ip6, sizeof(key->src_ip6), prefix);
	return 0;
}

int datapath_set_deny_src6(struct datapath *dp, const struct in6_addr *dst,
			   const struct in6_addr *src, unsigned int prefix)
{
	struct ambit_deny_src6_key key;
	struct ambit_deny_src val = {0};
	int err = deny_src6_key(&key, dst, src, prefix);

	if (err)
		return err;
	if (bpf_map_update_elem(dp->map_fds[DP_MAP_DENY_SRC6], &key, &val, BPF_NOEXIST) == 0 ||
	    errno == EEXIST)
		return 0;
	return -errno;
}

int datapath_del_deny_src6(struct datapath *dp, const struct in6_addr *dst,
			   const struct in6_addr *src, unsigned int prefix)
{
	struct ambit_deny_src6_key key;
	int err = deny_src6_key(&key, dst, src, prefix);

	return err ?: map_delete(dp, DP_MAP_DENY_SRC6, &key);
}

/* sentry_cidrs(6)'s key into @key (24 bytes room): its size, or -EINVAL. */
static int sentry_cidr_key(void *key, bool v6, const void *ip, unsigned int prefix, uint16_t port)
{
	struct ambit_sentry_cidr6_key *k6 = key;
	struct ambit_sentry_cidr_key *k4 = key;

	if (prefix > (v6 ? 128u : 32u))
		return -EINVAL;
	memset(key, 0, sizeof(*k6));
	if (v6) {
		k6->prefixlen = 32 + prefix;
		k6->port = htons(port);
		memcpy(k6->ip6, ip, sizeof(k6->ip6));
		clear_host_bits((uint8_t *)k6->ip6, sizeof(k6->ip6), prefix);
		return sizeof(*k6);
	}
	k4->prefixlen = 32 + prefix;
	k4->port = htons(port);
	memcpy(&k4->ip, ip, sizeof(k4->ip));
	clear_host_bits((uint8_t *)&k4->ip, sizeof(k4->ip), prefix);
	return sizeof(*k4);
}

int datapath_set_sentry_cidr(struct datapath *dp, bool v6, const void *ip, unsigned int prefix,
			     uint16_t port)
{
	enum datapath_map m = v6 ? DP_MAP_SENTRY_CIDRS6 : DP_MAP_SENTRY_CIDRS;
	struct ambit_sentry_cidr6_key key;
	uint32_t one = 1;
	int err = sentry_cidr_key(&key, v6, ip, prefix, port);

	return err < 0 ? err : map_update(dp, m, &key, &one);
}

int datapath_del_sentry_cidr(struct datapath *dp, bool v6, const void *ip, unsigned int prefix,
			     uint16_t port)
{
	enum datapath_map m = v6 ? DP_MAP_SENTRY_CIDRS6 : DP_MAP_SENTRY_CIDRS;
	struct ambit_sentry_cidr6_key key;
	int err = sentry_cidr_key(&key, v6, ip, prefix, port);

	return err < 0 ? err : map_delete(dp, m, &key);
}

void datapath_sentry_cidr_of(const void *key, bool v6, uint8_t ip[16], unsigned int *prefix,
			     uint16_t *port)
{
	struct ambit_sentry_cidr6_key k6;
	struct ambit_sentry_cidr_key k4;

	memset(ip, 0, 16);
	if (v6) {
		memcpy(&k6, key, sizeof(k6));
		memcpy(ip, k6.ip6, 16);
		*prefix = k6.prefixlen >= 32 ? k6.prefixlen - 32 : 0;
		*port = ntohs(k6.port);
		return;
	}
	memcpy(&k4, key, sizeof(k4));
	memcpy(ip, &k4.ip, 4);
	*prefix = k4.prefixlen >= 32 ? k4.prefixlen - 32 : 0;
	*port = ntohs(k4.port);
}

/* @out has AMBIT_REASON__COUNT slots (borrowed). */
static int read_counters_fd(int fd, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	uint32_t key;
	int err = 0;
	int c;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (key = 0; key < AMBIT_REASON__COUNT; key++) {
		if (bpf_map_lookup_elem(fd, &key, vals)) {
			err = -errno;
			break;
		}
		out[key] = 0;
		for (c = 0; c < ncpu; c++)
			out[key] += vals[c];
	}
	free(vals);
	return err;
}

int datapath_read_counters(struct datapath *dp, uint64_t *out)
{
	return read_counters_fd(dp->map_fds[DP_MAP_COUNTERS], out);
}

int datapath_read_counters_pinned(const char *pin_root, uint64_t *out)
{
	int fd = pinned_map_open(pin_root, datapath_map_names[DP_MAP_COUNTERS]);
	int err;

	if (fd < 0)
		return fd;
	err = read_counters_fd(fd, out);
	close(fd);
	return err;
}

/* As the kernel's selftests do: the cgroup id is the kernfs node id in the file handle. */
uint64_t cgroup_id_of(const char *path)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	uint64_t id;
	int mount_id;

	memset(&h, 0, sizeof(h));
	h.fh.handle_bytes = sizeof(h.id);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0))
		return 0;
	if (h.fh.handle_bytes != sizeof(uint64_t)) {
		errno = EINVAL;
		return 0;
	}
	memcpy(&id, h.fh.f_handle, sizeof(id));
	return id;
}

int cgroup2_mount(char *buf, size_t len)
{
	struct mntent *ent;
	FILE *f;
	int err = -ENOENT;

	f = setmntent("/proc/mounts", "re");
	if (!f)
		return -errno;
	while ((ent = getmntent(f))) {
		if (strcmp(ent->mnt_type, "cgroup2") != 0)
			continue;
		err = snprintf(buf, len, "%s", ent->mnt_dir) >= (int)len ? -ENAMETOOLONG : 0;
		break;
	}
	endmntent(f);
	return err;
}

int bpffs_ensure_mounted(void)
{
	struct statfs st;

	if (statfs(BPFFS_PATH, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(BPFFS_PATH, 0700) && errno != EEXIST)
		return -errno;
	if (mount("bpf", BPFFS_PATH, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

/* Borrows @pin_root. A missing directory is success, so teardown can run twice. */
int datapath_remove_pins(const char *pin_root)
{
	char path[PATH_MAX];
	struct dirent *de;
	int err = 0;
	DIR *d;

	d = opendir(pin_root);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (pin_path(path, sizeof(path), pin_root, de->d_name) || unlink(path)) {
			err = err ?: -errno;
			pr_warn("datapath: cannot remove pin %s/%s: %s", pin_root, de->d_name,
				strerror(errno));
		}
	}
	closedir(d);
	if (rmdir(pin_root) && !err)
		err = -errno;
	return err;
}

/* Looks @key up in @fd and deletes it, atomically where the kernel can (5.14+). */
static int take(int fd, const void *key, void *out)
{
	if (bpf_map_lookup_and_delete_elem(fd, key, out) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTSUPP && errno != EOPNOTSUPP)
		return -errno;
	if (bpf_map_lookup_elem(fd, key, out))
		return -errno;
	bpf_map_delete_elem(fd, key);
	return 0;
}

/* @port host order; @out gets the record as stored (network order). */
int orig_dst_take(int orig_dst_fd, uint32_t ip, uint16_t port, struct ambit_orig_dst *out)
{
	struct ambit_addr key = {.ip = ip, .port = htons(port)};

	return take(orig_dst_fd, &key, out);
}

int orig_dst6_take(int orig_dst6_fd, const struct in6_addr *ip, uint16_t port,
		   struct ambit_orig_dst6 *out)
{
	struct ambit_addr6 key = addr6_key(ip, port, 0);

	return take(orig_dst6_fd, &key, out);
}

/* Borrows @sock_fd (a UDP listener of @v6's family): udp_socks takes its own reference. */
int udp_sock_publish(int udp_socks_fd, bool v6, int sock_fd)
{
	uint32_t key = v6;
	uint64_t val = (uint64_t)sock_fd;

	if (sock_fd < 0)
		return -EINVAL;
	return bpf_map_update_elem(udp_socks_fd, &key, &val, BPF_ANY) ? -errno : 0;
}

/* Borrows @sock_fd: the map takes its own reference on the socket. */
int proxy_sock_publish(int proxy_socks_fd, enum ambit_proxy_sock slot, int sock_fd)
{
	uint32_t key = slot;
	uint64_t val = (uint64_t)sock_fd;

	if (slot >= AMBIT_SOCK__COUNT || sock_fd < 0)
		return -EINVAL;
	return bpf_map_update_elem(proxy_socks_fd, &key, &val, BPF_ANY) ? -errno : 0;
}
