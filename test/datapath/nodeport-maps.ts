// Programs the per-packet LB's maps directly through the agent's pins, as
// the service manager would: frontends (slot 0 + backend slots), backends,
// reverse NAT, Maglev tables. Lets nodeport.test.ts test the datapath alone.
import path from 'node:path';
import {
  ct4Entry, ct4Key, lb4Backend, lb4BackendKey, lb4Key, lb4Revnat, lb4RevnatKey, lb4Service, metricsKey, metricsValue,
  nodeConfig, u32Key, MB_BACKEND_ACTIVE, MB_BE_F_LOCAL, MB_DIR_INGRESS, MB_LB_SCOPE_EXT, MB_SVC_F_MAGLEV,
  type Ct4Entry, type Ct4Key, type Lb4Backend, type Lb4BackendKey, type Lb4Key, type Lb4Revnat, type Lb4RevnatKey,
  type Lb4Service, type MetricsKey, type MetricsValue, type NodeConfig, type U32Key,
} from '../../src/datapath/abi.ts';
import { check, lib } from '../../src/datapath/libbpf.ts';
import { BpfMap } from '../../src/datapath/map.ts';
import { maglevTable, MAGLEV_EMPTY } from '../../src/service/maglev.ts';
import { createInnerArray } from '../../src/service/rawmap.ts';

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export interface Frontend {
  addr: string;
  port: number;
  proto: number;
}

export interface Backend {
  id: number;
  addr: string;
  port: number;
  proto: number;
  state?: number;
  local?: boolean;
}

export interface FrontendSpec {
  revNatId: number;
  flags: number;
  /** Ids of the active backends, in slot order. */
  active: number[];
  /** Every backend that may have a Maglev slot (default: `active`). */
  maglev?: number[];
}


/** The maps, opened from the pins; close() when done. */
export class LbMaps {
  readonly svc: BpfMap<Lb4Key, Lb4Service>;
  readonly backends: BpfMap<Lb4BackendKey, Lb4Backend>;
  readonly revnat: BpfMap<Lb4RevnatKey, Lb4Revnat>;
  readonly ct: BpfMap<Ct4Key, Ct4Entry>;
  readonly config: BpfMap<U32Key, NodeConfig>;
  readonly metrics: BpfMap<MetricsKey, MetricsValue>;
  readonly maglevFd: number;
  /** Maglev tables by rev_nat_id: backend id per slot. */
  readonly tables = new Map<number, Uint32Array>();
  readonly #innerFds: number[] = [];

  constructor(pinDir: string) {
    const pin = (name: string) => path.join(pinDir, name);
    this.svc = BpfMap.openPinned(pin('mb_lb4_svc'), lb4Key, lb4Service);
    this.backends = BpfMap.openPinned(pin('mb_lb4_backend'), lb4BackendKey, lb4Backend);
    this.revnat = BpfMap.openPinned(pin('mb_lb4_revnat'), lb4RevnatKey, lb4Revnat);
    this.ct = BpfMap.openPinned(pin('mb_ct4'), ct4Key, ct4Entry);
    this.config = BpfMap.openPinned(pin('mb_config'), u32Key, nodeConfig);
    this.metrics = BpfMap.openPinned(pin('mb_metrics'), metricsKey, metricsValue, { perCpu: true });
    this.maglevFd = check(lib().bpf.bpf_obj_get(pin('mb_lb4_maglev')) as number, 'open pinned mb_lb4_maglev');
  }

  nodeConfig(): NodeConfig {
    const c = this.config.lookup({ key: 0 });
    if (!c) throw new Error('mb_config has no entry');
    return c;
  }

  setBackend(b: Backend): void {
    this.backends.update({ backend_id: b.id }, { addr: b.addr, port: b.port, proto: b.proto, state: b.state ?? MB_BACKEND_ACTIVE, flags: b.local === false ? 0 : MB_BE_F_LOCAL });
  }

  deleteBackend(id: number): void {
    this.backends.delete({ backend_id: id });
  }

