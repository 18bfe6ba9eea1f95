// Traffic of the services benchmark, the same on every side: a client pod
// connecting to a ClusterIP (TCP CRR and RR with bench/tcp_rr.c), backends
// running the C echo server and a UDP sink (bench/udp_sink.c), and trafgen
// sending UDP to a NodePort from the side's world netns, counted where it
// arrives: the backends' IP layer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemons, exec, inNetns, netnsPath } from './proc.ts';

const BENCH = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Backends' TCP echo port (the services' targetPort). */
export const ECHO_PORT = 7101;
/** Backends' UDP sink port (the UDP service's targetPort). */
export const SINK_PORT = 7109;
/** Clients and servers share the last CPU (see bench/README.md, "CPU pinning"). */
export const RR_CPU = os.cpus().length - 1;

/** Compiles bench/NAME.c into DIR with cc (or clang); throws when neither builds it. */
export async function buildC(name: string, dir: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, name);
  for (const cc of [process.env.CC ?? 'cc', 'clang']) {
    const r = await exec(cc, ['-O2', '-Wall', '-o', out, path.join(BENCH, `${name}.c`)]).catch(() => undefined);
    if (r?.code === 0) return out;
  }
  throw new Error(`no C compiler built bench/${name}.c (install gcc or clang)`);
}

export interface Bins {
  tcpRr: string;
  udpSink: string;
}

/** argv run inside netns NS, optionally wrapped (e.g. to join a cgroup first). */
export type Wrap = (argv: string[]) => string[];
export const noWrap: Wrap = (argv) => argv;

/** Starts a backend's servers: the TCP echo (pinned to RR_CPU) and the UDP sink. */
export async function startBackend(daemons: Daemons, netnsName: string, bins: Bins, wrap: Wrap): Promise<void> {
  const [c1, ...a1] = wrap(['taskset', '-c', String(RR_CPU), bins.tcpRr, 'server', String(ECHO_PORT)]);
  await daemons.start(netnsName, c1!, a1, /ready/, 30_000);
  const [c2, ...a2] = wrap([bins.udpSink, String(SINK_PORT)]);
  await daemons.start(netnsName, c2!, a2, /ready/, 30_000);
}

/** Client settings a load generator would use: the whole ephemeral range, TIME_WAIT reuse. */
export async function tuneClient(netnsName: string): Promise<void> {
  await inNetns(netnsName, 'sh', ['-ec', 'sysctl -qw net.ipv4.ip_local_port_range="1024 65000"; sysctl -qw net.ipv4.tcp_tw_reuse=1']);
}

/**
 * TCP round trips from the client pod to HOST:PORT through the service:
 * crr = connect, one SIZE-byte round trip, close (the close not timed);
 * rr = round trips on one connection. Samples in µs, client on RR_CPU.
 */
export async function tcpRR(clientNs: string, wrap: Wrap, bin: string, mode: 'rr' | 'crr', host: string, port: number, count: number, warmup: number, size = 64, timeoutMs = 300_000): Promise<number[]> {
  const [cmd, ...args] = wrap(['taskset', '-c', String(RR_CPU), bin, 'client', mode, host, String(port), String(count), String(warmup), String(size)]);
  const r = await inNetns(clientNs, cmd!, args, { timeoutMs });
  return (JSON.parse(r.stdout) as { samplesUs: number[] }).samplesUs;
}

/** Connections per second of one client doing them one after another: 1 / mean(connect + round trip). */
export function connRate(samplesUs: readonly number[]): number {
  const mean = samplesUs.reduce((a, b) => a + b, 0) / samplesUs.length;
  return 1e6 / mean;
}

/**
 * Packets the netns's IP layer handed to a transport protocol (Ip
 * InDelivers). The UDP counters would miss the datagrams queued in the
 * sink's buffer (InDatagrams counts only what is read); during a flood
 * nothing else reaches the backends.
 */
export async function ipDelivered(netnsName: string): Promise<number> {
  const r = await inNetns(netnsName, 'cat', ['/proc/net/snmp']);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Ip:'));
  const keys = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  return vals[keys.indexOf('InDelivers')] ?? 0;
}

export async function macOf(netnsName: string, dev: string): Promise<string> {
  const r = await inNetns(netnsName, 'ip', ['-j', 'link', 'show', 'dev', dev]);
  return (JSON.parse(r.stdout) as Array<{ address: string }>)[0]!.address;
}

export interface Flood {
  worldNs: string;
  /** World side: device, MAC, address. */
  srcMac: string;
  srcIp: string;
  /** Node side: MAC of its uplink, its address, the NodePort. */
  dstMac: string;
  dstIp: string;
  dport: number;
  /** Distinct flows: source ports cycle through this many values. */
  flows: number;
  seconds: number;
  /** "sendto": one system call per packet, linear skbs; "ring": the TX ring, paged skbs. */
  sender: 'sendto' | 'ring';
}

export interface FloodResult {
  sent: number;
  seconds: number;
}

/** trafgen config: 60-byte UDP frames (18 bytes of payload), source port cycling. */
export function trafgenConfig(f: Pick<Flood, 'srcMac' | 'dstMac' | 'srcIp' | 'dstIp' | 'dport' | 'flows'>): string {
  const lo = 10000;
  return `{ eth(da=${f.dstMac}, sa=${f.srcMac}), ipv4(saddr=${f.srcIp}, daddr=${f.dstIp}, ttl=64), udp(sp=dinc(${lo}, ${lo + f.flows - 1}, 1), dp=${f.dport}), fill(0x41, 18) }\n`;
}

/**
 * trafgen on the world's eth0 as fast as it goes for `seconds` (one CPU: the
 * first; it never touches the machine's socket memory settings or IRQs).
 * With a rate set (far above what one CPU reaches, so it never waits)
 * trafgen leaves its TX ring for one sendto() per packet: the kernel then
 * builds each skb linear, headers included, as a NIC driver does; from the
 * ring, the frame after the Ethernet header goes into page fragments.
 */
export async function flood(f: Flood, tmpDir: string): Promise<FloodResult> {
  const cfg = path.join(tmpDir, `trafgen-${f.worldNs}.cfg`);
  fs.writeFileSync(cfg, trafgenConfig(f));
  const t0 = process.hrtime.bigint();
  const r = await exec('nsenter', [`--net=${netnsPath(f.worldNs)}`, '--', 'timeout', '-s', 'INT', String(f.seconds), 'trafgen', '--no-sock-mem', '--notouch-irq', '--cpus', '1', ...(f.sender === 'sendto' ? ['--rate', '1000000000pps'] : []), '--dev', 'eth0', '--conf', cfg], { timeoutMs: (f.seconds + 30) * 1000 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /(\d+) packets outgoing/.exec(r.stdout + r.stderr);
  if (!m) throw new Error(`trafgen in ${f.worldNs} reported nothing (exit ${r.code}): ${(r.stdout + r.stderr).trim().slice(-500)}`);
  return { sent: Number(m[1]), seconds };
}
