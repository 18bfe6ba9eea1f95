// GET /v1/flows for one client: the buffered flows that match its query,
// then (follow) every new matching flow as it comes, one FlowRecord per line
// (NDJSON). New flows wait in a bounded queue per client while the client
// reads; when a client reads too slowly the queue overflows and the client
// gets one `lost_events` record (source HUBBLE_RING_BUFFER) in their place,
// as Hubble does — the agent's memory never grows with a slow reader.
import type { FlowRecord, LostEvents } from '../observe/flow-types.ts';
import { matchRecord, type FlowQuery } from '../observe/filter.ts';
import type { RingSelect } from '../observe/flow-ring.ts';
import { StreamResponse, type StreamSink } from './http.ts';

/** What the stream reads from: the agent's flow pipeline (src/observe/pipeline.ts). */
export interface FlowSource {
  select(q: RingSelect): FlowRecord[];
  subscribe(listener: (rec: FlowRecord) => void): () => void;
  /** A lost_events record for this client (counted by the pipeline, not sent to others). */
  lost(source: LostEvents['source'], count: number): FlowRecord;
}

/** Records a following client may have waiting before newer ones are replaced by a lost_events record. */
export const CLIENT_QUEUE_RECORDS = 4096;

export const NDJSON = 'application/x-ndjson';

/**
 * A FIFO of at most `capacity` records. A record pushed while it is full is
 * dropped and counted; the count takes the dropped records' place in the
 * order (one marker per run of drops), so the client learns where the gap is.
 */
export class RecordQueue {
  readonly capacity: number;
  readonly #items: Array<FlowRecord | number> = [];
  #head = 0;
  #records = 0;
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }
  /** Records waiting (markers not counted). */
  get size(): number {
    return this.#records;
  }
  /**
   * false when the record was dropped (queue full). The agent's own
   * lost_events records are never dropped (they are few: one per poll of
   * the kernel's counter), so a slow client still learns of those losses.
   */
  push(rec: FlowRecord): boolean {
    if ('lost_events' in rec) {
      this.#items.push(rec);
      return true;
    }
    if (this.#records >= this.capacity) {
      const tail = this.#items.length - 1;
      if (tail >= this.#head && typeof this.#items[tail] === 'number') (this.#items[tail] as number)++;
      else this.#items.push(1);
      return false;
    }
    this.#items.push(rec);
    this.#records++;
    return true;
  }
  /** The next record, or the number of records dropped at this point, or undefined when empty. */
  shift(): FlowRecord | number | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const next = this.#items[this.#head++]!;
    if (typeof next !== 'number' && !('lost_events' in next)) this.#records--;
    // Compact now and then instead of Array.shift() per item (O(n) each).
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return next;
  }
}

export interface FlowStreamOptions {
  /** Send the buffered flows first (default true). A follow without last/since/all sends only new flows. */
  history?: boolean;
  queueRecords?: number;
}

/** The streaming response of GET /v1/flows for one parsed query. */
export function flowStream(src: FlowSource, q: FlowQuery, opts: FlowStreamOptions = {}): StreamResponse {
  return new StreamResponse(NDJSON, (sink) => runFlowStream(src, q, sink, opts));
}

/** Writes the records of `q` to `sink` (exported for tests with a fake sink). */
export async function runFlowStream(src: FlowSource, q: FlowQuery, sink: StreamSink, opts: FlowStreamOptions = {}): Promise<void> {
  const match = q.filters.length === 0 ? undefined : (r: FlowRecord) => matchRecord(r, q.filters);
  const queue = new RecordQueue(opts.queueRecords ?? CLIENT_QUEUE_RECORDS);
  let notify: (() => void) | undefined;
  const wake = () => {
    const n = notify;
    notify = undefined;
    n?.();
  };
  // Subscribe and take the history in the same tick: no record is missed or sent twice.
  const unsubscribe = q.follow
    ? src.subscribe((rec) => {
        if (match && !match(rec)) return;
        queue.push(rec);
        wake();
      })
    : () => undefined;
  sink.signal.addEventListener('abort', wake);
  const history =
    opts.history === false
      ? []
      : src.select({ ...(q.last !== undefined ? { last: q.last } : {}), ...(q.since !== undefined ? { since: q.since } : {}), ...(q.until !== undefined ? { until: q.until } : {}), ...(match ? { match } : {}) });
  const send = async (rec: FlowRecord) => {
    if (!sink.write(`${JSON.stringify(rec)}\n`)) await sink.drained();
  };
  try {
    for (const rec of history) {
      if (sink.signal.aborted) return;
      await send(rec);
    }
    if (!q.follow) return;
    while (!sink.signal.aborted) {
      const next = queue.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => (notify = resolve));
        continue;
      }
      await send(typeof next === 'number' ? src.lost('HUBBLE_RING_BUFFER', next) : next);
    }
  } finally {
    unsubscribe();
    sink.signal.removeEventListener('abort', wake);
  }
}
