// The reachability matrix of the NetworkPolicy conformance model, after
// upstream's test/e2e/network/netpol (reachability.go, truthtable.go): a
// table of booleans over ordered pairs of pods ("x/a"), rows are clients
// (from), columns servers (to). Expectations start all-true and are
// narrowed with the same verbs upstream's test cases use; tables print the
// way upstream prints them ("." connected, "X" not), so a failure here reads
// like a failure of the upstream suite.
//
// Pure: no I/O. Expected tables are written by hand in each test case from
// upstream's expectations, never computed from a policy.

export type PodId = string; // "x/a"

export class TruthTable {
  readonly items: readonly PodId[];
  readonly #values = new Map<PodId, Map<PodId, boolean>>();

  constructor(items: readonly PodId[], initial?: boolean) {
    this.items = items;
    for (const from of items) {
      const row = new Map<PodId, boolean>();
      if (initial !== undefined) for (const to of items) row.set(to, initial);
      this.#values.set(from, row);
    }
  }

  #row(from: PodId): Map<PodId, boolean> {
    const row = this.#values.get(from);
    if (!row) throw new Error(`unknown pod ${from} (have ${this.items.join(' ')})`);
    return row;
  }

  #check(to: PodId): void {
    if (!this.items.includes(to)) throw new Error(`unknown pod ${to} (have ${this.items.join(' ')})`);
  }

  set(from: PodId, to: PodId, value: boolean): void {
    this.#check(to);
    this.#row(from).set(to, value);
  }

  get(from: PodId, to: PodId): boolean | undefined {
    this.#check(to);
    return this.#row(from).get(to);
  }

  setAllFrom(from: PodId, value: boolean): void {
    for (const to of this.items) this.set(from, to, value);
  }

  setAllTo(to: PodId, value: boolean): void {
    for (const from of this.items) this.set(from, to, value);
  }

  clone(): TruthTable {
    const t = new TruthTable(this.items);
    for (const from of this.items) for (const to of this.items) {
      const v = this.get(from, to);
      if (v !== undefined) t.set(from, to, v);
    }
    return t;
  }

  /** Cells where the two tables differ (a missing value differs from anything). */
  diff(other: TruthTable): Array<{ from: PodId; to: PodId; expected: boolean | undefined; observed: boolean | undefined }> {
    const out: Array<{ from: PodId; to: PodId; expected: boolean | undefined; observed: boolean | undefined }> = [];
    for (const from of this.items) for (const to of this.items) {
      const a = this.get(from, to);
      const b = other.get(from, to);
      if (a === undefined || b === undefined || a !== b) out.push({ from, to, expected: a, observed: b });
    }
    return out;
  }

  /** Upstream's layout: a header of servers, one row per client, tab-separated; "." connected, "X" not, "?" unknown. */
  pretty(indent = ''): string {
    const lines = [indent + ['-', ...this.items].join('\t')];
    for (const from of this.items) {
      const marks = this.items.map((to) => {
        const v = this.get(from, to);
        return v === undefined ? '?' : v ? '.' : 'X';
      });
      lines.push(indent + [from, ...marks].join('\t'));
    }
    return lines.join('\n');
  }

  /** Parses the pretty() layout back (any whitespace between cells): expected tables can be written as pictures. */
  static parse(text: string): TruthTable {
    const rows = text
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((r) => r.length > 1);
    const [header, ...body] = rows;
    if (!header || header[0] !== '-') throw new Error('a truth table starts with a header row "- x/a x/b ..."');
    const items = header.slice(1);
    const t = new TruthTable(items);
    if (body.length !== items.length) throw new Error(`a truth table over ${items.length} pods needs ${items.length} rows, got ${body.length}`);
    for (const [from, ...marks] of body) {
      if (marks.length !== items.length) throw new Error(`row ${from} has ${marks.length} cells, want ${items.length}`);
      marks.forEach((m, i) => {
        if (m !== '.' && m !== 'X') throw new Error(`row ${from}: cell ${items[i]} is ${JSON.stringify(m)}, want . or X`);
        t.set(from!, items[i]!, m === '.');
      });
    }
    return t;
  }
}

/** Matches pods by namespace and/or pod name; an empty field matches every pod (upstream's Peer). */
export interface PeerMatch {
  ns?: string;
  pod?: string;
}

function matches(p: PeerMatch, id: PodId): boolean {
  const [ns, pod] = id.split('/');
  return (p.ns === undefined || p.ns === ns) && (p.pod === undefined || p.pod === pod);
}

/**
 * Expected connectivity, built like upstream's Reachability: starts all
 * allowed (or all denied), then narrowed. `table()` applies loopback last:
 * a pod reaching its own service is always allowed on Membrane (the socket
 * LB hands the pod its own address, the packets go over the pod's `lo` and
 * never meet a veth, so no policy judges them). Upstream leaves loopback
 * undefined (ignoreLoopback); Membrane's behaviour is fixed, so it is checked.
 */
export class Reachability {
  readonly #t: TruthTable;

  constructor(items: readonly PodId[], initial = true) {
    this.#t = new TruthTable(items, initial);
  }

  expect(from: PodId, to: PodId, connected: boolean): this {
    this.#t.set(from, to, connected);
    return this;
  }

  expectAllIngress(to: PodId, connected: boolean): this {
    this.#t.setAllTo(to, connected);
    return this;
  }

  expectAllEgress(from: PodId, connected: boolean): this {
    this.#t.setAllFrom(from, connected);
    return this;
  }

  expectPeer(from: PeerMatch, to: PeerMatch, connected: boolean): this {
    for (const f of this.#t.items) {
      if (!matches(from, f)) continue;
      for (const t of this.#t.items) if (matches(to, t)) this.#t.set(f, t, connected);
    }
    return this;
  }

  /** The expected table, loopback allowed. */
  table(): TruthTable {
    const t = this.#t.clone();
    for (const p of t.items) t.set(p, p, true);
    return t;
  }
}
