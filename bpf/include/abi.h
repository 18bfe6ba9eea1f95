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
#define MB_DROP_NO_SERVICE 5       /* service frontend without a usable backend (rejected) */
#define MB_DROP_NAT_NO_PORT 6      /* no free SNAT port toward the backend */
#define MB_DROP_NO_LOCAL_BACKEND 7 /* externalTrafficPolicy Local and no backend on this node */
#define MB_DROP_FIB_FAIL 8         /* no route to send a translated packet on */

/* --- events (ring buffer mb_events) ---------------------------------------- */

#define MB_EVENT_DROP 1
#define MB_EVENT_TRACE 2

/* trace observation points */
#define MB_TRACE_FROM_ENDPOINT 1
#define MB_TRACE_TO_ENDPOINT 2
#define MB_TRACE_TO_STACK 3
#define MB_TRACE_FROM_NETWORK 4

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

/* --- services: load balancing (maps mb_lb4_*) ------------------------------ */
/*
 * A frontend (address, port, protocol) has one entry per lookup scope:
 *  - MB_LB_SCOPE_EXT: traffic from outside the node (tc/XDP on the node's
 *    devices: NodePort, LoadBalancer, externalIPs); backends follow
 *    externalTrafficPolicy;
 *  - MB_LB_SCOPE_INT: traffic from the node and its pods (socket LB: every
 *    frontend, ClusterIP included); backends follow internalTrafficPolicy.
 * Within a scope, slot 0 is the service entry (count, flags) and slots
 * 1..count name the active backends, so that a random choice is one lookup.
 * Terminating and maintenance backends have no slot: they get no new
 * connections, while conntrack keeps the established ones on them.
 */
#define MB_LB_SVC_MAX (1 << 19)      /* frontend entries incl. backend slots */
#define MB_LB_BACKENDS_MAX (1 << 18)
#define MB_LB_REVNAT_MAX 65536        /* frontends (rev_nat_id is 16 bits) */
#define MB_LB_MAGLEV_MAX 4096         /* frontends with a Maglev table */
#define MB_LB_AFFINITY_MAX (1 << 18)
#define MB_SOCK_REVNAT_MAX (1 << 18)
#define MB_CT_MAX (1 << 18)

#define MB_LB_SCOPE_EXT 0
#define MB_LB_SCOPE_INT 1

struct mb_lb4_key {
	__u32 addr;  /* frontend address, network order */
	__u16 dport; /* frontend port, network order */
	__u16 slot;  /* 0: the service entry; 1..count: backend slots (host order) */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 scope;  /* MB_LB_SCOPE_* */
	__u16 pad;
};

#define MB_SVC_F_CLUSTER_IP (1 << 0)
#define MB_SVC_F_NODEPORT (1 << 1)
#define MB_SVC_F_EXTERNAL_IP (1 << 2)
#define MB_SVC_F_LOADBALANCER (1 << 3)
#define MB_SVC_F_AFFINITY (1 << 4)  /* sessionAffinity ClientIP */
#define MB_SVC_F_DSR (1 << 5)       /* external traffic: no SNAT, the reply leaves from the backend's node */
#define MB_SVC_F_MAGLEV (1 << 6)    /* external traffic: pick by Maglev table (mb_lb4_maglev) */
#define MB_SVC_F_LOCAL (1 << 7)     /* this scope's traffic policy is Local: only this node's backends */

struct mb_lb4_service {
	__u32 backend_id;       /* slot > 0: the backend in this slot */
	__u16 count;            /* slot 0: number of active backends (slots 1..count) */
	__u16 rev_nat_id;       /* slot 0: this frontend's id (mb_lb4_revnat, mb_lb4_maglev) */
	__u32 flags;            /* slot 0: MB_SVC_F_* */
	__u32 affinity_timeout; /* slot 0: seconds, with MB_SVC_F_AFFINITY */
};

#define MB_BACKEND_ACTIVE 0
#define MB_BACKEND_TERMINATING 1
#define MB_BACKEND_MAINTENANCE 2

#define MB_BE_F_LOCAL (1 << 0) /* an endpoint on this node */

