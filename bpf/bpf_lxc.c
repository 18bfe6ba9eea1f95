// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_lxc: the programs on an endpoint's host-side veth.
 *
 * from_endpoint, at tc ingress, sees every packet that a pod sends:
 *
 *  - anti-spoofing: the IPv4 source must be the address of the endpoint that
 *    owns this veth (looked up in mb_lxc), otherwise the packet is dropped;
 *  - network policy (policy.h): a reply of a connection policy allowed
 *    passes; otherwise the egress policy of the source and, for a local
 *    destination, the ingress policy of the destination judge it;
 *  - local delivery: a packet for another endpoint on this node is handed to
 *    that endpoint's eth0 with bpf_redirect_peer, skipping the host stack
 *    (no bridge, no iptables, no routing lookup);
 *  - a reply from a local backend of the per-packet load balancer (bpf_host,
 *    bpf_xdp: it has a REV conntrack entry) is translated back (source: the
 *    frontend, destination: the client) and sent out of the node's device
 *    toward the client;
 *  - everything else (the node, the outside world) goes up the node's stack.
 *
 * to_endpoint, at tc egress, sees what the node's stack delivers to the pod
 * (from the node, or routed from outside): the pod's ingress policy judges
 * it. Local endpoints' packets (bpf_redirect_peer) and the per-packet load
 * balancer's (bpf_host) skip this hook; they were judged where they were
 * redirected.
 *
 * One object serves every endpoint: per-endpoint facts come from maps, so
 * creating an endpoint never compiles anything.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "abi.h"
#include "maps.h"
#include "events.h"
#include "parse.h"
#include "nodeport.h"
#include "policy.h"
#include "trace.h"

/* Not inlined: its event must not sit on the stack of the callers. */
static __noinline int drop(struct __sk_buff *skb, struct iphdr *ip, __u8 reason, __u16 source)
{
	struct mb_event ev = {
		.ts_ns = bpf_ktime_get_ns(),
		.type = MB_EVENT_DROP,
		.subtype = reason,
		.source = source,
		.ifindex = skb->ingress_ifindex,
		.len = skb->len,
	};

	if (ip)
		mb_fill_tuple(skb, ip, &ev);
	mb_count(reason, MB_DIR_EGRESS, skb->len);
	mb_emit(&ev);
	return TC_ACT_SHOT;
}

/*
 * A reply from a local backend to a client of the per-packet load balancer
 * (REV entry backend -> nat, where nat is the node's SNAT address or, with
 * DSR/Local, the client): rewritten to frontend -> client and forwarded
 * toward the client with a FIB lookup as if routed from this veth (the
 * node forwards, so the veth has forwarding on). Returns a verdict, or -1
 * when the packet has no REV entry: then it is untouched (at most its
 * headers were pulled into the linear area) and takes the usual path.
 * When it forwards, `t` and `pt` describe the packet for trace point
 * to-network (the caller emits it).
 *
 * Not inlined, and the trace emitted by the caller: the verifier counts the
 * stack of a chain of calls together, and this one's (the FIB lookup alone
 * takes 64 bytes) must not add up with mb_trace's in from_endpoint's 512.
 */
static __noinline int reply_to_client(struct __sk_buff *skb, const struct mb_endpoint_info *src, struct mb_tuple4 *t,
				      struct mb_trace_pt *pt)
{
	__u16 lxc_id = src->lxc_id;
	struct mb_ct4_entry *e;
	struct mb_np_plan p;
	struct mb_ct4_key k;
	struct mb_tuple4 in;
	__u32 out = 0;
	int rc;

	if (mb_skb_parse(skb, &in) < 0)
		return -1;
	mb_ct4_key_set(&k, in.saddr, in.daddr, in.sport, in.dport, in.proto, MB_CT_DIR_REV);
	e = bpf_map_lookup_elem(&mb_ct4, &k);
	if (!e)
		return -1;
	mb_ct4_touch(e, MB_CT_DIR_REV, in.tcp_flags, skb->len, bpf_ktime_get_ns());
	mb_np_plan_rev(&p, e);
	if (mb_skb_nat4(skb, &in, &p.nat) < 0)
		return drop(skb, NULL, MB_DROP_INVALID_PACKET, lxc_id);
	rc = mb_skb_fib_redirect(skb, skb->ingress_ifindex, &p.nat, in.proto, &out);
	if (rc < 0)
		return drop(skb, NULL, MB_DROP_FIB_FAIL, lxc_id);
	mb_count(0, MB_DIR_EGRESS, skb->len);
	mb_trace_pt_init(pt, MB_TRACE_TO_NETWORK, lxc_id, MB_DIR_EGRESS, out, skb->len);
	pt->src_identity = src->identity;
	mb_trace_lb_tuple(t, pt, &in, &p.nat, 1);
	return rc;
}

