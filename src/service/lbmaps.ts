// The load balancer's maps in the kernel: read them into an LbState (agent
// start, or after a failed write), and carry out a SyncPlan with batch
// syscalls. Entries are encoded straight into one buffer per batch, without
// an object per entry (10 000 services × 10 backends are ~200 000 entries).
// The layouts are abi.h's; lbmaps.test.ts checks them against the codecs of
// src/datapath/abi.ts.
import { lb4Backend, lb4BackendKey, lb4Key, lb4Revnat, lb4RevnatKey, lb4Service } from '../datapath/abi.ts';
import type { Datapath } from '../datapath/datapath.ts';
import { MembraneError } from '../errors.ts';
import { maglevTable } from './maglev.ts';
import {
  emptyState, feKey, tupleKey, type BackendValue, type FeKey, type FeState, type HeadValue, type LbState, type MaglevSpec,
  type RevnatValue, type SyncPlan,
} from './lbstate.ts';
import { allKeysRaw, closeFd, createInnerArray, deleteBatchRaw, dumpRaw, lookupRaw, mapFdById, updateBatchRaw } from './rawmap.ts';
import { mapInfo } from '../datapath/map.ts';

export const KEY_SIZE = 12; // mb_lb4_key
export const SVC_SIZE = 16; // mb_lb4_service
export const BACKEND_SIZE = 12; // mb_lb4_backend
export const REVNAT_SIZE = 8; // mb_lb4_revnat

if (lb4Key.size !== KEY_SIZE || lb4Service.size !== SVC_SIZE || lb4Backend.size !== BACKEND_SIZE || lb4Revnat.size !== REVNAT_SIZE
  || lb4BackendKey.size !== 4 || lb4RevnatKey.size !== 4) {
  throw new MembraneError('INTERNAL', 'src/service/lbmaps.ts is out of step with the mb_lb4_* layouts of abi.ts');
}

export function writeKey(buf: Buffer, off: number, k: FeKey, slot: number): void {
  buf.writeUInt32BE(k.addr, off);
  buf.writeUInt16BE(k.port, off + 4);
  buf.writeUInt16LE(slot, off + 6);
  buf.writeUInt8(k.proto, off + 8);
  buf.writeUInt8(k.scope, off + 9);
  buf.writeUInt16LE(0, off + 10);
}

export function readKey(buf: Buffer, off: number): FeKey & { slot: number } {
  return { addr: buf.readUInt32BE(off), port: buf.readUInt16BE(off + 4), slot: buf.readUInt16LE(off + 6), proto: buf.readUInt8(off + 8), scope: buf.readUInt8(off + 9) };
}

export function writeHead(buf: Buffer, off: number, h: HeadValue): void {
  buf.writeUInt32LE(0, off);
  buf.writeUInt16LE(h.count, off + 4);
  buf.writeUInt16LE(h.revNat, off + 6);
  buf.writeUInt32LE(h.flags >>> 0, off + 8);
  buf.writeUInt32LE(h.timeout >>> 0, off + 12);
}

export function writeSlot(buf: Buffer, off: number, backendId: number): void {
  buf.writeUInt32LE(backendId >>> 0, off);
  buf.fill(0, off + 4, off + SVC_SIZE);
}

export function writeBackend(buf: Buffer, off: number, b: BackendValue): void {
  buf.writeUInt32BE(b.addr, off);
  buf.writeUInt16BE(b.port, off + 4);
  buf.writeUInt8(b.proto, off + 6);
  buf.writeUInt8(b.state, off + 7);
  buf.writeUInt32LE(b.flags >>> 0, off + 8);
}

export function readBackend(buf: Buffer, off: number): BackendValue {
  return { addr: buf.readUInt32BE(off), port: buf.readUInt16BE(off + 4), proto: buf.readUInt8(off + 6), state: buf.readUInt8(off + 7), flags: buf.readUInt32LE(off + 8) };
}

export function writeRevnat(buf: Buffer, off: number, r: RevnatValue): void {
  buf.writeUInt32BE(r.addr, off);
  buf.writeUInt16BE(r.port, off + 4);
  buf.writeUInt16LE(0, off + 6);
}

/** What the pinned maps hold now, with what the maps themselves say about ids. */
export interface MapsSnapshot {
  state: LbState;
  /** Backend ids with their tuple, from mb_lb4_backend, lowest id first. */
  backendIds: number[];
  /** rev_nat_id per tupleKey(addr, port, proto), from the service entries. */
  revNatIds: Array<[number, number]>;
  /** Maglev inner map id per rev_nat_id. */
  maglevMapIds: Map<number, number>;
}

