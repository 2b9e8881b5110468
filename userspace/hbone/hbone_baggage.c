// SPDX-License-Identifier: Apache-2.0
/*
 * The workload description HBONE's two ends exchange in W3C `baggage`, as Istio's ztunnel
 * writes and reads it (its src/baggage.rs): the client's on the CONNECT, the destination's on
 * the 200. Keys without a value are left out when writing and read as absent, as Istio does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hbone.h"
#include "net/sock.h"

/* Istio's workload kinds (its XDS WorkloadType), the only k8s.<kind>.name keys it reads. */
static const char *const kinds[] = {"deployment", "cronjob", "pod", "job"};

static bool has(const char *v)
{
	return v && *v;
}

int hbone_baggage_format(const struct hbone_baggage *b, char *out, size_t len)
{
	char kind_key[32];
	const struct {
		const char *key, *val;
	} kv[] = {
	    {"k8s.cluster.name", b->cluster},
	    {"k8s.namespace.name", b->ns},
	    {kind_key, b->workload},
	    {"service.name", b->service},
	    {"service.version", b->version},
	    {"cloud.region", b->region},
	    {"cloud.availability_zone", b->zone},
	};
	size_t n = 0;
	int w;

	if (!len)
		return -ENOSPC;
	out[0] = '\0';
	snprintf(kind_key, sizeof(kind_key), "k8s.%s.name", has(b->kind) ? b->kind : "pod");
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (!has(kv[i].val))
			continue;
		w = snprintf(out + n, len - n, "%s%s=%s", n ? "," : "", kv[i].key, kv[i].val);
		if (w < 0 || (size_t)w >= len - n) {
			out[0] = '\0';
			return -ENOSPC;
		}
		n += (size_t)w;
	}
	return (int)n;
}

/* @key's value into @out, or "" when absent or not a label value (sock_parse_baggage). */
static bool take(const char *hdr, const char *key, char *out, size_t len)
{
	if (sock_parse_baggage(hdr, key, out, len) == 0)
		return true;
	out[0] = '\0';
	return false;
}

int hbone_baggage_parse(const char *hdr, struct hbone_peer_baggage *b)
{
	char key[32];
	int found = 0;

	memset(b, 0, sizeof(*b));
	if (!hdr)
		return -EINVAL;
	found += take(hdr, "k8s.cluster.name", b->cluster, sizeof(b->cluster));
	found += take(hdr, "k8s.namespace.name", b->ns, sizeof(b->ns));
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && !b->workload[0]; i++) {
		snprintf(key, sizeof(key), "k8s.%s.name", kinds[i]);
		if (take(hdr, key, b->workload, sizeof(b->workload))) {
			snprintf(b->kind, sizeof(b->kind), "%s", kinds[i]);
			found++;
		}
	}
	found += take(hdr, "service.name", b->service, sizeof(b->service));
	found += take(hdr, "service.version", b->version, sizeof(b->version));
	found += take(hdr, "cloud.region", b->region, sizeof(b->region));
	found += take(hdr, "cloud.availability_zone", b->zone, sizeof(b->zone));
	return found ? 0 : -ENOENT;
}
