// XDP attachment (netlink, survives the agent). Native (driver) mode is
// preferred; generic mode works on any device.
import { check, lib } from './libbpf.ts';

export type XdpMode = 'native' | 'generic' | 'auto';
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;

function flags(mode: XdpMode): number {
  return mode === 'native' ? XDP_FLAGS_DRV_MODE : mode === 'generic' ? XDP_FLAGS_SKB_MODE : 0;
}

export function xdpAttach(ifindex: number, progFd: number, mode: XdpMode = 'auto'): void {
  check(lib().bpf.bpf_xdp_attach(ifindex, progFd, flags(mode), null) as number, `attach XDP program on ifindex ${ifindex}`);
}

export function xdpDetach(ifindex: number, mode: XdpMode = 'auto'): void {
  const rc = lib().bpf.bpf_xdp_detach(ifindex, flags(mode), null) as number;
  if (rc === -19) return; // device gone
  check(rc, `detach XDP program from ifindex ${ifindex}`);
}

/** The attached XDP program id, 0 when none. */
export function xdpQuery(ifindex: number): number {
  const id = Buffer.alloc(4);
  check(lib().bpf.bpf_xdp_query_id(ifindex, 0, id) as number, `query XDP on ifindex ${ifindex}`);
  return id.readUInt32LE();
}
