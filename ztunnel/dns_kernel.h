/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS proxy's answers handed to the kernel (bpf_abi.h dns_answers, bpf/lib/dnsfast.h): the
 * proxy publishes each answer it made for a pod over UDP, and the tc program on that pod's veth
 * answers the same query again by itself. A table of its own mirrors what it published (one slot
 * per entry, bounded): a query already published under the current generation is not written
 * again, a new one takes its slot's place, and the queries the kernel answered are read back
 * from each entry's hits for the metrics. Entries count only under the generation of the
 * snapshot they were made from, which dns_kernel_generation sets in the kernel on every install.
 * A client's answer goes to the map of the family it asked over: dns_answers by its IPv4 address,
 * dns_answers6 by its IPv6 one (each map with a table of its own), since tc answers a query from
 * the map of the query's family. Used by the DNS proxy's thread, but for dns_kernel_generation
 * (any thread).
 */
#ifndef ZT_DNS_KERNEL_H
#define ZT_DNS_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "ambit/ipaddr.h"

struct dns_kernel;

/* Queries of pod address @pod (borrowed), of type @qtype, the kernel answered: @n more. */
typedef void (*dns_kernel_count_fn)(void *arg, const struct ipaddr *pod, int qtype, uint64_t n);

/*
 * Opens @pin_root's dns_answers, dns_answers6 and dns_gen and empties both answer maps (a
 * predecessor's entries are of its own generations); what the kernel answers is told to
 * @count(@arg). NULL with errno when dns_answers or dns_gen is not there: the proxy answers
 * alone. Without dns_answers6 (a data path older than it) only IPv4 clients' answers go to the
 * kernel.
 */
struct dns_kernel *dns_kernel_open(const char *pin_root, dns_kernel_count_fn count, void *arg);
void dns_kernel_close(struct dns_kernel *k); /* accepts NULL; the entries stay in the kernel */
/* The generation of snapshot @version in this process (never 0). */
uint32_t dns_kernel_gen(const struct dns_kernel *k, uint64_t version);
/* Makes snapshot @version's generation the kernel's: entries of any other stop counting. */
void dns_kernel_generation(struct dns_kernel *k, uint64_t version);
/*
 * Publishes answer @a (@alen bytes) to query @q (@qlen bytes, its id included) that pod address
 * @pod (borrowed; the address the query came from, of its family) asked over UDP, made from
 * snapshot @version; @qtype for the metrics. Queries or answers of sizes the kernel does not
 * take are left to the proxy, and so is an address of neither family.
 */
void dns_kernel_publish(struct dns_kernel *k, uint64_t version, const struct ipaddr *pod,
			const uint8_t *q, size_t qlen, const uint8_t *a, size_t alen, int qtype);
/*
 * Tells the count function what the kernel answered since the last call (an entry replaced
 * before is told then).
 */
void dns_kernel_harvest(struct dns_kernel *k);

#endif
