// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_lxc: attached at tc ingress of an endpoint's host-side veth, i.e. it sees
 * every packet that a pod sends ("from-endpoint").
 *
 *  - anti-spoofing: the IPv4 source must be the address of the endpoint that
 *    owns this veth (looked up in mb_lxc), otherwise the packet is dropped;
 *  - local delivery: a packet for another endpoint on this node is handed to
 *    that endpoint's eth0 with bpf_redirect_peer, skipping the host stack
 *    (no bridge, no iptables, no routing lookup);
 *  - a reply from a local backend of the per-packet load balancer (bpf_host,
 *    bpf_xdp: it has a REV conntrack entry) is translated back (source: the
 *    frontend, destination: the client) and sent out of the node's device
 *    toward the client;
 *  - everything else (the node, the outside world) goes up the node's stack.
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

static __always_inline int drop(struct __sk_buff *skb, struct iphdr *ip, __u8 reason, __u16 source)
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
 */
static __always_inline int reply_to_client(struct __sk_buff *skb, __u16 lxc_id)
{
	struct mb_ct4_entry *e;
	struct mb_np_plan p;
	struct mb_ct4_key k;
	struct mb_tuple4 t;
	int rc;

	if (mb_skb_parse(skb, &t) < 0)
		return -1;
	mb_ct4_key_set(&k, t.saddr, t.daddr, t.sport, t.dport, t.proto, MB_CT_DIR_REV);
	e = bpf_map_lookup_elem(&mb_ct4, &k);
	if (!e)
		return -1;
	mb_ct4_touch(e, MB_CT_DIR_REV, t.tcp_flags, skb->len, bpf_ktime_get_ns());
	mb_np_plan_rev(&p, e);
	if (mb_skb_nat4(skb, &t, &p.nat) < 0)
		return drop(skb, NULL, MB_DROP_INVALID_PACKET, lxc_id);
	rc = mb_skb_fib_redirect(skb, skb->ingress_ifindex, &p.nat, t.proto);
	if (rc < 0)
		return drop(skb, NULL, MB_DROP_FIB_FAIL, lxc_id);
	mb_count(0, MB_DIR_EGRESS, skb->len);
	return rc;
}

SEC("tc")
int from_endpoint(struct __sk_buff *skb)
{
	struct mb_endpoint_info *src, *dst;
	struct mb_endpoint_key key = {};
	struct ethhdr *eth;
	struct iphdr *ip;
	__u16 old_word, new_word;

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
	if (!dst || ip->ttl <= 1) {
		if (!dst && ip->ttl > 1) {
			int rc = reply_to_client(skb, src->lxc_id);

			if (rc >= 0)
				return rc;
		}
		/* The node, the world, or a TTL the stack must answer with ICMP. */
		mb_count(0, MB_DIR_EGRESS, skb->len);
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
	return bpf_redirect_peer(dst->ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