/*
 * The policy step of a packet from endpoint `src` to the local endpoint `dst`
 * (NULL: not a local endpoint), when either has policy. Returns TC_ACT_OK to
 * go on with the packet, or TC_ACT_SHOT when policy dropped it. A function
 * of its own (not inlined): its locals and the trace step's must not add up
 * in from_endpoint's 512-byte stack.
 */
static __noinline int policy(struct __sk_buff *skb, const struct iphdr *ip, const struct mb_endpoint_info *src,
				  const struct mb_endpoint_info *dst)
{
	__u32 ifindex = skb->ingress_ifindex;
	struct mb_verdict ve, vi = {};
	struct mb_ipcache_entry r;
	struct mb_tuple4 t;
	__u32 dst_identity = 0;
	__u64 now;

	mb_pol_tuple(skb, ip, &t);
	now = bpf_ktime_get_ns();
	if (mb_pct_reply(&t, now))
		return TC_ACT_OK;

	/* Egress of the source; the remote is the destination endpoint, or
	 * whatever the ipcache says (its CIDR identity in both cases). */
	mb_verdict_init(&ve, src, MB_DIR_EGRESS, 0);
	if (src->flags & MB_EP_F_EGRESS_POLICY) {
		mb_ipcache_get(t.daddr, &r);
		if (dst)
			r.identity = dst->identity;
		dst_identity = r.identity;
		mb_policy_judge(src, MB_DIR_EGRESS, r.identity, r.cidr_identity, &t, &ve);
		if (!mb_verdict_passes(&ve))
			return mb_policy_drop(skb, &t, &ve, ifindex);
	}

	/* Ingress of a local destination; the remote is the source endpoint. */
	if (dst) {
		dst_identity = dst->identity;
		if (dst->flags & MB_EP_F_INGRESS_POLICY) {
			mb_ipcache_get(t.saddr, &r);
			mb_policy_judge(dst, MB_DIR_INGRESS, src->identity, r.cidr_identity, &t, &vi);
			if (!mb_verdict_passes(&vi)) {
				if (ve.verdict)
					mb_policy_emit(skb, &t, &ve, ifindex, MB_EVENT_POLICY);
				return mb_policy_drop(skb, &t, &vi, ifindex);
			}
		}
	}

	if (mb_pct_track(&t, src->identity, dst_identity, ve.verdict ? ve.rule_id : vi.rule_id, now, ve.verdict || vi.verdict)) {
		if (ve.verdict)
			mb_policy_emit(skb, &t, &ve, ifindex, MB_EVENT_POLICY);
		if (vi.verdict)
			mb_policy_emit(skb, &t, &vi, ifindex, MB_EVENT_POLICY);
	}
	return TC_ACT_OK;
}

