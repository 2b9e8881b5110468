// SPDX-License-Identifier: Apache-2.0
/* libFuzzer driver: untrusted bytes into snapshot_decode; a decoded snapshot must re-encode. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct snapshot *s = snapshot_decode((const char *)data, size, err, sizeof(err));
	char *json;

	if (!s) {
		if (!memchr(err, '\0', sizeof(err)))
			abort();
		return 0;
	}
	json = snapshot_encode(s);
	if (!json)
		abort();
	snapshot_workload_by_ip(s, 0x0100007f);
	snapshot_service_by_vip(s, 0x0a00600a);
	snapshot_cert_by_identity(s, "spiffe://cluster.local/ns/a/sa/b");
	free(json);
	snapshot_free(s);
	return 0;
}
