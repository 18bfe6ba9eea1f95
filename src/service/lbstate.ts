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
import type { DesiredState, LbWarning, ScopeSpec } from './desired.ts';
import type { BackendIds, IdAllocator } from './ids.ts';
import { feNum, tupleNum } from './keys.ts';

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

/**
 * mb_lb4_backend entries by id, as columns: ids are small and dense, and
 * 100 000 backends are then a few typed arrays instead of 100 000 objects.
 */
export class BackendTable {
  addr = new Uint32Array(1024);
  port = new Uint16Array(1024);
  proto = new Uint8Array(1024);
  state = new Uint8Array(1024);
  flags = new Uint32Array(1024);
  present = new Uint8Array(1024);
  #limit = 0;
  #size = 0;

  /** One more than the highest id ever set. */
  get limit(): number {
    return this.#limit;
  }

  get size(): number {
    return this.#size;
  }

  #ensure(id: number): void {
    if (id < this.present.length) return;
    let n = this.present.length;
    while (n <= id) n *= 2;
    const a = new Uint32Array(n), p = new Uint16Array(n), pr = new Uint8Array(n), s = new Uint8Array(n), f = new Uint32Array(n), pre = new Uint8Array(n);
    a.set(this.addr); p.set(this.port); pr.set(this.proto); s.set(this.state); f.set(this.flags); pre.set(this.present);
    this.addr = a; this.port = p; this.proto = pr; this.state = s; this.flags = f; this.present = pre;
  }

  set(id: number, v: BackendValue): void {
    this.#ensure(id);
    if (!this.present[id]) this.#size++;
    this.present[id] = 1;
    this.addr[id] = v.addr;
    this.port[id] = v.port;
    this.proto[id] = v.proto;
    this.state[id] = v.state;
    this.flags[id] = v.flags;
    if (id >= this.#limit) this.#limit = id + 1;
  }

  has(id: number): boolean {
    return id < this.#limit && this.present[id] === 1;
  }

  get(id: number): BackendValue | undefined {
    if (!this.has(id)) return undefined;
    return { addr: this.addr[id]!, port: this.port[id]!, proto: this.proto[id]!, state: this.state[id]!, flags: this.flags[id]! };
  }

  delete(id: number): void {
    if (!this.has(id)) return;
    this.present[id] = 0;
    this.#size--;
  }

  /** Whether entry `id` is the same here and in `o` (both present). */
  same(id: number, o: BackendTable): boolean {
    return this.has(id) && o.has(id) && this.addr[id] === o.addr[id] && this.port[id] === o.port[id] && this.proto[id] === o.proto[id]
      && this.state[id] === o.state[id] && this.flags[id] === o.flags[id];
  }

  ids(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.#limit; id++) if (this.present[id]) out.push(id);
    return out;
  }
}

/** What the maps hold, or should. */
export interface LbState {
  /** By feKey(). */
  frontends: Map<number, FeState>;
  backends: BackendTable;
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
  return { frontends: new Map(), backends: new BackendTable(), revnat: new Map(), maglev: new Map() };
}

export function feKey(k: FeKey): number {
  return feNum(k.addr, k.port, k.proto, k.scope);
}

export function tupleKey(addr: number, port: number, proto: number): number {
  return tupleNum(addr, port, proto);
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
  /** rev_nat_id per frontend address:port/protocol (tupleKey). */
  revNatOf: Map<number, number>;
}

/**
 * Assigns ids (keeping the ones the allocators hold, releasing unused ones)
 * and lays the desired state out as map entries.
 */
export function buildState(d: DesiredState, ids: { backends: BackendIds; revnat: IdAllocator }, opts: BuildOptions): Built {
  const state = emptyState();
  const tables = new Map<string, MaglevSpec>();
  const warnings: LbWarning[] = [];
  const revNatOf = new Map<number, number>();

  for (const b of d.backends) {
    const proto = PROTO_NUMBER[b.protocol];
    b.id = ids.backends.acquire(b.ip, b.port, proto);
    state.backends.set(b.id, { addr: b.ip, port: b.port, proto, state: STATE_NUMBER[b.state], flags: b.local ? MB_BE_F_LOCAL : 0 });
  }

  let maglevCount = 0;
  let maglevOverflow = 0;
  for (const f of d.frontends) {
    const proto = PROTO_NUMBER[f.protocol];
    const addr = f.ip;
    const rkey = tupleNum(addr, f.port, proto);
    const revNat = ids.revnat.acquire(rkey);
    revNatOf.set(rkey, revNat);
    state.revnat.set(revNat, { addr, port: f.port });
    const put = (scope: number, s: ScopeSpec) => {
      const slots = new Array<number>(s.backends.length);
      for (let i = 0; i < slots.length; i++) slots[i] = s.backends[i]!.id;
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
      state.frontends.set(feNum(addr, f.port, proto, scope), { addr, port: f.port, proto, scope, head: { count: slots.length, revNat, flags, timeout: s.affinityTimeout }, slots });
    };
    if (f.ext) put(MB_LB_SCOPE_EXT, f.ext);
    put(MB_LB_SCOPE_INT, f.int);
  }
  if (maglevOverflow > 0) {
    warnings.push({ message: `${maglevOverflow} external frontends get no Maglev table (the datapath holds ${opts.maglevMax}); they choose backends at random` });
  }
  ids.backends.sweep();
  ids.revnat.sweep();
  return { state, tables, warnings, revNatOf };
}

