// Matching selectors against identity labels, and a cache of which
// identities each selector selects.
//
// - A requirement key is `source:key`; source `any` (or no source) matches a
//   label of any source with that key. With several such labels, In and
//   Exists hold when one of them does, NotIn and DoesNotExist when all do.
// - An empty selector selects every endpoint identity, not the reserved ones
//   and not CIDR identities.
// - A reserved identity is selected only by a selector with a `reserved:`
//   key, a CIDR identity only by one with a `cidr:` key (so `app NotIn [x]`
//   selects neither).
import type { Identity, Labels } from '../identity/types.ts';
import type { EndpointSelector, LabelRequirement, SelectorOperator } from './types.ts';

interface CompiledRequirement {
  source: string;
  /** Key without source. */
  name: string;
  /** `source:name` (source `any` included). */
  full: string;
  op: SelectorOperator;
  values: ReadonlySet<string>;
}

interface Compiled {
  reqs: CompiledRequirement[];
  reserved: boolean;
  cidr: boolean;
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf(':');
  return i < 0 ? ['any', key] : [key.slice(0, i), key.slice(i + 1)];
}

function compile(sel: EndpointSelector): Compiled {
  const reqs = sel.requirements.map((r): CompiledRequirement => {
    const [source, name] = splitKey(r.key);
    return { source, name, full: `${source}:${name}`, op: r.operator, values: new Set(r.values) };
  });
  return { reqs, reserved: reqs.some((r) => r.source === 'reserved'), cidr: reqs.some((r) => r.source === 'cidr') };
}

/** Labels of one identity, indexed for matching. */
interface Indexed {
  identity: Identity;
  labels: Labels;
  /** Key without source → values of every source. */
  byName: Map<string, string[]>;
}

function index(identity: Identity): Indexed {
  const byName = new Map<string, string[]>();
  for (const [k, v] of Object.entries(identity.labels)) {
    const name = splitKey(k)[1];
    const list = byName.get(name);
    if (list) list.push(v);
    else byName.set(name, [v]);
  }
  return { identity, labels: identity.labels, byName };
}

function reqMatches(r: CompiledRequirement, x: Indexed): boolean {
  if (r.source === 'any') {
    const vals = x.byName.get(r.name);
    switch (r.op) {
      case 'Exists':
        return vals !== undefined;
      case 'DoesNotExist':
        return vals === undefined;
      case 'In':
        return vals !== undefined && vals.some((v) => r.values.has(v));
      case 'NotIn':
        return vals === undefined || !vals.some((v) => r.values.has(v));
    }
  }
  const v = Object.hasOwn(x.labels, r.full) ? x.labels[r.full] : undefined;
  switch (r.op) {
    case 'Exists':
      return v !== undefined;
    case 'DoesNotExist':
      return v === undefined;
    case 'In':
      return v !== undefined && r.values.has(v);
    case 'NotIn':
      return v === undefined || !r.values.has(v);
  }
}

function compiledMatches(c: Compiled, x: Indexed): boolean {
  const kind = x.identity.kind;
  if (kind === 'reserved' && !c.reserved) return false;
  if (kind === 'cidr' && !c.cidr) return false;
  for (const r of c.reqs) if (!reqMatches(r, x)) return false;
  return true;
}

/** Whether labels meet one requirement (no reserved/CIDR rule; see selectorMatches). */
export function requirementMatches(req: LabelRequirement, labels: Labels): boolean {
  return reqMatches(compile({ requirements: [req] }).reqs[0]!, index({ id: 0, kind: 'endpoint', labels }));
}

/** Whether the selector selects the identity. */
export function selectorMatches(sel: EndpointSelector, identity: Identity): boolean {
  return compiledMatches(compile(sel), index(identity));
}

/** Canonical string of a selector (requirements and values sorted, `any:` made explicit): equal selectors, equal keys. */
export function selectorKey(sel: EndpointSelector): string {
  const parts = sel.requirements.map((r) => {
    const [source, name] = splitKey(r.key);
    const values = r.values.length > 1 ? [...new Set(r.values)].sort() : r.values;
    return `${source}:${name}\u0000${r.operator}\u0000${values.join('\u0001')}`;
  });
  if (parts.length <= 1) return parts.join('');
  return [...new Set(parts)].sort().join('\u0002');
}

/** Display form: `k8s:app=web, k8s:tier in (a,b), k8s:x, !k8s:y`; `{}` for the empty selector. */
export function formatSelector(sel: EndpointSelector): string {
  if (sel.requirements.length === 0) return '{}';
  return sel.requirements
    .map((r) => {
      switch (r.operator) {
        case 'In':
          return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
        case 'NotIn':
          return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
        case 'Exists':
          return r.key;
        case 'DoesNotExist':
          return `!${r.key}`;
      }
    })
    .join(', ');
}

function sameIdentity(a: Identity, b: Identity): boolean {
  if (a.kind !== b.kind || a.cidr !== b.cidr) return false;
  const ka = Object.keys(a.labels);
  if (ka.length !== Object.keys(b.labels).length) return false;
  for (const k of ka) if (!Object.hasOwn(b.labels, k) || a.labels[k] !== b.labels[k]) return false;
  return true;
}

interface CacheEntry {
  compiled: Compiled;
  /** undefined: recompute when next selected. */
  ids: Set<number> | undefined;
  /** Sorted view of ids; undefined when stale. */
  sorted: number[] | undefined;
  used: boolean;
}

