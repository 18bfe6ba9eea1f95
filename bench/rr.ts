// TCP request/response, like netperf's TCP_RR and TCP_CRR, run inside a pod's
// netns by the benchmark:
//
//   node bench/rr.ts server PORT
//       echoes whatever it receives; prints "ready" once listening.
//   node bench/rr.ts client rr|crr HOST PORT COUNT WARMUP SIZE
//       rr:  one connection, COUNT round trips of SIZE bytes each
//            (send SIZE bytes, wait until SIZE bytes came back);
//       crr: COUNT times connect, one SIZE-byte round trip, close;
//       prints {"mode":..,"samplesUs":[..]} (one sample per round trip, in
//       microseconds; the WARMUP first ones are done but not kept).
//
// The client runs one round trip at a time, so each sample is a full
// request/response latency: client kernel → datapath → server kernel →
// server event loop → back. Node's own per-message cost is in it, the same on
// both sides of the comparison.
import net from 'node:net';

function usage(): never {
  process.stderr.write('usage: rr.ts server PORT | rr.ts client rr|crr HOST PORT COUNT WARMUP SIZE\n');
  process.exit(2);
}

function server(port: number): void {
  const srv = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
    s.on('error', () => s.destroy());
    s.on('end', () => s.end());
  });
  srv.listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Sends `msg` and resolves when as many bytes came back. */
function roundTrip(s: net.Socket, msg: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= msg.length) {
        s.off('data', onData);
        s.off('error', reject);
        resolve();
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(msg);
  });
}

const usSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1000;

async function clientRR(host: string, port: number, count: number, warmup: number, msg: Buffer): Promise<number[]> {
  const s = await connect(host, port);
  const out: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = process.hrtime.bigint();
    await roundTrip(s, msg);
    if (i >= warmup) out.push(usSince(t0));
  }
  s.destroy();
  return out;
}

async function clientCRR(host: string, port: number, count: number, warmup: number, msg: Buffer): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = process.hrtime.bigint();
    const s = await connect(host, port);
    await roundTrip(s, msg);
    const us = usSince(t0);
    s.destroy();
    if (i >= warmup) out.push(us);
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  const [role, ...rest] = argv;
  if (role === 'server') {
    const port = Number(rest[0]);
    if (!Number.isInteger(port)) usage();
    server(port);
    return;
  }
  if (role !== 'client') usage();
  const [mode, host, portText, countText, warmupText, sizeText] = rest;
  const [port, count, warmup, size] = [portText, countText, warmupText, sizeText].map(Number) as [number, number, number, number];
  if ((mode !== 'rr' && mode !== 'crr') || !host || ![port, count, warmup, size].every((n) => Number.isInteger(n) && n >= 0)) usage();
  const msg = Buffer.alloc(size, 0x61);
  const samples = mode === 'rr' ? await clientRR(host, port, count, warmup, msg) : await clientCRR(host, port, count, warmup, msg);
  process.stdout.write(`${JSON.stringify({ mode, host, port, size, samplesUs: samples.map((x) => Math.round(x * 10) / 10) })}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`rr: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
