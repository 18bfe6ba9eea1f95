// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_sock: socket-level load balancing at the cgroup-v2 hooks.
 *
 * A process in the cgroup that connects (TCP, connected UDP) or sends
 * (unconnected UDP) to a service frontend of scope MB_LB_SCOPE_INT is
 * translated before any packet exists: the kernel sees a socket to the
 * backend, so there is no per-packet NAT and no conntrack on this path.
 *
 *   connect4     TCP/UDP connect(): frontend -> backend, remember the socket
 *   sendmsg4     UDP sendto() without connect: the same, per datagram
 *   recvmsg4     UDP recvfrom(): backend source -> frontend
 *   getpeername4 getpeername(): backend -> frontend
 *
 * so that the application sees the service address as its peer throughout.
 * The reverse translation is keyed by the socket cookie (mb_sock4_revnat):
 * only sockets this program translated are rewritten back.
 *
 * A frontend with no active backend (count 0) is rejected: connect() and
 * sendmsg() fail with ECONNREFUSED at once, as if the service answered RST.
 * Terminating and maintenance backends have no slot, so they get no new
 * sockets; sockets already connected to them are plain sockets to the
 * backend and carry on untouched.
 *
 * Byte order: ctx->user_ip4 and the low 16 bits of ctx->user_port hold the
 * address and port as in struct sockaddr_in (network order), exactly like
 * the map keys, so nothing is converted.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "maps.h"
#include "lb.h"

/* Verdicts of connect4/sendmsg4 (recvmsg4 and getpeername4 may only return
 * SOCK_PROCEED: the verifier enforces R0 == 1 for them). */
#define SOCK_PROCEED 1
#define SOCK_REJECT 0

static __always_inline int sock4_proto_lb(__u32 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/* Remember what the socket was translated from, for recvmsg4/getpeername4.
 * Unconnected UDP passes here for every datagram: look first so that the
 * LRU map is only written when something changed. */
static __always_inline void sock4_revnat_record(__u64 cookie, const struct mb_lb4_backend *be, __u32 fe_addr,
						__u16 fe_port, __u16 rev_nat_id)
{
	struct mb_sock4_revnat_key key = {
		.cookie = cookie,
		.addr = be->addr,
		.port = be->port,
	};
	struct mb_sock4_revnat val = {
		.addr = fe_addr,
		.port = fe_port,
		.rev_nat_id = rev_nat_id,
	};
	struct mb_sock4_revnat *cur = bpf_map_lookup_elem(&mb_sock4_revnat, &key);

	if (cur && cur->addr == fe_addr && cur->port == fe_port && cur->rev_nat_id == rev_nat_id)
		return;
	/* A full LRU map evicts; a failure here only costs the reverse view
	 * (the application would see the backend as its peer), never the
	 * connection, so the result is not acted on. */
	bpf_map_update_elem(&mb_sock4_revnat, &key, &val, BPF_ANY);
}

/*
 * The forward translation, shared by connect4 and sendmsg4. `per_datagram`
 * is set for unconnected UDP (sendmsg4), where every datagram is a new
 * choice: instead of a random slot, the slot is a hash of the socket cookie,
 * so one socket keeps talking to one backend while the backend set does not
 * change (like a kube-proxy conntrack entry for the socket's 5-tuple), and
 * a request/response protocol over sendto()/recvfrom() keeps its server.
 * Session affinity, when the service has it, takes precedence.
 */
static __always_inline int sock4_xlate_fwd(struct bpf_sock_addr *ctx, int per_datagram)
{
	struct mb_lb4_backend *be = NULL;
	struct mb_lb4_service *svc;
	struct mb_lb4_key key;
	__u32 proto = ctx->protocol;
	__u32 fe_addr, backend_id;
	__u16 fe_port;
	__u64 cookie;

	if (!sock4_proto_lb(proto))
		return SOCK_PROCEED;
	fe_addr = ctx->user_ip4;
	fe_port = (__u16)ctx->user_port; /* the sin_port bytes, network order */

	svc = mb_lb4_lookup(&key, fe_addr, fe_port, (__u8)proto, MB_LB_SCOPE_INT);
	if (!svc)
		return SOCK_PROCEED;
	if (svc->count == 0)
		goto reject;

	cookie = bpf_get_socket_cookie(ctx);
	if (per_datagram && !(svc->flags & MB_SVC_F_AFFINITY))
		backend_id = mb_lb4_hash_select(&key, svc,
						mb_hash_tuple((__u32)cookie, fe_addr, (__u16)(cookie >> 32), fe_port,
							      (__u8)proto),
						&be);
	else
		backend_id = mb_lb4_select(&key, svc, bpf_get_netns_cookie(ctx), 1, 0, 0, &be);
	/* No backend although count > 0: the agent is between two writes of
	 * this frontend's slots. Refuse rather than let the connection go to
	 * the service address, which nothing routes. */
	if (backend_id == 0 || !be)
		goto reject;

	sock4_revnat_record(cookie, be, fe_addr, fe_port, svc->rev_nat_id);
	/* The verifier only accepts full 4-byte stores to user_ip4 and
	 * user_port (reads may be narrower): the port goes in as a u32 whose
	 * low 16 bits are the sin_port bytes. */
	ctx->user_ip4 = be->addr;
	ctx->user_port = (__u32)be->port;
	return SOCK_PROCEED;

reject:
	/* bpf_set_retval is available to connect4 and sendmsg4 (not to
	 * recvmsg4/getpeername4). Returning 0 alone would make the syscall
	 * fail with EPERM; with the return value set first the kernel keeps
	 * ours, so connect()/sendmsg() fail with ECONNREFUSED immediately. */
	bpf_set_retval(-ECONNREFUSED);
	return SOCK_REJECT;
}

/* The reverse view for a socket this program translated: backend -> frontend. */
static __always_inline void sock4_xlate_rev(struct bpf_sock_addr *ctx)
{
	struct mb_sock4_revnat_key key = {};
	struct mb_sock4_revnat *fe;

	if (!sock4_proto_lb(ctx->protocol))
		return;
	key.cookie = bpf_get_socket_cookie(ctx);
	key.addr = ctx->user_ip4;
	key.port = (__u16)ctx->user_port;
	fe = bpf_map_lookup_elem(&mb_sock4_revnat, &key);
	if (!fe)
		return;
	/* full 4-byte stores, as in sock4_xlate_fwd */
	ctx->user_ip4 = fe->addr;
	ctx->user_port = (__u32)fe->port;
}

SEC("cgroup/connect4")
int sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_fwd(ctx, 0);
}

SEC("cgroup/sendmsg4")
int sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_fwd(ctx, 1);
}

SEC("cgroup/recvmsg4")
int sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	sock4_xlate_rev(ctx);
	return SOCK_PROCEED;
}

SEC("cgroup/getpeername4")
int sock4_getpeername(struct bpf_sock_addr *ctx)
{
	sock4_xlate_rev(ctx);
	return SOCK_PROCEED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
