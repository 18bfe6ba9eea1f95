/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service frontends and backend choice, shared by the socket LB (bpf_sock)
 * and the per-packet LB (bpf_host at tc, bpf_xdp). The agent programs the
 * maps; see the mb_lb4_* structs in abi.h for the layout:
 *
 *   mb_lb4_svc      (addr, port, proto, scope, slot 0) -> count, flags, rev_nat_id
 *                   (addr, port, proto, scope, slot i) -> backend id, i in 1..count
 *   mb_lb4_backend  backend id -> address, port, state
 *   mb_lb4_maglev   rev_nat_id -> array of maglev_size backend ids
 *   mb_lb4_affinity (client, rev_nat_id) -> backend id, last use
 */
#ifndef MEMBRANE_LB_H
#define MEMBRANE_LB_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "maps.h"

#define MB_NSEC_PER_SEC 1000000000ULL

static __always_inline struct mb_config *mb_config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&mb_config, &zero);
}

/* The service entry (slot 0) of a frontend in a scope, or NULL. */
static __always_inline struct mb_lb4_service *mb_lb4_lookup(struct mb_lb4_key *key, __u32 addr, __u16 dport,
							     __u8 proto, __u8 scope)
{
	key->addr = addr;
	key->dport = dport;
	key->slot = 0;
	key->proto = proto;
	key->scope = scope;
	key->pad = 0;
	return bpf_map_lookup_elem(&mb_lb4_svc, key);
}

static __always_inline struct mb_lb4_backend *mb_lb4_backend_get(__u32 backend_id)
{
	struct mb_lb4_backend_key key = { .backend_id = backend_id };

	return bpf_map_lookup_elem(&mb_lb4_backend, &key);
}

/*
 * A hash of the 5-tuple that is the same on every node (the skb hash is
 * seeded per boot, so it is not), for Maglev: Bob Jenkins' final mix over
 * three words with a fixed initial value.
 */
#define MB_ROL32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static __always_inline __u32 mb_hash_tuple(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport, __u8 proto)
{
	__u32 a = 0x6d656d62 + saddr; /* "memb" */
	__u32 b = 0x72616e65 + daddr; /* "rane" */
	__u32 c = 0x9e3779b9 + (((__u32)sport << 16) | dport) + proto;

	c ^= b; c -= MB_ROL32(b, 14);
	a ^= c; a -= MB_ROL32(c, 11);
	b ^= a; b -= MB_ROL32(a, 25);
	c ^= b; c -= MB_ROL32(b, 16);
	a ^= c; a -= MB_ROL32(c, 4);
	b ^= a; b -= MB_ROL32(a, 14);
	c ^= b; c -= MB_ROL32(b, 24);
	return c;
}

/* The backend in a Maglev table slot, 0 when the frontend has no table. */
static __always_inline __u32 mb_lb4_maglev_pick(__u16 rev_nat_id, __u32 hash)
{
	struct mb_config *cfg = mb_config_get();
	__u32 id = rev_nat_id, idx;
	__u32 *table, *backend;

	if (!cfg || cfg->maglev_size == 0)
		return 0;
	table = bpf_map_lookup_elem(&mb_lb4_maglev, &id);
	if (!table)
		return 0;
	idx = hash % cfg->maglev_size;
	backend = bpf_map_lookup_elem(table, &idx);
	return backend ? *backend : 0;
}

/* A uniformly random active backend: one lookup of a random slot. */
static __always_inline __u32 mb_lb4_random_pick(struct mb_lb4_key *key, const struct mb_lb4_service *svc)
{
	struct mb_lb4_service *slot;
	__u16 count = svc->count;

	if (count == 0)
		return 0;
	key->slot = (__u16)(bpf_get_prandom_u32() % count) + 1;
	slot = bpf_map_lookup_elem(&mb_lb4_svc, key);
	key->slot = 0;
	return slot ? slot->backend_id : 0;
}

/*
 * Chooses the backend for a new connection to the frontend `key` (slot 0,
 * as mb_lb4_lookup left it) whose service entry is `svc`:
 *  1. with sessionAffinity ClientIP, the client's previous backend while it
 *     is still active and the timeout has not passed;
 *  2. with `maglev` set and a Maglev table for the frontend, the table's
 *     backend for `hash` (the same on every node);
 *  3. otherwise a random active backend.
 * `client` identifies the client for affinity (a netns cookie when
 * `client_is_netns`, else the client's IPv4 address).
 * Returns the backend id with the backend in *out, or 0 when there is none.
 */
static __always_inline __u32 mb_lb4_select(struct mb_lb4_key *key, const struct mb_lb4_service *svc, __u64 client,
					   __u8 client_is_netns, int maglev, __u32 hash,
					   struct mb_lb4_backend **out)
{
	struct mb_lb4_affinity_key akey = {
		.client = client,
		.rev_nat_id = svc->rev_nat_id,
		.netns = client_is_netns,
	};
	struct mb_lb4_backend *be = NULL;
	__u64 now = bpf_ktime_get_ns();
	__u32 id = 0;

	if (svc->flags & MB_SVC_F_AFFINITY) {
		struct mb_lb4_affinity *a = bpf_map_lookup_elem(&mb_lb4_affinity, &akey);

		/* Signed: another CPU may have stamped the entry after we read the
		 * clock, and an unsigned difference would then look expired. */
		if (a && (__s64)(now - a->last_used_ns) <= (__s64)((__u64)svc->affinity_timeout * MB_NSEC_PER_SEC)) {
			be = mb_lb4_backend_get(a->backend_id);
			if (be && be->state == MB_BACKEND_ACTIVE) {
				id = a->backend_id;
				a->last_used_ns = now;
				*out = be;
				return id;
			}
		}
	}

	if (maglev && (svc->flags & MB_SVC_F_MAGLEV))
		id = mb_lb4_maglev_pick(svc->rev_nat_id, hash);
	if (id == 0)
		id = mb_lb4_random_pick(key, svc);
	if (id == 0)
		return 0;
	be = mb_lb4_backend_get(id);
	if (!be)
		return 0;

	if (svc->flags & MB_SVC_F_AFFINITY) {
		struct mb_lb4_affinity a = { .last_used_ns = now, .backend_id = id };

		bpf_map_update_elem(&mb_lb4_affinity, &akey, &a, BPF_ANY);
	}
	*out = be;
	return id;
}

/*
 * Chooses the backend in slot (hash % count) + 1: the same backend for the
 * same hash while the frontend's slots do not change. The socket LB uses it
 * for unconnected UDP with a hash of the socket cookie, so that one socket
 * keeps one backend although every datagram is a new choice. No affinity
 * and no Maglev: callers wanting those use mb_lb4_select.
 * Returns the backend id with the backend in *out, or 0 when there is none.
 */
static __always_inline __u32 mb_lb4_hash_select(struct mb_lb4_key *key, const struct mb_lb4_service *svc, __u32 hash,
						struct mb_lb4_backend **out)
{
	struct mb_lb4_service *slot;
	struct mb_lb4_backend *be;
	__u16 count = svc->count;
	__u32 id;

	if (count == 0)
		return 0;
	key->slot = (__u16)(hash % count) + 1;
	slot = bpf_map_lookup_elem(&mb_lb4_svc, key);
	key->slot = 0;
	if (!slot || slot->backend_id == 0)
		return 0;
	id = slot->backend_id;
	be = mb_lb4_backend_get(id);
	if (!be)
		return 0;
	*out = be;
	return id;
}

#endif /* MEMBRANE_LB_H */
