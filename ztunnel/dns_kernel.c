// SPDX-License-Identifier: Apache-2.0
/* The DNS proxy's answers in the kernel's dns_answers and dns_answers6 maps (dns_kernel.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <xxhash.h>

#include "ambit/bpf_abi.h"
#include "ambit/datapath.h"
#include "ambit/log.h"
#include "dns_kernel.h"

/* Half a map: the rest is room for a predecessor's entries during a hand-over. */
#define SLOTS (AMBIT_MAX_DNS_ANSWERS / 2)
/* Slots a key may take, from its hash on (open addressing; at half load no run is this long). */
#define PROBE 32

/* A key of either map; a table's slots hold its map's, compared over that map's key size. */
union dns_key {
	struct ambit_dns_key v4;
	struct ambit_dns_key6 v6;
};

struct slot {
	uint64_t hash; /* of key */
	union dns_key key;
	uint32_t gen; /* 0: empty */
	int qtype;
	uint64_t hits;	/* the entry's hits already counted */
	uint64_t stamp; /* when published (k->clock) */
};

/* One answer map and what was published in it. */
struct table {
	int fd;		    /* -1: not there (dns_answers6 of an older data path) */
	size_t ksz;	    /* its key's size */
	struct slot *slots; /* SLOTS, allocated with the map open */
};

enum { T_V4, T_V6, T__COUNT };

static const char *const map_names[T__COUNT] = {"dns_answers", "dns_answers6"};

struct dns_kernel {
	struct table t[T__COUNT];
	int gen_fd;
	uint32_t nonce;
	bool full_said;
	uint64_t clock; /* publications so far */
	dns_kernel_count_fn count;
	void *arg;
	struct ambit_dns_answer val; /* scratch */
};

static void clear_map(int fd, const char *name)
{
	union dns_key key, next;
	int n = 0;

	/* From the first key each time: deleting the current key would restart a walk anyway. */
	while (bpf_map_get_next_key(fd, NULL, &next) == 0) {
		key = next;
		if (bpf_map_delete_elem(fd, &key))
			break;
		n++;
	}
	if (n)
		pr_info("dns: %d answers of a predecessor dropped from the kernel's %s", n, name);
}

