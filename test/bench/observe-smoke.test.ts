// The observability benchmark runs end to end in its quick form with tiny
// settings and its numbers are sane: the producer's events reach the agent
// (everything produced is received, nothing lost at a low rate), CPU and
// memory are read from the agent's process, every configuration of the
// connection-rate part connects and has a ratio to "events disabled", the
// aims are judged, and nothing is left behind. It checks that the harness
// works, not how fast anything is.
//
// Needs root and `make build`. Uses the benchmark's own names (mby-*,
// /sys/fs/bpf/mby-bench, /var/lib/mby-bench; 10.226.0.0/16, 198.18.26.0/24,
// 10.96.26.0/24): do not run it while `bench/run.sh observe` runs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../src/endpoint/exec.ts';
import { NODE_BIN, REPO } from '../../src/sandbox/topology.ts';
import { leftovers, requireRoot } from '../helpers/env.ts';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mby-smoke-'));

after(() => {
  fs.rmSync(out, { recursive: true, force: true });
});

interface Result {
  meta: { command: string; cpus: number; kernel: string };
  ladder: Array<{ rate: number; produced: number; received: number; lost: number; agentCpuPct: number; rssMiB: number }>;
  highestSustained: { rate: number };
  resources: Array<{ rate: number; received: number; produced: number; lost: number; agentCpuPct: number; rssMiBMax: number }>;
  conn: { summary: Array<{ config: string; rate: number; ratio: number; lost: number }> };
  aims: Array<{ aim: string; met: boolean | undefined }>;
}

test('bench/observe.ts --quick runs and reports sane numbers', { timeout: 300_000 }, async () => {
  requireRoot();
  assert.ok(fs.existsSync(path.join(REPO, 'build/bpf/bench_events.o')), 'build/bpf/bench_events.o is missing: make build');
  const r = await run(NODE_BIN, [
    path.join(REPO, 'bench/observe.ts'), '--quick', '--rates', '2000,10000', '--step-seconds', '1', '--sustain-rates', '2000', '--sustain-seconds', '1',
    '--rounds', '1', '--seconds', '1', '--pods', '2', '--no-profile', '--out', out,
  ], { allowFail: true });
  assert.equal(r.code, 0, `the benchmark failed:\n${r.stderr.slice(-3000)}`);
  const res = JSON.parse(fs.readFileSync(path.join(out, 'observe-latest.json'), 'utf8')) as Result;
  assert.match(res.meta.command, /^node bench\/observe\.ts --quick/);
  assert.equal(res.meta.cpus, os.cpus().length);

  // (1) the ladder: the lowest rate is taken whole
  assert.deepEqual(res.ladder.map((s) => s.rate), [2000, 10000]);
  const low = res.ladder[0]!;
  assert.equal(low.produced, 2000);
  assert.equal(low.lost, 0);
  assert.equal(low.received, low.produced);
  assert.ok(low.agentCpuPct > 0 && low.agentCpuPct <= 100 * os.cpus().length, `agent CPU ${low.agentCpuPct} %`);
  assert.ok(low.rssMiB > 20 && low.rssMiB < 4096, `agent RSS ${low.rssMiB} MiB`);
  assert.ok(res.highestSustained.rate >= 2000);

  // (2) idle, then 2000 events/s
  assert.deepEqual(res.resources.map((s) => s.rate), [0, 2000]);
  assert.equal(res.resources[0]!.received, 0);
  assert.equal(res.resources[1]!.received + res.resources[1]!.lost, res.resources[1]!.produced);
  assert.ok(res.resources.every((s) => s.rssMiBMax > 20));

  // (3) every configuration connected, with a ratio to events disabled
  assert.deepEqual(res.conn.summary.map((s) => s.config), ['disabled', 'none', 'maximum', 'medium']);
  for (const s of res.conn.summary) {
    assert.ok(s.rate > 0, `${s.config}: ${s.rate} connections/s`);
    assert.ok(Number.isFinite(s.ratio) && s.ratio > 0, `${s.config}: ratio ${s.ratio}`);
  }
  assert.equal(res.conn.summary[0]!.ratio, 1);
  assert.equal(res.aims.length, 2);
  assert.ok(fs.readFileSync(path.join(out, 'observe-latest.md'), 'utf8').includes('### Aims'));

  // nothing left behind
  assert.deepEqual(await leftovers('mby'), []);
  assert.ok(!fs.existsSync('/var/lib/mby-bench'));
  assert.ok(!(await run('ip', ['route', 'show', 'type', 'blackhole'])).stdout.includes('10.226.0.0/16'));
});
