// The local embedded store: all keys in memory, persisted as one snapshot
// file rewritten atomically on every transaction. A transaction is thus
// all-or-nothing on disk as well as in memory.
import fs from 'node:fs';
import { MembraneError } from '../errors.ts';
import { writeJsonAtomic } from './atomic-file.ts';
import type { KvStore, Txn, WatchEvent } from './store.ts';

interface Snapshot {
  version: 1;
  entries: Record<string, unknown>;
}

export class LocalStore implements KvStore {
  readonly file: string;
  readonly #data = new Map<string, unknown>();
  readonly #watchers = new Set<{ prefix: string; cb: (ev: WatchEvent) => void }>();

  constructor(file: string) {
    this.file = file;
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      let snap: Snapshot;
      try {
        snap = JSON.parse(text) as Snapshot;
      } catch (err) {
        throw new MembraneError('STATE_CORRUPT', `store ${file} is not valid JSON — restore it from a backup or remove it to start empty`, { cause: err });
      }
      for (const [k, v] of Object.entries(snap.entries ?? {})) this.#data.set(k, v);
    }
  }

  get<T>(key: string): T | undefined {
    return this.#data.get(key) as T | undefined;
  }

  list<T>(prefix: string): Array<[string, T]> {
    const out: Array<[string, T]> = [];
    for (const [k, v] of this.#data) if (k.startsWith(prefix)) out.push([k, v as T]);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  async commit(txn: Txn): Promise<void> {
    const next = new Map(this.#data);
    const events: WatchEvent[] = [];
    for (const key of txn.delete ?? []) {
      if (next.delete(key)) events.push({ type: 'delete', key });
    }
    for (const [key, value] of txn.put ?? []) {
      next.set(key, structuredClone(value));
      events.push({ type: 'put', key, value });
    }
    if (events.length === 0) return;
    const entries: Record<string, unknown> = {};
    for (const [k, v] of [...next].sort((a, b) => (a[0] < b[0] ? -1 : 1))) entries[k] = v;
    writeJsonAtomic(this.file, { version: 1, entries } satisfies Snapshot);
    this.#data.clear();
    for (const [k, v] of next) this.#data.set(k, v);
    for (const ev of events) {
      for (const w of this.#watchers) if (ev.key.startsWith(w.prefix)) w.cb(ev);
    }
  }

  watch(prefix: string, cb: (ev: WatchEvent) => void): () => void {
    const w = { prefix, cb };
    this.#watchers.add(w);
    return () => this.#watchers.delete(w);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
  }
}
