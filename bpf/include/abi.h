/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ABI between Membrane's eBPF programs and its userspace.
 *
 * Every struct and constant that crosses the kernel/userspace boundary lives
 * here, once. The TypeScript codecs in src/datapath/abi.ts mirror this file;
 * test/datapath/layout.test.ts compiles a probe of sizeof/offsetof from this header and
 * compares it with the codecs. Fields are fixed-width and explicitly padded so
 * the layout is the same for the BPF target and for x86_64.
 *
 * Byte order: addresses and ports are in network byte order, as on the wire;
 * everything else is host order.
 */
#ifndef MEMBRANE_ABI_H
#define MEMBRANE_ABI_H

#include <linux/types.h>

/* Capacity of the endpoint map: local endpoints on one node. */
#define MB_MAX_ENDPOINTS 65536
/* Size of the events ring buffer in bytes (power of two, multiple of page size). */
#define MB_EVENTS_RINGBUF_SIZE (1 << 22)

/* --- endpoints (map mb_lxc): IPv4 address -> local endpoint ----------------- */

struct mb_endpoint_key {
	__u32 ip4; /* network byte order */
};

#define MB_EP_F_AUDIT (1 << 0) /* reserved for policy audit mode */

struct mb_endpoint_info {
	__u32 ifindex;     /* host-side veth ifindex (node netns) */
	__u32 lxc_id;      /* endpoint id, 1..65535 */
	__u32 identity;    /* security identity (0 until identities exist) */
	__u32 flags;       /* MB_EP_F_* */
	__u8 mac[6];       /* pod eth0 MAC */
	__u8 node_mac[6];  /* host-side veth MAC */
};

/* --- metrics (map mb_metrics, per-CPU hash) -------------------------------- */

#define MB_DIR_EGRESS 1  /* leaving an endpoint */
#define MB_DIR_INGRESS 2 /* entering an endpoint */

/* reason 0 means forwarded; other values are MB_DROP_* */
struct mb_metrics_key {
	__u8 reason;
	__u8 dir;
	__u16 pad;
};

struct mb_metrics_value {
	__u64 packets;
	__u64 bytes;
};

/* --- drop reasons ---------------------------------------------------------- */

#define MB_DROP_INVALID_SOURCE 1  /* source address is not the endpoint's */
#define MB_DROP_UNSUPPORTED_L3 2  /* neither IPv4 nor ARP */
#define MB_DROP_INVALID_PACKET 3  /* truncated or malformed header */
#define MB_DROP_UNKNOWN_ENDPOINT 4 /* packet from a veth with no endpoint */

/* --- events (ring buffer mb_events) ---------------------------------------- */

#define MB_EVENT_DROP 1
#define MB_EVENT_TRACE 2

/* trace observation points */
#define MB_TRACE_FROM_ENDPOINT 1
#define MB_TRACE_TO_ENDPOINT 2
#define MB_TRACE_TO_STACK 3

struct mb_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns() */
	__u8 type;       /* MB_EVENT_* */
	__u8 subtype;    /* drop reason or trace point */
	__u16 source;    /* endpoint id where observed, 0 if none */
	__u32 ifindex;   /* device where observed */
	__u32 saddr;     /* network byte order */
	__u32 daddr;     /* network byte order */
	__u16 sport;     /* network byte order, 0 when not TCP/UDP */
	__u16 dport;     /* network byte order; ICMP: type << 8 | code */
	__u8 proto;      /* IP protocol */
	__u8 tcp_flags;
	__u16 pad;
	__u32 len;       /* packet length */
};

#endif /* MEMBRANE_ABI_H */
