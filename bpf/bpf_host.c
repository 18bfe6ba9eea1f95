// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_host: per-packet LB at tc ingress of the node's devices (stub, being written). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "maps.h"
#include "lb.h"

SEC("tc")
int from_netdev(struct __sk_buff *skb) { return TC_ACT_OK; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
