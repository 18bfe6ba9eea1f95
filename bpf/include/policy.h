/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Network policy in the datapath. The verdict (the same one `membrane
 * policy trace` computes in userspace):
 *
 *   judge(endpoint ep, direction, remote identity R, remote CIDR identity C, proto, dport)
 *     - ep's flags lack the direction's POLICY flag: allowed, no verdict event;
 *     - mb_policy is looked up (prefixlen MB_POLICY_PREFIX_FULL) for R, for C
 *       (when not 0) and for MB_ID_ANY;
 *     - a hit with MB_POLICY_F_DENY: denied (MB_DROP_POLICY_DENY), first in the
 *       order R, C, ANY; else a hit: allowed (first hit in that order); else
 *       denied by default (rule 0, MB_DROP_POLICY);
 *     - denied while ep or the node is in audit mode: AUDIT, the packet passes.
 *
 * A connection that policy let through has an mb_pct4 entry keyed by its
 * packets' tuple (after service translation). A packet whose reversed tuple
 * has an entry is a reply and passes without a policy lookup; packets in the
 * original direction are judged every time, so revoking an allow cuts
 * existing connections at their next packet. Verdict events go out for the
 * packet that creates an entry (one per enforced direction) and for every
 * packet that policy drops (followed by a drop event).
 *
 * Endpoints without any POLICY flag need none of this: the callers skip the
 * whole step for them (no lookups, no entry).
 */
#ifndef MEMBRANE_POLICY_H
#define MEMBRANE_POLICY_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "events.h"
#include "lb.h"
#include "ct.h"

#define MB_EP_F_POLICY (MB_EP_F_INGRESS_POLICY | MB_EP_F_EGRESS_POLICY)

/* --- the packet ---------------------------------------------------------------- */

/*
 * Fills `t` from the IPv4 header `ip` (in the linear area) and, for TCP, UDP
 * and SCTP, the ports (0 for other protocols, ICMP included, and for a
 * fragment other than the first). The L4 header is read with
 * bpf_skb_load_bytes: it may sit outside the linear area, and the helper
 * leaves the caller's packet pointers valid.
 */
static __always_inline void mb_pol_tuple(struct __sk_buff *skb, const struct iphdr *ip, struct mb_tuple4 *t)
{
	__u32 off = ETH_HLEN + (ip->ihl & 0xf) * 4;
	__u8 th[14];

	t->saddr = ip->saddr;
	t->daddr = ip->daddr;
	t->proto = ip->protocol;
	t->ttl = ip->ttl;
	t->ihl = ip->ihl;
	t->sport = 0;
	t->dport = 0;
	t->tcp_flags = 0;
	if (ip->frag_off & bpf_htons(0x1fff))
		return;
	if (t->proto == IPPROTO_TCP) {
		/* ports, then the flags in byte 13 */
		if (bpf_skb_load_bytes(skb, off, th, sizeof(th)) == 0) {
			t->sport = *(__u16 *)&th[0];
			t->dport = *(__u16 *)&th[2];
			t->tcp_flags = th[13];
		}
	} else if (t->proto == IPPROTO_UDP || t->proto == IPPROTO_SCTP) {
		if (bpf_skb_load_bytes(skb, off, th, 4) == 0) {
			t->sport = *(__u16 *)&th[0];
			t->dport = *(__u16 *)&th[2];
		}
	}
}

/* --- identities ------------------------------------------------------------------ */

/* What the ipcache says about an address: world (no CIDR identity) without an entry. */
static __always_inline void mb_ipcache_get(__u32 addr, struct mb_ipcache_entry *out)
{
	struct mb_ipcache_key k = { .prefixlen = 32, .ip4 = addr };
	struct mb_ipcache_entry *e = bpf_map_lookup_elem(&mb_ipcache, &k);

	if (e) {
		out->identity = e->identity;
		out->cidr_identity = e->cidr_identity;
	} else {
		out->identity = MB_ID_WORLD;
		out->cidr_identity = 0;
	}
}

static __always_inline __u32 mb_config_flags(void)
{
	struct mb_config *cfg = mb_config_get();

	return cfg ? cfg->flags : 0;
}

/* --- the judge --------------------------------------------------------------------- */

struct mb_verdict {
	__u32 rule_id;      /* the deciding entry's rule, 0 for default deny */
	__u32 src_identity; /* the packet's source and destination identities, for events */
	__u32 dst_identity;
	__u32 hit_identity; /* the key identity of the deciding entry (R, C or MB_ID_ANY) */
	__u16 lxc_id;       /* the judged endpoint */
	__u8 dir;           /* MB_DIR_* of the judged endpoint */
	__u8 verdict;       /* 0: the direction is not enforced; else MB_VERDICT_* */
	__u8 hit;           /* 1 when an entry decided */
	__u8 reason;        /* MB_DROP_POLICY or MB_DROP_POLICY_DENY when denied or audited */
	__u16 pad;
};

