// Traffic of the policy benchmark, the same on both sides: the server pod
// runs the C echo server (bench/tcp_rr.c) on the measured port and on a
// port no rule allows; the client pod opens new connections to it one after
// another for a fixed time (bench/policy_conn.c), and probes both ports
// before each measurement.
import { type Daemons, inNetns } from '../lib/proc.ts';
import { RR_CPU, type Wrap } from '../lib/svc-traffic.ts';

export interface Bins {
  tcpRr: string;
  conn: string;
}

export type ProbeResult = 'connected' | 'refused' | 'timeout' | 'error';

export interface RateResult {
  connections: number;
  /** Connections made during the warm-up (not in the rate). */
  warmupConnections: number;
  seconds: number;
  /** New connections per second (connect, 1-byte round trip, close; one at a time). */
  rate: number;
  p50Us: number;
  p99Us: number;
}

/** The echo server on each port, pinned to RR_CPU (with the client). */
export async function startServers(daemons: Daemons, netnsName: string, bins: Bins, wrap: Wrap, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    const [cmd, ...args] = wrap(['taskset', '-c', String(RR_CPU), bins.tcpRr, 'server', String(port)]);
    await daemons.start(netnsName, cmd!, args, /ready/, 30_000);
  }
}

/** One connect from the client netns: connected, refused (a REJECT / RST), timeout (a drop). */
export async function probe(clientNs: string, wrap: Wrap, bins: Bins, host: string, port: number, timeoutMs = 1000): Promise<ProbeResult> {
  const [cmd, ...args] = wrap([bins.conn, 'probe', host, String(port), String(timeoutMs)]);
  const r = await inNetns(clientNs, cmd!, args, { timeoutMs: timeoutMs + 10_000 });
  return (JSON.parse(r.stdout) as { result: ProbeResult }).result;
}

/** New connections for `seconds` after `warmup` seconds, client on RR_CPU. */
export async function connRate(clientNs: string, wrap: Wrap, bins: Bins, host: string, port: number, seconds: number, warmup: number): Promise<RateResult> {
  const [cmd, ...args] = wrap(['taskset', '-c', String(RR_CPU), bins.conn, 'rate', host, String(port), String(seconds), String(warmup)]);
  const r = await inNetns(clientNs, cmd!, args, { timeoutMs: (seconds + warmup + 60) * 1000 });
  return JSON.parse(r.stdout) as RateResult;
}
