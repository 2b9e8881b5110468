// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cgroup programs of the node's pods cgroup; logic in lib/capture.h. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/capture.h"

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	return capture_connect4(ctx);
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	return capture_connect6(ctx);
}

SEC("sockops")
int sock_ops(struct bpf_sock_ops *skops)
{
	capture_sockops(skops);
	return 1;
}

SEC("cgroup/getpeername4")
int getpeer4(struct bpf_sock_addr *ctx)
{
	capture_getpeername4(ctx);
	/* getpeername hooks must return 1; anything else is rejected at load. */
	return 1;
}

SEC("cgroup/getpeername6")
int getpeer6(struct bpf_sock_addr *ctx)
{
	capture_getpeername6(ctx);
	return 1;
}

/*
 * UDP: DNS to the ztunnel's proxy, and its answers shown from the server asked; Service VIPs to
 * a backend, and its answers shown from the VIP.
 */
SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
	return capture_sendmsg4(ctx);
}

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx)
{
	return capture_sendmsg6(ctx);
}

SEC("cgroup/recvmsg4")
int recvmsg4(struct bpf_sock_addr *ctx)
{
	capture_recvmsg4(ctx);
	/* recvmsg hooks must return 1. */
	return 1;
}

SEC("cgroup/recvmsg6")
int recvmsg6(struct bpf_sock_addr *ctx)
{
	capture_recvmsg6(ctx);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
