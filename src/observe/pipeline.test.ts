import { test } from 'node:test';
import assert from 'node:assert/strict';
import { event } from '../datapath/abi.ts';
import { createEnricher } from './enrich.ts';
import { EventLog, WallClock } from './events.ts';
import type { FlowRecord } from './flow-types.ts';
import { FlowPipeline, LabeledCounter } from './pipeline.ts';
import { fakeSources, rawEvent } from './testing.ts';

const BASE = BigInt(Date.UTC(2024, 10, 22, 10, 1, 2)) * 1_000_000n;

function pipeline(capacity = 16) {
  const events = new EventLog(8);
  const p = new FlowPipeline({ nodeName: 'node-a', capacity, enricher: createEnricher(fakeSources()), clock: new WallClock(BASE), events });
  return { p, events };
}

test('a ring-buffer record becomes one flow record in the ring, the event log and every subscriber', () => {
  const { p, events } = pipeline();
  const seen: FlowRecord[] = [];
  p.subscribe((r) => seen.push(r));
  p.handleRecord(event.encode(rawEvent({ ts_ns: 1_000_000_123n, type: 1, subtype: 9, dir: 2, daddr: '10.222.0.11', dport: 8080 })));
  const [rec] = p.select({});
  assert.ok(rec && 'flow' in rec);
  assert.equal(rec.time, '2024-11-22T10:01:03.000000123Z');
  assert.equal(rec.node_name, 'node-a');
  assert.equal(rec.flow.time, rec.time);
  assert.equal(rec.flow.node_name, 'node-a');
  assert.match(rec.flow.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-000000000000$/);
  assert.equal(rec.flow.source.pod_name, 'frontend');
  assert.equal(rec.flow.destination.pod_name, 'backend-1');
  assert.deepEqual(rec.flow.destination_service, { name: 'backend', namespace: 'demo' });
  assert.equal(rec.flow.drop_reason_desc, 'POLICY_DENIED');
  assert.deepEqual(seen, [rec]);
  assert.deepEqual(
    events.last(1).map((e) => [e.type, e.reason, e.time]),
    [['drop', 'POLICY_DENIED', rec.time]],
  );
  assert.equal(events.total, 1);
  assert.deepEqual(p.select({ since: Date.UTC(2024, 10, 22, 10, 1, 3) }), [rec]);
  assert.deepEqual(p.select({ since: Date.UTC(2024, 10, 22, 10, 1, 3, 1) }), []);
  p.handleEvent(rawEvent());
  const uuids = p.select({}).map((r) => ('flow' in r ? r.flow.uuid : ''));
  assert.notEqual(uuids[0], uuids[1]);
});

test('counters: flows by type/subtype/verdict/protocol, policy verdicts, new connections per service and backend', () => {
  const { p } = pipeline();
  p.handleEvent(rawEvent({ subtype: 1, flags: 1 | 4, daddr: '10.222.0.11', dport: 8080 })); // socket LB: new connection to the backend
  p.handleEvent(rawEvent({ subtype: 2, flags: 1, daddr: '10.222.0.11', dport: 8080 }));
  p.handleEvent(rawEvent({ subtype: 2, flags: 1 | 2, saddr: '10.222.0.11', sport: 8080, daddr: '10.222.0.10', dport: 41234, tcp_flags: 0x12 }));
  p.handleEvent(rawEvent({ subtype: 4, flags: 1 | 4, daddr: '10.96.22.10', dport: 80, saddr: '8.8.8.8' })); // before translation
  p.handleEvent(rawEvent({ subtype: 2, flags: 1 | 4, daddr: '10.222.0.11', dport: 8080, orig_daddr: '10.96.22.10', orig_dport: 80 }));
  p.handleEvent(rawEvent({ type: 3, subtype: 2, verdict: 1, dir: 2 }));
  p.handleEvent(rawEvent({ type: 3, subtype: 0, verdict: 2, dir: 1, proto: 17 }));
  p.handleEvent(rawEvent({ type: 1, subtype: 9, dir: 2, proto: 1, sport: 0, dport: 8 << 8 }));
  const flows = p.counters.flows as LabeledCounter<'type' | 'subtype' | 'verdict' | 'protocol'>;
  assert.deepEqual(
    [...flows.entries()].map(([l, n]) => `${l.type}/${l.subtype}/${l.verdict}/${l.protocol}=${n}`).sort(),
    [
      'Drop//DROPPED/ICMPv4=1',
      'PolicyVerdict//DROPPED/UDP=1',
      'PolicyVerdict//FORWARDED/TCP=1',
      'Trace/from-endpoint/FORWARDED/TCP=1',
      'Trace/from-network/FORWARDED/TCP=1',
      'Trace/to-endpoint/FORWARDED/TCP=3',
    ],
  );
  assert.deepEqual([...p.counters.policyVerdicts.entries()].map(([l, n]) => `${l.direction}/${l.match}/${l.action}=${n}`).sort(), ['egress/none/dropped=1', 'ingress/l3-l4/forwarded=1']);
  assert.deepEqual([...p.counters.newConnections.entries()].map(([l, n]) => `${l.namespace}/${l.service}@${l.backend}=${n}`).sort(), ['demo/backend@10.222.0.11:8080=2', 'demo/backend@=1']);
  assert.equal(p.counters.processed, 8);
});