/** Reads the service, backend, rev-NAT and Maglev maps. */
export function readMaps(dp: Datapath): MapsSnapshot {
  const state = emptyState();
  const revNatIds: Array<[number, number]> = [];

  const be = dumpRaw(dp.lbBackends.fd, 4, BACKEND_SIZE, 'mb_lb4_backend');
  for (let i = 0; i < be.count; i++) {
    const id = be.keys.readUInt32LE(4 * i);
    const v = readBackend(be.values, BACKEND_SIZE * i);
    state.backends.set(id, v);
  }
  const backendIds = state.backends.ids(); // ascending: the lowest id keeps a duplicated tuple

  const rn = dumpRaw(dp.lbRevnat.fd, 4, REVNAT_SIZE, 'mb_lb4_revnat');
  for (let i = 0; i < rn.count; i++) {
    state.revnat.set(rn.keys.readUInt32LE(4 * i), { addr: rn.values.readUInt32BE(REVNAT_SIZE * i), port: rn.values.readUInt16BE(REVNAT_SIZE * i + 4) });
  }

  const svc = dumpRaw(dp.lbServices.fd, KEY_SIZE, SVC_SIZE, 'mb_lb4_svc');
  for (let i = 0; i < svc.count; i++) {
    const k = readKey(svc.keys, KEY_SIZE * i);
    const voff = SVC_SIZE * i;
    const key = feKey(k);
    let fe = state.frontends.get(key);
    if (!fe) state.frontends.set(key, (fe = { addr: k.addr, port: k.port, proto: k.proto, scope: k.scope, slots: [] } satisfies FeState));
    if (k.slot === 0) {
      fe.head = { count: svc.values.readUInt16LE(voff + 4), revNat: svc.values.readUInt16LE(voff + 6), flags: svc.values.readUInt32LE(voff + 8), timeout: svc.values.readUInt32LE(voff + 12) };
      revNatIds.push([tupleKey(k.addr, k.port, k.proto), fe.head.revNat]);
    } else {
      while (fe.slots.length < k.slot) fe.slots.push(0);
      fe.slots[k.slot - 1] = svc.values.readUInt32LE(voff);
    }
  }

  const maglevMapIds = new Map<number, number>();
  const value = Buffer.alloc(4);
  for (const key of allKeysRaw(dp.maglevFd, 4, 'mb_lb4_maglev')) {
    if (!lookupRaw(dp.maglevFd, key, value, 'mb_lb4_maglev')) continue;
    const revNat = key.readUInt32LE(0);
    const mapId = value.readUInt32LE(0);
    maglevMapIds.set(revNat, mapId);
    let name = '';
    try {
      const fd = mapFdById(mapId);
      try {
        name = mapInfo(fd).name;
      } finally {
        closeFd(fd);
      }
    } catch {
      // unreadable: an empty name never matches, so the table is rebuilt
    }
    state.maglev.set(revNat, name);
  }
  return { state, backendIds, revNatIds, maglevMapIds };
}

export interface ApplyStats {
  writes: number;
  tablesBuilt: number;
}

/**
 * Carries out `plan` on the maps. `tables` describes every table named in
 * plan.maglevPuts; `existing` gives the kernel id of tables already there
 * by name, so a table shared by several frontends is built once.
 */
