/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Trace events: a packet seen at an observation point (abi.h MB_TRACE_*),
 * and their aggregation per connection (mb_config.aggregation, map mb_agg4).
 *
 * Observation points and who emits them:
 *   from-endpoint  bpf_lxc from_endpoint, after anti-spoofing (receive point)
 *   to-endpoint    bpf_lxc from_endpoint before bpf_redirect_peer to a local
 *                  endpoint; bpf_host before handing a translated packet to a
 *                  local backend; bpf_lxc to_endpoint for what the node's
 *                  stack delivers to a pod (after its ingress policy)
 *   to-stack       bpf_lxc from_endpoint when a packet goes up the node's stack
 *   from-network   bpf_host from_netdev, every IPv4 packet (receive point)
 *   to-network     bpf_lxc reply_to_client and bpf_host/bpf_xdp FIB redirects:
 *                  per-packet-LB traffic sent out of a node device
 *
 * Receive points report only at MB_AGG_NONE, and only look at mb_agg4 (for
 * is_reply); send points keep the per-connection state. The cost per packet
 * at a send point, at LOW and above: one LRU lookup (a TCP SYN: one update
 * instead), plus an update in place of the entry only when reporting.
 *
 * Translated packets (per-packet LB) are shown between the real peers, the
 * client and the backend, with the frontend in orig_daddr/orig_dport, in
 * both directions: client -> backend (orig = frontend) and its replies
 * backend -> client (orig = frontend, flag REPLY). The aggregation key is
 * that tuple too, so both directions meet in one mb_agg4 entry.
 */
#ifndef MEMBRANE_TRACE_H
#define MEMBRANE_TRACE_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "events.h"
#include "lb.h"
#include "ct.h"
#include "nat.h"
#include "policy.h"

/* The observability settings of mb_config, read once per program run. */
struct mb_obs {
	__u32 flags;      /* mb_config.flags (MB_CFG_F_*) */
	__u8 agg;         /* MB_AGG_* */
	__u8 pad;
	__u16 interval_s; /* periodic report, LOW and MEDIUM; 0: none */
};

static __always_inline void mb_obs_load(struct mb_obs *o)
{
	struct mb_config *cfg = mb_config_get();

	/* mb_config is an array: its one entry always exists (zero: NONE). */
	o->flags = cfg ? cfg->flags : 0;
	o->agg = cfg ? cfg->aggregation : MB_AGG_NONE;
	o->pad = 0;
	o->interval_s = cfg ? cfg->agg_interval_s : 0;
}

#define MB_TRACE_IS_SEND(point) ((point) == MB_TRACE_TO_ENDPOINT || (point) == MB_TRACE_TO_STACK || (point) == MB_TRACE_TO_NETWORK)

/* True when the point can report at all: callers test it before they parse
 * anything for a trace event. */
static __always_inline int mb_trace_on(const struct mb_obs *o, int send)
{
	if (o->flags & MB_CFG_F_NO_TRACE)
		return 0;
	return send || o->agg == MB_AGG_NONE;
}

/* What the caller knows of the packet's direction in its connection. */
#define MB_TRACE_HINT_NONE 0
#define MB_TRACE_HINT_ORIG 1  /* original direction (per-packet LB FWD) */
#define MB_TRACE_HINT_REPLY 2 /* a reply (per-packet LB REV) */

/* Where and what, besides the tuple. */
struct mb_trace_pt {
	__u32 ifindex;
	__u32 len;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 orig_daddr; /* network order; 0: not translated */
	__u16 orig_dport;
	__u16 source;     /* endpoint id, 0 if none */
	__u16 icmp;       /* ICMP: type << 8 | code, network order (the event's dport) */
	__u8 point;       /* MB_TRACE_* */
	__u8 dir;         /* MB_DIR_* of `source`, 0 when none */
	__u8 hint;        /* MB_TRACE_HINT_* */
	__u8 pad[3];
};

#define MB_TRACE_REPORT 0x100 /* mb_agg(): report this packet (low byte: MB_EVF_*) */

static __always_inline void mb_agg_key(struct mb_agg4_key *k, const struct mb_tuple4 *t, int rev)
{
	k->saddr = rev ? t->daddr : t->saddr;
	k->daddr = rev ? t->saddr : t->daddr;
	k->sport = rev ? t->dport : t->sport;
	k->dport = rev ? t->sport : t->dport;
	k->proto = t->proto;
	k->pad[0] = 0;
	k->pad[1] = 0;
	k->pad[2] = 0;
}