test('kernel lost events: a baseline first, then a PERF_EVENT_RING_BUFFER record per growth', () => {
  const { p } = pipeline();
  const seen: FlowRecord[] = [];
  p.subscribe((r) => seen.push(r));
  assert.equal(p.pollKernelLost(40n), undefined, 'what was lost before this agent is not reported');
  assert.equal(p.pollKernelLost(40n), undefined);
  const rec = p.pollKernelLost(45n);
  assert.ok(rec && 'lost_events' in rec);
  assert.deepEqual(rec.lost_events, { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: '5' });
  assert.equal(rec.node_name, 'node-a');
  assert.ok(Math.abs(Date.parse(rec.time) - Date.now()) < 1000);
  assert.deepEqual(seen, [rec]);
  assert.deepEqual(p.select({}), [rec]);
  const slow = p.lost('HUBBLE_RING_BUFFER', 7);
  assert.deepEqual('lost_events' in slow && slow.lost_events, { source: 'HUBBLE_RING_BUFFER', num_events_lost: '7' });
  assert.equal(p.select({}).length, 1, 'a client’s own loss is not broadcast');
  assert.deepEqual([...p.counters.lostEvents.entries()].map(([l, n]) => `${l.source}=${n}`).sort(), ['HUBBLE_RING_BUFFER=7', 'PERF_EVENT_RING_BUFFER=5']);
});

test('the lost-events poll runs on a timer until stopped', async () => {
  const { p } = pipeline();
  let total = 0n;
  const stop = p.startLostPoll(() => (total += 2n), 5);
  await new Promise((r) => setTimeout(r, 40));
  stop();
  const recs = p.select({});
  assert.ok(recs.length >= 2);
  const n = recs.length;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(p.select({}).length, n, 'stopped');
});

test('micro benchmark: decode + enrich + flow + ring, one core', (t) => {
  const { p } = pipeline(4095);
  // A realistic mix: traces of pod-to-pod and service traffic, replies, drops from the world, verdicts.
  const templates = [
    rawEvent({ subtype: 1, flags: 1 | 4 }),
    rawEvent({ subtype: 2, flags: 1, daddr: '10.222.0.11', dport: 8080 }),
    rawEvent({ subtype: 2, flags: 1 | 2, saddr: '10.222.0.11', sport: 8080, daddr: '10.222.0.10', dport: 41234, tcp_flags: 0x12 }),
    rawEvent({ type: 1, subtype: 9, dir: 2, saddr: '8.8.8.8', daddr: '10.222.0.11', dport: 8080 }),
    rawEvent({ type: 3, subtype: 2, verdict: 1, dir: 2, rule_id: 7 }),
    rawEvent({ subtype: 4, flags: 1 | 4, saddr: '203.0.113.7', daddr: '10.96.22.10', dport: 80, proto: 17 }),
  ].map((e) => event.encode(e));
  const n = 300_000;
  for (let i = 0; i < 20_000; i++) p.handleRecord(templates[i % templates.length]!); // warm up
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) p.handleRecord(templates[i % templates.length]!);
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(c0);
  const cpuNs = (cpu.user + cpu.system) * 1000;
  const rate = Math.round(n / (ns / 1e9));
  // CPU time (GC threads included) is the number that holds on a busy machine.
  t.diagnostic(`decode+enrich+flow+ring: ${rate} events/s wall, ${Math.round(n / (cpuNs / 1e9))} events per CPU-second (${(cpuNs / n).toFixed(0)} ns CPU/event)`);
  assert.ok(n / (cpuNs / 1e9) > 100_000, `${Math.round(n / (cpuNs / 1e9))} events per CPU-second`);
});
