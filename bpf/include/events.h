/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Metrics counters and ring-buffer events. */
#ifndef MEMBRANE_EVENTS_H
#define MEMBRANE_EVENTS_H

#include "maps.h"

static __always_inline void mb_count(__u8 reason, __u8 dir, __u32 len)
{
	struct mb_metrics_key key = { .reason = reason, .dir = dir };
	struct mb_metrics_value *v = bpf_map_lookup_elem(&mb_metrics, &key);

	if (v) {
		/* per-CPU value: no atomics needed */
		v->packets++;
		v->bytes += len;
	} else {
		struct mb_metrics_value init = { .packets = 1, .bytes = len };

		bpf_map_update_elem(&mb_metrics, &key, &init, BPF_NOEXIST);
	}
}

/* Emits an event; when the ring buffer is full the event is lost and the
 * kernel's ring buffer reports nothing, so we count the loss ourselves under
 * reason MB_DROP_* = 0xff ("event lost") in the metrics map. */
#define MB_METRIC_EVENT_LOST 0xff

/*
 * Wake-ups. By default the ring buffer wakes its reader for every record
 * submitted while the reader is caught up: an irq_work, which in a VM is a
 * self-IPI exit on the CPU that runs the datapath. At a few events per
 * connection that was most of what observation cost the packets
 * (bench/README.md, "Observability"). So events are submitted without a
 * wake-up; the agent drains the ring on a short timer
 * (src/datapath/ringbuf.ts), and the one record that fills the ring past
 * MB_EVENTS_WAKEUP_BYTES wakes it at once, so a burst does not wait for the
 * timer. `avail` is the unread data including this record.
 */
#define MB_EVENTS_WAKEUP_BYTES (MB_EVENTS_RINGBUF_SIZE / 8)
#define MB_EVENT_RECORD_BYTES ((sizeof(struct mb_event) + 8 + 7) & ~7) /* with its 8-byte header */

static __always_inline __u64 mb_events_wakeup(__u64 avail)
{
	return avail >= MB_EVENTS_WAKEUP_BYTES && avail < MB_EVENTS_WAKEUP_BYTES + MB_EVENT_RECORD_BYTES ? BPF_RB_FORCE_WAKEUP
													      : BPF_RB_NO_WAKEUP;
}

/* Drops keep the ring buffer's own wake-up (the reader is woken if it has
 * caught up): they are what an operator waits for, and rare next to traces
 * and verdicts, which may come with every connection. */
static __always_inline void mb_emit_now(const struct mb_event *ev)
{
	__u64 avail = bpf_ringbuf_query(&mb_events, BPF_RB_AVAIL_DATA) + MB_EVENT_RECORD_BYTES;
	__u64 flags = ev->type == MB_EVENT_DROP ? 0 : mb_events_wakeup(avail);

	if (bpf_ringbuf_output(&mb_events, (void *)ev, sizeof(*ev), flags) < 0)
		mb_count(MB_METRIC_EVENT_LOST, 0, 0);
}

/* True when mb_config switches events of this type off
 * (--bpf-events-{drop,policy-verdict,trace}-enabled=false). Drops are
 * counted in mb_metrics all the same: only the event goes. */
static __always_inline int mb_event_off(__u8 type)
{
	__u32 zero = 0;
	struct mb_config *cfg = bpf_map_lookup_elem(&mb_config, &zero);
	__u32 f = cfg ? cfg->flags : 0;

	if (type == MB_EVENT_DROP)
		return (f & MB_CFG_F_NO_DROP) != 0;
	if (type == MB_EVENT_POLICY)
		return (f & MB_CFG_F_NO_POLICY) != 0;
	return (f & MB_CFG_F_NO_TRACE) != 0;
}

/* Drop and policy-verdict events (rare: they read mb_config here); trace
 * events go through trace.h, which has read it already. */
static __always_inline void mb_emit(const struct mb_event *ev)
{
	if (mb_event_off(ev->type))
		return;
	mb_emit_now(ev);
}

#endif /* MEMBRANE_EVENTS_H */
