// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the waypoint controller's rendering (userspace/control/wpcontroller.h):
 * the input is a Gateway as the API server serves it, whose fields and annotations its author
 * chose. wpc_objects must refuse it with a reason, or give exactly the template's three
 * objects (ServiceAccount, Deployment, Service) in the Gateway's namespace and named as it
 * says (a class istio gateway's <name>-istio): a value that reached the YAML as anything but a name
 * would add or change documents; the Service's type is ClusterIP, NodePort or LoadBalancer
 * whatever the networking.istio.io/service-type annotation says. The same object goes through
 * what the CA and the controller read of Gateways, DestinationRules, ReferenceGrants and Secrets
 * for the gateways' certificates (cacreds.c, wps_certificate_refs): each ref they give is a
 * namespace and a name, a DestinationRule's in the pod's namespace alone, and an Opaque Secret
 * is handed out as its cert, key and cacert alone.
 * Seeds:
 * tests/fuzz/corpus/fuzz_wpc/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "control/caserver.h"
#include "control/wpcontroller.h"
#include "control/wpstatus.h"

static const char *str(const cJSON *o, const char *a, const char *b)
{
	return cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b));
}

/* @o as a gateway pod of its own namespace, an Istio Gateway, a grant and a Secret. */
static void certificates(const cJSON *o)
{
	cJSON *pod = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(pod, "metadata"),
	      *labels = cJSON_AddObjectToObject(meta, "labels"), *refs = cJSON_CreateArray(),
	      *list = cJSON_CreateArray(), *out = NULL, *wrefs, *r;
	const char *ns = str(o, "metadata", "namespace"), *name = str(o, "metadata", "name");
	char why[512];

	cJSON_AddStringToObject(meta, "namespace", ns ? ns : "ns");
	cJSON_AddStringToObject(labels, CASERVER_GATEWAY_LABEL, name ? name : "gw");
	cJSON_AddStringToObject(labels, "istio", "ingressgateway");
	cJSON_AddItemToArray(list, cJSON_Duplicate(o, true));
	if (!caserver_gateway_pod(pod) || caserver_gateway_refs(pod, o, refs) ||
	    caserver_istio_refs(pod, list, refs) || caserver_dr_refs(pod, list, refs))
		abort();
	cJSON_ArrayForEach(r, refs)
	{
		const char *rns =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "namespace"));

		if (!cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name")) || !rns)
			abort();
		/* A DestinationRule's credentialName: the pod's own namespace alone. */
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "generic")) &&
		    strcmp(rns, ns ? ns : "ns"))
			abort();
	}
	(void)caserver_ref_granted(ns ? ns : "ns", "other", "x", list);
	if (!caserver_credential(o, false, &out, why, sizeof(why)) &&
	    strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "type")),
		   "kubernetes.io/tls"))
		abort(); /* only a certificate's Secret is ever handed out */
	cJSON_Delete(out);
	/* A DestinationRule's: an Opaque one too, with its cert, key and cacert alone. */
	if (!caserver_credential(o, true, &out, why, sizeof(why))) {
		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(out, "data"))
		{
			if (strcmp(r->string, "cert") && strcmp(r->string, "key") &&
			    strcmp(r->string, "cacert") && strcmp(r->string, "tls.crt") &&
			    strcmp(r->string, "tls.key") && strcmp(r->string, "ca.crt"))
				abort();
		}
	}
	cJSON_Delete(out);
	wrefs = wps_certificate_refs(list);
	cJSON_ArrayForEach(r, wrefs)
	{
		if (!cJSON_IsString(r) || !strchr(r->valuestring, '/'))
			abort();
	}
	cJSON_Delete(wrefs);
	cJSON_Delete(refs);
	cJSON_Delete(list);
	cJSON_Delete(pod);
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
	if (gw)
		certificates(gw);
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
