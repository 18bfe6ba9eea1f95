/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing helpers with the bounds checks the verifier wants. */
#ifndef MEMBRANE_PARSE_H
#define MEMBRANE_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "abi.h"

/* Returns the IPv4 header, or NULL when the packet is shorter than
 * ethernet + a minimal IPv4 header. The verifier needs every pointer checked
 * against data_end before it is dereferenced. */
static __always_inline struct iphdr *mb_ipv4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > data_end)
		return NULL;
	return ip;
}

/* Fills the 5-tuple part of an event from the IPv4 header and, when it is in
 * the linear data, the L4 header. */
static __always_inline void mb_fill_tuple(struct __sk_buff *skb, struct iphdr *ip, struct mb_event *ev)
{
	void *data_end = (void *)(long)skb->data_end;
	void *l4 = (void *)ip + ip->ihl * 4;

	ev->saddr = ip->saddr;
	ev->daddr = ip->daddr;
	ev->proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) <= data_end) {
			ev->sport = th->source;
			ev->dport = th->dest;
			/* flags live in the 14th byte of the TCP header */
			ev->tcp_flags = ((__u8 *)th)[13];
		}
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) <= data_end) {
			ev->sport = uh->source;
			ev->dport = uh->dest;
		}
	} else if (ip->protocol == IPPROTO_ICMP) {
		/* type and code are the first two bytes; linux/icmp.h would pull in libc */
		__u8 *ih = l4;

		if ((void *)(ih + 2) <= data_end)
			ev->dport = bpf_htons((__u16)(ih[0] << 8 | ih[1]));
	}
}

#endif /* MEMBRANE_PARSE_H */
