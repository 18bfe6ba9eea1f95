/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The per-packet load balancer's decision, shared by tc (bpf_host) and XDP
 * (bpf_xdp): what to do with an IPv4 TCP/UDP packet that arrived on a node
 * device. The callers parse and apply; this file only reads and writes maps,
 * so both programs decide exactly alike.
 *
 *   1. FWD entry for the tuple (client -> frontend) whose backend still
 *      exists, whatever its state: translate to nat -> backend. A terminating
 *      or maintenance backend keeps its connections this way.
 *   2. A frontend in scope EXT: a new connection. Backend by mb_lb4_select
 *      (affinity, Maglev on the tuple hash, random); FWD and REV entries;
 *      SNAT to the node's address unless the service is DSR or
 *      externalTrafficPolicy Local. No backend: reject (ICMP port
 *      unreachable), or drop with Local.
 *   3. REV entry for the tuple (backend -> nat): a reply from a backend
 *      behind this device: translate to frontend -> client.
 *   4. Anything else passes untouched.
 */
#ifndef MEMBRANE_NODEPORT_H
#define MEMBRANE_NODEPORT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "events.h"
#include "lb.h"
#include "ct.h"
#include "nat.h"
#include "parse.h"

#define MB_NP_PASS 0   /* not ours: leave it to the stack */
#define MB_NP_FWD 1    /* client -> frontend becomes nat -> backend */
#define MB_NP_REV 2    /* backend -> nat becomes frontend -> client */
#define MB_NP_REJECT 3 /* answer ICMP port unreachable, count MB_DROP_NO_SERVICE */
#define MB_NP_DROP 4   /* drop, count `reason` */

#define MB_AF_INET 2 /* linux/socket.h would pull in libc */

/* XDP metadata (4 bytes before the frame) of a packet that bpf_xdp
 * translated toward a local backend and passed up for bpf_host to deliver. */
#define MB_XDP_META_TRANSLATED 0x3158424d /* "MBX1" */

struct mb_np_plan {
	struct mb_nat4 nat; /* the new tuple, for FWD and REV */
	__u8 action;        /* MB_NP_* */
	__u8 reason;        /* MB_DROP_*, for DROP */
	__u16 pad;
};

static __always_inline void mb_np_plan_fwd(struct mb_np_plan *p, const struct mb_ct4_entry *e)
{
	p->action = MB_NP_FWD;
	p->nat.saddr = e->nat_addr;
	p->nat.sport = e->nat_port;
	p->nat.daddr = e->backend_addr;
	p->nat.dport = e->backend_port;
}

static __always_inline void mb_np_plan_rev(struct mb_np_plan *p, const struct mb_ct4_entry *e)
{
	p->action = MB_NP_REV;
	p->nat.saddr = e->fe_addr;
	p->nat.sport = e->fe_port;
	p->nat.daddr = e->client_addr;
	p->nat.dport = e->client_port;
}

static __always_inline struct mb_endpoint_info *mb_local_endpoint(__u32 addr)
{
	struct mb_endpoint_key k = { .ip4 = addr };

	return bpf_map_lookup_elem(&mb_lxc, &k);
}

/* An existing FWD entry still leads somewhere: its backend exists (in any
 * state), the entry is not past its lifetime, and it is not a closed TCP
 * connection that the client starts again with a SYN on the same tuple. */
static __always_inline int mb_np_usable(const struct mb_ct4_entry *e, const struct mb_tuple4 *t, __u64 now)
{
	struct mb_lb4_backend *be = mb_lb4_backend_get(e->backend_id);

	if (!be || be->addr != e->backend_addr || be->port != e->backend_port)
		return 0;
	if (mb_ct4_dead(e, now))
		return 0;
	if ((e->flags & MB_CT_F_CLOSING) && (t->tcp_flags & (MB_TCP_SYN | MB_TCP_ACK)) == MB_TCP_SYN)
		return 0;
	return 1;
}

/*
 * The first packets of a connection (a UDP burst) can be handled on two
 * CPUs at once: both miss the FWD entry and make one. The first FWD entry in
 * wins; the loser (`mine`, whose FWD insert failed at key `fk`) follows it
 * and withdraws its own REV entry unless it is the winner's too (same
 * backend without SNAT). Returns 1 when the plan follows the winner, 0 when
 * the winner vanished meanwhile (then `mine` is written after all), -1 when
 * writing it failed (conntrack full).
 */
