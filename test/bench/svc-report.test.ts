// The services benchmark's report (bench/lib/svc-report.ts): medians, paired
// wins, ratios and the aims from measured numbers. Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASELINE, connTable, flatness, latencyTable, relativeFlatness, ppsSummary, ppsTable, svcAims, wins, type CountResult, type RoundStats } from '../../bench/lib/svc-report.ts';

const r = (connRate: number, crrP50: number): RoundStats => ({ connRate, crrP50, crrP99: crrP50 * 2, rrP50: 20, rrP99: 40, directP50: 90, directP99: 180 });
const results: CountResult[] = [
  { count: 1, rounds: { membrane: [r(10000, 100), r(10200, 98), r(9800, 102)], iptables: [r(8000, 125), r(8100, 123), r(7900, 127)], nftables: [r(8000, 125), r(8000, 125), r(8000, 125)] } },
  { count: 10000, rounds: { membrane: [r(9900, 101), r(10100, 99), r(10000, 100)], iptables: [r(3000, 333), r(4000, 250), r(5500, 180)], nftables: [r(7900, 126), r(10500, 95), r(8000, 125)] } },
];

test('paired wins and medians', () => {
  assert.equal(wins(results[1]!.rounds.membrane, results[1]!.rounds.nftables, 'connRate', 'higher'), '2/3');
  assert.equal(wins(results[1]!.rounds.membrane, results[1]!.rounds.iptables, 'crrP50', 'lower'), '3/3');
  assert.match(latencyTable(results), /\| 10000 \| iptables \| 250 \| 500 \| 20 \| 40 \| 90 \| 180 \| 160 \|/);
  const table = connTable(results);
  assert.match(table, /\| 10000 \| 10000 \| 4000 \| 8000 \| 2\.50 \| 1\.25 \| 3\/3, 2\/3 \|/);
});

test('flatness is the largest count over the smallest, per side; relative to the pod-IP CRR of the same round', () => {
  const f = flatness(results);
  assert.equal(f.membrane, 1);
  assert.equal(f.iptables!.toFixed(2), '2.00');
  // Everything twice as slow at the largest count, the service's share alike: flat.
  const drift: CountResult[] = [results[0]!, { count: 10000, rounds: { membrane: results[0]!.rounds.membrane!.map((x) => ({ ...x, crrP50: x.crrP50 * 2, directP50: x.directP50 * 2 })) } }];
  assert.equal(flatness(drift).membrane!.toFixed(2), '2.00');
  assert.equal(relativeFlatness(drift).membrane!.toFixed(2), '1.00');
});

test('packets per second: medians of delivered over time, ratio to iptables', () => {
  const pps = [
    { mode: 'membrane-xdp', sender: 'sendto' as const, sent: 1000, delivered: 900, seconds: 1 },
    { mode: 'membrane-xdp', sender: 'sendto' as const, sent: 1200, delivered: 1200, seconds: 1 },
    { mode: 'membrane-xdp', sender: 'sendto' as const, sent: 1100, delivered: 1000, seconds: 1 },
    { mode: 'iptables', sender: 'sendto' as const, sent: 300, delivered: 300, seconds: 1 },
  ];
  const s = ppsSummary(pps);
  const withBase = [...pps, { mode: BASELINE, sender: 'sendto' as const, sent: 2000, delivered: 2000, seconds: 1 }];
  // 1e6/1100 − 1e6/2000 = 409 µs for XDP; 1e6/300 − 500 = 2833 µs for iptables: ×6.93.
  assert.match(ppsTable(withBase), /\| membrane-xdp \| 1000 \| 1100 \| 0\.91 \| 3\.33 \| n\/a \| n\/a \| 3 \|/);
  assert.match(ppsTable(withBase), /\| iptables \| 300 \| 300 \| 1\.00 \| 1\.00 \| 2833 \| 1\.00 \| 1 \|/);
  assert.match(ppsTable(withBase), /\| sender alone \(dropped on arrival: nftables netdev ingress\) \| — \| 2000 \|/);
  assert.equal(s[0]!.deliveredPps, 1000);
  assert.equal(s[0]!.sentPps, 1100);
  assert.equal(ppsSummary(pps, 'ring').length, 0);
  assert.match(ppsTable(pps), /\| membrane-xdp \| 1000 \| 1100 \| 0\.91 \| 3\.33 \| n\/a \| n\/a \| 3 \|/);
  const aims = svcAims(results, [{ side: 'membrane', count: 10000, ms: [800, 1200, 900], bytes: 1 }], pps, 10000);
  assert.deepEqual(aims.map((a) => a.met), [true, true, true, true, true]);
  assert.deepEqual(svcAims(results, [], [], 10000).map((a) => a.met), [true, true, true, undefined, undefined]);
});
