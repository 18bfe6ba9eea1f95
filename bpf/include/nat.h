/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Address translation for the per-packet load balancer: SNAT port choice,
 * and rewriting a packet's addresses and ports with its checksums fixed,
 * once for tc (kernel checksum helpers) and once for XDP (by hand).
 */
#ifndef MEMBRANE_NAT_H
#define MEMBRANE_NAT_H

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
#include "ct.h"
#include "lb.h"

/* What a translated packet's tuple becomes (network order). */
struct mb_nat4 {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
};

/* --- SNAT port choice -------------------------------------------------------- */

/* Used when mb_config has no range: above Linux's default ephemeral ports
 * (32768-60999), so the node's own connections never collide with it. */
#define MB_SNAT_PORT_MIN_DEFAULT 61000
#define MB_SNAT_PORT_MAX_DEFAULT 65535
/* Ports tried per new connection: the tuple's own, then random ones. */
#define MB_SNAT_PROBES 8

/*
 * Gives the connection `e` (everything but nat_addr/nat_port filled in) the
 * node's address and a port toward its backend, and inserts its REV entry.
 * A port is free when no REV entry (backend, node IP, backend port, port)
 * exists; inserting with BPF_NOEXIST claims it atomically, so two CPUs can
 * never hand out the same port. The first port tried is derived from the
 * tuple hash (a retransmitted SYN after a lost entry gets the same one),
 * then random ones. A taken port whose connection is dead (idle past its
 * lifetime, or closing for 10 s) is taken over, and that connection's
 * FWD entry dropped. Returns 0, or -1 when no port was found.
 */
static __always_inline int mb_snat_alloc(struct mb_ct4_entry *e, __u32 hash, __u64 now)
{
	struct mb_config *cfg = mb_config_get();
	struct mb_ct4_entry old_copy;
	struct mb_ct4_entry *old;
	struct mb_ct4_key rk, fk;
	__u32 min, max, range, i;

	if (!cfg || cfg->node_ip4 == 0)
		return -1;
	min = cfg->snat_port_min;
	max = cfg->snat_port_max;
	if (min == 0 || max < min) {
		min = MB_SNAT_PORT_MIN_DEFAULT;
		max = MB_SNAT_PORT_MAX_DEFAULT;
	}
	range = max - min + 1;
	e->nat_addr = cfg->node_ip4;

	for (i = 0; i < MB_SNAT_PROBES; i++) {
		__u32 r = i == 0 ? hash : bpf_get_prandom_u32();

		e->nat_port = bpf_htons((__u16)(min + r % range));
		mb_ct4_rev_key(&rk, e);
		if (bpf_map_update_elem(&mb_ct4, &rk, e, BPF_NOEXIST) == 0)
			return 0;
		old = bpf_map_lookup_elem(&mb_ct4, &rk);
		if (!old || !mb_ct4_dead(old, now))
			continue;
		__builtin_memcpy(&old_copy, old, sizeof(old_copy));
		if (bpf_map_update_elem(&mb_ct4, &rk, e, BPF_EXIST) != 0)
			continue;
		mb_ct4_fwd_key(&fk, &old_copy);
		mb_ct4_delete_if_same(&fk, &old_copy);
		return 0;
	}
	return -1;
}

/* --- tc: rewrite with the kernel's checksum helpers ------------------------------ */
/*
 * At tc a packet from a local socket can be CHECKSUM_PARTIAL (its L4
 * checksum field holds only the pseudo-header sum); bpf_l4_csum_replace
 * knows which case it is in, so tc never edits a checksum itself.
 * BPF_F_MARK_MANGLED_0: a UDP checksum of 0 means "none" and stays 0.
 * These helpers may move the packet: callers re-read data pointers after.
 */

#define MB_IP_OFF(field) (ETH_HLEN + offsetof(struct iphdr, field))

static __always_inline int mb_skb_l4_csum_off(__u8 proto, __u32 l4off, __u32 *off, __u64 *mz)
{
	if (proto == IPPROTO_TCP) {
		*off = l4off + offsetof(struct tcphdr, check);
		*mz = 0;
	} else {
		*off = l4off + offsetof(struct udphdr, check);
		*mz = BPF_F_MARK_MANGLED_0;
	}
	return 0;
}

static __always_inline int mb_skb_set_addr(struct __sk_buff *skb, __u32 off, __u32 csum_off, __u64 mz, __u32 from,
					    __u32 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, csum_off, from, to, BPF_F_PSEUDO_HDR | mz | sizeof(to)) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, MB_IP_OFF(check), from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0) < 0 ? -1 : 0;
}

