/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map definitions shared by Membrane's programs. All maps are pinned by the
 * agent under its pin directory (default /sys/fs/bpf/membrane) so that they
 * outlive the agent; map names are at most 15 characters (kernel limit).
 */
#ifndef MEMBRANE_MAPS_H
#define MEMBRANE_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MB_MAX_ENDPOINTS);
	__type(key, struct mb_endpoint_key);
	__type(value, struct mb_endpoint_info);
} mb_lxc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct mb_metrics_key);
	__type(value, struct mb_metrics_value);
} mb_metrics SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MB_EVENTS_RINGBUF_SIZE);
} mb_events SEC(".maps");

#endif /* MEMBRANE_MAPS_H */
