// The agent's flow buffer: the last `capacity` records (flows and lost-event
// notices), oldest overwritten, plus live subscribers.
import type { FlowRecord } from './flow-types.ts';

export type FlowListener = (rec: FlowRecord) => void;

export interface RingSelect {
  /** Only the last n matching records. */
  last?: number;
  /** Records at or after this time (ms since the epoch). */
  since?: number;
  /** Records before this time (ms since the epoch). */
  until?: number;
  match?: (rec: FlowRecord) => boolean;
}

export class FlowRing {
  readonly capacity: number;
  readonly #recs: (FlowRecord | undefined)[];
  /** Times in ms since the epoch, beside the records (no date parsing to select). */
  readonly #times: Float64Array;
  #total = 0;
  readonly #listeners = new Set<FlowListener>();
  /** Listener errors go here (default: dropped silently after unsubscribing). */
  onListenerError: (err: unknown) => void = () => {};

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`flow buffer capacity must be a positive integer, not ${capacity}`);
    this.capacity = capacity;
    this.#recs = new Array<FlowRecord | undefined>(capacity);
    this.#times = new Float64Array(capacity);
  }

  /** Records currently held. */
  get size(): number {
    return Math.min(this.#total, this.capacity);
  }

  /** Records ever pushed. */
  get total(): number {
    return this.#total;
  }

  /** Number of subscribers. */
  get subscribers(): number {
    return this.#listeners.size;
  }

  /** Adds a record (`timeMs`: its time in ms since the epoch) and hands it to every subscriber. */
  push(rec: FlowRecord, timeMs: number): void {
    const i = this.#total % this.capacity;
    this.#recs[i] = rec;
    this.#times[i] = timeMs;
    this.#total++;
    if (this.#listeners.size === 0) return;
    for (const l of this.#listeners) {
      try {
        l(rec);
      } catch (err) {
        this.#listeners.delete(l);
        this.onListenerError(err);
      }
    }
  }

  /** The last n records, oldest first. */
  last(n: number): FlowRecord[] {
    return this.select({ last: n });
  }

  /** Records at or after t (ms since the epoch), oldest first. */
  since(t: number): FlowRecord[] {
    return this.select({ since: t });
  }

  /**
   * Records by time window, filter and count, oldest first. Walks from the
   * newest back, so `last` costs what it returns (plus what the filter skips).
   */
  select(q: RingSelect): FlowRecord[] {
    const size = this.size;
    const want = q.last ?? Infinity;
    const out: FlowRecord[] = [];
    if (want <= 0) return out;
    for (let k = 1; k <= size && out.length < want; k++) {
      const i = (this.#total - k) % this.capacity;
      const t = this.#times[i]!;
      // Times are not strictly ordered (CPUs' events interleave): stop only well before `since`.
      if (q.since !== undefined && t < q.since) {
        if (t < q.since - 1000) break;
        continue;
      }
      if (q.until !== undefined && t >= q.until) continue;
      const rec = this.#recs[i]!;
      if (q.match && !q.match(rec)) continue;
      out.push(rec);
    }
    return out.reverse();
  }

  /** Every record pushed from now on; returns the unsubscribe function. A throwing listener is unsubscribed. */
  subscribe(listener: FlowListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
