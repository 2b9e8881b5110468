// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for what ambit-cni reads from the container runtime (userspace/cni): the
 * network configuration on stdin and CNI_ARGS, checked as cni_run checks them before it asks
 * the agent or the API server (cni_check_input; nothing here talks to either). The input is
 * CNI_ARGS, a NUL byte, then the configuration; its first byte picks ADD, DEL or CHECK.
 * Invariants: the answer is 0 with nothing printed, or 1 with the specification's error object
 * (a JSON object with a numeric "code", a string "msg" and a string "cniVersion").
 * Seeds: tests/fuzz/corpus/fuzz_cni/ (the conflist entries ambit writes, with and without
 * prevResult, kubeconfig and excludeNamespaces; the kubelet's CNI_ARGS).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cni/cni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cmds[] = {"ADD", "DEL", "CHECK"};
	const uint8_t *nul = memchr(data, 0, size);
	char *args, *out = NULL;
	size_t alen;
	cJSON *o;
	int ret;

	if (!size || !nul)
		return 0;
	alen = (size_t)(nul - data);
	args = malloc(alen + 1);
	if (!args)
		return 0;
	memcpy(args, data, alen);
	args[alen] = '\0';
	struct cni_env env = {.command = cmds[data[0] % 3],
			      .containerid = "c0ffee",
			      .netns = "/var/run/netns/fuzz",
			      .ifname = "eth0",
			      .args = args,
			      .path = "/opt/cni/bin"};
	ret = cni_check_input(&env, (const char *)nul + 1, size - alen - 1, &out);
	if (ret == 0 && out)
		abort();
	if (ret == 1) {
		o = out ? cJSON_Parse(out) : NULL;
		if (!cJSON_IsObject(o) ||
		    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "code")) ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "msg")) ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "cniVersion")))
			abort();
		cJSON_Delete(o);
	} else if (ret != 0) {
		abort();
	}
	free(out);
	free(args);
	return 0;
}