export function applyPlan(dp: Datapath, plan: SyncPlan, want: LbState, tables: ReadonlyMap<string, MaglevSpec>, maglevSize: number, existing: Map<string, number>): ApplyStats {
  const stats: ApplyStats = { writes: 0, tablesBuilt: 0 };

  if (plan.backendPuts.length > 0) {
    const n = plan.backendPuts.length;
    const ks = Buffer.allocUnsafe(4 * n);
    const vs = Buffer.allocUnsafe(BACKEND_SIZE * n);
    const t = want.backends;
    for (let i = 0; i < n; i++) {
      const id = plan.backendPuts[i]!;
      ks.writeUInt32LE(id, 4 * i);
      const off = BACKEND_SIZE * i;
      vs.writeUInt32BE(t.addr[id]!, off);
      vs.writeUInt16BE(t.port[id]!, off + 4);
      vs.writeUInt8(t.proto[id]!, off + 6);
      vs.writeUInt8(t.state[id]!, off + 7);
      vs.writeUInt32LE(t.flags[id]!, off + 8);
    }
    updateBatchRaw(dp.lbBackends.fd, ks, vs, n, 'mb_lb4_backend');
  }
  if (plan.revnatPuts.length > 0) {
    const n = plan.revnatPuts.length;
    const ks = Buffer.allocUnsafe(4 * n);
    const vs = Buffer.allocUnsafe(REVNAT_SIZE * n);
    plan.revnatPuts.forEach(([id, v], i) => {
      ks.writeUInt32LE(id, 4 * i);
      writeRevnat(vs, REVNAT_SIZE * i, v);
    });
    updateBatchRaw(dp.lbRevnat.fd, ks, vs, n, 'mb_lb4_revnat');
  }
  if (plan.slotPuts.length > 0) {
    const s = plan.slotPuts;
    const n = s.length;
    const ks = Buffer.allocUnsafe(KEY_SIZE * n);
    const vs = Buffer.allocUnsafe(SVC_SIZE * n);
    for (let i = 0; i < n; i++) {
      writeKey(ks, KEY_SIZE * i, s.fe[i]!, s.slot[i]!);
      writeSlot(vs, SVC_SIZE * i, s.backendId[i]!);
    }
    updateBatchRaw(dp.lbServices.fd, ks, vs, n, 'mb_lb4_svc');
  }

  if (plan.maglevPuts.length > 0) {
    // One batch for the outer map: every update of a map-in-map waits for
    // an RCU grace period (maybe_wait_bpf_programs), a batch waits once.
    const n = plan.maglevPuts.length;
    const keys = Buffer.allocUnsafe(4 * n);
    const values = Buffer.allocUnsafe(4 * n);
    const fds = new Map<string, number>();
    try {
      plan.maglevPuts.forEach(([revNat, name], i) => {
        let fd = fds.get(name);
        if (fd === undefined) {
          const have = existing.get(name);
          if (have !== undefined) {
            try {
              fd = mapFdById(have);
            } catch {
              fd = undefined;
            }
          }
          if (fd === undefined) {
            const spec = tables.get(name);
            if (!spec) throw new MembraneError('INTERNAL', `no description of Maglev table ${name}`);
            fd = buildTable(name, spec, maglevSize);
            existing.set(name, mapInfo(fd).id);
            stats.tablesBuilt++;
          }
          fds.set(name, fd);
        }
        keys.writeUInt32LE(revNat, 4 * i);
        values.writeUInt32LE(fd, 4 * i);
      });
      updateBatchRaw(dp.maglevFd, keys, values, n, 'mb_lb4_maglev');
    } finally {
      for (const fd of fds.values()) closeFd(fd);
    }
  }

  if (plan.headPuts.length > 0) {
    const n = plan.headPuts.length;
    const ks = Buffer.allocUnsafe(KEY_SIZE * n);
    const vs = Buffer.allocUnsafe(SVC_SIZE * n);
    plan.headPuts.forEach((h, i) => {
      writeKey(ks, KEY_SIZE * i, h, 0);
      writeHead(vs, SVC_SIZE * i, h.head!);
    });
    updateBatchRaw(dp.lbServices.fd, ks, vs, n, 'mb_lb4_svc');
  }
  if (plan.svcDeletes.length > 0) {
    const n = plan.svcDeletes.length;
    const ks = Buffer.allocUnsafe(KEY_SIZE * n);
    const d = plan.svcDeletes;
    for (let i = 0; i < n; i++) writeKey(ks, KEY_SIZE * i, d.fe[i]!, d.slot[i]!);
    deleteBatchRaw(dp.lbServices.fd, ks, KEY_SIZE, n, 'mb_lb4_svc');
  }
  if (plan.maglevDeletes.length > 0) {
    const keys = Buffer.allocUnsafe(4 * plan.maglevDeletes.length);
    plan.maglevDeletes.forEach((revNat, i) => keys.writeUInt32LE(revNat, 4 * i));
    deleteBatchRaw(dp.maglevFd, keys, 4, plan.maglevDeletes.length, 'mb_lb4_maglev');
  }
  for (const [ids, fd, what] of [[plan.revnatDeletes, dp.lbRevnat.fd, 'mb_lb4_revnat'], [plan.backendDeletes, dp.lbBackends.fd, 'mb_lb4_backend']] as const) {
    if (ids.length === 0) continue;
    const ks = Buffer.allocUnsafe(4 * ids.length);
    ids.forEach((id, i) => ks.writeUInt32LE(id, 4 * i));
    deleteBatchRaw(fd, ks, 4, ids.length, what);
  }
  stats.writes = plan.backendPuts.length + plan.revnatPuts.length + plan.slotPuts.length + plan.maglevPuts.length + plan.headPuts.length
    + plan.svcDeletes.length + plan.maglevDeletes.length + plan.revnatDeletes.length + plan.backendDeletes.length;
  return stats;
}

/** Creates and fills one Maglev table; returns its fd (the caller closes it). */
function buildTable(name: string, spec: MaglevSpec, size: number): number {
  const table = maglevTable(spec.names, { tableSize: size });
  const values = new Uint32Array(size);
  for (let i = 0; i < size; i++) values[i] = spec.ids[table[i]!] ?? 0;
  return createInnerArray(name, values);
}