/**
 * Identities by selector, cached by selectorKey. Keep one across resolves and
 * tell it about identity changes (upsert/remove, or setIdentities); cached
 * selections follow.
 */
export class SelectorCache {
  #identities = new Map<number, Indexed>();
  /** `source:key=value` → ids (exact-source postings, to narrow In requirements). */
  #postings = new Map<string, Set<number>>();
  #cache = new Map<string, CacheEntry>();
  /** selectorKey per selector object (selectors are not modified once built). */
  #keys = new WeakMap<EndpointSelector, string>();

  constructor(identities: Iterable<Identity> = []) {
    for (const i of identities) this.#add(i);
  }

  get size(): number {
    return this.#identities.size;
  }

  #add(identity: Identity): Indexed {
    const x = index(identity);
    this.#identities.set(identity.id, x);
    for (const [k, v] of Object.entries(identity.labels)) {
      const p = `${k}=${v}`;
      const set = this.#postings.get(p);
      if (set) set.add(identity.id);
      else this.#postings.set(p, new Set([identity.id]));
    }
    return x;
  }

  #drop(id: number): boolean {
    const x = this.#identities.get(id);
    if (!x) return false;
    this.#identities.delete(id);
    for (const [k, v] of Object.entries(x.labels)) {
      const p = `${k}=${v}`;
      const set = this.#postings.get(p);
      set?.delete(id);
      if (set?.size === 0) this.#postings.delete(p);
    }
    return true;
  }

  /**
   * Replaces every identity. Few changes (compared by object, else by kind,
   * prefix and labels) update the cached selections in place; many make
   * them recompute when next selected.
   */
  setIdentities(identities: Iterable<Identity>): void {
    const next = new Map<number, Identity>();
    for (const i of identities) next.set(i.id, i);
    const changed: Identity[] = [];
    for (const i of next.values()) {
      const have = this.#identities.get(i.id)?.identity;
      if (have !== i && (!have || !sameIdentity(have, i))) changed.push(i);
    }
    const removed: number[] = [];
    for (const id of this.#identities.keys()) if (!next.has(id)) removed.push(id);
    if (changed.length + removed.length <= Math.max(16, next.size >> 3)) {
      for (const id of removed) this.remove(id);
      for (const i of changed) this.upsert(i);
      return;
    }
    this.#identities.clear();
    this.#postings.clear();
    for (const i of next.values()) this.#add(i);
    for (const e of this.#cache.values()) e.ids = undefined;
  }

  upsert(identity: Identity): void {
    this.#drop(identity.id);
    const x = this.#add(identity);
    for (const e of this.#cache.values()) {
      if (!e.ids) continue;
      const m = compiledMatches(e.compiled, x);
      if (m !== e.ids.has(identity.id)) {
        if (m) e.ids.add(identity.id);
        else e.ids.delete(identity.id);
        e.sorted = undefined;
      }
    }
  }

  remove(id: number): void {
    if (!this.#drop(id)) return;
    for (const e of this.#cache.values()) {
      if (e.ids?.delete(id)) e.sorted = undefined;
    }
  }

  identity(id: number): Identity | undefined {
    return this.#identities.get(id)?.identity;
  }

  *identities(): IterableIterator<Identity> {
    for (const x of this.#identities.values()) yield x.identity;
  }

  #compute(c: Compiled): Set<number> {
    // Narrow with the exact-source In requirement that has the fewest candidates.
    let candidates: Iterable<number> | undefined;
    let best = Infinity;
    for (const r of c.reqs) {
      if (r.op !== 'In' || r.source === 'any') continue;
      let n = 0;
      const sets: Set<number>[] = [];
      for (const v of r.values) {
        const s = this.#postings.get(`${r.full}=${v}`);
        if (s) {
          sets.push(s);
          n += s.size;
        }
      }
      if (n < best) {
        best = n;
        candidates = sets.length === 1 ? sets[0]! : sets.flatMap((s) => [...s]);
      }
    }
    const out = new Set<number>();
    if (candidates === undefined) {
      for (const x of this.#identities.values()) if (compiledMatches(c, x)) out.add(x.identity.id);
    } else {
      for (const id of candidates) {
        const x = this.#identities.get(id)!;
        if (compiledMatches(c, x)) out.add(id);
      }
    }
    return out;
  }

  /** Ids of the identities the selector selects, ascending. Do not modify the array. */
  select(sel: EndpointSelector): readonly number[] {
    let key = this.#keys.get(sel);
    if (key === undefined) {
      key = selectorKey(sel);
      this.#keys.set(sel, key);
    }
    let e = this.#cache.get(key);
    if (!e) {
      const compiled = compile(sel);
      e = { compiled, ids: this.#compute(compiled), sorted: undefined, used: true };
      this.#cache.set(key, e);
    }
    e.used = true;
    if (!e.ids) {
      e.ids = this.#compute(e.compiled);
      e.sorted = undefined;
    }
    if (!e.sorted) e.sorted = [...e.ids].sort((a, b) => a - b);
    return e.sorted;
  }

  /** Drops cached selections not selected since the previous prune(); returns how many. */
  prune(): number {
    let n = 0;
    for (const [k, e] of this.#cache) {
      if (!e.used) {
        this.#cache.delete(k);
        n++;
      } else e.used = false;
    }
    return n;
  }
}
