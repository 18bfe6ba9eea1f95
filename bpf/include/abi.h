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

#define MB_EP_F_AUDIT (1 << 0)          /* policy audit mode: report denials, let the packets pass */
#define MB_EP_F_INGRESS_POLICY (1 << 1) /* a policy selects this endpoint for ingress: default deny */
#define MB_EP_F_EGRESS_POLICY (1 << 2)  /* a policy selects this endpoint for egress: default deny */

struct mb_endpoint_info {
	__u32 ifindex;     /* host-side veth ifindex (node netns) */
	__u32 lxc_id;      /* endpoint id, 1..65535 */
	__u32 identity;    /* security identity (MB_ID_INIT until the agent knows its labels) */
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
#define MB_DROP_POLICY 9           /* no policy allows it (default deny) */
#define MB_DROP_POLICY_DENY 10     /* a deny rule matches it */
#define MB_DROP_CT_FULL 11         /* conntrack table full: no entry for a new connection */

/* --- events (ring buffer mb_events) ---------------------------------------- */

#define MB_EVENT_DROP 1
#define MB_EVENT_TRACE 2
#define MB_EVENT_POLICY 3 /* policy verdict: subtype is MB_POLICY_MATCH_*, verdict MB_VERDICT_* */

/* trace observation points */
#define MB_TRACE_FROM_ENDPOINT 1
#define MB_TRACE_TO_ENDPOINT 2
#define MB_TRACE_TO_STACK 3
#define MB_TRACE_FROM_NETWORK 4
#define MB_TRACE_TO_NETWORK 5   /* sent out of a node device (replies of the per-packet LB, forwarded NodePort traffic) */

/* mb_event.flags */
#define MB_EVF_REPLY_KNOWN (1 << 0) /* the datapath knows the packet's direction in its connection */
#define MB_EVF_REPLY (1 << 1)       /* with REPLY_KNOWN: the packet is a reply */
#define MB_EVF_NEW (1 << 2)         /* the first packet the datapath saw of this connection */

/*
 * Trace aggregation (mb_config.aggregation), Cilium's monitor-aggregation
 * levels. Drop and policy-verdict events are never aggregated.
 *  NONE:    a trace event for every packet at every observation point;
 *  LOWEST:  no trace events at receive points (from-endpoint, from-network);
 *  LOW:     LOWEST, and per connection and direction (map mb_agg4) only a
 *           packet that is the first, carries a TCP flag not yet reported in
 *           that direction, or comes MB_AGG interval after the last report;
 *  MEDIUM:  LOW, with only SYN, FIN and RST counting as new flags (default);
 *  MAXIMUM: MEDIUM without the periodic report.
 */
#define MB_AGG_NONE 0
#define MB_AGG_LOWEST 1
#define MB_AGG_LOW 2
#define MB_AGG_MEDIUM 3
#define MB_AGG_MAXIMUM 4

/* policy verdicts (mb_event.verdict) */
#define MB_VERDICT_ALLOWED 1
#define MB_VERDICT_DENIED 2
#define MB_VERDICT_AUDIT 3 /* would be denied; passed because of audit mode */

/* what a policy verdict matched (mb_event.subtype of MB_EVENT_POLICY) */
#define MB_POLICY_MATCH_NONE 0   /* no entry: default deny, or no policy */
#define MB_POLICY_MATCH_L3 1     /* identity, any protocol and port */
#define MB_POLICY_MATCH_L3_L4 2  /* identity and protocol (and port) */
#define MB_POLICY_MATCH_L4 3     /* any identity, protocol (and port) */
#define MB_POLICY_MATCH_ALL 4    /* any identity, any protocol */

struct mb_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns() */
	__u8 type;       /* MB_EVENT_* */
	__u8 subtype;    /* drop reason, trace point, or policy match */
	__u16 source;    /* endpoint id where observed (policy: the endpoint whose policy judged), 0 if none */
	__u32 ifindex;   /* device where observed */
	__u32 saddr;     /* network byte order */
	__u32 daddr;     /* network byte order */
	__u16 sport;     /* network byte order, 0 when not TCP/UDP */
	__u16 dport;     /* network byte order; ICMP: type << 8 | code */
	__u8 proto;      /* IP protocol */
	__u8 tcp_flags;
	__u8 dir;        /* MB_DIR_* of `source` (0 when not known) */
	__u8 verdict;    /* policy: MB_VERDICT_*; 0 otherwise */
	__u32 len;       /* packet length */
	__u32 src_identity; /* security identity of saddr (0 when not looked up) */
	__u32 dst_identity; /* security identity of daddr (0 when not looked up) */
	__u32 rule_id;   /* policy: the matching entry's rule (0: none) */
	__u32 orig_daddr; /* translated by a service: the frontend's address, network order (0: not translated) */
	__u16 orig_dport; /* with orig_daddr: the frontend's port, network order */
	__u8 flags;       /* MB_EVF_* */
	__u8 pad2;
};

/* --- trace aggregation state (map mb_agg4, LRU) ---------------------------- */
/*
 * One entry per connection, keyed by the tuple of its first packet seen (its
 * original direction); a packet whose reversed tuple has an entry is a reply.
 * A TCP SYN-ACK without an entry starts one keyed by its reverse (the
 * connection began before the datapath saw it).
 */
#define MB_AGG_MAX (1 << 18)

