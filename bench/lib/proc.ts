// Child processes for the benchmark: commands inside a netns (nsenter, net
// namespace only, like the CNI runtime does), long-running servers that are
// tracked so cleanup can kill them by pid, and wall-clock timing.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { round } from './stats.ts';

export const netnsPath = (name: string): string => `/var/run/netns/${name}`;

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion; `ms` is its wall time from spawn to exit. */
export function exec(cmd: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Output> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = opts.timeoutMs
      ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
      : undefined;
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
      });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Like exec, but a non-zero exit is an error carrying the command's stderr. */
export async function must(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Output> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r;
}

/** `nsenter --net=/var/run/netns/NS -- CMD ARGS` to completion. */
export function inNetns(ns: string, cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Output> {
  return must('nsenter', [`--net=${netnsPath(ns)}`, '--', cmd, ...args], opts);
}

/** Long-running children, killed by pid on cleanup. */
export class Daemons {
  readonly #children = new Set<ChildProcess>();

  /**
   * Starts CMD in netns NS and resolves once a line of its stdout matches
   * `ready` (or rejects after `timeoutMs` / when it exits first).
   */
  start(ns: string, cmd: string, args: readonly string[], ready: RegExp, timeoutMs = 10_000): Promise<ChildProcess> {
    const child = spawn('nsenter', [`--net=${netnsPath(ns)}`, '--', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    let text = '';
    let errText = '';
    child.stderr!.on('data', (d: Buffer) => {
      errText = (errText + d.toString()).slice(-2000);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${cmd} in ${ns} not ready after ${timeoutMs} ms: ${errText.trim()}`)), timeoutMs);
      const onData = (d: Buffer) => {
        text += d.toString();
        if (ready.test(text)) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stdout!.resume(); // keep draining, never block the server on a full pipe
          resolve(child);
        }
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${cmd} in ${ns} exited with ${code} before it was ready: ${errText.trim()}`));
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** SIGKILLs every child still running and waits for them to go. */
  async killAll(): Promise<void> {
    const waits: Array<Promise<void>> = [];
    for (const c of this.#children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      waits.push(new Promise((r) => c.once('exit', () => r())));
      c.kill('SIGKILL');
    }
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 5000))]);
    this.#children.clear();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs a benchmark's main, then its cleanup exactly once: after success,
 * after a failure (reported, exit code 1), or on SIGINT/SIGTERM/SIGHUP
 * (exit 130), so nothing it made outlives it.
 */
export async function runWithCleanup(name: string, main: () => Promise<void>, cleanup: () => Promise<void>, log: (s: string) => void): Promise<void> {
  let cleaning: Promise<void> | undefined;
  const clean = () => (cleaning ??= cleanup());
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      interrupted = true;
      log(`\n${sig}: cleaning up`);
      void clean().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (err) {
    if (!interrupted) log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  } finally {
    log('==> cleaning up');
    await clean();
  }
}

/** Destroys each thing in reverse order of making; a failure is logged and the rest still go. */
export async function destroyAll(things: ReadonlyArray<{ destroy(): Promise<void> }>, label: (i: number) => string, log: (s: string) => void): Promise<void> {
  for (let i = things.length - 1; i >= 0; i--) {
    try {
      await things[i]!.destroy();
    } catch (err) {
      log(`cleanup of ${label(i)}: ${(err as Error).message}`);
    }
  }
}

/** The first line a command prints ('' when it fails): tool versions for a run's metadata. */
export async function firstLine(cmd: string, args: readonly string[]): Promise<string> {
  return ((await exec(cmd, args).catch(() => ({ stdout: '' }))).stdout.split('\n')[0] ?? '').trim();
}

/**
 * What every benchmark run records about the machine it ran on, with the
 * versions of the tools it names (`{iptables: ['iptables-legacy', ['--version']]}`).
 */
export async function machineFacts(tools: Record<string, readonly [string, readonly string[]]>): Promise<Record<string, unknown>> {
  const facts: Record<string, unknown> = {
    date: new Date().toISOString(),
    kernel: os.release(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '',
    memoryGiB: round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
  for (const [name, [cmd, args]] of Object.entries(tools)) facts[name] = await firstLine(cmd, args);
  facts.cniPlugins = await firstLine('dpkg-query', ['-W', '-f=${Version}', 'containernetworking-plugins']);
  facts.loadavgAtStart = os.loadavg().map(round);
  return facts;
}