/* A zeroed entry, from .rodata: no value to build on the stack. */
static const struct mb_agg4_entry mb_agg_zero = {};

/*
 * Starts the entry `k` of a connection with a report in direction `rev`
 * just now. Inserted zeroed, then filled in place: an entry built on the
 * stack would add to mb_trace's frame, which the verifier counts together
 * with its callers' (bpf_host's from_netdev leaves little of the 512
 * bytes). Costs a lookup more, once per connection.
 */
static __always_inline void mb_agg_start(struct mb_agg4_key *k, int rev, __u8 seen, __u64 how)
{
	struct mb_agg4_entry *e;

	if (bpf_map_update_elem(&mb_agg4, k, &mb_agg_zero, how) != 0 && how != BPF_NOEXIST)
		return;
	e = bpf_map_lookup_elem(&mb_agg4, k);
	if (!e)
		return;
	if (rev) {
		e->last_report_rev_ns = bpf_ktime_get_ns();
		e->flags_seen_rev = seen;
	} else {
		e->last_report_fwd_ns = bpf_ktime_get_ns();
		e->flags_seen_fwd = seen;
	}
}

/*
 * The aggregation step of a packet with tuple `t` (ports 0 when not
 * TCP/UDP/SCTP). Returns its MB_EVF_* flags, with MB_TRACE_REPORT when the
 * packet is to be reported (abi.h gives the levels' semantics).
 *
 * Direction: the entry is keyed by the connection's original direction. A
 * TCP SYN is original and a SYN-ACK a reply by their flags; otherwise the
 * caller's hint says, or the key more likely to exist is tried first (a
 * source port below the destination port looks like a server's reply), then
 * the other one. A SYN starts the connection over: its entry is written
 * without a lookup (a reused tuple must not inherit the old flags).
 * Receive points never write.
 */
static __always_inline __u32 mb_agg(const struct mb_obs *o, const struct mb_tuple4 *t, int send, __u8 hint)
{
	__u8 mask = o->agg == MB_AGG_LOW ? 0xff : (MB_TCP_SYN | MB_TCP_FIN | MB_TCP_RST);
	__u32 every = o->agg <= MB_AGG_LOWEST ? MB_TRACE_REPORT : 0;
	struct mb_agg4_entry *e = NULL;
	struct mb_agg4_key k;
	__u32 flags;
	__u64 now, last;
	__u8 seen, fresh;
	int rev = 0, report;

	if (t->proto == IPPROTO_TCP) {
		__u8 sa = t->tcp_flags & (MB_TCP_SYN | MB_TCP_ACK);

		if (sa == MB_TCP_SYN)
			hint = MB_TRACE_HINT_ORIG;
		else if (sa == (MB_TCP_SYN | MB_TCP_ACK))
			hint = MB_TRACE_HINT_REPLY;
	}

	if (send && t->proto == IPPROTO_TCP && (t->tcp_flags & (MB_TCP_SYN | MB_TCP_ACK)) == MB_TCP_SYN) {
		/* A new connection (or a SYN retransmitted): start its entry. */
		mb_agg_key(&k, t, 0);
		mb_agg_start(&k, 0, t->tcp_flags & mask, BPF_ANY);
		return MB_TRACE_REPORT | MB_EVF_NEW | MB_EVF_REPLY_KNOWN;
	}

	rev = hint == MB_TRACE_HINT_REPLY ||
	      (hint == MB_TRACE_HINT_NONE && bpf_ntohs(t->sport) < bpf_ntohs(t->dport));
	mb_agg_key(&k, t, rev);
	e = bpf_map_lookup_elem(&mb_agg4, &k);
	if (!e && hint == MB_TRACE_HINT_NONE) {
		rev = !rev;
		mb_agg_key(&k, t, rev);
		e = bpf_map_lookup_elem(&mb_agg4, &k);
	}

	if (!e) {
		if (!send) {
			/* Only a hint (SYN, SYN-ACK, LB direction) tells. */
			if (hint == MB_TRACE_HINT_NONE)
				return every;
			return every | MB_EVF_REPLY_KNOWN | (hint == MB_TRACE_HINT_REPLY ? MB_EVF_REPLY : 0);
		}
		/* The first packet seen of a connection: it defines the original
		 * direction, unless a hint says it is a reply. */
		rev = hint == MB_TRACE_HINT_REPLY;
		mb_agg_key(&k, t, rev);
		mb_agg_start(&k, rev, t->tcp_flags & mask, BPF_NOEXIST);
		return MB_TRACE_REPORT | MB_EVF_NEW | MB_EVF_REPLY_KNOWN | (rev ? MB_EVF_REPLY : 0);
	}

	flags = MB_EVF_REPLY_KNOWN | (rev ? MB_EVF_REPLY : 0);
	if (!send)
		return every | flags;

	seen = rev ? e->flags_seen_rev : e->flags_seen_fwd;
	last = rev ? e->last_report_rev_ns : e->last_report_fwd_ns;
	fresh = t->tcp_flags & mask & ~seen;
	now = bpf_ktime_get_ns();
	report = every || fresh || last == 0 ||
		 (o->agg != MB_AGG_MAXIMUM && o->interval_s &&
		  now - last >= (__u64)o->interval_s * MB_NSEC_PER_SEC);
	if (!report)
		return flags;
	/* Races between CPUs only cost a duplicate report. */
	if (rev) {
		e->last_report_rev_ns = now;
		if (fresh)
			e->flags_seen_rev = seen | fresh;
	} else {
		e->last_report_fwd_ns = now;
		if (fresh)
			e->flags_seen_fwd = seen | fresh;
	}
	return flags | MB_TRACE_REPORT;
}

