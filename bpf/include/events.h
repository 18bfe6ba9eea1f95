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

static __always_inline void mb_emit_now(const struct mb_event *ev)
{
	if (bpf_ringbuf_output(&mb_events, (void *)ev, sizeof(*ev), 0) < 0)
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
