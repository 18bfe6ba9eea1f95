// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_sock: socket-level load balancing (stub, being written). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "maps.h"
#include "lb.h"

SEC("cgroup/connect4")
int sock4_connect(struct bpf_sock_addr *ctx) { return 1; }

SEC("cgroup/sendmsg4")
int sock4_sendmsg(struct bpf_sock_addr *ctx) { return 1; }

SEC("cgroup/recvmsg4")
int sock4_recvmsg(struct bpf_sock_addr *ctx) { return 1; }

SEC("cgroup/getpeername4")
int sock4_getpeername(struct bpf_sock_addr *ctx) { return 1; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
