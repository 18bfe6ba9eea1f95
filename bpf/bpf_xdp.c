// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_xdp: the per-packet load balancer at XDP on the node's devices
 * (--lb-acceleration xdp), before the kernel allocates an skb. Same decision
 * as bpf_host (nodeport.h); XDP applies it by hand:
 *
 *  - FWD to a backend on this node: translated, marked in the XDP metadata
 *    (MB_XDP_META_TRANSLATED), then XDP_PASS. XDP cannot redirect into a
 *    pod's veth unless the pod's eth0 has NAPI (an XDP program or GRO),
 *    which Membrane does not impose on pods; bpf_host at tc sees the mark
 *    and hands the packet to the pod with bpf_redirect_peer, so it still
 *    skips the stack. A driver without metadata support: the packet passes
 *    up untranslated and tc translates it from the conntrack entry;
 *  - FWD to a backend elsewhere, and REV: FIB lookup, translated, out with
 *    bpf_redirect (see xmit() for why not XDP_TX on the same device). When
 *    the FIB has no neighbour entry yet the packet passes up untouched: tc
 *    finds the conntrack entry XDP made and finishes the job with
 *    bpf_redirect_neigh;
 *  - a frontend without backends: ICMP port unreachable, back out of the
 *    device.
 * Checksums are updated by hand (nat.h): XDP packets are never
 * CHECKSUM_PARTIAL.
 */
#include <linux/bpf.h>
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
#include "lb.h"
#include "ct.h"
#include "nat.h"
#include "nodeport.h"
#include "trace.h"

/* Where the parsed headers are, for the rewrite. */
struct headers {
	struct ethhdr *eth;
	struct iphdr *ip;
	__u16 *ports;   /* source and destination port */
	__u16 *l4csum;  /* TCP or UDP checksum */
};

static __always_inline int parse(struct xdp_md *ctx, struct headers *h, struct mb_tuple4 *t)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	void *l4;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5 || ip->version != 4)
		return -1;
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or a fragment offset: only a first fragment has ports */
		return -1;
	l4 = (void *)ip + ip->ihl * 4;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return -1;
		h->l4csum = &th->check;
		t->tcp_flags = ((__u8 *)th)[13];
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return -1;
		h->l4csum = &uh->check;
		t->tcp_flags = 0;
	} else {
		return -1;
	}
	h->eth = eth;
	h->ip = ip;
	h->ports = l4;
	t->saddr = ip->saddr;
	t->daddr = ip->daddr;
	t->sport = h->ports[0];
	t->dport = h->ports[1];
	t->proto = ip->protocol;
	t->ttl = ip->ttl;
	t->ihl = ip->ihl;
	return 0;
}

/*
 * Sends the packet out of `ifindex`, which may be the device it came in on.
 * XDP_TX would be the usual verdict for that case, but a veth flushes
 * XDP_TX frames to its peer only when the peer runs an XDP program itself
 * (veth_xdp_flush): a peer with GRO's NAPI alone gets the frames queued and
 * never woken up, and the client waits for the next unrelated packet. A
 * redirect goes through ndo_xdp_xmit with XDP_XMIT_FLUSH, which wakes the
 * peer, and works on every driver that can be a redirect target. The cost
 * on a NIC that has XDP_TX: the devmap bulk queue instead of the TX ring.
 */
static __always_inline int xmit(__u32 ifindex)
{
	return bpf_redirect(ifindex, 0);
}

/* ICMP port unreachable for the packet `t`, back out of this device. */
static __always_inline int reject(struct xdp_md *ctx, const struct mb_tuple4 *t)
{
	__u16 inner[MB_ICMP_INNER_MAX / 2];
	__u32 inner_len = ((t->ihl & 0xf) * 4 + 8) & 0x7f;
	__u32 len = ctx->data_end - ctx->data;
	struct mb_icmp_frame f;
	struct ethhdr eth;
	void *data, *data_end;

	mb_np_drop_event(t, MB_DROP_NO_SERVICE, ctx->ingress_ifindex, len);
	if (inner_len > sizeof(inner) || inner_len < sizeof(struct iphdr) + 8 || len < ETH_HLEN + inner_len)
		return XDP_DROP;
	if (bpf_xdp_load_bytes(ctx, 0, &eth, sizeof(eth)) < 0 ||
	    bpf_xdp_load_bytes(ctx, ETH_HLEN, inner, inner_len) < 0)
		return XDP_DROP;
	mb_icmp_frame_build(&f, &eth, t, inner, inner_len);
	/* Cut after the original IP header + 8 bytes, then make room in front:
	 * the old Ethernet header is overwritten by the new IP and ICMP ones. */
	if (len > ETH_HLEN + inner_len && bpf_xdp_adjust_tail(ctx, -(int)(len - ETH_HLEN - inner_len)) < 0)
		return XDP_DROP;
	if (bpf_xdp_adjust_head(ctx, -(int)MB_ICMP_GROW) < 0)
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(f) > data_end)
		return XDP_DROP;
	__builtin_memcpy(data, &f, sizeof(f));
	return xmit(ctx->ingress_ifindex);
}