SEC("tc")
int from_endpoint(struct __sk_buff *skb)
{
	struct mb_endpoint_info *src, *dst;
	struct mb_endpoint_key key = {};
	struct mb_trace_pt pt;
	struct mb_tuple4 tt;
	struct mb_obs o;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u16 old_word, new_word, icmp = 0;
	int tracing;

	if (skb->protocol == bpf_htons(ETH_P_ARP))
		return TC_ACT_OK;
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return drop(skb, NULL, MB_DROP_UNSUPPORTED_L3, 0);

	ip = mb_ipv4(skb);
	if (!ip || ip->ihl < 5)
		return drop(skb, NULL, MB_DROP_INVALID_PACKET, 0);

	key.ip4 = ip->saddr;
	src = bpf_map_lookup_elem(&mb_lxc, &key);
	if (!src || src->ifindex != skb->ingress_ifindex)
		return drop(skb, ip, MB_DROP_INVALID_SOURCE, 0);

	key.ip4 = ip->daddr;
	dst = bpf_map_lookup_elem(&mb_lxc, &key);

	/* Tracing: the tuple is parsed once, for whichever point reports. */
	mb_obs_load(&o);
	tracing = mb_trace_on(&o, 1);
	if (tracing) {
		mb_trace_skb_tuple(skb, ip, &tt, &icmp);
		if (mb_trace_on(&o, 0)) {
			mb_trace_pt_init(&pt, MB_TRACE_FROM_ENDPOINT, src->lxc_id, MB_DIR_EGRESS, skb->ingress_ifindex, skb->len);
			pt.src_identity = src->identity;
			pt.dst_identity = dst ? dst->identity : 0;
			pt.icmp = icmp;
			mb_trace(&o, &pt, &tt);
		}
	}

	/* Without policy on either side, nothing to judge; a TCP SYN is noted. */
	if ((src->flags | (dst ? dst->flags : 0)) & MB_EP_F_POLICY) {
		if (policy(skb, ip, src, dst) != TC_ACT_OK)
			return TC_ACT_SHOT;
	} else {
		mb_pct_note_syn_skb(skb, ip, src->identity, dst ? dst->identity : 0);
	}

	if (!dst || ip->ttl <= 1) {
		if (!dst && ip->ttl > 1) {
			int rc = reply_to_client(skb, src, &tt, &pt);

			if (rc >= 0) {
				if (tracing && rc != TC_ACT_SHOT)
					mb_trace(&o, &pt, &tt);
				return rc;
			}
		}
		/* The node, the world, or a TTL the stack must answer with ICMP. */
		mb_count(0, MB_DIR_EGRESS, skb->len);
		if (tracing) {
			mb_trace_pt_init(&pt, MB_TRACE_TO_STACK, src->lxc_id, MB_DIR_EGRESS, skb->ingress_ifindex, skb->len);
			pt.src_identity = src->identity;
			pt.dst_identity = dst ? dst->identity : 0;
			pt.icmp = icmp;
			mb_trace(&o, &pt, &tt);
		}
		return TC_ACT_OK;
	}

	/* Local endpoint: act as the router between the two pods. */
	old_word = *(__u16 *)&ip->ttl; /* ttl and protocol share a 16-bit word */
	ip->ttl--;
	new_word = *(__u16 *)&ip->ttl;
	bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), old_word, new_word, 2);

	/* The helper above may have moved the packet: reload before writing. */
	eth = (void *)(long)skb->data;
	if ((void *)(eth + 1) > (void *)(long)skb->data_end)
		return drop(skb, NULL, MB_DROP_INVALID_PACKET, src->lxc_id);
	__builtin_memcpy(eth->h_dest, dst->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, dst->node_mac, ETH_ALEN);

	mb_count(0, MB_DIR_EGRESS, skb->len);
	if (tracing) {
		mb_trace_pt_init(&pt, MB_TRACE_TO_ENDPOINT, dst->lxc_id, MB_DIR_INGRESS, dst->ifindex, skb->len);
		pt.src_identity = src->identity;
		pt.dst_identity = dst->identity;
		pt.icmp = icmp;
		mb_trace(&o, &pt, &tt);
	}
	return bpf_redirect_peer(dst->ifindex, 0);
}

SEC("tc")
int to_endpoint(struct __sk_buff *skb)
{
	struct mb_endpoint_key key = {};
	struct mb_endpoint_info *ep;
	struct mb_trace_pt pt;
	struct mb_tuple4 t;
	struct mb_obs o;
	struct iphdr *ip;
	__u16 icmp;

	/* Not IPv4 (ARP; IPv6, which endpoints do not have): not policy's. */
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	ip = mb_ipv4(skb);
	if (!ip) {
		if (bpf_skb_pull_data(skb, ETH_HLEN + sizeof(struct iphdr)) < 0)
			return TC_ACT_SHOT;
		ip = mb_ipv4(skb);
		if (!ip)
			return TC_ACT_SHOT;
	}

	key.ip4 = ip->daddr;
	ep = bpf_map_lookup_elem(&mb_lxc, &key);
	if (!ep || ep->ifindex != skb->ifindex)
		return TC_ACT_OK;
	if (!(ep->flags & MB_EP_F_POLICY)) {
		mb_pct_note_syn_skb(skb, ip, 0, ep->identity);
	} else {
		mb_pol_tuple(skb, ip, &t);
		if (mb_policy_to_endpoint(skb, ep, &t, t.saddr, &t, skb->ifindex) != TC_ACT_OK)
			return TC_ACT_SHOT;
	}

	/* Delivered by the stack: trace point to-endpoint. */
	mb_obs_load(&o);
	if (mb_trace_on(&o, 1)) {
		ip = mb_ipv4(skb);
		if (!ip)
			return TC_ACT_OK;
		mb_trace_skb_tuple(skb, ip, &t, &icmp);
		mb_trace_pt_init(&pt, MB_TRACE_TO_ENDPOINT, ep->lxc_id, MB_DIR_INGRESS, skb->ifindex, skb->len);
		pt.dst_identity = ep->identity;
		pt.icmp = icmp;
		mb_trace(&o, &pt, &t);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
