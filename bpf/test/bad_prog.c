// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A program the verifier must reject: it reads packet data without checking
 * it against data_end. test/datapath/object.test.ts loads it and asserts that
 * the load fails with BPF_LOAD_FAILED and the verifier's complaint in
 * details.verifierLog.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int bad_unchecked_read(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;

	/* no bounds check: out-of-bounds packet read */
	return *(volatile __u32 *)(data + 64) == 0 ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