/* Forwards a translated packet with the MACs of a FIB lookup (trace point
 * to-network); XDP_PASS (untouched) when the FIB cannot complete it here:
 * then bpf_host reports it. */
static __always_inline int fib_forward(struct xdp_md *ctx, struct headers *h, const struct mb_np_plan *p,
				       const struct mb_tuple4 *t)
{
	__u8 proto = t->proto;
	struct mb_trace_pt pt;
	struct mb_tuple4 et;
	struct mb_obs o;
	struct bpf_fib_lookup f = {
		.family = MB_AF_INET,
		.l4_protocol = proto,
		.sport = p->nat.sport,
		.dport = p->nat.dport,
		.tot_len = bpf_ntohs(h->ip->tot_len),
		.ifindex = ctx->ingress_ifindex,
		.ipv4_src = p->nat.saddr,
		.ipv4_dst = p->nat.daddr,
	};

	if (bpf_fib_lookup(ctx, &f, sizeof(f), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	mb_xdp_nat4(h->ip, h->ports, h->l4csum, proto == IPPROTO_UDP, &p->nat);
	__builtin_memcpy(h->eth->h_dest, f.dmac, ETH_ALEN);
	__builtin_memcpy(h->eth->h_source, f.smac, ETH_ALEN);
	mb_obs_load(&o);
	if (mb_trace_on(&o, 1)) {
		mb_trace_pt_init(&pt, MB_TRACE_TO_NETWORK, 0, 0, f.ifindex, ctx->data_end - ctx->data);
		mb_trace_lb_tuple(&et, &pt, t, &p->nat, p->action == MB_NP_REV);
		mb_trace(&o, &pt, &et);
	}
	return xmit(f.ifindex);
}

/* Translates a packet for a backend on this node and passes it up with the
 * mark that tells bpf_host to deliver it as it is. */
static __always_inline int to_local(struct xdp_md *ctx, const struct mb_np_plan *p, __u8 proto)
{
	struct mb_tuple4 t;
	struct headers h;
	__u32 *meta;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)) < 0)
		return XDP_PASS;
	/* adjust_meta invalidated every packet pointer: parse again. */
	meta = (void *)(long)ctx->data_meta;
	if ((void *)(meta + 1) > (void *)(long)ctx->data)
		return XDP_PASS;
	*meta = 0; /* the area is not cleared for us */
	if (parse(ctx, &h, &t) < 0)
		return XDP_PASS;
	*meta = MB_XDP_META_TRANSLATED;
	mb_xdp_nat4(h.ip, h.ports, h.l4csum, proto == IPPROTO_UDP, &p->nat);
	return XDP_PASS;
}

SEC("xdp")
int xdp_entry(struct xdp_md *ctx)
{
	struct mb_np_plan p;
	struct mb_tuple4 t;
	struct headers h;

	if (parse(ctx, &h, &t) < 0)
		return XDP_PASS;

	mb_np_decide(&t, ctx->data_end - ctx->data, &p);
	switch (p.action) {
	case MB_NP_PASS:
		return XDP_PASS;
	case MB_NP_REJECT:
		return reject(ctx, &t);
	case MB_NP_DROP:
		mb_np_drop_event(&t, p.reason, ctx->ingress_ifindex, ctx->data_end - ctx->data);
		return XDP_DROP;
	}
	/* FWD or REV. TTL 1: not ours to forward; the stack answers it. */
	if (t.ttl <= 1)
		return XDP_PASS;
	if (p.action == MB_NP_FWD && mb_local_endpoint(p.nat.daddr))
		return to_local(ctx, &p, t.proto);
	return fib_forward(ctx, &h, &p, &t);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