struct mb_agg4_key {
	__u32 saddr; /* network order */
	__u32 daddr;
	__u16 sport; /* network order; 0 for ICMP */
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct mb_agg4_entry {
	__u64 last_report_fwd_ns; /* bpf_ktime_get_ns() of the last report, original direction */
	__u64 last_report_rev_ns; /* ... reply direction */
	__u8 flags_seen_fwd;      /* TCP flags reported so far, original direction */
	__u8 flags_seen_rev;      /* ... reply direction */
	__u8 pad[6];
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

/* --- identities and the ipcache (map mb_ipcache, LPM trie) ---------------- */
/*
 * Reserved security identities (Cilium's numbers). Identities of label sets
 * (endpoints) are allocated from MB_ID_CLUSTER_MIN; CIDR identities, local
 * to a node, from MB_ID_CIDR_MIN.
 */
#define MB_ID_ANY 0 /* policy keys only: any identity */
#define MB_ID_HOST 1
#define MB_ID_WORLD 2
#define MB_ID_UNMANAGED 3
#define MB_ID_HEALTH 4
#define MB_ID_INIT 5
#define MB_ID_REMOTE_NODE 6
#define MB_ID_KUBE_APISERVER 7
#define MB_ID_CLUSTER_MIN 256
#define MB_ID_CLUSTER_MAX 65535
#define MB_ID_CIDR_MIN (1 << 24)

#define MB_IPCACHE_MAX (1 << 18)

/* LPM key: prefixlen counts the bits of ip4 that must match. */
struct mb_ipcache_key {
	__u32 prefixlen;
	__u32 ip4; /* network order */
};

/*
 * What an address is: the security identity of the longest matching prefix
 * (an endpoint's /32, a node's /32, or a policy CIDR whose identity is
 * world), and the CIDR identity of the longest policy CIDR that contains
 * it (0 when none). Policy is looked up for both, so CIDR rules match any
 * address in their range, endpoints included (as NetworkPolicy ipBlock).
 */
struct mb_ipcache_entry {
	__u32 identity;
	__u32 cidr_identity;
};

/* --- policy (map mb_policy, LPM trie) -------------------------------------- */
/*
 * One entry allows or denies traffic of one endpoint, in one direction, with
 * one remote identity (MB_ID_ANY: any), protocol (0 with prefixlen
 * MB_POLICY_PREFIX_ANY_PROTO: any) and destination port range (a prefix of
 * dport's bits; a range is split into prefixes). Fields before the prefix
 * are always matched whole, so a lookup finds the most specific
 * protocol/port entry for an (endpoint, direction, identity); the datapath
 * looks up the remote's identity, its CIDR identity and MB_ID_ANY, and a
 * deny in any of them wins. The agent keeps every allow that a deny covers
 * out of the map, so the longest match never hides a deny.
 */
#define MB_POLICY_MAX (1 << 20)
#define MB_POLICY_PREFIX_ANY_PROTO 64 /* lxc_id, dir, pad, identity */
#define MB_POLICY_PREFIX_ANY_PORT 80  /* ... proto, pad */
#define MB_POLICY_PREFIX_FULL 96      /* ... dport */

struct mb_policy_key {
	__u32 prefixlen;
	__u16 lxc_id;   /* endpoint id */
	__u8 dir;       /* MB_DIR_INGRESS or MB_DIR_EGRESS */
	__u8 pad;
	__u32 identity; /* remote identity, MB_ID_ANY for any */
	__u8 proto;     /* IP protocol, 0 for any */
	__u8 pad2;
	__u16 dport;    /* network order; its leading bits are matched */
};

#define MB_POLICY_F_DENY (1 << 0)

struct mb_policy_entry {
	__u32 rule_id;  /* the agent's rule (for verdict events and trace) */
	__u32 flags;    /* MB_POLICY_F_* */
};

/* --- policy conntrack (map mb_pct4, LRU) ----------------------------------- */
/*
 * One entry per connection that policy allowed, keyed by its first packet's
 * tuple (after service translation). A packet whose reversed tuple has an
 * entry is a reply: it passes without a policy lookup. Packets in the
 * original direction are judged every time, so revoking an allow cuts
 * existing connections at their next packet.
 */
#define MB_PCT_MAX (1 << 18)

struct mb_pct4_key {
	__u32 saddr; /* network order */
	__u32 daddr;
	__u16 sport; /* network order; 0 for ICMP */
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

#define MB_PCT_F_SEEN_REPLY (1 << 0)

struct mb_pct4_entry {
	__u64 last_seen_ns;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;      /* the rule that allowed it (egress if judged there, else ingress) */
	__u32 flags;        /* MB_PCT_F_* */
};

/* --- node configuration (map mb_config, one entry) -------------------------- */

#define MB_CFG_F_POLICY_AUDIT (1 << 0) /* audit mode for every endpoint of the node */
#define MB_CFG_F_HOST_POLICY (1 << 1)  /* judge traffic from the node to its endpoints (default: always allowed) */
#define MB_CFG_F_NO_TRACE (1 << 2)     /* emit no trace events (--bpf-events-trace-enabled=false) */
#define MB_CFG_F_NO_DROP (1 << 3)      /* emit no drop events (they are still counted in mb_metrics) */
#define MB_CFG_F_NO_POLICY (1 << 4)    /* emit no policy-verdict events */

struct mb_config {
	__u32 node_ip4;      /* SNAT address for external traffic, network order */
	__u32 maglev_size;   /* entries of every Maglev table (prime) */
	__u16 snat_port_min; /* SNAT port range, host order */
	__u16 snat_port_max;
	__u32 flags;         /* MB_CFG_F_* */
	__u8 aggregation;    /* MB_AGG_* */
	__u8 pad;
	__u16 agg_interval_s; /* LOW, MEDIUM: report an active connection direction at least this often (seconds) */
};

#endif /* MEMBRANE_ABI_H */