/*
 * A trace event for the packet `t` at `pt`, if the switches and the
 * aggregation let it through. Not inlined: one copy per program keeps the
 * callers (and the verifier's work on them) small.
 */
static __noinline void mb_trace(const struct mb_obs *o, const struct mb_trace_pt *pt, const struct mb_tuple4 *t)
{
	int send = MB_TRACE_IS_SEND(pt->point);
	struct mb_event *ev;
	__u32 r;

	if (!mb_trace_on(o, send))
		return;
	r = mb_agg(o, t, send, pt->hint);
	if (!(r & MB_TRACE_REPORT))
		return;
	/* Written in place in the ring buffer: no event on the stack, whose
	 * 512 bytes the callers (from_endpoint with policy) nearly use up. */
	ev = bpf_ringbuf_reserve(&mb_events, sizeof(*ev), 0);
	if (!ev) {
		mb_count(MB_METRIC_EVENT_LOST, 0, 0);
		return;
	}
	mb_event_init(ev, t, MB_EVENT_TRACE, pt->point, pt->ifindex, pt->len);
	if (t->proto == IPPROTO_ICMP)
		ev->dport = pt->icmp;
	ev->source = pt->source;
	ev->dir = pt->dir;
	ev->src_identity = pt->src_identity;
	ev->dst_identity = pt->dst_identity;
	ev->orig_daddr = pt->orig_daddr;
	ev->orig_dport = pt->orig_dport;
	ev->flags = r & 0xff;
	/* Reserved: the unread data includes this record (events.h). */
	bpf_ringbuf_submit(ev, mb_events_wakeup(bpf_ringbuf_query(&mb_events, BPF_RB_AVAIL_DATA)));
}

static __always_inline void mb_trace_pt_init(struct mb_trace_pt *pt, __u8 point, __u16 source, __u8 dir, __u32 ifindex,
					     __u32 len)
{
	__builtin_memset(pt, 0, sizeof(*pt));
	pt->point = point;
	pt->source = source;
	pt->dir = dir;
	pt->ifindex = ifindex;
	pt->len = len;
}

/* --- tc ---------------------------------------------------------------------------- */

/* The tuple of an skb with its IPv4 header at `ip` (policy.h's parse), and
 * for ICMP the type and code as events show them. */
static __always_inline void mb_trace_skb_tuple(struct __sk_buff *skb, const struct iphdr *ip, struct mb_tuple4 *t,
					       __u16 *icmp)
{
	mb_pol_tuple(skb, ip, t);
	*icmp = t->proto == IPPROTO_ICMP ? mb_icmp_typecode(skb, t) : 0;
}

/*
 * The tuple to show for a packet `t` of the per-packet LB translated by
 * `nat` (FWD: nat -> backend; REV: frontend -> client): between the client
 * and the backend, the frontend going to pt->orig_*.
 */
static __always_inline void mb_trace_lb_tuple(struct mb_tuple4 *out, struct mb_trace_pt *pt, const struct mb_tuple4 *t,
					      const struct mb_nat4 *nat, int reply)
{
	*out = *t;
	out->daddr = nat->daddr;
	out->dport = nat->dport;
	pt->orig_daddr = reply ? nat->saddr : t->daddr;
	pt->orig_dport = reply ? nat->sport : t->dport;
	pt->hint = reply ? MB_TRACE_HINT_REPLY : MB_TRACE_HINT_ORIG;
}

#endif /* MEMBRANE_TRACE_H */
