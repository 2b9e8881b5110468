/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one verdict/drop reason enum, shared by BPF programs, the agent, ambitctl and metrics.
 * Each entry is (ENUM_SUFFIX, "printed name"). Verdicts count what the data path did;
 * DROP_* entries count packets or connects that were refused, by why.
 */
#ifndef AMBIT_REASONS_H
#define AMBIT_REASONS_H

#define AMBIT_REASONS(X)                                                                           \
	X(PASS, "pass")				      /* not mesh traffic, left alone */           \
	X(REDIRECT_OUTBOUND, "redirect_outbound")     /* connect4 steered to ztunnel 15001 */      \
	X(SERVICE_LB, "service_lb")		      /* VIP rewritten for a non-enrolled pod */   \
	X(ASSIGN_ESTABLISHED, "assign_established")   /* packet of a proxy-owned flow */           \
	X(ASSIGN_HBONE, "assign_hbone")		      /* new flow to port 15008 */                 \
	X(ASSIGN_INBOUND, "assign_inbound")	      /* new plaintext flow to 15006 */            \
	X(DROP_SPOOFED_SOURCE, "drop_spoofed_source") /* pod sent another IP as source */          \
	X(DROP_NO_PROXY, "drop_no_proxy")	      /* ztunnel listener absent: fail closed */   \
	X(DROP_ASSIGN_FAILED, "drop_assign_failed")   /* bpf_sk_assign refused */                  \
	X(DROP_MALFORMED, "drop_malformed")	      /* truncated or invalid headers */           \
	X(DROP_NO_BACKEND, "drop_no_backend")	      /* Service VIP with no ready endpoint */     \
	X(DROP_STRICT_PLAINTEXT, "drop_strict_plaintext") /* plaintext to a STRICT pod port */     \
	X(DROP_DENY_SOURCE, "drop_deny_source")		  /* source in a DENY ipBlocks policy */   \
	X(DROP_PROXY_PORT, "drop_proxy_port")	/* in-pod: new flow to 15001/15006 from outside */ \
	X(RETURN_TO_PROXY, "return_to_proxy")	/* in-pod: pod's answer to the ztunnel, via lo */  \
	X(ASSIGN_SYNCOOKIE, "assign_syncookie") /* ACK ending a SYN-cookie handshake of 15006 */   \
	X(REDIRECT_DNS, "redirect_dns")		/* port 53 steered to the ztunnel's DNS proxy */   \
	X(DNS_ANSWERED, "dns_answered") /* DNS query answered in the kernel (dns_answers) */       \
	X(DROP_DNS_REWRITE, "drop_dns_rewrite") /* that answer could not be written: query lost */ \
	X(DROP_IPV6_UNSUPPORTED, "drop_ipv6_unsupported") /* enrolled pod's IPv6 (not ICMPv6) */   \
	X(DROP_NO_FLOW, "drop_no_flow") /* non-SYN to a captured pod, of no socket or preflow */   \
	X(DROP_POD_ND, "drop_pod_nd")	/* a pod's RA, Redirect, or NA for another's address */    \
	X(PASS_PROBE, "pass_probe")	/* the kubelet's probe to an enrolled pod, let by */       \
	X(ASSIGN_UDP_OUTBOUND, "assign_udp_outbound") /* new UDP flow of a pod to 15001/udp */     \
	X(DROP_NO_UDP_PROXY, "drop_no_udp_proxy") /* that flow, without the ztunnel's listener */  \
	X(PASS_EXCLUDED, "pass_excluded") /* a port the pod leaves out of capture (excl_ports) */  \
	X(REDIRECT_UDP_INPOD, "redirect_udp_inpod") /* in-pod: a new UDP flow of the pod, to lo */ \
	X(DROP_UDP_INPOD_FRAG, "drop_udp_inpod_frag") /* in-pod: that, in pieces */

enum ambit_reason {
#define AMBIT_REASON_ENUM(n, s) AMBIT_##n,
	AMBIT_REASONS(AMBIT_REASON_ENUM)
#undef AMBIT_REASON_ENUM
	    AMBIT_REASON__COUNT,
};

#endif
