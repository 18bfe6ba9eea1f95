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

/* --- services ------------------------------------------------------------ */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MB_LB_SVC_MAX);
	__type(key, struct mb_lb4_key);
	__type(value, struct mb_lb4_service);
} mb_lb4_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MB_LB_BACKENDS_MAX);
	__type(key, struct mb_lb4_backend_key);
	__type(value, struct mb_lb4_backend);
} mb_lb4_backend SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MB_LB_REVNAT_MAX);
	__type(key, struct mb_lb4_revnat_key);
	__type(value, struct mb_lb4_revnat);
} mb_lb4_revnat SEC(".maps");

/* Inner map template: the agent creates one array per Maglev frontend with
 * max_entries = mb_config.maglev_size; BPF_F_INNER_MAP lets that size differ
 * from the template's, and BPF_F_MMAPABLE lets the agent fill a table with
 * one memory copy (inner maps must carry the template's flags). */
struct mb_maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, MB_LB_MAGLEV_MAX);
	__type(key, __u32); /* rev_nat_id */
	__array(values, struct mb_maglev_inner);
} mb_lb4_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_LB_AFFINITY_MAX);
	__type(key, struct mb_lb4_affinity_key);
	__type(value, struct mb_lb4_affinity);
} mb_lb4_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_SOCK_REVNAT_MAX);
	__type(key, struct mb_sock4_revnat_key);
	__type(value, struct mb_sock4_revnat);
} mb_sock4_revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_CT_MAX);
	__type(key, struct mb_ct4_key);
	__type(value, struct mb_ct4_entry);
} mb_ct4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mb_config);
} mb_config SEC(".maps");

/* --- identities and policy ------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__uint(max_entries, MB_IPCACHE_MAX);
	__type(key, struct mb_ipcache_key);
	__type(value, struct mb_ipcache_entry);
} mb_ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MB_POLICY_MAX);
	__type(key, struct mb_policy_key);
	__type(value, struct mb_policy_entry);
} mb_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_PCT_MAX);
	__type(key, struct mb_pct4_key);
	__type(value, struct mb_pct4_entry);
} mb_pct4 SEC(".maps");

/* --- observability --------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MB_AGG_MAX);
	__type(key, struct mb_agg4_key);
	__type(value, struct mb_agg4_entry);
} mb_agg4 SEC(".maps");

#endif /* MEMBRANE_MAPS_H */
