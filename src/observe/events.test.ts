import { test } from 'node:test';
import assert from 'node:assert/strict';
import { event } from '../datapath/abi.ts';
import { decodeEvent, decodeRaw, EventLog, WallClock } from './events.ts';

test('decodes a drop event from its wire layout', () => {
  const buf = event.encode({
    ts_ns: 5_000_000n, type: 1, subtype: 1, source: 0, ifindex: 7,
    saddr: '10.200.0.9', daddr: '10.200.0.3', sport: 40000, dport: 80, proto: 6, tcp_flags: 2, len: 60,
    dir: 1, verdict: 0, src_identity: 0, dst_identity: 0, rule_id: 0, orig_daddr: "0.0.0.0", orig_dport: 0, flags: 0,
  });
  const ev = decodeEvent(buf, new WallClock(0n));
  assert.equal(ev.type, 'drop');
  assert.equal(ev.reason, 'INVALID_SOURCE_IP');
  assert.equal(ev.saddr, '10.200.0.9');
  assert.equal(ev.dport, 80);
  assert.equal(ev.proto, 'TCP');
  assert.equal(ev.time, '1970-01-01T00:00:00.005000000Z'); // 5 ms after a clock offset of 0
});

test('decodes a policy verdict with its direction, identities and rule', () => {
  const buf = event.encode({
    ts_ns: 1n, type: 3, subtype: 2, source: 12, ifindex: 7,
    saddr: '10.200.0.9', daddr: '10.200.0.3', sport: 40000, dport: 80, proto: 17, tcp_flags: 0, len: 60,
    dir: 2, verdict: 2, src_identity: 300, dst_identity: 301, rule_id: 9, orig_daddr: "0.0.0.0", orig_dport: 0, flags: 0,
  });
  const ev = decodeEvent(buf, new WallClock(0n));
  assert.equal(ev.type, 'policy-verdict');
  assert.equal(ev.reason, 'L3-L4');
  assert.equal(ev.direction, 'ingress');
  assert.equal(ev.verdict, 'DENIED');
  assert.equal(ev.srcIdentity, 300);
  assert.equal(ev.dstIdentity, 301);
  assert.equal(ev.ruleId, 9);
  assert.equal(ev.proto, 'UDP');
});

test('the log keeps the last events in order and counts them all', () => {
  const log = new EventLog(3);
  for (let i = 0; i < 5; i++) {
    log.addRaw(decodeRaw(event.encode({
      ts_ns: 1n, type: 1, subtype: 1, source: 0, ifindex: 0, saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 0, dport: 0, proto: 6,
      tcp_flags: 0, len: i, dir: 1, verdict: 0, src_identity: 0, dst_identity: 0, rule_id: 0, orig_daddr: '0.0.0.0', orig_dport: 0, flags: 0,
    })), String(i));
  }
  assert.deepEqual(log.last(10).map((e) => e.len), [2, 3, 4]);
  assert.deepEqual(log.last(2).map((e) => e.len), [3, 4]);
  assert.equal(log.total, 5);
});

test('decodeRaw gives what the generic codec gives', async () => {
  const raw = {
    ts_ns: 123_456_789_012n, type: 2, subtype: 5, source: 513, ifindex: 70000,
    saddr: '10.200.0.9', daddr: '192.168.255.3', sport: 40000, dport: 8080, proto: 6, tcp_flags: 0x12, len: 1500,
    dir: 1, verdict: 0, src_identity: 65535, dst_identity: 2, rule_id: 77, orig_daddr: '10.96.0.10', orig_dport: 443, flags: 7,
  };
  const buf = event.encode(raw);
  assert.deepEqual(decodeRaw(buf), event.decode(buf));
  assert.deepEqual(decodeRaw(buf), raw);
  assert.throws(() => decodeRaw(buf.subarray(0, 40)), RangeError);
});

test('WallClock formats monotonic ns as RFC 3339 with nanoseconds, with carries', async () => {
  const base = BigInt(Date.UTC(2024, 10, 22, 10, 1, 2)) * 1_000_000n; // wall ns at mono 0
  const c = new WallClock(base + 999_999_999n);
  assert.equal(c.format(0n), '2024-11-22T10:01:02.999999999Z');
  assert.equal(c.format(1n), '2024-11-22T10:01:03.000000000Z');
  assert.equal(c.lastMs, Date.UTC(2024, 10, 22, 10, 1, 3));
  assert.equal(c.format(3_600_000_000_002n), '2024-11-22T11:01:03.000000001Z');
  const live = new WallClock();
  const t = Date.parse(live.format(process.hrtime.bigint()));
  assert.ok(Math.abs(t - Date.now()) < 50, 'a measured offset maps now to now');
});

test('addRaw keeps the raw event and describes it when read', async () => {
  const log = new EventLog(2);
  const raw = decodeRaw(event.encode({
    ts_ns: 1n, type: 1, subtype: 9, source: 3, ifindex: 7, saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 1, dport: 2, proto: 17,
    tcp_flags: 0, len: 60, dir: 2, verdict: 0, src_identity: 0, dst_identity: 0, rule_id: 0, orig_daddr: '0.0.0.0', orig_dport: 0, flags: 0,
  }));
  log.addRaw(raw, 'T');
  assert.deepEqual(log.last(5), [{ time: 'T', type: 'drop', reason: 'POLICY_DENIED', source: 3, ifindex: 7, saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 1, dport: 2, proto: 'UDP', len: 60, direction: 'ingress' }]);
});