/* Opens table @i's map under @pin_root and its slots: 0 or -errno. */
static int table_open(struct dns_kernel *k, int i, const char *pin_root)
{
	struct table *t = &k->t[i];

	t->ksz = i == T_V6 ? sizeof(struct ambit_dns_key6) : sizeof(struct ambit_dns_key);
	t->fd = pinned_map_open(pin_root, map_names[i]);
	if (t->fd < 0)
		return t->fd;
	t->slots = calloc(SLOTS, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	clear_map(t->fd, map_names[i]);
	return 0;
}

struct dns_kernel *dns_kernel_open(const char *pin_root, dns_kernel_count_fn count, void *arg)
{
	struct dns_kernel *k = calloc(1, sizeof(*k));
	int e;

	if (!k)
		return NULL;
	k->count = count;
	k->arg = arg;
	k->t[T_V4].fd = k->t[T_V6].fd = -1;
	k->gen_fd = pinned_map_open(pin_root, "dns_gen");
	e = k->gen_fd < 0 ? k->gen_fd : table_open(k, T_V4, pin_root);
	if (!e && (e = table_open(k, T_V6, pin_root)) == -ENOENT) {
		pr_info("dns: no %s/dns_answers6: IPv6 clients are answered by the proxy alone",
			pin_root);
		e = 0;
	}
	if (e) {
		dns_kernel_close(k);
		errno = -e;
		return NULL;
	}
	if (getrandom(&k->nonce, sizeof(k->nonce), 0) != sizeof(k->nonce))
		k->nonce = (uint32_t)getpid() * 2654435761u;
	return k;
}

void dns_kernel_close(struct dns_kernel *k)
{
	if (!k)
		return;
	for (int i = 0; i < T__COUNT; i++) {
		if (k->t[i].fd >= 0)
			close(k->t[i].fd);
		free(k->t[i].slots);
	}
	if (k->gen_fd >= 0)
		close(k->gen_fd);
	free(k);
}

uint32_t dns_kernel_gen(const struct dns_kernel *k, uint64_t version)
{
	uint32_t g = k->nonce + (uint32_t)version;

	return g ? g : 1;
}

void dns_kernel_generation(struct dns_kernel *k, uint64_t version)
{
	uint32_t zero = 0, g;

	if (!k)
		return;
	g = dns_kernel_gen(k, version);
	if (bpf_map_update_elem(k->gen_fd, &zero, &g, BPF_ANY))
		pr_warn("dns: cannot set the kernel's answer generation: %s", strerror(errno));
}

/* The client address of @t's key @key. */
static void key_pod(const struct dns_kernel *k, const struct table *t, const union dns_key *key,
		    struct ipaddr *pod)
{
	memset(pod, 0, sizeof(*pod));
	if (t == &k->t[T_V6]) {
		pod->family = AF_INET6;
		pod->len = 128;
		memcpy(pod->a, key->v6.pod_ip6, sizeof(key->v6.pod_ip6));
	} else {
		ipaddr_from_v4(pod, key->v4.pod_ip);
	}
}

/* Tells the hits of the entry in @s of @t since the last look. */
static void slot_count(struct dns_kernel *k, const struct table *t, struct slot *s)
{
	struct ipaddr pod;

	if (bpf_map_lookup_elem(t->fd, &s->key, &k->val) == 0 && k->val.gen == s->gen &&
	    k->val.hits > s->hits) {
		key_pod(k, t, &s->key, &pod);
		k->count(k->arg, &pod, s->qtype, k->val.hits - s->hits);
		s->hits = k->val.hits;
	}
}

/*
 * The slot of @t for @key under generation @g among the PROBE from its hash: its own (*@same
 * set: already published under @g, nothing to do), else an empty one, else one of an older
 * generation, else the least recently published.
 */
static struct slot *slot_for(struct table *t, const union dns_key *key, uint64_t hash, uint32_t g,
			     bool *same)
{
	size_t h = hash % SLOTS;
	struct slot *pick = NULL;
	int rank = 4; /* of pick: 0 its own, 1 empty, 2 stale, 3 oldest */

	*same = false;
	for (size_t i = 0; i < PROBE; i++) {
		struct slot *s = &t->slots[(h + i) % SLOTS];
		int r = !s->gen ? 1 : s->gen != g ? 2 : 3;

		if (s->gen && s->hash == hash && !memcmp(&s->key, key, t->ksz)) {
			*same = s->gen == g;
			return s;
		}
		if (r < rank || (r == 3 && rank == 3 && s->stamp < pick->stamp)) {
			pick = s;
			rank = r;
		}
	}
	return pick;
}

/* @pod's key of its family's map into @key (zero past the query): that table, or NULL. */
static struct table *key_for(struct dns_kernel *k, const struct ipaddr *pod, const uint8_t *q,
			     size_t qlen, union dns_key *key)
{
	uint32_t ip;

	memset(key, 0, sizeof(*key));
	if (ipaddr_v4(pod, &ip)) {
		key->v4.pod_ip = ip;
		key->v4.qlen = (uint16_t)(qlen - 2);
		memcpy(key->v4.q, q + 2, qlen - 2);
		return &k->t[T_V4];
	}
	if (pod->family != AF_INET6 || pod->len != 128 || k->t[T_V6].fd < 0)
		return NULL;
	memcpy(key->v6.pod_ip6, pod->a, sizeof(key->v6.pod_ip6));
	key->v6.qlen = (uint16_t)(qlen - 2);
	memcpy(key->v6.q, q + 2, qlen - 2);
	return &k->t[T_V6];
}

void dns_kernel_publish(struct dns_kernel *k, uint64_t version, const struct ipaddr *pod,
			const uint8_t *q, size_t qlen, const uint8_t *a, size_t alen, int qtype)
{
	union dns_key key;
	struct table *t;
	struct slot *s;
	uint64_t hash;
	bool same;
	uint32_t g;

	if (!k || qlen < 12 || qlen - 2 > AMBIT_DNS_QMAX || alen < 12 || alen > AMBIT_DNS_AMAX)
		return;
	t = key_for(k, pod, q, qlen, &key);
	if (!t)
		return;
	g = dns_kernel_gen(k, version);
	hash = XXH3_64bits(&key, t->ksz);
	s = slot_for(t, &key, hash, g, &same);
	if (same)
		return; /* there already: the kernel answers it unless this one came another way */
	if (s->gen) {
		slot_count(k, t, s);
		if (memcmp(&s->key, &key, t->ksz))
			(void)bpf_map_delete_elem(t->fd, &s->key);
	}
	memset(&k->val, 0, sizeof(k->val));
	k->val.gen = g;
	k->val.alen = (uint16_t)alen;
	memcpy(k->val.a, a, alen);
	if (bpf_map_update_elem(t->fd, &key, &k->val, BPF_ANY)) {
		if (!k->full_said)
			pr_warn("dns: cannot hand an answer to the kernel: %s (the proxy answers)",
				strerror(errno));
		k->full_said = true;
		s->gen = 0;
		return;
	}
	s->hash = hash;
	s->key = key;
	s->gen = g;
	s->qtype = qtype;
	s->hits = 0;
	s->stamp = ++k->clock;
}

void dns_kernel_harvest(struct dns_kernel *k)
{
	if (!k)
		return;
	for (int i = 0; i < T__COUNT; i++)
		for (size_t j = 0; k->t[i].slots && j < SLOTS; j++)
			if (k->t[i].slots[j].gen)
				slot_count(k, &k->t[i], &k->t[i].slots[j]);
}
