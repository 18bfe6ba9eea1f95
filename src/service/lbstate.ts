// The load balancer's maps as plain numbers (pure): the desired state with
// its ids assigned, and the plan that turns what the maps hold into it with
// as few writes as possible, in an order that never shows the datapath a
// slot that names a missing backend:
//   1. backends and rev-NAT entries that are new or changed;
//   2. backend slots (slot ≥ 1) that are new or changed;
//   3. Maglev tables of frontends whose backend set changed;
//   4. service entries (slot 0: count, flags), so a growing frontend's
//      count only covers slots already written;
//   5. deletions: service entries of removed frontends, then slots beyond
//      a frontend's new count and those of removed frontends; Maglev tables,
//      rev-NAT entries and backends nobody uses any more.
import { createHash } from 'node:crypto';
import {
  MB_BACKEND_ACTIVE, MB_BACKEND_MAINTENANCE, MB_BACKEND_TERMINATING, MB_BE_F_LOCAL, MB_LB_SCOPE_EXT, MB_LB_SCOPE_INT,
  MB_SVC_F_MAGLEV, type BackendState,
} from '../datapath/abi.ts';
import { ip4ToInt } from '../net/ip4.ts';
import type { DesiredState, LbWarning, ScopeSpec } from './desired.ts';
import type { IdAllocator } from './ids.ts';

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const PROTO_NUMBER: Record<'TCP' | 'UDP', number> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP };
export const PROTO_NAME: Record<number, string> = { [IPPROTO_TCP]: 'TCP', [IPPROTO_UDP]: 'UDP', 1: 'ICMP' };
export const STATE_NUMBER: Record<BackendState, number> = { active: MB_BACKEND_ACTIVE, terminating: MB_BACKEND_TERMINATING, maintenance: MB_BACKEND_MAINTENANCE };

/** Slot 0 of a frontend in a scope. */
export interface HeadValue {
  count: number;
  revNat: number;
  flags: number;
  timeout: number;
}

export interface FeKey {
  /** IPv4 as a host-order number */
  addr: number;
  port: number;
  proto: number;
  scope: number;
}

export interface FeState extends FeKey {
  head?: HeadValue;
  /** slots[i] = backend id in slot i+1; 0 = no entry. */
  slots: number[];
}

export interface BackendValue {
  addr: number;
  port: number;
  proto: number;
  state: number;
  flags: number;
}

export interface RevnatValue {
  addr: number;
  port: number;
}

/** What the maps hold, or should. */
export interface LbState {
  /** By feKey(). */
  frontends: Map<string, FeState>;
  backends: Map<number, BackendValue>;
  revnat: Map<number, RevnatValue>;
  /** rev_nat_id → name of its Maglev table (a fingerprint of its content). */
  maglev: Map<number, string>;
}

/** A Maglev table to build: backend names (the Maglev input) and the ids its slots hold. */
export interface MaglevSpec {
  names: string[];
  ids: number[];
}

export function emptyState(): LbState {
  return { frontends: new Map(), backends: new Map(), revnat: new Map(), maglev: new Map() };
}

export function feKey(k: FeKey): string {
  return `${k.addr}|${k.port}|${k.proto}|${k.scope}`;
}

export function tupleKey(addr: number, port: number, proto: number): string {
  return `${addr}|${port}|${proto}`;
}

/**
 * The name of the Maglev table for a backend list: 'mg' + 52 bits of a hash
 * of the table size, the backend names and their ids (bpf map names hold
 * 15 characters). Equal names ⇒ equal tables, so an agent restart can tell
 * from the name alone whether a pinned table is still right.
 */
export function maglevTableName(size: number, names: readonly string[], ids: readonly number[]): string {
  const h = createHash('sha256').update(`${size}|${names.join(',')}|${ids.join(',')}`).digest('hex');
  return `mg${h.slice(0, 13)}`;
}

export interface BuildOptions {
  maglevSize: number;
  /** How many frontends may have a Maglev table (the outer map's capacity). */
  maglevMax: number;
}

