/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A TCP segment to a captured pod that is not a SYN and that no socket owns. Only a SYN opens a
 * flow the proxy takes, so such a segment opens nothing the mesh has seen: left to go on, an ACK
 * carrying a SYN cookie (whose secret is the kernel's, so any pod can mint one for its own
 * address in a netns of its own) would open a connection straight to the application's listener
 * whenever that listener answers with cookies (tcp_syncookies=2, which a pod may set, or a SYN
 * flood), past the ztunnel, STRICT and every policy. Istio's in-pod rules send every such
 * segment to the ztunnel's 15006; Cilium judges a flow by its first packet.
 *
 * Such a segment passes only when its flow predates the pod's enrolment (preflows, preflows6:
 * host capture, where the node's look-up cannot see the pod's own sockets; in-pod, the look-up
 * sees them), or when it is a reset: a reset opens nothing and carries nothing, and only ends a
 * connection of the pod's that the data path lost (the pod's stack takes it only in window). Any
 * other is refused as a closed port refuses it, with a reset (RFC 9293 §3.10.7.1), so the peer
 * of a flow the data path lost fails at once rather than when it gives up; counted as
 * drop_no_flow.
 */
#ifndef AMBIT_BPF_PREFLOW_H
#define AMBIT_BPF_PREFLOW_H

#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/excl.h"
#include "lib/parse.h"
#include "lib/reset.h"

/*
 * Whether @p's flow (peer to pod) is one the pod had open when it was enrolled, or one it opened
 * past the mesh since, to a port it leaves out of capture (excl_reply).
 */
static __always_inline bool preflow_known(const struct pkt *p, bool v6)
{
	struct ambit_preflow *f = excl_tcp_flow(p, v6, &preflows, &preflows6);

	if (!f)
		return excl_reply(p, v6);
	__sync_fetch_and_add(&f->packets, 1);
	return true;
}

/*
 * @p, not a SYN, to a captured pod: owned by no socket here and not the ACK of a cookie of the
 * ztunnel's. @host: the node's program, where the pod's flows from before its enrolment are
 * looked up (in-pod, the socket look-up found them already).
 */
static __always_inline int preflow_verdict(struct __sk_buff *skb, const struct pkt *p, bool host,
					   bool v6)
{
	int ret;

	if ((host && preflow_known(p, v6)) || p->tcp->rst) {
		counter_inc(AMBIT_PASS);
		return TC_ACT_OK;
	}
	counter_inc(AMBIT_DROP_NO_FLOW);
	ret = reset_reply(skb, p, v6);
	return ret < 0 ? TC_ACT_SHOT : ret;
}

#endif