/* The verdict of a direction that is not judged (verdict 0: allowed, no event). */
static __always_inline void mb_verdict_init(struct mb_verdict *v, const struct mb_endpoint_info *ep, __u8 dir, __u32 remote)
{
	v->rule_id = 0;
	v->hit_identity = 0;
	v->lxc_id = ep->lxc_id;
	v->dir = dir;
	v->verdict = 0;
	v->hit = 0;
	v->reason = 0;
	v->pad = 0;
	if (dir == MB_DIR_INGRESS) {
		v->src_identity = remote;
		v->dst_identity = ep->identity;
	} else {
		v->src_identity = ep->identity;
		v->dst_identity = remote;
	}
}

static __always_inline int mb_verdict_passes(const struct mb_verdict *v)
{
	return v->verdict != MB_VERDICT_DENIED;
}

static __always_inline struct mb_policy_entry *mb_policy_get(struct mb_policy_key *k, __u32 identity)
{
	k->identity = identity;
	return bpf_map_lookup_elem(&mb_policy, k);
}

/*
 * Judges the packet `t` against ep's policy in direction `dir`, the remote
 * being identity `remote` with CIDR identity `cidr` (0: none). Three LPM
 * lookups at most; the agent keeps every allow that a deny of the same
 * (endpoint, direction, identity) covers out of the map, so the longest
 * match of one identity never hides a deny.
 */
static __always_inline void mb_policy_judge(const struct mb_endpoint_info *ep, __u8 dir, __u32 remote, __u32 cidr,
					    const struct mb_tuple4 *t, struct mb_verdict *v)
{
	struct mb_policy_key k = {
		.prefixlen = MB_POLICY_PREFIX_FULL,
		.lxc_id = ep->lxc_id,
		.dir = dir,
		.proto = t->proto,
		.dport = t->dport,
	};
	struct mb_policy_entry *r = NULL, *c = NULL, *a, *hit = NULL;
	__u32 hit_id = 0;

	mb_verdict_init(v, ep, dir, remote);
	if (!(ep->flags & (dir == MB_DIR_INGRESS ? MB_EP_F_INGRESS_POLICY : MB_EP_F_EGRESS_POLICY)))
		return;
	/* R = 0 (an endpoint whose identity is not known) or C = R would only
	 * repeat another lookup. */
	if (remote != MB_ID_ANY)
		r = mb_policy_get(&k, remote);
	if (cidr != MB_ID_ANY && cidr != remote)
		c = mb_policy_get(&k, cidr);
	a = mb_policy_get(&k, MB_ID_ANY);

	if (r && (r->flags & MB_POLICY_F_DENY)) {
		hit = r;
		hit_id = remote;
	} else if (c && (c->flags & MB_POLICY_F_DENY)) {
		hit = c;
		hit_id = cidr;
	} else if (a && (a->flags & MB_POLICY_F_DENY)) {
		hit = a;
	} else if (r) {
		hit = r;
		hit_id = remote;
	} else if (c) {
		hit = c;
		hit_id = cidr;
	} else if (a) {
		hit = a;
	}

	if (hit) {
		v->hit = 1;
		v->hit_identity = hit_id;
		v->rule_id = hit->rule_id;
		if (!(hit->flags & MB_POLICY_F_DENY)) {
			v->verdict = MB_VERDICT_ALLOWED;
			return;
		}
		v->reason = MB_DROP_POLICY_DENY;
	} else {
		v->reason = MB_DROP_POLICY;
	}
	if ((ep->flags & MB_EP_F_AUDIT) || (mb_config_flags() & MB_CFG_F_POLICY_AUDIT))
		v->verdict = MB_VERDICT_AUDIT;
	else
		v->verdict = MB_VERDICT_DENIED;
}

/*
 * What the deciding entry matched (MB_POLICY_MATCH_*), for events only: the
 * lookup does not say which prefix it found, so the identity's whole-protocol
 * entry (prefixlen MB_POLICY_PREFIX_ANY_PROTO) is looked up too. The
 * deciding entry was that one when both lookups return the same element.
 */
static __always_inline __u8 mb_policy_match(const struct mb_verdict *v, const struct mb_tuple4 *t)
{
	struct mb_policy_key k = {
		.prefixlen = MB_POLICY_PREFIX_FULL,
		.lxc_id = v->lxc_id,
		.dir = v->dir,
		.identity = v->hit_identity,
		.proto = t->proto,
		.dport = t->dport,
	};
	struct mb_policy_entry *full, *l3;
	int any = v->hit_identity == MB_ID_ANY;

	if (!v->hit)
		return MB_POLICY_MATCH_NONE;
	full = bpf_map_lookup_elem(&mb_policy, &k);
	k.prefixlen = MB_POLICY_PREFIX_ANY_PROTO;
	l3 = bpf_map_lookup_elem(&mb_policy, &k);
	if (full && full == l3)
		return any ? MB_POLICY_MATCH_ALL : MB_POLICY_MATCH_L3;
	return any ? MB_POLICY_MATCH_L4 : MB_POLICY_MATCH_L3_L4;
}