/** Entries of mb_lb4_svc to write or delete, as parallel lists (no object per entry). */
export class SlotList {
  readonly fe: FeKey[] = [];
  readonly slot: number[] = [];
  /** Backend id to write (0 for service entries and deletions). */
  readonly backendId: number[] = [];

  get length(): number {
    return this.fe.length;
  }

  push(fe: FeKey, slot: number, backendId = 0): void {
    this.fe.push(fe);
    this.slot.push(slot);
    this.backendId.push(backendId);
  }

  /** As objects, for tests and messages. */
  toArray(): Array<FeKey & { slot: number; backendId: number }> {
    return this.fe.map((f, i) => ({ addr: f.addr, port: f.port, proto: f.proto, scope: f.scope, slot: this.slot[i]!, backendId: this.backendId[i]! }));
  }
}

export interface SyncPlan {
  /** Ids whose entry (in the wanted state's table) is new or changed. */
  backendPuts: number[];
  revnatPuts: Array<[number, RevnatValue]>;
  /** Backend slots (slot ≥ 1) to write. */
  slotPuts: SlotList;
  /** rev_nat_id → table name to insert. */
  maglevPuts: Array<[number, string]>;
  /** Frontends (of the wanted state) whose service entry (slot 0) is new or changed. */
  headPuts: FeState[];
  /** Service entries of removed frontends first, then slots. */
  svcDeletes: SlotList;
  maglevDeletes: number[];
  revnatDeletes: number[];
  backendDeletes: number[];
}

function sameHead(a: HeadValue | undefined, b: HeadValue): boolean {
  return a !== undefined && a.count === b.count && a.revNat === b.revNat && a.flags === b.flags && a.timeout === b.timeout;
}


/** The writes that turn `cur` into `want` (see the order above). */
export function planSync(cur: LbState, want: LbState): SyncPlan {
  const p: SyncPlan = { backendPuts: [], revnatPuts: [], slotPuts: new SlotList(), maglevPuts: [], headPuts: [], svcDeletes: new SlotList(), maglevDeletes: [], revnatDeletes: [], backendDeletes: [] };
  const lim = Math.max(want.backends.limit, cur.backends.limit);
  for (let id = 1; id < lim; id++) {
    const w = want.backends.has(id);
    if (w && !want.backends.same(id, cur.backends)) p.backendPuts.push(id);
    else if (!w && cur.backends.has(id)) p.backendDeletes.push(id);
  }
  for (const [id, v] of want.revnat) {
    const c = cur.revnat.get(id);
    if (!c || c.addr !== v.addr || c.port !== v.port) p.revnatPuts.push([id, v]);
  }
  const slotDeletes = new SlotList();
  want.frontends.forEach((w, k) => {
    const c = cur.frontends.get(k);
    const ws = w.slots;
    const cs = c?.slots;
    for (let i = 0; i < ws.length; i++) if (cs === undefined || cs[i] !== ws[i]) p.slotPuts.push(w, i + 1, ws[i]!);
    if (!sameHead(c?.head, w.head!)) p.headPuts.push(w);
    if (cs) for (let i = ws.length; i < cs.length; i++) if (cs[i]) slotDeletes.push(w, i + 1);
  });
  cur.frontends.forEach((c, k) => {
    if (want.frontends.has(k)) return;
    if (c.head) p.svcDeletes.push(c, 0);
    for (let i = 0; i < c.slots.length; i++) if (c.slots[i]) slotDeletes.push(c, i + 1);
  });
  for (let i = 0; i < slotDeletes.length; i++) p.svcDeletes.push(slotDeletes.fe[i]!, slotDeletes.slot[i]!);
  for (const [id, name] of want.maglev) if (cur.maglev.get(id) !== name) p.maglevPuts.push([id, name]);
  for (const id of cur.maglev.keys()) if (!want.maglev.has(id)) p.maglevDeletes.push(id);
  for (const id of cur.revnat.keys()) if (!want.revnat.has(id)) p.revnatDeletes.push(id);
  return p;
}

/** Number of map writes (updates and deletes) in a plan. */
export function planSize(p: SyncPlan): number {
  return p.backendPuts.length + p.revnatPuts.length + p.slotPuts.length + p.maglevPuts.length + p.headPuts.length
    + p.svcDeletes.length + p.maglevDeletes.length + p.revnatDeletes.length + p.backendDeletes.length;
}
