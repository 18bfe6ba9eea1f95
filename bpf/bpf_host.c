// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_host: the per-packet load balancer at tc ingress of the node's devices
 * ("from-netdev"): NodePort, LoadBalancer and external IPs for traffic from
 * outside the node. The decision is nodeport.h's (shared with bpf_xdp); this
 * file parses the packet and applies it with the skb helpers:
 *
 *  - FWD to a backend on this node: translated, judged by the endpoint's
 *    ingress policy as coming from the original client, then handed to the
 *    endpoint's eth0 with bpf_redirect_peer (no stack, no iptables);
 *  - FWD to a backend elsewhere, and REV (a reply from such a backend):
 *    translated, then sent with the MACs of a FIB lookup;
 *  - a frontend without backends: ICMP port unreachable back out of the
 *    device it came in on;
 *  - a packet the XDP program already translated toward a local backend
 *    (XDP passed it up, marked in its metadata): judged the same way, then
 *    delivered as it is;
 *  - everything else (ARP, the node's own traffic, ...): untouched.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "abi.h"
#include "maps.h"
#include "events.h"
#include "parse.h"
#include "lb.h"
#include "ct.h"
#include "nat.h"
#include "nodeport.h"
#include "policy.h"
#include "trace.h"

/* The helpers below that are not inlined keep their stack out of
 * from_netdev's: the verifier adds a chain of calls' frames up against 512
 * bytes, and the trace step (mb_trace) is such a call. */
static __noinline int drop(struct __sk_buff *skb, const struct mb_tuple4 *t, __u8 reason)
{
	mb_np_drop_event(t, reason, skb->ingress_ifindex, skb->len);
	return TC_ACT_SHOT;
}

/* The ingress policy step of to_endpoint() below. */
static __noinline int judge(struct __sk_buff *skb, const struct mb_endpoint_info *ep, const struct mb_tuple4 *t,
			    __u32 client_addr, __u16 client_port)
{
	if (ep->flags & MB_EP_F_POLICY) {
		struct mb_tuple4 ev = *t;

		ev.saddr = client_addr;
		ev.sport = client_port;
		return mb_policy_to_endpoint(skb, ep, t, client_addr, &ev, skb->ingress_ifindex);
	}
	mb_pct_note_syn(t, 0, ep->identity);
	return TC_ACT_OK;
}

/*
 * Hands a translated packet `t` to a local endpoint's eth0, if its ingress
 * policy lets the original client (client_addr:client_port) in. The
 * mb_pct4 entry is keyed by `t`, so the backend's replies pass as replies;
 * events show the client and the backend, the trace event (to-endpoint)
 * the frontend fe_addr:fe_port as the original destination.
 */
static __always_inline int to_endpoint(struct __sk_buff *skb, const struct mb_obs *o, const struct mb_endpoint_info *ep,
				       const struct mb_tuple4 *t, __u32 client_addr, __u16 client_port, __u32 fe_addr,
				       __u16 fe_port)
{
	struct mb_trace_pt pt;
	struct mb_tuple4 et;
	struct ethhdr *eth;

	if (judge(skb, ep, t, client_addr, client_port) != TC_ACT_OK)
		return TC_ACT_SHOT;
	eth = (void *)(long)skb->data;

	if ((void *)(eth + 1) > (void *)(long)skb->data_end)
		return TC_ACT_SHOT;
	__builtin_memcpy(eth->h_dest, ep->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ep->node_mac, ETH_ALEN);
	if (mb_trace_on(o, 1)) {
		mb_trace_pt_init(&pt, MB_TRACE_TO_ENDPOINT, ep->lxc_id, MB_DIR_INGRESS, ep->ifindex, skb->len);
		pt.dst_identity = ep->identity;
		pt.orig_daddr = fe_addr;
		pt.orig_dport = fe_port;
		pt.hint = MB_TRACE_HINT_ORIG;
		et = *t;
		et.saddr = client_addr;
		et.sport = client_port;
		mb_trace(o, &pt, &et);
	}
	return bpf_redirect_peer(ep->ifindex, 0);
}

/* Trace point from-network (receive: MB_AGG_NONE only) for the packet `t`. */
static __always_inline void from_network(struct __sk_buff *skb, const struct mb_obs *o, const struct mb_tuple4 *t,
					 __u16 icmp, __u8 hint)
{
	struct mb_trace_pt pt;

	mb_trace_pt_init(&pt, MB_TRACE_FROM_NETWORK, 0, 0, skb->ingress_ifindex, skb->len);
	pt.icmp = icmp;
	pt.hint = hint;
	mb_trace(o, &pt, t);
}

/*
 * ICMP port unreachable for the packet `t`, sent back out of this device.
 * The ICMP payload is the original IP header and 8 bytes, except for a
 * CHECKSUM_PARTIAL packet (from a local socket through a veth): the kernel
 * refuses to cut such a packet before its L4 checksum field, so a TCP one
 * keeps its whole 20-byte header (RFC 1812 allows more than 8 bytes). The
 * skb stays CHECKSUM_PARTIAL with its checksum start inside the ICMP
 * payload; a veth peer trusts it as it is. Not inlined: its buffers must
 * not add up with the trace step's in from_netdev's 512-byte stack.
 */
static __noinline int reject(struct __sk_buff *skb, const struct mb_tuple4 *t)
{
	__u16 inner[MB_ICMP_INNER_MAX / 2];
	__u32 inner_len = ((t->ihl & 0xf) * 4 + 8) & 0x7f;
	struct mb_icmp_frame f;
	struct ethhdr eth;

	/* Event first: the reply no longer has the client's tuple. */
	mb_np_drop_event(t, MB_DROP_NO_SERVICE, skb->ingress_ifindex, skb->len);
	if (bpf_skb_change_tail(skb, ETH_HLEN + inner_len, 0) < 0) {
		if (t->proto != IPPROTO_TCP)
			return TC_ACT_SHOT;
		inner_len = ((t->ihl & 0xf) * 4 + sizeof(struct tcphdr)) & 0x7f;
		if (bpf_skb_change_tail(skb, ETH_HLEN + inner_len, 0) < 0)
			return TC_ACT_SHOT;
	}
	if (inner_len > sizeof(inner) || inner_len < sizeof(struct iphdr) + 8)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, inner, inner_len) < 0)
		return TC_ACT_SHOT;
	mb_icmp_frame_build(&f, &eth, t, inner, inner_len);
	if (bpf_skb_adjust_room(skb, MB_ICMP_GROW, BPF_ADJ_ROOM_MAC, 0) < 0 ||
	    bpf_skb_store_bytes(skb, 0, &f, sizeof(f), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * A packet that bpf_xdp already translated toward a local backend and passed
 * up (XDP cannot hand a packet to a pod's veth, see bpf_xdp.c) carries
 * MB_XDP_META_TRANSLATED in its XDP metadata. It is delivered as it is:
 * translating it again would be wrong, and the stack would drop an SNATed
 * one (its source is one of the node's own addresses). Policy judges the
 * original client, which an SNATed packet no longer shows: the connection's
 * REV entry (backend -> nat, the reply's key) has it. Returns a verdict, or
 * -1 when the packet has no such mark.
 */
static __always_inline int xdp_translated(struct __sk_buff *skb, const struct mb_obs *o)
{
	void *data = (void *)(long)skb->data;
	__u32 *meta = (void *)(long)skb->data_meta;
	struct mb_endpoint_info *ep;
	struct mb_ct4_entry *e;
	struct mb_ct4_key k;
	struct mb_tuple4 t;
	__u32 client_addr, fe_addr;
	__u16 client_port, fe_port;

	if ((void *)(meta + 1) > data || *meta != MB_XDP_META_TRANSLATED)
		return -1;
	/* XDP translates first fragments of TCP and UDP only: this parses. */
	if (mb_skb_parse(skb, &t) < 0)
		return TC_ACT_SHOT;
	ep = mb_local_endpoint(t.daddr);
	if (!ep) /* the endpoint went away meanwhile */
		return TC_ACT_SHOT;
	client_addr = t.saddr;
	client_port = t.sport;
	fe_addr = 0;
	fe_port = 0;
	if (mb_trace_on(o, 0))
		from_network(skb, o, &t, 0, MB_TRACE_HINT_ORIG);
	if ((ep->flags & MB_EP_F_POLICY) || mb_trace_on(o, 1)) {
		mb_ct4_key_set(&k, t.daddr, t.saddr, t.dport, t.sport, t.proto, MB_CT_DIR_REV);
		e = bpf_map_lookup_elem(&mb_ct4, &k);
		if (e) {
			client_addr = e->client_addr;
			client_port = e->client_port;
			fe_addr = e->fe_addr;
			fe_port = e->fe_port;
		}
	}
	return to_endpoint(skb, o, ep, &t, client_addr, client_port, fe_addr, fe_port);
}

SEC("tc")
int from_netdev(struct __sk_buff *skb)
{
	struct mb_endpoint_info *ep;
	struct mb_trace_pt pt;
	struct mb_np_plan p;
	struct mb_tuple4 t, et;
	struct mb_obs o;
	__u32 out = 0;
	int rc;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	mb_obs_load(&o);
	rc = xdp_translated(skb, &o);
	if (rc >= 0)
		return rc;
	if (mb_skb_parse(skb, &t) < 0) {
		/* Not the load balancer's (ICMP, fragments, ...): only traced. */
		if (mb_trace_on(&o, 0)) {
			struct iphdr *ip = mb_ipv4(skb);
			__u16 icmp;

			if (ip && ip->ihl >= 5) {
				mb_trace_skb_tuple(skb, ip, &t, &icmp);
				from_network(skb, &o, &t, icmp, MB_TRACE_HINT_NONE);
			}
		}
		return TC_ACT_OK;
	}

	mb_np_decide(&t, skb->len, &p);
	if (mb_trace_on(&o, 0))
		from_network(skb, &o, &t, 0,
			     p.action == MB_NP_FWD ? MB_TRACE_HINT_ORIG : p.action == MB_NP_REV ? MB_TRACE_HINT_REPLY : MB_TRACE_HINT_NONE);
	switch (p.action) {
	case MB_NP_PASS:
		return TC_ACT_OK;
	case MB_NP_REJECT:
		return reject(skb, &t);
	case MB_NP_DROP:
		return drop(skb, &t, p.reason);
	}
	/* FWD or REV. TTL 1: not ours to forward; the stack answers it. */
	if (t.ttl <= 1)
		return TC_ACT_OK;
	if (mb_skb_nat4(skb, &t, &p.nat) < 0)
		return drop(skb, &t, MB_DROP_INVALID_PACKET);
	if (p.action == MB_NP_FWD) {
		ep = mb_local_endpoint(p.nat.daddr);
		if (ep) {
			struct mb_tuple4 nt = t;

			nt.saddr = p.nat.saddr;
			nt.daddr = p.nat.daddr;
			nt.sport = p.nat.sport;
			nt.dport = p.nat.dport;
			return to_endpoint(skb, &o, ep, &nt, t.saddr, t.sport, t.daddr, t.dport);
		}
	}
	rc = mb_skb_fib_redirect(skb, skb->ingress_ifindex, &p.nat, t.proto, &out);
	if (rc < 0)
		return drop(skb, &t, MB_DROP_FIB_FAIL);
	if (rc != TC_ACT_SHOT && mb_trace_on(&o, 1)) {
		mb_trace_pt_init(&pt, MB_TRACE_TO_NETWORK, 0, 0, out, skb->len);
		mb_trace_lb_tuple(&et, &pt, &t, &p.nat, p.action == MB_NP_REV);
		mb_trace(&o, &pt, &et);
	}
	return rc;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
