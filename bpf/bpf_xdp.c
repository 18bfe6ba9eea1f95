// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_xdp: per-packet LB at XDP of the node's devices (stub, being written). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "maps.h"
#include "lb.h"

SEC("xdp")
int xdp_entry(struct xdp_md *ctx) { return XDP_PASS; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