  /** Writes a frontend in scope EXT: backend slots first, then the service entry, then stale slots go. */
  setFrontend(fe: Frontend, spec: FrontendSpec): void {
    const key = (slot: number): Lb4Key => ({ addr: fe.addr, dport: fe.port, slot, proto: fe.proto, scope: MB_LB_SCOPE_EXT });
    const before = this.svc.lookup(key(0))?.count ?? 0;
    spec.active.forEach((id, i) => this.svc.update(key(i + 1), { backend_id: id, count: 0, rev_nat_id: 0, flags: 0, affinity_timeout: 0 }));
    this.revnat.update({ rev_nat_id: spec.revNatId }, { addr: fe.addr, port: fe.port });
    if (spec.flags & MB_SVC_F_MAGLEV) this.setMaglev(spec.revNatId, spec.maglev ?? spec.active);
    this.svc.update(key(0), { backend_id: 0, count: spec.active.length, rev_nat_id: spec.revNatId, flags: spec.flags, affinity_timeout: 0 });
    for (let slot = spec.active.length + 1; slot <= before; slot++) this.svc.delete(key(slot));
  }

  deleteFrontend(fe: Frontend): void {
    const key = (slot: number): Lb4Key => ({ addr: fe.addr, dport: fe.port, slot, proto: fe.proto, scope: MB_LB_SCOPE_EXT });
    const entry = this.svc.lookup(key(0));
    if (!entry) return;
    this.svc.delete(key(0));
    for (let slot = 1; slot <= entry.count; slot++) this.svc.delete(key(slot));
    this.revnat.delete({ rev_nat_id: entry.rev_nat_id });
    const k = Buffer.alloc(4);
    k.writeUInt32LE(entry.rev_nat_id);
    lib().bpf.bpf_map_delete_elem(this.maglevFd, k);
    this.tables.delete(entry.rev_nat_id);
  }

  /** A Maglev table over `ids` (names are the ids), as an inner map of mb_config.maglev_size entries. */
  setMaglev(revNatId: number, ids: number[]): Uint32Array {
    const m = this.nodeConfig().maglev_size;
    const idx = maglevTable(ids.map(String), { tableSize: m });
    const table = new Uint32Array(m);
    for (let i = 0; i < m; i++) table[i] = idx[i] === MAGLEV_EMPTY ? 0 : ids[idx[i]!]!;
    const fd = createInnerArray(`mbn_maglev_${revNatId}`, table);
    this.#innerFds.push(fd);
    const k = Buffer.alloc(4);
    const v = Buffer.alloc(4);
    k.writeUInt32LE(revNatId);
    v.writeUInt32LE(fd);
    check(lib().bpf.bpf_map_update_elem(this.maglevFd, k, v, 0n) as number, 'install Maglev table');
    this.tables.set(revNatId, table);
    return table;
  }

  /** Conntrack entries as [key, value]. */
  conntrack(): Array<[Ct4Key, Ct4Entry]> {
    return [...this.ct.entries()];
  }

  /** Packets counted under a drop reason (summed over CPUs), direction ingress. */
  dropped(reason: number): bigint {
    const per = this.metrics.lookupPerCpu({ reason, dir: MB_DIR_INGRESS }) ?? [];
    return per.reduce((n, v) => n + v.packets, 0n);
  }

  close(): void {
    for (const m of [this.svc, this.backends, this.revnat, this.ct, this.config, this.metrics]) m.close();
    for (const fd of [this.maglevFd, ...this.#innerFds]) lib().libc.close(fd);
    this.#innerFds.length = 0;
  }
}

/** mb_hash_tuple of bpf/include/lb.h (addresses and ports as on the wire). */
export function hashTuple(saddr: string, daddr: string, sport: number, dport: number, proto: number): number {
  // The BPF program reads addresses and ports as little-endian words of the
  // network-order bytes (x86 and the BPF target are little-endian).
  const addr = (a: string) => Buffer.from(a.split('.').map(Number)).readUInt32LE();
  const port = (p: number) => ((p & 0xff) << 8) | (p >> 8);
  const rol = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  let a = (0x6d656d62 + addr(saddr)) >>> 0;
  let b = (0x72616e65 + addr(daddr)) >>> 0;
  let c = (0x9e3779b9 + (((port(sport) << 16) | port(dport)) >>> 0) + proto) >>> 0;
  c = ((c ^ b) - rol(b, 14)) >>> 0;
  a = ((a ^ c) - rol(c, 11)) >>> 0;
  b = ((b ^ a) - rol(a, 25)) >>> 0;
  c = ((c ^ b) - rol(b, 16)) >>> 0;
  a = ((a ^ c) - rol(c, 4)) >>> 0;
  b = ((b ^ a) - rol(a, 14)) >>> 0;
  c = ((c ^ b) - rol(b, 24)) >>> 0;
  return c;
}