/* --- events ------------------------------------------------------------------------- */

/*
 * A policy verdict event (MB_EVENT_POLICY) or the drop event of a packet that
 * policy dropped (MB_EVENT_DROP, subtype the drop reason). `t` is the tuple
 * to show; `ifindex` the device where the packet was seen.
 */
/* An ICMP packet's type << 8 | code, network order, as events show it in
 * their dport (0 when the header cannot be read). */
static __always_inline __u16 mb_icmp_typecode(struct __sk_buff *skb, const struct mb_tuple4 *t)
{
	__u8 tc[2];

	if (bpf_skb_load_bytes(skb, ETH_HLEN + (t->ihl & 0xf) * 4, tc, 2) < 0)
		return 0;
	return bpf_htons((__u16)(tc[0] << 8 | tc[1]));
}

static __always_inline void mb_policy_emit(struct __sk_buff *skb, const struct mb_tuple4 *t, const struct mb_verdict *v,
					   __u32 ifindex, __u8 type)
{
	struct mb_event ev;

	mb_event_init(&ev, t, type, type == MB_EVENT_POLICY ? mb_policy_match(v, t) : v->reason, ifindex, skb->len);
	ev.source = v->lxc_id;
	ev.dir = v->dir;
	ev.src_identity = v->src_identity;
	ev.dst_identity = v->dst_identity;
	ev.rule_id = v->rule_id;
	/* Policy judges packets in a connection's original direction only
	 * (replies pass through mb_pct4): the verdict is about a request. */
	ev.flags = MB_EVF_REPLY_KNOWN;
	if (type == MB_EVENT_POLICY)
		ev.verdict = v->verdict;
	if (t->proto == IPPROTO_ICMP)
		ev.dport = mb_icmp_typecode(skb, t);
	mb_emit(&ev);
}

/* Drops a packet that `v` denied: its verdict event, its drop event, the counter. */
static __always_inline int mb_policy_drop(struct __sk_buff *skb, const struct mb_tuple4 *t, const struct mb_verdict *v,
					  __u32 ifindex)
{
	mb_policy_emit(skb, t, v, ifindex, MB_EVENT_POLICY);
	mb_policy_emit(skb, t, v, ifindex, MB_EVENT_DROP);
	mb_count(v->reason, v->dir, skb->len);
	return TC_ACT_SHOT;
}

/* --- policy conntrack (mb_pct4) -------------------------------------------------- */

static __always_inline void mb_pct_key(struct mb_pct4_key *k, __u32 saddr, __u32 daddr, __u16 sport, __u16 dport, __u8 proto)
{
	k->saddr = saddr;
	k->daddr = daddr;
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->pad[0] = 0;
	k->pad[1] = 0;
	k->pad[2] = 0;
}

/* A TCP SYN without ACK opens a connection: it is never a reply, and on a
 * tuple that has an entry it starts the connection over. */
static __always_inline int mb_pct_syn(const struct mb_tuple4 *t)
{
	return t->proto == IPPROTO_TCP && (t->tcp_flags & (MB_TCP_SYN | MB_TCP_ACK)) == MB_TCP_SYN;
}

/* True when `t` answers a connection policy allowed (its reversed tuple has
 * an entry); the entry is refreshed. */
static __always_inline int mb_pct_reply(const struct mb_tuple4 *t, __u64 now)
{
	struct mb_pct4_entry *e;
	struct mb_pct4_key k;

	if (mb_pct_syn(t))
		return 0;
	mb_pct_key(&k, t->daddr, t->saddr, t->dport, t->sport, t->proto);
	e = bpf_map_lookup_elem(&mb_pct4, &k);
	if (!e)
		return 0;
	e->last_seen_ns = now;
	if (!(e->flags & MB_PCT_F_SEEN_REPLY))
		e->flags |= MB_PCT_F_SEEN_REPLY; /* only ever set: no atomic needed */
	return 1;
}

/* Creates or refreshes the entry of the allowed packet `t`. Returns 1 when
 * the packet starts a connection (a new entry, or a SYN): then its verdicts
 * are reported. Of two CPUs racing on a connection's first packets, only
 * the one whose insert wins reports.
 *
 * `judged`: an enforced direction allowed the packet. A TCP packet in the
 * middle of a connection that has no entry (it began before either side
 * had a policy, so nothing tracked it) gets one only then: otherwise the
 * side that happens to send first after a policy arrives (often the server)
 * would become the connection's "client", and the other side's packets
 * would pass as its replies without being judged. */
