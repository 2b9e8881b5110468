// SPDX-License-Identifier: Apache-2.0
/* IPv4 prefixes as text (include/ambit/cidr.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ambit/cidr.h"

bool cidr_parse(const char *txt, struct cidr *c)
{
	char ip[INET_ADDRSTRLEN], *end;
	const char *slash = strchr(txt, '/');
	size_t n = slash ? (size_t)(slash - txt) : strlen(txt);
	struct in_addr a;
	long len = 32;

	if (n >= sizeof(ip))
		return false;
	memcpy(ip, txt, n);
	ip[n] = 0;
	if (inet_pton(AF_INET, ip, &a) != 1)
		return false;
	if (slash) {
		errno = 0;
		len = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || len < 0 || len > 32)
			return false;
	}
	c->ip = len ? a.s_addr & htonl(~0u << (32 - len)) : 0;
	c->len = (uint8_t)len;
	return true;
}

int cidr_append_json(struct cJSON *arr, uint32_t ip, unsigned int len)
{
	char txt[INET_ADDRSTRLEN], buf[INET_ADDRSTRLEN + 4];
	struct in_addr a = {.s_addr = ip};
	cJSON *v;

	inet_ntop(AF_INET, &a, txt, sizeof(txt));
	snprintf(buf, sizeof(buf), "%s/%u", txt, len);
	v = cJSON_CreateString(buf);
	if (!v || !cJSON_AddItemToArray(arr, v)) {
		cJSON_Delete(v);
		return -ENOMEM;
	}
	return 0;
}
