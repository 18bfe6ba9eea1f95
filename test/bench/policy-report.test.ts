// The policy benchmark's report (bench/policy/report.ts): per-round pairing,
// the configuration summaries, the aims and the tables. Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configName, configSides, connTable, latencyTable, pairedRatio, policyAims, type ProgramSample, programTable, type RateSample, summarizeConfigs } from '../../bench/policy/report.ts';

const sample = (round: number, side: 'membrane' | 'iptables', config: string, rate: number, agentCpuS?: number): RateSample => ({
  round, side, config, rate, p50Us: 1e6 / rate, p99Us: 3e6 / rate, connections: rate * 5, seconds: 5, allowed: 'connected', denied: config === 'none' ? 'connected' : 'timeout', ...(agentCpuS !== undefined ? { agentCpuS } : {}),
});

test('configurations: names, labels and sides', () => {
  assert.equal(configName({ kind: 'rules', rules: 0 }), 'none');
  assert.equal(configName({ kind: 'rules', rules: 1000 }), '1000');
  assert.equal(configName({ kind: 'rules', rules: 1000, agentPaused: true }), '1000-paused');
  assert.deepEqual(configSides({ kind: 'bare' }), ['iptables']);
  assert.deepEqual(configSides({ kind: 'rules', rules: 10, agentPaused: true }), ['membrane']);
  assert.deepEqual(configSides({ kind: 'rules', rules: 10 }), ['membrane', 'iptables']);
});

test('ratios pair rounds and take the median of the per-round ratios', () => {
  const a = [sample(0, 'membrane', 'x', 100), sample(1, 'membrane', 'x', 300), sample(2, 'membrane', 'x', 90)];
  const b = [sample(2, 'iptables', 'x', 100), sample(0, 'iptables', 'x', 50), sample(1, 'iptables', 'x', 100)];
  assert.deepEqual(pairedRatio(a, b), { ratio: 2, ahead: 2, n: 3 });
  assert.deepEqual(pairedRatio(a, []), { ratio: undefined, ahead: 0, n: 0 });
});

test('summaries and aims: within 5 % of no policy, ahead of iptables at each size', () => {
  const all: RateSample[] = [];
  for (let r = 0; r < 3; r++) {
    all.push(sample(r, 'membrane', 'none', 10000 + r), sample(r, 'iptables', 'none', 5000));
    all.push(sample(r, 'membrane', '10', 9900, 0.5), sample(r, 'iptables', '10', 5000));
    all.push(sample(r, 'membrane', '1000', r === 0 ? 9000 : 9700, 0.5), sample(r, 'iptables', '1000', 900));
    all.push(sample(r, 'membrane', '1000-paused', 10000, 0), sample(r, 'iptables', 'bare', 6000));
  }
  const sum = summarizeConfigs(all, [{ kind: 'rules', rules: 0 }, { kind: 'rules', rules: 10 }, { kind: 'rules', rules: 1000 }, { kind: 'rules', rules: 1000, agentPaused: true }, { kind: 'bare' }]);
  assert.equal(sum.length, 5);
  const top = sum.find((s) => s.config === '1000')!;
  assert.equal(top.rate.membrane, 9700);
  assert.ok(Math.abs(top.vsNone.membrane! - 9700 / 10002) < 1e-9); // rounds: 0.900, 0.96990, 0.96981
  assert.equal(top.agentCpuS, 0.5);
  assert.equal(sum.find((s) => s.config === 'bare')!.vsIptables, undefined);
  assert.equal(sum.find((s) => s.config === 'bare')!.vsNone.iptables, 6000 / 5000);
  const aims = policyAims(sum, 1000);
  assert.equal(aims[0]!.met, true);
  assert.match(aims[0]!.evidence, /×0\.970/);
  assert.deepEqual(aims.slice(1).map((a) => a.met), [true, true, true]);
  const table = connTable(sum);
  assert.match(table, /\| 1000 rules \| 9700 \| 900 \| 10\.78 \| 3\/3 \| ×0\.970 \| ×0\.180 \|/);
  assert.ok(table.includes('| no kube-router (bridge alone) | n/a | 6000 |  |  |  | ×1.200 |'));
  // latency: p50 = 1e6 / rate in these samples, so its ratio is the inverse
  assert.ok(Math.abs(top.p50VsNone.membrane! - 10002 / 9700) < 1e-9);
  assert.match(latencyTable(sum), /\| 1000 rules \| 103 \| ×1\.031 \| 309 \| 0\.5 \| n\/a \| 1111 \| ×5\.556 \| 3333 \|/);
});

test('the aim is not met below 95 %, and not measured without samples', () => {
  const all = [0, 1].flatMap((r) => [sample(r, 'membrane', 'none', 10000), sample(r, 'membrane', '1000', 9400), sample(r, 'iptables', 'none', 9000), sample(r, 'iptables', '1000', 9500)]);
  const aims = policyAims(summarizeConfigs(all, [{ kind: 'rules', rules: 0 }, { kind: 'rules', rules: 1000 }]), 1000);
  assert.equal(aims[0]!.met, false);
  assert.equal(aims[2]!.met, false); // behind iptables at 1000
  assert.equal(policyAims(summarizeConfigs([], [{ kind: 'rules', rules: 0 }]), 1000)[0]!.met, undefined);
});

test('the programming table groups repetitions and shows medians of the parts', () => {
  const p = (ms: number, part: number): ProgramSample => ({ side: 'iptables', family: 'spread', action: 'program', policies: 1000, variant: 'kube-router sync', ms, parts: { 'ipset restore': part }, detail: { ipsets: 2000 } });
  const t = programTable([p(100, 10), p(300, 30), p(200, 20), { ...p(5, 1), action: 'remove' }]);
  assert.match(t, /\| 1000 \(spread\) \| iptables, kube-router sync \| 3 \| 200 \| ipset restore 20 \| ipsets 2000 \|/);
  assert.match(t, /\| removing 1000 \(spread\) \| iptables, kube-router sync \| 1 \| 5 \|/);
});
