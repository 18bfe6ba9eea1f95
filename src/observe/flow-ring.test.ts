import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowRing } from './flow-ring.ts';
import type { FlowRecord } from './flow-types.ts';

function rec(i: number): FlowRecord {
  return { lost_events: { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: String(i) }, node_name: 'n', time: String(i) };
}
const ids = (rs: FlowRecord[]) => rs.map((r) => Number(r.time));

test('keeps the last `capacity` records, oldest first', () => {
  const r = new FlowRing(4);
  assert.deepEqual(r.last(10), []);
  for (let i = 0; i < 3; i++) r.push(rec(i), i * 1000);
  assert.deepEqual(ids(r.last(10)), [0, 1, 2]);
  for (let i = 3; i < 10; i++) r.push(rec(i), i * 1000);
  assert.equal(r.size, 4);
  assert.equal(r.total, 10);
  assert.deepEqual(ids(r.last(10)), [6, 7, 8, 9]);
  assert.deepEqual(ids(r.last(2)), [8, 9]);
  assert.deepEqual(ids(r.last(0)), []);
  assert.throws(() => new FlowRing(0), RangeError);
});

test('since, until, match and last together', () => {
  const r = new FlowRing(100);
  for (let i = 0; i < 50; i++) r.push(rec(i), 1_000_000 + i * 10_000);
  assert.deepEqual(ids(r.since(1_000_000 + 47 * 10_000)), [47, 48, 49]);
  assert.deepEqual(ids(r.select({ since: 1_000_000 + 10 * 10_000, until: 1_000_000 + 13 * 10_000 })), [10, 11, 12]);
  assert.deepEqual(ids(r.select({ match: (x) => Number(x.time) % 10 === 0, last: 2 })), [30, 40], 'last n of the matching');
  assert.deepEqual(ids(r.select({ match: (x) => Number(x.time) % 10 === 0 })), [0, 10, 20, 30, 40]);
});

test('since tolerates slightly out-of-order times (events of several CPUs)', () => {
  const r = new FlowRing(10);
  r.push(rec(0), 5000);
  r.push(rec(1), 9000);
  r.push(rec(2), 8900); // an earlier event read after a later one
  r.push(rec(3), 9100);
  assert.deepEqual(ids(r.since(9000)), [1, 3]);
});

test('subscribers get every new record; unsubscribe; a throwing listener is dropped', () => {
  const r = new FlowRing(2);
  const got: number[] = [];
  const off = r.subscribe((x) => got.push(Number(x.time)));
  const errors: unknown[] = [];
  r.onListenerError = (e) => errors.push(e);
  r.subscribe(() => {
    throw new Error('boom');
  });
  assert.equal(r.subscribers, 2);
  r.push(rec(1), 1);
  r.push(rec(2), 2);
  assert.equal(r.subscribers, 1);
  assert.equal(errors.length, 1);
  off();
  r.push(rec(3), 3);
  assert.deepEqual(got, [1, 2]);
  assert.equal(r.subscribers, 0);
});
