/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS query fuzz_bpf's node has an answer for in the kernel (dns_answers: pod 10.1.0.5;
 * dns_answers6: its IPv6 fd00:1::5; generation 1), and the addresses the capture sends DNS to:
 * shared by the target, which puts the entries there, and gen_seeds.c, whose seeds ask them, so
 * the fuzzer starts on the answering path of both families.
 */
#ifndef AMBIT_FUZZ_BPF_DNS_H
#define AMBIT_FUZZ_BPF_DNS_H

#include <stdint.h>

#define FUZZ_BPF_DNS_PROXY "192.168.50.2"
#define FUZZ_BPF_DNS_POD "10.1.0.5"
#define FUZZ_BPF_DNS_PROXY6 "fd00:50::2"
#define FUZZ_BPF_DNS_POD6 "fd00:1::5"

/* svc.ns.svc.cluster.local A IN, recursion desired, id 0x1234. */
static const uint8_t fuzz_bpf_dns_query[] = {
    0x12, 0x34, 0x01, 0x00, 0,	 1,   0,   0,	0,   0, 0,   0,	  3,   's',
    'v',  'c',	2,    'n',  's', 3,   's', 'v', 'c', 7, 'c', 'l', 'u', 's',
    't',  'e',	'r',  5,    'l', 'o', 'c', 'a', 'l', 0, 0,   1,	  0,   1};

#endif
