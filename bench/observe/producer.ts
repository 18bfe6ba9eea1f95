// The event producer of the observability benchmark, a process of its own
// (pinned to another CPU than the agent's): it loads bpf/bench_events.c with
// the agent's pinned maps and pushes events into mb_events at a given rate
// with BPF_PROG_TEST_RUN, `repeat` events per call.
//
//   node bench/observe/producer.ts --pin-dir DIR [--obj build/bpf/bench_events.o]
//
// Commands, one JSON object per stdin line; one JSON answer per stdout line:
//   {"cmd":"templates","events":[RawEvent, ts_ns as a decimal string]} → {"ok":true,"count":N}
//   {"cmd":"run","rate":R,"seconds":S}  → {"produced":N,"seconds":T,"calls":C,"kernelNsPerEvent":K}
//       R events/s for S seconds: every millisecond (or as soon as it is due)
//       the events due by then, in calls of at most MAX_BATCH.
//   {"cmd":"exit"}
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { event, type RawEvent, u32Key, type U32Key } from '../../src/datapath/abi.ts';
import { PINNED_MAPS } from '../../src/datapath/datapath.ts';
import { BpfMap } from '../../src/datapath/map.ts';
import { loadObject } from '../../src/datapath/object.ts';
import { progTestRun } from '../../src/datapath/testrun.ts';
import { struct } from '../../src/datapath/codec.ts';

const MAX_BATCH = 8192;
const TEMPLATES = 256;

const { values: opts } = parseArgs({
  options: {
    'pin-dir': { type: 'string' },
    obj: { type: 'string', default: path.resolve(import.meta.dirname, '../../build/bpf/bench_events.o') },
  },
});
const pinDir = opts['pin-dir'];
if (!pinDir) throw new Error('--pin-dir is required');

// The agent's pinned maps that exist (all of them once an agent ran), reused by the loader.
const pin = PINNED_MAPS.filter((m) => fs.existsSync(path.join(pinDir, m)));
if (!pin.includes('mb_events') || !pin.includes('mb_metrics')) throw new Error(`no pinned mb_events/mb_metrics under ${pinDir}: start the agent first`);
const obj = loadObject({ file: opts.obj!, pinDir, pin });
const prog = obj.programFd('bench_events');
const templates = new BpfMap<U32Key, RawEvent>(obj.mapFd('bx_templates'), 'bx_templates', u32Key, event);
const countCodec = struct<{ count: number }>('bx_count', [['count', 'u32']]);
const config = new BpfMap(obj.mapFd('bx_config'), 'bx_config', u32Key, countCodec);

// Any frame of at least an Ethernet header: the program does not look at it.
const frame = Buffer.alloc(64);
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function run(rate: number, seconds: number) {
  const t0 = process.hrtime.bigint();
  const total = Math.round(rate * seconds);
  let produced = 0;
  let calls = 0;
  let kernelNs = 0;
  const minBatch = Math.max(1, Math.floor(rate / 2000)); // half a millisecond's worth
  for (;;) {
    const el = Number(process.hrtime.bigint() - t0) / 1e9;
    const due = Math.min(total, Math.floor(rate * el)) - produced;
    if (due >= minBatch || (due > 0 && el >= seconds)) {
      const n = Math.min(due, MAX_BATCH);
      const r = progTestRun(prog, frame, { repeat: n });
      kernelNs += r.duration * n;
      produced += n;
      calls++;
      continue;
    }
    if (produced >= total) break;
    Atomics.wait(sleeper, 0, 0, 1);
  }
  return { produced, seconds: Number(process.hrtime.bigint() - t0) / 1e9, calls, kernelNsPerEvent: produced ? kernelNs / produced : 0 };
}

const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  try {
    const c = JSON.parse(line) as { cmd: string; events?: Array<Omit<RawEvent, 'ts_ns'> & { ts_ns?: string }>; rate?: number; seconds?: number };
    if (c.cmd === 'templates') {
      const evs = c.events ?? [];
      if (evs.length < 1 || evs.length > TEMPLATES) throw new Error(`1..${TEMPLATES} templates, not ${evs.length}`);
      evs.forEach((e, i) => templates.update({ key: i }, { ...e, ts_ns: BigInt(e.ts_ns ?? 0) }));
      config.update({ key: 0 }, { count: evs.length });
      out({ ok: true, count: evs.length });
    } else if (c.cmd === 'run') {
      out(run(c.rate!, c.seconds!));
    } else if (c.cmd === 'exit') {
      break;
    } else {
      throw new Error(`unknown command ${c.cmd}`);
    }
  } catch (err) {
    out({ error: (err as Error).message });
  }
}
rl.close();
obj.close();
process.exit(0);
