// SPDX-License-Identifier: Apache-2.0
/* libFuzzer driver: untrusted bytes into snapshot_decode; a decoded snapshot must re-encode. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ambit/policy.h"
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
	/* ServiceEntry look-ups over hostile CIDRs, exportTo and ports. */
	snapshot_entry_by_addr(s, 0x0100000a, 80, "a");
	snapshot_entry_by_addr(s, 0x07f0f0f0, 0, NULL);
	snapshot_cert_by_identity(s, "spiffe://cluster.local/ns/a/sa/b");
	/* Each endpoint's own number for each port, of hostile endpointPorts and endpointPorts6. */
	for (size_t i = 0; i < s->n_services; i++) {
		const struct snap_service *svc = &s->services[i];

		for (size_t j = 0; j < svc->nports; j++) {
			for (size_t k = 0; k < svc->nendpoints; k++)
				if (!snapshot_endpoint_port(svc, &svc->ports[j], svc->endpoints[k]))
					abort();
			for (size_t k = 0; k < svc->nendpoints6; k++)
				if (!snapshot_endpoint_port6(svc, &svc->ports[j],
							     &svc->endpoints6[k]))
					abort();
		}
	}
	/* A decoded (hostile) policy set must be safe to evaluate against any of its workloads. */
	for (size_t i = 0; s->policies && i < s->policies->n_workloads; i++) {
		const struct policy_workload *w = &s->policies->workloads[i];
		struct policy_conn c = {.dst_uid = w->uid,
					.dst_namespace = w->namespace,
					.dst_port = 9080,
					.src_ip = {AF_INET, 32, {127, 0, 0, 1}},
					.src_identity = i % 2 ? NULL : "spiffe://td/ns/a/sa/b"};
		struct policy_decision d;
		struct policy_cidrs cidrs;
		char buf[512];

		policy_evaluate(s->policies, &c, &d);
		policy_decision_name(&d, buf, sizeof(buf));
		policy_decision_explain(&d, &c, buf, sizeof(buf));
		if (!policy_deny_src_cidrs(s->policies, w->uid, w->namespace, &cidrs))
			free(cidrs.items);
	}
	free(json);
	snapshot_free(s);
	return 0;
}
