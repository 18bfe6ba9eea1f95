// Pod-to-pod traffic on one node: a client pod and a server pod made through
// the node's CNI plugin, the server pod running the TCP echo (bench/rr.ts)
// and iperf3; the client pod running the measuring side of each test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchNode, BenchPod } from './nodes.ts';
import { Daemons, exec, inNetns } from './proc.ts';

const BENCH = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const RR_TS = path.join(BENCH, 'rr.ts');
export const RR_PORT = 7100;
export const RR_C_PORT = 7101;
export const IPERF_PORT = 5201;
/**
 * TCP RR clients and servers share one CPU (the last): a round trip is then
 * softirq + two context switches on that CPU, with no cross-CPU wakeup. On a
 * VM, waking an idle vCPU costs tens of µs and varies with the host, which
 * would drown the datapath's share.
 */
export const RR_CPU = os.cpus().length - 1;

/** Compiles bench/tcp_rr.c into DIR with cc (or clang); undefined when neither builds it. */
export async function buildTcpRr(dir: string): Promise<string | undefined> {
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, 'tcp_rr');
  for (const cc of [process.env.CC ?? 'cc', 'clang']) {
    const r = await exec(cc, ['-O2', '-Wall', '-o', out, path.join(BENCH, 'tcp_rr.c')]).catch(() => undefined);
    if (r?.code === 0) return out;
  }
  return undefined;
}

export interface Pair {
  node: BenchNode;
  client: BenchPod;
  server: BenchPod;
}

/** Makes pods "client" and "server", starts the servers, checks the path works. */
export async function setupPair(node: BenchNode, daemons: Daemons, tcpRrBin?: string): Promise<Pair> {
  const { pod: client } = await node.addPod('client');
  const { pod: server } = await node.addPod('server');
  await daemons.start(server.netnsName, 'taskset', ['-c', String(RR_CPU), process.execPath, RR_TS, 'server', String(RR_PORT)], /ready/);
  if (tcpRrBin) await daemons.start(server.netnsName, 'taskset', ['-c', String(RR_CPU), tcpRrBin, 'server', String(RR_C_PORT)], /ready/);
  // iperf3 prints "Server listening on PORT" (line-buffered with --forceflush).
  await daemons.start(server.netnsName, 'iperf3', ['-s', '-p', String(IPERF_PORT), '--forceflush'], /Server listening/);
  const ping = await exec('nsenter', [`--net=/var/run/netns/${client.netnsName}`, '--', 'ping', '-c', '3', '-i', '0.2', '-W', '1', '-q', server.ip]);
  if (ping.code !== 0) throw new Error(`${node.side}: pod ${client.ip} cannot reach pod ${server.ip}: ${ping.stdout}${ping.stderr}`);
  return { node, client, server };
}

/**
 * TCP round trips on one connection (rr) or one per connection (crr),
 * samples in µs; `tcpRrBin` runs the C client against the C server, without
 * it the Node client (bench/rr.ts) runs against the Node server. Both sides
 * run on RR_CPU.
 */
export async function tcpRR(p: Pair, mode: 'rr' | 'crr', count: number, warmup: number, size: number, tcpRrBin?: string): Promise<number[]> {
  const [pre, port] = tcpRrBin ? [[tcpRrBin], RR_C_PORT] : [[process.execPath, RR_TS], RR_PORT];
  const r = await inNetns(p.client.netnsName, 'taskset', ['-c', String(RR_CPU), ...pre, 'client', mode, p.server.ip, String(port), String(count), String(warmup), String(size)], { timeoutMs: 120_000 });
  return (JSON.parse(r.stdout) as { samplesUs: number[] }).samplesUs;
}

/**
 * ICMP echo: the reply comes from the server pod's kernel, no userspace on
 * that side, so this is the closest to the datapath alone. One echo in flight
 * at a time (interval ≫ RTT); samples in µs from ping's per-reply times.
 */
export async function icmpRR(p: Pair, count: number, intervalS: number): Promise<number[]> {
  const r = await inNetns(p.client.netnsName, 'ping', ['-n', '-c', String(count), '-i', String(intervalS), '-W', '1', '-s', '56', p.server.ip], { timeoutMs: 120_000 });
  const samples: number[] = [];
  for (const m of r.stdout.matchAll(/time=([0-9.]+) ms/g)) samples.push(Number(m[1]) * 1000);
  if (samples.length < count * 0.99) throw new Error(`${p.node.side}: ping got ${samples.length}/${count} replies`);
  return samples;
}

export interface Throughput {
  /** Receiver's goodput, bits per second. */
  bps: number;
  retransmits: number;
}

/** One iperf3 TCP stream, client pod → server pod. */
export async function iperf(p: Pair, seconds: number): Promise<Throughput> {
  const r = await inNetns(p.client.netnsName, 'iperf3', ['-c', p.server.ip, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'], { timeoutMs: (seconds + 30) * 1000 });
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
  return { bps: j.end.sum_received.bits_per_second, retransmits: j.end.sum_sent.retransmits ?? 0 };
}
