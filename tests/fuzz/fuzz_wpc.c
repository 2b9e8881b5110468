// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the waypoint controller's rendering (userspace/control/wpcontroller.h):
 * the input is a Gateway as the API server serves it, whose fields and annotations its author
 * chose. wpc_objects must refuse it with a reason, or give exactly the template's three
 * objects (ServiceAccount, Deployment, Service) in the Gateway's namespace and named as it
 * says (a class istio gateway's <name>-istio): a value that reached the YAML as anything but a name
 * would add or change documents; the Service's type is ClusterIP, NodePort or LoadBalancer
 * whatever the networking.istio.io/service-type annotation says. Seeds:
 * tests/fuzz/corpus/fuzz_wpc/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "wpcontroller.h"

static const char *str(const cJSON *o, const char *a, const char *b)
{
	return cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = {"ServiceAccount", "Deployment", "Service"};
	const struct wpc_opts o = {.image = "reg.example/ambit:1", .log_level = "info"};
	char *text = malloc(size + 1), why[600] = "", want[600];
	const char *cls;
	cJSON *gw, *objs, *it;
	int i = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	gw = cJSON_Parse(text);
	free(text);
	objs = wpc_objects(gw, &o, why, sizeof(why));
	if (!objs) {
		if (!why[0])
			abort(); /* a refusal always says why */
		cJSON_Delete(gw);
		return 0;
	}
	if (cJSON_GetArraySize(objs) != 3)
		abort();
	/* A waypoint's Deployment and Service are named after it, a gateway's <name>-istio. */
	cls = str(gw, "spec", "gatewayClassName");
	snprintf(want, sizeof(want), "%s%s", str(gw, "metadata", "name"),
		 cls && !strcmp(cls, "istio") ? "-istio" : "");
	cJSON_ArrayForEach(it, objs)
	{
		const char *kind =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "kind"));
		const char *ns = str(it, "metadata", "namespace");

		if (!kind || strcmp(kind, kinds[i++]) || !ns ||
		    strcmp(ns, str(gw, "metadata", "namespace")))
			abort();
		if (strcmp(kind, "ServiceAccount") && strcmp(str(it, "metadata", "name"), want))
			abort();
		/* The service-type annotation reaches the Service only as one of its types. */
		if (!strcmp(kind, "Service") &&
		    !config_gateway_service_type(str(it, "spec", "type"), false))
			abort();
	}
	cJSON_Delete(objs);
	cJSON_Delete(gw);
	return 0;
}