struct mb_lb4_backend_key {
	__u32 backend_id; /* 1.., stable for an (address, port, protocol) */
};

struct mb_lb4_backend {
	__u32 addr;  /* network order */
	__u16 port;  /* network order */
	__u8 proto;
	__u8 state;  /* MB_BACKEND_* */
	__u32 flags; /* MB_BE_F_* */
};

struct mb_lb4_revnat_key {
	__u32 rev_nat_id;
};

/* The frontend a translated connection must appear to come from. */
struct mb_lb4_revnat {
	__u32 addr;  /* network order */
	__u16 port;  /* network order */
	__u16 pad;
};

/* Maglev (mb_lb4_maglev): rev_nat_id -> an array of mb_config.maglev_size
 * backend ids, created by the agent per frontend (map-in-map). */

/* Session affinity (mb_lb4_affinity, LRU). */
struct mb_lb4_affinity_key {
	__u64 client;      /* socket LB: netns cookie; tc/XDP: client IPv4 (network order) */
	__u32 rev_nat_id;
	__u8 netns;        /* 1 when client is a netns cookie */
	__u8 pad[3];
};

struct mb_lb4_affinity {
	__u64 last_used_ns; /* bpf_ktime_get_ns() of the last connection */
	__u32 backend_id;
	__u32 pad;
};

/* Socket LB reverse translation (mb_sock4_revnat, LRU): what recvmsg and
 * getpeername show instead of the backend a socket was connected to. */
struct mb_sock4_revnat_key {
	__u64 cookie; /* bpf_get_socket_cookie() */
	__u32 addr;   /* backend address, network order */
	__u16 port;   /* backend port, network order */
	__u16 pad;
};

struct mb_sock4_revnat {
	__u32 addr;       /* frontend address, network order */
	__u16 port;       /* frontend port, network order */
	__u16 rev_nat_id;
};

/* --- conntrack for per-packet LB (map mb_ct4, LRU) ------------------------- */
/*
 * Each translated connection has two entries with the same value:
 *  - MB_CT_DIR_FWD, keyed by the tuple as it arrives from the client
 *    (client -> frontend);
 *  - MB_CT_DIR_REV, keyed by the reply as it arrives from the backend
 *    (backend -> nat address, i.e. the node with SNAT, the client without).
 */
#define MB_CT_DIR_FWD 0
#define MB_CT_DIR_REV 1

struct mb_ct4_key {
	__u32 saddr; /* network order */
	__u32 daddr;
	__u16 sport; /* network order */
	__u16 dport;
	__u8 proto;
	__u8 dir;    /* MB_CT_DIR_* */
	__u16 pad;
};

#define MB_CT_F_SNAT (1 << 0)       /* source translated to nat_addr:nat_port */
#define MB_CT_F_DSR (1 << 1)        /* reply translated at the backend's node */
#define MB_CT_F_CLOSING (1 << 2)    /* FIN or RST seen */
#define MB_CT_F_SEEN_REPLY (1 << 3)

struct mb_ct4_entry {
	__u64 last_seen_ns;
	__u64 packets;      /* packets seen in this entry's direction */
	__u64 bytes;
	__u32 client_addr;  /* original source */
	__u32 fe_addr;      /* original destination: the frontend */
	__u32 backend_addr;
	__u32 nat_addr;     /* source toward the backend (client_addr without SNAT) */
	__u16 client_port;
	__u16 fe_port;
	__u16 backend_port;
	__u16 nat_port;
	__u32 backend_id;
	__u16 rev_nat_id;
	__u8 proto;
	__u8 flags;         /* MB_CT_F_* */
};

/* --- node configuration (map mb_config, one entry) -------------------------- */

struct mb_config {
	__u32 node_ip4;      /* SNAT address for external traffic, network order */
	__u32 maglev_size;   /* entries of every Maglev table (prime) */
	__u16 snat_port_min; /* SNAT port range, host order */
	__u16 snat_port_max;
	__u32 flags;         /* reserved */
};

#endif /* MEMBRANE_ABI_H */