static __always_inline int mb_np_lost_race(struct mb_ct4_key *fk, const struct mb_ct4_entry *mine,
					   const struct mb_tuple4 *t, __u32 len, struct mb_np_plan *p, __u64 now)
{
	struct mb_ct4_entry *won = bpf_map_lookup_elem(&mb_ct4, fk);
	struct mb_ct4_key rk;

	if (!won)
		return bpf_map_update_elem(&mb_ct4, fk, mine, BPF_ANY) == 0 ? 0 : -1;
	if (won->backend_addr != mine->backend_addr || won->backend_port != mine->backend_port ||
	    won->nat_addr != mine->nat_addr || won->nat_port != mine->nat_port) {
		mb_ct4_rev_key(&rk, mine);
		mb_ct4_delete_if_same(&rk, mine);
	}
	mb_ct4_touch(won, MB_CT_DIR_FWD, t->tcp_flags, len, now);
	mb_np_plan_fwd(p, won);
	return 1;
}

/* A new connection to the frontend `lk` (service entry `svc`). */
static __always_inline void mb_np_new(const struct mb_tuple4 *t, __u32 len, struct mb_lb4_key *lk,
				      const struct mb_lb4_service *svc, struct mb_np_plan *p, __u64 now)
{
	__u32 hash = mb_hash_tuple(t->saddr, t->daddr, t->sport, t->dport, t->proto);
	struct mb_lb4_backend *be = NULL;
	struct mb_ct4_entry e = {};
	struct mb_ct4_key k;
	__u32 id = 0;

	if (svc->count)
		id = mb_lb4_select(lk, svc, t->saddr, 0, 1, hash, &be);
	if (!id || !be) {
		if (svc->flags & MB_SVC_F_LOCAL) {
			p->action = MB_NP_DROP;
			p->reason = MB_DROP_NO_LOCAL_BACKEND;
		} else {
			p->action = MB_NP_REJECT;
		}
		return;
	}

	e.client_addr = t->saddr;
	e.client_port = t->sport;
	e.fe_addr = t->daddr;
	e.fe_port = t->dport;
	e.backend_addr = be->addr;
	e.backend_port = be->port;
	e.backend_id = id;
	e.rev_nat_id = svc->rev_nat_id;
	e.proto = t->proto;
	e.last_seen_ns = now;

	/*
	 * DSR and externalTrafficPolicy Local keep the client's address, so the
	 * backend's reply must pass through a node that can translate it back.
	 * With a backend on this node that is us (bpf_lxc sees the reply). A
	 * backend elsewhere would need the frontend carried to its node (an IP
	 * option or encapsulation, which Membrane does not have yet): such a
	 * connection falls back to SNAT, so it works, only without the client's
	 * address.
	 */
	if ((svc->flags & (MB_SVC_F_DSR | MB_SVC_F_LOCAL)) && mb_local_endpoint(be->addr)) {
		e.flags = (svc->flags & MB_SVC_F_DSR) ? MB_CT_F_DSR : 0;
		e.nat_addr = t->saddr;
		e.nat_port = t->sport;
		mb_ct4_rev_key(&k, &e);
		if (bpf_map_update_elem(&mb_ct4, &k, &e, BPF_ANY) != 0)
			goto ct_full;
	} else {
		e.flags = MB_CT_F_SNAT;
		if (mb_snat_alloc(&e, hash, now) != 0)
			goto no_port;
	}
	/* The REV entry went in with no packets counted; this one has the first. */
	e.packets = 1;
	e.bytes = len;
	mb_ct4_fwd_key(&k, &e);
	if (bpf_map_update_elem(&mb_ct4, &k, &e, BPF_NOEXIST) != 0) {
		int race = mb_np_lost_race(&k, &e, t, len, p, now);

		if (race > 0)
			return;
		if (race < 0) {
			/* No FWD entry: the REV one would only hold a port. */
			mb_ct4_rev_key(&k, &e);
			mb_ct4_delete_if_same(&k, &e);
			goto ct_full;
		}
	}
	mb_np_plan_fwd(p, &e);
	return;
no_port:
	p->action = MB_NP_DROP;
	p->reason = MB_DROP_NAT_NO_PORT;
	return;
ct_full:
	p->action = MB_NP_DROP;
	p->reason = MB_DROP_CT_FULL;
}

