import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import type { Flow, FlowRecord, LostEvents } from '../observe/flow-types.ts';
import type { RingSelect } from '../observe/flow-ring.ts';
import type { FlowQuery } from '../observe/filter.ts';
import type { StreamSink } from './http.ts';
import { RecordQueue, runFlowStream, type FlowSource } from './flow-stream.ts';

// Flows told apart by their uuid.
const rec = (n: number): FlowRecord => ({ flow: { uuid: String(n) } as Flow, node_name: 'n', time: `t${n}` });
const kernelLost = (n: number): FlowRecord => ({ lost_events: { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: String(n) }, node_name: 'n', time: 'x' });
const id = (r: FlowRecord) => ('lost_events' in r ? `${r.lost_events.source} ${r.lost_events.num_events_lost}` : r.flow.uuid);

class FakeSource implements FlowSource {
  buffered: FlowRecord[] = [];
  listeners = new Set<(r: FlowRecord) => void>();
  selects: RingSelect[] = [];
  lostCalls: number[] = [];
  select(q: RingSelect): FlowRecord[] {
    this.selects.push(q);
    return q.last !== undefined ? this.buffered.slice(-q.last) : [...this.buffered];
  }
  subscribe(l: (r: FlowRecord) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  lost(source: LostEvents['source'], count: number): FlowRecord {
    this.lostCalls.push(count);
    return { lost_events: { source, num_events_lost: String(count) }, node_name: 'n', time: 'now' };
  }
  emit(r: FlowRecord) {
    for (const l of this.listeners) l(r);
  }
}

/** A sink whose socket buffer holds `room` lines until release() drains it. */
class FakeSink implements StreamSink {
  lines: string[] = [];
  room: number;
  #waiters: Array<() => void> = [];
  readonly ac = new AbortController();
  readonly signal = this.ac.signal;
  constructor(room = Infinity) {
    this.room = room;
    this.signal.addEventListener('abort', () => this.release(0));
  }
  write(text: string): boolean {
    this.lines.push(text);
    return --this.room > 0;
  }
  drained(): Promise<void> {
    return this.room > 0 || this.signal.aborted ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
  }
  release(room: number) {
    this.room = room;
    for (const w of this.#waiters.splice(0)) w();
  }
  get ids(): string[] {
    return this.lines.map((l) => id(JSON.parse(l) as FlowRecord));
  }
}

const query = (q: Partial<FlowQuery> = {}): FlowQuery => ({ filters: [], follow: false, ...q });

test('the queue drops what does not fit and puts one count where the gap is', () => {
  const q = new RecordQueue(2);
  assert.equal(q.push(rec(1)), true);
  assert.equal(q.push(rec(2)), true);
  assert.equal(q.push(rec(3)), false);
  assert.equal(q.push(rec(4)), false);
  assert.equal(q.size, 2);
  assert.equal(id(q.shift() as FlowRecord), '1');
  assert.equal(q.push(rec(5)), true);
  assert.equal(q.push(rec(6)), false);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift(), q.shift()].map((x) => (typeof x === 'number' ? `lost ${x}` : x && id(x))), ['2', 'lost 2', '5', 'lost 1', undefined]);
  assert.throws(() => new RecordQueue(0), RangeError);
});

test("the agent's own lost_events records are never dropped, even from a full queue", () => {
  const q = new RecordQueue(1);
  q.push(rec(1));
  assert.equal(q.push(rec(2)), false);
  assert.equal(q.push(kernelLost(500)), true);
  assert.equal(q.push(rec(3)), false);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift(), q.shift()].map((x) => (typeof x === 'number' ? `lost ${x}` : x && id(x))), ['1', 'lost 1', 'PERF_EVENT_RING_BUFFER 500', 'lost 1', undefined]);
});

test('the queue stays correct across its compaction', () => {
  const q = new RecordQueue(5000);
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 3000; i++) q.push(rec(round * 3000 + i));
    for (let i = 0; i < 3000; i++) assert.equal(id(q.shift() as FlowRecord), String(round * 3000 + i));
  }
  assert.equal(q.shift(), undefined);
});

test('without follow: the selected buffered records, one JSON per line, then the end', async () => {
  const src = new FakeSource();
  src.buffered = [rec(1), rec(2), rec(3)];
  const sink = new FakeSink();
  await runFlowStream(src, query({ last: 2, since: 5 }), sink);
  assert.deepEqual(sink.ids, ['2', '3']);
  assert.ok(sink.lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  assert.deepEqual(src.selects, [{ last: 2, since: 5 }]);
  assert.equal(src.listeners.size, 0);
});

test('follow: history, then live records in order, until the client goes (then unsubscribed)', async () => {
  const src = new FakeSource();
  src.buffered = [rec(1)];
  const sink = new FakeSink();
  const done = runFlowStream(src, query({ follow: true }), sink);
  await tick();
  src.emit(rec(2));
  src.emit(rec(3));
  await tick();
  src.emit(rec(4));
  await tick();
  assert.deepEqual(sink.ids, ['1', '2', '3', '4']);
  sink.ac.abort();
  await done;
  assert.equal(src.listeners.size, 0);
});

test('follow without history: only new records', async () => {
  const src = new FakeSource();
  src.buffered = [rec(1)];
  const sink = new FakeSink();
  const done = runFlowStream(src, query({ follow: true }), sink, { history: false });
  src.emit(rec(2));
  await tick();
  sink.ac.abort();
  await done;
  assert.deepEqual(sink.ids, ['2']);
  assert.deepEqual(src.selects, []);
});

test('a slow follower: the queue is bounded and the gap becomes one HUBBLE_RING_BUFFER lost_events record', async () => {
  const src = new FakeSource();
  const sink = new FakeSink(1); // the socket takes one line, then is full
  const done = runFlowStream(src, query({ follow: true }), sink, { queueRecords: 3 });
  await tick();
  for (let i = 1; i <= 10; i++) src.emit(rec(i)); // 1-3 queued, 4-10 lost; then 1 is written and the socket is full
  await tick();
  assert.deepEqual(sink.ids, ['1']);
  sink.release(Infinity);
  await tick();
  src.emit(rec(11));
  await tick();
  assert.deepEqual(sink.ids, ['1', '2', '3', 'HUBBLE_RING_BUFFER 7', '11']);
  assert.deepEqual(src.lostCalls, [7]);
  assert.match(sink.lines[3]!, /"lost_events":\{"source":"HUBBLE_RING_BUFFER","num_events_lost":"7"\}/);
  sink.ac.abort();
  await done;
  assert.equal(src.listeners.size, 0);
});

test('a client gone while its socket is full stops the stream at once', async () => {
  const src = new FakeSource();
  src.buffered = [rec(1), rec(2), rec(3)];
  const sink = new FakeSink(1);
  const done = runFlowStream(src, query({ follow: true }), sink);
  await tick();
  sink.ac.abort();
  await done;
  assert.deepEqual(sink.ids, ['1']);
  assert.equal(src.listeners.size, 0);
});