static __always_inline int mb_pct_track(const struct mb_tuple4 *t, __u32 src_identity, __u32 dst_identity, __u32 rule_id,
					__u64 now, int judged)
{
	struct mb_pct4_entry n = {
		.last_seen_ns = now,
		.src_identity = src_identity,
		.dst_identity = dst_identity,
		.rule_id = rule_id,
	};
	struct mb_pct4_entry *e;
	struct mb_pct4_key k;

	mb_pct_key(&k, t->saddr, t->daddr, t->sport, t->dport, t->proto);
	if (mb_pct_syn(t)) {
		bpf_map_update_elem(&mb_pct4, &k, &n, BPF_ANY);
		return 1;
	}
	e = bpf_map_lookup_elem(&mb_pct4, &k);
	if (e) {
		e->last_seen_ns = now;
		return 0;
	}
	if (t->proto == IPPROTO_TCP && !judged)
		return 0;
	return bpf_map_update_elem(&mb_pct4, &k, &n, BPF_NOEXIST) == 0;
}

/*
 * Without policy on either side nothing is judged, but a TCP connection's
 * SYN is still recorded (one LRU insert per connection; other packets cost
 * no lookup): when a policy arrives later, the connection's direction is
 * known, so its replies pass and its packets in the original direction are
 * judged.
 */
static __always_inline void mb_pct_note_syn(const struct mb_tuple4 *t, __u32 src_identity, __u32 dst_identity)
{
	if (mb_pct_syn(t))
		mb_pct_track(t, src_identity, dst_identity, 0, bpf_ktime_get_ns(), 0);
}

/*
 * The same for a packet not parsed yet. This runs for every TCP packet of
 * endpoints without policy, so it first reads the flags byte in place (the
 * header is almost always in the linear area) and parses the tuple only
 * for a SYN, or when the header is not linear.
 */
static __always_inline void mb_pct_note_syn_skb(struct __sk_buff *skb, const struct iphdr *ip, __u32 src_identity,
						__u32 dst_identity)
{
	__u8 *th = (__u8 *)ip + (ip->ihl & 0xf) * 4;
	struct mb_tuple4 t;

	if (ip->protocol != IPPROTO_TCP)
		return;
	if ((void *)(th + 14) <= (void *)(long)skb->data_end && (th[13] & (MB_TCP_SYN | MB_TCP_ACK)) != MB_TCP_SYN)
		return;
	mb_pol_tuple(skb, ip, &t);
	mb_pct_note_syn(&t, src_identity, dst_identity);
}

/* --- the node hands a packet to an endpoint --------------------------------------- */

/*
 * Ingress policy of the local endpoint `ep` (which has a POLICY flag) for a
 * packet the node hands to it: from the node's stack (to_endpoint at tc
 * egress of its veth), or translated by the per-packet load balancer
 * (bpf_host). `t` is the packet as the endpoint gets it: the mb_pct4 entry is
 * keyed by it, so the endpoint's replies pass its egress policy. The remote
 * is `remote_addr`: the source, or the client before translation. Traffic
 * from the node itself (identity host) is allowed without a judge unless
 * MB_CFG_F_HOST_POLICY, and gets an entry all the same. Events show `ev`
 * and name device `ifindex`. Returns TC_ACT_OK or TC_ACT_SHOT.
 */
static __always_inline int mb_policy_to_endpoint(struct __sk_buff *skb, const struct mb_endpoint_info *ep,
						 const struct mb_tuple4 *t, __u32 remote_addr, const struct mb_tuple4 *ev,
						 __u32 ifindex)
{
	__u64 now = bpf_ktime_get_ns();
	struct mb_ipcache_entry r;
	struct mb_verdict v;

	if (mb_pct_reply(t, now))
		return TC_ACT_OK;
	mb_ipcache_get(remote_addr, &r);
	if (r.identity == MB_ID_HOST && !(mb_config_flags() & MB_CFG_F_HOST_POLICY))
		mb_verdict_init(&v, ep, MB_DIR_INGRESS, r.identity);
	else
		mb_policy_judge(ep, MB_DIR_INGRESS, r.identity, r.cidr_identity, t, &v);
	if (!mb_verdict_passes(&v))
		return mb_policy_drop(skb, ev, &v, ifindex);
	if (mb_pct_track(t, r.identity, ep->identity, v.rule_id, now, v.verdict != 0) && v.verdict)
		mb_policy_emit(skb, ev, &v, ifindex, MB_EVENT_POLICY);
	return TC_ACT_OK;
}

#endif /* MEMBRANE_POLICY_H */