/* Not inlined: its conntrack entries (64 bytes each) on the stack must not
 * add up with the trace step's in the callers' 512 bytes. */
static __noinline __attribute__((unused)) void mb_np_decide(const struct mb_tuple4 *t, __u32 len, struct mb_np_plan *p)
{
	__u64 now = bpf_ktime_get_ns();
	struct mb_lb4_service *svc;
	struct mb_ct4_entry *e;
	struct mb_ct4_entry copy;
	struct mb_lb4_key lk;
	struct mb_ct4_key k;

	p->action = MB_NP_PASS;
	p->reason = 0;
	if (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP)
		return;

	mb_ct4_key_set(&k, t->saddr, t->daddr, t->sport, t->dport, t->proto, MB_CT_DIR_FWD);
	e = bpf_map_lookup_elem(&mb_ct4, &k);
	if (e) {
		if (mb_np_usable(e, t, now)) {
			mb_ct4_touch(e, MB_CT_DIR_FWD, t->tcp_flags, len, now);
			mb_np_plan_fwd(p, e);
			return;
		}
		/* Gone backend or dead connection: choose again. */
		__builtin_memcpy(&copy, e, sizeof(copy));
		mb_ct4_forget(&copy);
	}

	svc = mb_lb4_lookup(&lk, t->daddr, t->dport, t->proto, MB_LB_SCOPE_EXT);
	if (svc) {
		mb_np_new(t, len, &lk, svc, p, now);
		return;
	}

	k.dir = MB_CT_DIR_REV;
	e = bpf_map_lookup_elem(&mb_ct4, &k);
	if (e) {
		mb_ct4_touch(e, MB_CT_DIR_REV, t->tcp_flags, len, now);
		mb_np_plan_rev(p, e);
	}
}

/* --- drops and events ---------------------------------------------------------- */

static __always_inline void mb_np_drop_event(const struct mb_tuple4 *t, __u8 reason, __u32 ifindex, __u32 len)
{
	struct mb_event ev;

	mb_event_init(&ev, t, MB_EVENT_DROP, reason, ifindex, len);
	mb_count(reason, MB_DIR_INGRESS, len);
	mb_emit(&ev);
}

/* --- ICMP destination unreachable (port unreachable) ---------------------------- */
/*
 * The reject is built in place from the packet: the original IP header and
 * the first 8 bytes of its payload stay where they are and become the ICMP
 * payload; 28 bytes (a new IPv4 header and the ICMP header) are inserted
 * after the Ethernet header, whose addresses are swapped; the rest is cut.
 */
#define MB_ICMP_DEST_UNREACH 3
#define MB_ICMP_PORT_UNREACH 3
#define MB_ICMP_INNER_MAX (60 + 20) /* longest IPv4 header + 8 bytes, or + a TCP header (bpf_host) */
#define MB_ICMP_GROW (sizeof(struct iphdr) + 8)

struct mb_icmp_frame {
	struct ethhdr eth;
	struct iphdr ip;
	__u8 type;
	__u8 code;
	__u16 csum;
	__u32 unused;
} __attribute__((packed));

/* One's complement sum of `len` bytes (even, at most MB_ICMP_INNER_MAX). */
static __always_inline __u32 mb_csum_words(const __u16 *w, __u32 len)
{
	__u32 sum = 0;
	int i;

	/* Fixed bound for the verifier; `len` ends it early. */
	for (i = 0; i < MB_ICMP_INNER_MAX / 2; i++) {
		if ((__u32)i * 2 >= len)
			break;
		sum += w[i];
	}
	return sum;
}

/* Fills the 42 bytes that precede the original IP header in the reply.
 * `eth` is the original Ethernet header, `t` the original tuple, `inner`
 * the original IP header and 8 bytes (`inner_len` bytes). */
