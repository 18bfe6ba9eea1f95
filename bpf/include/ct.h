/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack for the per-packet load balancer (map mb_ct4, LRU).
 *
 * A translated connection has two entries with the same value (abi.h):
 *   FWD  client -> frontend          (as the client's packets arrive)
 *   REV  backend -> nat_addr:nat_port (as the backend's replies arrive;
 *        nat = node IP + SNAT port with SNAT, the client without)
 * Each entry counts the packets of its own direction. There is no garbage
 * collector: the map is an LRU, and an entry idle for longer than its
 * lifetime (or closing for longer than MB_CT_CLOSING_NS) is treated as gone
 * when it is met again (a new connection, or an SNAT port to reuse).
 */
#ifndef MEMBRANE_CT_H
#define MEMBRANE_CT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "maps.h"

#define MB_CT_TCP_NS (21600ULL * 1000000000ULL)  /* 6 h idle: an established TCP connection */
#define MB_CT_UDP_NS (60ULL * 1000000000ULL)     /* 60 s idle: UDP */
#define MB_CT_CLOSING_NS (10ULL * 1000000000ULL) /* 10 s after FIN or RST */

/* TCP flags, byte 13 of the TCP header. */
#define MB_TCP_FIN 0x01
#define MB_TCP_SYN 0x02
#define MB_TCP_RST 0x04
#define MB_TCP_ACK 0x10

/* A packet's IPv4 5-tuple as parsed (addresses and ports in network order). */
struct mb_tuple4 {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 tcp_flags; /* 0 for UDP */
	__u8 ttl;
	__u8 ihl;       /* IPv4 header length in 32-bit words */
};

/* An event about the packet `t` (the fields every event type has). */
static __always_inline void mb_event_init(struct mb_event *ev, const struct mb_tuple4 *t, __u8 type, __u8 subtype,
					  __u32 ifindex, __u32 len)
{
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = type;
	ev->subtype = subtype;
	ev->ifindex = ifindex;
	ev->saddr = t->saddr;
	ev->daddr = t->daddr;
	ev->sport = t->sport;
	ev->dport = t->dport;
	ev->proto = t->proto;
	ev->tcp_flags = t->tcp_flags;
	ev->len = len;
}

static __always_inline void mb_ct4_key_set(struct mb_ct4_key *k, __u32 saddr, __u32 daddr, __u16 sport,
					   __u16 dport, __u8 proto, __u8 dir)
{
	k->saddr = saddr;
	k->daddr = daddr;
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->dir = dir;
	k->pad = 0;
}

static __always_inline void mb_ct4_fwd_key(struct mb_ct4_key *k, const struct mb_ct4_entry *e)
{
	mb_ct4_key_set(k, e->client_addr, e->fe_addr, e->client_port, e->fe_port, e->proto, MB_CT_DIR_FWD);
}

static __always_inline void mb_ct4_rev_key(struct mb_ct4_key *k, const struct mb_ct4_entry *e)
{
	mb_ct4_key_set(k, e->backend_addr, e->nat_addr, e->backend_port, e->nat_port, e->proto, MB_CT_DIR_REV);
}

/*
 * True when the entry is past its idle lifetime. Signed: another CPU may
 * have stamped last_seen_ns after this CPU read `now` (one flow's packets
 * can be processed on several CPUs at once), and an unsigned difference
 * would then wrap and call a busy connection dead.
 */
static __always_inline int mb_ct4_dead(const struct mb_ct4_entry *e, __u64 now)
{
	__s64 life = e->proto == IPPROTO_TCP ? MB_CT_TCP_NS : MB_CT_UDP_NS;

	if (e->flags & MB_CT_F_CLOSING)
		life = MB_CT_CLOSING_NS;
	return (__s64)(now - e->last_seen_ns) > life;
}

/* Sets flags on the entry of the other direction too (FIN/RST and the first
 * reply are rare: one more lookup then is cheap). */
static __always_inline void mb_ct4_flag_both(struct mb_ct4_entry *e, __u8 dir, __u8 flag)
{
	struct mb_ct4_key k;
	struct mb_ct4_entry *other;

	e->flags |= flag;
	if (dir == MB_CT_DIR_FWD)
		mb_ct4_rev_key(&k, e);
	else
		mb_ct4_fwd_key(&k, e);
	other = bpf_map_lookup_elem(&mb_ct4, &k);
	if (other)
		other->flags |= flag;
}

/* Accounts a packet of `len` bytes seen in the entry's direction. */
static __always_inline void mb_ct4_touch(struct mb_ct4_entry *e, __u8 dir, __u8 tcp_flags, __u32 len, __u64 now)
{
	__u8 want = 0;

	e->last_seen_ns = now;
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, len);
	if ((tcp_flags & (MB_TCP_FIN | MB_TCP_RST)) && !(e->flags & MB_CT_F_CLOSING))
		want |= MB_CT_F_CLOSING;
	if (dir == MB_CT_DIR_REV && !(e->flags & MB_CT_F_SEEN_REPLY))
		want |= MB_CT_F_SEEN_REPLY;
	if (want)
		mb_ct4_flag_both(e, dir, want);
}

/* True when two values describe the same connection. */
static __always_inline int mb_ct4_same(const struct mb_ct4_entry *a, const struct mb_ct4_entry *b)
{
	return a->client_addr == b->client_addr && a->client_port == b->client_port && a->fe_addr == b->fe_addr &&
	       a->fe_port == b->fe_port && a->nat_port == b->nat_port;
}

static __always_inline void mb_ct4_delete_if_same(const struct mb_ct4_key *k, const struct mb_ct4_entry *copy)
{
	struct mb_ct4_entry *e = bpf_map_lookup_elem(&mb_ct4, k);

	if (e && mb_ct4_same(e, copy))
		bpf_map_delete_elem(&mb_ct4, k);
}

/*
 * Deletes both entries of a connection, given a copy of its value (a map
 * value must not be read after it is deleted: LRU elements are recycled).
 * An entry is only deleted while it still belongs to this connection: an
 * SNAT port can have been handed to another one since.
 */
static __always_inline void mb_ct4_forget(const struct mb_ct4_entry *copy)
{
	struct mb_ct4_key k;

	mb_ct4_rev_key(&k, copy);
	mb_ct4_delete_if_same(&k, copy);
	mb_ct4_fwd_key(&k, copy);
	mb_ct4_delete_if_same(&k, copy);
}

#endif /* MEMBRANE_CT_H */
