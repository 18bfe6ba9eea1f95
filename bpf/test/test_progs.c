// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Small programs that only the datapath library's tests load
 * (the tests under test/datapath/). Each one leaves an observable trace — a counter,
 * a map entry, a ring-buffer record — so a test can assert what the kernel
 * did instead of trusting a return code.
 *
 * Counter slots in t_counts (keep in step with SLOT/CFG in test/datapath/helpers.ts):
 *   0  IPv4/UDP packets to the test port seen by xdp_count
 *   1  ... seen by tc_count_a
 *   2  ... seen by tc_count_b
 *   3  connect4 calls seen by cg_connect4
 *   4  connect4 calls cg_connect4 refused
 *   5  next sequence number for tc_events
 * Config slots in t_config:
 *   0  TCP/UDP port (host order) that cg_connect4 refuses; 0 = none
 *   1  UDP port (host order) the packet counters count; 0 = any
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "abi.h"

#define SLOT_XDP 0
#define SLOT_TC_A 1
#define SLOT_TC_B 2
#define SLOT_CONNECT 3
#define SLOT_CONNECT_DENIED 4
#define SLOT_SEQ 5

#define CFG_DENY_PORT 0
#define CFG_UDP_PORT 1

/* Typed map access: the real ABI structs, so the codecs are exercised too. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct mb_endpoint_key);
	__type(value, struct mb_endpoint_info);
} t_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, struct mb_metrics_key);
	__type(value, struct mb_metrics_value);
} t_percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} t_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} t_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} t_events SEC(".maps");

static __always_inline void bump(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&t_counts, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u64 config(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&t_config, &slot);

	return v ? *v : 0;
}

/* True for an IPv4/UDP packet to the configured port (any port when 0). */
static __always_inline int is_test_udp(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *uh = (void *)(ip + 1);
	__u64 port;

	if ((void *)(uh + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return 0;
	port = config(CFG_UDP_PORT);
	return port == 0 || uh->dest == bpf_htons((__u16)port);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	if (is_test_udp((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		bump(SLOT_XDP);
	return XDP_PASS;
}

SEC("tc")
int tc_count_a(struct __sk_buff *skb)
{
	if (is_test_udp((void *)(long)skb->data, (void *)(long)skb->data_end))
		bump(SLOT_TC_A);
	return TC_ACT_OK;
}

SEC("tc")
int tc_count_b(struct __sk_buff *skb)
{
	if (is_test_udp((void *)(long)skb->data, (void *)(long)skb->data_end))
		bump(SLOT_TC_B);
	return TC_ACT_OK;
}

/* One mb_event per packet; `source` carries a sequence number (low 16 bits). */
SEC("tc")
int tc_events(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *uh = (void *)(ip + 1);
	__u32 slot = SLOT_SEQ;
	__u64 *seq = bpf_map_lookup_elem(&t_counts, &slot);
	struct mb_event ev = {
		.ts_ns = bpf_ktime_get_ns(),
		.type = MB_EVENT_TRACE,
		.subtype = MB_TRACE_FROM_ENDPOINT,
		.ifindex = skb->ifindex,
		.len = skb->len,
	};

	if (!seq)
		return TC_ACT_OK;
	/* test runs are sequential: no atomics needed for the sequence */
	ev.source = (__u16)*seq;
	*seq += 1;
	if ((void *)(uh + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IP) && ip->ihl == 5) {
		ev.saddr = ip->saddr;
		ev.daddr = ip->daddr;
		ev.proto = ip->protocol;
		if (ip->protocol == IPPROTO_UDP) {
			ev.sport = uh->source;
			ev.dport = uh->dest;
		}
	}
	bpf_ringbuf_output(&t_events, &ev, sizeof(ev), 0);
	return TC_ACT_OK;
}

/* Per-CPU counting as events.h does it, under key {reason 7, egress}. */
SEC("tc")
int tc_percpu(struct __sk_buff *skb)
{
	struct mb_metrics_key key = { .reason = 7, .dir = MB_DIR_EGRESS };
	struct mb_metrics_value *v = bpf_map_lookup_elem(&t_percpu, &key);

	if (v) {
		v->packets++;
		v->bytes += skb->len;
	} else {
		struct mb_metrics_value init = { .packets = 1, .bytes = skb->len };

		bpf_map_update_elem(&t_percpu, &key, &init, BPF_NOEXIST);
	}
	return TC_ACT_OK;
}

SEC("cgroup/connect4")
int cg_connect4(struct bpf_sock_addr *ctx)
{
	__u64 deny = config(CFG_DENY_PORT);

	bump(SLOT_CONNECT);
	if (deny != 0 && ctx->user_port == bpf_htons((__u16)deny)) {
		bump(SLOT_CONNECT_DENIED);
		return 0; /* connect() fails with EPERM */
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
