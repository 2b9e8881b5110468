// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: untrusted bytes into the L7 model's strict decoder (a waypoint's snapshot
 * "l7"); a decoded model must re-encode to JSON that decodes again, and its look-ups must hold.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/l7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, size), *again;
	struct l7_config *c, *c2;
	char err[256];

	if (!j)
		return 0;
	c = l7_from_json(j, err, sizeof(err));
	cJSON_Delete(j);
	if (!c) {
		if (!memchr(err, '\0', sizeof(err)))
			abort();
		return 0;
	}
	again = l7_to_json(c);
	if (!again)
		abort();
	c2 = l7_from_json(again, err, sizeof(err));
	if (!c2)
		abort(); /* what the encoder writes, the decoder takes */
	for (size_t i = 0; i < c->n_services; i++) {
		const struct l7_service *s = &c->services[i];

		if (l7_config_service(c, s->hostname) == NULL)
			abort();
		for (size_t p = 0; p < s->n_ports; p++)
			l7_service_policy(s, s->n_subsets ? s->subsets[0].name : NULL,
					  s->ports[p].port);
	}
	l7_config_free(c2);
	cJSON_Delete(again);
	l7_config_free(c);
	return 0;
}
