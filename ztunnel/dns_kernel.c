// SPDX-License-Identifier: Apache-2.0
/* The DNS proxy's answers in the kernel's dns_answers map (dns_kernel.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <xxhash.h>

#include "ambit/bpf_abi.h"
#include "ambit/datapath.h"
#include "ambit/log.h"
#include "dns_kernel.h"

/* Half the map: the rest is room for a predecessor's entries during a hand-over. */
#define SLOTS (AMBIT_MAX_DNS_ANSWERS / 2)
/* Slots a key may take, from its hash on (open addressing; at half load no run is this long). */
#define PROBE 32

struct slot {
	uint64_t hash; /* of key */
	struct ambit_dns_key key;
	uint32_t gen; /* 0: empty */
	int qtype;
	uint64_t hits;	/* the entry's hits already counted */
	uint64_t stamp; /* when published (k->clock) */
};

struct dns_kernel {
	int answers_fd, gen_fd;
	uint32_t nonce;
	bool full_said;
	uint64_t clock; /* publications so far */
	dns_kernel_count_fn count;
	void *arg;
	struct slot *slots;
	struct ambit_dns_answer val; /* scratch */
};

static void clear_map(int fd)
{
	struct ambit_dns_key key, next;
	int n = 0;

	/* From the first key each time: deleting the current key would restart a walk anyway. */
	while (bpf_map_get_next_key(fd, NULL, &next) == 0) {
		key = next;
		if (bpf_map_delete_elem(fd, &key))
			break;
		n++;
	}
	if (n)
		pr_info("dns: %d answers of a predecessor dropped from the kernel", n);
}

struct dns_kernel *dns_kernel_open(const char *pin_root, dns_kernel_count_fn count, void *arg)
{
	struct dns_kernel *k = calloc(1, sizeof(*k));
	int e;

	if (!k)
		return NULL;
	k->count = count;
	k->arg = arg;
	k->answers_fd = pinned_map_open(pin_root, "dns_answers");
	k->gen_fd = pinned_map_open(pin_root, "dns_gen");
	k->slots = calloc(SLOTS, sizeof(*k->slots));
	if (k->answers_fd < 0 || k->gen_fd < 0 || !k->slots) {
		e = k->answers_fd < 0 ? -k->answers_fd : k->gen_fd < 0 ? -k->gen_fd : ENOMEM;
		dns_kernel_close(k);
		errno = e;
		return NULL;
	}
	if (getrandom(&k->nonce, sizeof(k->nonce), 0) != sizeof(k->nonce))
		k->nonce = (uint32_t)getpid() * 2654435761u;
	clear_map(k->answers_fd);
	return k;
}

void dns_kernel_close(struct dns_kernel *k)
{
	if (!k)
		return;
	if (k->answers_fd >= 0)
		close(k->answers_fd);
	if (k->gen_fd >= 0)
		close(k->gen_fd);
	free(k->slots);
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

/* Tells the hits of the entry in @s since the last look. */
static void slot_count(struct dns_kernel *k, struct slot *s)
{
	if (bpf_map_lookup_elem(k->answers_fd, &s->key, &k->val) == 0 && k->val.gen == s->gen &&
	    k->val.hits > s->hits) {
		k->count(k->arg, s->key.pod_ip, s->qtype, k->val.hits - s->hits);
		s->hits = k->val.hits;
	}
}

/*
 * The slot for @key under generation @g among the PROBE from its hash: its own (*@same set:
 * already published under @g, nothing to do), else an empty one, else one of an older
 * generation, else the least recently published.
 */
static struct slot *slot_for(struct dns_kernel *k, const struct ambit_dns_key *key, uint64_t hash,
			     uint32_t g, bool *same)
{
	size_t h = hash % SLOTS;
	struct slot *pick = NULL;
	int rank = 4; /* of pick: 0 its own, 1 empty, 2 stale, 3 oldest */

	*same = false;
	for (size_t i = 0; i < PROBE; i++) {
		struct slot *s = &k->slots[(h + i) % SLOTS];
		int r = !s->gen ? 1 : s->gen != g ? 2 : 3;

		if (s->gen && s->hash == hash && !memcmp(&s->key, key, sizeof(*key))) {
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

void dns_kernel_publish(struct dns_kernel *k, uint64_t version, uint32_t pod_ip, const uint8_t *q,
			size_t qlen, const uint8_t *a, size_t alen, int qtype)
{
	struct ambit_dns_key key = {0};
	struct slot *s;
	uint64_t hash;
	bool same;
	uint32_t g;

	if (!k || qlen < 12 || qlen - 2 > AMBIT_DNS_QMAX || alen < 12 || alen > AMBIT_DNS_AMAX)
		return;
	key.pod_ip = pod_ip;
	key.qlen = (uint16_t)(qlen - 2);
	memcpy(key.q, q + 2, qlen - 2);
	g = dns_kernel_gen(k, version);
	hash = XXH3_64bits(&key, sizeof(key));
	s = slot_for(k, &key, hash, g, &same);
	if (same)
		return; /* there already: the kernel answers it unless this one came another way */
	if (s->gen) {
		slot_count(k, s);
		if (memcmp(&s->key, &key, sizeof(key)))
			(void)bpf_map_delete_elem(k->answers_fd, &s->key);
	}
	memset(&k->val, 0, sizeof(k->val));
	k->val.gen = g;
	k->val.alen = (uint16_t)alen;
	memcpy(k->val.a, a, alen);
	if (bpf_map_update_elem(k->answers_fd, &key, &k->val, BPF_ANY)) {
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
	for (size_t i = 0; i < SLOTS; i++)
		if (k->slots[i].gen)
			slot_count(k, &k->slots[i]);
}
