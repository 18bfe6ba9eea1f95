// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The observability benchmark's event producer (bench/observe.ts). Never
 * attached anywhere: the benchmark runs it through BPF_PROG_TEST_RUN with
 * `repeat`, and every run writes one mb_event into the agent's pinned ring
 * buffer mb_events with the datapath's own helper (mb_emit: a full ring
 * counts the event lost under reason 0xff in mb_metrics, as in the datapath).
 *
 * The records are the agent's real input: the benchmark fills bx_templates
 * with events between the node's real pods (trace points, policy verdicts,
 * drops, service-translated destinations, replies), and each run takes the
 * next template, stamps the time and gives the client side a fresh port
 * every round of templates, so the stream looks like many connections.
 *
 * Its maps.h maps are the agent's pinned ones (the loader reuses the pins);
 * bx_* are private to the producer.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "events.h"

#define BX_TEMPLATES 256

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BX_TEMPLATES);
	__type(key, __u32);
	__type(value, struct mb_event);
} bx_templates SEC(".maps");

/* slot 0: the number of templates in use (1..BX_TEMPLATES) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bx_config SEC(".maps");

/* events produced so far on this CPU */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bx_seq SEC(".maps");

SEC("tc")
int bench_events(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u32 *count = bpf_map_lookup_elem(&bx_config, &zero);
	__u64 *seq = bpf_map_lookup_elem(&bx_seq, &zero);

	if (!count || !seq || *count == 0 || *count > BX_TEMPLATES)
		return TC_ACT_OK;
	__u64 n = *seq;
	*seq = n + 1;
	__u32 idx = n % *count;
	struct mb_event *t = bpf_map_lookup_elem(&bx_templates, &idx);
	if (!t)
		return TC_ACT_OK;

	struct mb_event ev = *t;
	ev.ts_ns = bpf_ktime_get_ns();
	if (ev.proto == 6 || ev.proto == 17) {
		/* the client's ephemeral port, 32768..49151, new every round of templates */
		__u16 port = bpf_htons(32768 + ((n / *count) & 0x3fff));
		if (ev.flags & MB_EVF_REPLY)
			ev.dport = port;
		else
			ev.sport = port;
	}
	mb_emit(&ev);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