export interface Built {
  state: LbState;
  tables: Map<string, MaglevSpec>;
  warnings: LbWarning[];
  /** rev_nat_id per frontend key (frontendKey of desired.ts). */
  revNatOf: Map<string, number>;
  /** backend id per `addr:port/PROTO`. */
  backendIdOf: Map<string, number>;
}

/**
 * Assigns ids (keeping the ones the allocators hold, releasing unused ones)
 * and lays the desired state out as map entries.
 */
export function buildState(d: DesiredState, ids: { backends: IdAllocator; revnat: IdAllocator }, opts: BuildOptions): Built {
  const state = emptyState();
  const tables = new Map<string, MaglevSpec>();
  const warnings: LbWarning[] = [];
  const revNatOf = new Map<string, number>();
  const backendIdOf = new Map<string, number>();
  const backendKeys = new Set<string>();
  const revnatKeys = new Set<string>();
  const addrNum = new Map<string, number>();
  const num = (a: string) => {
    let n = addrNum.get(a);
    if (n === undefined) addrNum.set(a, (n = ip4ToInt(a)));
    return n;
  };

  for (const b of d.backends) {
    const proto = PROTO_NUMBER[b.protocol];
    const addr = num(b.addr);
    const key = tupleKey(addr, b.port, proto);
    const id = ids.backends.acquire(key);
    backendKeys.add(key);
    backendIdOf.set(`${b.addr}:${b.port}/${b.protocol}`, id);
    state.backends.set(id, { addr, port: b.port, proto, state: STATE_NUMBER[b.state], flags: b.local ? MB_BE_F_LOCAL : 0 });
  }

  let maglevCount = 0;
  let maglevOverflow = 0;
  for (const f of d.frontends) {
    const proto = PROTO_NUMBER[f.protocol];
    const addr = num(f.addr);
    const rkey = tupleKey(addr, f.port, proto);
    const revNat = ids.revnat.acquire(rkey);
    revnatKeys.add(rkey);
    revNatOf.set(`${f.addr}:${f.port}/${f.protocol}`, revNat);
    state.revnat.set(revNat, { addr, port: f.port });
    const put = (scope: number, s: ScopeSpec) => {
      const slots = s.backends.map((b) => backendIdOf.get(`${b.addr}:${b.port}/${f.protocol}`)!);
      let flags = s.flags;
      if (scope === MB_LB_SCOPE_EXT && flags & MB_SVC_F_MAGLEV && slots.length > 0) {
        if (slots.length >= opts.maglevSize) {
          flags &= ~MB_SVC_F_MAGLEV;
          warnings.push({ service: f.service, message: `frontend ${f.addr}:${f.port}/${f.protocol}: ${slots.length} backends need a Maglev table larger than ${opts.maglevSize} (--maglev-table-size); choosing at random` });
        } else if (maglevCount >= opts.maglevMax) {
          flags &= ~MB_SVC_F_MAGLEV;
          maglevOverflow++;
        } else {
          maglevCount++;
          const names = s.backends.map((b) => `${b.addr}:${b.port}`);
          const name = maglevTableName(opts.maglevSize, names, slots);
          if (!tables.has(name)) tables.set(name, { names, ids: slots });
          state.maglev.set(revNat, name);
        }
      }
      const k: FeKey = { addr, port: f.port, proto, scope };
      state.frontends.set(feKey(k), { ...k, head: { count: slots.length, revNat, flags, timeout: s.affinityTimeout }, slots });
    };
    if (f.ext) put(MB_LB_SCOPE_EXT, f.ext);
    put(MB_LB_SCOPE_INT, f.int);
  }
  if (maglevOverflow > 0) {
    warnings.push({ message: `${maglevOverflow} external frontends get no Maglev table (the datapath holds ${opts.maglevMax}); they choose backends at random` });
  }
  ids.backends.retain(backendKeys);
  ids.revnat.retain(revnatKeys);
  return { state, tables, warnings, revNatOf, backendIdOf };
}

