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
  constructor(capacity: number) {
    this.capacity = capacity;
    throw new Error('not implemented');
  }
  /** Records currently held. */
  get size(): number {
    throw new Error('not implemented');
  }
  /** Records ever pushed. */
  get total(): number {
    throw new Error('not implemented');
  }
  /** Adds a record (`timeMs`: its time in ms since the epoch) and hands it to every subscriber. */
  push(_rec: FlowRecord, _timeMs: number): void {
    throw new Error('not implemented');
  }
  /** The last n records, oldest first. */
  last(_n: number): FlowRecord[] {
    throw new Error('not implemented');
  }
  /** Records at or after t (ms since the epoch), oldest first. */
  since(_t: number): FlowRecord[] {
    throw new Error('not implemented');
  }
  /** Records by time window, filter and count, oldest first. */
  select(_q: RingSelect): FlowRecord[] {
    throw new Error('not implemented');
  }
  /** Every record pushed from now on; returns the unsubscribe function. A throwing listener is unsubscribed. */
  subscribe(_listener: FlowListener): () => void {
    throw new Error('not implemented');
  }
}
