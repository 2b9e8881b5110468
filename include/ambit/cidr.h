/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An IPv4 prefix as text, the way every compiler of the model reads and writes one (the
 * snapshot's ServiceEntry addresses, the L7 model's, the mesh's VIP ranges): one reading for all.
 */
#ifndef AMBIT_CIDR_H
#define AMBIT_CIDR_H

#include <stdbool.h>
#include <stdint.h>

struct cidr {
	uint32_t ip; /* network order, host bits clear */
	uint8_t len;
};

/* "a.b.c.d" or "a.b.c.d/n" into @c (host bits cleared); false for anything else (IPv6, a name). */
bool cidr_parse(const char *txt, struct cidr *c);
/* Appends "a.b.c.d/n" of @ip (network order) and @len to JSON array @arr. 0 or -ENOMEM. */
struct cJSON;
int cidr_append_json(struct cJSON *arr, uint32_t ip, unsigned int len);

#endif