static __always_inline int mb_skb_set_port(struct __sk_buff *skb, __u32 off, __u32 csum_off, __u64 mz, __u16 from,
					    __u16 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, csum_off, from, to, mz | sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0) < 0 ? -1 : 0;
}

/* Rewrites the tuple `t` of the packet into `n` and decrements the TTL (the
 * node forwards the packet). Returns 0 or -1. */
static __always_inline int mb_skb_nat4(struct __sk_buff *skb, const struct mb_tuple4 *t, const struct mb_nat4 *n)
{
	__u32 l4off = ETH_HLEN + (t->ihl & 0xf) * 4;
	__u16 old_word = bpf_htons((__u16)t->ttl << 8 | t->proto);
	__u16 new_word = bpf_htons((__u16)(t->ttl - 1) << 8 | t->proto);
	__u8 ttl = t->ttl - 1;
	__u32 csum_off;
	__u64 mz;

	mb_skb_l4_csum_off(t->proto, l4off, &csum_off, &mz);
	if (mb_skb_set_addr(skb, MB_IP_OFF(saddr), csum_off, mz, t->saddr, n->saddr) ||
	    mb_skb_set_addr(skb, MB_IP_OFF(daddr), csum_off, mz, t->daddr, n->daddr) ||
	    mb_skb_set_port(skb, l4off, csum_off, mz, t->sport, n->sport) ||
	    mb_skb_set_port(skb, l4off + 2, csum_off, mz, t->dport, n->dport))
		return -1;
	if (bpf_l3_csum_replace(skb, MB_IP_OFF(check), old_word, new_word, sizeof(new_word)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, MB_IP_OFF(ttl), &ttl, 1, 0) < 0 ? -1 : 0;
}

/* --- XDP: rewrite with checksums updated by hand (RFC 1624) ------------------------ */
/*
 * XDP packets come from the wire with complete checksums. Incremental
 * update, eqn. 3 of RFC 1624: HC' = ~(~HC + ~m + m'), in one's complement
 * arithmetic over 16-bit words. The words are taken as they lie in memory:
 * one's complement sums do not depend on byte order.
 */

static __always_inline __u16 mb_csum_fold(__u32 c)
{
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)c;
}

static __always_inline void mb_csum_replace2(__u16 *sum, __u16 from, __u16 to)
{
	__u32 c = (__u16)~*sum;

	c += (__u16)~from;
	c += to;
	*sum = (__u16)~mb_csum_fold(c);
}

static __always_inline void mb_csum_replace4(__u16 *sum, __u32 from, __u32 to)
{
	mb_csum_replace2(sum, (__u16)(from >> 16), (__u16)(to >> 16));
	mb_csum_replace2(sum, (__u16)from, (__u16)to);
}

/* `l4csum` is the TCP or UDP checksum field; `udp` set: 0 means no checksum
 * (left alone), and a result of 0 is sent as 0xffff (RFC 768). */
static __always_inline void mb_xdp_nat4(struct iphdr *ip, __u16 *ports, __u16 *l4csum, int udp,
					const struct mb_nat4 *n)
{
	int l4 = !(udp && *l4csum == 0);
	__u16 old_word = *(__u16 *)&ip->ttl; /* ttl and protocol share a 16-bit word */

	if (ip->saddr != n->saddr) {
		mb_csum_replace4(&ip->check, ip->saddr, n->saddr);
		if (l4)
			mb_csum_replace4(l4csum, ip->saddr, n->saddr);
		ip->saddr = n->saddr;
	}
	if (ip->daddr != n->daddr) {
		mb_csum_replace4(&ip->check, ip->daddr, n->daddr);
		if (l4)
			mb_csum_replace4(l4csum, ip->daddr, n->daddr);
		ip->daddr = n->daddr;
	}
	if (ports[0] != n->sport) {
		if (l4)
			mb_csum_replace2(l4csum, ports[0], n->sport);
		ports[0] = n->sport;
	}
	if (ports[1] != n->dport) {
		if (l4)
			mb_csum_replace2(l4csum, ports[1], n->dport);
		ports[1] = n->dport;
	}
	if (udp && l4 && *l4csum == 0)
		*l4csum = 0xffff;
	ip->ttl--;
	mb_csum_replace2(&ip->check, old_word, *(__u16 *)&ip->ttl);
}

#endif /* MEMBRANE_NAT_H */