export interface SlotWrite extends FeKey {
  slot: number;
  backendId: number;
}

export interface HeadWrite extends FeKey {
  head: HeadValue;
}

export interface SlotRef extends FeKey {
  slot: number;
}

export interface SyncPlan {
  backendPuts: Array<[number, BackendValue]>;
  revnatPuts: Array<[number, RevnatValue]>;
  slotPuts: SlotWrite[];
  /** rev_nat_id → table name to insert. */
  maglevPuts: Array<[number, string]>;
  headPuts: HeadWrite[];
  /** Heads of removed frontends first, then slots. */
  svcDeletes: SlotRef[];
  maglevDeletes: number[];
  revnatDeletes: number[];
  backendDeletes: number[];
}

function sameHead(a: HeadValue | undefined, b: HeadValue): boolean {
  return a !== undefined && a.count === b.count && a.revNat === b.revNat && a.flags === b.flags && a.timeout === b.timeout;
}

function sameBackend(a: BackendValue | undefined, b: BackendValue): boolean {
  return a !== undefined && a.addr === b.addr && a.port === b.port && a.proto === b.proto && a.state === b.state && a.flags === b.flags;
}

/** The writes that turn `cur` into `want` (see the order above). */
export function planSync(cur: LbState, want: LbState): SyncPlan {
  const p: SyncPlan = { backendPuts: [], revnatPuts: [], slotPuts: [], maglevPuts: [], headPuts: [], svcDeletes: [], maglevDeletes: [], revnatDeletes: [], backendDeletes: [] };
  for (const [id, v] of want.backends) if (!sameBackend(cur.backends.get(id), v)) p.backendPuts.push([id, v]);
  for (const [id, v] of want.revnat) {
    const c = cur.revnat.get(id);
    if (!c || c.addr !== v.addr || c.port !== v.port) p.revnatPuts.push([id, v]);
  }
  const slotDeletes: SlotRef[] = [];
  for (const [k, w] of want.frontends) {
    const c = cur.frontends.get(k);
    const key: FeKey = { addr: w.addr, port: w.port, proto: w.proto, scope: w.scope };
    for (let i = 0; i < w.slots.length; i++) {
      if (c?.slots[i] !== w.slots[i]) p.slotPuts.push({ ...key, slot: i + 1, backendId: w.slots[i]! });
    }
    if (!sameHead(c?.head, w.head!)) p.headPuts.push({ ...key, head: w.head! });
    if (c) for (let i = w.slots.length; i < c.slots.length; i++) if (c.slots[i]) slotDeletes.push({ ...key, slot: i + 1 });
  }
  for (const [k, c] of cur.frontends) {
    if (want.frontends.has(k)) continue;
    const key: FeKey = { addr: c.addr, port: c.port, proto: c.proto, scope: c.scope };
    if (c.head) p.svcDeletes.push({ ...key, slot: 0 });
    for (let i = 0; i < c.slots.length; i++) if (c.slots[i]) slotDeletes.push({ ...key, slot: i + 1 });
  }
  p.svcDeletes.push(...slotDeletes);
  for (const [id, name] of want.maglev) if (cur.maglev.get(id) !== name) p.maglevPuts.push([id, name]);
  for (const id of cur.maglev.keys()) if (!want.maglev.has(id)) p.maglevDeletes.push(id);
  for (const id of cur.revnat.keys()) if (!want.revnat.has(id)) p.revnatDeletes.push(id);
  for (const id of cur.backends.keys()) if (!want.backends.has(id)) p.backendDeletes.push(id);
  return p;
}

/** Number of map writes (updates and deletes) in a plan. */
export function planSize(p: SyncPlan): number {
  return p.backendPuts.length + p.revnatPuts.length + p.slotPuts.length + p.maglevPuts.length + p.headPuts.length
    + p.svcDeletes.length + p.maglevDeletes.length + p.revnatDeletes.length + p.backendDeletes.length;
}