static __always_inline void mb_icmp_frame_build(struct mb_icmp_frame *f, const struct ethhdr *eth,
						const struct mb_tuple4 *t, const __u16 *inner, __u32 inner_len)
{
	__builtin_memcpy(f->eth.h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(f->eth.h_source, eth->h_dest, ETH_ALEN);
	f->eth.h_proto = bpf_htons(ETH_P_IP);
	f->ip.version = 4;
	f->ip.ihl = 5;
	f->ip.tos = 0;
	f->ip.tot_len = bpf_htons(sizeof(struct iphdr) + 8 + inner_len);
	f->ip.id = 0;
	f->ip.frag_off = 0;
	f->ip.ttl = 64;
	f->ip.protocol = IPPROTO_ICMP;
	f->ip.check = 0;
	f->ip.saddr = t->daddr;
	f->ip.daddr = t->saddr;
	f->ip.check = (__u16)~mb_csum_fold(mb_csum_words((const __u16 *)((const __u8 *)f + offsetof(struct mb_icmp_frame, ip)), sizeof(struct iphdr)));
	f->type = MB_ICMP_DEST_UNREACH;
	f->code = MB_ICMP_PORT_UNREACH;
	f->csum = 0;
	f->unused = 0;
	f->csum = (__u16)~mb_csum_fold(mb_csum_words((const __u16 *)((const __u8 *)f + offsetof(struct mb_icmp_frame, type)), 8) + mb_csum_words(inner, inner_len));
}

/* --- tc (bpf_host, bpf_lxc) ---------------------------------------------------- */

/* Parses an IPv4 TCP/UDP packet into `t`. Returns 0, or -1 for anything the
 * load balancer does not handle (fragments included: only a first fragment
 * has ports). May pull the L4 header into the linear area. */
static __always_inline int mb_skb_parse(struct __sk_buff *skb, struct mb_tuple4 *t)
{
	void *data, *data_end;
	struct iphdr *ip;
	__u32 l4off, need;
	__u8 *l4;

	/* The headers may sit outside the linear area (paged skbs, as some
	 * drivers and packet sockets' TX rings build them): pull the IPv4
	 * header in first, or direct access cannot see it. */
	if ((void *)(long)skb->data + ETH_HLEN + sizeof(struct iphdr) > (void *)(long)skb->data_end &&
	    bpf_skb_pull_data(skb, ETH_HLEN + sizeof(struct iphdr)) < 0)
		return -1;
	ip = mb_ipv4(skb);
	if (!ip || ip->ihl < 5 || ip->version != 4)
		return -1;
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or a fragment offset */
		return -1;
	if (ip->protocol == IPPROTO_TCP)
		need = sizeof(struct tcphdr);
	else if (ip->protocol == IPPROTO_UDP)
		need = sizeof(struct udphdr);
	else
		return -1;
	t->ihl = ip->ihl;
	t->ttl = ip->ttl;
	t->proto = ip->protocol;
	t->saddr = ip->saddr;
	t->daddr = ip->daddr;
	l4off = ETH_HLEN + t->ihl * 4;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + l4off + need > data_end) {
		if (bpf_skb_pull_data(skb, l4off + need) < 0)
			return -1;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	/* The verifier wants the offset bounded before it is added. */
	l4 = data + (l4off & 0x7f);
	if ((void *)(l4 + sizeof(struct udphdr)) > data_end)
		return -1;
	t->sport = ((__u16 *)l4)[0];
	t->dport = ((__u16 *)l4)[1];
	t->tcp_flags = 0;
	if (t->proto == IPPROTO_TCP) {
		if ((void *)(l4 + sizeof(struct tcphdr)) > data_end)
			return -1;
		t->tcp_flags = l4[13];
	}
	return 0;
}

/*
 * Sends a translated packet toward its new destination: FIB lookup as if
 * forwarded from `ifindex`, MACs from the neighbour table. tot_len 0: the
 * kernel then checks the MTU against the skb itself, which is right for GSO
 * packets too. No neighbour entry yet: bpf_redirect_neigh resolves it.
 * Returns a verdict, or -1 when there is no route; `out` gets the device
 * the packet leaves by.
 */
static __always_inline int mb_skb_fib_redirect(struct __sk_buff *skb, __u32 ifindex, const struct mb_nat4 *n, __u8 proto,
					       __u32 *out)
{
	struct bpf_fib_lookup f = {
		.family = MB_AF_INET,
		.l4_protocol = proto,
		.sport = n->sport,
		.dport = n->dport,
		.ifindex = ifindex,
		.ipv4_src = n->saddr,
		.ipv4_dst = n->daddr,
	};
	long rc = bpf_fib_lookup(skb, &f, sizeof(f), 0);

	*out = f.ifindex;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(f.ifindex, NULL, 0, 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return -1;
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), f.dmac, ETH_ALEN, 0) < 0 ||
	    bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_source), f.smac, ETH_ALEN, 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(f.ifindex, 0);
}

#endif /* MEMBRANE_NODEPORT_H */
